"""Pictures people would rather see than read: spike rasters, delay histograms."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .fileio import atomic_path


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, bbox_inches: str | None = "tight") -> Path:
    """Write ``fig`` as PNG atomically, then close it (also when writing fails)."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches=bbox_inches)
    finally:
        pyplot().close(fig)
    return Path(path)


def spike_raster(result: Any, path: str | os.PathLike, sample: int = 0) -> Path:
    """One panel per hidden layer (spike raster) plus the readout voltages, for one sample."""
    plt = pyplot()
    n = len(result.spikes) + 1
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for i, spikes in enumerate(result.spikes):
        t, k = np.nonzero(np.asarray(spikes[sample]))
        axes[i].scatter(t, k, s=2, marker="|", color="black")
        axes[i].set_ylabel(f"layer {i}\nneuron")
    v = np.asarray(result.voltages[sample])
    axes[-1].plot(v)
    axes[-1].set_ylabel("readout v")
    axes[-1].set_xlabel("step")
    axes[0].set_title(f"sample {sample}: hidden spikes and readout voltages (integer simulator)")
    return save_figure(fig, path)


def delay_histograms(delays: list[np.ndarray], path: str | os.PathLike, title: str = "learned delays") -> Path:
    """Histogram of integer delays per layer."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    top = max(int(np.max(d)) for d in delays) if delays else 0
    bins = np.arange(top + 2) - 0.5
    for i, d in enumerate(delays):
        ax.hist(np.ravel(d), bins=bins, histtype="step", label=f"layer {i}")
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel("synapses")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)

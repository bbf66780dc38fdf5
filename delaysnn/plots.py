"""Pictures people would rather see than read: spike rasters, delay histograms."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DelaysnnError
from .fileio import atomic_path

PLOT_FORMATS = ("png", "pdf", "svg")  # matplotlib's Agg writes them; the file's suffix picks one


def plot_format(path: str | os.PathLike) -> str:
    """The format a plot at ``path`` is written in, from its suffix (any case); a one-line error
    for another suffix, so a ``.pdf`` never holds PNG bytes."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        choices = ", ".join(f".{f}" for f in PLOT_FORMATS)
        given = f".{suffix}" if suffix else "no suffix"
        raise DelaysnnError(f"{path}: plots are written as {choices} (chosen by the suffix), not {given}; name it {Path(path).with_suffix('.png').name}")
    return suffix


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, bbox_inches: str | None = "tight") -> Path:
    """Write ``fig`` atomically in the format of ``path``'s suffix (:func:`plot_format`), then
    close it (also when writing fails)."""
    try:
        fmt = plot_format(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110, bbox_inches=bbox_inches)
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


def training_curves(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "training") -> Path:
    """Loss, accuracies, sigma and learning rates, spike rates per epoch (a metrics log's rows)."""
    plt = pyplot()
    epochs = [row["epoch"] for row in rows]

    def series(key: str) -> list[float]:
        return [np.nan if row.get(key) is None else float(row[key]) for row in rows]

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharex=True)
    (ax_loss, ax_acc), (ax_sched, ax_rate) = axes
    ax_loss.plot(epochs, series("loss"), marker=".")
    ax_loss.set_ylabel("training loss")
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        values = series(key)
        if not np.all(np.isnan(values)):
            ax_acc.plot(epochs, values, marker=".", label=label)
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    ax_sched.plot(epochs, series("sigma"), color="black", label="sigma")
    ax_sched.set_ylabel("DCLS sigma (steps)")
    ax_lr = ax_sched.twinx()
    for key, label, color in (("lr", "lr (weights)", "tab:blue"), ("lr_pos", "lr (positions)", "tab:orange")):
        values = series(key)
        if not np.all(np.isnan(values)):
            ax_lr.plot(epochs, values, color=color, linestyle="--", label=label)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_yscale("log")
    handles = ax_sched.get_legend_handles_labels()[0] + ax_lr.get_legend_handles_labels()[0]
    ax_sched.legend(handles, [h.get_label() for h in handles], fontsize="small")
    layers = max((len(row.get("spike_rates") or []) for row in rows), default=0)
    for k in range(layers):
        # null: the metrics log's non-finite number (runs.write_metrics)
        rates = [np.nan if len(row.get("spike_rates") or []) <= k or row["spike_rates"][k] is None else float(row["spike_rates"][k])
                 for row in rows]
        ax_rate.plot(epochs, rates, marker=".", label=f"layer {k}")
    ax_rate.set_ylabel("spike rate (training)")
    if layers:
        ax_rate.legend()
    for ax in (ax_sched, ax_rate):
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    return save_figure(fig, path)

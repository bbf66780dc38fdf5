"""``plot(est, path)``: one figure (PNG, PDF or SVG, by the suffix) with the energy breakdown per profile, per-layer activity and delay histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .report import Estimate, si


def plot(est: Estimate, path: str | Path) -> Path:
    """A figure (format from the suffix): energy breakdown per profile, per-layer activity, delay histograms (written atomically)."""
    from ..plots import pyplot, save_figure

    fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.5))
    _plot_energy(axes[0], est)
    _plot_activity(axes[1], est)
    _plot_delays(axes[2], est)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches=None)  # tight_layout already fits the three panels


def _plot_energy(ax: Any, est: Estimate) -> None:
    """Stacked bars (linear, µJ) of each profile's categories; the dense equivalent as a hatched bar beside it."""
    cats = ("synaptic", "neuron", "spikes", "memory", "static")
    labels = [e.label for e in est.energy]
    xs = np.arange(len(labels), dtype=float)
    has_dense = any(e.dense_equivalent_j is not None for e in est.energy)
    width = 0.38 if has_dense else 0.6
    snn_x = xs - width / 2 if has_dense else xs
    bottom = np.zeros(len(labels))
    for cat in cats:
        vals = np.array([e.categories[cat] for e in est.energy]) * 1e6
        if vals.any():
            ax.bar(snn_x, vals, width, bottom=bottom, label=cat)
            bottom += vals
    for x, total in zip(snn_x, bottom):
        ax.annotate(si(total * 1e-6, "J"), (x, total), ha="center", va="bottom", fontsize=7)
    if has_dense:
        dense = np.array([(e.dense_equivalent_j or 0.0) for e in est.energy]) * 1e6
        ax.bar(xs + width / 2, dense, width, fill=False, hatch="//", label="dense equivalent (MACs + fetches)")
        for x, total in zip(xs + width / 2, dense):
            if total:
                ax.annotate(si(total * 1e-6, "J"), (x, total), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, labels, rotation=15, fontsize=8)
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title("energy breakdown per profile")
    ax.legend(fontsize=7)


def _plot_activity(ax: Any, est: Estimate) -> None:
    names = [f"{layer.index} {layer.kind}" for layer in est.layers]
    xs = np.arange(len(names))
    series = {
        "synaptic ops": [layer.synaptic_ops for layer in est.layers],
        "dense MACs": [layer.dense_macs for layer in est.layers],
        "active updates": [layer.active_updates for layer in est.layers],
        "spikes out": [layer.spikes for layer in est.layers],
    }
    width = 0.8 / len(series)
    for j, (label, vals) in enumerate(series.items()):
        ax.bar(xs + (j - (len(series) - 1) / 2) * width, np.maximum(vals, 1e-9), width, label=label)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.set_xticks(xs, names)
    ax.set_ylabel("per inference (log)")
    ax.set_title("per-layer activity")
    ax.legend(fontsize=8)


def _plot_delays(ax: Any, est: Estimate) -> None:
    for i, hist in enumerate(est.delay_histograms):
        ax.step(np.arange(len(hist)), hist, where="mid", label=f"layer {i}")
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel("non-zero synapses")
    ax.set_title("delay histogram")
    ax.legend(fontsize=8)

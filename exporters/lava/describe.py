"""``delaysnn inspect model.h5``: a summary of a lava-dl netx HDF5 file."""

from __future__ import annotations

import os
from typing import Any

from .netx_read import netx_delay_kind, read_netx_layout
from .netx_write import NETX_FORMAT


def describe_netx(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of a lava-dl netx HDF5 file (``delaysnn inspect model.h5``)."""
    from delaysnn.estimate.describe import delay_histogram

    attrs, layout = read_netx_layout(path)
    layers = []
    for layer in layout:
        if "weight" not in layer:
            layers.append(f"{layer['key']} {layer['type']}: shape {layer['shape']}")
            continue
        w, d = layer["weight"], layer["delay"]
        params = ", ".join(f"{k} {v}" for k, v in layer["neuron"].items())
        rng = f"[{w.min():g}, {w.max():g}]" if w.size else "[]"
        layers.append(
            f"{layer['key']} {layer['type']}: {w.shape[1]}->{w.shape[0]}, {int((w != 0).sum())} synapses, weights {rng}, "
            f"{params}, {netx_delay_kind(d, w.shape).value} delays {delay_histogram(d, int(d.max(initial=0)))}"
        )
    return {
        "file": str(path),
        "kind": "lava-dl netx HDF5" + (" (written by delaysnn)" if attrs["format"] == NETX_FORMAT else ""),
        "input_bits": attrs["input_bits"],
        "layers": layers,
    }

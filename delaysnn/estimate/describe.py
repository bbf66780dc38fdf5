"""One-screen summaries of ``.dnet`` integer networks (with their memory as Loihi 2 stores them),
and the delay histogram every format's ``describe`` prints.

Core (the IR, the estimate, numpy): backends import :func:`delay_histogram` from here, and the
backend registry names :func:`describe_ir` as the ``ir`` target's describe, without either
depending on ``delaysnn.app.inspect`` (which looks files up in the registry and describes
checkpoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def delay_histogram(delays: np.ndarray, max_delay: int, bins: int = 8) -> str:
    """Compact text histogram of integer delays, e.g. ``0-3:120 4-7:96 ...``."""
    delays = np.asarray(delays).ravel()
    width = max(1, -(-(max_delay + 1) // bins))
    parts = []
    for lo in range(0, max_delay + 1, width):
        hi = min(lo + width - 1, max_delay)
        n = int(((delays >= lo) & (delays <= hi)).sum())
        parts.append(f"{lo}-{hi}:{n}" if hi > lo else f"{lo}:{n}")
    return " ".join(parts)


_DELAYS_PER = {"synaptic": "one per synapse", "axonal": "one per input neuron", "dendritic": "one per output neuron"}


def describe_ir(path: Path) -> dict[str, Any]:
    from .. import ir
    from ..ir import WeightKind
    from ..ir.identity import Deployment
    from .run import memory

    net = ir.load(path)
    mem = memory(net)
    layers = []
    for i, layer in enumerate(net.layers):
        n = layer.neuron
        kind = "readout" if not n.spiking else "hidden"
        wkind = f"{layer.weight_bits}-bit" if layer.weight_kind is WeightKind.FIXED else layer.weight_kind.value
        layers.append(
            f"{i} {kind}: {layer.shape[1]}->{layer.shape[0]}, {int((layer.weight != 0).sum())} synapses, "
            f"{wkind} weights exp {layer.weight_exp}, du {n.du} dv {n.dv} vth {n.vth}, "
            f"{layer.delay_kind.value} delays ({_DELAYS_PER[layer.delay_kind.value]}, {layer.delay.size}) "
            f"{delay_histogram(layer.delay, layer.max_delay)}"
        )
    return {
        "file": str(path),
        "kind": "delaysnn integer network (IR)",
        "sizes": "-".join(map(str, net.sizes)),
        "input_bits": net.input_bits,
        "dt_ms": net.time_step_ms,
        "tail_steps": net.tail_steps,
        "readout_scale": net.readout_scale,
        "max_delay": max(layer.max_delay for layer in net.layers),
        "network": Deployment.of(net).describe(),  # its sha256, and the target it was fitted for
        "layers": layers,
        "memory": mem.lines(),  # as Loihi 2 stores it (delaysnn.estimate.storage)
        "memory_bits": mem.totals(),
        "provenance": net.provenance,
    }

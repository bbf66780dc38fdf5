"""``delaysnn inspect model.nir``: kind, dt, sizes, layers and delay histograms of any NIR file."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from delaysnn.errors import UnsupportedError

from .common import BAD_FIELD, graph_dt, latency_in_delays, ours, short
from .files import file_version, load_graph
from .structure import chain, compose, shift_delays


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Summary for ``delaysnn inspect model.nir``: kind, dt, sizes, layers, delay histograms
    (synaptic delays: the latency our integer graphs fold into their Delay values is taken out)."""
    from delaysnn.fileio import check_input_path

    path = check_input_path(path, "NIR file")
    graph = load_graph(path)
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    meta = dict(metadata) if ours(metadata) else {}
    kinds = {"integer": "delaysnn integer network (NIR)", "float": "delaysnn float model (NIR)"}
    counts: dict[str, int] = {}
    for node in graph.nodes.values():
        counts[type(node).__name__] = counts.get(type(node).__name__, 0) + 1
    info: dict[str, Any] = {
        "file": str(path),
        "kind": kinds.get(str(meta.get("network", "")), "NIR graph"),
        "file_size": path.stat().st_size,
        "nir_version": file_version(path),
        "node_counts": dict(sorted(counts.items())),
        "dt_ms": None,
    }
    for key in ("spike_condition", "reset", "latency_steps", "input_bits"):
        if key in meta:
            value = meta[key]
            info[key] = value.tolist() if hasattr(value, "tolist") else str(value)
    try:
        dt = graph_dt(graph)
        info["dt_ms"] = dt * 1000.0
        info.update(_layers(graph, dt, meta))
    except (UnsupportedError, *BAD_FIELD) as err:  # any NIR file can be inspected; say why it has no layer table
        info["layers"] = [f"{name}: {type(node).__name__}" for name, node in graph.nodes.items()]
        info["note"] = str(err) if isinstance(err, UnsupportedError) else f"no layer table: a field is malformed ({type(err).__name__}: {short(err)})"
    return info


def _layers(graph: Any, dt: float, meta: dict[str, Any]) -> dict[str, Any]:
    from delaysnn.estimate.describe import delay_histogram

    n_in, segments = chain(graph)
    latency = latency_in_delays(meta, len(segments))
    sizes, layers, max_delay = [n_in], [], 0
    for index, seg in enumerate(segments):
        dense = shift_delays(compose(seg, sizes[-1], dt).dense(), int(latency[index]), f"layer {index}")
        delays = np.concatenate([np.full(int((w != 0).sum()), d) for d, w in dense.items()]) if dense else np.zeros(0)
        pairs = sum(int((w != 0).any(axis=0).sum()) for w in dense.values())  # whatever node comes first (Delay or Linear)
        sizes.append(seg.size)
        top = int(delays.max(initial=0))
        max_delay = max(max_delay, top)
        layers.append(
            f"{index} {seg.kind}: {sizes[-2]}->{sizes[-1]}, {delays.size} synapses on {pairs} (input, delay) pairs, "
            f"{_placement(seg)}delays {delay_histogram(delays, top)}"
        )
    return {"sizes": "-".join(map(str, sizes)), "max_delay": max_delay, "layers": layers}


def _placement(seg: Any) -> str:
    """``axonal ``/``dendritic `` for a layer whose one Delay node comes before/after its only
    weight matrix (one delay per input/output neuron), else nothing (per-synapse or composite)."""
    ops = [type(node).__name__ for _, node in seg.ops]
    if ops in (["Delay", "Linear"], ["Delay", "Affine"]):
        return "axonal "
    return "dendritic " if ops in (["Linear", "Delay"], ["Linear", "Delay", "Affine"]) else ""

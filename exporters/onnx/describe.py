"""``delaysnn inspect model.onnx``: reading an ONNX file safely and summarising it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import FLOAT_FORMAT, FORMAT, _require

if TYPE_CHECKING:  # heavy, optional: imported inside the functions that need them
    import onnx


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Summary for ``delaysnn inspect model.onnx``: opset, I/O, node counts, size, our metadata."""
    _require("onnx")
    from delaysnn.fileio import check_input_path

    path = check_input_path(path, "ONNX model")
    model = read_model(path)
    meta = {p.key: p.value for p in model.metadata_props}
    kind = {FORMAT: "delaysnn integer network (ONNX)", FLOAT_FORMAT: "delaysnn float model (ONNX)"}
    counts = _node_counts(model.graph)
    return {
        "file": str(path),
        "kind": kind.get(meta.get("delaysnn.format", ""), "ONNX model"),
        "file_size": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {imp.domain or "ai.onnx": imp.version for imp in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_value_info(v) for v in model.graph.input],
        "outputs": [_value_info(v) for v in model.graph.output],
        "nodes": sum(counts.values()),
        "node_counts": dict(sorted(counts.items())),
        "initializers": len(model.graph.initializer),
        "metadata": meta,
    }


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """An ONNX file's ``ModelProto``, checked for what every reader here relies on; one line otherwise.

    Refused: an empty, truncated or corrupt protobuf, a file that parses but holds no model
    (a 0-byte or foreign file parses as an empty message), tensors stored as external data
    (delaysnn writes self-contained files; the data file is not read) and a model that fails
    ``onnx.checker``.
    """
    onnx = _require("onnx")
    from google.protobuf.message import DecodeError

    from delaysnn.errors import DelaysnnError

    raw = Path(path).read_bytes()
    if not raw:
        raise DelaysnnError(f"{path}: empty file (0 bytes), not an ONNX model; re-export it with delaysnn export --target onnx")
    try:
        model = onnx.load_model_from_string(raw)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise DelaysnnError(f"{path}: not a readable ONNX model (protobuf {type(err).__name__}); the file is truncated or corrupt: re-export it") from err
    if model.ir_version <= 0 or not model.graph.node or not model.opset_import:
        raise DelaysnnError(
            f"{path}: parses as protobuf but holds no ONNX model (ir_version {model.ir_version}, "
            f"{len(model.graph.node)} nodes, {len(model.opset_import)} opsets); not an .onnx file?"
        )
    external = [t.name for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise DelaysnnError(
            f"{path}: tensor {external[0]!r} (and {len(external) - 1} more) is stored as external data, which delaysnn "
            "does not read; save the model self-contained (onnx.save(model, path, save_as_external_data=False))"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as err:  # onnx raises ValidationError and, for some damage, C++ errors of other types
        text = " ".join(str(err).split())[:160]
        raise DelaysnnError(f"{path}: not a valid ONNX model (onnx.checker: {text}); the file is damaged or was edited: re-export it") from err
    return model


def _tensors(graph: Any) -> Any:
    """Every initializer and constant tensor, subgraphs (Scan/Loop bodies) included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _value_info(v: Any) -> str:
    """``name: dtype[dim, ...]`` with symbolic dims by name."""
    from onnx import helper

    t = v.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in t.shape.dim]
    try:
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name
    except (KeyError, ValueError):  # not a tensor (sequence, map) or an unknown element type
        dtype = f"type {v.type.WhichOneof('value')}"
    return f"{v.name}: {dtype}[{', '.join(dims)}]"


def _node_counts(graph: Any) -> Counter:
    """Node count per op type, subgraphs (Scan/Loop bodies) included."""
    counts: Counter = Counter()
    for node in graph.node:
        counts[node.op_type] += 1
        for attr in node.attribute:
            if attr.g.node:
                counts += _node_counts(attr.g)
            for sub in attr.graphs:
                counts += _node_counts(sub)
    return counts

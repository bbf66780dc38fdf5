"""What the integer and the float ONNX graphs share: names, format tags, the node/initializer
collector, ``Scan`` bodies, the model wrapper (opset 17, metadata) and the onnx import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # heavy, optional: imported inside the functions that need them
    import onnx

OPSET = 17
FORMAT = "delaysnn-onnx"
VERSION = 1
INPUT = "x"
VOLTAGES = "voltages"
FLOAT_FORMAT = "delaysnn-onnx-float"


def spikes_name(layer: int) -> str:
    """Graph output name of hidden layer ``layer``'s spikes."""
    return f"spikes{layer}"


class _Graph:
    """Collects nodes and initializers with unique names; one per (sub)graph being built."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray | int, dtype: Any = np.int64) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int = 1, name: str | None = None, **attrs: Any
    ) -> Any:
        """Append a node; return its output name (``name`` if given), or names when ``outputs > 1``."""
        from onnx import helper

        names = [name] if name else [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names


def _onnx_type(dtype: Any) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def step_graph(g: _Graph, name: str, inputs: list[str], input_type: int, results: list[tuple[str, int]], size: int) -> Any:
    """A ``Scan`` body from the nodes of ``g``: ``inputs`` (states, then the scan input) of
    ``input_type``, ``results`` ``(tensor, type)`` (new states, then the scan output), all
    ``[batch, size]``; each result leaves through an ``Identity`` named ``<prefix><k>_out``."""
    from onnx import helper

    state = ["batch", size]
    outs = []
    for k, (src, elem) in enumerate(results):
        outs.append(helper.make_tensor_value_info(f"{g.prefix}{k}_out", elem, state))
        g.nodes.append(helper.make_node("Identity", [src], [outs[-1].name], name=g.fresh("out")))
    ins = [helper.make_tensor_value_info(n, input_type, state) for n in inputs]
    return helper.make_graph(g.nodes, name, ins, outs, initializer=g.initializers)


def _zero_state(g: _Graph, x_tm: str, size: int) -> str:
    """int64 zeros ``[batch, size]`` whose batch is the dynamic batch of time-major ``x_tm``."""
    from onnx import helper

    batch = g.op("Shape", [x_tm], "batch", start=1, end=2)
    shape = g.op("Concat", [batch, g.const("size", [size])], "state_shape", axis=0)
    zero = helper.make_tensor("zero", _onnx_type(np.int64), [1], [0])
    return g.op("ConstantOfShape", [shape], "zeros", value=zero)


def model_proto(g: _Graph, name: str, input_type: int, input_size: int, outputs: list[Any], doc: str, meta: dict[str, str]) -> onnx.ModelProto:
    """The model of graph ``g`` (the integer and the float one alike): input ``x [batch, time,
    input_size]`` of ``input_type``, ``outputs`` (value infos), opset 17, ``meta`` as metadata_props."""
    from onnx import helper

    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info(INPUT, input_type, ["batch", "time", input_size])], outputs, initializer=g.initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="delaysnn")
    model.ir_version = 8  # onnx 1.10+ / onnxruntime 1.10+ read it; the newest onnx writes 10
    model.doc_string = doc
    helper.set_model_props(model, meta)
    return model


def _require(module: str) -> Any:
    from .._deps import require

    return require(module, extra="onnx")

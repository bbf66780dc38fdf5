"""ONNX ``--float``: the float IR (``delaysnn.ir.folded.FoldedNetwork``) as an onnxruntime model.

The graph states ``delaysnn.ir.folded.run``'s semantics in float32 ops, built directly from the
float IR (no torch tracing, nothing read from the torch model):

* input ``x`` float32 ``[batch, time, input_size]``; with ``padding="once"`` the graph appends
  the ``tail_steps`` zero steps itself;
* per layer one ``Conv`` (``kernel[o, i, K-1-d] = W_d[o, i]``, left padding ``K - 1``, right
  padding ``right_padding`` for ``"per_layer"``, else 0) on ``[batch, channels, time]``: the
  delayed sum, every DCLS tap included;
* the neuron as a ``Scan`` over time: ``i = i - i / tau_s + a`` (synaptic filter),
  ``v = v - v / tau + i + bias``, ``s = v >= theta``, ``v = where(s, 0, v)``; the readout's
  ``v`` is the output ``voltages`` ``[batch, T + tail_steps, classes]`` (``spikes<i>`` too with
  ``record_spikes``).

Dynamic batch and time; opset 17; ``onnx.checker`` (full) passes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    FLOAT_FORMAT,
    INPUT,
    VERSION,
    VOLTAGES,
    _Graph,
    _onnx_type,
    _require,
    _zero_state,
    model_proto,
    spikes_name,
    step_graph,
)


def _kernel(lay: Any) -> np.ndarray:
    """``[out, in, K]`` float32 with ``K = max delay + 1``: tap ``K - 1 - d`` holds ``W_d``."""
    dense = lay.dense() or {0: np.zeros(lay.shape)}
    k = max(dense) + 1
    kernel = np.zeros((*lay.shape, k))
    for d, w in dense.items():
        kernel[..., k - 1 - d] = w
    return kernel.astype(np.float32)


def _body(lay: Any, index: int) -> Any:
    """Scan body of one layer: state ``(i, v)``, scan input ``a_t``, scan output spikes or ``v``."""
    from onnx import TensorProto

    g = _Graph(f"f{index}_")
    i_in, v_in, a_t = f"f{index}_i_in", f"f{index}_v_in", f"f{index}_a_t"

    def k(value: Any) -> str:
        return g.const("k", np.asarray(value, np.float32), np.float32)

    def leak(x: str, tau: float, hint: str) -> str:  # x - x / tau, the model's order of operations
        return g.op("Sub", [x, g.op("Div", [x, k(tau)], f"{hint}_frac")], hint)

    i = a_t
    if lay.synaptic_tau is not None:
        i = g.op("Add", [leak(i_in, lay.synaptic_tau, "i_leak"), a_t], "i")
    x = g.op("Add", [i, k(lay.bias)], "x") if np.any(lay.bias != 0) else i
    v = g.op("Add", [leak(v_in, lay.tau, "v_leak"), x], "v_int")
    if lay.threshold is None:
        y = v
    else:
        fired = g.op("GreaterOrEqual", [v, k(lay.threshold)], "fired")
        v = g.op("Where", [fired, k(0.0), v], "v")
        y = g.op("Cast", [fired], "spikes", to=TensorProto.FLOAT)
    f32 = TensorProto.FLOAT
    return step_graph(g, f"float_layer{index}_step", [i_in, v_in, a_t], f32, [(i, f32), (v, f32), (y, f32)], lay.shape[0])


def _layer(g: _Graph, fnet: Any, index: int, h_tm: str) -> str:
    """Time-major ``[time, batch, in]`` -> ``[time', batch, out]`` (spikes or the readout's ``v``)."""
    lay = fnet.layers[index]
    kernel = _kernel(lay)
    right = fnet.right_padding if fnet.padding == "per_layer" else 0
    x_bct = g.op("Transpose", [h_tm], "x_bct", perm=[1, 2, 0])
    a = g.op("Conv", [x_bct, g.const("kernel", kernel, np.float32)], "a", pads=[kernel.shape[-1] - 1, right])
    a_tm = g.op("Transpose", [a], "a_tm", perm=[2, 0, 1])
    zeros = g.op("Cast", [_zero_state(g, h_tm, lay.shape[0])], "zeros_f", to=_onnx_type(np.float32))
    _, _, y = g.op("Scan", [zeros, zeros, a_tm], f"scan{index}", outputs=3, body=_body(lay, index), num_scan_inputs=1)
    return y


def build_float(model: Any, record_spikes: bool = False) -> Any:
    """The float model (a ``FoldedNetwork``, or a ``DelaySNN`` folded first) as an ONNX model."""
    _require("onnx")
    from onnx import TensorProto, helper

    from delaysnn.ir.folded import as_folded

    fnet = as_folded(model)
    fnet.check()
    g = _Graph("")
    x = INPUT
    if fnet.padding == "once" and fnet.tail_steps:
        x = g.op("Pad", [x, g.const("time_pad", [0, 0, 0, 0, fnet.tail_steps, 0])], "x_padded")
    h = g.op("Transpose", [x], "x_tm", perm=[1, 0, 2])
    outputs = []
    for i, lay in enumerate(fnet.layers):
        h = _layer(g, fnet, i, h)
        if lay.threshold is not None and record_spikes:
            g.op("Transpose", [h], name=spikes_name(i), perm=[1, 0, 2])
            outputs.append(helper.make_tensor_value_info(spikes_name(i), TensorProto.FLOAT, ["batch", "steps", lay.shape[0]]))
    g.op("Transpose", [h], name=VOLTAGES, perm=[1, 0, 2])
    outputs.insert(0, helper.make_tensor_value_info(VOLTAGES, TensorProto.FLOAT, ["batch", "steps", fnet.sizes[-1]]))
    meta = {
        "delaysnn.format": FLOAT_FORMAT,
        "delaysnn.version": str(VERSION),
        "delaysnn.sizes": "-".join(map(str, fnet.sizes)),
        "delaysnn.max_delay": str(fnet.max_delay),
        "delaysnn.time_step_ms": repr(float(fnet.time_step_ms)),
        "delaysnn.padding": fnet.padding,
        "delaysnn.tail_steps": str(fnet.tail_steps),
        "delaysnn.spike_outputs": json.dumps([spikes_name(i) for i in range(len(fnet.layers) - 1)] if record_spikes else []),
    }
    if fnet.source is not None:
        meta["delaysnn.config"] = json.dumps(fnet.source.config)
    doc = "delaysnn float model (the float IR, delaysnn.ir.folded.run's semantics in float32)"
    return model_proto(g, "delaysnn_float", TensorProto.FLOAT, fnet.input_size, outputs, doc, meta)


def export_float(model: Any, path: str | os.PathLike) -> Path:
    """Build, check (``full_check``) and write the float model to ``path`` atomically."""
    onnx = _require("onnx")
    from delaysnn.fileio import check_output_path, write_bytes_atomic

    check_output_path(path)
    onnx_model = build_float(model)
    onnx.checker.check_model(onnx_model, full_check=True)
    return write_bytes_atomic(path, onnx_model.SerializeToString())

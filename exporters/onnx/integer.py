"""ONNX backend: an integer ONNX model that onnxruntime runs spike for spike like ``delaysnn.sim``.

Lowering of one :class:`~delaysnn.ir.DelayLayer` (all tensors time-major ``[time, batch, n]``
inside the graph, so ``Scan`` iterates over axis 0 and no per-step transposes are needed):

* **Delays** as delayed gathers: the input spike train is padded in front by ``1 + max_delay``
  zero steps and, for every distinct delay ``d`` of the layer, sliced so that step ``t`` sees
  the input of step ``t - 1 - d`` (DESIGN 4: a spike at ``t`` through delay ``d`` arrives at
  ``t + 1 + d``), then multiplied by ``W_d`` (the weights of the synapses with delay ``d``, zero
  elsewhere); a few consecutive delays share one product (slices concatenated along channels,
  their ``W_d`` stacked). ``MatMulInteger`` (uint8 payloads x int8 weights -> int32) is exact
  while payloads fit 8 bits, every neuron's ``sum |w| * max payload`` stays below 2**31 and
  ``2 * max payload * max |w|`` fits int16 (AVX2 kernels sum product pairs in saturating int16;
  always true for hidden layers, and for graded input up to 7 bits);
  otherwise the layer falls back to an int64 ``MatMul``, exact for every valid IR. The sum,
  in int64, becomes ``sim.activation``: a ``Mul`` by ``2**(weight_exp + 6)`` (``weight_exp >=
  0``: no flooring), through Lava's int32 registers where the bound says they can wrap.
* **Neuron** as one ``Scan`` over time whose body is ``delaysnn.sim.neuron_step`` in int64, op
  for op: ``Div`` by 4096 of the decayed product (integer ``Div`` truncates toward zero in
  onnxruntime and in ``onnx.reference``: the ``sign(p) * (|p| >> 12)`` of the spec), the
  one-time wrap of ``u`` with two ``Where``, ``Clip`` of ``v``, strict ``Greater`` against
  ``vth << 6`` and reset of ``v`` only. Lava's int32 registers (``sim.wrap32``) are modelled
  with ``Mod`` by 2**32 on the activation, ``u`` and ``v`` of layers whose weights can drive
  them past 32 bits (the sim's condition). Terms that the layer's constants make identities are left out, with the
  sim's own bounds (:func:`_neuron_plan`): ``du = 4095`` clears ``u``, ``dv = 0`` keeps ``v``,
  a zero bias adds nothing, and the wraps and the clip are dropped where the largest possible
  activation proves they never trigger.
* **Readout**: the same ``Scan`` with ``vth = READOUT_VTH`` (it can reset, like the sim);
  its voltages are the model's output.

Time axis: the model appends ``extra_steps`` zero input steps itself (``delaysnn.sim.alignment``:
one step of latency per layer plus the IR's ``tail_steps``; stored in the metadata with the
per-layer latency), so an input of ``T`` steps gives outputs of exactly the sim's length and
layout; batch and time are dynamic. :func:`run` pads or truncates for an explicit ``steps``
(the network is causal, so a longer run truncated equals a shorter run). Opset 17 (onnxruntime
1.20 runs up to 21).

The float model (``export --float``) is :mod:`exporters.onnx.floating`, built from the float IR.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from delaysnn.constants import (
    ACTIVATION_SHIFT,
    CURRENT_DECAY_OFFSET,
    DECAY_UNITY,
    INT32_MAX,
    INT32_MODULUS,
    U_MODULUS,
    U_WRAP,
    V_SATURATION,
)
from delaysnn.ir import DelayLayer, DelayNetwork

from .common import (
    FORMAT,
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

if TYPE_CHECKING:  # heavy, optional: imported inside the functions that need them
    import onnx


_UINT8_MAX = 255  # MatMulInteger's activations are uint8
# x86 without AVX-512 VNNI: onnxruntime's uint8 x int8 kernel adds the products in pairs into int16
# with saturation (vpmaddubsw) before widening, so a pair past this saturates (seen on AVX2 CPUs)
_INT16_PAIR_MAX = 2**15 - 1
_PRODUCT_DEPTH = 2048  # inner dimension to aim for when batching delays into one product


def extra_steps(net: DelayNetwork) -> int:
    """Zero steps the model appends to its input: ``sim.alignment(net, T).steps - T``."""
    from delaysnn.sim import alignment

    return alignment(net, 0).steps


def _max_payload(net: DelayNetwork, index: int) -> int:
    """Largest value a layer's input carries: graded counts for layer 0, spikes (1) after."""
    return 2**net.input_bits - 1 if index == 0 else 1


def _uses_uint8(layer: DelayLayer, max_payload: int) -> bool:
    """Whether MatMulInteger (uint8 x int8 -> int32) is exact for this layer, for every input and
    CPU: payloads fit uint8, no two products can saturate an int16 pair sum, and no partial sum
    can reach 2**31 (``sim.activation_bound``)."""
    from delaysnn.sim import activation_bound

    pair_max = 2 * max_payload * int(np.abs(layer.weight).max(initial=0))
    return (
        max_payload <= _UINT8_MAX
        and pair_max <= _INT16_PAIR_MAX
        and activation_bound(layer.weight, max_payload) <= INT32_MAX  # MatMulInteger accumulates in int32
    )


def _delay_groups(layer: DelayLayer) -> dict[int, np.ndarray]:
    """``{d: W_d[in, out]}``: the weights of the synapses with delay ``d`` (zero elsewhere)."""
    used, delay = layer.weight != 0, layer.delay_matrix  # per synapse, whatever the kind
    delays = np.unique(delay[used]) if used.any() else np.array([0])
    w = layer.weight.astype(np.int64)
    return {int(d): np.where(used & (delay == d), w, 0).T for d in delays}


def _synaptic_input(g: _Graph, layer: DelayLayer, x: str, uint8: bool) -> str:
    """``a[t] = sum_d W_d x[t - 1 - d]``, int64 ``[time, batch, out]``.

    ``x`` is time-major, uint8 (``uint8``) or int64; the front padding realises both the one
    step of latency and the delays. Consecutive delays are batched: their shifted inputs are
    concatenated along channels and multiplied by their stacked ``W_d`` in one product, which
    is the same sum with fewer, larger GEMMs and fewer int32 additions (about 3x faster for
    256-wide layers in onnxruntime 1.20 than one product per delay).
    """
    groups = _delay_groups(layer)
    max_d = max(groups)
    xp = g.op("Pad", [x, g.const("pads", [1 + max_d, 0, 0, 0, 0, 0])], "padded")
    axes = g.const("axes", [0])
    delays = list(groups)
    per_product = max(1, _PRODUCT_DEPTH // layer.shape[1])
    total = None
    for first in range(0, len(delays), per_product):
        chunk = delays[first : first + per_product]
        shifted = [g.op("Slice", [xp, g.const("start", [max_d - d]), g.const("end", [-(1 + d)]), axes], f"delay{d}") for d in chunk]
        stacked = shifted[0] if len(chunk) == 1 else g.op("Concat", shifted, f"delays{chunk[0]}_{chunk[-1]}", axis=2)
        w = np.concatenate([groups[d] for d in chunk], axis=0)
        if uint8:
            prod = g.op("MatMulInteger", [stacked, g.const("w", w, np.int8)], "a_part")
        else:
            prod = g.op("MatMul", [stacked, g.const("w", w, np.int64)], "a_part")
        total = prod if total is None else g.op("Add", [total, prod], "a_sum")
    if uint8:
        total = g.op("Cast", [total], "a64", to=_onnx_type(np.int64))
    return total


def _activation(g: _Graph, layer: DelayLayer, a: str, bound: int) -> tuple[str, int]:
    """``sim.activation``: ``(a << weight_exp) << 6`` through Lava's int32 registers.

    Returns the tensor and the largest magnitude it can hold. With ``|a| <= bound`` small
    enough both int32 wraps are no-ops and one ``Mul`` is exact (``weight_exp >= 0``).
    """
    shift = layer.weight_exp + ACTIVATION_SHIFT
    if bound << shift <= INT32_MAX:
        return g.op("Mul", [a, g.const("act_scale", 1 << shift)], "act"), bound << shift
    a = _wrap32(g, g.op("Mul", [a, g.const("w_scale", 1 << layer.weight_exp)], "a_buff"))
    return _wrap32(g, g.op("Mul", [a, g.const("act_scale", 1 << ACTIVATION_SHIFT)], "act_raw")), INT32_MAX + 1


def _wrap32(g: _Graph, x: str) -> str:
    """``sim.wrap32`` in int64: ``((x + 2**31) mod 2**32) - 2**31`` (``Mod`` with fmod=0 is floored)."""
    half = g.const("half32", INT32_MODULUS >> 1)
    wrapped = g.op("Mod", [g.op("Add", [x, half], "biased"), g.const("mod32", INT32_MODULUS)], "mod", fmod=0)
    return g.op("Sub", [wrapped, half], "wrap32")


@dataclass(frozen=True)
class _NeuronPlan:
    """Which of the sim's wraps and clips can trigger for a layer (the rest are left out)."""

    int32: bool  # u and v can leave 32 bits: model Lava's int32 registers
    u_wrap: bool  # u can leave 24 bits: the one-time wrap
    v_clip: bool  # v can reach +-(2**23 - 1): saturation


def _neuron_plan(layer: DelayLayer, act_max: int) -> _NeuronPlan:
    """Which register wraps and clips can trigger, given ``|act| <= act_max`` for every input; the
    graph leaves out the others (fewer ops per step, same integers).

    ``|u| <= act_max * 4096 / (du + 1)``; ``|v| <= (max|u| + max|bias|) * 4096 / dv``. Exact
    rational comparisons, so a dropped term provably never triggers.
    """
    from delaysnn.sim import effective_bias

    n = layer.neuron
    int32_safe = act_max <= U_MODULUS
    u_bound = Fraction(act_max * DECAY_UNITY, n.du + CURRENT_DECAY_OFFSET)
    u_wrap = not u_bound < U_WRAP
    bias_max = int(np.abs(effective_bias(n.bias_mant, n.bias_exp)).max(initial=0))
    if not int32_safe or n.dv == 0:
        v_clip = True
    else:
        v_clip = not (min(u_bound, U_WRAP) + bias_max) * DECAY_UNITY / n.dv < V_SATURATION
    return _NeuronPlan(int32=not int32_safe, u_wrap=u_wrap, v_clip=v_clip)


def _neuron_body(layer: DelayLayer, index: int, plan: _NeuronPlan) -> Any:
    """Scan body: ``sim.neuron_step`` for one layer's neurons, in int64.

    State ``(u, v)``, scan input ``act_t`` (``sim.activation``); scan output the spikes (bool,
    hidden layers) or the voltage after reset (readout).
    """
    from onnx import TensorProto

    from delaysnn import sim

    n = layer.neuron
    g = _Graph(f"l{index}_")
    u_in, v_in, act = f"l{index}_u_in", f"l{index}_v_in", f"l{index}_act_t"
    consts: dict[int, str] = {}

    def k(value: int) -> str:
        if value not in consts:
            consts[value] = g.const("k", value)
        return consts[value]

    def decay(x: str, keep: int, hint: str) -> str:
        # sign(x * keep) * (|x * keep| >> 12) == trunc(x * keep / 4096): integer Div truncates
        return g.op("Div", [g.op("Mul", [x, k(keep)], f"{hint}_p"), k(DECAY_UNITY)], hint)

    # current: u = wrap_current(wrap32(decay(u, 4096 - (du + 1)) + act))
    keep_u = DECAY_UNITY - (n.du + CURRENT_DECAY_OFFSET)
    u = g.op("Add", [decay(u_in, keep_u, "u_decay"), act], "u_raw") if keep_u else act
    if plan.int32:
        u = _wrap32(g, u)
    if plan.u_wrap:
        u = g.op("Where", [g.op("Greater", [u, k(U_WRAP)]), g.op("Sub", [u, k(U_MODULUS)]), u], "u_hi")
        u = g.op("Where", [g.op("LessOrEqual", [u, k(-U_WRAP)]), g.op("Add", [u, k(U_MODULUS)]), u], "u_lo")
    # voltage: v = clip(wrap32(decay(v, 4096 - dv) + u + bias), -(2**23 - 1), 2**23 - 1)
    keep_v = DECAY_UNITY - n.dv
    v = g.op("Add", [v_in if keep_v == DECAY_UNITY else decay(v_in, keep_v, "v_decay"), u], "v_u") if keep_v else u
    bias = sim.effective_bias(n.bias_mant, n.bias_exp)
    if bias.any():
        v = g.op("Add", [v, g.const("bias", bias)], "v_bias")
    if plan.int32:
        v = _wrap32(g, v)
    if plan.v_clip:
        v = g.op("Clip", [v, k(-V_SATURATION), k(V_SATURATION)], "v_sat")
    # spike and reset: s = v > vth << 6; v[s] = 0 (u is not reset)
    spike = g.op("Greater", [v, k(sim.effective_threshold(n.vth))], "spike")
    v = g.op("Where", [spike, k(0), v], "v")
    spiking = n.vth is not None
    i64 = TensorProto.INT64
    results = [(u, i64), (v, i64), (spike, TensorProto.BOOL) if spiking else (v, i64)]
    return step_graph(g, f"layer{index}_step", [u_in, v_in, act], i64, results, layer.shape[0])


def _layer(g: _Graph, net: DelayNetwork, index: int, x_tm: str) -> str:
    """Lower layer ``index``: time-major input -> time-major spikes (uint8) or voltages (int64)."""
    from delaysnn.sim import activation_bound

    layer = net.layers[index]
    max_payload = _max_payload(net, index)
    uint8 = _uses_uint8(layer, max_payload)
    x_in = g.op("Cast", [x_tm], "in", to=_onnx_type(np.uint8 if uint8 else np.int64))
    a = _synaptic_input(g, layer, x_in, uint8)
    act, act_max = _activation(g, layer, a, activation_bound(layer.weight, max_payload))
    zeros = _zero_state(g, x_tm, layer.shape[0])
    _, _, y = g.op(
        "Scan",
        [zeros, zeros, act],
        f"scan{index}",
        outputs=3,
        body=_neuron_body(layer, index, _neuron_plan(layer, act_max)),
        num_scan_inputs=1,
    )
    return g.op("Cast", [y], "spikes_u8", to=_onnx_type(np.uint8)) if layer.neuron.spiking else y


def build(net: DelayNetwork, record_spikes: bool = True) -> onnx.ModelProto:
    """Lower ``net`` to an integer ONNX model (opset 17) that reproduces ``delaysnn.sim``.

    Input ``x`` int32 ``[batch, time, input_size]`` (graded payloads ``0..2**input_bits-1``);
    outputs ``voltages`` int32 ``[batch, steps, out]`` and, with ``record_spikes``, one
    ``spikes<i>`` uint8 ``[batch, steps, n_i]`` per hidden layer, ``steps = time +
    extra_steps(net)``. The graph casts payloads without range checks (an 8-bit ``Cast`` wraps);
    :func:`run` validates its input first, as ``sim.as_input`` does.
    """
    _require("onnx")
    from onnx import TensorProto, helper

    net.check()
    pad = extra_steps(net)
    g = _Graph("")
    x = INPUT
    if pad:
        x = g.op("Pad", [x, g.const("time_pad", [0, 0, 0, 0, pad, 0])], "x_padded")
    h = g.op("Transpose", [x], "x_tm", perm=[1, 0, 2])
    outputs = []
    for i in range(len(net.layers)):
        h = _layer(g, net, i, h)
        if i < len(net.layers) - 1 and record_spikes:
            g.op("Transpose", [h], name=spikes_name(i), perm=[1, 0, 2])
            outputs.append(helper.make_tensor_value_info(spikes_name(i), TensorProto.UINT8, ["batch", "steps", net.layers[i].shape[0]]))
    g.op("Cast", [g.op("Transpose", [h], perm=[1, 0, 2])], name=VOLTAGES, to=TensorProto.INT32)
    outputs.insert(0, helper.make_tensor_value_info(VOLTAGES, TensorProto.INT32, ["batch", "steps", net.output_size]))
    doc = "delaysnn integer network; spike-exact with delaysnn.sim (DESIGN section 4)"
    return model_proto(g, "delaysnn_integer", TensorProto.INT32, net.input_size, outputs, doc, _metadata(net, pad, record_spikes))


def _metadata(net: DelayNetwork, pad: int, record_spikes: bool) -> dict[str, str]:
    """String metadata_props: enough for ``run`` and ``describe`` without the IR."""
    from delaysnn.sim import alignment

    hidden = len(net.layers) - 1
    return {
        "delaysnn.format": FORMAT,
        "delaysnn.version": str(VERSION),
        "delaysnn.sizes": "-".join(map(str, net.sizes)),
        "delaysnn.input_bits": str(net.input_bits),
        "delaysnn.time_step_ms": repr(float(net.time_step_ms)),
        "delaysnn.max_delay": str(max(layer.max_delay for layer in net.layers)),
        "delaysnn.layer_max_delays": json.dumps([layer.max_delay for layer in net.layers]),
        "delaysnn.extra_steps": str(pad),
        "delaysnn.latency": json.dumps(list(alignment(net, 0).latency)),
        "delaysnn.readout_scale": repr(float(net.readout_scale)),
        "delaysnn.spike_outputs": json.dumps([spikes_name(i) for i in range(hidden)] if record_spikes else []),
        "delaysnn.lowering": json.dumps(
            ["MatMulInteger" if _uses_uint8(layer, _max_payload(net, i)) else "MatMul(int64)" for i, layer in enumerate(net.layers)]
        ),
    }


def save(net: DelayNetwork, path: str | os.PathLike, record_spikes: bool = True) -> Path:
    """Build, check (``full_check``) and write the integer model to ``path`` atomically."""
    onnx = _require("onnx")
    from delaysnn.fileio import write_bytes_atomic

    model = build(net, record_spikes=record_spikes)
    onnx.checker.check_model(model, full_check=True)
    return write_bytes_atomic(path, model.SerializeToString())


def export(net: DelayNetwork, path: str | os.PathLike) -> Path:
    """The registry's export (``delaysnn export --target onnx``): :func:`save` with every hidden
    layer's spikes as outputs, so the file can be verified layer by layer."""
    return save(net, path)

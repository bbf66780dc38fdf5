"""The integer network <-> NIR: standard fields a peer runs, metadata that makes NIR -> IR lossless.

Every layer's Delay values are ``(d + LAYER_LATENCY) * dt``: a spike at step ``t`` through a
synapse of delay ``d`` reaches the next layer at ``t + 1 + d`` on Loihi (``delaysnn.sim``), so a
standard executor that steps the graph lands on the simulator's time axis. The metadata
``latency_steps`` says how many steps of each layer's Delay are latency; :func:`read_ir`
subtracts them (format version 1 files carried the synaptic delays only)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from delaysnn.constants import ACTIVATION_SHIFT, CURRENT_DECAY_OFFSET, DECAY_MAX, DECAY_UNITY, LAYER_LATENCY
from delaysnn.errors import IRValidationError, UnsupportedError
from delaysnn.ir import DelayKind, DelayLayer, DelayNetwork, NeuronParams, WeightKind, check_network
from delaysnn.sim import effective_bias, effective_threshold, effective_weight

from .common import (
    BAD_FIELD,
    CONVENTIONS,
    FORMAT,
    NO_LEAK_TAU_STEPS,
    VERSION,
    check_dt,
    checked_meta,
    compact_int,
    delay_steps,
    graph_dt,
    latency_in_delays,
    nir_module,
    short,
)
from .files import GraphSource, load_graph, to_bytes, where
from .structure import Segment, build_graph, chain, compose, decompose, layer_nodes, neuron_delay_nodes, shift_delays


def tau_steps(dv: int) -> float:
    """Membrane time constant of ``dv`` in steps (``dv = 0``: a leak below v's resolution)."""
    return NO_LEAK_TAU_STEPS if dv == 0 else DECAY_UNITY / dv


def ir_neuron(layer: DelayLayer, dt: float) -> tuple[Any, np.ndarray | None]:
    """The neuron node of an IR layer and the bias its Affine carries (None: bias in v_leak)."""
    nir = nir_module()
    n = layer.neuron
    size = layer.shape[0]
    bias = effective_bias(n.bias_mant, n.bias_exp).astype(np.float64)
    tau = np.full(size, tau_steps(n.dv))
    filtered = n.du != DECAY_MAX
    mem = {"r": tau.copy(), "v_leak": bias * tau if filtered else np.zeros(size)}
    if filtered:
        syn = np.full(size, DECAY_UNITY / (n.du + CURRENT_DECAY_OFFSET))
        mem.update(tau_syn=syn * dt, w_in=syn, tau_mem=tau * dt)
    else:
        mem.update(tau=tau * dt)
    if n.spiking:
        mem.update(v_threshold=np.full(size, float(effective_threshold(n.vth))), v_reset=np.zeros(size))
        node = nir.CubaLIF(**mem) if filtered else nir.LIF(**mem)
    else:
        node = nir.CubaLI(**mem) if filtered else nir.LI(**mem)
    node.metadata = _layer_meta(layer)
    return node, None if filtered else bias


def _layer_meta(layer: DelayLayer) -> dict[str, Any]:
    n = layer.neuron
    delay = layer.delay_matrix
    # per-neuron kinds carry their vector in the Delay node itself: nothing is lost with a zero weight
    zero = np.argwhere((layer.weight == 0) & (delay != 0)) if layer.delay_kind is DelayKind.SYNAPTIC else np.zeros((0, 2), np.int64)
    zero = np.column_stack([zero, delay[zero[:, 0], zero[:, 1]]]) if zero.size else np.zeros((0, 3))
    return {
        "du": int(n.du),
        "dv": int(n.dv),
        "vth": -1 if n.vth is None else int(n.vth),
        "bias_mant": compact_int(n.bias_mant),
        "bias_exp": int(n.bias_exp),
        "weight_bits": int(layer.weight_bits),
        "weight_exp": int(layer.weight_exp),
        "weight_kind": layer.weight_kind.value,
        "delay_kind": layer.delay_kind.value,  # absent in older files: synaptic  # older files: 0/1 'binary' and 'ternary' (see _weight_kind)
        # the memory frontier's per-layer grid (absent in older files: read as the IR's defaults)
        "delay_bits": -1 if layer.delay_bits is None else int(layer.delay_bits),
        "delay_step": int(layer.delay_step),
        "zero_weight_delays": compact_int(zero),  # synaptic delays (no latency), which W' cannot carry
    }


def export_ir(net: DelayNetwork, dt: float | None = None) -> Any:
    """The integer network as a ``nir.NIRGraph`` (``dt`` seconds per step; default the IR's bin)."""
    net.check()
    dt = net.time_step_ms / 1000.0 if dt is None else check_dt(dt)
    layers = []
    for index, layer in enumerate(net.layers):
        w_eff = effective_weight(layer.weight, layer.weight_exp) << ACTIVATION_SHIFT
        neuron, bias = ir_neuron(layer, dt)
        if layer.delay_kind is DelayKind.SYNAPTIC:
            post, pre = np.nonzero(w_eff)
            dec = decompose(layer.shape, post, pre, layer.delay[post, pre], w_eff[post, pre])
            layers.append(layer_nodes(index, dec, dt, neuron, bias, latency=LAYER_LATENCY))
        else:  # Delay -> Linear (axonal) or Linear -> Delay (dendritic): the vector itself, no fan-out
            axonal = layer.delay_kind is DelayKind.AXONAL
            layers.append(neuron_delay_nodes(index, axonal, layer.delay, w_eff, dt, neuron, bias, latency=LAYER_LATENCY))
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "network": "integer",
        "dt": dt,
        "time_step_ms": float(net.time_step_ms),
        "input_bits": int(net.input_bits),
        # how long a run lasts and how the readout is decoded (older files: in the provenance)
        "tail_steps": int(net.tail_steps),
        "readout_scale": float(net.readout_scale),
        "spike_condition": ">",
        "reset": "zero (v only; the current keeps its value)",
        "latency_steps": np.full(len(net.layers), LAYER_LATENCY, np.int8),
        "latency": "every Delay value includes latency_steps (one step per layer, as on Loihi): a standard executor lands on delaysnn.sim's time axis",
        "units": "Lava v register: W' = weight << (weight_exp + 6), v_threshold = vth << 6, bias = bias_mant << bias_exp",
        "conventions": CONVENTIONS,
        "provenance": json.dumps(net.provenance, sort_keys=True),
    }
    return build_graph(net.input_size, layers, metadata)


# --- NIR -> integer network -------------------------------------------------------------------


def read_ir(source: GraphSource) -> DelayNetwork:
    """The integer network of a ``.nir`` file (or bytes, or graph) written by :func:`export_ir`.

    Weights and delays come from the standard fields (``F``, ``tau``, ``W'``); the neuron
    registers from the metadata, which must agree with the standard fields."""
    graph = load_graph(source)
    try:
        return _read_ir(graph)
    except BAD_FIELD as err:
        raise UnsupportedError(
            f"{where(source)}: delaysnn metadata or a standard field is malformed ({type(err).__name__}: {short(err)}); "
            "the file was edited or damaged after export: re-export it"
        ) from err


def roundtrip(net: DelayNetwork) -> DelayNetwork:
    """``net`` -> NIR file bytes -> ``net``: the ``nir-roundtrip`` check (identical when lossless)."""
    return read_ir(to_bytes(export_ir(net)))


def _read_ir(graph: Any) -> DelayNetwork:
    meta = checked_meta(graph, "integer")
    if not meta:
        raise UnsupportedError("NIR file has no delaysnn metadata (format 'delaysnn-nir'): only integer networks written by delaysnn are read exactly; read foreign graphs with delaysnn.app.from_nir.read_float")
    dt = graph_dt(graph)
    n_in, segments = chain(graph)
    latency = latency_in_delays(meta, len(segments))
    layers, fan_in = [], n_in
    for index, seg in enumerate(segments):
        layers.append(_ir_layer(index, seg, fan_in, dt, int(latency[index])))
        fan_in = layers[-1].shape[0]
    provenance = json.loads(meta.get("provenance", "{}"))
    if not isinstance(provenance, dict):
        raise UnsupportedError(f"NIR metadata 'provenance' is {provenance!r}, not a JSON object; re-export the network")
    # files written before the IR had these fields carry them in the provenance
    tail = meta["tail_steps"] if "tail_steps" in meta else provenance.pop("tail_steps", 0)
    scale = meta["readout_scale"] if "readout_scale" in meta else provenance.pop("readout_scale", 1.0)
    net = DelayNetwork(
        input_size=n_in,
        layers=layers,
        input_bits=int(meta["input_bits"]),
        time_step_ms=float(meta["time_step_ms"]),
        tail_steps=int(tail),
        readout_scale=float(scale),
        provenance=provenance,
    )
    problems = check_network(net)
    if problems:
        raise IRValidationError("NIR file: " + "; ".join(problems))
    return net


def _ir_layer(index: int, seg: Segment, n_in: int, dt: float, latency: int) -> DelayLayer:
    where_ = f"layer {index} (node {seg.neuron_name!r})"
    meta = dict(seg.neuron.metadata or {})
    required = ("du", "dv", "vth", "bias_mant", "bias_exp", "weight_bits", "weight_exp", "zero_weight_delays")
    missing = [k for k in required if k not in meta]
    if missing:
        raise UnsupportedError(f"{where_}: metadata lacks {missing}; the file was not written by delaysnn's export_ir")
    composed = compose(seg, n_in, dt)  # an Affine bias is checked in _check_neuron_fields
    dense = shift_delays(composed.dense(), latency, where_)
    weight, delay = one_delay_per_synapse(dense, (composed.n_out, n_in), where_)
    shift = int(meta["weight_exp"]) + ACTIVATION_SHIFT
    mant = weight / 2.0**shift
    if not np.array_equal(mant, np.rint(mant)):
        raise UnsupportedError(f"{where_}: weights are not multiples of 2**{shift} (weight_exp + 6) as the metadata says")
    zero = np.asarray(meta["zero_weight_delays"]).reshape(-1, 3).astype(np.int64)
    if zero.size and (zero.min() < 0 or zero[:, 0].max() >= weight.shape[0] or zero[:, 1].max() >= weight.shape[1]):
        raise UnsupportedError(f"{where_}: metadata 'zero_weight_delays' indexes synapses outside the {weight.shape} layer")
    delay[zero[:, 0], zero[:, 1]] = zero[:, 2]
    kind = _delay_kind(meta, where_)
    if kind is not DelayKind.SYNAPTIC:
        delay = _neuron_delays(seg, kind, weight.shape, dt, latency, where_)
    vth = int(meta["vth"])
    neuron = NeuronParams(
        du=int(meta["du"]),
        dv=int(meta["dv"]),
        vth=None if vth < 0 else vth,
        bias_mant=np.asarray(meta["bias_mant"]).astype(np.int32).reshape(-1),
        bias_exp=int(meta["bias_exp"]),
    )
    layer = DelayLayer(
        weight=np.rint(mant).astype(np.int32),
        delay=delay.astype(np.int32),
        neuron=neuron,
        weight_bits=int(meta["weight_bits"]),
        weight_exp=int(meta["weight_exp"]),
        weight_kind=_weight_kind(meta, where_),
        delay_bits=None if int(meta.get("delay_bits", -1)) < 0 else int(meta["delay_bits"]),
        delay_step=int(meta.get("delay_step", 1)),
        delay_kind=kind,
    )
    _check_neuron_fields(seg, layer, dt, where_)
    return layer


def _weight_kind(meta: dict[str, Any], where_: str) -> WeightKind:
    """A layer's :class:`WeightKind` from its metadata: ``weight_kind``, or in files written
    before it existed the 0/1 ``binary`` and ``ternary`` flags."""
    if "weight_kind" in meta:
        kind = str(meta["weight_kind"])
        if kind not in {k.value for k in WeightKind}:
            raise UnsupportedError(
                f"{where_}: metadata 'weight_kind' is {kind!r}, expected one of {', '.join(k.value for k in WeightKind)}; re-export the network"
            )
        return WeightKind(kind)
    if "binary" not in meta:
        raise UnsupportedError(f"{where_}: metadata lacks 'weight_kind'; the file was not written by delaysnn's export_ir")
    if bool(meta["binary"]):
        return WeightKind.BINARY
    return WeightKind.TERNARY if bool(meta.get("ternary", 0)) else WeightKind.FIXED


def _delay_kind(meta: dict[str, Any], where_: str) -> DelayKind:
    """A layer's :class:`DelayKind` from its metadata (files written before the kinds: synaptic)."""
    kind = str(meta.get("delay_kind", DelayKind.SYNAPTIC.value))
    if kind not in {k.value for k in DelayKind}:
        raise UnsupportedError(f"{where_}: metadata 'delay_kind' is {kind!r}, expected one of {', '.join(k.value for k in DelayKind)}; re-export the network")
    return DelayKind(kind)


def _neuron_delays(seg: Segment, kind: DelayKind, shape: tuple[int, int], dt: float, latency: int, where_: str) -> np.ndarray:
    """The per-neuron delay vector of an axonal (``Delay -> Linear``) or dendritic (``Linear ->
    Delay``) layer, read from its Delay node (latency removed), so a neuron whose weights are all
    zero keeps its delay; a graph of another shape than the metadata's kind raises."""
    kinds = [type(node).__name__ for _, node in seg.ops]
    axonal = kind is DelayKind.AXONAL
    expect = (["Delay", "Linear"], ["Delay", "Affine"]) if axonal else (["Linear", "Delay"], ["Linear", "Delay", "Affine"])
    if kinds not in expect:
        raise UnsupportedError(f"{where_}: nodes {kinds} are not the {' or '.join(map(str, expect))} of a {kind.value} layer, as its metadata says; re-export the network")
    node = seg.ops[0 if axonal else 1][1]
    steps = delay_steps(node.delay, dt, where_) - latency
    size = shape[1] if axonal else shape[0]
    if steps.shape != (size,) or steps.min(initial=0) < 0:
        raise UnsupportedError(f"{where_}: the Delay holds {steps.size} delays (at least {latency} steps of latency each), expected {size}")
    return steps


def one_delay_per_synapse(dense: dict[int, np.ndarray], shape: tuple[int, int], where_: str) -> tuple[np.ndarray, np.ndarray]:
    """Weight and delay ``[out, in]`` from ``{d: M_d}``; a synapse with weights at two delays raises."""
    if not dense:  # no non-zero synapse
        return np.zeros(shape), np.zeros(shape, np.int64)
    stack = np.stack(list(dense.values()))
    taps = (stack != 0).sum(0)
    if taps.max(initial=0) > 1:
        o, i = np.argwhere(taps > 1)[0]
        ds = [d for d, m in dense.items() if m[o, i] != 0]
        raise UnsupportedError(f"{where_}: synapse ({o}, {i}) has weights at delays {ds}; the IR holds one delay per synapse")
    delays = np.array(list(dense), np.int64).reshape(-1, 1, 1)
    return stack.sum(0), ((stack != 0) * delays).sum(0)


def _check_neuron_fields(seg: Segment, layer: DelayLayer, dt: float, where_: str) -> None:
    """The standard neuron fields (and Affine bias) must be those the metadata implies."""
    expect, bias = ir_neuron(layer, dt)
    if type(expect).__name__ != seg.kind:
        raise UnsupportedError(f"{where_}: neuron is {seg.kind} but its metadata (du={layer.neuron.du}) implies {type(expect).__name__}")
    for field in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "w_in"):
        if hasattr(expect, field) and not np.allclose(getattr(seg.neuron, field), getattr(expect, field), rtol=1e-6, atol=0):
            raise UnsupportedError(f"{where_}: field {field!r} disagrees with the delaysnn metadata (edited by another tool?); re-export the network")
    last = seg.ops[-1][1] if seg.ops else None
    got = np.asarray(last.bias, np.float64) if type(last).__name__ == "Affine" else np.zeros(layer.shape[0])
    if not np.array_equal(got, bias if bias is not None else np.zeros(layer.shape[0])):
        raise UnsupportedError(f"{where_}: Affine bias disagrees with the metadata's bias_mant << bias_exp")

"""Reading NIR graphs as the float model's parameters (``read_record``): ours exactly, foreign ones
from their fields.

The result is a :class:`delaysnn.ir.folded.ModelRecord` (the model's config, DCLS weights and
delays, BatchNorm buffers), numpy only: the backend never builds the torch model;
``delaysnn.convert.from_nir`` does, and ``delaysnn.app.from_nir.read_float`` joins the two.
Our float exports are read back from their metadata: bit-identical outputs. Other graphs:
feed-forward chains of ``Linear``/``Affine``/``Scale``/``Delay`` nodes between ``LIF``|``CubaLIF``
hidden neurons and an ``LI`` readout are composed into per-synapse weights and delays (axonal,
dendritic and our per-synapse form alike); anything else raises :class:`UnsupportedError`
naming the node."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from delaysnn.errors import UnsupportedError
from delaysnn.ir.folded import ModelRecord

from .common import BAD_FIELD, checked_meta, graph_dt, short
from .files import GraphSource, load_graph, where
from .structure import Segment, chain, compose

# BatchNorm1d's default eps: a foreign layer's bias rides on an identity BatchNorm (gain 1), whose
# running variance 1 - eps makes 1 / sqrt(var + eps) exactly 1
BN_EPS = 1e-5


def read_record(source: GraphSource, dt: float | None = None) -> tuple[ModelRecord, bool]:
    """The float model's parameters from a NIR graph (no torch), and whether they were composed
    from a foreign graph's fields (True) rather than read from our metadata (False).

    Our float exports are read from their metadata (a bit-identical rebuild). Other graphs (or
    ours without metadata) are composed from their standard fields, stepped every ``dt``
    seconds: the argument, else the graph metadata's ``dt``."""
    graph = load_graph(source)
    try:
        meta = checked_meta(graph, "float")
        if meta and "model_config" in meta:
            return _record_exact(graph, meta), False
        return _record_foreign(graph, graph_dt(graph, dt)), True
    except BAD_FIELD as err:
        raise UnsupportedError(
            f"{where(source)}: a metadata or standard field is malformed ({type(err).__name__}: {short(err)}); "
            "re-export the graph"
        ) from err


def _record_exact(graph: Any, meta: dict[str, Any]) -> ModelRecord:
    config = json.loads(meta["model_config"])
    _, segments = chain(graph)
    weights, delays, batchnorm = [], [], []
    for index, seg in enumerate(segments):
        weight_meta = dict(seg.ops[-1][1].metadata or {}) if seg.ops else {}
        try:
            weights.append(np.asarray(weight_meta["kernel_weight"], np.float32))
            delays.append(np.asarray(weight_meta["kernel_delay"], np.int64))
        except KeyError as err:
            raise UnsupportedError(f"layer {index}: metadata lacks {err}; the file was not written by delaysnn's export_float") from err
        if index < len(segments) - 1:
            batchnorm.append(dict(seg.neuron.metadata or {}))  # read by the model builder where the config has BatchNorm
    return ModelRecord(config=config, kernel_weight=weights, kernel_delay=delays, batchnorm=batchnorm)


@dataclass
class _FloatLayer:
    """One foreign layer in the float model's terms (before threshold normalisation)."""

    dense: dict[int, np.ndarray]  # delay -> weights [out, in], input gain folded
    bias: np.ndarray  # [out], added to v every step (after the synaptic filter)
    tau: float  # membrane time constant, steps
    syn_tau: float | None
    threshold: np.ndarray | None  # [out]; None: readout


def _uniform(values: np.ndarray, what: str, where: str) -> float:
    """The one value of a per-neuron parameter, to 12 significant digits (``tau/dt`` of a
    float32 ``tau`` is 2.0000000000000004, not 2)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size and not np.allclose(v, v[0], rtol=1e-6, atol=0):
        raise UnsupportedError(f"{where}: {what} differs between neurons ({v.min():g}..{v.max():g}); the float model has one per layer")
    return float(f"{v[0]:.12g}")


def _gain(scale: np.ndarray, dt: float, tau: np.ndarray) -> np.ndarray:
    """Input gain ``scale * dt / tau`` of a NIR neuron (``r`` or ``w_in``); within float32
    rounding of 1 (the ``r = tau/dt`` convention) it is exactly 1."""
    gain = (np.asarray(scale, np.float64) * dt) / tau
    return np.where(np.abs(gain - 1.0) <= 1e-6, 1.0, gain)


def _foreign_layer(seg: Segment, n_in: int, dt: float, readout: bool, where: str) -> _FloatLayer:
    kind, node = seg.kind, seg.neuron
    if readout and kind != "LI":
        raise UnsupportedError(f"{where}: the last neuron is {kind}; the float model's readout is a non-spiking LI")
    if not readout and kind not in ("LIF", "CubaLIF"):
        raise UnsupportedError(f"{where}: hidden neuron {kind}; hidden layers must be LIF or CubaLIF")
    m = compose(seg, n_in, dt)
    tau_mem = np.asarray(node.tau_mem if kind == "CubaLIF" else node.tau, np.float64)
    tau = _uniform(tau_mem / dt, "tau", where)
    gain = _gain(node.r, dt, tau_mem)
    bias = np.asarray(node.v_leak, np.float64) * dt / tau_mem
    syn_tau = None
    if kind == "CubaLIF":
        tau_syn = np.asarray(node.tau_syn, np.float64)
        syn_tau = _uniform(tau_syn / dt, "tau_syn", where)
        gain = gain * _gain(node.w_in, dt, tau_syn)
        if m.bias is not None and np.any(m.bias != 0):
            raise UnsupportedError(f"{where}: an Affine bias into a CubaLIF passes its current filter; the float model adds biases after it (use v_leak)")
    elif m.bias is not None:
        bias = bias + gain * m.bias
    if readout and np.any(bias != 0):
        raise UnsupportedError(f"{where}: the readout has a bias (Affine bias or v_leak); the float model's readout has none")
    threshold = None
    if not readout:
        if np.any(np.asarray(node.v_reset) != 0):
            raise UnsupportedError(f"{where}: v_reset != 0; the float model resets to 0")
        threshold = np.asarray(node.v_threshold).reshape(-1)
        if np.any(threshold <= 0):
            raise UnsupportedError(f"{where}: non-positive v_threshold; the float model needs a positive threshold")
    dense = {d: w * gain[:, None] for d, w in m.dense().items()}
    return _FloatLayer(dense=dense, bias=bias, tau=tau, syn_tau=syn_tau, threshold=threshold)


def _record_foreign(graph: Any, dt: float) -> ModelRecord:
    n_in, segments = chain(graph)
    layers, fan_in = [], n_in
    for index, seg in enumerate(segments):
        where = f"node {seg.neuron_name!r} ({seg.kind})"
        layers.append(_foreign_layer(seg, fan_in, dt, index == len(segments) - 1, where))
        fan_in = int(np.asarray(seg.neuron.output_type["output"]).reshape(-1)[0])
    hidden = layers[:-1]
    threshold = _normalise_thresholds(hidden)
    return _foreign_record(n_in, layers, segments, threshold, dt)


def _normalise_thresholds(hidden: list[_FloatLayer]) -> float:
    """One threshold for the whole model: the common one, or 1 after scaling each neuron by
    ``1 / theta_o`` (with reset to 0, dividing a neuron's weights and bias by its threshold
    leaves its spikes unchanged). Returned as the model's ``>=`` threshold (float32 successor)."""
    values = np.concatenate([lay.threshold for lay in hidden]) if hidden else np.ones(1)
    if np.all(values == values[0]):
        ref = float(values[0])
    else:
        ref = 1.0
        for lay in hidden:
            lay.dense = {d: w / lay.threshold[:, None] for d, w in lay.dense.items()}
            lay.bias = lay.bias / lay.threshold
    return float(np.nextafter(np.float32(ref), np.float32(np.inf)))


def _foreign_record(n_in: int, layers: list[_FloatLayer], segments: list[Segment], threshold: float, dt: float) -> ModelRecord:
    """The float model's config and parameters for composed foreign layers (its DCLS taps, and
    each hidden layer's bias on an identity BatchNorm)."""
    hidden = layers[:-1]
    sizes = {lay.bias.size for lay in hidden}
    if len(sizes) > 1:
        raise UnsupportedError(f"node {segments[1].neuron_name!r}: hidden layers of sizes {sorted(sizes)}; the float model's hidden layers share one size")
    for what in ("tau", "syn_tau"):
        values = {getattr(lay, what) for lay in hidden}
        if len(values) > 1:
            raise UnsupportedError(f"hidden layers have different {what} ({sorted(map(str, values))} steps); the float model has one")
    max_d = max((max(lay.dense, default=0) for lay in layers), default=0)
    taps = max(_max_taps(lay.dense) for lay in layers)
    biased = any(np.any(lay.bias != 0) for lay in hidden)
    config = dict(
        input_size=n_in,
        output_size=int(layers[-1].bias.size),
        hidden_size=int(hidden[0].bias.size) if hidden else 256,
        hidden_layers=len(hidden),
        max_delay=max_d + 1 if max_d % 2 == 0 else max_d + 2,  # odd kernel covering 0..max_d
        kernel_count=max(taps, 1),
        tau=hidden[0].tau if hidden else 1.0,
        readout_tau=layers[-1].tau,
        threshold=threshold,
        batchnorm=biased,
        synaptic_tau=hidden[0].syn_tau if hidden else None,
        time_step_ms=dt * 1000.0,
        dropout=0.0,
    )
    weights, delays, batchnorm, fan_in = [], [], [], n_in
    for lay in layers:
        weight, delay = _taps(lay.dense, (lay.bias.size, fan_in, max(taps, 1)))
        weights.append(raw_weight(weight))
        delays.append(delay)
        fan_in = lay.bias.size
    for lay in hidden:
        if biased:
            batchnorm.append({"bn_weight": np.ones(lay.bias.size, np.float32), "bn_bias": lay.bias.astype(np.float32),
                              "bn_mean": np.zeros(lay.bias.size, np.float32),
                              "bn_var": np.full(lay.bias.size, np.float32(1.0 - BN_EPS), np.float32), "bn_eps": BN_EPS})
        else:
            batchnorm.append(None)
    return ModelRecord(config=config, kernel_weight=weights, kernel_delay=delays, batchnorm=batchnorm)


def _max_taps(dense: dict[int, np.ndarray]) -> int:
    """Most delays any one synapse has (the DCLS ``kernel_count`` needed)."""
    counts = [(w != 0).astype(np.int64) for w in dense.values()]
    return int(np.sum(counts, axis=0).max(initial=0)) if counts else 0


def _taps(dense: dict[int, np.ndarray], shape: Any) -> tuple[np.ndarray, np.ndarray]:
    """``{d: W_d}`` as DCLS taps ``weight, delay [out, in, kc]``: each synapse's non-zero delays in order."""
    out, n_in, kc = (int(s) for s in shape)
    weight = np.zeros((out, n_in, kc), np.float32)
    delay = np.zeros((out, n_in, kc), np.int64)
    filled = np.zeros((out, n_in), np.int64)
    for d, w in sorted(dense.items()):
        o, i = np.nonzero(w)
        k = filled[o, i]
        weight[o, i, k] = w[o, i]
        delay[o, i, k] = d
        filled[o, i] += 1
    return weight, delay


def raw_weight(kernel: np.ndarray) -> np.ndarray:
    """DCLS weights whose one-hot kernel is exactly ``kernel``: DCLS scales every tap by
    ``n = 1 / (1 + 1e-7)`` in float32, so ``fl(w * n) == kernel`` is solved by searching the
    float32 neighbours of ``kernel / n``."""
    k = kernel.astype(np.float32)
    n = np.float32(1.0) / (np.float32(1.0) + np.float32(1e-7))
    guess = (k.astype(np.float64) / float(n)).astype(np.float32)
    best = guess.copy()
    done = (guess * n) == k
    for step in (1, -1, 2, -2):
        cand = guess
        for _ in range(abs(step)):
            cand = np.nextafter(cand, np.float32(np.inf if step > 0 else -np.inf))
        hit = ~done & ((cand * n) == k)
        best[hit] = cand[hit]
        done |= hit
    return best

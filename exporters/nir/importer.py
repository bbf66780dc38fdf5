"""Reading NIR graphs as float models (``read_float``): ours exactly, foreign ones from their fields.

Our float exports are rebuilt from their metadata (the model's config, DCLS weights and delays,
BatchNorm buffers): bit-identical outputs. Other graphs: feed-forward chains of ``Linear``/
``Affine``/``Scale``/``Delay`` nodes between ``LIF``|``CubaLIF`` hidden neurons and an ``LI``
readout are composed into per-synapse weights and delays (axonal, dendritic and our
per-synapse form alike); anything else raises :class:`UnsupportedError` naming the node."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from delaysnn.errors import UnsupportedError

from .common import BAD_FIELD, checked_meta, graph_dt, short
from .files import GraphSource, load_graph, where
from .structure import Segment, chain, compose

if TYPE_CHECKING:  # heavy: imported inside the functions that need it
    import torch

    from delaysnn.model import DelaySNN


def read_float(source: GraphSource, dt: float | None = None) -> DelaySNN:
    """A float ``DelaySNN`` (eval mode) from a NIR graph.

    Our float exports are rebuilt exactly from their metadata (bit-identical outputs). Other
    graphs (or ours without metadata) are composed from their standard fields, stepped every
    ``dt`` seconds: the argument, else the graph metadata's ``dt``."""
    graph = load_graph(source)
    try:
        meta = checked_meta(graph, "float")
        if meta and "model_config" in meta:
            return _float_exact(graph, meta)
        return _float_foreign(graph, graph_dt(graph, dt))
    except BAD_FIELD as err:
        raise UnsupportedError(
            f"{where(source)}: a metadata or standard field is malformed ({type(err).__name__}: {short(err)}); "
            "re-export the graph"
        ) from err


def _float_exact(graph: Any, meta: dict[str, Any]) -> DelaySNN:
    import torch

    from delaysnn.model import DelaySNN, ModelConfig

    cfg = ModelConfig.from_dict(json.loads(meta["model_config"]), source="NIR metadata 'model_config'")
    model = DelaySNN(cfg)
    _, segments = chain(graph)
    if len(segments) != len(model.synapses):
        raise UnsupportedError(f"NIR graph has {len(segments)} layers, its metadata config {len(model.synapses)}")
    with torch.no_grad():
        for index, (seg, syn) in enumerate(zip(segments, model.synapses)):
            where = f"layer {index}"
            weight_meta = dict(seg.ops[-1][1].metadata or {}) if seg.ops else {}
            try:
                weight = torch.from_numpy(np.asarray(weight_meta["kernel_weight"], np.float32))
                delay = torch.from_numpy(np.asarray(weight_meta["kernel_delay"], np.int64))
            except KeyError as err:
                raise UnsupportedError(f"{where}: metadata lacks {err}; the file was not written by delaysnn's export_float") from err
            _set_synapse(syn, weight, delay, where)
            if index < len(model.hidden) and model.hidden[index].bn is not None:
                _set_bn(model.hidden[index].bn, dict(seg.neuron.metadata or {}), where)
    model.set_learn_positions(False)
    model.eval()
    return model


def _set_synapse(syn: Any, weight: torch.Tensor, delay: torch.Tensor, where: str) -> None:
    from delaysnn.model.dcls import delays_to_positions

    if tuple(weight.shape) != tuple(syn.weight.shape) or tuple(delay.shape) != tuple(syn.weight.shape):
        raise UnsupportedError(f"{where}: weights {tuple(weight.shape)} / delays {tuple(delay.shape)} do not fit {tuple(syn.weight.shape)}")
    if delay.numel() and (int(delay.min()) < 0 or int(delay.max()) > syn.max_delay - 1):
        raise UnsupportedError(f"{where}: delays outside 0..{syn.max_delay - 1}")
    syn.weight.copy_(weight)
    syn.pos.copy_(delays_to_positions(delay, syn.max_delay).unsqueeze(0))
    syn.sig.zero_()


def _set_bn(bn: Any, meta: dict[str, Any], where: str) -> None:
    import torch

    try:
        for attr, key in (("weight", "bn_weight"), ("bias", "bn_bias"), ("running_mean", "bn_mean"), ("running_var", "bn_var")):
            getattr(bn, attr).copy_(torch.from_numpy(np.asarray(meta[key], np.float32)))
        bn.eps = float(meta["bn_eps"])
    except KeyError as err:
        raise UnsupportedError(f"{where}: metadata lacks BatchNorm buffer {err}") from err


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


def _float_foreign(graph: Any, dt: float) -> DelaySNN:
    n_in, segments = chain(graph)
    layers, fan_in = [], n_in
    for index, seg in enumerate(segments):
        where = f"node {seg.neuron_name!r} ({seg.kind})"
        layers.append(_foreign_layer(seg, fan_in, dt, index == len(segments) - 1, where))
        fan_in = int(np.asarray(seg.neuron.output_type["output"]).reshape(-1)[0])
    hidden = layers[:-1]
    threshold = _normalise_thresholds(hidden)
    return _build_model(n_in, layers, segments, threshold, dt)


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


def _build_model(n_in: int, layers: list[_FloatLayer], segments: list[Segment], threshold: float, dt: float) -> DelaySNN:
    import torch

    from delaysnn.model import DelaySNN, ModelConfig

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
    try:
        cfg = ModelConfig(
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
    except ValueError as err:
        raise UnsupportedError(f"NIR graph does not fit the float model: {err}") from err
    model = DelaySNN(cfg)
    with torch.no_grad():
        for index, (lay, syn) in enumerate(zip(layers, model.synapses)):
            weight, delay = _taps(lay.dense, syn.weight.shape)
            _set_synapse(syn, torch.from_numpy(raw_weight(weight)), torch.from_numpy(delay), f"layer {index}")
            if index < len(hidden) and biased:
                bn = model.hidden[index].bn
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(lay.bias.astype(np.float32)))
                bn.running_mean.zero_()
                bn.running_var.fill_(float(np.float32(1.0 - bn.eps)))  # 1/sqrt(var + eps) == 1 exactly
    model.set_learn_positions(False)
    model.eval()
    return model


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

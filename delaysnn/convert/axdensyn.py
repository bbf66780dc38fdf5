"""Import checkpoints of AxDenSynDelaySNN (github YounesBouhadjar/AxDenSynDelaySNN, MIT).

Their ``SNN_delays`` model keeps its layers in ``snn`` (an ``nn.ModuleList`` of ``DelayLayer``)
and they save ``torch.save(model.state_dict())``: keys ``snn.<i>.<module>.<name>``. Every layer
(hidden ones, then the readout) has a DCLS ``delay_layer``; its ``delay_type`` (one for the
whole model, not in the file) decides the rest:

- ``synaptic``: ``delay_layer`` is a dense ``Dcls1d(in, out, groups=1)``, as SNN-delays';
- ``axonal``: ``delay_layer`` a depthwise ``Dcls1d(in, in, groups=in)`` (weights fixed at 1) on
  the input spikes, then ``W = nn.Linear(in, out)``;
- ``dendritic``: ``W`` first, then a depthwise ``Dcls1d(out, out, groups=out)``.

The kind is read from the shapes: ``W`` absent: synaptic; ``P [1, in, 1, 1]`` before a
``W [out, in]`` with ``in != out``: axonal; ``P [1, out, 1, 1]``: dendritic; a layer with
``in == out`` fits both, so the model's kind comes from a layer that tells them apart (or
``delay_kind=``); a ``delay_scores`` key (their learned delay mask) is axonal.

Key mapping (``i`` a layer, ``k`` = ``hidden.i.synapse`` for hidden layers, ``readout`` for the last):

=====================================  ===================  =================================================
AxDenSynDelaySNN                       delaysnn             conversion
=====================================  ===================  =================================================
``snn.i.delay_layer.weight`` (syn.)    ``k.weight``         as is ``[out, in, kc]``
``snn.i.W.weight [out, in]`` (ax.)     ``k.weight``         ``W[o, j] x delay_layer.weight[j]`` (theirs: 1)
``snn.i.W.weight [out, in]`` (den.)    ``k.weight``         ``W[o, j] x delay_layer.weight[o]`` (theirs: 1)
``snn.i.delay_layer.P``                ``k.pos``            ``[1, out, in, kc]`` / ``[1, 1, in, 1]`` /
                                                            ``[1, out, 1, 1]``; rounded half to even and
                                                            clamped (their eval transform)
``snn.i.delay_layer.SIG``              ``k.sig``            0 (their eval: ``version='max'``)
``snn.i.delay_layer.delay_scores``     ``k.pos``            their learned mask (axonal): the top
                                                            ``int((1 - S) n)`` of ``sigmoid(scores)`` keep
                                                            their delay, the others pass undelayed, which in
                                                            their padded window is a delay of ``K - 1``
``snn.i.norm.*`` (BatchNorm1d)         ``hidden.i.bn.*``    as is
``snn.i.neuron`` (LIFNode)             ``cfg.tau``          no tensors; ``(tau_ms + 1e-9) / time_step_ms``
last ``neuron`` (threshold 1e9)        readout integrator   ``cfg.readout_tau = cfg.tau``
=====================================  ===================  =================================================

With their delay mask the window differs from ours after the input ends: their masked layer
lets undelayed neurons run ``K - 1`` steps past the delayed ones' cut, which no per-layer window
states; the voltages agree on the first ``T + (K - 1) // 2`` steps of a ``T``-step input.
Refused, with the reason: biases (``bias``/``bias_layer`` True), ``ParametricLIFNode``,
``SynapseFilter``, an output ``LayerNorm``, ``kernel_count > 1`` with axonal or dendritic
delays, unknown keys; a leading ``module.`` on every key is stripped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnsupportedError
from ..model import DelaySNN, ModelConfig
from ..model.checkpoint import FORMAT, load_state, read_payload
from ..model.config import DELAY_KINDS
from ..model.dcls import position_limit, positions_outside
from .snn_delays import _check_options

__all__ = ["convert_axdensyn"]

_KEY = re.compile(r"^snn\.(\d+)\.(delay_layer|W|norm|neuron|norm_output|synapse_filter|drop)\.([A-Za-z_][A-Za-z0-9_]*)$")
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")
_REFUSED = {
    "norm_output": "an output LayerNorm (use_batchnorm_output=True), which delaysnn's readout has not; retrain without it",
    "synapse_filter": "a SynapseFilter (stateful_synapse=True), which acts on spikes and is no linear current filter; retrain without it",
}


def convert_axdensyn(
    state: dict[str, Any] | str | Path,
    *,
    max_delay: int = 25,
    time_step_ms: float = 10.0,
    tau_ms: float = 10.05,
    threshold: float = 1.0,
    dropout: float = 0.4,
    delay_kind: str | None = None,
    delay_sparsity: float | None = None,
    source: str | None = None,
) -> DelaySNN:
    """A :class:`DelaySNN` (eval mode, integer delays, ``truncate_layers``) from an AxDenSynDelaySNN
    state_dict or the file holding it (read with ``weights_only=True``). ``max_delay``,
    ``time_step_ms``, ``tau_ms`` (their ``init_tau``), ``threshold`` (``v_threshold``) and ``dropout``
    as for :func:`convert_snn_delays`; ``delay_kind`` their ``delay_type`` when the shapes leave
    it open; ``delay_sparsity`` their ``sparsity_p_delay``, needed with a learned delay mask.
    Raises :class:`CheckpointError` or :class:`UnsupportedError` with a one-line message."""
    src = source or (str(state) if isinstance(state, str | os.PathLike) else "state_dict")
    if isinstance(state, str | os.PathLike):
        state = read_payload(state)
    _check_options(src, max_delay, time_step_ms, tau_ms, threshold, dropout)
    if delay_kind is not None and delay_kind not in DELAY_KINDS:
        raise CheckpointError(f"{src}: --delay-kind {delay_kind!r}: expected one of {', '.join(DELAY_KINDS)}")
    layers = _layers(_own_keys(state, src), src)
    kind = _kind(layers, delay_kind, src)
    sizes = [_fan_in(layers[0], kind)] + [_fan_out(layer, kind) for layer in layers]
    masked = any("delay_scores" in layer["delay_layer"] for layer in layers)
    if masked and delay_sparsity is None:
        raise CheckpointError(f"{src}: keys 'snn.<i>.delay_layer.delay_scores' are a learned delay mask: pass their sparsity_p_delay "
                              "as --delay-sparsity S (the fraction of neurons without a delay)")
    if delay_sparsity is not None and not (masked and 0 <= delay_sparsity < 1):
        raise CheckpointError(f"{src}: --delay-sparsity needs a learned delay mask ('delay_scores' keys) and a value in [0, 1); "
                              f"{'it has none' if not masked else f'got {delay_sparsity}'}: drop the option or fix its value")
    hidden = sizes[1:-1]
    if len(set(hidden)) > 1:
        raise CheckpointError(f"{src}: hidden layers of {hidden} neurons: their n_hidden_neurons is one size for all layers")
    batchnorm = all("norm" in layer for layer in layers[:-1]) and len(layers) > 1
    if any("norm" in layer for layer in layers[:-1]) and not batchnorm:
        raise CheckpointError(f"{src}: some hidden layers have 'norm' (BatchNorm1d) keys and others not: their use_batchnorm is all or none")
    tau = (tau_ms + 1e-9) / time_step_ms  # exactly as their config
    kc = int(layers[0]["delay_layer"]["weight"].shape[-1]) if kind == "synaptic" else 1
    try:
        cfg = ModelConfig(
            input_size=sizes[0], output_size=sizes[-1], hidden_size=hidden[0] if hidden else sizes[0], hidden_layers=len(hidden),
            max_delay=max_delay, kernel_count=kc, tau=tau, readout_tau=tau, threshold=float(threshold), batchnorm=batchnorm,
            dropout=float(dropout), time_step_ms=float(time_step_ms), truncate_layers=True, delay_kind=kind,
        )
    except ValueError as err:
        raise CheckpointError(f"{src}: {err}") from err
    model = DelaySNN(cfg)
    mapped = {}
    for index, layer in enumerate(layers):
        mapped.update(_map_layer(model, index, layer, kind, delay_sparsity, src))
    load_state(model, mapped, source=src)
    model.round_positions()
    model.eval()
    return model


def _own_keys(obj: Any, src: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{src}: holds a {type(obj).__name__}, not an AxDenSynDelaySNN state_dict "
                              "(a dict of 'snn.<i>.delay_layer.P'... tensors from torch.save(model.state_dict()))")
    if obj.get("format") == FORMAT:
        raise CheckpointError(f"{src}: this is already a delaysnn checkpoint (format '{FORMAT}'); use it directly, no conversion needed")
    if obj and all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    if not any(k.startswith("snn.") and k.endswith(".delay_layer.P") for k in obj):
        shown = ", ".join(repr(k) for k in list(obj)[:3]) or "none"
        raise CheckpointError(f"{src}: not an AxDenSynDelaySNN state_dict: no 'snn.<i>.delay_layer.P' keys (found {shown}); "
                              "save their SNN_delays model with torch.save(model.state_dict(), path)")
    return obj


def _layers(state: dict[str, Any], src: str) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Per layer ``{module: {name: tensor}}``, every key and value checked."""
    layers: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    for key, value in state.items():
        match = _KEY.match(key)
        if match is None:
            raise CheckpointError(f"{src}: unexpected key {key!r} (an AxDenSynDelaySNN state_dict has 'snn.<i>.delay_layer|W|norm.<name>' keys)")
        index, module, name = int(match[1]), match[2], match[3]
        if module in _REFUSED:
            raise UnsupportedError(f"{src}: key {key!r}: {_REFUSED[module]}")
        if module == "neuron":
            raise UnsupportedError(f"{src}: key {key!r}: a neuron with parameters (ParametricLIFNode or SiLIFNode) learns its "
                                   "time constants, delaysnn has one fixed tau; retrain with spiking_neuron_type='lif'")
        if module in ("delay_layer", "W") and name == "bias":
            raise UnsupportedError(f"{src}: key {key!r}: a bias (their bias/bias_layer=True); delaysnn's synapses have none: "
                                   "retrain with bias=False, bias_layer=False")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{src}: key {key!r} holds a {type(value).__name__}, expected a tensor")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{src}: key {key!r} holds NaN or infinite values; the training diverged: convert an earlier checkpoint")
        layers.setdefault(index, {}).setdefault(module, {})[name] = value
    order = sorted(layers)
    if order != list(range(len(order))):
        raise CheckpointError(f"{src}: layers {order}: expected snn.0 .. snn.{len(order) - 1} without gaps")
    for index in order:
        names = layers[index].get("delay_layer", {})
        missing = sorted({"weight", "P"} - set(names))
        extra = sorted(set(names) - {"weight", "P", "SIG", "delay_scores"})
        if missing or extra:
            bad = f"'snn.{index}.delay_layer.{(missing or extra)[0]}' is {'missing' if missing else 'unexpected'}"
            raise CheckpointError(f"{src}: key {bad} (a delay_layer has weight, P, SIG); not an AxDenSynDelaySNN state_dict")
        if "W" in layers[index] and set(layers[index]["W"]) != {"weight"}:
            raise CheckpointError(f"{src}: layer snn.{index}: 'W' holds {sorted(layers[index]['W'])}, expected its weight")
    return [layers[i] for i in order]


def _kind(layers: list[dict[str, Any]], given: str | None, src: str) -> str:
    """The model's delay kind: what every layer's shapes fit, narrowed by ``given``."""
    fits: set[str] = set(DELAY_KINDS)
    each = []
    for index, layer in enumerate(layers):
        own = _layer_kinds(layer)
        each.append(f"snn.{index} {'/'.join(sorted(own))}")
        if not own:
            shapes = ", ".join(f"{m}.{n} {tuple(t.shape)}" for m in ("delay_layer", "W") for n, t in layer.get(m, {}).items())
            raise CheckpointError(f"{src}: layer snn.{index} ({shapes}) fits no delay kind (synaptic: delay_layer.P [1, out, in, kc] "
                                  "and no W; axonal: P [1, in, 1, 1] and W [out, in]; dendritic: P [1, out, 1, 1]); not an AxDenSynDelaySNN file")
        fits &= own
    if not fits:
        raise CheckpointError(f"{src}: the layers' shapes fit different delay kinds ({', '.join(each)}), but their delay_type is one "
                              "for the whole model: not an AxDenSynDelaySNN file, or one with missing keys")
    if given is not None:
        if given not in fits:
            raise CheckpointError(f"{src}: --delay-kind {given}, but the layers' shapes fit {' or '.join(sorted(fits))}; drop or fix it")
        return given
    if len(fits) != 1:
        raise CheckpointError(f"{src}: the layers' shapes fit {' and '.join(sorted(fits))}: the delay kind cannot be determined; "
                              "pass their delay_type as --delay-kind")
    return fits.pop()


def _layer_kinds(layer: dict[str, Any]) -> set[str]:
    dcls, pos = layer["delay_layer"]["weight"], layer["delay_layer"]["P"]
    w = layer.get("W", {}).get("weight")
    if w is None:
        if dcls.dim() == 3 and tuple(pos.shape) == (1, *dcls.shape) and "delay_scores" not in layer["delay_layer"]:
            return {"synaptic"}
        return set()
    if w.dim() != 2 or pos.dim() != 4 or tuple(pos.shape[2:]) != (1, 1) or tuple(dcls.shape[1:]) != (1, 1) or dcls.shape[0] != pos.shape[1]:
        return set()
    out, fan_in = w.shape
    kinds = ({"axonal"} if pos.shape[1] == fan_in else set()) | ({"dendritic"} if pos.shape[1] == out else set())
    return kinds - {"dendritic"} if "delay_scores" in layer["delay_layer"] else kinds


def _fan_in(layer: dict[str, Any], kind: str) -> int:
    return int(layer["delay_layer"]["weight"].shape[1] if kind == "synaptic" else layer["W"]["weight"].shape[1])


def _fan_out(layer: dict[str, Any], kind: str) -> int:
    return int(layer["delay_layer"]["weight"].shape[0] if kind == "synaptic" else layer["W"]["weight"].shape[0])


def _map_layer(model: DelaySNN, index: int, layer: dict[str, Any], kind: str, sparsity: float | None, src: str) -> dict[str, torch.Tensor]:
    """Layer ``index``'s delaysnn keys (see the module's table)."""
    syn = model.synapses[index]
    prefix = f"hidden.{index}.synapse." if index < len(model.hidden) else "readout."
    dcls = layer["delay_layer"]
    if kind == "synaptic":
        weight = dcls["weight"]
    else:
        gain = dcls["weight"].reshape(-1)  # their depthwise weights, fixed at 1
        weight = layer["W"]["weight"] * (gain.view(1, -1) if kind == "axonal" else gain.view(-1, 1))
        weight = weight.unsqueeze(-1)
    if tuple(weight.shape) != tuple(syn.weight.shape):
        raise CheckpointError(f"{src}: layer snn.{index} has {tuple(weight.shape[:2])} synapses, the layers before it imply "
                              f"{tuple(syn.weight.shape[:2])}: inconsistent layers")
    pos = dcls["P"].detach().float().reshape(syn.pos.shape).clone()
    peak = positions_outside(pos, syn.max_delay)
    if peak is not None:
        raise CheckpointError(f"{src}: key 'snn.{index}.delay_layer.P' has positions up to +-{peak:.2f}, beyond the "
                              f"+-{position_limit(syn.max_delay)} of --max-delay {syn.max_delay}: pass the max_delay it was trained with")
    if "delay_scores" in dcls:
        keep = _learned_mask(dcls["delay_scores"], float(sparsity or 0.0), f"{src}: key 'snn.{index}.delay_layer.delay_scores'")
        # undelayed in their padded window = the left padding, K - 1 steps
        pos[~keep.view(pos.shape)] = -float(position_limit(syn.max_delay))
    out = {prefix + "weight": weight.detach().float().clone(), prefix + "pos": pos, prefix + "sig": torch.zeros_like(syn.sig)}
    if index < len(model.hidden) and model.cfg.batchnorm:
        bn = layer["norm"]
        if set(_BN_FIELDS) - set(bn) or set(bn) - {*_BN_FIELDS, "num_batches_tracked"}:
            raise CheckpointError(f"{src}: layer snn.{index}: 'norm' holds {sorted(bn)}, expected an affine BatchNorm1d's weight, bias, "
                                  "running_mean, running_var")
        for name in _BN_FIELDS:
            out[f"hidden.{index}.bn.{name}"] = bn[name].detach().float().clone()
        tracked = bn.get("num_batches_tracked")
        out[f"hidden.{index}.bn.num_batches_tracked"] = torch.tensor(0) if tracked is None else tracked.detach().long().reshape(())
    elif "norm" in layer:
        raise CheckpointError(f"{src}: the readout snn.{index} has 'norm' keys; their output layer has no BatchNorm")
    return out


def _learned_mask(scores: torch.Tensor, sparsity: float, where: str) -> torch.Tensor:
    """Their learned delay mask at the end of training: the ``int((1 - S) n)`` (at least 1) highest
    ``sigmoid(scores)``, ties at the threshold included, as their forward computes it."""
    if scores.dim() != 1:
        raise CheckpointError(f"{where} has shape {tuple(scores.shape)}, expected one score per input neuron")
    prob = torch.sigmoid(scores.detach().float())
    k = max(1, min(int((1.0 - sparsity) * prob.numel()), prob.numel()))
    return prob >= torch.topk(prob, k=k).values.min()

"""Delay kinds and delay sparsity on the float model.

``--delay-fraction F`` keeps learned delays on the fraction ``F`` of each layer's delay units
(its synapses for synaptic delays, its presynaptic neurons for axonal ones, its postsynaptic
neurons for dendritic ones) and holds the rest at delay 0. Which units keep theirs
(:func:`delay_scores`): those whose delay moves the most weight, ``|delay| x the L1 norm of the
BatchNorm-folded weights it delays`` (a delay of 0, or one in front of zero weights, is worth
nothing to keep). Training picks them once, when the Gaussian schedule ends (sigma has reached
its floor, so the delays are the ones rounding will keep) and fine-tunes the rest of the epochs
with the others at 0; a model whose masks were never picked (e.g. trained for fewer epochs)
gets them when its positions are rounded (:meth:`DelaySNN.round_positions`).

:func:`recast` turns a model into one of another kind or fraction (``train --init SYN.pt
--delay-kind axonal``): each neuron's delay starts at the mean of its synapses' positions,
weighted by the weights' magnitudes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from .dcls import position_limit
from .layers import shared_dims


def _weight_mass(model: Any, index: int) -> torch.Tensor:
    """``|W|`` ``[out, in]`` of synapse layer ``index``, each row scaled by its BatchNorm gain (the
    weight the neuron integrates), kernel-count taps summed."""
    from .fold import bn_fold

    syn = model.synapses[index]
    mass = syn.effective_weight().detach().abs().sum(-1).double()
    if index < len(model.hidden):
        mass = mass * bn_fold(model.hidden[index])[0].abs().to(mass.device).view(-1, 1)
    return mass


def delay_scores(model: Any, index: int) -> torch.Tensor:
    """Per delay unit of synapse layer ``index`` (``pos``'s shape): ``|delay| x`` the L1 norm of
    the (BN-folded) weights that unit delays."""
    syn = model.synapses[index]
    full = syn.delays().double().abs()  # [out, in, kc]: the delay every synapse sees
    mass = _weight_mass(model, index).unsqueeze(-1).expand_as(full)
    per_synapse = (full * mass).unsqueeze(0)  # [1, out, in, kc]
    spread = shared_dims(syn.pos.shape, per_synapse.shape)
    return per_synapse.sum(dim=spread, keepdim=True) if spread else per_synapse


def masks_picked(model: Any) -> bool:
    """Whether training has picked the delay masks (a model with ``delay_fraction < 1`` starts
    with every unit kept)."""
    return any(not bool(syn.delay_mask.all()) for syn in model.synapses if syn.delay_mask is not None)


@torch.no_grad()
def apply_delay_fraction(model: Any) -> None:
    """Keep learned delays on ``ceil(F x units)`` of each layer's delay units, those of the
    highest :func:`delay_scores` (ties: the first), and put the others at delay 0. No-op for
    ``delay_fraction`` 1."""
    fraction = model.cfg.delay_fraction
    if fraction >= 1:
        return
    for index, syn in enumerate(model.synapses):
        scores = delay_scores(model, index).flatten()
        keep = max(1, math.ceil(fraction * scores.numel()))
        order = torch.argsort(scores.cpu(), descending=True, stable=True)[:keep]
        mask = torch.zeros(scores.numel(), dtype=torch.bool)
        mask[order] = True
        syn.delay_mask.copy_(mask.view(syn.pos.shape))
        syn.clamp_positions()  # the masked positions onto delay 0


@torch.no_grad()
def recast(model: Any, delay_kind: str | None = None, delay_fraction: float | None = None) -> Any:
    """``model`` as a new ``DelaySNN`` of ``delay_kind`` and ``delay_fraction`` (None: its own),
    everything else copied. A position shared by several synapses starts at their positions'
    mean weighted by ``|W|`` (the plain mean where all are 0); a per-synapse one from its neuron's.
    The new model's delay masks are not picked yet (:func:`apply_delay_fraction`)."""
    from ..errors import UnsupportedError

    kind = delay_kind or model.cfg.delay_kind
    if kind != "synaptic" and model.cfg.kernel_count != 1:
        raise UnsupportedError(f"delay kind {kind}: the model has kernel_count {model.cfg.kernel_count}, and a {kind} delay is one per "
                               "neuron: keep it synaptic, or start from a kernel_count 1 model")
    try:
        cfg = replace(model.cfg, delay_kind=kind,
                      delay_fraction=model.cfg.delay_fraction if delay_fraction is None else float(delay_fraction))
    except ValueError as err:
        raise UnsupportedError(f"delay kind {kind}, fraction {delay_fraction}: {err}") from err
    if cfg == model.cfg:
        return model
    new = type(model)(cfg)  # a DelaySNN (not imported: DelaySNN.round_positions imports this module)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith((".pos", ".delay_mask"))}
    new.load_state_dict(state, strict=False)
    for index, (old, syn) in enumerate(zip(model.synapses, new.synapses)):
        pos = old.positions().detach().double()  # [1, out, in, kc]
        mass = _weight_mass(model, index).unsqueeze(0).unsqueeze(-1).expand_as(pos)
        spread = shared_dims(syn.pos.shape, pos.shape)
        if spread:
            total = mass.sum(dim=spread, keepdim=True)
            mean = (pos * mass).sum(dim=spread, keepdim=True) / total.clamp_min(1e-30)
            pos = torch.where(total > 0, mean, pos.mean(dim=spread, keepdim=True))
        syn.pos.copy_(pos.expand(syn.sig.shape)[tuple(slice(0, n) for n in syn.pos.shape)].to(syn.pos.dtype))
        lim = position_limit(syn.max_delay)
        syn.pos.clamp_(-lim, lim)
    new.set_learn_positions(model.readout.learn_positions)
    new.train(model.training)
    return new


__all__ = ["apply_delay_fraction", "delay_scores", "masks_picked", "recast"]

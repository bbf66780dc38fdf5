"""Folding the torch model into the float IR (:class:`delaysnn.ir.folded.FoldedNetwork`).

:func:`fold` turns a ``DelaySNN`` into its float IR: per layer a weight and an integer delay
per synapse, neuron or input as the model's ``delay_kind`` says (DCLS positions rounded as the
model evaluates them, BatchNorm's eval gain folded
into the weight rows), a bias (BatchNorm's shift), ``tau``, the threshold (None for the
readout) and the synaptic filter; ``source`` keeps the model's own parameters for a
bit-identical rebuild. Only this module reads the torch model's parameters for the float IR:
the quantizer and the float exporters read the :class:`FoldedNetwork` (``DelaySNN.folded()``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import CheckpointError, UnsupportedError
from ..ir.folded import FoldedLayer, FoldedNetwork, ModelRecord, one_delay_layers
from ..ir.network import DelayKind


def bn_fold(layer: Any, where: str = "layer") -> tuple[Any, Any]:
    """``(gain, shift)`` float64 ``[out]`` tensors of a hidden layer's BatchNorm in eval mode (1, 0
    without), on the layer's device. ``gain`` is the ``row_gain`` for ``grids.fake_quantize`` in QAT."""
    import torch

    n = layer.synapse.out_features
    bn = layer.bn
    if bn is None:
        return torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    if bn.running_mean is None or bn.running_var is None:
        raise UnsupportedError(f"{where}: BatchNorm without running statistics (track_running_stats=False) cannot be folded")
    var, mean = bn.running_var.detach().double(), bn.running_mean.detach().double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
    gain = gamma / torch.sqrt(var + bn.eps)
    return gain, beta - gain * mean


def _transformed(syn: Any) -> bool:
    """Whether the synapse's forward differs from its raw weights and rounded positions (QAT)."""
    return any(getattr(syn, name, None) is not None for name in ("qat", "delay_qat", "prune_mask"))


def _eval_kernel(syn: Any, hidden: Any, transforms: bool) -> tuple[Any, Any]:
    """The dense kernel ``[out, in, K]`` the synapse convolves with in eval mode (as float64), and
    the DCLS weights ``[out, in, kc]`` it is built from. ``transforms``: as configured (the
    model's own code: QAT weight grid, prune mask, delay grid); otherwise the raw weights at
    the rounded positions (what the quantizer grids itself)."""
    import torch

    from .dcls import build_kernel, rounded_positions

    if transforms and _transformed(syn):
        gain = hidden.qat_row_gain() if hidden is not None else None
        was = syn.training
        syn.train(False)
        try:
            with torch.no_grad():
                return syn.kernel(gain).detach().cpu().double(), syn.effective_weight(gain).detach().cpu()
        finally:
            syn.train(was)
    w = syn.weight.detach().cpu()
    pos = rounded_positions(syn.positions().detach().cpu(), syn.max_delay)
    with torch.no_grad():  # in the weights' own dtype: the values the model convolves with, exactly
        kernel = build_kernel(w, pos.to(w.dtype), torch.zeros_like(pos, dtype=w.dtype), syn.max_delay, "max")
    return kernel.double(), w


def _planes(kernel: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``kernel [out, in, K]`` (tap ``k`` = delay ``K - 1 - k``) as ``(weight, delay)`` planes:
    plane ``r`` holds each synapse's ``r``-th non-zero tap by increasing delay."""
    by_delay = kernel[..., ::-1]  # [..., d]
    nonzero = by_delay != 0
    rank = np.cumsum(nonzero, axis=-1) - 1
    count = int(nonzero.sum(-1).max(initial=0))
    planes = []
    for r in range(max(count, 1)):
        hit = nonzero & (rank == r)
        delay = np.where(hit.any(-1), hit.argmax(-1), 0).astype(np.int64)
        weight = np.where(hit, by_delay, 0.0).sum(-1)
        planes.append((weight, delay))
    return planes


def kind_delays(full: Any, kind: str) -> Any:
    """The delays a layer of ``kind`` stores, from the ``[out, in, kc]`` delays every synapse sees
    (tensor or array): all of them (synaptic), ``[in]`` (axonal), ``[out]`` (dendritic)."""
    if kind == "axonal":
        return full[0, :, 0]
    if kind == "dendritic":
        return full[:, 0, 0]
    return full


def _check_finite(model: Any) -> None:
    import torch

    for key, value in model.state_dict().items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"model tensor {key!r} has {bad} NaN/infinite values; training diverged or the checkpoint is corrupt: retrain"
            )
    cfg = model.cfg
    for name in ("tau", "readout_tau", "threshold", "synaptic_tau"):
        value = getattr(cfg, name)
        if value is not None and not math.isfinite(value):
            raise CheckpointError(f"model config {name}={value} is not finite; fix the checkpoint's config")


def _bn_record(layer: Any) -> dict[str, Any] | None:
    bn = layer.bn
    if bn is None:
        return None
    out: dict[str, Any] = {
        f"bn_{key}": getattr(bn, attr).detach().cpu().numpy().astype(np.float32)
        for key, attr in (("weight", "weight"), ("bias", "bias"), ("mean", "running_mean"), ("var", "running_var"))
    }
    out["bn_eps"] = float(bn.eps)
    return out


def fold(model: Any, *, transforms: bool = True) -> FoldedNetwork:
    """The float IR of a ``DelaySNN``: its eval-mode semantics (BatchNorm running statistics,
    rounded delays), computed without changing the model.

    ``transforms`` (default): fold the forward as the model is configured, quantization-aware
    training included (its weight grid, prune masks, delay grid); False: the raw float
    weights at the rounded positions, which is what the quantizer grids itself."""
    _check_finite(model)
    cfg = model.cfg
    layers: list[FoldedLayer] = []
    weights, delays = [], []
    deployed = getattr(model, "deployed_delays", None) if transforms else None
    tap_delays = deployed() if callable(deployed) else [syn.delays() for syn in model.synapses]
    for index, syn in enumerate(model.synapses):
        hidden = model.hidden[index] if index < len(model.hidden) else None
        where = f"layer {index}" if hidden is not None else f"layer {index} (readout)"
        kernel, raw = _eval_kernel(syn, hidden, transforms)
        gain, shift = (t.cpu().numpy() for t in bn_fold(hidden, where)) if hidden is not None else (None, None)
        planes = [(w if gain is None else w * gain[:, None], d) for w, d in _planes(kernel.numpy())]
        (weight, delay), *taps = planes
        kind = DelayKind(cfg.delay_kind)
        if kind is not DelayKind.SYNAPTIC:  # one delay per neuron (kernel_count 1: no taps), kept where no weight is
            delay = kind_delays(tap_delays[index].detach().cpu().numpy().astype(np.int64), kind.value)
        layers.append(
            FoldedLayer(
                name=where,
                weight=weight,
                delay=delay,
                bias=np.zeros(syn.out_features) if shift is None else shift,
                tau=float(cfg.tau if hidden is not None else cfg.readout_tau),
                synaptic_tau=cfg.synaptic_tau if hidden is not None else None,
                threshold=float(cfg.threshold) if hidden is not None else None,
                taps=taps,
                delay_kind=kind,
            )
        )
        weights.append(raw.numpy().astype(np.float32))
        delays.append(tap_delays[index].detach().cpu().numpy().astype(np.int64))
    fnet = FoldedNetwork(
        input_size=cfg.input_size,
        time_step_ms=float(cfg.time_step_ms),
        max_delay=cfg.max_delay,
        layers=layers,
        padding="per_layer" if cfg.truncate_layers else "once",
        right_padding=cfg.right_padding,
        source=ModelRecord(
            config=cfg.to_dict(), kernel_weight=weights, kernel_delay=delays, batchnorm=[_bn_record(h) for h in model.hidden]
        ),
    )
    fnet.check()
    return fnet


def fold_model(model: Any) -> list[FoldedLayer]:
    """The quantizer's input: the raw folded layers (``fold(model, transforms=False)``), each
    with one delay per synapse (:func:`delaysnn.ir.folded.one_delay_layers`)."""
    return one_delay_layers(fold(model, transforms=False))


__all__ = ["bn_fold", "fold", "fold_model"]

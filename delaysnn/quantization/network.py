"""A float :class:`~delaysnn.model.DelaySNN` -> an integer :class:`~delaysnn.ir.DelayNetwork`:
the network options checked and resolved, every layer quantized by
:func:`~delaysnn.quantization.layer.quantize_layer`, the limits enforced for all layers at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..constants import DECAY_MAX, DECAY_UNITY, INPUT_BITS_MAX, NETX_BIAS_EXP, NETX_MAX_EFFECTIVE_WEIGHT
from ..errors import HardwareLimitError, UnsupportedError
from ..ir import DelayLayer, DelayNetwork
from ..ir.folded import one_delay_layers
from .grids import _check_bits, check_delay_bits, check_prune, prune_masks
from .layer import LayerOptions, quantize_layer
from .report import LayerReport, QuantReport

# The model is typed ``Any``: quantization reads it only through ``model.folded()`` (the float IR)
# and ``model.cfg``, and imports no ``delaysnn.model`` (which imports ``.grids``): the layers stay apart.
QUANTIZER_VERSION = 1


def _profile_max_delay(profile: Any) -> int | None:
    """The profile's largest synaptic delay (steps), if it states one (``hardware.Profile``)."""
    limit = getattr(profile, "max_delay", None)
    if limit is None:
        limits = getattr(profile, "limits", None)
        limit = limits.get("max_delay") if isinstance(limits, dict) else getattr(limits, "max_delay", None)
    limit = getattr(limit, "value", limit)
    return None if limit is None else int(limit)


# what one delay of each kind belongs to, for the refusals
_DELAY_HOLDERS = {"axonal": "input neurons (axonal delays)", "dendritic": "output neurons (dendritic delays)"}


def _refuse_long_delays(reports: list[LayerReport], limit: int | None, source: str) -> None:
    """One :class:`HardwareLimitError` naming every layer with delays beyond ``limit`` (not clipped)."""
    too_long = [
        f"{r.name}: {r.delays_over_limit} {_DELAY_HOLDERS.get(r.delay_kind, 'synapses')} have delay > {limit} (max {r.max_delay_found})"
        for r in reports
        if r.delays_over_limit
    ]
    if too_long and limit is not None:
        kernel = limit + 1 if (limit + 1) % 2 else max(limit, 1)  # train's --max-delay: odd kernel, delays < it
        raise HardwareLimitError(
            "; ".join(too_long) + f" [{source}]; retrain with --max-delay {kernel} or quantize with --clip-delays"
        )


def _provenance(report: QuantReport, model: str) -> dict[str, Any]:
    """The IR's provenance: the quantizer's options and per-layer scales (JSON scalars), metadata
    only: the weight kind, the run length and the readout scale are the IR's typed fields."""
    provenance: dict[str, Any] = {
        "source": "delaysnn.quantize",
        "quantizer_version": QUANTIZER_VERSION,
        "model": model,
        "weight_bits": report.weight_bits,
        "max_delay": report.max_delay,
        "clip_delays": bool(report.clip_delays),
        "delay_bits": report.delay_bits,
        "delay_grid": report.delay_grid,
        "prune": None if report.prune is None else float(report.prune),
        "prune_scope": report.prune_scope,
    }
    for i, rep in enumerate(report.layers):
        provenance[f"layer{i}.weight_scale"] = rep.weight_scale
        provenance[f"layer{i}.v_scale"] = rep.v_scale
    return provenance


def quantize_with_report(
    model: Any,
    *,
    weight_bits: int = 8,
    binary: bool = False,
    input_bits: int = 1,
    max_delay: int | None = None,
    clip_delays: bool = False,
    profile: Any = None,
    max_effective_weight: int | None = None,
    min_bias_exp: int = 0,
    delay_bits: int | None = None,
    delay_grid: str = "step",
    ternary: bool = False,
    prune: float | None = None,
    prune_scope: str = "layer",
) -> tuple[DelayNetwork, QuantReport]:
    """Quantize ``model`` (see the package docstring) and say how: ``(network, report)``.

    ``max_effective_weight`` caps ``|weight << weight_exp|`` and ``min_bias_exp`` the bias
    exponent from below (lava-dl netx files need 127 and 6: see :data:`NETX_OPTIONS`).
    ``weight_bits`` 1..8 (ignored with ``binary`` or ``ternary``, TWN weights {-1, 0, +1} x a
    per-layer scale, stored in 2 bits); ``input_bits``: width of the first layer's graded input
    payloads (spike counts up to ``2**input_bits - 1``); ``max_delay``: largest delay allowed
    (default: the profile's, else none); ``clip_delays``: clip longer delays to it instead of
    refusing; ``delay_bits``: each layer's delays take at most ``2**delay_bits`` values, on the
    ``delay_grid`` ``"step"`` (a per-layer step ``s``, delays ``s * k``) or ``"cap"`` (delays
    clipped to ``2**delay_bits - 1``), see :mod:`delaysnn.quantization.grids`; ``prune``: fraction of the
    synapses removed by magnitude of the folded weights, per layer or over the whole network
    (``prune_scope``), every layer keeping at least one; ``profile``: a ``hardware`` profile
    whose ``check(net)`` must pass. Raises ``CheckpointError`` (NaN/inf),
    ``UnsupportedError``, ``HardwareLimitError``.
    """
    _check_options(model, weight_bits, binary, ternary, input_bits, delay_bits, delay_grid, prune, prune_scope)
    limit = max_delay if max_delay is not None else (_profile_max_delay(profile) if profile is not None else None)
    if limit is not None and limit < 0:
        raise UnsupportedError(f"max_delay must be >= 0 (got {limit})")
    # the raw float weights at the rounded delays (the quantizer grids them itself), asked of the
    # model so that quantization never imports it
    folded = one_delay_layers(model.folded(transforms=False))
    keeps: list[Any] = prune_masks([lay.weight for lay in folded], prune, prune_scope) if prune else [None] * len(folded)
    base = LayerOptions(
        weight_bits=int(weight_bits),
        binary=binary,
        ternary=ternary,
        max_delay=limit,
        clip_delays=clip_delays,
        delay_bits=delay_bits,
        delay_grid=delay_grid,
        kernel_max_delay=int(model.cfg.max_delay) - 1,
        max_effective_weight=max_effective_weight,
        min_bias_exp=min_bias_exp,
    )
    bits = base.bits
    report = QuantReport(
        weight_bits=None if binary else bits,
        binary=binary,
        input_bits=int(input_bits),
        max_delay=limit,
        clip_delays=clip_delays,
        readout_scale=1.0,
        ternary=ternary,
        delay_bits=delay_bits,
        delay_grid=delay_grid if delay_bits is not None else None,
        prune=prune,
        prune_scope=prune_scope if prune is not None else None,
    )
    layers = _quantize_layers(folded, keeps, base, report)
    if not clip_delays:
        source = f"max_delay={limit}" if max_delay is not None else f"profile {getattr(profile, 'name', '?')}: limits.max_delay"
        _refuse_long_delays(report.layers, limit, source)
    report.readout_scale = 1.0 / report.layers[-1].v_scale
    net = _network(model.cfg, layers, report)
    if profile is not None:
        profile.check(net)  # the one profile check
    from ..estimate import memory

    report.memory = memory(net, profile if hasattr(profile, "limits") else "loihi2")  # loihi2's delay-line width by default
    return net, report


def _check_options(
    model: Any, weight_bits: int, binary: bool, ternary: bool, input_bits: int, delay_bits: int | None, delay_grid: str,
    prune: float | None, prune_scope: str,
) -> None:
    """Refuse options (and a model threshold) the quantizer cannot honour: ``UnsupportedError``."""
    _check_bits(weight_bits, binary, ternary)
    if not 1 <= int(input_bits) <= INPUT_BITS_MAX:
        raise UnsupportedError(f"input_bits must be 1..{INPUT_BITS_MAX} (got {input_bits})")
    if delay_bits is not None or delay_grid != "step":
        check_delay_bits(1 if delay_bits is None else delay_bits, delay_grid)
    if prune is not None:
        check_prune(prune, prune_scope)
    if model.cfg.hidden_layers and not model.cfg.threshold > 0:
        raise UnsupportedError(f"threshold {model.cfg.threshold} <= 0 cannot be mapped: Loihi fires on v > vth << 6 with vth >= 0")


def _quantize_layers(folded: list[Any], keeps: list[Any], base: LayerOptions, report: QuantReport) -> list[DelayLayer]:
    """Every folded layer quantized with ``base`` (the first one's payload: the graded input's),
    its report and notes added to ``report``."""
    layers: list[DelayLayer] = []
    for i, (lay, keep) in enumerate(zip(folded, keeps, strict=True)):
        opts = replace(base, payload=(2**report.input_bits - 1) if i == 0 else 1)
        layer, rep = quantize_layer(lay, opts, keep)
        layers.append(layer)
        report.layers.append(rep)
        report.notes.extend(rep.notes)
    for lay in folded:
        if round(DECAY_UNITY / lay.tau) > DECAY_MAX:
            report.notes.append(f"{lay.name}: tau {lay.tau:g} maps to dv 4095 (keeps 1/4096 of v), not a full reset")
    return layers


def _network(cfg: Any, layers: list[DelayLayer], report: QuantReport) -> DelayNetwork:
    """The checked :class:`DelayNetwork` of the quantized ``layers`` (``cfg``: the model's config)."""
    net = DelayNetwork(
        input_size=cfg.input_size,
        layers=layers,
        input_bits=report.input_bits,
        time_step_ms=float(cfg.time_step_ms),
        # the float model's total right padding: delaysnn.sim runs this many steps past the
        # input's zero-delay path, so the integer readout spans the float readout's window
        tail_steps=len(layers) * cfg.right_padding,
        readout_scale=report.readout_scale,
        provenance=_provenance(report, f"DelaySNN {'-'.join(map(str, cfg.sizes))}"),
    )
    net.check()
    return net


# lava-dl netx stores effective weights (weight << weight_exp) and re-derives their exponent,
# exactly only within 8 signed bits, and fixes bias_exp at 6: a network meant for netx is
# quantized within both (binary weights can still use weight_exp 6: +-64).
NETX_OPTIONS: dict[str, int] = {"max_effective_weight": NETX_MAX_EFFECTIVE_WEIGHT, "min_bias_exp": NETX_BIAS_EXP}


def quantize_model(model: Any, **options: Any) -> DelayNetwork:
    """Quantize ``model`` to an integer :class:`DelayNetwork`; options as :func:`quantize_with_report`."""
    return quantize_with_report(model, **options)[0]

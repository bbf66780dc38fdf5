"""One folded float layer -> one integer :class:`~delaysnn.ir.DelayLayer` (items 2-5 of the
mapping in :mod:`delaysnn.quantization`'s docstring): weight grid, delays, weight exponent,
decays, threshold and bias."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..constants import (
    ACTIVATION_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    CURRENT_DECAY_OFFSET,
    DECAY_MAX,
    DECAY_UNITY,
    READOUT_RESET_V,
    THRESHOLD_SHIFT,
    U_NO_WRAP_MAX,
    V_SATURATION,
    VTH_MAX,
    WEIGHT_EXP_MAX,
)
from ..ir import DelayKind, DelayLayer, NeuronParams, WeightKind
from ..ir.folded import FoldedLayer
from .grids import DelayGrid, weight_grid
from .grids import delay_grid as make_delay_grid  # LayerOptions.delay_grid is the mode name
from .report import LayerReport


def input_bits_for(max_count: int) -> int:
    """Graded-payload width for input counts up to ``max_count`` (SHD 0..5 -> 3; spikes -> 1)."""
    return max(1, int(max_count).bit_length())


def decay_for_tau(tau: float | None, *, current: bool = False) -> int:
    """Loihi decay constant for ``x = x * (1 - 1/tau) + input``: ``dv = round(4096/tau)``;
    ``du = round(4096/tau) - 1`` because Lava multiplies u by ``4096 - (du + 1)``. Clipped to 0..4095."""
    if tau is None:
        return DECAY_MAX if current else 0
    raw = round(DECAY_UNITY / tau) - (CURRENT_DECAY_OFFSET if current else 0)
    return int(min(max(raw, 0), DECAY_MAX))


def _gain(d: int, *, current: bool) -> float:
    """Steady-state gain ``1 / (1 - factor)`` of the integer decay (bounds accumulation)."""
    keep = DECAY_UNITY - (d + CURRENT_DECAY_OFFSET if current else d)
    return math.inf if keep >= DECAY_UNITY else DECAY_UNITY / (DECAY_UNITY - keep)


def _vth(s: float, threshold: float) -> int:
    return int(round((s * threshold - 1) / (1 << THRESHOLD_SHIFT)))


def _exp_fits(
    e: int, step: float, a_pos: np.ndarray, a_neg: np.ndarray, bias: np.ndarray, lay: FoldedLayer, du: int, dv: int
) -> tuple[bool, float]:
    """Whether weight_exp ``e`` guarantees no wrap/saturation (see package docstring, item 4)."""
    s = (1 << ACTIVATION_SHIFT) * 2**e / step
    gu, gv = _gain(du, current=True), _gain(dv, current=False)
    u_pos = (1 << ACTIVATION_SHIFT) * 2**e * a_pos * gu  # per neuron
    u_neg = (1 << ACTIVATION_SHIFT) * 2**e * a_neg * gu
    b = s * bias
    ok = bool(max(u_pos.max(initial=0), u_neg.max(initial=0)) <= U_NO_WRAP_MAX)
    if np.abs(b).max(initial=0) > BIAS_MANT_MAX * 2**BIAS_EXP_MAX:
        ok = False
    if lay.threshold is not None:
        bound = float(np.maximum(u_pos, u_neg).max(initial=0))
        ok = ok and bool(((u_neg + np.maximum(-b, 0)) * gv).max(initial=0) <= V_SATURATION)
        ok = ok and _vth(s, lay.threshold) <= VTH_MAX
    else:
        v = (np.maximum(u_pos, u_neg) + np.abs(b)) * gv
        bound = float(v.max(initial=0))
        ok = ok and bound <= READOUT_RESET_V
    return ok, bound


def _split_bias(bias_int: np.ndarray, min_exp: int = 0) -> tuple[np.ndarray, int, int]:
    """Smallest ``bias_exp >= min_exp`` whose 13-bit mantissas hold every neuron's bias; clipped count."""
    for exp in range(min_exp, BIAS_EXP_MAX + 1):
        mant = np.rint(bias_int / 2**exp)
        if mant.size == 0 or (mant.min() >= BIAS_MANT_MIN and mant.max() <= BIAS_MANT_MAX):
            return mant.astype(np.int32), exp, 0
    clipped = int(((mant < BIAS_MANT_MIN) | (mant > BIAS_MANT_MAX)).sum())
    return np.clip(mant, BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int32), BIAS_EXP_MAX, clipped


@dataclass(frozen=True)
class LayerOptions:
    """How :func:`quantize_layer` quantizes one folded layer (the network options, resolved)."""

    weight_bits: int = 8  # 1..8; ignored with binary (1 bit) or ternary (2 bits)
    binary: bool = False
    ternary: bool = False
    payload: int = 1  # largest input payload (graded first layer: 2**input_bits - 1)
    max_delay: int | None = None  # largest delay allowed (None: none)
    clip_delays: bool = False  # clip longer delays to max_delay (else they are counted, for the caller to refuse)
    delay_bits: int | None = None  # delays take at most 2**delay_bits values (None: as rounded)
    delay_grid: str = "step"  # "step" (coarser per-layer step) or "cap" (clip to 2**delay_bits - 1)
    kernel_max_delay: int | None = None  # the float model's largest delay (kernel - 1): QAT's grid never snaps past it, nor does ours
    max_effective_weight: int | None = None  # cap on |weight << weight_exp| (netx: 127)
    min_bias_exp: int = 0  # bias_exp from below (netx: 6)

    @property
    def bits(self) -> int:
        return 1 if self.binary else 2 if self.ternary else int(self.weight_bits)

    @property
    def weight_kind(self) -> WeightKind:
        """The IR layer's :class:`~delaysnn.ir.WeightKind` for these options."""
        return WeightKind.BINARY if self.binary else WeightKind.TERNARY if self.ternary else WeightKind.FIXED


def _weight_exp(lay: FoldedLayer, opts: LayerOptions, mant: np.ndarray, step: float, du: int, dv: int) -> tuple[int, bool, float]:
    """``(weight_exp, overflow_risk, bound)``: the largest ``e`` with a guaranteed bound (package docstring, item 4)."""
    a_pos = opts.payload * np.clip(mant, 0, None).sum(1).astype(np.float64)
    a_neg = opts.payload * np.clip(-mant, 0, None).sum(1).astype(np.float64)
    bound = _exp_fits(0, step, a_pos, a_neg, lay.bias, lay, du, dv)[1]
    top = int(np.abs(mant).max(initial=0))
    for e in range(WEIGHT_EXP_MAX, -1, -1):
        if opts.max_effective_weight is not None and e > 0 and (top << e) > opts.max_effective_weight:
            continue
        ok, b = _exp_fits(e, step, a_pos, a_neg, lay.bias, lay, du, dv)
        if ok:
            return e, False, b
    return 0, True, bound


def _carrying(kind: DelayKind, mant: np.ndarray) -> np.ndarray:
    """Which delays of a layer of ``kind`` carry a weight: a synapse's when its weight is
    non-zero; an axonal (dendritic) delay when some synapse of its input (output) neuron is."""
    nonzero = mant != 0
    if kind is DelayKind.AXONAL:
        return nonzero.any(axis=0)
    if kind is DelayKind.DENDRITIC:
        return nonzero.any(axis=1)
    return nonzero


def _layer_delays(lay: FoldedLayer, opts: LayerOptions, mant: np.ndarray) -> tuple[np.ndarray, DelayGrid | None, dict[str, int]]:
    """Integer delays (shaped by the layer's kind) of the synapses or neurons that carry a weight
    (0 elsewhere), limited and put on the delay grid; ``(delay, grid or None, report counts)``."""
    carries = _carrying(lay.delay_kind, mant)
    delay = np.where(carries, lay.delay, 0).astype(np.int32)
    found = int(delay.max(initial=0))
    limit = opts.max_delay
    n_long = int((delay > limit).sum()) if limit is not None else 0
    if n_long and opts.clip_delays:
        delay = np.minimum(delay, limit).astype(np.int32)
    grid, moved = None, 0
    if opts.delay_bits is not None:
        edges = [x for x in (limit, opts.kernel_max_delay) if x is not None]
        grid = make_delay_grid(delay[carries], opts.delay_bits, opts.delay_grid, max_delay=min(edges) if edges else None)
        snapped = grid.snap(delay)
        moved = int((snapped != delay).sum())
        delay = snapped
    counts = {
        "max_delay_found": found,
        "delays_over_limit": n_long,
        "delays_clipped": n_long if opts.clip_delays else 0,
        "delays_moved": moved,
        "distinct_delays": int(np.unique(delay[carries]).size),
    }
    return delay, grid, counts


def quantize_layer(lay: FoldedLayer, opts: LayerOptions, keep: np.ndarray | None = None) -> tuple[DelayLayer, LayerReport]:
    """One folded layer -> ``(DelayLayer, LayerReport)`` (package docstring, items 2-5).

    ``keep`` (bool ``[out, in]``, from :func:`~delaysnn.quantization.grids.prune_masks`): synapses outside it
    are pruned, weight 0 and delay 0, before the weight grid, which is that of the kept ones.
    The integer layer has the float layer's delay kind; an axonal (dendritic) delay is set to 0
    when every synapse of its neuron is pruned or rounds to 0.
    Delays over ``opts.max_delay`` are counted in ``delays_over_limit`` (clipped only with
    ``opts.clip_delays``); refusing them is the caller's call, for every layer at once.
    """
    bits, notes = opts.bits, []
    grid, mant, rel_err, clipped = _layer_weights(lay, opts, keep)
    delay, dgrid, delay_counts = _layer_delays(lay, opts, mant)

    du = decay_for_tau(lay.synaptic_tau, current=True)
    dv = decay_for_tau(lay.tau)
    exp, risk, bound = _weight_exp(lay, opts, mant, grid.step, du, dv)
    s = (1 << ACTIVATION_SHIFT) * 2**exp / grid.step
    if risk:
        msg = (
            f"{lay.name}: no weight_exp guarantees the 24-bit registers never wrap or saturate "
            f"(bound {bound:.3g} at weight_exp 0); integer and float may differ on extreme inputs"
        )
        notes.append(msg)
        warnings.warn(msg, stacklevel=3)

    bias_mant, bias_exp, bias_clipped, vth, thr_eff, bias_err = _threshold_and_bias(lay, opts, s, notes)
    layer = DelayLayer(
        weight=mant,
        delay=delay,
        neuron=NeuronParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp),
        weight_bits=bits,
        weight_exp=exp,
        weight_kind=opts.weight_kind,
        delay_bits=None if dgrid is None else dgrid.bits,
        delay_step=1 if dgrid is None else dgrid.step,
        delay_kind=lay.delay_kind,
    )
    report = LayerReport(
        name=lay.name,
        shape=(int(mant.shape[0]), int(mant.shape[1])),
        weight_bits=bits,
        binary=opts.binary,
        step=grid.step,
        weight_scale=grid.step / 2**exp,
        weight_exp=exp,
        v_scale=s,
        clip=grid.clip,
        clipped_fraction=clipped,
        rel_weight_error=rel_err,
        zero_fraction=float((mant == 0).mean()) if mant.size else 0.0,
        delays_clipped=delay_counts["delays_clipped"],
        max_delay_found=delay_counts["max_delay_found"],
        du=du,
        dv=dv,
        threshold=lay.threshold,
        vth=vth,
        threshold_effective=thr_eff,
        bias_exp=bias_exp,
        bias_rel_error=bias_err,
        bias_clipped=bias_clipped,
        overflow_bound=bound,
        overflow_risk=risk,
        ternary=opts.ternary,
        pruned_fraction=0.0 if keep is None or not mant.size else float(1.0 - np.mean(keep)),
        delay_bits=layer.delay_bits,
        delay_step=layer.delay_step,
        delays_moved=delay_counts["delays_moved"],
        distinct_delays=delay_counts["distinct_delays"],
        delays_over_limit=delay_counts["delays_over_limit"],
        delay_kind=lay.delay_kind.value,
        notes=notes,
    )
    return layer, report


def _layer_weights(lay: FoldedLayer, opts: LayerOptions, keep: np.ndarray | None) -> tuple[Any, np.ndarray, float, float]:
    """``(weight grid, integer mantissas, relative weight error, clipped fraction)`` of the layer's
    weights, those outside ``keep`` pruned first."""
    w = torch.from_numpy(lay.weight)
    mask = None if keep is None else torch.from_numpy(np.asarray(keep, dtype=bool))
    if mask is not None:
        w = w * mask
    grid = weight_grid(w, opts.bits, opts.binary, opts.ternary, mask)
    mant = grid.mantissa(w).numpy().astype(np.int32)
    norm = float(np.linalg.norm(lay.weight))
    # against the unpruned weights: the error includes what pruning removed
    rel_err = float(np.linalg.norm(mant * grid.step - lay.weight) / norm) if norm > 0 else 0.0
    clipped = float((~grid.in_range(w)).double().mean()) if w.numel() else 0.0
    return grid, mant, rel_err, clipped


def _threshold_and_bias(
    lay: FoldedLayer, opts: LayerOptions, s: float, notes: list[str]
) -> tuple[np.ndarray, int, int, int | None, float | None, float]:
    """``(bias_mant, bias_exp, biases clipped, vth, effective float threshold, bias error)`` at the
    voltage scale ``s``; clipping is noted in ``notes``."""
    bias_int = np.rint(s * lay.bias)
    bias_mant, bias_exp, bias_clipped = _split_bias(bias_int, opts.min_bias_exp)
    if bias_clipped:
        notes.append(f"{lay.name}: {bias_clipped} biases clipped to the 13-bit mantissa << 7")
    if lay.threshold is not None:
        vth = _vth(s, lay.threshold)
        if vth > VTH_MAX or vth < 0:
            notes.append(f"{lay.name}: vth {vth} clipped to 0..{VTH_MAX}")
            vth = min(max(vth, 0), VTH_MAX)
        thr_eff = ((vth << THRESHOLD_SHIFT) + 1) / s
        unit = s * lay.threshold
    else:
        vth, thr_eff, unit = None, None, s
    bias_err = float(np.abs((bias_mant.astype(np.float64) * 2**bias_exp) - s * lay.bias).max(initial=0) / unit)
    return bias_mant, bias_exp, bias_clipped, vth, thr_eff, bias_err

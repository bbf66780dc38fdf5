"""Float model -> integer :class:`~delaysnn.ir.DelayNetwork`: all target arithmetic, once.

Every float-to-integer decision of delaysnn lives in this module (exporters only map fields).
The integer semantics are those of DESIGN section 4 (``delaysnn.sim`` states them
normatively); the float ones are ``delaysnn.model``'s.

Mapping, per layer ``l`` (``W`` the folded float weights, ``step`` the float value of one
weight-mantissa unit, ``e`` the layer's ``weight_exp``):

1. **BatchNorm folding** (eval running statistics): ``g = gamma / sqrt(var + eps)`` scales row
   ``o`` of the synaptic weights, ``b = beta - g * mean`` becomes a per-neuron bias added to
   ``v`` at every step. The synaptic filter (``du``) is linear and sits before BN in the float
   model, so ``g`` commutes with it and the bias bypasses it, as on Loihi (bias goes to ``v``).
2. **Delays**: DCLS positions are rounded as the float model evaluates them (half to even,
   clamped) and read off the one-hot kernel, so taps of one synapse landing on the same delay
   have already added their weights; a synapse whose taps sit on *different* delays cannot be
   held (one delay per synapse) and is refused. Synapses whose integer weight is 0 get delay 0
   (they carry nothing). Delays above ``max_delay`` (or the profile's) are clipped on request,
   refused otherwise. With ``delay_bits`` B the delays of the synapses that carry a weight are
   then put on the layer's delay grid (:func:`delaysnn.grids.delay_grid`): ``cap`` clips them to
   ``2**B - 1``, ``step`` keeps their range on a step ``s = ceil(max / (2**B - 1))``; either way
   at most ``2**B`` values, recorded as the layer's ``delay_bits`` and ``delay_step``.
3. **Weights**: signed ``weight_bits`` fixed point on one per-layer grid,
   ``mantissa = clamp(round(W / step), -2**(b-1), 2**(b-1) - 1)`` with
   ``step = clip / max(2**(b-1) - 1, 1)`` (1 bit holds only {-1, 0}: use binary for +-1);
   ``clip`` is the range in ``{max|W| * f}`` (``f`` in ``CLIP_FRACTIONS``) with the least
   squared error (ties: the widest). Binary (BS4NN / XNOR-Net): ``mantissa = sign(W)``,
   ``step = mean|W|`` over the layer, the scale that minimises ``||W - step * sign(W)||^2``.
   Ternary (TWN, Li et al. 2016): ``delta = 0.7 * mean|W|``, ``mantissa = sign(W) * (|W| > delta)``,
   ``step = mean |W| over |W| > delta``, stored as ``weight_bits = 2``. The same grids are
   :func:`fake_quantize`'s, for QAT (all of them live in :mod:`delaysnn.grids`).
   **Pruning** (``prune``) comes first: the smallest-|W| folded synapses, per layer or over
   the network (:func:`delaysnn.grids.prune_masks`), become weight 0 and delay 0, and the
   grid is that of the kept synapses (a binary or ternary scale is not diluted by the zeros).
   Global pruning ranks raw folded magnitudes, so a layer with small weights (the readout,
   which has no BatchNorm gain) loses more: per layer is the default.
4. **Voltage scale**: the integer current is ``u = a << 6`` with ``a`` in units of
   ``step / 2**e``, so ``v_int ~= S * v_float`` with ``S = 64 * 2**e / step``. ``e`` is the
   largest of 0..7 for which a *guaranteed* bound holds (:func:`_exp_fits`): ``u`` never wraps
   (``64 * 2**e * P * max_o sum_i |m_oi|^{+/-} * 4096/(du+1) < 2**23``, ``P`` the largest input
   payload), hidden voltages never saturate on the negative side, the readout voltage stays
   below the readout's reset level, and ``vth`` and the bias are representable. If even ``e=0``
   breaks the bound the report flags ``overflow_risk`` and a warning is issued.
5. **Neurons**: ``dv = round(4096 / tau)``, ``du = round(4096 / synaptic_tau) - 1`` (4095, a
   current cleared each step, without a filter), both clipped to 0..4095. The float LIF fires
   on ``v >= theta``, the integer one on ``v_int > vth << 6``, i.e. ``v_int >= 64 * vth + 1``;
   so ``vth = round((S * theta - 1) / 64)``: the integer threshold ``64 * vth + 1`` is the one
   nearest ``S * theta`` (error at most 32 / S in float units). Bias ``round(S * b)`` is split
   into a 13-bit signed mantissa and the smallest ``bias_exp`` that holds every neuron's.
   The readout gets ``vth=None``; ``provenance["readout_scale"] = 1 / S_readout`` converts its
   integer voltages back to float ones (for the softmax-sum prediction), and
   ``provenance["tail_steps"]`` (the float model's total right padding) tells ``delaysnn.sim``
   how long to run so the integer readout spans the float readout's window.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .constants import (
    ACTIVATION_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    CURRENT_DECAY_OFFSET,
    DECAY_MAX,
    DECAY_UNITY,
    INPUT_BITS_MAX,
    NETX_BIAS_EXP,
    NETX_MAX_EFFECTIVE_WEIGHT,
    READOUT_RESET_V,
    THRESHOLD_SHIFT,
    U_NO_WRAP_MAX,
    V_SATURATION,
    VTH_MAX,
    WEIGHT_EXP_MAX,
)
from .errors import HardwareLimitError, UnsupportedError
from .folded import FoldedLayer, bn_fold, fold_model  # the float IR (re-exported: delaysnn.quantize.fold_model)
from .grids import (
    CLIP_FRACTIONS,
    DelayGrid,
    WeightGrid,
    _check_bits,
    check_delay_bits,
    check_prune,
    fake_quantize,
    prune_masks,
    weight_grid,
)
from .grids import delay_grid as make_delay_grid  # quantize_with_report's delay_grid is the mode name
from .ir import DelayLayer, DelayNetwork, NeuronParams
from .model import DelaySNN

__all__ = [
    "CLIP_FRACTIONS",
    "FoldedLayer",
    "LayerOptions",
    "LayerReport",
    "QuantReport",
    "WeightGrid",
    "bn_fold",
    "decay_for_tau",
    "fake_quantize",
    "fold_model",
    "input_bits_for",
    "quantize_layer",
    "quantize_model",
    "quantize_with_report",
    "weight_grid",
]

QUANTIZER_VERSION = 1


# --- report --------------------------------------------------------------------------------


@dataclass
class LayerReport:
    name: str
    shape: tuple[int, int]
    weight_bits: int
    binary: bool
    step: float  # float value of one weight-mantissa unit (binary: the scale mean|W|)
    weight_scale: float  # float value of one effective integer weight unit: step / 2**weight_exp
    weight_exp: int
    v_scale: float  # S: v_int ~= S * v_float
    clip: float  # float clipping range (inf: none)
    clipped_fraction: float  # fraction of synapses whose |W| exceeded the grid
    rel_weight_error: float  # ||Wq - W||_F / ||W||_F
    zero_fraction: float  # fraction of synapses whose integer weight is 0
    delays_clipped: int  # synapses (non-zero weight) whose delay was clipped to max_delay
    max_delay_found: int  # largest delay among non-zero synapses, before clipping
    du: int
    dv: int
    threshold: float | None  # float threshold (None: readout)
    vth: int | None
    threshold_effective: float | None  # (64 * vth + 1) / S: the float threshold the integer one implements
    bias_exp: int
    bias_rel_error: float  # max |bias_int - S*b| / (S * theta) (readout: / S)
    bias_clipped: int  # neurons whose bias did not fit 13 bits << 7
    overflow_bound: float  # guaranteed bound on |u| (hidden) or |v| (readout), in integer units
    overflow_risk: bool  # True: even weight_exp 0 cannot guarantee no wrap/saturation
    ternary: bool = False
    pruned_fraction: float = 0.0  # fraction of synapses removed by pruning (weight 0, delay 0)
    delay_bits: int | None = None  # the layer's delays take at most 2**delay_bits values (None: as rounded)
    delay_step: int = 1  # delays are multiples of it (the "step" delay grid)
    delays_moved: int = 0  # synapses (non-zero weight) whose delay the delay grid changed
    distinct_delays: int = 0  # distinct delays among synapses with a non-zero weight
    delays_over_limit: int = 0  # synapses (non-zero weight) whose delay exceeded max_delay
    notes: list[str] = field(default_factory=list, repr=False)  # this layer's share of QuantReport.notes


@dataclass
class QuantReport:
    weight_bits: int | None
    binary: bool
    input_bits: int
    max_delay: int | None
    clip_delays: bool
    readout_scale: float
    layers: list[LayerReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ternary: bool = False
    delay_bits: int | None = None
    delay_grid: str | None = None  # "step" or "cap" with delay_bits, else None
    prune: float | None = None  # fraction of synapses pruned by magnitude
    prune_scope: str | None = None  # "layer" or "global" with prune, else None
    memory: Any = None  # delaysnn.estimate.NetworkMemory: the network's memory as hardware stores it

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.memory is not None:
            out["memory"] = self.memory.to_dict()
        for layer in out["layers"]:
            layer["shape"] = list(layer["shape"])
            for key, value in layer.items():
                if isinstance(value, float) and not math.isfinite(value):
                    layer[key] = None  # JSON has no inf
        return out

    def to_markdown(self) -> str:
        head = (
            "| layer | shape | bits | weight_exp | scale | clipped | rel err | pruned | delays clipped | delay grid | du | dv "
            "| theta -> vth (eff) | bias_exp | risk |"
        )
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for r in self.layers:
            bits = "bin" if r.binary else "tern" if r.ternary else str(r.weight_bits)
            dgrid = "-" if r.delay_bits is None else f"{r.delay_bits}b x{r.delay_step} ({r.distinct_delays} values)"
            thr = "readout" if r.vth is None else f"{r.threshold:g} -> {r.vth} ({r.threshold_effective:.4g})"
            lines.append(
                f"| {r.name} | {r.shape[0]}x{r.shape[1]} | {bits} | {r.weight_exp} | {r.weight_scale:.4g} "
                f"| {r.clipped_fraction:.2%} | {r.rel_weight_error:.3%} | {r.pruned_fraction:.1%} | {r.delays_clipped} | {dgrid} "
                f"| {r.du} | {r.dv} "
                f"| {thr} | {r.bias_exp} | {'yes' if r.overflow_risk else ''} |"
            )
        memory = ["", "memory (bits, as stored):", *(f"- {line}" for line in self.memory.lines())] if self.memory is not None else []
        return "\n".join(lines + [f"- {n}" for n in self.notes] + memory)


# --- quantization ----------------------------------------------------------------------------


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
    """Whether weight_exp ``e`` guarantees no wrap/saturation (see module docstring, item 4)."""
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


def _profile_max_delay(profile: Any) -> int | None:
    """The profile's largest synaptic delay (steps), if it states one (``hardware.Profile``)."""
    limit = getattr(profile, "max_delay", None)
    if limit is None:
        limits = getattr(profile, "limits", None)
        limit = limits.get("max_delay") if isinstance(limits, dict) else getattr(limits, "max_delay", None)
    limit = getattr(limit, "value", limit)
    return None if limit is None else int(limit)


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


def _weight_exp(lay: FoldedLayer, opts: LayerOptions, mant: np.ndarray, step: float, du: int, dv: int) -> tuple[int, bool, float]:
    """``(weight_exp, overflow_risk, bound)``: the largest ``e`` with a guaranteed bound (module docstring, item 4)."""
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


def _layer_delays(lay: FoldedLayer, opts: LayerOptions, mant: np.ndarray) -> tuple[np.ndarray, DelayGrid | None, dict[str, int]]:
    """Integer delays of the synapses that carry a weight (0 elsewhere), limited and put on the
    delay grid; ``(delay, grid or None, report counts)``."""
    carries = mant != 0
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
    """One folded layer -> ``(DelayLayer, LayerReport)`` (module docstring, items 2-5).

    ``keep`` (bool ``[out, in]``, from :func:`~delaysnn.grids.prune_masks`): synapses outside it
    are pruned, weight 0 and delay 0, before the weight grid, which is that of the kept ones.
    Delays over ``opts.max_delay`` are counted in ``delays_over_limit`` (clipped only with
    ``opts.clip_delays``); refusing them is the caller's call, for every layer at once.
    """
    bits, notes = opts.bits, []
    w = torch.from_numpy(lay.weight)
    mask = None if keep is None else torch.from_numpy(np.asarray(keep, dtype=bool))
    if mask is not None:
        w = w * mask
    grid = weight_grid(w, bits, opts.binary, opts.ternary, mask)
    mant = grid.mantissa(w).numpy().astype(np.int32)
    norm = float(np.linalg.norm(lay.weight))
    # against the unpruned weights: the error includes what pruning removed
    rel_err = float(np.linalg.norm(mant * grid.step - lay.weight) / norm) if norm > 0 else 0.0
    clipped = float((~grid.in_range(w)).double().mean()) if w.numel() else 0.0
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

    layer = DelayLayer(
        weight=mant,
        delay=delay,
        neuron=NeuronParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp),
        weight_bits=bits,
        weight_exp=exp,
        binary=opts.binary,
        ternary=opts.ternary,
        delay_bits=None if dgrid is None else dgrid.bits,
        delay_step=1 if dgrid is None else dgrid.step,
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
        notes=notes,
    )
    return layer, report


def _refuse_long_delays(reports: list[LayerReport], limit: int | None, source: str) -> None:
    """One :class:`HardwareLimitError` naming every layer with delays beyond ``limit`` (not clipped)."""
    too_long = [
        f"{r.name}: {r.delays_over_limit} synapses have delay > {limit} (max {r.max_delay_found})"
        for r in reports
        if r.delays_over_limit
    ]
    if too_long and limit is not None:
        kernel = limit + 1 if (limit + 1) % 2 else max(limit, 1)  # train's --max-delay: odd kernel, delays < it
        raise HardwareLimitError(
            "; ".join(too_long) + f" [{source}]; retrain with --max-delay {kernel} or quantize with --clip-delays"
        )


def _provenance(report: QuantReport, model: str, tail_steps: int) -> dict[str, Any]:
    """The IR's provenance: the quantizer's options and per-layer scales (JSON scalars)."""
    provenance: dict[str, Any] = {
        "source": "delaysnn.quantize",
        "quantizer_version": QUANTIZER_VERSION,
        "model": model,
        "weight_bits": report.weight_bits,
        "binary": bool(report.binary),
        "ternary": bool(report.ternary),
        "max_delay": report.max_delay,
        "clip_delays": bool(report.clip_delays),
        "delay_bits": report.delay_bits,
        "delay_grid": report.delay_grid,
        "prune": None if report.prune is None else float(report.prune),
        "prune_scope": report.prune_scope,
        "readout_scale": report.readout_scale,
        # the float model's total right padding: delaysnn.sim runs this many steps past the
        # input's zero-delay path, so the integer readout spans the float readout's window
        "tail_steps": tail_steps,
    }
    for i, rep in enumerate(report.layers):
        provenance[f"layer{i}.weight_scale"] = rep.weight_scale
        provenance[f"layer{i}.v_scale"] = rep.v_scale
    return provenance


def quantize_with_report(
    model: DelaySNN,
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
    """Quantize ``model`` (see the module docstring) and say how: ``(network, report)``.

    ``max_effective_weight`` caps ``|weight << weight_exp|`` and ``min_bias_exp`` the bias
    exponent from below (lava-dl netx files need 127 and 6: see :data:`NETX_OPTIONS`).
    ``weight_bits`` 1..8 (ignored with ``binary`` or ``ternary``, TWN weights {-1, 0, +1} x a
    per-layer scale, stored in 2 bits); ``input_bits``: width of the first layer's graded input
    payloads (spike counts up to ``2**input_bits - 1``); ``max_delay``: largest delay allowed
    (default: the profile's, else none); ``clip_delays``: clip longer delays to it instead of
    refusing; ``delay_bits``: each layer's delays take at most ``2**delay_bits`` values, on the
    ``delay_grid`` ``"step"`` (a per-layer step ``s``, delays ``s * k``) or ``"cap"`` (delays
    clipped to ``2**delay_bits - 1``), see :mod:`delaysnn.grids`; ``prune``: fraction of the
    synapses removed by magnitude of the folded weights, per layer or over the whole network
    (``prune_scope``), every layer keeping at least one; ``profile``: a ``hardware`` profile
    whose ``violations(net)`` must be empty. Raises ``CheckpointError`` (NaN/inf),
    ``UnsupportedError``, ``HardwareLimitError``.
    """
    _check_bits(weight_bits, binary, ternary)
    if not 1 <= int(input_bits) <= INPUT_BITS_MAX:
        raise UnsupportedError(f"input_bits must be 1..{INPUT_BITS_MAX} (got {input_bits})")
    if delay_bits is not None or delay_grid != "step":
        check_delay_bits(1 if delay_bits is None else delay_bits, delay_grid)
    if prune is not None:
        check_prune(prune, prune_scope)
    if model.cfg.hidden_layers and not model.cfg.threshold > 0:
        raise UnsupportedError(f"threshold {model.cfg.threshold} <= 0 cannot be mapped: Loihi fires on v > vth << 6 with vth >= 0")
    limit = max_delay if max_delay is not None else (_profile_max_delay(profile) if profile is not None else None)
    if limit is not None and limit < 0:
        raise UnsupportedError(f"max_delay must be >= 0 (got {limit})")
    folded = fold_model(model)
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
    layers: list[DelayLayer] = []
    for i, (lay, keep) in enumerate(zip(folded, keeps, strict=True)):
        opts = replace(base, payload=(2 ** int(input_bits) - 1) if i == 0 else 1)
        layer, rep = quantize_layer(lay, opts, keep)
        layers.append(layer)
        report.layers.append(rep)
        report.notes.extend(rep.notes)
    if not clip_delays:
        source = f"max_delay={limit}" if max_delay is not None else f"profile {getattr(profile, 'name', '?')}: limits.max_delay"
        _refuse_long_delays(report.layers, limit, source)
    for lay in folded:
        if round(DECAY_UNITY / lay.tau) > DECAY_MAX:
            report.notes.append(f"{lay.name}: tau {lay.tau:g} maps to dv 4095 (keeps 1/4096 of v), not a full reset")
    report.readout_scale = 1.0 / report.layers[-1].v_scale

    cfg = model.cfg
    net = DelayNetwork(
        input_size=cfg.input_size,
        layers=layers,
        input_bits=int(input_bits),
        time_step_ms=float(cfg.time_step_ms),
        provenance=_provenance(report, f"DelaySNN {'-'.join(map(str, cfg.sizes))}", len(layers) * cfg.right_padding),
    )
    net.check()
    if profile is not None:
        problems = profile.violations(net)
        if problems:
            name = getattr(profile, "name", "profile")
            raise HardwareLimitError(f"quantized network breaks {name}: " + "; ".join(problems))
    from .estimate import memory

    report.memory = memory(net, profile if hasattr(profile, "limits") else "loihi2")  # loihi2's delay-line width by default
    return net, report


# lava-dl netx stores effective weights (weight << weight_exp) and re-derives their exponent,
# exactly only within 8 signed bits, and fixes bias_exp at 6: a network meant for netx is
# quantized within both (binary weights can still use weight_exp 6: +-64).
NETX_OPTIONS: dict[str, int] = {"max_effective_weight": NETX_MAX_EFFECTIVE_WEIGHT, "min_bias_exp": NETX_BIAS_EXP}


def quantize_model(model: DelaySNN, **options: Any) -> DelayNetwork:
    """Quantize ``model`` to an integer :class:`DelayNetwork`; options as :func:`quantize_with_report`."""
    return quantize_with_report(model, **options)[0]


class _CallableModule(types.ModuleType):
    """DESIGN names both a module ``delaysnn.quantize`` and a function ``delaysnn.quantize(model,
    ...)``; importing the module rebinds the package attribute to it, so the module itself is
    made callable as :func:`quantize_model` and both spellings keep working."""

    def __call__(self, model: DelaySNN, **options: Any) -> DelayNetwork:
        return quantize_model(model, **options)


sys.modules[__name__].__class__ = _CallableModule

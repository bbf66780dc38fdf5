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
   refused otherwise.
3. **Weights**: signed ``weight_bits`` fixed point on one per-layer grid,
   ``mantissa = clamp(round(W / step), -2**(b-1), 2**(b-1) - 1)`` with
   ``step = clip / max(2**(b-1) - 1, 1)`` (1 bit holds only {-1, 0}: use binary for +-1);
   ``clip`` is the range in ``{max|W| * f}`` (``f`` in ``CLIP_FRACTIONS``) with the least
   squared error (ties: the widest). Binary (BS4NN / XNOR-Net): ``mantissa = sign(W)``,
   ``step = mean|W|`` over the layer, the scale that minimises ``||W - step * sign(W)||^2``.
   The same grid is :func:`fake_quantize`'s, for QAT.
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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .dcls import build_kernel, rounded_positions
from .errors import CheckpointError, HardwareLimitError, UnsupportedError
from .ir import BIAS_EXP_MAX, BIAS_MANT_BITS, DECAY_MAX, READOUT_VTH, VTH_MAX, DelayLayer, DelayNetwork, NeuronParams
from .model import DelaySNN, HiddenLayer

__all__ = [
    "CLIP_FRACTIONS",
    "FoldedLayer",
    "LayerReport",
    "QuantReport",
    "WeightGrid",
    "bn_fold",
    "decay",
    "fake_quantize",
    "fold_model",
    "input_bits_for",
    "quantize_model",
    "quantize_with_report",
    "weight_grid",
]

QUANTIZER_VERSION = 1
DECAY_UNITY = 4096  # du/dv are in units of 1/4096
U_SHIFT = 6  # u = a << 6
WEIGHT_EXP_MAX = 7
U_LIMIT = 2**23 - 1  # |u| above this wraps
V_LIMIT = 2**23 - 1  # v saturates at +-(2**23 - 1)
READOUT_V_LIMIT = READOUT_VTH << U_SHIFT  # a readout voltage above this would reset
BIAS_MANT_MAX = 2 ** (BIAS_MANT_BITS - 1) - 1
BIAS_MANT_MIN = -(2 ** (BIAS_MANT_BITS - 1))
# Candidate clipping ranges, as fractions of max|W|, for fixed-point grids (widest first).
CLIP_FRACTIONS = tuple(float(f) for f in np.linspace(1.0, 0.3, 36))


# --- the weight grid (shared with quantization-aware training) ----------------------------


@dataclass(frozen=True)
class WeightGrid:
    """One layer's weight grid: ``w ~= mantissa * step``, ``qmin <= mantissa <= qmax``."""

    step: float  # float value of one mantissa unit (binary: the layer's scale mean|W|)
    qmin: int
    qmax: int
    binary: bool = False

    @property
    def clip(self) -> float:
        """Largest |w| represented without clipping (binary: none is clipped)."""
        return math.inf if self.binary else max(self.qmax, 1) * self.step

    def mantissa(self, w: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return torch.sign(w)
        return torch.clamp(torch.round(w / self.step), self.qmin, self.qmax)

    def in_range(self, w: torch.Tensor) -> torch.Tensor:
        """Where rounding is not clamped (the straight-through estimator passes gradient there)."""
        if self.binary:
            return torch.ones_like(w, dtype=torch.bool)
        r = w / self.step
        return (r >= self.qmin - 0.5) & (r <= self.qmax + 0.5)


def _check_bits(bits: int | None, binary: bool) -> None:
    if not binary and (bits is None or not 1 <= int(bits) <= 8):
        raise UnsupportedError(f"weight_bits must be 1..8 or binary (got {bits}); Loihi 2 weights are at most 8-bit signed")


def weight_grid(w: torch.Tensor, bits: int | None, binary: bool = False) -> WeightGrid:
    """The per-layer grid for (folded) weights ``w``: see the module docstring, item 3."""
    _check_bits(bits, binary)
    w = w.detach()
    absw = w.abs()
    if binary:
        scale = float(absw.mean()) if w.numel() else 0.0
        return WeightGrid(step=scale if scale > 0 else 1.0, qmin=-1, qmax=1, binary=True)
    qmax, qmin = 2 ** (int(bits) - 1) - 1, -(2 ** (int(bits) - 1))  # 1 bit: {-1, 0}
    wmax = float(absw.max()) if w.numel() else 0.0
    if not wmax > 0:
        return WeightGrid(step=1.0, qmin=qmin, qmax=qmax)
    flat = w.reshape(1, -1).double()
    steps = torch.tensor(CLIP_FRACTIONS, dtype=torch.float64, device=flat.device).unsqueeze(1) * wmax / max(qmax, 1)
    # one candidate at a time (bounded memory for large layers), one device sync at the end
    errors = torch.stack([((torch.clamp(torch.round(flat / st), qmin, qmax) * st - flat) ** 2).sum() for st in steps])
    best = int(torch.argmin(errors))  # first minimum: the widest range among ties
    return WeightGrid(step=float(steps[best]), qmin=qmin, qmax=qmax)


class _FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, bits: int | None, binary: bool) -> torch.Tensor:
        grid = weight_grid(w, bits, binary)
        ctx.save_for_backward(grid.in_range(w))
        return grid.mantissa(w) * grid.step

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask.to(grad.dtype), None, None


def fake_quantize(
    weight: torch.Tensor, bits: int | None, binary: bool = False, *, row_gain: torch.Tensor | None = None
) -> torch.Tensor:
    """Straight-through quantizer for QAT, on exactly :func:`weight_grid`'s grid.

    Forward: ``mantissa * step`` (the values :func:`quantize_model` would deploy for this
    tensor); backward: identity where ``weight`` lies inside the grid's range, zero where it
    was clipped. ``bits=None`` and ``binary=False``: identity.

    ``row_gain`` (``[out]``, e.g. the BatchNorm gain of :func:`bn_fold`, detached) makes the
    grid that of the *folded* weights, which is what :func:`quantize_model` quantizes:
    ``fake_quantize(W * g) / g``; rows with ``g == 0`` are passed through.
    """
    if bits is None and not binary:
        return weight
    if row_gain is None:
        return _FakeQuantize.apply(weight, bits, binary)
    g = row_gain.detach().to(device=weight.device, dtype=weight.dtype).reshape(-1, *([1] * (weight.dim() - 1)))
    safe = torch.where(g == 0, torch.ones_like(g), g)
    return torch.where(g == 0, weight, _FakeQuantize.apply(weight * safe, bits, binary) / safe)


# --- float folding --------------------------------------------------------------------------


@dataclass
class FoldedLayer:
    """A layer of the float model with BatchNorm folded and one delay per synapse (float64)."""

    name: str
    weight: np.ndarray  # float64 [out, in]: BN gain x summed DCLS taps
    delay: np.ndarray  # int64 [out, in], steps
    bias: np.ndarray  # float64 [out]: BN shift, added to v every step
    tau: float
    synaptic_tau: float | None
    threshold: float | None  # None: the readout


def bn_fold(layer: HiddenLayer, where: str = "layer") -> tuple[torch.Tensor, torch.Tensor]:
    """``(gain, shift)`` float64 ``[out]`` of the layer's BatchNorm in eval mode (1, 0 without),
    on the layer's device. ``gain`` is the ``row_gain`` for :func:`fake_quantize` in QAT."""
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


def _synapse_matrix(syn: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-synapse float64 weight and integer delay ``[out, in]`` from the eval-mode DCLS kernel."""
    k = syn.max_delay
    w = syn.weight.detach().cpu().double()
    pos = rounded_positions(syn.pos.detach().cpu().double(), k)
    kernel = build_kernel(w, pos, torch.zeros_like(pos), k, "max")  # [out, in, K], as the model evaluates
    nonzero = kernel != 0
    taps = nonzero.sum(-1)
    split = int((taps > 1).sum())
    if split:
        raise UnsupportedError(
            f"{where}: {split} synapses have taps on different delays (kernel_count={syn.kernel_count}); "
            "the IR holds one delay per synapse: retrain with kernel_count=1"
        )
    tap = nonzero.to(torch.int8).argmax(-1)
    weight = kernel.gather(-1, tap.unsqueeze(-1)).squeeze(-1)
    delay = (k - 1 - tap).to(torch.int64)  # tap index = K-1-delay (left padding K-1)
    return weight, torch.where(taps > 0, delay, torch.zeros_like(delay))


def _check_finite(model: DelaySNN) -> None:
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


def fold_model(model: DelaySNN) -> list[FoldedLayer]:
    """The float model as folded layers (BN -> weight rows and bias; DCLS -> one delay each)."""
    _check_finite(model)
    cfg = model.cfg
    layers = []
    for i, hidden in enumerate(model.hidden):
        where = f"layer {i}"
        weight, delay = _synapse_matrix(hidden.synapse, where)
        gain, shift = (t.cpu() for t in bn_fold(hidden, where))
        layers.append(
            FoldedLayer(
                name=where,
                weight=(weight * gain.unsqueeze(1)).numpy(),
                delay=delay.numpy(),
                bias=shift.numpy(),
                tau=cfg.tau,
                synaptic_tau=cfg.synaptic_tau,
                threshold=cfg.threshold,
            )
        )
    where = f"layer {len(model.hidden)} (readout)"
    weight, delay = _synapse_matrix(model.readout, where)
    layers.append(
        FoldedLayer(
            name=where,
            weight=weight.numpy(),
            delay=delay.numpy(),
            bias=np.zeros(weight.shape[0]),
            tau=cfg.readout_tau,
            synaptic_tau=None,
            threshold=None,
        )
    )
    return layers


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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for layer in out["layers"]:
            layer["shape"] = list(layer["shape"])
            for key, value in layer.items():
                if isinstance(value, float) and not math.isfinite(value):
                    layer[key] = None  # JSON has no inf
        return out

    def to_markdown(self) -> str:
        head = (
            "| layer | shape | bits | weight_exp | scale | clipped | rel err | delays clipped | du | dv "
            "| theta -> vth (eff) | bias_exp | risk |"
        )
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for r in self.layers:
            bits = "bin" if r.binary else str(r.weight_bits)
            thr = "readout" if r.vth is None else f"{r.threshold:g} -> {r.vth} ({r.threshold_effective:.4g})"
            lines.append(
                f"| {r.name} | {r.shape[0]}x{r.shape[1]} | {bits} | {r.weight_exp} | {r.weight_scale:.4g} "
                f"| {r.clipped_fraction:.2%} | {r.rel_weight_error:.3%} | {r.delays_clipped} | {r.du} | {r.dv} "
                f"| {thr} | {r.bias_exp} | {'yes' if r.overflow_risk else ''} |"
            )
        return "\n".join(lines + [f"- {n}" for n in self.notes])


# --- quantization ----------------------------------------------------------------------------


def input_bits_for(max_count: int) -> int:
    """Graded-payload width for input counts up to ``max_count`` (SHD 0..5 -> 3; spikes -> 1)."""
    return max(1, int(max_count).bit_length())


def decay(tau: float | None, *, current: bool = False) -> int:
    """Loihi decay constant for ``x = x * (1 - 1/tau) + input``: ``dv = round(4096/tau)``;
    ``du = round(4096/tau) - 1`` because Lava multiplies u by ``4096 - (du + 1)``. Clipped to 0..4095."""
    if tau is None:
        return DECAY_MAX if current else 0
    raw = round(DECAY_UNITY / tau) - (1 if current else 0)
    return int(min(max(raw, 0), DECAY_MAX))


def _gain(d: int, *, current: bool) -> float:
    """Steady-state gain ``1 / (1 - factor)`` of the integer decay (bounds accumulation)."""
    keep = DECAY_UNITY - (d + 1 if current else d)
    return math.inf if keep >= DECAY_UNITY else DECAY_UNITY / (DECAY_UNITY - keep)


def _vth(s: float, threshold: float) -> int:
    return int(round((s * threshold - 1) / (1 << U_SHIFT)))


def _exp_fits(
    e: int, step: float, a_pos: np.ndarray, a_neg: np.ndarray, bias: np.ndarray, lay: FoldedLayer, du: int, dv: int
) -> tuple[bool, float]:
    """Whether weight_exp ``e`` guarantees no wrap/saturation (see module docstring, item 4)."""
    s = (1 << U_SHIFT) * 2**e / step
    gu, gv = _gain(du, current=True), _gain(dv, current=False)
    u_pos = (1 << U_SHIFT) * 2**e * a_pos * gu  # per neuron
    u_neg = (1 << U_SHIFT) * 2**e * a_neg * gu
    b = s * bias
    ok = bool(max(u_pos.max(initial=0), u_neg.max(initial=0)) <= U_LIMIT)
    if np.abs(b).max(initial=0) > BIAS_MANT_MAX * 2**BIAS_EXP_MAX:
        ok = False
    if lay.threshold is not None:
        bound = float(np.maximum(u_pos, u_neg).max(initial=0))
        ok = ok and bool(((u_neg + np.maximum(-b, 0)) * gv).max(initial=0) <= V_LIMIT)
        ok = ok and _vth(s, lay.threshold) <= VTH_MAX
    else:
        v = (np.maximum(u_pos, u_neg) + np.abs(b)) * gv
        bound = float(v.max(initial=0))
        ok = ok and bound <= READOUT_V_LIMIT
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
) -> tuple[DelayNetwork, QuantReport]:
    """Quantize ``model`` (see the module docstring) and say how: ``(network, report)``.

    ``max_effective_weight`` caps ``|weight << weight_exp|`` and ``min_bias_exp`` the bias
    exponent from below (lava-dl netx files need 127 and 6: see :data:`NETX_OPTIONS`). ``weight_bits`` 1..8 (ignored with ``binary``); ``input_bits``: width of the first layer's
    graded input payloads (spike counts up to ``2**input_bits - 1``); ``max_delay``: largest
    delay allowed (default: the profile's, else none); ``clip_delays``: clip longer delays to it
    instead of refusing; ``profile``: a ``hardware`` profile whose ``violations(net)`` must be
    empty. Raises ``CheckpointError`` (NaN/inf), ``UnsupportedError``, ``HardwareLimitError``.
    """
    _check_bits(weight_bits, binary)
    if not 1 <= int(input_bits) <= 24:
        raise UnsupportedError(f"input_bits must be 1..24 (got {input_bits})")
    if model.cfg.hidden_layers and not model.cfg.threshold > 0:
        raise UnsupportedError(f"threshold {model.cfg.threshold} <= 0 cannot be mapped: Loihi fires on v > vth << 6 with vth >= 0")
    limit = max_delay if max_delay is not None else (_profile_max_delay(profile) if profile is not None else None)
    if limit is not None and limit < 0:
        raise UnsupportedError(f"max_delay must be >= 0 (got {limit})")
    bits = 1 if binary else int(weight_bits)
    folded = fold_model(model)
    report = QuantReport(
        weight_bits=None if binary else bits,
        binary=binary,
        input_bits=int(input_bits),
        max_delay=limit,
        clip_delays=clip_delays,
        readout_scale=1.0,
    )
    layers: list[DelayLayer] = []
    too_long: list[str] = []
    for i, lay in enumerate(folded):
        w = torch.from_numpy(lay.weight)
        grid = weight_grid(w, bits, binary)
        mant = grid.mantissa(w).numpy().astype(np.int32)
        wq = mant * grid.step
        norm = float(np.linalg.norm(lay.weight))
        rel_err = float(np.linalg.norm(wq - lay.weight) / norm) if norm > 0 else 0.0
        clipped = float((~grid.in_range(w)).double().mean()) if w.numel() else 0.0

        # delays: only synapses that carry a weight count
        delay = np.where(mant != 0, lay.delay, 0).astype(np.int32)
        found = int(delay.max(initial=0))
        n_long = int((delay > limit).sum()) if limit is not None else 0
        if n_long:
            if clip_delays:
                delay = np.minimum(delay, limit).astype(np.int32)
            else:
                too_long.append(f"{lay.name}: {n_long} synapses have delay > {limit} (max {found})")

        # voltage scale S through weight_exp: the largest e with a guaranteed bound
        payload = (2 ** int(input_bits) - 1) if i == 0 else 1
        a_pos = payload * np.clip(mant, 0, None).sum(1).astype(np.float64)
        a_neg = payload * np.clip(-mant, 0, None).sum(1).astype(np.float64)
        du = decay(lay.synaptic_tau, current=True)
        dv = decay(lay.tau)
        exp, risk = 0, True
        bound = _exp_fits(0, grid.step, a_pos, a_neg, lay.bias, lay, du, dv)[1]
        top = int(np.abs(mant).max(initial=0))
        for e in range(WEIGHT_EXP_MAX, -1, -1):
            if max_effective_weight is not None and e > 0 and (top << e) > max_effective_weight:
                continue
            ok, b = _exp_fits(e, grid.step, a_pos, a_neg, lay.bias, lay, du, dv)
            if ok:
                exp, risk, bound = e, False, b
                break
        s = (1 << U_SHIFT) * 2**exp / grid.step
        if risk:
            msg = (
                f"{lay.name}: no weight_exp guarantees the 24-bit registers never wrap or saturate "
                f"(bound {bound:.3g} at weight_exp 0); integer and float may differ on extreme inputs"
            )
            report.notes.append(msg)
            warnings.warn(msg, stacklevel=2)

        bias_int = np.rint(s * lay.bias)
        bias_mant, bias_exp, bias_clipped = _split_bias(bias_int, min_bias_exp)
        if bias_clipped:
            report.notes.append(f"{lay.name}: {bias_clipped} biases clipped to the 13-bit mantissa << 7")
        if lay.threshold is not None:
            vth = _vth(s, lay.threshold)
            if vth > VTH_MAX or vth < 0:
                report.notes.append(f"{lay.name}: vth {vth} clipped to 0..{VTH_MAX}")
                vth = min(max(vth, 0), VTH_MAX)
            thr_eff = ((vth << U_SHIFT) + 1) / s
            unit = s * lay.threshold
        else:
            vth, thr_eff, unit = None, None, s
        bias_err = float(np.abs((bias_mant.astype(np.float64) * 2**bias_exp) - s * lay.bias).max(initial=0) / unit)

        layers.append(
            DelayLayer(
                weight=mant,
                delay=delay,
                neuron=NeuronParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp),
                weight_bits=bits,
                weight_exp=exp,
                binary=binary,
            )
        )
        report.layers.append(
            LayerReport(
                name=lay.name,
                shape=(int(mant.shape[0]), int(mant.shape[1])),
                weight_bits=bits,
                binary=binary,
                step=grid.step,
                weight_scale=grid.step / 2**exp,
                weight_exp=exp,
                v_scale=s,
                clip=grid.clip,
                clipped_fraction=clipped,
                rel_weight_error=rel_err,
                zero_fraction=float((mant == 0).mean()) if mant.size else 0.0,
                delays_clipped=n_long if clip_delays else 0,
                max_delay_found=found,
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
            )
        )
    if too_long:
        if max_delay is not None:
            source = f"max_delay={limit}"
        else:
            source = f"profile {getattr(profile, 'name', '?')}: limits.max_delay"
        kernel = limit + 1 if (limit + 1) % 2 else max(limit, 1)  # train's --max-delay: odd kernel, delays < it
        raise HardwareLimitError(
            "; ".join(too_long) + f" [{source}]; retrain with --max-delay {kernel} or quantize with --clip-delays"
        )
    for lay in folded:
        if round(DECAY_UNITY / lay.tau) > DECAY_MAX:
            report.notes.append(f"{lay.name}: tau {lay.tau:g} maps to dv 4095 (keeps 1/4096 of v), not a full reset")
    report.readout_scale = 1.0 / report.layers[-1].v_scale

    cfg = model.cfg
    provenance: dict[str, Any] = {
        "source": "delaysnn.quantize",
        "quantizer_version": QUANTIZER_VERSION,
        "model": f"DelaySNN {'-'.join(map(str, cfg.sizes))}",
        "weight_bits": None if binary else bits,
        "binary": bool(binary),
        "max_delay": limit,
        "clip_delays": bool(clip_delays),
        "readout_scale": report.readout_scale,
        # the float model's total right padding: delaysnn.sim runs this many steps past the
        # input's zero-delay path, so the integer readout spans the float readout's window
        "tail_steps": len(layers) * cfg.right_padding,
    }
    for i, rep in enumerate(report.layers):
        provenance[f"layer{i}.weight_scale"] = rep.weight_scale
        provenance[f"layer{i}.v_scale"] = rep.v_scale
    net = DelayNetwork(
        input_size=cfg.input_size,
        layers=layers,
        input_bits=int(input_bits),
        time_step_ms=float(cfg.time_step_ms),
        provenance=provenance,
    )
    net.check()
    if profile is not None:
        problems = profile.violations(net)
        if problems:
            name = getattr(profile, "name", "profile")
            raise HardwareLimitError(f"quantized network breaks {name}: " + "; ".join(problems))
    return net, report


# lava-dl netx stores effective weights (weight << weight_exp) and re-derives their exponent,
# exactly only within 8 signed bits, and fixes bias_exp at 6: a network meant for netx is
# quantized within both (binary weights can still use weight_exp 6: +-64).
NETX_OPTIONS: dict[str, int] = {"max_effective_weight": 127, "min_bias_exp": 6}


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

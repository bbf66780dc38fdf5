"""Quantization grids shared by the quantizer and quantization-aware training (QAT).

Pure functions of tensors: this module imports neither ``delaysnn.model`` nor the
rest of ``delaysnn.quantization`` (both import it), so the float model can train on exactly the grids the
quantizer deploys.

- **Weights** (:func:`weight_grid`), per layer, ``w ~= mantissa * step``:
  fixed point, ``mantissa = clamp(round(W / step), -2**(b-1), 2**(b-1) - 1)`` with the clipping
  range ``step * max(2**(b-1) - 1, 1)`` picked from ``max|W| * CLIP_FRACTIONS`` by least squared
  error (ties: the widest); binary (BS4NN / XNOR-Net), ``mantissa = sign(W)``, ``step = mean|W|``;
  ternary (TWN, Li et al. 2016, arXiv 1605.04711), ``delta = 0.7 * mean|W|``,
  ``mantissa = sign(W) * (|W| > delta)``, ``step = mean |W| over |W| > delta``.
- **Delays** (:func:`delay_grid`), per layer, at most ``2**bits`` distinct values: ``cap`` clips
  delays to ``2**bits - 1``; ``step`` keeps the range and coarsens it, ``s * round(d / s)``.
- **Pruning** (:func:`prune_masks`): keep the largest-magnitude synapses, per layer or global.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from ..constants import DELAY_BITS_MAX, DELAY_GRID_MODES, PRUNE_SCOPES
from ..errors import UnsupportedError

__all__ = [
    "CLIP_FRACTIONS",
    "DELAY_BITS_MAX",
    "DELAY_GRID_MODES",
    "PRUNE_SCOPES",
    "TWN_THRESHOLD",
    "DelayGrid",
    "WeightGrid",
    "check_delay_bits",
    "check_prune",
    "delay_grid",
    "fake_quantize",
    "prune_masks",
    "snap_delays_ste",
    "weight_grid",
]

# Candidate clipping ranges, as fractions of max|W|, for fixed-point grids (widest first).
CLIP_FRACTIONS = tuple(float(f) for f in np.linspace(1.0, 0.3, 36))
# TWN's threshold factor: delta = 0.7 * mean|W| approximates the optimum for uniform or normal
# weights (Li et al. 2016, eq. 10).
TWN_THRESHOLD = 0.7

Array = TypeVar("Array", np.ndarray, torch.Tensor)


# --- weights ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightGrid:
    """One layer's weight grid: ``w ~= mantissa * step``, ``qmin <= mantissa <= qmax``."""

    step: float  # float value of one mantissa unit (binary/ternary: the layer's scale)
    qmin: int
    qmax: int
    binary: bool = False
    ternary: bool = False
    threshold: float = 0.0  # ternary: |w| <= threshold maps to 0 (TWN's delta)

    @property
    def clip(self) -> float:
        """Largest |w| represented without clipping (binary, ternary: none is clipped)."""
        return math.inf if self.binary or self.ternary else max(self.qmax, 1) * self.step

    def mantissa(self, w: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return torch.sign(w)
        if self.ternary:
            return torch.sign(w) * (w.abs() > self.threshold).to(w.dtype)
        return torch.clamp(torch.round(w / self.step), self.qmin, self.qmax)

    def in_range(self, w: torch.Tensor) -> torch.Tensor:
        """Where rounding is not clamped (the straight-through estimator passes gradient there)."""
        if self.binary or self.ternary:
            return torch.ones_like(w, dtype=torch.bool)
        r = w / self.step
        return (r >= self.qmin - 0.5) & (r <= self.qmax + 0.5)


def _check_bits(bits: int | None, binary: bool, ternary: bool = False) -> None:
    if binary and ternary:
        raise UnsupportedError("weights are either binary or ternary, not both: drop --binary or --ternary")
    if not (binary or ternary) and (bits is None or not 1 <= int(bits) <= 8):
        raise UnsupportedError(f"weight_bits must be 1..8 or binary (got {bits}); Loihi 2 weights are at most 8-bit signed")


def weight_grid(
    w: torch.Tensor, bits: int | None, binary: bool = False, ternary: bool = False, mask: torch.Tensor | None = None
) -> WeightGrid:
    """The per-layer grid for (folded) weights ``w`` (any shape): see the module docstring.

    ``mask`` (bool, ``w``'s shape): the grid of the kept synapses only (after pruning), so the
    pruned zeros do not shrink a binary or ternary scale."""
    _check_bits(bits, binary, ternary)
    w = w.detach() if mask is None else w.detach()[mask.to(device=w.device, dtype=torch.bool)]
    absw = w.abs()
    if binary:
        scale = float(absw.mean()) if w.numel() else 0.0
        return WeightGrid(step=scale if scale > 0 else 1.0, qmin=-1, qmax=1, binary=True)
    if ternary:
        delta = TWN_THRESHOLD * float(absw.double().mean()) if w.numel() else 0.0
        kept = absw.double()[absw.double() > delta]
        scale = float(kept.mean()) if kept.numel() else 0.0
        return WeightGrid(step=scale if scale > 0 else 1.0, qmin=-1, qmax=1, ternary=True, threshold=delta)
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
    def forward(ctx: Any, w: torch.Tensor, bits: int | None, binary: bool, ternary: bool, mask: torch.Tensor | None) -> torch.Tensor:
        grid = weight_grid(w, bits, binary, ternary, mask)
        passes = grid.in_range(w)
        out = grid.mantissa(w) * grid.step
        if mask is not None:  # pruned synapses stay at 0 and learn nothing
            keep = mask.to(device=w.device, dtype=torch.bool)
            passes, out = passes & keep, out * keep.to(out.dtype)
        ctx.save_for_backward(passes)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        (passes,) = ctx.saved_tensors
        return grad * passes.to(grad.dtype), None, None, None, None


def fake_quantize(
    weight: torch.Tensor,
    bits: int | None,
    binary: bool = False,
    ternary: bool = False,
    *,
    row_gain: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Straight-through quantizer for QAT, on exactly :func:`weight_grid`'s grid.

    Forward: ``mantissa * step`` (the values ``delaysnn.quantize`` would deploy for this
    tensor); backward: identity where ``weight`` lies inside the grid's range, zero where it
    was clipped (binary and ternary: identity everywhere). ``bits=None`` and neither binary nor
    ternary: identity.

    ``row_gain`` (``[out]``, e.g. the BatchNorm gain of ``bn_fold``, detached) makes the grid
    that of the *folded* weights, which is what the quantizer quantizes:
    ``fake_quantize(W * g) / g``; rows with ``g == 0`` are passed through.

    ``mask`` (bool, ``weight``'s shape; e.g. from :func:`prune_masks`): pruned synapses are 0
    with zero gradient, and the grid is that of the kept ones (as the quantizer's).
    """
    if bits is None and not binary and not ternary:
        return weight if mask is None else weight * mask.to(device=weight.device, dtype=weight.dtype)
    if row_gain is None:
        return _FakeQuantize.apply(weight, bits, binary, ternary, mask)
    g = row_gain.detach().to(device=weight.device, dtype=weight.dtype).reshape(-1, *([1] * (weight.dim() - 1)))
    safe = torch.where(g == 0, torch.ones_like(g), g)
    kept = weight if mask is None else weight * mask.to(device=weight.device, dtype=weight.dtype)
    return torch.where(g == 0, kept, _FakeQuantize.apply(weight * safe, bits, binary, ternary, mask) / safe)


# --- delays ----------------------------------------------------------------------------------


def check_delay_bits(bits: Any, mode: Any = "step") -> None:
    """Raise :class:`UnsupportedError` unless ``bits`` is an int in 1..DELAY_BITS_MAX and ``mode`` a grid mode."""
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= int(bits) <= DELAY_BITS_MAX:
        raise UnsupportedError(f"delay_bits must be an integer 1..{DELAY_BITS_MAX} (got {bits!r}); Loihi 2 delays need at most 6")
    if mode not in DELAY_GRID_MODES:
        raise UnsupportedError(f"delay grid {mode!r} unknown: use one of {', '.join(DELAY_GRID_MODES)}")


@dataclass(frozen=True)
class DelayGrid:
    """One layer's delay grid: delays ``step * k`` with ``0 <= step * k <= cap``, ``k < 2**bits``."""

    bits: int
    mode: Literal["step", "cap"]
    step: int  # delay quantum in steps (cap: 1)
    cap: int  # largest delay on the grid: step * (2**bits - 1)

    def snap(self, d: Array) -> Array:
        """Nearest grid delay (``d / step`` rounded half to even, clamped to ``0..cap``).

        Numpy arrays keep their dtype (integer in, integer out); tensors keep theirs."""
        if isinstance(d, torch.Tensor):
            return (torch.round(d / self.step) * self.step).clamp(0, self.cap).to(d.dtype)
        arr = np.asarray(d)
        out = np.clip(np.rint(arr / self.step) * self.step, 0, self.cap)
        return out.astype(arr.dtype) if np.issubdtype(arr.dtype, np.integer) else out


def delay_grid(delays: np.ndarray | torch.Tensor, bits: int, mode: str = "step", *, max_delay: int | None = None) -> DelayGrid:
    """The grid on which one layer's ``delays`` (steps; pass those of synapses that carry a
    weight) take at most ``2**bits`` values.

    ``cap``: step 1, delays clipped to ``2**bits - 1``. ``step``: the per-layer step
    ``s = max(1, ceil(max(delays) / (2**bits - 1)))`` keeps the longest delay (up to rounding),
    ``cap = s * (2**bits - 1) >= max(delays)``. ``max_delay`` (a hardware limit, with
    ``max(delays) <= max_delay``) lowers ``cap`` to the largest grid point within it.
    """
    check_delay_bits(bits, mode)
    levels = 2 ** int(bits) - 1
    if max_delay is not None and (isinstance(max_delay, bool) or not isinstance(max_delay, int | np.integer) or max_delay < 0):
        raise UnsupportedError(f"max_delay must be an integer >= 0 (got {max_delay!r})")
    if mode == "cap":
        return DelayGrid(bits=int(bits), mode="cap", step=1, cap=levels if max_delay is None else min(levels, int(max_delay)))
    if isinstance(delays, torch.Tensor):
        found = int(torch.round(delays.detach()).max()) if delays.numel() else 0
    else:
        arr = np.asarray(delays)
        found = int(np.rint(arr).max()) if arr.size else 0
    step = max(1, -(-max(found, 0) // levels))  # ceil without float rounding
    top = levels if max_delay is None else min(levels, int(max_delay) // step)
    return DelayGrid(bits=int(bits), mode="step", step=step, cap=step * top)


class _SnapDelays(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, d: torch.Tensor, grid: DelayGrid) -> torch.Tensor:
        return grid.snap(d)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def snap_delays_ste(delays: torch.Tensor, grid: DelayGrid) -> torch.Tensor:
    """QAT through the delay grid: forward :meth:`DelayGrid.snap` (float delays in steps),
    backward identity (straight-through), so positions keep learning between grid points."""
    return _SnapDelays.apply(delays, grid)


# --- pruning ---------------------------------------------------------------------------------


def check_prune(fraction: Any, scope: Any = "layer") -> None:
    """Raise :class:`UnsupportedError` unless ``0 <= fraction < 1`` and ``scope`` is known."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | np.number) or not 0 <= float(fraction) < 1:
        raise UnsupportedError(f"prune fraction must be a number in [0, 1) (got {fraction!r}); 0.8 removes 80 % of the synapses")
    if scope not in PRUNE_SCOPES:
        raise UnsupportedError(f"prune scope {scope!r} unknown: use one of {', '.join(PRUNE_SCOPES)}")


def _magnitudes(w: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(w, torch.Tensor):
        return w.detach().abs().double().cpu().numpy().reshape(-1)
    return np.abs(np.asarray(w, dtype=np.float64)).reshape(-1)


def _keep_largest(mag: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest entries; ties go to the lower flat index (stable sort)."""
    keep = np.zeros(mag.shape, dtype=bool)
    keep[np.argsort(-mag, kind="stable")[:k]] = True
    return keep


def prune_masks(
    weights: Sequence[np.ndarray | torch.Tensor], fraction: float, scope: str = "layer"
) -> list[np.ndarray | torch.Tensor]:
    """Magnitude pruning masks (True = keep), one per weight array, each of its shape.

    ``layer``: each layer keeps its ``round((1 - fraction) * n)`` largest-|w| synapses;
    ``global``: the ``round((1 - fraction) * N)`` largest over all layers together. Either way a
    layer keeps at least one synapse (its largest), so no layer is cut off. Ties go to the
    earlier layer, then the lower row-major index. Masks are numpy arrays for numpy inputs and
    bool tensors (on the input's device) for tensors.
    """
    check_prune(fraction, scope)
    mags = [_magnitudes(w) for w in weights]
    keep_frac = 1.0 - float(fraction)
    if scope == "layer":
        flat = [_keep_largest(m, max(1, round(keep_frac * m.size)) if m.size else 0) for m in mags]
    else:
        sizes = [m.size for m in mags]
        every = _keep_largest(np.concatenate(mags) if mags else np.zeros(0), round(keep_frac * sum(sizes)))
        flat = np.split(every, np.cumsum(sizes)[:-1]) if mags else []
        for m, keep in zip(mags, flat, strict=True):
            if m.size and not keep.any():
                keep[int(np.argsort(-m, kind="stable")[0])] = True
    out: list[np.ndarray | torch.Tensor] = []
    for w, keep in zip(weights, flat, strict=True):
        mask = keep.reshape(tuple(w.shape))
        out.append(torch.from_numpy(mask).to(w.device) if isinstance(w, torch.Tensor) else mask)
    return out

"""DCLS 1-D kernels: continuous per-synapse positions -> dense temporal kernels.

Equal to ``DCLS.construct.modules.Dcls1d`` (versions ``'gauss'`` and ``'max'``) for
``groups=1``; ``tests/test_dcls.py`` checks it against the ``dcls`` package. We build the
kernels ourselves so that training does not depend on that package's internals.

Conventions (SNN-delays): a position ``P`` lives in ``[-K//2, K//2]`` for kernel size ``K``
(odd); the tap index is ``P + K//2``; with left padding ``K-1`` the delay in steps is
``K//2 - P``.
"""

from __future__ import annotations

import torch

# DCLS normalises the interpolation weights by (sum + 1e-7): kept so outputs match bit for bit.
_NORM_EPS = 1e-7
# DCLS adds these floors to |SIG| so a zero sigma still spreads over one tap.
_GAUSS_SIG_FLOOR = 0.27
_MAX_SIG_FLOOR = 1.0


def position_limit(kernel_size: int) -> int:
    """Largest |position| DCLS allows for a kernel of ``kernel_size`` taps."""
    return kernel_size // 2


# A continuous position up to half a step beyond +-K//2 still rounds onto the edge tap (the
# evaluation transform clamps after rounding); anything further means another kernel size.
POSITION_TOLERANCE = 0.5


def positions_outside(pos: torch.Tensor, kernel_size: int) -> float | None:
    """The largest ``|pos|`` when some position lies further than :data:`POSITION_TOLERANCE`
    beyond ``+-kernel_size//2`` (rounding would silently clamp it onto another delay), else None.
    The one statement of the rule; checkpoints (``checkpoint.load_state``) and imported
    SNN-delays files (``convert``) both refuse such positions."""
    peak = float(pos.detach().abs().max()) if pos.numel() else 0.0
    return peak if peak > position_limit(kernel_size) + POSITION_TOLERANCE else None


def build_kernel(
    weight: torch.Tensor, pos: torch.Tensor, sig: torch.Tensor, kernel_size: int, version: str
) -> torch.Tensor:
    """Dense kernel ``[out, in, kernel_size]`` from ``weight [out, in, kc]`` and
    ``pos``/``sig`` ``[1, out, in, kc]``.

    gauss: ``k[t] = w * g(t) / (sum g + 1e-7)``, ``g(t) = exp(-((t - p) / (|sig| + 0.27))^2 / 2)``
    max:   ``k[t] = w * h(t) / (sum h + 1e-7)``, ``h(t) = relu(|sig| + 1 - |t - p|)``
    where ``p = pos + kernel_size // 2``; taps of the ``kc`` kernel elements add up.
    """
    idx = torch.arange(kernel_size, device=weight.device, dtype=weight.dtype)
    # [K, out, in, kc]: distance of every tap from every synapse's position.
    dist = idx.view(-1, 1, 1, 1) - (pos[0] + kernel_size // 2).unsqueeze(0)
    if version == "gauss":
        x = (-0.5 * (dist / (sig[0].abs() + _GAUSS_SIG_FLOOR)) ** 2).exp()
    elif version == "max":
        x = (sig[0].abs() + _MAX_SIG_FLOOR - dist.abs()).relu()
    else:
        raise ValueError(f"unknown DCLS version {version!r}; expected 'gauss' or 'max'")
    x = x / (x.sum(0) + _NORM_EPS)
    kernel = (x * weight.unsqueeze(0)).sum(-1)  # [K, out, in]
    return kernel.permute(1, 2, 0)


def rounded_positions(pos: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """SNN-delays' evaluation transform: round half to even, clamp to +-kernel_size//2."""
    lim = position_limit(kernel_size)
    return pos.round().clamp(-lim, lim)


def positions_to_delays(pos: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Integer delays in steps (``[0, kernel_size-1]``) of rounded positions."""
    return (position_limit(kernel_size) - rounded_positions(pos, kernel_size)).to(torch.int64)


def delays_to_positions(delay: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`positions_to_delays` for integer delays."""
    return (position_limit(kernel_size) - delay).to(torch.float32)

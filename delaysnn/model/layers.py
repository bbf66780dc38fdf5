"""The float layers: the surrogate-gradient LIF, the leaky integrator, the DCLS delayed dense
synapse and the hidden layer (synapse -> [filter] -> BatchNorm -> LIF -> dropout)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..quantization.grids import DelayGrid, delay_grid, fake_quantize, snap_delays_ste
from .config import ModelConfig
from .dcls import build_kernel, delays_to_positions, position_limit, positions_to_delays, rounded_positions
from .fold import bn_fold, kind_delays


class _ATanSpike(torch.autograd.Function):
    """Heaviside forward (x >= 0), SpikingJelly's ATan surrogate gradient backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2), None


def lif(x: torch.Tensor, tau: float, threshold: float, alpha: float) -> torch.Tensor:
    """Multi-step LIF, SpikingJelly ``LIFNode(decay_input=False, v_reset=0, detach_reset=True)``:
    ``v = v - v/tau + x; s = (v >= threshold); v = v * (1 - s)``. Returns spikes ``[B, T, C]``."""
    v = torch.zeros_like(x[:, 0])
    spikes = []
    # unbind, not x[:, t]: each select's backward writes a full-size zero tensor (O(T^2) work)
    for x_t in x.unbind(1):
        v = v - v / tau + x_t
        s = _ATanSpike.apply(v - threshold, alpha)
        v = v * (1.0 - s.detach())
        spikes.append(s)
    return torch.stack(spikes, dim=1)


def leaky_integrator(x: torch.Tensor, tau: float) -> torch.Tensor:
    """``v = v - v/tau + x`` over time (the readout, and the synaptic current filter)."""
    v = torch.zeros_like(x[:, 0])
    out = []
    for x_t in x.unbind(1):
        v = v - v / tau + x_t
        out.append(v)
    return torch.stack(out, dim=1)


def position_shape(kind: str, out_features: int, in_features: int, kernel_count: int = 1) -> tuple[int, int, int, int]:
    """The shape of a layer's DCLS positions for its delay kind: one per synapse (synaptic,
    ``[1, out, in, kc]``), per presynaptic neuron (axonal, ``[1, 1, in, 1]``) or per postsynaptic
    neuron (dendritic, ``[1, out, 1, 1]``); the kernel broadcasts them to ``[1, out, in, kc]``."""
    if kind == "axonal":
        return (1, 1, in_features, 1)
    if kind == "dendritic":
        return (1, out_features, 1, 1)
    return (1, out_features, in_features, kernel_count)


def shared_dims(own: tuple[int, ...] | torch.Size, full: tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """The dimensions along which positions of shape ``own`` are shared by the synapses of ``full``
    (``[1, out, in, kc]``): 1 (the outputs) for axonal, 2 (the inputs) for dendritic, none for synaptic."""
    return tuple(d for d in range(len(full)) if own[d] == 1 < full[d])


class DelayedDense(nn.Module):
    """Dense synapses, each with a weight and a learnable continuous delay (DCLS, groups=1).

    ``weight [out, in, kc]``, ``pos`` (DCLS ``P``) shaped by ``delay_kind``
    (:func:`position_shape`), buffer ``sig`` ``[1, out, in, kc]`` (DCLS ``SIG``). In training with
    ``learn_positions`` the Gaussian kernel is used; otherwise positions are rounded and the
    kernel is one-hot (DCLS 'max' with sigma 0): pure integer delays. With ``masked`` a buffer
    ``delay_mask`` (bool, ``pos``'s shape; all True until training picks, see
    :mod:`delaysnn.model.delay_kinds`) holds the positions where it is False at delay 0.

    Quantization-aware training (all off by default, none of it in the state_dict):
    ``qat = (bits, binary, ternary)`` trains through the weight grid, ``delay_qat = (bits,
    mode)`` through the delay grid, ``prune_mask`` (bool, the weight's shape; False = pruned)
    holds pruned synapses at 0.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, kernel_count: int = 1,
                 delay_kind: str = "synaptic", masked: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.max_delay, self.kernel_count, self.delay_kind = max_delay, kernel_count, delay_kind
        self.weight = nn.Parameter(torch.empty(out_features, in_features, kernel_count))
        self.pos = nn.Parameter(torch.empty(position_shape(delay_kind, out_features, in_features, kernel_count)))
        self.register_buffer("sig", torch.full((1, out_features, in_features, kernel_count), float(max_delay // 2)))
        self.delay_mask: torch.Tensor | None
        if masked:
            self.register_buffer("delay_mask", torch.ones(self.pos.shape, dtype=torch.bool))
        else:
            self.delay_mask = None
        self.learn_positions = True
        self.qat: tuple[int | None, bool, bool] | None = None  # (bits, binary, ternary) during QAT
        self.delay_qat: tuple[int, str] | None = None  # (delay bits, grid mode) during QAT
        self.prune_mask: torch.Tensor | None = None
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        lim = position_limit(max_delay)
        with torch.no_grad():
            self.pos.uniform_(-lim, lim)

    def positions(self) -> torch.Tensor:
        """The positions every synapse sees, ``[1, out, in, kc]``: ``pos`` broadcast over the
        synapses that share it, and at delay 0 where ``delay_mask`` is False."""
        pos = self.pos
        if self.delay_mask is not None:
            pos = torch.where(self.delay_mask, pos, torch.full_like(pos, float(position_limit(self.max_delay))))
        return pos.expand(self.sig.shape)

    @property
    def soft(self) -> bool:
        return self.training and self.learn_positions

    def effective_weight(self, row_gain: torch.Tensor | None = None) -> torch.Tensor:
        """The weights the kernel uses: pruned synapses are 0 (so their gradient is 0 too) and,
        during QAT, the rest lie on the grid ``quantize`` will deploy (``row_gain``: the
        BatchNorm gain folded into each row before quantization). The grid is that of the
        kept synapses, as the quantizer prunes before it quantizes."""
        mask = self.prune_mask
        # masked before the quantizer too: it passes rows whose BN gain is 0 through untouched
        weight = self.weight if mask is None else self.weight * mask
        if self.qat is None:
            return weight
        bits, binary, ternary = self.qat
        if row_gain is not None:
            row_gain = row_gain.to(self.weight.dtype)
        return fake_quantize(weight, bits, binary, ternary, row_gain=row_gain, mask=mask)

    def qat_delay_grid(self, weight: torch.Tensor | None = None, row_gain: torch.Tensor | None = None) -> DelayGrid | None:
        """This layer's delay grid during delay QAT (else None): ``grids.delay_grid`` on the
        rounded delays of the synapses that carry a weight (``weight``: :meth:`effective_weight`,
        non-zero after folding ``row_gain``), as ``quantize --delay-bits`` computes it."""
        if self.delay_qat is None:
            return None
        if weight is None:
            weight = self.effective_weight(row_gain)
        carried = weight.detach() != 0
        if row_gain is not None:  # a row whose BatchNorm gain is 0 folds to zeros: it carries nothing
            carried = carried & (row_gain.detach() != 0).to(carried.device).view(-1, 1, 1)
        delays = positions_to_delays(self.positions().detach()[0], self.max_delay)
        bits, mode = self.delay_qat
        # max_delay: the kernel holds delays 0..K-1, so no delay may snap beyond them
        return delay_grid(torch.where(carried, delays, torch.zeros_like(delays)), bits, mode, max_delay=self.max_delay - 1)

    def _grid_positions(self, grid: DelayGrid) -> torch.Tensor:
        """Positions of the rounded delays snapped to ``grid``; straight-through for both the
        rounding and the snap, so the positions keep learning between grid points."""
        lim = position_limit(self.max_delay)
        pos = self.positions()
        rounded = pos + (rounded_positions(pos, self.max_delay) - pos).detach()
        return lim - snap_delays_ste(lim - rounded, grid)

    def kernel(self, row_gain: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.effective_weight(row_gain)
        grid = self.qat_delay_grid(weight, row_gain)
        if grid is not None:
            pos = self._grid_positions(grid)
        else:
            pos = self.positions() if self.soft else rounded_positions(self.positions(), self.max_delay)
        if self.soft:
            return build_kernel(weight, pos, self.sig, self.max_delay, "gauss")
        return build_kernel(weight, pos, torch.zeros_like(self.sig), self.max_delay, "max")

    def clamp_positions(self) -> None:
        """Clamp the positions into the kernel, and put the masked ones back at delay 0 (Adam's
        momentum would move them, though their gradient is 0)."""
        lim = position_limit(self.max_delay)
        with torch.no_grad():
            self.pos.clamp_(-lim, lim)
            if self.delay_mask is not None:
                self.pos.masked_fill_(~self.delay_mask, float(lim))

    def delays(self) -> torch.Tensor:
        """Integer delays ``[out, in, kc]`` in steps (of the rounded positions), one per synapse
        whatever the kind (:meth:`kind_delays`: one per delay the kind stores)."""
        return positions_to_delays(self.positions().detach()[0], self.max_delay)

    def kind_delays(self) -> torch.Tensor:
        """Integer delays as the kind stores them: ``[out, in, kc]`` (synaptic), ``[in]``
        (axonal), ``[out]`` (dendritic)."""
        return kind_delays(self.delays(), self.delay_kind)

    def set_integer_delays(self, delay: torch.Tensor, where: str) -> None:
        """Put the positions on the integer ``delay`` ``[out, in, kc]`` every synapse sees; a
        layer that stores one delay per neuron refuses delays that differ along its synapses."""
        from ..errors import UnsupportedError

        pos = delays_to_positions(delay, self.max_delay).unsqueeze(0)
        spread = shared_dims(self.pos.shape, pos.shape)
        shared = pos.amax(dim=spread, keepdim=True) if spread else pos
        if not torch.equal(shared.expand_as(pos), pos):
            raise UnsupportedError(f"{where}: its synapses' delays differ along the {self.delay_kind} neurons' synapses: "
                                   f"not a {self.delay_kind} layer, use delay_kind synaptic")
        self.pos.copy_(shared.reshape(self.pos.shape))

    def set_prune_mask(self, mask: torch.Tensor | None) -> None:
        """Hold the synapses where ``mask`` (``[out, in]`` or the weight's shape) is False at
        exactly 0 from now on; None: no pruning."""
        if mask is None:
            self.prune_mask = None
            return
        mask = mask.to(device=self.weight.device, dtype=torch.bool)
        if mask.dim() == 2:
            mask = mask.unsqueeze(-1)
        self.prune_mask = mask.expand_as(self.weight).clone()
        self.apply_prune_mask()

    def apply_prune_mask(self) -> None:
        """Zero the pruned weights (+0.0: an optimizer step or weight decay must not revive them)."""
        if self.prune_mask is not None:
            with torch.no_grad():
                self.weight.masked_fill_(~self.prune_mask, 0.0)

    def forward(self, x: torch.Tensor, right_pad: int | None = None, row_gain: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T, in] -> [B, T + right_pad, out]`` (``right_pad`` defaults to DCLS' ``(K-1)//2``)."""
        k = self.max_delay
        right = (k - 1) // 2 if right_pad is None else right_pad
        xp = F.pad(x.transpose(1, 2), (k - 1, right))
        return F.conv1d(xp, self.kernel(row_gain)).transpose(1, 2)


class HiddenLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, in_features: int):
        super().__init__()
        self.cfg = cfg
        self.synapse = DelayedDense(in_features, cfg.hidden_size, cfg.max_delay, cfg.kernel_count, cfg.delay_kind, cfg.delay_fraction < 1)
        self.bn = nn.BatchNorm1d(cfg.hidden_size) if cfg.batchnorm else None

    def qat_row_gain(self) -> torch.Tensor | None:
        """The BatchNorm gain the quantizer folds into each weight row (None: no QAT or no BN)."""
        if (self.synapse.qat is None and self.synapse.delay_qat is None) or self.bn is None:
            return None
        return bn_fold(self)[0]

    def forward(self, x: torch.Tensor, right_pad: int | None = None) -> torch.Tensor:
        cfg = self.cfg
        x = self.synapse(x, right_pad, self.qat_row_gain())
        if cfg.synaptic_tau is not None:
            x = leaky_integrator(x, cfg.synaptic_tau)
        if self.bn is not None:
            b, t, c = x.shape
            x = self.bn(x.reshape(b * t, c)).reshape(b, t, c)
        spikes = lif(x, cfg.tau, cfg.threshold, cfg.surrogate_alpha)
        if self.training and cfg.dropout > 0:
            # SpikingJelly's multi-step Dropout: one mask per sample, shared over time.
            mask = F.dropout(torch.ones_like(spikes[:, 0]), cfg.dropout, training=True)
            spikes = spikes * mask.unsqueeze(1)
        return spikes

"""The float DCLS-delay SNN (DESIGN section 2), with the SNN-delays forward semantics.

Per hidden layer: DCLS delayed dense synapse -> [synaptic filter] -> BatchNorm1d -> LIF ->
dropout; then a DCLS synapse into a non-spiking leaky integrator (the readout). Tensors are
``[batch, time, channels]``. Each DCLS layer left-pads its input by ``max_delay - 1`` and
right-pads it by ``R = (max_delay - 1) // 2``, so layer ``l`` (1-based) produces ``T + l*R``
steps and the readout voltages have ``T + (hidden_layers + 1) * R`` steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .dcls import build_kernel, position_limit, positions_to_delays, rounded_positions
from .errors import CheckpointError
from .grids import DelayGrid, check_delay_bits, delay_grid, fake_quantize, snap_delays_ste
from .limits import MAX_DELAY_STEPS, MAX_KERNEL_COUNT, MAX_LAYERS, MAX_NEURONS, MAX_SYNAPSES


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`DelaySNN` (saved in checkpoints)."""

    input_size: int
    output_size: int
    hidden_size: int = 256
    hidden_layers: int = 2
    max_delay: int = 25  # DCLS kernel size (odd); delays are 0..max_delay-1 steps
    kernel_count: int = 1
    tau: float = 1.005  # membrane time constant, in steps (10.05 ms / 10 ms)
    readout_tau: float = 1.005
    threshold: float = 1.0
    batchnorm: bool = True
    dropout: float = 0.4
    synaptic_tau: float | None = None  # first-order current filter (Loihi du), in steps
    time_step_ms: float = 10.0
    surrogate_alpha: float = 5.0
    # SNN-delays pads every layer's input on the right and so cuts each layer's output at
    # T + l*R steps: spikes a layer emits later never reach the next one. Hardware runs every
    # layer for the whole window, so our own models pad the input once (False); imported
    # SNN-delays models keep their cut (True) to reproduce their outputs exactly.
    truncate_layers: bool = False

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:  # ranges below compare numbers: a string or NaN must not get that far
            raise ValueError("invalid model config: " + "; ".join(problems))
        bounds = {
            "input_size": MAX_NEURONS,
            "output_size": MAX_NEURONS,
            "hidden_size": MAX_NEURONS,
            "kernel_count": MAX_KERNEL_COUNT,
        }
        for name, top in bounds.items():
            if not 1 <= getattr(self, name) <= top:
                problems.append(f"{name} must be in 1..{top} (got {getattr(self, name)}; delaysnn.limits)")
        if not 0 <= self.hidden_layers <= MAX_LAYERS:
            problems.append(f"hidden_layers must be in 0..{MAX_LAYERS} (got {self.hidden_layers}; delaysnn.limits.MAX_LAYERS)")
        if self.max_delay < 1 or self.max_delay % 2 == 0 or self.max_delay > MAX_DELAY_STEPS:
            problems.append(f"max_delay must be a positive odd kernel size up to {MAX_DELAY_STEPS} (got {self.max_delay})")
        if not problems:
            sizes = self.sizes
            widest = max(a * b for a, b in zip(sizes[:-1], sizes[1:])) * self.kernel_count
            if widest > MAX_SYNAPSES:
                problems.append(
                    f"sizes {'-'.join(map(str, sizes))} x kernel_count {self.kernel_count} give a layer of {widest} synapses, "
                    f"more than {MAX_SYNAPSES} (delaysnn.limits.MAX_SYNAPSES)"
                )
        for name in ("tau", "readout_tau"):
            if not getattr(self, name) >= 1.0:
                problems.append(f"{name} must be >= 1 step (got {getattr(self, name)})")
        if self.synaptic_tau is not None and not self.synaptic_tau >= 1.0:
            problems.append(f"synaptic_tau must be >= 1 step or None (got {self.synaptic_tau})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1) (got {self.dropout})")
        for name in ("threshold", "time_step_ms", "surrogate_alpha"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)})")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    def _type_problems(self) -> list[str]:
        """Each field's type: ints are ints (not bool, str or float), floats finite numbers."""
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_FIELDS:
                ok = isinstance(value, int) and not isinstance(value, bool)
                want = "an integer"
            elif f.name in _BOOL_FIELDS:
                ok, want = isinstance(value, bool), "true or false"
            else:
                if value is None and f.name == "synaptic_tau":
                    continue
                ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                want = "a finite number" + (" or None" if f.name == "synaptic_tau" else "")
            if not ok:
                problems.append(f"{f.name} must be {want} (got {value!r})")
        return problems

    @property
    def right_padding(self) -> int:
        return (self.max_delay - 1) // 2

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer, input first: ``[input, hidden..., output]``."""
        return [self.input_size] + [self.hidden_size] * self.hidden_layers + [self.output_size]

    def output_steps(self, input_steps: int) -> int:
        """Length of the readout voltage sequence for ``input_steps`` input steps."""
        return input_steps + (self.hidden_layers + 1) * self.right_padding

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown config keys {unknown}; was it written by a newer delaysnn?")
        missing = sorted({"input_size", "output_size"} - set(data))
        if missing:
            raise CheckpointError(f"{source}: config lacks {missing}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: {err}") from err


_INT_FIELDS = frozenset({"input_size", "output_size", "hidden_size", "hidden_layers", "max_delay", "kernel_count"})
_BOOL_FIELDS = frozenset({"batchnorm", "truncate_layers"})


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


class DelayedDense(nn.Module):
    """Dense synapses, each with a weight and a learnable continuous delay (DCLS, groups=1).

    ``weight [out, in, kc]``, ``pos [1, out, in, kc]`` (DCLS ``P``), buffer ``sig`` (DCLS ``SIG``).
    In training with ``learn_positions`` the Gaussian kernel is used; otherwise positions are
    rounded and the kernel is one-hot (DCLS 'max' with sigma 0): pure integer delays.

    Quantization-aware training (all off by default, none of it in the state_dict):
    ``qat = (bits, binary, ternary)`` trains through the weight grid, ``delay_qat = (bits,
    mode)`` through the delay grid, ``prune_mask`` (bool, the weight's shape; False = pruned)
    holds pruned synapses at 0.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, kernel_count: int = 1):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.max_delay, self.kernel_count = max_delay, kernel_count
        self.weight = nn.Parameter(torch.empty(out_features, in_features, kernel_count))
        self.pos = nn.Parameter(torch.empty(1, out_features, in_features, kernel_count))
        self.register_buffer("sig", torch.full((1, out_features, in_features, kernel_count), float(max_delay // 2)))
        self.learn_positions = True
        self.qat: tuple[int | None, bool, bool] | None = None  # (bits, binary, ternary) during QAT
        self.delay_qat: tuple[int, str] | None = None  # (delay bits, grid mode) during QAT
        self.prune_mask: torch.Tensor | None = None
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        lim = position_limit(max_delay)
        with torch.no_grad():
            self.pos.uniform_(-lim, lim)

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
        delays = positions_to_delays(self.pos.detach()[0], self.max_delay)
        bits, mode = self.delay_qat
        # max_delay: the kernel holds delays 0..K-1, so no delay may snap beyond them
        return delay_grid(torch.where(carried, delays, torch.zeros_like(delays)), bits, mode, max_delay=self.max_delay - 1)

    def _grid_positions(self, grid: DelayGrid) -> torch.Tensor:
        """Positions of the rounded delays snapped to ``grid``; straight-through for both the
        rounding and the snap, so the positions keep learning between grid points."""
        lim = position_limit(self.max_delay)
        rounded = self.pos + (rounded_positions(self.pos, self.max_delay) - self.pos).detach()
        return lim - snap_delays_ste(lim - rounded, grid)

    def kernel(self, row_gain: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.effective_weight(row_gain)
        grid = self.qat_delay_grid(weight, row_gain)
        if grid is not None:
            pos = self._grid_positions(grid)
        else:
            pos = self.pos if self.soft else rounded_positions(self.pos, self.max_delay)
        if self.soft:
            return build_kernel(weight, pos, self.sig, self.max_delay, "gauss")
        return build_kernel(weight, pos, torch.zeros_like(self.sig), self.max_delay, "max")

    def clamp_positions(self) -> None:
        lim = position_limit(self.max_delay)
        with torch.no_grad():
            self.pos.clamp_(-lim, lim)

    def delays(self) -> torch.Tensor:
        """Integer delays ``[out, in, kc]`` in steps (of the rounded positions)."""
        return positions_to_delays(self.pos.detach()[0], self.max_delay)

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
        self.synapse = DelayedDense(in_features, cfg.hidden_size, cfg.max_delay, cfg.kernel_count)
        self.bn = nn.BatchNorm1d(cfg.hidden_size) if cfg.batchnorm else None

    def qat_row_gain(self) -> torch.Tensor | None:
        """The BatchNorm gain the quantizer folds into each weight row (None: no QAT or no BN)."""
        if (self.synapse.qat is None and self.synapse.delay_qat is None) or self.bn is None:
            return None
        from .folded import bn_fold  # lazily (no cycle: folded does not import this module)

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


class DelaySNN(nn.Module):
    """Feedforward DCLS-delay SNN. ``forward(x[B, T, in]) -> readout voltages [B, T', out]``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        sizes = cfg.sizes
        self.hidden = nn.ModuleList(HiddenLayer(cfg, n) for n in sizes[:-2])
        self.readout = DelayedDense(sizes[-2], cfg.output_size, cfg.max_delay, cfg.kernel_count)
        # True: BatchNorm normalizes with its running statistics in training too, and leaves
        # them as they are (binary/ternary QAT: see delaysnn.train, issue 11)
        self.freeze_bn_stats = False

    def train(self, mode: bool = True) -> DelaySNN:
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for layer in self.hidden:
                if layer.bn is not None:
                    layer.bn.eval()
        return self

    @property
    def synapses(self) -> list[DelayedDense]:
        return [layer.synapse for layer in self.hidden] + [self.readout]

    def check_input(self, x: torch.Tensor) -> None:
        from .errors import DataError

        if x.dim() != 3 or x.shape[-1] != self.cfg.input_size:
            raise DataError(
                f"input has shape {tuple(x.shape)}; expected [batch, time, {self.cfg.input_size}] "
                f"(the model's input_size)"
            )

    def forward_trace(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Readout voltages and every hidden layer's spikes (after dropout)."""
        self.check_input(x)
        cfg = self.cfg
        right_pad = None
        if not cfg.truncate_layers:
            x = F.pad(x, (0, 0, 0, cfg.output_steps(x.shape[1]) - x.shape[1]))
            right_pad = 0
        spikes = []
        for layer in self.hidden:
            x = layer(x, right_pad)
            spikes.append(x)
        v = leaky_integrator(self.readout(x, right_pad), cfg.readout_tau)
        return v, spikes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_trace(x)[0]

    def set_learn_positions(self, learn: bool) -> None:
        for syn in self.synapses:
            syn.learn_positions = learn
            syn.pos.requires_grad_(learn)

    def set_qat(self, bits: int | None, binary: bool = False, ternary: bool = False) -> None:
        """Train through the weight quantizer (straight-through estimator); None/False: off."""
        qat = None if bits is None and not binary and not ternary else (bits, binary, ternary)
        for syn in self.synapses:
            syn.qat = qat

    def set_delay_qat(self, bits: int | None, mode: str = "step") -> None:
        """Train through the delay grid of ``bits`` per layer (``grids.delay_grid``, ``step`` or
        ``cap``): positions snap to it in every forward pass; None: off."""
        if bits is not None:
            check_delay_bits(bits, mode)
        for syn in self.synapses:
            syn.delay_qat = None if bits is None else (int(bits), mode)

    def set_prune_masks(self, masks: list[torch.Tensor] | None) -> None:
        """One keep-mask per synapse layer (``[out, in]``, hidden layers then the readout), e.g.
        from ``grids.prune_masks``; pruned weights are set to 0 and held there. None: off."""
        masks = [None] * len(self.synapses) if masks is None else masks
        if len(masks) != len(self.synapses):
            raise ValueError(f"{len(masks)} prune masks for {len(self.synapses)} synapse layers")
        for syn, mask in zip(self.synapses, masks):
            syn.set_prune_mask(mask)

    def apply_prune_masks(self) -> None:
        for syn in self.synapses:
            syn.apply_prune_mask()

    def deployed_delays(self) -> list[torch.Tensor]:
        """Per synapse layer, the integer delays the forward pass uses: the rounded delays,
        snapped to the layer's grid during delay QAT."""
        out = []
        for k, syn in enumerate(self.synapses):
            gain = self.hidden[k].qat_row_gain() if k < len(self.hidden) else None
            grid = syn.qat_delay_grid(row_gain=gain)
            out.append(syn.delays() if grid is None else grid.snap(syn.delays()))
        return out

    def set_sigma(self, sigma: float) -> None:
        for syn in self.synapses:
            syn.sig.fill_(sigma)

    @property
    def sigma(self) -> float:
        return float(self.readout.sig.flatten()[0])

    def clamp_positions(self) -> None:
        for syn in self.synapses:
            syn.clamp_positions()

    def round_positions(self) -> None:
        """Freeze the delays: round positions (half to even, as SNN-delays), sigma to 0."""
        with torch.no_grad():
            for syn in self.synapses:
                syn.pos.copy_(rounded_positions(syn.pos, syn.max_delay))
        self.set_sigma(0.0)
        self.set_learn_positions(False)

    def set_delays(self, delay: int) -> None:
        """Set every synapse's delay to ``delay`` steps (e.g. 0 for the no-delay baseline)."""
        with torch.no_grad():
            for syn in self.synapses:
                syn.pos.fill_(float(position_limit(syn.max_delay) - delay))


def class_scores(v: torch.Tensor) -> torch.Tensor:
    """SNN-delays' 'sum' readout: ``sum_t softmax(v_t)``, ``[B, classes]``."""
    return torch.softmax(v, dim=-1).sum(dim=1)


def predict(v: torch.Tensor) -> torch.Tensor:
    return class_scores(v).argmax(dim=-1)

"""The whole float network, :class:`DelaySNN`, and its readout decisions (:func:`class_scores`, :func:`predict`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ir.folded import FoldedNetwork
from ..quantization.grids import check_delay_bits
from .config import ModelConfig
from .dcls import position_limit, rounded_positions
from .layers import DelayedDense, HiddenLayer, leaky_integrator


class DelaySNN(nn.Module):
    """Feedforward DCLS-delay SNN. ``forward(x[B, T, in]) -> readout voltages [B, T', out]``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        sizes = cfg.sizes
        self.hidden = nn.ModuleList(HiddenLayer(cfg, n) for n in sizes[:-2])
        self.readout = DelayedDense(sizes[-2], cfg.output_size, cfg.max_delay, cfg.kernel_count, cfg.delay_kind, cfg.delay_fraction < 1)
        # True: BatchNorm normalizes with its running statistics in training too, and leaves
        # them as they are (binary/ternary QAT: see delaysnn.training.train, issue 11)
        self.freeze_bn_stats = False

    def train(self, mode: bool = True) -> DelaySNN:
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for layer in self.hidden:
                if layer.bn is not None:
                    layer.bn.eval()
        return self

    def set_dropout(self, dropout: float) -> None:
        """The hidden layers' dropout (fine-tuning a checkpoint at another rate). They read it from
        the config they share with the model, which the checkpoint records."""
        from dataclasses import replace

        cfg = replace(self.cfg, dropout=float(dropout))  # validated as every config is
        for module in (self, *self.hidden):
            module.cfg = cfg

    @property
    def synapses(self) -> list[DelayedDense]:
        return [layer.synapse for layer in self.hidden] + [self.readout]

    def check_input(self, x: torch.Tensor) -> None:
        from ..errors import DataError

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

    def folded(self, *, transforms: bool = True) -> FoldedNetwork:
        """The float IR of this model (:func:`delaysnn.model.fold.fold`): how the quantizer and the
        float exporters read it without importing the torch model."""
        from .fold import fold

        return fold(self, transforms=transforms)

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
        """Freeze the delays: round positions (half to even, as SNN-delays), sigma to 0; with
        ``delay_fraction < 1``, the delay masks are picked first if training has not yet."""
        from .delay_kinds import apply_delay_fraction, masks_picked

        if self.cfg.delay_fraction < 1 and not masks_picked(self):
            apply_delay_fraction(self)
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

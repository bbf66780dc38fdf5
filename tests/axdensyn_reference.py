"""The AxDenSynDelaySNN reference model (``SNN_delays`` of github YounesBouhadjar/AxDenSynDelaySNN,
MIT), written again from its description on the real libraries: DCLS ``Dcls1d`` and SpikingJelly
``BatchNorm1d`` / ``LIFNode`` / ``Dropout``; its state_dict keys are theirs (``snn.<i>.<module>``).

Each layer: synaptic delays ``pad -> Dcls1d(in, out) -> BN -> LIF``; axonal ``pad -> depthwise
Dcls1d(in, in) (weights 1) -> Linear(in, out) -> BN -> LIF``; dendritic ``pad -> Linear -> depthwise
Dcls1d(out, out) -> BN -> LIF``; the readout without BN, a LIF that never fires (threshold 1e9)
whose ``v_seq`` is the output. Their learned axonal delay mask: the ``int((1 - S) n)`` most
probable ``sigmoid(delay_scores)`` neurons take the delayed signal, the others the padded input
itself, the delayed one zero-padded on the right to its length. Used by ``tests/test_convert_axdensyn.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d
from spikingjelly.activation_based import layer, neuron, surrogate
from torch import nn

__all__ = ["AxDenSynReference"]


class _MaskedDelay(Dcls1d):
    """A depthwise Dcls1d with their learned per-neuron mask (``delay_scores``) at its final sparsity."""

    def __init__(self, channels: int, max_delay: int, sparsity: float):
        super().__init__(channels, channels, kernel_count=1, groups=channels, dilated_kernel_size=max_delay, bias=False, version="gauss")
        self.sparsity = sparsity
        self.delay_scores = nn.Parameter(torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        prob = torch.sigmoid(self.delay_scores)
        k = max(1, min(int((1.0 - self.sparsity) * prob.numel()), prob.numel()))
        m = (prob >= torch.topk(prob, k=k).values.min()).float().view(1, -1, 1)
        y = F.pad(y, (0, x.shape[2] - y.shape[2]))  # time axis: to the padded input's length
        return m * y + (1.0 - m) * x


class _Layer(nn.Module):
    def __init__(self, n_in: int, n_out: int, kind: str, max_delay: int, tau: float, hidden: bool, sparsity: float | None):
        super().__init__()
        self.kind, self.hidden, self.max_delay = kind, hidden, max_delay
        if kind == "synaptic":
            self.delay_layer = Dcls1d(n_in, n_out, kernel_count=1, groups=1, dilated_kernel_size=max_delay, bias=False, version="gauss")
        else:
            width = n_in if kind == "axonal" else n_out
            if sparsity is not None:
                self.delay_layer = _MaskedDelay(width, max_delay, sparsity)
            else:
                self.delay_layer = Dcls1d(width, width, kernel_count=1, groups=width, dilated_kernel_size=max_delay, bias=False,
                                          version="gauss")
            with torch.no_grad():
                self.delay_layer.weight.fill_(1.0)
            self.W = nn.Linear(n_in, n_out, bias=False)
        if hidden:
            self.norm = layer.BatchNorm1d(n_out, step_mode="m")
        self.neuron = neuron.LIFNode(tau=tau, v_threshold=1.0 if hidden else 1e9, surrogate_function=surrogate.ATan(alpha=5.0),
                                     detach_reset=True, step_mode="m", decay_input=False, store_v_seq=True)
        self.drop = layer.Dropout(0.25, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(time, batch, features) -> spikes (time', batch, out)."""
        pad = (self.max_delay - 1, (self.max_delay - 1) // 2)
        if self.kind == "dendritic":
            x = self.W(F.pad(x, (0, 0, 0, 0, *pad)))
            x = self.delay_layer(x.permute(1, 2, 0)).permute(2, 0, 1)
        else:
            x = self.delay_layer(F.pad(x.permute(1, 2, 0), pad)).permute(2, 0, 1)
            if self.kind == "axonal":
                x = self.W(x)
        if self.hidden:
            x = self.norm(x.unsqueeze(3)).squeeze(3)
        spikes = self.neuron(x)
        return self.drop(spikes) if self.hidden else spikes


class AxDenSynReference(nn.Module):
    """Their layer list ``snn`` (hidden layers, then the readout); ``forward`` gives the readout's
    ``v_seq`` (time', batch, out) and keeps each hidden layer's spikes in ``self.spikes``."""

    def __init__(self, n_in: int, n_hidden: int, n_layers: int, n_out: int, kind: str, max_delay: int, *,
                 tau: float = (10.05 + 1e-9) / 10, sparsity: float | None = None):
        super().__init__()
        sizes = [n_in] + [n_hidden] * n_layers + [n_out]
        self.snn = nn.ModuleList(
            _Layer(a, b, kind, max_delay, tau, i < n_layers, sparsity) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        )

    def randomize(self, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for lay in self.snn:
                w = lay.W.weight if hasattr(lay, "W") else lay.delay_layer.weight
                fan_in = w.shape[1]
                w.copy_((torch.rand(w.shape, generator=gen) * 2 - 0.6) * 2.5 / fan_in**0.5)
                lim = lay.max_delay // 2
                lay.delay_layer.P.copy_((torch.rand(lay.delay_layer.P.shape, generator=gen) * 2 - 1) * lim)
                lay.delay_layer.SIG.fill_(0.23)
                if hasattr(lay.delay_layer, "delay_scores"):
                    lay.delay_layer.delay_scores.copy_(torch.randn(lay.delay_layer.delay_scores.shape, generator=gen))
                if lay.hidden:
                    c = lay.norm.running_mean.shape[0]
                    lay.norm.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                    lay.norm.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.3)
                    lay.norm.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    lay.norm.bias.copy_(torch.randn(c, generator=gen) * 0.3 + 0.2)

    def eval_transform(self) -> None:
        """Their evaluation: SIG *= 0, version 'max', positions rounded and clamped."""
        self.eval()
        with torch.no_grad():
            for lay in self.snn:
                dcls = lay.delay_layer
                dcls.SIG *= 0
                dcls.version = dcls.DCK.version = "max"
                dcls.P.round_()
                dcls.clamp_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.spikes = []
        for lay in self.snn[:-1]:
            x = lay(x)
            self.spikes.append(x)
        self.snn[-1](x)
        return self.snn[-1].neuron.v_seq

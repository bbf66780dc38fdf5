"""The SNN-delays reference model (``SnnDelays`` of github Thvnvtos/SNN-delays) built from the
real libraries: DCLS ``Dcls1d`` and SpikingJelly ``BatchNorm1d`` / ``LIFNode`` / ``Dropout``.

Shared by ``tests/test_convert.py`` (our import reproduces its outputs) and ``bench/speech.py``
(training speed against it). Needs the test extra (``dcls``, ``spikingjelly``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d
from spikingjelly.activation_based import layer, neuron, surrogate
from torch import nn

__all__ = ["Reference"]


def _lif(tau: float, threshold: float) -> neuron.LIFNode:
    return neuron.LIFNode(
        tau=tau, v_threshold=threshold, surrogate_function=surrogate.ATan(alpha=5.0), detach_reset=True,
        step_mode="m", decay_input=False, store_v_seq=True,
    )


class Reference(nn.Module):
    """SnnDelays' layer layout and forward (snn_delays.py), held in ``self.model`` as theirs."""

    def __init__(
        self, n_in: int, n_hidden: int, n_layers: int, n_out: int, max_delay: int, *, batchnorm: bool = True,
        kernel_count: int = 1, tau: float = (10.05 + 1e-9) / 10, dropout: float = 0.4,
        synapse_filter: str | None = None, neuron_type: str = "lif",
    ):
        super().__init__()
        self.max_delay, self.n_layers, self.batchnorm = max_delay, n_layers, batchnorm
        self.synapse_filter = synapse_filter
        layers: list[nn.Module] = []
        self.index: list[dict[str, int]] = []  # plain list: not registered
        for i in range(n_layers + 1):
            hidden = i < n_layers
            idx = {"dcls": len(layers)}
            layers.append(Dcls1d(
                n_in if i == 0 else n_hidden, n_hidden if hidden else n_out, kernel_count=kernel_count, groups=1,
                dilated_kernel_size=max_delay, bias=False, version="gauss",
            ))
            if hidden and batchnorm:
                idx["bn"] = len(layers)
                layers.append(layer.BatchNorm1d(n_hidden, step_mode="m"))
            idx["lif"] = len(layers)
            if neuron_type == "plif":
                layers.append(neuron.ParametricLIFNode(
                    init_tau=tau, v_threshold=1.0 if hidden else 1e9, surrogate_function=surrogate.ATan(alpha=5.0),
                    detach_reset=True, step_mode="m", decay_input=False, store_v_seq=True,
                ))
            else:
                layers.append(_lif(tau, 1.0 if hidden else 1e9))
            if hidden:
                idx["dropout"] = len(layers)
                layers.append(layer.Dropout(dropout, step_mode="m"))
                if synapse_filter is not None:
                    idx["sf"] = len(layers)
                    layers.append(layer.SynapseFilter(tau=1.5, learnable=synapse_filter == "learnable", step_mode="m"))
            self.index.append(idx)
        self.model = nn.Sequential(*layers)

    def part(self, i: int, name: str) -> nn.Module:
        return self.model[self.index[i][name]]

    def randomize(self, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        lim = self.max_delay // 2
        with torch.no_grad():
            for i in range(self.n_layers + 1):
                dcls = self.part(i, "dcls")
                fan_in = dcls.weight.shape[1]
                dcls.weight.copy_((torch.rand(dcls.weight.shape, generator=gen) * 2 - 0.6) * 2.5 / fan_in**0.5)
                dcls.P.copy_((torch.rand(dcls.P.shape, generator=gen) * 2 - 1) * lim)
                dcls.SIG.fill_(0.23)
                if i < self.n_layers and self.batchnorm:
                    bn = self.part(i, "bn")
                    c = bn.running_mean.shape[0]
                    bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                    bn.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.3)
                    bn.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    bn.bias.copy_(torch.randn(c, generator=gen) * 0.3 + 0.2)
                    bn.num_batches_tracked.fill_(123)

    def eval_transform(self) -> None:
        """Their ``eval_model``: SIG *= 0, version 'max', round_pos (round_ + clamp_parameters)."""
        self.eval()
        with torch.no_grad():
            for i in range(self.n_layers + 1):
                dcls = self.part(i, "dcls")
                dcls.SIG *= 0
                dcls.version = "max"
                dcls.DCK.version = "max"
                dcls.P.round_()
                dcls.clamp_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` is (time, batch, neurons); returns the readout ``v_seq`` (time', batch, out)."""
        pad = (self.max_delay - 1, (self.max_delay - 1) // 2)
        self.spikes = []
        for i in range(self.n_layers):
            x = F.pad(x.permute(1, 2, 0), pad, "constant", 0)
            x = self.part(i, "dcls")(x).permute(2, 0, 1)
            if self.batchnorm:
                x = self.part(i, "bn")(x.unsqueeze(3)).squeeze()
            spikes = self.part(i, "lif")(x)
            self.spikes.append(spikes)
            x = self.part(i, "dropout")(spikes)
            if self.synapse_filter is not None:
                x = self.part(i, "sf")(x)
        out = self.part(self.n_layers, "dcls")(F.pad(x.permute(1, 2, 0), pad, "constant", 0)).permute(2, 0, 1)
        readout = self.part(self.n_layers, "lif")
        readout(out)
        return readout.v_seq

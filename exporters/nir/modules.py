"""Run delaysnn's NIR graphs (and plain LIF/LI graphs) in PyTorch with ``nirtorch.nir_to_torch``.

NIR 1.0's ``Delay`` has no module in nirtorch; this file ships one, plus modules for ``Linear``,
``Affine`` (nirtorch 2.6's default mapping of ``Affine`` leaves the bias random: it assigns
``module.weight.bias``), ``LIF``, ``CubaLIF``, ``LI`` and ``CubaLI`` in the conventions of
``exporters.nir`` (Euler steps of ``dt``, input added as ``r * dt / tau`` times the current,
hard reset to ``v_reset``, spikes on ``v > v_threshold``).

nirtorch runs a graph one time step per call: every module whose ``forward`` has a ``state``
argument is called ``module(x_t, state=previous)`` and returns ``(output, new_state)``; the
first call gets ``state=None``. The ``Delay`` module keeps the last ``max(steps)`` inputs as
its state, so it delays each channel by its own whole number of steps.

Usage::

    from exporters.nirtorch_delay import to_torch, run_steps  # re-exports this module
    module = to_torch("model.nir")          # dt from the graph metadata (or dt=...)
    out = run_steps(module, x)              # x [batch, time, channels] -> [batch, time, out]

The neuron updates are written op for op like the float model's (``v = v - v / tau + x``), so
where float arithmetic is exact the outputs equal the model's bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from delaysnn.errors import MissingDependencyError, UnsupportedError

from .common import delay_steps, graph_dt  # whole steps of a Delay's seconds: one rule for every reader
from .files import load_graph


def _f32(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, np.float64).reshape(-1), dtype=torch.float32)


class Delay(nn.Module):
    """``y_c(t) = x_c(t - steps_c)``: a per-channel delay of whole time steps (ring of past inputs).

    State: the previous ``max(steps)`` inputs, newest first (``None`` before the first step:
    the past is zero)."""

    def __init__(self, steps: Any):
        super().__init__()
        steps = torch.as_tensor(np.asarray(steps).reshape(-1), dtype=torch.int64)
        if steps.numel() and int(steps.min()) < 0:
            raise UnsupportedError("Delay: negative delays cannot run causally")
        self.register_buffer("steps", steps)
        self.depth = int(steps.max()) if steps.numel() else 0

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = x.new_zeros((self.depth, *x.shape))
        history = torch.cat([x.unsqueeze(0), state], dim=0)  # [depth + 1, ..., channels]
        index = self.steps.expand(x.shape).unsqueeze(0)
        return history.gather(0, index).squeeze(0), history[: self.depth]


class _Neuron(nn.Module):
    """Shared parameters: ``tau`` in steps, input gain ``r * dt / tau``, per-step ``v_leak * dt / tau``."""

    def __init__(self, tau: Any, r: Any, v_leak: Any, dt: float):
        super().__init__()
        tau64 = np.asarray(tau, np.float64).reshape(-1)
        self.register_buffer("tau_steps", _f32(tau64 / dt))
        self.register_buffer("gain", _f32((np.asarray(r, np.float64).reshape(-1) * dt) / tau64))
        self.register_buffer("leak", _f32(np.asarray(v_leak, np.float64).reshape(-1) * dt / tau64))

    def integrate(self, v: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """``v = v - v / tau + gain * current + leak`` (the model's order of operations)."""
        return v - v / self.tau_steps + self.gain * current + self.leak


class LIF(_Neuron):
    """NIR ``LIF``; state ``v``; output spikes (``v > v_threshold``, then ``v = v_reset``)."""

    def __init__(self, node: Any, dt: float):
        super().__init__(node.tau, node.r, node.v_leak, dt)
        self.register_buffer("v_threshold", torch.as_tensor(np.asarray(node.v_threshold).reshape(-1).astype(np.float32)))
        self.register_buffer("v_reset", _f32(node.v_reset))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.integrate(torch.zeros_like(x) if state is None else state, x)
        spikes = v > self.v_threshold
        return spikes.to(x.dtype), torch.where(spikes, self.v_reset.expand_as(v), v)


class LI(_Neuron):
    """NIR ``LI``; state and output ``v``."""

    def __init__(self, node: Any, dt: float):
        super().__init__(node.tau, node.r, node.v_leak, dt)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.integrate(torch.zeros_like(x) if state is None else state, x)
        return v, v


class _Current(nn.Module):
    """The synaptic current of ``CubaLIF``/``CubaLI``: ``i = i - i / tau_syn + (w_in dt / tau_syn) x``."""

    def __init__(self, tau_syn: Any, w_in: Any, dt: float):
        super().__init__()
        tau64 = np.asarray(tau_syn, np.float64).reshape(-1)
        self.register_buffer("tau_steps", _f32(tau64 / dt))
        self.register_buffer("gain", _f32((np.asarray(w_in, np.float64).reshape(-1) * dt) / tau64))

    def forward(self, i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return i - i / self.tau_steps + self.gain * x


class CubaLIF(LIF):
    """NIR ``CubaLIF``; state ``(i, v)``; the voltage integrates the updated current."""

    def __init__(self, node: Any, dt: float):
        _Neuron.__init__(self, node.tau_mem, node.r, node.v_leak, dt)
        self.register_buffer("v_threshold", torch.as_tensor(np.asarray(node.v_threshold).reshape(-1).astype(np.float32)))
        self.register_buffer("v_reset", _f32(node.v_reset))
        self.current = _Current(node.tau_syn, node.w_in, dt)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, Any]:
        i, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i = self.current(i, x)
        spikes, v = LIF.forward(self, i, v)
        return spikes, (i, v)


class CubaLI(LI):
    """NIR ``CubaLI``; state ``(i, v)``; output ``v``."""

    def __init__(self, node: Any, dt: float):
        _Neuron.__init__(self, node.tau_mem, node.r, node.v_leak, dt)
        self.current = _Current(node.tau_syn, node.w_in, dt)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, Any]:
        i, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i = self.current(i, x)
        v = self.integrate(v, i)
        return v, (i, v)


def _linear(node: Any) -> nn.Linear:
    weight = torch.as_tensor(np.asarray(node.weight, np.float32))
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=hasattr(node, "bias"))
    with torch.no_grad():
        module.weight.copy_(weight)
        if module.bias is not None:
            module.bias.copy_(torch.as_tensor(np.asarray(node.bias, np.float32).reshape(-1)))
    return module


def node_map(dt: float) -> dict[type, Callable[[Any], nn.Module]]:
    """``nirtorch.nir_to_torch`` node map for graphs stepped every ``dt`` seconds."""
    try:
        import nir
    except ImportError as err:
        raise MissingDependencyError("running NIR graphs needs 'nir' and 'nirtorch': pip install 'delaysnn[nir]'") from err
    if not dt > 0:
        raise UnsupportedError(f"dt={dt}: the time step must be positive")
    return {
        nir.Delay: lambda node: Delay(delay_steps(node.delay, dt)),
        nir.Linear: _linear,
        nir.Affine: _linear,
        nir.LIF: lambda node: LIF(node, dt),
        nir.CubaLIF: lambda node: CubaLIF(node, dt),
        nir.LI: lambda node: LI(node, dt),
        nir.CubaLI: lambda node: CubaLI(node, dt),
    }


def to_torch(graph: Any, dt: float | None = None) -> torch.fx.GraphModule:
    """A stepwise torch module of a NIR graph (a ``nir.NIRGraph``, ``.nir`` path or bytes).

    ``dt`` (seconds per step) defaults to the graph metadata's ``dt`` (delaysnn writes it)."""
    try:
        import nirtorch
    except ImportError as err:
        raise MissingDependencyError("running NIR graphs needs 'nirtorch': pip install 'delaysnn[nir]'") from err
    graph = load_graph(graph)
    return nirtorch.nir_to_torch(graph, node_map(graph_dt(graph, dt)))


def run_steps(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step ``module`` over ``x[batch, time, channels]``; outputs stacked ``[batch, time, ...]``."""
    state = None
    outputs = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out, state = module(x[:, t], state)
            outputs.append(out)
    return torch.stack(outputs, dim=1)


__all__ = ["CubaLI", "CubaLIF", "Delay", "LI", "LIF", "delay_steps", "node_map", "run_steps", "to_torch"]

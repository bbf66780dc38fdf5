"""The verify backend ``nir``: our integer NIR graph run by a standard executor, not read back.

``nirtorch.nir_to_torch`` builds a stepwise torch module from the graph and a node map; it takes
any ``nn.Module`` per node type, so Loihi's integer LIF needs no executor of our own, only
modules that read the standard fields in integer units (the graph's conventions,
``exporters.nir``): ``Linear``/``Affine`` as float64 products (every partial sum is an integer
below 2**53, which ``delaysnn.sim`` checks before it runs, so they are exact), our ``Delay``
module (whole steps of ``dt``; the layer latency is in the Delay values, so the run lands on
``sim.alignment``'s time axis with no shift), and :class:`LoihiNeuron`, which recovers ``du``,
``dv``, the bias and ``vth << 6`` from ``tau_syn``, ``tau``/``tau_mem``, ``v_leak`` or the
Affine bias and ``v_threshold`` and steps them with ``delaysnn.sim``'s update rules (the
arithmetic is stated once, there). The metadata is never read: what runs is what a peer reads.

One difference from the NIR equations is deliberate: Loihi adds the bias to ``v`` after the
current register, so an Affine bias (where our graphs put a plain LIF's) is handed to the
neuron instead of being added to the current (the same numbers unless ``u`` wraps).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from delaysnn.constants import CURRENT_DECAY_OFFSET, DECAY_MAX, DECAY_UNITY
from delaysnn.errors import UnsupportedError
from delaysnn.ir import DelayNetwork
from delaysnn.sim import (
    SimResult,
    alignment,
    as_input,
    current_update,
    effective_threshold,
    spike_and_reset,
    voltage_update,
    wrap32,
)

from .common import NO_LEAK_TAU_STEPS, delay_steps, graph_dt, nir_module
from .files import load_graph, to_bytes
from .graph import export_ir
from .modules import Delay, run_steps
from .structure import chain

_GAIN_TOLERANCE = 1e-6  # r * dt / tau and w_in * dt / tau_syn must be 1 (input added undecayed)
_SPARSE_FRACTION = 0.25  # below this density a sparse product is faster (measured, 256 x 13478)
_INTEGER_TOLERANCE = 1e-6  # a field value read as an integer register may be off by this (float rounding)


class ExactLinear(nn.Module):
    """``y = x @ W.T`` in float64, exact on integers whose partial sums stay below 2**53. A
    fan-out (every row one-hot, our ``F``) is a plain gather; a sparse ``W'`` (3% dense on the
    SHD-shaped network) a sparse product."""

    def __init__(self, weight: Any):
        super().__init__()
        w = np.asarray(weight, np.float64)
        rows, cols = np.nonzero(w)
        self.one_hot = bool(w.size) and np.all(w[rows, cols] == 1) and np.array_equal(rows, np.arange(w.shape[0]))
        self.register_buffer("pick", torch.as_tensor(cols))
        self.register_buffer("weight", torch.as_tensor(w))
        self.sparse = rows.size < _SPARSE_FRACTION * w.size
        self._coo: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        if self.one_hot:
            return x.index_select(-1, self.pick)
        if not self.sparse:
            return x @ self.weight.T
        if self._coo is None:  # after nirtorch's .to(dtype): built from the float64 buffer
            self._coo = self.weight.to_sparse().coalesce()
        return torch.sparse.mm(self._coo, x.reshape(-1, x.shape[-1]).T).T.reshape(*x.shape[:-1], -1)


class RingDelay(Delay):
    """:class:`~exporters.nir.modules.Delay` on a ring buffer written in place: ``O(channels)``
    per step, not ``O(depth x channels)`` (the executor needs no gradients).

    State ``(ring [batch, depth + 1, channels], t)``; channel ``c`` reads slot ``(t - steps_c) mod (depth + 1)``."""

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        size, channels = self.depth + 1, x.shape[-1]
        if state is None:
            state = (x.new_zeros((x.shape[0], size, channels)), 0)
        ring, t = state
        ring[:, t % size] = x
        flat = ((t - self.steps) % size) * channels + torch.arange(channels)
        return ring.view(x.shape[0], size * channels).index_select(1, flat), (ring, t + 1)


def _integers(values: Any, what: str, where: str) -> np.ndarray:
    """Field values that must be whole numbers (integer registers written as floats)."""
    v = np.asarray(values, np.float64).reshape(-1)
    r = np.rint(v)
    if v.size and np.abs(v - r).max() > _INTEGER_TOLERANCE * max(1.0, float(np.abs(v).max())):
        raise UnsupportedError(f"{where}: {what} is not a whole number in Lava's units; not a delaysnn integer graph")
    return r.astype(np.int64)


def _uniform(values: np.ndarray, what: str, where: str) -> int:
    if values.size and np.any(values != values[0]):
        raise UnsupportedError(f"{where}: {what} differs between neurons; a Loihi layer has one")
    return int(values[0])


def _decay(tau: np.ndarray, dt: float, offset: int, what: str, where: str) -> int:
    """The 12-bit decay of time constants ``tau`` (seconds): ``4096 * dt / tau - offset``."""
    steps = tau / dt
    if np.all(np.abs(steps / NO_LEAK_TAU_STEPS - 1) <= _GAIN_TOLERANCE):
        return 0
    value = _uniform(_integers(DECAY_UNITY / steps, what, where), what, where) - offset
    if not 0 <= value <= DECAY_MAX:
        raise UnsupportedError(f"{where}: {what} gives decay {value}, outside 0..{DECAY_MAX}")
    return value


def _unit_gain(scale: Any, tau: np.ndarray, dt: float, what: str, where: str) -> None:
    gain = np.asarray(scale, np.float64).reshape(-1) * dt / tau
    if gain.size and np.abs(gain - 1).max() > _GAIN_TOLERANCE:
        raise UnsupportedError(f"{where}: {what} * dt / tau is {gain.max():g}, not 1; integer graphs add the input undecayed")


class LoihiNeuron(nn.Module):
    """A NIR ``LIF``/``CubaLIF``/``LI``/``CubaLI`` node stepped in Loihi's integer arithmetic.

    Input: the float64 (exactly integer) activation ``W' x`` (``= a << (weight_exp + 6)``, which
    Lava's int32 registers hold as ``wrap32``); state ``(u, v)`` int64; output spikes (0/1) or,
    for ``LI``, the voltage. ``trace``: a list to append every step's output to (or None)."""

    def __init__(self, node: Any, dt: float, bias: np.ndarray | None):
        super().__init__()
        kind = type(node).__name__
        where = f"{kind} node"
        cuba = kind.startswith("Cuba")
        tau = np.asarray(node.tau_mem if cuba else node.tau, np.float64).reshape(-1)
        _unit_gain(node.r, tau, dt, "r", where)
        self.dv = _decay(tau, dt, 0, "tau", where)
        self.du = DECAY_MAX  # no current filter: u holds one step's input
        if cuba:
            tau_syn = np.asarray(node.tau_syn, np.float64).reshape(-1)
            _unit_gain(node.w_in, tau_syn, dt, "w_in", where)
            self.du = _decay(tau_syn, dt, CURRENT_DECAY_OFFSET, "tau_syn", where)
        if cuba and bias is not None and np.any(bias != 0):
            raise UnsupportedError(f"{where}: an Affine bias into a {kind} passes its current filter; integer graphs put it in v_leak")
        leak = np.asarray(node.v_leak, np.float64).reshape(-1) * dt / tau  # per-step bias (v_leak * dt / tau)
        total = leak + (0.0 if bias is None else np.asarray(bias, np.float64).reshape(-1))
        self.bias = _integers(total, "the bias", where)
        self.spiking = kind in ("LIF", "CubaLIF")
        self.vth = _integers(node.v_threshold, "v_threshold", where) if self.spiking else np.int64(effective_threshold(None))
        self.trace: list[np.ndarray] | None = None

    def forward(self, x: torch.Tensor, state: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[torch.Tensor, Any]:
        act = wrap32(np.rint(x.detach().cpu().numpy()).astype(np.int64))
        u, v = (np.zeros_like(act), np.zeros_like(act)) if state is None else state
        u = current_update(u, act, self.du)
        v = voltage_update(v, u, self.dv, self.bias)
        s, v = spike_and_reset(v, self.vth)
        out = s if self.spiking else v
        if self.trace is not None:
            self.trace.append(out)
        return torch.from_numpy(out.astype(np.float64)), (u, v)


def node_map(graph: Any, dt: float) -> tuple[dict[type, Any], dict[int, LoihiNeuron]]:
    """``nirtorch.nir_to_torch``'s node map for an integer graph, and the neuron module made for
    each neuron node (by ``id``). Each Affine bias goes to the neuron it feeds."""
    nir = nir_module()
    _, segments = chain(graph)
    bias_of: dict[int, np.ndarray] = {}
    for seg in segments:
        for position, (name, node) in enumerate(seg.ops):
            kind = type(node).__name__
            if kind not in ("Linear", "Affine", "Delay"):
                raise UnsupportedError(f"node {name!r} ({kind}): integer graphs hold Linear, Delay and Affine nodes only")
            if kind == "Affine" and position != len(seg.ops) - 1 and np.any(np.asarray(node.bias) != 0):
                raise UnsupportedError(f"node {name!r}: an Affine bias must feed the neuron directly in an integer graph")
        last = seg.ops[-1][1] if seg.ops else None
        if type(last).__name__ == "Affine":
            bias_of[id(seg.neuron)] = np.asarray(last.bias, np.float64)
    made: dict[int, LoihiNeuron] = {}

    def neuron(node: Any) -> LoihiNeuron:
        made[id(node)] = LoihiNeuron(node, dt, bias_of.get(id(node)))
        return made[id(node)]

    linear = lambda node: ExactLinear(node.weight)  # noqa: E731 (the Affine bias is the neuron's)
    mapping = {
        nir.Delay: lambda node: RingDelay(delay_steps(node.delay, dt)),
        nir.Linear: linear,
        nir.Affine: linear,
        nir.LIF: neuron,
        nir.CubaLIF: neuron,
        nir.LI: neuron,
        nir.CubaLI: neuron,
    }
    return mapping, made


def execute(graph: Any, x: np.ndarray, steps: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Step an integer graph ``steps`` times on integer payloads ``x [batch, T, in]`` (zeros after
    ``T``): every hidden layer's spikes (bool) and the readout's voltages (int64), ``[batch, steps, n]``."""
    from exporters._deps import require

    nirtorch = require("nirtorch", extra="nir")
    mapping, made = node_map(graph, graph_dt(graph))
    module = nirtorch.nir_to_torch(graph, mapping, dtype=torch.float64)  # float64: integer sums stay exact
    _, segments = chain(graph)
    neurons = [made[id(seg.neuron)] for seg in segments]
    xt = torch.zeros((x.shape[0], steps, x.shape[2]), dtype=torch.float64)
    t = min(steps, x.shape[1])
    xt[:, :t] = torch.from_numpy(np.asarray(x[:, :t], np.float64))
    for m in neurons:
        m.trace = []
    try:
        run_steps(module, xt)
        traces = [np.stack(m.trace, axis=1) for m in neurons]
    finally:
        for m in neurons:
            m.trace = None
    return traces[:-1], traces[-1]


def run(net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
    """The integer NIR graph of ``net`` (written and read back as a file) executed by nirtorch:
    hidden spikes and readout voltages on ``delaysnn.sim``'s time axis (``steps`` as the sim's)."""
    xs = as_input(net, x)
    align = alignment(net, xs.shape[1], steps)
    graph = load_graph(to_bytes(export_ir(net)))
    spikes, voltages = execute(graph, xs, align.steps)
    return SimResult(
        spikes=[np.ascontiguousarray(s).astype(np.uint8) for s in spikes],
        voltages=voltages.astype(np.int32),
        alignment=align,
        readout_scale=float(net.readout_scale),
    )

"""Activity counts of one inference: events, synaptic ops, neuron updates, spikes, messages.

Counts come from simulated activity (``delaysnn.sim``), summed as integers over samples
(:class:`Activity`, so a long input is counted a batch at a time) and reported per inference
(:class:`LayerCounts`, means over samples). Zero weights are absent synapses: they are no
fan-out, carry no arrival and send no message (pruned and ternary-zero synapses cost nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from ..ir import DelayLayer, DelayNetwork
from .storage import cores_needed

DEFAULT_STEPS = 100
DEFAULT_RATE = 0.05
DEFAULT_SAMPLES = 8
DEFAULT_SEED = 0


@dataclass
class LayerCounts:
    """Per-inference counts of one layer (the synapses into it and its neurons)."""

    index: int
    kind: str  # "hidden" or "readout"
    fan_in: int
    neurons: int
    steps: int  # steps this layer runs
    max_delay: int
    graded_input: bool  # its source events carry multi-bit payloads
    synapses: int
    nonzero_synapses: int
    input_events: float  # events emitted by the source population
    input_payload: float  # sum of their payloads
    synaptic_ops: float
    synaptic_ops_payload: float
    dense_macs: float
    neuron_updates: float
    active_updates: float
    inactive_updates: float
    spikes: float  # emitted by this layer (0 for the readout)
    firing_rate: float  # spikes per neuron per step
    firing_rate_hz: float
    spike_messages: float  # input events delivered to this layer's cores
    cores: int


# --- counting: small pure functions ----------------------------------------------------------


def nonzero_fanout(weight: np.ndarray) -> np.ndarray:
    """``[in]``: how many non-zero weights leave each source neuron."""
    return np.count_nonzero(weight, axis=0)


def event_counts(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per source neuron, per inference: ``(events, payload sum)`` of ``events[batch, steps, in]``."""
    batch = max(events.shape[0], 1)
    nonzero = np.count_nonzero(events, axis=(0, 1)) / batch
    payload = np.abs(events).sum(axis=(0, 1), dtype=np.float64) / batch
    return nonzero.astype(np.float64), payload


def synaptic_ops(events: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """``(ops, payload-weighted ops)`` per inference: events x non-zero fan-out."""
    return ops_of_counts(*event_counts(events), weight)


def ops_of_counts(n_events: np.ndarray, payload: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """:func:`synaptic_ops` from :func:`event_counts` already taken."""
    fanout = nonzero_fanout(weight).astype(np.float64)
    return float(n_events @ fanout), float(payload @ fanout)


def arrivals(events: np.ndarray, weight: np.ndarray, delay: np.ndarray, steps: int) -> np.ndarray:
    """``bool [batch, steps, out]``: some event reaches the neuron at that step through a non-zero weight.

    The sim's synaptic input with every non-zero weight set to 1 and every event to a spike: an
    event at step ``t`` through a synapse of delay ``d`` arrives at ``t + 1 + d`` (DESIGN section
    4); arrivals at or after ``steps`` drop.
    """
    from ..sim import events as sim_events
    from ..sim import synaptic_input

    spikes = np.ascontiguousarray((np.asarray(events) != 0).transpose(2, 1, 0))  # sim layout [in, time, batch]
    a = synaptic_input(sim_events(spikes, steps, binary=True), (weight != 0).astype(np.int32), delay, steps)
    return (a > 0).transpose(2, 1, 0)


def core_blocks(neurons: int, cores: int) -> np.ndarray:
    """``[neurons]``: the core of each neuron when a layer's neurons fill its cores in index order."""
    per_core = max(math.ceil(neurons / max(cores, 1)), 1)
    return np.arange(neurons) // per_core


def destination_cores(weight: np.ndarray, cores: int) -> np.ndarray:
    """``[in]``: how many of the receiving layer's cores hold at least one non-zero target."""
    blocks = core_blocks(weight.shape[0], cores)
    nz = weight != 0
    return np.array([np.unique(blocks[nz[:, i]]).size for i in range(weight.shape[1])], dtype=np.float64)


def delay_histogram(layer: DelayLayer) -> list[int]:
    """Non-zero synapses per delay value ``0..max_delay`` (each synapse's delay, whatever the kind)."""
    return np.bincount(layer.delay_matrix[layer.weight != 0].ravel(), minlength=layer.max_delay + 1).astype(int).tolist()


# --- inputs and the simulation ---------------------------------------------------------------


def random_input(
    net: DelayNetwork,
    steps: int = DEFAULT_STEPS,
    rate: float = DEFAULT_RATE,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    start: int = 0,
) -> np.ndarray:
    """Deterministic ``int [samples, steps, input_size]``: each value non-zero with probability ``rate``.

    Non-zero values are 1 for binary input, else uniform in ``1..2**input_bits - 1``. Sample ``i``
    is drawn from its own stream (``seed``, ``start + i``), so inputs can be made a batch at a
    time: ``random_input(..., samples=n, start=k)`` equals rows ``k:k+n`` of a larger draw.
    """
    from ..limits import MAX_STEPS

    if not 1 <= steps <= MAX_STEPS:
        raise DataError(f"random input: steps={steps} outside 1..{MAX_STEPS} (delaysnn.limits.MAX_STEPS)")
    top = 2**net.input_bits - 1
    out = np.empty((samples, steps, net.input_size), dtype=np.int32)
    for i in range(samples):
        rng = np.random.default_rng((seed, start + i))
        mask = rng.random((steps, net.input_size)) < rate
        if top > 1:
            out[i] = np.where(mask, rng.integers(1, top + 1, size=mask.shape), 0)
        else:
            out[i] = mask
    return out


def as_batch(x: Any, net: DelayNetwork) -> np.ndarray:
    """``x`` (array or tensor, ``[batch, steps, in]`` or ``[steps, in]``) as checked 3-D payloads
    (the one input validator, :func:`delaysnn.sim.check_payloads`)."""
    from ..sim import check_payloads

    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    return check_payloads(arr[None] if arr.ndim == 2 else arr, net.input_size, net.input_bits)


@dataclass
class Trace:
    """Activity of one run, every array on the run's global step axis (index = step)."""

    events: list[np.ndarray]  # per layer: its source events [batch, steps_src, fan_in]
    spikes: list[np.ndarray | None]  # per layer: its spikes [batch, steps, out] (None: readout)
    steps: list[int]  # per layer: steps it runs


def trace_from_sim(net: DelayNetwork, x: np.ndarray, result: Any) -> Trace:
    """Read a ``delaysnn.sim`` result: hidden spikes ``[batch, steps, n]``, readout voltages."""
    hidden = [np.asarray(s) for s in result.spikes]
    if len(hidden) != len(net.layers) - 1:
        raise DataError(f"sim result has spikes of {len(hidden)} hidden layers, network has {len(net.layers) - 1}")
    voltages = np.asarray(result.voltages)
    steps = [int(s.shape[1]) for s in hidden] + [int(voltages.shape[1])]
    return Trace(events=[x, *hidden], spikes=[*hidden, None], steps=steps)


def run_sim(net: DelayNetwork, x: np.ndarray) -> Any:
    from ..sim import simulate

    return simulate(net, x, record=False)  # the counts read spikes and readout voltages only


# --- summed activity -------------------------------------------------------------------------


@dataclass
class Activity:
    """Integer activity sums over the samples of one or more runs, per layer: what the
    per-inference counts of :func:`layer_counts` divide by ``samples``. Sums of batches add, so a
    long input is counted a batch at a time (:func:`add_activity`) with the same result."""

    samples: int
    steps: list[int]  # per layer: steps it runs
    events: list[np.ndarray]  # per layer: int64 [fan_in] non-zero source events per source neuron
    payload: list[np.ndarray]  # per layer: float64 [fan_in] sum of their payloads (integers, exact)
    active: list[int]  # per layer: (sample, step, neuron) updates with an arrival or a spike
    spikes: list[int]  # per layer: spikes emitted (0 for the readout)


def activity(net: DelayNetwork, trace: Trace) -> Activity:
    """The :class:`Activity` of one traced run."""
    events, payloads, actives, spikes_out = [], [], [], []
    for i, layer in enumerate(net.layers):
        src, spikes, steps = trace.events[i], trace.spikes[i], trace.steps[i]
        events.append(np.count_nonzero(src, axis=(0, 1)).astype(np.int64))
        payloads.append(np.abs(src).sum(axis=(0, 1), dtype=np.float64))
        active = arrivals(src, layer.weight, layer.delay_matrix, steps)
        n_spikes = 0
        if spikes is not None:
            active |= spikes[:, :steps] != 0
            n_spikes = int(np.count_nonzero(spikes))
        actives.append(int(np.count_nonzero(active)))
        spikes_out.append(n_spikes)
    return Activity(
        samples=int(trace.events[0].shape[0]), steps=list(trace.steps), events=events, payload=payloads, active=actives, spikes=spikes_out
    )


def add_activity(a: Activity | None, b: Activity) -> Activity:
    """The sums of two runs of the same network on inputs of the same length."""
    if a is None:
        return b
    if a.steps != b.steps:
        raise DataError(f"estimate: batches run {a.steps} and {b.steps} steps; every batch needs inputs of the same length")
    return Activity(
        samples=a.samples + b.samples,
        steps=a.steps,
        events=[x + y for x, y in zip(a.events, b.events)],
        payload=[x + y for x, y in zip(a.payload, b.payload)],
        active=[x + y for x, y in zip(a.active, b.active)],
        spikes=[x + y for x, y in zip(a.spikes, b.spikes)],
    )


def layer_counts(net: DelayNetwork, act: Activity, core_limits: dict[str, Any]) -> list[LayerCounts]:
    """Per-inference counts (means over ``act.samples``) from summed activity."""
    result = []
    batch = max(act.samples, 1)
    for i, layer in enumerate(net.layers):
        steps = act.steps[i]
        out, fan_in = layer.shape
        n_events = act.events[i].astype(np.float64) / batch
        payload = act.payload[i] / batch
        ops, ops_payload = ops_of_counts(n_events, payload, layer.weight)
        n_spikes = float(act.spikes[i]) / batch
        active_updates = float(act.active[i]) / batch
        cores = cores_needed(layer, core_limits)
        rate = n_spikes / (out * steps) if out * steps else 0.0
        result.append(
            LayerCounts(
                index=i,
                kind="hidden" if layer.neuron.spiking else "readout",
                fan_in=fan_in,
                neurons=out,
                steps=steps,
                max_delay=layer.max_delay,
                graded_input=i == 0 and net.input_bits > 1,
                synapses=out * fan_in,
                nonzero_synapses=int(np.count_nonzero(layer.weight)),
                input_events=float(n_events.sum()),
                input_payload=float(payload.sum()),
                synaptic_ops=ops,
                synaptic_ops_payload=ops_payload,
                dense_macs=float(out * fan_in * steps),
                neuron_updates=float(out * steps),
                active_updates=active_updates,
                inactive_updates=float(out * steps) - active_updates,
                spikes=n_spikes,
                firing_rate=rate,
                firing_rate_hz=rate * 1000.0 / net.time_step_ms if net.time_step_ms else 0.0,
                spike_messages=float(n_events @ destination_cores(layer.weight, cores)),
                cores=cores,
            )
        )
    return result

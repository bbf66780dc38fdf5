"""Cost estimates of one inference: synaptic ops, neuron updates, spikes, memory, cores, energy.

Counts come from simulated activity (``delaysnn.sim``), on the user's inputs or on a declared,
deterministic random input, and are reported per inference (mean over samples), per layer and in
total. Energy is ``sum(count x cost)`` under each named hardware profile (``hardware/profiles``,
every cost with its citation; ``hardware.energy``). The definitions are in ``docs/estimates.md``:

- event: a spike of a hidden neuron, or a non-zero input payload (graded input = one event per
  non-zero value, whatever its size);
- synaptic op (effective op, NeuroBench's Effective_ACs): events x non-zero fan-out of the
  emitting neuron, counted when the event is emitted; zero weights and biases do not count;
  ``synaptic_ops_payload`` weighs each op by its payload (1 for spikes);
- dense-equivalent MAC: every synapse at every step the receiving layer runs;
- neuron update: every neuron at every step its layer runs; *active* when at least one event
  arrived through a non-zero weight at that step, or the neuron spiked, else *inactive*;
- spike message: an event sent to one core that holds at least one of its non-zero targets
  (neurons placed on cores in index order, ``cores`` per layer as below);
- memory: weights + delays (dense, ``weight_bits`` and ``bit_length(max_delay)`` per synapse), the
  delay ring buffer ``(max_delay + 1) x out x ACCUMULATOR_BITS`` and the neuron state
  ``out x 2 x STATE_BITS``;
- cores (Loihi 2): per layer ``max(ceil(neurons / neurons_per_core), ceil(non-zero synapses x
  (weight_bits + delay_bits) / synaptic memory bits per core))``, limits read from the ``loihi2``
  profile (the same rule as ``hardware.Profile.cores_needed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .ir import DelayLayer, DelayNetwork

DEFAULT_PROFILES: tuple[str, ...] = ("loihi2", "cmos45_int8", "cmos45_fp32")
DEFAULT_STEPS = 100
DEFAULT_RATE = 0.05
DEFAULT_SAMPLES = 8
DEFAULT_SEED = 0
CORE_PROFILE = "loihi2"

# Assumed register widths (Loihi 2's LIF as Lava's bit-accurate model has it, DESIGN section 4):
ACCUMULATOR_BITS = 24  # one delay-buffer slot per neuron: the synaptic input `a`, fed to the 24-bit u
STATE_BITS = 24  # u and v, 24 bits each

DEFINITIONS: tuple[str, ...] = (
    "All counts are per inference: the mean over the samples simulated.",
    "Event: a hidden neuron's spike, or a non-zero input value (graded input: one event per non-zero payload).",
    "Synaptic op (effective op, NeuroBench Effective_ACs): each event x the non-zero fan-out of its source neuron, "
    "counted when emitted (also when it would arrive after the run ends); zero weights and bias excluded.",
    "Payload-weighted synaptic ops: each op weighted by the event's payload (equal to synaptic ops for binary spikes).",
    "Dense-equivalent MACs: every synapse (zero or not) at every step the receiving layer runs.",
    "Neuron update: every neuron at every step its layer runs. Active: an event arrived through a non-zero weight "
    "that step, or the neuron spiked; otherwise inactive.",
    "Spike message: an event delivered to one destination core holding >= 1 of its non-zero targets; neurons are "
    "placed on the layer's cores in index order. Input events count as messages into layer 0. Tile hops are "
    "placement-dependent and not counted.",
    f"Memory: weights (weight_bits each) + delays (bit_length(max_delay) each) for every synapse (dense storage); "
    f"delay ring buffer (max_delay + 1) slots x out neurons x {ACCUMULATOR_BITS}-bit accumulators; neuron state "
    f"out x 2 x {STATE_BITS} bits (u, v).",
    "Loihi 2 cores per layer: max(ceil(neurons / neurons_per_core), ceil(non-zero synapses x (weight_bits + "
    "delay_bits) / synaptic memory bits per core)), limits and delay_bits from the loihi2 profile (as "
    "hardware.Profile.cores_needed); the input is fed from off-core and takes none.",
    "Energy: sum over counts of count x cost of the profile. Conventional profiles also fetch (weight word + delay) "
    "bits per synaptic op from the smallest memory level holding all weights and delays, in 64-bit accesses; the "
    "dense equivalent fetches one weight word per MAC. Static energy = static power x steps x time_step_ms.",
)


# --- results -------------------------------------------------------------------------------


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
    weight_bits: int
    delay_bits: int
    buffer_bits: int
    state_bits: int
    cores: int

    @property
    def memory_bits(self) -> int:
        return self.weight_bits + self.delay_bits + self.buffer_bits + self.state_bits


@dataclass
class EnergyItem:
    """One priced count: ``energy_j = count x cost_j``."""

    key: str
    category: str  # synaptic | neuron | spikes | memory | static
    count: float
    cost_j: float  # J per count (static: W, count in s)
    energy_j: float
    source: str


@dataclass
class EnergyBreakdown:
    """Energy per inference under one profile."""

    profile: str
    label: str
    proxy_of: str | None
    items: list[EnergyItem]
    total_j: float
    categories: dict[str, float]
    dense_equivalent_j: float | None  # same network as a dense ANN (MAC per synapse per step)
    dense_items: list[EnergyItem]
    memory_level: str | None
    not_counted: list[str]


@dataclass
class Estimate:
    """Everything :func:`estimate` reports; ``to_dict`` is JSON-ready, ``table`` prints."""

    network: dict[str, Any]
    input: dict[str, Any]
    steps: int  # steps the whole run lasts
    layers: list[LayerCounts]
    energy: list[EnergyBreakdown]
    core_limits: dict[str, Any]
    delay_histograms: list[list[int]]  # per layer: non-zero synapses per delay 0..max_delay
    definitions: list[str] = field(default_factory=lambda: list(DEFINITIONS))

    @property
    def totals(self) -> dict[str, float]:
        keys = (
            "input_events", "synaptic_ops", "synaptic_ops_payload", "dense_macs", "neuron_updates",
            "active_updates", "inactive_updates", "spikes", "spike_messages", "weight_bits", "delay_bits",
            "buffer_bits", "state_bits", "cores", "synapses", "nonzero_synapses",
        )  # fmt: skip
        out: dict[str, float] = {k: sum(getattr(layer, k) for layer in self.layers) for k in keys}
        out["memory_bits"] = sum(layer.memory_bits for layer in self.layers)
        hidden = [layer for layer in self.layers if layer.kind == "hidden"]
        updates = sum(layer.neurons * layer.steps for layer in hidden)
        out["hidden_firing_rate"] = sum(layer.spikes for layer in hidden) / updates if updates else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["totals"] = self.totals
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        kw["layers"] = [LayerCounts(**layer) for layer in data["layers"]]
        kw["energy"] = [
            EnergyBreakdown(
                **{
                    **e,
                    "items": [EnergyItem(**i) for i in e["items"]],
                    "dense_items": [EnergyItem(**i) for i in e["dense_items"]],
                }
            )
            for e in data["energy"]
        ]
        return cls(**kw)

    def table(self) -> str:
        return format_table(self)


# --- counting: small pure functions ----------------------------------------------------------


def nonzero_fanout(weight: np.ndarray) -> np.ndarray:
    """``[in]``: how many non-zero weights leave each source neuron."""
    return np.count_nonzero(weight, axis=0)


def delay_bit_width(max_delay: int) -> int:
    """Bits to store a delay in ``0..max_delay`` (0 when every delay is 0)."""
    return int(max_delay).bit_length()


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
    from .sim import events as sim_events
    from .sim import synaptic_input

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


def layer_memory_bits(layer: DelayLayer) -> tuple[int, int, int, int]:
    """``(weight, delay, delay-buffer, neuron-state)`` bits of a layer (definitions in the module doc)."""
    out, fan_in = layer.shape
    weights = out * fan_in * layer.weight_bits
    delays = out * fan_in * delay_bit_width(layer.max_delay)
    buffer = (layer.max_delay + 1) * out * ACCUMULATOR_BITS
    state = out * 2 * STATE_BITS
    return weights, delays, buffer, state


def synaptic_memory_bits(layer: DelayLayer, limits: dict[str, Any]) -> int:
    """Bits a layer's synapses take in a core's synaptic memory: non-zero synapses x (weight bits +
    delay bits), the delay width being the profile's ``delay_bits`` (else ``max(1, bit_length(max_delay))``);
    sparse-format index overhead is ignored (as ``hardware.Profile.cores_needed``)."""
    delay_bits = limits.get("delay_bits") or max(1, delay_bit_width(layer.max_delay))
    return int(np.count_nonzero(layer.weight)) * (layer.weight_bits + delay_bits)


def cores_needed(layer: DelayLayer, limits: dict[str, Any]) -> int:
    """Cores for one layer: ``max(ceil(neurons / neurons_per_core), ceil(synaptic bits / bits per core), 1)``."""
    cores = 1
    if limits.get("neurons_per_core"):
        cores = max(cores, math.ceil(layer.shape[0] / limits["neurons_per_core"]))
    if limits.get("synaptic_memory_bits"):
        cores = max(cores, math.ceil(synaptic_memory_bits(layer, limits) / limits["synaptic_memory_bits"]))
    return cores


def delay_histogram(layer: DelayLayer) -> list[int]:
    """Non-zero synapses per delay value ``0..max_delay``."""
    return np.bincount(layer.delay[layer.weight != 0].ravel(), minlength=layer.max_delay + 1).astype(int).tolist()


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
    from .limits import MAX_STEPS

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


def _as_batch(x: Any, net: DelayNetwork) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != net.input_size:
        raise DataError(f"estimate input: shape {arr.shape}, expected [batch, steps, {net.input_size}] (or [steps, {net.input_size}])")
    return arr


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
    from .sim import simulate

    return simulate(net, x, record=False)  # the counts read spikes and readout voltages only


# --- energy --------------------------------------------------------------------------------


def energy_counts(net: DelayNetwork, layers: Sequence[LayerCounts], steps: int) -> dict[str, float]:
    """The counts every profile prices, per inference (``static_power`` is priced per second)."""
    graded = sum(layer.synaptic_ops for layer in layers if layer.graded_input)
    return {
        "synaptic_op": sum(layer.synaptic_ops for layer in layers) - graded,
        "graded_synaptic_op": graded,
        "neuron_update": sum(layer.neuron_updates for layer in layers),
        "neuron_update_active": sum(layer.active_updates for layer in layers),
        "neuron_update_inactive": sum(layer.inactive_updates for layer in layers),
        "spike": sum(layer.spike_messages for layer in layers),
        "tile_hop_ew": 0.0,
        "tile_hop_ns": 0.0,
        "static_power": steps * net.time_step_ms / 1000.0,
    }


# A count the profile does not price falls back to this one's cost (graded events cost a plain op).
PRICE_FALLBACK = {"graded_synaptic_op": "synaptic_op"}


def price(model: Any, counts: dict[str, float]) -> list[EnergyItem]:
    """``count x cost`` for every count the profile prices (or prices through ``PRICE_FALLBACK``)."""
    from hardware.energy import COST_CATEGORY

    items = []
    for key, count in counts.items():
        cost = model.costs.get(key)
        source = cost.source if cost is not None else ""
        if cost is None and PRICE_FALLBACK.get(key) in model.costs:
            cost = model.costs[PRICE_FALLBACK[key]]
            source = f"priced as {cost.key} (profile has no {key}): {cost.source}"
        if cost is None:
            continue
        items.append(EnergyItem(key, COST_CATEGORY[key], float(count), cost.si, float(count) * cost.si, source))
    return items


def fetch_items(model: Any, net: DelayNetwork, layers: Sequence[LayerCounts], dense: bool) -> tuple[list[EnergyItem], str | None]:
    """Memory fetches on conventional hardware: per synaptic op (dense: per MAC), in 64-bit accesses."""
    from hardware.energy import ACCESS_BITS

    if not model.memory:
        return [], None
    word = model.costs.get("weight_word_bits")
    footprint_bits = 0.0
    fetched_bits = 0.0
    for layer, counts in zip(net.layers, layers):
        wbits = word.value if word else layer.weight_bits
        dbits = 0 if dense else delay_bit_width(layer.max_delay)
        footprint_bits += counts.synapses * (wbits + dbits)
        fetched_bits += (counts.dense_macs if dense else counts.synaptic_ops) * (wbits + dbits)
    level = model.memory_level(footprint_bits / 8)
    accesses = fetched_bits / ACCESS_BITS
    key = f"memory.{level.name}"
    return [EnergyItem(key, "memory", accesses, level.cost.si, accesses * level.cost.si, level.cost.source)], level.name


def energy_breakdown(model: Any, net: DelayNetwork, layers: Sequence[LayerCounts], steps: int) -> EnergyBreakdown:
    """Energy per inference under one profile: items, per-category sums and the dense equivalent."""
    counts = energy_counts(net, layers, steps)
    items = price(model, counts)
    fetch, level = fetch_items(model, net, layers, dense=False)
    items += fetch
    categories = {c: 0.0 for c in ("synaptic", "neuron", "spikes", "memory", "static")}
    for item in items:
        categories[item.category] += item.energy_j
    dense_items: list[EnergyItem] = []
    dense_total = None
    if "dense_mac" in model.costs:
        dense_items = price(model, {"dense_mac": sum(layer.dense_macs for layer in layers)})
        dense_items += fetch_items(model, net, layers, dense=True)[0]
        dense_total = sum(i.energy_j for i in dense_items)
    not_counted = [k for k in ("tile_hop_ew", "tile_hop_ns") if k in model.costs]
    return EnergyBreakdown(
        profile=model.name,
        label=model.label,
        proxy_of=model.proxy_of,
        items=items,
        total_j=sum(i.energy_j for i in items),
        categories=categories,
        dense_equivalent_j=dense_total,
        dense_items=dense_items,
        memory_level=level,
        not_counted=not_counted,
    )


def core_limits_of(profile: Any) -> dict[str, Any]:
    """The per-core limits of a ``hardware.Profile`` (None where it states none), with their sources."""
    lim = profile.limits
    picks = {
        "neurons_per_core": (lim.neurons_per_core, 1),
        "synaptic_memory_bits": (lim.synaptic_memory_bytes_per_core, 8),
        "delay_bits": (lim.delay_bits, 1),
    }
    out: dict[str, Any] = {"profile": profile.name, "sources": {}}
    for key, (quantity, scale) in picks.items():
        out[key] = None if quantity is None else int(quantity.value) * scale
        if quantity is not None:
            out["sources"][key] = quantity.source
    return out


def load_core_limits(profile: str = CORE_PROFILE) -> dict[str, Any]:
    """:func:`core_limits_of` the named profile (default ``loihi2``)."""
    from hardware import load_profile

    return core_limits_of(load_profile(profile))


# --- the entry point -----------------------------------------------------------------------


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
        active = arrivals(src, layer.weight, layer.delay, steps)
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
        w_bits, d_bits, b_bits, s_bits = layer_memory_bits(layer)
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
                weight_bits=w_bits,
                delay_bits=d_bits,
                buffer_bits=b_bits,
                state_bits=s_bits,
                cores=cores,
            )
        )
    return result


def estimate(
    net: DelayNetwork,
    x: np.ndarray | None = None,
    profiles: Sequence[str] = DEFAULT_PROFILES,
    sim_result: Any = None,
    *,
    steps: int = DEFAULT_STEPS,
    rate: float = DEFAULT_RATE,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    core_limits: dict[str, Any] | None = None,
    batch_size: int | None = None,
) -> Estimate:
    """Estimate the cost of one inference of ``net``.

    ``x``: inputs ``[batch, steps, input_size]`` (the sim runs on them); without it, a
    deterministic random input of ``samples`` x ``steps`` steps with each value non-zero with
    probability ``rate`` (:func:`random_input`). ``sim_result``: a ``delaysnn.sim`` result for
    ``x`` already computed (then ``x`` is required). ``profiles``: built-in names or paths of
    ``.toml`` files with an ``[energy]`` section. ``core_limits``: per-core limits to use instead of
    the loihi2 profile's (keys of :func:`core_limits_of`: ``neurons_per_core``,
    ``synaptic_memory_bits``, ``delay_bits``). The sim runs ``batch_size`` samples at a time
    (default ``delaysnn.limits.BATCH_SAMPLES``); the counts do not depend on it.
    """
    from .limits import BATCH_SAMPLES

    size = batch_size or BATCH_SAMPLES
    if x is None:
        if sim_result is not None:
            raise DataError("estimate: sim_result given without the input x it was computed from; pass x too")
        batches = (random_input(net, steps, rate, min(size, samples - k), seed, start=k) for k in range(0, samples, size))
        source = {"kind": "random", "samples": samples, "steps": steps, "rate": rate, "seed": seed}
        return estimate_batches(net, batches, profiles, core_limits=core_limits, source=source)
    x = _as_batch(x, net)
    if sim_result is not None:
        net.check()
        models = load_energy_models(profiles)
        return _finish(net, activity(net, trace_from_sim(net, x, sim_result)), models, core_limits, _data_source(x))
    return estimate_batches(
        net, (x[k : k + size] for k in range(0, x.shape[0], size)), profiles, core_limits=core_limits, source=_data_source(x)
    )


def _data_source(x: np.ndarray) -> dict[str, Any]:
    return {"kind": "data", "samples": int(x.shape[0]), "steps": int(x.shape[1]), "rate": float(np.count_nonzero(x) / max(x.size, 1))}


def load_energy_models(profiles: Sequence[str]) -> list[Any]:
    from hardware.energy import load_energy

    return [load_energy(p) for p in profiles]


def estimate_batches(
    net: DelayNetwork,
    batches: Any,
    profiles: Sequence[str] = DEFAULT_PROFILES,
    *,
    core_limits: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> Estimate:
    """:func:`estimate` over an iterable of input batches (``[batch, steps, input_size]`` each, all
    of one length), simulated one at a time: memory is that of one batch. ``source`` describes the
    inputs for the report (default: data, with the samples, steps and rate measured here)."""
    net.check()
    models = load_energy_models(profiles)  # fail on a bad profile before simulating
    total: Activity | None = None
    nonzero = values = 0
    shape: tuple[int, ...] = ()
    for xb in batches:
        xb = _as_batch(xb, net)
        total = add_activity(total, activity(net, trace_from_sim(net, xb, run_sim(net, xb))))
        nonzero, values, shape = nonzero + int(np.count_nonzero(xb)), values + int(xb.size), xb.shape
    if total is None:
        raise DataError("estimate: no inputs; need at least one sample")
    if source is None:
        source = {"kind": "data", "samples": total.samples, "steps": int(shape[1]), "rate": nonzero / max(values, 1)}
    return _finish(net, total, models, core_limits, source)


def _finish(net: DelayNetwork, act: Activity, models: list[Any], core_limits: dict[str, Any] | None, source: dict[str, Any]) -> Estimate:
    limits = core_limits if core_limits is not None else load_core_limits()
    layers = layer_counts(net, act, limits)
    run_steps = max(act.steps)
    return Estimate(
        network={
            "sizes": net.sizes,
            "input_bits": net.input_bits,
            "time_step_ms": net.time_step_ms,
            "max_delays": [layer.max_delay for layer in net.layers],
            "weight_bits": [layer.weight_bits for layer in net.layers],
        },
        input=source,
        steps=run_steps,
        layers=layers,
        energy=[energy_breakdown(m, net, layers, run_steps) for m in models],
        core_limits=dict(limits),
        delay_histograms=[delay_histogram(layer) for layer in net.layers],
    )


# --- presentation --------------------------------------------------------------------------


def si(value: float, unit: str = "") -> str:
    """``1.23e-7, 'J'`` -> ``'123 nJ'``; counts without a unit -> ``'1.23M'``."""
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")]
    if not unit:
        prefixes = [p for p in prefixes if p[0] >= 1]
    scale, prefix = next((p for p in prefixes if abs(value) >= p[0]), prefixes[-1])
    text = f"{value / scale:.3g}"
    return f"{text} {prefix}{unit}" if unit else f"{text}{prefix}"


def binary_bytes(n_bytes: float) -> str:
    """``131072`` -> ``'128 KiB'`` (memory sizes in powers of 1024)."""
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.3g} B"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if j else str(c).ljust(w) for j, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def format_table(est: Estimate) -> str:
    """A terminal report: per-layer counts, totals, memory and cores, energy per profile."""
    net, inp = est.network, est.input
    shape = "-".join(str(s) for s in net["sizes"])
    what = f"random input, rate {inp['rate']}, seed {inp['seed']}" if inp["kind"] == "random" else f"data, measured rate {inp['rate']:.3g}"
    lines = [
        f"network {shape}, input_bits {net['input_bits']}, max delays {net['max_delays']}, dt {net['time_step_ms']} ms",
        f"per inference: mean over {inp['samples']} samples of {inp['steps']} input steps ({what}); run lasts {est.steps} steps",
        "",
    ]
    header = ["layer", "shape", "steps", "events in", "syn ops", "payload ops", "dense MACs", "updates", "active", "spikes", "rate", "Hz", "memory", "cores"]
    rows = []
    for layer in est.layers:
        rows.append(
            [
                f"{layer.index} {layer.kind}",
                f"{layer.fan_in}->{layer.neurons}",
                str(layer.steps),
                si(layer.input_events),
                si(layer.synaptic_ops),
                si(layer.synaptic_ops_payload),
                si(layer.dense_macs),
                si(layer.neuron_updates),
                f"{layer.active_updates / layer.neuron_updates:.1%}" if layer.neuron_updates else "-",
                si(layer.spikes),
                f"{layer.firing_rate:.4f}" if layer.kind == "hidden" else "-",
                f"{layer.firing_rate_hz:.3g}" if layer.kind == "hidden" else "-",
                binary_bytes(layer.memory_bits / 8),
                str(layer.cores),
            ]
        )
    t = est.totals
    rows.append(
        [
            "total", "", str(est.steps), si(t["input_events"]), si(t["synaptic_ops"]), si(t["synaptic_ops_payload"]),
            si(t["dense_macs"]), si(t["neuron_updates"]),
            f"{t['active_updates'] / t['neuron_updates']:.1%}" if t["neuron_updates"] else "-",
            si(t["spikes"]), f"{t['hidden_firing_rate']:.4f}",
            f"{t['hidden_firing_rate'] * 1000 / net['time_step_ms']:.3g}" if net["time_step_ms"] else "-", binary_bytes(t["memory_bits"] / 8), str(int(t["cores"])),
        ]
    )  # fmt: skip
    lines += _grid(header, rows)
    lines += [
        "",
        f"memory: weights {binary_bytes(t['weight_bits'] / 8)}, delays {binary_bytes(t['delay_bits'] / 8)}, "
        f"delay buffers {binary_bytes(t['buffer_bits'] / 8)}, neuron state {binary_bytes(t['state_bits'] / 8)}",
        f"cores (Loihi 2): {int(t['cores'])} [{_limits_text(est.core_limits)}]",
        "",
    ]
    header = ["profile", "synaptic", "neuron", "spikes", "memory", "static", "total", "dense equiv.", "dense/SNN"]
    rows = []
    for e in est.energy:
        c = e.categories
        priced = {i.category for i in e.items}
        dense = e.dense_equivalent_j
        rows.append(
            [
                e.label,
                *(si(c[k], "J") if k in priced else "-" for k in ("synaptic", "neuron", "spikes", "memory", "static")),
                si(e.total_j, "J"),
                si(dense, "J") if dense is not None else "-",
                f"{dense / e.total_j:.2f}x" if dense is not None and e.total_j else "-",
            ]
        )
    lines += ["energy per inference:", *_grid(header, rows)]
    notes = sorted({f"{e.label}: memory level {e.memory_level}" for e in est.energy if e.memory_level})
    notes += sorted({f"{e.label}: not counted (placement-dependent): {', '.join(e.not_counted)}" for e in est.energy if e.not_counted})
    lines += [f"  {n}" for n in notes]
    return "\n".join(lines)


def _limits_text(limits: dict[str, Any]) -> str:
    parts = []
    if limits.get("neurons_per_core"):
        parts.append(f"{limits['neurons_per_core']} neurons/core")
    if limits.get("synaptic_memory_bits"):
        parts.append(f"{binary_bytes(limits['synaptic_memory_bits'] / 8)} synaptic memory/core")
    if limits.get("delay_bits"):
        parts.append(f"{limits['delay_bits']}-bit delays")
    return ", ".join(parts) or "no per-core limits"


def plot(est: Estimate, path: str | Path) -> Path:
    """PNG: energy breakdown per profile, per-layer activity, delay histograms (written atomically)."""
    from .plots import pyplot, save_figure

    fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.5))
    _plot_energy(axes[0], est)
    _plot_activity(axes[1], est)
    _plot_delays(axes[2], est)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches=None)  # tight_layout already fits the three panels


def _plot_energy(ax: Any, est: Estimate) -> None:
    """Stacked bars (linear, µJ) of each profile's categories; the dense equivalent as a hatched bar beside it."""
    cats = ("synaptic", "neuron", "spikes", "memory", "static")
    labels = [e.label for e in est.energy]
    xs = np.arange(len(labels), dtype=float)
    has_dense = any(e.dense_equivalent_j is not None for e in est.energy)
    width = 0.38 if has_dense else 0.6
    snn_x = xs - width / 2 if has_dense else xs
    bottom = np.zeros(len(labels))
    for cat in cats:
        vals = np.array([e.categories[cat] for e in est.energy]) * 1e6
        if vals.any():
            ax.bar(snn_x, vals, width, bottom=bottom, label=cat)
            bottom += vals
    for x, total in zip(snn_x, bottom):
        ax.annotate(si(total * 1e-6, "J"), (x, total), ha="center", va="bottom", fontsize=7)
    if has_dense:
        dense = np.array([(e.dense_equivalent_j or 0.0) for e in est.energy]) * 1e6
        ax.bar(xs + width / 2, dense, width, fill=False, hatch="//", label="dense equivalent (MACs + fetches)")
        for x, total in zip(xs + width / 2, dense):
            if total:
                ax.annotate(si(total * 1e-6, "J"), (x, total), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, labels, rotation=15, fontsize=8)
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title("energy breakdown per profile")
    ax.legend(fontsize=7)


def _plot_activity(ax: Any, est: Estimate) -> None:
    names = [f"{layer.index} {layer.kind}" for layer in est.layers]
    xs = np.arange(len(names))
    series = {
        "synaptic ops": [layer.synaptic_ops for layer in est.layers],
        "dense MACs": [layer.dense_macs for layer in est.layers],
        "active updates": [layer.active_updates for layer in est.layers],
        "spikes out": [layer.spikes for layer in est.layers],
    }
    width = 0.8 / len(series)
    for j, (label, vals) in enumerate(series.items()):
        ax.bar(xs + (j - (len(series) - 1) / 2) * width, np.maximum(vals, 1e-9), width, label=label)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.set_xticks(xs, names)
    ax.set_ylabel("per inference (log)")
    ax.set_title("per-layer activity")
    ax.legend(fontsize=8)


def _plot_delays(ax: Any, est: Estimate) -> None:
    for i, hist in enumerate(est.delay_histograms):
        ax.step(np.arange(len(hist)), hist, where="mid", label=f"layer {i}")
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel("non-zero synapses")
    ax.set_title("delay histogram")
    ax.legend(fontsize=8)

"""Cost estimates of one inference: synaptic ops, neuron updates, spikes, memory, cores, energy.

Counts come from simulated activity (``delaysnn.sim``), on the user's inputs or on a declared,
deterministic random input, and are reported per inference (mean over samples), per layer and in
total. Energy is ``sum(count x cost)`` under each named hardware profile (``hardware/profiles``,
every cost with its citation; ``hardware.energy``). Definitions: ``DEFINITIONS`` and
``docs/estimates.md``.

Modules, in the order data flows through them:

- ``counts``: activity from the sim -> per-layer counts (:class:`LayerCounts`); zero weights
  are absent synapses (no ops, arrivals or messages);
- ``storage``: memory as the hardware stores it (:class:`NetworkMemory`, in bits and kB = 1000
  bytes), with the synapse layout and the one core-count rule of :mod:`hardware.cores`
  (:func:`cores_needed`, also behind ``hardware.Profile.cores_needed``);
- ``pricing``: counts x the profiles' costs (:class:`EnergyBreakdown`);
- ``report``: the :class:`Estimate` result, its JSON and terminal table;
- ``run``: the entry points :func:`estimate`, :func:`estimate_batches` and :func:`memory`
  (``memory(net, "loihi2")``: a profile by name);
- ``plotting``: :func:`plot`.
"""

from __future__ import annotations

from .counts import (
    DEFAULT_RATE,
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    Activity,
    LayerCounts,
    Trace,
    activity,
    add_activity,
    arrivals,
    as_batch,
    core_blocks,
    delay_histogram,
    destination_cores,
    event_counts,
    layer_counts,
    nonzero_fanout,
    ops_of_counts,
    random_input,
    run_sim,
    synaptic_ops,
    trace_from_sim,
)
from .plotting import plot
from .pricing import (
    PRICE_FALLBACK,
    EnergyBreakdown,
    EnergyItem,
    energy_breakdown,
    energy_counts,
    fetch_items,
    load_energy_models,
    price,
)
from .report import DEFINITIONS, Estimate, binary_bytes, format_table, si
from .run import DEFAULT_PROFILES, estimate, estimate_batches, load_core_limits, memory
from .storage import (
    CORE_PROFILE,
    KB_BITS,
    LayerMemory,
    NetworkMemory,
    SynapseLayout,
    accumulator_width,
    core_limits_of,
    cores_needed,
    delay_bit_width,
    delay_code_bits,
    index_code_bits,
    kilobytes,
    layer_cores,
    layer_memory,
    live_max_delay,
    network_cores,
    network_memory,
    synapse_layout,
    weight_code_bits,
)

__all__ = [
    "CORE_PROFILE", "DEFAULT_PROFILES", "DEFAULT_RATE", "DEFAULT_SAMPLES", "DEFAULT_SEED", "DEFAULT_STEPS", "DEFINITIONS",
    "KB_BITS", "PRICE_FALLBACK", "Activity", "EnergyBreakdown", "EnergyItem", "Estimate", "LayerCounts", "LayerMemory",
    "NetworkMemory", "SynapseLayout", "Trace", "accumulator_width", "activity", "add_activity", "arrivals", "as_batch",
    "binary_bytes", "core_blocks", "core_limits_of", "cores_needed", "delay_bit_width", "delay_code_bits",
    "delay_histogram", "destination_cores", "energy_breakdown", "energy_counts", "estimate", "estimate_batches",
    "event_counts", "fetch_items", "format_table", "index_code_bits", "kilobytes", "layer_cores", "layer_counts",
    "layer_memory", "live_max_delay", "load_core_limits", "load_energy_models", "memory", "network_cores", "network_memory",
    "nonzero_fanout", "ops_of_counts", "plot", "price", "random_input", "run_sim", "si", "synapse_layout",
    "synaptic_ops", "trace_from_sim", "weight_code_bits",
]  # fmt: skip

"""Energy of one inference under a profile: ``sum(count x cost)`` (``hardware.energy`` reads the costs).

Conventional profiles also fetch each synaptic op's weight word and delay code from the smallest
memory level that holds every weight and delay, in 64-bit accesses; the dense equivalent fetches
one weight word per MAC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..ir import DelayNetwork
from .counts import LayerCounts
from .storage import delay_code_bits


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


def load_energy_models(profiles: Sequence[str]) -> list[Any]:
    from hardware.energy import load_energy

    return [load_energy(p) for p in profiles]


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
        dbits = 0 if dense else delay_code_bits(layer)
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

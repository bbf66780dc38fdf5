"""Energy models of hardware profiles: the ``[energy]`` section of ``hardware/profiles/*.toml``.

A profile prices what ``delaysnn.estimate`` counts. Each key under ``[energy]`` names a count
(``synaptic_op``, ``neuron_update_active``, ...) and holds one number with its citation::

    [energy.synaptic_op]
    value = 23.6
    unit = "pJ"
    per = "synaptic op: one spike delivered through one synapse"      # optional, for humans
    source = "Davies et al. 2018, IEEE Micro 38(1), Table 2"          # required, non-empty
    note = "..."                                                       # optional

Memory levels (for fetch costs on conventional hardware) sit under ``[energy.memory.<name>]``
with ``capacity_bytes`` (omit it for an unbounded level such as DRAM) and a cost per 64-bit
access. ``proxy_of = "<profile>"`` in ``[energy]`` borrows another profile's costs (keys given
locally override them), for hardware without published figures. Users add a ``.toml`` file and
pass its path: no code changes.

Files are read by ``hardware.load_profile`` (the one loader: it resolves names, parses TOML,
checks ``schema`` / ``name`` and that every number sits beside a ``source``); this module only
interprets the ``[energy]`` table it keeps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from delaysnn.errors import ProfileError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

# Count name -> energy category. The estimator provides exactly these counts.
COST_CATEGORY: dict[str, str] = {
    "synaptic_op": "synaptic",  # effective synaptic op of a binary spike
    "graded_synaptic_op": "synaptic",  # effective synaptic op of a graded event
    "neuron_update": "neuron",  # every neuron update (when active/inactive are not priced apart)
    "neuron_update_active": "neuron",
    "neuron_update_inactive": "neuron",
    "spike": "spikes",  # spike message delivered to one destination core
    "tile_hop_ew": "spikes",  # placement-dependent: counted as 0
    "tile_hop_ns": "spikes",
    "static_power": "static",  # power x inference duration
    "dense_mac": "dense",  # dense-equivalent network only
}
PARAMETERS: dict[str, str] = {"weight_word_bits": "bit"}  # model parameters, not costs
METADATA = ("description", "proxy_of", "note")
ENTRY_KEYS = {"value", "unit", "source", "per", "note", "high", "low"}
MEMORY_KEYS = ENTRY_KEYS | {"capacity_bytes"}
ACCESS_BITS = 64  # memory costs are per 64-bit access (Horowitz 2014's convention)

ENERGY_UNITS = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "µJ": 1e-6, "mJ": 1e-3, "J": 1.0}
POWER_UNITS = {"nW": 1e-9, "uW": 1e-6, "µW": 1e-6, "mW": 1e-3, "W": 1.0}


@dataclass(frozen=True)
class Cost:
    """One cited number: ``value`` in ``unit`` per counted event (or a power, or a parameter)."""

    key: str
    value: float
    unit: str
    source: str
    per: str = ""
    note: str = ""

    @property
    def si(self) -> float:
        """The value in joules (energies), watts (powers) or as is (parameters)."""
        scale = ENERGY_UNITS.get(self.unit) or POWER_UNITS.get(self.unit) or 1.0
        return self.value * scale


@dataclass(frozen=True)
class MemoryLevel:
    """A memory that can hold the network's weights: cost per 64-bit access, capacity (None = unbounded)."""

    name: str
    cost: Cost
    capacity_bytes: int | None


@dataclass(frozen=True)
class EnergyModel:
    """The priced counts of one profile."""

    name: str
    description: str
    path: str
    costs: Mapping[str, Cost] = field(default_factory=dict)
    memory: tuple[MemoryLevel, ...] = ()  # ascending capacity, unbounded last
    proxy_of: str | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} (proxy: {self.proxy_of})" if self.proxy_of else self.name

    def memory_level(self, footprint_bytes: float) -> MemoryLevel | None:
        """The smallest level that holds ``footprint_bytes`` (the largest one if none does)."""
        for level in self.memory:
            if level.capacity_bytes is None or footprint_bytes <= level.capacity_bytes:
                return level
        return self.memory[-1] if self.memory else None

    def sources(self) -> dict[str, str]:
        """Every number's citation, by key (``memory.<name>`` for memory levels)."""
        out = {k: c.source for k, c in self.costs.items()}
        out.update({f"memory.{m.name}": m.cost.source for m in self.memory})
        return out


def builtin_profiles() -> list[str]:
    """Names of the built-in profiles that have an ``[energy]`` section."""
    from hardware import builtin_names, load_profile

    names = []
    for name in builtin_names():
        try:
            if "energy" in load_profile(name).sections:
                names.append(name)
        except ProfileError:
            continue
    return names


def load_energy(name_or_path: str | os.PathLike) -> EnergyModel:
    """Load and check the ``[energy]`` section of a profile (a built-in name or a ``.toml`` path).

    The file is read by ``hardware.load_profile`` (one loader: name resolution, TOML, schema, the
    "every number has a source" rule); this function interprets its ``energy`` table. Every problem
    is reported at once in one :class:`ProfileError`.
    """
    from hardware import load_profile

    return _from_profile(load_profile(name_or_path), seen=())


def _from_profile(profile: Any, seen: tuple[str, ...]) -> EnergyModel:
    from hardware import load_profile

    where = profile.origin or profile.name
    section = profile.sections.get("energy")
    if not isinstance(section, Mapping):
        raise ProfileError(f"{where}: no [energy] section; this profile cannot price an estimate (add [energy.<count>] tables with value, unit, source)")
    problems: list[str] = []
    costs, memory = _parse_section(dict(section), problems)
    proxy = section.get("proxy_of")
    if proxy is not None and not isinstance(proxy, str):
        problems.append(f"energy.proxy_of must be a profile name, got {proxy!r}")
        proxy = None
    base_costs: dict[str, Cost] = {}
    base_memory: tuple[MemoryLevel, ...] = ()
    if proxy:
        if where in seen:
            raise ProfileError(f"{where}: energy.proxy_of forms a cycle ({' -> '.join((*seen, where))})")
        sibling = Path(where).parent / f"{proxy}.toml"  # a user's proxy next to the user's file
        target = sibling if not where.startswith("builtin:") and sibling.is_file() else proxy
        try:
            base = _from_profile(load_profile(target), seen + (where,))
        except ProfileError as err:
            problems.append(f"energy.proxy_of = {proxy!r}: {err}")
        else:
            base_costs, base_memory = dict(base.costs), base.memory
    merged = {**base_costs, **costs}
    problems += _check_neuron_keys(merged)
    if not any(k in COST_CATEGORY for k in merged):
        problems.append(f"energy prices none of the counts ({', '.join(COST_CATEGORY)})")
    if problems:
        raise ProfileError(f"{where}: " + "; ".join(problems))
    return EnergyModel(
        name=profile.name,
        description=str(section.get("description") or profile.description or ""),
        path=where,
        costs=merged,
        memory=memory or base_memory,
        proxy_of=proxy,
        note=str(section.get("note", "")),
    )


def _parse_section(section: dict[str, Any], problems: list[str]) -> tuple[dict[str, Cost], tuple[MemoryLevel, ...]]:
    costs: dict[str, Cost] = {}
    levels: list[MemoryLevel] = []
    for key, entry in section.items():
        if key in METADATA:
            if not isinstance(entry, str):
                problems.append(f"energy.{key} must be a string")
            continue
        if key == "memory":
            if not isinstance(entry, dict):
                problems.append("energy.memory must be a table of [energy.memory.<name>] tables")
                continue
            for name, spec in entry.items():
                level = _parse_memory(name, spec, problems)
                if level is not None:
                    levels.append(level)
            continue
        if key not in COST_CATEGORY and key not in PARAMETERS:
            problems.append(f"energy.{key}: unknown key (known: {', '.join([*COST_CATEGORY, *PARAMETERS, 'memory', *METADATA])})")
            continue
        cost = _parse_entry(f"energy.{key}", key, entry, ENTRY_KEYS, problems)
        if cost is None:
            continue
        if key in PARAMETERS:
            if cost.unit != PARAMETERS[key]:
                problems.append(f"energy.{key}: unit {cost.unit!r}, expected {PARAMETERS[key]!r}")
        elif key == "static_power":
            if cost.unit not in POWER_UNITS:
                problems.append(f"energy.{key}: unit {cost.unit!r} is not a power ({', '.join(POWER_UNITS)})")
        elif cost.unit not in ENERGY_UNITS:
            problems.append(f"energy.{key}: unit {cost.unit!r} is not an energy ({', '.join(ENERGY_UNITS)})")
        costs[key] = cost
    levels.sort(key=lambda m: math.inf if m.capacity_bytes is None else m.capacity_bytes)
    return costs, tuple(levels)


def _parse_memory(name: str, spec: Any, problems: list[str]) -> MemoryLevel | None:
    where = f"energy.memory.{name}"
    cost = _parse_entry(where, f"memory.{name}", spec, MEMORY_KEYS, problems)
    if cost is None:
        return None
    if cost.unit not in ENERGY_UNITS:
        problems.append(f"{where}: unit {cost.unit!r} is not an energy ({', '.join(ENERGY_UNITS)})")
    capacity = spec.get("capacity_bytes")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity <= 0):
        problems.append(f"{where}: capacity_bytes must be a positive integer, got {capacity!r}")
        return None
    return MemoryLevel(name=name, cost=cost, capacity_bytes=capacity)


def _parse_entry(where: str, key: str, entry: Any, allowed: set[str], problems: list[str]) -> Cost | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a table with value, unit, source; got {entry!r}")
        return None
    bad = len(problems)
    unknown = set(entry) - allowed
    if unknown:
        problems.append(f"{where}: unknown fields {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})")
    value = entry.get("value")
    if not _is_number(value) or value < 0:
        problems.append(f"{where}.value: expected a non-negative number, got {value!r}")
    for extra in ("high", "low"):
        if extra in entry and not _is_number(entry[extra]):
            problems.append(f"{where}.{extra}: expected a number, got {entry[extra]!r}")
    unit = entry.get("unit")
    if not isinstance(unit, str) or not unit:
        problems.append(f"{where}.unit: missing (e.g. \"pJ\")")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append(f"{where}.source: missing or empty; every number needs its citation")
    if len(problems) > bad:
        return None
    return Cost(
        key=key,
        value=float(value),
        unit=unit,
        source=source.strip(),
        per=str(entry.get("per", "")),
        note=str(entry.get("note", "")),
    )


def _check_neuron_keys(costs: Mapping[str, Cost]) -> list[str]:
    split = [k for k in ("neuron_update_active", "neuron_update_inactive") if k in costs]
    if "neuron_update" in costs and split:
        return ["price either energy.neuron_update or the pair neuron_update_active / neuron_update_inactive, not both"]
    if len(split) == 1:
        return [f"energy.{split[0]} needs its pair (neuron_update_active and neuron_update_inactive)"]
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

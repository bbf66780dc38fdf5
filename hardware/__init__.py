"""Hardware profiles as data: a target's limits (and, in ``hardware.energy``, its energy costs).

A profile is one TOML file: built-in ones live in ``hardware/profiles/`` and are loaded by name
(``load_profile("loihi2")``); users add their own file and pass its path, no code changes. Every
number carries its ``source``. Shape::

    schema = 1
    name = "loihi2"
    description = "..."

    [limits.max_delay]
    value = 62
    unit = "steps"             # optional
    source = "lava-dl ... clips delays to 62"
    note = "approximate: ..."  # optional

Only the keys of :class:`Limits` may appear under ``[limits]``; a missing limit means "no limit".
Other top-level tables (``[energy]``, read by ``hardware.energy``; ``[storage]``, how the target
stores delays, read by ``hardware.cores``) are kept as raw data here, with one rule checked for
all of them: every number sits in a table with a non-empty ``source``.
All problems of a file are reported together in one :class:`ProfileError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from delaysnn.errors import HardwareLimitError, ProfileError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged
    import tomli as tomllib

SCHEMA = 1
BUILTIN = ("loihi2", "unconstrained")
_LIMIT_KEYS = {"value", "unit", "source", "note"}
_TOP_SCALARS = {"schema", "name", "description"}


@dataclass(frozen=True)
class Quantity:
    """One number with its citation."""

    value: int
    source: str
    unit: str = ""
    note: str = ""

    @property
    def approximate(self) -> bool:
        return "approximate" in self.note.lower() or "approximate" in self.source.lower()


@dataclass(frozen=True)
class Limits:
    """What a target can hold; None = unconstrained. Bit widths are of signed mantissas where the
    quantity is signed (weights, bias), unsigned otherwise (decays, threshold, payload)."""

    weight_bits: Quantity | None = None  # signed weight mantissa bits
    weight_exp_max: Quantity | None = None  # largest weight exponent (IR: 0..7)
    max_delay: Quantity | None = None  # largest synaptic delay, steps
    delay_bits: Quantity | None = None  # widest synaptic delay field a layer may declare (DelayLayer.delay_bits)
    accumulator_bits: Quantity | None = None  # one dendritic delay-line slot (memory estimate)
    decay_bits: Quantity | None = None  # du, dv
    vth_bits: Quantity | None = None
    bias_mant_bits: Quantity | None = None
    bias_exp_max: Quantity | None = None
    graded_spike_bits: Quantity | None = None  # payload bits of a graded input spike
    neurons_per_core: Quantity | None = None
    synaptic_memory_bytes_per_core: Quantity | None = None
    cores: Quantity | None = None  # neuro cores available (one chip)

    def items(self) -> list[tuple[str, Quantity]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class Profile:
    """A loaded hardware profile: limits plus the raw other sections (e.g. ``energy``)."""

    name: str
    description: str
    limits: Limits
    sections: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    origin: str = ""  # "builtin:<name>" or the file path

    def _tag(self, key: str) -> str:
        return f"[profile {self.name}: limits.{key}]"

    def violations(self, net: Any) -> list[str]:
        """Every way ``net`` (a ``DelayNetwork``) breaks these limits, one line each, with the
        layer, the offending value and the limit's name."""
        lim = self.limits
        out: list[str] = []
        if lim.graded_spike_bits is not None and net.input_bits > lim.graded_spike_bits.value:
            out.append(f"input: graded payloads of {net.input_bits} bits > {lim.graded_spike_bits.value} {self._tag('graded_spike_bits')}")
        for li, layer in enumerate(net.layers):
            where = f"layer {li}"
            n = layer.neuron
            if lim.weight_bits is not None and layer.weight_bits > lim.weight_bits.value:
                out.append(f"{where}: weight_bits {layer.weight_bits} > {lim.weight_bits.value} {self._tag('weight_bits')}")
            if lim.delay_bits is not None and layer.delay_bits is not None and layer.delay_bits > lim.delay_bits.value:
                out.append(f"{where}: delay_bits {layer.delay_bits} > {lim.delay_bits.value} {self._tag('delay_bits')}; quantize with --delay-bits {lim.delay_bits.value}")
            if lim.weight_exp_max is not None and layer.weight_exp > lim.weight_exp_max.value:
                out.append(f"{where}: weight_exp {layer.weight_exp} > {lim.weight_exp_max.value} {self._tag('weight_exp_max')}")
            if lim.max_delay is not None and layer.delay.size:
                over = int(np.count_nonzero(layer.delay > lim.max_delay.value))
                if over:
                    what = {"axonal": "input neurons (axonal delays)", "dendritic": "output neurons (dendritic delays)"}
                    out.append(
                        f"{where}: {over} {what.get(layer.delay_kind.value, 'synapses')} have delay > {lim.max_delay.value} (max {layer.max_delay}) {self._tag('max_delay')}; "
                        f"retrain with --max-delay {lim.max_delay.value + 1} or clip them with --clip-delays"
                    )
            if lim.decay_bits is not None:
                top = (1 << lim.decay_bits.value) - 1
                for name in ("du", "dv"):
                    val = getattr(n, name)
                    if not 0 <= val <= top:
                        out.append(f"{where}: {name}={val} outside 0..{top} {self._tag('decay_bits')}")
            if lim.vth_bits is not None and n.vth is not None and not 0 <= n.vth <= (1 << lim.vth_bits.value) - 1:
                out.append(f"{where}: vth={n.vth} outside 0..{(1 << lim.vth_bits.value) - 1} {self._tag('vth_bits')}")
            if lim.bias_mant_bits is not None and n.bias_mant.size:
                half = 1 << (lim.bias_mant_bits.value - 1)
                bad = int(np.count_nonzero((n.bias_mant < -half) | (n.bias_mant > half - 1)))
                if bad:
                    out.append(
                        f"{where}: {bad} bias_mant values outside {-half}..{half - 1} (range [{n.bias_mant.min()}, {n.bias_mant.max()}]) {self._tag('bias_mant_bits')}"
                    )
            if lim.bias_exp_max is not None and n.bias_exp > lim.bias_exp_max.value:
                out.append(f"{where}: bias_exp={n.bias_exp} > {lim.bias_exp_max.value} {self._tag('bias_exp_max')}")
        if lim.cores is not None:
            need = self.cores_needed(net)
            if need > lim.cores.value:
                out.append(f"network: needs about {need} cores > {lim.cores.value} (approximate estimate) {self._tag('cores')}")
        return out

    def check(self, net: Any) -> None:
        """Raise :class:`HardwareLimitError` listing every violation (internal IR problems included)."""
        problems = net.validate(self)
        if problems:
            raise HardwareLimitError(f"network breaks profile {self.name!r}: " + "; ".join(problems))

    def cores_needed(self, net: Any) -> int:
        """Approximate cores at this profile's per-core limits: the one rule,
        :func:`hardware.cores.cores_needed` per layer (neurons, and synaptic memory as
        stored: pruned synapses and per-layer delay bits take less)."""
        from .cores import core_limits_of, network_cores

        return network_cores(net, core_limits_of(self))


# --- loading ---


def builtin_path(name: str) -> Path:
    """The file of a built-in profile (``hardware/profiles/<name>.toml``)."""
    return Path(str(resources.files("hardware").joinpath("profiles", f"{name}.toml")))


def builtin_names() -> list[str]:
    """Every profile file shipped in ``hardware/profiles`` (limits and/or energy)."""
    folder = resources.files("hardware").joinpath("profiles")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | os.PathLike | Profile) -> Profile:
    """Load a built-in profile by name (``"loihi2"``) or a user's ``.toml`` by path."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text)
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file; give an existing .toml or a built-in name ({', '.join(builtin_names())})")
        origin = str(path)
    else:
        path = builtin_path(text)
        if not path.is_file():
            raise ProfileError(f"unknown profile {text!r}; built-in: {', '.join(builtin_names())}, or pass the path of a .toml file")
        origin = f"builtin:{text}"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{origin}: cannot read ({err})") from err
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{origin}: not valid TOML ({err})") from err
    return parse_profile(doc, origin)


def parse_profile(doc: Mapping[str, Any], origin: str = "<profile>") -> Profile:
    """Build a :class:`Profile` from a parsed TOML document; every problem is reported at once."""
    problems: list[str] = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"'schema' is {doc.get('schema')!r}, this delaysnn reads schema {SCHEMA}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        problems.append("'name' must be a non-empty string")
    description = doc.get("description", "")
    if not isinstance(description, str):
        problems.append("'description' must be a string")
    for key, val in doc.items():
        if key not in _TOP_SCALARS and not isinstance(val, dict):
            problems.append(f"unknown top-level key {key!r} (allowed: {', '.join(sorted(_TOP_SCALARS))} and tables such as [limits], [energy])")

    limits_doc = doc.get("limits", {})
    known = {f.name for f in fields(Limits)}
    values: dict[str, Quantity] = {}
    if not isinstance(limits_doc, dict):
        problems.append("'limits' must be a table")
        limits_doc = {}
    for key, entry in limits_doc.items():
        where = f"limits.{key}"
        if key not in known:
            problems.append(f"unknown limit {where!r} (known: {', '.join(sorted(known))})")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table with 'value' and 'source'")
            continue
        before = len(problems)
        extra = set(entry) - _LIMIT_KEYS
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)} (allowed: {', '.join(sorted(_LIMIT_KEYS))})")
        value = entry.get("value")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{where}.value must be a non-negative integer (got {value!r})")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{where}.source must be a non-empty string citing where the number comes from")
        for opt in ("unit", "note"):
            if opt in entry and not isinstance(entry[opt], str):
                problems.append(f"{where}.{opt} must be a string")
        if len(problems) == before:  # this entry added no problem
            values[key] = Quantity(value=value, source=source, unit=entry.get("unit", ""), note=entry.get("note", ""))

    sections = {k: v for k, v in doc.items() if isinstance(v, dict) and k != "limits"}
    for key, table in sections.items():
        _check_sourced(table, key, problems)
    _check_storage(sections.get("storage"), problems)
    if problems:
        raise ProfileError(f"{origin}: " + "; ".join(problems))
    return Profile(
        name=name,
        description=description,
        limits=Limits(**values),
        sections=MappingProxyType(sections),
        origin=origin,
    )


STORAGE_DELAYS = ("per_synapse", "as_ir")  # [storage] delays: every delay per synapse, or as the IR's delay kind stores it


def _check_storage(table: Any, problems: list[str]) -> None:
    """``[storage]``: ``delays`` one of :data:`STORAGE_DELAYS`, with a ``source``."""
    if table is None:
        return
    if table.get("delays") not in STORAGE_DELAYS:
        problems.append(f"storage.delays is {table.get('delays')!r}; use one of {', '.join(map(repr, STORAGE_DELAYS))}")
    if not isinstance(table.get("source"), str) or not table["source"].strip():
        problems.append("storage.source must be a non-empty string citing how the target stores delays")


def _check_sourced(table: Mapping[str, Any], where: str, problems: list[str]) -> None:
    """Every number in ``table`` (recursively) must sit in a table with a non-empty ``source``."""
    has_source = isinstance(table.get("source"), str) and bool(table["source"].strip())
    for key, val in table.items():
        if isinstance(val, dict):
            _check_sourced(val, f"{where}.{key}", problems)
        elif isinstance(val, int | float) and not isinstance(val, bool) and not has_source:
            problems.append(f"{where}.{key} = {val} has no 'source' beside it; cite where the number comes from")


__all__ = ["BUILTIN", "Limits", "Profile", "Quantity", "builtin_names", "builtin_path", "load_profile", "parse_profile"]

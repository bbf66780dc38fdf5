"""The ``.dnet`` file format: :func:`to_bytes` / :func:`from_bytes` and :func:`save` / :func:`load`.

One uncompressed npz whose ``header.json`` entry carries the format tag, the version and every
scalar, and whose arrays are named by their path in the dataclasses (``layers.0.weight``,
``layers.0.neuron.bias_mant``); no pickle anywhere. Header and arrays are built from the
dataclass fields of :mod:`.network` (their declared types say which is which), so a new IR
field is serialised, type-checked on read and hashed by ``ir.identity`` without a list to
update here. Unknown versions, types and keys are refused.

Version 2 states the semantics in typed fields (``tail_steps``, ``readout_scale``,
``weight_kind``); version-1 files still load: :func:`_upgrade_v1` moves their provenance keys
and per-layer ``binary``/``ternary`` flags into those fields. Version 3 (this one) adds each
layer's ``delay_kind`` (a ``delay`` array shaped by it); version-1 and -2 files load as
synaptic (:func:`_upgrade_v2`).
"""

from __future__ import annotations

import io
import json
import os
import types
import typing
import zipfile
from dataclasses import fields, is_dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IRValidationError
from ..limits import MAX_HEADER_BYTES, MAX_LAYERS, MAX_NEURONS, MAX_SYNAPSES
from .network import DelayNetwork, _is_int, check_network

FORMAT = "delaysnn-ir"
VERSION = 3
# version 1: semantics in provenance, weight kind in two flags; version 2: every delay per synapse
READABLE_VERSIONS = (1, 2, 3)

# --- serialisation -------------------------------------------------------------------------


def to_bytes(net: DelayNetwork) -> bytes:
    """Serialise to the ``.dnet`` byte format (npz + JSON header, no pickle)."""
    header, arrays = contents(net)
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def contents(net: DelayNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What a ``.dnet`` holds: its JSON header and its arrays by name (checked first). The
    network's identity (``ir.identity.network_id``) hashes these, not the zip bytes, which depend on
    the numpy and zipfile versions that wrote them: every field of the dataclasses is in one or
    the other, so any arithmetic change changes the identity."""
    net.check()
    arrays: dict[str, np.ndarray] = {}
    header = {"format": FORMAT, "version": VERSION, **_encode(net, "", arrays)}
    return header, arrays


@cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, declared type)`` of each field of dataclass ``cls``, the annotations resolved."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in fields(cls))


def _list_item(kind: Any) -> type | None:
    """``X`` for a field declared ``list[X]`` (X a dataclass), else None."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is list else None


def _encode(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``obj``'s fields as a JSON object; array fields go to ``arrays`` under their path."""
    out: dict[str, Any] = {}
    for name, kind in _field_types(type(obj)):
        value, path = getattr(obj, name), prefix + name
        if kind is np.ndarray:
            arrays[path] = np.ascontiguousarray(value)
        elif is_dataclass(kind):
            out[name] = _encode(value, path + ".", arrays)
        elif _list_item(kind) is not None:
            out[name] = [_encode(item, f"{path}.{i}.", arrays) for i, item in enumerate(value)]
        elif isinstance(kind, type) and issubclass(kind, Enum):
            out[name] = value.value
        elif kind is float:
            out[name] = float(value)  # 10 and 10.0 are one network: one identity
        else:
            out[name] = _scalar(value)
    return out


def from_bytes(data: bytes, source: str = "<bytes>") -> DelayNetwork:
    """Inverse of :func:`to_bytes` (and reader of version-1 files); rejects unknown formats,
    versions, keys and types, and checks every array's size before reading it."""
    try:
        problems = _array_header_problems(data)
        if problems:
            raise IRValidationError(f"{source}: " + "; ".join(problems))
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an archive")
        with loaded as npz:
            files = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise IRValidationError(f"{source}: not a delaysnn IR file ({type(err).__name__}); expected a .dnet written by delaysnn") from err
    if "header" not in files:
        raise IRValidationError(f"{source}: no 'header' entry; not a delaysnn IR file")
    try:
        header = json.loads(files.pop("header").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IRValidationError(f"{source}: corrupt header ({err})") from err
    if not isinstance(header, dict):
        raise IRValidationError(f"{source}: header is a JSON {type(header).__name__}, expected an object")
    if header.get("format") != FORMAT:
        raise IRValidationError(f"{source}: field 'format' is {header.get('format')!r}, expected {FORMAT!r}")
    version = header.get("version")
    if not _is_int(version) or version not in READABLE_VERSIONS:
        raise IRValidationError(
            f"{source}: IR version {version!r} not supported (this delaysnn reads {', '.join(map(str, READABLE_VERSIONS))}); "
            "upgrade delaysnn, or re-quantize the checkpoint with this one"
        )
    try:
        if version == 1:
            header, files = _upgrade_v1(header, files)
        if version in (1, 2):
            header = _upgrade_v2(header)
        net = _decode_network(header, files)
    except _Refused as err:
        raise IRValidationError(f"{source}: {err}") from None
    problems = check_network(net)
    if problems:
        raise IRValidationError(f"{source}: " + "; ".join(problems))
    return net


class _Refused(Exception):
    """A header that does not describe a network (the message, without the file name)."""


def _decode_network(header: dict[str, Any], files: dict[str, np.ndarray]) -> DelayNetwork:
    """The :class:`DelayNetwork` of a version-3 header and its arrays (``files``, consumed)."""
    body = {k: v for k, v in header.items() if k not in ("format", "version")}
    _check_keys(DelayNetwork, body, "header")
    layers = body["layers"]
    if not isinstance(layers, list) or not all(isinstance(spec, dict) for spec in layers):
        raise _Refused("field 'layers' must be a list of objects")
    if not 1 <= len(layers) <= MAX_LAYERS + 1:  # bounded before anything is built per layer
        raise _Refused(f"field 'layers' lists {len(layers)} layers, expected 1..{MAX_LAYERS + 1} (delaysnn.limits.MAX_LAYERS)")
    problems: list[str] = []
    net = _decode(DelayNetwork, body, "", files, problems)
    if problems:
        raise _Refused("; ".join(problems))
    if files:
        raise _Refused(f"unknown arrays {sorted(files)}")
    return net


def _where(path: str) -> str:
    """``layers.0.neuron.`` -> ``layer 0``; the network's own fields -> ``header``."""
    parts = path.split(".")
    return f"layer {parts[1]}" if parts[0] == "layers" and len(parts) > 2 else "header"


def _check_keys(cls: type, spec: dict[str, Any], where: str) -> None:
    """``spec`` has exactly the scalar fields of ``cls`` (arrays are archive entries)."""
    expected = {name for name, kind in _field_types(cls) if kind is not np.ndarray}
    if set(spec) != expected:
        unknown, missing = sorted(set(spec) - expected), sorted(expected - set(spec))
        raise _Refused(
            f"{where} keys do not match IR version {VERSION}"
            + (f"; unknown header keys {unknown}" if unknown else "")
            + (f"; missing {missing}" if missing else "")
        )


def _decode(cls: type, spec: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray], problems: list[str]) -> Any:
    """An instance of dataclass ``cls`` from its JSON object ``spec`` and the arrays under
    ``prefix``; every scalar type-checked against its declared type (problems appended)."""
    where = _where(prefix)
    if prefix:  # the network's own keys were checked by the caller
        parts = prefix.rstrip(".").split(".")
        _check_keys(cls, spec, f"{where} field {parts[-1]!r}" if len(parts) > 2 else f"{where} header")
    values: dict[str, Any] = {}
    for name, kind in _field_types(cls):
        path = prefix + name
        field_name = path.split(".", 2)[2] if path.startswith("layers.") else path
        if kind is np.ndarray:
            if path not in arrays:
                raise _Refused(f"{where} lacks array {path!r}")
            values[name] = arrays.pop(path)
            continue
        value = spec[name]
        item = _list_item(kind)
        if is_dataclass(kind):
            if not isinstance(value, dict):
                raise _Refused(f"{where}: field {field_name!r} is {value!r}, expected an object")
            values[name] = _decode(kind, value, path + ".", arrays, problems)
        elif item is not None:  # lists of dataclasses (the caller bounds their length)
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise _Refused(f"field {field_name!r} must be a list of objects")
            values[name] = [_decode(item, v, f"{path}.{i}.", arrays, problems) for i, v in enumerate(value)]
        elif isinstance(kind, type) and issubclass(kind, Enum):
            known = [k.value for k in kind]
            if not isinstance(value, str) or value not in known:
                problems.append(f"{where}: field {field_name!r} is {value!r}, expected one of {', '.join(map(repr, known))}")
            else:
                values[name] = kind(value)
        else:
            expected = _scalar_mismatch(kind, value)
            if expected:
                problems.append(f"{where}: field {field_name!r} is {value!r}, expected {expected}")
            values[name] = float(value) if kind is float and expected is None else value
    return None if problems else cls(**values)


_EXPECTED = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "an object"}


def _scalar_mismatch(kind: Any, value: Any) -> str | None:
    """None if JSON ``value`` fits the declared ``kind`` (``int``, ``float``, ``bool``, ``str``,
    ``dict[...]`` or ``X | None``), else what was expected."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if value is None and type(None) in options:
        return None
    bases = [typing.get_origin(k) or k for k in options if k is not type(None)]
    for base in bases:
        if base is int and _is_int(value):
            return None
        if base is float and isinstance(value, int | float) and not isinstance(value, bool):
            return None
        if base in (bool, str, dict) and isinstance(value, base):
            return None
    return " or ".join(_EXPECTED.get(b, b.__name__) for b in bases) + (" or null" if type(None) in options else "")


def _upgrade_v1(header: dict[str, Any], files: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A version-1 header and arrays in version 2's terms: ``tail_steps`` and ``readout_scale``
    leave the provenance for the network's fields, each layer's ``binary``/``ternary`` flags
    become its ``weight_kind``, neuron scalars nest under ``neuron``, arrays take their paths.
    The quantizer's copies of the flags in the provenance go too (the layers state the kind)."""
    known = {"format", "version", "input_size", "input_bits", "time_step_ms", "provenance", "layers"}
    if set(header) - known:
        raise _Refused(f"unknown header keys {sorted(set(header) - known)}")
    if set(known) - set(header):
        raise _Refused(f"header keys do not match IR version 1; missing {sorted(set(known) - set(header))}")
    provenance, layers = header["provenance"], header["layers"]
    out = {k: header[k] for k in ("format", "input_size", "input_bits", "time_step_ms")}
    out["version"] = 2
    out["tail_steps"], out["readout_scale"] = 0, 1.0
    if isinstance(provenance, dict):  # else the version-2 checks name it
        provenance = dict(provenance)
        out["tail_steps"] = provenance.pop("tail_steps", 0)
        scale = provenance.pop("readout_scale", None)
        out["readout_scale"] = 1.0 if scale is None else scale
        for key in ("binary", "ternary"):
            provenance.pop(key, None)
    out["provenance"] = provenance
    if not isinstance(layers, list) or not all(isinstance(spec, dict) for spec in layers):
        out["layers"] = layers
        return out, files
    if len(layers) > MAX_LAYERS + 1:
        raise _Refused(f"field 'layers' lists {len(layers)} layers, expected 1..{MAX_LAYERS + 1} (delaysnn.limits.MAX_LAYERS)")
    required = {"weight_bits", "weight_exp", "binary", "du", "dv", "vth", "bias_exp"}
    optional = {"ternary": False, "delay_bits": None, "delay_step": 1}  # added during version 1
    renamed = dict(files)
    out["layers"] = []
    for i, spec in enumerate(layers):
        if not required <= set(spec) <= required | set(optional):
            raise _Refused(f"layer {i} header keys {sorted(spec)} do not match IR version 1")
        spec = {**optional, **spec}
        for key in ("binary", "ternary"):
            if not isinstance(spec[key], bool):
                raise _Refused(f"layer {i}: field {key!r} is {spec[key]!r}, expected true or false")
        if spec["binary"] and spec["ternary"]:
            raise _Refused(f"layer {i}: a layer is binary or ternary, not both; re-quantize with only one of --binary, --ternary")
        kind = "binary" if spec["binary"] else "ternary" if spec["ternary"] else "fixed"
        out["layers"].append({
            **{k: spec[k] for k in ("weight_bits", "weight_exp", "delay_bits", "delay_step")},
            "weight_kind": kind,
            "neuron": {k: spec[k] for k in ("du", "dv", "vth", "bias_exp")},
        })
        for old, new in (("weight", "weight"), ("delay", "delay"), ("bias_mant", "neuron.bias_mant")):
            if f"layer{i}.{old}" in renamed:
                renamed[f"layers.{i}.{new}"] = renamed.pop(f"layer{i}.{old}")
    return out, renamed


def _upgrade_v2(header: dict[str, Any]) -> dict[str, Any]:
    """A version-2 header in version 3's terms: every layer's delays were per synapse, so each
    layer spec gets ``delay_kind`` ``synaptic`` (malformed specs are left for the version-3
    checks to name)."""
    out = dict(header, version=VERSION)
    layers = header.get("layers")
    if isinstance(layers, list):
        for i, spec in enumerate(layers):
            if isinstance(spec, dict) and "delay_kind" in spec:
                raise _Refused(f"layer {i}: field 'delay_kind' is new in IR version 3, but the file says version {header['version']}; "
                               "write it again with this delaysnn")
        out["layers"] = [{**spec, "delay_kind": "synaptic"} if isinstance(spec, dict) else spec for spec in layers]
    return out


def _array_header_problems(data: bytes) -> list[str]:
    """Shape of every array of a ``.dnet`` archive, read from the ``.npy`` headers
    before any array is: a crafted (or compressed) entry must not allocate past the sanity limits
    of :mod:`delaysnn.limits`. Non-archives are left to ``np.load`` to report."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return []
    problems = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else info.filename
            with archive.open(info) as fh:
                try:
                    version = np.lib.format.read_magic(fh)
                    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read is None:
                        raise ValueError(f".npy format version {version}")
                    shape, _, dtype = read(fh)
                except ValueError as err:
                    problems.append(f"array {name!r} has no valid .npy header ({err})")
                    continue
            count = int(np.prod(shape, dtype=object)) if shape else 1
            if name == "header":
                if dtype != np.uint8 or len(shape) != 1 or count > MAX_HEADER_BYTES:
                    problems.append(f"entry 'header' is {dtype}{list(shape)}, expected uint8 JSON of at most {MAX_HEADER_BYTES} bytes")
                continue
            if count > MAX_SYNAPSES or any(n > MAX_NEURONS for n in shape):
                problems.append(
                    f"array {name!r} has shape {list(shape)}, beyond the sanity limits of {MAX_NEURONS} per axis and "
                    f"{MAX_SYNAPSES} elements (delaysnn.limits.MAX_NEURONS, MAX_SYNAPSES); the file is corrupt"
                )
    return problems


def save(net: DelayNetwork, path: str | os.PathLike) -> Path:
    """Write ``net`` to ``path`` atomically."""
    from ..fileio import write_bytes_atomic

    return write_bytes_atomic(path, to_bytes(net))


def load(path: str | os.PathLike) -> DelayNetwork:
    from ..fileio import check_input_path

    path = check_input_path(path, "IR file")
    return from_bytes(path.read_bytes(), source=str(path))


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value

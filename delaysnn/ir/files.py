"""The ``.dnet`` file format: :func:`to_bytes` / :func:`from_bytes` and :func:`save` / :func:`load`.

One uncompressed npz whose ``header.json`` entry carries the format tag, the version and every
scalar, and whose arrays are named ``layer<i>.<field>``; no pickle anywhere. Unknown versions,
types and keys are refused.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IRValidationError
from ..limits import MAX_HEADER_BYTES, MAX_LAYERS, MAX_NEURONS, MAX_SYNAPSES
from .network import DelayLayer, DelayNetwork, NeuronParams, _is_int, check_network

FORMAT = "delaysnn-ir"
VERSION = 1

# --- serialisation -------------------------------------------------------------------------

_LAYER_SCALARS = ("weight_bits", "weight_exp", "binary")
# Added after VERSION 1 files were first written: optional when read (older files default them).
_LAYER_DEFAULTS: dict[str, Any] = {"ternary": False, "delay_bits": None, "delay_step": 1}
_NEURON_SCALARS = ("du", "dv", "vth", "bias_exp")
_LAYER_ARRAYS = ("weight", "delay", "bias_mant")


def to_bytes(net: DelayNetwork) -> bytes:
    """Serialise to the ``.dnet`` byte format (npz + JSON header, no pickle)."""
    header, arrays = contents(net)
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def contents(net: DelayNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What a ``.dnet`` holds: its JSON header and its arrays by name (checked first). The
    network's identity (``ir.identity.network_id``) hashes these, not the zip bytes, which depend on
    the numpy and zipfile versions that wrote them."""
    net.check()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "input_size": int(net.input_size),
        "input_bits": int(net.input_bits),
        "time_step_ms": float(net.time_step_ms),
        "provenance": net.provenance,
        "layers": [
            {
                **{k: _scalar(getattr(layer, k)) for k in (*_LAYER_SCALARS, *_LAYER_DEFAULTS)},
                **{k: _scalar(getattr(layer.neuron, k)) for k in _NEURON_SCALARS},
            }
            for layer in net.layers
        ],
    }
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(net.layers):
        arrays[f"layer{i}.weight"] = np.ascontiguousarray(layer.weight)
        arrays[f"layer{i}.delay"] = np.ascontiguousarray(layer.delay)
        arrays[f"layer{i}.bias_mant"] = np.ascontiguousarray(layer.neuron.bias_mant)
    return header, arrays


def from_bytes(data: bytes, source: str = "<bytes>") -> DelayNetwork:
    """Inverse of :func:`to_bytes`; rejects unknown formats, versions and keys."""
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
    if header.get("version") != VERSION or not _is_int(header.get("version")):
        raise IRValidationError(f"{source}: IR version {header.get('version')!r} not supported (this delaysnn reads {VERSION})")
    known = {"format", "version", "input_size", "input_bits", "time_step_ms", "provenance", "layers"}
    if set(header) - known:
        raise IRValidationError(f"{source}: unknown header keys {sorted(set(header) - known)}")
    problems = _header_problems(header)
    if problems:
        raise IRValidationError(f"{source}: " + "; ".join(problems))
    layers = []
    for i, spec in enumerate(header["layers"]):
        required = set(_LAYER_SCALARS) | set(_NEURON_SCALARS)
        if not required <= set(spec) <= required | set(_LAYER_DEFAULTS):
            raise IRValidationError(f"{source}: layer {i} header keys {sorted(spec)} do not match IR version {VERSION}")
        try:
            arrs = {k: files.pop(f"layer{i}.{k}") for k in _LAYER_ARRAYS}
        except KeyError as err:
            raise IRValidationError(f"{source}: layer {i} lacks array {err}") from err
        neuron = NeuronParams(
            du=spec["du"], dv=spec["dv"], vth=spec["vth"], bias_mant=arrs["bias_mant"], bias_exp=spec["bias_exp"]
        )
        layers.append(
            DelayLayer(
                weight=arrs["weight"],
                delay=arrs["delay"],
                neuron=neuron,
                weight_bits=spec["weight_bits"],
                weight_exp=spec["weight_exp"],
                binary=spec["binary"],
                **{k: spec.get(k, default) for k, default in _LAYER_DEFAULTS.items()},
            )
        )
    if files:
        raise IRValidationError(f"{source}: unknown arrays {sorted(files)}")
    net = DelayNetwork(
        input_size=header["input_size"],
        layers=layers,
        input_bits=header["input_bits"],
        time_step_ms=header["time_step_ms"],
        provenance=header["provenance"],
    )
    problems = check_network(net)
    if problems:
        raise IRValidationError(f"{source}: " + "; ".join(problems))
    return net




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


def _header_problems(header: dict[str, Any]) -> list[str]:
    """Type problems of a parsed header (a crafted file must not reach the dataclasses)."""
    problems = []
    for key in ("input_size", "input_bits"):
        if not _is_int(header.get(key)):
            problems.append(f"field {key!r} is {header.get(key)!r}, expected an integer")
    if not isinstance(header.get("time_step_ms"), int | float) or isinstance(header.get("time_step_ms"), bool):
        problems.append(f"field 'time_step_ms' is {header.get('time_step_ms')!r}, expected a number")
    if not isinstance(header.get("provenance"), dict):
        problems.append("field 'provenance' must be an object")
    layers = header.get("layers")
    if not isinstance(layers, list) or not all(isinstance(spec, dict) for spec in layers):
        return problems + ["field 'layers' must be a list of objects"]
    if not 1 <= len(layers) <= MAX_LAYERS + 1:
        return problems + [f"field 'layers' lists {len(layers)} layers, expected 1..{MAX_LAYERS + 1} (delaysnn.limits.MAX_LAYERS)"]
    for i, spec in enumerate(layers):
        for key in ("weight_bits", "weight_exp", "du", "dv", "bias_exp"):
            if key in spec and not _is_int(spec[key]):
                problems.append(f"layer {i}: field {key!r} is {spec[key]!r}, expected an integer")
        if "vth" in spec and spec["vth"] is not None and not _is_int(spec["vth"]):
            problems.append(f"layer {i}: field 'vth' is {spec['vth']!r}, expected an integer or null")
        for key in ("binary", "ternary"):
            if key in spec and not isinstance(spec[key], bool):
                problems.append(f"layer {i}: field {key!r} is {spec[key]!r}, expected true or false")
        if "delay_step" in spec and not _is_int(spec["delay_step"]):
            problems.append(f"layer {i}: field 'delay_step' is {spec['delay_step']!r}, expected an integer")
        if spec.get("delay_bits") is not None and not _is_int(spec["delay_bits"]):
            problems.append(f"layer {i}: field 'delay_bits' is {spec['delay_bits']!r}, expected an integer or null")
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

"""The integer IR: the hub every backend reads (DESIGN section 3).

Plain dataclasses of ints and int arrays; standard library and numpy only. Floats stop at
``delaysnn.quantize``. Saved as one ``.dnet`` file: an uncompressed npz whose ``header.json``
entry carries the format tag, the version and every scalar, and whose arrays are named
``layer<i>.<field>``; no pickle anywhere.

Semantics of the fields are those of Lava's ``DelayDense`` + ``LIF`` (``PyLifModelBitAcc``);
``delaysnn.sim`` states them normatively.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .constants import (  # the register ranges the IR's fields respect (re-exported: the IR is what they constrain)
    BIAS_EXP_MAX,
    BIAS_MANT_BITS,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_MAX,
    DECAY_SHIFT,
    INPUT_BITS_MAX,
    READOUT_VTH,  # noqa: F401  (re-exported: backends read the readout convention from the IR)
    VTH_BITS,
    VTH_MAX,
    WEIGHT_BITS_MAX,
    WEIGHT_EXP_MAX,
)
from .errors import IRValidationError
from .limits import MAX_DELAY_STEPS, MAX_HEADER_BYTES, MAX_LAYERS, MAX_NEURONS, MAX_STEPS, MAX_SYNAPSES

FORMAT = "delaysnn-ir"
VERSION = 1
# Delay bit widths a layer may declare: 12 bits cover delaysnn.limits.MAX_DELAY_STEPS (4096
# steps); Loihi 2's 62-step delays need 6.
DELAY_BITS_MAX = 12


@dataclass
class NeuronParams:
    """Lava ``LIF`` process parameters (du as Lava takes it)."""

    du: int  # current decay, 0..4095 (4095 clears u every step)
    dv: int  # voltage decay, 0..4095
    vth: int | None  # threshold mantissa 0..2**17-1; None = readout (voltage is the output)
    bias_mant: np.ndarray  # int32 [out], 13-bit signed
    bias_exp: int = 0  # bias = bias_mant << bias_exp, 0..7

    @property
    def spiking(self) -> bool:
        return self.vth is not None


@dataclass
class DelayLayer:
    """Dense synapses with one integer weight and one integer delay each, into LIF neurons."""

    weight: np.ndarray  # int32 [out, in]; signed, fits weight_bits (binary: values in {-1, 0, +1})
    delay: np.ndarray  # int32 [out, in]; >= 0 steps
    neuron: NeuronParams
    weight_bits: int = 8  # signed mantissa bits, 1..8 (binary networks: 1)
    weight_exp: int = 0  # effective weight = weight << weight_exp, 0..7
    binary: bool = False  # weights are sign x per-layer scale (BS4NN)
    ternary: bool = False  # weights in {-1, 0, +1} x per-layer scale (TWN); weight_bits 2
    delay_bits: int | None = None  # delays are delay_step * k with k < 2**delay_bits (None: unconstrained)
    delay_step: int = 1  # every delay is a multiple of it (a coarse per-layer delay grid)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay.size else 0


@dataclass
class DelayNetwork:
    """A feedforward stack of :class:`DelayLayer`; the last one is the readout."""

    input_size: int
    layers: list[DelayLayer]
    input_bits: int = 1  # graded first-layer input: payloads 0..2**input_bits-1 (1 = binary spikes)
    time_step_ms: float = 1.0  # physical bin, for reports only
    provenance: dict[str, Any] = field(default_factory=dict)  # JSON scalars: source, quantizer options

    @property
    def output_size(self) -> int:
        return self.layers[-1].shape[0]

    @property
    def sizes(self) -> list[int]:
        return [self.input_size] + [layer.shape[0] for layer in self.layers]

    def check(self) -> None:
        """Raise :class:`IRValidationError` listing every internal inconsistency."""
        problems = check_network(self)
        if problems:
            raise IRValidationError("invalid DelayNetwork: " + "; ".join(problems))

    def validate(self, profile: Any) -> list[str]:
        """Every violation of ``profile`` (a ``hardware.Profile``), one string each, with layer and value."""
        return check_network(self) + profile.violations(self)


def check_network(net: DelayNetwork) -> list[str]:
    """Internal consistency: shapes, dtypes and the register ranges of the arithmetic."""
    problems: list[str] = []
    if not net.layers:
        return ["network has no layers"]
    if len(net.layers) > MAX_LAYERS + 1:
        problems.append(f"{len(net.layers)} layers, more than the sanity limit of {MAX_LAYERS + 1} (delaysnn.limits.MAX_LAYERS)")
    if not _is_int(net.input_bits) or not 1 <= net.input_bits <= INPUT_BITS_MAX:
        problems.append(f"input_bits {net.input_bits!r} outside 1..{INPUT_BITS_MAX}")
    if not _is_int(net.input_size) or not 1 <= net.input_size <= MAX_NEURONS:
        return problems + [f"input_size {net.input_size!r} outside 1..{MAX_NEURONS} (delaysnn.limits.MAX_NEURONS)"]
    step = net.time_step_ms
    if isinstance(step, bool) or not isinstance(step, int | float | np.floating) or not (np.isfinite(step) and step > 0):
        problems.append(f"time_step_ms {step!r} is not a finite number of milliseconds > 0")
    problems += _provenance_problems(net.provenance)
    fan_in = net.input_size
    for i, layer in enumerate(net.layers):
        where = f"layer {i}"
        w, d, n = layer.weight, layer.delay, layer.neuron
        if not isinstance(w, np.ndarray) or not isinstance(d, np.ndarray) or not isinstance(n.bias_mant, np.ndarray):
            problems.append(f"{where}: weight, delay and bias_mant must be numpy arrays")
            continue
        if w.ndim != 2 or d.shape != w.shape:
            problems.append(f"{where}: weight {w.shape} and delay {d.shape} must be equal 2-D shapes")
            continue
        if w.shape[1] != fan_in:
            problems.append(f"{where}: weight has {w.shape[1]} inputs, previous layer has {fan_in}")
        if not 1 <= w.shape[0] <= MAX_NEURONS:
            problems.append(f"{where}: {w.shape[0]} neurons, outside 1..{MAX_NEURONS} (delaysnn.limits.MAX_NEURONS)")
            continue
        integer = True
        for name, arr in (("weight", w), ("delay", d), ("bias_mant", n.bias_mant)):
            if not np.issubdtype(arr.dtype, np.integer):
                problems.append(f"{where}: {name} dtype {arr.dtype} is not an integer type")
                integer = False
        if n.bias_mant.shape != (w.shape[0],):
            problems.append(f"{where}: bias_mant shape {n.bias_mant.shape}, expected ({w.shape[0]},)")
            integer = False
        if not _is_int(layer.weight_bits) or not 1 <= layer.weight_bits <= WEIGHT_BITS_MAX:
            problems.append(f"{where}: weight_bits {layer.weight_bits!r} outside 1..{WEIGHT_BITS_MAX}")
            continue
        if not integer:  # ranges below compare integers (uint64 2**63 must not pass as -2**63)
            continue
        problems += _grid_problems(layer, where)
        lo, hi = (-1, 1) if layer.binary or layer.ternary else (-(2 ** (layer.weight_bits - 1)), 2 ** (layer.weight_bits - 1) - 1)
        if w.size and (int(w.min()) < lo or int(w.max()) > hi):
            kind = "ternary weights take values in {-1, 0, +1}" if layer.ternary else f"{layer.weight_bits}-bit range is [{lo}, {hi}]"
            problems.append(f"{where}: weights span [{int(w.min())}, {int(w.max())}], {kind}")
        if not _is_int(layer.weight_exp) or not 0 <= layer.weight_exp <= WEIGHT_EXP_MAX:
            problems.append(f"{where}: weight_exp {layer.weight_exp!r} outside 0..{WEIGHT_EXP_MAX}")
        if d.size and int(d.min()) < 0:
            problems.append(f"{where}: negative delay {int(d.min())}")
        if d.size and int(d.max()) > MAX_DELAY_STEPS:
            problems.append(
                f"{where}: delay {int(d.max())} steps beyond the sanity limit of {MAX_DELAY_STEPS} (delaysnn.limits.MAX_DELAY_STEPS); "
                f"the file is corrupt, or re-quantize with a smaller --max-delay"
            )
        for name, val in (("du", n.du), ("dv", n.dv)):
            if not _is_int(val) or not 0 <= val <= DECAY_MAX:
                problems.append(f"{where}: {name}={val!r} outside 0..{DECAY_MAX} ({DECAY_SHIFT} bits)")
        if n.vth is not None and (not _is_int(n.vth) or not 0 <= n.vth <= VTH_MAX):
            problems.append(f"{where}: vth={n.vth!r} outside 0..{VTH_MAX} ({VTH_BITS} bits)")
        if n.bias_mant.size and (int(n.bias_mant.min()) < BIAS_MANT_MIN or int(n.bias_mant.max()) > BIAS_MANT_MAX):
            problems.append(
                f"{where}: bias_mant spans [{int(n.bias_mant.min())}, {int(n.bias_mant.max())}], "
                f"{BIAS_MANT_BITS}-bit range is [{BIAS_MANT_MIN}, {BIAS_MANT_MAX}]"
            )
        if not _is_int(n.bias_exp) or not 0 <= n.bias_exp <= BIAS_EXP_MAX:
            problems.append(f"{where}: bias_exp={n.bias_exp!r} outside 0..{BIAS_EXP_MAX}")
        last = i == len(net.layers) - 1
        if last and n.spiking:
            problems.append(f"{where}: the readout (last layer) must have vth=None")
        if not last and not n.spiking:
            problems.append(f"{where}: hidden layers must spike (vth is None)")
        fan_in = w.shape[0]
    return problems


def _grid_problems(layer: DelayLayer, where: str) -> list[str]:
    """The ternary flag and the delay grid (``delay_bits``, ``delay_step``) of an integer layer."""
    problems = []
    if not isinstance(layer.binary, bool | np.bool_) or not isinstance(layer.ternary, bool | np.bool_):
        problems.append(f"{where}: binary {layer.binary!r} and ternary {layer.ternary!r} must be true or false")
    elif layer.binary and layer.ternary:
        problems.append(f"{where}: a layer is binary or ternary, not both; re-quantize with only one of --binary, --ternary")
    elif layer.ternary and layer.weight_bits != 2:
        problems.append(f"{where}: ternary weights are stored in 2 bits, got weight_bits {layer.weight_bits}; set weight_bits=2")
    step, bits, d = layer.delay_step, layer.delay_bits, layer.delay
    if not _is_int(step) or not 1 <= step <= MAX_DELAY_STEPS:
        return problems + [f"{where}: delay_step {step!r} outside 1..{MAX_DELAY_STEPS} (delaysnn.limits.MAX_DELAY_STEPS)"]
    if bits is not None and (not _is_int(bits) or not 1 <= bits <= DELAY_BITS_MAX):
        return problems + [f"{where}: delay_bits {bits!r} outside 1..{DELAY_BITS_MAX} (or null: unconstrained)"]
    if not np.issubdtype(d.dtype, np.integer) or not d.size:
        return problems
    off = d % step != 0
    if step > 1 and off.any():
        problems.append(
            f"{where}: {int(off.sum())} delays are not multiples of delay_step {step} (e.g. {int(d[off].flat[0])}); "
            "re-quantize with --delay-bits, or set delay_step=1"
        )
    if bits is not None and int(d.max()) // step > 2**bits - 1:
        problems.append(
            f"{where}: delay {int(d.max())} is {int(d.max()) // step} x delay_step {step}, beyond the "
            f"{bits}-bit delay range 0..{2**bits - 1}; re-quantize with --delay-bits {bits}"
        )
    return problems


def _provenance_problems(provenance: Any) -> list[str]:
    """The provenance entries the backends read: ``tail_steps`` sizes every run, ``readout_scale``
    scales the class scores."""
    if not isinstance(provenance, dict):
        return ["provenance must be a dict"]
    problems = []
    tail = provenance.get("tail_steps", 0)
    if not isinstance(tail, int | np.integer) or isinstance(tail, bool) or not 0 <= tail <= MAX_STEPS:
        problems.append(f"provenance 'tail_steps' {tail!r} outside 0..{MAX_STEPS} (delaysnn.limits.MAX_STEPS)")
    scale = provenance.get("readout_scale")
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, int | float | np.number) or not (np.isfinite(scale) and scale > 0)
    ):
        problems.append(f"provenance 'readout_scale' {scale!r} is not a finite number > 0")
    return problems


# --- serialisation -------------------------------------------------------------------------

_LAYER_SCALARS = ("weight_bits", "weight_exp", "binary")
# Added after VERSION 1 files were first written: optional when read (older files default them).
_LAYER_DEFAULTS: dict[str, Any] = {"ternary": False, "delay_bits": None, "delay_step": 1}
_NEURON_SCALARS = ("du", "dv", "vth", "bias_exp")
_LAYER_ARRAYS = ("weight", "delay", "bias_mant")


def to_bytes(net: DelayNetwork) -> bytes:
    """Serialise to the ``.dnet`` byte format (npz + JSON header, no pickle)."""
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
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


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
    from .fileio import write_bytes_atomic

    return write_bytes_atomic(path, to_bytes(net))


def load(path: str | os.PathLike) -> DelayNetwork:
    from .fileio import check_input_path

    path = check_input_path(path, "IR file")
    return from_bytes(path.read_bytes(), source=str(path))


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value

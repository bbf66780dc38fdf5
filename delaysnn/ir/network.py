"""The integer IR's data: :class:`NeuronParams`, :class:`DelayLayer`, :class:`DelayNetwork`
(dataclasses of ints and int arrays), :class:`WeightKind`, :class:`DelayKind` and :func:`check_network`, the one
statement of what a valid network is.

Every field that changes what a network computes is a typed field here (``files`` serialises
them all, from the dataclass fields); ``provenance`` is metadata only: where the network came
from and what it was fitted for, never read by the arithmetic."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from ..constants import (
    BIAS_EXP_MAX,
    BIAS_MANT_BITS,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_MAX,
    DECAY_SHIFT,
    DELAY_BITS_MAX,
    INPUT_BITS_MAX,
    VTH_BITS,
    VTH_MAX,
    WEIGHT_BITS_MAX,
    WEIGHT_EXP_MAX,
)
from ..errors import IRValidationError
from ..limits import MAX_DELAY_STEPS, MAX_LAYERS, MAX_NEURONS, MAX_STEPS


class WeightKind(Enum):
    """How a layer's integer weights are read: ``FIXED`` signed ``weight_bits``-bit integers,
    ``BINARY`` sign x a per-layer scale (BS4NN; 0 = a pruned synapse), ``TERNARY`` {-1, 0, +1} x a
    per-layer scale (TWN), stored in 2 bits. The value is the name ``.dnet`` files carry."""

    FIXED = "fixed"
    BINARY = "binary"
    TERNARY = "ternary"


class DelayKind(Enum):
    """Where a layer's delays sit, which fixes the shape of ``DelayLayer.delay``: ``SYNAPTIC``
    one per synapse ``[out, in]``; ``AXONAL`` one per presynaptic neuron ``[in]``, applied to its
    spikes before the weights; ``DENDRITIC`` one per postsynaptic neuron ``[out]``, applied after
    the weighted sum. The value is the name ``.dnet`` files carry."""

    SYNAPTIC = "synaptic"
    AXONAL = "axonal"
    DENDRITIC = "dendritic"


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
    """Dense synapses with one integer weight each and integer delays (per synapse, per input
    neuron or per output neuron: ``delay_kind``), into LIF neurons."""

    weight: np.ndarray  # int32 [out, in]; signed, fits weight_bits (binary: values in {-1, 0, +1})
    delay: np.ndarray  # int32, >= 0 steps; [out, in] synaptic, [in] axonal, [out] dendritic
    neuron: NeuronParams
    weight_bits: int = 8  # signed mantissa bits, 1..8 (binary networks: 1); the width whatever the kind
    weight_exp: int = 0  # effective weight = weight << weight_exp, 0..7
    weight_kind: WeightKind = WeightKind.FIXED  # per layer: the grid its weights were quantized on
    delay_bits: int | None = None  # delays are delay_step * k with k < 2**delay_bits (None: unconstrained)
    delay_step: int = 1  # every delay is a multiple of it (a coarse per-layer delay grid)
    delay_kind: DelayKind = DelayKind.SYNAPTIC  # the shape of ``delay``: per synapse, input or output neuron

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    @property
    def delay_shape(self) -> tuple[int, ...]:
        """The shape ``delay`` has for this layer's kind and weight shape."""
        return delay_shape(self.delay_kind, self.shape)

    @property
    def delay_matrix(self) -> np.ndarray:
        """The int32 ``[out, in]`` delay every synapse sees, whatever the kind (a fresh, writable
        array): what per-synapse code (the sim, ONNX, the Lava graph) runs on."""
        out, n_in = self.shape
        d = np.asarray(self.delay, dtype=np.int32)
        if self.delay_kind is DelayKind.AXONAL:
            d = d.reshape(1, n_in)
        elif self.delay_kind is DelayKind.DENDRITIC:
            d = d.reshape(out, 1)
        return np.array(np.broadcast_to(d, (out, n_in)), dtype=np.int32)

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
    # Steps a run lasts past the input's zero-delay path to the readout (``sim.alignment``):
    # ``quantize`` sets the float model's total right padding, so the integer readout spans the
    # float readout's window. A network field, not a layer's: it sizes the whole run.
    tail_steps: int = 0
    # Integer readout voltage -> the float model's units, for the class scores (sum over time of
    # softmax(v * readout_scale)). The network's, not the readout layer's: it decodes the
    # network's output, and a hidden layer has nothing it could mean.
    readout_scale: float = 1.0
    provenance: dict[str, Any] = field(default_factory=dict)  # JSON scalars, metadata only: source, target, options

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


def delay_shape(kind: DelayKind, shape: tuple[int, int]) -> tuple[int, ...]:
    """``delay``'s shape for a layer of ``kind`` whose weight is ``shape`` = (out, in)."""
    out, n_in = shape
    return {DelayKind.AXONAL: (n_in,), DelayKind.DENDRITIC: (out,)}.get(kind, (out, n_in))


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
    problems += _run_problems(net)
    fan_in = net.input_size
    for i, layer in enumerate(net.layers):
        where = f"layer {i}"
        w, d, n = layer.weight, layer.delay, layer.neuron
        if not isinstance(w, np.ndarray) or not isinstance(d, np.ndarray) or not isinstance(n.bias_mant, np.ndarray):
            problems.append(f"{where}: weight, delay and bias_mant must be numpy arrays")
            continue
        if w.ndim != 2:
            problems.append(f"{where}: weight {w.shape} must be 2-D [out, in]")
            continue
        shape_problem = _delay_shape_problem(layer, where)
        if shape_problem:
            problems.append(shape_problem)
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
        scaled = layer.weight_kind in (WeightKind.BINARY, WeightKind.TERNARY)
        lo, hi = (-1, 1) if scaled else (-(2 ** (layer.weight_bits - 1)), 2 ** (layer.weight_bits - 1) - 1)
        if w.size and (int(w.min()) < lo or int(w.max()) > hi):
            kind = (f"{layer.weight_kind.value} weights take values in {{-1, 0, +1}}" if scaled
                    else f"{layer.weight_bits}-bit range is [{lo}, {hi}]")
            problems.append(f"{where}: weights span [{int(w.min())}, {int(w.max())}], {kind}")
        if not _is_int(layer.weight_exp) or not 0 <= layer.weight_exp <= WEIGHT_EXP_MAX:
            problems.append(f"{where}: weight_exp {layer.weight_exp!r} outside 0..{WEIGHT_EXP_MAX}")
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


def _delay_shape_problem(layer: DelayLayer, where: str) -> str | None:
    """Whether ``delay`` has the shape its ``delay_kind`` states (``weight`` is 2-D)."""
    kind = layer.delay_kind
    if not isinstance(kind, DelayKind):
        return f"{where}: delay_kind {kind!r} is not a DelayKind; use one of " + ", ".join(f"DelayKind.{k.name}" for k in DelayKind)
    if layer.delay.shape != layer.delay_shape:
        return (
            f"{where}: {kind.value} delay has shape {layer.delay.shape}, expected {layer.delay_shape} "
            f"({_DELAY_SHAPE_WORDS[kind]} of weight {layer.weight.shape})"
        )
    return None


_DELAY_SHAPE_WORDS = {
    DelayKind.SYNAPTIC: "[out, in], one per synapse",
    DelayKind.AXONAL: "[in], one per input neuron",
    DelayKind.DENDRITIC: "[out], one per output neuron",
}


def _grid_problems(layer: DelayLayer, where: str) -> list[str]:
    """The weight kind, the delays' range and their grid (``delay_bits``, ``delay_step``) of an
    integer layer whose arrays are integers of the right shapes."""
    problems = []
    d = layer.delay
    if d.size and int(d.min()) < 0:
        problems.append(f"{where}: negative delay {int(d.min())}")
    if d.size and int(d.max()) > MAX_DELAY_STEPS:
        problems.append(
            f"{where}: delay {int(d.max())} steps beyond the sanity limit of {MAX_DELAY_STEPS} (delaysnn.limits.MAX_DELAY_STEPS); "
            f"the file is corrupt, or re-quantize with a smaller --max-delay"
        )
    if not isinstance(layer.weight_kind, WeightKind):
        problems.append(
            f"{where}: weight_kind {layer.weight_kind!r} is not a WeightKind; use one of "
            + ", ".join(f"WeightKind.{k.name}" for k in WeightKind)
        )
    elif layer.weight_kind is WeightKind.TERNARY and layer.weight_bits != 2:
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


# Keys that were provenance in .dnet version 1 and are typed fields now: set in provenance, they
# would be silently ignored, so a network carrying them is refused.
MOVED_FROM_PROVENANCE = ("tail_steps", "readout_scale")


def _run_problems(net: DelayNetwork) -> list[str]:
    """``tail_steps`` sizes every run, ``readout_scale`` scales the class scores; ``provenance``
    is a dict of metadata that no longer holds either."""
    problems = []
    tail = net.tail_steps
    if not _is_int(tail) or not 0 <= tail <= MAX_STEPS:
        problems.append(f"tail_steps {tail!r} outside 0..{MAX_STEPS} (delaysnn.limits.MAX_STEPS)")
    scale = net.readout_scale
    if isinstance(scale, bool | np.bool_) or not isinstance(scale, int | float | np.number) or not (np.isfinite(scale) and scale > 0):
        problems.append(f"readout_scale {scale!r} is not a finite number > 0")
    if not isinstance(net.provenance, dict):
        return problems + ["provenance must be a dict"]
    for key in MOVED_FROM_PROVENANCE:
        if key in net.provenance:
            problems.append(f"provenance {key!r} is a field of the network since IR version 2: set DelayNetwork.{key} instead")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)

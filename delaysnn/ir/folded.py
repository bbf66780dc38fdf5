"""The float IR: the trained model folded once, read by every float exporter and by the quantizer.

``delaysnn.model.fold.fold`` (also ``DelaySNN.folded()``) turns a ``DelaySNN`` into a :class:`FoldedNetwork`: per layer a weight and an
integer delay per synapse (DCLS positions rounded as the model evaluates them, BatchNorm's eval
gain folded into the weight rows), a bias (BatchNorm's shift), ``tau``, the threshold (None for
the readout) and the synaptic filter. :func:`run` states the float semantics once, in numpy
(float64), per layer and step::

    a[t] = sum_d W_d x[t - d]                   # x[t] = 0 outside the layer's input
    i    = i - i / synaptic_tau + a[t]          # with a synaptic filter (else i = a[t])
    v    = v - v / tau + i + bias               # the bias acts at every step, padding included
    s    = v >= threshold;  v[s] = 0            # hidden layers; the readout's v is the output

Time axis (``padding``): ``"once"`` (our models) appends ``len(layers) * right_padding`` zero
steps to the input and runs every layer over that whole window, as hardware does; ``"per_layer"``
(imported SNN-delays models, ``truncate_layers``) gives each layer's output ``right_padding``
more steps than its input, so a layer's spikes after that cut never reach the next layer. The
readout of a ``T``-step input has ``T + len(layers) * right_padding`` steps either way.

Only ``delaysnn.model.fold`` reads the torch model (weights, positions, BatchNorm buffers, QAT
settings); ONNX ``--float``, NIR ``--float``, the nirtorch modules and the quantizer read a
:class:`FoldedNetwork`, and this module imports no torch model.
``FoldedNetwork.source`` carries the model's own parameters so that a float NIR file can be
read back into a bit-identical model; no exporter computes with it. Importing this module
loads numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, IRValidationError, UnsupportedError
from .network import DelayKind

PADDING_MODES = ("once", "per_layer")


@dataclass
class FoldedLayer:
    """A layer of the float model with BatchNorm folded (float64; delays in steps).

    ``weight``/``delay`` hold one tap per synapse; ``taps`` the further ``(weight, delay)``
    planes of synapses whose DCLS taps sit on different delays (``kernel_count > 1``): every
    plane adds to the layer's delayed sum. The integer IR holds one delay per synapse, so the
    quantizer refuses a layer with ``taps`` (:func:`one_delay_layers`).

    ``delay_kind`` shapes ``delay`` as in the integer IR (``delaysnn.ir.network.DelayKind``):
    ``[out, in]`` (synaptic), ``[in]`` (axonal: one per presynaptic neuron), ``[out]``
    (dendritic: one per postsynaptic neuron); :meth:`delay_matrix` is the ``[out, in]`` delay
    every synapse sees. A layer with ``taps`` is synaptic."""

    name: str
    weight: np.ndarray  # float64 [out, in]: BN gain x the kernel value the model convolves with (taps on one delay summed)
    delay: np.ndarray  # int64 steps, shaped by delay_kind; synaptic [out, in] (0 where the weight is 0)
    bias: np.ndarray  # float64 [out]: BN shift, added to v every step
    tau: float  # membrane time constant, steps
    synaptic_tau: float | None  # first-order current filter, steps (None: none)
    threshold: float | None  # fires on v >= threshold; None: the readout
    taps: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    delay_kind: DelayKind = DelayKind.SYNAPTIC

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    def delay_shape(self) -> tuple[int, ...]:
        """The shape ``delay`` has for this layer's kind."""
        out, fan_in = self.shape
        return {DelayKind.AXONAL: (fan_in,), DelayKind.DENDRITIC: (out,)}.get(self.delay_kind, (out, fan_in))

    def delay_matrix(self) -> np.ndarray:
        """The ``[out, in]`` delay every synapse sees (a vector broadcast; a fresh array)."""
        d = np.asarray(self.delay)
        if self.delay_kind is DelayKind.AXONAL:
            d = d[None, :]
        elif self.delay_kind is DelayKind.DENDRITIC:
            d = d[:, None]
        return np.array(np.broadcast_to(d, self.shape))

    def planes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every ``(weight, delay)`` plane, the one-tap plane first (delays ``[out, in]``)."""
        if self.delay_kind is not DelayKind.SYNAPTIC:
            return [(self.weight, self.delay_matrix()), *self.taps]
        return [(self.weight, self.delay), *self.taps]

    def dense(self) -> dict[int, np.ndarray]:
        """``{d: W_d [out, in]}``: the weights arriving with delay ``d`` (every plane summed)."""
        out: dict[int, np.ndarray] = {}
        for w, d in self.planes():
            for e in np.unique(d[w != 0]):
                acc = out.setdefault(int(e), np.zeros(self.shape))
                acc += np.where(d == e, w, 0.0)
        return dict(sorted(out.items()))

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """COO ``(post, pre, delay, weight)`` of every non-zero tap (at most one per (post, pre, delay))."""
        parts = [(*np.nonzero(w), d[w != 0], w[w != 0]) for w, d in self.planes()]
        return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


@dataclass
class ModelRecord:
    """The torch model's own parameters, for a bit-identical rebuild (float NIR metadata)."""

    config: dict[str, Any]  # ModelConfig.to_dict()
    kernel_weight: list[np.ndarray]  # per synapse layer, float32 [out, in, kernel_count]: the weights the kernel uses
    kernel_delay: list[np.ndarray]  # per synapse layer, int64 [out, in, kernel_count]: their delays
    batchnorm: list[dict[str, Any] | None]  # per hidden layer: bn_weight, bn_bias, bn_mean, bn_var, bn_eps


@dataclass
class FoldedNetwork:
    """The float IR (see the module docstring). ``max_delay`` is the DCLS kernel size:
    delays lie in ``0 .. max_delay - 1``."""

    input_size: int
    time_step_ms: float
    max_delay: int
    layers: list[FoldedLayer]
    padding: str = "once"  # "once" | "per_layer"
    right_padding: int = 0  # steps each layer adds to the window ((max_delay - 1) // 2 in SNN-delays)
    source: ModelRecord | None = None

    @property
    def sizes(self) -> list[int]:
        return [self.input_size] + [lay.shape[0] for lay in self.layers]

    @property
    def readout_tau(self) -> float:
        return self.layers[-1].tau

    @property
    def tail_steps(self) -> int:
        """Steps the readout runs past the input: ``len(layers) * right_padding``."""
        return len(self.layers) * self.right_padding

    def output_steps(self, input_steps: int) -> int:
        return int(input_steps) + self.tail_steps

    def check(self) -> None:
        """Raise :class:`IRValidationError` naming every inconsistency (shapes, ranges, values)."""
        problems = [] if self.padding in PADDING_MODES else [f"padding {self.padding!r}: expected one of {PADDING_MODES}"]
        if not self.layers:
            problems.append("no layers")
        if self.right_padding < 0 or self.max_delay < 1 or not self.time_step_ms > 0:
            problems.append(f"right_padding {self.right_padding}, max_delay {self.max_delay}, time_step_ms {self.time_step_ms}: out of range")
        fan_in = self.input_size
        for index, lay in enumerate(self.layers):
            problems += _layer_problems(lay, fan_in, self.max_delay, index == len(self.layers) - 1)
            fan_in = lay.shape[0]
        if problems:
            raise IRValidationError("float IR: " + "; ".join(problems))


def _layer_problems(lay: FoldedLayer, fan_in: int, max_delay: int, readout: bool) -> list[str]:
    out = lay.shape[0]
    problems = []
    if not isinstance(lay.delay_kind, DelayKind):
        return [f"{lay.name}: delay_kind {lay.delay_kind!r} is not a DelayKind"]
    if lay.delay_kind is not DelayKind.SYNAPTIC:
        if lay.taps:
            problems.append(f"{lay.name}: taps (several delays per synapse) need delay_kind synaptic, not {lay.delay_kind.value}")
        if lay.weight.ndim != 2 or np.shape(lay.delay) != lay.delay_shape():
            problems.append(f"{lay.name}: {lay.delay_kind.value} delay {np.shape(lay.delay)}, expected {lay.delay_shape()}")
            return problems
    for w, d in lay.planes():
        if w.shape != (out, fan_in) or d.shape != (out, fan_in):
            problems.append(f"{lay.name}: weight {w.shape} / delay {d.shape}, expected ({out}, {fan_in})")
        elif d.size and (int(d.min()) < 0 or int(d.max()) > max_delay - 1):
            problems.append(f"{lay.name}: delays outside 0..{max_delay - 1}")
        if not np.all(np.isfinite(w)):
            problems.append(f"{lay.name}: non-finite weights")
    if lay.bias.shape != (out,) or not np.all(np.isfinite(lay.bias)):
        problems.append(f"{lay.name}: bias must be {out} finite values")
    taus = [lay.tau] + ([lay.synaptic_tau] if lay.synaptic_tau is not None else [])
    if not all(math.isfinite(t) and t >= 1.0 for t in taus):
        problems.append(f"{lay.name}: time constants {taus} must be finite and >= 1 step")
    if (lay.threshold is None) != readout or (lay.threshold is not None and not math.isfinite(lay.threshold)):
        problems.append(f"{lay.name}: threshold {lay.threshold}: hidden layers need a finite threshold, the readout none")
    return problems


def as_folded(model: Any) -> FoldedNetwork:
    """``model`` if it already is a :class:`FoldedNetwork`, else its float IR (``DelaySNN.folded()``,
    :func:`delaysnn.model.fold.fold`): asked of the model so that readers of the float IR never
    import the torch model."""
    if isinstance(model, FoldedNetwork):
        return model
    folded = getattr(model, "folded", None)
    if not callable(folded) or not hasattr(model, "cfg"):
        raise UnsupportedError(f"cannot fold a {type(model).__name__}; expected a DelaySNN or a FoldedNetwork")
    return folded()


def one_delay_layers(fnet: FoldedNetwork) -> list[FoldedLayer]:
    """The quantizer's input: ``fnet``'s layers, each with one delay per synapse; a synapse whose
    taps sit on different delays is refused (the integer IR holds one delay per synapse)."""
    kernel_count = fnet.source.config.get("kernel_count", "?") if fnet.source is not None else "?"
    for lay in fnet.layers:
        if lay.taps:
            split = int(sum((w != 0) for w, _ in lay.taps).astype(bool).sum())
            raise UnsupportedError(
                f"{lay.name}: {split} synapses have taps on different delays (kernel_count={kernel_count}); "
                "the IR holds one delay per synapse: retrain with kernel_count=1"
            )
    return fnet.layers


# --- the reference forward ----------------------------------------------------------------------


def as_float_input(fnet: FoldedNetwork, x: Any) -> np.ndarray:
    """``x`` (numpy or torch ``[batch, time, input_size]``, finite) as float64."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != fnet.input_size or x.shape[0] < 1 or x.shape[1] < 1:
        raise DataError(f"input has shape {tuple(x.shape)}; expected [batch >= 1, time >= 1, {fnet.input_size}] (the network's input_size)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or not np.all(np.isfinite(x)):
        raise DataError("input must be finite numbers (spike counts)")
    return x.astype(np.float64)


def delayed_sum(lay: FoldedLayer, x: np.ndarray, steps: int) -> np.ndarray:
    """``a[b, t, o] = sum_d (x[b, t - d] @ W_d.T)`` for ``t < steps``, ``x`` zero outside its steps."""
    a = np.zeros((x.shape[0], steps, lay.shape[0]))
    for d, w in lay.dense().items():
        n = min(steps - d, x.shape[1])
        if n > 0:
            a[:, d : d + n] += x[:, :n] @ w.T
    return a


def leaky(x: np.ndarray, tau: float) -> np.ndarray:
    """``v = v - v / tau + x[t]`` over time (the readout, and the synaptic current)."""
    v = np.zeros_like(x[:, 0])
    out = np.empty_like(x)
    for t in range(x.shape[1]):
        v = v - v / tau + x[:, t]
        out[:, t] = v
    return out


def lif(x: np.ndarray, tau: float, threshold: float) -> np.ndarray:
    """``v = v - v / tau + x[t]; s = v >= threshold; v[s] = 0``; returns the spikes (0/1)."""
    v = np.zeros_like(x[:, 0])
    out = np.empty_like(x)
    for t in range(x.shape[1]):
        v = v - v / tau + x[:, t]
        s = v >= threshold
        out[:, t] = s
        v = np.where(s, 0.0, v)
    return out


def run(fnet: FoldedNetwork, x: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """The float semantics (module docstring), float64: ``(readout voltages [batch, T', out],
    spikes of every hidden layer)`` with ``T' = fnet.output_steps(T)``, as ``DelaySNN.forward_trace``."""
    fnet.check()
    h = as_float_input(fnet, x)
    grow = fnet.right_padding
    if fnet.padding == "once":
        h = np.concatenate([h, np.zeros((h.shape[0], fnet.tail_steps, h.shape[2]))], axis=1)
        grow = 0
    spikes: list[np.ndarray] = []
    for lay in fnet.layers:
        a = delayed_sum(lay, h, h.shape[1] + grow)
        if lay.synaptic_tau is not None:
            a = leaky(a, lay.synaptic_tau)
        a = a + lay.bias
        if lay.threshold is None:
            return leaky(a, lay.tau), spikes
        h = lif(a, lay.tau, lay.threshold)
        spikes.append(h)
    raise IRValidationError("float IR: the last layer must be the readout (threshold None)")  # check() rules it out


__all__ = [
    "FoldedLayer",
    "FoldedNetwork",
    "ModelRecord",
    "PADDING_MODES",
    "as_float_input",
    "as_folded",
    "delayed_sum",
    "leaky",
    "lif",
    "one_delay_layers",
    "run",
]

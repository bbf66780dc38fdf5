"""The bit-accurate reference simulator: the normative statement of delaysnn's integer arithmetic.

Every backend (Lava, netx, ONNX, NIR...) must reproduce :func:`simulate` spike for spike and
voltage for voltage. The arithmetic is that of Lava 0.10's ``DelayDense`` (bit-accurate model)
feeding ``LIF`` (``PyLifModelBitAcc``), including the int32 registers of Lava's Python models, so
parity holds even where a network drives its registers to wrap or saturate (DESIGN section 4).

The rules live in the small pure functions below, each with its equation; :func:`simulate`
composes them. The network is feedforward, so a layer's whole input over time is known before
the layer runs: the synaptic input ``a[o, t, b]`` of all steps is computed at once (event driven,
see :func:`synaptic_input`), then only the cheap per-step neuron recurrence remains. Both inner
loops are compiled with numba (:mod:`delaysnn.kernels`) and run in parallel over output neurons;
tests check them against a literal per-sample, per-step loop.

Time alignment (defined once, here, by :func:`alignment`): input step ``t`` is sim step ``t``
(Lava time step ``t + 1``); a spike at step ``t`` through a synapse of delay ``d`` reaches the next
layer's ``a`` at step ``t + 1 + d``, so layer ``l`` (0-based) adds one step of latency and its
output at step ``t`` first reflects input step ``t - (l + 1)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import (
    ACTIVATION_SHIFT,
    CURRENT_DECAY_OFFSET,
    DECAY_SHIFT,
    DECAY_UNITY,
    INT32_MAX,
    INT32_MODULUS,
    LAYER_LATENCY,
    READOUT_VTH,
    THRESHOLD_SHIFT,
    U_MODULUS,
    U_WRAP,
    V_SATURATION,
)
from .errors import DataError, UnsupportedError
from .ir import DelayLayer, DelayNetwork


@dataclass(frozen=True)
class Alignment:
    """Where things sit on the simulator's time axis (shared by every backend).

    ``input_steps`` input steps are presented at sim steps ``0 .. input_steps-1``; the run lasts
    ``steps`` steps; ``latency[l]`` is the first step at which layer ``l``'s output can reflect
    input step 0 (``l + 1``): layer ``l`` at step ``t`` corresponds to the float model's (zero
    latency) step ``t - latency[l]``.
    """

    input_steps: int
    steps: int
    latency: tuple[int, ...]

    def float_step(self, layer: int, step: int) -> int:
        """The float model's step that ``layer``'s output at sim ``step`` corresponds to."""
        return step - self.latency[layer]


def alignment(net: DelayNetwork, input_steps: int, steps: int | None = None) -> Alignment:
    """The time axis of a run of ``net`` on ``input_steps`` input steps.

    By default the run lasts until the last input step has reached the readout through the
    zero-delay path (``input_steps + len(layers)``) plus ``net.provenance["tail_steps"]`` (0 if
    absent; ``quantize`` sets it to the float model's total right padding so the integer readout
    spans the float readout's window).
    """
    latency = tuple(LAYER_LATENCY * (i + 1) for i in range(len(net.layers)))
    if steps is None:
        tail = int(net.provenance.get("tail_steps", 0))
        steps = input_steps + latency[-1] + tail
    if steps < 1:
        raise DataError(f"steps={steps}: a run needs at least one step")
    return Alignment(input_steps=int(input_steps), steps=int(steps), latency=latency)


# --- the arithmetic, one rule per function ---


def effective_weight(weight: np.ndarray, weight_exp: int) -> np.ndarray:
    """``w_eff = weight << weight_exp`` (Loihi's shared weight exponent, 0..7 in the IR).

    Lava applies the shift to each step's per-delay-slot sum; with a non-negative exponent that is
    the same as shifting each synapse, so the simulator shifts the summed input (:func:`activation`).
    """
    return np.asarray(weight, dtype=np.int64) << int(weight_exp)


def effective_bias(bias_mant: np.ndarray, bias_exp: int) -> np.ndarray:
    """``bias = bias_mant << bias_exp``, added to ``v`` at every step."""
    return np.asarray(bias_mant, dtype=np.int64) << int(bias_exp)


def effective_threshold(vth: int | None) -> int:
    """``vth << 6``; a readout (``vth=None``) uses ``READOUT_VTH``: it can reset only at saturation."""
    return (READOUT_VTH if vth is None else int(vth)) << THRESHOLD_SHIFT


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32, as Lava's int32 registers (``a_buff``, ``a_in << 6``, u, v) do."""
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) & (INT32_MODULUS - 1)) - (1 << 31)


def decay(x: np.ndarray, keep: int) -> np.ndarray:
    """``p = x * keep;  sign(p) * (|p| >> 12)``: multiply by ``keep/4096``, truncating toward zero.

    ``keep`` is ``4096 - (du + 1)`` for the current and ``4096 - dv`` for the voltage.
    """
    p = np.asarray(x, dtype=np.int64) * int(keep)
    return np.sign(p) * (np.abs(p) >> DECAY_SHIFT)


def activation(a: np.ndarray, weight_exp: int) -> np.ndarray:
    """The current increment ``(a << weight_exp) << 6`` as Lava's int32 registers hold it (any layout).

    ``a`` is the exact integer sum of weight x payload of the synapses arriving now.
    ``a_buff`` (int32) holds ``a << weight_exp``; the LIF shifts it by 6 in int32:
    ``wrap32(wrap32(a << weight_exp) << 6)``. Both wraps are no-ops unless ``|a| << weight_exp``
    reaches 2**25.
    """
    a = np.asarray(a, dtype=np.int64)
    return wrap32(wrap32(a << int(weight_exp)) << ACTIVATION_SHIFT)


def wrap_current(u: np.ndarray) -> np.ndarray:
    """The 24-bit current wraps once, asymmetrically: ``u > 2**23 -> u - 2**24``, then
    ``u <= -2**23 -> u + 2**24`` (so +2**23 stays and -2**23 becomes +2**23)."""
    u = np.where(u > U_WRAP, u - U_MODULUS, u)
    return np.where(u <= -U_WRAP, u + U_MODULUS, u)


def current_update(u: np.ndarray, act: np.ndarray, du: int) -> np.ndarray:
    """``u = wrap_current(wrap32(decay(u, 4096 - (du + 1)) + act))`` with ``act`` from :func:`activation`."""
    return wrap_current(wrap32(decay(u, DECAY_UNITY - (du + CURRENT_DECAY_OFFSET)) + act))


def voltage_update(v: np.ndarray, u: np.ndarray, dv: int, bias: np.ndarray) -> np.ndarray:
    """``v = clip(wrap32(decay(v, 4096 - dv) + u + bias), -(2**23 - 1), 2**23 - 1)`` (v saturates)."""
    return np.clip(wrap32(decay(v, DECAY_UNITY - dv) + u + bias), -V_SATURATION, V_SATURATION)


def spike_and_reset(v: np.ndarray, vth_eff: int) -> tuple[np.ndarray, np.ndarray]:
    """``s = v > vth << 6`` (strictly greater); ``v[s] = 0``. ``u`` is not reset."""
    s = v > vth_eff
    return s, np.where(s, 0, v)


def neuron_step(
    u: np.ndarray, v: np.ndarray, act: np.ndarray, layer: DelayLayer
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of one layer's neurons, in the order Lava runs it: current, voltage, spike/reset.

    Returns ``(u, v, s)``. :func:`simulate` runs the same equations vectorized over time.
    """
    n = layer.neuron
    u = current_update(u, act, n.du)
    v = voltage_update(v, u, n.dv, effective_bias(n.bias_mant, n.bias_exp))
    s, v = spike_and_reset(v, effective_threshold(n.vth))
    return u, v, s


# --- results ---


@dataclass
class SimResult:
    """Output of a run, on the time axis of :func:`alignment` (``[batch, steps, neurons]``).

    ``spikes``: per hidden layer, uint8 0/1. ``voltages``: the readout's ``v`` (after reset),
    int32. ``u``/``v``: per layer (readout included) traces when recorded, else None.
    """

    spikes: list[np.ndarray]
    voltages: np.ndarray
    alignment: Alignment
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    readout_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return int(self.voltages.shape[0])

    def class_scores(self, readout_scale: float | None = None) -> np.ndarray:
        return class_scores(self, readout_scale)

    def predict(self, readout_scale: float | None = None) -> np.ndarray:
        return predict(self, readout_scale)


def class_scores(result: SimResult, readout_scale: float | None = None) -> np.ndarray:
    """``sum_t softmax(v_t * readout_scale)`` over every step of the run: ``[batch, classes]``.

    ``readout_scale`` maps integer voltages back to the float model's units (``quantize`` stores it
    in ``net.provenance["readout_scale"]``); None uses the result's own (1.0 if the IR has none).
    """
    scale = result.readout_scale if readout_scale is None else float(readout_scale)
    z = result.voltages.astype(np.float64) * scale
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).sum(axis=1)


def predict(result: SimResult, readout_scale: float | None = None) -> np.ndarray:
    """Class index per sample: argmax of :func:`class_scores`."""
    return class_scores(result, readout_scale).argmax(axis=-1)


# --- input handling ---


def as_input(net: DelayNetwork, x: Any) -> np.ndarray:
    """Validate ``x`` (numpy array or torch tensor ``[batch, time, input_size]`` of payloads) and
    return it as int64. Payloads must be integers in ``0 .. 2**input_bits - 1``."""
    return check_payloads(x, net.input_size, net.input_bits)


def check_payloads(x: Any, input_size: int, input_bits: int) -> np.ndarray:
    """The one input validator of every backend: ``x`` (numpy array or torch tensor) must be
    ``[batch >= 1, time >= 1, input_size]`` integer payloads in ``0 .. 2**input_bits - 1``
    (booleans and integral floats accepted). Returns int64; raises a one-line ``DataError``."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != input_size:
        raise DataError(f"input has shape {tuple(x.shape)}; expected [batch, time, {input_size}] (the network's input_size)")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise DataError(f"input has shape {tuple(x.shape)}; need at least one sample and one step")
    if x.dtype == np.bool_:
        return x.astype(np.int64)
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)) or not np.array_equal(x, np.trunc(x)):
            raise DataError("input has non-integer values; payloads are integer spike counts (graded spikes)")
    elif not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"input dtype {x.dtype} is not numeric; expected integer spike counts")
    top = (1 << input_bits) - 1
    lo, hi = x.min(), x.max()
    if lo < 0:
        raise DataError(f"input has negative payload {lo}; payloads are counts in 0..{top}")
    if hi > top:
        raise DataError(f"input payload {hi} exceeds input_bits={input_bits} (max {top}); clip the counts or re-quantize with more input bits")
    return x.astype(np.int64)


# --- synaptic input: all steps at once ---

# Cost model (ns per unit, measured on the development machine) used to pick the cheaper exact
# method per layer: the compiled scatter costs ~1 ns per (event x output), BLAS ~0.04 ns per
# multiply-add.
_EVENT_COST = 1.0
_MATMUL_COST = 0.04
_F64_EXACT = 1 << 53  # every integer of magnitude below 2**53 is a float64
_F32_EXACT = 1 << 24


@dataclass(frozen=True)
class Events:
    """Nonzero inputs of a layer, sorted by input, then step, then sample. Those of input ``i`` are
    ``starts[i]:starts[i + 1]``; event ``k`` is a spike at step ``t`` of sample ``b`` stored as
    ``rows[k] = (t + 1) * batch + b`` (the row of ``a`` that a delay-0 arrival reaches, see
    :data:`LAYER_LATENCY`) with payload ``payload[k]`` (None for binary spikes)."""

    starts: np.ndarray
    rows: np.ndarray
    payload: np.ndarray | None
    batch: int
    size: int  # number of inputs

    @property
    def count(self) -> int:
        return int(self.rows.size)

    @property
    def max_payload(self) -> int:
        return 1 if self.payload is None or self.payload.size == 0 else int(self.payload.max())

    def coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i, t, b)`` of every event."""
        i = np.repeat(np.arange(self.size), np.diff(self.starts))
        t, b = np.divmod(self.rows, self.batch)
        return i, t - LAYER_LATENCY, b


def events(x_itb: np.ndarray, steps: int, binary: bool) -> Events:
    """The events of ``x_itb`` (``[inputs, time, batch]``) that can still arrive within ``steps``
    (a spike at step ``t`` reaches ``a`` at ``t + 1 + d`` at the earliest)."""
    from . import kernels

    t_max = min(max(steps - LAYER_LATENCY, 0), x_itb.shape[1])
    counts = kernels.count_events(x_itb, t_max)
    starts = np.concatenate(([0], np.cumsum(counts)))
    rows = np.empty(int(starts[-1]), dtype=np.int64)
    payload = None if binary else np.empty(rows.size, dtype=np.int64)
    kernels.fill_events(x_itb, t_max, starts, rows, payload)
    return Events(starts=starts, rows=rows, payload=payload, batch=x_itb.shape[2], size=x_itb.shape[0])


def activation_bound(weight: np.ndarray, max_payload: int) -> int:
    """``max_o sum_i |weight[o, i]| * max_payload``: no ``|a|`` of the layer can exceed it."""
    return int(np.abs(np.asarray(weight, dtype=np.int64)).sum(axis=1).max(initial=0)) * int(max_payload)


def synaptic_input(
    ev: Events, weight: np.ndarray, delay: np.ndarray, steps: int, *, shift: int = 0, method: str | None = None
) -> np.ndarray:
    """``a[o, t, b] = sum_i weight[o, i] * x[i, t - 1 - delay[o, i], b]``, times ``2**shift``.

    Returns ``[out, steps, batch]`` integers: int32 when the bound below proves every sum fits,
    else int64. Two exact methods, the cheaper one chosen by a cost model (``method`` forces
    ``"events"`` or ``"dense"``; tests check that both agree):

    - events: for each output ``o``, add every event's weight to row ``(t + 1 + delay[o, i], b)``
      (compiled loop, :func:`delaysnn.kernels.scatter`; work ~ events x outputs; one
      output's ``steps x batch`` row stays in cache while all events stream past it);
    - dense: one float matmul per distinct delay on time-shifted inputs (work ~ distinct delays x
      dense), better for dense activity or few distinct delays. Exact because every partial sum
      is an integer of magnitude at most ``B = max_o sum_i |weight[o, i]| * max_payload`` (times
      ``2**shift``), and float32 (float64) represents every integer below 2**24 (2**53).
    """
    n_out = weight.shape[0]
    bound = activation_bound(weight, ev.max_payload) << shift
    if bound >= _F64_EXACT:
        raise UnsupportedError(f"synaptic sums may reach {bound} >= 2**53; fan-in too large for exact simulation")
    if method not in (None, "events", "dense"):
        raise ValueError(f"method {method!r}: expected 'events', 'dense' or None")
    dtype = np.int32 if bound <= INT32_MAX else np.int64
    if ev.count == 0:
        return np.zeros((n_out, steps, ev.batch), dtype=dtype)
    n_delays = len(np.unique(delay))
    event_cost = ev.count * n_out * _EVENT_COST
    dense_cost = n_delays * steps * ev.batch * ev.size * n_out * _MATMUL_COST
    if method == "dense" or (method is None and dense_cost < event_cost):
        a = _synaptic_dense(ev, weight, delay, steps, np.float32 if bound < _F32_EXACT else np.float64)
        return (a.astype(np.int64) << shift).astype(dtype)
    return _synaptic_events(ev, weight, delay, steps, shift, dtype)


def _synaptic_events(ev: Events, weight: np.ndarray, delay: np.ndarray, steps: int, shift: int, dtype: type) -> np.ndarray:
    from . import kernels

    nb = ev.batch
    rows = steps * nb
    # A delay of `steps` or more lands past the run like any longer one: clipping it bounds the
    # buffer by the run's length, not by the largest delay.
    delay_rows = np.minimum(np.asarray(delay, dtype=np.int64), steps) * nb  # [out, in]
    w = (np.asarray(weight, dtype=np.int64) << shift).astype(dtype)
    # one spare row span past the end so late arrivals need no bounds check; cut off below
    out = np.zeros((weight.shape[0], rows + int(delay_rows.max(initial=0)) + nb), dtype=dtype)
    payload = None if ev.payload is None else ev.payload.astype(dtype)
    kernels.scatter(ev.starts, ev.rows, payload, delay_rows, w, out)
    return out[:, :rows].reshape(-1, steps, nb)


def _synaptic_dense(ev: Events, weight: np.ndarray, delay: np.ndarray, steps: int, dtype: type) -> np.ndarray:
    n_out, n_in = weight.shape
    x = np.zeros((steps, ev.batch, n_in), dtype=dtype)
    i, t, b = ev.coordinates()
    x[t, b, i] = 1 if ev.payload is None else ev.payload
    a = np.zeros((steps, ev.batch, n_out), dtype=dtype)
    w = np.asarray(weight, dtype=dtype)
    for d in np.unique(delay):
        n = steps - LAYER_LATENCY - int(d)
        if n <= 0:
            continue
        wd = np.where(delay == d, w, 0).T
        start = LAYER_LATENCY + int(d)
        a[start:] += (x[:n].reshape(-1, n_in) @ wd).reshape(n, ev.batch, n_out)
    return a.transpose(2, 0, 1)


# --- the neuron recurrence ---


@dataclass
class _LayerTrace:
    spikes: np.ndarray  # bool [out, steps, batch]
    u: np.ndarray | None  # int32 [out, steps, batch]
    v: np.ndarray | None


def _run_neurons(act: np.ndarray, layer: DelayLayer, record_u: bool, record_v: bool) -> _LayerTrace:
    """:func:`neuron_step` over every step of ``act`` (``[out, steps, batch]``, :func:`activation`
    values), compiled (:func:`delaysnn.kernels.lif`); the per-step order is sequential, the
    neurons and samples are independent."""
    from . import kernels

    n = layer.neuron
    n_out, steps, nb = act.shape
    bias = effective_bias(n.bias_mant, n.bias_exp)
    spikes = np.empty((n_out, steps, nb), dtype=bool)
    u_tr = np.empty((n_out, steps, nb), dtype=np.int32) if record_u else None
    v_tr = np.empty((n_out, steps, nb), dtype=np.int32) if record_v else None
    kernels.lif(
        act, DECAY_UNITY - (n.du + CURRENT_DECAY_OFFSET), DECAY_UNITY - n.dv, bias, effective_threshold(n.vth), spikes, u_tr, v_tr
    )
    return _LayerTrace(spikes=spikes, u=u_tr, v=v_tr)


# --- the public entry point ---


def _to_bto(x_otb: np.ndarray) -> np.ndarray:
    """``[neurons, steps, batch]`` (internal layout) -> ``[batch, steps, neurons]`` (public layout)."""
    return np.ascontiguousarray(x_otb.transpose(2, 1, 0))


def simulate(net: DelayNetwork, x: Any, *, record: bool = True, steps: int | None = None) -> SimResult:
    """Run ``net`` on ``x`` (``[batch, time, input_size]`` integer payloads), bit-accurately.

    Returns hidden spikes and readout voltages ``[batch, steps, n]`` on the :func:`alignment` time
    axis; with ``record`` also every layer's ``u`` and ``v`` traces (to bisect a backend mismatch).
    """
    net.check()
    xs = as_input(net, x)
    align = alignment(net, xs.shape[1], steps)
    n_steps = align.steps
    layer_in = xs.transpose(2, 1, 0)  # internal layout: [inputs, time, batch]
    binary = net.input_bits == 1
    spikes: list[np.ndarray] = []
    u_list: list[np.ndarray] = []
    v_list: list[np.ndarray] = []
    voltages = np.zeros(0)
    last = len(net.layers) - 1
    for li, layer in enumerate(net.layers):
        ev = events(layer_in, n_steps, binary)
        shift = layer.weight_exp + ACTIVATION_SHIFT
        if activation_bound(layer.weight, ev.max_payload) << shift <= INT32_MAX:
            act = synaptic_input(ev, layer.weight, layer.delay, n_steps, shift=shift)  # activation() is a plain shift
        else:  # an int32 register may wrap: apply activation() to the exact sums
            act = activation(synaptic_input(ev, layer.weight, layer.delay, n_steps), layer.weight_exp)
        trace = _run_neurons(act, layer, record_u=record, record_v=record or li == last)
        if record:
            u_list.append(_to_bto(trace.u))
            v_list.append(_to_bto(trace.v))
        if li == last:
            voltages = _to_bto(trace.v)
        else:
            spikes.append(_to_bto(trace.spikes).view(np.uint8))
            layer_in = trace.spikes
            binary = True
    return SimResult(
        spikes=spikes,
        voltages=voltages,
        alignment=align,
        u=u_list if record else None,
        v=v_list if record else None,
        readout_scale=readout_scale(net),
    )


@dataclass
class RunSummary:
    """What a long run keeps (:func:`simulate_batches`): per sample the predicted class, per hidden
    layer the spike count and the neuron-steps it is a fraction of, and the first batch's result
    (for a raster plot). Memory does not grow with the number of samples beyond ``predictions``."""

    samples: int
    predictions: np.ndarray  # int64 [samples]
    spike_counts: list[int]  # per hidden layer
    neuron_steps: list[int]  # per hidden layer: samples x steps x neurons
    first: SimResult | None = None

    @property
    def firing_rates(self) -> list[float]:
        """Spikes per neuron per step, per hidden layer (as ``SimResult.spikes[l].mean()``)."""
        return [c / n if n else 0.0 for c, n in zip(self.spike_counts, self.neuron_steps)]


def simulate_batches(net: DelayNetwork, batches: Iterable[Any], *, steps: int | None = None) -> RunSummary:
    """:func:`simulate` over ``batches`` (each ``[batch, time, input_size]``) one at a time, keeping
    only a :class:`RunSummary`: peak memory is that of one batch, whatever the number of samples.
    Samples are independent, so the predictions and counts equal those of one run on all of them."""
    predictions: list[np.ndarray] = []
    counts: list[int] = [0] * (len(net.layers) - 1)
    sizes: list[int] = [0] * (len(net.layers) - 1)
    first = None
    for x in batches:
        result = simulate(net, x, record=False, steps=steps)
        predictions.append(result.predict())
        for li, s in enumerate(result.spikes):
            counts[li] += int(np.count_nonzero(s))
            sizes[li] += int(s.size)
        if first is None:
            first = result
    if first is None:
        raise DataError("no input batches to simulate; need at least one sample")
    preds = np.concatenate(predictions)
    return RunSummary(samples=int(preds.size), predictions=preds, spike_counts=counts, neuron_steps=sizes, first=first)


def readout_scale(net: DelayNetwork) -> float:
    """``net.provenance["readout_scale"]`` (set by ``quantize``), 1.0 when absent."""
    scale = net.provenance.get("readout_scale")
    return 1.0 if scale is None else float(scale)


def run(net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
    """The ``sim`` backend of ``exporters.TARGETS``: the run every other backend's ``run`` is compared with."""
    return simulate(net, x, record=True, steps=steps)


__all__: Sequence[str] = (
    "Alignment",
    "RunSummary",
    "SimResult",
    "activation",
    "alignment",
    "as_input",
    "check_payloads",
    "class_scores",
    "current_update",
    "decay",
    "effective_bias",
    "effective_threshold",
    "effective_weight",
    "neuron_step",
    "predict",
    "readout_scale",
    "run",
    "simulate",
    "simulate_batches",
    "spike_and_reset",
    "synaptic_input",
    "events",
    "activation_bound",
    "voltage_update",
    "wrap32",
    "wrap_current",
)

"""Running a network: time alignment, the per-layer neuron recurrence, :func:`simulate` and its
results (:class:`SimResult`, :func:`class_scores`, :func:`predict`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..constants import (
    ACTIVATION_SHIFT,
    CURRENT_DECAY_OFFSET,
    DECAY_UNITY,
    INT32_MAX,
    LAYER_LATENCY,
)
from ..errors import DataError
from ..ir import DelayLayer, DelayNetwork
from .neuron import activation, effective_bias, effective_threshold
from .synapses import activation_bound, as_input, events, synaptic_input


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
    zero-delay path (``input_steps + len(layers)``) plus ``net.tail_steps`` (``quantize`` sets it
    to the float model's total right padding so the integer readout spans the float readout's
    window).
    """
    latency = tuple(LAYER_LATENCY * (i + 1) for i in range(len(net.layers)))
    if steps is None:
        steps = input_steps + latency[-1] + int(net.tail_steps)
    if steps < 1:
        raise DataError(f"steps={steps}: a run needs at least one step")
    return Alignment(input_steps=int(input_steps), steps=int(steps), latency=latency)


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
    in ``net.readout_scale``); None uses the result's own (the network's).
    """
    scale = result.readout_scale if readout_scale is None else float(readout_scale)
    z = result.voltages.astype(np.float64) * scale
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).sum(axis=1)


def predict(result: SimResult, readout_scale: float | None = None) -> np.ndarray:
    """Class index per sample: argmax of :func:`class_scores`."""
    return class_scores(result, readout_scale).argmax(axis=-1)


def concatenate(results: Sequence[SimResult]) -> SimResult:
    """Results of consecutive sample slices, one time axis -> one result over all their samples
    (the first's alignment, scale and extras; recorded u/v traces are dropped)."""
    first = results[0]
    return replace(
        first,
        spikes=[np.concatenate([r.spikes[i] for r in results]) for i in range(len(first.spikes))],
        voltages=np.concatenate([r.voltages for r in results]),
        u=None,
        v=None,
    )


# --- the neuron recurrence ---


@dataclass
class _LayerTrace:
    spikes: np.ndarray  # bool [out, steps, batch]
    u: np.ndarray | None  # int32 [out, steps, batch]
    v: np.ndarray | None


def _run_neurons(act: np.ndarray, layer: DelayLayer, record_u: bool, record_v: bool) -> _LayerTrace:
    """:func:`neuron_step` over every step of ``act`` (``[out, steps, batch]``, :func:`activation`
    values), compiled (:func:`delaysnn.sim.kernels.lif`); the per-step order is sequential, the
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
        delay = layer.delay_matrix  # every kind as the per-synapse delays it means: spike-exact by construction
        if activation_bound(layer.weight, ev.max_payload) << shift <= INT32_MAX:
            act = synaptic_input(ev, layer.weight, delay, n_steps, shift=shift)  # activation() is a plain shift
        else:  # an int32 register may wrap: apply activation() to the exact sums
            act = activation(synaptic_input(ev, layer.weight, delay, n_steps), layer.weight_exp)
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
        readout_scale=float(net.readout_scale),
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


def simulate_batches(
    net: DelayNetwork, batches: Iterable[Any], *, steps: int | None = None, each: Callable[[Any, SimResult], None] | None = None
) -> RunSummary:
    """:func:`simulate` over ``batches`` (each ``[batch, time, input_size]``) one at a time, keeping
    only a :class:`RunSummary`: peak memory is that of one batch, whatever the number of samples.
    Samples are independent, so the predictions and counts equal those of one run on all of them.
    ``each(x, result)`` sees every batch's full result (e.g. ``delaysnn.app.agreement``) without a second run."""
    predictions: list[np.ndarray] = []
    counts: list[int] = [0] * (len(net.layers) - 1)
    sizes: list[int] = [0] * (len(net.layers) - 1)
    first = None
    for x in batches:
        result = simulate(net, x, record=False, steps=steps)
        predictions.append(result.predict())
        if each is not None:
            each(x, result)
        for li, s in enumerate(result.spikes):
            counts[li] += int(np.count_nonzero(s))
            sizes[li] += int(s.size)
        if first is None:
            first = result
    if first is None:
        raise DataError("no input batches to simulate; need at least one sample")
    preds = np.concatenate(predictions)
    return RunSummary(samples=int(preds.size), predictions=preds, spike_counts=counts, neuron_steps=sizes, first=first)


def run(net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
    """The ``sim`` backend of ``exporters.TARGETS``: the run every other backend's ``run`` is compared with."""
    return simulate(net, x, record=True, steps=steps)

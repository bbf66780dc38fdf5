"""A layer's input as events and its synaptic input ``a[o, t, b]`` for all steps at once (event
driven through the compiled scatter, or a dense product, whichever is cheaper and exact)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import (
    INT32_MAX,
    LAYER_LATENCY,
)
from ..errors import DataError, UnsupportedError
from ..ir import DelayNetwork

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
      (compiled loop, :func:`delaysnn.sim.kernels.scatter`; work ~ events x outputs; one
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

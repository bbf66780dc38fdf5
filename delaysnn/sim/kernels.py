"""Compiled inner loops of :mod:`delaysnn.sim` (numba): the event scatter and the LIF recurrence.

They are the equations of :mod:`delaysnn.sim` written as plain loops, so numba can run them
without temporaries and in parallel over output neurons (each neuron's row is written by one
thread only, so results do not depend on the thread count). ``tests/test_sim.py`` checks them
against a literal per-sample, per-step loop and against the dense matmul method.

numba is imported here, and this module is imported by ``sim`` only when a network is first
simulated, so ``import delaysnn`` stays fast. It imports only :mod:`delaysnn.constants` (not
``sim``: no import cycle). Compiled code is cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..constants import DECAY_SHIFT, INT32_MODULUS, LAYER_LATENCY, U_MODULUS, U_WRAP, V_SATURATION

# numba freezes module globals into the compiled code as constants.
_I32_HALF = INT32_MODULUS >> 1
_I32_MASK = INT32_MODULUS - 1


@njit(parallel=True, cache=True)
def scatter(starts, rows, payload, delay_rows, weight, out):  # pragma: no cover - compiled
    """``out[o, rows[k] + delay_rows[o, i]] += weight[o, i] * payload[k]`` for every event ``k`` of
    input ``i`` (``payload`` None: binary spikes, ``+= weight[o, i]``).

    Events are sorted by input: those of input ``i`` are ``starts[i]:starts[i + 1]``. numba
    compiles a ``payload=None`` call without the branch (dead-branch pruning on None arguments;
    the other kernels' optional outputs rely on it too).
    """
    n_out, n_in = weight.shape
    for o in prange(n_out):
        row = out[o]
        for i in range(n_in):
            w = weight[o, i]
            if w == 0:
                continue
            off = delay_rows[o, i]
            for k in range(starts[i], starts[i + 1]):
                if payload is None:
                    row[rows[k] + off] += w
                else:
                    row[rows[k] + off] += w * payload[k]


@njit(inline="always")
def _wrap32(x):  # pragma: no cover - compiled
    return ((x + _I32_HALF) & _I32_MASK) - _I32_HALF


@njit(inline="always")
def _decay(x, keep):  # pragma: no cover - compiled
    p = x * keep
    if p >= 0:
        return p >> DECAY_SHIFT
    return -((-p) >> DECAY_SHIFT)


@njit(parallel=True, cache=True)
def lif(act, keep_u, keep_v, bias, vth_eff, spikes, u_trace, v_trace):  # pragma: no cover - compiled
    """The LIF recurrence of ``sim.neuron_step`` over ``act[o, t, b]`` (``sim.activation`` values).

    Writes ``spikes[o, t, b]`` and the ``u``/``v`` traces (int32, same layout) unless they are None.
    Every wrap and clip of Lava's registers is applied at every step; they are a few integer
    operations each.
    """
    n_out, steps, nb = act.shape
    for o in prange(n_out):
        u = np.zeros(nb, np.int64)
        v = np.zeros(nb, np.int64)
        bo = bias[o]
        for t in range(steps):
            for b in range(nb):
                # current: u = wrap_current(wrap32(decay(u) + act))
                x = _wrap32(_decay(u[b], keep_u) + np.int64(act[o, t, b]))
                if x > U_WRAP:
                    x -= U_MODULUS
                if x <= -U_WRAP:
                    x += U_MODULUS
                u[b] = x
                # voltage: v = clip(wrap32(decay(v) + u + bias))
                y = _wrap32(_decay(v[b], keep_v) + x + bo)
                if y > V_SATURATION:
                    y = V_SATURATION
                elif y < -V_SATURATION:
                    y = -V_SATURATION
                # spike (strictly greater) and reset v only
                s = y > vth_eff
                if s:
                    y = 0
                v[b] = y
                spikes[o, t, b] = s
                if u_trace is not None:
                    u_trace[o, t, b] = x
                if v_trace is not None:
                    v_trace[o, t, b] = y


@njit(parallel=True, cache=True)
def count_events(x, t_max):  # pragma: no cover - compiled
    """Nonzero entries of ``x[i, :t_max, :]`` per input ``i``."""
    n_in, _, nb = x.shape
    counts = np.zeros(n_in, np.int64)
    for i in prange(n_in):
        c = 0
        for t in range(t_max):
            for b in range(nb):
                if x[i, t, b] != 0:
                    c += 1
        counts[i] = c
    return counts


@njit(parallel=True, cache=True)
def fill_events(x, t_max, starts, rows, payload):  # pragma: no cover - compiled
    """The events of ``x[i, :t_max, :]``, sorted by input then step then sample: the row
    ``(t + LAYER_LATENCY) * batch + b`` where a delay-0 arrival lands, and (unless None) the
    payload ``x[i, t, b]``."""
    n_in, _, nb = x.shape
    for i in prange(n_in):
        k = starts[i]
        for t in range(t_max):
            for b in range(nb):
                if x[i, t, b] != 0:
                    rows[k] = (t + LAYER_LATENCY) * nb + b
                    if payload is not None:
                        payload[k] = x[i, t, b]
                    k += 1

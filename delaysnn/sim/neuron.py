"""The integer update rules of one neuron step (DESIGN section 4), one rule per function with
its equation: the normative arithmetic every backend reproduces."""

from __future__ import annotations

import numpy as np

from ..constants import (
    ACTIVATION_SHIFT,
    CURRENT_DECAY_OFFSET,
    DECAY_SHIFT,
    DECAY_UNITY,
    INT32_MODULUS,
    READOUT_VTH,
    THRESHOLD_SHIFT,
    U_MODULUS,
    U_WRAP,
    V_SATURATION,
)
from ..ir import DelayLayer

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

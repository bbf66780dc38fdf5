"""lava-dl netx HDF5 out: what netx reproduces exactly (weights, biases) and the writer."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from delaysnn.constants import (
    BIAS_MANT_BITS,
    INT32_MAX,
    NETX_BIAS_EXP,
    NETX_CURRENT_DECAY_OFFSET,
    NETX_MAX_DELAY,
    NETX_MAX_WEIGHT_RESCALE,
    READOUT_VTH,
)
from delaysnn.errors import UnsupportedError
from delaysnn.ir import DelayKind, DelayLayer, DelayNetwork
from delaysnn.sim import effective_bias, effective_weight

from .checks import _profile, check

NETX_FORMAT = "delaysnn-netx"


def netx_weight_problem(w: np.ndarray) -> str | None:
    """Why netx (lava-dl 0.6) + ``DelayDense`` would not apply integer weights ``w`` exactly, or None.

    Mirrors ``lava.lib.dl.netx.utils.optimize_weight_bits`` (sign mode, scale and weight bits),
    then ``PyDelayDenseModelBitAcc``'s own sign mode, 8-bit clip and truncation, then its
    ``>> -weight_exponent`` of each per-delay-slot sum (exact only if every weight is a multiple).
    """
    w = np.asarray(w, dtype=np.int64)
    hi, lo = int(w.max()), int(w.min())
    if hi == 0 and lo == 0:
        return "all weights are zero (netx divides by the largest weight)"
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        return f"mixed-sign weights span [{lo}, {hi}], netx clips them to [-256, 254]"
    if hi < 0:  # netx: inhibitory
        signed, scale = 0, -256 / lo
    elif lo >= 0:  # excitatory
        if hi > 255:
            return f"weights up to {hi}, netx handles at most 255"
        signed, scale = 0, 255 / hi
    else:  # mixed
        signed, scale = 1, min(127 / hi if hi > 0 else np.inf, -128 / lo)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    if scale_bits < 0:
        return f"weights down to {lo} need a negative shift in netx (at most 256 in magnitude)"
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    num_weight_bits = 8 - scale_bits - n
    shifted = w << scale_bits
    # DelayDense infers its own sign mode, then clips to 8 bits and truncates (lava/utils/weightutils.py)
    if shifted.min() >= 0:
        mode, lo_clip, hi_clip = "excitatory", 0, 255
    elif shifted.max() <= 0:
        mode, lo_clip, hi_clip = "inhibitory", -255, 0
    else:
        mode, lo_clip, hi_clip = "mixed", -256, 255
    realized = np.clip(shifted, lo_clip, hi_clip)
    trunc = 8 - num_weight_bits + (mode == "mixed")
    if trunc < 0:
        return f"netx computes {num_weight_bits} weight bits for weights in [{lo}, {hi}] (negative truncation in DelayDense)"
    magnitude = -realized if mode == "inhibitory" else realized
    magnitude = (magnitude >> trunc) << trunc
    realized = -magnitude if mode == "inhibitory" else magnitude
    if np.any(realized % (1 << scale_bits)) or not np.array_equal(realized >> scale_bits, w):
        bad = int(np.count_nonzero((realized >> scale_bits) != w)) or int(np.count_nonzero(realized % (1 << scale_bits)))
        return f"{bad} weights are not reproduced by netx's weight optimisation and DelayDense's 8-bit clipping (range [{lo}, {hi}])"
    return None


def netx_bias(layer: DelayLayer, bias_mant_bits: int = BIAS_MANT_BITS) -> tuple[np.ndarray | None, str | None]:
    """``bias_mant << bias_exp`` as netx's ``bias`` (applied as ``bias << 6``), or the reason it is not representable."""
    n = layer.neuron
    bias = effective_bias(n.bias_mant, n.bias_exp)
    if not bias.any():
        return None, None
    if np.any(bias % (1 << NETX_BIAS_EXP)):
        return None, f"bias_mant << {n.bias_exp} is not a multiple of 2**{NETX_BIAS_EXP} (netx fixes bias_exp = {NETX_BIAS_EXP})"
    out = bias >> NETX_BIAS_EXP
    half = 1 << (bias_mant_bits - 1)
    if out.min() < -half or out.max() > half - 1:
        return None, f"bias {int(out.min())}..{int(out.max())} (x 2**6) does not fit the {bias_mant_bits}-bit bias mantissa"
    return out, None


def netx_delay(layer: DelayLayer) -> np.ndarray:
    """The ``delay`` dataset of ``layer``: what netx's ``create_dense`` reads as the layer's kind.

    netx repeats a 1-D delay of length N_out along the inputs (one per output neuron) and one of
    length N_in along the outputs (one per input neuron), the N_out reading first. So dendritic
    delays go as a 1-D ``[out]``, axonal ones as a 1-D ``[in]`` unless N_in == N_out (netx would
    read them per output neuron), where they go as the ``[out, in]`` matrix, like synaptic ones."""
    out, n_in = layer.shape
    if layer.delay_kind is DelayKind.DENDRITIC or (layer.delay_kind is DelayKind.AXONAL and n_in != out):
        return np.asarray(layer.delay, np.int64).reshape(-1)
    # an absent (zero-weight) synapse is no connection: delay 0, as netx's sparse loader sets it
    return np.where(layer.weight != 0, layer.delay_matrix, 0).astype(np.int64)


def save_netx(net: DelayNetwork, path: str | os.PathLike, profile: Any = "loihi2") -> Path:
    """Write ``net`` as a lava-dl netx HDF5 (``/layer/<i>/{type, shape, weight, delay, bias,
    neuron/{type, iDecay, vDecay, vThMant, refDelay, gradedSpike}}``), atomically.

    ``/layer/0`` is an ``input`` layer carrying only the input shape (netx skips it); the graded
    input width goes to the root attribute ``input_bits`` (pass it to ``hdf5.Network`` as
    ``input_message_bits``). Weights are written as ``weight << weight_exp`` (netx has no weight
    exponent), biases as ``(bias_mant << bias_exp) >> 6`` (netx fixes ``bias_exp = 6``), ``iDecay``
    as ``du + 1`` (netx builds ``du = iDecay - 1``). Networks netx cannot reproduce exactly are
    refused, every reason listed.
    """
    import h5py

    from delaysnn.fileio import write_bytes_atomic

    prof = _profile(profile)
    check(net, prof)
    bias_bits = prof.limits.bias_mant_bits.value if prof.limits.bias_mant_bits is not None else BIAS_MANT_BITS
    problems = []
    if NETX_MAX_WEIGHT_RESCALE * ((1 << net.input_bits) - 1) > INT32_MAX:  # netx rescales weights up to 8 bits
        problems.append(f"input: {net.input_bits}-bit payloads times netx's rescaled weights overflow Lava's int32 product (at most 23 bits)")
    weights, biases = [], []
    for li, layer in enumerate(net.layers):
        if layer.max_delay > NETX_MAX_DELAY:
            problems.append(f"layer {li}: delay {layer.max_delay} > {NETX_MAX_DELAY}, netx would clip it")
        weights.append(effective_weight(layer.weight, layer.weight_exp))  # netx has no weight exponent
        why = netx_weight_problem(weights[-1])
        if why:
            problems.append(f"layer {li}: {why}")
        bias, why = netx_bias(layer, bias_bits)
        if why:
            problems.append(f"layer {li}: {why}")
        biases.append(bias)
    if problems:
        advice = ""
        if net.provenance.get("target") != "loihi":  # not quantized within netx's limits: say how to
            from delaysnn.ir.identity import refit_advice

            advice = "; " + refit_advice(net, "loihi")
        raise UnsupportedError("netx cannot represent this network exactly: " + "; ".join(problems) + advice)
    buffer = io.BytesIO()  # in memory, then written by write_bytes_atomic: HDF5 crashes on a full disk
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = NETX_FORMAT
        f.attrs["input_bits"] = int(net.input_bits)
        f.attrs["tail_steps"] = int(net.tail_steps)
        f.attrs["readout_scale"] = float(net.readout_scale)
        top = f.create_group("layer")
        inp = top.create_group("0")
        inp.create_dataset("type", data=np.bytes_("input"))
        inp.create_dataset("shape", data=np.array([net.input_size], dtype=np.int64))
        for li, (layer, weight, bias) in enumerate(zip(net.layers, weights, biases)):
            g = top.create_group(str(li + 1))
            g.create_dataset("type", data=np.bytes_("dense"))
            g.create_dataset("shape", data=np.array([layer.shape[0]], dtype=np.int64))
            g.create_dataset("weight", data=weight)
            g.create_dataset("delay", data=netx_delay(layer))
            if bias is not None:
                g.create_dataset("bias", data=bias)
            n = layer.neuron
            ng = g.create_group("neuron")
            ng.create_dataset("type", data=np.bytes_("CUBA"))
            ng.create_dataset("iDecay", data=np.int64(n.du + NETX_CURRENT_DECAY_OFFSET))
            ng.create_dataset("vDecay", data=np.int64(n.dv))
            ng.create_dataset("vThMant", data=np.int64(READOUT_VTH if n.vth is None else n.vth))
            ng.create_dataset("refDelay", data=np.int64(1))
            ng.create_dataset("gradedSpike", data=np.bool_(False))
    return write_bytes_atomic(path, buffer.getvalue())


def export(net: DelayNetwork, path: str | os.PathLike, profile: Any = "loihi2") -> Path:
    """``delaysnn export --target loihi``: the netx HDF5 of :func:`save_netx`."""
    return save_netx(net, path, profile)

"""Every width, shift, limit and latency of delaysnn's integer arithmetic, in one place.

The arithmetic is that of Lava 0.10's bit-accurate ``DelayDense`` + ``LIF`` models
(``lava/proc/dense/models.py``, ``lava/proc/lif/models.py``, DESIGN section 4); the netx facts
are lava-dl 0.6's (``lava/lib/dl/netx/hdf5.py``, ``blocks/process.py``, ``utils.py``).
``delaysnn.ir``, ``delaysnn.sim``, ``delaysnn.sim.kernels``, ``delaysnn.quantization`` and the exporters
import them from here; the sim's functions state the equations they appear in.

These are properties of the arithmetic and of the file formats, not of a hardware profile
(``hardware/profiles/*.toml`` holds those, each with a source; ``tests/test_architecture.py``
checks that the Loihi 2 profile agrees with the values below). Sanity limits on what a file
may ask us to allocate live in :mod:`delaysnn.limits`. Imports nothing (numba freezes these
module globals into compiled code as constants).
"""

from __future__ import annotations

# --- registers -------------------------------------------------------------------------------
REGISTER_BITS = 24  # u and v are 24-bit registers on Loihi 2 (PyLifModelBitAcc wraps/clips at 2**23)
U_WRAP = 1 << 23  # u wraps once beyond it: u > U_WRAP -> u - 2**24; u <= -U_WRAP -> u + 2**24
U_MODULUS = 1 << REGISTER_BITS  # what one wrap of u adds or subtracts
U_NO_WRAP_MAX = U_WRAP - 1  # |u| <= this never wraps (+2**23 stays, but -2**23 wraps to +2**23)
V_SATURATION = (1 << 23) - 1  # v is clipped to +-(2**23 - 1) (it saturates, it does not wrap)
INT32_MODULUS = 1 << 32  # Lava's Python models hold a_buff, a << 6, u and v in int32 registers
INT32_MAX = (1 << 31) - 1  # largest int32: sums up to it need no wrap (and fit onnx MatMulInteger)

# --- decays ----------------------------------------------------------------------------------
DECAY_SHIFT = 12  # du, dv are 12-bit fractions: x * keep >> 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096: keep = DECAY_UNITY - decay
DECAY_MAX = DECAY_UNITY - 1  # du, dv are unsigned 12-bit: 0..4095
CURRENT_DECAY_OFFSET = 1  # Lava's ds_offset: u decays by (du + 1) / 4096, so du = 4095 clears u

# --- shifts ----------------------------------------------------------------------------------
ACTIVATION_SHIFT = 6  # synaptic input is MSB-aligned into u: a << 6
THRESHOLD_SHIFT = 6  # the threshold is compared as vth << 6 (v > vth << 6, strictly)

# --- parameter fields (IR ranges, DESIGN section 3) -------------------------------------------
WEIGHT_BITS_MAX = 8  # signed weight mantissa bits: Loihi 2 weights are at most 8-bit signed
WEIGHT_EXP_MAX = 7  # effective weight = weight << weight_exp, weight_exp 0..7 in the IR
VTH_BITS = 17  # threshold mantissa: unsigned 17 bits (PyLifModelBitAcc)
VTH_MAX = (1 << VTH_BITS) - 1
BIAS_MANT_BITS = 13  # bias mantissa: signed 13 bits (PyLifModelBitAcc)
BIAS_MANT_MAX = (1 << (BIAS_MANT_BITS - 1)) - 1
BIAS_MANT_MIN = -(1 << (BIAS_MANT_BITS - 1))
BIAS_EXP_MAX = 7  # bias = bias_mant << bias_exp, bias_exp unsigned 3 bits
INPUT_BITS_MAX = 24  # graded payload width: Lava's graded spike ports are 24 bits wide
# A readout (vth=None) is an LIF with the largest threshold Lava accepts: its v (saturating at
# 2**23 - 1) can in principle still exceed it and reset, and every backend must do the same.
READOUT_VTH = VTH_MAX
READOUT_RESET_V = READOUT_VTH << THRESHOLD_SHIFT  # a readout voltage above this resets to 0

# --- the deployment recipe's grids ---------------------------------------------------------------
# Delay bit widths a layer may declare: 12 bits cover delaysnn.limits.MAX_DELAY_STEPS (4096
# steps); Loihi 2's 62-step delays need 6.
DELAY_BITS_MAX = 12
DELAY_GRID_MODES = ("step", "cap")  # a layer's delays on multiples of a step, or clipped to 2**bits - 1
PRUNE_SCOPES = ("layer", "global")  # pruning ranks magnitudes per layer or over the network

# --- time --------------------------------------------------------------------------------------
LAYER_LATENCY = 1  # each DelayDense buffers its output one step: a delay-0 spike arrives next step

# --- Lava 0.10 process facts -------------------------------------------------------------------
LAVA_WEIGHT_BITS = 8  # DelayDense(num_weight_bits=8): weights are clipped to 8 bits (+ sign mode)
DELAYDENSE_MAX_DELAY = 63  # PyDelayDenseModelBitAcc raises beyond it inside a worker: the run hangs
DELAYDENSE_DELAY_BITS = 6  # "Loihi 2 has a maximum of 6 bits for delays": 2**6 - 1 = DELAYDENSE_MAX_DELAY

# --- lava-dl 0.6 netx facts ----------------------------------------------------------------------
NETX_MAX_DELAY = 62  # netx hdf5.py clips synaptic delays to 62 and builds DelayDense(max_delay=62)
NETX_BIAS_EXP = 6  # netx builds LIF(bias_exp=6): a file's bias is applied as bias << 6
NETX_MAX_EFFECTIVE_WEIGHT = 127  # netx re-derives weight_exp from weight << weight_exp: exact within 8 signed bits
NETX_MAX_WEIGHT_RESCALE = 1 << 8  # netx's optimize_weight_bits rescales weights by at most 2**8
NETX_CURRENT_DECAY_OFFSET = CURRENT_DECAY_OFFSET  # netx builds du = iDecay - 1: a file stores du + 1

"""Lower a ``DelayNetwork`` to Lava 0.10 processes, run it, and write/run lava-dl netx HDF5.

Graph (DESIGN section 4): ``RingBuffer`` (graded input) -> per layer ``DelayDense(weights, delays)``
-> ``LIF``; the readout is an ``LIF`` with ``vth = READOUT_VTH`` whose ``v`` is the output. Run with
``Loihi2SimCfg(select_tag="fixed_pt")``, which selects ``PyDelayDenseModelBitAcc`` and
``PyLifModelBitAcc`` (checked after compilation). Field mapping, no arithmetic of our own:

- weights: Lava infers a sign mode per matrix and, for mixed signs, drops each weight's lowest
  bit; signed 8-bit weights are therefore passed as ``2 * W`` with ``weight_exp - 1`` and an
  explicit mixed sign mode, as netx does (exact: every ``2 * W`` is even);
- graded input: the first ``DelayDense`` gets ``num_message_bits = input_bits`` (0 = binary);
- time: sim step ``t`` is Lava time step ``t + 1``; the ``RingBuffer`` adds no latency
  (``delaysnn.sim.alignment``).

Samples run one after another through one compiled graph: the input ring buffer holds every
sample back to back, and between samples ``u``, ``v`` and every ``a_buff`` are set to zero.
``build(..., copies=B)`` puts B independent copies of the network side by side (block-diagonal
weights and delays, tiled biases), so one run of the graph advances B samples at once; copy ``b``
of run ``g`` holds sample ``g * B + b``.

Sparse layers (pruned or ternary, issue 13): a layer whose weights are more than
``SPARSE_ZERO_FRACTION`` zeros is built as ``DelaySparse`` (``PyDelaySparseModelBitAcc``), which
holds only the non-zero synapses, instead of ``DelayDense``; ``sparse=True``/``False`` forces either.
Both give identical spikes (tests/exporters/test_lava.py: the frontier cases, all-zero rows and
columns, a single synapse, graded input, block-diagonal copies): DelaySparse clips, truncates and
shifts the per-delay-slot sums exactly as DelayDense does. It is not faster in the CPU simulator
(it restacks its per-delay matrices every step: about 20-35 % slower on a 140-128-20 layer pruned
to 80-95 %); it is chosen because it is the connectivity a pruned layer has on chip. lava-dl netx
files store dense ``weight``/``delay`` matrices (a pruned synapse is weight 0, written with delay
0); ``hdf5.Network(sparse_fc_layer=True)`` loads them as ``DelaySparse`` without the zeros, which
:func:`build_netx` does when most synapses are zero (also spike-identical).

Modules, by job: ``checks`` (what Lava cannot run), ``graph`` (the process graph, DelayDense or
DelaySparse), ``runtime`` (running it: resets, workers, Ctrl-C, readback), ``netx_write`` /
``netx_read`` (lava-dl netx HDF5 out and in: ``save_netx``, ``read_netx_layout``, ``build_netx``),
``describe``. Lava is imported lazily, inside the functions, by absolute imports (``lava...`` is
the real lava-nc package; this one is ``exporters.lava``): ``import exporters.lava`` needs only
numpy.
"""

from .checks import check, clip_delays
from .describe import describe_netx
from .graph import SPARSE_ZERO_FRACTION, LavaGraph, build, zero_fraction
from .netx_read import NetxBackend, build_netx, netx, read_netx_layout, run_netx
from .netx_write import NETX_FORMAT, export, netx_bias, netx_weight_problem, save_netx
from .runtime import run, run_graph

__all__ = [
    "NETX_FORMAT",
    "SPARSE_ZERO_FRACTION",
    "LavaGraph",
    "NetxBackend",
    "build",
    "build_netx",
    "check",
    "clip_delays",
    "describe_netx",
    "export",
    "netx",
    "netx_bias",
    "netx_weight_problem",
    "read_netx_layout",
    "run",
    "run_graph",
    "run_netx",
    "save_netx",
    "zero_fraction",
]

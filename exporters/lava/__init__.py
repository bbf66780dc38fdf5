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

Many samples per run (issue 15): ``build(..., copies=B)`` puts B independent copies of the
network side by side (block-diagonal weights and delays, tiled biases), so one run of the graph
advances B samples at once; copy ``b`` of run ``g`` holds sample ``g * B + b``. :func:`run` gives
each slice of ``default_copies(net)`` samples (64 for the speech model) a freshly compiled graph
of that many copies, run once: compiling costs ~1.5 s, while resetting a used graph's ``u``, ``v``
and ``a_buff`` with ``Var.set`` (one element per message) costs ~0.2 s per sample. ``copies=1``
runs every sample through one graph, state set to zero in between (netx files of one network run
so). Two more costs are gone: recorders write each step into a file the parent maps
(:mod:`.recorders`; Lava's sinks read back one element per message, 1.3 s per speech sample),
and Lava's synapse models build their delay-expanded weight matrix once, not every step
(:mod:`.speedups`, the arithmetic unchanged). The netx backend writes a file of
``netx_copies(net)`` copies (:func:`tile_network`, dense, so 16) with the same writer.

Sparse layers (pruned or ternary, issue 13): a layer whose weights are more than
``SPARSE_ZERO_FRACTION`` zeros is built as ``DelaySparse`` (``PyDelaySparseModelBitAcc``), which
holds only the non-zero synapses, instead of ``DelayDense``; ``sparse=True``/``False`` forces either.
Both give identical spikes (tests/exporters/test_lava.py: the frontier cases, all-zero rows and
columns, a single synapse, graded input, block-diagonal copies): DelaySparse clips, truncates and
shifts the per-delay-slot sums exactly as DelayDense does. It is chosen because it is the
connectivity a pruned layer has on chip, and block-diagonal copies are mostly zeros, so the rule
(applied to the matrix Lava gets) makes graphs of copies ``DelaySparse`` throughout. lava-dl netx
files store dense ``weight``/``delay`` matrices (a pruned synapse is weight 0, written with delay
0); ``hdf5.Network(sparse_fc_layer=True)`` loads them as ``DelaySparse`` without the zeros, which
:func:`build_netx` does when most synapses are zero (also spike-identical).

Modules, by job: ``checks`` (what Lava cannot run), ``graph`` (the process graph, DelayDense or
DelaySparse, copies), ``runtime`` (running it: slices, resets, workers, Ctrl-C, readback),
``recorders`` (file recorders), ``speedups`` (the memoized matrix), ``netx_write`` /
``netx_read`` (lava-dl netx HDF5 out and in: ``save_netx``, ``read_netx_layout``, ``build_netx``),
``describe``. Lava is imported lazily, inside the functions, by absolute imports (``lava...`` is
the real lava-nc package; this one is ``exporters.lava``): ``import exporters.lava`` needs only
numpy.
"""

from .checks import check, clip_delays
from .describe import describe_netx
from .graph import SPARSE_ZERO_FRACTION, LavaGraph, build, tile_network, zero_fraction
from .netx_read import NetxBackend, build_netx, netx, netx_copies, read_netx_layout, run_netx
from .netx_write import NETX_FORMAT, export, netx_bias, netx_weight_problem, save_netx
from .runtime import default_copies, run, run_graph

__all__ = [
    "NETX_FORMAT",
    "SPARSE_ZERO_FRACTION",
    "LavaGraph",
    "NetxBackend",
    "build",
    "build_netx",
    "check",
    "clip_delays",
    "default_copies",
    "describe_netx",
    "export",
    "netx",
    "netx_copies",
    "netx_bias",
    "netx_weight_problem",
    "read_netx_layout",
    "run",
    "run_graph",
    "run_netx",
    "save_netx",
    "tile_network",
    "zero_fraction",
]

"""NIR backend: per-synapse (and per-neuron) delays written with NIR 1.0's standard primitives only.

NIR 1.0 has an element-wise ``Delay`` (``y_c(t) = x_c(t - tau_c)``) and no per-synapse delay;
custom node types cannot be read back by ``nir.read``. So every layer is written, exactly, as::

    Linear(F) -> Delay(tau) -> Linear|Affine(W') -> LIF | CubaLIF | LI | CubaLI

``F`` ``[P, in]`` is the 0/1 fan-out from each input onto the ``P`` distinct (input, delay)
pairs its non-zero synapses use (sorted by input, then delay), ``tau`` ``[P]`` those delays in
float64 seconds (steps x dt, nudged so that ``tau / dt`` is never below the step count) and
``W'`` ``[out, P]`` the weights regrouped onto the pairs: ``W'[o, p] = w[o, i_p]`` if synapse
``(o, i_p)`` has delay ``d_p``, else 0. The composition ``W' . Delay . F`` is the layer's
delayed dense map, term for term (:func:`decompose`). A layer without any non-zero synapse
keeps one all-zero pair so that no array is empty.

A layer with one delay per neuron (``DelayKind``) needs no fan-out: axonal (one per input)
``Delay(tau [in]) -> Linear|Affine(W) -> neuron``, dendritic (one per output) ``Linear(W) ->
Delay(tau [out]) [-> Affine(I, bias)] -> neuron`` (a bias goes after the Delay; through it, it
would arrive ``tau`` late) (:func:`~.structure.neuron_delay_nodes`).

Conventions of the standard fields (what peers read)
---------------------------------------------------
* **Time**: Euler steps of ``dt`` seconds (graph metadata ``dt``; ``export --dt``, default the
  network's time step); every ``tau`` is ``steps * dt``. ``r = tau / dt`` and ``w_in = tau_syn /
  dt``: the input is added to the state undecayed, ``v[t] = v[t-1] * (1 - dt/tau) + I[t] +
  v_leak * dt/tau``, whatever ``dt`` is. This is snnTorch's convention (``export_nir``: ``r =
  tau_mem / dt``; ``import_nir`` asserts ``r * dt / tau == 1`` for its own ``dt``, 1e-4 s by
  default: export with ``--dt 1e-4`` for it) and the one of our float model (``v = v - v/tau +
  x``) and of Lava's LIF; Norse (``r = 1``, input scaled by ``dt/tau``) differs. ``CubaLIF``:
  the current is updated first and the voltage uses the updated current (snnTorch
  ``Synaptic``, Lava CUBA). Reset: ``v`` to ``v_reset = 0`` (hard reset; the current is not
  reset). Spikes: NIR's ``v > v_threshold``.
* **Bias**: in the ``Affine`` bias when the neuron has no synaptic filter (``LIF``/``LI``:
  snnTorch rejects ``v_leak != 0``), in ``v_leak = bias * tau / dt`` for ``CubaLIF``/``CubaLI``
  (an ``Affine`` bias would pass through the current filter there).
* **Float model** (:func:`export_float`, from the float IR ``delaysnn.ir.folded.FoldedNetwork``):
  BatchNorm's gain in the ``W'`` rows, its shift as the bias above; ``W'`` holds the weights
  the model really convolves with (DCLS normalises each one-hot tap by ``1 + 1e-7``). The
  model fires on ``v >= theta``; ``v_threshold`` is the float32 predecessor of ``theta``, so
  NIR's ``v > v_threshold`` fires on exactly the same float32 voltages. Latency 0 per layer;
  the model's output for a ``T``-step input is a streaming run on that input followed by
  ``input_padding_steps`` zero steps (metadata), unless the model has ``truncate_layers``
  (SNN-delays imports), whose layers are cut early.
* **Integer network** (:func:`export_ir`): values in units of Lava's ``v`` register:
  ``W' = weight << (weight_exp + 6)``, ``v_threshold = vth << 6``, bias
  ``bias_mant << bias_exp``; ``tau_mem = dt * 4096 / dv`` (``dv = 0``, no leak, is written as
  ``2**24`` steps: Lava's ``v`` has 24 bits, so that leak is below its resolution),
  ``tau_syn = dt * 4096 / (du + 1)`` (``du = 4095``, a current cleared every step: plain
  ``LIF``/``LI``). Spikes are Lava's strict ``v > vth << 6``. **Latency is in the graph**: every
  Delay value is ``(d + 1) * dt``, ``d`` the synaptic delay and 1 the step each Loihi layer adds
  (``delaysnn.sim.LAYER_LATENCY``; metadata ``latency_steps``), so a standard executor stepping
  the graph produces every layer's output at the simulator's steps (:func:`run` does, with
  nirtorch). Float peers approximate Lava's truncating fixed-point arithmetic; :func:`run`'s
  neuron modules reproduce it exactly.

Metadata (ours; a peer never needs it): graph ``format``/``version``/``network``
(``integer``|``float``), ``dt``, ``spike_condition``, ``reset``, ``latency_steps``; for the
integer network every integer-exact parameter on the neuron nodes (``du``, ``dv``, ``vth``,
``bias_mant``, ``bias_exp``, ``weight_bits``, ``weight_exp``, ``binary``, ``ternary``,
``delay_bits`` (-1: none), ``delay_step``, and the delays of zero-weight synapses, which
``W'`` cannot carry), so ``read_ir`` is lossless; for the float model its config and exact
parameters (``kernel_weight``/``kernel_delay`` of every DCLS synapse, BatchNorm buffers), so
``read_record`` reads them back for a model with bit-identical outputs
(``delaysnn.app.from_nir.read_float`` builds it; the backend never builds the torch model).

Modules: ``structure`` (decomposition, chains), ``graph`` (IR <-> NIR), ``floating`` (float IR
-> NIR), ``importer`` (NIR -> the float model's parameters, foreign graphs composed), ``execute`` (the integer graph in
nirtorch), ``describe``, ``files``. Importing this package loads neither torch nor nirtorch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from delaysnn.errors import UnsupportedError
from delaysnn.ir import DelayNetwork

from .common import CONVENTIONS, FORMAT, VERSION, graph_dt
from .describe import describe
from .files import load_graph, save, to_bytes
from .floating import export_float
from .graph import export_ir, read_ir, roundtrip
from .importer import read_record
from .structure import DelayedLinear, decompose

if TYPE_CHECKING:
    from delaysnn.sim import SimResult


def export(model: Any, path: str | os.PathLike, dt: float | None = None) -> Path:
    """``exporters.nir.export(net, path)``: an integer network, or a float model (a ``DelaySNN`` or
    its float IR ``FoldedNetwork``), to a ``.nir`` file; ``dt`` seconds per step (default: the
    network's time step)."""
    from delaysnn.ir.folded import FoldedNetwork

    if isinstance(model, DelayNetwork):
        graph = export_ir(model, dt)
    elif isinstance(model, FoldedNetwork) or (hasattr(model, "synapses") and hasattr(model, "cfg")):
        graph = export_float(model, dt)
    else:
        raise UnsupportedError(f"cannot export a {type(model).__name__} to NIR; expected a DelayNetwork or a DelaySNN")
    return save(graph, path)


def run(net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
    """Verify backend ``nir``: the integer NIR graph executed by nirtorch (:mod:`.execute`), not
    read back into the IR; the result is on ``delaysnn.sim``'s time axis."""
    from .execute import run as execute_run

    return execute_run(net, x, steps=steps)


def run_roundtrip(net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
    """Verify backend ``nir-roundtrip``: ``delaysnn.sim`` on :func:`roundtrip` of ``net`` (NIR ->
    IR is lossless iff this equals the sim on ``net``)."""
    from delaysnn.sim import simulate

    return simulate(roundtrip(net), x, record=True, steps=steps)


__all__ = [
    "CONVENTIONS",
    "DelayedLinear",
    "FORMAT",
    "VERSION",
    "decompose",
    "describe",
    "export",
    "export_float",
    "export_ir",
    "graph_dt",
    "load_graph",
    "read_ir",
    "read_record",
    "roundtrip",
    "run",
    "run_roundtrip",
    "save",
    "to_bytes",
]

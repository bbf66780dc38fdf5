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

Lava is imported lazily, inside the functions; ``import exporters.lava`` needs only numpy/h5py.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from delaysnn.constants import (
    BIAS_MANT_BITS,
    DELAYDENSE_MAX_DELAY,
    INPUT_BITS_MAX,
    INT32_MAX,
    LAVA_WEIGHT_BITS,
    NETX_BIAS_EXP,
    NETX_CURRENT_DECAY_OFFSET,
    NETX_MAX_DELAY,
    NETX_MAX_WEIGHT_RESCALE,
    READOUT_VTH,
)
from delaysnn.errors import HardwareLimitError, UnsupportedError
from delaysnn.ir import DelayLayer, DelayNetwork
from delaysnn.limits import MAX_DELAY_STEPS, MAX_NEURONS, MAX_STEPS, MAX_SYNAPSES
from delaysnn.sim import SimResult, alignment, as_input, check_payloads, effective_bias, effective_weight, readout_scale

from ._deps import import_lava_runtime, require

NETX_FORMAT = "delaysnn-netx"
# Layers with more zero weights than this are built as DelaySparse (module docstring).
SPARSE_ZERO_FRACTION = 0.5
_LIF_MODEL = "PyLifModelBitAcc"
_DENSE_MODEL = "PyDelayDenseModelBitAcc"
_SPARSE_MODEL = "PyDelaySparseModelBitAcc"


def _profile(profile: Any) -> Any:
    from hardware import load_profile

    return load_profile(profile)


def check(net: DelayNetwork, profile: Any = "loihi2") -> None:
    """Refuse (:class:`HardwareLimitError`, every violation listed) a network that breaks ``profile``
    (``hardware.Profile.check``, the one profile check), then the Lava-simulator artefacts no
    profile expresses."""
    _profile(profile).check(net)
    problems = []
    for li, layer in enumerate(net.layers):  # whatever the profile: Lava would hang, not fail
        if layer.max_delay > DELAYDENSE_MAX_DELAY:
            problems.append(f"layer {li}: delay {layer.max_delay} > {DELAYDENSE_MAX_DELAY}, the most Lava's DelayDense accepts")
    # Lava's DelayDense multiplies weight x payload in int32: 2*W*p must stay within int32.
    if net.input_bits > 1:
        wmax = int(np.abs(net.layers[0].weight.astype(np.int64)).max(initial=0))
        if 2 * wmax * ((1 << net.input_bits) - 1) > INT32_MAX:
            problems.append(f"layer 0: weight {wmax} x payload {(1 << net.input_bits) - 1} overflows Lava's int32 weight x payload product; use fewer input_bits")
    if problems:
        raise HardwareLimitError("Lava 0.10 cannot run this network: " + "; ".join(problems))


def clip_delays(net: DelayNetwork, max_delay: int = NETX_MAX_DELAY, *, clip: bool = False) -> DelayNetwork:
    """A copy of ``net`` (new delay arrays, other arrays shared) with every delay above
    ``max_delay`` set to ``max_delay``, recorded in its provenance.

    Clipping changes the network's behaviour, so it is refused unless ``clip=True`` says so.
    """
    if not clip:
        raise HardwareLimitError("clip_delays changes the network; pass clip=True to clip delays explicitly")
    layers = [replace(layer, delay=np.minimum(layer.delay, max_delay).astype(layer.delay.dtype)) for layer in net.layers]
    return replace(net, layers=layers, provenance={**net.provenance, "delays_clipped_to": int(max_delay)})


# --- the process graph ---


@dataclass
class LavaGraph:
    """The processes of one built network, plus what a run needs to read them back."""

    source: Any  # lava.proc.io.source.RingBuffer holding every sample back to back
    synapses: list[Any]  # DelayDense per layer
    neurons: list[Any]  # LIF per layer (last = readout)
    spike_sinks: list[Any]  # sink RingBuffer per hidden layer
    voltage_probe: Any  # sink.Read of the readout's v
    samples: int
    steps: int
    input_steps: int
    latency: tuple[int, ...]
    readout_scale: float = 1.0
    models: dict[str, str] = field(default_factory=dict)
    copies: int = 1  # network copies side by side: samples per run

    @property
    def runs(self) -> int:
        return -(-self.samples // self.copies)


def _source_data(x: np.ndarray, steps: int, copies: int = 1) -> np.ndarray:
    """``[batch, time, channels]`` -> ``[copies * channels, runs * steps]``: runs back to back,
    copy ``b`` of run ``g`` fed sample ``g * copies + b`` zero-padded (or cut) to ``steps`` (missing
    samples of the last run: zeros). The RingBuffer sends column ``(time_step - 1) % size``."""
    batch, t_in, channels = x.shape
    runs = -(-batch // copies)
    data = np.zeros((runs * copies, steps, channels), dtype=np.int32)
    n = min(t_in, steps)
    data[:batch, :n] = x[:, :n]
    data = data.reshape(runs, copies, steps, channels).transpose(1, 3, 0, 2)
    return np.ascontiguousarray(data.reshape(copies * channels, runs * steps))


def _attach_recorders(neurons: list[Any], runs: int, steps: int) -> tuple[list[Any], Any]:
    from lava.proc.io.sink import Read
    from lava.proc.io.sink import RingBuffer as Sink

    total = runs * steps
    sinks = []
    for lif in neurons[:-1]:
        sink = Sink(shape=lif.s_out.shape, buffer=total)
        lif.s_out.connect(sink.a_in)
        sinks.append(sink)
    probe = Read(buffer=total)
    probe.connect_var(neurons[-1].v)
    return sinks, probe


def _blocks(a: np.ndarray, copies: int, sparse: bool) -> Any:
    """``copies`` copies of matrix ``a`` on the diagonal (a CSR matrix if ``sparse``)."""
    if sparse:
        from scipy import sparse as sp

        return sp.block_diag([sp.csr_matrix(a)] * copies, format="csr")
    return a if copies == 1 else np.kron(np.eye(copies, dtype=a.dtype), a)


def zero_fraction(weight: np.ndarray) -> float:
    """Fraction of absent synapses (zero weights) of a weight matrix (0 for an empty one)."""
    return float((np.asarray(weight) == 0).mean()) if np.size(weight) else 0.0


def build(
    net: DelayNetwork, profile: Any = "loihi2", *, x: Any = None, steps: int | None = None, copies: int = 1, sparse: bool | None = None
) -> LavaGraph:
    """Build the Lava process graph of ``net`` fed with ``x`` (``[batch, time, input_size]``;
    default one all-zero sample of ``steps`` steps). Refuses networks that break ``profile``.

    ``copies``: copies of the network side by side, each run advancing that many samples (at
    most the batch); ``sparse``: ``DelaySparse`` connections instead of ``DelayDense`` (None:
    for the layers more than ``SPARSE_ZERO_FRACTION`` zeros, see the module docstring).
    """
    import_lava_runtime()
    from lava.proc.dense.process import DelayDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import DelaySparse
    from lava.utils.weightutils import SignMode

    check(net, profile)
    if x is None:
        if steps is None:
            raise ValueError("build needs x or steps")
        x = np.zeros((1, steps, net.input_size), dtype=np.int64)
    xs = as_input(net, x)
    copies = max(1, min(int(copies), xs.shape[0]))
    align = alignment(net, xs.shape[1], steps)
    source = RingBuffer(data=_source_data(xs, align.steps, copies))
    prev, synapses, neurons = source.s_out, [], []
    for li, layer in enumerate(net.layers):
        graded = li == 0 and net.input_bits > 1
        sparse_layer = zero_fraction(layer.weight) > SPARSE_ZERO_FRACTION if sparse is None else sparse
        synapse = DelaySparse if sparse_layer else DelayDense
        syn = synapse(
            weights=_blocks(2 * layer.weight.astype(np.int64), copies, sparse_layer),  # exact: see module docstring
            delays=_blocks(layer.delay.astype(int), copies, sparse_layer),
            max_delay=layer.max_delay,
            weight_exp=layer.weight_exp - 1,
            num_weight_bits=LAVA_WEIGHT_BITS,
            sign_mode=SignMode.MIXED,
            num_message_bits=net.input_bits if graded else 0,
        )
        n = layer.neuron
        lif = LIF(
            shape=(copies * layer.shape[0],),
            du=n.du,
            dv=n.dv,
            vth=READOUT_VTH if n.vth is None else n.vth,
            bias_mant=np.tile(np.broadcast_to(n.bias_mant, (layer.shape[0],)), copies).astype(np.int32),
            bias_exp=n.bias_exp,
        )
        prev.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        prev = lif.s_out
        synapses.append(syn)
        neurons.append(lif)
    sinks, probe = _attach_recorders(neurons, -(-xs.shape[0] // copies), align.steps)
    return LavaGraph(
        source=source,
        synapses=synapses,
        neurons=neurons,
        spike_sinks=sinks,
        voltage_probe=probe,
        samples=xs.shape[0],
        steps=align.steps,
        input_steps=align.input_steps,
        latency=align.latency,
        readout_scale=readout_scale(net),
        copies=copies,
    )


def run_graph(graph: LavaGraph) -> SimResult:
    """Run every sample of ``graph`` (``graph.copies`` at a time, resetting state in between),
    stop the runtime and return the hidden spikes and readout voltages on the simulator's time axis.

    ``result.extra["timing"]`` holds wall seconds: ``first`` (compile + first run), ``runs``
    (each later run), ``resets`` (between runs) and ``readback`` (reading the recorders).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from delaysnn.sim import Alignment

    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    anchor = graph.neurons[0]
    timing: dict[str, Any] = {"first": 0.0, "runs": [], "resets": [], "readback": 0.0}
    _quiet_workers(True)
    try:
        for k in range(graph.runs):
            if k:
                t0 = time.perf_counter()
                _reset(graph)
                timing["resets"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            anchor.run(condition=RunSteps(num_steps=graph.steps), run_cfg=cfg)
            elapsed = time.perf_counter() - t0
            if k == 0:
                timing["first"] = elapsed
                graph.models = _check_models(graph)
            else:
                timing["runs"].append(elapsed)
        t0 = time.perf_counter()
        spikes = [_unstack(sink.data.get(), graph).astype(np.uint8) for sink in graph.spike_sinks]
        voltages = _unstack(graph.voltage_probe.data.get(), graph).astype(np.int32)
        timing["readback"] = time.perf_counter() - t0
    except Exception:
        with contextlib.suppress(Exception):  # keep the original error
            anchor.stop()
        raise
    except BaseException:  # Ctrl-C, SIGTERM: a graceful stop waits on workers mid-message and can hang
        _stop_workers()
        raise
    finally:
        _quiet_workers(False)
    anchor.stop()
    return SimResult(
        spikes=spikes,
        voltages=voltages,
        alignment=Alignment(input_steps=graph.input_steps, steps=graph.steps, latency=graph.latency),
        readout_scale=graph.readout_scale,
        extra={"models": dict(graph.models), "timing": timing},
    )


_WORKER_SIGNALS = {"active": False, "registered": False}


def _worker_signals() -> None:
    """In a worker Lava forks while :func:`run_graph` runs: Ctrl-C is the parent's to handle.

    A terminal's Ctrl-C signals the whole process group; workers that died of it mid-message
    printed their tracebacks and left the parent's ``stop()`` waiting forever (no "interrupted"
    line). SIGTERM/SIGHUP get their default action, so the parent can end the workers, instead
    of the CLI's handler the fork copied."""
    import signal

    if _WORKER_SIGNALS["active"]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)


def _quiet_workers(active: bool) -> None:
    if not _WORKER_SIGNALS["registered"] and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_worker_signals)
        _WORKER_SIGNALS["registered"] = True
    _WORKER_SIGNALS["active"] = active


def _stop_workers() -> None:
    """End the worker processes of an interrupted run at once (SIGTERM, then SIGKILL)."""
    import multiprocessing

    from delaysnn.processes import stop_processes

    stop_processes(multiprocessing.active_children())


def _unstack(data: np.ndarray, graph: LavaGraph) -> np.ndarray:
    """A recorder's ``[copies * neurons, runs * steps]`` buffer -> ``[samples, steps, neurons]``
    (the inverse of :func:`_source_data`)."""
    c, g, t = graph.copies, graph.runs, graph.steps
    data = np.asarray(data).astype(np.int64).reshape(c, -1, g, t).transpose(2, 0, 3, 1)
    return np.ascontiguousarray(data.reshape(g * c, t, -1)[: graph.samples])


def _reset(graph: LavaGraph) -> None:
    """Zero every state that carries over between samples: LIF u and v, DelayDense a_buff."""
    for lif in graph.neurons:
        zeros = np.zeros(lif.u.shape, dtype=np.int32)
        lif.u.set(zeros)
        lif.v.set(zeros)
    for syn in graph.synapses:
        syn.a_buff.set(np.zeros(syn.a_buff.shape, dtype=np.int32))


def _check_models(graph: LavaGraph) -> dict[str, str]:
    """The process models Lava selected; the bit-accurate ones are required."""
    models = {}
    wanted_by_kind = {"LIF": _LIF_MODEL, "DelayDense": _DENSE_MODEL, "DelaySparse": _SPARSE_MODEL}
    for proc in [*graph.neurons, *graph.synapses]:  # a graph may mix DelayDense and DelaySparse layers
        kind, name = type(proc).__name__, proc.model_class.__name__
        wanted = wanted_by_kind.get(kind, f"one of {sorted(set(wanted_by_kind.values()))}")
        if name != wanted:
            raise UnsupportedError(f"Lava selected {name} for {kind}, expected the bit-accurate {wanted}; check the lava-nc version (0.10 expected)")
        models[kind] = name
    return models


def run(net: DelayNetwork, x: Any, *, steps: int | None = None, profile: Any = "loihi2", copies: int = 1, sparse: bool | None = None) -> SimResult:
    """Run ``net`` on ``x`` in Lava's bit-accurate CPU simulation; same time axis as ``delaysnn.sim``
    (``copies``, ``sparse``: see :func:`build`)."""
    return run_graph(build(net, profile, x=x, steps=steps, copies=copies, sparse=sparse))


# --- lava-dl netx HDF5 ---


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
        raise UnsupportedError("netx cannot represent this network exactly: " + "; ".join(problems))
    buffer = io.BytesIO()  # in memory, then written by write_bytes_atomic: HDF5 crashes on a full disk
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = NETX_FORMAT
        f.attrs["input_bits"] = int(net.input_bits)
        f.attrs["tail_steps"] = int(net.provenance.get("tail_steps", 0))
        f.attrs["readout_scale"] = readout_scale(net)
        top = f.create_group("layer")
        inp = top.create_group("0")
        inp.create_dataset("type", data=np.bytes_("input"))
        inp.create_dataset("shape", data=np.array([net.input_size], dtype=np.int64))
        for li, (layer, weight, bias) in enumerate(zip(net.layers, weights, biases)):
            g = top.create_group(str(li + 1))
            g.create_dataset("type", data=np.bytes_("dense"))
            g.create_dataset("shape", data=np.array([layer.shape[0]], dtype=np.int64))
            g.create_dataset("weight", data=weight)
            # an absent (zero-weight) synapse is no connection: delay 0, as netx's sparse loader sets it
            g.create_dataset("delay", data=np.where(layer.weight != 0, layer.delay, 0).astype(np.int64))
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


def build_netx(path: str | os.PathLike, x: Any, *, steps: int | None = None, sparse: bool | None = None) -> LavaGraph:
    """Load a netx HDF5 with ``lava.lib.dl.netx.hdf5.Network`` and wire input and recorders.

    ``sparse``: netx's ``sparse_fc_layer`` (every layer ``DelaySparse``, zero weights dropped);
    None: when more than ``SPARSE_ZERO_FRACTION`` of the file's synapses are zero."""
    import_lava_runtime()
    require("lava.lib.dl.netx", extra="lava", quiet=True)
    from lava.lib.dl.netx import hdf5
    from lava.proc.io.source import RingBuffer

    attrs, layout = read_netx_layout(path)  # every field checked before Lava reads it
    input_bits, tail, scale = attrs["input_bits"], attrs["tail_steps"], attrs["readout_scale"]
    first = layout[0]
    in_size = int(first["shape"][0]) if first["type"] == "input" or "weight" not in first else int(first["weight"].shape[1])
    xs = check_payloads(x, in_size, input_bits)
    if sparse is None:  # netx has one switch for all layers: the network's share of zeros decides
        weights = [lay["weight"] for lay in layout if "weight" in lay]
        total = sum(w.size for w in weights)
        sparse = bool(total) and sum(int((w == 0).sum()) for w in weights) / total > SPARSE_ZERO_FRACTION
    proc = hdf5.Network(net_config=str(path), input_message_bits=input_bits if input_bits > 1 else 0, sparse_fc_layer=sparse)
    blocks = list(proc.layers)
    latency = tuple(range(1, len(blocks) + 1))
    n_steps = steps if steps is not None else xs.shape[1] + latency[-1] + tail
    source = RingBuffer(data=_source_data(xs, n_steps))
    source.s_out.connect(proc.inp)
    neurons = [b.neuron for b in blocks]
    sinks, probe = _attach_recorders(neurons, xs.shape[0], n_steps)
    return LavaGraph(
        source=source,
        synapses=[b.synapse for b in blocks],
        neurons=neurons,
        spike_sinks=sinks,
        voltage_probe=probe,
        samples=xs.shape[0],
        steps=n_steps,
        input_steps=xs.shape[1],
        latency=latency,
        readout_scale=scale,
    )


def run_netx(path: str | os.PathLike, x: Any, *, steps: int | None = None, sparse: bool | None = None) -> SimResult:
    """Load a netx HDF5 with lava-dl and run it on ``x`` (simulator time axis; ``sparse``: see :func:`build_netx`)."""
    return run_graph(build_netx(path, x, steps=steps, sparse=sparse))


@dataclass(frozen=True)
class NetxBackend:
    """``delaysnn.verify``'s ``netx`` backend: write the netx HDF5 to a temporary file, load it
    with lava-dl's ``hdf5.Network``, run it."""

    profile: str = "loihi2"
    sparse: bool | None = None  # netx's sparse_fc_layer (None: see build_netx)

    def run(self, net: DelayNetwork, x: Any, *, steps: int | None = None) -> SimResult:
        xs = as_input(net, x)
        n_steps = alignment(net, xs.shape[1], steps).steps
        with tempfile.TemporaryDirectory(prefix="delaysnn-netx-") as tmp:
            path = save_netx(net, Path(tmp) / "network.net", self.profile)
            return run_netx(path, xs, steps=n_steps, sparse=self.sparse)


netx = NetxBackend()

__all__ = [
    "LavaGraph",
    "NetxBackend",
    "build",
    "build_netx",
    "check",
    "clip_delays",
    "export",
    "netx",
    "netx_bias",
    "netx_weight_problem",
    "run",
    "run_graph",
    "read_netx_layout",
    "run_netx",
    "save_netx",
    "zero_fraction",
]


def _netx_error(path: Any, where: str, what: str) -> Exception:
    from delaysnn.errors import DelaysnnError

    return DelaysnnError(f"{path}: {where}: {what}; not a lava-dl netx file delaysnn can read (re-export it with delaysnn export --target loihi)")


def _netx_array(path: Any, g: Any, name: str, ndim: tuple[int, ...], kinds: str = "iuf") -> np.ndarray:
    """Dataset ``g[name]`` as an array of ``ndim`` dimensions and numeric, finite values, or one line why not."""
    import h5py

    where = f"{g.name}/{name}"
    ds = g.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise _netx_error(path, where, "missing" if ds is None else "is a group, expected a dataset")
    if ds.dtype.kind not in kinds:
        raise _netx_error(path, where, f"has dtype {ds.dtype}, expected numbers")
    if len(ds.shape) not in ndim:
        raise _netx_error(path, where, f"has shape {list(ds.shape)}, expected {' or '.join(f'{n}-D' for n in ndim)}")
    if ds.size > MAX_SYNAPSES:
        raise _netx_error(path, where, f"holds {ds.size} values, beyond the sanity limit of {MAX_SYNAPSES} (delaysnn.limits.MAX_SYNAPSES)")
    try:
        a = ds[()]
    except (OSError, ValueError, TypeError) as err:  # damaged chunks: HDF5 reports them on read
        raise _netx_error(path, where, f"cannot be read ({type(err).__name__})") from err
    a = np.asarray(a)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise _netx_error(path, where, "contains NaN or infinite values")
    return a


def _netx_text(path: Any, g: Any, name: str) -> str:
    import h5py

    ds = g.get(name)
    if not isinstance(ds, h5py.Dataset) or ds.shape != () or ds.dtype.kind not in "SOU":
        got = "missing" if ds is None else f"{type(ds).__name__} of shape {getattr(ds, 'shape', '?')}, dtype {getattr(ds, 'dtype', '?')}"
        raise _netx_error(path, f"{g.name}/{name}", f"{got}, expected a string")
    value = ds[()]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_netx_layout(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The root attributes and the layers of a netx HDF5, every field checked (one line on the first problem).

    Each layer: ``{"key", "type", "shape"}`` and, for synaptic layers, ``weight [out, in]``,
    ``delay`` (per synapse ``[out, in]``, per axon ``[in]`` or a scalar; integers >= 0) and the
    neuron's ``iDecay``, ``vDecay``, ``vThMant`` when present.
    """
    import h5py

    from delaysnn.errors import DelaysnnError
    from delaysnn.fileio import check_hdf5, check_input_path

    path = check_input_path(path, "netx file")
    check_hdf5(path, "netx HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DelaysnnError(f"{path}: not an HDF5 file ({' '.join(str(err).split())[:120]}); expected a lava-dl netx .h5") from err
    with f:
        attrs = {}
        # integer attributes and their ranges: the IR's payload width, the sim's run-length limit
        ranges = {"input_bits": (1, INPUT_BITS_MAX), "tail_steps": (0, MAX_STEPS)}
        for key, default in (("input_bits", 1), ("tail_steps", 0), ("readout_scale", 1.0)):
            value = f.attrs.get(key, default)
            try:
                number = float(np.asarray(value).reshape(()))
            except (TypeError, ValueError) as err:
                raise _netx_error(path, f"attribute {key!r}", f"is {value!r}, expected a number") from err
            lo, hi = ranges.get(key, (0, np.inf))
            if not np.isfinite(number) or not lo <= number <= hi or (key in ranges and number != int(number)):
                raise _netx_error(path, f"attribute {key!r}", f"is {value!r}, out of range" + (f" (expected an integer in {lo}..{hi})" if key in ranges else ""))
            attrs[key] = number if key == "readout_scale" else int(number)
        fmt = f.attrs.get("format")
        attrs["format"] = fmt.decode(errors="replace") if isinstance(fmt, bytes) else fmt
        top = f.get("layer")
        if not isinstance(top, h5py.Group):
            raise DelaysnnError(f"{path}: no '/layer' group; not a lava-dl netx file")
        keys = list(top)
        bad = [k for k in keys if not k.isdigit()]
        if bad or not keys:
            raise _netx_error(path, "/layer", f"has groups {bad[:3]}, expected 0, 1, 2, ..." if bad else "is empty")
        layers = []
        for key in sorted(keys, key=int):
            g = top[key]
            if not isinstance(g, h5py.Group):
                raise _netx_error(path, g.name, "is a dataset, expected a layer group")
            shape = _netx_array(path, g, "shape", (1,), "iu")
            if shape.size == 0 or shape.min() < 1 or shape.max() > MAX_NEURONS:
                raise _netx_error(path, f"{g.name}/shape", f"is {shape.tolist()}, expected sizes in 1..{MAX_NEURONS} (delaysnn.limits.MAX_NEURONS)")
            layer: dict[str, Any] = {"key": key, "type": _netx_text(path, g, "type"), "shape": shape.tolist()}
            if "weight" in g:
                w = _netx_array(path, g, "weight", (2,))
                d = _netx_array(path, g, "delay", (0, 1, 2)) if "delay" in g else np.zeros((), np.int64)
                if d.ndim == 2 and d.shape != w.shape or d.ndim == 1 and d.shape[0] != w.shape[1]:
                    raise _netx_error(path, f"{g.name}/delay", f"has shape {list(d.shape)}, weight {list(w.shape)}")
                if d.size and (d.min() < 0 or d.max() > MAX_DELAY_STEPS or np.any(d != np.rint(d))):
                    raise _netx_error(
                        path, f"{g.name}/delay", f"holds negative, fractional or huge delays, expected whole steps in 0..{MAX_DELAY_STEPS} (delaysnn.limits.MAX_DELAY_STEPS)"
                    )
                layer.update(weight=w, delay=d.astype(np.int64))
                neuron = g.get("neuron")
                params = {}
                if isinstance(neuron, h5py.Group):
                    for name in ("iDecay", "vDecay", "vThMant"):
                        if name in neuron:
                            params[name] = int(_netx_array(path, neuron, name, (0, 1)).reshape(-1)[0])
                layer["neuron"] = params
            layers.append(layer)
        return attrs, layers


def describe_netx(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of a lava-dl netx HDF5 file (``delaysnn inspect model.h5``)."""
    from delaysnn.describe import delay_histogram

    attrs, layout = read_netx_layout(path)
    layers = []
    for layer in layout:
        if "weight" not in layer:
            layers.append(f"{layer['key']} {layer['type']}: shape {layer['shape']}")
            continue
        w, d = layer["weight"], layer["delay"]
        params = ", ".join(f"{k} {v}" for k, v in layer["neuron"].items())
        rng = f"[{w.min():g}, {w.max():g}]" if w.size else "[]"
        layers.append(
            f"{layer['key']} {layer['type']}: {w.shape[1]}->{w.shape[0]}, {int((w != 0).sum())} synapses, weights {rng}, "
            f"{params}, delays {delay_histogram(d, int(d.max(initial=0)))}"
        )
    return {
        "file": str(path),
        "kind": "lava-dl netx HDF5" + (" (written by delaysnn)" if attrs["format"] == NETX_FORMAT else ""),
        "input_bits": attrs["input_bits"],
        "layers": layers,
    }

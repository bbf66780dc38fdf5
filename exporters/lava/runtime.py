"""Running a built :class:`~.graph.LavaGraph` in Lava's bit-accurate CPU simulation: runs one
after another with state resets, the bit-accurate model check, readback onto the simulator's
time axis, and the worker processes' Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from delaysnn.errors import UnsupportedError
from delaysnn.ir import DelayNetwork
from delaysnn.sim import SimResult, as_input

from .graph import LavaGraph, build, weight_entries

_LIF_MODEL = "PyLifModelBitAcc"
_DENSE_MODEL = "PyDelayDenseModelBitAcc"
_SPARSE_MODEL = "PyDelaySparseModelBitAcc"


def run_graph(graph: LavaGraph, *, memoize: bool = True) -> SimResult:
    """Run every sample of ``graph`` (``graph.copies`` at a time, resetting state in between),
    stop the runtime and return the hidden spikes and readout voltages on the simulator's time axis.

    ``memoize``: Lava's synapse models build their delay-expanded weights once, not every step
    (:mod:`.speedups`; same arithmetic). ``result.extra["timing"]`` holds wall seconds: ``first``
    (compile + first run), ``runs`` (each later run), ``resets`` (between runs) and ``readback``
    (loading the recorders' files).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from delaysnn.sim import Alignment

    from .recorders import MODELS, read_record
    from .speedups import memoized_delay_weights

    recorders = graph.recording.processes()
    cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={p: MODELS[type(p)] for p in recorders})
    anchor = graph.neurons[0]
    timing: dict[str, Any] = {"first": 0.0, "runs": [], "resets": [], "readback": 0.0}
    stopping = False
    _quiet_workers(True)
    try:
        with memoized_delay_weights() if memoize else contextlib.nullcontext():
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
        rec = graph.recording
        spikes = [_unstack(read_record(path), graph).astype(np.uint8) for path in rec.spike_paths]
        voltages = _unstack(read_record(rec.voltage_path), graph).astype(np.int32)
        timing["readback"] = time.perf_counter() - t0
        stopping = True
        anchor.stop()  # inside: a Ctrl-C during the graceful stop must end the workers too
    except Exception:
        if not stopping:
            with contextlib.suppress(Exception):  # keep the original error
                anchor.stop()
        raise
    except BaseException:  # Ctrl-C, SIGTERM: a graceful stop waits on workers mid-message and can hang
        _stop_workers()
        raise
    finally:
        _quiet_workers(False)
    graph.recording.tmp.cleanup()
    return SimResult(
        spikes=spikes,
        voltages=voltages,
        alignment=Alignment(input_steps=graph.input_steps, steps=graph.steps, latency=graph.latency),
        readout_scale=graph.readout_scale,
        extra={"models": dict(graph.models), "timing": timing},
    )


_WORKER_SIGNALS: dict[str, Any] = {"active": False, "registered": False, "masks": None}


@dataclasses.dataclass
class _ForkMasks:
    """libc's ``pthread_sigmask`` bound to signal sets, as C callables for the fork hooks.

    Python code in a fork hook would run a Ctrl-C that is pending right there, and a
    KeyboardInterrupt raised inside a hook is printed and swallowed; from C callables it
    surfaces in ordinary code once ``fork()`` returns."""

    held: Any  # the signals held across a fork
    block: Any  # what ``before`` blocks: ``held`` while run_graph runs, else nothing
    saved: Any  # the mask before the fork
    before: Callable[[], Any]
    restore: Callable[[], Any]

    def arm(self, active: bool) -> None:
        import ctypes

        ctypes.memmove(self.block, self.held if active else bytes(len(self.block)), len(self.block))


def _fork_masks() -> _ForkMasks | None:
    """None where libc is not reachable through ctypes."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None)
        sigset = ctypes.c_ubyte * 256  # >= sizeof(sigset_t) on every libc
        held, block, saved = sigset(), sigset(), sigset()
        ptr = ctypes.byref
        libc.sigemptyset(ptr(held))
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                libc.sigaddset(ptr(held), int(getattr(signal, name)))
        return _ForkMasks(held, block, saved,
                          before=functools.partial(libc.pthread_sigmask, signal.SIG_BLOCK, ptr(block), ptr(saved)),
                          restore=functools.partial(libc.pthread_sigmask, signal.SIG_SETMASK, ptr(saved), None))
    except (OSError, AttributeError):
        return None


def _worker_signals() -> None:
    """In a worker Lava forks while :func:`run_graph` runs: Ctrl-C is the parent's to handle.

    A terminal's Ctrl-C signals the whole process group; workers that died of it mid-message
    printed their tracebacks and left the parent's ``stop()`` waiting forever (no "interrupted"
    line). SIGTERM/SIGHUP get their default action, so the parent can end the workers, instead
    of the CLI's handler the fork copied. The signals stay blocked until these are in place."""
    import signal

    from delaysnn.processes import worker_signals

    if _WORKER_SIGNALS["active"]:
        worker_signals(on_term=signal.SIG_DFL)
    if _WORKER_SIGNALS["masks"] is not None:
        _WORKER_SIGNALS["masks"].restore()


def _quiet_workers(active: bool) -> None:
    """Hold Ctrl-C/SIGTERM/SIGHUP blocked across each fork while ``active`` (a child starts
    with no pending signals; the parent takes its own once ``fork()`` returns), so none lands
    in a new worker before :func:`_worker_signals` has set its handlers."""
    if not _WORKER_SIGNALS["registered"] and hasattr(os, "register_at_fork"):
        masks = _WORKER_SIGNALS["masks"] = _fork_masks()
        if masks is None:
            os.register_at_fork(after_in_child=_worker_signals)
        else:
            os.register_at_fork(before=masks.before, after_in_parent=masks.restore, after_in_child=_worker_signals)
        _WORKER_SIGNALS["registered"] = True
    if _WORKER_SIGNALS["masks"] is not None:
        _WORKER_SIGNALS["masks"].arm(active)
    _WORKER_SIGNALS["active"] = active


def _stop_workers() -> None:
    """End the worker processes of an interrupted run at once (SIGTERM, then SIGKILL)."""
    from delaysnn.processes import stop_children

    stop_children()


def _unstack(rows: np.ndarray, graph: LavaGraph) -> np.ndarray:
    """A recorder's ``[runs * steps, copies * neurons]`` rows -> ``[samples, steps, neurons]``
    (the inverse of :func:`_source_data`)."""
    c, g, t = graph.copies, graph.runs, graph.steps
    data = np.asarray(rows).T.astype(np.int64).reshape(c, -1, g, t).transpose(2, 0, 3, 1)
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


# Samples per graph in :func:`run` (bench/verify_lava.py, speech model, 2 cores: per-sample runs
# 0.8 samples/s, 16 copies 10/s, 64 copies 20/s), capped so a graph holds at most
# COPY_SYNAPSES synapses (a 700-256-256-20 network: 16 copies, ~0.4 GB of sparse matrices).
DEFAULT_COPIES = 64
COPY_SYNAPSES = 1 << 22


def default_copies(net: DelayNetwork) -> int:
    """Copies per graph for ``net``: ``DEFAULT_COPIES``, fewer for networks with many synapses."""
    return max(1, min(DEFAULT_COPIES, COPY_SYNAPSES // weight_entries(net)))


def run_slices(xs: np.ndarray, size: int, build_slice: Callable[[np.ndarray], LavaGraph]) -> SimResult:
    """:func:`run_graph` of ``build_slice(s)`` for each slice ``s`` of ``size`` samples of ``xs``
    (one fresh graph each), the results joined (``delaysnn.sim.concatenate``)."""
    from delaysnn.sim import concatenate

    parts = [run_graph(build_slice(xs[i : i + size])) for i in range(0, xs.shape[0], size)]
    return parts[0] if len(parts) == 1 else concatenate(parts)


def run(net: DelayNetwork, x: Any, *, steps: int | None = None, profile: Any = "loihi2", copies: int | None = None, sparse: bool | None = None) -> SimResult:
    """Run ``net`` on ``x`` in Lava's bit-accurate CPU simulation; same time axis as ``delaysnn.sim``.

    ``copies`` (default :func:`default_copies`): each slice of that many samples runs as one graph
    of that many copies of the network side by side (:func:`build`; block-diagonal, so
    ``DelaySparse`` by the sparse rule), compiled afresh per slice: a new graph costs less than
    resetting one (``Var.set`` sends one element per message). 1: every sample through one
    graph, state reset in between. ``sparse``: see :func:`build`.
    """
    xs = as_input(net, x)
    size = default_copies(net) if copies is None else max(1, int(copies))
    if size == 1:
        return run_graph(build(net, profile, x=xs, steps=steps, sparse=sparse))
    return run_slices(xs, size, lambda part: build(net, profile, x=part, steps=steps, copies=size, sparse=sparse))

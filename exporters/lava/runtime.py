"""Running a built :class:`~.graph.LavaGraph` in Lava's bit-accurate CPU simulation: runs one
after another with state resets, the bit-accurate model check, readback onto the simulator's
time axis, and the worker processes' Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np

from delaysnn.errors import UnsupportedError
from delaysnn.ir import DelayNetwork
from delaysnn.sim import SimResult

from .graph import LavaGraph, build

_LIF_MODEL = "PyLifModelBitAcc"
_DENSE_MODEL = "PyDelayDenseModelBitAcc"
_SPARSE_MODEL = "PyDelaySparseModelBitAcc"


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

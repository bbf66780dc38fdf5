"""Worker processes: how many may run (:func:`usable_cores`), and stopping those of an interrupted
run (data-set workers, Lava's runtime, verify workers)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from typing import Any


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS tells it, else every core):
    the most worker processes that do not just queue for each other."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_signals(on_term: Any = None) -> None:
    """In a worker process: Ctrl-C is the parent's to handle (a terminal signals the whole
    process group, and the parent cleans up), so SIGINT is ignored; SIGTERM and SIGHUP get
    ``on_term`` (a handler or ``signal.SIG_DFL``) when one is given, else keep what the fork copied."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if on_term is not None:
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), on_term)


def stop_pool(pool: Any, timeout: float = 5.0) -> None:
    """End a ``ProcessPoolExecutor``'s workers now rather than after their queued work.

    ``shutdown(cancel_futures=True)`` only drops work not yet sent to a worker, and forgets
    the workers; the executor has no public terminate, hence ``_processes``.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    stop_processes(procs, timeout=timeout)


def stop_processes(procs: Iterable[Any], timeout: float = 2.0) -> None:
    """Terminate every process, then join each; kill whatever outlives ``timeout`` seconds.

    All are signalled before any is awaited, so they wind down together; a process that is
    already gone is skipped. ``multiprocessing`` processes are joined through the base class:
    Lava's subclass overrides ``join`` without a timeout.
    """
    from multiprocessing.process import BaseProcess

    def join(proc: Any, wait: float) -> None:
        if isinstance(proc, BaseProcess):
            BaseProcess.join(proc, wait)
        else:
            proc.join(timeout=wait)

    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            join(proc, timeout)
            if proc.is_alive():
                proc.kill()
                join(proc, 1.0)


def child_pids() -> list[int]:
    """This process's live children, read from ``/proc`` (Linux; empty elsewhere).

    Includes children no ``multiprocessing.Process`` knows of: a Ctrl-C that lands as ``fork()``
    returns in the parent leaves the new worker without its ``pid`` recorded."""
    me, pids = os.getpid(), []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                        fields = f.read().rsplit(")", 1)[1].split()  # the name may hold spaces
                    if int(fields[1]) == me and fields[0] != "Z":
                        pids.append(int(entry.name))
    return pids


def stop_children(timeout: float = 2.0) -> None:
    """End every child of this process: ``multiprocessing``'s through :func:`stop_processes`,
    then SIGKILL for any still there. Those are not reaped here: ``multiprocessing`` reaps its
    own (a ``waitpid`` here would break its later ``join``); init reaps the rest once this
    process exits (an interrupted run is on its way out). The shared-memory resource tracker
    is spared: it unlinks what the workers leaked."""
    import multiprocessing

    stop_processes(multiprocessing.active_children(), timeout=timeout)
    tracker = _resource_tracker()
    for pid in child_pids():
        if pid != tracker:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _resource_tracker() -> int | None:
    with contextlib.suppress(Exception):
        from multiprocessing import resource_tracker

        return resource_tracker._resource_tracker._pid  # no public accessor
    return None

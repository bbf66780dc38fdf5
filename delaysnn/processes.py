"""Stopping child processes of an interrupted run (data-set workers, Lava's runtime, verify workers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any


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
    already gone is skipped.
    """
    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1)

"""Stopping child processes of an interrupted run (data-set workers, Lava's runtime, verify workers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any


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

"""Ending child processes of an interrupted run (delaysnn.processes)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

import pytest

from delaysnn.processes import child_pids, stop_children, stop_processes

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="children are read from /proc")


def _sleep() -> None:
    time.sleep(60)


class _NoTimeoutJoin(multiprocessing.get_context("fork").Process):  # type: ignore[misc]
    """Like Lava's processes: ``join`` overridden without a timeout."""

    def join(self) -> None:  # type: ignore[override]
        super().join()


def test_stop_children_ends_a_fork_no_process_object_knows() -> None:
    """A Ctrl-C as ``fork()`` returns leaves a worker whose pid nothing recorded: it must end too."""
    pid = os.fork()
    if pid == 0:  # the child: wait to be ended
        time.sleep(60)
        os._exit(0)
    try:
        assert pid in child_pids()
        stop_children(timeout=0.5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG)[0] != pid:
            time.sleep(0.02)
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped above: it ended
    finally:
        if pid in child_pids():
            os.kill(pid, 9)


def test_stop_processes_joins_through_an_override_without_timeout() -> None:
    proc = _NoTimeoutJoin(target=_sleep, daemon=True)
    proc.start()
    stop_processes([proc], timeout=2.0)
    assert not proc.is_alive() and proc.exitcode is not None
    proc.join()  # multiprocessing reaped it; a later join (atexit's) is clean
    assert proc.pid not in child_pids()

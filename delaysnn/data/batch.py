"""Long data-set jobs: progress that suits where it is shown (:func:`progress`) and one function
applied to many items in worker processes (:func:`parallel_map`), shared by ``encode-audio``,
``make-dataset spoken-digits`` and ``make-dataset fsdd``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TextIO

from ..processes import stop_pool, worker_signals

__all__ = ["LineProgress", "parallel_map", "progress"]

LINE_EVERY = 5.0  # seconds between progress lines off a terminal


class LineProgress:
    """tqdm's ``update``/``close`` for a log: one line ``desc: k/n unit (p %, r/s)`` at most every
    ``every`` seconds, and one at the end (a redrawn bar would write every redraw into the log)."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO, every: float = LINE_EVERY) -> None:
        self.total, self.desc, self.unit, self.stream, self.every = total, desc, unit, stream, every
        self.n = 0
        self.start = self.last = time.monotonic()

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        share = f" ({100.0 * self.n / self.total:.0f} %" if self.total else " ("
        rate = self.n / max(now - self.start, 1e-9)
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{share}, {rate:.1f} {self.unit}/s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.n:
            self._line(time.monotonic())


@contextlib.contextmanager
def progress(total: int, desc: str, unit: str = "file", enabled: bool = True, stream: TextIO | None = None) -> Iterator[Any]:
    """An object with ``update(k=1)``: a tqdm bar when ``stream`` (default stderr) is a terminal,
    else :class:`LineProgress`; nothing shown when ``enabled`` is false."""
    from tqdm.auto import tqdm

    stream = stream or sys.stderr
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    if not enabled or is_tty:
        with tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, file=stream) as bar:
            yield bar
        return
    bar = LineProgress(total, desc, unit, stream)
    yield bar
    bar.close()


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int, bar: Any) -> list[Any]:
    """``[fn(x) for x in items]`` in ``workers`` processes (in order; ``fn`` must be picklable),
    calling ``bar.update()`` per item. An error or Ctrl-C stops every worker before it propagates."""
    if workers <= 1 or len(items) <= 1:
        results = []
        for x in items:
            results.append(fn(x))
            bar.update()
        return results
    # spawn: workers never inherit the parent's threads or state (torch, Lava, open files)
    ctx = multiprocessing.get_context("spawn")
    chunk = max(1, min(16, len(items) // (workers * 8)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_signals)
    try:
        results = []
        for result in pool.map(fn, items, chunksize=chunk):
            results.append(result)
            bar.update()
    except BaseException:  # Ctrl-C, SIGTERM (the CLI's Terminated), a failed item
        stop_pool(pool)
        raise
    pool.shutdown()
    return results

"""One speed-up inside Lava's synapse models that leaves their arithmetic alone.

``DelayDense`` and ``DelaySparse`` (lava-nc 0.10) rebuild their delay-expanded weight matrix from
the weights and delays at every time step (``get_delay_wgts_mat``): 1.4 ms of a 140 -> 128 layer's
2.2 ms step, and for ``DelaySparse`` a chain of sparse restacks. Those inputs are static while a
graph runs (Lava's own comment: "weights are assumed to be static"), so
:func:`memoized_delay_weights` keeps the matrix per (weights, delays, max delay) and hands back
the same object for as long as the inputs are unchanged: the same objects, and for dense arrays
(which ``Var.set`` edits in place) equal contents. ``calc_act``, the clipping and the shifts stay
Lava's own code. tests/exporters/test_lava_speedups.py compares spikes with and without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

_CACHE_SIZE = 8  # entries per process; each Lava model runs in its own process and needs one


def _memoized(build: Any) -> Any:
    cache: list[tuple[Any, Any, np.ndarray | None, np.ndarray | None, int, Any]] = []

    def same(obj: Any, held: Any, copy: np.ndarray | None) -> bool:
        return obj is held and (copy is None or np.array_equal(obj, copy))

    def get_delay_wgts_mat(weights: Any, delays: Any, max_delay: int) -> Any:
        for w, d, wc, dc, m, mat in cache:
            if m == max_delay and same(weights, w, wc) and same(delays, d, dc):
                return mat
        mat = build(weights, delays, max_delay)

        def snapshot(a: Any) -> np.ndarray | None:
            return np.array(a) if isinstance(a, np.ndarray) else None  # sparse Vars are replaced on set, never edited

        cache.insert(0, (weights, delays, snapshot(weights), snapshot(delays), max_delay, mat))
        del cache[_CACHE_SIZE:]
        return mat

    return staticmethod(get_delay_wgts_mat)


@contextlib.contextmanager
def memoized_delay_weights() -> Iterator[None]:
    """Within the block, Lava's ``DelayDense``/``DelaySparse`` models (and the worker processes Lava
    forks meanwhile) build each delay-expanded weight matrix once instead of every time step."""
    from lava.proc.dense.models import AbstractPyDelayDenseModel
    from lava.proc.sparse.models import AbstractPyDelaySparseModel

    classes = (AbstractPyDelayDenseModel, AbstractPyDelaySparseModel)
    originals = [cls.__dict__["get_delay_wgts_mat"] for cls in classes]
    try:
        for cls, original in zip(classes, originals):
            cls.get_delay_wgts_mat = _memoized(original.__func__)
        yield
    finally:
        for cls, original in zip(classes, originals):
            cls.get_delay_wgts_mat = original

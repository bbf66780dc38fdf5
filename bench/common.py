"""What the benchmark scripts share: the SHD-shaped network, a best-of timer, the float model of
the same shape and the thread setting. Importing this puts the repository root on ``sys.path``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from delaysnn.ir import DelayNetwork  # noqa: E402
from tests.factories import shd_like_network  # noqa: E402

SIZES = (140, 256, 256, 20)
MAX_DELAY = 25  # delays 0..24, as SNN-delays' SHD configuration


def shd_network(vth: tuple[int, ...] = (500, 250), source: str = "bench") -> DelayNetwork:
    """Random SHD-shaped integer network (8-bit weights, random delays 0..24, du=4095, dv=4076)."""
    net = shd_like_network(sizes=SIZES, max_delay=MAX_DELAY - 1, vth=vth)
    net.provenance = {"source": source}
    return net


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def set_threads(threads: int) -> None:
    """The same thread count for the sim (numba) and torch."""
    import numba
    import torch

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)


def float_model(round_delays: bool = True) -> Any:
    """A float ``DelaySNN`` of the same shape (seed 0) in eval mode (which runs rounded delays
    either way); ``round_delays`` also rounds the stored positions, as a deployed model has them."""
    import torch

    from delaysnn.model import DelaySNN, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(input_size=SIZES[0], output_size=SIZES[-1], hidden_size=SIZES[1], hidden_layers=len(SIZES) - 2, max_delay=MAX_DELAY)
    model = DelaySNN(cfg).eval()
    if round_delays:
        model.round_positions()
    return model


def scored(model: Any, net: DelayNetwork, x: Any, y: Any) -> dict[str, Any]:
    """``net``'s accuracy on ``(x, y)`` beside its agreement with the float ``model`` there
    (``delaysnn.app.agreement``: predicted classes, hidden spikes per layer): equal accuracies can
    hide different predictions, so every bench table prints both."""
    from delaysnn.app.agreement import run_with_float
    from delaysnn.app.pipeline import as_inputs

    run, agreement = run_with_float(model, net, as_inputs(x, y))
    return {"accuracy": float((run.predictions == y).mean()), **agreement.to_dict()}


def with_agreement(score: dict[str, Any] | None) -> str:
    """``97.5 % (agrees 99.6 %)``: a :func:`scored` accuracy and its agreement with the float model."""
    if score is None:
        return "-"
    return f"{100 * score['accuracy']:.1f} % (agrees {100 * score['float_agreement']:.1f} %)"

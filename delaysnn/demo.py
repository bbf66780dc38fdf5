"""``delaysnn demo``: the whole pipeline on the built-in synthetic delay task."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import save_checkpoint
from .datasets import SyntheticTask, synthetic_splits
from .errors import DelaysnnError
from .model import DelaySNN, ModelConfig
from .train import TrainOptions, train


@dataclass
class DemoSummary:
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (step, result, detail)
    ok: bool = True

    def add(self, step: str, result: str, detail: str = "") -> None:
        self.rows.append((step, result, detail))

    def table(self) -> str:
        w0 = max(len(r[0]) for r in self.rows)
        w1 = max(len(r[1]) for r in self.rows)
        lines = [f"{'step':<{w0}}  {'result':<{w1}}  detail", f"{'-' * w0}  {'-' * w1}  {'-' * 6}"]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in self.rows]
        return "\n".join(lines)


def demo_config(task: SyntheticTask) -> ModelConfig:
    return ModelConfig(
        input_size=task.channels,
        output_size=task.classes,
        hidden_size=32,
        hidden_layers=2,
        max_delay=25,
        dropout=0.1,
        time_step_ms=1.0,
    )


def run_demo(
    out_dir: Path, epochs: int = 10, samples: int = 2048, seed: int = 0, echo: Callable[[str], None] = print
) -> DemoSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    task = SyntheticTask()
    train_set, test_set = synthetic_splits(task, n_train=samples, n_test=512, seed=seed)
    summary = DemoSummary()
    echo(
        f"synthetic delay task: {task.classes} classes told apart only by spike timing across "
        f"{task.channels} channels; {len(train_set)} train / {len(test_set)} test samples"
    )

    accs = {}
    for name, learn in (("learned delays", True), ("delays fixed at 0", False)):
        torch.manual_seed(seed)
        model = DelaySNN(demo_config(task))
        if not learn:
            model.set_delays(0)
            model.set_sigma(0.0)
        t0 = time.perf_counter()
        result = train(model, train_set, test_set, TrainOptions(epochs=epochs, learn_delays=learn, seed=seed, desc=name))
        accs[name] = result.final_test_acc
        path = out_dir / ("model.pt" if learn else "model-nodelay.pt")
        save_checkpoint(model, path, {"task": "synthetic", "test_acc": result.final_test_acc, "learned_delays": learn, "input_max_count": 1})
        summary.add(f"train ({name})", f"{100 * result.final_test_acc:.1f}% test", f"{time.perf_counter() - t0:.0f} s -> {path}")
        echo(f"{name}: test accuracy {100 * result.final_test_acc:.1f}%")
    gain = 100 * (accs["learned delays"] - accs["delays fixed at 0"])
    summary.add("delay benefit", f"{gain:+.1f} points", "learned delays vs delays fixed at 0")
    if gain < 20:
        summary.ok = False
        raise DelaysnnError(f"demo: learned delays beat fixed delays by only {gain:.1f} points (expected >= 20)")
    return summary

"""Accuracy of the integer network at float / 8 / 4 / 2-bit / binary weights, after
post-training quantization and after quantization-aware fine-tuning (QAT, straight-through
estimator on the deployed grid), on the synthetic delay task; prints a markdown table.

    .venv/bin/python bench/quant_table.py [--epochs 10] [--qat-epochs 6] [--checkpoint model.pt] [--json]

``accuracy_table(model, test_set, configs)`` is the reusable part: QAT rows are added by
passing QAT-trained models (or extra configs) to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from delaysnn.app.agreement import float_predictions, run_with_float  # noqa: E402
from delaysnn.app.pipeline import as_inputs  # noqa: E402
from delaysnn.data.datasets import SpikeDataset, SyntheticTask, synthetic_splits  # noqa: E402
from delaysnn.model import DelaySNN  # noqa: E402
from delaysnn.quantization import NETX_OPTIONS, input_bits_for, quantize_with_report  # noqa: E402
from hardware import load_profile  # noqa: E402

# (row name, quantize_model options; None = the float model itself)
DEFAULT_CONFIGS: list[tuple[str, dict[str, Any] | None]] = [
    ("float", None),
    ("8-bit", {"weight_bits": 8}),
    ("4-bit", {"weight_bits": 4}),
    ("2-bit", {"weight_bits": 2}),
    ("binary", {"binary": True}),
]


def accuracy_table(
    model: DelaySNN,
    test_set: SpikeDataset,
    configs: list[tuple[str, dict[str, Any] | None]] | None = None,
) -> list[dict[str, Any]]:
    """One row per config: accuracy, agreement with the float model (predicted classes, and hidden
    spikes per layer: ``delaysnn.app.agreement``), mean relative weight error, hidden spike rate, and
    time. ``configs``: ``(name, quantize options | None)``."""
    configs = DEFAULT_CONFIGS if configs is None else configs
    y = test_set.y.numpy()
    inputs = as_inputs(test_set.x.numpy(), y, description=test_set.name)
    t0 = time.perf_counter()
    pred_float = float_predictions(model, inputs.batches())
    float_time = time.perf_counter() - t0
    rows = []
    for name, options in configs:
        t0 = time.perf_counter()
        if options is None:
            rows.append(
                {"config": name, "accuracy": float((pred_float == y).mean()), "agreement": 1.0, "spike_agreement": None,
                 "weight_error": 0.0, "spike_rate": None, "seconds": float_time}
            )
            continue
        # the network `export --target loihi` ships: within netx's limits, checked against loihi2
        options = {"input_bits": input_bits_for(test_set.max_count), "clip_delays": False, "profile": load_profile("loihi2"),
                   **NETX_OPTIONS, **options}
        net, report = quantize_with_report(model, **options)
        run, agreement = run_with_float(model, net, inputs)
        rows.append(
            {
                "config": name,
                "accuracy": float((run.predictions == y).mean()),
                "agreement": agreement.float_agreement,
                "spike_agreement": agreement.spike_agreement,
                "weight_error": float(np.mean([r.rel_weight_error for r in report.layers])),
                "spike_rate": float(np.mean(run.firing_rates)) if run.firing_rates else 0.0,
                "seconds": time.perf_counter() - t0,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [f"**{title}**", ""] if title else []
    lines += [
        "| weights | test accuracy | agrees with float | hidden spikes agreeing, per layer | rel. weight error | hidden spike rate | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = "-" if r["spike_rate"] is None else f"{r['spike_rate']:.3f}"
        spikes = "-" if r["spike_agreement"] is None else " / ".join(f"{100 * s:.2f}%" for s in r["spike_agreement"])
        lines.append(
            f"| {r['config']} | {100 * r['accuracy']:.1f}% | {100 * r['agreement']:.1f}% | {spikes} "
            f"| {100 * r['weight_error']:.2f}% | {rate} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def trained_model(epochs: int, train_set: SpikeDataset, test_set: SpikeDataset, seed: int) -> DelaySNN:
    """The demo's model, trained on the synthetic task with ``delaysnn.training.train``."""
    from delaysnn.app.demo import demo_config
    from delaysnn.training.train import TrainOptions, train

    torch.manual_seed(seed)
    model = DelaySNN(demo_config(SyntheticTask()))
    train(model, train_set, test_set, TrainOptions(epochs=epochs, seed=seed, progress=False))
    return model


def qat_rows(
    model: DelaySNN, train_set: SpikeDataset, test_set: SpikeDataset, epochs: int, seed: int
) -> list[dict[str, Any]]:
    """Fine-tune a copy of ``model`` through the quantizer for each low-precision config (delays
    kept), then quantize it with the same config."""
    import copy

    from delaysnn.training.train import TrainOptions, train

    rows = []
    for name, options in DEFAULT_CONFIGS:
        if options is None:
            continue
        tuned = copy.deepcopy(model)
        opts = TrainOptions(
            epochs=epochs, seed=seed, learn_delays=False, progress=False,
            qat_bits=options.get("weight_bits"), qat_binary=bool(options.get("binary")),
        )  # fmt: skip
        t0 = time.perf_counter()
        train(tuned, train_set, None, opts)
        row = accuracy_table(tuned, test_set, [(f"{name} + QAT", options)])[0]
        row["seconds"] += time.perf_counter() - t0
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2048, help="training samples of the synthetic task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, help="use this trained checkpoint (synthetic task) instead of training")
    parser.add_argument("--qat-epochs", type=int, default=6, help="QAT fine-tuning epochs per row (0: no QAT rows)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    train_set, test_set = synthetic_splits(SyntheticTask(), n_train=args.samples, n_test=512, seed=args.seed)
    if args.checkpoint:
        from delaysnn.model.checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint)
    else:
        model = trained_model(args.epochs, train_set, test_set, args.seed)
    rows = accuracy_table(model, test_set)
    if args.qat_epochs > 0:
        rows += qat_rows(model, train_set, test_set, args.qat_epochs, args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(markdown(rows, f"Integer network accuracy, synthetic delay task ({len(test_set)} test samples; QAT: {args.qat_epochs} epochs)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

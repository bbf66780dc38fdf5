"""Binary QAT recipes on the speech workload (issue 11: binary after QAT within 3 points of float).

    .venv/bin/python bench/binary_qat.py [--recipes base5,...] [--work out/speech] [--threads 1] [--retrain]

Every recipe fine-tunes the float model of ``bench/speech.py`` (``WORK/model.pt``, trained there
when missing) through the binary weight grid; its checkpoint is kept as
``WORK/binary-qat-<recipe>[-seedS].pt`` and reused (``--retrain`` trains again). Accuracy is the integer
network's on the whole test split, quantized as ``bench/speech.py``'s "loihi2 binary" row
(binary weights, loihi2 profile, netx limits). The last epoch is reported: test accuracy never
selects. Prints one markdown table.

Measured (float 82.7 %, target 79.7 %; one standard error on 600 utterances is ~1.7 points).
On the data set before the cochlea's spontaneous activity (seed 0): post-training 68.2 %, base5
74.0 %, kd10 78.3 %, kd10d 79.0 %, kd10d-lr3 77.3 %, kd20d 78.7 %: 20 epochs reach no higher than
10, a lower rate underfits. On the current data set: post-training 64.3 %; kd10d 79.7 % (seed 0)
and 78.7 % (seed 1), at and past the bound; kd10d-drop1 **81.2 % (seed 0) and 82.2 % (seed 1)**:
as with pruning, the float model's dropout 0.4 costs a constrained network more than it
regularizes it (at 0.1 training-mode accuracy reaches 0.91). bench/speech.py uses this recipe.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch
from speech import BINARY_QAT, integer_accuracy, load_splits

from delaysnn.app.pipeline import QuantizeOptions
from delaysnn.model.checkpoint import load_checkpoint, load_checkpoint_and_metadata, save_checkpoint
from delaysnn.training.train import TrainOptions, deployment_settings, train

DEPLOY = QuantizeOptions(binary=True, target="loihi")  # bench/speech.py's "loihi2 binary"
TEACHER = "@float"  # stands for the float checkpoint the run starts from
KD10D = {**BINARY_QAT, "dropout": None}  # BINARY_QAT at the float model's own dropout (0.4): the recipe before dropout 0.1
# name -> (what it is, TrainOptions fields beyond batch size and seed; every recipe is binary QAT)
RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "base5": ("the plain recipe bench/speech.py had: 5 epochs, BatchNorm statistics updating", {"epochs": 5}),
    "freeze10": ("frozen BatchNorm statistics, 10 epochs", {"epochs": 10, "freeze_bn_stats": True}),
    "kd10": ("distilled from the float model (T 2, weight 0.5), frozen BN, 10 epochs",
             {"epochs": 10, "freeze_bn_stats": True, "distill": TEACHER}),
    "kd10d": ("as kd10, positions learning (10 x lr)", {"epochs": 10, **KD10D, "distill": TEACHER}),
    "kd10d-lr3": ("as kd10d, lr 3e-4 (peak 1.5e-3; positions 3e-3)",
                  {"epochs": 10, **KD10D, "lr": 3e-4, "lr_pos": 3e-3, "distill": TEACHER}),
    "kd20d": ("as kd10d, 20 epochs", {"epochs": 20, **KD10D, "distill": TEACHER}),
    "kd10d-w8t4": ("as kd10d, distillation weight 0.8, temperature 4",
                   {"epochs": 10, **KD10D, "distill": TEACHER, "distill_weight": 0.8, "distill_temperature": 4.0}),
    "kd10d-drop1": ("as kd10d, hidden dropout 0.1 (the float model's 0.4 underfits, as pruning found): bench/speech.py's binary QAT (BINARY_QAT)",
                    {"epochs": 10, **BINARY_QAT, "distill": TEACHER}),
}


def options(name: str, float_model: Path, seed: int) -> TrainOptions:
    fields = dict(RECIPES[name][1])
    if fields.get("distill") == TEACHER:
        fields["distill"] = str(float_model)
    if fields.get("learn_delays") and "lr_pos" not in fields:
        fields["lr_pos"] = 10 * fields.get("lr", 1e-3)  # positions moving at 100 x lr undo trained delays
    fields.setdefault("learn_delays", False)
    return TrainOptions(batch_size=64, seed=seed, desc=f"binary QAT {name}", **{"qat_binary": True, **fields})


def run_recipe(name: str, float_model: Path, work: Path, splits: Any, seed: int, retrain: bool) -> tuple[Path, dict[str, Any]]:
    path = work / f"binary-qat-{name}{f'-seed{seed}' if seed else ''}.pt"
    if path.exists() and not retrain:
        return path, load_checkpoint_and_metadata(path)[1]
    train_set, test_set = splits
    opts = options(name, float_model, seed)
    model = load_checkpoint(float_model)
    t0 = time.perf_counter()
    result = train(model, train_set, test_set, opts)
    _, float_meta = load_checkpoint_and_metadata(float_model)
    meta = {**{k: float_meta[k] for k in ("task", "dataset", "input_max_count") if k in float_meta}, **deployment_settings(opts),
            "recipe": name, "epochs": opts.epochs, "test_acc": result.final_test_acc,
            "test_acc_per_epoch": result.test_acc, "seconds": time.perf_counter() - t0}
    save_checkpoint(model, path, meta)
    return path, meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="base5,kd10,kd10d", help=f"Comma-separated, of: {', '.join(RECIPES)}.")
    ap.add_argument("--data", type=Path, default=common.ROOT / "data" / "spoken-digits")
    ap.add_argument("--work", type=Path, default=common.ROOT / "out" / "speech")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    torch.set_num_threads(args.threads)
    float_model = args.work / "model.pt"
    if not float_model.exists():
        ap.error(f"{float_model} is missing: run bench/speech.py first (it trains the float model)")
    train_set, test_set, _ = load_splits(args.data, args.seed)
    x, y = test_set.x.numpy().astype(np.int32), test_set.y.numpy()
    reference, reference_meta = load_checkpoint_and_metadata(float_model)  # every row's agreement is with it
    float_acc = reference_meta["test_acc"]
    ptq, _ = integer_accuracy(float_model, DEPLOY, x, y, reference)
    lines = [
        f"**Binary QAT on spoken digits (synthesized speech), from {float_model.name}: float {100 * float_acc:.1f} %, "
        f"target >= {100 * float_acc - 3:.1f} % (within 3 points); integer accuracy on the whole test split "
        f"({len(y)} utterances), loihi2 profile, netx limits**",
        "",
        "| recipe | what | epochs | integer accuracy (agreement with the float model) | vs float |",
        "|---|---|---:|---:|---:|",
        f"| ptq | post-training, no QAT | 0 | {common.with_agreement(ptq)} | {100 * (ptq['accuracy'] - float_acc):+.1f} |",
    ]
    for name in names:
        path, meta = run_recipe(name, float_model, args.work, (train_set, test_set), args.seed, args.retrain)
        acc, _ = integer_accuracy(path, DEPLOY, x, y, reference)
        lines.append(f"| {name} | {RECIPES[name][0]} | {meta.get('epochs')} | {common.with_agreement(acc)} | {100 * (acc['accuracy'] - float_acc):+.1f} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

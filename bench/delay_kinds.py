"""The memory front over delay kinds (issue 25): synaptic, axonal and dendritic delays on the
spoken-digits workload (140-H-H-20), each trained in float, fine-tuned to ternary weights and
3-bit delays, and deployed as ``export --target loihi`` ships it. Prints one markdown table and
draws accuracy against synaptic memory, with Sun et al.'s cited SHD point (axonal delays).

    .venv/bin/python bench/delay_kinds.py [--data data/spoken-digits] [--work out/kinds]
        [--kinds synaptic,axonal,dendritic] [--fraction 0.2] [--epochs 20] [--qat-epochs 10]
        [--parity-samples 600] [--synaptic-from out/speech/model.pt] [--nodelay-from out/speech/model-nodelay.pt]

Checkpoints are kept in ``--work`` and reused, so a rerun prints the same table quickly.
Integer accuracies and parity are on the whole test split unless ``--parity-samples`` says less.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np
import speech  # the speech bench: splits, cached training, scoring, parity
import torch

from delaysnn.app.demo import SPEECH_HIDDEN, speech_config
from delaysnn.app.pipeline import QuantizeOptions
from delaysnn.model import DelaySNN
from delaysnn.model.checkpoint import load_checkpoint, load_checkpoint_and_metadata
from delaysnn.spec import DeploySpec
from delaysnn.training.train import TrainOptions

# Sun et al. 2025 (arXiv 2510.27434): SHD, ternary weights and 3-bit axonal delays, about 22 kB in
# all: the memory-frugal point a delay kind should be compared with (recorded speech, not ours).
SUN_2025 = {"label": "Sun et al. 2025 (SHD, axonal, ternary + 3-bit)", "memory_kB": 22.0, "accuracy": 0.90}
DEPLOY = DeploySpec.from_flags(ternary=True, delay_bits=3)  # the deployment every kind is fine-tuned for
BACKENDS = ["lava", "netx", "onnx", "nir"]


def float_model(args: argparse.Namespace, cfg: Any, train_set: Any, test_set: Any, meta: dict[str, Any], kind: str, fraction: float) -> Path:
    """The float checkpoint of ``kind`` (cached), trained from scratch with learned delays."""
    tag = kind if fraction == 1.0 else f"{kind}-f{fraction:g}"
    path = args.work / f"float-{tag}-e{args.epochs}.pt"
    if kind == "synaptic" and fraction == 1.0 and args.synaptic_from and args.synaptic_from.exists():
        return args.synaptic_from

    def make() -> tuple[DelaySNN, dict[str, Any]]:
        torch.manual_seed(args.seed)
        model = DelaySNN(dataclasses.replace(cfg, delay_kind=kind, delay_fraction=fraction))
        opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, desc=f"float {tag}")
        return speech.fit(model, train_set, test_set, opts, {**meta, "delay_kind": kind, "delay_fraction": fraction})

    speech.trained(path, args.retrain, make)
    return path


def fine_tuned(args: argparse.Namespace, teacher: Path, train_set: Any, test_set: Any, meta: dict[str, Any], tag: str) -> Path:
    """``teacher`` fine-tuned through ternary weights and 3-bit delays with the default recipe of
    ``train --init`` (distilled from the teacher, BatchNorm statistics frozen, dropout 0.1)."""
    path = args.work / f"qat-{tag}-ternary-d3-e{args.qat_epochs}.pt"

    def make() -> tuple[DelaySNN, dict[str, Any]]:
        model = load_checkpoint(teacher)
        opts = TrainOptions(epochs=args.qat_epochs, batch_size=args.batch_size, seed=args.seed, desc=f"QAT {tag}", spec=DEPLOY,
                            distill=str(teacher), **speech.QAT_RECIPE)
        return speech.fit(model, train_set, test_set, opts, {**meta, "qat": DEPLOY.label})

    speech.trained(path, args.retrain, make)
    return path


def row(args: argparse.Namespace, tag: str, kind: str, fraction: float, teacher: Path, student: Path, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """One table row: float accuracy, deployed accuracy after fine-tuning (with agreement), memory,
    cores, energy and parity of the deployed network."""
    from delaysnn.estimate import estimate

    reference, meta = load_checkpoint_and_metadata(teacher)
    deployed, net = speech.integer_accuracy(student, QuantizeOptions(target="loihi").with_spec(DEPLOY), x, y, reference)
    est = estimate(net, x[: args.estimate_samples])
    t = est.totals
    n = len(x) if args.parity_samples is None else args.parity_samples
    return {
        "tag": tag, "kind": kind, "fraction": fraction, "float": meta.get("test_acc"), "deployed": deployed,
        "synaptic_kB": t["synaptic_memory_bits"] / 8000, "memory_kB": t["memory_bits"] / 8000, "cores": t["cores"],
        "energy_j": {e.label: e.total_j for e in est.energy}, "parity": speech.parity(net, x[:n], BACKENDS), "parity_samples": n,
        "memory_note": getattr(est.memory, "note", None),
    }


def report(rows: list[dict[str, Any]], nodelay: float | None, args: argparse.Namespace) -> str:
    from delaysnn.estimate import si

    lines = [
        f"**Delay kinds on spoken digits (synthesized speech in SHD's layout): 140-{args.hidden}-{args.hidden}-20, max delay 25, "
        f"float {args.epochs} epochs, then {args.qat_epochs} epochs of fine-tuning to ternary weights + 3-bit delays "
        "(`train --init` defaults: distilled, BatchNorm statistics frozen, dropout 0.1), deployed as `export --target loihi` "
        f"writes it; whole test split ({len(rows) and rows[0]['parity_samples']} samples for parity)**",
        "",
        "| kind | float | ternary + 3-bit, deployed (agreement) | synaptic memory | memory in all | cores | energy (loihi2) | parity lava / netx / onnx / nir |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        energy = "; ".join(f"{k} {si(v, 'J')}" for k, v in r["energy_j"].items()) or "-"
        parity = " / ".join("-" if bad < 0 else f"{bad}" for _, _, bad, _ in r["parity"])
        lines.append(f"| {r['tag']} | {speech._pct(r['float'])} | {common.with_agreement(r['deployed'])} | {r['synaptic_kB']:.1f} kB | "
                     f"{r['memory_kB']:.1f} kB | {r['cores']:.0f} | {energy} | {parity} mismatches |")
    if nodelay is not None:
        lines.append(f"| no delays (synaptic, fixed at 0) | {speech._pct(nodelay)} | | | | | | |")
    lines += ["", f"Reference (cited, recorded SHD, not comparable data): {SUN_2025['label']}: {SUN_2025['accuracy']:.0%} in about "
              f"{SUN_2025['memory_kB']:.0f} kB.", ""]
    for r in rows:
        if r.get("memory_note"):
            lines.append(f"- {r['tag']}: {r['memory_note']}")
        for backend, values, bad, note in r["parity"]:
            lines.append(f"- {r['tag']} {backend}: {values} values, {bad} mismatches ({note})")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy (deployed) against synaptic memory, one marker per kind, Sun et al.'s point cited."""
    from delaysnn.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["synaptic_kB"], 100 * r["deployed"]["accuracy"], label=f"{r['tag']} (ternary + 3-bit)")
    ax.scatter(SUN_2025["memory_kB"], 100 * SUN_2025["accuracy"], marker="*", s=120, c="k", label=SUN_2025["label"] + ", cited")
    ax.set_xscale("log")
    ax.set_xlabel("synaptic memory (weights + delays + indices), kB")
    ax.set_ylabel("test accuracy, %")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=common.ROOT / "data" / "spoken-digits")
    ap.add_argument("--work", type=Path, default=common.ROOT / "out" / "kinds")
    ap.add_argument("--kinds", default="synaptic,axonal,dendritic")
    ap.add_argument("--fraction", type=float, default=0.2, help="Also an axonal model with delays on this fraction of neurons (0: none).")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--qat-epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=SPEECH_HIDDEN)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--parity-samples", type=int, default=None, help="Default: the whole test split.")
    ap.add_argument("--estimate-samples", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synaptic-from", type=Path, default=common.ROOT / "out" / "speech" / "model.pt",
                    help="The synaptic float model (bench/speech.py's), reused when it exists.")
    ap.add_argument("--nodelay-from", type=Path, default=common.ROOT / "out" / "speech" / "model-nodelay.pt")
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    common.set_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    train_set, test_set, _ = speech.load_splits(args.data, args.seed)
    x, y = test_set.x.numpy().astype(np.int32), test_set.y.numpy()
    meta = {"task": "shd", "dataset": "spoken-digits", "input_max_count": train_set.max_count, "seed": args.seed}
    cfg = speech_config(train_set, args.hidden)
    runs = [(k, 1.0) for k in args.kinds.split(",") if k] + ([("axonal", args.fraction)] if args.fraction else [])
    rows = []
    for kind, fraction in runs:
        tag = kind if fraction == 1.0 else f"{kind}, delays on {fraction:.0%} of neurons"
        teacher = float_model(args, cfg, train_set, test_set, meta, kind, fraction)
        student = fine_tuned(args, teacher, train_set, test_set, meta, teacher.stem)
        rows.append(row(args, tag, kind, fraction, teacher, student, x, y))
    nodelay = load_checkpoint_and_metadata(args.nodelay_from)[1].get("test_acc") if args.nodelay_from and args.nodelay_from.exists() else None
    print(report(rows, nodelay, args))
    plot(rows, args.work / "delay-kinds.png")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "nodelay": nodelay}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Real recorded speech: FSDD (Free Spoken Digit Dataset) on speaker-held-out folds, measured end
to end like bench/speech.py: train with learned delays and with none, quantize post-training and
after fine-tuning (8, 4, 2-bit, ternary + 3-bit delays, binary; every row the network
``export --target loihi`` ships, with its agreement with the float model), parity with Lava,
netx, onnxruntime and NIR on the whole test split, per-inference costs. One table: each fold, and
the mean and spread (min-max) across folds.

    .venv/bin/python bench/fsdd.py [--fsdd ../shared/fsdd] [--folds george,nicolas | --folds all]
                                   [--epochs 20] [--hidden 128] [--threads 2] [--work out/fsdd]

A fold holds one speaker out: it is the test split, never heard in training. Each fold's data
set (``make-dataset fsdd --test-speakers S``), checkpoints and figures are kept in ``--work``
and reused (``--retrain`` trains again), so an interrupted run resumes where it stopped and a
rerun prints the table at once. ``--samples N`` / ``--test-samples N`` (a seeded subset, every
class) and ``--parity-samples N`` make a quick run. FSDD: Zohar Jackson and the FSDD
contributors, CC BY-SA 4.0; the figures are derived from it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np
import speech
import torch

from delaysnn.app.demo import SPEECH_HIDDEN, speech_config
from delaysnn.app.pipeline import QuantizeOptions, saturation
from delaysnn.data.datasets import SpikeDataset
from delaysnn.model import DelaySNN
from delaysnn.model.checkpoint import load_checkpoint
from delaysnn.training.train import TrainOptions

BACKENDS = ["lava", "netx", "onnx", "nir"]
TERNARY = ("ternary + 3-bit", {"ternary": True, "delay_bits": 3, "target": "loihi"},
           {"qat_ternary": True, "delay_bits": 3, **speech.QAT_RECIPE})
ROWS = [*speech.QUANT_ROWS[:3], TERNARY, *speech.QUANT_ROWS[3:]]  # 8, 4, 2-bit, ternary + 3-bit, binary
DEFAULT_FOLDS = "george,nicolas"  # two speakers, two accents (GRC, BEL); `all` for leave-one-speaker-out


def fold_data(args: argparse.Namespace, speaker: str) -> tuple[SpikeDataset, SpikeDataset]:
    """The fold's splits (made once into ``--work``), subsets when asked."""
    from delaysnn.data.fsdd import make_fsdd
    from delaysnn.data.heidelberg import load_heidelberg

    data = args.work / f"data-{speaker}"
    if not (data / "shd_train.h5").exists() or not (data / "shd_test.h5").exists():
        make_fsdd(args.fsdd, data, test_speakers=[speaker], progress=False)
    train_set = load_heidelberg(data, "shd", "train", progress=False)
    test_set = load_heidelberg(data, "shd", "test", max_steps=train_set.steps, progress=False)
    return subset(train_set, args.samples, args.seed), subset(test_set, args.test_samples, args.seed)


def subset(ds: SpikeDataset, n: int | None, seed: int) -> SpikeDataset:
    """``n`` samples drawn without replacement (the files are sorted by digit: a prefix would hold few classes)."""
    if n is None or n >= len(ds):
        return ds
    idx = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(ds))[:n]))
    return SpikeDataset(ds.x[idx], ds.y[idx], ds.n_classes, ds.name, ds.time_step_ms)


def run_fold(args: argparse.Namespace, speaker: str) -> dict[str, Any]:
    work = args.work / f"fold-{speaker}"
    work.mkdir(parents=True, exist_ok=True)
    cached = work / f"results-{tag(args)}.json"
    if cached.exists() and not args.retrain:
        return json.loads(cached.read_text())
    train_set, test_set = fold_data(args, speaker)
    meta = {"task": "shd", "dataset": f"fsdd, test speaker {speaker}", "input_max_count": train_set.max_count, "seed": args.seed}
    cfg = speech_config(train_set, args.hidden)

    def float_run(learn: bool):
        return speech.float_trainer(args, cfg, train_set, test_set, meta, learn, label=f"{speaker}: ")

    best = work / f"model-{tag(args)}.pt"
    reference, m_learned = speech.trained(best, args.retrain, float_run(True))
    _, m_fixed = speech.trained(work / f"model-nodelay-{tag(args)}.pt", args.retrain, float_run(False))
    x, y = test_set.x.numpy().astype(np.int32), test_set.y.numpy()
    out: dict[str, Any] = {"speaker": speaker, "train": len(train_set), "test": len(test_set), "steps": train_set.steps,
                           "float": {"learned": m_learned["test_acc"], "fixed0": m_fixed["test_acc"]}}
    nets, out["integer"] = {}, {}
    for label, qfields, tfields in ROWS:
        ptq, nets[label] = scored(best, QuantizeOptions(**qfields), x, y, reference, out)

        def qat(tfields=tfields, label=label):
            model = load_checkpoint(best)
            opts = TrainOptions(epochs=speech.qat_epochs(args, label), batch_size=args.batch_size, seed=args.seed,
                                desc=f"{speaker}: QAT {label}", **{**tfields, "distill": str(best)})
            return speech.fit(model, train_set, test_set, opts, {**meta, "qat": label})

        path = work / f"model-qat-{label.replace(' ', '').replace('+', '-')}-{tag(args)}-e{speech.qat_epochs(args, label)}.pt"
        speech.trained(path, args.retrain, qat)
        after, _ = scored(path, QuantizeOptions(**qfields), x, y, reference, out)
        out["integer"][label] = {"ptq": ptq, "qat": after}
    deployed = nets["8-bit"]
    xs = np.minimum(x, 2**deployed.input_bits - 1)[: args.parity_samples]
    out["parity"] = speech.parity(deployed, xs, BACKENDS)

    from delaysnn.estimate import estimate

    totals = (est := estimate(deployed, np.minimum(x, 2**deployed.input_bits - 1))).totals
    out["estimate"] = {"synaptic_ops": totals["synaptic_ops"], "memory_kB": totals["memory_bits"] / 8 / 1000,
                       "cores": totals["cores"], "energy_j": {e.label: e.total_j for e in est.energy}}
    cached.write_text(json.dumps(out, indent=2, default=str))
    return out


def scored(checkpoint: Path, opts: QuantizeOptions, x: np.ndarray, y: np.ndarray, reference: DelaySNN,
           out: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """``speech.integer_accuracy`` on the test split saturated at the network's input width, as the
    chip and ``simulate`` do (an unseen speaker's counts can exceed the training split's)."""
    from delaysnn.app.pipeline import load_network

    net, _ = load_network(checkpoint, opts)
    sat = saturation(x, 2**net.input_bits - 1, net.input_bits)
    out["saturated_inputs"] = None if sat is None else {k: v for k, v in sat.items() if k != "note"}
    return speech.integer_accuracy(checkpoint, opts, np.minimum(x, 2**net.input_bits - 1), y, reference)


def tag(args: argparse.Namespace) -> str:
    """What the checkpoints depend on beyond the fold: size, epochs, subsets, seed."""
    return f"h{args.hidden}-e{args.epochs}-n{args.samples or 'all'}-s{args.seed}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _spread(values: list[float], fmt=_pct) -> str:
    return f"{fmt(float(np.mean(values)))} ({fmt(min(values))}-{fmt(max(values))})" if len(values) > 1 else fmt(values[0])


def report(folds: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from delaysnn.estimate import si

    head = " | ".join(f"test {f['speaker']} ({f['test']})" for f in folds)
    lines = [
        f"**FSDD, real recorded speech (CC BY-SA 4.0), speaker held out per fold: {folds[0]['train']} train recordings, "
        f"T = {folds[0]['steps']} steps of 10 ms, 140 inputs; network 140-{args.hidden}-{args.hidden}-20, max delay 25, "
        f"{args.epochs} epochs, QAT {args.qat_epochs} epochs ({args.binary_qat_epochs} binary), distilled, BatchNorm statistics frozen**",
        "",
        f"| measure | {head} | mean (min-max) |",
        "|---" * (len(folds) + 2) + "|",
    ]

    def row(name: str, get, fmt=_pct) -> None:
        vals = [get(f) for f in folds]
        lines.append(f"| {name} | {' | '.join(fmt(v) for v in vals)} | {_spread(vals, fmt)} |")

    row("float, learned delays", lambda f: f["float"]["learned"])
    row("float, delays fixed at 0", lambda f: f["float"]["fixed0"])
    row("delay benefit (points)", lambda f: 100 * (f["float"]["learned"] - f["float"]["fixed0"]), fmt=lambda v: f"{v:+.1f}")
    for label, *_ in ROWS:
        for when, key in (("post-training", "ptq"), ("after fine-tuning", "qat")):
            cells = " | ".join(common.with_agreement(f["integer"][label][key]) for f in folds)
            agree = [f["integer"][label][key]["float_agreement"] for f in folds]
            acc = [f["integer"][label][key]["accuracy"] for f in folds]
            lines.append(f"| {label}, {when} (agreement) | {cells} | {_spread(acc)} (agrees {_spread(agree)}) |")
    for i, (backend, *_) in enumerate(folds[0]["parity"]):
        cells = " | ".join(f"{f['parity'][i][1]} values, {f['parity'][i][2]} mismatches" for f in folds)
        lines.append(f"| parity 8-bit, {backend} | {cells} | - |")
    row("per inference, 8-bit: synaptic ops", lambda f: f["estimate"]["synaptic_ops"], fmt=si)
    row("per inference, 8-bit: memory kB", lambda f: f["estimate"]["memory_kB"], fmt=lambda v: f"{v:.1f}")
    row("per inference, 8-bit: Loihi 2 cores", lambda f: f["estimate"]["cores"], fmt=lambda v: f"{v:.0f}")
    for label in folds[0]["estimate"]["energy_j"]:
        row(f"per inference, 8-bit: energy {label}", lambda f, label=label: f["estimate"]["energy_j"][label], fmt=lambda v: si(v, "J"))
    sat = [f.get("saturated_inputs") for f in folds]
    if any(sat):
        lines += ["", "Test counts above the 8-bit network's input width, saturated as on the chip: "
                  + "; ".join(f"{f['speaker']}: {s['values']} values in {s['samples']} samples (up to {s['largest']}, width {s['ceiling']})"
                              for f, s in zip(folds, sat) if s)]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsdd", type=Path, default=common.ROOT / ".." / "shared" / "fsdd", help="an FSDD copy (its recordings/)")
    ap.add_argument("--folds", default=DEFAULT_FOLDS, help="held-out speakers, one per fold (comma-separated), or all")
    ap.add_argument("--work", type=Path, default=common.ROOT / "out" / "fsdd")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--qat-epochs", type=int, default=5)
    ap.add_argument("--binary-qat-epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=SPEECH_HIDDEN)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--samples", type=int, help="training recordings per fold (default: all)")
    ap.add_argument("--test-samples", type=int, help="test recordings per fold (default: all)")
    ap.add_argument("--parity-samples", type=int, help="default: the whole test split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--json", type=Path, help="Also write every figure as JSON here.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from delaysnn.data.fsdd import scan_recordings

    speakers = sorted({r.speaker for r in scan_recordings(args.fsdd)})
    folds = speakers if args.folds == "all" else [s.strip() for s in args.folds.split(",") if s.strip()]
    unknown = [s for s in folds if s not in speakers]
    if unknown:
        ap.error(f"--folds: no recordings of {unknown[0]!r}; the speakers are {', '.join(speakers)}")
    results = [run_fold(args, s) for s in folds]
    print(report(results, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

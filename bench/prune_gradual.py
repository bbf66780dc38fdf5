"""Gradual pruning on the speech workload (issue 13: 80 % pruned, 4-bit weights, within 2 points of float).

    .venv/bin/python bench/prune_gradual.py [--stages 0.5:3,0.7:3,0.75:3,0.8:8] [--distill|--no-distill]
        [--scope layer|global] [--freeze-bn] [--dropout 0.1] [--lr 1e-3] [--init CKPT | --hidden 384]
        [--parity-samples 64] [--tag NAME]

A stage ``FRACTION:EPOCHS[:LR[:DROPOUT]]`` is one ``train`` call through the 4-bit weight grid
with positions learning (10 x lr): it prunes FRACTION of the synapses by magnitude from the
current weights (those pruned before are 0, so they stay pruned), then fine-tunes for EPOCHS,
distilled from the float model (default), with the hidden layers' dropout lowered to DROPOUT.
After each stage the model is quantized as ``bench/frontier.py`` measures its "80 % pruned,
4-bit w" target (loihi2 profile, delays clipped, within what netx holds, the stage's fraction
and scope) and scored with the integer simulator on the whole test split; its checkpoint goes
to ``--out`` (``TAG-sN-pPERCENT.pt``). The last epoch is kept: test accuracy never selects.
Needs the float model of ``bench/speech.py`` (``out/speech/model.pt``, 82.7 %). ``--hidden N``
starts instead from a float model N neurons wide (``out/wide/model-hN.pt``, trained here when
missing as ``delaysnn train --task shd --data DIR --hidden N --epochs 10`` trains it), which is
also the teacher: the 140-128-128-20 model fits one Loihi 2 core per layer, so only a wider one
can show pruning save cores. The last stage's network is checked spike-exact against Lava, netx
and onnxruntime on the first ``--parity-samples`` test utterances.

Measured (seed 0, 1 thread unless said; integer test accuracy after each stage; target: within 2 points of the teacher):

| recipe | 50 % | 65-70 % | 75 % | 80 % |
|---|---:|---:|---:|---:|
| no KD, dropout 0.4: 0.5:4,0.8:8 (before) | 81.0 | | | 73.5 |
| KD, dropout 0.4: 0.5:2,0.65:2,0.75:2,... | 78.8 | 75.3 | | (stopped) |
| KD, dropout 0.1: 0.5:3,0.7:3,0.8:8 | 82.5 | 80.2 | | 78.8 |
| KD, dropout 0.1: 0.5:3,0.7:3,0.75:3,0.8:8 (default) | 82.5 | 80.2 | 81.3 | **81.3** |
| the default, ``--hidden 384`` (float 80.7 %), the current data set, 2 threads | 80.7 | 81.3 | 81.2 | **82.5** |

The rows above the last are the 128-wide model on the data set before the cochlea's spontaneous
activity. The 384-wide run needs 4 Loihi 2 cores unpruned at 4 bits and 3 from 70 % on.

The default meets the target (-1.4 points; 20 % of the synapses kept in every layer, 15.6 kB
of synaptic memory). What mattered: dropout 0.4 (the float model's) leaves the pruned network
underfitting (training-mode accuracy 0.76 below test); KD; steps of at most 5-10 points near 80 %; stages
of at least 3 epochs (the trainer's one-cycle runs per epoch: a 2-epoch stage is one epoch at
about 5 x lr and one at ~0). ``--scope global`` is no use here: at 80 % it prunes the first
layer entirely (PTQ 6.5 % vs 23.5 % per layer). 6 more epochs at 80 % (lr 5e-4, dropout 0.2)
after the 0.5:3,0.7:3,0.8:8 run gave 78.5 (no gain). The default was measured as a chain
(the last two stages resumed from the 70 % checkpoint; every stage seeds itself).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import common
import numpy as np
import torch

from delaysnn.app import api
from delaysnn.app.demo import speech_workload
from delaysnn.app.frontier import Candidate, accuracy_and_agreement, float_classes
from delaysnn.estimate.storage import core_limits_of, cores_needed, network_cores
from delaysnn.model.checkpoint import load_checkpoint_and_metadata, save_checkpoint
from delaysnn.quantization import NETX_OPTIONS, input_bits_for, quantize_model
from delaysnn.training.train import TrainOptions, deployment_settings, evaluate, train
from hardware import load_profile

FLOAT_MODEL = common.ROOT / "out" / "speech" / "model.pt"
DATA = common.ROOT / "data" / "spoken-digits"
WIDE_EPOCHS = 10  # the wide float model's training (task shd's other defaults: 2 layers, dropout 0.4)


@dataclass
class Stage:
    """One ``train`` call: prune to ``fraction``, fine-tune ``epochs`` at ``lr`` with ``dropout``."""

    fraction: float
    epochs: int
    lr: float
    dropout: float


def parse_stages(text: str, lr: float, dropout: float) -> list[Stage]:
    """``"0.5:3,0.8:8:5e-4:0.2"`` -> stages (``lr``, ``dropout``: where a stage leaves them out).
    Fractions must not decrease: a stage prunes from the current weights, so an earlier stage's
    zeros stay pruned."""
    stages = []
    for item in (s for s in text.split(",") if s):
        parts = item.split(":")
        if not 2 <= len(parts) <= 4:
            raise ValueError(f"stage {item!r} is not FRACTION:EPOCHS[:LR[:DROPOUT]]")
        rest = [float(v) for v in parts[2:]] + [lr, dropout][len(parts) - 2 :]
        stages.append(Stage(float(parts[0]), int(parts[1]), rest[0], rest[1]))
    if not stages or any(b.fraction < a.fraction for a, b in zip(stages, stages[1:])):
        raise ValueError("give at least one stage, with non-decreasing fractions")
    return stages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="0.5:3,0.7:3,0.75:3,0.8:8", help="FRACTION:EPOCHS[:LR[:DROPOUT]], comma-separated, in order.")
    ap.add_argument("--distill", action=argparse.BooleanOptionalAction, default=True, help="Distil from the float model.")
    ap.add_argument("--distill-weight", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--scope", choices=("layer", "global"), default="layer", help="Pruning scope (training and quantizing).")
    ap.add_argument("--freeze-bn", action="store_true", help="Frozen BatchNorm statistics.")
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="Hidden-layer dropout of a stage that gives none (the float model's: 0.4; pruned, it underfits).")
    ap.add_argument("--lr", type=float, default=1e-3, help="Weights' lr of a stage that gives none (one-cycle to 5 x lr); positions 10 x lr.")
    start = ap.add_mutually_exclusive_group()
    start.add_argument("--init", type=Path, default=None, help="Start from this checkpoint (default: the float model).")
    start.add_argument("--hidden", type=int, default=None,
                       help=f"Start from a float model this wide (out/wide/model-hN.pt, trained for {WIDE_EPOCHS} epochs when missing).")
    ap.add_argument("--parity-samples", type=int, default=64, help="Test utterances the last stage is verified on (0: none).")
    ap.add_argument("--teacher", type=Path, default=None,
                    help="Float model to distil from and to compare with (default: --init when it is a float model, else bench/speech.py's).")
    ap.add_argument("--out", type=Path, default=common.ROOT / "out" / "prune")
    ap.add_argument("--tag", default="gradual")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    try:
        stages = parse_stages(args.stages, args.lr, args.dropout)
    except ValueError as err:
        ap.error(f"--stages {args.stages!r}: {err}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)  # before training: a stage's checkpoint must have somewhere to go
    work = speech_workload(DATA, echo=print)
    if args.hidden is not None:
        args.init = common.ROOT / "out" / "wide" / f"model-h{args.hidden}.pt"
        if not args.init.exists():
            print(f"training the {args.hidden}-wide float model into {args.init} ({WIDE_EPOCHS} epochs) ...", flush=True)
            api.train_model(api.TrainRequest(output=str(args.init), task="shd", data=str(DATA), hidden=args.hidden,
                                             epochs=WIDE_EPOCHS), note=print)
    args.init = args.init or FLOAT_MODEL
    model, init_meta = load_checkpoint_and_metadata(args.init)
    teacher = args.teacher or (args.init if not init_meta.get("qat") and not init_meta.get("prune") else FLOAT_MODEL)
    teacher_model, float_meta = load_checkpoint_and_metadata(teacher)
    profile = load_profile("loihi2")
    limits = core_limits_of(profile)
    input_bits = input_bits_for(work.train_set.max_count)
    print(f"stages {args.stages}, distill {args.distill}, scope {args.scope}, freeze-bn {args.freeze_bn}, init {args.init}, teacher {teacher}")
    print(f"teacher float: {100 * evaluate(teacher_model, work.test_set):.1f} % (the target: within 2 points of it)", flush=True)
    teacher_classes = float_classes(teacher_model, work.test_set)  # every integer accuracy is shown with its agreement with these
    # the baselines the cores are compared with: the teacher as `export --target loihi` deploys it, and at 4 bits unpruned
    for label, extra in (("8-bit, as deployed", {"weight_bits": 8}), ("4-bit, unpruned", {"weight_bits": 4})):
        net = quantize_model(teacher_model, input_bits=input_bits, profile=profile, clip_delays=True, **NETX_OPTIONS, **extra)
        acc, agree = accuracy_and_agreement(net, work.test_set, teacher_classes)
        print(f"teacher {label}: {100 * acc:.1f} % (agrees with the float teacher {100 * agree:.1f} %), {network_cores(net, limits)} Loihi 2 cores "
              f"({', '.join(str(cores_needed(layer, limits)) for layer in net.layers)} per layer)", flush=True)
    print("| stage | pruned | QAT epochs | lr | dropout | test acc | agrees with float teacher | Loihi 2 cores | minutes |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for i, st in enumerate(stages):
        t0 = time.perf_counter()
        frac = st.fraction
        # positions at 10 x lr: the trainer's default 100 x moves trained delays too far
        opts = TrainOptions(epochs=st.epochs, batch_size=64, lr=st.lr, lr_pos=10 * st.lr, seed=args.seed, desc=f"prune {frac:g}",
                            qat_bits=4, prune=frac, prune_scope=args.scope, learn_delays=True, freeze_bn_stats=args.freeze_bn, dropout=st.dropout,
                            distill=teacher if args.distill else None, distill_weight=args.distill_weight,
                            distill_temperature=args.temperature)
        train(model, work.train_set, None, opts)
        net = quantize_model(model, input_bits=input_bits, profile=profile, clip_delays=True,
                             **NETX_OPTIONS, **Candidate(weight_bits=4, prune=frac).quantize_options("step", args.scope))
        acc, agree = accuracy_and_agreement(net, work.test_set, teacher_classes)
        meta = {**{k: float_meta[k] for k in ("task", "dataset", "input_max_count") if k in float_meta}, **deployment_settings(opts),
                "note": f"bench/prune_gradual.py --stages {args.stages} stage {i + 1}", "test_acc_integer": acc}
        save_checkpoint(model, args.out / f"{args.tag}-s{i + 1}-p{round(100 * frac)}.pt", meta)
        print(f"| {i + 1} | {100 * frac:.0f} % | {st.epochs} | {st.lr:g} | {st.dropout:g} | {100 * acc:.1f} % | {100 * agree:.1f} % | "
              f"{network_cores(net, limits)} | {(time.perf_counter() - t0) / 60:.1f} |", flush=True)
    if args.parity_samples:
        from frontier import parity

        n = min(args.parity_samples, len(work.test_set))
        found = parity(net, work.test_set.x[:n].numpy().astype(np.int32), n)
        print(f"last stage, mismatches on {n} test utterances: Lava {found['lava']}, netx {found['netx']}, "
              f"onnxruntime {found['onnx']} ({found['hidden_spikes']} hidden spikes)", flush=True)
        if any(found[b] != 0 for b in ("lava", "netx", "onnx")) or not found["hidden_spikes"]:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

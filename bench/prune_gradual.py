"""Gradual pruning on the speech workload: 50 % of the synapses, QAT, then 80 %, QAT (4-bit
weights, positions learning at 10 x lr), against one-shot 80 % in ``bench/frontier.py``.

    .venv/bin/python bench/prune_gradual.py [--stages 0.5:4,0.8:8]

Prints the integer test accuracy (within what netx holds) after each stage. Needs the float
model of ``bench/speech.py`` (``out/speech/model.pt``).
"""

from __future__ import annotations

import argparse

import common
import torch

from delaysnn.checkpoint import load_checkpoint
from delaysnn.demo import speech_workload
from delaysnn.frontier import Candidate, accuracy
from delaysnn.quantization import NETX_OPTIONS, input_bits_for, quantize_model
from delaysnn.train import TrainOptions, train
from hardware import load_profile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="0.5:4,0.8:8", help="FRACTION:EPOCHS, comma-separated, in order.")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = speech_workload(common.ROOT / "data" / "spoken-digits", echo=print)
    model = load_checkpoint(common.ROOT / "out" / "speech" / "model.pt")
    profile = load_profile("loihi2")
    print("| stage | pruned | QAT epochs | test acc |\n|---:|---:|---:|---:|")
    for i, stage in enumerate(args.stages.split(",")):
        frac, epochs = float(stage.split(":")[0]), int(stage.split(":")[1])
        opts = TrainOptions(epochs=epochs, batch_size=64, desc=f"prune {frac:g}", qat_bits=4, prune=frac, learn_delays=True, progress=False)
        opts.lr_pos = 10 * opts.lr
        train(model, work.train_set, None, opts)
        net = quantize_model(model, input_bits=input_bits_for(work.train_set.max_count), profile=profile, clip_delays=True,
                             **NETX_OPTIONS, **Candidate(weight_bits=4, prune=frac).quantize_options("step", "layer"))
        print(f"| {i + 1} | {100 * frac:.0f} % | {epochs} | {100 * accuracy(net, work.test_set):.1f} % |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

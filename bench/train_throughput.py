"""Training throughput (samples/s) of the float model, per device found, fp32 and bf16 autocast.

    .venv/bin/python bench/train_throughput.py [--batch 64] [--steps 5] [--hidden 128] [--threads N] [--json]

One training step is what ``delaysnn.training.train`` does per batch: forward_trace, the SNN-delays class
scores and cross-entropy (under ``torch.autocast(bfloat16)`` for bf16), backward, two Adam steps,
the position clamp. Model: SHD-shaped 140-128-128-20, max delay 25, T = 100, random graded input
0..5 at ~4 % activity. Devices: cpu, and every CUDA device torch sees (so the first GPU run
prints its number). The rate is the best of ``--steps`` timed steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from common import MAX_DELAY  # importing common puts the repository root on sys.path

from delaysnn.model import DelaySNN, ModelConfig, class_scores


def devices() -> list[str]:
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def step_rate(device: str, amp: bool, batch: int, steps: int, hidden: int, time_steps: int = 100) -> float:
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=140, output_size=20, hidden_size=hidden, hidden_layers=2, max_delay=MAX_DELAY, dropout=0.4)
    model = DelaySNN(cfg).to(device).train()
    weights = [p for n, p in model.named_parameters() if not n.endswith(".pos")]
    opt_w = torch.optim.Adam(weights, lr=1e-3)
    opt_p = torch.optim.Adam([s.pos for s in model.synapses], lr=0.1)
    gen = torch.Generator().manual_seed(0)
    active = torch.rand(batch, time_steps, 140, generator=gen) < 0.04
    x = (active * torch.randint(1, 6, active.shape, generator=gen)).float().to(device)
    y = torch.randint(0, 20, (batch,), generator=gen).to(device)
    kind = torch.device(device).type

    def step() -> None:
        opt_w.zero_grad()
        opt_p.zero_grad()
        with torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=amp):
            v, _ = model.forward_trace(x)
            loss = F.cross_entropy(class_scores(v.float()), y)
        loss.backward()
        opt_w.step()
        opt_p.step()
        model.clamp_positions()
        if kind == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return batch / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for device in devices():
        name = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"{torch.get_num_threads()} threads"
        for precision in ("fp32", "bf16"):
            rate = step_rate(device, precision == "bf16", args.batch, args.steps, args.hidden)
            rows.append({"device": device, "name": name, "precision": precision, "batch": args.batch, "samples_per_s": round(rate, 1)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"training step, 140-{args.hidden}-{args.hidden}-20, T=100, batch {args.batch}")
    print("| device | precision | samples/s |\n|---|---|---|")
    for r in rows:
        print(f"| {r['device']} ({r['name']}) | {r['precision']} | {r['samples_per_s']} |")


if __name__ == "__main__":
    main()

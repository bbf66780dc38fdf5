"""Lava parity on a test split, in samples/s: per-sample runs (today's ``verify``), ``--workers 2``,
and one graph holding B copies of the network (block-diagonal ``DelaySparse``/``DelayDense``).

    .venv/bin/python bench/verify_lava.py [--model examples/spoken_digits.pt] [--data data/spoken-digits]
                                          [--samples 16] [--copies 8] [--workers 2]

Every configuration is checked spike for spike against ``delaysnn.sim``; the last line projects
the time for the whole split (600 samples for the spoken digits) at the best measured rate.
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np

from delaysnn.pipeline import evaluation_batches, load_network
from delaysnn.sim import simulate
from delaysnn.verify import verify_batches
from exporters import lava


def exact(ref, got) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(ref.spikes, got.spikes)) and np.array_equal(ref.voltages, got.voltages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/spoken_digits.pt")
    ap.add_argument("--data", default="data/spoken-digits")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    net, _ = load_network(args.model)
    inputs = evaluation_batches(net, "shd", args.data, None)
    x = inputs.make(0, min(args.samples, inputs.count))
    n = x.shape[0]
    print(f"network {'-'.join(map(str, net.sizes))}, max delay {max(layer.max_delay for layer in net.layers)}, {n} of {inputs.description}, {inputs.steps} steps")
    ref = simulate(net, x, record=True)
    rates = {}
    for label, workers in (("per-sample runs, 1 process", 1), (f"per-sample runs, --workers {args.workers}", args.workers)):
        t0 = time.perf_counter()
        (report,) = verify_batches(net, [x], ["lava"], workers=workers)
        dt = time.perf_counter() - t0
        rates[label] = n / dt
        print(f"{label:42s} {n / dt:6.3f} samples/s ({dt:6.1f} s); {'spike-exact' if report.ok else report.summary()}", flush=True)
    for sparse in (True, False):
        label = f"{args.copies} copies in one graph ({'DelaySparse' if sparse else 'DelayDense'})"
        t0 = time.perf_counter()
        got = lava.run(net, x, copies=args.copies, sparse=sparse)
        dt = time.perf_counter() - t0
        rates[label] = n / dt
        t = got.extra["timing"]
        print(f"{label:42s} {n / dt:6.3f} samples/s ({dt:6.1f} s: compile+first run {t['first']:.1f} s, readback {t['readback']:.1f} s); "
              f"{'spike-exact' if exact(ref, got) else 'NOT spike-exact'}", flush=True)
    best = max(rates, key=rates.get)
    print(f"best: {best}: the whole split ({inputs.count} samples) in ~{inputs.count / rates[best] / 60:.1f} min")


if __name__ == "__main__":
    main()

"""The reference sim vs Lava (bit-accurate CPU simulation) vs the float PyTorch model, in one run.

    .venv/bin/python bench/bench_sim.py [--batch 256] [--steps 100] [--lava-samples 3]
                                        [--repeat 3] [--threads N] [--no-lava] [--json]

Network: a random integer IR built directly, SHD-shaped 140-256-256-20, 8-bit weights, delays
0..24 (SNN-delays' max delay 25), du=4095 / dv=4076 (no synaptic filter, tau ~1 step), graded
input counts 0..5 with a few % of bins active; hidden thresholds give a few % firing, like a
trained SHD model. The float model is a ``DelaySNN`` of the same shape in eval mode (its cost does
not depend on its weight values). Lava runs only a few samples (about 3 s each here): they are
checked spike-exact against the sim before any number is printed. Samples/s of the sim and of
PyTorch are the best of ``--repeat`` runs after a warm-up, both with ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import time
from typing import Any

import numpy as np
from common import SIZES, best_of, float_model, set_threads, shd_network

from delaysnn.app.verify import compare
from delaysnn.ir import DelayNetwork
from tests.factories import shd_like_input  # graded counts 0..5, 4 % of the bins active


def bench_sim(net: DelayNetwork, x: np.ndarray, repeat: int) -> dict[str, Any]:
    from delaysnn.sim import simulate

    t0 = time.perf_counter()
    simulate(net, x, record=False)  # warm-up (first touch of the big arrays)
    first = time.perf_counter() - t0
    best, res = best_of(lambda: simulate(net, x, record=False), repeat)
    return {
        "seconds": best,
        "first_seconds": first,
        "samples_per_s": x.shape[0] / best,
        "hidden_rates": [float(s.mean()) for s in res.spikes],
        "result": res,
    }


def bench_methods(net: DelayNetwork, x: np.ndarray, reference: Any) -> list[dict[str, Any]]:
    """Per layer: the synaptic input of all steps by the event scatter vs one dense matmul per
    distinct delay (both exact; the sim picks the cheaper by a cost model)."""
    from delaysnn import sim

    steps = reference.alignment.steps
    inputs = [x.transpose(2, 1, 0)] + [s.transpose(2, 1, 0).astype(bool) for s in reference.spikes]
    rows = []
    for li, layer in enumerate(net.layers):
        ev = sim.events(inputs[li], steps, binary=li > 0 or net.input_bits == 1)
        row: dict[str, Any] = {"layer": li, "events": ev.count}
        results = {}
        for method in ("events", "dense"):
            run = functools.partial(sim.synaptic_input, ev, layer.weight, layer.delay_matrix, steps, method=method)
            run()  # warm-up / compile
            row[f"{method}_seconds"], results[method] = best_of(run, 2)
        if not np.array_equal(results["events"], results["dense"]):
            raise SystemExit(f"layer {li}: event and dense synaptic input differ")
        rows.append(row)
    return rows


def bench_lava(net: DelayNetwork, x: np.ndarray, reference: Any) -> dict[str, Any]:
    from exporters import lava as elava

    n = x.shape[0]
    t0 = time.perf_counter()
    graph = elava.build(net, "loihi2", x=x)
    build = time.perf_counter() - t0
    res = elava.run_graph(graph, memoize=False)  # Lava as shipped (verify runs copies: bench/verify_lava.py)
    total = time.perf_counter() - t0
    first_n = dataclasses.replace(reference, spikes=[s[:n] for s in reference.spikes], voltages=reference.voltages[:n])
    if not compare(first_n, res, "lava").ok:
        raise SystemExit("Lava and the sim disagree: not reporting timings (run delaysnn verify)")
    timing = res.extra["timing"]
    later = [r + s for r, s in zip(timing["runs"], timing["resets"])]
    steady = float(np.mean(later)) if later else timing["first"]
    return {
        "samples": n,
        "build_seconds": build,
        "first_seconds": timing["first"],  # compile + first sample
        "steady_seconds_per_sample": steady,  # run + state reset, compiled graph reused
        "readback_seconds": timing["readback"],
        "total_seconds": total,
        "samples_per_s": 1.0 / steady,
        "samples_per_s_end_to_end": n / total,
        "models": res.extra["models"],
    }


def bench_torch(x: np.ndarray, repeat: int, threads: int) -> dict[str, Any]:
    import torch

    model = float_model()
    xt = torch.from_numpy(x.astype(np.float32))

    def forward() -> Any:
        with torch.no_grad():
            return model(xt)

    forward()
    best, _ = best_of(forward, repeat)
    return {"seconds": best, "samples_per_s": x.shape[0] / best, "threads": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lava-samples", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for both the sim (numba) and the float model (torch); default: all cores")
    ap.add_argument("--no-lava", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    set_threads(args.threads)
    net = shd_network(source="bench/bench_sim.py")
    x = shd_like_input(args.batch, args.steps, seed=1)
    out: dict[str, Any] = {"network": "-".join(map(str, SIZES)), "batch": args.batch, "steps": args.steps, "input_activity": float((x > 0).mean())}
    sim = bench_sim(net, x, args.repeat)
    reference = sim.pop("result")
    out["sim"] = sim
    out["methods"] = bench_methods(net, x, reference)
    out["torch"] = bench_torch(x, args.repeat, args.threads)
    if not args.no_lava:
        out["lava"] = bench_lava(net, x[: args.lava_samples], reference)
        out["sim_over_lava"] = sim["samples_per_s"] / out["lava"]["samples_per_s"]
        out["sim_over_lava_end_to_end"] = sim["samples_per_s"] / out["lava"]["samples_per_s_end_to_end"]
    out["sim_over_torch"] = sim["samples_per_s"] / out["torch"]["samples_per_s"]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"network {out['network']}, T={args.steps}, input activity {out['input_activity']:.3f}, hidden firing {', '.join(f'{r:.3f}' for r in sim['hidden_rates'])}")
    print(f"sim    batch {args.batch}: {sim['seconds']:.3f} s  -> {sim['samples_per_s']:9.1f} samples/s  (first run {sim['first_seconds']:.3f} s, {args.threads} thread(s))")
    for row in out["methods"]:
        print(
            f"  layer {row['layer']} synaptic input ({row['events']} events): event scatter {row['events_seconds'] * 1e3:.0f} ms, "
            f"dense matmul per delay {row['dense_seconds'] * 1e3:.0f} ms ({row['dense_seconds'] / row['events_seconds']:.1f}x)"
        )
    print(f"torch  batch {args.batch}: {out['torch']['seconds']:.3f} s  -> {out['torch']['samples_per_s']:9.1f} samples/s  (float DelaySNN, {args.threads} thread(s))")
    if "lava" in out:
        lv = out["lava"]
        print(
            f"lava   {lv['samples']} samples: {lv['steady_seconds_per_sample']:.2f} s/sample steady -> {lv['samples_per_s']:9.3f} samples/s "
            f"(compile + first {lv['first_seconds']:.2f} s, readback {lv['readback_seconds']:.2f} s, end to end {lv['samples_per_s_end_to_end']:.3f} samples/s); spike-exact vs sim"
        )
        print(f"sim / lava  = {out['sim_over_lava']:8.0f}x  (steady; {out['sim_over_lava_end_to_end']:.0f}x end to end)")
    print(f"sim / torch = {out['sim_over_torch']:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Lava parity on the whole speech test split, in samples/s: graphs of B network copies (what
``verify`` runs), per-sample runs, netx files of copies, and, with ``--base``, the per-sample runs
of another checkout (the code before the speed-ups), measured in this run.

    .venv/bin/python bench/verify_lava.py [--model examples/spoken_digits.pt] [--data data/spoken-digits]
                                          [--samples all] [--copies 16,64] [--per-sample 8]
                                          [--base /tmp/base] [--json]

``--base``: a checkout of an earlier commit (``git worktree add /tmp/base <commit>``); its
``exporters.lava.run`` runs ``--per-sample`` samples in a subprocess with this Python. Every
configuration is checked spike for spike against ``delaysnn.sim`` (hidden layers must fire).
It measures Lava in process: run from a Python without Lava (the product's 3.11+ ``.venv``), it
runs itself again in the Lava environment (``exporters.lava.bridge.lava_python``), and measures
there what the bridge adds to a verify call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository root on sys.path)

from delaysnn.app.pipeline import QuantizeOptions, evaluation_batches, load_network
from delaysnn.app.verify import compare, verify_batches
from delaysnn.sim import simulate
from exporters import lava
from exporters.lava import bridge
from exporters.lava.netx_read import NetxBackend, netx_copies

# Runs in the --base checkout: its lava.run on the first N samples, the rate on stdout.
BASE_SNIPPET = """
import sys, time
from delaysnn.app.pipeline import evaluation_batches, load_network
from exporters import lava
net, _ = load_network(sys.argv[1])
x = evaluation_batches(net, "shd", sys.argv[2], None).make(0, int(sys.argv[3]))
t0 = time.perf_counter()
lava.run(net, x)
print("RATE", x.shape[0] / (time.perf_counter() - t0))
"""


def exact(ref: Any, got: Any) -> bool:
    """Spike- and voltage-exact, as ``verify`` decides it."""
    return compare(ref, got, "lava").ok


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def base_rate(base: Path, model: str, data: str, samples: int) -> float:
    proc = subprocess.run([sys.executable, "-c", BASE_SNIPPET, model, data, str(samples)], cwd=base, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RATE ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{base}: the base run failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return float(lines[-1].split()[1])


def in_lava_environment() -> int | None:
    """Where this Python lacks Lava: this script again in the Lava environment (its exit status),
    or a skip line where there is none; None where Lava is here."""
    if bridge.lava_importable():
        return None
    python = bridge.lava_python()
    if python is None:
        print(f"skipped: {bridge.available()}")
        return 0
    env = dict(os.environ, PYTHONPATH=str(bridge.SOURCE_ROOT))
    print(f"Lava is not importable here: running in {python}", flush=True)
    return subprocess.run([str(python), __file__, *sys.argv[1:]], env=env, check=False).returncode


def main() -> int:
    if (status := in_lava_environment()) is not None:
        return status
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/spoken_digits.pt")
    ap.add_argument("--data", default="data/spoken-digits")
    ap.add_argument("--samples", default="all", help="Samples for the copies runs ('all': the whole test split).")
    ap.add_argument("--copies", default="16,64", help="Copies per graph to measure, comma-separated.")
    ap.add_argument("--per-sample", type=int, default=8, help="Samples for the per-sample runs (slow).")
    ap.add_argument("--base", type=Path, help="An earlier checkout: measure its per-sample runs too.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model, data = str(Path(args.model).resolve()), str(Path(args.data).resolve())
    net, _ = load_network(model)
    inputs = evaluation_batches(net, "shd", data, None)
    n = inputs.count if args.samples == "all" else min(int(args.samples), inputs.count)
    x = inputs.make(0, n)
    ref = simulate(net, x, record=True)
    assert all(s.any() for s in ref.spikes), "silent hidden layers prove nothing"
    print(f"network {'-'.join(map(str, net.sizes))}, max delay {max(layer.max_delay for layer in net.layers)}, {n} of {inputs.description}, "
          f"{ref.alignment.steps} steps; sim spikes per layer {[int(s.sum()) for s in ref.spikes]}", flush=True)
    rates: dict[str, float] = {}

    def report(label: str, count: int, seconds: float, ok: bool) -> None:
        rates[label] = count / seconds
        print(f"{label:44s} {count / seconds:7.2f} samples/s ({count} in {seconds:6.1f} s); {'spike-exact' if ok else 'NOT spike-exact'}", flush=True)
        if not ok:
            raise SystemExit(f"{label}: Lava departs from the sim")

    if args.base:
        rates["base: per-sample runs"] = base_rate(args.base, model, data, args.per_sample)
        print(f"{'base: per-sample runs (' + args.base.name + ')':44s} {rates['base: per-sample runs']:7.2f} samples/s ({args.per_sample} samples)", flush=True)
    xs, rs = x[: args.per_sample], simulate(net, x[: args.per_sample], record=True)
    for memo in (False, True):
        got, dt = timed(lambda memo=memo: lava.run_graph(lava.build(net, x=xs), memoize=memo))
        report(f"per-sample runs, {'memoized' if memo else 'Lava as is'}", xs.shape[0], dt, exact(rs, got))
    for copies in map(int, args.copies.split(",")):
        got, dt = timed(lambda copies=copies: lava.run(net, x, copies=copies))
        report(f"{copies} copies per graph", n, dt, exact(ref, got))
    for workers in (1, 2):
        (rep,), dt = timed(lambda workers=workers: verify_batches(net, [x], ["lava"], workers=workers))
        report(f"verify --backends lava --workers {workers}", n, dt, rep.ok)
    # the bridge (a 3.10 process, the network and inputs as files), as a Python 3.11+ runs Lava
    os.environ.setdefault(bridge.ENV_VAR, str(bridge.lava_python() or sys.executable))
    got, dt = timed(lambda: bridge.run_bridged("lava", net, x))
    report("lava through the bridge (process + files)", n, dt, exact(ref, got))
    print(f"the bridge adds {dt - n / rates['verify --backends lava --workers 1']:.1f} s to the {n}-sample run", flush=True)
    # netx: the network as --target loihi deploys it (within what netx files hold)
    nx, _ = load_network(model, QuantizeOptions(target="loihi", clip_delays=True))
    nref = simulate(nx, x, record=True)
    got, dt = timed(lambda: NetxBackend(copies=1).run(nx, xs))
    report("netx, per-sample runs", xs.shape[0], dt, exact(simulate(nx, xs, record=True), got))
    (rep,), dt = timed(lambda: verify_batches(nx, [x], ["netx"]))
    report(f"verify --backends netx ({netx_copies(nx)} copies per file)", n, dt, rep.ok and bool(nref.spikes[0].any()))
    best = max((k for k in rates if k.startswith("verify --backends lava")), key=rates.get)
    print(f"whole split ({inputs.count} samples) with '{best}': {inputs.count / rates[best] / 60:.1f} min (target 5)")
    print(f"speed-up of '{best}' over per-sample runs of Lava as is: {rates[best] / rates['per-sample runs, Lava as is']:.0f}x")
    if args.base:
        print(f"speed-up of '{best}' over the base's per-sample runs: {rates[best] / rates['base: per-sample runs']:.0f}x")
    if args.json:
        print(json.dumps({"samples": n, "rates": rates}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

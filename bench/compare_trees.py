"""Before/after: the sim, ONNX and NIR-export benchmarks of two checkouts, in one run.

    .venv/bin/python bench/compare_trees.py BASE_DIR [--new DIR] [--rounds 2] [--json]

``BASE_DIR`` is another checkout of this repository (e.g. ``git worktree add /tmp/base
<commit>``); ``--new`` defaults to this one. Each benchmark runs in both trees alternately,
``--rounds`` times, with the same Python, and the best time of each tree is kept, so a busy
machine slows both alike. Prints ``new / base`` ratios of throughput (above 1: faster now).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# (name, script and arguments, how to read "higher is better" figures out of its --json output)
BENCHES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("sim samples/s", ["bench_sim.py", "--no-lava", "--json", "--repeat", "2"], {"path": ("sim", "samples_per_s")}),
    ("onnxruntime samples/s", ["bench_onnx.py", "--json", "--repeat", "2"], {"path": ("samples_per_s", "onnxruntime")}),
    ("NIR export+write 1/s", ["bench_nir.py", "--json", "--repeat", "2"], {"path": ("integer",), "inverse": ("export_s", "write_s")}),
]


def figure(result: dict[str, Any], how: dict[str, Any]) -> float:
    node: Any = result
    for key in how["path"]:
        node = node[key]
    if "inverse" in how:
        return 1.0 / sum(float(node[k]) for k in how["inverse"])
    return float(node)


def run(tree: Path, script: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / script[0]), *script[1:]],
        cwd=tree, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: bench/{script[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("--new", type=Path, default=HERE.parent)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, script, how in BENCHES:
        best = {"base": 0.0, "new": 0.0}
        for _ in range(args.rounds):
            for label, tree in (("base", args.base), ("new", args.new)):
                best[label] = max(best[label], figure(run(tree, script), how))
        rows.append({"benchmark": name, **best, "ratio": best["new"] / best["base"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| benchmark | base | new | new / base |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['benchmark']} | {r['base']:.4g} | {r['new']:.4g} | {r['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

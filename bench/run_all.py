"""Run every benchmark and write their reports into one markdown file (default bench/RESULTS.md).

    .venv/bin/python bench/run_all.py [-o bench/RESULTS.md] [--only speech.py cochlea.py]

Each script prints ratios measured in one run (no timed assertions anywhere); this collects
them with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_sim.py", "bench_onnx.py", "bench_nir.py", "quant_table.py", "cochlea.py", "speech.py", "delay_kinds.py", "fsdd.py", "binary_qat.py", "verify_lava.py", "frontier.py"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def stack() -> str:
    """Which torch and numpy made the figures: a training figure belongs to its torch (the dropout
    stream of one seed changed between torch 2.3 and 2.13), and where Lava ran (issue 27)."""
    import numpy
    import torch

    from delaysnn.errors import DelaysnnError
    from exporters.lava.bridge import lava_importable, lava_python

    try:
        lava = "in process" if lava_importable() else f"through the bridge, in {lava_python() or 'no Lava environment (Lava rows skipped)'}"
    except DelaysnnError as err:  # a bench header must not fail on a misconfigured Lava setting
        lava = f"unavailable ({err})"
    return f"Stack: torch {torch.__version__}, numpy {numpy.__version__}; Lava {lava}. Figures from another torch are marked where they are kept."


def existing_sections(path: Path) -> dict[str, str]:
    """``{script: its '## script.py ...' section}`` of a results file, in file order (a script's
    own output may hold '## ' lines: only headings naming a ``.py`` script in bench/ split)."""
    if not path.exists():
        return {}
    found: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        name = line[3:].split(" ", 1)[0] if line.startswith("## ") else None
        if name is not None and name.endswith(".py") and (HERE / name).exists():
            current = name
            found[current] = []
        if current is not None:
            found[current].append(line)
    return {name: "\n".join(lines).rstrip() + "\n" for name, lines in found.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--only", nargs="+", choices=SCRIPTS, help="Run these scripts only and replace their sections of the existing file.")
    args = ap.parse_args()
    sections = existing_sections(args.output)
    parts = [f"# delaysnn benchmarks\n\nMachine: {machine()}\n\n{stack()}\n"]
    failed = []
    for script in SCRIPTS:
        if args.only and script not in args.only:
            if script in sections:
                parts.append(sections[script])
            continue
        print(f"running {script} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, cwd=HERE.parent)
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            failed.append(script)
        body = proc.stdout.strip() or proc.stderr.strip()[-2000:]
        parts.append(f"## {script} ({took:.0f} s{', FAILED' if proc.returncode else ''})\n\n```\n{body}\n```\n")
    # sections of scripts run by hand (compare_trees.py needs a second checkout) stay, at the end
    parts += [text for name, text in sections.items() if name not in SCRIPTS]
    tmp = args.output.with_suffix(".md.part")
    tmp.write_text("\n".join(parts))
    tmp.replace(args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

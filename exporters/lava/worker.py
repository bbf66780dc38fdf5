"""The Lava bridge, callee's side: ``python -m exporters.lava.worker BACKEND DIR [--steps N] [--profile P]``,
run by :mod:`exporters.lava.bridge` in the Python 3.10 environment that holds Lava.

Reads ``DIR/inputs.npy`` and ``DIR/network.dnet`` (lava: run in process by
``exporters.lava.runtime.run``, the registry's ``lava`` backend) or ``DIR/network.net`` (netx:
the file the caller wrote, ``--copies`` side by side, run by ``NetxBackend.run_file``), writes
``DIR/result.npz``. A refusal is one line on stderr (``error: ...``)
and exit status 1, which the bridge passes on.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BRIDGED = ("lava", "netx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.lava.worker")
    parser.add_argument("backend", choices=BRIDGED)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--copies", type=int, default=1)  # netx: copies side by side in DIR/network.net
    args = parser.parse_args(argv)

    import numpy as np

    from delaysnn.errors import DelaysnnError
    from delaysnn.ir import load

    from .bridge import lava_importable, save_result

    try:
        if not lava_importable():  # never bridge onwards: this must be the environment that holds Lava
            raise DelaysnnError(f"{sys.executable}: Lava is not importable here; install delaysnn[lava] into this Python 3.10 environment")
        x = np.load(args.dir / "inputs.npy", allow_pickle=False)
        if args.backend == "netx":
            from .netx_read import NetxJob, netx

            result = netx.run_file(NetxJob(path=args.dir / "network.net", copies=args.copies, steps=args.steps), x)
        else:
            # the registry's lava backend, by its module: exporters.lava stays below the registry
            from .runtime import run

            result = run(load(args.dir / "network.dnet"), x, steps=args.steps, profile=args.profile or "loihi2")
        partial = args.dir / "result.npz.part"
        save_result(result, partial)
        os.replace(partial, args.dir / "result.npz")  # the caller reads a whole file or none
    except DelaysnnError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

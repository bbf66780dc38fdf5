"""The Lava bridge, caller's side: run the ``lava`` and ``netx`` backends in a Python 3.10
environment when the running Python cannot import Lava (lava-nc 0.10 and lava-dl 0.6 install on
3.10 only, with numpy<2 and torch<2.4; the product runs on 3.11+ with numpy 2).

Data crosses as files only, in a temporary directory: the network as a ``.dnet``
(``delaysnn.ir.save``) for ``lava``, as the netx ``.h5`` written here for ``netx`` (the file
``export --target loihi`` ships, from this Python's writer), the inputs as ``.npy``;
``<python3.10> -m exporters.lava.worker`` runs the backend there and writes the ``SimResult`` (:func:`save_result`); this side reads it back
(:func:`load_result`). The worker imports this same source tree (``PYTHONPATH``), so both sides
run one version of delaysnn; only the dependencies come from the 3.10 environment. An error there
comes back as its one line.

Which Python (:func:`lava_python`): ``DELAYSNN_LAVA_PYTHON``, else the ``.venv-lava`` that
``make`` builds next to the source tree (or next to the running virtual environment).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from delaysnn.errors import DelaysnnError, MissingDependencyError

ENV_VAR = "DELAYSNN_LAVA_PYTHON"
LAVA_VENV = ".venv-lava"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding exporters/ and delaysnn/
HOW = f"build it with 'make {LAVA_VENV}' (needs a Python 3.10) or set {ENV_VAR} to a Python 3.10 with delaysnn[lava]"


def lava_importable() -> bool:
    """Whether this Python can import Lava itself (then no bridge is needed)."""
    return importlib.util.find_spec("lava") is not None


def lava_python() -> Path | None:
    """The Python of the Lava environment: ``$DELAYSNN_LAVA_PYTHON`` (a one-line error if it is
    set but runs nothing), else ``.venv-lava/bin/python`` beside the source tree or beside the
    running virtual environment; None where there is none."""
    setting = os.environ.get(ENV_VAR)
    if setting:
        path = Path(setting).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DelaysnnError(f"{ENV_VAR}={setting}: no such executable; point it at the python of a Python 3.10 environment with delaysnn[lava], or unset it")
        return path
    for base in (SOURCE_ROOT, Path(sys.prefix).parent):
        candidate = base / LAVA_VENV / "bin" / "python"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def available() -> str | None:
    """None where the Lava backends can run (here, or through the bridge), else why not and how to get them."""
    if lava_importable():
        return None
    try:
        found = lava_python()
    except DelaysnnError as err:
        return str(err)
    if found is None:
        return f"Lava is not importable on Python {sys.version_info.major}.{sys.version_info.minor} and no Lava environment was found; {HOW}"
    return None


def runner(backend: str) -> Any:
    """``run(net, x, *, steps=None, profile=None) -> SimResult`` for ``backend`` (lava or netx)
    that runs it in the Lava environment; where there is none, it raises
    ``MissingDependencyError`` (so verify reports the backend skipped, with the way to get it)
    once the checks that need no Lava passed (a network Lava cannot run is refused as such)."""

    def run(net: Any, x: Any, *, steps: int | None = None, profile: Any = None) -> Any:
        return run_bridged(backend, net, x, steps=steps, profile=profile)

    return run


def _profile_arg(profile: Any) -> str | None:
    """A profile as the worker's ``--profile``: a name or a .toml path (a loaded ``Profile`` by its origin)."""
    if profile is None or isinstance(profile, str | os.PathLike):
        return None if profile is None else os.fspath(profile)
    origin = str(getattr(profile, "origin", ""))
    return origin.removeprefix("builtin:") or str(profile.name)


def run_bridged(backend: str, net: Any, x: Any, *, steps: int | None = None, profile: Any = None, timeout: float | None = None) -> Any:
    """Run registry backend ``backend`` on ``net`` and ``x`` in the Lava environment's Python."""
    from delaysnn.ir import save
    from delaysnn.sim import as_input

    xs = as_input(net, x)
    with tempfile.TemporaryDirectory(prefix="delaysnn-lava-bridge-") as tmp:
        work = Path(tmp)
        cmd = ["python", "-m", "exporters.lava.worker", backend, str(work)]
        if backend == "netx":  # the file is written here (what export --target loihi ships), run there
            from .netx_read import netx

            job = netx.write(net, xs, work, steps=steps, profile=profile)
            cmd += ["--copies", str(job.copies), "--steps", str(job.steps)]
        else:  # what Lava cannot run is refused here, as in process, before any 3.10 process starts
            from .checks import check

            check(net, profile or "loihi2")
            save(net, work / "network.dnet")
            cmd += ["--steps", str(int(steps))] if steps is not None else []
            cmd += ["--profile", arg] if (arg := _profile_arg(profile)) is not None else []
        np.save(work / "inputs.npy", xs, allow_pickle=False)
        why = available()
        if why is not None:
            raise MissingDependencyError(f"backend {backend!r}: {why}")
        python = lava_python()
        assert python is not None  # available() said so
        cmd[0] = str(python)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")))))
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except OSError as err:
            raise DelaysnnError(f"{python}: cannot start the Lava environment's Python ({err}); {HOW}") from err
        if done.returncode != 0:
            raise _worker_error(python, backend, done)
        return load_result(work / "result.npz")


def _worker_error(python: Path, backend: str, done: subprocess.CompletedProcess) -> DelaysnnError:
    """The worker's one-line error (its last stderr line) as a ``DelaysnnError``; a worker that
    could not even import delaysnn is a missing dependency (reported as skipped, with the fix)."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    last = lines[-1].removeprefix("error: ") if lines else f"exit status {done.returncode}"
    if "ModuleNotFoundError" in last or "No module named" in last:
        return MissingDependencyError(f"backend {backend!r} in {python}: {last}; install delaysnn[lava] there ({HOW})")
    return DelaysnnError(f"backend {backend!r} (Lava environment {python}): {last}")


# --- SimResult as files (both sides) ---


def save_result(result: Any, path: str | os.PathLike) -> None:
    """Write a ``SimResult`` as one ``.npz``: arrays, plus its alignment, scale and extra as JSON."""
    arrays: dict[str, np.ndarray] = {"voltages": result.voltages}
    arrays.update({f"spikes_{i}": s for i, s in enumerate(result.spikes)})
    for kind in ("u", "v"):
        arrays.update({f"{kind}_{i}": a for i, a in enumerate(getattr(result, kind) or [])})
    meta = {
        "layers": len(result.spikes),
        "traces": [kind for kind in ("u", "v") if getattr(result, kind) is not None],
        "trace_layers": len(result.u or result.v or []),
        "alignment": {"input_steps": result.alignment.input_steps, "steps": result.alignment.steps, "latency": list(result.alignment.latency)},
        "readout_scale": result.readout_scale,
        "extra": result.extra,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=float).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_result(path: str | os.PathLike) -> Any:
    """The ``SimResult`` :func:`save_result` wrote."""
    from delaysnn.sim import SimResult
    from delaysnn.sim.runner import Alignment

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        traces = {kind: [data[f"{kind}_{i}"] for i in range(meta["trace_layers"])] if kind in meta["traces"] else None for kind in ("u", "v")}
        a = meta["alignment"]
        return SimResult(
            spikes=[data[f"spikes_{i}"] for i in range(meta["layers"])],
            voltages=data["voltages"],
            alignment=Alignment(input_steps=a["input_steps"], steps=a["steps"], latency=tuple(a["latency"])),
            u=traces["u"],
            v=traces["v"],
            readout_scale=float(meta["readout_scale"]),
            extra=dict(meta["extra"], bridge=True),
        )


__all__ = ["ENV_VAR", "LAVA_VENV", "available", "lava_importable", "lava_python", "load_result", "run_bridged", "runner", "save_result"]

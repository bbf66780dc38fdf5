"""The one backend registry: :data:`TARGETS` maps a target name to a :class:`Backend`.

Every backend offers the same protocol, each part where it can:

- ``export(net, path) -> Path``: write the integer network in the target's format (suffix
  :attr:`Backend.suffix`); ``export_float(model, path)`` writes the float model where the format
  holds one;
- ``run(net, x, *, steps=None) -> SimResult``: run it on ``x`` (``[batch, time, input_size]``)
  on ``delaysnn.sim``'s time axis, so ``delaysnn.app.verify`` compares it spike for spike;
- ``describe(path) -> dict``: a JSON-able summary of a file of the format (``delaysnn inspect``).

``delaysnn verify``, ``export --target``, ``inspect`` and the demo all look backends up here.
The functions are named as ``"module:attribute"`` strings and imported on first use, so
``import exporters`` imports no backend and no optional dependency (lava, onnx, nir); a
backend whose module cannot be imported raises ``MissingDependencyError`` naming what it needs.
Adding a backend is one entry below.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delaysnn.errors import DelaysnnError, MissingDependencyError, UnsupportedError


def _load(ref: str, backend: str, needs: tuple[str, ...]) -> Any:
    """The object a ``"module:attr.attr"`` reference names, imported now."""
    module_name, _, attrs = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        hint = f"; install it with: pip install 'delaysnn[{','.join(needs)}]'" if needs else ""
        raise MissingDependencyError(f"backend {backend!r}: cannot import {module_name} ({err}){hint}") from err
    for attr in filter(None, attrs.split(".")):
        obj = getattr(obj, attr)
    return obj


@dataclass(frozen=True)
class Backend:
    """One target: what it writes, what it runs, what it reads back.

    A ``*_ref`` of None means the backend cannot do that (:meth:`can` says so).
    ``profile``: the hardware profile an export for this target is checked against (and a
    checkpoint quantized within); ``for_netx``: the network must be one lava-dl netx holds
    exactly (``quantization.NETX_OPTIONS``); ``parallel``: slow (about 1 s per sample), worth a
    process per worker in ``verify --workers``.
    """

    name: str
    summary: str
    export_ref: str | None = None  # (net, path) -> Path
    run_ref: str | None = None  # (net, x, *, steps=None) -> SimResult
    describe_ref: str | None = None  # (path) -> dict
    float_ref: str | None = None  # (float model, path) -> Path
    suffix: str | None = None  # of the files export writes and describe reads
    needs: tuple[str, ...] = ()  # pip extras of the optional dependencies
    profile: str | None = None
    for_netx: bool = False
    parallel: bool = False
    checks_profile: bool = False  # run(..., profile=NAME) refuses what that hardware profile forbids (default loihi2)
    bridged: bool = False  # where this Python cannot import Lava, runs in the Lava environment (exporters.lava.bridge)

    def can(self, ability: str) -> bool:
        """Whether this backend can ``ability``: export, float (export the float model), run, describe."""
        return getattr(self, f"{ability}_ref") is not None

    def references(self) -> tuple[str, ...]:
        """Every ``"module:attribute"`` this backend imports on demand."""
        return tuple(r for r in (self.export_ref, self.run_ref, self.describe_ref, self.float_ref) if r is not None)

    def _function(self, ability: str) -> Callable[..., Any]:
        ref = getattr(self, f"{ability}_ref")
        if ref is None:
            raise UnsupportedError(_cannot(self.name, ability))
        return _load(ref, self.name, self.needs)

    def runner(self, profile: str | None = None) -> Callable[..., Any]:
        """The ``run(net, x, *, steps=None) -> SimResult`` function itself (imported now); with
        ``profile``, a backend that checks one checks that profile instead of its default. A
        ``bridged`` backend on a Python without Lava runs in the Lava environment's Python, or
        raises ``MissingDependencyError`` saying how to get one."""
        run = self._function("run")
        if self.bridged:
            from .lava import bridge

            if not bridge.lava_importable():
                run = bridge.runner(self.name)
        if profile is not None and self.checks_profile:
            import functools

            return functools.partial(run, profile=profile)
        return run

    def export(self, net: Any, path: str | os.PathLike, **options: Any) -> Path:
        """Write integer network ``net`` to ``path`` (atomically, through ``delaysnn.fileio``);
        ``options`` go to the backend's function (e.g. NIR's ``dt``)."""
        self._function("export")(net, path, **options)
        return Path(path)

    def check_suffix(self, path: str | os.PathLike) -> Path:
        """``path`` if it ends in :attr:`suffix` (any case), else a one-line error naming it: a file
        named for another format is later read as that format and called corrupt."""
        path = Path(path)
        if self.suffix and path.suffix.lower() != self.suffix:
            raise DelaysnnError(
                f"{path}: --target {self.name} writes {self.suffix} files, not {path.suffix or 'a file without suffix'}; "
                f"name the output {path.with_suffix(self.suffix).name}"
            )
        return path

    def export_float(self, model: Any, path: str | os.PathLike, **options: Any) -> Path:
        """Write the float model to ``path`` (``options`` as :meth:`export`)."""
        self._function("float")(model, path, **options)
        return Path(path)

    def run(self, net: Any, x: Any, *, steps: int | None = None) -> Any:
        """Run ``net`` on ``x``; a ``SimResult`` on the simulator's time axis."""
        return self.runner()(net, x, steps=steps)

    def describe(self, path: str | os.PathLike) -> dict[str, Any]:
        """Summary of a file of this format."""
        return self._function("describe")(path)


_ABILITIES = {
    "export": "export an integer network",
    "float": "export the float model",
    "run": "run a network",
    "describe": "describe a file",
}

_NETX = "lava-dl netx HDF5 (per-synapse delays), loaded and run by lava.lib.dl.netx"

TARGETS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("sim", "the bit-accurate reference simulator (delaysnn.sim)", run_ref="delaysnn.sim:run"),
        Backend(
            "lava", "Lava 0.10 process graph (DelayDense -> LIF), bit-accurate CPU simulation",
            run_ref="exporters.lava.runtime:run", needs=("lava",), parallel=True, checks_profile=True, bridged=True,
        ),
        Backend(
            "netx", _NETX, run_ref="exporters.lava.netx_read:netx.run", describe_ref="exporters.lava.describe:describe_netx",
            suffix=".h5", needs=("lava",), profile="loihi2", for_netx=True, parallel=True, checks_profile=True, bridged=True,
        ),
        Backend(
            "onnx", "integer ONNX model run by onnxruntime (Scan over time, integer ops)",
            export_ref="exporters.onnx.integer:export", run_ref="exporters.onnx.runtime:run", describe_ref="exporters.onnx.describe:describe",
            float_ref="exporters.onnx.floating:export_float", suffix=".onnx", needs=("onnx",),
        ),
        Backend(
            "nir", "NIR graph (Linear -> Delay -> Linear -> LIF per layer), executed by nirtorch with our Delay module",
            export_ref="exporters.nir:export", run_ref="exporters.nir:run", describe_ref="exporters.nir:describe",
            float_ref="exporters.nir:export", suffix=".nir", needs=("nir",),
        ),
        Backend(
            "nir-roundtrip", "IR -> NIR -> IR identity, then the simulator (the NIR file loses nothing)",
            run_ref="exporters.nir:run_roundtrip", needs=("nir",),
        ),
        Backend(
            "loihi", "Loihi 2: " + _NETX, export_ref="exporters.lava.netx_write:export", describe_ref="exporters.lava.describe:describe_netx",
            suffix=".h5", needs=("lava",), profile="loihi2", for_netx=True,
        ),
        Backend(
            "ir", "delaysnn's integer IR (.dnet: npz + JSON header)",
            export_ref="delaysnn.ir:save", describe_ref="delaysnn.estimate.describe:describe_ir", suffix=".dnet",
        ),
    )
}


def names(ability: str | None = None) -> list[str]:
    """Target names, in registry order; with ``ability`` (export, float, run, describe) only those
    that have it."""
    return [n for n, b in TARGETS.items() if ability is None or b.can(ability)]


PLAIN_TARGET = "plain"  # --target plain: the plain quantization, fitted for no deploy target (what ir, onnx, nir ship)
DEFAULT_DEPLOY_TARGET = "loihi"  # verify's network for a checkpoint without --target: the default backends include netx


def deploy_targets() -> list[str]:
    """Targets a network is fitted for (an export target with a hardware profile: loihi): the
    choices of ``--target`` on quantize, simulate, estimate and verify. Any other export target
    ships the plain quantization."""
    return [n for n, b in TARGETS.items() if b.can("export") and b.profile is not None]


def backend(name: str, ability: str | None = None) -> Backend:
    """``TARGETS[name]``, or a one-line error listing the known names; with ``ability`` (export,
    float, run, describe) also an error when it lacks that, naming the backends that have it."""
    if name not in TARGETS:
        raise DelaysnnError(f"unknown backend {name!r}; known: {', '.join(names(ability))}")
    found = TARGETS[name]
    if ability is not None and not found.can(ability):
        raise UnsupportedError(_cannot(name, ability))
    return found


def _cannot(name: str, ability: str) -> str:
    return f"backend {name!r} cannot {_ABILITIES[ability]}; backends that can: {', '.join(names(ability))}"


def for_suffix(suffix: str) -> Backend | None:
    """The first backend that describes files ending in ``suffix`` (case-insensitive), or None."""
    for b in TARGETS.values():
        if b.can("describe") and b.suffix == suffix.lower():
            return b
    return None


__all__ = ["DEFAULT_DEPLOY_TARGET", "PLAIN_TARGET", "TARGETS", "Backend", "backend", "deploy_targets", "for_suffix", "names"]

"""Parity: every backend reproduces ``delaysnn.sim`` spike for spike and voltage for voltage.

Backends are registered by name in :data:`BACKENDS` as ``"module"`` or ``"module:attribute"``;
the module (or attribute) exposes ``run(net, x) -> SimResult`` on the simulator's time axis
(``delaysnn.sim.alignment``). Adding a backend is one line here. Modules are imported on demand,
so a backend whose optional dependency is missing is reported as skipped, with the reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DelaysnnError, ParityError
from .ir import DelayNetwork
from .sim import SimResult, simulate

BACKENDS: dict[str, str] = {
    "sim": "delaysnn.sim",
    "lava": "exporters.lava",
    "netx": "exporters.lava:netx",
    "onnx": "exporters.onnx",
    "nir": "exporters.nir",
}


def resolve(name: str) -> Callable[..., SimResult]:
    """The ``run`` function of backend ``name`` (imports its module now)."""
    if name not in BACKENDS:
        raise DelaysnnError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module_name, _, attr = BACKENDS[name].partition(":")
    obj: Any = importlib.import_module(module_name)
    if attr:
        obj = getattr(obj, attr)
    run = getattr(obj, "run", obj)
    if not callable(run):
        raise DelaysnnError(f"backend {name!r} ({BACKENDS[name]}) exposes no run(net, x)")
    return run


@dataclass(frozen=True)
class Mismatch:
    """Where a backend first departs from the reference: earliest step, then layer, sample, neuron.

    ``layer`` counts the network's layers (the readout is the last; its ``kind`` is ``"voltage"``).
    """

    backend: str
    layer: int
    sample: int
    neuron: int
    step: int
    kind: str  # "spike" or "voltage"
    expected: int
    got: int

    def __str__(self) -> str:
        return f"{self.backend}: layer {self.layer} sample {self.sample} neuron {self.neuron} step {self.step}: {self.kind} {self.got}, reference {self.expected}"


@dataclass
class ParityReport:
    """Mismatch counts of one backend against the reference, per layer (readout: voltages)."""

    backend: str
    samples: int = 0
    steps: int = 0
    spike_mismatches: list[int] = field(default_factory=list)  # per hidden layer
    voltage_mismatches: int = 0
    compared: int = 0  # values compared (spikes + voltages)
    first: Mismatch | None = None
    skipped: str | None = None  # why the backend could not run this case

    @property
    def mismatches(self) -> int:
        return sum(self.spike_mismatches) + self.voltage_mismatches

    @property
    def ok(self) -> bool:
        return self.skipped is None and self.mismatches == 0

    def summary(self) -> str:
        if self.skipped is not None:
            return f"{self.backend}: skipped ({self.skipped})"
        if self.ok:
            return f"{self.backend}: identical ({self.samples} samples x {self.steps} steps, {self.compared} values)"
        return f"{self.backend}: {self.mismatches} mismatches (spikes per layer {self.spike_mismatches}, voltages {self.voltage_mismatches}); first at {self.first}"

    def raise_if_mismatch(self) -> None:
        if self.skipped is None and not self.ok:
            raise ParityError(self.summary())


def _first(diff: np.ndarray) -> tuple[int, int, int] | None:
    """(sample, step, neuron) of the earliest True in ``diff[batch, steps, neurons]``."""
    if not diff.any():
        return None
    b, t, n = np.nonzero(diff)
    k = int(np.lexsort((n, b, t))[0])
    return int(b[k]), int(t[k]), int(n[k])


def compare(reference: SimResult, other: SimResult, backend: str) -> ParityReport:
    """Count every differing spike and readout voltage of ``other`` against ``reference``."""
    report = ParityReport(backend=backend, samples=reference.batch, steps=reference.alignment.steps)
    if len(other.spikes) != len(reference.spikes):
        report.skipped = f"{len(other.spikes)} hidden layers recorded, reference has {len(reference.spikes)}"
        return report
    pairs: list[tuple[int, str, np.ndarray, np.ndarray]] = [
        (li, "spike", ref.astype(np.int64), got.astype(np.int64)) for li, (ref, got) in enumerate(zip(reference.spikes, other.spikes))
    ]
    pairs.append((len(reference.spikes), "voltage", reference.voltages.astype(np.int64), other.voltages.astype(np.int64)))
    candidates: list[Mismatch] = []
    for li, kind, ref, got in pairs:
        if ref.shape != got.shape:
            report.skipped = f"layer {li} {kind}s have shape {got.shape}, reference {ref.shape}"
            return report
        diff = ref != got
        count = int(np.count_nonzero(diff))
        report.compared += ref.size
        if kind == "spike":
            report.spike_mismatches.append(count)
        else:
            report.voltage_mismatches = count
        where = _first(diff)
        if where is not None:
            b, t, n = where
            candidates.append(Mismatch(backend, li, b, n, t, kind, int(ref[b, t, n]), int(got[b, t, n])))
    if candidates:
        report.first = min(candidates, key=lambda m: (m.step, m.layer, m.sample, m.neuron))
    return report


def verify(
    net: DelayNetwork, x: Any, backends: list[str], on_backend: Callable[[str], None] | None = None
) -> list[ParityReport]:
    """Run ``net`` on ``x`` in every named backend and compare each with ``delaysnn.sim``.

    A backend that cannot run the case (missing dependency, hardware limits, unsupported
    feature: any ``DelaysnnError``) is reported as skipped with the reason; nothing is raised
    for mismatches (see :meth:`ParityReport.raise_if_mismatch`). ``on_backend(name)`` is called
    before each backend runs (progress).
    """
    reference = simulate(net, x, record=True)
    reports = []
    for name in backends:
        if on_backend is not None:
            on_backend(name)
        try:
            other = reference if name == "sim" else resolve(name)(net, x)
        except DelaysnnError as err:
            reports.append(ParityReport(backend=name, skipped=str(err)))
            continue
        reports.append(compare(reference, other, name))
    return reports


def merge(reports: list[ParityReport], offsets: list[int]) -> ParityReport:
    """One backend's reports on consecutive batches as one report on all of them: counts add, the
    first mismatch is the earliest over every batch (``offsets[k]``: index of batch ``k``'s first
    sample), a batch the backend could not run makes it skipped."""
    out = ParityReport(backend=reports[0].backend)
    for report, offset in zip(reports, offsets):
        if report.skipped is not None:
            return ParityReport(backend=report.backend, skipped=report.skipped)
        out.samples += report.samples
        out.steps = report.steps
        out.spike_mismatches = [a + b for a, b in zip(out.spike_mismatches, report.spike_mismatches)] or list(report.spike_mismatches)
        out.voltage_mismatches += report.voltage_mismatches
        out.compared += report.compared
        first = report.first
        if first is not None:
            first = Mismatch(**{**first.__dict__, "sample": first.sample + offset})
            key = (first.step, first.layer, first.sample, first.neuron)
            if out.first is None or key < (out.first.step, out.first.layer, out.first.sample, out.first.neuron):
                out.first = first
    return out


def verify_batches(
    net: DelayNetwork, batches: Any, backends: list[str], on_backend: Callable[[str], None] | None = None
) -> list[ParityReport]:
    """:func:`verify` on an iterable of input batches, one at a time (memory: one batch), merged
    per backend with :func:`merge`; a backend skipped on one batch is not run on later ones.
    ``on_backend`` is called once per backend, on the first batch."""
    runs: dict[str, list[tuple[ParityReport, int]]] = {name: [] for name in backends}
    start, seen = 0, False
    for k, x in enumerate(batches):
        names = [name for name in backends if not any(r.skipped for r, _ in runs[name])]
        for name, report in zip(names, verify(net, x, names, on_backend=on_backend if k == 0 else None)):
            runs[name].append((report, start))
        start += int(np.asarray(x).shape[0])
        seen = True
    if not seen:
        raise DelaysnnError("verify: no inputs; need at least one sample")
    return [merge([r for r, _ in runs[name]], [o for _, o in runs[name]]) for name in backends]


__all__ = ["BACKENDS", "Mismatch", "ParityReport", "compare", "merge", "resolve", "verify", "verify_batches"]

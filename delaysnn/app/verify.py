"""Parity: every backend reproduces ``delaysnn.sim`` spike for spike and voltage for voltage.

Backends are those of the one registry, ``exporters.TARGETS``, that can run: each offers
``run(net, x) -> SimResult`` on the simulator's time axis (``delaysnn.sim.alignment``). Modules
are imported on demand, so a backend whose optional dependency is missing is reported as
skipped, with the reason.

Whole test sets: :func:`verify_batches` takes ``workers`` (the slow backends, those marked
``parallel`` in the registry, run on sample chunks in forked processes) and ``start`` (the
global index of the first sample, so a shard's first mismatch names the sample of the whole set). :class:`VerifyRun` is one run's
report (JSON), :func:`merge_runs` checks that shards belong together and cover every sample
once, and :func:`junit_xml` writes the JUnit XML CI systems display.

A verdict names what it rests on (DESIGN section 4): the reference's spikes compared per hidden
layer (a layer that never fired, or inputs without events, make it vacuous), the network's
sha256 (:func:`network_id`) and the inputs' (:func:`inputs_id`); :func:`exit_code` tells a
mismatch, a skipped backend and (strict) a vacuous verdict apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import DelaysnnError, ParityError
from ..ir import DelayNetwork
from ..ir.identity import network_id  # re-exported: reports are checked by it
from ..sim import SimResult, simulate


def resolve(name: str, profile: str | None = None) -> Callable[..., SimResult]:
    """The ``run`` function of backend ``name`` of ``exporters.TARGETS`` (imports its module now);
    ``profile``: the hardware profile a backend that checks one checks (default: its own, loihi2)."""
    from exporters.registry import backend

    return backend(name, "run").runner(profile)


def _parallel(name: str) -> bool:
    """Whether backend ``name`` is worth a process per worker (``parallel`` in the registry)."""
    from exporters.registry import TARGETS

    return name in TARGETS and TARGETS[name].parallel


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
    """Mismatch counts of one backend against the reference, per layer (readout: voltages), and
    what was compared: the reference's spikes per hidden layer, its readout voltages and the
    input events (non-zero input entries). A verdict resting on a hidden layer that never fired,
    or on inputs without events, is vacuous (:attr:`vacuous`)."""

    backend: str
    samples: int = 0
    steps: int = 0
    spike_mismatches: list[int] = field(default_factory=list)  # per hidden layer
    voltage_mismatches: int = 0
    compared: int = 0  # values compared (spikes + voltages)
    first: Mismatch | None = None
    skipped: str | None = None  # why the backend could not run this case
    layer_first: list[Mismatch | None] = field(default_factory=list)  # first mismatch per layer (readout last)
    reference_spikes: list[int] = field(default_factory=list)  # per hidden layer: spikes of the reference compared
    voltages: int = 0  # readout voltages compared
    input_events: int | None = None  # non-zero input entries the comparison ran on (None: not counted)

    @property
    def mismatches(self) -> int:
        return sum(self.spike_mismatches) + self.voltage_mismatches

    @property
    def ok(self) -> bool:
        """Ran, and every value equals the reference (vacuous or not)."""
        return self.skipped is None and self.mismatches == 0

    @property
    def hidden_spikes(self) -> int:
        return sum(self.reference_spikes)

    @property
    def silent_layers(self) -> list[int]:
        """Hidden layers (0-based) where the reference never fired: their parity says nothing."""
        return [li for li, n in enumerate(self.reference_spikes) if n == 0] if self.skipped is None else []

    @property
    def vacuous(self) -> bool:
        return self.skipped is None and (self.input_events == 0 or bool(self.silent_layers))

    def compared_text(self) -> str:
        """What the verdict rests on, e.g. ``1234 hidden spikes, per layer [800, 434]``."""
        if not self.reference_spikes:  # a readout-only network: its voltages are all there is
            return f"no hidden layer, {self.voltages} readout voltages"
        return f"{self.hidden_spikes} hidden spikes, per layer {self.reference_spikes}"

    def summary(self) -> str:
        if self.skipped is not None:
            return f"{self.backend}: skipped ({self.skipped})"
        if self.ok:
            voltages = f"; {self.voltages} readout voltages" if self.reference_spikes else ""
            text = f"{self.backend}: identical ({self.compared_text()}{voltages}; {self.samples} samples x {self.steps} steps)"
            return text + (f"; vacuous: {vacuity(self.input_events, self.silent_layers)}" if self.vacuous else "")
        return f"{self.backend}: {self.mismatches} mismatches (spikes per layer {self.spike_mismatches}, voltages {self.voltage_mismatches}); first at {self.first}"

    def raise_if_mismatch(self) -> None:
        if self.skipped is None and not self.ok:
            raise ParityError(self.summary())


def vacuity(input_events: int | None, silent_layers: list[int]) -> str:
    """Why a parity verdict is vacuous, e.g. ``hidden layer 1 never fired on these inputs``."""
    if input_events == 0:
        return "the inputs have no events at all"
    layers = ", ".join(str(li) for li in silent_layers)
    return f"hidden layer{'s' if len(silent_layers) > 1 else ''} {layers} never fired on these inputs"


def _first(diff: np.ndarray) -> tuple[int, int, int] | None:
    """(sample, step, neuron) of the earliest True in ``diff[batch, steps, neurons]``."""
    if not diff.any():
        return None
    b, t, n = np.nonzero(diff)
    k = int(np.lexsort((n, b, t))[0])
    return int(b[k]), int(t[k]), int(n[k])


def compare(reference: SimResult, other: SimResult, backend: str, input_events: int | None = None) -> ParityReport:
    """Count every differing spike and readout voltage of ``other`` against ``reference``, and the
    reference's spikes and voltages compared (``input_events``: the inputs' non-zero entries)."""
    report = ParityReport(backend=backend, samples=reference.batch, steps=reference.alignment.steps, input_events=input_events)
    if len(other.spikes) != len(reference.spikes):
        report.skipped = f"{len(other.spikes)} hidden layers recorded, reference has {len(reference.spikes)}"
        return report
    pairs: list[tuple[int, str, np.ndarray, np.ndarray]] = [
        (li, "spike", ref.astype(np.int64), got.astype(np.int64)) for li, (ref, got) in enumerate(zip(reference.spikes, other.spikes))
    ]
    pairs.append((len(reference.spikes), "voltage", reference.voltages.astype(np.int64), other.voltages.astype(np.int64)))
    candidates: list[Mismatch] = []
    report.layer_first = [None] * len(pairs)
    for li, kind, ref, got in pairs:
        if ref.shape != got.shape:
            report.skipped = f"layer {li} {kind}s have shape {got.shape}, reference {ref.shape}"
            return report
        diff = ref != got
        count = int(np.count_nonzero(diff))
        report.compared += ref.size
        if kind == "spike":
            report.spike_mismatches.append(count)
            report.reference_spikes.append(int(np.count_nonzero(ref)))
        else:
            report.voltage_mismatches = count
            report.voltages = int(ref.size)
        where = _first(diff)
        if where is not None:
            b, t, n = where
            candidates.append(Mismatch(backend, li, b, n, t, kind, int(ref[b, t, n]), int(got[b, t, n])))
            report.layer_first[li] = candidates[-1]
    if candidates:
        report.first = min(candidates, key=lambda m: (m.step, m.layer, m.sample, m.neuron))
    return report


def verify(
    net: DelayNetwork, x: Any, backends: list[str], on_backend: Callable[[str], None] | None = None, pool: Any = None,
    profile: str | None = None,
) -> list[ParityReport]:
    """Run ``net`` on ``x`` in every named backend and compare each with ``delaysnn.sim``.

    A backend that cannot run the case (missing dependency, hardware limits, unsupported
    feature: any ``DelaysnnError``) is reported as skipped with the reason; nothing is raised
    for mismatches (see :meth:`ParityReport.raise_if_mismatch`). ``on_backend(name)`` is called
    before each backend runs (progress). ``pool`` (a :func:`worker_pool`) runs the ``parallel``
    backends on one chunk of ``x`` per worker, the results concatenated (identical to one run).
    """
    reference = simulate(net, x, record=True)
    events = int(np.count_nonzero(np.asarray(x)))
    reports = []
    for name in backends:
        if on_backend is not None:
            on_backend(name)
        try:
            if name == "sim":
                other = reference
            elif pool is not None and _parallel(name) and np.asarray(x).shape[0] > 1:
                other = _run_chunks(pool, name, net, np.asarray(x), profile)
            else:
                other = resolve(name, profile)(net, x)
        except DelaysnnError as err:
            reports.append(ParityReport(backend=name, skipped=str(err)))
            continue
        reports.append(compare(reference, other, name, events))
    return reports


def _earliest(a: Mismatch | None, b: Mismatch | None) -> Mismatch | None:
    if a is None or b is None:
        return a or b
    return min(a, b, key=lambda m: (m.step, m.layer, m.sample, m.neuron))


def merge(reports: list[ParityReport], offsets: list[int]) -> ParityReport:
    """One backend's reports on consecutive batches as one report on all of them: counts add, the
    first mismatch is the earliest over every batch (``offsets[k]``: index of batch ``k``'s first
    sample), a batch the backend could not run makes it skipped."""
    out = ParityReport(backend=reports[0].backend, input_events=0)
    for report, offset in zip(reports, offsets):
        if report.skipped is not None:
            return ParityReport(backend=report.backend, skipped=report.skipped)
        out.samples += report.samples
        out.steps = report.steps
        out.spike_mismatches = [a + b for a, b in zip(out.spike_mismatches, report.spike_mismatches)] or list(report.spike_mismatches)
        out.voltage_mismatches += report.voltage_mismatches
        out.compared += report.compared
        out.reference_spikes = [a + b for a, b in zip(out.reference_spikes, report.reference_spikes)] or list(report.reference_spikes)
        out.voltages += report.voltages
        a, b = out.input_events, report.input_events
        out.input_events = None if a is None or b is None else a + b  # not counted anywhere: not counted at all

        def shift(m: Mismatch | None, offset: int = offset) -> Mismatch | None:
            return None if m is None else replace(m, sample=m.sample + offset)

        out.first = _earliest(out.first, shift(report.first))
        layers = report.layer_first or [None] * (len(report.spike_mismatches) + 1)
        out.layer_first = [_earliest(a, shift(b)) for a, b in zip(out.layer_first or [None] * len(layers), layers)]
    return out


def verify_batches(
    net: DelayNetwork,
    batches: Any,
    backends: list[str],
    on_backend: Callable[[str], None] | None = None,
    *,
    workers: int = 1,
    start: int = 0,
    profile: str | None = None,
) -> list[ParityReport]:
    """:func:`verify` on an iterable of input batches, one at a time (memory: one batch), merged
    per backend with :func:`merge`; a backend skipped on one batch is not run on later ones.
    ``on_backend`` is called once per backend, on the first batch. ``workers`` > 1: the
    ``parallel`` backends run in that many processes; ``start``: global index of the first sample
    (mismatches name samples from it); ``profile``: see :func:`resolve`."""
    runs: dict[str, list[tuple[ParityReport, int]]] = {name: [] for name in backends}
    seen = False
    with worker_pool(workers if any(_parallel(name) for name in backends) else 1) as pool:
        for k, x in enumerate(batches):
            names = [name for name in backends if not any(r.skipped for r, _ in runs[name])]
            for name, report in zip(names, verify(net, x, names, on_backend=on_backend if k == 0 else None, pool=pool, profile=profile)):
                runs[name].append((report, start))
            start += int(np.asarray(x).shape[0])
            seen = True
    if not seen:
        raise DelaysnnError("verify: no inputs; need at least one sample")
    return [merge([r for r, _ in runs[name]], [o for _, o in runs[name]]) for name in backends]


# --- worker processes ---


def _worker_init() -> None:
    """In a pool worker: Ctrl-C is the parent's to handle (it ends the workers); SIGTERM/SIGHUP
    end this worker's own children (Lava's runtime processes) first, then the worker."""

    from ..processes import stop_children, worker_signals

    def end(signum: int, frame: Any) -> None:
        stop_children()
        os._exit(128 + signum)

    worker_signals(on_term=end)


@contextlib.contextmanager
def worker_pool(workers: int) -> Any:
    """A ``ProcessPoolExecutor`` of ``workers`` forked processes (None for 1 worker, or where
    ``fork`` is unavailable: Lava 0.10 needs it anyway). On any exception (Ctrl-C, SIGTERM via the
    CLI's ``Terminated``) the workers are terminated at once, and they end their own children."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
    try:
        yield pool
    except BaseException:
        from ..processes import stop_pool

        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _run_backend(name: str, net: DelayNetwork, x: np.ndarray, profile: str | None = None) -> SimResult:
    return resolve(name, profile)(net, x)


def _run_chunks(pool: Any, name: str, net: DelayNetwork, x: np.ndarray, profile: str | None = None) -> SimResult:
    """Backend ``name`` on ``x`` split into one chunk per worker, the results concatenated."""
    from ..sim import concatenate

    chunks = [c for c in np.array_split(x, min(pool._max_workers, x.shape[0])) if c.shape[0]]
    return concatenate([f.result() for f in [pool.submit(_run_backend, name, net, c, profile) for c in chunks]])


# --- reports of whole test sets, shards, JUnit ---


def inputs_id(inputs: Any) -> str:
    """``sha256:`` of a whole input set (an ``EvaluationInputs``): its sample count, steps and
    channels, every sample's binned int32 array in order (made a batch at a time, so memory is one
    batch and the batch size does not matter), then the labels if any. A shard hashes the whole
    set too, so every shard of one set carries the same value."""
    data = hashlib.sha256()
    channels = None
    for batch in inputs.batches():
        batch = np.ascontiguousarray(batch, dtype="<i4")
        channels = int(batch.shape[2])
        data.update(batch.tobytes())
    h = hashlib.sha256(f"delaysnn-inputs {inputs.count} {inputs.steps} {channels}\n".encode())
    h.update(data.digest())
    if inputs.labels is not None:
        h.update(b"labels\n" + np.ascontiguousarray(inputs.labels, dtype="<i8").tobytes())
    return "sha256:" + h.hexdigest()


def shard_range(count: int, index: int, shards: int) -> tuple[int, int]:
    """Samples ``[start, stop)`` of shard ``index`` (1-based) of ``shards`` over ``count`` samples."""
    if not 1 <= index <= shards:
        raise DelaysnnError(f"shard {index}/{shards}: the index must be 1..{shards}")
    return count * (index - 1) // shards, count * index // shards


REPORT_FORMAT = "delaysnn-verify"
REPORT_VERSION = 2  # 2: input sha256, spike counts, vacuity and verdicts (1 had none)
_DERIVED = ("hidden_spikes", "silent_layers", "vacuous", "status")  # written for readers, recomputed on load


def report_dict(report: ParityReport) -> dict[str, Any]:
    """One backend's report as JSON: its fields and what they imply (status, vacuity)."""
    status = "skipped" if report.skipped is not None else "identical" if report.ok else "mismatch"
    return {**asdict(report), "hidden_spikes": report.hidden_spikes, "silent_layers": report.silent_layers,
            "vacuous": report.vacuous, "status": status}


@dataclass
class VerifyRun:
    """One verify run (a whole set or one shard of it): which network, which inputs, which
    samples (``start``..``stop - 1`` of ``samples``), and one :class:`ParityReport` per backend
    (first mismatches name global sample indices)."""

    network: str  # network_id
    inputs: str  # description of the whole input set
    inputs_sha256: str  # inputs_id of the whole input set
    samples: int  # samples in the whole set
    layers: int
    start: int
    stop: int
    reports: list[ParityReport]
    shard: tuple[int, int] = (1, 1)
    deployment: dict[str, Any] | None = None  # ir.identity.Deployment.to_dict(): target, and whether it differs from the plain quantization

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def verdict(self) -> str:
        """``mismatch`` (some backend differs), ``skipped`` (none differs, some could not run) or
        ``identical`` (every backend ran and equals the reference, vacuous or not)."""
        if any(r.skipped is None and not r.ok for r in self.reports):
            return "mismatch"
        return "skipped" if any(r.skipped is not None for r in self.reports) else "identical"

    @property
    def reference(self) -> ParityReport | None:
        """A backend's report that ran (every one compared the same reference spikes), or None."""
        return next((r for r in self.reports if r.skipped is None), None)

    @property
    def vacuous(self) -> bool:
        return self.reference is not None and self.reference.vacuous

    def vacuity(self) -> str | None:
        """Why the verdict is vacuous (one phrase), or None."""
        ref = self.reference
        return vacuity(ref.input_events, ref.silent_layers) if ref is not None and ref.vacuous else None

    def compared_text(self) -> str:
        """What the verdict rests on, e.g. ``1234 hidden spikes, per layer [800, 434]``."""
        ref = self.reference
        return "nothing compared: no backend ran" if ref is None else ref.compared_text()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON: fields, per-backend counts, the verdict and its vacuity."""
        ref = self.reference
        body = {**asdict(self), "reports": [report_dict(r) for r in self.reports], "ok": self.ok, "verdict": self.verdict,
                "vacuous": self.vacuous, "vacuity": self.vacuity(), "hidden_spikes": None if ref is None else ref.reference_spikes,
                "input_events": None if ref is None else ref.input_events}
        body["shard"] = f"{self.shard[0]}/{self.shard[1]}"
        return body

    def to_json(self) -> bytes:
        body = {"format": REPORT_FORMAT, "version": REPORT_VERSION, **self.to_dict()}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, source: str = "<report>") -> VerifyRun:
        try:
            body = json.loads(data)
            if body.get("format") == REPORT_FORMAT and body.get("version") == 1:
                raise DelaysnnError(f"{source}: a version-1 verify report (no input sha256, no spike counts); "
                                    f"re-run verify with this delaysnn to write a version-{REPORT_VERSION} report")
            if body.get("format") != REPORT_FORMAT or body.get("version") != REPORT_VERSION:
                raise ValueError(f"format {body.get('format')!r} version {body.get('version')!r}")
            reports = []
            for r in body["reports"]:
                for key in _DERIVED:
                    r.pop(key, None)
                first = [None if m is None else Mismatch(**m) for m in r.pop("layer_first", [])]
                top = r.pop("first")
                reports.append(ParityReport(**r, first=None if top is None else Mismatch(**top), layer_first=first))
            i, _, n = str(body["shard"]).partition("/")
            return cls(
                network=str(body["network"]), inputs=str(body["inputs"]), inputs_sha256=str(body["inputs_sha256"]),
                samples=int(body["samples"]), layers=int(body["layers"]),
                start=int(body["start"]), stop=int(body["stop"]), reports=reports, shard=(int(i), int(n)),
                deployment=body.get("deployment"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise DelaysnnError(f"{source}: not a delaysnn verify report ({type(err).__name__}: {err}); write one with delaysnn verify --report") from err


# verify's exit codes (``delaysnn verify --help``, docs/backends.md): which verdict, never "failed" for a skip
EXIT_IDENTICAL = 0  # every backend ran and is identical (a vacuous verdict too, unless strict)
EXIT_MISMATCH = 1  # some backend differs from the reference
EXIT_SKIPPED = 3  # none differs, but some backend could not run the network
EXIT_VACUOUS = 4  # strict: identical, but some hidden layer never fired, or the inputs have no events


def exit_code(run: VerifyRun, strict: bool = False) -> int:
    """The exit code of ``run``'s verdict: mismatch first, then vacuity (``strict`` only), then skips."""
    if run.verdict == "mismatch":
        return EXIT_MISMATCH
    if strict and run.vacuous:
        return EXIT_VACUOUS
    return EXIT_SKIPPED if run.verdict == "skipped" else EXIT_IDENTICAL


def merge_runs(runs: list[VerifyRun], names: list[str] | None = None) -> VerifyRun:
    """Shards of one verification as one run: same network, inputs and backends, covering samples
    0..N-1 exactly once (else one line naming the missing or overlapping shards)."""
    names = names or [f"report {k + 1}" for k in range(len(runs))]
    if not runs:
        raise DelaysnnError("verify-merge: no reports given")
    base = runs[0]
    for run, name in zip(runs[1:], names[1:]):
        # the inputs' sha256 first: two data sets can share a description ("40 samples of shd/test")
        for what, a, b in (("network", base.network, run.network), ("input set sha256", base.inputs_sha256, run.inputs_sha256),
                           ("inputs", base.inputs, run.inputs), ("backends", [r.backend for r in base.reports], [r.backend for r in run.reports])):
            if a != b:
                raise DelaysnnError(f"verify-merge: {name} has a different {what} ({b}) than {names[0]} ({a}); merge reports of one network and input set")
    order = sorted(range(len(runs)), key=lambda k: (runs[k].start, runs[k].stop))
    label = {k: f"{names[k]} (shard {runs[k].shard[0]}/{runs[k].shard[1]}, samples {runs[k].start}..{runs[k].stop - 1})" for k in order}
    at = 0
    for k in order:
        run = runs[k]
        if run.start > at:
            missing = _missing_shards(runs, at, run.start)
            raise DelaysnnError(f"verify-merge: samples {at}..{run.start - 1} of {base.samples} are in no report{missing}; add the missing shard")
        if run.start < at:
            raise DelaysnnError(f"verify-merge: {label[k]} overlaps an earlier report (samples {run.start}..{at - 1} twice); give each shard once")
        at = run.stop
    if at != base.samples:
        missing = _missing_shards(runs, at, base.samples)
        raise DelaysnnError(f"verify-merge: samples {at}..{base.samples - 1} of {base.samples} are in no report{missing}; add the missing shard")
    reports = [merge([runs[k].reports[b] for k in order], [0] * len(runs)) for b in range(len(base.reports))]
    return VerifyRun(base.network, base.inputs, base.inputs_sha256, base.samples, base.layers, 0, base.samples, reports, shard=(1, 1),
                     deployment=base.deployment)


def _missing_shards(runs: list[VerifyRun], start: int, stop: int) -> str:
    n = runs[0].shard[1]
    if any(r.shard[1] != n for r in runs):
        return ""
    have = {r.shard[0] for r in runs}
    missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in have and start <= shard_range(runs[0].samples, i, n)[0] < stop]
    return f" (missing shard {', '.join(missing)})" if missing else ""


def junit_xml(run: VerifyRun) -> bytes:
    """JUnit XML: one ``<testcase classname="delaysnn.app.verify.BACKEND" name="layer K (hidden|readout
    voltages)">`` per backend and layer; ``<failure>`` with that layer's first mismatch, ``<skipped>``
    when the backend could not run or the reference layer never fired (nothing was compared: the
    parity is vacuous, not passed); ``<system-out>`` with the spikes or voltages compared."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="delaysnn.app.verify")
    tests = failures = skipped = 0
    for report in run.reports:
        for li in range(run.layers):
            readout = li == run.layers - 1
            case = ET.SubElement(suite, "testcase", classname=f"delaysnn.app.verify.{report.backend}",
                                 name=f"layer {li} ({'readout voltages' if readout else 'hidden'})")
            tests += 1
            if report.skipped is not None:
                ET.SubElement(case, "skipped", message=report.skipped)
                skipped += 1
                continue
            count = report.voltage_mismatches if readout else (report.spike_mismatches[li] if li < len(report.spike_mismatches) else 0)
            first = report.layer_first[li] if li < len(report.layer_first) else None
            spikes = report.reference_spikes[li] if li < len(report.reference_spikes) else 0
            compared = f"{report.voltages} readout voltages" if readout else f"{spikes} reference spikes"
            if not count and not readout and spikes == 0:
                ET.SubElement(case, "skipped", message=f"vacuous: hidden layer {li} never fired on these inputs (0 spikes compared)")
                skipped += 1
            elif count:
                where = f"first mismatch {first}" if first is not None else "first mismatch not recorded"
                failure = ET.SubElement(case, "failure", message=where, type="ParityError")
                failure.text = f"{count} mismatches in layer {li} over samples {run.start}..{run.stop - 1} of {run.inputs}; {where}"
                failures += 1
            ET.SubElement(case, "system-out").text = f"compared {compared} over samples {run.start}..{run.stop - 1}"  # after failure/skipped, as the schema orders them
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.SubElement(suite, "properties")
    props = suite.find("properties")
    assert props is not None
    ref = run.reference
    for key, value in (("network", run.network), ("inputs", run.inputs), ("inputs_sha256", run.inputs_sha256),
                       ("shard", f"{run.shard[0]}/{run.shard[1]}"), ("samples", f"{run.start}..{run.stop - 1}"),
                       ("verdict", run.verdict), ("vacuous", str(run.vacuous).lower()),
                       ("hidden_spikes", "" if ref is None else str(ref.reference_spikes))):
        ET.SubElement(props, "property", name=key, value=value)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def _read_runs(paths: Iterable[str]) -> list[VerifyRun]:
    from ..fileio import check_input_path

    return [VerifyRun.from_json(check_input_path(p, "verify report").read_bytes(), p) for p in paths]


__all__ = [
    "Mismatch",
    "ParityReport",
    "VerifyRun",
    "EXIT_IDENTICAL",
    "EXIT_MISMATCH",
    "EXIT_SKIPPED",
    "EXIT_VACUOUS",
    "compare",
    "exit_code",
    "junit_xml",
    "merge",
    "merge_runs",
    "inputs_id",
    "network_id",
    "report_dict",
    "resolve",
    "shard_range",
    "verify",
    "verify_batches",
    "worker_pool",
]

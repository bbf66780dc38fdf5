"""Every backend of ``exporters.TARGETS`` that can run reproduces every conformance case
(``tests/conformance.py``): every hidden layer's spikes and the readout voltages, exactly, on the
simulator's time axis; or the pair is excluded by name, with a reason, and still fails.

Lava runs are not parallel-safe within one process: they run one after another, as pytest runs
these tests (no xdist); each is a small network (about 1-3 s, compile included).
"""

from __future__ import annotations

from functools import cache

import pytest

from delaysnn.errors import DelaysnnError, MissingDependencyError
from delaysnn.sim import SimResult, simulate
from delaysnn.verify import compare
from exporters import TARGETS
from tests.conformance import CASE_NAMES, CASES, EXCLUDED, Case, case

RUNNABLE = [name for name, b in TARGETS.items() if b.can("run")]
PAIRS = [(b, c.name) for b in RUNNABLE for c in CASES if (b, c.name) not in EXCLUDED]


@cache
def reference(name: str) -> SimResult:
    """The simulator's run of case ``name``, every trace recorded (the claims read ``u`` and ``v``)."""
    c = case(name)
    return simulate(c.net, c.x, record=True, steps=c.steps)


def expected(c: Case) -> SimResult:
    return c.expected if c.expected is not None else reference(c.name)


def run(backend: str, c: Case) -> SimResult:
    return TARGETS[backend].run(c.net, c.x, steps=c.steps)


def test_the_backends_and_cases_are_all_here():
    """A backend that stops offering ``run`` (or a renamed one) must not drop out unnoticed."""
    assert RUNNABLE == ["sim", "lava", "netx", "onnx", "nir", "nir-roundtrip"]
    assert len(set(CASE_NAMES)) == len(CASES) >= 20
    assert all(c.why.strip() for c in CASES)
    assert sum(c.expected is not None for c in CASES) >= 8  # hand-computed goldens, not only sim-vs-backend


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_exercises_what_it_claims(name):
    c = case(name)
    ref = reference(name)
    failing = [claim for claim, holds in c.claims.items() if not holds(c.net, ref)]
    assert not failing, f"{name}: the reference run no longer shows {failing}"
    if c.expected is None:  # a sim-expected case must not compare silence
        assert c.claims, f"{name}: a case without hand-computed values needs claims"
    else:
        assert [s.shape for s in c.expected.spikes] == [s.shape for s in ref.spikes]


@pytest.mark.parametrize(("backend", "name"), PAIRS)
def test_backend_reproduces_the_case(backend, name):
    c = case(name)
    want = expected(c)
    got = run(backend, c)
    assert got.alignment == want.alignment
    report = compare(want, got, backend)
    assert report.ok and report.compared > 0, f"{name}: {report.summary()}"


@pytest.mark.parametrize(("backend", "name"), sorted(EXCLUDED))
def test_excluded_pairs_still_fail(backend, name):
    """An exclusion lasts only as long as its reason: once the pair passes, delete the entry."""
    c = case(name)
    try:
        got = run(backend, c)
    except MissingDependencyError:
        raise  # a missing dependency is not the reason given
    except DelaysnnError:
        return
    report = compare(expected(c), got, backend)
    assert not report.ok, f"({backend!r}, {name!r}) passes now: remove it from tests/conformance.py EXCLUDED ({EXCLUDED[backend, name]})"


def test_exclusions_name_real_pairs_with_reasons():
    for (backend, name), reason in EXCLUDED.items():
        assert backend in RUNNABLE, f"EXCLUDED names unknown backend {backend!r}"
        assert name in CASE_NAMES, f"EXCLUDED names unknown case {name!r}"
        assert reason.strip(), f"EXCLUDED[{backend!r}, {name!r}] has no reason"

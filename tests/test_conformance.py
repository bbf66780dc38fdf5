"""Every backend of ``exporters.TARGETS`` that can run reproduces every conformance case
(``tests/conformance.py``): every hidden layer's spikes and the readout voltages, exactly, on the
simulator's time axis; or the pair is excluded by name, with a reason, and still fails.

Random networks (hypothesis): one draw runs on every backend (Lava included: marked ``lava`` and
``slow``), and many more on the backends that need no Lava.

Lava runs are not parallel-safe within one process: they run one after another, as pytest runs
these tests (no xdist); each is a small network (about 1-3 s, compile included).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from delaysnn.app.verify import compare
from delaysnn.errors import DelaysnnError, MissingDependencyError
from delaysnn.ir import DelayNetwork
from delaysnn.sim import SimResult, simulate
from exporters import TARGETS
from tests.conformance import CASE_NAMES, CASES, EXCLUDED, Case, assert_identical, case
from tests.factories import NetSpec, net_specs, random_input, random_network

RUNNABLE = [name for name, b in TARGETS.items() if b.can("run")]
KINDS = ("synaptic", "axonal", "dendritic")  # the random draws cover every delay kind (issue 25)
# Backends that run on Lava (lava, netx): marked `lava`, so `make test-fast` leaves them out.
ON_LAVA = {name for name in RUNNABLE if "lava" in TARGETS[name].needs}


def _marked(backend: str, *rest: str) -> object:
    return pytest.param(backend, *rest, marks=[pytest.mark.lava] if backend in ON_LAVA else [])


PAIRS = [_marked(b, c.name) for b in RUNNABLE for c in CASES if (b, c.name) not in EXCLUDED]


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
    assert len(set(CASE_NAMES)) == len(CASES) >= 36  # the per-backend files' networks moved here: none may drop out
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
    assert_identical(expected(c), run(backend, c), backend, name)


@pytest.mark.parametrize(("backend", "name"), [_marked(*pair) for pair in sorted(EXCLUDED)])
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


# --- random networks -------------------------------------------------------------------------------


def _netx_represents(spec: NetSpec, net: DelayNetwork) -> bool:
    """Whether netx can hold ``net`` exactly: drawn on its grids (``spec.netx``) and weights that
    lava-dl's loader reproduces."""
    from exporters.lava import netx_weight_problem

    return spec.netx and all(netx_weight_problem(lay.weight.astype(np.int64) << lay.weight_exp) is None for lay in net.layers)


@pytest.mark.lava
@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    # delays up to 30 keep a draw's run short (62 is a conformance case's); 3 in 4 on netx's grids
    spec=st.sampled_from([True, True, True, False]).flatmap(lambda netx: net_specs(max_width=5, max_layers=3, max_delay=30, netx=netx, kinds=KINDS)),
    t_in=st.integers(1, 8),
    seed=st.integers(0, 999),
)
def test_random_network_on_every_backend(spec, t_in, seed):
    """Random sizes, delays (every kind, grids, pruning), weights (fixed, binary, ternary), graded input and
    neuron parameters: every runnable backend gives the reference's spikes and voltages; netx on
    the three in four draws made on its grids."""
    net = random_network(spec)
    x = random_input(net, 2, t_in, rate=0.5, seed=seed)
    ref = simulate(net, x)
    assume(sum(int(s.sum()) for s in ref.spikes) > 0)  # silence would pass any backend
    netx = _netx_represents(spec, net)
    assume(netx or not spec.netx)  # drawn for netx but beyond lava-dl's weight loader: draw again
    event(f"netx {'ran' if netx else 'skipped: drawn off its grids'}")
    for backend in RUNNABLE:
        if backend == "netx" and not netx:
            continue
        assert_identical(ref, TARGETS[backend].run(net, x), backend, str(spec))


# The backends that need no Lava, with the draws each affords: onnxruntime runs a small network in
# ~0.1 s, nir-roundtrip ~0.5 s, nirtorch's step-by-step executor (nir) ~2 s with 62-step delays.
FAST_DRAWS = {"onnx": 150, "nir-roundtrip": 25, "nir": 10}


def test_the_fast_draws_cover_every_fast_backend():
    assert sorted(FAST_DRAWS) == sorted(b for b in RUNNABLE if b not in ON_LAVA and b != "sim")


@pytest.mark.parametrize("backend", list(FAST_DRAWS))
def test_random_networks_on_a_fast_backend(backend):
    @settings(max_examples=FAST_DRAWS[backend], deadline=None)
    @given(spec=net_specs(max_delay=62, kinds=KINDS), batch=st.integers(1, 4), steps=st.integers(1, 40), rate=st.sampled_from([0.05, 0.3, 0.9]))
    def check(spec, batch, steps, rate):
        net = random_network(spec)
        x = random_input(net, batch, steps, rate=rate, seed=spec.seed)
        assert_identical(simulate(net, x), TARGETS[backend].run(net, x), backend, str(spec))

    check()

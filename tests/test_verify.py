"""Parity reports: counting mismatches per layer, locating the first one, the backend registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from delaysnn import sim
from delaysnn.app import verify
from delaysnn.errors import DelaysnnError, ParityError
from tests.factories import NetSpec, random_input, random_network


@pytest.fixture
def case():
    net = random_network(NetSpec(sizes=(4, 6, 5, 3), input_bits=2, seed=7))
    x = random_input(net, 3, 9, rate=0.5, seed=7)
    return net, x, sim.simulate(net, x)


def _copy(res: sim.SimResult) -> sim.SimResult:
    return dataclasses.replace(res, spikes=[s.copy() for s in res.spikes], voltages=res.voltages.copy())


def test_identical_results_report_zero_mismatches(case):
    _, _, ref = case
    report = verify.compare(ref, _copy(ref), "copy")
    assert report.ok and report.mismatches == 0 and report.first is None
    assert report.spike_mismatches == [0, 0]
    assert report.compared == sum(s.size for s in ref.spikes) + ref.voltages.size
    assert "identical" in report.summary()
    report.raise_if_mismatch()


def test_mismatches_are_counted_per_layer_and_the_earliest_is_first(case):
    _, _, ref = case
    other = _copy(ref)
    other.spikes[1][2, 7, 4] ^= 1  # layer 1, sample 2, step 7, neuron 4
    other.spikes[0][1, 5, 3] ^= 1  # layer 0, sample 1, step 5, neuron 3: earliest
    other.spikes[0][0, 8, 0] ^= 1
    other.voltages[0, 6, 2] += 1  # readout = layer 2
    report = verify.compare(ref, other, "fake")
    assert report.spike_mismatches == [2, 1] and report.voltage_mismatches == 1 and report.mismatches == 4
    first = report.first
    assert (first.backend, first.layer, first.sample, first.neuron, first.step, first.kind) == ("fake", 0, 1, 3, 5, "spike")
    assert first.expected == int(ref.spikes[0][1, 5, 3]) and first.got == 1 - first.expected
    assert not report.ok and "first at fake: layer 0 sample 1 neuron 3 step 5" in report.summary()
    with pytest.raises(ParityError, match="4 mismatches"):
        report.raise_if_mismatch()


def test_voltage_mismatch_location(case):
    _, _, ref = case
    other = _copy(ref)
    other.voltages[2, 3, 1] -= 5
    first = verify.compare(ref, other, "x").first
    assert (first.layer, first.sample, first.step, first.neuron, first.kind) == (2, 2, 3, 1, "voltage")
    assert first.got == first.expected - 5


def test_shape_disagreements_are_reported_not_raised(case):
    _, _, ref = case
    other = _copy(ref)
    other.voltages = other.voltages[:, :-1]
    report = verify.compare(ref, other, "short")
    assert not report.ok and "shape" in report.skipped
    other = dataclasses.replace(ref, spikes=ref.spikes[:1])
    assert "hidden layers" in verify.compare(ref, other, "fewer").skipped


def test_registry_resolves_modules_and_attributes():
    from exporters import TARGETS
    from exporters.lava import bridge, netx

    assert verify.resolve("sim") is sim.run
    if bridge.lava_importable():
        assert verify.resolve("netx") == netx.run  # a "module:object.method" reference
    else:  # a Python without Lava runs it through the bridge (exporters/lava/bridge.py)
        assert verify.resolve("netx").__module__ == "exporters.lava.bridge"
    assert {name for name, b in TARGETS.items() if b.can("run")} >= {"sim", "lava", "netx", "onnx", "nir", "nir-roundtrip"}
    with pytest.raises(DelaysnnError, match="unknown backend 'tpu'"):
        verify.resolve("tpu")
    with pytest.raises(DelaysnnError, match="backend 'loihi' cannot run a network; backends that can: sim, "):
        verify.resolve("loihi")  # an export target only


def test_verify_reports_sim_and_skips_backends_that_cannot_run(case, monkeypatch):
    net, x, _ = case
    from exporters import TARGETS, Backend

    monkeypatch.setitem(TARGETS, "broken", Backend("broken", "test double", run_ref="tests.test_verify:_Broken.run"))
    reports = verify.verify(net, x, ["sim", "broken"])
    assert reports[0].ok and reports[0].samples == 3
    assert reports[1].skipped == "cannot run this case" and not reports[1].ok
    assert "skipped" in reports[1].summary()


class _Broken:
    @staticmethod
    def run(net, x):
        raise DelaysnnError("cannot run this case")


def test_sim_run_is_the_recorded_simulation(case):
    net, x, ref = case
    res = sim.run(net, x)
    assert res.u is not None and np.array_equal(res.voltages, ref.voltages)

"""Whole test sets: --samples all, shards + verify-merge, --workers, JUnit XML (GitHub issue 15)."""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from delaysnn import sim
from delaysnn.app import verify
from exporters import TARGETS, Backend
from tests.conftest import run_cli

MODEL = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"
HAS_LAVA = importlib.util.find_spec("lava") is not None


def flip_run(net, x):
    """A backend that departs from the sim on the samples whose input sum is a multiple of 7:
    layer 0, neuron 0, step 3 (decided by the sample itself, so any split of the set agrees)."""
    res = sim.simulate(net, x, record=True)
    xs = np.asarray(x)
    for b in range(xs.shape[0]):
        if int(xs[b].sum()) % 7 == 0:
            res.spikes[0][b, 3, 0] ^= 1
    return res


@pytest.fixture
def flip(monkeypatch):
    monkeypatch.setitem(TARGETS, "flip", Backend("flip", "test double", run_ref="tests.test_verify_scale:flip_run"))


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def _planted(n: int) -> list[int]:
    from delaysnn.app.pipeline import evaluation_batches, load_network

    net, _ = load_network(MODEL)
    x = evaluation_batches(net, "synthetic", None, n).array()
    return [b for b in range(x.shape[0]) if int(x[b].sum()) % 7 == 0]


def test_samples_all_checks_the_whole_split(tmp_path, capsys):
    out = tmp_path / "all.json"
    code, _, err = run_cli(["verify", MODEL, "--backends", "sim,onnx", "--samples", "all", "--report", out], capsys)
    assert code == 0, err
    body = _report(out)
    assert (body["start"], body["stop"], body["samples"], body["shard"]) == (0, 512, 512, "1/1")
    assert body["network"].startswith("sha256:") and body["ok"]
    assert [r["samples"] for r in body["reports"]] == [512, 512]


def test_shards_merged_equal_one_run(tmp_path, capsys, flip):
    args = ["verify", MODEL, "--backends", "sim,flip", "--samples", "300"]
    code, _, _ = run_cli([*args, "--report", tmp_path / "whole.json"], capsys)
    assert code == 1
    parts = []
    for i in (1, 2, 3):
        parts.append(tmp_path / f"part{i}.json")
        code, _, _ = run_cli([*args, "--shard", f"{i}/3", "--report", parts[-1]], capsys)
        assert code == 1 or i == 3  # a shard without a planted sample passes
    code, out, err = run_cli(["verify-merge", *parts, "--report", tmp_path / "merged.json"], capsys)
    assert code == 1 and "merged 3 reports" in out
    whole, merged = _report(tmp_path / "whole.json"), _report(tmp_path / "merged.json")
    for key in ("network", "inputs", "inputs_sha256", "samples", "start", "stop", "reports", "ok", "verdict", "hidden_spikes", "input_events", "vacuous"):
        assert merged[key] == whole[key], key
    planted = _planted(300)
    flipped = next(r for r in whole["reports"] if r["backend"] == "flip")
    assert flipped["spike_mismatches"][0] == len(planted)
    assert (flipped["first"]["sample"], flipped["first"]["layer"], flipped["first"]["step"]) == (planted[0], 0, 3)
    later = [json.loads(p.read_text()) for p in parts if json.loads(p.read_text())["start"] > planted[0]]
    assert all(r["reports"][1]["first"] is None or r["reports"][1]["first"]["sample"] >= r["start"] for r in later)  # global indices


def test_merge_refuses_a_missing_shard_or_another_network(tmp_path, capsys):
    args = ["verify", MODEL, "--backends", "sim", "--samples", "30"]
    for i in (1, 3):
        assert run_cli([*args, "--shard", f"{i}/3", "--report", tmp_path / f"p{i}.json"], capsys)[0] == 0
    code, _, err = run_cli(["verify-merge", tmp_path / "p1.json", tmp_path / "p3.json"], capsys)
    assert code == 1 and "missing shard 2/3" in err and err.strip().count("\n") == 0
    assert run_cli([*args, "--shard", "2/3", "--weight-bits", "4", "--report", tmp_path / "p2.json"], capsys)[0] == 0
    code, _, err = run_cli(["verify-merge", tmp_path / "p1.json", tmp_path / "p2.json", tmp_path / "p3.json"], capsys)
    assert code == 1 and "different network" in err and err.strip().count("\n") == 0
    code, _, err = run_cli(["verify-merge", tmp_path / "p1.json", tmp_path / "p1.json", tmp_path / "p3.json"], capsys)
    assert code == 1 and "overlaps" in err


@pytest.mark.skipif(not HAS_LAVA, reason="lava-nc not installed")
@pytest.mark.slow
@pytest.mark.lava
def test_workers_give_the_same_report_as_one_process(tmp_path, capsys):
    reports = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.json"
        code, _, err = run_cli(["verify", MODEL, "--backends", "onnx,lava", "--samples", "4", "--workers", workers, "--report", out], capsys)
        assert code == 0, err
        reports.append(_report(out))
    assert reports[0] == reports[1]


def test_junit_shows_a_planted_mismatch_as_a_failure(tmp_path, capsys, flip):
    out = tmp_path / "report.xml"
    code, _, _ = run_cli(["verify", MODEL, "--backends", "sim,flip", "--samples", "40", "--junit", out], capsys)
    assert code == 1
    cases = ET.parse(out).getroot().findall("./testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (f"delaysnn.app.verify.{b}", name) for b in ("sim", "flip") for name in ("layer 0 (hidden)", "layer 1 (hidden)", "layer 2 (readout voltages)")
    ]
    failed = [(c.get("classname"), c.get("name"), c.find("failure").get("message")) for c in cases if c.find("failure") is not None]
    sample = _planted(40)[0]
    assert failed[0][:2] == ("delaysnn.app.verify.flip", "layer 0 (hidden)")
    assert f"layer 0 sample {sample} neuron 0 step 3" in failed[0][2]


def test_junit_of_a_clean_run_has_no_failures_and_marks_skipped_backends(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(TARGETS, "missing", Backend("missing", "test double", run_ref="tests.no_such_backend_module:run"))
    monkeypatch.setattr(verify, "resolve", _skip_missing(verify.resolve))
    out = tmp_path / "report.xml"
    code, _, _ = run_cli(["verify", MODEL, "--backends", "sim,onnx,missing", "--samples", "8", "--junit", out], capsys)
    assert code == 3  # a backend that could not run is skipped, not failed: its own exit code
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("skipped") == "3" and suite.get("tests") == "9"
    assert not suite.findall(".//failure")


def _skip_missing(resolve):
    from delaysnn.errors import MissingDependencyError

    def wrapped(name, profile=None):
        if name == "missing":
            raise MissingDependencyError("no such backend here")
        return resolve(name, profile)

    return wrapped


def test_merge_of_reports_keeps_global_sample_indices():
    a = verify.ParityReport("x", samples=2, steps=3, spike_mismatches=[1], voltage_mismatches=0, compared=10,
                            first=verify.Mismatch("x", 0, 1, 0, 2, "spike", 0, 1))
    merged = verify.merge([verify.ParityReport("x", samples=2, steps=3, spike_mismatches=[0]), a], [0, 2])
    assert merged.first.sample == 3 and merged.spike_mismatches == [1] and merged.samples == 4
    assert verify.shard_range(10, 1, 3) == (0, 3) and verify.shard_range(10, 3, 3) == (6, 10)


@pytest.mark.skipif(not HAS_LAVA, reason="lava-nc not installed")
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.slow
@pytest.mark.lava
def test_a_lava_graph_of_network_copies_is_spike_exact(sparse):
    from exporters import lava
    from tests.factories import NetSpec, random_input, random_network

    net = random_network(NetSpec(sizes=(5, 7, 6, 3), input_bits=3, seed=3))
    x = random_input(net, 5, 12, rate=0.5, seed=3)  # 5 samples on 2 copies: the last run half empty
    ref = sim.simulate(net, x, record=True)
    assert all(s.any() for s in ref.spikes)
    # graphs of 2 copies, each run once (lava.run), and one graph run 3 times with resets in between
    for got in (lava.run(net, x, copies=2, sparse=sparse), lava.run_graph(lava.build(net, x=x, copies=2, sparse=sparse))):
        assert got.extra["models"]["DelaySparse" if sparse else "DelayDense"].endswith("BitAcc")
        for a, b in zip(ref.spikes, got.spikes):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ref.voltages, got.voltages)


def test_tiled_network_is_its_copies_side_by_side():
    """tile_network (the netx backend's B-copy file) computes each copy on its own slice of inputs."""
    from exporters.lava.graph import tile_network
    from tests.factories import NetSpec, random_input, random_network

    net = random_network(NetSpec(sizes=(5, 7, 6, 3), input_bits=3, seed=3))
    x = random_input(net, 3, 12, rate=0.5, seed=3)
    ref = sim.simulate(net, x)
    assert all(s.any() for s in ref.spikes)
    tiled = sim.simulate(tile_network(net, 3), x.transpose(1, 0, 2).reshape(1, x.shape[1], -1))
    for a, b in zip(ref.spikes, tiled.spikes):
        np.testing.assert_array_equal(a, b[0].reshape(b.shape[1], 3, -1).transpose(1, 0, 2))
    np.testing.assert_array_equal(ref.voltages, tiled.voltages[0].reshape(-1, 3, 3).transpose(1, 0, 2))


@pytest.mark.skipif(not HAS_LAVA, reason="lava-nc not installed")
@pytest.mark.slow
@pytest.mark.lava
def test_netx_files_of_network_copies_are_spike_exact():
    from delaysnn.quantization import NETX_OPTIONS, quantize_model
    from exporters.lava.netx_read import NetxBackend
    from tests.test_quantize import make_model
    from tests.test_quantize import random_input as spike_input

    net = quantize_model(make_model(max_delay=9), **NETX_OPTIONS)
    x = spike_input(5, 20, 12).numpy().astype(np.int64)  # 5 samples, files of 2 copies: the last slice half empty
    ref = sim.simulate(net, x)
    assert all(s.any() for s in ref.spikes)
    got = NetxBackend(copies=2).run(net, x)
    assert got.extra["models"]["LIF"].endswith("BitAcc")
    for a, b in zip(ref.spikes, got.spikes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ref.voltages, got.voltages)

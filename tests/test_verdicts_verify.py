"""Issue 23, verify's verdicts: spike counts beside every "identical", vacuous parity (a silent
layer, empty inputs) warned of or refused (--strict), skipped backends not failed (exit codes),
reports bound to their network and inputs (sha256), estimate on empty input, damaged netx files."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from delaysnn import ir, sim
from delaysnn.app import api, verify
from delaysnn.estimate.report import Estimate
from tests.conftest import run_cli
from tests.factories import NetSpec, random_input, random_network

MODEL = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"


def _net() -> ir.DelayNetwork:
    return random_network(NetSpec(sizes=(6, 8, 7, 3), input_bits=2, seed=11))


def _silent(net: ir.DelayNetwork, layer: int = 1) -> ir.DelayNetwork:
    """``net`` with hidden layer ``layer`` unable to fire: only inhibitory synapses, no bias."""
    layers = list(net.layers)
    old = layers[layer]
    neuron = dataclasses.replace(old.neuron, bias_mant=np.zeros_like(old.neuron.bias_mant))
    layers[layer] = dataclasses.replace(old, weight=-np.abs(old.weight), neuron=neuron)
    out = dataclasses.replace(net, layers=layers)
    out.check()
    return out


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_identical_names_the_spikes_it_compared_per_layer():
    net = _net()
    x = random_input(net, 3, 20, rate=0.5, seed=1)
    ref = sim.simulate(net, x, record=True)
    counts = [int(np.count_nonzero(s)) for s in ref.spikes]
    assert all(counts)  # the verdict below rests on spikes that exist
    report = verify.verify(net, x, ["sim"])[0]
    assert report.reference_spikes == counts and report.voltages == ref.voltages.size
    assert report.input_events == int(np.count_nonzero(x)) and not report.vacuous
    assert f"sim: identical ({sum(counts)} hidden spikes, per layer {counts};" in report.summary()
    # merged batches add the counts
    merged = verify.verify_batches(net, [x[:1], x[1:]], ["sim"])[0]
    assert merged.reference_spikes == counts and merged.voltages == ref.voltages.size


def test_silent_layer_warns_and_strict_makes_it_an_error(tmp_path, capsys):
    path = tmp_path / "silent.dnet"
    ir.save(_silent(_net()), path)
    args = ["verify", path, "--backends", "sim,onnx", "--samples", "4"]
    code, out, err = run_cli([*args, "--report", tmp_path / "r.json", "--junit", tmp_path / "r.xml"], capsys)
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "hidden layer 1 never fired" in warning[0] and "--strict" in warning[0]
    assert _lines(out)[-1].startswith("all 2 backends identical to the simulator (") and _lines(out)[-1].endswith("; vacuous")
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["vacuous"] is True and "hidden layer 1" in body["vacuity"] and body["verdict"] == "identical"
    assert body["hidden_spikes"][0] > 0 and body["hidden_spikes"][1] == 0
    assert [r["silent_layers"] for r in body["reports"]] == [[1], [1]]
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    vacuous = [c.get("classname") for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert vacuous == ["delaysnn.app.verify.sim", "delaysnn.app.verify.onnx"]  # layer 1 of each: compared nothing
    code, out, err = run_cli([*args, "--strict"], capsys)
    assert code == verify.EXIT_VACUOUS == 4
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "hidden layer 1 never fired" in errors[0] and "Traceback" not in err


def test_empty_inputs_are_vacuous():
    net = _net()
    run = api.verify(net, ["sim"], np.zeros((2, 15, net.input_size), np.int64))
    assert run.vacuous and run.vacuity() == "the inputs have no events at all"
    assert run.reference.input_events == 0 and run.verdict == "identical"
    assert verify.exit_code(run) == 0 and verify.exit_code(run, strict=True) == verify.EXIT_VACUOUS
    assert "vacuous: the inputs have no events at all" in run.reports[0].summary()
    assert run.to_dict()["input_events"] == 0


def test_a_backend_that_cannot_run_is_skipped_not_failed(tmp_path, capsys):
    # the quickstart case: a plain 4-bit network that netx cannot hold
    dnet = tmp_path / "q4.dnet"
    assert run_cli(["quantize", MODEL, "--weight-bits", "4", "-o", dnet], capsys)[0] == 0
    code, out, err = run_cli(["verify", dnet, "--backends", "sim,netx", "--samples", "2", "--report", tmp_path / "r.json"], capsys)
    assert code == verify.EXIT_SKIPPED == 3
    assert "parity failed" not in out + err and "netx: skipped (netx cannot represent" in out
    assert _lines(out)[-1].startswith("1 of 2 backends (netx skipped) identical to the simulator (")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "netx" in errors[0] and "skipped, not failed" in errors[0]
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["verdict"] == "skipped" and [r["status"] for r in body["reports"]] == ["identical", "skipped"]


def test_a_mismatch_outranks_a_skip(tmp_path):
    ran = verify.ParityReport("a", samples=1, steps=2, spike_mismatches=[1], reference_spikes=[3], voltages=2, input_events=1)
    run = verify.VerifyRun("sha256:n", "x", "sha256:i", 1, 2, 0, 1, [ran, verify.ParityReport("b", skipped="no lava")])
    assert run.verdict == "mismatch" and verify.exit_code(run, strict=True) == verify.EXIT_MISMATCH


def test_network_id_is_of_header_and_arrays_not_zip_bytes(tmp_path):
    net = _net()
    ir.save(net, tmp_path / "a.dnet")
    ir.save(net, tmp_path / "b.dnet")
    a, b = ir.load(tmp_path / "a.dnet"), ir.load(tmp_path / "b.dnet")
    assert verify.network_id(a) == verify.network_id(b) == verify.network_id(net)
    # the same values in other integer dtypes (another platform's loader) give the same id
    wide = dataclasses.replace(net, layers=[dataclasses.replace(layer, weight=layer.weight.astype(np.int64)) for layer in net.layers])
    assert verify.network_id(wide) == verify.network_id(net)
    changed = ir.load(tmp_path / "a.dnet")
    w = changed.layers[0].weight
    w.flat[0] += 1 if w.flat[0] < 100 else -1  # one weight, one step, still in range
    assert verify.network_id(changed) != verify.network_id(net)


def test_report_carries_both_sha256_and_shards_of_one_set_share_the_inputs_one(tmp_path, capsys):
    args = ["verify", MODEL, "--backends", "sim", "--samples", "20"]
    for i in (1, 2):
        assert run_cli([*args, "--shard", f"{i}/2", "--report", tmp_path / f"p{i}.json"], capsys)[0] == 0
    p1, p2 = (json.loads((tmp_path / f"p{i}.json").read_text()) for i in (1, 2))
    assert p1["version"] == verify.REPORT_VERSION == 2
    assert p1["inputs_sha256"] == p2["inputs_sha256"] and p1["inputs_sha256"].startswith("sha256:")
    assert p1["network"] == p2["network"]
    code, out, err = run_cli(["verify-merge", tmp_path / "p1.json", tmp_path / "p2.json", "--junit", tmp_path / "m.xml"], capsys)
    assert code == 0, err
    assert p1["inputs_sha256"] in out and "hidden spikes, per layer [" in _lines(out)[-1]
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "m.xml").getroot().iter("property")}
    assert props["inputs_sha256"] == p1["inputs_sha256"] and props["vacuous"] == "false"
    assert json.loads(props["hidden_spikes"]) == [a + b for a, b in zip(p1["hidden_spikes"], p2["hidden_spikes"])]


def test_merge_refuses_shards_of_different_inputs_naming_both(tmp_path, capsys):
    net = _net()
    x = random_input(net, 6, 15, rate=0.4, seed=2)
    other = x.copy()
    other[4] = random_input(net, 1, 15, rate=0.4, seed=3)[0]  # a different set, same size and description
    api.verify(net, ["sim"], x, shard=(1, 2), report_path=str(tmp_path / "a.json"))
    api.verify(net, ["sim"], other, shard=(2, 2), report_path=str(tmp_path / "b.json"))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["inputs"] == b["inputs"] and a["inputs_sha256"] != b["inputs_sha256"]
    code, out, err = run_cli(["verify-merge", tmp_path / "a.json", tmp_path / "b.json"], capsys)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert all(s in err for s in ("a.json", "b.json", a["inputs_sha256"], b["inputs_sha256"]))


def test_merge_refuses_a_version_1_report(tmp_path, capsys):
    net = _net()
    api.verify(net, ["sim"], random_input(net, 2, 10, seed=4), report_path=str(tmp_path / "r.json"))
    body = json.loads((tmp_path / "r.json").read_text())
    body["version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(body))
    code, _, err = run_cli(["verify-merge", tmp_path / "old.json"], capsys)
    assert code == 1 and err.count("\n") == 1 and "old.json" in err and "re-run verify" in err


@pytest.mark.slow
def test_estimate_on_empty_input_gives_no_ratio():
    net = _net()
    notes: list[str] = []
    est, _ = api.estimate(net, np.zeros((2, 12, net.input_size), np.int32), note=notes.append)
    assert est.no_input_events and len(notes) == 1 and "no events" in notes[0]
    assert "n/a (no input events)" in est.table() and "x  " not in est.table().split("dense/SNN")[-1]
    body = json.loads(json.dumps(est.to_dict()))
    assert body["no_input_events"] is True and set(body["dense_ratio"].values()) == {None}
    assert Estimate.from_dict(body).no_input_events  # the extra keys read back
    busy, _ = api.estimate(net, random_input(net, 2, 12, rate=0.5, seed=5).astype(np.int32))
    assert not busy.no_input_events and any(r is not None and r > 0 for r in busy.dense_ratios().values())


@pytest.fixture(scope="module")
def netx_file(tmp_path_factory) -> Path:
    from exporters.lava.netx_write import save_netx
    from tests.factories import NetSpec as Spec

    path = tmp_path_factory.mktemp("netx") / "net.h5"
    save_netx(random_network(Spec(sizes=(6, 8, 7, 3), seed=5, netx=True)), path)
    return path


@pytest.mark.parametrize("damage", ["symbol table node", "B-tree", "local heap", "truncated"])
def test_a_damaged_netx_file_is_one_line(netx_file, tmp_path, capsys, damage):
    data = bytearray(netx_file.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # HDF5 finds these only when the group is walked: h5py raised RuntimeError there
        signature = {"symbol table node": b"SNOD", "B-tree": b"TREE", "local heap": b"HEAP"}[damage]
        at = data.index(signature, data.index(signature) + 1)  # a layer group's, past the root's
        data[at : at + 4] = b"XXXX"
    broken = tmp_path / "broken.h5"
    broken.write_bytes(bytes(data))
    code, out, err = run_cli(["inspect", broken], capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("error: ") and str(broken) in err

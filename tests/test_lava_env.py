"""The product on Python 3.11+ with Lava in its own Python 3.10 environment (issue 27): the bridge
(exporters/lava/bridge.py, worker.py), Lava skipped with the way to get it where there is none,
and one network seen from both environments (same network_id, shards that merge)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from delaysnn import sim
from delaysnn.errors import DelaysnnError
from delaysnn.ir import load
from delaysnn.ir.identity import network_id
from exporters.lava import bridge
from tests.conftest import run_cli
from tests.factories import NetSpec, random_input, random_network

MODEL = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"


def test_a_result_crosses_as_a_file_unchanged(tmp_path):
    net = random_network(NetSpec(sizes=(5, 6, 4, 3), seed=3))
    res = sim.simulate(net, random_input(net, batch=2, steps=9, seed=1), record=True)
    res.extra["timing"] = {"first": 0.5}
    bridge.save_result(res, tmp_path / "r.npz")
    back = bridge.load_result(tmp_path / "r.npz")
    assert sum(int(s.sum()) for s in res.spikes) > 0  # something fired, so equality means something
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(res.spikes + res.u + res.v, back.spikes + back.u + back.v))
    assert np.array_equal(res.voltages, back.voltages) and back.alignment == res.alignment
    assert back.extra == {"timing": {"first": 0.5}, "bridge": True} and back.readout_scale == res.readout_scale


@pytest.fixture
def no_lava(monkeypatch, tmp_path):
    """A Python that cannot import Lava and has no Lava environment anywhere."""
    monkeypatch.setattr(bridge, "lava_importable", lambda: False)
    monkeypatch.setattr(bridge, "SOURCE_ROOT", tmp_path / "src")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.delenv(bridge.ENV_VAR, raising=False)


def test_without_a_lava_environment_lava_is_skipped_with_the_way_to_get_it(no_lava, tmp_path, capsys):
    code, out, err = run_cli(["verify", MODEL, "--backends", "sim,lava,onnx", "--samples", "4"], capsys)
    assert code == 3, out + err  # skipped, not a mismatch
    assert "lava: skipped (backend 'lava': Lava is not importable" in out and "make .venv-lava" in out and bridge.ENV_VAR in out
    assert "onnx: identical" in out and "mismatch" not in (out + err).lower() and "Traceback" not in err


def test_a_lava_python_setting_that_runs_nothing_is_one_line(no_lava, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(bridge.ENV_VAR, str(tmp_path / "nowhere" / "python"))
    code, out, _ = run_cli(["verify", MODEL, "--backends", "sim,netx", "--samples", "2"], capsys)
    assert code == 3 and f"netx: skipped (backend 'netx': {bridge.ENV_VAR}={tmp_path / 'nowhere' / 'python'}: no such executable" in out


@pytest.mark.skipif(bridge.lava_importable(), reason="this Python holds Lava: the worker would run it")
def test_a_worker_without_lava_answers_one_line(monkeypatch):
    monkeypatch.setenv(bridge.ENV_VAR, sys.executable)  # this Python: no Lava, so the worker refuses
    net = random_network(NetSpec(sizes=(4, 5, 2), seed=0))
    with pytest.raises(DelaysnnError, match=r"Lava is not importable here; install delaysnn\[lava\]") as err:
        bridge.run_bridged("lava", net, random_input(net, batch=1, steps=5, seed=0))
    assert "\n" not in str(err.value)


def test_demo_refuses_an_unknown_backend_before_training(tmp_path, capsys):
    code, _, err = run_cli(["demo", "--backends", "onnx,tpu", "--out", tmp_path / "d"], capsys)
    assert code != 0 and "unknown backend 'tpu'" in err and not (tmp_path / "d").exists()


# --- one network, two environments ---


def _other(args: list[str], cwd: Path) -> str:
    """Run ``python ARGS`` in the Lava environment on this source tree; its stdout."""
    env = dict(os.environ, PYTHONPATH=str(bridge.SOURCE_ROOT))
    done = subprocess.run([str(bridge.lava_python()), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    return done.stdout


@pytest.mark.lava
@pytest.mark.skipif(sys.version_info[:2] == (3, 10), reason="runs from the product's environment (3.11+) against Lava's 3.10 one")
def test_one_network_from_both_environments(tmp_path, capsys):
    """Quantized on either side, the network has one network_id on both; a shard verified here
    (Lava through the bridge) and a shard verified there (Lava in process) merge."""
    assert run_cli(["quantize", MODEL, "--weight-bits", "8", "-o", tmp_path / "here.dnet"], capsys)[0] == 0
    _other(["-m", "delaysnn", "quantize", str(MODEL), "--weight-bits", "8", "-o", "there.dnet"], tmp_path)
    ids_there = _other(["-c", "import sys; from delaysnn.ir import load; from delaysnn.ir.identity import network_id; "
                        "print(*(network_id(load(p)) for p in sys.argv[1:]))", "here.dnet", "there.dnet"], tmp_path).split()
    ids_here = [network_id(load(tmp_path / p)) for p in ("here.dnet", "there.dnet")]
    assert ids_here == ids_there and len(set(ids_here)) == 1

    verify = ["verify", "--backends", "sim,lava,onnx", "--samples", "8"]
    code, out, err = run_cli([verify[0], tmp_path / "here.dnet", *verify[1:], "--shard", "1/2", "--report", tmp_path / "p1.json"], capsys)
    assert code == 0 and "lava: identical" in out, out + err
    _other(["-m", "delaysnn", verify[0], "there.dnet", *verify[1:], "--shard", "2/2", "--report", "p2.json"], tmp_path)
    code, out, err = run_cli(["verify-merge", tmp_path / "p1.json", tmp_path / "p2.json", "--report", tmp_path / "all.json"], capsys)
    assert code == 0 and "merged 2 reports" in out, out + err
    merged = json.loads((tmp_path / "all.json").read_text())
    assert merged["network"] == ids_here[0] and merged["samples"] == 8 and sum(merged["hidden_spikes"]) > 0
    assert [r["status"] for r in merged["reports"]] == ["identical"] * 3

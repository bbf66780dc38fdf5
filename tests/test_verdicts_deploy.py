"""Issue #23, "one deployed network": quantize, simulate, estimate and verify take the target
export ships for (`--target loihi`), measure that network, name it by its sha256, and a `.dnet`
records the target it was fitted for. Hostile cases: each honoured or refused with one line."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from delaysnn import ir
from delaysnn.app import api
from delaysnn.app.pipeline import QuantizeOptions, load_network
from delaysnn.app.verify import network_id
from delaysnn.ir.identity import arithmetic
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import save_checkpoint
from delaysnn.sim import simulate
from exporters.lava.netx_read import read_netx_network
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE = EXAMPLES / "synthetic.pt"
SPEECH = EXAMPLES / "spoken_digits.pt"
SPEECH_TEST = EXAMPLES / "spoken_digits_test.npz"
LOIHI = QuantizeOptions(target="loihi")


def one_line_error(code: int, err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert code not in (0, None) and len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture(scope="module")
def loihi_dnet(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "m-loihi.dnet"
    api.quantize(EXAMPLE, out, LOIHI)
    return out


def test_quantize_target_loihi_writes_the_network_export_ships(loihi_dnet, tmp_path, capsys):
    shipped = api.export(EXAMPLE, "loihi", tmp_path / "ckpt.h5").net
    saved = ir.load(loihi_dnet)
    assert network_id(saved) == network_id(shipped)
    assert saved.provenance["target"] == "loihi" and saved.provenance["profile"] == "loihi2"  # survives save/load
    plain, _ = load_network(EXAMPLE)
    assert "target" not in plain.provenance and arithmetic(plain) != arithmetic(saved)  # the netx limits change it
    code, out, err = run_cli(["export", loihi_dnet, "--target", "loihi", "-o", tmp_path / "dnet.h5"], capsys)
    assert code == 0, err
    assert (tmp_path / "dnet.h5").read_bytes() == (tmp_path / "ckpt.h5").read_bytes()  # accepted unchanged
    code, out, _ = run_cli(["inspect", loihi_dnet], capsys)
    assert f"network: deployed network for loihi (netx limits, profile loihi2): {network_id(saved)}" in out


@pytest.mark.parametrize("make", [
    ["quantize", EXAMPLE],
    ["quantize", EXAMPLE, "--profile", "loihi2"],
    ["export", EXAMPLE, "--target", "ir"],
], ids=["quantize", "quantize-profile-loihi2", "export-ir"])
def test_export_loihi_of_a_plain_dnet_names_the_fix(make, tmp_path, capsys):
    dnet, h5 = tmp_path / "m.dnet", tmp_path / "m.h5"
    code, _, err = run_cli([*make, "-o", dnet], capsys)
    assert code == 0, err
    code, out, err = run_cli(["export", dnet, "--target", "loihi", "-o", h5], capsys)
    one_line_error(code, err, str(dnet), "mixed-sign weights", "delaysnn quantize synthetic.pt --target loihi")
    assert not h5.exists()


@pytest.mark.slow
def test_simulate_estimate_verify_measure_and_name_the_deployed_network(loihi_dnet, tmp_path, capsys):
    sha = network_id(ir.load(loihi_dnet))
    code, out, err = run_cli(["simulate", EXAMPLE, "--target", "loihi", "--samples", "16", "--json"], capsys)
    assert code == 0, err
    net = json.loads(out)["network"]
    assert net["sha256"] == sha and net["target"] == "loihi" and net["differs_from_plain"] is True
    code, out, err = run_cli(["simulate", EXAMPLE, "--samples", "16"], capsys)
    plain_line = next(line for line in out.splitlines() if line.startswith("network:"))
    assert "plain 8-bit quantization: sha256:" in plain_line and sha not in plain_line
    code, out, err = run_cli(["estimate", EXAMPLE, "--target", "loihi", "--samples", "8"], capsys)
    assert code == 0, err
    assert f"network: deployed network for loihi (netx limits, profile loihi2): {sha}; differs from the plain 8-bit" in out
    code, out, err = run_cli(["estimate", EXAMPLE, "--target", "loihi", "--samples", "8", "--json"], capsys)
    assert json.loads(out)["network"]["sha256"] == sha
    report = tmp_path / "v.json"
    code, out, err = run_cli(["verify", EXAMPLE, "--target", "loihi", "--backends", "sim,onnx", "--samples", "2",
                              "--report", report], capsys)
    assert code == 0, err
    written = json.loads(report.read_text())
    assert written["network"] == sha and "network: deployed network for loihi" in err
    assert (written["deployment"]["target"], written["deployment"]["differs_from_plain"]) == ("loihi", True)  # the report says so too
    # the file quantize wrote, opened as is, is the same network, and says what it was fitted for
    code, out, err = run_cli(["simulate", loihi_dnet, "--task", "synthetic", "--samples", "8", "--json"], capsys)
    net = json.loads(out)["network"]
    assert (net["sha256"], net["target"], net["differs_from_plain"]) == (sha, "loihi", None)  # no checkpoint to compare with


@pytest.mark.slow
@pytest.mark.lava
def test_verify_checks_one_network_whatever_the_backends(loihi_dnet, tmp_path, capsys):
    def verified(backends: str, *extra: str) -> dict:
        report = tmp_path / f"{backends}.json"
        code, _, err = run_cli(["verify", EXAMPLE, "--backends", backends, "--samples", "2", "--report", report, *extra], capsys)
        return json.loads(report.read_text())

    # a checkpoint is verified as deployed (its netx file is what lava/netx load), whatever the list
    deployed = network_id(ir.load(loihi_dnet))
    assert verified("sim,onnx")["network"] == verified("sim,netx")["network"] == deployed
    # --target plain: the plain quantization everywhere; netx cannot hold it: skipped, saying how to fit it
    plain = [verified(b, "--target", "plain") for b in ("sim,onnx", "sim,netx")]
    assert plain[0]["network"] == plain[1]["network"] == network_id(load_network(EXAMPLE)[0]) != deployed
    netx = next(r for r in plain[1]["reports"] if r["backend"] == "netx")
    assert netx["skipped"] and "--target loihi" in netx["skipped"]


def test_an_ir_file_without_a_target_still_loads_and_is_refused_for_one(tmp_path, capsys):
    net, _ = load_network(EXAMPLE)
    old = tmp_path / "old.dnet"
    ir.save(replace(net, provenance={k: v for k, v in net.provenance.items() if k != "target"}), old)  # as older files
    assert ir.load(old).provenance.get("target") is None
    code, out, err = run_cli(["simulate", old, "--task", "synthetic", "--samples", "4"], capsys)
    assert code == 0 and "network: plain 8-bit quantization" in out, err
    code, out, err = run_cli(["simulate", old, "--task", "synthetic", "--target", "loihi"], capsys)
    one_line_error(code, err, str(old), "not for --target loihi", "delaysnn quantize synthetic.pt --target loihi")


@pytest.fixture
def unranged_checkpoint(tmp_path, tiny_model):
    """A checkpoint that records no input range, as an imported SNN-delays one."""
    path = tmp_path / "imported.pt"
    save_checkpoint(tiny_model, path, {"converted_from": "snn-delays"})
    return path


@pytest.mark.parametrize("command", [["quantize", "-o", "x.dnet"], ["export", "--target", "loihi", "-o", "x.h5"]])
def test_loihi_refuses_to_guess_the_input_width(command, unranged_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = [command[0], unranged_checkpoint, *command[1:]] + (["--target", "loihi"] if command[0] == "quantize" else [])
    code, _, err = run_cli(args, capsys)
    one_line_error(code, err, str(unranged_checkpoint), "no input range", "--input-bits N", "--data DIR")
    assert not list(tmp_path.glob("x.*"))
    code, _, err = run_cli([*args, "--input-bits", "3"], capsys)
    assert code == 0, err
    # the plain quantization, and commands that only measure, keep the 1-bit guess, said in a note
    code, _, err = run_cli(["quantize", unranged_checkpoint, "-o", "plain.dnet"], capsys)
    assert code == 0 and "note: 1-bit input" in err
    code, _, err = run_cli(["simulate", unranged_checkpoint, "--target", "loihi", "--samples", "2"], capsys)
    assert code == 0 and "note: 1-bit input" in err


def test_clip_delays_without_a_limit_is_refused(capsys):
    code, _, err = run_cli(["simulate", EXAMPLE, "--clip-delays", "--samples", "2"], capsys)
    one_line_error(code, err, "--clip-delays", "--target loihi")
    code, _, err = run_cli(["simulate", EXAMPLE, "--clip-delays", "--target", "loihi", "--samples", "2"], capsys)
    assert code == 0, err


@pytest.mark.slow
@pytest.mark.lava
def test_verify_honours_the_profile(tmp_path, capsys):
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=6, hidden_layers=1, max_delay=65)).eval()
    model.set_delays(63)  # Lava runs 63 steps; the loihi2 profile stops at 62
    model.set_sigma(0.0)
    ckpt = tmp_path / "long.pt"
    save_checkpoint(model, ckpt, {"input_max_count": 1})
    report = tmp_path / "r.json"

    def lava(*extra: str) -> dict:
        run_cli(["verify", ckpt, "--backends", "sim,lava", "--samples", "2", "--report", report, *extra], capsys)
        return next(r for r in json.loads(report.read_text())["reports"] if r["backend"] == "lava")

    assert "62" in (lava("--target", "plain")["skipped"] or "")  # Lava's check: loihi2 by default
    for extra in (["--target", "plain"], []):  # the plain quantization, and the deployed one fitted within that profile
        honoured = lava("--profile", "unconstrained", *extra)
        assert honoured["skipped"] is None and sum(honoured["spike_mismatches"]) + honoured["voltage_mismatches"] == 0


def _netx_file_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, list[int]]:
    net = read_netx_network(path)
    result = simulate(net, x)
    return float((result.predict(net.readout_scale) == y).mean()), [int(s.sum()) for s in result.spikes]


@pytest.mark.slow
@pytest.mark.lava
def test_simulate_target_loihi_accuracy_is_the_exported_files(tmp_path):
    """The target: `simulate --target loihi` prints the integer accuracy of the file `export
    --target loihi` writes (read back from the netx HDF5 alone, run by delaysnn.sim), on the whole
    spoken-digits test split (600 utterances, binned as `make dataset` makes them: the committed
    examples/spoken_digits_test.npz, whose first 64 are spoken_digits_test64.npz)."""
    with np.load(SPEECH_TEST, allow_pickle=False) as data:
        x, y = data["x"].astype(np.int32), data["y"]
    assert x.shape[0] == 600
    simulated = api.simulate(SPEECH, x, LOIHI, labels=y)
    exported = api.export(SPEECH, "loihi", tmp_path / "speech.h5")
    accuracy, spikes = _netx_file_accuracy(exported.path, x, y)
    assert simulated.accuracy == accuracy and simulated.network.sha256 == network_id(exported.net)
    assert all(s > 0 for s in spikes)  # every hidden layer fired: a comparison of real activity
    assert accuracy > 0.5  # 20 classes: chance is 5 %



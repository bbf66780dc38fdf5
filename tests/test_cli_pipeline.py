"""quantize / export / verify / simulate / estimate as a user types them, good input and bad."""

import json
from pathlib import Path

import pytest
import torch

from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import save_checkpoint
from tests.conftest import run_cli as run

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt")




def one_line_error(code, err):
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("target, suffix", [("loihi", ".h5"), ("nir", ".nir"), ("onnx", ".onnx"), ("ir", ".dnet")])
def test_export_each_target_then_inspect(target, suffix, tmp_path, capsys):
    out = tmp_path / f"m{suffix}"
    code, stdout, err = run(["export", EXAMPLE, "--target", target, "-o", str(out)], capsys)
    assert code == 0, err
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == [out.name]
    code, stdout, err = run(["inspect", str(out)], capsys)
    assert code == 0, err


def test_export_float_nir_and_onnx(tmp_path, capsys):
    for target in ("nir", "onnx"):
        code, _, err = run(["export", EXAMPLE, "--target", target, "--float", "-o", str(tmp_path / f"f.{target}")], capsys)
        assert code == 0, err
    code, _, err = run(["export", EXAMPLE, "--target", "loihi", "--float", "-o", str(tmp_path / "f.h5")], capsys)
    one_line_error(code, err)


def test_export_refuses_a_network_beyond_loihi_delays(tmp_path, capsys):
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=6, hidden_layers=1, max_delay=101)).eval()
    model.round_positions()
    ckpt = tmp_path / "long.pt"
    save_checkpoint(model, ckpt, {"input_max_count": 1})  # a range recorded: loihi refuses to guess one
    out = tmp_path / "long.h5"
    code, _, err = run(["export", str(ckpt), "--target", "loihi", "-o", str(out)], capsys)
    one_line_error(code, err)
    assert "delay" in err and "62" in err and "--clip-delays" in err and not out.exists()
    code, _, err = run(["export", str(ckpt), "--target", "loihi", "--clip-delays", "-o", str(out)], capsys)
    assert code == 0, err
    assert out.exists()


@pytest.mark.parametrize(
    "args, code_expected",
    [
        (["export", EXAMPLE, "--target", "tpu"], 2),
        (["export", EXAMPLE], 2),
        (["export", EXAMPLE, "--target", "onnx", "--weight-bits", "9"], 2),
        (["export", "missing.pt", "--target", "onnx"], 1),
        (["export", EXAMPLE, "--target", "onnx", "-o", "nodir/m.onnx"], 1),
        (["verify", EXAMPLE, "--backends", "sim,tpu"], 2),
        (["quantize", EXAMPLE, "-o", "nodir/m.dnet"], 1),
        (["estimate", EXAMPLE, "--profile", "no_such_profile"], 1),
        (["simulate", EXAMPLE, "--task", "shd"], 1),
        (["simulate", EXAMPLE, "--data", "nowhere"], 1),
    ],
)
def test_bad_input(args, code_expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(args, capsys)
    assert code == code_expected, err
    if code == 1:
        one_line_error(code, err)
    assert list(tmp_path.iterdir()) == []


def test_quantize_report_and_ir_file(tmp_path, capsys):
    out = tmp_path / "m.dnet"
    code, stdout, err = run(["quantize", EXAMPLE, "-o", str(out), "--weight-bits", "4"], capsys)
    assert code == 0 and out.exists() and "weight_exp" in stdout, err
    code, _, err = run(["quantize", str(out), "-o", str(tmp_path / "again.dnet")], capsys)
    one_line_error(code, err)


@pytest.mark.slow
def test_verify_simulate_estimate(tmp_path, capsys):
    code, stdout, err = run(["verify", EXAMPLE, "--backends", "sim,onnx,nir", "--samples", "8"], capsys)
    assert code == 0 and "all 3 backends identical" in stdout, err
    code, stdout, err = run(["simulate", EXAMPLE, "--samples", "128", "--json"], capsys)
    assert code == 0, err
    info = json.loads(stdout)
    assert info["accuracy"] > 0.9 and len(info["firing_rates"]) == 2
    png = tmp_path / "e.png"
    code, stdout, err = run(["estimate", EXAMPLE, "--json", "--plot", str(png)], capsys)
    assert code == 0, err
    est = json.loads(stdout)
    assert est["totals"]["synaptic_ops"] > 0 and png.read_bytes()[:4] == b"\x89PNG"

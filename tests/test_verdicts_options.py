"""Issue 23, "every option honoured or refused" and "non-finite numbers": each option either acts or
is refused with one line naming it (a usage error, exit 2, where options clash), never dropped."""

import json
import os
import signal
import subprocess
import sys

import click
import numpy as np
import pytest
import torch

from delaysnn.app import api
from delaysnn.app.pipeline import QuantizeOptions
from delaysnn.cli import cli
from delaysnn.cli.common import CommaList, Finite
from delaysnn.errors import DelaysnnError, OptionError
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import load_checkpoint_and_metadata, save_checkpoint
from delaysnn.processes import usable_cores
from delaysnn.training.runs import run_lock
from tests.conftest import run_cli

TINY = ["--task", "synthetic", "--samples", "64", "--epochs", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """base.pt: trained on the synthetic task (delays learned); m.pt / m.dnet: a small random network."""
    d = tmp_path_factory.mktemp("options")
    api.train_model(api.TrainRequest(output=str(d / "base.pt"), hidden=8, layers=1, epochs=1, samples=64))
    torch.manual_seed(0)
    save_checkpoint(DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=7)).eval(), d / "m.pt")
    api.quantize(d / "m.pt", d / "m.dnet", QuantizeOptions(input_bits=1))
    return d


def refused(args, capsys, needle, code=2):
    """Run the CLI; assert the exit code and that the last stderr line (the message) holds ``needle``."""
    got, _, err = run_cli(args, capsys)
    assert got == code, err
    line = err.strip().splitlines()[-1]
    assert needle in line, err
    return line


def delays(path):
    net, _ = api.load_network(path, QuantizeOptions(input_bits=1))
    return np.concatenate([layer.delay.ravel() for layer in net.layers])


# --- 1. --init: --no-delays applied, the sizes refused ------------------------------------------


def test_init_with_no_delays_fixes_every_delay_at_zero(files, tmp_path, capsys):
    assert delays(files / "base.pt").any()  # the baseline must differ from what --init holds
    code, _, err = run_cli(["train", *TINY, "--init", files / "base.pt", "--no-delays", "-o", tmp_path / "nd.pt"], capsys)
    assert code == 0, err
    assert "every delay of" in err and "set to 0" in err
    assert not delays(tmp_path / "nd.pt").any()


@pytest.mark.parametrize("option", [["--hidden", "16"], ["--layers", "2"], ["--max-delay", "9"]])
def test_init_refuses_the_sizes(option, files, tmp_path, capsys):
    line = refused(["train", *TINY, "--init", files / "base.pt", *option, "-o", tmp_path / "o.pt"], capsys,
                   f"{option[0]} with --init")
    assert "the sizes come from the checkpoint" in line
    assert list(tmp_path.iterdir()) == []


# --- 2. --no-delays against what acts on delays -----------------------------------------------


@pytest.mark.parametrize("option, needle", [
    (["--delay-bits", "3"], "--no-delays fixes every delay at 0, so --delay-bits"),
    (["--delay-bits", "3", "--delay-grid", "cap"], "--delay-bits, --delay-grid would act on nothing"),
    (["--lr-pos", "0.1"], "so --lr-pos would act on nothing"),
    (["--learn-delays"], "--learn-delays is for fine-tuning"),
])
def test_no_delays_contradictions_are_usage_errors(option, needle, tmp_path, capsys):
    refused(["train", *TINY, "--no-delays", *option, "-o", tmp_path / "o.pt"], capsys, needle)
    assert list(tmp_path.iterdir()) == []


# --- 3. two weight grids --------------------------------------------------------------------------

COMMANDS = {
    "quantize": lambda m, o: ["quantize", m, "-o", o / "q.dnet"],
    "simulate": lambda m, o: ["simulate", m, "--samples", "2"],
    "estimate": lambda m, o: ["estimate", m, "--samples", "2"],
    "verify": lambda m, o: ["verify", m, "--backends", "sim", "--samples", "2"],
    "export": lambda m, o: ["export", m, "--target", "onnx", "-o", o / "x.onnx"],
}


@pytest.mark.parametrize("grid", ["--binary", "--ternary"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bit_width_with_binary_or_ternary_is_a_usage_error(command, grid, files, tmp_path, capsys):
    refused([*COMMANDS[command](files / "m.pt", tmp_path), grid, "--weight-bits", "4"], capsys,
            f"--weight-bits 4 and {grid} are two weight grids: pick one")
    assert list(tmp_path.iterdir()) == []


# --- 4. quantize options on an integer network, and with --float -------------------------------

ON_DNET = [["--weight-bits", "4"], ["--binary"], ["--ternary"], ["--input-bits", "2"], ["--delay-bits", "3"],
           ["--delay-bits", "3", "--delay-grid", "cap"], ["--prune", "0.5"], ["--clip-delays"], ["--profile", "loihi2"]]


# estimate's --profile is an energy profile; export and verify check a .dnet against --profile (below)
@pytest.mark.parametrize("command, option", [(c, o) for c in ("simulate", "estimate", "verify", "export") for o in ON_DNET
                                             if o[0] != "--profile" or c == "simulate"], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_quantize_options_on_a_dnet_are_usage_errors(command, option, files, tmp_path, capsys):
    line = refused([*COMMANDS[command](files / "m.dnet", tmp_path), *option], capsys, f"{option[0]}")
    flags = ", ".join(o for o in option if o.startswith("--"))
    assert f"{flags} appl" in line and "m.dnet is already quantized: quantize the checkpoint again" in line
    assert list(tmp_path.iterdir()) == []


def test_export_and_verify_check_a_dnet_against_profile(files, tmp_path, capsys):
    code, _, err = run_cli(["export", files / "m.dnet", "--target", "onnx", "--profile", "loihi2", "-o", tmp_path / "x.onnx"], capsys)
    assert code == 0, err  # --profile is a check here, not dropped: a 1-bit-input 8-bit network passes it
    code, _, err = run_cli(["verify", files / "m.dnet", "--backends", "sim", "--samples", "2", "--profile", "loihi2"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["export", files / "m.dnet", "--target", "onnx", "--profile", "no-such-profile", "-o", tmp_path / "y.onnx"], capsys)
    assert code == 1 and "no-such-profile" in err


@pytest.mark.parametrize("option", [["--weight-bits", "4"], ["--binary"], ["--prune", "0.5"], ["--profile", "loihi2"]])
def test_export_float_refuses_quantize_options(option, files, tmp_path, capsys):
    refused(["export", files / "m.pt", "--target", "onnx", "--float", *option, "-o", tmp_path / "f.onnx"], capsys,
            f"{option[0]} with --float: the float model is exported unquantized")
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_refuses_too(files, tmp_path):
    with pytest.raises(OptionError, match="--weight-bits applies to a checkpoint"):
        api.simulate(files / "m.dnet", None, QuantizeOptions(weight_bits=4), samples=2)
    net, _ = api.load_network(files / "m.dnet")
    with pytest.raises(OptionError, match="--binary applies to a checkpoint .* the network is already quantized"):
        api.estimate(net, np.zeros((1, 5, 6), np.int32), options=QuantizeOptions(binary=True))
    with pytest.raises(OptionError, match="two weight grids"):
        api.export(files / "m.pt", "onnx", tmp_path / "x.onnx", QuantizeOptions(weight_bits=2, ternary=True))
    assert list(tmp_path.iterdir()) == []


# --- 5. non-finite numbers ----------------------------------------------------------------------

NON_FINITE = [
    ["train", "--lr", "nan"], ["train", "--dropout", "nan"], ["train", "--distill-weight", "nan"],
    ["train", "--distill-temperature", "inf"], ["train", "--val-fraction", "nan"], ["train", "--lr-pos", "inf"],
    ["search-deployment", "m.pt", "--budget-kb", "nan"], ["search-deployment", "m.pt", "--prune", "0,nan"],
    ["search-deployment", "m.pt", "--val-fraction", "inf"],
    ["convert", "--from", "snn-delays", "x.pt", "--tau-ms", "inf"], ["convert", "--from", "snn-delays", "x.pt", "--threshold", "nan"],
    ["convert", "--from", "snn-delays", "x.pt", "--time-step-ms", "-inf"],
    ["quantize", "m.pt", "--prune", "nan"], ["export", "m.pt", "--target", "nir", "--dt", "inf"],
    ["encode-audio", "a.wav", "--spontaneous-rate", "inf"],
]


@pytest.mark.parametrize("args", NON_FINITE, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_nan_and_infinity_are_refused_with_the_option(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    option = next(a for a in args if a.startswith("--") and a not in ("--from", "--target"))
    value = args[args.index(option) + 1].split(",")[-1]  # a list names its bad item
    refused([*args, "-o", "out.x"], capsys, f"Invalid value for '{option}': '{value}' is not a finite number")
    assert list(tmp_path.iterdir()) == []


def test_every_float_option_takes_the_finite_type():
    """One place: every float option of every command, and every float list's items, is ``Finite``."""
    floats = []
    for name, command in cli.commands.items():
        for param in command.params:
            kind = param.type.item if isinstance(param.type, CommaList) else param.type
            if isinstance(kind, click.types.FloatParamType):
                floats.append(f"{name} {param.opts[0]}")
                assert isinstance(kind, Finite), f"{name} {param.opts[0]} takes {kind!r}, not Finite"
    assert len(floats) >= 15 and "convert --tau-ms" in floats


def test_a_diverged_run_stops_with_one_line_and_its_log_plots(files, tmp_path, capsys):
    model, meta = load_checkpoint_and_metadata(files / "base.pt")
    with torch.no_grad():  # every hidden neuron fires, and each spike adds 3e38 to the readout: inf - inf = NaN
        model.hidden[0].bn.bias.fill_(10.0)
        model.readout.weight.fill_(3e38)
    save_checkpoint(model, tmp_path / "huge.pt", meta)
    refused(["train", *TINY, "--init", tmp_path / "huge.pt", "-o", tmp_path / "d.pt"], capsys,
            "training diverged at epoch 1 (loss nan); lower --lr (it was 0.001)", code=1)
    assert not (tmp_path / "d.pt").exists() and not (tmp_path / "d.jsonl").exists()


@pytest.mark.slow
def test_the_metrics_log_is_json_and_plot_training_reads_it(tmp_path, capsys):
    from delaysnn.training.runs import write_metrics

    log = tmp_path / "m.jsonl"
    write_metrics(log, [{"epoch": 1, "loss": 1.0, "train_acc": float("nan"), "spike_rates": [0.1, float("inf")], "sigma": 1.0, "lr": 1e-3}])

    def bare(constant):
        raise AssertionError(f"bare {constant} in the log")

    row = json.loads(log.read_text(), parse_constant=bare)
    assert row["train_acc"] is None and row["spike_rates"] == [0.1, None]
    code, out, err = run_cli(["plot-training", log, "-o", tmp_path / "c.png"], capsys)
    assert code == 0 and (tmp_path / "c.png").stat().st_size > 0, err


# --- 6. list options: a duplicate is refused ----------------------------------------------------


@pytest.mark.parametrize("args, option, item", [
    (["verify", "m.dnet", "--backends", "sim,sim,sim"], "--backends", "sim"),
    (["search-deployment", "m.pt", "--prune", "0.5,0.50", "-o", "f.md"], "--prune", "0.50"),
    (["search-deployment", "m.pt", "--weight-bits", "4,8,4", "-o", "f.md"], "--weight-bits", "4"),
    (["search-deployment", "m.pt", "--delay-bits", "full,FULL", "-o", "f.md"], "--delay-bits", "FULL"),
    (["make-dataset", "spoken-digits", "--variants", "m1,m1", "-o", "d"], "--variants", "m1"),
])
def test_duplicate_list_items_are_usage_errors(args, option, item, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(args, capsys, f"Invalid value for '{option}': '{item}' is given twice")
    assert list(tmp_path.iterdir()) == []


# --- 7. --workers capped at the cores -----------------------------------------------------------


def test_workers_are_capped_at_the_cores(files, capsys):
    code, out, err = run_cli(["verify", files / "m.dnet", "--backends", "sim", "--samples", "2", "--workers", "1000"], capsys)
    assert code == 0, err
    assert f"note: --workers 1000 capped at {usable_cores()}, the cores this process may use" in err
    for name in ("verify", "make-dataset"):
        param = next(p for p in cli.commands[name].params if p.name == "workers")
        assert param.type.convert("1000", param, None) == usable_cores()
    capsys.readouterr()


# --- 8. one run at a time on an output ----------------------------------------------------------


def test_a_second_run_on_the_same_output_is_refused(tmp_path, capsys):
    out = tmp_path / "o.pt"
    with run_lock(tmp_path / "o.pt.state") as lock:
        line = refused(["train", *TINY, "--hidden", "8", "--resume", "-o", out], capsys, "another run", code=1)
        assert line == f"error: {lock}: another run (pid {os.getpid()}) is writing this output and its states; wait for it to end, or choose another -o"
    assert not out.exists() and not out.with_suffix(".jsonl").exists()


@pytest.mark.slow
def test_the_lock_goes_with_its_process_even_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from delaysnn.training.runs import run_lock\n"
         f"with run_lock({str(tmp_path / 's')!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DelaysnnError, match=f"pid {holder.pid}"), run_lock(tmp_path / "s"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path / "s") as lock:  # kill -9 left the file, not the lock
        assert lock.read_text().strip() == str(os.getpid())


# --- 9. delay bits Loihi 2 cannot take are refused before training --------------------------------


def test_delay_bits_beyond_loihi2_are_refused_before_training(tmp_path, capsys):
    from hardware import load_profile

    bits = load_profile("loihi2").limits.delay_bits.value
    line = refused(["train", *TINY, "--qat", "ternary", "--delay-bits", str(bits + 3), "-o", tmp_path / "o.pt"], capsys,
                   f"--delay-bits {bits + 3}: Loihi 2 delays take at most {bits} bits")
    assert f"pass --delay-bits {bits} or less" in line
    assert list(tmp_path.iterdir()) == []

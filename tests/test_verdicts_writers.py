"""Issue 23, item 5 and "Smaller": writers refuse what the readers refuse, at write time and with the
readers' own limits; plots follow their suffix; export outputs match their target; library warnings
and a failing stdout are one line; the demo's exit status is its verdict; advice covers the whole split.
Real WAV files, real HDF5, real subprocesses; each refusal is one line, exit 1, no output left."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import click
import numpy as np
import pytest
from scipy.io import wavfile

from delaysnn import ir
from delaysnn.data.heidelberg import load_heidelberg
from delaysnn.data.heidelberg_files import _TASKS
from delaysnn.data.shd_file import write_shd
from delaysnn.errors import DataError
from delaysnn.limits import MAX_EVENT_SECONDS
from tests.conftest import run_cli
from tests.factories import shd_like_network
from tests.test_bounds import refused

RATE = 16000  # the cochlea's lowest sample rate
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"


def noise_wav(path: Path, seconds: float, seed: int = 0) -> Path:
    wave = np.random.default_rng(seed).normal(0, 3000, int(seconds * RATE)).astype(np.int16)
    wavfile.write(path, RATE, wave)
    return path


@pytest.fixture
def dnet(tmp_path) -> Path:
    path = tmp_path / "m.dnet"
    ir.save(shd_like_network(sizes=(140, 8, 4)), path)
    return path


# --- 1. a recording longer than the loader's limit -------------------------------------------


def test_encode_audio_refuses_a_recording_past_the_loaders_limit(tmp_path, capsys):
    long = noise_wav(tmp_path / "long.wav", MAX_EVENT_SECONDS + 1)
    out = tmp_path / "shd_train.h5"
    refused(["encode-audio", long, "-o", out], capsys, "long.wav", f"{MAX_EVENT_SECONDS:g} s", "MAX_EVENT_SECONDS", output=out)
    # the writer's own guard uses the same limit: a spike at the limit is written and read back, one after it refused
    write_shd(out, [np.array([0.1, MAX_EVENT_SECONDS])], [np.array([3, 4])], np.array([1]))
    assert load_heidelberg(tmp_path, "shd", "train", progress=False).steps > MAX_EVENT_SECONDS * 100
    late = tmp_path / "late.h5"
    with pytest.raises(DataError, match="sample 0 has a spike at 60.5 s.*MAX_EVENT_SECONDS"):
        write_shd(late, [np.array([0.1, MAX_EVENT_SECONDS + 0.5])], [np.array([3, 4])], np.array([1]))
    assert not late.exists()


# --- 2. labels outside the classes the loader reads ------------------------------------------


def test_encode_audio_refuses_labels_the_loader_refuses(tmp_path, capsys):
    wav = noise_wav(tmp_path / "a.wav", 0.3)
    shd_classes, ssc_classes = _TASKS["shd"][0], _TASKS["ssc"][0]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"file,label\na.wav,{shd_classes}\n")
    out = tmp_path / "shd_train.h5"
    refused(["encode-audio", wav, "--labels", labels, "-o", out], capsys,
            "labels.csv: line 2", f"0..{shd_classes - 1}", "--task shd", output=out)
    # an ssc_* file is read with SSC's 35 classes: the same label is written, and read back
    ssc = tmp_path / "ssc_train.h5"
    assert run_cli(["encode-audio", wav, "--labels", labels, "-o", ssc], capsys)[0] == 0
    assert load_heidelberg(tmp_path, "ssc", "train", progress=False).y.tolist() == [shd_classes]
    with pytest.raises(DataError, match=f"label {ssc_classes} of sample 0 is outside 0..{ssc_classes - 1}"):
        write_shd(tmp_path / "ssc_test.h5", [np.array([0.1])], [np.array([1])], np.array([ssc_classes]))


# --- 3. a truncated WAV ------------------------------------------------------------------------


def test_encode_audio_refuses_a_truncated_wav(tmp_path, capsys):
    whole = noise_wav(tmp_path / "whole.wav", 1.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + 960])  # 30 ms of the declared second
    out = tmp_path / "o.h5"
    refused(["encode-audio", cut, "-o", out], capsys, "cut.wav", "truncated WAV", "32000 bytes", "960", output=out)
    assert run_cli(["encode-audio", whole, "-o", out], capsys)[0] == 0  # the whole file encodes


# --- 4. plots follow their suffix ----------------------------------------------------------------


@pytest.mark.slow
def test_plot_format_follows_the_suffix_or_is_refused(dnet, tmp_path, capsys):
    heads = {"r.pdf": b"%PDF", "r.svg": b"<?xml", "r.PNG": b"\x89PNG"}
    for name, head in heads.items():
        code, _, err = run_cli(["simulate", dnet, "--samples", "2", "--plot", tmp_path / name], capsys)
        assert code == 0, err
        assert (tmp_path / name).read_bytes().startswith(head), name
    for args, name in ((["simulate", dnet, "--samples", "2", "--plot"], "r.jpg"), (["estimate", dnet, "--samples", "2", "--plot"], "e"),
                       (["plot-training", tmp_path / "none.jsonl", "-o"], "c.gif")):  # refused before the work
        refused([*args, tmp_path / name], capsys, name, ".png, .pdf, .svg", output=tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.dnet", *heads])


# --- 5. export outputs match the target ------------------------------------------------------------


def test_export_output_suffix_and_directories(dnet, tmp_path, capsys):
    wrong = tmp_path / "m.onnx"
    refused(["export", dnet, "--target", "nir", "-o", wrong], capsys, "m.onnx", "--target nir writes .nir", "m.nir", output=wrong)
    into = tmp_path / "into"
    into.mkdir()
    for out in (into, f"{into}/"):  # a directory, with or without the slash: the default name inside
        code, stdout, err = run_cli(["export", dnet, "--target", "onnx", "-o", out], capsys)
        assert code == 0 and (into / "m.onnx").is_file() and f"wrote {into / 'm.onnx'}" in stdout, err
    missing = tmp_path / "newdir"
    refused(["export", dnet, "--target", "onnx", "-o", f"{missing}/"], capsys, "newdir", "does not exist")
    refused(["quantize", EXAMPLE, "-o", f"{missing}/"], capsys, "newdir/", "names a directory")
    assert not missing.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["into", "m.dnet"]


# --- 6. library warnings are one-line notes -------------------------------------------------------


def test_library_warnings_become_one_line_notes(capsys):
    from delaysnn.cli import cli

    @cli.command("probe-warning")
    def probe() -> None:
        np.mean(np.array([]))  # numpy's own RuntimeWarning, raised inside site-packages
        click.echo("done")

    try:
        code, out, err = run_cli(["probe-warning"], capsys)
    finally:
        cli.commands.pop("probe-warning")
    assert code == 0 and out == "done\n"
    lines = err.splitlines()
    assert lines[0].rstrip(".") == "note: numpy: Mean of empty slice" and all(line.startswith("note: numpy: ") for line in lines), err
    assert "site-packages" not in err and ".py" not in err


# --- 7. a full or closed stdout --------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_or_closed_stdout_is_one_line(dnet):
    cmd = [sys.executable, "-c", "from delaysnn.cli import main; main()", "inspect", str(dnet)]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == "error: cannot write to standard output (No space left on device); what was printed there is incomplete\n"
    read, write = os.pipe()
    os.close(read)  # `| head` that has already gone
    try:
        proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""  # quiet, as other tools end on a closed pipe


# --- 8. the demo's exit status is its verdict -----------------------------------------------------


def test_demo_delay_bar_is_judged_only_after_full_training():
    from delaysnn.app.demo import DemoSummary, judge_delay_benefit, synthetic_workload

    work = synthetic_workload(epochs=1, samples=64)
    short = DemoSummary()
    judge_delay_benefit(work, -1.4, short)  # what `demo --epochs 1` measured
    assert short.ok and short.rows[0][2].startswith("not judged: 1 epoch(s) trained")
    full = DemoSummary()
    judge_delay_benefit(replace(work, epochs=work.gain_epochs), -1.4, full)
    assert not full.ok and "by -1.4 points on synthetic" in full.failures[0]


@pytest.mark.slow
def test_demo_exit_status_is_the_verdict(tmp_path, capsys, monkeypatch):
    """A tiny demo, judged against an unreachable bar: the whole table is printed, then one line, exit 1."""
    from delaysnn.app import demo

    real = demo.synthetic_workload

    def tiny(epochs, samples, seed):
        work = real(1, 64, seed)
        return replace(work, config=replace(work.config, hidden_size=8), qat_epochs=1, gain_epochs=1, min_delay_gain=1000.0)

    monkeypatch.setattr(demo, "synthetic_workload", tiny)
    monkeypatch.setattr(demo, "run_demo", partial(demo.run_demo, verify_samples=1))
    code, out, err = run_cli(["demo", "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: demo: learned delays beat delays fixed at 0 by ")
    assert ">= 1000 points expected" in err and "disagrees" not in err
    rows = [line for line in out.splitlines() if line.startswith("verify ")]
    assert rows and all(" identical " in row or " skipped " in row for row in rows), out
    assert "estimate" in out and (tmp_path / "out" / "model-8-bit.h5").is_file()  # the pipeline ran to the end


# --- 9. counts above the input width saturate, as on the chip, and are counted (#26) -------------------


def test_counts_above_the_input_width_saturate_and_are_counted(dnet, tmp_path, capsys):
    """Counts of 9 in the first samples, 20 later, into a 3-bit input (0..7): simulate, estimate
    and verify run (they refused before #26) and report the values saturated at 7."""
    import json

    data = tmp_path / "digits"
    data.mkdir()
    counts = [9, 9, 20, 1]
    times = [np.full(c, 0.105) for c in counts]  # all in one 10 ms bin
    units = [np.arange(c, dtype=np.uint16) % 5 for c in counts]  # cochlea channels 0..4: input 0
    for split in ("train", "test"):
        write_shd(data / f"shd_{split}.h5", times, units, np.arange(len(counts)))
    code, out, err = run_cli(["simulate", dnet, "--data", data, "--samples", "2"], capsys)
    assert code == 0, err
    assert "2 input value(s) in 2 sample(s) above the 3-bit input's 7 (up to 9) saturated at 7" in out
    code, out, err = run_cli(["simulate", dnet, "--data", data, "--json"], capsys)
    assert code == 0, err
    sat = json.loads(out)["saturated_inputs"]
    assert (sat["values"], sat["samples"], sat["largest"], sat["ceiling"]) == (3, 3, 20, 7)
    code, out, err = run_cli(["estimate", dnet, "--data", data, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["input"]["saturated"]["values"] == 3
    code, out, err = run_cli(["verify", dnet, "--data", data, "--backends", "sim"], capsys)
    assert code == 0, err
    assert "3 input value(s) in 3 sample(s)" in out + err

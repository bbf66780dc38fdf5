"""A converted SNN-delays checkpoint records no input range: convert, quantize, export and
simulate take the graded input's width from the data, and say so (no extra flags needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("DCLS")

from delaysnn import ir  # noqa: E402
from delaysnn.data.shd_file import write_shd  # noqa: E402
from delaysnn.model.checkpoint import load_checkpoint_and_metadata  # noqa: E402
from tests.conftest import run_cli as run  # noqa: E402
from tests.snn_delays_reference import Reference  # noqa: E402


def _split(n: int, seed: int):
    """Speech-shaped samples: 5 cochlea channels per input, so 10 ms bins hold counts up to 5."""
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(200, 400))
        times.append(np.sort(rng.uniform(0, 0.3, k)))
        units.append(rng.integers(0, 700, k).astype(np.uint16))
    # one sample holds 5 spikes of one input group in one bin: counts reach 5 (3-bit input)
    times[0] = np.concatenate([times[0], np.full(5, 0.1051)])
    units[0] = np.concatenate([units[0], np.arange(5, dtype=np.uint16)])
    return times, units, rng.integers(0, 20, n)


@pytest.fixture
def speech_dir(tmp_path):
    d = tmp_path / "digits"
    d.mkdir()
    for split, n, seed in (("train", 12, 0), ("test", 8, 1)):
        t, u, y = _split(n, seed)
        write_shd(d / f"shd_{split}.h5", t, u, y, speakers=np.zeros(n, int), keys=[str(i) for i in range(20)])
    return d


@pytest.fixture
def theirs(tmp_path):
    torch.manual_seed(0)
    ref = Reference(140, 16, 2, 20, 25)
    ref.randomize(seed=1)
    path = tmp_path / "theirs.pt"
    torch.save(ref.state_dict(), path)
    return path


@pytest.mark.slow
def test_convert_quantize_simulate_take_the_width_from_the_data(tmp_path, capsys, speech_dir, theirs):
    model = tmp_path / "model.pt"
    code, _, err = run(["convert", "--from", "snn-delays", str(theirs), "-o", str(model)], capsys)
    assert code == 0 and "no input range" in err
    _, meta = load_checkpoint_and_metadata(model)
    assert "input_max_count" not in meta

    dnet = tmp_path / "m.dnet"
    code, _, err = run(["quantize", str(model), "-o", str(dnet), "--data", str(speech_dir)], capsys)
    assert code == 0, err
    assert ir.load(dnet).input_bits == 3 and "3-bit input, from the data" in err

    code, out, err = run(["simulate", str(model), "--data", str(speech_dir), "--json"], capsys)
    assert code == 0, err
    assert "3-bit input, from the data" in err and '"inputs": "8 samples' in out  # the whole test split

    code, out, err = run(["simulate", str(dnet), "--data", str(speech_dir)], capsys)
    assert code == 0 and "inputs: 8 samples" in out


def test_convert_with_data_records_the_range(tmp_path, capsys, speech_dir, theirs):
    model = tmp_path / "model.pt"
    code, out, _ = run(["convert", "--from", "snn-delays", str(theirs), "-o", str(model), "--data", str(speech_dir)], capsys)
    assert code == 0 and "counts up to 5" in out
    _, meta = load_checkpoint_and_metadata(model)
    assert meta["input_max_count"] == 5 and meta["task"] == "shd"
    code, out, err = run(["estimate", str(model), "--data", str(speech_dir)], capsys)
    assert code == 0 and "note:" not in err and "inputs: 8 samples" in out


def test_without_data_the_default_is_stated(tmp_path, capsys, theirs):
    model = tmp_path / "model.pt"
    run(["convert", "--from", "snn-delays", str(theirs), "-o", str(model)], capsys)
    code, _, err = run(["quantize", str(model), "-o", str(tmp_path / "m.dnet")], capsys)
    assert code == 0 and "1-bit input, from a default" in err and "--data DIR" in err


@pytest.mark.slow
def test_every_command_takes_the_width_from_the_training_split(tmp_path, capsys, theirs):
    """quantize and simulate/verify deploy the same network: the test split's smaller counts
    (up to 3, 2 bits) do not narrow the input that the training split's counts (5, 3 bits) need."""
    d = tmp_path / "digits"
    d.mkdir()
    t, u, y = _split(12, 0)
    write_shd(d / "shd_train.h5", t, u, y)
    rng = np.random.default_rng(2)
    times = [np.full(3, 0.1) for _ in range(4)]  # at most 3 spikes per bin: 2 bits would do
    units = [rng.integers(0, 700, 3).astype(np.uint16) for _ in range(4)]
    write_shd(d / "shd_test.h5", times, units, np.arange(4))
    model = tmp_path / "model.pt"
    run(["convert", "--from", "snn-delays", str(theirs), "-o", str(model)], capsys)
    for args in (["simulate", str(model), "--data", str(d)], ["verify", str(model), "--data", str(d), "--backends", "sim"]):
        code, _, err = run(args, capsys)
        assert code == 0 and "3-bit input, from the data" in err, err

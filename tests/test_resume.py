"""Resumable, observable training runs (delaysnn.training.runs, train's state_dir/resume, plot-training)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from delaysnn.data.datasets import synthetic_splits, validation_split
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import load_checkpoint_and_metadata, read_payload
from delaysnn.training.runs import METRIC_FIELDS, read_metrics, run_files, state_paths
from delaysnn.training.train import TrainOptions, train
from tests.conftest import default_signals, run_cli

ROOT = Path(__file__).resolve().parents[1]
CLI_ARGS = ["train", "--samples", "128", "--layers", "1", "--hidden", "16", "--max-delay", "9", "--epochs", "3"]


def _model():
    torch.manual_seed(0)
    return DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=16, hidden_layers=1, max_delay=9))


def _same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.slow
def test_resumed_run_is_bit_identical(tmp_path):
    tr, te = synthetic_splits(n_train=128, n_test=64, seed=0)
    whole = _model()
    full = train(whole, tr, te, TrainOptions(epochs=4, progress=False, state_dir=tmp_path / "a", metrics_path=tmp_path / "a.jsonl"))

    class Killed(Exception):
        pass

    def die_after_two(epoch, result):
        if epoch == 1:
            raise Killed

    opts = dict(epochs=4, progress=False, state_dir=tmp_path / "b", metrics_path=tmp_path / "b.jsonl")
    with pytest.raises(Killed):
        train(_model(), tr, te, TrainOptions(**opts), on_epoch=die_after_two)
    assert [p.name for p in state_paths(tmp_path / "b")] == ["epoch-0001.pt", "epoch-0002.pt"]
    torch.manual_seed(123)  # the resumed run must not depend on the global RNG it starts with
    resumed_model = _model()
    resumed = train(resumed_model, tr, te, TrainOptions(**opts, resume=True))
    assert resumed.resumed_from == 2
    _same_tensors(whole.state_dict(), resumed_model.state_dict())
    assert resumed.test_acc == full.test_acc and resumed.train_loss == full.train_loss
    assert _without_seconds(read_metrics(tmp_path / "a.jsonl")) == _without_seconds(read_metrics(tmp_path / "b.jsonl"))
    # the last 2 states are kept; a state is weights_only-loadable (read_payload)
    assert [p.name for p in state_paths(tmp_path / "b")] == ["epoch-0003.pt", "epoch-0004.pt"]
    assert read_payload(tmp_path / "b" / "epoch-0004.pt")["epoch"] == 4
    # other options than the interrupted run: refused, not silently diverging
    from delaysnn.errors import DelaysnnError

    with pytest.raises(DelaysnnError, match="--resume with other settings.*lr"):
        train(_model(), tr, te, TrainOptions(**{**opts, "resume": True}, lr=2e-3))


def _cli(args, cwd, **kw):
    return subprocess.Popen([sys.executable, "-m", "delaysnn", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=default_signals, **kw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One CLI run never interrupted, stderr to a pipe (not a terminal)."""
    where = tmp_path_factory.mktemp("whole")
    proc = _cli([*CLI_ARGS, "-o", "m.pt"], where)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return where, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.slow
def test_killed_cli_run_resumes_to_the_same_checkpoint(tmp_path, uninterrupted, sig):
    proc = _cli([*CLI_ARGS, "-o", "m.pt"], tmp_path)
    first = tmp_path / "m.pt.state" / "epoch-0001.pt"
    deadline = time.monotonic() + 90
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (143, -signal.SIGKILL), (proc.returncode, err)
    assert not (tmp_path / "m.pt").exists()
    if sig == signal.SIGTERM:
        assert "--resume" in err and not list(tmp_path.glob("**/*.part"))
    proc = _cli([*CLI_ARGS, "-o", "m.pt", "--resume"], tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    redone = [line.split(",")[0] for line in err.splitlines() if line.startswith("train synthetic: epoch")]
    assert redone and "train synthetic: epoch 1/3" not in redone and "no state" not in err  # resumed, not restarted
    whole, _ = uninterrupted
    a, b = read_payload(whole / "m.pt"), read_payload(tmp_path / "m.pt")
    _same_tensors(a["state_dict"], b["state_dict"])
    assert a["metadata"] == b["metadata"]
    assert _without_seconds(read_metrics(whole / "m.jsonl")) == _without_seconds(read_metrics(tmp_path / "m.jsonl"))


def test_metrics_log_and_plot_training(uninterrupted, tmp_path, capsys):
    where, err = uninterrupted
    files = run_files(where / "m.pt")
    lines = files.metrics.read_text().splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [list(r) for r in rows] == [list(METRIC_FIELDS)] * 3 and [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(r["val_acc"] is None and 0 <= r["test_acc"] <= 1 and len(r["spike_rates"]) == 1 for r in rows)
    code, out, _ = run_cli(["plot-training", files.metrics, "-o", tmp_path / "curves.png"], capsys)
    assert code == 0 and (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n{not json\n")
    code, _, err = run_cli(["plot-training", bad, "-o", tmp_path / "bad.png"], capsys)
    assert code == 1 and err.count("\n") == 1 and "line 2" in err and not (tmp_path / "bad.png").exists()


def test_progress_off_a_terminal_is_one_line_per_epoch(uninterrupted):
    _, err = uninterrupted
    assert "\r" not in err
    progress = [line for line in err.splitlines() if line.startswith("train synthetic: epoch")]
    assert [line.split(",")[0] for line in progress] == [f"train synthetic: epoch {k}/3" for k in (1, 2, 3)]


def _speaker_data(root: Path) -> np.ndarray:
    from delaysnn.data.shd_file import write_shd

    rng = np.random.default_rng(0)
    root.mkdir()
    speakers = None
    for split, n in (("train", 48), ("test", 16)):
        times = [np.sort(rng.uniform(0, 0.2, 60)) for _ in range(n)]
        units = [rng.integers(0, 700, 60) for _ in range(n)]
        labels = rng.integers(0, 20, n)
        who = np.arange(n) % 6 if split == "train" else np.full(n, 9)
        write_shd(root / f"shd_{split}.h5", times, units, labels, speakers=who)
        speakers = who if split == "train" else speakers
    return speakers


def test_validation_split_by_speaker_selects_an_epoch(tmp_path, capsys):
    from delaysnn.data.heidelberg import load_heidelberg, load_speakers

    data = tmp_path / "shd"
    speakers = _speaker_data(data)
    assert np.array_equal(load_speakers(data, "shd", "train"), speakers)
    train_set = load_heidelberg(data, "shd", "train", progress=False)
    rest, val, how = validation_split(train_set, 0.25, seed=0, speakers=speakers)
    assert len(rest) + len(val) == 48 and "speakers" in how
    tagged = validation_split(SpeakerTagged.of(train_set), 0.25, seed=0, speakers=speakers)
    seen_train, seen_val = set(tagged[0].y.tolist()), set(tagged[1].y.tolist())
    assert seen_train and seen_val and not seen_train & seen_val  # no speaker in both splits
    out = tmp_path / "m.pt"
    code, _, err = run_cli(["train", "--task", "shd", "--data", data, "--layers", "1", "--hidden", "8", "--max-delay", "5",
                            "--epochs", "3", "--val-fraction", "0.25", "-o", out], capsys)
    assert code == 0, err
    _, meta = load_checkpoint_and_metadata(out)
    rows = read_metrics(tmp_path / "m.jsonl")
    assert meta["selected_by"] == "val_acc" and 1 <= meta["selected_epoch"] <= 3
    best = max(r["val_acc"] for r in rows)
    assert meta["val_acc"] == best == rows[meta["selected_epoch"] - 1]["val_acc"]
    assert meta["test_acc"] == rows[meta["selected_epoch"] - 1]["test_acc"]


class SpeakerTagged:
    """The training split with each sample's label replaced by its speaker, to see who went where."""

    @staticmethod
    def of(ds):
        from delaysnn.data.datasets import SpikeDataset

        return SpikeDataset(ds.x, torch.arange(len(ds)) % 6, ds.n_classes, ds.name, ds.time_step_ms)

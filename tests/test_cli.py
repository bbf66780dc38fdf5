"""The command line as a user meets it: exit codes, one-line errors, no partial outputs."""

import pytest
import torch

from delaysnn.cli import main
from delaysnn.model.checkpoint import save_checkpoint
from tests.conftest import run_cli as run


def test_help_has_examples(capsys):
    for cmd in ([], ["train"], ["convert"], ["inspect"], ["demo"]):
        code, out, _ = run(cmd + ["--help"], capsys)
        assert code == 0 and "Example" in out


def test_train_writes_checkpoint_and_inspect_reads_it(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, stdout, _ = run(
        ["train", "--task", "synthetic", "--epochs", "1", "--samples", "128", "--hidden", "8", "--layers", "1", "-o", str(out)],
        capsys,
    )
    assert code == 0 and out.exists() and "test accuracy" in stdout
    code, stdout, _ = run(["inspect", str(out)], capsys)
    assert code == 0 and "16-8-4" in stdout and "delays" in stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["inspect", "missing.pt"], "no such"),
        (["train", "--task", "shd", "-o", "m.pt"], "--data"),
        (["train", "--task", "shd", "--data", "nowhere", "-o", "m.pt"], "nowhere"),
        (["train", "-o", "nodir/m.pt"], "does not exist"),
        (["convert", "--from", "snn-delays", "missing.pt", "-o", "m.pt"], "no such"),
        (["inspect", "file.xyz"], "no such"),
    ],
)
def test_errors_are_one_line_with_exit_1(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--task", "cifar", "-o", "m.pt"],
        ["train", "--qat", "9", "-o", "m.pt"],
        ["train", "--qat", "abc", "-o", "m.pt"],
        ["train", "--epochs", "0", "-o", "m.pt"],
        ["convert", "x.pt", "-o", "m.pt"],
        ["frobnicate"],
    ],
)
def test_bad_options_are_usage_errors(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(args, capsys)
    assert code == 2 and "Error" in err
    assert list(tmp_path.iterdir()) == []


def test_inspect_unknown_suffix(tmp_path, capsys):
    f = tmp_path / "a.xyz"
    f.write_text("x")
    code, _, err = run(["inspect", str(f)], capsys)
    assert code == 1 and "unknown file type" in err


def test_convert_foreign_checkpoint(tmp_path, capsys, tiny_model):
    ours = tmp_path / "ours.pt"
    save_checkpoint(tiny_model, ours)
    code, _, err = run(["convert", "--from", "snn-delays", str(ours), "-o", str(tmp_path / "o.pt")], capsys)
    assert code == 1 and err.count("\n") == 1 and str(ours) in err
    assert not (tmp_path / "o.pt").exists()


def test_interrupted_training_leaves_no_output(tmp_path, capsys, monkeypatch):
    import delaysnn.training.train as train_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    out = tmp_path / "m.pt"
    code, _, err = run(["train", "--samples", "64", "-o", str(out)], capsys)
    assert code == 130 and "interrupted" in err and not out.exists()


def test_debug_shows_traceback(capsys):
    from delaysnn.errors import DelaysnnError

    with pytest.raises(DelaysnnError):
        main(["--debug", "inspect", "missing.pt"])


def test_wrong_input_shape_through_api(tiny_model):
    from delaysnn.errors import DataError

    with pytest.raises(DataError):
        tiny_model(torch.zeros(10, 6))

"""``train --init M`` through a grid: the measured recipe by default, each part switched off by its
option, and the header and checkpoint saying which ran (tiny synthetic runs, not accuracy)."""

import pytest

from delaysnn.model.checkpoint import load_checkpoint_and_metadata
from tests.conftest import run_cli

TINY = ["--task", "synthetic", "--samples", "64", "--batch-size", "32"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A float checkpoint with dropout 0.4 (not the recipe's 0.1, so the test can tell them apart)."""
    from delaysnn.app import api

    path = tmp_path_factory.mktemp("ft") / "base.pt"
    api.train_model(api.TrainRequest(output=str(path), hidden=8, layers=1, epochs=1, samples=64, dropout=0.4))
    return path


def fine_tune(base, out, capsys, *options):
    code, stdout, err = run_cli(["train", *TINY, "--init", base, *options, "-o", out], capsys)
    assert code == 0, err
    headers = [line for line in err.splitlines() if line.startswith("fine-tuning recipe:")]
    _, meta = load_checkpoint_and_metadata(out)
    return headers, meta


def test_a_grid_gets_the_recipe_by_default(base, tmp_path, capsys):
    headers, meta = fine_tune(base, tmp_path / "t.pt", capsys, "--qat", "ternary", "--delay-bits", "3", "--epochs", "1")
    assert headers == [f"fine-tuning recipe: distilled from {base}, BatchNorm statistics frozen, dropout 0.1, positions learning "
                       "at 10 x lr, 1 epoch (defaults for ternary, 3-bit step delays; given: 1 epoch; change with --no-distill, "
                       "--no-freeze-bn-stats, --dropout P, --no-learn-delays, --epochs N)"]
    assert meta["fine_tuning"] == {"init": str(base), "distill": str(base), "freeze_bn_stats": True, "dropout": 0.1,
                                   "learn_delays": True, "lr_pos": 0.01}
    assert (meta["qat"], meta["delay_bits"], meta["delay_grid"], meta["epochs"]) == ("ternary", 3, "step", 1)


def test_each_part_switches_off(base, tmp_path, capsys):
    # positions fixed even on a delay grid (they snap to it, as quantize's does)
    headers, meta = fine_tune(base, tmp_path / "q.pt", capsys, "--qat", "4", "--delay-bits", "3", "--no-distill", "--no-freeze-bn-stats",
                              "--dropout", "0.3", "--no-learn-delays", "--epochs", "1")
    assert len(headers) == 1 and "not distilled, BatchNorm statistics updating, dropout 0.3, positions fixed, 1 epoch (all given" in headers[0]
    assert meta["fine_tuning"] == {"init": str(base), "distill": None, "freeze_bn_stats": False, "dropout": 0.3,
                                   "learn_delays": False, "lr_pos": None}
    # another teacher than M: taken as given
    headers, meta = fine_tune(base, tmp_path / "p.pt", capsys, "--prune", "0.5", "--distill", base, "--epochs", "1")
    assert meta["fine_tuning"]["distill"] == str(base) and f"given: distilled from {base}, 1 epoch;" in headers[0]


def test_without_a_grid_fine_tuning_is_as_before(base, tmp_path, capsys):
    headers, meta = fine_tune(base, tmp_path / "f.pt", capsys, "--epochs", "1")
    assert headers == []
    assert meta["fine_tuning"] == {"init": str(base), "distill": None, "freeze_bn_stats": False, "dropout": 0.4,
                                   "learn_delays": False, "lr_pos": None}
    assert "qat" not in meta


@pytest.mark.parametrize("options, needle", [
    (["--no-distill"], "--no-distill is for fine-tuning: it needs --init"),
    (["--no-learn-delays"], "--no-learn-delays is for fine-tuning: it needs --init"),
    (["--prune", "0.5"], "--prune needs --init MODEL.pt"),
    (["--delay-grid", "cap"], "--delay-grid needs --delay-bits"),
    (["--delay-bits", "7"], "Loihi 2 delays take at most 6 bits"),
])
def test_options_that_need_init_or_contradict_are_usage_errors(options, needle, tmp_path, capsys):
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", *options, "-o", tmp_path / "o.pt"], capsys)
    assert code == 2 and needle in err.strip().splitlines()[-1], err
    assert list(tmp_path.iterdir()) == []


def test_no_distill_with_distill_is_a_usage_error(base, tmp_path, capsys):
    code, _, err = run_cli(["train", *TINY, "--init", base, "--qat", "4", "--no-distill", "--distill", base, "-o", tmp_path / "o.pt"], capsys)
    assert code == 2 and "--no-distill and --distill" in err, err
    assert list(tmp_path.iterdir()) == []

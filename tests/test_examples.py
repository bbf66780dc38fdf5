"""The shipped examples run as a new user would run them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "qs"
    proc = subprocess.run(
        [sys.executable, "examples/quickstart.py", "examples/synthetic.pt", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["model.dnet", "model.h5", "model.nir", "model.onnx"]
    assert proc.stdout.count(": identical") == 4
    assert "energy per inference" in proc.stdout


def test_train_shd_script_explains_missing_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "examples/train_shd.py", str(tmp_path / "no_shd")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "zenkelab.org" in proc.stderr

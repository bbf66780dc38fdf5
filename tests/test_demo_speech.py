"""`delaysnn demo --task spoken-digits`: the demo's pipeline on the speech workload, end to end on
a tiny spoken-digits set (real espeak-ng, real cochlea, real Lava/netx/onnxruntime/NIR)."""

from dataclasses import replace

import pytest

from delaysnn.app.demo import run_demo, speech_workload
from tests.conftest import needs_espeak


@needs_espeak
@pytest.mark.slow
@pytest.mark.lava
def test_speech_demo_runs_every_step(tmp_path):
    lines: list[str] = []
    data = tmp_path / "digits"
    work = speech_workload(data, epochs=1, echo=lines.append)  # makes the data set on first use
    assert (data / "shd_train.h5").exists() and any("making the spoken-digits" in line for line in lines)
    assert work.config.input_size == 140 and work.config.output_size == 20 and work.config.max_delay == 25
    assert work.meta["input_max_count"] == work.train_set.max_count > 1  # graded input recorded
    assert "synthesized speech" in work.description and "not SHD" in work.description
    # small and fast for CI; the gate on the delay benefit is the bench's business at 1 epoch
    tiny = replace(work, config=replace(work.config, hidden_size=8), qat_epochs=1, min_delay_gain=-100.0)
    summary = run_demo(tmp_path / "out", seed=0, echo=lines.append, verify_samples=1, workload=tiny)
    steps = [row[0] for row in summary.rows]
    assert summary.ok
    for step in ("train (learned delays)", "quantize 8-bit", "export loihi", "verify 8-bit lava", "verify binary-qat onnx", "estimate"):
        assert step in steps
    assert all(row[1] == "identical" for row in summary.rows if row[0].startswith("verify"))


@pytest.fixture(autouse=True)
def _tiny_dataset(monkeypatch):
    """The default data set takes minutes: make a 40-utterance one with a few voices instead."""
    from delaysnn.data import spoken_digits

    real = spoken_digits.make_spoken_digits
    monkeypatch.setattr(
        spoken_digits, "make_spoken_digits",
        lambda out_dir, seed=0, **kw: real(out_dir, per_class=2, seed=seed, variants=["m1", "m3", "f1", "f2"], progress=False),
    )

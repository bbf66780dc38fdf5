"""delaysnn.app.agreement: the integer network against its float model (predicted classes, hidden
spikes), and where it is shown (simulate, estimate, quantize --data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from delaysnn.app import api
from delaysnn.app.agreement import FloatComparison, run_with_float
from delaysnn.app.pipeline import as_inputs
from delaysnn.model import predict
from delaysnn.sim import simulate, simulate_batches
from tests.conftest import run_cli

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt")  # trained: 97.5 % on synthetic


@pytest.fixture(scope="module")
def synthetic_test():
    from delaysnn.data.datasets import synthetic_splits

    test = synthetic_splits(n_train=1, n_test=64, seed=0)[1]
    return test.x.numpy().astype(np.int32), test.y.numpy()


def by_hand(model, net, x):
    """Float vs integer computed directly: class agreement, and per hidden layer the spikes equal
    once the sim's layer k is shifted back by its k + 1 steps of latency (DESIGN section 4)."""
    with torch.no_grad():
        v, spikes_f = model.eval().forward_trace(torch.from_numpy(x).float())
    res = simulate(net, x, record=False)
    classes = float((predict(v).numpy() == res.predict()).mean())
    spikes = [float((sf.numpy() == res.spikes[k][:, k + 1 : k + 1 + sf.shape[1]]).mean()) for k, sf in enumerate(spikes_f)]
    return classes, spikes, [float(s.mean()) for s in res.spikes]


@pytest.mark.parametrize("options", [{"weight_bits": 8}, {"binary": True}], ids=["8-bit", "binary"])
@pytest.mark.slow
def test_agreement_is_the_direct_computation_batch_by_batch(synthetic_test, options):
    x, y = synthetic_test
    model = api.load(EXAMPLE)
    net, _ = api.load_network(EXAMPLE, api.QuantizeOptions(**options))
    classes, spikes, rates = by_hand(model, net, x)
    assert all(r > 0.02 for r in rates)  # the hidden layers fire: spike agreement is not 0 == 0 everywhere
    comparison = FloatComparison(model, y)
    summary = simulate_batches(net, (x[a : a + 24] for a in range(0, len(x), 24)), each=comparison.add)  # uneven batches
    got = comparison.result()
    assert got.samples == len(x)
    assert got.float_agreement == pytest.approx(classes)
    assert got.spike_agreement == pytest.approx(spikes)
    assert np.array_equal(summary.predictions, simulate(net, x, record=False).predict())
    with torch.no_grad():
        assert got.float_accuracy == pytest.approx(float((predict(model(torch.from_numpy(x).float())).numpy() == y).mean()))


def test_8bit_agrees_fully_and_binary_does_not(synthetic_test):
    """Equal-looking accuracies are not the point: 8-bit keeps every predicted class of the trained
    example (and almost every spike); binary weights change many of them."""
    x, y = synthetic_test
    model = api.load(EXAMPLE)
    found = {}
    for name, options in (("8-bit", {"weight_bits": 8}), ("binary", {"binary": True})):
        net, _ = api.load_network(EXAMPLE, api.QuantizeOptions(**options))
        found[name] = run_with_float(model, net, as_inputs(x, y))[1]
    high, low = found["8-bit"], found["binary"]
    assert high.float_agreement == 1.0
    assert min(high.spike_agreement) > 0.99
    assert low.float_agreement < 0.9
    assert all(lo < hi for lo, hi in zip(low.spike_agreement, high.spike_agreement))
    assert high.float_accuracy == low.float_accuracy > 0.9  # one float model


def test_without_a_float_model_the_sim_runs_alone(synthetic_test):
    x, y = synthetic_test
    net, _ = api.load_network(EXAMPLE)
    summary, agreement = run_with_float(None, net, as_inputs(x, y))
    assert agreement is None and summary.samples == len(x)


def test_simulate_reports_it_for_a_checkpoint_and_null_for_an_ir_file(tmp_path, capsys):
    code, out, err = run_cli(["simulate", EXAMPLE, "--task", "synthetic", "--samples", "64", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert 0.9 <= info["float_agreement"] <= 1.0 and 0.9 <= info["float_accuracy"] <= 1.0
    assert len(info["spike_agreement"]) == 2 and all(0.9 < s <= 1.0 for s in info["spike_agreement"])

    code, out, err = run_cli(["simulate", EXAMPLE, "--task", "synthetic", "--samples", "64", "--binary"], capsys)
    assert code == 0, err
    line = next(t for t in out.splitlines() if t.startswith("agreement with the float model"))
    assert "% of predicted classes" in line and "hidden spikes per layer" in line

    dnet = tmp_path / "m.dnet"
    assert run_cli(["quantize", EXAMPLE, "-o", dnet], capsys)[0] == 0
    code, out, err = run_cli(["simulate", dnet, "--task", "synthetic", "--samples", "8", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["float_agreement"] is None and info["spike_agreement"] is None and info["float_accuracy"] is None
    assert "accuracy" in info
    code, out, _ = run_cli(["simulate", dnet, "--task", "synthetic", "--samples", "8"], capsys)
    assert code == 0 and "no float model" in out


def test_estimate_json_carries_it(tmp_path, capsys):
    code, out, err = run_cli(["estimate", EXAMPLE, "--task", "synthetic", "--samples", "16", "--profile", "loihi2", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert 0.9 <= info["float_agreement"] <= 1.0 and len(info["spike_agreement"]) == 2
    dnet = tmp_path / "m.dnet"
    assert run_cli(["quantize", EXAMPLE, "-o", dnet], capsys)[0] == 0
    code, out, err = run_cli(["estimate", dnet, "--task", "synthetic", "--samples", "4", "--profile", "loihi2", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["float_agreement"] is None and info["spike_agreement"] is None


@pytest.fixture
def shd_model(tmp_path):
    """A small untrained SHD-shaped checkpoint (140 inputs, 20 classes) and an SHD-layout folder."""
    from delaysnn.data.shd_file import write_shd
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.checkpoint import save_checkpoint

    rng = np.random.default_rng(0)
    d = tmp_path / "shd"
    d.mkdir()
    for split, n in (("train", 6), ("test", 10)):
        times = [np.sort(rng.uniform(0, 0.2, 400)) for _ in range(n)]
        units = [rng.integers(0, 700, 400).astype(np.uint16) for _ in range(n)]
        write_shd(d / f"shd_{split}.h5", times, units, rng.integers(0, 20, n))
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=140, output_size=20, hidden_size=16, hidden_layers=1, max_delay=5, time_step_ms=10.0))
    path = tmp_path / "m.pt"
    save_checkpoint(model.eval(), path, {"task": "shd", "input_max_count": 5})
    return path, d


def test_quantize_with_data_reports_it_on_the_test_split(tmp_path, capsys, shd_model):
    model, data = shd_model
    out_path = tmp_path / "q.dnet"
    code, out, err = run_cli(["quantize", model, "-o", out_path, "--data", data, "--json"], capsys)
    assert code == 0, err
    ev = json.loads(out)["evaluation"]
    assert ev["inputs"].startswith("10 samples")  # the whole test split
    assert 0.0 <= ev["float_agreement"] <= 1.0 and len(ev["spike_agreement"]) == 1 and ev["accuracy"] is not None
    simulated = api.simulate(model, data=str(data))  # the same network and inputs: the same figures
    assert ev["float_agreement"] == pytest.approx(simulated.agreement.float_agreement)
    assert ev["spike_agreement"] == pytest.approx(simulated.agreement.spike_agreement)

    code, out, err = run_cli(["quantize", model, "-o", tmp_path / "q2.dnet", "--data", data], capsys)
    assert code == 0, err
    assert "on 10 samples" in out and "agreement with the float model:" in out
    code, out, _ = run_cli(["quantize", model, "-o", tmp_path / "q3.dnet", "--json"], capsys)
    assert code == 0 and json.loads(out)["evaluation"] is None  # no data, no evaluation


def test_the_search_table_shows_agreement_beside_every_integer_accuracy(synthetic_test):
    from delaysnn.app.frontier import Candidate, accuracy_and_agreement, float_classes, predictions, search, table
    from delaysnn.data.datasets import synthetic_splits
    from delaysnn.quantization import quantize_model
    from hardware import load_profile

    model = api.load(EXAMPLE)
    train_set, test_set = synthetic_splits(n_train=64, n_test=64, seed=3)
    grid = [Candidate(weight_bits=8), Candidate(weight_bits=None, ternary=True, delay_bits=3, prune=0.8)]
    result = search(model, train_set, train_set, test_set, profile=load_profile("loihi2"), candidates=grid, max_qat=0)
    by = {p.candidate: p for p in result.points}
    floats = float_classes(model, train_set)
    for cand, point in by.items():
        net = quantize_model(model, input_bits=1, profile=load_profile("loihi2"), clip_delays=True, **cand.quantize_options("step", "layer"))
        assert point.val_agreement == pytest.approx(float((predictions(net, train_set) == floats).mean()))
    assert by[grid[0]].val_agreement > by[grid[1]].val_agreement  # 8-bit keeps more of the float model's classes
    assert all(p.test_agreement is not None for p in result.front)
    head = table(result).splitlines()[2]
    assert head.count("agrees with float") == 2  # beside the validation and the test accuracy
    # a network that predicts as the float model agrees fully, whatever its accuracy
    net = quantize_model(model, weight_bits=8, input_bits=1)
    acc, agree = accuracy_and_agreement(net, test_set, predictions(net, test_set))
    assert agree == 1.0 and acc < 1.0


def test_a_qat_checkpoint_is_compared_as_it_was_trained(tmp_path, synthetic_test):
    """A QAT checkpoint's float model runs through the grids it records (its plain float forward
    is a model nobody trained), so its binary integer network agrees with it far more than the
    plain forward does."""
    from delaysnn.model.checkpoint import load_checkpoint_and_metadata, save_checkpoint

    x, y = synthetic_test
    model, meta = load_checkpoint_and_metadata(EXAMPLE)
    path = tmp_path / "binary-qat.pt"
    save_checkpoint(model, path, {**meta, "qat": "binary", "delay_bits": 4, "delay_grid": "cap"})
    trained = api.float_model_of(path)
    assert all(s.qat == (None, True, False) and s.delay_qat == (4, "cap") for s in trained.synapses)
    net, _ = api.load_network(path)
    as_trained = run_with_float(trained, net, as_inputs(x, y))[1]
    plain = run_with_float(api.load(path), net, as_inputs(x, y))[1]
    assert as_trained.float_agreement > plain.float_agreement
    assert api.float_model_of(EXAMPLE).synapses[0].qat is None  # no QAT recorded: the plain forward

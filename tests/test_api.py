"""``delaysnn.app.api``: every job of the CLI called directly, on the example checkpoint and tiny runs."""

from pathlib import Path

import numpy as np
import pytest

from delaysnn import ir, sim
from delaysnn.app import api
from delaysnn.errors import DelaysnnError

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt")


@pytest.fixture(scope="module")
def net():
    return api.load_network(EXAMPLE)[0]


@pytest.fixture(scope="module")
def x():
    from delaysnn.data.datasets import synthetic_splits

    return synthetic_splits(n_train=1, n_test=24, seed=0)[1]


def test_quantize_writes_the_network_it_returns(tmp_path):
    out = tmp_path / "m.dnet"
    net, report = api.quantize(EXAMPLE, out, api.QuantizeOptions(weight_bits=4))
    assert net.sizes == [16, 32, 32, 4] and report is not None and ir.load(out).sizes == net.sizes
    assert net.provenance["weight_bits"] == 4
    with pytest.raises(DelaysnnError, match="already an integer network"):
        api.quantize(out, tmp_path / "again.dnet")
    with pytest.raises(DelaysnnError, match="is the input"):
        api.quantize(EXAMPLE, EXAMPLE)


def test_simulate_scores_given_inputs_as_the_sim_does(net, x):
    xs, ys = x.x.numpy().astype(np.int32), x.y.numpy()
    done = api.simulate(net, xs, labels=ys)
    direct = sim.simulate(net, xs, record=False).predict()
    assert done.predictions.tolist() == direct.tolist()
    assert done.accuracy == pytest.approx(float((direct == ys).mean())) and done.accuracy > 0.5
    assert all(r > 0 for r in done.firing_rates), done.firing_rates  # hidden neurons fire
    info = done.to_dict()
    assert {"inputs", "firing_rates", "accuracy", "float_agreement", "spike_agreement", "float_accuracy"} <= set(info)
    assert info["float_agreement"] is None  # a DelayNetwork has no float model to agree with


def test_simulate_a_file_on_its_task(tmp_path):
    notes = []
    done = api.simulate(EXAMPLE, task="synthetic", samples=16, plot=tmp_path / "r.png", note=notes.append)
    assert done.inputs.startswith("16 samples of ")
    assert done.accuracy is not None and (tmp_path / "r.png").stat().st_size > 0 and not notes
    assert api.simulate(EXAMPLE, samples=8).accuracy is not None  # the checkpoint's task


def test_export_a_network_and_a_file(net, tmp_path):
    done = api.export(net, "onnx", tmp_path / "m.onnx")
    assert done.path.stat().st_size > 0 and done.net is net
    done = api.export(EXAMPLE, "nir", tmp_path / "m.nir", dt=1e-4)
    assert done.path.exists() and done.net.sizes == net.sizes
    assert api.export(EXAMPLE, "onnx", tmp_path / "f.onnx", float_model=True).net is None
    with pytest.raises(DelaysnnError, match="--dt applies to --target nir"):
        api.export(net, "onnx", tmp_path / "x.onnx", dt=1e-3)
    with pytest.raises(DelaysnnError, match="needs an output path"):
        api.export(net, "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx", "m.nir", "m.onnx"]


def test_export_checks_the_targets_profile(tmp_path):
    import torch

    from delaysnn.errors import HardwareLimitError
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=6, hidden_layers=1, max_delay=101)).eval()
    model.round_positions()
    save_checkpoint(model, tmp_path / "long.pt", {"input_max_count": 1})  # a range recorded: loihi refuses to guess one
    long_net = api.load_network(tmp_path / "long.pt")[0]
    with pytest.raises(HardwareLimitError, match="62"):
        api.export(long_net, "loihi", tmp_path / "long.h5")
    with pytest.raises(HardwareLimitError, match=r"^.*long\.pt: "):
        api.export(tmp_path / "long.pt", "loihi", tmp_path / "long.h5")
    assert not (tmp_path / "long.h5").exists()


def test_verify_shards_merge_to_the_whole(net, x, tmp_path):
    xs = x.x.numpy().astype(np.int32)[:6]
    seen = []
    whole = api.verify(net, ["sim", "onnx"], xs, progress=lambda name, what: seen.append(name))
    assert whole.ok and [r.backend for r in whole.reports] == ["sim", "onnx"] and seen == ["sim", "onnx"]
    assert whole.reports[1].samples == 6 and whole.reports[1].compared > 0
    parts = [str(tmp_path / f"p{i}.json") for i in (1, 2)]
    for i, part in enumerate(parts, 1):
        run = api.verify(net, ["onnx"], xs, shard=(i, 2), report_path=part)
        assert (run.start, run.stop) == ((0, 3) if i == 1 else (3, 6))
    merged = api.verify_merge(parts, junit_path=str(tmp_path / "all.xml"))
    assert merged.ok and merged.reports[0].samples == 6 and (tmp_path / "all.xml").exists()
    with pytest.raises(DelaysnnError, match="1 samples leave this shard empty"):
        api.verify(net, ["sim"], xs[:1], shard=(1, 2), report_path=str(tmp_path / "e.json"))


def test_estimate_counts_given_and_task_inputs(net, x, tmp_path):
    xs = x.x.numpy().astype(np.int32)
    est, what = api.estimate(net, xs, plot=tmp_path / "e.png")
    assert est.totals["synaptic_ops"] > 0 and what == f"{len(xs)} given inputs" and (tmp_path / "e.png").exists()
    est2, what2 = api.estimate(EXAMPLE, profiles=["loihi2"], task="synthetic", samples=8)
    assert "8 samples" in what2 and [e.label for e in est2.energy] and est2.totals["synaptic_ops"] > 0


def test_new_model_and_fit(tmp_path, x):
    from delaysnn.model import ModelConfig
    from delaysnn.model.checkpoint import load_checkpoint_and_metadata
    from delaysnn.training.train import TrainOptions

    cfg = ModelConfig(input_size=x.channels, output_size=x.n_classes, hidden_size=8, hidden_layers=1, max_delay=5)
    fixed = api.new_model(cfg, learn_delays=False)
    assert all(int(syn.delays().max()) == 0 for syn in fixed.synapses)
    result = api.fit(fixed, x, x, TrainOptions(epochs=1, learn_delays=False, batch_size=8), tmp_path / "f.pt", {"task": "synthetic"})
    _, meta = load_checkpoint_and_metadata(tmp_path / "f.pt")
    assert meta == {"task": "synthetic", "test_acc": result.final_test_acc}


def test_train_model_then_plot_training(tmp_path):
    notes = []
    req = api.TrainRequest(output=str(tmp_path / "t.pt"), epochs=1, hidden=8, layers=1, max_delay=4, samples=64,
                           batch_size=32, val_fraction=0.25)
    done = api.train_model(req, note=notes.append)
    assert done.output == tmp_path / "t.pt" and done.output.exists() and done.metrics.exists()
    assert done.model.cfg.max_delay == 5  # made odd, as SNN-delays
    assert done.meta["task"] == "synthetic" and done.meta["input_max_count"] == 1 and done.meta["selected_epoch"] == 1
    assert any(n.startswith("validation: ") for n in notes), notes
    rows = api.plot_training(done.metrics, tmp_path / "c.png")
    assert len(rows) == 1 and (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(DelaysnnError, match="needs --data DIR"):
        api.load_task_data("shd", None, None, 0)


def test_search_deployment_tiny(tmp_path):
    req = api.SearchRequest(EXAMPLE, str(tmp_path / "f.md"), weight_bits=[8, 2], ternary=False, delay_bits=[None],
                            prune=[0.0], qat_epochs=0, samples=64)
    lines = []
    done = api.search_deployment(req, echo=lines.append)
    assert [p.name for p in done.paths] == ["f.md", "f.png", "f.json"] and all(p.exists() for p in done.paths)
    assert done.table in (tmp_path / "f.md").read_text() and len(done.result.points) == 2
    assert lines[0].startswith("validation: ") and "2 candidates" in lines[0]


def test_inspect_and_the_package_shortcuts(tmp_path):
    import delaysnn

    assert api.inspect(EXAMPLE) and api.load(EXAMPLE).cfg.sizes == [16, 32, 32, 4]
    net = delaysnn.quantize(delaysnn.load(EXAMPLE))
    assert delaysnn.simulate(net, np.zeros((1, 5, 16), np.int32)).spikes

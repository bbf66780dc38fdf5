"""Training with axonal and dendritic delays (issue 25): per kind, a fresh model, then fine-tuning
through the ternary weight grid, a 3-bit delay grid and pruning (distilled from the first), then
quantize and simulate; the delay fraction; a synaptic model recast as another kind; refusals."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from delaysnn import ir
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import load_checkpoint, save_checkpoint
from delaysnn.model.delay_kinds import apply_delay_fraction, delay_scores, recast
from tests.conftest import run_cli

SMALL = ["--task", "synthetic", "--samples", "64", "--hidden", "8", "--layers", "1", "--max-delay", "9", "--batch-size", "32"]
VECTOR = {"synaptic": lambda o, i: (o, i), "axonal": lambda o, i: (i,), "dendritic": lambda o, i: (o,)}


@pytest.mark.parametrize("kind", ["synaptic", "axonal", "dendritic"])
def test_each_kind_trains_fine_tunes_quantizes_and_simulates(tmp_path, capsys, kind):
    model, tuned, net = tmp_path / "m.pt", tmp_path / "t.pt", tmp_path / "t.dnet"
    code, out, err = run_cli(["train", *SMALL, "--epochs", "1", "--delay-kind", kind, "-o", model], capsys)
    assert code == 0, err
    code, out, err = run_cli(["train", "--task", "synthetic", "--samples", "64", "--batch-size", "32", "--init", model, "--epochs", "1",
                              "--qat", "ternary", "--delay-bits", "3", "--prune", "0.5", "-o", tuned], capsys)
    assert code == 0, err
    trained = load_checkpoint(tuned)
    assert trained.cfg.delay_kind == kind
    shapes = [tuple(s.pos.shape) for s in trained.synapses]
    assert shapes[0] == {"synaptic": (1, 8, 16, 1), "axonal": (1, 1, 16, 1), "dendritic": (1, 8, 1, 1)}[kind]
    code, out, err = run_cli(["quantize", tuned, "-o", net], capsys)
    assert code == 0, err
    dnet = ir.load(net)
    for layer, syn in zip(dnet.layers, trained.synapses):
        assert layer.delay_kind.value == kind
        assert layer.delay.shape == VECTOR[kind](syn.out_features, syn.in_features)
        assert len(np.unique(layer.delay_matrix[layer.weight != 0])) <= 8  # the 3-bit delay grid
        assert set(np.unique(layer.weight)) <= {-1, 0, 1}  # ternary
    code, out, err = run_cli(["simulate", net, "--task", "synthetic"], capsys)
    assert code == 0 and "accuracy (integer network)" in out, err


def _model(kind: str, fraction: float = 1.0) -> DelaySNN:
    torch.manual_seed(0)
    return DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=10, hidden_layers=1, max_delay=7, dropout=0.0,
                                delay_kind=kind, delay_fraction=fraction))


@pytest.mark.parametrize("kind", ["synaptic", "axonal", "dendritic"])
def test_delay_fraction_keeps_the_most_useful_delays(kind):
    model = _model(kind, 0.3)
    before = [delay_scores(model, k).flatten() for k in range(len(model.synapses))]
    apply_delay_fraction(model)
    for syn, score in zip(model.synapses, before):
        keep = syn.delay_mask.flatten()
        assert int(keep.sum()) == int(np.ceil(0.3 * keep.numel()))
        assert float(score[keep].min()) >= float(score[~keep].max())  # the highest |delay| x L1 of the weights
        assert int(syn.kind_delays().flatten()[~keep].abs().max()) == 0  # the rest at delay 0
    # held there through training steps and rounding
    model.train()
    x = (torch.rand(2, 12, 6) < 0.4).float()
    model(x).sum().backward()
    assert float(model.hidden[0].synapse.pos.grad.flatten()[~model.hidden[0].synapse.delay_mask.flatten()].abs().max()) == 0.0
    with torch.no_grad():
        model.hidden[0].synapse.pos.add_(1.0)
    model.clamp_positions()
    model.round_positions()
    syn = model.hidden[0].synapse
    assert int(syn.kind_delays().flatten()[~syn.delay_mask.flatten()].max()) == 0


def test_delay_fraction_is_recorded_and_refused_outside_its_range(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, _, err = run_cli(["train", *SMALL, "--epochs", "1", "--delay-kind", "axonal", "--delay-fraction", "0.25", "-o", out], capsys)
    assert code == 0, err
    model = load_checkpoint(out)
    assert (model.cfg.delay_kind, model.cfg.delay_fraction) == ("axonal", 0.25)
    assert [int(s.delay_mask.sum()) for s in model.synapses] == [4, 2]  # ceil(0.25 x 16 inputs), ceil(0.25 x 8)
    code, _, err = run_cli(["inspect", out], capsys)
    assert code == 0
    for value in ("0", "1.5", "nan"):
        code, _, err = run_cli(["train", *SMALL, "--delay-fraction", value, "-o", tmp_path / "x.pt"], capsys)
        assert code == 2 and "Error: Invalid value for '--delay-fraction'" in err  # a click usage error
    code, _, err = run_cli(["train", *SMALL, "--no-delays", "--delay-fraction", "0.5", "-o", tmp_path / "x.pt"], capsys)
    assert code != 0 and "--no-delays" in err and "--delay-fraction" in err
    assert not (tmp_path / "x.pt").exists()


def test_inspect_shows_the_kind_and_a_histogram(tmp_path, capsys):
    path = tmp_path / "d.pt"
    save_checkpoint(_model("dendritic"), path)
    code, out, _ = run_cli(["inspect", path], capsys)
    assert code == 0 and "delay_kind: dendritic" in out and "10 dendritic delays" in out and "3 dendritic delays" in out


def test_a_synaptic_model_recast_as_axonal_starts_from_its_weighted_mean_delays():
    syn_model = _model("synaptic")
    with torch.no_grad():
        layer = syn_model.hidden[0].synapse
        layer.weight.zero_()
        layer.weight[0, 2, 0], layer.weight[1, 2, 0] = 1.0, 3.0
        layer.pos[0, 0, 2, 0], layer.pos[0, 1, 2, 0] = 2.0, -2.0  # delays 1 and 5: weighted mean position -1 (delay 4)
    axonal = recast(syn_model, "axonal")
    assert axonal.cfg.delay_kind == "axonal" and tuple(axonal.hidden[0].synapse.pos.shape) == (1, 1, 6, 1)
    assert float(axonal.hidden[0].synapse.pos[0, 0, 2, 0]) == pytest.approx(-1.0)
    assert torch.equal(axonal.hidden[0].synapse.weight, syn_model.hidden[0].synapse.weight)


def test_checkpoint_of_unknown_kind_is_refused_in_one_line(tmp_path, capsys):
    from delaysnn.errors import CheckpointError
    from delaysnn.model.checkpoint import load_checkpoint_and_metadata

    path = tmp_path / "a.pt"
    save_checkpoint(_model("axonal"), path)
    payload = torch.load(path, weights_only=True)
    old = {**payload, "config": {k: v for k, v in payload["config"].items() if k not in ("delay_kind", "delay_fraction")}}
    torch.save(old, tmp_path / "old.pt")  # no kind recorded: read as synaptic, which its positions do not fit
    with pytest.raises(CheckpointError, match=r"the positions are axonal delays: set config 'delay_kind' to 'axonal'"):
        load_checkpoint_and_metadata(tmp_path / "old.pt")
    odd = {**payload, "state_dict": {**payload["state_dict"], "readout.pos": torch.zeros(1, 2, 2, 1)}}
    torch.save(odd, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="fits no delay kind"):
        load_checkpoint(tmp_path / "odd.pt")
    torch.save({**payload, "config": {**payload["config"], "delay_kind": "somatic"}}, tmp_path / "bad.pt")
    code, _, err = run_cli(["inspect", tmp_path / "bad.pt"], capsys)
    assert code != 0 and "delay_kind must be one of synaptic, axonal, dendritic" in err and len(err.strip().splitlines()) == 1
    # and a synaptic checkpoint written before the field existed still reads
    syn = tmp_path / "s.pt"
    save_checkpoint(_model("synaptic"), syn)
    payload = torch.load(syn, weights_only=True)
    payload["config"] = {k: v for k, v in payload["config"].items() if k not in ("delay_kind", "delay_fraction")}
    torch.save(payload, syn)
    assert load_checkpoint(syn).cfg.delay_kind == "synaptic"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["axonal", "dendritic"])
def test_a_resumed_run_with_a_delay_fraction_is_bit_identical(tmp_path, kind):
    """The delay masks are picked after epoch 1 of 4 (the end of the sigma schedule) and travel
    in the resumable state: a run killed after epoch 2 resumes to the same model."""
    from delaysnn.data.datasets import synthetic_splits
    from delaysnn.training.train import TrainOptions, train

    tr, _ = synthetic_splits(n_train=64, n_test=16, seed=0)

    def fresh() -> DelaySNN:
        torch.manual_seed(0)
        return DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=8, hidden_layers=1, max_delay=9,
                                    delay_kind=kind, delay_fraction=0.5))

    whole = fresh()
    picked = []
    train(whole, tr, None, TrainOptions(epochs=4, progress=False, state_dir=tmp_path / "a"),
          on_epoch=lambda e, r: picked.append(int(whole.hidden[0].synapse.delay_mask.sum())))
    width = 16 if kind == "axonal" else 8
    assert picked == [width // 2] * 4  # picked at the end of epoch 1, then kept

    class Killed(Exception):
        pass

    def die(epoch, result):
        if epoch == 1:
            raise Killed

    opts = dict(epochs=4, progress=False, state_dir=tmp_path / "b")
    with pytest.raises(Killed):
        train(fresh(), tr, None, TrainOptions(**opts), on_epoch=die)
    resumed = fresh()
    train(resumed, tr, None, TrainOptions(**opts, resume=True))
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["axonal", "dendritic"])
def test_two_gloo_ranks_train_the_same_kind_and_masks(tmp_path, kind):
    """DDP: both ranks end with the same positions and delay masks (positions compared after every step)."""
    from tests.test_distributed import ARGS, _env, _run

    check = tmp_path / "check"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _run([*torchrun, "-m", "delaysnn", *ARGS, "--delay-kind", kind, "--delay-fraction", "0.5", "-o", str(tmp_path / "two.pt")],
         _env(DELAYSNN_DDP_CHECK=str(check)))
    r0, r1 = (torch.load(check / f"rank{r}.pt") for r in (0, 1))
    assert r0["steps_checked"] == r1["steps_checked"] > 0
    assert all(torch.equal(r0["state_dict"][k], r1["state_dict"][k]) for k in r0["state_dict"])
    assert any(k.endswith("delay_mask") for k in r0["state_dict"])
    model = load_checkpoint(tmp_path / "two.pt")
    assert model.cfg.delay_kind == kind and all(not bool(s.delay_mask.all()) for s in model.synapses)


def test_search_deployment_sweeps_the_kinds():
    """Each kind's candidates deploy the model recast to that kind: fewer delays stored, the
    kind in the label; the recast model goes to fine-tuning with its delays learning."""
    from pathlib import Path

    from delaysnn.app.frontier import Candidate, candidate_grid, search
    from delaysnn.data.datasets import synthetic_splits
    from hardware import load_profile

    model = load_checkpoint(Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt")
    train_set, test_set = synthetic_splits(n_train=64, n_test=32, seed=3)
    tuned: list[tuple[Candidate, str]] = []

    def fine_tune(m, cand):
        tuned.append((cand, m.cfg.delay_kind))
        return m

    grid = candidate_grid((4,), False, (None,), (0.0,), (None, "axonal", "dendritic"))
    result = search(model, train_set, train_set, test_set, profile=load_profile("unconstrained"), candidates=grid, max_qat=3, fine_tune=fine_tune)
    by = {p.candidate.delay_kind: p for p in result.points if p.stage == "ptq"}
    assert set(by) == {None, "axonal", "dendritic"} and by["axonal"].candidate.label == "axonal: 4-bit w, full d"
    assert by["axonal"].synaptic_kB < by[None].synaptic_kB and by["dendritic"].synaptic_kB < by[None].synaptic_kB
    assert {(c.delay_kind, kind) for c, kind in tuned} == {(None, "synaptic"), ("axonal", "axonal"), ("dendritic", "dendritic")}


def test_train_init_recasts_a_synaptic_checkpoint_and_its_delays_learn(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"
    out = tmp_path / "ax.pt"
    code, _, err = run_cli(["train", "--task", "synthetic", "--samples", "64", "--epochs", "1", "--init", example,
                            "--delay-kind", "axonal", "-o", out], capsys)
    assert code == 0, err
    assert "each neuron's delay starts at its synapses' weighted mean and learns" in err
    from delaysnn.model.checkpoint import load_checkpoint_and_metadata

    tuned, meta = load_checkpoint_and_metadata(out)
    assert tuned.cfg.delay_kind == "axonal" and tuple(tuned.hidden[0].synapse.pos.shape) == (1, 1, tuned.cfg.input_size, 1)
    assert meta["fine_tuning"]["learn_delays"] and meta["fine_tuning"]["lr_pos"] > 0

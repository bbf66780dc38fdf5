"""The training loop's parts (delaysnn.training.trainer.Trainer), each driven alone on a tiny model:
setup from a DeploySpec, one step, the end of an epoch, checkpointing and restoring through runs,
the DDP wrapper; and the policy api's train command delegates (spec.FineTuning, options.run_metadata)."""

import math

import pytest
import torch

from delaysnn.data.datasets import synthetic_splits
from delaysnn.errors import DataError, DelaysnnError
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.spec import FINE_TUNING_LR_POS, DeploySpec, FineTuning
from delaysnn.training import distributed, runs
from delaysnn.training.options import TrainOptions, run_metadata
from delaysnn.training.trainer import SIGMA_FINAL, EpochStats, Trainer


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(n_train=48, n_test=16, seed=0)


def _model(hidden_layers=1):
    torch.manual_seed(0)
    return DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=12, hidden_layers=hidden_layers, max_delay=9))


def _trainer(splits, **opts):
    tr, te = splits
    return Trainer(_model(), tr, TrainOptions(progress=False, batch_size=16, **opts), test_set=te, val_set=te)


def test_setup_trains_through_the_spec(splits):
    spec = DeploySpec("ternary", None, 3, prune=0.5)
    t = _trainer(splits, epochs=4, spec=spec, freeze_bn_stats=True, dropout=0.1)
    m = t.model
    assert m.freeze_bn_stats and m.cfg.dropout == 0.1
    assert t.masks is not None and all(bool((s.weight[~mask] == 0).all()) for s, mask in zip(m.synapses, t.masks))
    assert [mask.float().mean().item() for mask in t.masks] == [0.5, 0.5]
    assert len(t.optimizers) == len(t.schedulers) == 2  # weights and BatchNorm; positions
    assert t.fingerprint["qat_ternary"] and t.fingerprint["delay_bits"] == 3 and t.fingerprint["config"] == m.cfg.to_dict()
    assert t.setup["world_size"] == 1 and t.setup["per_rank_batch"] == 16
    fixed = _trainer(splits, epochs=4, learn_delays=False)
    assert len(fixed.optimizers) == 1 and fixed.sigma_decay == 1.0 and fixed.masks is None


def test_setup_refuses_an_empty_split_and_other_channels(splits):
    tr, te = splits
    with pytest.raises(DataError, match="validation split .* has no samples"):
        Trainer(_model(), tr, TrainOptions(), val_set=te.subset(0))
    wrong = DelaySNN(ModelConfig(input_size=5, output_size=4, hidden_size=4, hidden_layers=1, max_delay=3))
    with pytest.raises(DelaysnnError, match="16 channels, model input_size is 5"):
        Trainer(wrong, tr, TrainOptions())


def test_a_step_moves_the_weights_and_keeps_pruned_synapses_at_zero(splits):
    t = _trainer(splits, epochs=2, spec=DeploySpec(prune=0.5))
    x, y = splits[0].x[:16].float(), splits[0].y[:16]
    before = t.model.synapses[0].weight.detach().clone()
    with torch.no_grad():
        t.model.synapses[0].pos.view(-1)[0] = 1000.0  # far outside the kernel: the step clamps it back
    loss, scores, spikes = t.step(x, y, 16)
    after = t.model.synapses[0].weight.detach()
    assert math.isfinite(loss.item()) and scores.shape == (16, 4) and len(spikes) == 1
    assert not torch.equal(before, after)
    assert bool((after[~t.masks[0]] == 0).all())
    pos = t.model.synapses[0].pos.detach().clone()
    t.model.clamp_positions()
    assert float(pos.max()) < 1000 and torch.equal(pos, t.model.synapses[0].pos.detach())


def test_distillation_mixes_the_teacher_into_the_loss(splits, tmp_path):
    from delaysnn.model.checkpoint import save_checkpoint

    save_checkpoint(_model(), tmp_path / "teacher.pt")
    x, y = splits[0].x[:16].float(), splits[0].y[:16]
    alone = _trainer(splits, epochs=1)
    taught = _trainer(splits, epochs=1, distill=tmp_path / "teacher.pt", distill_weight=1.0)
    scores = alone.model.eval()(x).sum(1)  # any scores: the losses differ only in their teacher term
    assert taught.teacher is not None and not taught.teacher.training
    plain, kd = alone.loss(scores, y, x, 16), taught.loss(scores, y, x, 16)
    assert not torch.isclose(plain, kd)


def test_end_of_epoch_decays_sigma_steps_the_schedules_and_selects(splits):
    t = _trainer(splits, epochs=4)  # sigma decays over the first epoch, to SIGMA_FINAL
    lr0 = t.optimizers[0].param_groups[0]["lr"]
    stats = t.run_epoch(0)
    assert stats.seen == 48 and len(stats.losses) == 3 and 0 <= stats.correct <= 48
    row = t.end_epoch(0, stats, t.model.sigma, [lr0], 0.0)
    assert abs(t.model.sigma - SIGMA_FINAL) < 1e-6 and t.optimizers[0].param_groups[0]["lr"] != lr0
    assert row["epoch"] == 1 and row["val_acc"] == row["test_acc"] is not None and t.result.rows == [row]
    assert t.best["epoch"] == 1 and t.best["val_acc"] == row["val_acc"]
    assert set(row) == set(runs.METRIC_FIELDS)


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # end_epoch before any step, on purpose
def test_a_diverged_epoch_is_refused_naming_the_freeze_note(splits):
    t = _trainer(splits, epochs=2, spec=DeploySpec("binary"))
    with pytest.raises(DelaysnnError, match="training diverged at epoch 1 .*--freeze-bn-stats"):
        t.end_epoch(0, EpochStats([float("nan")], 0, 16, [0.0]), 1.0, [1e-3], 0.0)


def test_checkpoint_and_restore_through_runs(splits, tmp_path):
    opts = dict(epochs=3, state_dir=tmp_path / "s", metrics_path=tmp_path / "m.jsonl", spec=DeploySpec(prune=0.5))
    t = _trainer(splits, **opts)
    t.restore()  # no state yet: a fresh start, the directory made
    row = t.end_epoch(0, t.run_epoch(0), t.model.sigma, [0.0, 0.0], 0.0)
    t.checkpoint(1)
    assert [p.name for p in runs.state_paths(tmp_path / "s")] == ["epoch-0001.pt"]
    assert runs.read_metrics(tmp_path / "m.jsonl")[0]["loss"] == pytest.approx(row["loss"])

    again = _trainer(splits, **opts, resume=True)
    again.restore()
    assert again.result.resumed_from == 1 and again.result.rows[0]["loss"] == row["loss"]
    assert again.sigma0 == t.sigma0 and again.best["epoch"] == 1
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), t.model.state_dict().values()))
    assert torch.equal(again.gen.get_state(), t.gen.get_state())
    assert again.schedulers[0].last_epoch == t.schedulers[0].last_epoch == 1 and all(torch.equal(a, b) for a, b in zip(again.masks, t.masks))
    other = _trainer(splits, **{**opts, "lr": 0.5}, resume=True)
    with pytest.raises(DelaysnnError, match="--resume with other settings"):
        other.restore()


def test_finish_selects_rounds_and_leaves_eval_mode_on_cpu(splits):
    t = _trainer(splits, epochs=2)
    for epoch in range(2):
        t.end_epoch(epoch, t.run_epoch(epoch), t.model.sigma, [0.0, 0.0], 0.0)
    t.best = {"epoch": 1, "val_acc": 1.0, "state_dict": {k: v.clone() for k, v in _model().state_dict().items()}}
    result = t.finish()
    assert result.selected_epoch == 1 and not t.model.training and not t.model.freeze_bn_stats
    assert torch.equal(t.model.synapses[0].weight, t.best["state_dict"]["hidden.0.synapse.weight"])  # the selected model
    assert all(torch.equal(s.pos, s.pos.round()) for s in t.model.synapses)
    assert result.setup == t.setup


def test_the_ddp_wrapper_runs_the_models_forward_trace(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = _model()
        forward, sync_bn = distributed.data_parallel(model, torch.device("cpu"))
        x = torch.rand(2, 20, 16)
        model.eval()
        with sync_bn:
            assert type(model.hidden[0].bn) is distributed.GlobalBatchNorm1d
            v, spikes = forward(x)
        assert type(model.hidden[0].bn) is torch.nn.BatchNorm1d
        expected_v, expected_spikes = model.forward_trace(x)
        assert torch.equal(v, expected_v) and all(torch.equal(a, b) for a, b in zip(spikes, expected_spikes))
    finally:
        dist.destroy_process_group()


def test_fine_tuning_settings_become_train_options():
    tuned, header = FineTuning().resolve(DeploySpec("ternary", None, 3), "m.pt")
    kw = tuned.train_options(1e-3)
    assert kw == dict(learn_delays=True, lr_pos=FINE_TUNING_LR_POS * 1e-3, freeze_bn_stats=True, distill="m.pt", dropout=0.1)
    assert header.startswith("fine-tuning recipe: distilled from m.pt")
    plain, header = FineTuning(lr_pos=0.05, learn_delays=True).resolve(DeploySpec(), "m.pt")
    assert header is None and plain.train_options(1e-3)["lr_pos"] == 0.05
    fresh = FineTuning(dropout=0.3, learn_delays=True).train_options(1e-3, fine_tuning=False)
    assert fresh["lr_pos"] is None and fresh["dropout"] is None  # TrainOptions' 100 x lr; the dropout is in the config


def test_run_metadata_records_the_run():
    opts = TrainOptions(epochs=2, seed=3, spec=DeploySpec("fixed", 4, 3), distill="m.pt", learn_delays=True, lr_pos=0.01)
    result = runs.TrainResult(rows=[{"test_acc": 0.5, "val_acc": 0.7}, {"test_acc": 0.6, "val_acc": 0.6}], selected_epoch=1,
                              setup={"world_size": 1})
    meta = run_metadata(opts, result, task="synthetic", input_max_count=2, dropout=0.1, init="m.pt", val_split="10 %")
    assert meta == {"task": "synthetic", "epochs": 2, "test_acc": 0.5, "seed": 3, "input_max_count": 2, "qat": "4", "delay_bits": 3,
                    "delay_grid": "step", "fine_tuning": {"init": "m.pt", "distill": "m.pt", "freeze_bn_stats": False, "dropout": 0.1,
                                                          "learn_delays": True, "lr_pos": 0.01},
                    "selected_by": "val_acc", "selected_epoch": 1, "val_split": "10 %", "val_acc": 0.7, "last_epoch_test_acc": 0.6,
                    "world_size": 1}
    assert "fine_tuning" not in run_metadata(opts, result, task="synthetic", input_max_count=2, dropout=0.1)

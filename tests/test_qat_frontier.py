"""QAT for the memory frontier (issue 13): delay grids, ternary weights, pruning with fine-tuning.

Every QAT option must train on exactly what ``delaysnn.quantize`` deploys with the same options.
One small model is trained once per module (synthetic task, CPU, ~5 s); each test fine-tunes a
copy of it for one to three epochs.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from delaysnn.data.datasets import synthetic_splits
from delaysnn.errors import DelaysnnError
from delaysnn.ir import WeightKind
from delaysnn.model import DelaySNN, ModelConfig, class_scores
from delaysnn.model.checkpoint import load_checkpoint, load_checkpoint_and_metadata, save_checkpoint
from delaysnn.model.fold import bn_fold, fold_model
from delaysnn.quantization import quantize_model, quantize_with_report
from delaysnn.training.runs import state_paths
from delaysnn.training.train import TrainOptions, deployment_settings, quantize_defaults, train
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(n_train=512, n_test=128, seed=0)


@pytest.fixture(scope="module")
def trained(splits):
    """A float model with learned delays (max delay 25: the grids below coarsen them)."""
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=24, hidden_layers=1, max_delay=25, dropout=0.1))
    train(model, splits[0], splits[1], TrainOptions(epochs=6, progress=False))
    return model


@torch.no_grad()
def _loss(model: DelaySNN, data) -> float:
    """Cross-entropy of the hard-delay model (eval mode, with whatever QAT grids are set)."""
    model.eval()
    return float(np.mean([float(F.cross_entropy(class_scores(model(x)), y)) for x, y in data.batches(256)]))


def _folded_mask(model: DelaySNN) -> list[np.ndarray]:
    return [lay.weight != 0 for lay in fold_model(model)]


@pytest.mark.parametrize("mode", ["step", "cap"])
@pytest.mark.slow
def test_qat_through_the_delay_grid_lowers_the_loss_and_deploys_its_grid(trained, splits, mode):
    train_set, test_set = splits
    bits = 3
    model = copy.deepcopy(trained)
    model.set_qat(4)
    model.set_delay_qat(bits, mode)
    before = _loss(model, train_set)  # post-training quantization: delays snapped, weights not adapted
    opts = TrainOptions(epochs=3, progress=False, qat_bits=4, delay_bits=bits, delay_grid=mode, learn_delays=True, lr_pos=1e-2)
    moved = []  # the positions learn through the straight-through snap (before the final rounding)
    result = train(model, train_set, test_set, opts, on_epoch=lambda e, r: moved.append(
        float((model.hidden[0].synapse.pos - trained.hidden[0].synapse.pos).abs().max())))
    after = _loss(model, train_set)
    assert after < before - 0.05, (before, after, result.train_loss)
    assert moved[-1] > 0

    net = quantize_model(model, weight_bits=4, delay_bits=bits, delay_grid=mode)
    for k, (layer, qat_delays) in enumerate(zip(net.layers, model.deployed_delays())):
        carried = layer.weight != 0
        assert carried.any() and len(np.unique(layer.delay[carried])) <= 2**bits
        assert layer.delay_bits == bits
        # QAT trained on the delays quantize deploys, synapse for synapse
        np.testing.assert_array_equal(layer.delay[carried], qat_delays[..., 0].numpy()[carried], err_msg=f"layer {k}")
    if mode == "step":
        assert max(layer.delay_step for layer in net.layers) > 1  # 24 steps on 3 bits: a coarser step
    else:
        assert max(int(layer.delay.max()) for layer in net.layers) <= 2**bits - 1


def test_delay_qat_gradient_reaches_the_positions():
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=9))
    model.set_delay_qat(2, "step")
    model.train()
    model((torch.rand(3, 12, 4) < 0.5).float()).sum().backward()
    assert all(float(s.pos.grad.abs().sum()) > 0 for s in model.synapses)
    for syn, delays in zip(model.synapses, model.deployed_delays()):
        grid = syn.qat_delay_grid()
        assert len(delays.unique()) <= 4 and int(delays.max()) <= 8  # never beyond the kernel
        assert torch.equal(delays % grid.step, torch.zeros_like(delays))


@pytest.mark.slow
def test_ternary_qat_trains_on_the_deployed_ternary_weights(trained, splits):
    model = copy.deepcopy(trained)
    train(model, splits[0], None, TrainOptions(epochs=1, progress=False, qat_ternary=True, learn_delays=False))
    net, report = quantize_with_report(model, ternary=True)
    for layer, rep, k in zip(net.layers, report.layers, range(len(net.layers))):
        assert layer.weight_kind is WeightKind.TERNARY and set(np.unique(layer.weight)) == {-1, 0, 1}
        syn = model.synapses[k]
        gain = bn_fold(model.hidden[k])[0] if k < len(model.hidden) else torch.ones(syn.out_features, dtype=torch.float64)
        trained_w = (gain.view(-1, 1) * syn.effective_weight(gain if k < len(model.hidden) else None).detach().double()[..., 0])
        np.testing.assert_allclose(trained_w.numpy(), layer.weight * rep.step, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.slow
def test_pruned_synapses_stay_exactly_zero_through_training_and_quantization(trained, splits, tmp_path, scope):
    model = copy.deepcopy(trained)
    opts = TrainOptions(epochs=2, progress=False, qat_bits=4, prune=0.8, prune_scope=scope, learn_delays=False)
    from delaysnn.quantization.grids import prune_masks

    masks = prune_masks([torch.from_numpy(lay.weight) for lay in fold_model(trained)], 0.8, scope)
    seen = []
    train(model, splits[0], splits[1], opts, on_epoch=lambda e, r: seen.append([s.weight.detach().clone() for s in model.synapses]))
    n = [m.numel() for m in masks]
    if scope == "layer":
        assert [int(m.sum()) for m in masks] == [round(0.2 * k) for k in n]
    else:
        # every layer keeps at least its largest synapse (here the readout's scale is below the hidden layer's)
        assert round(0.2 * sum(n)) <= sum(int(m.sum()) for m in masks) <= round(0.2 * sum(n)) + len(n)
    for weights in seen:  # after every epoch
        for w, keep in zip(weights, masks):
            assert torch.equal(w[..., 0][~keep], torch.zeros(int((~keep).sum())))
            assert bool((w[..., 0][keep] != 0).all())
    path = tmp_path / "pruned.pt"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    assert [torch.equal(torch.from_numpy(m), torch.from_numpy(k.numpy())) for m, k in zip(_folded_mask(loaded), masks)] == [True] * len(masks)
    # quantize --prune of the fine-tuned model picks the same synapses (it ranks the same folded
    # weights: the pruned ones are the zeros); without --prune they are absent too
    again = prune_masks([torch.from_numpy(lay.weight) for lay in fold_model(loaded)], 0.8, scope)
    assert all(torch.equal(a, m) for a, m in zip(again, masks))
    for options in ({"prune": 0.8, "prune_scope": scope}, {}):
        net = quantize_model(loaded, weight_bits=4, **options)
        for layer, keep in zip(net.layers, masks):
            absent = ~keep.numpy()
            assert (layer.weight[absent] == 0).all() and (layer.delay[absent] == 0).all()
            assert (layer.weight[keep.numpy()] != 0).mean() > 0.5


@pytest.mark.parametrize("options", [
    {"qat_ternary": True, "delay_bits": 4, "delay_grid": "cap", "learn_delays": True, "lr_pos": 1e-2},
    {"qat_bits": 4, "prune": 0.5, "prune_scope": "global", "learn_delays": False},
])
@pytest.mark.slow
def test_resume_with_qat_options_is_bit_identical(trained, tmp_path, options):
    tr, te = synthetic_splits(n_train=128, n_test=64, seed=1)
    common = dict(epochs=3, progress=False, **options)
    whole = copy.deepcopy(trained)
    full = train(whole, tr, te, TrainOptions(**common, state_dir=tmp_path / "a"))

    class Killed(Exception):
        pass

    def die(epoch, result):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(copy.deepcopy(trained), tr, te, TrainOptions(**common, state_dir=tmp_path / "b"), on_epoch=die)
    assert len(state_paths(tmp_path / "b")) == 2
    resumed_model = copy.deepcopy(trained)
    resumed = train(resumed_model, tr, te, TrainOptions(**common, state_dir=tmp_path / "b", resume=True))
    assert resumed.resumed_from == 2 and resumed.train_loss == full.train_loss
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    # another grid than the interrupted run's: refused
    changed = {**common, "delay_bits": 5} if "delay_bits" in options else {**common, "prune": 0.6}
    with pytest.raises(DelaysnnError, match="--resume with other settings"):
        train(copy.deepcopy(trained), tr, te, TrainOptions(**changed, state_dir=tmp_path / "b", resume=True))


def test_settings_recorded_for_quantize():
    opts = TrainOptions(qat_ternary=True, delay_bits=5, delay_grid="cap", prune=0.8, prune_scope="global")
    meta = deployment_settings(opts)
    assert meta == {"qat": "ternary", "delay_bits": 5, "delay_grid": "cap", "prune": 0.8, "prune_scope": "global"}
    assert quantize_defaults(meta) == {"ternary": True, "delay_bits": 5, "delay_grid": "cap", "prune": 0.8, "prune_scope": "global"}
    assert quantize_defaults({"qat": "4"}) == {"weight_bits": 4}  # an older checkpoint's record
    assert quantize_defaults({"qat": "binary", "task": "synthetic"}) == {"binary": True}
    assert quantize_defaults({}) == {} and deployment_settings(TrainOptions()) == {}


@pytest.mark.parametrize("bad, match", [
    ({"delay_bits": 0}, "--delay-bits"),
    ({"delay_bits": 13}, "--delay-bits"),
    ({"delay_bits": 4, "delay_grid": "log"}, "--delay-grid 'log' unknown"),
    ({"prune": 1.0}, "--prune"),
    ({"prune": -0.1}, "--prune"),
    ({"prune": 0.5, "prune_scope": "row"}, "--prune-scope 'row' unknown"),
    ({"qat_bits": 4, "qat_ternary": True}, "--qat takes one of"),
])
def test_bad_options_are_one_line_errors(bad, match):
    with pytest.raises(DelaysnnError, match=match) as err:
        TrainOptions(**bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("args", [
    ["--delay-bits", "0"],
    ["--delay-bits", "13"],
    ["--prune", "1.0", "--init", "m.pt"],
    ["--prune", "-0.1", "--init", "m.pt"],
    ["--prune", "0.5"],  # pruning needs a trained model to prune
    ["--delay-grid", "cap"],
    ["--prune-scope", "global", "--init", "m.pt"],
    ["--qat", "quaternary"],
])
def test_cli_refuses_bad_qat_options(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", *args, "-o", "out.pt"], capsys)
    assert code == 2 and "Error" in err and err.strip().splitlines()[-1].startswith("Error")
    assert list(tmp_path.iterdir()) == []


def test_cli_fine_tunes_and_records_the_settings(trained, tmp_path, capsys):
    init = tmp_path / "base.pt"
    save_checkpoint(trained, init)
    out = tmp_path / "q.pt"
    code, stdout, err = run_cli(["train", "--init", init, "--samples", "128", "--epochs", "1", "--qat", "ternary",
                                 "--delay-bits", "4", "--prune", "0.5", "--prune-scope", "global", "-o", out], capsys)
    assert code == 0, err
    model, meta = load_checkpoint_and_metadata(out)
    assert {k: meta[k] for k in ("qat", "delay_bits", "delay_grid", "prune", "prune_scope")} == {
        "qat": "ternary", "delay_bits": 4, "delay_grid": "step", "prune": 0.5, "prune_scope": "global"}
    zeros = sum(int((s.weight == 0).sum()) for s in model.synapses)
    pruned = round(0.5 * sum(s.weight.numel() for s in model.synapses))
    assert pruned - len(model.synapses) <= zeros <= pruned  # a layer pruned away keeps its largest synapse
    net = quantize_model(model, **quantize_defaults(meta))
    assert all(layer.weight_kind is WeightKind.TERNARY and layer.delay_bits == 4 for layer in net.layers)
    # quantize/export without options deploy on the recorded grids; an explicit option wins
    from delaysnn import ir

    code, _, err = run_cli(["quantize", out, "-o", tmp_path / "q.dnet"], capsys)
    assert code == 0, err
    deployed = ir.load(tmp_path / "q.dnet")
    assert all(layer.weight_kind is WeightKind.TERNARY and layer.delay_bits == 4 for layer in deployed.layers)
    assert [np.array_equal(a.weight, b.weight) for a, b in zip(deployed.layers, net.layers)] == [True] * len(net.layers)
    code, _, err = run_cli(["quantize", out, "-o", tmp_path / "q8.dnet", "--weight-bits", "8"], capsys)
    assert code == 0, err
    assert all(layer.weight_kind is WeightKind.FIXED and layer.weight_bits == 8 and layer.delay_bits == 4 for layer in ir.load(tmp_path / "q8.dnet").layers)


@pytest.mark.parametrize("bits, mode", [(2, "step"), (3, "step"), (2, "cap")])
def test_qat_and_quantize_build_the_same_delay_grid_at_the_kernel_edge(bits, mode):
    """Delays up to the kernel's last tap (K-1 = 8): a step grid must not snap one beyond it
    (8 on 2 bits: step 3, so 6, not 9), in QAT and in the quantizer alike."""
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=9)).eval()
    model.set_qat(4)
    model.set_delay_qat(bits, mode)
    net = quantize_model(model, weight_bits=4, delay_bits=bits, delay_grid=mode)
    for layer, qat_delays in zip(net.layers, model.deployed_delays()):
        carried = layer.weight != 0
        assert int(layer.delay.max()) <= 8
        np.testing.assert_array_equal(layer.delay[carried], qat_delays[..., 0].numpy()[carried])


def _small_gain_binary_model() -> DelaySNN:
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=8, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5, dropout=0.0))
    model.round_positions()
    with torch.no_grad():
        model.hidden[0].bn.weight[0] = 0.05  # one row with a small BatchNorm gain
    model.set_qat(None, binary=True)
    return model


@pytest.mark.slow
def test_binary_qat_running_variance_blows_up_unless_statistics_are_frozen():
    """Issue 11: a binary row's QAT weights are sign(W g) * scale / g, so its variance ~ 1/g^2 ~
    running_var: each training-mode forward multiplies running_var (no optimizer needed)."""
    x = (torch.rand(16, 20, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    model = _small_gain_binary_model().train()
    start = float(model.hidden[0].bn.running_var[0])
    with torch.no_grad():
        for _ in range(40):
            model(x)
    assert not float(model.hidden[0].bn.running_var[0]) < 1e30, start  # inf (or about to be)

    frozen = _small_gain_binary_model()
    frozen.freeze_bn_stats = True
    frozen.train()
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    with torch.no_grad():
        for _ in range(40):
            v_train = frozen(x)
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())
    assert torch.equal(v_train, frozen.eval()(x))  # training sees the deployed (folded) computation


@pytest.mark.slow
def test_frozen_statistics_keep_long_binary_qat_finite():
    tr, _ = synthetic_splits(n_train=64, n_test=16, seed=0)
    tr = type(tr)(tr.x[:, :, :8], tr.y % 2, 2, tr.name, tr.time_step_ms)
    opts = dict(epochs=6, batch_size=8, progress=False, learn_delays=False, qat_binary=True)
    with pytest.raises(DelaysnnError, match="training diverged.*--freeze-bn-stats"):
        train(_small_gain_binary_model(), tr, None, TrainOptions(**opts))
    model = _small_gain_binary_model()
    var = model.hidden[0].bn.running_var.clone()
    train(model, tr, None, TrainOptions(**opts, freeze_bn_stats=True))
    assert torch.equal(model.hidden[0].bn.running_var, var) and not model.freeze_bn_stats

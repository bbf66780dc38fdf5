"""delaysnn.ir.folded, the float IR, and delaysnn.model.fold: folding (BatchNorm, rounded delays, DCLS taps), the numpy
reference forward against the torch model and against values worked by hand, validation."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import torch

from delaysnn.errors import DataError, IRValidationError, UnsupportedError
from delaysnn.ir.folded import FoldedLayer, FoldedNetwork, as_folded, run
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.fold import fold, fold_model


def _model(seed: int = 0, **overrides) -> DelaySNN:
    torch.manual_seed(seed)
    cfg = dict(input_size=5, output_size=3, hidden_size=7, hidden_layers=2, max_delay=7, tau=2.0, readout_tau=2.5)
    cfg.update(overrides)
    model = DelaySNN(ModelConfig(**cfg))
    with torch.no_grad():
        for syn in model.synapses:
            syn.pos.uniform_(-3.4, 3.4)
            syn.sig.fill_(0.23)
        for layer in model.hidden:
            if layer.bn is not None:
                layer.bn.running_mean.uniform_(-0.3, 0.3)
                layer.bn.running_var.uniform_(0.5, 2.0)
                layer.bn.bias.uniform_(0.2, 0.6)
    return model.eval()


def _spikes(seed: int = 1, steps: int = 14) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(3, steps, 5, generator=g) < 0.35).float() * torch.randint(1, 3, (3, steps, 5), generator=g)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"synaptic_tau": 2.0}, {"truncate_layers": True}, {"batchnorm": False}, {"kernel_count": 2}, {"hidden_layers": 0}],
    ids=["plain", "filter", "per-layer", "no-bn", "two-taps", "readout-only"],
)
def test_reference_forward_equals_the_model(overrides):
    model = _model(**overrides)
    x = _spikes()
    with torch.no_grad():
        v, spikes = model.forward_trace(x)
    fnet = fold(model)
    v_ref, spikes_ref = run(fnet, x)
    assert v_ref.shape == tuple(v.shape) == (3, fnet.output_steps(14), 3)
    np.testing.assert_allclose(v_ref, v.numpy(), atol=1e-5, rtol=0)
    assert all(np.array_equal(a.numpy(), b) for a, b in zip(spikes, spikes_ref)) and len(spikes_ref) == len(spikes)
    if spikes:
        assert sum(float(s.sum()) for s in spikes) > 0  # not vacuous


def test_network_fields():
    model = _model(truncate_layers=True, synaptic_tau=3.0, time_step_ms=2.5)
    fnet = fold(model)
    assert (fnet.input_size, fnet.time_step_ms, fnet.max_delay, fnet.padding) == (5, 2.5, 7, "per_layer")
    assert fnet.right_padding == 3 and fnet.tail_steps == 9 and fnet.output_steps(10) == 19 and fnet.sizes == [5, 7, 7, 3]
    hidden, readout = fnet.layers[0], fnet.layers[-1]
    assert (hidden.tau, hidden.synaptic_tau, hidden.threshold) == (2.0, 3.0, 1.0)
    assert (readout.tau, readout.synaptic_tau, readout.threshold, fnet.readout_tau) == (2.5, None, None, 2.5)
    assert not readout.bias.any() and readout.name == "layer 2 (readout)"
    assert fnet.source is not None and fnet.source.config == model.cfg.to_dict()
    assert fold(_model()).padding == "once"


def test_batchnorm_folded_by_hand():
    """One input, one hidden neuron, one output: weight, delay and bias worked out by hand."""
    model = DelaySNN(ModelConfig(input_size=1, output_size=1, hidden_size=1, hidden_layers=1, max_delay=5))
    with torch.no_grad():
        model.hidden[0].synapse.weight.fill_(0.5)
        model.hidden[0].synapse.pos.fill_(-1.0)  # tap index -1 + 5//2 = 1: delay 5//2 - (-1) = 3
        model.readout.pos.fill_(2.0)  # delay 0
        bn = model.hidden[0].bn
        bn.running_mean.fill_(0.1)
        bn.running_var.fill_(3.0)
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.3)
    lay = fold(model).layers[0]
    f32 = lambda v: float(np.float32(v))  # noqa: E731 (the buffers are float32; folding is float64)
    gain = 2.0 / np.sqrt(3.0 + bn.eps)
    assert lay.delay.tolist() == [[3]] and fold(model).layers[1].delay.tolist() == [[0]]
    assert lay.weight[0, 0] == pytest.approx(f32(np.float32(0.5) * np.float32(1 / (1 + 1e-7))) * gain, rel=1e-12)
    assert lay.bias[0] == pytest.approx(f32(0.3) - f32(0.1) * gain, rel=1e-12)


def test_taps_on_different_delays_are_planes():
    """kernel_count 2 with taps on delays 0 and 6: the float IR keeps both (every exporter reads
    them); the quantizer's view refuses them (one delay per synapse in the integer IR)."""
    model = _model(kernel_count=2)
    with torch.no_grad():
        for syn in model.synapses:
            syn.pos[..., 0] = 3.0
            syn.pos[..., 1] = -3.0
    fnet = fold(model)
    lay = fnet.layers[0]
    assert len(lay.taps) == 1 and set(lay.dense()) == {0, 6}
    assert (lay.delay[lay.weight != 0] == 0).all() and (lay.taps[0][1][lay.taps[0][0] != 0] == 6).all()
    post, pre, delay, weight = lay.synapses()
    assert post.size == 2 * 7 * 5 and set(delay.tolist()) == {0, 6}
    with pytest.raises(UnsupportedError, match="layer 0: 35 synapses have taps on different delays"):
        fold_model(model)


def test_fold_leaves_the_model_alone():
    model = _model().train()
    before = [s.pos.detach().clone() for s in model.synapses]
    fold(model)
    assert model.training and all(torch.equal(b, s.pos) for b, s in zip(before, model.synapses))


def test_qat_transforms_are_the_models_forward():
    """A model training through the quantizer's grid: ``fold`` folds what its forward computes,
    ``transforms=False`` (the quantizer's input) the raw float weights."""
    model = _model()
    model.set_qat(3)
    x = _spikes()
    with torch.no_grad():
        v, _ = model.forward_trace(x)
    np.testing.assert_allclose(run(fold(model), x)[0], v.numpy(), atol=1e-5, rtol=0)
    raw = fold(model, transforms=False)
    model.set_qat(None)
    with torch.no_grad():
        v_raw, _ = model.forward_trace(x)
    np.testing.assert_allclose(run(raw, x)[0], v_raw.numpy(), atol=1e-5, rtol=0)
    assert np.abs(v_raw.numpy() - v.numpy()).max() > 1e-3  # the grid does change the forward


def test_check_names_every_problem():
    fnet = fold(_model())
    bad = dataclasses.replace(fnet, padding="twice", layers=[dataclasses.replace(fnet.layers[0], delay=fnet.layers[0].delay + 7)] + fnet.layers[1:])
    with pytest.raises(IRValidationError) as err:
        bad.check()
    assert "padding 'twice'" in str(err.value) and "layer 0: delays outside 0..6" in str(err.value)
    nan = dataclasses.replace(fnet.layers[1], weight=np.full_like(fnet.layers[1].weight, np.nan))
    with pytest.raises(IRValidationError, match="layer 1: non-finite weights"):
        dataclasses.replace(fnet, layers=[fnet.layers[0], nan, fnet.layers[2]]).check()
    with pytest.raises(IRValidationError, match="readout none"):
        dataclasses.replace(fnet, layers=fnet.layers[:-1]).check()


def test_handmade_network_and_bad_inputs():
    """A float IR built by hand (no torch model): 2 inputs -> 1 LIF -> 1 readout, values by hand."""
    hidden = FoldedLayer("h", np.array([[1.0, 0.5]]), np.array([[0, 2]]), np.array([0.25]), tau=2.0, synaptic_tau=None, threshold=1.0)
    out = FoldedLayer("o", np.array([[2.0]]), np.array([[1]]), np.zeros(1), tau=1.0, synaptic_tau=None, threshold=None)
    fnet = FoldedNetwork(input_size=2, time_step_ms=1.0, max_delay=3, layers=[hidden, out])
    x = np.zeros((1, 3, 2))
    x[0, 0] = [1, 1]
    v, (s,) = run(fnet, x)
    # hidden: t0 v=1+.25 -> fires; t1 v=.25; t2 v=.125+.5+.25=.875
    np.testing.assert_array_equal(s[0, :, 0], [1, 0, 0])
    # readout (tau 1: no memory) sees the hidden spike one step later
    np.testing.assert_array_equal(v[0, :, 0], [0, 2, 0])
    assert as_folded(fnet) is fnet
    with pytest.raises(DataError, match=r"expected \[batch >= 1, time >= 1, 2\]"):
        run(fnet, np.zeros((1, 3, 4)))
    with pytest.raises(DataError, match="finite"):
        run(fnet, np.full((1, 3, 2), np.inf))
    with pytest.raises(UnsupportedError, match="expected a DelaySNN or a FoldedNetwork"):
        as_folded("model.pt")


def test_importing_the_float_ir_loads_no_torch():
    import subprocess

    code = "import sys, delaysnn.ir.folded; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

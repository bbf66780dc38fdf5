"""delaysnn.quantization: BN folding, delay extraction, weight grids, neuron mapping, float/int agreement."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from delaysnn import ir
from delaysnn.errors import CheckpointError, HardwareLimitError, UnsupportedError
from delaysnn.ir import WeightKind
from delaysnn.model import DelaySNN, ModelConfig, class_scores, leaky_integrator
from delaysnn.model.fold import bn_fold, fold_model
from delaysnn.quantization import (
    decay_for_tau,
    fake_quantize,
    input_bits_for,
    quantize_model,
    quantize_with_report,
    weight_grid,
)
from delaysnn.sim import simulate

# --- helpers -----------------------------------------------------------------------------------


def make_model(seed: int = 0, calibrate: bool = True, **overrides) -> DelaySNN:
    """A small random model whose BatchNorm statistics come from random input (realistic rates)."""
    torch.manual_seed(seed)
    cfg = dict(input_size=12, output_size=4, hidden_size=24, hidden_layers=2, max_delay=7, dropout=0.0)
    cfg.update(overrides)
    model = DelaySNN(ModelConfig(**cfg))
    model.set_sigma(0.0)
    model.round_positions()
    if calibrate and model.cfg.batchnorm:
        for layer in model.hidden:
            layer.bn.momentum = None  # cumulative average
        model.train()
        with torch.no_grad():
            model(random_input(64, 20, cfg["input_size"], seed=seed + 100))
        with torch.no_grad():
            for layer in model.hidden:
                layer.bn.weight.uniform_(0.6, 1.4)
                layer.bn.bias.uniform_(-0.3, 0.3)
    model.eval()
    return model


def random_input(batch: int, steps: int, channels: int, seed: int = 1, max_count: int = 1, p: float = 0.25) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(batch, steps, channels, generator=g) < p).float()
    if max_count > 1:
        spikes = spikes * torch.randint(1, max_count + 1, spikes.shape, generator=g).float()
    return spikes


def reference_sim(net: ir.DelayNetwork, x: np.ndarray, steps: int, check_wrap: bool = False):
    """DESIGN section 4, written out plainly (numpy int64). Input x[t] is emitted at step t.

    Returns ``(spikes per hidden layer [B, steps, out], readout v [B, steps, out])``.
    """
    b = x.shape[0]
    s = np.zeros((b, steps, x.shape[2]), dtype=np.int64)
    s[:, : x.shape[1]] = x
    spikes = []
    for layer in net.layers:
        n = layer.neuron
        w = layer.weight.astype(np.int64) << layer.weight_exp
        a = np.zeros((b, steps, w.shape[0]), dtype=np.int64)
        for d in np.unique(layer.delay):
            wd = np.where(layer.delay == d, w, 0)
            shift = 1 + int(d)
            if shift < steps:
                a[:, shift:] += s[:, : steps - shift] @ wd.T
        u = np.zeros((b, w.shape[0]), dtype=np.int64)
        v = np.zeros_like(u)
        bias = n.bias_mant.astype(np.int64) << n.bias_exp
        vth = (ir.READOUT_VTH if n.vth is None else n.vth) << 6
        out = np.zeros_like(a)
        vs = np.zeros_like(a)
        for t in range(steps):
            p = u * (4096 - (n.du + 1))
            u = np.sign(p) * (np.abs(p) >> 12) + (a[:, t] << 6)
            if check_wrap and (np.any(u > 2**23) or np.any(u <= -(2**23))):
                raise AssertionError("u wrapped")
            u = np.where(u > 2**23, u - 2**24, u)
            u = np.where(u <= -(2**23), u + 2**24, u)
            p = v * (4096 - n.dv)
            v = np.sign(p) * (np.abs(p) >> 12) + u + bias
            if check_wrap and np.any(np.abs(v) > 2**23 - 1) and n.vth is None:
                raise AssertionError("readout v saturated")
            v = np.clip(v, -(2**23 - 1), 2**23 - 1)
            fire = v > vth
            v = np.where(fire, 0, v)
            out[:, t] = fire
            vs[:, t] = v
        spikes.append(out)
        s = out
    return spikes[:-1], vs


def ideal_sim(model: DelaySNN, x: np.ndarray, steps: int):
    """The integer network's semantics in float64 with unquantized folded weights: same latency
    (one step per layer), bias from step 0, no rounding. Float model vs this = structural
    (alignment) differences; this vs the integer network = quantization error."""
    s = np.zeros((x.shape[0], steps, x.shape[2]))
    s[:, : x.shape[1]] = x
    spikes = []
    for lay in fold_model(model):
        a = np.zeros((x.shape[0], steps, lay.weight.shape[0]))
        for d in np.unique(lay.delay):
            shift = 1 + int(d)
            a[:, shift:] += s[:, : steps - shift] @ np.where(lay.delay == d, lay.weight, 0.0).T
        u = np.zeros_like(a[:, 0])
        v = np.zeros_like(u)
        out, vs = np.zeros_like(a), np.zeros_like(a)
        for t in range(steps):
            u = u * (1 - 1 / (lay.synaptic_tau or 1.0)) + a[:, t]
            v = v * (1 - 1 / lay.tau) + u + lay.bias
            if lay.threshold is not None:
                out[:, t] = v >= lay.threshold
                v = np.where(out[:, t] > 0, 0.0, v)
            vs[:, t] = v
        spikes.append(out)
        s = out
    return spikes[:-1], vs


def compare(model: DelaySNN, net: ir.DelayNetwork, x: torch.Tensor) -> dict[str, float]:
    """Float model and ideal reference vs the integer network, aligned: integer layer ``l`` lags
    the float model's by ``l + 1`` steps (one step of latency per layer)."""
    with torch.no_grad():
        v_f, spikes_f = model.forward_trace(x)
    lag = len(net.layers)
    steps = v_f.shape[1] + lag
    res = simulate(net, x, record=False)  # runs T + lag + net.tail_steps steps
    assert res.voltages.shape[1] == steps
    spikes_i, v_i = [s.astype(np.int64) for s in res.spikes], res.voltages.astype(np.int64)
    spikes_d, v_d = ideal_sim(model, x.numpy().astype(np.float64), steps)
    result = {}
    for k, sf in enumerate(spikes_f):
        window = slice(k + 1, k + 1 + sf.shape[1])
        si, sd = spikes_i[k][:, window], spikes_d[k][:, window]
        result[f"spikes_float_int_{k}"] = float((sf.numpy() == si).mean())
        result[f"spikes_ideal_int_{k}"] = float((sd == si).mean())
        result[f"rate_float_{k}"] = float(sf.mean())
    window = slice(lag, lag + v_f.shape[1])
    v_int = torch.from_numpy(v_i[:, window]).double() * net.readout_scale
    v_ideal = torch.from_numpy(v_d[:, window])
    result["readout_rel_error_ideal_int"] = float((v_int - v_ideal).norm() / v_ideal.norm())
    # the readout mapping alone: float readout driven by the integer network's own spikes
    lay = fold_model(model)[-1]
    a = np.zeros(v_i.shape)
    for d in np.unique(lay.delay):
        a[:, 1 + d :] += spikes_i[-1][:, : steps - 1 - d] @ np.where(lay.delay == d, lay.weight, 0.0).T
    v = np.zeros_like(a[:, 0])
    v_same = np.zeros_like(a)
    for t in range(steps):
        v = v * (1 - 1 / lay.tau) + a[:, t]
        v_same[:, t] = v
    v_scaled = v_i * net.readout_scale
    result["readout_rel_error_same_spikes"] = float(np.linalg.norm(v_scaled - v_same) / np.linalg.norm(v_same))
    pred_f, pred_i, pred_d = (class_scores(v).argmax(-1) for v in (v_f.double(), v_int, v_ideal))
    result["predictions_float_int"] = float((pred_f == pred_i).double().mean())
    result["predictions_ideal_int"] = float((pred_d == pred_i).double().mean())
    return result


# --- BatchNorm folding ----------------------------------------------------------------------------


def folded_preactivation(lay, x: np.ndarray, steps: int, synaptic_tau) -> np.ndarray:
    """``W x`` with integer delays (float model alignment: delay d reads x[t-d]), filter, + bias."""
    b = x.shape[0]
    cur = np.zeros((b, steps, lay.weight.shape[0]))
    for d in np.unique(lay.delay):
        wd = np.where(lay.delay == d, lay.weight, 0.0)
        cur[:, d:] += x[:, : steps - d] @ wd.T if d < steps else 0
    if synaptic_tau is not None:
        cur = leaky_integrator(torch.from_numpy(cur), synaptic_tau).numpy()
    return cur + lay.bias


@pytest.mark.parametrize("synaptic_tau", [None, 2.5])
@pytest.mark.parametrize("kernel_count", [1, 2])
def test_bn_folding_is_exact_in_float(synaptic_tau, kernel_count):
    model = make_model(synaptic_tau=synaptic_tau, kernel_count=kernel_count)
    if kernel_count == 2:  # both taps on one delay: mergeable
        for syn in model.synapses:
            with torch.no_grad():
                syn.pos[..., 1] = syn.pos[..., 0]
    x = random_input(3, 15, 12)
    layer = model.hidden[0]
    with torch.no_grad():
        cur = layer.synapse(x)
        if synaptic_tau is not None:
            cur = leaky_integrator(cur, synaptic_tau)
        b, t, c = cur.shape
        expected = layer.bn(cur.reshape(b * t, c)).reshape(b, t, c).double().numpy()
    lay = fold_model(model)[0]
    xin = np.zeros((3, t, 12))
    xin[:, :15] = x.numpy()
    got = folded_preactivation(lay, xin, t, synaptic_tau)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_no_batchnorm_means_no_bias():
    model = make_model(batchnorm=False)
    net = quantize_model(model)
    for layer in net.layers:
        assert not layer.neuron.bias_mant.any()


# --- delays ----------------------------------------------------------------------------------------


def test_kernel_count_two_same_delay_merges_weights():
    model = make_model(kernel_count=2, calibrate=False)
    syn = model.hidden[0].synapse
    with torch.no_grad():
        for s in model.synapses:
            s.pos[..., 1] = s.pos[..., 0]
    lay = fold_model(model)[0]
    bn = model.hidden[0].bn
    w = syn.weight.detach().double().sum(-1).numpy()
    gain = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().numpy()
    np.testing.assert_allclose(lay.weight, w * gain[:, None], rtol=1e-6)
    np.testing.assert_array_equal(lay.delay, syn.delays()[..., 0].numpy())


def test_kernel_count_two_different_delays_is_refused_with_count():
    model = make_model(kernel_count=2, calibrate=False, max_delay=7)
    syn = model.hidden[1].synapse
    with torch.no_grad():
        for s in model.synapses:
            s.pos[..., 1] = s.pos[..., 0]
        syn.pos[0, :3, 0, 0] = 3.0
        syn.pos[0, :3, 0, 1] = -3.0  # three synapses with taps on delays 0 and 6
    with pytest.raises(UnsupportedError, match=r"layer 1: 3 synapses have taps on different delays"):
        quantize_model(model)
    with torch.no_grad():
        syn.weight[:3, 0, 1] = 0.0  # a zero tap carries nothing: fine
    net = quantize_model(model)
    assert (net.layers[1].delay[:3, 0] == 0).all()


def long_delay_model():
    model = make_model(max_delay=9, calibrate=False)
    with torch.no_grad():
        for syn in model.synapses:
            syn.weight.abs_().add_(0.05)  # no zero weights
    return model


def count_long(model: DelaySNN, limit: int) -> list[int]:
    return [int((syn.delays()[..., 0] > limit).sum()) for syn in model.synapses]


def test_delays_beyond_limit_are_refused_with_counts():
    model = long_delay_model()
    counts = count_long(model, 5)
    assert all(counts)
    with pytest.raises(HardwareLimitError) as err:
        quantize_model(model, max_delay=5)
    msg = str(err.value)
    assert "\n" not in msg
    for i, n in enumerate(counts):
        assert f"layer {i}" in msg and f": {n} synapses have delay > 5" in msg
    assert "(max 8)" in msg and "[max_delay=5]" in msg and "--max-delay 5 " in msg and "--clip-delays" in msg


def test_delays_clipped_on_request():
    model = long_delay_model()
    counts = count_long(model, 5)
    net, report = quantize_with_report(model, max_delay=5, clip_delays=True)
    assert [r.delays_clipped for r in report.layers] == counts
    for layer, syn in zip(net.layers, model.synapses):
        assert layer.max_delay <= 5
        np.testing.assert_array_equal(layer.delay, np.minimum(syn.delays()[..., 0].numpy(), 5))
    assert net.provenance["max_delay"] == 5


def test_profile_limits_delays_and_reports_violations():
    from hardware import Limits, Profile, Quantity

    def profile(**limits):
        return Profile(name="tight", description="", limits=Limits(max_delay=Quantity(4, "test"), **limits))

    model = long_delay_model()
    with pytest.raises(HardwareLimitError, match=r"\[profile tight: limits.max_delay\]; retrain with --max-delay 5 "):
        quantize_model(model, profile=profile())
    net = quantize_model(model, profile=profile(), clip_delays=True)
    assert max(layer.max_delay for layer in net.layers) <= 4
    # the quantizer refuses through the profile's one check (``Profile.check``), every violation listed
    with pytest.raises(HardwareLimitError, match=r"breaks profile 'tight': layer 0: weight_bits 8 > 4 \[profile tight: limits.weight_bits\]; layer 1"):
        quantize_model(model, profile=profile(weight_bits=Quantity(4, "test")), clip_delays=True)


# --- weight grids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(1, 9))
def test_weight_grid_fixed_point(bits):
    w = torch.randn(40, 30, dtype=torch.float64) * 0.3
    grid = weight_grid(w, bits)
    m = grid.mantissa(w)
    assert grid.qmin == -(2 ** (bits - 1)) and grid.qmax == 2 ** (bits - 1) - 1
    assert m.min() >= grid.qmin and m.max() <= grid.qmax
    assert torch.equal(m, m.round())
    inside = grid.in_range(w)
    err = (m * grid.step - w).abs()
    assert (err[inside] <= grid.step / 2 + 1e-12).all()  # rounding error within range
    if bits >= 2:
        assert m.max() == grid.qmax  # the grid's range is used
    # least squares among the candidate ranges: beats the plain max|w| range
    plain = w.abs().max() / max(grid.qmax, 1)
    mse = lambda step: float(((torch.clamp(torch.round(w / step), grid.qmin, grid.qmax) * step - w) ** 2).sum())  # noqa: E731
    assert mse(grid.step) <= mse(plain) + 1e-12
    # fake_quantize: same values forward, identity gradient inside the range, 0 where clipped
    wq = w.clone().requires_grad_(True)
    out = fake_quantize(wq, bits, False)
    torch.testing.assert_close(out.detach(), m * grid.step)
    out.sum().backward()
    torch.testing.assert_close(wq.grad, inside.double())


def test_weight_grid_8bit_error_is_small():
    w = torch.randn(64, 64, dtype=torch.float64)
    grid = weight_grid(w, 8)
    rel = float((grid.mantissa(w) * grid.step - w).norm() / w.norm())
    assert rel < 0.01


def test_binary_grid():
    w = torch.tensor([[0.5, -0.25, 0.0], [1.0, -2.0, 0.25]], dtype=torch.float64)
    grid = weight_grid(w, None, binary=True)
    assert grid.step == pytest.approx(4.0 / 6)  # mean |w|
    assert torch.equal(grid.mantissa(w), torch.sign(w))
    wq = w.clone().requires_grad_(True)
    out = fake_quantize(wq, None, True)
    torch.testing.assert_close(out.detach(), torch.sign(w) * 4.0 / 6)
    out.sum().backward()
    torch.testing.assert_close(wq.grad, torch.ones_like(w))


def test_fake_quantize_off_and_row_gain():
    w = torch.randn(5, 7, 1)
    assert fake_quantize(w, None, False) is w
    g = torch.tensor([1.0, 2.0, 0.0, 0.5, 3.0])
    out = fake_quantize(w, 4, False, row_gain=g)
    folded = w * g.view(-1, 1, 1)
    grid = weight_grid(folded, 4)
    expected = grid.mantissa(folded) * grid.step / torch.where(g == 0, 1.0, g).view(-1, 1, 1)
    expected[2] = w[2]
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("bits,binary", [(4, False), (2, False), (None, True)])
def test_qat_with_bn_gain_trains_on_the_deployed_weights(bits, binary):
    """``g * fake_quantize(W, row_gain=g)`` is exactly what quantize_model deploys (folded)."""
    model = make_model()
    net, report = quantize_with_report(model, weight_bits=bits or 8, binary=binary)
    for layer, hidden, rep in zip(net.layers, model.hidden, report.layers):
        g, _ = bn_fold(hidden)
        w = hidden.synapse.weight.detach().double()
        trained = (g.view(-1, 1, 1) * fake_quantize(w, bits, binary, row_gain=g))[..., 0]
        deployed = torch.from_numpy(layer.weight * rep.step)
        torch.testing.assert_close(trained, deployed, rtol=1e-6, atol=1e-9)


def test_bad_bits_refused():
    model = make_model(calibrate=False)
    for bits in (0, 9):
        with pytest.raises(UnsupportedError, match="weight_bits must be 1..8"):
            quantize_model(model, weight_bits=bits)


@pytest.mark.parametrize("bits", [8, 4, 2, 1])
def test_network_weights_are_the_qat_grid(bits):
    model = make_model()
    net = quantize_model(model, weight_bits=bits)
    net.check()
    for layer, lay in zip(net.layers, fold_model(model)):
        grid = weight_grid(torch.from_numpy(lay.weight), bits)
        np.testing.assert_array_equal(layer.weight, grid.mantissa(torch.from_numpy(lay.weight)).numpy())
        assert layer.weight_bits == bits and layer.weight_kind is WeightKind.FIXED


def test_binary_network():
    model = make_model()
    net, report = quantize_with_report(model, binary=True)
    net.check()
    for layer, rep, lay in zip(net.layers, report.layers, fold_model(model)):
        assert layer.weight_kind is WeightKind.BINARY and layer.weight_bits == 1
        assert set(np.unique(layer.weight)) <= {-1, 0, 1}
        assert rep.step == pytest.approx(np.abs(lay.weight).mean())
    assert net.provenance["weight_bits"] is None and "binary" not in net.provenance  # the layers state the kind


# --- neuron parameters --------------------------------------------------------------------------------


def test_decay_constants():
    assert decay_for_tau(1.005) == 4076  # round(4096 / 1.005)
    assert decay_for_tau(10.0) == 410
    assert decay_for_tau(1.0) == 4095  # clipped: 4096 does not fit 12 bits
    assert decay_for_tau(None, current=True) == 4095  # no filter: u cleared every step
    assert decay_for_tau(1.0, current=True) == 4095
    assert decay_for_tau(2.0, current=True) == 2047  # u * (4096 - 2048) / 4096 = u / 2
    assert input_bits_for(5) == 3 and input_bits_for(1) == 1 and input_bits_for(0) == 1


def test_single_neuron_golden_values():
    cfg = dict(input_size=1, output_size=1, hidden_size=1, hidden_layers=1, max_delay=1, tau=2.0, readout_tau=4.0)
    model = make_model(calibrate=False, **cfg)
    with torch.no_grad():
        model.hidden[0].synapse.weight.fill_(0.5)
        model.readout.weight.fill_(-0.25)
        bn = model.hidden[0].bn
        bn.running_mean.fill_(0.1)
        bn.running_var.fill_(3.0)
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.3)
    net, report = quantize_with_report(model, weight_bits=8)
    g = 2.0 / math.sqrt(3.0 + bn.eps)
    w = 0.5 / (1 + 1e-7) * g  # DCLS normalises one-hot taps by 1 + 1e-7
    hid, out = net.layers
    r0 = report.layers[0]
    assert r0.step == pytest.approx(w / 127)
    assert hid.weight.tolist() == [[127]]
    # one input, one spike of weight 127 << e: u = 127 << (6 + e) must stay < 2**23 -> e <= 10, max 7
    assert hid.weight_exp == 7
    s = 64 * 2**7 / r0.step
    assert r0.v_scale == pytest.approx(s)
    assert hid.neuron.vth == round((s * 1.0 - 1) / 64)
    assert r0.threshold_effective == pytest.approx(1.0, rel=32 / s)
    b = round(s * (0.3 - 0.1 * g))
    assert hid.neuron.bias_mant[0] << hid.neuron.bias_exp == pytest.approx(b, abs=2 ** (hid.neuron.bias_exp - 1))
    assert abs(int(hid.neuron.bias_mant[0])) <= 4095
    assert (hid.neuron.du, hid.neuron.dv) == (4095, 2048)
    assert out.neuron.vth is None and out.neuron.dv == 1024 and out.neuron.du == 4095
    assert out.weight.tolist() == [[-127]] or out.weight.tolist() == [[-128]]
    assert net.readout_scale == pytest.approx(1 / report.layers[1].v_scale)
    assert report.readout_scale == net.readout_scale and "readout_scale" not in net.provenance


def test_threshold_compensation_exact_on_integers():
    """With S*theta = 64*vth + 1 the integer rule v > vth<<6 is the float rule v >= theta."""
    model = make_model()
    net, report = quantize_with_report(model)
    for layer, rep in zip(net.layers[:-1], report.layers):
        s = rep.v_scale
        t_int = (layer.neuron.vth << 6) + 1  # smallest firing integer voltage
        assert abs(t_int - s * rep.threshold) <= 32
        assert rep.threshold_effective == pytest.approx(t_int / s)


def test_nan_is_refused_in_one_line():
    model = make_model(calibrate=False)
    with torch.no_grad():
        model.hidden[1].synapse.weight[0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError) as err:
        quantize_model(model)
    assert "hidden.1.synapse.weight" in str(err.value) and "\n" not in str(err.value)
    model = make_model(calibrate=False)
    with torch.no_grad():
        model.hidden[0].bn.running_var[3] = float("inf")
    with pytest.raises(CheckpointError, match="running_var"):
        quantize_model(model)


def test_provenance_is_json_scalars_and_round_trips():
    net, report = quantize_with_report(make_model(), weight_bits=6)
    for key, value in net.provenance.items():
        assert value is None or isinstance(value, str | int | float | bool), key
    back = ir.from_bytes(ir.to_bytes(net))
    assert back.provenance == json.loads(json.dumps(net.provenance))
    for a, b in zip(back.layers, net.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
    json.dumps(report.to_dict())
    assert report.to_markdown().count("\n") >= len(net.layers) + 1


# --- integer network vs float model ----------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,max_count",
    [({}, 1), ({"synaptic_tau": 3.0}, 1), ({"tau": 4.0, "readout_tau": 8.0}, 1), ({}, 5)],
    ids=["lif", "synaptic-filter", "slow-tau", "graded-input"],
)
def test_8bit_agrees_with_float(overrides, max_count):
    model = make_model(seed=3, **overrides)
    net = quantize_model(model, weight_bits=8, input_bits=input_bits_for(max_count))
    x = random_input(128, 20, 12, seed=7, max_count=max_count)
    res = compare(model, net, x)
    print(overrides, max_count, {k: round(v, 4) for k, v in res.items()})
    for k in range(model.cfg.hidden_layers):
        assert 0.02 < res[f"rate_float_{k}"] < 0.6  # the neurons do fire, and not always
        # quantization alone: 8-bit weights flip well under 1% of the spikes
        assert res[f"spikes_ideal_int_{k}"] > 0.985
        # against the float model, the alignment (bias from step 0, no truncation) adds more
        assert res[f"spikes_float_int_{k}"] > 0.92
    assert res["readout_rel_error_same_spikes"] < 0.01  # readout_scale maps v_int back to float v
    assert res["readout_rel_error_ideal_int"] < 0.3  # each flipped spike moves v by a whole weight
    assert res["predictions_ideal_int"] >= 0.85  # random readouts: small class margins
    assert res["predictions_float_int"] >= 0.7


def test_low_bits_degrade_gracefully():
    model = make_model(seed=3)
    x = random_input(64, 20, 12, seed=7)
    agreement = {}
    for bits in (8, 4, 2):
        agreement[bits] = compare(model, quantize_model(model, weight_bits=bits), x)["spikes_ideal_int_0"]
    assert agreement[8] >= agreement[4] >= agreement[2] > 0.5


def test_overflow_bound_holds_on_saturating_input():
    model = make_model(seed=5, tau=3.0, readout_tau=6.0)
    for bits, binary in ((8, False), (4, False), (None, True)):
        net, report = quantize_with_report(model, weight_bits=bits or 8, binary=binary, input_bits=3)
        assert not any(r.overflow_risk for r in report.layers)
        x = np.full((2, 12, 12), 7, dtype=np.int64)  # every channel at the largest payload, every step
        reference_sim(net, x, 20, check_wrap=True)


def test_reference_loop_matches_delaysnn_sim():
    """The plain loop above (used for the wrap check) is DESIGN section 4, as delaysnn.sim is."""
    model = make_model(seed=3, synaptic_tau=2.0)
    net = quantize_model(model, weight_bits=8, input_bits=3)
    x = random_input(4, 16, 12, seed=9, max_count=5).numpy().astype(np.int64)
    res = simulate(net, x)
    spikes, v = reference_sim(net, x, res.voltages.shape[1])
    for a, b in zip(res.spikes, spikes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(res.voltages, v)


def test_quantize_is_the_package_function_even_after_importing_the_quantization_package(tiny_model):
    import delaysnn
    import delaysnn.quantization
    import delaysnn.quantization.network  # noqa: F401  (a submodule import binds nothing named quantize)

    assert callable(delaysnn.quantize) and not isinstance(delaysnn.quantize, type(delaysnn))
    net = delaysnn.quantize(tiny_model, weight_bits=4)
    assert isinstance(net, ir.DelayNetwork) and net.layers[0].weight_bits == 4
    assert delaysnn.quantization.quantize_model is delaysnn.quantization.network.quantize_model

"""The reference simulator: hand-computed golden values for each arithmetic rule, the time
alignment, input validation, and the vectorized simulator against a naive per-step loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from delaysnn import sim
from delaysnn.errors import DataError
from delaysnn.ir import READOUT_VTH, DelayLayer, DelayNetwork, NeuronParams
from tests.factories import NetSpec, networks, random_input, random_network, shd_like_input, shd_like_network


def layer(w, d, *, du=4095, dv=4095, vth=None, bias=0, bias_exp=0, weight_exp=0, bits=8) -> DelayLayer:
    w, d = np.atleast_2d(np.asarray(w)), np.atleast_2d(np.asarray(d))
    neuron = NeuronParams(du=du, dv=dv, vth=vth, bias_mant=np.full(w.shape[0], bias, np.int32), bias_exp=bias_exp)
    return DelayLayer(weight=w.astype(np.int32), delay=d.astype(np.int32), neuron=neuron, weight_bits=bits, weight_exp=weight_exp)


def readout_only(w, d, input_bits=1, **kw) -> DelayNetwork:
    lay = layer(w, d, **kw)
    return DelayNetwork(input_size=lay.shape[1], layers=[lay], input_bits=input_bits)


def impulse(n_in: int, steps: int, at: int, payload: int = 1, channel: int = 0) -> np.ndarray:
    x = np.zeros((1, steps, n_in), dtype=np.int64)
    x[0, at, channel] = payload
    return x


# --- one rule at a time ----------------------------------------------------------------------


def test_decay_truncates_toward_zero_for_negative_products():
    # -5 * 4095 / 4096 = -4.9988: trunc gives -4 (a floor would give -5)
    assert sim.decay(np.array([-5, 5, -1, 1, 0]), 4095).tolist() == [-4, 4, 0, 0, 0]
    assert sim.decay(np.array([-4096 * 3 - 1]), 2048).tolist() == [-6144]  # -6144.5 -> -6144


def test_current_decays_by_du_plus_one():
    # Lava's ds_offset: keep = 4096 - (du + 1); du = 4095 clears u, du = 0 keeps 4095/4096
    assert sim.current_update(np.array([1000]), np.array([64]), 4095).tolist() == [64]
    assert sim.current_update(np.array([4096]), np.array([0]), 0).tolist() == [4095]
    assert sim.current_update(np.array([-4096]), np.array([0]), 2047).tolist() == [-2048]


@pytest.mark.parametrize(
    ("u", "expected"),
    [
        (2**23, 2**23),  # +2**23 stays
        (2**23 + 1, -(2**23) + 1),
        (-(2**23), 2**23),  # -2**23 becomes +2**23
        (-(2**23) - 5, 2**23 - 5),
        (-(2**23) + 1, -(2**23) + 1),
        (2**25, 2**24),  # wraps only once: may stay outside 24 bits
    ],
)
def test_current_wraps_once_asymmetrically(u, expected):
    assert sim.wrap_current(np.array([u])).tolist() == [expected]


def test_voltage_saturates_both_ways():
    top = 2**23 - 1
    assert sim.voltage_update(np.array([top - 10]), np.array([100]), 0, np.array([0])).tolist() == [top]
    assert sim.voltage_update(np.array([-top + 10]), np.array([-100]), 0, np.array([0])).tolist() == [-top]
    # dv: keep = 4096 - dv, no offset; bias added every step
    assert sim.voltage_update(np.array([4096]), np.array([0]), 1024, np.array([-7])).tolist() == [3072 - 7]


def test_threshold_is_strictly_greater_and_resets_v_only():
    vth = 100
    s, v = sim.spike_and_reset(np.array([vth << 6, (vth << 6) + 1, -5]), sim.effective_threshold(vth))
    assert s.tolist() == [False, True, False]
    assert v.tolist() == [vth << 6, 0, -5]
    assert sim.effective_threshold(None) == READOUT_VTH << 6


def test_bias_weight_and_int32_rules():
    assert sim.effective_bias(np.array([-3, 5]), 2).tolist() == [-12, 20]
    assert sim.effective_weight(np.array([5, -3]), 3).tolist() == [40, -24]
    assert sim.activation(np.array([10]), 2).tolist() == [10 << 8]
    assert sim.activation(np.array([2**25]), 0).tolist() == [-(2**31)]  # a << 6 wraps in int32
    assert sim.wrap32(np.array([2**31, -(2**31) - 1])).tolist() == [-(2**31), 2**31 - 1]


def test_neuron_step_order_current_voltage_spike():
    lay = layer([[1]], [[0]], du=4095, dv=0, vth=1, bias=3, bias_exp=1)
    u, v, s = sim.neuron_step(np.array([0]), np.array([0]), np.array([64]), lay)
    # u = 64 (du = 4095 clears the old u); v = 0 + 64 + (3 << 1) = 70 > 1 << 6: spike, v reset
    assert (u.tolist(), v.tolist(), s.tolist()) == ([64], [0], [True])


# --- time alignment --------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0, 1, 5, 62])
def test_a_spike_at_t_through_delay_d_arrives_at_t_plus_1_plus_d(delay):
    net = readout_only([[3]], [[delay]])  # du = dv = 4095: u and v show only this step's input
    res = sim.simulate(net, impulse(1, 4, at=2), steps=2 + 1 + delay + 3)
    u = res.u[0][0, :, 0]
    assert np.flatnonzero(u).tolist() == [2 + 1 + delay]
    assert u[2 + 1 + delay] == 3 << 6


def test_each_layer_adds_one_step():
    relay = layer([[1]], [[0]], vth=0)  # spikes whenever it receives anything
    net = DelayNetwork(input_size=1, layers=[relay, layer([[1]], [[0]], vth=0), layer([[5]], [[0]])])
    res = sim.simulate(net, impulse(1, 3, at=0))
    assert res.alignment == sim.Alignment(input_steps=3, steps=3 + 3, latency=(1, 2, 3))
    assert np.flatnonzero(res.spikes[0][0, :, 0]).tolist() == [1]
    assert np.flatnonzero(res.spikes[1][0, :, 0]).tolist() == [2]
    assert np.flatnonzero(res.voltages[0, :, 0]).tolist() == [3]
    assert res.alignment.float_step(2, 3) == 0


def test_alignment_tail_steps_and_explicit_steps():
    net = readout_only([[1]], [[0]])
    net.tail_steps = 12
    assert sim.alignment(net, 100).steps == 100 + 1 + 12
    assert sim.alignment(net, 100, steps=7).steps == 7
    with pytest.raises(DataError):
        sim.alignment(net, 100, steps=0)


def test_weight_exp_and_graded_payloads():
    net = readout_only([[3, -7]], [[0, 1]], input_bits=3, weight_exp=2)
    x = np.zeros((1, 3, 2), dtype=np.int64)
    x[0, 0, 0] = 5  # 5 * 3 << 2 arrives at step 1
    x[0, 0, 1] = 7  # 7 * -7 << 2 arrives at step 2
    u = sim.simulate(net, x).u[0][0, :, 0]
    assert u.tolist() == [0, (5 * 3 << 2) << 6, (7 * -7 << 2) << 6, 0]


def test_readout_resets_at_saturation_like_an_lif():
    # v grows by bias 4095 << 7 every step (dv = 0), saturates at 2**23 - 1 > READOUT_VTH << 6 and resets
    net = readout_only([[0]], [[0]], dv=0, bias=4095, bias_exp=7)
    v = sim.simulate(net, np.zeros((1, 20, 1), dtype=np.int64)).voltages[0, :, 0]
    step = 4095 << 7
    assert v[:16].tolist() == [step * (k + 1) for k in range(16)]
    assert v[16] == 0  # 17 * step saturates at 2**23 - 1 > (2**17 - 1) << 6: the readout "spikes"
    assert v[17] == step


def test_u_is_not_reset_by_a_spike():
    net = DelayNetwork(input_size=1, layers=[layer([[100]], [[0]], du=0, dv=4095, vth=1), layer([[1]], [[0]])])
    res = sim.simulate(net, impulse(1, 4, at=0))
    assert res.spikes[0][0, 1, 0] == 1
    assert res.u[0][0, 2, 0] == sim.decay(np.array([100 << 6]), 4095)[0]  # u kept decaying


# --- input validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((1, 3, 2), dtype=np.int64), "expected \\[batch, time, 3\\]"),
        (np.zeros((3, 3), dtype=np.int64), "expected \\[batch, time, 3\\]"),
        (-np.ones((1, 2, 3), dtype=np.int64), "negative payload"),
        (np.full((1, 2, 3), 8), "exceeds input_bits=3"),
        (np.full((1, 2, 3), 0.5), "non-integer"),
        (np.zeros((1, 0, 3), dtype=np.int64), "at least one"),
    ],
)
def test_bad_inputs_are_one_line_data_errors(x, message):
    net = readout_only(np.ones((1, 3)), np.zeros((1, 3)), input_bits=3)
    with pytest.raises(DataError, match=message) as info:
        sim.simulate(net, x)
    assert "\n" not in str(info.value)


def test_torch_and_float_integral_inputs_are_accepted():
    net = random_network(NetSpec(sizes=(3, 4, 2), input_bits=2, seed=3))
    x = random_input(net, 2, 6, seed=3)
    ref = sim.simulate(net, x)
    for other in (torch.from_numpy(x), x.astype(np.float32), x.astype(np.uint8)):
        res = sim.simulate(net, other)
        assert np.array_equal(res.voltages, ref.voltages)


def test_result_layout_and_record_flag():
    net = random_network(NetSpec(sizes=(3, 5, 4, 2), seed=1))
    x = random_input(net, 2, 7)
    full = sim.simulate(net, x)
    lean = sim.simulate(net, x, record=False)
    steps = full.alignment.steps
    assert [s.shape for s in full.spikes] == [(2, steps, 5), (2, steps, 4)]
    assert all(s.dtype == np.uint8 for s in full.spikes)
    assert full.voltages.shape == (2, steps, 2) and full.voltages.dtype == np.int32
    assert [u.shape for u in full.u] == [(2, steps, 5), (2, steps, 4), (2, steps, 2)]
    assert lean.u is None and lean.v is None
    assert np.array_equal(full.v[-1], full.voltages)
    for a, b in zip(full.spikes, lean.spikes):
        assert np.array_equal(a, b)


def test_predict_sums_softmax_over_time():
    align = sim.Alignment(input_steps=2, steps=2, latency=(1,))
    v = np.array([[[10, 0], [0, 1]]], dtype=np.int32)  # step 0 favours class 0 strongly, step 1 class 1 weakly
    res = sim.SimResult(spikes=[], voltages=v, alignment=align, readout_scale=1.0)
    e = np.exp
    expected = np.array([e(10) / (e(10) + 1) + 1 / (1 + e(1)), 1 / (e(10) + 1) + e(1) / (1 + e(1))])
    assert np.allclose(res.class_scores()[0], expected)
    assert res.predict().tolist() == [0]
    assert sim.predict(res, readout_scale=0.0).tolist() == [0]  # ties: argmax picks the first
    net = readout_only([[1]], [[0]])
    net.readout_scale = 0.25
    assert sim.simulate(net, impulse(1, 2, at=0)).readout_scale == 0.25


# --- vectorized == naive ---------------------------------------------------------------------


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) % 2**32) - 2**31


def naive_simulate(net: DelayNetwork, x: np.ndarray, steps: int) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """DESIGN section 4 written out literally: per sample, per step, a ring buffer of future
    synaptic input per neuron (as Lava's DelayDense keeps it), then current, voltage, spike."""
    x = np.asarray(x, dtype=np.int64)
    batch = x.shape[0]
    inp = np.zeros((batch, steps, x.shape[2]), dtype=np.int64)
    inp[:, : min(steps, x.shape[1])] = x[:, :steps]
    spikes, us = [], []
    v_out = None
    for lay in net.layers:
        w, d, n = lay.weight.astype(np.int64), lay.delay.astype(np.int64), lay.neuron
        n_out = w.shape[0]
        bias = n.bias_mant.astype(np.int64) << n.bias_exp
        vth = (READOUT_VTH if n.vth is None else n.vth) << 6
        s_out = np.zeros((batch, steps, n_out), dtype=np.int64)
        u_out = np.zeros_like(s_out)
        v_out = np.zeros_like(s_out)
        for b in range(batch):
            future = np.zeros((n_out, int(d.max(initial=0)) + 2), dtype=np.int64)
            u = np.zeros(n_out, dtype=np.int64)
            v = np.zeros(n_out, dtype=np.int64)
            for t in range(steps):
                a = future[:, 0].copy()
                future = np.roll(future, -1, axis=1)
                future[:, -1] = 0
                for i in np.flatnonzero(inp[b, t]):
                    for o in range(n_out):
                        future[o, d[o, i]] += w[o, i] * inp[b, t, i]  # slot k arrives at t + 1 + k
                act = _wrap32(_wrap32(a << lay.weight_exp) << 6)
                p = u * (4096 - (n.du + 1))
                u = _wrap32(np.sign(p) * (np.abs(p) >> 12) + act)
                u = np.where(u > 2**23, u - 2**24, u)
                u = np.where(u <= -(2**23), u + 2**24, u)
                p = v * (4096 - n.dv)
                v = np.clip(_wrap32(np.sign(p) * (np.abs(p) >> 12) + u + bias), -(2**23 - 1), 2**23 - 1)
                s = v > vth
                v[s] = 0
                s_out[b, t], u_out[b, t], v_out[b, t] = s, u, v
        spikes.append(s_out)
        us.append(u_out)
        inp = s_out
    return spikes[:-1], v_out, us


def _assert_same(res: sim.SimResult, naive: tuple) -> None:
    spikes, v, us = naive
    for li, (a, b) in enumerate(zip(res.spikes, spikes)):
        assert np.array_equal(a, b), f"layer {li} spikes"
    assert np.array_equal(res.voltages, v), "readout voltages"
    for li, (a, b) in enumerate(zip(res.u, us)):
        assert np.array_equal(a, b), f"layer {li} u"


@settings(max_examples=40, deadline=None)
@given(net=networks(max_width=5, max_layers=3, max_delay=12), batch=st.integers(1, 3), t_in=st.integers(1, 10), seed=st.integers(0, 999))
@pytest.mark.slow
def test_vectorized_equals_naive_loop(net, batch, t_in, seed):
    x = random_input(net, batch, t_in, rate=0.4, seed=seed)
    res = sim.simulate(net, x)
    _assert_same(res, naive_simulate(net, x, res.alignment.steps))


@pytest.mark.parametrize(
    "spec",
    [
        NetSpec(sizes=(4, 6, 3), hot=True, weight_exp=7, seed=11),  # u wraps, v saturates
        NetSpec(sizes=(16, 3, 2), input_bits=8, weight_exp=7, hot=True, seed=12),  # int32 registers wrap
        NetSpec(sizes=(3, 4, 2), input_bits=24, weight_exp=7, seed=13),  # 24-bit payloads
        NetSpec(sizes=(5, 5, 2), binary=True, seed=14),
        NetSpec(sizes=(2, 3), max_delay=62, seed=15),
    ],
)
def test_edge_networks_equal_naive_loop(spec):
    net = random_network(spec)
    x = random_input(net, 2, 12, rate=0.6, seed=spec.seed)
    res = sim.simulate(net, x)
    _assert_same(res, naive_simulate(net, x, res.alignment.steps))
    if spec.hot:
        u = np.concatenate([u.ravel() for u in res.u])
        assert np.abs(u).max() >= 2**22  # the probe really drives the registers


def test_hot_probe_reaches_wrap_and_saturation():
    net = random_network(NetSpec(sizes=(16, 3, 2), input_bits=8, weight_exp=7, hot=True, seed=12))
    res = sim.simulate(net, random_input(net, 2, 12, rate=0.6, seed=12))
    v = np.concatenate([v.ravel() for v in res.v])
    assert np.abs(v).max() == 2**23 - 1
    assert np.abs(np.concatenate([u.ravel() for u in res.u])).max() > 2**23  # beyond 24 bits: int32 regime


@settings(max_examples=25, deadline=None)
@given(net=networks(max_width=8, max_layers=1, max_delay=30), seed=st.integers(0, 999), rate=st.sampled_from([0.05, 0.5, 1.0]))
def test_event_and_dense_synaptic_input_agree(net, seed, rate):
    x = random_input(net, 3, 9, rate=rate, seed=seed)
    ev = sim.events(x.transpose(2, 1, 0), 14, binary=net.input_bits == 1)
    lay = net.layers[0]
    a = sim.synaptic_input(ev, lay.weight, lay.delay, 14, method="events")
    b = sim.synaptic_input(ev, lay.weight, lay.delay, 14, method="dense")
    assert np.array_equal(a, b)
    assert np.array_equal(a, np.round(a))


def test_shd_sized_network_both_methods_agree():
    net = shd_like_network(sizes=(140, 64, 20), max_delay=24)
    x = shd_like_input(4, 30)
    ev = sim.events(x.transpose(2, 1, 0), 40, binary=False)
    lay = net.layers[0]
    a = sim.synaptic_input(ev, lay.weight, lay.delay, 40, method="events")
    b = sim.synaptic_input(ev, lay.weight, lay.delay, 40, method="dense")
    assert np.array_equal(a, b)
    res = sim.simulate(net, x)
    assert 0 < res.spikes[0].mean() < 0.5


def test_simulate_is_deterministic_and_batch_independent():
    net = random_network(NetSpec(sizes=(4, 6, 3), input_bits=2, seed=21))
    x = random_input(net, 5, 8, seed=21)
    whole = sim.simulate(net, x)
    for b in range(5):
        one = sim.simulate(net, x[b : b + 1])
        assert np.array_equal(one.voltages[0], whole.voltages[b])
        assert all(np.array_equal(s1[0], s2[b]) for s1, s2 in zip(one.spikes, whole.spikes))


def test_thread_count_does_not_change_the_integers():
    import numba

    net = shd_like_network(sizes=(140, 64, 20), max_delay=24)
    x = shd_like_input(6, 30)
    parallel = sim.simulate(net, x)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = sim.simulate(net, x)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(serial.voltages, parallel.voltages)
    assert all(np.array_equal(a, b) for a, b in zip(serial.spikes, parallel.spikes))
    assert all(np.array_equal(a, b) for a, b in zip(serial.u, parallel.u))


@pytest.mark.parametrize("steps", [1, 4, 9, 30])
def test_events_are_the_nonzeros_that_can_still_arrive(steps):
    rng = np.random.default_rng(steps)
    x = np.where(rng.random((5, 8, 3)) < 0.3, rng.integers(1, 7, (5, 8, 3)), 0)  # [inputs, time, batch]
    ev = sim.events(x, steps, binary=False)
    i, t, b = ev.coordinates()
    keep = x[:, : steps - 1]
    assert [i.tolist(), t.tolist(), b.tolist()] == [a.tolist() for a in np.nonzero(keep)]
    assert ev.payload.tolist() == keep[np.nonzero(keep)].tolist()
    assert np.diff(ev.starts).tolist() == (keep != 0).sum(axis=(1, 2)).tolist()
    spikes = sim.events(x > 0, steps, binary=True)  # bool input, as hidden layers pass it
    assert spikes.payload is None and np.array_equal(spikes.rows, ev.rows)

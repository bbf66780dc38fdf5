"""Estimates (delaysnn/estimate/) and energy profiles (hardware/energy.py): hand-computed counts.

Memory as stored (delaysnn/estimate/storage.py) has its golden counts in tests/test_memory.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from delaysnn.errors import DataError, ProfileError
from delaysnn.estimate import (
    Estimate,
    arrivals,
    delay_bit_width,
    destination_cores,
    estimate,
    layer_memory,
    nonzero_fanout,
    plot,
    random_input,
    synapse_layout,
    synaptic_ops,
)
from delaysnn.ir import DelayLayer, DelayNetwork, NeuronParams
from delaysnn.sim import simulate
from hardware import load_profile
from hardware.energy import PROFILE_DIR, builtin_profiles, load_energy
from tests.factories import shd_like_network

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

LIMITS = {"neurons_per_core": 1, "synaptic_memory_bits": 10_000, "delay_bits": None}
STEPS = 8  # run length of the hand-made trace


def tiny_net() -> DelayNetwork:
    """2 graded inputs -> 2 hidden -> 1 readout. Neurons forget every step (du = dv = 4095), vth 5."""

    def neuron(n: int, vth: int | None) -> NeuronParams:
        return NeuronParams(du=4095, dv=4095, vth=vth, bias_mant=np.zeros(n, np.int32))

    hidden = DelayLayer(
        weight=np.array([[10, 0], [10, 10]], np.int32),  # w[0, 1] = 0: not fan-out of input 1
        delay=np.array([[0, 3], [2, 1]], np.int32),
        neuron=neuron(2, 5),
    )
    readout = DelayLayer(
        weight=np.array([[3, 0]], np.int32),  # hidden neuron 1 has no fan-out
        delay=np.array([[1, 4]], np.int32),
        neuron=neuron(1, None),
    )
    return DelayNetwork(input_size=2, layers=[hidden, readout], input_bits=3, time_step_ms=1.0)


def tiny_input() -> np.ndarray:
    x = np.zeros((1, 6, 2), np.int32)
    x[0, 0, 0] = 2  # input 0: payload 2 at step 0, payload 1 at step 3
    x[0, 3, 0] = 1
    x[0, 1, 1] = 5  # input 1: payload 5 at step 1
    return x


def hand_trace() -> SimpleNamespace:
    """Hidden spikes by hand (arrival = t + 1 + d; a > vth fires since u and v forget every step).

    Neuron 0 receives input 0 (delay 0): a = 20 at step 1, 10 at step 4 -> spikes at 1 and 4.
    Neuron 1 receives input 0 (delay 2): a = 20 at 3, 10 at 6; input 1 (delay 1): 50 at 3 -> spikes at 3 and 6.
    """
    spikes = np.zeros((1, STEPS, 2), np.int8)
    spikes[0, [1, 4], 0] = 1
    spikes[0, [3, 6], 1] = 1
    return SimpleNamespace(spikes=[spikes], voltages=np.zeros((1, STEPS, 1), np.int64))


def test_sim_reproduces_the_hand_trace():
    result = simulate(tiny_net(), tiny_input())
    assert result.alignment.steps == STEPS  # 6 input steps + one step of latency per layer
    assert np.array_equal(result.spikes[0], hand_trace().spikes[0])


def tiny_trace() -> SimpleNamespace:
    """The hand trace, checked against the sim above."""
    return hand_trace()


# -- counting primitives --------------------------------------------------------------------


def test_primitives_by_hand():
    net, x = tiny_net(), tiny_input()
    w, d = net.layers[0].weight, net.layers[0].delay
    assert nonzero_fanout(w).tolist() == [2, 1]
    assert synaptic_ops(x, w) == (2 * 2 + 1 * 1, (2 + 1) * 2 + 5 * 1)
    got = arrivals(x, w, d, STEPS)
    assert np.flatnonzero(got[0, :, 0]).tolist() == [1, 4]
    assert np.flatnonzero(got[0, :, 1]).tolist() == [3, 6]
    assert arrivals(x, w, d, 5)[0, :, 1].nonzero()[0].tolist() == [3]  # late arrivals drop
    assert destination_cores(w, 2).tolist() == [2, 1]
    assert destination_cores(w, 1).tolist() == [1, 1]
    assert [delay_bit_width(m) for m in (0, 1, 3, 4, 24, 62)] == [0, 1, 2, 3, 5, 6]
    # memory as stored, 16-bit delay-line slots. Layer 0: 3 of 4 synapses, live max delay 2 (2 bits);
    # sparse 3 x (8 + 2 + 1-bit index) + 2 rows x 2-bit pointers = 37 < dense 4 x (8 + 2) = 40.
    hidden = layer_memory(net.layers[0], 0, accumulator_bits=16)
    assert (hidden.storage, hidden.weights, hidden.delays, hidden.connectivity) == ("sparse", 3 * 8, 3 * 2, 3 * 1 + 2 * 2)
    assert (hidden.delay_buffers, hidden.neuron_state) == (2 * (2 + 1) * 16, 2 * (24 + 24))
    # layer 1: 1 of 2 synapses (the delay-4 one is absent), live max delay 1 (1 bit): sparse 1 x (8 + 1 + 1) + 1 x 1 = 11 < 18
    readout = layer_memory(net.layers[1], 1, accumulator_bits=16)
    assert (readout.storage, readout.weights, readout.delays, readout.connectivity) == ("sparse", 8, 1, 1 + 1)
    assert (readout.delay_buffers, readout.neuron_state) == (1 * (1 + 1) * 16, 48)


def test_counts_equal_hand_computation():
    est = estimate(tiny_net(), tiny_input(), profiles=["loihi"], sim_result=tiny_trace(), core_limits=LIMITS)
    hidden, readout = est.layers
    assert (hidden.input_events, hidden.input_payload) == (3, 8)
    assert (hidden.synaptic_ops, hidden.synaptic_ops_payload) == (5, 11)
    assert hidden.graded_input and not readout.graded_input
    assert (hidden.neuron_updates, hidden.active_updates, hidden.inactive_updates) == (16, 4, 12)
    assert (hidden.spikes, hidden.firing_rate) == (4, 4 / 16)
    assert hidden.dense_macs == 2 * 2 * STEPS
    assert (hidden.cores, hidden.spike_messages) == (2, 2 * 2 + 1 * 1)
    assert (readout.input_events, readout.synaptic_ops, readout.synaptic_ops_payload) == (4, 2, 2)
    assert (readout.neuron_updates, readout.active_updates, readout.spikes) == (8, 2, 0)  # arrivals at 3 and 6
    assert (readout.cores, readout.spike_messages) == (1, 2)
    assert est.delay_histograms == [[1, 1, 1, 0], [0, 1, 0, 0, 0]]  # non-zero synapses only
    assert est.totals["synaptic_ops"] == 7
    assert est.totals["memory_bits"] == (24 + 6 + 7 + 96 + 96) + (8 + 1 + 2 + 32 + 48)  # test_primitives_by_hand, loihi2's 16-bit slots


@pytest.mark.slow
def test_estimate_runs_the_sim_when_not_given_a_result():
    from_sim = estimate(tiny_net(), tiny_input(), profiles=["loihi"], core_limits=LIMITS)
    by_hand = estimate(tiny_net(), tiny_input(), profiles=["loihi"], sim_result=tiny_trace(), core_limits=LIMITS)
    assert from_sim == by_hand


def test_cores_follow_the_loihi2_profile():
    net = shd_like_network(sizes=(140, 64, 20), max_delay=24)
    est = estimate(net, profiles=["loihi2"], steps=20, samples=2)
    profile = load_profile("loihi2")
    assert est.core_limits["neurons_per_core"] == profile.limits.neurons_per_core.value
    assert est.core_limits["synaptic_memory_bits"] == 8 * profile.limits.synaptic_memory_bytes_per_core.value
    assert all(est.core_limits["sources"].values())
    assert est.totals["cores"] == profile.cores_needed(net)
    small = {"neurons_per_core": 16, "synaptic_memory_bits": 4096}
    hidden = estimate(net, profiles=["loihi2"], steps=20, samples=2, core_limits=small).layers[0]
    layout = synapse_layout(net.layers[0])
    assert (layout.storage, layout.bits) == ("dense", 64 * 140 * (8 + 5))  # delays 0..24: 5 bits
    assert hidden.cores == max(math.ceil(64 / 16), math.ceil(64 * 140 * 13 / 4096))


def test_random_input_estimate_is_consistent():
    net = shd_like_network(sizes=(140, 64, 20), max_delay=24)
    est = estimate(net, profiles=["loihi2", "cmos45_int8"], steps=30, rate=0.05, samples=3, seed=2)
    assert est.input == {"kind": "random", "samples": 3, "steps": 30, "rate": 0.05, "seed": 2}
    assert est.steps == 30 + 2
    for layer in est.layers:
        assert layer.synaptic_ops <= layer.dense_macs
        assert layer.active_updates + layer.inactive_updates == layer.neuron_updates == layer.neurons * est.steps
    assert est.layers[0].graded_input and est.layers[0].synaptic_ops_payload > est.layers[0].synaptic_ops
    assert est == estimate(net, profiles=["loihi2", "cmos45_int8"], steps=30, rate=0.05, samples=3, seed=2)


def test_mean_over_samples():
    x = np.concatenate([tiny_input(), np.zeros_like(tiny_input())])
    trace = tiny_trace()
    trace.spikes = [np.concatenate([trace.spikes[0], np.zeros_like(trace.spikes[0])])]
    est = estimate(tiny_net(), x, profiles=["loihi"], sim_result=trace, core_limits=LIMITS)
    assert est.input["samples"] == 2
    assert est.layers[0].synaptic_ops == 2.5 and est.layers[0].active_updates == 2
    assert est.layers[0].neuron_updates == 16  # every neuron every step, whatever the activity


# -- profiles -------------------------------------------------------------------------------


def _numbers_without_source(table: dict, where: str) -> list[str]:
    """Tables holding a number (besides the format tag) must carry a non-empty ``source``."""
    bad = []
    numbers = [k for k, v in table.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    if where != "" and numbers and not str(table.get("source", "")).strip():
        bad.append(f"{where}: {numbers} without source")
    for key, value in table.items():
        if isinstance(value, dict):
            bad += _numbers_without_source(value, f"{where}.{key}".lstrip("."))
    return bad


@pytest.mark.parametrize("path", sorted(PROFILE_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_number_has_a_source(path: Path):
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    assert _numbers_without_source(doc, "") == []


def test_builtin_energy_profiles_load_with_sources():
    names = builtin_profiles()
    assert {"loihi", "loihi2", "cmos45_int8", "cmos45_fp32"} <= set(names)
    for name in names:
        load_profile(name)  # the limits loader accepts the energy-only files too
        model = load_energy(name)
        assert model.costs and all(src.strip() for src in model.sources().values()), name


def test_published_figures():
    loihi = load_energy("loihi")
    assert {k: c.value for k, c in loihi.costs.items()} == {
        "synaptic_op": 23.6, "graded_synaptic_op": 23.6, "neuron_update_inactive": 52, "neuron_update_active": 81,
        "spike": 1.7, "tile_hop_ew": 3.0, "tile_hop_ns": 4.0,
    }  # fmt: skip
    assert all("Davies" in c.source for c in loihi.costs.values())
    int8, fp32 = load_energy("cmos45_int8"), load_energy("cmos45_fp32")
    assert (int8.costs["dense_mac"].value, int8.costs["synaptic_op"].value) == (0.23, 0.03)
    assert (fp32.costs["dense_mac"].value, fp32.costs["synaptic_op"].value) == (4.6, 0.9)
    assert [(m.name, m.cost.value, m.cost.unit) for m in int8.memory] == [
        ("sram_8kb", 10, "pJ"), ("sram_32kb", 20, "pJ"), ("sram_1mb", 100, "pJ"), ("dram", 1.3, "nJ")
    ]
    assert int8.memory_level(20_000).name == "sram_32kb" and int8.memory_level(1e9).name == "dram"


def test_loihi2_energy_is_a_labelled_proxy():
    model = load_energy("loihi2")
    assert model.proxy_of == "loihi" and "proxy" in model.label
    assert model.costs == load_energy("loihi").costs


USER_PROFILE = """
schema = 1
name = "mychip"
[energy.synaptic_op]
value = 1
unit = "pJ"
source = "test"
[energy.graded_synaptic_op]
value = 2
unit = "pJ"
source = "test"
[energy.neuron_update_active]
value = 10
unit = "pJ"
source = "test"
[energy.neuron_update_inactive]
value = 1
unit = "pJ"
source = "test"
[energy.spike]
value = 0.5
unit = "pJ"
source = "test"
[energy.static_power]
value = 1
unit = "mW"
source = "test"
"""


def test_user_profile_energy_is_sum_of_counts_times_costs(tmp_path: Path):
    path = tmp_path / "mychip.toml"
    path.write_text(USER_PROFILE)
    est = estimate(tiny_net(), tiny_input(), profiles=[str(path)], sim_result=tiny_trace(), core_limits=LIMITS)
    (e,) = est.energy
    assert e.profile == "mychip"
    pj = 1e-12
    expected = {
        "synaptic": 2 * 1 * pj + 5 * 2 * pj,  # readout ops are binary, input ops graded
        "neuron": (4 + 2) * 10 * pj + (12 + 6) * 1 * pj,
        "spikes": (5 + 2) * 0.5 * pj,
        "memory": 0.0,
        "static": STEPS * 1e-3 * 1e-3,  # 8 steps of 1 ms at 1 mW
    }
    assert e.categories == pytest.approx(expected, rel=1e-12)
    assert e.total_j == pytest.approx(sum(expected.values()), rel=1e-12)
    assert sum(i.energy_j for i in e.items) == pytest.approx(e.total_j, rel=1e-12)
    assert e.dense_equivalent_j is None


def test_graded_ops_fall_back_to_the_synaptic_op_cost(tmp_path: Path):
    path = tmp_path / "plain.toml"
    path.write_text('schema = 1\nname = "plain"\n[energy.synaptic_op]\nvalue = 1\nunit = "pJ"\nsource = "test"\n')
    est = estimate(tiny_net(), tiny_input(), profiles=[path], sim_result=tiny_trace(), core_limits=LIMITS)
    (e,) = est.energy
    assert e.categories["synaptic"] == pytest.approx(7e-12)  # 5 graded + 2 binary ops at 1 pJ
    assert "priced as synaptic_op" in next(i.source for i in e.items if i.key == "graded_synaptic_op")


def test_conventional_profile_prices_fetches_and_dense_equivalent():
    est = estimate(tiny_net(), tiny_input(), profiles=["cmos45_int8"], sim_result=tiny_trace(), core_limits=LIMITS)
    (e,) = est.energy
    pj = 1e-12
    assert e.memory_level == "sram_8kb"
    fetch_bits = 5 * (8 + 2) + 2 * (8 + 1)  # per op: weight word + the layer's delay code (its live delays: 0..2, 0..1)
    assert e.categories["memory"] == pytest.approx(fetch_bits / 64 * 10 * pj)
    assert e.categories["synaptic"] == pytest.approx(2 * 0.03 * pj + 5 * 0.23 * pj)
    assert e.categories["neuron"] == pytest.approx(24 * 0.49 * pj)
    dense_macs = 2 * 2 * STEPS + 1 * 2 * STEPS
    assert e.dense_equivalent_j == pytest.approx(dense_macs * 0.23 * pj + dense_macs * 8 / 64 * 10 * pj)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[energy.synaptic_op]\nvalue = 1\nunit = "pJ"\nsource = ""\n', "source"),
        ('[energy.synaptic_op]\nvalue = 1\nunit = "pJ"\n', "source"),
        ('[energy.synaptic_opp]\nvalue = 1\nunit = "pJ"\nsource = "x"\n', "unknown key"),
        ('[energy.synaptic_op]\nvalue = 1\nunit = "W"\nsource = "x"\n', "not an energy"),
        ('[energy.neuron_update_active]\nvalue = 1\nunit = "pJ"\nsource = "x"\n', "pair"),
        ('description = "limits only"\n', r"no \[energy\] section"),
    ],
)
def test_bad_user_profiles_are_rejected(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text('schema = 1\nname = "bad"\n' + text)
    with pytest.raises(ProfileError, match=message):
        load_energy(path)


def test_user_proxy_resolves_next_to_the_file(tmp_path: Path):
    (tmp_path / "base.toml").write_text('schema = 1\nname = "base"\n[energy.synaptic_op]\nvalue = 3\nunit = "pJ"\nsource = "t"\n')
    (tmp_path / "new.toml").write_text('schema = 1\nname = "new"\n[energy]\nproxy_of = "base"\n')
    model = load_energy(tmp_path / "new.toml")
    assert (model.label, model.costs["synaptic_op"].value) == ("new (proxy: base)", 3)
    (tmp_path / "base.toml").write_text('schema = 1\nname = "base"\n[energy]\nproxy_of = "new"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_energy(tmp_path / "new.toml")


def test_unknown_profile_name():
    with pytest.raises(ProfileError, match="unknown profile"):
        load_energy("no_such_chip")


# -- outputs --------------------------------------------------------------------------------


@pytest.mark.slow
def test_to_dict_json_round_trip_table_and_plot(tmp_path: Path):
    est = estimate(tiny_net(), tiny_input(), profiles=["loihi", "cmos45_fp32"], sim_result=tiny_trace(), core_limits=LIMITS)
    data = est.to_dict()
    text = json.dumps(data)
    back = json.loads(text)
    assert back == data
    assert Estimate.from_dict(back) == est
    assert back["totals"]["synaptic_ops"] == 7
    table = est.table()
    assert "cmos45_fp32" in table and "total" in table
    out = plot(est, tmp_path / "est.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["est.png"]  # no temporary left behind


def test_random_input_is_deterministic_and_declared():
    net = tiny_net()
    a, b = random_input(net, steps=200, rate=0.25, samples=3, seed=1), random_input(net, steps=200, rate=0.25, samples=3, seed=1)
    assert np.array_equal(a, b) and a.shape == (3, 200, 2)
    assert a.max() <= 7 and a.min() >= 0
    assert math.isclose(np.count_nonzero(a) / a.size, 0.25, abs_tol=0.05)


def test_sim_result_needs_its_input():
    with pytest.raises(DataError, match="sim_result"):
        estimate(tiny_net(), None, profiles=["loihi"], sim_result=tiny_trace(), core_limits=LIMITS)

"""Memory counted as hardware stores it (delaysnn/estimate/storage.py): golden counts worked by hand,
the dense-vs-sparse choice, ternary codes, the float reference, JSON, and the one core-count rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hardware
from delaysnn import ir
from delaysnn.estimate import (
    Estimate,
    core_limits_of,
    cores_needed,
    estimate,
    layer_memory,
    memory,
    network_cores,
    synapse_layout,
)
from delaysnn.ir import DelayLayer, DelayNetwork, NeuronParams, WeightKind
from tests.conftest import run_cli


def neuron(n: int, vth: int | None) -> NeuronParams:
    return NeuronParams(du=4095, dv=4095, vth=vth, bias_mant=np.zeros(n, np.int32))


def golden_net() -> DelayNetwork:
    """3 -> 4 -> 2: layer 0 dense 4-bit weights with 3-bit delay codes; layer 1 8-bit, pruned to 2 of 8 synapses."""
    hidden = DelayLayer(
        weight=np.array([[1, -2, 3], [4, -5, 6], [7, -8, 1], [2, 3, -4]], np.int32),
        delay=np.array([[0, 1, 2], [3, 4, 5], [5, 4, 3], [2, 1, 0]], np.int32),
        neuron=neuron(4, 10),
        weight_bits=4,
        delay_bits=3,
    )
    readout = DelayLayer(
        weight=np.array([[0, 50, 0, 0], [0, 0, 0, -7]], np.int32),
        delay=np.array([[0, 6, 0, 0], [0, 0, 0, 2]], np.int32),
        neuron=neuron(2, None),
    )
    return DelayNetwork(input_size=3, layers=[hidden, readout], input_bits=1, time_step_ms=1.0)


def test_golden_memory_by_hand():
    mem = memory(golden_net(), "loihi2")  # loihi2: 16-bit delay-line accumulators
    l0, l1 = mem.layers
    # layer 0, 4 x 3, every synapse non-zero; delay_bits 3 declared.
    #   dense:  12 synapses x (4 weight + 3 delay)                        = 84 bits
    #   sparse: 12 x (4 + 3 + ceil(log2 3) = 2 index) + 4 rows x bit_length(12) = 4  = 108 + 16 = 124 bits
    #   -> dense: weights 12 x 4 = 48, delays 12 x 3 = 36, connectivity 0
    #   delay line: 4 neurons x (max delay 5 + 1) x 16 = 384; state: 4 x (24 + 24) = 192
    assert (l0.storage, l0.dense_synaptic_bits, l0.sparse_synaptic_bits) == ("dense", 84, 124)
    assert l0.terms() == {"weights": 48, "delays": 36, "connectivity": 0, "delay_buffers": 384, "neuron_state": 192}
    assert l0.total == 660 and l0.float_synaptic_bits == 12 * 64
    # layer 1, 2 x 4, 2 non-zero synapses; no delay_bits: the live delays are 6 and 2 -> bit_length(6) = 3.
    #   dense:  8 x (8 + 3)                                            = 88 bits
    #   sparse: 2 x (8 + 3 + ceil(log2 4) = 2) + 2 rows x bit_length(2) = 2 = 26 + 4 = 30 bits
    #   -> sparse: weights 2 x 8 = 16, delays 2 x 3 = 6, connectivity 2 x 2 + 2 x 2 = 8
    #   delay line: 2 x (6 + 1) x 16 = 224; state: 2 x 48 = 96
    assert (l1.storage, l1.dense_synaptic_bits, l1.sparse_synaptic_bits) == ("sparse", 88, 30)
    assert l1.terms() == {"weights": 16, "delays": 6, "connectivity": 8, "delay_buffers": 224, "neuron_state": 96}
    assert (l1.stored_synapses, l1.total) == (2, 350)
    totals = mem.totals()
    assert totals == {"weights": 64, "delays": 42, "connectivity": 8, "delay_buffers": 608, "neuron_state": 288, "synaptic": 114, "total": 1010}
    # the float model: all 12 + 8 synapses at 32-bit weights + 32-bit delays = 1280 bits; ours 114 / 1280
    assert mem.float_synaptic_bits == 1280
    assert mem.synaptic_vs_float == pytest.approx(114 / 1280)
    assert mem.to_dict()["kB"]["total"] == pytest.approx(1010 / 8 / 1000)  # 1 kB = 1000 bytes
    assert "16 bits [profile loihi2: limits.accumulator_bits], approximate" in mem.accumulator_label
    assert "precision=16" in mem.accumulator_source and "24" in mem.state_source


def test_a_profile_without_an_accumulator_width_uses_the_u_register():
    mem = memory(golden_net(), "unconstrained")
    assert mem.layers[0].delay_buffers == 4 * 6 * 24
    assert "states no accumulator width" in mem.accumulator_label


def dense_layer(out: int = 4, fan_in: int = 8, bits: int = 8, **kw) -> DelayLayer:
    weight = np.full((out, fan_in), 3, np.int32)
    delay = (np.arange(out * fan_in).reshape(out, fan_in) % 8).astype(np.int32)  # 0..7: 3 bits
    return DelayLayer(weight=weight, delay=delay, neuron=neuron(out, 10), weight_bits=bits, **kw)


def test_dense_until_sparse_is_smaller():
    layer = dense_layer()  # 4 x 8, 8-bit weights, 3-bit delays
    assert synapse_layout(layer).storage == "dense" and synapse_layout(layer).bits == 32 * 11
    # k synapses kept: sparse = k x (8 + 3 + 3 index) + 4 x bit_length(k); dense stays 352
    for keep, expected in ((24, "dense"), (22, "sparse")):  # 24: 336 + 20 = 356 > 352; 22: 308 + 20 = 328
        pruned = dense_layer()
        pruned.weight.flat[keep:] = 0
        pruned.delay.flat[keep:] = 0
        lay = synapse_layout(pruned)
        assert lay.storage == expected, keep
        assert (lay.dense_bits, lay.sparse_bits) == (32 * 11, keep * 14 + 4 * keep.bit_length())
    tie = dense_layer(out=1, fan_in=2, bits=1)  # 1 x 2, delays 0 and 1 (1 bit)
    tie.weight[:] = [[0, -1]]
    # dense 2 x (1 + 1) = 4; sparse 1 x (1 + 1 + 1 index) + 1 x 1 pointer = 4: a tie stays dense
    assert (synapse_layout(tie).storage, synapse_layout(tie).dense_bits, synapse_layout(tie).sparse_bits) == ("dense", 4, 4)


def test_ternary_and_binary_weight_codes():
    tern = dense_layer(bits=2, weight_kind=WeightKind.TERNARY)
    tern.weight[:] = 1
    tern.weight[0, :4] = -1  # no zeros: dense, 2 bits per weight
    assert synapse_layout(tern).storage == "dense" and layer_memory(tern).weights == 32 * 2
    tern.weight.flat[2:] = 0  # 2 of 32 left: sparse, 1 sign bit per stored synapse
    tern.delay.flat[2:] = 0
    mem = layer_memory(tern)
    assert mem.storage == "sparse" and (mem.weight_code_bits, mem.weights) == (1, 2)
    assert (mem.delays, mem.connectivity) == (2 * 1, 2 * 3 + 4 * 2)  # live delays 0, 1: 1 bit; 3-bit index, 2-bit pointers
    binary = dense_layer(bits=1, weight_kind=WeightKind.BINARY)
    binary.weight[:] = -1
    assert layer_memory(binary).weight_code_bits == 1 and layer_memory(binary).weights == 32
    binary.weight[0, 0] = 0  # a pruned binary layer holds three values: dense needs 2 bits
    assert synapse_layout(binary).dense_bits == 32 * (2 + 3)


def test_delay_codes_follow_the_grid_and_zero_delays_cost_no_bits():
    layer = dense_layer()
    layer.delay[:] = 3 * (np.arange(32).reshape(4, 8) % 4)  # 0, 3, 6, 9 on a step-3 grid: codes 0..3
    layer.delay_step = 3
    mem = layer_memory(layer)
    assert (mem.delay_code_bits, mem.buffer_slots) == (2, 10)  # 2-bit codes; the line still spans 9 steps
    layer.delay_bits = 4  # a declared width wins
    assert layer_memory(layer).delay_code_bits == 4
    flat = dense_layer()
    flat.delay[:] = 0
    mem = layer_memory(flat, accumulator_bits=16)
    assert (mem.delay_code_bits, mem.delays, mem.buffer_slots, mem.delay_buffers) == (0, 0, 1, 4 * 16)


def test_zero_weights_do_no_synaptic_ops_and_cost_nothing():
    hidden = DelayLayer(weight=np.array([[5, 0, 0], [0, 0, 0]], np.int32), delay=np.array([[0, 7, 7], [7, 7, 7]], np.int32), neuron=neuron(2, 1000))
    readout = DelayLayer(weight=np.array([[0, 0]], np.int32), delay=np.zeros((1, 2), np.int32), neuron=neuron(1, None))
    net = DelayNetwork(input_size=3, layers=[hidden, readout])
    x = np.zeros((1, 10, 3), np.int32)
    x[0, 1, 0] = 1  # one event through the one synapse
    x[0, [2, 3, 4], 1] = 1  # three events of an input with no synapse
    x[0, 5, 2] = 1
    est = estimate(net, x, profiles=["loihi"])
    h, r = est.layers
    assert (h.input_events, h.synaptic_ops, h.spike_messages, h.active_updates) == (5, 1, 1, 1)
    assert (r.synaptic_ops, r.active_updates) == (0, 0)
    assert h.dense_macs == 2 * 3 * est.steps  # the dense equivalent still counts every synapse
    mem = est.memory.layers
    assert (mem[0].stored_synapses, mem[0].delays, mem[0].buffer_slots) == (1, 0, 1)  # the delay-7 synapses are absent
    assert mem[1].synaptic == 0 and mem[1].storage == "sparse"  # no synapse left: nothing stored


def small_core_profile() -> hardware.Profile:
    doc = {
        "schema": 1,
        "name": "smallcore",
        "limits": {
            "neurons_per_core": {"value": 1000, "source": "test"},
            "synaptic_memory_bytes_per_core": {"value": 64, "source": "test: 512 bits per core"},
        },
    }
    return hardware.parse_profile(doc)


def pruned_net(keep: int | None) -> DelayNetwork:
    layer = dense_layer(out=8, fan_in=16)  # 128 synapses, 8-bit weights, delays 0..7
    if keep is not None:
        layer.weight.flat[keep:] = 0
        layer.delay.flat[keep:] = 0
    readout = DelayLayer(weight=np.ones((1, 8), np.int32), delay=np.zeros((1, 8), np.int32), neuron=neuron(1, None))
    return DelayNetwork(input_size=16, layers=[layer, readout])


def test_cores_drop_when_synapses_are_pruned():
    prof = small_core_profile()
    limits = core_limits_of(prof)
    dense, pruned = pruned_net(None), pruned_net(26)  # 80 % pruned
    # dense: 128 x (8 + 3) = 1408 bits -> ceil(1408 / 512) = 3 cores; readout 8 x 8 = 64 bits -> 1
    assert cores_needed(dense.layers[0], limits) == 3
    # pruned: sparse 26 x (8 + 3 + 4 index) + 8 x bit_length(26) = 390 + 40 = 430 bits -> 1 core
    assert synapse_layout(pruned.layers[0]).bits == 430 and cores_needed(pruned.layers[0], limits) == 1
    assert (prof.cores_needed(dense), prof.cores_needed(pruned)) == (4, 2)
    # one rule: the estimate's count is the profile's
    for net in (dense, pruned):
        est = estimate(net, profiles=["loihi"], steps=5, samples=1, core_limits=limits)
        assert est.totals["cores"] == prof.cores_needed(net) == network_cores(net, limits)
    declared = pruned_net(None)
    declared.layers[0].delay_bits = 6  # a declared width costs its bits: 128 x 14 = 1792 -> 4 cores
    assert cores_needed(declared.layers[0], limits) == 4


def test_estimate_json_carries_a_memory_block_per_layer_and_in_total(tmp_path, capsys):
    net = golden_net()
    est = estimate(net, profiles=["loihi"], steps=6, samples=2)
    data = json.loads(json.dumps(est.to_dict()))
    layer_keys = {"index", "neurons", "fan_in", "synapses", "stored_synapses", "storage", "code_bits", "buffer_slots", "bits", "kB",
                  "dense_synaptic_bits", "sparse_synaptic_bits", "float_synaptic_bits", "synaptic_vs_float",
                  "delay_kind", "stored_delays", "spike_line", "target"}  # fmt: skip
    terms = {"weights", "delays", "connectivity", "delay_buffers", "neuron_state", "synaptic", "total"}
    for row in data["layers"]:
        assert set(row["memory"]) == layer_keys
        assert set(row["memory"]["bits"]) == set(row["memory"]["kB"]) == terms
        assert set(row["memory"]["code_bits"]) == {"weight", "delay", "index", "row_pointer", "accumulator", "neuron_state"}
    total = data["memory"]
    assert set(total) == {"kB_means", "bits", "kB", "float_synaptic_bits", "float_reference", "synaptic_vs_float", "profile", "accumulator",
                          "sources", "delay_storage", "target"}  # fmt: skip
    assert total["kB_means"] == "1000 bytes" and total["bits"]["total"] == 1010 == data["totals"]["memory_bits"]
    assert Estimate.from_dict(data) == est
    assert "memory (bits, as stored)" in est.table() and "sparse" in est.table()
    # the command line prints the same block
    path = tmp_path / "golden.dnet"
    ir.save(net, path)
    code, out, err = run_cli(["estimate", path, "--json", "--samples", "2", "--profile", "loihi"], capsys)
    assert code == 0, err
    cli = json.loads(out)
    assert cli["memory"] == memory(net).to_dict(layers=False)
    assert [row["memory"]["storage"] for row in cli["layers"]] == ["dense", "sparse"]


def test_inspect_shows_the_memory_of_an_ir_file(tmp_path, capsys):
    path = tmp_path / "golden.dnet"
    ir.save(golden_net(), path)
    code, out, err = run_cli(["inspect", path], capsys)
    assert code == 0, err
    assert "layer 1 (sparse, 2/8 synapses stored)" in out and "total 1010 bits = 0.1263 kB" in out
    code, out, err = run_cli(["inspect", path, "--json"], capsys)
    assert json.loads(out)["memory_bits"]["total"] == 1010


def test_quantize_reports_the_memory_in_text_and_json(tmp_path, capsys):
    import torch

    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.checkpoint import save_checkpoint
    from delaysnn.quantization import quantize_with_report

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=6, hidden_layers=1, max_delay=5)).eval()
    model.round_positions()
    net, report = quantize_with_report(model, weight_bits=4)
    assert report.memory == memory(net)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["memory"]["bits"]["total"] == memory(net).total_bits and len(data["memory"]["layers"]) == 2
    assert "memory (bits, as stored):" in report.to_markdown() and "of the float model" in report.to_markdown()
    ckpt, out_path = tmp_path / "m.pt", tmp_path / "m.dnet"
    save_checkpoint(model, ckpt)
    code, out, err = run_cli(["quantize", ckpt, "-o", out_path, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["memory"] == memory(ir.load(out_path)).to_dict()


def test_pruned_ternary_and_delay_bit_networks_take_less_memory_and_fewer_cores():
    import torch

    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.quantization import quantize_model

    torch.manual_seed(1)
    model = DelaySNN(ModelConfig(input_size=40, output_size=4, hidden_size=64, hidden_layers=1, max_delay=25)).eval()
    model.round_positions()
    prof = small_core_profile()
    base = quantize_model(model, weight_bits=4)
    variants = {
        "pruned": quantize_model(model, weight_bits=4, prune=0.8),
        "ternary": quantize_model(model, ternary=True),
        "delay bits": quantize_model(model, weight_bits=4, delay_bits=2),
    }
    full = memory(base)
    assert [m.storage for m in full.layers] == ["dense", "dense"]
    for label, net in variants.items():
        mem = memory(net)
        assert mem.totals()["synaptic"] < full.totals()["synaptic"], label
        assert mem.float_synaptic_bits == full.float_synaptic_bits  # the float reference counts every synapse
        assert prof.cores_needed(net) < prof.cores_needed(base), label
    assert [m.storage for m in memory(variants["pruned"]).layers] == ["sparse", "sparse"]
    assert [m.delay_code_bits for m in memory(variants["delay bits"]).layers] == [2, 2]

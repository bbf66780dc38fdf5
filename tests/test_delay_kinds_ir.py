"""Delay kinds in the integer IR (issue 25): axonal ``[in]`` and dendritic ``[out]`` delays beside
synaptic ``[out, in]`` ones; ``check_network``, ``.dnet`` version 3 (versions 1-2 read as
synaptic), the sim, the profile bounds, the quantizer and the memory estimate per kind."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delaysnn import ir
from delaysnn.errors import IRValidationError
from delaysnn.estimate import layer_memory, network_memory, synapse_layout
from delaysnn.ir import DelayKind, DelayLayer, DelayNetwork, NeuronParams
from delaysnn.ir.folded import FoldedLayer
from delaysnn.quantization import LayerOptions, quantize_layer
from delaysnn.sim import simulate
from hardware import load_profile, parse_profile
from hardware.cores import cores_needed
from tests.factories import KIND_SPECS, NetSpec, networks, random_input, random_network

KINDS = [spec.kind for spec in KIND_SPECS]


def _as_synaptic(net: DelayNetwork) -> DelayNetwork:
    """``net`` with every layer's delays as the per-synapse matrix they mean."""
    layers = [dataclasses.replace(lay, delay=lay.delay_matrix, delay_kind=DelayKind.SYNAPTIC) for lay in net.layers]
    return dataclasses.replace(net, layers=layers)


def _header(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as npz:
        return json.loads(npz["header"].tobytes().decode())


def _with_header(data: bytes, header: dict) -> bytes:
    """``data`` (a ``.dnet``) with its JSON header replaced, its arrays kept."""
    buf = io.BytesIO()
    with np.load(io.BytesIO(data)) as npz, zipfile.ZipFile(buf, "w") as out:
        for name in npz.files:
            member = io.BytesIO()
            value = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8) if name == "header" else npz[name]
            np.save(member, value)
            out.writestr(f"{name}.npy", member.getvalue())
    return buf.getvalue()


# --- the IR: shapes, check_network, delay_matrix -------------------------------------------------


@pytest.mark.parametrize("spec", KIND_SPECS, ids=lambda s: f"{s.kind}-{'x'.join(map(str, s.sizes))}")
def test_every_kind_is_valid_with_its_vector_and_the_matrix_broadcasts_it(spec):
    net = random_network(spec)
    assert ir.check_network(net) == []
    for lay in net.layers:
        out, n_in = lay.shape
        assert lay.delay_kind is DelayKind(spec.kind)
        assert lay.delay.shape == ((n_in,) if spec.kind == "axonal" else (out,))
        m = lay.delay_matrix
        assert m.shape == (out, n_in) and m.dtype == np.int32
        expected = lay.delay[None, :] if spec.kind == "axonal" else lay.delay[:, None]
        assert np.array_equal(m, np.broadcast_to(expected, (out, n_in)))
        assert lay.max_delay == int(m.max()) == int(lay.delay.max())
        m[0, 0] += 1  # a fresh writable array: the layer's vector is untouched
        assert lay.delay_matrix[0, 0] == m[0, 0] - 1


def _layer(kind: DelayKind, delay: np.ndarray, shape: tuple[int, int] = (4, 3)) -> DelayLayer:
    out, n_in = shape
    return DelayLayer(
        weight=np.ones(shape, np.int32),
        delay=np.asarray(delay, np.int32),
        neuron=NeuronParams(du=0, dv=0, vth=None, bias_mant=np.zeros(out, np.int32)),
        delay_kind=kind,
    )


@pytest.mark.parametrize(
    ("kind", "delay", "message"),
    [
        (DelayKind.AXONAL, np.zeros((4, 3)), r"layer 0: axonal delay has shape \(4, 3\), expected \(3,\) \(\[in\], one per input neuron of weight \(4, 3\)\)"),
        (DelayKind.AXONAL, np.zeros(4), r"axonal delay has shape \(4,\), expected \(3,\)"),
        (DelayKind.DENDRITIC, np.zeros(3), r"layer 0: dendritic delay has shape \(3,\), expected \(4,\) \(\[out\], one per output neuron"),
        (DelayKind.SYNAPTIC, np.zeros(4), r"synaptic delay has shape \(4,\), expected \(4, 3\) \(\[out, in\], one per synapse"),
        ("axonal", np.zeros(3), r"layer 0: delay_kind 'axonal' is not a DelayKind; use one of DelayKind.SYNAPTIC, DelayKind.AXONAL"),
        (DelayKind.DENDRITIC, np.array([0, 1, -2, 0]), r"layer 0: negative delay -2"),
    ],
)
def test_check_network_refuses_a_delay_shaped_for_another_kind_in_one_line(kind, delay, message):
    net = DelayNetwork(input_size=3, layers=[_layer(kind, delay)])
    problems = ir.check_network(net)
    assert len(problems) == 1 and "\n" not in problems[0]
    with pytest.raises(IRValidationError, match=message):
        net.check()


def test_a_delay_vector_off_the_delay_grid_is_refused():
    lay = dataclasses.replace(_layer(DelayKind.AXONAL, [0, 3, 6]), delay_bits=1, delay_step=3)
    with pytest.raises(IRValidationError, match=r"delay 6 is 2 x delay_step 3, beyond the 1-bit delay range 0..1"):
        DelayNetwork(input_size=3, layers=[lay]).check()


# --- .dnet version 3; versions 1 and 2 read as synaptic ------------------------------------------


@pytest.mark.parametrize("spec", KIND_SPECS, ids=lambda s: f"{s.kind}-{'x'.join(map(str, s.sizes))}")
def test_dnet_round_trip_keeps_the_kind_and_the_vector(spec, tmp_path):
    net = random_network(spec)
    path = tmp_path / "net.dnet"
    ir.save(net, path)
    head = _header(path.read_bytes())
    assert head["version"] == ir.VERSION == 3
    assert [lay["delay_kind"] for lay in head["layers"]] == [spec.kind] * len(net.layers)
    back = ir.load(path)
    for a, b in zip(net.layers, back.layers, strict=True):
        assert b.delay_kind is a.delay_kind and b.delay.dtype == a.delay.dtype and np.array_equal(a.delay, b.delay)
    assert ir.network_id(back) == ir.network_id(net)
    assert ir.network_id(net) != ir.network_id(_as_synaptic(net))  # the kind is part of the identity


def test_version_2_file_loads_as_synaptic_and_refuses_a_delay_kind():
    """A version-2 file is a version-3 one without ``delay_kind`` (the only change): written here
    from a synaptic network's header, it loads with synaptic layers and the same identity."""
    net = random_network(NetSpec(sizes=(4, 5, 3), seed=3))
    data = ir.to_bytes(net)
    head = _header(data)
    for lay in head["layers"]:
        del lay["delay_kind"]
    v2 = _with_header(data, {**head, "version": 2})
    back = ir.from_bytes(v2, source="old.dnet")
    assert [lay.delay_kind for lay in back.layers] == [DelayKind.SYNAPTIC] * 2
    assert ir.network_id(back) == ir.network_id(net)
    head["layers"][0]["delay_kind"] = "axonal"
    with pytest.raises(IRValidationError, match=r"^old.dnet: layer 0: field 'delay_kind' is new in IR version 3, but the file says version 2"):
        ir.from_bytes(_with_header(data, {**head, "version": 2}), source="old.dnet")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("somatic", r"layer 0: field 'delay_kind' is 'somatic', expected one of 'synaptic', 'axonal', 'dendritic'"),
        ("axonal", r"layer 0: axonal delay has shape \(5, 4\), expected \(4,\)"),
    ],
)
def test_dnet_with_a_wrong_or_misstated_kind_is_one_line_naming_the_file(kind, message, tmp_path, capsys):
    from tests.conftest import run_cli

    data = ir.to_bytes(random_network(NetSpec(sizes=(4, 5, 3), seed=3)))
    head = _header(data)
    head["layers"][0]["delay_kind"] = kind
    path = tmp_path / "odd.dnet"
    path.write_bytes(_with_header(data, head))
    with pytest.raises(IRValidationError, match=f"^{path}: {message}"):
        ir.load(path)
    code, out, err = run_cli(["inspect", path], capsys)
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_inspect_shows_the_kind_per_layer(tmp_path, capsys):
    from tests.conftest import run_cli

    path = tmp_path / "axonal.dnet"
    ir.save(random_network(KIND_SPECS[0]), path)
    code, out, err = run_cli(["inspect", path], capsys)
    assert code == 0, err
    assert "axonal delays (one per input neuron, 5)" in out and "axonal delays (one per input neuron, 7)" in out


# --- the sim ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", KIND_SPECS, ids=lambda s: f"{s.kind}-{'x'.join(map(str, s.sizes))}")
def test_sim_of_a_kind_equals_the_sim_of_its_synaptic_matrix(spec):
    net = random_network(spec)
    x = random_input(net, 3, 30, rate=0.4, seed=spec.seed)
    a, b = simulate(net, x), simulate(_as_synaptic(net), x)
    assert np.array_equal(a.voltages, b.voltages) and a.voltages.any()
    for sa, sb in zip(a.spikes, b.spikes, strict=True):
        assert np.array_equal(sa, sb) and 0.02 < sa.mean() < 0.5  # every hidden layer fired


@settings(max_examples=15, deadline=None)
@given(networks(kinds=("synaptic", "axonal", "dendritic")), st.integers(0, 2**31 - 1))
def test_any_network_of_any_kind_round_trips_and_simulates_as_its_matrix(net, seed):
    back = ir.from_bytes(ir.to_bytes(net))
    assert [lay.delay_kind for lay in back.layers] == [lay.delay_kind for lay in net.layers]
    x = random_input(net, 2, 12, rate=0.4, seed=seed)
    a, b = simulate(back, x), simulate(_as_synaptic(net), x)
    assert np.array_equal(a.voltages, b.voltages)
    assert all(np.array_equal(sa, sb) for sa, sb in zip(a.spikes, b.spikes, strict=True))


def _readout(kind: DelayKind, delay: list[int], seed: int = 0) -> DelayNetwork:
    """One readout layer 5 -> 4, no bias (so a neuron rests at 0 until its first input)."""
    rng = np.random.default_rng(seed)
    lay = DelayLayer(
        weight=rng.integers(-20, 40, size=(4, 5)).astype(np.int32),
        delay=np.asarray(delay, np.int32),
        neuron=NeuronParams(du=1024, dv=512, vth=None, bias_mant=np.zeros(4, np.int32)),
        delay_kind=kind,
    )
    return DelayNetwork(input_size=5, layers=[lay])


def test_axonal_delays_shift_each_input_neurons_spikes_before_the_weights():
    """Independent of ``delay_matrix``: an axonal layer on ``x`` is the delay-free layer on ``x``
    with input neuron ``i``'s spikes moved ``d[i]`` steps later."""
    d = [0, 3, 1, 7, 2]
    net = _readout(DelayKind.AXONAL, d)
    x = random_input(net, 2, 20, rate=0.5, seed=4)
    shifted = np.zeros((2, 20 + max(d), 5), x.dtype)
    for i, di in enumerate(d):
        shifted[:, di : di + 20, i] = x[:, :, i]
    free = _readout(DelayKind.AXONAL, [0] * 5)
    steps = 20 + max(d) + 3
    got, want = simulate(net, x, steps=steps).voltages, simulate(free, shifted, steps=steps).voltages
    assert np.array_equal(got, want) and np.count_nonzero(got) > 20


def test_dendritic_delays_shift_each_output_neurons_trace():
    """Independent of ``delay_matrix``: with no bias, output neuron ``o`` of a dendritic layer
    follows the delay-free neuron ``d[o]`` steps later (its weighted sums wait ``d[o]`` steps)."""
    d = [4, 0, 2, 6]
    net, free = _readout(DelayKind.DENDRITIC, d), _readout(DelayKind.DENDRITIC, [0] * 4)
    x = random_input(net, 2, 20, rate=0.5, seed=5)
    steps = 20 + max(d) + 3
    got, base = simulate(net, x, steps=steps).voltages, simulate(free, x, steps=steps).voltages
    for o, do in enumerate(d):
        assert np.array_equal(got[:, do:, o], base[:, : steps - do, o]) and not got[:, :do, o].any()
    assert np.count_nonzero(got) > 20


# --- profile bounds ------------------------------------------------------------------------------


def test_profile_bounds_check_every_kind():
    prof = parse_profile({"schema": 1, "name": "short", "limits": {"max_delay": {"value": 3, "source": "test"},
                                                                   "delay_bits": {"value": 2, "source": "test"}}})  # fmt: skip
    axonal = DelayNetwork(input_size=3, layers=[dataclasses.replace(_layer(DelayKind.AXONAL, [0, 5, 9]), delay_bits=4)])
    dendritic = DelayNetwork(input_size=3, layers=[_layer(DelayKind.DENDRITIC, [4, 0, 0, 0])])
    assert prof.violations(axonal)[0].startswith("layer 0: delay_bits 4 > 2")
    assert prof.violations(axonal)[1].startswith("layer 0: 2 input neurons (axonal delays) have delay > 3 (max 9)")
    assert prof.violations(dendritic) == [
        "layer 0: 1 output neurons (dendritic delays) have delay > 3 (max 4) [profile short: limits.max_delay]; "
        "retrain with --max-delay 4 or clip them with --clip-delays"
    ]


# --- the quantizer --------------------------------------------------------------------------------


def _folded(kind: DelayKind, delay: np.ndarray, seed: int = 0) -> FoldedLayer:
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 1, size=(4, 6))
    weight[:, 2] = 0.0  # input neuron 2 carries nothing
    weight[3, :] = 0.0  # nor does output neuron 3
    return FoldedLayer(
        name="hidden0", weight=weight, delay=np.asarray(delay, np.int64), bias=np.zeros(4), tau=2.0, synaptic_tau=None,
        threshold=1.0, delay_kind=kind,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "delay"),
    [(DelayKind.AXONAL, [0, 7, 5, 3, 11, 1]), (DelayKind.DENDRITIC, [2, 11, 0, 9])],
)
@pytest.mark.parametrize("grid", ["step", "cap"])
def test_quantizer_keeps_the_kind_and_puts_the_vector_on_the_delay_grid(kind, delay, grid):
    opts = LayerOptions(weight_bits=4, delay_bits=2, delay_grid=grid, kernel_max_delay=12)
    lay, rep = quantize_layer(_folded(kind, delay), opts)
    syn, syn_rep = quantize_layer(dataclasses.replace(_folded(kind, delay), delay=_folded(kind, delay).delay_matrix(), delay_kind=DelayKind.SYNAPTIC), opts)
    assert lay.delay_kind is kind and lay.delay.shape == np.asarray(delay).shape and lay.delay.dtype == np.int32
    assert np.array_equal(lay.weight, syn.weight)
    live = lay.weight != 0
    # the same grid as the synapses that carry a weight would get, and the same delay on each of them
    assert (lay.delay_bits, lay.delay_step) == (syn.delay_bits, syn.delay_step) == (2, 4 if grid == "step" else 1)
    assert np.array_equal(lay.delay_matrix[live], syn.delay[live])
    assert len(np.unique(lay.delay)) <= 4 and np.all(lay.delay % lay.delay_step == 0)
    idle = 2 if kind is DelayKind.AXONAL else 3
    assert lay.delay[idle] == 0  # a neuron with no weight keeps no delay
    assert rep.delay_kind == kind.value and rep.max_delay_found == 11
    assert rep.delays_moved == int((lay.delay != np.where(np.arange(len(delay)) == idle, 0, delay)).sum())
    DelayNetwork(input_size=6, layers=[dataclasses.replace(lay, neuron=dataclasses.replace(lay.neuron, vth=None))]).check()


def test_quantizer_refuses_long_axonal_delays_naming_the_neurons():
    from delaysnn.errors import HardwareLimitError
    from delaysnn.quantization.network import _refuse_long_delays

    _, rep = quantize_layer(_folded(DelayKind.AXONAL, [0, 7, 5, 3, 11, 1]), LayerOptions(max_delay=6))
    assert rep.delays_over_limit == 2
    with pytest.raises(HardwareLimitError, match=r"hidden0: 2 input neurons \(axonal delays\) have delay > 6 \(max 11\)"):
        _refuse_long_delays([rep], 6, "max_delay=6")


# --- memory per kind ---------------------------------------------------------------------------


def _small(kind: DelayKind) -> DelayLayer:
    """4 outputs x 3 inputs, 8-bit weights all non-zero, delays up to 5 (3-bit codes)."""
    delay = {DelayKind.AXONAL: [0, 5, 2], DelayKind.DENDRITIC: [0, 5, 2, 1]}.get(kind, np.tile([0, 5, 2], (4, 1)))
    lay = _layer(kind, delay)
    lay.weight_bits = 8
    return lay


@pytest.mark.parametrize(
    ("kind", "weights", "delays", "stored_delays", "buffers"),
    [
        # dense 12 x (8 + 3) = 132 < sparse 12 x (8 + 3 + 2) + 4 x 4 = 172; out x (5 + 1) x 16 accumulators
        (DelayKind.SYNAPTIC, 96, 36, 12, 4 * 6 * 16),
        # dense 12 x 8 + 3 x 3 = 105; spike lines 3 inputs x 5 slots x 1 bit + one 16-bit accumulator per output
        (DelayKind.AXONAL, 96, 9, 3, 3 * 5 * 1 + 4 * 16),
        # dense 12 x 8 + 4 x 3 = 108; the weighted sums wait: out x (5 + 1) x 16
        (DelayKind.DENDRITIC, 96, 12, 4, 4 * 6 * 16),
    ],
)
def test_memory_counts_the_delays_and_the_delay_lines_each_kind_needs(kind, weights, delays, stored_delays, buffers):
    m = layer_memory(_small(kind), accumulator_bits=16)
    assert (m.storage, m.weights, m.delays, m.connectivity, m.stored_delays) == ("dense", weights, delays, 0, stored_delays)
    assert m.delay_buffers == buffers and m.delay_code_bits == 3 and m.delay_kind == kind.value
    assert m.target_synaptic_bits is None  # no target stated: counted as the IR stores it
    graded = layer_memory(_small(kind), accumulator_bits=16, spike_bits=3)  # a first layer's graded payloads
    assert graded.delay_buffers == (buffers + 2 * 3 * 5 if kind is DelayKind.AXONAL else buffers)


def test_loihi2_stores_every_delay_per_synapse_and_the_report_says_so():
    net = DelayNetwork(input_size=3, layers=[_small(DelayKind.AXONAL)])
    loihi2, free = load_profile("loihi2"), load_profile("unconstrained")
    mem = network_memory(net, loihi2)
    m = mem.layers[0]
    assert (m.synaptic, m.target_synaptic_bits, m.target_delay_buffer_bits) == (105, 132, 4 * 6 * 16)
    t = mem.target_totals()
    assert t == {"synaptic": 132, "delay_buffers": 384, "total": mem.total_bits - 105 - 79 + 132 + 384}
    text = "\n".join(mem.lines())
    assert "axonal delays: 3 stored" in text and "profile loihi2 stores every delay per synapse" in text and "DelayDense" in text
    assert network_memory(net, free).target_totals() is None and network_memory(_as_synaptic(net), loihi2).target_totals() is None
    back = type(mem).from_dict(json.loads(json.dumps(mem.to_dict())))
    assert back == mem
    # cores follow what the target stores: 132 bits per synapse, 105 as the IR stores them
    limits = {"synaptic_memory_bits": 110}
    assert cores_needed(net.layers[0], {**limits, "delays_per_synapse": True}) == 2
    assert cores_needed(net.layers[0], limits) == 1
    assert synapse_layout(net.layers[0], per_synapse=True).bits == 132 == synapse_layout(_as_synaptic(net).layers[0]).bits


def test_profile_storage_table_is_checked():
    from delaysnn.errors import ProfileError

    with pytest.raises(ProfileError, match=r"storage.delays is 'sometimes'; use one of 'per_synapse', 'as_ir'; storage.source must be"):
        parse_profile({"schema": 1, "name": "x", "storage": {"delays": "sometimes"}})


@pytest.mark.parametrize("kind", ["axonal", "dendritic"])
def test_quantizing_a_model_of_a_kind_gives_integer_layers_of_that_kind(kind):
    """End to end through ``ModelConfig.delay_kind`` and the float IR: the integer vectors are the
    folded float delays on the layer's delay grid (0 where the neuron carries no weight)."""
    import torch

    from delaysnn.ir.folded import one_delay_layers
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.quantization import quantize_with_report
    from delaysnn.quantization.grids import delay_grid

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=7, delay_kind=kind)).eval()
    net, report = quantize_with_report(model, delay_bits=2)
    folded = one_delay_layers(model.folded(transforms=False))
    for lay, flay, rep in zip(net.layers, folded, report.layers, strict=True):
        assert lay.delay_kind is DelayKind(kind) and lay.delay.shape == flay.delay.shape == lay.delay_shape
        carries = (lay.weight != 0).any(axis=0 if kind == "axonal" else 1)
        grid = delay_grid(flay.delay[carries], 2, "step", max_delay=model.cfg.max_delay - 1)  # the quantizer's edge: the kernel
        assert np.array_equal(lay.delay, np.where(carries, grid.snap(flay.delay), 0))
        assert (lay.delay_bits, lay.delay_step) == (2, grid.step) and rep.delay_kind == kind
    assert len({int(d) for lay in net.layers for d in lay.delay}) > 1  # delays were learned apart
    assert f"{kind} delays:" in report.memory.lines()[0]

"""NIR backend: the exact F/Delay/W' decomposition, lossless IR and float round trips, foreign
graphs, and peers (``nir.read``, nirtorch with our node map) reproducing our models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from delaysnn import ir
from delaysnn.errors import UnsupportedError
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.sim import SimResult, simulate
from tests.conformance import assert_identical
from tests.factories import (
    FRONTIER_SPECS,
    NAMED_SPECS,
    NetSpec,
    networks,
    random_input,
    random_network,
    shd_like_input,
    shd_like_network,
)

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

from delaysnn.app.from_nir import read_float  # noqa: E402
from exporters import nir as enir  # noqa: E402
from exporters.nir.execute import execute  # noqa: E402
from exporters.nir.importer import raw_weight  # noqa: E402
from exporters.nirtorch_delay import Delay, run_steps, to_torch  # noqa: E402

STANDARD_NODES = {"Input", "Output", "Linear", "Affine", "Delay", "LIF", "CubaLIF", "LI", "CubaLI"}
SPECS = NAMED_SPECS


# --- helpers -----------------------------------------------------------------------------------


def _chain_order(graph: nir.NIRGraph) -> list[str]:
    succ = dict(graph.edges)
    order = [next(k for k, n in graph.nodes.items() if isinstance(n, nir.Input))]
    while order[-1] in succ:
        order.append(succ[order[-1]])
    return order


def _truncated(graph: nir.NIRGraph, last: str) -> nir.NIRGraph:
    """The graph up to node ``last`` (a hidden neuron), whose output becomes the graph's."""
    order = _chain_order(graph)
    keep = order[: order.index(last) + 1]
    nodes = {k: graph.nodes[k] for k in keep}
    nodes["output"] = nir.Output(output_type=np.asarray(graph.nodes[last].output_type["output"]))
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=graph.metadata)


def _dyadic_model(synaptic_tau: float | None = None, batchnorm: bool = True, seed: int = 0) -> DelaySNN:
    """A model whose float arithmetic is exact: weights k/8 (after DCLS' tap normalisation),
    tau 2 steps, threshold 1, BatchNorm with gain in {1/2, 1, 2} and dyadic shifts."""
    torch.manual_seed(seed)
    cfg = ModelConfig(
        input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=7, tau=2.0, readout_tau=2.0,
        threshold=1.0, batchnorm=batchnorm, synaptic_tau=synaptic_tau, time_step_ms=1.0,
    )
    model = DelaySNN(cfg)
    with torch.no_grad():
        for syn in model.synapses:
            target = torch.randint(-4, 9, syn.weight.shape).float() / 8
            syn.weight.copy_(torch.from_numpy(raw_weight(target.numpy())))
            syn.pos.copy_(torch.randint(-3, 4, syn.pos.shape).float())
        for layer in model.hidden:
            if layer.bn is not None:
                layer.bn.weight.copy_(2.0 ** torch.randint(-1, 2, layer.bn.weight.shape).float())
                layer.bn.bias.copy_(torch.randint(-2, 3, layer.bn.bias.shape).float() / 8)
                layer.bn.running_mean.copy_(torch.randint(-2, 3, layer.bn.running_mean.shape).float() / 4)
                layer.bn.running_var.fill_(float(np.float32(1.0 - layer.bn.eps)))
    model.set_learn_positions(False)
    model.eval()
    for syn in model.synapses:  # the premise of exactness: the kernel the model uses is dyadic
        kernel = syn.kernel()
        assert torch.equal(kernel * 8, (kernel * 8).round())
    return model


def _padded(model: DelaySNN, x: torch.Tensor) -> torch.Tensor:
    """The streaming input equivalent to ``model(x)``: ``x`` then the model's zero padding."""
    extra = model.cfg.output_steps(x.shape[1]) - x.shape[1]
    return torch.cat([x, torch.zeros(x.shape[0], extra, x.shape[2])], dim=1)


def _strip_metadata(graph: nir.NIRGraph, keep_dt: bool = True) -> nir.NIRGraph:
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {"dt": graph.metadata["dt"]} if keep_dt else {}
    return graph


# --- the decomposition ---------------------------------------------------------------------------


def test_decomposition_hand_example():
    """2 inputs, 3 outputs, mixed delays; a zero-weight synapse uses no pair."""
    weight = np.array([[1, 2], [3, 0], [0, -4]], np.int32)
    delay = np.array([[0, 2], [2, 5], [1, 2]], np.int32)
    post, pre = np.nonzero(weight)
    dec = enir.decompose((3, 2), post, pre, delay[post, pre], weight[post, pre])
    # pairs sorted by (input, delay): (0, 0), (0, 2), (1, 2)
    np.testing.assert_array_equal(dec.fanout, [[1, 0], [1, 0], [0, 1]])
    np.testing.assert_array_equal(dec.steps, [0, 2, 2])
    np.testing.assert_array_equal(dec.weight, [[1, 0, 2], [0, 3, 0], [0, 0, -4]])

    # the same layer in an exported graph: F, tau = steps * dt, W' = w << 6
    neuron = ir.NeuronParams(du=4095, dv=0, vth=None, bias_mant=np.zeros(3, np.int32))
    net = ir.DelayNetwork(2, [ir.DelayLayer(weight=weight, delay=delay, neuron=neuron)], time_step_ms=2.0)
    graph = enir.export_ir(net)
    assert _chain_order(graph) == ["input", "layer0_fanout", "layer0_delay", "layer0_weight", "layer0_neuron", "output"]
    np.testing.assert_array_equal(graph.nodes["layer0_fanout"].weight, dec.fanout)
    # Delay = (d + latency) * dt: the one step Loihi's layer adds is in the graph (float64 seconds)
    assert graph.metadata["latency_steps"].tolist() == [1] and graph.nodes["layer0_delay"].delay.dtype == np.float64
    np.testing.assert_allclose(graph.nodes["layer0_delay"].delay, (dec.steps + 1) * 0.002, rtol=1e-15)
    np.testing.assert_allclose(graph.nodes["layer0_delay"].delay, [0.002, 0.006, 0.006], rtol=1e-7)
    np.testing.assert_array_equal(graph.nodes["layer0_weight"].weight, dec.weight * 64)
    back = enir.read_ir(enir.to_bytes(graph))
    np.testing.assert_array_equal(back.layers[0].weight, weight)
    np.testing.assert_array_equal(back.layers[0].delay, delay)  # (1, 1)'s delay 5 rides in the metadata


def test_decomposition_computes_the_delayed_sum():
    """``W' . Delay . F`` applied to a signal equals ``y[t, o] = sum_i w[o, i] x[t - d[o, i], i]``."""
    rng = np.random.default_rng(0)
    weight = rng.integers(-3, 4, size=(4, 5))
    delay = rng.integers(0, 6, size=(4, 5))
    x = rng.integers(0, 3, size=(20, 5))
    post, pre = np.nonzero(weight)
    dec = enir.decompose((4, 5), post, pre, delay[post, pre], weight[post, pre], dtype=np.int64)
    pairs = x @ dec.fanout.T  # [T, P]
    delayed = np.stack([np.concatenate([np.zeros(s), pairs[:, p]])[: len(x)] for p, s in enumerate(dec.steps)], axis=1)
    got = delayed @ dec.weight.T
    want = np.zeros((20, 4))
    for o, i in zip(post, pre):
        want[delay[o, i]:, o] += weight[o, i] * x[: 20 - delay[o, i], i]
    np.testing.assert_array_equal(got, want)


# --- integer network: lossless --------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"seed{s.seed}")
def test_ir_round_trip_bit_identical(spec, tmp_path):
    net = random_network(spec)
    net.time_step_ms = 0.25 * (spec.seed + 1)
    path = enir.save(enir.export_ir(net), tmp_path / "net.nir")
    assert isinstance(nir.read(path, type_check=True), nir.NIRGraph)
    back = enir.read_ir(path)
    assert ir.to_bytes(back) == ir.to_bytes(net)


@settings(max_examples=15, deadline=None)
@given(networks(max_width=5, max_layers=3))
def test_ir_round_trip_property(net):
    assert ir.to_bytes(enir.read_ir(enir.to_bytes(enir.export_ir(net)))) == ir.to_bytes(net)


@pytest.mark.parametrize("spec", FRONTIER_SPECS, ids=lambda s: f"seed{s.seed}")
def test_frontier_networks_round_trip(spec):
    """Delay bits (both grids), ternary, pruned layers: the NIR file keeps the grid fields; absent
    synapses are not in the fan-out F (their spikes on nir and nir-roundtrip: the conformance
    harness, tests/conformance.py)."""
    net = random_network(spec)
    graph = enir.export_ir(net)
    back = enir.read_ir(enir.to_bytes(graph))
    assert ir.to_bytes(back) == ir.to_bytes(net)
    assert [(lay.weight_kind, lay.delay_bits, lay.delay_step) for lay in back.layers] == [
        (lay.weight_kind, lay.delay_bits, lay.delay_step) for lay in net.layers
    ]
    for i, layer in enumerate(net.layers):  # F has one row per distinct (input, delay) pair that carries a weight
        post, pre = np.nonzero(layer.weight)
        pairs = set(zip(pre.tolist(), layer.delay[post, pre].tolist()))
        assert graph.nodes[f"layer{i}_fanout"].weight.shape[0] == len(pairs)


def test_shd_shaped_network_round_trip():
    net = shd_like_network()
    back = enir.read_ir(enir.to_bytes(enir.export_ir(net)))
    assert ir.to_bytes(back) == ir.to_bytes(net)
    x = shd_like_input(batch=2, steps=30)
    assert_identical(simulate(net, x), simulate(back, x), "nir-roundtrip")


def test_integer_graph_fields_and_metadata():
    net = random_network(NetSpec(sizes=(4, 5, 3), seed=11))
    net.layers[0].neuron.du = 100  # a synaptic filter: CubaLIF, bias in v_leak
    net.layers[1].neuron.du = 4095
    graph = enir.export_ir(net, dt=1e-3)
    kinds = [type(graph.nodes[f"layer{i}_neuron"]).__name__ for i in range(2)]
    assert kinds == ["CubaLIF", "LI"]
    meta = graph.metadata
    assert (meta["network"], meta["spike_condition"], meta["dt"]) == ("integer", ">", 1e-3)
    np.testing.assert_array_equal(meta["latency_steps"], [1, 1])
    lif = graph.nodes["layer0_neuron"]
    n = net.layers[0].neuron
    np.testing.assert_array_equal(lif.v_threshold, np.full(5, n.vth << 6))
    np.testing.assert_allclose(lif.tau_syn, 1e-3 * 4096 / 101)
    np.testing.assert_allclose(lif.r * 1e-3 / lif.tau_mem, 1.0)  # r = tau/dt: input added undecayed
    np.testing.assert_allclose(lif.v_leak * 1e-3 / lif.tau_mem, n.bias_mant * 2.0**n.bias_exp)


def test_read_ir_rejects_stale_metadata_and_float_files(tiny_model):
    net = random_network(NetSpec(sizes=(3, 4, 2), seed=12))
    graph = enir.export_ir(net)
    graph.nodes["layer0_neuron"].v_threshold = graph.nodes["layer0_neuron"].v_threshold + 64
    with pytest.raises(UnsupportedError, match="v_threshold.*disagrees"):
        enir.read_ir(enir.to_bytes(graph))
    with pytest.raises(UnsupportedError, match="read_float"):
        enir.read_ir(enir.to_bytes(enir.export_float(tiny_model)))
    with pytest.raises(UnsupportedError, match="read_ir"):
        read_float(enir.to_bytes(enir.export_ir(net)))


# --- float model ----------------------------------------------------------------------------------


def _trained_like(model: DelaySNN) -> DelaySNN:
    """Continuous positions and a non-zero sigma, as after training (eval rounds them)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for syn in model.synapses:
            syn.pos.uniform_(-3.4, 3.4)
            syn.sig.fill_(0.23)
    model.eval()
    return model


@pytest.mark.parametrize("variant", ["bn", "qat", "filter", "taps"])
def test_float_round_trip_identical_outputs(variant, tiny_model, tmp_path):
    if variant in ("bn", "qat"):
        model = _trained_like(tiny_model)
        if variant == "qat":  # the export holds the weights on the quantizer's grid, as the model uses them
            model.set_qat(4)
    else:
        torch.manual_seed(2)
        cfg = ModelConfig(input_size=5, output_size=3, hidden_size=6, hidden_layers=1, max_delay=9,
                          synaptic_tau=3.0 if variant == "filter" else None, kernel_count=2 if variant == "taps" else 1)
        model = DelaySNN(cfg).eval()
    path = enir.save(enir.export_float(model), tmp_path / "model.nir")
    assert isinstance(nir.read(path, type_check=True), nir.NIRGraph)
    back = read_float(path)
    assert back.cfg == model.cfg and back.synapses[0].qat is None
    x = (torch.rand(3, 15, model.cfg.input_size) < 0.4).float()
    v, spikes = model.forward_trace(x)
    v2, spikes2 = back.forward_trace(x)
    assert torch.equal(v, v2)
    assert all(torch.equal(a, b) for a, b in zip(spikes, spikes2))


@pytest.mark.parametrize("synaptic_tau", [None, 2.0])
def test_float_standard_fields_alone_rebuild_the_model(synaptic_tau):
    """Without our metadata (as a peer would rewrite it), the standard fields give the same model."""
    model = _dyadic_model(synaptic_tau=synaptic_tau, seed=3)
    graph = _strip_metadata(enir.load_graph(enir.to_bytes(enir.export_float(model))))
    back = read_float(graph)
    assert (back.cfg.tau, back.cfg.threshold, back.cfg.synaptic_tau) == (2.0, 1.0, synaptic_tau)
    x = (torch.rand(4, 20, 6) < 0.4).float()
    v, spikes = model.forward_trace(x)
    v2, spikes2 = back.forward_trace(x)
    assert torch.equal(v, v2[:, : v.shape[1]])
    assert all(torch.equal(a, b[:, : a.shape[1]]) for a, b in zip(spikes, spikes2))


def test_float_graph_conventions(tiny_model):
    graph = enir.export_float(tiny_model)
    cfg = tiny_model.cfg
    dt = cfg.time_step_ms / 1000
    lif = graph.nodes["layer0_neuron"]
    assert isinstance(lif, nir.LIF) and isinstance(graph.nodes["layer2_neuron"], nir.LI)
    np.testing.assert_allclose(lif.tau, cfg.tau * dt)
    np.testing.assert_array_equal((lif.r * dt) / lif.tau, 1.0)  # exactly: input added undecayed
    assert lif.v_threshold.dtype == np.float32 and np.all(np.nextafter(lif.v_threshold, np.float32(2)) == np.float32(cfg.threshold))
    assert isinstance(graph.nodes["layer0_weight"], nir.Affine)  # BN shift as the Affine bias
    assert graph.metadata["spike_condition"] == ">=" and graph.metadata["input_padding_steps"] == cfg.output_steps(0)
    assert {type(n).__name__ for n in graph.nodes.values()} <= STANDARD_NODES


# --- peers: nirtorch -------------------------------------------------------------------------------


def test_delay_module_per_channel():
    module = Delay(np.array([0, 1, 3]))
    x = torch.arange(1, 6, dtype=torch.float32).repeat(3, 1).T.unsqueeze(1)  # [T=5, batch=1, 3]
    state, out = None, []
    for t in range(5):
        y, state = module(x[t], state)
        out.append(y)
    got = torch.cat(out).T
    assert torch.equal(got, torch.tensor([[1, 2, 3, 4, 5], [0, 1, 2, 3, 4], [0, 0, 0, 1, 2]], dtype=torch.float32))
    assert torch.equal(Delay(np.zeros(2, int))(torch.ones(1, 2))[0], torch.ones(1, 2))


@pytest.mark.parametrize("synaptic_tau", [None, 2.0])
@pytest.mark.slow
def test_nirtorch_run_equals_float_model(synaptic_tau):
    """nirtorch with our node map, stepping the exported graph, gives the model's spikes and
    voltages exactly (an exact-arithmetic model, so equality is the right test)."""
    model = _dyadic_model(synaptic_tau=synaptic_tau, seed=4)
    graph = enir.load_graph(enir.to_bytes(enir.export_float(model)))
    x = (torch.rand(4, 18, 6) < 0.4).float()
    v, spikes = model.forward_trace(x)
    assert sum(int(s.sum()) for s in spikes) > 20  # the comparison is not vacuous
    xs = _padded(model, x)
    assert torch.equal(run_steps(to_torch(graph), xs), v)
    for index, s in enumerate(spikes):
        assert torch.equal(run_steps(to_torch(_truncated(graph, f"layer{index}_neuron")), xs), s)


# --- foreign graphs ---------------------------------------------------------------------------------


def _lif(n: int, dt: float, threshold: float = 1.0) -> nir.LIF:
    tau = np.full(n, 2 * dt)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def _li(n: int, dt: float) -> nir.LI:
    tau = np.full(n, 2 * dt)
    return nir.LI(tau=tau, r=tau / dt, v_leak=np.zeros(n))


def _dyadic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.integers(-4, 9, size=shape) / 8).astype(np.float32)


@pytest.mark.parametrize("axonal", [False, True])
def test_foreign_plain_graph_imports(axonal):
    """snnTorch-style Affine -> LIF -> [Delay] -> Affine -> LI (r = tau/dt): the imported model
    equals nirtorch's run of the graph, spike for spike; an axonal Delay becomes per-synapse delays."""
    dt, rng = 1e-3, np.random.default_rng(5)
    nodes = [nir.Affine(weight=_dyadic(rng, (7, 4)), bias=_dyadic(rng, (7,)) / 4), _lif(7, dt)]
    steps = rng.integers(0, 5, size=7)
    if axonal:
        nodes.append(nir.Delay(delay=steps * dt))
    nodes += [nir.Affine(weight=_dyadic(rng, (3, 7)), bias=np.zeros(3, np.float32)), _li(3, dt)]
    graph = nir.NIRGraph.from_list(*nodes)
    model = read_float(graph, dt=dt)
    assert model.cfg.hidden_layers == 1 and model.cfg.batchnorm and model.cfg.tau == 2.0
    if axonal:
        used = graph.nodes["affine_1"].weight != 0  # zero-weight synapses carry no delay
        np.testing.assert_array_equal(model.readout.delays()[..., 0].numpy()[used], np.broadcast_to(steps, (3, 7))[used])
    x = (torch.rand(4, 16, 4) < 0.5).float()
    v, spikes = model.forward_trace(x)
    xs = _padded(model, x)
    assert torch.equal(run_steps(to_torch(graph, dt=dt), xs), v)
    hidden_graph = _truncated(graph, next(k for k, n in graph.nodes.items() if isinstance(n, nir.LIF)))
    assert torch.equal(run_steps(to_torch(hidden_graph, dt=dt), xs), spikes[0])
    assert int(spikes[0].sum()) > 5


def test_foreign_per_neuron_thresholds_are_normalised():
    dt, rng = 1e-3, np.random.default_rng(6)
    lif = _lif(5, dt)
    lif.v_threshold = np.array([0.5, 1.0, 2.0, 1.0, 0.25])
    graph = nir.NIRGraph.from_list(nir.Linear(weight=_dyadic(rng, (5, 3))), lif, nir.Linear(weight=_dyadic(rng, (2, 5))), _li(2, dt))
    model = read_float(graph, dt=dt)
    x = (torch.rand(3, 12, 3) < 0.5).float()
    xs = _padded(model, x)
    hidden_graph = _truncated(graph, next(k for k, n in graph.nodes.items() if isinstance(n, nir.LIF)))
    assert torch.equal(run_steps(to_torch(hidden_graph, dt=dt), xs), model.forward_trace(x)[1][0])


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("conv", r"node 'conv2d' \(Conv2d\): convolutional"),
        ("spiking_readout", r"node 'lif_1' \(LIF\): the last neuron is LIF"),
        ("readout_bias", r"node 'li' \(LI\): the readout has a bias"),
        ("branch", r"node 'lif': 1 inputs and 2 outputs"),
        ("no_dt", r"no 'dt' in its metadata"),
    ],
)
def test_unsupported_graphs_name_the_node(case, pattern):
    dt, rng = 1e-3, np.random.default_rng(7)
    lin = nir.Linear(weight=_dyadic(rng, (4, 3)))
    if case == "conv":
        conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2))
        graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 4, 4])), "conv2d": conv, "output": nir.Output(np.array([2, 4, 4]))},
                             edges=[("input", "conv2d"), ("conv2d", "output")])
    elif case == "spiking_readout":
        graph = nir.NIRGraph.from_list(lin, _lif(4, dt), nir.Linear(weight=_dyadic(rng, (2, 4))), _lif(2, dt))
    elif case == "readout_bias":
        graph = nir.NIRGraph.from_list(nir.Affine(weight=_dyadic(rng, (4, 3)), bias=np.ones(4, np.float32)), _li(4, dt))
    elif case == "branch":
        nodes = {"input": nir.Input(np.array([3])), "lin": lin, "lif": _lif(4, dt), "a": _li(4, dt), "b": _li(4, dt),
                 "output": nir.Output(np.array([4]))}
        edges = [("input", "lin"), ("lin", "lif"), ("lif", "a"), ("lif", "b"), ("a", "output"), ("b", "output")]
        graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    else:
        graph = nir.NIRGraph.from_list(lin, _li(4, dt))
    with pytest.raises(UnsupportedError, match=pattern) as err:
        read_float(graph, dt=None if case == "no_dt" else dt)
    assert "\n" not in str(err.value)


# --- inspect ------------------------------------------------------------------------------------------


def test_describe(tmp_path, tiny_model):
    net = random_network(NetSpec(sizes=(4, 6, 3), max_delay=9, seed=13))
    info = enir.describe(enir.export(net, tmp_path / "net.nir"))
    assert info["kind"] == "delaysnn integer network (NIR)" and info["sizes"] == "4-6-3"
    assert info["dt_ms"] == pytest.approx(net.time_step_ms) and info["max_delay"] <= 9
    assert len(info["layers"]) == 2 and "pairs" in info["layers"][0] and "delays" in info["layers"][0]
    assert info["latency_steps"] == [1, 1] and info["spike_condition"] == ">"
    info = enir.describe(enir.export(tiny_model, tmp_path / "model.nir"))
    assert info["kind"] == "delaysnn float model (NIR)" and info["sizes"] == "6-8-8-3"


def test_describe_any_nir_file(tmp_path):
    """A graph we cannot read as layers is still summarised, with the reason."""
    conv = nir.Conv1d(input_shape=8, weight=np.ones((2, 1, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2))
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 8])), "conv": conv, "output": nir.Output(np.array([2, 8]))},
                         edges=[("input", "conv"), ("conv", "output")], metadata={"dt": 1e-3})
    info = enir.describe(enir.save(graph, tmp_path / "conv.nir"))
    assert info["kind"] == "NIR graph" and "conv: Conv1d" in info["layers"] and "Conv1d" in info["note"]
    with pytest.raises(UnsupportedError, match="expected a DelayNetwork or a DelaySNN"):
        enir.export(graph, tmp_path / "x.nir")


def test_readout_only_foreign_graph_and_integer_graph_in_nirtorch():
    dt, rng = 1e-3, np.random.default_rng(8)
    graph = nir.NIRGraph.from_list(nir.Linear(weight=_dyadic(rng, (2, 3))), _li(2, dt))
    model = read_float(graph, dt=dt)
    x = (torch.rand(2, 10, 3) < 0.5).float()
    assert model.cfg.hidden_layers == 0
    assert torch.equal(run_steps(to_torch(graph, dt=dt), _padded(model, x)), model(x))
    # an integer network's graph runs in nirtorch too (float arithmetic: close to, not equal to, Lava's)
    net = random_network(NetSpec(sizes=(4, 5, 3), seed=14))
    out = run_steps(to_torch(enir.to_bytes(enir.export_ir(net))), torch.ones(2, 6, 4))
    assert out.shape == (2, 6, 3) and torch.isfinite(out).all()


def test_truncating_model_warns(tiny_model):
    import dataclasses

    tiny_model.cfg = dataclasses.replace(tiny_model.cfg, truncate_layers=True)
    with pytest.warns(UserWarning, match="truncate_layers"):
        graph = enir.export_float(tiny_model)
    assert graph.metadata["truncate_layers"] == 1


def test_snntorch_style_float32_parameters():
    """snnTorch's export: dt = 1e-4, tau = dt / (1 - beta), r = tau / dt, w_in = tau_syn / dt, in float32."""
    dt, rng = 1e-4, np.random.default_rng(9)
    beta, alpha = np.float32(0.9), np.float32(0.8)
    tau_mem, tau_syn = np.full(4, dt / (1 - beta), np.float32), np.full(4, dt / (1 - alpha), np.float32)
    cuba = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / np.float32(dt), v_leak=np.zeros(4, np.float32),
                       v_threshold=np.ones(4, np.float32), w_in=tau_syn / np.float32(dt))
    tau_out = np.full(2, dt / (1 - beta), np.float32)
    li = nir.LI(tau=tau_out, r=tau_out / np.float32(dt), v_leak=np.zeros(2, np.float32))
    w1, w2 = _dyadic(rng, (4, 3)), _dyadic(rng, (2, 4))
    model = read_float(nir.NIRGraph.from_list(nir.Linear(weight=w1), cuba, nir.Linear(weight=w2), li), dt=dt)
    cfg = model.cfg  # float32 beta = 0.9 is 1 - 1/9.9999981 steps: faithful, not rounded away
    assert (cfg.tau, cfg.synaptic_tau, cfg.readout_tau) == pytest.approx((10.0, 5.0, 10.0), rel=1e-6)
    assert torch.equal(model.synapses[0].kernel()[..., -1], torch.from_numpy(w1))  # gains of exactly 1: weights as given


# --- the integer graph in a standard executor (verify backend "nir") --------------------------------


def _edge_cases():
    return [random_network(spec) for spec in SPECS[:6]] + [shd_like_network(sizes=(20, 24, 5), max_delay=12)]


def test_executor_reads_the_standard_fields_only():
    """nirtorch with our node map runs the integer graph with its metadata stripped: every layer's
    spikes and the readout voltages equal the sim's, step for step (latency carried in the Delays)."""
    fired = 0
    for net in _edge_cases():
        x = random_input(net, batch=3, steps=20, seed=3)
        want = simulate(net, x)
        graph = _strip_metadata(enir.load_graph(enir.to_bytes(enir.export_ir(net))))
        spikes, voltages = execute(graph, x, want.alignment.steps)
        # execute gives its raw arrays (bool, int64); run() casts them to the IR's dtypes
        got = SimResult(spikes=[s.astype(np.uint8) for s in spikes], voltages=voltages.astype(np.int32), alignment=want.alignment)
        assert np.array_equal(voltages, got.voltages)  # the cast lost nothing
        assert_identical(want, got, "nir", "metadata stripped")
        fired += sum(int(s.sum()) for s in want.spikes)
    assert fired > 100


def test_run_and_verify_backends(monkeypatch):
    """``run`` (backend nir) executes the graph and never reads it back into an IR; nir-roundtrip does."""
    from delaysnn.app.verify import verify
    from exporters.nir import graph as nir_graph

    net = shd_like_network(sizes=(16, 20, 4), max_delay=9)
    x = random_input(net, batch=2, steps=15, seed=4)
    reports = verify(net, x, ["nir", "nir-roundtrip"])
    assert [r.backend for r in reports] == ["nir", "nir-roundtrip"] and all(r.ok and r.compared > 0 for r in reports)
    assert sum(int(s.sum()) for s in simulate(net, x).spikes) > 0
    monkeypatch.setattr(nir_graph, "_read_ir", lambda graph: pytest.fail("run read the graph back"))
    got = enir.run(net, x, steps=40)
    assert got.voltages.shape == (2, 40, 4)
    assert_identical(simulate(net, x, steps=40), got, "nir")


def test_verify_nir_catches_a_wrong_graph(monkeypatch):
    """verify --backends nir is real parity: a graph one step early is reported at layer 0."""
    from delaysnn.app.verify import verify
    from exporters.nir import execute as nir_execute

    def early(net, dt=None):
        graph = enir.export_ir(net, dt)
        for i in range(len(net.layers)):
            node = graph.nodes[f"layer{i}_delay"]
            node.delay = node.delay - graph.metadata["dt"]
        return graph

    net = shd_like_network(sizes=(16, 20, 4), max_delay=9)
    x = random_input(net, batch=2, steps=15, seed=4)
    monkeypatch.setattr(nir_execute, "export_ir", early)
    (report,) = verify(net, x, ["nir"])
    assert not report.ok and report.first is not None and report.first.layer == 0 and report.spike_mismatches[0] > 0


def test_latency_is_in_the_delays_and_version_1_files_still_read():
    net = random_network(NetSpec(sizes=(5, 6, 3), max_delay=6, seed=21))
    graph = enir.export_ir(net, dt=1e-3)
    for i in range(2):
        d = graph.nodes[f"layer{i}_delay"].delay / 1e-3
        np.testing.assert_allclose(d, enir.decompose(net.layers[i].shape, *_coo(net.layers[i])).steps + 1, rtol=1e-12)
    # a graph whose Delays hold the synaptic delays only lands one step per layer early
    x = random_input(net, batch=2, steps=12, seed=5)
    want = simulate(net, x)
    early = enir.load_graph(enir.to_bytes(graph))
    for i in range(2):
        early.nodes[f"layer{i}_delay"].delay = early.nodes[f"layer{i}_delay"].delay - 1e-3
    _, v = execute(early, x, want.alignment.steps)
    assert not np.array_equal(v, want.voltages)
    # ... which is what format version 1 wrote: still read exactly
    early.metadata = dict(early.metadata, version=1)
    assert ir.to_bytes(enir.read_ir(enir.to_bytes(early))) == ir.to_bytes(net)


def _coo(layer):
    post, pre = np.nonzero(layer.weight)
    return post, pre, layer.delay[post, pre], layer.weight[post, pre]


@pytest.mark.parametrize("value", [np.array([1]), np.array([1.5, 1.0]), np.array([-1, 1]), "abc"])
def test_bad_latency_metadata_is_one_line(value):
    net = random_network(NetSpec(sizes=(3, 4, 2), seed=22))
    graph = enir.export_ir(net)
    graph.metadata["latency_steps"] = value
    with pytest.raises(UnsupportedError, match="latency_steps") as err:
        enir.read_ir(enir.to_bytes(graph))
    assert "\n" not in str(err.value)


def test_ring_delay_equals_delay():
    from exporters.nir.execute import RingDelay

    steps = np.array([0, 3, 1, 5, 5])
    x = torch.randn(20, 2, 5, dtype=torch.float64)
    a, b = Delay(steps), RingDelay(steps)
    sa = sb = None
    for t in range(20):
        ya, sa = a(x[t], sa)
        yb, sb = b(x[t], sb)
        assert torch.equal(ya, yb)


# --- time: float64 delays, --dt, snnTorch's convention ------------------------------------------------


@pytest.mark.parametrize("dt", [0.01, 1e-3, 1e-4, 2.5e-4])
def test_delays_are_float64_whole_steps_for_floor_and_round(dt):
    from exporters.nir.common import delay_seconds

    k = np.arange(63)
    tau = delay_seconds(k, dt)
    assert tau.dtype == np.float64
    np.testing.assert_array_equal(np.floor(tau / dt), k)
    np.testing.assert_array_equal(np.rint(tau / dt), k)
    np.testing.assert_allclose(tau, k * dt, rtol=1e-15)
    short_in_float32 = int((np.floor(np.float32(k[:25] * dt).astype(np.float64) / dt) < k[:25]).sum())
    assert short_in_float32 >= 10  # what float32 storage did (10 of 0..24 at dt = 1 ms, 14 at 10 ms)
    if dt == 1e-3:
        assert short_in_float32 == 10


def test_file_keeps_delay_float64(tmp_path):
    net = random_network(NetSpec(sizes=(4, 5, 3), max_delay=24, seed=23))
    graph = enir.load_graph(enir.save(enir.export_ir(net, dt=0.01), tmp_path / "n.nir"))
    tau = graph.nodes["layer0_delay"].delay
    assert tau.dtype == np.float64 and np.array_equal(np.floor(tau / 0.01), np.rint(tau / 0.01))


@pytest.mark.parametrize("kind", ["integer", "float"])
def test_dt_1e4_meets_snntorch_importers_checks(kind, tiny_model):
    """snnTorch's import_nir (dt = 1e-4) builds ``Leaky(beta = 1 - dt / tau)`` after asserting
    ``v_leak == 0`` and taking ``r * dt / tau`` as the input scale (1: none): with ``--dt 1e-4``
    our LIF layers pass those checks with the decay we run. (snnTorch is not installed here; its
    formulas are restated from snntorch/import_nir.py.)"""
    dt = 1e-4
    if kind == "integer":
        net = random_network(NetSpec(sizes=(4, 5, 3), seed=24))
        net.layers[0].neuron.du = 4095  # no synaptic filter: a plain LIF (snnTorch's Leaky)
        graph = enir.load_graph(enir.to_bytes(enir.export_ir(net, dt=dt)))
        decay = 1 - net.layers[0].neuron.dv / 4096
    else:
        graph = enir.load_graph(enir.to_bytes(enir.export_float(tiny_model, dt=dt)))
        decay = 1 - 1 / tiny_model.cfg.tau
    assert graph.metadata["dt"] == dt
    lif = graph.nodes["layer0_neuron"]
    assert isinstance(lif, nir.LIF) and np.allclose(lif.v_leak, 0.0)
    np.testing.assert_allclose(1 - dt / lif.tau, decay, rtol=1e-6)  # snnTorch's beta
    np.testing.assert_allclose(lif.r * dt / lif.tau, 1.0, rtol=1e-6)  # its w_scale: no threshold rescaling
    np.testing.assert_allclose(graph.nodes["layer0_delay"].delay / dt, np.rint(graph.nodes["layer0_delay"].delay / dt))
    with pytest.raises(UnsupportedError, match="positive"):
        enir.export_ir(random_network(NetSpec(sizes=(2, 2), seed=1)), dt=0.0)


def test_cli_export_dt(tmp_path, capsys):
    from pathlib import Path

    from tests.conftest import run_cli

    example = Path(__file__).resolve().parents[2] / "examples" / "synthetic.pt"
    for extra, name in (([], "int.nir"), (["--float"], "float.nir")):
        code, out, err = run_cli(["export", example, "--target", "nir", "--dt", "1e-4", *extra, "-o", tmp_path / name], capsys)
        assert code == 0, err
        graph = enir.load_graph(tmp_path / name)
        assert graph.metadata["dt"] == 1e-4 and graph.nodes["layer0_neuron"].tau[0] > 0
        np.testing.assert_allclose(graph.nodes["layer0_neuron"].r * 1e-4 / graph.nodes["layer0_neuron"].tau, 1.0, rtol=1e-6)
    code, out, err = run_cli(["export", example, "--target", "nir", "-o", tmp_path / "default.nir"], capsys)
    assert code == 0 and enir.load_graph(tmp_path / "default.nir").metadata["dt"] == pytest.approx(1e-3 * ir_time_step(example))
    code, out, err = run_cli(["export", example, "--target", "onnx", "--dt", "1e-4", "-o", tmp_path / "m.onnx"], capsys)
    assert code == 1 and "--dt applies to --target nir" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(["export", example, "--target", "nir", "--dt", "0", "-o", tmp_path / "z.nir"], capsys)
    assert code == 2 and "--dt" in err


def ir_time_step(checkpoint) -> float:
    from delaysnn.model.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint).cfg.time_step_ms


def test_float_ir_without_a_model_exports_and_reads_back():
    """A float IR built by hand carries no model record: its graph is read from the standard
    fields alone, and the rebuilt model computes the float IR's reference forward."""
    from delaysnn.ir.folded import FoldedLayer, FoldedNetwork, run

    rng = np.random.default_rng(10)
    w1, w2 = rng.integers(-4, 9, (6, 4)) / 8, rng.integers(-4, 9, (3, 6)) / 8
    hidden = FoldedLayer("h", w1, rng.integers(0, 5, (6, 4)), np.full(6, 0.25), tau=2.0, synaptic_tau=None, threshold=1.0)
    out = FoldedLayer("o", w2, rng.integers(0, 5, (3, 6)), np.zeros(3), tau=2.0, synaptic_tau=None, threshold=None)
    fnet = FoldedNetwork(input_size=4, time_step_ms=1.0, max_delay=5, layers=[hidden, out], right_padding=2)
    graph = enir.load_graph(enir.to_bytes(enir.export_float(fnet)))
    assert "model_config" not in graph.metadata and graph.metadata["input_padding_steps"] == 4
    model = read_float(graph)
    x = (torch.rand(3, 10, 4) < 0.4).float()
    v, (s,) = run(fnet, x)
    with torch.no_grad():
        v_model, (s_model,) = model.forward_trace(x)
    assert float(s.sum()) > 0
    np.testing.assert_array_equal(s_model.numpy()[:, : s.shape[1]], s)
    np.testing.assert_allclose(v_model.detach().numpy()[:, : v.shape[1]], v, atol=1e-6)


def test_weight_kind_tail_and_scale_travel_and_older_files_still_read():
    """The IR's typed fields go in the graph metadata; a file written before they existed
    (0/1 ``binary``/``ternary`` per layer, ``tail_steps``/``readout_scale`` in the provenance
    JSON) reads back as the same network."""
    import json

    net = random_network(NetSpec(sizes=(4, 5, 3), binary=True, weight_bits=1, seed=3))
    net.tail_steps, net.readout_scale = 5, 0.375
    graph = enir.export_ir(net)
    assert (graph.metadata["tail_steps"], graph.metadata["readout_scale"]) == (5, 0.375)
    assert ir.to_bytes(enir.read_ir(enir.to_bytes(graph))) == ir.to_bytes(net)
    old = enir.export_ir(net)
    old.metadata.pop("tail_steps"), old.metadata.pop("readout_scale")
    old.metadata["provenance"] = json.dumps({**net.provenance, "tail_steps": 5, "readout_scale": 0.375})
    for node in old.nodes.values():
        if node.metadata and "weight_kind" in node.metadata:
            node.metadata["binary"], node.metadata["ternary"] = int(node.metadata.pop("weight_kind") == "binary"), 0
    back = enir.read_ir(enir.to_bytes(old))
    assert ir.network_id(back) == ir.network_id(net) and back.provenance == net.provenance
    odd = enir.export_ir(net)
    next(n for n in odd.nodes.values() if n.metadata and "weight_kind" in n.metadata).metadata["weight_kind"] = "quaternary"
    with pytest.raises(UnsupportedError, match="layer 0 .*metadata 'weight_kind' is 'quaternary', expected one of fixed, binary, ternary"):
        enir.read_ir(enir.to_bytes(odd))

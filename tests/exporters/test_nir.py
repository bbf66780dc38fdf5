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
from delaysnn.sim import simulate
from tests.factories import (
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

from exporters import nir as enir  # noqa: E402
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
            syn.weight.copy_(torch.from_numpy(enir._raw_weight(target.numpy())))
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
    np.testing.assert_allclose(graph.nodes["layer0_delay"].delay, [0.0, 0.004, 0.004], rtol=1e-7)
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


@pytest.mark.parametrize("spec", SPECS[:4], ids=lambda s: f"seed{s.seed}")
def test_sim_of_read_back_equals_sim(spec):
    net = random_network(spec)
    x = random_input(net, batch=3, steps=25, seed=spec.seed)
    want, got = simulate(net, x), enir.run(net, x)
    for a, b in zip(want.spikes, got.spikes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(want.voltages, got.voltages)


def test_shd_shaped_network_round_trip():
    net = shd_like_network()
    back = enir.read_ir(enir.to_bytes(enir.export_ir(net)))
    assert ir.to_bytes(back) == ir.to_bytes(net)
    x = shd_like_input(batch=2, steps=30)
    np.testing.assert_array_equal(simulate(back, x).voltages, simulate(net, x).voltages)


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
        enir.read_float(enir.to_bytes(enir.export_ir(net)))


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
    back = enir.read_float(path)
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
    back = enir.read_float(graph)
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
    model = enir.read_float(graph, dt=dt)
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
    model = enir.read_float(graph, dt=dt)
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
        enir.read_float(graph, dt=None if case == "no_dt" else dt)
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
    model = enir.read_float(graph, dt=dt)
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
    model = enir.read_float(nir.NIRGraph.from_list(nir.Linear(weight=w1), cuba, nir.Linear(weight=w2), li), dt=dt)
    cfg = model.cfg  # float32 beta = 0.9 is 1 - 1/9.9999981 steps: faithful, not rounded away
    assert (cfg.tau, cfg.synaptic_tau, cfg.readout_tau) == pytest.approx((10.0, 5.0, 10.0), rel=1e-6)
    assert torch.equal(model.synapses[0].kernel()[..., -1], torch.from_numpy(w1))  # gains of exactly 1: weights as given

"""ONNX backend: what only ONNX has. Parity with ``delaysnn.sim`` on the edge, frontier,
hand-made and random networks is the conformance harness's (tests/conformance.py, run on every
backend by tests/test_conformance.py); here: both MatMul lowerings are reached, the file passes the
full checker, one file runs any batch and length, ``describe`` reports it, and the float export
matches torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from delaysnn.errors import DataError, UnsupportedError
from delaysnn.ir import DelayLayer, DelayNetwork, NeuronParams
from delaysnn.sim import activation_bound, simulate
from tests.conformance import assert_identical, case
from tests.factories import NAMED_SPECS, NetSpec, random_input, random_network

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from exporters import onnx as eonnx  # noqa: E402
from exporters.onnx.describe import _node_counts  # noqa: E402
from exporters.onnx.floating import export_float  # noqa: E402
from exporters.onnx.integer import _max_payload, _uses_uint8  # noqa: E402

# The networks that pick each MatMul lowering and wrap Lava's int32 registers; their parity on
# every backend is in the conformance harness (tests/conformance.py), with the named networks.
LOWERING_CASES = ("hot_weight_exp_7_seed7", "graded_12_bit_int32_wraps", "graded_24_bit", *(f"named_seed{s.seed}" for s in NAMED_SPECS))


def test_edge_cases_reach_every_lowering() -> None:
    """The conformance cases really exercise the int64 MatMul and the int32-register wraps."""
    lowerings, wraps = set(), 0
    for name in LOWERING_CASES:
        net = case(name).net
        for i, layer in enumerate(net.layers):
            payload = _max_payload(net, i)
            lowerings.add(_uses_uint8(layer, payload))
            wraps += activation_bound(layer.weight, payload) << (layer.weight_exp + 6) >= 2**31
    assert lowerings == {True, False} and wraps > 0


@pytest.mark.parametrize(("payload", "weight", "uint8"), [(255, 127, False), (255, -128, False), (128, 127, True), (31, -128, True), (1, 127, True)])
def test_uint8_product_only_where_no_int16_pair_saturates(payload: int, weight: int, uint8: bool) -> None:
    """On x86 without VNNI onnxruntime sums uint8 x int8 products in saturating int16 pairs: a
    pair of 255 x 127 (64770) came out wrong on an AVX2 machine, so such layers take int64 MatMul."""
    layer = DelayLayer(np.full((2, 4), weight, np.int32), np.zeros((2, 4), np.int32), NeuronParams(0, 0, 100, np.zeros(2, np.int32)))
    assert _uses_uint8(layer, payload) is uint8


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[DelayNetwork, object]:
    net = random_network(NetSpec(sizes=(6, 9, 7, 3), max_delay=20, input_bits=3, seed=11))
    return net, eonnx.save(net, tmp_path_factory.mktemp("onnx") / "net.onnx")


def test_checker_full_check_and_opset(saved) -> None:
    _, path = saved
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert {imp.domain: imp.version for imp in model.opset_import} == {"": eonnx.OPSET}
    ops = set(_node_counts(model.graph))
    assert {"Scan", "MatMulInteger", "Div"} <= ops
    assert all(i.type.tensor_type.elem_type in (onnx.TensorProto.INT32, onnx.TensorProto.UINT8) for i in list(model.graph.input) + list(model.graph.output))


def test_dynamic_batch_and_time_on_one_file(saved) -> None:
    net, path = saved
    sess = eonnx.session(path)
    for batch, steps in [(1, 5), (7, 43)]:
        x = random_input(net, batch, steps, rate=0.3, seed=batch)
        got = eonnx.run_session(sess, x)
        assert got.voltages.shape == (batch, steps + eonnx.extra_steps(net), 3)
        assert_identical(simulate(net, x), got, "onnx")


def test_explicit_steps_pad_and_truncate(saved) -> None:
    net, path = saved
    x = random_input(net, 2, 12, rate=0.3, seed=3)
    for steps in (4, 40):
        assert_identical(simulate(net, x, steps=steps), eonnx.run(path, x, steps=steps), "onnx")


def test_without_spike_outputs() -> None:
    net = random_network(NetSpec(sizes=(4, 5, 2), seed=12))
    model = eonnx.build(net, record_spikes=False)
    assert [o.name for o in model.graph.output] == [eonnx.VOLTAGES]
    x = random_input(net, 2, 10, seed=1)
    got = eonnx.run_session(eonnx.session(model), x)
    assert got.spikes == [] and np.array_equal(got.voltages, simulate(net, x).voltages)


def test_describe(saved) -> None:
    net, path = saved
    d = eonnx.describe(path)
    assert d["kind"] == "delaysnn integer network (ONNX)"
    assert d["opset"] == {"ai.onnx": eonnx.OPSET}
    assert d["file_size"] == path.stat().st_size
    assert d["inputs"] == ["x: int32[batch, time, 6]"]
    assert d["outputs"] == ["voltages: int32[batch, steps, 3]", "spikes0: uint8[batch, steps, 9]", "spikes1: uint8[batch, steps, 7]"]
    assert d["node_counts"]["Scan"] == 3 and d["nodes"] == sum(d["node_counts"].values())
    meta = d["metadata"]
    assert meta["delaysnn.sizes"] == "6-9-7-3"
    assert int(meta["delaysnn.max_delay"]) == max(layer.max_delay for layer in net.layers)
    assert int(meta["delaysnn.extra_steps"]) == eonnx.extra_steps(net)


def test_inspect_dispatches_to_describe(saved) -> None:
    from delaysnn.app.inspect import describe

    assert describe(saved[1])["metadata"]["delaysnn.format"] == eonnx.FORMAT


def test_bad_inputs_are_one_line_errors(saved, tmp_path) -> None:
    net, path = saved
    with pytest.raises(DataError, match=r"exceeds input_bits=3 \(max 7\)"):  # sim.check_payloads, the one validator
        eonnx.run(path, np.full((1, 4, 6), 8))
    with pytest.raises(DataError, match=r"expected \[batch, time, 6\]"):
        eonnx.run(path, np.zeros((1, 4, 5)))
    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(foreign))
    with pytest.raises(UnsupportedError, match="delaysnn.format"):
        eonnx.run(foreign, np.zeros((1, 4, 6)))


def test_save_writes_nothing_when_the_check_fails(tmp_path, monkeypatch) -> None:
    net = random_network(NetSpec(sizes=(2, 2), seed=13))
    monkeypatch.setattr(onnx.checker, "check_model", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        eonnx.save(net, tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []


def test_integer_div_truncates_toward_zero() -> None:
    """The neuron body's decay relies on onnxruntime's integer Div truncating (as sim.decay)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Div", ["p", "d"], ["q"])],
        "div",
        [helper.make_tensor_value_info("p", TensorProto.INT64, [6]), helper.make_tensor_value_info("d", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("q", TensorProto.INT64, [6])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", eonnx.OPSET)])
    p = np.array([-8191, -4097, -4096, -1, 4095, 2**40 + 5], np.int64)
    (q,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"p": p, "d": np.array(4096)})
    assert np.array_equal(q, np.sign(p) * (np.abs(p) >> 12))


# --- the float model ---


def test_float_export_matches_torch(tiny_model, tmp_path) -> None:
    model = tiny_model
    model.round_positions()
    path = export_float(model, tmp_path / "float.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch.manual_seed(1)
    for batch, steps in [(2, 9), (5, 23)]:
        x = (torch.rand(batch, steps, 6) < 0.3).float() * torch.randint(1, 4, (batch, steps, 6))
        with torch.no_grad():
            ref = model(x).numpy()
        (got,) = sess.run(None, {"x": x.numpy()})
        assert got.shape == ref.shape == (batch, model.cfg.output_steps(steps), 3)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    d = eonnx.describe(path)
    assert d["kind"] == "delaysnn float model (ONNX)" and d["outputs"] == ["voltages: float32[batch, steps, 3]"]


@pytest.mark.parametrize("truncate", [False, True], ids=["pad-once", "snn-delays-cut"])
def test_float_export_matches_torch_with_shifted_batchnorm(truncate, tmp_path) -> None:
    """A BatchNorm shift of 0.6 makes hidden neurons fire after the input ends, so how each layer
    is padded shows in the readout (per-layer padding of a pad-once model differed by 1.27)."""
    from delaysnn.model import DelaySNN, ModelConfig

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=7, truncate_layers=truncate))
    with torch.no_grad():
        for layer in model.hidden:
            layer.bn.bias.fill_(0.6)
    model.eval().round_positions()
    sess = ort.InferenceSession(str(export_float(model, tmp_path / "f.onnx")), providers=["CPUExecutionProvider"])
    x = (torch.rand(3, 12, 6) < 0.3).float() * torch.randint(1, 4, (3, 12, 6))
    with torch.no_grad():
        ref, spikes = model.forward_trace(x)
    (got,) = sess.run(None, {"x": x.numpy()})
    assert all(float(s[:, 12:].sum()) > 0 for s in spikes)  # hidden neurons fire after the input ends
    assert np.abs(got - ref.numpy()).max() < 1e-5


def test_float_export_does_not_touch_the_model(tiny_model, tmp_path) -> None:
    """Exporting a model that is still training leaves its mode and positions as they were."""
    model = tiny_model.train()
    before = [s.pos.detach().clone() for s in model.synapses]
    export_float(model, tmp_path / "f.onnx")
    assert model.training and all(torch.equal(b, s.pos) for b, s in zip(before, model.synapses))

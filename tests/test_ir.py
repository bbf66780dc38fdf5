"""The IR file: bit-identical save/load round trips; corrupt, foreign and crafted files rejected."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings

from delaysnn import ir
from delaysnn.errors import DelaysnnError, IRValidationError
from tests.factories import NetSpec, networks, random_network


def assert_identical(a: ir.DelayNetwork, b: ir.DelayNetwork) -> None:
    assert (a.input_size, a.input_bits, a.time_step_ms, a.provenance) == (b.input_size, b.input_bits, b.time_step_ms, b.provenance)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        for name in ("weight", "delay"):
            x, y = getattr(la, name), getattr(lb, name)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        assert la.neuron.bias_mant.dtype == lb.neuron.bias_mant.dtype
        assert la.neuron.bias_mant.tobytes() == lb.neuron.bias_mant.tobytes()
        for name in ("du", "dv", "vth", "bias_exp"):
            assert getattr(la.neuron, name) == getattr(lb.neuron, name)
        assert (la.weight_bits, la.weight_exp, la.binary) == (lb.weight_bits, lb.weight_exp, lb.binary)


@settings(max_examples=30, deadline=None)
@given(net=networks(max_width=6, max_layers=3))
def test_bytes_round_trip_is_bit_identical(net):
    data = ir.to_bytes(net)
    back = ir.from_bytes(data)
    assert_identical(net, back)
    assert ir.to_bytes(back) == data  # and the encoding is deterministic


def test_file_round_trip_and_atomic_write(tmp_path):
    net = random_network(NetSpec(sizes=(5, 7, 3), input_bits=3, seed=4))
    net.provenance.update({"readout_scale": 0.125, "tail_steps": 36, "source": "test"})
    path = tmp_path / "model.dnet"
    assert ir.save(net, path) == path
    assert_identical(net, ir.load(path))
    assert [p.name for p in tmp_path.iterdir()] == ["model.dnet"]  # no temporary left behind


def test_dtypes_are_preserved():
    net = random_network(NetSpec(sizes=(3, 4, 2), seed=2))
    net.layers[0].weight = net.layers[0].weight.astype(np.int8)
    net.layers[1].delay = net.layers[1].delay.astype(np.int16)
    back = ir.from_bytes(ir.to_bytes(net))
    assert back.layers[0].weight.dtype == np.int8 and back.layers[1].delay.dtype == np.int16


def _rewrite(data: bytes, *, header: object = None, drop: str | None = None, add: dict[str, np.ndarray] | None = None) -> bytes:
    """Re-pack a .dnet archive with a replaced header and/or arrays removed or added."""
    with np.load(io.BytesIO(data)) as npz:
        files = {k: npz[k] for k in npz.files}
    if header is not None:
        files["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    if drop:
        files.pop(drop)
    files.update(add or {})
    buf = io.BytesIO()
    np.savez(buf, **files)
    return buf.getvalue()


def _header(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as npz:
        return json.loads(npz["header"].tobytes().decode())


@pytest.fixture
def good() -> bytes:
    return ir.to_bytes(random_network(NetSpec(sizes=(3, 4, 2), seed=1)))


def _mutated(good: bytes, **changes) -> bytes:
    head = _header(good)
    for key, value in changes.items():
        if key.startswith("layer0_"):
            head["layers"][0][key[len("layer0_") :]] = value
        else:
            head[key] = value
    return _rewrite(good, header=head)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda g: b"not a zip at all", "not a delaysnn IR file"),
        (lambda g: g[: len(g) // 2], "not a delaysnn IR file"),
        (lambda g: _npy_bytes(), "not a delaysnn IR file"),
        (lambda g: _rewrite(g, drop="header"), "no 'header' entry"),
        (lambda g: _rewrite(g, add={"header": np.frombuffer(b"\xff\xfe{", dtype=np.uint8)}), "corrupt header"),
        (lambda g: _rewrite(g, header=[1, 2]), "header is a JSON list"),
        (lambda g: _mutated(g, format="onnx"), "field 'format' is 'onnx'"),
        (lambda g: _mutated(g, version=2), "IR version 2 not supported"),
        (lambda g: _mutated(g, colour="blue"), "unknown header keys \\['colour'\\]"),
        (lambda g: _mutated(g, input_size="3"), "field 'input_size' is '3'"),
        (lambda g: _mutated(g, layers="x"), "field 'layers' must be a list"),
        (lambda g: _mutated(g, layer0_du=3.5), "layer 0: field 'du' is 3.5"),
        (lambda g: _mutated(g, layer0_vth="high"), "layer 0: field 'vth' is 'high'"),
        (lambda g: _mutated(g, layer0_binary=1), "layer 0: field 'binary' is 1"),
        (lambda g: _mutated(g, layer0_extra=1), "layer 0 header keys"),
        (lambda g: _mutated(g, layer0_du=5000), "du=5000 outside 0..4095"),
        (lambda g: _rewrite(g, drop="layer1.delay"), "layer 1 lacks array"),
        (lambda g: _rewrite(g, add={"layer9.weight": np.zeros(2, np.int32)}), "unknown arrays \\['layer9.weight'\\]"),
        (lambda g: _rewrite(g, add={"layer0.weight": np.zeros((4, 3), np.float32)}), "weight dtype float32"),
        (lambda g: _rewrite(g, add={"layer0.delay": -np.ones((4, 3), np.int32)}), "negative delay"),
        (lambda g: _rewrite(g, add={"layer0.weight": np.zeros((4, 5), np.int32)}), "must be equal 2-D shapes"),
    ],
)
def test_corrupt_and_foreign_files_are_rejected(good, make, message):
    with pytest.raises(IRValidationError, match=message) as info:
        ir.from_bytes(make(good), source="model.dnet")
    assert str(info.value).startswith("model.dnet: ")
    assert "\n" not in str(info.value)


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    return buf.getvalue()


def test_pickled_arrays_are_refused(good):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        with np.load(io.BytesIO(good)) as npz:
            for k in npz.files:
                if k == "layer0.weight":
                    continue
                member = io.BytesIO()
                np.save(member, npz[k])
                z.writestr(f"{k}.npy", member.getvalue())
        obj = io.BytesIO()
        np.save(obj, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
        z.writestr("layer0.weight.npy", obj.getvalue())
    with pytest.raises(IRValidationError, match="not a delaysnn IR file"):
        ir.from_bytes(buf.getvalue())


def test_saving_an_invalid_network_fails_and_writes_nothing(tmp_path):
    net = random_network(NetSpec(sizes=(3, 4, 2), seed=1))
    net.layers[0].neuron.dv = 9999
    with pytest.raises(IRValidationError, match="dv=9999"):
        ir.save(net, tmp_path / "bad.dnet")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(DelaysnnError, match="no such IR file"):
        ir.load(tmp_path / "nope.dnet")

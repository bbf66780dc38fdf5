"""The IR file: bit-identical save/load round trips; corrupt, foreign and crafted files rejected."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from delaysnn import ir
from delaysnn.errors import DelaysnnError, IRValidationError
from delaysnn.ir import DelayKind, WeightKind
from delaysnn.sim import simulate
from tests.factories import NetSpec, networks, random_network

DATA = Path(__file__).parent / "data"


def assert_identical(a: object, b: object, where: str = "net") -> int:
    """Every dataclass field of ``a`` and ``b`` equal (arrays: dtype, shape and bytes), walked from
    the dataclasses themselves so a field added later is compared too; returns the fields seen."""
    seen = 0
    for f in dataclasses.fields(a):
        x, y, at = getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}"
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), at
        elif dataclasses.is_dataclass(x):
            seen += assert_identical(x, y, at)
        elif isinstance(x, list):
            assert len(x) == len(y), at
            seen += sum(assert_identical(u, v, f"{at}[{i}]") for i, (u, v) in enumerate(zip(x, y)))
        else:
            assert type(x) is type(y) and x == y, (at, x, y)
        seen += 1
    return seen


@settings(max_examples=30, deadline=None)
@given(net=networks(max_width=6, max_layers=3))
def test_bytes_round_trip_is_bit_identical(net):
    data = ir.to_bytes(net)
    back = ir.from_bytes(data)
    assert_identical(net, back)
    assert ir.to_bytes(back) == data  # and the encoding is deterministic


def test_file_round_trip_and_atomic_write(tmp_path):
    net = random_network(NetSpec(sizes=(5, 7, 3), input_bits=3, seed=4))
    net.tail_steps, net.readout_scale = 36, 0.125
    net.provenance.update({"source": "test", "target": "loihi"})
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
    """``good`` with header fields replaced: ``layer0_du`` is ``header["layers"][0]["du"]``,
    ``layer0_neuron_du`` its neuron's ``du``."""
    head = _header(good)
    for key, value in changes.items():
        obj = head
        if key.startswith("layer0_"):
            obj, key = head["layers"][0], key[len("layer0_") :]
            if key.startswith("neuron_"):
                obj, key = obj["neuron"], key[len("neuron_") :]
        obj[key] = value
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
        (lambda g: _mutated(g, version=4), "IR version 4 not supported"),
        (lambda g: _mutated(g, version=True), "IR version True not supported"),
        (lambda g: _mutated(g, colour="blue"), "unknown header keys \\['colour'\\]"),
        (lambda g: _mutated(g, input_size="3"), "field 'input_size' is '3'"),
        (lambda g: _mutated(g, layers="x"), "field 'layers' must be a list"),
        (lambda g: _mutated(g, layer0_neuron_du=3.5), "layer 0: field 'neuron.du' is 3.5, expected an integer"),
        (lambda g: _mutated(g, layer0_neuron_vth="high"), "layer 0: field 'neuron.vth' is 'high', expected an integer or null"),
        (lambda g: _mutated(g, layer0_neuron="x"), "layer 0: field 'neuron' is 'x', expected an object"),
        (lambda g: _mutated(g, layer0_neuron_colour=1), "layer 0 field 'neuron' keys do not match IR version 3; unknown header keys \\['colour'\\]"),
        (lambda g: _mutated(g, layer0_binary=True), "layer 0 header keys"),
        (lambda g: _mutated(g, layer0_extra=1), "layer 0 header keys"),
        (lambda g: _mutated(g, layer0_neuron_du=5000), "du=5000 outside 0..4095"),
        (lambda g: _mutated(g, layer0_delay_bits="3"), "layer 0: field 'delay_bits' is '3', expected an integer or null"),
        (lambda g: _mutated(g, tail_steps=2.5), "field 'tail_steps' is 2.5, expected an integer"),
        (lambda g: _mutated(g, tail_steps=-1), "tail_steps -1 outside 0"),
        (lambda g: _mutated(g, readout_scale="big"), "field 'readout_scale' is 'big', expected a number"),
        (lambda g: _mutated(g, readout_scale=0), "readout_scale 0.0 is not a finite number > 0"),
        (lambda g: _mutated(g, provenance={"tail_steps": 3}), "provenance 'tail_steps' is a field of the network"),
        (lambda g: _mutated(g, provenance=[]), "field 'provenance' is \\[\\], expected an object"),
        (lambda g: _rewrite(g, drop="layers.1.delay"), "layer 1 lacks array 'layers.1.delay'"),
        (lambda g: _rewrite(g, drop="layers.0.neuron.bias_mant"), "layer 0 lacks array 'layers.0.neuron.bias_mant'"),
        (lambda g: _rewrite(g, add={"layer9.weight": np.zeros(2, np.int32)}), "unknown arrays \\['layer9.weight'\\]"),
        (lambda g: _rewrite(g, add={"layers.0.weight": np.zeros((4, 3), np.float32)}), "weight dtype float32"),
        (lambda g: _rewrite(g, add={"layers.0.delay": -np.ones((4, 3), np.int32)}), "negative delay"),
        (lambda g: _rewrite(g, add={"layers.0.weight": np.zeros((4, 5), np.int32)}), "synaptic delay has shape \\(4, 3\\), expected \\(4, 5\\)"),
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
                if k == "layers.0.weight":
                    continue
                member = io.BytesIO()
                np.save(member, npz[k])
                z.writestr(f"{k}.npy", member.getvalue())
        obj = io.BytesIO()
        np.save(obj, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
        z.writestr("layers.0.weight.npy", obj.getvalue())
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


# --- version 2: typed semantics; version-1 files still load (version 3: delay kinds) -------------------------------------


def test_version_1_file_loads_with_the_same_arithmetic(tmp_path):
    """tests/data/v1.dnet was written by the version-1 writer of commit c50e7c9
    (``delaysnn.quantize(tiny_model, ternary=True, delay_bits=2)``, conftest's tiny model);
    v1_expected.npz holds what that commit's sim computed on it."""
    assert _header((DATA / "v1.dnet").read_bytes())["version"] == 1
    net = ir.load(DATA / "v1.dnet")
    assert [lay.weight_kind for lay in net.layers] == [WeightKind.TERNARY] * 3
    assert net.tail_steps == 9 and net.readout_scale == pytest.approx(7.3296e-05, rel=1e-4)
    assert not {"tail_steps", "readout_scale", "binary", "ternary"} & set(net.provenance)  # metadata only
    assert net.provenance["source"] == "delaysnn.quantize"
    with np.load(DATA / "v1_expected.npz") as old:
        res = simulate(net, old["x"])
        assert res.voltages.shape[1] == old["x"].shape[1] + 3 + 9  # tail_steps still sizes the run
        assert np.array_equal(res.voltages, old["voltages"])
        for i, spikes in enumerate(res.spikes):
            assert np.array_equal(spikes, old[f"spikes{i}"]) and spikes.any()  # every hidden layer fired
        assert np.allclose(res.class_scores(), old["scores"], rtol=1e-12, atol=0)  # readout_scale still decodes it
    assert all(lay.delay_kind is DelayKind.SYNAPTIC for lay in net.layers)  # per-synapse delays before version 3
    ir.save(net, tmp_path / "v3.dnet")  # re-saved as version 3: the same network, the same identity
    assert _header((tmp_path / "v3.dnet").read_bytes())["version"] == ir.VERSION == 3
    back = ir.load(tmp_path / "v3.dnet")
    assert_identical(net, back)
    assert ir.network_id(back) == ir.network_id(net)


def _v1(**changes) -> bytes:
    return _mutated((DATA / "v1.dnet").read_bytes(), **changes)


def _v1_provenance(**changes) -> bytes:
    data = (DATA / "v1.dnet").read_bytes()
    return _mutated(data, provenance={**_header(data)["provenance"], **changes})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _v1(layer0_binary=True), "layer 0: a layer is binary or ternary, not both"),
        (lambda: _v1(layer0_binary=1), "layer 0: field 'binary' is 1, expected true or false"),
        (lambda: _v1(layer0_weight_kind="fixed"), "layer 0 header keys .* do not match IR version 1"),
        (lambda: _v1(tail_steps=3), "unknown header keys \\['tail_steps'\\]"),
        (lambda: _v1_provenance(readout_scale=float("nan")), "readout_scale nan is not a finite number"),
        (lambda: _v1_provenance(tail_steps=10**9), "tail_steps 1000000000 outside 0"),
        (lambda: _v1_provenance(tail_steps="9"), "field 'tail_steps' is '9', expected an integer"),
        (lambda: _rewrite((DATA / "v1.dnet").read_bytes(), drop="layer2.bias_mant"), "layer 2 lacks array 'layers.2.neuron.bias_mant'"),
    ],
)
def test_bad_version_1_files_are_refused(make, message):
    with pytest.raises(IRValidationError, match=message) as info:
        ir.from_bytes(make(), source="old.dnet")
    assert str(info.value).startswith("old.dnet: ") and "\n" not in str(info.value)


def test_version_1_defaults_for_absent_provenance():
    head = _header((DATA / "v1.dnet").read_bytes())
    prov = {k: v for k, v in head["provenance"].items() if k not in ("tail_steps", "readout_scale")}
    net = ir.from_bytes(_v1(provenance=prov))
    assert (net.tail_steps, net.readout_scale) == (0, 1.0)


def _every_field_changed(net: ir.DelayNetwork) -> dict[str, ir.DelayNetwork]:
    """One valid variant of ``net`` per field of the three dataclasses (arrays included)."""
    lay, neuron = net.layers[0], net.layers[0].neuron

    def layer(**kw):
        return dataclasses.replace(net, layers=[dataclasses.replace(lay, **kw), *net.layers[1:]])

    def neuron_(**kw):
        return layer(neuron=dataclasses.replace(neuron, **kw))

    return {
        "input_size": _with_input_size(net),
        "layers": dataclasses.replace(net, layers=[net.layers[0], dataclasses.replace(net.layers[1], weight=-net.layers[1].weight), *net.layers[2:]]),
        "input_bits": dataclasses.replace(net, input_bits=net.input_bits + 1),
        "time_step_ms": dataclasses.replace(net, time_step_ms=net.time_step_ms * 2),
        "tail_steps": dataclasses.replace(net, tail_steps=net.tail_steps + 1),
        "readout_scale": dataclasses.replace(net, readout_scale=net.readout_scale * 2),
        "provenance": dataclasses.replace(net, provenance={**net.provenance, "note": 1}),
        "weight": layer(weight=np.where(lay.weight == 0, 1, 0).astype(lay.weight.dtype)),
        "delay": layer(delay=np.zeros_like(lay.delay)),
        "neuron": neuron_(dv=(neuron.dv + 1) % 4096),
        "weight_bits": layer(weight_bits=lay.weight_bits + 1, weight_kind=WeightKind.FIXED),
        "weight_exp": layer(weight_exp=(lay.weight_exp + 1) % 8),
        "weight_kind": layer(weight_kind=WeightKind.FIXED),
        "delay_bits": layer(delay_bits=None),
        "delay_step": layer(delay_step=1, delay_bits=None),  # differs from "delay_bits" by the step alone
        "delay_kind": layer(delay_kind=DelayKind.AXONAL, delay=lay.delay[0].copy()),
        "du": neuron_(du=(neuron.du + 1) % 4096),
        "dv": neuron_(dv=(neuron.dv + 7) % 4096),
        "vth": neuron_(vth=neuron.vth + 1),
        "bias_mant": neuron_(bias_mant=neuron.bias_mant + 1),
        "bias_exp": neuron_(bias_exp=(neuron.bias_exp + 1) % 8),
    }


def _with_input_size(net: ir.DelayNetwork) -> ir.DelayNetwork:
    first = net.layers[0]
    grown = dataclasses.replace(first, weight=np.pad(first.weight, ((0, 0), (0, 1))), delay=np.pad(first.delay, ((0, 0), (0, 1))))
    return dataclasses.replace(net, input_size=net.input_size + 1, layers=[grown, *net.layers[1:]])


def test_serializer_round_trips_every_field_and_identity_follows_each():
    """Every field, non-default (binary, ternary and fixed layers, a delay grid, graded input,
    tail and scale), survives save/load; and changing any one field changes ``network_id``: the
    identity hashes everything the serializer writes, so an arithmetic change cannot hide."""
    net = random_network(NetSpec(sizes=(4, 6, 5, 3), ternary=True, weight_bits=2, delay_bits=2, input_bits=3, max_delay=9, seed=5))
    net.layers[1] = random_network(NetSpec(sizes=(6, 5, 2), binary=True, weight_bits=1, seed=6)).layers[0]
    net.layers[0].weight_exp, net.layers[0].neuron.bias_exp = 3, 2
    net.time_step_ms, net.tail_steps, net.readout_scale = 2.5, 7, 0.3
    net.provenance = {"source": "test", "target": "loihi", "profile": "loihi2"}
    assert net.layers[0].delay_step > 1 and net.layers[0].delay_bits == 2 and net.layers[0].neuron.vth is not None
    back = ir.from_bytes(ir.to_bytes(net))
    names = {f.name for cls in (ir.DelayNetwork, ir.DelayLayer, ir.NeuronParams) for f in dataclasses.fields(cls)}
    seen = assert_identical(net, back)
    assert seen == 7 + 3 * (len(names) - 7)  # every field of the network and of its 3 layers was compared
    assert [lay.weight_kind for lay in back.layers] == [WeightKind.TERNARY, WeightKind.BINARY, WeightKind.TERNARY]
    variants = _every_field_changed(net)
    assert set(variants) == names  # a field added later must get a variant here
    ids = {"base": ir.network_id(net)}
    for name, variant in variants.items():
        variant.check()
        ids[name] = ir.network_id(variant)
        assert ir.network_id(ir.from_bytes(ir.to_bytes(variant))) == ids[name], name  # stable across save/load
    assert len(set(ids.values())) == len(ids)  # each change its own identity
    assert ir.network_id(back) == ids["base"]


def test_unknown_weight_kind_is_one_line_naming_file_and_field(tmp_path, capsys):
    from tests.conftest import run_cli

    path = tmp_path / "odd.dnet"
    path.write_bytes(_mutated(ir.to_bytes(random_network(NetSpec(sizes=(3, 4, 2), seed=1))), layer0_weight_kind="quaternary"))
    with pytest.raises(IRValidationError) as info:
        ir.load(path)
    assert str(info.value) == f"{path}: layer 0: field 'weight_kind' is 'quaternary', expected one of 'fixed', 'binary', 'ternary'"
    code, out, err = run_cli(["inspect", path], capsys)
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1
    assert str(path) in err and "'weight_kind' is 'quaternary'" in err and "Traceback" not in err

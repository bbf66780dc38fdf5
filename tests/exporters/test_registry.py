"""exporters.registry: one table of backends, each reference real, each ability where it says."""

from __future__ import annotations

import numpy as np
import pytest

import exporters
from delaysnn import sim
from delaysnn.errors import DelaysnnError, MissingDependencyError, UnsupportedError
from exporters.registry import TARGETS, Backend, backend, for_suffix, names
from tests.factories import NetSpec, random_input, random_network


def test_package_reexports_the_registry():
    assert exporters.TARGETS is TARGETS and exporters.Backend is Backend


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_reference_names_a_callable(name):
    b = TARGETS[name]
    assert b.name == name and b.summary
    for ability in ("export", "run", "describe", "float"):
        if getattr(b, f"{ability}_ref") is not None:
            assert callable(b._function(ability)), (name, ability)
    if b.can("export") or b.can("describe"):
        assert b.suffix and b.suffix.startswith(".")


def test_abilities_map_todays_commands():
    # export --target, verify --backends, inspect suffixes: the names and suffixes users type
    assert set(names("export")) == {"loihi", "nir", "onnx", "ir"}
    assert set(names("run")) >= {"sim", "lava", "netx", "onnx", "nir", "nir-roundtrip"}
    assert set(names("float")) == {"nir", "onnx"}
    assert {s: for_suffix(s).name for s in (".h5", ".nir", ".onnx", ".dnet")} == {".h5": "netx", ".nir": "nir", ".onnx": "onnx", ".dnet": "ir"}
    assert for_suffix(".H5") is TARGETS["netx"] and for_suffix(".xyz") is None
    loihi = TARGETS["loihi"]
    assert loihi.profile == "loihi2" and loihi.for_netx and not loihi.can("run")
    assert {n for n, b in TARGETS.items() if b.parallel} == {"lava", "netx"}


def test_unknown_and_unable_backends_are_one_line_errors():
    with pytest.raises(DelaysnnError, match="unknown backend 'tpu'; known: sim, lava"):
        backend("tpu")
    with pytest.raises(UnsupportedError, match="backend 'sim' cannot export an integer network; backends that can: onnx, nir, loihi, ir"):
        backend("sim", "export")
    with pytest.raises(UnsupportedError, match="cannot describe a file"):
        TARGETS["lava"].describe("x.h5")
    missing = Backend("missing", "test double", run_ref="tests.no_such_module:run", needs=("extra",))
    with pytest.raises(MissingDependencyError, match=r"backend 'missing': cannot import tests.no_such_module .*delaysnn\[extra\]"):
        missing.runner()


def test_runs_agree_through_the_protocol(tmp_path):
    net = random_network(NetSpec(sizes=(5, 6, 3), input_bits=2, seed=7))
    x = random_input(net, 3, 9, seed=7)
    ref = sim.simulate(net, x)
    assert any(s.any() for s in ref.spikes)  # the comparison below means something
    for name in ("sim", "onnx", "nir-roundtrip"):
        got = TARGETS[name].run(net, x)
        assert all(np.array_equal(a, b) for a, b in zip(ref.spikes, got.spikes)), name
        assert np.array_equal(ref.voltages, got.voltages), name
    path = TARGETS["onnx"].export(net, tmp_path / f"m{TARGETS['onnx'].suffix}")
    assert TARGETS["onnx"].describe(path)["kind"] == "delaysnn integer network (ONNX)"
    ir_path = TARGETS["ir"].export(net, tmp_path / "m.dnet")
    assert TARGETS["ir"].describe(ir_path)["sizes"] == "5-6-3"

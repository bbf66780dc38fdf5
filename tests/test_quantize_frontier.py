"""The quantizer's memory-frontier options: delay bits (both grids), ternary weights, pruning;
their IR fields, ``check_network`` rejections, and the CLI options."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from delaysnn import ir
from delaysnn.errors import IRValidationError, UnsupportedError
from delaysnn.ir import WeightKind
from delaysnn.model.fold import fold_model
from delaysnn.quantization import LayerOptions, quantize_layer, quantize_model, quantize_with_report
from delaysnn.quantization.grids import weight_grid
from delaysnn.sim import simulate
from tests.conftest import run_cli as run
from tests.factories import NetSpec, random_network
from tests.test_quantize import make_model, random_input

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt")


@pytest.fixture(scope="module")
def model():
    return make_model(max_delay=25)


def carried_delays(layer: ir.DelayLayer) -> np.ndarray:
    return layer.delay[layer.weight != 0]


# --- delay bits ------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", ["step", "cap"])
@pytest.mark.parametrize("bits", [1, 2, 3, 5])
def test_delay_bits_bound_the_distinct_delays_of_every_layer(model, bits, grid):
    net, report = quantize_with_report(model, delay_bits=bits, delay_grid=grid)
    for layer, rep in zip(net.layers, report.layers):
        values = np.unique(layer.delay)
        assert len(values) <= 2**bits and rep.distinct_delays == len(np.unique(carried_delays(layer)))
        assert layer.delay_bits == rep.delay_bits == bits
        assert (layer.delay % layer.delay_step == 0).all()
        assert int(layer.delay.max()) // layer.delay_step <= 2**bits - 1
        if grid == "cap":
            assert layer.delay_step == 1 and layer.max_delay <= 2**bits - 1
    assert net.provenance["delay_bits"] == bits and net.provenance["delay_grid"] == grid
    spikes = simulate(net, random_input(4, 20, 12).numpy().astype(np.int64)).spikes
    assert all(s.any() for s in spikes)  # still a working network


def test_step_grid_keeps_the_range_and_cap_grid_keeps_the_resolution(model):
    plain = quantize_model(model)
    step = quantize_model(model, delay_bits=3, delay_grid="step")
    cap = quantize_model(model, delay_bits=3, delay_grid="cap")
    for p, s, c in zip(plain.layers, step.layers, cap.layers):
        found = int(carried_delays(p).max())
        assert s.delay_step == -(-found // 7)  # ceil(max / (2**3 - 1))
        assert np.abs(s.delay - p.delay).max() <= s.delay_step // 2
        assert np.array_equal(c.delay, np.minimum(p.delay, 7))  # rounding unchanged below the cap


def test_delay_grid_never_breaks_the_delay_limit(model):
    net = quantize_model(model, delay_bits=2, max_delay=20, clip_delays=True)
    assert all(layer.max_delay <= 20 for layer in net.layers)


def test_bad_delay_options_are_refused(model):
    with pytest.raises(UnsupportedError, match="delay_bits"):
        quantize_model(model, delay_bits=0)
    with pytest.raises(UnsupportedError, match="delay grid 'fine'"):
        quantize_model(model, delay_bits=3, delay_grid="fine")


# --- ternary ---------------------------------------------------------------------------------


def test_ternary_is_the_twn_grid_of_the_folded_weights(model):
    net, report = quantize_with_report(model, ternary=True)
    for lay, layer, rep in zip(fold_model(model), net.layers, report.layers):
        w = torch.from_numpy(lay.weight)
        grid = weight_grid(w, None, ternary=True)
        assert np.array_equal(layer.weight, grid.mantissa(w).numpy())
        assert set(np.unique(layer.weight)) <= {-1, 0, 1}
        assert layer.weight_kind is WeightKind.TERNARY and layer.weight_bits == 2
        assert rep.ternary and rep.step == pytest.approx(grid.step) and rep.zero_fraction > 0.2
        assert (layer.delay[layer.weight == 0] == 0).all()  # zeros are absent synapses
    assert net.provenance["weight_bits"] == 2 and "ternary" not in net.provenance  # the layers state the kind
    assert "tern" in report.to_markdown()


def test_binary_and_ternary_together_are_refused(model):
    with pytest.raises(UnsupportedError, match="binary or ternary"):
        quantize_model(model, binary=True, ternary=True)


# --- pruning ---------------------------------------------------------------------------------


def test_per_layer_pruning_removes_the_fraction_of_each_layer(model):
    net, report = quantize_with_report(model, prune=0.75)
    folded = fold_model(model)
    for lay, layer, rep in zip(folded, net.layers, report.layers):
        n = lay.weight.size
        assert rep.pruned_fraction == pytest.approx(1 - round(0.25 * n) / n)
        kept = layer.weight != 0
        assert kept.sum() <= round(0.25 * n)
        assert np.abs(lay.weight[kept]).min() >= np.abs(lay.weight[~kept]).max() - 1e-12
        assert (layer.delay[~kept] == 0).all()
    assert net.provenance["prune"] == 0.75 and net.provenance["prune_scope"] == "layer"


def test_global_pruning_removes_the_fraction_of_the_network(model):
    net, report = quantize_with_report(model, prune=0.6, prune_scope="global")
    total = sum(layer.weight.size for layer in net.layers)
    removed = sum(r.pruned_fraction * layer.weight.size for r, layer in zip(report.layers, net.layers))
    target = total - round(0.4 * total)
    # the readout's folded weights are the smallest: global magnitude empties it but for the
    # one synapse every layer keeps, so at most one synapse per layer more survives
    assert target - len(net.layers) <= round(removed) <= target
    assert all((layer.weight != 0).any() for layer in net.layers)
    assert len({round(r.pruned_fraction, 3) for r in report.layers}) > 1  # not the same per layer


def test_pruning_happens_before_the_weight_grid():
    """The binary scale is the mean |W| of the kept synapses, not diluted by the pruned zeros."""
    lay = fold_model(make_model(max_delay=7))[0]
    keep = np.zeros(lay.weight.shape, dtype=bool)
    keep[0, :3] = True
    layer, rep = quantize_layer(lay, LayerOptions(binary=True), keep)
    assert rep.step == pytest.approx(np.abs(lay.weight[0, :3]).mean())
    assert (layer.weight != 0).sum() == 3 and (layer.delay[~keep] == 0).all()
    assert rep.pruned_fraction == pytest.approx(1 - 3 / lay.weight.size)


def test_a_layer_pruned_to_one_synapse_still_quantizes(model):
    net, report = quantize_with_report(model, prune=0.999, delay_bits=2, ternary=True)
    assert [int((layer.weight != 0).sum()) for layer in net.layers] == [1, 1, 1]
    ir.from_bytes(ir.to_bytes(net))


# --- the IR fields -----------------------------------------------------------------------------


def test_new_fields_round_trip_and_old_files_still_load(model, tmp_path):
    net = quantize_model(model, ternary=True, delay_bits=3, prune=0.5)
    back = ir.from_bytes(ir.to_bytes(net))
    for a, b in zip(net.layers, back.layers):
        assert (b.weight_kind, b.delay_bits, b.delay_step) == (a.weight_kind, a.delay_bits, a.delay_step)
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.delay, b.delay)
    # a version-1 file written before these fields existed: layer headers without them
    import io
    import zipfile

    data = (Path(__file__).parent / "data" / "v1.dnet").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        files = {name: zin.read(name) for name in zin.namelist()}
    header = json.loads(np.load(io.BytesIO(files["header.npy"])).tobytes())
    assert header["version"] == 1
    for spec in header["layers"]:
        for key in ("ternary", "delay_bits", "delay_step"):
            del spec[key]
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    files["header.npy"] = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name, blob in files.items():
            zout.writestr(name, blob)
    old = ir.from_bytes(out.getvalue())
    assert all(lay.delay_bits is None and lay.delay_step == 1 and lay.weight_kind is WeightKind.FIXED for lay in old.layers)


def _layer_edit(**changes):
    net = random_network(NetSpec(sizes=(4, 5, 3), max_delay=12, seed=7))
    net.layers[0] = dataclasses.replace(net.layers[0], **changes)
    return net


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(weight_kind=WeightKind.TERNARY), r"layer 0: ternary weights are stored in 2 bits"),
        (dict(weight_kind=WeightKind.TERNARY, weight_bits=2, weight=np.full((5, 4), -2, np.int32)), r"ternary weights take values in \{-1, 0, \+1\}"),
        (dict(weight_kind="ternary"), r"weight_kind 'ternary' is not a WeightKind; use one of WeightKind.FIXED"),
        (dict(weight_kind=1), "weight_kind 1 is not a WeightKind"),
        (dict(delay_step=5), "delays are not multiples of delay_step 5"),
        (dict(delay_step=0), r"delay_step 0 outside 1\.\.4096"),
        (dict(delay_step=2.0), r"delay_step 2\.0 outside"),
        (dict(delay_bits=2), r"delay 12 is 12 x delay_step 1, beyond the 2-bit delay range 0\.\.3; re-quantize with --delay-bits 2"),
        (dict(delay_bits=13), r"delay_bits 13 outside 1\.\.12"),
        (dict(delay_bits="4"), r"delay_bits '4' outside"),
    ],
)
def test_check_network_rejects_bad_grids_with_clear_messages(changes, message):
    with pytest.raises(IRValidationError, match=message):
        _layer_edit(**changes).check()


def test_check_network_accepts_a_consistent_grid():
    net = _layer_edit(delay_bits=2, delay_step=4)
    net.layers[0].delay[:] = np.minimum(net.layers[0].delay // 4 * 4, 12)
    net.check()


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_quantize_takes_the_frontier_options(tmp_path, capsys):
    out = tmp_path / "m.dnet"
    args = ["quantize", EXAMPLE, "-o", out, "--ternary", "--delay-bits", "3", "--delay-grid", "cap", "--prune", "0.5",
            "--prune-scope", "global", "--json"]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    rep = json.loads(stdout)
    assert rep["ternary"] and rep["delay_bits"] == 3 and rep["delay_grid"] == "cap" and rep["prune_scope"] == "global"
    net = ir.load(out)
    assert all(lay.weight_kind is WeightKind.TERNARY and lay.delay_bits == 3 and lay.max_delay <= 7 for lay in net.layers)


def test_cli_export_takes_the_frontier_options(tmp_path, capsys):
    out = tmp_path / "m.dnet"
    code, _, err = run(["export", EXAMPLE, "--target", "ir", "-o", out, "--delay-bits", "4", "--prune", "0.3"], capsys)
    assert code == 0, err
    net = ir.load(out)
    assert all(lay.delay_bits == 4 and lay.delay_step >= 1 for lay in net.layers)
    assert net.provenance["prune"] == 0.3


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--binary", "--ternary"], "--binary and --ternary"),
        (["--delay-grid", "cap"], "--delay-grid needs --delay-bits"),
        (["--prune-scope", "global"], "--prune-scope needs --prune"),
        (["--prune", "1"], "--prune"),
        (["--delay-bits", "13"], "--delay-bits"),
        (["--delay-grid", "fine", "--delay-bits", "2"], "--delay-grid"),
    ],
)
def test_cli_bad_frontier_options_are_usage_errors(extra, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["quantize", EXAMPLE, "-o", "m.dnet", *extra], capsys)
    assert code == 2 and needle in err.splitlines()[-1], err
    assert list(tmp_path.iterdir()) == []


def test_cli_delay_bits_range_is_the_irs():
    from delaysnn.cli import quantize

    opt = next(p for p in quantize.params if p.name == "delay_bits")
    assert (opt.type.min, opt.type.max) == (1, ir.DELAY_BITS_MAX)


def test_frontier_specs_reach_their_shapes():
    """The factories' frontier cases really hold what the backends' parity tests claim to cover."""
    from tests.factories import FRONTIER_SPECS

    seen = set()
    for spec in FRONTIER_SPECS:
        net = random_network(spec)
        for li, layer in enumerate(net.layers):
            live = layer.weight != 0
            if spec.prune or (spec.single_synapse and li == 0):  # pruned synapses are absent: delay 0 (ternary zeros keep theirs)
                assert (layer.delay[~live] == 0).all()
            if layer.delay_bits is not None:
                seen.add(("grid", spec.delay_grid))
                assert len(np.unique(layer.delay)) <= 2**layer.delay_bits
            if layer.weight_kind is WeightKind.TERNARY:
                seen.add("ternary")
            if live.sum() == 1:
                seen.add("one synapse")
            if (~live.any(1)).any() and (~live.any(0)).any():
                seen.add("zero row and column")
    assert seen >= {("grid", "step"), ("grid", "cap"), "ternary", "one synapse", "zero row and column"}

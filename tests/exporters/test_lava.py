"""Lava backend: what only Lava and netx have (bit-accurate model selection, DelayDense against
DelaySparse, the netx file, clipping); refusal of networks that break the Loihi 2 profile or that
netx cannot represent. Parity on the edge probes and on random networks is the conformance
harness's (tests/conformance.py, run on every backend by tests/test_conformance.py).

Lava runs are slow (about a second per network): networks are small and steps few, but every
edge of the arithmetic is probed. The whole file should take well under three minutes.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delaysnn import sim
from delaysnn.app.verify import verify
from delaysnn.errors import HardwareLimitError, UnsupportedError
from delaysnn.ir import READOUT_VTH
from tests.conformance import assert_identical, case
from tests.conftest import needs_lava_here
from tests.factories import FRONTIER_SPECS, NetSpec, random_input, random_network

needs_lava_here()
from exporters import lava as elava  # noqa: E402

pytestmark = pytest.mark.lava


# --- laziness, model selection, time alignment -------------------------------------------------


def test_importing_the_exporter_does_not_import_lava():
    code = "import sys, exporters.lava; assert not any(m == 'lava' or m.startswith('lava.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lava_selects_the_bit_accurate_models_and_aligns_like_the_sim():
    """The arrival steps themselves (t + 1 + d) are the hand-computed voltages of this conformance case."""
    c = case("delay_0_arrives_next_step")
    ref = sim.simulate(c.net, c.x, steps=c.steps)
    res = elava.run(c.net, c.x, steps=c.steps)
    assert res.extra["models"] == {"LIF": "PyLifModelBitAcc", "DelayDense": "PyDelayDenseModelBitAcc"}
    assert res.alignment == ref.alignment
    assert_identical(c.expected, res, "lava")


# --- the memory frontier: delay bits, ternary, pruned layers; DelaySparse --------------------------


@pytest.mark.parametrize("spec", [FRONTIER_SPECS[i] for i in (1, 2, 3)], ids=lambda s: f"seed{s.seed}")
@pytest.mark.slow
def test_frontier_networks_sim_equals_lava_dense_and_sparse(spec):
    """Delay grids, ternary and pruned layers (all-zero rows and columns): DelayDense and
    DelaySparse both reproduce the sim."""
    net = random_network(spec)
    x = random_input(net, 3, 30, rate=0.4, seed=spec.seed)
    ref = sim.simulate(net, x)
    assert all(s.any() for s in ref.spikes) and ref.voltages.any()
    for sparse in (False, True):
        got = elava.run(net, x, sparse=sparse)
        assert set(got.extra["models"]) == {"LIF", "DelaySparse" if sparse else "DelayDense"}
        assert_identical(ref, got, "lava")


def test_sparse_layers_are_chosen_per_layer():
    """A layer pruned to one synapse (97 % zeros) becomes DelaySparse, a denser one stays DelayDense
    (one copy per graph: block-diagonal copies are mostly zeros, so sparse throughout)."""
    spec = FRONTIER_SPECS[4]
    net = random_network(spec)
    assert [elava.zero_fraction(lay.weight) > elava.SPARSE_ZERO_FRACTION for lay in net.layers] == [True, False]
    x = random_input(net, 3, 30, rate=0.4, seed=spec.seed)
    ref = sim.simulate(net, x)
    assert ref.spikes[0].any()
    got = elava.run(net, x, copies=1)
    assert set(got.extra["models"]) == {"LIF", "DelayDense", "DelaySparse"}
    assert set(elava.run(net, x).extra["models"]) == {"LIF", "DelaySparse"}
    assert_identical(ref, got, "lava")


def test_pruned_ternary_network_through_netx_dense_and_sparse(tmp_path):
    """A quantized network, 80 % pruned, ternary, 3-bit delays: the netx file holds no delay for
    an absent synapse, and netx's sparse loader keeps exactly the live synapses, spike-identical."""
    from delaysnn.quantization import NETX_OPTIONS, quantize_model
    from tests.test_quantize import make_model
    from tests.test_quantize import random_input as spike_input

    net = quantize_model(make_model(max_delay=25), prune=0.8, ternary=True, delay_bits=3, **NETX_OPTIONS)
    path = elava.save_netx(net, tmp_path / "pruned.h5")
    with h5py.File(path, "r") as f:
        for i, lay in enumerate(net.layers, start=1):
            assert not f[f"layer/{i}/delay"][()][lay.weight == 0].any()
    x = spike_input(2, 20, 12).numpy().astype(np.int64)
    ref = sim.simulate(net, x)
    assert all(s.any() for s in ref.spikes)
    for sparse in (False, None):  # None: most synapses are zero, so netx's sparse_fc_layer
        graph = elava.build_netx(path, x, sparse=sparse)
        kinds = {type(syn).__name__ for syn in graph.synapses}
        assert kinds == ({"DelayDense"} if sparse is False else {"DelaySparse"})
        if sparse is None:
            assert [syn.weights.init.nnz for syn in graph.synapses] == [int((lay.weight != 0).sum()) for lay in net.layers]
        assert_identical(ref, elava.run_graph(graph), "netx")


def test_verify_runs_every_backend_against_the_sim():
    c = case("delays_and_decays")
    net, x = c.net, c.x
    reports = verify(net, x[:, :20], ["sim", "lava", "netx"])
    assert [r.backend for r in reports] == ["sim", "lava", "netx"]
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    steps = 20 + 3  # input steps + one per layer
    assert reports[1].compared == 2 * steps * (2 + 2 + 1)  # 2 samples x (hidden spikes + readout voltages)


# --- refusals ----------------------------------------------------------------------------------


def test_profile_breaking_networks_are_refused_with_every_violation():
    net = random_network(NetSpec(sizes=(3, 4, 2), max_delay=70, seed=3))
    net.layers[1].delay[0, 0] = 63
    with pytest.raises(HardwareLimitError) as info:
        elava.build(net, "loihi2", steps=5)
    msg = str(info.value)
    assert "layer 0:" in msg and "have delay > 62 (max 70) [profile loihi2: limits.max_delay]" in msg
    assert "layer 1:" in msg
    report = verify(net, np.zeros((1, 3, 3), dtype=np.int64), ["lava"])[0]
    assert report.skipped is not None and "limits.max_delay" in report.skipped


def test_clipping_is_explicit():
    net = random_network(NetSpec(sizes=(3, 4, 2), max_delay=70, seed=3))
    with pytest.raises(HardwareLimitError, match="clip=True"):
        elava.clip_delays(net)
    clipped = elava.clip_delays(net, clip=True)
    assert max(lay.max_delay for lay in clipped.layers) == 62 and net.layers[0].max_delay == 70
    assert clipped.provenance["delays_clipped_to"] == 62
    x = random_input(clipped, 1, 4)
    assert_identical(sim.simulate(clipped, x), elava.run(clipped, x), "lava")


def test_graded_payload_products_that_overflow_lava_int32_are_refused():
    net = random_network(NetSpec(sizes=(2, 3, 2), input_bits=24, seed=9))
    net.layers[0].weight[0, 0] = 127
    with pytest.raises(HardwareLimitError, match="overflows Lava's int32"):
        elava.check(net)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda n: setattr(n.layers[0].neuron, "bias_exp", 0) or n.layers[0].neuron.bias_mant.fill(3), "not a multiple of 2\\*\\*6"),
        (lambda n: setattr(n.layers[0], "weight_exp", 3), "netx clips them to \\[-256, 254\\]"),
        (lambda n: n.layers[1].weight.fill(0), "all weights are zero"),
        (lambda n: n.layers[1].weight.fill(-128), "not reproduced by netx"),
    ],
)
def test_save_netx_refuses_what_netx_cannot_represent(tmp_path, edit, message):
    net = random_network(NetSpec(sizes=(3, 4, 2), netx=True, seed=2))
    edit(net)
    path = tmp_path / "net.h5"
    with pytest.raises(UnsupportedError, match=message):
        elava.save_netx(net, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --- the netx file -----------------------------------------------------------------------------


def test_save_netx_layout(tmp_path):
    c = case("delays_and_decays")
    net, x = c.net, c.x
    path = elava.save_netx(net, tmp_path / "net.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["input_bits"] == 2
        assert f["layer/0/type"][()] == b"input" and f["layer/0/shape"][()].tolist() == [3]
        for i, lay in enumerate(net.layers, start=1):
            g = f[f"layer/{i}"]
            assert g["type"][()] == b"dense" and g["shape"][()].tolist() == [lay.shape[0]]
            assert np.array_equal(g["weight"][()], lay.weight << lay.weight_exp)
            # absent (zero-weight) synapses are written with delay 0: no connection
            assert np.array_equal(g["delay"][()], np.where(lay.weight != 0, lay.delay, 0)) and g["delay"].ndim == 2
            n = lay.neuron
            assert np.array_equal(g["bias"][()] << 6, n.bias_mant.astype(np.int64) << n.bias_exp)
            assert g["neuron/type"][()] == b"CUBA"
            assert g["neuron/iDecay"][()] == n.du + 1 and g["neuron/vDecay"][()] == n.dv
            assert g["neuron/vThMant"][()] == (READOUT_VTH if n.vth is None else n.vth)
            assert g["neuron/refDelay"][()] == 1 and not g["neuron/gradedSpike"][()]
    assert_identical(sim.simulate(net, x[:, :10]), elava.run_netx(path, x[:, :10]), "netx")


def _lava_realizes_exactly(w: np.ndarray) -> bool:
    """Apply lava-dl's optimize_weight_bits, then DelayDense's clip and truncation, for real."""
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            opt, bits, exp, _ = optimize_weight_bits(w.copy())
        except (OverflowError, ValueError):
            return False
    mode = determine_sign_mode(opt)
    realized = truncate_weights(clip_weights(opt, mode, num_bits=8), mode, bits).astype(np.int64)
    if exp > 0 or np.any(realized % (1 << -exp)):
        return False
    return np.array_equal(realized >> -exp, w)


@settings(max_examples=150, deadline=None)
@given(
    lo=st.integers(-300, 300),
    span=st.integers(0, 400),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    seed=st.integers(0, 9999),
    special=st.sampled_from([None, -256, -128, -129, 254, 255, 256, 0, 1, -1]),
)
def test_netx_weight_mirror_matches_lava(lo, span, shape, seed, special):
    rng = np.random.default_rng(seed)
    w = rng.integers(lo, lo + span + 1, size=shape).astype(np.int64)
    if special is not None:
        w.flat[0] = special
    with contextlib.redirect_stdout(io.StringIO()):  # netx prints its clipping warnings
        ok = _lava_realizes_exactly(w)
    assert (elava.netx_weight_problem(w) is None) == ok, (w.tolist(), elava.netx_weight_problem(w))


def test_delays_lava_would_hang_on_are_refused_whatever_the_profile():
    net = random_network(NetSpec(sizes=(2, 3), max_delay=64, seed=1))
    with pytest.raises(HardwareLimitError, match="delay 64 > 63, the most Lava's DelayDense accepts"):
        elava.build(net, "unconstrained", steps=3)

"""The two things that make whole test sets against Lava fast (issue 15), checked against Lava's
own behaviour: the memoized delay-weight matrix of ``DelayDense``/``DelaySparse`` (same spikes
with and without it) and the file recorders (same records as Lava's ``RingBuffer``/``Read``)."""

from __future__ import annotations

import numpy as np
import pytest

from delaysnn import sim
from tests.conformance import assert_identical
from tests.conftest import needs_lava_here
from tests.factories import NetSpec, random_input, random_network

needs_lava_here()
from exporters import lava as elava  # noqa: E402
from exporters.lava.speedups import memoized_delay_weights  # noqa: E402

pytestmark = pytest.mark.lava


def _pruned_network():
    net = random_network(NetSpec(sizes=(6, 9, 7, 3), input_bits=3, seed=11))
    rng = np.random.default_rng(11)
    first = net.layers[0]
    first.weight[rng.random(first.weight.shape) < 0.8] = 0  # layer 0 DelaySparse, layer 1 DelayDense
    return net


@pytest.mark.parametrize("copies", [1, 2])
def test_memoized_delay_weights_give_lavas_own_spikes(copies):
    net = _pruned_network()
    x = random_input(net, 3, 14, rate=0.5, seed=11)
    ref = sim.simulate(net, x)
    assert all(s.any() for s in ref.spikes), "a silent layer proves nothing"
    results = [elava.run_graph(elava.build(net, x=x, copies=copies), memoize=m) for m in (False, True)]
    if copies == 1:
        assert set(results[1].extra["models"]) == {"LIF", "DelayDense", "DelaySparse"}
    for memoize, got in zip((False, True), results):
        assert_identical(ref, got, "lava", f"memoize={memoize}")


def test_memo_returns_the_same_matrix_until_the_weights_change():
    from lava.proc.dense.models import AbstractPyDelayDenseModel as Dense

    original = Dense.__dict__["get_delay_wgts_mat"]
    rng = np.random.default_rng(0)
    w = rng.integers(-5, 6, (4, 3)).astype(np.int32)
    d = rng.integers(0, 3, (4, 3)).astype(np.int32)
    with memoized_delay_weights():
        first = Dense.get_delay_wgts_mat(w, d, 2)
        assert Dense.get_delay_wgts_mat(w, d, 2) is first
        np.testing.assert_array_equal(first, original.__func__(w, d, 2))
        w[0, 0] += 1  # what Var.set does to a dense Var: edit in place
        second = Dense.get_delay_wgts_mat(w, d, 2)
        assert second is not first
        np.testing.assert_array_equal(second, original.__func__(w, d, 2))
        assert Dense.get_delay_wgts_mat(w.copy(), d, 2) is not second  # another object: rebuilt
    assert Dense.__dict__["get_delay_wgts_mat"] is original


def test_file_recorders_record_what_lavas_sinks_record():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import Read
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from exporters.lava.recorders import MODELS, StepFile, VarFile, new_record, read_record

    steps = 12
    rng = np.random.default_rng(1)
    source = Source(data=(rng.random((4, steps)) < 0.6).astype(np.int32))
    dense = Dense(weights=rng.integers(20, 90, (5, 4)))
    lif = LIF(shape=(5,), du=400, dv=300, vth=60, bias_mant=np.arange(5), bias_exp=2)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    sink, probe = Sink(shape=(5,), buffer=steps), Read(buffer=steps)
    lif.s_out.connect(sink.a_in)
    probe.connect_var(lif.v)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s_path, v_path = new_record(f"{tmp}/s.npy", steps, 5, np.uint8), new_record(f"{tmp}/v.npy", steps, 5, np.int32)
        ours = [StepFile(shape=(5,), path=s_path), VarFile(var=lif.v, path=v_path)]
        lif.s_out.connect(ours[0].a_in)
        cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={p: MODELS[type(p)] for p in ours})
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        try:
            theirs_s, theirs_v = sink.data.get(), probe.data.get()
        finally:
            lif.stop()
        got_s, got_v = read_record(s_path), read_record(v_path)
    assert got_s.any() and got_v.any()
    np.testing.assert_array_equal(got_s.T, theirs_s)
    np.testing.assert_array_equal(got_v.T, theirs_v)

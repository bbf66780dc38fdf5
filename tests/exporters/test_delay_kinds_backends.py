"""Axonal and dendritic delays (issue 25) in the backends' files: the netx HDF5's 1-D ``delay``
datasets (what netx reads them as), NIR's ``Delay -> Linear`` / ``Linear -> Delay`` layers read
back losslessly, and a lava-dl SLAYER network with axonal delays imported from its netx file.

Spike parity of every backend on every kind is ``tests/conformance.py``'s (the ``*_delays`` and
``*_square_*`` cases); here, what the files hold."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from delaysnn.errors import DelaysnnError
from delaysnn.ir import READOUT_VTH, DelayKind, DelayNetwork
from delaysnn.sim import simulate
from exporters.lava.netx_read import read_netx_network
from exporters.lava.netx_write import save_netx
from tests.conformance import assert_identical, case
from tests.conftest import needs_lava_here, run_cli
from tests.factories import NetSpec, random_input, random_network

KIND_CASES = ("axonal_delays", "dendritic_delays", "axonal_square_layers", "dendritic_square_layer")


def _delay_datasets(path) -> list[np.ndarray]:
    with h5py.File(path, "r") as f:
        return [f[f"layer/{k}/delay"][()] for k in sorted(f["layer"], key=int) if "delay" in f[f"layer/{k}"]]


@pytest.mark.parametrize("name", KIND_CASES)
def test_netx_file_holds_what_netx_reads_as_the_kind_and_reads_back(tmp_path, name):
    """1-D where netx's ``create_dense`` reads the vector as the kind means (length N_out: per output
    neuron, winning when N_in == N_out; length N_in: per input neuron), the matrix where it would
    not; read back, each layer has the kind netx runs and the same per-synapse delays."""
    net = case(name).net
    path = save_netx(net, tmp_path / "net.h5")
    back = read_netx_network(path)
    for layer, written, got in zip(net.layers, _delay_datasets(path), back.layers):
        out, n_in = layer.shape
        square_axonal = layer.delay_kind is DelayKind.AXONAL and out == n_in
        if square_axonal:  # netx would read a 1-D [in] as per output neuron: the [out, in] matrix
            assert written.shape == (out, n_in) and got.delay_kind is DelayKind.SYNAPTIC
        else:
            assert written.shape == layer.delay.shape and got.delay_kind is layer.delay_kind
            np.testing.assert_array_equal(got.delay, layer.delay)
        live = layer.weight != 0
        np.testing.assert_array_equal(got.delay_matrix[live], layer.delay_matrix[live])


def _netx_file(path, delay: np.ndarray, shape=(3, 4)) -> None:
    """A one-layer netx file (readout 4 -> 3) whose layer holds ``delay``."""
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g["type"], g["shape"] = np.bytes_("dense"), np.array([shape[0]])
        g["weight"] = np.arange(1, shape[0] * shape[1] + 1).reshape(shape).astype(np.float32)
        g["delay"] = delay
        g["neuron/type"], g["neuron/iDecay"], g["neuron/vDecay"], g["neuron/vThMant"] = np.bytes_("CUBA"), 4096, 0, READOUT_VTH


@pytest.mark.parametrize(("length", "kind"), [(3, DelayKind.DENDRITIC), (4, DelayKind.AXONAL)])
def test_a_foreign_1d_delay_is_read_as_netx_reads_it(tmp_path, length, kind):
    _netx_file(tmp_path / "n.h5", np.arange(length, dtype=np.float32))
    layer = read_netx_network(tmp_path / "n.h5").layers[0]
    assert layer.delay_kind is kind
    np.testing.assert_array_equal(layer.delay, np.arange(length))


def test_a_1d_delay_matching_neither_side_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.h5"
    _netx_file(path, np.arange(5, dtype=np.float32))
    with pytest.raises(DelaysnnError) as err:
        read_netx_network(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "/layer/0/delay" in msg and "5 delays match neither side" in msg
    assert "one per output neuron (3)" in msg  # the fix: what netx reads
    code, out, errtext = run_cli(["simulate", path, "--samples", "2"], capsys)
    assert code != 0 and "match neither side" in errtext and "Traceback" not in errtext and out == ""


@pytest.mark.parametrize("name", KIND_CASES)
def test_nir_kinds_are_standard_chains_read_back_losslessly(tmp_path, name):
    """Axonal ``Delay -> Linear``, dendritic ``Linear -> Delay`` (no fan-out ``Linear``): the file
    passes ``nir.read(type_check=True)`` and reads back to the same kinds and arrays."""
    import nir

    from exporters.nir import export_ir, read_ir
    from exporters.nir.files import to_bytes
    from exporters.nir.structure import chain

    net = case(name).net
    path = tmp_path / "net.nir"
    path.write_bytes(to_bytes(export_ir(net)))
    graph = nir.read(path, type_check=True)
    assert not [k for k in graph.nodes if k.endswith("fanout")]
    _, segments = chain(graph)  # the nodes in edge order
    for layer, seg in zip(net.layers, segments):
        ops = [type(node).__name__ for _, node in seg.ops]
        assert ops[:2] == (["Delay", ops[1]] if layer.delay_kind is DelayKind.AXONAL else ["Linear", "Delay"])
        delay = next(node for _, node in seg.ops if type(node).__name__ == "Delay")
        assert delay.delay.shape == layer.delay.shape
    back = read_ir(path)
    for a, b in zip(net.layers, back.layers):
        assert b.delay_kind is a.delay_kind
        np.testing.assert_array_equal(a.delay, b.delay)
        np.testing.assert_array_equal(a.weight, b.weight)


def test_nir_dendritic_bias_goes_after_the_delay():
    """A plain LIF's bias is NIR's Affine bias: in a dendritic layer it follows the Delay (an
    identity Affine), else it would arrive ``tau`` late; the graph still runs spike-exactly."""
    from exporters import TARGETS
    from exporters.nir import export_ir
    from exporters.nir.structure import chain

    c = case("dendritic_delays")
    readout = c.net.layers[-1]
    assert readout.neuron.du == 4095 and readout.neuron.bias_mant.any()  # the case's premise
    ops = chain(export_ir(c.net))[1][-1].ops
    assert [type(node).__name__ for _, node in ops] == ["Linear", "Delay", "Affine"]
    np.testing.assert_array_equal(ops[2][1].weight, np.eye(readout.shape[0]))
    assert_identical(simulate(c.net, c.x), TARGETS["nir"].run(c.net, c.x), "nir", "dendritic bias")


@pytest.mark.parametrize(("kind", "message"), [("dendritic", "are not the"), ("sideways", "expected one of")])
def test_nir_layer_whose_kind_disagrees_with_its_nodes_is_refused(kind, message):
    """Metadata naming another kind than the nodes hold (or none known): one line, no guess."""
    from delaysnn.errors import UnsupportedError
    from exporters.nir import export_ir, read_ir

    graph = export_ir(case("axonal_delays").net)
    graph.nodes["layer0_neuron"].metadata["delay_kind"] = kind
    with pytest.raises(UnsupportedError, match=message) as err:
        read_ir(graph)
    assert "\n" not in str(err.value) and "layer 0" in str(err.value)


def test_nir_per_neuron_delay_survives_all_zero_weights():
    """A neuron whose weights are all zero keeps its delay through NIR (the Delay node holds the
    vector; a per-synapse reading would lose it)."""
    from exporters.nir import roundtrip

    for kind in ("axonal", "dendritic"):
        net = random_network(NetSpec(sizes=(4, 5, 2), kind=kind, seed=3, max_delay=9))
        first = net.layers[0]
        first.weight[:, 1] = 0
        first.weight[1, :] = 0
        first.delay[1] = 7
        back = roundtrip(net)
        np.testing.assert_array_equal(back.layers[0].delay, first.delay)


@pytest.mark.parametrize("kind", ["axonal", "dendritic"])
def test_float_exports_follow_the_float_ir_kind(kind):
    """``--float``: NIR holds the float IR's vectors in ``Delay -> Linear`` / ``Linear -> Delay``
    layers, and NIR in nirtorch, ONNX in onnxruntime and ``read_float``'s rebuild give torch's
    readout on an input where every hidden layer fires."""
    import torch

    from delaysnn.app.from_nir import read_float
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.fold import fold
    from exporters import nir as enir
    from exporters.nir.structure import chain
    from exporters.nirtorch_delay import run_steps, to_torch
    from exporters.onnx.floating import build_float
    from exporters.onnx.runtime import session

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=10, hidden_layers=2, max_delay=7, tau=2.0,
                                 readout_tau=3.0, delay_kind=kind))
    with torch.no_grad():
        for syn in model.synapses:
            syn.pos.uniform_(-3.4, 3.4)
            syn.sig.fill_(0.23)
        for layer in model.hidden:
            layer.bn.bias.fill_(0.6)  # a bias every step: a dendritic layer's goes after its Delay
    model.eval()
    x = (torch.rand(4, 12, 6, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        want, spikes = model.forward_trace(x)
    assert all(float(s.sum()) > 0 for s in spikes)
    fnet = fold(model)
    assert {lay.delay_kind for lay in fnet.layers} == {DelayKind(kind)}
    data = enir.to_bytes(enir.export_float(model))
    graph = enir.load_graph(data)
    first = [type(node).__name__ for _, node in chain(graph)[1][0].ops]
    assert first[:2] == (["Delay", first[1]] if kind == "axonal" else ["Linear", "Delay"]) and first[-1] != "Delay"
    streamed = torch.cat([x, torch.zeros(4, fnet.tail_steps, 6)], dim=1)
    got = {
        "nir": run_steps(to_torch(graph), streamed).numpy(),
        "onnx": session(build_float(fnet)).run(["voltages"], {"x": x.numpy()})[0],
    }
    with torch.no_grad():
        got["read_float"] = read_float(data).forward_trace(x)[0].numpy()
    for name, v in got.items():
        assert float(np.abs(v - want.numpy()).max()) < 1e-5, name


# --- a lava-dl SLAYER network with axonal delays --------------------------------------------------

SLAYER_DELAYS = ([0, 3, 7, 1, 12], [2, 0, 5])


def _slayer_file(path, readout_threshold: float = READOUT_VTH / 64) -> None:
    """Two ``slayer.block.cuba.Dense(..., delay=True)`` blocks (6 -> 5 -> 3) with integer axonal
    delays, written by SLAYER's own ``export_hdf5`` (on CPU), as a SLAYER user does. The readout
    block's threshold is delaysnn's non-spiking readout's (vThMant READOUT_VTH)."""
    import torch

    from tests.conftest import needs_lava_here

    needs_lava_here("lava.lib.dl.slayer")  # SLAYER (and netx on its file) run in this Python
    from lava.lib.dl import slayer

    torch.manual_seed(0)
    hidden = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False}
    blocks = [
        slayer.block.cuba.Dense(hidden, 6, 5, weight_scale=2, weight_norm=False, delay=True),
        slayer.block.cuba.Dense({**hidden, "threshold": readout_threshold}, 5, 3, weight_scale=2, weight_norm=False, delay=True),
    ]
    x = torch.zeros(1, 6, 4)
    for block, delays in zip(blocks, SLAYER_DELAYS):
        x = block(x)  # SLAYER sizes its delay vector on the first forward pass
        block.delay.delay.data = torch.tensor(delays, dtype=torch.float32)
    with h5py.File(path, "w") as f:
        top = f.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(top.create_group(str(i)))


@pytest.fixture(scope="module")
def slayer_net(tmp_path_factory):
    needs_lava_here("lava.lib.dl.slayer")  # lava-dl writes their file in this Python: the bridge cannot stand in
    path = tmp_path_factory.mktemp("slayer") / "their.net.h5"
    _slayer_file(path)
    return path


@pytest.mark.lava
def test_slayer_axonal_delays_read_as_netx_runs_them(slayer_net):
    """SLAYER delays a block's output spikes; its netx file holds them per output neuron of the
    block's dense layer, where netx applies them to that layer's synapses: a dendritic layer."""
    net = read_netx_network(slayer_net)
    assert [layer.delay_kind for layer in net.layers] == [DelayKind.DENDRITIC] * 2
    assert [layer.delay.tolist() for layer in net.layers] == [list(d) for d in SLAYER_DELAYS]
    assert net.layers[0].neuron.du == 1023 and net.layers[0].neuron.dv == 123 and net.layers[0].neuron.vth == 64


@pytest.mark.lava
def test_slayer_file_runs_in_netx_as_the_simulator_runs_what_was_read(slayer_net):
    """netx (lava-dl's own loader) on THEIR file, not a file delaysnn rewrote: the spikes and
    voltages of the simulator on the network read from it."""
    from exporters.lava.netx_read import run_netx

    net = read_netx_network(slayer_net)
    x = random_input(net, 2, 25, rate=0.3, seed=1)
    ref = simulate(net, x)
    assert ref.spikes[0].sum() > 0
    assert_identical(ref, run_netx(slayer_net, x, steps=ref.alignment.steps), "netx", "SLAYER file")


@pytest.mark.lava
@pytest.mark.slow
def test_slayer_file_simulates_verifies_and_exports(slayer_net, tmp_path, capsys):
    code, out, err = run_cli(["simulate", slayer_net, "--samples", "4"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["verify", slayer_net, "--backends", "sim,lava,netx,onnx,nir", "--samples", "8"], capsys)
    assert code == 0, err
    assert "all 5 backends identical" in out + err
    spikes = int((out + err).split("all 5 backends identical to the simulator (")[1].split(" hidden spikes")[0])
    assert spikes > 0
    for target, suffix in (("onnx", ".onnx"), ("nir", ".nir")):
        code, out, err = run_cli(["export", slayer_net, "--target", target, "-o", tmp_path / f"their{suffix}"], capsys)
        assert code == 0, err
    from exporters import TARGETS
    from exporters.nir import read_ir

    net = read_netx_network(slayer_net)
    back = read_ir(tmp_path / "their.nir")
    assert [layer.delay_kind for layer in back.layers] == [DelayKind.DENDRITIC] * 2
    x = random_input(net, 2, 25, rate=0.3, seed=2)
    assert_identical(simulate(net, x), TARGETS["onnx"].run(net, x), "onnx", "SLAYER network")


@pytest.mark.lava
def test_slayer_spiking_readout_is_refused_in_one_line(tmp_path, capsys):
    """SLAYER's last block spikes (vThMant 64): delaysnn's readout is read by its voltage, so the
    file is refused, saying how to export it."""
    needs_lava_here("lava.lib.dl.slayer")
    path = tmp_path / "spiking.net.h5"
    _slayer_file(path, readout_threshold=1.0)
    code, out, err = run_cli(["simulate", path, "--samples", "2"], capsys)
    assert code != 0 and out == "" and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert str(path) in line and "/layer/1/neuron/vThMant" in line and f"threshold {READOUT_VTH / 64:g}" in line


def test_netx_reader_takes_whole_float_values_and_refuses_fractions(tmp_path):
    """SLAYER writes weights and biases as floats: whole numbers are read, fractions refused."""
    path = tmp_path / "frac.h5"
    _netx_file(path, np.zeros(3, np.float32))
    with h5py.File(path, "r+") as f:
        f["layer/0/bias"] = np.array([2.0, -1.0, 0.0], np.float32)
    assert read_netx_network(path).layers[0].neuron.bias_mant.tolist() == [2, -1, 0]
    with h5py.File(path, "r+") as f:
        f["layer/0/bias"][0] = 0.5
    with pytest.raises(DelaysnnError, match="/layer/0/bias.*whole-number bias"):
        read_netx_network(path)
    with h5py.File(path, "r+") as f:
        f["layer/0/bias"][0] = 1.0
        f["layer/0/weight"][0, 0] = 0.5
    with pytest.raises(DelaysnnError, match="fractional weights"):
        read_netx_network(path)


def test_tiled_network_keeps_per_neuron_delays():
    """netx runs many copies of a network side by side: per-neuron delays repeat as vectors."""
    from exporters.lava.graph import tile_network

    net: DelayNetwork = case("axonal_delays").net
    tiled = tile_network(net, 3)
    for a, b in zip(net.layers, tiled.layers):
        assert b.delay_kind is a.delay_kind and b.delay.tolist() == a.delay.tolist() * 3
    x = random_input(net, 3, 10, rate=0.4, seed=4)
    wide = simulate(tiled, np.concatenate(list(x), axis=1)[None])
    assert wide.spikes[0].any()
    for b, one in enumerate(x):
        alone = simulate(net, one[None])
        n = net.layers[0].shape[0]
        np.testing.assert_array_equal(wide.spikes[0][0, :, b * n : (b + 1) * n], alone.spikes[0][0])


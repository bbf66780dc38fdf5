"""The committed trained example (examples/synthetic.pt, the demo's model): every backend
reproduces the simulator on it, and the NIR round trip is bit-identical."""

from pathlib import Path

import numpy as np
import pytest

from delaysnn import ir
from delaysnn.app.pipeline import QuantizeOptions, load_network
from delaysnn.app.verify import verify
from delaysnn.data.datasets import synthetic_splits

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"


@pytest.fixture(scope="module")
def inputs():
    _, test = synthetic_splits(n_train=1, n_test=64)
    return test.x.numpy().astype(np.int32), test.y.numpy()


@pytest.mark.parametrize("opts", [QuantizeOptions(weight_bits=8, target="loihi"), QuantizeOptions(binary=True, target="loihi")], ids=["8bit", "binary"])
@pytest.mark.slow
@pytest.mark.lava
def test_all_backends_match_the_sim_on_the_trained_model(opts, inputs):
    x, _ = inputs
    net, _ = load_network(EXAMPLE, opts)
    reports = verify(net, x[:3], ["lava", "netx"]) + verify(net, x, ["onnx", "nir"])
    assert all(r.ok for r in reports), [r.summary() for r in reports]


def test_nir_round_trip_is_bit_identical_on_the_trained_model():
    from exporters import nir

    net, _ = load_network(EXAMPLE, QuantizeOptions(weight_bits=4))
    back = nir.read_ir(nir.to_bytes(nir.export_ir(net)))
    assert ir.to_bytes(back) == ir.to_bytes(net)


def test_eight_bit_accuracy_is_within_a_point_of_float(inputs):
    import delaysnn
    from delaysnn.model import predict

    x, y = inputs
    model = delaysnn.load(EXAMPLE)
    float_acc = float((predict(model(__import__("torch").from_numpy(x).float())).numpy() == y).mean())
    net, _ = load_network(EXAMPLE, QuantizeOptions(weight_bits=8))
    int_acc = float((delaysnn.simulate(net, x).predict(net.readout_scale) == y).mean())
    assert float_acc > 0.9 and abs(int_acc - float_acc) <= 0.01 + 1e-9

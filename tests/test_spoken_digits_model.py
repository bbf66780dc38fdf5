"""The committed speech model (examples/spoken_digits.pt, trained by bench/speech.py on the
spoken-digits workload) on its committed test slice (64 test utterances, voices unseen in
training): integer accuracy, and spike-exact parity of every backend on speech-shaped activity."""

from pathlib import Path

import numpy as np
import pytest
import torch

import delaysnn
from delaysnn.app.pipeline import QuantizeOptions, load_network
from delaysnn.app.verify import verify
from delaysnn.model import predict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = EXAMPLES / "spoken_digits.pt"
SLICE = EXAMPLES / "spoken_digits_test64.npz"
LOIHI_8BIT = QuantizeOptions(weight_bits=8, target="loihi")  # as `export --target loihi`
LOIHI_BINARY = QuantizeOptions(binary=True, target="loihi")


@pytest.fixture(scope="module")
def speech():
    with np.load(SLICE, allow_pickle=False) as data:
        return data["x"].astype(np.int32), data["y"]


def test_committed_files_are_small_and_shd_shaped(speech):
    x, y = speech
    assert MODEL.stat().st_size < 2_000_000 and SLICE.stat().st_size < 1_000_000
    model = delaysnn.load(MODEL)
    assert model.cfg.sizes[0] == 140 and model.cfg.sizes[-1] == 20 and model.cfg.hidden_layers == 2
    assert model.cfg.max_delay == 25
    assert x.shape[0] == 64 and x.shape[2] == 140 and len(set(y.tolist())) == 20
    assert x.max() > 1  # graded input: binned counts of 5 cochlea channels per input


def test_integer_accuracy_on_speech(speech):
    x, y = speech
    model = delaysnn.load(MODEL)
    with torch.no_grad():
        float_acc = float((predict(model(torch.from_numpy(x).float())).numpy() == y).mean())
    net, _ = load_network(MODEL, LOIHI_8BIT)
    result = delaysnn.simulate(net, x)
    int_acc = float((result.predict(net.readout_scale) == y).mean())
    assert float_acc > 0.5  # 20 classes: chance is 5 %
    assert int_acc >= float_acc - 3 / 64  # 8-bit as deployed: within 3 of the 64 samples
    assert all(s.mean() > 0.001 for s in result.spikes)  # every hidden layer fires


@pytest.mark.parametrize("opts", [LOIHI_8BIT, LOIHI_BINARY], ids=["8bit", "binary"])
@pytest.mark.slow
@pytest.mark.lava
def test_every_backend_matches_the_sim_on_speech(opts, speech):
    x, _ = speech
    net, _ = load_network(MODEL, opts)
    reports = verify(net, x[:2], ["lava", "netx"]) + verify(net, x[:32], ["onnx", "nir"])
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    fired = delaysnn.simulate(net, x[:2]).spikes
    assert all(int(s.sum()) > 0 for s in fired)  # parity on real activity, not on silence

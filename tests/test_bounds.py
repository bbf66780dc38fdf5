"""Issue 14, classes 4, 5 and 7: every size that drives an allocation is bounded, every field is
type- and range-checked before use, and data edge cases are refused, each with one line naming
the file and field, exit code 1 and no output; long inputs stream in batches with the same results."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
import torch

from delaysnn import ir, limits
from delaysnn.app.verify import verify, verify_batches
from delaysnn.estimate import estimate, random_input
from delaysnn.model.checkpoint import save_checkpoint
from delaysnn.sim import SimResult, simulate, simulate_batches
from exporters import TARGETS, Backend
from tests.conftest import run_cli
from tests.factories import NetSpec, random_network, shd_like_input, shd_like_network


def refused(args, capsys, *needles, output=None, code=1):
    """Run the CLI; assert a one-line refusal naming ``needles`` and no output file."""
    got, out, err = run_cli(args, capsys)
    assert got == code, (got, out, err)
    # a progress bar redraws its line with \r (cleared on a terminal): keep what each line ends as
    lines = [line.rsplit("\r", 1)[-1].strip() for line in err.split("\n")]
    lines = [line for line in lines if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if output is not None:
        assert not output.exists()
        assert not list(output.parent.glob(f".{output.name}.*"))  # no temporary either
    return lines[0]


# --- .dnet files -------------------------------------------------------------------------------


def _good() -> bytes:
    return ir.to_bytes(random_network(NetSpec(sizes=(3, 4, 2), seed=1)))


def _rewrite(header_edit=None, arrays=None) -> bytes:
    with np.load(io.BytesIO(_good())) as npz:
        files = {k: npz[k] for k in npz.files}
    head = json.loads(files["header"].tobytes().decode())
    if header_edit:
        header_edit(head)
    files["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    files.update(arrays or {})
    buf = io.BytesIO()
    np.savez(buf, **files)
    return buf.getvalue()


def _set(**kw):
    def edit(head):
        for key, value in kw.items():
            if key.startswith("layer0_"):
                head["layers"][0][key[len("layer0_"):]] = value
            else:
                head[key] = value

    return edit


def _huge_npy_claim() -> bytes:
    """A .dnet whose layers.0.weight entry claims 70000 x 70000 int32 (18 GiB) in a few bytes."""
    data = _good()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            if info.filename == "layers.0.weight.npy":
                fh = io.BytesIO()
                np.lib.format.write_array_header_1_0(fh, {"descr": "<i4", "fortran_order": False, "shape": (70000, 70000)})
                dst.writestr(info.filename, fh.getvalue())
            else:
                dst.writestr(info, src.read(info))
    return buf.getvalue()


U64 = np.uint64
DNET_CASES = {
    "delay 1e9": (lambda: _rewrite(arrays={"layers.0.delay": np.full((4, 3), 10**9, np.int64)}), "delay 1000000000"),
    "uint64 delay 2**63": (lambda: _rewrite(arrays={"layers.0.delay": np.full((4, 3), 2**63, U64)}), "delay 9223372036854775808"),
    "uint64 delay 2**64-1": (lambda: _rewrite(arrays={"layers.1.delay": np.full((2, 4), 2**64 - 1, U64)}), "layer 1: delay"),
    "uint64 weight 2**63": (lambda: _rewrite(arrays={"layers.0.weight": np.full((4, 3), 2**63, U64)}), "weights span"),
    "float weights": (lambda: _rewrite(arrays={"layers.0.weight": np.zeros((4, 3), np.float64)}), "weight dtype float64"),
    "float delays": (lambda: _rewrite(arrays={"layers.0.delay": np.full((4, 3), 0.5)}), "delay dtype float64"),
    "input_size 0": (lambda: _rewrite(_set(input_size=0), {"layers.0.weight": np.zeros((4, 0), np.int32),
                                                            "layers.0.delay": np.zeros((4, 0), np.int32)}), "input_size 0"),
    "input_size -3": (lambda: _rewrite(_set(input_size=-3)), "input_size -3"),
    "zero neurons": (lambda: _rewrite(arrays={"layers.0.weight": np.zeros((0, 3), np.int32), "layers.0.delay": np.zeros((0, 3), np.int32),
                                              "layers.0.neuron.bias_mant": np.zeros(0, np.int32)}), "layer 0: 0 neurons"),
    "NaN time step": (lambda: _rewrite(_set(time_step_ms=float("nan"))), "time_step_ms nan"),
    "negative time step": (lambda: _rewrite(_set(time_step_ms=-10.0)), "time_step_ms -10.0"),
    "zero time step": (lambda: _rewrite(_set(time_step_ms=0)), "time_step_ms 0"),
    "tail_steps 1e9": (lambda: _rewrite(_set(tail_steps=10**9)), "tail_steps 1000000000"),
    "NaN readout_scale": (lambda: _rewrite(_set(readout_scale=float("nan"))), "readout_scale nan"),
    "no layers": (lambda: _rewrite(_set(layers=[])), "field 'layers'"),
    "huge array header": (_huge_npy_claim, "'layers.0.weight' has shape [70000, 70000]"),
}


@pytest.mark.parametrize("case", sorted(DNET_CASES))
def test_crafted_dnet_is_refused_before_allocating(case, tmp_path, capsys):
    make, needle = DNET_CASES[case]
    path = tmp_path / "bad.dnet"
    path.write_bytes(make())
    out = tmp_path / "out.dnet"
    line = refused(["export", path, "--target", "ir", "-o", out], capsys, str(path), needle, output=out)
    assert line.startswith("error: ")


def test_huge_delay_estimate_refused(tmp_path, capsys):
    path = tmp_path / "bad.dnet"
    path.write_bytes(DNET_CASES["delay 1e9"][0]())
    refused(["estimate", path, "--samples", "4"], capsys, str(path), "MAX_DELAY_STEPS")


def test_delay_limit_is_inclusive_and_sim_buffers_follow_the_run():
    net = random_network(NetSpec(sizes=(3, 4, 2), seed=1))
    net.layers[0].delay[:] = limits.MAX_DELAY_STEPS
    net.check()  # the limit itself is allowed
    x = random_input(net, steps=6, rate=0.5, samples=3)
    far = simulate(net, x)
    net.layers[0].delay[:] = 12  # past the run of 6 + 2 steps, like MAX_DELAY_STEPS
    near = simulate(net, x)
    np.testing.assert_array_equal(far.voltages, near.voltages)
    net.layers[0].delay[0, 0] = limits.MAX_DELAY_STEPS + 1
    with pytest.raises(ir.IRValidationError, match="MAX_DELAY_STEPS"):
        net.check()


# --- checkpoints -------------------------------------------------------------------------------


def _checkpoint(tmp_path, tiny_model, config=None, state=None):
    path = tmp_path / "model.pt"
    save_checkpoint(tiny_model, path, {"task": "synthetic"})
    payload = torch.load(path, weights_only=True)
    payload["config"].update(config or {})
    for key, edit in (state or {}).items():
        payload["state_dict"][key] = edit(payload["state_dict"][key])
    torch.save(payload, path)
    return path


CONFIG_CASES = {
    "str size": ({"hidden_size": "8"}, "hidden_size must be an integer (got '8')"),
    "float size": ({"hidden_size": 8.0}, "hidden_size must be an integer (got 8.0)"),
    "bool size": ({"input_size": True}, "input_size must be an integer (got True)"),
    "huge size": ({"hidden_size": 10**9}, "hidden_size must be in 1..65536"),
    "zero input": ({"input_size": 0}, "input_size must be in 1..65536"),
    "huge layers": ({"hidden_layers": 10**6}, "hidden_layers must be in 0..64"),
    "huge max_delay": ({"max_delay": 10**9 + 1}, "max_delay must be a positive odd kernel size up to 4096"),
    "float max_delay": ({"max_delay": 7.0}, "max_delay must be an integer"),
    "NaN tau": ({"tau": float("nan")}, "tau must be a finite number (got nan)"),
    "inf threshold": ({"threshold": float("inf")}, "threshold must be a finite number"),
    "str tau": ({"readout_tau": "2"}, "readout_tau must be a finite number (got '2')"),
    "negative time step": ({"time_step_ms": -1.0}, "time_step_ms must be > 0"),
    "NaN time step": ({"time_step_ms": float("nan")}, "time_step_ms must be a finite number"),
    "str bool": ({"batchnorm": "yes"}, "batchnorm must be true or false"),
    "too many synapses": ({"input_size": 65536, "hidden_size": 65536}, "MAX_SYNAPSES"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_checkpoint_config_types_and_ranges(case, tmp_path, capsys, tiny_model):
    config, needle = CONFIG_CASES[case]
    path = _checkpoint(tmp_path, tiny_model, config=config)
    out = tmp_path / "out.dnet"
    refused(["quantize", path, "-o", out], capsys, str(path), "field 'config'", needle, output=out)


STATE_CASES = {
    "negative running_var": ({"hidden.0.bn.running_var": lambda v: -v}, "hidden.0.bn.running_var", "negative BatchNorm variances"),
    "readout positions": ({"readout.pos": lambda p: p + 40.0}, "readout.pos", "beyond the +-3 of config 'max_delay' 7"),
    "hidden positions": ({"hidden.1.synapse.pos": lambda p: -p - 9.0}, "hidden.1.synapse.pos", "positions up to"),
}


@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_checkpoint_state_values(case, tmp_path, capsys, tiny_model):
    state, key, needle = STATE_CASES[case]
    path = _checkpoint(tmp_path, tiny_model, state=state)
    out = tmp_path / "out.dnet"
    refused(["quantize", path, "-o", out], capsys, str(path), key, needle, output=out)


def test_positions_within_half_a_step_are_accepted(tmp_path, tiny_model):
    from delaysnn.model.checkpoint import load_checkpoint

    path = _checkpoint(tmp_path, tiny_model, state={"readout.pos": lambda p: torch.full_like(p, 3.4)})
    assert int(load_checkpoint(path).readout.delays().min()) == 0


def test_config_sizes_must_match_the_weights_before_allocating(tmp_path, capsys, tiny_model):
    path = _checkpoint(tmp_path, tiny_model, config={"hidden_size": 4096, "input_size": 4096})
    refused(["quantize", path, "-o", tmp_path / "o.dnet"], capsys, "hidden.0.synapse.weight", "do not belong together")


# --- Heidelberg files ----------------------------------------------------------------------------


def _write_shd(root, times, units, labels, split="train"):
    root.mkdir(exist_ok=True)
    path = root / f"shd_{split}.h5"
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        ts = spikes.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(np.float64)))
        us = spikes.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, (t, u) in enumerate(zip(times, units)):
            ts[i], us[i] = np.asarray(t, np.float64), np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
    return path


def _write_scalar(root, field):
    root.mkdir(exist_ok=True)
    path = root / "shd_train.h5"
    with h5py.File(path, "w") as f:
        for name in ("spikes/times", "spikes/units", "labels"):
            f.create_dataset(name, data=np.float64(3.0) if name == field else np.zeros(2))
    return path


@pytest.mark.parametrize("field", ["spikes/times", "spikes/units", "labels"])
def test_scalar_datasets(field, tmp_path, capsys):
    path = _write_scalar(tmp_path / "shd", field)
    out = tmp_path / "o.pt"
    refused(["train", "--task", "shd", "--data", tmp_path / "shd", "--epochs", "1", "-o", out], capsys, str(path), f"'{field}'", "1-D", output=out)


@pytest.mark.parametrize("t", [1e7, 61.0, 3600.0])
def test_late_event_is_refused(t, tmp_path, capsys):
    path = _write_shd(tmp_path / "shd", [[0.1, 0.2], [0.3, t]], [[1, 2], [3, 4]], [0, 1])
    out = tmp_path / "o.pt"
    refused(["train", "--task", "shd", "--data", tmp_path / "shd", "--epochs", "1", "-o", out], capsys,
            str(path), "sample 1", f"{t:.6g} s", "MAX_EVENT_SECONDS", output=out)


def test_late_event_within_max_steps_is_still_refused():
    from delaysnn.data.heidelberg import bin_events
    from delaysnn.errors import DataError

    with pytest.raises(DataError, match="MAX_EVENT_SECONDS"):
        bin_events([np.array([1e7])], [np.array([0])], n_steps=10)


def test_many_steps_refused():
    from delaysnn.data.heidelberg import bin_events
    from delaysnn.errors import DataError

    with pytest.raises(DataError, match="MAX_STEPS"):
        bin_events([np.array([50.0])], [np.array([0])], time_step_ms=0.1)


@pytest.mark.parametrize("split", ["train", "test"])
def test_zero_samples_refused(split, tmp_path, capsys):
    root = tmp_path / "shd"
    _write_shd(root, [[0.1], [0.2]], [[1], [2]], [0, 1], split="train" if split == "test" else "test")
    path = _write_shd(root, [], [], [], split=split)
    out = tmp_path / "o.pt"
    refused(["train", "--task", "shd", "--data", root, "--epochs", "1", "-o", out], capsys, str(path), "no samples", output=out)


def test_train_refuses_an_empty_split(tiny_model):
    from delaysnn.data.datasets import SpikeDataset
    from delaysnn.errors import DataError
    from delaysnn.training.train import TrainOptions, train

    empty = SpikeDataset(x=torch.zeros((0, 5, 6), dtype=torch.uint8), y=torch.zeros(0, dtype=torch.int64), n_classes=3, name="empty")
    with pytest.raises(DataError, match="no samples"):
        train(tiny_model, empty, None, TrainOptions(epochs=1))


# --- --samples ----------------------------------------------------------------------------------


@pytest.fixture
def dnet(tmp_path):
    path = tmp_path / "net.dnet"
    ir.save(random_network(NetSpec(sizes=(3, 4, 2), seed=1)), path)
    return path


@pytest.mark.parametrize("command", [["simulate"], ["estimate"], ["verify", "--backends", "sim"]])
def test_huge_samples_for_random_inputs(command, dnet, capsys, tmp_path):
    out = tmp_path / "raster.png"
    extra = ["--plot", out] if command[0] in ("simulate", "estimate") else []
    refused([command[0], dnet, *command[1:], "--samples", "1000000000", *extra], capsys, "--samples 1000000000", "65536", output=out)


def test_huge_samples_for_synthetic(capsys, tmp_path):
    out = tmp_path / "o.pt"
    refused(["train", "--task", "synthetic", "--samples", "1000000000", "-o", out], capsys, "1000000000", "--samples", output=out)


def test_samples_capped_by_the_data(tmp_path, capsys):
    root = tmp_path / "shd"
    _write_shd(root, [[0.01 * i] for i in range(5)], [[5 * i] for i in range(5)], [0, 1, 2, 3, 4], split="test")
    net = random_network(NetSpec(sizes=(140, 4, 20), seed=1))
    ir.save(net, tmp_path / "net.dnet")
    code, out, err = run_cli(["simulate", tmp_path / "net.dnet", "--data", root, "--samples", "1000000000"], capsys)
    assert code == 0, err
    assert "5 samples of shd/test" in out


# --- batching gives the results of one big batch ------------------------------------------------


def test_random_input_is_prefix_stable():
    net = shd_like_network()
    whole = random_input(net, steps=20, rate=0.1, samples=10, seed=3)
    np.testing.assert_array_equal(whole[3:7], random_input(net, steps=20, rate=0.1, samples=4, seed=3, start=3))


def test_simulate_batches_equals_one_batch():
    net = shd_like_network()
    x = shd_like_input(37, steps=30, seed=2)
    one = simulate(net, x, record=False)
    summary = simulate_batches(net, (x[k : k + 8] for k in range(0, 37, 8)))
    np.testing.assert_array_equal(summary.predictions, one.predict())
    assert summary.firing_rates == [float(s.mean()) for s in one.spikes]
    assert summary.samples == 37 and summary.first.batch == 8


def test_estimate_batches_equals_one_batch():
    net = shd_like_network()
    x = shd_like_input(37, steps=30, seed=2)
    assert estimate(net, x, batch_size=5).to_dict() == estimate(net, x, batch_size=64).to_dict()
    assert estimate(net, samples=11, steps=20, batch_size=4).to_dict() == estimate(net, samples=11, steps=20, batch_size=11).to_dict()


class _Flip:
    """A backend that differs from the sim at one readout voltage of global sample 13."""

    offset = 0

    @classmethod
    def run(cls, net, x):
        ref = simulate(net, x, record=True)
        v = ref.voltages.copy()
        local = 13 - cls.offset
        if 0 <= local < v.shape[0]:
            v[local, 4, 1] += 1
        cls.offset += v.shape[0]
        return SimResult(spikes=ref.spikes, voltages=v, alignment=ref.alignment)


def test_verify_batches_merges_counts_and_the_first_mismatch(monkeypatch):
    import sys

    monkeypatch.setitem(TARGETS, "flip", Backend("flip", "test double", run_ref="tests.test_bounds:_Flip.run"))
    net = random_network(NetSpec(sizes=(5, 6, 3), seed=4))
    x = random_input(net, steps=10, rate=0.3, samples=20)
    _Flip.offset = 0
    one = {r.backend: r for r in verify(net, x, ["sim", "flip"])}
    _Flip.offset = 0
    many = {r.backend: r for r in verify_batches(net, (x[k : k + 6] for k in range(0, 20, 6)), ["sim", "flip"])}
    assert many["sim"].ok and many["sim"].samples == 20 and many["sim"].compared == one["sim"].compared
    assert many["flip"].voltage_mismatches == one["flip"].voltage_mismatches == 1
    assert many["flip"].first == one["flip"].first and many["flip"].first.sample == 13
    assert "tests.test_bounds" in sys.modules

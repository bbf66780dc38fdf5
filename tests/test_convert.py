"""delaysnn.convert.snn_delays: SNN-delays state_dicts, checked against the reference model built from the
real libraries (DCLS Dcls1d, SpikingJelly BatchNorm1d / LIFNode / Dropout), run as their
``SnnDelays.forward`` and ``eval_model`` do."""

from __future__ import annotations

import re

import pytest
import torch

pytest.importorskip("DCLS")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional  # noqa: E402

from delaysnn.convert.snn_delays import convert_snn_delays  # noqa: E402
from delaysnn.errors import CheckpointError, DelaysnnError, UnsupportedError  # noqa: E402
from delaysnn.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from tests.snn_delays_reference import Reference  # noqa: E402


def _input(t: int, b: int, c: int, seed: int = 1) -> torch.Tensor:
    """Binned-SHD-like integer counts, (time, batch, channels)."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 4, (t, b, c), generator=gen).float()
    return counts * (torch.rand(t, b, c, generator=gen) < 0.3)


def _saved(tmp_path, ref: Reference, name: str = "theirs.pt"):
    path = tmp_path / name
    torch.save(ref.state_dict(), path)
    return path


CASES = {
    "2x16-bn-k7": dict(n_layers=2, max_delay=7),
    "2x16-bn-k25": dict(n_layers=2, max_delay=25),
    "1x16-bn-k7": dict(n_layers=1, max_delay=7),
    "2x16-nobn-k7": dict(n_layers=2, max_delay=7, batchnorm=False),
    "2x16-bn-k9-kc2-tau20": dict(n_layers=2, max_delay=9, kernel_count=2, tau_ms=20.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_converted_model_reproduces_reference_readout(tmp_path, case):
    opts = dict(CASES[case])
    tau_ms = opts.pop("tau_ms", 10.05)
    torch.manual_seed(0)
    ref = Reference(12, 16, n_out=5, tau=(tau_ms + 1e-9) / 10.0, **opts)
    ref.randomize(seed=3)
    path = _saved(tmp_path, ref)  # continuous positions, SIG 0.23: what their training saves
    ref.eval_transform()

    x = _input(20, 4, 12)
    with torch.no_grad():
        functional.reset_net(ref)
        want = ref(x).permute(1, 0, 2)
        spikes = [s.mean().item() for s in ref.spikes]
        functional.reset_net(ref)
        model = convert_snn_delays(path, max_delay=opts["max_delay"], tau_ms=tau_ms)
        v, ours = model.forward_trace(x.permute(1, 0, 2))

    cfg = model.cfg
    assert not model.training
    assert (cfg.input_size, cfg.hidden_size, cfg.hidden_layers, cfg.output_size) == (12, 16, opts["n_layers"], 5)
    assert cfg.batchnorm == opts.get("batchnorm", True) and cfg.kernel_count == opts.get("kernel_count", 1)
    assert cfg.tau == cfg.readout_tau == (tau_ms + 1e-9) / 10.0
    assert model.sigma == 0.0
    r = (opts["max_delay"] - 1) // 2
    assert v.shape == (4, 20 + (opts["n_layers"] + 1) * r, 5) == want.shape
    assert all(0.01 < rate < 0.9 for rate in spikes), spikes  # the hidden layers do spike: a real test
    for mine, theirs in zip(ours, ref.spikes):
        assert torch.equal(mine, theirs.permute(1, 0, 2))
    torch.testing.assert_close(v, want, atol=1e-5, rtol=1e-5)
    assert float(want.abs().max()) > 0.1

    # Their delays: d = max_delay//2 - round_half_even(P), as their eval_model leaves P.
    for i, syn in enumerate(model.synapses):
        theirs_p = ref.part(i, "dcls").P.detach()[0]
        assert torch.equal(syn.delays(), (opts["max_delay"] // 2 - theirs_p).long())


def test_converted_model_survives_a_checkpoint_round_trip(tmp_path):
    ref = Reference(12, 16, 2, 5, 7)
    ref.randomize()
    model = convert_snn_delays(_saved(tmp_path, ref), max_delay=7)
    save_checkpoint(model, tmp_path / "ours.pt")
    again = load_checkpoint(tmp_path / "ours.pt")
    x = _input(15, 3, 12).permute(1, 0, 2)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), atol=0, rtol=0)


def test_state_dict_input_and_dataparallel_prefix(tmp_path):
    ref = Reference(6, 8, 1, 3, 5)
    ref.randomize()
    state = ref.state_dict()
    a = convert_snn_delays(state, max_delay=5)
    b = convert_snn_delays({"module." + k: v for k, v in state.items()}, max_delay=5)
    x = _input(10, 2, 6).permute(1, 0, 2)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_small_positions_warn_about_max_delay(tmp_path):
    ref = Reference(12, 16, 2, 5, 7)
    ref.randomize()
    with pytest.warns(UserWarning, match=r"--max-delay 7\b"):
        convert_snn_delays(_saved(tmp_path, ref), max_delay=25)


# ---------------------------------------------------------------- errors: one line, naming the file


def _fails(path, exc=CheckpointError, match: str = "", **options) -> str:
    with pytest.raises(exc) as info:
        convert_snn_delays(path, **options)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert re.search(match, msg), msg
    return msg


@pytest.fixture
def theirs():
    ref = Reference(6, 8, 2, 3, 7)
    ref.randomize()
    return ref.state_dict()


def _save(tmp_path, obj, name="bad.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_not_a_state_dict(tmp_path):
    _fails(_save(tmp_path, [torch.zeros(3)]), match="holds a list, not an SNN-delays state_dict")
    _fails(_save(tmp_path, {"foo.weight": torch.zeros(3)}), match=r"not an SNN-delays state_dict: no 'model\.<N>\.P'")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    _fails(garbage)  # read_payload's message (checkpoint.py)
    _fails(tmp_path / "missing.pt", exc=DelaysnnError, match="no such")


def test_delaysnn_files_are_recognised(tmp_path, theirs):
    model = convert_snn_delays(theirs, max_delay=7)
    path = save_checkpoint(model, tmp_path / "ours.pt")
    _fails(path, match="already a delaysnn checkpoint")
    _fails(_save(tmp_path, model.state_dict()), match="delaysnn model state_dict")


def test_bad_options(tmp_path, theirs):
    path = _save(tmp_path, theirs)
    _fails(path, match=r"--max-delay 24 is even.*odd.*--max-delay 25", max_delay=24)
    _fails(path, match="--tau-ms", tau_ms=5.0)
    _fails(path, match="--time-step-ms", time_step_ms=0.0)


def test_inconsistent_shapes(tmp_path, theirs):
    narrow = {"model.4.weight": torch.zeros(8, 5, 1), "model.4.P": torch.zeros(1, 8, 5, 1), "model.4.SIG": torch.zeros(1, 8, 5, 1)}
    bad = dict(theirs, **narrow)
    _fails(_save(tmp_path, bad), match=r"'model\.4\.weight' has 5 inputs but 'model\.0\.weight' has 8 outputs")
    bad = dict(theirs, **{"model.4.P": torch.zeros(1, 8, 8, 2)})
    _fails(_save(tmp_path, bad), match=r"'model\.4\.P' has shape \(1, 8, 8, 2\), expected \(1, 8, 8, 1\)")
    bad = dict(theirs, **{"model.1.running_var": torch.ones(7)})
    _fails(_save(tmp_path, bad), match=r"'model\.1\.running_var' has shape \(7,\), expected \(8,\)")
    bad = {k: v for k, v in theirs.items() if not k.startswith("model.5.")}
    _fails(_save(tmp_path, bad), match=r"'model\.5\.running_mean' is missing")


def test_positions_beyond_max_delay(tmp_path, theirs):
    bad = dict(theirs)
    bad["model.4.P"] = theirs["model.4.P"].clone()
    bad["model.4.P"][0, 1, 2, 0] = 5.2
    _fails(_save(tmp_path, bad), match=r"'model\.4\.P' has positions up to \+-5\.20.*--max-delay 11", max_delay=7)
    bad["model.4.P"][0, 1, 2, 0] = 3.4  # within half a step: their round-and-clamp puts it on the edge
    convert_snn_delays(_save(tmp_path, bad), max_delay=7)


@pytest.mark.parametrize("key", ["model.0.weight", "model.4.P", "model.1.running_var", "model.8.weight"])
def test_non_finite_values(tmp_path, theirs, key):
    bad = dict(theirs)
    bad[key] = theirs[key].clone()
    bad[key].view(-1)[0] = float("nan") if key.endswith("P") else float("inf")
    _fails(_save(tmp_path, bad), match=rf"'{re.escape(key)}' holds 1 NaN or infinite", max_delay=7)


def test_unsupported_features(tmp_path, theirs):
    _fails(_save(tmp_path, dict(theirs, **{"model.0.bias": torch.zeros(8)})), UnsupportedError, r"'model\.0\.bias'.*bias=False")
    plif = Reference(6, 8, 2, 3, 7, neuron_type="plif").state_dict()
    _fails(_save(tmp_path, plif), UnsupportedError, r"'model\.2\.w'.*ParametricLIFNode", max_delay=7)
    learnable = Reference(6, 8, 2, 3, 7, synapse_filter="learnable").state_dict()
    _fails(_save(tmp_path, learnable), UnsupportedError, r"'model\.4\.w' \(learnable SynapseFilter\).*stateful_synapse", max_delay=7)
    fixed = Reference(6, 8, 2, 3, 7, synapse_filter="fixed").state_dict()
    _fails(_save(tmp_path, fixed), UnsupportedError, r"SynapseFilter.*stateful_synapse=False", max_delay=7)


def test_unexpected_keys(tmp_path, theirs):
    _fails(_save(tmp_path, dict(theirs, **{"model.3.foo": torch.zeros(1)})), match=r"unexpected key 'model\.3\.foo'")
    _fails(_save(tmp_path, dict(theirs, **{"model.0.Q": torch.zeros(1)})), match=r"'model\.0\.Q' is unexpected")
    _fails(_save(tmp_path, dict(theirs, **{"extra": torch.zeros(1)})), match=r"unexpected key 'extra'")
    _fails(_save(tmp_path, dict(theirs, **{"model.0.weight": torch.zeros(8, 6, 1, dtype=torch.long)})), match="dtype")

"""delaysnn.convert.axdensyn: AxDenSynDelaySNN state_dicts of all three delay kinds, with and
without their learned delay mask, checked against the reference model built from the real
libraries (tests/axdensyn_reference.py), saved with torch.save and read with weights_only=True."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("DCLS")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional  # noqa: E402

from delaysnn.convert.axdensyn import convert_axdensyn  # noqa: E402
from delaysnn.errors import CheckpointError, UnsupportedError  # noqa: E402
from delaysnn.ir.folded import run  # noqa: E402
from delaysnn.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from tests.axdensyn_reference import AxDenSynReference  # noqa: E402
from tests.conftest import run_cli  # noqa: E402


def _input(t: int, b: int, c: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 4, (t, b, c), generator=gen).float()
    return counts * (torch.rand(t, b, c, generator=gen) < 0.3)


def _reference(kind: str, max_delay: int = 7, sparsity: float | None = None) -> AxDenSynReference:
    torch.manual_seed(0)
    ref = AxDenSynReference(12, 16, 2, 5, kind, max_delay, sparsity=sparsity)
    ref.randomize(seed=3)
    return ref


def _run_both(ref: AxDenSynReference, model, x: torch.Tensor):
    with torch.no_grad():
        functional.reset_net(ref)
        want = ref(x).permute(1, 0, 2)
        theirs = [s.permute(1, 0, 2) for s in ref.spikes]
        v, ours = model.forward_trace(x.permute(1, 0, 2))
    return want, theirs, v, ours


@pytest.mark.parametrize("kind", ["synaptic", "axonal", "dendritic"])
def test_each_kind_reproduces_the_reference(tmp_path, kind):
    ref = _reference(kind)
    path = tmp_path / "theirs.pt"
    torch.save(ref.state_dict(), path)  # continuous positions, SIG 0.23: what their training saves
    ref.eval_transform()
    model = convert_axdensyn(path, max_delay=7)
    x = _input(20, 4, 12)
    want, theirs, v, ours = _run_both(ref, model, x)

    assert model.cfg.delay_kind == kind and model.cfg.truncate_layers
    assert [tuple(s.pos.shape) for s in model.synapses][0] == {"synaptic": (1, 16, 12, 1), "axonal": (1, 1, 12, 1),
                                                               "dendritic": (1, 16, 1, 1)}[kind]
    assert v.shape == want.shape == (4, 20 + 3 * 3, 5)
    assert all(0.01 < float(s.mean()) < 0.9 for s in theirs)  # the hidden layers do fire
    for mine, their in zip(ours, theirs):
        assert torch.equal(mine, their)
    torch.testing.assert_close(v, want, atol=1e-5, rtol=1e-5)
    # the float IR states the same model, with the kind's delay vectors
    folded = model.folded()
    assert all(lay.delay_kind.value == kind for lay in folded.layers)
    v_ir, _ = run(folded, x.permute(1, 0, 2))
    torch.testing.assert_close(torch.from_numpy(v_ir).float(), want, atol=1e-4, rtol=1e-4)
    # a delaysnn checkpoint of it reads back with its kind
    save_checkpoint(model, tmp_path / "ours.pt")
    assert load_checkpoint(tmp_path / "ours.pt").cfg.delay_kind == kind


def test_learned_axonal_mask_agrees_on_the_window_both_run(tmp_path):
    """With their mask the undelayed neurons run K - 1 steps past the delayed ones' cut: the
    voltages agree on the first T + (K - 1) // 2 steps (the module docstring)."""
    ref = _reference("axonal", sparsity=0.75)
    path = tmp_path / "masked.pt"
    torch.save(ref.state_dict(), path)
    ref.eval_transform()
    with pytest.raises(CheckpointError, match="--delay-sparsity"):
        convert_axdensyn(path, max_delay=7)
    model = convert_axdensyn(path, max_delay=7, delay_sparsity=0.75)
    x = _input(20, 4, 12)
    want, theirs, v, ours = _run_both(ref, model, x)
    window = 20 + 3
    assert all(float(s[:, :window].mean()) > 0.01 for s in theirs)
    torch.testing.assert_close(v[:, :window], want[:, :window], atol=1e-5, rtol=1e-5)
    # 3 of 12 inputs keep a learned delay, the other 9 pass undelayed: delay K - 1 = 6 in their window
    first = model.synapses[0].kind_delays()
    prob = torch.sigmoid(ref.snn[0].delay_layer.delay_scores.detach())
    kept = prob >= torch.topk(prob, 3).values.min()
    assert int(kept.sum()) == 3 and (first[~kept] == 6).all()


def test_refusals_name_the_field(tmp_path):
    ref = _reference("axonal")
    state = ref.state_dict()
    bad = dict(state)
    bad["snn.1.delay_layer.P"] = torch.zeros(1, 7, 1, 1)  # fits neither its 16 inputs nor its 16 outputs
    with pytest.raises(CheckpointError, match=r"snn\.1 .*fits no delay kind"):
        convert_axdensyn(bad, max_delay=7)
    with pytest.raises(UnsupportedError, match="bias"):
        convert_axdensyn({**state, "snn.0.W.bias": torch.zeros(16)}, max_delay=7)
    with pytest.raises(CheckpointError, match="--delay-kind dendritic"):
        convert_axdensyn(state, max_delay=7, delay_kind="dendritic")
    square = AxDenSynReference(16, 16, 2, 16, "dendritic", 7).state_dict()  # every layer as wide as its input: either kind fits
    with pytest.raises(CheckpointError, match="cannot be determined"):
        convert_axdensyn(square, max_delay=7)
    assert convert_axdensyn(square, max_delay=7, delay_kind="dendritic").cfg.delay_kind == "dendritic"


def test_cli_converts_and_refuses_in_one_line(tmp_path, capsys):
    ref = _reference("dendritic")
    path = tmp_path / "theirs.pt"
    torch.save(ref.state_dict(), path)
    out = tmp_path / "ours.pt"
    code, stdout, _ = run_cli(["convert", "--from", "axdensyn", str(path), "-o", str(out), "--max-delay", "7"], capsys)
    assert code == 0 and "dendritic delays" in stdout
    assert load_checkpoint(out).cfg.delay_kind == "dendritic"
    code, _, err = run_cli(["convert", "--from", "snn-delays", str(path), "-o", str(tmp_path / "x.pt"), "--delay-sparsity", "0.5"], capsys)
    assert code == 2 and "--delay-sparsity is for --from axdensyn" in err and not (tmp_path / "x.pt").exists()
    bad = {k: v for k, v in ref.state_dict().items() if k != "snn.1.W.weight"}  # a dendritic layer without its weights
    torch.save(bad, tmp_path / "bad.pt")
    code, _, err = run_cli(["convert", "--from", "axdensyn", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "y.pt"), "--max-delay", "7"], capsys)
    assert code != 0 and "snn.1 synaptic" in err and "different delay kinds" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y.pt").exists()

"""Float conformance: torch (``DelaySNN.forward``), the float IR's reference (``delaysnn.ir.folded.run``),
ONNX ``--float`` (onnxruntime) and the NIR float graph in nirtorch (our Delay module) give the
same readout on the same inputs, within 1e-5, on cases built to expose how each pads and biases:
BatchNorm shifted by 0.6 (hidden neurons fire long after the input ends, so every padding step
shows), input events in the last steps of the window only, both padding modes (ours: pad once;
SNN-delays imports: each layer cut at ``T + l*R``), with and without the synaptic filter.

Every case asserts that hidden neurons fire, and after the input has ended. A backend that
cannot express a case is excluded by name with the reason, and the test checks the reason holds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from delaysnn.ir.folded import FoldedNetwork, run
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.fold import fold

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")
pytest.importorskip("onnxruntime")

from exporters import nir as enir  # noqa: E402
from exporters.nirtorch_delay import run_steps, to_torch  # noqa: E402
from exporters.onnx.floating import build_float  # noqa: E402
from exporters.onnx.runtime import session  # noqa: E402

STEPS = 12
TOLERANCE = 1e-5
# (padding cut per layer, synaptic filter tau, input only in the last steps)
CASES = {
    "shifted-bn": (False, None, False),
    "shifted-bn-filter": (False, 2.5, False),
    "late-spikes": (False, None, True),
    "late-spikes-filter": (False, 3.0, True),
    "per-layer-cut": (True, None, False),
    "per-layer-cut-filter-late": (True, 2.5, True),
}
# A NIR graph is a streaming network: it cannot stop a layer at step T + l*R.
EXCLUDED = {("nirtorch", True): "per-layer cut (truncate_layers): a NIR graph runs every layer for the whole window"}


def _model(truncate: bool, synaptic_tau: float | None, seed: int) -> DelaySNN:
    torch.manual_seed(seed)
    cfg = ModelConfig(input_size=6, output_size=3, hidden_size=10, hidden_layers=2, max_delay=7, tau=2.0, readout_tau=3.0,
                      synaptic_tau=synaptic_tau, truncate_layers=truncate)
    model = DelaySNN(cfg)
    with torch.no_grad():
        for syn in model.synapses:  # continuous positions and sigma, as after training: eval rounds them
            syn.pos.uniform_(-3.4, 3.4)
            syn.sig.fill_(0.23)
        for layer in model.hidden:
            layer.bn.running_mean.uniform_(-0.2, 0.2)
            layer.bn.running_var.uniform_(0.5, 2.0)
            layer.bn.weight.uniform_(0.7, 1.3)
            layer.bn.bias.fill_(0.6)  # the shift: a bias at every step, padding included
    return model.eval()


def _input(late: bool, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(4, STEPS, 6, generator=g) < 0.3).float() * torch.randint(1, 4, (4, STEPS, 6), generator=g)
    if late:
        x[:, : STEPS - 2] = 0  # events in the last two steps only: what follows is all padding
        x[:, -1, 0] = 3
    return x


def _reference(fnet: FoldedNetwork, x: torch.Tensor) -> np.ndarray:
    return run(fnet, x)[0]


def _onnx(fnet: FoldedNetwork, x: torch.Tensor) -> np.ndarray:
    return session(build_float(fnet)).run(["voltages"], {"x": x.numpy()})[0]


def _nirtorch(fnet: FoldedNetwork, x: torch.Tensor) -> np.ndarray:
    graph = enir.load_graph(enir.to_bytes(enir.export_float(fnet)))  # through the file format
    streamed = torch.cat([x, torch.zeros(x.shape[0], fnet.tail_steps, x.shape[2])], dim=1)
    return run_steps(to_torch(graph), streamed).numpy()


RUNNERS = {"reference": _reference, "onnx": _onnx, "nirtorch": _nirtorch}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("case", list(CASES))
def test_readout_matches_torch(case: str, runner: str) -> None:
    truncate, synaptic_tau, late = CASES[case]
    model = _model(truncate, synaptic_tau, seed=list(CASES).index(case))
    x = _input(late, seed=7)
    with torch.no_grad():
        v_torch, spikes = model.forward_trace(x)
    for index, s in enumerate(spikes):  # the comparison is not vacuous, and padding matters
        assert float(s.sum()) > 0, f"hidden layer {index} never fires"
        assert float(s[:, STEPS:].sum()) > 0, f"hidden layer {index} is silent once the input ends"
    fnet = fold(model)
    assert fnet.padding == ("per_layer" if truncate else "once")
    if (runner, truncate) in EXCLUDED:
        with pytest.warns(UserWarning, match="truncate_layers"):  # the exporter says so too
            got = _nirtorch(fnet, x)
        assert got.shape == v_torch.shape
        assert np.abs(got - v_torch.numpy()).max() > 1e-3, "the cut does show in the readout (or the exclusion is stale)"
        return
    got = RUNNERS[runner](fnet, x)
    assert got.shape == tuple(v_torch.shape)
    err = float(np.abs(got - v_torch.numpy()).max())
    assert err < TOLERANCE, f"{runner}: readout differs from torch by {err:.3g}"


@pytest.mark.parametrize("case", list(CASES))
def test_reference_spikes_equal_torch(case: str) -> None:
    """The float IR's reference has every hidden spike of torch's, not only its readout."""
    truncate, synaptic_tau, late = CASES[case]
    model = _model(truncate, synaptic_tau, seed=list(CASES).index(case))
    x = _input(late, seed=7)
    with torch.no_grad():
        _, spikes = model.forward_trace(x)
    _, ref = run(fold(model), x)
    assert len(ref) == len(spikes)
    for a, b in zip(spikes, ref):
        np.testing.assert_array_equal(a.numpy(), b)


def test_onnx_hidden_spikes_equal_torch() -> None:
    truncate, synaptic_tau, late = CASES["per-layer-cut-filter-late"]
    model = _model(truncate, synaptic_tau, seed=5)
    x = _input(late, seed=7)
    with torch.no_grad():
        _, spikes = model.forward_trace(x)
    names = ["voltages", "spikes0", "spikes1"]
    got = session(build_float(fold(model), record_spikes=True)).run(names, {"x": x.numpy()})
    for a, b in zip(spikes, got[1:]):
        np.testing.assert_array_equal(a.numpy(), b)

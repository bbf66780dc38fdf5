"""How far an integer network agrees with the float model it was quantized from, beyond accuracy.

Equal accuracies can hide differences (an 8-bit network can match its float model's accuracy while
a few percent of its predictions differ), so wherever an integer accuracy is shown this is shown
beside it (DESIGN section 4):

- ``float_agreement``: the share of samples whose integer class (``delaysnn.sim.predict``, as
  :func:`delaysnn.sim.simulate_batches` gives it) equals the float model's class
  (``delaysnn.model.predict``: argmax of the sum over time of softmax of the readout voltages);
- ``spike_agreement``: per hidden layer, the share of (sample, step, neuron) spikes equal in both,
  on the float model's time axis: the sim's layer ``l`` at step ``t`` is the float model's step
  ``t - latency[l]`` (``delaysnn.sim.Alignment``); sim steps before it (float steps < 0) are left out.

:class:`FloatComparison` accumulates both a batch at a time (the float forward runs batched, in eval
mode, without gradients), fed by ``simulate_batches(..., each=...)`` so the sim runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import DelayNetwork

NO_FLOAT_MODEL = {"float_agreement": None, "spike_agreement": None, "float_accuracy": None}  # an IR file: nothing to compare with


@dataclass
class Agreement:
    """The integer network against its float model on ``samples`` inputs."""

    samples: int
    float_agreement: float  # share of samples whose predicted classes are equal
    spike_agreement: list[float]  # per hidden layer: share of equal (sample, step, neuron) spikes
    float_accuracy: float | None = None  # the float model's accuracy (None without labels)

    def to_dict(self) -> dict[str, Any]:
        return {"float_agreement": self.float_agreement, "spike_agreement": list(self.spike_agreement), "float_accuracy": self.float_accuracy}


def agreement_fields(agreement: Agreement | None) -> dict[str, Any]:
    """The JSON fields of ``agreement``; all None when there is no float model (an IR file)."""
    return dict(NO_FLOAT_MODEL) if agreement is None else agreement.to_dict()


def agreement_line(fields: dict[str, Any]) -> str:
    """:func:`agreement_fields` (or a report holding them) as one line for a terminal."""
    if fields.get("float_agreement") is None:
        return "agreement with the float model: none (MODEL is an integer network: no float model to compare with)"
    spikes = ", ".join(f"{100 * s:.2f}%" for s in fields["spike_agreement"])
    acc = fields.get("float_accuracy")
    return (f"agreement with the float model: {100 * fields['float_agreement']:.1f}% of predicted classes, "
            f"hidden spikes per layer {spikes}" + ("" if acc is None else f" (float model accuracy {100 * acc:.1f}%)"))


class FloatComparison:
    """Accumulates :class:`Agreement` over batches: call :meth:`add` with each input batch and the
    sim's result for it (``simulate_batches(net, batches, each=comparison.add)``), then :meth:`result`.
    ``labels``: of all samples, in batch order (for the float model's accuracy), or None."""

    def __init__(self, model: Any, labels: np.ndarray | None = None) -> None:
        self.model = model
        self.labels = None if labels is None else np.asarray(labels)
        self.samples = self.same_class = self.float_correct = 0
        self.equal: list[int] = []  # per hidden layer: equal spikes
        self.compared: list[int] = []  # per hidden layer: spikes compared

    def add(self, x: Any, result: Any) -> None:
        """Compare the float model with one sim ``result`` (``delaysnn.sim.SimResult``) on ``x``."""
        float_class, spikes = float_outputs(self.model, x)
        n = int(float_class.shape[0])
        self.same_class += int(np.count_nonzero(float_class == result.predict()))
        if self.labels is not None:
            self.float_correct += int(np.count_nonzero(float_class == self.labels[self.samples : self.samples + n]))
        if not self.equal:
            self.equal, self.compared = [0] * len(spikes), [0] * len(spikes)
        for li, (sf, si) in enumerate(zip(spikes, result.spikes)):
            start = result.alignment.latency[li]
            window = si[:, start : start + sf.shape[1]]
            sf = sf[:, : window.shape[1]]  # a run shorter than the float window (an explicit ``steps``)
            self.equal[li] += int(np.count_nonzero(window == sf))
            self.compared[li] += int(window.size)
        self.samples += n

    def result(self) -> Agreement:
        n = max(self.samples, 1)
        return Agreement(
            samples=self.samples,
            float_agreement=self.same_class / n,
            spike_agreement=[e / c if c else 1.0 for e, c in zip(self.equal, self.compared)],
            float_accuracy=None if self.labels is None else self.float_correct / n,
        )


def float_outputs(model: Any, x: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """The float model on one batch ``x [batch, steps, inputs]`` (counts, numpy or torch), in eval
    mode without gradients: ``(class per sample (delaysnn.model.predict), uint8 spikes of every
    hidden layer)``."""
    import torch

    from ..model import predict

    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            v, spikes = model.forward_trace(xt.float())
    finally:
        model.train(was)
    return predict(v).cpu().numpy(), [s.cpu().numpy().astype(np.uint8) for s in spikes]


def float_predictions(model: Any, batches: Any) -> np.ndarray:
    """The float model's class per sample over ``batches`` (see :func:`float_outputs`): computed once,
    then compared with any number of integer networks' predictions (``delaysnn.app.frontier``)."""
    return np.concatenate([float_outputs(model, x)[0] for x in batches])


def run_with_float(model: Any, net: DelayNetwork, inputs: Any) -> tuple[Any, Agreement | None]:
    """Run ``net`` on ``inputs`` (``pipeline.EvaluationInputs``) with the sim, batch by batch, and
    compare it with the float ``model`` as it goes: ``(sim.RunSummary, Agreement)``. ``model``
    None (an IR file has no float model): the sim alone, and None."""
    from ..sim import simulate_batches

    if model is None:
        return simulate_batches(net, inputs.batches()), None
    comparison = FloatComparison(model, inputs.labels)
    summary = simulate_batches(net, inputs.batches(), each=comparison.add)
    return summary, comparison.result()


__all__ = ["Agreement", "FloatComparison", "NO_FLOAT_MODEL", "agreement_fields", "agreement_line", "float_outputs", "float_predictions", "run_with_float"]

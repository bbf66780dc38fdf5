"""The bit-accurate reference simulator: the normative statement of delaysnn's integer arithmetic.

Every backend (Lava, netx, ONNX, NIR...) must reproduce :func:`simulate` spike for spike and
voltage for voltage. The arithmetic is that of Lava 0.10's ``DelayDense`` (bit-accurate model)
feeding ``LIF`` (``PyLifModelBitAcc``), including the int32 registers of Lava's Python models, so
parity holds even where a network drives its registers to wrap or saturate (DESIGN section 4).

The rules live in the small pure functions below, each with its equation; :func:`simulate`
composes them. The network is feedforward, so a layer's whole input over time is known before
the layer runs: the synaptic input ``a[o, t, b]`` of all steps is computed at once (event driven,
see :func:`synaptic_input`), then only the cheap per-step neuron recurrence remains. Both inner
loops are compiled with numba (:mod:`delaysnn.sim.kernels`) and run in parallel over output neurons;
tests check them against a literal per-sample, per-step loop.

Time alignment (defined once, here, by :func:`alignment`): input step ``t`` is sim step ``t``
(Lava time step ``t + 1``); a spike at step ``t`` through a synapse of delay ``d`` reaches the next
layer's ``a`` at step ``t + 1 + d``, so layer ``l`` (0-based) adds one step of latency and its
output at step ``t`` first reflects input step ``t - (l + 1)``.

Modules: ``neuron`` (the update rules), ``synapses`` (input events, synaptic input), ``runner``
(alignment, :func:`simulate`, results), ``kernels`` (the numba loops, imported only when run).
Every public name is re-exported here: ``delaysnn.sim.X`` is the path to cite.
"""

from __future__ import annotations

from collections.abc import Sequence

from .neuron import (
    activation,
    current_update,
    decay,
    effective_bias,
    effective_threshold,
    effective_weight,
    neuron_step,
    spike_and_reset,
    voltage_update,
    wrap32,
    wrap_current,
)
from .runner import (
    Alignment,
    RunSummary,
    SimResult,
    alignment,
    class_scores,
    concatenate,
    predict,
    run,
    simulate,
    simulate_batches,
)
from .synapses import activation_bound, as_input, check_payloads, events, synaptic_input

__all__: Sequence[str] = (
    "Alignment",
    "RunSummary",
    "SimResult",
    "activation",
    "alignment",
    "as_input",
    "check_payloads",
    "class_scores",
    "concatenate",
    "current_update",
    "decay",
    "effective_bias",
    "effective_threshold",
    "effective_weight",
    "neuron_step",
    "predict",
    "run",
    "simulate",
    "simulate_batches",
    "spike_and_reset",
    "synaptic_input",
    "events",
    "activation_bound",
    "voltage_update",
    "wrap32",
    "wrap_current",
)

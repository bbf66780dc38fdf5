"""The float DCLS-delay SNN (DESIGN section 2), with the SNN-delays forward semantics.

Per hidden layer: DCLS delayed dense synapse -> [synaptic filter] -> BatchNorm1d -> LIF ->
dropout; then a DCLS synapse into a non-spiking leaky integrator (the readout). Tensors are
``[batch, time, channels]``. Each DCLS layer left-pads its input by ``max_delay - 1`` and
right-pads it by ``R = (max_delay - 1) // 2``, so layer ``l`` (1-based) produces ``T + l*R``
steps and the readout voltages have ``T + (hidden_layers + 1) * R`` steps.

Modules: ``config`` (:class:`ModelConfig`), ``dcls`` (positions -> kernels), ``layers`` (LIF,
DCLS synapse, hidden layer), ``network`` (:class:`DelaySNN`), ``fold`` (BatchNorm folded: the
float IR, :mod:`delaysnn.ir.folded`), ``checkpoint`` (``.pt`` files). The training forward lives
here only; the quantizer and the float exporters read the float IR (``DelaySNN.folded()``).
"""

from __future__ import annotations

from .config import ModelConfig
from .layers import DelayedDense, HiddenLayer, leaky_integrator, lif
from .network import DelaySNN, class_scores, predict

__all__ = ["DelaySNN", "DelayedDense", "HiddenLayer", "ModelConfig", "class_scores", "leaky_integrator", "lif", "predict"]

"""delaysnn: spiking networks with learned per-synapse delays, from training to hardware.

The Python API mirrors the CLI: ``load(path)`` -> float model, ``quantize(model, ...)`` ->
``DelayNetwork``, ``simulate(net, x)`` -> spikes and voltages. Heavy modules (torch, lava,
onnxruntime, nir) are imported only when a function needs them.
"""

from __future__ import annotations

from typing import Any

from .errors import DelaysnnError
from .version import __version__

__all__ = ["DelaysnnError", "load", "quantize", "simulate", "__version__"]


def load(path: Any) -> Any:
    """Load a delaysnn checkpoint (``.pt``) as a float ``DelaySNN`` in eval mode."""
    from .model.checkpoint import load_checkpoint

    return load_checkpoint(path)


def quantize(model: Any, **options: Any) -> Any:
    """Quantize a float model to an integer ``DelayNetwork`` (see ``delaysnn.quantization``)."""
    from .quantization import quantize_model

    return quantize_model(model, **options)


def simulate(net: Any, x: Any, **options: Any) -> Any:
    """Run the bit-accurate reference simulator (see ``delaysnn.sim``)."""
    from .sim import simulate as _simulate

    return _simulate(net, x, **options)

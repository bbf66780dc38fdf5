"""Both IRs. The integer IR, here: the hub every backend reads (DESIGN section 3). The float IR:
``delaysnn.ir.folded`` (below).

The integer IR: plain dataclasses of ints and int arrays (and :class:`WeightKind`, :class:`DelayKind`); standard library and numpy only. Floats stop at
``delaysnn.quantization``. Saved as one ``.dnet`` file (npz + JSON header, no pickle).

Semantics of the fields are those of Lava's ``DelayDense`` + ``LIF`` (``PyLifModelBitAcc``);
``delaysnn.sim`` states them normatively.

``network`` holds the dataclasses and :func:`check_network`; ``files`` the ``.dnet`` format;
``identity`` a network's id. Every name callers use is re-exported here: ``from delaysnn.ir
import DelayNetwork, load``. ``folded`` is the other IR, the float one (``FoldedNetwork``, the
trained model with BatchNorm folded, and its numpy reference forward), imported on its own:
``from delaysnn.ir.folded import FoldedNetwork``.
"""

from __future__ import annotations

# register ranges callers read off the IR (READOUT_VTH: the readout convention)
from ..constants import DECAY_MAX, READOUT_VTH, VTH_MAX
from ..errors import IRValidationError
from .files import FORMAT, READABLE_VERSIONS, VERSION, from_bytes, load, save, to_bytes
from .identity import Deployment, network_id
from .network import DELAY_BITS_MAX, DelayKind, DelayLayer, DelayNetwork, NeuronParams, WeightKind, check_network

__all__ = [
    "DECAY_MAX",
    "DELAY_BITS_MAX",
    "FORMAT",
    "READABLE_VERSIONS",
    "READOUT_VTH",
    "VERSION",
    "VTH_MAX",
    "DelayKind",
    "DelayLayer",
    "Deployment",
    "DelayNetwork",
    "IRValidationError",
    "NeuronParams",
    "WeightKind",
    "check_network",
    "from_bytes",
    "load",
    "network_id",
    "save",
    "to_bytes",
]

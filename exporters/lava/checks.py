"""What Lava 0.10 cannot run: the hardware profile's check plus the simulator's own limits, and
the explicit (behaviour-changing) delay clip."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from delaysnn.constants import DELAYDENSE_MAX_DELAY, INT32_MAX, NETX_MAX_DELAY
from delaysnn.errors import HardwareLimitError
from delaysnn.ir import DelayNetwork


def _profile(profile: Any) -> Any:
    from hardware import load_profile

    return load_profile(profile)


def check(net: DelayNetwork, profile: Any = "loihi2") -> None:
    """Refuse (:class:`HardwareLimitError`, every violation listed) a network that breaks ``profile``
    (``hardware.Profile.check``, the one profile check), then the Lava-simulator artefacts no
    profile expresses."""
    _profile(profile).check(net)
    problems = []
    for li, layer in enumerate(net.layers):  # whatever the profile: Lava would hang, not fail
        if layer.max_delay > DELAYDENSE_MAX_DELAY:
            problems.append(f"layer {li}: delay {layer.max_delay} > {DELAYDENSE_MAX_DELAY}, the most Lava's DelayDense accepts")
    # Lava's DelayDense multiplies weight x payload in int32: 2*W*p must stay within int32.
    if net.input_bits > 1:
        wmax = int(np.abs(net.layers[0].weight.astype(np.int64)).max(initial=0))
        if 2 * wmax * ((1 << net.input_bits) - 1) > INT32_MAX:
            problems.append(f"layer 0: weight {wmax} x payload {(1 << net.input_bits) - 1} overflows Lava's int32 weight x payload product; use fewer input_bits")
    if problems:
        raise HardwareLimitError("Lava 0.10 cannot run this network: " + "; ".join(problems))


def clip_delays(net: DelayNetwork, max_delay: int = NETX_MAX_DELAY, *, clip: bool = False) -> DelayNetwork:
    """A copy of ``net`` (new delay arrays, other arrays shared) with every delay above
    ``max_delay`` set to ``max_delay``, recorded in its provenance.

    Clipping changes the network's behaviour, so it is refused unless ``clip=True`` says so.
    """
    if not clip:
        raise HardwareLimitError("clip_delays changes the network; pass clip=True to clip delays explicitly")
    layers = [replace(layer, delay=np.minimum(layer.delay, max_delay).astype(layer.delay.dtype)) for layer in net.layers]
    return replace(net, layers=layers, provenance={**net.provenance, "delays_clipped_to": int(max_delay)})

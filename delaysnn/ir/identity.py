"""Which integer network a verdict is about: its content identity and the target it was fitted for.

Core (standard library and numpy, over the IR only), so reports, ``inspect`` and the backends'
refusals can name a network without importing the application layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .files import contents, to_bytes
from .network import DelayNetwork, WeightKind


def network_id(net: DelayNetwork) -> str:
    """``sha256:`` of the network's IR contents (``files.contents``: the JSON header, then each
    array by name as little-endian int64): the identity reports are checked by. Not the ``.dnet``
    zip bytes, so it is the same on every Python and numpy."""
    header, arrays = contents(net)
    h = hashlib.sha256(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name], dtype="<i8" if arrays[name].dtype.kind in "iub" else "<f8")
        h.update(f"\n{name} {list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def arithmetic(net: DelayNetwork) -> bytes:
    """``net``'s IR bytes without its provenance: equal for two networks that compute the same."""
    return to_bytes(replace(net, provenance={}))


def weight_grid(net: DelayNetwork) -> str:
    """The weight grid as reports name it: ``binary``, ``ternary`` or ``B-bit`` (the first
    layer's: the quantizer puts every layer on the same kind of grid)."""
    first = net.layers[0]
    return f"{first.weight_bits}-bit" if first.weight_kind is WeightKind.FIXED else first.weight_kind.value


def refit_advice(net: DelayNetwork, target: str) -> str:
    """How to get ``net`` fitted for ``target``: quantize its checkpoint (recorded in the
    provenance) with ``--target``, the one command whose file ``export --target`` accepts."""
    source = net.provenance.get("source_file", "MODEL.pt")
    return (f"quantize the checkpoint for it: delaysnn quantize {source} --target {target} -o OUT.dnet "
            f"(or give the checkpoint itself, with --target {target}, to export, simulate, estimate or verify)")


@dataclass(frozen=True)
class Deployment:
    """Which integer network a command measured: its identity (:func:`network_id`), the deploy
    target and profile it was fitted for (None: the plain quantization), the limits it was fitted
    within (``netx``), its weight grid, and whether its arithmetic differs from the plain
    quantization of the same checkpoint and options (None: not known, e.g. an IR file, which has
    no checkpoint to quantize again)."""

    sha256: str
    target: str | None
    profile: str | None
    grid: str
    limits: str | None = None
    differs_from_plain: bool | None = None

    @classmethod
    def of(cls, net: DelayNetwork, differs_from_plain: bool | None = None) -> Deployment:
        """What ``net`` records of itself (its provenance), with its identity."""
        p = net.provenance

        def text(key: str) -> str | None:
            return None if p.get(key) is None else str(p[key])

        return cls(network_id(net), text("target"), text("profile"), weight_grid(net), text("limits"), differs_from_plain)

    def describe(self) -> str:
        """One line, e.g. ``deployed network for loihi (netx limits, profile loihi2): sha256:...;
        differs from the plain 8-bit quantization``."""
        if self.target is None:
            return f"plain {self.grid} quantization: {self.sha256}"
        limits = f"{self.limits} limits, " if self.limits else ""
        text = f"deployed network for {self.target} ({limits}profile {self.profile}): {self.sha256}"
        if self.differs_from_plain is not None:
            text += f"; {'differs from' if self.differs_from_plain else 'the same arithmetic as'} the plain {self.grid} quantization"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "target": self.target, "profile": self.profile, "grid": self.grid,
                "limits": self.limits, "differs_from_plain": self.differs_from_plain, "description": self.describe()}


__all__ = ["Deployment", "arithmetic", "network_id", "refit_advice", "weight_grid"]

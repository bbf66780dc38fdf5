"""How a network sits on a neuromorphic chip's cores: each layer's synapses as stored (code widths,
dense or sparse, :func:`synapse_layout`) and the one core-count rule (:func:`cores_needed`).

Cores: per layer ``max(1, ceil(neurons / neurons_per_core), ceil(synaptic bits / synaptic
memory bits per core))`` with the synaptic bits of :func:`synapse_layout` (weights + delays +
connectivity, see ``delaysnn.estimate.storage``), so pruning (sparse storage), per-layer
delay bits and per-neuron (axonal, dendritic) delays lower it, the latter only on a target that
stores them per neuron (a profile's ``[storage] delays = "per_synapse"`` says it does not:
:func:`stores_delays_per_synapse`); the per-core limits come from a profile (:func:`core_limits_of`).
``Profile.cores_needed``, ``Profile.validate`` and ``delaysnn estimate`` all use it. It reads the
integer IR and a profile, and imports nothing from ``delaysnn.estimate`` (which imports it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from delaysnn.ir import DelayKind, DelayLayer, DelayNetwork, WeightKind

# --- code widths: small pure functions ----------------------------------------------------


def live_max_delay(layer: DelayLayer) -> int:
    """The largest delay among non-zero synapses (a zero weight carries nothing, whatever its delay;
    an axonal or dendritic delay counts when one of its neuron's synapses is non-zero)."""
    live = layer.delay_matrix[layer.weight != 0]
    return int(live.max()) if live.size else 0


def delay_bit_width(max_delay: int) -> int:
    """Bits to store a delay code in ``0..max_delay`` (0 when every code is 0)."""
    return int(max_delay).bit_length()


def delay_code_bits(layer: DelayLayer) -> int:
    """Bits per stored delay: ``delay_bits`` if the layer declares it, else the bits of its largest
    code ``delay // delay_step`` among non-zero synapses (0 when all are 0)."""
    if layer.delay_bits is not None:
        return int(layer.delay_bits)
    return delay_bit_width(live_max_delay(layer) // max(int(layer.delay_step), 1))


def weight_code_bits(layer: DelayLayer) -> tuple[int, int]:
    """``(dense, sparse)`` bits per stored weight (see the module docstring)."""
    zeros = bool(layer.weight.size) and int(np.count_nonzero(layer.weight)) < layer.weight.size
    kind = layer.weight_kind
    if kind is WeightKind.TERNARY or (kind is WeightKind.BINARY and zeros):
        return 2, 1  # dense needs a code for 0; sparse stores non-zero weights, a sign bit each
    if kind is WeightKind.BINARY:
        return 1, 1
    return int(layer.weight_bits), int(layer.weight_bits)


def index_code_bits(fan_in: int) -> int:
    """``ceil(log2(fan_in))``: bits of a column index (0 for a single input)."""
    return (int(fan_in) - 1).bit_length()


@dataclass(frozen=True)
class SynapseLayout:
    """How a layer's synapses are stored: the smaller of dense and sparse (CSR-like)."""

    storage: str  # "dense" | "sparse"
    stored: int  # synapses held: out x in (dense) or the non-zero ones (sparse)
    weight_code: int
    delay_code: int
    index_code: int  # per stored synapse (sparse), else 0
    pointer_code: int  # per output row (sparse), else 0
    weights: int
    delays: int
    connectivity: int
    dense_bits: int  # both candidates, to show the choice
    sparse_bits: int
    stored_delays: int = 0  # delay codes held: one per stored synapse, or one per input (axonal) / output (dendritic) neuron

    @property
    def bits(self) -> int:
        return self.weights + self.delays + self.connectivity


def synapse_layout(layer: DelayLayer, per_synapse: bool = False) -> SynapseLayout:
    """How ``layer``'s synapses are stored: a synaptic layer's delays sit with its synapses, an
    axonal (dendritic) layer's in one vector of ``in`` (``out``) codes beside them, unless
    ``per_synapse`` (a target that stores every delay per synapse, as netx's ``DelayDense``)."""
    out, fan_in = layer.shape
    nnz = int(np.count_nonzero(layer.weight))
    w_dense, w_sparse = weight_code_bits(layer)
    d = delay_code_bits(layer)
    idx, ptr = index_code_bits(fan_in), nnz.bit_length()
    beside = 0 if per_synapse or layer.delay_kind is DelayKind.SYNAPTIC else int(layer.delay.size)
    with_synapse = 0 if beside else d  # delay bits per stored synapse
    dense = out * fan_in * (w_dense + with_synapse) + beside * d
    sparse = nnz * (w_sparse + with_synapse + idx) + out * ptr + beside * d
    if sparse < dense:
        stored = nnz
        return SynapseLayout(
            "sparse", nnz, w_sparse, d, idx, ptr, nnz * w_sparse, (beside or stored) * d, nnz * idx + out * ptr, dense, sparse, beside or stored
        )
    stored = out * fan_in
    return SynapseLayout("dense", stored, w_dense, d, 0, 0, stored * w_dense, (beside or stored) * d, 0, dense, sparse, beside or stored)


def stores_delays_per_synapse(profile: Any) -> bool:
    """Whether ``profile``'s target stores one delay per synapse whatever the IR's delay kind
    (its ``[storage]`` table says ``delays = "per_synapse"``: Loihi 2, where netx turns a 1-D
    delay into ``DelayDense``'s per-synapse matrix)."""
    storage = getattr(profile, "sections", {}).get("storage", {})
    return isinstance(storage, Mapping) and storage.get("delays") == "per_synapse"


# --- cores: the one rule -------------------------------------------------------------------


def layer_cores(neurons: int, synaptic_bits: int, neurons_per_core: int | None, synaptic_memory_bits: int | None) -> int:
    """``max(1, ceil(neurons / neurons_per_core), ceil(synaptic_bits / synaptic_memory_bits))``; None: no limit."""
    cores = 1
    if neurons_per_core:
        cores = max(cores, math.ceil(neurons / neurons_per_core))
    if synaptic_memory_bits:
        cores = max(cores, math.ceil(synaptic_bits / synaptic_memory_bits))
    return cores


def cores_needed(layer: DelayLayer, limits: Mapping[str, Any]) -> int:
    """Cores for one layer under ``limits`` (keys of :func:`core_limits_of`), its synapses stored as :func:`synapse_layout`."""
    stored = synapse_layout(layer, per_synapse=bool(limits.get("delays_per_synapse")))
    return layer_cores(layer.shape[0], stored.bits, limits.get("neurons_per_core"), limits.get("synaptic_memory_bits"))


def network_cores(net: DelayNetwork, limits: Mapping[str, Any]) -> int:
    """Cores for the whole network: the sum over layers (the input is fed from off-core and takes none)."""
    return sum(cores_needed(layer, limits) for layer in net.layers)


def core_limits_of(profile: Any) -> dict[str, Any]:
    """The per-core limits of a ``hardware.Profile`` (None where it states none), with their sources."""
    lim = profile.limits
    picks = {"neurons_per_core": (lim.neurons_per_core, 1), "synaptic_memory_bits": (lim.synaptic_memory_bytes_per_core, 8)}
    out: dict[str, Any] = {"profile": profile.name, "sources": {}, "delays_per_synapse": stores_delays_per_synapse(profile)}
    for key, (quantity, scale) in picks.items():
        out[key] = None if quantity is None else int(quantity.value) * scale
        if quantity is not None:
            out["sources"][key] = quantity.source
    return out

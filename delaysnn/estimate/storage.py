"""Memory counted as the hardware stores it, and the one core-count rule (issue 13 item 4).

Per layer, in bits (and kB: **1 kB = 1000 bytes**, SI, as Sun et al. 2025 report memory), five
named terms:

- ``weights``: every stored synapse's weight at its code width: ``weight_bits`` (fixed point);
  binary, 1 bit (the sign); ternary ({-1, 0, +1}; also binary with zeros, i.e. pruned), 2 bits
  when dense, 1 sign bit when sparse (a stored synapse is non-zero, its index says so).
- ``delays``: each stored delay code ``delay // delay_step`` at the layer's ``delay_bits`` when
  set, else at the bits of the largest code among its non-zero synapses. How many codes follows
  the layer's delay kind (``ir.DelayKind``): one per stored synapse (synaptic), ``in`` (axonal:
  one per input neuron) or ``out`` (dendritic: one per output neuron), the vector held beside
  the synapses. Decision: **0 bits when every delay is 0**: such a layer is a plain Dense
  (Lava's ``Dense`` stores no delay field), and its delay line is one slot.
- ``connectivity``: dense storage keeps all ``out x in`` synapses in place and needs no index;
  sparse (CSR-like) keeps the non-zero synapses only, each with a column index of
  ``ceil(log2(in))`` bits, plus one row pointer of ``bit_length(nnz)`` bits per output row (its
  end offset; the first start is 0). Each layer takes whichever holds weights + delays +
  connectivity in fewer bits (ties: dense) and reports which (``storage``).
- ``delay_buffers``: the delay lines the kind needs. Synaptic and dendritic: ``out x (max delay
  + 1)`` accumulators (a weighted sum waits in its output neuron's line), the max over non-zero
  synapses, each of the profile's ``limits.accumulator_bits`` (Loihi 2: 16 bits, cited there;
  approximate: no Intel document states the width), else of the 24-bit ``u`` register the
  accumulated input feeds. Axonal: a spike waits in its input neuron's line before the weights,
  ``in x max delay`` slots of one payload each (1 bit; the first layer: ``input_bits``), plus the
  one accumulator per output neuron any layer has.
- ``neuron_state``: ``out x (U_BITS + V_BITS)``, the 24-bit ``u`` and ``v`` of Lava's
  bit-accurate LIF (DESIGN section 4).

Synaptic memory = weights + delays + connectivity. A profile whose target stores every delay
per synapse whatever the kind (``[storage] delays = "per_synapse"``: Loihi 2, where netx turns a
1-D delay into ``DelayDense``) gets, beside these terms, what the target stores
(``target_synaptic_bits``, ``target_delay_buffer_bits``: the layer as synaptic), and the
report says so; its core count follows the target. The float reference counts every one of the
float model's ``out x in`` synapses at a 32-bit weight and a 32-bit delay (``float_synaptic_bits
= out x in x 64``); issue 13's "15 % of the float memory" is ``synaptic / float_synaptic``.

The code widths, the dense-or-sparse choice (:func:`synapse_layout`) and the one core-count rule
live in :mod:`hardware.cores` (``hardware.Profile.cores_needed`` and the estimate use them; they
are re-exported here). Functions take a loaded ``hardware.Profile``;
``delaysnn.estimate.memory(net, "loihi2")`` loads by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hardware.cores import (  # noqa: F401  (re-exported: the layout and the core rule live in hardware.cores)
    SynapseLayout,
    core_limits_of,
    cores_needed,
    delay_bit_width,
    delay_code_bits,
    index_code_bits,
    layer_cores,
    live_max_delay,
    network_cores,
    stores_delays_per_synapse,
    synapse_layout,
    weight_code_bits,
)

from ..constants import REGISTER_BITS
from ..ir import DelayKind, DelayLayer, DelayNetwork

CORE_PROFILE = "loihi2"  # the profile whose per-core limits and accumulator width the estimate uses
KB_BITS = 8 * 1000  # 1 kB = 1000 bytes
FLOAT_WEIGHT_BITS = 32
FLOAT_DELAY_BITS = 32
U_BITS = REGISTER_BITS  # the current register u
V_BITS = REGISTER_BITS  # the voltage register v
STATE_SOURCE = (
    "u and v registers, 24 bits each: lava-nc 0.10 lava/proc/lif/models.py AbstractPyLifModelFixed "
    "(u, v: precision=24); DESIGN section 4 (u wraps, v saturates at 2**23)"
)
TERMS = ("weights", "delays", "connectivity", "delay_buffers", "neuron_state")
SYNAPTIC_TERMS = ("weights", "delays", "connectivity")


# --- results -------------------------------------------------------------------------------


def kilobytes(bits: float) -> float:
    return bits / KB_BITS


@dataclass
class LayerMemory:
    """One layer's memory, term by term, in bits (see the module docstring)."""

    index: int
    neurons: int
    fan_in: int
    synapses: int  # out x in
    stored_synapses: int
    storage: str  # "dense" | "sparse"
    weight_code_bits: int  # per stored synapse
    delay_code_bits: int
    index_code_bits: int
    pointer_code_bits: int  # per output row
    buffer_slots: int  # max delay + 1
    accumulator_bits: int
    state_bits_per_neuron: int
    weights: int
    delays: int
    connectivity: int
    delay_buffers: int
    neuron_state: int
    dense_synaptic_bits: int
    sparse_synaptic_bits: int
    float_synaptic_bits: int
    delay_kind: str = "synaptic"  # ir.DelayKind value
    stored_delays: int = 0  # delay codes stored (synapses, input or output neurons: the kind)
    spike_line_slots: int = 0  # axonal: slots per input neuron's spike line (max delay), else 0
    spike_bits: int = 1  # payload bits of one spike-line slot
    # what a target storing every delay per synapse holds (None: as counted above)
    target_synaptic_bits: int | None = None
    target_delay_buffer_bits: int | None = None

    @property
    def synaptic(self) -> int:
        return self.weights + self.delays + self.connectivity

    @property
    def total(self) -> int:
        return sum(self.terms().values())

    @property
    def synaptic_vs_float(self) -> float:
        return self.synaptic / self.float_synaptic_bits if self.float_synaptic_bits else 0.0

    def terms(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in TERMS}

    def to_dict(self) -> dict[str, Any]:
        bits = {**self.terms(), "synaptic": self.synaptic, "total": self.total}
        return {
            "index": self.index,
            "neurons": self.neurons,
            "fan_in": self.fan_in,
            "synapses": self.synapses,
            "stored_synapses": self.stored_synapses,
            "storage": self.storage,
            "code_bits": {
                "weight": self.weight_code_bits,
                "delay": self.delay_code_bits,
                "index": self.index_code_bits,
                "row_pointer": self.pointer_code_bits,
                "accumulator": self.accumulator_bits,
                "neuron_state": self.state_bits_per_neuron,
            },
            "buffer_slots": self.buffer_slots,
            "bits": bits,
            "kB": {k: kilobytes(v) for k, v in bits.items()},
            "dense_synaptic_bits": self.dense_synaptic_bits,
            "sparse_synaptic_bits": self.sparse_synaptic_bits,
            "float_synaptic_bits": self.float_synaptic_bits,
            "synaptic_vs_float": self.synaptic_vs_float,
            "delay_kind": self.delay_kind,
            "stored_delays": self.stored_delays,
            "spike_line": {"slots": self.spike_line_slots, "bits": self.spike_bits},
            "target": None if self.target_synaptic_bits is None else {
                "synaptic_bits": self.target_synaptic_bits, "delay_buffer_bits": self.target_delay_buffer_bits,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerMemory:
        code, bits = data["code_bits"], data["bits"]
        line, target = data.get("spike_line") or {}, data.get("target") or {}  # absent in reports written before the kinds
        return cls(
            **{k: data[k] for k in ("index", "neurons", "fan_in", "synapses", "stored_synapses", "storage", "buffer_slots")},
            weight_code_bits=code["weight"],
            delay_code_bits=code["delay"],
            index_code_bits=code["index"],
            pointer_code_bits=code["row_pointer"],
            accumulator_bits=code["accumulator"],
            state_bits_per_neuron=code["neuron_state"],
            **{name: bits[name] for name in TERMS},
            **{k: data[k] for k in ("dense_synaptic_bits", "sparse_synaptic_bits", "float_synaptic_bits")},
            delay_kind=data.get("delay_kind", "synaptic"),
            stored_delays=data.get("stored_delays", data["stored_synapses"]),
            spike_line_slots=line.get("slots", 0),
            spike_bits=line.get("bits", 1),
            target_synaptic_bits=target.get("synaptic_bits"),
            target_delay_buffer_bits=target.get("delay_buffer_bits"),
        )


@dataclass
class NetworkMemory:
    """Per-layer :class:`LayerMemory` and totals, with where the register widths come from."""

    layers: list[LayerMemory]
    profile: str  # whose accumulator width the delay lines use
    accumulator_label: str  # one line: width, where it is stated, approximate or not
    accumulator_source: str  # the profile's citation
    state_source: str = STATE_SOURCE
    delay_storage: str = ""  # the profile's statement that its target stores every delay per synapse ("": as the IR)

    def totals(self) -> dict[str, int]:
        out = {name: sum(getattr(m, name) for m in self.layers) for name in TERMS}
        out["synaptic"] = sum(out[name] for name in SYNAPTIC_TERMS)
        out["total"] = sum(out[name] for name in TERMS)
        return out

    @property
    def total_bits(self) -> int:
        return self.totals()["total"]

    def target_totals(self) -> dict[str, int] | None:
        """Synaptic, delay-buffer and total bits as the profile's target stores them, when that
        differs from :meth:`totals` (axonal or dendritic layers on a per-synapse target), else None."""
        if all(m.target_synaptic_bits is None for m in self.layers):
            return None
        synaptic = sum(m.synaptic if m.target_synaptic_bits is None else m.target_synaptic_bits for m in self.layers)
        buffers = sum(m.delay_buffers if m.target_delay_buffer_bits is None else m.target_delay_buffer_bits for m in self.layers)
        t = self.totals()
        return {"synaptic": synaptic, "delay_buffers": buffers, "total": t["total"] - t["synaptic"] - t["delay_buffers"] + synaptic + buffers}

    @property
    def float_synaptic_bits(self) -> int:
        return sum(m.float_synaptic_bits for m in self.layers)

    @property
    def synaptic_vs_float(self) -> float:
        ref = self.float_synaptic_bits
        return self.totals()["synaptic"] / ref if ref else 0.0

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        bits = self.totals()
        out: dict[str, Any] = {
            "kB_means": "1000 bytes",
            "bits": bits,
            "kB": {k: kilobytes(v) for k, v in bits.items()},
            "float_synaptic_bits": self.float_synaptic_bits,
            "float_reference": f"every out x in synapse of the float model at {FLOAT_WEIGHT_BITS}-bit weight + {FLOAT_DELAY_BITS}-bit delay",
            "synaptic_vs_float": self.synaptic_vs_float,
            "profile": self.profile,
            "accumulator": self.accumulator_label,
            "sources": {"accumulator_bits": self.accumulator_source, "neuron_state": self.state_source},
            "delay_storage": self.delay_storage,
            "target": self.target_totals(),
        }
        if layers:
            out["layers"] = [m.to_dict() for m in self.layers]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], layers: list[Mapping[str, Any]] | None = None) -> NetworkMemory:
        """Read :meth:`to_dict` back; ``layers``: the per-layer dicts when they were written apart."""
        rows = data["layers"] if layers is None else layers
        src = data["sources"]
        return cls(
            [LayerMemory.from_dict(r) for r in rows], data["profile"], data["accumulator"], src["accumulator_bits"], src["neuron_state"],
            data.get("delay_storage", ""),
        )

    def lines(self) -> list[str]:
        """A few lines of text: each layer's terms, the total, the float ratio and the sources."""
        out = []
        for m in self.layers:
            terms = ", ".join(f"{name.replace('_', ' ')} {m.terms()[name]}" for name in TERMS)
            kind = "" if m.delay_kind == "synaptic" else f", {m.delay_kind} delays: {m.stored_delays} stored"
            out.append(
                f"layer {m.index} ({m.storage}, {m.stored_synapses}/{m.synapses} synapses stored{kind}): {terms} bits = {kilobytes(m.total):.4g} kB"
            )
        t = self.totals()
        out.append(
            f"total {t['total']} bits = {kilobytes(t['total']):.4g} kB (1 kB = 1000 bytes); synaptic (weights + delays + "
            f"connectivity) {kilobytes(t['synaptic']):.4g} kB = {self.synaptic_vs_float:.2%} of the float model's "
            f"{kilobytes(self.float_synaptic_bits):.4g} kB (32-bit weights + 32-bit delays)"
        )
        target = self.target_totals()
        if target is not None:
            out.append(
                f"on the target: {self.delay_storage}; it holds {kilobytes(target['synaptic']):.4g} kB synaptic, "
                f"{kilobytes(target['total']):.4g} kB in all (the core count follows it)"
            )
        out.append(f"delay-line accumulators: {self.accumulator_label}")
        out.append(f"neuron state: {self.state_source}")
        return out


def accumulator_width(profile: Any) -> tuple[int, str, str]:
    """``(bits, label, source)`` of one delay-line slot under ``profile`` (a ``hardware.Profile``)."""
    quantity = getattr(profile.limits, "accumulator_bits", None)
    if quantity is None:
        label = f"{U_BITS} bits: profile {profile.name} states no accumulator width; taken as the {U_BITS}-bit u register the input feeds"
        return U_BITS, label, STATE_SOURCE
    label = f"{quantity.value} bits [profile {profile.name}: limits.accumulator_bits]"
    if quantity.approximate:
        label += ", approximate: no firm published figure (see the profile's source and note)"
    source = f"{quantity.source} ({quantity.note})" if quantity.note else quantity.source
    return int(quantity.value), label, source


def layer_memory(
    layer: DelayLayer, index: int = 0, accumulator_bits: int = U_BITS, spike_bits: int = 1, per_synapse: bool = False
) -> LayerMemory:
    """:class:`LayerMemory` of one layer, delay-line slots ``accumulator_bits`` wide (an axonal
    spike line's ``spike_bits``); ``per_synapse``: the target stores every delay per synapse."""
    out, fan_in = layer.shape
    lay = synapse_layout(layer)
    longest = live_max_delay(layer)
    axonal = layer.delay_kind is DelayKind.AXONAL
    slots, line = (1, longest) if axonal else (longest + 1, 0)  # axonal: spikes wait before the weights
    buffers = out * slots * int(accumulator_bits) + fan_in * line * int(spike_bits)
    retarget = per_synapse and layer.delay_kind is not DelayKind.SYNAPTIC
    state = U_BITS + V_BITS
    return LayerMemory(
        index=index,
        neurons=out,
        fan_in=fan_in,
        synapses=out * fan_in,
        stored_synapses=lay.stored,
        storage=lay.storage,
        weight_code_bits=lay.weight_code,
        delay_code_bits=lay.delay_code,
        index_code_bits=lay.index_code,
        pointer_code_bits=lay.pointer_code,
        buffer_slots=slots,
        accumulator_bits=int(accumulator_bits),
        state_bits_per_neuron=state,
        weights=lay.weights,
        delays=lay.delays,
        connectivity=lay.connectivity,
        delay_buffers=buffers,
        neuron_state=out * state,
        dense_synaptic_bits=lay.dense_bits,
        sparse_synaptic_bits=lay.sparse_bits,
        float_synaptic_bits=out * fan_in * (FLOAT_WEIGHT_BITS + FLOAT_DELAY_BITS),
        delay_kind=layer.delay_kind.value,
        stored_delays=lay.stored_delays,
        spike_line_slots=line,
        spike_bits=int(spike_bits),
        target_synaptic_bits=synapse_layout(layer, per_synapse=True).bits if retarget else None,
        target_delay_buffer_bits=out * (longest + 1) * int(accumulator_bits) if retarget else None,
    )


def network_memory(net: DelayNetwork, profile: Any) -> NetworkMemory:
    """Memory of ``net`` as ``profile`` (a loaded ``hardware.Profile``) stores it; by name: ``estimate.memory``."""
    bits, label, source = accumulator_width(profile)
    per_synapse = stores_delays_per_synapse(profile)
    layers = [layer_memory(layer, i, bits, net.input_bits if i == 0 else 1, per_synapse) for i, layer in enumerate(net.layers)]
    table = profile.sections.get("storage", {})
    storage = f"profile {profile.name} stores every delay per synapse ({table.get('note') or table['source']})" if per_synapse else ""
    return NetworkMemory(layers, profile.name, label, source, delay_storage=storage)

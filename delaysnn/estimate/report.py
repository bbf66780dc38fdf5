"""The :class:`Estimate` result: JSON (``to_dict`` / ``from_dict``) and the terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .counts import LayerCounts
from .pricing import EnergyBreakdown, EnergyItem
from .storage import NetworkMemory, kilobytes

DEFINITIONS: tuple[str, ...] = (
    "All counts are per inference: the mean over the samples simulated.",
    "Event: a hidden neuron's spike, or a non-zero input value (graded input: one event per non-zero payload).",
    "Synaptic op (effective op, NeuroBench Effective_ACs): each event x the non-zero fan-out of its source neuron, "
    "counted when emitted (also when it would arrive after the run ends); zero weights (pruned, ternary zeros) and bias excluded.",
    "Payload-weighted synaptic ops: each op weighted by the event's payload (equal to synaptic ops for binary spikes).",
    "Dense-equivalent MACs: every synapse (zero or not) at every step the receiving layer runs.",
    "Neuron update: every neuron at every step its layer runs. Active: an event arrived through a non-zero weight "
    "that step, or the neuron spiked; otherwise inactive.",
    "Spike message: an event delivered to one destination core holding >= 1 of its non-zero targets; neurons are "
    "placed on the layer's cores in index order. Input events count as messages into layer 0. Tile hops are "
    "placement-dependent and not counted.",
    "Memory (1 kB = 1000 bytes), as hardware stores it, per layer: weights at their code width (binary 1 bit; ternary 2 "
    "bits dense, 1 sign bit sparse); delay codes (delay // delay_step) at delay_bits, else the bits of the largest code "
    "among non-zero synapses (0 when all delays are 0); connectivity: none dense, sparse (CSR-like) a ceil(log2(in))-bit "
    "column index per stored synapse + a bit_length(nnz)-bit row pointer per row, whichever storage is smaller; delay "
    "line out x (max delay + 1) accumulators at the profile's accumulator width; neuron state out x (24-bit u + 24-bit v). "
    "Float reference: out x in synapses x (32-bit weight + 32-bit delay).",
    "Loihi 2 cores per layer: max(1, ceil(neurons / neurons_per_core), ceil(synaptic memory bits (weights + delays + "
    "connectivity, as above) / synaptic memory bits per core)), limits from the loihi2 profile (the rule of "
    "hardware.Profile.cores_needed); the input is fed from off-core and takes none.",
    "Energy: sum over counts of count x cost of the profile. Conventional profiles also fetch (weight word + delay code) "
    "bits per synaptic op from the smallest memory level holding all weights and delays, in 64-bit accesses; the "
    "dense equivalent fetches one weight word per MAC. Static energy = static power x steps x time_step_ms.",
)

_TOTAL_KEYS = (
    "input_events", "synaptic_ops", "synaptic_ops_payload", "dense_macs", "neuron_updates", "active_updates",
    "inactive_updates", "spikes", "spike_messages", "cores", "synapses", "nonzero_synapses",
)  # fmt: skip


@dataclass
class Estimate:
    """Everything ``estimate`` reports; ``to_dict`` is JSON-ready, ``table`` prints."""

    network: dict[str, Any]
    input: dict[str, Any]
    steps: int  # steps the whole run lasts
    layers: list[LayerCounts]
    energy: list[EnergyBreakdown]
    core_limits: dict[str, Any]
    delay_histograms: list[list[int]]  # per layer: non-zero synapses per delay 0..max_delay
    memory: NetworkMemory
    definitions: list[str] = field(default_factory=lambda: list(DEFINITIONS))
    # against the float model (delaysnn.app.agreement), on the same inputs; None: no float model (an IR file)
    float_agreement: float | None = None  # share of samples whose predicted classes are equal
    spike_agreement: list[float] | None = None  # per hidden layer: share of equal (sample, step, neuron) spikes

    @property
    def no_input_events(self) -> bool:
        """The inputs had no events at all: every count is the idle network's (bias, static power),
        and a dense/SNN ratio on them would compare nothing with nothing."""
        return not self.layers or self.layers[0].input_events == 0

    def dense_ratios(self) -> dict[str, float | None]:
        """Per profile: dense-equivalent energy / SNN energy (None: no dense equivalent, or no input events)."""
        return {
            e.label: e.dense_equivalent_j / e.total_j if e.dense_equivalent_j is not None and e.total_j and not self.no_input_events else None
            for e in self.energy
        }

    @property
    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {k: sum(getattr(layer, k) for layer in self.layers) for k in _TOTAL_KEYS}
        mem = self.memory.totals()
        out["memory_bits"] = mem["total"]
        out["synaptic_memory_bits"] = mem["synaptic"]
        hidden = [layer for layer in self.layers if layer.kind == "hidden"]
        updates = sum(layer.neurons * layer.steps for layer in hidden)
        out["hidden_firing_rate"] = sum(layer.spikes for layer in hidden) / updates if updates else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each layer carries its ``memory`` block, the top-level ``memory`` the totals."""
        out = asdict(self)
        for row, mem in zip(out["layers"], self.memory.layers):
            row["memory"] = mem.to_dict()
        out["memory"] = self.memory.to_dict(layers=False)
        out["totals"] = self.totals
        out["no_input_events"] = self.no_input_events
        out["dense_ratio"] = self.dense_ratios()  # null per profile on empty input
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        counts = {f.name for f in fields(LayerCounts)}
        kw["layers"] = [LayerCounts(**{k: v for k, v in layer.items() if k in counts}) for layer in data["layers"]]
        kw["memory"] = NetworkMemory.from_dict(data["memory"], layers=[layer["memory"] for layer in data["layers"]])
        kw["energy"] = [
            EnergyBreakdown(
                **{
                    **e,
                    "items": [EnergyItem(**i) for i in e["items"]],
                    "dense_items": [EnergyItem(**i) for i in e["dense_items"]],
                }
            )
            for e in data["energy"]
        ]
        return cls(**kw)

    def table(self) -> str:
        return format_table(self)


# --- presentation --------------------------------------------------------------------------


# api.estimate's note on empty input (the table says "n/a (no input events)" in the ratio column)
NO_EVENTS_NOTE = "note: the inputs have no events: the counts are the idle network's, and no dense/SNN ratio is given"


def si(value: float, unit: str = "") -> str:
    """``1.23e-7, 'J'`` -> ``'123 nJ'``; counts without a unit -> ``'1.23M'``."""
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")]
    if not unit:
        prefixes = [p for p in prefixes if p[0] >= 1]
    scale, prefix = next((p for p in prefixes if abs(value) >= p[0]), prefixes[-1])
    text = f"{value / scale:.3g}"
    return f"{text} {prefix}{unit}" if unit else f"{text}{prefix}"


def binary_bytes(n_bytes: float) -> str:
    """``131072`` -> ``'128 KiB'`` (memory sizes in powers of 1024)."""
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.3g} B"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if j else str(c).ljust(w) for j, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _kb(bits: float) -> str:
    return f"{kilobytes(bits):.3g}"


def format_table(est: Estimate) -> str:
    """A terminal report: per-layer counts, totals, memory and cores, energy per profile."""
    net, inp = est.network, est.input
    shape = "-".join(str(s) for s in net["sizes"])
    what = f"random input, rate {inp['rate']}, seed {inp['seed']}" if inp["kind"] == "random" else f"data, measured rate {inp['rate']:.3g}"
    lines = [
        f"network {shape}, input_bits {net['input_bits']}, max delays {net['max_delays']}, dt {net['time_step_ms']} ms",
        f"per inference: mean over {inp['samples']} samples of {inp['steps']} input steps ({what}); run lasts {est.steps} steps",
        "",
    ]
    header = ["layer", "shape", "steps", "events in", "syn ops", "payload ops", "dense MACs", "updates", "active", "spikes", "rate", "Hz",
              "storage", "memory kB", "cores"]  # fmt: skip
    rows = []
    for layer, mem in zip(est.layers, est.memory.layers):
        rows.append(
            [
                f"{layer.index} {layer.kind}",
                f"{layer.fan_in}->{layer.neurons}",
                str(layer.steps),
                si(layer.input_events),
                si(layer.synaptic_ops),
                si(layer.synaptic_ops_payload),
                si(layer.dense_macs),
                si(layer.neuron_updates),
                f"{layer.active_updates / layer.neuron_updates:.1%}" if layer.neuron_updates else "-",
                si(layer.spikes),
                f"{layer.firing_rate:.4f}" if layer.kind == "hidden" else "-",
                f"{layer.firing_rate_hz:.3g}" if layer.kind == "hidden" else "-",
                mem.storage if mem.delay_kind == "synaptic" else f"{mem.storage}, {mem.delay_kind} delays",
                _kb(mem.total),
                str(layer.cores),
            ]
        )
    t = est.totals
    rows.append(
        [
            "total", "", str(est.steps), si(t["input_events"]), si(t["synaptic_ops"]), si(t["synaptic_ops_payload"]),
            si(t["dense_macs"]), si(t["neuron_updates"]),
            f"{t['active_updates'] / t['neuron_updates']:.1%}" if t["neuron_updates"] else "-",
            si(t["spikes"]), f"{t['hidden_firing_rate']:.4f}",
            f"{t['hidden_firing_rate'] * 1000 / net['time_step_ms']:.3g}" if net["time_step_ms"] else "-", "", _kb(t["memory_bits"]),
            str(int(t["cores"])),
        ]
    )  # fmt: skip
    lines += _grid(header, rows)
    lines += ["", "memory (bits, as stored):", *(f"  {line}" for line in est.memory.lines())]
    lines += [f"cores (Loihi 2): {int(t['cores'])} [{_limits_text(est.core_limits)}]", ""]
    header = ["profile", "synaptic", "neuron", "spikes", "memory", "static", "total", "dense equiv.", "dense/SNN"]
    rows = []
    ratios = est.dense_ratios()
    for e in est.energy:
        c = e.categories
        priced = {i.category for i in e.items}
        dense = e.dense_equivalent_j
        ratio = "n/a (no input events)" if est.no_input_events else f"{ratios[e.label]:.2f}x" if ratios[e.label] is not None else "-"
        rows.append(
            [
                e.label,
                *(si(c[k], "J") if k in priced else "-" for k in ("synaptic", "neuron", "spikes", "memory", "static")),
                si(e.total_j, "J"),
                si(dense, "J") if dense is not None else "-",
                ratio,
            ]
        )
    lines += ["energy per inference:", *_grid(header, rows)]
    notes = sorted({f"{e.label}: memory level {e.memory_level}" for e in est.energy if e.memory_level})
    notes += sorted({f"{e.label}: not counted (placement-dependent): {', '.join(e.not_counted)}" for e in est.energy if e.not_counted})
    lines += [f"  {n}" for n in notes]
    return "\n".join(lines)


def _limits_text(limits: dict[str, Any]) -> str:
    parts = []
    if limits.get("neurons_per_core"):
        parts.append(f"{limits['neurons_per_core']} neurons/core")
    if limits.get("synaptic_memory_bits"):
        parts.append(f"{binary_bytes(limits['synaptic_memory_bits'] / 8)} synaptic memory/core")
    return ", ".join(parts) or "no per-core limits"

"""What the quantizer did, per layer and for the network: :class:`LayerReport`, :class:`QuantReport`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerReport:
    name: str
    shape: tuple[int, int]
    weight_bits: int
    binary: bool
    step: float  # float value of one weight-mantissa unit (binary: the scale mean|W|)
    weight_scale: float  # float value of one effective integer weight unit: step / 2**weight_exp
    weight_exp: int
    v_scale: float  # S: v_int ~= S * v_float
    clip: float  # float clipping range (inf: none)
    clipped_fraction: float  # fraction of synapses whose |W| exceeded the grid
    rel_weight_error: float  # ||Wq - W||_F / ||W||_F
    zero_fraction: float  # fraction of synapses whose integer weight is 0
    delays_clipped: int  # synapses (non-zero weight) whose delay was clipped to max_delay
    max_delay_found: int  # largest delay among non-zero synapses, before clipping
    du: int
    dv: int
    threshold: float | None  # float threshold (None: readout)
    vth: int | None
    threshold_effective: float | None  # (64 * vth + 1) / S: the float threshold the integer one implements
    bias_exp: int
    bias_rel_error: float  # max |bias_int - S*b| / (S * theta) (readout: / S)
    bias_clipped: int  # neurons whose bias did not fit 13 bits << 7
    overflow_bound: float  # guaranteed bound on |u| (hidden) or |v| (readout), in integer units
    overflow_risk: bool  # True: even weight_exp 0 cannot guarantee no wrap/saturation
    ternary: bool = False
    pruned_fraction: float = 0.0  # fraction of synapses removed by pruning (weight 0, delay 0)
    delay_bits: int | None = None  # the layer's delays take at most 2**delay_bits values (None: as rounded)
    delay_step: int = 1  # delays are multiples of it (the "step" delay grid)
    delays_moved: int = 0  # synapses (non-zero weight) whose delay the delay grid changed
    distinct_delays: int = 0  # distinct delays among synapses with a non-zero weight
    delays_over_limit: int = 0  # synapses (non-zero weight) whose delay exceeded max_delay
    # the delays' kind (ir.DelayKind value): axonal (dendritic) layers count input (output)
    # neurons, not synapses, in the delay fields above
    delay_kind: str = "synaptic"
    notes: list[str] = field(default_factory=list, repr=False)  # this layer's share of QuantReport.notes


@dataclass
class QuantReport:
    weight_bits: int | None
    binary: bool
    input_bits: int
    max_delay: int | None
    clip_delays: bool
    readout_scale: float
    layers: list[LayerReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ternary: bool = False
    delay_bits: int | None = None
    delay_grid: str | None = None  # "step" or "cap" with delay_bits, else None
    prune: float | None = None  # fraction of synapses pruned by magnitude
    prune_scope: str | None = None  # "layer" or "global" with prune, else None
    memory: Any = None  # delaysnn.estimate.NetworkMemory: the network's memory as hardware stores it
    # quantize --data: the network on the data's test split (api.Simulated.to_dict: accuracy, agreement with the float model)
    evaluation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.memory is not None:
            out["memory"] = self.memory.to_dict()
        for layer in out["layers"]:
            layer["shape"] = list(layer["shape"])
            for key, value in layer.items():
                if isinstance(value, float) and not math.isfinite(value):
                    layer[key] = None  # JSON has no inf
        return out

    def to_markdown(self) -> str:
        head = (
            "| layer | shape | bits | weight_exp | scale | clipped | rel err | pruned | delays clipped | delay grid | du | dv "
            "| theta -> vth (eff) | bias_exp | risk |"
        )
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for r in self.layers:
            bits = "bin" if r.binary else "tern" if r.ternary else str(r.weight_bits)
            dgrid = "-" if r.delay_bits is None else f"{r.delay_bits}b x{r.delay_step} ({r.distinct_delays} values)"
            thr = "readout" if r.vth is None else f"{r.threshold:g} -> {r.vth} ({r.threshold_effective:.4g})"
            lines.append(
                f"| {r.name} | {r.shape[0]}x{r.shape[1]} | {bits} | {r.weight_exp} | {r.weight_scale:.4g} "
                f"| {r.clipped_fraction:.2%} | {r.rel_weight_error:.3%} | {r.pruned_fraction:.1%} | {r.delays_clipped} | {dgrid} "
                f"| {r.du} | {r.dv} "
                f"| {thr} | {r.bias_exp} | {'yes' if r.overflow_risk else ''} |"
            )
        memory = ["", "memory (bits, as stored):", *(f"- {line}" for line in self.memory.lines())] if self.memory is not None else []
        return "\n".join(lines + [f"- {n}" for n in self.notes] + memory)

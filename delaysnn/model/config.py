"""The float model's configuration: :class:`ModelConfig` (checked, JSON round trip)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import CheckpointError
from ..ir.network import DelayKind
from ..limits import MAX_DELAY_STEPS, MAX_KERNEL_COUNT, MAX_LAYERS, MAX_NEURONS, MAX_SYNAPSES


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`DelaySNN` (saved in checkpoints)."""

    input_size: int
    output_size: int
    hidden_size: int = 256
    hidden_layers: int = 2
    max_delay: int = 25  # DCLS kernel size (odd); delays are 0..max_delay-1 steps
    kernel_count: int = 1
    tau: float = 1.005  # membrane time constant, in steps (10.05 ms / 10 ms)
    readout_tau: float = 1.005
    threshold: float = 1.0
    batchnorm: bool = True
    dropout: float = 0.4
    synaptic_tau: float | None = None  # first-order current filter (Loihi du), in steps
    time_step_ms: float = 10.0
    surrogate_alpha: float = 5.0
    # SNN-delays pads every layer's input on the right and so cuts each layer's output at
    # T + l*R steps: spikes a layer emits later never reach the next one. Hardware runs every
    # layer for the whole window, so our own models pad the input once (False); imported
    # SNN-delays models keep their cut (True) to reproduce their outputs exactly.
    truncate_layers: bool = False
    # where the learned delays sit (delaysnn.ir.network.DelayKind's names): one per synapse, per
    # presynaptic neuron (axonal) or per postsynaptic neuron (dendritic); checkpoints written
    # before the field existed read as synaptic
    delay_kind: str = "synaptic"
    # the fraction of each layer's delays that are learned; the rest are held at 0
    # (delaysnn.model.delay_kinds: which ones, and when training picks them)
    delay_fraction: float = 1.0

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:  # ranges below compare numbers: a string or NaN must not get that far
            raise ValueError("invalid model config: " + "; ".join(problems))
        bounds = {
            "input_size": MAX_NEURONS,
            "output_size": MAX_NEURONS,
            "hidden_size": MAX_NEURONS,
            "kernel_count": MAX_KERNEL_COUNT,
        }
        for name, top in bounds.items():
            if not 1 <= getattr(self, name) <= top:
                problems.append(f"{name} must be in 1..{top} (got {getattr(self, name)}; delaysnn.limits)")
        if not 0 <= self.hidden_layers <= MAX_LAYERS:
            problems.append(f"hidden_layers must be in 0..{MAX_LAYERS} (got {self.hidden_layers}; delaysnn.limits.MAX_LAYERS)")
        if self.max_delay < 1 or self.max_delay % 2 == 0 or self.max_delay > MAX_DELAY_STEPS:
            problems.append(f"max_delay must be a positive odd kernel size up to {MAX_DELAY_STEPS} (got {self.max_delay})")
        if not problems:
            sizes = self.sizes
            widest = max(a * b for a, b in zip(sizes[:-1], sizes[1:])) * self.kernel_count
            if widest > MAX_SYNAPSES:
                problems.append(
                    f"sizes {'-'.join(map(str, sizes))} x kernel_count {self.kernel_count} give a layer of {widest} synapses, "
                    f"more than {MAX_SYNAPSES} (delaysnn.limits.MAX_SYNAPSES)"
                )
        for name in ("tau", "readout_tau"):
            if not getattr(self, name) >= 1.0:
                problems.append(f"{name} must be >= 1 step (got {getattr(self, name)})")
        if self.synaptic_tau is not None and not self.synaptic_tau >= 1.0:
            problems.append(f"synaptic_tau must be >= 1 step or None (got {self.synaptic_tau})")
        if self.delay_kind not in DELAY_KINDS:
            problems.append(f"delay_kind must be one of {', '.join(DELAY_KINDS)} (got {self.delay_kind!r})")
        elif self.delay_kind != "synaptic" and self.kernel_count != 1:
            problems.append(f"kernel_count {self.kernel_count} needs delay_kind synaptic (a {self.delay_kind} delay is one per neuron): "
                            "use kernel_count 1")
        if not 0.0 < self.delay_fraction <= 1.0:
            problems.append(f"delay_fraction must be in (0, 1] (got {self.delay_fraction})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1) (got {self.dropout})")
        for name in ("threshold", "time_step_ms", "surrogate_alpha"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)})")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    def _type_problems(self) -> list[str]:
        """Each field's type: ints are ints (not bool, str or float), floats finite numbers."""
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_FIELDS:
                ok = isinstance(value, int) and not isinstance(value, bool)
                want = "an integer"
            elif f.name in _BOOL_FIELDS:
                ok, want = isinstance(value, bool), "true or false"
            elif f.name == "delay_kind":
                ok, want = isinstance(value, str), "a string"
            else:
                if value is None and f.name == "synaptic_tau":
                    continue
                ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                want = "a finite number" + (" or None" if f.name == "synaptic_tau" else "")
            if not ok:
                problems.append(f"{f.name} must be {want} (got {value!r})")
        return problems

    @property
    def right_padding(self) -> int:
        return (self.max_delay - 1) // 2

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer, input first: ``[input, hidden..., output]``."""
        return [self.input_size] + [self.hidden_size] * self.hidden_layers + [self.output_size]

    def output_steps(self, input_steps: int) -> int:
        """Length of the readout voltage sequence for ``input_steps`` input steps."""
        return input_steps + (self.hidden_layers + 1) * self.right_padding

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown config keys {unknown}; was it written by a newer delaysnn?")
        missing = sorted({"input_size", "output_size"} - set(data))
        if missing:
            raise CheckpointError(f"{source}: config lacks {missing}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: {err}") from err


DELAY_KINDS = tuple(kind.value for kind in DelayKind)
_INT_FIELDS = frozenset({"input_size", "output_size", "hidden_size", "hidden_layers", "max_delay", "kernel_count"})
_BOOL_FIELDS = frozenset({"batchnorm", "truncate_layers"})

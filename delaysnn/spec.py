"""The deployment recipe as one type: :class:`DeploySpec`, the grids a network is trained through
and deployed on (the weight grid, the delay grid, pruning), with every rule about it
(:meth:`DeploySpec.validate`), its checkpoint-metadata codec (:meth:`DeploySpec.to_meta`,
:meth:`DeploySpec.from_meta`) and its label for reports; and :class:`FineTuning`, the recipe
``train --init`` uses to fine-tune a checkpoint through those grids.

A core module beside ``errors`` and ``constants``: it imports no other package of delaysnn (the
grids' ranges are constants, which :mod:`delaysnn.quantization.grids` uses too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from .errors import OptionError

WEIGHT_KINDS = ("fixed", "binary", "ternary")
DEFAULT_WEIGHT_BITS = 8  # a fixed-point grid whose bits were not given (nor trained through)


@dataclass(frozen=True)
class DeploySpec:
    """A weight grid (``fixed`` with ``weight_bits``, ``binary`` or ``ternary``), a delay grid
    (``delay_bits``; ``delay_grid`` "step" or "cap") and pruning (``prune`` fraction; ``prune_scope``
    "layer" or "global"). None is "not given": the default, or (:meth:`over`) what a checkpoint
    was trained through; :meth:`resolved` fills in the defaults."""

    weights: str = "fixed"
    weight_bits: int | None = None  # fixed weights only; None: 8, or the trained grid
    delay_bits: int | None = None  # each layer's delays take at most 2**delay_bits values
    delay_grid: str | None = None  # None: "step" (per-layer step s, delays s*k); "cap": delays <= 2**bits - 1
    prune: float | None = None  # fraction of synapses removed by magnitude
    prune_scope: str | None = None  # None: "layer" (the fraction of each layer); "global": of the whole network

    @classmethod
    def from_flags(cls, weight_bits: int | None = None, binary: bool = False, ternary: bool = False, delay_bits: int | None = None,
                   delay_grid: str | None = None, prune: float | None = None, prune_scope: str | None = None) -> DeploySpec:
        """The spec of the command-line flags (``--weight-bits``/``--qat BITS``, ``--binary``,
        ``--ternary``...); both flags are an :class:`OptionError` (a bit width with one of them:
        :meth:`validate`'s)."""
        if binary and ternary:
            raise OptionError("--binary and --ternary exclude each other: pick one")
        weights = "binary" if binary else "ternary" if ternary else "fixed"
        return cls(weights, weight_bits, delay_bits, delay_grid, prune, prune_scope)

    @property
    def binary(self) -> bool:
        return self.weights == "binary"

    @property
    def ternary(self) -> bool:
        return self.weights == "ternary"

    @property
    def weight_grid_given(self) -> bool:
        """Whether the weight grid was chosen (bits, binary or ternary), not left to the default."""
        return self.weights != "fixed" or self.weight_bits is not None

    @property
    def constrained(self) -> bool:
        """Whether any grid or pruning was chosen: what fine-tuning trains through."""
        return self.weight_grid_given or self.delay_bits is not None or self.prune is not None

    def validate(self, training: bool = False) -> DeploySpec:
        """Every rule about the recipe itself, as one-line :class:`OptionError`s naming the option;
        ``training``: also what training through it needs (delay bits within Loihi 2's limit, so
        that ``export --target loihi`` takes the result). Returns the spec."""
        from .constants import DELAY_BITS_MAX, DELAY_GRID_MODES, DELAYDENSE_DELAY_BITS, PRUNE_SCOPES

        if self.weights not in WEIGHT_KINDS:
            raise OptionError(f"weight grid {self.weights!r} unknown: use one of {', '.join(WEIGHT_KINDS)}")
        if self.weights != "fixed" and self.weight_bits is not None:
            raise OptionError(f"--weight-bits {self.weight_bits} and --{self.weights} are two weight grids: pick one "
                              f"(--{self.weights} weights take no bit width)")
        if self.weight_bits is not None and not _is_int(self.weight_bits, 1, 8):
            raise OptionError(f"--weight-bits must be an integer 1..8 (got {self.weight_bits!r}); or use --binary or --ternary")
        if self.delay_grid is not None and self.delay_bits is None:
            raise OptionError("--delay-grid needs --delay-bits B (the number of delay bits)")
        if self.delay_bits is not None and not _is_int(self.delay_bits, 1, DELAY_BITS_MAX):
            raise OptionError(f"--delay-bits must be an integer 1..{DELAY_BITS_MAX} (got {self.delay_bits!r}); Loihi 2 delays need at most 6")
        if self.delay_grid not in (None, *DELAY_GRID_MODES):
            raise OptionError(f"--delay-grid {self.delay_grid!r} unknown: use one of {', '.join(DELAY_GRID_MODES)}")
        if training and self.delay_bits is not None and self.delay_bits > DELAYDENSE_DELAY_BITS:
            raise OptionError(
                f"--delay-bits {self.delay_bits}: Loihi 2 delays take at most {DELAYDENSE_DELAY_BITS} bits (delaysnn.constants."
                f"DELAYDENSE_DELAY_BITS), so export --target loihi would refuse the result; pass --delay-bits {DELAYDENSE_DELAY_BITS} or less"
            )
        if self.prune_scope is not None and self.prune is None:
            raise OptionError("--prune-scope needs --prune FRACTION")
        if self.prune is not None and (isinstance(self.prune, bool) or not isinstance(self.prune, int | float) or not 0 <= self.prune < 1):
            raise OptionError(f"--prune must be a number in [0, 1) (got {self.prune!r}); 0.8 removes 80 % of the synapses")
        if self.prune_scope not in (None, *PRUNE_SCOPES):
            raise OptionError(f"--prune-scope {self.prune_scope!r} unknown: use one of {', '.join(PRUNE_SCOPES)}")
        return self

    def over(self, trained: DeploySpec) -> DeploySpec:
        """This spec completed by ``trained`` (what a checkpoint was fine-tuned through): each group
        (weight grid; delay bits; pruning) left unset here takes the trained one, with its own
        grid or scope unless this spec names one."""
        out = self
        if not self.weight_grid_given:
            out = replace(out, weights=trained.weights, weight_bits=trained.weight_bits)
        if self.delay_bits is None and trained.delay_bits is not None:
            out = replace(out, delay_bits=trained.delay_bits, delay_grid=self.delay_grid or trained.delay_grid)
        if self.prune is None and trained.prune is not None:
            out = replace(out, prune=trained.prune, prune_scope=self.prune_scope or trained.prune_scope)
        return out

    def resolved(self) -> DeploySpec:
        """The defaults filled in: 8-bit fixed weights, the step delay grid, per-layer pruning."""
        bits = DEFAULT_WEIGHT_BITS if self.weights == "fixed" and self.weight_bits is None else self.weight_bits
        return replace(self, weight_bits=bits, delay_grid=self.delay_grid or "step", prune_scope=self.prune_scope or "layer")

    def quantize_kwargs(self) -> dict[str, Any]:
        """The grids as ``delaysnn.quantize``'s keyword arguments (defaults filled in; binary and
        ternary weights ignore ``weight_bits``, which the quantizer takes as an int all the same)."""
        r = self.resolved()
        return dict(weight_bits=r.weight_bits or DEFAULT_WEIGHT_BITS, binary=r.binary, ternary=r.ternary, delay_bits=r.delay_bits, delay_grid=r.delay_grid,
                    prune=r.prune, prune_scope=r.prune_scope)

    def to_meta(self) -> dict[str, Any]:
        """The checkpoint-metadata record (and the IR's): ``qat`` ("4", "binary", "ternary"),
        ``delay_bits`` with ``delay_grid``, ``prune`` with ``prune_scope``; only what was set."""
        meta: dict[str, Any] = {}
        if self.weight_grid_given:
            meta["qat"] = self.weights if self.weights != "fixed" else str(self.weight_bits)
        if self.delay_bits is not None:
            meta.update(delay_bits=self.delay_bits, delay_grid=self.delay_grid or "step")
        if self.prune is not None:
            meta.update(prune=self.prune, prune_scope=self.prune_scope or "layer")
        return meta

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> DeploySpec:
        """The spec a checkpoint records (:meth:`to_meta`; checkpoints without QAT record none of it,
        older ones at most ``qat``): what ``quantize`` deploys it on unless told otherwise."""
        qat = meta.get("qat")
        weights, bits = "fixed", None
        if qat in ("binary", "ternary"):
            weights = qat
        elif isinstance(qat, str) and qat.isdigit():
            bits = int(qat)
        delay_bits = meta.get("delay_bits")
        prune = meta.get("prune")
        return cls(
            weights, bits,
            delay_bits=None if delay_bits is None else int(delay_bits),
            delay_grid=None if delay_bits is None else str(meta.get("delay_grid", "step")),
            prune=None if prune is None else float(prune),
            prune_scope=None if prune is None else str(meta.get("prune_scope", "layer")),
        )

    @property
    def label(self) -> str:
        """For reports, e.g. "4-bit, 3-bit step delays, 80 % pruned (layer)"."""
        r = self.resolved()
        parts = [f"{r.weight_bits}-bit" if r.weights == "fixed" else r.weights]
        if r.delay_bits is not None:
            parts.append(f"{r.delay_bits}-bit {r.delay_grid} delays")
        if r.prune is not None:
            parts.append(f"{100 * r.prune:g} % pruned ({r.prune_scope})")
        return ", ".join(parts)


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# ``train --init M`` through a grid (bench/binary_qat.py's kd10d-drop1, bench/speech.py's QAT_RECIPE):
# the plain recipe (5 epochs, BatchNorm statistics updating, the float model's dropout 0.4, delays
# fixed) lost 11.5 points with ternary weights and 3-bit delays on the spoken digits
FINE_TUNING_DROPOUT = 0.1  # the float model's 0.4 underfits a constrained network
FINE_TUNING_LR_POS = 10  # x lr: positions at 100 x lr (training from scratch) undo a trained model's delays
COARSE_EPOCHS, FINE_EPOCHS = 10, 5  # binary/ternary weights or pruning, bench/speech.py's --binary-qat-epochs; else its --qat-epochs


@dataclass(frozen=True)
class FineTuning:
    """How ``train --init`` fine-tunes: None is "not given" (the recipe's default, :meth:`resolve`)."""

    distill: str | None = None  # the teacher checkpoint
    no_distill: bool = False
    freeze_bn_stats: bool | None = None
    dropout: float | None = None
    learn_delays: bool | None = None
    lr_pos: float | None = None  # None: FINE_TUNING_LR_POS x lr
    epochs: int | None = None

    def resolve(self, spec: DeploySpec, init: str | os.PathLike, no_delays: bool = False) -> tuple[FineTuning, str | None]:
        """The settings a fine-tuning run from ``init`` through ``spec`` uses, and its one-line header
        (None where ``spec`` constrains nothing: then only what was given applies, as before)."""
        if not spec.constrained:
            learn = bool(self.learn_delays) and not no_delays
            return replace(self, freeze_bn_stats=bool(self.freeze_bn_stats), learn_delays=learn), None
        given = {name for name in ("distill", "freeze_bn_stats", "dropout", "learn_delays", "epochs") if getattr(self, name) is not None}
        given |= {"distill"} if self.no_distill else set()
        given |= {"learn_delays"} if self.lr_pos is not None else set()
        coarse = spec.weights != "fixed" or spec.prune is not None
        out = FineTuning(
            distill=None if self.no_distill else self.distill or os.fspath(init),
            freeze_bn_stats=True if self.freeze_bn_stats is None else self.freeze_bn_stats,
            dropout=FINE_TUNING_DROPOUT if self.dropout is None else self.dropout,
            learn_delays=(not no_delays) if self.learn_delays is None else self.learn_delays,
            lr_pos=self.lr_pos,
            epochs=self.epochs or (COARSE_EPOCHS if coarse else FINE_EPOCHS),
        )
        return out, out.header(spec, given)

    def train_options(self, lr: float, fine_tuning: bool = True) -> dict[str, Any]:
        """These settings as ``TrainOptions`` keywords, for a run at learning rate ``lr``: resolved ones
        (:meth:`resolve`), whose learning positions move at ``FINE_TUNING_LR_POS`` x lr unless
        ``lr_pos`` was given; with ``fine_tuning=False``, a fresh model's (its positions at
        TrainOptions' 100 x lr, its dropout already in its config)."""
        learn = bool(self.learn_delays)
        return dict(learn_delays=learn, lr_pos=self.lr_pos or (FINE_TUNING_LR_POS * lr if fine_tuning and learn else None),
                    freeze_bn_stats=bool(self.freeze_bn_stats), distill=self.distill, dropout=self.dropout if fine_tuning else None)

    def header(self, spec: DeploySpec, given: set[str]) -> str:
        parts = [
            f"distilled from {self.distill}" if self.distill else "not distilled",
            f"BatchNorm statistics {'frozen' if self.freeze_bn_stats else 'updating'}",
            f"dropout {self.dropout:g}",
            ("positions fixed" if not self.learn_delays else
             f"positions learning at lr {self.lr_pos:g}" if self.lr_pos else f"positions learning at {FINE_TUNING_LR_POS} x lr"),
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}",
        ]
        defaults = [p for p, name in zip(parts, ("distill", "freeze_bn_stats", "dropout", "learn_delays", "epochs")) if name not in given]
        told = [p for p in parts if p not in defaults]
        why = f"defaults for {spec.label}" if defaults else "all given"
        if told:
            why += f"; given: {', '.join(told)}"
        off = "--no-distill, --no-freeze-bn-stats, --dropout P, --no-learn-delays, --epochs N"
        return f"fine-tuning recipe: {', '.join(parts)} ({why}; change with {off})"

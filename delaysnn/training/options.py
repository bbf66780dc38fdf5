"""What a training run is asked for: :class:`TrainOptions` (the recipe's grids as one
:class:`~delaysnn.spec.DeploySpec`, or field by field), the fingerprint a resume must match, and
the checkpoint-metadata codec of the grids (:func:`deployment_settings`, :func:`quantize_defaults`).

Quantization-aware training trains through the grids ``quantize`` deploys (:mod:`delaysnn.quantization.grids`):
``qat_bits``/``qat_binary``/``qat_ternary`` the weight grid of the BatchNorm-folded weights,
``delay_bits``/``delay_grid`` the per-layer delay grid, ``prune`` magnitude pruning with fixed masks
(:func:`delaysnn.training.trainer.prune_model`); ``distill`` a teacher checkpoint
(:func:`delaysnn.training.trainer.distill_loss`).
"""

from __future__ import annotations

import os
from dataclasses import InitVar, dataclass, field
from typing import Any

from ..errors import DelaysnnError
from ..spec import DeploySpec
from .runs import TrainResult


@dataclass
class TrainOptions:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    lr_pos: float | None = None  # default: 100 x lr (SNN-delays)
    weight_decay: float = 1e-5
    learn_delays: bool = True  # False: delays stay where they are (e.g. fixed at 0)
    seed: int = 0
    device: str = "cpu"
    qat_bits: int | None = None  # quantization-aware training: weight bits (1..8)
    qat_binary: bool = False
    qat_ternary: bool = False  # TWN weights {-1, 0, +1} x a per-layer scale
    delay_bits: int | None = None  # QAT through the delay grid: at most 2**delay_bits delays per layer
    delay_grid: str = "step"  # "step" (per-layer step s, delays s*k) or "cap" (delays <= 2**bits - 1)
    prune: float | None = None  # fraction of synapses pruned by magnitude (masks from the initial model)
    prune_scope: str = "layer"  # "layer": the fraction in every layer; "global": over all layers together
    # BatchNorm normalizes with its running statistics and leaves them alone (the deployed, folded
    # computation); binary/ternary QAT needs it for long runs: see FREEZE_NOTE
    freeze_bn_stats: bool = False
    # knowledge distillation (Hinton et al. 2015): a teacher checkpoint (e.g. the float model a
    # QAT run starts from); the loss becomes (1 - w) * CE + w * T^2 * KL(teacher || student) of
    # the class scores softened by T (see distill_loss)
    distill: str | os.PathLike | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    # hidden-layer dropout while training (None: the model's own, from its config); fine-tuning
    # a checkpoint through a coarse grid wants less than the float model's 0.4, which underfits
    dropout: float | None = None
    amp: str | None = None  # "bf16": forward and loss under torch.autocast(bfloat16), on any device
    progress: bool = True  # a bar on a terminal, else one line per epoch on stderr
    desc: str = "train"
    state_dir: str | os.PathLike | None = None  # write a resumable state here after every epoch
    keep: int = 2  # states kept in state_dir (the newest)
    resume: bool = False  # continue from the newest state in state_dir (a fresh start if none)
    metrics_path: str | os.PathLike | None = None  # JSONL, one object per epoch (runs.METRIC_FIELDS)
    run_info: dict[str, Any] = field(default_factory=dict)  # more settings a resume must match (task...)
    # the grids and pruning as one DeploySpec (delaysnn.spec): it sets qat_*/delay_*/prune* above,
    # which stay the keyword spelling of older callers and the resume fingerprint's keys
    spec: InitVar[DeploySpec | None] = None

    def __post_init__(self, spec: DeploySpec | None) -> None:
        if spec is not None:
            self._take_spec(spec)
        if self.epochs < 1:
            raise DelaysnnError(f"--epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            raise DelaysnnError(f"--batch-size must be >= 1 (got {self.batch_size})")
        self.deploy_spec.validate()
        if self.keep < 1:
            raise DelaysnnError(f"--keep must be >= 1 (got {self.keep})")
        if self.resume and self.state_dir is None:
            raise DelaysnnError("resume=True needs state_dir (the directory the interrupted run wrote its states to)")
        if self.amp not in (None, "bf16"):
            raise DelaysnnError(f"--amp must be bf16 (got {self.amp!r})")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise DelaysnnError(f"--distill-weight must be in [0, 1] (got {self.distill_weight})")
        if not self.distill_temperature > 0:
            raise DelaysnnError(f"--distill-temperature must be > 0 (got {self.distill_temperature})")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise DelaysnnError(f"--dropout must be in [0, 1) (got {self.dropout})")
        if self.distill is not None:  # a str: the fingerprint goes into states loaded with weights_only
            self.distill = os.fspath(self.distill)

    def _take_spec(self, spec: DeploySpec) -> None:
        if any(getattr(self, k) != default for k, default in _SPEC_FIELDS.items()):
            raise DelaysnnError("TrainOptions takes the grids either as spec= or as qat_*/delay_*/prune* keywords, not both")
        self.qat_bits = spec.weight_bits if spec.weights == "fixed" else None
        self.qat_binary, self.qat_ternary = spec.binary, spec.ternary
        self.delay_bits, self.delay_grid = spec.delay_bits, spec.delay_grid or "step"
        self.prune, self.prune_scope = spec.prune, spec.prune_scope or "layer"

    @property
    def deploy_spec(self) -> DeploySpec:
        """The grids and pruning QAT trains through (what the checkpoint records, :func:`deployment_settings`)."""
        if (self.qat_bits is not None) + self.qat_binary + self.qat_ternary > 1:
            raise DelaysnnError("--qat takes one of a bit width, 'binary' or 'ternary', not several")
        return DeploySpec.from_flags(
            self.qat_bits, self.qat_binary, self.qat_ternary, self.delay_bits,
            # the defaults stand for "not given" (a grid without bits is no rule broken here)
            None if self.delay_bits is None and self.delay_grid == "step" else self.delay_grid,
            self.prune, None if self.prune is None and self.prune_scope == "layer" else self.prune_scope,
        )

    def fingerprint(self) -> dict[str, Any]:
        """The options that shape the trajectory (a resume must match them; the device may differ)."""
        keys = ("epochs", "batch_size", "lr", "lr_pos", "weight_decay", "learn_delays", "seed", "qat_bits", "qat_binary")
        # newer options only when set, so states written before they existed still resume
        extra = {k: getattr(self, k) for k, off in _FINGERPRINT_EXTRAS.items() if getattr(self, k) != off}
        return {**{k: getattr(self, k) for k in keys}, **extra, **self.run_info}


# option -> its default; a default value is left out of the fingerprint
_FINGERPRINT_EXTRAS = {"qat_ternary": False, "delay_bits": None, "delay_grid": "step", "prune": None, "prune_scope": "layer",
                       "freeze_bn_stats": False, "distill": None, "distill_weight": 0.5, "distill_temperature": 2.0, "dropout": None}
_SPEC_FIELDS = {"qat_bits": None, "qat_binary": False, "qat_ternary": False, "delay_bits": None, "delay_grid": "step", "prune": None,
                "prune_scope": "layer"}  # TrainOptions' spelling of a DeploySpec, and its defaults

# Why binary (and ternary) QAT with training-mode BatchNorm diverges (issue 11): the quantizer
# folds the BN gain g = gamma / sqrt(running_var) into each row and binarizes the layer with one
# scale, so the weights QAT trains with are sign(W g) * scale / g: a row's magnitude is ~1/g.
# The row's pre-activation variance is then ~ scale^2 V / g^2 = scale^2 V running_var / gamma^2,
# and each step running_var moves towards it: it is multiplied by 1 - m + m scale^2 V / gamma^2
# (m the BN momentum). No fixed point unless gamma = scale sqrt(V): rows whose gamma is below it
# grow geometrically to inf (fixed point weights round a tiny W g to 0 instead and stay bounded).
# Frozen statistics break the loop: g is then fixed, and training sees what is deployed.
FREEZE_NOTE = "binary/ternary QAT: BatchNorm running variances grow geometrically; train with --freeze-bn-stats"


def deployment_settings(opts: TrainOptions) -> dict[str, Any]:
    """The QAT settings a checkpoint records in its metadata (``DeploySpec.to_meta``), so that
    ``quantize``/``export`` deploy on the grids it was trained on (:func:`quantize_defaults`)."""
    return opts.deploy_spec.to_meta()


def quantize_defaults(meta: dict[str, Any]) -> dict[str, Any]:
    """``delaysnn.quantize`` keyword arguments for the grids a checkpoint's metadata records
    (``DeploySpec.from_meta``); only those it records, so empty for a checkpoint trained without
    QAT. Explicit command-line options override these."""
    spec = DeploySpec.from_meta(meta)
    kwargs = spec.quantize_kwargs() if spec.constrained else {}
    # only the groups recorded: the quantizer's own defaults stand for the rest
    keep = {"weight_bits": spec.weights == "fixed" and spec.weight_grid_given, "binary": spec.binary, "ternary": spec.ternary,
            "delay_bits": spec.delay_bits is not None, "delay_grid": spec.delay_bits is not None,
            "prune": spec.prune is not None, "prune_scope": spec.prune is not None}
    return {k: v for k, v in kwargs.items() if keep[k]}


def run_metadata(opts: TrainOptions, result: TrainResult, *, task: str, input_max_count: int, dropout: float,
                 init: str | os.PathLike | None = None, val_split: str | None = None) -> dict[str, Any]:
    """What the checkpoint of a ``delaysnn train`` run records of it: the task, epochs, final test
    accuracy, seed and the training split's largest input count (the graded input's bit width when
    quantizing); the grids it trained through (:func:`deployment_settings`); from ``init``, how it
    was fine-tuned (the recipe as it ran, ``dropout`` the model's); the selected epoch; and how it
    was trained (``result.setup``: world size, batches, device, backend, amp)."""
    meta: dict[str, Any] = {"task": task, "epochs": opts.epochs, "test_acc": result.final_test_acc, "seed": opts.seed,
                            "input_max_count": input_max_count}
    meta.update(deployment_settings(opts))  # qat, delay_bits/delay_grid, prune/prune_scope
    if init:
        meta["fine_tuning"] = {"init": os.fspath(init), "distill": opts.distill, "freeze_bn_stats": opts.freeze_bn_stats,
                               "dropout": dropout, "learn_delays": opts.learn_delays, "lr_pos": opts.lr_pos}
    if result.selected_epoch is not None:
        meta.update(selected_by="val_acc", selected_epoch=result.selected_epoch, val_split=val_split,
                    val_acc=result.val_acc[result.selected_epoch - 1], last_epoch_test_acc=result.test_acc[-1])
    meta.update(result.setup)
    return meta

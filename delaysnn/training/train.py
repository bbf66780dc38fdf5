"""Training with the SNN-delays recipe.

- Adam on weights and BatchNorm (one-cycle schedule, max lr = 5 x lr), Adam on positions with
  its own learning rate (100 x the weights' lr) and a cosine schedule;
- sigma of the Gaussian DCLS kernels decays exponentially from ``max_delay // 2`` to 0.23
  over the first quarter of the epochs; positions are clamped after every step;
- at the end positions are rounded (the delays become integers) and sigma is set to 0;
- evaluation always uses hard (rounded) delays.

Quantization-aware training trains through the grids ``quantize`` deploys (:mod:`delaysnn.quantization.grids`),
given as one ``TrainOptions(spec=DeploySpec(...))`` (:mod:`delaysnn.spec`) or field by field:
``qat_bits``/``qat_binary``/``qat_ternary`` the weight grid of the BatchNorm-folded weights,
``delay_bits``/``delay_grid`` the per-layer delay grid (positions snap to it in the forward pass,
straight-through gradient). ``prune`` computes magnitude-pruning masks once, on the BN-folded
weights of the model ``train`` is given (the matrices the quantizer prunes), and holds the
pruned weights at exactly 0, so the checkpoint's zeros are the synapses ``quantize --prune``
drops (see :func:`prune_model`). :func:`deployment_settings` is what the checkpoint records.
``distill`` adds knowledge distillation from a teacher checkpoint (:func:`distill_loss`): with
frozen BatchNorm statistics, the recipe that brings binary QAT closest to float (``bench/binary_qat.py``).

With ``TrainOptions.state_dir`` a resumable state is written after every epoch and
``resume=True`` continues from the newest one, ending bit-identical (on CPU) to a run never
interrupted; with a validation split the model of the best validation epoch is returned
(:mod:`delaysnn.training.runs`). Off a terminal, progress is one line per epoch on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.datasets import SpikeDataset
from ..errors import DataError, DelaysnnError
from ..model import DelaySNN, class_scores, predict
from ..spec import DeploySpec
from . import distributed

SIGMA_FINAL = 0.23  # SNN-delays decays sigma to 0.23, then rounds


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


def distill_loss(scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-sample distillation loss ``T^2 * KL(softmax(t / T) || softmax(s / T))`` of the class
    scores (:func:`model.class_scores`, which the cross-entropy takes as logits too), ``[batch]``.
    T^2 keeps its gradient on the cross-entropy's scale whatever T (Hinton et al. 2015)."""
    log_p = F.log_softmax(scores / temperature, dim=-1)
    log_q = F.log_softmax(teacher_scores.detach() / temperature, dim=-1)
    return (log_q.exp() * (log_q - log_p)).sum(-1) * temperature**2


def load_teacher(path: str | os.PathLike, model: DelaySNN, device: torch.device) -> DelaySNN:
    """The distillation teacher: the checkpoint at ``path`` in eval mode (what it deploys: hard
    delays, BatchNorm's running statistics, no dropout), frozen, on ``device``."""
    from ..model.checkpoint import load_checkpoint

    teacher = load_checkpoint(path)
    mine, theirs = model.cfg, teacher.cfg
    if (theirs.input_size, theirs.output_size) != (mine.input_size, mine.output_size):
        raise DelaysnnError(
            f"{path}: --distill teacher has {theirs.input_size} inputs and {theirs.output_size} classes, the model "
            f"{mine.input_size} and {mine.output_size}; distill from a model trained on the same task"
        )
    teacher.requires_grad_(False)
    return teacher.to(device).eval()


def prune_model(model: DelaySNN, fraction: float, scope: str = "layer") -> list[torch.Tensor]:
    """Prune ``model`` in place by magnitude and return the keep-masks (``[out, in]`` per synapse
    layer): ``grids.prune_masks`` on the BatchNorm-folded weights (``folded.fold_model``, the
    matrices ``quantize --prune`` ranks), so quantizing the fine-tuned model with the same
    fraction drops the same synapses: the pruned ones are exactly 0, the smallest magnitudes.
    Not exact only where a kept synapse ends at exactly 0 too (a row whose BN gain is 0), or
    where ``global`` scope kept a layer's largest synapse only so that the layer is not empty
    and fine-tuning grew it past the smallest kept synapse of another layer: ``quantize
    --prune`` then drops that one instead (without ``--prune`` quantize keeps all non-zeros)."""
    from ..model.fold import fold_model
    from ..quantization.grids import prune_masks

    masks = prune_masks([torch.from_numpy(layer.weight) for layer in fold_model(model)], fraction, scope)
    model.set_prune_masks(masks)
    return masks


@dataclass
class TrainResult:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the metrics log, one row per epoch (runs.METRIC_FIELDS)
    selected_epoch: int | None = None  # 1-based; the best validation epoch, whose model train returns
    resumed_from: int | None = None  # epochs the resumed state had finished
    setup: dict[str, Any] = field(default_factory=dict)  # how it was trained: world_size, batches, device, backend

    def series(self, key: str) -> list[float]:
        """One metric per epoch (a ``runs.METRIC_FIELDS`` key), read from the rows, the one record;
        epochs without that split are skipped."""
        return [row[key] for row in self.rows if row.get(key) is not None]

    train_loss = property(lambda self: self.series("loss"), doc="Mean training loss per epoch.")
    train_acc = property(lambda self: self.series("train_acc"), doc="Training accuracy per epoch.")
    val_acc = property(lambda self: self.series("val_acc"), doc="Validation accuracy per epoch (empty without a validation split).")
    test_acc = property(lambda self: self.series("test_acc"), doc="Test accuracy per epoch (empty without a test split).")

    @property
    def final_test_acc(self) -> float:
        """Test accuracy of the model ``train`` returned (the selected epoch's, with validation)."""
        test = self.test_acc
        if not test:
            return float("nan")
        return test[self.selected_epoch - 1] if self.selected_epoch else test[-1]

    def to_state(self) -> dict[str, Any]:
        return {"rows": self.rows}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrainResult:
        return cls(rows=[dict(row) for row in state["rows"]])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush subnormal floats to zero while training.

    Once sigma has decayed, the Gaussian DCLS kernels hold taps like exp(-300) that are
    subnormal in float32; CPUs compute with those many times slower (conv1d 5.7x measured on the
    SHD-shaped network). Flushed they are 0, which changes a kernel tap by less than 1.2e-38.
    torch has no getter for the flag, so it is restored to torch's default (off).
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _epoch_batches(data: SpikeDataset, batch_size: int, gen: torch.Generator, world: distributed.World):
    """``(x, y, global batch size)``: this rank's slice of each global batch of one permutation."""
    for idx in data.batch_indices(batch_size, shuffle=True, generator=gen):
        mine = idx if world.size == 1 else distributed.shard(idx, world)
        yield data.x[mine].float(), data.y[mine], len(idx)


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DelaysnnError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise DelaysnnError(f"--device {device!r} is not a torch device; use cpu or cuda") from err


@torch.no_grad()
def evaluate(model: DelaySNN, data: SpikeDataset, batch_size: int = 256, device: str | torch.device = "cpu") -> float:
    """Accuracy with hard (rounded) delays."""
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in data.batches(batch_size):
        v = model(x.to(device))
        correct += int((predict(v).cpu() == y).sum())
    model.train(was_training)
    return correct / max(len(data), 1)


def train(
    model: DelaySNN,
    train_set: SpikeDataset,
    test_set: SpikeDataset | None = None,
    opts: TrainOptions | None = None,
    on_epoch: Callable[[int, TrainResult], None] | None = None,
    val_set: SpikeDataset | None = None,
) -> TrainResult:
    """Train ``model`` in place; at the end its delays are rounded to integers.

    With ``val_set`` the model of the epoch with the best validation accuracy (the first of
    equals) is the one left in ``model``: test accuracy never selects. ``opts.state_dir``,
    ``opts.resume`` and ``opts.metrics_path``: see :mod:`delaysnn.training.runs`.
    """
    from . import runs

    opts = opts or TrainOptions()
    for split, what in ((train_set, "training"), (test_set, "test"), (val_set, "validation")):
        if split is not None and len(split) == 0:
            raise DataError(f"{what} split {split.name} has no samples; training or accuracy on it is undefined: give data with samples")
    world = distributed.current()
    distributed.per_rank_batch(opts.batch_size, world.size)
    device = resolve_device(distributed.rank_device(opts.device, world.local_rank) if world.size > 1 else opts.device)
    if train_set.channels != model.cfg.input_size:
        raise DelaysnnError(
            f"dataset {train_set.name} has {train_set.channels} channels, model input_size is {model.cfg.input_size}"
        )
    seed_everything(opts.seed)
    model.to(device)
    model.set_qat(opts.qat_bits, opts.qat_binary, opts.qat_ternary)
    model.set_delay_qat(opts.delay_bits, opts.delay_grid)
    masks = prune_model(model, opts.prune, opts.prune_scope) if opts.prune is not None else None
    model.set_learn_positions(opts.learn_delays)
    model.freeze_bn_stats = opts.freeze_bn_stats
    if opts.dropout is not None:
        model.set_dropout(opts.dropout)  # recorded in the checkpoint's config
    teacher = load_teacher(opts.distill, model, device) if opts.distill is not None else None

    weights = [s.weight for s in model.synapses]
    bn = [p for layer in model.hidden if layer.bn is not None for p in layer.bn.parameters()]
    opt_w = torch.optim.Adam(
        [{"params": weights, "weight_decay": opts.weight_decay}, {"params": bn, "weight_decay": 0.0}], lr=opts.lr
    )
    sched_w = torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=5 * opts.lr, total_steps=opts.epochs)
    optimizers, schedulers = [opt_w], [sched_w]
    if opts.learn_delays:
        opt_p = torch.optim.Adam([s.pos for s in model.synapses], lr=opts.lr_pos or 100 * opts.lr)
        optimizers.append(opt_p)
        schedulers.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt_p, T_max=opts.epochs))
    result = TrainResult()
    gen = torch.Generator().manual_seed(opts.seed)
    sigma0 = model.sigma
    best: dict[str, Any] | None = None  # {"epoch", "val_acc", "state_dict"} of the best validation epoch
    fingerprint = {
        **opts.fingerprint(),
        "config": model.cfg.to_dict(),
        "data": [None if d is None else [len(d), d.steps, d.channels, d.n_classes] for d in (train_set, val_set, test_set)],
        **({"amp": opts.amp} if opts.amp else {}),
    }
    setup = {"world_size": world.size, "global_batch": opts.batch_size, "per_rank_batch": opts.batch_size // world.size,
             "device": str(device), "backend": world.backend, "amp": opts.amp}
    main = world.main  # only rank 0 writes states, metrics and progress
    if opts.state_dir is not None:
        if main:
            runs.prepare_state_dir(opts.state_dir)
        found = runs.load_newest_state(opts.state_dir) if opts.resume else None
        if found is None:
            if main:
                runs.clear_states(opts.state_dir)
        else:
            path, state = found
            runs.check_fingerprint(path, state["fingerprint"], fingerprint)
            model.load_state_dict(state["model"])
            if state.get("prune_masks") is not None:  # the masks of the run's initial model
                masks = state["prune_masks"]
                model.set_prune_masks(masks)
            for opt, saved in zip(optimizers, state["optimizers"]):
                opt.load_state_dict(saved)
            for sched, saved in zip(schedulers, state["schedulers"]):
                sched.load_state_dict(saved)
            runs.set_rng_state(state["rng"], gen, device)
            sigma0, best = state["sigma0"], state["best"]
            result = TrainResult.from_state(state["result"])
            result.resumed_from = state["epoch"]
            if opts.metrics_path is not None and main:
                runs.write_metrics(opts.metrics_path, result.rows)
    sigma_epochs = max(opts.epochs // 4, 1)
    alpha = (SIGMA_FINAL / sigma0) ** (1 / sigma_epochs) if opts.learn_delays and sigma0 > SIGMA_FINAL else 1.0

    first = result.resumed_from or 0
    n_batches = math.ceil(len(train_set) / opts.batch_size)
    on_terminal = sys.stderr.isatty()
    forward_trace: Callable[[torch.Tensor], Any] = model.forward_trace  # or DDP around it
    sync_bn: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        sync_bn = distributed.global_batchnorm(model)
        # buffers (BN running statistics, sigma) stay identical by construction: no per-step broadcast
        forward_trace = DistributedDataParallel(distributed.TraceModule(model), broadcast_buffers=False,
                                                device_ids=[device.index] if device.type == "cuda" else None)
    check = distributed.check_dir() if world.size > 1 else None
    steps_checked = 0
    autocast = functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16, enabled=opts.amp == "bf16")
    with flush_denormals(), sync_bn, tqdm(
        total=opts.epochs * n_batches, initial=first * n_batches, desc=opts.desc, disable=not (opts.progress and on_terminal and main),
        leave=False, mininterval=0.2,
    ) as bar:
        for epoch in range(first, opts.epochs):
            t0 = time.perf_counter()
            sigma, lrs = model.sigma, [opt.param_groups[0]["lr"] for opt in optimizers]
            model.train()
            losses, correct, seen = [], 0, 0
            rates = [0.0] * len(model.hidden)
            for x, y, n_global in _epoch_batches(train_set, opts.batch_size, gen, world):
                x, y = x.to(device), y.to(device)
                for opt in optimizers:
                    opt.zero_grad()
                with autocast():
                    v, spikes = forward_trace(x)
                    scores = class_scores(v.float())  # SNN-delays' class scores: sum over time of softmax
                    if world.size == 1:
                        loss = F.cross_entropy(scores, y)
                    else:
                        loss = distributed.cross_entropy_share(scores, y, n_global, world)
                    if teacher is not None:
                        with torch.no_grad():
                            teacher_scores = class_scores(teacher(x).float())
                        kd = distill_loss(scores, teacher_scores, opts.distill_temperature)
                        # the same share of the global mean as the cross-entropy's
                        kd = kd.mean() if world.size == 1 else distributed.mean_share(kd, n_global, world)
                        loss = (1 - opts.distill_weight) * loss + opts.distill_weight * kd
                loss.backward()
                for opt in optimizers:
                    opt.step()
                model.clamp_positions()
                model.apply_prune_masks()  # Adam and weight decay leave 0 at 0; this makes sure
                if check is not None:
                    distributed.assert_same([s.pos for s in model.synapses], f"DCLS positions after step {steps_checked + 1} and the clamp")
                    steps_checked += 1
                losses.append(loss.item() if world.size == 1 else loss.item() / world.size)
                correct += int((scores.detach().argmax(-1) == y).sum())
                seen += len(y)
                rates = [r + float(s.detach().mean()) * len(y) for r, s in zip(rates, spikes)]
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses):.3f}", acc=f"{correct / seen:.2f}")
            if world.size > 1:  # metrics of the global batches: sums over ranks
                totals = distributed.all_reduce_sum(torch.tensor([*losses, correct, seen, *rates], dtype=torch.float64, device=device)).tolist()
                losses, rates = totals[: len(losses)], totals[len(losses) + 2 :]
                correct, seen = int(totals[len(losses)]), int(totals[len(losses) + 1])
            for sched in schedulers:
                sched.step()
            if epoch < sigma_epochs and model.sigma > SIGMA_FINAL:
                model.set_sigma(model.sigma * alpha)
            epoch_loss, train_acc = float(np.mean(losses)), correct / max(seen, 1)
            if not math.isfinite(epoch_loss):  # the weights are NaN from here on: stop, keeping the last good epoch's state and metrics
                hint = f" ({FREEZE_NOTE})" if (opts.qat_binary or opts.qat_ternary) and not opts.freeze_bn_stats else ""
                raise DelaysnnError(f"training diverged at epoch {epoch + 1} (loss {epoch_loss}); lower --lr (it was {opts.lr:g}){hint}")
            val_acc = test_acc = None
            if val_set is not None:
                val_acc = evaluate(model, val_set, device=device)
                if best is None or val_acc > best["val_acc"]:
                    state_dict = {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}
                    best = {"epoch": epoch + 1, "val_acc": val_acc, "state_dict": state_dict}
            if test_set is not None:
                test_acc = evaluate(model, test_set, device=device)
                bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_loss:.3f}", test=f"{test_acc:.2f}")
            row = {
                "epoch": epoch + 1, "loss": epoch_loss, "train_acc": train_acc, "val_acc": val_acc,
                "test_acc": test_acc, "sigma": sigma, "lr": lrs[0], "lr_pos": lrs[1] if len(lrs) > 1 else None,
                "spike_rates": [r / max(seen, 1) for r in rates], "seconds": round(time.perf_counter() - t0, 3),
            }
            result.rows.append(row)
            if opts.state_dir is not None and main:
                runs.save_state(opts.state_dir, epoch + 1, {
                    "fingerprint": fingerprint,
                    "model": {k: t.detach().cpu().clone() for k, t in model.state_dict().items()},
                    "optimizers": [opt.state_dict() for opt in optimizers],
                    "schedulers": [runs.scheduler_state(sched) for sched in schedulers],
                    "rng": runs.rng_state(gen, device),
                    "sigma0": sigma0,
                    "best": best,
                    "result": result.to_state(),
                    **({"prune_masks": [m.cpu() for m in masks]} if masks is not None else {}),
                }, keep=opts.keep)
            if opts.metrics_path is not None and main:
                runs.write_metrics(opts.metrics_path, result.rows)
            if opts.progress and not on_terminal and main:
                sys.stderr.write(progress_line(opts.desc, opts.epochs, row) + "\n")
                sys.stderr.flush()
            if on_epoch is not None:
                on_epoch(epoch, result)
    if best is not None:
        model.load_state_dict(best["state_dict"])
        result.selected_epoch = best["epoch"]
    # eval mode already ran on the rounded positions, so the epoch's test_acc stands for the frozen model
    model.round_positions()
    if check is not None:
        distributed.assert_same([t.float() for t in model.state_dict().values()], "parameters and buffers after training")
        distributed.save_rank_state(model, check, steps_checked)
    model.freeze_bn_stats = False
    model.eval()
    model.to("cpu")
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # a checkpoint of this model could not be loaded back: say so now, not at the next load
        raise DelaysnnError(
            f"training diverged: {', '.join(bad[:3])} hold NaN or infinite values after epoch {opts.epochs}; "
            f"lower --lr or train fewer epochs ({FREEZE_NOTE})"
        )
    result.setup = setup
    return result


def progress_line(desc: str, epochs: int, row: dict[str, Any]) -> str:
    """One line per epoch, for logs (stderr that is not a terminal)."""
    parts = [f"{desc}: epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}", f"acc {row['train_acc']:.3f}"]
    parts += [f"{name} {row[key]:.3f}" for key, name in (("val_acc", "val"), ("test_acc", "test")) if row[key] is not None]
    parts += [f"sigma {row['sigma']:.3g}", f"lr {row['lr']:.3g}", f"{row['seconds']:.1f} s"]
    return ", ".join(parts)

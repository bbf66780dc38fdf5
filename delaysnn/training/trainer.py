"""The training loop in parts (:class:`Trainer`), each of which runs and is tested alone, and the
pieces they use: the distillation loss and its teacher, pruning masks, evaluation with hard delays.

:func:`delaysnn.training.train.train` drives the parts in order; the recipe itself (optimizers,
schedules, sigma) is described there.
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.datasets import SpikeDataset
from ..errors import DataError, DelaysnnError
from ..model import DelaySNN, class_scores, predict
from ..model.delay_kinds import apply_delay_fraction
from . import distributed, runs
from .options import FREEZE_NOTE, TrainOptions
from .runs import TrainResult, progress_line

SIGMA_FINAL = 0.23  # SNN-delays decays sigma to 0.23, then rounds


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


def epoch_batches(data: SpikeDataset, batch_size: int, gen: torch.Generator, world: distributed.World):
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


def _state_dict_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}


@dataclass
class EpochStats:
    """What one epoch's batches add up to: losses, correct predictions, samples seen, and the
    hidden layers' spike counts summed per sample (on one rank, or over all of them: :meth:`summed`)."""

    losses: list[float] = field(default_factory=list)
    correct: int = 0
    seen: int = 0
    rates: list[float] = field(default_factory=list)

    def add(self, loss: float, scores: torch.Tensor, y: torch.Tensor, spikes: list[torch.Tensor]) -> None:
        self.losses.append(loss)
        self.correct += int((scores.detach().argmax(-1) == y).sum())
        self.seen += len(y)
        self.rates = [r + float(s.detach().mean()) * len(y) for r, s in zip(self.rates, spikes)]

    def summed(self, device: torch.device) -> EpochStats:
        """The sums over ranks (the metrics of the global batches)."""
        n = len(self.losses)
        totals = distributed.all_reduce_sum(
            torch.tensor([*self.losses, self.correct, self.seen, *self.rates], dtype=torch.float64, device=device)).tolist()
        return EpochStats(totals[:n], int(totals[n]), int(totals[n + 1]), totals[n + 2 :])


class Trainer:
    """One run of :func:`delaysnn.training.train.train`, in parts:

    - the constructor sets up: checks the splits, seeds, places the model on its device and trains
      it through ``opts``' grids (QAT, the delay grid, pruning masks), BatchNorm statistics frozen or
      not, the dropout, the teacher, the optimizers and their schedules, the resume fingerprint;
    - :meth:`restore`: the state directory through :mod:`runs` (the newest state when resuming);
    - :meth:`step`: one optimizer step on one batch; :meth:`run_epoch`: the batches of an epoch;
    - :meth:`end_epoch`: the schedules, sigma, the divergence check, evaluation, selection: the
      epoch's metrics row; :meth:`checkpoint`: its state and metrics through :mod:`runs`;
    - :meth:`finish`: the selected model, rounded positions, the checks a checkpoint needs;
    - :meth:`run`: all of them in order, with the DDP wrapper (``distributed.data_parallel``).
    """

    def __init__(self, model: DelaySNN, train_set: SpikeDataset, opts: TrainOptions, test_set: SpikeDataset | None = None,
                 val_set: SpikeDataset | None = None):
        for split, what in ((train_set, "training"), (test_set, "test"), (val_set, "validation")):
            if split is not None and len(split) == 0:
                raise DataError(f"{what} split {split.name} has no samples; training or accuracy on it is undefined: give data with samples")
        self.model, self.opts, self.train_set, self.test_set, self.val_set = model, opts, train_set, test_set, val_set
        self.world = world = distributed.current()
        distributed.per_rank_batch(opts.batch_size, world.size)
        self.device = resolve_device(distributed.rank_device(opts.device, world.local_rank) if world.size > 1 else opts.device)
        if train_set.channels != model.cfg.input_size:
            raise DelaysnnError(
                f"dataset {train_set.name} has {train_set.channels} channels, model input_size is {model.cfg.input_size}"
            )
        seed_everything(opts.seed)
        self.masks = self._prepare_model()
        self.teacher = load_teacher(opts.distill, model, self.device) if opts.distill is not None else None
        self.optimizers, self.schedulers = self._optimizers()
        self.result = TrainResult()
        self.gen = torch.Generator().manual_seed(opts.seed)  # the shuffling: its state is part of a resumable state
        self.sigma0 = model.sigma
        self.best: dict[str, Any] | None = None  # {"epoch", "val_acc", "state_dict"} of the best validation epoch
        self.fingerprint = {
            **opts.fingerprint(),
            "config": model.cfg.to_dict(),
            "data": [None if d is None else [len(d), d.steps, d.channels, d.n_classes] for d in (train_set, val_set, test_set)],
            **({"amp": opts.amp} if opts.amp else {}),
        }
        self.setup = {"world_size": world.size, "global_batch": opts.batch_size, "per_rank_batch": opts.batch_size // world.size,
                      "device": str(self.device), "backend": world.backend, "amp": opts.amp}
        self.forward_trace: Callable[[torch.Tensor], Any] = model.forward_trace  # run() puts DDP around it for several ranks
        self.check = distributed.check_dir() if world.size > 1 else None
        self.steps_checked = 0
        self.autocast = functools.partial(torch.autocast, device_type=self.device.type, dtype=torch.bfloat16, enabled=opts.amp == "bf16")

    @property
    def main(self) -> bool:
        """Only rank 0 writes states, metrics and progress."""
        return self.world.main

    def _prepare_model(self) -> list[torch.Tensor] | None:
        """The model on its device, training through the options' grids; the pruning masks, if any."""
        model, opts = self.model, self.opts
        model.to(self.device)
        model.set_qat(opts.qat_bits, opts.qat_binary, opts.qat_ternary)
        model.set_delay_qat(opts.delay_bits, opts.delay_grid)
        masks = prune_model(model, opts.prune, opts.prune_scope) if opts.prune is not None else None
        model.set_learn_positions(opts.learn_delays)
        model.freeze_bn_stats = opts.freeze_bn_stats
        if opts.dropout is not None:
            model.set_dropout(opts.dropout)  # recorded in the checkpoint's config
        return masks

    def _optimizers(self) -> tuple[list[torch.optim.Optimizer], list[Any]]:
        """Adam on weights and BatchNorm (one-cycle), Adam on positions (cosine) when they learn."""
        model, opts = self.model, self.opts
        weights = [s.weight for s in model.synapses]
        bn = [p for layer in model.hidden if layer.bn is not None for p in layer.bn.parameters()]
        opt_w = torch.optim.Adam(
            [{"params": weights, "weight_decay": opts.weight_decay}, {"params": bn, "weight_decay": 0.0}], lr=opts.lr
        )
        optimizers: list[torch.optim.Optimizer] = [opt_w]
        schedulers: list[Any] = [torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=5 * opts.lr, total_steps=opts.epochs)]
        if opts.learn_delays:
            opt_p = torch.optim.Adam([s.pos for s in model.synapses], lr=opts.lr_pos or 100 * opts.lr)
            optimizers.append(opt_p)
            schedulers.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt_p, T_max=opts.epochs))
        return optimizers, schedulers

    def restore(self) -> None:
        """With ``opts.state_dir``: continue from its newest state when resuming (the fingerprint must
        match), else clear the states of an earlier run."""
        opts = self.opts
        if opts.state_dir is None:
            return
        if self.main:
            runs.prepare_state_dir(opts.state_dir)
        found = runs.load_newest_state(opts.state_dir) if opts.resume else None
        if found is None:
            if self.main:
                runs.clear_states(opts.state_dir)
            return
        path, state = found
        runs.check_fingerprint(path, state["fingerprint"], self.fingerprint)
        self.model.load_state_dict(state["model"])
        if state.get("prune_masks") is not None:  # the masks of the run's initial model
            self.masks = state["prune_masks"]
            self.model.set_prune_masks(self.masks)
        for opt, saved in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(saved)
        for sched, saved in zip(self.schedulers, state["schedulers"]):
            sched.load_state_dict(saved)
        runs.set_rng_state(state["rng"], self.gen, self.device)
        self.sigma0, self.best = state["sigma0"], state["best"]
        self.result = TrainResult.from_state(state["result"])
        self.result.resumed_from = state["epoch"]
        if opts.metrics_path is not None and self.main:
            runs.write_metrics(opts.metrics_path, self.result.rows)

    @property
    def sigma_epochs(self) -> int:
        """Sigma decays over the first quarter of the epochs."""
        return max(self.opts.epochs // 4, 1)

    @property
    def sigma_decay(self) -> float:
        """The factor sigma is multiplied by after each of :attr:`sigma_epochs`: from where the run
        started (``sigma0``, kept across a resume) to ``SIGMA_FINAL``; 1 where delays do not learn."""
        if self.opts.learn_delays and self.sigma0 > SIGMA_FINAL:
            return (SIGMA_FINAL / self.sigma0) ** (1 / self.sigma_epochs)
        return 1.0

    def loss(self, scores: torch.Tensor, y: torch.Tensor, x: torch.Tensor, n_global: int) -> torch.Tensor:
        """Cross-entropy of the class scores, mixed with the distillation loss when there is a teacher:
        this rank's share of the global batch's mean (``n_global`` samples)."""
        world, opts = self.world, self.opts
        loss = F.cross_entropy(scores, y) if world.size == 1 else distributed.cross_entropy_share(scores, y, n_global, world)
        if self.teacher is not None:
            with torch.no_grad():
                teacher_scores = class_scores(self.teacher(x).float())
            kd = distill_loss(scores, teacher_scores, opts.distill_temperature)
            # the same share of the global mean as the cross-entropy's
            kd = kd.mean() if world.size == 1 else distributed.mean_share(kd, n_global, world)
            loss = (1 - opts.distill_weight) * loss + opts.distill_weight * kd
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor, n_global: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """One optimizer step on this rank's part ``x``, ``y`` (on the device) of a global batch of
        ``n_global`` samples; returns the loss, the class scores and the hidden layers' spikes."""
        for opt in self.optimizers:
            opt.zero_grad()
        with self.autocast():
            v, spikes = self.forward_trace(x)
            scores = class_scores(v.float())  # SNN-delays' class scores: sum over time of softmax
            loss = self.loss(scores, y, x, n_global)
        loss.backward()
        for opt in self.optimizers:
            opt.step()
        self.model.clamp_positions()
        self.model.apply_prune_masks()  # Adam and weight decay leave 0 at 0; this makes sure
        if self.check is not None:
            distributed.assert_same([s.pos for s in self.model.synapses], f"DCLS positions after step {self.steps_checked + 1} and the clamp")
            self.steps_checked += 1
        return loss, scores, spikes

    def run_epoch(self, epoch: int, bar: Any = None) -> EpochStats:
        """The steps of one epoch (``bar``: a tqdm bar to advance); its statistics over all ranks."""
        world = self.world
        self.model.train()
        stats = EpochStats(rates=[0.0] * len(self.model.hidden))
        for x, y, n_global in epoch_batches(self.train_set, self.opts.batch_size, self.gen, world):
            x, y = x.to(self.device), y.to(self.device)
            loss, scores, spikes = self.step(x, y, n_global)
            stats.add(loss.item() if world.size == 1 else loss.item() / world.size, scores, y, spikes)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(stats.losses):.3f}", acc=f"{stats.correct / stats.seen:.2f}")
        return stats.summed(self.device) if world.size > 1 else stats

    def end_epoch(self, epoch: int, stats: EpochStats, sigma: float, lrs: list[float], seconds_from: float) -> dict[str, Any]:
        """After epoch ``epoch`` (0-based, trained with ``sigma`` and learning rates ``lrs``): step the
        schedules and sigma, refuse a diverged loss, evaluate, keep the best validation model, and
        append the metrics row (:data:`runs.METRIC_FIELDS`), which it returns."""
        model, opts = self.model, self.opts
        for sched in self.schedulers:
            sched.step()
        if epoch < self.sigma_epochs and model.sigma > SIGMA_FINAL:
            model.set_sigma(model.sigma * self.sigma_decay)
        if epoch + 1 == self.sigma_epochs:  # --delay-fraction: pick the delays kept once the schedule ends
            apply_delay_fraction(model)
        epoch_loss, train_acc = float(np.mean(stats.losses)), stats.correct / max(stats.seen, 1)
        if not math.isfinite(epoch_loss):  # the weights are NaN from here on: stop, keeping the last good epoch's state and metrics
            hint = f" ({FREEZE_NOTE})" if (opts.qat_binary or opts.qat_ternary) and not opts.freeze_bn_stats else ""
            raise DelaysnnError(f"training diverged at epoch {epoch + 1} (loss {epoch_loss}); lower --lr (it was {opts.lr:g}){hint}")
        val_acc = test_acc = None
        if self.val_set is not None:
            val_acc = evaluate(model, self.val_set, device=self.device)
            if self.best is None or val_acc > self.best["val_acc"]:
                self.best = {"epoch": epoch + 1, "val_acc": val_acc, "state_dict": _state_dict_copy(model)}
        if self.test_set is not None:
            test_acc = evaluate(model, self.test_set, device=self.device)
        row = {
            "epoch": epoch + 1, "loss": epoch_loss, "train_acc": train_acc, "val_acc": val_acc,
            "test_acc": test_acc, "sigma": sigma, "lr": lrs[0], "lr_pos": lrs[1] if len(lrs) > 1 else None,
            "spike_rates": [r / max(stats.seen, 1) for r in stats.rates], "seconds": round(time.perf_counter() - seconds_from, 3),
        }
        self.result.rows.append(row)
        return row

    def checkpoint(self, epoch: int) -> None:
        """On rank 0: the resumable state after ``epoch`` (1-based) and the metrics log, through :mod:`runs`."""
        opts = self.opts
        if not self.main:
            return
        if opts.state_dir is not None:
            runs.save_state(opts.state_dir, epoch, {
                "fingerprint": self.fingerprint,
                "model": _state_dict_copy(self.model),
                "optimizers": [opt.state_dict() for opt in self.optimizers],
                "schedulers": [runs.scheduler_state(sched) for sched in self.schedulers],
                "rng": runs.rng_state(self.gen, self.device),
                "sigma0": self.sigma0,
                "best": self.best,
                "result": self.result.to_state(),
                **({"prune_masks": [m.cpu() for m in self.masks]} if self.masks is not None else {}),
            }, keep=opts.keep)
        if opts.metrics_path is not None:
            runs.write_metrics(opts.metrics_path, self.result.rows)

    def run(self, on_epoch: Callable[[int, TrainResult], None] | None = None) -> TrainResult:
        """Restore, train the remaining epochs (``on_epoch(epoch, result)`` after each), finish."""
        opts = self.opts
        self.restore()
        first = self.result.resumed_from or 0
        n_batches = math.ceil(len(self.train_set) / opts.batch_size)
        on_terminal = sys.stderr.isatty()
        sync_bn: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if self.world.size > 1:
            self.forward_trace, sync_bn = distributed.data_parallel(self.model, self.device)
        with flush_denormals(), sync_bn, tqdm(
            total=opts.epochs * n_batches, initial=first * n_batches, desc=opts.desc,
            disable=not (opts.progress and on_terminal and self.main), leave=False, mininterval=0.2,
        ) as bar:
            for epoch in range(first, opts.epochs):
                t0 = time.perf_counter()
                sigma, lrs = self.model.sigma, [opt.param_groups[0]["lr"] for opt in self.optimizers]
                stats = self.run_epoch(epoch, bar)
                row = self.end_epoch(epoch, stats, sigma, lrs, t0)
                if row["test_acc"] is not None:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{row['loss']:.3f}", test=f"{row['test_acc']:.2f}")
                self.checkpoint(epoch + 1)
                if opts.progress and not on_terminal and self.main:
                    sys.stderr.write(progress_line(opts.desc, opts.epochs, row) + "\n")
                    sys.stderr.flush()
                if on_epoch is not None:
                    on_epoch(epoch, self.result)
        return self.finish()

    def finish(self) -> TrainResult:
        """Leave the selected epoch's model (the best validation epoch, else the last) with integer
        delays, in eval mode on the CPU; refuse one holding NaN or infinite values."""
        model, result = self.model, self.result
        if self.best is not None:
            model.load_state_dict(self.best["state_dict"])
            result.selected_epoch = self.best["epoch"]
        # eval mode already ran on the rounded positions, so the epoch's test_acc stands for the frozen model
        model.round_positions()
        if self.check is not None:
            distributed.assert_same([t.float() for t in model.state_dict().values()], "parameters and buffers after training")
            distributed.save_rank_state(model, self.check, self.steps_checked)
        model.freeze_bn_stats = False
        model.eval()
        model.to("cpu")
        bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:  # a checkpoint of this model could not be loaded back: say so now, not at the next load
            raise DelaysnnError(
                f"training diverged: {', '.join(bad[:3])} hold NaN or infinite values after epoch {self.opts.epochs}; "
                f"lower --lr or train fewer epochs ({FREEZE_NOTE})"
            )
        result.setup = self.setup
        return result

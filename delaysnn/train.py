"""Training with the SNN-delays recipe.

- Adam on weights and BatchNorm (one-cycle schedule, max lr = 5 x lr), Adam on positions with
  its own learning rate (100 x the weights' lr) and a cosine schedule;
- sigma of the Gaussian DCLS kernels decays exponentially from ``max_delay // 2`` to 0.23
  over the first quarter of the epochs; positions are clamped after every step;
- at the end positions are rounded (the delays become integers) and sigma is set to 0;
- evaluation always uses hard (rounded) delays.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .datasets import SpikeDataset
from .errors import DataError, DelaysnnError
from .model import DelaySNN, class_scores, predict

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
    progress: bool = True
    desc: str = "train"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise DelaysnnError(f"--epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            raise DelaysnnError(f"--batch-size must be >= 1 (got {self.batch_size})")
        if self.qat_bits is not None and not 1 <= self.qat_bits <= 8:
            raise DelaysnnError(f"--qat must be 1..8 or 'binary' (got {self.qat_bits})")


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else float("nan")


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
) -> TrainResult:
    """Train ``model`` in place; at the end its delays are rounded to integers."""
    opts = opts or TrainOptions()
    if len(train_set) == 0:
        raise DataError(f"training split {train_set.name} has no samples; training on it would learn nothing: give data with samples")
    if test_set is not None and len(test_set) == 0:
        raise DataError(f"test split {test_set.name} has no samples; accuracy on it is undefined: give data with samples")
    device = resolve_device(opts.device)
    if train_set.channels != model.cfg.input_size:
        raise DelaysnnError(
            f"dataset {train_set.name} has {train_set.channels} channels, model input_size is {model.cfg.input_size}"
        )
    seed_everything(opts.seed)
    model.to(device)
    model.set_qat(opts.qat_bits, opts.qat_binary)
    model.set_learn_positions(opts.learn_delays)

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
    sigma_epochs = max(opts.epochs // 4, 1)
    sigma0 = model.sigma
    alpha = (SIGMA_FINAL / sigma0) ** (1 / sigma_epochs) if opts.learn_delays and sigma0 > SIGMA_FINAL else 1.0

    result = TrainResult()
    gen = torch.Generator().manual_seed(opts.seed)
    n_batches = math.ceil(len(train_set) / opts.batch_size)
    # Off a terminal (CI logs) redraw rarely, so progress stays readable.
    interval = 0.2 if sys.stderr.isatty() else 15.0
    with flush_denormals(), tqdm(
        total=opts.epochs * n_batches, desc=opts.desc, disable=not opts.progress, leave=False, mininterval=interval
    ) as bar:
        for epoch in range(opts.epochs):
            model.train()
            losses, correct, seen = [], 0, 0
            for x, y in train_set.batches(opts.batch_size, shuffle=True, generator=gen):
                x, y = x.to(device), y.to(device)
                for opt in optimizers:
                    opt.zero_grad()
                scores = class_scores(model(x))  # SNN-delays' class scores: sum over time of softmax
                loss = F.cross_entropy(scores, y)
                loss.backward()
                for opt in optimizers:
                    opt.step()
                model.clamp_positions()
                losses.append(loss.item())
                correct += int((scores.detach().argmax(-1) == y).sum())
                seen += len(y)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses):.3f}", acc=f"{correct / seen:.2f}")
            for sched in schedulers:
                sched.step()
            if epoch < sigma_epochs and model.sigma > SIGMA_FINAL:
                model.set_sigma(model.sigma * alpha)
            result.train_loss.append(float(np.mean(losses)))
            result.train_acc.append(correct / max(seen, 1))
            if test_set is not None:
                result.test_acc.append(evaluate(model, test_set, device=device))
                bar.set_postfix(epoch=epoch + 1, loss=f"{result.train_loss[-1]:.3f}", test=f"{result.test_acc[-1]:.2f}")
            if on_epoch is not None:
                on_epoch(epoch, result)
    # eval mode already ran on the rounded positions, so the last test_acc stands for the frozen model
    model.round_positions()
    model.eval()
    model.to("cpu")
    return result

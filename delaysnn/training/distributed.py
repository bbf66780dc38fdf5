"""Multi-process training on torch's own engine (``torchrun ... -m delaysnn train``).

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_from_env` then joins the
process group (NCCL on CUDA, gloo on CPU) and :func:`train.train` wraps the model in
DistributedDataParallel. What the engine guarantees and what this module adds:

- ``--batch-size`` is the global batch; each rank takes its slice of every global batch of one
  permutation that every rank draws from the same seed, so N ranks see exactly the samples of
  a single process's batches. The learning rate is not rescaled.
- BatchNorm statistics are those of the global batch: torch's SyncBatchNorm refuses CPU
  tensors, so :class:`GlobalBatchNorm1d` all-reduces the per-channel sums instead (autograd
  flows through the all-reduce), on every device.
- DCLS positions are parameters: DDP averages their gradients, every rank applies the same Adam
  step and the same (deterministic) clamp, so they stay identical; ``DELAYSNN_DDP_CHECK=DIR``
  checks that after every step and writes each rank's final parameters to ``DIR``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DelaysnnError

CHECK_ENV = "DELAYSNN_DDP_CHECK"


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True in a process torchrun started with more than one rank in all."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_device(device: str, local_rank: int) -> str:
    """``cuda`` under torchrun means this process's GPU (``cuda:LOCAL_RANK``)."""
    return f"cuda:{local_rank}" if device == "cuda" else device


def init_from_env(device: str) -> World:
    """Join the process group torchrun describes (a no-op for one process)."""
    if dist.is_initialized():
        return current()
    if not launched():
        return World()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise DelaysnnError(f"--device {device}: CUDA is not available on this machine; use --device cpu (gloo)")
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return current()


def current() -> World:
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_backend())


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if current().size > 1:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (in place; ``t`` itself for one process)."""
    if current().size > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def per_rank_batch(batch_size: int, world: int) -> int:
    if batch_size % world:
        raise DelaysnnError(f"--batch-size {batch_size} is the global batch and must divide by the {world} ranks; use a multiple of {world}")
    return batch_size // world


def shard(idx: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's slice of a global batch's indices (the last, short batch split as evenly as possible)."""
    return torch.tensor_split(idx, world.size)[world.rank]


class TraceModule(nn.Module):
    """What DDP wraps: its ``forward`` is the model's ``forward_trace`` (DDP hooks ``forward``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model.forward_trace(x)


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch (all ranks).

    Same parameters and buffers as BatchNorm1d (checkpoints do not change); the mean and the
    biased variance come from all-reduced per-channel sums, the running statistics are updated
    with the unbiased variance, as BatchNorm1d does.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or current().size == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        xf = x.float()
        c = xf.shape[1]
        count = torch.full((1,), float(xf.shape[0]), device=xf.device)
        stats = all_reduce(torch.cat([xf.sum(0), (xf * xf).sum(0), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        return y.to(x.dtype)


@contextlib.contextmanager
def global_batchnorm(model: nn.Module) -> Iterator[None]:
    """Make every BatchNorm1d of ``model`` a :class:`GlobalBatchNorm1d` while training."""
    swapped = [m for m in model.modules() if type(m) is nn.BatchNorm1d]
    for m in swapped:
        m.__class__ = GlobalBatchNorm1d
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = nn.BatchNorm1d


def data_parallel(model: nn.Module, device: torch.device) -> tuple[Any, contextlib.AbstractContextManager[None]]:
    """``(forward_trace, context)``: the model's ``forward_trace`` under DistributedDataParallel,
    and the context in which its BatchNorm layers normalize with the global batch's statistics."""
    from torch.nn.parallel import DistributedDataParallel

    # buffers (BN running statistics, sigma) stay identical by construction: no per-step broadcast
    ddp = DistributedDataParallel(TraceModule(model), broadcast_buffers=False, device_ids=[device.index] if device.type == "cuda" else None)
    return ddp, global_batchnorm(model)


def check_dir() -> Path | None:
    value = os.environ.get(CHECK_ENV)
    return Path(value) if value else None


def assert_same(tensors: list[torch.Tensor], what: str) -> None:
    """Raise unless every rank holds exactly these values (gathered from all ranks)."""
    world = current()
    if world.size == 1:
        return
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors]) if tensors else torch.zeros(0)
    gathered = [torch.empty_like(flat) for _ in range(world.size)]
    dist.all_gather(gathered, flat)
    for r, other in enumerate(gathered):
        if not torch.equal(other, gathered[0]):
            diff = float((other - gathered[0]).abs().max())
            raise DelaysnnError(f"{what} differ between rank 0 and rank {r} (max abs diff {diff:.3g})")


def save_rank_state(model: nn.Module, directory: Path, steps_checked: int) -> None:
    world = current()
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}
    torch.save({"rank": world.rank, "world_size": world.size, "steps_checked": steps_checked, "state_dict": state},
               directory / f"rank{world.rank}.pt")


def mean_share(per_sample: torch.Tensor, n_global: int, world: World) -> torch.Tensor:
    """This rank's share of the global batch's mean of a per-sample loss, scaled so that DDP's
    gradient average is the gradient of the global mean (exact for a short last batch split
    unevenly too)."""
    return per_sample.sum() * (world.size / n_global)


def cross_entropy_share(scores: torch.Tensor, y: torch.Tensor, n_global: int, world: World) -> torch.Tensor:
    """:func:`mean_share` of the cross-entropy."""
    return mean_share(F.cross_entropy(scores, y, reduction="none"), n_global, world)

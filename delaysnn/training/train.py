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

The parts live beside it: the options and their checkpoint codec in :mod:`.options`, the loop in
parts (setup, step, end of epoch, checkpointing, DDP) in :mod:`.trainer`'s ``Trainer``, the run's
record (``TrainResult``) in :mod:`.runs`. This module is the public entry point and re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable

from ..data.datasets import SpikeDataset
from ..model import DelaySNN
from .options import FREEZE_NOTE, TrainOptions, deployment_settings, quantize_defaults
from .runs import TrainResult, progress_line
from .trainer import (
    SIGMA_FINAL,
    Trainer,
    distill_loss,
    evaluate,
    flush_denormals,
    load_teacher,
    prune_model,
    resolve_device,
    seed_everything,
)

__all__ = [
    "FREEZE_NOTE", "SIGMA_FINAL", "TrainOptions", "TrainResult", "Trainer", "deployment_settings", "distill_loss", "evaluate",
    "flush_denormals", "load_teacher", "progress_line", "prune_model", "quantize_defaults", "resolve_device", "seed_everything", "train",
]


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
    ``on_epoch(epoch, result)`` is called after each epoch (0-based).
    """
    return Trainer(model, train_set, opts or TrainOptions(), test_set=test_set, val_set=val_set).run(on_epoch)

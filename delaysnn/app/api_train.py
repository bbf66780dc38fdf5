"""The Python API of ``delaysnn train`` and ``plot-training`` (re-exported by :mod:`delaysnn.app.api`):
a :class:`TrainRequest` is the command's options; :func:`train_model` is glue over
:mod:`delaysnn.training`: it loads the task's splits, builds or loads the model, resolves the
fine-tuning recipe (:class:`delaysnn.spec.FineTuning`), and runs
:func:`delaysnn.training.train.train` under the run's lock, writing a checkpoint whose metadata
is :func:`delaysnn.training.options.run_metadata`. Also the task data every command loads
(:func:`load_task_data`, :data:`TASK_DEFAULTS`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import DelaysnnError, Terminated
from ..spec import DeploySpec, FineTuning
from .pipeline import Note, output_path, plot_output, silent

TASK_DEFAULTS = {
    # hidden, layers, max_delay, epochs, dropout
    "synthetic": dict(hidden=32, layers=2, max_delay=25, epochs=10, dropout=0.1),
    "shd": dict(hidden=256, layers=2, max_delay=25, epochs=50, dropout=0.4),
    "ssc": dict(hidden=256, layers=2, max_delay=25, epochs=50, dropout=0.4),
}


def load_task_data(task: str, data: str | None, samples: int | None, seed: int) -> tuple[Any, Any]:
    """(train, test) SpikeDatasets for a task name."""
    if task == "synthetic":
        from ..data.datasets import synthetic_splits

        n_train = samples or 2048
        return synthetic_splits(n_train=n_train, n_test=max(n_train // 4, 64), seed=seed)
    if data is None:
        raise DelaysnnError(f"--task {task} needs --data DIR (the directory with the official {task.upper()} .h5 files)")
    from ..data.heidelberg import load_heidelberg

    train_set = load_heidelberg(data, task, "train", max_samples=samples)
    test_set = load_heidelberg(data, task, "test", max_samples=samples, max_steps=train_set.steps)
    return train_set, test_set


def task_speakers(task: str, data: str | None, samples: int | None) -> Any:
    """The training split's speakers (for a validation split by speaker), None for synthetic data."""
    if task == "synthetic":
        return None
    from ..data.heidelberg import load_speakers

    return load_speakers(data, task, "train", max_samples=samples)


# --- training -----------------------------------------------------------------------------------


@dataclass
class TrainRequest:
    """What ``delaysnn train`` is asked for (its options; None: the task's default)."""

    output: str
    task: str = "synthetic"
    data: str | None = None
    epochs: int | None = None
    layers: int | None = None
    hidden: int | None = None
    max_delay: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    dropout: float | None = None
    no_delays: bool = False
    # with init_from: the positions learn too (a fresh model's always do); None: the fine-tuning recipe's
    learn_delays: bool | None = None
    spec: DeploySpec = field(default_factory=DeploySpec)  # the grids QAT trains through, and pruning (needs init_from)
    freeze_bn_stats: bool | None = None  # None: on when fine-tuning through spec's grids (spec.FineTuning)
    distill: str | None = None  # teacher checkpoint for knowledge distillation; fine-tuning through grids: init_from
    no_distill: bool = False  # fine-tuning through grids without the default distillation from init_from
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    lr_pos: float | None = None
    samples: int | None = None
    device: str = "cpu"
    amp: str | None = None
    seed: int = 0
    init_from: str | None = None
    resume: bool = False
    keep: int = 2
    val_fraction: float | None = None
    delay_kind: str | None = None  # synaptic | axonal | dendritic; None: synaptic, or init_from's
    delay_fraction: float | None = None  # in (0, 1]: the delays kept learning (model.delay_kinds); None: 1, or init_from's


@dataclass
class TrainOutcome:
    """A finished run: the model, its checkpoint metadata, the training result, and the files
    (``output`` is None on a rank other than 0 under torchrun: only rank 0 writes)."""

    model: Any
    meta: dict[str, Any]
    result: Any
    output: Path | None
    metrics: Path
    state_dir: Path


def new_model(config: Any, learn_delays: bool = True) -> Any:
    """A fresh ``DelaySNN``; without learned delays every delay is fixed at 0 (no spread)."""
    from ..model import DelaySNN

    model = DelaySNN(config)
    if not learn_delays:
        fix_delays(model)
    return model


def fix_delays(model: Any) -> None:
    """The no-delay baseline: every delay 0, no Gaussian spread (train it with delays not learned)."""
    model.set_delays(0)
    model.set_sigma(0.0)


def check_request(r: TrainRequest) -> None:
    """Refuse, before any data is read, options the run would drop: the sizes with ``init_from``
    (they come from the checkpoint), what acts on delays with ``no_delays``, what needs a model to
    fine-tune without ``init_from``, and a recipe ``spec`` training cannot take (its
    ``validate(training=True)``: e.g. delay bits no deployment to Loihi 2 takes). OptionError."""
    from ..errors import OptionError

    r.spec.validate(training=True)
    if r.init_from:
        sizes = [f"--{name.replace('_', '-')}" for name in ("layers", "hidden", "max_delay") if getattr(r, name) is not None]
        if sizes:
            raise OptionError(f"{', '.join(sizes)} with --init {r.init_from}: the sizes come from the checkpoint; "
                              "drop them, or train a new model without --init")
    else:
        if r.spec.prune is not None:
            raise OptionError("--prune needs --init MODEL.pt: it prunes a trained model's smallest synapses, then fine-tunes the rest")
        if r.learn_delays is not None:
            flag = "--learn-delays" if r.learn_delays else "--no-learn-delays"
            raise OptionError(f"{flag} is for fine-tuning: it needs --init MODEL.pt (a fresh model learns its delays, "
                              "--no-delays fixes them at 0)")
        if r.no_distill:
            raise OptionError("--no-distill is for fine-tuning: it needs --init MODEL.pt (a fresh model is distilled only with --distill)")
    if r.no_distill and r.distill is not None:
        raise OptionError(f"--no-distill and --distill {r.distill} contradict each other: drop one")
    check_delay_kind(r)
    if r.no_delays:
        on_delays = [flag for flag, given in (("--delay-bits", r.spec.delay_bits is not None), ("--delay-grid", r.spec.delay_grid is not None),
                                              ("--learn-delays", bool(r.learn_delays)), ("--lr-pos", r.lr_pos is not None),
                                              ("--delay-fraction", r.delay_fraction is not None)) if given]
        if on_delays:
            raise OptionError(f"--no-delays fixes every delay at 0, so {', '.join(on_delays)} would act on nothing: drop one or the other")


def check_delay_kind(r: TrainRequest) -> None:
    """``delay_kind`` is a kind and ``delay_fraction`` in (0, 1] (OptionError)."""
    from ..errors import OptionError
    from ..model.config import DELAY_KINDS

    if r.delay_kind is not None and r.delay_kind not in DELAY_KINDS:
        raise OptionError(f"--delay-kind {r.delay_kind!r}: expected one of {', '.join(DELAY_KINDS)}")
    if r.delay_fraction is not None and not 0 < r.delay_fraction <= 1:
        raise OptionError(f"--delay-fraction {r.delay_fraction}: must be in (0, 1] (the fraction of delays that keep learning)")


def recast_delays(model: Any, r: TrainRequest) -> Any:
    """The ``init_from`` model with the request's delay kind and fraction (``delay_kinds.recast``:
    a neuron's delay starts at its synapses' weighted mean); one line where the model cannot take them."""
    from ..errors import OptionError, UnsupportedError
    from ..model.delay_kinds import recast

    try:
        return recast(model, r.delay_kind, r.delay_fraction)
    except UnsupportedError as err:
        raise OptionError(f"--delay-kind/--delay-fraction with --init {r.init_from}: {err}") from err


def fit(model: Any, train_set: Any, test_set: Any, options: Any, output: str | os.PathLike | None = None,
        meta: dict[str, Any] | None = None) -> Any:
    """Train ``model`` in place (``train.train`` with ``TrainOptions``); with ``output``, write it as
    a checkpoint whose metadata is ``meta`` plus the final test accuracy. Returns the result."""
    from ..model.checkpoint import save_checkpoint
    from ..training.train import train

    result = train(model, train_set, test_set, options)
    if output is not None:
        save_checkpoint(model, output, {**(meta or {}), "test_acc": result.final_test_acc})
    return result


def train_model(request: TrainRequest, note: Note = silent) -> TrainOutcome:
    """Train as ``delaysnn train`` does: the task's data (a validation split by speaker with
    ``val_fraction``), a model from the task's defaults or ``init_from``, resumable epoch states
    beside ``output``, and a checkpoint whose metadata records the run and its deployment grids."""
    from ..training import distributed

    world = distributed.init_from_env(request.device)
    try:
        return _train(request, world, note)
    finally:
        distributed.cleanup()


def _train(r: TrainRequest, world: Any, note: Note) -> TrainOutcome:
    from ..model.checkpoint import save_checkpoint
    from ..training import distributed
    from ..training.options import TrainOptions, run_metadata
    from ..training.runs import run_files, run_lock
    from ..training.train import seed_everything

    check_request(r)
    distributed.per_rank_batch(r.batch_size, world.size)
    out = output_path(r.output, r.init_from, data=r.data)
    files = run_files(out)
    output_path(str(files.metrics), r.init_from, data=r.data)
    splits = _task_splits(r, note)
    seed_everything(r.seed)
    model, recipe = _model_to_train(r, splits.train, note)
    opts = TrainOptions(
        epochs=recipe.epochs or TASK_DEFAULTS[r.task]["epochs"], batch_size=r.batch_size, lr=r.lr, seed=r.seed, device=r.device,
        spec=r.spec, distill_weight=r.distill_weight, distill_temperature=r.distill_temperature, amp=r.amp, desc=f"train {r.task}",
        state_dir=files.state_dir, keep=r.keep, resume=r.resume, metrics_path=files.metrics,
        run_info={"task": r.task, "samples": r.samples, "val_fraction": r.val_fraction},
        **recipe.train_options(r.lr, fine_tuning=bool(r.init_from)),
    )
    # one run at a time on this output and its states (a second --resume would interleave them)
    with run_lock(files.state_dir) if world.main else contextlib.nullcontext():
        result = _run_training(model, splits, opts, note)
        meta = run_metadata(opts, result, task=r.task, input_max_count=splits.input_max_count, dropout=model.cfg.dropout,
                            init=r.init_from, val_split=splits.val_split)
        if world.main:
            save_checkpoint(model, out, meta)
    return TrainOutcome(model, meta, result, out if world.main else None, files.metrics, files.state_dir)


class TaskSplits(NamedTuple):
    train: Any
    val: Any  # None without a validation fraction
    test: Any
    val_split: str | None  # how the validation split was drawn
    input_max_count: int  # of the whole training split, validation part included


def _task_splits(r: TrainRequest, note: Note) -> TaskSplits:
    """The task's splits, with ``r.val_fraction`` of the training split held out for validation (by speaker where known)."""
    train_set, test_set = load_task_data(r.task, r.data, r.samples, r.seed)
    input_max_count = train_set.max_count
    val_set, val_how = None, None
    if r.val_fraction:
        from ..data.datasets import validation_split

        train_set, val_set, val_how = validation_split(train_set, r.val_fraction, r.seed, task_speakers(r.task, r.data, r.samples))
        note(f"validation: {val_how} of {train_set.name} held out")
    return TaskSplits(train_set, val_set, test_set, val_how, input_max_count)


def _model_to_train(r: TrainRequest, train_set: Any, note: Note) -> tuple[Any, FineTuning]:
    """The model ``r`` trains (``init_from``'s, or a fresh one of the task's defaults) and the
    settings it trains with (``spec.FineTuning``, resolved for fine-tuning)."""
    from ..model.checkpoint import load_checkpoint

    recipe = FineTuning(r.distill, r.no_distill, r.freeze_bn_stats, r.dropout, r.learn_delays, r.lr_pos, r.epochs)
    if not r.init_from:
        return new_model(_fresh_config(r, train_set), not r.no_delays), replace(recipe, learn_delays=not r.no_delays)
    loaded = load_checkpoint(r.init_from)
    model = recast_delays(loaded, r)
    # through a grid (or pruned), the recipe measured best unless told otherwise (spec.FineTuning:
    # positions learn, through the delay grid if any); else fine-tuning keeps the learned integer
    # delays unless asked to learn them; --no-delays makes the checkpoint the no-delay baseline
    # (check_request refuses the clashes)
    recipe, header = recipe.resolve(r.spec, r.init_from, no_delays=r.no_delays)
    if header is not None:
        note(header)
    if model.cfg.delay_kind != loaded.cfg.delay_kind and r.learn_delays is None and not r.no_delays:
        # a recast kind starts from its synapses' weighted mean delays: they must learn to be its own
        recipe = replace(recipe, learn_delays=True)
        note(f"note: --delay-kind {model.cfg.delay_kind}: each neuron's delay starts at its synapses' weighted mean and learns")
    if r.no_delays:
        fix_delays(model)
        note(f"note: --no-delays: every delay of {r.init_from} set to 0, and kept there")
    return model, recipe


def _fresh_config(r: TrainRequest, train_set: Any) -> Any:
    """A new model's configuration: the request's sizes, else the task's defaults."""
    from ..model import ModelConfig

    defaults = TASK_DEFAULTS[r.task]
    max_delay = r.max_delay or defaults["max_delay"]
    max_delay += 1 - max_delay % 2  # odd kernel, as SNN-delays forces
    return ModelConfig(
        input_size=train_set.channels,
        output_size=train_set.n_classes,
        hidden_size=r.hidden or defaults["hidden"],
        hidden_layers=defaults["layers"] if r.layers is None else r.layers,
        max_delay=max_delay,
        dropout=defaults["dropout"] if r.dropout is None else r.dropout,
        time_step_ms=train_set.time_step_ms if r.task != "synthetic" else 1.0,
        delay_kind=r.delay_kind or "synaptic",
        delay_fraction=1.0 if r.delay_fraction is None else r.delay_fraction,
    )


def _run_training(model: Any, splits: TaskSplits, opts: Any, note: Note) -> Any:
    """``train.train`` on the splits; an interrupted run says which state to resume from."""
    from ..training import train as train_module  # looked up at the call: tests replace train_module.train
    from ..training.runs import state_paths

    try:
        result = train_module.train(model, splits.train, splits.test, opts, val_set=splits.val)
    except (KeyboardInterrupt, Terminated):
        done = state_paths(opts.state_dir)
        if done:
            note(f"note: {done[-1]} holds the last finished epoch; continue with the same command and --resume")
        raise
    if opts.resume and result.resumed_from is None:
        note(f"note: no state in {opts.state_dir} to resume; trained from the start")
    return result


def plot_training(metrics: str | os.PathLike, output: str | os.PathLike) -> list[dict[str, Any]]:
    """Draw a training run's per-epoch metrics (the ``.jsonl`` beside a checkpoint) to ``output``;
    returns the rows drawn."""
    from ..plots import training_curves
    from ..training.runs import read_metrics

    plot_output(output, metrics)
    rows = read_metrics(metrics)
    training_curves(rows, output, title=f"{metrics} ({len(rows)} epochs)")
    return rows

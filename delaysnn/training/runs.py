"""Resumable training runs: per-epoch state files and the per-epoch metrics log.

Beside a run's checkpoint ``-o model.pt`` (see :func:`run_files`)::

    model.pt.state/epoch-0007.pt   resumable state after epoch 7 (the newest ``keep`` are kept)
    model.jsonl                    one JSON object per finished epoch (:data:`METRIC_FIELDS`)

A state file is ``torch.save`` of a plain dict, loaded with ``weights_only=True`` like every
checkpoint (format ``delaysnn-train-state``, version 1): the model's state_dict, the optimizers'
and schedulers' state_dicts, the RNG states (python, numpy, torch, the shuffling generator,
CUDA), the sigma schedule's start, the metrics so far, the best-validation model, and a
fingerprint of everything that shapes the trajectory (options, config, data sizes) so that a
resume with other options is refused instead of silently diverging. Both files are written
atomically (:mod:`delaysnn.fileio`): the metrics log is rewritten whole after each epoch (follow
it with ``tail -F``), so a kill never leaves half a line, and a resume rewrites it from the
state it continues, so the log never holds an epoch the state does not.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, DataError, DelaysnnError
from ..fileio import check_input_path, write_bytes_atomic, write_failure

STATE_FORMAT = "delaysnn-train-state"
STATE_VERSION = 1
_STATE_NAME = re.compile(r"epoch-(\d+)\.pt")

# Fields of a metrics row, in this order (null where a split is absent):
METRIC_FIELDS = (
    "epoch",  # 1-based epoch number
    "loss",  # mean training loss (cross-entropy of the summed-softmax scores)
    "train_acc",  # training accuracy of the epoch (soft delays, dropout on)
    "val_acc",  # validation accuracy, hard delays (null without --val-fraction)
    "test_acc",  # test accuracy, hard delays (null without a test split)
    "sigma",  # DCLS Gaussian sigma used during the epoch
    "lr",  # learning rate of weights and BatchNorm during the epoch
    "lr_pos",  # learning rate of the delay positions (null when delays are not learned)
    "spike_rates",  # per hidden layer: fraction of neuron-steps that spiked in training
    "seconds",  # wall time of the epoch, evaluation included
)


@dataclass(frozen=True)
class RunFiles:
    state_dir: Path
    metrics: Path


def run_files(output: str | os.PathLike) -> RunFiles:
    """Where the run writing checkpoint ``output`` keeps its states and its metrics."""
    output = Path(output)
    metrics = output.with_suffix(".jsonl") if output.suffix != ".jsonl" else output.with_name(output.name + ".jsonl")
    return RunFiles(state_dir=output.with_name(output.name + ".state"), metrics=metrics)


def prepare_state_dir(state_dir: str | os.PathLike) -> Path:
    """Create ``state_dir`` if needed; refuse a path that is not a directory."""
    state_dir = Path(state_dir)
    if state_dir.exists() and not state_dir.is_dir():
        raise DelaysnnError(f"{state_dir}: exists and is not a directory; the run keeps its states there, remove it or choose another -o")
    try:
        state_dir.mkdir(exist_ok=True)
    except OSError as err:
        raise DelaysnnError(f"{state_dir}: cannot create the state directory ({err.strerror}); choose another -o") from err
    return state_dir


LOCK_NAME = "run.lock"  # in the state directory: held by the run writing it (run_lock)


@contextlib.contextmanager
def run_lock(state_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``state_dir/run.lock`` (an exclusive ``fcntl.flock``, the holder's pid in it) for the
    block, creating ``state_dir``: a second run on the same output (two ``--resume`` runs) would
    interleave states and overwrite the checkpoint, so it is refused, naming the lock and the pid.
    The kernel drops the lock when its process ends, crash and ``kill -9`` included: a file left
    behind never blocks a later run. Where there is no ``fcntl`` (Windows) nothing is locked."""
    path = prepare_state_dir(state_dir) / LOCK_NAME
    try:
        import fcntl
    except ImportError:
        yield path
        return
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the block: the lock lives as long as it)
    except OSError as err:
        raise DelaysnnError(f"{path}: cannot open the run's lock file ({err.strerror}); choose another -o") from err
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise DelaysnnError(
                f"{path}: another run (pid {holder}) is writing this output and its states; wait for it to end, or choose another -o"
            ) from None
        try:  # unbuffered, so a full disk fails here and not again when the handle closes
            os.ftruncate(handle.fileno(), 0)
            os.pwrite(handle.fileno(), f"{os.getpid()}\n".encode(), 0)
        except OSError as err:
            raise write_failure(err, path, "the run's lock file") from err
        yield path


def state_paths(state_dir: str | os.PathLike) -> list[Path]:
    """The state files in ``state_dir``, oldest epoch first."""
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in state_dir.iterdir() if (m := _STATE_NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def clear_states(state_dir: str | os.PathLike) -> None:
    """Remove the states (and any temporaries a killed write left) of an earlier run."""
    state_dir = Path(state_dir)
    for path in state_paths(state_dir) + (sorted(state_dir.glob(".epoch-*.part")) if state_dir.is_dir() else []):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def save_state(state_dir: str | os.PathLike, epoch: int, payload: dict[str, Any], keep: int = 2) -> Path:
    """Write the state after ``epoch`` (1-based) atomically, then drop all but the newest ``keep``."""
    payload = {"format": STATE_FORMAT, "version": STATE_VERSION, "epoch": epoch, **payload}
    buffer = io.BytesIO()  # in memory first: torch's writer hides a full disk's errno
    torch.save(payload, buffer)
    path = write_bytes_atomic(Path(state_dir) / f"epoch-{epoch:04d}.pt", buffer.getvalue())
    for old in state_paths(state_dir)[: -max(keep, 1)]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return path


def load_newest_state(state_dir: str | os.PathLike) -> tuple[Path, dict[str, Any]] | None:
    """``(path, payload)`` of the newest state in ``state_dir``, or None when there is none."""
    from ..model.checkpoint import read_payload

    paths = state_paths(state_dir)
    if not paths:
        return None
    path = paths[-1]
    payload = read_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a delaysnn training state (field 'format' is not '{STATE_FORMAT}'); remove it to resume from an older one")
    if payload.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: training state version {payload.get('version')!r} is not supported (this delaysnn reads {STATE_VERSION})")
    return path, payload


def check_fingerprint(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume a run whose options, model or data differ from the saved run's."""
    keys = sorted(set(saved) | set(current))
    diff = [f"{k} {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]
    if diff:
        raise DelaysnnError(
            f"{path}: --resume with other settings than the interrupted run ({'; '.join(diff[:4])}); "
            "resume with the same options, or start afresh without --resume"
        )


def scheduler_state(sched: Any) -> dict[str, Any]:
    """A scheduler's state_dict without functions (OneCycleLR keeps its ``anneal_func``), so that
    ``weights_only`` loads it; the constructor recreates them."""
    return {k: v for k, v in sched.state_dict().items() if not callable(v)}


def rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state training draws from, as tensors, ints and lists."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(mt), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], shuffle: torch.Generator, device: torch.device) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def write_metrics(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """(Re)write the metrics log: one JSON object per line, fields in :data:`METRIC_FIELDS` order,
    a non-finite number as null (JSON has no NaN; ``train`` stops a run whose loss is not finite)."""
    text = "".join(json.dumps({k: _finite(row.get(k)) for k in METRIC_FIELDS}, allow_nan=False) + "\n" for row in rows)
    return write_bytes_atomic(path, text.encode())


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (also in lists: spike_rates) made None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a metrics log written by ``delaysnn train``; a bad line is one error naming it."""
    path = check_input_path(path, "metrics file (.jsonl)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text; give the .jsonl that delaysnn train writes beside its checkpoint") from err
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {number} is not JSON ({err.msg}); give the .jsonl that delaysnn train writes") from err
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is a JSON {type(row).__name__}, not an object; one object per epoch expected")
        for key in ("epoch", "loss"):
            value = row.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DataError(f"{path}: line {number}: field {key!r} is {value!r}, expected a finite number")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: holds no epochs; train at least one epoch first")
    return rows


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


def progress_line(desc: str, epochs: int, row: dict[str, Any]) -> str:
    """One line per epoch, for logs (stderr that is not a terminal)."""
    parts = [f"{desc}: epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}", f"acc {row['train_acc']:.3f}"]
    parts += [f"{name} {row[key]:.3f}" for key, name in (("val_acc", "val"), ("test_acc", "test")) if row[key] is not None]
    parts += [f"sigma {row['sigma']:.3g}", f"lr {row['lr']:.3g}", f"{row['seconds']:.1f} s"]
    return ", ".join(parts)

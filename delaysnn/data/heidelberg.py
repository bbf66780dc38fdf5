"""The Heidelberg spiking data sets (SHD, SSC) as binned count tensors.

The data sets (Cramer et al. 2020, "The Heidelberg Spiking Data Sets for the Systematic
Evaluation of Spiking Neural Networks", IEEE TNNLS) are read from a local directory holding the
official files, as downloaded from https://zenkelab.org/datasets/::

    shd_train.h5  shd_test.h5                       (SHD: 20 classes)
    ssc_train.h5  ssc_valid.h5  ssc_test.h5         (SSC: 35 classes)

``.h5.gz`` (and ``.h5.zip``) as distributed are accepted too: the archive is decompressed,
streaming, into a temporary ``.h5`` file (``tempfile``, so ``TMPDIR`` chooses where; about the
size of the uncompressed file) that is deleted once the split is loaded. HDF5 needs random
access, which a gzip stream only offers by re-decompressing from the start on every backward
seek, so reading through ``gzip.open`` would be far slower than one decompression pass.

Official layout: ``spikes/times[i]`` (variable-length floats, seconds), ``spikes/units[i]``
(variable-length ints, 0..699, one per time), ``labels[i]``.

Binning (as SNN-delays feeds its network, with the grid made explicit):

- time: a fixed grid starting at t = 0, bins of ``time_step_ms``; an event at ``t`` seconds goes
  to bin ``floor(t * 1000 / time_step_ms)``, so an event exactly on an edge opens the next bin.
  The product is evaluated in float64 and events less than ``EDGE_TOLERANCE_MS`` (1 us) before
  an edge count as on it, so decimal times land in the bin they name although binary floats
  cannot hold them exactly (plain float64 puts 2.010 s and 2.030 s of a 10 ms grid, or 1.001 s
  of a 1 ms grid, one bin early; float32 storage is off by up to 0.5 us below 16 s). Times are
  otherwise taken as stored (float16 keeps only ~1 ms of resolution near 1 s).
- channels: the 700 cochlea channels are summed in groups of ``n_bins`` consecutive channels
  (unit ``u`` feeds input ``u // n_bins``), giving ``700 // n_bins`` inputs (140 for 5). When
  ``n_bins`` does not divide 700 the last ``700 % n_bins`` channels are dropped, as SNN-delays
  does (``frames.shape[1] // n_bins``), with a warning.
- length: sample ``i`` lasts ``floor(max(t_i) * 1000 / time_step_ms) + 1`` bins (0 if it has no
  event); every sample of a split is zero-padded at the end to the longest one loaded (at
  least 1 step), or to ``max_steps`` when given, in which case later events are dropped.
- counts are stored as uint8; a bin over 255 is clipped and reported with a warning.

Work is vectorized per chunk of 256 samples (``np.bincount``): a first pass over
``spikes/times`` sizes the output, the second bins straight into it, so memory is the uint8
result plus one chunk (SHD train: 8156 x T x 140, about 160 MB, a few seconds).

Differences from SNN-delays (SpikingJelly ``SpikingHeidelbergDigits(..., data_type='frame',
duration=10)``): SpikingJelly shifts each sample to its own first spike (``t - t[0]``), uses
``ceil((t_last - t_0) / duration)`` frames and folds events of the would-be extra frame into the
last one (a sample whose events all share one time gets no frame and fails); SNN-delays then
pads per mini-batch (``pad_sequence_collate``). Here the grid is
absolute (the same for every sample, so onsets keep their meaning) and padding is per split, so
a sample's bins are offset by ``t_0 mod time_step`` from theirs and its length can differ by a
step. Because the readout sums over every step, the padding length changes class scores a
little; both are deterministic and independent of batching here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..fileio import check_hdf5
from ..limits import MAX_EVENT_SECONDS, MAX_INPUT_BYTES, MAX_STEPS
from .binning import EDGE_TOLERANCE_MS, _bin, _check_n_bins, _check_time_step, _is_int, _late_event, bin_events
from .datasets import SpikeDataset
from .heidelberg_files import (
    _TASKS,
    N_UNITS,
    SOURCE,
    _check_split,
    _check_task,
    _datasets,
    _plain_h5,
    available_splits,
    expected_files,
    find_split_file,
)

__all__ = [
    "EDGE_TOLERANCE_MS",
    "N_UNITS",
    "SOURCE",
    "available_splits",
    "bin_events",
    "expected_files",
    "find_split_file",
    "load_speakers",
    "load_heidelberg",
]

_READ_CHUNK = 256  # samples read from HDF5 at a time


# ----------------------------------------------------------------------------------------------
# the loader


def load_heidelberg(
    root: str | os.PathLike,
    task: str = "shd",
    split: str = "train",
    *,
    time_step_ms: float = 10.0,
    n_bins: int = 5,
    max_steps: int | None = None,
    max_samples: int | None = None,
    progress: bool = True,
) -> SpikeDataset:
    """Load one split of SHD or SSC from ``root`` as ``uint8 [N, T, 700 // n_bins]`` counts.

    Example::

        train = load_heidelberg("data/shd", "shd", "train")      # x [8156, T, 140], 20 classes
        test = load_heidelberg("data/shd", "shd", "test", max_steps=train.steps)

    ``max_samples`` loads the first samples in file order, not a random subset (``T`` then
    follows them);
    ``max_steps`` fixes ``T`` (pads, or drops later events); ``progress`` shows tqdm bars.
    Raises :class:`DataError` (one line: file, field, fix) on a missing or malformed file.
    """
    task = _check_task(task)
    split = _check_split(task, split)
    n_classes = _TASKS[task][0]
    time_step_ms = _check_time_step(time_step_ms)
    n_bins = _check_n_bins(n_bins)
    if max_steps is not None and (not _is_int(max_steps) or max_steps < 1):
        raise DataError(
            f"max_steps={max_steps!r}: expected a positive number of time steps, or None for the longest sample"
        )
    if max_samples is not None and (not _is_int(max_samples) or max_samples < 1):
        raise DataError(f"max_samples={max_samples!r}: expected a positive number of samples, or None for all")

    path = find_split_file(root, task, split)
    name = f"{task}/{split}"
    with _plain_h5(path, progress) as local:
        x, y = _read_split(local, path, name, n_classes, time_step_ms, n_bins, max_steps, max_samples, progress)
    return SpikeDataset(
        x=torch.from_numpy(x), y=torch.from_numpy(y), n_classes=n_classes, name=name, time_step_ms=time_step_ms
    )


def load_speakers(root: str | os.PathLike, task: str = "shd", split: str = "train", *, max_samples: int | None = None) -> np.ndarray | None:
    """Speaker id of each sample (``/extra/speaker``, as SHD and SSC hold it; the first
    ``max_samples``, as :func:`load_heidelberg` loads), or None when the file has none."""
    import h5py

    path = find_split_file(root, _check_task(task), _check_split(task, split))
    with _plain_h5(path, False) as local, h5py.File(local, "r") as h5:
        obj = h5.get("extra/speaker")
        if not isinstance(obj, h5py.Dataset):
            return None
        n = len(h5["labels"]) if "labels" in h5 else len(obj)
        if obj.ndim != 1 or len(obj) != n:
            raise DataError(f"{path}: extra/speaker has shape {obj.shape}, expected one speaker id per sample ({n}); the file is damaged")
        return np.asarray(obj[: n if max_samples is None else min(n, max_samples)]).astype(np.int64)


def _read_split(
    local: Path,
    path: Path,
    name: str,
    n_classes: int,
    time_step_ms: float,
    n_bins: int,
    max_steps: int | None,
    max_samples: int | None,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    import h5py
    from tqdm.auto import tqdm

    if not h5py.is_hdf5(local):
        raise DataError(
            f"{path}: not an HDF5 file (no HDF5 signature); expected the official {path.name.split('.')[0]}.h5 "
            f"from {SOURCE}, download it again"
        )
    check_hdf5(local, f"{name} file" if local == path else f"{name} file (decompressed from {path})")
    try:
        h5 = h5py.File(local, "r")
    except OSError as err:
        raise DataError(
            f"{path}: cannot open as HDF5 ({err}); the file is damaged, download it again from {SOURCE}"
        ) from err
    with h5:
        times_ds, units_ds, labels_ds = _datasets(h5, path)
        sizes = [len(times_ds), len(units_ds), len(labels_ds)]
        if len(set(sizes)) != 1:
            raise DataError(
                f"{path}: spikes/times has {sizes[0]} samples, spikes/units {sizes[1]}, labels {sizes[2]}; "
                f"they must match: the file is truncated or foreign, download it again from {SOURCE}"
            )
        n = sizes[0] if max_samples is None else min(sizes[0], max_samples)
        if n == 0:
            raise DataError(
                f"{path}: {name} holds no samples (spikes/times is empty); nothing to train or evaluate on: "
                f"use a complete file, downloaded again from {SOURCE}"
            )
        y = _labels(labels_ds, n, path, n_classes, name)

        # Pass 1 (times only, cheap) sizes the output, so pass 2 bins straight into it.
        steps = max_steps if max_steps is not None else _longest(times_ds, n, time_step_ms, name, str(path), progress)
        _check_split_size(path, name, n, steps, N_UNITS // n_bins, time_step_ms)
        x = np.zeros((n, steps, N_UNITS // n_bins), dtype=np.uint8)
        clipped, peak = 0, 0
        with tqdm(total=n, desc=f"binning {name}", unit="sample", disable=not progress, leave=False) as bar:
            for start in range(0, n, _READ_CHUNK):
                stop = min(n, start + _READ_CHUNK)
                _, _, over, most = _bin(
                    times_ds[start:stop],
                    units_ds[start:stop],
                    time_step_ms,
                    n_bins,
                    steps,
                    np.uint8,
                    str(path),
                    start,
                    out=x[start:stop],
                )
                clipped, peak = clipped + over, max(peak, most)
                bar.update(stop - start)

    if clipped:
        warnings.warn(
            f"{path}: {clipped} bins hold more than 255 spikes (max {peak}); clipped to 255 to fit uint8 "
            f"(use a shorter time_step_ms or a smaller n_bins)",
            stacklevel=3,
        )
    return x, y


def _longest(times_ds, n: int, time_step_ms: float, name: str, where: str, progress: bool) -> int:
    """Bins of the longest of the first ``n`` samples (at least 1), by the binning rule; a spike
    later than ``limits.MAX_EVENT_SECONDS`` is refused here, before anything is sized by it."""
    from tqdm.auto import tqdm

    latest = 0.0
    with tqdm(total=n, desc=f"measuring {name}", unit="sample", disable=not progress, leave=False) as bar:
        for start in range(0, n, _READ_CHUNK):
            stop = min(n, start + _READ_CHUNK)
            for i, t in enumerate(times_ds[start:stop]):
                t = np.asarray(t)
                if t.size and t.dtype.kind in "fiu":
                    last = float(t.max())
                    if np.isfinite(last):  # bad values are reported by the binning pass
                        if last > MAX_EVENT_SECONDS:
                            raise DataError(_late_event(where, start + i, last))
                        latest = max(latest, last)
            bar.update(stop - start)
    return max(1, int(np.floor((latest * 1000.0 + EDGE_TOLERANCE_MS) / time_step_ms)) + 1)


def _check_split_size(path: Path, name: str, n: int, steps: int, channels: int, time_step_ms: float) -> None:
    """Refuse a binned split longer than ``limits.MAX_STEPS`` or larger than ``limits.MAX_INPUT_BYTES``."""
    if steps > MAX_STEPS:
        raise DataError(
            f"{path}: {name} needs {steps} time steps of {time_step_ms:g} ms, more than {MAX_STEPS} "
            f"(delaysnn.limits.MAX_STEPS); use a longer time step or a max_steps cap"
        )
    if n * steps * channels > MAX_INPUT_BYTES:
        raise DataError(
            f"{path}: {name} binned is {n} samples x {steps} steps x {channels} channels = "
            f"{n * steps * channels / 2**30:.1f} GiB, more than the {MAX_INPUT_BYTES / 2**30:g} GiB limit "
            f"(delaysnn.limits.MAX_INPUT_BYTES); load fewer samples (--samples) or use a longer time step"
        )


def _labels(labels_ds, n: int, path: Path, n_classes: int, name: str) -> np.ndarray:
    raw = np.asarray(labels_ds[:n])
    if raw.ndim != 1 or raw.dtype.kind not in "iuf" or (raw.dtype.kind == "f" and not np.all(raw == np.floor(raw))):
        raise DataError(
            f"{path}: labels has shape {raw.shape} and dtype {raw.dtype}, expected one integer class per sample; "
            f"download the file again from {SOURCE}"
        )
    y = raw.astype(np.int64)
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: labels[{i}] = {y[i]}, outside 0..{n_classes - 1} for {name}; "
            f"check that the file belongs to this task (SHD has 20 classes, SSC 35)"
        )
    return y

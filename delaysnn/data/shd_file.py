"""Writing spike trains in the Heidelberg (SHD) HDF5 layout.

The layout is the official one (Cramer et al. 2020), so ``delaysnn.data.heidelberg.load_heidelberg``
and third-party SHD loaders read our files unchanged::

    /spikes/times   vlen float32, seconds, one array per sample (sorted)
    /spikes/units   vlen uint16, channel 0..699 of each time
    /labels         uint16 [N]
    /extra/speaker  uint16 [N]
    /extra/keys     the class names, label i is keys[i] (UTF-8 strings)

Extra datasets (``extra=``) go under ``/extra`` too; provenance goes in root attributes.
The file is built in memory (HDF5 crashes on a full disk), then written under a temporary name
and renamed (``delaysnn.fileio``), so a reader never sees half of it.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..fileio import check_output_path, write_bytes_atomic
from ..limits import MAX_EVENT_SECONDS
from .heidelberg_files import _TASKS, N_UNITS

__all__ = ["check_sample", "reader_classes", "write_shd", "write_shd_splits"]


def reader_classes(path: str | os.PathLike) -> tuple[str, int]:
    """``(task, classes)`` of the loader that reads an SHD-layout file named ``path``: SSC (35) for
    ``ssc_*``, else SHD (20); a label outside ``0..classes - 1`` is refused there, so here too."""
    task = "ssc" if Path(path).name.lower().startswith("ssc_") else "shd"
    return task, _TASKS[task][0]


def check_sample(t: np.ndarray, u: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One sample's ``(times, units)`` sorted by time, as stored; a one-line DataError starting with
    ``where`` for what the loader would refuse (a spike after ``limits.MAX_EVENT_SECONDS`` included)."""
    t = np.asarray(t, dtype=np.float64).ravel()
    u = np.asarray(u).ravel()
    if t.shape != u.shape:
        raise DataError(f"{where} has {t.size} times but {u.size} units; they must pair up one to one")
    if t.size and (not np.all(np.isfinite(t)) or t.min() < 0):
        raise DataError(f"{where} has a negative or non-finite spike time; times are seconds >= 0")
    if t.size and t.max() > MAX_EVENT_SECONDS:
        raise DataError(
            f"{where} has a spike at {t.max():.6g} s, later than the {MAX_EVENT_SECONDS:g} s the loader accepts "
            f"(delaysnn.limits.MAX_EVENT_SECONDS); cut recordings into pieces shorter than {MAX_EVENT_SECONDS:g} s"
        )
    if u.size and (u.dtype.kind not in "iu" or u.min() < 0 or u.max() >= N_UNITS):
        raise DataError(f"{where} has units outside 0..{N_UNITS - 1}; SHD has {N_UNITS} channels")
    order = np.argsort(t, kind="stable")
    return t[order].astype(np.float32), u[order].astype(np.uint16)


def write_shd(
    path: str | os.PathLike,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: np.ndarray,
    speakers: np.ndarray | None = None,
    keys: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write one split in the SHD layout, atomically; returns ``path``.

    ``extra`` maps names to arrays stored under ``/extra``; ``attrs`` are root attributes
    (non-scalar values are stored as JSON text). What the loader would refuse is refused here
    (:func:`check_sample`; labels beyond the classes of :func:`reader_classes`).
    """
    import h5py

    path = check_output_path(path)  # before the work: a bad path fails at once
    labels = np.asarray(labels)
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise DataError(f"{path}: {len(times)} spike-time arrays, {len(units)} unit arrays and {n} labels; one each per sample")
    task, classes = reader_classes(path)
    if n and labels.dtype.kind not in "iu":
        raise DataError(f"{path}: labels have dtype {labels.dtype}; give integer classes 0..{classes - 1}")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        raise DataError(
            f"{path}: label {labels[bad[0]]} of sample {bad[0]} is outside 0..{classes - 1}, the classes "
            f"--task {task} reads ({len(bad)} such label(s)); relabel those samples"
        )
    samples = [check_sample(t, u, f"{path}: sample {i}") for i, (t, u) in enumerate(zip(times, units))]
    buffer = io.BytesIO()  # in memory, then written by write_bytes_atomic: HDF5 crashes on a full disk
    with h5py.File(buffer, "w") as h5:
        spikes = h5.create_group("spikes")
        t_ds = spikes.create_dataset("times", (n,), dtype=h5py.vlen_dtype(np.float32))
        u_ds = spikes.create_dataset("units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(samples):
            t_ds[i] = t
            u_ds[i] = u
        h5.create_dataset("labels", data=labels.astype(np.uint16))
        ext = h5.create_group("extra")
        if speakers is not None:
            speakers = np.asarray(speakers)
            if speakers.shape != (n,):
                raise DataError(f"{path}: {speakers.shape} speaker ids for {n} samples; one per sample")
            ext.create_dataset("speaker", data=speakers.astype(np.uint16))
        if keys is not None:
            ext.create_dataset("keys", data=np.array([str(k) for k in keys], dtype=object), dtype=h5py.string_dtype())
        for name, value in (extra or {}).items():
            value = np.asarray(value)
            if value.dtype.kind in "UO":
                ext.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype())
            else:
                ext.create_dataset(name, data=value)
        for name, value in (attrs or {}).items():
            h5.attrs[name] = value if isinstance(value, str | int | float) else json.dumps(value)
    return write_bytes_atomic(path, buffer.getvalue())


def write_shd_splits(out_dir: str | os.PathLike, splits: Mapping[str, Mapping[str, Any]]) -> dict[str, Path]:
    """Write ``out_dir/shd_{name}.h5`` for each split (``name -> write_shd keyword arguments``),
    all or none: they are staged in a temporary directory inside ``out_dir`` and renamed into
    place only once every one is complete, so an error or Ctrl-C leaves no partial output (and
    removes ``out_dir`` again if this call made it). Returns ``{name: path}``."""
    import contextlib
    import shutil
    import tempfile

    from ..fileio import move_into_place

    out = Path(out_dir)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{out}: cannot create the output directory ({err.strerror}); choose another -o") from err
    paths = {name: out / f"shd_{name}.h5" for name in splits}
    try:
        staging = Path(tempfile.mkdtemp(prefix=".shd.", suffix=".part", dir=out))
    except OSError as err:
        raise DataError(f"{out}: cannot write there ({err.strerror}); choose another -o") from err
    try:
        staged = {name: write_shd(staging / paths[name].name, **kwargs) for name, kwargs in splits.items()}
        for name in splits:
            move_into_place(staged[name], paths[name])
    except BaseException:
        if created:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths

"""The Heidelberg files: task and split names, the official file names, and opening ``.h5``,
``.h5.gz`` and ``.h5.zip`` (streamed into a temporary ``.h5``) with the fields checked."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataError

N_UNITS = 700  # cochlea channels in both SHD and SSC
SOURCE = "the Heidelberg spiking data sets (Cramer et al. 2020), https://zenkelab.org/datasets/"

_TASKS: dict[str, tuple[int, tuple[str, ...]]] = {
    "shd": (20, ("train", "test")),
    "ssc": (35, ("train", "valid", "test")),
}
_FIELDS = ("spikes/times", "spikes/units", "labels")
_SUFFIXES = (".h5", ".h5.gz", ".h5.zip")  # preference order when several are present


# ----------------------------------------------------------------------------------------------
# names and files


def available_splits(task: str) -> tuple[str, ...]:
    """Splits of a task: ``("train", "test")`` for SHD, ``("train", "valid", "test")`` for SSC."""
    return _TASKS[_check_task(task)][1]


def expected_files(task: str, split: str) -> list[str]:
    """File names accepted for one split, in order of preference (``shd_train.h5``, ...)."""
    task, split = _check_task(task), _check_split(task, split)
    return [f"{task}_{split}{suffix}" for suffix in _SUFFIXES]


def find_split_file(root: str | os.PathLike, task: str, split: str) -> Path:
    """The file holding ``task/split`` under ``root`` (plain ``.h5`` preferred over archives)."""
    root = Path(root)
    names = expected_files(task, split)
    if not root.exists():
        raise DataError(
            f"{root}: data directory does not exist; create it and put {names[0]} (or {names[1]}) there, "
            f"downloaded from {SOURCE}"
        )
    if not root.is_dir():
        raise DataError(f"{root}: is not a directory; pass the directory that holds {names[0]} (from {SOURCE})")
    for name in names:
        if (root / name).is_file():
            return root / name
    present = sorted(p.name for p in root.glob(f"{task.lower()}_*.h5*"))
    also = f" (found {', '.join(present)})" if present else ""
    raise DataError(
        f"{root}: no {' / '.join(names)} for {task.lower()}/{split.lower()}{also}; "
        f"download it (.h5.gz or .h5.zip as distributed is fine) from {SOURCE} into {root}"
    )


def _check_task(task: str) -> str:
    key = str(task).lower()
    if key not in _TASKS:
        raise DataError(f"task {task!r}: unknown Heidelberg data set; use one of {', '.join(_TASKS)}")
    return key


def _check_split(task: str, split: str) -> str:
    task = _check_task(task)
    key = str(split).lower()
    splits = _TASKS[task][1]
    if key not in splits:
        raise DataError(f"{task}: unknown split {split!r}; use one of {', '.join(splits)}")
    return key


# ----------------------------------------------------------------------------------------------
# opening .h5 / .h5.gz / .h5.zip


@contextlib.contextmanager
def _plain_h5(path: Path, progress: bool) -> Iterator[Path]:
    """Yield a path h5py can open: ``path`` itself, or a temporary decompressed copy."""
    if path.name.endswith(".h5"):
        yield path
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f"delaysnn-{path.name}-", suffix=".h5")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                if path.name.endswith(".gz"):
                    _gunzip(path, out, progress)
                else:
                    _unzip(path, out, progress)
        except (gzip.BadGzipFile, zipfile.BadZipFile, EOFError, zlib.error) as err:
            kind = "gzip" if path.name.endswith(".gz") else "zip"
            raise DataError(
                f"{path}: not a valid {kind} archive ({err}); the download is corrupt or truncated, "
                f"download it again from {SOURCE}"
            ) from err
        except OSError as err:
            raise DataError(
                f"{path}: cannot decompress into {tmp} ({err.strerror or err}); free space in "
                f"{tmp.parent} or point TMPDIR elsewhere, or decompress the file by hand"
            ) from err
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _copy_with_progress(src, out, total: int | None, desc: str, progress: bool) -> None:
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not progress, leave=False) as bar:
        while True:
            block = src.read(1 << 20)
            if not block:
                break
            out.write(block)
            bar.update(len(block))


def _gunzip(path: Path, out, progress: bool) -> None:
    from tqdm.auto import tqdm

    # The bar counts compressed bytes read: their total is the file size (gzip keeps the
    # decompressed size only modulo 2**32).
    size = path.stat().st_size
    with (
        open(path, "rb") as raw,
        tqdm.wrapattr(
            raw, "read", total=size, desc=f"gunzip {path.name}", disable=not progress, leave=False, unit="B"
        ) as counted,
        gzip.GzipFile(fileobj=counted, mode="rb") as src,
    ):
        shutil.copyfileobj(src, out, 1 << 20)


def _unzip(path: Path, out, progress: bool) -> None:
    with zipfile.ZipFile(path) as archive:
        inner = path.name[: -len(".zip")]
        members = [m for m in archive.infolist() if m.filename.rsplit("/", 1)[-1] == inner]
        if not members:
            members = [m for m in archive.infolist() if m.filename.endswith(".h5")]
        if len(members) != 1:
            names = [m.filename for m in archive.infolist()][:5]
            raise DataError(
                f"{path}: expected one member {inner} in the archive, found {names}; "
                f"extract {inner} by hand into {path.parent}"
            )
        with archive.open(members[0]) as src:
            _copy_with_progress(src, out, members[0].file_size, f"unzip {path.name}", progress)


def _datasets(h5, path: Path):
    import h5py

    found = []
    for field in _FIELDS:
        try:
            obj = h5.get(field)
        except (KeyError, TypeError, ValueError):  # e.g. "spikes" is a dataset, not a group
            obj = None
        if not isinstance(obj, h5py.Dataset):
            raise DataError(
                f"{path}: no dataset '{field}' (official layout: spikes/times, spikes/units, labels); "
                f"is this a Heidelberg file? download it again from {SOURCE}"
            )
        if obj.ndim != 1:
            raise DataError(
                f"{path}: dataset '{field}' has shape {obj.shape}, expected one entry per sample (1-D, official layout: "
                f"spikes/times, spikes/units, labels); is this a Heidelberg file? download it again from {SOURCE}"
            )
        found.append(obj)
    return found

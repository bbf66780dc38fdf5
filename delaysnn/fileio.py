"""Writing files safely: never leave a half-written output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import DelaysnnError


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, in one line, when ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DelaysnnError(f"{path}: directory {parent} does not exist; create it or choose another -o path")
    if not os.access(parent, os.W_OK):
        raise DelaysnnError(f"{path}: directory {parent} is not writable; choose another -o path")
    if path.is_dir():
        raise DelaysnnError(f"{path}: is a directory; give a file name")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An exception (or Ctrl-C) inside the block removes the temporary file, so readers never see a
    partial output.
    """
    path = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as err:  # read-only file system, permissions root bypasses in os.access, quota
        raise DelaysnnError(f"{path}: cannot write in {path.parent} ({err.strerror}); choose another -o path") from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path` (all of it or nothing)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def check_input_path(path: str | os.PathLike, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise DelaysnnError(f"{path}: no such {what}")
    if path.is_dir():
        raise DelaysnnError(f"{path}: is a directory, expected a {what}")
    if not os.access(path, os.R_OK):
        raise DelaysnnError(f"{path}: not readable (check its permissions)")
    return path

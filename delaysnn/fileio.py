"""Writing files safely: one guard for every output path.

Every writer in delaysnn goes through :func:`atomic_path` (or :func:`write_bytes_atomic`,
:func:`move_into_place`), which guarantees:

- **All or nothing.** The data goes to a temporary ``.NAME.XXXX.part`` beside the output and is
  renamed onto it only when complete; any exception (Ctrl-C, and the SIGTERM/SIGHUP the CLI
  turns into :class:`~delaysnn.errors.Terminated`) removes the temporary, and a pre-existing
  output is left untouched.
- **Inputs are never outputs.** :func:`check_output_path` refuses an output that resolves
  (symlinks followed, hard links included) to one of the command's inputs.
- **Only regular files are replaced.** An existing directory, FIFO, socket or device node is
  refused, never replaced by a regular file.
- **Symlinks are followed.** An output that is a symlink writes its target (atomically, beside
  the target); the link itself stays. A symlink loop is refused.
- **Modes as the shell would give them.** A new file gets ``0o666 & ~umask``; an overwritten
  file keeps its mode.
- **Full and read-only disks are one line.** ENOSPC, EDQUOT and EROFS become a
  :class:`~delaysnn.errors.DelaysnnError` saying so (temporary removed, old output intact).
  Writers whose library may crash or hide the errno on a full disk (h5py, torch.save) build
  the file in memory and write the bytes here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DelaysnnError

_DISK_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}

_KINDS = (
    (stat.S_ISDIR, "a directory; give a file name"),
    (stat.S_ISFIFO, "a FIFO (named pipe), not a regular file; give a regular file path"),
    (stat.S_ISSOCK, "a socket, not a regular file; give a regular file path"),
    (stat.S_ISCHR, "a character device, not a regular file; give a regular file path"),
    (stat.S_ISBLK, "a block device, not a regular file; give a regular file path"),
)


def output_target(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: ``path`` with every symlink followed."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath gives up on a loop and returns the link itself
        raise DelaysnnError(f"{path}: symlink loop; give a regular file path")
    return target


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    if a == Path(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_output_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Fail early, in one line, when ``path`` cannot or must not be written; returns ``Path(path)``.

    Refused: a missing or unwritable directory, a read-only file system, an existing output that
    is not a regular file (directory, FIFO, socket, device), a path ending in ``/``, a symlink loop, and an output that
    resolves to one of ``inputs`` (the files the command reads; ``None`` entries are skipped).
    A symlink is followed: its target is what gets written (see :func:`output_target`).
    """
    if os.fspath(path).endswith(("/", os.sep)):  # Path() drops the slash: "newdir/" would be written as a file
        raise DelaysnnError(f"{os.fspath(path)}: ends with '/', so it names a directory; give a file path such as {os.fspath(path)}NAME")
    path = Path(path)
    target = output_target(path)
    shown = path if target == Path(os.path.abspath(path)) else f"{path} (-> {target})"
    for source in inputs:
        if source is not None and _same_file(target, source):
            raise DelaysnnError(f"{shown}: is the input {source}; writing it would destroy it, choose another output path")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise DelaysnnError(f"{shown}: cannot check it ({err.strerror}); choose another output path") from err
    for is_kind, what in _KINDS:
        if mode is not None and is_kind(mode):
            raise DelaysnnError(f"{shown}: is {what}")
    parent = target.parent
    if not parent.is_dir():
        raise DelaysnnError(f"{shown}: directory {parent} does not exist; create it or choose another -o path")
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            raise DelaysnnError(f"{shown}: {parent} is on a read-only file system; choose another -o path")
    if not os.access(parent, os.W_OK):
        raise DelaysnnError(f"{shown}: directory {parent} is not writable; choose another -o path")
    return path


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``).

    Elsewhere it is read the only portable way, ``os.umask(0)`` then restoring it, which a
    thread creating a file in between would see; delaysnn writes from one thread.
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0)
    os.umask(old)
    return old


def _final_mode(target: Path) -> int:
    """The mode the written file should have: the replaced file's permission bits, else ``0o666 & ~umask``.

    Set-user-ID, set-group-ID and sticky bits are not carried over: the new file may have
    another owner (root writing a user's file).
    """
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        return 0o666 & ~current_umask()


def disk_error(exc: BaseException) -> int | None:
    """The ENOSPC/EDQUOT/EROFS errno behind ``exc`` (its causes included), else None.

    Libraries that wrap the OS error in their own (torch's stream writer, HDF5) keep only its
    text, so the strerror is looked for in the message too.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
            return exc.errno
        text = str(exc)
        for code in _DISK_ERRORS:
            if os.strerror(code) in text:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def _disk_message(code: int, path: Path) -> str:
    fix = "choose another -o" if code == errno.EROFS else "free space or choose another -o"
    return f"{_DISK_ERRORS[code]} while writing {path}; {fix}"


def write_failure(err: OSError, path: str | os.PathLike, what: str) -> DelaysnnError:
    """An ``OSError`` met writing ``path`` as one line: the full-disk message every writer gives,
    else ``what`` failed with the OS's reason."""
    code = disk_error(err)
    if code is not None:
        return DelaysnnError(_disk_message(code, Path(path)))
    return DelaysnnError(f"{path}: cannot write {what} ({err.strerror or err}); choose another -o path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``'s target; rename it onto the target only if the block succeeds.

    See the module docstring for the guarantees (cleanup, symlinks followed, modes, full disks).
    """
    path = check_output_path(path)
    target = output_target(path)
    mode = _final_mode(target)
    # Ctrl-C / SIGTERM raise in Python code: held from before the temporary exists until the
    # cleanup below guards it, so none can leave a .part behind between the two
    held = _hold_stop_signals()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as err:  # read-only file system, permissions root bypasses in os.access, quota
        _release_signals(held)
        if err.errno in _DISK_ERRORS:
            raise DelaysnnError(_disk_message(err.errno, path)) from err
        raise DelaysnnError(f"{path}: cannot write in {target.parent} ({err.strerror}); choose another -o path") from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        _release_signals(held)  # a signal held since mkstemp is raised here, where the cleanup sees it
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        code = disk_error(err) if isinstance(err, Exception) and not isinstance(err, DelaysnnError) else None
        if code is not None:
            raise DelaysnnError(_disk_message(code, path)) from err
        raise


_STOP_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}


def _hold_stop_signals() -> set[signal.Signals] | None:
    """Block the stop signals for this thread; the previous mask (None where unsupported)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _release_signals(previous: set[signal.Signals] | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path` (all of it or nothing)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def move_into_place(src: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Rename the finished file ``src`` onto ``path`` with :func:`atomic_path`'s guarantees.

    For writers that stage several files and move them at the end. ``src`` takes the mode the
    output should have; when ``path``'s target is on another file system it is copied through
    :func:`atomic_path` instead. ``src`` is gone afterwards unless an error is raised.
    """
    path = check_output_path(path)
    target = output_target(path)
    try:
        os.chmod(src, _final_mode(target))
        os.replace(src, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise write_failure(err, path, "it") from err
        with atomic_path(path) as tmp:
            shutil.copyfile(src, tmp)
        os.unlink(src)
    return path


def check_input_path(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a ``Path`` if it names a readable file; otherwise one line saying why not
    (missing, a symlink loop, a dangling symlink, a directory, unreadable)."""
    path = Path(path)
    if not path.exists():
        try:
            os.stat(path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                where = "" if path.is_symlink() else " in the path"
                raise DelaysnnError(f"{path}: symlink loop{where}; point the link at a real {what}") from err
        if path.is_symlink():
            raise DelaysnnError(f"{path}: dangling symlink (its target {os.readlink(path)} does not exist); give an existing {what}")
        raise DelaysnnError(f"{path}: no such {what}")
    if path.is_dir():
        raise DelaysnnError(f"{path}: is a directory, expected a {what}")
    if not os.access(path, os.R_OK):
        raise DelaysnnError(f"{path}: not readable (check its permissions)")
    return path


def check_hdf5(path: str | os.PathLike, what: str = "HDF5 file") -> None:
    """Refuse, in one line, an HDF5 file whose structure crashes the HDF5 library.

    HDF5 (1.14) dereferences corrupt object headers and B-trees without checking them, so a
    damaged file can kill the process with SIGSEGV instead of raising. Its groups, datasets'
    headers and attributes are therefore walked first in a forked child; a child that dies is
    reported as a corrupt file. Where ``fork`` is unavailable the walk is skipped.
    """
    if not hasattr(os, "fork"):
        return
    import faulthandler

    import h5py

    pid = os.fork()
    if pid == 0:  # child: walk silently, then leave without running any parent cleanup
        code = 0
        try:
            faulthandler.disable()  # a crash here is expected and reported by the parent
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)

            def visit(name: str, obj: object) -> None:
                dict(obj.attrs)
                if isinstance(obj, h5py.Dataset):
                    _ = (obj.shape, obj.dtype)

            with h5py.File(path, "r") as f:
                dict(f.attrs)
                f.visititems(visit)
        except BaseException:
            code = 0  # an exception is the caller's to report, with its own message
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise DelaysnnError(
            f"{path}: corrupt {what} (the HDF5 library crashed reading its structure, "
            f"{_signal_name(os.WTERMSIG(status))}); the file is damaged: re-create or re-download it"
        )


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# What a file holds, by its first bytes, for messages that say what was given instead.
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KINDS = {
    "dnet": "a delaysnn integer network (.dnet, IR)",
    "torch": "a PyTorch checkpoint",
    "hdf5": "an HDF5 file (a NIR graph, a netx network or SHD-layout data)",
    "zip": "a zip archive",
    "toml": "a TOML file",
}


def sniff(path: str | os.PathLike) -> str | None:
    """A key of :data:`KINDS` for the file's content (magic bytes, zip member names), else None."""
    import zipfile

    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head == _HDF5_MAGIC:
            return "hdf5"
        if head.startswith(b"PK") and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if "header.npy" in names:
                return "dnet"
            return "torch" if any(n.endswith("data.pkl") for n in names) else "zip"
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return None

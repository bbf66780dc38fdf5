"""The output guard and the signal policy (issue 14, classes 1-3), as a user meets them.

An output never destroys an input or a non-regular file, follows symlinks, honours the umask and
the replaced file's mode; SIGTERM/SIGHUP and full disks leave one line, no ``.part`` file and the
old output intact.
"""

import errno
import os
import pathlib
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from delaysnn.cli import stop_signals
from delaysnn.errors import DelaysnnError, Terminated
from delaysnn.fileio import atomic_path, check_output_path, disk_error, write_bytes_atomic
from tests.conftest import default_signals, needs_espeak
from tests.conftest import run_cli as run

MODEL = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"
ENV = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}




def one_line(err: str) -> str:
    """The one message on stderr (training's progress bar aside)."""
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip() and "%|" not in line]
    assert len(lines) == 1, err
    return lines[0]


def debris(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.pt"
    shutil.copyfile(MODEL, path)
    return path


# --- 1. an output never destroys an input, a device, a FIFO ---------------------------------

COMMANDS = {
    "export": lambda m, o: ["export", m, "--target", "onnx", "-o", o],
    "quantize": lambda m, o: ["quantize", m, "-o", o],
    "simulate --plot": lambda m, o: ["simulate", m, "--samples", "4", "--plot", o],
    "estimate --plot": lambda m, o: ["estimate", m, "--samples", "4", "--plot", o],
    "train --init": lambda m, o: ["train", "--init", m, "--epochs", "1", "-o", o],
    "convert": lambda m, o: ["convert", "--from", "snn-delays", m, "-o", o],
}


def alias(kind: str, model: Path) -> str:
    """Another name for ``model``: itself, a symlink, a relative path with ``..``, a hard link."""
    if kind == "same":
        return str(model)
    if kind == "symlink":
        link = model.parent / "link.pt"
        link.symlink_to(model.name)
        return str(link)
    if kind == "relative":
        (model.parent / "sub").mkdir()
        return os.path.relpath(model.parent / "sub" / ".." / model.name)
    os.link(model, model.parent / "hard.pt")
    return str(model.parent / "hard.pt")


@pytest.mark.parametrize("kind", ["same", "symlink", "relative", "hardlink"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_output_that_is_the_input_is_refused(command, kind, model, capsys):
    before = model.read_bytes()
    code, _, err = run(COMMANDS[command](model, alias(kind, model)), capsys)
    assert code == 1 and "is the input" in one_line(err), err
    assert model.read_bytes() == before and not model.is_symlink()
    assert debris(model.parent) == []


def test_default_export_path_that_is_the_input_is_refused(model, tmp_path, capsys):
    net = tmp_path / "m.dnet"
    assert run(["quantize", model, "-o", net], capsys)[0] == 0
    before = net.read_bytes()
    code, _, err = run(["export", net, "--target", "ir"], capsys)  # default -o: m.dnet itself
    assert code == 1 and "is the input" in one_line(err) and net.read_bytes() == before


def test_data_files_and_recordings_are_inputs(model, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "shd_test.h5").write_bytes(b"not really hdf5")
    code, _, err = run(["simulate", model, "--data", data, "--plot", data / "shd_test.h5"], capsys)
    assert code == 1 and "is the input" in one_line(err)
    assert (data / "shd_test.h5").read_bytes() == b"not really hdf5"

    wav = tmp_path / "a.wav"
    wavfile.write(wav, 16000, np.zeros(1600, np.int16))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\na.wav,1\n")
    for out in (wav, labels):
        before = out.read_bytes()
        code, _, err = run(["encode-audio", tmp_path, "--labels", labels, "-o", out], capsys)
        assert code == 1 and "is the input" in one_line(err) and out.read_bytes() == before


def test_fifo_device_directory_and_loops_are_refused(model, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (["export", model, "--target", "ir", "-o", fifo], ["simulate", model, "--samples", "4", "--plot", fifo]):
        code, _, err = run(args, capsys)
        assert code == 1 and "FIFO" in one_line(err)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # as root, replacing /dev/null would break the machine: it is refused like any device
    code, _, err = run(["export", model, "--target", "ir", "-o", "/dev/null"], capsys)
    assert code == 1 and "character device" in one_line(err)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    code, _, err = run(["quantize", model, "-o", tmp_path], capsys)
    assert code == 1 and "is a directory" in one_line(err)
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(DelaysnnError, match="symlink loop"):
        check_output_path(tmp_path / "a")
    assert debris(tmp_path) == []


def test_symlink_output_writes_its_target_and_keeps_the_link(model, tmp_path, capsys):
    from delaysnn import ir

    target = tmp_path / "elsewhere" / "real.dnet"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "out.dnet"
    link.symlink_to(target)
    assert run(["quantize", model, "-o", link], capsys)[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert ir.load(target).sizes == [16, 32, 32, 4]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert debris(tmp_path) == [] and debris(target.parent) == []
    dangling = tmp_path / "new.dnet"
    dangling.symlink_to(tmp_path / "elsewhere" / "created.dnet")
    assert run(["export", model, "--target", "ir", "-o", dangling], capsys)[0] == 0
    assert dangling.is_symlink() and (tmp_path / "elsewhere" / "created.dnet").is_file()


# --- 2. modes: the umask for new files, the old mode for replaced ones -----------------------


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.slow
def test_new_files_get_the_umask_and_replaced_files_keep_their_mode(model, tmp_path, umask, capsys):
    umask(0o022)
    assert run(["export", model, "--target", "ir", "-o", tmp_path / "a.dnet"], capsys)[0] == 0
    assert stat.S_IMODE((tmp_path / "a.dnet").stat().st_mode) == 0o644
    umask(0o077)
    write_bytes_atomic(tmp_path / "b.bin", b"x")
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o600
    (tmp_path / "c.pt").write_bytes(b"old")
    (tmp_path / "c.pt").chmod(0o644)
    assert run(["train", "--init", model, "--epochs", "1", "--samples", "64", "-o", tmp_path / "c.pt"], capsys)[0] == 0
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o644
    umask(0o027)
    (tmp_path / "d.png").write_bytes(b"old")
    (tmp_path / "d.png").chmod(0o4604)  # set-user-ID is not carried over to the new file
    assert run(["simulate", model, "--samples", "4", "--plot", tmp_path / "d.png"], capsys)[0] == 0
    assert stat.S_IMODE((tmp_path / "d.png").stat().st_mode) == 0o604


# --- 3. full disks ---------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """``(directory, real)``: a directory whose file system is full, holding ``keep.out`` (b"old").

    Real where a 64 KiB tmpfs can be mounted (root, as on CI), then filled. Elsewhere the
    fallback simulates ENOSPC: every write of a ``.part`` file raises it.
    """
    where = tmp_path / "full"
    where.mkdir()
    real = os.geteuid() == 0 and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    ).returncode == 0
    try:
        (where / "keep.out").write_bytes(b"old")
        if real:
            with pytest.raises(OSError) as full, open(where / "filler", "wb", buffering=0) as fh:
                for _ in range(64):
                    fh.write(b"\0" * 4096)
            assert full.value.errno == errno.ENOSPC
        else:  # fallback: no tmpfs here (not root, or no mount permission)
            def no_space(*a, **k):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            real_write = pathlib.Path.write_bytes
            monkeypatch.setattr(pathlib.Path, "write_bytes",
                                lambda self, data: no_space() if self.name.endswith(".part") else real_write(self, data))
            import matplotlib.figure

            monkeypatch.setattr(matplotlib.figure.Figure, "savefig", no_space)
        yield where, real
    finally:
        if real:
            subprocess.run(["umount", str(where)], check=False)


FULL_COMMANDS = {
    "loihi": ["export", MODEL, "--target", "loihi"],
    "onnx": ["export", MODEL, "--target", "onnx"],
    "onnx --float": ["export", MODEL, "--target", "onnx", "--float"],
    "nir": ["export", MODEL, "--target", "nir"],
    "ir": ["export", MODEL, "--target", "ir"],
    "quantize": ["quantize", MODEL],
    "simulate --plot": ["simulate", MODEL, "--samples", "4", "--plot"],
    "train": ["train", "--epochs", "1", "--samples", "64", "-o"],
}
FULL_SUFFIX = {"loihi": ".h5", "onnx": ".onnx", "onnx --float": ".onnx", "nir": ".nir", "ir": ".dnet", "simulate --plot": ".png"}


@pytest.mark.parametrize("command", list(FULL_COMMANDS))
def test_full_disk_is_one_line_and_keeps_the_old_output(command, full_disk, capsys, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    where, _ = full_disk
    keep = (where / "keep.out").rename(where / f"keep{FULL_SUFFIX.get(command, '.out')}")  # exports and plots: their format's suffix
    args = FULL_COMMANDS[command]
    args = args + [keep] if args[-1] in ("-o", "--plot") else args + ["-o", keep]
    code, _, err = run(args, capsys)
    line = one_line(err)
    assert code == 1 and "no space left on device while writing" in line and "free space or choose another -o" in line
    assert keep.read_bytes() == b"old"
    assert debris(where) == []


@pytest.mark.slow
def test_full_disk_loihi_export_exits_1_not_a_crash(full_disk):
    where, real = full_disk
    if not real:
        pytest.skip("needs a real full file system (a tmpfs: root); the in-process test covers the fallback")
    keep = (where / "keep.out").rename(where / "keep.h5")
    proc = subprocess.run([sys.executable, "-c", "from delaysnn.cli import main; main()", "export", str(MODEL),
                           "--target", "loihi", "-o", str(keep)], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 1, proc.stderr  # was 139: HDF5 segfaulted on ENOSPC
    assert "no space left on device" in one_line(proc.stderr)
    assert keep.read_bytes() == b"old" and debris(where) == []


def test_disk_errors_are_found_behind_wrapping_libraries():
    wrapped = RuntimeError("file write failed: errno = 28, error message = 'No space left on device'")
    assert disk_error(wrapped) == errno.ENOSPC
    try:
        try:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        except OSError as err:
            raise RuntimeError("stream writer failed") from err
    except RuntimeError as err:
        assert disk_error(err) == errno.EDQUOT
    assert disk_error(ValueError("bad value")) is None


def test_read_only_file_system_is_one_line(tmp_path, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(DelaysnnError, match="read-only file system while writing .*; choose another -o"):
        write_bytes_atomic(tmp_path / "x.bin", b"x")


# --- 3. signals ------------------------------------------------------------------------------

# Writes half of the output, says so, then waits for the signal.
SLOW_WRITE = r"""
import pathlib, sys, time
from delaysnn.cli import main
def slow(self, data):
    with open(self, "wb") as fh:
        fh.write(data[: len(data) // 2])
    print("writing", flush=True)
    time.sleep(60)
pathlib.Path.write_bytes = slow
main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.slow
def test_signal_during_a_write_leaves_the_old_output_and_no_debris(sig, tmp_path):
    out = tmp_path / "m.dnet"
    out.write_bytes(b"old")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "quantize", str(MODEL), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_signals)
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert len(debris(tmp_path)) == 1  # the signal lands mid-write
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig
    assert one_line(err) == f"interrupted by {signal.Signals(sig).name}; no partial output was left behind"
    assert out.read_bytes() == b"old" and debris(tmp_path) == []


def test_sigterm_in_process_cleans_up_and_handlers_come_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as exc, stop_signals():
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert exc.value.signum == signal.SIGTERM and list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_signal_stays_ignored(capsys):
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with stop_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert callable(signal.getsignal(signal.SIGTERM))
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_espeak
def test_sigterm_stops_make_dataset_and_its_workers(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "from delaysnn.cli import main; main()", "make-dataset", "spoken-digits",
                             "-o", str(out), "--per-class", "40", "--workers", "2", "--variants", "m1,m2,f1,f3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_signals)
    try:
        assert proc.stdout.readline().startswith("spoken-digits:")  # planned; workers start now
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 3 and time.monotonic() < deadline:  # 2 workers + resource tracker
            time.sleep(0.2)
        kids = _children(proc.pid)
        assert len(kids) >= 2
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert one_line(err) == "interrupted by SIGTERM; no partial output was left behind"
    assert list(out.iterdir()) == []
    deadline = time.monotonic() + 5
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(k) for k in kids), "worker processes outlived make-dataset"

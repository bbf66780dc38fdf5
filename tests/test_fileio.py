import errno
import tempfile

import pytest

from delaysnn.errors import DelaysnnError
from delaysnn.fileio import atomic_path, check_input_path, write_bytes_atomic


def test_read_only_directory_is_a_one_line_error(tmp_path, monkeypatch):
    # root ignores directory permissions, so simulate the refusal the OS gives a normal user
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(DelaysnnError) as err:
        with atomic_path(tmp_path / "out.onnx"):
            pass
    assert "cannot write" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_failure_inside_the_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unreadable_and_directory_inputs(tmp_path):
    with pytest.raises(DelaysnnError, match="is a directory"):
        check_input_path(tmp_path)
    with pytest.raises(DelaysnnError, match="no such"):
        check_input_path(tmp_path / "x")


def test_write_bytes_atomic_replaces_the_whole_file(tmp_path):
    out = tmp_path / "model.bin"
    out.write_bytes(b"old content, longer than the new one")
    assert write_bytes_atomic(out, b"new") == out
    assert out.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]  # no temporary left behind

"""Issue 14, classes 6 and 8: every reader refuses damaged or foreign input in one line.

One small real file of each format is built once per session; hypothesis mutates its bytes
(truncate, flip, zero a range, append junk) and, for structured formats, its fields (HDF5
datasets, NIR metadata, ONNX graph, .dnet header), then every command that reads the format
runs in process. Whatever the mutation, the command exits 0 (the file stayed valid), 1 or 2,
prints exactly one stderr line when it fails, never a traceback, leaves no new file beside the
input and does not change it. Disk full and SIGTERM during writes: tests/test_output_guard.py.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import default_signals, run_cli

FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="session")
def real_files(tmp_path_factory) -> dict[str, Path]:
    """One real file per format: checkpoint, .dnet, .nir, .onnx, netx .h5, SHD dir, profile."""
    from delaysnn.data.shd_file import write_shd
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("fuzz-base")
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=140, output_size=4, hidden_size=8, hidden_layers=1, max_delay=7, time_step_ms=10.0)).eval()
    save_checkpoint(model, d / "m.pt", {"task": "shd", "input_max_count": 3})
    small = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=1, max_delay=7)).eval()
    save_checkpoint(small, d / "small.pt", {})
    from delaysnn.cli import main

    for args in (
        ["quantize", d / "m.pt", "-o", d / "m.dnet"],
        ["export", d / "m.dnet", "--target", "nir", "-o", d / "m.nir"],
        ["export", d / "m.dnet", "--target", "onnx", "-o", d / "m.onnx"],
        ["export", d / "small.pt", "--target", "loihi", "--input-bits", "1", "-o", d / "m.h5"],  # small.pt records no input range
    ):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 0, args
    rng = np.random.default_rng(0)
    (d / "shd").mkdir()
    for split, n in (("train", 8), ("test", 4)):
        times = [np.sort(rng.uniform(0, 0.2, 30)) for _ in range(n)]
        units = [rng.integers(0, 700, 30) for _ in range(n)]
        write_shd(d / "shd" / f"shd_{split}.h5", times, units, rng.integers(0, 4, n).astype(np.uint16), keys=[f"k{i}" for i in range(4)])
    shutil.copy(Path(__file__).parents[1] / "hardware" / "profiles" / "loihi2.toml", d / "p.toml")
    return {"pt": d / "m.pt", "dnet": d / "m.dnet", "nir": d / "m.nir", "onnx": d / "m.onnx", "h5": d / "m.h5",
            "shd": d / "shd", "toml": d / "p.toml"}


# --- the harness ---------------------------------------------------------------------------------


def assert_clean(args, capsys, workdir: Path, inputs: list[Path], outputs: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run ``delaysnn ARGS`` and assert the contract for bad input; returns ``(code, stderr)``.

    ``outputs``: names the command may write when it succeeds."""
    before = {p: p.read_bytes() for p in inputs}
    listing = set(os.listdir(workdir))
    code, _, err = run_cli(args, capsys)
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), (code, err)
    after = set(os.listdir(workdir)) - listing
    if code == 0:
        assert after <= set(outputs), after
    else:
        shown = [line.split("\r")[-1] for line in err.split("\n")]  # a progress bar redraws with \r
        lines = [line for line in shown if line.strip() and not line.startswith("note:")]
        if code == 1:
            assert len(lines) == 1, err
        assert not after, after
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} changed"
    return code, err


def _mutate_bytes(raw: bytes, op: str, at: float, size: int) -> bytes:
    n = len(raw)
    i = int(at * max(n - 1, 0))
    if op == "truncate":
        return raw[:i]
    if op == "flip":
        b = bytearray(raw)
        for k in range(i, min(n, i + size)):
            b[k] ^= 0xFF
        return bytes(b)
    if op == "zero":
        return raw[:i] + bytes(min(size, n - i)) + raw[i + size:]
    return raw + os.urandom(size)  # append


BYTE_OPS = st.tuples(st.sampled_from(["truncate", "flip", "zero", "append"]), st.floats(0, 1), st.integers(1, 512))

COMMANDS = {  # format -> commands that read it (MODEL at {p}, outputs in {w})
    "pt": [["inspect", "{p}"], ["quantize", "{p}", "-o", "{w}/o.dnet"], ["simulate", "{p}", "--samples", "2", "--data", "{shd}"],
           ["export", "{p}", "--target", "onnx", "--float", "-o", "{w}/o.onnx"]],
    "dnet": [["inspect", "{p}"], ["simulate", "{p}", "--samples", "2", "--data", "{shd}"], ["export", "{p}", "--target", "nir", "-o", "{w}/o.nir"],
             ["verify", "{p}", "--backends", "sim", "--samples", "2", "--data", "{shd}"]],
    "nir": [["inspect", "{p}"]],
    "onnx": [["inspect", "{p}"]],
    "h5": [["inspect", "{p}"]],
}
OUTPUTS = ("o.dnet", "o.onnx", "o.nir")


def _run_all(fmt: str, data: bytes, real_files, tmp_path_factory, capsys) -> None:
    w = tmp_path_factory.mktemp(f"fz-{fmt}")
    p = w / f"m.{fmt if fmt != 'h5' else 'h5'}"
    p.write_bytes(data)
    for template in COMMANDS[fmt]:
        args = [a.format(p=p, w=w, shd=real_files["shd"]) for a in template]
        assert_clean(args, capsys, w, [p], OUTPUTS)
        for name in OUTPUTS:
            (w / name).unlink(missing_ok=True)


@pytest.mark.parametrize("fmt", ["pt", "dnet", "nir", "onnx", "h5"])
@FUZZ
@given(op=BYTE_OPS)
@pytest.mark.slow
def test_byte_mutations(fmt, op, real_files, tmp_path_factory, capsys):
    _run_all(fmt, _mutate_bytes(real_files[fmt].read_bytes(), *op), real_files, tmp_path_factory, capsys)


# --- field mutations of structured formats -------------------------------------------------------------


def _h5_bytes(src: Path, edit) -> bytes:
    buf = io.BytesIO(src.read_bytes())
    with h5py.File(buf, "r+") as f:
        edit(f)
    return buf.getvalue()


def _datasets(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


H5_EDITS = ["delete", "string", "nan", "one_d", "empty", "negative", "huge"]


def _edit_dataset(name: str, how: str):
    def edit(f):
        old = f[name]
        shape = old.shape
        del f[name]
        if how == "delete":
            return
        if how == "string":
            f[name] = np.bytes_("garbage")
        elif how == "nan":
            f[name] = np.full(shape or (1,), np.nan)
        elif how == "one_d":
            f[name] = np.arange(3, dtype=np.int64)
        elif how == "empty":
            f[name] = np.zeros((0,), np.float32)
        elif how == "negative":
            f[name] = -np.ones(shape or (), np.int64)
        else:
            f[name] = np.full(shape or (), 2**40, np.int64)

    return edit


@pytest.mark.parametrize("fmt", ["nir", "h5"])
@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_hdf5_field_mutations(fmt, data, real_files, tmp_path_factory, capsys):
    src = real_files[fmt]
    name = data.draw(st.sampled_from(_datasets(src)))
    how = data.draw(st.sampled_from(H5_EDITS))
    _run_all(fmt, _h5_bytes(src, _edit_dataset(name, how)), real_files, tmp_path_factory, capsys)


def _edit_nir_metadata(key: str, value):
    def edit(f):
        meta = f["node"]["metadata"] if "metadata" in f["node"] else f["node"].create_group("metadata")
        if key in meta:
            del meta[key]
        if value is not None:
            meta[key] = value

    return edit


@FUZZ
@given(key=st.sampled_from(["dt", "format", "version", "network", "input_bits", "time_step_ms", "provenance", "latency_steps"]),
       value=st.sampled_from([None, "abc", -1.0, np.nan, 0, 2**40, np.arange(3)]))
@pytest.mark.slow
def test_nir_metadata_mutations(key, value, real_files, tmp_path_factory, capsys):
    _run_all("nir", _h5_bytes(real_files["nir"], _edit_nir_metadata(key, value)), real_files, tmp_path_factory, capsys)


@FUZZ
@given(how=st.sampled_from(["drop_node", "bad_op", "drop_initializer", "external", "no_opset", "bad_type", "empty_graph"]),
       at=st.floats(0, 1))
def test_onnx_graph_mutations(how, at, real_files, tmp_path_factory, capsys):
    import onnx

    model = onnx.load(str(real_files["onnx"]))
    g = model.graph
    i = int(at * (len(g.node) - 1))
    if how == "drop_node":
        del g.node[i]
    elif how == "bad_op":
        g.node[i].op_type = "NoSuchOp"
    elif how == "drop_initializer":
        del g.initializer[int(at * (len(g.initializer) - 1))]
    elif how == "external":
        t = g.initializer[0]
        t.data_location = onnx.TensorProto.EXTERNAL
        t.external_data.add(key="location", value="missing.bin")
    elif how == "no_opset":
        del model.opset_import[:]
    elif how == "bad_type":
        g.input[0].type.tensor_type.elem_type = 999
    else:
        del g.node[:]
    _run_all("onnx", model.SerializeToString(), real_files, tmp_path_factory, capsys)


def _dnet_with_header(src: Path, edit) -> bytes:
    import json

    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(np.load(io.BytesIO(members["header.npy"])).tobytes())
    edit(header)
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    members["header.npy"] = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return out.getvalue()


def _json_paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for k, v in enumerate(obj[:3]):
            yield from _json_paths(v, (*prefix, k))
    if prefix:
        yield prefix


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_dnet_header_mutations(data, real_files, tmp_path_factory, capsys):
    import json

    with zipfile.ZipFile(real_files["dnet"]) as zf:
        header = json.loads(np.load(io.BytesIO(zf.read("header.npy"))).tobytes())
    path = data.draw(st.sampled_from(sorted(_json_paths(header), key=str)))
    value = data.draw(st.sampled_from(["x", -1, 2**62, 1.5, None, [], {}, "delete"]))

    def edit(h):
        node = h
        for k in path[:-1]:
            node = node[k]
        if value == "delete":
            del node[path[-1]]
        else:
            node[path[-1]] = value

    _run_all("dnet", _dnet_with_header(real_files["dnet"], edit), real_files, tmp_path_factory, capsys)


# --- --data (SHD layout) and profiles ------------------------------------------------------------------


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_shd_mutations(data, real_files, tmp_path_factory, capsys):
    src = real_files["shd"]
    w = tmp_path_factory.mktemp("fz-shd")
    shd = w / "shd"
    shutil.copytree(src, shd)
    split = data.draw(st.sampled_from(["shd_train.h5", "shd_test.h5"]))
    target = shd / split
    if data.draw(st.booleans()):
        target.write_bytes(_mutate_bytes(target.read_bytes(), *data.draw(BYTE_OPS)))
    else:
        name = data.draw(st.sampled_from(_datasets(target)))
        target.write_bytes(_h5_bytes(target, _edit_dataset(name, data.draw(st.sampled_from(H5_EDITS)))))
    inputs = sorted(shd.iterdir())
    assert_clean(["simulate", real_files["dnet"], "--data", shd, "--samples", "2"], capsys, shd, inputs)
    assert_clean(["train", "--task", "shd", "--data", shd, "--epochs", "1", "--hidden", "4", "--layers", "1", "-o", w / "t.pt"],
                 capsys, shd, inputs)
    (w / "t.pt").unlink(missing_ok=True)


@FUZZ
@given(op=BYTE_OPS)
def test_profile_mutations(op, real_files, tmp_path_factory, capsys):
    w = tmp_path_factory.mktemp("fz-toml")
    p = w / "p.toml"
    p.write_bytes(_mutate_bytes(real_files["toml"].read_bytes(), *op))
    assert_clean(["quantize", real_files["pt"], "--profile", p, "-o", w / "o.dnet"], capsys, w, [p], ("o.dnet",))
    assert_clean(["estimate", real_files["dnet"], "--profile", p, "--samples", "2"], capsys, w, [p])


# --- class 6, by example (and other members) ------------------------------------------------------------


def _inspect_fails(path: Path, capsys, *words: str) -> str:
    code, err = assert_clean(["inspect", path], capsys, path.parent, [path])
    assert code == 1, err
    assert str(path) in err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("data, words", [
    (b"", ("empty",)),
    (b"\x08\x07\x12\x03abc", ("holds no ONNX model",)),  # parses: a foreign protobuf
    (b"\xff" * 64, ("not a readable ONNX",)),
])
def test_onnx_empty_foreign_corrupt(tmp_path, capsys, data, words):
    p = tmp_path / "x.onnx"
    p.write_bytes(data)
    _inspect_fails(p, capsys, *words)


def test_onnx_truncated_and_external_data(tmp_path, capsys, real_files):
    import onnx

    p = tmp_path / "t.onnx"
    raw = real_files["onnx"].read_bytes()
    p.write_bytes(raw[: len(raw) // 3])
    _inspect_fails(p, capsys)
    model = onnx.load(str(real_files["onnx"]))
    onnx.save(model, str(tmp_path / "e.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location="e.bin", size_threshold=0)
    _inspect_fails(tmp_path / "e.onnx", capsys, "external data")


@pytest.mark.parametrize("layer_field, how, word", [
    ("layer/1/type", "delete", "type"),
    ("layer/1/shape", "delete", "shape"),
    ("layer/1/weight", "one_d", "weight"),
    ("layer/1/delay", "nan", "delay"),
    ("layer/1/weight", "string", "weight"),
    ("layer/0/shape", "string", "shape"),
    ("layer/2/delay", "negative", "delay"),
])
def test_netx_missing_or_bad_fields(tmp_path, capsys, real_files, layer_field, how, word):
    p = tmp_path / "n.h5"
    p.write_bytes(_h5_bytes(real_files["h5"], _edit_dataset(layer_field, how)))
    _inspect_fails(p, capsys, word)


@pytest.mark.parametrize("key, value", [("dt", "abc"), ("version", "x"), ("input_bits", "abc"), ("network", np.arange(3))])
def test_own_nir_with_edited_metadata(tmp_path, capsys, real_files, key, value):
    """inspect says what it can (or refuses in one line); read_ir refuses in one line."""
    import exporters.nir as enir
    from delaysnn.errors import DelaysnnError

    p = tmp_path / "m.nir"
    p.write_bytes(_h5_bytes(real_files["nir"], _edit_nir_metadata(key, value)))
    assert_clean(["inspect", p], capsys, tmp_path, [p])
    with pytest.raises(DelaysnnError):
        enir.read_ir(p)


def test_corrupt_hdf5_that_crashes_the_library_is_one_line(tmp_path, capsys, real_files):
    """HDF5 segfaults on some damaged object headers: the structure is walked in a child first."""
    raw = bytearray(real_files["nir"].read_bytes())
    raw[-300:] = bytes(300)
    p = tmp_path / "z.nir"
    p.write_bytes(bytes(raw))
    assert_clean(["inspect", p], capsys, tmp_path, [p])


@pytest.mark.parametrize("first_delay", [True, False])
def test_foreign_nir_layer_starting_with_a_delay(tmp_path, capsys, first_delay):
    """Input -> Delay -> Affine -> LIF -> Delay -> Affine -> LI (axonal delays): imports and inspects."""
    import nir

    from delaysnn.app.from_nir import read_float

    dt, rng = 1e-3, np.random.default_rng(0)

    def lif(n):
        tau = np.full(n, 2 * dt)
        return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))

    tau = np.full(3, 2 * dt)
    nodes = [nir.Affine(weight=rng.normal(size=(7, 4)).astype(np.float32), bias=np.zeros(7, np.float32)), lif(7),
             nir.Delay(delay=rng.integers(0, 4, size=7) * dt),
             nir.Affine(weight=rng.normal(size=(3, 7)).astype(np.float32), bias=np.zeros(3, np.float32)),
             nir.LI(tau=tau, r=tau / dt, v_leak=np.zeros(3))]
    if first_delay:
        nodes.insert(0, nir.Delay(delay=rng.integers(0, 4, size=4) * dt))
    graph = nir.NIRGraph.from_list(*nodes)
    graph.metadata = {"dt": dt}
    nir.write(tmp_path / "f.nir", graph)
    assert read_float(tmp_path / "f.nir").cfg.hidden_layers == 1
    code, out, err = run_cli(["inspect", tmp_path / "f.nir"], capsys)
    assert code == 0, err
    assert "4->7" in out and "7->3" in out


# --- class 8, by example (and other members) ------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["train", "--init", "{dnet}", "--epochs", "1", "-o", "{w}/o.pt"],
    ["export", "{dnet}", "--target", "onnx", "--float", "-o", "{w}/o.onnx"],
    ["quantize", "{renamed}", "-o", "{w}/o.dnet"],
    ["inspect", "{renamed}"],
])
def test_dnet_where_a_checkpoint_is_needed(tmp_path, capsys, real_files, args):
    renamed = tmp_path / "net.pt"
    shutil.copy(real_files["dnet"], renamed)
    args = [a.format(dnet=real_files["dnet"], renamed=renamed, w=tmp_path) for a in args]
    code, err = assert_clean(args, capsys, tmp_path, [renamed, real_files["dnet"]])
    assert code == 1
    assert "integer network" in err and "is the file complete" not in err


def test_hdf5_where_a_checkpoint_is_needed(tmp_path, capsys, real_files):
    p = tmp_path / "m.pt"
    shutil.copy(real_files["nir"], p)
    code, err = assert_clean(["quantize", p, "-o", tmp_path / "o.dnet"], capsys, tmp_path, [p])
    assert code == 1 and "HDF5" in err


def test_data_without_task_suggests_task(tmp_path, capsys, real_files):
    ssc = tmp_path / "ssc"
    ssc.mkdir()
    shutil.copy(real_files["shd"] / "shd_test.h5", ssc / "ssc_test.h5")
    code, err = assert_clean(["simulate", real_files["pt"], "--data", ssc], capsys, ssc, list(ssc.iterdir()))
    assert code == 1 and "--task ssc" in err
    code, err = assert_clean(["simulate", Path(__file__).parents[1] / "examples" / "synthetic.pt", "--data", real_files["shd"]],
                             capsys, real_files["shd"], list(real_files["shd"].iterdir()))
    assert code == 1 and "synthetic.pt" in err and "input channels" in err


@pytest.mark.parametrize("value", ["0", "9", "four"])
def test_qat_names_the_option(tmp_path, capsys, value):
    code, _, err = run_cli(["train", "--qat", value, "-o", tmp_path / "x.pt"], capsys)
    assert code == 2 and "--qat" in err


def test_profile_and_netx_refusals_name_the_model(tmp_path, capsys, real_files):
    code, err = assert_clean(["export", real_files["dnet"], "--target", "loihi", "-o", tmp_path / "o.h5"], capsys, tmp_path, [])
    assert code == 1 and err.startswith(f"error: {real_files['dnet']}:"), err
    strict = tmp_path / "tiny.toml"
    strict.write_text(real_files["toml"].read_text().replace("value = 62", "value = 1", 1))
    code, err = assert_clean(["quantize", real_files["pt"], "--profile", strict, "-o", tmp_path / "o.dnet"], capsys, tmp_path, [strict])
    assert code == 1 and str(real_files["pt"]) in err, err


@pytest.mark.parametrize("cmd", [["inspect"], ["simulate"], ["quantize", "-o", "out.dnet"]])
def test_symlink_loop_is_named(tmp_path, capsys, cmd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(tmp_path / "b.pt", tmp_path / "a.pt")
    os.symlink(tmp_path / "a.pt", tmp_path / "b.pt")
    code, _, err = run_cli([cmd[0], tmp_path / "a.pt", *cmd[1:]], capsys)
    assert code == 1 and "symlink loop" in err, err
    os.symlink(tmp_path / "missing.pt", tmp_path / "dangling.pt")
    code, _, err = run_cli([cmd[0], tmp_path / "dangling.pt", *cmd[1:]], capsys)
    assert code == 1 and "dangling symlink" in err, err


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and Lava: Linux")
@pytest.mark.slow
@pytest.mark.lava
def test_ctrl_c_during_lava_verification(tmp_path, real_files):
    """A terminal's Ctrl-C signals the whole process group, Lava's workers included: the command
    must still end with the one 'interrupted' line and exit 130, not hang or print tracebacks."""
    from tests.conftest import needs_lava_here

    needs_lava_here("lava.magma")
    from delaysnn.model import DelaySNN, ModelConfig
    from delaysnn.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=1, max_delay=7)).eval()
    save_checkpoint(model, tmp_path / "r.pt", {})
    proc = subprocess.Popen([sys.executable, "-m", "delaysnn", "verify", str(tmp_path / "r.pt"), "--backends", "lava", "--samples", "500"],
                            cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([p for p in _children(proc.pid)]) < 2:
        time.sleep(0.2)  # wait for Lava's workers
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("verify hung after Ctrl-C")
    assert proc.returncode == 130, err
    assert "interrupted; no partial output was left behind" in err
    assert "Traceback" not in err, err


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []

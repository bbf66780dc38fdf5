"""SHD / SSC loaders: binned counts against a plain loop, archives, and every error path.

The files are small stand-ins written in the official layout (vlen ``spikes/times`` in seconds,
vlen ``spikes/units``, ``labels``); event times are whole milliseconds so the loop reference can
bin them with integer arithmetic, independently of the loader's float formula.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
import zipfile

import h5py
import numpy as np
import pytest
import torch

from delaysnn.data.heidelberg import available_splits, bin_events, expected_files, load_heidelberg
from delaysnn.errors import DataError

URL = "https://zenkelab.org/datasets/"


def write_h5(path, times, units, labels, *, time_dtype=np.float64, unit_dtype=np.uint16, skip=()):
    """Write a file in the official layout; ``skip`` leaves out some of the three fields."""
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        if "spikes/times" not in skip:
            ds = spikes.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
            for i, t in enumerate(times):
                ds[i] = np.asarray(t, dtype=time_dtype)
        if "spikes/units" not in skip:
            ds = spikes.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(unit_dtype)))
            for i, u in enumerate(units):
                ds[i] = np.asarray(u, dtype=unit_dtype)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_group("extra").create_dataset("speaker", data=np.zeros(len(labels), dtype=np.uint16))
    return path


def make_events(seed=0, n=6):
    """``n`` samples of integer-ms event times (plenty on 10 ms edges), units, labels; sample 4 empty."""
    rng = np.random.default_rng(seed)
    times_ms, units = [], []
    for i in range(n):
        k = 0 if i == 4 else int(rng.integers(40, 90))
        ms = rng.integers(0, 300 + 50 * i, size=k)
        ms[: k // 4] = (ms[: k // 4] // 10) * 10  # a quarter exactly on a 10 ms bin edge
        times_ms.append(ms)
        units.append(rng.integers(0, 700, size=k))
    times_ms[0] = np.concatenate([times_ms[0], [0, 10, 10, 20, 695]])  # t = 0 and repeated edges
    units[0] = np.concatenate([units[0], [4, 5, 9, 699, 0]])  # group boundaries 4|5, last unit
    labels = rng.integers(0, 20, size=n)
    return times_ms, units, labels


def loop_reference(times_ms, units, dt_ms, n_bins, steps=None):
    """Plain loops: bin = ms // dt (integers), group = unit // n_bins, pad to the longest."""
    channels = 700 // n_bins
    lengths = [int(max(ms) // dt_ms) + 1 if len(ms) else 0 for ms in times_ms]
    if steps is None:
        steps = max(1, max(lengths))
    x = np.zeros((len(times_ms), steps, channels), dtype=np.int64)
    for i, (ms_list, u_list) in enumerate(zip(times_ms, units)):
        for ms, u in zip(ms_list, u_list):
            b, c = int(ms) // dt_ms, int(u) // n_bins
            if b < steps and c < channels:
                x[i, b, c] += 1
    return x


@pytest.fixture
def shd_dir(tmp_path):
    times_ms, units, labels = make_events()
    write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels)
    return tmp_path, times_ms, units, labels


def load(root, **kw):
    kw.setdefault("progress", False)
    return load_heidelberg(root, **kw)


# ----------------------------------------------------------------------------------------------
# counts


def test_counts_match_loop_reference(shd_dir):
    root, times_ms, units, labels = shd_dir
    ds = load(root)
    ref = loop_reference(times_ms, units, 10, 5)
    assert ds.x.dtype == torch.uint8 and ds.y.dtype == torch.int64
    assert tuple(ds.x.shape) == ref.shape and ds.channels == 140
    np.testing.assert_array_equal(ds.x.numpy(), ref)
    np.testing.assert_array_equal(ds.y.numpy(), labels)
    assert (ds.name, ds.n_classes, ds.time_step_ms) == ("shd/train", 20, 10.0)
    assert int(ds.x.sum()) == sum(len(ms) for ms in times_ms)  # nothing lost without a cap


def test_hand_computed_edges_grouping_and_padding(tmp_path):
    # sample 0: 0 ms and 9.9 ms share bin 0; 10 ms opens bin 1; 20 ms and 29.9 ms are bin 2.
    # units 0 and 4 share group 0, 5 and 9 share group 1, 699 is group 139.
    times = [np.array([0.0, 0.0099, 0.010, 0.020, 0.0299]), np.array([0.055])]
    units = [np.array([0, 4, 5, 9, 699]), np.array([12])]
    write_h5(tmp_path / "shd_test.h5", times, units, [3, 7])
    ds = load(tmp_path, split="test")
    x = ds.x.numpy()
    assert x.shape == (2, 6, 140)  # longest sample: 55 ms -> bin 5 -> 6 steps
    expected = np.zeros_like(x)
    expected[0, 0, 0] = 2
    expected[0, 1, 1] = 1
    expected[0, 2, 1] = 1
    expected[0, 2, 139] = 1
    expected[1, 5, 2] = 1
    np.testing.assert_array_equal(x, expected)  # sample 0 zero-padded over steps 3..5
    assert ds.y.tolist() == [3, 7] and ds.name == "shd/test"


@pytest.mark.parametrize("time_dtype", [np.float64, np.float32])
def test_decimal_times_on_edges(tmp_path, time_dtype):
    # float64: 2.010 * 1000 / 10 and 2.030 * 1000 / 10 fall just below 201 and 203;
    # float32 stores 0.03, 2.01, 2.03, 7.99 a little below the edge they name.
    times_ms, units, labels = make_events(seed=1)
    times_ms[1] = np.array([30, 2010, 2030, 7990])
    units[1] = np.array([1, 2, 3, 4])
    write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels, time_dtype=time_dtype)
    np.testing.assert_array_equal(load(tmp_path).x.numpy(), loop_reference(times_ms, units, 10, 5))
    np.testing.assert_array_equal(load(tmp_path, time_step_ms=1).x.numpy(), loop_reference(times_ms, units, 1, 5))


def test_small_read_chunks_and_bincount_blocks(shd_dir, monkeypatch):
    # Several HDF5 reads of different lengths, each split into several bincount blocks.
    import delaysnn.data.binning as binning
    import delaysnn.data.heidelberg as heidelberg

    root, times_ms, units, _ = shd_dir
    monkeypatch.setattr(heidelberg, "_READ_CHUNK", 4)
    monkeypatch.setattr(binning, "_BINCOUNT_LIMIT", 3000)
    for kw in ({}, {"max_steps": 20}):
        ds = load(root, **kw)
        np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, 10, 5, steps=kw.get("max_steps")))


@pytest.mark.parametrize(("dt", "n_bins"), [(1, 1), (4, 7), (25, 2)])
def test_other_grids(shd_dir, dt, n_bins):
    root, times_ms, units, _ = shd_dir
    ds = load(root, time_step_ms=dt, n_bins=n_bins)
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, dt, n_bins))
    assert ds.channels == 700 // n_bins and ds.time_step_ms == float(dt)


def test_n_bins_remainder_drops_last_channels_with_warning(shd_dir):
    root, times_ms, units, _ = shd_dir
    with pytest.warns(UserWarning, match="last 1 channels are dropped"):
        ds = load(root, n_bins=3)
    assert ds.channels == 233
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, 10, 3))


@pytest.mark.parametrize("steps", [7, 12, 80])
def test_max_steps_truncates_or_pads(shd_dir, steps):
    root, times_ms, units, _ = shd_dir
    ds = load(root, max_steps=steps)
    assert ds.steps == steps
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, 10, 5, steps=steps))


def test_max_samples_loads_the_first_ones(shd_dir):
    root, times_ms, units, labels = shd_dir
    ds = load(root, max_samples=3)
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms[:3], units[:3], 10, 5))
    np.testing.assert_array_equal(ds.y.numpy(), labels[:3])


def test_counts_over_255_are_clipped_with_a_warning(tmp_path):
    times = [np.full(300, 0.005), np.array([0.001])]
    units = [np.arange(300) % 5, np.array([699])]  # 300 spikes into bin 0, group 0
    write_h5(tmp_path / "shd_train.h5", times, units, [0, 1])
    with pytest.warns(UserWarning, match="1 bins hold more than 255 spikes \\(max 300\\)"):
        ds = load(tmp_path)
    assert int(ds.x[0, 0, 0]) == 255 and int(ds.x[1, 0, 139]) == 1


def test_no_warning_in_the_normal_case(shd_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(shd_dir[0])


def test_ssc_valid_split(tmp_path):
    times_ms, units, _ = make_events(seed=2, n=4)
    labels = [0, 34, 17, 5]
    write_h5(tmp_path / "ssc_valid.h5", [ms / 1000 for ms in times_ms], units, labels)
    ds = load(tmp_path, task="SSC", split="valid")
    assert (ds.name, ds.n_classes) == ("ssc/valid", 35)
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, 10, 5))
    assert ds.y.tolist() == labels


def test_bin_events_directly():
    times_ms, units, _ = make_events(seed=3, n=5)
    counts, lengths = bin_events([ms / 1000 for ms in times_ms], units, time_step_ms=10, n_bins=5)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, loop_reference(times_ms, units, 10, 5))
    np.testing.assert_array_equal(lengths, [max(ms) // 10 + 1 if len(ms) else 0 for ms in times_ms])
    capped, same = bin_events([ms / 1000 for ms in times_ms], units, n_steps=3)
    np.testing.assert_array_equal(capped, loop_reference(times_ms, units, 10, 5, steps=3))
    np.testing.assert_array_equal(same, lengths)  # lengths are before the cap
    empty, none = bin_events([], [])
    assert empty.shape == (0, 0, 140) and none.shape == (0,)


# ----------------------------------------------------------------------------------------------
# archives


def test_gz_as_distributed(shd_dir, capsys):
    root, times_ms, units, _ = shd_dir
    plain = root / "shd_train.h5"
    with open(plain, "rb") as src, gzip.open(root / "shd_train.h5.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    ds = load_heidelberg(root, progress=True)  # bars go to stderr
    np.testing.assert_array_equal(ds.x.numpy(), loop_reference(times_ms, units, 10, 5))
    assert sorted(p.name for p in root.iterdir()) == ["shd_train.h5.gz"]  # temp copy not left here


def test_zip_as_spikingjelly_downloads_it(shd_dir):
    root, times_ms, units, _ = shd_dir
    with zipfile.ZipFile(root / "shd_train.h5.zip", "w") as archive:
        archive.write(root / "shd_train.h5", "shd_train.h5")
    (root / "shd_train.h5").unlink()
    np.testing.assert_array_equal(load(root).x.numpy(), loop_reference(times_ms, units, 10, 5))


def test_plain_file_preferred_over_archive(shd_dir):
    root, times_ms, units, _ = shd_dir
    (root / "shd_train.h5.gz").write_bytes(b"not even gzip")
    np.testing.assert_array_equal(load(root).x.numpy(), loop_reference(times_ms, units, 10, 5))


def test_names():
    assert available_splits("shd") == ("train", "test")
    assert available_splits("SSC") == ("train", "valid", "test")
    assert expected_files("shd", "test") == ["shd_test.h5", "shd_test.h5.gz", "shd_test.h5.zip"]


# ----------------------------------------------------------------------------------------------
# errors: one line, a DataError, naming the file (or option) and the field


def expect_error(fn, *needles):
    with pytest.raises(DataError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert str(needle) in message, (needle, message)
    return message


def test_error_directory_missing(tmp_path):
    root = tmp_path / "nowhere"
    expect_error(lambda: load(root), root, "does not exist", "shd_train.h5", URL)


def test_error_file_missing(tmp_path):
    (tmp_path / "shd_test.h5").write_bytes(b"")
    msg = expect_error(lambda: load(tmp_path), tmp_path, "shd_train.h5", "shd_train.h5.gz", "Cramer et al. 2020", URL)
    assert "found shd_test.h5" in msg


def test_error_not_hdf5(tmp_path):
    path = tmp_path / "shd_train.h5"
    path.write_text("labels,times\n1,2\n")
    expect_error(lambda: load(tmp_path), path, "not an HDF5 file", URL)


def test_error_gz_not_hdf5(tmp_path):
    path = tmp_path / "shd_train.h5.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"hello")
    expect_error(lambda: load(tmp_path), path, "not an HDF5 file")


def test_error_bad_gzip(tmp_path):
    path = tmp_path / "shd_train.h5.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    expect_error(lambda: load(tmp_path), path, "gzip", URL)


@pytest.mark.parametrize("field", ["spikes/times", "spikes/units", "labels"])
def test_error_missing_field(tmp_path, field):
    times_ms, units, labels = make_events(n=3)
    path = write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels, skip=(field,))
    expect_error(lambda: load(tmp_path), path, f"'{field}'", URL)


def test_error_spikes_not_a_group(tmp_path):
    path = tmp_path / "shd_train.h5"
    with h5py.File(path, "w") as f:
        f["spikes"] = np.zeros(3)
        f["labels"] = np.zeros(3, dtype=np.uint16)
    expect_error(lambda: load(tmp_path), path, "'spikes/times'")


def test_error_sample_counts_differ(tmp_path):
    times_ms, units, labels = make_events(n=4)
    path = write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels[:3])
    expect_error(lambda: load(tmp_path), path, "spikes/times has 4", "labels 3")


def test_error_event_lengths_differ(tmp_path):
    times_ms, units, labels = make_events(n=4)
    units[2] = units[2][:-1]
    path = write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels)
    expect_error(lambda: load(tmp_path), path, "sample 2", "spikes/times", "spikes/units")


def test_error_unit_out_of_range(tmp_path):
    times_ms, units, labels = make_events(n=4)
    units[3][0] = 700
    path = write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels)
    expect_error(lambda: load(tmp_path), path, "spikes/units", "sample 3", "unit 700", "0..699")


def test_error_negative_time(tmp_path):
    times_ms, units, labels = make_events(n=4)
    times = [ms / 1000 for ms in times_ms]
    times[1][5] = -0.5
    path = write_h5(tmp_path / "shd_train.h5", times, units, labels)
    expect_error(lambda: load(tmp_path), path, "spikes/times", "sample 1", "-0.5")


def test_error_label_out_of_range(tmp_path):
    times_ms, units, labels = make_events(n=4)
    labels[2] = 25
    path = write_h5(tmp_path / "shd_train.h5", [ms / 1000 for ms in times_ms], units, labels)
    expect_error(lambda: load(tmp_path), path, "labels[2] = 25", "0..19")


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"task": "mnist"}, ["mnist", "shd, ssc"]),
        ({"split": "valid"}, ["shd", "'valid'", "train, test"]),
        ({"n_bins": 0}, ["n_bins=0", "1..700"]),
        ({"n_bins": 701}, ["n_bins=701"]),
        ({"n_bins": 2.5}, ["n_bins=2.5"]),
        ({"time_step_ms": 0}, ["time_step_ms=0"]),
        ({"max_steps": 0}, ["max_steps=0"]),
        ({"max_samples": -1}, ["max_samples=-1"]),
    ],
)
def test_error_bad_options(shd_dir, kwargs, needles):
    expect_error(lambda: load(shd_dir[0], **kwargs), *needles)


def test_error_unknown_task_in_available_splits():
    expect_error(lambda: available_splits("nmnist"), "nmnist")

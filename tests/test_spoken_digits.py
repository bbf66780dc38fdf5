"""The spoken-digits data set: real espeak-ng (no mocks), the real cochlea, the SHD layout."""

import struct

import h5py
import numpy as np
import pytest

from delaysnn.cli import load_task_data, main
from delaysnn.data import espeak
from delaysnn.data.heidelberg import load_heidelberg
from delaysnn.data.spoken_digits import KEYS, make_spoken_digits, speaker_split
from delaysnn.errors import DataError, MissingDependencyError
from tests.conftest import needs_espeak, run_cli

SEED = 3
PER_CLASS = 2  # 20 train + 20 test utterances
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "f4", "klatt"]  # a few voices: fast




def contents(path):
    """Every dataset's values and every attribute of an HDF5 file, comparable with ==."""
    found = {}
    with h5py.File(path, "r") as h5:
        found["attrs"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h5.attrs.items()}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = [np.asarray(x).tolist() for x in obj[()]] if obj.dtype == object else obj[()].tolist()

        h5.visititems(visit)
    return found


@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sd") / "digits"
    with pytest.raises(SystemExit) as exc:
        main(["make-dataset", "spoken-digits", "-o", str(out), "--per-class", str(PER_CLASS), "--seed", str(SEED),
              "--workers", "2", "--variants", ",".join(VARIANTS)])
    assert exc.value.code == 0
    return out


def test_parse_wav_tolerates_placeholder_sizes():
    pcm = np.array([0, 16384, -16384, 32767], dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    wave, rate = espeak.parse_wav(header + fmt + b"data" + struct.pack("<I", 0x7FFFF000) + pcm)
    assert rate == 22050 and wave.dtype == np.float32
    np.testing.assert_allclose(wave, [0, 0.5, -0.5, 32767 / 32768])
    with pytest.raises(DataError, match="not a WAV"):
        espeak.parse_wav(b"hello")


@needs_espeak
def test_synthesize_and_voices():
    assert espeak.version()[0].isdigit()
    english = [v.id for v in espeak.list_voices("en")]
    assert "en-us" in english and "en-gb" in english
    assert [v.id for v in espeak.list_voices("de")] == ["de"]
    assert not any(v.file.startswith("mb/") for v in espeak.list_voices())
    variants = {v.id for v in espeak.list_variants()}
    assert {"m1", "f3", "klatt"} <= variants
    wave, rate = espeak.synthesize("seven", "en-us", variant="f3", speed=160, pitch=70, pitch_range=120)
    assert wave.dtype == np.float32 and wave.ndim == 1 and rate > 8000
    assert 0.2 < wave.size / rate < 2.0 and 0.05 < np.abs(wave).max() <= 1.0
    german, _ = espeak.synthesize("fünf", "de", variant="m2")
    assert german.size > 0 and not np.array_equal(german[: wave.size], wave[: german.size])
    with pytest.raises(DataError, match="espeak-ng -v xx-none"):
        espeak.synthesize("seven", "xx-none")


@needs_espeak
@pytest.mark.slow
def test_speaker_split_is_disjoint_and_small_sets_work():
    split = speaker_split(0, variants=["m1", "m2", "f1", "f3", "klatt", "klatt6"])
    assert split["train"] and split["test"] and not set(split["train"]) & set(split["test"])
    # klatt6 sounds exactly like klatt in espeak-ng 1.51: one of them is dropped, never both kept
    assert len(set(split["train"] + split["test"]) & {"klatt", "klatt6"}) == 1 or espeak.version() != "1.51"
    full = speaker_split(0)
    assert len(full["test"]) >= 10 and len(full["train"]) >= 4 * len(full["test"]) - 8
    with pytest.raises(DataError, match="unknown espeak-ng variants"):
        speaker_split(0, variants=["m1", "no-such-variant"])


@needs_espeak
@pytest.mark.slow
def test_files_have_the_exact_shd_layout(cli_dataset):
    assert sorted(p.name for p in cli_dataset.iterdir()) == ["shd_test.h5", "shd_train.h5"]
    for split in ("train", "test"):
        with h5py.File(cli_dataset / f"shd_{split}.h5", "r") as h5:
            n = len(h5["labels"])
            assert n == 20 * (1 if split == "test" else PER_CLASS - 1)
            assert h5.attrs["espeak_ng_version"] == espeak.version()
            assert "not the Heidelberg SHD" in h5.attrs["description"]
            assert h5py.check_vlen_dtype(h5["spikes/times"].dtype).kind == "f"
            assert h5py.check_vlen_dtype(h5["spikes/units"].dtype) == np.uint16
            assert h5["labels"].dtype == np.uint16 and h5["extra/speaker"].dtype == np.uint16
            assert h5["spikes/times"].shape == h5["spikes/units"].shape == h5["extra/speaker"].shape == (n,)
            keys = [k.decode() if isinstance(k, bytes) else k for k in h5["extra/keys"][()]]
            assert keys == list(KEYS) and keys[0] == "zero" and keys[10] == "null"
            assert sorted(h5["labels"][()].tolist()) == sorted(list(range(20)) * (n // 20))
            for t, u in zip(h5["spikes/times"], h5["spikes/units"]):
                assert t.size == u.size > 0 and np.all(np.diff(t) >= 0) and t.min() >= 0 and u.max() < 700


@needs_espeak
def test_shd_loader_reads_it_unchanged(cli_dataset):
    train = load_heidelberg(cli_dataset, "shd", "train", progress=False)
    test = load_heidelberg(cli_dataset, "shd", "test", progress=False)
    assert train.x.shape[0] == 20 * (PER_CLASS - 1) and test.x.shape[0] == 20
    assert train.x.shape[2] == test.x.shape[2] == 140 and int(train.x.sum()) > 0
    assert set(train.y.tolist()) == set(test.y.tolist()) == set(range(20))
    tr, te = load_task_data("shd", str(cli_dataset), None, 0)  # what `--task shd --data DIR` uses
    assert tr.n_classes == 20 and te.steps == tr.steps


@needs_espeak
def test_test_speakers_are_never_heard_in_training(cli_dataset):
    heard = {}
    for split in ("train", "test"):
        with h5py.File(cli_dataset / f"shd_{split}.h5", "r") as h5:
            names = [n.decode() if isinstance(n, bytes) else n for n in h5["extra/speaker_names"][()]]
            heard[split] = {names[i] for i in h5["extra/speaker"][()]}
    assert heard["train"] and heard["test"] and not heard["train"] & heard["test"]
    variants = {split: {name.split("+", 1)[1] for name in heard[split]} for split in heard}
    assert not variants["train"] & variants["test"]


@needs_espeak
@pytest.mark.slow
def test_same_seed_gives_identical_files_whatever_the_workers(cli_dataset, tmp_path):
    info = make_spoken_digits(
        tmp_path / "again", per_class=PER_CLASS, seed=SEED, workers=1, progress=False, variants=VARIANTS
    )
    assert info["counts"] == {"train": 20 * (PER_CLASS - 1), "test": 20}
    for split in ("train", "test"):
        assert contents(info["paths"][split]) == contents(cli_dataset / f"shd_{split}.h5")


def test_missing_espeak_is_one_line_exit_1_and_no_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "digits"
    code, _, err = run_cli(["make-dataset", "spoken-digits", "-o", str(out), "--per-class", "2"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: espeak-ng not found") and "apt-get install -y espeak-ng" in err
    assert not out.exists()
    with pytest.raises(MissingDependencyError):
        espeak.find_espeak()


def test_help_has_an_example(capsys):
    code, out, _ = run_cli(["make-dataset", "--help"], capsys)
    assert code == 0 and "Example" in out and "spoken-digits" in out

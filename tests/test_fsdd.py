"""make-dataset fsdd on real recordings: a handful of FSDD's WAVs from ../shared/fsdd, linked
(never copied into the repository) into a temporary folder."""

from __future__ import annotations

import json
import os
import wave as wavmod
from pathlib import Path

import h5py
import numpy as np
import pytest

from delaysnn.data.fsdd import make_fsdd
from tests.conftest import run_cli

FSDD = Path(__file__).resolve().parents[1] / ".." / "shared" / "fsdd" / "recordings"
# CI has the recordings: there a missing folder fails these tests rather than skipping them.
pytestmark = pytest.mark.skipif(not FSDD.is_dir() and not os.environ.get("CI"), reason="../shared/fsdd is not here (CI has it)")

SPEAKERS = ("george", "jackson", "lucas")


def _link_some(folder: Path, digits=(0, 7), speakers=SPEAKERS, indices=(2, 30)) -> Path:
    """A small FSDD-shaped folder: DIR/recordings/ with links to the real recordings."""
    rec = folder / "recordings"
    rec.mkdir(parents=True)
    for d in digits:
        for s in speakers:
            for i in indices:
                name = f"{d}_{s}_{i}.wav"
                os.symlink(FSDD / name, rec / name)
    return folder


def _read(path: Path) -> dict:
    with h5py.File(path, "r") as h5:
        return {
            "labels": h5["labels"][()],
            "speaker": h5["extra/speaker"][()],
            "names": [n.decode() for n in h5["extra/speaker_names"][()]],
            "files": [n.decode() for n in h5["extra/files"][()]],
            "keys": [n.decode() for n in h5["extra/keys"][()]] if "keys" in h5["extra"] else None,
            "units": [u for u in h5["spikes/units"][()]],
            "times": [t for t in h5["spikes/times"][()]],
            "attrs": dict(h5.attrs),
        }


def _write_wav(path: Path, x: np.ndarray, rate: int, channels: int = 1) -> Path:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wavmod.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def test_speaker_split_on_real_recordings(tmp_path: Path, capsys) -> None:
    src = _link_some(tmp_path / "fsdd")
    code, out, err = run_cli(["make-dataset", "fsdd", "--from", src, "-o", tmp_path / "out", "--workers", "1"], capsys)
    assert code == 0, err
    train, test = _read(tmp_path / "out" / "shd_train.h5"), _read(tmp_path / "out" / "shd_test.h5")
    assert train["names"] == test["names"] == sorted(SPEAKERS)
    # the default held-out speaker, george, is never heard in training
    assert set(test["speaker"]) == {0} and 0 not in set(train["speaker"])
    assert all(f.split("_")[1] == "george" for f in test["files"]) and len(test["files"]) == 4
    assert train["keys"] == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert sorted(set(train["labels"])) == [0, 7] and len(train["labels"]) == 8
    assert [int(f[0]) for f in train["files"]] == list(train["labels"])
    attrs = train["attrs"]
    assert json.loads(attrs["cochlea_band_hz"]) == {"8000": [50.0, 4000.0]}  # top channel at Nyquist
    assert json.loads(attrs["cochlea_config"])["f_max"] == 4000.0
    assert "CC BY-SA 4.0" in attrs["attribution"] and json.loads(attrs["test_speakers"]) == ["george"]
    # real speech drives the low channels: the busiest units sit well below the 4 kHz top (unit 0)
    units = np.concatenate(train["units"])
    assert units.max() <= 699 and np.median(units) > 150
    assert "50-4000 Hz at 8000 Hz" in out and "CC BY-SA" in out


def test_official_split_and_determinism(tmp_path: Path) -> None:
    src = _link_some(tmp_path / "fsdd", digits=(3,), speakers=("nicolas", "yweweler"), indices=(1, 4, 5, 40))
    a = make_fsdd(src / "recordings", tmp_path / "a", split="official", workers=1, progress=False)
    assert a["counts"] == {"train": 4, "test": 4}
    assert a["speakers"] == {"train": ["nicolas", "yweweler"], "test": ["nicolas", "yweweler"]}
    test = _read(tmp_path / "a" / "shd_test.h5")
    assert sorted(int(f.split("_")[2][:-4]) for f in test["files"]) == [1, 1, 4, 4]
    make_fsdd(src, tmp_path / "b", split="official", workers=2, progress=False)
    for name in ("shd_train.h5", "shd_test.h5"):  # the same bytes, whatever the workers
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # another seed changes only the spontaneous spikes
    make_fsdd(src, tmp_path / "c", split="official", seed=3, workers=1, progress=False)
    t_a, t_c = _read(tmp_path / "a" / "shd_test.h5"), _read(tmp_path / "c" / "shd_test.h5")
    assert any(len(x) != len(y) or not np.array_equal(x, y) for x, y in zip(t_a["times"], t_c["times"]))


def _refused(args: list, capsys, *words: str) -> str:
    code, out, err = run_cli(args, capsys)
    assert code != 0 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    for w in words:
        assert w in line, line
    return line


def test_bad_input_one_line_no_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    _refused(["make-dataset", "fsdd", "--from", empty, "-o", out], capsys, str(empty), "no FSDD recordings")
    src = _link_some(tmp_path / "fsdd", digits=(1,), speakers=("george", "lucas"), indices=(0,))
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out, "--test-speakers", "theo"], capsys,
             "--test-speakers", "'theo'", "george, lucas")
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out, "--test-speakers", "george,lucas"], capsys, "keeps a speaker")
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out, "--split", "official", "--test-speakers", "george"],
             capsys, "exclude each other")
    _refused(["make-dataset", "fsdd", "-o", out], capsys, "--from")
    _refused(["make-dataset", "spoken-digits", "--from", src, "-o", out], capsys, "--from", "fsdd")
    rec = src / "recordings"
    (rec / "one_george.wav").symlink_to(FSDD / "1_george_1.wav")
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out], capsys, "one_george.wav", "{digit}_{speaker}_{index}.wav")
    (rec / "one_george.wav").unlink()
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(4000) / 6000)
    _write_wav(rec / "2_lucas_9.wav", tone, 6000)
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out, "--workers", "1"], capsys,
             "2_lucas_9.wav", "sample rate 6000 Hz", "8000")
    _write_wav(rec / "2_lucas_9.wav", np.zeros(0), 8000)
    _refused(["make-dataset", "fsdd", "--from", src, "-o", out, "--workers", "1"], capsys, "2_lucas_9.wav", "empty")
    assert not out.exists()  # nothing written by any refusal


def test_stereo_is_mixed_down_with_a_note(tmp_path: Path, capsys) -> None:
    from scipy.io import wavfile

    src = _link_some(tmp_path / "fsdd", digits=(5,), speakers=("george", "jackson"), indices=(3,))
    rate, mono = wavfile.read(FSDD / "5_jackson_3.wav")
    stereo = np.stack([mono, mono], axis=1).reshape(-1).astype(np.float64) / 32768
    os.unlink(src / "recordings" / "5_jackson_3.wav")
    _write_wav(src / "recordings" / "5_jackson_3.wav", stereo, rate, channels=2)
    code, out, err = run_cli(["make-dataset", "fsdd", "--from", src, "-o", tmp_path / "out", "--workers", "1"], capsys)
    assert code == 0, err
    assert "5_jackson_3.wav: 2 channels mixed down to mono" in err
    # the same spikes as the mono original: the mix of two equal channels is that channel
    make_fsdd(_link_some(tmp_path / "mono", digits=(5,), speakers=("george", "jackson"), indices=(3,)),
              tmp_path / "ref", workers=1, progress=False)
    got, ref = _read(tmp_path / "out" / "shd_train.h5"), _read(tmp_path / "ref" / "shd_train.h5")
    assert np.array_equal(got["units"][0], ref["units"][0]) and len(got["units"][0]) > 100


def test_encode_audio_speaker_names_and_log_progress(tmp_path: Path, capsys) -> None:
    """8 kHz recordings through encode-audio: speaker names stored as ids with the names kept,
    and progress off a terminal as lines, not a redrawn bar."""
    src = _link_some(tmp_path / "fsdd", digits=(4,), speakers=("lucas", "george"), indices=(6, 7))
    rows = ["file,label,speaker"] + [f"{p.name},{p.name[0]},{p.name.split('_')[1]}" for p in sorted((src / "recordings").iterdir())]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "shd_train.h5"
    code, stdout, err = run_cli(["encode-audio", src / "recordings", "-o", out, "--labels", tmp_path / "labels.csv"], capsys)
    assert code == 0, err
    got = _read(out)
    assert got["names"] == ["george", "lucas"]
    assert [got["names"][i] for i in got["speaker"]] == [f.split("_")[1] for f in got["files"]]
    assert json.loads(got["attrs"]["cochlea_band_hz"]) == {"8000": [50.0, 4000.0]}
    assert "\r" not in err and "encoding: 4/4 file (100 %" in err  # capsys is no terminal: a log line


def test_progress_off_a_terminal_writes_lines_every_few_seconds() -> None:
    import io

    from delaysnn.data.batch import LineProgress, progress

    log = io.StringIO()
    with progress(1000, "job", "file", stream=log) as bar:
        assert isinstance(bar, LineProgress)
        for _ in range(1000):
            bar.update()
    assert log.getvalue() == log.getvalue().strip("\n") + "\n" and log.getvalue().count("\n") == 1  # fast: the final line only
    assert log.getvalue().startswith("job: 1000/1000 file (100 %")
    slow = LineProgress(3, "slow", "file", io.StringIO(), every=0.0)  # every update due: one line each
    for _ in range(3):
        slow.update()
    assert slow.stream.getvalue().count("\n") == 3


def test_demo_fsdd_needs_a_source_or_a_data_set(tmp_path: Path, capsys) -> None:
    """Refused before any training: no --from and no data set in --data; --from on another task."""
    _refused(["demo", "--task", "fsdd", "--out", tmp_path / "out", "--backends", "onnx"], capsys,
             str(tmp_path / "out" / "fsdd"), "--from DIR")
    _refused(["demo", "--task", "synthetic", "--from", FSDD, "--out", tmp_path / "out"], capsys, "--from", "--task fsdd")
    assert not (tmp_path / "out" / "model.pt").exists()

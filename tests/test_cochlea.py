"""The cochlea front end (delaysnn.data.cochlea), audio files and the encode-audio command
(delaysnn.data.audio_files) and the lauscher comparison (delaysnn.data.lauscher_reference), on real espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave as wavmod
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from delaysnn.cli import cli
from delaysnn.data import cochlea as C
from delaysnn.data.audio_files import load_audio
from delaysnn.data.lauscher_reference import compare_encodings, encode_lauscher, lauscher_frequencies
from delaysnn.errors import DataError
from tests.conftest import ESPEAK_MISSING, needs_espeak


def _write_wav(path: Path, x: np.ndarray, rate: int) -> Path:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wavmod.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def _speak(tmp: Path, text: str) -> Path:
    path = tmp / f"{text}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if ESPEAK_MISSING:
        pytest.skip("needs espeak-ng (apt-get install -y espeak-ng; `make test` does it)")
    tmp = tmp_path_factory.mktemp("speech")
    return {w: _speak(tmp, w) for w in ("seven", "nine", "three")}


def test_erb_space() -> None:
    f = C.erb_space(50, 8000, 700)
    assert f.shape == (700,) and np.isclose(f[0], 50) and np.isclose(f[-1], 8000)
    assert np.all(np.diff(f) > 0)
    steps = np.diff(21.4 * np.log10(1 + 4.37e-3 * f))
    assert np.allclose(steps, steps[0])  # equal steps on the ERB-number scale
    cf = C.channel_frequencies()
    assert cf[0] == pytest.approx(8000) and cf[-1] == pytest.approx(50)  # unit 0 = highest, as lauscher/SHD


@needs_espeak
def test_digit_gives_shd_like_activity(words: dict[str, Path]) -> None:
    for path in words.values():
        x, rate = load_audio(path)
        assert x.dtype == np.float32 and rate == 22050
        t, u = C.encode(x, rate, name=path.name)
        assert t.dtype == np.float64 and u.dtype == np.uint16
        assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < x.size / rate
        assert 3000 <= t.size <= 15000, t.size
        assert 0.2 <= t[-1] - t[0] <= 1.2
        assert len(np.unique(u)) == 700  # every channel: spontaneous activity (3 Hz) reaches the silent bands
        assert u.max() < 700
        # without it, only channels whose band carries sound fire (measured 357..657 of 700)
        _, driven = C.encode(x, rate, C.CochleaConfig(spontaneous_rate=0.0))
        assert 300 <= len(np.unique(driven)) < 700


@needs_espeak
def test_deterministic_and_level_invariant(words: dict[str, Path]) -> None:
    x, rate = load_audio(words["seven"])
    t1, u1 = C.encode(x, rate)
    t2, u2 = C.encode(x.copy(), rate)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(u1, u2)
    t3, u3 = C.encode(0.1 * x, rate)  # 20 dB quieter: same spikes (level normalisation)
    assert abs(t3.size - t1.size) <= 0.01 * t1.size


DRIVEN = C.CochleaConfig(spontaneous_rate=0.0)  # the driven response alone


def _tone(freq: float, rate: int = 22050, seconds: float = 0.4) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 4000.0])
def test_tones_excite_their_channels(freq: float) -> None:
    cf = C.channel_frequencies()
    t, u = C.encode(_tone(freq), 22050, DRIVEN)
    counts = np.bincount(u, minlength=700)
    centre = cf[counts.argmax()]
    assert abs(np.log2(centre / freq)) < 0.35, (freq, centre)  # busiest channel within a third of an octave
    far = np.abs(np.log2(cf / freq)) > 1.5
    assert counts[far].sum() < 0.05 * counts.sum()  # nothing more than 1.5 octaves away


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 44100])
def test_top_channel_follows_nyquist(rate: int) -> None:
    """Below 16 kHz the 700 channels end at the Nyquist frequency (none where no sound can be);
    from 16 kHz up the band stays 50-8000 Hz, the encoding of every earlier data set."""
    cfg = C.for_sample_rate(None, rate)
    assert C.band(None, rate) == (50.0, min(8000.0, rate / 2))
    cf = C.channel_frequencies(cfg)
    assert cf.size == 700 and cf[0] == pytest.approx(min(8000.0, rate / 2)) and cf.max() <= rate / 2 + 1e-6
    if rate >= 16000:
        assert cfg == C.CochleaConfig()


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_tones_at_8khz_excite_their_channels(freq: float) -> None:
    cf = C.channel_frequencies(C.for_sample_rate(DRIVEN, 8000))
    _, u = C.encode(_tone(freq, rate=8000), 8000, DRIVEN)
    counts = np.bincount(u, minlength=700)
    assert abs(np.log2(cf[counts.argmax()] / freq)) < 0.35, (freq, cf[counts.argmax()])
    assert counts[np.abs(np.log2(cf / freq)) > 1.5].sum() < 0.05 * counts.sum()


def test_low_tone_low_channels_high_tone_high_channels() -> None:
    cf = C.channel_frequencies()
    _, u_lo = C.encode(_tone(200.0), 22050, DRIVEN)
    _, u_hi = C.encode(_tone(5000.0), 22050, DRIVEN)
    assert np.median(cf[u_lo]) < 400 < 2500 < np.median(cf[u_hi])
    assert np.median(u_lo) > 500 > np.median(u_hi)  # SHD order: unit 0 is the highest frequency


def test_bad_input_raises_one_line(tmp_path: Path) -> None:
    rate = 22050
    cases = {
        "silent": np.zeros(rate // 2),
        "empty": np.zeros(0),
        "faint": 1e-6 * np.random.default_rng(0).standard_normal(rate // 2),
        "nan": np.full(100, np.nan),
    }
    for name, x in cases.items():
        with pytest.raises(DataError) as err:
            C.encode(x, rate, name=f"{name}.wav")
        assert f"{name}.wav" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="phone.wav: sample rate 6000 Hz is unsupported; the cochlea needs 8000"):
        C.encode(_tone(440.0, rate=6000), 6000, name="phone.wav")
    with pytest.raises(DataError, match="mono"):
        C.encode(np.zeros((100, 2)), rate)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.wav"):
        load_audio(empty)
    header_only = _write_wav(tmp_path / "zero.wav", np.zeros(0), rate)
    with pytest.raises(DataError, match="zero.wav: audio file is empty"):
        load_audio(header_only)
    with pytest.raises(DataError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")


def test_silence_padding_gives_no_driven_spikes_there() -> None:
    rate = 22050
    x = np.concatenate([np.zeros(rate // 2), _tone(1000.0, rate, 0.3)])
    t, _ = C.encode(x, rate, DRIVEN)
    assert t.min() >= 0.5 - 0.005  # the leading half second of silence is silent


def test_spontaneous_activity_fills_silence_at_its_rate() -> None:
    rate = 22050
    x = np.concatenate([np.zeros(rate), _tone(1000.0, rate, 0.2)])  # 1 s of silence, then a tone
    cfg = C.CochleaConfig(spontaneous_rate=4.0)
    t, u = C.encode(x, rate, cfg)
    quiet = t < 1.0 - 0.05
    counts = np.bincount(u[quiet], minlength=700)
    # one spike per 0.25 s interval and channel: 3 or 4 in the first 0.95 s, never 0
    assert counts.min() >= 3 and counts.max() <= 4
    assert 3.5 < quiet.sum() / 700 / 0.95 < 4.5
    # seeded by the audio: the same input gives the same spikes, another seed others
    t2, u2 = C.encode(x.copy(), rate, cfg)
    np.testing.assert_array_equal(t, t2)
    np.testing.assert_array_equal(u, u2)
    t3, _ = C.encode(x, rate, cfg, seed=1)
    assert t3.size > 0 and not np.array_equal(t3[: t.size], t[: t3.size])
    # silent input still raises: spontaneous spikes would fill it, but they are not a response
    with pytest.raises(DataError, match="silent"):
        C.encode(np.zeros(rate), rate, cfg, name="silence.wav")


def test_spontaneous_steps_one_per_interval() -> None:
    s = C.spontaneous_steps(5, 3000, rate=10.0, step_rate=3000.0, seed=0)  # intervals of 300 steps
    assert s.shape == (5, 3000) and s.dtype == np.uint8
    per = s.reshape(5, 10, 300).sum(axis=2)
    np.testing.assert_array_equal(per, np.ones((5, 10)))
    assert not C.spontaneous_steps(3, 100, rate=0.0, step_rate=3000.0, seed=0).any()
    with pytest.raises(DataError, match="spontaneous_rate"):
        C.CochleaConfig(spontaneous_rate=-1.0)


@needs_espeak
def test_encode_audio_cli_writes_shd_file(words: dict[str, Path], tmp_path: Path) -> None:
    from delaysnn.data.heidelberg import load_heidelberg

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for p in words.values():
        shutil.copy(p, wavs / p.name)
    (tmp_path / "labels.csv").write_text("file,label,speaker\nseven.wav,7,0\nnine.wav,9,1\nthree.wav,3,0\n")
    out_dir = tmp_path / "data"
    out_dir.mkdir()
    res = CliRunner().invoke(cli, ["encode-audio", str(wavs), "-o", str(out_dir / "shd_train.h5"), "--labels", str(tmp_path / "labels.csv")])
    assert res.exit_code == 0, res.output
    ds = load_heidelberg(out_dir, "shd", "train")
    assert len(ds) == 3
    assert ds.y.tolist() == [9, 7, 3]  # files sorted by name: nine, seven, three
    assert int(ds.x.sum()) > 3 * 3000  # every spike binned (140 inputs of 5 channels)


@needs_espeak
def test_encode_audio_label_mismatch_is_one_line(words: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,label\nseven.wav,7\n")
    out = tmp_path / "out.h5"
    args = ["encode-audio", str(words["seven"]), str(words["nine"]), "-o", str(out), "--labels", str(tmp_path / "labels.csv")]
    proc = subprocess.run([sys.executable, "-m", "delaysnn", *args], capture_output=True, text=True)
    err_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1
    assert len(err_lines) == 1 and "nine.wav" in err_lines[0] and "labels.csv" in err_lines[0]
    assert not out.exists() and not list(tmp_path.glob("out.h5*"))
    (tmp_path / "labels.csv").write_text("file,label\nseven.wav,7\nnine.wav,9\nfour.wav,4\n")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0 and "four.wav" in str(res.exception)
    assert not out.exists()


def test_encode_audio_spontaneous_rate_bound_is_the_front_ends(tmp_path: Path) -> None:
    """The CLI states no bound of its own: the front end's (a tenth of its internal rate) reaches the user."""
    out = tmp_path / "out.h5"
    res = CliRunner().invoke(cli, ["encode-audio", str(tmp_path), "-o", str(out), "--spontaneous-rate", "1000"])
    assert res.exit_code == 2
    assert "--spontaneous-rate" in res.output and f"{C.CochleaConfig().internal_rate / 10:.0f} spikes/s" in res.output
    assert not out.exists()


# ----------------------------------------------------------------------------------------------
# against lauscher, SHD's own cochlea (slow: about 30 s per second of audio per 100 channels)


@needs_espeak
@pytest.mark.slow
def test_close_to_lauscher(words: dict[str, Path]) -> None:
    import lauscher  # noqa: F401  (the test extra installs it: a missing one fails, not skips)
    x, rate = load_audio(words["seven"])
    x = x[int(0.05 * rate) : int(0.40 * rate)]  # 0.35 s: "se" of "seven"
    n_ref = 35  # lauscher's channels sample its place map; their rates do not depend on the count
    ref = encode_lauscher(x, rate, n_channels=n_ref, seed=0)
    ours = C.encode(x, rate)
    r = compare_encodings(ours, ref, lauscher_frequencies(n_ref))
    # measured: spearman 0.69, spikes per channel 7.8 vs 6.1, onsets 0.01 vs 0.05 s
    assert r["spearman"] > 0.45
    ratio = r["spikes_per_channel"][0] / r["spikes_per_channel"][1]
    assert 0.5 < ratio < 2.0
    assert abs(r["onset_s"][0] - r["onset_s"][1]) < 0.1
    # the busiest bands agree: the two low-frequency bands carry most spikes in both
    ours_b = np.array([b["ours_per_channel"] for b in r["bands"]])
    ref_b = np.array([b["ref_per_channel"] for b in r["bands"]])
    assert ours_b[:3].sum() > ours_b[3:].sum() and ref_b[:3].sum() > ref_b[3:].sum()

"""The cochlea front end: encode speed, and closeness to lauscher (SHD's own cochlea).

    .venv/bin/python bench/cochlea.py [--digits 5] [--lauscher-channels 70] [--fsdd ../shared/fsdd]

Speed: ``delaysnn.data.cochlea.encode`` on espeak-ng digits (22050 Hz), one core, best of 3
after warm-up. Comparison: the same utterances through ``lauscher`` (its channels sample one
place map, so per-channel statistics do not depend on how many are run; 70 keeps it to about
25 s per utterance), matched to ours by centre frequency (``compare_encodings``).
With ``--fsdd DIR``, also FSDD's real 8 kHz recordings, where our 700 channels span
50-4000 Hz (the top one at the Nyquist frequency): against lauscher fed the 8 kHz audio, and
against lauscher fed the same audio resampled to 22.05 kHz (its solver misbehaves at 8 kHz).
Needs espeak-ng; the comparison is skipped without lauscher.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
import common  # noqa: E402,F401  (puts the repository root on sys.path)
import numpy as np  # noqa: E402

from delaysnn.data import cochlea as C  # noqa: E402
from delaysnn.data.audio_files import load_audio  # noqa: E402
from delaysnn.data.lauscher_reference import compare_encodings, encode_lauscher, lauscher_frequencies  # noqa: E402

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digits", type=int, default=5, help="utterances compared with lauscher")
    ap.add_argument("--lauscher-channels", type=int, default=70)
    shared = common.ROOT / ".." / "shared" / "fsdd"
    ap.add_argument("--fsdd", metavar="DIR", default=shared if shared.is_dir() else None,
                    help="also compare on FSDD's 8 kHz recordings (default ../shared/fsdd when there)")
    ap.add_argument("--fsdd-files", type=int, default=5, help="FSDD recordings compared with lauscher")
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed; nothing to measure")
        return 0
    tmp = Path(tempfile.mkdtemp())
    waves = {}
    for w in WORDS:
        subprocess.run(["espeak-ng", "-w", str(tmp / f"{w}.wav"), w], check=True, capture_output=True)
        waves[w] = load_audio(tmp / f"{w}.wav")
    shutil.rmtree(tmp)

    print("## encode speed (one core)\n")
    print("| digit | audio s | encode s | spikes | channels used | span s |")
    print("|---|---|---|---|---|---|")
    total_audio = total_time = 0.0
    for w, (x, sr) in waves.items():
        C.encode(x, sr)  # warm-up: numba compile/cache load, filterbank of this length
        best = min(_timed(lambda x=x, sr=sr: C.encode(x, sr)) for _ in range(3))
        t, u = C.encode(x, sr)
        total_audio += x.size / sr
        total_time += best
        print(f"| {w} | {x.size / sr:.2f} | {best:.3f} | {t.size} | {len(np.unique(u))} | {t[-1] - t[0]:.2f} |")
    n = len(waves)
    print(f"\n{n / total_time:.1f} utterances/s, {total_time / n:.3f} s per utterance "
          f"({total_time / total_audio:.3f} s per s of audio; 0.8 s utterance: {0.8 * total_time / total_audio:.3f} s)\n")

    try:
        import lauscher  # noqa: F401
    except ImportError:
        print("lauscher is not installed (pip install lauscher): comparison skipped")
        return 0
    items = [(w, *waves[w]) for w in WORDS[: args.digits]]
    if items:
        _against_lauscher(items, args.lauscher_channels)
    if args.fsdd:
        fsdd = _fsdd_items(Path(args.fsdd), args.fsdd_files)
        _against_lauscher(fsdd, args.lauscher_channels)
        # lauscher's membrane solver misbehaves on 8 kHz input (every channel fires, those above
        # 4 kHz too): the fair reference is lauscher on the same band-limited audio at 22.05 kHz
        _against_lauscher(fsdd, args.lauscher_channels, lauscher_rate=22050)
    return 0


def _fsdd_items(folder: Path, n: int) -> list[tuple[str, np.ndarray, int]]:
    """``n`` recordings of FSDD (8 kHz): digits 0, 1, 2, ... each by the next speaker in turn."""
    from delaysnn.data.fsdd import scan_recordings

    recs = scan_recordings(folder)
    speakers = sorted({r.speaker for r in recs})
    picked = []
    for i in range(n):
        digit, speaker = i % 10, speakers[i % len(speakers)]
        rec = next(r for r in recs if r.digit == digit and r.speaker == speaker and r.index == 10)
        picked.append((rec.path.stem, *load_audio(rec.path)))
    return picked


def _against_lauscher(items: list[tuple[str, np.ndarray, int]], nl: int, lauscher_rate: int | None = None) -> None:
    """One table: each utterance through lauscher (``nl`` channels; fed the audio resampled to
    ``lauscher_rate`` when given) and ours (at the audio's own rate), matched by frequency over
    the band ours covers at that rate (``cochlea.for_sample_rate``)."""
    from scipy.signal import resample_poly

    freqs = lauscher_frequencies(nl)
    rate = items[0][2]
    cfg = C.for_sample_rate(None, rate)
    fed = f"lauscher fed {lauscher_rate} Hz (resampled)" if lauscher_rate else f"lauscher fed {rate} Hz"
    print(f"## against lauscher: ours at {rate} Hz, {fed} ({nl} channels, matched by frequency; ours / lauscher)\n")
    cf = np.sort(C.channel_frequencies(cfg))
    names = [f"{cf[b[0]]:.0f}-{cf[b[-1]]:.0f} Hz" for b in np.array_split(np.arange(cf.size), 7)]
    print("| utterance | lauscher s | spikes/channel | onset s | first spike s | spearman | " + " | ".join(names) + " |")
    print("|---" * (6 + len(names)) + "|")
    rhos, ratios, onsets = [], [], []
    for w, x, sr in items:
        t0 = time.perf_counter()
        if lauscher_rate:
            ref = encode_lauscher(resample_poly(x, lauscher_rate, sr), lauscher_rate, n_channels=nl, seed=0)
        else:
            ref = encode_lauscher(x, sr, n_channels=nl, seed=0)
        took = time.perf_counter() - t0
        r = compare_encodings(C.encode(x, sr), ref, freqs, config=C.for_sample_rate(None, sr))
        rhos.append(r["spearman"])
        ratios.append(r["spikes_per_channel"][0] / r["spikes_per_channel"][1])
        onsets.append(r["onset_s"][0] - r["onset_s"][1])
        bands = " | ".join(f"{b['ours_per_channel']:.1f} / {b['ref_per_channel']:.1f}" for b in r["bands"])
        print(f"| {w} | {took:.0f} | {r['spikes_per_channel'][0]:.1f} / {r['spikes_per_channel'][1]:.1f} | "
              f"{r['onset_s'][0]:.3f} / {r['onset_s'][1]:.3f} | {r['first_spike_s'][0]:.3f} / {r['first_spike_s'][1]:.3f} | "
              f"{r['spearman']:.2f} | {bands} |")
    print(f"\nmean spearman {np.mean(rhos):.2f} (min {np.min(rhos):.2f}); spikes per channel ours/lauscher "
          f"{np.mean(ratios):.2f} (x{np.min(ratios):.2f}..{np.max(ratios):.2f}); onset ours - lauscher "
          f"{np.mean(onsets) * 1000:+.0f} ms (range {np.min(onsets) * 1000:+.0f}..{np.max(onsets) * 1000:+.0f} ms)\n")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())

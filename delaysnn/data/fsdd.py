"""``fsdd``: the Free Spoken Digit Dataset (real recorded speech) in the SHD file layout.

FSDD (https://github.com/Jakobovski/free-spoken-digit-dataset; Zohar Jackson and the FSDD
contributors; CC BY-SA 4.0) holds 8 kHz mono WAVs named ``{digit}_{speaker}_{index}.wav``, 50
per digit and speaker. :func:`make_fsdd` encodes a copy of them with the cochlea
(:func:`delaysnn.data.cochlea.encode`: 700 channels from 50 Hz up to the 4 kHz Nyquist
frequency) into ``shd_train.h5`` and ``shd_test.h5``, read by ``--task shd --data DIR``::

    make_fsdd("free-spoken-digit-dataset", "data/fsdd")             # test speaker: george
    make_fsdd("free-spoken-digit-dataset", "data/fsdd", split="official")  # indices 0-4 test

Labels 0-9 are the digits (``/extra/keys`` = "zero".."nine"); ``/extra/speaker`` holds speaker
ids and ``/extra/speaker_names`` their names (ids are the names' sorted order, the same table in
both files); ``/extra/files`` and ``/extra/index`` name each sample's recording. Root attributes
record the cochlea configuration as used (its band in ``cochlea_band_hz``), the split, the seed
and FSDD's attribution: anything derived from the recordings carries CC BY-SA 4.0.

Splits. By default the test speakers are never heard in training, as in SHD: ``george`` (one
of the five speakers of the project's copy, 20 % of the recordings, as SHD's test share).
``test_speakers`` picks others; ``split="official"`` is FSDD's own split (indices 0-4 test,
every speaker in both).

Bad input is refused in one line naming the file, before anything is written: a folder without
FSDD-named WAVs, a ``.wav`` whose name breaks the pattern (refused rather than skipped: a
silently smaller data set is worse than a rename), an unknown test speaker, audio below 8 kHz
or with no samples. A stereo file is mixed down to mono with a warning naming it.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["DEFAULT_TEST_SPEAKERS", "KEYS", "Recording", "make_fsdd", "scan_recordings", "split_recordings"]

KEYS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DEFAULT_TEST_SPEAKERS: tuple[str, ...] = ("george",)
OFFICIAL_TEST_INDICES = range(0, 5)  # FSDD's README: indices 0-4 are the test set
ATTRIBUTION = (
    "Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset), "
    "Zohar Jackson and the FSDD contributors, CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/); spikes derived from it are shared under the same license"
)
_NAME = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9-]*)_(\d+)\.wav$", re.IGNORECASE)
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Recording:
    """One FSDD file: its path, digit (the label), speaker name and index."""

    path: Path
    digit: int
    speaker: str
    index: int


def scan_recordings(from_dir: str | os.PathLike) -> list[Recording]:
    """Every ``{digit}_{speaker}_{index}.wav`` of an FSDD copy (``DIR/recordings`` or ``DIR``
    itself), sorted by digit, speaker and index. DataError for a folder without such files or a
    ``.wav`` whose name breaks the pattern."""
    root = Path(from_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory; give --from a clone of FSDD (git clone https://github.com/Jakobovski/free-spoken-digit-dataset)")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not wavs:
        raise DataError(
            f"{folder}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in it; give --from a clone of FSDD "
            "or its recordings/ folder"
        )
    found = []
    for p in wavs:
        m = _NAME.match(p.name)
        if m is None:
            raise DataError(
                f"{p}: file name breaks FSDD's pattern {{digit}}_{{speaker}}_{{index}}.wav (e.g. 3_george_12.wav); "
                "rename it or move it out of the folder"
            )
        found.append(Recording(p, int(m.group(1)), m.group(2).lower(), int(m.group(3))))
    return sorted(found, key=lambda r: (r.digit, r.speaker, r.index))


def split_recordings(
    recordings: Sequence[Recording], test_speakers: Sequence[str] | None = None, split: str = "speakers"
) -> dict[str, list[Recording]]:
    """``{"train": [...], "test": [...]}``: by speaker (``test_speakers``, default
    :data:`DEFAULT_TEST_SPEAKERS`, never heard in training) or ``split="official"`` (indices 0-4)."""
    speakers = sorted({r.speaker for r in recordings})
    if split == "official":
        if test_speakers:
            raise DataError("--test-speakers and --split official exclude each other; give one of them")
        test = [r for r in recordings if r.index in OFFICIAL_TEST_INDICES]
        train = [r for r in recordings if r.index not in OFFICIAL_TEST_INDICES]
    elif split == "speakers":
        chosen = [s.strip().lower() for s in (test_speakers or DEFAULT_TEST_SPEAKERS) if s.strip()]
        unknown = [s for s in chosen if s not in speakers]
        if unknown:
            raise DataError(f"--test-speakers: no recordings of {unknown[0]!r}; the speakers are {', '.join(speakers)}")
        if not chosen or set(chosen) == set(speakers):
            raise DataError(f"--test-speakers: give 1 to {len(speakers) - 1} of {', '.join(speakers)}, so that training keeps a speaker")
        test = [r for r in recordings if r.speaker in chosen]
        train = [r for r in recordings if r.speaker not in chosen]
    else:
        raise DataError(f"--split {split!r}: use speakers (default) or official")
    for name, part in (("train", train), ("test", test)):
        if not part:
            raise DataError(f"the {name} split is empty ({len(recordings)} recordings); check --from, --test-speakers or --split")
    return {"train": train, "test": test}


def _encode_one(job: tuple[Recording, int]) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Spikes, sample rate and the warnings raised (a worker's own would bypass the CLI's notes)."""
    import warnings

    from .audio_files import load_audio
    from .cochlea import encode, waveform_seed

    rec, seed = job
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wave, rate = load_audio(rec.path)
    # seed 0 encodes as encode-audio does (spontaneous spikes seeded by the audio alone)
    spont = None if seed == 0 else waveform_seed(wave.astype(np.float64)) + (seed << 32)
    times, units = encode(wave, rate, name=str(rec.path), seed=spont)
    return times.astype(np.float32), units, rate, [str(w.message) for w in caught]


def make_fsdd(
    from_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    test_speakers: Sequence[str] | None = None,
    split: str = "speakers",
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Encode an FSDD copy into ``out_dir/shd_train.h5`` and ``out_dir/shd_test.h5`` (module doc).

    ``seed`` varies the cochlea's spontaneous spikes (0: as ``encode-audio``); ``workers``
    processes (default: every core). Returns ``{"paths", "counts", "speakers" (names per split),
    "band_hz", "seconds"}``. Nothing is written on error.
    """
    from ..fileio import check_output_path
    from ..processes import usable_cores
    from ..version import __version__
    from .batch import parallel_map
    from .batch import progress as progress_bar
    from .cochlea import CochleaConfig, for_sample_rate
    from .shd_file import write_shd_splits

    start = time.perf_counter()
    recordings = scan_recordings(from_dir)
    parts = split_recordings(recordings, test_speakers, split)
    names = sorted({r.speaker for r in recordings})
    out = Path(out_dir)
    if out.is_dir():  # refuse a directory or device in the way before the long part
        for name in _SPLITS:
            check_output_path(out / f"shd_{name}.h5", inputs=[r.path for r in recordings[:1]])
    workers = usable_cores() if workers is None else max(1, int(workers))
    if echo:
        echo(f"fsdd: {len(parts['train'])} train + {len(parts['test'])} test recordings, {len(names)} speakers, {workers} worker(s)")
    jobs = [(r, int(seed)) for name in _SPLITS for r in parts[name]]
    with progress_bar(len(jobs), "fsdd", "file", enabled=progress) as bar:
        encoded = parallel_map(_encode_one, jobs, workers, bar)
    for *_, notes in encoded:
        for note in notes:
            warnings.warn(note, stacklevel=2)
    rates = sorted({r[2] for r in encoded})
    configs = {rate: for_sample_rate(CochleaConfig(), rate) for rate in rates}
    attrs = {
        "description": "FSDD: recorded English digits 0-9 encoded by the delaysnn cochlea (real speech)",
        "attribution": ATTRIBUTION,
        "license": "CC-BY-SA-4.0",
        "generator": "delaysnn.data.fsdd",
        "delaysnn_version": __version__,
        "cochlea_config": asdict(configs[rates[0]]) if len(rates) == 1 else {str(k): asdict(c) for k, c in configs.items()},
        "cochlea_band_hz": {str(k): [c.f_min, c.f_max] for k, c in configs.items()},
        "sample_rates": rates,
        "seed": int(seed),
        "split_by": split,
        "test_speakers": sorted({r.speaker for r in parts["test"]}) if split == "speakers" else [],
        "train_speakers": sorted({r.speaker for r in parts["train"]}),
    }
    speaker_id = {s: i for i, s in enumerate(names)}
    splits, offset = {}, 0
    for name in _SPLITS:
        recs, results = parts[name], encoded[offset : offset + len(parts[name])]
        offset += len(recs)
        splits[name] = dict(
            times=[r[0] for r in results],
            units=[r[1] for r in results],
            labels=np.array([r.digit for r in recs], dtype=np.uint16),
            speakers=np.array([speaker_id[r.speaker] for r in recs], dtype=np.uint16),
            keys=list(KEYS),
            extra={
                "speaker_names": np.array(names, dtype=object),
                "files": np.array([r.path.name for r in recs], dtype=object),
                "index": np.array([r.index for r in recs], dtype=np.uint16),
            },
            attrs={**attrs, "split": name},
        )
    paths = write_shd_splits(out, splits)
    return {
        "paths": paths,
        "counts": {name: len(parts[name]) for name in _SPLITS},
        "speakers": {name: sorted({r.speaker for r in parts[name]}) for name in _SPLITS},
        "band_hz": attrs["cochlea_band_hz"],
        "seconds": time.perf_counter() - start,
    }

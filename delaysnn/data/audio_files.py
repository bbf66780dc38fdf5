"""Audio files -> spikes: reading WAV (and, via soundfile, other) files, and encoding a set of
them with :func:`delaysnn.data.cochlea.encode` (or lauscher) into one SHD-layout HDF5 file
(:func:`encode_files`, what the ``encode-audio`` command runs).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..limits import MAX_EVENT_SECONDS
from .cochlea import CochleaConfig, _to_float, encode
from .lauscher_reference import encode_lauscher

__all__ = [
    "collect_audio",
    "encode_files",
    "load_audio",
    "read_labels",
]


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(wave float32 mono in [-1, 1], sample_rate)`` of an audio file (WAV; other formats via soundfile).

    Multi-channel files are averaged to mono, with a warning naming the file. Raises :class:`DataError` naming the path for a
    missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file; check the path")
    cut = _truncated_wav(path)
    if cut is not None:  # scipy reads what is there with only a warning: the encoding would be silently short
        raise DataError(
            f"{path}: truncated WAV: its header declares {cut[0]} bytes of audio, the file holds {cut[1]}; "
            f"copy or export the recording again"
        )
    wave: np.ndarray | None = None
    rate = 0
    err: Exception | None = None
    try:
        from scipy.io import wavfile

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # WavFileWarning on unknown chunks
            rate, wave = wavfile.read(path)
    except Exception as e:  # not a (plain PCM) WAV: try soundfile, which reads FLAC, OGG, ...
        err = e
        try:
            import soundfile

            wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            err = None
        except ImportError:
            pass
        except Exception as e2:  # soundfile's errors are its own types
            err = e2
    if err is not None or wave is None:
        reason = str(err).splitlines()[0] if err is not None and str(err) else type(err).__name__
        raise DataError(f"{path}: cannot read audio ({reason}); give a PCM WAV file (e.g. sox IN -b 16 OUT.wav)")
    wave = np.asarray(wave)
    wave = _to_float(wave, str(path))
    if wave.ndim == 2 and wave.shape[1] > 1:  # speech is the same in every channel: mix down, and say so
        warnings.warn(f"{path}: {wave.shape[1]} channels mixed down to mono (their mean)", stacklevel=2)
        wave = wave.mean(axis=1)
    elif wave.ndim == 2:
        wave = wave.reshape(-1)
    if wave.size == 0:
        raise DataError(f"{path}: audio file is empty (0 samples); give a recording with sound in it")
    return wave.astype(np.float32), int(rate)


def _truncated_wav(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of the data chunk of a RIFF WAV cut short, else None (also
    for other formats, RF64, and the "unknown length" 0xFFFFFFFF that streaming writers leave)."""
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk, length = struct.unpack(order + "4sI", fh.read(8))
                if chunk == b"data":
                    present = size - pos - 8
                    return (length, present) if present < length != 0xFFFFFFFF else None
                pos += 8 + length + (length & 1)  # chunks are padded to an even size
    except OSError:
        return None  # the reader says what is wrong with it
    return None


# ----------------------------------------------------------------------------------------------
# files -> an SHD-layout file (the ``encode-audio`` command)


def collect_audio(inputs: list[str | os.PathLike]) -> list[Path]:
    """WAV files named, or found (``*.wav``, sorted) in the directories named; DataError if none."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() == ".wav" and q.is_file())
            if not found:
                raise DataError(f"{p}: directory holds no .wav files; pass WAV files or a directory of them")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or directory; pass WAV files or directories of them")
    if not files:
        raise DataError("no audio files given; pass WAV files or directories of them")
    names = [f.name for f in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"{dup[0]}: the same file name comes twice; labels are matched by name, so give each file a unique name")
    return files


def read_labels(
    path: str | os.PathLike, files: list[Path], classes: tuple[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """``(labels, speakers or None, speaker names or None)`` for ``files`` from a CSV with columns
    ``file,label[,speaker]``.

    ``file`` is matched by file name (or by the path as given). Every file needs one row and
    every row one file, and labels must be classes of ``classes`` (the task reading the output,
    ``shd_file.reader_classes``; default SHD's), else a one-line DataError. Speakers are ids
    (integers 0..65535) or names (e.g. ``george``): when any is not an integer, every speaker is
    a name, its id the name's place in the sorted names (returned, for ``/extra/speaker_names``).
    """
    import csv

    from .shd_file import reader_classes

    classes = classes or reader_classes("shd_train.h5")

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the labels file ({e}); give a CSV with columns file,label[,speaker]") from None
    if not rows or rows[0] is None or not {"file", "label"} <= set(rows[0]):
        raise DataError(f"{path}: labels file needs a header with columns file,label (and optionally speaker)")
    by_name: dict[str, dict] = {}
    for i, row in enumerate(rows, start=2):
        key = Path((row.get("file") or "").strip()).name
        if not key:
            raise DataError(f"{path}: line {i} has no file name; every row needs file,label")
        if key in by_name:
            raise DataError(f"{path}: {key} appears twice (line {i}); give one row per audio file")
        by_name[key] = dict(row, _line=i)
    names = [f.name for f in files]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(f"{path}: no row for {missing[0]} ({len(missing)} audio file(s) unlabelled); add a file,label row for each")
    extra = sorted(set(by_name) - set(names))
    if extra:
        raise DataError(f"{path}: {extra[0]} (line {by_name[extra[0]]['_line']}) matches no audio file given ({len(extra)} such row(s)); remove it or pass that file")
    has_speaker = "speaker" in rows[0]
    labels = np.zeros(len(files), np.int64)
    speakers = np.zeros(len(files), np.int64) if has_speaker else None
    speaker_names = _speaker_names(path, [by_name[n] for n in names]) if has_speaker else None
    for j, name in enumerate(names):
        row = by_name[name]
        if speaker_names is not None:
            speakers[j] = speaker_names.index(str(row.get("speaker") or "").strip())
        for col, arr in (("label", labels), ("speaker", speakers)):
            if arr is None or (col == "speaker" and speaker_names is not None):
                continue
            top = classes[1] - 1 if col == "label" else 65535  # speaker ids: uint16
            try:
                value = int(str(row.get(col, "")).strip())
            except ValueError:
                value = -1
            if not 0 <= value <= top:
                task = f" (the classes --task {classes[0]} reads)" if col == "label" else ""
                raise DataError(f"{path}: line {row['_line']}: {col} {row.get(col)!r} of {name} is not an integer 0..{top}{task}")
            arr[j] = value
    return labels, speakers, speaker_names


def _speaker_names(path: Path, rows: list[dict]) -> list[str] | None:
    """The sorted speaker names when the column holds names (any value not an integer), else None."""
    values = [str(row.get("speaker") or "").strip() for row in rows]
    if all(v.lstrip("-").isdigit() for v in values):
        return None  # ids, checked 0..65535 by the caller
    empty = next((row for row, v in zip(rows, values) if not v), None)
    if empty is not None:
        raise DataError(f"{path}: line {empty['_line']}: the speaker is empty; give every row a speaker name or id")
    names = sorted(set(values))
    if len(names) > 65536:
        raise DataError(f"{path}: {len(names)} distinct speakers; at most 65536 fit SHD's uint16 ids")
    return names


def encode_files(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    cochlea: str = "ours",
    config: CochleaConfig | None = None,
    progress: bool = True,
) -> dict:
    """Encode audio files into one SHD-layout HDF5 file (written atomically: nothing on error).

    Without ``labels`` every label is 0. Returns a summary (files, spikes, seconds, path).
    """
    import time

    from ..fileio import check_output_path
    from .batch import progress as progress_bar
    from .cochlea import band
    from .shd_file import reader_classes, write_shd

    if cochlea not in ("ours", "lauscher"):
        raise DataError(f"cochlea {cochlea!r}: use ours or lauscher")
    files = collect_audio(inputs)
    check_output_path(output, inputs=[*files, labels])  # never overwrite a recording or the labels
    if labels is not None:
        y, speakers, speaker_names = read_labels(labels, files, reader_classes(output))
    else:
        y, speakers, speaker_names = np.zeros(len(files), np.int64), None, None
    cfg = config or CochleaConfig()
    t0 = time.perf_counter()
    times, units, rates = [], [], set()
    with progress_bar(len(files), "encoding", "file", enabled=progress) as bar:
        for f in files:
            wave, rate = load_audio(f)
            times_f, units_f = _encode_file(f, wave, rate, cochlea, cfg)
            times.append(times_f)
            units.append(units_f)
            rates.add(rate)
            bar.update()
    attrs = {
        "source": "delaysnn encode-audio",
        "cochlea": cochlea,
        "cochlea_config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__} if cochlea == "ours" else "lauscher Wave2Spike(700)",
    }
    if cochlea == "ours":  # the band each sample rate got: the top channel follows its Nyquist frequency
        attrs["cochlea_band_hz"] = {str(r): list(band(cfg, r)) for r in sorted(rates)}
    extra = {"files": np.array([f.name for f in files], dtype=object)}
    if speaker_names is not None:
        extra["speaker_names"] = np.array(speaker_names, dtype=object)
    out = write_shd(output, times, units, y, speakers=speakers, extra=extra, attrs=attrs)
    return {
        "path": out,
        "files": len(files),
        "spikes": int(sum(len(t) for t in times)),
        "seconds": time.perf_counter() - t0,
    }


def _encode_file(f: Path, wave: np.ndarray, rate: int, cochlea: str, cfg: CochleaConfig) -> tuple[np.ndarray, np.ndarray]:
    """One recording's spikes, checked now rather than after encoding every other file."""
    from .shd_file import check_sample

    if wave.size / rate > MAX_EVENT_SECONDS:  # refused before minutes of encoding, by the loader's limit
        raise DataError(
            f"{f}: the recording lasts {wave.size / rate:.1f} s, longer than the {MAX_EVENT_SECONDS:g} s of spikes "
            f"the loader accepts (delaysnn.limits.MAX_EVENT_SECONDS); cut it into shorter pieces, "
            f"e.g. sox IN.wav OUT.wav trim 0 {MAX_EVENT_SECONDS:g} : newfile : restart"
        )
    if cochlea == "lauscher":
        t, u = encode_lauscher(wave, rate, name=str(f))
    else:
        t, u = encode(wave, rate, cfg, name=str(f))
    check_sample(t, u, f"{f} (encoded)")
    return t, u

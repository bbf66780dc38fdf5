"""``spoken-digits``: SHD-like spike data from synthesized speech (espeak-ng + the cochlea).

The digits 0-9 spoken in English and German, 20 classes in SHD's label order (labels 0-9 are
English "zero".."nine", 10-19 German "null".."neun"), synthesized with espeak-ng, passed through
:func:`delaysnn.data.cochlea.encode` (700 channels) and written as ``shd_train.h5`` and
``shd_test.h5`` in the exact SHD layout, so ``load_heidelberg(DIR, "shd", ...)`` and
``delaysnn train --task shd --data DIR`` read them unchanged::

    make_spoken_digits("data/spoken-digits")          # ~2400 train + 600 test utterances

It is synthesized speech, not SHD: the files say so in their ``description`` attribute.

Speakers. A speaker is a base voice plus a voice variant, e.g. ``en-us+f3`` or ``de+m2``. The
base voices are espeak-ng's English accents (en-gb, en-us, en-gb-scotland, ...) and its German
voice; the variants are those of ``espeak-ng --voices=variant`` (mbrola voices are skipped:
they need mbrola), less those that sound exactly like an earlier one (a probe word synthesized
with each; espeak-ng 1.51 has klatt = klatt6 = caleb and Mr = fast). As in SHD, the test split
is spoken by voices never heard in training: the variants are split, stratified by gender and
seeded, into training variants and test variants (``test_fraction`` of them), and every test
utterance uses a test variant (with any base voice of its language), so no test speaker and no
test variant occurs in the training split.

Per utterance (seeded from ``(seed, split, index)`` alone, so the result does not depend on the
number of workers or their scheduling): base voice and variant (uniform among the split's),
speed 120-220 words/min, pitch 0-99, pitch range 50-150 % of the voice's, peak level -12..-1
dBFS, leading silence 0-100 ms and trailing 20-80 ms, and additive white or pink noise at
15-40 dB SNR (relative to the speech's mean power). ``/extra`` holds the per-sample values
(``speed_wpm``, ``pitch``, ``pitch_range``, ``snr_db``, ``lead_ms``) besides SHD's ``speaker``
and ``keys``; ``/extra/speaker_names`` names the speaker ids (the same table in both files).
Root attributes record the espeak-ng version, the cochlea configuration, the seed and the
splits: the output is deterministic
for one seed, espeak-ng version and cochlea configuration.

Both files are written to a temporary directory inside ``out_dir`` and renamed into place only
once both are complete, so a failure or Ctrl-C leaves no partial output.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..processes import usable_cores
from . import espeak

__all__ = [
    "DEFAULT_PER_CLASS",
    "KEYS",
    "TEXTS",
    "Utterance",
    "make_spoken_digits",
    "plan_utterances",
    "speaker_split",
]

ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
KEYS: tuple[str, ...] = ENGLISH + GERMAN  # label i is KEYS[i], as in SHD's /extra/keys
TEXTS: tuple[str, ...] = KEYS  # what espeak-ng is asked to say
LANGUAGES = ("en", "de")  # label // 10 -> language
DEFAULT_PER_CLASS = 150  # utterances per class over both splits: 20 x 150 = 3000
DEFAULT_TEST_FRACTION = 0.2
_SPLITS = ("train", "test")
_PROBE = "seven zwei"


@dataclass(frozen=True)
class Utterance:
    """Everything that determines one sample (its noise comes from ``noise_seed``)."""

    split: str
    index: int  # position in its split's file
    label: int
    text: str
    speaker: int  # index into the speaker table
    voice: str
    variant: str
    speed: int
    pitch: int
    pitch_range: int
    level_db: float
    lead_ms: float
    tail_ms: float
    noise: str  # "white" or "pink"
    snr_db: float
    noise_seed: tuple[int, ...]


@functools.cache
def _dedupe_variants(variants: tuple[espeak.Voice, ...], version: str) -> tuple[espeak.Voice, ...]:
    """Drop variants whose probe audio is identical to an earlier variant's (cached per version)."""
    seen: set[bytes] = set()
    kept = []
    for v in variants:
        wave, _ = espeak.synthesize(_PROBE, "en-us", variant=v.id)
        digest = wave.tobytes()
        if digest not in seen:
            seen.add(digest)
            kept.append(v)
    return tuple(kept)


def speaker_split(
    seed: int, test_fraction: float = DEFAULT_TEST_FRACTION, variants: Sequence[str] | None = None
) -> dict[str, Any]:
    """Base voices per language, and the variants of each split (seeded, stratified by gender).

    ``variants`` limits the variants to those ids (default: every distinct one espeak-ng has).
    """
    bases = {lang: [v.id for v in espeak.list_voices(lang)] for lang in LANGUAGES}
    for lang, ids in bases.items():
        if not ids:
            raise DataError(f"espeak-ng {espeak.version()} has no {lang!r} voice; install the full espeak-ng-data")
    available = espeak.list_variants()
    if variants is not None:
        by_id = {v.id: v for v in available}
        unknown = [v for v in variants if v not in by_id]
        if unknown:
            raise DataError(f"unknown espeak-ng variants {unknown}; `espeak-ng --voices=variant` lists them")
        available = [by_id[v] for v in dict.fromkeys(variants)]
    distinct = list(_dedupe_variants(tuple(available), espeak.version()))
    if len(distinct) < 2:
        raise DataError(f"{len(distinct)} distinct espeak-ng variant(s); the train/test speaker split needs at least 2")
    rng = np.random.default_rng([seed, 0x5EA4])
    train, test = [], []
    for gender in sorted({v.gender for v in distinct}):
        group = sorted(v.id for v in distinct if v.gender == gender)
        group = [group[i] for i in rng.permutation(len(group))]
        n_test = int(round(len(group) * test_fraction))
        test += group[:n_test]
        train += group[n_test:]
    # small groups may round to 0 test variants in all: keep at least one on each side
    if not test:
        test.append(train.pop())
    if not train:
        train.append(test.pop())
    train, test = sorted(train), sorted(test)
    names = [f"{b}+{v}" for lang in LANGUAGES for b in bases[lang] for v in train + test]
    return {"bases": bases, "train": train, "test": test, "speaker_names": names}


def _split_counts(per_class: int, test_fraction: float) -> dict[str, int]:
    n_test = int(round(per_class * test_fraction))
    n_test = min(max(n_test, 1), per_class - 1)
    return {"train": per_class - n_test, "test": n_test}


def plan_utterances(
    per_class: int, seed: int, split: dict[str, Any], test_fraction: float = DEFAULT_TEST_FRACTION
) -> dict[str, list[Utterance]]:
    """The utterances of each split, in file order (class-interleaved), all parameters drawn."""
    counts = _split_counts(per_class, test_fraction)
    speaker_id = {name: i for i, name in enumerate(split["speaker_names"])}
    plan: dict[str, list[Utterance]] = {}
    for s, split_name in enumerate(_SPLITS):
        utterances = []
        for index in range(counts[split_name] * len(KEYS)):
            label = index % len(KEYS)
            rng = np.random.default_rng([seed, s, index])
            bases = split["bases"][LANGUAGES[label // 10]]
            voice = bases[int(rng.integers(len(bases)))]
            variants = split[split_name]
            variant = variants[int(rng.integers(len(variants)))]
            utterances.append(
                Utterance(
                    split=split_name,
                    index=index,
                    label=label,
                    text=TEXTS[label],
                    speaker=speaker_id[f"{voice}+{variant}"],
                    voice=voice,
                    variant=variant,
                    speed=int(rng.integers(120, 221)),
                    pitch=int(rng.integers(0, 100)),
                    pitch_range=int(rng.integers(50, 151)),
                    level_db=round(float(rng.uniform(-12.0, -1.0)), 3),
                    lead_ms=round(float(rng.uniform(0.0, 100.0)), 3),
                    tail_ms=round(float(rng.uniform(20.0, 80.0)), 3),
                    noise=("white", "pink")[int(rng.integers(2))],
                    snr_db=round(float(rng.uniform(15.0, 40.0)), 3),
                    noise_seed=(seed, s, index, 1),
                )
            )
        plan[split_name] = utterances
    return plan


def _noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white" or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    return pink / (pink.std() + 1e-12)


def render(u: Utterance) -> tuple[np.ndarray, int]:
    """The waveform of one utterance: speech, level, silences and noise."""
    speech, rate = espeak.synthesize(
        u.text, u.voice, variant=u.variant, speed=u.speed, pitch=u.pitch, pitch_range=u.pitch_range
    )
    speech = speech.astype(np.float64)
    peak = float(np.abs(speech).max())
    if peak == 0.0:
        raise DataError(f"espeak-ng -v {u.voice}+{u.variant}: silent output for {u.text!r}")
    speech *= 10.0 ** (u.level_db / 20.0) / peak
    lead, tail = int(round(u.lead_ms * rate / 1000)), int(round(u.tail_ms * rate / 1000))
    wave = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    power = float(np.mean(speech**2))
    noise = _noise(u.noise, wave.size, np.random.default_rng(list(u.noise_seed)))
    wave += noise * np.sqrt(power / 10.0 ** (u.snr_db / 10.0))
    return np.clip(wave, -1.0, 1.0).astype(np.float32), rate


def _encode_one(u: Utterance) -> tuple[np.ndarray, np.ndarray]:
    from .cochlea import encode

    wave, rate = render(u)
    times, units = encode(wave, rate, name=f"{u.split}[{u.index}] {u.voice}+{u.variant} {u.text!r}")
    return np.asarray(times, dtype=np.float32), np.asarray(units, dtype=np.uint16)


def _encode_all(
    utterances: list[Utterance], workers: int, progress: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    from .batch import parallel_map
    from .batch import progress as progress_bar

    with progress_bar(len(utterances), "spoken-digits", "utt", enabled=progress) as bar:
        return parallel_map(_encode_one, utterances, workers, bar)


def make_spoken_digits(
    out_dir: str | os.PathLike,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    variants: Sequence[str] | None = None,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Synthesize the data set into ``out_dir/shd_train.h5`` and ``out_dir/shd_test.h5``.

    ``per_class`` utterances per class over both splits (``test_fraction`` of them in test,
    at least one each); ``workers`` processes (default: every core); ``variants`` limits the
    espeak-ng variants (e.g. ``["m1", "m2", "f1", "f3"]`` for a tiny set). Returns
    ``{"paths": {split: Path}, "counts": {split: n}, "speakers": {split: n},
    "espeak_version": str, "seconds": float}``. Raises :class:`MissingDependencyError`
    (one line, with the install command) when espeak-ng is absent, before writing anything.
    """
    from ..fileio import check_output_path
    from .shd_file import write_shd_splits

    start = time.perf_counter()
    espeak.find_espeak()
    version = espeak.version()
    if not isinstance(per_class, int) or per_class < 2:
        raise DataError(f"per_class={per_class!r}: need at least 2 utterances per class (one per split)")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction={test_fraction!r}: expected a fraction strictly between 0 and 1")
    workers = usable_cores() if workers is None else max(1, int(workers))

    split = speaker_split(seed, test_fraction, variants)
    plan = plan_utterances(per_class, seed, split, test_fraction)
    everything = plan["train"] + plan["test"]
    if echo:
        echo(
            f"spoken-digits: {len(plan['train'])} train + {len(plan['test'])} test utterances, "
            f"{len(split['train'])} train / {len(split['test'])} test voice variants, espeak-ng {version}, "
            f"{workers} worker(s)"
        )
    out = Path(out_dir)
    if out.is_dir():  # refuse a FIFO, device or directory in the way before the long part
        for name in _SPLITS:
            check_output_path(out / f"shd_{name}.h5")
    encoded = _encode_all(everything, workers, progress)

    from ..version import __version__
    from .cochlea import CochleaConfig

    attrs = {
        "description": "spoken-digits: English and German digits synthesized with espeak-ng and encoded "
        "by the delaysnn cochlea; synthesized speech, not the Heidelberg SHD recordings",
        "generator": "delaysnn.data.spoken_digits",
        "espeak_ng_version": version,
        "delaysnn_version": __version__,
        "cochlea_config": asdict(CochleaConfig()),
        "seed": int(seed),
        "per_class": int(per_class),
        "test_fraction": float(test_fraction),
        "base_voices": split["bases"],
        "train_variants": split["train"],
        "test_variants": split["test"],
    }
    splits = {}
    offset = 0
    for name in _SPLITS:
        utts = plan[name]
        results = encoded[offset : offset + len(utts)]
        offset += len(utts)
        splits[name] = dict(
            times=[r[0] for r in results],
            units=[r[1] for r in results],
            labels=np.array([u.label for u in utts], dtype=np.uint16),
            speakers=np.array([u.speaker for u in utts], dtype=np.uint16),
            keys=list(KEYS),
            extra={
                "speaker_names": np.array(split["speaker_names"], dtype=object),
                "speed_wpm": np.array([u.speed for u in utts], dtype=np.uint16),
                "pitch": np.array([u.pitch for u in utts], dtype=np.uint8),
                "pitch_range": np.array([u.pitch_range for u in utts], dtype=np.uint16),
                "snr_db": np.array([u.snr_db for u in utts], dtype=np.float32),
                "lead_ms": np.array([u.lead_ms for u in utts], dtype=np.float32),
            },
            attrs={**attrs, "split": name},
        )
    paths = write_shd_splits(out, splits)

    speakers = {name: len({u.speaker for u in plan[name]}) for name in _SPLITS}
    return {
        "paths": paths,
        "counts": {name: len(plan[name]) for name in _SPLITS},
        "speakers": speakers,
        "variants": {name: list(split[name]) for name in _SPLITS},
        "espeak_version": version,
        "seconds": time.perf_counter() - start,
    }


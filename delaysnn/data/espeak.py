"""espeak-ng, the speech synthesizer behind the ``spoken-digits`` data set.

espeak-ng is a system program (``apt-get install -y espeak-ng``), not a Python package; this
module finds it, lists its voices and variants and synthesizes text to a waveform in memory::

    wave, rate = synthesize("seven", "en-us", variant="f3", speed=160, pitch=60)

Audio comes from ``espeak-ng --stdout`` (16-bit mono PCM WAV, 22050 Hz) and is parsed from the
pipe without temporary files. espeak-ng writes its WAV header before it knows the length, so the
RIFF and data sizes in it are placeholders (0x7ffff...); the data chunk is read to the end of
the stream instead.

mbrola voices (``mb/...``) need the separate mbrola program and its voice files, so they are
never listed; variants (``!v/...``) are listed separately by :func:`list_variants` and applied
as ``voice+variant``.
"""

from __future__ import annotations

import functools
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from html import escape

import numpy as np

from ..errors import DataError, MissingDependencyError

__all__ = [
    "INSTALL_HINT",
    "Voice",
    "find_espeak",
    "list_variants",
    "list_voices",
    "synthesize",
    "version",
]

EXECUTABLE = "espeak-ng"
INSTALL_HINT = (
    "install it with `apt-get install -y espeak-ng` (Debian/Ubuntu), `dnf install espeak-ng` (Fedora) "
    "or `brew install espeak-ng` (macOS)"
)
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Voice:
    """One line of ``espeak-ng --voices``: ``id`` is what ``-v`` takes (language, or variant file)."""

    id: str
    language: str
    gender: str  # "M", "F" or "-"
    name: str
    file: str


def find_espeak() -> str:
    """Path of the ``espeak-ng`` executable; :class:`MissingDependencyError` (one line) if absent."""
    path = shutil.which(EXECUTABLE)
    if path is None:
        raise MissingDependencyError(f"{EXECUTABLE} not found: {INSTALL_HINT}")
    return path


def _run(args: list[str], what: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    exe = find_espeak()
    try:
        proc = subprocess.run(
            [exe, *args],
            input=None if input_text is None else input_text.encode("utf-8"),
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as err:  # removed between which() and run()
        raise MissingDependencyError(f"{EXECUTABLE} not found: {INSTALL_HINT}") from err
    except subprocess.TimeoutExpired as err:
        raise DataError(f"{EXECUTABLE} {what}: no answer within {_TIMEOUT_S:.0f} s") from err
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    # espeak-ng exits 0 even for an unknown voice, but says so on stderr
    if proc.returncode != 0 or stderr.lower().startswith("error"):
        first = stderr.splitlines()[0] if stderr else f"exit code {proc.returncode}"
        raise DataError(f"{EXECUTABLE} {what}: {first}")
    return proc


@functools.cache
def _version_cached(exe: str) -> str:
    out = _run(["--version"], "--version").stdout.decode("utf-8", "replace")
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    return match.group(1) if match else out.strip().splitlines()[0] if out.strip() else "unknown"


def version() -> str:
    """espeak-ng's version, e.g. ``"1.51"`` (synthesis is deterministic for one version)."""
    return _version_cached(find_espeak())


def _parse_voices(text: str) -> list[Voice]:
    voices = []
    for line in text.splitlines()[1:]:  # the first line is the column header
        cols = line.split()
        if len(cols) < 5:
            continue
        _, language, age_gender, name, file = cols[:5]
        gender = age_gender.rsplit("/", 1)[-1] if "/" in age_gender else "-"
        voices.append(Voice(id=language, language=language, gender=gender, name=name, file=file))
    return voices


@functools.cache
def _voices_cached(exe: str, spec: str) -> tuple[Voice, ...]:
    arg = "--voices" if not spec else f"--voices={spec}"
    return tuple(_parse_voices(_run([arg], arg).stdout.decode("utf-8", "replace")))


def list_voices(language: str | None = None) -> list[Voice]:
    """Base voices (no mbrola, no variants), one per language id, in espeak-ng's order.

    ``language`` (e.g. ``"en"``, ``"de"``) keeps the voices whose id is it or starts with
    ``language-``; espeak-ng's own ``--voices=en`` would also list voices that merely speak it.
    """
    seen: dict[str, Voice] = {}
    for voice in _voices_cached(find_espeak(), language or ""):
        if voice.file.startswith(("mb/", "!v/")) or voice.language == "variant":
            continue
        if language and not (voice.language == language or voice.language.startswith(language + "-")):
            continue
        seen.setdefault(voice.language, voice)
    return list(seen.values())


def list_variants() -> list[Voice]:
    """Voice variants (``espeak-ng --voices=variant``); ``id`` is what follows ``+`` in ``-v``."""
    variants: dict[str, Voice] = {}
    for voice in _voices_cached(find_espeak(), "variant"):
        if not voice.file.startswith("!v/"):
            continue
        vid = voice.file[len("!v/"):]
        variants.setdefault(vid, Voice(id=vid, language=voice.language, gender=voice.gender, name=voice.name, file=voice.file))
    return list(variants.values())


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1), sample rate) of a 16-bit PCM WAV, tolerating placeholder sizes."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DataError(f"{EXECUTABLE} --stdout: output is not a WAV file ({len(data)} bytes)")
    pos, rate, channels, bits = 12, None, 1, 16
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if fmt != 1 or bits != 16:
                raise DataError(f"{EXECUTABLE} --stdout: WAV format {fmt} with {bits}-bit samples; expected 16-bit PCM")
        elif chunk == b"data":
            if rate is None:
                raise DataError(f"{EXECUTABLE} --stdout: WAV data before its format chunk")
            raw = data[body : min(len(data), body + size)]
            raw = raw[: len(raw) // (2 * channels) * 2 * channels]
            pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)
            return (pcm.mean(axis=1) / 32768.0).astype(np.float32), int(rate)
        pos = body + size + (size & 1)
    raise DataError(f"{EXECUTABLE} --stdout: WAV output has no data chunk")


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    variant: str | None = None,
    speed: int = 175,
    pitch: int = 50,
    pitch_range: int | None = None,
    amplitude: int = 100,
) -> tuple[np.ndarray, int]:
    """Speak ``text``; returns ``(wave float32 [n], sample_rate)``.

    ``voice`` is a base voice id (:func:`list_voices`), ``variant`` a variant id
    (:func:`list_variants`, e.g. ``"f3"``, ``"m2"``, ``"klatt"``); ``speed`` in words per
    minute (80..450), ``pitch`` 0..99, ``pitch_range`` in percent of the voice's own (100 =
    unchanged; given, it is applied through SSML ``<prosody range>``), ``amplitude`` 0..200.
    The final sentence pause is dropped (``-z``). Raises :class:`MissingDependencyError` when
    espeak-ng is absent, :class:`DataError` when it refuses the voice or says nothing.
    """
    if not text.strip():
        raise DataError("synthesize: empty text")
    spec = voice if not variant else f"{voice}+{variant}"
    args = ["-v", spec, "-s", str(int(speed)), "-p", str(int(pitch)), "-a", str(int(amplitude)), "-z", "--stdout"]
    if pitch_range is not None:
        args += ["-m"]
        text = f'<speak><prosody range="{int(pitch_range)}%">{escape(text)}</prosody></speak>'
    proc = _run([*args, "--stdin"], f"-v {spec}", input_text=text)
    wave, rate = parse_wav(proc.stdout)
    if wave.size == 0:
        raise DataError(f"{EXECUTABLE} -v {spec}: produced no audio for {text!r} (unknown voice?)")
    return wave, rate

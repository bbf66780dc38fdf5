"""A fast cochlea front end: waveform -> spike times and channel ids, in SHD's conventions.

Stages (deterministic: the only random numbers, the spontaneous spikes' times, are seeded from
the waveform itself unless a seed is given):

1. **Level.** The mean is removed and the waveform scaled to a fixed RMS (``CochleaConfig.rms``),
   so loudness does not drive spike counts. Input whose peak is below ``silence_peak`` (of full
   scale 1.0) is rejected as silent before scaling, so digital silence is never amplified.
2. **Basilar membrane.** ``n_channels`` 4th-order gammatone filters with centre frequencies
   equally spaced on the ERB-number scale (Glasberg & Moore 1990) from ``f_min`` to ``f_max``,
   bandwidth ``1.019 ERB(cf)``. They are applied in the frequency domain: one ``rfft`` of the
   (zero-padded) waveform, then per channel only the bins within ``internal_rate / 2`` of its
   passband, weighted by the complex gammatone response ``(1 + i (f - cf) / b)^-4`` (the exact
   transfer function of the causal complex gammatone, so each channel keeps its group delay:
   about 20 ms at 50 Hz, 0.7 ms at 8 kHz), and a small inverse FFT at ``internal_rate``. Channels
   above ``phase_lock_limit`` are shifted to baseband first, which gives their complex analytic
   output, whose magnitude is the Hilbert envelope; channels below it keep their bins in place,
   which gives their real band-pass output (fine structure) at the internal rate.
3. **Hair cell.** Half-wave rectification and power-law compression ``x^compression`` (0.3, about
   the compression of the cochlear amplifier). Above ``phase_lock_limit`` the rectified-and-
   smoothed fine structure is the envelope: there the envelope carries the information (as in
   the auditory nerve, which loses phase locking above 1-2 kHz) and is used directly, scaled to
   the mean of a compressed half-wave rectified sinusoid of that amplitude. Then a first-order
   low-pass at ``hair_cell_cutoff``.
4. **Encoder.** One leaky integrate-and-fire neuron per channel (time constant ``tau``,
   threshold 1, reset to 0, absolute refractory period ``refractory``), driven by ``gain`` times
   the hair-cell output. The LIF's threshold is the noise floor: a steady hair-cell output below
   ``1 / gain`` never fires, about ``floor_db`` below the level-normalised input (a channel has
   to carry at least that much energy to respond), so silence and faint background give no
   driven spikes. Compiled with numba (``cache=True``); numba is imported on first use only.
5. **Spontaneous activity.** Auditory-nerve fibres fire without sound, and lauscher's Meddis hair
   cells do too: 1.7-2.4 spikes/s in its channels above the Nyquist frequency of espeak-ng's
   22.05 kHz audio, which no sound reaches (three digits, 70 channels), leaving 1-5 of its 70
   channels silent per utterance. Ours is denser, so that none is silent. Each
   channel gets ``spontaneous_rate`` spikes/s, one at a uniformly random time in every interval
   of ``1 / spontaneous_rate`` s (a stratified Poisson process: the mean rate of a Poisson one,
   but no gap longer than two intervals), so every channel fires in any utterance longer than
   one interval (1/3 s at the default 3 Hz), as SHD's channels all carry activity. A spontaneous
   spike is a spike of that channel's LIF: it resets the membrane and starts the refractory
   period, and is dropped when it falls inside one. ``spontaneous_rate = 0`` turns it off.

Spike times are sample times of the internal grid (``1 / internal_rate`` s, float64 seconds,
within the input's duration); channel ids follow lauscher/SHD order: unit 0 is the highest
centre frequency (the cochlear base), unit ``n_channels - 1`` the lowest (``high_first``).

How this differs from lauscher, the model SHD was made with (and how to run that for
comparison): see :mod:`delaysnn.data.lauscher_reference`. Reading audio files and encoding
them into an SHD-layout file: :mod:`delaysnn.data.audio_files`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import DataError

__all__ = [
    "MIN_SAMPLE_RATE",
    "CochleaConfig",
    "band",
    "channel_frequencies",
    "for_sample_rate",
    "encode",
    "erb",
    "erb_space",
    "spontaneous_steps",
    "waveform_seed",
]

N_CHANNELS = 700  # SHD's channel count
MIN_SAMPLE_RATE = 8000  # Hz: telephone-band speech (FSDD); below it too few channels carry sound
MAX_SAMPLE_RATE = 384_000


@dataclass(frozen=True)
class CochleaConfig:
    """Parameters of :func:`encode` (defaults tuned for SHD-like spike counts; see module doc)."""

    n_channels: int = N_CHANNELS
    f_min: float = 50.0  # Hz, lowest centre frequency
    f_max: float = 8000.0  # Hz, highest centre frequency; lowered to the input's Nyquist frequency (for_sample_rate)
    high_first: bool = True  # unit 0 = highest frequency, as lauscher and SHD
    internal_rate: int = 3000  # Hz: the filterbank output, hair cell and LIF run at this rate
    rms: float = 1.0  # input is scaled to this RMS
    silence_peak: float = 1e-4  # |peak| below this (full scale 1.0) is "silent"
    compression: float = 0.3  # hair-cell power-law exponent
    phase_lock_limit: float = 1000.0  # Hz: channels at or below keep their fine structure
    hair_cell_cutoff: float = 1000.0  # Hz, first-order low-pass after rectification
    tau: float = 0.004  # s, LIF membrane time constant
    refractory: float = 0.002  # s, absolute refractory period
    gain: float = 3.2  # LIF drive per unit of compressed hair-cell output (threshold 1)
    tilt_db_per_octave: float = 3.0  # extra channel gain per octave above 1 kHz (dB)
    hann_window: bool = False  # multiply the whole input by a Hann window, as lauscher does
    pad: float = 0.08  # s of zeros appended before the FFT (filter tails; no wrap-around)
    spontaneous_rate: float = 3.0  # spikes/s per channel without sound (0: none); see the module doc

    def __post_init__(self) -> None:
        if self.n_channels < 1 or self.n_channels > np.iinfo(np.uint16).max:
            raise DataError(f"CochleaConfig.n_channels={self.n_channels}: use 1..65535 (SHD: 700)")
        if not 0 < self.f_min < self.f_max:
            raise DataError(f"CochleaConfig: f_min={self.f_min} and f_max={self.f_max} need 0 < f_min < f_max")
        if self.internal_rate < 500 or self.internal_rate % 100:
            raise DataError(f"CochleaConfig.internal_rate={self.internal_rate}: use a multiple of 100 Hz, at least 500")
        if self.phase_lock_limit * 2.5 > self.internal_rate:
            raise DataError(
                f"CochleaConfig.phase_lock_limit={self.phase_lock_limit} Hz needs internal_rate >= "
                f"{2.5 * self.phase_lock_limit:.0f} Hz (fine structure must be sampled)"
            )
        if not 0.0 <= self.spontaneous_rate <= self.internal_rate / 10:
            raise DataError(
                f"CochleaConfig.spontaneous_rate={self.spontaneous_rate}: use 0 (none) to {self.internal_rate / 10:.0f} spikes/s"
            )

    @property
    def floor_db(self) -> float:
        """Hair-cell output that just fires the LIF (``1 / gain``), in dB of input amplitude re ``rms``."""
        return 20.0 * math.log10((1.0 / self.gain) ** (1.0 / self.compression))


# ----------------------------------------------------------------------------------------------
# frequencies


def erb(f: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth (Hz) of the human auditory filter at ``f`` Hz (Glasberg & Moore 1990)."""
    return 24.7 * (4.37e-3 * np.asarray(f, dtype=np.float64) + 1.0)


def erb_space(f_min: float = 50.0, f_max: float = 8000.0, n: int = N_CHANNELS) -> np.ndarray:
    """``n`` frequencies (Hz, ascending) equally spaced on the ERB-number scale from ``f_min`` to ``f_max``."""
    lo, hi = (21.4 * np.log10(1.0 + 4.37e-3 * f) for f in (f_min, f_max))
    return (10.0 ** (np.linspace(lo, hi, n) / 21.4) - 1.0) / 4.37e-3


def channel_frequencies(config: CochleaConfig | None = None) -> np.ndarray:
    """Centre frequency (Hz) of each output unit, in unit order (descending when ``high_first``)."""
    cfg = config or CochleaConfig()
    cf = erb_space(cfg.f_min, cfg.f_max, cfg.n_channels)
    return cf[::-1].copy() if cfg.high_first else cf


def for_sample_rate(config: CochleaConfig | None, sample_rate: int, name: str = "audio") -> CochleaConfig:
    """The configuration :func:`encode` uses at ``sample_rate``: the top channel at ``f_max`` or
    the Nyquist frequency, whichever is lower, so no channel sits where no sound can be (the 700
    channels then tile the band the audio has: at 8 kHz, 50-4000 Hz). DataError naming ``name``
    for a rate outside 8000..384000 Hz."""
    import dataclasses

    cfg = config or CochleaConfig()
    sample_rate = int(sample_rate)
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise DataError(
            f"{name}: sample rate {sample_rate} Hz is unsupported; the cochlea needs {MIN_SAMPLE_RATE} to "
            f"{MAX_SAMPLE_RATE} Hz; resample it, e.g. sox IN.wav -r 16000 OUT.wav"
        )
    top = min(cfg.f_max, sample_rate / 2)
    if top <= cfg.f_min:
        raise DataError(f"{name}: sample rate {sample_rate} Hz puts the Nyquist frequency at or below f_min={cfg.f_min:g} Hz; lower f_min")
    return cfg if top == cfg.f_max else dataclasses.replace(cfg, f_max=float(top))


def band(config: CochleaConfig | None, sample_rate: int) -> tuple[float, float]:
    """``(lowest, highest)`` centre frequency (Hz) :func:`encode` uses at ``sample_rate``."""
    cfg = for_sample_rate(config, sample_rate)
    return float(cfg.f_min), float(cfg.f_max)


# ----------------------------------------------------------------------------------------------
# the filterbank


def _fft_sizes(n: int, sample_rate: int, cfg: CochleaConfig) -> tuple[int, int]:
    """(FFT length at the input rate, length at the internal rate): the padded signal, rounded up
    to a grid of about 0.1 s on which both rates have whole samples (few distinct sizes, cached)."""
    q = sample_rate // math.gcd(sample_rate, cfg.internal_rate)
    step = q * max(1, round(0.1 * sample_rate / q))
    n_fft = -(-(n + int(math.ceil(cfg.pad * sample_rate))) // step) * step
    return n_fft, n_fft * cfg.internal_rate // sample_rate


@lru_cache(maxsize=8)
def _filterbank(n_fft: int, sample_rate: int, cfg: CochleaConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weights and bin indices for one FFT size (channels in ascending order).

    Returns ``(w_locked [L, m/2+1], idx [E, m], w_env [E, m], k_p)``: the first ``L`` channels
    (phase-locked) multiply rfft bins ``0..m/2`` in place (an ``irfft`` of length ``m`` gives
    their real output); the other ``E`` gather the bins around their centre, baseband position
    ``j`` holding offset ``j`` (``j < m/2``) or ``j - m``, for a complex ``ifft``.
    """
    m = n_fft * cfg.internal_rate // sample_rate
    n_bins = n_fft // 2 + 1
    df = sample_rate / n_fft
    cf = erb_space(cfg.f_min, cfg.f_max, cfg.n_channels)
    bw = 1.019 * erb(cf)
    gain = 10.0 ** (cfg.tilt_db_per_octave * np.maximum(np.log2(cf / 1000.0), 0.0) / 20.0)
    n_locked = int(np.count_nonzero(cf <= cfg.phase_lock_limit))

    def gammatone(freq: np.ndarray, ch: slice) -> np.ndarray:
        a = (1.0 + 1j * ((freq - cf[ch, None]) / bw[ch, None])).astype(np.complex64)
        a *= a
        return (gain[ch, None] / (a * a)).astype(np.complex64)

    lo = slice(0, n_locked)
    w_locked = gammatone(np.arange(m // 2 + 1) * df, lo) * np.float32(m / n_fft)
    hi = slice(n_locked, cfg.n_channels)
    offset = np.fft.fftfreq(m, 1.0 / m).astype(np.int32)  # 0, 1, ..., m/2-1, -m/2, ..., -1
    idx = np.rint(cf[hi] / df).astype(np.int32)[:, None] + offset[None, :]
    valid = (idx >= 0) & (idx < n_bins)
    idx = np.where(valid, idx, 0).astype(np.int32)
    # analytic signal at the internal rate: one-sided spectrum doubled, ifft length m vs n_fft
    w_env = gammatone(idx * df, hi) * np.float32(2.0 * m / n_fft)
    w_env[~valid] = 0
    p = cfg.compression
    # mean of max(A sin, 0)^p over a period is A^p k_p: the envelope path matches the locked one
    k_p = math.gamma((p + 1) / 2) / (2.0 * math.sqrt(math.pi) * math.gamma(p / 2 + 1))
    return w_locked, idx, w_env, k_p


def _hair_cell_input(x: np.ndarray, sample_rate: int, cfg: CochleaConfig) -> np.ndarray:
    """Rectified, compressed filterbank output ``[channels (ascending cf), m]`` (float32)."""
    from scipy import fft as sfft

    n_fft, m = _fft_sizes(x.size, sample_rate, cfg)
    w_locked, idx, w_env, k_p = _filterbank(n_fft, sample_rate, cfg)
    spectrum = sfft.rfft(x, n_fft).astype(np.complex64)
    p = np.float32(cfg.compression)
    out = np.empty((cfg.n_channels, m), np.float32)
    n_locked = w_locked.shape[0]
    if n_locked:
        real = sfft.irfft(spectrum[None, : m // 2 + 1] * w_locked, m, axis=1, overwrite_x=True)
        np.power(np.maximum(real, 0.0, out=real), p, out=out[:n_locked])
    if idx.shape[0]:
        z = sfft.ifft(spectrum[idx] * w_env, axis=1, overwrite_x=True)
        mag2 = z.real * z.real
        mag2 += z.imag * z.imag
        np.power(mag2, p / 2, out=out[n_locked:])
        out[n_locked:] *= np.float32(k_p)
    return out


# ----------------------------------------------------------------------------------------------
# the LIF encoder (numba, compiled on first use)


def _lif_loop(drive, lp_alpha, decay, gain, refractory_steps, n_keep, spont, steps, chans):  # pragma: no cover - compiled
    """Hair-cell low-pass and LIF per channel; spike ``k`` is (``steps[k]``, ``chans[k]``), channel
    by channel. ``spont[c, t]`` (uint8) makes channel ``c`` fire spontaneously at step ``t`` unless
    refractory. Returns (all spikes, driven spikes); ``steps``/``chans`` hold room for every possible spike."""
    n_ch, n_t = drive.shape
    k = 0
    driven = 0
    for c in range(n_ch):
        lp = 0.0
        v = 0.0
        hold = 0
        g = gain[c] * (1.0 - decay)
        for t in range(min(n_t, n_keep)):
            lp += lp_alpha * (drive[c, t] - lp)
            if hold > 0:
                hold -= 1
                continue
            v = v * decay + g * lp
            fired = v >= 1.0
            if fired or spont[c, t]:
                steps[k] = t
                chans[k] = c
                k += 1
                if fired:
                    driven += 1
                v = 0.0
                hold = refractory_steps
    return k, driven


def spontaneous_steps(n_channels: int, n_steps: int, rate: float, step_rate: float, seed: int) -> np.ndarray:
    """``uint8 [n_channels, n_steps]``: 1 where a channel fires spontaneously (module doc, stage 5).

    One spike per channel at a uniformly random time in each interval of ``1 / rate`` s, drawn from
    ``numpy.random.default_rng(seed)``; intervals cut off by the end keep their spike only if it
    falls inside."""
    out = np.zeros((n_channels, n_steps), np.uint8)
    if rate <= 0.0 or n_steps == 0:
        return out
    period = step_rate / rate  # steps per interval
    n_int = int(math.ceil(n_steps / period))
    at = np.floor((np.arange(n_int)[None, :] + np.random.default_rng(seed).random((n_channels, n_int))) * period).astype(np.int64)
    rows = np.broadcast_to(np.arange(n_channels)[:, None], at.shape)
    inside = at < n_steps
    out[rows[inside], at[inside]] = 1
    return out


def waveform_seed(x: np.ndarray) -> int:
    """A seed from the samples themselves: the same audio gets the same spontaneous spikes."""
    return zlib.crc32(np.ascontiguousarray(x, dtype=np.float64).tobytes())


@lru_cache(maxsize=1)
def _lif_kernel():
    import numba

    return numba.njit(cache=True, nogil=True)(_lif_loop)


# ----------------------------------------------------------------------------------------------
# public API


def encode(
    wave: np.ndarray, sample_rate: int, config: CochleaConfig | None = None, name: str = "audio", seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (float64 seconds, sorted) and units (uint16, ``0..n_channels-1``) of a mono waveform.

    ``wave``: samples (any float or integer dtype; integers are read as full scale of their
    type), 1-D or ``[samples, 1]``. ``seed``: of the spontaneous spikes (None: :func:`waveform_seed`
    of the input, so encoding is a function of the audio). The top channel is ``f_max`` or the
    Nyquist frequency, whichever is lower (:func:`for_sample_rate`). Raises :class:`DataError`
    naming ``name`` for empty, non-finite, multi-channel or silent input (no driven spikes) and
    for a sample rate outside 8000..384000 Hz.
    """
    cfg = for_sample_rate(config, sample_rate, name)
    x = _as_mono_float(wave, name)
    if seed is None:
        seed = waveform_seed(x)
    sample_rate = int(sample_rate)
    peak = float(np.max(np.abs(x)))
    if peak < cfg.silence_peak:
        raise DataError(f"{name}: audio is silent (peak {peak:.2g} of full scale); give a recording with speech in it")
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x * x)))
    if rms == 0.0:
        raise DataError(f"{name}: audio is constant (no sound); give a recording with speech in it")
    x *= cfg.rms / rms
    if cfg.hann_window:
        x *= np.hanning(x.size)
    drive = _hair_cell_input(x, sample_rate, cfg)
    gain = np.full(cfg.n_channels, cfg.gain, np.float64)
    dt = 1.0 / cfg.internal_rate
    refractory_steps = max(int(round(cfg.refractory * cfg.internal_rate)), 0)
    n_keep = int(math.ceil(x.size * cfg.internal_rate / sample_rate))  # spikes within the input's duration
    n_run = min(n_keep, drive.shape[1])
    room = cfg.n_channels * (-(-n_run // (refractory_steps + 1)))
    steps = np.empty(room, np.int32)
    channels = np.empty(room, np.int32)
    spont = spontaneous_steps(cfg.n_channels, n_run, cfg.spontaneous_rate, cfg.internal_rate, seed)
    n, driven = _lif_kernel()(
        drive,
        1.0 - math.exp(-2.0 * math.pi * cfg.hair_cell_cutoff * dt),
        math.exp(-dt / cfg.tau),
        gain,
        refractory_steps,
        n_keep,
        spont,
        steps,
        channels,
    )
    steps, channels = steps[:n], channels[:n]
    if driven == 0:
        raise DataError(
            f"{name}: no spikes: the audio is below the cochlea's noise floor ({cfg.floor_db:.0f} dB re its RMS in every channel); "
            "give a recording with speech in it"
        )
    units = (cfg.n_channels - 1 - channels) if cfg.high_first else channels
    order = np.argsort(steps.astype(np.int64) * cfg.n_channels + units, kind="stable")  # by time, then unit
    return steps[order].astype(np.float64) * dt, units[order].astype(np.uint16)


def _as_mono_float(wave: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(wave)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise DataError(f"{name}: audio has shape {a.shape}; give mono audio (mix it down, e.g. sox IN.wav -c 1 OUT.wav)")
    if a.size == 0:
        raise DataError(f"{name}: audio is empty (0 samples); give a recording with sound in it")
    x = _to_float(a, name)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{name}: audio holds NaN or infinite samples; re-export it")
    return x


def _to_float(a: np.ndarray, name: str) -> np.ndarray:
    """float64 samples, integer PCM read as a fraction of its type's full scale (uint8 centred)."""
    if a.dtype.kind == "u":
        half = (int(np.iinfo(a.dtype).max) + 1) / 2.0
        return (a.astype(np.float64) - half) / half
    if a.dtype.kind == "i":
        return a.astype(np.float64) / (int(np.iinfo(a.dtype).max) + 1)
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    raise DataError(f"{name}: audio samples of dtype {a.dtype} are not numbers; give float or integer PCM")

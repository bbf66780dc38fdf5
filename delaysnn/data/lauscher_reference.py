"""The reference: lauscher, SHD's own cochlea, and comparing its spikes with ours.

SHD was made with the hydrodynamic basilar-membrane / Meddis hair-cell / bushy-cell model of
Cramer et al. (2020), published as the ``lauscher`` package; :func:`encode_lauscher` runs it
(minutes per utterance at 700 channels: its hair and bushy cells are Python loops; for small
sets). Differences from :func:`delaysnn.data.cochlea.encode`, measured in ``bench/cochlea.py``
and ``tests/test_cochlea.py``: lauscher's channels are spaced by place on its model membrane
(about 100 Hz to 22.5 kHz, so at 22.05 kHz audio its top ~95 channels see nothing), it
multiplies the whole utterance by a Hann window, its spikes are stochastic (40 sampled fibres
per bushy cell) and include spontaneous activity. :func:`compare_encodings` matches the two
by centre frequency (:func:`lauscher_frequencies`).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import DataError, MissingDependencyError
from .cochlea import N_CHANNELS, CochleaConfig, _as_mono_float, channel_frequencies

__all__ = [
    "compare_encodings",
    "encode_lauscher",
    "lauscher_frequencies",
    "population_onset",
]

# ----------------------------------------------------------------------------------------------
# the reference: lauscher (SHD's own cochlea)


def encode_lauscher(
    wave: np.ndarray, sample_rate: int, n_channels: int = N_CHANNELS, seed: int = 0, jobs: int | None = 1, name: str = "audio"
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (float64 s, sorted) and units (uint16) from ``lauscher`` (Cramer et al. 2020), SHD's cochlea.

    Runs lauscher's ``Wave2Spike`` chain (RMS normalisation to 0.3, Hann window, hydrodynamic
    basilar membrane, Meddis hair cell, bushy cells). Its bushy cells sample fibres at random;
    ``seed`` seeds numpy's global generator for reproducibility. ``jobs``: lauscher's worker
    processes (None: one per core). Slow: about 30 s per second of audio per 70 channels and core.
    """
    try:
        from lauscher.audiowaves import MonoAudioWave
        from lauscher.helpers import CommandLineArguments
        from lauscher.transformations.wave2spike import Wave2Spike
    except ImportError as e:  # lauscher, or its soundfile/libsndfile
        raise MissingDependencyError(
            f"--cochlea lauscher needs the lauscher package ({e}); pip install lauscher (and libsndfile1 from your OS)"
        ) from None
    x = _as_mono_float(wave, name)
    if float(np.max(np.abs(x))) < CochleaConfig().silence_peak:
        raise DataError(f"{name}: audio is silent; give a recording with speech in it")
    CommandLineArguments().num_concurrent_jobs = jobs
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        train = MonoAudioWave(x, int(sample_rate)).transform(Wave2Spike(num_channels=n_channels))
    finally:
        np.random.set_state(state)
    times = np.asarray(train.spike_times, dtype=np.float64)
    units = np.asarray(train.spike_labels).astype(np.uint16)
    order = np.lexsort((units, times))
    return times[order], units[order]


def lauscher_frequencies(n_channels: int = N_CHANNELS) -> np.ndarray:
    """Characteristic frequency (Hz) of each lauscher channel (peak of its basilar-membrane
    response), in unit order (descending). Needs lauscher."""
    try:
        from lauscher.transformations.basilar_membrane import BasilarMembrane
    except ImportError as e:
        raise MissingDependencyError(f"lauscher is not installed ({e}); pip install lauscher") from None
    bm = BasilarMembrane(channels=n_channels)
    f = np.geomspace(30.0, 30000.0, 3000)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # private model method: the membrane velocity response of one place
        resp = np.abs(np.stack([bm._v(2 * np.pi * f, c) for c in bm.ch]))
    return f[np.nanargmax(np.nan_to_num(resp, nan=-1.0), axis=1)]


# ----------------------------------------------------------------------------------------------
# comparing two encodings of the same utterance


def population_onset(times: np.ndarray, bin_s: float = 0.01, fraction: float = 0.25) -> float:
    """Start (s) of the first ``bin_s`` bin whose spike count reaches ``fraction`` of the busiest
    bin's: the onset of the response, insensitive to a few spontaneous spikes before it."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return float("nan")
    counts = np.bincount((times / bin_s).astype(np.int64))
    return float(np.argmax(counts >= fraction * counts.max()) * bin_s)


def compare_encodings(
    ours: tuple[np.ndarray, np.ndarray],
    ref: tuple[np.ndarray, np.ndarray],
    ref_freqs: np.ndarray,
    config: CochleaConfig | None = None,
    n_bands: int = 7,
) -> dict:
    """Compare our spikes with a reference encoding (e.g. lauscher's) of the same utterance, by frequency.

    ``ref_freqs``: the reference's centre frequency per unit (``lauscher_frequencies``). Channels
    are matched by frequency, not index (the two place maps differ), over the frequencies both
    cover. Returns: ``bands`` (per band of ``n_channels / n_bands`` of our channels: the frequency
    range and spikes per channel for both), ``spearman`` (rank correlation of per-channel spike
    counts, on the reference's channels in our range, ours averaged over the channels of each
    reference channel's cell), ``onset_s`` (``population_onset`` of both), ``first_spike_s`` and
    ``spikes`` (totals) and ``spikes_per_channel``.
    """
    from scipy.stats import spearmanr

    cfg = config or CochleaConfig()
    f_ours = channel_frequencies(cfg)
    ref_freqs = np.asarray(ref_freqs, dtype=np.float64)
    c_ours = np.bincount(np.asarray(ours[1], np.int64), minlength=cfg.n_channels).astype(np.float64)
    c_ref = np.bincount(np.asarray(ref[1], np.int64), minlength=ref_freqs.size).astype(np.float64)
    order = np.argsort(f_ours)
    f_sorted, c_sorted = f_ours[order], c_ours[order]
    bands = []
    edges = np.array_split(np.arange(cfg.n_channels), n_bands)
    for band in edges:
        lo, hi = f_sorted[band[0]], f_sorted[band[-1]]
        in_ref = (ref_freqs >= lo) & (ref_freqs <= hi)
        bands.append(
            {
                "f_lo": float(lo),
                "f_hi": float(hi),
                "ours_per_channel": float(c_sorted[band].mean()),
                "ref_per_channel": float(c_ref[in_ref].mean()) if in_ref.any() else float("nan"),
                "ref_channels": int(in_ref.sum()),
            }
        )
    # each reference channel's cell: halfway (in log frequency) to its neighbours
    keep = np.nonzero((ref_freqs >= f_sorted[0]) & (ref_freqs <= f_sorted[-1]))[0]
    lf = np.log(ref_freqs)
    pos = np.log(f_sorted)
    mine = []
    for j in keep:
        nb = lf[max(j - 1, 0) : j + 2]
        half = np.abs(np.diff(nb)).min() / 2 if nb.size > 1 else np.inf
        sel = np.abs(pos - lf[j]) <= half
        mine.append(c_sorted[sel].mean() if sel.any() else c_sorted[np.argmin(np.abs(pos - lf[j]))])
    rho = float(spearmanr(mine, c_ref[keep]).statistic) if keep.size > 2 else float("nan")
    return {
        "bands": bands,
        "spearman": rho,
        "onset_s": (population_onset(ours[0]), population_onset(ref[0])),
        "first_spike_s": (float(np.min(ours[0])), float(np.min(ref[0]))),
        "spikes": (int(len(ours[0])), int(len(ref[0]))),
        "spikes_per_channel": (len(ours[0]) / cfg.n_channels, len(ref[0]) / ref_freqs.size),
    }

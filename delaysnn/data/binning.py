"""Binning spike events into count tensors, as SNN-delays does (see :mod:`delaysnn.data.heidelberg`):
``bin = floor((t_ms + EDGE_TOLERANCE_MS) / time_step_ms)``, channels summed in groups of ``n_bins``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ..limits import MAX_EVENT_SECONDS, MAX_STEPS
from .heidelberg_files import N_UNITS, SOURCE

EDGE_TOLERANCE_MS = 1e-3  # events this close (1 us) below a bin edge count as on it (float rounding)
_BINCOUNT_LIMIT = 1 << 22  # elements of one int64 bincount buffer (32 MiB)


# ----------------------------------------------------------------------------------------------
# binning


def bin_events(
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    *,
    time_step_ms: float = 10.0,
    n_bins: int = 5,
    n_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bin a batch of event lists into ``(counts int64 [n, T, 700 // n_bins], lengths int64 [n])``.

    ``times[i]`` in seconds, ``units[i]`` in 0..699, as in the files. ``T`` is ``n_steps`` if
    given (events at later bins dropped) else the longest sample; ``lengths[i]`` is sample
    ``i``'s own number of bins before any cap (0 without events). The rules are those of the
    module docstring; :func:`load_heidelberg` applies them chunk by chunk into uint8.
    """
    time_step_ms = _check_time_step(time_step_ms)
    n_bins = _check_n_bins(n_bins, warn=False)
    if n_steps is not None and (not _is_int(n_steps) or n_steps < 0):
        raise DataError(f"n_steps={n_steps!r}: expected a number of time steps >= 0, or None for the longest sample")
    counts, lengths, _, _ = _bin(times, units, time_step_ms, n_bins, n_steps, np.int64, "events", 0)
    return counts, lengths


def _flat_events(
    times: Sequence[np.ndarray], units: Sequence[np.ndarray], where: str, first_index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The samples' events as one array of times (seconds, float64) and one of unit ids (int64),
    with each sample's event count and its offset into them (``n + 1`` offsets); every value is
    checked, a bad one a :class:`DataError` naming its sample (``first_index`` the first's)."""
    n = len(times)
    if len(units) != n:
        raise DataError(f"{where}: {n} samples in spikes/times but {len(units)} in spikes/units")
    t_list = [np.asarray(t).reshape(-1) for t in times]
    u_list = [np.asarray(u).reshape(-1) for u in units]
    lens = np.fromiter((t.size for t in t_list), dtype=np.int64, count=n)
    ulens = np.fromiter((u.size for u in u_list), dtype=np.int64, count=n)
    bad = np.flatnonzero(lens != ulens)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: sample {first_index + i} has {lens[i]} spikes/times but {ulens[i]} spikes/units; "
            f"each time needs its unit: the file is corrupt, download it again from {SOURCE}"
        )
    offsets = np.concatenate(([0], np.cumsum(lens)))
    t = np.concatenate(t_list) if n else np.zeros(0)
    u = np.concatenate(u_list) if n else np.zeros(0, dtype=np.int64)

    def sample_of(pos: int) -> int:
        return first_index + int(np.searchsorted(offsets, pos, side="right")) - 1

    if t.dtype.kind not in "fiu":
        raise DataError(f"{where}: spikes/times has dtype {t.dtype}, expected floats (seconds)")
    t = t.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
    if bad.size:
        p = int(bad[0])
        raise DataError(
            f"{where}: spikes/times of sample {sample_of(p)} holds {t[p]!r}, expected finite times >= 0 s; "
            f"the file is corrupt, download it again from {SOURCE}"
        )
    late = np.flatnonzero(t > MAX_EVENT_SECONDS)
    if late.size:
        p = int(late[0])
        raise DataError(_late_event(where, sample_of(p), float(t[p])))
    if u.dtype.kind == "f" and u.size and not np.all(u == np.floor(u)):
        p = int(np.flatnonzero(u != np.floor(u))[0])
        raise DataError(f"{where}: spikes/units of sample {sample_of(p)} holds {u[p]!r}, expected integer unit ids")
    if u.dtype.kind not in "fiu":
        raise DataError(f"{where}: spikes/units has dtype {u.dtype}, expected integer unit ids 0..{N_UNITS - 1}")
    u = u.astype(np.int64)
    bad = np.flatnonzero((u < 0) | (u >= N_UNITS))
    if bad.size:
        p = int(bad[0])
        raise DataError(
            f"{where}: spikes/units of sample {sample_of(p)} holds unit {u[p]}, outside 0..{N_UNITS - 1} "
            f"(SHD and SSC have {N_UNITS} channels); is this a Heidelberg file? download it again from {SOURCE}"
        )
    return t, u, lens, offsets


def _bin(
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    time_step_ms: float,
    n_bins: int,
    n_steps: int | None,
    dtype,
    where: str,
    first_index: int,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """:func:`bin_events` into ``dtype``: also returns how many bins exceeded its maximum (clipped
    to it) and the largest count seen. ``where`` and ``first_index`` name samples in errors;
    ``out`` (zeros, ``[n, n_steps, channels]`` of ``dtype``) receives the counts in place."""
    n = len(times)
    channels = N_UNITS // n_bins
    t, u, lens, offsets = _flat_events(times, units, where, first_index)

    bins = np.floor((t * 1000.0 + EDGE_TOLERANCE_MS) / time_step_ms).astype(np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    nonempty = lens > 0
    if bins.size:
        lengths[nonempty] = np.maximum.reduceat(bins, offsets[:-1][nonempty]) + 1
    steps = int(n_steps) if n_steps is not None else int(lengths.max(initial=0))
    if out is None and steps > MAX_STEPS:
        raise DataError(
            f"{where}: binning needs {steps} time steps of {time_step_ms:g} ms, more than {MAX_STEPS} "
            f"(delaysnn.limits.MAX_STEPS); use a longer time step or pass n_steps"
        )
    counts = np.zeros((n, steps, channels), dtype=dtype) if out is None else out
    top = np.iinfo(dtype).max
    clipped, peak = 0, 0
    if steps == 0 or channels == 0 or not bins.size:
        return counts, lengths, clipped, peak
    chan = u // n_bins
    keep = (bins < steps) & (chan < channels)
    # One bincount per block of samples, so the int64 buffer stays bounded for long grids.
    rows = max(1, _BINCOUNT_LIMIT // (steps * channels))
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        e0, e1 = offsets[r0], offsets[r1]
        k = keep[e0:e1]
        sample = np.repeat(np.arange(r1 - r0, dtype=np.int64), lens[r0:r1])[k]
        flat = (sample * steps + bins[e0:e1][k]) * channels + chan[e0:e1][k]
        block = np.bincount(flat, minlength=(r1 - r0) * steps * channels)
        if block.size:
            most = int(block.max())
            peak = max(peak, most)
            if most > top:
                clipped += int(np.count_nonzero(block > top))
                np.minimum(block, top, out=block)
        counts[r0:r1] = block.reshape(r1 - r0, steps, channels)
    return counts, lengths, clipped, peak


def _late_event(where: str, sample: int, seconds: float) -> str:
    return (
        f"{where}: spikes/times of sample {sample} holds a spike at {seconds:.6g} s, later than the "
        f"{MAX_EVENT_SECONDS:g} s limit (delaysnn.limits.MAX_EVENT_SECONDS; SHD/SSC samples last under 1.5 s); "
        f"times must be in seconds: the file is corrupt or stores another unit"
    )


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_time_step(time_step_ms) -> float:
    try:
        value = float(time_step_ms)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise DataError(
            f"time_step_ms={time_step_ms!r}: expected a positive bin width in milliseconds (SNN-delays: 10)"
        )
    return value


def _check_n_bins(n_bins, warn: bool = True) -> int:
    if not _is_int(n_bins) or not 1 <= n_bins <= N_UNITS:
        raise DataError(
            f"n_bins={n_bins!r}: expected an integer in 1..{N_UNITS} (channels summed per input; SNN-delays: 5 -> 140 inputs)"
        )
    n_bins = int(n_bins)
    if N_UNITS % n_bins and warn:
        warnings.warn(
            f"n_bins={n_bins} does not divide {N_UNITS}: the last {N_UNITS % n_bins} channels are dropped, "
            f"{N_UNITS // n_bins} inputs remain (as SNN-delays does); use a divisor of {N_UNITS} to keep all",
            stacklevel=3,
        )
    return n_bins

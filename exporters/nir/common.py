"""What every part of the NIR backend shares: format tags, dependencies, metadata checks, time.

Inside this package ``import nir`` is always the real NIR package (absolute imports; the
package's own modules are imported relatively)."""

from __future__ import annotations

from typing import Any

import numpy as np

from delaysnn.errors import MissingDependencyError, UnsupportedError

FORMAT = "delaysnn-nir"
# 2: the integer graph's Delay values include the layer latency (1 had the synaptic delays only)
VERSION = 2
READ_VERSIONS = (1, 2)
NO_LEAK_TAU_STEPS = 2.0**24  # dv = 0: a leak below the 24-bit v register's resolution
DELAY_TOLERANCE = 1e-4  # |tau/dt - round(tau/dt)| allowed, in steps
NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI")
SYNAPTIC = ("Linear", "Affine", "Scale", "Delay")
CONVENTIONS = (
    "Euler steps of dt; r = tau/dt and w_in = tau_syn/dt (input added undecayed, snnTorch convention); "
    "CubaLIF updates the current first; hard reset of v to v_reset; per-synapse delays as "
    "Linear(fan-out) -> Delay -> Linear/Affine(regrouped weights); integer graphs: every Delay is "
    "(synaptic delay + latency_steps) * dt; see delaysnn exporters/nir/__init__.py"
)
# What a damaged or hand-edited file raises from numpy and the standard fields' accessors.
BAD_FIELD = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)


def nir_module() -> Any:
    try:
        import nir
    except ImportError as err:
        raise MissingDependencyError("the NIR backend needs the 'nir' package: pip install 'delaysnn[nir]'") from err
    return nir


def h5py_module() -> Any:
    try:
        import h5py
    except ImportError as err:
        raise MissingDependencyError("writing NIR files needs 'h5py': pip install h5py") from err
    return h5py


def short(err: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ours(meta: dict[str, Any]) -> bool:
    """Whether graph metadata says delaysnn wrote it (``format``; an edited value of any type is not ours)."""
    value = meta.get("format")
    return isinstance(value, str) and value == FORMAT


def version_of(meta: dict[str, Any]) -> int:
    """Our format version; one this delaysnn cannot read raises."""
    try:
        version = int(meta.get("version", -1))
    except (TypeError, ValueError):
        version = None
    if version not in READ_VERSIONS:
        raise UnsupportedError(
            f"NIR file written by delaysnn NIR format version {meta.get('version')!r}; this delaysnn reads {', '.join(map(str, READ_VERSIONS))}"
        )
    return version


def checked_meta(graph: Any, network: str | None) -> dict[str, Any]:
    """Our graph metadata, checked: format, version, and (if given) the kind of network."""
    meta = dict(graph.metadata) if isinstance(graph.metadata, dict) else {}
    if not ours(meta):
        return {}
    version_of(meta)
    if network is not None and str(meta.get("network")) != network:
        hint = "read_float (then quantize)" if str(meta.get("network")) == "float" else "read_ir"
        raise UnsupportedError(f"NIR file holds a {meta.get('network')} network, not an {network} one; read it with exporters.nir.{hint}")
    return meta


def latency_in_delays(meta: dict[str, Any], layers: int) -> np.ndarray:
    """Steps of each layer's Delay values that are latency, not synaptic delay (int64 ``[layers]``):
    ``latency_steps`` for integer graphs of version 2, else 0."""
    if not ours(meta) or str(meta.get("network")) != "integer" or version_of(meta) < 2:
        return np.zeros(layers, np.int64)
    raw = np.asarray(meta.get("latency_steps"))
    if raw.shape != (layers,) or not np.issubdtype(raw.dtype, np.integer) or np.any(raw < 0):
        raise UnsupportedError(
            f"NIR metadata 'latency_steps' is {raw.tolist()!r}; expected {layers} non-negative integers (one per layer): re-export the network"
        )
    return raw.astype(np.int64)


def check_dt(dt: Any, where: str = "dt") -> float:
    """``dt`` as a positive finite number of seconds, or a one-line error."""
    try:
        value = float(dt)
    except (TypeError, ValueError) as err:
        raise UnsupportedError(f"{where} is {dt!r}, not a number of seconds; pass dt= or fix the metadata") from err
    if not value > 0 or not np.isfinite(value):
        raise UnsupportedError(f"{where}={dt}: the time step must be a positive number of seconds")
    return value


def graph_dt(graph: Any, dt: float | None = None) -> float:
    """Seconds per step: ``dt`` if given, else the graph metadata's ``dt`` (delaysnn writes it)."""
    if dt is not None:
        return check_dt(dt)
    if "dt" not in (graph.metadata or {}):
        raise UnsupportedError("NIR graph has no 'dt' in its metadata; pass dt= (seconds per time step) to read it")
    return check_dt(graph.metadata["dt"], "NIR graph metadata 'dt'")


def delay_seconds(steps: np.ndarray, dt: float) -> np.ndarray:
    """``steps * dt`` in float64 seconds, each nudged up to the smallest float64 whose quotient by
    ``dt`` is not below ``steps``: a peer's ``floor(tau / dt)`` and ``round(tau / dt)`` both give
    ``steps`` (``fl(3 * 0.01) / 0.01`` is 2.9999999999999996; in float32 10 of 0..24 fall short)."""
    k = np.asarray(steps, np.float64)
    tau = k * dt
    for _ in range(8):  # a few ulps at most
        short_ = tau / dt < k
        if not short_.any():
            break
        tau = np.where(short_, np.nextafter(tau, np.inf), tau)
    return tau


def delay_steps(tau: Any, dt: float, where: str = "Delay") -> np.ndarray:
    """Whole steps of delays ``tau`` (seconds); a negative delay or one that is not a multiple of
    ``dt`` (within ``DELAY_TOLERANCE`` steps) raises."""
    ratio = np.asarray(tau, np.float64).reshape(-1) / dt
    steps = np.rint(ratio)
    if ratio.size and (np.any(steps < 0) or np.abs(ratio - steps).max() > DELAY_TOLERANCE):
        bad = ratio[np.argmax(np.where(steps < 0, np.inf, np.abs(ratio - steps)))]
        raise UnsupportedError(f"{where}: delay of {bad:g} steps is not a non-negative whole number of steps of dt={dt:g} s")
    return steps.astype(np.int64)


def compact_int(a: np.ndarray) -> np.ndarray:
    """The smallest signed integer dtype that holds ``a`` (int8 for empty arrays)."""
    a = np.asarray(a)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return a.astype(dtype)
    return a.astype(np.int64)

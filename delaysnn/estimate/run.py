"""The entry points: ``estimate(net, x)`` and ``estimate_batches(net, batches)``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from ..ir import DelayNetwork
from .counts import (
    DEFAULT_RATE,
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    Activity,
    activity,
    add_activity,
    as_batch,
    delay_histogram,
    layer_counts,
    random_input,
    run_sim,
    trace_from_sim,
)
from .pricing import energy_breakdown, load_energy_models
from .report import Estimate
from .storage import CORE_PROFILE, NetworkMemory, core_limits_of, network_memory

DEFAULT_PROFILES: tuple[str, ...] = ("loihi2", "cmos45_int8", "cmos45_fp32")


def estimate(
    net: DelayNetwork,
    x: np.ndarray | None = None,
    profiles: Sequence[str] = DEFAULT_PROFILES,
    sim_result: Any = None,
    *,
    steps: int = DEFAULT_STEPS,
    rate: float = DEFAULT_RATE,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    core_limits: dict[str, Any] | None = None,
    batch_size: int | None = None,
) -> Estimate:
    """Estimate the cost of one inference of ``net``.

    ``x``: inputs ``[batch, steps, input_size]`` (the sim runs on them); without it, a
    deterministic random input of ``samples`` x ``steps`` steps with each value non-zero with
    probability ``rate`` (``random_input``). ``sim_result``: a ``delaysnn.sim`` result for
    ``x`` already computed (then ``x`` is required). ``profiles``: built-in names or paths of
    ``.toml`` files with an ``[energy]`` section. ``core_limits``: per-core limits to use instead of
    the loihi2 profile's (keys of ``core_limits_of``: ``neurons_per_core``,
    ``synaptic_memory_bits``). The sim runs ``batch_size`` samples at a time (default
    ``delaysnn.limits.BATCH_SAMPLES``); the counts do not depend on it.
    """
    from ..limits import BATCH_SAMPLES

    size = batch_size or BATCH_SAMPLES
    if x is None:
        if sim_result is not None:
            raise DataError("estimate: sim_result given without the input x it was computed from; pass x too")
        batches = (random_input(net, steps, rate, min(size, samples - k), seed, start=k) for k in range(0, samples, size))
        source = {"kind": "random", "samples": samples, "steps": steps, "rate": rate, "seed": seed}
        return estimate_batches(net, batches, profiles, core_limits=core_limits, source=source)
    x = as_batch(x, net)
    if sim_result is not None:
        net.check()
        models = load_energy_models(profiles)
        return _finish(net, activity(net, trace_from_sim(net, x, sim_result)), models, core_limits, _data_source(x))
    return estimate_batches(
        net, (x[k : k + size] for k in range(0, x.shape[0], size)), profiles, core_limits=core_limits, source=_data_source(x)
    )


def _data_source(x: np.ndarray) -> dict[str, Any]:
    return {"kind": "data", "samples": int(x.shape[0]), "steps": int(x.shape[1]), "rate": float(np.count_nonzero(x) / max(x.size, 1))}


def estimate_batches(
    net: DelayNetwork,
    batches: Iterable[Any],
    profiles: Sequence[str] = DEFAULT_PROFILES,
    *,
    core_limits: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> Estimate:
    """``estimate`` over an iterable of input batches (``[batch, steps, input_size]`` each, all
    of one length), simulated one at a time: memory is that of one batch. ``source`` describes the
    inputs for the report (default: data, with the samples, steps and rate measured here)."""
    net.check()
    models = load_energy_models(profiles)  # fail on a bad profile before simulating
    total: Activity | None = None
    nonzero = values = 0
    shape: tuple[int, ...] = ()
    for xb in batches:
        xb = as_batch(xb, net)
        total = add_activity(total, activity(net, trace_from_sim(net, xb, run_sim(net, xb))))
        nonzero, values, shape = nonzero + int(np.count_nonzero(xb)), values + int(xb.size), xb.shape
    if total is None:
        raise DataError("estimate: no inputs; need at least one sample")
    if source is None:
        source = {"kind": "data", "samples": total.samples, "steps": int(shape[1]), "rate": nonzero / max(values, 1)}
    return _finish(net, total, models, core_limits, source)


def _finish(net: DelayNetwork, act: Activity, models: list[Any], core_limits: dict[str, Any] | None, source: dict[str, Any]) -> Estimate:
    from hardware import load_profile

    profile = load_profile(CORE_PROFILE)  # per-core limits and the delay-line accumulator width
    limits = core_limits if core_limits is not None else core_limits_of(profile)
    layers = layer_counts(net, act, limits)
    run_steps = max(act.steps)
    return Estimate(
        network={
            "sizes": net.sizes,
            "input_bits": net.input_bits,
            "time_step_ms": net.time_step_ms,
            "max_delays": [layer.max_delay for layer in net.layers],
            "weight_bits": [layer.weight_bits for layer in net.layers],
        },
        input=source,
        steps=run_steps,
        layers=layers,
        energy=[energy_breakdown(m, net, layers, run_steps) for m in models],
        core_limits=dict(limits),
        delay_histograms=[delay_histogram(layer) for layer in net.layers],
        memory=network_memory(net, profile),
    )


def memory(net: DelayNetwork, profile: Any = CORE_PROFILE) -> NetworkMemory:
    """Memory of ``net`` as hardware stores it (``delaysnn.estimate.storage``), per layer and in total,
    in bits and kB (1 kB = 1000 bytes); ``profile``: a built-in name, a ``.toml`` path or a
    ``hardware.Profile`` (its ``accumulator_bits`` sizes the delay lines)."""
    from hardware import load_profile

    return network_memory(net, load_profile(profile))


def load_core_limits(profile: str = CORE_PROFILE) -> dict[str, Any]:
    """``core_limits_of`` the named profile (default ``loihi2``)."""
    from hardware import load_profile

    return core_limits_of(load_profile(profile))

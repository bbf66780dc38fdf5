"""Random valid DelayNetworks and inputs, in one place (seeded generators + hypothesis strategies).

Networks cover the edges of the arithmetic: delays 0..max_delay (0 included), weight bits 1..8,
binary and ternary weights, du/dv over their whole range (0 and 4095 included), negative biases,
every bias_exp, graded inputs up to several bits, and "hot" networks whose u wraps and v
saturates; and the memory frontier's shapes: delays on a 1..6-bit delay grid (both grids), pruned
layers (zero weights are absent synapses, delay 0) with an all-zero row and column, and layers
pruned to a single synapse; and every delay kind (``kind=``: synaptic ``[out, in]``, axonal
``[in]``, dendritic ``[out]`` delays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from delaysnn.ir import DECAY_MAX, VTH_MAX, DelayKind, DelayLayer, DelayNetwork, NeuronParams, WeightKind
from delaysnn.quantization.grids import delay_grid

EDGE_DECAYS = (0, 1, 2048, 4094, 4095)


@dataclass(frozen=True)
class NetSpec:
    """Knobs of :func:`random_network` (hypothesis draws these)."""

    sizes: tuple[int, ...]  # input, hidden..., readout
    max_delay: int = 8
    weight_bits: int = 8
    binary: bool = False
    input_bits: int = 1
    weight_exp: int = 0
    hot: bool = False  # drive u to wrap and v to saturate
    seed: int = 0
    netx: bool = False  # keep to what lava-dl netx represents exactly (bias on a 2**6 grid, small weight_exp)
    ternary: bool = False  # weights in {-1, 0, +1}, weight_bits 2
    delay_bits: int | None = None  # delays snapped to a delay_bits grid (delaysnn.quantization.grids.delay_grid)
    delay_grid: str = "step"
    prune: float = 0.0  # fraction of synapses zeroed (plus one all-zero row and column when > 0)
    single_synapse: bool = False  # the first layer keeps exactly one synapse
    kind: str = "synaptic"  # every layer's DelayKind value: "synaptic", "axonal" or "dendritic"


def random_layer(
    rng: np.random.Generator,
    n_in: int,
    n_out: int,
    *,
    spiking: bool,
    max_delay: int = 8,
    weight_bits: int = 8,
    binary: bool = False,
    weight_exp: int = 0,
    hot: bool = False,
    netx: bool = False,
    ternary: bool = False,
    delay_bits: int | None = None,
    delay_grid_mode: str = "step",
    prune: float = 0.0,
    single_synapse: bool = False,
    kind: str = "synaptic",
) -> DelayLayer:
    if binary:
        weight = rng.choice(np.array([-1, 1]), size=(n_out, n_in))
        weight_bits = 1
    elif ternary:
        weight = rng.choice(np.array([-1, 0, 1]), size=(n_out, n_in))
        weight_bits = 2
        if hot:
            weight = np.where(rng.random(weight.shape) < 0.8, 1, weight)
    else:
        lo, hi = -(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1) - 1
        weight = rng.integers(lo, hi + 1, size=(n_out, n_in))
        if hot:  # push towards the largest positive weights
            weight = np.where(rng.random(weight.shape) < 0.8, hi, weight)
    delay_kind = DelayKind(kind)
    delay = rng.integers(0, max_delay + 1, size={"axonal": n_in, "dendritic": n_out}.get(kind, (n_out, n_in)))
    delay.flat[0] = 0  # always include the delay-0 edge
    delay.flat[-1] = max_delay
    if prune > 0 or single_synapse:
        weight = _pruned(rng, weight, prune, single_synapse)
        if delay_kind is DelayKind.SYNAPTIC:  # a neuron's delay stays: its other synapses share it
            delay = np.where(weight != 0, delay, 0)  # as the quantizer writes absent synapses
    grid_bits, grid_step = None, 1
    if delay_bits is not None:
        used = delay[weight != 0] if delay_kind is DelayKind.SYNAPTIC else delay
        grid = delay_grid(used, delay_bits, delay_grid_mode, max_delay=max_delay)
        delay, grid_bits, grid_step = grid.snap(delay), grid.bits, grid.step
    du = int(rng.choice([*EDGE_DECAYS, int(rng.integers(0, DECAY_MAX + 1))]))
    dv = int(rng.choice([*EDGE_DECAYS, int(rng.integers(0, DECAY_MAX + 1))]))
    if hot:
        du, dv = int(rng.choice([0, 1, 16])), int(rng.choice([0, 1, 16]))
    bias_exp = int(rng.integers(0, 8))
    bias_mant = rng.integers(-(2**12), 2**12, size=n_out) >> int(rng.integers(0, 12))
    if netx:  # netx applies bias << 6: keep bias_mant << bias_exp on that grid
        bias_exp = int(rng.integers(0, 8))
        bias_mant = (bias_mant >> 6) << max(0, 6 - bias_exp)
        weight_exp = min(weight_exp, 9 - weight_bits)  # netx has no weight exponent: W << e within 9 bits
    if spiking:
        vth = int(rng.choice([0, 1, int(rng.integers(1, 64)), int(rng.integers(64, 4096)), VTH_MAX]))
    else:
        vth = None
    neuron = NeuronParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant.astype(np.int32), bias_exp=bias_exp)
    return DelayLayer(
        weight=weight.astype(np.int32),
        delay=delay.astype(np.int32),
        neuron=neuron,
        weight_bits=weight_bits,
        weight_exp=weight_exp,
        weight_kind=WeightKind.BINARY if binary else WeightKind.TERNARY if ternary else WeightKind.FIXED,
        delay_bits=grid_bits,
        delay_step=grid_step,
        delay_kind=delay_kind,
    )


def _pruned(rng: np.random.Generator, weight: np.ndarray, prune: float, single: bool) -> np.ndarray:
    """``weight`` with ``prune`` of it zeroed, plus its last row and first column when it has more
    than one of each (all-zero rows and columns); ``single``: exactly one non-zero synapse left."""
    n_out, n_in = weight.shape
    nonzero = np.where(weight == 0, -1, weight)  # kept synapses are non-zero (-1 fits every weight range)
    if single:
        out = np.zeros_like(weight)
        o, i = int(rng.integers(0, n_out)), int(rng.integers(0, n_in))
        out[o, i] = nonzero[o, i]
        return out
    out = np.where(rng.random(weight.shape) < prune, 0, weight)
    if n_out > 1 and n_in > 1:
        out[-1, :] = 0
        out[:, 0] = 0
        out[0, -1] = nonzero[0, -1]
    elif not out.any():
        out.flat[0] = nonzero.flat[0]
    return out


def random_network(spec: NetSpec) -> DelayNetwork:
    """A valid network following ``spec`` (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    layers = []
    for k in range(len(spec.sizes) - 1):
        last = k == len(spec.sizes) - 2
        layers.append(
            random_layer(
                rng,
                spec.sizes[k],
                spec.sizes[k + 1],
                spiking=not last,
                max_delay=spec.max_delay,
                weight_bits=spec.weight_bits,
                binary=spec.binary,
                weight_exp=spec.weight_exp,
                hot=spec.hot,
                netx=spec.netx,
                ternary=spec.ternary,
                delay_bits=spec.delay_bits,
                delay_grid_mode=spec.delay_grid,
                prune=spec.prune,
                single_synapse=spec.single_synapse and k == 0,
                kind=spec.kind,
            )
        )
    net = DelayNetwork(input_size=spec.sizes[0], layers=layers, input_bits=spec.input_bits, provenance={"source": "tests.factories"})
    net.check()
    return net


def random_input(net: DelayNetwork, batch: int, steps: int, *, rate: float = 0.3, seed: int = 0) -> np.ndarray:
    """Integer payloads ``[batch, steps, input_size]`` in ``0..2**input_bits-1``, ``rate`` nonzero."""
    rng = np.random.default_rng(seed)
    top = 2**net.input_bits - 1
    active = rng.random((batch, steps, net.input_size)) < rate
    payload = rng.integers(1, top + 1, size=active.shape)
    x = np.where(active, payload, 0)
    if top > 1 and x.size:
        x.flat[0] = top  # include the largest payload
    return x.astype(np.int64)


def shd_like_network(
    seed: int = 0, sizes: tuple[int, ...] = (140, 256, 256, 20), max_delay: int = 24, vth: tuple[int, ...] = (500, 250)
) -> DelayNetwork:
    """The SHD-shaped network of the benchmark: 8-bit weights, delays 0..max_delay, du=4095 (no
    synaptic filter), dv=4076 (tau ~1 step as SNN-delays), firing a few percent of the time."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(sizes) - 1):
        n_in, n_out = sizes[k], sizes[k + 1]
        weight = np.clip(np.round(rng.normal(0, 40, size=(n_out, n_in))), -128, 127).astype(np.int32)
        delay = rng.integers(0, max_delay + 1, size=(n_out, n_in)).astype(np.int32)
        last = k == len(sizes) - 2
        neuron = NeuronParams(du=4095, dv=4076, vth=None if last else vth[k % len(vth)], bias_mant=np.zeros(n_out, np.int32), bias_exp=0)
        layers.append(DelayLayer(weight=weight, delay=delay, neuron=neuron, weight_bits=8))
    return DelayNetwork(input_size=sizes[0], layers=layers, input_bits=3, time_step_ms=10.0, provenance={"source": "shd_like_network"})


def shd_like_input(batch: int, steps: int = 100, size: int = 140, rate: float = 0.04, seed: int = 0) -> np.ndarray:
    """Binned-SHD-like graded counts 0..5, ``rate`` of bins active."""
    rng = np.random.default_rng(seed)
    active = rng.random((batch, steps, size)) < rate
    return np.where(active, rng.integers(1, 6, size=active.shape), 0).astype(np.int64)


# --- hypothesis strategies ---


@st.composite
def net_specs(
    draw: st.DrawFn, max_width: int = 6, max_layers: int = 3, max_delay: int = 62, netx: bool = False, kinds: tuple[str, ...] = ("synaptic",)
) -> NetSpec:
    """``kinds``: the delay kinds drawn from (synaptic only by default, so the draws of tests
    written before the kinds stay as they were)."""
    n_layers = draw(st.integers(1, max_layers))
    sizes = tuple(draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1)))
    kind = draw(st.sampled_from(["fixed", "binary", "ternary"]))
    binary, ternary = kind == "binary", kind == "ternary"
    return NetSpec(
        sizes=sizes,
        max_delay=draw(st.integers(0, max_delay)),
        weight_bits=1 if binary else 2 if ternary else draw(st.integers(1, 8)),
        binary=binary,
        ternary=ternary,
        delay_bits=draw(st.none() | st.integers(1, 6)),
        delay_grid=draw(st.sampled_from(["step", "cap"])),
        prune=draw(st.sampled_from([0.0, 0.0, 0.5, 0.9])),
        single_synapse=draw(st.booleans()),
        input_bits=draw(st.integers(1, 4)),
        weight_exp=draw(st.integers(0, 7)),
        hot=draw(st.booleans()),
        netx=netx,
        seed=draw(st.integers(0, 2**31 - 1)),
        kind=draw(st.sampled_from(kinds)) if len(kinds) > 1 else kinds[0],
    )


def networks(**kwargs: int | bool | tuple[str, ...]) -> st.SearchStrategy[DelayNetwork]:
    return net_specs(**kwargs).map(random_network)


# Named cases every backend's tests cover, on top of hypothesis' draws: delays 0 and 62,
# binary, graded payloads with a weight exponent, a delay-free net, a hot (wrapping) net.
NAMED_SPECS: list[NetSpec] = [
    NetSpec(sizes=(5, 7, 3), seed=1),
    NetSpec(sizes=(4, 6, 6, 2), max_delay=62, seed=2),
    NetSpec(sizes=(3, 5, 4), binary=True, weight_bits=1, seed=3),
    NetSpec(sizes=(6, 4, 3), input_bits=3, weight_exp=5, seed=4),
    NetSpec(sizes=(2, 3), max_delay=0, seed=5),
    NetSpec(sizes=(5, 8, 2), hot=True, weight_bits=4, seed=6),
]
# The memory frontier's cases (issue 13): delay bits on both grids, ternary, pruning with
# all-zero rows and columns, a layer pruned to one synapse. Seeds chosen so every hidden layer
# has vth > 0 and fires 2-50 % of the time on random_input(net, 3, 30, rate=0.4, seed=spec.seed).
# Kept apart from NAMED_SPECS so the slow backends (Lava) choose how many of them to run.
FRONTIER_SPECS: list[NetSpec] = [
    NetSpec(sizes=(6, 8, 3), max_delay=62, delay_bits=3, seed=15),
    NetSpec(sizes=(6, 8, 3), max_delay=40, delay_bits=2, delay_grid="cap", seed=100),
    NetSpec(sizes=(5, 7, 6, 2), ternary=True, weight_bits=2, delay_bits=5, input_bits=3, seed=24),
    NetSpec(sizes=(8, 9, 4), prune=0.8, weight_bits=4, delay_bits=4, seed=18),
    NetSpec(sizes=(5, 6, 3), single_synapse=True, ternary=True, weight_bits=2, delay_bits=1, seed=21),
    NetSpec(sizes=(7, 10, 3), prune=0.9, hot=True, weight_bits=8, delay_bits=6, delay_grid="cap", seed=16),
]
# Every delay kind (issue 25): a plain layer, a frontier-like one (3-bit delay grid, ternary,
# half pruned) and two square layers (N_in == N_out, where netx reads a 1-D delay as per output
# neuron). Seeds chosen as FRONTIER_SPECS': every hidden layer has vth > 0 and fires 2-50 % of
# the time on random_input(net, 3, 30, rate=0.4, seed=spec.seed), and every layer's delays differ.
_KIND_SHAPES = (((5, 7, 3), {}), ((6, 8, 3), {"max_delay": 40, "delay_bits": 3, "ternary": True, "weight_bits": 2, "prune": 0.5}),
                ((6, 6, 6, 2), {"max_delay": 20}))  # fmt: skip
KIND_SPECS: list[NetSpec] = [
    NetSpec(sizes=sizes, kind=kind, seed=seed, **extra)
    for kind, seeds in (("axonal", (1, 3, 42)), ("dendritic", (0, 3, 0)))
    for (sizes, extra), seed in zip(_KIND_SHAPES, seeds, strict=True)
]

"""Random valid DelayNetworks and inputs, in one place (seeded generators + hypothesis strategies).

Networks cover the edges of the arithmetic: delays 0..max_delay (0 included), weight bits 1..8 and
binary weights, du/dv over their whole range (0 and 4095 included), negative biases, every
bias_exp, graded inputs up to several bits, and "hot" networks whose u wraps and v saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from delaysnn.ir import DECAY_MAX, VTH_MAX, DelayLayer, DelayNetwork, NeuronParams

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
) -> DelayLayer:
    if binary:
        weight = rng.choice(np.array([-1, 1]), size=(n_out, n_in))
        weight_bits = 1
    else:
        lo, hi = -(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1) - 1
        weight = rng.integers(lo, hi + 1, size=(n_out, n_in))
        if hot:  # push towards the largest positive weights
            weight = np.where(rng.random(weight.shape) < 0.8, hi, weight)
    delay = rng.integers(0, max_delay + 1, size=(n_out, n_in))
    delay.flat[0] = 0  # always include the delay-0 edge
    delay.flat[-1] = max_delay
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
        binary=binary,
    )


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
def net_specs(draw: st.DrawFn, max_width: int = 6, max_layers: int = 3, max_delay: int = 62, netx: bool = False) -> NetSpec:
    n_layers = draw(st.integers(1, max_layers))
    sizes = tuple(draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1)))
    binary = draw(st.booleans())
    return NetSpec(
        sizes=sizes,
        max_delay=draw(st.integers(0, max_delay)),
        weight_bits=1 if binary else draw(st.integers(1, 8)),
        binary=binary,
        input_bits=draw(st.integers(1, 4)),
        weight_exp=draw(st.integers(0, 7)),
        hot=draw(st.booleans()),
        netx=netx,
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def networks(**kwargs: int | bool) -> st.SearchStrategy[DelayNetwork]:
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

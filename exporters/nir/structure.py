"""Graph structure: the exact F/Delay/W' decomposition, building our layer chains, and reading
any feed-forward chain back as per-layer delayed linear maps (numpy; ``nir`` only for nodes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from delaysnn.errors import UnsupportedError

from .common import NEURONS, SYNAPTIC, delay_seconds, delay_steps, nir_module


@dataclass(frozen=True)
class DelayedLinear:
    """One layer's synapses as ``W' . Delay(steps) . F`` (see the package docstring)."""

    fanout: np.ndarray  # [P, in] 0/1
    steps: np.ndarray  # int64 [P], delay of each (input, delay) pair
    weight: np.ndarray  # [out, P]


def decompose(
    shape: tuple[int, int], post: np.ndarray, pre: np.ndarray, delay: np.ndarray, value: np.ndarray,
    dtype: Any = np.float32,
) -> DelayedLinear:
    """Regroup synapses ``(post, pre, delay, value)`` (COO, at most one per (post, pre, delay))
    onto the distinct (pre, delay) pairs of the non-zero ones, sorted by pre then delay."""
    n_out, n_in = shape
    keep = np.asarray(value) != 0
    post, pre, delay, value = (np.asarray(a)[keep] for a in (post, pre, delay, value))
    span = int(delay.max()) + 1 if delay.size else 1
    keys, column = np.unique(pre.astype(np.int64) * span + delay, return_inverse=True)
    if keys.size == 0:  # no synapse at all: one all-zero pair keeps every array non-empty
        keys = np.zeros(1, np.int64)
    fanout = np.zeros((keys.size, n_in), dtype)
    fanout[np.arange(keys.size), keys // span] = 1
    weight = np.zeros((n_out, keys.size), np.float64)
    weight[post, column] = value
    return DelayedLinear(fanout=fanout, steps=keys % span, weight=weight.astype(dtype))


def layer_nodes(
    index: int, dec: DelayedLinear, dt: float, neuron: Any, bias: np.ndarray | None, latency: int = 0
) -> list[tuple[str, Any]]:
    """``Linear(F) -> Delay((steps + latency) * dt) -> Linear|Affine(W') -> neuron``, named ``layer<i>_*``."""
    nir = nir_module()
    p = f"layer{index}_"
    tau = delay_seconds(dec.steps + latency, dt)
    if bias is not None and np.any(bias != 0):
        synapse = nir.Affine(weight=dec.weight, bias=bias.astype(np.float32))
    else:
        synapse = nir.Linear(weight=dec.weight)
    return [(p + "fanout", nir.Linear(weight=dec.fanout)), (p + "delay", nir.Delay(delay=tau)), (p + "weight", synapse), (p + "neuron", neuron)]


def neuron_delay_nodes(
    index: int, axonal: bool, steps: np.ndarray, weight: np.ndarray, dt: float, neuron: Any, bias: np.ndarray | None, latency: int = 0
) -> list[tuple[str, Any]]:
    """A layer with one delay per neuron, in standard nodes with no fan-out: axonal
    ``Delay((steps + latency) * dt) -> Linear|Affine(W') -> neuron`` (one delay per input),
    dendritic ``Linear(W') -> Delay(...) [-> Affine(I, bias)] -> neuron`` (one per output; a bias
    goes after the Delay, since through it the bias would arrive ``tau`` late)."""
    nir = nir_module()
    p = f"layer{index}_"
    w = np.asarray(weight, np.float32)
    delay = (p + "delay", nir.Delay(delay=delay_seconds(np.asarray(steps, np.int64) + latency, dt)))
    biased = bias is not None and np.any(bias != 0)
    if axonal:
        synapse = nir.Affine(weight=w, bias=bias.astype(np.float32)) if biased else nir.Linear(weight=w)
        return [delay, (p + "weight", synapse), (p + "neuron", neuron)]
    nodes = [(p + "weight", nir.Linear(weight=w)), delay]
    if biased:
        nodes.append((p + "bias", nir.Affine(weight=np.eye(w.shape[0], dtype=np.float32), bias=bias.astype(np.float32))))
    return nodes + [(p + "neuron", neuron)]


def build_graph(n_in: int, layers: list[list[tuple[str, Any]]], metadata: dict[str, Any]) -> Any:
    """``Input -> layer nodes ... -> Output`` as a type-checked ``nir.NIRGraph``."""
    nir = nir_module()
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([n_in]))}
    for layer in layers:
        nodes.update(layer)
    n_out = int(np.asarray(layers[-1][-1][1].output_type["output"]).reshape(-1)[0])
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    names = list(nodes)
    edges = list(zip(names[:-1], names[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


class DelayedMap:
    """``sum_d M_d z^-d (+ bias)`` built node by node: the composition of a chain of linear and
    delay nodes. Terms are ``(d, rows, M)``: rows ``rows`` of ``M_d`` (the others zero), so a
    fan-out split by a Delay never materialises ``P x in`` matrices per delay."""

    def __init__(self, n_in: int):
        self.n_in = n_in
        self.n_out = n_in
        self.terms: list[tuple[int, np.ndarray, np.ndarray]] | None = None  # None: identity
        self.bias: np.ndarray | None = None

    def _identity(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        return self.terms if self.terms is not None else [(0, np.arange(self.n_in), np.eye(self.n_in))]

    def matrix(self, weight: np.ndarray, where: str) -> None:
        w = np.asarray(weight, np.float64)
        if w.ndim != 2 or w.shape[1] != self.n_out:
            raise UnsupportedError(f"{where}: weight of shape {w.shape} does not take the {self.n_out} values before it")
        if self.terms is None:
            self.terms = [(0, np.arange(w.shape[0]), w.copy())]
        else:
            self.terms = [(d, np.arange(w.shape[0]), w[:, rows] @ m) for d, rows, m in self.terms]
        if self.bias is not None:
            self.bias = w @ self.bias
        self.n_out = w.shape[0]

    def add_bias(self, bias: np.ndarray, where: str) -> None:
        b = np.asarray(bias, np.float64).reshape(-1)
        if b.shape != (self.n_out,):
            raise UnsupportedError(f"{where}: bias of shape {b.shape}, expected ({self.n_out},)")
        self.bias = b if self.bias is None else self.bias + b

    def scale(self, factor: np.ndarray, where: str) -> None:
        s = np.asarray(factor, np.float64).reshape(-1)
        if s.size not in (1, self.n_out):
            raise UnsupportedError(f"{where}: {s.size} scale factors for {self.n_out} channels")
        s = np.broadcast_to(s, (self.n_out,))
        self.terms = [(d, rows, m * s[rows, None]) for d, rows, m in self._identity()]
        if self.bias is not None:
            self.bias = s * self.bias

    def delay(self, steps: np.ndarray, where: str) -> None:
        if steps.shape != (self.n_out,):
            raise UnsupportedError(f"{where}: {steps.size} delays for {self.n_out} channels")
        if self.bias is not None and np.any(self.bias != 0):
            raise UnsupportedError(f"{where}: a bias before a Delay is not a constant bias (zero for the first tau); move it after the Delay")
        split = []
        for d, rows, m in self._identity():
            for e in np.unique(steps[rows]):
                sel = steps[rows] == e
                split.append((d + int(e), rows[sel], m[sel]))
        self.terms = split

    def dense(self) -> dict[int, np.ndarray]:
        """``{d: M_d [out, in]}``, duplicates summed, all-zero terms dropped."""
        out: dict[int, np.ndarray] = {}
        for d, rows, m in self._identity():
            acc = out.setdefault(d, np.zeros((self.n_out, self.n_in)))
            np.add.at(acc, rows, m)
        return {d: m for d, m in sorted(out.items()) if np.any(m != 0)}


@dataclass
class Segment:
    """One layer of a feed-forward chain: the synaptic nodes, then the neuron node."""

    ops: list[tuple[str, Any]]
    neuron_name: str
    neuron: Any

    @property
    def kind(self) -> str:
        return type(self.neuron).__name__

    @property
    def size(self) -> int:
        return int(np.asarray(self.neuron.output_type["output"]).reshape(-1)[0])


def chain(graph: Any) -> tuple[int, list[Segment]]:
    """Input size and layers of a single-path graph ``Input -> ... -> Output``; anything else
    (branches, merges, recurrence, subgraphs, unknown nodes) raises naming the node."""
    nir = nir_module()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(f"graph has {len(inputs)} Input and {len(outputs)} Output nodes; delaysnn reads one of each")
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    pred: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        pred[b].append(a)
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in NEURONS + SYNAPTIC + ("Input", "Output"):
            raise UnsupportedError(f"node {name!r} ({kind}): {_why_unsupported(kind)}")
    for name in graph.nodes:
        if len(succ[name]) > 1 or len(pred[name]) > 1:
            raise UnsupportedError(
                f"node {name!r}: {len(pred[name])} inputs and {len(succ[name])} outputs; delaysnn reads feed-forward chains only"
            )
    shape = np.asarray(graph.nodes[inputs[0]].input_type["input"]).reshape(-1)
    if shape.size != 1:
        raise UnsupportedError(f"node {inputs[0]!r}: input shape {shape.tolist()}; delaysnn reads 1-D (channel) inputs")
    path, name = [], inputs[0]
    while succ[name]:
        name = succ[name][0]
        if name in path:
            raise UnsupportedError(f"node {name!r}: recurrent connection; delaysnn reads feed-forward chains only")
        path.append(name)
    missing = sorted(set(graph.nodes) - set(path) - {inputs[0]})
    if missing or not path or path[-1] != outputs[0]:
        raise UnsupportedError(f"node {(missing or [name])[0]!r} is not on the path from {inputs[0]!r} to {outputs[0]!r}")
    segments, ops = [], []
    for name in path[:-1]:
        node = graph.nodes[name]
        if type(node).__name__ in NEURONS:
            segments.append(Segment(ops=ops, neuron_name=name, neuron=node))
            ops = []
        else:
            ops.append((name, node))
    if ops:
        raise UnsupportedError(f"node {ops[-1][0]!r}: the graph must end with a neuron node (LI readout) before its Output")
    if not segments:
        raise UnsupportedError("graph has no neuron node; delaysnn reads LIF/CubaLIF layers ending in an LI readout")
    return int(shape[0]), segments


def _why_unsupported(kind: str) -> str:
    if kind in ("Conv1d", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten"):
        return "convolutional/spatial nodes are not supported; delaysnn reads dense layers with delays"
    if kind == "NIRGraph":
        return "nested subgraphs (e.g. recurrent layers) are not supported"
    if kind in ("I", "IF", "Threshold"):
        return "only LIF/CubaLIF hidden neurons and an LI readout are supported"
    return f"node type not supported (supported: {', '.join(SYNAPTIC + NEURONS)})"


def compose(segment: Segment, n_in: int, dt: float) -> DelayedMap:
    """The delayed linear map of a segment's synaptic nodes."""
    m = DelayedMap(n_in)
    for name, node in segment.ops:
        kind = type(node).__name__
        where = f"node {name!r} ({kind})"
        if kind in ("Linear", "Affine"):
            m.matrix(node.weight, where)
            if kind == "Affine":
                m.add_bias(node.bias, where)
        elif kind == "Scale":
            m.scale(node.scale, where)
        else:
            m.delay(delay_steps(node.delay, dt, where), where)
    return m


def shift_delays(dense: dict[int, np.ndarray], latency: int, where: str) -> dict[int, np.ndarray]:
    """``{d - latency: M_d}``: the synaptic delays of a map whose Delay values include ``latency``."""
    if dense and min(dense) < latency:
        raise UnsupportedError(f"{where}: a delay of {min(dense)} steps is shorter than the layer's latency of {latency} (latency_steps)")
    return {d - latency: m for d, m in dense.items()}

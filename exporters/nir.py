"""NIR backend: per-synapse delays written with NIR 1.0's standard primitives only.

NIR 1.0 has an element-wise ``Delay`` (``y_c(t) = x_c(t - tau_c)``) and no per-synapse delay;
custom node types cannot be read back by ``nir.read``. So every layer is written, exactly, as::

    Linear(F) -> Delay(tau) -> Linear|Affine(W') -> LIF | CubaLIF | LI | CubaLI

``F`` ``[P, in]`` is the 0/1 fan-out from each input onto the ``P`` distinct (input, delay)
pairs its non-zero synapses use (sorted by input, then delay), ``tau`` ``[P]`` those delays in
seconds (steps x dt) and ``W'`` ``[out, P]`` the weights regrouped onto the pairs:
``W'[o, p] = w[o, i_p]`` if synapse ``(o, i_p)`` has delay ``d_p``, else 0. The composition
``W' . Delay . F`` is the layer's delayed dense map, term for term (:func:`decompose`). A layer
without any non-zero synapse keeps one all-zero pair so that no array is empty.

Conventions of the standard fields (what peers read)
---------------------------------------------------
* **Time**: Euler steps of ``dt`` seconds (graph metadata ``dt``); every ``tau`` is
  ``steps * dt``. ``r = tau / dt`` and ``w_in = tau_syn / dt``: the input is added to the state
  undecayed, ``v[t] = v[t-1] * (1 - dt/tau) + I[t] + v_leak * dt/tau``. This is snnTorch's
  convention (``export_nir``: ``r = tau_mem / dt``, ``w_in = tau_syn / dt``; ``import_nir``
  asserts it) and the one of our float model (``v = v - v/tau + x``) and of Lava's LIF; Norse
  (``r = 1``, input scaled by ``dt/tau``) differs. ``CubaLIF``: the current is updated first and
  the voltage uses the updated current (snnTorch ``Synaptic``, Lava CUBA). Reset: ``v`` to
  ``v_reset = 0`` (hard reset; the current is not reset). Spikes: NIR's ``v > v_threshold``.
* **Bias**: in the ``Affine`` bias when the neuron has no synaptic filter (``LIF``/``LI``:
  snnTorch rejects ``v_leak != 0``), in ``v_leak = bias * tau / dt`` for ``CubaLIF``/``CubaLI``
  (an ``Affine`` bias would pass through the current filter there).
* **Float model** (:func:`export_float`): BatchNorm (eval statistics) is folded: its gain into
  ``W'`` rows, its shift as the bias above. ``W'`` holds the weights the model really
  convolves with (DCLS normalises each one-hot tap by ``1 + 1e-7``). The model fires on
  ``v >= theta``; ``v_threshold`` is the float32 predecessor of ``theta``, so NIR's
  ``v > v_threshold`` fires on exactly the same float32 voltages. Latency 0 per layer; the
  model's output for a ``T``-step input is a streaming run on that input followed by
  ``input_padding_steps`` zero steps (metadata; ``(hidden layers + 1) * (max_delay - 1) // 2``),
  unless the model has ``truncate_layers`` (SNN-delays imports), whose layers are cut early.
* **Integer network** (:func:`export_ir`): values in units of Lava's ``v`` register:
  ``W' = weight << (weight_exp + 6)``, ``v_threshold = vth << 6``, bias
  ``bias_mant << bias_exp``; ``tau_mem = dt * 4096 / dv`` (``dv = 0``, no leak, is written as
  ``2**24`` steps: Lava's ``v`` has 24 bits, so that leak is below its resolution),
  ``tau_syn = dt * 4096 / (du + 1)`` (``du = 4095``, a current cleared every step: plain
  ``LIF``/``LI``). Spikes are Lava's strict ``v > vth << 6``. Each layer adds one step of
  latency (metadata ``latency_steps``; ``Delay`` holds the synaptic delays only). Float peers
  approximate Lava's truncating fixed-point arithmetic; the metadata is bit exact.

Metadata (ours; a peer never needs it): graph ``format``/``version``/``network``
(``integer``|``float``), ``dt``, ``spike_condition``, ``reset``, ``latency_steps``; for the
integer network every integer-exact parameter on the neuron nodes (``du``, ``dv``, ``vth``,
``bias_mant``, ``bias_exp``, ``weight_bits``, ``weight_exp``, ``binary``, and the delays of
zero-weight synapses, which ``W'`` cannot carry), so ``read_ir`` is lossless; for the float
model its config and exact parameters (``kernel_weight``/``kernel_delay`` of every DCLS synapse,
BatchNorm buffers), so ``read_float`` rebuilds a model with bit-identical outputs.

Reading foreign graphs (:func:`read_float`): feed-forward chains of ``Linear``/``Affine``/
``Scale``/``Delay`` nodes between ``LIF``|``CubaLIF`` hidden neurons and an ``LI`` readout are
composed into per-synapse weights and delays (axonal, dendritic and our per-synapse form alike);
anything else raises :class:`UnsupportedError` naming the node.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from delaysnn.errors import DelaysnnError, IRValidationError, MissingDependencyError, UnsupportedError
from delaysnn.ir import DECAY_MAX, DelayLayer, DelayNetwork, NeuronParams, check_network
from delaysnn.sim import (
    ACTIVATION_SHIFT,
    CURRENT_DECAY_OFFSET,
    DECAY_UNITY,
    LAYER_LATENCY,
    effective_bias,
    effective_threshold,
    effective_weight,
)

if TYPE_CHECKING:  # optional and heavy: imported inside the functions that need them
    import torch

    from delaysnn.model import DelaySNN
    from delaysnn.sim import SimResult

FORMAT = "delaysnn-nir"
VERSION = 1
NO_LEAK_TAU_STEPS = 2.0**24  # dv = 0: a leak below the 24-bit v register's resolution
GZIP_LEVEL = 6  # measured on the SHD-shaped network: shuffle makes W' larger, level 9 is 4x slower
HDF5_LIBVER = "v110"  # oldest HDF5 format version our files need
_COMPRESS_MIN = 256  # smaller arrays are stored plainly (chunk overhead exceeds the gain)
_DELAY_TOLERANCE = 1e-4  # |tau/dt - round(tau/dt)| allowed, in steps
_NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI")
_SYNAPTIC = ("Linear", "Affine", "Scale", "Delay")
CONVENTIONS = (
    "Euler steps of dt; r = tau/dt and w_in = tau_syn/dt (input added undecayed, snnTorch convention); "
    "CubaLIF updates the current first; hard reset of v to v_reset; per-synapse delays as "
    "Linear(fan-out) -> Delay -> Linear/Affine(regrouped weights); see delaysnn exporters/nir.py"
)


# --- dependencies ---------------------------------------------------------------------------


def _nir() -> Any:
    try:
        import nir
    except ImportError as err:
        raise MissingDependencyError("the NIR backend needs the 'nir' package: pip install 'delaysnn[nir]'") from err
    return nir


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:
        raise MissingDependencyError("writing NIR files needs 'h5py': pip install h5py") from err
    return h5py


# --- the exact decomposition (numpy only) ----------------------------------------------------


@dataclass(frozen=True)
class DelayedLinear:
    """One layer's synapses as ``W' . Delay(steps) . F`` (see the module docstring)."""

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


class _DelayedMap:
    """``sum_d M_d z^-d (+ bias)`` built node by node: the composition of a chain of linear and
    delay nodes. Terms are ``(d, rows, M)``: rows ``rows`` of ``M_d`` (the others zero), so a
    fan-out split by a Delay never materialises ``P x in`` matrices per delay."""

    def __init__(self, n_in: int):
        self.n_in = n_in
        self.n_out = n_in
        self.terms: list[tuple[int, np.ndarray, np.ndarray]] | None = None  # None: identity
        self.bias: np.ndarray | None = None

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
        terms = self.terms if self.terms is not None else [(0, np.arange(self.n_in), np.eye(self.n_in))]
        self.terms = [(d, rows, m * s[rows, None]) for d, rows, m in terms]
        if self.bias is not None:
            self.bias = s * self.bias

    def delay(self, steps: np.ndarray, where: str) -> None:
        if steps.shape != (self.n_out,):
            raise UnsupportedError(f"{where}: {steps.size} delays for {self.n_out} channels")
        if self.bias is not None and np.any(self.bias != 0):
            raise UnsupportedError(f"{where}: a bias before a Delay is not a constant bias (zero for the first tau); move it after the Delay")
        terms = self.terms if self.terms is not None else [(0, np.arange(self.n_in), np.eye(self.n_in))]
        split = []
        for d, rows, m in terms:
            for e in np.unique(steps[rows]):
                sel = steps[rows] == e
                split.append((d + int(e), rows[sel], m[sel]))
        self.terms = split

    def dense(self) -> dict[int, np.ndarray]:
        """``{d: M_d [out, in]}``, duplicates summed, all-zero terms dropped."""
        out: dict[int, np.ndarray] = {}
        terms = self.terms if self.terms is not None else [(0, np.arange(self.n_in), np.eye(self.n_in))]
        for d, rows, m in terms:
            acc = out.setdefault(d, np.zeros((self.n_out, self.n_in)))
            np.add.at(acc, rows, m)
        return {d: m for d, m in sorted(out.items()) if np.any(m != 0)}


# --- graph structure --------------------------------------------------------------------------


@dataclass
class _Segment:
    """One layer of a feed-forward chain: the synaptic nodes, then the neuron node."""

    ops: list[tuple[str, Any]]
    neuron_name: str
    neuron: Any

    @property
    def kind(self) -> str:
        return type(self.neuron).__name__


def _chain(graph: Any) -> tuple[int, list[_Segment]]:
    """Input size and layers of a single-path graph ``Input -> ... -> Output``; anything else
    (branches, merges, recurrence, subgraphs, unknown nodes) raises naming the node."""
    nir = _nir()
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
        if kind not in _NEURONS + _SYNAPTIC + ("Input", "Output"):
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
        kind = type(node).__name__
        if kind in _NEURONS:
            segments.append(_Segment(ops=ops, neuron_name=name, neuron=node))
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
    return f"node type not supported (supported: {', '.join(_SYNAPTIC + _NEURONS)})"


def _delay_steps(node: Any, dt: float, where: str) -> np.ndarray:
    """Integer steps of a Delay node's ``tau`` (seconds); a non-integer multiple of dt raises."""
    tau = np.asarray(node.delay, np.float64).reshape(-1)
    steps = np.rint(tau / dt)
    if tau.size and (np.any(steps < 0) or np.abs(tau / dt - steps).max() > _DELAY_TOLERANCE):
        bad = tau[np.abs(tau / dt - steps).argmax()]
        raise UnsupportedError(f"{where}: delay {bad:g} s is not a non-negative whole number of steps of dt={dt:g} s")
    return steps.astype(np.int64)


def _compose(segment: _Segment, n_in: int, dt: float) -> _DelayedMap:
    """The delayed linear map of a segment's synaptic nodes."""
    m = _DelayedMap(n_in)
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
            m.delay(_delay_steps(node, dt, where), where)
    return m


# --- reading and writing files --------------------------------------------------------------


GraphSource = Any  # nir.NIRGraph | bytes | str | os.PathLike


def to_bytes(graph: Any) -> bytes:
    """Serialise ``graph`` as NIR HDF5 (``nir.write``'s layout): gzip on arrays, and every array
    in the most compact dtype that holds its values exactly (float64 -> float32, int64 -> int8..).

    The file format is HDF5 1.10's (compact groups: 17-25% smaller than ``nir.write``'s 1.8
    layout, which spends kilobytes per metadata group); any HDF5 >= 1.10 (2016) reads it."""
    nir, h5py = _nir(), _h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=HDF5_LIBVER) as f:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        _write_group(f.create_group("node"), graph.to_dict(), h5py)
    return buf.getvalue()


def _write_group(group: Any, node: dict[str, Any], h5py: Any) -> None:
    for key, value in node.items():
        if key == "metadata" and not value:
            continue
        if isinstance(value, dict):
            _write_group(group.create_group(str(key)), value, h5py)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, np.ndarray):
            value = _compact(value)
            options = {"compression": "gzip", "compression_opts": GZIP_LEVEL} if value.size >= _COMPRESS_MIN else {}
            group.create_dataset(key, data=value, **options)
        else:
            group.create_dataset(key, data=value)


def _compact(a: np.ndarray) -> np.ndarray:
    """``a`` in a narrower dtype when that keeps every value exactly (lossless)."""
    if a.dtype == np.float64:
        narrow = a.astype(np.float32)
        return narrow if np.array_equal(narrow, a, equal_nan=True) else a
    if np.issubdtype(a.dtype, np.signedinteger):
        return _compact_int(a)
    return a


def save(graph: Any, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` atomically (gzip, compact dtypes: float32 matrices)."""
    from delaysnn.fileio import write_bytes_atomic

    return write_bytes_atomic(path, to_bytes(graph))


def export(model: DelayNetwork | DelaySNN, path: str | os.PathLike) -> Path:
    """``exporters.nir.export(net, path)``: an integer network or a float model to a ``.nir`` file."""
    from delaysnn.model import DelaySNN

    if isinstance(model, DelayNetwork):
        graph = export_ir(model)
    elif isinstance(model, DelaySNN):
        graph = export_float(model)
    else:
        raise UnsupportedError(f"cannot export a {type(model).__name__} to NIR; expected a DelayNetwork or a DelaySNN")
    return save(graph, path)


def load_graph(source: GraphSource) -> Any:
    """A ``nir.NIRGraph`` from a graph, bytes or a file (``nir.read``, with type checking)."""
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        return source
    if isinstance(source, bytes | bytearray):
        handle, where = io.BytesIO(bytes(source)), "<bytes>"
    else:
        from delaysnn.fileio import check_hdf5, check_input_path

        handle = check_input_path(source, "NIR file")
        where = str(handle)
        check_hdf5(handle, "NIR file")
    try:
        return nir.read(handle)
    except Exception as err:  # nir.read trusts the file: a damaged or edited one fails anywhere inside it
        raise DelaysnnError(f"{where}: not a readable NIR file ({type(err).__name__}: {_short(err)}); expected a .nir written by nir.write") from err


def _short(err: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# What a damaged or hand-edited file raises from numpy and the standard fields' accessors.
_BAD_FIELD = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)


def _ours(meta: dict[str, Any]) -> bool:
    """Whether graph metadata says delaysnn wrote it (``format``; an edited value of any type is not ours)."""
    value = meta.get("format")
    return isinstance(value, str) and value == FORMAT


def _meta(graph: Any, network: str | None) -> dict[str, Any]:
    """Our graph metadata, checked: format, version, and (if given) the kind of network."""
    meta = dict(graph.metadata) if isinstance(graph.metadata, dict) else {}
    if not _ours(meta):
        return {}
    try:
        version = int(meta.get("version", -1))
    except (TypeError, ValueError):
        version = None
    if version != VERSION:
        raise UnsupportedError(f"NIR file written by delaysnn NIR format version {meta.get('version')!r}; this delaysnn reads {VERSION}")
    if network is not None and str(meta.get("network")) != network:
        hint = "read_float (then quantize)" if str(meta.get("network")) == "float" else "read_ir"
        raise UnsupportedError(f"NIR file holds a {meta.get('network')} network, not an {network} one; read it with exporters.nir.{hint}")
    return meta


# --- integer network -> NIR -------------------------------------------------------------------


def _tau_steps(dv: int) -> float:
    return NO_LEAK_TAU_STEPS if dv == 0 else DECAY_UNITY / dv


def _ir_neuron(layer: DelayLayer, dt: float) -> tuple[Any, np.ndarray | None]:
    """The neuron node of an IR layer and the bias its Affine carries (None: bias in v_leak)."""
    nir = _nir()
    n = layer.neuron
    size = layer.shape[0]
    bias = effective_bias(n.bias_mant, n.bias_exp).astype(np.float64)
    tau = np.full(size, _tau_steps(n.dv))
    filtered = n.du != DECAY_MAX
    mem = {"r": tau.copy(), "v_leak": bias * tau if filtered else np.zeros(size)}
    if filtered:
        syn = np.full(size, DECAY_UNITY / (n.du + CURRENT_DECAY_OFFSET))
        mem.update(tau_syn=syn * dt, w_in=syn, tau_mem=tau * dt)
    else:
        mem.update(tau=tau * dt)
    if n.spiking:
        mem.update(v_threshold=np.full(size, float(effective_threshold(n.vth))), v_reset=np.zeros(size))
        node = nir.CubaLIF(**mem) if filtered else nir.LIF(**mem)
    else:
        node = nir.CubaLI(**mem) if filtered else nir.LI(**mem)
    node.metadata = _ir_layer_meta(layer)
    return node, None if filtered else bias


def _ir_layer_meta(layer: DelayLayer) -> dict[str, Any]:
    n = layer.neuron
    zero = np.argwhere((layer.weight == 0) & (layer.delay != 0))
    zero = np.column_stack([zero, layer.delay[zero[:, 0], zero[:, 1]]]) if zero.size else np.zeros((0, 3))
    return {
        "du": int(n.du),
        "dv": int(n.dv),
        "vth": -1 if n.vth is None else int(n.vth),
        "bias_mant": _compact_int(n.bias_mant),
        "bias_exp": int(n.bias_exp),
        "weight_bits": int(layer.weight_bits),
        "weight_exp": int(layer.weight_exp),
        "binary": int(bool(layer.binary)),
        "zero_weight_delays": _compact_int(zero),
    }


def _compact_int(a: np.ndarray) -> np.ndarray:
    """The smallest signed integer dtype that holds ``a`` (int8 for empty arrays)."""
    a = np.asarray(a)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return a.astype(dtype)
    return a.astype(np.int64)


def _layer_nodes(
    index: int, dec: DelayedLinear, dt: float, neuron: Any, bias: np.ndarray | None
) -> list[tuple[str, Any]]:
    """``Linear(F) -> Delay -> Linear|Affine(W') -> neuron``, named ``layer<i>_*``."""
    nir = _nir()
    p = f"layer{index}_"
    tau = (dec.steps * dt).astype(np.float32)
    if bias is not None and np.any(bias != 0):
        synapse = nir.Affine(weight=dec.weight, bias=bias.astype(np.float32))
    else:
        synapse = nir.Linear(weight=dec.weight)
    return [(p + "fanout", nir.Linear(weight=dec.fanout)), (p + "delay", nir.Delay(delay=tau)), (p + "weight", synapse), (p + "neuron", neuron)]


def _graph(n_in: int, layers: list[list[tuple[str, Any]]], metadata: dict[str, Any]) -> Any:
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([n_in]))}
    for layer in layers:
        nodes.update(layer)
    n_out = int(np.asarray(layers[-1][-1][1].output_type["output"]).reshape(-1)[0])
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    names = list(nodes)
    edges = list(zip(names[:-1], names[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def export_ir(net: DelayNetwork, dt: float | None = None) -> Any:
    """The integer network as a ``nir.NIRGraph`` (``dt`` seconds per step; default the IR's bin)."""
    net.check()
    dt = net.time_step_ms / 1000.0 if dt is None else float(dt)
    if not dt > 0:
        raise UnsupportedError(f"dt={dt} s: the time step must be positive")
    layers = []
    for index, layer in enumerate(net.layers):
        w_eff = effective_weight(layer.weight, layer.weight_exp) << ACTIVATION_SHIFT
        post, pre = np.nonzero(w_eff)
        dec = decompose(layer.shape, post, pre, layer.delay[post, pre], w_eff[post, pre])
        neuron, bias = _ir_neuron(layer, dt)
        layers.append(_layer_nodes(index, dec, dt, neuron, bias))
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "network": "integer",
        "dt": dt,
        "time_step_ms": float(net.time_step_ms),
        "input_bits": int(net.input_bits),
        "spike_condition": ">",
        "reset": "zero (v only; the current keeps its value)",
        "latency_steps": np.full(len(net.layers), LAYER_LATENCY, np.int8),
        "units": "Lava v register: W' = weight << (weight_exp + 6), v_threshold = vth << 6, bias = bias_mant << bias_exp",
        "conventions": CONVENTIONS,
        "provenance": json.dumps(net.provenance, sort_keys=True),
    }
    return _graph(net.input_size, layers, metadata)


# --- NIR -> integer network -------------------------------------------------------------------


def read_ir(source: GraphSource) -> DelayNetwork:
    """The integer network of a ``.nir`` file (or bytes, or graph) written by :func:`export_ir`.

    Weights and delays come from the standard fields (``F``, ``tau``, ``W'``); the neuron
    registers from the metadata, which must agree with the standard fields."""
    graph = load_graph(source)
    try:
        return _read_ir(graph)
    except _BAD_FIELD as err:
        raise UnsupportedError(
            f"{_where(source)}: delaysnn metadata or a standard field is malformed ({type(err).__name__}: {_short(err)}); "
            "the file was edited or damaged after export: re-export it"
        ) from err


def _where(source: GraphSource) -> str:
    return str(source) if isinstance(source, str | os.PathLike) else "NIR graph"


def _read_ir(graph: Any) -> DelayNetwork:
    meta = _meta(graph, "integer")
    if not meta:
        raise UnsupportedError("NIR file has no delaysnn metadata (format 'delaysnn-nir'): only integer networks written by delaysnn are read exactly; read foreign graphs with exporters.nir.read_float")
    dt = graph_dt(graph)
    n_in, segments = _chain(graph)
    layers, fan_in = [], n_in
    for index, seg in enumerate(segments):
        layers.append(_ir_layer(index, seg, fan_in, dt))
        fan_in = layers[-1].shape[0]
    net = DelayNetwork(
        input_size=n_in,
        layers=layers,
        input_bits=int(meta["input_bits"]),
        time_step_ms=float(meta["time_step_ms"]),
        provenance=json.loads(meta.get("provenance", "{}")),
    )
    problems = check_network(net)
    if problems:
        raise IRValidationError("NIR file: " + "; ".join(problems))
    return net


def _ir_layer(index: int, seg: _Segment, n_in: int, dt: float) -> DelayLayer:
    where = f"layer {index} (node {seg.neuron_name!r})"
    meta = dict(seg.neuron.metadata or {})
    required = ("du", "dv", "vth", "bias_mant", "bias_exp", "weight_bits", "weight_exp", "binary", "zero_weight_delays")
    missing = [k for k in required if k not in meta]
    if missing:
        raise UnsupportedError(f"{where}: metadata lacks {missing}; the file was not written by delaysnn's export_ir")
    composed = _compose(seg, n_in, dt)  # an Affine bias is checked in _check_neuron_fields
    weight, delay = _one_delay_per_synapse(composed.dense(), (composed.n_out, n_in), where)
    shift = int(meta["weight_exp"]) + ACTIVATION_SHIFT
    mant = weight / 2.0**shift
    if not np.array_equal(mant, np.rint(mant)):
        raise UnsupportedError(f"{where}: weights are not multiples of 2**{shift} (weight_exp + 6) as the metadata says")
    zero = np.asarray(meta["zero_weight_delays"]).reshape(-1, 3).astype(np.int64)
    if zero.size and (zero.min() < 0 or zero[:, 0].max() >= weight.shape[0] or zero[:, 1].max() >= weight.shape[1]):
        raise UnsupportedError(f"{where}: metadata 'zero_weight_delays' indexes synapses outside the {weight.shape} layer")
    delay[zero[:, 0], zero[:, 1]] = zero[:, 2]
    vth = int(meta["vth"])
    neuron = NeuronParams(
        du=int(meta["du"]),
        dv=int(meta["dv"]),
        vth=None if vth < 0 else vth,
        bias_mant=np.asarray(meta["bias_mant"]).astype(np.int32).reshape(-1),
        bias_exp=int(meta["bias_exp"]),
    )
    layer = DelayLayer(
        weight=np.rint(mant).astype(np.int32),
        delay=delay.astype(np.int32),
        neuron=neuron,
        weight_bits=int(meta["weight_bits"]),
        weight_exp=int(meta["weight_exp"]),
        binary=bool(meta["binary"]),
    )
    _check_neuron_fields(seg, layer, dt, where)
    return layer


def _one_delay_per_synapse(dense: dict[int, np.ndarray], shape: tuple[int, int], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Weight and delay ``[out, in]`` from ``{d: M_d}``; a synapse with weights at two delays raises."""
    if not dense:  # no non-zero synapse
        return np.zeros(shape), np.zeros(shape, np.int64)
    stack = np.stack(list(dense.values()))
    taps = (stack != 0).sum(0)
    if taps.max(initial=0) > 1:
        o, i = np.argwhere(taps > 1)[0]
        ds = [d for d, m in dense.items() if m[o, i] != 0]
        raise UnsupportedError(f"{where}: synapse ({o}, {i}) has weights at delays {ds}; the IR holds one delay per synapse")
    delays = np.array(list(dense), np.int64).reshape(-1, 1, 1)
    return stack.sum(0), ((stack != 0) * delays).sum(0)


def _check_neuron_fields(seg: _Segment, layer: DelayLayer, dt: float, where: str) -> None:
    """The standard neuron fields (and Affine bias) must be those the metadata implies."""
    expect, bias = _ir_neuron(layer, dt)
    if type(expect).__name__ != seg.kind:
        raise UnsupportedError(f"{where}: neuron is {seg.kind} but its metadata (du={layer.neuron.du}) implies {type(expect).__name__}")
    for field in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "w_in"):
        if hasattr(expect, field) and not np.allclose(getattr(seg.neuron, field), getattr(expect, field), rtol=1e-6, atol=0):
            raise UnsupportedError(f"{where}: field {field!r} disagrees with the delaysnn metadata (edited by another tool?); re-export the network")
    last = seg.ops[-1][1] if seg.ops else None
    got = np.asarray(last.bias, np.float64) if type(last).__name__ == "Affine" else np.zeros(layer.shape[0])
    if not np.array_equal(got, bias if bias is not None else np.zeros(layer.shape[0])):
        raise UnsupportedError(f"{where}: Affine bias disagrees with the metadata's bias_mant << bias_exp")


# --- float model -> NIR -------------------------------------------------------------------------


def _eval_weights(model: DelaySNN, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The DCLS weights ``[out, in, kc]`` and dense kernel ``[out, in, K]`` synapse ``index``
    uses in eval mode, computed by the model's own code (QAT grid and its BN row gain included)."""
    import torch

    syn = model.synapses[index]
    hidden = model.hidden[index] if index < len(model.hidden) else None
    was = syn.training
    syn.train(False)
    try:
        with torch.no_grad():
            gain = hidden.qat_row_gain() if hidden is not None else None
            return syn.effective_weight(gain).detach().clone(), syn.kernel(gain).detach().clone()
    finally:
        syn.train(was)


def _float_prev(x: float) -> np.ndarray:
    """Largest float32 below ``x``: NIR's ``v > that`` is the model's ``v >= x`` on float32 ``v``."""
    return np.nextafter(np.float32(x), np.float32(-np.inf))


def _float_neuron(model: DelaySNN, index: int, shift: np.ndarray, bn: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    nir = _nir()
    cfg = model.cfg
    readout = index == len(model.hidden)
    size = model.synapses[index].out_features
    tau_steps = cfg.readout_tau if readout else cfg.tau
    tau = np.full(size, float(tau_steps))
    dt = cfg.time_step_ms / 1000.0
    if readout:
        return nir.LI(tau=tau * dt, r=tau.copy(), v_leak=np.zeros(size)), None
    common = {"r": tau.copy(), "v_threshold": np.full(size, _float_prev(cfg.threshold)), "v_reset": np.zeros(size)}
    if cfg.synaptic_tau is None:
        node, bias = nir.LIF(tau=tau * dt, v_leak=np.zeros(size), **common), shift
    else:
        syn = np.full(size, float(cfg.synaptic_tau))
        node = nir.CubaLIF(tau_syn=syn * dt, w_in=syn, tau_mem=tau * dt, v_leak=shift * tau, **common)
        bias = None
    node.metadata = bn
    return node, bias


def _bn_meta(layer: Any) -> dict[str, Any]:
    bn = layer.bn
    if bn is None:
        return {}
    return {
        "bn_weight": bn.weight.detach().cpu().numpy().astype(np.float32),
        "bn_bias": bn.bias.detach().cpu().numpy().astype(np.float32),
        "bn_mean": bn.running_mean.detach().cpu().numpy().astype(np.float32),
        "bn_var": bn.running_var.detach().cpu().numpy().astype(np.float32),
        "bn_eps": float(bn.eps),
    }


def export_float(model: DelaySNN) -> Any:
    """The float model (its eval-mode semantics: BN running statistics, hard delays) as NIR."""
    from delaysnn.quantize import bn_fold

    cfg = model.cfg
    if cfg.truncate_layers:
        warnings.warn(
            "this model cuts each layer's output early (truncate_layers, as SNN-delays); a NIR graph runs every "
            "layer for the whole window, so peers' outputs differ from the model's after the cut",
            stacklevel=2,
        )
    dt = cfg.time_step_ms / 1000.0
    layers = []
    for index, syn in enumerate(model.synapses):
        hidden = model.hidden[index] if index < len(model.hidden) else None
        raw, kernel_t = _eval_weights(model, index)
        kernel = kernel_t.cpu().numpy()
        if not np.isfinite(kernel).all():
            raise UnsupportedError(f"layer {index}: non-finite weights; the model cannot be exported")
        if hidden is not None:
            gain, shift = (t.numpy() for t in bn_fold(hidden, f"layer {index}"))
        else:
            gain, shift = np.ones(syn.out_features), np.zeros(syn.out_features)
        post, pre, tap = np.nonzero(kernel)
        value = kernel[post, pre, tap].astype(np.float64) * gain[post]
        dec = decompose((syn.out_features, syn.in_features), post, pre, syn.max_delay - 1 - tap, value)
        neuron, bias = _float_neuron(model, index, shift, _bn_meta(hidden) if hidden is not None else {})
        nodes = _layer_nodes(index, dec, dt, neuron, bias)
        nodes[2][1].metadata = {
            "kernel_weight": raw.cpu().numpy().astype(np.float32),
            "kernel_delay": _compact_int(syn.delays().cpu().numpy()),
        }
        layers.append(nodes)
    n_layers = len(model.synapses)
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "network": "float",
        "dt": dt,
        "spike_condition": ">=",
        "threshold_encoding": "v_threshold is the float32 predecessor of the model threshold: NIR's v > v_threshold is the model's v >= threshold",
        "reset": "zero",
        "latency_steps": np.zeros(n_layers, np.int8),
        "input_padding_steps": int(cfg.output_steps(0)),
        "truncate_layers": int(cfg.truncate_layers),
        "conventions": CONVENTIONS,
        "model_config": json.dumps(cfg.to_dict(), sort_keys=True),
    }
    return _graph(cfg.input_size, layers, metadata)


# --- NIR -> float model -------------------------------------------------------------------------


def read_float(source: GraphSource, dt: float | None = None) -> DelaySNN:
    """A float ``DelaySNN`` (eval mode) from a NIR graph.

    Our float exports are rebuilt exactly from their metadata (bit-identical outputs). Other
    graphs (or ours without metadata) are composed from their standard fields, stepped every
    ``dt`` seconds: the argument, else the graph metadata's ``dt``."""
    graph = load_graph(source)
    try:
        meta = _meta(graph, "float")
        if meta and "model_config" in meta:
            return _float_exact(graph, meta)
        return _float_foreign(graph, graph_dt(graph, dt))
    except _BAD_FIELD as err:
        raise UnsupportedError(
            f"{_where(source)}: a metadata or standard field is malformed ({type(err).__name__}: {_short(err)}); "
            "re-export the graph"
        ) from err


def graph_dt(graph: Any, dt: float | None = None) -> float:
    """Seconds per step: ``dt`` if given, else the graph metadata's ``dt`` (delaysnn writes it)."""
    if dt is None:
        if "dt" not in (graph.metadata or {}):
            raise UnsupportedError("NIR graph has no 'dt' in its metadata; pass dt= (seconds per time step) to read it")
        dt = graph.metadata["dt"]
    try:
        value = float(dt)
    except (TypeError, ValueError) as err:
        raise UnsupportedError(f"NIR graph metadata 'dt' is {dt!r}, not a number of seconds; pass dt= or fix the metadata") from err
    if not value > 0 or not np.isfinite(value):
        raise UnsupportedError(f"dt={dt}: the time step must be a positive number of seconds")
    return value


def _float_exact(graph: Any, meta: dict[str, Any]) -> DelaySNN:
    import torch

    from delaysnn.model import DelaySNN, ModelConfig

    cfg = ModelConfig.from_dict(json.loads(meta["model_config"]), source="NIR metadata 'model_config'")
    model = DelaySNN(cfg)
    _, segments = _chain(graph)
    if len(segments) != len(model.synapses):
        raise UnsupportedError(f"NIR graph has {len(segments)} layers, its metadata config {len(model.synapses)}")
    with torch.no_grad():
        for index, (seg, syn) in enumerate(zip(segments, model.synapses)):
            where = f"layer {index}"
            weight_meta = dict(seg.ops[-1][1].metadata or {}) if seg.ops else {}
            try:
                weight = torch.from_numpy(np.asarray(weight_meta["kernel_weight"], np.float32))
                delay = torch.from_numpy(np.asarray(weight_meta["kernel_delay"], np.int64))
            except KeyError as err:
                raise UnsupportedError(f"{where}: metadata lacks {err}; the file was not written by delaysnn's export_float") from err
            _set_synapse(syn, weight, delay, where)
            if index < len(model.hidden) and model.hidden[index].bn is not None:
                _set_bn(model.hidden[index].bn, dict(seg.neuron.metadata or {}), where)
    model.set_learn_positions(False)
    model.eval()
    return model


def _set_synapse(syn: Any, weight: torch.Tensor, delay: torch.Tensor, where: str) -> None:
    from delaysnn.dcls import delays_to_positions

    if tuple(weight.shape) != tuple(syn.weight.shape) or tuple(delay.shape) != tuple(syn.weight.shape):
        raise UnsupportedError(f"{where}: weights {tuple(weight.shape)} / delays {tuple(delay.shape)} do not fit {tuple(syn.weight.shape)}")
    if delay.numel() and (int(delay.min()) < 0 or int(delay.max()) > syn.max_delay - 1):
        raise UnsupportedError(f"{where}: delays outside 0..{syn.max_delay - 1}")
    syn.weight.copy_(weight)
    syn.pos.copy_(delays_to_positions(delay, syn.max_delay).unsqueeze(0))
    syn.sig.zero_()


def _set_bn(bn: Any, meta: dict[str, Any], where: str) -> None:
    import torch

    try:
        for attr, key in (("weight", "bn_weight"), ("bias", "bn_bias"), ("running_mean", "bn_mean"), ("running_var", "bn_var")):
            getattr(bn, attr).copy_(torch.from_numpy(np.asarray(meta[key], np.float32)))
        bn.eps = float(meta["bn_eps"])
    except KeyError as err:
        raise UnsupportedError(f"{where}: metadata lacks BatchNorm buffer {err}") from err


@dataclass
class _FloatLayer:
    """One foreign layer in the float model's terms (before threshold normalisation)."""

    dense: dict[int, np.ndarray]  # delay -> weights [out, in], input gain folded
    bias: np.ndarray  # [out], added to v every step (after the synaptic filter)
    tau: float  # membrane time constant, steps
    syn_tau: float | None
    threshold: np.ndarray | None  # [out]; None: readout


def _uniform(values: np.ndarray, what: str, where: str) -> float:
    """The one value of a per-neuron parameter, to 12 significant digits (``tau/dt`` of a
    float32 ``tau`` is 2.0000000000000004, not 2)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size and not np.allclose(v, v[0], rtol=1e-6, atol=0):
        raise UnsupportedError(f"{where}: {what} differs between neurons ({v.min():g}..{v.max():g}); the float model has one per layer")
    return float(f"{v[0]:.12g}")


def _gain(scale: np.ndarray, dt: float, tau: np.ndarray) -> np.ndarray:
    """Input gain ``scale * dt / tau`` of a NIR neuron (``r`` or ``w_in``); within float32
    rounding of 1 (the ``r = tau/dt`` convention) it is exactly 1."""
    gain = (np.asarray(scale, np.float64) * dt) / tau
    return np.where(np.abs(gain - 1.0) <= 1e-6, 1.0, gain)


def _foreign_layer(seg: _Segment, n_in: int, dt: float, readout: bool, where: str) -> _FloatLayer:
    kind, node = seg.kind, seg.neuron
    if readout and kind != "LI":
        raise UnsupportedError(f"{where}: the last neuron is {kind}; the float model's readout is a non-spiking LI")
    if not readout and kind not in ("LIF", "CubaLIF"):
        raise UnsupportedError(f"{where}: hidden neuron {kind}; hidden layers must be LIF or CubaLIF")
    m = _compose(seg, n_in, dt)
    tau_mem = np.asarray(node.tau_mem if kind == "CubaLIF" else node.tau, np.float64)
    tau = _uniform(tau_mem / dt, "tau", where)
    gain = _gain(node.r, dt, tau_mem)
    bias = np.asarray(node.v_leak, np.float64) * dt / tau_mem
    syn_tau = None
    if kind == "CubaLIF":
        tau_syn = np.asarray(node.tau_syn, np.float64)
        syn_tau = _uniform(tau_syn / dt, "tau_syn", where)
        gain = gain * _gain(node.w_in, dt, tau_syn)
        if m.bias is not None and np.any(m.bias != 0):
            raise UnsupportedError(f"{where}: an Affine bias into a CubaLIF passes its current filter; the float model adds biases after it (use v_leak)")
    elif m.bias is not None:
        bias = bias + gain * m.bias
    if readout and np.any(bias != 0):
        raise UnsupportedError(f"{where}: the readout has a bias (Affine bias or v_leak); the float model's readout has none")
    threshold = None
    if not readout:
        if np.any(np.asarray(node.v_reset) != 0):
            raise UnsupportedError(f"{where}: v_reset != 0; the float model resets to 0")
        threshold = np.asarray(node.v_threshold).reshape(-1)
        if np.any(threshold <= 0):
            raise UnsupportedError(f"{where}: non-positive v_threshold; the float model needs a positive threshold")
    dense = {d: w * gain[:, None] for d, w in m.dense().items()}
    return _FloatLayer(dense=dense, bias=bias, tau=tau, syn_tau=syn_tau, threshold=threshold)


def _float_foreign(graph: Any, dt: float) -> DelaySNN:
    n_in, segments = _chain(graph)
    layers, fan_in = [], n_in
    for index, seg in enumerate(segments):
        where = f"node {seg.neuron_name!r} ({seg.kind})"
        layers.append(_foreign_layer(seg, fan_in, dt, index == len(segments) - 1, where))
        fan_in = int(np.asarray(seg.neuron.output_type["output"]).reshape(-1)[0])
    hidden = layers[:-1]
    threshold = _normalise_thresholds(hidden)
    return _build_model(n_in, layers, segments, threshold, dt)


def _normalise_thresholds(hidden: list[_FloatLayer]) -> float:
    """One threshold for the whole model: the common one, or 1 after scaling each neuron by
    ``1 / theta_o`` (with reset to 0, dividing a neuron's weights and bias by its threshold
    leaves its spikes unchanged). Returned as the model's ``>=`` threshold (float32 successor)."""
    values = np.concatenate([lay.threshold for lay in hidden]) if hidden else np.ones(1)
    if np.all(values == values[0]):
        ref = float(values[0])
    else:
        ref = 1.0
        for lay in hidden:
            lay.dense = {d: w / lay.threshold[:, None] for d, w in lay.dense.items()}
            lay.bias = lay.bias / lay.threshold
    return float(np.nextafter(np.float32(ref), np.float32(np.inf)))


def _build_model(n_in: int, layers: list[_FloatLayer], segments: list[_Segment], threshold: float, dt: float) -> DelaySNN:
    import torch

    from delaysnn.model import DelaySNN, ModelConfig

    hidden = layers[:-1]
    sizes = {lay.bias.size for lay in hidden}
    if len(sizes) > 1:
        raise UnsupportedError(f"node {segments[1].neuron_name!r}: hidden layers of sizes {sorted(sizes)}; the float model's hidden layers share one size")
    for what in ("tau", "syn_tau"):
        values = {getattr(lay, what) for lay in hidden}
        if len(values) > 1:
            raise UnsupportedError(f"hidden layers have different {what} ({sorted(map(str, values))} steps); the float model has one")
    max_d = max((max(lay.dense, default=0) for lay in layers), default=0)
    taps = max(_max_taps(lay.dense) for lay in layers)
    biased = any(np.any(lay.bias != 0) for lay in hidden)
    try:
        cfg = ModelConfig(
            input_size=n_in,
            output_size=int(layers[-1].bias.size),
            hidden_size=int(hidden[0].bias.size) if hidden else 256,
            hidden_layers=len(hidden),
            max_delay=max_d + 1 if max_d % 2 == 0 else max_d + 2,  # odd kernel covering 0..max_d
            kernel_count=max(taps, 1),
            tau=hidden[0].tau if hidden else 1.0,
            readout_tau=layers[-1].tau,
            threshold=threshold,
            batchnorm=biased,
            synaptic_tau=hidden[0].syn_tau if hidden else None,
            time_step_ms=dt * 1000.0,
            dropout=0.0,
        )
    except ValueError as err:
        raise UnsupportedError(f"NIR graph does not fit the float model: {err}") from err
    model = DelaySNN(cfg)
    with torch.no_grad():
        for index, (lay, syn) in enumerate(zip(layers, model.synapses)):
            weight, delay = _taps(lay.dense, syn.weight.shape)
            _set_synapse(syn, torch.from_numpy(_raw_weight(weight)), torch.from_numpy(delay), f"layer {index}")
            if index < len(hidden) and biased:
                bn = model.hidden[index].bn
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(lay.bias.astype(np.float32)))
                bn.running_mean.zero_()
                bn.running_var.fill_(float(np.float32(1.0 - bn.eps)))  # 1/sqrt(var + eps) == 1 exactly
    model.set_learn_positions(False)
    model.eval()
    return model


def _max_taps(dense: dict[int, np.ndarray]) -> int:
    """Most delays any one synapse has (the DCLS ``kernel_count`` needed)."""
    counts = [(w != 0).astype(np.int64) for w in dense.values()]
    return int(np.sum(counts, axis=0).max(initial=0)) if counts else 0


def _taps(dense: dict[int, np.ndarray], shape: Any) -> tuple[np.ndarray, np.ndarray]:
    """``{d: W_d}`` as DCLS taps ``weight, delay [out, in, kc]``: each synapse's non-zero delays in order."""
    out, n_in, kc = (int(s) for s in shape)
    weight = np.zeros((out, n_in, kc), np.float32)
    delay = np.zeros((out, n_in, kc), np.int64)
    filled = np.zeros((out, n_in), np.int64)
    for d, w in sorted(dense.items()):
        o, i = np.nonzero(w)
        k = filled[o, i]
        weight[o, i, k] = w[o, i]
        delay[o, i, k] = d
        filled[o, i] += 1
    return weight, delay


def _raw_weight(kernel: np.ndarray) -> np.ndarray:
    """DCLS weights whose one-hot kernel is exactly ``kernel``: DCLS scales every tap by
    ``n = 1 / (1 + 1e-7)`` in float32, so ``fl(w * n) == kernel`` is solved by searching the
    float32 neighbours of ``kernel / n``."""
    k = kernel.astype(np.float32)
    n = np.float32(1.0) / (np.float32(1.0) + np.float32(1e-7))
    guess = (k.astype(np.float64) / float(n)).astype(np.float32)
    best = guess.copy()
    done = (guess * n) == k
    for step in (1, -1, 2, -2):
        cand = guess
        for _ in range(abs(step)):
            cand = np.nextafter(cand, np.float32(np.inf if step > 0 else -np.inf))
        hit = ~done & ((cand * n) == k)
        best[hit] = cand[hit]
        done |= hit
    return best


# --- verify round trip, inspect ------------------------------------------------------------------


def run(net: DelayNetwork, x: np.ndarray, *, steps: int | None = None) -> SimResult:
    """The verify backend (``delaysnn.sim.run``'s interface): IR -> NIR bytes -> IR -> the sim.

    NIR has no integer-exact runtime, so what this checks is that the file loses nothing."""
    from delaysnn.sim import simulate

    return simulate(read_ir(to_bytes(export_ir(net))), x, record=True, steps=steps)


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Summary for ``delaysnn inspect model.nir``: kind, dt, sizes, layers, delay histograms."""
    from delaysnn.fileio import check_input_path

    path = check_input_path(path, "NIR file")
    graph = load_graph(path)
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    meta = dict(metadata) if _ours(metadata) else {}
    kinds = {"integer": "delaysnn integer network (NIR)", "float": "delaysnn float model (NIR)"}
    counts: dict[str, int] = {}
    for node in graph.nodes.values():
        counts[type(node).__name__] = counts.get(type(node).__name__, 0) + 1
    info: dict[str, Any] = {
        "file": str(path),
        "kind": kinds.get(str(meta.get("network", "")), "NIR graph"),
        "file_size": path.stat().st_size,
        "nir_version": _nir_file_version(path),
        "node_counts": dict(sorted(counts.items())),
        "dt_ms": None,
    }
    for key in ("spike_condition", "reset", "latency_steps", "input_bits"):
        if key in meta:
            value = meta[key]
            info[key] = value.tolist() if hasattr(value, "tolist") else str(value)
    try:
        dt = graph_dt(graph)
        info["dt_ms"] = dt * 1000.0
        info.update(_describe_layers(graph, dt))
    except (UnsupportedError, *_BAD_FIELD) as err:  # any NIR file can be inspected; say why it has no layer table
        info["layers"] = [f"{name}: {type(node).__name__}" for name, node in graph.nodes.items()]
        info["note"] = str(err) if isinstance(err, UnsupportedError) else f"no layer table: a field is malformed ({type(err).__name__}: {_short(err)})"
    return info


def _describe_layers(graph: Any, dt: float) -> dict[str, Any]:
    from delaysnn.inspect import delay_histogram

    n_in, segments = _chain(graph)
    sizes, layers, max_delay = [n_in], [], 0
    for index, seg in enumerate(segments):
        dense = _compose(seg, sizes[-1], dt).dense()
        delays = np.concatenate([np.full(int((w != 0).sum()), d) for d, w in dense.items()]) if dense else np.zeros(0)
        pairs = sum(int((w != 0).any(axis=0).sum()) for w in dense.values())  # whatever node comes first (Delay or Linear)
        sizes.append(int(np.asarray(seg.neuron.output_type["output"]).reshape(-1)[0]))
        top = int(delays.max(initial=0))
        max_delay = max(max_delay, top)
        layers.append(
            f"{index} {seg.kind}: {sizes[-2]}->{sizes[-1]}, {delays.size} synapses on {pairs} (input, delay) pairs, "
            f"delays {delay_histogram(delays, top)}"
        )
    return {"sizes": "-".join(map(str, sizes)), "max_delay": max_delay, "layers": layers}


def _nir_file_version(path: Path) -> str | None:
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        if not isinstance(f.get("version"), h5py.Dataset):
            return None
        value = f["version"][()]
        return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


__all__ = [
    "CONVENTIONS",
    "DelayedLinear",
    "FORMAT",
    "VERSION",
    "decompose",
    "describe",
    "export",
    "export_float",
    "export_ir",
    "graph_dt",
    "load_graph",
    "read_float",
    "read_ir",
    "run",
    "save",
    "to_bytes",
]

"""lava-dl netx HDF5 in: :func:`read_netx_layout` (every field checked), loading a file into
Lava with ``lava.lib.dl.netx.hdf5.Network`` and running it, and the ``netx`` verify backend."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaysnn.constants import (
    INPUT_BITS_MAX,
    NETX_BIAS_EXP,
    NETX_CURRENT_DECAY_OFFSET,
    READOUT_VTH,
    WEIGHT_BITS_MAX,
    WEIGHT_EXP_MAX,
)
from delaysnn.ir import DelayKind, DelayLayer, DelayNetwork, NeuronParams
from delaysnn.limits import MAX_DELAY_STEPS, MAX_NEURONS, MAX_STEPS, MAX_SYNAPSES
from delaysnn.sim import SimResult, alignment, as_input, check_payloads

from .._deps import import_lava_runtime, require
from .graph import SPARSE_ZERO_FRACTION, LavaGraph, _attach_recorders, _source_data, weight_entries
from .netx_write import netx_weight_problem, save_netx
from .runtime import run_graph, run_slices


def _netx_error(path: Any, where: str, what: str) -> Exception:
    from delaysnn.errors import DelaysnnError

    return DelaysnnError(f"{path}: {where}: {what}; not a lava-dl netx file delaysnn can read (re-export it with delaysnn export --target loihi)")


def _netx_array(path: Any, g: Any, name: str, ndim: tuple[int, ...], kinds: str = "iuf") -> np.ndarray:
    """Dataset ``g[name]`` as an array of ``ndim`` dimensions and numeric, finite values, or one line why not."""
    import h5py

    where = f"{g.name}/{name}"
    ds = g.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise _netx_error(path, where, "missing" if ds is None else "is a group, expected a dataset")
    if ds.dtype.kind not in kinds:
        raise _netx_error(path, where, f"has dtype {ds.dtype}, expected numbers")
    if len(ds.shape) not in ndim:
        raise _netx_error(path, where, f"has shape {list(ds.shape)}, expected {' or '.join(f'{n}-D' for n in ndim)}")
    if ds.size > MAX_SYNAPSES:
        raise _netx_error(path, where, f"holds {ds.size} values, beyond the sanity limit of {MAX_SYNAPSES} (delaysnn.limits.MAX_SYNAPSES)")
    try:
        a = ds[()]
    except (OSError, ValueError, TypeError) as err:  # damaged chunks: HDF5 reports them on read
        raise _netx_error(path, where, f"cannot be read ({type(err).__name__})") from err
    a = np.asarray(a)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise _netx_error(path, where, "contains NaN or infinite values")
    return a


def _netx_text(path: Any, g: Any, name: str) -> str:
    import h5py

    ds = g.get(name)
    # lava-dl SLAYER's export_hdf5 writes the type as a 1-element array, delaysnn as a scalar
    if not isinstance(ds, h5py.Dataset) or ds.shape not in ((), (1,)) or ds.dtype.kind not in "SOU":
        got = "missing" if ds is None else f"{type(ds).__name__} of shape {getattr(ds, 'shape', '?')}, dtype {getattr(ds, 'dtype', '?')}"
        raise _netx_error(path, f"{g.name}/{name}", f"{got}, expected a string")
    value = ds[()] if ds.shape == () else ds[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_netx_layout(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The root attributes and the layers of a netx HDF5, every field checked (one line on the first problem).

    Each layer: ``{"key", "type", "shape"}`` and, for synaptic layers, ``weight [out, in]``,
    ``delay`` (per synapse ``[out, in]``, per output neuron ``[out]``, per input neuron ``[in]``
    or a scalar; integers >= 0; a 1-D length matching neither side is refused) and the neuron's
    ``iDecay``, ``vDecay``, ``vThMant``, ``messageBits`` and ``type`` when present.
    """
    import h5py

    from delaysnn.errors import DelaysnnError
    from delaysnn.fileio import check_hdf5, check_input_path

    path = check_input_path(path, "netx file")
    check_hdf5(path, "netx HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DelaysnnError(f"{path}: not an HDF5 file ({' '.join(str(err).split())[:120]}); expected a lava-dl netx .h5") from err
    with f:
        try:
            return _read_layout(path, f)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
            # damaged structures (bad B-tree, heap, symbol table node, datatype) surface as raw h5py
            # errors only when a group is walked or a dtype read; each is one line naming the file
            raise DelaysnnError(
                f"{path}: damaged HDF5 file ({' '.join(str(err).split())[:120]}); re-export it with delaysnn export --target loihi"
            ) from err


def _read_layout(path: Path, f: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`read_netx_layout` on the open file ``f``."""
    import h5py

    from delaysnn.errors import DelaysnnError

    attrs = {}
    # integer attributes and their ranges: the IR's payload width, the sim's run-length limit
    ranges = {"input_bits": (1, INPUT_BITS_MAX), "tail_steps": (0, MAX_STEPS)}
    for key, default in (("input_bits", 1), ("tail_steps", 0), ("readout_scale", 1.0)):
        value = f.attrs.get(key, default)
        try:
            number = float(np.asarray(value).reshape(()))
        except (TypeError, ValueError) as err:
            raise _netx_error(path, f"attribute {key!r}", f"is {value!r}, expected a number") from err
        lo, hi = ranges.get(key, (0, np.inf))
        if not np.isfinite(number) or not lo <= number <= hi or (key in ranges and number != int(number)):
            raise _netx_error(path, f"attribute {key!r}", f"is {value!r}, out of range" + (f" (expected an integer in {lo}..{hi})" if key in ranges else ""))
        attrs[key] = number if key == "readout_scale" else int(number)
    fmt = f.attrs.get("format")
    attrs["format"] = fmt.decode(errors="replace") if isinstance(fmt, bytes) else fmt
    top = f.get("layer")
    if not isinstance(top, h5py.Group):
        raise DelaysnnError(f"{path}: no '/layer' group; not a lava-dl netx file")
    keys = list(top)
    bad = [k for k in keys if not k.isdigit()]
    if bad or not keys:
        raise _netx_error(path, "/layer", f"has groups {bad[:3]}, expected 0, 1, 2, ..." if bad else "is empty")
    layers = []
    for key in sorted(keys, key=int):
        g = top[key]
        if not isinstance(g, h5py.Group):
            raise _netx_error(path, g.name, "is a dataset, expected a layer group")
        shape = _netx_array(path, g, "shape", (1,), "iu")
        if shape.size == 0 or shape.min() < 1 or shape.max() > MAX_NEURONS:
            raise _netx_error(path, f"{g.name}/shape", f"is {shape.tolist()}, expected sizes in 1..{MAX_NEURONS} (delaysnn.limits.MAX_NEURONS)")
        layer: dict[str, Any] = {"key": key, "type": _netx_text(path, g, "type"), "shape": shape.tolist()}
        if "weight" in g:
            w = _netx_array(path, g, "weight", (2,))
            d = _netx_array(path, g, "delay", (0, 1, 2)) if "delay" in g else np.zeros((), np.int64)
            if d.ndim == 2 and d.shape != w.shape:
                raise _netx_error(path, f"{g.name}/delay", f"has shape {list(d.shape)}, weight {list(w.shape)}")
            if d.ndim == 1 and d.shape[0] not in w.shape:
                from delaysnn.errors import DelaysnnError

                raise DelaysnnError(
                    f"{path}: {g.name}/delay: {d.shape[0]} delays match neither side of weight {list(w.shape)}; write one per output "
                    f"neuron ({w.shape[0]}), one per input neuron ({w.shape[1]}) or the [out, in] matrix"
                )
            if d.size and (d.min() < 0 or d.max() > MAX_DELAY_STEPS or np.any(d != np.rint(d))):
                raise _netx_error(
                    path, f"{g.name}/delay", f"holds negative, fractional or huge delays, expected whole steps in 0..{MAX_DELAY_STEPS} (delaysnn.limits.MAX_DELAY_STEPS)"
                )
            layer.update(weight=w, delay=d.astype(np.int64))
            if "bias" in g:  # SLAYER writes floats: whole numbers are the mantissas netx sets
                bias = _netx_array(path, g, "bias", (1,))
                if np.any(bias != np.rint(bias)) or bias.shape != (w.shape[0],):
                    raise _netx_error(path, f"{g.name}/bias", f"holds {bias.size} values, expected {w.shape[0]} whole-number bias mantissas")
                layer["bias"] = np.rint(bias).astype(np.int64)
            neuron = g.get("neuron")
            params = {}
            if isinstance(neuron, h5py.Group):
                for name in ("iDecay", "vDecay", "vThMant", "messageBits"):
                    if name in neuron:
                        params[name] = int(_netx_array(path, neuron, name, (0, 1)).reshape(-1)[0])
                if "type" in neuron:
                    params["type"] = _netx_text(path, neuron, "type")
            layer["neuron"] = params
        layers.append(layer)
    return attrs, layers


def netx_delay_kind(delay: np.ndarray, shape: tuple[int, ...]) -> DelayKind:
    """What netx's ``create_dense`` makes of a (checked) ``delay`` dataset for a weight of ``shape``
    (out, in): a 1-D one of length N_out is per output neuron (first, so also when N_in == N_out),
    of length N_in per input neuron; a matrix or a scalar is per synapse."""
    if np.ndim(delay) != 1:
        return DelayKind.SYNAPTIC
    return DelayKind.DENDRITIC if len(delay) == shape[0] else DelayKind.AXONAL


def read_netx_network(path: str | os.PathLike) -> DelayNetwork:
    """The integer network a netx HDF5 holds, as netx builds it (``LIF(du=iDecay-1, dv=vDecay,
    vth=vThMant, bias_exp=6)``; the last layer is the non-spiking readout), for ``delaysnn.sim``:
    what a file ``export --target loihi`` (or lava-dl SLAYER's ``export_hdf5``) wrote computes,
    read from the file alone. Weights are split into an 8-bit mantissa and an exponent. Delays
    keep netx's reading (``create_dense``): a 1-D ``delay`` of length N_out is one per output
    neuron (dendritic; it wins when N_in == N_out), of length N_in one per input neuron (axonal),
    a matrix or a scalar one per synapse. What netx would not run as read is refused in one line."""
    from delaysnn.errors import DelaysnnError

    attrs, layout = read_netx_layout(path)
    dense = [layer for layer in layout if "weight" in layer]
    if not dense:
        raise DelaysnnError(f"{path}: no layer with weights; not a netx network")
    layers = [_netx_layer(path, layer, last=i == len(dense) - 1) for i, layer in enumerate(dense)]
    net = DelayNetwork(
        input_size=int(layout[0]["shape"][0]) if "weight" not in layout[0] else int(dense[0]["weight"].shape[1]),
        layers=layers, input_bits=attrs["input_bits"], tail_steps=attrs["tail_steps"], readout_scale=attrs["readout_scale"],
        provenance={"source": "netx", "source_file": Path(path).name},
    )
    try:
        net.check()
    except DelaysnnError as err:
        raise DelaysnnError(f"{path}: {err}") from err
    return net


def _netx_layer(path: Any, layer: dict[str, Any], *, last: bool) -> DelayLayer:
    """One weighted layer of :func:`read_netx_layout` as a ``DelayLayer``, or one line naming the
    field netx would run differently from what the IR can state."""
    where = f"/layer/{layer['key']}"
    n = layer.get("neuron", {})
    if n.get("type", "CUBA") not in ("CUBA", "LOIHI"):
        raise _netx_error(path, f"{where}/neuron/type", f"is {n['type']!r}; delaysnn reads CUBA (Loihi LIF) neurons only")
    if n.get("messageBits", 0):
        raise _netx_error(path, f"{where}/neuron/messageBits", f"is {n['messageBits']}: graded output spikes; delaysnn's hidden neurons send binary spikes")
    if last and n.get("vThMant", READOUT_VTH) != READOUT_VTH:
        raise _netx_error(
            path, f"{where}/neuron/vThMant",
            f"is {n['vThMant']}: the last layer spikes and resets, but delaysnn's readout is read by its voltage (vThMant {READOUT_VTH}, "
            f"reset only at saturation); export the network with its last layer's threshold at {READOUT_VTH} (SLAYER: threshold {READOUT_VTH / 64:g})",
        )
    w = layer["weight"]
    if np.any(w != np.rint(w)):
        raise _netx_error(path, f"{where}/weight", "holds fractional weights; netx rounds them, the IR holds integers (quantize them before export_hdf5)")
    w = np.rint(w).astype(np.int64)
    why = netx_weight_problem(w)
    if why:
        raise _netx_error(path, f"{where}/weight", f"{why}: netx would run other weights than the file's")
    half = 1 << (WEIGHT_BITS_MAX - 1)
    exp = 0  # the smallest exponent whose mantissa fits 8 signed bits (netx stores weight << weight_exp)
    while exp < WEIGHT_EXP_MAX and not -half <= int(w.min() >> exp) <= int(w.max() >> exp) < half and not np.any(w % (2 << exp)):
        exp += 1
    d, out = layer["delay"], w.shape[0]
    kind = netx_delay_kind(d, w.shape)
    delay = np.broadcast_to(d, w.shape) if kind is DelayKind.SYNAPTIC else d
    bias = layer.get("bias")
    return DelayLayer(
        weight=(w >> exp).astype(np.int32), delay=np.array(delay, dtype=np.int32), weight_exp=exp, delay_kind=kind,
        neuron=NeuronParams(
            du=n.get("iDecay", NETX_CURRENT_DECAY_OFFSET) - NETX_CURRENT_DECAY_OFFSET, dv=n.get("vDecay", 0),
            vth=None if last else n.get("vThMant", 0),
            bias_mant=np.zeros(out, np.int32) if bias is None else bias.astype(np.int32), bias_exp=NETX_BIAS_EXP,
        ),
    )


def build_netx(
    path: str | os.PathLike, x: Any, *, steps: int | None = None, sparse: bool | None = None, copies: int = 1, layout: Any = None
) -> LavaGraph:
    """Load a netx HDF5 with ``lava.lib.dl.netx.hdf5.Network`` and wire input and recorders.

    ``sparse``: netx's ``sparse_fc_layer`` (every layer ``DelaySparse``, zero weights dropped);
    None: when more than ``SPARSE_ZERO_FRACTION`` of the file's synapses are zero. ``copies``:
    the file holds that many copies of a network side by side (:func:`~.graph.tile_network`),
    and ``x`` is that network's input: each run advances ``copies`` samples. ``layout``: the
    file's :func:`read_netx_layout`, when the caller has read (and so checked) it already."""
    import_lava_runtime()
    require("lava.lib.dl.netx", extra="lava", quiet=True)
    from lava.lib.dl.netx import hdf5
    from lava.proc.io.source import RingBuffer

    attrs, layout = read_netx_layout(path) if layout is None else layout  # every field checked before Lava reads it
    input_bits, tail, scale = attrs["input_bits"], attrs["tail_steps"], attrs["readout_scale"]
    first = layout[0]
    in_size = int(first["shape"][0]) if first["type"] == "input" or "weight" not in first else int(first["weight"].shape[1])
    if in_size % copies:
        from delaysnn.errors import DelaysnnError

        raise DelaysnnError(f"{path}: {in_size} inputs do not split into {copies} copies")
    xs = check_payloads(x, in_size // copies, input_bits)
    if sparse is None:  # netx has one switch for all layers: the network's share of zeros decides
        weights = [lay["weight"] for lay in layout if "weight" in lay]
        total = sum(w.size for w in weights)
        sparse = bool(total) and sum(int((w == 0).sum()) for w in weights) / total > SPARSE_ZERO_FRACTION
    proc = hdf5.Network(net_config=str(path), input_message_bits=input_bits if input_bits > 1 else 0, sparse_fc_layer=sparse)
    blocks = list(proc.layers)
    latency = tuple(range(1, len(blocks) + 1))
    n_steps = steps if steps is not None else xs.shape[1] + latency[-1] + tail
    source = RingBuffer(data=_source_data(xs, n_steps, copies))
    source.s_out.connect(proc.inp)
    neurons = [b.neuron for b in blocks]
    recording = _attach_recorders(neurons, -(-xs.shape[0] // copies), n_steps)
    return LavaGraph(
        source=source,
        synapses=[b.synapse for b in blocks],
        neurons=neurons,
        recording=recording,
        samples=xs.shape[0],
        steps=n_steps,
        input_steps=xs.shape[1],
        latency=latency,
        readout_scale=scale,
        copies=copies,
    )


def run_netx(path: str | os.PathLike, x: Any, *, steps: int | None = None, sparse: bool | None = None) -> SimResult:
    """Load a netx HDF5 with lava-dl and run it on ``x`` (simulator time axis; ``sparse``: see :func:`build_netx`)."""
    return run_graph(build_netx(path, x, steps=steps, sparse=sparse))


# Copies per netx file in NetxBackend: the file holds dense matrices, B**2 times a copy's, so B
# stays small (speech model, 2 cores: per-sample runs 0.5 samples/s; 8 copies 3.4/s, a 38 MB
# file; 16 copies ~4.8/s on a whole split, 151 MB; resetting a 16-copy graph takes 7 s, a reload 1.4 s).
NETX_COPIES = 16
NETX_TILED_ENTRIES = 1 << 24  # weight entries of the tiled file (a 140-128-128-20 network: 16 copies)


def netx_copies(net: DelayNetwork) -> int:
    """Copies of ``net`` per netx file in :class:`NetxBackend`: ``NETX_COPIES``, fewer for big networks."""
    return max(1, min(NETX_COPIES, int((NETX_TILED_ENTRIES / weight_entries(net)) ** 0.5)))


@dataclass(frozen=True)
class NetxJob:
    """A netx file of ``copies`` copies of a network side by side, run for ``steps`` steps."""

    path: Path
    copies: int
    steps: int


@dataclass(frozen=True)
class NetxBackend:
    """``delaysnn.app.verify``'s ``netx`` backend: write the netx HDF5 to a temporary file, load it
    with lava-dl's ``hdf5.Network``, run it.

    ``copies`` (None: :func:`netx_copies`): the file holds that many copies of the network side
    by side (:func:`~.graph.tile_network`, written by the same ``save_netx``), and each slice of
    that many samples runs through a freshly loaded graph; 1: the network itself, every sample
    through one graph with resets in between (reset ``Var.set`` costs more than a reload)."""

    profile: str = "loihi2"
    sparse: bool | None = None  # netx's sparse_fc_layer (None: see build_netx)
    copies: int | None = None

    def run(self, net: DelayNetwork, x: Any, *, steps: int | None = None, profile: Any = None) -> SimResult:
        """``profile``: the hardware profile the netx file is checked against (default ``self.profile``)."""
        xs = as_input(net, x)
        with tempfile.TemporaryDirectory(prefix="delaysnn-netx-") as tmp:
            return self.run_file(self.write(net, xs, Path(tmp), steps=steps, profile=profile), xs)

    def write(self, net: DelayNetwork, xs: np.ndarray, directory: Path, *, steps: int | None = None, profile: Any = None) -> NetxJob:
        """Write the netx file :meth:`run_file` runs ``xs`` through into ``directory`` (no Lava
        needed: the Lava bridge writes it on this side, runs it on the 3.10 side)."""
        from .graph import tile_network

        size = max(1, min(netx_copies(net) if self.copies is None else int(self.copies), xs.shape[0]))
        path = save_netx(tile_network(net, size), directory / "network.net", profile or self.profile)
        return NetxJob(path=path, copies=size, steps=alignment(net, xs.shape[1], steps).steps)

    def run_file(self, job: NetxJob, xs: np.ndarray) -> SimResult:
        """Load the file :meth:`write` wrote with lava-dl and run ``xs`` through it."""
        if job.copies == 1:
            return run_netx(job.path, xs, steps=job.steps, sparse=self.sparse)
        layout = read_netx_layout(job.path)  # once: every slice loads the same file
        return run_slices(xs, job.copies, lambda part: build_netx(job.path, part, steps=job.steps, sparse=self.sparse, copies=job.copies, layout=layout))


netx = NetxBackend()

"""The Lava process graph of a ``DelayNetwork``: ``RingBuffer`` -> per layer ``DelayDense`` or
``DelaySparse`` -> ``LIF``, with recorders (field mapping and the sparse rule: the package
docstring). Builds processes; runs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaysnn.constants import LAVA_WEIGHT_BITS, READOUT_VTH
from delaysnn.ir import DelayKind, DelayNetwork
from delaysnn.sim import alignment, as_input

from .._deps import import_lava_runtime
from .checks import check

# Layers with more zero weights than this are built as DelaySparse (package docstring).
SPARSE_ZERO_FRACTION = 0.5


@dataclass
class Recording:
    """The recorder processes of a graph and the files they fill (deleted with ``tmp``)."""

    spikes: list[Any]  # recorders.StepFile per hidden layer
    voltage: Any  # recorders.VarFile on the readout's v
    spike_paths: list[Path]
    voltage_path: Path
    tmp: Any  # tempfile.TemporaryDirectory holding the files

    def processes(self) -> list[Any]:
        return [*self.spikes, self.voltage]


@dataclass
class LavaGraph:
    """The processes of one built network, plus what a run needs to read them back."""

    source: Any  # lava.proc.io.source.RingBuffer holding every sample back to back
    synapses: list[Any]  # DelayDense or DelaySparse per layer
    neurons: list[Any]  # LIF per layer (last = readout)
    recording: Recording  # hidden spikes and readout v, written to files every step
    samples: int
    steps: int
    input_steps: int
    latency: tuple[int, ...]
    readout_scale: float = 1.0
    models: dict[str, str] = field(default_factory=dict)
    copies: int = 1  # network copies side by side: samples per run

    @property
    def runs(self) -> int:
        return -(-self.samples // self.copies)


def _source_data(x: np.ndarray, steps: int, copies: int = 1) -> np.ndarray:
    """``[batch, time, channels]`` -> ``[copies * channels, runs * steps]``: runs back to back,
    copy ``b`` of run ``g`` fed sample ``g * copies + b`` zero-padded (or cut) to ``steps`` (missing
    samples of the last run: zeros). The RingBuffer sends column ``(time_step - 1) % size``."""
    batch, t_in, channels = x.shape
    runs = -(-batch // copies)
    data = np.zeros((runs * copies, steps, channels), dtype=np.int32)
    n = min(t_in, steps)
    data[:batch, :n] = x[:, :n]
    data = data.reshape(runs, copies, steps, channels).transpose(1, 3, 0, 2)
    return np.ascontiguousarray(data.reshape(copies * channels, runs * steps))


def _attach_recorders(neurons: list[Any], runs: int, steps: int) -> Recording:
    """File recorders (:mod:`.recorders`) on every hidden layer's spikes and the readout's ``v``."""
    import tempfile

    from .recorders import StepFile, VarFile, new_record

    total = runs * steps
    tmp = tempfile.TemporaryDirectory(prefix="delaysnn-lava-")
    paths = [new_record(Path(tmp.name) / f"spikes{i}.npy", total, lif.s_out.shape[0], np.uint8) for i, lif in enumerate(neurons[:-1])]
    sinks = []
    for lif, path in zip(neurons[:-1], paths):
        sink = StepFile(shape=lif.s_out.shape, path=path)
        lif.s_out.connect(sink.a_in)
        sinks.append(sink)
    v_path = new_record(Path(tmp.name) / "voltage.npy", total, neurons[-1].v.shape[0], np.int32)
    return Recording(spikes=sinks, voltage=VarFile(var=neurons[-1].v, path=v_path), spike_paths=paths, voltage_path=v_path, tmp=tmp)


def _blocks(a: np.ndarray, copies: int, sparse: bool) -> Any:
    """``copies`` copies of matrix ``a`` on the diagonal (a CSR matrix if ``sparse``)."""
    if sparse:
        from scipy import sparse as sp

        return sp.block_diag([sp.csr_matrix(a)] * copies, format="csr")
    return a if copies == 1 else np.kron(np.eye(copies, dtype=a.dtype), a)


def _tiled_bias(layer: Any, copies: int) -> np.ndarray:
    """A layer's per-neuron bias mantissas, repeated for ``copies`` copies side by side."""
    return np.tile(np.broadcast_to(layer.neuron.bias_mant, (layer.shape[0],)), copies).astype(np.int32)


def _tiled_delay(layer: Any, copies: int) -> np.ndarray:
    """A layer's delays for ``copies`` copies side by side, in its own kind: per-neuron vectors
    repeat (so a netx file of copies keeps 1-D delays), per-synapse matrices go on the diagonal."""
    if layer.delay_kind is DelayKind.SYNAPTIC:
        return _blocks(layer.delay, copies, False)
    return np.tile(layer.delay, copies)


def weight_entries(net: DelayNetwork) -> int:
    """Entries of all of ``net``'s weight matrices (at least 1): what sizes a graph of copies."""
    return max(1, sum(int(layer.weight.size) for layer in net.layers))


def tile_network(net: DelayNetwork, copies: int) -> DelayNetwork:
    """``copies`` independent copies of ``net`` side by side, as one network with dense
    block-diagonal weights and delays (the layout :func:`build` gives Lava, for files that hold
    dense matrices: netx). Copy ``b`` owns inputs ``b * in ...`` and neurons ``b * out ...``."""
    from dataclasses import replace

    if copies == 1:
        return net
    layers = [
        replace(
            layer,
            weight=_blocks(layer.weight, copies, False),
            delay=_tiled_delay(layer, copies),
            neuron=replace(layer.neuron, bias_mant=_tiled_bias(layer, copies)),
        )
        for layer in net.layers
    ]
    return replace(net, input_size=net.input_size * copies, layers=layers)


def zero_fraction(weight: np.ndarray) -> float:
    """Fraction of absent synapses (zero weights) of a weight matrix (0 for an empty one)."""
    return float((np.asarray(weight) == 0).mean()) if np.size(weight) else 0.0


def build(
    net: DelayNetwork, profile: Any = "loihi2", *, x: Any = None, steps: int | None = None, copies: int = 1, sparse: bool | None = None
) -> LavaGraph:
    """Build the Lava process graph of ``net`` fed with ``x`` (``[batch, time, input_size]``;
    default one all-zero sample of ``steps`` steps). Refuses networks that break ``profile``.

    ``copies``: copies of the network side by side, each run advancing that many samples (at
    most the batch); ``sparse``: ``DelaySparse`` connections instead of ``DelayDense`` (None:
    for the layers more than ``SPARSE_ZERO_FRACTION`` zeros, see the package docstring).
    """
    import_lava_runtime()
    from lava.proc.dense.process import DelayDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import DelaySparse
    from lava.utils.weightutils import SignMode

    check(net, profile)
    if x is None:
        if steps is None:
            raise ValueError("build needs x or steps")
        x = np.zeros((1, steps, net.input_size), dtype=np.int64)
    xs = as_input(net, x)
    copies = max(1, min(int(copies), xs.shape[0]))
    align = alignment(net, xs.shape[1], steps)
    source = RingBuffer(data=_source_data(xs, align.steps, copies))
    prev, synapses, neurons = source.s_out, [], []
    for li, layer in enumerate(net.layers):
        graded = li == 0 and net.input_bits > 1
        # the rule on the matrix Lava gets: B > 1 block-diagonal copies are mostly zeros
        zeros = 1 - (1 - zero_fraction(layer.weight)) / copies
        sparse_layer = zeros > SPARSE_ZERO_FRACTION if sparse is None else sparse
        synapse = DelaySparse if sparse_layer else DelayDense
        syn = synapse(
            weights=_blocks(2 * layer.weight.astype(np.int64), copies, sparse_layer),  # exact: see the package docstring
            # per synapse whatever the kind; an absent synapse gets delay 0 (DelaySparse: same pattern as the weights)
            delays=_blocks(np.where(layer.weight != 0, layer.delay_matrix, 0).astype(int), copies, sparse_layer),
            max_delay=layer.max_delay,
            weight_exp=layer.weight_exp - 1,
            num_weight_bits=LAVA_WEIGHT_BITS,
            sign_mode=SignMode.MIXED,
            num_message_bits=net.input_bits if graded else 0,
        )
        n = layer.neuron
        lif = LIF(
            shape=(copies * layer.shape[0],),
            du=n.du,
            dv=n.dv,
            vth=READOUT_VTH if n.vth is None else n.vth,
            bias_mant=_tiled_bias(layer, copies),
            bias_exp=n.bias_exp,
        )
        prev.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        prev = lif.s_out
        synapses.append(syn)
        neurons.append(lif)
    recording = _attach_recorders(neurons, -(-xs.shape[0] // copies), align.steps)
    return LavaGraph(
        source=source,
        synapses=synapses,
        neurons=neurons,
        recording=recording,
        samples=xs.shape[0],
        steps=align.steps,
        input_steps=align.input_steps,
        latency=align.latency,
        readout_scale=float(net.readout_scale),
        copies=copies,
    )

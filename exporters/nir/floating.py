"""The float IR -> NIR (``export --target nir --float``): reads a ``FoldedNetwork`` and nothing else.

Per layer ``Linear(F) -> Delay(d * dt) -> Linear|Affine(W') -> LIF|CubaLIF|LI`` (axonal layers
``Delay -> Linear|Affine(W')``, dendritic ``Linear(W') -> Delay [-> Affine(I, bias)]``) with ``W'`` the
folded weights (BatchNorm gain in the rows, every DCLS tap a synapse), the BatchNorm shift as
the Affine bias (``LIF``) or ``v_leak = bias * tau / dt`` (``CubaLIF``: an Affine bias would pass
through the current filter), ``v_threshold`` the float32 predecessor of the model's threshold
(NIR's ``v > v_threshold`` is the model's ``v >= theta`` on float32 voltages). Latency 0 per
layer. A ``FoldedNetwork`` folded from a model also carries the model's own parameters
(``source``): they go into node metadata verbatim so ``read_float`` rebuilds it bit for bit."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from delaysnn.ir import DelayKind

from .common import CONVENTIONS, FORMAT, VERSION, check_dt, compact_int, nir_module
from .structure import build_graph, decompose, layer_nodes, neuron_delay_nodes


def float_prev(x: float) -> np.ndarray:
    """Largest float32 below ``x``: NIR's ``v > that`` is the model's ``v >= x`` on float32 ``v``."""
    return np.nextafter(np.float32(x), np.float32(-np.inf))


def _neuron(lay: Any, dt: float) -> tuple[Any, np.ndarray | None]:
    """A float IR layer's neuron node and the bias its Affine carries (None: in ``v_leak``)."""
    nir = nir_module()
    size = lay.shape[0]
    tau = np.full(size, float(lay.tau))
    if lay.threshold is None:
        return nir.LI(tau=tau * dt, r=tau.copy(), v_leak=np.zeros(size)), None
    common = {"r": tau.copy(), "v_threshold": np.full(size, float_prev(lay.threshold)), "v_reset": np.zeros(size)}
    if lay.synaptic_tau is None:
        return nir.LIF(tau=tau * dt, v_leak=np.zeros(size), **common), lay.bias
    syn = np.full(size, float(lay.synaptic_tau))
    return nir.CubaLIF(tau_syn=syn * dt, w_in=syn, tau_mem=tau * dt, v_leak=lay.bias * tau, **common), None


def export_float(model: Any, dt: float | None = None) -> Any:
    """The float model as a ``nir.NIRGraph``: ``model`` a ``FoldedNetwork`` (or a ``DelaySNN``,
    folded first by ``delaysnn.model.fold.fold``); ``dt`` seconds per step (default its time step)."""
    from delaysnn.ir.folded import as_folded

    fnet = as_folded(model)
    fnet.check()
    if fnet.padding == "per_layer":
        warnings.warn(
            "this model cuts each layer's output early (truncate_layers, as SNN-delays); a NIR graph runs every "
            "layer for the whole window, so peers' outputs differ from the model's after the cut",
            stacklevel=2,
        )
    dt = fnet.time_step_ms / 1000.0 if dt is None else check_dt(dt)
    record = fnet.source
    layers = []
    for index, lay in enumerate(fnet.layers):
        neuron, bias = _neuron(lay, dt)
        if lay.delay_kind is DelayKind.SYNAPTIC:
            nodes = layer_nodes(index, decompose(lay.shape, *lay.synapses()), dt, neuron, bias)
        else:  # axonal Delay -> Linear, dendritic Linear -> Delay: no fan-out (as the integer graphs)
            nodes = neuron_delay_nodes(index, lay.delay_kind is DelayKind.AXONAL, lay.delay, lay.weight, dt, neuron, bias)
        if record is not None:  # the model's own parameters, for read_float's exact rebuild (on the node before the neuron)
            nodes[-2][1].metadata = {
                "kernel_weight": record.kernel_weight[index].astype(np.float32),
                "kernel_delay": compact_int(record.kernel_delay[index]),
            }
            bn = record.batchnorm[index] if index < len(record.batchnorm) else None
            neuron.metadata = dict(bn) if bn else {}
        layers.append(nodes)
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "network": "float",
        "dt": dt,
        "spike_condition": ">=",
        "threshold_encoding": "v_threshold is the float32 predecessor of the model threshold: NIR's v > v_threshold is the model's v >= threshold",
        "reset": "zero",
        "latency_steps": np.zeros(len(fnet.layers), np.int8),
        "input_padding_steps": int(fnet.tail_steps),
        "truncate_layers": int(fnet.padding == "per_layer"),
        "conventions": CONVENTIONS,
    }
    if record is not None:
        metadata["model_config"] = json.dumps(record.config, sort_keys=True)
    return build_graph(fnet.input_size, layers, metadata)

"""NIR graph -> float ``DelaySNN``: the model built from the parameters the NIR backend reads.

``exporters.nir.importer.read_record`` reads a graph as a :class:`~delaysnn.ir.folded.ModelRecord`
(numpy only: the backend never builds the torch model); :func:`model_from_record` builds the
model from it here, so an import from NIR ends in the same place as one from SNN-delays
(``delaysnn.convert.snn_delays``). ``delaysnn.app.from_nir.read_float`` joins the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import UnsupportedError
from ..ir.folded import ModelRecord
from ..model import DelaySNN, ModelConfig

CONFIG_SOURCE = "NIR metadata 'model_config'"


def model_from_record(record: ModelRecord, *, composed: bool = False) -> DelaySNN:
    """A float ``DelaySNN`` (eval mode, positions frozen) holding ``record``'s parameters exactly.

    ``composed``: the record was composed from a foreign graph's fields (a config that does not
    fit the model is an :class:`UnsupportedError`), not read from our metadata."""
    if composed:
        try:
            cfg = ModelConfig(**record.config)
        except ValueError as err:
            raise UnsupportedError(f"NIR graph does not fit the float model: {err}") from err
    else:
        cfg = ModelConfig.from_dict(record.config, source=CONFIG_SOURCE)
    model = DelaySNN(cfg)
    if len(record.kernel_weight) != len(model.synapses):
        raise UnsupportedError(f"NIR graph has {len(record.kernel_weight)} layers, its metadata config {len(model.synapses)}")
    with torch.no_grad():
        for index, syn in enumerate(model.synapses):
            weight = torch.from_numpy(np.asarray(record.kernel_weight[index], np.float32))
            delay = torch.from_numpy(np.asarray(record.kernel_delay[index], np.int64))
            _set_synapse(syn, weight, delay, f"layer {index}")
        for index, hidden in enumerate(model.hidden):
            if hidden.bn is not None:
                _set_bn(hidden.bn, record.batchnorm[index] or {}, f"layer {index}")
    model.set_learn_positions(False)
    model.eval()
    return model


def _set_synapse(syn: Any, weight: torch.Tensor, delay: torch.Tensor, where: str) -> None:
    if tuple(weight.shape) != tuple(syn.weight.shape) or tuple(delay.shape) != tuple(syn.weight.shape):
        raise UnsupportedError(f"{where}: weights {tuple(weight.shape)} / delays {tuple(delay.shape)} do not fit {tuple(syn.weight.shape)}")
    if delay.numel() and (int(delay.min()) < 0 or int(delay.max()) > syn.max_delay - 1):
        raise UnsupportedError(f"{where}: delays outside 0..{syn.max_delay - 1}")
    syn.weight.copy_(weight)
    syn.set_integer_delays(delay, where)
    syn.sig.zero_()


def _set_bn(bn: Any, meta: dict[str, Any], where: str) -> None:
    try:
        for attr, key in (("weight", "bn_weight"), ("bias", "bn_bias"), ("running_mean", "bn_mean"), ("running_var", "bn_var")):
            getattr(bn, attr).copy_(torch.from_numpy(np.asarray(meta[key], np.float32)))
        bn.eps = float(meta["bn_eps"])
    except KeyError as err:
        raise UnsupportedError(f"{where}: metadata lacks BatchNorm buffer {err}") from err

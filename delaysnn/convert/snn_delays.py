"""Import checkpoints of the SNN-delays reference code (github Thvnvtos/SNN-delays).

Their ``SnnDelays`` model keeps its layers in one ``nn.Sequential`` called ``model``, and they
save a bare ``torch.save(model.state_dict())`` whose keys are ``model.<N>.<name>``. Each hidden
block contributes ``[Dcls1d, BatchNorm1d (if use_batchnorm), LIFNode, Dropout, (SynapseFilter
if stateful_synapse)]`` to the Sequential, the readout ``[Dcls1d, LIFNode]``. Only the Dcls1d
and BatchNorm1d modules hold tensors, so the sizes (input, hidden, layers, outputs,
kernel_count, batchnorm) are read from the shapes; the time constants, threshold and kernel
size are not in the file and come from the arguments (their ``config.py`` defaults).

Key mapping, with ``d`` the index of hidden block ``i``'s Dcls1d (``d = 0`` for the first) and
``b = 1`` with batchnorm, else 0 (the next block's Dcls1d is at ``d + 3 + b``):

===================================  ==============================  =========================================
SNN-delays                           delaysnn                        conversion
===================================  ==============================  =========================================
``model.d.weight [out, in, kc]``     ``hidden.i.synapse.weight``     as is (float32)
``model.d.P [1, out, in, kc]``       ``hidden.i.synapse.pos``        their eval transform: round half to even,
                                                                     clamp to +-max_delay//2
``model.d.SIG [1, out, in, kc]``     ``hidden.i.synapse.sig``        set to 0 (their eval: ``version='max'``)
``model.(d+1).weight, bias,``        ``hidden.i.bn.*``               as is (absent ``num_batches_tracked``: 0)
``running_mean, running_var,``
``num_batches_tracked``
``model.(d+1+b)`` LIFNode            ``cfg.tau``, ``cfg.threshold``  no tensors; tau = (tau_ms + 1e-9) /
                                                                     time_step_ms steps, as their config
``model.(d+2+b)`` Dropout            ``cfg.dropout``                 no tensors
last Dcls1d ``weight, P, SIG``       ``readout.weight, pos, sig``    as for the hidden synapses
last LIFNode (v_threshold 1e9)       readout leaky integrator        ``cfg.readout_tau = cfg.tau``
===================================  ==============================  =========================================

Refused, with the reason: Dcls1d ``bias`` (config ``bias=True``), ``ParametricLIFNode`` (a
``w`` key on a neuron), any ``SynapseFilter`` (``stateful_synapse``, learnable or not: seen
from a ``w`` key or from the spacing of the Dcls1d indices), ``groups != 1``, unknown keys.
Not visible in a state_dict, hence assumed: ``spiking_neuron_type='lif'`` (not
``'heaviside'``), ``loss != 'spike_count'`` (a readout that never fires) and the kernel size
``max_delay`` (pass it if the model was not trained with the SHD default 25). A leading
``module.`` (``nn.DataParallel``) on every key is stripped.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnsupportedError
from ..model import DelaySNN, ModelConfig
from ..model.checkpoint import FORMAT, load_state, read_payload
from ..model.dcls import POSITION_TOLERANCE as _POSITION_TOLERANCE
from ..model.dcls import position_limit, positions_outside

__all__ = ["convert_snn_delays"]

_KEY = re.compile(r"^model\.(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$")
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def convert_snn_delays(
    state: dict[str, Any] | str | Path,
    *,
    max_delay: int = 25,
    time_step_ms: float = 10.0,
    tau_ms: float = 10.05,
    threshold: float = 1.0,
    dropout: float = 0.4,
    source: str | None = None,
) -> DelaySNN:
    """Build a :class:`DelaySNN` (eval mode, integer delays) from an SNN-delays state_dict.

    ``state`` is the state_dict or the path of the file ``torch.save`` wrote (read with
    ``weights_only=True``); ``source`` names it in error messages. ``max_delay`` is their
    ``config.max_delay`` (the odd DCLS kernel size), ``tau_ms`` their ``init_tau`` in ms,
    ``time_step_ms`` their ``time_step``; ``threshold`` their ``v_threshold``; ``dropout``
    their ``dropout_p`` (used only if the model is trained further). The delays are frozen as
    their evaluation does: positions rounded half to even and clamped, sigma 0.
    Raises :class:`CheckpointError` or :class:`UnsupportedError` with a one-line message.
    """
    if isinstance(state, str | os.PathLike):
        src = source or str(state)
        state = read_payload(state)
    else:
        src = source or "state_dict"
    _check_options(src, max_delay, time_step_ms, tau_ms, threshold, dropout)
    state = _snn_delays_keys(state, src)
    modules, dcls, batchnorm = _parse_structure(state, src)
    sizes = _check_tensors(modules, dcls, batchnorm, max_delay, src)
    tau = (tau_ms + 1e-9) / time_step_ms  # exactly as their config.py
    try:
        cfg = ModelConfig(
            input_size=sizes["input"],
            output_size=sizes["output"],
            hidden_size=sizes["hidden"],
            hidden_layers=len(dcls) - 1,
            max_delay=max_delay,
            kernel_count=sizes["kernel_count"],
            tau=tau,
            readout_tau=tau,
            threshold=float(threshold),
            batchnorm=batchnorm,
            dropout=float(dropout),
            synaptic_tau=None,
            time_step_ms=float(time_step_ms),
            truncate_layers=True,  # reproduce SNN-delays' per-layer cut exactly
        )
    except ValueError as err:  # sizes or options beyond delaysnn.limits
        raise CheckpointError(f"{src}: {err}") from err
    model = DelaySNN(cfg)
    load_state(model, _map_keys(modules, dcls, batchnorm), source=src)
    model.round_positions()
    model.eval()
    return model


def _check_options(src: str, max_delay: Any, time_step_ms: float, tau_ms: float, threshold: float, dropout: float) -> None:
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay < 1:
        raise CheckpointError(f"{src}: --max-delay must be a positive odd integer (got {max_delay!r}); pass their config.max_delay, e.g. 25")
    if max_delay % 2 == 0:
        raise CheckpointError(
            f"{src}: --max-delay {max_delay} is even, but SNN-delays forces an odd kernel size "
            f"(max_delay + 1 when 250 // time_step is even); pass --max-delay {max_delay + 1}"
        )
    if not (math.isfinite(time_step_ms) and time_step_ms > 0):
        raise CheckpointError(f"{src}: --time-step-ms must be a positive number of ms (got {time_step_ms}); their default is 10")
    if not (math.isfinite(tau_ms) and (tau_ms + 1e-9) / time_step_ms >= 1.0):
        raise CheckpointError(
            f"{src}: --tau-ms {tau_ms} is shorter than --time-step-ms {time_step_ms} (their config: "
            f"init_tau can't be < time_step); pass their init_tau in ms, e.g. --tau-ms 10.05"
        )
    if not (math.isfinite(threshold) and threshold > 0):
        raise CheckpointError(f"{src}: --threshold must be a positive number (got {threshold}); their v_threshold is 1.0")
    if not 0.0 <= dropout < 1.0:
        raise CheckpointError(f"{src}: dropout must be in [0, 1) (got {dropout}); their dropout_p is 0.4")


def _snn_delays_keys(obj: Any, src: str) -> dict[str, Any]:
    """The state_dict itself, after telling apart the files that are something else."""
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{src}: holds a {type(obj).__name__}, not an SNN-delays state_dict (a dict of "
            f"'model.<N>.weight/P/SIG' tensors from torch.save(model.state_dict()))"
        )
    if obj.get("format") == FORMAT:
        raise CheckpointError(f"{src}: this is already a delaysnn checkpoint (format '{FORMAT}'); use it directly, no conversion needed")
    keys = [k for k in obj if isinstance(k, str)]
    if len(keys) != len(obj):
        raise CheckpointError(f"{src}: state_dict has non-string keys; not an SNN-delays state_dict")
    if keys and all(k.startswith("module.") for k in keys):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
        keys = list(obj)
    if not any(_KEY.match(k) and k.endswith(".P") for k in keys):
        if any(k.startswith(("hidden.", "readout.")) for k in keys):
            raise CheckpointError(
                f"{src}: this is a delaysnn model state_dict (keys 'hidden.*', 'readout.*'), not an SNN-delays one; "
                "save it with delaysnn.model.checkpoint.save_checkpoint instead of converting it"
            )
        shown = ", ".join(repr(k) for k in keys[:4]) or "none"
        raise CheckpointError(
            f"{src}: not an SNN-delays state_dict: no 'model.<N>.P' (Dcls1d position) keys (found {shown}); "
            "save their SnnDelays with torch.save(model.state_dict(), path)"
        )
    return obj


def _group(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    modules: dict[int, dict[str, Any]] = {}
    for key, value in state.items():
        match = _KEY.match(key)
        if match:
            modules.setdefault(int(match[1]), {})[match[2]] = value
    return modules


def _parse_structure(state: dict[str, Any], src: str) -> tuple[dict[int, dict[str, Any]], list[int], bool]:
    """The state grouped by module index (:func:`_group`), the indices of the Dcls1d modules and
    whether hidden blocks have BatchNorm1d; checks that every key belongs to a module the
    SNN-delays layout puts there."""
    for key in state:
        if not _KEY.match(key):
            raise CheckpointError(
                f"{src}: unexpected key {key!r} (an SNN-delays state_dict has only 'model.<N>.<name>' keys); "
                "save just their SnnDelays state_dict"
            )
    modules = _group(state)
    dcls = sorted(n for n, names in modules.items() if "P" in names)
    hidden = dcls[:-1]
    has_bn = ["running_mean" in modules.get(d + 1, {}) for d in hidden]
    if any(has_bn) and not all(has_bn):
        missing = hidden[has_bn.index(False)] + 1
        raise CheckpointError(
            f"{src}: key 'model.{missing}.running_mean' is missing: some hidden blocks have BatchNorm1d and others not; "
            "SNN-delays uses it in all (use_batchnorm) or none"
        )
    batchnorm = bool(hidden) and all(has_bn)
    b = int(batchnorm)
    roles: dict[int, str] = {}
    if dcls[0] != 0:
        raise CheckpointError(f"{src}: key 'model.0.P' is missing (the first Dcls1d is 'model.{dcls[0]}'); not the SnnDelays layout")
    for i, d in enumerate(hidden):
        roles[d] = "dcls"
        if batchnorm:
            roles[d + 1] = "bn"
        roles[d + 1 + b], roles[d + 2 + b] = "neuron", "dropout"
        gap = dcls[i + 1] - d
        if gap == 4 + b:
            learnable = "w" in modules.get(d + 3 + b, {})
            what = f"key 'model.{d + 3 + b}.w' (learnable SynapseFilter)" if learnable else f"Dcls1d keys 'model.{d}.P' and 'model.{dcls[i + 1]}.P', {gap} modules apart (a SynapseFilter)"
            raise UnsupportedError(
                f"{src}: {what}: stateful_synapse=True is not supported: their filter I = I - (1 - S) I/tau + S "
                "acts on each hidden layer's spikes and is not a linear current filter; retrain with stateful_synapse=False"
            )
        if gap != 3 + b:
            raise CheckpointError(
                f"{src}: Dcls1d keys 'model.{d}.P' and 'model.{dcls[i + 1]}.P' are {gap} modules apart, expected {3 + b} "
                f"([Dcls1d{', BatchNorm1d' if b else ''}, LIFNode, Dropout]); not the SnnDelays layout"
            )
    roles[dcls[-1]], roles[dcls[-1] + 1] = "dcls", "neuron"
    for n in sorted(modules):
        names = set(modules[n])
        role = roles.get(n)
        key = f"model.{n}.{sorted(names)[0]}"
        if role == "dcls":
            if "bias" in names:
                raise UnsupportedError(
                    f"{src}: key 'model.{n}.bias': the Dcls1d synapses have a bias (config bias=True); delaysnn's synapses "
                    "have none (SNN-delays' default is bias=False); retrain with bias=False"
                )
            extra = names - {"weight", "P", "SIG"}
            if "weight" not in names or extra:
                bad = f"'model.{n}.{sorted(extra)[0]}' is unexpected" if extra else f"'model.{n}.weight' is missing"
                raise CheckpointError(f"{src}: key {bad} (a Dcls1d has weight, P, SIG); not an SNN-delays state_dict")
        elif role == "bn":
            extra = sorted(names - {*_BN_FIELDS, "num_batches_tracked"})
            missing = sorted(set(_BN_FIELDS) - names)
            if extra or missing:
                bad = f"'model.{n}.{extra[0]}' is unexpected" if extra else f"'model.{n}.{missing[0]}' is missing"
                raise CheckpointError(
                    f"{src}: key {bad} (an affine BatchNorm1d has weight, bias, running_mean, running_var); "
                    "not an SNN-delays state_dict"
                )
        elif role == "neuron" and "w" in names:
            raise UnsupportedError(
                f"{src}: key 'model.{n}.w': ParametricLIFNode (spiking_neuron_type='plif') learns a time constant per layer, "
                "delaysnn has one fixed tau; retrain with spiking_neuron_type='lif'"
            )
        else:
            raise CheckpointError(
                f"{src}: unexpected key {key!r} ({role or 'no module'} holds no tensors in the SnnDelays layout); "
                "not an SNN-delays state_dict, or one from a modified model"
            )
    return modules, dcls, batchnorm


def _check_values(modules: dict[int, dict[str, Any]], src: str) -> None:
    """Every entry a float tensor (``num_batches_tracked`` aside) of finite values."""
    for n, names in modules.items():
        for name, value in names.items():
            key = f"model.{n}.{name}"
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{src}: key {key!r} holds a {type(value).__name__}, expected a tensor; not an SNN-delays state_dict")
            if name == "num_batches_tracked":
                continue
            if not value.is_floating_point():
                raise CheckpointError(f"{src}: key {key!r} has dtype {value.dtype}, expected a float tensor; not an SNN-delays state_dict")
            if not torch.isfinite(value).all():
                bad = int((~torch.isfinite(value)).sum())
                raise CheckpointError(
                    f"{src}: key {key!r} holds {bad} NaN or infinite values of {value.numel()}; "
                    "the training diverged: convert an earlier checkpoint"
                )


def _check_tensors(modules: dict[int, dict[str, Any]], dcls: list[int], batchnorm: bool, max_delay: int, src: str) -> dict[str, int]:
    """Shapes consistent between layers, values finite, positions inside the kernel."""
    _check_values(modules, src)
    lim = position_limit(max_delay)
    sizes: dict[str, int] = {}
    prev: tuple[str, int] | None = None
    largest = 0.0
    for i, d in enumerate(dcls):
        weight = modules[d]["weight"]
        if weight.dim() != 3:
            raise CheckpointError(f"{src}: key 'model.{d}.weight' has shape {tuple(weight.shape)}, expected [out, in, kernel_count]")
        out, inp, kc = weight.shape
        for name in ("P", "SIG"):
            value = modules[d].get(name)
            if value is not None and tuple(value.shape) != (1, out, inp, kc):
                raise CheckpointError(
                    f"{src}: key 'model.{d}.{name}' has shape {tuple(value.shape)}, expected {(1, out, inp, kc)} "
                    f"(1-D Dcls1d with weight {tuple(weight.shape)})"
                )
        if prev is not None and inp != prev[1]:
            raise CheckpointError(
                f"{src}: key 'model.{d}.weight' has {inp} inputs but {prev[0]} has {prev[1]} outputs: inconsistent layers "
                "(delaysnn imports dense, groups=1, models)"
            )
        if i == 0:
            sizes.update(input=inp, kernel_count=kc, hidden=out if len(dcls) > 1 else inp)
        elif kc != sizes["kernel_count"]:
            raise CheckpointError(
                f"{src}: key 'model.{d}.weight' has kernel_count {kc} but 'model.0.weight' has {sizes['kernel_count']}; "
                "SNN-delays uses one kernel_count for all layers"
            )
        if i < len(dcls) - 1:
            if out != sizes["hidden"]:
                raise CheckpointError(
                    f"{src}: key 'model.{d}.weight' has {out} outputs but 'model.0.weight' has {sizes['hidden']}: "
                    "hidden layers of different sizes are not supported (SNN-delays uses one n_hidden_neurons)"
                )
            if batchnorm:
                for name in _BN_FIELDS:
                    value = modules[d + 1][name]
                    if tuple(value.shape) != (out,):
                        raise CheckpointError(
                            f"{src}: key 'model.{d + 1}.{name}' has shape {tuple(value.shape)}, expected ({out},) "
                            f"(the outputs of 'model.{d}.weight')"
                        )
                if (modules[d + 1]["running_var"] < 0).any():
                    raise CheckpointError(f"{src}: key 'model.{d + 1}.running_var' has negative variances; the file is corrupt")
        else:
            sizes["output"] = out
        prev = (f"'model.{d}.weight'", out)
        pos = modules[d]["P"]
        peak = float(pos.abs().max()) if pos.numel() else 0.0
        largest = max(largest, peak)
        if positions_outside(pos, max_delay) is not None:
            need = 2 * math.ceil(peak - _POSITION_TOLERANCE) + 1
            raise CheckpointError(
                f"{src}: key 'model.{d}.P' has positions up to +-{peak:.2f}, beyond the +-{lim} of --max-delay {max_delay}; "
                f"the model was trained with a larger kernel: pass its max_delay (at least --max-delay {need})"
            )
    n_synapses = sum(modules[d]["P"].numel() for d in dcls)
    if n_synapses >= 64 and largest < lim - 1.5:
        guess = 2 * math.ceil(largest - _POSITION_TOLERANCE) + 1
        warnings.warn(
            f"{src}: positions span only +-{largest:.2f} of the +-{lim} that --max-delay {max_delay} allows; "
            f"if the model was trained with a smaller max_delay, pass it (perhaps --max-delay {guess}), or the delays will be off",
            stacklevel=3,
        )
    return sizes


def _map_keys(modules: dict[int, dict[str, Any]], dcls: list[int], batchnorm: bool) -> dict[str, torch.Tensor]:
    mapped: dict[str, torch.Tensor] = {}
    for i, d in enumerate(dcls):
        hidden = i < len(dcls) - 1
        prefix = f"hidden.{i}.synapse." if hidden else "readout."
        syn = modules[d]
        mapped[prefix + "weight"] = syn["weight"].detach().float().clone()
        mapped[prefix + "pos"] = syn["P"].detach().float().clone()
        sig = syn.get("SIG")
        mapped[prefix + "sig"] = torch.zeros_like(mapped[prefix + "pos"]) if sig is None else sig.detach().float().clone()
        if hidden and batchnorm:
            bn = modules[d + 1]
            for name in _BN_FIELDS:
                mapped[f"hidden.{i}.bn.{name}"] = bn[name].detach().float().clone()
            tracked = bn.get("num_batches_tracked")
            mapped[f"hidden.{i}.bn.num_batches_tracked"] = (
                torch.tensor(0, dtype=torch.long) if tracked is None else tracked.detach().to(torch.long).reshape(())
            )
    return mapped

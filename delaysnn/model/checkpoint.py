"""delaysnn checkpoints: ``torch.save`` of a plain dict, loadable with ``weights_only=True``.

Layout (format ``delaysnn-checkpoint``, version 1)::

    {"format": "delaysnn-checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {...}, "metadata": {str: scalar}}

The config records the delay kind and fraction (``delay_kind``, ``delay_fraction``; a config
without them, written before they existed, reads as synaptic delays, all learned); a model
with ``delay_fraction < 1`` holds its delay masks as ``*.delay_mask`` buffers.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import KINDS, check_input_path, sniff, write_bytes_atomic
from . import DelaySNN, ModelConfig
from .config import DELAY_KINDS
from .dcls import position_limit, positions_outside

FORMAT = "delaysnn-checkpoint"
VERSION = 1


def save_checkpoint(model: DelaySNN, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    buffer = io.BytesIO()  # in memory first: torch's writer hides a full disk's errno
    torch.save(payload, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def read_payload(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into a one-line error."""
    path = check_input_path(path, "checkpoint file")
    kind = sniff(path)
    if kind == "dnet":
        raise CheckpointError(
            f"{path}: is {KINDS[kind]}, not a checkpoint; this needs the float checkpoint (.pt) the network was "
            "quantized from (simulate, verify, estimate and export --target take a .dnet as MODEL)"
        )
    if kind == "hdf5":
        raise CheckpointError(f"{path}: is {KINDS[kind]}, not a checkpoint; give the .pt written by delaysnn train or convert")
    with open(path, "rb") as fh:
        head = fh.read(4)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle starting with 0x80).
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle); check the file name")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: holds objects other than tensors and plain containers, which delaysnn refuses to "
            "unpickle (weights_only=True); re-save it as a plain dict or state_dict"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}); is the file complete?") from err


def looks_like_snn_delays(obj: Any) -> bool:
    return isinstance(obj, dict) and any(str(k).startswith("model.") and str(k).endswith(".P") for k in obj)


def load_checkpoint(path: str | os.PathLike) -> DelaySNN:
    """Load a delaysnn checkpoint into a model in eval mode (hard, rounded delays)."""
    return load_checkpoint_and_metadata(path)[0]


def load_checkpoint_and_metadata(path: str | os.PathLike) -> tuple[DelaySNN, dict[str, Any]]:
    """:func:`load_checkpoint` and the checkpoint's ``metadata`` (task, input counts...), read once."""
    payload = read_payload(path)
    if looks_like_snn_delays(payload):
        raise CheckpointError(
            f"{path}: this is an SNN-delays state_dict, not a delaysnn checkpoint; "
            f"import it with: delaysnn convert --from snn-delays {path} -o model.pt"
        )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a delaysnn checkpoint (field 'format' is {_describe(payload)}, "
            f"expected '{FORMAT}'); train one with 'delaysnn train' or convert one"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')!r} is not supported (this delaysnn reads {VERSION})")
    if not isinstance(payload.get("config"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path}: fields 'config' and 'state_dict' must be dicts")
    cfg = ModelConfig.from_dict(payload["config"], source=f"{path}: field 'config'")
    check_weight_shapes(cfg, payload["state_dict"], source=str(path))  # before allocating the model
    model = DelaySNN(cfg)
    load_state(model, payload["state_dict"], source=str(path))
    model.eval()
    return model, payload.get("metadata", {})


def check_weight_shapes(cfg: ModelConfig, state: dict[str, Any], source: str) -> None:
    """The synapse weights of ``state`` have the shapes ``cfg`` implies: checked before the model
    is built, so a config's sizes cannot allocate more than the file itself holds."""
    sizes = cfg.sizes
    names = [f"hidden.{k}.synapse.weight" for k in range(cfg.hidden_layers)] + ["readout.weight"]
    for k, name in enumerate(names):
        want = (sizes[k + 1], sizes[k], cfg.kernel_count)
        value = state.get(name)
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else ("missing" if value is None else type(value).__name__)
        if got != want:
            raise CheckpointError(
                f"{source}: state_dict[{name!r}] has shape {got}, config 'sizes' {'-'.join(map(str, sizes))} imply {want}; "
                "the config and the weights do not belong together: re-save the checkpoint"
            )


def load_state(model: DelaySNN, state: dict[str, Any], source: str) -> None:
    """Load a state_dict, reporting missing/unexpected keys, shape mismatches, NaNs, negative
    BatchNorm variances and delay positions outside the kernel in one line."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: state_dict does not fit the config (missing {missing[:4]}, unexpected {unexpected[:4]})"
        )
    for key, ref in own.items():
        value = state[key]
        if key.endswith(".pos") and isinstance(value, torch.Tensor) and value.shape != ref.shape:
            raise CheckpointError(_kind_mismatch(model.cfg, key, tuple(value.shape), source))
        if not isinstance(value, torch.Tensor) or value.shape != ref.shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(f"{source}: state_dict[{key!r}] has shape {got}, config implies {tuple(ref.shape)}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{source}: state_dict[{key!r}] contains NaN or infinite values; retrain or fix the file")
        if key.endswith("running_var") and (value < 0).any():
            raise CheckpointError(
                f"{source}: state_dict[{key!r}] holds {int((value < 0).sum())} negative BatchNorm variances "
                f"(min {float(value.min()):.3g}); variances are >= 0: the file is corrupt, retrain or fix it"
            )
        if key.endswith(".pos"):
            peak = positions_outside(value, model.cfg.max_delay)
            if peak is not None:
                raise CheckpointError(
                    f"{source}: state_dict[{key!r}] has positions up to +-{peak:.2f}, beyond the "
                    f"+-{position_limit(model.cfg.max_delay)} of config 'max_delay' {model.cfg.max_delay} "
                    f"(rounding would clamp them onto other delays); the file is corrupt or its max_delay is wrong"
                )
    model.load_state_dict(state)
    if float(model.readout.sig.abs().max()) == 0.0:
        model.set_learn_positions(False)


def _kind_mismatch(cfg: ModelConfig, key: str, got: tuple[int, ...], source: str) -> str:
    """Why positions of shape ``got`` do not fit ``cfg``: the delay kind they would fit, or none."""
    from .layers import position_shape

    weight = key[: -len("pos")] + "weight"
    index = int(key.split(".")[1]) if key.startswith("hidden.") else cfg.hidden_layers
    sizes = cfg.sizes
    out, fan_in = sizes[index + 1], sizes[index]
    fits = [k for k in DELAY_KINDS if position_shape(k, out, fan_in, cfg.kernel_count) == got]
    want = position_shape(cfg.delay_kind, out, fan_in, cfg.kernel_count)
    head = f"{source}: state_dict[{key!r}] has shape {got}, config 'delay_kind' {cfg.delay_kind!r} implies {want}"
    if fits:
        return f"{head}; the positions are {fits[0]} delays: set config 'delay_kind' to {fits[0]!r} and re-save the checkpoint"
    return (f"{head}, and it fits no delay kind for the {weight} of {out}x{fan_in}: the delay kind cannot be determined, "
            "the file is corrupt: retrain or re-convert it")


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        return repr(obj.get("format", "missing"))
    return f"missing (file holds a {type(obj).__name__})"

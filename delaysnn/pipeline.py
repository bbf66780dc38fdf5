"""The steps the CLI chains: open a model file as an integer network, pick evaluation data,
export to a target. Everything here is also what a notebook would call."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DelaysnnError
from .fileio import check_input_path
from .ir import DelayNetwork

IR_SUFFIXES = (".dnet",)
CHECKPOINT_SUFFIXES = (".pt", ".pth")

# target -> (module, function(net, path), default suffix); imported on demand.
EXPORT_TARGETS: dict[str, tuple[str, str, str]] = {
    "loihi": ("exporters.lava", "save_netx", ".h5"),
    "nir": ("exporters.nir", "export", ".nir"),
    "onnx": ("exporters.onnx", "save", ".onnx"),
    "ir": ("delaysnn.ir", "save", ".dnet"),
}
# The float model goes only to targets that can hold it (the integer path is the default).
FLOAT_EXPORTS: dict[str, tuple[str, str]] = {
    "nir": ("exporters.nir", "export"),
    "onnx": ("exporters.onnx", "export_float"),
}


@dataclass
class QuantizeOptions:
    weight_bits: int = 8
    binary: bool = False
    input_bits: int | None = None  # None: from the checkpoint's training data (1 = binary spikes)
    profile: str | None = None
    clip_delays: bool = False
    for_netx: bool = False  # quantize within what lava-dl netx files can hold (quantize.NETX_OPTIONS)


def is_ir_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IR_SUFFIXES


def load_network(path: str | os.PathLike, opts: QuantizeOptions | None = None) -> tuple[DelayNetwork, Any]:
    """An IR file as is, or a checkpoint quantized with ``opts``; returns ``(net, report)``
    (``report`` is None for an IR file)."""
    path = check_input_path(path, "model file")
    if is_ir_file(path):
        from . import ir

        return ir.load(path), None
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise DelaysnnError(f"{path}: expected a checkpoint (.pt) or an IR file (.dnet), got {path.suffix!r}")
    from .checkpoint import load_checkpoint_and_metadata
    from .quantize import NETX_OPTIONS, input_bits_for, quantize_with_report

    opts = opts or QuantizeOptions()
    model, meta = load_checkpoint_and_metadata(path)
    input_bits = opts.input_bits
    if input_bits is None:
        input_bits = input_bits_for(int(meta.get("input_max_count", 1)))
    profile = load_profile(opts.profile) if opts.profile else None
    net, report = quantize_with_report(
        model,
        weight_bits=opts.weight_bits,
        binary=opts.binary,
        input_bits=input_bits,
        clip_delays=opts.clip_delays,
        profile=profile,
        **(NETX_OPTIONS if opts.for_netx else {}),
    )
    net.provenance["source_file"] = path.name
    if "task" in meta:
        net.provenance["task"] = str(meta["task"])
    return net, report


def load_profile(name: str) -> Any:
    from hardware import load_profile as _load

    return _load(name)


def check_profile(net: DelayNetwork, profile_name: str) -> None:
    """Raise ``HardwareLimitError`` listing every violation of the named profile."""
    from .errors import HardwareLimitError

    problems = net.validate(load_profile(profile_name))
    if problems:
        raise HardwareLimitError(
            f"network breaks profile {profile_name}: " + "; ".join(problems)
            + "; retrain within the limits or re-export with --clip-delays"
        )


def default_output(model_path: str | os.PathLike, target: str) -> Path:
    return Path(model_path).with_suffix(EXPORT_TARGETS[target][2])


def export(net: DelayNetwork, target: str, out: str | os.PathLike) -> Path:
    """Write ``net`` for ``target`` (atomically: backends write through ``fileio.atomic_path``)."""
    if target not in EXPORT_TARGETS:
        raise DelaysnnError(f"unknown target {target!r}; choose one of {sorted(EXPORT_TARGETS)}")
    module, func, _ = EXPORT_TARGETS[target]
    getattr(importlib.import_module(module), func)(net, out)
    return Path(out)


def export_float(model: Any, target: str, out: str | os.PathLike) -> Path:
    """Write the float ``DelaySNN`` for ``target`` (nir or onnx)."""
    if target not in FLOAT_EXPORTS:
        raise DelaysnnError(f"target {target!r} takes only the integer network; float export goes to {sorted(FLOAT_EXPORTS)}")
    module, func = FLOAT_EXPORTS[target]
    getattr(importlib.import_module(module), func)(model, out)
    return Path(out)


def evaluation_inputs(
    net: DelayNetwork, task: str | None, data: str | None, samples: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(x int [N, T, C], labels or None, description)`` to run ``net`` on.

    With ``--data`` the Heidelberg test split; with ``--task synthetic`` the synthetic test
    set; otherwise deterministic random spikes (no labels) at a 5 % rate.
    """
    if data is not None or task in ("shd", "ssc"):
        if data is None:
            raise DelaysnnError(f"--task {task} needs --data DIR with the official .h5 files")
        from .heidelberg import load_heidelberg

        ds = load_heidelberg(data, task or "shd", "test", max_samples=samples)
    elif task == "synthetic":
        from .datasets import synthetic_splits

        ds = synthetic_splits(n_train=1, n_test=samples, seed=seed)[1]
    else:
        from .estimate import random_input

        x = random_input(net, steps=50, rate=0.05, samples=samples, seed=seed)
        return x, None, f"{samples} random inputs (5% active, 50 steps)"
    if ds.channels != net.input_size:
        raise DelaysnnError(f"dataset {ds.name} has {ds.channels} channels, the network expects {net.input_size}")
    x = ds.x.numpy().astype(np.int32)
    if x.max(initial=0) > 2**net.input_bits - 1:
        raise DelaysnnError(
            f"dataset {ds.name} has counts up to {int(x.max())}, the network's input is {net.input_bits}-bit; "
            f"re-quantize with --input-bits {int(x.max()).bit_length()}"
        )
    return x, ds.y.numpy(), f"{len(ds)} samples of {ds.name}"

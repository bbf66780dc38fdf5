"""``delaysnn inspect``: a summary of any file delaysnn reads or writes.

A checkpoint (``.pt``, ``.pth``) is described here (:func:`describe_checkpoint`);
every other file by the backend of the registry (``exporters.TARGETS``) whose suffix it has:
``.dnet`` the IR, ``.nir``, ``.onnx``, netx ``.h5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DelaysnnError
from ..fileio import check_input_path
from .pipeline import CHECKPOINT_SUFFIXES


def describe(path: str | Path) -> dict[str, Any]:
    """A JSON-able summary of ``path``, by its suffix; one line naming the known suffixes otherwise."""
    from exporters.registry import TARGETS, for_suffix

    path = check_input_path(path)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return describe_checkpoint(path)
    backend = for_suffix(suffix)
    if backend is None:
        known = sorted({*CHECKPOINT_SUFFIXES, *(b.suffix for b in TARGETS.values() if b.can("describe"))})
        raise DelaysnnError(f"{path}: unknown file type {path.suffix!r}; expected one of {known}")
    return backend.describe(path)


def describe_checkpoint(path: Path) -> dict[str, Any]:
    from ..estimate.describe import delay_histogram
    from ..model.checkpoint import load_checkpoint_and_metadata

    model, meta = load_checkpoint_and_metadata(path)
    cfg = model.cfg
    layers = []
    for i, syn in enumerate(model.synapses):
        d = syn.kind_delays().numpy()  # as the kind stores them: one per synapse, input or output neuron
        kind = "readout" if i == len(model.synapses) - 1 else "hidden"
        kept = "" if syn.delay_mask is None else f", {int(syn.delay_mask.sum())} of {syn.delay_mask.numel()} learned"
        layers.append(
            f"{i} {kind}: {syn.in_features}->{syn.out_features}, {syn.weight.numel()} synapses, "
            f"{d.size} {cfg.delay_kind} delays{kept}: {delay_histogram(d, cfg.max_delay - 1)}"
        )
    return {
        "file": str(path),
        "kind": "delaysnn checkpoint (float model)",
        "sizes": "-".join(map(str, cfg.sizes)),
        "delay_kind": cfg.delay_kind,
        "delay_fraction": cfg.delay_fraction,
        "max_delay": cfg.max_delay,
        "dt_ms": cfg.time_step_ms,
        "tau_steps": cfg.tau,
        "synaptic_filter": cfg.synaptic_tau,
        "batchnorm": cfg.batchnorm,
        "layers": layers,
        "metadata": meta,
    }

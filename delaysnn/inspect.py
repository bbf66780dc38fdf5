"""``delaysnn inspect``: a summary of any file delaysnn reads or writes.

A checkpoint (``.pt``, ``.pth``) is described here (:func:`delaysnn.describe.describe_checkpoint`);
every other file by the backend of the registry (``exporters.TARGETS``) whose suffix it has:
``.dnet`` the IR, ``.nir``, ``.onnx``, netx ``.h5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import DelaysnnError
from .fileio import check_input_path
from .pipeline import CHECKPOINT_SUFFIXES


def describe(path: str | Path) -> dict[str, Any]:
    """A JSON-able summary of ``path``, by its suffix; one line naming the known suffixes otherwise."""
    from exporters.registry import TARGETS, for_suffix

    path = check_input_path(path)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        from .describe import describe_checkpoint

        return describe_checkpoint(path)
    backend = for_suffix(suffix)
    if backend is None:
        known = sorted({*CHECKPOINT_SUFFIXES, *(b.suffix for b in TARGETS.values() if b.can("describe"))})
        raise DelaysnnError(f"{path}: unknown file type {path.suffix!r}; expected one of {known}")
    return backend.describe(path)

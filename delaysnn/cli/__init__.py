"""The ``delaysnn`` command line: thin click commands over the Python API (``delaysnn.app.api``).

Each command parses its options, calls one API function and prints. Commands live by group:
``train`` (train, plot-training, convert), ``deploy`` (quantize, export, inspect), ``run``
(simulate, verify, verify-merge, estimate), ``search`` (search-deployment), ``data``
(make-dataset, encode-audio, demo); ``common`` holds the group, the shared options and the
entry point :func:`main` (one-line errors, exit codes, signals).
"""

from __future__ import annotations

from typing import Any

from . import data, deploy, run, search, train  # noqa: F401  (each registers its commands on `cli`)
from .common import cli, main, parse_qat, quantize_options, stop_signals
from .deploy import quantize

__all__ = ["TASK_DEFAULTS", "cli", "load_task_data", "main", "parse_qat", "quantize", "quantize_options", "stop_signals"]


def __getattr__(name: str) -> Any:
    """``TASK_DEFAULTS`` and ``load_task_data`` (now in ``delaysnn.app.api``), imported on first use:
    the command line starts without numpy."""
    if name in ("TASK_DEFAULTS", "load_task_data"):
        from ..app import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

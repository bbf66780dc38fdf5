"""Optional dependencies, imported only when an exporter needs them (``import delaysnn`` stays light)."""

from __future__ import annotations

import contextlib
import importlib
import io
import multiprocessing
import sys
from types import ModuleType

from delaysnn.errors import MissingDependencyError, UnsupportedError


def require(module: str, extra: str, quiet: bool = False) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra that provides it.

    ``quiet``: swallow what the import prints (lava-dl announces missing optional toolboxes and
    CUDA on every import, which is noise in our command output).
    """
    try:
        if quiet:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return importlib.import_module(module)
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(f"{module} is not installed (needed here); install it with: pip install 'delaysnn[{extra}]'") from err


_LAVA_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"


def import_lava_runtime() -> None:
    """Import Lava's runtime even when the multiprocessing start method is already fixed.

    lava 0.10 calls ``multiprocessing.set_start_method('fork')`` at import, which raises once
    anything has fixed the start method (tqdm's progress-bar lock does, so any run after a
    training loop would fail). Where the method is already 'fork' that call changes nothing,
    so it is let through for the duration of the import.
    """
    require("lava", extra="lava")
    if _LAVA_MP_MODULE in sys.modules:
        return
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None:
        importlib.import_module(_LAVA_MP_MODULE)
        return
    if current != "fork":
        raise UnsupportedError(
            f"Lava needs the 'fork' multiprocessing start method, but this process already uses {current!r}; "
            "run the Lava backend in a fresh process"
        )
    original = multiprocessing.set_start_method
    multiprocessing.set_start_method = lambda method, force=False: original(method, force=True)  # type: ignore[assignment]
    try:
        importlib.import_module(_LAVA_MP_MODULE)
    finally:
        multiprocessing.set_start_method = original  # type: ignore[assignment]

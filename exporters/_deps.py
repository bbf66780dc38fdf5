"""Optional dependencies, imported only when an exporter needs them (``import delaysnn`` stays light)."""

from __future__ import annotations

import importlib
from types import ModuleType

from delaysnn.errors import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(f"{module} is not installed (needed here); install it with: pip install 'delaysnn[{extra}]'") from err

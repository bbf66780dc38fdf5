"""Backends of the integer network: Lava/netx (``exporters.lava``), ONNX (``exporters.onnx``),
NIR (``exporters.nir``), all reached through one registry, :data:`TARGETS`
(``exporters.registry``). Importing this package imports no backend: each is imported when a
registry entry is first used."""

from .registry import TARGETS, Backend, backend

__all__ = ["TARGETS", "Backend", "backend"]

"""A NIR graph as a float ``DelaySNN``: the NIR backend reads the parameters
(``exporters.nir.read_record``, no torch), ``delaysnn.convert.from_nir`` builds the model.
Ours come back bit-identical; foreign graphs are composed from their standard fields."""

from __future__ import annotations

from typing import Any


def read_float(source: Any, dt: float | None = None) -> Any:
    """A float ``DelaySNN`` (eval mode) from a NIR graph (a path, bytes or a ``nir.NIRGraph``);
    ``dt`` seconds per step for foreign graphs (default: the graph metadata's ``dt``)."""
    from exporters.nir import read_record

    from ..convert.from_nir import model_from_record

    record, composed = read_record(source, dt)
    return model_from_record(record, composed=composed)

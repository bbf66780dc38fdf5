"""nirtorch modules for delaysnn's NIR graphs, by their published name: ``Delay`` (NIR 1.0's
``Delay`` has no module in nirtorch), ``LIF``/``CubaLIF``/``LI``/``CubaLI`` in our graphs'
conventions, ``node_map(dt)`` for ``nirtorch.nir_to_torch``, ``to_torch`` and ``run_steps``.

They live in :mod:`exporters.nir.modules` (the NIR backend's package); this module re-exports
them so that ``from exporters.nirtorch_delay import to_torch, run_steps`` keeps working::

    module = to_torch("model.nir")          # dt from the graph metadata (or dt=...)
    out = run_steps(module, x)              # x [batch, time, channels] -> [batch, time, out]
"""

from __future__ import annotations

from exporters.nir.modules import LI, LIF, CubaLI, CubaLIF, Delay, delay_steps, node_map, run_steps, to_torch

__all__ = ["CubaLI", "CubaLIF", "Delay", "LI", "LIF", "delay_steps", "node_map", "run_steps", "to_torch"]

"""Recorders that write every time step straight into a file the parent process maps.

Lava's own sinks (``io.sink.RingBuffer``, ``io.sink.Read``) keep their buffer in a ``Var``, and
``Var.get`` hands it back one element per message: about 28 us each, 1.3 s per speech sample
(47,000 values), more than the sample's run. These two processes do what those do, row
``time_step - 1`` per step (``StepFile`` in the spike phase, like ``RingBuffer``; ``VarFile`` in
post-management through a ``RefPort``, like ``Read``), but into a ``.npy`` file that
:func:`new_record` creates and :func:`read_record` loads. They record only: every number they
see comes from Lava's own models. Lava is imported at module level; import this module only
where Lava is (``exporters.lava`` imports it lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


def new_record(path: str | Path, steps: int, size: int, dtype: Any) -> Path:
    """An all-zero ``[steps, size]`` ``.npy`` file at ``path`` for a recorder to fill."""
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=(steps, size))
    rows.flush()
    del rows
    return Path(path)


def read_record(path: str | Path) -> np.ndarray:
    """A recorder's file, ``[steps, size]``, read into memory."""
    return np.array(np.load(path, mmap_mode="r"))


class _FileRows:
    """Row writer over a recorder's file, opened on first use inside the Lava worker process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows: np.ndarray | None = None

    def write(self, step: int, data: np.ndarray) -> None:
        if self.rows is None:
            self.rows = np.load(self.path, mmap_mode="r+")
        self.rows[step - 1] = data  # a shared file mapping: the parent sees it once the run returns


class StepFile(AbstractProcess):
    """Receives a vector each time step (``a_in``) and writes it to row ``time_step - 1`` of the
    ``.npy`` file at ``path`` (made by :func:`new_record`)."""

    def __init__(self, *, shape: tuple[int, ...], path: str | Path) -> None:
        super().__init__(shape=shape, path=str(path))
        self.a_in = InPort(shape=shape)


class VarFile(AbstractProcess):
    """Reads ``var`` each time step after the spike phase (as ``io.sink.Read`` does) and writes
    it to row ``time_step - 1`` of the ``.npy`` file at ``path``."""

    def __init__(self, *, var: Any, path: str | Path) -> None:
        super().__init__(shape=var.shape, path=str(path))
        self.state = RefPort(var.shape)
        self.state.connect_var(var)


@implements(proc=StepFile, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStepFileModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params: Any) -> None:
        super().__init__(proc_params)
        self.out = _FileRows(self.proc_params["path"])

    def run_spk(self) -> None:
        self.out.write(self.time_step, self.a_in.recv())


@implements(proc=VarFile, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyVarFileModel(PyLoihiProcessModel):
    state: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params: Any) -> None:
        super().__init__(proc_params)
        self.out = _FileRows(self.proc_params["path"])

    def post_guard(self) -> bool:
        return True

    def run_post_mgmt(self) -> None:
        self.out.write(self.time_step, self.state.read())


# The models, given to the run config directly: Lava's model search would otherwise exec every
# module beside this one.
MODELS = {StepFile: PyStepFileModel, VarFile: PyVarFileModel}

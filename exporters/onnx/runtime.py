"""The integer ONNX model in onnxruntime: sessions and runs, results as ``SimResult`` on
``delaysnn.sim``'s time axis."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from delaysnn.errors import DataError, UnsupportedError
from delaysnn.ir import DelayNetwork

from .common import FORMAT, INPUT, VOLTAGES, _require
from .integer import build

if TYPE_CHECKING:  # heavy, optional: imported inside the functions that need them
    import onnx

    from delaysnn.sim import SimResult


def session(model: onnx.ModelProto | str | os.PathLike, threads: int = 0) -> Any:
    """An onnxruntime CPU session (``threads=0``: onnxruntime's default)."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # unused final Scan states are reported as warnings otherwise
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(net_or_path: DelayNetwork | str | os.PathLike, x: Any, *, steps: int | None = None, threads: int = 0) -> SimResult:
    """Run the integer model in onnxruntime; the result has exactly ``delaysnn.sim.simulate``'s
    shapes, dtypes and alignment (``steps`` as the sim's: default ``T + extra_steps``)."""
    if isinstance(net_or_path, DelayNetwork):
        sess = session(build(net_or_path), threads)
    else:
        from delaysnn.fileio import check_input_path

        sess = session(check_input_path(net_or_path, "ONNX model"), threads)
    return run_session(sess, x, steps=steps)


def run_session(sess: Any, x: Any, *, steps: int | None = None) -> SimResult:
    """Run an existing session (benchmarks reuse one) and wrap the outputs as a ``SimResult``."""
    from delaysnn.sim import Alignment, SimResult, check_payloads

    meta = sess.get_modelmeta().custom_metadata_map
    if meta.get("delaysnn.format") != FORMAT:
        raise UnsupportedError(
            f"ONNX model has metadata delaysnn.format={meta.get('delaysnn.format')!r}, expected {FORMAT!r}; "
            "export the integer network with `delaysnn export MODEL --target onnx`"
        )
    # the graph casts payloads unchecked (an 8-bit Cast wraps): validate as the sim does
    x = check_payloads(x, int(meta["delaysnn.sizes"].split("-")[0]), int(meta["delaysnn.input_bits"])).astype(np.int32)
    pad, t_in = int(meta["delaysnn.extra_steps"]), x.shape[1]
    n_steps = t_in + pad if steps is None else int(steps)
    if n_steps < 1:
        raise DataError(f"steps={n_steps}: a run needs at least one step")
    if n_steps > t_in + pad:  # more steps: feed zeros (what the sim's padding does)
        x = np.concatenate([x, np.zeros((x.shape[0], n_steps - t_in - pad, x.shape[2]), x.dtype)], axis=1)
    names = [VOLTAGES] + json.loads(meta["delaysnn.spike_outputs"])
    got = dict(zip(names, sess.run(names, {INPUT: x})))
    cut = slice(None, n_steps)  # fewer steps: causal, so the first n_steps are the shorter run
    latency = tuple(json.loads(meta["delaysnn.latency"]))
    return SimResult(
        spikes=[np.ascontiguousarray(got[name][:, cut]) for name in names[1:]],
        voltages=np.ascontiguousarray(got[VOLTAGES][:, cut]),
        alignment=Alignment(input_steps=t_in, steps=n_steps, latency=latency),
        readout_scale=float(meta.get("delaysnn.readout_scale", 1.0)),
    )

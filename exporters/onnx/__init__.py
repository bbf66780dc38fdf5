"""ONNX backend: the integer network as an ONNX model that onnxruntime runs spike for spike like
``delaysnn.sim`` (``Scan`` over time, integer ops; lowering rules in :mod:`.integer`), and the
float model (``export --float``) built from the float IR (:mod:`.floating`).

Modules, by job: ``common`` (names, format tags, the graph collector, ``model_proto``,
``step_graph``), ``integer`` (the integer graph: ``build``, ``save``, ``export``), ``floating``
(the float-IR graph: ``build_float``, ``export_float``), ``runtime`` (onnxruntime sessions and
runs), ``describe`` (reading and summarising a file). onnx and onnxruntime are imported lazily,
inside the functions, by absolute imports (``onnx`` is the real package; this one is
``exporters.onnx``): ``import exporters.onnx`` needs only numpy.
"""

from .common import FLOAT_FORMAT, FORMAT, INPUT, OPSET, VERSION, VOLTAGES, model_proto, spikes_name, step_graph
from .describe import describe, read_model
from .floating import build_float, export_float
from .integer import build, export, extra_steps, save
from .runtime import run, run_session, session

__all__ = [
    "FLOAT_FORMAT",
    "FORMAT",
    "INPUT",
    "OPSET",
    "VERSION",
    "VOLTAGES",
    "build",
    "build_float",
    "describe",
    "export",
    "export_float",
    "extra_steps",
    "model_proto",
    "read_model",
    "run",
    "run_session",
    "save",
    "session",
    "spikes_name",
    "step_graph",
]

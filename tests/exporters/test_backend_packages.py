"""``exporters.lava`` and ``exporters.onnx`` are packages split by job whose names do not shadow
the real ``lava`` and ``onnx``: importing them loads neither, and the lazy imports inside them
reach the installed packages."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_lava_here

ROOT = Path(__file__).resolve().parents[2]
SPLIT = ("exporters/lava", "exporters/onnx")


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_importing_the_backend_packages_loads_no_backend_dependency():
    code = (
        "import sys, exporters.lava, exporters.onnx\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'lava', 'onnx', 'onnxruntime', 'h5py'})\n"
        "print(loaded)\n"
    )
    assert _fresh(code).strip() == "[]"


# Runs in a fresh interpreter: calls into our package, then checks where the modules its lazy
# imports loaded come from (the installed packages, not anything under exporters/).
REAL_PACKAGE = """
import sys
from pathlib import Path
from tests.factories import NetSpec, random_network
import exporters.{ours} as ours
net = random_network(NetSpec(sizes=(3, 4, 2), seed=1))
made = {call}
real = sys.modules["{real}"]
exporters_dir = Path("exporters").resolve()
assert ours.__name__ == "exporters.{ours}" and real is not ours
for name in {modules}:
    module = sys.modules[name]
    # lava is a namespace package: no __file__, its directories in __path__
    for where in [Path(module.__file__)] if module.__file__ else map(Path, module.__path__):
        where = where.resolve()
        assert exporters_dir not in where.parents, (name, where)
        assert "site-packages" in where.parts, (name, where)
print(type(made).__module__)
"""


@pytest.mark.lava
@pytest.mark.slow
def test_lava_inside_exporters_lava_is_the_real_lava():
    needs_lava_here()  # builds Lava processes in this Python: the bridge cannot stand in
    call = "ours.build(net, steps=3)"
    code = REAL_PACKAGE.format(ours="lava", call=call, real="lava", modules=["lava", "lava.magma", "lava.proc.dense.process"])
    code += "print(type(made.synapses[0]).__module__, type(made.neurons[0]).__module__)\n"
    lines = _fresh(code).split()
    assert lines[0] == "exporters.lava.graph"
    assert lines[1:] == ["lava.proc.dense.process", "lava.proc.lif.process"]


@pytest.mark.slow
def test_onnx_inside_exporters_onnx_is_the_real_onnx():
    call = "ours.run(net, [[[1, 0, 1]] * 4]).voltages"
    code = REAL_PACKAGE.format(ours="onnx", call=call, real="onnx", modules=["onnx", "onnxruntime"])
    code += "print(type(ours.build(net)).__module__)\n"
    lines = _fresh(code).split()
    assert lines == ["numpy", "onnx.onnx_ml_pb2"]


@pytest.mark.parametrize("package", SPLIT)
def test_backend_packages_are_split_by_job(package):
    """Split by job, not one module (the length of every module: tests/test_architecture.py)."""
    modules = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(modules) >= 5, modules

"""The shape of the code: no import cycles, the IR and the arithmetic import no backend, and
``import delaysnn`` / ``import exporters`` stay light.

The import graph is read with ``ast`` from every module under ``delaysnn/``, ``exporters/`` and
``hardware/``: module-level and function-level imports alike (a lazy import still ties two
modules together), plus the ``"module:function"`` references of the backend registry
(``exporters.registry``), which are imports by another name.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("delaysnn", "exporters", "hardware")
# Modules that hold the semantics every backend follows: they must not depend on any backend.
CORE = ("delaysnn.constants", "delaysnn.ir", "delaysnn.sim", "delaysnn.sim.kernels")
BACKENDS = ("exporters",)


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of our packages (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(target: str) -> str | None:
    """The module of ours that importing ``target`` names (longest known prefix), or None."""
    parts = target.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in MODULES:
            return name
    return None


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours that module ``name`` imports, anywhere in its body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != name:
                found.add(resolved)
    return found


def _registry_references() -> set[str]:
    """Modules named by the registry's ``"module:function"`` strings (imported on demand)."""
    from exporters.registry import TARGETS

    refs = set()
    for backend in TARGETS.values():
        for ref in backend.references():
            resolved = _resolve(ref.partition(":")[0])
            if resolved is not None:
                refs.add(resolved)
    return refs


def import_graph() -> dict[str, set[str]]:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    graph["exporters.registry"] |= _registry_references() - {"exporters.registry"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_graph_reader_sees_lazy_relative_and_registry_imports():
    graph = import_graph()
    assert "delaysnn.sim.kernels" in graph["delaysnn.sim.runner"]  # `from . import kernels` inside a function
    assert "delaysnn.sim.runner" in graph["delaysnn.sim"]  # a package re-exporting its submodules
    assert "delaysnn.constants" in graph["delaysnn.ir"]
    assert "exporters.lava.runtime" in graph["exporters.registry"]  # a registry string reference
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles (module-level or lazy): " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", CORE)
def test_the_semantics_import_no_backend(module):
    reached = _reachable(import_graph(), module)
    bad = sorted(m for m in reached if m.split(".")[0] in BACKENDS)
    assert not bad, f"{module} reaches backend modules {bad}"


def test_constants_import_nothing():
    tree = ast.parse(MODULES["delaysnn.constants"].read_text())
    imported = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) for n in imported] == ["__future__"]


def _fresh_import(code: str) -> set[str]:
    """The top-level packages loaded after running ``code`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return set(out.stdout.split())


HEAVY = {"torch", "lava", "onnxruntime", "onnx", "nir", "nirtorch", "numba", "h5py", "click"}


@pytest.mark.parametrize(
    "code",
    [
        "import delaysnn",
        "import exporters",
        "import exporters.registry; exporters.registry.TARGETS['onnx'].suffix",
        "import delaysnn.ir, delaysnn.sim, delaysnn.constants",
    ],
)
def test_light_imports(code):
    heavy = _fresh_import(code) & HEAVY
    assert not heavy, f"`{code}` imports {sorted(heavy)}"


# --- one place for the arithmetic -------------------------------------------------------------


def test_constants_are_the_ones_everyone_uses():
    from delaysnn import constants as C
    from delaysnn import ir, sim
    from delaysnn.sim import kernels

    assert C.U_WRAP == 2**23 and C.U_NO_WRAP_MAX == 2**23 - 1 and C.V_SATURATION == 2**23 - 1
    assert C.U_MODULUS == 2**C.REGISTER_BITS and C.DECAY_UNITY == 4096 == C.DECAY_MAX + 1
    assert ir.READOUT_VTH == C.READOUT_VTH == C.VTH_MAX and ir.DECAY_MAX == C.DECAY_MAX
    # the sim's rules at the edges of the named limits
    assert sim.wrap_current(np.array([C.U_WRAP, C.U_WRAP + 1, -C.U_WRAP, -C.U_NO_WRAP_MAX])).tolist() == [
        C.U_WRAP, C.U_WRAP + 1 - C.U_MODULUS, C.U_WRAP, -C.U_NO_WRAP_MAX
    ]
    assert sim.voltage_update(np.array([C.V_SATURATION]), np.array([5]), 0, np.zeros(1, np.int64)).tolist() == [C.V_SATURATION]
    assert kernels.U_WRAP is C.U_WRAP and kernels.LAYER_LATENCY == C.LAYER_LATENCY


def test_sim_and_quantize_decays_have_distinct_names():
    from delaysnn import sim
    from delaysnn.quantization import decay_for_tau

    assert not hasattr(sys.modules[decay_for_tau.__module__], "decay") and decay_for_tau(2.0, current=True) == 2047
    assert sim.decay(np.array([4096]), 2048).tolist() == [2048]


def test_the_loihi2_profile_agrees_with_the_arithmetic():
    """The profile is data with sources; where it states a fact of the arithmetic or of netx,
    it must be the constant's value."""
    from delaysnn import constants as C
    from hardware import load_profile

    lim = load_profile("loihi2").limits
    assert lim.max_delay.value == C.NETX_MAX_DELAY
    assert lim.weight_bits.value == C.WEIGHT_BITS_MAX == C.LAVA_WEIGHT_BITS
    assert lim.weight_exp_max.value == C.WEIGHT_EXP_MAX
    assert lim.decay_bits.value == C.DECAY_SHIFT
    assert lim.vth_bits.value == C.VTH_BITS
    assert lim.bias_mant_bits.value == C.BIAS_MANT_BITS
    assert lim.bias_exp_max.value == C.BIAS_EXP_MAX
    assert lim.graded_spike_bits.value == C.INPUT_BITS_MAX
    assert 2**lim.delay_bits.value - 1 == C.DELAYDENSE_MAX_DELAY
    assert lim.delay_bits.value == C.DELAYDENSE_DELAY_BITS  # train --delay-bits refuses wider with it


# --- layers: package-level dependencies (issue #24) -------------------------------------------
#
# A package is the folder a module sits in (``delaysnn/app/api.py`` is in ``delaysnn.app``,
# ``exporters/lava/graph.py`` in ``exporters.lava``). The module-level cycle test above passes
# while whole packages still import each other through different modules: these rules read the
# same graph (lazy imports and registry strings included) one level up.

# The application layer and the CLI: the only importers of the backends.
APPLICATION = ("delaysnn.app", "delaysnn.cli")
TRAINING = ("delaysnn.training",)
TORCH_MODEL = ("delaysnn.model",)


# The top-level package's ``__init__`` (``load``/``quantize``/``simulate``) and ``__main__``
# (``python -m delaysnn``) are the public facade over every layer, while the flat modules beside
# them (errors, constants, fileio, limits, spec, version, ...) are the bottom layer that every
# package imports. Python puts both in one folder, so the facade is a node of its own here; no
# module of ours may import it (test_nothing_imports_the_facade).
FACADE = ("delaysnn", "delaysnn.__main__")
FACADE_NODE = "delaysnn (facade)"


def _package(module: str) -> str:
    if module in FACADE:
        return FACADE_NODE
    return module if _is_package(module) else module.rpartition(".")[0]


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@cache
def _tree_graph() -> dict[str, set[str]]:
    """The import graph of the tree, read once for the layer rules (the files do not change mid-run)."""
    return import_graph()


def package_graph(graph: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in (graph or _tree_graph()).items():
        for dep in deps:
            if _package(module) != _package(dep):
                out.setdefault(_package(module), set()).add(_package(dep))
    return out


def tangles(packages: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Pairs of packages that import each other (sorted pairs)."""
    return {tuple(sorted((a, b))) for a, deps in packages.items() for b in deps if a in packages.get(b, ())}


def _imports_of(prefixes: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    """``importer -> imported`` for every direct import from modules under ``prefixes`` into ``targets``."""
    return sorted(
        f"{m} -> {d}" for m, deps in _tree_graph().items() if _under(m, prefixes) for d in deps if _under(d, targets) and not _under(m, targets)
    )


def test_package_graph_reader():
    graph = {"p.a": {"q.b"}, "q.b": {"p.c"}, "p.c": set(), "r.d": {"p.a"}}
    assert tangles(package_graph(graph)) == {("p", "q")}  # p.a -> q.b -> p.c: no module cycle, a package tangle
    assert not _cycles(graph)
    assert _package("delaysnn.app.api") == "delaysnn.app" and _package("delaysnn.errors") == "delaysnn" and _package("delaysnn.ir") == "delaysnn.ir"
    assert _package("exporters.lava.graph") == "exporters.lava"
    assert _package("delaysnn") == _package("delaysnn.__main__") == FACADE_NODE != _package("delaysnn.errors")


def test_nothing_imports_the_facade():
    """The facade imports every layer; a module importing it back (``from .. import X`` at the
    top level) would tie its package to all of them."""
    bad = sorted(f"{m} -> {d}" for m, deps in _tree_graph().items() if m not in FACADE for d in deps if d in FACADE)
    assert not bad, bad


def test_no_package_tangles():
    """No two packages import each other (lazily or not): the layers show in the folders."""
    found = sorted(tangles(package_graph()))
    assert not found, "packages that import each other (lazily or not): " + "; ".join(" <-> ".join(p) for p in found)


def test_only_the_application_and_the_cli_import_the_backends():
    importers = sorted({line.split(" -> ")[0] for line in _imports_of(("delaysnn", "hardware"), ("exporters",))})
    assert all(_under(m, APPLICATION) for m in importers), importers
    assert importers, "the application reaches no backend: the rule checks nothing"


def test_backends_import_no_application_or_training_module():
    bad = _imports_of(("exporters",), APPLICATION + TRAINING)
    assert not bad, bad


def test_no_backend_imports_the_torch_model():
    bad = _imports_of(("exporters",), TORCH_MODEL)
    assert not bad, bad


def test_quantization_imports_no_application_training_or_backend():
    bad = _imports_of(("delaysnn.quantization",), APPLICATION + TRAINING + ("exporters",))
    assert not bad, bad


def test_quantization_imports_no_torch_model():
    bad = _imports_of(("delaysnn.quantization",), TORCH_MODEL)
    assert not bad, bad


# --- module length -------------------------------------------------------------------------------

MAX_LINES = 500
# Modules allowed over MAX_LINES, each with its reason; an entry whose module is back under the
# limit (or gone) fails test_long_module_allowances_are_still_needed, so it cannot outlive its reason.
LONG_MODULES: dict[str, str] = {
    "delaysnn/app/verify.py": "parity, sharded runs, report files and JUnit in one module: to split (#24)",
    "delaysnn/app/pipeline.py": "every command's option rules and loaders: to split (DeploySpec takes the recipe rules, #24)",
}


def _length(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_module_length(module):
    path = MODULES[module]
    rel = path.relative_to(ROOT).as_posix()
    lines = _length(path)
    assert lines <= MAX_LINES or rel in LONG_MODULES, f"{rel}: {lines} lines > {MAX_LINES}: split it, or add it to LONG_MODULES with the reason"


@pytest.mark.parametrize("rel", sorted(LONG_MODULES))
def test_long_module_allowances_are_still_needed(rel):
    assert LONG_MODULES[rel].strip()
    path = ROOT / rel
    assert path.exists() and _length(path) > MAX_LINES, f"{rel} is back under {MAX_LINES} lines (or gone): delete its LONG_MODULES entry"


# --- function length -----------------------------------------------------------------------------

MAX_FUNCTION_LINES = 80
# Functions (``path:Qualified.name``) allowed over MAX_FUNCTION_LINES, each with its reason; like
# LONG_MODULES, an entry whose function is back under the limit (or gone) fails its own test.
LONG_FUNCTIONS: dict[str, str] = {
    "delaysnn/data/spoken_digits.py:make_spoken_digits": "being split by the data-set work (delaysnn/data/batch.py takes its batching)",
    "delaysnn/data/fsdd.py:make_fsdd": "new with the FSDD data set, being written beside make_spoken_digits (to share its steps)",
}


@cache
def function_lengths() -> dict[str, int]:
    """``path:Qualified.name`` -> lines (``def`` to its last line, decorators aside) of every function
    and method under our packages; nested functions are named inside their parent."""
    out: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str, rel: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out[f"{rel}:{name}"] = child.end_lineno - child.lineno + 1
                visit(child, name + ".", rel)
            else:
                visit(child, prefix, rel)

    for path in MODULES.values():
        visit(ast.parse(path.read_text(), filename=str(path)), "", path.relative_to(ROOT).as_posix())
    return out


def test_function_lengths_are_read():
    lengths = function_lengths()
    assert lengths["delaysnn/training/train.py:train"] < MAX_FUNCTION_LINES
    assert "delaysnn/training/trainer.py:Trainer.step" in lengths and "delaysnn/training/distributed.py:GlobalBatchNorm1d.forward" in lengths
    assert all(n >= 1 for n in lengths.values()) and len(lengths) > 500


def test_no_function_over_the_limit():
    long = {f: n for f, n in function_lengths().items() if n > MAX_FUNCTION_LINES and f not in LONG_FUNCTIONS}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}; split them, or add them to LONG_FUNCTIONS with the reason"


@pytest.mark.parametrize("name", sorted(LONG_FUNCTIONS))
def test_long_function_allowances_are_still_needed(name):
    assert LONG_FUNCTIONS[name].strip()
    n = function_lengths().get(name, 0)
    assert n > MAX_FUNCTION_LINES, f"{name} is {n} lines now (0: gone): delete its LONG_FUNCTIONS entry"

import os
import shutil
import signal

import pytest
import torch

# Two cores on CI: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny_model():
    from delaysnn.model import DelaySNN, ModelConfig

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=6, output_size=3, hidden_size=8, hidden_layers=2, max_delay=7))
    with torch.no_grad():
        for layer in model.hidden:
            layer.bn.running_mean.uniform_(-0.2, 0.2)
            layer.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    return model


# espeak-ng is a system package that `make test` and .ci/run install: off CI a machine without it
# skips the speech tests with the install command; on CI (CI=true) they run and fail instead.
ESPEAK_MISSING = shutil.which("espeak-ng") is None and not os.environ.get("CI")
needs_espeak = pytest.mark.skipif(ESPEAK_MISSING, reason="espeak-ng not installed (apt-get install -y espeak-ng; `make test` does it)")


# Lava (lava-nc 0.10) installs on Python 3.10 only; elsewhere the lava/netx backends run in a 3.10
# environment through exporters.lava.bridge. Tests marked `lava` skip, with the way to get Lava,
# where there is neither; DELAYSNN_REQUIRE_LAVA=1 (.ci/run, whose legs must have it) makes that a failure.
REQUIRE_LAVA = os.environ.get("DELAYSNN_REQUIRE_LAVA") == "1"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lava") is None:
        return
    from exporters.lava import bridge

    why = bridge.available()
    if why is not None:
        (pytest.fail if REQUIRE_LAVA else pytest.skip)(f"Lava unavailable: {why}" + (" (DELAYSNN_REQUIRE_LAVA=1)" if REQUIRE_LAVA else ""))


def needs_lava_here(module: str = "lava.proc.lif.models") -> None:
    """At a test module's top: skip it where this Python cannot import Lava itself (it builds Lava
    processes in process, so the bridge cannot stand in); a failure under DELAYSNN_REQUIRE_LAVA=1
    on Python 3.10, the leg that holds Lava."""
    import sys

    if REQUIRE_LAVA and sys.version_info[:2] == (3, 10):
        __import__(module)
        return
    pytest.importorskip(module, reason="Lava is not importable on this Python (its tests run on the 3.10 leg: .venv-lava)")


def run_cli(args, capsys) -> tuple[int, str, str]:
    """``delaysnn ARGS`` in process, as a user runs it: ``(exit code, stdout, stderr)``."""
    from delaysnn.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def default_signals() -> None:
    """``preexec_fn`` for subprocesses that tests signal: a runner started under ``nohup`` or in a
    background job ignores SIGHUP / SIGINT, and a child would inherit that (and delaysnn keeps a
    signal that was ignored at start ignored)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)

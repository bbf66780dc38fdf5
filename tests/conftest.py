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

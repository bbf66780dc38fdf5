"""What every command shares: the ``delaysnn`` group, the quantization options, printing, and the
entry point :func:`main`, the only place a ``DelaysnnError`` becomes a one-line message and exit
code 1 (``--debug`` re-raises) and a signal an exit code; library code never prints errors or exits.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ..errors import DelaysnnError, OptionError, Terminated
from ..version import __version__

if TYPE_CHECKING:
    from ..app.pipeline import QuantizeOptions


def targets(ability: str) -> list[str]:
    """Names of the registry's backends that can ``ability`` (export, float, run, describe)."""
    from exporters.registry import names

    return names(ability)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def note(message: str) -> None:
    """A note for the user, on stderr (the api's ``note``)."""
    click.echo(message, err=True)


def parse_qat(value: str | None) -> tuple[int | None, bool, bool]:
    """``--qat`` as ``(bits, binary, ternary)``."""
    if value is None:
        return None, False, False
    if value.lower() in ("binary", "ternary"):
        return None, value.lower() == "binary", value.lower() == "ternary"
    try:
        bits = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a bit width 1..8 nor 'binary' or 'ternary'", param_hint="'--qat'") from None
    if not 1 <= bits <= 8:
        raise click.BadParameter(f"{bits} is outside 1..8 (or use 'binary' or 'ternary')", param_hint="'--qat'")
    return bits, False, False


class Finite(click.FloatRange):
    """The type of every float option: a number within ``click.FloatRange``'s bounds that is also
    finite. FloatRange alone lets NaN through (every comparison with NaN is false) and infinity
    through an open end, and either then fails far from the option, as a traceback or a wrong message."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class CommaList(click.ParamType):
    """The type of every comma-separated list option: each item converted by ``item`` (a click
    type), ``words`` mapping extra spellings (e.g. ``{"full": None}``). An item given twice is a
    usage error: it would be run, and counted, twice (``--backends sim,sim,sim`` once reported 9
    samples for 3)."""

    name = "list"

    def __init__(self, item: click.ParamType, words: dict[str, Any] | None = None) -> None:
        self.item, self.words = item, dict(words or {})

    def convert(self, value: Any, param: Any, ctx: Any) -> list[Any]:
        if isinstance(value, list):
            return value
        out: list[Any] = []
        for text in (v.strip() for v in str(value).split(",")):
            if not text:
                continue
            item = self.words[text.lower()] if text.lower() in self.words else self.item.convert(text, param, ctx)
            if item in out:
                self.fail(f"{text!r} is given twice in {value!r}: list each value once", param, ctx)
            out.append(item)
        if not out:
            self.fail(f"{value!r} lists nothing: give at least one value", param, ctx)
        return out


class Workers(click.IntRange):
    """``--workers N``: at least 1, capped with a note at the cores this process may use (more only
    queue for them: 1000 workers on 2 cores ran 23x slower). A cap rather than a refusal, so that
    one command line runs on machines of any size."""

    def __init__(self) -> None:
        super().__init__(min=1)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from ..processes import usable_cores

        workers = super().convert(value, param, ctx)
        cores = usable_cores()
        if workers > cores:
            note(f"note: --workers {workers} capped at {cores}, the cores this process may use")
            return cores
        return workers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="delaysnn")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """delaysnn: spiking networks with learned per-synapse delays, from training to hardware.

    \b
    Example:
      delaysnn train --task synthetic -o model.pt
      delaysnn export model.pt --target loihi
    """
    # --debug is read by main() from argv, before click parses anything


def quantize_options(f: Any, limits_profile: bool = True, deploy_target: bool = True) -> Any:
    """Options shared by every command that may quantize a checkpoint on the way; ``deploy_target``:
    with ``--target`` (export has its own, the file format)."""
    from exporters.registry import DEFAULT_DEPLOY_TARGET, PLAIN_TARGET, deploy_targets

    opts = [
        click.option("--weight-bits", type=click.IntRange(1, 8),
                     help="Fixed-point weight bits (default: the grid a QAT checkpoint was trained through, else 8)."),
        click.option("--binary", is_flag=True, help="Binary weights: sign x per-layer scale (BS4NN)."),
        click.option("--input-bits", type=click.IntRange(1, 24), help="Graded input bits (default: from the training data)."),
        click.option("--clip-delays", is_flag=True, help="Clip delays beyond the limit instead of refusing."),
        click.option("--ternary", is_flag=True, help="Ternary weights {-1, 0, +1} x a per-layer scale (TWN threshold 0.7 mean|W|)."),
        click.option("--delay-bits", type=click.IntRange(1, 12), help="Each layer's delays take at most 2**B values (see --delay-grid)."),
        click.option("--delay-grid", type=click.Choice(["step", "cap"]),
                     help="With --delay-bits: 'step' (default) keeps the range on a per-layer step s (delays s*k), 'cap' clips delays to 2**B - 1."),
        click.option("--prune", type=Finite(0, 1, max_open=True), metavar="FRACTION",
                     help="Remove this fraction of the synapses, smallest folded |weight| first (pruned synapses are absent)."),
        click.option("--prune-scope", type=click.Choice(["layer", "global"]),
                     help="With --prune: the fraction of each layer (default) or of the whole network (every layer keeps one synapse)."),
    ]
    if limits_profile:
        opts.insert(3, click.option("--profile", default=None, help="Hardware profile to check (name, e.g. loihi2, or a .toml path)."))
    if deploy_target:
        opts.insert(0, click.option(
            "--target", type=click.Choice([*deploy_targets(), PLAIN_TARGET]),
            help=f"The network export --target ships: {DEFAULT_DEPLOY_TARGET} quantizes within what lava-dl netx files hold and "
                 f"checks the loihi2 profile (unless --profile); {PLAIN_TARGET}: the plain quantization (what --target "
                 f"ir/onnx/nir ship). Default: {PLAIN_TARGET}, except verify of a checkpoint: {DEFAULT_DEPLOY_TARGET}."))
    for opt in reversed(opts):
        f = opt(f)
    return f



def quantize_opts(kw: dict[str, Any]) -> QuantizeOptions:
    """Pop the ``quantize_options`` from ``kw`` as ``QuantizeOptions`` on one ``DeploySpec`` (its
    rules: usage errors, exit 2; options MODEL cannot take: pipeline.check_options, which the api calls)."""
    from ..app.pipeline import QuantizeOptions
    from ..spec import DeploySpec

    spec = DeploySpec.from_flags(*(kw.pop(k) for k in ("weight_bits", "binary", "ternary", "delay_bits", "delay_grid", "prune", "prune_scope")))
    opts = QuantizeOptions(input_bits=kw.pop("input_bits"), profile=kw.pop("profile", None), target=kw.pop("target", None),
                           clip_delays=kw.pop("clip_delays"))
    return opts.with_spec(spec.validate())



@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """The signal policy of the command line, for the duration of the block.

    SIGINT keeps Python's KeyboardInterrupt (a second Ctrl-C interrupts the cleanup too).
    SIGTERM and SIGHUP raise :class:`~delaysnn.errors.Terminated`, so every ``atomic_path``
    on the way up removes its temporary and worker pools are shut down, exactly as for Ctrl-C;
    repeats of them are ignored while that unwinds. A signal already ignored (``nohup``) stays
    ignored; the previous handlers come back on exit. Library code installs no handlers.
    """
    names = [signal.SIGTERM, signal.SIGHUP] if hasattr(signal, "SIGHUP") else [signal.SIGTERM]

    def raise_terminated(signum: int, frame: Any) -> None:
        for s in names:
            signal.signal(s, signal.SIG_IGN)
        raise Terminated(signum)

    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for s in names:
            if signal.getsignal(s) is not signal.SIG_IGN:
                previous[s] = signal.signal(s, raise_terminated)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit code 1 (``--debug`` shows tracebacks).

    Interrupted (see :func:`stop_signals`): one line, exit code 128 + the signal number (130
    for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    with stop_signals(), warnings.catch_warnings():
        if not debug:  # --debug keeps Python's own warning lines, file paths included
            warnings.showwarning = show_warning
        _run(args, debug)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` of the command line: one ``note:`` line on stderr naming the
    library that warned (torch, h5py, ...), without its site-packages path and source line."""
    text = str(message).strip().splitlines()
    parts = os.path.normpath(filename).split(os.sep)
    library = next((parts[i + 1].removesuffix(".py") for i in range(len(parts) - 1) if parts[i] in ("site-packages", "dist-packages")), None)
    prefix = f"{library}: " if library else ""
    click.echo(f"note: {prefix}{text[0] if text else category.__name__}", err=True)


class StdoutError(OSError):
    """A write to standard output failed (a full disk, ``> /dev/full``, a closed pipe)."""


class _Stdout:
    """``sys.stdout`` while a command runs: a failed write or flush raises :class:`StdoutError`,
    so :func:`main` tells it from any other ``OSError``; everything else is the stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            raise StdoutError(err.errno, err.strerror) from err

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            raise StdoutError(err.errno, err.strerror) from err


def _discard_stdout() -> None:
    """Point standard output at /dev/null: the interpreter's last flush of what could not be
    written then fails no more, and prints nothing."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _run(args: list[str], debug: bool) -> None:
    stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        code = cli.main(args=args, prog_name="delaysnn", standalone_mode=False)
        sys.stdout.flush()  # a full stdout fails here, among the handlers, not at interpreter exit
    except StdoutError as err:
        if err.errno != errno.EPIPE:  # a closed pipe (``| head``) ends quietly, as other tools do
            click.echo(f"error: cannot write to standard output ({err.strerror}); what was printed there is incomplete", err=True)
        sys.exit(1)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted; no partial output was left behind", err=True)
        sys.exit(130)
    except Terminated as sig:
        click.echo(f"{sig}; no partial output was left behind", err=True)
        sys.exit(128 + sig.signum)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except OptionError as err:  # the api's option rules (pipeline.check_options...): a usage error, as click's own
        usage = click.UsageError(str(err))
        usage.show()
        sys.exit(usage.exit_code)
    except DelaysnnError as err:
        if debug:
            raise
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    finally:
        sys.stdout = stdout
        try:  # what could not be written (click ends a closed pipe itself) must not fail again at exit
            stdout.flush()
        except (OSError, ValueError):
            _discard_stdout()
    sys.exit(code if isinstance(code, int) else 0)

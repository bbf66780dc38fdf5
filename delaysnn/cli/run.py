"""``delaysnn simulate``, ``verify``, ``verify-merge`` and ``estimate``: running integer networks."""

from __future__ import annotations

from typing import Any

import click

from ..errors import DelaysnnError
from .common import CommaList, Workers, cli, echo_json, note, quantize_options, quantize_opts, targets


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Default: the task the model was trained on.")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--samples", type=click.IntRange(min=1), help="Default: the whole test split (512 random inputs without data).")
@click.option("--plot", type=click.Path(), help="Write a spike raster of the first sample (.png, .pdf or .svg).")
@click.option("--json", "as_json", is_flag=True)
@quantize_options
def simulate(model: str, task: str | None, data: str | None, samples: int | None, plot: str | None, as_json: bool, **kw: Any) -> None:
    """Run the bit-accurate integer simulator and report accuracy (and firing rates).

    \b
    Example:
      delaysnn simulate model.pt --task synthetic --samples 512
      delaysnn simulate model.dnet --data ~/data/SHD --plot raster.png
    """
    from ..app.agreement import agreement_line
    from ..app.api import simulate as run_simulate

    done = run_simulate(model, None, quantize_opts(kw), task=task, data=data, samples=samples, plot=plot, note=note)
    info = done.to_dict()
    if as_json:
        echo_json(info)
        return
    click.echo(f"inputs: {done.inputs}")
    click.echo(f"network: {done.network.describe()}")
    if done.accuracy is not None:
        click.echo(f"accuracy (integer network): {100 * done.accuracy:.1f}%")
    click.echo(agreement_line(info))
    click.echo("firing rates per hidden layer: " + ", ".join(f"{100 * r:.2f}%" for r in done.firing_rates))
    if plot:
        click.echo(f"wrote {plot}")


class SamplesParam(click.ParamType):
    """``--samples N`` (N >= 1) or ``all`` (None: the whole split)."""

    name = "N|all"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | None:
        if value is None or isinstance(value, int) or str(value).lower() == "all":
            return None if value is None or str(value).lower() == "all" else value
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of samples nor 'all'", param, ctx)
        if n < 1:
            self.fail(f"{n} is not >= 1 (or use 'all')", param, ctx)
        return n


class ShardParam(click.ParamType):
    """``--shard I/N``: slice I (1-based) of N."""

    name = "I/N"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        i, sep, n = str(value).partition("/")
        try:
            index, count = int(i), int(n)
        except ValueError:
            index, count = 0, 0
        if not sep or not 1 <= index <= count:
            self.fail(f"{value!r} is not I/N with 1 <= I <= N (e.g. 2/4)", param, ctx)
        return index, count


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--backends", type=CommaList(click.STRING), default="sim,lava,netx,onnx,nir", show_default=True,
              help="Comma-separated backends to compare with the simulator (each once).")
@click.option("--samples", type=SamplesParam(), default="16", show_default=True, help="Inputs to run, or 'all' (the whole split; Lava takes ~1 s each).")
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Inputs (default: the model's task, else random spikes).")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--workers", type=Workers(), default=1, show_default=True, help="Processes running the Lava/netx backends on sample chunks.")
@click.option("--shard", type=ShardParam(), help="Check only slice I of N of the samples (I/N, 1-based); combine the --report files with verify-merge.")
@click.option("--report", "report_path", type=click.Path(), help="Write the result as JSON (network sha256, inputs, shard, counts, first mismatch).")
@click.option("--junit", "junit_path", type=click.Path(), help="Write JUnit XML: one test case per backend and layer.")
@click.option("--strict", is_flag=True, help="Exit 4 when the parity is vacuous (a hidden layer never fired, or no input events): for CI.")
@click.option("--json", "as_json", is_flag=True)
@quantize_options
def verify(model: str, backends: list[str], samples: int | None, task: str | None, data: str | None, workers: int, shard: tuple[int, int] | None,
           report_path: str | None, junit_path: str | None, strict: bool, as_json: bool, **kw: Any) -> None:
    """Spike-exact parity: every backend must reproduce the simulator's spikes and voltages.

    Reports per backend the mismatch counts per layer, the first mismatch (backend, layer,
    sample, neuron, step) and what was compared: the reference's spikes per hidden layer. A
    hidden layer that never fired (or inputs without events) makes the verdict vacuous: a
    warning, or an error with --strict. A backend that cannot run the network is skipped,
    with the reason, not failed.

    \b
    Exit codes:
      0  every backend identical to the simulator
      1  some backend differs (mismatch)
      3  none differs, but some backend was skipped
      4  --strict: identical, but vacuous

    \b
    Example:
      delaysnn verify model.pt --target loihi --backends sim,lava,netx,onnx,nir --samples 8
      delaysnn verify model.dnet --backends onnx --samples 256
      delaysnn verify model.pt --data ~/data/SHD --samples all --workers 2 --junit report.xml
      delaysnn verify model.pt --data ~/data/SHD --samples all --shard 2/4 --report part2.json
    """
    from ..app.api import verify as run_verify

    names = list(backends)  # CommaList: no duplicates
    runnable = targets("run")
    unknown = [b for b in names if b not in runnable]
    if unknown or not names:
        raise click.BadParameter(f"unknown backend(s) {unknown}; choose from {', '.join(runnable)}", param_hint="--backends")
    if shard is not None and report_path is None:
        raise click.BadParameter("a shard's result is only useful merged: pass --report PART.json too", param_hint="--shard")

    def progress(name: str, what: str) -> None:
        if not as_json:
            click.echo(f"running {name} on {what} ...", err=True)

    run = run_verify(model, names, None, quantize_opts(kw), task=task, data=data, samples=samples, workers=workers, shard=shard,
                     report_path=report_path, junit_path=junit_path, progress=progress, note=note)
    print_verify(run, as_json, strict)


def print_verify(run: Any, as_json: bool, strict: bool = False) -> None:
    """Print a verify run, its verdict with what it rests on (spikes compared), a warning when it
    is vacuous; exit with ``verify.exit_code`` (1 mismatch, 3 skipped, 4 vacuous under --strict),
    one line on stderr saying which."""
    from ..app.verify import EXIT_MISMATCH, EXIT_SKIPPED, EXIT_VACUOUS, exit_code

    mismatched = [r.backend for r in run.reports if r.skipped is None and not r.ok]
    skipped = [r.backend for r in run.reports if r.skipped is not None]
    if as_json:
        echo_json({**run.to_dict(), "strict": strict, "exit_code": exit_code(run, strict)})
    else:
        for r in run.reports:
            click.echo(r.summary())
    code = exit_code(run, strict)
    skips = f"; skipped (could not run, not failed): {', '.join(skipped)}" if skipped else ""
    if code == EXIT_MISMATCH:
        raise DelaysnnError(f"parity failed for {', '.join(mismatched)} (see above){skips}")
    if not as_json:
        ran = len(run.reports) - len(skipped)
        which = f"all {ran} backends" if not skipped else f"{ran} of {len(run.reports)} backends ({', '.join(skipped)} skipped)"
        click.echo(f"{which} identical to the simulator ({run.compared_text()})" + ("; vacuous" if run.vacuous else ""))
    if run.vacuous:
        fix = "give inputs that make every hidden layer fire (--data, --task, --samples)"
        if code == EXIT_VACUOUS:
            _exit(f"vacuous parity (--strict): {run.vacuity()}; {fix}", code)
        click.echo(f"warning: vacuous parity: {run.vacuity()}, so \"identical\" says nothing about it; {fix}, "
                   "or pass --strict to make this an error", err=True)
    if code == EXIT_SKIPPED:
        _exit(f"not verified on {', '.join(skipped)}: skipped, not failed (the reason is above); "
              "install what it needs or fit the network for it (--target)", code)


def _exit(message: str, code: int) -> None:
    """One ``error:`` line on stderr and exit ``code`` (verify's verdicts other than 1)."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)



@cli.command("verify-merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path())
@click.option("--junit", "junit_path", type=click.Path(), help="Write the combined result as JUnit XML.")
@click.option("--report", "report_path", type=click.Path(), help="Write the combined result as JSON.")
@click.option("--strict", is_flag=True, help="Exit 4 when the merged parity is vacuous, as verify --strict.")
@click.option("--json", "as_json", is_flag=True)
def verify_merge(reports: tuple[str, ...], junit_path: str | None, report_path: str | None, strict: bool, as_json: bool) -> None:
    """Combine the --report files of verify --shard runs into one result.

    Checks that they are of the same network and input set (its sha256) and cover every sample
    exactly once; the exit codes are verify's (0 identical, 1 mismatch, 3 skipped, 4 vacuous
    under --strict). Reports of delaysnn before the input sha256 (version 1) are refused.

    \b
    Example:
      delaysnn verify-merge part1.json part2.json part3.json --junit report.xml
    """
    from ..app.api import verify_merge as merge

    run = merge(reports, report_path, junit_path)
    if not as_json:
        click.echo(f"merged {len(reports)} reports covering {run.inputs} ({run.inputs_sha256})")
    print_verify(run, as_json, strict)


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--profile", "profiles", multiple=True, metavar="NAME|FILE.toml",
              help="Energy profile (repeatable; default loihi2, cmos45_int8, cmos45_fp32).")
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Inputs to count on (default: the model's task, else random spikes).")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--samples", type=click.IntRange(min=1), help="Default: the whole test split (512 random inputs without data).")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option("--plot", type=click.Path(),
              help="Write a plot (.png, .pdf or .svg): energy breakdown, per-layer activity, delay histogram.")
@lambda f: quantize_options(f, limits_profile=False)
def estimate(model: str, profiles: tuple[str, ...], task: str | None, data: str | None, samples: int | None, as_json: bool, plot: str | None, **kw: Any) -> None:
    """Synaptic operations, memory, Loihi 2 cores and energy per inference.

    Counts come from the integer simulator run on real inputs; energy uses cited hardware
    profiles (hardware/profiles/*.toml, or your own file via --profile FILE.toml).

    \b
    Example:
      delaysnn estimate model.pt --task synthetic
      delaysnn estimate model.pt --profile loihi2 --profile my_chip.toml --json
      delaysnn estimate model.dnet --data ~/data/SHD --plot energy.png
    """
    from ..app.api import estimate as run_estimate

    est, what = run_estimate(model, None, profiles, quantize_opts(kw), task=task, data=data, samples=samples, plot=plot, note=note)
    if as_json:
        echo_json(est.to_dict())
        return
    click.echo(f"inputs: {what}")
    click.echo(f"network: {est.network['description']}")
    click.echo(est.table())
    if plot:
        click.echo(f"wrote {plot}")

"""``delaysnn quantize``, ``export`` and ``inspect``: integer networks and their files."""

from __future__ import annotations

from typing import Any

import click

from .common import Finite, cli, echo_json, note, quantize_options, quantize_opts, targets


@cli.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True, help="IR file to write (.dnet).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-layer report as JSON.")
@click.option("--data", type=click.Path(), help="SHD-layout data directory: sets the input width when the checkpoint records none, "
              "and reports the network's accuracy and agreement with the float model on its test split.")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
@quantize_options
def quantize(model: str, output: str, as_json: bool, data: str | None, task: str | None, **kw: Any) -> None:
    """Quantize a checkpoint to the integer network (IR) and print a per-layer report.

    \b
    Example:
      delaysnn quantize model.pt -o model.dnet --weight-bits 4
      delaysnn quantize model.pt -o model-loihi.dnet --target loihi   # what export --target loihi ships
      delaysnn quantize model.pt -o model-bin.dnet --binary --profile loihi2
    """
    from ..app.api import quantize as run_quantize
    from ..app.pipeline import deployment

    opts = quantize_opts(kw)
    net, report = run_quantize(model, output, opts, task=task, data=data, note=note)
    network = deployment(net, model, opts, task, data)
    if as_json:
        echo_json({**report.to_dict(), "network": network.to_dict()})
    else:
        click.echo(report.to_markdown())
        if report.evaluation is not None:
            from ..app.agreement import agreement_line

            ev = report.evaluation
            acc = "" if ev.get("accuracy") is None else f": accuracy (integer network) {100 * ev['accuracy']:.1f}%"
            click.echo(f"on {ev['inputs']}{acc}")
            click.echo(agreement_line(ev))
        click.echo(f"network: {network.describe()}")
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--target", type=click.Choice(targets("export")), required=True)
@click.option("-o", "--output", type=click.Path(), help="Output file (default: MODEL with the target's suffix).")
@click.option("--float", "float_model", is_flag=True, help="nir/onnx: export the float model instead of the integer one.")
@click.option("--data", type=click.Path(), help="SHD-layout data directory: sets the input width when the checkpoint records none.")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
@click.option(
    "--dt",
    type=Finite(min=0, min_open=True),
    metavar="SECONDS",
    help="nir: seconds per time step written in the graph (default: the network's time step). Every neuron gets "
    "r = tau/dt (CubaLIF: w_in = tau_syn/dt), so NIR's Euler step adds the input undecayed, as our models and "
    "snnTorch do; snnTorch's importer assumes dt = 1e-4: pass --dt 1e-4 for it.",
)
@lambda f: quantize_options(f, deploy_target=False)
def export(
    model: str, target: str, output: str | None, float_model: bool, data: str | None, task: str | None, dt: float | None, **kw: Any
) -> None:
    """Export a checkpoint or IR file to Loihi 2 (lava-dl netx .h5), NIR, ONNX or the IR.

    A checkpoint is quantized first (--weight-bits / --binary). --target loihi checks the
    Loihi 2 profile and refuses, with every violation listed, a network that breaks it.

    \b
    Example:
      delaysnn export model.pt --target loihi
      delaysnn export model.pt --target nir -o model.nir
      delaysnn export model.pt --target nir --dt 1e-4 -o model.nir   # snnTorch's time step
      delaysnn export model.pt --target onnx --float -o model-float.onnx
    """
    from ..app.api import export as run_export

    done = run_export(model, target, output, quantize_opts(kw), float_model=float_model, task=task, data=data, dt=dt, note=note)
    if done.net is None:
        click.echo(f"wrote {done.path} (float model)")
    else:
        click.echo(f"wrote {done.path} ({target}, {'-'.join(map(str, done.net.sizes))})")


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(path: str, as_json: bool) -> None:
    """Describe a checkpoint, an IR file (.dnet), a NIR graph, an ONNX model or a netx .h5.

    \b
    Example:
      delaysnn inspect model.pt
    """
    from ..app.api import inspect as describe

    info = describe(path)
    if as_json:
        echo_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for row in value:
                click.echo(f"  {row}")
        else:
            click.echo(f"{key}: {value}")

"""``delaysnn search-deployment``: the smallest deployments that still work."""

from __future__ import annotations

import click

from .common import CommaList, Finite, cli, note


@cli.command("search-deployment")
@click.argument("model", type=click.Path())
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Task of --data (default: the checkpoint's).")
@click.option("--data", type=click.Path(), help="SHD-layout data directory (shd/ssc tasks).")
@click.option("--profile", default="loihi2", show_default=True, help="Hardware profile: limits, memory widths, cores.")
@click.option("--budget-kb", type=Finite(min=0, min_open=True), help="Largest synaptic memory (kB = 1000 bytes) a deployment may take.")
@click.option("--weight-bits", "weight_bits", type=CommaList(click.IntRange(1, 8)), default="8,4,2", show_default=True,
              help="Weight bit widths to try (comma-separated).")
@click.option("--no-ternary", is_flag=True, help="Do not try ternary weights.")
@click.option("--delay-bits", "delay_bits", type=CommaList(click.IntRange(1, 12), {"full": None}), default="full,5,4,3", show_default=True,
              help="Delay bits to try ('full': the profile's range).")
@click.option("--prune", "prune", type=CommaList(Finite(0, 1, max_open=True)), default="0,0.5,0.8", show_default=True,
              help="Pruning fractions to try.")
@click.option("--delay-grid", type=click.Choice(["step", "cap"]), default="step", show_default=True)
@click.option("--delay-kind", "delay_kinds", type=CommaList(click.Choice(["synaptic", "axonal", "dendritic"])),
              help="Delay kinds to try (comma-separated; default: the model's). Another kind recasts the model (each neuron's delay "
                   "from its synapses' weighted mean) and its QAT learns the delays.")
@click.option("--prune-scope", type=click.Choice(["layer", "global"]), default="layer", show_default=True)
@click.option("--qat-epochs", type=click.IntRange(0), default=2, show_default=True, help="Short QAT per fine-tuned candidate (0: PTQ only).")
@click.option("--max-qat", type=click.IntRange(0), default=6, show_default=True, help="How many candidates get QAT (the PTQ front first).")
@click.option("--val-fraction", type=Finite(0, 1, min_open=True, max_open=True), default=0.1, show_default=True,
              help="Training data held out (by speaker for shd/ssc) to select on; test only reports.")
@click.option("--samples", type=click.IntRange(1), help="Use at most this many samples per split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(), required=True, help="Markdown table to write; the plot (.png) and JSON (.json) go beside it.")
def search_deployment(model: str, task: str | None, data: str | None, profile: str, budget_kb: float | None, weight_bits: list[int],
                      no_ternary: bool, delay_bits: list[int | None], prune: list[float], delay_kinds: list[str] | None, delay_grid: str, prune_scope: str, qat_epochs: int, max_qat: int, val_fraction: float,
                      samples: int | None, seed: int, output: str) -> None:
    """Find the smallest deployments that still work: sweep weight bits x delay bits x pruning.

    Every candidate is quantized (PTQ) and scored on a validation split with the integer
    simulator; the Pareto front of accuracy against synaptic memory (and the candidates PTQ hurt
    most) get --qat-epochs of QAT through their grids. Writes the table (OUTPUT), a plot
    (OUTPUT .png) and every point (OUTPUT .json); test accuracy is reported for the front only.

    \b
    Example:
      delaysnn search-deployment model.pt --task synthetic -o frontier.md
      delaysnn search-deployment shd.pt --task shd --data ~/SHD --budget-kb 40 -o frontier.md
      delaysnn search-deployment model.pt --task synthetic --delay-kind synaptic,axonal --weight-bits 4 -o kinds.md
    """
    from ..app.api import SearchRequest
    from ..app.api import search_deployment as run_search

    request = SearchRequest(
        model, output, task=task, data=data, profile=profile, budget_kb=budget_kb, weight_bits=weight_bits,
        ternary=not no_ternary, delay_bits=delay_bits, prune=prune,
        delay_grid=delay_grid, prune_scope=prune_scope, qat_epochs=qat_epochs, max_qat=max_qat, val_fraction=val_fraction,
        samples=samples, seed=seed, delay_kinds=list(delay_kinds or [None]),
    )
    done = run_search(request, echo=note)
    click.echo(done.table)
    click.echo("wrote " + ", ".join(map(str, done.paths)))

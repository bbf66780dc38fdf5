"""``delaysnn train``, ``plot-training`` and ``convert``: making checkpoints."""

from __future__ import annotations

from typing import Any

import click

from ..spec import DeploySpec
from .common import Finite, cli, note, parse_qat


@cli.command()
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), default="synthetic", show_default=True)
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Default: 10 (synthetic), 50 (shd/ssc); fine-tuning with --init through a grid: 10 for binary/ternary weights or --prune, else 5.")
@click.option("--layers", type=click.IntRange(min=0), help="Hidden layers (default 2).")
@click.option("--hidden", type=click.IntRange(min=1), help="Neurons per hidden layer (default 32 synthetic, 256 shd/ssc).")
@click.option("--max-delay", type=click.IntRange(min=1), help="DCLS kernel size in steps (made odd, as SNN-delays).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
# Adam moves a weight by up to lr per step (5 x lr at the one-cycle peak), a position by lr_pos steps:
# beyond these bounds nothing trains, and near float32's range torch fails with a traceback
@click.option("--lr", type=Finite(min=0, min_open=True, max=1), default=1e-3, show_default=True, help="Learning rate of the weights.")
@click.option("--dropout", type=Finite(0, 1, max_open=True),
              help="Hidden-layer dropout (default 0.1 synthetic, 0.4 shd/ssc); with --init it replaces the checkpoint's (fine-tuning through a grid: 0.1).")
@click.option("--no-delays", is_flag=True, help="Baseline: every delay fixed at 0, not learned.")
@click.option("--delay-kind", type=click.Choice(["synaptic", "axonal", "dendritic"]),
              help="One learned delay per synapse (default), per presynaptic neuron (axonal) or per postsynaptic neuron (dendritic); "
                   "with --init, a neuron's delay starts at the weighted mean of its synapses'.")
@click.option("--delay-fraction", type=Finite(0, 1, min_open=True), metavar="F",
              help="Keep learned delays on the fraction F of each layer's delays (largest |delay| x L1 of the weights delayed), the rest at 0 (default 1).")
@click.option("--learn-delays/--no-learn-delays", default=None,
              help="With --init: the positions learn too (at 10 x --lr unless --lr-pos); default on when fine-tuning through a grid (--qat, --delay-bits, --prune), else off.")
@click.option("--qat", metavar="BITS|binary|ternary", help="Quantization-aware training through the weight quantizer.")
@click.option("--delay-bits", type=click.IntRange(1, 12), help="QAT through the delay grid: at most 2**B delays per layer (as quantize --delay-bits).")
@click.option("--delay-grid", type=click.Choice(["step", "cap"]), help="With --delay-bits: a per-layer step s, delays s*k (default), or delays capped at 2**B-1.")
@click.option("--prune", type=Finite(0, 1, max_open=True), metavar="FRACTION", help="With --init: prune this fraction of synapses by magnitude (BN-folded), fine-tune the rest.")
@click.option("--prune-scope", type=click.Choice(["layer", "global"]), help="With --prune: the fraction in every layer (default) or over all layers.")
@click.option("--freeze-bn-stats/--no-freeze-bn-stats", default=None,
              help="BatchNorm uses and keeps its running statistics (what is deployed); default on when fine-tuning through a grid, else off.")
@click.option("--distill", type=click.Path(), metavar="TEACHER.pt",
              help="Knowledge distillation: the loss adds KL to this model's class scores (default when fine-tuning through a grid: the --init model).")
@click.option("--no-distill", is_flag=True, help="Fine-tuning through a grid without the default distillation from the --init model.")
@click.option("--distill-weight", type=Finite(0, 1),
              help="With --distill: loss = (1 - w) * cross-entropy + w * T^2 * KL (default 0.5).")
@click.option("--distill-temperature", type=Finite(min=0, min_open=True),
              help="With --distill: the temperature T that softens both class scores (default 2).")
@click.option("--lr-pos", type=Finite(min=0, min_open=True, max=100),
              help="Learning rate of the delay positions (default 100 x --lr; 10 x --lr when --init with --delay-bits).")
@click.option("--samples", type=click.IntRange(min=1), help="Limit the number of training samples.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] (under torchrun, cuda means each rank's LOCAL_RANK GPU).")
@click.option("--amp", type=click.Choice(["bf16"]), help="Mixed precision: forward and loss under torch.autocast(bfloat16), CPU or CUDA.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", "init_from", type=click.Path(), help="Start from this checkpoint (fine-tuning, e.g. QAT).")
@click.option("--resume", is_flag=True, help="Continue the run that -o's OUT.state/ holds (same options; a fresh start if it holds none).")
@click.option("--keep", type=click.IntRange(min=1), default=2, show_default=True, help="Epoch states kept in OUT.state/ (the newest).")
@click.option("--val-fraction", type=Finite(0, 1, min_open=True, max_open=True),
              help="Hold out this fraction of the training split (whole speakers where the data name them); -o gets the best validation epoch.")
@click.option("-o", "--output", type=click.Path(), required=True, help="Checkpoint to write (.pt).")
def train(**kw: Any) -> None:
    """Train a DCLS-delay SNN and write a checkpoint.

    Every epoch writes a resumable state to OUT.state/epoch-NNNN.pt and a line of metrics to
    OUT.jsonl (OUT: -o without its suffix for the .jsonl); --resume continues a killed run.

    \b
    Example:
      delaysnn train --task synthetic --epochs 10 -o model.pt
      delaysnn train --task shd --data ~/data/SHD --device cuda -o shd.pt
      delaysnn train --task shd --data ~/data/SHD --val-fraction 0.1 -o shd.pt --resume
      delaysnn train --task synthetic --init model.pt --qat 4 -o model-q4.pt
      delaysnn train --task synthetic --init model.pt --qat ternary --delay-bits 3 -o model-t-d3.pt
      delaysnn train --task synthetic --init model.pt --qat binary --no-distill --epochs 20 -o model-bin.pt
      delaysnn train --task synthetic --init model.pt --prune 0.8 --qat 4 -o model-p80.pt
      delaysnn train --task synthetic --delay-kind axonal --delay-fraction 0.2 -o axonal.pt
      torchrun --nproc_per_node 2 -m delaysnn train --task synthetic --batch-size 64 -o model.pt

    Under torchrun --batch-size is the global batch (each rank takes batch/ranks); only rank 0
    writes files. With --init through a grid (--qat, --delay-bits or --prune) the fine-tuning
    recipe measured best applies unless told otherwise: distilled from the --init model,
    BatchNorm statistics frozen, dropout 0.1, positions learning at 10 x --lr, 10 epochs for
    binary/ternary weights or pruning, else 5 (--no-distill, --no-freeze-bn-stats, --dropout,
    --no-learn-delays, --epochs); its first line says which ran. Otherwise, with --init, delays
    stay where the checkpoint has them. The checkpoint records --qat, --delay-bits/--delay-grid,
    --prune/--prune-scope and how it was fine-tuned in its metadata.
    """
    from ..app import api

    qat_bits, qat_binary, qat_ternary = parse_qat(kw.pop("qat"))
    spec = DeploySpec.from_flags(qat_bits, qat_binary, qat_ternary, *(kw.pop(k) for k in ("delay_bits", "delay_grid", "prune", "prune_scope")))
    # the recipe's rules, and which options need --init: api.check_request (usage errors, exit 2)
    for name in ("distill_weight", "distill_temperature"):
        if kw[name] is not None and kw["distill"] is None:
            raise click.BadOptionUsage(name, f"--{name.replace('_', '-')} needs --distill TEACHER.pt (the model to learn from)")
        if kw[name] is None:
            del kw[name]  # TrainRequest's default
    done = api.train_model(api.TrainRequest(spec=spec, **kw), note=note)
    if done.output is None:  # not rank 0: only rank 0 writes and reports
        return
    meta, result = done.meta, done.result
    chosen = f" (epoch {result.selected_epoch}, best validation {100 * meta['val_acc']:.1f}%)" if result.selected_epoch else ""
    click.echo(f"test accuracy {100 * result.final_test_acc:.1f}% (hard delays){chosen}; wrote {done.output}, metrics {done.metrics}")


@cli.command("plot-training")
@click.argument("metrics", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True, help="Plot to write (.png, .pdf or .svg).")
def plot_training(metrics: str, output: str) -> None:
    """Draw a training run's per-epoch metrics (the .jsonl delaysnn train writes beside -o).

    \b
    Example:
      delaysnn plot-training model.jsonl -o curves.png
    """
    from ..app.api import plot_training as draw

    rows = draw(metrics, output)
    click.echo(f"wrote {output} ({len(rows)} epochs)")


@cli.command()
@click.argument("source", type=click.Path())
@click.option("--from", "fmt", type=click.Choice(["snn-delays", "axdensyn"]), required=True,
              help="Format of SOURCE: SNN-delays or AxDenSynDelaySNN (synaptic, axonal or dendritic delays) state_dicts.")
@click.option("-o", "--output", type=click.Path(), required=True)
@click.option("--max-delay", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--time-step-ms", type=Finite(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--tau-ms", type=Finite(min=0, min_open=True), default=10.05, show_default=True)
@click.option("--threshold", type=Finite(), default=1.0, show_default=True)
@click.option("--data", type=click.Path(), help="The SHD-layout data it was trained on: records the input range (graded input width).")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
@click.option("--delay-kind", type=click.Choice(["synaptic", "axonal", "dendritic"]),
              help="axdensyn: their delay_type, where the shapes cannot tell (every layer as wide as its input).")
@click.option("--delay-sparsity", type=Finite(0, 1, max_open=True), metavar="S",
              help="axdensyn with a learned delay mask (delay_scores keys): their sparsity_p_delay.")
def convert(source: str, fmt: str, output: str, data: str | None, task: str | None, **options: Any) -> None:
    """Import a checkpoint of another tool as a delaysnn checkpoint.

    Sizes are inferred from the state_dict; the options default to SNN-delays' SHD values.

    \b
    Example:
      delaysnn convert --from snn-delays their_best.pt -o model.pt --max-delay 25
      delaysnn convert --from axdensyn their_axonal.pt -o model.pt --max-delay 25 --tau-ms 15
    """
    from ..app.api import convert as run_convert

    for name in ("delay_kind", "delay_sparsity"):
        if options[name] is None:
            del options[name]
        elif fmt != "axdensyn":
            raise click.BadOptionUsage(name, f"--{name.replace('_', '-')} is for --from axdensyn (SNN-delays models have synaptic delays, no mask)")
    done = run_convert(source, fmt, output, data=data, task=task, **options)
    cfg = done.model.cfg
    click.echo(f"converted {source} ({'-'.join(map(str, cfg.sizes))}, {cfg.delay_kind} delays, max delay {cfg.max_delay}) -> {output}")
    if done.counts_from is None:
        click.echo("note: no input range recorded; quantize/simulate take it from --data (or pass --input-bits)", err=True)
    else:
        click.echo(f"input counts up to {done.meta['input_max_count']} in {done.counts_from}: recorded for quantization")

"""The ``delaysnn`` command line: thin click commands over the Python API.

Only :func:`main` turns a ``DelaysnnError`` into a one-line message and exit code 1
(``--debug`` re-raises); library code never prints errors or exits.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import DelaysnnError, Terminated

TASK_DEFAULTS = {
    # hidden, layers, max_delay, epochs, dropout
    "synthetic": dict(hidden=32, layers=2, max_delay=25, epochs=10, dropout=0.1),
    "shd": dict(hidden=256, layers=2, max_delay=25, epochs=50, dropout=0.4),
    "ssc": dict(hidden=256, layers=2, max_delay=25, epochs=50, dropout=0.4),
}


def _targets(ability: str) -> list[str]:
    """Names of the registry's backends that can ``ability`` (export, float, run, describe)."""
    from exporters.registry import names

    return names(ability)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


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


def load_task_data(task: str, data: str | None, samples: int | None, seed: int):
    """(train, test) SpikeDatasets for a task name."""
    if task == "synthetic":
        from .datasets import synthetic_splits

        n_train = samples or 2048
        return synthetic_splits(n_train=n_train, n_test=max(n_train // 4, 64), seed=seed)
    if data is None:
        raise DelaysnnError(f"--task {task} needs --data DIR (the directory with the official {task.upper()} .h5 files)")
    from .heidelberg import load_heidelberg

    train_set = load_heidelberg(data, task, "train", max_samples=samples)
    test_set = load_heidelberg(data, task, "test", max_samples=samples, max_steps=train_set.steps)
    return train_set, test_set


def _out(path: str, *inputs: str | None, data: str | None = None) -> Path:
    """``check_output_path`` for -o / --plot: also refuses an output that is one of the command's
    inputs (MODEL, --init, profile files, the ``.h5`` files of ``--data``)."""
    from .fileio import check_output_path

    files: list[str | Path | None] = list(inputs)
    if data and Path(data).is_dir():
        files += sorted(Path(data).glob("*.h5*"))
    return check_output_path(path, files)


def _note_input_bits(net: Any) -> None:
    """Say where the input width came from when the checkpoint did not record it."""
    source = net.provenance.get("input_bits_from", "")
    if source.startswith(("the data", "a default")):
        click.echo(f"note: {net.input_bits}-bit input, from {source}", err=True)


def _train_counts(task: str | None, data: str | None) -> Any:
    """``data_max_count`` for ``load_network``: the largest count in the training split of --data."""
    if data is None:
        return None

    def counts() -> tuple[int, str]:
        from .heidelberg import load_heidelberg

        ds = load_heidelberg(data, task if task in ("shd", "ssc") else "shd", "train")
        return ds.max_count, f"{data} ({ds.name})"

    return counts


@contextlib.contextmanager
def _naming(model: str) -> Iterator[None]:
    """Refusals of MODEL's network (hardware profile limits, what netx cannot hold) name MODEL,
    as every error names its file; errors that already start with it pass unchanged."""
    from .errors import HardwareLimitError, UnsupportedError

    try:
        yield
    except (HardwareLimitError, UnsupportedError) as err:
        if str(err).startswith(str(model)):
            raise
        raise type(err)(f"{model}: {err}") from err


def _network_and_inputs(model: str, qopts: Any, task: str | None, data: str | None, samples: int | None) -> tuple[Any, Any, Any, str]:
    """MODEL as an integer network and its evaluation inputs ``(net, inputs, labels, description)``
    (``inputs``: a ``pipeline.EvaluationInputs``, run a batch at a time).

    A checkpoint that records no input range (a converted one) takes its input width from the
    training split of --data, as ``quantize`` and ``export`` do, so all deploy the same network.
    """
    from .pipeline import evaluation_batches, evaluation_dataset, load_network

    loaded: dict[str | None, Any] = {}

    def dataset(name: str | None) -> Any:
        if name not in loaded:
            try:
                loaded[name] = evaluation_dataset(name, data, samples)
            except DelaysnnError as err:
                if data is None or task is not None:
                    raise
                raise type(err)(f"{err} (--data without --task reads SHD files: pass --task ssc for SSC, --task shd for SHD)") from err
        return loaded[name]

    with _naming(model):  # the width as quantize/export take it: from the training split
        net, _ = load_network(model, qopts, data_max_count=_train_counts(task, data))
    _note_input_bits(net)
    name = task or net.provenance.get("task")
    ds = dataset(name)
    if ds is not None and ds.channels != net.input_size:
        trained = net.provenance.get("task")
        raise DelaysnnError(
            f"{model}: the network takes {net.input_size} input channels, {data or name} ({ds.name}) has {ds.channels}; "
            + (f"it was trained on --task {trained}: evaluate it on that task, or give a model trained on this data"
               if trained and trained != name else "give a model trained on this data, or pass --task shd|ssc to say which files --data holds")
        )
    inputs = evaluation_batches(net, name, data, samples, dataset=ds)
    return net, inputs, inputs.labels, inputs.description


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


@cli.command()
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), default="synthetic", show_default=True)
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--epochs", type=click.IntRange(min=1), help="Default: 10 (synthetic), 50 (shd/ssc).")
@click.option("--layers", type=click.IntRange(min=0), help="Hidden layers (default 2).")
@click.option("--hidden", type=click.IntRange(min=1), help="Neurons per hidden layer (default 32 synthetic, 256 shd/ssc).")
@click.option("--max-delay", type=click.IntRange(min=1), help="DCLS kernel size in steps (made odd, as SNN-delays).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True))
@click.option("--no-delays", is_flag=True, help="Baseline: every delay fixed at 0, not learned.")
@click.option("--qat", metavar="BITS|binary|ternary", help="Quantization-aware training through the weight quantizer.")
@click.option("--delay-bits", type=click.IntRange(1, 12), help="QAT through the delay grid: at most 2**B delays per layer (as quantize --delay-bits).")
@click.option("--delay-grid", type=click.Choice(["step", "cap"]), help="With --delay-bits: a per-layer step s, delays s*k (default), or delays capped at 2**B-1.")
@click.option("--prune", type=click.FloatRange(0, 1, max_open=True), metavar="FRACTION", help="With --init: prune this fraction of synapses by magnitude (BN-folded), fine-tune the rest.")
@click.option("--prune-scope", type=click.Choice(["layer", "global"]), help="With --prune: the fraction in every layer (default) or over all layers.")
@click.option("--freeze-bn-stats", is_flag=True,
              help="BatchNorm uses and keeps its running statistics (what is deployed); long binary/ternary QAT runs need it.")
@click.option("--lr-pos", type=click.FloatRange(min=0, min_open=True),
              help="Learning rate of the delay positions (default 100 x --lr; 10 x --lr when --init with --delay-bits).")
@click.option("--samples", type=click.IntRange(min=1), help="Limit the number of training samples.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] (under torchrun, cuda means each rank's LOCAL_RANK GPU).")
@click.option("--amp", type=click.Choice(["bf16"]), help="Mixed precision: forward and loss under torch.autocast(bfloat16), CPU or CUDA.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", "init_from", type=click.Path(), help="Start from this checkpoint (fine-tuning, e.g. QAT).")
@click.option("--resume", is_flag=True, help="Continue the run that -o's OUT.state/ holds (same options; a fresh start if it holds none).")
@click.option("--keep", type=click.IntRange(min=1), default=2, show_default=True, help="Epoch states kept in OUT.state/ (the newest).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
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
      delaysnn train --task synthetic --init model.pt --qat 4 --epochs 5 -o model-q4.pt
      delaysnn train --task synthetic --init model.pt --qat 4 --delay-bits 5 --epochs 5 -o model-q4d5.pt
      delaysnn train --task synthetic --init model.pt --prune 0.8 --qat 4 --epochs 5 -o model-p80.pt
      torchrun --nproc_per_node 2 -m delaysnn train --task synthetic --batch-size 64 -o model.pt

    Under torchrun --batch-size is the global batch (each rank takes batch/ranks); only rank 0
    writes files. With --init, delays stay where the checkpoint has them, except with
    --delay-bits: then the positions learn through the delay grid too. The checkpoint records
    --qat, --delay-bits/--delay-grid and --prune/--prune-scope in its metadata.
    """
    from . import distributed
    from .checkpoint import load_checkpoint, save_checkpoint
    from .model import DelaySNN, ModelConfig
    from .runs import run_files, state_paths
    from .train import TrainOptions, deployment_settings, seed_everything
    from .train import train as run_training

    qat_bits, qat_binary, qat_ternary = parse_qat(kw["qat"])
    if kw["delay_grid"] is not None and kw["delay_bits"] is None:
        raise click.BadOptionUsage("delay_grid", "--delay-grid needs --delay-bits B (the number of delay bits)")
    if kw["prune_scope"] is not None and kw["prune"] is None:
        raise click.BadOptionUsage("prune_scope", "--prune-scope needs --prune FRACTION")
    if kw["prune"] is not None and not kw["init_from"]:
        raise click.BadOptionUsage("prune", "--prune needs --init MODEL.pt: it prunes a trained model's smallest synapses, then fine-tunes the rest")
    delay_grid, prune_scope = kw["delay_grid"] or "step", kw["prune_scope"] or "layer"
    world = distributed.init_from_env(kw["device"])
    click.get_current_context().call_on_close(distributed.cleanup)
    distributed.per_rank_batch(kw["batch_size"], world.size)
    out = _out(kw["output"], kw["init_from"], data=kw["data"])
    files = run_files(out)
    _out(str(files.metrics), kw["init_from"], data=kw["data"])
    defaults = TASK_DEFAULTS[kw["task"]]
    train_set, test_set = load_task_data(kw["task"], kw["data"], kw["samples"], kw["seed"])
    input_max_count = train_set.max_count  # of the whole training split, validation part included
    val_set, val_how = None, None
    if kw["val_fraction"]:
        from .datasets import validation_split

        speakers = None
        if kw["task"] != "synthetic":
            from .heidelberg import load_speakers

            speakers = load_speakers(kw["data"], kw["task"], "train", max_samples=kw["samples"])
        train_set, val_set, val_how = validation_split(train_set, kw["val_fraction"], kw["seed"], speakers)
        click.echo(f"validation: {val_how} of {train_set.name} held out", err=True)
    max_delay = kw["max_delay"] or defaults["max_delay"]
    max_delay += 1 - max_delay % 2  # odd kernel, as SNN-delays forces
    seed_everything(kw["seed"])
    if kw["init_from"]:
        model = load_checkpoint(kw["init_from"])
        # fine-tuning keeps the learned integer delays, unless it learns them through a delay grid
        learn = kw["delay_bits"] is not None and not kw["no_delays"]
    else:
        cfg = ModelConfig(
            input_size=train_set.channels,
            output_size=train_set.n_classes,
            hidden_size=kw["hidden"] or defaults["hidden"],
            hidden_layers=defaults["layers"] if kw["layers"] is None else kw["layers"],
            max_delay=max_delay,
            dropout=defaults["dropout"] if kw["dropout"] is None else kw["dropout"],
            time_step_ms=train_set.time_step_ms if kw["task"] != "synthetic" else 1.0,
        )
        model = DelaySNN(cfg)
        learn = not kw["no_delays"]
        if not learn:
            model.set_delays(0)
            model.set_sigma(0.0)
    opts = TrainOptions(
        epochs=kw["epochs"] or defaults["epochs"],
        batch_size=kw["batch_size"],
        lr=kw["lr"],
        # positions moving at 100 x lr undo a fine-tuned model's delays (step grid, measured)
        lr_pos=kw["lr_pos"] or (10 * kw["lr"] if kw["init_from"] and learn else None),
        learn_delays=learn,
        seed=kw["seed"],
        device=kw["device"],
        qat_bits=qat_bits,
        qat_binary=qat_binary,
        qat_ternary=qat_ternary,
        delay_bits=kw["delay_bits"],
        delay_grid=delay_grid,
        prune=kw["prune"],
        prune_scope=prune_scope,
        freeze_bn_stats=kw["freeze_bn_stats"],
        amp=kw["amp"],
        desc=f"train {kw['task']}",
        state_dir=files.state_dir,
        keep=kw["keep"],
        resume=kw["resume"],
        metrics_path=files.metrics,
        run_info={"task": kw["task"], "samples": kw["samples"], "val_fraction": kw["val_fraction"]},
    )
    try:
        result = run_training(model, train_set, test_set, opts, val_set=val_set)
    except (KeyboardInterrupt, Terminated):
        done = state_paths(files.state_dir)
        if done:
            click.echo(f"note: {done[-1]} holds the last finished epoch; continue with the same command and --resume", err=True)
        raise
    if kw["resume"] and result.resumed_from is None:
        click.echo(f"note: no state in {files.state_dir} to resume; trained from the start", err=True)
    meta: dict[str, Any] = {
        "task": kw["task"],
        "epochs": opts.epochs,
        "test_acc": result.final_test_acc,
        "seed": kw["seed"],
        "input_max_count": input_max_count,  # sets the graded input's bit width when quantizing
    }
    meta.update(deployment_settings(opts))  # qat, delay_bits/delay_grid, prune/prune_scope
    if result.selected_epoch is not None:
        meta.update(selected_by="val_acc", selected_epoch=result.selected_epoch, val_split=val_how,
                    val_acc=result.val_acc[result.selected_epoch - 1], last_epoch_test_acc=result.test_acc[-1])
    meta.update(result.setup)  # how it was trained: world_size, global_batch, per_rank_batch, device, backend, amp
    if not world.main:
        return
    save_checkpoint(model, out, meta)
    chosen = f" (epoch {result.selected_epoch}, best validation {100 * meta['val_acc']:.1f}%)" if result.selected_epoch else ""
    click.echo(f"test accuracy {100 * result.final_test_acc:.1f}% (hard delays){chosen}; wrote {out}, metrics {files.metrics}")


@cli.command("plot-training")
@click.argument("metrics", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True, help="PNG to write.")
def plot_training(metrics: str, output: str) -> None:
    """Draw a training run's per-epoch metrics (the .jsonl delaysnn train writes beside -o).

    \b
    Example:
      delaysnn plot-training model.jsonl -o curves.png
    """
    from .plots import training_curves
    from .runs import read_metrics

    _out(output, metrics)
    rows = read_metrics(metrics)
    training_curves(rows, output, title=f"{metrics} ({len(rows)} epochs)")
    click.echo(f"wrote {output} ({len(rows)} epochs)")


@cli.command()
@click.argument("source", type=click.Path())
@click.option("--from", "fmt", type=click.Choice(["snn-delays"]), required=True, help="Format of SOURCE.")
@click.option("-o", "--output", type=click.Path(), required=True)
@click.option("--max-delay", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--time-step-ms", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--tau-ms", type=click.FloatRange(min=0, min_open=True), default=10.05, show_default=True)
@click.option("--threshold", type=float, default=1.0, show_default=True)
@click.option("--data", type=click.Path(), help="The SHD-layout data it was trained on: records the input range (graded input width).")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
def convert(source: str, fmt: str, output: str, data: str | None, task: str | None, **options: Any) -> None:
    """Import a checkpoint of another tool as a delaysnn checkpoint.

    Sizes are inferred from the state_dict; the options default to SNN-delays' SHD values.

    \b
    Example:
      delaysnn convert --from snn-delays their_best.pt -o model.pt --max-delay 25
    """
    from .checkpoint import save_checkpoint
    from .convert import convert_snn_delays

    _out(output, source, data=data)
    model = convert_snn_delays(source, **options)
    meta: dict[str, Any] = {"converted_from": fmt, "source": str(source)}
    counts = _train_counts(task, data)
    if counts is not None:
        meta["input_max_count"], where = counts()
        meta["task"] = task or "shd"
    save_checkpoint(model, output, meta)
    cfg = model.cfg
    click.echo(f"converted {source} ({'-'.join(map(str, cfg.sizes))}, max delay {cfg.max_delay}) -> {output}")
    if counts is None:
        click.echo("note: no input range recorded; quantize/simulate take it from --data (or pass --input-bits)", err=True)
    else:
        click.echo(f"input counts up to {meta['input_max_count']} in {where}: recorded for quantization")


def quantize_options(f: Any, limits_profile: bool = True) -> Any:
    """Options shared by every command that may quantize a checkpoint on the way."""
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
        click.option("--prune", type=click.FloatRange(0, 1, max_open=True), metavar="FRACTION",
                     help="Remove this fraction of the synapses, smallest folded |weight| first (pruned synapses are absent)."),
        click.option("--prune-scope", type=click.Choice(["layer", "global"]),
                     help="With --prune: the fraction of each layer (default) or of the whole network (every layer keeps one synapse)."),
    ]
    if limits_profile:
        opts.insert(3, click.option("--profile", default=None, help="Hardware profile to check (name, e.g. loihi2, or a .toml path)."))
    for opt in reversed(opts):
        f = opt(f)
    return f


def _quantize_opts(kw: dict[str, Any]) -> Any:
    from .pipeline import QuantizeOptions

    binary, ternary = kw.pop("binary"), kw.pop("ternary")
    delay_bits, delay_grid = kw.pop("delay_bits"), kw.pop("delay_grid")
    prune, prune_scope = kw.pop("prune"), kw.pop("prune_scope")
    if binary and ternary:
        raise click.BadOptionUsage("ternary", "--binary and --ternary exclude each other: pick one")
    if delay_grid is not None and delay_bits is None:
        raise click.BadOptionUsage("delay_grid", "--delay-grid needs --delay-bits B (the number of delay bits)")
    if prune_scope is not None and prune is None:
        raise click.BadOptionUsage("prune_scope", "--prune-scope needs --prune FRACTION")
    return QuantizeOptions(
        weight_bits=kw.pop("weight_bits"),
        binary=binary,
        input_bits=kw.pop("input_bits"),
        profile=kw.pop("profile", None),
        clip_delays=kw.pop("clip_delays"),
        ternary=ternary,
        delay_bits=delay_bits,
        delay_grid=delay_grid,
        prune=prune,
        prune_scope=prune_scope,
    )


@cli.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True, help="IR file to write (.dnet).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-layer report as JSON.")
@click.option("--data", type=click.Path(), help="SHD-layout data directory: sets the input width when the checkpoint records none.")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
@quantize_options
def quantize(model: str, output: str, as_json: bool, data: str | None, task: str | None, **kw: Any) -> None:
    """Quantize a checkpoint to the integer network (IR) and print a per-layer report.

    \b
    Example:
      delaysnn quantize model.pt -o model.dnet --weight-bits 4
      delaysnn quantize model.pt -o model-bin.dnet --binary --profile loihi2
    """
    from . import ir
    from .pipeline import is_ir_file, load_network

    _out(output, model, data=data)
    if is_ir_file(model):
        raise DelaysnnError(f"{model}: already an integer network; quantize takes a checkpoint (.pt)")
    with _naming(model):
        net, report = load_network(model, _quantize_opts(kw), data_max_count=_train_counts(task, data))
    _note_input_bits(net)
    ir.save(net, output)
    if as_json:
        _echo_json(report.to_dict())
    else:
        click.echo(report.to_markdown())
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--target", type=click.Choice(_targets("export")), required=True)
@click.option("-o", "--output", type=click.Path(), help="Output file (default: MODEL with the target's suffix).")
@click.option("--float", "float_model", is_flag=True, help="nir/onnx: export the float model instead of the integer one.")
@click.option("--data", type=click.Path(), help="SHD-layout data directory: sets the input width when the checkpoint records none.")
@click.option("--task", type=click.Choice(["shd", "ssc"]), help="Which files --data holds (default shd).")
@click.option(
    "--dt",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="nir: seconds per time step written in the graph (default: the network's time step). Every neuron gets "
    "r = tau/dt (CubaLIF: w_in = tau_syn/dt), so NIR's Euler step adds the input undecayed, as our models and "
    "snnTorch do; snnTorch's importer assumes dt = 1e-4: pass --dt 1e-4 for it.",
)
@quantize_options
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
    from exporters.registry import backend

    from .pipeline import check_profile, default_output, load_network
    from .pipeline import export as run_export

    out = _out(output or default_output(model, target), model, data=data)
    qopts = _quantize_opts(kw)
    spec = backend(target, "export")
    if dt is not None and target != "nir":
        raise DelaysnnError(f"--dt applies to --target nir (the seconds per step its graph records), not {target}")
    options = {} if dt is None else {"dt": dt}
    qopts.profile = qopts.profile or spec.profile  # loihi: checked against loihi2, quantized within netx
    qopts.for_netx = qopts.for_netx or spec.for_netx
    if float_model:
        if not spec.can("float"):
            raise DelaysnnError(f"--float applies to --target {' or '.join(_targets('float'))}, not {target}")
        from .checkpoint import load_checkpoint
        from .pipeline import export_float

        export_float(load_checkpoint(model), target, out, **options)
        click.echo(f"wrote {out} (float model)")
        return
    with _naming(model):
        net, report = load_network(model, qopts, data_max_count=_train_counts(task, data))
        _note_input_bits(net)
        if qopts.profile is not None and report is None:  # a quantized checkpoint was already checked against it
            check_profile(net, qopts.profile)
        run_export(net, target, out, **options)
    click.echo(f"wrote {out} ({target}, {'-'.join(map(str, net.sizes))})")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Default: the task the model was trained on.")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--samples", type=click.IntRange(min=1), help="Default: the whole test split (512 random inputs without data).")
@click.option("--plot", type=click.Path(), help="Write a spike raster of the first sample (PNG).")
@click.option("--json", "as_json", is_flag=True)
@quantize_options
def simulate(model: str, task: str | None, data: str | None, samples: int | None, plot: str | None, as_json: bool, **kw: Any) -> None:
    """Run the bit-accurate integer simulator and report accuracy (and firing rates).

    \b
    Example:
      delaysnn simulate model.pt --task synthetic --samples 512
      delaysnn simulate model.dnet --data ~/data/SHD --plot raster.png
    """
    from .sim import simulate_batches

    if plot:
        _out(plot, model, data=data)
    net, x, y, what = _network_and_inputs(model, _quantize_opts(kw), task, data, samples)
    summary = simulate_batches(net, x.batches())  # a batch at a time: memory does not grow with --samples
    result = summary.first
    rates = summary.firing_rates
    info: dict[str, Any] = {"inputs": what, "firing_rates": rates}
    if y is not None:
        info["accuracy"] = float((summary.predictions == y).mean())
    if plot:
        from .plots import spike_raster

        spike_raster(result, plot, sample=0)
        info["plot"] = plot
    if as_json:
        _echo_json(info)
        return
    click.echo(f"inputs: {what}")
    if "accuracy" in info:
        click.echo(f"accuracy (integer network): {100 * info['accuracy']:.1f}%")
    click.echo("firing rates per hidden layer: " + ", ".join(f"{100 * r:.2f}%" for r in rates))
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
@click.option("--backends", default="sim,lava,netx,onnx,nir", show_default=True, help="Comma-separated backends to compare with the simulator.")
@click.option("--samples", type=SamplesParam(), default="16", show_default=True, help="Inputs to run, or 'all' (the whole split; Lava takes ~1 s each).")
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Inputs (default: the model's task, else random spikes).")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes running the Lava/netx backends on sample chunks.")
@click.option("--shard", type=ShardParam(), help="Check only slice I of N of the samples (I/N, 1-based); combine the --report files with verify-merge.")
@click.option("--report", "report_path", type=click.Path(), help="Write the result as JSON (network sha256, inputs, shard, counts, first mismatch).")
@click.option("--junit", "junit_path", type=click.Path(), help="Write JUnit XML: one test case per backend and layer.")
@click.option("--json", "as_json", is_flag=True)
@quantize_options
def verify(model: str, backends: str, samples: int | None, task: str | None, data: str | None, workers: int, shard: tuple[int, int] | None,
           report_path: str | None, junit_path: str | None, as_json: bool, **kw: Any) -> None:
    """Spike-exact parity: every backend must reproduce the simulator's spikes and voltages.

    Reports per backend the mismatch counts per layer and the first mismatch (backend,
    layer, sample, neuron, step); exits 1 on any mismatch or on a backend that could not run.

    \b
    Example:
      delaysnn verify model.pt --backends sim,lava,netx,onnx,nir --samples 8
      delaysnn verify model.dnet --backends onnx --samples 256
      delaysnn verify model.pt --data ~/data/SHD --samples all --workers 2 --junit report.xml
      delaysnn verify model.pt --data ~/data/SHD --samples all --shard 2/4 --report part2.json
    """
    from exporters.registry import TARGETS

    from .verify import VerifyRun, network_id, shard_range
    from .verify import verify_batches as run_verify

    names = [b.strip() for b in backends.split(",") if b.strip()]
    runnable = _targets("run")
    unknown = [b for b in names if b not in runnable]
    if unknown or not names:
        raise click.BadParameter(f"unknown backend(s) {unknown}; choose from {', '.join(runnable)}", param_hint="--backends")
    if shard is not None and report_path is None:
        raise click.BadParameter("a shard's result is only useful merged: pass --report PART.json too", param_hint="--shard")
    for path in (report_path, junit_path):
        if path:
            _out(path, model, data=data)
    if report_path and junit_path:
        from .fileio import check_output_path

        check_output_path(junit_path, [report_path])
    qopts = _quantize_opts(kw)
    if any(TARGETS[name].for_netx for name in names):
        qopts.for_netx = True  # the network every backend runs must be one netx can hold
    net, x, _, what = _network_and_inputs(model, qopts, task, data, samples)
    index, count = shard or (1, 1)
    start, stop = shard_range(x.count, index, count)
    if start == stop:
        raise DelaysnnError(f"--shard {index}/{count}: {x.count} samples leave this shard empty; use at most {x.count} shards")
    part = f" (shard {index}/{count}: samples {start}..{stop - 1})" if shard else ""

    def progress(name: str) -> None:
        if not as_json:
            click.echo(f"running {name} on {what}{part} ...", err=True)

    reports = run_verify(net, x.batches(start=start, stop=stop), names, on_backend=progress, workers=workers, start=start)
    run = VerifyRun(network_id(net), what, x.count, len(net.layers), start, stop, reports, shard=(index, count))
    _write_verify_outputs(run, report_path, junit_path)
    _print_verify(run, as_json)


def _write_verify_outputs(run: Any, report_path: str | None, junit_path: str | None) -> None:
    from .fileio import write_bytes_atomic
    from .verify import junit_xml

    if report_path:
        write_bytes_atomic(report_path, run.to_json())
    if junit_path:
        write_bytes_atomic(junit_path, junit_xml(run))


def _print_verify(run: Any, as_json: bool) -> None:
    """Print a verify run; exit 1 (a DelaysnnError) on any mismatch or skipped backend."""
    failed = [r for r in run.reports if not r.ok]
    if as_json:
        from dataclasses import asdict

        _echo_json({"inputs": run.inputs, "network": run.network, "shard": f"{run.shard[0]}/{run.shard[1]}",
                    "start": run.start, "stop": run.stop, "ok": not failed, "reports": [asdict(r) for r in run.reports]})
    else:
        for r in run.reports:
            click.echo(r.summary())
    if failed:
        raise DelaysnnError(f"parity failed for {', '.join(r.backend for r in failed)} (see above)")
    if not as_json:
        click.echo(f"all {len(run.reports)} backends identical to the simulator")


@cli.command("verify-merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path())
@click.option("--junit", "junit_path", type=click.Path(), help="Write the combined result as JUnit XML.")
@click.option("--report", "report_path", type=click.Path(), help="Write the combined result as JSON.")
@click.option("--json", "as_json", is_flag=True)
def verify_merge(reports: tuple[str, ...], junit_path: str | None, report_path: str | None, as_json: bool) -> None:
    """Combine the --report files of verify --shard runs into one result.

    Checks that they are of the same network and inputs and cover every sample exactly once;
    exits 1 on any mismatch, as verify does.

    \b
    Example:
      delaysnn verify-merge part1.json part2.json part3.json --junit report.xml
    """
    from .fileio import check_output_path
    from .verify import _read_runs, merge_runs

    for path in (report_path, junit_path):
        if path:
            check_output_path(path, list(reports))
    run = merge_runs(_read_runs(reports), list(reports))
    _write_verify_outputs(run, report_path, junit_path)
    if not as_json:
        click.echo(f"merged {len(reports)} reports covering {run.inputs}")
    _print_verify(run, as_json)


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--profile", "profiles", multiple=True, metavar="NAME|FILE.toml",
              help="Energy profile (repeatable; default loihi2, cmos45_int8, cmos45_fp32).")
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Inputs to count on (default: the model's task, else random spikes).")
@click.option("--data", type=click.Path(), help="Directory with the SHD/SSC .h5 files.")
@click.option("--samples", type=click.IntRange(min=1), help="Default: the whole test split (512 random inputs without data).")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option("--plot", type=click.Path(), help="Write a PNG: energy breakdown, per-layer activity, delay histogram.")
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
    from .estimate import DEFAULT_PROFILES
    from .estimate import estimate_batches as run_estimate
    from .estimate import plot as plot_estimate

    if plot:
        _out(plot, model, *(p for p in profiles if p.endswith(".toml")), data=data)
    net, x, _, what = _network_and_inputs(model, _quantize_opts(kw), task, data, samples)
    est = run_estimate(net, x.batches(), profiles=list(profiles) or list(DEFAULT_PROFILES))
    if plot:
        plot_estimate(est, plot)
    if as_json:
        _echo_json(est.to_dict())
        return
    click.echo(f"inputs: {what}")
    click.echo(est.table())
    if plot:
        click.echo(f"wrote {plot}")


@cli.command("search-deployment")
@click.argument("model", type=click.Path())
@click.option("--task", type=click.Choice(["synthetic", "shd", "ssc"]), help="Task of --data (default: the checkpoint's).")
@click.option("--data", type=click.Path(), help="SHD-layout data directory (shd/ssc tasks).")
@click.option("--profile", default="loihi2", show_default=True, help="Hardware profile: limits, memory widths, cores.")
@click.option("--budget-kb", type=click.FloatRange(min=0, min_open=True), help="Largest synaptic memory (kB = 1000 bytes) a deployment may take.")
@click.option("--weight-bits", "weight_bits", default="8,4,2", show_default=True, help="Weight bit widths to try (comma-separated).")
@click.option("--no-ternary", is_flag=True, help="Do not try ternary weights.")
@click.option("--delay-bits", "delay_bits", default="full,5,4,3", show_default=True, help="Delay bits to try ('full': the profile's range).")
@click.option("--prune", "prune", default="0,0.5,0.8", show_default=True, help="Pruning fractions to try.")
@click.option("--delay-grid", type=click.Choice(["step", "cap"]), default="step", show_default=True)
@click.option("--prune-scope", type=click.Choice(["layer", "global"]), default="layer", show_default=True)
@click.option("--qat-epochs", type=click.IntRange(0), default=2, show_default=True, help="Short QAT per fine-tuned candidate (0: PTQ only).")
@click.option("--max-qat", type=click.IntRange(0), default=6, show_default=True, help="How many candidates get QAT (the PTQ front first).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True,
              help="Training data held out (by speaker for shd/ssc) to select on; test only reports.")
@click.option("--samples", type=click.IntRange(1), help="Use at most this many samples per split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(), required=True, help="Markdown table to write; the plot (.png) and JSON (.json) go beside it.")
def search_deployment(model: str, task: str | None, data: str | None, profile: str, budget_kb: float | None, weight_bits: str, no_ternary: bool,
                      delay_bits: str, prune: str, delay_grid: str, prune_scope: str, qat_epochs: int, max_qat: int, val_fraction: float,
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
    """
    import json

    from .checkpoint import load_checkpoint_and_metadata
    from .datasets import validation_split
    from .fileio import check_output_path, write_bytes_atomic
    from .frontier import candidate_grid, plot, search, table
    from .pipeline import load_profile
    from .quantize import input_bits_for

    def numbers(text: str, option: str, kind: Any) -> list[Any]:
        try:
            return [None if v.strip() == "full" else kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"{text!r}: expected comma-separated numbers", param_hint=f"'{option}'") from None

    out = _out(output, model, data=data)
    grid = candidate_grid(numbers(weight_bits, "--weight-bits", int), not no_ternary, numbers(delay_bits, "--delay-bits", int),
                          numbers(prune, "--prune", float))
    with _naming(model):
        fmodel, meta = load_checkpoint_and_metadata(model)
    task = task or meta.get("task") or "synthetic"
    train_set, test_set = load_task_data(task, data, samples, seed)
    speakers = None
    if task != "synthetic":
        from .heidelberg import load_speakers

        speakers = load_speakers(data, task, "train", max_samples=samples)
    fit, val, how = validation_split(train_set, val_fraction, seed, speakers)
    click.echo(f"validation: {how}; {len(grid)} candidates", err=True)
    result = search(
        fmodel, fit, val, test_set, profile=load_profile(profile), candidates=grid, budget_kB=budget_kb,
        qat_epochs=qat_epochs, max_qat=max_qat if qat_epochs else 0, delay_grid=delay_grid, prune_scope=prune_scope,
        input_bits=input_bits_for(int(meta.get("input_max_count") or train_set.max_count)),
        echo=lambda line: click.echo(line, err=True),
    )
    text = table(result)
    write_bytes_atomic(out, text.encode())
    write_bytes_atomic(check_output_path(out.with_suffix(".json"), [model]), json.dumps(result.to_dict(), indent=2).encode())
    plot(result, check_output_path(out.with_suffix(".png"), [model]), reference=task == "shd")
    click.echo(text)
    click.echo(f"wrote {out}, {out.with_suffix('.png')}, {out.with_suffix('.json')}")


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(path: str, as_json: bool) -> None:
    """Describe a checkpoint, an IR file (.dnet), a NIR graph, an ONNX model or a netx .h5.

    \b
    Example:
      delaysnn inspect model.pt
    """
    from .inspect import describe

    info = describe(path)
    if as_json:
        _echo_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for row in value:
                click.echo(f"  {row}")
        else:
            click.echo(f"{key}: {value}")


@cli.command()
@click.option("--task", type=click.Choice(["synthetic", "spoken-digits"]), default="synthetic", show_default=True,
              help="spoken-digits: synthesized speech in SHD's layout (needs espeak-ng; made on first use).")
@click.option("--data", type=click.Path(), help="spoken-digits: data directory (default OUT/spoken-digits).")
@click.option("--out", "out_dir", type=click.Path(), default="demo-out", show_default=True, help="Where to write the demo's files.")
@click.option("--epochs", type=click.IntRange(min=1), help="Default: 10 (synthetic), 20 (spoken-digits).")
@click.option("--samples", type=click.IntRange(min=64), help="Training samples (default: 2048 synthetic, all spoken digits).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(task: str, data: str | None, out_dir: str, epochs: int | None, samples: int | None, seed: int) -> None:
    """End to end: train, quantize, export, verify, estimate.

    Trains the network with learned delays and the same network with delays fixed at 0,
    then prints both test accuracies, quantizes, exports to every target, checks parity and
    estimates costs.

    \b
    Example:
      delaysnn demo --out demo-out
      delaysnn demo --task spoken-digits --out demo-speech
    """
    from .demo import run_demo, speech_workload

    workload = None
    if task == "spoken-digits":
        data_dir = Path(data) if data else Path(out_dir) / "spoken-digits"
        workload = speech_workload(data_dir, epochs=epochs or 20, samples=samples, seed=seed, echo=click.echo)
    summary = run_demo(Path(out_dir), epochs=epochs or 10, samples=samples or 2048, seed=seed, echo=click.echo, workload=workload)
    click.echo("")
    click.echo(summary.table())


@cli.command("make-dataset")
@click.argument("name", type=click.Choice(["spoken-digits"]))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory to write shd_train.h5 and shd_test.h5 into (made if missing).")
@click.option("--per-class", type=click.IntRange(min=2), default=150, show_default=True,
              help="Utterances per class over both splits (20 classes; 20 % of them go to test).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: every core).")
@click.option("--variants", metavar="ID,ID,...",
              help="Only these espeak-ng voice variants (espeak-ng --voices=variant), e.g. m1,m2,f1,f3 for a small quick set.")
def make_dataset(name: str, out_dir: str, per_class: int, seed: int, workers: int | None, variants: str | None) -> None:
    """Synthesize a data set in the SHD file layout (read by --task shd --data DIR).

    spoken-digits: the digits 0-9 in English and German (20 classes, SHD's label order)
    spoken by espeak-ng voices with random speed, pitch and noise, through the 700-channel
    cochlea. Test voices are never heard in training. Needs espeak-ng
    (apt-get install -y espeak-ng). Synthesized speech, not SHD.

    \b
    Example:
      delaysnn make-dataset spoken-digits -o data/spoken-digits
      delaysnn train --task shd --data data/spoken-digits -o digits.pt
    """
    from .data.spoken_digits import make_spoken_digits

    chosen = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    info = make_spoken_digits(out_dir, per_class=per_class, seed=seed, workers=workers, variants=chosen, echo=click.echo)
    for split, path in info["paths"].items():
        click.echo(f"{path}: {info['counts'][split]} utterances, {info['speakers'][split]} speakers "
                   f"({len(info['variants'][split])} voice variants)")
    click.echo(f"done in {info['seconds']:.1f} s (espeak-ng {info['espeak_version']}, seed {seed})")


@cli.command("encode-audio")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(), metavar="WAVS_OR_DIRS...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="SHD-layout HDF5 file to write.")
@click.option("--labels", type=click.Path(dir_okay=False), help="CSV with columns file,label[,speaker]; one row per audio file (default: every label 0).")
@click.option("--cochlea", type=click.Choice(["ours", "lauscher"]), default="ours", show_default=True,
              help="ours: fast gammatone front end (~0.05 s per utterance); lauscher: SHD's own cochlea (pip install lauscher; minutes per utterance).")
def encode_audio(inputs: tuple[str, ...], output: str, labels: str | None, cochlea: str) -> None:
    """Encode recordings into spike trains in the SHD file layout (700 channels).

    INPUTS are WAV files or directories (their *.wav files, sorted). The file reads with
    --task shd --data DIR once named shd_train.h5 / shd_test.h5.

    \b
    Example:
      delaysnn encode-audio recordings/ -o shd_train.h5 --labels labels.csv
      delaysnn encode-audio a.wav b.wav -o two.h5 --cochlea lauscher
    """
    from .data.audio_files import encode_files

    info = encode_files(list(inputs), output, labels=labels, cochlea=cochlea)
    click.echo(f"{info['path']}: {info['files']} files, {info['spikes']} spikes ({cochlea} cochlea, {info['seconds']:.1f} s)")


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
    with stop_signals():
        _run(args, debug)


def _run(args: list[str], debug: bool) -> None:
    try:
        code = cli.main(args=args, prog_name="delaysnn", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted; no partial output was left behind", err=True)
        sys.exit(130)
    except Terminated as sig:
        click.echo(f"{sig}; no partial output was left behind", err=True)
        sys.exit(128 + sig.signum)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except DelaysnnError as err:
        if debug:
            raise
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

"""The Python API of every command: one function per job of the CLI, which only parses, calls one
of these and prints. A notebook, the demo (``delaysnn.app.demo``) and the CLI call the same functions.

- :func:`load`, :func:`load_network`: a checkpoint as a float model; a file as an integer network;
- :func:`train_model` (a :class:`TrainRequest`), :func:`new_model`, :func:`fit`: training;
- :func:`quantize`, :func:`export`, :func:`convert`, :func:`inspect`: files in, files out;
- :func:`simulate`, :func:`verify`, :func:`verify_merge`, :func:`estimate`: running a network;
- :func:`search_deployment` (a :class:`SearchRequest`), :func:`plot_training`.

A ``source`` is a model file (``.pt`` checkpoint, quantized with ``options``; ``.dnet`` IR file)
or a ``DelayNetwork``; ``inputs`` an array ``[batch, steps, inputs]``, an ``EvaluationInputs``,
or None (then ``task`` / ``data`` / ``samples`` choose them, as the CLI's options do). ``note``
receives the notes the CLI prints to stderr. Errors are ``DelaysnnError``s; nothing here prints.

One short function per command, kept together so the whole API reads in one place, except the
train command's (:mod:`delaysnn.app.api_train`, re-exported here); the shared steps (opening a
network, its inputs, guarded outputs) live in ``pipeline``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DelaysnnError
from ..ir import DelayNetwork
from .api_train import (  # the train command's API (and the task data every command loads)
    TASK_DEFAULTS,
    TrainOutcome,
    TrainRequest,
    fit,
    load_task_data,
    new_model,
    plot_training,
    task_speakers,
    train_model,
)
from .pipeline import (
    EvaluationInputs,
    Note,
    QuantizeOptions,
    as_inputs,
    check_fitted,
    check_options,
    default_output,
    deployment,
    is_ir_file,
    load_network,
    naming,
    note_input_bits,
    open_network,
    output_path,
    plot_output,
    refuse_guessed_input,
    silent,
    source_and_inputs,
    train_counts,
)

__all__ = [
    "TASK_DEFAULTS", "EvaluationInputs", "QuantizeOptions", "TrainRequest", "TrainOutcome", "SearchRequest",
    "as_inputs", "convert", "default_output", "estimate", "export", "fit", "inspect", "load", "load_network", "load_task_data",
    "new_model", "plot_training", "quantize", "search_deployment", "simulate", "train_model", "verify", "verify_merge",
]

def load(path: str | os.PathLike) -> Any:
    """A delaysnn checkpoint (``.pt``) as a float ``DelaySNN`` in eval mode."""
    from ..model.checkpoint import load_checkpoint

    return load_checkpoint(path)


@dataclass
class Converted:
    model: Any
    meta: dict[str, Any]
    counts_from: str | None  # where the recorded input range was read (None: none recorded)


def convert(source: str | os.PathLike, fmt: str, output: str | os.PathLike, data: str | None = None, task: str | None = None,
            **options: Any) -> Converted:
    """Import another tool's checkpoint (``fmt``: snn-delays or axdensyn) as a delaysnn checkpoint at ``output``;
    with ``data`` its training split's largest count is recorded (the graded input width)."""
    from ..convert.axdensyn import convert_axdensyn
    from ..convert.snn_delays import convert_snn_delays
    from ..model.checkpoint import save_checkpoint

    output_path(output, source, data=data)
    model = (convert_axdensyn if fmt == "axdensyn" else convert_snn_delays)(source, **options)
    meta: dict[str, Any] = {"converted_from": fmt, "source": str(source)}
    counts, where = train_counts(task, data), None
    if counts is not None:
        meta["input_max_count"], where = counts()
        meta["task"] = task or "shd"
    save_checkpoint(model, output, meta)
    return Converted(model, meta, where)


# --- deployment ---------------------------------------------------------------------------------


def quantize(
    model: str | os.PathLike, output: str | os.PathLike, options: QuantizeOptions | None = None, *, task: str | None = None,
    data: str | None = None, note: Note = silent,
) -> tuple[DelayNetwork, Any]:
    """Quantize checkpoint ``model`` to an IR file ``output``; returns ``(net, per-layer report)``.
    With ``data``, the report's ``evaluation`` is the network on the data's test split: its
    accuracy and its agreement with the float model (``Simulated.to_dict``)."""
    from .. import ir

    output_path(output, model, data=data)
    if is_ir_file(model):
        raise DelaysnnError(f"{model}: already an integer network; quantize takes a checkpoint (.pt)")
    check_options(options, model)
    net, report = open_network(model, options, task=task, data=data)
    refuse_guessed_input(net, model)
    note_input_bits(net, note)
    if data is not None:  # before writing: a test split that cannot be read leaves no output
        from .pipeline import evaluation_batches

        x = evaluation_batches(net, task or net.provenance.get("task"), data, None)
        report.evaluation = run_simulation(net, x, float_model_of(model)).to_dict()
    ir.save(net, output)
    return net, report


@dataclass
class Exported:
    path: Path
    net: DelayNetwork | None  # None for a float export


def export(
    source: str | os.PathLike | DelayNetwork, target: str, output: str | os.PathLike | None = None,
    options: QuantizeOptions | None = None, *, float_model: bool = False, task: str | None = None, data: str | None = None,
    dt: float | None = None, note: Note = silent,
) -> Exported:
    """Write ``source`` for ``target`` (a backend of ``exporters.TARGETS``), by default beside a
    model file with the target's suffix. A target with a hardware profile (loihi) checks it, and
    quantizes a checkpoint as ``quantize --target`` does (netx limits, the target recorded).
    ``float_model``: the float model
    (targets whose format holds one); ``dt``: nir's seconds per step."""
    from exporters.registry import PLAIN_TARGET, backend, deploy_targets, names

    from ..errors import HardwareLimitError
    from ..ir.identity import refit_advice
    from .pipeline import check_profile, export_float, export_output
    from .pipeline import export as run_export

    if output is None and isinstance(source, DelayNetwork):
        raise DelaysnnError(f"export: a network needs an output path for --target {target}")
    model = None if isinstance(source, DelayNetwork) else source
    out = export_output(output, source, target, data=data)  # guarded, suffix checked, DIR/ gets the default name
    check_options(options, source, float_model=float_model, checks_profile=True)  # before the target's defaults fill them
    qopts = QuantizeOptions() if options is None else replace(options)
    spec = backend(target, "export")
    if dt is not None and target != "nir":
        raise DelaysnnError(f"--dt applies to --target nir (the seconds per step its graph records), not {target}")
    extra = {} if dt is None else {"dt": dt}
    # loihi: a checkpoint is quantized as `quantize --target loihi` does (netx limits, loihi2 checked)
    fitted = target if target in deploy_targets() else None
    if qopts.target not in (None, fitted or PLAIN_TARGET):
        raise DelaysnnError(f"export --target {target}: the options are for --target {qopts.target}; give one target")
    qopts.target = fitted
    qopts.profile = qopts.profile or spec.profile
    if float_model:
        if not spec.can("float"):
            raise DelaysnnError(f"--float applies to --target {' or '.join(names('float'))}, not {target}")
        if model is None:
            raise DelaysnnError("export: --float takes a checkpoint (.pt), not an integer network")
        export_float(load(model), target, out, **extra)
        return Exported(out, None)
    with naming(model) if model is not None else contextlib.nullcontext():
        if model is None:
            net, report = source, None
        else:
            # an IR file not fitted for the target is still exported where it meets the target's limits
            fitting = qopts if not is_ir_file(model) else replace(qopts, target=None)
            net, report = load_network(model, fitting, data_max_count=train_counts(task, data))
            refuse_guessed_input(net, model)
            note_input_bits(net, note)
        if qopts.profile is not None and report is None:  # a quantized checkpoint was already checked against it
            try:
                check_profile(net, qopts.profile)
            except HardwareLimitError as err:
                if qopts.target is None or net.provenance.get("target") == qopts.target:
                    raise
                raise HardwareLimitError(f"{err}; {refit_advice(net, qopts.target)}") from err
        run_export(net, target, out, **extra)
    return Exported(out, net)


def inspect(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a checkpoint, an IR file, a NIR graph, an ONNX model or a netx ``.h5``."""
    from .inspect import describe

    return describe(path)


# --- running ------------------------------------------------------------------------------------


@dataclass
class Simulated:
    """The integer simulator's run: accuracy (None without labels), hidden firing rates, the
    predictions, the first batch's result (rasters) and what the inputs were."""

    inputs: str
    firing_rates: list[float]
    accuracy: float | None
    predictions: np.ndarray
    first: Any
    plot: str | None = None  # as given
    agreement: Any = None  # agreement.Agreement with the float model; None for an IR file (no float model)
    network: Any = None  # pipeline.Deployment: which network ran (sha256, target, differs from the plain one)
    saturated: dict[str, Any] | None = None  # input counts above the input width, saturated (pipeline.saturation)

    def to_dict(self) -> dict[str, Any]:
        from .agreement import agreement_fields

        info: dict[str, Any] = {"inputs": self.inputs, "firing_rates": self.firing_rates, **agreement_fields(self.agreement)}
        if self.saturated is not None:
            info["saturated_inputs"] = {k: v for k, v in self.saturated.items() if k != "note"}
        if self.accuracy is not None:
            info["accuracy"] = self.accuracy
        if self.plot is not None:
            info["plot"] = self.plot
        if self.network is not None:
            info["network"] = self.network.to_dict()
        return info


def simulate(
    source: str | os.PathLike | DelayNetwork, inputs: Any = None, options: QuantizeOptions | None = None, *,
    labels: Any = None, task: str | None = None, data: str | None = None, samples: int | None = None,
    plot: str | os.PathLike | None = None, float_model: Any = None, note: Note = silent,
) -> Simulated:
    """Run the bit-accurate integer simulator a batch at a time (memory does not grow with the
    samples) and score it against the labels; ``plot``: a spike raster of the first sample. A
    checkpoint's float model runs beside it (``Simulated.agreement``); ``float_model``: the one
    a ``DelayNetwork`` source was quantized from, to compare it with."""
    if plot:
        plot_output(plot, None if isinstance(source, DelayNetwork) else source, data=data)
    if labels is not None:
        inputs = as_inputs(inputs, labels)
    check_options(options, source)
    net, x = source_and_inputs(source, inputs, options, task, data, samples, note)
    done = run_simulation(net, x, float_model if float_model is not None else float_model_of(source))
    done.network = deployment(net, source, options, task, data)
    if plot:
        from ..plots import spike_raster

        spike_raster(done.first, plot, sample=0)
        done.plot = str(plot)
    return done


def run_simulation(net: DelayNetwork, x: EvaluationInputs, float_model: Any = None) -> Simulated:
    """``net`` on ``x`` with the sim, scored against the labels and, given its ``float_model``
    (None: none, an IR file), compared with it as it runs (``delaysnn.app.agreement``)."""
    from .agreement import run_with_float

    summary, agreement = run_with_float(float_model, net, x)
    accuracy = None if x.labels is None else float((summary.predictions == x.labels).mean())
    return Simulated(x.description, summary.firing_rates, accuracy, summary.predictions, summary.first, agreement=agreement,
                     saturated=getattr(x, "saturated", None))


def float_model_of(source: str | os.PathLike | DelayNetwork) -> Any:
    """The float model of a checkpoint ``source`` (to compare its integer network with), as it was
    trained: a QAT checkpoint's forward pass runs through the grids it recorded (its plain float
    forward is a model nobody trained: a ternary QAT model scored 67 % that way, 81 % as trained).
    None for an IR file or a ``DelayNetwork``, which have none."""
    from ..model.checkpoint import load_checkpoint_and_metadata
    from ..spec import DeploySpec

    if isinstance(source, DelayNetwork) or is_ir_file(source):
        return None
    with naming(source):
        model, meta = load_checkpoint_and_metadata(source)
    trained = DeploySpec.from_meta(meta)
    if trained.weight_grid_given:
        model.set_qat(trained.weight_bits, trained.binary, trained.ternary)
    if trained.delay_bits is not None:
        model.set_delay_qat(trained.delay_bits, trained.delay_grid or "step")
    return model


def verify(
    source: str | os.PathLike | DelayNetwork, backends: Sequence[str], inputs: Any = None, options: QuantizeOptions | None = None,
    *, task: str | None = None, data: str | None = None, samples: int | None = None, workers: int = 1,
    shard: tuple[int, int] | None = None, report_path: str | None = None, junit_path: str | None = None,
    progress: Callable[[str, str], None] | None = None, note: Note = silent,
) -> Any:
    """Spike-exact parity of every backend in ``backends`` with the simulator, on shard
    ``(index, count)`` of the inputs; writes ``report_path`` (JSON) and ``junit_path`` (JUnit XML).
    ``progress(backend, what)`` is called as each backend starts. Returns the ``VerifyRun``
    (mismatches, skipped backends and vacuity are reported in it, not raised: see
    ``verify.exit_code``), which records the network's and the whole input set's sha256."""
    from .verify import VerifyRun, inputs_id, network_id, shard_range, verify_batches

    model = None if isinstance(source, DelayNetwork) else source
    for path in (report_path, junit_path):
        if path:
            output_path(path, model, data=data)
    if report_path and junit_path:
        from ..fileio import check_output_path

        check_output_path(junit_path, [report_path])
    check_options(options, source, checks_profile=True)  # lava and netx check the network against --profile
    # one network whatever the backends: the one the target's export ships, by default for a
    # checkpoint the Loihi deployment (the default backends load its netx file); a backend that
    # cannot run it is skipped, saying why
    qopts = options
    if model is not None and not is_ir_file(model) and (options is None or options.target is None):
        from exporters.registry import DEFAULT_DEPLOY_TARGET

        qopts = replace(options or QuantizeOptions(), target=DEFAULT_DEPLOY_TARGET)
    net, x = source_and_inputs(source, inputs, qopts, task, data, samples, note)
    deployed = deployment(net, source, qopts, task, data)
    note(f"network: {deployed.describe()}")
    index, count = shard or (1, 1)
    start, stop = shard_range(x.count, index, count)
    if start == stop:
        raise DelaysnnError(f"--shard {index}/{count}: {x.count} samples leave this shard empty; use at most {x.count} shards")
    part = f" (shard {index}/{count}: samples {start}..{stop - 1})" if shard else ""

    def on_backend(name: str) -> None:
        if progress is not None:
            progress(name, f"{x.description}{part}")

    profile = options.profile if options is not None else None  # lava/netx check it instead of loihi2
    reports = verify_batches(net, x.batches(start=start, stop=stop), list(backends), on_backend=on_backend, workers=workers, start=start,
                             profile=profile)
    # the whole set's sha256, shard or not: verify-merge refuses shards of different input sets
    run = VerifyRun(network_id(net), x.description, inputs_id(x), x.count, len(net.layers), start, stop, reports, shard=(index, count),
                    deployment=deployed.to_dict())
    write_verify_outputs(run, report_path, junit_path)
    return run


def write_verify_outputs(run: Any, report_path: str | None, junit_path: str | None) -> None:
    """Write a ``VerifyRun`` as JSON (``report_path``) and JUnit XML (``junit_path``)."""
    from ..fileio import write_bytes_atomic
    from .verify import junit_xml

    if report_path:
        write_bytes_atomic(report_path, run.to_json())
    if junit_path:
        write_bytes_atomic(junit_path, junit_xml(run))


def verify_merge(reports: Sequence[str], report_path: str | None = None, junit_path: str | None = None) -> Any:
    """Combine the ``--report`` files of sharded verify runs into one ``VerifyRun`` (checked to be of
    one network and one input set, by their sha256, covering every sample once; version-1 reports,
    which carry neither the inputs' sha256 nor spike counts, are refused) and write it."""
    from ..fileio import check_output_path
    from .verify import _read_runs, merge_runs

    for path in (report_path, junit_path):
        if path:
            check_output_path(path, list(reports))
    run = merge_runs(_read_runs(reports), list(reports))
    write_verify_outputs(run, report_path, junit_path)
    return run


def estimate(
    source: str | os.PathLike | DelayNetwork, inputs: Any = None, profiles: Sequence[str] = (), options: QuantizeOptions | None = None,
    *, task: str | None = None, data: str | None = None, samples: int | None = None, plot: str | os.PathLike | None = None,
    note: Note = silent,
) -> tuple[Any, str]:
    """Synaptic operations, memory, cores and energy per inference under ``profiles`` (default
    ``estimate.DEFAULT_PROFILES``), counted by the simulator on the inputs; ``plot``: a figure (.png, .pdf or .svg). A
    checkpoint's estimate carries its agreement with the float model (``float_agreement``).
    Returns ``(Estimate, description of the inputs)``."""
    from ..estimate import DEFAULT_PROFILES, estimate_batches
    from ..estimate import estimate as estimate_array
    from ..estimate import plot as plot_estimate

    chosen = list(profiles) or list(DEFAULT_PROFILES)
    if plot:
        model = None if isinstance(source, DelayNetwork) else source
        plot_output(plot, model, *(p for p in profiles if p.endswith(".toml")), data=data)
    check_options(options, source)
    if isinstance(source, DelayNetwork) and isinstance(inputs, np.ndarray):
        check_fitted(source, options.target if options is not None else None, "the network")
        est, what = estimate_array(source, inputs, profiles=chosen), f"{inputs.shape[0]} given inputs"
    else:
        net, x = source_and_inputs(source, inputs, options, task, data, samples, note)
        est, what = estimate_batches(net, x.batches(), profiles=chosen), x.description
        if getattr(x, "saturated", None):  # counts above the input width, saturated as on the chip
            est.input["saturated"] = {k: v for k, v in x.saturated.items() if k != "note"}
        fmodel = float_model_of(source)
        if fmodel is not None:  # a checkpoint: its integer network against its float model, on the same inputs
            from .agreement import run_with_float

            agreement = run_with_float(fmodel, net, x)[1]
            est = replace(est, float_agreement=agreement.float_agreement, spike_agreement=agreement.spike_agreement)
    measured = source if isinstance(source, DelayNetwork) else net
    est.network.update(deployment(measured, source, options, task, data).to_dict())  # which network: sha256, target
    if est.no_input_events:
        from ..estimate.report import NO_EVENTS_NOTE

        note(NO_EVENTS_NOTE)
    if plot:
        plot_estimate(est, plot)
    return est, what


# --- search -------------------------------------------------------------------------------------


@dataclass
class SearchRequest:
    """What ``delaysnn search-deployment`` sweeps (``None`` in ``delay_bits``: the profile's range)."""

    model: str
    output: str
    task: str | None = None
    data: str | None = None
    profile: str = "loihi2"
    budget_kb: float | None = None
    weight_bits: list[int] = field(default_factory=lambda: [8, 4, 2])
    ternary: bool = True
    delay_bits: list[int | None] = field(default_factory=lambda: [None, 5, 4, 3])
    prune: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.8])
    delay_grid: str = "step"
    prune_scope: str = "layer"
    qat_epochs: int = 2
    max_qat: int = 6
    val_fraction: float = 0.1
    samples: int | None = None
    seed: int = 0
    delay_kinds: list[str | None] = field(default_factory=lambda: [None])  # None: the model's own kind


@dataclass
class SearchOutcome:
    result: Any  # frontier.SearchResult
    table: str
    paths: tuple[Path, Path, Path]  # the table, the plot, the JSON


def search_deployment(request: SearchRequest, echo: Note = silent) -> SearchOutcome:
    """Quantize every candidate (weight bits x delay bits x pruning), score each on a validation
    split, give the Pareto front short QAT, and write the table, its plot and every point."""
    import json

    from ..data.datasets import validation_split
    from ..fileio import check_output_path, write_bytes_atomic
    from ..model.checkpoint import load_checkpoint_and_metadata
    from ..quantization import NETX_OPTIONS, input_bits_for
    from .frontier import candidate_grid, plot, search, table
    from .pipeline import load_profile

    r = request
    out = output_path(r.output, r.model, data=r.data)
    grid = candidate_grid(r.weight_bits, r.ternary, r.delay_bits, r.prune, r.delay_kinds)
    with naming(r.model):
        fmodel, meta = load_checkpoint_and_metadata(r.model)
    task = r.task or meta.get("task") or "synthetic"
    train_set, test_set = load_task_data(task, r.data, r.samples, r.seed)
    fit_set, val, how = validation_split(train_set, r.val_fraction, r.seed, task_speakers(task, r.data, r.samples))
    echo(f"validation: {how}; {len(grid)} candidates")
    result = search(
        fmodel, fit_set, val, test_set, profile=load_profile(r.profile), candidates=grid, budget_kB=r.budget_kb,
        qat_epochs=r.qat_epochs, max_qat=r.max_qat if r.qat_epochs else 0, delay_grid=r.delay_grid, prune_scope=r.prune_scope,
        input_bits=input_bits_for(int(meta.get("input_max_count") or train_set.max_count)),
        # on Loihi 2 a deployment is a netx file: search within what netx holds (as export --target loihi)
        deploy_options=NETX_OPTIONS if r.profile == "loihi2" else None,
        echo=echo,
    )
    text = table(result)
    write_bytes_atomic(out, text.encode())
    write_bytes_atomic(check_output_path(out.with_suffix(".json"), [r.model]), json.dumps(result.to_dict(), indent=2).encode())
    plot(result, check_output_path(out.with_suffix(".png"), [r.model]), reference=task == "shd")
    return SearchOutcome(result, text, (out, out.with_suffix(".png"), out.with_suffix(".json")))

"""The steps the CLI chains: open a model file as an integer network, pick evaluation data,
export to a target (a backend of ``exporters.TARGETS``). Everything here is also what a notebook
would call."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DelaysnnError
from ..fileio import check_input_path
from ..ir import DelayNetwork
from ..spec import DeploySpec

if TYPE_CHECKING:
    from ..ir.identity import Deployment

IR_SUFFIXES = (".dnet",)
# lava-dl netx HDF5 (delaysnn's export --target loihi, or SLAYER's export_hdf5): an integer network as netx runs it
NETX_SUFFIXES = (".h5",)
CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class QuantizeOptions:
    """How a checkpoint is quantized. Left unset (None), the weight grid, the delay grid and the
    pruning are those the checkpoint was fine-tuned through (its metadata, :func:`trained_options`),
    else 8-bit weights, delays as rounded, nothing pruned."""

    weight_bits: int | None = None
    binary: bool = False
    input_bits: int | None = None  # None: from the checkpoint's training data (1 = binary spikes)
    profile: str | None = None
    clip_delays: bool = False
    # the deploy target it is fitted for (exporters.registry.deploy_targets; loihi: within what
    # lava-dl netx files hold, checked against loihi2 unless ``profile`` says otherwise), as
    # ``export --target`` quantizes; "plain" or None: the plain quantization (None: the command's
    # default, which for verify of a checkpoint is registry.DEFAULT_DEPLOY_TARGET)
    target: str | None = None
    ternary: bool = False  # TWN weights {-1, 0, +1} x a per-layer scale
    delay_bits: int | None = None  # each layer's delays take at most 2**delay_bits values
    delay_grid: str | None = None  # how: "step" (default: coarser per-layer step) or "cap" (clip to 2**delay_bits - 1)
    prune: float | None = None  # fraction of synapses removed by magnitude
    prune_scope: str | None = None  # "layer" (default) or "global"
    # (the seven grid fields above are the keyword spelling of a DeploySpec: ``spec``, ``with_spec``)

    @property
    def spec(self) -> DeploySpec:
        """The weight grid, delay grid and pruning asked for, as one :class:`~delaysnn.spec.DeploySpec`
        (two weight grids: an OptionError)."""
        return DeploySpec.from_flags(self.weight_bits, self.binary, self.ternary, self.delay_bits, self.delay_grid, self.prune,
                                     self.prune_scope)

    def with_spec(self, spec: DeploySpec) -> QuantizeOptions:
        """These options on the grids of ``spec``."""
        from dataclasses import replace

        return replace(self, weight_bits=spec.weight_bits, binary=spec.binary, ternary=spec.ternary, delay_bits=spec.delay_bits,
                       delay_grid=spec.delay_grid, prune=spec.prune, prune_scope=spec.prune_scope)


def trained_options(opts: QuantizeOptions, meta: dict[str, Any]) -> QuantizeOptions:
    """``opts`` completed with the grids the checkpoint records (``DeploySpec.from_meta``): each
    group (weight grid; delay bits and grid; pruning and scope) the caller left unset takes the
    checkpoint's (``DeploySpec.over``), so a QAT model deploys on the grid it was trained through;
    then the defaults (8-bit weights, step delay grid, per-layer pruning)."""
    return opts.with_spec(opts.spec.over(DeploySpec.from_meta(meta)).resolved())


def deployment(
    net: DelayNetwork, source: str | os.PathLike | DelayNetwork, opts: QuantizeOptions | None = None,
    task: str | None = None, data: str | None = None,
) -> Deployment:
    """The :class:`Deployment` of ``net`` (opened from ``source`` with ``opts``); for a network
    fitted for a target from a checkpoint, also quantizes the plain one to compare."""
    from dataclasses import replace

    from ..ir.identity import Deployment, arithmetic

    differs = None
    if net.provenance.get("target") is not None and not isinstance(source, DelayNetwork) and not is_ir_file(source):
        try:
            plain, _ = load_network(source, replace(opts or QuantizeOptions(), target=None), data_max_count=train_counts(task, data))
            differs = arithmetic(plain) != arithmetic(net)
        except DelaysnnError:  # no plain network to compare with (it breaks a limit the fitting avoids)
            differs = None
    return Deployment.of(net, differs)


def is_ir_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an integer network (a ``.dnet``, or a netx ``.h5``), not a checkpoint."""
    return Path(path).suffix.lower() in IR_SUFFIXES + NETX_SUFFIXES


# The quantize options a user sets, and the flag of each (``target`` is not one: a .dnet may
# be checked for its target, and that is the target's own rule).
QUANTIZE_FLAGS = {
    "weight_bits": "--weight-bits", "binary": "--binary", "ternary": "--ternary", "input_bits": "--input-bits",
    "delay_bits": "--delay-bits", "delay_grid": "--delay-grid", "prune": "--prune", "prune_scope": "--prune-scope",
    "clip_delays": "--clip-delays", "profile": "--profile",
}


def check_options(
    opts: QuantizeOptions | None, model: str | os.PathLike | DelayNetwork | None = None, *, float_model: bool = False,
    checks_profile: bool = False,
) -> None:
    """The one rule for quantize options that contradict each other or cannot apply to ``model``:
    an :class:`~delaysnn.errors.OptionError` naming them. Contradictions: two weight grids.
    Nothing quantizes an integer network (a ``.dnet`` or a ``DelayNetwork``), so every option is
    refused with one, except ``--profile`` where the caller checks the network against it
    (``checks_profile``: export, verify); nor a float export (``float_model``), so every one is refused there."""
    from ..errors import OptionError

    if opts is None:
        return
    opts.spec.validate()  # the recipe's own rules (two weight grids, a mode without its bits...)
    defaults = {f.name: f.default for f in fields(QuantizeOptions)}
    given = [flag for name, flag in QUANTIZE_FLAGS.items() if getattr(opts, name) != defaults[name]]
    if float_model and given:
        raise OptionError(f"{', '.join(given)} with --float: the float model is exported unquantized; "
                          f"drop {'it' if len(given) == 1 else 'them'}, or export the integer network without --float")
    if model is not None and (isinstance(model, DelayNetwork) or is_ir_file(model)):
        ignored = [flag for flag in given if not (flag == "--profile" and checks_profile)]
        if ignored:
            what = "the network" if isinstance(model, DelayNetwork) else str(model)
            raise OptionError(f"{', '.join(ignored)} {'applies' if len(ignored) == 1 else 'apply'} to a checkpoint (.pt); "
                              f"{what} is already quantized: quantize the checkpoint again with {ignored[0]}")


def load_network(
    path: str | os.PathLike,
    opts: QuantizeOptions | None = None,
    data_max_count: Callable[[], tuple[int, str] | None] | None = None,
) -> tuple[DelayNetwork, Any]:
    """An IR file as is, or a checkpoint quantized with ``opts``; returns ``(net, report)``
    (``report`` is None for an IR file).

    The graded input's width comes from ``opts.input_bits``, else from the checkpoint's record of
    its training data, else (a converted checkpoint records none) from ``data_max_count()``,
    which returns ``(largest count, where it was read)`` for the data the network will see.
    Where the width came from is kept in ``net.provenance["input_bits_from"]``.
    """
    path = check_input_path(path, "model file")
    if is_ir_file(path):
        from .. import ir

        if path.suffix.lower() in NETX_SUFFIXES:
            from exporters.lava.netx_read import read_netx_network  # h5py only: no Lava needed to read it

            net = read_netx_network(path)
        else:
            net = ir.load(path)
        check_fitted(net, opts.target if opts is not None else None, path)
        return net, None
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise DelaysnnError(f"{path}: expected a checkpoint (.pt), an IR file (.dnet) or a netx file (.h5), got {path.suffix!r}")
    from ..model.checkpoint import load_checkpoint_and_metadata
    from ..quantization import NETX_OPTIONS, quantize_with_report

    model, meta = load_checkpoint_and_metadata(path)
    opts = trained_options(opts or QuantizeOptions(), meta)
    spec = deploy_target(opts.target)
    input_bits, source = resolve_input_bits(opts.input_bits, meta, data_max_count)
    profile_name = opts.profile or (spec.profile if spec is not None else None)
    if opts.clip_delays and profile_name is None:
        from ..errors import OptionError

        # the limit clipped to is a profile's: without one nothing is clipped and later checks would advise --clip-delays again
        raise OptionError(f"--clip-delays with {path}: no delay limit to clip to; add --target loihi or --profile NAME")
    profile = load_profile(profile_name) if profile_name else None
    net, report = quantize_with_report(
        model,
        input_bits=input_bits,
        clip_delays=opts.clip_delays,
        profile=profile,
        **opts.spec.quantize_kwargs(),
        **(NETX_OPTIONS if spec is not None and spec.for_netx else {}),
    )
    if spec is not None:
        net.provenance["target"], net.provenance["profile"] = spec.name, getattr(profile, "name", profile_name)
        if spec.for_netx:
            net.provenance["limits"] = "netx"  # what it was fitted within, for reports (ir.identity)
    net.provenance["source_file"] = path.name
    net.provenance["input_bits_from"] = source
    if "task" in meta:
        net.provenance["task"] = str(meta["task"])
    return net, report


def refuse_guessed_input(net: DelayNetwork, model: str | os.PathLike) -> None:
    """Before a file is written for a deploy target: refuse a network whose input width was
    guessed (a checkpoint that records no input range, no --input-bits, no --data). The file
    fixes the payload width, and a guessed 1 bit would clip every count above 1 on the chip;
    commands that only measure keep the guess and say so in a note."""
    target = net.provenance.get("target")
    if target is not None and str(net.provenance.get("input_bits_from", "")).startswith(DEFAULT_INPUT_BITS):
        raise DelaysnnError(
            f"{model}: the checkpoint records no input range, and --target {target} fixes the input payload width; "
            "pass --input-bits N (bits of the largest spike count) or --data DIR (its training split sets it)"
        )


def check_fitted(net: DelayNetwork, target: str | None, path: str | os.PathLike) -> None:
    """Refuse an IR file that was not quantized for ``target`` (recorded in its provenance): a
    command asked to measure the network ``export --target`` ships would measure another one."""
    from exporters.registry import PLAIN_TARGET

    from ..ir.identity import refit_advice

    recorded = net.provenance.get("target")
    if target is not None and recorded != (None if target == PLAIN_TARGET else target):
        what = f"for --target {recorded}" if recorded else "with no --target (the plain quantization)"
        raise DelaysnnError(f"{path}: quantized {what}, not for --target {target}; {refit_advice(net, target)}, or drop --target to use the file as it is")


def resolve_input_bits(
    input_bits: int | None,
    meta: dict[str, Any],
    data_max_count: Callable[[], tuple[int, str] | None] | None = None,
) -> tuple[int, str]:
    """``(bits, where the width came from)``: the option, the checkpoint, the data, or 1 bit."""
    from ..quantization import input_bits_for

    if input_bits is not None:
        return int(input_bits), "--input-bits"
    if "input_max_count" in meta:
        count = int(meta["input_max_count"])
        return input_bits_for(count), f"the checkpoint (training counts up to {count})"
    found = data_max_count() if data_max_count is not None else None
    if found is not None:
        count, where = found
        return input_bits_for(count), f"the data, {where} (counts up to {count}; the checkpoint records no input range)"
    return 1, f"{DEFAULT_INPUT_BITS} (binary spikes: the checkpoint records no input range; pass --data DIR or --input-bits N)"


DEFAULT_INPUT_BITS = "a default of 1 bit"  # resolve_input_bits's source when nothing records the input range


def deploy_target(name: str | None) -> Any:
    """The registry's backend of deploy target ``name`` (``exporters.registry.deploy_targets``),
    None for None or ``plain`` (the plain quantization), a one-line error for any other name."""
    from exporters.registry import PLAIN_TARGET, backend, deploy_targets

    if name is None or name == PLAIN_TARGET:
        return None
    if name not in deploy_targets():
        raise DelaysnnError(f"--target {name}: not a deploy target; choose from {', '.join([*deploy_targets(), PLAIN_TARGET])}")
    return backend(name, "export")


def load_profile(name: str) -> Any:
    from hardware import load_profile as _load

    return _load(name)


def check_profile(net: DelayNetwork, profile_name: str) -> None:
    """Raise ``HardwareLimitError`` listing every violation of the named profile
    (``hardware.Profile.check``: the one profile check)."""
    load_profile(profile_name).check(net)


def default_output(model_path: str | os.PathLike, target: str) -> Path:
    """``model_path`` with the suffix of ``target``'s files."""
    from exporters.registry import backend

    return Path(model_path).with_suffix(backend(target, "export").suffix or "")


def export_output(
    output: str | os.PathLike | None, source: str | os.PathLike | DelayNetwork, target: str, data: str | None = None
) -> Path:
    """Where ``export`` writes, checked (:func:`output_path`, then ``target``'s suffix: a file named
    for another format is later read as that one and called corrupt). A directory (existing, or
    ``DIR/``) gets the default name inside it; None the default beside the model file."""
    from exporters.registry import backend

    spec = backend(target, "export")
    model = source if isinstance(source, str | os.PathLike) else None
    if output is None or os.fspath(output).endswith(("/", os.sep)) or Path(output).is_dir():
        if model is None:
            raise DelaysnnError(f"export: a network needs an output file path for --target {target}")
        default = default_output(model, target)
        output = default if output is None else Path(output) / default.name
    return spec.check_suffix(output_path(output, model, data=data))  # an input, FIFO or device is refused as such first


def export(net: DelayNetwork, target: str, out: str | os.PathLike, **options: Any) -> Path:
    """Write ``net`` for ``target`` (atomically: backends write through ``delaysnn.fileio``);
    ``options`` go to the target's exporter (e.g. ``dt`` for nir)."""
    from exporters.registry import backend

    return backend(target, "export").export(net, out, **options)


def export_float(model: Any, target: str, out: str | os.PathLike, **options: Any) -> Path:
    """Write the float model for ``target`` (one whose format holds it: nir, onnx)."""
    from exporters.registry import backend

    return backend(target, "float").export_float(model, out, **options)


def evaluation_dataset(task: str | None, data: str | None, samples: int | None, seed: int = 0) -> Any:
    """The test split to evaluate on (``SpikeDataset``), or None where the inputs are random.

    With ``--data`` the Heidelberg-layout test split (SHD unless ``task`` says ssc), capped at
    ``samples``; with ``--task synthetic`` the synthetic test set, of at most
    ``limits.MAX_GENERATED_SAMPLES``. ``samples`` None means the whole split.
    """
    if data is not None or task in ("shd", "ssc"):
        if data is None:
            raise DelaysnnError(f"--task {task} needs --data DIR with the {task.upper()} .h5 files (shd_train.h5, shd_test.h5)")
        from ..data.heidelberg import load_heidelberg

        return load_heidelberg(data, task if task in ("shd", "ssc") else "shd", "test", max_samples=samples)
    if task == "synthetic":
        from ..data.datasets import synthetic_splits

        return synthetic_splits(n_train=1, n_test=check_generated_samples(samples or RANDOM_SAMPLES, "synthetic"), seed=seed)[1]
    return None


RANDOM_SAMPLES = 512  # inputs drawn when there is no data set and --samples is not given
RANDOM_STEPS = 50
RANDOM_RATE = 0.05


def check_generated_samples(samples: int, what: str) -> int:
    """``samples`` if generated inputs (random, synthetic) of that many are within
    ``limits.MAX_GENERATED_SAMPLES``, else a one-line error naming --samples."""
    from ..limits import MAX_GENERATED_SAMPLES

    if samples > MAX_GENERATED_SAMPLES:
        raise DelaysnnError(
            f"--samples {samples}: more than the {MAX_GENERATED_SAMPLES} {what} inputs delaysnn generates "
            f"(delaysnn.limits.MAX_GENERATED_SAMPLES); pass --samples {MAX_GENERATED_SAMPLES} or less, or --data DIR"
        )
    return samples


@dataclass
class EvaluationInputs:
    """Inputs to run a network on, made a batch at a time (:meth:`batches`): ``count`` samples of
    ``steps`` steps, ``labels`` (or None), and a description for reports."""

    count: int
    steps: int
    labels: np.ndarray | None
    description: str
    make: Callable[[int, int], np.ndarray]  # (start, stop) -> int32 [stop - start, steps, inputs]
    saturated: dict[str, Any] | None = None  # counts above the input width, saturated (pipeline.saturation)

    def batches(self, size: int | None = None, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Consecutive batches of at most ``size`` samples (default ``limits.BATCH_SAMPLES``) of
        samples ``start``..``stop - 1`` (default: all)."""
        from ..limits import BATCH_SAMPLES

        size = size or BATCH_SAMPLES
        stop = self.count if stop is None else min(stop, self.count)
        for a in range(start, stop, size):
            yield self.make(a, min(stop, a + size))

    def array(self) -> np.ndarray:
        """Every sample at once (memory grows with ``count``)."""
        return self.make(0, self.count)


def evaluation_batches(
    net: DelayNetwork, task: str | None, data: str | None, samples: int | None, seed: int = 0, dataset: Any = None
) -> EvaluationInputs:
    """The inputs to run ``net`` on: the split of :func:`evaluation_dataset` (pass ``dataset`` when
    already loaded), capped at ``samples``; without one, deterministic random spikes (no labels) at
    a 5 % rate, at most ``limits.MAX_GENERATED_SAMPLES`` of them."""
    ds = dataset if dataset is not None else evaluation_dataset(task, data, samples, seed)
    if ds is None:
        from ..estimate import random_input

        n = check_generated_samples(samples or RANDOM_SAMPLES, "random")
        return EvaluationInputs(
            count=n,
            steps=RANDOM_STEPS,
            labels=None,
            description=f"{n} random inputs (5% active, {RANDOM_STEPS} steps)",
            make=lambda a, b: random_input(net, steps=RANDOM_STEPS, rate=RANDOM_RATE, samples=b - a, seed=seed, start=a),
        )
    if ds.channels != net.input_size:
        raise DelaysnnError(f"dataset {ds.name} has {ds.channels} channels, the network expects {net.input_size}")
    n = len(ds) if samples is None else min(len(ds), samples)
    if n < 1:
        raise DelaysnnError(f"dataset {ds.name} has no samples; pass a split with at least one")
    x_all = ds.x
    ceiling = 2**net.input_bits - 1
    saturated = saturation(x_all[:n], ceiling, net.input_bits) if ds.max_count > ceiling else None
    return EvaluationInputs(
        count=n,
        steps=int(x_all.shape[1]),
        labels=ds.y.numpy()[:n],
        description=f"{n} samples of {ds.name}" + (f" ({saturated['note']})" if saturated else ""),
        make=lambda a, b: np.minimum(x_all[a:b].numpy().astype(np.int32), ceiling),
        saturated=saturated,
    )


def saturation(x: Any, ceiling: int, bits: int) -> dict[str, Any] | None:
    """Counts above the input's width in ``x`` (``[samples, steps, inputs]``), which the inputs
    then carry saturated at ``ceiling``, as a graded spike's payload saturates on the chip: real
    data goes past the training split's range (an unseen FSDD speaker reached 16 against 15).
    ``{"ceiling", "values", "samples", "largest", "note"}``, or None when nothing is above it."""
    over = x > ceiling
    values = int(over.sum())
    if not values:
        return None
    samples = int(over.reshape(over.shape[0], -1).any(1).sum())
    largest = int(x.max())
    return {
        "ceiling": ceiling, "values": values, "samples": samples, "largest": largest,
        "note": f"{values} input value(s) in {samples} sample(s) above the {bits}-bit input's {ceiling} "
                f"(up to {largest}) saturated at {ceiling}, as the chip does",
    }


# --- what every command does first: its outputs guarded, its network and inputs opened ---

Note = Callable[[str], None]


def silent(message: str) -> None:
    """The default ``note``: notes are for a terminal; a caller that wants them passes its own."""


def output_path(path: str | os.PathLike, *inputs: str | os.PathLike | None, data: str | None = None) -> Path:
    """``check_output_path`` for an output: also refuses one that is one of the job's inputs
    (the model, --init, profile files, the ``.h5`` files of ``data``)."""
    from ..fileio import check_output_path

    files: list[str | os.PathLike | None] = list(inputs)
    if data and Path(data).is_dir():
        files += sorted(Path(data).glob("*.h5*"))
    return check_output_path(path, files)


def plot_output(path: str | os.PathLike, *inputs: str | os.PathLike | None, data: str | None = None) -> Path:
    """:func:`output_path` for a plot, whose suffix must also name a format (``plots.plot_format``):
    checked before the work, not when the figure is saved."""
    from ..plots import plot_format

    out = output_path(path, *inputs, data=data)
    plot_format(out)
    return out


def train_counts(task: str | None, data: str | None) -> Callable[[], tuple[int, str]] | None:
    """``data_max_count`` for ``load_network``: the largest count in the training split of ``data``."""
    if data is None:
        return None

    def counts() -> tuple[int, str]:
        from ..data.heidelberg import load_heidelberg

        ds = load_heidelberg(data, task if task in ("shd", "ssc") else "shd", "train")
        return ds.max_count, f"{data} ({ds.name})"

    return counts


@contextlib.contextmanager
def naming(model: str | os.PathLike) -> Iterator[None]:
    """Refusals of MODEL's network (hardware profile limits, what netx cannot hold) name MODEL,
    as every error names its file; errors that already start with it pass unchanged."""
    from ..errors import HardwareLimitError, UnsupportedError

    try:
        yield
    except (HardwareLimitError, UnsupportedError) as err:
        if str(err).startswith(str(model)):
            raise
        raise type(err)(f"{model}: {err}") from err


def note_input_bits(net: DelayNetwork, note: Note) -> None:
    """Say where the input width came from when the checkpoint did not record it."""
    source = net.provenance.get("input_bits_from", "")
    if source.startswith(("the data", DEFAULT_INPUT_BITS)):
        note(f"note: {net.input_bits}-bit input, from {source}")


def open_network(
    model: str | os.PathLike, options: QuantizeOptions | None = None, *, task: str | None = None, data: str | None = None,
    note: Note = silent,
) -> tuple[DelayNetwork, Any]:
    """MODEL as an integer network ``(net, report)``, refusals naming MODEL; a checkpoint that
    records no input range takes its width from the training split of ``data``."""
    with naming(model):
        net, report = load_network(model, options, data_max_count=train_counts(task, data))
    note_input_bits(net, note)
    return net, report


def as_inputs(x: Any, labels: Any = None, description: str | None = None) -> EvaluationInputs:
    """An array ``[batch, steps, inputs]`` (and its labels) as ``EvaluationInputs``."""
    x = np.asarray(x)
    return EvaluationInputs(
        count=int(x.shape[0]), steps=int(x.shape[1]), labels=None if labels is None else np.asarray(labels),
        description=description or f"{x.shape[0]} given inputs", make=lambda a, b: x[a:b],
    )


def network_and_inputs(
    model: str | os.PathLike, options: QuantizeOptions | None, task: str | None, data: str | None, samples: int | None,
    note: Note = silent,
) -> tuple[DelayNetwork, EvaluationInputs]:
    """MODEL as an integer network and its evaluation inputs (run a batch at a time).

    A checkpoint that records no input range (a converted one) takes its input width from the
    training split of ``data``, as :func:`quantize` and :func:`export` do, so all deploy the same network.
    """
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

    net, _ = open_network(model, options, task=task, data=data, note=note)
    name = task or net.provenance.get("task")
    if name is not None and not isinstance(name, str):  # a hand-edited header (hypothesis found a list)
        raise DelaysnnError(f"{model}: provenance.task is {name!r}, expected a task name; fix the header or pass --task shd|ssc|synthetic")
    ds = dataset(name)
    if ds is not None and ds.channels != net.input_size:
        trained = net.provenance.get("task")
        raise DelaysnnError(
            f"{model}: the network takes {net.input_size} input channels, {data or name} ({ds.name}) has {ds.channels}; "
            + (f"it was trained on --task {trained}: evaluate it on that task, or give a model trained on this data"
               if trained and trained != name else "give a model trained on this data, or pass --task shd|ssc to say which files --data holds")
        )
    return net, evaluation_batches(net, name, data, samples, dataset=ds)


def source_and_inputs(
    source: str | os.PathLike | DelayNetwork, inputs: Any, options: QuantizeOptions | None, task: str | None, data: str | None,
    samples: int | None, note: Note,
) -> tuple[DelayNetwork, EvaluationInputs]:
    """``(net, inputs)`` for any ``source`` and ``inputs`` (see the module docstring)."""
    if isinstance(source, DelayNetwork):
        check_fitted(source, options.target if options is not None else None, "the network")
        if inputs is None:
            return source, evaluation_batches(source, task, data, samples)
        return source, inputs if isinstance(inputs, EvaluationInputs) else as_inputs(inputs)
    if inputs is None:
        return network_and_inputs(source, options, task, data, samples, note)
    net, _ = open_network(source, options, task=task, data=data, note=note)
    return net, inputs if isinstance(inputs, EvaluationInputs) else as_inputs(inputs)

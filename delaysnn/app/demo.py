"""``delaysnn demo``: the whole pipeline on the built-in synthetic delay task (or synthesized speech),
each step one call of ``delaysnn.app.api``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.datasets import SpikeDataset, SyntheticTask, synthetic_splits
from ..model import ModelConfig
from ..spec import DeploySpec
from ..training.train import TrainOptions
from . import api


@dataclass
class DemoSummary:
    """The demo's table and its verdict: ``failures`` are the claims that did not hold (the exit status)."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (step, result, detail)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, step: str, result: str, detail: str = "") -> None:
        self.rows.append((step, result, detail))

    def table(self) -> str:
        w0 = max(len(r[0]) for r in self.rows)
        w1 = max(len(r[1]) for r in self.rows)
        lines = [f"{'step':<{w0}}  {'result':<{w1}}  detail", f"{'-' * w0}  {'-' * w1}  {'-' * 6}"]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in self.rows]
        return "\n".join(lines)


def demo_config(task: SyntheticTask) -> ModelConfig:
    return ModelConfig(
        input_size=task.channels,
        output_size=task.classes,
        hidden_size=32,
        hidden_layers=2,
        max_delay=25,
        dropout=0.1,
        time_step_ms=1.0,
    )


SYNTHETIC_EPOCHS = 10  # the demo's default training; its delay-benefit bar is set for it
SPEECH_EPOCHS = 20
SPEECH_HIDDEN = 128  # per hidden layer; SNN-delays uses 256 on SHD, 128 keeps CPU training to ~1 min per epoch


def speech_config(train_set: SpikeDataset, hidden: int = SPEECH_HIDDEN) -> ModelConfig:
    """The SHD-style network of the speech workload: 140 inputs, two hidden layers, max delay 25."""
    return ModelConfig(
        input_size=train_set.channels,
        output_size=train_set.n_classes,
        hidden_size=hidden,
        hidden_layers=2,
        max_delay=25,
        dropout=0.4,
        time_step_ms=train_set.time_step_ms,
    )


@dataclass
class Workload:
    """What the demo runs on: the splits, the network, how long to train, what must hold."""

    name: str
    description: str
    train_set: SpikeDataset
    test_set: SpikeDataset
    config: ModelConfig
    epochs: int
    qat_epochs: int
    min_delay_gain: float  # points learned delays must beat delays fixed at 0 by ...
    gain_epochs: int  # ... when trained this many epochs or more (fewer: reported, not judged)
    meta: dict = field(default_factory=dict)  # recorded in every checkpoint


def synthetic_workload(epochs: int = SYNTHETIC_EPOCHS, samples: int = 2048, seed: int = 0) -> Workload:
    task = SyntheticTask()
    train_set, test_set = synthetic_splits(task, n_train=samples, n_test=512, seed=seed)
    return Workload(
        "synthetic",
        f"synthetic delay task: {task.classes} classes told apart only by spike timing across "
        f"{task.channels} channels; {len(train_set)} train / {len(test_set)} test samples",
        train_set, test_set, demo_config(task), epochs, qat_epochs=6, min_delay_gain=20.0, gain_epochs=SYNTHETIC_EPOCHS,
        meta={"task": "synthetic", "input_max_count": 1},
    )


def speech_workload(data_dir: Path, epochs: int = SPEECH_EPOCHS, samples: int | None = None, seed: int = 0, echo: Callable[[str], None] = print) -> Workload:
    """Synthesized spoken digits in SHD's layout (made with espeak-ng into ``data_dir`` if missing)."""
    from ..data.heidelberg import load_heidelberg

    if not (data_dir / "shd_train.h5").exists() or not (data_dir / "shd_test.h5").exists():
        from ..data.spoken_digits import make_spoken_digits

        echo(f"making the spoken-digits data set in {data_dir} (espeak-ng + cochlea) ...")
        make_spoken_digits(data_dir, seed=seed)
    train_set = load_heidelberg(data_dir, "shd", "train", max_samples=samples)
    test_set = load_heidelberg(data_dir, "shd", "test", max_steps=train_set.steps)
    return Workload(
        "spoken-digits",
        f"spoken digits (synthesized speech, SHD layout; not SHD): 20 classes, {len(train_set)} train / "
        f"{len(test_set)} test utterances, test voices never heard in training",
        train_set, test_set, speech_config(train_set), epochs, qat_epochs=max(epochs // 4, 3), min_delay_gain=5.0,
        gain_epochs=SPEECH_EPOCHS,
        meta={"task": "shd", "dataset": "spoken-digits", "input_max_count": train_set.max_count},
    )


def fsdd_workload(data_dir: Path, source: str | None, epochs: int = SPEECH_EPOCHS, samples: int | None = None,
                  echo: Callable[[str], None] = print) -> Workload:
    """Real recorded digits (FSDD) in SHD's layout, made from the FSDD copy ``source`` into
    ``data_dir`` if missing (``make_fsdd``: the test speaker never heard in training)."""
    from ..data.heidelberg import load_heidelberg
    from ..errors import DelaysnnError

    if not (data_dir / "shd_train.h5").exists() or not (data_dir / "shd_test.h5").exists():
        if source is None:
            raise DelaysnnError(f"{data_dir}: no FSDD data set there; pass --from DIR, a clone of FSDD, to make it")
        from ..data.fsdd import make_fsdd

        echo(f"making the FSDD data set in {data_dir} from {source} (cochlea at 8 kHz) ...")
        make_fsdd(source, data_dir)
    train_set = load_heidelberg(data_dir, "shd", "train", max_samples=samples)
    test_set = load_heidelberg(data_dir, "shd", "test", max_steps=train_set.steps)
    return Workload(
        "fsdd",
        f"FSDD (real recorded speech, CC BY-SA 4.0): 10 digits, {len(train_set)} train / {len(test_set)} test "
        "recordings, the test speaker never heard in training",
        train_set, test_set, speech_config(train_set), epochs, qat_epochs=max(epochs // 4, 3), min_delay_gain=3.0,
        gain_epochs=SPEECH_EPOCHS,
        meta={"task": "shd", "dataset": "fsdd", "input_max_count": train_set.max_count},
    )


DEMO_BACKENDS = ("lava", "netx", "onnx", "nir")  # what the demo verifies by default (demo --backends)


def demo(
    task: str = "synthetic", data: str | None = None, out_dir: str | Path = "demo-out", *, epochs: int | None = None,
    samples: int | None = None, seed: int = 0, echo: Callable[[str], None] = print, backends: Sequence[str] = DEMO_BACKENDS,
    source: str | None = None,
) -> DemoSummary:
    """``delaysnn demo``: the workload of ``task`` (synthetic, or spoken-digits made in ``data``,
    default OUT/spoken-digits, on first use), then :func:`run_demo` into ``out_dir``, verifying
    against ``backends``."""
    from exporters.registry import backend

    for name in backends:  # an unknown name is refused before minutes of training, not skipped after
        backend(name, "run")
    workload = None
    if task == "spoken-digits":
        data_dir = Path(data) if data else Path(out_dir) / "spoken-digits"
        workload = speech_workload(data_dir, epochs=epochs or SPEECH_EPOCHS, samples=samples, seed=seed, echo=echo)
    elif task == "fsdd":  # source: the FSDD copy (demo --from), read when data has no data set yet
        data_dir = Path(data) if data else Path(out_dir) / "fsdd"
        workload = fsdd_workload(data_dir, source, epochs=epochs or SPEECH_EPOCHS, samples=samples, echo=echo)
    return run_demo(Path(out_dir), epochs=epochs or SYNTHETIC_EPOCHS, samples=samples or 2048, seed=seed, echo=echo, workload=workload,
                    backends=backends)


def run_demo(
    out_dir: Path,
    epochs: int = 10,
    samples: int = 2048,
    seed: int = 0,
    echo: Callable[[str], None] = print,
    verify_samples: int = 8,
    workload: Workload | None = None,
    backends: Sequence[str] = DEMO_BACKENDS,
) -> DemoSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    work = workload or synthetic_workload(epochs, samples, seed)
    train_set, test_set = work.train_set, work.test_set
    summary = DemoSummary()
    echo(work.description)

    accs = {}
    for name, learn in (("learned delays", True), ("delays fixed at 0", False)):
        torch.manual_seed(seed)
        model = api.new_model(work.config, learn)
        t0 = time.perf_counter()
        path = out_dir / ("model.pt" if learn else "model-nodelay.pt")
        opts = TrainOptions(epochs=work.epochs, learn_delays=learn, seed=seed, desc=name)
        result = api.fit(model, train_set, test_set, opts, path, {**work.meta, "learned_delays": learn})
        accs[name] = result.final_test_acc
        summary.add(f"train ({name})", f"{100 * result.final_test_acc:.1f}% test", f"{time.perf_counter() - t0:.0f} s -> {path}")
        echo(f"{name}: test accuracy {100 * result.final_test_acc:.1f}%")
    judge_delay_benefit(work, 100 * (accs["learned delays"] - accs["delays fixed at 0"]), summary)
    qat_binary(out_dir, work, summary, echo, seed)
    deploy(out_dir, test_set, summary, echo, verify_samples, backends)
    return summary


def judge_delay_benefit(work: Workload, gain: float, summary: DemoSummary) -> None:
    """The table's delay-benefit row; a failure when ``gain`` (points) misses the workload's bar
    after its full training. A shorter run (``--epochs 1``) shows the pipeline: reported, not judged."""
    bar = f">= {work.min_delay_gain:g} points expected after {work.gain_epochs} epochs"
    if work.epochs < work.gain_epochs:
        detail = f"not judged: {work.epochs} epoch(s) trained, {bar}"
    elif gain < work.min_delay_gain:
        detail = f"FAILED: {bar}"
        summary.failures.append(f"learned delays beat delays fixed at 0 by {gain:.1f} points on {work.name}, {bar}")
    else:
        detail = f"learned delays vs delays fixed at 0 ({bar})"
    summary.add("delay benefit", f"{gain:+.1f} points", detail)


def qat_binary(out_dir: Path, work: Workload, summary: DemoSummary, echo: Callable[[str], None], seed: int) -> None:
    """Fine-tune the learned-delay model through the binary quantizer (delays kept)."""
    model = api.load(out_dir / "model.pt")
    t0 = time.perf_counter()
    spec = DeploySpec("binary")
    opts = TrainOptions(epochs=work.qat_epochs, learn_delays=False, spec=spec, seed=seed, desc="QAT binary")
    path = out_dir / "model-qat-binary.pt"
    result = api.fit(model, work.train_set, work.test_set, opts, path, {**work.meta, **spec.to_meta()})
    summary.add("QAT fine-tune (binary)", f"{100 * result.final_test_acc:.1f}% test", f"{time.perf_counter() - t0:.0f} s -> {path.name}")
    echo(f"binary QAT fine-tuning: test accuracy {100 * result.final_test_acc:.1f}%")


def deploy(
    out_dir: Path, test_set: SpikeDataset, summary: DemoSummary, echo: Callable[[str], None], verify_samples: int,
    backends: Sequence[str] = DEMO_BACKENDS,
) -> None:
    """Quantize (8-bit, binary, binary after QAT), export to every target, verify parity against
    ``backends`` (one that cannot run here, Lava without its environment, is reported skipped),
    estimate costs."""
    import numpy as np

    x = test_set.x.numpy().astype(np.int32)
    y = test_set.y.numpy()
    nets = {}
    for label, checkpoint, opts in (
        ("8-bit", "model.pt", api.QuantizeOptions(weight_bits=8, target="loihi")),
        ("binary", "model.pt", api.QuantizeOptions(binary=True, target="loihi")),
        ("binary-qat", "model-qat-binary.pt", api.QuantizeOptions(binary=True, target="loihi")),
    ):
        t0 = time.perf_counter()
        path = out_dir / f"model-{label}.dnet"
        net, _ = api.quantize(out_dir / checkpoint, path, opts)
        x = np.minimum(x, 2**net.input_bits - 1)  # an unseen speaker's counts saturate at the input width, as on the chip
        done = api.simulate(net, x, labels=y, plot=out_dir / "raster.png" if label == "8-bit" else None, float_model=api.float_model_of(out_dir / checkpoint))  # a QAT model as trained
        acc, agree = done.accuracy, done.agreement.float_agreement  # equal accuracies can hide different predictions
        nets[label] = net
        summary.add(f"quantize {label}", f"{100 * acc:.1f}% test, agrees with float {100 * agree:.1f}%",
                    f"integer sim, {time.perf_counter() - t0:.1f} s -> {path.name}")
        echo(f"quantized {label}: integer accuracy {100 * acc:.1f}%, {100 * agree:.1f}% of predicted classes as the float model's")

    net = nets["8-bit"]
    for target in ("loihi", "nir", "onnx"):  # loihi checks the loihi2 profile
        t0 = time.perf_counter()
        path = api.export(net, target, api.default_output(out_dir / "model-8-bit.dnet", target)).path
        summary.add(f"export {target}", f"{path.stat().st_size / 1024:.0f} KiB", f"{time.perf_counter() - t0:.1f} s -> {path.name}")

    xs = x[:verify_samples]
    for label in ("8-bit", "binary-qat"):
        echo(f"verifying the {label} network on {len(xs)} samples against {', '.join(backends)} ...")
        for report in api.verify(nets[label], list(backends), xs).reports:
            result = "skipped" if report.skipped is not None else "identical" if report.ok else "MISMATCH"
            summary.add(f"verify {label} {report.backend}", result, report.summary().split(": ", 1)[1])
            if result == "MISMATCH":  # a backend that could not run is reported, not a disagreement
                summary.failures.append(f"{report.backend} disagrees with the simulator on the {label} network")

    est, _ = api.estimate(net, x[:64], plot=out_dir / "estimate.png")
    summary.add("estimate", f"{est.totals['synaptic_ops']:.0f} syn ops", "per inference, mean of 64 test samples")
    for energy in est.energy:
        dense = f"; dense ANN equivalent {_format_energy(energy.dense_equivalent_j)}" if energy.dense_equivalent_j else ""
        summary.add(f"energy {energy.label}", _format_energy(energy.total_j), f"per inference{dense}")
    summary.add("plots", "raster.png estimate.png", str(out_dir))


def _format_energy(joules: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if joules >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules / 1e-12:.3g} pJ"

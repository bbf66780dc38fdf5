"""The accuracy-memory frontier: which (weight bits, delay bits, pruning) deployment is smallest
for the accuracy it keeps (``delaysnn search-deployment``, ``bench/frontier.py``).

The search is two-stage, so that a sweep costs minutes on a CPU rather than hours:

1. every candidate of the grid is quantized after training (PTQ) and scored on the
   validation split with the integer simulator: seconds per candidate;
2. the PTQ Pareto front (within the memory budget), plus the candidates whose PTQ accuracy
   dropped the most below the float model's where QAT can recover it (up to ``max_qat`` in
   all), is fine-tuned with short QAT through the same grids, quantized and scored again.

Points are selected on the validation split and reported on the test split, so the test
split never chooses a deployment. Memory is the hardware's synaptic storage (weights and
delays at their bit widths, plus indices where a layer is stored sparse:
:func:`delaysnn.estimate.network_memory`), the quantity Sun et al. 2025 call parameter memory;
the total (delay-line buffers and neuron state included) is reported beside it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..data.datasets import SpikeDataset
from ..errors import DelaysnnError
from ..ir import DelayNetwork
from ..spec import DeploySpec

__all__ = ["Candidate", "Point", "SearchResult", "SUN_2025", "candidate_grid", "pareto_front", "search"]

# Sun et al. 2025 (arXiv 2510.27434, "Exploiting heterogeneous delays for efficient computation
# in low-bit neural networks"), SHD (real recorded speech, axonal delays: one per neuron, not per
# synapse). Point "I" as stated by the authors (D. Goodman, neural-reckoning.org, 2025-11-13):
# ternary (1.58-bit) weights and 3-bit delays, 90 % in about 22 kB of parameter memory. Their
# 4-bit weight / 5-bit delay point (94 %) is stated as "4 % of the memory footprint", not in kB,
# so it is not drawn.
SUN_2025 = [{"label": "Sun et al. 2025 (SHD): ternary w, 3-bit d", "kB": 22.0, "accuracy": 0.90}]


@dataclass(frozen=True)
class Candidate:
    """One deployment: a weight grid (``weight_bits``, or ternary/binary), delay bits, pruning."""

    weight_bits: int | None = 8
    ternary: bool = False
    binary: bool = False
    delay_bits: int | None = None  # None: the delays the profile allows
    prune: float = 0.0
    # None: the model's own; another kind recasts the model first (delaysnn.model.delay_kinds.recast)
    delay_kind: str | None = None

    @property
    def label(self) -> str:
        w = "ternary" if self.ternary else "binary" if self.binary else f"{self.weight_bits}-bit w"
        d = "full d" if self.delay_bits is None else f"{self.delay_bits}-bit d"
        p = f", {round(100 * self.prune)}% pruned" if self.prune else ""
        k = f"{self.delay_kind}: " if self.delay_kind else ""
        return f"{k}{w}, {d}{p}"

    def spec(self, delay_grid: str, prune_scope: str) -> DeploySpec:
        """This candidate's grids as a :class:`~delaysnn.spec.DeploySpec` (``delay_grid`` and
        ``prune_scope``: the search's, for every candidate)."""
        weights = "ternary" if self.ternary else "binary" if self.binary else "fixed"
        return DeploySpec(weights, self.weight_bits if weights == "fixed" else None,
                          self.delay_bits, None if self.delay_bits is None else delay_grid,
                          self.prune or None, prune_scope if self.prune else None)

    def quantize_options(self, delay_grid: str, prune_scope: str) -> dict[str, Any]:
        """``quantize_model`` keyword arguments for this candidate's grids."""
        return self.spec(delay_grid, prune_scope).quantize_kwargs()

    def train_options(self, delay_grid: str, prune_scope: str) -> dict[str, Any]:
        """:class:`delaysnn.training.train.TrainOptions` fields that train through this candidate's grids."""
        # positions learn through the delay grid
        return {"spec": self.spec(delay_grid, prune_scope), "learn_delays": self.delay_bits is not None}


@dataclass
class Point:
    """A scored candidate: after PTQ (``stage="ptq"``) or after short QAT (``"qat"``)."""

    candidate: Candidate
    stage: str
    synaptic_kB: float
    total_kB: float
    synaptic_vs_float: float
    cores: int
    val_acc: float
    test_acc: float | None = None
    parity: dict[str, int] = field(default_factory=dict)  # backend -> mismatching values (0: exact)
    # share of samples whose class equals the float model's (delaysnn.app.agreement): equal accuracies can hide differences
    val_agreement: float | None = None
    test_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.candidate.label, **asdict(self.candidate), **{k: v for k, v in asdict(self).items() if k != "candidate"}}


@dataclass
class SearchResult:
    float_val_acc: float
    float_test_acc: float
    float_synaptic_kB: float
    budget_kB: float | None
    points: list[Point]
    front: list[Point]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "float": {"val_acc": self.float_val_acc, "test_acc": self.float_test_acc, "synaptic_kB_32bit": self.float_synaptic_kB},
            "budget_kB": self.budget_kB,
            "points": [p.to_dict() for p in self.points],
            "front": [p.to_dict() for p in self.front],
            "reference": SUN_2025,
            "notes": self.notes,
        }


def candidate_grid(
    weight_bits: Sequence[int] = (8, 4, 2),
    ternary: bool = True,
    delay_bits: Sequence[int | None] = (None, 5, 4, 3),
    prune: Sequence[float] = (0.0, 0.5, 0.8),
    delay_kinds: Sequence[str | None] = (None,),
) -> list[Candidate]:
    """Every combination of the given delay kinds (None: the model's) x weight grids x delay bits x pruning fractions."""
    weights = [Candidate(weight_bits=b) for b in weight_bits] + ([Candidate(weight_bits=None, ternary=True)] if ternary else [])
    return [replace(w, delay_bits=d, prune=float(p), delay_kind=k) for k in delay_kinds for w in weights for d in delay_bits for p in prune]


def pareto_front(points: Iterable[Point], accuracy: Callable[[Point], float] = lambda p: p.val_acc) -> list[Point]:
    """The points no other point beats on both memory (smaller) and ``accuracy`` (larger), by
    increasing memory. Ties in memory keep the more accurate; equal points keep the first."""
    ordered = sorted(points, key=lambda p: (p.synaptic_kB, -accuracy(p)))
    front: list[Point] = []
    best = -math.inf
    for p in ordered:
        if accuracy(p) > best:
            front.append(p)
            best = accuracy(p)
    return front


def _batches(data: SpikeDataset, batch: int = 256) -> Any:
    return (data.x[i : i + batch].numpy() for i in range(0, len(data), batch))


def predictions(net: DelayNetwork, data: SpikeDataset, batch: int = 256) -> Any:
    """The integer network's class per sample of ``data`` (reference simulator, streamed)."""
    from ..sim import simulate_batches

    return simulate_batches(net, _batches(data, batch)).predictions


def accuracy(net: DelayNetwork, data: SpikeDataset, batch: int = 256) -> float:
    """Integer accuracy of ``net`` on ``data`` with the reference simulator (streamed)."""
    if not len(data):
        return float("nan")
    return float((predictions(net, data, batch) == data.y.numpy()).mean())


def accuracy_and_agreement(net: DelayNetwork, data: SpikeDataset, float_classes: Any) -> tuple[float, float]:
    """``net``'s accuracy on ``data`` and its agreement with the float model's classes there
    (``agreement.float_predictions``, computed once per split)."""
    if not len(data):
        return float("nan"), float("nan")
    pred = predictions(net, data)
    return float((pred == data.y.numpy()).mean()), float((pred == float_classes).mean())


def float_classes(model: Any, data: SpikeDataset) -> Any:
    """The float model's class per sample of ``data`` (``agreement.float_predictions``)."""
    from .agreement import float_predictions

    return float_predictions(model, _batches(data)) if len(data) else data.y.numpy()


def score(net: DelayNetwork, memory: Any, candidate: Candidate, stage: str, profile: Any, val: SpikeDataset, float_val: Any) -> Point:
    """``net`` (whose ``estimate.network_memory`` is ``memory``) scored on the validation split,
    and compared there with the float model's classes ``float_val``."""
    from ..estimate import kilobytes

    totals = memory.totals()
    val_acc, val_agreement = accuracy_and_agreement(net, val, float_val)
    return Point(
        candidate=candidate,
        stage=stage,
        synaptic_kB=kilobytes(totals["synaptic"]),
        total_kB=kilobytes(totals["total"]),
        synaptic_vs_float=memory.synaptic_vs_float,
        cores=profile.cores_needed(net),
        val_acc=val_acc,
        val_agreement=val_agreement,
    )


def search(
    model: Any,
    train_set: SpikeDataset,
    val_set: SpikeDataset,
    test_set: SpikeDataset,
    *,
    profile: Any,
    candidates: Sequence[Candidate] | None = None,
    budget_kB: float | None = None,
    qat_epochs: int = 2,
    max_qat: int = 6,
    delay_grid: str = "step",
    prune_scope: str = "layer",
    input_bits: int = 1,
    deploy_options: dict[str, Any] | None = None,
    train_defaults: dict[str, Any] | None = None,
    echo: Callable[[str], None] = lambda line: None,
    fine_tune: Callable[[Any, Candidate], Any] | None = None,
) -> SearchResult:
    """Sweep ``candidates`` (default :func:`candidate_grid`) on ``model`` as the module docstring
    says. ``fine_tune(model_copy, candidate) -> model`` replaces the built-in short QAT (tests,
    cached benches); ``deploy_options``: further quantizer options for every candidate (e.g.
    ``NETX_OPTIONS``, within what a netx file holds, as ``export --target loihi``); ``train_defaults``: extra :class:`~delaysnn.training.train.TrainOptions` fields."""
    from ..estimate import kilobytes, network_memory
    from ..quantization import quantize_model
    from ..training.train import TrainOptions, train

    candidates = list(candidates) if candidates is not None else candidate_grid()
    base = {"input_bits": input_bits, "profile": profile, "clip_delays": True, **(deploy_options or {})}
    float_val, float_test = float_classes(model, val_set), float_classes(model, test_set)  # once: every point agrees with these
    result = SearchResult(_share(float_val, val_set), _share(float_test, test_set), 0.0, budget_kB, [], [])
    nets: dict[int, DelayNetwork] = {}  # id(point) -> its network, to score the front on test at the end
    model_of = _ByKind(model)
    own_kind = model_of.own

    def deploy(m: Any, cand: Candidate, stage: str) -> Point:
        net = quantize_model(m, **base, **cand.quantize_options(delay_grid, prune_scope))
        memory = network_memory(net, profile)
        point = score(net, memory, cand, stage, profile, val_set, float_val)
        nets[id(point)] = net
        result.points.append(point)
        if own_kind(cand):  # the same for every candidate of the model's own kind
            result.float_synaptic_kB = kilobytes(memory.float_synaptic_bits)
        return point

    def in_budget(points: Iterable[Point]) -> list[Point]:
        return [p for p in points if budget_kB is None or p.synaptic_kB <= budget_kB]

    for i, cand in enumerate(candidates):
        try:
            point = deploy(model_of(cand), cand, "ptq")
        except DelaysnnError as err:  # a candidate the profile cannot hold is a result, not a failure
            result.notes.append(f"{cand.label}: not deployable ({err})")
            continue
        echo(f"[{i + 1}/{len(candidates)}] PTQ {cand.label}: {point.synaptic_kB:.2f} kB, val {100 * point.val_acc:.1f}%")
    front = pareto_front(in_budget(result.points))
    # beside the front, QAT goes where PTQ lost the most (it has the most to recover there)
    losers = sorted((p for p in in_budget(result.points) if p not in front), key=lambda p: p.val_acc)
    chosen = (front + losers)[:max_qat]

    def default_fine_tune(m: Any, cand: Candidate) -> Any:
        fields = {**(train_defaults or {}), **cand.train_options(delay_grid, prune_scope)}
        fields["learn_delays"] = fields["learn_delays"] or not own_kind(cand)  # a recast model's delays must learn their kind
        if fields["learn_delays"] and fields.get("lr_pos") is None:
            # as `train --init`: positions at the default 100 x lr undo a trained model's delays
            fields["lr_pos"] = 10 * fields.get("lr", TrainOptions.lr)
        train(m, train_set, None, TrainOptions(epochs=qat_epochs, progress=False, desc=f"QAT {cand.label}", **fields))
        return m

    tune = fine_tune or default_fine_tune
    for j, ptq in enumerate(chosen):
        point = deploy(tune(copy.deepcopy(model_of(ptq.candidate)), ptq.candidate), ptq.candidate, "qat")
        echo(f"[QAT {j + 1}/{len(chosen)}] {ptq.candidate.label}: {point.synaptic_kB:.2f} kB, "
             f"val {100 * point.val_acc:.1f}% (PTQ {100 * ptq.val_acc:.1f}%)")
    result.front = pareto_front(in_budget(result.points))
    for p in result.front:  # selected on validation; the test split only reports
        p.test_acc, p.test_agreement = accuracy_and_agreement(nets[id(p)], test_set, float_test)
    return result


class _ByKind:
    """The model a candidate deploys: ``model``, or (once per kind) the model recast to the
    candidate's delay kind (``delay_kinds.recast``: each neuron's delay starts at its synapses'
    weighted mean), which its QAT then fine-tunes."""

    def __init__(self, model: Any):
        self.model, self.recast = model, {}

    def own(self, cand: Candidate) -> bool:
        return cand.delay_kind in (None, getattr(getattr(self.model, "cfg", None), "delay_kind", None))

    def __call__(self, cand: Candidate) -> Any:
        if self.own(cand):
            return self.model
        if cand.delay_kind not in self.recast:
            from ..model.delay_kinds import recast

            self.recast[cand.delay_kind] = recast(self.model, cand.delay_kind)
        return self.recast[cand.delay_kind]


def _share(classes: Any, data: SpikeDataset) -> float:
    """The float model's accuracy from its classes (``train.evaluate``'s figure, without a second pass)."""
    return float((classes == data.y.numpy()).mean()) if len(data) else 0.0


def table(result: SearchResult) -> str:
    """Markdown: the front (selected on validation, reported on test), then every point."""
    lines = [
        f"float model: validation {100 * result.float_val_acc:.1f}%, test {100 * result.float_test_acc:.1f}%, "
        f"{result.float_synaptic_kB:.1f} kB of synapses at 32-bit weights + 32-bit delays"
        + (f"; budget {result.budget_kB:g} kB" if result.budget_kB is not None else ""),
        "",
        "| front | deployment | stage | synaptic kB | % of float | total kB | cores | val acc | agrees with float | test acc "
        "| agrees with float |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(result.points, key=lambda p: (p.synaptic_kB, p.stage)):
        mark = "**x**" if p in result.front else ""
        lines.append(
            f"| {mark} | {p.candidate.label} | {p.stage} | {p.synaptic_kB:.2f} | {100 * p.synaptic_vs_float:.1f} | "
            f"{p.total_kB:.1f} | {p.cores} | {_pct(p.val_acc)} | {_pct(p.val_agreement)} | {_pct(p.test_acc)} | {_pct(p.test_agreement)} |"
        )
    lines += [""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines).rstrip() + "\n"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def plot(result: SearchResult, path: Any, title: str = "accuracy against synaptic memory", reference: bool = True) -> Any:
    """Accuracy (validation) against synaptic kB: every point, the front and (``reference``, for
    SHD-like speech only) Sun et al.'s cited SHD point."""
    from ..plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for stage, marker in (("ptq", "o"), ("qat", "s")):
        pts = [p for p in result.points if p.stage == stage]
        ax.scatter([p.synaptic_kB for p in pts], [100 * p.val_acc for p in pts], marker=marker, alpha=0.5, label=f"ours, {stage.upper()}")
    front = sorted(result.front, key=lambda p: p.synaptic_kB)
    ax.plot([p.synaptic_kB for p in front], [100 * p.val_acc for p in front], "k-", lw=1, label="our Pareto front")
    for p in front:
        ax.annotate(p.candidate.label, (p.synaptic_kB, 100 * p.val_acc), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.axhline(100 * result.float_val_acc, color="grey", ls="--", lw=1, label="our float model")
    for ref in SUN_2025 if reference else []:
        ax.scatter([ref["kB"]], [100 * ref["accuracy"]], marker="*", s=120, color="tab:red", label=ref["label"] + " [arXiv 2510.27434]")
    ax.set_xscale("log")
    ax.set_xlabel("synaptic memory (kB, 1 kB = 1000 bytes)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)

"""The accuracy-memory frontier: Pareto front, candidate grid, the search and its command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from delaysnn.app.frontier import Candidate, Point, candidate_grid, pareto_front, search, table
from delaysnn.cli import cli
from delaysnn.data.datasets import synthetic_splits
from delaysnn.model.checkpoint import load_checkpoint
from delaysnn.spec import DeploySpec
from hardware import load_profile

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synthetic.pt"


def point(kb: float, acc: float, label: int = 8) -> Point:
    return Point(Candidate(weight_bits=label), "ptq", kb, kb, 0.1, 1, acc)


def test_pareto_front_keeps_only_undominated_points_by_memory():
    pts = [point(3.0, 0.9), point(1.0, 0.5), point(2.0, 0.4), point(2.0, 0.7), point(4.0, 0.9), point(0.5, 0.2)]
    front = pareto_front(pts)
    assert [(p.synaptic_kB, p.val_acc) for p in front] == [(0.5, 0.2), (1.0, 0.5), (2.0, 0.7), (3.0, 0.9)]
    # equal memory: the more accurate wins; equal accuracy at more memory is dominated
    assert pts[2] not in front and pts[4] not in front


def test_candidate_grid_is_the_full_product():
    grid = candidate_grid((8, 4), True, (None, 3), (0.0, 0.8))
    assert len(grid) == 3 * 2 * 2
    assert len(set(grid)) == len(grid)
    tern = [c for c in grid if c.ternary]
    assert tern and all(c.weight_bits is None for c in tern)
    assert Candidate(weight_bits=4, delay_bits=5, prune=0.8).label == "4-bit w, 5-bit d, 80% pruned"
    opts = Candidate(weight_bits=None, ternary=True, delay_bits=3).train_options("step", "layer")
    assert opts["spec"] == DeploySpec("ternary", delay_bits=3, delay_grid="step") and opts["learn_delays"]


@pytest.fixture(scope="module")
def small():
    train_set, test_set = synthetic_splits(n_train=96, n_test=64, seed=3)
    return load_checkpoint(EXAMPLE), train_set, test_set


def test_search_scores_every_candidate_and_fine_tunes_the_front(small):
    model, train_set, test_set = small
    tuned: list[Candidate] = []

    def fine_tune(m, cand):  # no training: records which candidates the search chose to tune
        tuned.append(cand)
        return m

    grid = candidate_grid((8, 4), False, (None, 3), (0.0, 0.8))
    result = search(model, train_set, train_set, test_set, profile=load_profile("loihi2"), candidates=grid, max_qat=2, fine_tune=fine_tune)
    ptq = [p for p in result.points if p.stage == "ptq"]
    assert len(ptq) == len(grid) and len(tuned) == 2
    # memory falls with bits and pruning; the float reference is 64 bits per out x in synapse
    by = {p.candidate: p for p in ptq}
    assert by[Candidate(4)].synaptic_kB < by[Candidate(8)].synaptic_kB
    assert by[Candidate(4, prune=0.8)].synaptic_kB < by[Candidate(4)].synaptic_kB
    assert by[Candidate(4, delay_bits=3)].synaptic_kB < by[Candidate(4)].synaptic_kB
    assert result.float_synaptic_kB > by[Candidate(8)].synaptic_kB
    assert result.front and all(p.test_acc is not None for p in result.front)
    assert all(0 <= p.val_acc <= 1 for p in result.points)
    # an identity fine-tune deploys the same network, so QAT and PTQ points coincide
    for q in (p for p in result.points if p.stage == "qat"):
        assert q.val_acc == by[q.candidate].val_acc and q.synaptic_kB == by[q.candidate].synaptic_kB
    assert "| **x** |" in table(result)


def test_budget_excludes_larger_deployments(small):
    model, train_set, test_set = small
    grid = candidate_grid((8, 4), False, (None,), (0.0, 0.8))
    result = search(model, train_set, train_set, test_set, profile=load_profile("loihi2"), candidates=grid, max_qat=0, budget_kB=1.0)
    assert result.front and all(p.synaptic_kB <= 1.0 for p in result.front)


def test_search_deployment_command_writes_table_plot_and_json(tmp_path):
    out = tmp_path / "front.md"
    res = CliRunner().invoke(cli, ["search-deployment", str(EXAMPLE), "--task", "synthetic", "--samples", "96", "--weight-bits", "4",
                                   "--no-ternary", "--delay-bits", "full,3", "--prune", "0,0.5", "--qat-epochs", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().count("| ptq |") == 4
    data = json.loads(out.with_suffix(".json").read_text())
    assert len(data["points"]) == 4 and data["front"]
    assert out.with_suffix(".png").stat().st_size > 1000


def test_search_deployment_rejects_bad_lists(tmp_path):
    res = CliRunner().invoke(cli, ["search-deployment", str(EXAMPLE), "--weight-bits", "4,x", "-o", str(tmp_path / "f.md")])
    assert res.exit_code == 2 and "--weight-bits" in res.output

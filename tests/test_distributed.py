"""Distributed training (torchrun, gloo on CPU), the global batch, and the device/AMP code path."""

import os
import subprocess
import sys

import pytest
import torch

from delaysnn.data.datasets import synthetic_splits
from delaysnn.errors import DelaysnnError
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import load_checkpoint
from delaysnn.training import distributed
from delaysnn.training.train import TrainOptions, train

TOLERANCE = 1e-4  # measured 2.4e-7 (float summation order of the all-reduced gradients and BN sums)
ARGS = ["train", "--task", "synthetic", "--samples", "128", "--hidden", "8", "--layers", "1", "--epochs", "2",
        "--batch-size", "32", "--dropout", "0"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _run(cmd, env, timeout=90):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_gloo_ranks_match_each_other_and_one_process(tmp_path):
    check = tmp_path / "check"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _run([*torchrun, "-m", "delaysnn", *ARGS, "-o", str(tmp_path / "two.pt")], _env(DELAYSNN_DDP_CHECK=str(check)))
    _run([sys.executable, "-m", "delaysnn", *ARGS, "-o", str(tmp_path / "one.pt")], _env())

    # every rank holds the same parameters and buffers; positions were compared after every step
    r0, r1 = (torch.load(check / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == 2 and r0["steps_checked"] == r1["steps_checked"] == 2 * 128 // 32
    assert r0["state_dict"].keys() == r1["state_dict"].keys()
    assert all(torch.equal(r0["state_dict"][k], r1["state_dict"][k]) for k in r0["state_dict"])

    # the same global batch in one process: the same model up to float summation order
    one, two = load_checkpoint(tmp_path / "one.pt"), load_checkpoint(tmp_path / "two.pt")
    a, b = one.state_dict(), two.state_dict()
    diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    assert diff < TOLERANCE, diff
    assert all(torch.equal(s.pos, t.pos) for s, t in zip(one.synapses, two.synapses))  # integer delays

    meta = torch.load(tmp_path / "two.pt", weights_only=False)["metadata"]
    assert {k: meta[k] for k in ("world_size", "global_batch", "per_rank_batch", "device", "backend")} == {
        "world_size": 2, "global_batch": 32, "per_rank_batch": 16, "device": "cpu", "backend": "gloo"}
    single = torch.load(tmp_path / "one.pt", weights_only=False)["metadata"]
    assert single["world_size"] == 1 and single["backend"] is None
    # only rank 0 wrote: one checkpoint, one metrics log, one state directory
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two")) == ["two.jsonl", "two.pt", "two.pt.state"]


def test_global_batch_must_divide_by_ranks():
    with pytest.raises(DelaysnnError, match="global batch"):
        distributed.per_rank_batch(33, 2)
    assert distributed.per_rank_batch(32, 2) == 16


def test_cuda_means_each_ranks_own_gpu():
    assert distributed.rank_device("cuda", 3) == "cuda:3"
    assert distributed.rank_device("cuda:1", 3) == "cuda:1" and distributed.rank_device("cpu", 3) == "cpu"


def test_no_cuda_literals_in_the_package():
    root = os.path.dirname(distributed.__file__)
    for name in os.listdir(root):
        if name.endswith(".py"):
            with open(os.path.join(root, name)) as f:
                assert ".cuda(" not in f.read(), name


def test_bf16_autocast_trains_on_cpu():
    tr, te = synthetic_splits(n_train=64, n_test=32, seed=0)
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=8, hidden_layers=1, max_delay=9, dropout=0.0))
    before = {k: t.clone() for k, t in model.state_dict().items()}
    result = train(model, tr, te, TrainOptions(epochs=2, batch_size=32, amp="bf16", progress=False))
    assert all(torch.isfinite(torch.tensor(loss)) for loss in result.train_loss)
    assert not torch.equal(before["hidden.0.synapse.weight"], model.state_dict()["hidden.0.synapse.weight"])
    assert result.setup["amp"] == "bf16" and result.setup["world_size"] == 1
    with pytest.raises(DelaysnnError, match="--amp"):
        TrainOptions(amp="fp8")

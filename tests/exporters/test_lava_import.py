"""Lava must run after a progress bar (tqdm fixes the multiprocessing start method)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
from tqdm import tqdm
for _ in tqdm(range(2)):
    pass
import multiprocessing as mp
assert mp.get_start_method(allow_none=True) is not None  # the situation lava 0.10 trips over
from tests.factories import NetSpec, random_network, random_input
from delaysnn.app.verify import verify
net = random_network(NetSpec(sizes=(3, 4, 2), seed=1))
report, = verify(net, random_input(net, 1, 8), ["lava"])
assert report.ok, report.summary()
print("ok")
"""


@pytest.mark.lava
def test_lava_runs_after_tqdm_fixed_the_start_method():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")

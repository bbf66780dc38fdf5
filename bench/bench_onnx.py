"""onnxruntime vs the reference sim vs float PyTorch on an SHD-shaped network, in one run.

    .venv/bin/python bench/bench_onnx.py [--batch 256] [--steps 100] [--threads 2] [--repeat 5] [--json]

The network is a random integer IR built directly (140-256-256-20, delays 0..24 i.e. max
delay 25, graded input 0..5 at a few % activity), tuned so hidden layers fire a few % of
the time like a trained SHD model; the float model is a ``DelaySNN`` of the same shape (random
weights: its cost does not depend on their values). Every backend gets the same input; the
ONNX run is checked spike-exact against the sim before anything is timed, so a fast wrong
backend cannot report a number. Backends are timed in interleaved rounds (fair under a shared
machine's background load); samples/s use the best of ``--repeat`` rounds, medians are shown too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import MAX_DELAY, SIZES, float_model, set_threads

from delaysnn.app.verify import compare
from delaysnn.ir import DelayLayer, DelayNetwork, NeuronParams

INPUT_BITS = 3  # counts 0..5 of 5 summed SHD channels
ACTIVITY = 0.03
HIDDEN_VTH = (450, 250)  # about 1.6 standard deviations of each layer's input current


def shd_network(seed: int = 0) -> DelayNetwork:
    """Random SHD-shaped integer network with biases (common.shd_network has none, and the ONNX
    graph has a bias path); hidden thresholds give a few % firing."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        readout = i == len(SIZES) - 2
        weight = np.clip(np.round(rng.normal(0, 40, (out, fan_in))), -128, 127).astype(np.int32)
        neuron = NeuronParams(
            du=4095,  # no synaptic filter: the current is cleared every step
            dv=4076,  # round(4096 / 1.005): SNN-delays' tau = 1.005 steps
            vth=None if readout else HIDDEN_VTH[i],
            bias_mant=rng.integers(-20, 20, out).astype(np.int32),
            bias_exp=2,
        )
        delay = rng.integers(0, MAX_DELAY, (out, fan_in)).astype(np.int32)
        layers.append(DelayLayer(weight=weight, delay=delay, neuron=neuron, weight_bits=8, weight_exp=0))
    return DelayNetwork(input_size=SIZES[0], layers=layers, input_bits=INPUT_BITS, time_step_ms=10.0,
                        provenance={"source": "bench/bench_onnx.py random SHD-shaped network"})


def shd_input(batch: int, steps: int, seed: int = 1) -> np.ndarray:
    """Graded counts 0..5 with ``ACTIVITY`` of the bins non-zero."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, (batch, steps, SIZES[0]))
    return (counts * (rng.random(counts.shape) < ACTIVITY)).astype(np.int32)


def interleaved_times(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Wall times of ``repeat`` rounds, each running every backend once in turn after one
    warm-up round: on a shared machine every backend then sees the same background load."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from delaysnn.sim import simulate
    from exporters import onnx as onnx_backend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="threads for the sim (numba), onnxruntime (intra-op) and torch")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    set_threads(args.threads)
    net, x = shd_network(), shd_input(args.batch, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        path = onnx_backend.save(net, Path(tmp) / "shd.onnx")
        size = path.stat().st_size
        sess = onnx_backend.session(path, threads=args.threads)
        ref = simulate(net, x, record=False)
        parity = compare(ref, onnx_backend.run_session(sess, x), "onnxruntime")
        if not parity.ok:
            raise SystemExit(f"onnxruntime differs from the sim ({parity.summary()}); not timing a wrong backend")
        diff = parity.mismatches
        import torch

        model = float_model()
        xf = torch.from_numpy(x).float()
        with torch.no_grad():
            times = interleaved_times(
                {
                    "sim": lambda: simulate(net, x, record=False),
                    "onnxruntime": lambda: onnx_backend.run_session(sess, x),
                    "pytorch_float": lambda: model(xf),
                },
                args.repeat,
            )
    seconds = {name: min(t) for name, t in times.items()}
    rates = {k: args.batch / v for k, v in seconds.items()}
    result = {
        "network": "-".join(map(str, SIZES)),
        "max_delay": MAX_DELAY,
        "batch": args.batch,
        "steps": args.steps,
        "threads": args.threads,
        "hidden_spike_rate": [float(np.asarray(s).mean()) for s in ref.spikes],
        "onnx_file_bytes": size,
        "onnx_mismatches": diff,
        "seconds": seconds,
        "seconds_median": {name: float(np.median(t)) for name, t in times.items()},
        "samples_per_s": rates,
        "onnxruntime_vs_sim": rates["onnxruntime"] / rates["sim"],
        "onnxruntime_vs_pytorch_float": rates["onnxruntime"] / rates["pytorch_float"],
        "sim_vs_pytorch_float": rates["sim"] / rates["pytorch_float"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"{r['network']}, max delay {r['max_delay']}, batch {r['batch']}, T = {r['steps']}, {r['threads']} threads")
    print(f"hidden spike rates {', '.join(f'{s:.3%}' for s in r['hidden_spike_rate'])}; ONNX file {r['onnx_file_bytes'] / 1e6:.2f} MB, "
          f"{r['onnx_mismatches']} mismatches vs sim")
    print(f"{'backend':<16}{'best s':>10}{'median s':>10}{'samples/s':>12}")
    for name, sec in r["seconds"].items():
        print(f"{name:<16}{sec:>10.3f}{r['seconds_median'][name]:>10.3f}{r['samples_per_s'][name]:>12.1f}")
    print(f"onnxruntime / sim: {r['onnxruntime_vs_sim']:.2f}x   onnxruntime / pytorch float: {r['onnxruntime_vs_pytorch_float']:.2f}x   "
          f"sim / pytorch float: {r['sim_vs_pytorch_float']:.2f}x")


if __name__ == "__main__":
    main()

"""A walk through the Python API: load -> quantize -> simulate -> export -> verify -> estimate.

Run from the repository root after `make demo` or `make test` (which create .venv):

    .venv/bin/python examples/quickstart.py [examples/synthetic.pt] [out_dir]
"""

import sys
from pathlib import Path

import numpy as np

import delaysnn
from delaysnn import ir
from delaysnn.app.agreement import float_predictions
from delaysnn.app.verify import verify
from delaysnn.data.datasets import synthetic_splits
from delaysnn.estimate import estimate
from delaysnn.quantization import NETX_OPTIONS


def main() -> None:
    checkpoint = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/synthetic.pt")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "quickstart-out")
    out.mkdir(exist_ok=True)

    # 1. The float model: forward(x[batch, time, channels]) -> readout voltages.
    model = delaysnn.load(checkpoint)
    _, test = synthetic_splits(n_train=1, n_test=256)
    v = model(test.x.float())
    print(f"float model: readout voltages {tuple(v.shape)}")

    # 2. Quantize to the integer network (the hub every backend reads). NETX_OPTIONS keeps it
    #    within what lava-dl netx files hold (effective weights in 8 bits, bias exponent 6), so
    #    the one network goes to every backend below.
    net = delaysnn.quantize(model, weight_bits=8, **NETX_OPTIONS)
    print(f"integer network {'-'.join(map(str, net.sizes))}, max delay {max(layer.max_delay for layer in net.layers)}")

    # 3. The bit-accurate reference simulator.
    x = test.x.numpy().astype(np.int32)
    result = delaysnn.simulate(net, x)
    pred = result.predict(net.readout_scale)
    acc = (pred == test.y.numpy()).mean()
    # equal accuracies can hide different predictions: compare the classes with the float model's
    agree = (pred == float_predictions(model, [x])).mean()
    print(f"integer accuracy on {len(test)} synthetic samples: {100 * acc:.1f}% ({100 * agree:.1f}% of the float model's classes)")

    # 4. Export: IR file, NIR graph, ONNX model, lava-dl netx HDF5 for Loihi 2.
    from exporters import lava, nir, onnx

    ir.save(net, out / "model.dnet")
    nir.export(net, out / "model.nir")
    onnx.save(net, out / "model.onnx")
    lava.save_netx(net, out / "model.h5")
    print(f"wrote {sorted(p.name for p in out.iterdir())} to {out}/")

    # 5. Spike-exact parity of the backends against the simulator (a few samples: Lava is slow).
    for report in verify(net, x[:4], ["lava", "netx", "onnx", "nir"]):
        print(report.summary())

    # 6. Cost per inference under cited hardware profiles.
    print(estimate(net, x[:16]).table())


if __name__ == "__main__":
    main()

"""Train a DCLS-delay SNN on the Spiking Heidelberg Digits with the SNN-delays recipe,
then quantize it and report the integer network's accuracy.

Get the files (shd_train.h5, shd_test.h5, or their .h5.gz) from https://zenkelab.org/datasets/
(Cramer et al. 2020), then:

    .venv/bin/python examples/train_shd.py ~/data/SHD --epochs 50 --device cuda

The same as the CLI: `delaysnn train --task shd --data DIR -o shd.pt` then
`delaysnn simulate shd.pt --data DIR`.
"""

import argparse

import numpy as np

import delaysnn
from delaysnn.data.heidelberg import load_heidelberg
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.model.checkpoint import save_checkpoint
from delaysnn.quantization import input_bits_for
from delaysnn.training.train import TrainOptions, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="directory with the SHD .h5 files")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--samples", type=int, default=None, help="limit training samples (quick look)")
    ap.add_argument("-o", "--output", default="shd.pt")
    args = ap.parse_args()

    train_set = load_heidelberg(args.data, "shd", "train", max_samples=args.samples)
    test_set = load_heidelberg(args.data, "shd", "test", max_steps=train_set.steps)
    cfg = ModelConfig(input_size=train_set.channels, output_size=20, hidden_size=256, hidden_layers=2,
                      max_delay=25, dropout=0.4, time_step_ms=train_set.time_step_ms)
    model = DelaySNN(cfg)
    result = train(model, train_set, test_set, TrainOptions(epochs=args.epochs, batch_size=256, device=args.device))
    save_checkpoint(model, args.output, {"task": "shd", "test_acc": result.final_test_acc,
                                         "input_max_count": max(train_set.max_count, test_set.max_count)})
    print(f"float test accuracy {100 * result.final_test_acc:.1f}% -> {args.output}")

    net = delaysnn.quantize(model, weight_bits=8, input_bits=input_bits_for(test_set.max_count))
    sim = delaysnn.simulate(net, test_set.x.numpy().astype(np.int32))
    acc = (sim.predict(net.readout_scale) == test_set.y.numpy()).mean()
    print(f"8-bit integer network: {100 * acc:.1f}%")


if __name__ == "__main__":
    main()

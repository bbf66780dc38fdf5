"""NIR export of an SHD-shaped network: file size and time of export, write and read back.

    .venv/bin/python bench/bench_nir.py [--repeat 3] [--float] [--json]

The network is a random integer IR built directly: 140-256-256-20, 8-bit weights, delays
0..24 (max delay 25, as SNN-delays on SHD), every synapse present. With random delays almost
every (input, delay) pair is used, which is the worst case for the ``Linear(F) -> Delay ->
Linear(W')`` form (``P`` close to ``inputs x 25``). Reported: pairs per layer, export / write /
read times (best of ``--repeat``), the file size with our writer (gzip, compact dtypes) next to
``nir.write``'s and the ``.dnet`` IR's, and that the read-back network is bit-identical.
``--float`` adds a float ``DelaySNN`` of the same shape (BatchNorm, so its exact parameters ride
in the metadata too).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any

from common import MAX_DELAY, SIZES, float_model, shd_network
from common import best_of as best_time

from delaysnn import ir
from delaysnn.app.from_nir import read_float


def nir_write_size(graph: Any) -> int:
    """Size with plain ``nir.write`` (its default gzip, dtypes as given), for comparison."""
    import nir

    buf = io.BytesIO()
    nir.write(buf, graph)
    return len(buf.getvalue())


def bench_ir(repeat: int) -> dict[str, Any]:
    from exporters import nir as enir

    net = shd_network(vth=(400,), source="bench_nir")  # random delays: almost every (input, delay) pair used
    dnet = ir.to_bytes(net)
    t_export, graph = best_time(lambda: enir.export_ir(net), repeat)
    t_write, data = best_time(lambda: enir.to_bytes(graph), repeat)
    t_read, back = best_time(lambda: enir.read_ir(data), repeat)
    pairs = [int(graph.nodes[f"layer{i}_fanout"].weight.shape[0]) for i in range(len(net.layers))]
    return {
        "network": "-".join(map(str, SIZES)) + f", delays 0..{MAX_DELAY - 1}",
        "synapses": int(sum(layer.weight.size for layer in net.layers)),
        "pairs": pairs,
        "export_s": t_export,
        "write_s": t_write,
        "read_s": t_read,
        "file_bytes": len(data),
        "nir_write_bytes": nir_write_size(graph),
        "dnet_bytes": len(dnet),
        "bit_identical": ir.to_bytes(back) == dnet,
    }


def bench_float(repeat: int) -> dict[str, Any]:
    import torch

    from exporters import nir as enir

    torch.set_num_threads(1)  # not compute-bound; OpenMP threads spin-waiting on a shared core made timings swing 15x
    model = float_model(round_delays=False)
    t_export, graph = best_time(lambda: enir.export_float(model), repeat)
    t_write, data = best_time(lambda: enir.to_bytes(graph), repeat)
    t_read, _ = best_time(lambda: read_float(data), repeat)
    return {"export_s": t_export, "write_s": t_write, "read_s": t_read, "file_bytes": len(data)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--float", action="store_true", help="also export a float DelaySNN of the same shape")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = {"integer": bench_ir(args.repeat)}
    if args.float:
        result["float"] = bench_float(args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    r = result["integer"]
    print(f"integer IR {r['network']}: {r['synapses']} synapses on {sum(r['pairs'])} (input, delay) pairs {r['pairs']}")
    print(f"  export_ir {r['export_s'] * 1e3:.0f} ms, write {r['write_s'] * 1e3:.0f} ms, read_ir {r['read_s'] * 1e3:.0f} ms")
    print(
        f"  file {r['file_bytes'] / 1e6:.2f} MB (nir.write: {r['nir_write_bytes'] / 1e6:.2f} MB, .dnet: {r['dnet_bytes'] / 1e6:.2f} MB); "
        f"read back bit-identical: {r['bit_identical']}"
    )
    if "float" in result:
        f = result["float"]
        print(
            f"float DelaySNN same shape: export {f['export_s'] * 1e3:.0f} ms, write {f['write_s'] * 1e3:.0f} ms, "
            f"read_float {f['read_s'] * 1e3:.0f} ms, file {f['file_bytes'] / 1e6:.2f} MB"
        )
    return 0 if r["bit_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Epoch time of convolutional and locally connected nets: neurosim (numpy, torch) against PyTorch.

Two measurements, ratios from one run (issue 17):

1. **LeNet** (``models/biotorch_lenet_fashion.toml``: conv 6@5x5 - max-pool 2 - conv 16@5x5 -
   max-pool 2 - 120 - 84 - 10, tanh, softmax cross-entropy) trained by backprop, batch 128,
   Adam, float32, no alignment tracking: ``neurosim.train`` on ``array = "numpy"`` and on
   ``array = "torch"``, against a plain PyTorch loop of the same net (``torch.nn.Conv2d``,
   ``MaxPool2d``, ``Linear``, autograd, ``torch.optim.Adam``) in the same process.  Targets:
   numpy within 2x of plain PyTorch, the torch backend within 1.2x.  neurosim's LeNet has a
   bias per unit (untied over positions), PyTorch's a bias per channel: a few thousand more
   additions per sample, nothing against the products.
2. **Locally connected vs convolution**: the same geometry (16 maps of 5x5 windows over the
   28x28 image, tanh, a dense soft-max read-out) with tied kernels (``conv2d``) and untied ones
   (``locally_connected2d``, 576 x more weights), backprop on each backend; the LC/conv epoch
   ratio is the cost of untying (Pozzi et al. 2020's BrainProp code: 45-60 s per CIFAR-10
   epoch for LC against 3 s for conv, a ratio of 15-20).

Every configuration runs ``--epochs`` times, taking turns epoch by epoch (a round is one epoch of
each).  The reported ratio is the median over rounds of the ratio within a round (the two epochs
it compares ran a few seconds apart, so a slow spell of the machine hits both); the fastest epoch
of each configuration is reported beside it.  Run with one BLAS thread per library on a small machine
(``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``; see ``bench_arrays.py``).

    python benchmarks/bench_conv.py [--device cpu] [--epochs 3] [--n-train 10000] [--json]

Writes ``benchmarks/out/bench_conv.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from bench_arrays import BATCH, plain_torch_epoch

from neurosim import Layer, Network, Projection, RunSpec
from neurosim.data import load_dataset
from neurosim.results import provenance, write_json
from neurosim.rules import get_rule
from neurosim.training import TrainConfig, train

CARD = Path(__file__).resolve().parents[1] / "models" / "biotorch_lenet_fashion.toml"


def lenet_torch():
    """The card's LeNet in ``torch.nn`` (per-channel biases)."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.Tanh(), nn.Linear(120, 84),
                         nn.Tanh(), nn.Linear(84, 10))


def one_map_net(operation: str) -> Network:
    """Input (1, 28, 28) -> ``operation`` 16@5x5 -> (16, 24, 24) tanh -> dense soft-max read-out."""
    layers = (Layer("input", shape=(1, 28, 28), role="input", activation="linear", bias=False),
              Layer("maps", shape=(16, 24, 24), activation="tanh"),
              Layer("output", size=10, role="output", activation="linear"))
    projections = (Projection("input", "maps", name="maps", operation=operation, kernel=5),
                   Projection("maps", "output", name="readout"))
    return Network(layers, projections, name=f"{operation}-16x5x5", loss="cross_entropy")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs per configuration; the fastest one counts")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:N, mps)")
    p.add_argument("--n-train", type=int, default=10000, help="training images per epoch (0: all 60,000)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_conv.json"))
    args = p.parse_args(argv)

    import torch

    data = load_dataset("fashion-mnist", n_train=args.n_train or None)
    rule = get_rule("backprop")
    nets = {"lenet": rule.network(RunSpec.load(CARD).network), "conv": rule.network(one_map_net("conv2d")),
            "lc": rule.network(one_map_net("locally_connected2d"))}
    configs = {array: TrainConfig(epochs=1, batch_size=BATCH, optimizer="adam", dtype="float32", align_samples=0,
                                  array=array, device="cpu" if array == "numpy" else args.device)
               for array in ("numpy", "torch")}
    best: dict[str, float] = {}
    rounds: list[dict[str, float]] = []
    for _ in range(args.epochs):
        seconds: dict[str, float] = {}
        for net_name, net in nets.items():
            for array, cfg in configs.items():
                res = train(net, rule, data, cfg, progress=False)
                if res.status != "completed":
                    raise SystemExit(f"{net_name} on {array}: {res.status}: {res.message}")
                seconds[f"{net_name}/{array}"] = res.history[0]["train_seconds"]
            if net_name == "lenet":  # right after neurosim's LeNet epochs, so the pairs run close in time
                seconds["lenet/plain-pytorch"] = plain_torch_epoch(data, args.device, model=lenet_torch,
                                                                   input_shape=(1, 28, 28))
        rounds.append(seconds)
        for key, t in seconds.items():
            best[key] = min(best.get(key, float("inf")), t)

    def ratio(num: str, den: str) -> float:
        return statistics.median(r[num] / r[den] for r in rounds)

    plain = best["lenet/plain-pytorch"]
    lenet = {"plain_pytorch_seconds": plain, "numpy_seconds": best["lenet/numpy"],
             "torch_seconds": best["lenet/torch"],
             "numpy_over_plain_pytorch": ratio("lenet/numpy", "lenet/plain-pytorch"),
             "torch_over_plain_pytorch": ratio("lenet/torch", "lenet/plain-pytorch"),
             "rounds": rounds}
    untied = {array: {"conv_seconds": best[f"conv/{array}"], "lc_seconds": best[f"lc/{array}"],
                      "lc_over_conv": ratio(f"lc/{array}", f"conv/{array}")} for array in configs}
    device_name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else \
        f"CPU, {os.cpu_count()} cores"
    out = {"dataset": data.name, "n_train": len(data.x_train), "batch_size": BATCH, "dtype": "float32",
           "device": args.device, "device_name": device_name, "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(), "lenet": lenet, "locally_connected": untied,
           "provenance": provenance()}
    write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{data.name}: {len(data.x_train)} images per epoch, batch {BATCH}, Adam, float32, backprop; torch "
          f"{torch.__version__} on {args.device} ({device_name}), {torch.get_num_threads()} threads; fastest of "
          f"{args.epochs} epochs; ratios: median over rounds")
    print(f"LeNet: plain PyTorch {plain:.2f} s | neurosim numpy {lenet['numpy_seconds']:.2f} s "
          f"({lenet['numpy_over_plain_pytorch']:.2f}x) | neurosim torch {lenet['torch_seconds']:.2f} s "
          f"({lenet['torch_over_plain_pytorch']:.2f}x)")
    for array, row in untied.items():
        print(f"16@5x5 maps on {array}: conv {row['conv_seconds']:.2f} s, locally connected {row['lc_seconds']:.2f} s "
              f"({row['lc_over_conv']:.1f}x)")


if __name__ == "__main__":
    main()

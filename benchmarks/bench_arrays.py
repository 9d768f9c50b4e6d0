"""Epoch time of the same rules on numpy and on PyTorch tensors, ratios from one run.

Fashion-MNIST, 784-256-256-10 tanh, softmax cross-entropy, batch 128, Adam, float32, no
alignment tracking (``align_samples = 0``): the mini-batch loop of ``neurosim.train`` on
``array = "numpy"`` and on ``array = "torch"`` (``--device cpu`` by default; ``cuda`` on a
GPU machine), and, as the yardstick, a plain PyTorch loop training the same MLP on the
same device (``torch.nn.Linear`` layers, ``F.cross_entropy``, ``torch.optim.Adam``, autograd).

Every configuration runs ``--epochs`` times, taking turns epoch by epoch, and its fastest
epoch counts, so a burst of load from another process does not land on one of them only.
The ratios (torch / numpy, neurosim-torch / plain PyTorch) are the numbers to compare
across machines; the seconds depend on the machine and its thread counts (printed).

    python benchmarks/bench_arrays.py [--rules backprop,fa,dfa] [--device cpu] [--epochs 3]
                                      [--n-train N] [--json]

Writes ``benchmarks/out/bench_arrays.json``.  ``pc`` and ``ep`` (``--rules pc,ep``) run with
the settings of :data:`SETTINGS`: PC with the training preset's truncated inference (T = 20
steps at rate 0.05, ``models/presets/pc-train.toml``), EP with its defaults (each phase to
tolerance 1e-6, symmetric nudging, beta = 1e-3; the two libraries' step counts differ by a
fraction of a percent in float32: a phase stops when its residual crosses the tolerance;
the fixed-step protocol's short nudged phases tripped the divergence test here); EP trains its own net of the same sizes
(hard sigmoid, tied feedback, linear read-out: :data:`OWN_NET`).

On a small CPU machine run it with one BLAS thread per library
(``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``): OpenBLAS's worker threads keep spinning after
numpy's products and take the cores PyTorch's threads need (on 2 cores the plain PyTorch
epoch measured 7x slower right after the numpy one).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from neurosim import Network
from neurosim.data import load_dataset
from neurosim.results import provenance, write_json
from neurosim.rules import get_rule
from neurosim.training import TrainConfig, train

SIZES = [784, 256, 256, 10]
BATCH = 128
#: Hyper-parameters of the rules that relax (module docstring); the others use their defaults.
SETTINGS = {"pc": {"max_steps": 20, "step_size": 0.05, "on_unconverged": "record"},
            "ep": {}}
#: Rules trained on their own default net of SIZES (EP: hard sigmoid, tied feedback, a linear
#: read-out; on the tanh MLP with Adam its nudged phase diverges within the first epoch).
OWN_NET = {"ep"}


def plain_torch_epoch(data, device: str, seed: int = 0, model=None, input_shape=None) -> float:
    """Seconds of one epoch of a plain PyTorch loop (autograd + torch.optim.Adam, batch BATCH).

    ``model`` builds the ``torch.nn.Module`` (default: the MLP of SIZES); ``input_shape``
    reshapes each flat image (``(1, 28, 28)`` for a conv net).
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    if model is None:
        layers = [torch.nn.Linear(i, o) for i, o in zip(SIZES[:-1], SIZES[1:])]
        net = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.Tanh(), layers[2])
    else:
        net = model()
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.as_tensor(np.asarray(data.x_train, dtype=np.float32), device=device)
    if input_shape is not None:
        x = x.reshape((len(x), *input_shape))
    y = torch.as_tensor(np.asarray(data.y_train, dtype=np.int64), device=device)
    order = torch.as_tensor(np.random.default_rng(seed).permutation(len(x)), device=device)
    _sync(device)
    t0 = time.perf_counter()
    for start in range(0, len(x), BATCH):
        idx = order[start:start + BATCH]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - t0


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs per configuration; the fastest one counts")
    p.add_argument("--rules", default="backprop,fa,dfa")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:N, mps)")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n-train", type=int, default=None, help="subset of the training set")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_arrays.json"))
    args = p.parse_args(argv)

    import torch

    data = load_dataset(args.dataset, n_train=args.n_train)
    net = Network.feedforward(SIZES, activation="tanh", loss="cross_entropy")
    rules = args.rules.split(",")
    configs = {array: TrainConfig(epochs=1, batch_size=BATCH, optimizer="adam", dtype="float32", align_samples=0,
                                  array=array, device="cpu" if array == "numpy" else args.device)
               for array in ("numpy", "torch")}
    best: dict[str, float] = {}
    for _ in range(args.epochs):
        for rule in rules:
            for array, cfg in configs.items():
                r = get_rule(rule, **SETTINGS.get(rule, {}))
                res = train(r.network(SIZES, loss="cross_entropy") if rule in OWN_NET else r.network(net), r, data, cfg,
                            progress=False)
                if res.status != "completed":
                    raise SystemExit(f"{rule} on {array}: {res.status}: {res.message}")
                key = f"{rule}/{array}"
                best[key] = min(best.get(key, float("inf")), res.history[0]["train_seconds"])
        best["plain-pytorch"] = min(best.get("plain-pytorch", float("inf")), plain_torch_epoch(data, args.device))
    rows = []
    for rule in rules:
        t_np, t_torch = best[f"{rule}/numpy"], best[f"{rule}/torch"]
        rows.append({"rule": rule, "numpy_seconds": t_np, "torch_seconds": t_torch,
                     "torch_over_numpy": t_torch / t_np, "torch_over_plain_pytorch": t_torch / best["plain-pytorch"]})
    device_name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else \
        f"CPU, {os.cpu_count()} cores"
    out = {"dataset": data.name, "n_train": len(data.x_train), "sizes": SIZES, "batch_size": BATCH,
           "dtype": "float32", "device": args.device, "device_name": device_name,
           "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "plain_pytorch_seconds": best["plain-pytorch"], "rows": rows, "provenance": provenance()}
    write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{data.name}: {len(data.x_train)} samples, {'-'.join(map(str, SIZES))} tanh, batch {BATCH}, Adam, "
          f"float32; torch {torch.__version__} on {args.device} ({device_name}), {torch.get_num_threads()} threads")
    print(f"plain PyTorch loop (autograd): {best['plain-pytorch']:.2f} s per epoch")
    print(f"{'rule':<10} {'numpy s':>8} {'torch s':>8} {'torch/numpy':>12} {'torch/plain':>12}")
    for r in rows:
        print(f"{r['rule']:<10} {r['numpy_seconds']:>8.2f} {r['torch_seconds']:>8.2f} {r['torch_over_numpy']:>12.2f} "
              f"{r['torch_over_plain_pytorch']:>12.2f}")


if __name__ == "__main__":
    main()

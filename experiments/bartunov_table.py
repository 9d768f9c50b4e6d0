"""Bartunov et al. (2018) Table 1, fully connected column, on Fashion-MNIST.

Bartunov, Santoro, Richards, Marris, Hinton & Lillicrap (2018, NeurIPS) compared backprop,
FA, DFA and the target-propagation family (DTP, SDTP, AO-SDTP; parallel and alternating
schedules) on MNIST with a fully connected 784-256x5-10 tanh network, softmax output and
Adam, reporting the best train/test error within 500 epochs after a 60-draw hyper-parameter
search per method.  This script runs the same *structure* -- same network, same methods,
same optimiser -- on Fashion-MNIST, with one hyper-parameter setting per method and a
budget you choose.  It only WRITES results; ``figures/bartunov_table.py`` draws them beside
the published MNIST numbers (from ``models/bartunov2018_*.toml``).

Per method it records, every epoch: loss, train/test error, the angle between the method's
forward update and backprop's (on a fixed batch of 256 training samples), and for the TP
family the inverses' reconstruction error.  Reported: the final errors and the best test
error over epochs (the paper's criterion, selected on the test set, so optimistic).

Hyper-parameters: each method's rule settings (target step, noise, auxiliary units,
schedule) come from its model card ``models/bartunov2018_<method>.toml`` (their best MNIST
draw), except that

* the alternating schedule alternates every mini-batch (``alternate_every = 1``) instead of
  every epoch, so that a short budget trains both pathways every epoch;
* every method uses one Adam learning rate (``--lr``, default 1e-3) unless ``--card-lr``
  asks for the cards' (tuned for 500 epochs; slower).

The record is ``<out>/table.json`` (``quick.json`` with ``--quick``), written with
:func:`neurosim.results.write_json` after every method; a rerun with the same configuration
skips the methods already finished (an interrupted run resumes), and refuses to mix
configurations.

Usage::

    python experiments/bartunov_table.py --quick          # ~1 min: 1000 samples, 2 epochs
    python experiments/bartunov_table.py --epochs 100     # the real thing: all 60000 samples
    python experiments/bartunov_table.py --epochs 8 --n-train 20000   # the budget run in README
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("bp", "fa", "dfa", "dtp_parallel", "dtp_alternating", "sdtp_parallel", "sdtp_alternating",
           "aosdtp_parallel", "aosdtp_alternating")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1000 training / 500 test samples, 2 epochs (smoke run)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--n-train", type=int, default=None, help="class-balanced training subset (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="class-balanced test subset (default: all)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate for every method")
    p.add_argument("--card-lr", action="store_true", help="use each model card's learning rate instead")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: on a shared CPU, OpenBLAS threads spin and run 10x slower)")
    p.add_argument("--out", default=str(ROOT / "results" / "bartunov_table"))
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 2, args.n_train or 1000, args.n_test or 500
    return args


def method_setup(method: str, args) -> tuple[str, dict, float]:
    """``(rule name, hyper-parameters, learning rate)`` of a method, from its model card."""
    from neurosim import RunSpec

    card = RunSpec.load(ROOT / "models" / f"bartunov2018_{method}.toml")
    hyper = dict(card.hyper)
    if hyper.get("schedule") == "alternating":
        hyper["alternate_every"] = 1
    lr = float(card.learning_rate) if args.card_lr else args.lr
    return card.rule, hyper, lr


def run_method(method: str, args, data) -> dict:
    import numpy as np

    from neurosim import Network, get_rule
    from neurosim.training import TrainConfig, train

    rule_name, hyper, lr = method_setup(method, args)
    rule = get_rule(rule_name, **hyper)
    sizes = [data.n_features, 256, 256, 256, 256, 256, data.n_classes]
    network = rule.network(Network.feedforward(sizes, activation="tanh", loss="cross_entropy",
                                               name=f"bartunov_{method}"))
    params = rule.init_params(network, args.seed, dtype="float32")
    recon = rule.family == "target_propagation"  # how well the inverses invert
    x_probe = data.x_train[:1000].astype(np.float32)
    recon_initial = rule.reconstruction_error(network, params, x_probe) if recon else None

    def log(entry):
        print(f"  {method:<20} epoch {entry['epoch']:>3}  train {entry['train_error']:.4f}  test "
              f"{entry['test_error']:.4f}  angle {entry['alignment']['global_angle_deg']:.1f}  "
              f"({entry['seconds']:.1f} s)", flush=True)

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", learning_rate=lr,
                         seed=args.seed, dtype="float32", align_samples=256)
    t0 = time.perf_counter()
    result = train(network, rule, data, config, params=params, progress=False, callback=log)
    history = result.history
    recon_final = rule.reconstruction_error(network, result.params, x_probe) if recon else None
    tests = [e["test_error"] for e in history if e.get("test_error") is not None]
    best = int(np.argmin(tests)) if tests else None
    return {"method": method, "rule": rule_name, "hyper": dict(rule.hyper), "learning_rate": lr,
            "status": result.status, "message": result.message, "epochs": result.epochs_completed,
            "train_error": result.train_error, "test_error": result.test_error,
            "best_test_error": tests[best] if tests else None,
            "best_epoch": best + 1 if tests else None,
            "train_error_at_best": history[best]["train_error"] if tests else None,
            "final_angle_deg": history[-1]["alignment"]["global_angle_deg"] if history else None,
            "reconstruction_error": {"initial": recon_initial, "final": recon_final} if recon else None,
            "seconds": time.perf_counter() - t0,
            "history": [{k: e.get(k) for k in ("epoch", "loss", "train_error", "test_error", "seconds")}
                        | {"angle_deg": e["alignment"]["global_angle_deg"],
                           "cosine": e["alignment"]["projections"]} for e in history]}


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))  # before NumPy loads its BLAS

    from neurosim.data import load_dataset
    from neurosim.results import provenance, write_json

    out = Path(args.out) / ("quick.json" if args.quick else "table.json")
    config = {"dataset": args.dataset, "epochs": args.epochs, "n_train": args.n_train, "n_test": args.n_test,
              "batch_size": args.batch_size, "lr": None if args.card_lr else args.lr, "card_lr": args.card_lr,
              "seed": args.seed, "sizes": "784-256x5-10", "activation": "tanh", "loss": "cross_entropy",
              "optimizer": "adam", "dtype": "float32", "align_samples": 256, "alternate_every": 1}
    record = {"experiment": "bartunov_table", "config": config, "methods": {}}
    if out.exists():
        old = json.loads(out.read_text())
        if old.get("config") != config:
            print(f"error: {out} holds results for another configuration ({old.get('config')}); pass --out "
                  "DIR for a new table or delete the file to start over", file=sys.stderr)
            return 2
        record["methods"] = {m: r for m, r in old.get("methods", {}).items() if r.get("status") == "completed"}
    data = load_dataset(args.dataset, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    print(f"{data.name}: {len(data.x_train)} train / {len(data.x_test)} test samples, {args.epochs} epochs -> {out}")
    for method in args.methods:
        if method in record["methods"]:
            print(f"  {method:<20} done already (test error {record['methods'][method]['test_error']:.4f}); skipped")
            continue
        record["methods"][method] = run_method(method, args, data)
        record["provenance"] = provenance()
        write_json(out, record)
    write_json(out, record)
    return 0


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "bartunov_table"))

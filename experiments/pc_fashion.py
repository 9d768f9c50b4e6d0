"""Predictive coding vs backprop on Fashion-MNIST at the same budget (issue 4, item 5).

Network: the pcx benchmark MLP card (``models/pcx_mlp.toml``: 784-128-128-128-10 relu,
cross-entropy output energy).  Budget, identical for every rule: ``--epochs`` (5) epochs over
``--n-train`` training images (default: all 60,000), batch 128, Adam with learning rate
1e-3, float32, seeds ``0 .. --seeds - 1`` (3; the seed draws the initial weights, the batch
order and, for subsets, the class-balanced subset).  Test error on ``--n-test`` images
(default: all 10,000), after every epoch.

Rules and their inference settings (the training presets ``models/presets/<rule>-train.toml``):

* ``backprop`` -- the reference;
* ``pc`` -- standard PC (Whittington & Bogacz 2017) with truncated inference, T = 20 steps
  at rate 0.05, output precision 1 (pcx practice: a fixed small T, non-convergence
  recorded, divergence stops the run);
* ``pc-fpa`` -- fixed-prediction PC at rate 1: backprop's update exactly (a control: its
  curve must sit on backprop's up to float32 rounding).

Each epoch also records the cosine between the rule's update and backprop's on a fixed
batch of 256 training images (``history[i]["alignment"]``, global and per projection) and,
for PC, the inference diagnostics of the epoch's training batches (``history[i]["relaxation"]``:
phases, unconverged phases, steps, largest final residual; summed by ``train`` from ``aux``).

Writes ``<out>/runs/<rule>_seed<k>.json`` per run (a rerun skips finished runs) and
``<out>/summary.json`` (mean and sd over seeds of the final test error, per rule), read by
``figures/pc_training.py``.

Usage::

    nice -n 10 python experiments/pc_fashion.py                      # ~15 min CPU on 1 core
    python experiments/pc_fashion.py --n-train 5000 --n-test 2000 --epochs 3 --seeds 5 \\
        --out results/pc_fashion_subset                              # the acceptance-test budget
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train_preset(rule_name: str) -> dict:
    """Every hyper-parameter of the rule's training preset (``models/presets/<rule>-train.toml``)."""
    from neurosim import RunSpec

    return dict(RunSpec.preset(rule_name, "train").hyper)


def run_one(rule_name: str, seed: int, args) -> dict:
    """Train one rule with one seed at the shared budget; returns the JSON record."""
    import numpy as np

    from neurosim.data import load_dataset
    from neurosim import RunSpec
    from neurosim.rules import get_rule
    from neurosim.training import TrainConfig, train

    card = RunSpec.load(ROOT / "models" / "pcx_mlp.toml")
    data = load_dataset("fashion-mnist", n_train=args.n_train, n_test=args.n_test, seed=seed)
    hyper = train_preset(rule_name)  # the rule's training preset (every hyper-parameter)
    rule = get_rule(rule_name, **hyper)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam",
                         learning_rate=args.lr, seed=seed, dtype="float32", align_samples=256)

    def diagnostics(entry):
        print(f"{rule_name:<9} seed {seed} epoch {entry['epoch']:>2}  test error {entry['test_error']:.4f}  "
              f"cos {entry['alignment']['global']:.3f}  ({entry['train_seconds']:.1f} s)", flush=True)

    result = train(card.network, rule, data, config, progress=False, callback=diagnostics)
    return {"rule": rule_name, "seed": seed, "hyper": hyper, "status": result.status, "message": result.message,
            "dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test),
            "network": card.network.name, "sizes": [la.size for la in card.network.layers],
            "activation": card.network.layers[1].activation, "loss": card.network.loss,
            "config": {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "adam",
                       "learning_rate": args.lr, "dtype": "float32", "align_samples": 256},
            "test_error": result.test_error, "train_error": result.train_error, "seconds": result.seconds,
            "train_seconds": float(np.sum([h["train_seconds"] for h in result.history])),
            "history": result.history}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default="backprop,pc,pc-fpa")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n-train", type=int, default=None, help="class-balanced subset (default: all 60,000)")
    p.add_argument("--n-test", type=int, default=None, help="class-balanced subset (default: all 10,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fpa-seeds", type=int, default=1, help="seeds for the pc-fpa control (it equals backprop)")
    p.add_argument("--out", default=str(ROOT / "results" / "pc_fashion"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np

    from neurosim.results import provenance, write_json
    from neurosim.validation import check

    for flag in ("seeds", "fpa_seeds"):  # the summary needs at least one run of each rule
        check("pc_fashion", "--" + flag.replace("_", "-"), getattr(args, flag), "int", gt=0)
    out = Path(args.out)
    records = []
    t0 = time.perf_counter()
    for rule_name in args.rules.split(","):
        for seed in range(args.fpa_seeds if rule_name == "pc-fpa" else args.seeds):
            path = out / "runs" / f"{rule_name}_seed{seed}.json"
            job = {"rule": rule_name, "seed": seed, "epochs": args.epochs, "n_train": args.n_train,
                   "n_test": args.n_test, "batch_size": args.batch_size, "lr": args.lr,
                   "hyper": train_preset(rule_name)}
            if path.exists():  # resumable: a finished run of the same job is kept
                old = json.loads(path.read_text())
                if old.get("job") == job:
                    records.append(old)
                    continue
                raise SystemExit(f"{path}: holds a run of another budget ({old.get('job')}); pass another "
                                 "--out or delete it")
            record = {"job": job, **run_one(rule_name, seed, args)}
            record["provenance"] = provenance()
            write_json(path, record)
            records.append(record)
    rows = []
    for rule_name in args.rules.split(","):
        errs = [r["test_error"] for r in records if r["rule"] == rule_name and r["status"] == "completed"]
        secs = [r["train_seconds"] / r["config"]["epochs"] for r in records if r["rule"] == rule_name]
        rows.append({"rule": rule_name, "n": len(errs),
                     "statuses": [r["status"] for r in records if r["rule"] == rule_name],
                     "test_errors": errs, "mean": float(np.mean(errs)) if errs else None,
                     "sd": float(np.std(errs, ddof=1)) if len(errs) > 1 else None,
                     "epoch_train_seconds": float(np.mean(secs)) if secs else None})
        row = rows[-1]
        sd = f" ± {100 * row['sd']:.2f}" if row["sd"] is not None else ""
        mean = f"{100 * row['mean']:.2f}" if row["mean"] is not None else "n/a"
        print(f"{rule_name:<9} test error {mean}{sd} % (n={row['n']}), "
              f"{row['epoch_train_seconds']:.1f} s per training epoch")
    write_json(out / "summary.json", {
        "experiment": "pc_fashion", "n_train": records[0]["n_train"], "n_test": records[0]["n_test"],
        "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "adam", "learning_rate": args.lr,
        "sizes": records[0]["sizes"], "activation": records[0]["activation"], "rows": rows,
        "wall_seconds": time.perf_counter() - t0, "provenance": provenance()})
    return 0


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "pc_fashion"))

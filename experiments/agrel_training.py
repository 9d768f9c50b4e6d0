"""AGREL and BrainProp vs backprop on Fashion-MNIST: learning curves and the epoch cost of reward.

Set-up (stated in the README): 784-256-10, tanh hidden layer, linear outputs, batch 128,
float32, seed 0, the full 60,000 / 10,000 split.  Two training set-ups:

* ``adam``: Adam 1e-3, Xavier weights (the package's default).  Backprop and AGREL train the
  softmax cross-entropy network (AGREL's expected update is its gradient).
* ``paper``: the set-up of BrainProp's published code (Pozzi, Bohte & Roelfsema 2020, github
  isapome/BrainProp): plain SGD at learning rate 0.1 without momentum, weights N(0, 0.01^2),
  exploration epsilon = 0.02 (``models/pozzi2020_brainprop.toml``).  BrainProp trains squared-
  error action values (its expected update is the policy-weighted squared error's gradient);
  backprop trains the cross-entropy network in the same set-up as the matched baseline.

BrainProp with Adam is run too (``brainprop-adam``), to record how that set-up fails.  AGREL
and BrainProp learn from one sampled action per image and a scalar reward -- never the label.

Reported per run: test error per epoch, the final test error, and for backprop's test error
after k epochs (k = 1, 2, 3, 5, 10) in the *same* set-up the first epoch at which the rule
reaches it (the "slowdown" ratio; Pozzi et al. 2020 report 1-3.5x).

Writes ``results/agrel_training/run.json`` (``--out``); ``figures/agrel_learning_curves.py``
draws it.

    OPENBLAS_NUM_THREADS=1 python experiments/agrel_training.py [--epochs 30] [--n-train N]
"""
from __future__ import annotations

import argparse
import time

from neurosim import Network, get_rule
from neurosim.data import load_dataset
from neurosim.results import provenance, save_run
from neurosim.training import TrainConfig, train

#: (label, rule, set-up); the first run of each set-up named "backprop*" is that set-up's baseline
RUNS = (("backprop", "backprop", "adam"), ("agrel", "agrel", "adam"), ("brainprop-adam", "brainprop", "adam"),
        ("backprop-sgd", "backprop", "paper"), ("brainprop", "brainprop", "paper"))
SETUPS = {"adam": {"optimizer": "adam", "learning_rate": 1e-3, "momentum": 0.9, "init": "xavier_uniform",
                   "init_scale": 1.0},
          "paper": {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.0, "init": "normal", "init_scale": 0.01}}
BASELINE = {"adam": "backprop", "paper": "backprop-sgd"}
MILESTONES = (1, 2, 3, 5, 10)


def network_for(rule_name: str, sizes, setup: dict) -> Network:
    init = {"init": setup["init"], "init_scale": setup["init_scale"]}
    if rule_name == "brainprop":  # action values: linear outputs, squared error
        return get_rule("brainprop").network(Network.feedforward(sizes, activation="tanh", output_activation="linear",
                                                                 loss="mse", **init))
    return Network.feedforward(sizes, activation="tanh", loss="cross_entropy", **init)


def epochs_to_reach(history, level) -> int | None:
    """First epoch whose test error is <= ``level`` (None if never)."""
    for entry in history:
        if entry["test_error"] is not None and entry["test_error"] <= level:
            return entry["epoch"]
    return None


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/agrel_training")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--n-train", type=int, default=None, help="training subset (default: all 60,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args(argv)

    data = load_dataset("fashion-mnist", n_train=args.n_train, seed=args.seed)
    sizes = [data.n_features, args.hidden, data.n_classes]
    record = {"dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test), "sizes": sizes,
              "config": {"epochs": args.epochs, "batch_size": 128, "optimizer": "adam", "learning_rate": 1e-3,
                         "dtype": "float32", "seed": args.seed},
              "setups": SETUPS,
              "command": "OPENBLAS_NUM_THREADS=1 python experiments/agrel_training.py "
                         f"--epochs {args.epochs}" + (f" --n-train {args.n_train}" if args.n_train else ""),
              "runs": {}, "provenance": provenance()}
    for label, name, setup_name in RUNS:
        setup = SETUPS[setup_name]
        config = TrainConfig(epochs=args.epochs, batch_size=128, optimizer=setup["optimizer"],
                             learning_rate=setup["learning_rate"], momentum=setup["momentum"], seed=args.seed,
                             dtype="float32", align_samples=256)
        t0 = time.perf_counter()
        rule = get_rule(name)  # train() seeds the rule's state (the action draws) with config.seed
        result = train(network_for(name, sizes, setup), rule, data, config, progress=False)
        record["runs"][label] = {"rule": name, "setup": setup_name, "loss": result.network.loss,
                                 "hyper": dict(rule.hyper), "status": result.status, "message": result.message,
                                 "test_error": result.test_error, "train_error": result.train_error,
                                 "seconds": time.perf_counter() - t0, "history": result.history}
        error = "-" if result.test_error is None else f"{result.test_error:.4f}"
        print(f"{label:<15} {result.status:<9} test error {error}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        save_run(args.out, record)
    slowdown = {}
    for label, name, setup_name in RUNS:
        if name == "backprop":
            continue
        bp = record["runs"][BASELINE[setup_name]]["history"]
        rows = []
        for k in MILESTONES:
            if k > len(bp):
                continue
            level = bp[k - 1]["test_error"]
            reached = epochs_to_reach(record["runs"][label]["history"], level)
            rows.append({"bp_epochs": k, "bp_test_error": level, "rule_epochs": reached,
                         "ratio": None if reached is None else reached / k})
        slowdown[label] = rows
    record["slowdown"] = slowdown
    save_run(args.out, record)
    for name, rows in slowdown.items():
        print(name, ", ".join(f"BP@{r['bp_epochs']}={r['bp_test_error']:.4f}: {r['rule_epochs']}" for r in rows))
    return record


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "agrel_training"))

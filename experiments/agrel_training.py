"""AGREL and BrainProp vs backprop on Fashion-MNIST: learning curves and the epoch cost of reward.

Set-up (stated in the README): 784-256-10, tanh hidden layer, linear outputs, Adam 1e-3, batch
128, float32, seed 0, the full 60,000 / 10,000 split.  Backprop and AGREL train the softmax
cross-entropy network (AGREL's expected update is its gradient); BrainProp trains the same
architecture with squared-error action values (its expected update is the policy-weighted
squared error's gradient).  AGREL and BrainProp learn from one sampled action per image and a
scalar reward -- never the label itself.

Reported per rule: test error per epoch, the final test error, and for backprop's test error
after k epochs (k = 1, 2, 3, 5, 10) the first epoch at which the rule reaches it (the
"slowdown" ratio; Pozzi et al. 2020 report 1-3.5x).

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

RULES = ("backprop", "agrel", "brainprop")
MILESTONES = (1, 2, 3, 5, 10)


def network_for(rule_name: str, sizes) -> Network:
    if rule_name == "brainprop":
        return get_rule("brainprop").network(sizes)
    return Network.feedforward(sizes, activation="tanh", loss="cross_entropy")


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
    config = TrainConfig(epochs=args.epochs, batch_size=128, optimizer="adam", learning_rate=1e-3,
                         seed=args.seed, dtype="float32", align_samples=256)
    record = {"dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test), "sizes": sizes,
              "config": {"epochs": args.epochs, "batch_size": 128, "optimizer": "adam", "learning_rate": 1e-3,
                         "dtype": "float32", "seed": args.seed},
              "command": "OPENBLAS_NUM_THREADS=1 python experiments/agrel_training.py "
                         f"--epochs {args.epochs}" + (f" --n-train {args.n_train}" if args.n_train else ""),
              "runs": {}, "provenance": provenance()}
    for name in RULES:
        t0 = time.perf_counter()
        rule = get_rule(name)  # train() seeds the rule's state (the action draws) with config.seed
        result = train(network_for(name, sizes), rule, data, config, progress=False)
        record["runs"][name] = {"loss": result.network.loss, "hyper": dict(rule.hyper),
                                "status": result.status, "message": result.message,
                                "test_error": result.test_error, "train_error": result.train_error,
                                "seconds": time.perf_counter() - t0, "history": result.history}
        print(f"{name:<10} test error {result.test_error:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        save_run(args.out, record)
    bp = record["runs"]["backprop"]["history"]
    slowdown = {}
    for name in RULES[1:]:
        rows = []
        for k in MILESTONES:
            if k > len(bp):
                continue
            level = bp[k - 1]["test_error"]
            reached = epochs_to_reach(record["runs"][name]["history"], level)
            rows.append({"bp_epochs": k, "bp_test_error": level, "rule_epochs": reached,
                         "ratio": None if reached is None else reached / k})
        slowdown[name] = rows
    record["slowdown"] = slowdown
    save_run(args.out, record)
    for name, rows in slowdown.items():
        print(name, ", ".join(f"BP@{r['bp_epochs']}={r['bp_test_error']:.4f}: {r['rule_epochs']}" for r in rows))
    return record


if __name__ == "__main__":
    main()

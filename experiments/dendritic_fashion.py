"""Deep dendritic circuits on Fashion-MNIST: microcircuit and burstprop beside backprop.

Three rules train the same two-hidden-layer sigmoid/mse chain (``784-500-500-10`` by default,
the size of Sacramento et al.'s and Payeur et al.'s MNIST networks) at the same budget:

* ``backprop`` on the plain chain (:meth:`Network.feedforward`, sigmoid, mse): the reference;
* ``microcircuit`` (Sacramento et al. 2018) with ``models/presets/microcircuit-compare.toml`` (basal rule compared
  with the dendritic prediction plus the apical potential without teacher, 30 relaxation
  sweeps), random top-down weights, lateral weights starting in the self-predicting state;
* ``burstprop`` (Payeur et al. 2021) with fixed random burst feedback :math:`Y` and
  :math:`Z = \\bar p_0 Y`.

Budget (all rules): Adam, learning rate 1e-3 (5e-3, the rules' digits default, saturates
the 500-unit sigmoid layers: backprop and burstprop stay at 90 % error for 3 epochs on a
2,000-image pilot), batch 32, ``--epochs`` epochs on a class-balanced ``--n-train`` subset (seed 0), tested on
``--n-test`` test images, float32.  After every epoch the cosine of each projection's update
with backprop's on 256 training images is stored; the *hidden-layer angle* is
:math:`\\arccos` of it for the projections into hidden layers.

Published (MNIST, full budget, LITERATURE.md): microcircuit 1.96 % vs backprop 1.53 %,
burstprop 1.1 %.  This is Fashion-MNIST at a small CPU budget; compare with the backprop row.

Output: ``<out>/run.json`` (rewritten after each rule; a rerun with the same set-up replaces
the rules it runs and keeps the others, so ``--rules microcircuit`` redoes one rule).
``figures/dendritic_training.py`` draws it.

    nice -n 10 python experiments/dendritic_fashion.py [--n-train 6000] [--n-test 10000]
        [--epochs 12] [--seed 0] [--rules backprop,microcircuit,burstprop] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from neurosim import Network, RunSpec, get_rule
from neurosim.data import load_dataset
from neurosim.results import provenance, write_json
from neurosim.training import TrainConfig, train
from neurosim.validation import check_list

LEARNING_RATE = 1e-3


def build(name: str, sizes):
    """The rule (with its compare preset's hyper-parameters) and its network for ``sizes``."""
    rule = RunSpec.preset(name, "compare").make_rule()
    if name == "backprop":
        # the dendritic rules' feed-forward pathway exactly: sigmoid layers, mse
        net = Network.feedforward(list(sizes), activation="sigmoid", loss="mse", name="mlp")
    else:
        net = rule.network(list(sizes))
    return rule, rule.network(net)


def hidden_angles(network, projections: dict) -> dict:
    """Angle (degrees) to backprop of every feed-forward projection into a hidden layer."""
    out = {}
    for proj in network.chain():
        if network.layer(proj.post).role == "hidden" or proj.post.startswith("pyr"):
            c = projections.get(proj.name)
            out[proj.name] = None if c is None else math.degrees(math.acos(max(-1.0, min(1.0, c))))
    return out


def run_rule(name: str, data, sizes, epochs: int, seed: int) -> dict:
    rule, net = build(name, sizes)
    params = rule.init_params(net, seed)
    config = TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", learning_rate=LEARNING_RATE, seed=seed,
                         dtype="float32", align_samples=256)
    t0 = time.perf_counter()
    result = train(net, rule, data, config, params=params, progress=False)
    history = []
    for entry in result.history:
        proj = entry["alignment"]["projections"]
        history.append({"epoch": entry["epoch"], "loss": entry["loss"], "train_error": entry["train_error"],
                        "test_error": entry["test_error"], "global_cosine": entry["alignment"]["global"],
                        "cosine": proj, "hidden_angle_deg": hidden_angles(net, proj),
                        "seconds": entry["seconds"]})
    return {"rule": name, "hyper": dict(rule.hyper), "network": net.name, "loss": net.loss,
            "status": result.status, "message": result.message, "test_error": result.test_error,
            "train_error": result.train_error, "seconds": time.perf_counter() - t0, "history": history}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default="500,500", help="hidden layer sizes, comma-separated")
    ap.add_argument("--rules", default="backprop,microcircuit,burstprop")
    ap.add_argument("--out", default="results/dendritic_fashion")
    args = ap.parse_args(argv)
    hidden = check_list("dendritic_fashion", "--hidden", args.hidden, "int", gt=0)
    for name in args.rules.split(","):  # an unknown name fails now, not after the rules before it trained
        get_rule(name)
    data = load_dataset("fashion-mnist", n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    sizes = [data.n_features, *hidden, data.n_classes]
    record = {"dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test), "sizes": sizes,
              "epochs": args.epochs, "batch_size": 32, "optimizer": "adam", "learning_rate": LEARNING_RATE,
              "seed": args.seed, "published_mnist_error": {"backprop": 0.0153, "microcircuit": 0.0196,
                                                           "burstprop": 0.011},
              "runs": [], "provenance": provenance()}
    out = Path(args.out) / "run.json"
    config_keys = ("dataset", "n_train", "n_test", "sizes", "epochs", "batch_size", "learning_rate", "seed")
    if out.exists():  # resume: keep the finished rules of a run with the same set-up
        old = json.loads(out.read_text())
        if all(old.get(k) == record[k] for k in config_keys):
            record["runs"] = [r for r in old["runs"] if r["rule"] not in args.rules.split(",")]
    for name in args.rules.split(","):
        row = run_rule(name, data, sizes, args.epochs, args.seed)
        print(f"{name:<13} test error {row['test_error']:.4f}  "
              f"hidden angles {[round(a, 1) for a in row['history'][-1]['hidden_angle_deg'].values()]} deg  "
              f"({row['seconds']:.0f} s)", flush=True)
        record["runs"].append(row)
        write_json(out, record)
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "dendritic_fashion"))

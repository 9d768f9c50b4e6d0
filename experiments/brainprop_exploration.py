"""Why BrainProp trails backprop: sampling noise or the objective?  Both measured against epsilon.

Set-up: the Fashion-MNIST 784-256-10 tanh action-value network of
``models/pozzi2020_brainprop.toml`` (weights N(0, 0.01^2), plain SGD 0.1 without momentum,
batch 128, float64 here), trained with BrainProp (epsilon 0.02) for ``--warm-epochs`` epochs on
``--n-train`` images (seed 0).  At that state, for each exploration rate epsilon and batch size B,
over ``--batches`` random training batches:

* ``sampled_vs_expected``: cosine of the applied update (one sampled action per image) with the
  exact expectation over actions (every action enumerated): the sampling noise;
* ``expected_vs_supervised``: cosine of that expectation with the descent direction of the
  squared error of *every* output unit, ``1/2 ||t - Q||^2`` (backprop of the same network; the
  supervised counterpart of BrainProp's :math:`\\sum_k \\mathrm{sg}(\\pi_k) \\tfrac12 (t_k-Q_k)^2`):
  what the objective leaves out;
* ``correct_unit_weight``: the mean policy weight :math:`\\pi_c` of the correct unit on the
  images where the greedy choice is wrong (the rate at which those images' correct unit learns,
  relative to the squared error of every unit).

With ``--train-epochs E`` (> 0) it also trains the network from scratch for E epochs on the full
training set at each epsilon and records the test error per epoch (the "paper" set-up of
``experiments/agrel_training.py``; backprop's cross-entropy net in the same set-up beside it).

Writes ``results/brainprop_exploration/run.json``.

    OPENBLAS_NUM_THREADS=1 python experiments/brainprop_exploration.py [--train-epochs 10]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import Network, get_rule
from neurosim.alignment import AlignmentReport
from neurosim.data import load_dataset
from neurosim.reference import backprop, forward
from neurosim.results import provenance, save_run
from neurosim.training import TrainConfig, train
from neurosim.validation import check

EPSILONS = (0.02, 0.1, 0.5, 1.0)
BATCHES = (32, 128, 512)


def paper_network(rule_name: str, sizes) -> Network:
    """784-256-10 tanh, N(0, 0.01^2) weights: action values (BrainProp) or softmax logits (backprop)."""
    if rule_name == "brainprop":
        return get_rule("brainprop").network(Network.feedforward(sizes, activation="tanh", output_activation="linear",
                                                                 loss="mse", init="normal", init_scale=0.01))
    return Network.feedforward(sizes, activation="tanh", loss="cross_entropy", init="normal", init_scale=0.01)


def paper_config(epochs: int, dtype: str = "float32") -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", learning_rate=0.1, momentum=0.0, seed=0,
                       dtype=dtype, align_samples=0)


def cos(a: dict, b: dict) -> float:
    keys = [k for k in b if not k.endswith(".bias")]
    return AlignmentReport.compare({k: a[k] for k in keys}, {k: b[k] for k in keys}, names=keys).global_cosine


def measure(net, params, data, epsilons, batches, n_batches, seed) -> list[dict]:
    rng = np.random.default_rng(seed)
    targets = np.asarray(data.targets("train"), dtype=np.float64)
    rows = []
    for eps in epsilons:
        rule = get_rule("brainprop", epsilon=eps)
        expected_rule = rule.replace(update="expected")
        for size in batches:
            s_e, e_sup, weight = [], [], []
            state = rule.init(net, params, seed)
            for _ in range(n_batches):
                idx = rng.choice(len(data.x_train), size, replace=False)
                x, t = data.x_train[idx].astype(np.float64), targets[idx]
                applied, state, _ = rule.updates(net, params, state, x, t)
                expected, _, _ = expected_rule.updates(net, params, state, x, t)
                supervised = backprop(net, params, x, t).descent()  # the network's loss: mse on every unit
                s_e.append(cos(applied, expected))
                e_sup.append(cos(expected, supervised))
                q = forward(net, params, x).output
                pi = rule.policy(q)
                labels = t.argmax(axis=1)
                wrong = q.argmax(axis=1) != labels
                if wrong.any():
                    weight.append(float(pi[wrong, labels[wrong]].mean()))
            rows.append({"epsilon": eps, "batch": size, "sampled_vs_expected": float(np.mean(s_e)),
                         "sampled_vs_expected_sd": float(np.std(s_e)), "expected_vs_supervised": float(np.mean(e_sup)),
                         "correct_unit_weight": float(np.mean(weight)) if weight else None})
            r = rows[-1]
            print(f"eps {eps:<5} B {size:<4} cos(sampled, expected) {r['sampled_vs_expected']:.4f} "
                  f"cos(expected, all-unit SE) {r['expected_vs_supervised']:.4f} "
                  f"pi_c when wrong {r['correct_unit_weight']}", flush=True)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/brainprop_exploration")
    parser.add_argument("--n-train", type=int, default=20000, help="images for the warm-up training")
    parser.add_argument("--warm-epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10, help="random batches per (epsilon, batch size)")
    parser.add_argument("--train-epochs", type=int, default=0, help="also train from scratch at each epsilon")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    check("brainprop_exploration", "--batches", args.batches, "int", gt=0)  # the cosines average over them
    for flag in ("warm_epochs", "train_epochs"):  # fail now, not after the warm-up and the measurements
        check("brainprop_exploration", "--" + flag.replace("_", "-"), getattr(args, flag), "int", ge=0)

    data = load_dataset("fashion-mnist", n_train=args.n_train, seed=args.seed)
    sizes = [data.n_features, 256, data.n_classes]
    record = {"dataset": data.name, "sizes": sizes, "n_train": len(data.x_train), "warm_epochs": args.warm_epochs,
              "command": "OPENBLAS_NUM_THREADS=1 python experiments/brainprop_exploration.py"
                         + (f" --train-epochs {args.train_epochs}" if args.train_epochs else ""),
              "provenance": provenance()}
    t0 = time.perf_counter()
    net = paper_network("brainprop", sizes)
    warm = train(net, get_rule("brainprop"), data, paper_config(args.warm_epochs, "float64"), progress=False)
    record["warm_test_error"] = warm.test_error
    print(f"warm-up: {args.warm_epochs} epochs on {len(data.x_train)} images, test error {warm.test_error:.4f}")
    record["alignment"] = measure(net, warm.params, data, EPSILONS, BATCHES, args.batches, args.seed)
    record["alignment_seconds"] = time.perf_counter() - t0
    save_run(args.out, record)
    if args.train_epochs:
        full = load_dataset("fashion-mnist", seed=args.seed)
        record["training"] = {}
        runs = [("backprop-sgd", "backprop", {})] + [(f"brainprop eps={e:g}", "brainprop", {"epsilon": e})
                                                     for e in EPSILONS]
        for label, name, hyper in runs:
            t1 = time.perf_counter()
            result = train(paper_network(name, sizes), get_rule(name, **hyper), full, paper_config(args.train_epochs),
                           progress=False)
            record["training"][label] = {"status": result.status, "test_error": result.test_error,
                                         "curve": [h["test_error"] for h in result.history],
                                         "seconds": time.perf_counter() - t1}
            print(f"{label:<18} {result.status} test error per epoch "
                  + " ".join(f"{e:.4f}" for e in record["training"][label]["curve"]), flush=True)
            save_run(args.out, record)
    return record


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "brainprop_exploration"))

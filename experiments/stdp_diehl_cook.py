"""Unsupervised STDP network of Diehl & Cook (2015) on a Fashion-MNIST subset, through the registered rule.

Runs the card ``models/diehl_cook2015.toml``: its ``[network]`` is lowered to brian2 by the circuit
builder and learns with the registered rule ``diehl-cook`` (:mod:`neurosim.rules.stdp`; brian2,
code generation ``--target``, dt and presentation from the card's [rule]).  Phases: learn on
``n_train`` images (one pass, sequential streams of ``--chunk`` images, STDP + adaptive thresholds
on; plain SGD with learning rate 1 on the rule's dW continues each stream where the last ended),
record responses to the same images with ``learn = false``, label each excitatory neuron by its
best class, then classify ``n_test`` test images by the mean response of each class's neurons.
Writes ``results/stdp_diehl_cook/run.json`` (+ ``weights.npz``); ``figures/receptive_fields.py``
draws the learned weights.

    python experiments/stdp_diehl_cook.py [--n-train 1000] [--n-test 500] [--n-neurons 100] [--seed 0]

A real budget with an accuracy-vs-images curve (issue 20): ``--checkpoints 500,1000,2000,...``
labels the neurons at each checkpoint from their responses (learning off) to the first
``--label-images`` training images and tests on the ``n_test`` test images; ``--budget-minutes``
stops learning at the first checkpoint past that much CPU time of this process (brian2's
simulation runs in it; CPU time, not wall time, so a busy machine does not shrink the budget).
``run.json`` is rewritten after every checkpoint (``curve``, ``status``: ``completed`` or
``stopped at the time budget``), so a run that is stopped keeps the checkpoints it finished::

    python experiments/stdp_diehl_cook.py --n-train 60000 --n-test 10000 --label-images 1000 \
        --checkpoints 500,1000,2000,5000,10000,20000,40000,60000 --budget-minutes 60 \
        --out results/stdp_diehl_cook_full
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from neurosim.data import load_dataset
from neurosim.results import provenance, write_json, write_npz
from neurosim.rules import get_rule
from neurosim.runspec import RunSpec


def assign_labels(counts: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Label each neuron by the class with the highest mean response (Diehl & Cook 2015)."""
    mean = np.stack([counts[y == c].mean(axis=0) if np.any(y == c) else np.zeros(counts.shape[1])
                     for c in range(n_classes)])
    return np.argmax(mean, axis=0)


def predict(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The class whose labelled neurons fire most on average, per sample."""
    scores = np.full((counts.shape[0], n_classes), -np.inf)
    for c in range(n_classes):
        if np.any(labels == c):
            scores[:, c] = counts[:, labels == c].mean(axis=1)
    return np.argmax(scores, axis=1)


def resize(network, rule, n: int):
    """The card's network with ``n`` excitatory and inhibitory neurons."""
    exc, inh, _ = rule.layers(network)
    layers = tuple(dataclasses.replace(layer, size=n) if layer.name in (exc.name, inh.name) else layer
                   for layer in network.layers)
    return network.replace(layers=layers)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/diehl_cook2015.toml")
    p.add_argument("--n-train", type=int, default=None, help="override the card's [data] n_train (1000)")
    p.add_argument("--n-test", type=int, default=None, help="override the card's [data] n_test (500)")
    p.add_argument("--n-neurons", type=int, default=None, help="override the card's excitatory/inhibitory size")
    p.add_argument("--chunk", type=int, default=100, help="images per brian2 stream")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="auto")
    p.add_argument("--out", default="results/stdp_diehl_cook")
    p.add_argument("--checkpoints", default="",
                   help="comma-separated image counts at which to label and test (an accuracy-vs-images curve)")
    p.add_argument("--label-images", type=int, default=None,
                   help="training images whose responses label the neurons (default: every training image)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="stop learning at the first checkpoint after this much CPU time of the process "
                        "(needs --checkpoints)")
    args = p.parse_args(argv)
    try:
        checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c.strip()})
    except ValueError:
        p.error(f"--checkpoints: expected comma-separated image counts, got {args.checkpoints!r}")
    if any(c <= 0 for c in checkpoints):
        p.error("--checkpoints: image counts must be positive")
    if args.budget_minutes is not None and not checkpoints:
        p.error("--budget-minutes needs --checkpoints (learning stops at a checkpoint)")
    if args.label_images is not None and args.label_images <= 0:
        p.error("--label-images must be positive")
    spec = RunSpec.load(args.model)
    rule = get_rule(spec.rule, **{**spec.hyper, "codegen": args.target})
    network = rule.network(spec.build_network())
    if args.n_neurons:
        network = rule.network(resize(network, rule, args.n_neurons))
    exc = rule.layers(network)[0].name
    n_train = args.n_train if args.n_train is not None else (spec.n_train or 1000)
    n_test = args.n_test if args.n_test is not None else (spec.n_test or 500)
    data = load_dataset(spec.dataset, n_train=n_train, n_test=n_test, seed=args.seed)
    params = rule.init_params(network, args.seed)
    state = rule.init(network, params, args.seed)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    timings = []
    record_rule = rule.replace(learn=False)
    n_total = len(data.x_train)
    checkpoints = [c for c in checkpoints if c < n_total] + [n_total]
    n_label = min(args.label_images or n_total, n_total)
    exc_layer = network.layer(exc)

    def responses(x):
        out, s = [], state   # learning off: the thresholds stay; the Poisson draws go on
        for start in range(0, len(x), args.chunk):
            _, s, aux = record_rule.updates(network, params, s, x[start:start + args.chunk], None)
            out.append(aux["counts"][exc])
            timings.append(aux["timings"])
        return np.concatenate(out)

    def evaluate(seen: int) -> dict:
        label_counts = responses(data.x_train[:n_label])
        labels = assign_labels(label_counts, data.y_train[:n_label], data.n_classes)
        test_counts = responses(data.x_test)
        return {"images": seen, "labels": labels, "test_counts": test_counts,
                "test_accuracy": float(np.mean(predict(test_counts, labels, data.n_classes) == data.y_test)),
                "label_set_accuracy": float(np.mean(predict(label_counts, labels, data.n_classes)
                                                    == data.y_train[:n_label])),
                "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0}

    def write(point: dict, curve: list, status: str) -> str:
        labels, test_counts = point["labels"], point["test_counts"]
        record = {"experiment": "stdp_diehl_cook", "dataset": data.name, "n_train": point["images"],
                  "n_train_planned": n_total, "n_label": n_label,
                  "n_test": len(data.x_test), "seed": args.seed, "rule": rule.name, "hyper": dict(rule.hyper),
                  "network": network.to_dict(), "n_neurons": exc_layer.size, "status": status,
                  "test_accuracy": point["test_accuracy"], "train_accuracy": point["label_set_accuracy"],
                  "curve": [{k: c[k] for k in ("images", "test_accuracy", "label_set_accuracy", "seconds",
                                                                "cpu_seconds")}
                            for c in curve],
                  "neurons_per_class": np.bincount(labels, minlength=data.n_classes),
                  "mean_spikes_per_test_sample": float(test_counts.sum(axis=1).mean()),
                  "silent_test_samples": float(np.mean(test_counts.sum(axis=1) == 0)),
                  "labels": labels, "timings": timings, "seconds": time.perf_counter() - t0,
                  "cpu_seconds": time.process_time() - cpu0,
                  "published": spec.published, "provenance": provenance()}
        path = write_json(f"{args.out}/run.json", record)
        weights = params[rule.layers(network)[2].name].T    # (n_inputs, n_neurons), as the figure reads it
        write_npz(f"{args.out}/weights.npz", {"weights": weights, "theta": state["theta"], "labels": labels})
        return path

    curve: list[dict] = []
    seen = 0
    status = "completed"
    try:
        for stop in checkpoints:
            while seen < stop:
                x = data.x_train[seen:min(seen + args.chunk, stop)]
                dw, state, aux = rule.updates(network, params, state, x, None)
                params = {k: v + dw.get(k, 0.0) for k, v in params.items()}   # SGD, rate 1: the online rule
                timings.append(aux["timings"])
                seen += len(x)
            curve.append(evaluate(seen))
            out_of_time = (args.budget_minutes is not None and seen < n_total
                           and time.process_time() - cpu0 > 60 * args.budget_minutes)
            if out_of_time:
                status = (f"stopped at the time budget ({args.budget_minutes:g} CPU-min) after {seen} of {n_total} "
                          "images")
            path = write(curve[-1], curve, status if out_of_time or seen == n_total else "running")
            if len(checkpoints) > 1:
                print(f"{seen} images: test accuracy {curve[-1]['test_accuracy']:.3f} "
                      f"({curve[-1]['seconds']:.0f} s)", flush=True)
            if out_of_time:
                break
    except KeyboardInterrupt:
        if curve:   # the record says how the run ended; it keeps the last checkpoint's numbers
            write(curve[-1], curve, f"interrupted after {seen} of {n_total} images (numbers: the checkpoint at "
                                    f"{curve[-1]['images']} images)")
        raise
    last = curve[-1]
    print(f"{path}: test accuracy {last['test_accuracy']:.3f} (labelling set {last['label_set_accuracy']:.3f}) with "
          f"{exc_layer.size} neurons, {seen} training images; {status}; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "stdp_diehl_cook"))

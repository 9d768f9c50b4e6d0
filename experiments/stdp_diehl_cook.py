"""Unsupervised STDP network in the style of Diehl & Cook (2015) on a Fashion-MNIST subset.

Reads the network size and rule parameters from ``models/diehl_cook2015.toml`` ([rule]) and the
subset sizes from the command line.  Phases (brian2, Cython, dt = 0.5 ms, 350 ms per sample):
learn on ``n_train`` images (one pass, STDP + adaptive thresholds on), record responses to the
same images with plasticity off, label each neuron by its best class, then classify
``n_test`` test images by the mean response of each class's neurons.  Writes
``results/stdp_diehl_cook/run.json`` (+ ``weights.npz``); ``figures/receptive_fields.py`` draws
the learned weights.

    python experiments/stdp_diehl_cook.py [--n-train 1000] [--n-test 500] [--seed 0]
"""
from __future__ import annotations

import argparse
import time
import tomllib
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from neurosim.data import load_dataset
from neurosim.errors import ConfigError
from neurosim.network import Network
from neurosim.results import provenance, write_json, write_npz
from neurosim.spiking.stdp import DiehlCook, DiehlCookConfig
from neurosim.validation import check_keys

#: What the card's [rule] names: the spiking model this script runs (no rate rule).
SPIKING_MODEL = "diehl-cook-stdp"


def read_card(path) -> dict:
    """The spiking-only card: ``{"config", "data", "published", "network"}``; unknown keys are errors.

    ``[rule]`` holds ``spiking = "diehl-cook-stdp"`` and fields of
    :class:`~neurosim.spiking.stdp.DiehlCookConfig`; ``[data]`` the data set and subset sizes;
    ``[network]``/``[[layers]]``/``[[projections]]`` describe the circuit (validated; the model
    builds its own from the config).
    """
    path = Path(path)
    owner = f"model card {path}"
    try:
        card = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{owner}: cannot read it ({err})") from None
    check_keys(owner, card, ("network", "layers", "projections", "rule", "data", "training", "published"),
               what="top-level table")
    rule = dict(card.get("rule", {}))
    if rule.pop("spiking", None) != SPIKING_MODEL:
        raise ConfigError(f"{owner} [rule]: expected spiking = \"{SPIKING_MODEL}\" (the model this script runs)")
    check_keys(f"{owner} [rule]", rule, [f.name for f in fields(DiehlCookConfig)], what="setting")
    data = dict(card.get("data", {}))
    check_keys(f"{owner} [data]", data, ("dataset", "n_train", "n_test"), what="setting")
    check_keys(f"{owner} [training]", card.get("training", {}), (), what="setting")
    network = Network.from_dict({k: card[k] for k in ("network", "layers", "projections") if k in card},
                                source=owner)
    return {"config": rule, "data": data, "published": dict(card.get("published", {})), "network": network}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/diehl_cook2015.toml")
    p.add_argument("--n-train", type=int, default=None, help="override the card's [data] n_train (1000)")
    p.add_argument("--n-test", type=int, default=None, help="override the card's [data] n_test (500)")
    p.add_argument("--n-neurons", type=int, default=None, help="override the model card")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="auto")
    p.add_argument("--out", default="results/stdp_diehl_cook")
    args = p.parse_args(argv)
    card = read_card(args.model)
    hyper = dict(card["config"])
    if args.n_neurons:
        hyper["n_neurons"] = args.n_neurons
    config = DiehlCookConfig(**hyper)
    n_train = args.n_train if args.n_train is not None else card["data"].get("n_train", 1000)
    n_test = args.n_test if args.n_test is not None else card["data"].get("n_test", 500)
    data = load_dataset(card["data"].get("dataset", "fashion-mnist"), n_train=n_train, n_test=n_test,
                        seed=args.seed)
    model = DiehlCook(data.n_features, config, seed=args.seed, target=args.target)
    t0 = time.perf_counter()
    model.fit(data.x_train)
    train_counts = model.responses(data.x_train)
    model.assign_labels(train_counts, data.y_train, data.n_classes)
    test_counts = model.responses(data.x_test)
    pred = model.predict(test_counts)
    accuracy = float(np.mean(pred == data.y_test))
    train_accuracy = float(np.mean(model.predict(train_counts) == data.y_train))
    record = {"experiment": "stdp_diehl_cook", "dataset": data.name, "n_train": len(data.x_train),
              "n_test": len(data.x_test), "seed": args.seed, "config": asdict(config),
              "test_accuracy": accuracy, "train_accuracy": train_accuracy,
              "neurons_per_class": np.bincount(model.labels_, minlength=data.n_classes),
              "mean_spikes_per_test_sample": float(test_counts.sum(axis=1).mean()),
              "silent_test_samples": float(np.mean(test_counts.sum(axis=1) == 0)),
              "labels": model.labels_, "timings": model.timings_, "seconds": time.perf_counter() - t0,
              "published": card["published"], "provenance": provenance()}
    path = write_json(f"{args.out}/run.json", record)
    write_npz(f"{args.out}/weights.npz", {"weights": model.weights_, "theta": model.theta_, "labels": model.labels_})
    print(f"{path}: test accuracy {accuracy:.3f} (train {train_accuracy:.3f}) with {config.n_neurons} neurons, "
          f"{len(data.x_train)} training images; {record['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

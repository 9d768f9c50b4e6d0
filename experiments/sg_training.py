"""Synthetic gradients over training: sg and cDNI beside backprop and FA, with both alignments.

Every rule trains the same tanh / softmax cross-entropy chain from the same initial forward
weights (seed by seed: the modules and FA's feedback are drawn after the forward weights),
at the same budget, and after every epoch (and before the first) the experiment measures on
the fixed alignment batch of :func:`neurosim.training.train` (256 training images):

* the cosine of each forward projection's update with backprop's (``neurosim.align``);
* for ``sg``/``cdni``, per hidden layer, the cosine between the synthetic gradient
  :math:`\\hat g_l` and the true :math:`g_l = \\partial L_n/\\partial h_l`, and their norm ratio
  (``report.extra["delta_cosine.<layer>"]``, ``["delta_norm_ratio.<layer>"]``).

Set-ups (``--setup``):

``digits``
    the ``neurosim compare`` budget: 64-64-64-10, Adam 1e-3, batch 32, 20 epochs, seeds 0-2;
    rules backprop, fa, sg, cdni and the ``*-true`` variants (``module_target = "true"``:
    every module regresses onto the true gradient, isolating the cost of bootstrapping).
``fashion``
    the model card ``models/jaderberg2017_cdni.toml``: Fashion-MNIST 784-256-256-10, Adam 1e-3,
    batch 128, 10 epochs, seeds 0-2; rules backprop, fa, sg, cdni.

Both set-ups also run the control ``readout-only`` (:class:`ReadoutOnly`): only the output layer
learns; what the synthetic updates of the hidden layers add is the distance to it.

Output ``<out>/<setup>.json`` (rewritten after every run; a rerun with the same set-up keeps
the runs it does not redo).  ``figures/sg_alignment.py`` draws it.

    nice -n 10 python experiments/sg_training.py --setup digits [--rules ...] [--seeds 0,1,2]
    nice -n 10 python experiments/sg_training.py --setup fashion
    nice -n 10 python experiments/sg_training.py --setup digits --optimizer sgd --learning-rate 0.03 \
        --momentum 0.9 --tag sgd --rules backprop,sg,cdni,readout-only
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from neurosim.alignment import align
from neurosim.params import bias_key
from neurosim.reference import backprop
from neurosim.results import provenance, write_json
from neurosim.rules import Rule
from neurosim.runspec import RunSpec
from neurosim.training import alignment_indices, evaluate, train
from neurosim.validation import check_list

ROOT = Path(__file__).resolve().parents[1]

#: label -> (registered rule, hyper-parameters)
VARIANTS = {
    "backprop": ("backprop", {}),
    "fa": ("fa", {}),
    "sg": ("sg", {}),
    "cdni": ("cdni", {}),
    "sg-true": ("sg", {"module_target": "true"}),
    "cdni-true": ("cdni", {"module_target": "true"}),
    "readout-only": ("backprop", {}),  # the network of backprop, the rule ReadoutOnly below
}


class ReadoutOnly(Rule):
    """The control: only the output layer learns (backprop's update of it), the hidden layers never move.

    What sg/cDNI's synthetic updates of the hidden layers add is their distance to this.  (A
    ``sg`` run with a tiny ``module_lr_scale`` is *not* this control: Adam normalises the tiny
    synthetic updates of the hidden weights into full-size steps in poorly estimated
    directions.)  Not registered: it exists for this experiment.
    """

    name = "readout-only"
    family = "backprop"
    citation = "control of experiments/sg_training.py"

    def updates(self, network, params, state, x, target):
        descent = backprop(network, params, x, target).descent()
        last = network.chain()[-1]
        keep = (last.name, bias_key(last.post))
        return {k: (v if k in keep else np.zeros_like(v)) for k, v in descent.items()}, state, {}


CONTROLS = {"readout-only": ReadoutOnly}

SETUPS = {
    "digits": {"spec": lambda: RunSpec(rule="backprop", dataset="digits", hidden=(64, 64), epochs=20, batch_size=32,
                                       seeds=(0, 1, 2)),
               "rules": ("backprop", "fa", "sg", "cdni", "sg-true", "cdni-true", "readout-only")},
    "fashion": {"spec": lambda: RunSpec.load(ROOT / "models" / "jaderberg2017_cdni.toml"),
                "rules": ("backprop", "fa", "sg", "cdni", "readout-only")},
}


def load_data(spec: RunSpec, seed: int):
    """The data set of a run: the one place this experiment reads data (``RunSpec.load_data``)."""
    return spec.load_data(seed)


def measure(rule, network, params, x, t) -> dict:
    """Alignment of the forward update with backprop's, and of the synthetic with the true gradient."""
    report = align(rule, network, {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, x, t)
    extra = report.extra
    hosts = sorted({k.split(".", 1)[1] for k in extra if k.startswith("delta_cosine.")})
    return {"global_cosine": report.global_cosine,
            "cosine": {r.name: r.cosine for r in report.projections},
            "delta_cosine": {h: extra[f"delta_cosine.{h}"] for h in hosts},
            "delta_norm_ratio": {h: extra[f"delta_norm_ratio.{h}"] for h in hosts}}


def run_one(label: str, base: RunSpec, seed: int, data) -> dict:
    """Train one rule from one seed, measuring both alignments before and after every epoch."""
    name, hyper = VARIANTS[label]
    spec = base.replace(rule=name, hyper=hyper, seeds=(seed,))
    rule = CONTROLS[label]() if label in CONTROLS else spec.make_rule()
    network = spec.build_network(data, rule)
    config = spec.config(seed)
    idx = alignment_indices(len(data.x_train), config)
    x_align = data.x_train[idx].astype(np.float64)
    t_align = data.targets("train")[idx].astype(np.float64)
    params = {k: v.astype(config.dtype) for k, v in rule.init_params(network, seed).items()}
    history = []

    def record(epoch, p, entry=None):
        row = {"epoch": epoch, **measure(rule, network, p, x_align, t_align)}
        if entry is None:
            _, test_error = evaluate(network, p, data.x_test, data.y_test, data.targets("test"), rule)
            _, train_error = evaluate(network, p, data.x_train, data.y_train, data.targets("train"), rule)
            row.update(test_error=test_error, train_error=train_error, loss=None)
        history.append(row)

    record(0, params)
    entries = []
    t0 = time.perf_counter()
    result = train(network, rule, data, dataclasses.replace(config, align_samples=0),
                   params=params, progress=False, callback=entries.append,
                   observe=lambda epoch, p: record(epoch, p, True))
    for row, entry in zip(history[1:], entries):
        row.update(test_error=entry["test_error"], train_error=entry["train_error"], loss=entry["loss"])
    return {"label": label, "rule": name, "hyper": dict(rule.hyper), "seed": seed, "status": result.status,
            "message": result.message, "test_error": result.test_error, "train_error": result.train_error,
            "seconds": time.perf_counter() - t0, "network": network.name, "sizes": list(network.sizes),
            "history": history}


def summary(runs: list[dict]) -> dict:
    """Per label: final test error mean / std / per seed, and the final delta cosines (mean over seeds)."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        rows = [r for r in runs if r["label"] == label and r["status"] == "completed"]
        if not rows:
            continue
        errors = np.array([r["test_error"] for r in rows])
        last = [r["history"][-1] for r in rows]
        out[label] = {"seeds": [r["seed"] for r in rows], "test_error": errors.tolist(),
                      "test_error_mean": float(errors.mean()), "test_error_std": float(errors.std(ddof=0)),
                      "global_cosine_mean": float(np.mean([h["global_cosine"] for h in last])),
                      "delta_cosine_mean": {k: float(np.mean([h["delta_cosine"][k] for h in last]))
                                            for k in last[0]["delta_cosine"]}}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", choices=sorted(SETUPS), default="digits")
    ap.add_argument("--rules", help=f"comma-separated labels from {', '.join(VARIANTS)} (default: the set-up's)")
    ap.add_argument("--seeds", help="comma-separated seeds (default: the set-up's)")
    ap.add_argument("--epochs", type=int, help="override the set-up's epochs")
    ap.add_argument("--optimizer", choices=("adam", "sgd"), help="override the set-up's optimiser")
    ap.add_argument("--learning-rate", type=float, help="override the set-up's learning rate")
    ap.add_argument("--momentum", type=float, help="override the set-up's momentum (sgd)")
    ap.add_argument("--tag", default="", help="written to <out>/<setup>-<tag>.json (for overridden budgets)")
    ap.add_argument("--out", default="results/sg_training")
    args = ap.parse_args(argv)
    setup = SETUPS[args.setup]
    base = setup["spec"]()
    overrides = {k: v for k, v in (("epochs", args.epochs), ("optimizer", args.optimizer),
                                   ("learning_rate", args.learning_rate), ("momentum", args.momentum))
                 if v is not None}
    if overrides and not args.tag:
        raise SystemExit("--epochs/--optimizer/--learning-rate/--momentum change the budget: give a --tag so the "
                         "set-up's own record is not replaced")
    base = base.replace(**overrides)
    seeds = check_list("sg_training", "--seeds", args.seeds, "int", ge=0) if args.seeds else list(base.seeds)
    labels = args.rules.split(",") if args.rules else list(setup["rules"])
    for label in labels:
        if label not in VARIANTS:
            raise SystemExit(f"--rules: unknown label '{label}'; choose from {', '.join(VARIANTS)}")
    record = {"setup": args.setup, "dataset": base.dataset, "hidden": list(base.hidden),
              "network": base.network.to_dict()["network"] if base.network is not None else None,
              "epochs": base.epochs, "batch_size": base.batch_size, "optimizer": base.optimizer,
              "learning_rate": base.learning_rate, "momentum": base.momentum, "dtype": base.dtype,
              "command": " ".join(["python experiments/sg_training.py", *(argv if argv is not None else sys.argv[1:])]),
              "runs": [],
              "provenance": provenance()}
    out = Path(args.out) / f"{args.setup}{'-' + args.tag if args.tag else ''}.json"
    same = ("dataset", "hidden", "network", "epochs", "batch_size", "optimizer", "learning_rate", "momentum", "dtype")
    if out.exists():  # resume: keep the runs of the same set-up that this call does not redo
        old = json.loads(out.read_text())
        if all(old.get(k) == record[k] for k in same):
            record["runs"] = [r for r in old["runs"] if not (r["label"] in labels and r["seed"] in seeds)]
    data_by_seed = {}
    for seed in seeds:
        data = data_by_seed.setdefault(seed, load_data(base, seed))
        record.update(n_train=len(data.x_train), n_test=len(data.x_test))
        for label in labels:
            row = run_one(label, base, seed, data)
            last = row["history"][-1]
            deltas = " ".join(f"{k} {v:+.3f}" for k, v in last["delta_cosine"].items())
            print(f"{label:<10} seed {seed}  test error {row['test_error']:.4f}  cos(dW, bp) "
                  f"{last['global_cosine']:.3f}  {('cos(g_hat, g) ' + deltas) if deltas else ''}  "
                  f"({row['seconds']:.0f} s)", flush=True)
            record["runs"].append(row)
            record["summary"] = summary(record["runs"])
            write_json(out, record)
    for label, s in record["summary"].items():
        print(f"{label:<10} test error {100 * s['test_error_mean']:.2f} ± {100 * s['test_error_std']:.2f} % "
              f"(seeds {s['seeds']})")
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "sg_training"))

"""Backprop on each rule's own network: the gap of a table row that the rule's update causes.

The Fashion-MNIST accuracy table (``experiments/fashion_accuracy_table.py``) trains every rule on
its own default network; most use backprop's (tanh hidden layers, linear output, softmax
cross-entropy), but some rules need other units -- burstprop and the microcircuit positive rates
(sigmoid units, squared error), EP a hard-sigmoid energy network, BrainProp linear Q-value
outputs under squared error.  Their row's gap to the backprop row then mixes two things: the
rule's update and the network it trains.  This experiment separates them: backprop trains a
feed-forward network with the rule's units and loss (``Network.feedforward`` with the hidden
activation, output activation and loss of ``rule.network(layers)``) with the rule's row's
optimiser, learning rate and momentum (the table's record of that row), at the table's budget and
seeds.  ``rule row - this row`` is then the part of the gap the rule's update is responsible for.

    python experiments/fashion_same_network_backprop.py                 # every rule whose network differs
    python experiments/fashion_same_network_backprop.py --rules burstprop --n-train 5000 --epochs 2

Writes ``<out>/runs/<job_id>.json`` (resumable, as the table) and ``<out>/table.json``: per rule
the units, the training setting, backprop's test error on that network (mean, sd, per seed), the
rule's row from the table, and the two gaps.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from fashion_accuracy_table import add_budget_arguments, budget_layers  # noqa: E402  (the table's budget)
TRAINING_KEYS = ("optimizer", "learning_rate", "momentum")


def units(rule: str, layers: list) -> dict:
    """The feed-forward signature of ``rule``'s default network: hidden / output activation, loss."""
    from neurosim.rules import get_rule

    net = get_rule(rule).network(layers)
    hidden = sorted({layer.activation for layer in net.layers if layer.role == "hidden"})
    if len(hidden) != 1:
        from neurosim.errors import ConfigError

        raise ConfigError(f"fashion_same_network_backprop: rule '{rule}' mixes hidden activations {hidden}; a "
                          "feed-forward control needs one")
    return {"activation": hidden[0], "output_activation": net.output_layer.activation, "loss": net.loss}


def row_training(table: dict, rule: str) -> dict:
    """The optimiser setting the table's row of ``rule`` ran with (its records; else the rule's preset)."""
    from neurosim.runspec import RunSpec

    preset = RunSpec.preset(rule, "train")
    out = {"optimizer": preset.optimizer, "learning_rate": preset.learning_rate, "momentum": preset.momentum}
    for row in table.get("rows", []):
        if row["rule"] == rule:
            settings = [json.loads(s) for s in row.get("settings", [])]
            if len(settings) == 1:
                out.update({k: v for k, v in settings[0].items() if k in TRAINING_KEYS})
    return out


def _points(value) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default=None, help="comma-separated (default: every supervised rule of the table "
                                                 "whose network's units or loss differ from backprop's)")
    add_budget_arguments(p)
    p.add_argument("--table", default=str(ROOT / "results" / "fashion_accuracy_table" / "table.json"),
                   help="the accuracy table whose rows' settings and errors are compared")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "fashion_same_network"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from neurosim import Network
    from neurosim.compare import supervised_rules
    from neurosim.errors import ConfigError
    from neurosim.results import provenance, write_json
    from neurosim.sweep import load_records, run_sweep, summarize

    layers = budget_layers("fashion_same_network_backprop", args.hidden)
    reference = units("backprop", layers)
    candidates = supervised_rules()
    if args.rules:
        rules = args.rules.split(",")
        for r in rules:
            if r not in candidates:
                raise ConfigError(f"fashion_same_network_backprop --rules: '{r}' is not a supervised rate rule; "
                                  f"choose from {', '.join(candidates)}")
    else:
        rules = [r for r in candidates if units(r, layers) != reference]
    table = json.loads(Path(args.table).read_text()) if Path(args.table).exists() else {}
    budget = {"dataset": "fashion-mnist", "dataset_options": {"n_train": args.n_train, "n_test": args.n_test},
              "epochs": args.epochs, "batch_size": 128, "dtype": "float32", "align_samples": 256}
    # every rule's control setting: this call's rules are run, and every rule with records at this
    # budget keeps its row (rows are added, never dropped, as in the table)
    meta = {rule: {"units": units(rule, layers), "training": row_training(table, rule)} for rule in candidates}
    jobs = []
    for rule in rules:
        kind = meta[rule]["units"]
        net = Network.feedforward(layers, activation=kind["activation"], output_activation=kind["output_activation"],
                                  loss=kind["loss"], name=f"same-units-as-{rule}")
        jobs += [{"rule": "backprop", "network": net.to_dict(), "seed": s, **meta[rule]["training"], **budget}
                 for s in range(args.seeds)]
    runs = Path(args.out) / "runs"
    res = run_sweep(jobs, runs, workers=args.workers)
    records = load_records(runs)
    same_budget = all(table.get(k) == v for k, v in (("n_train", args.n_train), ("n_test", args.n_test),
                                                      ("epochs", args.epochs), ("layers", layers)))
    rows = []
    for rule in candidates:
        name = f"same-units-as-{rule}"
        recs = [r for r in records if r["job"].get("network", {}).get("network", {}).get("name") == name
                and all(r["job"].get(k) == v for k, v in budget.items())
                and all(r["job"].get(k) == v for k, v in meta[rule]["training"].items())
                and r["job"]["seed"] < args.seeds]
        if not recs:
            continue
        (summary,) = summarize(recs, by=("rule",), metric="test_error")
        table_row = next((row for row in table.get("rows", []) if row["rule"] == rule), None)
        rule_mean = table_row["mean"] if table_row and same_budget else None
        bp_row = next((row for row in table.get("rows", []) if row["rule"] == "backprop"), None)
        bp_mean = bp_row["mean"] if bp_row and same_budget else None
        same = {k: summary[k] for k in ("n", "mean", "sd", "values")}
        rows.append({"rule": rule, **meta[rule], "backprop_same_network": same,
                     "statuses": [r["status"] for r in recs], "rule_row_mean": rule_mean, "backprop_row_mean": bp_mean,
                     "gap_of_the_update": None if rule_mean is None or summary["mean"] is None
                     else rule_mean - summary["mean"],
                     "gap_of_the_network": None if bp_mean is None or summary["mean"] is None
                     else summary["mean"] - bp_mean})
        r, u, tr = rows[-1], meta[rule]["units"], meta[rule]["training"]
        error = "failed" if summary["mean"] is None else \
            f"{100 * summary['mean']:.2f} ± {100 * (summary['sd'] or 0):.2f} %"
        print(f"{rule:<13} backprop on its units ({u['activation']}/{u['output_activation']}/{u['loss']}, "
              f"{tr['optimizer']} {tr['learning_rate']:g}): {error}; gap of the update "
              f"{_points(r['gap_of_the_update'])}, of the network {_points(r['gap_of_the_network'])} points")
    write_json(Path(args.out) / "table.json", {
        "experiment": "fashion_same_network_backprop", "dataset": "fashion-mnist", "n_train": args.n_train,
        "n_test": args.n_test, "epochs": args.epochs, "layers": layers, "batch_size": 128, "seeds": args.seeds,
        "reference_units": reference, "table": args.table, "wall_seconds": res.seconds, "rows": rows,
        "provenance": provenance()})
    return 0 if not res.missing else 1


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "fashion_same_network_backprop"))

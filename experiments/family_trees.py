"""Hinton (1986): the family-trees task, 104 queries, 100 train / 4 test, every rule that fits.

Network (a difference from Hinton's): a neurosim Network has ONE input layer, so the input
is 36 units = person one-hot (24) ‖ relation one-hot (12), feeding 12 sigmoid hidden units,
then 12 more, then 24 sigmoid outputs (squared error, target 1 for every correct answer).
Hinton instead encoded person and relation through two separate 6-unit layers before a
shared 12-unit layer, and a 6-unit layer before the output; here the first hidden layer
must learn both encodings at once.  Training: full batch (100 queries), Adam with
learning rate 0.02 for ``--epochs`` (2000) sweeps, weights U(-0.3, 0.3), biases 0, no weight
decay (neurosim's training loop has none; Hinton used it) -- neurosim's choices.  pc runs with
truncated inference (:data:`HYPER`).

A query counts as correct when every correct-answer output is above 0.5 and every other
output below 0.5.  The 4 test queries are drawn at random per seed (the job's seed also
seeds the weights).  The summary reports train and test queries correct per seed; the
records keep the learned weights, which ``figures/family_trees.py`` draws.

Usage::

    python experiments/family_trees.py                  # 7 rules x 5 seeds
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("backprop", "fa", "dfa", "dtp", "pc", "pc-fpa", "ep")
LAYERS = [36, 12, 12, 24]


#: Rule settings that differ from the rule's defaults.  pc with converged inference (up to 2000
#: steps per batch) took over 15 minutes per 2000-epoch run here; it runs with the truncated
#: inference of ``neurosim compare`` (20 steps, shortfall recorded, not raised) instead.
HYPER = {"pc": {"n_inference_steps": 20, "on_nonconvergence": "record"}}


def jobs(rules, seeds, epochs):
    base = {"dataset": "family-trees", "layers": LAYERS, "network": "feedforward", "activation": "sigmoid",
            "output_activation": "sigmoid", "loss": "mse", "init": "uniform", "init_scale": 0.3, "epochs": epochs,
            "optimizer": "adam", "learning_rate": 0.02, "dtype": "float64", "align_samples": 0, "save_params": True}
    return [{**base, "rule": r, "seed": s, **({"hyper": HYPER[r]} if r in HYPER else {})}
            for r in rules for s in range(seeds)]


def score(record) -> tuple[int, int]:
    """(train, test) queries answered correctly by a record's learned weights.

    Judged on the rule's own read-out when it has one (EP: the free-phase fixed point),
    else on the feed-forward pass.
    """
    import numpy as np

    from neurosim.network import Network
    from neurosim.reference import forward
    from neurosim.rules import get_rule
    from neurosim.tasks import family_trees, queries_correct

    job = record["job"]
    task = family_trees(seed=job["seed"])
    rule = get_rule(job["rule"], **job.get("hyper", {}))
    net = rule.prepare(Network.feedforward(LAYERS, activation="sigmoid", output_activation="sigmoid", loss="mse",
                                           init="uniform", init_scale=0.3))
    params = {k: np.asarray(v) for k, v in record["params"].items()}
    predict = getattr(rule, "predict", None)

    def out(x):
        return predict(net, params, x) if callable(predict) else forward(net, params, x).output

    d = task.dataset
    return (int(queries_correct(out(d.x_train.astype(float)), d.t_train).sum()),
            int(queries_correct(out(d.x_test.astype(float)), d.t_test).sum()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: local processes)")
    p.add_argument("--out", default=str(ROOT / "results" / "family_trees"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from neurosim.results import provenance, write_json
    from neurosim.sweep import run_sweep

    rules = args.rules.split(",")
    res = run_sweep(jobs(rules, args.seeds, args.epochs), Path(args.out) / "runs", workers=args.workers,
                    scheduler=args.scheduler)
    rows = []
    for rule in rules:
        recs = [r for r in res.records if r["job"]["rule"] == rule]
        ok = [r for r in recs if r["status"] in ("completed", "stopped") and "params" in r]
        scores = [score(r) for r in ok]
        rows.append({"rule": rule, "seeds": [r["job"]["seed"] for r in ok], "train_correct": [s[0] for s in scores],
                     "test_correct": [s[1] for s in scores], "job_ids": [r["job_id"] for r in ok],
                     "not_completed": [f"seed {r['job']['seed']}: {r['status']} {r.get('message', '')}"
                                       for r in recs if r not in ok]})
        print(f"{rule:<9} train correct /100: {rows[-1]['train_correct']}; test correct /4: "
              f"{rows[-1]['test_correct']} (total {sum(rows[-1]['test_correct'])}/{4 * len(scores)})")
    write_json(Path(args.out) / "summary.json", {"experiment": "family_trees", "epochs": args.epochs,
                                                 "layers": LAYERS, "rows": rows, "provenance": provenance()})
    return 0 if not res.missing else 1


if __name__ == "__main__":
    sys.exit(main())

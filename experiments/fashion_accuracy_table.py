"""Accuracy table on Fashion-MNIST: every supervised rule at one budget, mean ± sd over seeds.

Every rule of :func:`neurosim.compare.default_rules` (supervised, rate backend) trains its
own default network (:meth:`Rule.default_network`) for layer sizes 784-256-256-10, with its
short-budget hyper-parameters (``compare_hyper``, e.g. pc: 20 inference steps) and its own
optimiser settings (``train_defaults``, Adam 1e-3 for most), batch 128, float32, on a
class-balanced subset of ``--n-train`` (5,000) training images for ``--epochs`` (3), tested
on a class-balanced subset of ``--n-test`` (5,000) test images (a budget that fits ~15 min on a
shared 2-core machine; pass ``--n-train 60000 --n-test 10000`` for the full sets).  The
subsets are drawn with the job's seed, so the spread over seeds includes the choice of
training images.  Jobs run in parallel processes through :func:`neurosim.sweep.run_sweep`; a rerun skips finished jobs.

Writes ``<out>/runs/<job_id>.json`` per job and ``<out>/table.json`` (the summary read by
``figures/fashion_accuracy_table.py``).

Usage::

    python experiments/fashion_accuracy_table.py               # ~10-15 min on 2 cores
    python experiments/fashion_accuracy_table.py --rules backprop,fa --n-train 2000 --epochs 1
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default=None, help="comma-separated (default: every supervised rate rule)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: local processes)")
    p.add_argument("--out", default=str(ROOT / "results" / "fashion_accuracy_table"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from neurosim.compare import default_rules
    from neurosim.results import provenance, write_json
    from neurosim.rules import rule_class
    from neurosim.sweep import run_sweep, summarize

    rules = args.rules.split(",") if args.rules else default_rules()
    layers = [784, *(int(h) for h in args.hidden.split(",")), 10]
    jobs = [{"rule": r, "hyper": dict(rule_class(r).compare_hyper), "seed": s, "dataset": "fashion-mnist",
             "dataset_options": {"n_train": args.n_train, "n_test": args.n_test}, "layers": layers,
             "epochs": args.epochs, "batch_size": 128, "dtype": "float32", "align_samples": 256}
            for r in rules for s in range(args.seeds)]
    res = run_sweep(jobs, Path(args.out) / "runs", workers=args.workers, scheduler=args.scheduler)
    rows = summarize(res.records, by=("rule",), metric="test_error")
    order = {r: i for i, r in enumerate(rules)}
    rows = sorted((r for r in rows if r["rule"] in order), key=lambda r: order[r["rule"]])
    for row in rows:
        recs = [r for r in res.records if r["job"]["rule"] == row["rule"]]
        row["family"] = rule_class(row["rule"]).family
        row["statuses"] = [r["status"] for r in recs]
        row["messages"] = sorted({r.get("message", "") for r in recs if r.get("message")})
        row["seconds"] = [r.get("seconds") for r in recs]
        row["final_angle_deg"] = [r["curves"]["alignment_angle_deg"][-1] for r in recs if "curves" in r]
        mean = "n/a" if row["mean"] is None else f"{100 * row['mean']:.2f}"
        sd = "n/a" if row["sd"] is None else f"{100 * row['sd']:.2f}"
        print(f"{row['rule']:<13} test error {mean} ± {sd} % (n={row['n']}, failed {row['n_failed']})")
    write_json(Path(args.out) / "table.json", {
        "experiment": "fashion_accuracy_table", "dataset": "fashion-mnist", "n_train": args.n_train,
        "n_test": args.n_test, "epochs": args.epochs, "layers": layers, "batch_size": 128, "seeds": args.seeds,
        "wall_seconds": res.seconds, "rows": rows, "provenance": provenance()})
    return 0 if not res.missing else 1


if __name__ == "__main__":
    sys.exit(main())

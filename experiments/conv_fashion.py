"""Convolutional and locally connected nets on Fashion-MNIST: every rule that runs on them.

The question of Bartunov et al. (2018) -- do the biologically motivated rules survive beyond
fully connected nets? -- asked of neurosim on the real image set of these machines (issue 17).
Two architectures, from their model cards:

* ``lenet``: BioTorch's LeNet (``models/biotorch_lenet_fashion.toml``; Sanfiz & Akrout 2021
  report BP 9.20, FA 13.06, DFA 12.81 % test error on Fashion-MNIST);
* ``lc``: Bartunov 2018's locally connected net adapted to (1, 28, 28)
  (``models/bartunov2018_lc_fashion.toml``; on CIFAR-10 they report BP 32.41, FA 37.44,
  DTP 39.47, SDTP 45.66, AO-SDTP 40.05 %: compare orderings and gaps to backprop, not numbers);
* ``lenet-ep``: the same LeNet with hard-sigmoid units for EP (``models/ep_lenet_fashion.toml``:
  tanh rates above a max pooling have no settled energy minimum), trained with the card's own
  EP settings; other rules on it use their presets.

Every rule whose ``info.operations`` cover the architecture's projections (``--rules``
narrows them) trains the card's network with its own training preset (learning rate, hyper-
parameters: ``neurosim/presets/<rule>-train.toml``) for ``--epochs`` on a class-balanced
subset of ``--n-train`` images, ``--seeds`` seeds (the subset is drawn with the seed), batch
128, float32, tested on ``--n-test`` images, and records every epoch the cosine of its
update with backprop's on a fixed batch of 256 training images, per projection (kernels
included).  Jobs run in parallel processes through :func:`neurosim.sweep.run_sweep` and
resume: a finished job is a file ``<out>/runs/<job_id>.json``.

Writes ``<out>/table.json`` (rows: architecture, rule, mean/sd/values of the test error,
final per-projection cosines, mean per-epoch alignment curves, the published number where
the card has one, and the budget the architecture ran at); ``figures/conv_fashion.py`` draws
it.  A call with ``--archs lc`` replaces the LC rows and keeps the others, so the two nets can
run at budgets of their own (the LC net has ~25 M weights: numpy DTP takes ~3.6 s per batch).

    OPENBLAS_NUM_THREADS=1 python experiments/conv_fashion.py [--archs lenet,lc] [--rules R,...]
        [--epochs 5] [--n-train 10000] [--n-test 10000] [--seeds 3] [--array numpy|torch] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARDS = {"lenet": ROOT / "models" / "biotorch_lenet_fashion.toml",
         "lc": ROOT / "models" / "bartunov2018_lc_fashion.toml",
         "lenet-ep": ROOT / "models" / "ep_lenet_fashion.toml"}
#: Rules tried on every architecture (those that cannot run a projection kind are left out and
#: listed in the table as ``refused``, with the reason).
CANDIDATES = ("backprop", "fa", "dfa", "dtp", "sdtp", "aosdtp", "pc", "pc-fpa", "ep", "burstprop", "brainprop",
              "agrel")
#: Card [published] keys per rule name (BioTorch's and Bartunov's tables use these short names).
PUBLISHED_KEYS = {"backprop": "bp"}


def supported(rule: str, network) -> str | None:
    """Why ``rule`` cannot train ``network`` (None when it can)."""
    from neurosim.errors import ConfigError
    from neurosim.rules import get_rule

    try:
        get_rule(rule).network(network)
    except ConfigError as err:
        return str(err)
    return None


def make_jobs(arch: str, card, rules, args) -> list[dict]:
    """One job per rule and seed: the card's network with the rule's training preset -- or, for
    the card's own rule, the card's hyper-parameters, batch size, optimiser and alignment batch."""
    jobs = []
    for r in rules:
        own = {"hyper": dict(card.hyper), "batch_size": card.batch_size, "optimizer": card.optimizer,
               "learning_rate": card.learning_rate, "align_samples": card.align_samples} \
            if r == card.rule and card.hyper else {"batch_size": 128, "align_samples": 256}
        jobs += [{"rule": r, "network": card.network.to_dict(), "dataset": "fashion-mnist",
                  "dataset_options": {"n_train": args.n_train, "n_test": args.n_test}, "epochs": args.epochs,
                  "dtype": "float32", "seed": s, "array": args.array, "name": f"conv_fashion-{arch}-{r}", **own}
                 for s in range(args.seeds)]
    return jobs


def published(card, rule: str):
    key = f"test_error_{PUBLISHED_KEYS.get(rule, rule.replace('-', '_'))}"
    value = card.published.get(key)
    return float(value) if value is not None else None


def row_of(arch: str, rule: str, records: list[dict], card) -> dict:
    import numpy as np

    ok = [r for r in records if r.get("status") == "completed" and r.get("test_error") is not None]
    errors = [float(r["test_error"]) for r in ok]
    curves = [r["curves"].get("alignment_projections", {}) for r in ok]
    names = sorted({k for c in curves for k in c})
    mean_curves = {}
    for k in names:  # mean over seeds, per epoch (epoch 0 has no alignment: None)
        per_epoch = list(zip(*[c[k] for c in curves if k in c]))
        mean_curves[k] = [None if any(v is None for v in vals) else float(np.mean(vals)) for vals in per_epoch]
    from neurosim.rules import rule_class

    return {"arch": arch, "rule": rule, "reference": rule_class(rule).info.reference,
            "n": len(errors), "n_failed": len(records) - len(errors),
            "mean": float(np.mean(errors)) if errors else None,
            "sd": float(np.std(errors, ddof=1)) if len(errors) > 1 else None, "values": errors,
            "statuses": [r.get("status") for r in records],
            "batch_size": sorted({r.get("batch_size") for r in records if r.get("batch_size")}),
            "messages": sorted({r.get("message", "") for r in records if r.get("message")}),
            "seconds": [r.get("seconds") for r in records],
            "final_cosine": {k: v[-1] for k, v in mean_curves.items()}, "alignment_curves": mean_curves,
            "published_test_error": published(card, rule)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", default="lenet,lc", help=f"comma-separated, of {', '.join(CARDS)}")
    p.add_argument("--rules", default=None, help="comma-separated (default: every rule that runs the net)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--array", default="numpy", choices=("numpy", "torch"))
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "conv_fashion"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from neurosim.errors import ConfigError
    from neurosim.results import provenance, write_json
    from neurosim.runspec import RunSpec
    from neurosim.sweep import job_id, load_records, run_sweep
    from neurosim.validation import check

    check("conv_fashion", "--seeds", args.seeds, "int", gt=0,
          hint="With no seed the table would replace these nets' rows with empty ones.")

    archs = args.archs.split(",")
    for a in archs:
        if a not in CARDS:
            raise ConfigError(f"conv_fashion --archs: unknown architecture '{a}'; choose from {', '.join(CARDS)}")
    runs = Path(args.out) / "runs"
    rows, refused, jobs_of = [], [], {}
    cards = {a: RunSpec.load(CARDS[a]) for a in archs}
    for arch in archs:
        net = cards[arch].network
        wanted = args.rules.split(",") if args.rules else list(CANDIDATES)
        for r in wanted:
            why = supported(r, net)
            if why is None:
                jobs_of[(arch, r)] = make_jobs(arch, cards[arch], [r], args)
            else:
                refused.append({"arch": arch, "rule": r, "reason": why})
                print(f"{arch}: {r} does not run this net: {why}")
    jobs = [j for js in jobs_of.values() for j in js]
    res = run_sweep(jobs, runs, workers=args.workers)
    by_id = {r["job_id"]: r for r in load_records(runs)}
    for (arch, rule), js in jobs_of.items():
        recs = [by_id[job_id(j)] for j in js if job_id(j) in by_id]
        row = row_of(arch, rule, recs, cards[arch])
        rows.append(row)
        mean = "n/a" if row["mean"] is None else f"{100 * row['mean']:.2f}"
        sd = "n/a" if row["sd"] is None else f"{100 * row['sd']:.2f}"
        pub = row["published_test_error"]
        print(f"{arch:<6} {rule:<10} test error {mean} ± {sd} % (n={row['n']}, failed {row['n_failed']})"
              + (f"   published {100 * pub:.2f} %" if pub is not None else ""))
    budget = {"n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs, "seeds": args.seeds,
              "batch_size": 128, "array": args.array}
    table_path = Path(args.out) / "table.json"
    old = json.loads(table_path.read_text()) if table_path.exists() else {}
    kept = lambda key: [r for r in old.get(key, []) if r["arch"] not in archs]  # noqa: E731 - other nets' rows
    write_json(table_path, {
        "experiment": "conv_fashion", "dataset": "fashion-mnist",
        "budgets": {**{a: b for a, b in old.get("budgets", {}).items() if a not in archs},
                    **{a: budget for a in archs}},
        "cards": {**old.get("cards", {}), **{a: str(CARDS[a].relative_to(ROOT)) for a in archs}},
        "published_source": {**old.get("published_source", {}),
                             **{a: cards[a].published.get("source") for a in archs}},
        "rows": kept("rows") + rows, "refused": kept("refused") + refused, "provenance": provenance()})
    return 0 if not res.missing else 1


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "conv_fashion"))

"""Rumelhart, Hinton & Williams (1986), Fig. 1: mirror-symmetry detection with 2 hidden units.

The paper's set-up, followed choice by choice (Nature 323:533-536, the mirror-symmetry run):

* network 6-2-1, logistic units, :math:`E = \\tfrac12 \\sum_c \\sum_j (y_{j,c} - d_{j,c})^2`
  over all 64 input vectors ``c``;
* "the weights being adjusted on the basis of the accumulated gradient after each sweep":
  full batch, one update per sweep, SUMMED gradient.  neurosim's rules return the batch-MEAN
  update, so RHW's :math:`\\varepsilon = 0.1` is :math:`\\eta = 0.1 \\times 64 = 6.4` here;
* momentum :math:`\\Delta w(t) = -\\varepsilon\\,\\partial E/\\partial w + \\alpha\\,\\Delta w(t-1)`,
  :math:`\\alpha = 0.9` (neurosim's SGD is this recursion exactly);
* "initial weights random, uniformly distributed between -0.3 and 0.3"; RHW treat a bias as
  the weight from an always-on unit, learned "just like any other weight", so the biases are
  drawn U(-0.3, 0.3) too (``--bias-init-scale``, job key ``bias_init_scale``; ``0`` gives
  the previous neurosim choice, biases 0);
* stopping criterion: the paper does not state one.  Four are recorded per run (first sweep
  each held; the run stops when all have): ``sign`` every output on its target's side of 0.5,
  ``within_0.2``, ``within_0.1`` every output within 0.2 / 0.1 of its target, and
  ``tss_0.04`` :math:`\\sum_c (y_c - d_c)^2 < 0.04`.  ``--criterion`` picks the headline one.

A seed that never meets a criterion within ``--max-sweeps`` is unsolved (2 hidden units leave
local minima) and enters the quantiles as ``> max`` (censored).  Per solved backprop run the
summary measures the paper's structure: for each hidden unit, the antisymmetry error
‖w + reverse(w)‖ / ‖w‖ (0 when :math:`w_i = -w_{7-i}`) and the pair magnitudes (outer,
middle, inner) divided by the smallest (RHW: 1 : 2 : 4).

For the rules other than backprop the per-epoch cosine between the rule's hidden-layer update
and backprop's is recorded (``--align-samples``, all 64 patterns by default) and, for feedback
alignment, the fixed feedback vector B, the learned output weights W2 and cos(W2, B): the
diagnosis of why they fail (see ``feedback_diagnosis`` in the summary).

Usage::

    python experiments/rhw1986_mirror.py                       # backprop x 24 seeds, fa x 4 (~10 min, 2 cores)
    python experiments/rhw1986_mirror.py --rules backprop --seeds 24 --bias-init-scale 0   # biases 0
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("backprop", "fa")
CRITERIA = ("sign", "within_0.2", "within_0.1", "tss_0.04")
PAPER_SWEEPS = 1425


def jobs(rules, seeds, max_sweeps, bias_init_scale=0.3, bio_seeds=4, bio_max_sweeps=10000, align_samples=64):
    """One job per (rule, seed); backprop without alignment (it is its own reference)."""
    base = {"dataset": "mirror-symmetry", "layers": [6, 2, 1], "builder": "feedforward", "activation": "sigmoid",
            "output_activation": "sigmoid", "loss": "mse", "init": "uniform", "init_scale": 0.3,
            "optimizer": "sgd", "learning_rate": 0.1 * 64, "momentum": 0.9, "dtype": "float64", "stop": "all",
            "save_params": True, "bias_init_scale": bias_init_scale}
    out = []
    for r in rules:
        bp = r == "backprop"
        out += [{**base, "rule": r, "seed": s, "epochs": max_sweeps if bp else bio_max_sweeps,
                 "align_samples": 0 if bp else align_samples} for s in range(seeds if bp else bio_seeds)]
    return out


def structure(w) -> dict:
    """Antisymmetry error and pair-magnitude ratios of one hidden unit's 6 input weights."""
    import numpy as np

    w = np.asarray(w, dtype=float)
    pairs = (np.abs(w[:3]) + np.abs(w[::-1][:3])) / 2  # (outer, middle, inner)
    return {"weights": w.tolist(), "antisymmetry_error": float(np.linalg.norm(w + w[::-1]) / np.linalg.norm(w)),
            "pair_magnitudes_outer_middle_inner": pairs.tolist(),
            "ratio_outer_middle_inner": (pairs / pairs.min()).tolist(),
            "ratio_sorted": sorted((pairs / pairs.min()).tolist())}


def quantiles(sweeps) -> tuple:
    """(q1, median, q3) of first-solved sweeps; unsolved (None) count as +inf (censored)."""
    import numpy as np

    censored = np.array([s if s is not None else np.inf for s in sweeps], dtype=float)
    if not len(censored):
        return None, None, None
    # Interpolating between two +inf gives NaN, which is a "> budget" quantile too.
    with np.errstate(invalid="ignore"):
        q = np.nan_to_num(np.percentile(censored, [25, 50, 75]), nan=np.inf, posinf=np.inf)
    return tuple(float(v) for v in q)


def feedback_diagnosis(record) -> dict:
    """Why a feedback-alignment run fails: B, W2, cos(W2, B), the output and the hidden-layer alignment.

    The hidden error under FA is :math:`\\delta_h = (B e) \\odot \\sigma'(u_h)` with a fixed
    :math:`B` (2 x 1) instead of :math:`W_2^\\top e`; the output weights are trained by the
    exact delta rule, and W2 comes to align with B.  Backprop's solution has both output
    weights negative (the output is on unless a hidden unit fires).  Also measured: the
    antisymmetry error of each hidden unit's input weights (0: RHW's antisymmetric solution,
    2: mirror-SYMMETRIC, :math:`w_i = w_{7-i}`, blind to the difference between a string and its
    mirror image) and how many palindromes / non-palindromes the learned network gets wrong
    (output on the wrong side of 0.5; the 6-2-1 logistic forward pass written out).
    """
    import numpy as np

    from neurosim.data import mirror_symmetry

    p = {k: np.asarray(v) for k, v in record["params"].items()}
    task = mirror_symmetry(6)
    x, t = task.x_train.astype(float), task.t_train[:, 0]

    def sigmoid(u):
        return 1.0 / (1.0 + np.exp(-u))

    y = sigmoid(sigmoid(x @ p["input->hidden1"].T + p["hidden1.bias"]) @ p["hidden1->output"].T
                + p["output.bias"])[:, 0]
    wrong = np.abs(y - t) >= 0.5
    fb = next(k for k in p if k.startswith("output->hidden1"))
    b, w2 = p[fb].ravel(), p["hidden1->output"].ravel()
    curves = record["curves"]
    hid = curves.get("alignment_projections", {}).get("input->hidden1", [])
    hid = [c for c in hid if c is not None]
    at = {str(e): hid[e - 1] for e in (1, 10, 100, 1000, len(hid)) if 0 < e <= len(hid)}
    return {"seed": record["job"]["seed"], "feedback_B": b.tolist(), "W2": w2.tolist(),
            "output_bias": p["output.bias"].tolist(),
            "hidden_antisymmetry_error": [structure(w)["antisymmetry_error"] for w in p["input->hidden1"]],
            "palindromes_wrong": int(wrong[t == 1].sum()), "non_palindromes_wrong": int(wrong[t == 0].sum()),
            "cos_W2_B": float(w2 @ b / (np.linalg.norm(w2) * np.linalg.norm(b))),
            "final_loss": record["train_loss"], "loss_all_zero_output": 0.5 * 8 / 64,
            "hidden_alignment_cos_at_epoch": at,
            "hidden_alignment_cos_median_last_half": float(np.median(hid[len(hid) // 2:])) if hid else None,
            "fraction_epochs_hidden_update_against_gradient": float(np.mean(np.array(hid) < 0)) if hid else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--seeds", type=int, default=24, help="backprop seeds")
    p.add_argument("--max-sweeps", type=int, default=10000, help="backprop budget")
    p.add_argument("--bio-seeds", type=int, default=4, help="seeds (= feedback draws) of the other rules")
    p.add_argument("--bio-max-sweeps", type=int, default=10000)
    p.add_argument("--align-samples", type=int, default=64)
    p.add_argument("--bias-init-scale", type=float, default=0.3)
    p.add_argument("--criterion", default="sign", choices=CRITERIA, help="the headline criterion")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: local processes)")
    p.add_argument("--out", default=str(ROOT / "results" / "rhw1986_mirror"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np

    from neurosim.results import provenance, write_json
    from neurosim.sweep import run_sweep
    from neurosim.validation import check

    for flag in ("seeds", "bio_seeds"):
        check("rhw1986_mirror", "--" + flag.replace("_", "-"), getattr(args, flag), "int", gt=0)

    rules = args.rules.split(",")
    todo = jobs(rules, args.seeds, args.max_sweeps, args.bias_init_scale, args.bio_seeds, args.bio_max_sweeps,
                args.align_samples)
    res = run_sweep(todo, Path(args.out) / "runs", workers=args.workers, scheduler=args.scheduler)
    ids = {r["job_id"] for r in res.records}
    rows = []
    fmt = lambda v: "n/a" if v is None else (">budget" if not np.isfinite(v) else f"{v:.0f}")  # noqa: E731
    for rule in rules:
        recs = [r for r in res.records if r["job"]["rule"] == rule and r["job_id"] in ids]
        budget = args.max_sweeps if rule == "backprop" else args.bio_max_sweeps
        by_crit = {}
        for c in CRITERIA:
            sweeps = [r.get("criterion_epochs", {}).get(c) for r in recs]
            q1, med, q3 = quantiles(sweeps)
            by_crit[c] = {"sweeps": sweeps, "n_solved": sum(s is not None for s in sweeps), "median": med,
                          "q1": q1, "q3": q3,
                          "fraction_at_or_below_paper": float(np.mean([s is not None and s <= PAPER_SWEEPS
                                                                       for s in sweeps])) if sweeps else None}
        units = []
        for r in recs:
            if r.get("criterion_epochs", {}).get(args.criterion) is not None and "params" in r:
                units += [structure(w) for w in r["params"]["input->hidden1"]]
        head = by_crit[args.criterion]
        row = {"rule": rule, "n_seeds": len(recs), "max_sweeps": budget, "criteria": by_crit,
               "job_ids": [r["job_id"] for r in recs],
               "sweeps": head["sweeps"], "n_solved": head["n_solved"], "median": head["median"], "q1": head["q1"],
               "q3": head["q3"], "failed": [r["message"] for r in recs if r["status"] == "failed"],
               "hidden_units": units,
               "median_antisymmetry_error": float(np.median([u["antisymmetry_error"] for u in units]))
               if units else None,
               "median_ratio_sorted": np.median([u["ratio_sorted"] for u in units], axis=0).tolist()
               if units else None}
        if rule in ("fa", "dfa"):
            row["feedback_diagnosis"] = [feedback_diagnosis(r) for r in recs if "params" in r]
        rows.append(row)
        crit_txt = "; ".join(f"{c}: {v['n_solved']}/{len(recs)} median {fmt(v['median'])} IQR [{fmt(v['q1'])}, "
                             f"{fmt(v['q3'])}]" for c, v in by_crit.items())
        print(f"{rule:<9} ({budget} sweeps max) {crit_txt} (paper: {PAPER_SWEEPS}); antisymmetry error "
              f"{row['median_antisymmetry_error']}; sorted pair ratio {row['median_ratio_sorted']}")
        for d in row.get("feedback_diagnosis", []):
            print(f"   seed {d['seed']}: B {np.round(d['feedback_B'], 2)} W2 {np.round(d['W2'], 2)} cos(W2,B) "
                  f"{d['cos_W2_B']:.2f} loss {d['final_loss']:.4f}; hidden antisymmetry error "
                  f"{np.round(d['hidden_antisymmetry_error'], 2)}; wrong: {d['palindromes_wrong']}/8 palindromes, "
                  f"{d['non_palindromes_wrong']}/56 others; hidden cos to bp "
                  f"{d['hidden_alignment_cos_at_epoch']}")
    write_json(Path(args.out) / "summary.json", {
        "experiment": "rhw1986_mirror", "max_sweeps": args.max_sweeps, "bio_max_sweeps": args.bio_max_sweeps,
        "paper_sweeps": PAPER_SWEEPS, "learning_rate": 6.4, "learning_rate_summed": 0.1, "momentum": 0.9,
        "init": "weights U(-0.3, 0.3)", "bias_init_scale": args.bias_init_scale, "criterion": args.criterion,
        "criteria": list(CRITERIA), "rows": rows, "provenance": provenance()})
    return 0 if not res.missing else 1


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "rhw1986_mirror"))

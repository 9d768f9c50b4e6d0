"""Figure: AGREL / BrainProp alignment with the gradient of their loss vs the number of trials.

Reads ``results/agrel_trials/run.json`` (``experiments/agrel_trials.py``) and writes
``figures/agrel_alignment.png``; it never simulates anything.

(a) global cosine between the N-trial average of the sampled update and -dL/dW, mean over
    repeats (markers, bars: one standard deviation), with the theory curve
    ||G|| / sqrt(||G||^2 + V/N) from the exactly enumerated single-trial variance V (lines);
    the exact expectation over actions is the cosine-1 limit.
(b) 1 - cosine on a log scale: the error of the average falls as 1/N (slope -1).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLORS = {"agrel": "tab:red", "brainprop": "tab:purple"}
LABELS = {"agrel": "AGREL (softmax, f(δ) = R/π_s − 1)", "brainprop": "BrainProp (max-Boltzmann ε = 0.05, δ = R − Q_s)"}


def _series(run):
    n = np.array([r["trials"] for r in run["rows"]], dtype=float)
    mean = np.array([r["cosine_mean"] for r in run["rows"]])
    std = np.array([r["cosine_std"] for r in run["rows"]])
    theory = np.array([r["theory"] for r in run["rows"]])
    return n, mean, std, theory


def plot_cosine(record: dict, ax=None):
    """Panel (a): cosine vs trials per image.  Returns the Axes."""
    ax = ax or plt.gca()
    for name, run in record["rate"].items():
        n, mean, std, theory = _series(run)
        ax.errorbar(n, mean, yerr=std, fmt="o", ms=4, color=COLORS[name], label=f"{LABELS[name]}: sampled")
        ax.plot(n, theory, "-", color=COLORS[name], alpha=0.7, label=f"{name}: theory ‖G‖/√(‖G‖²+V/N)")
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="exact expectation over actions (cos = 1)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("trials per image N (one sampled action each)")
    ax.set_ylabel("global cosine with −dL/dW")
    ax.set_title("(a) trial-averaged update vs gradient of the rule's loss")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_error(record: dict, ax=None):
    """Panel (b): 1 - cosine vs trials (log-log).  Returns the Axes."""
    ax = ax or plt.gca()
    for name, run in record["rate"].items():
        n, mean, _, theory = _series(run)
        ax.loglog(n, np.maximum(1 - mean, 1e-12), "o", ms=4, color=COLORS[name], label=f"{name}: sampled")
        ax.loglog(n, 1 - theory, "-", color=COLORS[name], alpha=0.7, label=f"{name}: theory")
    n = np.array([1, 4096.0])
    ax.loglog(n, 0.5 / n, "k--", lw=0.8, label="slope −1")
    ax.set_xlabel("trials per image N")
    ax.set_ylabel("1 − cosine")
    ax.set_title("(b) the gap closes as 1/N")
    ax.legend(fontsize=7)
    return ax


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results root (or the run.json file itself)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    from neurosim.results import locate_result

    path = locate_result(args.results, "agrel_trials/run.json", "python experiments/agrel_trials.py")
    record = json.loads(Path(path).read_text())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    plot_cosine(record, axes[0])
    plot_error(record, axes[1])
    fig.suptitle(f"64-64-10 tanh, {record['batch']} digits images, initial weights, seed {record['seed']}, "
                 f"{record['repeats']} repeats per N", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(args.out)


if __name__ == "__main__":
    main()

"""Figure: rate predictive coding vs backprop -- inference steps and output precision.

Reads ``results/pc_inference_sweep/run.json`` (written by
``experiments/pc_inference_sweep.py``) and writes ``figures/pc_alignment.png``.  It never
simulates or trains anything.

(a) global cosine between each variant's update and backprop's, vs the number of
    inference steps (truncated inference); Z-IL has a fixed schedule of L - 1 steps.
(b) 1 - cosine vs the output precision gamma (= nudging strength) at converged inference:
    standard PC global (thick) and per projection (thin), FPA and Z-IL at machine precision.
Lines are the mean over weight seeds, bands the min-max.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

FLOOR = 1e-16  # 1 - cosine is plotted no lower than float64 resolution
COLORS = {"pc": "tab:blue", "pc-fpa": "tab:orange", "pc-zil": "tab:green"}


def _stack(runs, x_key, y_of):
    x = np.array([row[x_key] for row in runs[0]["rows"]], dtype=float)
    y = np.array([[y_of(row) for row in run["rows"]] for run in runs], dtype=float)
    return x, y


def plot_steps(record: dict, ax=None):
    """Panel (a): global cosine to backprop vs inference steps.  Returns the Axes."""
    ax = ax or plt.gca()
    groups: dict = {}
    for run in record["step_sweep"]:
        label = run["rule"] + (f" (γ = {run['hyper']['output_precision']:g})" if run["rule"] == "pc" else "")
        groups.setdefault(label, []).append(run)
    styles = ["-", "--", "-"]
    for (label, runs), ls in zip(groups.items(), styles):
        x, y = _stack(runs, "n_inference_steps", lambda r: r["global_cosine"])
        color = COLORS[runs[0]["rule"]]
        ax.plot(x, y.mean(0), ls, color=color, marker="o", ms=3, label=label)
        ax.fill_between(x, y.min(0), y.max(0), color=color, alpha=0.2, lw=0)
    zil = record["zil"]
    n_zil = zil[0]["steps"]
    ax.plot([n_zil], [np.mean([z["global_cosine"] for z in zil])], "*", color=COLORS["pc-zil"], ms=14,
            label=f"pc-zil (fixed schedule, {n_zil} steps)")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(f"inference steps (rate η = {record['config']['inference_rate']:g})")
    ax.set_ylabel("cosine(ΔW, −∂L/∂W), all projections")
    ax.set_title("(a) alignment vs inference steps")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_precision(record: dict, ax=None):
    """Panel (b): 1 - cosine to backprop vs output precision at converged inference.  Returns the Axes."""
    ax = ax or plt.gca()
    names = record["config"]["projections"]
    by_rule: dict = {}
    for run in record["precision_sweep"]:
        by_rule.setdefault(run["rule"], []).append(run)
    runs = by_rule["pc"]
    x, y = _stack(runs, "output_precision", lambda r: 1 - r["global_cosine"])
    ax.plot(x, np.maximum(y.mean(0), FLOOR), "-o", color=COLORS["pc"], ms=3, lw=2, label="pc, all projections")
    ax.fill_between(x, np.maximum(y.min(0), FLOOR), np.maximum(y.max(0), FLOOR), color=COLORS["pc"], alpha=0.2,
                    lw=0)
    for name, ls in zip(names, [":", "-.", "--", (0, (1, 3))]):
        _, yl = _stack(runs, "output_precision", lambda r, n=name: 1 - r["cosine"][n])
        ax.plot(x, np.maximum(yl.mean(0), FLOOR), ls, color=COLORS["pc"], lw=1, label=f"pc, {name}")
    for rule, marker, ms in (("pc-fpa", "s", 9), ("pc-zil", "^", 5)):
        _, yr = _stack(by_rule[rule], "output_precision", lambda r: 1 - r["global_cosine"])
        ax.plot(x, np.maximum(yr.max(0), FLOOR), marker, color=COLORS[rule], ms=ms, ls="none", mfc="none",
                label=f"{rule}: exact (worst seed, floored at {FLOOR:g})")
    # the theory: the angle to backprop is O(gamma), so 1 - cosine = O(gamma^2)
    g0, y0 = x[0], max(y.mean(0)[0], FLOOR) / 10  # shifted down a decade to stay visible
    ax.plot(x[:7], y0 * (x[:7] / g0) ** 2, color="0.4", lw=1, ls="--", label="∝ γ² (guide)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("output precision γ (= nudging strength β)")
    ax.set_ylabel("1 − cosine to backprop (converged inference)")
    ax.set_title("(b) standard PC → backprop as γ → 0")
    ax.legend(loc="center right", fontsize=7)
    return ax


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results root (or the run.json file itself)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    from neurosim.results import locate_result

    path = locate_result(args.results, "pc_inference_sweep/run.json", "python experiments/pc_inference_sweep.py")
    record = json.loads(path.read_text())
    cfg = record["config"]
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(12, 4.6))
    plot_steps(record, ax_a)
    plot_precision(record, ax_b)
    fig.suptitle(f"Rate predictive coding vs backprop: {cfg['dataset']} ({cfg['n_samples']} samples), "
                 f"{'-'.join(map(str, cfg['sizes']))} {cfg['activation']}, {cfg['loss']}, "
                 f"{len(cfg['seeds'])} weight seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Figure: predictive coding vs backprop trained on Fashion-MNIST at the same budget.

Reads ``<results>/pc_fashion/runs/*.json`` (written by ``experiments/pc_fashion.py``) and
writes ``figures/pc_training.png``.  It never trains anything.

(a) test error vs epoch for each rule: mean over seeds (thick), each seed (thin).
(b) cosine between PC's update and backprop's on a fixed batch of 256 training images,
    per projection (mean over seeds, band min-max), over training.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

COLORS = {"backprop": "black", "pc": "tab:blue", "pc-fpa": "tab:orange", "pc-zil": "tab:green"}
LABELS = {"backprop": "backprop", "pc": "PC (T = 20, η = 0.05, γ = 1)", "pc-fpa": "PC fixed prediction"}


def load_runs(folder: Path) -> dict:
    """``{rule: [record, ...]}`` of the completed runs, sorted by seed."""
    runs: dict = {}
    for path in sorted(folder.glob("*.json")):
        rec = json.loads(path.read_text())
        runs.setdefault(rec["rule"], []).append(rec)
    return {r: sorted(v, key=lambda rec: rec["seed"]) for r, v in runs.items()}


def plot_test_error(runs: dict, ax=None):
    """Panel (a): test error (%) vs epoch per rule.  Returns the Axes."""
    ax = ax or plt.gca()
    for rule, recs in runs.items():
        color = COLORS.get(rule, "tab:gray")
        curves = [[100 * h["test_error"] for h in rec["history"]] for rec in recs]
        n = min(len(c) for c in curves)
        y = np.array([c[:n] for c in curves])
        epochs = np.arange(1, n + 1)
        for c in y:
            ax.plot(epochs, c, color=color, lw=0.6, alpha=0.4)
        final = f"{y[:, -1].mean():.2f}" + (f" ± {y[:, -1].std(ddof=1):.2f}" if len(y) > 1 else "")
        ax.plot(epochs, y.mean(0), color=color, lw=2, ls="--" if rule == "pc-fpa" else "-",
                label=f"{LABELS.get(rule, rule)}: {final} % (n = {len(y)})")
    rec = next(iter(runs.values()))[0]
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"(a) Fashion-MNIST {'-'.join(map(str, rec['sizes']))} {rec['activation']}, "
                 f"{rec['n_train']} images,\nbatch {rec['config']['batch_size']}, Adam "
                 f"{rec['config']['learning_rate']:g}", fontsize=10)
    ax.legend(fontsize=8, title="final test error, mean ± sd over seeds", title_fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return ax


def plot_pc_alignment(recs: list, ax=None):
    """Panel (b): per-projection cosine of PC's update with backprop's vs epoch.  Returns the Axes."""
    ax = ax or plt.gca()
    names = list(recs[0]["history"][0]["alignment"]["projections"])
    n = min(len(rec["history"]) for rec in recs)
    epochs = np.arange(1, n + 1)
    lowest = 1.0
    series = [(name, lambda h, k=name: h["alignment"]["projections"][k]) for name in names]
    series.append(("all projections", lambda h: h["alignment"]["global"]))
    for i, (name, get) in enumerate(series):
        y = np.array([[get(h) for h in rec["history"][:n]] for rec in recs])
        color = "black" if name == "all projections" else f"C{i + 4}"
        lowest = min(lowest, float(y.min()))
        ax.plot(epochs, y.mean(0), color=color, lw=2 if name == "all projections" else 1.2, marker="o", ms=3,
                label=name)
        ax.fill_between(epochs, y.min(0), y.max(0), color=color, alpha=0.15, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine(ΔW_PC, −∂L/∂W)")
    ax.set_title("(b) PC update vs backprop's during training\n(256 fixed training images; band: min-max "
                 "over seeds)", fontsize=10)
    # the global cosine sits below every per-projection one: PC scales the layers' updates
    # differently from backprop, which only the concatenated vector sees
    ax.set_ylim(lowest - 0.3, 1.01)  # room below the curves for the legend
    ax.legend(fontsize=8, loc="lower left", ncol=2, title="projection (global: all concatenated)", title_fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return ax


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    folder = Path(args.results) / "pc_fashion" / "runs"
    runs = load_runs(folder)
    if not runs:
        raise SystemExit(f"no runs in {folder}; run `python experiments/pc_fashion.py` first")
    has_pc = "pc" in runs and "alignment" in runs["pc"][0]["history"][0]
    fig, axes = plt.subplots(1, 2 if has_pc else 1, figsize=(12 if has_pc else 6.5, 4.6), squeeze=False)
    plot_test_error(runs, axes[0, 0])
    if has_pc:
        plot_pc_alignment(runs["pc"], axes[0, 1])
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

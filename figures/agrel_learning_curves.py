"""Figure: AGREL and BrainProp vs backprop on Fashion-MNIST, test error per epoch.

Reads ``results/agrel_training/run.json`` (``experiments/agrel_training.py``) and writes
``figures/agrel_learning_curves.png``; it never trains anything.

(a) test error (%) vs epoch for the three rules (same network size, optimiser and budget);
(b) for backprop's test error after k epochs, the first epoch at which AGREL / BrainProp reach
    it (a triangle at the top: not within the run), against the 1-3.5x band of Pozzi et al.
    (2020); the note gives the lowest cosine of each rule's expected update with -dL/dW over
    the epochs (tied feedback keeps it at 1 in the trained states too).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"backprop": "k", "agrel": "tab:red", "brainprop": "tab:purple"}


def plot_test_error(record: dict, ax=None):
    """Panel (a).  Returns the Axes."""
    ax = ax or plt.gca()
    for name, run in record["runs"].items():
        hist = run["history"]
        ax.plot([h["epoch"] for h in hist], [100 * h["test_error"] for h in hist], "-o", ms=3,
                color=COLORS.get(name), label=f"{name} ({run['loss']}): {100 * run['test_error']:.2f} %")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_title("(a) Fashion-MNIST test error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_slowdown(record: dict, ax=None):
    """Panel (b): epochs a rule needs to reach backprop's test error after k epochs.  Returns the Axes."""
    ax = ax or plt.gca()
    horizon = record["config"]["epochs"]
    ks = [1, max(r["bp_epochs"] for rows in record.get("slowdown", {}).values() for r in rows) + 1]
    ax.fill_between(ks, ks, [3.5 * k for k in ks], color="0.85", label="Pozzi et al. 2020: 1–3.5× slower")
    ax.plot(ks, ks, "k-", lw=0.8)
    for name, rows in record.get("slowdown", {}).items():
        reached = [r for r in rows if r["rule_epochs"] is not None]
        missed = [r["bp_epochs"] for r in rows if r["rule_epochs"] is None]
        label = name + (f" (never within {horizon} epochs for k = {', '.join(map(str, missed))})" if missed else "")
        ax.plot([r["bp_epochs"] for r in reached], [r["rule_epochs"] for r in reached], "-o", color=COLORS[name],
                label=label)
        for k in missed:
            ax.plot([k], [horizon], "v", color=COLORS[name], ms=8)
    mins = {n: min(h["alignment"]["global"] for h in run["history"] if h.get("alignment"))
            for n, run in record["runs"].items() if n != "backprop"}
    ax.text(0.02, 0.02, "cos(expected update, −dL/dW) over all epochs ≥ "
            + ", ".join(f"{n} {c:.6f}" for n, c in mins.items()), transform=ax.transAxes, fontsize=7, va="bottom")
    ax.set_xlabel("backprop epochs k")
    ax.set_ylabel("epochs to reach backprop's test error at k")
    ax.set_ylim(0, horizon + 2)
    ax.set_xlim(0, ks[1])
    ax.set_title("(b) the epoch cost of learning from reward")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    return ax


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results root (or the run.json file itself)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    from neurosim.results import locate_result

    path = locate_result(args.results, "agrel_training/run.json", "python experiments/agrel_training.py")
    record = json.loads(Path(path).read_text())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    plot_test_error(record, axes[0])
    plot_slowdown(record, axes[1])
    c = record["config"]
    fig.suptitle(f"{'-'.join(map(str, record['sizes']))} tanh, {record['n_train']} training images, Adam "
                 f"{c['learning_rate']:g}, batch {c['batch_size']}, seed {c['seed']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(args.out)


if __name__ == "__main__":
    main()

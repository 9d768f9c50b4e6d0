"""Figure: deep dendritic circuits trained on Fashion-MNIST beside backprop (reads results only).

Reads ``results/dendritic_fashion/run.json`` (``experiments/dendritic_fashion.py``) and writes
``figures/dendritic_training.png`` beside this script, two panels:

(a) test error per epoch of backprop, the microcircuit and burstprop on the same
    two-hidden-layer sigmoid/mse network at the same budget;
(b) angle between each hidden layer's update and backprop's (256 training images) per epoch.

    python figures/dendritic_training.py [--results results]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosim.plotting import read_results

COLORS = {"backprop": "k", "microcircuit": "tab:orange", "burstprop": "tab:purple"}
LABELS = {"backprop": "backprop", "microcircuit": "microcircuit (Sacramento 2018)",
          "burstprop": "burstprop (Payeur 2021)"}


def plot_errors(record: dict, ax=None):
    """Panel (a): test error (%) against epoch, final value in the legend; returns the Axes."""
    ax = ax or plt.gca()
    for run in record["runs"]:
        epochs = [h["epoch"] for h in run["history"]]
        err = [100 * h["test_error"] for h in run["history"]]
        ax.plot(epochs, err, marker="o", ms=3, color=COLORS.get(run["rule"]),
                label=f"{LABELS.get(run['rule'], run['rule'])}: {err[-1]:.1f} %")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(bottom=0)
    sizes = "-".join(map(str, record["sizes"]))
    ax.set_title(f"(a) Fashion-MNIST, {sizes} sigmoid/mse\n{record['n_train']} train / {record['n_test']} test, "
                 f"Adam {record['learning_rate']:g}, batch {record['batch_size']}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_angles(record: dict, ax=None):
    """Panel (b): angle of each hidden layer's update to backprop's, per epoch."""
    ax = ax or plt.gca()
    for run in record["runs"]:
        if run["rule"] == "backprop":
            continue
        names = list(run["history"][0]["hidden_angle_deg"])
        for i, name in enumerate(names):
            epochs = [h["epoch"] for h in run["history"]]
            ang = [h["hidden_angle_deg"][name] for h in run["history"]]
            ax.plot(epochs, ang, marker="o", ms=3, ls="-" if i == 0 else "--", color=COLORS.get(run["rule"]),
                    label=f"{run['rule']}: {name} (hidden layer {i + 1})")
    ax.axhline(90, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop's update (degrees)")
    ax.set_ylim(0, 100)
    ax.set_title("(b) hidden-layer updates vs backprop\n(random top-down / burst feedback: feedback alignment)",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    record = read_results(args.results, "dendritic_fashion")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    plot_errors(record, axes[0])
    plot_angles(record, axes[1])
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()

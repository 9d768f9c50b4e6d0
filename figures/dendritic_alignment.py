"""Figure: dendritic rules vs backprop (reads results, never simulates).

Reads ``results/microcircuit_alignment/run.json`` (``experiments/microcircuit_alignment.py``)
and writes ``figures/dendritic_alignment.png`` beside this script, three panels:

(a) apical potential vs backprop delta (scatter, each hidden layer; the line is the theory
    phi' v_A = -c_l delta_l); (b) RMS apical potential while the lateral plasticity reaches
    the self-predicting state; (c) angle of the hidden-layer update to backprop's during
    training on digits; (d) the deep circuit (two hidden layers) at the compare budget:
    angle of each hidden layer's update to backprop's with the paper's basal baseline and
    with the free-apical one, with the final apical potentials (mismatch vs teacher) in
    the legend.

    python figures/dendritic_alignment.py [--results results]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402
from neurosim.plotting import read_results


def plot_scatter(scatter: dict, ax=None):
    """Panel (a): phi'(vB) * v_A against -c_l delta_l, per hidden layer; returns the Axes."""
    ax = ax or plt.gca()
    lim = 0.0
    for (lay, d), color in zip(scatter["layers"].items(), ("tab:blue", "tab:orange", "tab:green")):
        x, y = np.asarray(d["predicted"]), np.asarray(d["apical_scaled"])
        ax.scatter(x, y, s=4, alpha=0.5, color=color,
                   label=f"{lay}: c = {d['c']:.2g}, rel. error {d['relative_error']:.1e}")
        lim = max(lim, np.abs(x).max(), np.abs(y).max())
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.8, label="theory (identity)")
    ax.set_xlabel(r"$-c_l\,\delta_l$ (backprop delta $\times$ theory factor)")
    ax.set_ylabel(r"$\phi'(\hat v_{B,l})\,v_{A,l}$ (microcircuit)")
    ax.set_title(f"(a) apical potential vs backprop delta\n(λ = {scatter['lambda']:.3f}, symmetric B, "
                 "self-predicting)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return ax


def plot_self_predicting(sp: dict, ax=None):
    """Panel (b): RMS apical potential (no teacher) against lateral-plasticity updates."""
    ax = ax or plt.gca()
    for label, curve in sp["curves"].items():
        ax.semilogy(np.arange(len(curve)), curve, label=f"{label} circuit")
    ax.set_xlabel(f"lateral-plasticity updates (SGD rate {sp['learning_rate']}, batch {sp['batch_size']})")
    ax.set_ylabel("RMS apical potential, no teacher (a.u.)")
    ax.set_title("(b) reaching the self-predicting state", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_training_angles(training: dict, ax=None):
    """Panel (c): hidden-layer angle to backprop per epoch, final test error in the legend."""
    ax = ax or plt.gca()
    for label, run in training["runs"].items():
        if run["rule"] == "backprop":
            continue
        epochs = np.arange(1, len(run["hidden_angle_deg"]) + 1)
        # FA is drawn wide and pale: burstprop with random Y follows it (same B drawn by the same seed)
        wide = {"lw": 5, "alpha": 0.35} if run["rule"] == "fa" else {"lw": 1.5}
        ax.plot(epochs, run["hidden_angle_deg"], marker="o", ms=3, **wide,
                label=f"{label}: {100 * run['test_error'][-1]:.1f} % test error")
    bp = training["runs"].get("backprop")
    title = "(c) hidden-layer update vs backprop, digits " + "-".join(map(str, training["sizes"]))
    if bp:
        title += f"\n(backprop: {100 * bp['test_error'][-1]:.1f} % test error)"
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop (degrees)")
    ax.set_ylim(0, 120)
    ax.axhline(90, color="0.6", lw=0.6, ls=":")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return ax


def plot_deep(deep: dict, ax=None):
    """Panel (d): hidden-layer angles in the deep circuit, both basal baselines."""
    ax = ax or plt.gca()
    colors = {"dendrite": "tab:red", "free": "tab:green"}
    for baseline, run in deep["runs"].items():
        for i, (proj, angles) in enumerate(run["angle_deg"].items()):
            lay = proj.split("->")[1]
            label = f"{baseline}: {proj}"
            if i == 0:
                label += f" ({100 * run['test_error'][-1]:.1f} % test error)"
            label += (f"\n    end: |v_A| no teacher {run['apical_rms_free'][lay]:.1e},"
                      f" teacher-induced {run['apical_rms_teacher'][lay]:.1e}")
            ax.plot(np.arange(1, len(angles) + 1), angles, marker="o", ms=3, color=colors.get(baseline),
                    ls="-" if i == 0 else "--", label=label)
    ax.axhline(90, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop (degrees)")
    ax.set_ylim(0, 120)
    ax.set_title(f"(d) deep microcircuit {'-'.join(map(str, deep['sizes']))}, digits, compare budget\n"
                 f"(Adam {deep['learning_rate']:g}; basal baseline: dendrite = paper, free = + free apical)",
                 fontsize=10)
    ax.legend(fontsize=6.5, loc="lower left")
    return ax


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    record = read_results(args.results, "microcircuit_alignment")
    deep = "deep" in record
    fig, axes = plt.subplots(2, 2, figsize=(13, 10.5)) if deep else plt.subplots(1, 3, figsize=(17, 5.2))
    axes = np.ravel(axes)
    plot_scatter(record["scatter"], axes[0])
    plot_self_predicting(record["self_predicting"], axes[1])
    plot_training_angles(record["training"], axes[2])
    if deep:
        plot_deep(record["deep"], axes[3])
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()

"""Figure: spiking dendritic microcircuit on XOR (reads results, never simulates).

Reads ``results/spiking_dendritic_xor/run.json`` (``experiments/spiking_dendritic_xor.py``) and
writes ``figures/spiking_dendritic_xor.png`` beside this script:

(a, b) cosine of the trial-averaged basal update with backprop against the number of trials
       averaged, hidden (input->pyr1) and output (pyr1->output) projection, one colour per
       output nudging lambda; solid: spike signal S/r_max - phi(V*) with the free-phase
       baseline (nudged - free copies, common random numbers); dashed: the same without
       baseline (the original rule); dotted: phi(u) - phi(V*) signal with baseline; thin grey
       band: above the cosine the trial noise alone predicts for the baselined spike update
       (cos(rate rule, G) |rate| / sqrt(|rate|^2 + sum var / n)) at the smallest lambda;
(c)    norm of the hidden-layer spike update relative to backprop's, against trials: the
       free (teacher-less) copies' update levels off (a bias), the baselined one falls
       towards the gradient's norm; grey: 1/sqrt(n) from the first point (pure noise);
(d)    XOR learning curves (rate-network mse) with the spiking update and with backprop,
       if the run has them.

    python figures/spiking_dendritic_xor.py [--results results]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from neurosim.plotting import read_results

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
STYLES = {"baselined": dict(ls="-", marker="o", ms=4), "nudged": dict(ls="--", marker="x", ms=4),
          "rate": dict(ls=":", marker="s", ms=3)}


def _legend(ax, alignment: dict, variants: dict, loc: str) -> None:
    """Two legends: colour = lambda, line style = variant."""
    colors = [Line2D([], [], color=c, lw=2, label=f"λ = {row['lambda']:.2f}")
              for row, c in zip(alignment.values(), COLORS)]
    first = ax.legend(handles=colors, fontsize=7, loc="lower left")
    ax.add_artist(first)
    styles = [Line2D([], [], color="k", label=label, **STYLES[key]) for key, label in variants.items()]
    ax.legend(handles=styles, fontsize=7, loc=loc)


def plot_alignment(alignment: dict, projection: str, ax=None):
    """Cosine with backprop vs trials averaged for one projection; returns the Axes."""
    ax = ax or plt.gca()
    first = next(iter(alignment.values()))["projections"][projection]["spike"]["baselined"]
    ax.fill_between(next(iter(alignment.values()))["n"], first["noise_predicted_cosine"], 1.0, color="0.85",
                    lw=0, zorder=0)
    for row, color in zip(alignment.values(), COLORS):
        d = row["projections"][projection]
        ax.semilogx(row["n"], d["spike"]["baselined"]["vs_backprop"], color=color, **STYLES["baselined"])
        ax.semilogx(row["n"], d["spike"]["nudged"]["vs_backprop"], color=color, alpha=0.7, **STYLES["nudged"])
        ax.semilogx(row["n"], d["rate"]["baselined"]["vs_backprop"], color=color, alpha=0.7, **STYLES["rate"])
    ax.axhline(0, color="k", lw=0.5)
    ax.axhline(0.9, color="k", lw=0.5, ls=":")
    ax.set_xlabel("trials averaged (presentations of each XOR sample, 1 s each)")
    ax.set_ylabel("cosine with backprop −dL/dW")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(f"{projection}: cosine with backprop\n"
                 "(grey: above the trial-noise prediction, smallest λ, baselined spikes)", fontsize=10)
    _legend(ax, alignment, {"baselined": "spikes, free baseline", "nudged": "spikes, no baseline",
                            "rate": "φ(u) signal, free baseline"}, "lower right")
    return ax


def plot_bias(alignment: dict, projection: str, ax=None):
    """Norm of the spike update / norm of backprop's vs trials; returns the Axes."""
    ax = ax or plt.gca()
    for row, color in zip(alignment.values(), COLORS):
        d = row["projections"][projection]["spike"]
        n = np.asarray(row["n"], dtype=float)
        ax.loglog(n, d["free"]["norm_ratio"], color=color, ls="--", marker="x", ms=4)
        ax.loglog(n, d["baselined"]["norm_ratio"], color=color, ls="-", marker="o", ms=4)
        ax.loglog(n, d["free"]["norm_ratio"][0] / np.sqrt(n), color="0.6", lw=0.8)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("trials averaged")
    ax.set_ylabel("‖update‖ / ‖backprop −dL/dW‖")
    ax.set_title(f"{projection}, spike signal: bias vs noise\n(grey: 1/√n from one trial = pure noise)",
                 fontsize=10)
    colors = [Line2D([], [], color=c, lw=2, label=f"λ = {row['lambda']:.2f}")
              for row, c in zip(alignment.values(), COLORS)]
    first = ax.legend(handles=colors, fontsize=7, loc="lower left")
    ax.add_artist(first)
    ax.legend(handles=[Line2D([], [], color="k", ls="--", marker="x", label="free copies (no teacher)"),
                       Line2D([], [], color="k", ls="-", marker="o", label="nudged − free (baselined)")],
              fontsize=7, loc="upper right")
    return ax


def plot_learning(learning: dict, ax=None):
    """XOR mse against epochs, spiking update vs backprop, per seed; returns the Axes."""
    ax = ax or plt.gca()
    for k, run in enumerate(learning["runs"].values()):
        sp = [h["loss"] for h in run["spiking"]]
        bp = [h["loss"] for h in run["backprop"]]
        ax.plot(np.arange(len(sp)), sp, color="tab:blue", lw=1.5, label="spiking microcircuit" if k == 0 else None)
        ax.plot(np.arange(len(bp)), bp, color="k", lw=1, ls="--", label="backprop (rate)" if k == 0 else None)
    ax.set_xlabel(f"epoch (full batch, SGD lr {learning['lr']:g}; {learning['n_trials']} trials / epoch)")
    ax.set_ylabel("XOR loss (mse of the rate network)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"XOR learning, {len(learning['runs'])} seeds, g_som_out = {learning['g_som_out']:g}, "
                 f"baseline {learning.get('baseline', 'none')}", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    record = read_results(args.results, "spiking_dendritic_xor")
    panels = 4 if "learning" in record else 3
    fig, axes = plt.subplots(1, panels, figsize=(5.3 * panels, 5.0))
    plot_alignment(record["alignment"], "input->pyr1", axes[0])
    plot_alignment(record["alignment"], "pyr1->output", axes[1])
    plot_bias(record["alignment"], "input->pyr1", axes[2])
    if panels == 4:
        plot_learning(record["learning"], axes[3])
    fig.suptitle(f"Spiking dendritic microcircuit (brian2, Poisson two-compartment neurons, r_max "
                 f"{record['r_max_hz']:g} Hz), XOR {'-'.join(map(str, record['sizes']))}, symmetric top-down",
                 fontsize=11)
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Figure: spiking dendritic microcircuit on XOR (reads results, never simulates).

Reads ``results/spiking_dendritic_xor/run.json`` (``experiments/spiking_dendritic_xor.py``) and
writes ``figures/spiking_dendritic_xor.png`` beside this script:

(a, b) cosine of the trial-averaged basal update with backprop against the number of trials
       averaged, hidden (input->pyr1) and output (pyr1->output) projection, per output nudging
       lambda; solid: spike signal S/r_max - phi(V*), dashed: rate signal phi(u) - phi(V*);
       dotted horizontal: the rate rule's own cosine;
(c)    XOR learning curves (rate-network mse) with the spiking update and with backprop,
       if the run has them.

    python figures/spiking_dendritic_xor.py [--results results]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def plot_alignment(alignment: dict, projection: str, ax=None):
    """Cosine with backprop vs trials averaged for one projection; returns the Axes."""
    ax = ax or plt.gca()
    for row, color in zip(alignment.values(), COLORS):
        d = row["projections"][projection]
        ax.semilogx(row["n"], d["spike"]["vs_backprop"], "o-", color=color,
                    label=f"λ = {row['lambda']:.2f} spikes")
        ax.semilogx(row["n"], d["rate"]["vs_backprop"], "s--", color=color, ms=3, alpha=0.8,
                    label=f"λ = {row['lambda']:.2f} φ(u) signal")
        ax.axhline(row["rate_rule_vs_backprop"][projection], color=color, ls=":", lw=1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("trials averaged (presentations of each XOR sample, 1 s each)")
    ax.set_ylabel("cosine with backprop −dL/dW")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(f"{projection}\n(dotted: rate rule microcircuit, same λ)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
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
    ax.set_title(f"XOR learning, {len(learning['runs'])} seeds, g_som_out = {learning['g_som_out']:g}",
                 fontsize=10)
    ax.legend(fontsize=8)
    return ax


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    record = json.loads((Path(args.results) / "spiking_dendritic_xor" / "run.json").read_text())
    panels = 3 if "learning" in record else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.8))
    plot_alignment(record["alignment"], "input->pyr1", axes[0])
    plot_alignment(record["alignment"], "pyr1->output", axes[1])
    if panels == 3:
        plot_learning(record["learning"], axes[2])
    fig.suptitle(f"Spiking dendritic microcircuit (brian2, Poisson two-compartment neurons, r_max "
                 f"{record['r_max_hz']:g} Hz), XOR {'-'.join(map(str, record['sizes']))}, symmetric top-down",
                 fontsize=11)
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Figure: spiking dendritic microcircuit on XOR (reads results, never simulates).

Reads ``results/spiking_dendritic_xor/run.json`` (``experiments/spiking_dendritic_xor.py``) and
writes ``figures/spiking_dendritic_xor.png``:

(a, b) cosine of the trial-averaged basal update with backprop against the number of trials
       averaged, hidden (input->pyr1) and output (pyr1->output) projection, one colour per
       output nudging lambda; solid: spike signal S/r_max - phi(V*) with the free-phase
       baseline (nudged - free copies, common random numbers); dashed: the same without
       baseline (the original rule); dotted: phi(u) - phi(V*) signal with baseline; grey
       band: above the cosine the trial noise alone allows for the baselined spike update
       (cos(rate rule, G) |rate| / sqrt(|rate|^2 + sum var / n)) at the smallest lambda;
(c)    norm of the hidden-layer spike update relative to backprop's, against trials: the
       free (teacher-less) copies' update levels off (a bias), the baselined one falls
       towards the gradient's norm; grey: 1/sqrt(n) from the first point (pure noise);
(d)    XOR learning curves (rate-network mse) with the spiking update and with backprop,
       if the run has them.

    python figures/spiking_dendritic_xor.py [--results results] [--out figures/spiking_dendritic_xor.png]
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from neurosim.plotting import (BLACK, BLUE, LINE_COLORS, band, figure, figure_data, figure_parser, guide,
                               integer_axis, panel, plain_log_axis, save, style, whole_record)

#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [["experiments/spiking_dendritic_xor.py"]], "minutes": 80}

COLORS = LINE_COLORS[1:]
STYLES = {"baselined": dict(ls="-", marker="o", ms=4), "nudged": dict(ls="--", marker="x", ms=5),
          "rate": dict(ls=":", marker="s", ms=3.5)}
VARIANTS = {"baselined": "spikes, free baseline", "nudged": "spikes, no baseline", "rate": "φ(u) signal, free baseline"}


def _lambda_handles(alignment: dict):
    return [Line2D([], [], color=c, lw=2.5, label=f"λ = {row['lambda']:.2f}") for row, c in zip(alignment.values(),
                                                                                                COLORS)]


def plot_alignment(alignment: dict, projection: str, ax=None):
    """Cosine with backprop vs trials averaged for one projection; returns the Axes."""
    first = next(iter(alignment.values()))
    band(ax, first["n"], first["projections"][projection]["spike"]["baselined"]["noise_predicted_cosine"], 1.0,
         color="0.6", alpha=0.25, label="above the trial-noise limit", zorder=0)
    for row, color in zip(alignment.values(), COLORS):
        d = row["projections"][projection]
        ax.plot(row["n"], d["spike"]["baselined"]["vs_backprop"], color=color, **STYLES["baselined"])
        ax.plot(row["n"], d["spike"]["nudged"]["vs_backprop"], color=color, alpha=0.8, **STYLES["nudged"])
        ax.plot(row["n"], d["rate"]["baselined"]["vs_backprop"], color=color, alpha=0.8, **STYLES["rate"])
    ax.axhline(0, color="k", lw=0.5)
    guide(ax, y=0.9, label="0.9 (the target)", ls="-.")
    plain_log_axis(ax, "x", base=2)
    ax.set_xlabel("trials averaged (1 s presentations per sample)")
    ax.set_ylabel("cosine with backprop −dL/dW")
    ax.set_ylim(-1.05, 1.05)
    return ax


def plot_bias(alignment: dict, projection: str, ax=None):
    """Norm of the spike update / norm of backprop's vs trials; returns the Axes."""
    for row, color in zip(alignment.values(), COLORS):
        d = row["projections"][projection]["spike"]
        n = np.asarray(row["n"], dtype=float)
        ax.plot(n, d["free"]["norm_ratio"], color=color, ls="--", marker="x", ms=5)
        ax.plot(n, d["baselined"]["norm_ratio"], color=color, ls="-", marker="o", ms=4)
        ax.plot(n, d["free"]["norm_ratio"][0] / np.sqrt(n), color="0.6", lw=0.9)
    ax.axhline(1.0, color="k", lw=0.6)
    plain_log_axis(ax, "x", base=2)
    plain_log_axis(ax, "y")
    ax.set_xlabel("trials averaged")
    ax.set_ylabel("‖update‖ / ‖backprop −dL/dW‖")
    handles = _lambda_handles(alignment) + [
        Line2D([], [], color="k", ls="--", marker="x", label="free copies (no teacher)"),
        Line2D([], [], color="k", ls="-", marker="o", label="nudged − free (baselined)"),
        Line2D([], [], color="0.6", lw=0.9, label="1/√n from one trial (pure noise)")]
    ax.legend(handles=handles, loc="lower left", fontsize=8)
    return ax


def plot_learning(learning: dict, ax=None):
    """XOR mse against epochs, spiking update vs backprop, per seed; returns the Axes."""
    for k, run in enumerate(learning["runs"].values()):
        sp = [h["loss"] for h in run["spiking"]]
        bp = [h["loss"] for h in run["backprop"]]
        ax.plot(np.arange(len(sp)), sp, color=BLUE, lw=1.5, label="spiking microcircuit" if k == 0 else None)
        ax.plot(np.arange(len(bp)), bp, color=BLACK, lw=1, ls="--", label="backprop (rate)" if k == 0 else None)
    ax.set_xlabel(f"epoch (full batch, SGD {learning['lr']:g}; {learning['n_trials']} trials per epoch)")
    ax.set_ylabel("XOR loss (mse of the rate network)")
    ax.set_ylim(bottom=0)
    integer_axis(ax)
    n = len(learning["runs"])
    ax.legend(loc="center right", title=f"{n} seed{'s' if n > 1 else ''}, one line each")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("spiking_dendritic_xor"))
    al = record["alignment"]
    with style():
        fig, axes = figure(2, 2, height=10.4)
        panel(plot_alignment(al, "input->pyr1", axes[0, 0]), "a", "hidden projection input→pyr1")
        panel(plot_alignment(al, "pyr1->output", axes[0, 1]), "b", "output projection pyr1→output")
        handles = _lambda_handles(al) + [Line2D([], [], color="k", label=label, **STYLES[key])
                                         for key, label in VARIANTS.items()]
        h, _ = axes[0, 0].get_legend_handles_labels()
        axes[0, 0].legend(handles=handles + h, loc="upper left", bbox_to_anchor=(0, -0.17), fontsize=8, ncols=2)
        panel(plot_bias(al, "input->pyr1", axes[1, 0]), "c", "input→pyr1, spike signal: bias vs noise")
        if "learning" in record:
            lr = record["learning"]
            panel(plot_learning(lr, axes[1, 1]), "d", f"XOR learning, g_som_out = {lr['g_som_out']:g}, "
                                                      f"baseline {lr.get('baseline', 'none')}")
        else:
            axes[1, 1].set_visible(False)
        fig.suptitle(f"Spiking dendritic microcircuit on XOR {'-'.join(map(str, record['sizes']))}, symmetric "
                     f"top-down weights\n(brian2, Poisson two-compartment neurons, r_max {record['r_max_hz']:g} Hz)")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

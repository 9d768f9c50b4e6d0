"""Figure: spiking equilibrium propagation vs the implicit gradient and rate EP.

Reads ``results/ep_spiking/beta_*.json`` and ``sample.json`` (written by
``experiments/ep_spiking.py``) and writes ``figures/ep_spiking.png``:

(a) global cosine of the trial-averaged spiking update (symmetric nudging) with the implicit
    gradient vs the number of trials averaged, one line per beta (mean ± s.d. over disjoint
    blocks of trials), rate EP at the same beta as a dotted line of the same colour;
(b) the bias/variance trade-off in beta: bias of the update averaged over all trials and noise
    of that average, relative to the gradient norm; right axis: the cosine per coupling;
(c) trial-averaged rates of the free, +beta and -beta phases for one sample (dots, ± s.e.m.)
    with the rate-equivalent fixed points (bars);
(d) a spike raster of that sample in one trial, phases shaded, settling hatched.

It never simulates anything.

    python figures/ep_spiking.py [--results results] [--out figures/ep_spiking.png]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import (
    BLUE,
    GREEN,
    ORANGE,
    LINE_COLORS,
    PURPLE,
    VERMILLION,
    figure,
    figure_data,
    figure_parser,
    guide,
    panel,
    plain_log_axis,
    save,
    source,
    style,
)
from neurosim.plotting import (
    plot_cosine_vs_trials as curve,
)

PHASE_COLORS = {"free": "0.35", "plus": VERMILLION, "minus": BLUE}
PHASE_LABELS = {"free": "free (β = 0)", "plus": "nudged +β", "minus": "nudged −β"}


def collect(results) -> dict:
    """Every beta's record (sorted by beta) and the sample record, without provenance."""
    folder = results.folder("ep_spiking", "python experiments/ep_spiking.py", "beta_*.json")
    runs = sorted((json.loads(p.read_text()) for p in folder.glob("beta_*.json")), key=lambda r: r["config"]["beta"])
    sample = json.loads((folder / "sample.json").read_text()) if (folder / "sample.json").exists() else None
    strip = lambda r: {k: v for k, v in r.items() if k != "provenance"}  # noqa: E731
    return {"runs": [strip(r) for r in runs], "sample": strip(sample) if sample else None,
            "source": source(runs[0], "ep_spiking")}


def plot_trials(runs, ax=None, nudging="symmetric"):
    """Panel (a): cosine with the implicit gradient vs trials averaged, per beta; returns the Axes."""
    for run, color in zip(runs, LINE_COLORS[1:]):
        rows = run["nudgings"][nudging]["rows"]
        k = np.array([r["trials"] for r in rows])
        mean = np.array([r["implicit_cosine_mean"] for r in rows])
        std = np.array([r["implicit_cosine_std"] if r["implicit_cosine_std"] is not None else 0.0 for r in rows])
        curve(k, mean, spread=std, ax=ax, base=10, color=color, label=f"β = {run['config']['beta']:g}",
              ylabel="cosine with the implicit gradient")
        ax.axhline(run["nudgings"][nudging]["rate_ep_vs_implicit_cosine"], color=color, ls=":", lw=1.4)
    ax.plot([], [], color="0.3", ls=":", lw=1.4, label="rate EP, same β (dotted)")
    guide(ax, y=0.9, label="0.9 (the target)", color="k", ls="--", lw=0.8)
    ax.set_xlabel(f"trials averaged per sample ({runs[0]['config'].get('batch', 8)} samples)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_beta_tradeoff(runs, ax=None, nudging="symmetric"):
    """Panel (b): bias and noise against beta (left), cosine per coupling (right); returns the Axes."""
    beta = np.array([r["config"]["beta"] for r in runs])
    nd = [r["nudgings"][nudging] for r in runs]
    n = np.array([r["config"]["n_trials"] for r in runs])
    gnorm = np.array([d["gradient_norm"] for d in nd])
    bias = np.array([d["bias_norm_vs_implicit"] for d in nd]) / gnorm
    noise = np.array([d["noise_norm_one_trial"] for d in nd]) / np.sqrt(n) / gnorm
    rate_bias = np.array([d["rate_ep_bias_norm"] for d in nd]) / gnorm
    ax.plot(beta, noise, "s-", color=PURPLE, label="noise of the mean, ‖σ₁‖/√n")
    # a bias estimate of 0 means "below the noise of the mean": drawn as an open marker at the noise level
    hidden = bias <= 0
    ax.plot(beta[~hidden], bias[~hidden], "o-", color=ORANGE, label="bias of spiking EP")
    if hidden.any():
        ax.plot(beta[hidden], noise[hidden], "o", mfc="none", color=ORANGE, label="spiking bias below the noise")
    ax.plot(beta, rate_bias, "^:", color="0.4", label="bias of rate EP")
    ax.set_xscale("log")
    plain_log_axis(ax, "y")
    ax.set_xticks(beta, [f"{b:g}" for b in beta])
    ax.minorticks_off()
    ax.set_xlabel("β (nudging strength, rate units)")
    ax.set_ylabel(f"norm / ‖gradient‖ ({n[0]} trials)")
    ax2 = ax.twinx()
    for name, marker in zip(nd[0]["all_trials"]["per_projection"], ("v", "D")):
        c = [d["all_trials"]["per_projection"][name]["implicit_cosine"] for d in nd]
        ax2.plot(beta, c, marker=marker, ls="--", color=GREEN, label=f"cosine {name} (right)")
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("cosine over all trials", color=GREEN)
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(0, -0.17), fontsize=8, ncols=1)
    return ax


def plot_sample_rates(sample, ax=None):
    """Panel (c): rates of the three phases for one sample, spiking vs rate fixed points; returns the Axes."""
    layers = sample["layers"]
    offsets, ticks, labels, x0 = {}, [], [], 0
    for layer in layers:
        n = len(sample["rates"]["free"][layer])
        offsets[layer] = x0
        ticks += list(range(x0, x0 + n))
        labels += [f"{layer[0]}{i}" for i in range(n)]
        x0 += n + 1
    for j, phase in enumerate(("free", "plus", "minus")):
        for layer in layers:
            xs = offsets[layer] + np.arange(len(sample["rates"][phase][layer])) + (j - 1) * 0.27
            fixed = np.array(sample["rate_fixed_points"][phase][layer]) * 100
            ax.bar(xs, fixed, width=0.27, color=PHASE_COLORS[phase], alpha=0.3)
            ax.errorbar(xs, np.array(sample["rates"][phase][layer]) * 100,
                        yerr=np.array(sample["rates_sem"][phase][layer]) * 100, fmt="o", ms=3.5,
                        color=PHASE_COLORS[phase])
    ax.set_xticks(ticks, labels, fontsize=8.5)
    ax.set_xlabel("unit (h: hidden, o: output)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_ylim(0, 150)
    ax.grid(axis="x", visible=False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", ls="none", color=PHASE_COLORS[p], label=PHASE_LABELS[p])
               for p in PHASE_COLORS]
    handles += [Patch(color=PHASE_COLORS[p], alpha=0.3, label=PHASE_LABELS[p]) for p in PHASE_COLORS]
    ax.legend(handles=handles, fontsize=8, ncols=2, loc="upper left",
              title="dots: spiking (± s.e.m.); bars: rate fixed point")
    return ax


def plot_raster(sample, ax=None):
    """Panel (d): spikes of one trial, the three phases shaded; returns the Axes."""
    phase, settle = sample["phase_s"], sample["settle_s"]
    row, yt, yl = 0, [], []
    for layer in reversed(sample["layers"]):
        r = sample["raster"][layer]
        n = len(sample["rates"]["free"][layer])
        ax.scatter(np.array(r["time_s"]) * 1e3, row + np.array(r["neuron"]), marker="|", s=40, lw=1.2, color="k")
        yt.append(row + (n - 1) / 2)
        yl.append(layer)
        row += n + 1
    for k, name in enumerate(("free", "plus", "minus")):
        ax.axvspan(k * phase * 1e3, (k * phase + settle) * 1e3, facecolor="none", hatch="//", edgecolor="0.75",
                   lw=0, zorder=0, label="settling, not counted" if k == 0 else None)
        ax.axvspan((k * phase + settle) * 1e3, (k + 1) * phase * 1e3, color=PHASE_COLORS[name], alpha=0.15,
                   zorder=0, label=f"counted: {PHASE_LABELS[name]}")
        ax.axvline(k * phase * 1e3, color="k", lw=0.8)
    ax.set_yticks(yt, yl)
    ax.set_ylim(-1, row)
    ax.grid(False)
    ax.set_xlabel("time (ms)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.17), fontsize=8, ncols=1)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    runs, sample = data["runs"], data["sample"]
    with style():
        fig, axes = figure(2, 2, height=10.2)
        panel(plot_trials(runs, axes[0, 0]), "a", "spiking EP (symmetric) vs trials")
        panel(plot_beta_tradeoff(runs, axes[0, 1]), "b", "bias and noise against β")
        if sample is not None:
            panel(plot_sample_rates(sample, axes[1, 0]), "c", f"sample 0, β = {sample['config']['beta']:g}: "
                                                              "trial mean ± s.e.m.")
            panel(plot_raster(sample, axes[1, 1]), "d", "one trial of sample 0")
        else:
            axes[1, 0].set_visible(False)
            axes[1, 1].set_visible(False)
        fig.suptitle("Spiking equilibrium propagation (LIF 6-8-3, brian2) vs the implicit gradient of the "
                     "rate-equivalent network")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

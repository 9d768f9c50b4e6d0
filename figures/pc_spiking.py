"""Figure: spiking predictive coding -- alignment vs trials and nudge, and one presentation.

Reads ``<results>/pc_spiking/run.json`` (written by ``experiments/pc_spiking.py``) and draws
``figures/pc_spiking.png``:

(a) cosine of the trial-averaged spiking update with backprop (= rate ``pc-fpa`` on the
    rate-equivalent network) vs number of trials, over all projections and per projection
    (median over network seeds; thin grey: each seed), with the noise-limited cosine
    predicted from the trial-to-trial variance;
(b) global cosine vs the nudge h of the error pairs: spiking (finite trials) and the
    circuit's rate limit without spikes (the bias of the central difference);
(c) raster of one presentation (trial 0, sample 0): value and ± error populations;
(d) error units (ρ(E+) − ρ(E−)) / 2h of sample 0 vs time (mean over trials, 10 ms bins), with
    the rate-PC equilibrium errors as dashed lines.

It only reads results and draws.

    python figures/pc_spiking.py [--results results] [--out figures/pc_spiking.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    BLACK,
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
    plot_cosine_vs_trials,
    save,
    style,
    whole_record,
)

POP_COLORS = {"value": BLUE, "error+": VERMILLION, "error-": GREEN}


def plot_trials(record, ax):
    """Panel (a): cosine with backprop against trials averaged; returns the Axes."""
    rows = record["trials"]
    trials = sorted({r["n_trials"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    layers = [k for k in rows[0]["vs_backprop"] if k not in ("global", "norm_ratio")]

    def curve(seed, key):
        return [next(r["vs_backprop"][key] for r in rows if r["seed"] == seed and r["n_trials"] == n)
                for n in trials]

    for k, seed in enumerate(seeds):
        ax.plot(trials, curve(seed, "global"), "-", color="0.6", lw=0.8,
                label="all projections, each seed" if k == 0 else None)
    glob = np.array([curve(seed, "global") for seed in seeds])
    plot_cosine_vs_trials(trials, np.median(glob, axis=0), ax=ax, base=10, color=BLACK, lw=2.4,
                          label="all projections, median", ylabel="cosine with backprop (= rate pc-fpa)")
    for key, colour, marker in zip(layers, [BLUE, ORANGE, GREEN, PURPLE], "s^Dv"):
        per = np.array([curve(seed, key) for seed in seeds])
        ax.plot(trials, np.median(per, axis=0), ls="--", marker=marker, color=colour, lw=1.3, ms=4,
                label=f"{key}, median")
    noise = np.array([[r["noise_limited"] for r in rows if r["n_trials"] == n] for n in trials])
    ax.plot(trials, np.median(noise, axis=1), ":", color=VERMILLION, lw=2,
            label="predicted from spike-count noise, median")
    guide(ax, y=0.9, label="0.9 (the target)", ls="-.")
    ax.set_ylim(min(0.85, float(glob.min()) - 0.02), 1.005)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_nudges(record, ax):
    """Panel (b): global cosine against the nudge h, spiking and the noise-free rate limit; returns the Axes."""
    rows = record["nudges"]
    seeds = sorted({r["seed"] for r in rows})
    for seed, colour in zip(seeds, LINE_COLORS[1:]):
        mine = [r for r in rows if r["seed"] == seed]
        h = [r["nudge"] for r in mine]
        ax.plot(h, [r["vs_backprop"]["global"] for r in mine], "o-", color=colour, label=f"seed {seed}")
        ax.plot(h, [r["finite_nudge_vs_backprop"]["global"] for r in mine], "s--", color=colour, alpha=0.75)
    n_trials = rows[0]["n_trials"]
    ax.plot([], [], "o-", color="0.3", label=f"spiking, {n_trials} trials")
    ax.plot([], [], "s--", color="0.3", label="rate limit of the circuit (no spikes)")
    ax.set_xscale("log")
    ticks = sorted({r["nudge"] for r in rows})
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.set_xlabel("nudge h of the error pair (threshold units)")
    ax.set_ylabel("cosine with backprop")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.16), fontsize=8, ncols=2)
    return ax


def plot_raster(record, ax):
    """Panel (c): spikes of every population in one presentation; returns the Axes."""
    course = record["course"]
    order = [f"{course['input']}/value"]
    for layer in course["layers"]:
        order += [f"{layer}/value", f"{layer}/error+", f"{layer}/error-"]
    base, ticks, labels = 0, [], []
    for key in order:
        data = course["raster"][key]
        size = len(course["rates"][key][0])
        pop = key.split("/")[1]
        colour = "0.4" if key.startswith(course["input"]) else POP_COLORS[pop]
        ax.scatter(np.asarray(data["time_s"]) * 1e3, base + np.asarray(data["unit"]), s=30, lw=1.2,
                   color=colour, marker="|")
        ticks.append(base + (size - 1) / 2)
        labels.append(key.replace("/value", " value").replace("/error", " error "))
        base += size + 1
    guide(ax, x=course["settle_s"] * 1e3, label="counting starts", color="k", ls="--")
    ax.set_yticks(ticks, labels, fontsize=8.5)
    ax.set_ylim(-1, base)
    ax.grid(False)
    ax.set_xlabel("time in the presentation (ms)")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_errors(record, ax):
    """Panel (d): error units over time against the rate-PC equilibrium errors; returns the Axes."""
    course = record["course"]
    h = course["nudge"]
    n_bins = len(course["rates"][f"{course['layers'][0]}/value"])
    t_ms = (np.arange(n_bins) + 0.5) * course["bin_s"] * 1e3
    k = 0
    for layer in course["layers"]:
        rates = course["rates"]
        eps = (np.asarray(rates[f"{layer}/error+"]) - np.asarray(rates[f"{layer}/error-"])) / (2 * h)
        ref = np.asarray(course["rate_pc_errors"][layer])
        for i in range(min(3, eps.shape[1])):
            colour = LINE_COLORS[1 + k % 6]
            ax.plot(t_ms, eps[:, i], "-", color=colour, lw=1.3, label=f"{layer}[{i}]")
            ax.axhline(ref[i], color=colour, ls="--", lw=1)
            k += 1
    ax.plot([], [], "k--", lw=1, label="rate-PC equilibrium")
    guide(ax, x=course["settle_s"] * 1e3, label="counting starts", color="k", ls="-.")
    ax.set_xlabel("time in the presentation (ms)")
    ax.set_ylabel("(ρ(E+) − ρ(E−)) / 2h  (100 Hz per threshold)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.16), fontsize=8, ncols=3)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("pc_spiking"))
    cfg = record["config"]
    with style():
        fig, axes = figure(2, 2, height=10.2)
        seeds = len({r["seed"] for r in record["trials"]})
        panel(plot_trials(record, axes[0, 0]), "a", f"alignment vs trials ({seeds} seeds, h = {cfg['nudge']:g})")
        panel(plot_nudges(record, axes[0, 1]), "b", "alignment vs nudge: bias and noise")
        panel(plot_raster(record, axes[1, 0]), "c", "one presentation (trial 0, sample 0)")
        panel(plot_errors(record, axes[1, 1]), "d", "error units relax to rate PC")
        fig.suptitle(f"Spiking predictive coding (fixed prediction) in brian2, LIF {'-'.join(map(str, cfg['sizes']))}: "
                     "value and ± error populations")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: spiking equilibrium propagation vs the implicit gradient and rate EP.

Reads ``results/ep_spiking/beta_*.json`` and ``sample.json`` (written by
``experiments/ep_spiking.py``) and writes ``figures/ep_spiking.png``:

(a) global cosine of the trial-averaged spiking update (symmetric nudging) with the implicit
    gradient vs the number of trials averaged, one line per beta (mean +- s.d. over disjoint
    blocks of trials), rate EP at the same beta dotted;
(b) the bias/variance trade-off in beta: bias of the 160-trial update and noise of the
    average, relative to the gradient norm, and the cosine per coupling;
(c) trial-averaged rates of the free, +beta and -beta phases for one sample (dots, +- s.e.m.)
    with the rate-equivalent fixed points (bars);
(d) a spike raster of that sample in one trial, phases shaded.

It never simulates anything.

    python figures/ep_spiking.py [--results results] [--out figures]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASE_COLORS = {"free": "0.35", "plus": "tab:red", "minus": "tab:blue"}
PHASE_LABELS = {"free": "free (β = 0)", "plus": "nudged +β", "minus": "nudged −β"}


def load(results: Path):
    runs = sorted((json.loads(p.read_text()) for p in (results / "ep_spiking").glob("beta_*.json")),
                  key=lambda r: r["config"]["beta"])
    sample_path = results / "ep_spiking" / "sample.json"
    sample = json.loads(sample_path.read_text()) if sample_path.exists() else None
    return runs, sample


def plot_cosine_vs_trials(runs, ax=None, nudging="symmetric"):
    ax = ax or plt.gca()
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(runs), 1)))
    for run, color in zip(runs, colors):
        beta = run["config"]["beta"]
        rows = run["nudgings"][nudging]["rows"]
        k = np.array([r["trials"] for r in rows])
        mean = np.array([r["implicit_cosine_mean"] for r in rows])
        std = np.array([r["implicit_cosine_std"] if r["implicit_cosine_std"] is not None else 0.0 for r in rows])
        ax.errorbar(k, mean, yerr=std, color=color, marker="o", ms=4, capsize=2, label=f"β = {beta:g}")
        ax.axhline(run["nudgings"][nudging]["rate_ep_vs_implicit_cosine"], color=color, ls=":", lw=1)
    ax.axhline(0.9, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("trials averaged per sample (8 samples)")
    ax.set_ylabel("cosine with implicit gradient")
    ax.set_title(f"(a) spiking EP ({nudging}) vs trials; dotted: rate EP")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_beta_tradeoff(runs, ax=None, nudging="symmetric"):
    ax = ax or plt.gca()
    beta = np.array([r["config"]["beta"] for r in runs])
    nd = [r["nudgings"][nudging] for r in runs]
    n = np.array([r["config"]["n_trials"] for r in runs])
    gnorm = np.array([d["gradient_norm"] for d in nd])
    bias = np.array([d["bias_norm_vs_implicit"] for d in nd]) / gnorm
    noise = np.array([d["noise_norm_one_trial"] for d in nd]) / np.sqrt(n) / gnorm
    rate_bias = np.array([d["rate_ep_bias_norm"] for d in nd]) / gnorm
    ax.loglog(beta, noise, "s-", color="tab:purple", label="noise of the mean (‖σ₁‖/√n)")
    # a bias estimate of 0 means "below the noise of the mean": drawn as an open marker at the noise level
    hidden = bias <= 0
    ax.loglog(beta[~hidden], bias[~hidden], "o-", color="tab:orange", label="bias of spiking EP")
    ax.loglog(beta[hidden], noise[hidden], "o", mfc="none", color="tab:orange", label="spiking bias < noise")
    ax.loglog(beta, rate_bias, "^:", color="0.4", label="bias of rate EP")
    ax.set_xlabel("β (nudging strength, rate units)")
    ax.set_ylabel("norm / ‖gradient‖ (160 trials)")
    ax.set_title("(b) bias/variance in β; right: cosine per coupling")
    ax.legend(loc="lower center", fontsize=7)
    ax2 = ax.twinx()
    for name, marker in zip(nd[0]["all_trials"]["per_projection"], ("v", "D")):
        c = [d["all_trials"]["per_projection"][name]["implicit_cosine"] for d in nd]
        ax2.plot(beta, c, marker=marker, ls="--", color="tab:green", alpha=0.8, label=f"cos {name}")
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("cosine (all trials)", color="tab:green")
    ax2.legend(loc="lower right", fontsize=7)
    return ax


def plot_sample_rates(sample, ax=None):
    ax = ax or plt.gca()
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
            xs = offsets[layer] + np.arange(len(sample["rates"][phase][layer])) + (j - 1) * 0.25
            fixed = np.array(sample["rate_fixed_points"][phase][layer]) * 100
            ax.bar(xs, fixed, width=0.25, color=PHASE_COLORS[phase], alpha=0.3,
                   label=f"rate fixed point, {PHASE_LABELS[phase]}" if layer == layers[0] else None)
            ax.errorbar(xs, np.array(sample["rates"][phase][layer]) * 100,
                        yerr=np.array(sample["rates_sem"][phase][layer]) * 100, fmt="o", ms=3,
                        color=PHASE_COLORS[phase], label=f"spiking, {PHASE_LABELS[phase]}" if layer == layers[0]
                        else None)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_xlabel("unit (h: hidden1, o: output)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(f"(c) sample 0, β = {sample['config']['beta']:g}: trial mean ± s.e.m.")
    ax.set_ylim(0, 125)
    ax.legend(fontsize=6.5, ncol=2, loc="upper center")
    return ax


def plot_raster(sample, ax=None):
    ax = ax or plt.gca()
    phase, settle = sample["phase_s"], sample["settle_s"]
    row = 0
    yt, yl = [], []
    for layer in reversed(sample["layers"]):
        r = sample["raster"][layer]
        n = len(sample["rates"]["free"][layer])
        ax.plot(np.array(r["time_s"]) * 1e3, row + np.array(r["neuron"]), "|", ms=5, color="k")
        yt.append(row + (n - 1) / 2)
        yl.append(layer)
        row += n + 1
    for k, name in enumerate(("free", "plus", "minus")):
        ax.axvspan(k * phase * 1e3, (k * phase + settle) * 1e3, facecolor="none", hatch="//", edgecolor="0.8",
                   lw=0, zorder=0)
        ax.axvspan((k * phase + settle) * 1e3, (k + 1) * phase * 1e3, color=PHASE_COLORS[name], alpha=0.15, zorder=0)
        ax.axvline(k * phase * 1e3, color="k", lw=0.8)
        ax.text((k + 0.5) * phase * 1e3, row - 0.3, PHASE_LABELS[name], ha="center", fontsize=8)
    ax.set_yticks(yt)
    ax.set_yticklabels(yl)
    ax.set_ylim(-1, row + 0.8)
    ax.set_xlabel("time (ms); hatched: settling, not counted")
    ax.set_title("(d) one trial of sample 0")
    return ax


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args(argv)
    runs, sample = load(Path(args.results))
    if not runs:
        print(f"no results in {Path(args.results) / 'ep_spiking'}; run experiments/ep_spiking.py first",
              file=sys.stderr)
        return 1
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    plot_cosine_vs_trials(runs, axes[0, 0])
    plot_beta_tradeoff(runs, axes[0, 1])
    if sample is not None:
        plot_sample_rates(sample, axes[1, 0])
        plot_raster(sample, axes[1, 1])
    fig.suptitle("Spiking equilibrium propagation (LIF 6-8-3, brian2) vs implicit gradient of the rate-equivalent net")
    fig.tight_layout()
    out = Path(args.out) / "ep_spiking.png"
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

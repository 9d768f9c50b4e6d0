"""Figure: spiking predictive coding -- alignment vs trials and nudge, and one presentation.

Reads ``<results>/pc_spiking/run.json`` (written by ``experiments/pc_spiking.py``) and draws
``figures/pc_spiking.png``:

A. cosine of the trial-averaged spiking update with backprop (= rate ``pc-fpa`` on the
   rate-equivalent network) vs number of trials, global and per projection (mean over seeds,
   band = min..max), with the noise-limited cosine predicted from the trial-to-trial variance;
B. global cosine vs the nudge h of the error pairs: spiking (finite trials) and the circuit's
   rate limit without spikes (bias of the central difference);
C. raster of one presentation (trial 0, sample 0): value and +/- error populations;
D. error units (rho(E+) - rho(E-)) / 2h of sample 0 vs time (mean over trials, 10 ms bins),
   with the rate-PC equilibrium errors as dashed lines.

It only reads results and draws.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def _load(results: str) -> dict:
    path = Path(results)
    if path.is_dir():
        path = path / "pc_spiking" / "run.json" if (path / "pc_spiking").is_dir() else path / "run.json"
    if not path.exists():
        raise SystemExit(f"figures/pc_spiking.py: no results at {path}; run python experiments/pc_spiking.py first")
    return json.loads(path.read_text())


def plot_trials(record, ax):
    rows = record["trials"]
    trials = sorted({r["n_trials"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    layers = [k for k in rows[0]["vs_backprop"] if k not in ("global", "norm_ratio")]

    def curve(seed, key):
        return [next(r["vs_backprop"][key] for r in rows if r["seed"] == seed and r["n_trials"] == n)
                for n in trials]

    for k, seed in enumerate(seeds):
        ax.plot(trials, curve(seed, "global"), "-", color="grey", lw=0.8, alpha=0.7,
                label="global, one network seed each" if k == 0 else None)
    glob = np.array([curve(seed, "global") for seed in seeds])
    ax.plot(trials, np.median(glob, axis=0), "o-", color="k", lw=2, ms=4, label="global, median over seeds")
    for key, colour in zip(layers, ["tab:blue", "tab:orange", "tab:green", "tab:red"]):
        per = np.array([curve(seed, key) for seed in seeds])
        ax.plot(trials, np.median(per, axis=0), "s--", color=colour, lw=1.2, ms=3, label=f"{key}, median")
    noise = np.array([[r["noise_limited"] for r in rows if r["n_trials"] == n] for n in trials])
    ax.plot(trials, np.median(noise, axis=1), ":", color="tab:purple", lw=1.5,
            label="count-noise limit (predicted), median")
    ax.axhline(0.9, color="tab:red", ls=":", lw=1, label="target 0.9")
    ax.set_xscale("log")
    ax.set_xlabel("trials averaged (independent Poisson inputs)")
    ax.set_ylabel("cosine with backprop (= rate pc-fpa)")
    ax.set_title(f"A. alignment vs trials ({'-'.join(map(str, record['config']['sizes']))}, "
                 f"{len(seeds)} network seeds, h = {record['config']['nudge']:g})", fontsize=10)
    ax.set_ylim(min(0.85, float(glob.min()) - 0.02), 1.005)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def plot_nudges(record, ax):
    rows = record["nudges"]
    seeds = sorted({r["seed"] for r in rows})
    colours = ["k", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:brown"]
    for seed, colour in zip(seeds, colours):
        mine = [r for r in rows if r["seed"] == seed]
        h = [r["nudge"] for r in mine]
        ax.plot(h, [r["vs_backprop"]["global"] for r in mine], "o-", color=colour,
                label=f"seed {seed}: spiking, {mine[0]['n_trials']} trials")
        ax.plot(h, [r["finite_nudge_vs_backprop"]["global"] for r in mine], "s--", color=colour, alpha=0.6,
                label=f"seed {seed}: rate limit of the circuit (no spikes)")
    ax.set_xscale("log")
    ticks = sorted({r["nudge"] for r in rows})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.set_xlabel("nudge h of the error pair (threshold units)")
    ax.set_ylabel("global cosine with backprop")
    ax.set_title("B. cosine vs nudge: spiking (solid) and its noise-free rate limit (dashed)", fontsize=10)
    ax.legend(fontsize=6, loc="lower left", ncol=1)
    ax.grid(alpha=0.3)
    return ax


def plot_raster(record, ax):
    course = record["course"]
    order = [f"{course['input']}/value"]
    for layer in course["layers"]:
        order += [f"{layer}/value", f"{layer}/error+", f"{layer}/error-"]
    colours = {"value": "tab:blue", "error+": "tab:red", "error-": "tab:green"}
    base, ticks, labels = 0, [], []
    for key in order:
        data = course["raster"][key]
        size = len(course["rates"][key][0])
        pop = key.split("/")[1]
        ax.scatter(np.asarray(data["time_s"]) * 1e3, base + np.asarray(data["unit"]), s=2,
                   color=colours[pop] if not key.startswith(course["input"]) else "grey", marker="|")
        ticks.append(base + (size - 1) / 2)
        labels.append(key.replace("/", "\n"))
        base += size + 1
    ax.axvline(course["settle_s"] * 1e3, color="k", ls="--", lw=0.8)
    ax.text(course["settle_s"] * 1e3 + 3, base - 0.5, "counting window", fontsize=7, va="top")
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_xlabel("time in presentation (ms)")
    ax.set_ylabel("population (unit)")
    ax.set_title("C. one presentation (trial 0, sample 0)", fontsize=10)
    return ax


def plot_errors(record, ax):
    course = record["course"]
    h = course["nudge"]
    n_bins = len(course["rates"][f"{course['layers'][0]}/value"])
    t_ms = (np.arange(n_bins) + 0.5) * course["bin_s"] * 1e3
    styles = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for layer in course["layers"]:
        rates = course["rates"]
        eps = (np.asarray(rates[f"{layer}/error+"]) - np.asarray(rates[f"{layer}/error-"])) / (2 * h)
        ref = np.asarray(course["rate_pc_errors"][layer])
        shown = min(3, eps.shape[1])
        for i in range(shown):
            colour = styles[(i + (3 if layer != course["layers"][-1] else 0)) % len(styles)]
            ax.plot(t_ms, eps[:, i], "-", color=colour, lw=1, label=f"{layer}[{i}] spiking")
            ax.axhline(ref[i], color=colour, ls="--", lw=1)
    ax.axvline(course["settle_s"] * 1e3, color="k", ls="--", lw=0.8)
    ax.set_xlabel("time in presentation (ms)")
    ax.set_ylabel("error unit (rho+ - rho-)/2h (x 100 Hz / threshold)")
    ax.set_title("D. error units relax to rate PC (dashed), sample 0", fontsize=10)
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results root (or the run.json file itself)")
    p.add_argument("--out", default=str(HERE / "pc_spiking.png"))
    args = p.parse_args(argv)
    record = _load(args.results)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    plot_trials(record, axes[0, 0])
    plot_nudges(record, axes[0, 1])
    plot_raster(record, axes[1, 0])
    plot_errors(record, axes[1, 1])
    fig.suptitle("Spiking predictive coding (fixed prediction) in brian2: value and +/- error LIF populations",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

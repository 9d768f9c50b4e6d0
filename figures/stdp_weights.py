"""Figure: Song et al. (2000) -- the weight distribution under additive STDP over time.

Reads ``results/stdp_song/run.json`` (``experiments/stdp_song.py``); writes
``figures/stdp_weights.png``: (a) weight histograms at several times, (b) the fraction of
weights within 10 % of 0 or w_max and the output rate against time.  Never simulates.

    python figures/stdp_weights.py [--results results] [--out figures]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosim.plotting import read_results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).parent))
    args = p.parse_args(argv)
    rec = read_results(args.results, "stdp_song")
    w_max = rec["config"]["rule"]["w_max"]
    w = np.array(rec["weights"]) / w_max
    t = np.array(rec["times_s"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    picks = sorted({0, len(t) // 8, len(t) // 4, len(t) // 2, len(t) - 1})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(picks)))
    for k, c in zip(picks, colors):
        a.hist(w[k], bins=25, range=(0, 1), histtype="step", lw=1.8, color=c, label=f"t = {t[k]:g} s")
    a.set_xlabel(r"weight $w / w_{max}$")
    a.set_ylabel(f"number of synapses (of {w.shape[1]})")
    a.set_title("(a) weight distribution, additive STDP")
    a.legend(fontsize=8, loc="upper center")
    edge = np.array(rec["edge_fraction_10pct"])
    b.plot(t, 100 * edge, "o-", ms=3, color="tab:red", label="within 10 % of 0 or $w_{max}$")
    b.plot(t, 100 * np.mean(w <= 0.1, axis=1), "--", color="tab:blue", label=r"$w \leq 0.1\,w_{max}$")
    b.plot(t, 100 * np.mean(w >= 0.9, axis=1), "--", color="tab:orange", label=r"$w \geq 0.9\,w_{max}$")
    b.set_xlabel("biological time (s)")
    b.set_ylabel("synapses (%)")
    b.set_ylim(0, 100)
    b2 = b.twinx()
    b2.plot(0.5 * (t[1:] + t[:-1]), rec["post_rate_hz"], color="0.5", lw=1, label="output rate")
    b2.set_ylabel("output rate (Hz)", color="0.4")
    b.legend(fontsize=8, loc="upper left")
    b.set_title(f"(b) {rec['config']['n_inputs']} Poisson inputs at {rec['config']['input_rate_hz']:g} Hz -> 1 LIF")
    fig.suptitle("Song, Miller & Abbott (2000) in brian2", fontsize=10)
    fig.tight_layout()
    path = Path(args.out) / "stdp_weights.png"
    fig.savefig(path, dpi=120)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: Song et al. (2000) -- the weight distribution under additive STDP over time.

Reads ``results/stdp_song/run.json`` (``experiments/stdp_song.py``); writes
``figures/stdp_weights.png``: (a) weight histograms at several times, (b) the fraction of
weights within 10 % of 0 or w_max, near each bound, and the output rate against time.
Never simulates.

    python figures/stdp_weights.py [--results results] [--out figures/stdp_weights.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (BLUE, ORANGE, LINE_COLORS, VERMILLION, figure, figure_data, figure_parser, panel, save,
                               source, style)

BINS = 25


def collect(results) -> dict:
    """Histograms of w / w_max at five times, and the fractions near the bounds at every snapshot."""
    rec = results.json("stdp_song", command="python experiments/stdp_song.py")
    w = np.array(rec["weights"]) / rec["config"]["rule"]["w_max"]
    t = np.array(rec["times_s"])
    picks = sorted({0, len(t) // 8, len(t) // 4, len(t) // 2, len(t) - 1})
    return {"times_s": t, "n_synapses": w.shape[1], "edges": np.linspace(0, 1, BINS + 1),
            "histograms": [{"t": t[k], "counts": np.histogram(w[k], bins=BINS, range=(0, 1))[0]} for k in picks],
            "edge_fraction": rec["edge_fraction_10pct"], "low_fraction": np.mean(w <= 0.1, axis=1),
            "high_fraction": np.mean(w >= 0.9, axis=1), "post_rate_hz": rec["post_rate_hz"],
            "n_inputs": rec["config"]["n_inputs"], "input_rate_hz": rec["config"]["input_rate_hz"],
            "source": source(rec, "stdp_song")}


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    d = figure_data(args, collect)
    t = np.array(d["times_s"])
    with style():
        fig, (a, b) = figure(1, 2, height=4.8)
        for h, color in zip(d["histograms"], LINE_COLORS[1:]):
            a.stairs(h["counts"], d["edges"], lw=1.8, color=color, label=f"t = {h['t']:g} s")
        a.set_xlabel("weight w / w_max")
        a.set_ylabel(f"synapses (of {d['n_synapses']})")
        a.legend(loc="upper center", title="biological time")
        panel(a, "a", "weight distribution, additive STDP")
        b.plot(t, 100 * np.array(d["edge_fraction"]), "o-", ms=3, color=VERMILLION,
               label="within 10 % of 0 or w_max")
        b.plot(t, 100 * np.array(d["low_fraction"]), "--", color=BLUE, label="w ≤ 0.1 w_max")
        b.plot(t, 100 * np.array(d["high_fraction"]), "--", color=ORANGE, label="w ≥ 0.9 w_max")
        b.set_xlabel("biological time (s)")
        b.set_ylabel("synapses (%)")
        b.set_ylim(0, 100)
        b2 = b.twinx()
        b2.plot(0.5 * (t[1:] + t[:-1]), d["post_rate_hz"], color="0.5", lw=1.2, label="output rate (right axis)")
        b2.set_ylabel("output rate (Hz)", color="0.4")
        b2.grid(False)
        b2.spines["right"].set_visible(True)
        h1, l1 = b.get_legend_handles_labels()
        h2, l2 = b2.get_legend_handles_labels()
        b.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(0, -0.18), ncols=2, fontsize=8)
        panel(b, "b", f"{d['n_inputs']} Poisson inputs at {d['input_rate_hz']:g} Hz → 1 LIF")
        fig.suptitle("Song, Miller & Abbott (2000) in brian2")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: mirror symmetry (Rumelhart, Hinton & Williams 1986) -- sweeps to solve per rule vs
the paper's 1,425, and the hidden-unit weights backprop learned.

Reads ``<results>/rhw1986_mirror/summary.json`` and ``runs/*.json`` (written by
``experiments/rhw1986_mirror.py``); writes ``figures/rhw1986_mirror.png``.  It never trains.

Usage::

    python figures/rhw1986_mirror.py [--results results] [--out figures/rhw1986_mirror.png]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    path = Path(args.results) / "rhw1986_mirror" / "summary.json"
    if not path.exists():
        sys.exit(f"error: {path} not found; run `python experiments/rhw1986_mirror.py` first")
    import numpy as np
    from matplotlib.figure import Figure

    summary = json.loads(path.read_text())
    rows, max_sweeps = summary["rows"], summary["max_sweeps"]
    fig = Figure(figsize=(12.5, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.3, 1])
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for i, row in enumerate(rows):
        solved = [s for s in row["sweeps"] if s is not None]
        if solved:
            ax1.boxplot([solved], positions=[i], widths=0.5, showfliers=False)
            ax1.scatter(i + rng.uniform(-0.15, 0.15, len(solved)), solved, s=12, color="tab:blue", zorder=3)
        n_fail = len(row["sweeps"]) - len(solved)
        if n_fail:
            ax1.scatter([i], [max_sweeps * 1.08], marker="^", color="tab:red", s=30, zorder=3)
            ax1.text(i, max_sweeps * 1.14, f"{n_fail} unsolved", ha="center", fontsize=7, color="tab:red")
    ax1.axhline(summary["paper_sweeps"], color="black", ls="--", lw=1, label="RHW 1986: 1,425 sweeps")
    ax1.axhline(max_sweeps, color="tab:red", ls=":", lw=0.8, label=f"budget ({max_sweeps} sweeps)")
    ax1.set_xticks(range(len(rows)), [f"{r['rule']}\n{r['n_solved']}/{r['n_seeds']}" for r in rows], fontsize=8)
    ax1.set_ylim(0, max_sweeps * 1.22)
    ax1.set_ylabel("sweeps until every output is on the right side of 0.5")
    ax1.set_title("6-2-1 sigmoid, all 64 patterns, SGD η = 6.4 (= 0.1 on the summed gradient), α = 0.9\n"
                  "dots: seeds; label: rule, seeds solved / run", fontsize=9)
    ax1.set_xlim(-0.7, len(rows) - 0.3)
    ax1.legend(fontsize=7, loc="lower right")
    bp = next((r for r in rows if r["rule"] == "backprop" and r["hidden_units"]), None)
    if bp:
        units = bp["hidden_units"][:2]
        width = 0.38
        for j, u in enumerate(units):
            ax2.bar(np.arange(1, 7) + (j - 0.5) * width, u["weights"], width,
                    label=f"hidden unit {j + 1}: antisymmetry error {u['antisymmetry_error']:.3f}, "
                          f"outer : middle : inner = {' : '.join(f'{v:.1f}' for v in u['ratio_outer_middle_inner'])}")
        ax2.axhline(0, color="black", lw=0.6)
        ax2.axvline(3.5, color="grey", lw=0.6, ls=":")
        ax2.set_xticks(range(1, 7))
        ax2.set_xlabel("input position (mirror axis between 3 and 4)")
        ax2.set_ylabel("weight input → hidden unit")
        ax2.set_title("backprop, first solved seed: w_i ≈ −w_(7−i). Pair magnitudes, sorted, median\n"
                      f"over all solved seeds: {bp['median_ratio_sorted'][0]:.1f} : "
                      f"{bp['median_ratio_sorted'][1]:.1f} : {bp['median_ratio_sorted'][2]:.1f} (RHW: 1 : 2 : 4)",
                      fontsize=9)
        ax2.set_ylim(-1.5 * np.abs(units[0]["weights"]).max(), 1.5 * np.abs(units[0]["weights"]).max())
        ax2.legend(fontsize=7, loc="upper center")
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

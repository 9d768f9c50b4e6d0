"""Figure: mirror symmetry (Rumelhart, Hinton & Williams 1986) -- sweeps to solve vs the paper's
1,425 under four criteria, the hidden-unit weights backprop learned, and why feedback alignment
fails (its hidden-layer update turns against the gradient).

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

CRITERION_LABELS = {"sign": "all on right\nside of 0.5", "within_0.2": "all within\n0.2",
                    "within_0.1": "all within\n0.1", "tss_0.04": "Σ err² <\n0.04"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    path = Path(args.results) / "rhw1986_mirror" / "summary.json"
    if not path.exists():
        sys.exit(f"error: rhw1986_mirror: {path} not found; run `python experiments/rhw1986_mirror.py` first")
    import numpy as np
    from matplotlib.figure import Figure

    summary = json.loads(path.read_text())
    if "criteria" not in summary:
        sys.exit(f"error: rhw1986_mirror: {path} is from an older version; rerun "
                 "`python experiments/rhw1986_mirror.py`")
    rows = summary["rows"]
    fig = Figure(figsize=(15, 5.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3, width_ratios=[1.35, 1, 1])
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    ticks, labels, x = [], [], 0
    top = max(r["max_sweeps"] for r in rows)
    for row in rows:
        for c in summary["criteria"]:
            sweeps = row["criteria"][c]["sweeps"]
            solved = [s for s in sweeps if s is not None]
            if solved:
                ax1.boxplot([solved], positions=[x], widths=0.55, showfliers=False)
                ax1.scatter(x + rng.uniform(-0.15, 0.15, len(solved)), solved, s=8, color="tab:blue", zorder=3)
            n_fail = len(sweeps) - len(solved)
            if n_fail:
                ax1.scatter([x], [row["max_sweeps"] * 1.04], marker="^", color="tab:red", s=25, zorder=3)
                ax1.text(x, row["max_sweeps"] * 1.07, f"{n_fail}/{len(sweeps)}\nunsolved", ha="center", va="bottom",
                         fontsize=6, color="tab:red")
            med = row["criteria"][c]["median"]
            if med is not None and np.isfinite(med):
                ax1.text(x, 80, f"{med:.0f}", ha="center", fontsize=6)
            ticks.append(x)
            labels.append(f"{row['rule']}\n{CRITERION_LABELS.get(c, c)}")
            x += 1
        x += 0.6
    ax1.axhline(summary["paper_sweeps"], color="black", ls="--", lw=1, label="RHW 1986: 1,425 sweeps (one run)")
    ax1.set_xticks(ticks, labels, fontsize=6)
    ax1.set_ylim(0, top * 1.22)
    ax1.set_ylabel("sweeps (full-batch updates) until the criterion first holds")
    ax1.set_title(f"6-2-1 sigmoid, 64 patterns, ε = 0.1 on the summed gradient (η = 6.4 on the mean), α = 0.9,\n"
                  f"weights and biases U(-0.3, 0.3) (bias scale {summary['bias_init_scale']:g}). Dots, boxes: solved "
                  "seeds;\nnumbers: median over ALL seeds (unsolved = beyond the budget)", fontsize=8)
    ax1.legend(fontsize=7, loc="upper left")
    bp = next((r for r in rows if r["rule"] == "backprop" and r["hidden_units"]), None)
    if bp:
        units = bp["hidden_units"][:2]
        width = 0.38
        for j, u in enumerate(units):
            ax2.bar(np.arange(1, 7) + (j - 0.5) * width, u["weights"], width,
                    label=f"unit {j + 1}: antisymmetry error {u['antisymmetry_error']:.3f}, pairs outer : middle : "
                          f"inner = {' : '.join(f'{v:.1f}' for v in u['ratio_outer_middle_inner'])}")
        ax2.axhline(0, color="black", lw=0.6)
        ax2.axvline(3.5, color="grey", lw=0.6, ls=":")
        ax2.set_xticks(range(1, 7))
        ax2.set_xlabel("input position (mirror axis between 3 and 4)")
        ax2.set_ylabel("weight input → hidden unit")
        ax2.set_title("backprop, first solved seed: w_i ≈ −w_(7−i). Sorted pair ratio, median over\n"
                      f"solved seeds: {bp['median_ratio_sorted'][0]:.1f} : {bp['median_ratio_sorted'][1]:.1f} : "
                      f"{bp['median_ratio_sorted'][2]:.1f} (RHW: 1 : 2 : 4)", fontsize=8)
        lim = 1.6 * np.abs(units[0]["weights"]).max()
        ax2.set_ylim(-lim, lim)
        ax2.legend(fontsize=6, loc="upper center")
    fa = next((r for r in rows if r.get("feedback_diagnosis")), None)
    if fa:
        for jid, d in zip(fa["job_ids"], fa["feedback_diagnosis"]):
            rec = json.loads((path.parent / "runs" / f"{jid}.json").read_text())
            cos = rec["curves"].get("alignment_projections", {}).get("input->hidden1", [])
            ep = [e for e, c in zip(rec["curves"]["epoch"], cos) if c is not None]
            cos = [c for c in cos if c is not None]
            ax3.plot(ep, cos, lw=0.8, label=f"seed {d['seed']}: B = ({d['feedback_B'][0]:+.2f}, "
                     f"{d['feedback_B'][1]:+.2f}), W2 → ({d['W2'][0]:+.1f}, {d['W2'][1]:+.1f}), "
                     f"loss {d['final_loss']:.3f}")
        ax3.axhline(0, color="black", lw=0.6)
        ax3.set_xscale("log")
        ax3.set_ylim(-1.05, 1.05)
        ax3.set_xlabel("sweep")
        ax3.set_ylabel("cos(FA hidden-layer update, backprop's)")
        ax3.set_title(f"{fa['rule']}: {fa['n_solved']}/{fa['n_seeds']} solved in {fa['max_sweeps']} sweeps; below 0 "
                      "the hidden\nupdate points uphill. Loss 0.0625 = output 0 on every pattern", fontsize=8)
        ax3.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=1)
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

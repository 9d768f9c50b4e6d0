"""Figure: mirror symmetry (Rumelhart, Hinton & Williams 1986) -- sweeps to solve vs the paper's
1,425 under four criteria, the hidden-unit weights backprop learned, and why feedback alignment
fails (its hidden-layer update turns against the gradient).

(a) sweeps until each criterion first holds, per seed that meets it (dots; box: quartiles),
    the number of seeds that never do within the budget printed above, and the paper's one
    run as a labelled line; rules that solve no seed are named in the title of (c);
(b) the input weights of backprop's two hidden units (first solved seed): w_i ≈ −w_(7−i);
(c) the cosine between FA's hidden-layer update and backprop's over training, per seed.

Reads ``<results>/rhw1986_mirror/summary.json`` and ``runs/*.json`` (written by
``experiments/rhw1986_mirror.py``); writes ``figures/rhw1986_mirror.png``.  It never trains.

    python figures/rhw1986_mirror.py [--results results] [--out figures/rhw1986_mirror.png]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import (BLUE, LINE_COLORS, ORANGE, VERMILLION, figure, figure_data, figure_parser, guide,
                               panel, plain_log_axis, save, source, style)

CRITERION_LABELS = {"sign": "right side\nof 0.5", "within_0.2": "within\n0.2", "within_0.1": "within\n0.1",
                    "tss_0.04": "Σ err²\n< 0.04"}
POINTS = 200  # log-spaced samples of each cosine curve (the sweep axis is logarithmic)


def collect(results) -> dict:
    """The summary rows (without per-run weights) and, for the FA seeds, their cosine curves (thinned)."""
    summary = results.json("rhw1986_mirror", "summary.json", command="python experiments/rhw1986_mirror.py")
    if "criteria" not in summary:
        from neurosim.plotting import missing

        missing("rhw1986_mirror: summary.json is from an older version; rerun `python experiments/rhw1986_mirror.py`")
    folder = results.folder("rhw1986_mirror", "python experiments/rhw1986_mirror.py", "summary.json")
    rows = []
    for row in summary["rows"]:
        keep = {k: row.get(k) for k in ("rule", "n_seeds", "max_sweeps", "criteria", "median_ratio_sorted",
                                        "median_antisymmetry_error", "feedback_diagnosis")}
        keep["hidden_units"] = (row.get("hidden_units") or [])[:2]
        curves = []
        for jid, d in zip(row["job_ids"], row.get("feedback_diagnosis") or []):
            rec = json.loads((folder / "runs" / f"{jid}.json").read_text())
            cos = rec["curves"].get("alignment_projections", {}).get("input->hidden1", [])
            pairs = [(e, c) for e, c in zip(rec["curves"]["epoch"], cos) if c is not None]
            idx = np.unique(np.geomspace(1, len(pairs), POINTS).round().astype(int) - 1) if pairs else []
            curves.append({"seed": d["seed"], "sweep": [pairs[i][0] for i in idx],
                           "cosine": [pairs[i][1] for i in idx]})
        keep["alignment_curves"] = curves
        rows.append(keep)
    return {**{k: summary.get(k) for k in ("paper_sweeps", "criteria", "bias_init_scale", "learning_rate",
                                            "learning_rate_summed", "momentum")},
            "rows": rows, "source": source(summary, "rhw1986_mirror")}


def plot_sweeps(data: dict, ax=None):
    """Panel (a): sweeps to each criterion for every rule with a solved seed; returns the Axes."""
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    ticks, labels, x = [], [], 0
    rows = [r for r in data["rows"] if any(v["n_solved"] for v in r["criteria"].values())]
    top = max(r["max_sweeps"] for r in rows)
    for k, row in enumerate(rows):
        color = LINE_COLORS[1 + k]
        for c in data["criteria"]:
            sweeps = row["criteria"][c]["sweeps"]
            solved = [s for s in sweeps if s is not None]
            if solved:
                ax.boxplot([solved], positions=[x], widths=0.55, showfliers=False, medianprops={"color": "k"})
                ax.scatter(x + rng.uniform(-0.15, 0.15, len(solved)), solved, s=14, color=color, zorder=3,
                           label=f"{row['rule']}: one solved seed" if c == data["criteria"][0] else None)
            n_fail = len(sweeps) - len(solved)
            ax.text(x, top * 1.03, f"{n_fail}/{len(sweeps)}", ha="center", va="bottom", fontsize=9,
                    color=VERMILLION if n_fail else "0.4")
            ticks.append(x)
            labels.append(CRITERION_LABELS.get(c, c) if len(rows) == 1 else f"{row['rule']}\n{CRITERION_LABELS[c]}")
            x += 1
        x += 0.6
    guide(ax, y=data["paper_sweeps"], label=f"RHW 1986: {data['paper_sweeps']:,} sweeps (one run)", color="k")
    ax.plot([], [], " ", label="numbers on top: seeds unsolved\nwithin the budget")
    ax.set_xticks(ticks, labels)
    ax.set_ylim(0, top * 1.5)  # room above the data for the legend (it covered the last box)
    ax.set_ylabel("sweeps until the criterion first holds")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper center", ncol=3, fontsize=8.5)
    return ax


def plot_units(bp: dict, ax=None):
    """Panel (b): input weights of backprop's two hidden units; returns the Axes."""
    width = 0.38
    for j, (u, color) in enumerate(zip(bp["hidden_units"], (BLUE, ORANGE))):
        ax.bar(np.arange(1, 7) + (j - 0.5) * width, u["weights"], width, color=color,
               label=f"unit {j + 1}: antisymmetry error {u['antisymmetry_error']:.3f}")
    ax.axhline(0, color="k", lw=0.6)
    guide(ax, x=3.5, label="mirror axis", ls=":")
    ax.set_xticks(range(1, 7))
    ax.set_xlabel("input position")
    ax.set_ylabel("weight input → hidden unit")
    lim = 1.15 * max(np.abs(u["weights"]).max() for u in bp["hidden_units"])
    ax.set_ylim(-lim, lim)
    ax.grid(axis="x", visible=False)
    r = bp["median_ratio_sorted"]
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.2), fontsize=8,
              title=f"pair ratio, median over solved seeds:\n{r[0]:.1f} : {r[1]:.1f} : {r[2]:.1f} (RHW: 1 : 2 : 4)")
    return ax


def plot_feedback(fa: dict, ax=None):
    """Panel (c): cosine of FA's hidden-layer update with backprop's per seed; returns the Axes."""
    for curve, d, color in zip(fa["alignment_curves"], fa["feedback_diagnosis"], LINE_COLORS[1:]):
        ax.plot(curve["sweep"], curve["cosine"], lw=1.1, color=color,
                label=f"seed {d['seed']}: B = ({d['feedback_B'][0]:+.2f}, {d['feedback_B'][1]:+.2f}), "
                      f"loss {d['final_loss']:.3f}")
    ax.axhline(0, color="k", lw=0.6)
    plain_log_axis(ax, "x")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("sweep")
    ax.set_ylabel("cosine with backprop's hidden update")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.2), fontsize=8,
              title="below 0 the hidden update points uphill;\nloss 0.0625: output 0 on every pattern")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    rows = data["rows"]
    bp = next((r for r in rows if r["rule"] == "backprop" and r["hidden_units"]), None)
    fa = next((r for r in rows if r.get("feedback_diagnosis")), None)
    with style():
        fig, _ = figure(0, height=8.6)
        grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.15])
        a = fig.add_subplot(grid[0, :])
        panel(plot_sweeps(data, a), "a", "sweeps to solve, by stopping criterion")
        if bp:
            panel(plot_units(bp, fig.add_subplot(grid[1, 0])), "b", "backprop's hidden units: wᵢ ≈ −w₇₋ᵢ")
        if fa:
            n_solved = fa["criteria"][data["criteria"][0]]["n_solved"]
            panel(plot_feedback(fa, fig.add_subplot(grid[1, 1])), "c",
                  f"{fa['rule']}: {n_solved}/{fa['n_seeds']} solved in {fa['max_sweeps']:,} sweeps")
        fig.suptitle(f"Mirror symmetry, 6-2-1 sigmoid, 64 patterns, ε = {data['learning_rate_summed']:g} on the "
                     f"summed gradient (η = {data['learning_rate']:g} on the mean), α = {data['momentum']:g},\n"
                     f"weights U(−0.3, 0.3), biases U(−{data['bias_init_scale']:g}, {data['bias_init_scale']:g})")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

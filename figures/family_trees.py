"""Figure: Hinton's (1986) family trees -- the weights from the 24 person inputs to the first
hidden layer drawn as Hinton diagrams, and the queries each rule answers.

(a) One Hinton diagram per hidden unit: top row the 12 English people, bottom row their 12
    Italian counterparts (same column = same position in the isomorphic trees), columns
    ordered by generation (1 = oldest) and then branch, so a unit coding nationality shows
    rows of opposite sign, one coding generation shows blocks of columns.  White = positive,
    black = negative, square area proportional to |w|.  The title gives, per factor, the
    largest |correlation| of a unit's 24 weights with it (and at initialisation, when the
    records hold the initial weights).
(b) test queries answered correctly (of 4) and (c) training queries (of 100): one dot per
    seed, the bar the mean over seeds.

Reads ``<results>/family_trees/summary.json`` and ``runs/*.json`` (written by
``experiments/family_trees.py``); writes ``figures/family_trees.png``.  It only reads results.

    python figures/family_trees.py [--results results] [--out figures/family_trees.png] [--rule backprop]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import (BLUE, ORANGE, figure, figure_data, figure_parser, hinton, missing,
                               panel, save, source, style)

FACTORS = ("nationality", "generation", "branch")


def collect(results, rule: str = "backprop", weight_decay: float = 0.0) -> dict:
    """The summary rows, the people, and the first-layer weights of ``rule``'s first seed."""
    from neurosim.data import family_tree_people

    summary = results.json("family_trees", "summary.json", command="python experiments/family_trees.py")
    folder = results.folder("family_trees", "python experiments/family_trees.py", "summary.json")
    row = next((r for r in summary["rows"] if r["rule"] == rule and r.get("weight_decay", 0.0) == weight_decay
                and r["job_ids"]), None)
    if row is None:
        missing(f"no finished '{rule}' run with weight decay {weight_decay:g} in {folder / 'summary.json'}; "
                "run `python experiments/family_trees.py`")
    record = json.loads((folder / "runs" / f"{row['job_ids'][0]}.json").read_text())
    initial = record.get("params_initial")  # recorded by newer sweeps; never recomputed here
    people = [{"name": p.name, "nationality": p.nationality, "generation": p.generation, "branch": p.branch}
              for p in family_tree_people()]
    return {"rows": [{k: r[k] for k in ("rule", "weight_decay", "label", "seeds", "train_correct", "test_correct")}
                     for r in summary["rows"]],
            "epochs": summary["epochs"], "layers": summary["layers"], "people": people,
            "drawn": {"label": row.get("label", rule), "seed": record["job"]["seed"],
                      "weights": np.asarray(record["params"]["input->hidden1"])[:, :24],
                      "initial": None if initial is None else np.asarray(initial["input->hidden1"])[:, :24]},
            "source": source(summary, "family_trees")}


def max_corr(w, factor) -> float:
    """Largest |correlation| over the rows (hidden units) of ``w`` with the 24-vector ``factor``."""
    f = np.asarray(factor, dtype=float)
    return max(abs(np.corrcoef(row, f)[0, 1]) for row in np.asarray(w))


def plot_units(data: dict, axes):
    """Panel (a): a Hinton diagram per hidden unit; returns the coding strengths it found."""
    people = data["people"]
    w = np.asarray(data["drawn"]["weights"])
    order = sorted(range(12), key=lambda i: (people[i]["generation"], people[i]["branch"]))  # stable: couples
    wmax = np.abs(w).max()
    n_cols = axes.shape[1]
    for h, ax in enumerate(axes.ravel()):
        if h >= w.shape[0]:
            ax.set_visible(False)
            continue
        hinton(np.stack([w[h, order], w[h, [12 + i for i in order]]]), ax, wmax)
        ax.set_yticks([0, 1], ["Eng", "Ita"] if h % n_cols == 0 else ["", ""])
        last_row = h >= w.shape[0] - n_cols
        ax.set_xticks(range(12), [f"{people[i]['name']} ({people[i]['generation']})" for i in order]
                      if last_row else [""] * 12, rotation=90, fontsize=8.5)
        ax.tick_params(length=0)
        if h:
            ax.set_title(f"unit {h + 1}", loc="left", fontsize=9, pad=2)
        else:
            panel(ax, "a", "unit 1")
    factors = {"nationality": [p["nationality"] == "English" for p in people],
               "generation": [p["generation"] for p in people], "branch": [p["branch"] for p in people]}
    init = data["drawn"]["initial"]
    return {k: (max_corr(w, f), None if init is None else max_corr(init, f)) for k, f in factors.items()}


def plot_queries(rows: list, key: str, of: int, ax=None, color=BLUE):
    """Panels (b, c): queries correct per seed (dots) and their mean (bar), one row per run; returns the Axes."""
    y = np.arange(len(rows))
    means = [np.mean(r[key]) if r[key] else np.nan for r in rows]
    ax.barh(y, np.nan_to_num(means), color=color, alpha=0.45, height=0.7, label="mean over seeds")
    rng = np.random.default_rng(0)  # vertical jitter of the dots only
    for yi, r in zip(y, rows):
        v = np.asarray(r[key], dtype=float)
        ax.plot(v, yi + rng.uniform(-0.18, 0.18, len(v)), "o", color="k", mfc="white", ms=3.5, mew=0.9,
                label="one seed" if yi == 0 else None)
    ax.set_yticks(y, [r["label"].replace("λ=", "λ = ") for r in rows])
    if not ax.yaxis_inverted():  # first row on top (the y axis may be shared with a panel that did it)
        ax.invert_yaxis()
    ax.set_xlim(-0.03 * of, of * 1.03)
    ax.set_xticks(np.linspace(0, of, 5))
    ax.set_xlabel(f"queries answered correctly (of {of})")
    ax.grid(axis="y", visible=False)
    return ax


def main(argv=None) -> int:
    p = figure_parser(__file__, __doc__)
    p.add_argument("--rule", default="backprop", help="whose weights to draw (its first seed)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="draw the run with this decay (0: none)")
    args = p.parse_args(argv)
    data = figure_data(args, lambda res: collect(res, args.rule, args.weight_decay))
    rows = data["rows"]
    with style():
        fig, _ = figure(0, height=8.4)
        top, bottom = fig.subfigures(2, 1, height_ratios=[0.78, 1])
        n_hidden = len(data["drawn"]["weights"])
        axes = top.subplots(-(-n_hidden // 4), 4)
        coding = plot_units(data, axes)
        learned = ", ".join(f"{k} {a:.2f}" + ("" if b is None else f" (init {b:.2f})") for k, (a, b) in coding.items())
        top.suptitle(f"{data['drawn']['label']}, seed {data['drawn']['seed']}: weights person → each of the "
                     f"{n_hidden} first-layer hidden units (white +, black −, area ∝ |w|)\nnames in generation "
                     f"(1-3) then branch order\nlargest |corr| of a unit's weights with {learned}", fontsize=9.5)
        bx, cx = bottom.subplots(1, 2, sharey=True)
        plot_queries(rows, "test_correct", 4, bx, BLUE)
        plot_queries(rows, "train_correct", 100, cx, ORANGE)
        cx.tick_params(labelleft=False)
        panel(bx, "b", "test queries (held out)")
        panel(cx, "c", "training queries")
        bx.legend(loc="lower right", fontsize=8)
        bottom.suptitle(f"{'-'.join(map(str, data['layers']))} sigmoid, Adam 0.02, {data['epochs']} full-batch "
                        "epochs; λ: weight decay (ΔW −= λW)", fontsize=9.5)
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: Hinton's (1986) family trees -- test queries answered per rule, and the weights from
the 24 person inputs to the first hidden layer drawn as Hinton diagrams.

Each diagram is one hidden unit: top row the 12 English people, bottom row their 12 Italian
counterparts (same column = same position in the isomorphic trees), columns ordered by
generation (1 = oldest) and then branch, so a unit coding nationality shows rows of opposite
sign, one coding generation shows blocks of columns.  White = positive, black = negative,
square area ∝ |w|.  Reads ``<results>/family_trees/summary.json`` and ``runs/*.json``
(written by ``experiments/family_trees.py``); writes ``figures/family_trees.png``.

Usage::

    python figures/family_trees.py [--results results] [--out figures/family_trees.png] [--rule backprop]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def hinton(ax, w, wmax):
    """Hinton diagram of matrix ``w`` on ``ax`` (rows top to bottom); returns the Axes."""
    from matplotlib.patches import Rectangle

    ax.set_facecolor("0.55")
    for (i, j), v in __import__("numpy").ndenumerate(w):
        size = (abs(v) / wmax) ** 0.5 * 0.95
        ax.add_patch(Rectangle((j - size / 2, i - size / 2), size, size, color="white" if v > 0 else "black"))
    ax.set_xlim(-0.6, w.shape[1] - 0.4)
    ax.set_ylim(w.shape[0] - 0.4, -0.6)
    ax.set_aspect("equal")
    return ax


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    p.add_argument("--rule", default="backprop", help="whose weights to draw (its first seed)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="draw the run with this decay (0: none)")
    args = p.parse_args(argv)
    path = Path(args.results) / "family_trees" / "summary.json"
    if not path.exists():
        sys.exit(f"error: family_trees: {path} not found; run `python experiments/family_trees.py` first")
    import numpy as np
    from matplotlib.figure import Figure

    from neurosim.data import family_tree_people

    summary = json.loads(path.read_text())
    rows = summary["rows"]
    row = next((r for r in rows if r["rule"] == args.rule and r.get("weight_decay", 0.0) == args.weight_decay
                and r["job_ids"]), None)
    if row is None:
        sys.exit(f"error: family_trees: no finished '{args.rule}' run with weight decay {args.weight_decay:g} in "
                 f"{path}; run `python experiments/family_trees.py`")
    record = json.loads((path.parent / "runs" / f"{row['job_ids'][0]}.json").read_text())
    w = np.array(record["params"]["input->hidden1"])[:, :24]  # (hidden, 24 person inputs)
    people = family_tree_people()
    order = sorted(range(12), key=lambda i: (people[i].generation, people[i].branch))  # stable: couples together
    # How strongly some unit codes a factor: max over units of |corr(w_unit, factor)| over the 24
    # people, learned vs the same seed's initial weights (the baseline of no structure).
    from neurosim.network import Network
    from neurosim.params import init_params

    w0 = init_params(Network.feedforward(summary["layers"], activation="sigmoid", output_activation="sigmoid",
                                         loss="mse", init="uniform", init_scale=0.3),
                     record["job"]["seed"])["input->hidden1"][:, :24]
    factors = {"nationality": [p.nationality == "English" for p in people],
               "generation": [p.generation for p in people], "branch": [p.branch for p in people]}

    def max_corr(m, f):
        return max(abs(np.corrcoef(row, np.asarray(f, dtype=float))[0, 1]) for row in m)

    coding = {k: (max_corr(w, f), max_corr(w0, f)) for k, f in factors.items()}
    print("max |corr| over hidden units, learned (initial): "
          + ", ".join(f"{k} {a:.2f} ({b:.2f})" for k, (a, b) in coding.items()))
    n_hidden = w.shape[0]
    fig = Figure(figsize=(13, 7.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.6, 1])
    axes = top.subplots(3, (n_hidden + 2) // 3).ravel()
    wmax = np.abs(w).max()
    for h, ax in enumerate(axes):
        if h >= n_hidden:
            ax.axis("off")
            continue
        grid = np.stack([w[h, order], w[h, [12 + i for i in order]]])
        hinton(ax, grid, wmax)
        ax.set_yticks([0, 1], ["Eng", "Ita"], fontsize=7)
        ax.set_xticks(range(12), [f"{people[i].name} g{people[i].generation}" for i in order], fontsize=5,
                      rotation=90)
        ax.set_title(f"hidden unit {h + 1}", fontsize=8)
    top.suptitle(f"{row.get('label', args.rule)}, seed {record['job']['seed']}: weights person → first hidden layer "
                 f"(white +, black −, area ∝ |w|, max |w| = {wmax:.1f}); columns: English names (Italian row = "
                 "their isomorphic counterparts) by generation g1-g3, then branch\nmax |corr| of a unit's 24 "
                 "weights with a factor, learned (at init): "
                 + ", ".join(f"{k} {a:.2f} ({b:.2f})" for k, (a, b) in coding.items()), fontsize=9)
    ax = bottom.subplots()
    names = [r.get("label", r["rule"]).replace(" ", "\n") for r in rows]
    test = [np.mean(r["test_correct"]) if r["test_correct"] else np.nan for r in rows]
    train = [np.mean(r["train_correct"]) / 25 if r["train_correct"] else np.nan for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, test, 0.4, label="test queries correct (of 4), mean over seeds")
    ax.bar(x + 0.2, train, 0.4, label="train queries correct (of 100) ÷ 25, mean over seeds")
    for xi, r, v in zip(x, rows, test):
        per = [str(c) for c in r["test_correct"]]
        lines = [" ".join(per[i:i + 5]) for i in range(0, len(per), 5)]
        ax.text(xi - 0.2, (0 if np.isnan(v) else v) + 0.08,
                f"{sum(r['test_correct'])}/{4 * len(per)}\n" + "\n".join(lines), fontsize=5.5, va="bottom",
                ha="center")
    ax.set_xticks(x, names, fontsize=7)
    ax.set_ylim(0, 4.6)
    ax.set_xlim(-0.6, len(rows) + 1.9)
    ax.set_ylabel("queries correct (of 4)")
    ax.set_title(f"36-12-12-24 sigmoid, Adam 0.02, {summary['epochs']} full-batch epochs; λ: weight decay "
                 "(ΔW −= λW); test queries correct, total / possible and per seed, printed on the bars", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

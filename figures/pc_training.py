"""Figure: predictive coding vs backprop trained on Fashion-MNIST at the same budget.

Reads ``<results>/pc_fashion/runs/*.json`` (written by ``experiments/pc_fashion.py``) and
writes ``figures/pc_training.png``.  It never trains anything.

(a) test error vs epoch for each rule: mean over seeds (thick), each seed (thin).
(b) cosine between PC's update and backprop's on a fixed batch of 256 training images,
    per projection and over all projections: mean over seeds, the shaded band spanning the
    seeds' minimum to maximum.

    python figures/pc_training.py [--results results] [--out figures/pc_training.png]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    LINE_COLORS,
    band,
    figure,
    figure_data,
    figure_parser,
    integer_axis,
    panel,
    save,
    source,
    style,
)

#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [["experiments/pc_fashion.py"]], "minutes": 15}

COLORS = {"backprop": BLACK, "pc": BLUE, "pc-fpa": ORANGE, "pc-zil": GREEN}
LABELS = {"backprop": "backprop", "pc": "PC (T = 20, η = 0.05, γ = 1)", "pc-fpa": "PC, fixed prediction"}


def collect(results) -> dict:
    """Per rule: each seed's per-epoch test error and alignment; the set-up of the first run."""
    folder = results.folder("pc_fashion", "python experiments/pc_fashion.py", "runs/*.json")
    records = [json.loads(p.read_text()) for p in sorted((folder / "runs").glob("*.json"))]
    runs: dict = {}
    for rec in sorted(records, key=lambda r: r["seed"]):
        runs.setdefault(rec["rule"], []).append(
            {"seed": rec["seed"], "history": [{"test_error": h["test_error"], "alignment": h.get("alignment")}
                                              for h in rec["history"]]})
    first = records[0]
    return {"runs": runs, "sizes": first["sizes"], "activation": first["activation"], "n_train": first["n_train"],
            "batch_size": first["config"]["batch_size"], "learning_rate": first["config"]["learning_rate"],
            "source": source(first, "pc_fashion")}


def plot_test_error(runs: dict, ax=None):
    """Panel (a): test error (%) vs epoch per rule.  Returns the Axes."""
    for rule, recs in runs.items():
        color = COLORS.get(rule, "0.5")
        curves = [[100 * h["test_error"] for h in rec["history"]] for rec in recs]
        n = min(len(c) for c in curves)
        y = np.array([c[:n] for c in curves])
        epochs = np.arange(1, n + 1)
        for c in y:
            ax.plot(epochs, c, color=color, lw=0.7, alpha=0.5)
        final = f"{y[:, -1].mean():.2f}" + (f" ± {y[:, -1].std(ddof=1):.2f}" if len(y) > 1 else "")
        ax.plot(epochs, y.mean(0), color=color, lw=2.2, ls="--" if rule == "pc-fpa" else "-",
                label=f"{LABELS.get(rule, rule)}: {final} % (n = {len(y)})")
    ax.plot([], [], color="0.4", lw=0.7, label="thin: each seed")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    integer_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.17), title="final test error, mean ± sd over seeds")
    return ax


def plot_pc_alignment(recs: list, ax=None):
    """Panel (b): per-projection cosine of PC's update with backprop's vs epoch.  Returns the Axes."""
    names = list(recs[0]["history"][0]["alignment"]["projections"])
    n = min(len(rec["history"]) for rec in recs)
    epochs = np.arange(1, n + 1)
    series = [(name, lambda h, k=name: h["alignment"]["projections"][k]) for name in names]
    series.append(("all projections", lambda h: h["alignment"]["global"]))
    lowest = 1.0
    for i, (name, get) in enumerate(series):
        y = np.array([[get(h) for h in rec["history"][:n]] for rec in recs])
        color = BLACK if name == "all projections" else LINE_COLORS[1 + (3 + i) % 6]
        lowest = min(lowest, float(y.min()))
        ax.plot(epochs, y.mean(0), color=color, lw=2.2 if name == "all projections" else 1.4, marker="osD^v"[i % 5],
                label=name)
        band(ax, epochs, y.min(0), y.max(0), color=color, alpha=0.15, label=None)
    if len(recs) > 1:
        band(ax, [], [], [], color="0.5", label=f"min–max over {len(recs)} seeds")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine(ΔW_PC, −∂L/∂W)")
    ax.set_ylim(lowest - 0.3, 1.01)  # room below the curves for the legend
    integer_axis(ax)
    ax.legend(loc="lower left", ncols=2, title="mean over seeds; global = all projections concatenated")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    runs = data["runs"]
    has_pc = "pc" in runs and (runs["pc"][0]["history"][0].get("alignment") is not None)
    with style():
        fig, axes = figure(1, 2 if has_pc else 1, height=5.6, squeeze=False)
        panel(plot_test_error(runs, axes[0, 0]), "a", "test error")
        if has_pc:
            panel(plot_pc_alignment(runs["pc"], axes[0, 1]), "b", "PC's update vs backprop's (256 fixed images)")
        fig.suptitle(f"Fashion-MNIST {'-'.join(map(str, data['sizes']))} {data['activation']}, {data['n_train']} "
                     f"images, batch {data['batch_size']}, Adam {data['learning_rate']:g}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

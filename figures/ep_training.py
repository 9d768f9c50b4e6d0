"""Figure: EP vs backprop training curves on Fashion-MNIST 784-500-10.

Reads ``<results>/ep_training/*_seed*.json`` and ``run.json`` (written by
``experiments/ep_training.py``) and writes ``figures/ep_training.png``:

(a) test error (solid, markers) and train error (dotted) per epoch for both rules: the mean
    over seeds, the shaded band spanning the seeds' minimum to maximum test error, with the published
    EP / backprop test errors (Scellier's code) as labelled reference lines;
(b) the cosine between EP's update and the implicit gradient on a fixed probe batch, per
    projection and over all parameters (mean over seeds).

    python figures/ep_training.py [--results results] [--out figures/ep_training.png]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    VERMILLION,
    band,
    figure,
    figure_data,
    figure_parser,
    guide,
    integer_axis,
    panel,
    save,
    source,
    style,
)

#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [["experiments/ep_training.py", "--epochs", "10", "--seeds", "0,1"]], "minutes": 240}

STYLE = {"ep": {"color": BLUE, "label": "EP (symmetric, β = 0.2)"},
         "backprop": {"color": VERMILLION, "label": "backprop"}}


def collect(results) -> dict:
    """Per run: rule, seed, training-set size and the per-epoch errors and alignment; the published errors."""
    folder = results.folder("ep_training", "python experiments/ep_training.py", "*_seed*.json")
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*_seed*.json"))]
    summary = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    runs = [{"rule": r["rule"], "seed": r["seed"], "n_train": r.get("n_train"),
             "history": [{k: h.get(k) for k in ("epoch", "test_error", "train_error", "alignment")}
                         for h in r["history"]]} for r in records]
    return {"runs": runs, "published": summary.get("published", {}), "source": source(records[0], "ep_training")}


def curves(runs: list, rule: str, key: str):
    """Epochs and the (n_seeds, n_epochs) matrix of ``key`` over the finished epochs common to all seeds."""
    histories = [r["history"] for r in runs if r["rule"] == rule]
    n = min(len(h) for h in histories)
    values = np.array([[h[i][key] for i in range(n)] for h in histories], dtype=float)
    return np.arange(1, n + 1), values


def plot_errors(runs: list, published: dict, ax=None):
    """Panel (a): test and train error (%) per epoch, mean over seeds, band min..max.  Returns the Axes."""
    n_seeds = len({r["seed"] for r in runs})
    for rule, st in STYLE.items():
        if not any(r["rule"] == rule for r in runs):
            continue
        for key, ls, what in (("test_error", "-", "test"), ("train_error", ":", "train")):
            epochs, values = curves(runs, rule, key)
            ax.plot(epochs, 100 * values.mean(axis=0), ls=ls, color=st["color"], marker="o" if what == "test" else None,
                    label=f"{st['label']}, {what}")
            if len(values) > 1 and what == "test":
                band(ax, epochs, 100 * values.min(axis=0), 100 * values.max(axis=0), color=st["color"], alpha=0.18,
                     label=None)
    if n_seeds > 1:
        band(ax, [], [], [], color="0.5", label=f"test error, min–max over {n_seeds} seeds")
    for rule, st in STYLE.items():
        if rule in published:
            guide(ax, y=100 * published[rule], color=st["color"], lw=1,
                  label=f"published {rule} test, {100 * published[rule]:.2f} % (Scellier's code)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_ylim(bottom=0)
    integer_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.17), ncols=1)
    return ax


def plot_alignment(runs: list, ax=None):
    """Panel (b): cosine of EP's update with the implicit gradient per epoch.  Returns the Axes."""
    ep_runs = [r for r in runs if r["rule"] == "ep"]
    names = list(ep_runs[0]["history"][0]["alignment"]["projections"])
    for i, name in enumerate(["global", *names]):
        per_seed = [[h["alignment"]["global"] if name == "global" else h["alignment"]["projections"][name]
                     for h in r["history"]] for r in ep_runs]
        n = min(len(p) for p in per_seed)
        values = np.array([p[:n] for p in per_seed])
        ax.plot(np.arange(1, n + 1), values.mean(axis=0), marker="osD^v"[i % 5],
                color=(BLACK, GREEN, ORANGE, PURPLE, BLUE)[i % 5], lw=2.2 if name == "global" else 1.4,
                label="all parameters" if name == "global" else name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine(EP update, −dL/dθ)")
    integer_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.17), title=f"mean over {len(ep_runs)} seeds")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    runs = data["runs"]
    seeds = sorted({r["seed"] for r in runs})
    has_alignment = any(r["rule"] == "ep" and "alignment" in r["history"][0] for r in runs)
    with style():
        fig, axes = figure(1, 2 if has_alignment else 1, height=5.6, squeeze=False,
                           width_ratios=[1.35, 1] if has_alignment else None)
        panel(plot_errors(runs, data["published"], axes[0, 0]), "a", "Fashion-MNIST error per epoch")
        if has_alignment:
            panel(plot_alignment(runs, axes[0, 1]), "b", "EP vs the implicit gradient (probe batch)")
        fig.suptitle(f"EP and backprop, 784-500-10, {runs[0].get('n_train')} training images, "
                     f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

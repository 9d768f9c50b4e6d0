"""EP vs backprop training curves on Fashion-MNIST 784-500-10 (issue 5's training panel).

Reads ``<results>/ep_training/*_seed*.json`` (written by ``experiments/ep_training.py``) and
draws ``figures/ep_training.png``: (a) test and train error per epoch for both rules (the mean
over seeds, the band spanning the seeds), with the published EP / backprop test errors as
reference lines; (b) the cosine between EP's update and the implicit gradient on a fixed probe
batch, per projection.

    python figures/ep_training.py [--results results]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

HERE = Path(__file__).resolve().parent
STYLE = {"ep": {"color": "C0", "label": "EP (symmetric, $\\beta$ = 0.2)"},
         "backprop": {"color": "C3", "label": "backprop"}}


def load(results: Path) -> tuple[list, dict]:
    folder = results / "ep_training"
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*_seed*.json"))]
    if not runs:
        raise SystemExit(f"no runs in {folder}; run experiments/ep_training.py first")
    summary = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    return runs, summary


def curves(runs: list, rule: str, key: str):
    """Epochs and the (n_seeds, n_epochs) matrix of ``key`` over the finished epochs common to all seeds."""
    histories = [r["history"] for r in runs if r["rule"] == rule]
    n = min(len(h) for h in histories)
    values = np.array([[h[i][key] for i in range(n)] for h in histories], dtype=float)
    return np.arange(1, n + 1), values


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    args = parser.parse_args(argv)
    runs, summary = load(Path(args.results))
    seeds = sorted({r["seed"] for r in runs})

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.3), gridspec_kw={"width_ratios": [1.5, 1]})
    for rule, style in STYLE.items():
        if not any(r["rule"] == rule for r in runs):
            continue
        for key, ls, what in (("test_error", "-", "test"), ("train_error", ":", "train")):
            epochs, values = curves(runs, rule, key)
            ax.plot(epochs, 100 * values.mean(axis=0), ls, color=style["color"], marker="o" if what == "test" else None,
                    ms=3, label=f"{style['label']}, {what}")
            if len(values) > 1:
                ax.fill_between(epochs, 100 * values.min(axis=0), 100 * values.max(axis=0), color=style["color"],
                                alpha=0.15, lw=0)
    published = summary.get("published", {})
    for rule, style in STYLE.items():
        if rule in published:
            ax.axhline(100 * published[rule], color=style["color"], ls="--", lw=0.8,
                       label=f"published {rule} test ({100 * published[rule]:.2f} %, Scellier's code)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    n_train = runs[0].get("n_train")
    ax.set_title(f"(a) Fashion-MNIST 784-500-10, {n_train} training images, seeds {seeds}", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper right")
    ax.grid(alpha=0.3)

    ep_runs = [r for r in runs if r["rule"] == "ep"]
    if ep_runs and "alignment" in ep_runs[0]["history"][0]:
        names = list(ep_runs[0]["history"][0]["alignment"]["projections"])
        for i, name in enumerate(["global", *names]):
            per_seed = [[h["alignment"]["global"] if name == "global" else h["alignment"]["projections"][name]
                         for h in r["history"]] for r in ep_runs]
            n = min(len(p) for p in per_seed)
            values = np.array([p[:n] for p in per_seed])
            bx.plot(np.arange(1, n + 1), values.mean(axis=0), marker="o", ms=3,
                    color=("k", "C2", "C4", "C5", "C6")[i % 5], label="all parameters" if name == "global" else name)
        bx.set_xlabel("epoch")
        bx.set_ylabel("cosine(EP update, $-dL/d\\theta$)")
        bx.set_title("(b) EP vs implicit gradient, probe batch of 256", fontsize=10)
        bx.legend(fontsize=8)
        bx.grid(alpha=0.3)
    else:
        bx.axis("off")
    for axis in (ax, bx):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    out = HERE / "ep_training.png"
    fig.savefig(out, dpi=130)
    print(out)
    return out


if __name__ == "__main__":
    main()

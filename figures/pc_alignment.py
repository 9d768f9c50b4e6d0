"""Figure: rate predictive coding vs backprop -- inference steps and output precision.

Reads ``results/pc_inference_sweep/run.json`` (written by
``experiments/pc_inference_sweep.py``) and writes ``figures/pc_alignment.png``.  It never
simulates or trains anything.

(a) global cosine between each variant's update and backprop's, vs the number of
    inference steps (truncated inference); Z-IL has a fixed schedule of L - 1 steps.
(b) 1 - cosine vs the output precision gamma (= nudging strength) at converged inference:
    standard PC over all projections and per projection; FPA and Z-IL sit at machine
    precision.
Lines are the mean over the weight seeds; shaded bands span their minimum to maximum.

    python figures/pc_alignment.py [--results results] [--out figures/pc_alignment.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    BLUE,
    GREEN,
    ORANGE,
    band,
    figure,
    figure_data,
    figure_parser,
    guide,
    panel,
    plain_log_axis,
    save,
    style,
    whole_record,
)

FLOOR = 1e-16  # 1 - cosine is plotted no lower than float64 resolution
COLORS = {"pc": BLUE, "pc-fpa": ORANGE, "pc-zil": GREEN}


def _stack(runs, x_key, y_of):
    x = np.array([row[x_key] for row in runs[0]["rows"]], dtype=float)
    y = np.array([[y_of(row) for row in run["rows"]] for run in runs], dtype=float)
    return x, y


def plot_steps(record: dict, ax=None):
    """Panel (a): global cosine to backprop vs inference steps.  Returns the Axes."""
    groups: dict = {}
    for run in record["step_sweep"]:
        label = run["rule"] + (f", γ = {run['hyper']['output_precision']:g}" if run["rule"] == "pc" else "")
        groups.setdefault(label, []).append(run)
    n_seeds = len(record["config"]["seeds"])
    for k, ((label, runs), ls) in enumerate(zip(groups.items(), ["-", "--", "-."])):
        x, y = _stack(runs, "n_inference_steps", lambda r: r["global_cosine"])
        color = COLORS[runs[0]["rule"]]
        ax.plot(x, y.mean(0), ls=ls, color=color, marker="osD"[k % 3], label=label)
        band(ax, x, y.min(0), y.max(0), color=color, label=f"min–max over {n_seeds} seeds" if k == 0 else None)
    zil = record["zil"]
    n_zil = zil[0]["steps"]
    ax.plot([n_zil], [np.mean([z["global_cosine"] for z in zil])], "*", color=COLORS["pc-zil"], ms=13,
            label=f"pc-zil ({n_zil} steps, fixed)")
    guide(ax, y=1.0, label="backprop (cosine 1)", ls=":")
    plain_log_axis(ax, "x")
    ax.set_xlabel(f"inference steps (rate η = {record['config']['inference_rate']:g})")
    ax.set_ylabel("cosine with −∂L/∂W (all projections)")
    ax.legend(loc="lower right")
    return ax


def plot_precision(record: dict, ax=None):
    """Panel (b): 1 - cosine to backprop vs output precision at converged inference.  Returns the Axes."""
    names = record["config"]["projections"]
    by_rule: dict = {}
    for run in record["precision_sweep"]:
        by_rule.setdefault(run["rule"], []).append(run)
    runs = by_rule["pc"]
    x, y = _stack(runs, "output_precision", lambda r: 1 - r["global_cosine"])
    ax.plot(x, np.maximum(y.mean(0), FLOOR), "-o", color=COLORS["pc"], lw=2.2, label="pc, all projections")
    band(ax, x, np.maximum(y.min(0), FLOOR), np.maximum(y.max(0), FLOOR), color=COLORS["pc"],
         label=f"min–max over {len(runs)} seeds")
    for name, ls in zip(names, [":", "-.", "--", (0, (1, 3))]):
        _, yl = _stack(runs, "output_precision", lambda r, n=name: 1 - r["cosine"][n])
        ax.plot(x, np.maximum(yl.mean(0), FLOOR), ls=ls, color=COLORS["pc"], lw=1, label=f"pc, {name}")
    for rule, marker, ms in (("pc-fpa", "s", 8), ("pc-zil", "^", 5)):
        _, yr = _stack(by_rule[rule], "output_precision", lambda r: 1 - r["global_cosine"])
        ax.plot(x, np.maximum(yr.max(0), FLOOR), marker, color=COLORS[rule], ms=ms, ls="none", mfc="none",
                label=f"{rule} (worst seed)")
    # theory: the angle to backprop is O(gamma), so 1 - cosine = O(gamma^2)
    g0, y0 = x[0], max(y.mean(0)[0], FLOOR) / 10  # a decade below the data to stay visible
    ax.plot(x[:7], y0 * (x[:7] / g0) ** 2, color="0.4", lw=1, ls="--", label="slope 2 (theory: ∝ γ²)")
    guide(ax, y=FLOOR, label=f"float64 floor ({FLOOR:g})", ls=":")
    plain_log_axis(ax, "x")
    ax.set_yscale("log")
    ax.set_xlabel("output precision γ (= nudging strength β)")
    ax.set_ylabel("1 − cosine with −∂L/∂W")
    ax.legend(loc="center right", fontsize=8)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("pc_inference_sweep"))
    cfg = record["config"]
    with style():
        fig, (ax_a, ax_b) = figure(1, 2, height=4.6)
        panel(plot_steps(record, ax_a), "a", "truncated inference")
        panel(plot_precision(record, ax_b), "b", "converged inference: PC → backprop as γ → 0")
        fig.suptitle(f"Predictive coding vs backprop: {cfg['dataset']} ({cfg['n_samples']} samples), "
                     f"{'-'.join(map(str, cfg['sizes']))} {cfg['activation']}, {cfg['loss']}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: AGREL / BrainProp alignment with the gradient of their loss vs the number of trials.

Reads ``results/agrel_trials/run.json`` (``experiments/agrel_trials.py``) and writes
``figures/agrel_alignment.png``; it never simulates anything.

(a) global cosine between the N-trial average of the sampled update and -dL/dW, mean over
    repeats (markers, error bars: one standard deviation), with the theory curve
    ||G|| / sqrt(||G||^2 + V/N) from the exactly enumerated single-trial variance V (lines);
    the exact expectation over actions is the cosine-1 limit.
(b) 1 - cosine on a log scale: the error of the average falls as 1/N (slope -1).

    python figures/agrel_alignment.py [--results results] [--out figures/agrel_alignment.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    PURPLE,
    VERMILLION,
    figure,
    figure_data,
    figure_parser,
    guide,
    panel,
    plain_log_axis,
    plot_cosine_vs_trials,
    save,
    style,
    whole_record,
)

COLORS = {"agrel": VERMILLION, "brainprop": PURPLE}
LABELS = {"agrel": "AGREL", "brainprop": "BrainProp"}


def _series(run):
    n = np.array([r["trials"] for r in run["rows"]], dtype=float)
    mean = np.array([r["cosine_mean"] for r in run["rows"]])
    std = np.array([r["cosine_std"] for r in run["rows"]])
    theory = np.array([r["theory"] for r in run["rows"]])
    return n, mean, std, theory


def plot_cosine(record: dict, ax=None):
    """Panel (a): cosine vs trials per image.  Returns the Axes."""
    for name, run in record["rate"].items():
        n, mean, std, theory = _series(run)
        plot_cosine_vs_trials(n, mean, spread=std, ax=ax, ls="none", color=COLORS[name], marker="o",
                              label=f"{LABELS[name]}, sampled (mean ± sd)")
        ax.plot(n, theory, "-", color=COLORS[name], lw=1.2, label=f"{LABELS[name]}, theory ‖G‖/√(‖G‖² + V/N)")
    guide(ax, y=1.0, label="exact expectation over actions", ls=":")
    ax.set_xlabel("trials per image N (one sampled action each)")
    ax.set_ylabel("cosine with −dL/dW")
    ax.legend(loc="lower right")
    return ax


def plot_error(record: dict, ax=None):
    """Panel (b): 1 - cosine vs trials (log-log).  Returns the Axes."""
    for name, run in record["rate"].items():
        n, mean, _, theory = _series(run)
        ax.plot(n, np.maximum(1 - mean, 1e-12), "o", color=COLORS[name], label=f"{LABELS[name]}, sampled")
        ax.plot(n, 1 - theory, "-", color=COLORS[name], lw=1.2, label=f"{LABELS[name]}, theory")
    n = np.array([1, 4096.0])
    ax.plot(n, 0.5 / n, color="0.4", ls="--", lw=1, label="slope −1 (∝ 1/N)")
    plain_log_axis(ax, "x", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("trials per image N")
    ax.set_ylabel("1 − cosine")
    ax.legend(loc="lower left")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("agrel_trials"))
    with style():
        fig, (a, b) = figure(1, 2, height=4.4)
        panel(plot_cosine(record, a), "a", "trial-averaged update vs gradient")
        panel(plot_error(record, b), "b", "the gap closes as 1/N")
        fig.suptitle(f"AGREL and BrainProp, {'-'.join(map(str, record['sizes']))} tanh, {record['batch']} "
                     f"{record['dataset']} images, initial weights, {record['repeats']} repeats per N")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

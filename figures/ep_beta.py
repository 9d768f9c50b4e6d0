"""Figure: equilibrium propagation's update vs the implicit gradient, as a function of beta.

Reads ``results/ep_beta_sweep/run.json`` (written by ``experiments/ep_beta_sweep.py``) and
writes ``figures/ep_beta.png``: (a) 1 - cosine and (b) relative error against beta, log-log,
for one-sided and symmetric nudging, squared-error and cross-entropy nets, with slope-1 and
slope-2 guides; a vertical dotted line marks the first beta at which a unit's nudged state
crosses a kink of the hard sigmoid.  It never simulates anything.

    python figures/ep_beta.py [--results results] [--out figures/ep_beta.png] [--init-scale 0.5]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    BLUE,
    VERMILLION,
    figure,
    figure_data,
    figure_parser,
    panel,
    plain_log_axis,
    save,
    style,
    whole_record,
)

COLORS = {"mse": BLUE, "cross_entropy": VERMILLION}
LOSS = {"mse": "squared error", "cross_entropy": "cross-entropy"}
NUDGING = {"one-sided": ("o", "--"), "symmetric": ("s", "-")}


def plot_ep_beta(record: dict, init_scale: float = 0.5, axes=None):
    """Draw the two panels from a sweep record; returns the two Axes."""
    ax_cos, ax_err = axes
    runs = [r for r in record["runs"] if r["init_scale"] == init_scale]
    for run in runs:
        color = COLORS.get(run["loss"])
        for nudging, rows in run["rows"].items():
            marker, ls = NUDGING[nudging]
            beta = np.array([r["beta"] for r in rows])
            cos = np.array([r["cosine"] for r in rows], dtype=float)
            err = np.array([r["relative_error"] for r in rows])
            slope = run["slopes"][nudging]
            label = f"{LOSS.get(run['loss'], run['loss'])}, {nudging}"
            # 1 - cosine below float64 resolution is drawn at 1e-16 rather than dropped
            ax_cos.plot(beta, np.maximum(1 - cos, 1e-16), ls=ls, marker=marker, color=color,
                        label=label + (f" (fitted slope in b: {slope:.2f})" if slope is not None else ""))
            ax_err.plot(beta, err, ls=ls, marker=marker, color=color)
        kinks = run["kink_crossings"]
        first = next((b for b, kp, km in zip(record["betas"], kinks["plus_beta"], kinks["minus_beta"]) if kp or km),
                     None)
        if first is not None:
            ax_err.axvline(first, color=color, lw=1, ls=":")
            ax_cos.axvline(first, color=color, lw=1, ls=":",
                           label=f"{LOSS.get(run['loss'], run['loss'])}: first β at which a unit crosses a kink")
    beta = np.array(record["betas"])
    lo = beta[beta <= 1e-2]
    ax_err.plot(lo, 2e-1 * lo / lo[-1] * 1e-2, color="0.4", lw=1, label="slope 1 (∝ β)")
    ax_err.plot(lo, 1e-2 * (lo / lo[-1]) ** 2 * 1e-2, color="0.4", lw=1, ls="-.", label="slope 2 (∝ β²)")
    for ax in axes:
        plain_log_axis(ax, "x")
        ax.set_yscale("log")
        ax.set_xlabel("nudging strength β")
    ax_cos.set_ylabel("1 − cosine(EP update, −dL/dθ)")
    ax_err.set_ylabel("relative error ‖Δθ_EP + dL/dθ‖ / max norm")
    ax_err.legend(loc="upper left", title="guides")
    handles, labels = ax_cos.get_legend_handles_labels()
    ax_cos.figure.legend(handles, labels, loc="outside lower center", ncols=2)
    return axes


def main(argv=None) -> int:
    p = figure_parser(__file__, __doc__)
    p.add_argument("--init-scale", type=float, default=0.5)
    args = p.parse_args(argv)
    record = figure_data(args, whole_record("ep_beta_sweep"))
    with style():
        fig, axes = figure(1, 2, height=5.6)
        plot_ep_beta(record, args.init_scale, axes)
        panel(axes[0], "a", "alignment with the implicit gradient")
        panel(axes[1], "b", "relative error")
        sizes = next((r["sizes"] for r in record["runs"] if r["init_scale"] == args.init_scale), [])
        fig.suptitle(f"Equilibrium propagation vs the implicit gradient: {record['dataset']} batch {record['batch']}, "
                     f"{'-'.join(map(str, sizes))} hard sigmoid, Xavier × {args.init_scale:g}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

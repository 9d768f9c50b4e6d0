"""Figure: equilibrium propagation's update vs the implicit gradient, as a function of beta.

Reads ``results/ep_beta_sweep/run.json`` (written by ``experiments/ep_beta_sweep.py``) and
writes ``figures/ep_beta.png``: (a) 1 - cosine and (b) relative error against beta, log-log,
for one-sided and symmetric nudging, squared-error and cross-entropy nets, with slope-1 and
slope-2 guides.  It never simulates anything.

    python figures/ep_beta.py [--results results] [--out figures] [--init-scale 0.5]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {("mse", "one-sided"): ("tab:blue", "o", "--"), ("mse", "symmetric"): ("tab:blue", "s", "-"),
         ("cross_entropy", "one-sided"): ("tab:red", "o", "--"), ("cross_entropy", "symmetric"): ("tab:red", "s", "-")}


def plot_ep_beta(record: dict, init_scale: float = 0.5, axes=None):
    """Draw the two panels from a sweep record; returns the two Axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    ax_cos, ax_err = axes
    runs = [r for r in record["runs"] if r["init_scale"] == init_scale]
    for run in runs:
        for nudging, rows in run["rows"].items():
            color, marker, ls = STYLE[(run["loss"], nudging)]
            beta = np.array([r["beta"] for r in rows])
            cos = np.array([r["cosine"] for r in rows], dtype=float)
            err = np.array([r["relative_error"] for r in rows])
            slope = run["slopes"][nudging]
            label = f"{run['loss']}, {nudging}" + (f" (slope {slope:.2f})" if slope is not None else "")
            # 1 - cosine below float64 resolution is drawn at 1e-16 rather than dropped
            ax_cos.loglog(beta, np.maximum(1 - cos, 1e-16), ls=ls, marker=marker, color=color, ms=4,
                          label=f"{run['loss']}, {nudging}")
            ax_err.loglog(beta, err, ls=ls, marker=marker, color=color, ms=4, label=label)
        kinks = run["kink_crossings"]
        first = next((b for b, kp, km in zip(record["betas"], kinks["plus_beta"], kinks["minus_beta"]) if kp or km),
                     None)
        if first is not None:
            for ax in axes:
                ax.axvline(first, color=STYLE[(run["loss"], "symmetric")][0], lw=0.8, ls=":")
    beta = np.array(record["betas"])
    lo = beta[beta <= 1e-2]
    ax_err.loglog(lo, 2e-1 * lo / lo[-1] * 1e-2, color="0.4", lw=1, label=r"slope 1 ($\propto\beta$)")
    ax_err.loglog(lo, 1e-2 * (lo / lo[-1]) ** 2 * 1e-2, color="0.4", lw=1, ls="-.",
                  label=r"slope 2 ($\propto\beta^2$)")
    ax_cos.set_xlabel(r"nudging strength $\beta$")
    ax_cos.set_ylabel(r"1 $-$ cosine(EP update, $-dL/d\theta$)")
    ax_cos.set_title("(a) alignment with the implicit gradient")
    ax_err.set_xlabel(r"nudging strength $\beta$")
    ax_err.set_ylabel(r"$\|\Delta\theta_{EP} + dL/d\theta\| \,/\, \max$ norm")
    ax_err.set_title("(b) relative error (dotted: a unit first crosses a kink at ±β)")
    ax_cos.legend(fontsize=8, loc="upper left")
    ax_err.legend(fontsize=7, loc="lower right")
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    n = runs[0]["sizes"] if runs else []
    plt.suptitle(f"Equilibrium propagation vs implicit gradient, {record['dataset']} batch {record['batch']}, "
                 f"{'-'.join(map(str, n))} hard sigmoid, Xavier x {init_scale}", fontsize=10)
    return axes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).parent))
    p.add_argument("--init-scale", type=float, default=0.5)
    args = p.parse_args(argv)
    from neurosim.results import locate_result

    record = json.loads(locate_result(args.results, "ep_beta_sweep/run.json",
                                      "python experiments/ep_beta_sweep.py").read_text())
    axes = plot_ep_beta(record, args.init_scale)
    fig = axes[0].figure
    fig.tight_layout()
    path = Path(args.out) / "ep_beta.png"
    fig.savefig(path, dpi=130)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

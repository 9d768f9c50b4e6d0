"""Figure: Urbanczik-Senn teacher task (reads results, never simulates).

Reads ``results/urbanczik_senn/run.json`` + ``run.npz`` (``experiments/urbanczik_senn.py``) and
writes ``figures/urbanczik_senn.png`` beside this script, three panels:

(a) distance of the student's weights from the teacher's, relative to the spread of the
    teacher's weights, against learning time (each student thin, mean thick), for the taught
    student, the control without teacher (g_som = 0) and with plasticity off (eta = 0);
(b) RMS mismatch between the student's dendritic prediction phi(V*_w) and the teacher's rate
    phi(U*) per window, same runs; the band is +-1 window noise measured with eta = 0;
(c) final vs teacher weights of every student (learning run), initial weights in grey.

    python figures/urbanczik_senn.py [--results results]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402
from neurosim.plotting import read_results

STYLE = {"learning": ("tab:blue", "teacher + plasticity"), "no_teacher": ("tab:red", "no teacher (g_som = 0)"),
         "frozen": ("tab:gray", "plasticity off (η = 0)")}


def plot_distance(arrays: dict, ax=None):
    """Panel (a): |w - w*| / spread(w*) against time; returns the Axes."""
    ax = ax or plt.gca()
    for name, (color, label) in STYLE.items():
        t, d = arrays[f"{name}_times_s"], arrays[f"{name}_distance"]
        ax.plot(t, d.T, color=color, lw=0.5, alpha=0.4)
        ax.plot(t, d.mean(axis=0), color=color, lw=2, label=label)
    ax.set_xlabel("learning time (s)")
    ax.set_ylabel(r"$\|w - w^*\| \,/\, \|w^* - \bar w^*\|$")
    ax.set_ylim(bottom=0)
    ax.set_title("(a) student-teacher weight distance", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_prediction(arrays: dict, noise_hz: float, ax=None):
    """Panel (b): RMS of phi(V*_w) - phi(U*) per window against time; returns the Axes."""
    ax = ax or plt.gca()
    for name, (color, label) in STYLE.items():
        t, e = arrays[f"{name}_window_s"], arrays[f"{name}_rmse_hz"].mean(axis=0)
        ax.plot(t, e, "o-", color=color, ms=3, label=label)
        if name == "learning":
            ax.fill_between(t, e - noise_hz, e + noise_hz, color=color, alpha=0.2,
                            label=f"±1 window noise ({noise_hz:.1f} Hz)")
    ax.set_xlabel("learning time (s)")
    ax.set_ylabel(r"RMS $\phi(V^*_w) - \phi(U^*)$ (Hz)")
    ax.set_ylim(bottom=0)
    ax.set_title("(b) dendritic prediction vs teacher rate\n(mean over students, per window)", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_weights(arrays: dict, ax=None):
    """Panel (c): student weights against teacher weights, before and after; returns the Axes."""
    ax = ax or plt.gca()
    ws, w0, w1 = arrays["w_star"].ravel(), arrays["w_initial"].ravel(), arrays["w_final"].ravel()
    ax.scatter(ws, w0, s=5, color="0.7", label="initial")
    ax.scatter(ws, w1, s=5, color="tab:blue", label="after learning")
    lim = [min(ws.min(), w0.min(), w1.min()), max(ws.max(), w0.max(), w1.max())]
    ax.plot(lim, lim, "k", lw=0.8, label="student = teacher")
    ax.set_xlabel(r"teacher weight $w^*_i$ (mV ms)")
    ax.set_ylabel(r"student weight $w_i$ (mV ms)")
    ax.set_title("(c) weights, every student and input", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    folder = Path(args.results) / "urbanczik_senn"
    record = read_results(args.results, "urbanczik_senn")
    with np.load(folder / record["arrays"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    plot_distance(arrays, axes[0])
    plot_prediction(arrays, record["rmse_window_noise_hz"], axes[1])
    plot_weights(arrays, axes[2])
    cfg = record["runs"]["learning"]["config"]
    fig.suptitle(f"Urbanczik & Senn (2014) teacher task in brian2: {cfg['n_inputs']} Poisson inputs, "
                 f"{cfg['n_students']} students, η = {cfg['eta']:g} mV²ms², g_som = {cfg['g_som_per_ms']:g}/ms, "
                 f"seed {record['seed']}", fontsize=11)
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

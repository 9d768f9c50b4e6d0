"""Figure: Urbanczik-Senn teacher task (reads results, never simulates).

Reads ``results/urbanczik_senn/run.json`` + ``run.npz`` (``experiments/urbanczik_senn.py``) and
writes ``figures/urbanczik_senn.png``, three panels:

(a) distance of the student's weights from the teacher's, relative to the spread of the
    teacher's weights, against learning time (each student thin, the mean thick), for the
    taught student, the control without teacher (g_som = 0) and with plasticity off (eta = 0);
(b) RMS mismatch between the student's dendritic prediction phi(V*_w) and the teacher's rate
    phi(U*) per window, same runs; the band is +-1 window noise measured with eta = 0;
(c) final vs teacher weights of every student (learning run), initial weights in grey.

    python figures/urbanczik_senn.py [--results results] [--out figures/urbanczik_senn.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import BLUE, VERMILLION, band, figure, figure_data, figure_parser, panel, save, source, style

STYLE = {"learning": (BLUE, "teacher + plasticity"), "no_teacher": (VERMILLION, "no teacher (g_som = 0)"),
         "frozen": ("0.5", "plasticity off (η = 0)")}


def collect(results) -> dict:
    """The arrays of the run (``run.npz``) as lists, the window noise and the learning run's config."""
    folder = results.folder("urbanczik_senn", "python experiments/urbanczik_senn.py")
    record = results.json("urbanczik_senn", command="python experiments/urbanczik_senn.py")
    with np.load(folder / record["arrays"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return {"arrays": arrays, "noise_hz": record["rmse_window_noise_hz"], "seed": record["seed"],
            "config": record["runs"]["learning"]["config"], "source": source(record, "urbanczik_senn")}


def plot_distance(arrays: dict, ax=None):
    """Panel (a): |w - w*| / spread(w*) against time; returns the Axes."""
    for name, (color, label) in STYLE.items():
        t, d = np.asarray(arrays[f"{name}_times_s"]), np.asarray(arrays[f"{name}_distance"])
        ax.plot(t, d.T, color=color, lw=0.6, alpha=0.45)
        ax.plot(t, d.mean(axis=0), color=color, lw=2.2, label=f"{label}, mean")
    ax.plot([], [], color="0.3", lw=0.6, label="thin: each student")
    ax.set_xlabel("learning time (s)")
    ax.set_ylabel("‖w − w*‖ / ‖w* − mean(w*)‖")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_prediction(arrays: dict, noise_hz: float, ax=None):
    """Panel (b): RMS of phi(V*_w) - phi(U*) per window against time; returns the Axes."""
    for name, (color, label) in STYLE.items():
        t, e = np.asarray(arrays[f"{name}_window_s"]), np.asarray(arrays[f"{name}_rmse_hz"]).mean(axis=0)
        ax.plot(t, e, "o-", color=color, label=label)
        if name == "learning":
            band(ax, t, e - noise_hz, e + noise_hz, color=color,
                 label=f"± window noise ({noise_hz:.1f} Hz, at η = 0)")
    ax.set_xlabel("learning time (s)")
    ax.set_ylabel("RMS φ(V*_w) − φ(U*) (Hz)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_weights(arrays: dict, ax=None):
    """Panel (c): student weights against teacher weights, before and after; returns the Axes."""
    ws, w0, w1 = (np.asarray(arrays[k]).ravel() for k in ("w_star", "w_initial", "w_final"))
    ax.scatter(ws, w0, s=6, color="0.65", label="initial")
    ax.scatter(ws, w1, s=6, color=BLUE, label="after learning")
    lim = [min(ws.min(), w0.min(), w1.min()), max(ws.max(), w0.max(), w1.max())]
    ax.plot(lim, lim, "k--", lw=0.9, label="student = teacher")
    ax.set_xlabel("teacher weight w*ᵢ (mV ms)")
    ax.set_ylabel("student weight wᵢ (mV ms)")
    ax.legend(loc="upper left", fontsize=8, markerscale=2)
    return ax


def eta_and_g_som(cfg: dict) -> tuple[float, float]:
    """The learning rate (mV² ms²) and the nudging conductance (per ms) of a run's config record.

    Records written since the config took brian2 quantities hold SI floats
    (``UrbanczikSennConfig.to_record``: ``eta_v2_s2``, ``g_som_per_s``); older ones (the shipped
    figure data) the former lab-unit fields (``eta`` in mV² ms², ``g_som_per_ms``).
    """
    if "eta_v2_s2" in cfg:
        return cfg["eta_v2_s2"] * 1e12, cfg["g_som_per_s"] * 1e-3
    return cfg["eta"], cfg["g_som_per_ms"]


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    arrays, cfg = data["arrays"], data["config"]
    eta, g_som = eta_and_g_som(cfg)
    with style():
        fig, axes = figure(1, 3, height=3.9)
        panel(plot_distance(arrays, axes[0]), "a", "weight distance")
        panel(plot_prediction(arrays, data["noise_hz"], axes[1]), "b", "prediction vs teacher")
        panel(plot_weights(arrays, axes[2]), "c", "every student and input")
        fig.suptitle(f"Urbanczik & Senn (2014) in brian2: {cfg['n_inputs']} Poisson inputs, {cfg['n_students']} "
                     f"students, η = {eta:g} mV²ms², g_som = {g_som:g}/ms, seed {data['seed']}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure: dendritic rules vs backprop (reads results, never simulates).

Reads ``results/microcircuit_alignment/run.json`` (``experiments/microcircuit_alignment.py``)
and writes ``figures/dendritic_alignment.png``:

(a) apical potential vs backprop delta (scatter, each hidden layer; the line is the theory
    phi' v_A = -c_l delta_l); (b) RMS apical potential while the lateral plasticity reaches
    the self-predicting state; (c) angle of the hidden-layer update to backprop's during
    training on digits (burstprop with random Y and FA draw the same B from the same seed,
    so their curves coincide: FA is the line, burstprop the open markers on it); (d) the deep
    circuit (two hidden layers) at the compare budget: angle of each hidden layer's update to
    backprop's with the paper's basal baseline and with the free-apical one, and the final
    apical potentials without and with the teacher.

    python figures/dendritic_alignment.py [--results results] [--out figures/dendritic_alignment.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    BLUE,
    GREEN,
    MARKERS,
    ORANGE,
    LINE_COLORS,
    VERMILLION,
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

SCATTER_POINTS = 1200  # per layer: enough to show the identity, small enough to ship


def collect(results) -> dict:
    """The record without provenance, each layer's scatter thinned to ``SCATTER_POINTS`` points."""
    record = results.json("microcircuit_alignment", command="python experiments/microcircuit_alignment.py")
    out = {k: v for k, v in record.items() if k != "provenance"}
    layers = {}
    for lay, d in record["scatter"]["layers"].items():
        step = max(1, -(-len(d["predicted"]) // SCATTER_POINTS))
        layers[lay] = {**d, "predicted": d["predicted"][::step], "apical_scaled": d["apical_scaled"][::step]}
    out["scatter"] = {**record["scatter"], "layers": layers}
    return {**out, "source": source(record, "microcircuit_alignment")}


def plot_scatter(scatter: dict, ax=None):
    """Panel (a): phi'(vB) * v_A against -c_l delta_l, per hidden layer; returns the Axes."""
    lim = 0.0
    for (lay, d), color in zip(scatter["layers"].items(), (BLUE, ORANGE, GREEN)):
        x, y = np.asarray(d["predicted"]), np.asarray(d["apical_scaled"])
        ax.scatter(x, y, s=6, alpha=0.5, color=color, lw=0, zorder=2,
                   label=f"{lay}: c = {d['c']:.2g}, relative error {d['relative_error']:.1e}")
        lim = max(lim, np.abs(x).max(), np.abs(y).max())
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.8, ls="--", zorder=3, label="theory φ′v_A = −c δ (identity)")
    ax.set_xlabel("−c_l δ_l (backprop delta × theory factor)")
    ax.set_ylabel("φ′(v_B) v_A (microcircuit)")
    ax.legend(loc="upper left", markerscale=3)
    return ax


def plot_self_predicting(sp: dict, ax=None):
    """Panel (b): RMS apical potential (no teacher) against lateral-plasticity updates."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for (label, curve), color, ls in zip(sp["curves"].items(), (BLUE, VERMILLION), ("-", "--")):
        ax.plot(np.arange(len(curve)), curve, color=color, ls=ls, label=f"{label} circuit")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"lateral-plasticity updates (SGD {sp['learning_rate']:g}, batch {sp['batch_size']})")
    ax.set_ylabel("RMS apical potential, no teacher")
    ax.legend(loc="upper right")
    return ax


def plot_training_angles(training: dict, ax=None):
    """Panel (c): hidden-layer angle to backprop per epoch, final test error in the legend."""
    runs = {k: r for k, r in training["runs"].items() if r["rule"] != "backprop"}
    curves = {k: np.asarray(r["hidden_angle_deg"]) for k, r in runs.items()}
    for i, (label, run) in enumerate(runs.items()):
        y = curves[label]
        epochs = np.arange(1, len(y) + 1)
        # a curve within 1 degree of an earlier one everywhere would hide it: drawn as open markers
        twin = next((k for k in list(runs)[:i] if np.max(np.abs(curves[k] - y)) < 1.0), None)
        err = f"{100 * run['test_error'][-1]:.1f} %"
        if twin is None:
            ax.plot(epochs, y, color=LINE_COLORS[1 + i % 6], marker=MARKERS[i], label=f"{label}: {err}")
        else:  # the same curve as an earlier series: open markers on it, said in the legend
            ax.plot(epochs, y, ls="none", marker="o", ms=8, mfc="none", mew=1.3, color=LINE_COLORS[1 + i % 6],
                    label=f"{label}: {err} (within 1° of {twin})")
    guide(ax, y=90, label="90° (orthogonal)", ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop (°)")
    ax.set_ylim(0, 120)
    integer_axis(ax)
    bp = training["runs"].get("backprop")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.16), ncols=1,
              title="final test error" + (f" (backprop {100 * bp['test_error'][-1]:.1f} %)" if bp else ""))
    return ax


def plot_deep(deep: dict, ax=None):
    """Panel (d): hidden-layer angles in the deep circuit, both basal baselines."""
    colors = {"dendrite": VERMILLION, "free": GREEN}
    names = {"dendrite": "paper baseline", "free": "+ free apical"}
    notes = ["RMS apical at the end, no teacher / teacher-induced:"]
    for baseline, run in deep["runs"].items():
        for i, (proj, angles) in enumerate(run["angle_deg"].items()):
            ax.plot(np.arange(1, len(angles) + 1), angles, marker="os"[i % 2], color=colors.get(baseline),
                    ls="-" if i == 0 else "--",
                    label=f"{names.get(baseline, baseline)}, {proj}"
                    + (f" ({100 * run['test_error'][-1]:.1f} % error)" if i == 0 else ""))
        notes.append(f"{names.get(baseline, baseline)}: " + ", ".join(
            f"{lay} {run['apical_rms_free'][lay]:.0e} / {run['apical_rms_teacher'][lay]:.0e}"
            for lay in run["apical_rms_free"]))
    guide(ax, y=90, label="90° (orthogonal)", ls=":")
    ax.text(0.02, 0.03, "\n".join(notes), transform=ax.transAxes, fontsize=8, va="bottom", color="0.2")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop (°)")
    ax.set_ylim(0, 130)
    integer_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.16), ncols=1)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, collect)
    deep = "deep" in record
    with style():
        fig, axes = figure(2, 2, height=10.5)
        axes = axes.ravel()
        sc = record["scatter"]
        panel(plot_scatter(sc, axes[0]), "a", f"apical potential vs backprop delta (λ = {sc['lambda']:.3f})")
        panel(plot_self_predicting(record["self_predicting"], axes[1]), "b", "reaching the self-predicting state")
        tr = record["training"]
        panel(plot_training_angles(tr, axes[2]), "c",
              f"hidden-layer update, digits {'-'.join(map(str, tr['sizes']))}")
        if deep:
            d = record["deep"]
            panel(plot_deep(d, axes[3]), "d", f"deep circuit {'-'.join(map(str, d['sizes']))}, "
                                              f"Adam {d['learning_rate']:g}")
        else:
            axes[3].set_visible(False)
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

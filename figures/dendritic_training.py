"""Figure: deep dendritic circuits trained on Fashion-MNIST beside backprop (reads results only).

Reads ``results/dendritic_fashion/run.json`` (``experiments/dendritic_fashion.py``) and writes
``figures/dendritic_training.png``, two panels:

(a) test error per epoch of backprop, the microcircuit and burstprop on the same
    two-hidden-layer sigmoid/mse network at the same budget;
(b) angle between each hidden layer's update and backprop's (256 training images) per epoch.

    python figures/dendritic_training.py [--results results] [--out figures/dendritic_training.png]
"""
from __future__ import annotations

from neurosim.plotting import (BLACK, ORANGE, PURPLE, figure, figure_data, figure_parser, guide, integer_axis, panel,
                               save, style, whole_record)

COLORS = {"backprop": BLACK, "microcircuit": ORANGE, "burstprop": PURPLE}
LABELS = {"backprop": "backprop", "microcircuit": "microcircuit (Sacramento 2018)",
          "burstprop": "burstprop (Payeur 2021)"}


def plot_errors(record: dict, ax=None):
    """Panel (a): test error (%) against epoch, final value in the legend; returns the Axes."""
    for i, run in enumerate(record["runs"]):
        epochs = [h["epoch"] for h in run["history"]]
        err = [100 * h["test_error"] for h in run["history"]]
        ax.plot(epochs, err, marker="osD"[i % 3], color=COLORS.get(run["rule"]),
                label=f"{LABELS.get(run['rule'], run['rule'])}: {err[-1]:.1f} %")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(bottom=0)
    integer_axis(ax)
    ax.legend(loc="upper right", title="final test error")
    return ax


def plot_angles(record: dict, ax=None):
    """Panel (b): angle of each hidden layer's update to backprop's, per epoch."""
    for run in record["runs"]:
        if run["rule"] == "backprop":
            continue
        names = list(run["history"][0]["hidden_angle_deg"])
        for i, name in enumerate(names):
            epochs = [h["epoch"] for h in run["history"]]
            ang = [h["hidden_angle_deg"][name] for h in run["history"]]
            ax.plot(epochs, ang, marker="os"[i % 2], ls="-" if i == 0 else "--", color=COLORS.get(run["rule"]),
                    label=f"{run['rule']}, {name} (hidden layer {i + 1})")
    guide(ax, y=90, label="90° (orthogonal)", ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop's update (°)")
    ax.set_ylim(0, 100)
    integer_axis(ax)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("dendritic_fashion"))
    with style():
        fig, axes = figure(1, 2, height=4.6)
        panel(plot_errors(record, axes[0]), "a", "Fashion-MNIST test error")
        panel(plot_angles(record, axes[1]), "b", "hidden-layer updates vs backprop")
        fig.suptitle(f"{'-'.join(map(str, record['sizes']))} sigmoid/mse, {record['n_train']} train / "
                     f"{record['n_test']} test images, Adam {record['learning_rate']:g}, batch {record['batch_size']}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

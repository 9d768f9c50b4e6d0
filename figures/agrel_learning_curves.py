"""Figure: AGREL and BrainProp vs backprop on Fashion-MNIST, test error per epoch.

Reads ``results/agrel_training/run.json`` (``experiments/agrel_training.py``) and writes
``figures/agrel_learning_curves.png``; it never trains anything.

(a) test error (%) vs epoch of every run: backprop and AGREL with Adam, BrainProp in the set-up
    of its published code (plain SGD 0.1, N(0, 0.01^2) weights) beside backprop in that set-up
    (dashed: the SGD set-up), and BrainProp with Adam (stopped by the divergence check);
(b) for backprop's test error after k epochs in the same set-up, the first epoch at which AGREL /
    BrainProp reach it (a downward triangle at the top: not reached within the run), against the
    1-3.5x band
    of Pozzi et al. (2020); the note gives the lowest cosine of each rule's expected update
    with -dL/dW over the epochs (tied feedback keeps it at 1 in the trained states too).

    python figures/agrel_learning_curves.py [--results results] [--out figures/agrel_learning_curves.png]
"""
from __future__ import annotations

from neurosim.plotting import (
    BLACK,
    BLUE,
    PURPLE,
    SKY,
    VERMILLION,
    band,
    figure,
    figure_data,
    figure_parser,
    integer_axis,
    panel,
    save,
    style,
    whole_record,
)

COLORS = {"backprop": BLACK, "agrel": VERMILLION, "brainprop": PURPLE, "backprop-sgd": BLUE, "brainprop-adam": SKY}
MARKERS = {"backprop": "o", "agrel": "s", "brainprop": "D", "backprop-sgd": "o", "brainprop-adam": "x"}


def _setup(run: dict) -> str:
    return run.get("setup", "adam")  # records before the SGD set-up have Adam runs only


def plot_test_error(record: dict, ax=None):
    """Panel (a).  Returns the Axes."""
    for name, run in record["runs"].items():
        hist = run["history"]
        hist = [h for h in hist if h["test_error"] is not None]
        final = "diverged" if run.get("status") == "diverged" else f"{100 * run['test_error']:.2f} %"
        ax.plot([h["epoch"] for h in hist], [100 * h["test_error"] for h in hist], marker=MARKERS.get(name, "o"),
                ms=4, color=COLORS.get(name), ls="--" if _setup(run) == "paper" else "-",
                label=f"{name} ({run['loss']}, {_setup(run)}): {final}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    integer_axis(ax)
    ax.legend(loc="upper right", title="final test error")
    return ax


def plot_slowdown(record: dict, ax=None):
    """Panel (b): epochs a rule needs to reach backprop's test error after k epochs.  Returns the Axes."""
    horizon = record["config"]["epochs"]
    slowdown = record.get("slowdown", {})
    ks = [1, max(r["bp_epochs"] for rows in slowdown.values() for r in rows) + 1]
    band(ax, ks, ks, [3.5 * k for k in ks], color="0.6", alpha=0.25, label="Pozzi et al. 2020: 1–3.5× slower")
    ax.plot(ks, ks, color="0.3", lw=0.9, label="as fast as backprop")
    for name, rows in slowdown.items():
        if record["runs"][name].get("status") == "diverged":
            continue  # panel (a) shows where it stopped
        reached = [r for r in rows if r["rule_epochs"] is not None]
        missed = [r["bp_epochs"] for r in rows if r["rule_epochs"] is None]
        ax.plot([r["bp_epochs"] for r in reached], [r["rule_epochs"] for r in reached], marker=MARKERS.get(name, "o"),
                color=COLORS[name], label=f"{name} ({_setup(record['runs'][name])})")
        if missed:
            ax.plot(missed, [horizon] * len(missed), "v", ls="none", color=COLORS[name], ms=8,
                    label=f"{name}: not reached in {horizon} epochs")
    mins = {n: min(h["alignment"]["expected_global"] for h in run["history"] if h.get("alignment"))
            for n, run in record["runs"].items() if not n.startswith("backprop") and run.get("status") == "completed"}
    ax.text(0.98, 0.03, "lowest cosine of the expected update\nwith −dL/dW over the epochs:\n"
            + "\n".join(f"{n} {c:.6f}" for n, c in mins.items()), transform=ax.transAxes, fontsize=8.5,
            va="bottom", ha="right")
    ax.set_xlabel("backprop epochs k")
    ax.set_ylabel("epochs to reach backprop's error at k\n(backprop in the same set-up)")
    ax.set_ylim(0, horizon + 2)
    ax.set_xlim(0, ks[1])
    integer_axis(ax)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("agrel_training"))
    c = record["config"]
    with style():
        fig, axes = figure(1, 2, height=4.6)
        panel(plot_test_error(record, axes[0]), "a", "Fashion-MNIST test error")
        panel(plot_slowdown(record, axes[1]), "b", "the epoch cost of learning from reward")
        fig.suptitle(f"{'-'.join(map(str, record['sizes']))} tanh, {record['n_train']} training images, batch "
                     f"{c['batch_size']}, seed {c['seed']}; adam: Adam 1e-3, Xavier; paper: SGD 0.1, N(0, 0.01²)")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

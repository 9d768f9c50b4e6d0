"""Figure: Bartunov et al. (2018) Table 1 (MNIST, published) beside our Fashion-MNIST run.

Reads ``results/bartunov_table/table.json`` (written by ``experiments/bartunov_table.py``)
and the published numbers in ``models/bartunov2018_*.toml``; writes
``figures/bartunov_table.png`` and prints the table as markdown.  It never trains.

The two data sets differ (MNIST there, Fashion-MNIST here, which is harder: backprop MLPs
reach ~1.5 % vs ~10 % test error), and so do the budgets (their 500 epochs after a
60-draw search per method, our few epochs with one setting), so the panels have their own
axes: compare the *ordering* of the methods, not the numbers.  Every bar is labelled with its
value, so a zero error shows as "0.00" rather than as no bar.

Usage::

    python figures/bartunov_table.py                                   # the budget run
    python figures/bartunov_table.py --results results/bartunov_table/quick.json --out /tmp/quick.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim.plotting import (BLUE, ORANGE, PALETTE, figure, figure_data, figure_parser, guide, integer_axis,
                               panel, save, style, whole_record)

ROOT = Path(__file__).resolve().parents[1]
COLORS = {"fa": PALETTE[1], "dfa": PALETTE[5], "dtp": PALETTE[2], "sdtp": PALETTE[3], "aosdtp": PALETTE[4]}
METHODS = ("bp", "fa", "dfa", "dtp_parallel", "dtp_alternating", "sdtp_parallel", "sdtp_alternating",
           "aosdtp_parallel", "aosdtp_alternating")
LABELS = {"bp": "BP", "fa": "FA", "dfa": "DFA", "dtp_parallel": "DTP par.", "dtp_alternating": "DTP alt.",
          "sdtp_parallel": "SDTP par.", "sdtp_alternating": "SDTP alt.", "aosdtp_parallel": "AO-SDTP par.",
          "aosdtp_alternating": "AO-SDTP alt."}


def published() -> dict:
    """``{method: {"train_error", "test_error"}}`` (fractions) from the model cards."""
    from neurosim import RunSpec

    out = {}
    for method in METHODS:
        card = RunSpec.load(ROOT / "models" / f"bartunov2018_{method}.toml")
        out[method] = {"train_error": card.published["train_error"], "test_error": card.published["test_error"]}
    return out


def plot_error_bars(rows: dict, methods, *, ax=None, legend: bool = True):
    """Grouped bars of test and train error (%) per method, each labelled with its value; returns the Axes."""
    y = np.arange(len(methods))
    test = np.array([100 * rows[m]["test_error"] if m in rows else np.nan for m in methods])
    train = np.array([100 * rows[m]["train_error"] if m in rows else np.nan for m in methods])
    top = np.nanmax(np.concatenate([test, train]))
    for values, dy, color, label in ((test, -0.2, BLUE, "test"), (train, 0.2, ORANGE, "train")):
        ax.barh(y + dy, np.nan_to_num(values), 0.4, color=color, label=label)
        for yi, v in zip(y, values):
            ax.text(0 if np.isnan(v) else v + 0.01 * top, yi + dy, "not run" if np.isnan(v) else f"{v:.2f}",
                    va="center", fontsize=8.5, color="0.25" if np.isnan(v) else "k")
    ax.set_yticks(y, [LABELS[m] for m in methods])
    ax.invert_yaxis()
    ax.set_xlabel("error (%)")
    ax.set_xlim(0, 1.25 * top)
    ax.grid(axis="y", visible=False)
    if legend:
        ax.legend(loc="lower right")
    return ax


def plot_angles(rows: dict, methods, ax=None):
    """Angle between each method's forward update and backprop's, per epoch; returns the Axes."""
    for m in (x for x in methods if x in rows and x != "bp"):
        h = rows[m]["history"]
        base = m.split("_")[0]
        ax.plot([e["epoch"] for e in h], [e["angle_deg"] for e in h], ls="--" if m.endswith("alternating") else "-",
                marker="s" if m.endswith("alternating") else "o", color=COLORS[base], label=LABELS[m])
    integer_axis(ax)
    guide(ax, y=90, label="90° (orthogonal)", ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop's update (°)")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower left", fontsize=8, ncols=2)
    return ax


def markdown(record: dict, pub: dict) -> str:
    cfg = record["config"]
    head = ("| method | Bartunov et al. MNIST train / test (%) | ours Fashion-MNIST train / test (%) | "
            "best test (%, epoch) | angle to BP (deg) |")
    lines = [head, "|---|---|---|---|---|"]
    for m in METHODS:
        theirs = f"{100 * pub[m]['train_error']:.2f} / {100 * pub[m]['test_error']:.2f}"
        r = record["methods"].get(m)
        if r is None:
            lines.append(f"| {LABELS[m]} | {theirs} | not run | | |")
            continue
        angle = r.get("final_angle_deg")
        lines.append(f"| {LABELS[m]} | {theirs} | {100 * r['train_error']:.2f} / {100 * r['test_error']:.2f} | "
                     f"{100 * r['best_test_error']:.2f} ({r['best_epoch']}) | "
                     f"{'' if angle is None else f'{angle:.1f}'} |")
    lines.append(f"\nours: {cfg['dataset']}, {cfg['n_train'] or 'all'} training samples, {cfg['epochs']} epochs, "
                 f"batch {cfg['batch_size']}, Adam lr {cfg['lr'] or 'from the cards'}, seed {cfg['seed']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("bartunov_table", "table.json"))
    pub = published()
    cfg = record["config"]
    ours = {m: r for m, r in record["methods"].items() if r.get("status") == "completed"}
    with style():
        fig, (ax1, ax2, ax3) = figure(1, 3, height=4.6)
        panel(plot_error_bars(pub, METHODS, ax=ax1), "a", "published, MNIST")
        panel(plot_error_bars(ours, METHODS, ax=ax2, legend=False), "b", "ours, Fashion-MNIST")
        ax2.tick_params(labelleft=False)
        panel(plot_angles(ours, METHODS, ax=ax3), "c", "ours: alignment with backprop")
        n = cfg["n_train"] or 60000
        fig.suptitle("784-256×5-10 tanh, softmax, Adam; compare orderings, not values.\n"
                     "a: Bartunov et al. 2018, Table 1, best in 500 epochs, 60 hyper-parameter draws per method;\n"
                     f"b, c: this run, {n} training images, {cfg['epochs']} epochs, one setting each, final errors")
        print(markdown(record, pub))
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

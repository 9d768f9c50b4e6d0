"""Figure: Bartunov et al. (2018) Table 1 (MNIST, published) beside our Fashion-MNIST run.

Reads ``results/bartunov_table/table.json`` (written by ``experiments/bartunov_table.py``)
and the published numbers in ``models/bartunov2018_*.toml``; writes
``figures/bartunov_table.png`` and prints the table as markdown.  It never trains.

The two data sets differ (MNIST there, Fashion-MNIST here, which is harder: backprop MLPs
reach ~1.5 % vs ~10 % test error), and so do the budgets (their 500 epochs after a
60-draw search per method, our few epochs with one setting), so the panels have their own
axes: compare the *ordering* of the methods, not the numbers.

Usage::

    python figures/bartunov_table.py                                   # the budget run
    python figures/bartunov_table.py --results results/bartunov_table/quick.json --out /tmp/quick.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("bp", "fa", "dfa", "dtp_parallel", "dtp_alternating", "sdtp_parallel", "sdtp_alternating",
           "aosdtp_parallel", "aosdtp_alternating")
LABELS = {"bp": "BP", "fa": "FA", "dfa": "DFA", "dtp_parallel": "DTP par.", "dtp_alternating": "DTP alt.",
          "sdtp_parallel": "SDTP par.", "sdtp_alternating": "SDTP alt.", "aosdtp_parallel": "AO-SDTP par.",
          "aosdtp_alternating": "AO-SDTP alt."}


def published() -> dict:
    """``{method: {"train_error", "test_error"}}`` (fractions) from the model cards."""
    from neurosim import ModelCard

    out = {}
    for method in METHODS:
        card = ModelCard.load(ROOT / "models" / f"bartunov2018_{method}.toml")
        out[method] = {"train_error": card.published["train_error"], "test_error": card.published["test_error"]}
    return out


def plot_error_bars(rows: dict, methods, title: str, *, test_key="test_error", train_key="train_error", ax=None):
    """Grouped bars of train and test error (%) per method; returns the Axes."""
    import numpy as np

    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    y = np.arange(len(methods))
    test = [100 * rows[m][test_key] if m in rows else np.nan for m in methods]
    train = [100 * rows[m][train_key] if m in rows else np.nan for m in methods]
    ax.barh(y - 0.2, test, 0.4, color="tab:blue", label="test")
    ax.barh(y + 0.2, train, 0.4, color="tab:orange", label="train")
    for yi, v in zip(y, test):
        if np.isfinite(v):
            ax.text(v, yi - 0.2, f" {v:.2f}", va="center", fontsize=7)
    ax.set_yticks(y, [LABELS[m] for m in methods])
    ax.invert_yaxis()
    ax.set_xlabel("error (%)")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 1.15 * np.nanmax(test + train))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    return ax


def plot_angles(rows: dict, methods, ax=None):
    """Angle between each method's forward update and backprop's, per epoch; returns the Axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    for m in methods:
        if m in rows and m != "bp":
            h = rows[m]["history"]
            style = "--" if m.endswith("alternating") else "-"
            ax.plot([e["epoch"] for e in h], [e["angle_deg"] for e in h], style, marker="o", ms=3,
                    label=LABELS[m])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to backprop update (deg)")
    ax.set_ylim(0, 100)
    ax.set_title("ours: alignment with backprop (256 training samples)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return ax


def markdown(record: dict, pub: dict) -> str:
    cfg = record["config"]
    head = ("| method | Bartunov et al. MNIST train / test (%) | ours Fashion-MNIST train / test (%) | "
            "best test (epoch) | angle to BP (deg) |")
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(ROOT / "results"),
                   help="results root (or the table.json file itself)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    from matplotlib.figure import Figure

    from neurosim.results import locate_result

    path = locate_result(args.results, "bartunov_table/table.json", "python experiments/bartunov_table.py")
    record = json.loads(path.read_text())
    pub = published()
    cfg = record["config"]
    ours = {m: r for m, r in record["methods"].items() if r.get("status") == "completed"}
    fig = Figure(figsize=(13, 5.0), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    plot_error_bars(pub, METHODS, "Bartunov et al. 2018, Table 1 -- MNIST (published)\n"
                    "best within 500 epochs, 60 hyper-parameter draws per method", ax=ax1)
    n = cfg["n_train"] or "60000"
    plot_error_bars(ours, METHODS, f"neurosim -- FASHION-MNIST (this run)\n{n} train samples, "
                    f"{cfg['epochs']} epochs, one setting per method; final errors", ax=ax2)
    plot_angles(ours, METHODS, ax=ax3)
    fig.suptitle("784-256x5-10 tanh, softmax, Adam: different data sets and budgets -- compare orderings, "
                 "not values", fontsize=10)
    fig.savefig(args.out, dpi=130)
    print(markdown(record, pub))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

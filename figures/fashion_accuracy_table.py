"""Figure: Fashion-MNIST test error of every supervised rule at one budget (mean and each seed).

Reads ``<results>/fashion_accuracy_table/table.json`` (written by
``experiments/fashion_accuracy_table.py``), writes ``figures/fashion_accuracy_table.png`` and
prints the table as markdown (test error in %).  It never trains.

One bar per rule (the mean over seeds, coloured by family), a dot per seed, the mean ± sd
written beside the bar.

    python figures/fashion_accuracy_table.py [--results results] [--out figures/fashion_accuracy_table.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    FAMILY_NAMES,
    PALETTE,
    figure,
    figure_data,
    figure_parser,
    guide,
    save,
    style,
    whole_record,
)

#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [["experiments/fashion_accuracy_table.py"]], "minutes": 300}

FAMILIES = ("backprop", "feedback_alignment", "target_propagation", "predictive_coding", "equilibrium",
            "dendritic", "attention_gated", "hebbian")
FAMILY_COLORS = dict(zip(FAMILIES, PALETTE))


def markdown(table: dict) -> str:
    lines = ["| rule | family | test error (%) mean ± sd | seeds | final angle to its reference (deg) |",
             "|---|---|---|---|---|"]
    for r in table["rows"]:
        err = "failed" if r["mean"] is None else f"{100 * r['mean']:.2f} ± {100 * (r['sd'] or 0):.2f}"
        angles = [a for a in r.get("final_angle_deg", []) if a is not None]
        angle = f"{sum(angles) / len(angles):.0f}" if angles else "n/a"
        family = FAMILY_NAMES.get(r["family"], r["family"])
        lines.append(f"| {r['rule']} | {family} | {err} | {r['n']} (+{r['n_failed']} failed) | {angle} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    table = figure_data(args, whole_record("fashion_accuracy_table", "table.json"))
    rows = table["rows"]
    if not rows:
        from neurosim.plotting import missing

        missing("fashion_accuracy_table has no rows; run `python experiments/fashion_accuracy_table.py --rules fast`")
    missing_rules = table.get("missing_rules", [])
    with style():
        fig, ax = figure(1, 1, height=0.36 * len(rows) + 2.6)
        y = np.arange(len(rows))
        means = np.array([np.nan if r["mean"] is None else 100 * r["mean"] for r in rows])
        sds = np.array([0.0 if r["sd"] is None else 100 * r["sd"] for r in rows])
        ax.barh(y, np.nan_to_num(means), color=[FAMILY_COLORS.get(r["family"], "0.6") for r in rows], alpha=0.75,
                height=0.7)
        for yi, r, m, s in zip(y, rows, means, sds):
            values = [100 * v for v in r["values"]]
            ax.plot(values, [yi] * len(values), "o", color="k", ms=3.5, mfc="white", mew=1, zorder=3)
            top = max([m, *values]) if np.isfinite(m) else 0
            ax.text(top + 2.5, yi, "failed" if np.isnan(m) else f"{m:.1f} ± {s:.1f}", va="center", fontsize=9)
        ax.plot([], [], "o", color="k", ms=3.5, mfc="white", mew=1, label="one seed")
        ax.set_yticks(y, [r["rule"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel(f"test error (%) on {table['n_test']} test images: bar = mean over seeds, text = mean ± sd")
        ax.set_xlim(0, 112)
        ax.set_xticks(range(0, 101, 20))
        ax.grid(axis="y", visible=False)
        guide(ax, x=90, label="chance (90 %)", ls=":")
        from matplotlib.patches import Patch

        families = list(dict.fromkeys(r["family"] for r in rows))
        handles, labels = ax.get_legend_handles_labels()
        handles += [Patch(color=FAMILY_COLORS.get(f, "0.6"), alpha=0.75) for f in families]
        labels += [FAMILY_NAMES.get(f, f) for f in families]
        fig.legend(handles, labels, loc="outside lower center", ncols=4)
        ax.set_title(f"Fashion-MNIST, {table['n_train']} training images, {table['epochs']} epochs, batch "
                       f"{table['batch_size']}, up to {table['seeds']} seeds, layers "
                       f"{'-'.join(map(str, table['layers']))}")
        note = (f"no row yet at this budget: {', '.join(missing_rules)}" if missing_rules
                else "every supervised rule has a row")
        import textwrap

        note = textwrap.fill(f"{note}; each rule's default network and short-budget settings, ep scored on its "
                             "free fixed point", 105)
        ax.set_xlabel(ax.get_xlabel() + "\n" + note, fontsize=9)
        print(markdown(table))
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

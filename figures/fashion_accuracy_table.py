"""Figure: Fashion-MNIST test error of every supervised rule at one budget (mean and each seed).

Reads ``<results>/fashion_accuracy_table/table.json`` (written by
``experiments/fashion_accuracy_table.py``) and, where it exists,
``<results>/fashion_same_network/table.json`` (``experiments/fashion_same_network_backprop.py``:
backprop on the units and loss of each rule that trains another network than backprop's, with
that rule's optimiser setting), writes ``figures/fashion_accuracy_table.png`` and prints the
table as markdown (test error in %).  It never trains.

One bar per rule (the mean over seeds, coloured by family), a dot per seed, the mean ± sd
written beside the bar; a vertical tick where backprop trained the rule's own network.

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
RESULTS_FROM = {"commands": [["experiments/fashion_accuracy_table.py"],
                              ["experiments/fashion_same_network_backprop.py"]], "minutes": 110}

#: Each rule's published standing as a gap to backprop in test error (percentage points, rule minus
#: backprop, on the data and network of the source; None: no number to hold it to), with the
#: source.  Fashion-MNIST here, MNIST in most sources: the table compares gaps, not errors.
PUBLISHED = {
    "backprop": (0.0, "reference"),
    "fa": (0.37, "Bartunov et al. 2018, MNIST 5x256: 1.85 vs 1.48"),
    "dfa": (1.27, "Bartunov et al. 2018, MNIST 5x256: 2.75 vs 1.48"),
    "dtp": (0.35, "Bartunov et al. 2018, MNIST, alternating: 1.83 vs 1.48 (parallel +1.38)"),
    "sdtp": (0.80, "Bartunov et al. 2018, MNIST, alternating: 2.28 vs 1.48 (parallel +2.04)"),
    "aosdtp": (0.38, "Bartunov et al. 2018, MNIST, alternating: 1.86 vs 1.48 (parallel +1.45)"),
    "tp": (None, "no published number: difference correction is what makes TP train deep nets (Lee et al. 2015)"),
    "pc": (0.0, "Whittington & Bogacz 2017, MNIST: PC and BP alike (1.7-1.8)"),
    "pc-fpa": (0.0, "Millidge et al. 2022: exactly backprop's update"),
    "pc-zil": (0.0, "Song et al. 2020: exactly backprop's update"),
    "ep": (0.87, "Scellier's code, Fashion-MNIST, 2 hidden layers: 10.29 vs 9.42"),
    "microcircuit": (0.43, "Sacramento et al. 2018, MNIST 784-500-500-10: 1.96 vs 1.53"),
    "burstprop": (-0.22, "Greedy et al. 2022, MNIST 784-500-500-500-10: 1.75 vs 1.97"),
    "agrel": (0.0, "Roelfsema & van Ooyen 2005: the expected update is backprop's (slower)"),
    "brainprop": (0.0, "Pozzi et al. 2020: accuracy equivalent to backprop, 1-3.5x slower"),
    "cdni": (None, "Jaderberg et al. 2017, Table 1, MNIST (not checked here; docs/rules/synthetic_gradients.md)"),
    "sg": (None, "Jaderberg et al. 2017, Table 1, MNIST (not checked here; docs/rules/synthetic_gradients.md)"),
}

FAMILIES = ("backprop", "feedback_alignment", "target_propagation", "predictive_coding", "equilibrium",
            "dendritic", "attention_gated", "hebbian")
FAMILY_COLORS = dict(zip(FAMILIES, PALETTE))


def stopped_note(row: dict) -> str:
    """'2 of 3 seeds stopped early (diverged after 12, 13 epochs)', or '' when every run completed."""
    stopped = row.get("stopped_early") or []
    if not stopped:
        return ""
    kinds = ", ".join(sorted({s["status"] for s in stopped}))
    epochs = ", ".join(str(s["epochs_done"]) for s in stopped)
    return f"{len(stopped)} of {row['n'] + row['n_failed']} seeds stopped early ({kinds} after {epochs} epochs)"


def same_network(table: dict) -> dict:
    """Rule -> its ``fashion_same_network`` row (backprop on the rule's units), at the table's budget."""
    control = table.get("same_network") or {}
    if any(control.get(k) != table.get(k) for k in ("n_train", "n_test", "epochs", "layers")):
        return {}
    return {row["rule"]: row for row in control.get("rows", [])}


def markdown(table: dict) -> str:
    lines = ["| rule | family | test error (%) mean ± sd | gap to backprop here (points) | backprop on the rule's "
             "units (%) | published gap (points) | seeds | note |", "|---|---|---|---|---|---|---|---|"]
    bp = next((r["mean"] for r in table["rows"] if r["rule"] == "backprop" and r["mean"] is not None), None)
    controls = same_network(table)
    for r in table["rows"]:
        err = "failed" if r["mean"] is None else f"{100 * r['mean']:.2f} ± {100 * (r['sd'] or 0):.2f}"
        gap = "n/a" if r["mean"] is None or bp is None else f"{100 * (r['mean'] - bp):+.2f}"
        published, source = PUBLISHED.get(r["rule"], (None, "unsupervised control: no backprop-relative standing"))
        pub = "n/a" if published is None else f"{published:+.2f}"
        family = FAMILY_NAMES.get(r["family"], r["family"])
        note = "; ".join(n for n in (stopped_note(r), source) if n)
        control = controls.get(r["rule"], {}).get("backprop_same_network")
        same = "-" if not control or control["mean"] is None else \
            f"{100 * control['mean']:.2f} ± {100 * (control['sd'] or 0):.2f}"
        lines.append(f"| {r['rule']} | {family} | {err} | {gap} | {same} | {pub} | {r['n']} (+{r['n_failed']} "
                     f"failed) | {note} |")
    return "\n".join(lines)


def collect(results) -> dict:
    """The table's record, with the same-network control's (``same_network``, None when not run)."""
    from neurosim.plotting import MissingResults

    table = whole_record("fashion_accuracy_table", "table.json")(results)
    try:
        table["same_network"] = whole_record("fashion_same_network", "table.json",
                                             command="python experiments/fashion_same_network_backprop.py")(results)
    except MissingResults:
        table["same_network"] = None
    return table


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    table = figure_data(args, collect)
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
        bp = next((100 * r["mean"] for r in rows if r["rule"] == "backprop" and r["mean"] is not None), None)
        controls = same_network(table)
        for yi, r, m, s in zip(y, rows, means, sds):
            control = (controls.get(r["rule"]) or {}).get("backprop_same_network")
            marks = []  # what the label must clear
            if control and control["mean"] is not None:
                marks.append(100 * control["mean"])
                ax.plot(marks, [yi], "|", color="k", ms=13, mew=2, zorder=4)
            values = [100 * v for v in r["values"]]
            ax.plot(values, [yi] * len(values), "o", color="k", ms=3.5, mfc="white", mew=1, zorder=3)
            published = PUBLISHED.get(r["rule"], (None, ""))[0]
            if bp is not None and published is not None and r["rule"] != "backprop":
                ax.plot([bp + published], [yi], "D", color="k", ms=4.5, zorder=4)
            top = max([m, *values, *marks]) if np.isfinite(m) else 0
            label = "failed" if np.isnan(m) else f"{m:.1f} ± {s:.1f}" + (" *" if r.get("stopped_early") else "")
            ax.text(top + 2.5, yi, label, va="center", fontsize=9)
        ax.plot([], [], "o", color="k", ms=3.5, mfc="white", mew=1, label="one seed")
        ax.plot([], [], "D", color="k", ms=4.5, label="backprop here + the published gap")
        if controls:
            ax.plot([], [], "|", color="k", ms=13, mew=2, label="backprop on the rule's own units")
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

        if any(r.get("stopped_early") for r in rows):
            note += "; * = some seeds stopped early by the divergence check (their last evaluated error counts)"
        note = textwrap.fill(f"{note}; each rule's default network and its settings as recorded, ep scored on its "
                             "free fixed point (its tick: the same units as a feed-forward net); gaps to backprop "
                             "on MNIST in most sources", 105)
        ax.set_xlabel(ax.get_xlabel() + "\n" + note, fontsize=9)
        print(markdown(table))
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

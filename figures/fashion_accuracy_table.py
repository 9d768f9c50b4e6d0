"""Figure: Fashion-MNIST test error of every supervised rule at one budget (mean ± sd over seeds).

Reads ``<results>/fashion_accuracy_table/table.json`` (written by
``experiments/fashion_accuracy_table.py``), writes ``figures/fashion_accuracy_table.png`` and
prints the table as markdown.  It never trains.

Usage::

    python figures/fashion_accuracy_table.py [--results results] [--out figures/fashion_accuracy_table.png]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FAMILY_COLORS = {"backprop": "black", "feedback_alignment": "tab:blue", "target_propagation": "tab:green",
                 "predictive_coding": "tab:red", "equilibrium": "tab:purple", "dendritic": "tab:brown",
                 "attention_gated": "tab:orange", "hebbian": "tab:grey"}


def markdown(table: dict) -> str:
    lines = ["| rule | family | test error (%) mean ± sd | seeds | final angle to its reference (deg) |",
             "|---|---|---|---|---|"]
    for r in table["rows"]:
        err = "failed" if r["mean"] is None else f"{100 * r['mean']:.2f} ± {100 * (r['sd'] or 0):.2f}"
        angles = [a for a in r.get("final_angle_deg", []) if a is not None]
        angle = f"{sum(angles) / len(angles):.0f}" if angles else "n/a"
        lines.append(f"| {r['rule']} | {r['family']} | {err} | {r['n']} (+{r['n_failed']} failed) | {angle} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    path = Path(args.results) / "fashion_accuracy_table" / "table.json"
    if not path.exists():
        sys.exit(f"error: fashion_accuracy_table: {path} not found; run "
                 "`python experiments/fashion_accuracy_table.py` first")
    import numpy as np
    from matplotlib.figure import Figure

    table = json.loads(path.read_text())
    rows = table["rows"]
    if not rows:
        sys.exit(f"error: fashion_accuracy_table: {path} has no rows; run "
                 "`python experiments/fashion_accuracy_table.py --rules fast`")
    missing = table.get("missing_rules", [])
    fig = Figure(figsize=(9, 0.42 * len(rows) + 1.9), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    means = np.array([np.nan if r["mean"] is None else 100 * r["mean"] for r in rows])
    sds = np.array([0.0 if r["sd"] is None else 100 * r["sd"] for r in rows])
    colors = [FAMILY_COLORS.get(r["family"], "tab:grey") for r in rows]
    ax.barh(y, np.nan_to_num(means), xerr=sds, color=colors, capsize=3, alpha=0.85)
    for yi, r, m, s in zip(y, rows, means, sds):
        label = "failed" if np.isnan(m) else f" {m:.1f} ± {s:.1f}"
        ax.text(0 if np.isnan(m) else m + s + 1, yi, label, va="center", fontsize=7)
        for v in r["values"]:
            ax.plot(100 * v, yi + 0.28, "k|", ms=5)
    ax.set_yticks(y, [r["rule"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"test error (%) on {table['n_test']} test images, mean ± sd over seeds (ticks: seeds)"
                  + (f"\nno row yet at this budget: {', '.join(missing)}" if missing else
                     "\nevery supervised rule has a row"), fontsize=9)
    ax.set_xlim(0, 100)
    ax.axvline(90, color="grey", ls=":", lw=0.8)
    ax.text(91, len(rows) - 0.55, "chance", fontsize=7, color="grey", ha="left", va="bottom")
    from matplotlib.patches import Patch

    families = list(dict.fromkeys(r["family"] for r in rows))
    ax.legend([Patch(color=FAMILY_COLORS.get(f, "tab:grey")) for f in families], families, fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), title="family", title_fontsize=7)
    ax.set_title(f"Fashion-MNIST, {table['n_train']} training images, {table['epochs']} epochs, batch "
                 f"{table['batch_size']}, up to {table['seeds']} seeds\nlayers {'-'.join(map(str, table['layers']))} "
                 "(each rule's default network and short-budget settings); ep scored on its free fixed point",
                 fontsize=9)
    fig.savefig(args.out, dpi=130)
    print(markdown(table))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figure: conv and locally connected nets on Fashion-MNIST, every rule that runs them.

Reads ``results/conv_fashion/table.json`` (written by ``experiments/conv_fashion.py``) and
writes ``figures/conv_fashion.png``; prints the table as markdown.  It never trains.

Per architecture (LeNet: BioTorch's card; LC: Bartunov 2018's locally connected net on
Fashion-MNIST's shape) a panel of test errors (mean and sd over seeds, each bar labelled)
with the published number of the card beside it where there is one (BioTorch: Fashion-MNIST,
full training; Bartunov: CIFAR-10 -- another data set, so only the ordering and the gap to
backprop compare), and a panel of the final cosine of each rule's update with backprop's,
per projection (kernels included), as a rules x projections grid.

    python figures/conv_fashion.py [--results results] [--out figures/conv_fashion.png] [--ship]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import BLUE, figure, figure_data, figure_parser, panel, save, style, whole_record

#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [
    ["experiments/conv_fashion.py", "--seeds", "3", "--archs", "lenet", "--epochs", "3", "--n-train", "10000",
     "--n-test", "5000", "--rules", "backprop,fa,dfa,dtp,sdtp,aosdtp,pc,pc-fpa,agrel,brainprop"],
    ["experiments/conv_fashion.py", "--seeds", "3", "--archs", "lc", "--epochs", "2", "--n-train", "2000",
     "--n-test", "2000", "--rules", "backprop,fa,dfa,dtp,sdtp,aosdtp"],
    ["experiments/conv_fashion.py", "--seeds", "3", "--archs", "lenet-ep", "--epochs", "2", "--n-train", "2000",
     "--n-test", "2000", "--rules", "ep,backprop"]], "minutes": 120}

TITLES = {"lenet": "LeNet (BioTorch card)", "lc": "locally connected (Bartunov card)",
          "lenet-ep": "LeNet, hard sigmoid (EP card)"}
#: What the published marker of each architecture is (the card's [published] source, short).
PUBLISHED = {"lenet": "BioTorch, Fashion-MNIST", "lc": "Bartunov 2018, CIFAR-10", "lenet-ep": "none"}


def label(row: dict) -> str:
    """The rule, and its reference where it is not backprop's gradient (EP: the implicit
    gradient at the free fixed point; AGREL/BrainProp: the gradient of their policy objective)."""
    ref = row.get("reference", "backprop")
    return row["rule"] if ref == "backprop" else f"{row['rule']} (vs {ref})"


def plot_errors(rows: list[dict], ax, source: str):
    """Horizontal bars of mean test error (%) with sd whiskers; published values as diamonds."""
    y = np.arange(len(rows))
    mean = np.array([np.nan if r["mean"] is None else 100 * r["mean"] for r in rows])
    sd = np.array([0.0 if r["sd"] is None else 100 * r["sd"] for r in rows])
    ax.barh(y, np.nan_to_num(mean), 0.6, xerr=sd, color=BLUE, ecolor="0.2", capsize=3, label="measured here")
    top = np.nanmax(np.concatenate([mean + sd, [100 * (r["published_test_error"] or 0) for r in rows]]))
    for yi, m, s, r in zip(y, mean, sd, rows):
        text = "failed" if np.isnan(m) else f"{m:.1f}"
        if r["n_failed"]:
            stopped = ", ".join(sorted(set(r["statuses"]) - {"completed"}))
            text += f" ({r['n_failed']} of {r['n'] + r['n_failed']} seeds {stopped})"
        pub = 100 * (r["published_test_error"] or 0)  # the label right of the bar and of the diamond
        ax.text(max(0 if np.isnan(m) else m + s, pub + 0.025 * top) + 0.02 * top, yi, text, va="center",
                fontsize=8.5)
    pub = [(yi, 100 * r["published_test_error"]) for yi, r in zip(y, rows) if r["published_test_error"] is not None]
    if pub:
        ax.plot([p for _, p in pub], [yi for yi, _ in pub], "D", color="k", ms=6, ls="none",
                label=f"published ({source})")
    ax.set_yticks(y, [r["rule"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.45 * top)
    ax.set_xlabel("test error (%)")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=8, frameon=False)


def plot_cosines(rows: list[dict], ax):
    """Rules x projections grid of the final cosine of each rule's update with its reference's
    (backprop's gradient unless the row says otherwise; numbers printed)."""
    names = sorted({k for r in rows for k in r["final_cosine"]}, key=lambda k: (k.startswith("fc"), k))
    grid = np.array([[np.nan if r["final_cosine"].get(k) is None else r["final_cosine"][k] for k in names]
                     for r in rows])
    im = ax.imshow(grid, vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="w" if abs(v) > 0.6 else "k")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [label(r) for r in rows])
    ax.grid(False)
    return im


def markdown(table: dict) -> str:
    lines = ["| net | rule | test error (%), mean ± sd | published (%) | batch | final cosine with the reference |",
             "|---|---|---|---|---|---|"]
    for r in table["rows"]:
        m = "failed" if r["mean"] is None else f"{100 * r['mean']:.2f}" + (
            "" if r["sd"] is None else f" ± {100 * r['sd']:.2f}") + (
            f" (n = {r['n']}; {r['n_failed']} {'/'.join(sorted(set(r['statuses']) - {'completed'}))})"
            if r["n_failed"] else "")
        pub = "" if r["published_test_error"] is None else f"{100 * r['published_test_error']:.2f}"
        cos = ", ".join(f"{k} {v:.2f}" for k, v in r["final_cosine"].items() if v is not None)
        batch = "/".join(map(str, r.get("batch_size") or []))
        lines.append(f"| {r['arch']} | {r['rule']} | {m} | {pub} | {batch} | {cos} |")
    for arch, b in table["budgets"].items():
        lines.append(f"\n{arch}: Fashion-MNIST, {b['n_train']} training / {b['n_test']} test images, {b['epochs']} "
                     f"epochs, {b['seeds']} seeds, {b['array']}, each rule's training preset (the card's own rule: "
                     "the card's settings)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    table = figure_data(args, whole_record("conv_fashion", "table.json"))
    archs = [a for a in TITLES if any(r["arch"] == a for r in table["rows"])]
    with style():
        fig, axes = figure(len(archs), 2, height=3.4 * len(archs) + 0.8, squeeze=False)
        im = None
        for i, arch in enumerate(archs):
            rows = [r for r in table["rows"] if r["arch"] == arch]
            plot_errors(rows, axes[i, 0], PUBLISHED[arch])
            b = table["budgets"][arch]
            panel(axes[i, 0], "abcdef"[2 * i],
                  f"{TITLES[arch]}\ntest error, {b['n_train']} images, {b['epochs']} epochs, {b['seeds']} seeds")
            im = plot_cosines(rows, axes[i, 1])
            panel(axes[i, 1], "abcdef"[2 * i + 1], "cosine with its reference, last epoch")
        fig.colorbar(im, ax=axes[-1, 1], location="bottom", shrink=0.9, aspect=30, label="cosine")
        fig.suptitle("Fashion-MNIST, each rule's training preset (bars: mean over seeds, whiskers: sd)")
        print(markdown(table))
        save(fig, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

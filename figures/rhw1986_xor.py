"""Figure: XOR (Rumelhart, Hinton & Williams 1986) -- learning curves of every rule, and the
backprop outputs leaving 0.5 for 0 and 1.

Reads ``<results>/rhw1986_xor/runs/*.json`` (written by ``experiments/rhw1986_xor.py``) and
writes ``figures/rhw1986_xor.png``.  It never trains.

(a-g) one panel per rule: the loss of each seed's run (of the rule's own read-out: EP's free
      fixed point, not the feed-forward pass) against sweeps, solid for the seeds that solve
      XOR (a run stops once every output is within 0.1 of its target), grey dashed for those
      that do not within the budget;
(h)   backprop's four outputs for its first solved seed: a plateau near 0.5, then they
      separate.

    python figures/rhw1986_xor.py [--results results] [--out figures/rhw1986_xor.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import LINE_COLORS, figure, figure_data, figure_parser, guide, panel, save, source, style

RULES = ("backprop", "fa", "dfa", "dtp", "pc", "pc-fpa", "ep")
NOTES = {"dfa": "= fa here", "pc-fpa": "= backprop"}
POINTS = 160  # log-spaced samples of each curve (the x axis is logarithmic)


def _thin(n: int) -> np.ndarray:
    """Indices 0 .. n-1, log-spaced, always with the first and the last."""
    idx = np.unique(np.concatenate([[0], np.geomspace(1, max(n - 1, 1), POINTS).round().astype(int)]))
    return idx[idx < n]


def collect(results) -> dict:
    """Per rule and seed: the sweep at which XOR is solved and the loss curve; backprop's outputs."""
    from neurosim.sweep import load_records
    from neurosim.data import rhw_xor

    folder = results.folder("rhw1986_xor", "python experiments/rhw1986_xor.py", "runs/*.json")
    records = [r for r in load_records(folder / "runs") if r.get("status") != "failed"]
    x = rhw_xor().x_train.astype(int)  # the pattern order of the records' outputs
    target = np.logical_xor(x[:, 0], x[:, 1]).astype(float)
    runs = []
    for r in sorted(records, key=lambda r: (r["job"]["rule"], r["job"]["seed"])):
        out = np.array(r["outputs"])[:, :, 0]
        loss = 0.5 * np.mean((out - target[None, :]) ** 2, axis=1)
        idx = _thin(len(loss))
        runs.append({"rule": r["job"]["rule"], "seed": r["job"]["seed"], "solved": r["criterion_epochs"]["sign"],
                     "within_0.1": r["criterion_epochs"]["within_0.1"], "sweeps": idx, "loss": loss[idx]})
    bp = sorted((r for r in records if r["job"]["rule"] == "backprop"
                 and r["criterion_epochs"]["within_0.1"] is not None), key=lambda r: r["job"]["seed"])
    outputs = None
    if bp:
        out = np.array(bp[0]["outputs"])[:, :, 0]
        idx = np.arange(len(out))
        outputs = {"seed": bp[0]["job"]["seed"], "solved": bp[0]["criterion_epochs"]["sign"], "sweeps": idx,
                   "outputs": out[idx].T, "inputs": x}
    job = records[0]["job"]
    return {"runs": runs, "backprop_outputs": outputs, "max_sweeps": job["epochs"],
            "learning_rate": job["learning_rate"], "momentum": job["momentum"], "source": source(records[0],
                                                                                               "rhw1986_xor")}


def plot_rule(data: dict, rule: str, color, ax=None, note: str = ""):
    """The loss curves of one rule, one line per seed; returns the Axes."""
    runs = [r for r in data["runs"] if r["rule"] == rule]
    for r in runs:
        sweeps = np.maximum(r["sweeps"], 0.5)  # sweep 0 drawn at 0.5 on the log axis
        if r["within_0.1"] is not None:
            ax.plot(sweeps, r["loss"], color=color, lw=1.2, alpha=0.85)
        else:
            ax.plot(sweeps, r["loss"], color="0.55", lw=1.0, ls="--", alpha=0.8)
    solved = [r["solved"] for r in runs if r["solved"] is not None]
    text = (f"{len(solved)}/{len(runs)} solved" + (f"\nmedian {np.median(solved):.0f}" if solved else "")
            + (f"\n{note}" if note else ""))
    ax.text(0.96, 0.96, text, transform=ax.transAxes, fontsize=9, va="top", ha="right")
    return ax


def plot_outputs(outputs: dict, ax=None):
    """Backprop's four outputs against sweeps; returns the Axes."""
    out, x = np.asarray(outputs["outputs"]), outputs["inputs"]
    for k in range(len(out)):
        t = int(x[k][0]) ^ int(x[k][1])
        ax.plot(outputs["sweeps"], out[k], color=LINE_COLORS[1 + k], ls="-" if t else "--",
                label=f"input ({x[k][0]}, {x[k][1]}), target {t}")
    guide(ax, y=0.5, label="0.5 (the output's side decides)", ls=":")
    if outputs["solved"] is not None:
        guide(ax, x=outputs["solved"], label=f"all on the right side (sweep {outputs['solved']})", ls="-.",
              color="0.3")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("sweeps")
    ax.set_ylabel("output o (sigmoid)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    rules = [r for r in RULES if any(run["rule"] == r for run in data["runs"])]
    with style():
        fig, _ = figure(0, height=9.0)
        grid = fig.add_gridspec(3, 4, height_ratios=[1, 1, 1.1])
        axes = [fig.add_subplot(grid[i // 4, i % 4]) for i in range(len(rules))]
        for ax in axes[1:]:
            ax.sharex(axes[0])
            ax.sharey(axes[0])
        for i, (ax, rule) in enumerate(zip(axes, rules)):
            plot_rule(data, rule, LINE_COLORS[i % 7], ax, NOTES.get(rule, ""))
            ax.set_xscale("log")
            ax.set_xticks([1, 10, 100, 1000], ["1", "10", "100", "1k"])
            ax.set_yticks([0, 0.1, 0.2, 0.3])
            ax.tick_params(labelleft=i % 4 == 0, labelbottom=i >= len(rules) - 4)
            panel(ax, "abcdefg"[i], rule)
            if i % 4 == 0:
                ax.set_ylabel("loss ½(o − t)²")
            if i >= len(rules) - 4:
                ax.set_xlabel("sweeps")
        axes[0].set_ylim(0, 0.4)
        key = fig.add_subplot(grid[1, 3])
        key.axis("off")
        key.plot([], [], color="k", lw=1.2, label="one seed that solves XOR")
        key.plot([], [], color="none", label="numbers: seeds solved, median\nsweeps until all outputs are on\n"
                                             "the right side of 0.5")
        key.plot([], [], color="0.55", lw=1.0, ls="--", label=f"one seed unsolved\nafter {data['max_sweeps']} sweeps")
        key.legend(loc="center left", frameon=False, title="in a–g:", alignment="left")
        if data["backprop_outputs"]:
            bx = fig.add_subplot(grid[2, :])
            plot_outputs(data["backprop_outputs"], bx)
            panel(bx, "h", f"backprop, seed {data['backprop_outputs']['seed']}: the outputs sit near 0.5, "
                           "then separate")
        fig.suptitle(f"XOR, 2-2-1 sigmoid, full-batch SGD η = {data['learning_rate']:g} (on the mean), momentum "
                     f"{data['momentum']:g}, 10 seeds per rule;\na run stops once every output is within 0.1 of "
                     "its target; loss of the rule's own read-out (ep: its free fixed point)")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Why EP with two recurrent hidden layers loses accuracy in one epoch (issue 5's known defect).

Reads ``<results>/ep_jumps/run.json`` (``experiments/ep_jumps.py``) and draws
``figures/ep_jumps.png``: (a) test error per epoch, EP vs training with the exact implicit
gradient from the same start (line style = seed); (b) the norm of every batch update; (c) per
sample of the EP batch with the largest update: EP's update norm against the implicit
gradient's, coloured by the stability margin of the free fixed point.

    python figures/ep_jumps.py [--results results] [--out figures/ep_jumps.png]
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from neurosim.plotting import (BLUE, VERMILLION, figure, figure_data, figure_parser, integer_axis, panel,
                               plain_log_axis, save, source, style)

STYLE = {"ep": {"color": BLUE, "label": "EP (symmetric, β = 0.001)"},
         "implicit": {"color": VERMILLION, "label": "exact implicit gradient"},
         "backprop": {"color": "0.5", "label": "feed-forward backprop, same net"}}
SEED_STYLE = ["-", "--", ":", "-."]


def collect(results) -> dict:
    """The record without provenance; of the largest EP batches only the first seed's first one."""
    rec = results.json("ep_jumps", command="python experiments/ep_jumps.py")
    runs = []
    for run in rec["runs"]:
        keep = {k: run.get(k) for k in ("mode", "seed", "epochs", "batches_per_epoch")}
        if run["seed"] == rec["seeds"][0]:
            keep["batch_update_norms"] = run.get("batch_update_norms")
            keep["largest_batches"] = (run.get("largest_batches") or [])[:1]
        runs.append(keep)
    return {"seeds": rec["seeds"], "sizes": rec["sizes"], "train_defaults": rec.get("train_defaults", {}),
            "runs": runs, "source": source(rec, "ep_jumps")}


def plot_errors(record: dict, ax=None):
    """Panel (a): test error per epoch of every run; returns the Axes."""
    seeds = record["seeds"]
    for run in record["runs"]:
        rows = [e for e in run["epochs"] if e["test_error"] is not None]
        ax.plot([e["epoch"] for e in rows], [100 * e["test_error"] for e in rows],
                SEED_STYLE[seeds.index(run["seed"]) % 4], marker="o", ms=3, lw=1.3, color=STYLE[run["mode"]]["color"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(0, 80)
    integer_axis(ax)
    return ax


def plot_norms(record: dict, ax=None):
    """Panel (b): norm of each batch update (first seed); returns the Axes."""
    seed = record["seeds"][0]
    for run in record["runs"]:
        if run["seed"] != seed or run["mode"] == "backprop" or not run.get("batch_update_norms"):
            continue
        norms = np.asarray(run["batch_update_norms"], dtype=float)
        ax.plot(np.arange(1, len(norms) + 1) / run["batches_per_epoch"], norms, color=STYLE[run["mode"]]["color"],
                lw=0.9, label=STYLE[run["mode"]]["label"])
    plain_log_axis(ax, "y")
    ax.set_xlabel(f"epoch (seed {seed})")
    ax.set_ylabel("update norm per batch")
    integer_axis(ax)
    return ax


def key(record: dict, ax):
    """The shared legend of (a) and (b): colour = training, line style = seed."""
    handles = [Line2D([], [], color=st["color"], lw=2.5, label=st["label"]) for st in STYLE.values()]
    handles += [Line2D([], [], color="k", ls=SEED_STYLE[i % 4], lw=1.3, label=f"seed {seed} (in a)")
                for i, seed in enumerate(record["seeds"])]
    ax.axis("off")
    ax.legend(handles=handles, loc="center", title="a, b: colour = how the net is trained", frameon=False)
    return ax


def plot_largest(record: dict, ax=None):
    """Panel (c): per-sample EP norm vs implicit-gradient norm in EP's largest batch; returns (Axes, mappable)."""
    seed = record["seeds"][0]
    ep = next(r for r in record["runs"] if r["mode"] == "ep" and r["seed"] == seed)
    spike = ep["largest_batches"][0]
    samples = spike["samples"]
    # samples whose gradient is exactly zero (saturated hard-sigmoid units) cannot sit on log axes
    shown = [s for s in samples if s["implicit_norm"] > 0 and s["ep_norm"] > 0]
    ref = np.array([s["implicit_norm"] for s in shown])
    est = np.array([s["ep_norm"] for s in shown])
    margin = np.clip(np.array([s["margin"] for s in shown]), 1e-4, None)
    sc = ax.scatter(ref, est, c=np.log10(margin), cmap="viridis", s=18)
    lo, hi = min(ref.min(), est.min()) * 0.7, max(ref.max(), est.max()) * 1.4
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="EP = exact")
    plain_log_axis(ax, "x")
    plain_log_axis(ax, "y")
    ax.set_xlabel("‖implicit gradient‖ of one sample")
    ax.set_ylabel("‖EP update‖ of the same sample")
    hidden = len(samples) - len(shown)
    ax.legend(loc="upper left", title=f"epoch {spike['epoch']}, batch cosine {spike['cosine']:.2f}"
                                       + (f"\n{hidden} of {len(samples)} samples with zero gradient not shown"
                                          if hidden else ""))
    return ax, sc


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, collect)
    with style():
        fig, axes = figure(2, 2, height=8.6)
        lr = record["train_defaults"].get("learning_rate", "")
        panel(plot_errors(record, axes[0, 0]), "a", "test error, same start")
        panel(plot_norms(record, axes[0, 1]), "b", "size of every batch update")
        ax, sc = plot_largest(record, axes[1, 0])
        panel(ax, "c", "EP's largest batch, per sample")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label("log₁₀ stability margin 1 − λ_max")
        key(record, axes[1, 1])
        fig.suptitle(f"Equilibrium propagation with two recurrent hidden layers: digits "
                     f"{'-'.join(map(str, record['sizes']))}, Adam {lr}")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

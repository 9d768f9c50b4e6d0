"""Why EP with two recurrent hidden layers loses accuracy in one epoch (issue 5's known defect).

Reads ``<results>/ep_jumps/run.json`` (``experiments/ep_jumps.py``) and draws
``figures/ep_jumps.png``: (a) test error per epoch, EP vs training with the exact implicit
gradient from the same start; (b) the norm of every batch update; (c) per sample of the EP batch
with the largest update: EP's update norm against the implicit gradient's, coloured by the
stability margin of the free fixed point.

    python figures/ep_jumps.py [--results results]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurosim.plotting import read_results  # noqa: E402

HERE = Path(__file__).resolve().parent
STYLE = {"ep": {"color": "C0", "label": "EP (symmetric, $\\beta$ = 0.001)"},
         "implicit": {"color": "C3", "label": "exact implicit gradient (recurrent backprop)"},
         "backprop": {"color": "0.45", "label": "feed-forward backprop, same net"}}
SEED_STYLE = ["-", "--", ":", "-."]


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    args = parser.parse_args(argv)
    record = read_results(args.results, "ep_jumps")
    seeds = record["seeds"]
    first = {r["mode"]: r for r in record["runs"] if r["seed"] == seeds[0]}

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(15.5, 4.6))
    for run in record["runs"]:
        style = STYLE[run["mode"]]
        rows = [e for e in run["epochs"] if e["test_error"] is not None]
        i = seeds.index(run["seed"])
        ax.plot([e["epoch"] for e in rows], [100 * e["test_error"] for e in rows], SEED_STYLE[i % 4], marker="o",
                ms=2.5, lw=1.2, color=style["color"])
    for mode, run in first.items():
        if mode == "backprop":
            continue
        style = STYLE[mode]
        norms = np.asarray(run["batch_update_norms"])
        per_epoch = run["batches_per_epoch"]
        bx.semilogy(np.arange(1, len(norms) + 1) / per_epoch, norms, color=style["color"], lw=0.9,
                    label=f"{style['label']}, seed {seeds[0]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"(a) digits {'-'.join(map(str, record['sizes']))}, Adam "
                 f"{record['train_defaults'].get('learning_rate', '')}, same start", fontsize=10)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=st["color"], lw=2, label=st["label"]) for st in STYLE.values()]
    handles += [Line2D([], [], color="k", ls=SEED_STYLE[i % 4], lw=1.2, label=f"seed {seed}")
                for i, seed in enumerate(seeds)]
    ax.legend(handles=handles, fontsize=7, loc="upper right", ncol=2)
    ax.set_ylim(0, 80)
    ax.grid(alpha=0.3)
    bx.set_xlabel("epoch")
    bx.set_ylabel("update norm per batch")
    bx.set_title("(b) size of every batch update", fontsize=10)
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3, which="both")

    spike = first["ep"]["largest_batches"][0]
    samples = spike["samples"]
    # samples whose gradient is exactly zero (saturated hard-sigmoid units) cannot sit on log axes
    shown = [s for s in samples if s["implicit_norm"] > 0 and s["ep_norm"] > 0]
    ref = np.array([s["implicit_norm"] for s in shown])
    est = np.array([s["ep_norm"] for s in shown])
    margin = np.clip(np.array([s["margin"] for s in shown]), 1e-4, None)
    sc = cx.scatter(ref, est, c=np.log10(margin), cmap="viridis", s=16)
    lo, hi = min(ref.min(), est.min()) * 0.7, max(ref.max(), est.max()) * 1.4
    cx.plot([lo, hi], [lo, hi], "k:", lw=1, label="EP = exact")
    cx.set_xscale("log")
    cx.set_yscale("log")
    cx.set_xlabel(f"|implicit gradient| of one sample ({len(samples) - len(shown)} of {len(samples)} with "
                  "zero gradient not shown)")
    cx.set_ylabel("|EP update| of the same sample")
    cx.set_title(f"(c) EP's largest batch (seed {seeds[0]}, epoch {spike['epoch']}): cosine {spike['cosine']:.2f}",
                 fontsize=10)
    cx.legend(fontsize=8, loc="upper left")
    cb = fig.colorbar(sc, ax=cx)
    cb.set_label("log$_{10}$ stability margin 1 − λ$_{max}$(D$^{1/2}$WD$^{1/2}$)")
    fig.tight_layout()
    out = HERE / "ep_jumps.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()

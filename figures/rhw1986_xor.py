"""Figure: XOR (Rumelhart, Hinton & Williams 1986) -- learning curves of every rule, and the
backprop outputs leaving 0.5 for 0 and 1.

Reads ``<results>/rhw1986_xor/runs/*.json`` (written by ``experiments/rhw1986_xor.py``) and
writes ``figures/rhw1986_xor.png``.  It never trains.

Usage::

    python figures/rhw1986_xor.py [--results results] [--out figures/rhw1986_xor.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

RULES = ("backprop", "fa", "dfa", "dtp", "pc", "pc-fpa", "ep")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = p.parse_args(argv)
    from neurosim.sweep import load_records

    runs = Path(args.results) / "rhw1986_xor" / "runs"
    records = [r for r in load_records(runs) if r.get("status") != "failed"] if runs.is_dir() else []
    if not records:
        sys.exit(f"error: no XOR results in {runs}; run `python experiments/rhw1986_xor.py` first")
    import numpy as np
    from matplotlib.figure import Figure

    from neurosim.data import rhw_xor

    fig = Figure(figsize=(12, 5.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
    target = np.logical_xor(*rhw_xor().x_train.T).astype(float)
    styles = {"pc-fpa": ":", "dfa": "--"}  # pc-fpa = backprop and dfa = fa on this net: drawn over each other
    colors = dict(zip(RULES, ("black", "tab:blue", "tab:cyan", "tab:green", "tab:red", "tab:orange", "tab:purple")))
    for rule in RULES:
        recs = sorted((r for r in records if r["job"]["rule"] == rule), key=lambda r: r["job"]["seed"])
        if not recs:
            continue
        solved = [r["criterion_epochs"]["sign"] for r in recs if r["criterion_epochs"]["sign"] is not None]
        label = (f"{rule}: {len(solved)}/{len(recs)} seeds solved"
                 + (f", median {np.median(solved):.0f} sweeps" if solved else "")
                 + {"dfa": " (= fa: one hidden layer)", "pc-fpa": " (= backprop)"}.get(rule, ""))
        for i, r in enumerate(recs):
            # The loss of the rule's own read-out (EP: the free fixed point, not the feed-forward pass),
            # from the outputs traced after every sweep.
            out = np.array(r["outputs"])[:, :, 0]
            loss = 0.5 * np.mean((out - target[None, :]) ** 2, axis=1)
            ax1.plot(np.arange(len(loss)), loss, color=colors[rule], lw=0.9, alpha=0.45, ls=styles.get(rule, "-"),
                     label=label if i == 0 else None)
    ax1.set_xscale("symlog", linthresh=10)
    ax1.set_xlabel("sweeps through the 4 patterns (full-batch updates)")
    ax1.set_ylabel("loss ½(o − t)², mean over the 4 patterns\n(of the rule's own read-out)")
    ax1.set_title("XOR, 2-2-1 sigmoid, SGD η = 2.0 (mean) / 0.5 (sum), α = 0.9\none line per seed; "
                  "a run stops when every output is within 0.1 of its target", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2, frameon=False)
    bp = sorted((r for r in records if r["job"]["rule"] == "backprop" and r["criterion_epochs"]["within_0.1"]
                 is not None), key=lambda r: r["job"]["seed"])
    if bp:
        r = bp[0]
        out = np.array(r["outputs"])[:, :, 0]
        x = rhw_xor().x_train.astype(int)  # the pattern order of the records' outputs
        for k in range(4):
            target = int(x[k, 0]) ^ int(x[k, 1])
            ax2.plot(np.arange(len(out)), out[:, k], lw=1.5, ls="-" if target else "--",
                     label=f"input ({x[k, 0]}, {x[k, 1]}) → target {target}")
        ax2.axhline(0.5, color="grey", lw=0.7, ls=":")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_xlabel("sweeps")
        ax2.set_ylabel("output unit rate o (sigmoid)")
        ax2.set_title(f"backprop, seed {r['job']['seed']}: the 4 outputs sit near 0.5 (plateau),\n"
                      f"then separate (all on the right side of 0.5 at sweep {r['criterion_epochs']['sign']})",
                      fontsize=9)
        ax2.legend(fontsize=7, loc="upper left")
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

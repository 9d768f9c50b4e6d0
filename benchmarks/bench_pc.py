"""Training throughput of predictive coding relative to backprop, vs the number of inference steps T.

Fashion-MNIST, the pcx MLP card (``models/pcx_mlp.toml``: 784-128-128-128-10 relu,
cross-entropy), batch 128, Adam, float32, one epoch over ``--n-train`` images per
measurement.  Backprop, standard ``pc`` at each T (its training preset
``models/presets/pc-train.toml``: rate 0.05, truncated inference recorded, ``max_steps = T``)
and ``pc-fpa`` at rate 1 (``models/presets/pc-fpa-train.toml``: exact after L - 1 = 3 steps) take
turns, ``--repeats`` times, and
the fastest epoch of each counts, so a burst of load from another process lands on no rule
in particular.  Ratio = PC epoch seconds / backprop epoch seconds, measured in the same run.

FLOP model (per sample; :math:`W_1 = n_1 n_0` the input projection, :math:`W_{hh}` all the
others, :math:`W = W_1 + W_{hh}`):

* backprop: forward :math:`2W`, deltas :math:`2W_{hh}` (none needed below layer 1), weight
  gradients :math:`2W`: :math:`6W - 2W_1`;
* PC: the bottom prediction :math:`W_1 x` once (the input is clamped, so it is constant
  during inference) :math:`2W_1`, the feed-forward initialisation of the upper layers
  :math:`2W_{hh}`, then T + 1 evaluations of the errors and the gradient of F (one forward
  and one backward product per projection above the input: :math:`4W_{hh}`), and the weight
  updates :math:`2W`: :math:`2W_1 + 2W + 2W_{hh} + 4(T+1)W_{hh}`.

The naive expectation "(T + 1) x backprop" charges every step a full forward and backward
pass; inference never touches the input projection, which holds 75% of the weights here,
so the model predicts far less (ratio 5.6 at T = 20).  The measured ratio is the FLOP ratio
plus NumPy's per-call overhead, which weighs more in PC's many small products.

    python benchmarks/bench_pc.py [--n-train 10000] [--steps 1,2,5,10,20,50] [--repeats 3] [--json]

Writes ``benchmarks/out/bench_pc.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import batch_matmul_flops  # noqa: E402  (the shared timing helpers)


def flop_model(sizes, n_steps: int | None) -> float:
    """FLOP per training sample: backprop (``n_steps=None``) or PC with ``n_steps`` inference steps."""
    w = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    w1, whh = w[0], sum(w[1:])
    if n_steps is None:
        return 6 * sum(w) - 2 * w1
    return 2 * w1 + 2 * sum(w) + 2 * whh + 4 * (n_steps + 1) * whh


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=10000, help="training images per timed epoch")
    p.add_argument("--steps", default="1,2,5,10,20,50", help="inference steps T of standard pc")
    p.add_argument("--repeats", type=int, default=3, help="turns per rule; the fastest epoch counts")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_pc.json"))
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from neurosim.data import load_dataset
    from neurosim import RunSpec
    from neurosim.results import provenance, write_json
    from neurosim.rules import get_rule
    from neurosim.training import TrainConfig, train

    card = RunSpec.load(ROOT / "models" / "pcx_mlp.toml")
    sizes = [la.size for la in card.network.layers]
    data = load_dataset("fashion-mnist", n_train=args.n_train, n_test=100, seed=0)
    pc_hyper = dict(RunSpec.preset("pc", "train").hyper)
    variants = {"backprop": ("backprop", {}, None),
                "pc-fpa": ("pc-fpa", dict(RunSpec.preset("pc-fpa", "train").hyper), len(sizes) - 2)}
    for t in (int(s) for s in args.steps.split(",")):
        variants[f"pc T={t}"] = ("pc", {**pc_hyper, "max_steps": t}, t)
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, optimizer="adam", dtype="float32", align_samples=0)
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for label, (name, hyper, _) in variants.items():
            res = train(card.network, get_rule(name, **hyper), data, cfg, progress=False)
            if res.status != "completed":
                raise SystemExit(f"{label}: {res.status}: {res.message}")
            best[label] = min(best.get(label, float("inf")), res.history[0]["train_seconds"])
    bp = best["backprop"]
    bp_flop = flop_model(sizes, None)
    rows = []
    for label, (name, hyper, t) in variants.items():
        model = flop_model(sizes, None if name == "backprop" else t)
        if name == "pc-fpa":  # FPA: no forward products during inference, L - 1 backward sweeps
            w = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
            model = 2 * sum(w) + 2 * (t + 1) * sum(w[1:]) + 2 * sum(w)
        rows.append({"rule": name, "label": label, "max_steps": t, "hyper": hyper,
                     "epoch_seconds": best[label], "samples_per_second": len(data.x_train) / best[label],
                     "ratio_to_backprop": best[label] / bp, "flop_per_sample": model,
                     "flop_ratio_to_backprop": model / bp_flop,
                     "naive_ratio_T_plus_1": None if t is None or name != "pc" else t + 1})
    gflops = batch_matmul_flops("float32", args.batch_size, sizes) / 1e9
    out = {"dataset": data.name, "n_train": len(data.x_train), "sizes": sizes, "activation": "relu",
           "batch_size": args.batch_size, "dtype": "float32", "optimizer": "adam", "repeats": args.repeats,
           "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "matmul_gflops_batch": gflops,
           "rows": rows, "provenance": provenance()}
    write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{data.name}: {len(data.x_train)} images, {'-'.join(map(str, sizes))}, batch {args.batch_size}, "
          f"float32; layer GEMMs {gflops:.1f} GFLOP/s")
    print(f"{'variant':<12} {'epoch s':>8} {'samples/s':>10} {'x backprop':>11} {'FLOP model':>11} {'T+1':>5}")
    for r in rows:
        naive = "" if r["naive_ratio_T_plus_1"] is None else str(r["naive_ratio_T_plus_1"])
        print(f"{r['label']:<12} {r['epoch_seconds']:8.2f} {r['samples_per_second']:10.0f} "
              f"{r['ratio_to_backprop']:11.1f} {r['flop_ratio_to_backprop']:11.1f} {naive:>5}")


if __name__ == "__main__":
    main()

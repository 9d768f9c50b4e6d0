"""Alignment of rate predictive coding with backprop vs inference steps and output precision.

For the three PC variants of :mod:`neurosim.rules.predictive_coding` (``pc``, ``pc-fpa``,
``pc-zil``), on a small MLP and a batch of real data (the embedded UCI digits), measure the
cosine between each rule's update and backprop's descent direction -- per projection and
global -- and the norm ratio, at the same weights and inputs:

1. vs the number of inference steps (truncated inference, ``max_steps`` with
   ``on_unconverged="record"``),
   for ``pc`` at two output precisions and for ``pc-fpa``; ``pc-zil`` has a fixed schedule
   of ``L - 1`` steps and is recorded once;
2. vs the output precision :math:`\\gamma` (= nudging strength), with inference run to
   convergence (relative residual ``--tolerance``).

It only WRITES results: ``<out>/run.json`` (config, seeds, provenance, every number) via
:func:`neurosim.results.save_run`.  ``figures/pc_alignment.py`` reads and draws them.

Usage::

    python experiments/pc_inference_sweep.py                # -> results/pc_inference_sweep/run.json
    python experiments/pc_inference_sweep.py --seeds 0 1 2 --out /tmp/pc
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import Network, get_rule, init_params
from neurosim.alignment import align
from neurosim.data import load_dataset
from neurosim.results import save_run

STEPS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
GAMMAS = tuple(float(g) for g in np.logspace(-3, 1, 13))
STEP_SWEEP_RULES = (("pc", {"output_precision": 1.0}), ("pc", {"output_precision": 0.01}), ("pc-fpa", {}))


def _row(report) -> dict:
    """One measurement: the alignment and the inference diagnostics ``align`` reports from ``aux``
    (``pc-zil`` has no residual: NaN)."""
    info = report.extra
    return {"global_cosine": report.global_cosine,
            "cosine": {p.name: p.cosine for p in report.projections},
            "norm_ratio": {p.name: p.norm_ratio for p in report.projections},
            "steps": info["inference.steps"], "converged": info["inference.converged"],
            "residual": info.get("inference.residual", float("nan")), "energy": info["inference.energy"]}


def run(args) -> dict:
    ds = load_dataset(args.dataset, n_train=args.n_samples, seed=args.data_seed)
    sizes = [ds.n_features, *args.hidden, ds.n_classes]
    net = Network.feedforward(sizes, args.activation, loss=args.loss, name="pc_sweep")
    x = ds.x_train.astype(np.float64)
    t = ds.targets("train")
    rate = args.step_size
    step_sweep, gamma_sweep, zil = [], [], []
    for seed in args.seeds:
        params = init_params(net, seed)
        for name, extra in STEP_SWEEP_RULES:
            rows = []
            for n in STEPS:
                rule = get_rule(name, max_steps=n, step_size=rate, tolerance=args.tolerance,
                                on_unconverged="record", **extra)
                # record keys kept from the first edition (figures/pc_alignment.py reads them)
                rows.append({"n_inference_steps": n, **_row(align(rule, net, params, x, t))})
            step_sweep.append({"rule": name, "seed": seed, "hyper": {"step_size": rate, **extra},
                               "rows": rows})
        for name in ("pc", "pc-fpa", "pc-zil"):
            rows = []
            for gamma in GAMMAS:
                hyper = {"output_precision": gamma}
                if name != "pc-zil":
                    hyper.update(step_size=rate, tolerance=args.tolerance, max_steps=args.max_steps)
                rule = get_rule(name, **hyper)  # raises if inference does not converge
                rows.append({"output_precision": gamma, **_row(align(rule, net, params, x, t))})
            gamma_sweep.append({"rule": name, "seed": seed, "rows": rows})
        zil.append({"seed": seed, **_row(align(get_rule("pc-zil"), net, params, x, t))})
        print(f"seed {seed}: done")
    return {"experiment": "pc_inference_sweep",
            "config": {"dataset": args.dataset, "n_samples": args.n_samples, "data_seed": args.data_seed,
                       "sizes": sizes, "activation": args.activation, "loss": args.loss,
                       "inference_rate": rate,  # = step_size; the key figures/pc_alignment.py reads
                       "step_size": rate, "tolerance": args.tolerance, "max_steps": args.max_steps,
                       "seeds": list(args.seeds), "steps": list(STEPS), "output_precisions": list(GAMMAS),
                       "projections": [p.name for p in net.chain()],
                       "data_source": ds.source},
            "step_sweep": step_sweep, "precision_sweep": gamma_sweep, "zil": zil}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/pc_inference_sweep", help="output folder (run.json)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--n-samples", type=int, default=256, help="batch size: training samples used")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the class-balanced sample choice")
    p.add_argument("--hidden", type=int, nargs="+", default=[32, 32], help="hidden layer sizes")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--loss", default="cross_entropy", choices=["mse", "cross_entropy"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="weight-initialisation seeds")
    p.add_argument("--step-size", type=float, default=0.1, help="Euler step of the inference (pc, pc-fpa)")
    p.add_argument("--tolerance", type=float, default=1e-8, help="relative residual for converged inference")
    p.add_argument("--max-steps", type=int, default=50000, help="step cap of converged inference")
    args = p.parse_args(argv)
    start = time.time()
    record = run(args)
    record["seconds"] = time.time() - start
    path = save_run(args.out, record)
    print(f"wrote {path} ({record['seconds']:.1f} s)")


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "pc_inference_sweep"))

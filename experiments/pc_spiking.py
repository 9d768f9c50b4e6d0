"""Spiking predictive coding: alignment of the trial-averaged spiking update vs number of trials.

For the spiking ``pc-fpa`` circuit of :mod:`neurosim.spiking.predictive_coding` (value and
+/- error populations of LIF neurons in brian2) on a small LIF MLP (default 8-6-3, mse,
``bias_init = 2``), a batch of random inputs (uniform rates in [0, 1] x 100 Hz) and one-hot
targets, measure the cosine of the spiking update averaged over the first ``n`` trials with

(a) rate PC (``pc-fpa``) on the rate-equivalent network (``"lif"`` activation), and
(b) backprop on the same network (identical to (a) up to rounding: fixed-prediction PC is
    exact, which the run checks),
(c) the circuit's own rate limit at the same nudge, without spikes (:func:`finite_nudge_updates`),

per projection and global, for n = 1 .. ``--max-trials``.  Every trial is an independent
copy of the circuit in one brian2 run, so the curve comes from one simulation per seed
(prefix means of the trials).  The noise-limited cosine predicted from the measured
trial-to-trial variance is saved beside it.  A second sweep varies the nudge h at
``--nudge-trials`` trials (bias vs noise), and the first seed's time course and raster of
one presentation are saved for the figure.

Writes ``<out>/run.json`` (config, seeds, provenance, every number) via
:func:`neurosim.results.save_run`; ``figures/pc_spiking.py`` reads it.  brian2 code
generation: numpy (no compilation; ~15 s per 200-trial simulation of 8-6-3 x 4 samples).

Usage::

    python experiments/pc_spiking.py                       # -> results/pc_spiking/run.json
    python experiments/pc_spiking.py --seeds 0 --max-trials 20 --nudges 0.25 --out /tmp/pcs
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from brian2 import ms

from neurosim import get_rule, init_params
from neurosim.oracles import get_oracle
from neurosim.alignment import AlignmentReport
from neurosim.spiking import default_network, rate_equivalent
from neurosim.spiking.predictive_coding import (DEFAULTS, finite_nudge_updates, noise_limited_cosine,
                                                simulate_pc, trial_updates)
from neurosim.reference import forward
from neurosim.results import save_run

TRIALS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def _problem(sizes, batch, seed):
    net = default_network(sizes, loss="mse")
    params = init_params(net, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (batch, sizes[0]))
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return net, params, x, t


def _cosines(dw, ref, names) -> dict:
    rep = AlignmentReport.compare(dw, ref, names=names)
    return {"global": rep.global_cosine, **{p.name: p.cosine for p in rep.projections},
            "norm_ratio": {p.name: p.norm_ratio for p in rep.projections}}


def run(args) -> dict:
    rule = get_rule("pc-fpa")
    trial_rows, nudge_rows, exactness = [], [], []
    course = None
    for seed in args.seeds:
        net, params, x, t = _problem(args.sizes, args.batch, seed)
        eq = rate_equivalent(net)
        backprop = get_oracle("backprop")(rule, eq, params, x, t)
        rate_pc = rule.step(eq, params, x, t)
        names = [k for k in backprop if not k.endswith(".bias")]
        fp = forward(eq, params, x)
        exactness.append({"seed": seed, "rate_pc_vs_backprop": _cosines(rate_pc, backprop, names)["global"],
                          "min_abs_drive_minus_threshold": float(min(np.abs(fp.u[p.post] - 1.0).min()
                                                                     for p in net.chain())),
                          "silent_units": int(sum((fp.u[p.post] <= 1.0).sum() for p in net.chain()))})
        limit = finite_nudge_updates(eq, params, x, t, nudge=args.nudge)
        started = time.perf_counter()
        spikes = simulate_pc(net, params, x, t, n_trials=args.max_trials, seed=seed, nudge=args.nudge)
        per_trial = trial_updates(eq, spikes)
        print(f"seed {seed}: {args.max_trials} trials simulated in {time.perf_counter() - started:.1f} s",
              flush=True)
        for n in [n for n in TRIALS if n <= args.max_trials]:
            dw = {k: v[:n].mean(axis=0) for k, v in per_trial.items()}
            trial_rows.append({"seed": seed, "n_trials": n, "vs_rate_pc": _cosines(dw, rate_pc, names),
                               "vs_backprop": _cosines(dw, backprop, names),
                               "vs_finite_nudge": _cosines(dw, limit, names),
                               "noise_limited": noise_limited_cosine(per_trial, names, n)})
        if course is None:
            course = {"seed": seed, "bin_s": spikes.bin_s, "settle_s": spikes.settle_s,
                      "window_s": spikes.window, "nudge": spikes.nudge, "layers": [p.post for p in net.chain()],
                      "input": net.input_layer.name,
                      "rates": {f"{layer}/{pop}": spikes.time_course[(layer, pop)][:, :].tolist()
                                for (layer, pop) in spikes.time_course},
                      "raster": {f"{layer}/{pop}": {"unit": idx.tolist(), "time_s": tt.tolist()}
                                 for (layer, pop), (idx, tt) in spikes.raster.items()},
                      "rate_pc_errors": {}, "timings": spikes.timings}
            # the rate-PC equilibrium of sample 0 (dashed lines of the figure): eps_l = -delta_l
            res = get_rule("pc-fpa").infer(eq, params, x[:1], t[:1])
            course["rate_pc_errors"] = {k: v[0].tolist() for k, v in res.errors.items()}
            course["rate_pc_values"] = {p.post: (res.presynaptic[q.post][0].tolist())
                                        for p, q in zip(net.chain()[:-1], net.chain()[1:])}
    for seed in args.seeds[:args.nudge_seeds]:
        net, params, x, t = _problem(args.sizes, args.batch, seed)
        eq = rate_equivalent(net)
        backprop = get_oracle("backprop")(rule, eq, params, x, t)
        names = [k for k in backprop if not k.endswith(".bias")]
        for h in args.nudges:
            spikes = simulate_pc(net, params, x, t, n_trials=args.nudge_trials, seed=seed, nudge=h)
            per_trial = trial_updates(eq, spikes)
            dw = {k: v.mean(axis=0) for k, v in per_trial.items()}
            limit = finite_nudge_updates(eq, params, x, t, nudge=h)
            nudge_rows.append({"seed": seed, "nudge": h, "n_trials": args.nudge_trials,
                               "vs_backprop": _cosines(dw, backprop, names),
                               "finite_nudge_vs_backprop": _cosines(limit, backprop, names),
                               "noise_limited": noise_limited_cosine(per_trial, names)})
            print(f"seed {seed} nudge {h}: cosine {nudge_rows[-1]['vs_backprop']['global']:.4f}", flush=True)
    return {"trials": trial_rows, "nudges": nudge_rows, "exactness": exactness, "course": course}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/pc_spiking")
    p.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[8, 6, 3])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--max-trials", type=int, default=200)
    p.add_argument("--nudge", type=float, default=DEFAULTS["nudge"])
    p.add_argument("--nudges", type=lambda s: [float(v) for v in s.split(",")], default=[0.05, 0.1, 0.25, 0.5])
    p.add_argument("--nudge-trials", type=int, default=100)
    p.add_argument("--nudge-seeds", type=int, default=3, help="first seeds of --seeds used by the nudge sweep")
    args = p.parse_args(argv)
    started = time.perf_counter()
    record = run(args)
    config = {k: v for k, v in vars(args).items()}
    config.update({"codegen_target": "numpy", "dt_ms": float(DEFAULTS["dt"] / ms),
                   "settle_ms": float(DEFAULTS["settle"] / ms), "window_ms": float(DEFAULTS["window"] / ms),
                   "inputs": "uniform(0, 1) x 100 Hz Poisson",
                   "targets": "one-hot, uniform class", "network": "default_network(sizes), mse, bias_init 2"})
    record = {"experiment": "pc_spiking", "config": config, "seconds": time.perf_counter() - started, **record}
    path = save_run(args.out, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "pc_spiking"))

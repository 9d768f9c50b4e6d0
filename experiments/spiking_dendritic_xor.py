"""Spiking dendritic microcircuit on XOR: update alignment with backprop, and learning curves.

A 2-4-1 sigmoid/mse microcircuit (Sacramento et al. 2018) with symmetric top-down weights,
simulated as Poisson-spiking two-compartment neurons in brian2
(:class:`neurosim.spiking.dendritic.SpikingMicrocircuit`; r_max = 200 Hz, 200 ms settling +
1 s counting window per presentation, dt = 0.2 ms), from the self-predicting state.

1. *Alignment*: for output nudging g_som_out in ``--g`` (0.3, 0.8, 2.0: lambda = 0.21, 0.42,
   0.65), one run of ``--trials`` presentations of each XOR sample, every copy simulated
   twice with common random numbers -- nudged and free (no teacher) -- so that one run gives
   three updates per trial: ``nudged`` (the original rule, no baseline), ``free`` (the
   teacher-less plasticity: the bias) and ``baselined`` = nudged - free (the fix, default
   of ``SpikingMicrocircuit``).  For each, the cosine of the mean of the first n trials'
   basal updates with backprop's -dL/dW and with the rate rule's update, and its norm
   relative to backprop's, per projection, for n = 1, 2, 4, ... (the ``spike`` signal
   S/r_max - phi(V*) and the ``rate`` signal phi(u) - phi(V*)); the per-entry trial variance
   (noise model: ``noise_predicted_cosine`` = cos(rate rule, G) |rate| / sqrt(|rate|^2 +
   sum var / n)).  Also the rate rule's own cosine with backprop (no spike noise).
2. *Learning*: full-batch SGD with the spiking update (``spike`` signal, ``--train-baseline``),
   ``--epochs`` epochs, several seeds; the rate network's mse and XOR error per epoch, and
   the same for backprop with the same learning rate, initial weights and epochs.

Writes ``results/spiking_dendritic_xor/run.json`` (+ npz); ``figures/spiking_dendritic_xor.py``
draws it.

    python experiments/spiking_dendritic_xor.py [--out results/spiking_dendritic_xor]
        [--trials 256] [--g 0.3,0.8,2.0] [--epochs 150] [--seeds 0,1,2] [--lr 1.0] [--train-trials 8]
        [--train-g 0.8] [--train-window-ms 1000] [--train-settle-ms 200] [--train-baseline free]
        [--target numpy] [--skip-learning] [--skip-alignment]

The numpy target is the faster one for this tiny circuit (vectorised over the 2 x trials x
4 copies; no compilation): ~40-50 s per lambda at 256 trials.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from brian2 import ms

from neurosim import backprop, get_rule
from neurosim.alignment import cosine
from neurosim.reference import forward, loss_value
from neurosim.results import save_run
from neurosim.spiking.dendritic import SpikingMicrocircuit, train_spiking_microcircuit
from neurosim.validation import check_list

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
T = np.array([[0], [1], [1], [0]], dtype=float)
SIZES = [2, 4, 1]


def circuit(g_som_out: float, seed: int):
    rule = get_rule("microcircuit", g_som_out=g_som_out, topdown="symmetric")
    net = rule.network(SIZES)
    return rule, net, rule.init_params(net, seed=seed)


def _summary(per_trial: np.ndarray, counts, bp: np.ndarray, rate: np.ndarray) -> dict:
    """Cosines / norms of the mean of the first n trials, and the trial noise of one update."""
    n_trials = per_trial.shape[0]
    mean_n = [per_trial[:n].mean(axis=0) for n in counts]
    # a single baselined trial can be exactly zero (no spike moved by the teacher): no cosine
    single = [cosine(per_trial[i], bp) for i in range(n_trials) if np.any(per_trial[i])]
    var = per_trial.var(axis=0, ddof=1).sum()  # summed per-entry variance of one trial
    nr = np.linalg.norm(rate)
    return {"vs_backprop": [cosine(m, bp) for m in mean_n],
            "vs_rate_rule": [cosine(m, rate) for m in mean_n],
            "norm_ratio": [float(np.linalg.norm(m) / np.linalg.norm(bp)) for m in mean_n],
            "single_trial_vs_backprop_mean": float(np.mean(single)) if single else None,
            "single_trial_vs_backprop_std": float(np.std(single, ddof=1)) if len(single) > 1 else None,
            "zero_trials": int(n_trials - len(single)),
            "trial_variance_sum": float(var),
            "noise_predicted_cosine": [float(cosine(rate, bp) * nr / np.sqrt(nr ** 2 + var / n)) for n in counts],
            "norm_ratio_all_trials": float(np.linalg.norm(mean_n[-1]) / np.linalg.norm(bp))}


def alignment(g_values, n_trials: int, seed: int, target: str) -> dict:
    out = {}
    for g in g_values:
        rule, net, params = circuit(g, seed)
        model = SpikingMicrocircuit(net, params, rule, batch=len(X), n_trials=n_trials, target=target,
                                    baseline="free")
        started = time.perf_counter()
        spikes = model.run(X, T, seed=seed + 1)
        wall = time.perf_counter() - started
        bp = backprop(net, params, X, T).descent()
        rate = rule.step(net, params, X, T)
        names = [p.name for p in model.chain]
        counts = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if n <= n_trials]
        row = {"lambda": rule.nudging, "n": counts, "wall_s": wall, "timings": spikes.timings,
               "rate_rule_vs_backprop": {k: cosine(rate[k], bp[k]) for k in names},
               "backprop_norm": {k: float(np.linalg.norm(bp[k])) for k in names}, "projections": {}}
        for k in names:
            row["projections"][k] = {}
            for signal in ("spike", "rate"):
                base = getattr(spikes, f"per_trial_{signal}")[k]
                free = getattr(spikes, f"free_per_trial_{signal}")[k]
                variants = {"baselined": base, "nudged": base + free, "free": free}
                row["projections"][k][signal] = {v: _summary(d, counts, bp[k], rate[k]) for v, d in variants.items()}
                nudged_mean, free_mean = (base + free).mean(axis=0), free.mean(axis=0)
                # how much of the unbaselined update is the teacher-less one
                row["projections"][k][signal]["cos_nudged_free"] = cosine(nudged_mean, free_mean)
        out[f"{g:g}"] = row
        print(f"g_som_out={g:g} (lambda={rule.nudging:.3f}), {n_trials} trials x 2 phases, {wall:.0f} s: " + "; ".join(
            f"{k} spike: nudged {row['projections'][k]['spike']['nudged']['vs_backprop'][-1]:.3f}, free "
            f"{row['projections'][k]['spike']['free']['vs_backprop'][-1]:.3f} (|free|/|G| "
            f"{row['projections'][k]['spike']['free']['norm_ratio'][-1]:.1f}), baselined "
            f"{row['projections'][k]['spike']['baselined']['vs_backprop'][-1]:.3f}, rate signal baselined "
            f"{row['projections'][k]['rate']['baselined']['vs_backprop'][-1]:.3f}" for k in names), flush=True)
    return out


def backprop_curve(net, params, epochs: int, lr: float) -> list:
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    chain = [p.name for p in net.chain()]
    hist = []
    for _ in range(epochs + 1):
        out = forward(net, params, X).output
        hist.append({"loss": loss_value(net, out, T), "error": float(np.mean((out > 0.5) != (T > 0.5)))})
        step = backprop(net, params, X, T).descent()
        for k, v in step.items():
            if k in chain or k.endswith(".bias"):
                params[k] = params[k] + lr * v
    return hist


def learning(seeds, epochs: int, lr: float, g: float, n_trials: int, target: str, baseline: str = "free",
             window=1000 * ms, settle=200 * ms) -> dict:
    out = {"g_som_out": g, "lr": lr, "epochs": epochs, "n_trials": n_trials, "baseline": baseline,
           "window_ms": float(window / ms), "settle_ms": float(settle / ms), "runs": {}}
    for seed in seeds:
        rule, net, params = circuit(g, seed)
        started = time.perf_counter()
        _, hist = train_spiking_microcircuit(net, params, X, T, epochs=epochs, learning_rate=lr, rule=rule,
                                             n_trials=n_trials, seed=1000 * seed, signal="spike",
                                             codegen_target=target, baseline=baseline, window=window,
                                             settle=settle)
        bp = backprop_curve(net, params, epochs, lr)
        out["runs"][str(seed)] = {"spiking": hist, "backprop": bp, "wall_s": time.perf_counter() - started}
        print(f"seed {seed}: spiking loss {hist[0]['loss']:.3f} -> {hist[-1]['loss']:.3f} (error "
              f"{hist[-1]['error']:.2f}), backprop {bp[0]['loss']:.3f} -> {bp[-1]['loss']:.3f} (error "
              f"{bp[-1]['error']:.2f}), {out['runs'][str(seed)]['wall_s']:.0f} s", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/spiking_dendritic_xor")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--g", default="0.3,0.8,2.0", help="output nudging conductances g_som_out")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--train-g", type=float, default=0.8)
    ap.add_argument("--train-trials", type=int, default=8)
    ap.add_argument("--train-baseline", default="free", choices=("free", "none"))
    ap.add_argument("--target", default="numpy")
    ap.add_argument("--train-window-ms", type=float, default=1000.0)
    ap.add_argument("--train-settle-ms", type=float, default=200.0)
    ap.add_argument("--skip-learning", action="store_true")
    ap.add_argument("--skip-alignment", action="store_true",
                    help="keep the alignment part of an existing run.json in --out, run the learning part")
    args = ap.parse_args(argv)
    # both lists are read now: the seeds are used only after the alignment runs (minutes)
    conductances = check_list("spiking_dendritic_xor", "--g", args.g, "number", gt=0)
    seeds = check_list("spiking_dendritic_xor", "--seeds", args.seeds, "int", ge=0)
    if args.skip_alignment:
        record = json.loads((Path(args.out) / "run.json").read_text())
    else:
        record = {"sizes": SIZES, "topdown": "symmetric", "seed": args.seed, "r_max_hz": 200.0, "window_ms": 1000.0,
                  "settle_ms": 200.0, "dt_ms": 0.2,
                  "alignment": alignment(conductances, args.trials, args.seed, args.target)}
    if not args.skip_learning:
        record["learning"] = learning(seeds, args.epochs, args.lr, args.train_g,
                                      args.train_trials, args.target, args.train_baseline,
                                      args.train_window_ms * ms, args.train_settle_ms * ms)  # flags in ms
    path = save_run(args.out, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "spiking_dendritic_xor"))

"""Spiking equilibrium propagation vs rate EP and the implicit gradient: cosine vs trials and beta.

A 6-8-3 layered LIF energy network (:func:`neurosim.spiking.equilibrium.default_network`,
weight seed 1) sees 8 inputs (uniform in [0, 1], seed 0) with targets uniform in [0.3, 0.9]
(rate units, 100 Hz).  For each beta one brian2 simulation presents every sample
``--trials`` times (free, +beta, -beta phases; :mod:`neurosim.spiking.equilibrium`), and the
per-trial contrastive updates are compared, averaged over k trials, with

* the implicit gradient :math:`-dL/dW` at the free fixed point of the rate-equivalent
  (``"lif"``) network (:func:`neurosim.energy.implicit_gradient`), and
* rate EP on the same network at the same beta and nudging,

per coupling and globally (weights only), for symmetric and one-sided nudging.  Each k uses
the ``--trials // k`` disjoint blocks of k trials: mean and standard deviation of the cosine
over blocks.  The noise of a one-trial update, :math:`\\sigma_1^2 = \\sum_{ij}\\mathrm{Var}_{trial}(\\Delta W_{ij})`,
and the bias :math:`\\lVert\\langle\\Delta W\\rangle - G\\rVert` (noise part removed:
:math:`\\sqrt{\\max(0, \\lVert\\bar{\\Delta W} - G\\rVert^2 - \\sigma_1^2/n)}`) give the bias/variance
trade-off in beta.  A control run with a 20 ms nudge trace measures the spike-triggered nudge
bias (see ``tau_trace`` in :class:`~neurosim.spiking.equilibrium.SpikingEquilibriumPropagation`).

Writes ``results/ep_spiking/beta_<beta>.json`` (one per beta, skipped when present: the run
resumes), ``results/ep_spiking/sample.json`` (rates of free and nudged phases and a raster
for one sample, beta = 0.5) and ``results/ep_spiking/trace_control.json``;
``figures/ep_spiking.py`` draws them.  Uses brian2's Cython target (one compile of the
three-phase model, ~2 min the first time, cached after).

    nice -n 10 python experiments/ep_spiking.py [--out results/ep_spiking] [--trials 160]
        [--betas 0.1,0.25,0.5,1.0] [--batch 8]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import brian2
import numpy as np

from neurosim.alignment import cosine
from neurosim.params import init_params
from neurosim.results import provenance, write_json
from neurosim.rules import get_rule
from neurosim.spiking import lif
from neurosim.validation import check, check_list
from neurosim.spiking.equilibrium import (SpikingEquilibriumPropagation, contrastive_spiking_update,
                                          default_network, rate_references)

SIZES = (6, 8, 3)
WEIGHT_SEED = 1     # rate EP on this net stays within 1e-4 of the implicit gradient up to beta = 0.9
DATA_SEED = 0
SIM_SEED = 0
NUDGINGS = ("symmetric", "one-sided")


def problem(batch: int):
    net = default_network(SIZES)
    params = init_params(net, seed=WEIGHT_SEED)
    rng = np.random.default_rng(DATA_SEED)
    x = rng.uniform(0.0, 1.0, (batch, SIZES[0]))
    t = rng.uniform(0.3, 0.9, (batch, SIZES[-1]))
    return net, params, x, t


def flat(dw: dict, names) -> np.ndarray:
    return np.concatenate([np.asarray(dw[n]).ravel() for n in names])


def trial_counts(n_trials: int) -> list[int]:
    ks = [k for k in (1, 2, 5, 10, 20, 40, 80, 160, 320) if k <= n_trials]
    return ks if ks[-1] == n_trials else ks + [n_trials]


def analyse(net, params, activity, refs, names, nudging) -> dict:
    """Cosines vs k (disjoint blocks), bias and noise, for one nudging."""
    n = activity.n_trials
    per_trial = np.stack([flat(contrastive_spiking_update(net, activity, nudging=nudging, trials=[r]), names)
                          for r in range(n)])
    sizes = [np.asarray(refs["implicit"][k]).size for k in names]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    g = flat(refs["implicit"], names)
    # rate EP with the same beta and nudging on the rate-equivalent net (references as in rate_references)
    rate_dw = refs["rate_ep"] if nudging == "symmetric" else get_rule(
        "ep", beta=activity.beta, nudging=nudging, tolerance=1e-10, max_steps=10000, nudged_max_steps=10000,
        step_size=0.5).step(lif.rate_equivalent(net), params, activity.x, activity.target)
    r = flat(rate_dw, names)
    rows = []
    for k in trial_counts(n):
        blocks = per_trial[: (n // k) * k].reshape(n // k, k, -1).mean(axis=1)
        row = {"trials": k, "n_blocks": int(n // k)}
        for label, ref in (("implicit", g), ("rate_ep", r)):
            glob = np.array([cosine(b, ref) for b in blocks])
            row[f"{label}_cosine_mean"] = float(glob.mean())
            row[f"{label}_cosine_std"] = float(glob.std(ddof=1)) if len(glob) > 1 else None
            for i, name in enumerate(names):
                sl = slice(bounds[i], bounds[i + 1])
                c = np.array([cosine(b[sl], ref[sl]) for b in blocks])
                row[f"{label}_cosine_mean[{name}]"] = float(c.mean())
        rows.append(row)
    mean = per_trial.mean(axis=0)
    noise_1 = float(np.sqrt(per_trial.var(axis=0, ddof=1).sum()))
    dist2 = float(np.sum((mean - g) ** 2))
    return {
        "rows": rows,
        "all_trials": {"implicit_cosine": cosine(mean, g), "rate_ep_cosine": cosine(mean, r),
                       "per_projection": {name: {"implicit_cosine": cosine(mean[bounds[i]:bounds[i + 1]],
                                                                           g[bounds[i]:bounds[i + 1]]),
                                                 "rate_ep_cosine": cosine(mean[bounds[i]:bounds[i + 1]],
                                                                          r[bounds[i]:bounds[i + 1]]),
                                                 "norm_ratio_vs_implicit": float(
                                                     np.linalg.norm(mean[bounds[i]:bounds[i + 1]])
                                                     / np.linalg.norm(g[bounds[i]:bounds[i + 1]]))}
                                          for i, name in enumerate(names)}},
        "rate_ep_vs_implicit_cosine": cosine(r, g),
        "gradient_norm": float(np.linalg.norm(g)),
        "noise_norm_one_trial": noise_1,
        "bias_norm_vs_implicit": float(np.sqrt(max(0.0, dist2 - noise_1 ** 2 / n))),
        "rate_ep_bias_norm": float(np.linalg.norm(r - g)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/ep_spiking")
    parser.add_argument("--trials", type=int, default=160)
    parser.add_argument("--betas", default="0.1,0.25,0.5,1.0")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--target", default="cython", help="brian2 code generation target")
    args = parser.parse_args(argv)
    betas = check_list("ep_spiking", "--betas", args.betas, "number", gt=0)
    check("ep_spiking", "--trials", args.trials, "int", gt=1)  # the standard error needs two trials
    check("ep_spiking", "--batch", args.batch, "int", gt=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net, params, x, t = problem(args.batch)
    equivalent = lif.rate_equivalent(net)
    names = [p.name for p in net.chain()]
    config = {"sizes": SIZES, "weight_seed": WEIGHT_SEED, "data_seed": DATA_SEED, "sim_seed": SIM_SEED,
              "batch": args.batch, "n_trials": args.trials, "target_range": [0.3, 0.9], "init_scale": 0.5,
              "bias_init": 2.0}
    for beta in betas:
        path = out / f"beta_{beta:g}.json"
        if path.exists():
            print(f"beta = {beta:g}: {path} exists, skipped")
            continue
        srule = SpikingEquilibriumPropagation(get_rule("ep"), beta=beta, codegen_target=args.target)
        started = time.perf_counter()
        activity = srule.simulate(net, params, x, t, n_trials=args.trials, seed=SIM_SEED)
        refs = rate_references(equivalent, params, x, t, beta=beta)
        record = {"config": {**config, "beta": beta, "dt_ms": float(srule.dt / brian2.ms),
                             "phase_ms": float(srule.phase / brian2.ms), "settle_ms": float(srule.settle / brian2.ms),
                             "tau_trace_ms": float(srule.tau_trace / brian2.ms)},
                  "timings": activity.timings,
                  "free_rate_max_abs_error": max(float(np.max(np.abs(activity.rho["free"][k].mean(axis=0) - v)))
                                                 for k, v in refs["free_state"].items()),
                  "nudgings": {nd: analyse(net, params, activity, refs, names, nd) for nd in NUDGINGS},
                  "provenance": provenance()}
        write_json(path, record)
        sym = record["nudgings"]["symmetric"]
        print(f"beta = {beta:g}: {time.perf_counter() - started:.0f} s, symmetric cosine vs implicit "
              f"{sym['all_trials']['implicit_cosine']:.4f}, vs rate EP {sym['all_trials']['rate_ep_cosine']:.4f} "
              f"({args.trials} trials)", flush=True)
        if beta == 0.5 and not (out / "sample.json").exists():
            write_json(out / "sample.json", sample_record(net, activity, refs, config, beta))
    control = out / "trace_control.json"
    if not control.exists():
        write_json(control, trace_control(net, params, x, t, equivalent, names, config, args.target))
    return 0


def sample_record(net, activity, refs, config, beta) -> dict:
    """Rates of the three phases for sample 0 (trial mean and the rate fixed points) + a raster of trial 0."""
    layers = list(refs["free_state"])
    rec = {"config": {**config, "beta": beta, "sample": 0}, "layers": layers, "phase_s": None, "rates": {},
           "rate_fixed_points": {}, "raster": {}, "provenance": provenance()}
    for phase in ("free", "plus", "minus"):
        rec["rates"][phase] = {k: activity.rho[phase][k][:, 0].mean(axis=0).tolist() for k in layers}
        rec["rates_sem"] = rec.get("rates_sem", {})
        rec["rates_sem"][phase] = {k: (activity.rho[phase][k][:, 0].std(axis=0, ddof=1)
                                       / np.sqrt(activity.n_trials)).tolist() for k in layers}
        rec["rate_fixed_points"][phase] = {k: refs[f"{phase}_state"][k][0].tolist() for k in layers}
    for k in layers:  # copy 0 = trial 0, sample 0: neuron indices 0 .. n_l - 1
        idx, times = activity.spikes[k]
        keep = idx < net.layer(k).size
        rec["raster"][k] = {"neuron": idx[keep].tolist(), "time_s": times[keep].tolist()}
    rec["phase_s"] = activity.window + float(SpikingEquilibriumPropagation(get_rule("ep")).settle / brian2.second)
    rec["settle_s"] = float(SpikingEquilibriumPropagation(get_rule("ep")).settle / brian2.second)
    return rec


def trace_control(net, params, x, t, equivalent, names, config, target) -> dict:
    """beta = 0.5, 40 trials, nudge trace of 20 ms (settle 100, phase 300 ms) vs the default 100 ms."""
    rows = []
    for tau, settle, phase in ((20.0, 100.0, 300.0), (100.0, 150.0, 350.0)):
        srule = SpikingEquilibriumPropagation(get_rule("ep"), beta=0.5, tau_trace=tau * brian2.ms,
                                              settle=settle * brian2.ms, phase=phase * brian2.ms, codegen_target=target)
        act = srule.simulate(net, params, x, t, n_trials=40, seed=SIM_SEED)
        refs = rate_references(equivalent, params, x, t, beta=0.5)
        d_s = act.rho["plus"]["output"].mean(axis=0) - act.rho["minus"]["output"].mean(axis=0)
        d_r = refs["plus_state"]["output"] - refs["minus_state"]["output"]
        dw = contrastive_spiking_update(net, act)
        rows.append({"tau_trace_ms": tau, "settle_ms": settle, "phase_ms": phase, "n_trials": 40,
                     "output_difference_ratio": float((d_s * d_r).sum() / (d_r ** 2).sum()),
                     "implicit_cosine": cosine(flat(dw, names), flat(refs["implicit"], names)),
                     "output_weight_norm_ratio": float(np.linalg.norm(dw[names[-1]])
                                                       / np.linalg.norm(refs["implicit"][names[-1]]))})
        print(f"trace control tau = {tau:g} ms: {rows[-1]}", flush=True)
    return {"config": config, "rows": rows, "provenance": provenance()}


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "ep_spiking"))

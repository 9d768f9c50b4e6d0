"""Alignment of AGREL / BrainProp with the gradient of their loss vs the number of trials.

At the initial weights of a 64-64-10 tanh net on a batch of 64 embedded ``digits`` images
(seed 0), each rule's update is averaged over N sampled trials per image (N = 1 ... 4096; an
N-trial average is one call on the batch tiled N times) and compared with the rule's
reference oracle ``"policy"`` (backprop of the rule's loss).  Every N is repeated
``--repeats`` times with fresh actions (the rule's state, seeded with ``--seed``, threaded
through every call); mean and standard deviation of the global cosine are recorded.

Theory curve: the sampled update is unbiased with exactly computable covariance (enumerate
each image's actions), so with :math:`G` the gradient and :math:`V` the trace of the
single-trial batch-mean covariance, the N-trial average has
:math:`\\mathbb E\\lVert\\bar{\\Delta W} - G\\rVert^2 = V/N` and

.. math::  \\cos \\approx \\lVert G\\rVert / \\sqrt{\\lVert G\\rVert^2 + V/N}.

With ``--spiking`` it adds the brian2 version (``neurosim.spiking.attention_gated``) on a
12-10-4 LIF net, for the expected (actions averaged exactly) and the sampled update at a few
trial counts (BrainProp also with epsilon = 1, a smooth Boltzmann policy): global cosine with
the rule's gradient and with the rate rule's expected update.

Writes ``results/agrel_trials/run.json``; ``figures/agrel_alignment.py`` draws it.

    OPENBLAS_NUM_THREADS=1 python experiments/agrel_trials.py [--repeats 20] [--spiking]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import get_rule, init_params
from neurosim.alignment import AlignmentReport
from neurosim.data import load_dataset
from neurosim.oracles import get_oracle
from neurosim.reference import forward
from neurosim.results import provenance, save_run
from neurosim.validation import check

TRIALS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
RULES = ("agrel", "brainprop")


def single_trial_variance(rule, net, params, x, t) -> float:
    """Trace of the covariance of the one-trial-per-image batch-mean update (exact, by enumeration)."""
    fp = forward(net, params, x)
    pi = rule.policy(fp.output)
    total = 0.0
    for n in range(x.shape[0]):
        one = forward(net, params, x[n:n + 1])
        per_action = []
        for a in range(pi.shape[1]):
            dw = rule.tagged_updates(net, params, one, t[n:n + 1], np.array([a]))
            per_action.append(np.concatenate([v.ravel() for k, v in dw.items() if not k.endswith(".bias")]))
        per_action = np.array(per_action)
        mean = pi[n] @ per_action
        total += float(pi[n] @ np.sum((per_action - mean) ** 2, axis=1))
    return total / x.shape[0] ** 2


def rate_curves(seed: int, repeats: int) -> dict:
    data = load_dataset("digits", seed=seed)
    idx = np.random.default_rng(seed).choice(len(data.x_train), 64, replace=False)
    x = data.x_train[idx].astype(np.float64)
    t = data.targets("train")[idx].astype(np.float64)
    out = {}
    for name in RULES:
        rule = get_rule(name)
        net = rule.network([64, 64, 10])
        params = init_params(net, seed)
        ref = get_oracle(rule.info.reference)(rule, net, params, x, t)
        names = [k for k in ref if not k.endswith(".bias")]
        g2 = float(sum(np.sum(ref[k] ** 2) for k in names))
        expected = rule.expected_updates(net, params, forward(net, params, x), t)
        exact = AlignmentReport.compare(expected, ref, names=names).global_cosine
        variance = single_trial_variance(rule, net, params, x, t)
        rows = []
        state = rule.init(net, params, seed)
        for n_trials in TRIALS:
            xs, ts = np.tile(x, (n_trials, 1)), np.tile(t, (n_trials, 1))
            cos = []
            for _ in range(repeats):
                dw, state, _ = rule.updates(net, params, state, xs, ts)
                cos.append(AlignmentReport.compare(dw, ref, names=names).global_cosine)
            rows.append({"trials": n_trials, "cosine_mean": float(np.mean(cos)), "cosine_std": float(np.std(cos)),
                         "theory": float(np.sqrt(g2 / (g2 + variance / n_trials)))})
            print(f"{name:<10} N={n_trials:<5} cos {np.mean(cos):.4f} +- {np.std(cos):.4f}  theory "
                  f"{rows[-1]['theory']:.4f}", flush=True)
        out[name] = {"expected_cosine": exact, "gradient_sq_norm": g2, "single_trial_variance": variance,
                     "rows": rows, "loss": rule.loss_name}
    return out


def spiking_rows(seed: int, trials=(10, 40)) -> list[dict]:
    from neurosim import Network
    import neurosim.spiking.attention_gated  # noqa: F401  (registers the rule until __init__ imports it)
    from neurosim.spiking import spiking_align

    # Drives well above threshold (bias 2, Xavier x 0.5): near threshold the LIF slope diverges
    # and read-out noise dominates the tags (the backend's documented limitation).
    base = Network.feedforward([12, 10, 4], activation="lif", output_activation="lif", loss="mse", bias_init=2.0,
                               init_scale=0.5, name="lif-agrel")
    rng = np.random.default_rng(seed + 4)
    x = rng.uniform(0, 1, (8, 12))
    t = np.eye(4)[rng.integers(0, 4, 8)]
    rows = []
    for name, hyper in (("agrel", {}), ("brainprop", {}), ("brainprop", {"epsilon": 1.0})):
        for update, counts in (("expected", trials), ("sampled", trials[-1:])):
            net = get_rule(name, **hyper).network(base)
            params = init_params(net, seed + 3)
            for n_trials in counts:
                t0 = time.perf_counter()
                rep = spiking_align(name, net, params, x, t, n_trials=n_trials, seed=seed,
                                    rule_hyper={"update": update, **hyper})
                rows.append({"rule": name, "hyper": hyper, "update": update, "trials": n_trials,
                             "cosine_gradient": rep.global_cosine, "cosine_rate_rule": rep.extra["rate_rule_cosine"],
                             "projections": {r.name: r.cosine for r in rep.projections},
                             "seconds": time.perf_counter() - t0})
                print(f"spiking {name:<10} {hyper} {update:<9} N={n_trials:<3} cos(grad) {rep.global_cosine:.4f}  "
                      f"cos(rate) {rep.extra['rate_rule_cosine']}", flush=True)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/agrel_trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--spiking", action="store_true", help="add the brian2 rows (a few minutes)")
    args = parser.parse_args(argv)
    check("agrel_trials", "--repeats", args.repeats, "int", gt=0)
    record = {"command": "OPENBLAS_NUM_THREADS=1 python experiments/agrel_trials.py --repeats "
                         f"{args.repeats}" + (" --spiking" if args.spiking else ""),
              "seed": args.seed, "repeats": args.repeats, "sizes": [64, 64, 10], "batch": 64, "dataset": "digits",
              "rate": rate_curves(args.seed, args.repeats), "provenance": provenance()}
    save_run(args.out, record)
    if args.spiking:
        record["spiking"] = spiking_rows(args.seed)
        save_run(args.out, record)
    return record


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "agrel_trials"))

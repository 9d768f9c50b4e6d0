"""How close is equilibrium propagation's update to the implicit gradient, as a function of beta?

For a symmetric hard-sigmoid net on real data (the embedded ``digits`` set), at the initial
weights, this compares EP's update (one-sided and symmetric nudging) with
:math:`-dL/d\\theta` at the free fixed point (:func:`neurosim.energy.implicit_gradient`):

* cosine and relative error :math:`\\lVert\\Delta\\theta_{EP} - G\\rVert /
  \\max(\\lVert\\Delta\\theta_{EP}\\rVert, \\lVert G\\rVert)` over every weight and bias, for a geometric grid of beta;
* the log-log slope of the relative error over the small-beta range (theory: 1 for one-sided,
  2 for symmetric nudging; Scellier & Bengio 2017, Laborieux et al. 2021);
* two weight scales: Xavier-uniform x 0.5 (a well-conditioned energy: the main result) and
  plain Xavier (x 1.0), whose free state is a nearly marginal minimum;
* how many units change saturation (cross a kink of the hard sigmoid) between the free and the
  nudged states -- where the EP limit stops being a Taylor expansion.

Writes ``results/ep_beta_sweep/run.json`` (``--out`` to change); ``figures/ep_beta.py`` draws it.

    python experiments/ep_beta_sweep.py [--out DIR] [--seed 0] [--batch 64]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import Network, get_rule, init_params
from neurosim.alignment import cosine
from neurosim.data import load_dataset
from neurosim.energy import implicit_gradient, relax
from neurosim.reference import relative_error
from neurosim.results import save_run
from neurosim.validation import check

RELAX_TOL = 1e-14          # fixed-point residual; the error floor is ~ RELAX_TOL / beta
BETAS = 10.0 ** np.arange(-4.5, -0.4, 0.25)   # 3e-5 ... 0.56 (step_size (1 + beta) < 2)
FIT_RANGE = (3e-5, 1e-2)
# Errors below this are at the relaxation floor (measured: ~2e-10 with RELAX_TOL = 1e-14, where
# the symmetric error of the CE net stops falling) and are left out of the slope fit.
ERROR_FLOOR = 1e-9   # small-beta range of the slope fit (well above the floor, below kinks)


def kink_crossings(net, params, x, t, free, beta, tol):
    """Units whose hard-sigmoid saturation differs between the free and the nudged fixed point."""
    nudged = relax(net, params, x, t, beta=beta, state=free, tolerance=tol, max_steps=20000).state
    return int(sum(np.sum(((nudged[k] > 0) & (nudged[k] < 1)) != ((free[k] > 0) & (free[k] < 1))) for k in free))


def sweep(loss: str, sizes, x, t, seed: int, init_scale: float) -> dict:
    out_act = "hard_sigmoid" if loss == "mse" else "linear"
    net = get_rule("ep").network(Network.feedforward(sizes, activation="hard_sigmoid", output_activation=out_act,
                                                     loss=loss, init_scale=init_scale, name=f"ep-digits-{loss}"))
    params = init_params(net, seed)
    oracle = implicit_gradient(net, params, x, t, tolerance=RELAX_TOL, max_steps=20000)
    reference = oracle.descent()
    keys = list(reference)
    g = np.concatenate([reference[k].ravel() for k in keys])
    free = oracle.free.state
    rows = {"one-sided": [], "symmetric": []}
    for nudging in rows:
        for beta in BETAS:
            # on_unconverged = "raise": a slope measured off the fixed points would be meaningless
            rule = get_rule("ep", beta=float(beta), nudging=nudging, tolerance=RELAX_TOL, max_steps=20000,
                            nudged_max_steps=20000, on_unconverged="raise")
            dw, _, aux = rule.updates(net, params, rule.init(net, params, seed), x, t)
            u = np.concatenate([dw[k].ravel() for k in keys])
            rows[nudging].append({"beta": float(beta), "cosine": cosine(u, g), "relative_error": relative_error(u, g),
                                  "norm_ratio": float(np.linalg.norm(u) / np.linalg.norm(g)),
                                  "nudged_steps": [n["steps"] for n in aux["nudged"]]})
    crossings = {sign: [kink_crossings(net, params, x, t, free, sign * float(b), RELAX_TOL) for b in BETAS]
                 for sign in (1, -1)}
    # The Taylor expansion behind the slopes holds only while no unit crosses a kink: fit over
    # the betas of FIT_RANGE with no crossing (at least 3 of them, else no slope is reported).
    # (one-sided nudging uses +beta only, symmetric nudging +beta and -beta).
    slopes, fit_betas = {}, {}
    for nudging, rs in rows.items():
        signs = (1,) if nudging == "one-sided" else (1, -1)
        fit = [i for i, b in enumerate(BETAS) if FIT_RANGE[0] <= b <= FIT_RANGE[1] * (1 + 1e-9)
               and all(crossings[sg][i] == 0 for sg in signs) and rs[i]["relative_error"] > ERROR_FLOOR]
        fit_betas[nudging] = BETAS[fit].tolist()
        slopes[nudging] = float(np.polyfit(np.log(BETAS[fit]), np.log([rs[i]["relative_error"] for i in fit]),
                                           1)[0]) if len(fit) >= 3 else None
    return {"loss": loss, "init_scale": init_scale, "sizes": list(sizes), "network": net.to_dict(),
            "fit_betas": fit_betas, "free_steps": oracle.free.steps,
            "free_residual": oracle.free.residual, "loss_at_fixed_point": oracle.loss, "rows": rows,
            "kink_crossings": {"plus_beta": crossings[1], "minus_beta": crossings[-1]}, "slopes": slopes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/ep_beta_sweep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    start = time.time()
    data = load_dataset("digits")
    check("ep_beta_sweep", "--batch", args.batch, "int", gt=0, le=data.n_train,
          hint="The batch is drawn without replacement from the digits training set.")
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(data.n_train, args.batch, replace=False)
    x = data.x_train[idx].astype(np.float64)
    t = data.targets("train")[idx].astype(np.float64)
    sizes = [data.n_features, 32, 16, data.n_classes]
    # init_scale 0.5: a well-conditioned energy (the main result); 1.0: plain Xavier, where the
    # free state is a nearly marginal minimum and small nudges already cross kinks (reported too).
    runs = [sweep(loss, sizes, x, t, args.seed, scale) for scale in (0.5, 1.0) for loss in ("mse", "cross_entropy")]
    record = {"experiment": "ep_beta_sweep", "dataset": "digits", "batch": args.batch, "seed": args.seed,
              "activation": "hard_sigmoid", "relax_tolerance": RELAX_TOL, "betas": BETAS.tolist(),
              "fit_range": list(FIT_RANGE), "error_floor": ERROR_FLOOR,
              "reference": "implicit gradient at the free fixed point",
              "runs": runs, "seconds": time.time() - start,
              "command": f"python experiments/ep_beta_sweep.py --seed {args.seed} --batch {args.batch}"}
    path = save_run(args.out, record)
    for run in runs:
        small = run["rows"]["symmetric"][0]
        print(f"init_scale {run['init_scale']:<4} {run['loss']:<14} slopes one-sided {run['slopes']['one-sided']} "
              f"symmetric {run['slopes']['symmetric']} (fit over {len(run['fit_betas']['one-sided'])} / "
              f"{len(run['fit_betas']['symmetric'])} betas); symmetric "
              f"beta={small['beta']:g}: cosine {small['cosine']:.9f}; first kink crossing at beta="
              f"{next((b for b, k in zip(BETAS, run['kink_crossings']['plus_beta']) if k), None)}")
    print(f"wrote {path} ({record['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "ep_beta_sweep"))

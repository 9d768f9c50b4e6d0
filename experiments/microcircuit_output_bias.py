"""Why the spiking microcircuit's output-layer update aligns at ~0.90 only (issue 18 item 5).

Hypothesis (docs/rules/dendritic.md): a noise-induced weight decay.  The output soma is
nudged by :math:`-\\lambda(\\phi(\\hat v_B) - t)` of the *instantaneous* basal potential
:math:`\\hat v_B = W\\psi + b`, whose spike-driven fluctuations covary with the presynaptic
trace :math:`\\psi_j`; the basal plasticity :math:`(\\phi(u) - \\phi(V^*))\\psi_j` divided by the
layer factor :math:`s_N = \\lambda` then carries, besides the rate rule's update,

.. math::
    d_j \\approx -\\phi'(\\hat v_B)^2\\, W_j\\, \\mathrm{Var}(\\psi_j)\\,\\frac{\\tau_\\psi}{\\tau_\\psi + \\tau},
    \\qquad \\mathrm{Var}(\\psi_j) = \\frac{\\phi_j}{2 r_{max}\\tau_\\psi}

(Campbell's theorem for a Poisson train of rate :math:`r_{max}\\phi_j` through the kernel
:math:`e^{-t/\\tau_\\psi}/(r_{max}\\tau_\\psi)`; the soma and :math:`V^*` low-pass the fluctuation with
:math:`\\tau`, keeping the fraction :math:`\\tau_\\psi/(\\tau_\\psi+\\tau)` of its covariance with
:math:`\\psi_j`).  It exists only with the teacher, so the free baseline keeps it, and it is a bias:
more trials or a longer window do not remove it, while :math:`d \\propto 1/(r_{max}(\\tau_\\psi+\\tau))`.

For each ``--tau-psi-ms``: XOR batch, lambda = 0.42 (g_som_out = 0.8), symmetric top-down, the
baselined update of ``--trials`` trials; the output projection's cosine with backprop and with the
rate rule, the deviation d = spiking - rate rule (norm relative to the rate rule's, in units of
its trial noise, cosine with -W and with the prediction above, norm ratio to the prediction).

    python experiments/microcircuit_output_bias.py --trials 128 --tau-psi-ms 20,80
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from brian2 import Hz, ms

from neurosim import backprop, get_rule
from neurosim.alignment import cosine
from neurosim.spiking.dendritic import SpikingMicrocircuit, output_noise_decay
from neurosim.validation import check, check_list

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
T = np.array([[0], [1], [1], [0]], dtype=float)
NAME = "pyr1->output"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=128)
    ap.add_argument("--tau-psi-ms", default="20,80")
    ap.add_argument("--r-max-hz", type=float, default=200.0)
    ap.add_argument("--window-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--target", default="numpy")
    args = ap.parse_args(argv)
    tau_psi_list = check_list("microcircuit_output_bias", "--tau-psi-ms", args.tau_psi_ms, "number", gt=0)
    check("microcircuit_output_bias", "--trials", args.trials, "int", gt=1)  # the noise is a sample variance
    check("microcircuit_output_bias", "--r-max-hz", args.r_max_hz, gt=0)
    check("microcircuit_output_bias", "--window-ms", args.window_ms, gt=0)
    rule = get_rule("microcircuit", g_som_out=0.8, topdown="symmetric")
    net = rule.network([2, 4, 1])
    params = rule.init_params(net, seed=0)
    g = backprop(net, params, X, T).descent()[NAME]
    rate = rule.step(net, params, X, T)[NAME]
    rows = []
    # the flags are plain numbers in ms and Hz: brian2 units are attached here, once
    r_max, window = args.r_max_hz * Hz, args.window_ms * ms
    for tau_psi_ms in tau_psi_list:
        tau_psi = tau_psi_ms * ms
        started = time.perf_counter()
        model = SpikingMicrocircuit(net, params, rule, batch=4, n_trials=args.trials, target=args.target,
                                    tau_psi=tau_psi, r_max=r_max, window=window)
        spikes = model.run(X, T, seed=args.seed)
        pred = output_noise_decay(net, params, X, r_max=r_max, tau_psi=tau_psi, tau_soma=model.tau_soma)
        for signal in ("rate", "spike"):
            per = (spikes.per_trial_rate if signal == "rate" else spikes.per_trial_spike)[NAME]
            mean = per.mean(axis=0)
            d = mean - rate
            noise = np.sqrt(per.var(axis=0, ddof=1).sum() / per.shape[0])
            rows.append({"tau_psi_ms": tau_psi_ms, "signal": signal, "trials": args.trials,
                         "cos_backprop": float(cosine(mean, g)), "cos_rate_rule": float(cosine(mean, rate)),
                         "rate_rule_cos_backprop": float(cosine(rate, g)),
                         "deviation_over_rate_rule": float(np.linalg.norm(d) / np.linalg.norm(rate)),
                         "deviation_over_noise": float(np.linalg.norm(d) / noise),
                         "cos_deviation_minus_W": float(cosine(d, -params[NAME])),
                         "cos_deviation_predicted": float(cosine(d, pred)),
                         "deviation_over_predicted": float(np.linalg.norm(d) / np.linalg.norm(pred)),
                         "wall_s": time.perf_counter() - started})
            print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "microcircuit_output_bias"))

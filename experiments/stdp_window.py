"""The STDP window measured through brian2, and the triplet rule's BCM-like rate dependence.

Both are circuit descriptions lowered by the circuit builder (``neurosim.spiking.stdp.relay_protocol``:
an input, a driver and a ``parrot`` relay that repeats the driver one dt later; the plastic synapse is a
probe carrying the registered ``pair_stdp`` / ``triplet_stdp`` synapse model).

1. Pair STDP (Song et al. 2000 parameters): one pre/post spike pair per synapse at
   Delta t = -60 ... 60 ms (dt = 0.1 ms); the measured Delta w beside A+- exp(-|Delta t|/tau+-).
2. Triplet STDP (Pfister & Gerstner 2006, visual cortex, all-to-all): independent Poisson
   pre (10 Hz) and post (0 ... 50 Hz) trains, 200 synapses per post rate, 20 s; the measured
   drift <Delta w>/T beside the closed form and its threshold.

Writes ``results/stdp_window/run.json``; ``figures/stdp_window.py`` draws it.

    python experiments/stdp_window.py [--seed 0] [--duration 20] [--out results/stdp_window]
"""
from __future__ import annotations

import argparse
from dataclasses import asdict

import brian2 as b2
import numpy as np

from neurosim.results import provenance, write_json
from neurosim.spiking.stdp import PairSTDP, measure_window, triplet_rate_dependence
from neurosim.validation import check


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=20.0, help="triplet run, biological seconds")
    p.add_argument("--n-pairs", type=int, default=200)
    p.add_argument("--target", default="auto")
    p.add_argument("--out", default="results/stdp_window")
    args = p.parse_args(argv)
    check("stdp_window", "--duration", args.duration, gt=0)  # the triplet run comes after the pair window
    check("stdp_window", "--n-pairs", args.n_pairs, "int", gt=0)
    rule = PairSTDP()
    dts = np.round(np.concatenate([-np.arange(60, 0, -2.5), np.arange(2.5, 61, 2.5)]), 1) * 1e-3
    measured = measure_window(rule, dts, target="numpy")
    triplet = triplet_rate_dependence([0, 2.5, 5, 10, 15, 20, 25, 30, 40, 50], duration=args.duration * b2.second,
                                      n_pairs=args.n_pairs, seed=args.seed, target=args.target)
    dev = np.abs(np.array(triplet["drift"]) - np.array(triplet["theory"]))
    sem = np.array(triplet["sem"])
    theory = rule.window(dts)
    record = {"experiment": "stdp_window", "pair": {"rule": asdict(rule), "delta_t_s": dts, "measured": measured,
                                                    "theory": theory,
                                                    "max_abs_error": float(np.max(np.abs(measured - theory)))},
              "triplet": triplet, "provenance": provenance()}
    path = write_json(f"{args.out}/run.json", record)
    z = dev[sem > 0] / sem[sem > 0]
    print(f"{path}: window max |error| {record['pair']['max_abs_error']:.2e} (peak {rule.a_plus:.1e}); triplet "
          f"drift vs theory max {z.max():.2f} SEM, threshold {triplet['threshold_hz']:.1f} Hz")
    return 0


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "stdp_window"))

"""Song, Miller & Abbott (2000): additive STDP splits 1000 Poisson inputs' weights into two modes.

1000 Poisson inputs at 15 Hz drive one conductance-based LIF neuron through additive pair STDP
(:func:`neurosim.spiking.stdp.song2000`: the registered rule ``song2000``, its network lowered to
brian2 by the circuit builder, Cython, dt = 0.1 ms); the weights are recorded every 5 s of
biological time (one presentation of the rule per snapshot, the neuron back to rest at the start
of each).  Writes ``results/stdp_song/run.json`` (weights per snapshot, the fraction within 10 %
of 0 or w_max, the output rate); ``figures/stdp_weights.py`` draws it.

    python experiments/stdp_song.py [--duration 100] [--seed 0] [--out results/stdp_song]
"""
from __future__ import annotations

import argparse

import brian2 as b2

from neurosim.results import provenance, write_json
from neurosim.spiking.stdp import song2000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=100.0, help="biological seconds")
    p.add_argument("--every", type=float, default=5.0, help="snapshot interval, seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="auto")
    p.add_argument("--out", default="results/stdp_song")
    args = p.parse_args(argv)
    res = song2000(args.duration * b2.second, snapshot_every=args.every * b2.second, seed=args.seed,
                   target=args.target)
    edge = res.edge_fraction(0.1)
    record = {"experiment": "stdp_song", "config": res.config, "times_s": res.times,
              "weights": res.weights, "post_rate_hz": res.post_rate, "edge_fraction_10pct": edge,
              "timings": res.timings, "provenance": provenance()}
    path = write_json(f"{args.out}/run.json", record)
    print(f"{path}: fraction of weights within 10 % of 0 or w_max: {edge[0]:.3f} at 0 s -> {edge[-1]:.3f} at "
          f"{res.times[-1]:g} s; output rate {res.post_rate[-1]:.1f} Hz; simulate {res.timings['simulate_s']:.0f} s")
    return 0


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "stdp_song"))

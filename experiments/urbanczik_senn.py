"""Urbanczik & Senn (2014) teacher task in brian2: the student's dendrite learns the teacher's weights.

Three runs of :func:`neurosim.spiking.dendritic.teacher_task` (same seed, so the same teacher
weights, initial student weights and input rates), written to
``results/urbanczik_senn/run.json`` (+ ``run.npz``); ``figures/urbanczik_senn.py`` draws them.

1. ``learning``: the teacher nudges the student's soma (g_som = 0.8 / ms), plasticity on.
2. ``frozen``: eta = 0 -- the weights stay put; the window-to-window spread of the prediction
   error measures its estimation noise (input patterns and spikes).
3. ``no_teacher``: g_som = 0 -- the student only predicts its own spikes; its weights move but
   have no reason to approach the teacher's (a control that the distance falls *because* of
   the teacher).

    python experiments/urbanczik_senn.py [--out results/urbanczik_senn] [--seed 0]
        [--duration 300] [--eta 40] [--target auto]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from brian2 import mV, ms, second

from neurosim.results import save_run
from neurosim.spiking.dendritic import UrbanczikSennConfig, teacher_task
from neurosim.validation import check


def summary(res, n_edge: int) -> dict:
    """Start/end numbers: distance at t=0 and t=end, prediction RMSE in the first/last ``n_edge`` windows."""
    d, e = res.weight_distance, res.prediction_rmse_hz
    return {"distance_start": d[:, 0].tolist(), "distance_end": d[:, -1].tolist(),
            "distance_start_mean": float(d[:, 0].mean()), "distance_end_mean": float(d[:, -1].mean()),
            "rmse_start_hz": e[:, :n_edge].mean(axis=1).tolist(), "rmse_end_hz": e[:, -n_edge:].mean(axis=1).tolist(),
            "rmse_start_mean_hz": float(e[:, :n_edge].mean()), "rmse_end_mean_hz": float(e[:, -n_edge:].mean()),
            "spike_rates_hz": res.spike_rates_hz, "teacher_rate_hz": res.teacher_rate_hz.tolist(),
            "timings": res.timings, "config": res.config}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/urbanczik_senn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=300.0, help="learning time, seconds")
    ap.add_argument("--eta", type=float, default=40.0, help="learning rate, mV^2 ms^2")
    ap.add_argument("--window", type=float, default=10.0, help="prediction-error window, seconds")
    ap.add_argument("--target", default="auto")
    args = ap.parse_args(argv)
    check("urbanczik_senn", "--window", args.window, gt=0,
          hint="The prediction error is averaged over windows of the learning time.")
    # the flags are plain numbers in seconds and mV^2 ms^2: brian2 units are attached here, once
    base = UrbanczikSennConfig(duration=args.duration * second, eta=args.eta * mV ** 2 * ms ** 2)
    window = args.window * second
    runs = {"learning": base, "frozen": dataclasses.replace(base, eta=0 * mV ** 2 * ms ** 2),
            "no_teacher": dataclasses.replace(base, g_som=0 / ms)}
    n_edge = 3
    record = {"seed": args.seed, "window_s": args.window, "edge_windows": n_edge, "runs": {}}
    arrays = {}
    for name, cfg in runs.items():
        started = time.perf_counter()
        res = teacher_task(cfg, seed=args.seed, target=args.target, window=window)
        record["runs"][name] = {**summary(res, n_edge), "wall_s": time.perf_counter() - started}
        # 1 s resolution is plenty for the figure (the weights move on a scale of seconds)
        step = max(1, int(round(float(1 * second / cfg.record_every))))
        arrays[f"{name}_times_s"] = res.times_s[::step]
        arrays[f"{name}_distance"] = res.weight_distance[:, ::step]
        arrays[f"{name}_window_s"] = res.window_s
        arrays[f"{name}_rmse_hz"] = res.prediction_rmse_hz
        if name == "learning":
            arrays["w_star"], arrays["w_initial"], arrays["w_final"] = res.w_star, res.w_initial, res.w_final
        r = record["runs"][name]
        print(f"{name:>10}: distance {r['distance_start_mean']:.3f} -> {r['distance_end_mean']:.3f}, "
              f"prediction RMSE {r['rmse_start_mean_hz']:.2f} -> {r['rmse_end_mean_hz']:.2f} Hz "
              f"({r['wall_s']:.0f} s)", flush=True)
    frozen = arrays["frozen_rmse_hz"]
    # the estimation noise of one window's RMSE, from the frozen run (nothing learns there)
    record["rmse_window_noise_hz"] = float(np.mean(np.std(frozen, axis=1, ddof=1)))
    path = save_run(args.out, record, arrays)
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "urbanczik_senn"))

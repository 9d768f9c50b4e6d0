"""Speed of the brian2 backend: simulated seconds per wall second and synaptic events per second.

(a) 1000 Poisson inputs (15 Hz) -> 100 conductance-based LIF neurons through plastic
    synapses with additive pair-based STDP (Song, Miller & Abbott 2000; brian2's STDP
    example with 100 instead of 1 post-synaptic neuron).
(b) a 784-100-10 LIF network built by :func:`neurosim.spiking.build` from a
    ``Network``, driven by Fashion-MNIST images (Poisson encoding, pixel/255 * 100 Hz).

Each case runs once per code-generation target; a short warm-up run first compiles (or
loads the cache), and only the simulation loop of the timed run is counted (brian2's
``device._last_run_time``).  Synaptic events = presynaptic spikes x fan-out (+ post-synaptic
spikes x fan-in for the STDP ``on_post`` pathway).

    python benchmarks/bench_spiking.py [--seconds-a 10] [--images 20] [--targets cython,numpy]

Prints a table and writes ``benchmarks/out/bench_spiking.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import brian2 as b2
import numpy as np
from brian2 import Hz, ms, mV

from neurosim import Network, init_params
from neurosim.spiking import build
from neurosim.spiking.codegen import codeobj_class, resolve_target

ROOT = Path(__file__).resolve().parents[1]


def stdp_case(target: str, seconds: float, seed: int = 0) -> dict:
    """Case (a): returns timings and event counts of one timed run (after a compiling warm-up)."""
    cls = codeobj_class(target)
    dt = 0.1 * ms
    n_in, n_out, rate = 1000, 100, 15 * Hz
    taum, taupre, taupost, taue = 10 * ms, 20 * ms, 20 * ms, 5 * ms
    ee, vt, vr, el = 0 * mV, -54 * mV, -60 * mV, -74 * mV
    gmax = 0.01
    dapre = 0.01 * gmax
    dapost = -0.01 * taupre / taupost * 1.05 * gmax
    ns = dict(taum=taum, taupre=taupre, taupost=taupost, taue=taue, Ee=ee, vt=vt, vr=vr, El=el, gmax=gmax,
              dApre=dapre, dApost=dapost)
    inputs = b2.PoissonGroup(n_in, rates=rate, dt=dt, codeobj_class=cls, name="bench_inputs")
    neurons = b2.NeuronGroup(n_out, "dv/dt = (ge * (Ee - v) + El - v) / taum : volt\n"
                                    "dge/dt = -ge / taue : 1",
                             threshold="v > vt", reset="v = vr", method="euler", dt=dt, namespace=ns,
                             codeobj_class=cls, name="bench_neurons")
    neurons.v = vr
    syn = b2.Synapses(inputs, neurons,
                      "w : 1\n"
                      "dApre/dt = -Apre / taupre : 1 (event-driven)\n"
                      "dApost/dt = -Apost / taupost : 1 (event-driven)",
                      on_pre="ge += w\nApre += dApre\nw = clip(w + Apost, 0, gmax)",
                      on_post="Apost += dApost\nw = clip(w + Apre, 0, gmax)",
                      dt=dt, namespace=ns, codeobj_class=cls, name="bench_stdp")
    syn.connect()
    rng = np.random.default_rng(seed)
    syn.w = rng.uniform(0, gmax, len(syn))
    spikes_in = b2.SpikeMonitor(inputs, record=False, codeobj_class=cls, name="bench_in_mon")
    spikes_out = b2.SpikeMonitor(neurons, record=False, codeobj_class=cls, name="bench_out_mon")
    net = b2.Network(inputs, neurons, syn, spikes_in, spikes_out, name="bench_stdp_net")
    state = np.random.get_state()
    b2.seed(seed)
    started = time.perf_counter()
    net.run(20 * ms, namespace={})                    # warm-up: code generation + compilation
    compile_s = time.perf_counter() - started
    n_in0, n_out0 = int(spikes_in.num_spikes), int(spikes_out.num_spikes)
    net.run(seconds * b2.second, namespace={})
    loop = float(b2.get_device()._last_run_time)
    np.random.set_state(state)
    pre = int(spikes_in.num_spikes) - n_in0
    post = int(spikes_out.num_spikes) - n_out0
    events = pre * n_out + post * n_in
    return {"case": "a: 1000 Poisson -> 100 LIF, STDP", "target": target, "biological_s": seconds,
            "compile_s": compile_s, "simulate_s": loop, "synaptic_events": events,
            "post_rate_hz": post / (n_out * seconds)}


def fashion_images(n: int) -> np.ndarray:
    """The first ``n`` Fashion-MNIST test images as rates in [0, 1], shape (n, 784)."""
    try:
        from neurosim.data import load_dataset

        data = load_dataset("fashion-mnist")
        x = np.asarray(data.x_test[:n], dtype=np.float64)
        return x / 255.0 if x.max() > 1.0 else x
    except Exception as err:  # the loader is another engineer's work in progress: read the IDX file
        print(f"(neurosim.datasets unavailable: {err}; reading the IDX file directly)")
        import gzip

        with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as fh:
            raw = np.frombuffer(fh.read(), dtype=np.uint8, offset=16)
        return raw.reshape(-1, 784)[:n].astype(np.float64) / 255.0


def mlp_case(target: str, n_images: int, seed: int = 0) -> dict:
    """Case (b): a 784-100-10 LIF network from a Network description, one image per 100 ms."""
    net = Network.feedforward([784, 100, 10], activation="lif", loss="cross_entropy", name="bench_mlp")
    params = init_params(net, seed=seed)
    params["hidden1.bias"][:] = 1.0   # start at threshold so the hidden layer fires
    params["output.bias"][:] = 1.0
    x = fashion_images(n_images)
    model = build(net, params, presentation=100 * ms, settle=0 * ms, target=target)
    warm = model.run(x[:n_images], n_trials=1, seed=seed)   # compiles for this stream shape
    activity = model.run(x[:n_images], n_trials=1, seed=seed + 1)
    spikes_in = int(len(activity.spikes["input"][0]))
    spikes_hidden = int(len(activity.spikes["hidden1"][0]))
    events = spikes_in * 100 + spikes_hidden * 10
    return {"case": "b: 784-100-10 LIF, Fashion-MNIST", "target": target,
            "biological_s": activity.timings["biological_s"],
            "compile_s": warm.timings["compile_s"] + warm.timings["build_s"],
            "simulate_s": activity.timings["simulate_s"], "synaptic_events": events,
            "hidden_rate_hz": spikes_hidden / (100 * activity.timings["biological_s"])}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds-a", type=float, default=10.0, help="biological seconds of case (a)")
    parser.add_argument("--images", type=int, default=20, help="images (100 ms each) of case (b)")
    parser.add_argument("--targets", default="cython,numpy")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "bench_spiking.json"))
    args = parser.parse_args(argv)
    rows = []
    for target in args.targets.split(","):
        target = resolve_target(target)
        rows.append(stdp_case(target, args.seconds_a))
        rows.append(mlp_case(target, args.images))
    for row in rows:
        row["sim_s_per_wall_s"] = row["biological_s"] / row["simulate_s"]
        row["events_per_wall_s"] = row["synaptic_events"] / row["simulate_s"]
    head = f"{'case':<36} {'target':<8} {'bio s':>6} {'compile s':>10} {'sim s':>8} {'bio/wall':>9} {'events/s':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:<36} {r['target']:<8} {r['biological_s']:>6.1f} {r['compile_s']:>10.2f} "
              f"{r['simulate_s']:>8.2f} {r['sim_s_per_wall_s']:>9.3f} {r['events_per_wall_s']:>10.3g}")
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        sha = ""
    meta = {"brian2": b2.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(), "machine": platform.machine(), "git_sha": sha,
            "argv": vars(args)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()

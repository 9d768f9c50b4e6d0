"""The circuit builder against a hand-written brian2 script of the same network: what does the builder cost?

Two networks, each built twice in the same process -- by :func:`neurosim.spiking.builder.build_circuit`
from a :class:`~neurosim.network.Network` description, and by a hand-written brian2 script of the
same equations, synapses and monitors -- with the same ``dt``, duration, code-generation target and
seeds:

(mlp)  a 784-100-10 LIF network (:mod:`neurosim.spiking.lif` point neurons, exponential synaptic
       currents, biases at threshold), ``--batch`` copies side by side driven by Poisson inputs at
       ``x * 100 Hz`` (x uniform on [0, 1], seeded), ``--mlp-seconds`` of biological time;
(stdp) bench_spiking.py's case (a) as the registered rule ``song2000`` describes it: 1000 Poisson
       inputs at 15 Hz onto 100 conductance LIF neurons through plastic synapses with additive
       pair STDP (Song, Miller & Abbott 2000), ``--stdp-seconds`` of biological time.

Per side and round: ``build_s`` (creating the brian2 objects), ``compile_s`` (first ``run``'s wall
time minus its simulation loop: code generation and compiling or loading the Cython cache) and
``simulate_s`` (brian2's ``device._last_run_time`` of that run).  Rounds alternate which side goes
first; the first round compiles whatever ~/.cython lacks and is reported apart, the ratios are
medians over the later rounds (builder / hand-written; target: simulation <= 1.1x).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_builder.py [--rounds 5] [--target cython]

Prints a table and writes ``benchmarks/out/bench_builder.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import brian2 as b2
import numpy as np
from brian2 import Hz, ms, second, volt

from neurosim import Network, init_params
from neurosim.neurons import RATE_SCALE_HZ, ConductanceLIFParameters, LIFParameters
from neurosim.rules import get_rule
from neurosim.spiking.builder import build_circuit
from neurosim.spiking.codegen import codeobj_class, resolve_target

ROOT = Path(__file__).resolve().parents[1]
DT = 0.1 * ms


def _timed(build):
    """``build() -> (net_run, spikes)``: build_s, compile_s, simulate_s, spike counts of one run."""
    saved = np.random.get_state()
    try:
        started = time.perf_counter()
        run, spikes = build()
        built = time.perf_counter()
        run()
        wall = time.perf_counter() - built
        loop = float(b2.get_device()._last_run_time)
    finally:
        np.random.set_state(saved)
    return {"build_s": built - started, "compile_s": wall - loop, "simulate_s": loop, "spikes": spikes()}


# --------------------------------------------------------------------------- (mlp) 784-100-10 LIF
def mlp_problem(batch: int, seed: int):
    net = Network.feedforward([784, 100, 10], activation="lif", output_activation="lif", neuron="lif",
                              loss="cross_entropy", bias_init=1.0, name="bench_builder_mlp")
    params = init_params(net, seed=seed)
    x = np.random.default_rng(seed).uniform(0, 1, (batch, 784))
    return net, params, x


def mlp_builder(net, params, x, seconds, target, seed):
    def build():
        model = build_circuit(net, params, x, dt=DT, phase=seconds * second, settle=0 * second, seed=seed,
                              codegen_target=target)
        return model.run, lambda: {k: int(m.num_spikes) for k, m in model.monitors.items()}
    return _timed(build)


def mlp_hand(net, params, x, seconds, target, seed):
    """The same network written out in brian2 (the equations of neurosim.spiking.lif, point neuron)."""
    def build():
        cls = codeobj_class(target)
        p = LIFParameters()
        ns = {"tau_m": p.tau_m * second, "t_ref": p.t_ref * second, "v_th": p.v_threshold * volt,
              "v_reset": p.v_reset * volt, "tau_syn": p.tau_syn * second}
        eqs = """dv/dt = (-v + I_soma + I_bias) / tau_m : volt (unless refractory)
                 dI_syn_soma/dt = -I_syn_soma / tau_syn : volt
                 I_soma = I_syn_soma : volt
                 I_bias : volt"""
        copies = x.shape[0]
        clock = b2.Clock(dt=DT, name="hand_clock")
        inp = b2.PoissonGroup(copies * 784, rates=x.ravel() * RATE_SCALE_HZ * Hz, clock=clock, name="hand_input",
                              codeobj_class=cls)
        groups, objects = {"input": inp}, [inp]
        for name, size in (("hidden1", 100), ("output", 10)):
            g = b2.NeuronGroup(copies * size, eqs, threshold="v > v_th", reset="v = v_reset", refractory="t_ref",
                               method="exact", clock=clock, namespace=ns, name=f"hand_{name}", codeobj_class=cls)
            g.I_bias = np.tile(params[f"{name}.bias"], copies) * p.v_threshold * volt
            groups[name] = g
            objects.append(g)
        scale = p.v_threshold / (RATE_SCALE_HZ * p.tau_syn) * volt
        for pre, post in (("input", "hidden1"), ("hidden1", "output")):
            w = params[f"{pre}->{post}"]                     # (n_post, n_pre)
            n_post, n_pre = w.shape
            jj, ii = np.nonzero(w)
            off = np.arange(copies)[:, None]
            syn = b2.Synapses(groups[pre], groups[post], "w : volt", on_pre="I_syn_soma_post += w", clock=clock,
                              name=f"hand_syn_{pre}_{post}", codeobj_class=cls)
            syn.connect(i=(off * n_pre + ii).ravel(), j=(off * n_post + jj).ravel())
            syn.w = np.tile(w[jj, ii], copies) * scale
            objects.append(syn)
        monitors = {k: b2.SpikeMonitor(g, name=f"hand_mon_{k}", codeobj_class=cls) for k, g in groups.items()}
        net = b2.Network(*objects, *monitors.values(), name="hand_mlp")

        def run():
            b2.seed(seed)
            net.run(seconds * second, namespace={})
        return run, lambda: {k: int(m.num_spikes) for k, m in monitors.items()}
    return _timed(build)


# --------------------------------------------------------------------------- (stdp) Song et al., 100 outputs
def stdp_problem(seed: int):
    rule = get_rule("song2000")
    net = rule.network([1000, 100])
    return rule, net, rule.init_params(net, seed), np.full((1, 1000), 0.15)


def stdp_builder(rule, net, params, x, seconds, target, seed):
    def build():
        model = build_circuit(net, params, x, dt=DT, phase=seconds * second, settle=0 * second, seed=seed,
                              codegen_target=target,
                              plasticity={"input->output": (rule.synapse_model, rule.synapse_options())})
        return model.run, lambda: {k: int(m.num_spikes) for k, m in model.monitors.items()}
    return _timed(build)


def stdp_hand(rule, net, params, x, seconds, target, seed):
    """Song et al.'s network in brian2 by hand: the builder's conductance LIF equations, pair STDP synapses."""
    def build():
        cls = codeobj_class(target)
        p, h = ConductanceLIFParameters(), rule.hyper
        ns = {"tau_m": p.tau_m * second, "E_l": p.e_leak * volt, "E_e": p.e_exc * volt, "E_i": p.e_inh * volt,
              "tau_ge": p.tau_ge * second, "tau_gi": p.tau_gi * second, "v_th": p.v_threshold * volt,
              "v_r": p.v_reset * volt, "t_ref": p.t_ref * second, "theta_off": 0 * volt}
        clock = b2.Clock(dt=DT, name="hand_clock")
        inp = b2.PoissonGroup(1000, rates=x.ravel() * RATE_SCALE_HZ * Hz, clock=clock, name="hand_input",
                              codeobj_class=cls)
        eqs = ("dv/dt = ((E_l - v) + ge * (E_e - v) + gi * (E_i - v)) / tau_m : volt (unless refractory)\n"
               "dge/dt = -ge / tau_ge : 1\ndgi/dt = -gi / tau_gi : 1\ntheta : volt")
        out = b2.NeuronGroup(100, eqs,
                             threshold="v > v_th + theta - theta_off", reset="v = v_r", refractory="t_ref",
                             method="euler", clock=clock, namespace=ns, name="hand_output", codeobj_class=cls)
        out.v = p.e_leak * volt
        syn = b2.Synapses(inp, out, """w : 1
                                       dapre/dt = -apre / tau_plus : 1 (event-driven)
                                       dapost/dt = -apost / tau_minus : 1 (event-driven)""",
                          on_pre="ge_post += w\napre += 1\nw = clip(w - A_minus * apost, 0, w_max)",
                          on_post="apost += 1\nw = clip(w + A_plus * apre, 0, w_max)",
                          namespace={"tau_plus": h.tau_plus * second, "tau_minus": h.tau_minus * second,
                                     "A_plus": h.a_plus, "A_minus": h.a_minus, "w_max": h.w_max},
                          clock=clock, name="hand_stdp", codeobj_class=cls)
        syn.connect()
        syn.w = params["input->output"].T.ravel()          # connect(): pre-major (i, j) order
        monitors = {"input": b2.SpikeMonitor(inp, name="hand_mon_input", codeobj_class=cls),
                    "output": b2.SpikeMonitor(out, name="hand_mon_output", codeobj_class=cls)}
        net_ = b2.Network(inp, out, syn, *monitors.values(), name="hand_stdp_net")

        def run():
            b2.seed(seed)
            net_.run(seconds * second, namespace={})
        return run, lambda: {k: int(m.num_spikes) for k, m in monitors.items()}
    return _timed(build)


def _ratios(rows: list[dict]) -> dict:
    later = rows[1:] if len(rows) > 1 else rows
    med = {side: {k: float(np.median([r[side][k] for r in later])) for k in ("build_s", "compile_s", "simulate_s")}
           for side in ("builder", "hand")}
    return {"median": med,
            "simulate_ratio": med["builder"]["simulate_s"] / med["hand"]["simulate_s"],
            "build_compile_ratio": (med["builder"]["build_s"] + med["builder"]["compile_s"])
            / (med["hand"]["build_s"] + med["hand"]["compile_s"])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10, help="copies of the 784-100-10 net side by side")
    parser.add_argument("--mlp-seconds", type=float, default=0.5)
    parser.add_argument("--stdp-seconds", type=float, default=5.0)
    parser.add_argument("--target", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "bench_builder.json"))
    args = parser.parse_args(argv)
    target = resolve_target(args.target)
    started = time.perf_counter()
    cases = {}
    net, params, x = mlp_problem(args.batch, args.seed)
    rule, snet, sparams, sx = stdp_problem(args.seed)
    jobs = {"mlp": (lambda: mlp_builder(net, params, x, args.mlp_seconds, target, args.seed),
                    lambda: mlp_hand(net, params, x, args.mlp_seconds, target, args.seed)),
            "stdp": (lambda: stdp_builder(rule, snet, sparams, sx, args.stdp_seconds, target, args.seed),
                     lambda: stdp_hand(rule, snet, sparams, sx, args.stdp_seconds, target, args.seed))}
    for name, (builder, hand) in jobs.items():
        rows = []
        for r in range(args.rounds):
            order = (("builder", builder), ("hand", hand)) if r % 2 == 0 else (("hand", hand), ("builder", builder))
            rows.append({side: fn() for side, fn in order})
        cases[name] = {"rounds": rows, **_ratios(rows)}
    meta = {"target": target, "dt_s": float(DT / second), "batch": args.batch, "mlp_seconds": args.mlp_seconds,
            "stdp_seconds": args.stdp_seconds, "rounds": args.rounds, "seed": args.seed,
            "brian2": b2.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "wall_s": time.perf_counter() - started}
    print(f"target {target}; medians over rounds 2..{args.rounds} (round 1 compiles what the cache lacks)")
    print(f"{'case':<6} {'side':<8} {'build_s':>8} {'compile_s':>9} {'simulate_s':>10}")
    for name, case in cases.items():
        for side in ("builder", "hand"):
            m = case["median"][side]
            print(f"{name:<6} {side:<8} {m['build_s']:8.3f} {m['compile_s']:9.3f} {m['simulate_s']:10.3f}")
        print(f"{name:<6} ratio builder/hand: simulation {case['simulate_ratio']:.2f}x (target <= 1.1x), "
              f"build+compile {case['build_compile_ratio']:.2f}x; spikes {case['rounds'][-1]['builder']['spikes']} "
              f"vs {case['rounds'][-1]['hand']['spikes']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "cases": cases}, indent=2))
    print(f"wrote {out} ({meta['wall_s']:.0f} s)")
    return {"meta": meta, "cases": cases}


if __name__ == "__main__":
    main()

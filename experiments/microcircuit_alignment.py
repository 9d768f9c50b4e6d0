"""Dendritic rules vs backprop: apical potentials, the self-predicting state, angles in training.

Three measurements (all float64, seed 0 unless ``--seed``), written to
``results/microcircuit_alignment/run.json`` (``--out`` to change); ``figures/dendritic_alignment.py``
draws them.

1. *Apical potential vs backprop delta*: a 64-30-20-10 sigmoid/mse microcircuit on 128 digits,
   symmetric top-down weights, analytic self-predicting state, default weak nudging
   (lambda = 0.043).  Theory: phi'(vB_l) * v_A,l = -c_l delta_l with
   c_l = lambda (1 - lambda_I)^(N-l) a^(N-l-1); we store both sides per hidden layer.
2. *Reaching the self-predicting state*: lateral plasticity alone (no teacher) from random
   interneuron weights, SGD rate 0.2, batches of 32 digits; RMS apical potential per update,
   for 64-20-10 and 64-30-20-10 circuits.
3. *Angle to backprop during training*: digits, 64-32-10 sigmoid/mse, Adam 3e-3, batch 32,
   20 epochs: backprop, FA, microcircuit (symmetric and random top-down, g_som_out = 0.8, from
   the self-predicting state) and burstprop (symmetric and random Y, from Z = pbar_0 Y); the
   angle of the hidden-layer update to backprop's after every epoch, and the test error.
4. *Deep circuit at the compare budget* (``neurosim compare``: digits 64-64-64-10, 20 epochs,
   batch 32, ``models/presets/microcircuit-compare.toml``, Adam 5e-3, float32): microcircuit
   with the paper's basal baseline (``basal_baseline="dendrite"``) and with the free-apical
   one (``"free"``, the compare default); per-epoch test error and angle of each hidden
   layer's update to backprop, and at the end the RMS apical potential without teacher
   (interneuron mismatch) beside the teacher-induced one, per hidden layer, on 256 images.

    python experiments/microcircuit_alignment.py [--out DIR] [--seed 0] [--epochs 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import Network, RunSpec, backprop, get_rule, init_params
from neurosim.data import load_dataset
from neurosim.reference import forward
from neurosim.results import save_run
from neurosim.rules.dendritic import burst_cancelling_params, learn_self_predicting, self_predicting_params
from neurosim.training import TrainConfig, train
from neurosim.validation import check, check_seed


def apical_scatter(data, seed: int) -> dict:
    rule = get_rule("microcircuit", topdown="symmetric")
    net = rule.network([64, 30, 20, 10])
    params = self_predicting_params(net, init_params(net, seed))
    x, t = data.x_train[:128].astype(float), data.targets("train")[:128]
    state = rule.steady_state(net, params, x, t)
    bp = backprop(net, params, x, t)
    fp = forward(net, params, x)
    chain = net.chain()
    out = {"lambda": rule.nudging, "lambda_I": rule.inter_nudging, "a": rule.apical_coupling, "layers": {}}
    for i, proj in enumerate(chain[:-1]):
        lay = proj.post
        c = rule.apical_factor(len(chain) - 1 - i)
        dphi = fp.r[lay] * (1 - fp.r[lay])
        lhs = (dphi * state.apical[lay]).ravel()
        rhs = (-c * bp.deltas[lay]).ravel()
        out["layers"][lay] = {"c": c, "apical_scaled": lhs.tolist(), "predicted": rhs.tolist(),
                              "relative_error": float(np.linalg.norm(lhs - rhs) / np.linalg.norm(rhs))}
    return out


def self_predicting_curves(data, seed: int, n_updates: int = 400) -> dict:
    # SGD rate 0.2: at 0.5 the lateral weights of the 3-stage circuit overshoot and diverge
    rule = get_rule("microcircuit", max_steps=200, on_unconverged="record")
    curves = {}
    for sizes in ([64, 20, 10], [64, 30, 20, 10]):
        net = rule.network(sizes)
        _, rms = learn_self_predicting(rule, net, init_params(net, seed), data.x_train.astype(float),
                                       n_updates=n_updates, learning_rate=0.2, seed=seed)
        curves["-".join(map(str, sizes))] = rms.tolist()
    return {"learning_rate": 0.2, "batch_size": 32, "curves": curves}


def training_angles(data, seed: int, epochs: int) -> dict:
    sizes = [64, 32, 10]
    runs = {}
    mc = {"g_som_out": 0.8, "tolerance": 1e-8, "max_steps": 30, "on_unconverged": "record"}
    setups = [("backprop", "backprop", {}, None), ("fa", "fa", {}, None),
              ("microcircuit (symmetric B)", "microcircuit", {**mc, "topdown": "symmetric"}, "sp"),
              ("microcircuit (random B)", "microcircuit", {**mc, "topdown": "random"}, "sp"),
              ("burstprop (symmetric Y)", "burstprop", {"feedback": "symmetric"}, "z"),
              ("burstprop (random Y)", "burstprop", {"feedback": "random"}, "z")]
    for label, name, hyper, init in setups:
        rule = get_rule(name, **hyper)
        base = Network.feedforward(sizes, activation="sigmoid", output_activation="sigmoid", loss="mse")
        net = rule.network(base)
        params = init_params(net, seed)
        if init == "sp":
            params = self_predicting_params(net, params)
        elif init == "z":
            params = burst_cancelling_params(net, params)
        t0 = time.perf_counter()
        result = train(net, rule, data, TrainConfig(epochs=epochs, batch_size=32, learning_rate=3e-3, seed=seed,
                                                    dtype="float64"), params=params)
        hidden = net.chain()[0].name
        runs[label] = {"rule": name, "hyper": hyper, "status": result.status,
                       "test_error": [h["test_error"] for h in result.history],
                       "hidden_angle_deg": [float(np.degrees(np.arccos(np.clip(h["alignment"]["projections"][hidden],
                                                                                -1, 1))))
                                            for h in result.history],
                       "global_angle_deg": [h["alignment"]["global_angle_deg"] for h in result.history],
                       "seconds": time.perf_counter() - t0}
        print(f"{label:<28} test error {runs[label]['test_error'][-1]:.4f}  hidden angle "
              f"{runs[label]['hidden_angle_deg'][-1]:.1f} deg  ({runs[label]['seconds']:.1f} s)", flush=True)
    return {"sizes": sizes, "epochs": epochs, "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 32,
            "runs": runs}


def deep_circuit(data, seed: int, epochs: int) -> dict:
    sizes = [64, 64, 64, 10]
    spec = RunSpec.preset("microcircuit", "compare")
    idx = np.random.default_rng(seed).choice(len(data.x_train), 256, replace=False)
    x, t = data.x_train[idx].astype(float), data.targets("train")[idx].astype(float)
    runs = {}
    for baseline in ("dendrite", "free"):
        rule = get_rule("microcircuit", **{**spec.hyper, "basal_baseline": baseline})
        net = rule.network(sizes)
        t0 = time.perf_counter()
        result = train(net, rule, data, TrainConfig(epochs=epochs, batch_size=32, seed=seed,
                                                    learning_rate=spec.learning_rate),
                       params=rule.init_params(net, seed))
        params = {k: v.astype(float) for k, v in result.params.items()}
        free, nudged = rule.steady_state(net, params, x, None), rule.steady_state(net, params, x, t)
        hidden = [p.name for p in net.chain()[:-1]]
        runs[baseline] = {
            "status": result.status, "test_error": [h["test_error"] for h in result.history],
            "angle_deg": {k: [float(np.degrees(np.arccos(np.clip(h["alignment"]["projections"][k], -1, 1))))
                              for h in result.history] for k in hidden},
            "apical_rms_free": {k: float(np.sqrt(np.mean(v ** 2))) for k, v in free.apical.items()},
            "apical_rms_teacher": {k: float(np.sqrt(np.mean((nudged.apical[k] - v) ** 2)))
                                   for k, v in free.apical.items()},
            "seconds": time.perf_counter() - t0}
        r = runs[baseline]
        print(f"deep microcircuit, basal_baseline={baseline}: test error {r['test_error'][-1]:.4f}, apical RMS "
              f"free {r['apical_rms_free']} vs teacher {r['apical_rms_teacher']}", flush=True)
    return {"sizes": sizes, "epochs": epochs, "optimizer": "adam",
            "learning_rate": spec.learning_rate, "batch_size": 32, "runs": runs}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/microcircuit_alignment")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args(argv)
    check("microcircuit_alignment", "--epochs", args.epochs, "int", gt=0)  # used after the scatter and curves
    check_seed("microcircuit_alignment", args.seed, "--seed")
    data = load_dataset("digits")
    t0 = time.perf_counter()
    record = {"config": vars(args), "dataset": "digits", "scatter": apical_scatter(data, args.seed)}
    for lay, d in record["scatter"]["layers"].items():
        print(f"apical vs delta, {lay}: c = {d['c']:.3g}, relative error {d['relative_error']:.3g}")
    record["self_predicting"] = self_predicting_curves(data, args.seed)
    for k, c in record["self_predicting"]["curves"].items():
        print(f"self-predicting {k}: RMS apical {c[0]:.3g} -> {c[-1]:.3g} ({c[0] / c[-1]:.1f}x)")
    record["training"] = training_angles(data, args.seed, args.epochs)
    record["deep"] = deep_circuit(data, args.seed, args.epochs)
    record["seconds"] = time.perf_counter() - t0
    print("wrote", save_run(args.out, record))


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "microcircuit_alignment"))

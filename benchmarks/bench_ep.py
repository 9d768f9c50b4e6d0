"""Training throughput of equilibrium propagation relative to backprop, in the same run.

Network: ``models/ep_fashion_mnist.toml`` (784-500-10, hard-sigmoid hidden layer, softmax
cross-entropy read-out; EP with symmetric nudging, beta = 0.2, tolerance 1e-5, caps 100/100).
Both rules train one epoch at a time on the same Fashion-MNIST subset (batch 32, SGD, float32,
no alignment probes); they take turns and each rule's fastest epoch counts, so a burst of load
from another process does not land on one rule only.  The mini-batch loop alone is timed
(``train_seconds``; evaluation excluded), and again in CPU time (``time.process_time``, the same
loop run by :func:`cpu_epoch`), which other processes on a shared machine disturb far less.

The breakdown re-runs EP's ``updates`` on the same batches piece by piece, with the public
kernel (:class:`neurosim.energy.EnergyKernel`): validation and gathering, the constant input
drive :math:`W_1 x + b_1` (once per batch), the free phase, the two nudged phases and the
update (contrastive term and read-out gradient).  The FLOP model
explains the ratio: per sample backprop costs about :math:`6 N_W` (forward 2, input-layer
weight gradient 2, read-out delta and gradient 2 per weight), EP the same :math:`W_1`
products (input drive 2, contrastive update 2 per weight of :math:`W_1`) plus, per relaxation
step, a read-out forward and backward pass (:math:`4 N_{out}`) -- so EP's FLOP ratio is close
to 1 and the rest of the measured ratio is per-step Python and element-wise overhead.

A second measurement is EP's share of ``neurosim compare`` (the main job): the digits set,
EP's default network 64-64-64-10 (three energy layers: the relaxation dominates), 20 epochs,
batch 32, Adam 1e-3, alignment on 256 samples after every epoch, beside backprop on its own
default network; whole ``train`` calls (evaluation and alignment included), the faster of
``--repeats`` turns each.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ep.py [--n-train 10000] [--repeats 3] [--json]
        [--compare-epochs 20]

Writes ``benchmarks/out/bench_ep.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import matmul_flops  # noqa: E402

from neurosim import RunSpec, get_rule  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.energy import kernel_for_batch  # noqa: E402
from neurosim.results import provenance, write_json  # noqa: E402
from neurosim.rules.equilibrium import contrastive_update  # noqa: E402
from neurosim.training import SGD, TrainConfig, train  # noqa: E402
from neurosim.validation import all_finite  # noqa: E402

CARD = Path(__file__).resolve().parents[1] / "models" / "ep_fashion_mnist.toml"
BATCH = 32


def ep_rule(card):
    return card.make_rule()


def breakdown(card, params, x_all, t_all, batch: int = BATCH) -> dict:
    """Seconds per piece of EP's update, summed over the batches of ``x_all``, and mean steps."""
    rule = ep_rule(card)
    net = rule.network(card.network)
    h = rule.hyper
    relax = {"step_size": h.step_size, "tolerance": h.tolerance, "schedule": h.schedule,
             "on_unconverged": h.on_unconverged}
    clock = dict.fromkeys(("validate", "input_drive", "free", "nudged", "update"), 0.0)
    steps = {"free": 0, "nudged": 0}
    n_batches = 0
    for i in range(0, len(x_all), batch):
        t0 = time.perf_counter()
        K, x, t = kernel_for_batch(net, params, x_all[i:i + batch], t_all[i:i + batch])
        t1 = time.perf_counter()
        inp = K.input_drive(x)
        t2 = time.perf_counter()
        free, free_conv = K.relax(x, t, None, beta=0.0, max_steps=h.max_steps, inp=inp, **relax)
        t3 = time.perf_counter()
        nudged = [K.relax(x, t, free, beta=b, max_steps=h.nudged_max_steps, inp=inp, **relax)
                  for b in (h.beta, -h.beta)]
        t4 = time.perf_counter()
        contrastive_update(net, x, K.as_dict(nudged[0][0]), K.as_dict(nudged[1][0]), 1.0 / (2.0 * h.beta))
        [K.readout_grads(s[-1], t) for s, _ in nudged]
        t5 = time.perf_counter()
        for key, (a, b) in zip(clock, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
            clock[key] += b - a
        steps["free"] += free_conv.steps
        steps["nudged"] += sum(c.steps for _, c in nudged)
        n_batches += 1
    return {"seconds": clock, "mean_free_steps": steps["free"] / n_batches,
            "mean_nudged_steps_per_phase": steps["nudged"] / (2 * n_batches), "n_batches": n_batches}


def flop_per_sample(sizes, free_steps: float, nudged_steps: float) -> dict:
    """Multiply-add FLOP per sample of one update (see the module docstring)."""
    n_in, n_h, n_out = sizes
    w1, w2 = n_in * n_h, n_h * n_out
    backprop = 2 * (w1 + w2) + 2 * w2 + 2 * (w1 + w2)        # forward; read-out delta; weight gradients
    # a nudged evaluation of the map of the 1-layer energy costs a read-out forward pass and its
    # feedback (4 w2; the free map is the input drive alone); a phase of k steps evaluates the
    # map k + 1 times (the last one gives the residual)
    evaluations = 2 * (nudged_steps + 1)
    ep = 2 * w1 + 4 * w2 * evaluations + 2 * w1 + 2 * 2 * w2  # input drive; relaxation; update; read-out grads
    return {"backprop": backprop, "ep": ep, "ratio": ep / backprop}


def cpu_epoch(rule, network, params: dict, x, t, order) -> float:
    """CPU seconds (``time.process_time``: robust to other processes on a shared machine) of one
    epoch of ``train``'s mini-batch loop: the rule's updates, the finite check, an SGD step."""
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    optimizer = SGD(0.1, 0.0)
    state = rule.init(network, params, 0)
    start = time.process_time()
    for i in range(0, len(order), BATCH):
        idx = order[i:i + BATCH]
        dw, state, _ = rule.updates(network, params, state, x[idx], t[idx])
        if not all(all_finite(v) for v in dw.values()):
            raise SystemExit(f"{rule.name}: non-finite update")
        optimizer.step(params, dw)
    return time.process_time() - start


def compare_budget(epochs: int, repeats: int) -> dict:
    """Seconds of EP's and backprop's ``neurosim compare`` runs (module docstring), fastest of ``repeats``."""
    data = load_dataset("digits", seed=0)
    sizes = [data.n_features, 64, 64, data.n_classes]
    best: dict[str, dict] = {}
    for _ in range(repeats):
        for name in ("ep", "backprop"):
            rule = get_rule(name)
            net = rule.network(sizes)
            cfg = TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", learning_rate=1e-3, seed=0)
            wall, cpu = time.perf_counter(), time.process_time()
            res = train(net, rule, data, cfg, params=rule.init_params(net, 0), progress=False)
            row = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                   "train_seconds": sum(e["train_seconds"] for e in res.history), "test_error": res.test_error,
                   "relaxation_last_epoch": res.history[-1].get("relaxation")}
            if name not in best or row["seconds"] < best[name]["seconds"]:
                best[name] = row
    return {"dataset": "digits", "sizes": sizes, "epochs": epochs, "batch_size": 32, "align_samples": 256,
            "runs": best}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=3, help="epochs per rule; the fastest one counts")
    p.add_argument("--compare-epochs", type=int, default=20, help="epochs of the compare-budget run (0: skip)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_ep.json"))
    args = p.parse_args(argv)

    card = RunSpec.load(CARD)
    data = load_dataset("fashion-mnist", n_train=args.n_train, n_test=100, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, optimizer="sgd", learning_rate=0.1, momentum=0.0,
                      dtype="float32", align_samples=0, seed=0)
    x = np.ascontiguousarray(data.x_train, dtype=np.float32)
    t = np.ascontiguousarray(data.targets("train"), dtype=np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    trained = {}
    for _ in range(args.repeats):
        for name in ("ep", "backprop"):
            rule = ep_rule(card) if name == "ep" else get_rule(name)
            res = train(card.network, rule, data, cfg, progress=False)
            best[name] = min(best.get(name, float("inf")), res.history[0]["train_seconds"])
            trained[name] = res.params
            start = rule.init_params(card.network, 0, "float32")
            cpu[name] = min(cpu.get(name, float("inf")), cpu_epoch(rule, card.network, start, x, t, order))
    n = len(data.x_train)
    # breakdown at the weights after one epoch of EP (relaxations take longer than at init)
    parts = breakdown(card, trained["ep"], x, t)
    flop = flop_per_sample(card.network.sizes, parts["mean_free_steps"], parts["mean_nudged_steps_per_phase"])
    peak = matmul_flops(np.float32)
    out = {"dataset": data.name, "n_train": n, "sizes": list(card.network.sizes), "batch_size": BATCH,
           "dtype": "float32", "rule_hyper": dict(card.hyper),
           "epoch_seconds": best, "samples_per_second": {k: n / v for k, v in best.items()},
           "ratio_ep_to_backprop_seconds": best["ep"] / best["backprop"],
           "cpu_epoch_seconds": cpu, "ratio_ep_to_backprop_cpu": cpu["ep"] / cpu["backprop"],
           "ep_breakdown_seconds": parts["seconds"],
           "ep_breakdown_share": {k: v / sum(parts["seconds"].values()) for k, v in parts["seconds"].items()},
           "ep_mean_free_steps": parts["mean_free_steps"],
           "ep_mean_nudged_steps_per_phase": parts["mean_nudged_steps_per_phase"],
           "flop_per_sample": flop, "matmul_gflops_peak": peak / 1e9,
           "flop_bound_seconds": {k: flop[k] * n / peak for k in ("ep", "backprop")},
           "compare_budget": compare_budget(args.compare_epochs, args.repeats) if args.compare_epochs else None,
           "provenance": provenance()}
    write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return out
    print(f"Fashion-MNIST {n} images, 784-500-10, batch {BATCH}, float32; matmul peak {peak / 1e9:.1f} GFLOP/s")
    for name, sec in best.items():
        print(f"{name:<9} epoch {sec:.2f} s  ({n / sec:.0f} samples/s)  FLOP bound "
              f"{out['flop_bound_seconds'][name]:.2f} s")
    print(f"EP / backprop time ratio {out['ratio_ep_to_backprop_seconds']:.2f}, CPU-time ratio "
          f"{out['ratio_ep_to_backprop_cpu']:.2f} ({cpu['ep']:.2f} / {cpu['backprop']:.2f} s)  "
          f"(FLOP ratio {flop['ratio']:.2f})")
    total = sum(parts["seconds"].values())
    print(f"EP breakdown ({total:.2f} s; mean steps: free {parts['mean_free_steps']:.1f}, nudged "
          f"{parts['mean_nudged_steps_per_phase']:.1f} per phase):")
    for key, sec in parts["seconds"].items():
        print(f"  {key:<12} {sec:.3f} s  {100 * sec / total:5.1f} %")
    if out["compare_budget"]:
        cb = out["compare_budget"]
        print(f"compare budget (digits {'-'.join(map(str, cb['sizes']))}, {cb['epochs']} epochs, batch 32, align 256):")
        for name, row in cb["runs"].items():
            print(f"  {name:<9} {row['seconds']:.2f} s (CPU {row['cpu_seconds']:.2f} s; mini-batch loop "
                  f"{row['train_seconds']:.2f} s), test error {row['test_error']:.4f}")
    return out


if __name__ == "__main__":
    main()

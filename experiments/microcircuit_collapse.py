"""Per-batch diagnosis of the microcircuit on Fashion-MNIST at the full budget (issue 20).

Replays the accuracy table's job for ``microcircuit`` (``--set`` changes its hyper-parameters)
(784-256-256-10, batch 128, float32, Adam, the training loop of :func:`neurosim.training.train`:
same initial weights, same batch order)
for ``--epochs`` epochs on ``--n-train`` images and logs, every ``--every`` batches: the
feed-forward batch loss and accuracy, the output layer's spread across units and samples, the
fraction of saturated hidden/output rates, per hidden layer the RMS apical potential without
teacher and the part the teacher adds (nudged minus free), the interneuron mismatch
:math:`\\|W^{IP}_l - W_{l+1}\\|/\\|W_{l+1}\\|` and :math:`\\|W^{PI}_l + B_l\\|/\\|B_l\\|`, the free
apical RMS, the largest proposed update per parameter and the weight norms.  Writes one JSON
line per log point to ``--out`` (and prints a short line).

Usage::

    python experiments/microcircuit_collapse.py                                   # the table's job (free baseline)
    python experiments/microcircuit_collapse.py --set basal_baseline=dendrite     # the chance run (paper rule)
    python experiments/microcircuit_collapse.py --set basal_baseline=dendrite --learning-rate 1e-3 --dtype float64
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learning-rate", type=float, default=None, help="default: the train preset's (Adam 5e-3)")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--every", type=int, default=25)
    p.add_argument("--max-batches", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="rule hyper-parameter")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from neurosim.validation import check

    for flag in ("n_train", "epochs", "every"):
        check("microcircuit_collapse", f"--{flag.replace('_', '-')}", getattr(args, flag), "int", gt=0)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT / "experiments"))
    from fashion_accuracy_table import make_jobs

    from neurosim.cli import _parse_set
    from neurosim.params import as_generator
    from neurosim.reference import forward
    from neurosim.sweep import job_spec
    from neurosim.training import evaluate, make_optimizer

    job = make_jobs(["microcircuit"], 1, args.n_train, 10000, args.epochs, [784, 256, 256, 10])[0]
    job["hyper"].update(_parse_set(args.set))
    job["seed"] = args.seed
    job["dtype"] = args.dtype
    if args.learning_rate is not None:
        job["learning_rate"] = args.learning_rate
    spec = job_spec(job)
    data = spec.load_data(args.seed)
    rule = spec.make_rule()
    network = rule.network(spec.build_network(data, rule))
    config = spec.config(args.seed, data.n_train)
    print("hyper", dict(rule.hyper), "lr", config.learning_rate, config.optimizer, config.dtype, flush=True)
    dtype = np.dtype(config.dtype)
    x = np.ascontiguousarray(data.x_train, dtype=dtype)
    t = np.ascontiguousarray(data.targets("train"), dtype=dtype)
    x_test = np.ascontiguousarray(data.x_test, dtype=dtype)
    t_test = np.ascontiguousarray(data.targets("test"), dtype=dtype)
    rng = as_generator(args.seed)  # as train(): initial weights, then one permutation per epoch
    params = rule.init_params(network, rng, dtype)
    state = rule.init(network, params, args.seed)
    opt = make_optimizer(config.optimizer, config.learning_rate, config.momentum,
                         rule.learning_rate_scales(network))
    chain, stages = rule._circuit(network)
    from neurosim.params import weight

    out = open(args.out, "w") if args.out else None
    n, bs = x.shape[0], config.batch_size
    step = 0
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            dw, state, aux = rule.updates(network, params, state, x[idx], t[idx])
            if step % args.every == 0:
                fp = forward(network, params, x[idx])
                r_out = np.asarray(fp.r[chain[-1].post], dtype=np.float64)
                rec = {"epoch": epoch, "batch": step, "images": step * bs,
                       "loss": float(0.5 * np.mean(np.sum((r_out - t[idx]) ** 2, axis=1))),
                       "acc": float(np.mean(r_out.argmax(1) == t[idx].argmax(1))),
                       "out_mean": float(r_out.mean()), "out_sd_units": float(r_out.mean(0).std()),
                       "out_sd_samples": float(r_out.std(0).mean()),
                       "sat": {p.post: float(np.mean((np.asarray(fp.r[p.post]) < 0.01)
                                                     | (np.asarray(fp.r[p.post]) > 0.99))) for p in chain},
                       "apical_rms_free": aux.get("apical_rms_free"),
                       "relax_steps": aux.get("relaxation_steps"),
                       "unconverged": (aux.get("relaxation") or {}).get("unconverged"),
                       "ip_mismatch": {}, "pi_mismatch": {},
                       "dw_max": {k: float(np.max(np.abs(v))) for k, v in dw.items()},
                       "w_norm": {k: float(np.linalg.norm(v)) for k, v in params.items()}}
                # the apical potential without teacher (interneuron mismatch) against the part the
                # teacher adds (nudged - free): what the paper's basal rule cannot tell apart
                free = rule.steady_state(network, params, x[idx], None)
                nudged = rule.steady_state(network, params, x[idx], t[idx])
                rec["apical_rms_free_layer"] = {k: float(np.sqrt(np.mean(np.asarray(v) ** 2)))
                                                for k, v in free.apical.items()}
                rec["apical_rms_teacher_layer"] = {k: float(np.sqrt(np.mean((np.asarray(nudged.apical[k])
                                                                             - np.asarray(v)) ** 2)))
                                                   for k, v in free.apical.items()}
                for s in stages:
                    w_up = weight(network, params, next(p for p in chain if p.post == s.upper))
                    rec["ip_mismatch"][s.inter] = float(np.linalg.norm(weight(network, params, s.ip) - w_up)
                                                        / np.linalg.norm(w_up))
                    b = weight(network, params, s.topdown)
                    rec["pi_mismatch"][s.inter] = float(np.linalg.norm(weight(network, params, s.pi) + b)
                                                        / np.linalg.norm(b))
                rec["seconds"] = time.perf_counter() - t0
                print(f"b{step:5d} loss {rec['loss']:.4f} acc {rec['acc']:.3f} out sd(units) "
                      f"{rec['out_sd_units']:.3f} sd(samples) {rec['out_sd_samples']:.3f} sat "
                      f"{ {k: round(v, 3) for k, v in rec['sat'].items()} } ip "
                      f"{ {k: round(v, 3) for k, v in rec['ip_mismatch'].items()} } pi "
                      f"{ {k: round(v, 3) for k, v in rec['pi_mismatch'].items()} } apfree "
                      f"{None if rec['apical_rms_free'] is None else round(rec['apical_rms_free'], 4)}"
                      f" steps {rec['relax_steps']} {rec['seconds']:.0f}s", flush=True)
                print("        apical rms free", {k: f"{v:.2e}" for k, v in rec["apical_rms_free_layer"].items()},
                      "teacher", {k: f"{v:.2e}" for k, v in rec["apical_rms_teacher_layer"].items()}, flush=True)
                if out:
                    out.write(json.dumps(rec) + "\n")
                    out.flush()
            opt.step(params, dw)
            if not all(np.all(np.isfinite(v)) for v in params.values()):
                print("non-finite parameters at batch", step)
                return 1
            step += 1
            if args.max_batches and step >= args.max_batches:
                break
        loss, err = evaluate(network, params, x_test, data.y_test, t_test, rule)
        print(f"epoch {epoch}: test loss {loss:.4f} error {err:.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
        if out:
            out.write(json.dumps({"epoch": epoch, "test_loss": loss, "test_error": err}) + "\n")
    return 0


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "microcircuit_collapse"))

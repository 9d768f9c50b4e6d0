"""Why SDTP trails DTP on Fashion-MNIST (issue 20): the inverses, the targets and the schedule.

Bartunov et al. (2018) report simplified difference target propagation (SDTP) about 0.8
points behind backprop on MNIST (alternating schedule, 500 epochs, tuned), neurosim's
Fashion-MNIST table (``experiments/bartunov_table.py``) about 10.  This script trains the
table's network (784-256x5-10 tanh, softmax cross-entropy, Adam) with one method and
*variant* at a short budget and records, every ``--every`` mini-batches, on a fixed probe
of 1000 training samples:

* each inverse's noise-free reconstruction error
  :math:`\\langle (g_l(f_l(h_{l-1})) - h_{l-1})^2\\rangle`, the variance of the activity it
  reconstructs, :math:`\\langle (h_{l-1} - \\bar h_{l-1})^2\\rangle`, and for the top inverse
  :math:`g_L` of SDTP the *floor*: the error of the best affine map from what :math:`g_L`
  reads (the 10 class probabilities) to :math:`h_{L-1}`, fitted by least squares on the
  probe itself (a reference for what a read-out of the 10 numbers can reach);
* the cosine of every layer's forward update with backprop's (:func:`neurosim.align`, 256
  samples, the parallel update);

and at the end the train/test error.  Variants (``--variant``): the inverse learning-rate
factor (``inverse_lr_scale``), the corruption :math:`\\sigma` (``noise_std``), and the
alternating schedule per mini-batch (``alternate_every = 1``) or per epoch.

It only WRITES ``<out>/<method>_<variant>.json``.

Usage::

    python experiments/sdtp_diagnosis.py --method sdtp --epochs 3 --n-train 10000
    python experiments/sdtp_diagnosis.py --method sdtp --set inverse_lr_scale=10 --epochs 3 --n-train 10000
    python experiments/sdtp_diagnosis.py --method sdtp --set schedule=alternating --alternate epoch
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="sdtp", choices=("sdtp", "dtp", "aosdtp"))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="rule hyper-parameters")
    p.add_argument("--alternate", choices=("batch", "epoch"), default="batch",
                   help="with schedule=alternating: phases per mini-batch or per epoch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--top-lr-scale", type=float, default=1.0,
                   help="extra learning-rate factor for the top inverse g_L only (sdtp, aosdtp)")
    p.add_argument("--every", type=int, default=20, help="record every this many mini-batches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "results" / "sdtp_diagnosis"))
    return p.parse_args(argv)


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def affine_floor(o, h):
    """Mean squared error of the least-squares affine map ``o -> h`` (fitted on these samples)."""
    import numpy as np

    a = np.hstack([o, np.ones((o.shape[0], 1))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(a, h.astype(np.float64), rcond=None)
    return float(np.mean((a @ coef - h) ** 2))


def probe(rule, network, params, x_probe, x_align, t_align):
    """Reconstruction, variance, floor and per-layer cosine at the current parameters."""
    import numpy as np

    from neurosim import align
    from neurosim.reference import forward

    fp = forward(network, params, x_probe)
    record = {"reconstruction": rule.reconstruction_error(network, params, x_probe), "variance": {}}
    out = network.output_layer.name
    for upper, lower in rule.inverse_pairs(network):
        h = fp.r[lower]
        record["variance"][f"{upper}->{lower}"] = float(np.mean((h - h.mean(0)) ** 2))
        if upper == out:
            record["floor"] = affine_floor(rule.output_representation(network, fp.r[out]), h)
    report = align(rule, network, params, x_align, t_align)  # the parallel update (rule.info.measure)
    record["cosine"] = {r.name: r.cosine for r in report.projections}
    record["global_cosine"] = report.global_cosine
    return record


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import numpy as np

    from neurosim import Network, get_rule
    from neurosim.data import load_dataset
    from neurosim.results import provenance, write_json
    from neurosim.training import evaluate, make_optimizer

    hyper = {"noise_std": 0.213995} if args.method != "dtp" else {"noise_std": 0.36133, "target_lr": 0.15008}
    for kv in args.set:
        key, sep, value = kv.partition("=")
        if not (sep and key):
            from neurosim.errors import ConfigError

            raise ConfigError(f"sdtp_diagnosis --set: expected KEY=VALUE (a hyper-parameter of the rule), got {kv!r}")
        hyper[key] = _value(value)
    data = load_dataset("fashion-mnist", n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    n = len(data.x_train)
    batches_per_epoch = -(-n // args.batch_size)
    if hyper.get("schedule") == "alternating":
        hyper["alternate_every"] = batches_per_epoch if args.alternate == "epoch" else 1
    rule = get_rule(args.method, **hyper)
    network = rule.network(Network.feedforward([data.n_features] + [256] * 5 + [data.n_classes],
                                               activation="tanh", loss="cross_entropy", name="bartunov_fc"))
    params = rule.init_params(network, args.seed, dtype="float32")
    state = rule.init(network, params, args.seed)
    scales = dict(rule.learning_rate_scales(network))
    if args.top_lr_scale != 1.0:
        upper, lower = rule.inverse_pairs(network)[0]
        top = f"{upper}->{lower}:inverse"
        for key in (top, f"{top}.bias"):
            scales[key] = scales.get(key, 1.0) * args.top_lr_scale
    optimizer = make_optimizer("adam", args.lr, scales=scales)
    x = data.x_train.astype(np.float32)
    t = data.targets("train").astype(np.float32)
    x_probe, x_align, t_align = x[:1000], x[:256], t[:256]
    rng = np.random.default_rng(args.seed)
    trace, step = [], 0
    t0 = time.perf_counter()
    trace.append({"step": 0, **probe(rule, network, params, x_probe, x_align, t_align)})
    for epoch in range(args.epochs):
        order = rng.permutation(n)
        for start in range(0, n, args.batch_size):
            idx = order[start:start + args.batch_size]
            dw, state, _ = rule.updates(network, params, state, x[idx], t[idx])
            optimizer.step(params, dw)
            step += 1
            if step % args.every == 0:
                trace.append({"step": step, **probe(rule, network, params, x_probe, x_align, t_align)})
        _, train_err = evaluate(network, params, x, data.y_train, t, rule)
        _, test_err = evaluate(network, params, data.x_test.astype(np.float32), data.y_test,
                               data.targets("test").astype(np.float32), rule)
        last = trace[-1]
        print(f"{args.method} {args.set} epoch {epoch + 1}: train {train_err:.4f} test {test_err:.4f} "
              f"recon {({k.split(':')[0]: round(v, 4) for k, v in last['reconstruction'].items()})} "
              f"floor {last.get('floor', float('nan')):.4f} cos {({k: round(v, 2) for k, v in last['cosine'].items()})}"
              f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    variant = "_".join(args.set).replace("=", "") or "default"
    if args.top_lr_scale != 1.0:
        variant += f"_top{args.top_lr_scale:g}"
    if hyper.get("schedule") == "alternating":
        variant += f"_per{args.alternate}"
    out = Path(args.out) / f"{args.method}_{variant}.json"
    write_json(out, {"experiment": "sdtp_diagnosis", "config": vars(args), "hyper": dict(rule.hyper),
                     "train_error": train_err, "test_error": test_err, "trace": trace,
                     "seconds": time.perf_counter() - t0, "provenance": provenance()})
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    from neurosim.results import run_script

    sys.exit(run_script(main, "sdtp_diagnosis"))

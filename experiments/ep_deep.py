"""Deep EP on digits (64-64-64-10): which part of the set-up keeps it from backprop's standing?

``neurosim compare`` trains each rule's default network on the embedded digits, 20 epochs, batch
32, seed 0.  EP's default (hard sigmoid everywhere, squared error on an output layer that belongs
to the energy, beta = 1e-3, Adam 1e-3) ends at 17.8 % test error against backprop's 3.9 %.  This
experiment trains variants of that set-up, one change at a time -- the softmax cross-entropy
read-out outside the energy (Laborieux et al. 2021), beta, SGD vs Adam, per-layer rates (Scellier &
Bengio 2017) -- and records per epoch

* the error on a **validation split** (20 % of the training images, ``[data] validation``; the
  test set is never loaded, so every choice made from this table is a selection on validation);
* the cosine of EP's update with the exact gradient at the free fixed point (the ``implicit``
  oracle, 256 training samples);
* the relaxation statistics of the epoch (``aux["relaxation"]``: phases, phases at their cap, the
  largest residual).

Writes ``results/ep_deep/VARIANT.json`` (one per variant) and prints one line per variant.

    python experiments/ep_deep.py [--variants NAME,...] [--epochs 20] [--seed 0] [--test]

``--test`` scores on the test set instead (only for the final report of a setting already chosen).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from neurosim.compare import compare_spec  # noqa: E402
from neurosim.errors import ConfigError, unknown_name  # noqa: E402
from neurosim.training import train  # noqa: E402

#: name -> RunSpec changes relative to ``compare_spec("ep")`` (the main job's set-up).
VARIANTS = {
    "preset": {},
    "backprop": {"rule": "backprop"},
    "ce": {"loss": "cross_entropy"},
    "mse-beta0.1": {"hyper": {"beta": 0.1}},
    "ce-beta0.1": {"loss": "cross_entropy", "hyper": {"beta": 0.1}},
    "ce-beta0.5": {"loss": "cross_entropy", "hyper": {"beta": 0.5}},
    "mse-sgd0.1": {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.0},
    "ce-sgd0.1": {"loss": "cross_entropy", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.0},
    "ce-sgd0.05-mom": {"loss": "cross_entropy", "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "ce-adam3e-3": {"loss": "cross_entropy", "learning_rate": 3e-3},
    "caps": {"hyper": {"beta": 0.1, "max_steps": 30, "nudged_max_steps": 10}},
    "caps-ce": {"loss": "cross_entropy", "hyper": {"beta": 0.1, "max_steps": 30, "nudged_max_steps": 10}},
    "caps-sgd": {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.0,
                 "hyper": {"beta": 0.1, "max_steps": 30, "nudged_max_steps": 10}},
    "caps-layers": {"hyper": {"beta": 0.1, "max_steps": 30, "nudged_max_steps": 10, "learning_rate_scales": {
        "input->hidden1": 4.0, "hidden1.bias": 4.0, "hidden1->hidden2": 2.0, "hidden2.bias": 2.0}}},
}


def spec_for(name: str, epochs: int, seed: int, test: bool, changes: dict | None = None):
    changes = dict(VARIANTS[name] if changes is None else changes)
    hyper = changes.pop("hyper", {})
    base = compare_spec(changes.pop("rule", "ep"), epochs=epochs, seed=seed)
    spec = base.replace(hyper={**base.hyper, **hyper}, **changes)
    return spec if test else spec.replace(validation=0.2)


def run(name: str, epochs: int, seed: int, test: bool, out: Path, changes: dict | None = None) -> dict:
    spec = spec_for(name, epochs, seed, test, changes)
    data = spec.load_data(seed)
    rule = spec.make_rule()
    network = spec.build_network(data, rule)
    t0 = time.perf_counter()
    result = train(network, rule, data, spec.config(seed, data.n_train), progress=False)
    seconds = time.perf_counter() - t0
    curve = []
    for e in result.history:
        rel = e.get("relaxation") or {}
        curve.append({"epoch": e["epoch"], "error": e.get("test_error"), "train_error": e.get("train_error"),
                      "cosine": (e.get("alignment") or {}).get("global"),
                      "phases": rel.get("phases"), "unconverged": rel.get("unconverged"),
                      "steps": rel.get("steps"), "max_residual": rel.get("max_residual")})
    record = {"variant": name, "scored_on": "test" if test else "validation (20 % of train)",
              "spec": spec.to_dict(), "status": result.status, "message": result.message,
              "seconds": seconds, "curve": curve}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}{'-test' if test else ''}.json").write_text(json.dumps(record, indent=1))
    return record


def line(rec: dict) -> str:
    c = rec["curve"]
    errs = " ".join(f"{100 * e['error']:.0f}" if e["error"] is not None else "-" for e in c)
    cos = [e["cosine"]  for e in c if e["cosine"] is not None]
    unconv = sum(e["unconverged"] or 0 for e in c)
    phases = sum(e["phases"] or 0 for e in c)
    maxres = max((e["max_residual"] or 0) for e in c)
    return (f"{rec['variant']:<16} {rec['status']:<9} final {100 * c[-1]['error']:5.1f} %  best "
            f"{100 * min(e['error'] for e in c if e['error'] is not None):5.1f} %  cos min {min(cos, default=0):.3f} "
            f"end {cos[-1] if cos else 0:.3f}  capped {unconv}/{phases} maxres {maxres:.2g}  {rec['seconds']:.0f} s\n"
            f"    per-epoch error %: {errs}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", action="store_true", help="score on the test set (final report only)")
    ap.add_argument("--set", action="append", default=[], metavar="JSON",
                    help="an extra variant: NAME=JSON of RunSpec changes, e.g. 'x={\"loss\":\"cross_entropy\"}'")
    ap.add_argument("--out", default="results/ep_deep")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.set:
        name, sep, text = item.partition("=")
        try:
            extra[name] = json.loads(text)
        except json.JSONDecodeError:
            sep = ""
        if not (sep and name and isinstance(extra.get(name), dict)):
            raise ConfigError(f"ep_deep --set: expected NAME=JSON object of RunSpec changes, e.g. "
                              f"'x={{\"loss\": \"cross_entropy\"}}', got {item!r}")
    names = [n for n in args.variants.split(",") if n] if not extra or args.variants != ",".join(VARIANTS) else []
    for name in names:
        if name not in VARIANTS:
            raise unknown_name("ep_deep variant", name, VARIANTS)
    for name in names:
        print(line(run(name, args.epochs, args.seed, args.test, Path(args.out))), flush=True)
    for name, js in extra.items():
        print(line(run(name, args.epochs, args.seed, args.test, Path(args.out), js)), flush=True)
    return 0


if __name__ == "__main__":
    import sys

    from neurosim.results import run_script

    sys.exit(run_script(main, "ep_deep"))

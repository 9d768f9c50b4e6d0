"""The torch/numpy parity errors behind tests/test_arrays.py, printed per rule.

For every rule that runs on torch (``RuleInfo.arrays``): the largest relative error
:math:`\\lVert a-b\\rVert/\\max(\\lVert a\\rVert,\\lVert b\\rVert)` over the parameter keys of

* ``update f64``: one ``updates`` call on torch float64 against numpy float64, same
  parameters and batch (the tests require <= 1e-10);
* ``train f64``: the parameters after a 2-epoch digits run (400 samples, Adam) on each;
* ``train f32``: the same in float32 (the tests require <= 4 x steps x eps32, here 4 x 50 x 1.2e-7 = 2.4e-5),
  and the largest difference of the test error between the two runs, in points.

    python benchmarks/parity_arrays.py [--device cpu] [--json]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from neurosim.arrays import backend
from neurosim.reference import relative_error
from neurosim.rules import RULES
from neurosim.runspec import RunSpec
from neurosim.training import train


def _train(rule, array, device, dtype):
    spec = RunSpec(rule=rule, epochs=2, n_train=400, n_test=150, dtype=dtype, array=array,
                   device=device if array == "torch" else "cpu")
    data = spec.load_data()
    r = spec.make_rule()
    return train(spec.build_network(data, r), r, data, spec.config(n_train=len(data.x_train)), progress=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    dev = backend("torch", args.device)
    rows = []
    for name in sorted(n for n, c in RULES.items() if "torch" in c.info.arrays):
        rule = RULES[name]()
        net = rule.network([6, 5, 4, 3])
        params = rule.init_params(net, 0, "float64")
        rng = np.random.default_rng(0)
        x, t = rng.uniform(0.0, 1.0, (8, 6)), np.eye(3)[rng.integers(0, 3, 8)]
        dw_np = rule.updates(net, params, rule.init(net, params, 3), x, t)[0]
        pt = dev.put(params)
        dw_t = rule.updates(net, pt, rule.init(net, pt, 3), dev.asarray(x), dev.asarray(t))[0]
        row = {"rule": name, "update_f64": max(relative_error(dw_np[k], dw_t[k]) for k in dw_np)}
        for dtype in ("float64", "float32"):
            a, b = _train(name, "numpy", args.device, dtype), _train(name, "torch", args.device, dtype)
            row[f"train_{dtype[-2:]}"] = max(relative_error(a.params[k], b.params[k]) for k in a.params)
            row[f"test_error_points_{dtype[-2:]}"] = 100 * max(abs(ha["test_error"] - hb["test_error"])
                                                             for ha, hb in zip(a.history, b.history))
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return
    print(f"torch on {args.device} vs numpy: largest relative error over the parameter keys")
    print(f"{'rule':<16} {'update f64':>11} {'train f64':>10} {'train f32':>10} {'d test err (pts) f32':>21}")
    for r in rows:
        print(f"{r['rule']:<16} {r['update_f64']:>11.1e} {r['train_64']:>10.1e} {r['train_32']:>10.1e} "
              f"{r['test_error_points_32']:>21.2f}")


if __name__ == "__main__":
    main()

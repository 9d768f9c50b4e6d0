"""``neurosim compare``: every rule on one data set, scored against backprop.

For each supervised rate rule: build the rule's default network (same layer sizes
for all), draw the same initial weights (same seed), measure the alignment of its
first update with backprop's, train for a short budget, and measure its test error
and its alignment again at the trained weights.  One table, one JSON record
(``<out>/compare.json``, rewritten after each rule so an interruption keeps the
finished rules), and figures drawn by :func:`neurosim.plotting.compare_figure`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .data import load_dataset
from .errors import NeurosimError
from .results import provenance, write_json
from .rules import RULES, rule_class
from .training import TrainConfig, train

FAMILY_ORDER = ("backprop", "feedback_alignment", "target_propagation", "predictive_coding", "equilibrium",
                "dendritic", "attention_gated", "hebbian")


def default_rules() -> list[str]:
    """Every registered supervised rule with a rate backend, backprop first."""
    klasses = [c for c in RULES.values() if c.supervised and "rate" in c.backends]
    order = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return [c.name for c in sorted(klasses, key=lambda c: (order.get(c.family, 99), c.name))]


def run_compare(dataset: str = "digits", epochs: int = 20, rules: list[str] | None = None, seed: int = 0,
                out_dir: Path | str = "results/compare", spiking: bool = False, hidden=(64, 64),
                batch_size: int = 32, progress: bool = True) -> dict:
    """Run the comparison and return its record (also written to ``out_dir/compare.json``)."""
    data = load_dataset(dataset, seed=seed)
    names = rules or default_rules()
    klasses = [rule_class(n) for n in names]  # fail early on an unknown name
    sizes = [data.n_features, *hidden, data.n_classes]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data.x_train), min(256, len(data.x_train)), replace=False)
    x_align = data.x_train[idx].astype(np.float64)
    t_align = data.targets("train")[idx].astype(np.float64)
    record = {"dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test), "sizes": sizes,
              "epochs": epochs, "batch_size": batch_size, "seed": seed, "rows": [],
              "provenance": provenance()}
    out_dir = Path(out_dir)
    for klass in klasses:
        rule = klass(**klass.compare_hyper)
        row = {"rule": klass.name, "family": klass.family, "reference": klass.reference,
               "hyper": dict(rule.hyper)}
        t0 = time.perf_counter()
        try:
            network = rule.prepare(rule.build_default_network(sizes))
            row["loss"] = network.loss
            params = rule.init_params(network, seed)
            row["initial_alignment"] = rule.align(network, params, x_align, t_align).to_dict()
            config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                                 optimizer=klass.train_defaults.get("optimizer", "adam"),
                                 learning_rate=klass.train_defaults.get("learning_rate", 1e-3))
            result = train(network, rule, data, config, params=params, progress=False)
            trained = {k: v.astype(np.float64) for k, v in result.params.items()}
            row["final_alignment"] = rule.align(network, trained, x_align, t_align).to_dict()
            row.update(status=result.status, message=result.message, test_error=result.test_error,
                       train_error=result.train_error, history=result.history)
        except NeurosimError as err:
            row.update(status="failed", message=str(err))
        row["seconds"] = time.perf_counter() - t0
        if progress:
            import sys

            print(f"  {klass.name:<12} {row['status']:<10} {row['seconds']:6.1f} s", file=sys.stderr, flush=True)
        record["rows"].append(row)
        write_json(out_dir / "compare.json", record)
    if spiking:
        record["spiking"] = _spiking_rows(names, sizes, x_align[:32], t_align[:32], seed)
        write_json(out_dir / "compare.json", record)
    return record


def _spiking_rows(names, sizes, x, t, seed) -> list[dict]:
    rows = []
    for name in names:
        klass = rule_class(name)
        if "spiking" not in klass.backends:
            continue
        from .spiking import spiking_align

        rule = klass()
        network = rule.prepare(rule.build_default_network(sizes))
        params = rule.init_params(network, seed)
        try:
            rows.append(spiking_align(name, network, params, x, t, seed=seed).to_dict())
        except NeurosimError as err:
            rows.append({"rule": name, "status": "failed", "message": str(err)})
    return rows


def _fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def format_table(record: dict) -> str:
    """The comparison as a fixed-width text table."""
    head = (f"{'rule':<12} {'family':<19} {'reference':<9} {'cos@init':>9} {'angle@init':>10} {'cos@end':>8} "
            f"{'test error':>10} {'time':>7}")
    lines = [f"neurosim compare: {record['dataset']} ({record['n_train']} train / {record['n_test']} test), "
             f"layers {'-'.join(map(str, record['sizes']))}, {record['epochs']} epochs, seed {record['seed']}",
             head, "-" * len(head)]
    for row in record["rows"]:
        if row["status"] == "failed":
            lines.append(f"{row['rule']:<12} {row['family']:<19} failed: {row['message']}")
            continue
        ia, fa = row["initial_alignment"]["global"], row["final_alignment"]["global"]
        lines.append(f"{row['rule']:<12} {row['family']:<19} {row['reference']:<9} {_fmt(ia['cosine'], '9.4f')} "
                     f"{_fmt(ia['angle_deg'], '9.1f')}° {_fmt(fa['cosine'], '8.4f')} "
                     f"{_fmt(row['test_error'], '10.4f')} {row['seconds']:>6.1f}s"
                     + ("" if row["status"] == "completed" else f"  [{row['status']}]"))
    lines.append("cos = cosine between the rule's update and its reference -dL/dW (backprop; for ep the "
                 "implicit gradient at the free fixed point), same weights and batch, global over all projections")
    for row in record.get("spiking", []):
        if "global" in row:
            lines.append(f"spiking {row['rule']}: cos to backprop {_fmt(row['global']['cosine'], '.4f')}")
    return "\n".join(lines)

"""``neurosim compare``: every rule on one data set, scored against backprop.

For each supervised rate rule, and for the unsupervised controls (:data:`CONTROL_FAMILIES`: the
Hebbian rules, whose hidden layers learn by their own equation and whose read-out learns by the
delta rule, the exact gradient of the last layer): build the rule's default network (same layer sizes
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
from .alignment import align
from .arrays import backend
from .rules import RULES, rule_class
from .runspec import RunSpec
from .training import alignment_indices, train

FAMILY_ORDER = ("backprop", "feedback_alignment", "target_propagation", "predictive_coding", "equilibrium",
                "dendritic", "attention_gated", "synthetic_gradients", "hebbian")


#: Unsupervised families that run in the comparison as controls: their hidden projections learn
#: by their own (target-free) equation, the read-out by the delta rule
#: :math:`\Delta W_L = -\langle\delta_L r_{L-1}^\top\rangle`, which *is* backprop's gradient of the
#: last layer.  Their hidden cosine with the gradient should sit near 0, the read-out's at 1.
CONTROL_FAMILIES = ("hebbian",)


def _ordered(klasses) -> list[str]:
    order = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return [c.name for c in sorted(klasses, key=lambda c: (order.get(c.family, 99), c.name))]


def supervised_rules() -> list[str]:
    """Every registered supervised rule with a rate backend, backprop first, then by family."""
    return _ordered(c for c in RULES.values() if c.info.supervised and "rate" in c.info.backends)


def control_rules() -> list[str]:
    """The unsupervised controls with a rate backend (rules of :data:`CONTROL_FAMILIES`)."""
    return _ordered(c for c in RULES.values() if not c.info.supervised and c.family in CONTROL_FAMILIES
                    and "rate" in c.info.backends)


def default_rules() -> list[str]:
    """What ``neurosim compare`` runs without ``--rules``: :func:`supervised_rules`, then
    :func:`control_rules` (the Hebbian controls, delta-rule read-out)."""
    return supervised_rules() + control_rules()


def compare_spec(rule: str, *, dataset: str = "digits", epochs: int = 20, seed: int = 0, hidden=(64, 64),
                 batch_size: int = 32, array: str = "numpy", device: str = "cpu") -> RunSpec:
    """The RunSpec ``neurosim compare`` trains ``rule`` with: its compare preset, the shared budget."""
    return RunSpec.preset(rule, "compare").replace(dataset=dataset, epochs=epochs, seed=seed, hidden=tuple(hidden),
                                                   batch_size=batch_size, dtype="float32", align_samples=256,
                                                   array=array, device=device)


def run_compare(dataset: str = "digits", epochs: int = 20, rules: list[str] | None = None, seed: int = 0,
                out_dir: Path | str = "results/compare", spiking: bool = False, hidden=(64, 64),
                batch_size: int = 32, progress: bool = True, stem: str = "compare", array: str = "numpy",
                device: str = "cpu") -> dict:
    """Run the comparison and return its record (also written to ``out_dir/<stem>.json``).

    Every rule trains from its :func:`compare_spec`; the initial and final alignment are
    measured on the batch on which training tracks alignment each epoch
    (:func:`~neurosim.training.alignment_indices`), the final one at the trained weights and
    the rule's final training state, so ``cos@end`` is the last point of the curve.
    ``array``/``device`` choose where training computes (:mod:`neurosim.arrays`); a rule that
    does not run there yet is a failed row saying so.  The two alignment measurements stay
    numpy float64.
    """
    backend(array, device, owner="compare")  # torch and the device exist: fail before any rule runs
    data = load_dataset(dataset, seed=seed)
    names = rules or default_rules()
    specs = [compare_spec(n, dataset=dataset, epochs=epochs, seed=seed, hidden=hidden, batch_size=batch_size,
                          array=array, device=device)
             for n in names]  # fail early on an unknown name
    sizes = [data.n_features, *hidden, data.n_classes]
    idx = alignment_indices(len(data.x_train), specs[0].config()) if specs else None
    x_align = data.x_train[idx].astype(np.float64)
    t_align = data.targets("train")[idx].astype(np.float64)
    record = {"dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test), "sizes": sizes,
              "epochs": epochs, "batch_size": batch_size, "seed": seed, "array": array, "device": device, "rows": [],
              "alignment_batch": f"{len(idx)} training samples, the batch train() tracks alignment on",
              "status": "running", "provenance": provenance()}
    out_dir = Path(out_dir)
    for spec in specs:
        rule = spec.make_rule()
        klass = type(rule)
        row = {"rule": klass.name, "family": klass.family, "reference": klass.info.reference,
               "supervised": klass.info.supervised, "hyper": dict(rule.hyper), "spec": spec.to_dict()}
        t0 = time.perf_counter()
        if progress:
            import sys

            print(f"  {klass.name:<12} training ({epochs} epochs)...", file=sys.stderr, flush=True)
        try:
            network = spec.build_network(data, rule)
            row["loss"] = network.loss
            if not klass.info.supervised:  # a control: name its supervised read-out (cosine 1 expected)
                row["readout"] = network.chain()[-1].name
            params = rule.init_params(network, seed)
            row["initial_alignment"] = align(rule, network, params, x_align, t_align, seed=seed).to_dict()
            result = train(network, rule, data, spec.config(), params=params, progress=False)
            trained = {k: v.astype(np.float64) for k, v in result.params.items()}
            row["final_alignment"] = align(rule, network, trained, x_align, t_align, result.state).to_dict()
            row.update(status=result.status, message=result.message, test_error=result.test_error,
                       train_error=result.train_error, history=result.history)
        except NeurosimError as err:
            row.update(status="failed", message=str(err))
        except KeyboardInterrupt:
            row.update(status="interrupted", message="interrupted by the user")
        if row["status"] == "interrupted":  # Ctrl-C stops the comparison, keeping the finished rules
            row["seconds"] = time.perf_counter() - t0
            record["rows"].append(row)
            record["status"] = "interrupted"
            write_json(out_dir / f"{stem}.json", record)
            raise KeyboardInterrupt(f"compare interrupted during '{klass.name}'; finished rules are in "
                                    f"{out_dir / f'{stem}.json'}")
        row["seconds"] = time.perf_counter() - t0
        if progress:
            import sys

            err = row.get("test_error")
            tail = f"test error {100 * err:5.1f} %" if err is not None else row.get("message", "")
            print(f"  {klass.name:<12} {row['status']:<10} {row['seconds']:6.1f} s  {tail}", file=sys.stderr,
                  flush=True)
        record["rows"].append(row)
        write_json(out_dir / f"{stem}.json", record)
    if spiking:
        record["spiking"] = _spiking_rows(names, sizes, x_align[:32], t_align[:32], seed)
    record["status"] = "completed"
    write_json(out_dir / f"{stem}.json", record)
    return record


def compare_stem(rules: list[str] | None) -> str:
    """File stem of a comparison: ``compare`` for every rule, ``compare-a+b`` for a subset (so a
    subset never overwrites the headline record and figure)."""
    if not rules:
        return "compare"
    return "compare-" + "+".join(rule_class(r).name for r in rules)


def _spiking_rows(names, sizes, x, t, seed) -> list[dict]:
    rows = []
    for name in names:
        klass = rule_class(name)
        if "spiking" not in klass.info.backends:
            continue
        from .spiking import spiking_align

        rule = klass()
        network = rule.network(sizes)
        params = rule.init_params(network, seed)
        try:
            rows.append(spiking_align(name, network, params, x, t, seed=seed).to_dict())
        except NeurosimError as err:
            rows.append({"rule": name, "status": "failed", "message": str(err)})
    return rows


def _control_note(row: dict) -> str:
    """One line for an unsupervised control: its hidden cosines (near 0 expected) and its read-out's (1)."""
    parts = []
    for when in ("initial_alignment", "final_alignment"):
        cos = {p["name"]: p["cosine"] for p in row[when]["projections"]}
        readout = cos.pop(row["readout"], None)
        hidden = ", ".join(_fmt(c, "+.3f") for c in cos.values())
        parts.append(f"{'init' if when.startswith('initial') else 'end'}: hidden {hidden}, read-out "
                     f"{_fmt(readout, '.6f')}")
    return (f"{row['rule']}: unsupervised control (hidden layers by its own rule, read-out by the delta rule = "
            f"the exact last-layer gradient); cos {'; '.join(parts)}")


def _fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def format_table(record: dict) -> str:
    """The comparison as a fixed-width text table (errors in %)."""
    w = max([12] + [len(row["rule"]) for row in record["rows"]])
    head = (f"{'rule':<{w}} {'family':<19} {'reference':<9} {'cos@init':>9} {'angle@init':>10} {'cos@end':>8} "
            f"{'test err %':>10} {'time':>7}")
    lines = [f"neurosim compare: {record['dataset']} ({record['n_train']} train / {record['n_test']} test), "
             f"layers {'-'.join(map(str, record['sizes']))}, {record['epochs']} epochs, seed {record['seed']}",
             head, "-" * len(head)]
    notes = []
    for row in record["rows"]:
        if row["status"] == "failed":
            lines.append(f"{row['rule']:<{w}} {row['family']:<19} failed: {row['message']}")
            continue
        ia, fa = row["initial_alignment"]["global"], row["final_alignment"]["global"]
        err = row.get("test_error")
        lines.append(f"{row['rule']:<{w}} {row['family']:<19} {row['reference']:<9} {_fmt(ia['cosine'], '9.4f')} "
                     f"{_fmt(ia['angle_deg'], '9.1f')}° {_fmt(fa['cosine'], '8.4f')} "
                     f"{_fmt(None if err is None else 100 * err, '10.2f')} {row['seconds']:>6.1f}s"
                     + ("" if row["status"] == "completed" else f"  [{row['status']}]"))
        if not row.get("supervised", True):
            notes.append(_control_note(row))
        expected = row["final_alignment"].get("expected_global_cosine")
        if expected is not None:
            notes.append(f"{row['rule']}: cos is the applied update (one sampled action per sample); its "
                         f"expectation over actions has cos@init "
                         f"{_fmt(row['initial_alignment'].get('expected_global_cosine'), '.4f')}, "
                         f"cos@end {_fmt(expected, '.4f')}")
    lines.append("cos = cosine between the rule's update and its reference -dL/dW (backprop; for ep the "
                 "implicit gradient at the free fixed point), same weights and batch, global over all projections;")
    lines.append(f"measured on {record.get('alignment_batch', 'a fixed training batch')} (cos@end is the last "
                 "point of the figure's curve)")
    lines.extend(notes)
    for row in record.get("spiking", []):
        if "global" in row:
            lines.append(f"spiking {row['rule']}: cos to backprop {_fmt(row['global']['cosine'], '.4f')}")
    return "\n".join(lines)

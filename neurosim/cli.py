"""The ``neurosim`` command.

::

    neurosim rules                        list rules: name, family, backends
    neurosim align --rule NAME [...]      one rule's update vs the exact gradient
    neurosim train --rule NAME [...]      train on a data set, print errors / JSON
    neurosim compare [--dataset NAME]     every rule: alignment + test error, table + figures
    neurosim gradcheck [...]              reference gradients vs central finite differences
    neurosim figures                      regenerate every figure from results/

Machine-readable output (``--json``) follows the contract in DESIGN.md.  Bad input
prints one line on stderr and exits with status 2 (no traceback).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .errors import ConfigError, NeurosimError
from .network import ModelCard, Network, parse_toml

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------- argument helpers
def _parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ConfigError(f"--layers: expected comma-separated integers like 784,256,10, got '{text}'") from None
    if len(sizes) < 2 or min(sizes) <= 0:
        raise ConfigError(f"--layers: expected at least two positive sizes like 784,256,10, got '{text}'")
    return sizes


def _parse_set(items: list[str] | None) -> dict:
    """``--set key=value`` pairs, values read as TOML scalars (``0.1``, ``true``, ``"x"``) or strings."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set: expected key=value, got '{item}'")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = parse_toml(f"v = {value.strip()}", "--set")["v"]
        except ConfigError:
            out[key.strip()] = value.strip()
    return out


def _add_model_args(p: argparse.ArgumentParser, *, dataset_default: str = "digits") -> None:
    p.add_argument("--model", metavar="PATH.toml", help="model card (see models/)")
    p.add_argument("--layers", metavar="N,N,...", help="layer sizes, e.g. 784,256,10 (default: "
                   "<features>,64,64,<classes>)")
    p.add_argument("--activation", default=None,
                   help="hidden activation (default: the rule's default network, tanh for most rules)")
    p.add_argument("--loss", choices=["mse", "cross_entropy"], default=None,
                   help="loss (default: the rule's preferred one)")
    p.add_argument("--dataset", default=None, help=f"data set (default {dataset_default}; "
                   "see `neurosim rules --datasets`)")
    p.add_argument("--n-train", type=int, default=None, help="use a random subset of the training set")
    p.add_argument("--n-test", type=int, default=None, help="use a random subset of the test set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="rule hyper-parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object (DESIGN.md contract)")


def _resolve(args, *, dataset_default="digits"):
    """Model card / layers + dataset + rule from the command line."""
    from .rules import rule_class
    from .data import load_dataset as load_task

    card = ModelCard.load(args.model) if args.model else None
    rule_name = getattr(args, "rule", None) or (card.rule.get("name") if card else None)
    if not rule_name:
        raise ConfigError("--rule: no rule given; pass --rule NAME (see `neurosim rules`)")
    klass = rule_class(rule_name)
    hyper = {k: v for k, v in (card.rule.items() if card else []) if k != "name"} if card and \
        card.rule.get("name", rule_name) == rule_name else {}
    hyper.update(_parse_set(args.set))
    rule = klass(**hyper)
    training = dict(card.training) if card else {}
    dataset_name = args.dataset or training.get("dataset") or dataset_default
    # toy tasks (rhw-xor, mirror-symmetry, family-trees) take no subset sizes: pass only what was given
    sizes = {k: v for k, v in (("n_train", args.n_train), ("n_test", args.n_test)) if v is not None}
    data = load_task(dataset_name, seed=args.seed, **sizes)
    if card is not None:
        if args.layers:
            raise ConfigError("give either --model or --layers, not both")
        network = card.network
    else:
        sizes = _parse_layers(args.layers) if args.layers else [data.n_features, 64, 64,
                                                                  max(data.n_classes, 1)]
        if args.activation is None:
            network = rule.build_default_network(sizes)
        else:
            network = Network.feedforward(sizes, activation=args.activation, loss=klass.losses[0])
    if args.loss:
        network = network.replace(loss=args.loss)
    return rule, network, data, training


def _targets(data, split="train"):
    return data.targets(split)


def _emit(args, obj, text: str) -> None:
    from .results import to_json

    print(to_json(obj) if args.json else text)


# --------------------------------------------------------------------------- commands
def cmd_rules(args) -> int:
    from .rules import list_rules

    rows = list_rules()
    if args.datasets:
        from .data import available_datasets

        names = available_datasets()
        _emit(args, names, "\n".join(names))
        return 0
    lines = [f"{'rule':<14} {'family':<20} {'backends':<14} {'reference':<10} citation"]
    for r in rows:
        lines.append(f"{r['name']:<14} {r['family']:<20} {','.join(r['backends']):<14} {r['reference']:<10} "
                     f"{r['citation'][:60]}")
    _emit(args, rows, "\n".join(lines))
    return 0


def cmd_align(args) -> int:
    from .training import check_fits

    rule, network, data, _ = _resolve(args)
    if args.backend == "spiking" and not (args.model or args.layers or args.activation):
        from .spiking import SPIKING_RULES, default_network

        # a spiking rule with a network of its own (EP: LIF energy net with tied feedback) builds it
        make = getattr(SPIKING_RULES.get(rule.name), "default_network", None)
        network = make(network.sizes, **rule.network_options(make)) if make else \
            default_network(network.sizes, loss=args.loss or "mse")
    check_fits(network, data)
    network = rule.prepare(network)
    rng = np.random.default_rng(args.seed)
    params = rule.init_params(network, rng)
    if args.weights:
        from .results import load_run

        _, arrays = load_run(args.weights) if Path(args.weights).suffix != ".npz" else \
            (None, dict(np.load(args.weights)))
        missing = [k for k in params if k not in arrays]
        if missing:
            raise ConfigError(f"--weights {args.weights}: has no '{missing[0]}'; it was saved for another "
                              "network")
        params = {k: np.asarray(arrays[k], dtype=np.float64) for k in params}
    n = min(args.batch_size, len(data.x_train))
    idx = rng.choice(len(data.x_train), n, replace=False)
    x = data.x_train[idx].astype(np.float64)
    t = _targets(data)[idx].astype(np.float64)
    if args.backend == "spiking":
        if "spiking" not in rule.backends:
            from .rules import list_rules

            have = [r["name"] for r in list_rules() if "spiking" in r["backends"]]
            raise ConfigError(f"rule '{rule.name}' has no spiking backend; rules with one: "
                              f"{', '.join(have) or 'none yet'}")
        from .spiking import spiking_align

        report = spiking_align(rule.name, network, params, x, t, n_trials=args.trials, seed=args.seed,
                               rule_hyper=_parse_set(args.set))
    else:
        report = rule.align(network, params, x, t)
    _emit(args, report.to_dict(), report.table())
    return 0


def cmd_train(args) -> int:
    from .training import TrainConfig, train

    rule, network, data, training = _resolve(args)
    if not args.model and type(rule).train_hyper:
        # the rule's training setting (pc: truncated inference, T = 20); --set still overrides
        rule = type(rule)(**{**type(rule).train_hyper, **_parse_set(args.set)})

    def pick(key, arg, default):
        """Command line, else the model card's [training], else the rule's defaults, else ``default``."""
        if arg is not None:
            return arg
        return training.get(key, rule.train_defaults.get(key, default))

    config = TrainConfig(epochs=pick("epochs", args.epochs, 10), batch_size=pick("batch_size", args.batch_size, 128),
                         optimizer=pick("optimizer", args.optimizer, "adam"),
                         learning_rate=float(pick("learning_rate", args.lr, 1e-3)),
                         momentum=float(pick("momentum", args.momentum, 0.9)), seed=args.seed,
                         dtype=args.dtype, align_samples=args.align_samples,
                         clip_norm=pick("clip_norm", args.clip_norm, None))
    out = Path(args.out) if args.out else None

    def report(entry):
        if not args.json and not args.quiet:
            align = entry.get("alignment", {}).get("global")
            tail = f"  cos(dW, -grad) {align:.3f}" if align is not None else ""
            print(f"epoch {entry['epoch']:>3}  loss {entry['loss']:.4f}  train error {entry['train_error']:.4f}  "
                  f"test error {entry['test_error']:.4f}  ({entry['seconds']:.1f} s){tail}", flush=True)

    result = train(network, rule, data, config, out_dir=out, progress=not (args.quiet or args.json),
                   callback=report)
    summary = result.summary()
    text = (f"{result.rule} on {result.dataset}: {result.epochs_completed} epochs, train error "
            f"{result.train_error}, test error {result.test_error}, {result.seconds:.1f} s"
            + (f" [{result.status}: {result.message}]" if result.status != "completed" else "")
            + (f"\nresults in {out}" if out else ""))
    _emit(args, summary, text)
    if result.status == "interrupted":
        return 130
    if result.status == "diverged":
        print(f"neurosim train: error: {result.message}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_compare(args) -> int:
    from .compare import format_table, run_compare

    rules = [r.strip() for r in args.rules.split(",")] if args.rules else None
    record = run_compare(dataset=args.dataset, epochs=args.epochs, rules=rules, seed=args.seed,
                         out_dir=Path(args.out), spiking=args.spiking, progress=not args.json)
    written = []
    if not args.no_figures:
        from .plotting import compare_figure

        written = [str(p) for p in compare_figure(record, Path(args.figures))]
    _emit(args, {**record, "figures": written},
          format_table(record) + (f"\nfigures: {', '.join(written)}" if written else "")
          + f"\nresults: {Path(args.out) / 'compare.json'}")
    return 0


def _gradcheck_suite(seed: int) -> list[tuple[str, Network]]:
    from .neurons import ACTIVATIONS

    rng = np.random.default_rng(seed)
    nets = []
    for depth in range(1, 6):
        for act in ACTIVATIONS:
            for loss in ("mse", "cross_entropy"):
                sizes = [int(s) for s in rng.integers(3, 7, depth + 1)]
                name = f"depth{depth}-{act}-{loss}"
                nets.append((name, Network.feedforward(sizes, activation=act, loss=loss,
                                                       output_activation=act, name=name)))
    return nets


def cmd_gradcheck(args) -> int:
    from .params import init_params
    from .reference import gradcheck

    if args.model or args.layers:
        net = ModelCard.load(args.model).network if args.model else Network.feedforward(
            _parse_layers(args.layers), activation=args.activation, loss=args.loss or "mse")
        nets = [(net.name, net)]
    else:
        nets = _gradcheck_suite(args.seed)
    rows = []
    for i, (name, net) in enumerate(nets):
        rng = np.random.default_rng(args.seed + i)
        params = init_params(net, rng)
        for k in params:  # non-zero biases so every term of the gradient is exercised
            if k.endswith(".bias"):
                params[k] = rng.normal(0, 0.5, params[k].shape)
        x = rng.normal(0, 1, (args.batch_size, net.input_layer.size))
        n_out = net.output_layer.size
        t = np.eye(n_out)[rng.integers(0, n_out, args.batch_size)] if net.loss == "cross_entropy" else \
            rng.normal(0, 1, (args.batch_size, n_out))
        res = gradcheck(net, params, x, t, max_entries=args.max_entries, seed=args.seed)
        rows.extend({"network": name, **r} for r in res["projections"])
    worst = max(r["relative_error"] for r in rows)
    out = {"max_relative_error": worst, "n_networks": len(nets), "projections": rows}
    lines = [f"{'network':<30} {'parameter':<22} {'rel. error':>11}"]
    lines += [f"{r['network']:<30} {r['name']:<22} {r['relative_error']:>11.2e}" for r in rows]
    lines.append(f"max relative error over {len(nets)} network(s): {worst:.2e}")
    _emit(args, out, "\n".join(lines))
    return 0 if worst < args.tolerance else 1


def cmd_figures(args) -> int:
    folder = Path(args.figures)
    scripts = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not scripts:
        raise ConfigError(f"figures: no figure scripts in '{folder}'; run from the neurosim checkout or pass "
                          "--figures DIR")
    failed = []
    env = {**os.environ, "NEUROSIM_RESULTS": str(Path(args.results).resolve()), "MPLBACKEND": "Agg"}
    for script in scripts:
        proc = subprocess.run([sys.executable, str(script), "--results", str(args.results)], env=env,
                              capture_output=True, text=True)
        status = "ok" if proc.returncode == 0 else "FAILED"
        if proc.returncode != 0:
            failed.append(script.name)
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"{script.name}: {status}: {last}", file=sys.stderr)
        else:
            print(f"{script.name}: {status} {proc.stdout.strip()}")
    if failed:
        print(f"neurosim figures: error: {len(failed)} of {len(scripts)} figure scripts failed "
              f"({', '.join(failed)}); run their experiments first (see README)", file=sys.stderr)
        return EXIT_USAGE
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="neurosim", description="Biologically plausible learning rules vs exact backprop.")
    p.add_argument("--version", action="version", version=f"neurosim {__import__('neurosim').__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("rules", help="list the registered rules")
    s.add_argument("--datasets", action="store_true", help="list the data sets instead")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_rules)

    s = sub.add_parser("align", help="alignment of a rule's update with the exact gradient")
    s.add_argument("--rule", help="rule name (see `neurosim rules`)")
    _add_model_args(s)
    s.add_argument("--backend", choices=["rate", "spiking"], default="rate")
    s.add_argument("--batch-size", type=int, default=128, help="samples in the compared batch")
    s.add_argument("--trials", type=int, default=20, help="spiking backend: trials to average")
    s.add_argument("--weights", help="params .npz or run folder to align at (default: fresh init)")
    s.set_defaults(func=cmd_align)

    s = sub.add_parser("train", help="train a network with a rule")
    s.add_argument("--rule", help="rule name (see `neurosim rules`)")
    _add_model_args(s)
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--optimizer", choices=["adam", "sgd"], default=None)
    s.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3)")
    s.add_argument("--momentum", type=float, default=None)
    s.add_argument("--clip-norm", type=float, default=None,
                   help="rescale each batch update to at most this global norm (default: no clipping)")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    s.add_argument("--align-samples", type=int, default=256,
                   help="batch on which alignment with backprop is tracked each epoch (0: off)")
    s.add_argument("--out", help="folder for run.json / run.npz (written after every epoch)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("compare", help="every rule on one data set: alignment and test error")
    s.add_argument("--dataset", default="digits")
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--rules", help="comma-separated subset (default: every supervised rate rule)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--spiking", action="store_true", help="also run the spiking backends")
    s.add_argument("--out", default="results/compare")
    s.add_argument("--figures", default="figures", help="folder for the figures")
    s.add_argument("--no-figures", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("gradcheck", help="reference gradients vs central finite differences")
    s.add_argument("--model", metavar="PATH.toml")
    s.add_argument("--layers", metavar="N,N,...")
    s.add_argument("--activation", default="tanh")
    s.add_argument("--loss", choices=["mse", "cross_entropy"], default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch-size", type=int, default=4)
    s.add_argument("--max-entries", type=int, default=200,
                   help="finite-difference at most this many random entries per parameter array")
    s.add_argument("--tolerance", type=float, default=1e-6, help="exit 1 if the max relative error exceeds it")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_gradcheck)

    s = sub.add_parser("figures", help="regenerate every figure from results/")
    s.add_argument("--results", default="results")
    s.add_argument("--figures", default="figures", help="folder holding the figure scripts")
    s.set_defaults(func=cmd_figures)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NeurosimError as err:
        print(f"neurosim {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"neurosim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

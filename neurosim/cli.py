"""The ``neurosim`` command.

::

    neurosim rules                        list rules: name, family, backends
    neurosim align --rule NAME [...]      one rule's update vs the exact gradient
    neurosim train --rule NAME [...]      train on a data set, print errors / JSON
    neurosim compare [--dataset NAME]     every rule: alignment + test error, table + figures
    neurosim tune --rule NAME [...]       hyper-parameter search on a validation split -> model card
    neurosim gradcheck [...]              reference gradients vs central finite differences
    neurosim figures                      regenerate every figure from results/

Machine-readable output (``--json``) follows the contract in docs/design.md.  Bad input
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
from .network import Network, parse_toml

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------- argument helpers
def _parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
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
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/design.md contract)")
    _add_array_args(p)


def _add_array_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--array", choices=["numpy", "torch"], default=None,
                   help="array library to compute with (default numpy; torch needs pip install "
                   "\"neurosim-lab[torch]\")")
    p.add_argument("--device", default=None, metavar="cpu|cuda|cuda:N|mps",
                   help="where the torch arrays live (default cpu)")


def _spec(args, purpose: str | None = None):
    """The :class:`~neurosim.runspec.RunSpec` the command line describes.

    A model card (``--model``) or, without one, the rule's preset for ``purpose`` (``train``:
    its training setting; None: its plain defaults), then every flag given on the command line.
    """
    from .rules import rule_class
    from .runspec import RunSpec

    rule_name = getattr(args, "rule", None)
    if args.model:
        spec = RunSpec.load(args.model)
        if rule_name and rule_class(rule_name).name != spec.rule:
            # the card's hyper-parameters were for its rule: the new rule's preset for ``purpose``
            # (e.g. pc's truncated inference to train) or its plain defaults
            hyper = dict(RunSpec.preset(rule_name, purpose).hyper) if purpose else {}
            spec = spec.replace(rule=rule_class(rule_name).name, hyper=hyper)
    elif not rule_name:
        raise ConfigError("--rule: no rule given; pass --rule NAME (see `neurosim rules`)")
    else:
        spec = RunSpec.preset(rule_name, purpose) if purpose else RunSpec(rule=rule_class(rule_name).name)
    changes: dict = {}
    hyper = _parse_set(args.set)
    if hyper:
        changes["hyper"] = hyper
    if args.dataset is not None:
        changes["dataset"] = args.dataset
    for key in ("n_train", "n_test"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    changes["seed"] = args.seed
    if args.layers is not None:
        if spec.network is not None:
            raise ConfigError("give either --model (a card with its own network) or --layers, not both")
        changes["layers"] = tuple(_parse_layers(args.layers))
    if args.activation is not None:
        if spec.network is not None:
            raise ConfigError("--activation applies to the rule's default network; the model card defines its "
                              "own network (edit its [network] table)")
        changes["activation"] = args.activation
    if args.loss:
        changes["loss"] = args.loss
    for flag, key in (("epochs", "epochs"), ("optimizer", "optimizer"), ("lr", "learning_rate"),
                      ("momentum", "momentum"), ("clip_norm", "clip_norm"), ("batch_size", "batch_size"),
                      ("dtype", "dtype"), ("align_samples", "align_samples"), ("array", "array"),
                      ("device", "device")):
        if getattr(args, flag, None) is not None and not (purpose is None and flag == "batch_size"):
            changes[key] = getattr(args, flag)
    return spec.replace(**changes)


def _resolve(args, *, purpose: str | None = None):
    """RunSpec, rule, network (prepared by the rule) and data set from the command line."""
    spec = _spec(args, purpose)
    rule = spec.make_rule()
    data = spec.load_data()
    network = spec.build_network(data, rule)
    _check_memory(network)
    return spec, rule, network, data


def _check_memory(network: Network) -> None:
    """Refuse, before allocating, a network whose weights (x4: parameters, update, optimiser
    moments) would not fit in the memory available now."""
    n = sum(network.layer(p.post).size * network.layer(p.pre).size for p in network.projections
            if p.tied_to is None)
    need = 4 * 8 * n
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return
    if need > avail:
        raise ConfigError(f"network '{network.name}': {n:,} weights need about {need / 2**30:.1f} GiB, more than "
                          f"the {avail / 2**30:.1f} GiB available; use smaller layers")


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
    widths = {k: max([len(k)] + [len(",".join(r[k])) if k == "backends" else len(str(r[k])) for r in rows])
              for k in ("name", "family", "backends", "reference")}
    head = (f"{'rule':<{widths['name']}}  {'family':<{widths['family']}}  {'backends':<{widths['backends']}}  "
            f"{'reference':<{widths['reference']}}  citation")
    lines = [head]
    for r in rows:
        cite = r["citation"]
        if len(cite) > 60:  # cut at a word boundary, never mid-word
            cite = cite[:60].rsplit(" ", 1)[0].rstrip(",;:.") + " ..."
        lines.append(f"{r['name']:<{widths['name']}}  {r['family']:<{widths['family']}}  "
                     f"{','.join(r['backends']):<{widths['backends']}}  {r['reference']:<{widths['reference']}}  "
                     f"{cite}")
    _emit(args, rows, "\n".join(lines))
    return 0


def cmd_align(args) -> int:
    from .arrays import check_rule_arrays
    from .training import check_fits

    spec, rule, network, data = _resolve(args)
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    if args.backend == "spiking" and "spiking" not in rule.info.backends:
        from .rules import list_rules

        have = [r["name"] for r in list_rules() if "spiking" in r["backends"]]
        raise ConfigError(f"rule '{rule.name}' has no spiking backend; rules with one: "
                          f"{', '.join(have) or 'none yet'}")
    if args.backend == "spiking" and not (args.model or args.layers or args.activation):
        from .spiking import get_spiking_rule

        # a spiking rule with a network of its own (EP: LIF energy net with tied feedback) builds it
        spiking = get_spiking_rule(rule.name, **rule.hyper)
        network = rule.network(spiking.default_network(network.sizes, loss=args.loss))
    check_fits(network, data)
    if args.rate_model != "lif" and args.backend != "spiking":
        raise ConfigError(f"--rate-model {args.rate_model}: applies to the spiking backend (the reference rate network "
                          "of spike counts); add --backend spiking or leave it out")
    if spec.array != "numpy" and args.backend == "spiking":
        raise ConfigError(f"--array {spec.array}: applies to the rate backend; the spiking backend simulates in "
                          "brian2 (drop --array or use --backend rate)")
    rng = np.random.default_rng(args.seed)
    params = rule.init_params(network, rng)
    if args.weights:
        from .results import load_run, read_npz

        arrays = read_npz(args.weights) if Path(args.weights).suffix == ".npz" else load_run(args.weights)[1]
        missing = [k for k in params if k not in arrays]
        if missing:
            raise ConfigError(f"--weights {args.weights}: has no '{missing[0]}'; it was saved for another "
                              "network")
        for k in params:
            if np.shape(arrays[k]) != np.shape(params[k]):
                raise ConfigError(f"--weights {args.weights}: '{k}' has shape {np.shape(arrays[k])}, the network "
                                  f"needs {np.shape(params[k])}; it was saved for another network")
        params = {k: np.asarray(arrays[k], dtype=np.float64) for k in params}
    n = min(args.batch_size or 128, len(data.x_train))
    idx = rng.choice(len(data.x_train), n, replace=False)
    x = data.x_train[idx].astype(np.float64)
    t = _targets(data)[idx].astype(np.float64)
    if args.backend == "spiking":
        from .spiking import spiking_align

        report = spiking_align(rule.name, network, params, x, t, n_trials=args.trials, seed=args.seed,
                               rule_hyper=_parse_set(args.set), rate_model=args.rate_model)
    else:
        from .alignment import align
        from .arrays import backend

        if spec.array != "numpy":  # the measurement in float64 on the device; the cosines on the host
            arrays = backend(spec.array, spec.device, owner="--array/--device")
            arrays.check_dtype("float64", "align")
            check_rule_arrays(rule, spec.array)
            params, x, t = arrays.put(params), arrays.asarray(x), arrays.asarray(t)
        report = align(rule, network, params, x, t, seed=args.seed)
    _emit(args, report.to_dict(), report.table())
    return 0


def cmd_train(args) -> int:
    from .training import train

    spec, rule, network, data = _resolve(args, purpose="train")
    config = spec.config(n_train=len(data.x_train))
    out = Path(args.out) if args.out else None
    if args.resume and out is None:
        raise ConfigError("--resume: continues the run in --out DIR; pass --out")
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite: choose one (continue the run in --out, or replace it)")
    if out is not None:
        _check_out_dir(out, overwrite=args.overwrite or args.resume, resume=args.resume)
        if args.overwrite:
            from .checkpoint import remove_checkpoint

            remove_checkpoint(out)

    def pct(x):  # classification: % misclassified; regression: the error is the loss
        return "n/a" if x is None else f"{100 * x:.2f} %" if data.n_classes else f"{x:.4g} (loss)"

    def report(entry):
        if args.quiet:
            return
        align = entry.get("alignment", {}).get("global")
        tail = f"  cos(dW, -grad) {align:.3f}" if align is not None else ""
        loss = "n/a" if entry.get("loss") is None else f"{entry['loss']:.4f}"
        # under --json the progress goes to stderr so stdout stays one JSON object
        print(f"epoch {entry['epoch']:>3}  loss {loss}  train error {pct(entry.get('train_error'))}  "
              f"test error {pct(entry.get('test_error'))}  ({entry['seconds']:.1f} s){tail}",
              file=sys.stderr if args.json else sys.stdout, flush=True)

    with _terminate_as_interrupt():
        result = train(network, rule, data, config, out_dir=out, progress=not (args.quiet or args.json),
                       callback=report, checkpoint_dir=out)
    summary = result.summary()
    text = (f"{result.rule} on {result.dataset}: {result.epochs_completed} epochs, train error "
            f"{pct(result.train_error)}, test error {pct(result.test_error)}, {result.seconds:.1f} s"
            + (f" [{result.status}: {result.message}]" if result.status != "completed" else "")
            + (f"\nresults in {out}" if out else ""))
    _emit(args, summary, text)
    if result.status == "interrupted":
        return 130
    if result.status == "diverged":
        print(f"neurosim train: error: {result.message}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _check_out_dir(out: Path, *, overwrite: bool, resume: bool = False) -> None:
    """Refuse an ``--out`` that is a file or already holds another run (unless ``--overwrite``);
    with ``resume``, one that holds no checkpoint to continue."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder; pass a folder path")
    running = _live_writer(out / "run.json")
    if running is not None:  # two runs writing one folder would overwrite each other's files
        raise ConfigError(f"--out {out}: a run is still writing there (process {running}); wait for it to end or "
                          "stop it (Ctrl-C / kill, then --resume), or choose another folder")
    held = (out / "checkpoint.json").exists()
    if resume and not held:
        raise ConfigError(f"--resume: --out {out} holds no checkpoint to continue (checkpoint.json; one is written "
                          "a minute into a run and after its last epoch); "
                          + ("pass --overwrite to start it over" if (out / "run.json").exists()
                             else "run without --resume to start it"))
    if ((out / "run.json").exists() or held) and not overwrite:
        raise ConfigError(f"--out {out}: already holds a run ({'checkpoint.json' if held else 'run.json'}); pass "
                          + ("--resume to continue it (from its last checkpoint; a larger --epochs extends it), "
                             if held else "")
                          + "--overwrite to replace it or choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".neurosim-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write there ({err.strerror or err}); choose a writable folder") \
            from None


def _live_writer(record: Path) -> int | None:
    """The process id of the run whose record (``run.json``) says ``running`` and whose process is
    still alive; None otherwise (no record, finished, or killed: its ``pid`` is gone)."""
    import json
    import os

    try:
        data = json.loads(record.read_text())
        pid = int(data["pid"]) if data.get("status") == "running" else None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)  # signal 0: is it there?
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's
    return pid


class _terminate_as_interrupt:
    """SIGTERM / SIGHUP end a run like Ctrl-C: finished epochs kept, record says 'interrupted'."""

    def __enter__(self):
        import signal

        def handler(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        self._old = {}
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    self._old[sig] = signal.signal(sig, handler)
                except ValueError:  # not the main thread
                    pass
        return self

    def __exit__(self, *exc):
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def cmd_compare(args) -> int:
    from .compare import compare_stem, format_table, run_compare
    from .validation import check

    check("--epochs", "epochs", args.epochs, "int", ge=1)
    rules = [r.strip() for r in args.rules.split(",")] if args.rules is not None else None
    if rules is not None and not all(rules):
        raise ConfigError(f"--rules: expected comma-separated rule names like fa,dfa, got '{args.rules}'")
    stem = compare_stem(rules)
    arrays = {k: v for k, v in (("array", args.array), ("device", args.device)) if v is not None}
    record = run_compare(dataset=args.dataset, epochs=args.epochs, rules=rules, seed=args.seed,
                         out_dir=Path(args.out), spiking=args.spiking, progress=True, stem=stem, **arrays)
    written = []
    if not args.no_figures:
        from .plotting import compare_figure

        written = [str(p) for p in compare_figure(record, Path(args.figures), name=f"{stem}.png")]
    _emit(args, {**record, "figures": written},
          format_table(record) + (f"\nfigures: {', '.join(written)}" if written else "")
          + f"\nresults: {Path(args.out) / f'{stem}.json'}")
    return 0


def cmd_tune(args) -> int:
    from .tune import SearchSpace, format_tune, run_tune
    from .validation import check

    spec = _spec(args, "train")
    if args.validation is not None:
        spec = spec.replace(validation=args.validation)
    space = SearchSpace.load(args.space, spec.rule) if args.space else SearchSpace.for_rule(spec.rule)
    if args.method is not None:
        space = space.replace(method=args.method)
        if args.method == "grid":  # re-check: a grid needs listed values
            space = SearchSpace.from_dict(space.to_dict(), spec.rule, source=space.source)
    check("--budget", "budget", args.budget, "int", ge=1, allow_none=True)
    check("--workers", "workers", args.workers, "int", ge=0, allow_none=True)
    with _terminate_as_interrupt():
        record = run_tune(spec, space, budget=args.budget, seed=args.search_seed, out_dir=Path(args.out),
                          workers=args.workers, progress=not args.json)
    _emit(args, record, format_tune(record) + f"\nrecord: {Path(args.out) / spec.rule}-search.json")
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
    return nets + _gradcheck_conv_suite(rng)


def _gradcheck_conv_suite(rng) -> list[tuple[str, Network]]:
    """Random convolutional / locally connected / pooling nets (issue 17): an image input, a
    conv2d or locally_connected2d with a random kernel, stride and padding, a max or average
    pooling, a second (untied) layer, flatten and a dense read-out."""
    from .conv import out_shape
    from .network import Layer, Projection

    nets = []
    for first in ("conv2d", "locally_connected2d"):
        for pool in ("max_pool2d", "avg_pool2d"):
            for loss in ("mse", "cross_entropy"):
                c_in, side = int(rng.integers(1, 3)), int(rng.integers(7, 10))
                k, s, p = int(rng.integers(2, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
                name = f"{first}-{pool}-{loss}"
                inp = Layer("input", shape=(c_in, side, side), role="input", bias=False, activation="linear")
                p1 = Projection("input", "c1", name="k1", operation=first, kernel=k, stride=s, padding=p)
                c1 = Layer("c1", shape=out_shape(p1, inp.dims, (int(rng.integers(2, 4)), 0, 0)), activation="tanh")
                p2 = Projection("c1", "p1", operation=pool, kernel=2, stride=1)
                l2 = Layer("p1", shape=out_shape(p2, c1.dims, c1.dims), activation="linear", bias=False)
                p3 = Projection("p1", "c2", name="k2", operation="locally_connected2d" if first == "conv2d"
                                else "conv2d", kernel=2)
                c2 = Layer("c2", shape=out_shape(p3, l2.dims, (2, 0, 0)), activation="tanh")
                flat = Layer("f", c2.size, activation="linear", bias=False)
                out = Layer("output", int(rng.integers(2, 5)), role="output",
                            activation="linear" if loss == "cross_entropy" else "tanh")
                nets.append((name, Network((inp, c1, l2, c2, flat, out),
                                           (p1, p2, p3, Projection("c2", "f", operation="flatten"),
                                            Projection("f", "output")), loss=loss, name=name)))
    return nets


def cmd_gradcheck(args) -> int:
    from .params import init_params
    from .reference import gradcheck
    from .runspec import RunSpec
    from .validation import check

    check("--batch-size", "batch_size", args.batch_size, "int", ge=1)
    check("--max-entries", "max_entries", args.max_entries, "int", ge=1)
    check("--seed", "seed", args.seed, "int", ge=0)
    check("--tolerance", "tolerance", args.tolerance, gt=0)
    if args.model or args.layers is not None:
        net = RunSpec.load(args.model).build_network() if args.model else Network.feedforward(
            _parse_layers(args.layers), activation=args.activation, loss=args.loss or "mse")
        nets = [(net.name, net)]
    else:
        nets = _gradcheck_suite(args.seed)
    rows = []
    silent = []
    for i, (name, net) in enumerate(nets):
        rng = np.random.default_rng(args.seed + i)
        params = init_params(net, rng)
        act = {layer.name: layer.activation for layer in net.layers}
        for k in params:  # non-zero biases so every term of the gradient is exercised
            if k.endswith(".bias"):
                # LIF units are silent below threshold 1 and ReLUs below 0: drive them into their
                # active range, or a whole net checks zero against zero
                kind = act[k[:-len(".bias")]]
                params[k] = rng.uniform(1.5, 2.5, params[k].shape) if kind == "lif" else \
                    rng.uniform(0.2, 1.0, params[k].shape) if kind == "relu" else rng.normal(0, 0.5, params[k].shape)
        x = rng.normal(0, 1, (args.batch_size, net.input_layer.size))
        n_out = net.output_layer.size
        t = np.eye(n_out)[rng.integers(0, n_out, args.batch_size)] if net.loss == "cross_entropy" else \
            rng.normal(0, 1, (args.batch_size, n_out))
        res = gradcheck(net, params, x, t, max_entries=args.max_entries, seed=args.seed)
        rows.extend({"network": name, **r} for r in res["projections"])
        silent += [f"{name}:{r['name']}" for r in res["projections"] if r["gradient_norm"] == 0]
    worst = max(r["relative_error"] for r in rows)
    out = {"max_relative_error": worst, "n_networks": len(nets), "zero_gradients": silent, "projections": rows}
    lines = [f"{'network':<44} {'parameter':<22} {'rel. error':>11} {'|grad|':>10}"]
    lines += [f"{r['network']:<44} {r['name']:<22} {r['relative_error']:>11.2e} {r['gradient_norm']:>10.2e}"
              for r in rows]
    lines.append(f"max relative error over {len(nets)} network(s): {worst:.2e}")
    if silent:
        lines.append(f"FAILED: {len(silent)} parameter(s) have an exactly zero gradient (nothing was checked): "
                     f"{', '.join(silent[:5])}{' ...' if len(silent) > 5 else ''}")
    _emit(args, out, "\n".join(lines))
    return 0 if worst < args.tolerance and not silent else 1


def _experiment_of(script: Path) -> dict | None:
    """The ``RESULTS_FROM = {"commands": [[script, arg, ...], ...], "minutes": N}`` a figure script
    declares (what writes its results, relative to the checkout, and how long that takes on 2
    cores), read without running the script."""
    import ast

    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RESULTS_FROM"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def _run_figure(script: Path, args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), "--results", str(args.results)], env=env,
                          capture_output=True, text=True)


def cmd_figures(args) -> int:
    # Only the package's own figure scripts run unless a folder is named explicitly: running every
    # *.py of ./figures in whatever directory the user happens to be in would execute anything.
    folder = Path(args.figures) if args.figures else Path(__file__).resolve().parents[1] / "figures"
    scripts = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not scripts:
        raise ConfigError(f"figures: no figure scripts in '{folder}'; run from the neurosim checkout or pass "
                          "--figures DIR")
    if args.budget is not None and not (args.budget > 0):
        raise ConfigError(f"--budget: expected minutes > 0, got {args.budget}")
    if args.run_missing and Path(args.results).resolve() != (folder.parent / "results").resolve():
        raise ConfigError(f"--run-missing: the experiments write into {folder.parent / 'results'}, but --results is "
                          f"{args.results}; drop --results (or run the experiments yourself with their --out)")
    failed, skipped, drawn = [], [], []
    budget = args.budget if args.budget is not None else 60.0
    env = {**os.environ, "NEUROSIM_RESULTS": str(Path(args.results).resolve()), "MPLBACKEND": "Agg"}
    for i, script in enumerate(scripts, 1):
        proc = _run_figure(script, args, env)
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        if proc.returncode == 2 and "no results at" in last and args.run_missing:
            # neither raw results nor shipped data: run the experiment it declares, within the budget
            exp = _experiment_of(script)
            if not (isinstance(exp, dict) and isinstance(exp.get("commands"), list) and exp["commands"]
                    and all(isinstance(c, list) and c for c in exp["commands"])
                    and isinstance(exp.get("minutes"), (int, float))):
                last = (f"{last} (the script declares no RESULTS_FROM = {{'commands': [[script, args...]], 'minutes': "
                        "N}} to run)")
            elif exp["minutes"] > budget:
                last = (f"{last} (its experiment needs ~{exp['minutes']} min on 2 cores, over the remaining "
                        f"--budget {budget:g} min)")
            else:
                budget -= exp["minutes"]
                shown = " && ".join("python " + " ".join(map(str, c)) for c in exp["commands"])
                print(f"[{i}/{len(scripts)}] {script.name}: running `{shown}` (about {exp['minutes']} min on 2 "
                      "cores; its progress follows)", file=sys.stderr, flush=True)
                code = 0
                for command in exp["commands"]:
                    code = subprocess.run([sys.executable, str(folder.parent / command[0]), *map(str, command[1:])],
                                          cwd=folder.parent, env={"OPENBLAS_NUM_THREADS": "1", **env}).returncode
                    if code != 0:
                        break
                if code != 0:
                    failed.append(script.name)
                    print(f"[{i}/{len(scripts)}] {script.name}: FAILED: its experiment exited {code}",
                          file=sys.stderr, flush=True)
                    continue
                proc = _run_figure(script, args, env)
                last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        if proc.returncode == 0:
            drawn.append(script.name)
            print(f"[{i}/{len(scripts)}] {script.name}: ok {proc.stdout.strip()}", flush=True)
        elif proc.returncode == 2 and "no results at" in last:
            skipped.append(script.name)  # neither raw results nor shipped data: its experiment must run first
            print(f"[{i}/{len(scripts)}] {script.name}: skipped: {last.removeprefix('error: ')}", file=sys.stderr,
                  flush=True)
        else:
            failed.append(script.name)
            print(f"[{i}/{len(scripts)}] {script.name}: FAILED: {last}", file=sys.stderr, flush=True)
    print(f"neurosim figures: drew {len(drawn)} of {len(scripts)}; {len(skipped)} skipped for want of results "
          f"(each line above names the experiment to run{'' if args.run_missing else '; --run-missing runs them'}); "
          f"{len(failed)} failed", file=sys.stderr)
    if failed or (skipped and args.strict):
        if failed:
            print(f"neurosim figures: error: {', '.join(failed)} failed", file=sys.stderr)
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
    s.add_argument("--batch-size", type=int, default=None, help="samples in the compared batch (default 128)")
    s.add_argument("--trials", type=int, default=20, help="spiking backend: trials to average")
    s.add_argument("--rate-model", choices=["lif", "soft_lif"], default="lif",
                   help="spiking backend: compare with the hard f-I curve (lif) or the noise-smoothed one (soft_lif, "
                        "its width fitted to the spikes); near threshold only soft_lif is a fair reference")
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
    s.add_argument("--dtype", choices=["float32", "float64"], default=None, help="default float32")
    s.add_argument("--align-samples", type=int, default=None,
                   help="batch on which alignment with backprop is tracked each epoch (0: off; default 256)")
    s.add_argument("--out", help="folder for run.json / run.npz (written after every epoch) and the run's "
                                  "checkpoint (a minute apart, and after the last epoch)")
    s.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (same settings; a larger --epochs "
                        "extends a finished run)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("compare", help="every rule on one data set: alignment and test error")
    s.add_argument("--dataset", default="digits")
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--rules", help="comma-separated subset (default: every supervised rate rule, then the "
                   "Hebbian controls: hidden layers by their own rule, delta-rule read-out)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--spiking", action="store_true", help="also run the spiking backends")
    s.add_argument("--out", default="results/compare")
    s.add_argument("--figures", default="figures", help="folder for the figures")
    s.add_argument("--no-figures", action="store_true")
    s.add_argument("--json", action="store_true")
    _add_array_args(s)
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("tune", help="search a rule's hyper-parameters on a validation split of the training "
                       "set; write the chosen setting as a model card")
    s.add_argument("--rule", help="rule name (see `neurosim rules`); optional with --model")
    _add_model_args(s)
    s.add_argument("--space", metavar="FILE.toml", help="search space (default: the rule's "
                   "neurosim/presets/RULE-search.toml)")
    s.add_argument("--budget", type=int, default=None, help="number of trials (default: the space's budget)")
    s.add_argument("--method", choices=["random", "grid"], default=None, help="default: the space's (random)")
    s.add_argument("--search-seed", type=int, default=0, help="seed of the trial draws (same seed, same trials)")
    s.add_argument("--validation", type=float, default=None,
                   help="fraction of the training set held out for selection (default: the space's, 0.2)")
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--optimizer", choices=["adam", "sgd"], default=None)
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--align-samples", type=int, default=None,
                   help="alignment tracked per epoch in every trial (0: off; default: the base's)")
    s.add_argument("--workers", type=int, default=None, help="local processes (default: every core; 0: this one)")
    s.add_argument("--out", default="results/tune", help="folder for RULE-tuned.toml, RULE-search.json, trials/")
    s.set_defaults(func=cmd_tune)

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
    s.add_argument("--figures", default=None, help="folder holding the figure scripts (default: neurosim's own, "
                   "next to the installed package in a checkout)")
    s.add_argument("--strict", action="store_true", help="exit 2 when a figure has no results to draw from "
                   "(default: skip it with a line naming the experiment that writes them)")
    s.add_argument("--run-missing", action="store_true",
                   help="run the experiment a figure without results declares (its RESULTS_FROM), then draw it")
    s.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                   help="with --run-missing: run experiments only while their stated minutes fit (default 60)")
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
    except BrokenPipeError:  # `neurosim ... --json | head`: the reader left; not an error of ours
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except MemoryError:
        print(f"neurosim {args.command}: error: out of memory; use a smaller network (--layers) or batch",
              file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

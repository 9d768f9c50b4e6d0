"""A corpus of bad inputs and faults, tried as a careful user would (issue: reliability).

Each case is run in-process through ``neurosim.cli.main`` (or a Python API call) and
classified:

* ``clean``     -- bad input refused with exit 2 and exactly one line on stderr (or, for a valid
                   input, exit 0);
* ``traceback`` -- an exception escaped (a Python traceback is what a user would see);
* ``wrong``     -- bad input accepted (exit 0), or a refusal that is not one line.

``python -m tests.fuzz_corpus`` (or ``python tests/fuzz_corpus.py``) prints the counts the
README reports; ``tests/test_fuzz.py`` asserts there is no traceback and nothing wrong.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Values a careless or hostile user types for a numeric flag.
BAD_NUMBERS = ["", "nan", "inf", "-inf", "-1", "abc", "1e309", "0x10", "1,5", "true"]
#: Flags of each command and the values that must be refused (each gets BAD_NUMBERS too).
CLI_FLAGS = {
    "align": {"--rule": ["", "nosuch", "FA ", "fa;rm"], "--layers": ["64,,10", "64,10,", "", "64", "0,10",
                                                                      "64,-3,10", "64,1000000000,10", "a,b"],
              "--dataset": ["", "nosuch", "../../etc/passwd"], "--seed": ["-1", "1.5", "abc"],
              "--batch-size": ["0", "-3", "abc"], "--n-train": ["0", "-5", "abc"],
              "--activation": ["nosuch", ""], "--set": ["bogus=1", "feedback_scale=-1", "feedback_scale=abc",
                                                        "noequals", "feedback_init=nosuch"]},
    "train": {"--epochs": ["-1", "abc", "1.5"], "--lr": ["0", "-1", "nan", "inf", "abc"],
              "--momentum": ["-5", "2", "1", "nan"], "--batch-size": ["0", "-1"], "--clip-norm": ["0", "-1", "nan"],
              "--dtype": ["float16", "int"], "--optimizer": ["adamw", ""], "--align-samples": ["-1", "abc"],
              "--rule": ["", "nosuch"], "--dataset": ["", "fashon-mnist"]},
    "gradcheck": {"--batch-size": ["0", "-1"], "--max-entries": ["0", "-2"], "--seed": ["-1"],
                  "--tolerance": ["0", "-1", "nan"], "--layers": ["3,,2", ""]},
    "compare": {"--epochs": ["0", "-1", "abc"], "--rules": ["", ",", "nosuch", "fa,,dfa"], "--dataset": ["nosuch"]},
}
BASE = {"align": ["align", "--rule", "fa"], "train": ["train", "--rule", "fa", "--epochs", "1"],
        "gradcheck": ["gradcheck", "--layers", "3,4,2"], "compare": ["compare", "--rules", "fa", "--epochs", "1",
                                                                     "--no-figures"]}

GOOD_CARD = '''[network]
name = "fuzz"
sizes = [64, 16, 10]
activation = "tanh"
loss = "cross_entropy"

[rule]
name = "fa"
feedback_scale = 1.0

[data]
dataset = "digits"

[training]
epochs = 1
optimizer = "adam"
learning_rate = 0.001
batch_size = 32
'''
#: Replacement values for every scalar of the card.
CARD_VALUES = ['"abc"', "true", "-1", "0", "nan", "inf", "[1, 2]", "{ a = 1 }", '""', "1e400"]
#: Mutations that are valid specifications (an evaluation-only run has 0 epochs): must succeed.
VALID_MUTATIONS = {("epochs", "0")}


def _run(argv, tmp: Path) -> tuple[int | None, str, str, BaseException | None]:
    from neurosim.cli import main

    out, err = io.StringIO(), io.StringIO()
    code, exc = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's own exit
            code = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001 - the point is to catch what escapes
            exc = e
    return code, out.getvalue(), err.getvalue(), exc


def _classify(code, err, exc, *, should_fail: bool) -> str:
    if exc is not None:
        return "traceback"
    if "Traceback" in err:
        return "traceback"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if should_fail:
        return "clean" if code == 2 and len(lines) == 1 else "wrong"
    return "clean" if code == 0 else "wrong"


def cli_cases():
    for command, flags in CLI_FLAGS.items():
        for flag, values in flags.items():
            numeric = flag in ("--epochs", "--lr", "--momentum", "--batch-size", "--clip-norm", "--seed",
                               "--max-entries", "--tolerance", "--align-samples", "--n-train")
            for value in dict.fromkeys(values + (BAD_NUMBERS if numeric else [])):
                argv = [a for a in BASE[command]]
                if flag in argv:  # replace the base's value
                    i = argv.index(flag)
                    argv[i + 1] = value
                else:
                    argv += [flag, value]
                if flag == "--epochs" and command == "train" and value in ("1e309",):
                    continue
                yield f"cli {command} {flag}={value!r}", argv


def card_cases():
    lines = GOOD_CARD.splitlines()
    for i, line in enumerate(lines):
        if "=" not in line or line.startswith("["):
            continue
        key = line.split("=")[0].strip()
        for value in CARD_VALUES:
            if key == "name" and lines[i - 1].startswith("[network]"):
                continue  # any string is a valid network name; covered by the '"abc"' of other keys
            mutated = lines[:i] + [f"{key} = {value}"] + lines[i + 1:]
            yield f"card {key}={value}", "\n".join(mutated) + "\n", (key, value) not in VALID_MUTATIONS
    for i, line in enumerate(lines):  # unknown keys in every table
        if line.startswith("["):
            mutated = lines[:i + 1] + ["no_such_key = 1"] + lines[i + 1:]
            yield f"card unknown key after {line}", "\n".join(mutated) + "\n", True
    for cut in (10, 40, 90, len(GOOD_CARD) // 2):
        yield f"card truncated at {cut}", GOOD_CARD[:cut], True
    yield "card binary", b"\x00\x01\xff\xfe", True
    yield "card gzip", gzip.compress(GOOD_CARD.encode()), True
    yield "card latin-1", "caf\xe9 = 1\n".encode("latin-1"), True
    yield "card top-level junk", "network = 5\n" + GOOD_CARD, True
    yield "card as given", GOOD_CARD, False


def api_cases():
    """Python API faults: empty/NaN/mis-shaped batches for every rule, bad Dataset arrays."""
    from neurosim.rules import RULES

    x = np.random.default_rng(0).uniform(size=(4, 6))
    t = np.eye(3)[[0, 1, 2, 0]]
    for name in sorted(n for n, c in RULES.items() if "rate" in c.info.backends):
        for label, (bx, bt) in {"empty": (x[:0], t[:0]), "nan": (np.full_like(x, np.nan), t),
                                "inf target": (x, np.full_like(t, np.inf)), "wide": (x[:, :5], t),
                                "1-D target wrong": (x, t[:, :2])}.items():
            yield f"api {name} {label}", name, bx, bt


def run_api_case(name, bx, bt) -> str:
    from neurosim.alignment import align
    from neurosim.errors import NeurosimError
    from neurosim.rules import RULES

    rule = RULES[name]()
    net = rule.network([6, 5, 3])
    params = rule.init_params(net, 0)
    state = rule.init(net, params, 0)
    for call in (lambda: rule.updates(net, params, state, bx, bt), lambda: align(rule, net, params, bx, bt)):
        try:
            call()
        except NeurosimError as err:
            if "\n" in str(err):
                return "wrong"
            continue
        except Exception:  # noqa: BLE001
            return "traceback"
        return "wrong"
    return "clean"


def idx_cases(tmp: Path):
    """Corrupt IDX files as a data set's folder: each must be refused in one line."""
    from neurosim.data.idx import write_idx

    good = tmp / "good"
    good.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 20, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 255, (10, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 10, dtype=np.uint8)}
    for fname, arr in arrays.items():
        write_idx(good / fname, arr)
    faults = {"truncated": lambda b: b[: len(b) // 2], "bad magic": lambda b: b"\x00\x00\x99\x03" + b[4:],
              "empty": lambda b: b"", "extra bytes": lambda b: b + b"\x00" * 7,
              "count too large": lambda b: b[:4] + (10 ** 6).to_bytes(4, "big") + b[8:]}
    for (fname, _), (fault, fn) in itertools.product(arrays.items(), faults.items()):
        folder = tmp / f"{fname}-{fault.replace(' ', '_')}"
        folder.mkdir(parents=True, exist_ok=True)
        for other in arrays:
            data = (good / other).read_bytes()
            (folder / other).write_bytes(fn(data) if other == fname else data)
        yield f"idx {fname} {fault}", folder


def run_idx_case(folder: Path) -> str:
    from neurosim.data import load_dataset
    from neurosim.errors import NeurosimError

    try:
        load_dataset("mnist", data_dir=folder, download=False, verify=False)
    except NeurosimError as err:
        return "wrong" if "\n" in str(err) else "clean"
    except Exception:  # noqa: BLE001
        return "traceback"
    return "wrong"


def run_corpus(tmp: Path | None = None, *, kinds=("cli", "card", "api", "idx")) -> dict:
    """Run every case; ``{"tried", "clean", "traceback", "wrong", "failures": [...]}`` per kind and total."""
    tmp = Path(tmp or tempfile.mkdtemp(prefix="neurosim-fuzz-"))
    results: dict[str, list[tuple[str, str]]] = {k: [] for k in kinds}
    if "cli" in kinds:
        for label, argv in cli_cases():
            code, _, err, exc = _run(argv, tmp)
            results["cli"].append((label, _classify(code, err, exc, should_fail=True)))
    if "card" in kinds:
        for i, (label, text, bad) in enumerate(card_cases()):
            path = tmp / f"card{i}.toml"
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
            code, _, err, exc = _run(["align", "--model", str(path)], tmp)
            results["card"].append((label, _classify(code, err, exc, should_fail=bad)))
    if "api" in kinds:
        for label, name, bx, bt in api_cases():
            results["api"].append((label, run_api_case(name, bx, bt)))
    if "idx" in kinds:
        for label, folder in idx_cases(tmp / "idx"):
            results["idx"].append((label, run_idx_case(folder)))
    summary = {}
    for kind, rows in results.items():
        counts = {c: sum(1 for _, r in rows if r == c) for c in ("clean", "traceback", "wrong")}
        summary[kind] = {"tried": len(rows), **counts, "failures": [f"{lab}: {r}" for lab, r in rows if r != "clean"]}
    summary["total"] = {k: sum(summary[kind][k] for kind in results) for k in ("tried", "clean", "traceback", "wrong")}
    return summary


if __name__ == "__main__":  # pragma: no cover
    s = run_corpus()
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "failures"} for k, v in s.items()}, indent=1))
    for kind, v in s.items():
        for f in v.get("failures", []):
            print(f"  {kind}: {f}", file=sys.stderr)

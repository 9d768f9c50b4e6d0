"""Resumable training: everything a run needs to go on exactly where its last finished epoch left it.

:func:`neurosim.training.train` with ``checkpoint_dir`` writes, after finished epochs at least
:data:`CHECKPOINT_EVERY_S` seconds apart and after the last one,
``checkpoint.json`` + ``checkpoint.npz`` (atomically, through :func:`neurosim.results.save_run`,
so the pair is checked by its SHA-256 on reading): the parameters, the optimiser's moments and
step count, the rule's state (its random generators' positions included), the positions of the
batch-order and augmentation generators, the history and the elapsed time.  Started again with
the same ``checkpoint_dir``, the run goes on from the next epoch and ends with the parameters,
history and random draws the uninterrupted run would have had, bit for bit on the same machine
and array library (``tests/test_checkpoint.py``).

A checkpoint belongs to one run: its **fingerprint** hashes the rule and its hyper-parameters, the
rule-prepared network, the training configuration (without ``array``/``device``, and without
``epochs`` when the learning rate is constant, so a finished run can be extended), the data
(SHA-256 of the training and test arrays) and given initial parameters.  A checkpoint of another
run is refused in one line that names what differs.  No pickles: the rule's state is stored as a
JSON tree whose arrays live in the ``.npz``; a state holding anything else is refused when the
first checkpoint is written, not when it is needed.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["CHECKPOINT_EVERY_S", "CHECKPOINT_FORMAT", "STEM", "decode_tree", "encode_tree", "fingerprint",
           "load_checkpoint", "remove_checkpoint", "save_checkpoint"]

#: The ``format`` key of a checkpoint record (its version is ``CHECKPOINT_VERSION``).
CHECKPOINT_FORMAT = "neurosim-checkpoint"
CHECKPOINT_VERSION = 1
#: File stem of the checkpoint pair in its folder.
STEM = "checkpoint"
#: Seconds between two checkpoints of a run (``train(checkpoint_every=)``): a checkpoint costs a
#: few tens of milliseconds, which runs of millisecond epochs must not pay every epoch.
CHECKPOINT_EVERY_S = 60.0


# --------------------------------------------------------------------------- state trees
def encode_tree(obj: Any, arrays: dict, where: str = "state") -> Any:
    """``obj`` as a JSON tree, its arrays moved into ``arrays`` (key -> numpy array).

    Handles dicts with string keys, lists, tuples, numpy / torch arrays, numpy scalars,
    :class:`~neurosim.randomness.RngState`, ``bool``/``int``/``float``/``str``/``None``; anything
    else is a :class:`~neurosim.errors.ConfigError` naming where it was.
    """
    from .arrays import _torch_tensor, to_numpy
    from .randomness import RngState

    if obj is None or isinstance(obj, (bool, str)):
        return {"t": "value", "v": obj}
    if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
        finite = not isinstance(obj, float) or math.isfinite(obj)
        return {"t": "value", "v": obj if finite else repr(obj), "float": isinstance(obj, float)}
    if isinstance(obj, np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"t": "scalar", "k": key}
    if isinstance(obj, np.ndarray) or _torch_tensor(obj):
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(to_numpy(obj))
        return {"t": "array", "k": key}
    if isinstance(obj, RngState):
        return {"t": "rng", "v": obj.state}
    if isinstance(obj, dict):
        bad = next((k for k in obj if not isinstance(k, str)), None)
        if bad is not None:
            raise ConfigError(f"checkpoint: {where} has a non-string key {bad!r}; a checkpoint stores string keys only")
        return {"t": "dict", "v": {k: encode_tree(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"t": type(obj).__name__, "v": [encode_tree(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise ConfigError(f"checkpoint: {where} is a {type(obj).__name__}, which a checkpoint cannot store (arrays, "
                      "numbers, strings, RngState and dicts/lists of them); run without checkpoint_dir")


def decode_tree(node: Any, arrays: dict, where: str = "state") -> Any:
    """The inverse of :func:`encode_tree` (a malformed node is a one-line DataError)."""
    from .randomness import RngState

    try:
        kind = node["t"]
        if kind == "value":
            v = node["v"]
            return float(v) if node.get("float") and isinstance(v, str) else v
        if kind == "scalar":
            return arrays[node["k"]][()]
        if kind == "array":
            return arrays[node["k"]]
        if kind == "rng":
            return RngState(node["v"])
        if kind == "dict":
            return {k: decode_tree(v, arrays, f"{where}[{k!r}]") for k, v in node["v"].items()}
        if kind in ("list", "tuple"):
            items = [decode_tree(v, arrays, f"{where}[{i}]") for i, v in enumerate(node["v"])]
            return items if kind == "list" else tuple(items)
    except (KeyError, TypeError, AttributeError):
        pass
    raise DataError(f"checkpoint: {where} is malformed; delete the checkpoint to start the run over")


# --------------------------------------------------------------------------- fingerprint
def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _array_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.data)
    return h.hexdigest()[:16]


def fingerprint(rule, network, config, dataset, params=None) -> dict[str, str]:
    """What identifies a run, part by part (``rule``, ``network``, ``config``, ``data``, ``start``)."""
    cfg = asdict(config)
    for key in ("array", "device"):
        cfg.pop(key, None)
    if cfg.get("schedule") == "constant":
        cfg.pop("epochs", None)  # a constant-rate run can be extended: same run, more epochs
    data = _array_digest(dataset.x_train, dataset.targets("train"), dataset.x_test, dataset.targets("test"))
    start = "drawn" if params is None else _array_digest(*(np.asarray(_host(params[k])) for k in sorted(params)))
    return {"rule": _digest([rule.name, dict(rule.hyper)]), "network": _digest(network.to_dict()),
            "config": _digest(cfg), "data": f"{dataset.name}:{data}", "start": start}


def _host(a):
    from .arrays import to_numpy

    return to_numpy(a)


# --------------------------------------------------------------------------- files
def save_checkpoint(folder: str | os.PathLike, *, fingerprint: dict, epoch: int, params: dict, optimizer: dict,
                    state: Any, rng: dict, aug_rng: dict | None, history: list, initial_loss, initial_norm: float,
                    seconds: float, resumed: list) -> Path:
    """Write the checkpoint pair of a finished ``epoch`` (atomically; see the module docstring)."""
    from .results import save_run

    arrays: dict = {}
    record = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "fingerprint": fingerprint,
              "epoch": int(epoch), "params": encode_tree(dict(params), arrays, "params"),
              "optimizer": encode_tree(optimizer, arrays, "optimizer"), "state": encode_tree(state, arrays),
              "rng": rng, "aug_rng": aug_rng, "history": history, "initial_loss": initial_loss,
              "initial_norm": float(initial_norm), "seconds": float(seconds), "resumed": list(resumed)}
    return save_run(folder, record, arrays, stem=STEM)


def load_checkpoint(folder: str | os.PathLike, expected: dict | None = None) -> dict | None:
    """The checkpoint in ``folder`` decoded (``None`` when there is none).

    ``expected``: the fingerprint of the run about to resume; a checkpoint of another run is a
    :class:`~neurosim.errors.ConfigError` naming the parts that differ.  A corrupt or foreign
    file is a one-line :class:`~neurosim.errors.DataError`.
    """
    from .results import load_run

    path = Path(folder) / f"{STEM}.json"
    if not path.exists():
        return None
    record, arrays = load_run(path)
    if record.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"checkpoint '{path}': not a neurosim checkpoint (format {record.get('format')!r})")
    if record.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"checkpoint '{path}': version {record.get('version')!r}, this neurosim reads "
                        f"{CHECKPOINT_VERSION}; delete it to start the run over")
    if expected is not None:
        theirs = record.get("fingerprint") or {}
        differ = [k for k in expected if theirs.get(k) != expected[k]]
        if differ:
            raise ConfigError(f"checkpoint '{path}' belongs to another run (different: {', '.join(differ)}); "
                              "resume with the run's own settings, or pass another folder (or delete it) to "
                              "start over")
    try:
        out = {k: record[k] for k in ("epoch", "rng", "aug_rng", "history", "initial_loss", "initial_norm",
                                      "seconds", "resumed")}
    except KeyError as err:
        raise DataError(f"checkpoint '{path}': missing {err}; delete it to start the run over") from None
    out["params"] = decode_tree(record.get("params"), arrays, "params")
    out["optimizer"] = decode_tree(record.get("optimizer"), arrays, "optimizer")
    out["state"] = decode_tree(record.get("state"), arrays)
    return out


def remove_checkpoint(folder: str | os.PathLike) -> None:
    """Delete the checkpoint pair in ``folder`` (and the folder, when that leaves it empty)."""
    folder = Path(folder)
    for name in (f"{STEM}.json", f"{STEM}.npz"):
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
    try:
        folder.rmdir()
    except OSError:
        pass

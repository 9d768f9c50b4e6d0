"""Resumable training: everything a run needs to go on exactly where a finished epoch left it.

:func:`neurosim.training.train` with ``checkpoint_dir`` writes, after finished epochs at least
:data:`CHECKPOINT_EVERY_S` seconds apart and after the last one, ``checkpoint.json`` naming
``checkpoint.<sha>.npz`` (each written atomically, the arrays first under a new name, so a
process killed at any moment leaves a readable pair, checked by its SHA-256 on reading): the
parameters, the optimiser's moments and step count, the rule's state (its random generators'
positions included), the positions of the batch-order and augmentation generators, the history,
the elapsed time and the code (neurosim version, git commit) that wrote it.  Started again with
the same ``checkpoint_dir``, the run goes on from the epoch after the checkpoint and ends with the
parameters, history and random draws the uninterrupted run would have had, bit for bit on the
same machine and array library (``tests/test_checkpoint.py``).

A checkpoint belongs to one run: its **fingerprint** hashes the rule and its hyper-parameters, the
rule-prepared network, the training configuration (without ``array``/``device``, and without
``epochs`` when the learning rate is constant, so a finished run can be extended), the data
(SHA-256 of the training and test arrays) and given initial parameters.  A checkpoint of another
run is refused in one line that names what differs (the changed settings with their values).
Code that changed between the two processes is allowed -- a long run outlives commits -- with a
warning, and the result's ``resumed_code`` records which code ran before each resumption.  No
pickles: the rule's state is stored as a JSON tree whose arrays live in the ``.npz``; a state
holding anything else turns checkpointing off with a warning before the first epoch.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .arrays import to_numpy
from .errors import ConfigError, DataError

__all__ = ["CHECKPOINT_EVERY_S", "CHECKPOINT_FORMAT", "STEM", "Checkpointer", "check_storable", "decode_tree",
           "encode_tree", "fingerprint", "load_checkpoint", "remove_checkpoint", "save_checkpoint"]

#: The ``format`` key of a checkpoint record (its version is ``CHECKPOINT_VERSION``).
CHECKPOINT_FORMAT = "neurosim-checkpoint"
CHECKPOINT_VERSION = 1
#: File stem of the checkpoint pair in its folder.
STEM = "checkpoint"
#: Seconds between two checkpoints of a run (``train(checkpoint_every=)``): a checkpoint costs
#: ~10 ms on the accuracy table's network, which runs of millisecond epochs must not pay every
#: epoch (``benchmarks/bench_checkpoint.py``).
CHECKPOINT_EVERY_S = 60.0


# --------------------------------------------------------------------------- state trees
def encode_tree(obj: Any, arrays: dict, where: str = "state") -> Any:
    """``obj`` as a JSON tree, its arrays moved into ``arrays`` (key -> numpy array).

    Handles dicts with string keys, lists, tuples, numpy / torch arrays, numpy scalars,
    :class:`~neurosim.randomness.RngState`, ``bool``/``int``/``float``/``str``/``None``; anything
    else is a :class:`~neurosim.errors.ConfigError` naming where it was.
    """
    from .arrays import _torch_tensor
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
                      "numbers, strings, RngState and dicts/lists of them)")


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
def _normal(value: Any) -> Any:
    """Numbers as floats (``learning_rate = 1`` and ``1.0`` are the same run), recursively."""
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    return value


def _digest(value: Any) -> str:
    text = json.dumps(_normal(value), sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _array_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.data)
    return h.hexdigest()[:16]


def _settings(rule, config) -> dict:
    """The readable part of a run's identity: the rule's hyper-parameters and the training
    configuration (without ``array``/``device``; without ``epochs`` at a constant learning rate,
    so that a finished run can be extended)."""
    cfg = asdict(config)
    for key in ("array", "device"):
        cfg.pop(key, None)
    if cfg.get("schedule") == "constant":
        cfg.pop("epochs", None)
    return json.loads(json.dumps({"rule": {"name": rule.name, **dict(rule.hyper)}, "config": cfg}, default=repr))


def fingerprint(rule, network, config, dataset, params=None) -> dict[str, str]:
    """What identifies a run, part by part (``rule``, ``network``, ``config``, ``data``, ``start``)."""
    settings = _settings(rule, config)
    data = _array_digest(dataset.x_train, dataset.targets("train"), dataset.x_test, dataset.targets("test"))
    start = "drawn" if params is None else _array_digest(*(to_numpy(params[k]) for k in sorted(params)))
    return {"rule": _digest(settings["rule"]), "network": _digest(network.to_dict()),
            "config": _digest(settings["config"]), "data": f"{dataset.name}:{data}", "start": start}


def _what_differs(part: str, ours: dict, theirs: dict) -> str:
    """``config (learning_rate 0.01 -> 0.5)``: the keys of a settings part whose values differ."""
    if part == "rule" and ours.get("name") != theirs.get("name"):
        return f"rule ({theirs.get('name')!r} -> {ours.get('name')!r})"
    keys = sorted(k for k in set(ours) | set(theirs) if _normal(ours.get(k)) != _normal(theirs.get(k)))
    if not keys:
        return part
    shown = ", ".join(f"{k} {theirs.get(k)!r} -> {ours.get(k)!r}" for k in keys[:4])
    return f"{part} ({shown}{', ...' if len(keys) > 4 else ''})"


def check_storable(state: Any) -> None:
    """Raise the :class:`~neurosim.errors.ConfigError` of :func:`encode_tree` now, before training,
    if the rule's state cannot go into a checkpoint."""
    encode_tree(state, {})


# --------------------------------------------------------------------------- files
def _code(made_by: dict) -> dict:
    """The code a :func:`~neurosim.results.provenance` record names (neurosim version, git commit)."""
    return {"neurosim": made_by["versions"].get("neurosim"), "git_sha": made_by["git_sha"]}


def save_checkpoint(folder: str | os.PathLike, *, identity: dict, epoch: int, params: dict, optimizer: dict,
                    state: Any, rng: dict, aug_rng: dict | None, history: list, initial_loss, initial_norm: float,
                    seconds: float, resumed: list, resumed_code: list | None = None,
                    code: dict | None = None, made_by: dict | None = None) -> Path:
    """Write the checkpoint of a finished ``epoch``; returns the JSON path.

    :func:`~neurosim.results.save_run` with ``versioned`` arrays (``checkpoint.<sha>.npz``, a
    new name each time; the older one deleted after ``checkpoint.json`` names the new one: a
    process killed at any point leaves a readable pair), uncompressed.  ``identity`` is
    ``{"fingerprint": ..., "settings": ...}`` (:func:`fingerprint`, the readable settings);
    ``made_by`` the :func:`~neurosim.results.provenance` of the run (computed here when not
    given), ``code`` the part of it a resumption compares (plus the array library and device).
    """
    from .results import provenance, save_run

    made_by = provenance() if made_by is None else made_by
    arrays: dict = {}
    record = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **identity,
              "epoch": int(epoch), "params": encode_tree(dict(params), arrays, "params"),
              "optimizer": encode_tree(optimizer, arrays, "optimizer"), "state": encode_tree(state, arrays),
              "rng": rng, "aug_rng": aug_rng, "history": history, "initial_loss": initial_loss,
              "initial_norm": float(initial_norm), "seconds": float(seconds), "resumed": list(resumed),
              "resumed_code": list(resumed_code or []), "code": code if code is not None else _code(made_by)}
    return save_run(folder, record, arrays, stem=STEM, versioned=True, compress=False, made_by=made_by)


#: The keys every checkpoint record holds (:func:`save_checkpoint`).
_REQUIRED = ("fingerprint", "settings", "epoch", "params", "optimizer", "state", "rng", "aug_rng", "history",
             "initial_loss", "initial_norm", "seconds", "resumed")


def load_checkpoint(folder: str | os.PathLike, expected: dict | None = None) -> dict | None:
    """The checkpoint in ``folder`` decoded (``None`` when there is none).

    ``expected``: the identity of the run about to resume (``{"fingerprint", "settings"}``); a
    checkpoint of another run is a :class:`~neurosim.errors.ConfigError` naming what differs.
    A corrupt or foreign file is a one-line :class:`~neurosim.errors.DataError`.
    """
    from .results import load_run

    path = Path(folder) / f"{STEM}.json"
    if not path.exists():
        return None
    fix = f"delete {Path(folder) / STEM}.* to start the run over"
    if not path.is_file():
        raise DataError(f"checkpoint '{path}': not a file; {fix}")
    try:
        record, arrays = load_run(path)
    except DataError as err:
        raise DataError(f"checkpoint '{path}': unreadable ({str(err).split(': ', 1)[-1]}); {fix}") from None
    if record.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"checkpoint '{path}': not a neurosim checkpoint (format {record.get('format')!r}); {fix}")
    if record.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"checkpoint '{path}': version {record.get('version')!r}, this neurosim reads "
                        f"{CHECKPOINT_VERSION}; {fix}")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:  # a record cut short or written by hand: not a checkpoint of some other run
        raise DataError(f"checkpoint '{path}': missing {', '.join(map(repr, missing))}; {fix}")
    if expected is not None:
        theirs = record.get("fingerprint") or {}
        ours = expected["fingerprint"]
        differ = [k for k in ours if theirs.get(k) != ours[k]]
        if differ:
            settings = record.get("settings") or {}
            named = [_what_differs(k, expected["settings"].get(k, {}), settings.get(k, {}))
                     if k in ("rule", "config") else k for k in differ]
            raise ConfigError(f"checkpoint '{path}' belongs to another run (different: {'; '.join(named)}); resume "
                              "with the run's own settings, or pass another folder (or delete it) to start over")
    out = {k: record[k] for k in _REQUIRED if k not in ("fingerprint", "settings", "params", "optimizer", "state")}
    out["code"] = record.get("code") or {}
    out["resumed_code"] = record.get("resumed_code") or []
    out["params"] = decode_tree(record.get("params"), arrays, "params")
    out["optimizer"] = decode_tree(record.get("optimizer"), arrays, "optimizer")
    out["state"] = decode_tree(record.get("state"), arrays)
    return out


def remove_checkpoint(folder: str | os.PathLike) -> None:
    """Delete the checkpoint in ``folder`` (and the folder, when that leaves it empty)."""
    folder = Path(folder)
    for path in [folder / f"{STEM}.json", *folder.glob(f"{STEM}.*.npz")]:
        if path.is_file():  # a folder squatting on the name is the user's, not ours to delete
            path.unlink()
    try:
        folder.rmdir()
    except OSError:
        pass


# --------------------------------------------------------------------------- the training loop's side
class Checkpointer:
    """What :func:`neurosim.training.train` does with its ``checkpoint_dir`` (one per run).

    ``restore()`` reads the checkpoint of this run (``None``: start from scratch); ``due(epoch)``
    says whether to write one after ``epoch``; ``save(...)`` writes it.  Checkpointing is a
    service, not the run: a rule state that cannot be stored, or a write that fails (a full
    disk), turns it off with one warning and the run goes on.  ``on_bad = "restart"`` (what a
    sweep asks for: it owns its ``partial/`` folders) also replaces an unreadable checkpoint or
    one of another run by a fresh start, with a warning, instead of raising.
    """

    def __init__(self, folder, *, rule, network, config, dataset, start_params=None, state=None,
                 every: float | None = None, on_bad: str = "raise"):
        from .validation import check

        check("train", "on_bad_checkpoint", on_bad, choices=("raise", "restart"))
        every = CHECKPOINT_EVERY_S if every is None else every
        check("train", "checkpoint_every", every, ge=0)
        self.folder, self.every, self.on_bad, self.epochs = Path(folder), float(every), on_bad, config.epochs
        self.identity = {"fingerprint": fingerprint(rule, network, config, dataset, start_params),
                         "settings": _settings(rule, config)}
        from .results import provenance

        self.made_by = provenance()  # once per run: it asks git
        self.code = {**_code(self.made_by), "array": config.array, "device": config.device}
        self.active = True
        self._last = time.perf_counter()
        try:
            check_storable(state)
        except ConfigError as err:
            self._off(f"{err}; this run goes on without checkpoints")

    def _off(self, why: str) -> None:
        self.active = False
        warnings.warn(why, RuntimeWarning, stacklevel=3)

    def restore(self) -> dict | None:
        if not self.active:
            return None
        try:
            saved = load_checkpoint(self.folder, self.identity)
        except (ConfigError, DataError) as err:
            if self.on_bad != "restart":
                raise
            warnings.warn(f"{err} -- starting over instead", RuntimeWarning, stacklevel=3)
            remove_checkpoint(self.folder)
            return None
        if saved is None:
            return None
        if saved["epoch"] > self.epochs:
            raise ConfigError(f"checkpoint '{self.folder / STEM}.json' is at epoch {saved['epoch']}, past the "
                              f"{self.epochs} epochs asked for; ask for at least {saved['epoch']} epochs, or start "
                              "over in another folder")
        def described(code: dict) -> str:
            return (f"neurosim {code.get('neurosim')} at commit {code.get('git_sha')} on "
                    f"{code.get('array', 'numpy')}/{code.get('device', 'cpu')}")

        if any(saved["code"].get(k) != self.code.get(k) for k in self.code):
            warnings.warn(f"checkpoint '{self.folder / STEM}.json' was written by {described(saved['code'])}; this "
                          f"run goes on with {described(self.code)} (recorded in resumed_code)", RuntimeWarning,
                          stacklevel=3)
        return saved

    def due(self, epoch: int) -> bool:
        return self.active and (epoch == self.epochs or time.perf_counter() - self._last >= self.every)

    def save(self, **payload) -> None:
        try:
            save_checkpoint(self.folder, identity=self.identity, code=self.code, made_by=self.made_by, **payload)
        except (OSError, ConfigError) as err:  # a full disk; a rule state that became unstorable mid-run
            self._off(f"checkpoint '{self.folder}': could not be written ({type(err).__name__}: {err}); this run "
                      "goes on without checkpoints")
        self._last = time.perf_counter()

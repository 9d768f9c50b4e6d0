"""``neurosim tune``: a rule's hyper-parameters searched through the sweep engine, selected on a
validation split carved from the training set, the choice written as a model card.

A **search space** is declared next to the rule, ``neurosim/presets/<rule>-search.toml`` (or any
file passed as ``--space``), in the layout of a RunSpec -- a distribution per field::

    [search]                      # optional defaults of the search
    method = "random"             # "random" (default) or "grid" (every dimension a `choice`)
    budget = 20                   # trials when --budget is not given
    validation = 0.2              # fraction of the training set held out for selection

    [rule]                        # the rule's hyper-parameters (checked against its Hyper)
    beta = {log_uniform = [0.01, 1.0]}
    max_steps = {choice = [10, 20, 40]}

    [training]                    # RunSpec [training] fields
    learning_rate = {log_uniform = [1e-4, 1e-2]}

    [network]                     # RunSpec [network] fields of the rule's default network
    activation = {choice = ["tanh", "relu"]}

Distributions: ``choice = [v, ...]`` (uniform over the values), ``uniform = [lo, hi]``,
``log_uniform = [lo, hi]`` (``0 < lo``); integer bounds draw integers (``log_uniform = [10, 200]``:
inference steps).  Random search draws every trial from ``numpy.random.default_rng(seed)``, the
dimensions in sorted order, floats rounded to 4 significant digits (readable cards): the same
seed and space give the same trials.  Grid search takes the Cartesian product of the ``choice``
values (a seeded random subset of ``budget`` of them when the grid is larger).

Every trial is a sweep job (:func:`neurosim.sweep.run_sweep`, local processes; a rerun resumes
and retries failed trials) whose RunSpec is the base (a model card, or the rule's train preset)
with the trial's values and ``validation`` set: it trains on the rest of the training set and is
scored on the held-out part (:meth:`neurosim.data.Dataset.validation_split`) -- the test set is
dropped before anything trains.  The trial with the lowest validation error at the last epoch
among the completed ones is chosen (ties: the earlier trial), and written as a model card
(the base with the chosen values, trained on the whole training set) beside the search's record
(every trial with its values and validation error, the seeds, the space).

Random search after Bergstra & Bengio (2012), J. Mach. Learn. Res. 13, 281-305; Bartunov et al.
(2018) tuned every biologically motivated rule with 60 random draws the same way.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ConvergenceError
from .runspec import _SECTIONS, PRESET_DIR, RunSpec
from .validation import check, check_keys, check_seed

__all__ = ["DISTRIBUTIONS", "Dimension", "SearchSpace", "run_tune", "search_space_path"]

#: How a dimension's values are drawn.
DISTRIBUTIONS = ("choice", "uniform", "log_uniform")
METHODS = ("random", "grid")
#: The RunSpec tables a space may search (besides [rule]) and the fields it may not: the data,
#: seeds and where the run computes are the experiment, not its hyper-parameters.
SEARCHABLE = {"training": tuple(f for f in _SECTIONS["training"] if f not in ("seeds", "array", "device", "dtype",
                                                                             "align_samples", "eval_every",
                                                                             "stop")),
              "network": tuple(f for f in _SECTIONS["network"] if f != "layers")}
#: Default fraction of the training set held out for selection.
VALIDATION = 0.2


def search_space_path(rule: str) -> Path:
    """Where the rule's declared search space lives: ``neurosim/presets/<rule>-search.toml``."""
    from .rules import rule_class

    return PRESET_DIR / f"{rule_class(rule).name}-search.toml"


@dataclass(frozen=True)
class Dimension:
    """One searched field: ``section`` (``rule``, ``training``, ``network``), ``name``, and how to
    draw it (``kind`` in :data:`DISTRIBUTIONS` with its ``values``: the choices or ``(lo, hi)``)."""

    section: str
    name: str
    kind: str
    values: tuple

    @property
    def integer(self) -> bool:
        return self.kind != "choice" and all(isinstance(v, int) for v in self.values)

    def draw(self, rng: np.random.Generator):
        """One value (floats to 4 significant digits, so cards read well and the trial is exact)."""
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        lo, hi = self.values
        if self.kind == "uniform":
            value = rng.uniform(lo, hi)
        else:  # log_uniform
            value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return int(min(max(round(value), lo), hi)) if self.integer else float(f"{value:.4g}")

    def to_dict(self) -> dict:
        return {self.kind: list(self.values)}


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space for one rule (module docstring for the TOML layout).

    Build one with :meth:`load` / :meth:`for_rule` / :meth:`from_dict`; :meth:`trials` draws the
    trials.
    """

    rule: str
    dimensions: tuple[Dimension, ...]
    method: str = "random"
    budget: int | None = None
    validation: float = VALIDATION
    source: str = "search space"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rule: str, *, source: str = "search space") -> "SearchSpace":
        """From the TOML tables; every key and distribution checked, unknown names with a did-you-mean."""
        from .rules import rule_class

        klass = rule_class(rule)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected TOML tables, got {type(data).__name__}")
        check_keys(source, data, ("search", "rule", *SEARCHABLE), what="table")
        for key, table in data.items():
            if not isinstance(table, Mapping):
                raise ConfigError(f"{source}: '{key}' must be a table ([{key}]), got {type(table).__name__}")
        head = dict(data.get("search", {}))
        check_keys(f"{source} [search]", head, ("method", "budget", "validation"))
        method = check(source, "method", head.get("method", "random"), choices=METHODS)
        budget = check(source, "budget", head.get("budget"), "int", ge=1, allow_none=True)
        validation = float(check(source, "validation", head.get("validation", VALIDATION), gt=0, lt=1))
        hyper_names = [f.name for f in dataclasses.fields(klass.Hyper)]
        dims = []
        for section, known in (("rule", hyper_names), *SEARCHABLE.items()):
            table = data.get(section, {})
            what = f"hyper-parameter of rule '{klass.name}'" if section == "rule" else f"[{section}] field"
            check_keys(f"{source} [{section}]", table, known, what=what)
            for name in sorted(table):
                dims.append(_dimension(f"{source} [{section}] {name}", section, name, table[name]))
        if not dims:
            raise ConfigError(f"{source}: the search space is empty; give at least one dimension, e.g. "
                              "[training] learning_rate = {log_uniform = [1e-4, 1e-2]}")
        if method == "grid":
            bad = next((d for d in dims if d.kind != "choice"), None)
            if bad is not None:
                raise ConfigError(f"{source} [{bad.section}] {bad.name}: a grid search needs 'choice' values, got "
                                  f"'{bad.kind}'; list the values or use method = \"random\"")
        return cls(klass.name, tuple(dims), method, budget, validation, source)

    @classmethod
    def load(cls, path, rule: str) -> "SearchSpace":
        """Read a search space for ``rule`` from a TOML file."""
        from .network import _read_text, parse_toml

        return cls.from_dict(parse_toml(_read_text(path), str(path)), rule, source=str(path))

    @classmethod
    def for_rule(cls, rule: str) -> "SearchSpace":
        """The rule's declared space, :func:`search_space_path`."""
        path = search_space_path(rule)
        if not path.is_file():
            raise ConfigError(f"rule '{rule}' declares no search space ({path.name} is not in neurosim/presets); "
                              "write one (docs/tuning.md) and pass it with --space FILE")
        return cls.load(path, rule)

    def replace(self, **changes) -> "SearchSpace":
        out = dataclasses.replace(self, **changes)
        check(self.source, "method", out.method, choices=METHODS)
        check(self.source, "budget", out.budget, "int", ge=1, allow_none=True)
        check(self.source, "validation", out.validation, gt=0, lt=1)
        return out

    def to_dict(self) -> dict:
        """The TOML tables this space reads back from."""
        out: dict[str, Any] = {"search": {"method": self.method, "validation": self.validation,
                                          **({"budget": self.budget} if self.budget is not None else {})}}
        for d in self.dimensions:
            out.setdefault(d.section, {})[d.name] = d.to_dict()
        return out

    def trials(self, budget: int | None = None, seed: int = 0) -> list[dict]:
        """The trials: ``budget`` dicts ``{section: {name: value}}``, reproducible from ``seed``.

        Random search: every trial draws every dimension in order from ``default_rng(seed)``.
        Grid: the whole product when ``budget`` is None or at least its size, else ``budget``
        combinations drawn without replacement (in the drawn order).
        """
        budget = check(self.source, "budget", self.budget if budget is None else budget, "int", ge=1,
                       allow_none=self.method == "grid", hint="Give the number of trials, e.g. --budget 20.")
        seed = check_seed(self.source, seed)
        rng = np.random.default_rng(seed)
        if self.method == "grid":
            combos = list(itertools.product(*(d.values for d in self.dimensions)))
            if budget is not None and budget < len(combos):
                combos = [combos[i] for i in rng.permutation(len(combos))[:budget]]
        else:
            combos = [tuple(d.draw(rng) for d in self.dimensions) for _ in range(budget)]
        out = []
        for combo in combos:
            trial: dict[str, dict] = {}
            for d, value in zip(self.dimensions, combo):
                trial.setdefault(d.section, {})[d.name] = value
            out.append(trial)
        return out


def _dimension(owner: str, section: str, name: str, spec) -> Dimension:
    example = "{log_uniform = [1e-4, 1e-2]}, {uniform = [0.1, 1.0]} or {choice = [10, 20]}"
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{owner}: expected one distribution like {example}, got {spec!r}")
    (kind, values), = spec.items()
    check_keys(owner, [kind], DISTRIBUTIONS, what="distribution")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{owner}: '{kind}' needs a non-empty list, got {values!r}")
    if kind == "choice":
        return Dimension(section, name, kind, tuple(values))
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   for v in values) or not values[0] < values[1]:
        raise ConfigError(f"{owner}: '{kind}' needs [low, high] with finite low < high, got {values!r}")
    if kind == "log_uniform" and values[0] <= 0:
        raise ConfigError(f"{owner}: 'log_uniform' needs 0 < low, got {values!r}; use 'uniform' for ranges through 0")
    return Dimension(section, name, kind, tuple(values))


# --------------------------------------------------------------------------- the search
def trial_job(base: RunSpec, trial: Mapping[str, Mapping[str, Any]], validation: float) -> dict:
    """The sweep job of one trial: the whole base RunSpec, the trial's values, the validation split."""
    job: dict[str, Any] = {"spec": base.to_dict(), "validation": validation}
    for section, values in trial.items():
        if section == "rule":
            job["hyper"] = dict(values)
        else:
            job.update(values)
    return job


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def run_tune(base: RunSpec, space: SearchSpace, *, budget: int | None = None, seed: int = 0,
             out_dir: str | Path = "results/tune", workers: int | None = None, progress: bool = True) -> dict:
    """Run the search and write ``<rule>-tuned.toml`` (the card) and ``<rule>-search.json`` (the record).

    Parameters
    ----------
    base : RunSpec
        What every trial starts from (a model card or the rule's train preset); its training
        seed and its data are every trial's.  ``base.validation``, when set, overrides the space's.
    space : SearchSpace
        Built for ``base.rule``.
    budget : int, optional
        Trials (default: the space's ``budget``; a grid without one runs whole).
    seed : int
        Seed of the trial draws (not of training: that is ``base.seeds[0]``).
    out_dir : path
        Trials go to ``out_dir/trials/<job_id>.json`` (sweep records: a rerun resumes).
    workers : int, optional
        Local processes (default: every core; 0 runs in this process).

    Returns
    -------
    dict
        The record written to ``<rule>-search.json``: ``trials`` (index, values, job_id, status,
        validation_error, train_error, seconds, message), ``chosen``, ``card``, ``space``,
        ``search_seed``, ``train_seed``, ``validation``, ``base``, ``provenance``.

    Raises
    ------
    ConfigError
        For a space of another rule or a bad trial value (before anything trains).
    ConvergenceError
        When no trial completed with a finite validation error (the record is written first).
    """
    from .results import provenance, write_json
    from .sweep import job_spec, run_sweep

    t0 = time.perf_counter()
    if space.rule != base.rule:
        raise ConfigError(f"search space {space.source} is for rule '{space.rule}', the base RunSpec trains "
                          f"'{base.rule}'")
    validation = base.validation if base.validation is not None else space.validation
    base = base.replace(validation=None)
    trials = space.trials(budget, seed)
    jobs = [trial_job(base, trial, validation) for trial in trials]
    specs = [job_spec(job) for job in jobs]  # every trial's RunSpec is valid before anything trains
    out_dir = Path(out_dir)
    result = run_sweep(jobs, out_dir / "trials", workers=workers, progress=progress)
    by_id = {r["job_id"]: r for r in result.records}
    rows = []
    for i, (trial, spec) in enumerate(zip(trials, specs)):
        rec = by_id.get(spec.id(), {})
        rows.append({"trial": i, "values": trial, "job_id": spec.id(), "status": rec.get("status", "missing"),
                     "validation_error": rec.get("test_error"), "train_error": rec.get("train_error"),
                     "epochs": rec.get("epochs"), "seconds": rec.get("seconds"), "message": rec.get("message", "")})
    ok = [r for r in rows if r["status"] in ("completed", "stopped") and _finite(r["validation_error"])]
    chosen = min(ok, key=lambda r: (r["validation_error"], r["trial"])) if ok else None
    record: dict[str, Any] = {
        "rule": base.rule, "method": space.method, "budget": len(trials), "search_seed": seed,
        "train_seed": base.seeds[0], "validation": validation,
        "selection": "lowest validation error at the last epoch among completed trials (ties: the earlier "
                     "trial); the validation split is held out of the training set, the test set is never used",
        "space": space.to_dict(), "space_source": space.source, "base": base.to_dict(), "trials": rows,
        "chosen": None, "card": None, "seconds": None, "provenance": provenance()}
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / base.rule
    if chosen is not None:
        card = specs[chosen["trial"]].replace(
            validation=None, name=f"{base.rule}-tuned",
            description=(f"{base.rule} tuned by `neurosim tune` ({space.method} search, {len(trials)} trials, search "
                         f"seed {seed}): trial {chosen['trial']}, validation error "
                         f"{chosen['validation_error']:.4g} on {validation:g} of the training set; record "
                         f"{stem.name}-search.json"))
        path = Path(f"{stem}-tuned.toml")
        path.write_text(f"# chosen by `neurosim tune --rule {base.rule}`; the search's record: "
                        f"{stem.name}-search.json\n" + card.to_toml())
        record.update(chosen=chosen, card=str(path))
    record["seconds"] = time.perf_counter() - t0
    write_json(Path(f"{stem}-search.json"), record)
    if chosen is None:
        raise ConvergenceError(f"tune '{base.rule}': none of the {len(trials)} trials completed with a finite "
                               f"validation error; see {stem}-search.json (narrow the space or lower the rates)")
    return record


def format_tune(record: dict) -> str:
    """The search as a text table (errors in %), chosen trial marked."""
    lines = [f"neurosim tune: {record['rule']}, {record['method']} search, {record['budget']} trials, search seed "
             f"{record['search_seed']}, validation {record['validation']:g} of the training set",
             f"{'trial':>5}  {'val err %':>9}  {'status':<10} values"]
    chosen = (record.get("chosen") or {}).get("trial")
    for r in sorted(record["trials"], key=lambda r: (not _finite(r["validation_error"]),
                                                     r["validation_error"] if _finite(r["validation_error"]) else 0,
                                                     r["trial"])):
        values = ", ".join(f"{k}={v}" for table in r["values"].values() for k, v in table.items())
        err = f"{100 * r['validation_error']:9.2f}" if _finite(r["validation_error"]) else f"{'n/a':>9}"
        lines.append(f"{r['trial']:>5}  {err}  {r['status']:<10} {values}" + ("  <- chosen" if r["trial"] == chosen
                                                                             else ""))
    if record.get("card"):
        lines.append(f"card: {record['card']}")
    return "\n".join(lines)

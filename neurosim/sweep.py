"""Sweeps over rules x seeds x hyper-parameters: local processes or a dask cluster, resumable.

A **job** is a :class:`~neurosim.runspec.RunSpec` plus overrides, written as a plain,
JSON-serialisable dict of RunSpec fields (``seed`` for one seed)::

    {"rule": "fa", "seed": 0, "dataset": "digits", "layers": [64, 64, 10], "epochs": 5}

:func:`job_spec` turns it into the RunSpec: the defaults, then the sweep's own base
(:data:`SWEEP_BASE`: 5 epochs, full batch), then the rule's training preset
(``RunSpec.preset(rule, "train")``: the optimiser and settings the rule trains with
everywhere else), then the job's keys.  Unknown keys are errors.  :func:`run_job` turns one
job into one **record** (a dict: the job, status, errors, learning curves, timing, provenance) by
training with :func:`neurosim.training.train`.  :func:`run_sweep` runs many jobs

* locally in parallel processes (``concurrent.futures.ProcessPoolExecutor``, *spawn*
  context, one worker per core by default, ``OPENBLAS_NUM_THREADS=1`` etc. in the workers'
  environment so that the workers do not oversubscribe the cores), or
* on a cluster through ``dask.distributed`` when given a scheduler address
  (``scheduler="tcp://host:8786"``); start the dask workers with
  ``OPENBLAS_NUM_THREADS=1`` in their environment for the same reason.

Each finished job is written atomically to ``out_dir/<job_id>.json`` (``job_id`` = a hash of
the job's canonical RunSpec, so the same run always has the same file, however its dict was
written) by the process that submitted the
sweep, the moment it finishes.  Rerunning a sweep therefore skips the jobs whose record
exists: an interrupted sweep resumes where it stopped and never loses a finished run.  A job
that raises is recorded with ``status = "failed"`` and its error, and the sweep goes on; one
interrupted by Ctrl-C (``KeyboardInterrupt``) is *not* recorded, so a rerun runs it again --
from its last checkpoint: every job saves one after an epoch at least a minute after the last, in
``out_dir/partial/<job_id>/`` (:mod:`neurosim.checkpoint`; deleted once its record is written), so
a sweep killed hours into a long job, or cut off at the end of a session, loses at most a minute
and an epoch per running job (``run_sweep(..., checkpoints=False)``: start over instead).

Example::

    from neurosim.sweep import grid, run_sweep, summarize
    jobs = grid({"dataset": "digits", "layers": [64, 64, 10], "epochs": 5},
                rule=["backprop", "fa"], seed=[0, 1, 2])
    result = run_sweep(jobs, "results/my_sweep")          # rerun: only what is missing
    print(summarize(result.records, by=("rule",)))
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .errors import ConfigError

__all__ = ["SWEEP_BASE", "SweepResult", "discard_partial", "grid", "job_id", "job_spec", "load_records",
           "partial_dir", "run_job", "run_sweep", "summarize"]

#: What a sweep job starts from before the rule's preset and the job's own keys.
SWEEP_BASE: dict[str, Any] = {"epochs": 5, "batch_size": "full"}
#: Convergence criteria recorded for regression tasks (first epoch each held): every output on
#: its target's side of 0.5 / within 0.2 / within 0.1 of its target; the summed squared error
#: over all patterns and outputs (RHW's E without the 1/2) below 0.04.
STOP_CRITERIA = ("sign", "within_0.2", "within_0.1", "tss_0.04")
#: Environment of local workers: one BLAS/OpenMP thread per process (a shared CPU with many
#: multithreaded BLAS processes runs an order of magnitude slower).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --------------------------------------------------------------------------- jobs
def job_spec(job: Mapping[str, Any]):
    """The :class:`~neurosim.runspec.RunSpec` of a job (see the module docstring for the order).

    A job with a ``spec`` key (a whole RunSpec's tables, :meth:`RunSpec.to_dict`) starts from
    that RunSpec instead -- no :data:`SWEEP_BASE`, no preset -- and its other keys change it
    (``hyper`` is merged with the spec's): what ``neurosim tune`` submits.
    """
    from .runspec import RunSpec

    if not isinstance(job, Mapping):
        raise ConfigError(f"job: expected a dict of RunSpec fields, got {type(job).__name__}")
    if "spec" in job:  # a whole RunSpec (its TOML tables): neither SWEEP_BASE nor the preset applies
        if not isinstance(job["spec"], Mapping):
            raise ConfigError(f"job 'spec': expected the tables of a RunSpec (RunSpec.to_dict()), got "
                              f"{type(job['spec']).__name__}")
        base = RunSpec.from_dict(job["spec"], source="job 'spec'")
        if job.get("rule", base.rule) != base.rule:
            raise ConfigError(f"job 'rule': '{job['rule']}' differs from its spec's rule '{base.rule}'; drop one")
        changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in job.items() if k not in ("spec", "rule")}
        return base.replace(**changes)
    if not job.get("rule"):
        raise ConfigError("job 'rule': required (a registered rule name, see `neurosim rules`)")
    if isinstance(job.get("network"), str):
        raise ConfigError(f"job 'network': expected a network description, got {job['network']!r}; the first "
                          "edition's 'feedforward' / 'rule_default' are now builder = 'feedforward' / 'rule'")
    if isinstance(job.get("network"), Mapping):
        from .network import Network

        job = {**job, "network": Network.from_dict(job["network"], source="job 'network'")}
    preset = RunSpec.preset(job["rule"], "train")
    plain = RunSpec(rule=preset.rule)
    from_preset = {k: getattr(preset, k) for k in RunSpec.fields_()
                   if k not in ("published", "description", "name") and getattr(preset, k) != getattr(plain, k)}
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in job.items() if k != "rule"}
    return plain.replace(**SWEEP_BASE).replace(**from_preset).replace(**changes)


def job_id(job: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit id of a job: SHA-256 of its RunSpec's canonical JSON.

    Defaults are filled in first, so ``{"rule": "fa"}`` and ``{"rule": "fa", "seed": 0}`` are
    the same job.  (Records written before the RunSpec -- ids of the raw job dict -- do not
    resume; they stay in the folder.)
    """
    raw_job_id(job)  # plain JSON values only
    return job_spec(job).id()


def raw_job_id(job: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 of the job dict's own canonical JSON (for custom runners whose
    jobs are not RunSpecs; ``run_sweep(..., id_of=raw_job_id)``)."""
    import hashlib

    try:
        text = json.dumps(job, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"job: expected a JSON-serialisable dict of plain values, got {job!r} ({err})") from None
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grid(base: Mapping[str, Any], **axes: Iterable[Any]) -> list[dict]:
    """The Cartesian product of ``axes`` over ``base``: one job per combination.

    >>> grid({"dataset": "xor"}, rule=["backprop", "fa"], seed=[0, 1])  # 4 jobs
    ... # doctest: +SKIP
    """
    keys = list(axes)
    return [{**base, **dict(zip(keys, combo))} for combo in itertools.product(*(list(axes[k]) for k in keys))]


def _criteria(out: np.ndarray, target: np.ndarray) -> dict[str, bool]:
    """Which of :data:`STOP_CRITERIA` hold for outputs and targets of shape (n, n_out).

    .. math:: \\text{sign}: \\max|r - t| < 0.5, \\quad \\text{within}_c: \\max|r - t| < c,
              \\quad \\text{tss}_c: \\textstyle\\sum_{n,k} (r_{nk} - t_{nk})^2 < c
    """
    err = np.abs(out - target)
    return {"sign": bool(np.all(err < 0.5)), "within_0.2": bool(np.all(err < 0.2)),
            "within_0.1": bool(np.all(err < 0.1)), "tss_0.04": bool(np.sum(err ** 2) < 0.04)}


class _CriterionReached(Exception):
    """Raised by the epoch callback to end a run once the job's stop criterion holds."""


def run_job(job: Mapping[str, Any], checkpoint_dir: str | os.PathLike | None = None) -> dict:
    """Train one job and return its record.

    Parameters
    ----------
    job : dict
        RunSpec fields (``rule`` is required; ``seed`` for one seed).
    checkpoint_dir : path, optional
        Resumable training (:mod:`neurosim.checkpoint`): the job's state after finished epochs
        (a minute apart, and the last) goes there, and a job started again with a checkpoint of itself goes on from it
        (the record's ``resumed_after`` lists where).  :func:`run_sweep` passes
        ``<out_dir>/partial/<job_id>``.  Jobs that watch their outputs per epoch
        (``trace_outputs``, a ``stop`` criterion, regression tasks) keep that trace in memory
        and are not checkpointed: they start over.

    Returns
    -------
    dict
        ``job_id``, ``job`` (as given), ``status`` (``completed`` / ``stopped`` at the stop
        criterion / ``diverged`` / ``failed``), ``message``, ``error`` (failed only),
        ``epochs`` (finished), ``train_error``, ``test_error`` (of the rule's own read-out
        ``rule.predict`` when it has one -- EP's free fixed point -- with the feed-forward
        numbers kept as ``*_error_feedforward``), ``train_loss``, ``test_loss`` (the last
        evaluated epoch), ``curves`` (per epoch: ``epoch``, ``loss``,
        ``train_error``, ``test_error``, ``alignment_cosine``, ``alignment_angle_deg``, and
        with ``align_samples`` ``alignment_projections`` = {projection: cosine per epoch};
        epoch 0 = the initial weights), ``criterion_epochs`` (first epoch at which each of
        :data:`STOP_CRITERIA` held on the training set, None if never; judged on
        ``rule.predict`` when the rule has one -- EP's free fixed point -- else on the
        feed-forward pass: ``criterion_readout``), ``outputs`` (``trace_outputs``:
        list over epochs 0.. of (n_train, n_out) lists), ``params`` and ``params_initial``
        (``save_params``),
        ``seconds``, ``provenance``.  Errors are fractions in [0, 1] for classification
        and the batch-mean loss for regression tasks (the training loop's convention).

    Raises
    ------
    KeyboardInterrupt
        When the run was interrupted: an interrupted job is not a finished job.
    """
    from .results import provenance

    t0 = time.perf_counter()
    record: dict[str, Any] = {"job_id": job_id(job), "job": dict(job)}
    try:
        record.update(_train_job(job_spec(job), checkpoint_dir))
    except KeyboardInterrupt:
        raise
    except Exception as err:  # a failing job is a result too: record it, let the sweep go on
        record.update(status="failed", message=f"{type(err).__name__}: {err}", error=traceback.format_exc())
    record["seconds"] = time.perf_counter() - t0 + record.get("seconds_before_resume", 0.0)
    record["provenance"] = provenance()
    return record


def _train_job(spec, checkpoint_dir=None) -> dict:
    from .reference import forward
    from .training import check_fits, evaluate, train
    from .training import predict as feedforward_predict

    seed = spec.seeds[0]
    data = spec.load_data(seed)
    rule = spec.make_rule()
    network = spec.build_network(data, rule)
    check_fits(network, data)
    sizes = list(network.sizes)
    config = spec.config(seed, data.n_train)
    optimizer, lr = spec.optimizer, spec.learning_rate
    x_train = data.x_train.astype(config.dtype)
    t_train = data.targets("train").astype(config.dtype)
    y_train = data.y_train if data.n_classes else None
    # The weights train() will draw: same seed, same generator, same network.
    initial = rule.init_params(network, seed, config.dtype)
    start = None  # None: train() draws the same initial parameters itself
    if spec.bias_init_scale is not None:
        # RHW (1986): "the bias ... can be learned just like any other weight" -- so drawn like one.
        # A generator of its own (seed + 7919) keeps the weight draws identical to bias-free jobs.
        brng = np.random.default_rng(seed + 7919)
        s_b = float(spec.bias_init_scale)
        initial = {k: (brng.uniform(-s_b, s_b, v.shape).astype(v.dtype) if k.endswith(".bias") else v)
                   for k, v in initial.items()}
        start = initial
    loss0, err0 = evaluate(network, initial, x_train, y_train, t_train, rule)   # scored as train() scores
    entries: list[dict] = [{"epoch": 0, "loss": loss0, "train_error": err0}]
    outputs: list = []
    first: dict[str, int | None] = {c: None for c in STOP_CRITERIA}
    watch = spec.trace_outputs or spec.stop is not None or data.n_classes == 0

    # A rule whose prediction is not the feed-forward pass (EP: the free-phase fixed point)
    # is judged on its own prediction.
    own = rule.has_own_readout
    readout = "rule.predict" if own else "forward"

    def observe(epoch: int, params: dict) -> None:
        out = rule.predict(network, params, x_train) if own else forward(network, params, x_train).output
        if spec.trace_outputs:
            outputs.append(np.round(out, 5).tolist())
        if data.n_classes == 0:
            for name, ok in _criteria(out, t_train).items():
                if ok and first[name] is None:
                    first[name] = epoch
        if spec.stop == "all" and all(v is not None for v in first.values()):
            raise _CriterionReached
        if spec.stop not in (None, "all") and first[spec.stop] is not None:
            raise _CriterionReached

    live: dict = {}

    def on_epoch(epoch: int, params: dict) -> None:
        live["params"] = params
        if watch:
            observe(epoch, params)

    status, message, params, resumed, earlier, codes = "completed", "", None, [], 0.0, []
    try:
        if watch:
            observe(0, initial)
        result = train(network, rule, data, config, params=start, progress=False, callback=entries.append,
                       observe=on_epoch, checkpoint_dir=None if watch else checkpoint_dir,
                       on_bad_checkpoint="restart")  # the sweep owns partial/: a bad one is started over
        status, message, params = result.status, result.message, result.params
        if result.resumed_after:  # the epochs before the last resumption ran in an earlier process
            entries[1:1] = result.history[:result.resumed_after[-1]]
            resumed = list(result.resumed_after)
            earlier, codes = result.seconds_before_resume, list(result.resumed_code)
    except _CriterionReached:
        status, message, params = "stopped", f"stop criterion '{spec.stop}' reached", live.get("params", initial)
    if status == "interrupted":
        raise KeyboardInterrupt(message)
    last = next((e for e in reversed(entries) if e.get("loss") is not None), entries[0])
    curves = {"epoch": [e["epoch"] for e in entries], "loss": [e.get("loss") for e in entries],
              "train_error": [e.get("train_error") for e in entries],
              "test_error": [e.get("test_error") for e in entries],
              "alignment_cosine": [e.get("alignment", {}).get("global") for e in entries],
              "alignment_angle_deg": [e.get("alignment", {}).get("global_angle_deg") for e in entries]}
    names = sorted({k for e in entries for k in e.get("alignment", {}).get("projections", {})})
    if names:  # per-projection cosine to backprop's update, per epoch (None at epoch 0)
        curves["alignment_projections"] = {k: [e.get("alignment", {}).get("projections", {}).get(k)
                                               for e in entries] for k in names}
    record = {"spec": spec.to_dict(), "status": status, "message": message, "epochs": entries[-1]["epoch"],
              "sizes": sizes,
              "optimizer": optimizer, "learning_rate": float(lr), "batch_size": config.batch_size,
              "n_train": data.n_train, "n_test": data.n_test, "train_error": last.get("train_error"),
              "test_error": last.get("test_error"), "train_loss": last.get("loss"),
              "test_loss": last.get("test_loss"), "curves": curves, "criterion_epochs": first,
              "criterion_readout": readout if watch else None}
    if resumed:  # seconds: this process's, plus the training time of the earlier ones
        record["resumed_after"], record["seconds_before_resume"] = resumed, earlier
        record["resumed_code"] = codes  # which code ran the epochs before each resumption
    if own and data.n_classes and params is not None:
        # train() already scored a rule with its own read-out on it (training.evaluate); the
        # feed-forward pass of the same weights is recorded beside it, for comparison.
        for split in ("train", "test"):
            x = getattr(data, f"x_{split}").astype(config.dtype)
            out = feedforward_predict(network, params, x)
            record[f"{split}_error_feedforward"] = float(np.mean(np.argmax(out, axis=1)
                                                                 != getattr(data, f"y_{split}")))
        record["error_readout"] = "rule.predict"
    if spec.trace_outputs:
        record["outputs"] = outputs
    if spec.save_params and params is not None:
        record["params"] = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in params.items()}
        # the starting weights too, so a figure can compare before/after without rebuilding them
        record["params_initial"] = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in initial.items()}
    return record


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    records : list of dict
        The record of every job that has one now (run now or before), in job order.
    ran : list of str
        Ids of the jobs run (and written) by this call.
    skipped : list of str
        Ids whose record existed already.
    missing : list of str
        Ids with no record (lost to a dead worker); rerun the sweep to run them.
    """

    records: list = field(default_factory=list)
    ran: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list:
        return [r for r in self.records if r.get("status") == "failed"]


def _record_path(out_dir: Path, jid: str) -> Path:
    return out_dir / f"{jid}.json"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or unreadable: the job has to run (again)


def supersede(out_dir: str | os.PathLike, jid: str) -> Path | None:
    """Move ``<jid>.json`` to ``superseded/<jid>.<k>.json`` (first free k): kept, never overwritten.

    Returns the new path, or None when there was no record.
    """
    out_dir = Path(out_dir)
    src = _record_path(out_dir, jid)
    if not src.exists():
        return None
    old = out_dir / "superseded"
    old.mkdir(parents=True, exist_ok=True)
    k = 0
    while True:
        dst = old / f"{jid}.{k}.json"
        try:
            fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # claim the name atomically
        except FileExistsError:
            k += 1
            continue
        os.close(fd)
        os.replace(src, dst)
        return dst


def _failed_record(jid: str, job: Mapping, err: BaseException) -> dict:
    from .results import provenance

    return {"job_id": jid, "job": dict(job), "status": "failed", "message": f"{type(err).__name__}: {err}",
            "error": "".join(traceback.format_exception(err)), "provenance": provenance()}


@contextlib.contextmanager
def _environment(values: Mapping[str, str]):
    """Set environment variables for the duration (spawned workers inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def partial_dir(out_dir: str | os.PathLike, jid: str) -> Path:
    """Where :func:`run_sweep` keeps job ``jid``'s checkpoint while it runs (``<out_dir>/partial/<jid>``)."""
    return Path(out_dir) / "partial" / jid


def discard_partial(out_dir: str | os.PathLike, jid: str) -> None:
    """Delete job ``jid``'s checkpoint, so that its next run starts over (after its code changed)."""
    from .checkpoint import remove_checkpoint

    folder = partial_dir(out_dir, jid)
    remove_checkpoint(folder)
    try:
        folder.parent.rmdir()  # partial/ itself, once no job has a checkpoint there
    except OSError:
        pass


def _takes_checkpoints(runner: Callable) -> bool:
    import inspect

    try:
        return "checkpoint_dir" in inspect.signature(runner).parameters
    except (TypeError, ValueError):
        return False


def run_sweep(jobs: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike, *, workers: int | None = None,
              scheduler: Any = None, runner: Callable[[dict], dict] = run_job, retry_failed: bool = True,
              progress: bool = True, id_of: Callable[[Mapping], str] = job_id,
              checkpoints: bool = True) -> SweepResult:
    """Run every job whose record is missing from ``out_dir``, in parallel; resumable.

    Parameters
    ----------
    jobs : iterable of dict
        Duplicates (same ``id_of``) run once.
    out_dir : path
        One ``<job_id>.json`` per finished job, written atomically as soon as it finishes.
    workers : int, optional
        Local worker processes (default: ``os.cpu_count()``); ``0`` runs in this process
        (debugging).  Ignored with ``scheduler``.
    scheduler : str or dask Client/Cluster, optional
        A ``dask.distributed`` scheduler address (``"tcp://host:8786"``) or an object with
        a ``scheduler_address``: run the jobs on that cluster instead.
    runner : callable
        ``job -> record``; must be importable by the workers (a module-level function).
    retry_failed : bool
        Run again the jobs recorded as ``failed`` (default True: a failure is usually fixed
        before the next run).  Their old record is kept under ``superseded/`` (:func:`supersede`).
    progress : bool
        One line per finished job on stderr.
    id_of : callable
        ``job -> id`` naming its record file: :func:`job_id` (the RunSpec's id) for
        :func:`run_job`; :func:`raw_job_id` for custom runners whose jobs are other dicts.
    checkpoints : bool
        Resumable jobs (default): a runner with a ``checkpoint_dir`` parameter (:func:`run_job`)
        gets :func:`partial_dir`, where it saves its state after epochs at least a minute apart
        (and the last); a job stopped before its record was written (Ctrl-C, a killed worker or
        sweep, the end of a session) goes on from that checkpoint when the sweep is run again,
        instead of from scratch.  The checkpoint is deleted once the job's record is written (and before a
        failed job is retried).  With ``scheduler`` the folder must be on a file system the
        dask workers share.

    Returns
    -------
    SweepResult

    Raises
    ------
    KeyboardInterrupt
        When the user (or a job) interrupted the sweep; every job that finished before is
        on disk, and the jobs already running were waited for and written too.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered: dict[str, dict] = {}
    for job in jobs:
        ordered.setdefault(id_of(job), dict(job))
    result = SweepResult()
    todo = []
    for jid, job in ordered.items():
        rec = _read(_record_path(out_dir, jid))
        if rec is not None and not (retry_failed and rec.get("status") == "failed"):
            result.skipped.append(jid)
        else:
            if rec is not None:
                supersede(out_dir, jid)
                discard_partial(out_dir, jid)  # a failed job starts over
            todo.append((jid, job))
    resumable = checkpoints and _takes_checkpoints(runner)

    def options(jid: str) -> dict:  # absolute: dask workers need not share this working directory
        return {"checkpoint_dir": str(partial_dir(out_dir.resolve(), jid))} if resumable else {}

    def finish(jid: str, rec: dict) -> None:
        from .results import write_json

        write_json(_record_path(out_dir, jid), rec)
        if resumable:
            discard_partial(out_dir, jid)  # the record holds what it was for
        result.ran.append(jid)
        if progress:
            import sys

            job = rec["job"]
            rule = job.get("rule") or (job.get("spec") or {}).get("rule", {}).get("name", "")
            seed = f" seed {job['seed']}" if "seed" in job else ""
            print(f"  [{len(result.ran)}/{len(todo)}] {jid} {rule}{seed}: {rec.get('status')} "
                  f"{rec.get('seconds', 0):.1f} s"
                  + (f" ({rec['message']})" if rec.get("status") == "failed" else ""), file=sys.stderr, flush=True)

    if todo:
        if scheduler is not None:
            _run_dask(todo, scheduler, runner, finish, options)
        elif workers == 0:
            for jid, job in todo:
                try:
                    rec = runner(job, **options(jid))
                except Exception as err:
                    rec = _failed_record(jid, job, err)
                finish(jid, rec)
        else:
            _run_local(todo, workers or os.cpu_count() or 1, runner, finish, options)
    for jid in ordered:
        rec = _read(_record_path(out_dir, jid))
        if rec is None:
            result.missing.append(jid)
        else:
            result.records.append(rec)
    result.seconds = time.perf_counter() - t0
    return result


def _die_with_parent(parent_pid: int) -> None:
    """Worker initialiser: end this worker when the sweep's process goes away.

    On Linux the kernel sends SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere (and as a second guard) a daemon thread checks every second whether the parent
    is still this process's parent.  Without it, killing a sweep left its workers running.
    """
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(143)

    threading.Thread(target=watch, daemon=True, name="neurosim-parent-watch").start()
    if os.getppid() != parent_pid:  # the parent died before the guard was set
        os._exit(143)


def _run_local(todo, workers: int, runner, finish, options) -> None:
    import multiprocessing

    jobs = dict(todo)
    interrupted: BaseException | None = None
    lost: list[str] = []
    # Spawned workers copy this process's environment when they start (at the first submit).
    env = _environment(WORKER_ENV)
    env.__enter__()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        pending = {pool.submit(runner, job, **options(jid)): jid for jid, job in todo}
        while pending:
            try:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt as err:  # Ctrl-C in this process
                if interrupted is not None:
                    raise  # a second Ctrl-C: stop waiting for the running jobs
                interrupted = err
                for f in pending:
                    f.cancel()
                continue
            for fut in done:
                jid = pending.pop(fut)
                if fut.cancelled():
                    continue
                err = fut.exception()
                if isinstance(err, KeyboardInterrupt):
                    # A job was interrupted: start nothing new, but keep (and write) what runs.
                    interrupted = interrupted or err
                    for f in pending:
                        f.cancel()
                elif isinstance(err, BrokenProcessPool):
                    lost.append(jid)  # a worker died: no record, so a rerun runs it
                elif err is not None:
                    finish(jid, _failed_record(jid, jobs[jid], err))
                else:
                    finish(jid, fut.result())
    finally:
        pool.shutdown(wait=interrupted is None, cancel_futures=True)
        env.__exit__(None, None, None)
    if interrupted is not None:
        raise KeyboardInterrupt("sweep interrupted; finished jobs are saved, rerun the same sweep to resume")
    if lost:
        import sys

        print(f"run_sweep: {len(lost)} job(s) lost because a worker process died; their records are missing, "
              "rerun the same sweep to run them", file=sys.stderr)


def _run_dask(todo, scheduler, runner, finish, options) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ConfigError("run_sweep(scheduler=...): dask.distributed is not installed; pip install "
                          "'dask[distributed]' or run locally (scheduler=None)") from None
    address = getattr(scheduler, "scheduler_address", scheduler)
    jobs = dict(todo)
    with Client(address) as client:
        futures = {client.submit(runner, job, key=f"neurosim-job-{jid}", pure=False, **options(jid)): jid
                   for jid, job in todo}
        interrupted = None
        for fut in as_completed(list(futures)):
            jid = futures[fut]
            if fut.status == "cancelled":
                continue
            if fut.status == "error":
                err = fut.exception()
                if isinstance(err, KeyboardInterrupt):
                    interrupted = err
                    for other in futures:
                        if not other.done():
                            other.cancel()
                    continue
                finish(jid, _failed_record(jid, jobs[jid], err))
            else:
                finish(jid, fut.result())
    if interrupted is not None:
        raise KeyboardInterrupt("sweep interrupted; finished jobs are saved, rerun the same sweep to resume")


# --------------------------------------------------------------------------- reading back
def load_records(out_dir: str | os.PathLike) -> list[dict]:
    """Every job record in ``out_dir`` (sorted by job id); unreadable files are skipped."""
    out = []
    for path in sorted(Path(out_dir).glob("*.json")):
        rec = _read(path)
        if rec is not None and "job_id" in rec:
            out.append(rec)
    return out


def summarize(records: Iterable[Mapping], by: tuple[str, ...] = ("rule",), metric: str = "test_error") -> list[dict]:
    """Mean, sample standard deviation (ddof = 1), n and failures of ``metric`` per group.

    Groups are formed by the job keys ``by``; records that failed or lack the metric count
    in ``n_failed`` and not in the statistics.
    """
    groups: dict[tuple, list] = {}
    for rec in records:
        key = tuple(json.dumps(rec["job"].get(k), sort_keys=True) for k in by)
        groups.setdefault(key, []).append(rec)
    rows = []
    for key, recs in groups.items():
        values = [r[metric] for r in recs if r.get("status") != "failed" and r.get(metric) is not None]
        n = len(values)
        rows.append({**{k: json.loads(v) for k, v in zip(by, key)}, "n": n, "n_failed": len(recs) - n,
                     "mean": float(np.mean(values)) if n else None,
                     "sd": float(np.std(values, ddof=1)) if n > 1 else None,
                     "values": values})
    return rows


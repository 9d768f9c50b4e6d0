"""Sweeps over rules x seeds x hyper-parameters: local processes or a dask cluster, resumable.

A **job** is a plain, JSON-serialisable dict that says everything a training run needs::

    {"rule": "fa", "seed": 0, "dataset": "digits", "layers": [64, 64, 10], "epochs": 5}

Every other key has a default (:data:`JOB_DEFAULTS`).  :func:`run_job` turns one job into
one **record** (a dict: the job, status, errors, learning curves, timing, provenance) by
training with :func:`neurosim.training.train`.  :func:`run_sweep` runs many jobs

* locally in parallel processes (``concurrent.futures.ProcessPoolExecutor``, *spawn*
  context, one worker per core by default, ``OPENBLAS_NUM_THREADS=1`` etc. in the workers'
  environment so that the workers do not oversubscribe the cores), or
* on a cluster through ``dask.distributed`` when given a scheduler address
  (``scheduler="tcp://host:8786"``); start the dask workers with
  ``OPENBLAS_NUM_THREADS=1`` in their environment for the same reason.

Each finished job is written atomically to ``out_dir/<job_id>.json`` (``job_id`` = a hash of
the job dict, so the same job always has the same file) by the process that submitted the
sweep, the moment it finishes.  Rerunning a sweep therefore skips the jobs whose record
exists: an interrupted sweep resumes where it stopped and never loses a finished run.  A job
that raises is recorded with ``status = "failed"`` and its error, and the sweep goes on; one
interrupted by Ctrl-C (``KeyboardInterrupt``) is *not* recorded, so a rerun runs it again.

Example::

    from neurosim.sweep import grid, run_sweep, summarize
    jobs = grid({"dataset": "digits", "layers": [64, 64, 10], "epochs": 5},
                rule=["backprop", "fa"], seed=[0, 1, 2])
    result = run_sweep(jobs, "results/my_sweep")          # rerun: only what is missing
    print(summarize(result.records, by=("rule",)))
"""
from __future__ import annotations

import contextlib
import hashlib
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

__all__ = ["JOB_DEFAULTS", "SweepResult", "grid", "job_id", "load_records", "run_job", "run_sweep", "summarize"]

#: Every key a job may hold and its default (None: not used / the rule's own choice).
JOB_DEFAULTS: dict[str, Any] = {
    "rule": None,                # registered rule name (required)
    "hyper": {},                 # rule hyper-parameters
    "seed": 0,                   # weights, batch order, stochastic rules, data subset/split
    "dataset": "digits",         # a neurosim.tasks task or a load_dataset name
    "dataset_options": {},       # n_train, n_test, n_bits...
    "layers": None,              # layer sizes; None: [n_features, 64, 64, n_outputs]
    "network": "rule_default",   # "rule_default" (Rule.default_network) or "feedforward" (the keys below)
    "activation": "tanh",        # feedforward network only
    "output_activation": None,
    "loss": "mse",
    "init": "xavier_uniform",
    "init_scale": 1.0,
    "epochs": 5,
    "batch_size": None,          # None: the whole training set (full batch)
    "optimizer": None,           # None: the rule's train_defaults
    "learning_rate": None,
    "momentum": 0.9,
    "dtype": "float32",
    "align_samples": 256,
    "stop": None,                # None, a name of STOP_CRITERIA, or "all" (every one of them has held)
    "bias_init_scale": None,     # None: Layer.bias_init; s: biases drawn U(-s, s) (RHW 1986: a bias is a weight)
    "weight_decay": 0.0,         # lambda: the update of every weight gets the extra term -lambda * W
    "trace_outputs": False,      # record the outputs on every training pattern after every epoch
    "save_params": False,        # record the learned parameters (small networks)
}
#: Convergence criteria recorded for regression tasks (first epoch each held): every output on
#: its target's side of 0.5 / within 0.2 / within 0.1 of its target; the summed squared error
#: over all patterns and outputs (RHW's E without the 1/2) below 0.04.
STOP_CRITERIA = ("sign", "within_0.2", "within_0.1", "tss_0.04")
#: Environment of local workers: one BLAS/OpenMP thread per process (a shared CPU with many
#: multithreaded BLAS processes runs an order of magnitude slower).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --------------------------------------------------------------------------- jobs
def job_id(job: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit id of a job: SHA-256 of its canonical JSON (sorted keys).

    The same dict gives the same id in every process and Python version; defaults are
    *not* filled in first, so ``{"rule": "fa"}`` and ``{"rule": "fa", "seed": 0}`` are two jobs.
    """
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


def _complete(job: Mapping[str, Any]) -> dict:
    unknown = sorted(set(job) - set(JOB_DEFAULTS))
    if unknown:
        from .errors import did_you_mean

        raise ConfigError(f"job key '{unknown[0]}': unknown; known keys: {', '.join(JOB_DEFAULTS)}."
                          f"{did_you_mean(unknown[0], JOB_DEFAULTS)}")
    if not job.get("rule"):
        raise ConfigError("job 'rule': required (a registered rule name, see `neurosim rules`)")
    full = {**JOB_DEFAULTS, **job}
    if full["stop"] is not None and full["stop"] not in (*STOP_CRITERIA, "all"):
        raise ConfigError(f"job 'stop': expected None, 'all' or one of {', '.join(STOP_CRITERIA)}, got "
                          f"{full['stop']!r}")
    wd = full["weight_decay"]
    if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not 0 <= wd < 1:
        raise ConfigError(f"job 'weight_decay': expected a number in [0, 1), got {wd!r}; e.g. 0.002")
    bs = full["bias_init_scale"]
    if bs is not None and (isinstance(bs, bool) or not isinstance(bs, (int, float)) or not 0 <= bs < np.inf):
        raise ConfigError(f"job 'bias_init_scale': expected None or a finite number >= 0, got {bs!r}; e.g. 0.3")
    if full["network"] not in ("rule_default", "feedforward"):
        raise ConfigError(f"job 'network': expected 'rule_default' or 'feedforward', got {full['network']!r}")
    return full


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


class _Monitor:
    """A rule seen through a window: forwards everything, remembers the live parameters.

    ``train`` copies the initial parameters and updates its copy in place; the monitor
    keeps a reference to that copy (from the first ``updates`` call) so the epoch callback
    can read the network's outputs without changing the training loop.
    """

    def __init__(self, rule, weight_decay: float = 0.0):
        self.rule = rule
        self.weight_decay = float(weight_decay)
        self.params_: dict | None = None

    def __getattr__(self, name):
        return getattr(self.rule, name)

    def prepare(self, network):
        return self.rule.prepare(network)

    def updates(self, network, params, x, target):
        """The rule's update, plus the weight-decay term when asked for.

        .. math:: \\Delta W \\leftarrow \\Delta W_{rule} - \\lambda W

        on every weight matrix (not biases), i.e. gradient descent on
        :math:`L + \\tfrac{\\lambda}{2}\\sum W^2` for backprop (Hinton 1986 decayed every weight
        by a fixed fraction per sweep; with plain SGD the decay per step is :math:`\\eta\\lambda`).
        """
        self.params_ = params
        dw = self.rule.updates(network, params, x, target)
        if self.weight_decay:
            dw = {k: (v - self.weight_decay * params[k] if not k.endswith(".bias") and k in params else v)
                  for k, v in dw.items()}
        return dw


def _build_network(job: dict, rule, sizes: list[int]):
    from .network import Network

    if job["network"] == "rule_default":
        network = rule.build_default_network(sizes)
    else:
        network = Network.feedforward(sizes, activation=job["activation"], output_activation=job["output_activation"],
                                      loss=job["loss"], init=job["init"], init_scale=float(job["init_scale"]),
                                      name=f"{job['dataset']}-net")
    return rule.prepare(network)


def run_job(job: Mapping[str, Any]) -> dict:
    """Train one job and return its record.

    Parameters
    ----------
    job : dict
        Keys of :data:`JOB_DEFAULTS` (``rule`` is required).

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
        list over epochs 0.. of (n_train, n_out) lists), ``params`` (``save_params``),
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
        record.update(_train_job(_complete(job)))
    except KeyboardInterrupt:
        raise
    except Exception as err:  # a failing job is a result too: record it, let the sweep go on
        record.update(status="failed", message=f"{type(err).__name__}: {err}", error=traceback.format_exc())
    record["seconds"] = time.perf_counter() - t0
    record["provenance"] = provenance()
    return record


def _train_job(job: dict) -> dict:
    from .reference import forward
    from .rules import get_rule
    from .data import load_dataset as load_task
    from .training import TrainConfig, evaluate, train
    from .training import predict as feedforward_predict

    data = load_task(job["dataset"], seed=int(job["seed"]), **job["dataset_options"])
    rule = get_rule(job["rule"], **job["hyper"])
    n_out = data.n_classes or data.t_train.shape[1]
    sizes = list(job["layers"]) if job["layers"] else [data.n_features, 64, 64, n_out]
    network = _build_network(job, rule, sizes)
    klass = type(rule)
    optimizer = job["optimizer"] or klass.train_defaults.get("optimizer", "adam")
    lr = job["learning_rate"] if job["learning_rate"] is not None else klass.train_defaults.get("learning_rate", 1e-3)
    config = TrainConfig(epochs=int(job["epochs"]), batch_size=int(job["batch_size"] or data.n_train),
                         optimizer=optimizer, learning_rate=float(lr), momentum=float(job["momentum"]),
                         seed=int(job["seed"]), dtype=job["dtype"], align_samples=int(job["align_samples"]))
    x_train = data.x_train.astype(config.dtype)
    t_train = data.targets("train").astype(config.dtype)
    y_train = data.y_train if data.n_classes else None
    # The weights train() will draw: same seed, same generator, same network.
    initial = rule.init_params(network, int(job["seed"]), config.dtype)
    start = None  # None: train() draws the same initial parameters itself
    if job["bias_init_scale"] is not None:
        # RHW (1986): "the bias ... can be learned just like any other weight" -- so drawn like one.
        # A generator of its own (seed + 7919) keeps the weight draws identical to bias-free jobs.
        brng = np.random.default_rng(int(job["seed"]) + 7919)
        s_b = float(job["bias_init_scale"])
        initial = {k: (brng.uniform(-s_b, s_b, v.shape).astype(v.dtype) if k.endswith(".bias") else v)
                   for k, v in initial.items()}
        start = initial
    loss0, err0 = evaluate(network, initial, x_train, y_train, t_train, rule)   # scored as train() scores
    entries: list[dict] = [{"epoch": 0, "loss": loss0, "train_error": err0}]
    outputs: list = []
    first: dict[str, int | None] = {c: None for c in STOP_CRITERIA}
    watch = job["trace_outputs"] or job["stop"] is not None or data.n_classes == 0

    # A rule whose prediction is not the feed-forward pass (EP: the free-phase fixed point)
    # is judged on its own prediction.
    predict = getattr(rule, "predict", None)
    readout = "rule.predict" if callable(predict) else "forward"

    def observe(epoch: int, params: dict) -> None:
        out = predict(network, params, x_train) if callable(predict) else forward(network, params, x_train).output
        if job["trace_outputs"]:
            outputs.append(np.round(out, 5).tolist())
        if data.n_classes == 0:
            for name, ok in _criteria(out, t_train).items():
                if ok and first[name] is None:
                    first[name] = epoch
        if job["stop"] == "all" and all(v is not None for v in first.values()):
            raise _CriterionReached
        if job["stop"] not in (None, "all") and first[job["stop"]] is not None:
            raise _CriterionReached

    monitor = _Monitor(rule, job["weight_decay"])

    def callback(entry: dict) -> None:
        entries.append(entry)
        if watch and monitor.params_ is not None:
            observe(entry["epoch"], monitor.params_)

    status, message, params = "completed", "", None
    try:
        if watch:
            observe(0, initial)
        result = train(network, monitor, data, config, params=start, progress=False, callback=callback)
        status, message, params = result.status, result.message, result.params
    except _CriterionReached:
        status, message, params = "stopped", f"stop criterion '{job['stop']}' reached", monitor.params_ or initial
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
    record = {"status": status, "message": message, "epochs": entries[-1]["epoch"], "sizes": sizes,
              "optimizer": optimizer, "learning_rate": float(lr), "batch_size": config.batch_size,
              "n_train": data.n_train, "n_test": data.n_test, "train_error": last.get("train_error"),
              "test_error": last.get("test_error"), "train_loss": last.get("loss"),
              "test_loss": last.get("test_loss"), "curves": curves, "criterion_epochs": first,
              "criterion_readout": readout if watch else None}
    if callable(predict) and data.n_classes and params is not None:
        # train() already scored a rule with its own read-out on it (training.evaluate); the
        # feed-forward pass of the same weights is recorded beside it, for comparison.
        for split in ("train", "test"):
            x = getattr(data, f"x_{split}").astype(config.dtype)
            out = feedforward_predict(network, params, x)
            record[f"{split}_error_feedforward"] = float(np.mean(np.argmax(out, axis=1)
                                                                 != getattr(data, f"y_{split}")))
        record["error_readout"] = "rule.predict"
    if job["trace_outputs"]:
        record["outputs"] = outputs
    if job["save_params"] and params is not None:
        record["params"] = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in params.items()}
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


def _failed_record(job: Mapping, err: BaseException) -> dict:
    from .results import provenance

    return {"job_id": job_id(job), "job": dict(job), "status": "failed", "message": f"{type(err).__name__}: {err}",
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


def run_sweep(jobs: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike, *, workers: int | None = None,
              scheduler: Any = None, runner: Callable[[dict], dict] = run_job, retry_failed: bool = False,
              progress: bool = True) -> SweepResult:
    """Run every job whose record is missing from ``out_dir``, in parallel; resumable.

    Parameters
    ----------
    jobs : iterable of dict
        Duplicates (same :func:`job_id`) run once.
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
        Run again the jobs recorded as ``failed`` (default: keep their record).
    progress : bool
        One line per finished job on stderr.

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
        ordered.setdefault(job_id(job), dict(job))
    result = SweepResult()
    todo = []
    for jid, job in ordered.items():
        rec = _read(_record_path(out_dir, jid))
        if rec is not None and not (retry_failed and rec.get("status") == "failed"):
            result.skipped.append(jid)
        else:
            todo.append((jid, job))

    def finish(jid: str, rec: dict) -> None:
        from .results import write_json

        write_json(_record_path(out_dir, jid), rec)
        result.ran.append(jid)
        if progress:
            import sys

            print(f"  [{len(result.ran)}/{len(todo)}] {jid} {rec['job'].get('rule', '')} seed "
                  f"{rec['job'].get('seed', '')}: {rec.get('status')} {rec.get('seconds', 0):.1f} s"
                  + (f" ({rec['message']})" if rec.get("status") == "failed" else ""), file=sys.stderr, flush=True)

    if todo:
        if scheduler is not None:
            _run_dask(todo, scheduler, runner, finish)
        elif workers == 0:
            for jid, job in todo:
                try:
                    rec = runner(job)
                except Exception as err:
                    rec = _failed_record(job, err)
                finish(jid, rec)
        else:
            _run_local(todo, workers or os.cpu_count() or 1, runner, finish)
    for jid in ordered:
        rec = _read(_record_path(out_dir, jid))
        if rec is None:
            result.missing.append(jid)
        else:
            result.records.append(rec)
    result.seconds = time.perf_counter() - t0
    return result


def _run_local(todo, workers: int, runner, finish) -> None:
    import multiprocessing

    jobs = dict(todo)
    interrupted: BaseException | None = None
    lost: list[str] = []
    # Spawned workers copy this process's environment when they start (at the first submit).
    env = _environment(WORKER_ENV)
    env.__enter__()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(runner, job): jid for jid, job in todo}
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
                    finish(jid, _failed_record(jobs[jid], err))
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


def _run_dask(todo, scheduler, runner, finish) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ConfigError("run_sweep(scheduler=...): dask.distributed is not installed; pip install "
                          "'dask[distributed]' or run locally (scheduler=None)") from None
    address = getattr(scheduler, "scheduler_address", scheduler)
    jobs = dict(todo)
    with Client(address) as client:
        futures = {client.submit(runner, job, key=f"neurosim-job-{jid}", pure=False): jid for jid, job in todo}
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
                finish(jid, _failed_record(jobs[jid], err))
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


"""The sweep engine: job ids, run_job against train(), resumption, failures, interruption,
dead workers, worker environment, and dask.distributed.

Fast jobs: XOR (4 patterns) with a 2-2-1 network for a few sweeps, so each job takes
milliseconds and the cost is the process start-up (spawn + importing NumPy/neurosim).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from neurosim.errors import ConfigError
from neurosim.sweep import grid, job_id, load_records, raw_job_id, run_job, run_sweep, summarize

XOR_JOB = {"dataset": "rhw-xor", "layers": [2, 2, 1], "builder": "feedforward", "activation": "sigmoid",
           "output_activation": "sigmoid", "loss": "mse", "init": "uniform", "init_scale": 1.0, "epochs": 5,
           "optimizer": "sgd", "learning_rate": 2.0, "momentum": 0.9, "dtype": "float64", "align_samples": 0}


# ---------------------------------------------------------------- runners the workers import (module level)
def echo_runner(job: dict) -> dict:
    """A cheap stand-in for run_job: the record names the job and the worker's BLAS setting."""
    if job.get("fail"):
        raise ValueError(f"job {job['i']} fails on purpose")
    flag = job.get("interrupt_flag")
    if flag and os.path.exists(flag):
        raise KeyboardInterrupt
    if job.get("die_flag") and os.path.exists(job["die_flag"]):
        os._exit(3)  # a worker killed mid-job (OOM killer, node lost)
    return {"job_id": raw_job_id(job), "job": job, "status": "completed", "pid": os.getpid(),
            "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}


def _jobs(n, **extra):
    return [{"i": i, **extra} for i in range(n)]


# ---------------------------------------------------------------- job ids
def test_job_id_is_order_independent_and_distinguishes_jobs():
    a = {"rule": "fa", "seed": 1, "hyper": {"feedback_scale": 2.0, "feedback_init": "normal"}}
    b = {"hyper": {"feedback_init": "normal", "feedback_scale": 2.0}, "seed": 1, "rule": "fa"}
    assert job_id(a) == job_id(b)
    assert job_id(a) != job_id({**a, "seed": 2})
    assert len(job_id(a)) == 16 and int(job_id(a), 16) >= 0


def test_job_id_rejects_non_json_values():
    with pytest.raises(ValueError, match="JSON-serialisable"):
        job_id({"rule": "fa", "x": object()})


def test_grid_is_the_cartesian_product():
    jobs = grid({"dataset": "xor"}, rule=["fa", "dfa", "backprop"], seed=[0, 1])
    assert len(jobs) == 6 and len({job_id(j) for j in jobs}) == 6
    assert {(j["rule"], j["seed"]) for j in jobs} == {(r, s) for r in ("fa", "dfa", "backprop") for s in (0, 1)}


# ---------------------------------------------------------------- run_job
def test_run_job_matches_train_directly():
    """The record's numbers are those of neurosim.training.train with the same config (the oracle)."""
    from neurosim.network import Network
    from neurosim.data import rhw_xor
    from neurosim.training import TrainConfig, train

    rec = run_job({**XOR_JOB, "rule": "backprop", "seed": 3, "epochs": 20})
    net = Network.feedforward([2, 2, 1], activation="sigmoid", output_activation="sigmoid", loss="mse",
                              init="uniform", init_scale=1.0)
    direct = train(net, "backprop", rhw_xor(), TrainConfig(epochs=20, batch_size=4, optimizer="sgd",
                                                           learning_rate=2.0, momentum=0.9, seed=3,
                                                           dtype="float64", align_samples=0), progress=False)
    assert rec["status"] == "completed" and rec["epochs"] == 20
    # Same seed, same numbers (docs/design.md): exactly equal, not approximately.
    assert rec["curves"]["loss"][1:] == [e["loss"] for e in direct.history]
    assert rec["train_loss"] == direct.history[-1]["loss"]


def test_run_job_stop_criterion_is_the_first_epoch_it_holds():
    """With trace_outputs, the outputs at the reported epoch meet the criterion and the previous ones don't."""
    rec = run_job({**XOR_JOB, "rule": "backprop", "seed": 1, "epochs": 2000, "stop": "sign", "trace_outputs": True})
    assert rec["status"] == "stopped"
    k = rec["criterion_epochs"]["sign"]
    out = np.array(rec["outputs"])  # (epochs + 1, 4, 1): epoch 0 is the initial weights
    t = np.array([0, 1, 1, 0])[:, None]
    assert k == rec["epochs"] == len(out) - 1
    assert np.all(np.abs(out[k] - t) < 0.5)
    assert not any(np.all(np.abs(out[e] - t) < 0.5) for e in range(k))


def test_run_job_records_a_failure_instead_of_raising():
    rec = run_job({**XOR_JOB, "rule": "fa", "layers": [3, 2, 1]})  # valid spec, fails when it meets the data
    assert rec["status"] == "failed" and "features" in rec["message"] and "Traceback" in rec["error"]
    with pytest.raises(ConfigError, match="unknown rule 'no-such-rule'"):
        run_job({**XOR_JOB, "rule": "no-such-rule"})
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        run_job({**XOR_JOB, "rule": "backprop", "epocs": 3})  # a bad job fails before anything runs


def test_a_job_may_set_every_runspec_field():
    # A job with every RunSpec field set explicitly (to the sweep's values) runs.
    from neurosim.sweep import job_spec

    spec = job_spec({**XOR_JOB, "rule": "fa", "epochs": 2})
    full = {k: v for k, v in spec.to_dict()["training"].items()}
    full.update(spec.to_dict()["data"], **spec.to_dict().get("record", {}))
    full.update({k: v for k, v in spec.to_dict()["network"].items()})
    full["dataset_options"] = full.pop("options", {})
    rec = run_job({"rule": "fa", **full})
    assert rec["status"] == "completed", rec.get("message")
    assert rec["job_id"] == spec.id()


# ---------------------------------------------------------------- local sweeps
def test_sweep_writes_every_job_and_resumes_only_the_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "8")
    jobs = _jobs(5)
    first = run_sweep(jobs, tmp_path, workers=2, runner=echo_runner, id_of=raw_job_id, progress=False)
    # Workers run with one BLAS thread; this process's environment is restored afterwards.
    assert {r["openblas"] for r in first.records} == {"1"}
    assert os.environ["OPENBLAS_NUM_THREADS"] == "8"
    ids = [raw_job_id(j) for j in jobs]
    assert sorted(first.ran) == sorted(ids) and not first.skipped and not first.missing
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(ids)
    assert len({r["pid"] for r in first.records}) <= 2  # at most `workers` processes
    (tmp_path / f"{ids[3]}.json").unlink()  # a lost result
    second = run_sweep(jobs, tmp_path, workers=2, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert second.ran == [ids[3]] and sorted(second.skipped) == sorted(set(ids) - {ids[3]})
    assert [r["job_id"] for r in second.records] == ids  # job order
    # Finished records are not rewritten on resume.
    assert {r["pid"] for r in second.records if r["job_id"] != ids[3]} <= {r["pid"] for r in first.records}


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    jobs = [{"i": 0}, {"i": 1, "fail": True}, {"i": 2}]
    res = run_sweep(jobs, tmp_path, workers=1, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert [r["status"] for r in res.records] == ["completed", "failed", "completed"]
    assert "fails on purpose" in res.failed[0]["message"]
    kept = run_sweep(jobs, tmp_path, workers=1, runner=echo_runner, id_of=raw_job_id, progress=False,
                     retry_failed=False)
    assert kept.ran == []  # a failure is a finished job when told to keep it ...
    for k in range(2):  # ... and is retried by default, its old record kept (never overwritten)
        retry = run_sweep(jobs, tmp_path, workers=0, runner=echo_runner, id_of=raw_job_id, progress=False)
        assert retry.ran == [raw_job_id(jobs[1])]
        kept_files = sorted(p.name for p in (tmp_path / "superseded").iterdir())
        assert kept_files == [f"{raw_job_id(jobs[1])}.{i}.json" for i in range(k + 1)]
    assert all(json.loads(p.read_text())["status"] == "failed" for p in (tmp_path / "superseded").iterdir())


def test_an_interrupted_sweep_keeps_finished_jobs_and_resumes(tmp_path):
    flag = tmp_path / "interrupt"
    flag.touch()
    out = tmp_path / "runs"
    jobs = _jobs(3) + [{"i": 3, "interrupt_flag": str(flag)}] + _jobs(4, batch="late")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(jobs, out, workers=2, runner=echo_runner, id_of=raw_job_id, progress=False)
    written = {p.stem for p in out.glob("*.json")}
    assert raw_job_id(jobs[3]) not in written  # an interrupted job is not a finished one
    assert written <= {raw_job_id(j) for j in jobs}
    for path in out.glob("*.json"):  # every file on disk is a whole record (atomic writes)
        assert json.loads(path.read_text())["status"] == "completed"
    flag.unlink()
    res = run_sweep(jobs, out, workers=2, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert sorted(res.ran) == sorted({raw_job_id(j) for j in jobs} - written)  # exactly the missing ones
    assert len(res.records) == len(jobs) and not res.missing


def test_a_dead_worker_loses_only_unfinished_jobs(tmp_path):
    flag = tmp_path / "die"
    flag.touch()
    out = tmp_path / "runs"
    jobs = [{"i": 0}, {"i": 1, "die_flag": str(flag)}, {"i": 2}]
    res = run_sweep(jobs, out, workers=1, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert raw_job_id(jobs[0]) in res.ran and raw_job_id(jobs[1]) in res.missing
    flag.unlink()
    again = run_sweep(jobs, out, workers=1, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert sorted(again.ran) == sorted(res.missing) and not again.missing


def test_sweep_with_run_job_in_processes_and_summary(tmp_path):
    jobs = grid({**XOR_JOB, "epochs": 3}, rule=["backprop", "fa"], seed=[0, 1])
    res = run_sweep(jobs, tmp_path, workers=2, progress=False)
    assert [r["status"] for r in res.records] == ["completed"] * 4
    assert len(load_records(tmp_path)) == 4
    rows = {r["rule"]: r for r in summarize(res.records, by=("rule",), metric="train_loss")}
    for rule in ("backprop", "fa"):
        values = [r["train_loss"] for r in res.records if r["job"]["rule"] == rule]
        assert rows[rule]["n"] == 2
        assert rows[rule]["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert rows[rule]["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)


# ---------------------------------------------------------------- dask.distributed
def test_sweep_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed is not installed "
                                      "(pip install 'dask[distributed]')")
    # the last job fails inside training (a data set that does not fit the layers)
    jobs = grid({**XOR_JOB, "epochs": 3}, rule=["backprop", "fa"], seed=[0]) + [{**XOR_JOB, "rule": "fa",
                                                                                   "layers": [3, 2, 1]}]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        res = run_sweep(jobs, tmp_path, scheduler=cl.scheduler_address, progress=False)
        assert [r["status"] for r in res.records] == ["completed", "completed", "failed"]
        (tmp_path / f"{job_id(jobs[0])}.json").unlink()
        again = run_sweep(jobs, tmp_path, scheduler=cl.scheduler_address, progress=False, retry_failed=False)
    assert again.ran == [job_id(jobs[0])]
    # The cluster computes the same numbers as this process (same seed, same numbers).
    assert again.records[0]["curves"]["loss"] == run_job(jobs[0])["curves"]["loss"]


def test_unknown_job_key_names_the_known_ones(tmp_path):
    """A bad job fails the sweep before any job runs (nothing is written)."""
    with pytest.raises(ConfigError, match="Did you mean 'seed'"):
        run_sweep([{"rule": "fa"}, {"rule": "fa", "seeed": 1}], tmp_path, workers=0, progress=False)
    assert list(Path(tmp_path).iterdir()) == []


def test_results_are_written_as_json_files(tmp_path):
    run_sweep(_jobs(1), tmp_path, workers=0, runner=echo_runner, id_of=raw_job_id, progress=False)
    assert [p.suffix for p in Path(tmp_path).iterdir()] == [".json"]


def test_stop_criterion_uses_the_rules_own_prediction():
    """EP predicts with the free-phase fixed point, not the feed-forward pass: the traced outputs
    are EquilibriumPropagation.predict at the learned weights (the oracle), and differ from forward()."""
    from neurosim.network import Network
    from neurosim.reference import forward
    from neurosim.rules import get_rule
    from neurosim.data import rhw_xor

    rec = run_job({**XOR_JOB, "rule": "ep", "seed": 0, "epochs": 3, "trace_outputs": True, "save_params": True})
    assert rec["status"] == "completed" and rec["criterion_readout"] == "rule.predict"
    rule = get_rule("ep")
    net = rule.network(Network.feedforward([2, 2, 1], activation="sigmoid", output_activation="sigmoid", loss="mse",
                                           init="uniform", init_scale=1.0))
    params = {k: np.array(v) for k, v in rec["params"].items()}
    x = rhw_xor().x_train.astype(float)
    expected = rule.predict(net, params, x)
    # Outputs are stored rounded to 5 decimals.
    np.testing.assert_allclose(np.array(rec["outputs"][-1]), expected, atol=6e-6)
    assert np.max(np.abs(forward(net, params, x).output - expected)) > 1e-4


def test_classification_error_of_a_rule_with_its_own_readout():
    """For EP the recorded test error is that of EquilibriumPropagation.predict (recomputed here)."""
    from neurosim.rules import get_rule
    from neurosim.data import load_dataset as load_task

    job = {"rule": "ep", "seed": 0, "dataset": "xor", "layers": [2, 3, 2], "epochs": 2, "batch_size": 4,
           "save_params": True, "dtype": "float64", "align_samples": 0}
    rec = run_job(job)
    assert rec["error_readout"] == "rule.predict" and "test_error_feedforward" in rec
    rule = get_rule("ep")
    net = rule.network([2, 3, 2])
    data = load_task("xor")
    out = rule.predict(net, {k: np.array(v) for k, v in rec["params"].items()}, data.x_test.astype(float))
    assert rec["test_error"] == pytest.approx(np.mean(np.argmax(out, axis=1) != data.y_test), abs=0)


# ---------------------------------------------------------------- weight decay, bias init, criteria, alignment
def test_weight_decay_is_the_gradient_of_the_l2_penalty():
    """Oracle: central finite differences of L + λ/2 Σ W² (weights only) -- one full-batch SGD step of a
    weight-decay job (lr η, no momentum) must move the weights by -η times that gradient; biases carry
    no penalty.  float64, eps 1e-6: FD error ~1e-9."""
    from neurosim.reference import loss_of
    from neurosim.sweep import job_spec
    from neurosim.data import load_dataset as load_task

    lam, lr = 0.05, 0.5
    job = {**XOR_JOB, "rule": "backprop", "epochs": 1, "learning_rate": lr, "momentum": 0.0, "weight_decay": lam,
           "save_params": True, "seed": 3}
    spec = job_spec(job)
    data = load_task("rhw-xor")
    rule = spec.make_rule()
    net = spec.build_network(data, rule)
    params = rule.init_params(net, 3, "float64")
    x, t = data.x_train.astype(np.float64), data.targets("train").astype(np.float64)
    after = {k: np.array(v) for k, v in run_job(job)["params"].items()}

    def objective(p):
        return loss_of(net, p, x, t) + lam / 2 * sum(np.sum(v ** 2) for k, v in p.items() if not k.endswith(".bias"))

    eps = 1e-6
    for key, value in params.items():
        fd = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][i] += eps
            minus[key][i] -= eps
            fd[i] = (objective(plus) - objective(minus)) / (2 * eps)
        np.testing.assert_allclose(after[key], value - lr * fd, atol=1e-7, err_msg=key)
    # And the penalty really changed the update (the test could not pass with λ ignored).
    plain = {k: np.array(v) for k, v in run_job({**job, "weight_decay": 0.0})["params"].items()}
    np.testing.assert_allclose(after["input->hidden1"] - plain["input->hidden1"],
                               -lr * lam * params["input->hidden1"], atol=1e-12)


def test_bias_init_scale_draws_uniform_biases_and_keeps_the_weights():
    """With η = 1e-12 (η = 0 is refused) the saved parameters are the initial ones to ~1e-12:
    biases in [-s, s] and not all 0 (the default); weights equal to the same seed without the option."""
    job = {**XOR_JOB, "rule": "backprop", "epochs": 1, "learning_rate": 1e-12, "save_params": True}
    plain, drawn = run_job(job), run_job({**job, "bias_init_scale": 0.3})
    assert plain["status"] == drawn["status"] == "completed"
    for key in plain["params"]:
        a, b = np.array(plain["params"][key]), np.array(drawn["params"][key])
        if key.endswith(".bias"):
            assert np.all(np.abs(a) < 1e-10) and np.all(np.abs(b) <= 0.3 + 1e-10) and np.max(np.abs(b)) > 1e-3
        else:
            np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("bad", [{"weight_decay": -0.1}, {"weight_decay": 1.5}, {"weight_decay": True},
                                 {"bias_init_scale": -1.0}, {"stop": "tss"}])
def test_bad_new_job_keys_are_reported(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        run_job({**XOR_JOB, "rule": "backprop", **bad})


def test_criteria_thresholds():
    """sign: max |r - t| < 0.5; within_c: < c; tss_0.04: Σ (r - t)² < 0.04, checked at both sides of each edge."""
    from neurosim.sweep import _criteria

    t = np.array([[0.0], [1.0], [0.0], [1.0]])
    assert _criteria(t + [[0.49], [-0.3], [0], [0]], t) == {"sign": True, "within_0.2": False, "within_0.1": False,
                                                             "tss_0.04": False}
    assert _criteria(t + [[0.19], [0], [0], [0]], t)["within_0.2"] is True
    # Four errors of 0.099: every one within 0.1, but Σ e² = 0.0392 < 0.04; 0.11 each: 0.0484 and not within 0.1.
    assert _criteria(t + 0.099 * np.array([[1], [-1], [1], [-1]]), t) == dict.fromkeys(
        ("sign", "within_0.2", "within_0.1", "tss_0.04"), True)
    assert _criteria(t + 0.11 * np.array([[1], [-1], [1], [-1]]), t)["tss_0.04"] is False


def test_stop_all_waits_for_every_criterion():
    rec = run_job({**XOR_JOB, "rule": "backprop", "epochs": 3000, "stop": "all", "learning_rate": 4.0, "seed": 1})
    firsts = rec["criterion_epochs"]
    assert rec["status"] == "stopped" and all(v is not None for v in firsts.values())
    assert rec["epochs"] == max(firsts.values())


def test_feedback_alignment_output_layer_is_exact_and_recorded_per_projection():
    """Theory: FA's last-layer update is the delta rule, identical to backprop's (cosine 1); the hidden
    layer's is not (|cos| < 1 somewhere), so the per-projection curve distinguishes them."""
    rec = run_job({**XOR_JOB, "rule": "fa", "epochs": 20, "align_samples": 4})
    proj = rec["curves"]["alignment_projections"]
    assert proj["hidden1->output"][0] is None and len(proj["hidden1->output"]) == 21
    np.testing.assert_allclose(proj["hidden1->output"][1:], 1.0, atol=1e-9)
    assert min(abs(c) for c in proj["input->hidden1"][1:]) < 0.999


def test_killing_the_sweep_kills_its_workers(tmp_path):
    """SIGKILL of the sweep's process: its local workers end within seconds (they used to run on)."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "sleepy.py").write_text(
        "import os, time\n"
        "def runner(job):\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'pid{{job[\"i\"]}}'), 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "    return {'job_id': 'x'}\n")
    script = ("import sys\nsys.path.insert(0, %r)\nimport sleepy\nfrom neurosim.sweep import run_sweep, raw_job_id\n"
              "run_sweep([{'i': 0}, {'i': 1}], %r, workers=2, runner=sleepy.runner, id_of=raw_job_id, progress=False)\n"
              % (str(tmp_path), str(tmp_path / "out")))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(tmp_path)})
    deadline = time.time() + 60
    while time.time() < deadline and not all((tmp_path / f"pid{i}").exists() for i in range(2)):
        time.sleep(0.2)
    pids = [int((tmp_path / f"pid{i}").read_text()) for i in range(2)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie waiting for a reaper is dead too
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return True

    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(alive(p) for p in pids), "workers outlived the sweep"

"""Resumable training (neurosim.checkpoint): a run stopped after any finished epoch and started
again from its checkpoint ends exactly where the uninterrupted run ends.

Oracle: the uninterrupted run itself, same seed -- parameters, history and the rule's random
draws must agree bit for bit (same process, same array library), so a checkpoint that forgot
any part of the state (the optimiser's moments, the batch-order generator, a stochastic rule's
generator, the initial loss the divergence test compares with) fails here.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import neurosim.checkpoint as checkpoint
import neurosim.training as training
from neurosim.checkpoint import decode_tree, encode_tree, load_checkpoint
from neurosim.data import load_dataset
from neurosim.errors import ConfigError, DataError
from neurosim.network import Network
from neurosim.randomness import RngState
from neurosim.rules import get_rule
from neurosim.sweep import load_records, partial_dir, run_sweep
from neurosim.training import TrainConfig, train

TIMING = ("seconds", "train_seconds")


def digits():
    return load_dataset("digits", seed=0, n_train=300, n_test=100)


def strip(history):
    return [{k: v for k, v in e.items() if k not in TIMING} for e in history]


def same_run(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class Stop(Exception):
    pass


def interrupted_then_resumed(rule_name, config, folder, stop_after, **hyper):
    """Train with a checkpoint, Ctrl-C after epoch ``stop_after``, then the same call again."""
    data = digits()
    net = Network.feedforward([64, 20, 10])

    def ctrl_c(entry):
        if entry["epoch"] == stop_after:
            raise KeyboardInterrupt

    first = train(net, get_rule(rule_name, **hyper), data, config, checkpoint_dir=folder, callback=ctrl_c,
                  checkpoint_every=0)
    assert first.status == "interrupted" and first.epochs_completed == stop_after
    return train(net, get_rule(rule_name, **hyper), data, config, checkpoint_dir=folder)


@pytest.mark.parametrize("rule, optimizer, hyper", [("fa", "adam", {}), ("backprop", "sgd", {}),
                                                     ("agrel", "adam", {}),  # draws actions from its state
                                                     ("ep", "adam", {"beta": 0.1, "nudging": "random-sign",
                                                                     "max_steps": 20, "tolerance": 0.0})])
def test_a_resumed_run_is_the_uninterrupted_run(tmp_path, rule, optimizer, hyper):
    config = TrainConfig(epochs=4, batch_size=32, optimizer=optimizer, learning_rate=0.01, seed=3,
                         dtype="float64", align_samples=16)
    whole = train(Network.feedforward([64, 20, 10]), get_rule(rule, **hyper), digits(), config)
    resumed = interrupted_then_resumed(rule, config, tmp_path / "ck", 2, **hyper)
    assert resumed.status == "completed" and resumed.resumed_after == [2]
    same_run(resumed.params, whole.params)
    assert strip(resumed.history) == strip(whole.history)
    assert resumed.initial_loss == whole.initial_loss
    assert resumed.seconds >= resumed.seconds_before_resume > 0


def test_a_resumed_torch_run_is_the_uninterrupted_torch_run(tmp_path):
    """The checkpoint holds numpy arrays; resumed on PyTorch tensors the run is the same run."""
    pytest.importorskip("torch")
    config = TrainConfig(epochs=3, batch_size=32, learning_rate=0.01, seed=2, dtype="float64", align_samples=0,
                         array="torch")
    whole = train(Network.feedforward([64, 20, 10]), get_rule("fa"), digits(), config)
    resumed = interrupted_then_resumed("fa", config, tmp_path / "ck", 1)
    assert resumed.resumed_after == [1] and resumed.resumed_code[0]["array"] == "torch"
    same_run(resumed.params, whole.params)
    assert strip(resumed.history) == strip(whole.history)


def test_resuming_twice_and_extending_a_finished_run(tmp_path):
    """Two interruptions, then a finished 3-epoch run extended to 5 (constant learning rate)."""
    data, net = digits(), Network.feedforward([64, 20, 10])
    base = dict(batch_size=50, learning_rate=0.01, seed=1, dtype="float64", align_samples=0)
    whole = train(net, "fa", data, TrainConfig(epochs=5, **base))
    folder = tmp_path / "ck"
    stops = iter([1, 2])
    stop = next(stops)

    def ctrl_c(entry):
        if entry["epoch"] == stop:
            raise KeyboardInterrupt

    assert train(net, "fa", data, TrainConfig(epochs=3, **base), checkpoint_dir=folder,
                 callback=ctrl_c, checkpoint_every=0).epochs_completed == 1
    stop = next(stops)
    assert train(net, "fa", data, TrainConfig(epochs=3, **base), checkpoint_dir=folder,
                 callback=ctrl_c, checkpoint_every=0).epochs_completed == 2
    three = train(net, "fa", data, TrainConfig(epochs=3, **base), checkpoint_dir=folder)
    assert three.status == "completed" and three.resumed_after == [1, 2]
    five = train(net, "fa", data, TrainConfig(epochs=5, **base), checkpoint_dir=folder)
    assert five.resumed_after == [1, 2, 3] and five.epochs_completed == 5
    same_run(five.params, whole.params)
    assert strip(five.history) == strip(whole.history)
    assert five.summary()["resumed_after"] == [1, 2, 3]


def test_checkpoints_are_spaced_in_time_and_the_last_epoch_always_has_one(tmp_path):
    """Millisecond epochs must not pay a checkpoint each: with the default spacing (60 s) a run
    cut off after epoch 2 left none (its rerun starts over), a finished one has its last epoch's."""
    data, net = digits(), Network.feedforward([64, 20, 10])
    config = TrainConfig(epochs=4, batch_size=50, seed=0, align_samples=0)

    def ctrl_c(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt

    assert train(net, "fa", data, config, checkpoint_dir=tmp_path, callback=ctrl_c).status == "interrupted"
    assert load_checkpoint(tmp_path) is None
    done = train(net, "fa", data, config, checkpoint_dir=tmp_path)
    assert done.resumed_after == [] and load_checkpoint(tmp_path)["epoch"] == 4


def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(tmp_path):
    data, net = digits(), Network.feedforward([64, 20, 10])
    config = TrainConfig(epochs=1, batch_size=50, seed=0, align_samples=0)
    train(net, "fa", data, config, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="belongs to another run \\(different: config \\(seed 0 -> 1\\)\\)"):
        train(net, "fa", data, TrainConfig(epochs=2, batch_size=50, seed=1, align_samples=0), checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="different: rule \\('fa' -> 'backprop'\\); network\\)"):
        train(net, "backprop", data, config, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="different: data\\)"):
        train(net, "fa", load_dataset("digits", seed=1, n_train=300, n_test=100), config, checkpoint_dir=tmp_path)
    # a cosine schedule depends on the number of epochs: that run cannot be extended
    cosine = TrainConfig(epochs=1, batch_size=50, seed=0, align_samples=0, schedule="cosine")
    train(net, "fa", data, cosine, checkpoint_dir=tmp_path / "cos")
    with pytest.raises(ConfigError, match="different: config \\(epochs 1 -> 2\\)"):
        train(net, "fa", data, TrainConfig(epochs=2, batch_size=50, seed=0, align_samples=0, schedule="cosine"),
              checkpoint_dir=tmp_path / "cos")


def test_a_damaged_checkpoint_is_one_line(tmp_path):
    data, net = digits(), Network.feedforward([64, 20, 10])
    config = TrainConfig(epochs=1, batch_size=50, seed=0, align_samples=0)
    train(net, "fa", data, config, checkpoint_dir=tmp_path)
    (npz,) = tmp_path.glob("checkpoint.*.npz")
    npz.write_bytes(npz.read_bytes()[:-20])
    with pytest.raises(DataError, match="checksum differs.*delete .*checkpoint.\\* to start the run over") as err:
        train(net, "fa", data, config, checkpoint_dir=tmp_path)
    assert "\n" not in str(err.value)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON record"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a neurosim checkpoint"):
        load_checkpoint(tmp_path)
    # the right header and nothing else is a damaged checkpoint, not "another run"
    (tmp_path / "checkpoint.json").write_text(json.dumps({"format": "neurosim-checkpoint", "version": 1}))
    with pytest.raises(DataError, match="missing 'fingerprint', 'settings', 'epoch'.*to start the run over"):
        train(net, "fa", data, config, checkpoint_dir=tmp_path)
    other = tmp_path / "dir"
    (other / "checkpoint.json").mkdir(parents=True)
    with pytest.raises(DataError, match="checkpoint.json': not a file; delete"):
        train(net, "fa", data, config, checkpoint_dir=other)


def test_state_trees_round_trip_and_refuse_what_they_cannot_store():
    rng = np.random.default_rng(4)
    rng.normal(size=3)
    state = {"rng": RngState.of(rng), "theta": np.arange(3.0), "step": 7, "started": False, "scale": np.float32(2.5),
             "pair": (1.5, [np.ones((2, 2), dtype=np.float32)]), "nothing": None, "inf": float("inf")}
    arrays: dict = {}
    tree = json.loads(json.dumps(encode_tree(state, arrays)))  # through JSON, as on disk
    back = decode_tree(tree, arrays)
    assert back["rng"] == state["rng"] and back["step"] == 7 and back["started"] is False
    assert back["inf"] == float("inf") and back["nothing"] is None and isinstance(back["pair"], tuple)
    np.testing.assert_array_equal(back["theta"], state["theta"])
    assert back["scale"].dtype == np.float32 and back["pair"][1][0].dtype == np.float32
    with pytest.raises(ConfigError, match="state\\['f'\\] is a function, which a checkpoint cannot store"):
        encode_tree({"f": lambda: 0}, {})
    with pytest.raises(DataError, match="malformed"):
        decode_tree({"t": "array"}, {})


def test_an_interrupted_sweep_job_goes_on_from_its_last_epoch(tmp_path, monkeypatch):
    """A sweep cut off in the middle of a job (Ctrl-C in its 3rd epoch) keeps its checkpoint;
    the same sweep run again finishes the job from epoch 2 and writes the record an
    uninterrupted sweep writes (errors, curves), saying where it resumed."""
    job = {"rule": "fa", "seed": 0, "dataset": "digits", "dataset_options": {"n_train": 300, "n_test": 100},
           "layers": [64, 20, 10], "epochs": 4, "batch_size": 32, "align_samples": 16}
    plain = run_sweep([job], tmp_path / "plain", workers=0, progress=False).records[0]
    real_align, calls = training.align, []

    def align_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the third epoch: its checkpoint was never written
            raise KeyboardInterrupt
        return real_align(*args, **kwargs)

    monkeypatch.setattr(training, "align", align_then_ctrl_c)
    monkeypatch.setattr(checkpoint, "CHECKPOINT_EVERY_S", 0.0)  # every epoch: these take milliseconds
    out = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep([job], out, workers=0, progress=False)
    jid = plain["job_id"]
    assert load_records(out) == [] and (partial_dir(out, jid) / "checkpoint.json").is_file()
    monkeypatch.setattr(training, "align", real_align)
    rec = run_sweep([job], out, workers=0, progress=False).records[0]
    assert rec["resumed_after"] == [2] and rec["status"] == "completed"
    assert not (out / "partial").exists()  # the record holds what it was for (partial/ goes once empty)
    for key in ("test_error", "train_error", "train_loss", "epochs"):
        assert rec[key] == plain[key], key
    assert rec["curves"] == plain["curves"]
    assert rec["seconds"] >= rec["seconds_before_resume"] > 0


def test_a_sweep_without_checkpoints_starts_over(tmp_path, monkeypatch):
    job = {"rule": "fa", "seed": 0, "dataset": "digits", "dataset_options": {"n_train": 200, "n_test": 50},
           "layers": [64, 10], "epochs": 2, "batch_size": 50, "align_samples": 0}
    rec = run_sweep([job], tmp_path, workers=0, progress=False, checkpoints=False).records[0]
    assert "resumed_after" not in rec and not (tmp_path / "partial").exists()


def test_a_checkpoint_past_the_epochs_asked_for_is_refused(tmp_path):
    data, net = digits(), Network.feedforward([64, 20, 10])
    train(net, "fa", data, TrainConfig(epochs=3, batch_size=50, align_samples=0), checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="is at epoch 3, past the 2 epochs asked for"):
        train(net, "fa", data, TrainConfig(epochs=2, batch_size=50, align_samples=0), checkpoint_dir=tmp_path)


def test_numbers_written_as_int_or_float_are_the_same_run(tmp_path):
    data, net = digits(), Network.feedforward([64, 20, 10])
    train(net, "fa", data, TrainConfig(epochs=1, batch_size=50, learning_rate=1, align_samples=0),
          checkpoint_dir=tmp_path)
    more = train(net, "fa", data, TrainConfig(epochs=2, batch_size=50, learning_rate=1.0, align_samples=0),
                 checkpoint_dir=tmp_path)
    assert more.resumed_after == [1]


def test_a_run_resumed_under_other_code_says_so(tmp_path, monkeypatch):
    """A long run outlives commits: allowed, warned, and recorded per resumption."""
    data, net = digits(), Network.feedforward([64, 20, 10])
    train(net, "fa", data, TrainConfig(epochs=1, batch_size=50, align_samples=0), checkpoint_dir=tmp_path)
    monkeypatch.setattr(checkpoint, "_code", lambda made_by: {"neurosim": "9.9", "git_sha": "f" * 40})
    with pytest.warns(RuntimeWarning, match="written by neurosim .* this run goes on with neurosim 9.9 at commit f+ "
                                            "on numpy/cpu"):
        more = train(net, "fa", data, TrainConfig(epochs=2, batch_size=50, align_samples=0), checkpoint_dir=tmp_path)
    assert more.resumed_code[0]["git_sha"] != "f" * 40 and more.summary()["resumed_code"] == more.resumed_code


class OpaqueState(get_rule("fa").__class__):
    """FA whose state holds an object a checkpoint cannot store."""

    name = "fa-opaque-test"

    def init(self, network, params, seed=0):
        return {"generator": np.random.default_rng(seed)}


class LateOpaqueState(get_rule("fa").__class__):
    """FA whose state gains an object a checkpoint cannot store after the first batch."""

    name = "fa-late-opaque-test"

    def updates(self, network, params, state, x, target):
        dw, state, aux = super().updates(network, params, state, x, target)
        return dw, {**state, "generator": np.random.default_rng(0)}, aux


def test_a_state_that_becomes_unstorable_mid_run_turns_checkpoints_off(tmp_path):
    data, net = digits(), Network.feedforward([64, 20, 10])
    with pytest.warns(RuntimeWarning, match="could not be written \\(ConfigError.*is a Generator"):
        res = train(net, LateOpaqueState(), data, TrainConfig(epochs=2, batch_size=50, align_samples=0),
                    checkpoint_dir=tmp_path, checkpoint_every=0)
    assert res.status == "completed" and res.epochs_completed == 2 and load_checkpoint(tmp_path) is None


def test_what_cannot_be_checkpointed_turns_checkpoints_off_and_the_run_goes_on(tmp_path, monkeypatch):
    data, net = digits(), Network.feedforward([64, 20, 10])
    config = TrainConfig(epochs=2, batch_size=50, align_samples=0)
    with pytest.warns(RuntimeWarning, match="state\\['generator'\\] is a Generator.*goes on without checkpoints"):
        res = train(net, OpaqueState(), data, config, checkpoint_dir=tmp_path / "a")
    assert res.status == "completed" and not (tmp_path / "a" / "checkpoint.json").exists()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_checkpoint", full_disk)
    with pytest.warns(RuntimeWarning, match="could not be written \\(OSError.*No space left"):
        res = train(net, "fa", data, config, checkpoint_dir=tmp_path / "b", checkpoint_every=0)
    assert res.status == "completed" and res.epochs_completed == 2


def test_a_sweep_starts_a_job_over_when_its_partial_checkpoint_is_damaged(tmp_path):
    job = {"rule": "fa", "seed": 0, "dataset": "digits", "dataset_options": {"n_train": 200, "n_test": 50},
           "layers": [64, 10], "epochs": 2, "batch_size": 50, "align_samples": 0}
    plain = run_sweep([job], tmp_path / "plain", workers=0, progress=False).records[0]
    folder = partial_dir(tmp_path / "sweep", plain["job_id"])
    folder.mkdir(parents=True)
    (folder / "checkpoint.json").write_text("{broken")
    with pytest.warns(RuntimeWarning, match="unreadable.*starting over instead"):
        rec = run_sweep([job], tmp_path / "sweep", workers=0, progress=False).records[0]
    assert rec["status"] == "completed" and "resumed_after" not in rec and rec["test_error"] == plain["test_error"]

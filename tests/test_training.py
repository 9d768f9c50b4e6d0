"""Training loop: optimisers against closed forms, learning, determinism, interruption, records."""
import json

import numpy as np
import pytest

from neurosim import Network
from neurosim.data import load_dataset
from neurosim.errors import ConfigError
from neurosim.results import load_run
from neurosim.training import SGD, Adam, TrainConfig, train


def test_sgd_momentum_closed_form():
    """v1 = d, v2 = mu d + d: after two steps W = W0 + lr (2 + mu) d."""
    w = {"w": np.zeros(3)}
    d = np.array([1.0, -2.0, 0.5])
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.step(w, {"w": d})
    opt.step(w, {"w": d})
    np.testing.assert_allclose(w["w"], 0.1 * (2 + 0.9) * d, rtol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    """Bias-corrected m/sqrt(v) = g/|g| on step 1, so W moves by lr toward dW."""
    w = {"w": np.zeros(3)}
    Adam(learning_rate=0.01).step(w, {"w": np.array([3.0, -1.0, 5e2])})
    # eps = 1e-8 against |g| sqrt(1 - beta2) >= 0.03 perturbs this by < 1e-6 relative
    np.testing.assert_allclose(w["w"], [0.01, -0.01, 0.01], rtol=1e-6)


@pytest.mark.parametrize("make", [lambda scales: SGD(learning_rate=0.1, momentum=0.0, scales=scales),
                                  lambda scales: Adam(learning_rate=0.01, scales=scales)])
def test_per_key_learning_rate_scales(make):
    """A key's scale multiplies its step exactly (SGD: lr s d; Adam's first step: lr s sign(d))."""
    d = np.array([3.0, -1.0, 0.5])
    plain, scaled = {"a": np.zeros(3), "b": np.zeros(3)}, {"a": np.zeros(3), "b": np.zeros(3)}
    make(None).step(plain, {"a": d, "b": d})
    make({"a": 0.25, "b": 0.0}).step(scaled, {"a": d, "b": d})
    np.testing.assert_allclose(scaled["a"], 0.25 * plain["a"], rtol=1e-12)
    np.testing.assert_array_equal(scaled["b"], 0.0)
    assert np.all(plain["b"] != 0)


def test_bad_learning_rate_scale_is_one_line():
    from neurosim.training import make_optimizer

    with pytest.raises(ConfigError, match="learning-rate scale of 'w'"):
        make_optimizer("adam", 1e-3, scales={"w": float("nan")})


def test_adam_minimises_a_quadratic():
    """f(w) = 1/2 ||w - c||^2: dW = c - w, Adam converges to c."""
    c = np.array([1.0, -3.0])
    w = {"w": np.zeros(2)}
    opt = Adam(learning_rate=0.05)
    for _ in range(2000):
        opt.step(w, {"w": c - w["w"]})
    np.testing.assert_allclose(w["w"], c, atol=1e-3)


def test_backprop_learns_xor():
    data = load_dataset("xor")
    net = Network.feedforward([2, 4, 2], activation="tanh", loss="cross_entropy")
    res = train(net, "backprop", data, TrainConfig(epochs=300, batch_size=4, learning_rate=0.05,
                                                      dtype="float64", align_samples=0), progress=False)
    assert res.status == "completed" and res.train_error == 0.0
    assert res.history[-1]["loss"] < 0.1 * res.history[0]["loss"]


def test_same_seed_same_numbers_and_seed_matters():
    data = load_dataset("digits", n_train=300, n_test=100)
    net = Network.feedforward([64, 16, 10], loss="cross_entropy")
    cfg = TrainConfig(epochs=2, batch_size=32, seed=7)
    a, b = (train(net, "fa", data, cfg, progress=False) for _ in range(2))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = train(net, "fa", data, TrainConfig(epochs=2, batch_size=32, seed=8), progress=False)
    assert not np.array_equal(a.params["input->hidden1"], c.params["input->hidden1"])


def test_network_is_not_mutated_and_params_not_modified():
    data = load_dataset("digits", n_train=100, n_test=50)
    net = Network.feedforward([64, 8, 10], loss="cross_entropy")
    before = net.to_toml()
    from neurosim import init_params

    p0 = init_params(net, 0, dtype="float32")
    copy = {k: v.copy() for k, v in p0.items()}
    train(net, "backprop", data, TrainConfig(epochs=1), params=p0, progress=False)
    assert net.to_toml() == before
    for k in p0:
        np.testing.assert_array_equal(p0[k], copy[k])


def test_interrupt_keeps_finished_epochs(tmp_path):
    data = load_dataset("digits", n_train=200, n_test=50)
    net = Network.feedforward([64, 8, 10], loss="cross_entropy")

    def stop_after_two(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt

    res = train(net, "backprop", data, TrainConfig(epochs=5), out_dir=tmp_path, callback=stop_after_two,
                progress=False)
    assert res.status == "interrupted" and res.epochs_completed == 2
    record, arrays = load_run(tmp_path)
    assert record["status"] == "interrupted" and len(record["history"]) == 2
    assert set(arrays) == set(res.params)
    assert record["provenance"]["versions"]["numpy"] == np.__version__
    assert record["config"]["seed"] == 0


def test_divergence_is_reported_and_keeps_finished_epochs():
    data = load_dataset("digits", n_train=200, n_test=50)
    net = Network.feedforward([64, 32, 10], activation="relu", output_activation="relu", loss="mse")
    res = train(net, "backprop", data, TrainConfig(epochs=20, optimizer="sgd", learning_rate=1e6,
                                                     momentum=0.0), progress=False)
    assert res.status == "diverged" and any(w in res.message for w in ("non-finite", "loss became", "loss grew",
                                                                        "norm grew"))
    assert "learning rate" in res.message
    assert all(np.all(np.isfinite(v)) for v in res.params.values())


@pytest.mark.parametrize("clip_norm", [1e-3, 1e3])
def test_clip_norm_against_the_reference_gradient(clip_norm):
    """One full-batch SGD step (momentum 0) moves the parameters by lr * clip(-grad): the gradient
    from the reference backprop, rescaled to norm clip_norm only when it is longer."""
    from neurosim import init_params
    from neurosim.reference import backprop

    data = load_dataset("digits", n_train=64, n_test=32)
    net = Network.feedforward([64, 12, 10], loss="cross_entropy")
    p0 = init_params(net, 3, dtype="float64")
    lr = 0.5
    cfg = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", learning_rate=lr, momentum=0.0, dtype="float64",
                      align_samples=0, clip_norm=clip_norm)
    res = train(net, "backprop", data, cfg, params=p0, progress=False)
    g = backprop(net, p0, data.x_train, data.targets("train")).descent()
    norm = np.sqrt(sum(np.sum(v ** 2) for v in g.values()))
    assert 1e-3 < norm < 1e3   # so that the two settings are one clipped and one untouched step
    scale = min(1.0, clip_norm / norm)
    for k in p0:
        np.testing.assert_allclose(res.params[k] - p0[k], lr * scale * g[k], rtol=1e-9, atol=1e-12)
    assert res.history[0]["clipped"] == (1 if clip_norm < norm else 0)


def test_history_tracks_alignment_and_errors():
    data = load_dataset("digits", n_train=200, n_test=100)
    net = Network.feedforward([64, 16, 10], loss="cross_entropy")
    res = train(net, "backprop", data, TrainConfig(epochs=2, align_samples=64), progress=False)
    h = res.history[-1]
    assert h["alignment"]["global"] == pytest.approx(1.0, abs=1e-6)  # backprop vs itself (float32 noise)
    assert 0 <= h["test_error"] <= 1 and 0 <= h["train_error"] <= 1
    json.dumps(res.summary(), allow_nan=False)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"optimizer": "adagrad"}, "optimizer"),
    ({"learning_rate": -1.0}, "learning rate"), ({"dtype": "float16"}, "dtype"), ({"seed": -3}, "seed"),
    ({"clip_norm": 0.0}, "clip_norm"), ({"clip_norm": float("nan")}, "clip_norm"), ({"clip_norm": True}, "clip_norm"),
])
def test_bad_config(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig(**kwargs)


def test_shape_mismatch_with_dataset():
    from neurosim.errors import ShapeError

    with pytest.raises(ShapeError, match="64 features"):
        train(Network.feedforward([784, 10]), "backprop", load_dataset("digits"), progress=False)


def test_an_alignment_oracle_that_fails_is_recorded_and_training_goes_on(monkeypatch):
    """A reference that cannot be computed (an oracle's relaxation that does not converge) is a
    failed *measurement*: the epoch keeps its losses and says why it has no alignment."""
    from neurosim import training
    from neurosim.errors import ConvergenceError

    def failing(*args, **kwargs):
        raise ConvergenceError("implicit oracle: the free phase did not settle")

    monkeypatch.setattr(training, "align", failing)
    data = load_dataset("digits", n_train=64, n_test=32)
    net = Network.feedforward([64, 8, 10], loss="cross_entropy")
    res = train(net, "backprop", data, TrainConfig(epochs=2, batch_size=32, align_samples=16), progress=False)
    assert res.status == "completed" and len(res.history) == 2
    for entry in res.history:
        assert "alignment" not in entry and "did not settle" in entry["alignment_failed"]
        assert entry["test_error"] is not None

"""Slow acceptance: EP trains Fashion-MNIST 784-500-10 as well as backprop at the same budget.

Set-up of ``experiments/ep_training.py`` on a subset: ``models/ep_fashion_mnist.toml`` (hard-sigmoid
hidden layer, softmax read-out, symmetric nudging beta = 0.2), 6,000 training / 2,000 test images,
3 epochs, SGD 0.1 without momentum, batch 32, float32, seed 0, the same initial weights and data
order for both rules.

Margin: measured once over seeds 0-4 (``/tmp`` script in the report; the numbers are in the
README): the test errors themselves spread from 18.5 % to 28.7 % across seeds (3 noisy SGD
epochs), but the *paired* difference EP - backprop stayed within +-0.2 percentage points (-0.2,
+0.2, -0.2, +0.1, +0.15), because with one hidden layer the free fixed point is the feed-forward
pass and EP's update is backprop's gradient up to the O(beta^2) error of symmetric nudging
(cosine ~0.999 during training).  The test allows 1 percentage point, 5x the largest paired
difference measured; a broken EP (a wrong sign, a stale nudged state) ends near chance (90 %).
"""
import os
from pathlib import Path

import numpy as np
import pytest

from neurosim import RunSpec, get_rule
from neurosim.data import load_dataset
from neurosim.training import TrainConfig, train

MARGIN = 0.01
CARD = Path(__file__).resolve().parents[1] / "models" / "ep_fashion_mnist.toml"
FASHION = "/usr/share/datasets/fashion-mnist"
# the data are an installable package, not part of the repository (as in test_acceptance_fashion.py)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.isdir(FASHION) and not os.environ.get("NEUROSIM_DATA"),
                                 reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")]


def test_ep_test_error_is_within_a_point_of_backprop_at_the_same_budget():
    card = RunSpec.load(CARD)
    data = load_dataset("fashion-mnist", n_train=6000, n_test=2000, seed=0)
    config = TrainConfig(epochs=3, batch_size=32, optimizer="sgd", learning_rate=0.1, momentum=0.0,
                         dtype="float32", align_samples=0, seed=0)
    ep = card.make_rule()
    assert ep.hyper["nudging"] == "symmetric" and ep.hyper["on_unconverged"] == "record"
    ep_run = train(card.network, ep, data, config, progress=False)
    bp_run = train(card.network, "backprop", data, config, progress=False)
    assert ep_run.status == "completed" and bp_run.status == "completed", ep_run.message
    assert ep_run.epochs_completed == bp_run.epochs_completed == 3
    # scored on the free fixed point (rule.predict), which here equals the feed-forward pass
    assert abs(ep_run.test_error - bp_run.test_error) <= MARGIN, (ep_run.test_error, bp_run.test_error)
    # and learning happened at all: chance is 90 %; every seed measured ended below 29 %
    assert ep_run.test_error < 0.35
    # every epoch's relaxation diagnostics are in the history, counted per epoch from the schedule:
    # 6,000 samples in batches of 32 are 188 batches, each a free and two nudged phases; with one
    # hidden layer the energy has one layer, so the free phase reaches its fixed point (the
    # feed-forward pass) in exactly one step, and a nudged phase takes at most its cap of 100; a
    # phase that stopped below the tolerance (1e-5) is not counted unconverged
    n_batches = -(-6000 // 32)
    stats = [entry["relaxation"] for entry in ep_run.history]
    assert len(stats) == 3
    for s in stats:
        assert s["phases"] == 3 * n_batches, s
        assert n_batches <= s["steps"] <= n_batches * (1 + 2 * 100), s
        assert 0 <= s["unconverged"] <= 2 * n_batches, s  # free phases always converge here
        assert s["unconverged"] > 0 or s["max_residual"] <= 1e-5, s
        assert np.isfinite(s["max_residual"])


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known defect: with two recurrent hidden layers (digits 64-64-64-10, defaults) one "
                          "update near a marginally stable free fixed point wrecks the weights; see README, EP "
                          "and experiments/ep_jumps.py")
def test_ep_digits_defaults_train_without_jumps():
    """Training a convergent rule should not lose more than 10 points of test error from one
    epoch to the next; measured: 8.9 % at epoch 7, 32 % at epoch 8 (seed 0).

    Diagnosis (``experiments/ep_jumps.py``): the test error is that of the weights (a float64
    relaxation to 1e-9 from the zero or the feed-forward state classifies identically), and the
    exact implicit gradient from the same start jumps too (6.7 -> 16.7 % at epoch 12); EP's
    batch 99 holds a sample whose free fixed point is nearly marginal (stability margin 0.006
    vs a median 0.17), where the implicit gradient is 416x the median and EP's beta = 0.001
    estimate is 18x too large again (cosine 0.74)."""
    rule = get_rule("ep")
    data = load_dataset("digits", seed=0)
    net = rule.network([64, 64, 64, 10])
    # no preset for ep: the base training set-up, Adam 1e-3
    result = train(net, rule, data, TrainConfig(epochs=10, seed=0, optimizer="adam", learning_rate=1e-3),
                   progress=False)
    errors = [e["test_error"] for e in result.history]
    assert result.status == "completed"
    assert max(b - a for a, b in zip(errors[:-1], errors[1:])) < 0.10, errors

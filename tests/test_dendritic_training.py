"""Acceptance: deep dendritic circuits learn (slow; ``-m slow``).

Two set-ups, both with two hidden layers, where the rules failed before the
``basal_baseline="free"`` / learning-rate fix (microcircuit 88 %, burstprop 67 % test error
on digits at the compare budget):

1. ``neurosim compare``'s budget on digits (64-64-64-10, 20 epochs, batch 32, each rule's
   ``models/presets/<rule>-compare.toml`` and ``rule.network(sizes)``, seed 0).  Measured (this file's
   set-up, float32): backprop 3.9 %, microcircuit 6.9 %, burstprop 6.7 % (FA on the same
   sigmoid/mse net at the same rate: 8.9 %).  Bound: 15 % for the dendritic rules -- chance
   is 90 %, and FA-level learning (the theory's limit with random top-down weights) sits far
   below it.
2. A Fashion-MNIST subset: 784-100-100-10 sigmoid/mse, 3,000 training / 1,000 test images
   (class-balanced, seed 0), Adam 2e-3, batch 32, 10 epochs, float32, init seeds 0, 1, 2.
   Each rule's worst seed must lie within ``MARGIN`` of backprop's mean over the same seeds
   (margin from the measured seed spread, see ``MARGIN``).
"""
import numpy as np
import pytest

from neurosim import Network, RunSpec
from neurosim.data import load_dataset
from neurosim.training import TrainConfig, train

pytestmark = pytest.mark.slow

FASHION = {"sizes": [784, 100, 100, 10], "n_train": 3000, "n_test": 1000, "epochs": 10, "learning_rate": 2e-3}


def build(name: str, sizes):
    """The rule with its compare preset and its network (backprop: the plain sigmoid/mse chain)."""
    rule = RunSpec.preset(name, "compare").make_rule()
    net = (Network.feedforward(list(sizes), activation="sigmoid", loss="mse") if name == "backprop"
           else rule.network(list(sizes)))
    return rule, rule.network(net)


def fashion_error(name: str, seed: int) -> float:
    """Test error of rule ``name`` on the Fashion subset, weights drawn with ``seed``."""
    data = load_dataset("fashion-mnist", n_train=FASHION["n_train"], n_test=FASHION["n_test"], seed=0)
    rule, net = build(name, FASHION["sizes"])
    config = TrainConfig(epochs=FASHION["epochs"], batch_size=32, learning_rate=FASHION["learning_rate"], seed=seed,
                         align_samples=0)
    result = train(net, rule, data, config, params=rule.init_params(net, seed), progress=False)
    assert result.status == "completed", result.message
    return result.test_error


@pytest.mark.parametrize("name", ["microcircuit", "burstprop"])
def test_compare_defaults_give_a_deep_circuit_that_learns_digits(name):
    spec = RunSpec.preset(name, "compare")
    data = load_dataset("digits", seed=0)
    rule = spec.make_rule()
    net = rule.network([data.n_features, 64, 64, data.n_classes])
    config = TrainConfig(epochs=20, batch_size=32, seed=0, optimizer=spec.optimizer,
                         learning_rate=spec.learning_rate, align_samples=0)
    result = train(net, rule, data, config, params=rule.init_params(net, 0), progress=False)
    assert result.status == "completed" and result.test_error < 0.15


# Margin over backprop's mean test error (same net, data, budget, seeds).  Measured (seeds 0, 1, 2):
# backprop 17.9 / 17.8 / 18.4 % (mean 18.0, sd 0.3); burstprop 21.4 / 19.7 / 19.8 % (sd 1.0);
# microcircuit 20.5 / 19.4 / 20.4 % (float64 relaxation; with the float32 one seed 0 reached 30.7 %).
# Worst gap 3.4 points (burstprop seed 0); the margin 5 points leaves >1.5 seed sd of headroom, and a rule stuck on
# the sigmoid/mse plateau (90 %) or learning at the float32 microcircuit's pace fails it.
MARGIN = 0.05


def test_deep_dendritic_rules_learn_fashion_mnist_near_backprop():
    seeds = (0, 1, 2)
    backprop = np.mean([fashion_error("backprop", s) for s in seeds])
    for name in ("microcircuit", "burstprop"):
        errors = np.array([fashion_error(name, s) for s in seeds])
        assert errors.max() < backprop + MARGIN, (name, errors, backprop)

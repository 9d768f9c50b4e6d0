"""Backprop, FA and DFA against the reference: exact limits and the registry.

Oracles: FA with B = W^T *is* backprop (Lillicrap et al. 2016); FA and DFA share
backprop's output-layer update; DFA with one hidden layer and B = W_out^T is backprop.
"""
import numpy as np
import pytest

from neurosim.alignment import align

from conftest import random_batch, random_params
from neurosim import Network, Projection, backprop, get_rule
from neurosim.errors import ConfigError, UnknownNameError
from neurosim.rules import list_rules, rule_class

NETS = [([5, 6, 4], "tanh", "mse"), ([6, 7, 5, 4, 3], "sigmoid", "cross_entropy"),
        ([4, 5, 5, 3], "relu", "cross_entropy")]


def _max_rel(dw, ref):
    return max(np.linalg.norm(dw[k] - ref[k]) / np.linalg.norm(ref[k]) for k in ref)


@pytest.mark.parametrize("sizes, act, loss", NETS)
def test_backprop_rule_is_minus_the_gradient(sizes, act, loss):
    rng = np.random.default_rng(0)
    net = Network.feedforward(sizes, activation=act, loss=loss)
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    dw = get_rule("backprop").step(net, params, x, t)
    grads = backprop(net, params, x, t).grads
    assert dw.keys() == grads.keys()
    for k in grads:
        np.testing.assert_array_equal(dw[k], -grads[k])


@pytest.mark.parametrize("sizes, act, loss", NETS)
def test_fa_with_transposed_feedback_equals_backprop(sizes, act, loss):
    rng = np.random.default_rng(1)
    fa = get_rule("fa")
    net = fa.network(Network.feedforward(sizes, activation=act, loss=loss))
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    for proj in net.select("feedback"):
        params[proj.name] = params[f"{proj.post}->{proj.pre}"].T.copy()  # B = W^T, by value
    ref = backprop(net, params, x, t).descent()
    assert _max_rel(fa.step(net, params, x, t), ref) < 1e-10
    # and by description: feedback tied_to the forward projection
    tied = Network.feedforward(sizes, activation=act, loss=loss)
    tied = tied.add(*[Projection(p.post, p.pre, name=f"{p.post}->{p.pre}:fa", kind="feedback", tied_to=p.name)
                      for p in tied.chain()[1:]])
    assert fa.network(tied) == tied  # nothing to add
    tparams = random_params(tied, rng)
    report = align(fa, tied, tparams, x, t)
    assert all(abs(r.cosine - 1) < 1e-10 and abs(r.norm_ratio - 1) < 1e-10 for r in report.projections)


@pytest.mark.parametrize("name", ["fa", "dfa"])
@pytest.mark.parametrize("sizes, act, loss", NETS)
def test_output_layer_update_equals_backprop(name, sizes, act, loss):
    rng = np.random.default_rng(2)
    rule = get_rule(name)
    net = rule.network(Network.feedforward(sizes, activation=act, loss=loss))
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    dw, ref = rule.step(net, params, x, t), backprop(net, params, x, t).descent()
    last = net.chain()[-1].name
    np.testing.assert_allclose(dw[last], ref[last], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw["output.bias"], ref["output.bias"], rtol=1e-12, atol=1e-15)
    # with random feedback the hidden updates differ: the comparison is not vacuous
    first = net.chain()[0].name
    assert np.linalg.norm(dw[first] - ref[first]) > 1e-3 * np.linalg.norm(ref[first])


def test_dfa_one_hidden_layer_with_transposed_feedback_is_backprop():
    rng = np.random.default_rng(3)
    dfa = get_rule("dfa")
    net = dfa.network(Network.feedforward([5, 6, 3], activation="tanh", loss="cross_entropy"))
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    params["output->hidden1:dfa"] = params["hidden1->output"].T.copy()
    assert _max_rel(dfa.step(net, params, x, t), backprop(net, params, x, t).descent()) < 1e-12


def test_prepare_adds_fixed_feedback_and_is_idempotent():
    fa, dfa = get_rule("fa"), get_rule("dfa")
    net = Network.feedforward([5, 4, 4, 3])
    a = fa.network(net)
    assert {p.name for p in a.select("feedback")} == {"output->hidden2:fa", "hidden2->hidden1:fa"}
    assert all(not p.plastic for p in a.select("feedback")) and fa.network(a) == a
    b = dfa.network(net)
    assert {(p.pre, p.post) for p in b.select("feedback")} == {("output", "hidden2"), ("output", "hidden1")}
    assert net.select("feedback") == ()  # the original description is untouched


def test_fa_training_brings_hidden_updates_below_90_degrees():
    """Lillicrap et al. 2016: the forward weights come to align with B, so the angle drops."""
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("digits")
    net = Network.feedforward([64, 64, 10], activation="tanh", loss="cross_entropy")
    res = train(net, "fa", data, TrainConfig(epochs=8, batch_size=32, seed=0, dtype="float64"), progress=False)
    angles = [h["alignment"]["projections"]["input->hidden1"] for h in res.history]
    first_angle = np.degrees(np.arccos(angles[0]))
    last_angle = np.degrees(np.arccos(angles[-1]))
    assert last_angle < 70, (first_angle, last_angle)
    assert res.test_error < 0.12


def test_registry():
    names = {r["name"] for r in list_rules()}
    assert {"backprop", "fa", "dfa"} <= names
    assert rule_class("bp") is rule_class("backprop")
    with pytest.raises(UnknownNameError, match="Did you mean 'dfa'"):
        get_rule("dfaa")
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'feedback_sclae'.*feedback_scale"):
        get_rule("fa", feedback_sclae=2.0)
    with pytest.raises(ConfigError, match="'feedback_scale' must be a number > 0"):
        get_rule("fa", feedback_scale=float("nan"))


def test_fa_needs_prepared_network():
    net = Network.feedforward([4, 3, 2])
    with pytest.raises(ConfigError, match=r"rule.network\(network\)"):
        get_rule("fa").step(net, random_params(net, np.random.default_rng(0)), np.ones((1, 4)), np.ones((1, 2)))

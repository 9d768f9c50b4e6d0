"""
Write your own rule, and test it against backprop
=================================================

A rule is configuration plus pure functions (:doc:`/design`, "The rule surface"). This page
writes one -- sign-symmetric feedback (Liao, Leibo & Poggio 2016): the error travels back
through :math:`\\operatorname{sign}(W)^\\top` instead of :math:`W^\\top` -- measures it with
:func:`neurosim.align`, and runs the template tests a new rule should pass: purity, and
equality with backprop in the limit where the theory says they are equal. The guide
:doc:`/write_your_own_rule` explains each part; the code below is the template.
"""

# %%
# The rule
# --------
# Hyper-parameters are a frozen dataclass of :func:`~neurosim.rules.param` fields (declared
# constraints, one error template); metadata is one :class:`~neurosim.rules.RuleInfo`;
# ``updates(network, params, state, x, t)`` returns ``(dW, state, aux)`` and modifies nothing.
# ``dW`` is the change the rule proposes, keyed like ``params``: ``-dL/dW`` for a perfect rule.
from dataclasses import dataclass

import numpy as np

import neurosim as ns
from neurosim.params import bias_key, weight
from neurosim.reference import check_batch, derivative, forward, output_delta
from neurosim.rules import Hyper, Rule, RuleInfo, param


@dataclass(frozen=True)
class SignSymmetryHyper(Hyper):
    feedback_gain: float = param(1.0, gt=0, doc="factor on the sign matrices (1: sign(W) exactly)")


class SignSymmetry(Rule):
    """Sign-symmetric feedback: backprop with :math:`\\operatorname{sign}(W)^\\top` as feedback.

    .. math:: \\delta_l = \\big(g\\,\\operatorname{sign}(W_{l+1})^\\top \\delta_{l+1}\\big) \\odot \\phi'(u_l),
              \\qquad \\Delta W_l = -\\langle \\delta_l r_{l-1}^\\top \\rangle

    Liao, Leibo & Poggio (2016). How important is weight symmetry in backpropagation? AAAI.
    """

    name = "sign-symmetry"
    family = "feedback_alignment"
    citation = "Liao, Leibo & Poggio (2016). How important is weight symmetry in backpropagation? AAAI."
    info = RuleInfo(reference="backprop")      # scored against the backprop oracle
    Hyper = SignSymmetryHyper

    def updates(self, network, params, state, x, target):
        x, t = check_batch(network, x, target)  # one-line errors for bad batches
        chain = network.chain()
        fp = forward(network, params, x)
        delta = {chain[-1].post: output_delta(network, fp, t)}
        for proj in reversed(chain[1:]):
            b = self.hyper.feedback_gain * np.sign(weight(network, params, proj))
            delta[proj.pre] = (delta[proj.post] @ b) * derivative(network.layer(proj.pre), fp)
        dw = {}
        for proj in chain:
            d = delta[proj.post] / -x.shape[0]
            dw[proj.name] = d.T @ fp.r[proj.pre]
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = d.sum(axis=0)
        return dw, state, {}


# %%
# Measure it
# ----------
# The rule needs no extra pathway, so the base class's ``network`` gives the feed-forward
# chain. An instance works without registration; ``@register`` (or an entry point, below) puts
# it in the registry so that ``neurosim rules``, ``align``, ``train`` and ``compare`` know it.
from neurosim.data import load_dataset

rule = SignSymmetry()
net = rule.network([64, 32, 32, 10])
params = rule.init_params(net, seed=0)
data = load_dataset("digits")
x, t = data.x_train[:256].astype(float), data.targets("train")[:256]
print(ns.align(rule, net, params, x, t).table())


# %%
# The template tests
# ------------------
# Copy these into your package's tests (pytest collects the ``test_`` functions). Each
# expectation comes from theory, not from what the code printed:
#
# * **purity**: ``updates`` modifies neither ``params`` nor the state, and is deterministic;
# * **the exact limit**: where the theory says the rule *is* backprop -- here, when every weight
#   is :math:`\pm 1`, :math:`\operatorname{sign}(W) = W` -- its update equals the backprop
#   oracle's descent direction to rounding (1e-10 in float64);
# * **the part that is always exact**: the output projection uses the true error, so its
#   update equals backprop's on any weights;
# * **bad input fails in one line** naming the field.
def _setup(seed=0):
    rule = SignSymmetry()
    net = rule.network([6, 5, 4, 3])
    params = rule.init_params(net, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (8, 6))
    t = np.eye(3)[rng.integers(0, 3, 8)]
    return rule, net, params, x, t


def test_updates_are_pure_and_deterministic():
    rule, net, params, x, t = _setup()
    before = {k: v.copy() for k, v in params.items()}
    state = rule.init(net, params, seed=0)
    dw1, _, _ = rule.updates(net, params, state, x, t)
    dw2, _, _ = rule.updates(net, params, state, x, t)
    assert all(np.array_equal(before[k], params[k]) for k in params)
    assert dw1.keys() == dw2.keys() and all(np.array_equal(dw1[k], dw2[k]) for k in dw1)
    assert all(dw1[k].shape == params[k].shape for k in dw1)


def test_equals_backprop_when_every_weight_is_plus_or_minus_one():
    rule, net, params, x, t = _setup()
    signs = {k: (np.sign(v) if not k.endswith(".bias") else v) for k, v in params.items()}
    dw = rule.step(net, signs, x, t)
    oracle = ns.backprop(net, signs, x, t).descent()
    for key, g in oracle.items():
        assert np.abs(dw[key] - g).max() <= 1e-10 * max(1.0, np.abs(g).max()), key
    assert ns.align(rule, net, signs, x, t).global_cosine > 1 - 1e-12


def test_output_projection_equals_backprop_on_any_weights():
    rule, net, params, x, t = _setup(seed=3)
    out = net.chain()[-1].name
    dw = rule.step(net, params, x, t)
    np.testing.assert_allclose(dw[out], ns.backprop(net, params, x, t).descent()[out], rtol=1e-12, atol=1e-15)


def test_bad_hyper_parameter_is_one_line():
    try:
        SignSymmetry(feedback_gain=-1.0)
    except ns.ConfigError as err:
        assert "feedback_gain" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("a negative feedback_gain was accepted")


for test in (test_updates_are_pure_and_deterministic, test_equals_backprop_when_every_weight_is_plus_or_minus_one,
             test_output_projection_equals_backprop_on_any_weights, test_bad_hyper_parameter_is_one_line):
    test()
    print("passed:", test.__name__)

# %%
# Registering it from your own package
# ------------------------------------
# In your package's ``setup.cfg`` (or the ``[project.entry-points."neurosim.rules"]`` table of
# ``pyproject.toml``)::
#
#     [options.entry_points]
#     neurosim.rules =
#         sign-symmetry = mypackage.rules:SignSymmetry
#
# After ``pip install``, ``neurosim rules`` lists it and ``neurosim align --rule sign-symmetry``,
# ``train`` and ``compare`` run it; a name already taken by a built-in rule is refused with a
# warning. neurosim's own conformance suite (``tests/test_conformance.py``) then applies to it
# too, when run in an environment where the plug-in is installed.

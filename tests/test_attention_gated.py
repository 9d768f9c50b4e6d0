"""AGREL and BrainProp against their theory (Roelfsema & van Ooyen 2005; Pozzi et al. 2020).

Oracles
-------
* the loss each rule optimises, written out here from the papers' definitions (not taken from
  the rule module) and differentiated by central finite differences of
  :func:`neurosim.reference.forward`; for AGREL also plain backprop of the network's own
  softmax cross-entropy;
* exact enumeration of the action distribution: the variance of the sampled update is known in
  closed form, so the error of an N-trial average must shrink as V / N;
* closed forms: the paper's piecewise RPE f(delta), the max-Boltzmann limits, and the
  (1 - eta*lambda) contraction of reciprocal feedback under SGD with decay.

Everything runs in float64 on small nets (seeds fixed below); finite differences use
eps = 1e-6 (truncation O(eps^2) ~ 1e-12 against rounding ~ 1e-16 / eps ~ 1e-10 relative).
"""
import json

import numpy as np
import pytest

from neurosim import Network, get_rule, init_params
from neurosim.alignment import AlignmentReport, cosine
from neurosim.errors import ConfigError
from neurosim.reference import backprop, forward, relative_error
from neurosim.training import SGD

RULES = ("agrel", "brainprop")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _paper_policy(name, q, epsilon=0.05, temperature=1.0):
    """Softmax (AGREL) or max-Boltzmann (BrainProp), written independently of the module."""
    if name == "agrel":
        return _softmax(q)
    greedy = np.eye(q.shape[1])[np.argmax(q, axis=1)]
    return (1 - epsilon) * greedy + epsilon * _softmax(q / temperature)


def _paper_loss(name, q, t, pi_frozen):
    """AGREL: softmax cross-entropy (one-hot t); BrainProp: sum_k sg(pi_k) (t_k - Q_k)^2 / 2."""
    if name == "agrel":
        return float(-np.mean(np.sum(t * np.log(_softmax(q)), axis=1)))
    return float(np.mean(np.sum(pi_frozen * 0.5 * (t - q) ** 2, axis=1)))


def _fd_descent(name, net, params, x, t, eps=1e-6):
    """-dL/dtheta of the paper loss by central differences, the policy frozen at theta."""
    pi0 = _paper_policy(name, forward(net, params, x).output)
    out = {}
    for key in params:
        if key not in {p.name for p in net.select("feedforward")} and not key.endswith(".bias"):
            continue
        flat = params[key].reshape(-1)
        g = np.zeros(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            lp = _paper_loss(name, forward(net, params, x).output, t, pi0)
            flat[i] = old - eps
            lm = _paper_loss(name, forward(net, params, x).output, t, pi0)
            flat[i] = old
            g[i] = (lp - lm) / (2 * eps)
        out[key] = -g.reshape(params[key].shape)
    return out


def _setup(name, sizes=(6, 5, 4), activation="tanh", output_activation="linear", seed=0, batch=7, **hyper):
    rule = get_rule(name, **hyper)
    loss = "cross_entropy" if name == "agrel" else "mse"
    net = rule.prepare(Network.feedforward(list(sizes), activation=activation,
                                           output_activation=output_activation, loss=loss))
    rng = np.random.default_rng(seed)
    params = init_params(net, rng)
    for key in params:
        if key.endswith(".bias"):
            params[key] = rng.normal(0, 0.3, params[key].shape)
    x = rng.normal(0, 1, (batch, sizes[0]))
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return rule, net, params, x, t


def _global(dw, ref):
    return AlignmentReport.compare(dw, ref, names=list(ref)).global_cosine


# ------------------------------------------------------------------ expected update = gradient
@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("sizes,activation,output_activation", [
    ((6, 5, 4), "tanh", "linear"),
    ((5, 4, 3, 4), "sigmoid", "linear"),
    ((5, 6, 3), "tanh", "sigmoid"),
])
def test_expected_update_is_the_finite_difference_gradient_of_the_rules_loss(name, sizes, activation,
                                                                             output_activation):
    rule, net, params, x, t = _setup(name, sizes, activation, output_activation)
    expected = rule.expected_updates(net, params, x, t)
    fd = _fd_descent(name, net, params, x, t)
    # float64 enumeration vs FD with eps 1e-6: agreement to ~1e-8 relative; cosine bound from the issue
    assert _global(expected, fd) > 0.9999
    for key in fd:
        assert relative_error(expected[key], fd[key]) < 1e-6, key


@pytest.mark.parametrize("name", RULES)
def test_reference_updates_is_the_finite_difference_gradient(name):
    rule, net, params, x, t = _setup(name, (5, 4, 3, 4), "tanh", "linear", seed=3)
    ref = rule.reference_updates(net, params, x, t)
    fd = _fd_descent(name, net, params, x, t)
    for key in fd:
        assert relative_error(ref[key], fd[key]) < 1e-6, key


def test_agrel_expected_update_is_backprop_of_softmax_cross_entropy():
    rule, net, params, x, t = _setup("agrel", (8, 6, 5), seed=1, batch=11)
    expected = rule.expected_updates(net, params, x, t)
    bp = backprop(net, params, x, t).descent()  # the network's own CE loss: an independent code path
    assert expected.keys() == bp.keys()
    for key in bp:
        np.testing.assert_allclose(expected[key], bp[key], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", RULES)
def test_align_reports_the_expected_update(name):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=2)
    report = rule.align(net, params, x, t)
    assert report.global_cosine > 0.9999
    assert all(row.norm_ratio == pytest.approx(1.0, rel=1e-8) for row in report.projections)
    assert report.extra["update"].startswith("expected")
    # one sampled trial per sample is a noisy estimate: never better than the expectation
    assert report.extra["sampled_global_cosine"] <= report.global_cosine + 1e-12


# ------------------------------------------------------------------ the three factors
def test_agrel_global_error_is_the_papers_expansive_rpe():
    rule = get_rule("agrel")
    q = np.array([[0.3, -1.0, 2.0], [0.0, 0.5, -0.5]])
    pi = _softmax(q)
    for actions in (np.array([2, 1]), np.array([0, 0])):
        for reward in (np.ones(2), np.zeros(2)):
            g = rule.global_error(q, pi, reward, actions)
            delta = 1 - pi[np.arange(2), actions]   # rewarded: delta = r - E[r] = 1 - pi_s
            paper = np.where(reward == 1, delta / (1 - delta), -1.0)
            np.testing.assert_allclose(g, paper, rtol=1e-12)


def test_brainprop_policy_limits_and_rpe():
    q = np.array([[0.2, 0.9, -0.3], [1.5, 1.0, 0.0]])
    greedy = get_rule("brainprop", epsilon=0.0).policy(q)
    np.testing.assert_array_equal(greedy, np.eye(3)[[1, 0]])
    boltzmann = get_rule("brainprop", epsilon=1.0, temperature=0.5).policy(q)
    np.testing.assert_allclose(boltzmann, _softmax(q / 0.5), rtol=1e-12)
    rule = get_rule("brainprop")
    np.testing.assert_allclose(rule.policy(q), _paper_policy("brainprop", q), rtol=1e-12)
    g = rule.global_error(q, rule.policy(q), np.array([1.0, 0.0]), np.array([1, 2]))
    np.testing.assert_allclose(g, [1 - 0.9, 0 - 0.0])


@pytest.mark.parametrize("name", RULES)
def test_only_the_selected_output_unit_learns(name):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=4, batch=1)
    dw = rule.sampled_updates(net, params, x, t)
    s = rule.last_actions_[0]
    w_out = dw["hidden1->output"]
    assert np.any(w_out[s] != 0)
    assert np.all(np.delete(w_out, s, axis=0) == 0)


def test_actions_follow_the_policy():
    rule = get_rule("agrel", seed=7)
    pi = np.tile([[0.1, 0.6, 0.3]], (40000, 1))
    counts = np.bincount(rule.sample_actions(pi), minlength=3)
    # multinomial: each count within 5 standard deviations of n * p (fails with prob < 1e-5)
    sd = np.sqrt(40000 * pi[0] * (1 - pi[0]))
    assert np.all(np.abs(counts - 40000 * pi[0]) < 5 * sd)


@pytest.mark.parametrize("name", RULES)
def test_same_seed_same_actions(name):
    rule_a, net, params, x, t = _setup(name, (6, 5, 4), batch=50)
    rule_b = get_rule(name)
    a = rule_a.sampled_updates(net, params, x, t)
    b = rule_b.sampled_updates(net, params, x, t)
    np.testing.assert_array_equal(rule_a.last_actions_, rule_b.last_actions_)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    other = get_rule(name, seed=1, epsilon=1.0) if name == "brainprop" else get_rule(name, seed=1)
    other.sampled_updates(net, params, x, t)
    assert not np.array_equal(other.last_actions_, rule_a.last_actions_)


# ------------------------------------------------------------------ sampled trials -> expectation
@pytest.mark.parametrize("name,hyper", [("agrel", {}), ("brainprop", {"epsilon": 0.5})])
def test_trial_average_error_shrinks_as_variance_over_n(name, hyper):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=5, batch=1, **hyper)
    expected = rule.expected_updates(net, params, x, t)
    pi = rule.policy(forward(net, params, x).output)[0]
    fp = forward(net, params, x)
    flat = [np.concatenate([v.ravel() for v in rule.tagged_updates(net, params, fp, t, np.array([a])).values()])
            for a in range(len(pi))]
    mean = pi @ np.array(flat)
    np.testing.assert_allclose(mean, np.concatenate([v.ravel() for v in expected.values()]), rtol=1e-12)
    variance = float(pi @ np.sum((np.array(flat) - mean) ** 2, axis=1))   # exact single-trial variance
    n_trials, repeats = 50, 400
    xs, ts = np.tile(x, (n_trials, 1)), np.tile(t, (n_trials, 1))
    sq = [np.sum((np.concatenate([v.ravel() for v in rule.sampled_updates(net, params, xs, ts).values()]) - mean) ** 2)
          for _ in range(repeats)]
    # E||mean_N - E||^2 = V / N; the average of 400 replicates has a relative standard error of
    # about sqrt(kurtosis / 400) < 0.15 for these few-action distributions: allow 35 %
    assert np.mean(sq) == pytest.approx(variance / n_trials, rel=0.35)
    # and the cosine with the gradient rises toward 1 with more trials
    ref = rule.reference_updates(net, params, x, t)
    cos = [_global(rule.sampled_updates(net, params, np.tile(x, (n, 1)), np.tile(t, (n, 1))), ref)
           for n in (1, 10000)]
    assert cos[1] > 0.99 and cos[1] > cos[0]


# ------------------------------------------------------------------ feedback pathway
def test_prepare_is_idempotent_and_adds_tied_feedback():
    rule = get_rule("agrel")
    net = rule.prepare(Network.feedforward([6, 5, 4, 3], loss="cross_entropy"))
    assert rule.prepare(net) == net
    fb = net.select("feedback")
    assert [(p.pre, p.post, p.tied_to) for p in fb] == [("hidden2", "hidden1", "hidden1->hidden2"),
                                                       ("output", "hidden2", "hidden2->output")]


def test_reciprocal_feedback_learns_the_transposed_update_and_converges_with_decay():
    rule, net, params, x, t = _setup("brainprop", (6, 5, 4), seed=6, feedback="reciprocal", feedback_decay=0.1,
                                     epsilon=1.0)
    fb = "output->hidden1:brainprop"
    assert fb in params and not net.projection(fb).tied_to
    dw = rule.sampled_updates(net, params, x, t)
    decay_free = {k: v + 0.1 * params[k] for k, v in dw.items() if not k.endswith(".bias")}
    np.testing.assert_allclose(decay_free[fb], decay_free["hidden1->output"].T, rtol=1e-12, atol=1e-15)
    before = params[fb] - params["hidden1->output"].T
    SGD(learning_rate=0.5, momentum=0.0).step(params, dw)
    after = params[fb] - params["hidden1->output"].T
    # Kolen-Pollack: B - W^T contracts by exactly (1 - eta * lambda) per plain SGD step
    np.testing.assert_allclose(after, (1 - 0.5 * 0.1) * before, rtol=1e-10, atol=1e-14)


def test_reciprocal_feedback_is_exact_once_equal_and_not_before():
    rule, net, params, x, t = _setup("agrel", (6, 5, 4), seed=8, feedback="reciprocal")
    ref = rule.reference_updates(net, params, x, t)
    random_fb = rule.align(net, params, x, t)["input->hidden1"].cosine
    params["output->hidden1:agrel"] = params["hidden1->output"].T.copy()
    assert rule.align(net, params, x, t).global_cosine > 0.9999
    assert random_fb < 0.99  # random feedback gives a different hidden update (a control)
    assert cosine(rule.expected_updates(net, params, x, t)["input->hidden1"], ref["input->hidden1"]) > 0.9999


# ------------------------------------------------------------------ errors, CLI, training
@pytest.mark.parametrize("hyper,match", [({"feedback": "mirror"}, "'feedback' must be one of tied, reciprocal"),
                                         ({"update": "mean"}, "'update' must be one of"),
                                         ({"seed": -1}, "'seed' must be a non-negative integer")])
def test_bad_hyper_parameters_fail_with_the_fix(hyper, match):
    with pytest.raises(ConfigError, match=match):
        get_rule("agrel", **hyper)
    with pytest.raises(ConfigError, match="'epsilon' must be in"):
        get_rule("brainprop", epsilon=1.5)


def test_unprepared_network_fails_with_the_fix():
    rule = get_rule("agrel")
    net = Network.feedforward([6, 5, 4], loss="cross_entropy")
    params = init_params(net, 0)
    with pytest.raises(ConfigError, match="call rule.prepare"):
        rule.updates(net, params, np.zeros((2, 6)), np.eye(4)[:2])


def test_model_cards_declare_their_feedback():
    from neurosim.network import ModelCard

    for path, rule_name in (("models/roelfsema2005_agrel.toml", "agrel"),
                            ("models/pozzi2020_brainprop.toml", "brainprop")):
        card = ModelCard.load(path)
        assert card.rule["name"] == rule_name
        rule = get_rule(rule_name, **{k: v for k, v in card.rule.items() if k != "name"})
        net = rule.prepare(card.network)
        assert net.select("feedback")


@pytest.mark.parametrize("name", RULES)
def test_cli_align_reports_the_expected_update(capsys, name):
    from neurosim.cli import main

    assert main(["align", "--rule", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rule"] == name and out["backend"] == "rate" and out["reference"] == "backprop"
    assert out["global"]["cosine"] > 0.9999 and out["update"].startswith("expected")


@pytest.mark.parametrize("name", RULES)
def test_learns_digits_from_reward_alone(name):
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("digits")
    rule = get_rule(name)
    result = train(type(rule).default_network([64, 32, 10]), rule, data,
                   TrainConfig(epochs=20, batch_size=32, seed=0, dtype="float64", align_samples=0))
    # chance is 90 % error; reward-only learning must end far below it (backprop: ~5 %; measured
    # with seed 0: AGREL 9.4 %, BrainProp 7.8 %): a rule that does not learn fails this
    assert result.status == "completed" and result.test_error < 0.2


# ------------------------------------------------------------------ spiking (brian2)
def _spiking_setup(name, **hyper):
    # Drives well above threshold (bias 2, Xavier x 0.5: min rate-equivalent drive 1.43): near
    # threshold the LIF slope diverges and spike-count noise dominates the tags (the backend's
    # documented limitation, tests/test_spiking_backend.py).
    base = Network.feedforward([12, 10, 4], activation="lif", output_activation="lif", loss="mse", bias_init=2.0,
                               init_scale=0.5, name="lif-agrel")
    net = get_rule(name, **hyper).prepare(base)
    params = init_params(net, 3)
    rng = np.random.default_rng(4)
    return net, params, rng.uniform(0, 1, (8, 12)), np.eye(4)[rng.integers(0, 4, 8)]


@pytest.mark.spiking
@pytest.mark.parametrize("name,hyper", [("agrel", {}), ("brainprop", {"epsilon": 1.0})])
def test_spiking_trial_average_matches_rate_rule_and_gradient(name, hyper):
    spiking = pytest.importorskip("neurosim.spiking")
    import neurosim.spiking.attention_gated  # noqa: F401  (registers the rule until __init__ imports it)

    net, params, x, t = _spiking_setup(name, **hyper)
    rep = spiking.spiking_align(name, net, params, x, t, n_trials=10, seed=0,
                                rule_hyper={"update": "expected", **hyper})
    # 10 trials of a 150 ms window at 60-100 Hz: ~100-150 spikes per unit and sample, a read-out
    # error of ~10 % per rate that averages over 8 samples x 10-12 units; smooth policies
    # (softmax) turn it into a small update error: bound 0.99 (measured 0.9999 for AGREL, 20 trials)
    assert rep.global_cosine > 0.99
    assert rep.extra["rate_rule_cosine"] > 0.99


@pytest.mark.spiking
@pytest.mark.xfail(strict=True, reason="known defect: BrainProp's near-greedy policy (epsilon 0.05) is discontinuous "
                                       "at argmax Q; with output rates within read-out noise of each other the "
                                       "spiking trials pick other greedy units than the rate net (cosine ~0.5)")
def test_spiking_brainprop_greedy_policy_matches_the_rate_rule():
    spiking = pytest.importorskip("neurosim.spiking")
    import neurosim.spiking.attention_gated  # noqa: F401

    net, params, x, t = _spiking_setup("brainprop")
    rep = spiking.spiking_align("brainprop", net, params, x, t, n_trials=10, seed=0, rule_hyper={"update": "expected"})
    assert rep.global_cosine > 0.9

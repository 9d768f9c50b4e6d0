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
  (1 - eta*lambda) contraction of reciprocal feedback under SGD with decay;
* state: the action generator is returned, never kept, so the same state gives the same
  sampled update and ``align`` cannot change what training draws.

Everything runs in float64 on small nets (seeds fixed below); finite differences use
eps = 1e-6 (truncation O(eps^2) ~ 1e-12 against rounding ~ 1e-16 / eps ~ 1e-10 relative).
"""
import json

import numpy as np
import pytest

from neurosim import Network, get_rule, init_params
from neurosim.alignment import AlignmentReport, align, cosine
from neurosim.errors import ConfigError
from neurosim.oracles import get_oracle
from neurosim.randomness import RngState
from neurosim.reference import backprop, forward, relative_error
from neurosim.training import SGD

RULES = ("agrel", "brainprop")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _paper_policy(name, q, epsilon=0.02, temperature=1.0):
    """Softmax (AGREL) or max-Boltzmann (BrainProp), written independently of the module.

    BrainProp's default epsilon = 0.02 and T = 1 are those of the authors' published code
    (Pozzi et al. 2020, github isapome/BrainProp, brainprop.py).
    """
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
    net = rule.network(Network.feedforward(list(sizes), activation=activation,
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


def _expected(rule, net, params, x, t):
    """The update averaged exactly over the actions (``update = "expected"``)."""
    return rule.replace(update="expected").step(net, params, x, t)


def _sampled(rule, net, params, x, t, state):
    """``(dW, next state, aux)`` of one sampled trial per sample."""
    return rule.updates(net, params, state, x, t)


def _policy_reference(rule, net, params, x, t):
    return get_oracle("policy")(rule, net, params, x, t)


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
    expected = _expected(rule, net, params, x, t)
    fd = _fd_descent(name, net, params, x, t)
    # float64 enumeration vs FD with eps 1e-6: agreement to ~1e-8 relative; cosine bound from the issue
    assert _global(expected, fd) > 0.9999
    for key in fd:
        assert relative_error(expected[key], fd[key]) < 1e-6, key


@pytest.mark.parametrize("name", RULES)
def test_policy_oracle_is_the_finite_difference_gradient(name):
    rule, net, params, x, t = _setup(name, (5, 4, 3, 4), "tanh", "linear", seed=3)
    assert rule.info.reference == "policy"
    ref = _policy_reference(rule, net, params, x, t)
    fd = _fd_descent(name, net, params, x, t)
    for key in fd:
        assert relative_error(ref[key], fd[key]) < 1e-6, key


def test_agrel_expected_update_is_backprop_of_softmax_cross_entropy():
    rule, net, params, x, t = _setup("agrel", (8, 6, 5), seed=1, batch=11)
    expected = _expected(rule, net, params, x, t)
    bp = backprop(net, params, x, t).descent()  # the network's own CE loss: an independent code path
    assert expected.keys() == bp.keys()
    for key in bp:
        np.testing.assert_allclose(expected[key], bp[key], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", RULES)
def test_align_headlines_the_applied_update_with_the_expected_one_beside_it(name):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=2)
    state = rule.init(net, params, 7)
    report = align(rule, net, params, x, t, state)
    assert report.reference == "policy"
    ref = _policy_reference(rule, net, params, x, t)
    applied, _, aux = rule.updates(net, params, state, x, t)
    # the headline is the update training applies from this state: one sampled action per sample
    assert report.global_cosine == pytest.approx(_global(applied, {k: v for k, v in ref.items()
                                                                   if not k.endswith(".bias")}), abs=1e-12)
    assert report.extra["update"].startswith("applied")
    assert report.extra["mean_reward"] == pytest.approx(float(np.mean(aux["reward"])))
    # beside it, the expectation over actions, which is the gradient of the rule's loss
    assert report.extra["expected_global_cosine"] > 0.9999
    assert all(c > 0.9999 for c in report.extra["expected_projections"].values())
    # one sampled trial per sample is a noisy estimate: never better than the expectation
    assert report.global_cosine <= report.extra["expected_global_cosine"] + 1e-12
    expected = align(rule.replace(update="expected"), net, params, x, t, state)
    assert all(row.norm_ratio == pytest.approx(1.0, rel=1e-8) for row in expected.projections)


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


def _two_stage_probabilities(q, epsilon, temperature=1.0):
    """Exact action probabilities of the published two-stage draw, by enumerating both stages.

    Stage 1: with probability 1 - epsilon take argmax Q; stage 2 (probability epsilon): draw
    from softmax(Q / T) (Pozzi et al. 2020's code: a categorical draw on the logits Q, T = 1).
    """
    n = q.shape[1]
    p = np.zeros_like(q)
    for row in range(q.shape[0]):
        for a in range(n):
            p[row, a] += (1 - epsilon) * (a == int(np.argmax(q[row])))
            p[row, a] += epsilon * np.exp(q[row, a] / temperature) / np.sum(np.exp(q[row] / temperature))
    return p


@pytest.mark.parametrize("epsilon", [0.0, 0.02, 0.3, 1.0])
def test_brainprop_expected_update_is_the_enumerated_average_of_the_published_per_trial_loss(epsilon):
    """E_s[dW] = sum_a P(s = a) (-d/dW) 1/2 (t_a - Q_a)^2, every action enumerated exactly.

    The published per-trial loss is the squared error of the selected unit alone (the other
    outputs' targets equal their own values, so they carry no error); its gradient is taken here
    by plain backprop of that masked squared error (an independent code path, no rule code), and
    the action probabilities are the two stages enumerated (not the module's policy).
    """
    rule, net, params, x, t = _setup("brainprop", (6, 5, 4), seed=9, batch=9, epsilon=epsilon)
    q = forward(net, params, x).output
    probs = _two_stage_probabilities(q, epsilon)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    total = {}
    for a in range(q.shape[1]):
        masked = q.copy()
        masked[:, a] = t[:, a]   # only the selected unit a has an error, R - Q_a
        for i in range(len(x)):  # one trial per row, weighted by its own P(s = a); batch mean
            grad = backprop(net.replace(loss="mse"), params, x[i:i + 1], masked[i:i + 1]).descent()
            for key, value in grad.items():
                total[key] = total.get(key, 0.0) + probs[i, a] * value / len(x)
    expected = _expected(rule, net, params, x, t)
    assert expected.keys() == total.keys()
    for key in total:
        np.testing.assert_allclose(expected[key], total[key], rtol=1e-10, atol=1e-14)
    # and it is the policy oracle's gradient of sum_k sg(pi_k) (t_k - Q_k)^2 / 2
    ref = _policy_reference(rule, net, params, x, t)
    for key in total:
        np.testing.assert_allclose(ref[key], total[key], rtol=1e-10, atol=1e-14)


def test_brainprop_defaults_are_the_published_ones():
    """epsilon = 0.02 and T = 1 (Pozzi et al. 2020 code); the preset is their optimiser."""
    from neurosim import RunSpec

    rule = get_rule("brainprop")
    assert rule.hyper.epsilon == 0.02 and rule.hyper.temperature == 1.0
    for purpose in ("train", "compare"):
        spec = RunSpec.preset("brainprop", purpose)
        assert (spec.optimizer, spec.learning_rate, spec.momentum) == ("sgd", 0.1, 0.0)


@pytest.mark.parametrize("name", RULES)
def test_only_the_selected_output_unit_learns(name):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=4, batch=1)
    dw, _, aux = _sampled(rule, net, params, x, t, rule.init(net, params, 0))
    s = aux["actions"][0]
    assert aux["reward"][0] == t[0, s]
    w_out = dw["hidden1->output"]
    assert np.any(w_out[s] != 0)
    assert np.all(np.delete(w_out, s, axis=0) == 0)


def test_actions_follow_the_policy():
    rule = get_rule("agrel")
    pi = np.tile([[0.1, 0.6, 0.3]], (40000, 1))
    counts = np.bincount(rule.sample_actions(pi, np.random.default_rng(7)), minlength=3)
    # multinomial: each count within 5 standard deviations of n * p (fails with prob < 1e-5)
    sd = np.sqrt(40000 * pi[0] * (1 - pi[0]))
    assert np.all(np.abs(counts - 40000 * pi[0]) < 5 * sd)


@pytest.mark.parametrize("name", RULES)
def test_same_state_same_actions_and_the_state_moves_on(name):
    hyper = {"epsilon": 1.0} if name == "brainprop" else {}  # Boltzmann: every action has a chance
    rule, net, params, x, t = _setup(name, (6, 5, 4), batch=50, **hyper)
    state = rule.init(net, params, 0)
    a, next_a, aux_a = _sampled(rule, net, params, x, t, state)
    b, next_b, aux_b = _sampled(get_rule(name, **hyper), net, params, x, t, state)  # another instance, same state
    np.testing.assert_array_equal(aux_a["actions"], aux_b["actions"])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert next_a == next_b and next_a != state  # the generator moved past the batch's draws
    assert state == rule.init(net, params, 0)  # the argument was not modified
    _, _, aux_next = _sampled(rule, net, params, x, t, next_a)  # the next batch: new draws
    assert not np.array_equal(aux_next["actions"], aux_a["actions"])
    _, _, aux_other = _sampled(rule, net, params, x, t, rule.init(net, params, 1))
    assert not np.array_equal(aux_other["actions"], aux_a["actions"])
    # the state's generator starts where numpy.random.default_rng(seed) starts
    pi = rule.policy(forward(net, params, x).output)
    np.testing.assert_array_equal(aux_a["actions"], rule.sample_actions(pi, np.random.default_rng(0)))
    # ... and the returned state is that generator after the batch's draws (one uniform per sample)
    rng = np.random.default_rng(0)
    rng.random(len(x))
    assert next_a == {"rng": RngState.of(rng)}


@pytest.mark.parametrize("name", RULES)
def test_expected_update_draws_nothing(name):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=1)
    rule = rule.replace(update="expected")
    state = rule.init(net, params, 0)
    _, after, aux = rule.updates(net, params, state, x, t)
    assert after == state and aux == {}


# ------------------------------------------------------------------ sampled trials -> expectation
@pytest.mark.parametrize("name,hyper", [("agrel", {}), ("brainprop", {"epsilon": 0.5})])
def test_trial_average_error_shrinks_as_variance_over_n(name, hyper):
    rule, net, params, x, t = _setup(name, (6, 5, 4), seed=5, batch=1, **hyper)
    expected = _expected(rule, net, params, x, t)
    pi = rule.policy(forward(net, params, x).output)[0]
    fp = forward(net, params, x)
    flat = [np.concatenate([v.ravel() for v in rule.tagged_updates(net, params, fp, t, np.array([a])).values()])
            for a in range(len(pi))]
    mean = pi @ np.array(flat)
    np.testing.assert_allclose(mean, np.concatenate([v.ravel() for v in expected.values()]), rtol=1e-12)
    variance = float(pi @ np.sum((np.array(flat) - mean) ** 2, axis=1))   # exact single-trial variance
    n_trials, repeats = 50, 400
    xs, ts = np.tile(x, (n_trials, 1)), np.tile(t, (n_trials, 1))
    state = rule.init(net, params, 0)
    sq = []
    for _ in range(repeats):  # independent replicates: each continues the generator of the previous one
        dw, state, _ = rule.updates(net, params, state, xs, ts)
        sq.append(np.sum((np.concatenate([v.ravel() for v in dw.values()]) - mean) ** 2))
    # E||mean_N - E||^2 = V / N; the average of 400 replicates has a relative standard error of
    # about sqrt(kurtosis / 400) < 0.15 for these few-action distributions: allow 35 %
    assert np.mean(sq) == pytest.approx(variance / n_trials, rel=0.35)
    # and the cosine with the gradient rises toward 1 with more trials
    ref = _policy_reference(rule, net, params, x, t)
    cos = [_global(rule.updates(net, params, state, np.tile(x, (n, 1)), np.tile(t, (n, 1)))[0], ref)
           for n in (1, 10000)]
    assert cos[1] > 0.99 and cos[1] > cos[0]


# ------------------------------------------------------------------ feedback pathway
def test_network_is_idempotent_and_adds_tied_feedback():
    rule = get_rule("agrel")
    net = rule.network(Network.feedforward([6, 5, 4, 3], loss="cross_entropy"))
    assert rule.network(net) == net
    assert rule.network([6, 5, 4, 3]) == net  # from sizes: the tanh cross-entropy chain
    fb = net.select("feedback")
    assert [(p.pre, p.post, p.tied_to) for p in fb] == [("hidden2", "hidden1", "hidden1->hidden2"),
                                                       ("output", "hidden2", "hidden2->output")]
    brainprop = get_rule("brainprop").network([6, 5, 3])  # action values: linear outputs, squared error
    assert brainprop.loss == "mse" and brainprop.output_layer.activation == "linear"
    assert brainprop.layer("hidden1").activation == "tanh" and brainprop.select("feedback")


def test_reciprocal_feedback_learns_the_transposed_update_and_converges_with_decay():
    rule, net, params, x, t = _setup("brainprop", (6, 5, 4), seed=6, feedback="reciprocal", feedback_decay=0.1,
                                     epsilon=1.0)
    fb = "output->hidden1:brainprop"
    assert fb in params and not net.projection(fb).tied_to
    dw = rule.step(net, params, x, t)
    decay_free = {k: v + 0.1 * params[k] for k, v in dw.items() if not k.endswith(".bias")}
    np.testing.assert_allclose(decay_free[fb], decay_free["hidden1->output"].T, rtol=1e-12, atol=1e-15)
    before = params[fb] - params["hidden1->output"].T
    SGD(learning_rate=0.5, momentum=0.0).step(params, dw)
    after = params[fb] - params["hidden1->output"].T
    # Kolen-Pollack: B - W^T contracts by exactly (1 - eta * lambda) per plain SGD step
    np.testing.assert_allclose(after, (1 - 0.5 * 0.1) * before, rtol=1e-10, atol=1e-14)


def test_reciprocal_feedback_is_exact_once_equal_and_not_before():
    rule, net, params, x, t = _setup("agrel", (6, 5, 4), seed=8, feedback="reciprocal")
    ref = _policy_reference(rule, net, params, x, t)
    random_fb = align(rule, net, params, x, t).extra["expected_projections"]["input->hidden1"]
    params["output->hidden1:agrel"] = params["hidden1->output"].T.copy()
    assert align(rule, net, params, x, t).extra["expected_global_cosine"] > 0.9999
    assert random_fb < 0.99  # random feedback gives a different hidden update (a control)
    assert cosine(_expected(rule, net, params, x, t)["input->hidden1"], ref["input->hidden1"]) > 0.9999


# ------------------------------------------------------------------ errors, CLI, training
@pytest.mark.parametrize("hyper,match", [({"feedback": "mirror"}, "'feedback' must be one of 'tied', 'reciprocal'"),
                                         ({"update": "mean"}, "'update' must be one of"),
                                         ({"feedback_decay": -0.1}, "'feedback_decay' must be a number >= 0"),
                                         ({"seed": 1}, "unknown hyper-parameter 'seed'")])
def test_bad_hyper_parameters_fail_with_the_fix(hyper, match):
    with pytest.raises(ConfigError, match=match):
        get_rule("agrel", **hyper)
    with pytest.raises(ConfigError, match="rule 'brainprop': 'epsilon' must be a number >= 0 and <= 1, got 1.5"):
        get_rule("brainprop", epsilon=1.5)


def test_unprepared_network_and_bad_state_fail_with_the_fix():
    rule = get_rule("agrel")
    net = Network.feedforward([6, 5, 4], loss="cross_entropy")
    params = init_params(net, 0)
    with pytest.raises(ConfigError, match=r"build the network with rule.network\(network\)"):
        rule.step(net, params, np.zeros((2, 6)), np.eye(4)[:2])
    built = rule.network(net)
    with pytest.raises(ConfigError, match="state must be the dict rule.init"):
        rule.updates(built, init_params(built, 0), {}, np.zeros((2, 6)), np.eye(4)[:2])
    with pytest.raises(ConfigError, match="need targets"):
        rule.step(built, init_params(built, 0), np.zeros((2, 6)), None)


def test_model_cards_declare_their_feedback():
    from pathlib import Path

    from neurosim import RunSpec

    models = Path(__file__).resolve().parents[1] / "models"
    for path, rule_name in (("roelfsema2005_agrel.toml", "agrel"), ("pozzi2020_brainprop.toml", "brainprop")):
        card = RunSpec.load(models / path)
        assert card.rule == rule_name
        assert card.build_network().select("feedback")


@pytest.mark.parametrize("name", RULES)
def test_cli_align_reports_the_applied_and_the_expected_update(capsys, name):
    from neurosim.cli import main

    assert main(["align", "--rule", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rule"] == name and out["backend"] == "rate" and out["reference"] == "policy"
    assert out["update"].startswith("applied") and out["expected_global_cosine"] > 0.9999
    assert out["global"]["cosine"] <= out["expected_global_cosine"] + 1e-12


def test_agrel_learns_digits_from_reward_alone():
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("digits")
    rule = get_rule("agrel")
    result = train(rule.network([64, 32, 10]), rule, data,
                   TrainConfig(epochs=20, batch_size=32, seed=0, dtype="float64", align_samples=0))
    # chance is 90 % error; reward-only learning must end far below it (backprop: ~5 %; measured
    # with seed 0: AGREL 9.4 %): a rule that does not learn fails this
    assert result.status == "completed" and result.test_error < 0.2


def test_brainprop_with_the_published_optimiser_comes_within_a_few_points_of_backprop_on_digits():
    """BrainProp (plain SGD 0.1, no momentum, epsilon 0.02: Pozzi et al.'s code) vs backprop, same set-up.

    Measured (64-32-10 tanh, batch 16, 20 epochs, float64), seeds 0/1/2: backprop 3.6/4.2/4.2 %,
    BrainProp 6.1/4.7/6.1 % test error; with Adam 1e-3 BrainProp got 17.2/5.8/8.6 %.  The paper's
    claim is accuracy equivalent to backprop at 1-3.5x the epochs; within 20 epochs a gap of a
    few points remains (docs/rules/attention_gated.md): bound 4 points.
    """
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("digits")
    config = TrainConfig(epochs=20, batch_size=16, optimizer="sgd", learning_rate=0.1, momentum=0.0, seed=0,
                         dtype="float64", align_samples=0)
    rule = get_rule("brainprop")
    brainprop = train(rule.network([64, 32, 10]), rule, data, config, progress=False)
    backprop_run = train(Network.feedforward([64, 32, 10], loss="cross_entropy"), get_rule("backprop"), data,
                         config, progress=False)
    assert brainprop.status == backprop_run.status == "completed"
    assert brainprop.test_error < backprop_run.test_error + 0.04


@pytest.mark.parametrize("name", RULES)
def test_training_with_and_without_alignment_is_bit_identical(name):
    """train() measures alignment with the epoch's state; it must not change the actions training draws."""
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    rule = get_rule(name)
    data = load_dataset("digits", n_train=96, n_test=32, seed=0)
    runs = [train(rule.network([64, 12, 10]), rule, data,
                  TrainConfig(epochs=2, batch_size=32, seed=1, dtype="float64", align_samples=n), progress=False)
            for n in (0, 32)]
    for key in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[key], runs[1].params[key])
    assert [e["loss"] for e in runs[0].history] == [e["loss"] for e in runs[1].history]


# ------------------------------------------------------------------ spiking (brian2)
def _spiking_setup(name, **hyper):
    # Drives well above threshold (bias 2, Xavier x 0.5: min rate-equivalent drive 1.43): near
    # threshold the LIF slope diverges and spike-count noise dominates the tags (the backend's
    # documented limitation, tests/test_spiking_backend.py).
    base = Network.feedforward([12, 10, 4], activation="lif", output_activation="lif", loss="mse", bias_init=2.0,
                               init_scale=0.5, name="lif-agrel")
    net = get_rule(name, **hyper).network(base)
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
@pytest.mark.xfail(strict=True, reason="known defect: BrainProp's near-greedy policy (epsilon 0.02) is discontinuous "
                                       "at argmax Q; with output rates within read-out noise of each other the "
                                       "spiking trials pick other greedy units than the rate net (cosine ~0.5)")
def test_spiking_brainprop_greedy_policy_matches_the_rate_rule():
    spiking = pytest.importorskip("neurosim.spiking")
    import neurosim.spiking.attention_gated  # noqa: F401

    net, params, x, t = _spiking_setup("brainprop")
    rep = spiking.spiking_align("brainprop", net, params, x, t, n_trials=10, seed=0, rule_hyper={"update": "expected"})
    assert rep.global_cosine > 0.9


@pytest.mark.spiking
def test_spiking_sampled_update_is_pure_and_reports_the_expectation_beside_it():
    spiking = pytest.importorskip("neurosim.spiking")

    net, params, x, t = _spiking_setup("agrel")
    srule = spiking.get_spiking_rule("agrel")
    activity = spiking.build(net, params, kinds=("feedforward",)).run(x, n_trials=3, seed=0)
    eq = spiking.rate_equivalent(net)
    state = srule.init(eq, params, 0)
    a, next_a, aux = srule.updates(eq, params, state, activity, t)
    b, next_b, _ = srule.updates(eq, params, state, activity, t)
    for key in a:  # the same spikes and the same state: the same sampled actions and update
        np.testing.assert_array_equal(a[key], b[key])
    assert next_a == next_b and next_a != state and aux["actions"].shape == (3 * len(x),)
    rep = spiking.spiking_align("agrel", net, params, x, t, n_trials=10, seed=0)
    # the headline is the sampled (applied) update; beside it the same spikes averaged over actions,
    # which matches the gradient as in the expected-update test above (bound 0.99, same set-up)
    assert rep.extra["update"].startswith("applied") and rep.reference == "policy"
    assert rep.extra["expected_global_cosine"] > 0.99

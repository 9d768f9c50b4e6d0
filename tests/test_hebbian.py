"""Hebbian rate rules against their own theory (oracles: numpy eigh, closed forms, fixed points).

Data are zero-mean Gaussians with a chosen spectrum, so the second-moment matrix the rules see
is the covariance; the oracle is ``numpy.linalg.eigh`` of the *sample* second moment.
BCM's thresholds are state the rule returns (never keeps): the tests thread it by hand.
"""
import json

import numpy as np
import pytest

from neurosim import Network, get_rule, init_params, list_rules
from neurosim.alignment import align
from neurosim.errors import ConfigError, ShapeError
from neurosim.reference import backprop
from neurosim.rules.hebbian import bcm_threshold, krotov_hopfield_update

SPECTRUM = np.array([5.0, 3.0, 2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05])


def gaussian_data(n=4000, seed=0):
    """Zero-mean samples with covariance Q diag(SPECTRUM) Q^T for a random rotation Q."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(SPECTRUM.size, SPECTRUM.size)))
    x = rng.normal(size=(n, SPECTRUM.size)) * np.sqrt(SPECTRUM) @ q.T
    c = x.T @ x / n
    evals, evecs = np.linalg.eigh(c)
    return x, evals[::-1], evecs[:, ::-1]


def linear_net(k, n_in=SPECTRUM.size):
    return get_rule("oja").network([n_in, k, 2])


def sgd(rule, net, params, x, *, lr, epochs, batch=50, seed=0):
    """Plain SGD on the Hebbian updates alone (target None: no read-out), threading the rule's state."""
    rng = np.random.default_rng(seed)
    state = rule.init(net, params, seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            dw, state, _ = rule.updates(net, params, state, x[order[s:s + batch]], None)
            for key, value in dw.items():
                params[key] += lr * value
    return params


def test_registry_entries_are_unsupervised_hebbian():
    rows = {r["name"]: r for r in list_rules()}
    for name in ("hebb", "oja", "sanger", "bcm", "krotov-hopfield"):
        assert rows[name]["family"] == "hebbian" and rows[name]["supervised"] is False
        assert rows[name]["reference"] == "backprop"
    assert get_rule("gha").name == "sanger"


def test_hebb_runaway_grows_at_the_top_eigenvalue():
    """Full-batch Hebb on a linear unit: w_{n+1} = (I + eta C) w_n, so |w| grows by (1 + eta lambda_max).

    After 300 steps the other directions are down by ((1 + eta l2)/(1 + eta l1))^300 ~ 1e-12, so
    the measured per-step log growth equals log(1 + eta lambda_max) to ~1e-10; bound 1e-8.
    """
    x, evals, _ = gaussian_data()
    net = linear_net(1)
    rule = get_rule("hebb")
    params = init_params(net, seed=1)
    eta = 0.02
    norms = []
    for _ in range(301):
        norms.append(np.linalg.norm(params["input->hidden1"]))
        params["input->hidden1"] += eta * rule.step(net, params, x, None)["input->hidden1"]
    growth = np.diff(np.log(norms))
    assert growth[-1] == pytest.approx(np.log1p(eta * evals[0]), rel=1e-8)
    assert norms[-1] / norms[0] > 1e10  # the runaway


def test_oja_converges_to_top_principal_component():
    """|cos(w, v1)| > 0.99 and |w| -> 1 (Oja 1982).  Seed 0; lr 0.005 x 20 epochs of batches of 50."""
    x, _, evecs = gaussian_data()
    net = linear_net(1)
    rule = get_rule("oja")
    params = sgd(rule, net, init_params(net, seed=2), x, lr=0.005, epochs=20)
    w = params["input->hidden1"][0]
    assert abs(w @ evecs[:, 0]) / np.linalg.norm(w) > 0.99
    assert np.linalg.norm(w) == pytest.approx(1.0, abs=0.02)


def principal_cosines(a, b):
    """Cosines of the principal angles between the column spaces of a and b."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


@pytest.mark.parametrize("name", ["sanger", "oja"])
def test_gha_and_oja_subspace_span_top_k(name):
    """Rows of W span the top-3 eigenspace: every principal-angle cosine > 0.99, rows orthonormal to 0.02."""
    x, _, evecs = gaussian_data()
    net = linear_net(3)
    rule = get_rule(name)
    w = sgd(rule, net, init_params(net, seed=3), x, lr=0.005, epochs=30)["input->hidden1"]
    assert principal_cosines(w.T, evecs[:, :3]).min() > 0.99
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=0.02)


def test_gha_rows_are_the_individual_components_in_order():
    """Sanger (1989): row i -> +-v_i (not just the subspace).  |cos| > 0.98 for the top 3 (gaps 5:3:2)."""
    x, _, evecs = gaussian_data()
    net = linear_net(3)
    w = sgd(get_rule("sanger"), net, init_params(net, seed=3), x, lr=0.005, epochs=30)["input->hidden1"]
    for i in range(3):
        assert abs(w[i] @ evecs[:, i]) / np.linalg.norm(w[i]) > 0.98


def test_bcm_threshold_closed_form_with_frozen_weights():
    """theta_n = m + (1 - 1/tau)^n (theta_0 - m) for a stationary batch.

    (The Euler step of tau dtheta/dt = <y^2> - theta.)"""
    rng = np.random.default_rng(4)
    y = rng.normal(size=(64, 3))
    m = np.mean(y ** 2, axis=0)
    theta0 = np.array([0.0, 5.0, 1.0])
    theta = theta0
    tau = 7.0
    for _ in range(25):
        theta = bcm_threshold(theta, y, tau)
    np.testing.assert_allclose(theta, m + (1 - 1 / tau) ** 25 * (theta0 - m), rtol=1e-12)


def test_bcm_rule_threshold_tracks_mean_square_response():
    """Through the rule with weights frozen: after a 4x jump of <y^2>, theta follows; 100 tau later it equals <y^2>."""
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(size=(200, 6)))
    rule = get_rule("bcm", tau_theta=5.0)
    net = rule.network([6, 2, 2], activation="linear")
    params = init_params(net, seed=0)
    state = rule.init(net, params)
    assert state["started"] is False
    _, state, _ = rule.updates(net, params, state, x, None)
    y2 = np.mean((x @ params["input->hidden1"].T) ** 2, axis=0)
    np.testing.assert_allclose(state["theta"]["hidden1"], y2, rtol=1e-12)  # started at <y^2>, then fixed point
    for _ in range(500):
        _, state, _ = rule.updates(net, params, state, 2 * x, None)
    np.testing.assert_allclose(state["theta"]["hidden1"], 4 * y2, rtol=1e-12)


def test_bcm_becomes_selective_to_one_of_k_orthonormal_patterns():
    """Linear BCM with theta = <y^2>, K orthonormal equiprobable patterns: the stable fixed point answers K
    to one pattern and 0 to the others (y_j (y_j - theta) = 0 with theta = y^2/K).  Full-batch, tau 1."""
    k = 4
    rng = np.random.default_rng(6)
    patterns, _ = np.linalg.qr(rng.normal(size=(8, k)))
    patterns = patterns.T                                   # (K, 8) orthonormal rows
    rule = get_rule("bcm", tau_theta=1.0)
    net = rule.network([8, 3, 2], activation="linear")
    params = init_params(net, seed=7)
    params["input->hidden1"] = np.abs(params["input->hidden1"]) * 0.3   # start with small positive responses
    state = rule.init(net, params)
    for _ in range(6000):
        dw, state, _ = rule.updates(net, params, state, patterns, None)
        params["input->hidden1"] += 0.05 * dw["input->hidden1"]
    y = patterns @ params["input->hidden1"].T               # (K, units)
    for unit in y.T:
        ranked = np.sort(unit)[::-1]
        assert ranked[0] == pytest.approx(k, rel=1e-3)
        np.testing.assert_allclose(ranked[1:], 0, atol=1e-3)


def test_krotov_single_unit_converges_to_p_normalised_mean():
    """One unit always wins (g = 1): fixed point of <x - Q w> is w = <x>/||<x>||_p (derivation in the docstring).

    The un-normalised mean update converges to 1e-8; with the authors' max-normalisation every step has
    size 0.01 in its largest entry, so it only gets within ~0.01 of the fixed point.
    """
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (500, 12))
    w = rng.normal(size=(1, 12))
    p = 3.0
    w_norm = w.copy()
    for _ in range(3000):
        w += 0.1 * krotov_hopfield_update(w, x, p=p, k=2, delta=0.4, normalise=False)
        w_norm += 0.01 * krotov_hopfield_update(w_norm, x, p=p, k=2, delta=0.4)
    mean = x.mean(axis=0)
    fixed = mean / np.sum(mean ** p) ** (1 / p)
    np.testing.assert_allclose(w[0], fixed, atol=1e-8)
    np.testing.assert_allclose(w_norm[0], fixed, atol=0.02)


def test_krotov_units_specialise_on_distinct_clusters():
    """3 units, 3 well separated clusters: each unit ends pointing at a different cluster (cos > 0.95), unit p-norm."""
    rng = np.random.default_rng(9)
    protos = np.eye(3).repeat(4, axis=1)                      # (3, 12) disjoint blocks
    labels = rng.integers(0, 3, 600)
    x = np.clip(protos[labels] + rng.normal(0, 0.05, (600, 12)), 0, None)
    w = np.abs(rng.normal(size=(3, 12)))
    for _ in range(4000):
        batch = x[rng.choice(600, 50, replace=False)]
        w += 0.01 * krotov_hopfield_update(w, batch, p=3.0, k=2, delta=0.4)
    cos = (w / np.linalg.norm(w, axis=1, keepdims=True)) @ (protos / 2).T
    assert sorted(np.argmax(cos, axis=1)) == [0, 1, 2]
    assert cos.max(axis=1).min() > 0.95
    np.testing.assert_allclose(np.sum(np.abs(w) ** 3, axis=1), 1.0, atol=0.02)


@pytest.mark.parametrize("name", ["hebb", "oja", "sanger", "bcm", "krotov-hopfield"])
def test_hidden_update_ignores_target_and_readout_is_backprop(name):
    """Unsupervised: hidden dW identical for two targets; the delta-rule read-out is backprop's last layer (1e-12)."""
    rng = np.random.default_rng(10)
    net = get_rule(name).network([6, 5, 3])
    params = init_params(net, seed=0)
    x = rng.uniform(0, 1, (16, 6))
    t1, t2 = np.eye(3)[rng.integers(0, 3, 16)], np.eye(3)[rng.integers(0, 3, 16)]
    a = get_rule(name).step(net, params, x, t1)
    b = get_rule(name).step(net, params, x, t2)
    np.testing.assert_array_equal(a["input->hidden1"], b["input->hidden1"])
    ref = backprop(net, params, x, t1).descent()
    np.testing.assert_allclose(a["hidden1->output"], ref["hidden1->output"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a["output.bias"], ref["output.bias"], rtol=1e-12, atol=1e-15)
    assert "hidden1.bias" not in a and "input->hidden1" in get_rule(name).step(net, params, x, None)


def _bcm_setup():
    rule = get_rule("bcm")
    net = rule.network([6, 5, 3])
    params = init_params(net, seed=0)
    rng = np.random.default_rng(11)
    x, t = rng.uniform(0, 1, (16, 6)), np.eye(3)[rng.integers(0, 3, 16)]
    _, state, _ = rule.updates(net, params, rule.init(net, params), x, t)
    return rule, net, params, x, t, state


def _copy(state):
    return {"theta": {k: v.copy() for k, v in state["theta"].items()}, "started": state["started"]}


def _same(a, b):
    return a["started"] == b["started"] and a["theta"].keys() == b["theta"].keys() and all(
        np.array_equal(a["theta"][k], b["theta"][k]) for k in a["theta"])


def test_bcm_same_state_same_update_and_align_does_not_advance_threshold():
    rule, net, params, x, t, state = _bcm_setup()
    before = _copy(state)
    a, next_a, _ = rule.updates(net, params, state, 3 * x, t)
    b, next_b, _ = rule.updates(net, params, state, 3 * x, t)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert _same(next_a, next_b) and not _same(next_a, state)  # theta moved toward the larger <y^2>
    assert _same(state, before)  # updates returns a new state; the argument is not modified
    report = align(rule, net, params, 3 * x, t, state)
    assert _same(state, before)
    assert report["hidden1->output"].cosine == pytest.approx(1.0, abs=1e-12)  # the delta-rule read-out


@pytest.mark.parametrize("bad", ["nan_input", "inf_target", "wrong_width"])
def test_bcm_state_survives_a_rejected_batch(bad):
    """A batch that is rejected raises before anything is computed: no half-moved thresholds.

    After the error the old state still gives exactly the update it gave before.
    """
    rule, net, params, x, t, state = _bcm_setup()
    before = _copy(state)
    expected, expected_next, _ = rule.updates(net, params, state, x, t)
    x_bad, t_bad = x.copy(), t.copy()
    if bad == "nan_input":
        x_bad[3, 2] = np.nan
    elif bad == "inf_target":
        t_bad[0, 0] = np.inf
    else:
        x_bad = x[:, :5]
    with pytest.raises(ShapeError):
        rule.updates(net, params, state, x_bad, t_bad)
    assert _same(state, before)
    again, again_next, _ = rule.updates(net, params, state, x, t)
    for key in expected:
        np.testing.assert_array_equal(again[key], expected[key])
    assert _same(again_next, expected_next)


def test_bcm_rejects_a_state_that_does_not_fit():
    rule, net, params, x, t, state = _bcm_setup()
    with pytest.raises(ConfigError, match="state must be the dict rule.init"):
        rule.updates(net, params, {}, x, t)
    wrong = {"theta": {"hidden1": np.zeros(4)}, "started": True}
    with pytest.raises(ShapeError, match=r"state\['theta'\]\['hidden1'\] must have shape \(5,\)"):
        rule.updates(net, params, wrong, x, t)
    poisoned = {"theta": {"hidden1": np.full(5, np.nan)}, "started": True}
    with pytest.raises(ShapeError, match="NaN"):
        rule.updates(net, params, poisoned, x, t)


def test_readout_hebbian_makes_every_projection_hebbian():
    net = Network.feedforward([4, 2], activation="linear", loss="mse")
    params = init_params(net, seed=0)
    x = np.random.default_rng(12).normal(size=(8, 4))
    dw = get_rule("oja", readout="hebbian").step(net, params, x, None)
    y = x @ params["input->output"].T + params["output.bias"]
    np.testing.assert_allclose(dw["input->output"], (y.T @ x - y.T @ y @ params["input->output"]) / 8, rtol=1e-12)


@pytest.mark.parametrize("hyper,expected", [({"readout": "backprop"}, "one of 'delta', 'hebbian'"),
                                            ({"tau_theta": 0.5}, "a number >= 1"), ({"p": 1.0}, "a number >= 2"),
                                            ({"k": 1}, "an integer >= 2"), ({"k": 2.5}, "an integer >= 2"),
                                            ({"delta": -1.0}, "a number >= 0"), ({"hebbian_scale": 0}, "a number > 0")])
def test_bad_hyper_parameters_fail_with_the_name(hyper, expected):
    name = "bcm" if "tau_theta" in hyper else "krotov-hopfield"
    key = list(hyper)[0]
    with pytest.raises(ConfigError, match=f"rule '{name}': '{key}' must be {expected}, got"):
        get_rule(name, **hyper)


def test_default_networks_follow_the_theory_neuron():
    for name, act in (("hebb", "linear"), ("oja", "linear"), ("sanger", "linear"), ("bcm", "relu"),
                      ("krotov-hopfield", "relu")):
        rule = get_rule(name)
        net = rule.network([6, 5, 3])
        assert net.layer("hidden1").activation == act and not net.layer("hidden1").bias
        assert net.output_layer.activation == "linear" and net.loss == "cross_entropy"
        assert rule.network(net) == net and rule.info.supervised is False
    with pytest.raises(ConfigError, match="needs a hidden layer"):
        get_rule("oja").network([6, 3])


def test_train_runs_krotov_hopfield_end_to_end():
    """The `neurosim train --rule krotov-hopfield` path: 2 epochs on digits beat chance (error 0.9) by far."""
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    rule = get_rule("krotov-hopfield")
    data = load_dataset("digits")
    res = train(rule.network([64, 100, 10]), rule, data,
                TrainConfig(epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.02, momentum=0.0))
    assert res.status == "completed" and res.test_error < 0.5


@pytest.mark.parametrize("name", ["bcm", "oja"])
def test_training_with_and_without_alignment_is_bit_identical(name):
    """train() measures alignment with the epoch's state (BCM's thresholds); it must not change them."""
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    rule = get_rule(name)
    data = load_dataset("digits", n_train=96, n_test=32, seed=0)
    runs = [train(rule.network([64, 12, 10]), rule, data,
                  TrainConfig(epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.003, momentum=0.0,
                              seed=1, dtype="float64", align_samples=n), progress=False) for n in (0, 32)]
    for key in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[key], runs[1].params[key])
    assert [e["loss"] for e in runs[0].history] == [e["loss"] for e in runs[1].history]


# --------------------------------------------------------------------------- neurosim compare (issue 20)
def test_compare_runs_the_hebbian_controls_after_the_supervised_rules():
    from neurosim.compare import control_rules, default_rules, supervised_rules
    from neurosim.rules import RULES

    hebbian = sorted(n for n, c in RULES.items() if c.family == "hebbian" and "rate" in c.info.backends)
    assert sorted(control_rules()) == hebbian
    assert default_rules() == supervised_rules() + control_rules()  # the controls come last
    assert not set(hebbian) & set(supervised_rules())


def test_compare_rows_of_controls_carry_every_field_and_an_exact_readout(tmp_path):
    """A Hebbian row has every field a supervised row has; its read-out's update is the delta rule,
    i.e. backprop's gradient of the last layer (theory: dW_L = -<delta_L r_{L-1}^T> = -dL/dW_L), so its
    cosine with the oracle is 1 up to float64 rounding (1e-9 leaves room for the sums' order)."""
    from neurosim.compare import format_table, run_compare

    record = run_compare(epochs=1, rules=["backprop", "oja", "krotov-hopfield"], out_dir=tmp_path, progress=False,
                         stem="c")
    rows = {r["rule"]: r for r in record["rows"]}
    assert all(r["status"] == "completed" for r in rows.values()), [r.get("message") for r in rows.values()]
    for name in ("oja", "krotov-hopfield"):
        row = rows[name]
        assert set(rows["backprop"]) <= set(row), set(rows["backprop"]) - set(row)
        assert row["supervised"] is False and row["family"] == "hebbian" and row["readout"] == "hidden2->output"
        for when in ("initial_alignment", "final_alignment"):
            cos = {p["name"]: p["cosine"] for p in row[when]["projections"]}
            assert cos.pop("hidden2->output") == pytest.approx(1.0, abs=1e-9)
            assert len(cos) == 2 and all(abs(c) < 0.5 for c in cos.values())  # unsupervised: no alignment
        assert 0 <= row["test_error"] <= 1 and len(row["history"]) == 1
    assert rows["backprop"]["supervised"] is True
    assert "oja: unsupervised control" in format_table(record)
    saved = json.loads((tmp_path / "c.json").read_text())
    assert [r["rule"] for r in saved["rows"]] == ["backprop", "oja", "krotov-hopfield"]

"""Synthetic gradients (``sg``) and cDNI (``cdni``) against independent oracles.

Oracles, tier by tier:

* **least squares** -- a module regresses onto a gradient; with the true-gradient target
  its fixed point on a batch is the least-squares predictor of :math:`g_l` from
  :math:`[h_l, 1]` (``cdni``: :math:`[h_l, t, 1]`), computed here with ``numpy.linalg.lstsq``;
* **closed forms on linear networks** (mse loss) -- the gradient
  :math:`g_{L-1} = W_L^\\top(W_L h + b_L - t)` is affine in :math:`(h, t)`, so a linear cDNI module
  can be exact; with it, the rule *is* backprop (checked against :func:`neurosim.backprop`);
* **Czarnecki et al. (2017)** -- on a linear network with injective weights the residual of
  the least-squares module is orthogonal to the layer's input, so ``sg``'s update at the
  module fixed point equals backprop's and the two share their critical points; a critical
  point is built in closed form (pseudo-inverse) and checked with the backprop oracle;
* **finite differences** -- the MLP module's update is the descent direction of its
  regression loss, written here from the documented equation;
* the equations of the module docstring, re-derived in NumPy (bootstrapped targets).

Seeds are fixed; tolerances are stated at each assertion with the reason.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurosim import Network, backprop
from neurosim.alignment import align
from neurosim.errors import ConfigError
from neurosim.params import bias_key, init_params
from neurosim.rules import get_rule, list_rules
from neurosim.rules.synthetic_gradients import module_layer_name

RULES = ["sg", "cdni"]


def _linear_setup(rule, sizes, seed, n=40):
    """A linear mse network with the rule's modules, random forward weights and biases, a batch."""
    rng = np.random.default_rng(seed)
    net = rule.network(Network.feedforward(sizes, activation="linear", loss="mse"))
    params = init_params(net, rng)
    for layer in net.feedforward_order()[1:]:
        params[bias_key(layer.name)] = rng.normal(0, 0.5, layer.size)
    x = rng.normal(0, 1, (n, sizes[0]))
    t = rng.normal(0, 1, (n, sizes[-1]))  # continuous targets: [h, t, 1] has full column rank
    return net, params, x, t


def _true_g(net, params, x, t):
    """Per-sample dL_n/dh_l of every hidden layer, from the backprop oracle (delta = g on a linear net)."""
    bp = backprop(net, params, x, t)
    return {p.post: bp.deltas[p.post] for p in net.chain()[:-1]}, bp


def _features(net, params, x, t, host, conditioned):
    h = backprop(net, params, x, t).forward.r[host]
    cols = [h, t] if conditioned else [h]
    return np.hstack(cols + [np.ones((len(x), 1))]), h


def _set_linear_module(params, host, out_name, coef, n_h, conditioned):
    """Write least-squares coefficients (features [h, (t), 1] -> g) into the module's parameters."""
    sg = module_layer_name(host)
    params[f"{host}->{sg}"] = coef[:n_h].T.copy()
    if conditioned:
        params[f"{out_name}->{sg}:label"] = coef[n_h:-1].T.copy()
    params[bias_key(sg)] = coef[-1].copy()


def _module_keys(rule, net):
    return rule.module_keys(net)


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


# --------------------------------------------------------------------------- registry
def test_rules_are_listed_in_their_family():
    rows = {r["name"]: r for r in list_rules()}
    for name in RULES:
        assert rows[name]["family"] == "synthetic_gradients" and rows[name]["reference"] == "backprop"
        assert "Jaderberg" in rows[name]["citation"]
    assert get_rule("dni").name == "sg" and get_rule("conditioned-dni").name == "cdni"


# --------------------------------------------------------------------------- least squares
@pytest.mark.parametrize("name", RULES)
def test_true_target_fixed_point_is_the_least_squares_predictor(name):
    """The module update vanishes at lstsq's solution, and plain descent from zero reaches it."""
    rule = get_rule(name, module_target="true")
    conditioned = name == "cdni"
    net, params, x, t = _linear_setup(rule, [4, 5, 6, 3], seed=0)
    g, _ = _true_g(net, params, x, t)
    out = net.output_layer.name
    keys = _module_keys(rule, net)
    best = {}
    for host in g:
        feats, h = _features(net, params, x, t, host, conditioned)
        best[host] = np.linalg.lstsq(feats, g[host], rcond=None)[0]
        _set_linear_module(params, host, out, best[host], h.shape[1], conditioned)
    dw = rule.step(net, params, x, t)
    # the normal equations hold at the solution: what is left is rounding of O(1e-16) x |F^T g|
    for key in keys:
        assert np.max(np.abs(dw[key])) < 1e-12, key

    # gradient descent on the modules alone (forward weights frozen), from the paper's zero init
    fresh = {k: (np.zeros_like(v) if k in keys else v) for k, v in params.items()}
    lipschitz = max(np.linalg.eigvalsh(_features(net, fresh, x, t, host, conditioned)[0].T
                                       @ _features(net, fresh, x, t, host, conditioned)[0] / len(x))[-1]
                    for host in g)
    for _ in range(4000):
        step = rule.step(net, fresh, x, t)
        for key in keys:
            fresh[key] = fresh[key] + step[key] / lipschitz
    for host in g:
        _, h = _features(net, params, x, t, host, conditioned)
        sg = module_layer_name(host)
        # a convex quadratic with condition number < 100 here: 4000 steps of 1/L contract the
        # error by (1 - 1/kappa)^4000 < 1e-17; 1e-8 leaves room for the conditioning
        np.testing.assert_allclose(fresh[f"{host}->{sg}"], best[host][:h.shape[1]].T, atol=1e-8)
        np.testing.assert_allclose(fresh[bias_key(sg)], best[host][-1], atol=1e-8)


# --------------------------------------------------------------------------- exact modules = backprop
def _exact_cdni_modules(net, params):
    """Closed-form cDNI modules with M_l(h, t) = dL/dh_l exactly on a linear mse network.

    Top hidden layer: g = W_L^T (W_L h + b_L - t), so A = W_L^T W_L, C = -W_L^T, c = W_L^T b_L.
    Below: g_l = W_{l+1}^T g_{l+1}(W_{l+1} h_l + b_{l+1}), so A_l = W^T A W, C_l = W^T C,
    c_l = W^T (A b + c).
    """
    chain = net.chain()
    out = net.output_layer.name
    mods = {}
    top = chain[-1]
    w, b = params[top.name], params[bias_key(top.post)]
    a, c, cc = w.T @ w, -w.T, w.T @ b
    mods[top.pre] = (a, c, cc)
    for proj in reversed(chain[1:-1]):
        w, b = params[proj.name], params[bias_key(proj.post)]
        a_up, c_up, cc_up = mods[proj.post]
        mods[proj.pre] = (w.T @ a_up @ w, w.T @ c_up, w.T @ (a_up @ b + cc_up))
    exact = dict(params)
    for host, (a, c, cc) in mods.items():
        sg = module_layer_name(host)
        exact[f"{host}->{sg}"], exact[f"{out}->{sg}:label"], exact[bias_key(sg)] = a, c, cc
    return exact


@pytest.mark.parametrize("target", ["bootstrap", "true"])
@pytest.mark.parametrize("sizes", [[4, 5, 3], [4, 6, 3, 5, 2]])
def test_modules_at_the_exact_gradient_make_the_rule_backprop(sizes, target):
    rule = get_rule("cdni", module_target=target)
    net, params, x, t = _linear_setup(rule, sizes, seed=1, n=12)
    exact = _exact_cdni_modules(net, params)
    dw = rule.step(net, exact, x, t)
    ref = backprop(net, exact, x, t).descent()
    for key in ref:  # the same sums in another order: float64 rounding, far below 1e-12
        assert _rel(dw[key], ref[key]) < 1e-12, key
    for key in rule.module_keys(net):  # exact predictions leave nothing to regress
        assert np.max(np.abs(dw[key])) < 1e-12, key
    report = align(rule, net, exact, x, t)
    for host in (p.post for p in net.chain()[:-1]):
        assert abs(report.extra[f"delta_cosine.{host}"] - 1) < 1e-12
        assert abs(report.extra[f"delta_norm_ratio.{host}"] - 1) < 1e-12
    assert abs(report.global_cosine - 1) < 1e-12


# --------------------------------------------------------------------------- Czarnecki et al. 2017
def _least_squares_sg_modules(rule, net, params, x, t):
    """sg modules at their fixed point, computed with lstsq from the module docstring's targets."""
    out = net.output_layer.name
    fitted = dict(params)
    g, bp = _true_g(net, params, x, t)
    chain = net.chain()
    for proj in reversed(chain[1:]):  # top hidden layer first: the bootstrap target needs the one above
        host = proj.pre
        feats, h = _features(net, params, x, t, host, False)
        if rule.hyper.module_target == "true" or proj is chain[-1]:
            goal = g[host]
        else:  # the synthetic gradient of the layer above through its weights (linear: phi' = 1)
            up = module_layer_name(proj.post)
            h_up = bp.forward.r[proj.post]
            g_up = h_up @ fitted[f"{proj.post}->{up}"].T + fitted[bias_key(up)]
            goal = g_up @ params[proj.name]
        coef = np.linalg.lstsq(feats, goal, rcond=None)[0]
        _set_linear_module(fitted, host, out, coef, h.shape[1], False)
    return fitted


@pytest.mark.parametrize("target", ["bootstrap", "true"])
def test_least_squares_sg_is_backprop_on_an_injective_linear_network(target):
    """Widening layers: h_{l-1} is affine in h_l, the lstsq residual is orthogonal to it, dW = backprop's."""
    rule = get_rule("sg", module_target=target)
    net, params, x, t = _linear_setup(rule, [3, 5, 6, 2], seed=2)
    fitted = _least_squares_sg_modules(rule, net, params, x, t)
    dw = rule.step(net, fitted, x, t)
    for key in rule.module_keys(net):
        assert np.max(np.abs(dw[key])) < 1e-12, key  # it is the rule's fixed point
    ref = backprop(net, fitted, x, t).descent()
    for key in ref:  # lstsq residuals are orthogonal to 1e-13 relative (float64, kappa < 1e3)
        assert _rel(dw[key], ref[key]) < 1e-10, key
    # the module does not predict g itself (t is not visible to it): only its projection
    report = align(rule, net, fitted, x, t)
    assert report.extra["delta_cosine.hidden2"] < 0.999


def test_least_squares_sg_differs_from_backprop_when_a_layer_loses_information():
    """Narrowing layers break the hypothesis: the lower updates are no longer backprop's."""
    rule = get_rule("sg", module_target="true")
    net, params, x, t = _linear_setup(rule, [6, 4, 3, 2], seed=3)
    fitted = _least_squares_sg_modules(rule, net, params, x, t)
    dw = rule.step(net, fitted, x, t)
    ref = backprop(net, fitted, x, t).descent()
    assert _rel(dw["hidden2->output"], ref["hidden2->output"]) < 1e-12  # the output layer's own error
    assert _rel(dw["input->hidden1"], ref["input->hidden1"]) > 1e-3


def _critical_point(net, x, t, seed):
    """A global minimum of a widening linear mse network: W_L = M (W_{L-1}...W_1)^+ with [M m] = lstsq."""
    rng = np.random.default_rng(seed)
    params = init_params(net, rng)
    chain = net.chain()
    for layer in net.feedforward_order()[1:]:
        params[bias_key(layer.name)] = rng.normal(0, 0.5, layer.size)
    coef = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), t, rcond=None)[0]
    m_map, m_bias = coef[:-1].T, coef[-1]
    prod, shift = np.eye(x.shape[1]), np.zeros(x.shape[1])
    for proj in chain[:-1]:
        prod = params[proj.name] @ prod
        shift = params[proj.name] @ shift + params[bias_key(proj.post)]
    top = chain[-1]
    params[top.name] = m_map @ np.linalg.pinv(prod)
    params[bias_key(top.post)] = m_bias - params[top.name] @ shift
    return params


@pytest.mark.parametrize("name", RULES)
def test_at_a_critical_point_of_the_loss_the_forward_update_vanishes(name):
    rng = np.random.default_rng(4)
    rule = get_rule(name)
    net = rule.network(Network.feedforward([3, 4, 5, 2], activation="linear", loss="mse"))
    x, t = rng.normal(0, 1, (30, 3)), rng.normal(0, 1, (30, 2))
    params = _critical_point(net, x, t, seed=5)
    grads = backprop(net, params, x, t).grads
    assert max(np.max(np.abs(g)) for g in grads.values()) < 1e-12  # the oracle: a critical point
    if name == "cdni":
        fitted = _exact_cdni_modules(net, params)
        assert np.linalg.norm(fitted["hidden2->hidden2_sg"]) > 0.1  # a non-trivial module
    else:
        fitted = _least_squares_sg_modules(rule, net, params, x, t)
        # at a critical point of an injective linear net the unconditioned predictor is zero
        assert all(np.max(np.abs(fitted[k])) < 1e-10 for k in rule.module_keys(net))
    dw = rule.step(net, fitted, x, t)
    for key in dw:  # forward and module updates: the pair is a fixed point of the SG system
        assert np.max(np.abs(dw[key])) < 1e-12, key


# --------------------------------------------------------------------------- the equations
@pytest.mark.parametrize("name", RULES)
def test_bootstrapped_target_is_the_synthetic_error_above_through_one_layer(name):
    """Linear module on a tanh net with random (non-zero) modules: Delta A, C, c from the docstring."""
    rng = np.random.default_rng(6)
    rule = get_rule(name)
    net = rule.network(Network.feedforward([5, 6, 4, 3], activation="tanh", loss="cross_entropy"))
    params = init_params(net, rng)
    for key in rule.module_keys(net):
        params[key] = rng.normal(0, 0.3, params[key].shape)
    x, t = rng.normal(0, 1, (7, 5)), np.eye(3)[rng.integers(0, 3, 7)]
    fp = backprop(net, params, x, t).forward

    def predict(host):
        sg = module_layer_name(host)
        g = fp.r[host] @ params[f"{host}->{sg}"].T + params[bias_key(sg)]
        return g + (t @ params[f"output->{sg}:label"].T if name == "cdni" else 0)

    g2_hat = predict("hidden2")
    delta2_hat = g2_hat * (1 - fp.r["hidden2"] ** 2)  # tanh' from the rate
    goal1 = delta2_hat @ params["hidden1->hidden2"]
    e1 = goal1 - predict("hidden1")
    dw = rule.step(net, params, x, t)
    np.testing.assert_allclose(dw["hidden1->hidden1_sg"], e1.T @ fp.r["hidden1"] / 7, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw["hidden1_sg.bias"], e1.mean(axis=0), rtol=1e-12, atol=1e-15)
    if name == "cdni":
        np.testing.assert_allclose(dw["output->hidden1_sg:label"], e1.T @ t / 7, rtol=1e-12, atol=1e-15)
    # the forward weights below follow the synthetic error, not the true one
    np.testing.assert_allclose(dw["hidden1->hidden2"], -delta2_hat.T @ fp.r["hidden1"] / 7, rtol=1e-12)


@pytest.mark.parametrize("name", RULES)
def test_mlp_module_update_is_the_descent_direction_of_its_regression_loss(name):
    """Central differences of 1/2 <|M(h, t) - g|^2> (target: the true gradient, held fixed)."""
    rng = np.random.default_rng(7)
    rule = get_rule(name, module_hidden=5, module_target="true")
    net = rule.network(Network.feedforward([4, 6, 3], activation="sigmoid", loss="cross_entropy"))
    params = init_params(net, rng)
    for key in rule.module_keys(net):  # leave the zero init so every term is exercised
        params[key] = rng.normal(0, 0.5, params[key].shape)
    x, t = rng.normal(0, 1, (6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    bp = backprop(net, params, x, t)
    h = bp.forward.r["hidden1"]
    g = bp.deltas["output"] @ params["hidden1->output"]  # dL_n/dh_1 (rates, not potentials)

    def loss(p):
        v = h @ p["hidden1->hidden1_sg_hidden"].T + p["hidden1_sg_hidden.bias"]
        if name == "cdni":
            v = v + t @ p["output->hidden1_sg_hidden:label"].T
        pred = np.maximum(v, 0) @ p["hidden1_sg_hidden->hidden1_sg"].T + p["hidden1_sg.bias"]
        return 0.5 * np.sum((pred - g) ** 2) / len(x)

    dw = rule.step(net, params, x, t)
    eps = 1e-6
    for key in rule.module_keys(net):
        numeric = np.zeros_like(params[key])
        for i in np.ndindex(params[key].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][i] += eps
            minus[key][i] -= eps
            numeric[i] = (loss(plus) - loss(minus)) / (2 * eps)
        # O(eps^2) truncation; relu kinks are avoided with probability one at these values
        np.testing.assert_allclose(dw[key], -numeric, rtol=1e-6, atol=1e-9, err_msg=key)


def test_zero_modules_leave_the_hidden_layers_alone_and_the_output_layer_exact():
    rng = np.random.default_rng(8)
    rule = get_rule("sg")
    net = rule.network([5, 4, 3])
    params = rule.init_params(net, 0)
    x, t = rng.normal(0, 1, (6, 5)), np.eye(3)[rng.integers(0, 3, 6)]
    dw = rule.step(net, params, x, t)
    ref = backprop(net, params, x, t).descent()
    assert not np.any(dw["input->hidden1"]) and not np.any(dw["hidden1.bias"])
    np.testing.assert_array_equal(dw["hidden1->output"], ref["hidden1->output"])
    report = align(rule, net, params, x, t)
    assert np.isnan(report.extra["delta_cosine.hidden1"])  # undefined, not invented


# --------------------------------------------------------------------------- the description
def test_network_adds_modules_after_the_forward_path_and_is_idempotent():
    rule = get_rule("cdni", module_hidden=3)
    net = rule.network([5, 4, 4, 3])
    assert rule.network(net) is net
    assert [layer.name for layer in net.feedforward_order()] == ["input", "hidden1", "hidden2", "output"]
    assert net.sizes == (5, 4, 4, 3)  # the modules are not on the feedforward path
    # same seed, same forward weights as backprop's default network: the modules are drawn after
    ref = get_rule("backprop").init_params(get_rule("backprop").network([5, 4, 4, 3]), 3)
    mine = rule.init_params(net, 3)
    for key in ref:
        np.testing.assert_array_equal(mine[key], ref[key])
    for key in ("hidden1_sg_hidden->hidden1_sg", "hidden1_sg.bias"):
        assert not np.any(mine[key])  # zero-initialised output layer (Jaderberg et al. 2017)
    assert set(rule.learning_rate_scales(net)) == set()
    scaled = rule.replace(module_lr_scale=3.0)
    assert scaled.learning_rate_scales(net) == {k: 3.0 for k in rule.module_keys(net)}
    assert not set(rule.module_keys(net)) & set(ref)


@pytest.mark.parametrize("built, used", [(("sg", {}), ("sg", {"module_hidden": 4})),
                                         (("cdni", {}), ("sg", {})),
                                         (("sg", {"module_hidden": 4}), ("sg", {}))])
def test_a_module_of_another_shape_is_rejected_in_one_line(built, used):
    net = get_rule(built[0], **built[1]).network([5, 4, 3])
    rule = get_rule(used[0], **used[1])
    with pytest.raises(ConfigError) as err:
        rule.network(net)
    assert "\n" not in str(err.value) and "hidden1" in str(err.value)


def test_a_network_without_modules_is_rejected_with_the_fix():
    net = Network.feedforward([5, 4, 3], loss="cross_entropy")
    params = init_params(net, 0)
    with pytest.raises(ConfigError, match="rule.network"):
        get_rule("sg").step(net, params, np.zeros((2, 5)), np.eye(3)[:2])


def test_modules_travel_through_a_checkpoint(tmp_path):
    from neurosim.data import Dataset
    from neurosim.results import load_run
    from neurosim.training import TrainConfig, train

    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, (40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    data = Dataset("tiny", x[:32], y[:32], x[32:], y[32:], 3, None, "tests")
    rule = get_rule("cdni")
    result = train(rule.network([5, 4, 3]), rule, data, TrainConfig(epochs=2, batch_size=8), out_dir=tmp_path,
                   progress=False)
    _, arrays = load_run(tmp_path)
    for key in rule.module_keys(result.network):
        np.testing.assert_array_equal(arrays[key], result.params[key])
    assert np.any(result.params["hidden1->hidden1_sg"])  # the modules did learn


# --------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", RULES)
def test_learns_digits_and_its_top_module_predicts_the_gradient(name):
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("digits")
    rule = get_rule(name)
    result = train(rule.network([64, 64, 64, 10]), rule, data,
                   TrainConfig(epochs=20, batch_size=32, learning_rate=1e-3, align_samples=0), progress=False)
    assert result.status == "completed"
    assert result.test_error < 0.25  # chance is 0.9; backprop reaches ~0.05 with this budget
    params = {k: v.astype(np.float64) for k, v in result.params.items()}
    report = align(rule, result.network, params, data.x_train[:200].astype(np.float64),
                   data.targets("train")[:200].astype(np.float64))
    # the top module has learnt a predictor positively aligned with the true gradient
    assert report.extra["delta_cosine.hidden2"] > 0.2


def test_experiment_writes_both_alignments_per_epoch(tmp_path):
    """experiments/sg_training.py at one epoch: the record the figure reads (smoke test, ~2 s)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "sg_training.py"
    spec = importlib.util.spec_from_file_location("sg_training", path)
    experiment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(experiment)
    record = experiment.main(["--setup", "digits", "--epochs", "1", "--seeds", "0", "--rules", "cdni,readout-only",
                              "--tag", "smoke", "--out", str(tmp_path)])
    assert (tmp_path / "digits-smoke.json").exists()
    cdni, control = record["runs"]
    assert [h["epoch"] for h in cdni["history"]] == [0, 1]
    assert np.isnan(cdni["history"][0]["delta_cosine"]["hidden1"])  # zero modules at the start
    assert np.isfinite(cdni["history"][1]["delta_cosine"]["hidden2"])
    assert not control["history"][0]["delta_cosine"]  # the control has no modules
    assert set(record["summary"]) == {"cdni", "readout-only"}

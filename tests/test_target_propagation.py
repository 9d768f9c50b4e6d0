"""Target propagation (TP, DTP, SDTP, AO-SDTP) against closed forms, limits and finite differences.

Oracles
-------
* Difference correction (Lee et al. 2015): if the top target equals the top activity
  (``target_lr = 0`` for DTP; ``t = o`` for SDTP/AO-SDTP) every target equals its
  activity, for *arbitrary* inverses -- and vanilla TP, which lacks the correction, does not.
* One hidden layer: DTP's first target is a gradient step of size eta-hat, so its update
  is exactly ``eta-hat * (-dL/dW)`` (the reference backprop); the output layer's update is
  ``-dL/dW`` for every variant.
* Exact inverses of a linear network (V = W^-1, c = -W^-1 b): the DTP target displacement
  of layer l is the Gauss-Newton step ``(J^T J)^-1 J^T Delta`` that moves the penultimate
  layer by Delta (J = d h_{L-1} / d h_l), computed here by least squares; and TP = DTP.
* Forward and inverse changes are minus the gradients of the local losses, checked by
  central finite differences.
* Learning: the inverses' reconstruction error falls and the DTP update stays well within
  90 degrees of backprop's during training (measured, thresholds stated below).
"""
import json

import numpy as np
import pytest

from conftest import random_batch, random_params
from neurosim import ModelCard, Network, Projection, backprop, get_rule, init_params
from neurosim.data import load_dataset
from neurosim.errors import ConfigError
from neurosim.reference import forward, softmax
from neurosim.rules import rule_class
from neurosim.rules.target_propagation import aux_layer_name, inverse_bias_key, inverse_name
from neurosim.training import TrainConfig, train

TP_RULES = ("tp", "dtp", "sdtp", "aosdtp")
LOSSES = ("mse", "cross_entropy")


def make(name, **hyper):
    """A rule with a small auxiliary layer for AO-SDTP (keeps the tests fast)."""
    if name == "aosdtp":
        hyper.setdefault("n_aux", 7)
    return get_rule(name, **hyper)


def setup(name, sizes=(6, 5, 5, 4, 3), loss="cross_entropy", data_seed=0, activation="tanh", **hyper):
    """Prepared network, random parameters (inverses ~ xavier, every bias ~ N(0, 0.3)), a batch.

    ``hyper`` goes to the rule (``seed`` included: the rule's noise seed); ``data_seed`` draws
    the parameters and the batch.
    """
    rule = make(name, **hyper)
    rng = np.random.default_rng(data_seed)
    net = rule.prepare(Network.feedforward(list(sizes), activation=activation, loss=loss))
    params = random_params(net, rng)
    rule.init_extra(net, params)
    for key in params:
        if key.endswith(":inverse.bias"):
            params[key] = rng.normal(0, 0.3, params[key].shape)
    x, t = random_batch(net, rng, batch=7)
    return rule, net, params, x, t


# ------------------------------------------------------------------ registry and description
def test_registered_with_family_and_inverses():
    for name in TP_RULES:
        assert rule_class(name).family == "target_propagation"
    net = Network.feedforward([6, 5, 4, 3, 2], loss="cross_entropy")
    expected = {
        "tp": {"hidden3->hidden2:inverse", "hidden2->hidden1:inverse"},
        "dtp": {"hidden3->hidden2:inverse", "hidden2->hidden1:inverse"},
        "sdtp": {"output->hidden3:inverse", "hidden3->hidden2:inverse", "hidden2->hidden1:inverse"},
        "aosdtp": {"output->hidden3:inverse", "output_aux->hidden3:inverse", "hidden3->hidden2:inverse",
                   "hidden2->hidden1:inverse"},
    }
    for name, names in expected.items():
        rule = make(name)
        prepared = rule.prepare(net)
        assert rule.prepare(prepared) == prepared  # idempotent
        fb = prepared.select("feedback")
        assert {p.name for p in fb} == names
        assert all(p.plastic for p in fb)
        params = init_params(prepared, 0)
        for p in fb:  # an inverse of pre -> post has the shape of post x pre, i.e. W^T
            assert params[p.name].shape == (prepared.layer(p.post).size, prepared.layer(p.pre).size)
    assert net.select("feedback") == ()  # prepare never mutates the description


def test_aosdtp_aux_pathway_is_fixed_and_off_the_reference_path():
    rule, net, params, x, t = setup("aosdtp")
    aux = aux_layer_name(net)
    (proj,) = net.select("lateral", post=aux)
    assert proj.pre == "hidden3" and not proj.plastic and net.layer(aux).size == 7
    dw = rule.updates(net, params, x, t)
    assert proj.name not in dw  # W_z is never trained: z are fixed random features
    assert set(backprop(net, params, x, t).grads) <= set(dw)  # forward keys all present
    assert aux not in forward(net, params, x).r  # the reference never sees the auxiliary units


def test_bad_configuration_fails_early_with_the_fix():
    with pytest.raises(ConfigError, match="'schedule' must be one of parallel, alternating, got 'sometimes'"):
        get_rule("dtp", schedule="sometimes")
    with pytest.raises(ConfigError, match="'alternate_every' must be an integer >= 1"):
        get_rule("sdtp", alternate_every=0)
    with pytest.raises(ConfigError, match="'inverse_loss' must be one of"):
        get_rule("tp", inverse_loss="noisy")
    with pytest.raises(ConfigError, match="'noise_std' must be >= 0"):
        get_rule("dtp", noise_std=-0.1)
    branched = Network.feedforward([4, 3, 2]).add(Projection("input", "output", name="skip"))
    with pytest.raises(ConfigError, match="layered chain"):
        get_rule("dtp").prepare(branched)
    net = Network.feedforward([4, 3, 3, 2])
    with pytest.raises(ConfigError, match="call rule.prepare"):
        get_rule("dtp").updates(net, init_params(net, 0), np.zeros((1, 4)), np.zeros((1, 2)))
    prepared = make("aosdtp").prepare(net)
    with pytest.raises(ConfigError, match="n_aux"):
        get_rule("aosdtp", n_aux=3).prepare(prepared)


# ------------------------------------------------------------------ theory: targets
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("name", ("dtp", "sdtp", "aosdtp"))
def test_difference_correction_target_equals_activity_when_output_target_does(name, loss):
    rule, net, params, x, t = setup(name, loss=loss, target_lr=0.0)
    for key in params:  # arbitrary, far-from-inverse feedback weights
        if ":inverse" in key:
            params[key] = np.random.default_rng(5).normal(0, 2.0, params[key].shape)
    fp = forward(net, params, x)
    if rule.first_target == "inverse":  # o-hat = t: make the target the current output representation
        t = softmax(fp.output) if loss == "cross_entropy" else fp.output
    res = rule.targets(net, params, x, t)
    assert set(res["targets"]) == {"hidden1", "hidden2", "hidden3"}
    for layer, hat in res["targets"].items():
        # h + g(h) - g(h): the same floating-point numbers are subtracted, so the tolerance is rounding
        np.testing.assert_allclose(hat, fp.r[layer], rtol=0, atol=1e-12)
    dw = rule.forward_updates(net, params, x, t)
    for key in ("input->hidden1", "hidden1->hidden2", "hidden2->hidden3"):
        np.testing.assert_allclose(dw[key], 0.0, atol=1e-12)


def test_vanilla_tp_without_correction_moves_targets_even_at_zero_step():
    # The control: same setting as above but no difference correction, so imperfect inverses
    # give g(h) != h and the targets move although the top target did not.
    rule, net, params, x, t = setup("tp", target_lr=0.0)
    fp = forward(net, params, x)
    hats = rule.targets(net, params, x, t)["targets"]
    np.testing.assert_array_equal(hats["hidden3"], fp.r["hidden3"])  # the gradient step of size 0
    for layer in ("hidden1", "hidden2"):
        assert np.max(np.abs(hats[layer] - fp.r[layer])) > 1e-2


@pytest.mark.parametrize("loss", LOSSES)
def test_dtp_with_one_hidden_layer_is_scaled_backprop(loss):
    eta = 0.37
    rule, net, params, x, t = setup("dtp", sizes=(6, 5, 3), loss=loss, target_lr=eta)
    dw = rule.forward_updates(net, params, x, t)
    ref = backprop(net, params, x, t).descent()
    # tolerance: float64 rounding of a few matrix products
    np.testing.assert_allclose(dw["input->hidden1"], eta * ref["input->hidden1"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dw["hidden1.bias"], eta * ref["hidden1.bias"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", TP_RULES)
@pytest.mark.parametrize("loss", LOSSES)
def test_output_layer_follows_the_task_loss_gradient(name, loss):
    rule, net, params, x, t = setup(name, loss=loss)
    dw = rule.forward_updates(net, params, x, t)
    ref = backprop(net, params, x, t).descent()
    for key in ("hidden3->output", "output.bias"):
        np.testing.assert_allclose(dw[key], ref[key], rtol=1e-12, atol=1e-15)


def _linear_net_with_exact_inverses(rule, seed=3):
    """Linear chain 4-5-5-5-3 (square, invertible hidden weights) with V = W^-1, c = -W^-1 b."""
    rng = np.random.default_rng(seed)
    net = rule.prepare(Network.feedforward([4, 5, 5, 5, 3], activation="linear", loss="mse"))
    params = random_params(net, rng)
    rule.init_extra(net, params)
    for proj in net.chain()[1:-1]:  # hidden1->hidden2, hidden2->hidden3: 5 x 5
        w = params[proj.name] + 2.0 * np.eye(5)  # shift the spectrum away from 0: well conditioned
        params[proj.name] = w
        inv = inverse_name(proj.post, proj.pre)
        params[inv] = np.linalg.inv(w)
        params[inverse_bias_key(inv)] = -np.linalg.solve(w, params[f"{proj.post}.bias"])
    x, t = random_batch(net, rng, batch=6)
    return net, params, x, t


def test_dtp_targets_with_exact_inverses_are_gauss_newton_steps():
    """Delta_l = argmin_s ||J_l s - Delta_{L-1}||^2 = (J^T J)^-1 J^T Delta_{L-1} (Meulemans et al. 2020)."""
    rule = get_rule("dtp", target_lr=0.2)
    net, params, x, t = _linear_net_with_exact_inverses(rule)
    fp = forward(net, params, x)
    hats = rule.targets(net, params, x, t)["targets"]
    top = hats["hidden3"] - fp.r["hidden3"]  # (batch, 5)
    # the first target is the gradient step through W_L of the mse loss: -eta (r_L - t) W_L
    np.testing.assert_allclose(top, -0.2 * (fp.output - t) @ params["hidden3->output"], rtol=1e-12)
    w2, w3 = params["hidden1->hidden2"], params["hidden2->hidden3"]
    for layer, jac in (("hidden2", w3), ("hidden1", w3 @ w2)):
        gauss_newton = np.linalg.lstsq(jac, top.T, rcond=None)[0].T  # independent of the inverses
        # tolerance: condition number of J (< 1e2 after the spectral shift) times float64 rounding
        np.testing.assert_allclose(hats[layer] - fp.r[layer], gauss_newton, rtol=1e-9, atol=1e-12)


def test_tp_equals_dtp_when_inverses_are_exact():
    # g(h_l) = h_{l-1} exactly, so the difference correction vanishes
    dtp, tp = get_rule("dtp"), get_rule("tp")
    net, params, x, t = _linear_net_with_exact_inverses(dtp)
    a, b = dtp.targets(net, params, x, t)["targets"], tp.targets(net, params, x, t)["targets"]
    for layer in a:
        np.testing.assert_allclose(a[layer], b[layer], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ finite differences
def _central_difference(loss_fn, array, eps=1e-6):
    """d loss / d array by central differences (float64; eps near the rounding/truncation optimum)."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = loss_fn()
        array[i] = old - eps
        down = loss_fn()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", TP_RULES)
def test_hidden_update_descends_the_local_target_loss(name):
    rule, net, params, x, t = setup(name)
    hats = rule.targets(net, params, x, t)["targets"]  # held fixed
    fp = forward(net, params, x)
    dw = rule.forward_updates(net, params, x, t)
    for proj in net.chain()[:-1]:
        def local_loss(proj=proj):  # bound now: the closure is used within this iteration
            u = fp.r[proj.pre] @ params[proj.name].T + params[f"{proj.post}.bias"]
            return 0.5 * np.sum((np.tanh(u) - hats[proj.post]) ** 2) / x.shape[0]

        for key in (proj.name, f"{proj.post}.bias"):
            numeric = _central_difference(local_loss, params[key])
            np.testing.assert_allclose(dw[key], -numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("inverse_loss", ("preserving", "denoising"))
@pytest.mark.parametrize("name", ("dtp", "aosdtp"))
def test_inverse_update_descends_the_reconstruction_loss(name, inverse_loss):
    sigma, seed = 0.3, 11
    rule, net, params, x, t = setup(name, loss="mse", noise_std=sigma, inverse_loss=inverse_loss, seed=seed)
    fp = forward(net, params, x)
    # the rule draws one noise array per inverse, top pair first, from default_rng(seed)
    draw = np.random.default_rng(seed)
    noise = {pair: sigma * draw.standard_normal(fp.r[pair[1]].shape) for pair in rule.inverse_pairs(net)}
    dw = rule.inverse_updates(net, params, x)
    out, aux = net.output_layer.name, aux_layer_name(net)
    for (upper, lower), eps in noise.items():
        h_tilde = fp.r[lower] + eps
        goal = h_tilde if inverse_loss == "preserving" else fp.r[lower]
        name_inv = inverse_name(upper, lower)

        def rec_loss(upper=upper, lower=lower, h_tilde=h_tilde, goal=goal, name_inv=name_inv):
            # every layer is tanh here (the mse output too), and o = r_L for the mse loss
            r = np.tanh(h_tilde @ params[f"{lower}->{upper}"].T + params[f"{upper}.bias"])
            a = r @ params[name_inv].T + params[inverse_bias_key(name_inv)]
            if upper == out and name == "aosdtp":
                z = np.tanh(h_tilde @ params[f"{lower}->{aux}"].T)
                a = a + z @ params[inverse_name(aux, lower)].T
            return 0.5 * np.sum((np.tanh(a) - goal) ** 2) / x.shape[0]

        keys = [name_inv, inverse_bias_key(name_inv)]
        if upper == out and name == "aosdtp":
            keys.append(inverse_name(aux, lower))
        for key in keys:
            numeric = _central_difference(rec_loss, params[key])
            np.testing.assert_allclose(dw[key], -numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ schedules and seeds
def test_alternating_schedule_alternates_and_align_does_not_advance_it():
    rule, net, params, x, t = setup("sdtp", schedule="alternating", alternate_every=2)
    inverse = set(rule.inverse_keys(net))
    fwd = set(backprop(net, params, x, t).grads)
    seen = []
    for _ in range(6):
        keys = set(rule.updates(net, params, x, t))
        seen.append("inverse" if keys == inverse else "forward" if keys == fwd else "mixed")
        state = rule.rng_.bit_generator.state
        report = rule.align(net, params, x, t)
        assert rule.rng_.bit_generator.state == state  # align draws no noise
        assert {p.name for p in report.projections} == {k for k in fwd if not k.endswith(".bias")}
    assert seen == ["inverse", "inverse", "forward", "forward", "inverse", "inverse"]
    assert rule.calls_ == 6
    par = make("sdtp")
    assert set(par.updates(net, params, x, t)) == inverse | fwd


def test_same_seed_same_numbers():
    rule_a, net, params, x, t = setup("dtp", seed=3)
    rule_b = get_rule("dtp", seed=3)
    rule_c = get_rule("dtp", seed=4)
    a, b, c = (r.updates(net, params, x, t) for r in (rule_a, rule_b, rule_c))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["hidden2->hidden1:inverse"], c["hidden2->hidden1:inverse"])
    np.testing.assert_array_equal(a["input->hidden1"], c["input->hidden1"])  # forward pass is noise-free


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_inverse_lr_scale_sets_the_inverse_learning_rate(optimizer):
    """inverse_lr_scale = 1/2 halves the inverses' first step and leaves the forward one alone,
    under SGD and under Adam (where rescaling the update itself would change nothing)."""
    data = load_dataset("digits", n_train=64, n_test=32, seed=0)
    net = Network.feedforward([64, 16, 16, 10], activation="tanh", loss="cross_entropy")
    steps = {}
    for scale in (1.0, 0.5):
        rule = get_rule("dtp", inverse_lr_scale=scale)
        prepared = rule.prepare(net)
        params = init_params(prepared, seed=0)
        result = train(prepared, rule, data, TrainConfig(epochs=1, batch_size=64, optimizer=optimizer,
                                                         learning_rate=1e-2, seed=0, dtype="float64"),
                       params=params)
        # the inverse bias is created lazily at zero by the first update (see the next test)
        steps[scale] = {k: result.params[k] - params.get(k, 0.0) for k in result.params}
    inv = inverse_name("hidden2", "hidden1")
    for key in (inv, inverse_bias_key(inv)):
        np.testing.assert_allclose(steps[0.5][key], 0.5 * steps[1.0][key], rtol=1e-9, atol=1e-15)
        assert np.abs(steps[1.0][key]).max() > 0
    np.testing.assert_allclose(steps[0.5]["input->hidden1"], steps[1.0]["input->hidden1"], rtol=1e-12)
    with pytest.raises(ConfigError, match="inverse_lr_scale"):
        get_rule("dtp", inverse_lr_scale=0)


def test_inverse_biases_are_created_lazily_with_the_weights_dtype():
    rule = get_rule("dtp")
    net = rule.prepare(Network.feedforward([5, 4, 4, 3], loss="cross_entropy"))
    params = init_params(net, 0, dtype="float32")
    assert "hidden2->hidden1:inverse.bias" not in params
    x, t = random_batch(net, np.random.default_rng(0))
    dw = rule.updates(net, params, x.astype(np.float32), t.astype(np.float32))
    assert params["hidden2->hidden1:inverse.bias"].dtype == np.float32
    assert np.all(params["hidden2->hidden1:inverse.bias"] == 0)
    assert dw["hidden2->hidden1:inverse.bias"].shape == (4,)


# ------------------------------------------------------------------ learning (measured)
@pytest.fixture(scope="module")
def dtp_run():
    """DTP on the embedded digits, 64-32-32-32-10 tanh, Adam 1e-3, batch 32, 8 epochs, seed 0 (~5 s)."""
    data = load_dataset("digits", seed=0)
    rule = get_rule("dtp", seed=0)
    net = rule.prepare(Network.feedforward([64, 32, 32, 32, 10], loss="cross_entropy"))
    params = init_params(net, 0, dtype="float32")
    rule.init_extra(net, params)
    x = data.x_train.astype(np.float32)
    before = rule.reconstruction_error(net, params, x)
    result = train(net, rule, data, TrainConfig(epochs=8, batch_size=32, seed=0), params=params,
                   progress=False)
    after = rule.reconstruction_error(result.network, result.params, x)
    return result, before, after


def test_learned_inverses_reconstruction_error_falls(dtp_run):
    result, before, after = dtp_run
    assert result.status == "completed"
    assert set(before) == {"hidden3->hidden2:inverse", "hidden2->hidden1:inverse"}
    for key in before:
        # Measured (seeds 0, 1, 2): each error falls by a factor of 11 to 13 in 8 epochs; asking for 4
        # leaves room for BLAS/platform differences and still fails if the inverses do not learn.
        assert after[key] < 0.25 * before[key], (key, before[key], after[key])


def test_dtp_update_stays_well_within_90_degrees_of_backprop(dtp_run):
    result, _, _ = dtp_run
    angles = [entry["alignment"]["global_angle_deg"] for entry in result.history]
    first = [entry["alignment"]["projections"]["input->hidden1"] for entry in result.history]
    # < 90 degrees is a descent direction.  Measured (seeds 0, 1, 2): the global angle stays within
    # 54-69 degrees in every epoch; the first layer's cosine starts near 0 (epoch 1: -0.13 to 0.09,
    # random inverses carry no information yet) and rises to 0.73-0.80 by epoch 8 as they learn.
    assert max(angles) < 80.0, angles
    assert first[-1] > 0.5 and first[-1] > first[0] + 0.3, first
    assert result.test_error < 0.2  # chance is 0.9; measured 0.09-0.12


def test_cli_train_dtp_json(capsys):
    from neurosim.cli import main

    code = main(["train", "--rule", "dtp", "--dataset", "digits", "--epochs", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["rule"] == "dtp" and out["epochs"] == 2
    assert out["test_error"] < 0.8  # better than chance (0.9) after 2 epochs


# ------------------------------------------------------------------ model cards
PUBLISHED_MNIST = {  # Bartunov et al. (2018), Table 1, MNIST fully connected, test error (%)
    "bp": 1.48, "fa": 1.85, "dfa": 2.75, "dtp_parallel": 2.86, "dtp_alternating": 1.83,
    "sdtp_parallel": 3.52, "sdtp_alternating": 2.28, "aosdtp_parallel": 2.93, "aosdtp_alternating": 1.86}


@pytest.mark.parametrize("method", sorted(PUBLISHED_MNIST))
def test_bartunov_model_cards(method):
    from pathlib import Path

    card = ModelCard.load(Path(__file__).parents[1] / "models" / f"bartunov2018_{method}.toml")
    assert card.network.sizes == (784, 256, 256, 256, 256, 256, 10)
    assert card.network.loss == "cross_entropy" and card.training["optimizer"] == "adam"
    rule = get_rule(card.rule["name"], **{k: v for k, v in card.rule.items() if k != "name"})
    rule.prepare(card.network)
    assert card.published["test_error"] == pytest.approx(PUBLISHED_MNIST[method] / 100)


@pytest.mark.slow
def test_dtp_trains_on_fashion_mnist():
    """The issue's acceptance: ``neurosim train --rule dtp --dataset fashion-mnist`` gives a sensible error.

    784-256-256-10 tanh, Adam 1e-3, batch 128, 3 epochs, seed 0.  Backprop reaches about 0.13
    here; a linear classifier about 0.16.  DTP should be within a few points of them.
    """
    data = load_dataset("fashion-mnist")
    net = Network.feedforward([784, 256, 256, 10], loss="cross_entropy")
    result = train(net, "dtp", data, TrainConfig(epochs=3, batch_size=128, seed=0), progress=False)
    assert result.status == "completed"
    assert result.test_error < 0.20

"""The soft LIF (Hunsberger & Eliasmith 2015) and its fit to measured rates -- no simulation.

Oracles: central finite differences (the derivative), closed-form values and bounds that
follow from the softplus (:math:`\\sigma\\ln(1+e^{z/\\sigma}) \\ge \\max(z, 0)`, equality
in the limit), the hard LIF as the :math:`\\sigma \\to 0` limit, and synthetic (drive, rate)
pairs generated from a known width; the backprop oracle through it against finite
differences, and its torch evaluation against numpy.
"""
import math
import warnings

import numpy as np
import pytest

from neurosim import Layer, Network, init_params
from neurosim.reference import gradcheck
from neurosim.errors import ConfigError, UnknownNameError
from neurosim.neurons import (ACTIVATIONS, RATE_SCALE_HZ, SOFT_LIF_DEFAULT_SIGMA, LIFParameters,
                              canonical_activation, get_activation, lif_rate, lif_rate_derivative,
                              soft_lif_rate, soft_lif_rate_derivative)

PARAMS = [(0.020, 0.002, 0.0), (0.010, 0.005, -0.5)]   # (tau_m, t_ref, u_reset): default and another


@pytest.mark.parametrize("tau_m, t_ref, u_reset", PARAMS)
@pytest.mark.parametrize("sigma", [0.01, 0.07, 0.5])
def test_soft_lif_derivative_matches_finite_differences(sigma, tau_m, t_ref, u_reset):
    u = np.linspace(-3.0, 6.0, 901)
    h = 1e-6 * sigma   # central differences: truncation O(h^2 r''') and rounding O(1e-16 r / h), both < 1e-7 here
    args = (sigma, tau_m, t_ref, u_reset)
    fd = (soft_lif_rate(u + h, *args) - soft_lif_rate(u - h, *args)) / (2 * h)
    d = soft_lif_rate_derivative(u, sigma, tau_m, t_ref, u_reset)
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tau_m, t_ref, u_reset", PARAMS)
def test_soft_lif_closed_form_at_threshold_and_bounds(tau_m, t_ref, u_reset):
    sigma = 0.1
    # at u = 1 the softplus is sigma ln 2
    expected = 1.0 / (t_ref + tau_m * math.log(1 + (1 - u_reset) / (sigma * math.log(2))))
    assert soft_lif_rate(np.array([1.0]), sigma, tau_m, t_ref, u_reset)[0] == pytest.approx(expected, rel=1e-12)
    u = np.linspace(-5.0, 8.0, 1301)
    soft = soft_lif_rate(u, sigma, tau_m, t_ref, u_reset)
    hard = lif_rate(u, tau_m, t_ref, u_reset)
    # s >= max(u - 1, 0) makes the charging time shorter: the soft rate is never below the hard one,
    # and it stays below the refractory ceiling 1 / t_ref
    assert np.all(soft >= hard * (1 - 1e-13)) and np.all(soft < 1.0 / t_ref) and np.all(soft > 0)
    # below threshold s < sigma e^{(u-1)/sigma}, so T > tau_m (1 - u) / sigma: r < sigma / (tau_m (1 - u))
    below = u < 1.0
    assert np.all(soft[below] < sigma / (tau_m * (1.0 - u[below])))


@pytest.mark.parametrize("tau_m, t_ref, u_reset", PARAMS)
def test_soft_lif_tends_to_the_hard_lif_away_from_threshold(tau_m, t_ref, u_reset):
    above, below = np.linspace(1.05, 6.0, 200), np.linspace(-3.0, 0.95, 200)
    for sigma in (1e-2, 1e-3):
        # above threshold s - (u - 1) = sigma ln(1 + e^{-(u-1)/sigma}) < sigma e^{-0.05/sigma}, a relative
        # change of s of at most 20 sigma e^{-0.05/sigma}; r and r' depend on s smoothly (factors < 5);
        # r' also has the factor sigmoid((u-1)/sigma) = 1 - O(e^{-0.05/sigma})
        bound = 100 * sigma * math.exp(-0.05 / sigma) + 1e-12
        rel = np.abs(soft_lif_rate(above, sigma, tau_m, t_ref, u_reset) / lif_rate(above, tau_m, t_ref, u_reset) - 1)
        assert rel.max() < bound, (sigma, rel.max())
        drel = np.abs(soft_lif_rate_derivative(above, sigma, tau_m, t_ref, u_reset)
                      / lif_rate_derivative(above, tau_m, t_ref, u_reset) - 1)
        assert drel.max() < bound + math.exp(-0.05 / sigma), (sigma, drel.max())
        # below, the bound of the previous test: the rate (hard: 0) vanishes linearly in sigma
        assert np.all(soft_lif_rate(below, sigma, tau_m, t_ref, u_reset) < sigma / (tau_m * (1.0 - below)))


def test_soft_lif_has_no_overflow_far_from_threshold():
    u = np.array([-1e4, -50.0, 1.0, 50.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = soft_lif_rate(u, 1e-3)
        d = soft_lif_rate_derivative(u, 1e-3)
    assert np.all(np.isfinite(r)) and np.all(np.isfinite(d)) and np.all(r > 0) and np.all(d >= 0)


def test_soft_lif_activation_names_and_rate_units():
    assert "soft_lif" not in ACTIVATIONS and get_activation("soft_lif").name == "soft_lif"   # parametric family
    u = np.array([0.5, 1.0, 1.5, 3.0])
    act = get_activation("soft_lif(sigma=0.05)")
    np.testing.assert_array_equal(act(u), soft_lif_rate(u, 0.05) / RATE_SCALE_HZ)
    np.testing.assert_array_equal(act.derivative(u), soft_lif_rate_derivative(u, 0.05) / RATE_SCALE_HZ)
    np.testing.assert_array_equal(get_activation("soft_lif")(u), soft_lif_rate(u, SOFT_LIF_DEFAULT_SIGMA) / 100)
    assert act.bounds == (0.0, 1.0 / (LIFParameters().t_ref * RATE_SCALE_HZ))
    assert canonical_activation(" soft_lif( sigma = 0.05 ) ") == "soft_lif(sigma=0.05)"
    assert canonical_activation(f"soft_lif(sigma={SOFT_LIF_DEFAULT_SIGMA})") == "soft_lif"
    # a parametric name is data: it survives the TOML round trip of a network
    net = Network.feedforward([3, 4, 2], activation="soft_lif(sigma=0.05)", loss="mse")
    assert Network.from_toml(net.to_toml()).layers[1].activation == "soft_lif(sigma=0.05)"


@pytest.mark.parametrize("activation", ["soft_lif", "soft_lif(sigma=0.02)"])
def test_backprop_through_soft_lif_passes_gradcheck(activation):
    net = Network.feedforward([5, 6, 4, 3], activation=activation, loss="mse")
    params = init_params(net, seed=3)
    rng = np.random.default_rng(4)
    # drives on both sides of threshold (the soft LIF is smooth there); kept near the active range so
    # gradients do not vanish through three layers (central differences need |g| >> 1e-16 L / eps)
    for key in ("hidden1.bias", "hidden2.bias", "output.bias"):
        params[key] = rng.uniform(0.8, 2.0, params[key].shape)
    x = rng.uniform(0, 1, (4, 5))
    t = rng.uniform(0, 1, (4, 3))
    assert gradcheck(net, params, x, t)["max_relative_error"] < 1e-6


def test_soft_lif_on_torch_equals_numpy():
    torch = pytest.importorskip("torch")
    u = np.linspace(-50.0, 20.0, 701)
    act = get_activation("soft_lif(sigma=0.05)")
    ut = torch.as_tensor(u, dtype=torch.float64)
    np.testing.assert_allclose(act(ut).numpy(), act(u), rtol=1e-12, atol=0)
    np.testing.assert_allclose(act.derivative(ut).numpy(), act.derivative(u), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name, error, match", [
    ("soft_lif(gamma=0.1)", ConfigError, r"expected soft_lif\(sigma=<number>\), got 'gamma=0.1'"),
    ("soft_lif(sigma=wide)", ConfigError, "sigma must be a number, got 'wide'"),
    ("soft_lif(sigma=0)", ConfigError, "'sigma' must be a number > 0"),
    ("tanhh(a=1)", ConfigError, "Layer 'h': unknown parametric activation 'tanhh'"),
])
def test_bad_parametric_activation_names_fail_in_one_line(name, error, match):
    with pytest.raises(error, match=match):
        Layer("h", 3, activation=name)


# ------------------------------------------------------------------ the fit and the spiking side (no simulation)
spiking = pytest.importorskip("neurosim.spiking")
b2 = pytest.importorskip("brian2")
from neurosim.spiking.builder import SpikingActivity  # noqa: E402
from neurosim.spiking.plasticity import fit_soft_lif_sigma, mean_drive_and_rate  # noqa: E402


def test_fit_recovers_the_width_that_generated_the_rates():
    u = np.linspace(-0.5, 3.0, 300)
    for sigma in (0.02, 0.07, 0.3):
        fit = fit_soft_lif_sigma(u, soft_lif_rate(u, sigma) / RATE_SCALE_HZ)
        assert fit.sigma == pytest.approx(sigma, rel=1e-6) and fit.rmse < 1e-9 and fit.rmse_lif > 0
    # hard-LIF rates: the best width is the smallest searched
    assert fit_soft_lif_sigma(u, lif_rate(u) / RATE_SCALE_HZ, bounds=(1e-3, 1.0)).sigma < 2e-3
    with pytest.raises(ConfigError, match="equal-length"):
        fit_soft_lif_sigma(u, u[:-1])
    with pytest.raises(ConfigError, match="0 < low < high"):
        fit_soft_lif_sigma(u, u, bounds=(0.5, 0.1))


def test_mean_drive_and_rate_are_trial_means_of_the_read_out():
    net = Network.feedforward([3, 4, 2], activation="lif", loss="mse")
    params = init_params(net, seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (5, 3))
    counts = {"hidden1": rng.integers(0, 30, (4, 5, 4)), "output": rng.integers(0, 30, (4, 5, 2))}
    activity = SpikingActivity(counts=counts, window=0.2, inputs=x, encoding="current")
    u, rho = mean_drive_and_rate(net, params, activity)
    hidden = counts["hidden1"].mean(0) / (0.2 * RATE_SCALE_HZ)
    expected_u = np.concatenate([(x @ params["input->hidden1"].T + params["hidden1.bias"]).ravel(),
                                 (hidden @ params["hidden1->output"].T + params["output.bias"]).ravel()])
    np.testing.assert_allclose(u, expected_u, rtol=1e-12)
    np.testing.assert_allclose(rho, np.concatenate([hidden.ravel(), (counts["output"].mean(0) / 20).ravel()]))


def test_rate_equivalent_takes_a_lif_rate_model_only():
    net = Network.feedforward([4, 3, 2], activation="tanh")
    eq = spiking.rate_equivalent(net, "soft_lif(sigma=0.05)")
    assert [layer.activation for layer in eq.layers] == ["linear", "soft_lif(sigma=0.05)", "soft_lif(sigma=0.05)"]
    with pytest.raises(ConfigError, match="'tanh' is not a LIF rate model"):
        spiking.rate_equivalent(net, "tanh")


@pytest.mark.parametrize("rule, kwargs, error, match", [
    ("backprop", {"rate_model": "noisy_lif"}, UnknownNameError, "unknown rate_model of spiking_align 'noisy_lif'"),
    ("backprop", {"sigma": 0.05}, ConfigError, "pass rate_model='soft_lif' with it"),
    ("ep", {"rate_model": "soft_lif"}, ConfigError, "rule 'ep' compares only with rate_model 'lif'"),
])
def test_spiking_align_rejects_bad_rate_models_before_simulating(rule, kwargs, error, match):
    net = Network.feedforward([4, 3, 2], activation="lif", loss="mse")
    x, t = np.ones((1, 4)), np.ones((1, 2))
    with pytest.raises(error, match=match):
        spiking.spiking_align(rule, net, init_params(net, 0), x, t, **kwargs)

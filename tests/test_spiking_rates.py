"""The LIF rate transfer and the spiking backend's input checks -- no simulation (default suite).

Oracles: an independent numerical integration of the LIF membrane equation (the f-I
curve), central finite differences (its derivative, and gradients of a network using it),
and the known limits of the closed form.
"""
import warnings

import numpy as np
import pytest

from neurosim import Layer, Network, Projection, init_params
from neurosim.errors import ConfigError, ShapeError, UnknownNameError
from neurosim.neurons import (RATE_SCALE_HZ, LIFParameters, get_activation, lif_rate,
                              lif_rate_derivative)
from neurosim.reference import gradcheck


def _integrated_rate(u, tau_m, t_ref, u_reset, step=1e-5):
    """Rate from integrating tau_m dv/dt = -v + u from reset to threshold (explicit midpoint rule).

    Independent of the closed form: it only steps the ODE and counts the time to threshold.
    Midpoint (RK2) has a global error O((step/tau_m)^2) ~ 1e-6 relative for step = 10 us, and
    the linear interpolation inside the crossing step errs by O(step^2 v''/v') ~ 1e-8 s.
    """
    u = np.asarray(u, dtype=float)
    v = np.full_like(u, u_reset)
    t = np.zeros_like(u)
    done = np.zeros(u.shape, dtype=bool)
    for _ in range(20_000):  # 0.2 s: longer than any period tested
        f1 = (-v + u) / tau_m
        mid = v + 0.5 * step * f1
        v_new = v + step * (-mid + u) / tau_m
        crossed = (~done) & (v_new >= 1.0)
        # linear interpolation inside the crossing step
        t = np.where(crossed, t + step * (1.0 - v) / (v_new - v), t)
        done |= crossed
        t = np.where(done, t, t + step)
        v = v_new
        if done.all():
            break
    return np.where(done, 1.0 / (t_ref + t), 0.0)


@pytest.mark.parametrize("tau_m, t_ref, u_reset", [(0.020, 0.002, 0.0), (0.010, 0.005, -0.5)])
def test_lif_rate_matches_integrated_membrane(tau_m, t_ref, u_reset):
    u = np.array([1.05, 1.3, 2.0, 4.0, 10.0])
    expected = _integrated_rate(u, tau_m, t_ref, u_reset)
    # the integration errs by ~1e-6 relative (see _integrated_rate); 1e-4 leaves a margin yet
    # catches any slip in the formula (a wrong log argument or a missing t_ref moves it by > 1e-2)
    np.testing.assert_allclose(lif_rate(u, tau_m, t_ref, u_reset), expected, rtol=1e-4)


def test_lif_rate_is_zero_at_and_below_threshold_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = lif_rate(np.array([-3.0, 0.0, 0.99, 1.0]))
        d = lif_rate_derivative(np.array([-3.0, 0.0, 0.99, 1.0]))
    assert np.all(r == 0) and np.all(d == 0)


def test_lif_rate_limits():
    # just above threshold the charging time diverges (rate -> 0); far above it the
    # period tends to the refractory period plus tau_m (1 - u_r) / u -> t_ref
    assert lif_rate(1.0 + 1e-12) < 1.0 / (0.020 * 20)   # ln(1e12) ~ 27.6 membrane times
    r_high = lif_rate(1e6, tau_m=0.02, t_ref=0.002)
    assert abs(r_high - 1.0 / (0.002 + 0.02 / 1e6)) < 1e-6 * r_high
    assert np.all(np.diff(lif_rate(np.linspace(1.01, 50, 200))) > 0)  # monotone


def test_lif_rate_derivative_matches_finite_differences():
    u = np.array([1.02, 1.2, 1.7, 3.0, 8.0])
    eps = 1e-7
    for u_reset in (0.0, -0.5):
        fd = (lif_rate(u + eps, u_reset=u_reset) - lif_rate(u - eps, u_reset=u_reset)) / (2 * eps)
        # central differences: truncation O(eps^2 f''') and rounding O(1e-16 f / eps) << 1e-6 relative
        np.testing.assert_allclose(lif_rate_derivative(u, u_reset=u_reset), fd, rtol=1e-6)


def test_lif_activation_is_registered_in_rate_units():
    act = get_activation("lif")
    u = np.array([0.5, 1.5, 3.0])
    np.testing.assert_array_equal(act(u), lif_rate(u) / RATE_SCALE_HZ)
    assert act.bounds == (0.0, 1.0 / (LIFParameters().t_ref * RATE_SCALE_HZ))


def test_backprop_through_lif_activation_passes_gradcheck():
    net = Network.feedforward([5, 6, 3], activation="lif", loss="mse")
    params = init_params(net, seed=3)
    rng = np.random.default_rng(4)
    # biases well above threshold keep every unit away from the kink at u = 1, where finite
    # differences straddle a non-differentiable point
    params["hidden1.bias"] = np.full(6, 2.5)
    params["output.bias"] = np.full(3, 2.5)
    x = rng.uniform(0, 1, (4, 5))
    t = rng.uniform(0, 1, (4, 3))
    # float64 central differences with eps = 1e-6: relative error ~1e-8 when the maths is right
    assert gradcheck(net, params, x, t)["max_relative_error"] < 1e-6


def test_lif_parameters_validate_and_read_layer_params():
    layer = Layer("h", 3, neuron="lif", params={"tau_m": 0.01, "g_apical": 0.5, "unrelated": 1.0})
    lif = LIFParameters.from_layer(layer)
    assert lif.tau_m == 0.01 and lif.g_apical == 0.5 and lif.t_ref == LIFParameters().t_ref
    with pytest.raises(ConfigError, match=r"Layer 'h'.params: LIFParameters: 'tau_m' must be a number > 0"):
        LIFParameters.from_layer(Layer("h", 3, params={"tau_m": -0.01}))
    with pytest.raises(ConfigError, match="v_reset"):
        LIFParameters(v_reset=0.03)


# ------------------------------------------------------------------ spiking-side checks, no simulation
spiking = pytest.importorskip("neurosim.spiking")
b2 = pytest.importorskip("brian2")


def _net():
    return Network.feedforward([4, 3, 2], activation="tanh")


def test_rate_equivalent_swaps_activation_only():
    net = _net()
    eq = spiking.rate_equivalent(net)
    assert [layer.activation for layer in eq.layers] == ["linear", "lif", "lif"]
    assert [p.name for p in eq.projections] == [p.name for p in net.projections]
    assert net.layers[1].activation == "tanh"  # the description is never mutated


def test_rate_equivalent_rejects_what_the_rate_side_cannot_represent():
    net = Network((Layer("in", 2, role="input", bias=False),
                   Layer("out", 2, role="output", params={"tau_m": 0.01})), (Projection("in", "out"),))
    with pytest.raises(ConfigError, match=r"Layer 'out'.params.tau_m"):
        spiking.rate_equivalent(net)
    net = Network((Layer("in", 2, role="input", bias=False),
                   Layer("out", 2, role="output", neuron="lif_two_compartment")),
                  (Projection("in", "out", target="apical"),))
    with pytest.raises(ConfigError, match=r"apical dendrite .* g_apical = 0.0"):
        spiking.rate_equivalent(net)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dt": 0.1}, ConfigError, r"'dt' = 0.1 has no unit; pass a brian2 time such as 0.1\*brian2.ms"),
    ({"dt": "0.1 ms"}, ConfigError, r"'dt' must be a brian2 time"),
    ({"presentation": 0.2}, ConfigError, r"'presentation' = 0.2 has no unit"),
    ({"encoding": "poison"}, UnknownNameError, r"unknown input encoding 'poison'.*Did you mean 'poisson'"),
    ({"target": "cuda"}, UnknownNameError, r"unknown code-generation target 'cuda'"),
    ({"kinds": ("forward",)}, ConfigError, r"kinds expected a subset of feedforward, feedback, lateral"),
    ({"record_voltage": ("input",)}, ConfigError, r"record_voltage names the input layer"),
    ({"record_voltage": ("hiden1",)}, UnknownNameError, r"Did you mean 'hidden1'"),
])
def test_build_rejects_bad_arguments_with_one_line_messages(kwargs, error, match):
    net = _net()
    with pytest.raises(error, match=match) as info:
        spiking.build(net, init_params(net), **kwargs)
    assert "\n" not in str(info.value)


def test_build_rejects_bad_times_and_params():
    net = _net()
    params = init_params(net)
    with pytest.raises(ConfigError, match="'dt' must be a brian2 time"):
        spiking.build(net, params, dt=0.1 * b2.mV)
    with pytest.raises(ConfigError, match="whole number of dt"):
        spiking.build(net, params, dt=0.3 * b2.ms, presentation=100 * b2.ms)
    with pytest.raises(ConfigError, match="leaves no counting window"):
        spiking.build(net, params, presentation=50 * b2.ms, settle=50 * b2.ms)
    bad = dict(params)
    bad["input->hidden1"] = np.zeros((4, 3))
    with pytest.raises(ShapeError, match=r"params\['input->hidden1'\]: expected shape \(3, 4\)"):
        spiking.build(net, bad)


def test_build_rejects_projections_into_the_input_layer():
    net = _net().add(Projection("hidden1", "input", name="back", kind="feedback"))
    params = init_params(net)
    with pytest.raises(ConfigError, match=r"Projection 'back': it ends on the input layer 'input'"):
        spiking.build(net, params, target="numpy")


def test_poisson_encoding_rejects_negative_rates():
    from neurosim.spiking.encoding import check_inputs

    with pytest.raises(ShapeError, match="Poisson encoding needs rates >= 0.*encoding='current'"):
        check_inputs(_net(), -np.ones((2, 4)), "poisson")
    assert check_inputs(_net(), -np.ones((2, 4)), "current").shape == (2, 4)


def test_unknown_spiking_rule_names_the_choices():
    with pytest.raises(UnknownNameError, match="unknown rule 'fa2'"):
        spiking.get_spiking_rule("fa2")
    assert {"backprop", "fa", "dfa"} <= set(spiking.SPIKING_RULES)

"""Spiking predictive coding (neurosim.spiking.predictive_coding).

Oracles: the central-difference expansion of the error pair (finite-nudge limit -> backprop
with an O(h^2) error), the Gaussian noise model of a trial mean (noise-limited cosine),
the cancellation of the common mode in the +/- error pair (no feedback -> zero error up to
count noise), and backprop / rate ``pc-fpa`` on the rate-equivalent network for the
brian2 runs.  brian2 runs use the numpy target (no compilation) and are marked ``spiking``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from brian2 import ms

from neurosim import get_rule, init_params
from neurosim.errors import ConfigError, ShapeError
from neurosim.network import Network
from neurosim.oracles import get_oracle
from neurosim.spiking import default_network, get_spiking_rule, rate_equivalent
from neurosim.spiking.builder import CircuitActivity
from neurosim.spiking.predictive_coding import (SpikingPredictiveCoding, finite_nudge_updates,
                                                noise_limited_cosine, simulate_pc, spiking_pc_align,
                                                trial_updates)
from conftest import imports_brian2

SIZES = [8, 6, 3]
BATCH = 4


def problem(seed=0, sizes=SIZES, loss="mse"):
    net = default_network(sizes, loss=loss)
    params = init_params(net, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (BATCH, sizes[0]))
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], BATCH)]
    return net, params, x, t


def flat(d, names):
    return np.concatenate([d[k].ravel() for k in names])


# ------------------------------------------------------------------ rate side (fast)
def test_finite_nudge_converges_to_backprop_quadratically():
    """Central difference: eps(h) = phi'(u) g + phi'''(u) g^3 h^2 / 6 + O(h^4), so the update's
    distance to backprop falls 4x when h halves.  h <= 0.02 keeps u +/- h g away from the
    threshold kink (every drive is > 1.3 with bias_init = 2: checked below)."""
    net, params, x, t = problem()
    eq = rate_equivalent(net)
    fp_u = x @ params["input->hidden1"].T + params["hidden1.bias"]
    assert fp_u.min() > 1.3
    bp = get_oracle("backprop")(get_rule("pc-fpa"), eq, params, x, t)
    names = list(bp)
    err = [np.linalg.norm(flat(finite_nudge_updates(eq, params, x, t, nudge=h), names) - flat(bp, names))
           for h in (0.02, 0.01)]
    assert 3.6 < err[0] / err[1] < 4.4
    assert err[1] / np.linalg.norm(flat(bp, names)) < 1e-3


def test_noise_limited_cosine_matches_gaussian_model():
    """Draw K Gaussian 'trials' around a known mean; the predicted cosine of an n-trial mean with
    the true mean must match the average measured one (tolerance 0.01: 200 repetitions of a
    quantity whose spread is ~0.02 give a standard error ~0.0015)."""
    rng = np.random.default_rng(3)
    mean = rng.normal(size=50)
    sigma = 0.8
    predicted, measured = [], []
    for _ in range(200):
        trials = mean + sigma * rng.normal(size=(40, 50))
        predicted.append(noise_limited_cosine({"w": trials}, ["w"], n_trials=10))
        m = trials[:10].mean(axis=0)
        measured.append(m @ mean / np.linalg.norm(m) / np.linalg.norm(mean))
    exact = 1 / np.sqrt(1 + 50 * sigma ** 2 / (10 * mean @ mean))
    assert abs(np.mean(measured) - exact) < 0.01
    assert abs(np.mean(predicted) - exact) < 0.01


def test_registered_for_pc_fpa_and_refuses_standard_pc_in_one_line():
    rule = get_spiking_rule("pc-fpa")
    assert isinstance(rule, SpikingPredictiveCoding)
    net, params, x, t = problem()
    with pytest.raises(ConfigError, match="CircuitActivity"):
        rule.updates(rule.circuit(net), params, None, None, t)
    with pytest.raises(ConfigError, match="no error populations"):
        rule.updates(net, params, None, CircuitActivity(rho={"run": {}}, spikes={}, window=0.4, timings={}), t)
    standard = get_spiking_rule("pc")
    for call in (lambda: standard.circuit(net), lambda: standard.spiking_align(net, params, x, t, n_trials=2)):
        with pytest.raises(ConfigError, match="use rule 'pc-fpa'") as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="divisive normalisation") as err:
        rule.circuit(problem(loss="cross_entropy")[0])
    assert "\n" not in str(err.value)


def test_module_constructs_no_brian2_object():
    """Issue 18: the circuit is lowered by the one builder; the PC module only describes and reads
    out.  No ``brian2.<Name>(...)`` call and no brian2 class imported by name."""
    import ast
    import neurosim.spiking.predictive_coding as mod
    tree = ast.parse(Path(mod.__file__).read_text())
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [c for c in calls if c.startswith("brian2.") or c.startswith("b2.")] == []
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(
        "brian2") for a in n.names}
    assert imported <= {"ms", "second", "Quantity"}, imported
    assert not any(isinstance(n, ast.Import) and any(a.name == "brian2" for a in n.names) for n in ast.walk(tree))


def test_circuit_prints_and_round_trips_through_toml_without_brian2():
    """The description the rule builds: printed, saved and read back, and evaluated on the rate
    side, in a process that never imports brian2."""
    code = ("import sys, numpy as np; from neurosim import init_params; "
            "from neurosim.circuits import pc_fpa_circuit, pc_fpa_params, circuit_rates, pc_fpa_updates; "
            "from neurosim.network import Network; "
            "net = Network.feedforward([8, 6, 3], activation='lif', output_activation='lif', bias_init=2.0); "
            "c = pc_fpa_circuit(net, 0.25); text = c.summary(); assert 'hidden1:error+' in text, text; "
            "assert Network.from_toml(c.to_toml()) == c; "
            "p = pc_fpa_params(c, init_params(net, seed=0)); x = np.full((2, 8), 0.5); t = np.eye(3)[:2]; "
            "dw = pc_fpa_updates(c, circuit_rates(c, p, x, t)); assert dw['input->hidden1'].shape == (6, 8)")
    assert not imports_brian2(code)


def test_finite_nudge_limit_is_the_circuit_evaluated_on_the_rate_side():
    """Oracle: the closed form of the circuit's rates (module docstring), written out here
    independently: eps_l = (phi(u_l + h g_l) - phi(u_l - h g_l)) / 2h, g_L = t - phi(u_L),
    g_l = W_{l+1}^T eps_{l+1}, dW_l = <eps_l phi(u_{l-1})^T>, with phi the 'lif' f-I curve."""
    from neurosim.neurons import get_activation
    net, params, x, t = problem(seed=1)
    h, phi = 0.25, get_activation("lif")
    w1, w2 = params["input->hidden1"], params["hidden1->output"]
    u1 = x @ w1.T + params["hidden1.bias"]
    u2 = phi(u1) @ w2.T + params["output.bias"]
    g2 = t - phi(u2)
    e2 = (phi(u2 + h * g2) - phi(u2 - h * g2)) / (2 * h)
    g1 = e2 @ w2
    e1 = (phi(u1 + h * g1) - phi(u1 - h * g1)) / (2 * h)
    got = finite_nudge_updates(net, params, x, t, nudge=h)
    np.testing.assert_allclose(got["input->hidden1"], e1.T @ x / BATCH, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["hidden1->output"], e2.T @ phi(u1) / BATCH, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["output.bias"], e2.mean(axis=0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("change, error, match", [
    ({"nudge": 0.0}, ConfigError, "nudge"),
    ({"nudge": True}, ConfigError, "nudge"),
    ({"dt": 0.1}, ConfigError, "has no unit"),
    ({"window": -5 * ms}, ConfigError, "window"),
    ({"n_trials": 0}, ConfigError, "n_trials"),
    ({"seed": -1}, ConfigError, "seed"),
    ({"codegen_target": "cpp_standalone"}, ConfigError, "cpp_standalone"),
    ({"x": -1.0}, ShapeError, "Poisson"),
    ({"target": np.zeros((BATCH, 2))}, ShapeError, "target"),
])
def test_bad_input_fails_before_simulating(change, error, match):
    net, params, x, t = problem()
    kwargs = {"n_trials": 2, "seed": 0}
    if "x" in change:
        x = x + change.pop("x") * 2
    if "target" in change:
        t = change.pop("target")
    kwargs.update(change)
    with pytest.raises(error, match=match):
        simulate_pc(net, params, x, t, **kwargs)


def test_bad_network_fails():
    net, params, x, t = problem(loss="cross_entropy")
    with pytest.raises(ConfigError, match="mse"):
        simulate_pc(net, params, x, t)
    two = Network.feedforward(SIZES, activation="lif", neuron="lif_two_compartment", loss="mse")
    with pytest.raises(ConfigError, match="point LIF"):
        simulate_pc(two, init_params(two, seed=0), x, t)
    with pytest.raises(ConfigError, match="trials"):
        noise_limited_cosine({"w": np.ones((1, 3))}, ["w"])


def test_unknown_option_fails():
    net, params, x, t = problem()
    with pytest.raises(ConfigError, match="presentation"):
        spiking_pc_align(net, params, x, t, presentation=100 * ms)


# ------------------------------------------------------------------ brian2 runs
@pytest.fixture(scope="module")
def report():
    """One brian2 run: 8-6-3, batch 4, seed 0, 20 trials, numpy target (~10 s)."""
    net, params, x, t = problem()
    return spiking_pc_align(net, params, x, t, n_trials=20, seed=0)


@pytest.mark.spiking
def test_spiking_update_aligns_with_backprop_and_rate_pc(report):
    """Target of issue 4: cosine > 0.9 on a small network.  Measured (experiments/pc_spiking.py,
    seed 0, 20 trials, 400 ms window): global 0.990, per projection 0.992 / 0.990, norm ratios
    0.86 / 0.82; the count noise alone limits the cosine at 20 trials to 0.997
    (noise_limited_cosine), i.e. noise costs ~0.003 and the threshold 0.9 is ~30 such
    deficits below the measurement; the rest of the gap is bias (shot-noise-smoothed f-I
    curve, O(h^2)).  pc-fpa is backprop on the rate-equivalent network, so (a) and (b)
    agree to rounding."""
    assert report.global_cosine > 0.9
    for row in report.projections:
        assert row.cosine > 0.9, row.name
    assert report.extra["rate_rule_cosine"] > 0.9
    assert abs(report.extra["rate_rule_cosine"] - report.global_cosine) < 1e-8
    assert report.extra["noise_limited_cosine"] > report.global_cosine - 0.02
    # against the same circuit description evaluated on the rate side (finite_nudge_updates =
    # circuit_rates + pc_fpa_updates): the level test_spiking_circuit asserts for the lowered
    # description (> 0.9; measured 0.946 here, before and after the builder port)
    assert report.extra["finite_nudge_cosine"] > 0.9
    for row in report.projections:
        assert 0.5 < row.norm_ratio < 1.5, row.name  # the pair's 1/(2h) restores the scale


@pytest.fixture(scope="module")
def near_threshold():
    """Network seed 2, 10 trials, numpy target (~9 s)."""
    net, params, x, t = problem(seed=2)
    return spiking_pc_align(net, params, x, t, n_trials=10, seed=2)


@pytest.mark.spiking
@pytest.mark.xfail(strict=True, reason="known limitation: network seed 2 has 5 of 36 (unit, sample) drives "
                   "below threshold, where the 'lif' reference has phi' = 0 but the noisy spiking units fire; "
                   "measured cosine 0.78 at 20-200 trials (README, spiking PC)")
def test_near_threshold_network_reaches_target(near_threshold):
    assert near_threshold.global_cosine > 0.9


@pytest.mark.spiking
def test_near_threshold_network_follows_its_circuit(near_threshold):
    """Where backprop alignment fails (above), the spikes still follow the circuit's own rate
    limit: at h = 0.25 the pair's drives u +/- h g straddle the threshold, so the finite
    difference sees the slope that phi'(u) = 0 misses.  Measured 0.991 at 10 trials."""
    assert near_threshold.extra["finite_nudge_cosine"] > 0.9


@pytest.mark.spiking
def test_error_pair_cancels_common_mode_without_feedback():
    """With W_2 = 0 there is no top-down drive into the hidden error pair: E+ and E- receive the
    same prediction spikes through the same weights from the same initial state, so their
    spike trains are identical and eps_1 = 0 exactly (the common mode, ~60 Hz, cancels in
    every trial, not only on average).  The output pair still sees the target: its error
    must have the sign of t - rho_L (|t - rho_L| >= 0.3 here, well above one spike)."""
    net, params, x, t = problem()
    params = dict(params)
    params["hidden1->output"] = np.zeros_like(params["hidden1->output"])
    spikes = simulate_pc(net, params, x, t, n_trials=5, seed=1, window=200 * ms)
    assert spikes.counts[("hidden1", "error+")].sum() > 0
    np.testing.assert_array_equal(spikes.counts[("hidden1", "error+")], spikes.counts[("hidden1", "error-")])
    gap = t - spikes.rho("output", "value").mean(axis=0)
    assert np.abs(gap).min() >= 0.3
    np.testing.assert_array_equal(np.sign(spikes.errors("output").mean(axis=0)), np.sign(gap))


@pytest.mark.spiking
def test_same_seed_same_spikes_and_per_trial_mean():
    net, params, x, t = problem()
    a = simulate_pc(net, params, x, t, n_trials=2, seed=5, settle=20 * ms, window=30 * ms)
    b = simulate_pc(net, params, x, t, n_trials=2, seed=5, settle=20 * ms, window=30 * ms)
    for key in a.counts:
        np.testing.assert_array_equal(a.counts[key], b.counts[key])
    per = trial_updates(rate_equivalent(net), a)
    assert per["input->hidden1"].shape == (2, 6, 8)
    eps = a.errors("hidden1")
    np.testing.assert_allclose(per["hidden1.bias"], eps.mean(axis=1))


@pytest.mark.spiking
def test_near_threshold_network_aligns_with_the_soft_lif_network(near_threshold):
    """Issue 18 item 5: the same spikes as the strict xfail above, compared with the rate network whose
    f-I curve is smoothed by the input noise (soft LIF, width fitted on separate feed-forward runs of the
    same weights and inputs).  Below threshold the hard curve has phi' = 0 where the noisy units fire; the
    soft curve does not, and the cosine with backprop on that network clears the 0.9 target (measured
    0.964 at 10 trials against 0.780 for the hard curve).  The hard-curve report of the fixture stays the
    control: this run's spikes are identical (same seeds), only the reference changes."""
    net, params, x, t = problem(seed=2)
    soft = spiking_pc_align(net, params, x, t, n_trials=10, seed=2, rate_model="soft_lif")
    assert soft.extra["rate_equivalent_activation"].startswith("soft_lif(sigma=")
    fit = soft.extra["soft_lif_fit"]
    assert 0.01 < fit["sigma"] < 0.5 and fit["rmse"] < fit["rmse_lif"]
    assert soft.global_cosine > 0.9 > near_threshold.global_cosine
    assert soft.extra["timings"]["simulate_s"] > 0


def test_rate_model_options_are_checked():
    net, params, x, t = problem()
    with pytest.raises(ConfigError, match="rate_model expected"):
        spiking_pc_align(net, params, x, t, rate_model="tanh")
    with pytest.raises(ConfigError, match="sigma=0.1 is the soft LIF"):
        spiking_pc_align(net, params, x, t, sigma=0.1)

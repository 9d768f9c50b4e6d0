"""Spiking STDP in brian2 against closed forms (window, triplet drift) and Song et al.'s bimodality.

Every simulation goes through the circuit builder (the protocols of neurosim.spiking.stdp) or a registered rule."""
import numpy as np
import pytest

b2 = pytest.importorskip("brian2")

from neurosim.errors import ConfigError  # noqa: E402
from neurosim.rules import get_rule  # noqa: E402
from neurosim.spiking.stdp import (  # noqa: E402
    PairSTDP, TripletSTDP, measure_window, song2000, triplet_rate_dependence)


def test_triplet_closed_form_threshold_is_where_drift_vanishes():
    """Pure algebra: drift(threshold) = 0, negative below, positive above (BCM shape); ~18.7 Hz at 10 Hz pre."""
    rule = TripletSTDP()
    theta = rule.threshold(10.0)
    assert rule.drift(10.0, theta) == pytest.approx(0.0, abs=1e-15)
    assert rule.drift(10.0, 0.5 * theta) < 0 < rule.drift(10.0, 2 * theta)
    assert 15 < theta < 25  # Pfister & Gerstner's visual-cortex fit puts it near 20 Hz


def test_pair_window_theory_signs():
    rule = PairSTDP()
    w = rule.window([-0.02, 0.02])
    assert w[0] == pytest.approx(-rule.a_minus * np.exp(-1)) and w[1] == pytest.approx(rule.a_plus * np.exp(-1))


def test_bad_inputs_fail_early():
    with pytest.raises(ConfigError, match="delta_t"):
        measure_window(PairSTDP(), [0.0, 0.01])
    with pytest.raises(ConfigError, match="duration"):
        song2000(10)  # no unit
    with pytest.raises(ConfigError, match="snapshot_every"):
        song2000(10 * b2.second, snapshot_every=3 * b2.second)


@pytest.mark.spiking
def test_measured_window_matches_its_parameters():
    """One pair per synapse at Delta t on the dt grid: the event-driven traces are exact exponentials, so the
    brian2 Delta w equals A+- exp(-|Delta t|/tau+-) to float64 rounding (bound 1e-9 relative)."""
    rule = PairSTDP(a_plus=0.004, a_minus=0.005, tau_plus=17e-3, tau_minus=34e-3, w_max=1.0)
    dts = np.array([-80, -34, -10, -0.5, 0.5, 10, 17, 80]) * 1e-3
    measured = measure_window(rule, dts, target="numpy")
    np.testing.assert_allclose(measured, rule.window(dts), rtol=1e-9)


@pytest.mark.spiking
@pytest.mark.slow
def test_triplet_drift_follows_bcm_curve():
    """Independent Poisson trains: measured <Delta w>/T within 4 SEM (+ 3 % for dt = 0.1 ms coincidences) of the
    closed form at every post rate; depression below the threshold and potentiation above it."""
    res = triplet_rate_dependence([2.5, 10, 30, 50], duration=10 * b2.second, n_pairs=150, seed=3)
    drift, theory, sem = (np.array(res[k]) for k in ("drift", "theory", "sem"))
    assert np.all(np.abs(drift - theory) < 4 * sem + 0.03 * np.abs(theory))
    assert drift[0] < 0 and drift[1] < 0 and drift[2] > 0 and drift[3] > 0


@pytest.mark.spiking
@pytest.mark.slow
def test_song_weights_become_bimodal():
    """Song et al. (2000): from uniform (20 % within 10 % of an edge), additive STDP pushes the weights to both
    bounds.  Criterion after 100 s of biological time: the two 10 % edge bins hold over twice their uniform share
    (> 40 %), each edge over 1.5x its share (> 15 %), and the middle 60 % of the range under its uniform share.
    (Binomial s.e. of a fraction of 1000 weights ~0.015; measured with seed 0: 48 %, 27 % and 21 %.)"""
    res = song2000(100 * b2.second, snapshot_every=100 * b2.second, seed=0)
    w = res.weights[-1] / res.config["rule"]["w_max"]
    assert res.edge_fraction(0.1)[0] < 0.3
    assert res.edge_fraction(0.1)[-1] > 0.4
    assert np.mean(w <= 0.1) > 0.15 and np.mean(w >= 0.9) > 0.15
    assert np.mean((w > 0.2) & (w < 0.8)) < 0.6


def _assign_labels(counts, y, n_classes):
    """Diehl & Cook's labelling: each neuron gets the class of its highest mean response."""
    return np.argmax(np.stack([counts[y == c].mean(axis=0) for c in range(n_classes)]), axis=0)


def _predict(counts, labels, n_classes):
    scores = np.stack([counts[:, labels == c].mean(axis=1) if np.any(labels == c) else np.full(len(counts), -np.inf)
                       for c in range(n_classes)], axis=1)
    return np.argmax(scores, axis=1)


@pytest.mark.spiking
@pytest.mark.slow
def test_diehl_cook_separates_two_orthogonal_patterns():
    """Two disjoint bar patterns, 4 neurons, 40 presentations (one sequential stream of the registered rule
    'diehl-cook'): label-by-max-response classifies held-out noisy copies far above chance (0.5).  Numpy target
    (small net, no compile).  weight_sum 12 gives each neuron a drive of ~6-8 spikes per sample (as in Diehl &
    Cook); with 24 (over-driven, every neuron answers both patterns) the measured accuracy was 0.85, so this test
    depends on the drive being in that regime."""
    rng = np.random.default_rng(0)
    protos = np.zeros((2, 36))
    protos[0, :18], protos[1, 18:] = 1.0, 1.0
    y = rng.integers(0, 2, 60)
    x = np.clip(protos[y] * rng.uniform(0.7, 1.0, (60, 36)), 0, 1)
    rule = get_rule("diehl-cook", weight_sum=12.0, presentation=0.2, codegen="numpy")
    net = rule.network([36, 4])
    params = rule.init_params(net, 1)
    state = rule.init(net, params, 1)
    dw, state, _ = rule.updates(net, params, state, x[:40], None)
    params = {k: v + dw.get(k, 0.0) for k, v in params.items()}
    frozen = rule.replace(learn=False)
    _, state, aux = frozen.updates(net, params, state, x[:40], None)
    labels = _assign_labels(aux["counts"]["exc"], y[:40], 2)
    _, _, aux = frozen.updates(net, params, state, x[40:], None)
    accuracy = np.mean(_predict(aux["counts"]["exc"], labels, 2) == y[40:])
    assert accuracy >= 0.9

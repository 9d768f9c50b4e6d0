"""Spiking two-compartment neurons: Urbanczik-Senn teacher task and the spiking microcircuit.

Oracles
-------
* Teacher task: learning must lower both the student-teacher weight distance and the
  mismatch between the student's dendritic prediction and the teacher's rate by more than
  their measured noise (across students, and window-to-window with the plasticity off), and
  *not* without the teacher (the control shows the test can fail).
* Microcircuit: the trial-averaged spiking update with the free-phase baseline (nudged minus
  free copies, common random numbers; the default) is the rate rule's update plus zero-mean
  spike noise; with the per-entry noise variance measured from the trials, the expected
  cosine of the mean of n trials with backprop is

  .. math:: \\cos_{pred} = \\cos(\\Delta W_{rate}, G)\\,
            \\frac{\\lVert\\Delta W_{rate}\\rVert}{\\sqrt{\\lVert\\Delta W_{rate}\\rVert^2 + \\sigma^2_{tot}/n}},

  where :math:`\\sigma^2_{tot}` is the summed per-entry variance over trials; the test asks
  the measured cosine to reach the prediction minus a margin for the noise of the cosine itself.
* Without the baseline the hidden layer's update carries a teacher-independent bias: the
  free copies' trial mean is non-zero far beyond its noise (Hotelling's T^2 against zero),
  many times the gradient in norm, and the unbaselined update points along it -- a measured
  property, tested as such.
* Common random numbers: the nudged and free copies share their spike noise, so the variance
  of their difference is far below that of either (independent noise would double it).

Every brian2 run has a fixed seed.  The teacher-task runs use ``"auto"`` (Cython), whose
compiled code depends only on the equations, so they reuse what the experiments compiled; the
microcircuit runs use the numpy target (faster than compiling for this tiny circuit).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from neurosim import backprop, get_rule
from neurosim.alignment import cosine
from neurosim.errors import ConfigError, ShapeError
from neurosim.spiking.dendritic import (SpikingMicrocircuit, UrbanczikSennConfig, spiking_microcircuit_align,
                                        teacher_task)

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
T = np.array([[0], [1], [1], [0]], dtype=float)

# 20 inputs (weights scaled up 5x in mean, sqrt(5)x in spread to keep the paper's 100-input
# potential range); eta = 200 mV^2 ms^2 gives a slow-mode time constant of ~10 s (module docs)
SMALL_US = UrbanczikSennConfig(n_inputs=20, n_students=4, duration=40 * second, eta=200 * mV ** 2 * ms ** 2,
                               w_mean=25 * mV * ms, w_std=33 * mV * ms)
WINDOW, K_EDGE = 4 * second, 2
# brian2's Cython code depends on the equations, not on the sizes: these runs reuse what
# experiments/urbanczik_senn.py compiled (a fresh machine compiles once, ~1-2 min); numpy
# would take ~25 s per run of 40 s here, 10x that on a loaded machine
TARGET = "auto"
# the microcircuit is tiny and vectorised over copies: numpy runs 64 trials x 2 phases of one
# sample in ~4 s, faster than Cython's compilation (8-11 min on loaded cores)
MC_TARGET = "numpy"


# ------------------------------------------------------------------ bad inputs (no simulation)
@pytest.mark.parametrize("field, value, message", [
    ("n_inputs", 0, "n_inputs"), ("n_students", 1.5, "n_students"), ("duration", -1 * second, "'duration' must be"),
    ("eta", -0.1 * mV ** 2 * ms ** 2, "'eta' must be"), ("tau_l", 3 * ms, "tau_l and tau_s must differ"),
    ("record_every", 0.7 * ms, "record_every = 0.7 ms must be a whole number of dt = 0.5 ms"),
    ("e_inh", 80 * mV, "e_exc must exceed e_inh"),
    ("k", 0.0, "'k' must be")])
def test_us_config_rejects_bad_fields(field, value, message):
    with pytest.raises(ConfigError, match=message):
        UrbanczikSennConfig(**{field: value})


# a float without its unit (the former *_ms / *_mv / *_per_ms fields), or a quantity of the wrong
# dimensions: one line that says how to write it
@pytest.mark.parametrize("field, value, message", [
    ("dt", 0.5, r"'dt' = 0.5 has no unit; pass a brian2 time such as 0.5\*brian2.ms$"),
    ("duration", 100.0, r"'duration' = 100.0 has no unit; pass a brian2 time such as 100.0\*brian2.second$"),
    ("g_l", 0.1, r"'g_l' = 0.1 has no unit; pass a brian2 conductance \(per time\) such as 0.1/brian2.ms$"),
    ("e_exc", 70, r"'e_exc' = 70 has no unit; pass a brian2 potential such as 70\*brian2.mV$"),
    ("beta", 1 / 3, r"'beta' = 0.3333333333333333 has no unit; pass .* such as 0.3333333333333333/brian2.mV$"),
    ("eta", 10.0, r"'eta' = 10.0 has no unit; .* such as 10.0\*brian2.mV\*\*2\*brian2.ms\*\*2$"),
    ("w_mean", 5.0, r"'w_mean' = 5.0 has no unit; .* such as 5.0\*brian2.mV\*brian2.ms$"),
    ("rate_max", 40.0, r"'rate_max' = 40.0 has no unit; pass a brian2 rate such as 40.0\*brian2.Hz$"),
    ("dt", 0.5 * mV, r"'dt' must be a brian2 time such as 1\*brian2.ms \(dimensions s\), got 0.5 mV\.$"),
    ("g_som", 0.8 * ms, r"'g_som' must be a brian2 conductance \(per time\) such as 1/brian2.ms"),
    ("theta", 15 * mV * ms, r"'theta' must be a brian2 potential such as 1\*brian2.mV"),
    ("dt", "0.5 ms", r"'dt' must be a brian2 time such as 1\*brian2.ms"),
])
def test_us_config_unitless_or_wrong_dimension_is_one_line(field, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        UrbanczikSennConfig(**{field: value})
    assert str(info.value).startswith("UrbanczikSennConfig: ") and "\n" not in str(info.value)


# the former hand conversion of teacher_task_network (per ms -> 1/s, mV -> V, 1/mV -> 1/V,
# ms -> s), written out in SI by hand: the defaults (the paper's values) ...
PAPER_SI = dict(g_l=100.0, g_d=2000.0, g_som=800.0, e_exc=0.070, e_inh=-0.005, phi_max=150.0, k=0.5,
                beta=1000.0 / 3.0, theta=0.015, tau_l=0.010, tau_s=0.003)


def test_us_config_neuron_is_the_former_conversion_for_the_defaults():
    from neurosim.neurons import UrbanczikSennParameters

    neuron = UrbanczikSennConfig().neuron()
    assert isinstance(neuron, UrbanczikSennParameters)
    assert dataclasses.asdict(neuron) == pytest.approx(PAPER_SI, rel=1e-14)


def test_us_config_neuron_is_the_former_conversion_off_the_defaults():
    cfg = UrbanczikSennConfig(g_l=0.05 / ms, g_d=1.5 / ms, g_som=0 / ms, e_exc=60 * mV, e_inh=-10 * mV,
                              phi_max=0.2 * 1000 * Hz, k=0.25, beta=0.5 / mV, theta=12 * mV, tau_l=20 * ms,
                              tau_s=2 * ms)
    expected = dict(g_l=50.0, g_d=1500.0, g_som=0.0, e_exc=0.060, e_inh=-0.010, phi_max=200.0, k=0.25,
                    beta=500.0, theta=0.012, tau_l=0.020, tau_s=0.002)
    assert dataclasses.asdict(cfg.neuron()) == pytest.approx(expected, rel=1e-14)
    # the layer of the circuit carries exactly these parameters (one derivation, no second copy)
    from neurosim.neurons import UrbanczikSennParameters
    from neurosim.spiking.dendritic import teacher_task_network

    assert UrbanczikSennParameters.from_layer(teacher_task_network(cfg).layer("student")) == cfg.neuron()


def test_us_config_record_is_si_json():
    import json

    record = UrbanczikSennConfig().to_record()
    expected = {"n_inputs": 100, "n_students": 5, "duration_s": 100.0, "pattern_s": 0.1, "rate_max_hz": 40.0,
                "g_l_per_s": 100.0, "g_d_per_s": 2000.0, "g_som_per_s": 800.0, "e_exc_v": 0.070, "e_inh_v": -0.005,
                "phi_max_hz": 150.0, "k": 0.5, "beta_per_v": 1000.0 / 3.0, "theta_v": 0.015, "tau_l_s": 0.010,
                "tau_s_s": 0.003, "eta_v2_s2": 10e-12, "w_mean_v_s": 5e-6, "w_std_v_s": 15e-6, "dt_s": 0.0005,
                "record_every_s": 0.005}
    assert record.keys() == expected.keys()
    assert record == pytest.approx(expected, rel=1e-14)
    assert json.loads(json.dumps(record)) == record
    # equal configs hash alike (a frozen dataclass of quantities)
    assert hash(UrbanczikSennConfig()) == hash(UrbanczikSennConfig()) and UrbanczikSennConfig() == UrbanczikSennConfig()


def test_us_config_attenuation_is_gd_over_gd_plus_gl():
    cfg = UrbanczikSennConfig(g_l=0.1 / ms, g_d=2.0 / ms)
    assert cfg.dendritic_attenuation == pytest.approx(2.0 / 2.1, rel=1e-15)


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 1.0}, {"window": 0 * second}, {"window": 1e6 * second},
                                    {"window": 5.0}, {"target": "gpu"}])
def test_teacher_task_rejects_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        teacher_task(SMALL_US, **kwargs)


def test_teacher_task_rejects_non_config():
    with pytest.raises(ConfigError, match="UrbanczikSennConfig"):
        teacher_task({"n_inputs": 3})


def test_us_config_rejects_duration_not_whole_patterns():
    with pytest.raises(ConfigError, match="whole number of pattern"):
        UrbanczikSennConfig(duration=1.05 * second, pattern=100 * ms)


def test_teacher_task_circuit_is_a_description():
    # the circuit is data (no brian2): teacher = the student's neuron without somatic teacher
    # (g_som = 0), fixed w*, identity one-to-one onto the students' somata; TOML round trip
    from neurosim.circuits import urbanczik_senn_circuit
    from neurosim.network import Network
    from neurosim.neurons import UrbanczikSennParameters
    from neurosim.spiking.dendritic import teacher_task_network

    cfg = SMALL_US
    circuit = urbanczik_senn_circuit(teacher_task_network(cfg))
    assert Network.from_toml(circuit.to_toml()) == circuit
    student, teacher = UrbanczikSennParameters.from_layer(circuit.layer("student")), \
        UrbanczikSennParameters.from_layer(circuit.layer("teacher"))
    assert teacher.g_som == 0 and student.g_som == pytest.approx(800.0, rel=1e-15)
    assert student.dendritic_attenuation == pytest.approx(cfg.dendritic_attenuation, rel=1e-15)
    nudge = circuit.projection("teacher->student")
    assert (nudge.target, nudge.connectivity, nudge.plastic) == ("soma", "one_to_one", False)
    assert not circuit.projection("input->teacher").plastic and circuit.projection("input->student").plastic


def test_urbanczik_senn_builder_rejects_bad_circuits():
    pytest.importorskip("brian2")
    from neurosim.network import Network, Projection
    from neurosim.spiking.builder import build_circuit
    from neurosim.spiking.dendritic import teacher_task_network

    net = teacher_task_network(SMALL_US)                     # g_som > 0 but no teacher projection
    params = {"input->student": np.zeros((4, 20))}
    with pytest.raises(ConfigError, match="g_som"):
        build_circuit(net, params, np.zeros((1, 20)), codegen_target="numpy")
    with pytest.raises(ConfigError, match="eta"):
        from neurosim.circuits import urbanczik_senn_circuit
        circuit = urbanczik_senn_circuit(net)
        build_circuit(circuit, {**params, "input->teacher": np.zeros((4, 20)), "teacher->student": np.eye(4)},
                      np.zeros((1, 20)), codegen_target="numpy", plasticity={"input->student": ("urbanczik_senn", {})})
    soma = Network(net.layers, (Projection("input", "student", target="soma"),))
    with pytest.raises(ConfigError, match="one_to_one"):
        build_circuit(soma, params, np.zeros((1, 20)), codegen_target="numpy")


# ------------------------------------------------------------------ teacher task (brian2)
@pytest.fixture(scope="module")
def learned():
    return teacher_task(SMALL_US, seed=3, target=TARGET, window=WINDOW)


@pytest.mark.spiking
def test_teacher_task_weights_approach_teacher(learned):
    d0, d1 = learned.weight_distance[:, 0], learned.weight_distance[:, -1]
    ratio = d1 / d0
    # noise: the spread of the ratio across the 4 independent students; the fall must exceed
    # 4 standard errors of their mean
    sem = ratio.std(ddof=1) / np.sqrt(len(ratio))
    assert ratio.mean() + 4 * sem < 1.0


@pytest.mark.spiking
def test_teacher_task_prediction_error_falls_beyond_noise(learned):
    frozen = teacher_task(dataclasses.replace(SMALL_US, eta=0 * mV ** 2 * ms ** 2), seed=3, target=TARGET,
                          window=WINDOW)
    # with eta = 0 nothing learns: the weights must not move (rtol: the mV ms <-> V s round trip)
    np.testing.assert_allclose(frozen.w_final, frozen.w_initial, rtol=1e-12, atol=1e-12)
    # sigma: window-to-window noise of one window's RMSE, measured where nothing learns; the
    # difference of two means of K windows x n_students has noise sigma sqrt(2 / (K n))
    sigma = np.std(frozen.prediction_rmse_hz, axis=1, ddof=1).mean()
    e = learned.prediction_rmse_hz
    start, end = e[:, :K_EDGE].mean(), e[:, -K_EDGE:].mean()
    assert start - end > 4 * sigma * np.sqrt(2 / (K_EDGE * e.shape[0]))


@pytest.mark.spiking
def test_teacher_task_without_teacher_does_not_learn_teacher_weights(learned):
    alone = teacher_task(dataclasses.replace(SMALL_US, g_som=0 / ms), seed=3, target=TARGET, window=WINDOW)
    # same seed: same w*, initial weights and inputs; the weights move ...
    assert np.max(np.abs(alone.w_final - alone.w_initial)) > 1.0
    # ... but without the somatic teacher they do not approach w* the way the taught student does
    ratio_alone = (alone.weight_distance[:, -1] / alone.weight_distance[:, 0]).mean()
    ratio_taught = (learned.weight_distance[:, -1] / learned.weight_distance[:, 0]).mean()
    assert ratio_alone > 0.8
    assert ratio_alone > 2 * ratio_taught


@pytest.mark.spiking
def test_teacher_task_is_reproducible():
    cfg = dataclasses.replace(SMALL_US, duration=2 * second)
    a = teacher_task(cfg, seed=5, target=TARGET, window=1 * second)
    b = teacher_task(cfg, seed=5, target=TARGET, window=1 * second)
    np.testing.assert_array_equal(a.w_final, b.w_final)
    np.testing.assert_array_equal(a.prediction_rmse_hz, b.prediction_rmse_hz)


# ------------------------------------------------------------------ microcircuit
def _circuit(g_som_out=0.8, topdown="symmetric", seed=0):
    rule = get_rule("microcircuit", g_som_out=g_som_out, topdown=topdown)
    net = rule.network([2, 4, 1])
    return rule, net, rule.init_params(net, seed=seed)


def test_microcircuit_circuit_is_a_description():
    # data only (no brian2): the rate rule's constants land on the layers, the interneurons'
    # nudging is a fixed one-to-one identity projection of scale lambda_I onto their soma, the
    # output teacher a gated target drive of scale lambda; TOML round trip
    from neurosim.circuits import spiking_microcircuit_circuit, spiking_microcircuit_params
    from neurosim.network import Network
    from neurosim.neurons import PoissonTwoCompartmentParameters as P

    rule, net, params = _circuit()
    circuit = spiking_microcircuit_circuit(net, rule)
    assert Network.from_toml(circuit.to_toml()) == circuit
    assert P.from_layer(circuit.layer("pyr1")).g_apical == rule.apical_coupling
    assert P.from_layer(circuit.layer("output")).nudging == rule.nudging
    assert P.from_layer(circuit.layer("inter1")).g_basal == 1.0 - rule.inter_nudging
    nudge = circuit.projection("output->inter1:nudge")
    assert (nudge.target, nudge.connectivity, nudge.plastic, nudge.scale) == ("soma", "one_to_one", False,
                                                                            rule.inter_nudging)
    (teacher,) = circuit.drives
    assert (teacher.post, teacher.source, teacher.scale, teacher.gated) == ("output", "target", rule.nudging, True)
    full = spiking_microcircuit_params(circuit, params)
    np.testing.assert_array_equal(full["output->inter1:nudge"], np.eye(1))


@pytest.mark.spiking
def test_microcircuit_rejects_bad_inputs():
    rule, net, params = _circuit()
    with pytest.raises(ConfigError, match="Microcircuit"):
        SpikingMicrocircuit(net, params, get_rule("backprop"), batch=4, target="numpy")
    with pytest.raises(ConfigError, match="n_trials"):
        SpikingMicrocircuit(net, params, rule, batch=4, n_trials=0, target="numpy")
    with pytest.raises(ConfigError, match="baseline"):
        SpikingMicrocircuit(net, params, rule, batch=4, baseline="mean", target="numpy")
    tanh = rule.network([2, 4, 1], activation="tanh")
    with pytest.raises(ConfigError, match="sigmoid"):
        SpikingMicrocircuit(tanh, rule.init_params(tanh, seed=0), rule, batch=4, target="numpy")
    # brian2 quantities (the former r_max_hz / *_ms floats): a bare number or a wrong dimension is one line
    for kwargs, message in (({"window": 1000.0}, r"'window' = 1000.0 has no unit; pass a brian2 time such as "
                                                 r"1000.0\*brian2.ms$"),
                            ({"r_max": 200}, r"'r_max' = 200 has no unit; pass a brian2 rate such as 200\*brian2.Hz$"),
                            ({"r_max": 200 * ms}, r"'r_max' must be a brian2 rate such as 1\*brian2.Hz"),
                            ({"dt": 0.2 * Hz}, r"'dt' must be a brian2 time"),
                            ({"settle": 0 * ms}, r"'settle' must be a time > 0 ms")):
        with pytest.raises(ConfigError, match=message):
            SpikingMicrocircuit(net, params, rule, batch=4, target="numpy", **kwargs)
    model = SpikingMicrocircuit(net, params, rule, batch=4, n_trials=1, target="numpy", window=10 * ms,
                                settle=10 * ms)
    with pytest.raises(ShapeError, match="batch"):
        model.run(X[:2], T[:2])
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model.run(2 * X, T)
    with pytest.raises(ConfigError, match="signal"):
        spiking_microcircuit_align(net, params, X, T, rule=rule, signal="burst", model=model)


# one sample far from its target: its gradient is not the small remainder of the XOR
# batch's cancelling per-sample gradients, so 64 one-second trials at lambda = 0.42 are
# signal dominated (per-trial spike noise ~0.03 per entry at the output, see the README)
X1, T1 = np.array([[1.0, 1.0]]), np.array([[1.0]])
BIAS_ALLOWANCE = 0.1


@pytest.fixture(scope="module")
def xor_run():
    rule, net, params = _circuit(g_som_out=0.8)
    model = SpikingMicrocircuit(net, params, rule, batch=1, n_trials=64, target=MC_TARGET, baseline="free")
    return rule, net, params, model.run(X1, T1, seed=11)


def _noise_model(per_trial, rate, ref, n_draws=4000, seed=0):
    """Cosines with ``ref`` expected if the trial mean were ``rate`` + Gaussian noise of the measured variance.

    Returns (predicted cosine of the noiseless-norm formula, 0.1% quantile of the simulated
    cosines).  The per-entry variance of the mean is the trials' variance / n_trials.
    """
    n = per_trial.shape[0]
    var = per_trial.var(axis=0, ddof=1) / n
    predicted = cosine(rate, ref) * np.linalg.norm(rate) / np.sqrt(np.linalg.norm(rate) ** 2 + var.sum())
    rng = np.random.default_rng(seed)
    draws = rate[None] + np.sqrt(var)[None] * rng.standard_normal((n_draws,) + rate.shape)
    flat, g = draws.reshape(n_draws, -1), ref.ravel()
    cos = flat @ g / (np.linalg.norm(flat, axis=1) * np.linalg.norm(g))
    return predicted, float(np.quantile(cos, 0.001))


@pytest.mark.spiking
@pytest.mark.parametrize("signal, name", [("spike", "pyr1->output"), ("rate", "pyr1->output"),
                                          ("rate", "input->pyr1"), ("spike", "input->pyr1")])
def test_microcircuit_update_aligns_as_predicted_by_trial_noise(xor_run, signal, name):
    rule, net, params, spikes = xor_run
    bp = backprop(net, params, X1, T1).descent()
    rate = rule.step(net, params, X1, T1)
    per = spikes.per_trial_spike if signal == "spike" else spikes.per_trial_rate
    mean = spikes.spike_updates if signal == "spike" else spikes.rate_updates
    # the rate rule itself must be aligned (the oracle the spiking mean scatters around)
    assert cosine(rate[name], bp[name]) > 0.95
    predicted, quantile = _noise_model(per[name], rate[name], bp[name])
    # besides the noise, the spiking mean may differ from the rate rule by a systematic bias:
    # phi averaged over the spike-driven fluctuations of u is not phi of the mean u (Jensen,
    # ~ phi''/(2 phi') Var(u) relative, ~5% here); allow a 10% relative bias, i.e. an extra
    # angle of arcsin(0.1)
    threshold = np.cos(np.arccos(np.clip(quantile, -1, 1)) + np.arcsin(BIAS_ALLOWANCE))
    assert cosine(mean[name], bp[name]) > threshold, (predicted, quantile, threshold)


@pytest.mark.spiking
@pytest.mark.parametrize("signal, name", [("spike", "pyr1->output"), ("rate", "pyr1->output"),
                                          ("rate", "input->pyr1"), ("spike", "input->pyr1")])
def test_microcircuit_64_trials_are_signal_dominated(xor_run, signal, name):
    rule, net, params, spikes = xor_run
    per = spikes.per_trial_spike if signal == "spike" else spikes.per_trial_rate
    rate = rule.step(net, params, X1, T1)
    predicted, _ = _noise_model(per[name], rate[name], backprop(net, params, X1, T1).descent()[name])
    # signal dominated: |rate update|^2 > 3 x the summed noise variance of the 64-trial mean
    # (cos(rate, G) > 0.95 asserted above), i.e. a noise-model cosine > 0.95 * sqrt(3/4) = 0.82
    assert predicted > 0.82


@pytest.fixture(scope="module")
def xor_batch_run():
    """The whole XOR batch (per-sample gradients cancel: a small hidden gradient), 512 trials."""
    rule, net, params = _circuit(g_som_out=0.8)
    model = SpikingMicrocircuit(net, params, rule, batch=4, n_trials=512, target=MC_TARGET, baseline="free")
    return rule, net, params, model.run(X, T, seed=5)


def _hotelling_t2(samples: np.ndarray) -> float:
    """Hotelling's T^2 of the mean of ``samples`` (n, ...) against zero."""
    flat = samples.reshape(samples.shape[0], -1)
    m, cov = flat.mean(axis=0), np.cov(flat, rowvar=False)
    return float(flat.shape[0] * m @ np.linalg.solve(cov, m))


@pytest.mark.spiking
@pytest.mark.parametrize("signal, min_norm", [("rate", 1.5)])
def test_unbaselined_hidden_update_is_teacher_free_bias(xor_batch_run, signal, min_norm):
    """Measured property (README): without the baseline the hidden update is the teacher-less one.

    Holds for the phi(u) signal (Jensen: E[phi(u)] != phi(V*) under the apical fluctuations).
    The spike signal's bias of the hand-built circuit (25x the gradient) was discretisation:
    see test_hidden_spike_signal_has_no_teacher_free_bias.
    """
    rule, net, params, spikes = xor_batch_run
    name = "input->pyr1"
    free = getattr(spikes, f"free_per_trial_{signal}")[name]
    nudged = getattr(spikes, f"per_trial_{signal}")[name] + free
    g = backprop(net, params, X, T).descent()[name]
    # the free copies' update has a non-zero mean: under a zero mean, Hotelling's T^2 of 8
    # entries over 512 trials is F(8, 504) * 8 * 511 / 504, and T^2 > 40 (F > 4.9) has
    # probability ~1e-5 (chi^2_8 > 39: 5e-6); measured 28 with 256 trials, so 512 here
    assert _hotelling_t2(free) > 40
    # it exceeds the gradient (measured 25x spike, 2.3-3x rate signal at lambda = 0.42 in
    # results/spiking_dendritic_xor and with this seed) and the unbaselined update points along it
    assert np.linalg.norm(free.mean(axis=0)) > min_norm * np.linalg.norm(g)
    assert cosine(nudged.mean(axis=0), free.mean(axis=0)) > 0.9
    # removing it turns the update towards the gradient (measured -0.3 -> 0.71 spike,
    # ~0.7 -> 0.999 rate signal)
    assert cosine((nudged - free).mean(axis=0), g) > cosine(nudged.mean(axis=0), g) + 0.2


@pytest.mark.spiking
def test_hidden_spike_signal_has_no_teacher_free_bias(xor_batch_run):
    """The spike signal S/r_max - phi(V*) has no teacher-less bias once the traces are right.

    The hand-built circuit's hidden spike-signal bias (free copies' mean 25x the gradient,
    Hotelling T^2 = 61) came from the discretisation: an exact-decay trace has the discrete-time
    mean (1 + dt / 2 tau_psi) r / r_max (+0.5 % at dt = 0.2 ms), and a presynaptic spike in the
    step of a postsynaptic one was already in the trace its on_post read.  The builder's traces
    (Euler decay: mean exactly r / r_max; fed after the other synapses) remove both.
    """
    rule, net, params, spikes = xor_batch_run
    name = "input->pyr1"
    free = spikes.free_per_trial_spike[name]
    # zero mean: T^2 = F(8, 504) 8 * 511 / 504, P(T^2 > 30) ~ 3e-4 (measured 3.3)
    assert _hotelling_t2(free) < 30
    # the free baseline still pays, now as common-random-number noise reduction: the per-trial
    # variance of nudged - free is < 5 % of the nudged one's (measured 0.7 %), and removing the free
    # copies' update turns the 512-trial mean towards the gradient (measured 0.32 -> 0.76)
    base = spikes.per_trial_spike[name]
    nudged = base + free
    assert base.var(axis=0, ddof=1).sum() < 0.05 * nudged.var(axis=0, ddof=1).sum()
    g = backprop(net, params, X, T).descent()[name]
    assert cosine(base.mean(axis=0), g) > cosine(nudged.mean(axis=0), g) + 0.2


@pytest.mark.spiking
def test_free_baseline_uses_common_random_numbers(xor_run):
    _, _, _, spikes = xor_run
    for name in ("input->pyr1", "pyr1->output"):
        base = spikes.per_trial_spike[name]
        nudged = base + spikes.free_per_trial_spike[name]
        # independent spike noise in the two phases would make var(difference) ~ 2 var(nudged);
        # shared uniforms leave only the spikes the teacher moved across them
        assert base.var(axis=0, ddof=1).sum() < 0.5 * nudged.var(axis=0, ddof=1).sum()


@pytest.mark.spiking
def test_microcircuit_baseline_none_and_reproducibility():
    rule, net, params = _circuit(g_som_out=0.8)
    kw = dict(batch=4, n_trials=2, target=MC_TARGET, window=40 * ms, settle=20 * ms)
    plain = SpikingMicrocircuit(net, params, rule, baseline="none", **kw).run(X, T, seed=2)
    assert plain.free_per_trial_spike is None and plain.free_spike_updates is None
    model = SpikingMicrocircuit(net, params, rule, **kw)
    a, b = model.run(X, T, seed=2), model.run(X, T, seed=2)
    for k in a.spike_updates:
        np.testing.assert_array_equal(a.spike_updates[k], b.spike_updates[k])
        np.testing.assert_array_equal(a.free_spike_updates[k], b.free_spike_updates[k])
        # the uniforms come from the noise groups alone, one per neuron of a phase: the nudged
        # copies of the baselined model see the same numbers as the model without free copies
        # (rtol: nudged = (nudged - free) + free in float64)
        np.testing.assert_allclose(a.per_trial_spike[k] + a.free_per_trial_spike[k], plain.per_trial_spike[k],
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.spiking
def test_train_spiking_microcircuit_smoke_and_bad_inputs():
    from neurosim.spiking.dendritic import train_spiking_microcircuit

    rule, net, params = _circuit(g_som_out=0.8)
    with pytest.raises(ConfigError, match="epochs"):
        train_spiking_microcircuit(net, params, X, T, epochs=0, learning_rate=1.0, rule=rule)
    with pytest.raises(ConfigError, match="signal"):
        train_spiking_microcircuit(net, params, X, T, epochs=1, learning_rate=1.0, rule=rule, signal="x")
    new, hist = train_spiking_microcircuit(net, params, X, T, epochs=1, learning_rate=1.0, rule=rule, n_trials=1,
                                           codegen_target=MC_TARGET, window=20 * ms, settle=20 * ms)
    assert len(hist) == 2 and hist[0]["loss"] > 0
    # the lateral weights are back in the self-predicting state after the update
    np.testing.assert_array_equal(new["pyr1->inter1"], new["pyr1->output"])
    assert not np.array_equal(new["pyr1->output"], params["pyr1->output"])


@pytest.mark.spiking
@pytest.mark.xfail(strict=True, reason=(
    "issue 18 item 5, known defect: the baselined output update is the rate rule's plus a bias, the "
    "noise-induced weight decay of output_noise_decay (the teacher's -lambda phi(v_B) follows the "
    "spike-driven fluctuations of v_B = W psi). Measured (python experiments/microcircuit_output_bias.py "
    "--trials 128 --tau-psi-ms 20,80; XOR, lambda = 0.42, rate signal): tau_psi = 20 ms: |d| = 0.47 x "
    "|rate rule| = 8.4 x its trial noise, cos(d, predicted) = 0.984, |d|/|predicted| = 0.97, output cosine "
    "with backprop 0.916; tau_psi = 80 ms: |d| = 0.17 x |rate rule| (predicted 1/(tau_psi + tau) scaling: "
    "0.14), cos(d, predicted) = 0.98, |d|/|predicted| = 1.16, output cosine 0.992 (spike signal 0.922 -> "
    "0.988)"))
def test_output_update_is_rate_rule_within_trial_noise(xor_batch_run):
    # oracle: the rate rule's update (an unbiased spiking mean is that plus zero-mean spike
    # noise); 4 standard errors of the 512-trial mean
    rule, net, params, spikes = xor_batch_run
    name = "pyr1->output"
    per = spikes.per_trial_rate[name]
    d = per.mean(axis=0) - rule.step(net, params, X, T)[name]
    noise = np.sqrt(per.var(axis=0, ddof=1).sum() / per.shape[0])
    assert np.linalg.norm(d) < 4 * noise


@pytest.mark.spiking
def test_output_deviation_is_the_predicted_noise_decay(xor_batch_run):
    """The defect above explained: spiking minus rate rule is Campbell's-theorem weight decay."""
    from neurosim.spiking.dendritic import output_noise_decay

    rule, net, params, spikes = xor_batch_run
    name = "pyr1->output"
    d = spikes.rate_updates[name] - rule.step(net, params, X, T)[name]
    pred = output_noise_decay(net, params, X)          # the model's defaults: r_max 200 Hz, tau_psi 20 ms
    # measured 0.984 / 0.97 at 128 trials (trial noise ~ 1/8 of |d|, halved at 512)
    assert cosine(d, pred) > 0.9
    assert 0.7 < np.linalg.norm(d) / np.linalg.norm(pred) < 1.4


def test_output_noise_decay_scales_as_one_over_r_max_tau_psi_plus_tau():
    # d = -<phi'^2 W phi/(2 r_max tau_psi)> tau_psi/(tau_psi + tau) ~ 1/(r_max (tau_psi + tau)): doubling
    # r_max and both time constants quarters it; the same numbers in other units give the same d
    from neurosim.spiking.dendritic import output_noise_decay

    rule, net, params = _circuit(g_som_out=0.8)
    base = output_noise_decay(net, params, X, r_max=200 * Hz, tau_psi=20 * ms, tau_soma=5 * ms)
    np.testing.assert_allclose(output_noise_decay(net, params, X), base, rtol=0, atol=0)   # the defaults
    np.testing.assert_allclose(output_noise_decay(net, params, X, r_max=400 * Hz, tau_psi=40 * ms, tau_soma=10 * ms),
                               base / 4, rtol=1e-12)
    np.testing.assert_allclose(output_noise_decay(net, params, X, r_max=0.2 * 1000 * Hz, tau_psi=0.02 * second,
                                                  tau_soma=5000 * 1e-6 * second), base, rtol=1e-12)
    with pytest.raises(ConfigError, match=r"'tau_psi' = 20.0 has no unit"):
        output_noise_decay(net, params, X, tau_psi=20.0)


def test_urbanczik_senn_figure_reads_new_and_former_config_records():
    # records written now hold SI floats (to_record); the shipped figure data the former lab-unit fields
    import importlib.util
    import json
    from pathlib import Path

    figures = Path(__file__).resolve().parents[1] / "figures"
    spec = importlib.util.spec_from_file_location("urbanczik_senn_figure", figures / "urbanczik_senn.py")
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    record = json.loads(json.dumps(UrbanczikSennConfig(eta=40 * mV ** 2 * ms ** 2, g_som=0.8 / ms).to_record()))
    assert figure.eta_and_g_som(record) == pytest.approx((40.0, 0.8), rel=1e-12)
    shipped = json.loads((figures / "data" / "urbanczik_senn.json").read_text())["config"]
    assert figure.eta_and_g_som(shipped) == (shipped["eta"], shipped["g_som_per_ms"])


@pytest.mark.spiking
def test_teacher_task_draws_the_weights_of_the_decimal_values_written():
    # w ~ N(w_mean, w_std) in mV ms: 25*mV*ms must be 25.0 exactly (not 25.000000000000004, the binary
    # round-off of the mV ms scale), so the quantity config draws what the former float config drew
    cfg = dataclasses.replace(SMALL_US, duration=100 * ms)
    res = teacher_task(cfg, seed=5, target="numpy", window=100 * ms)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(res.w_star, rng.normal(25.0, 33.0, size=(4, 20)))
    np.testing.assert_array_equal(res.w_initial, rng.normal(25.0, 33.0, size=(4, 20)))


@pytest.mark.spiking
def test_an_update_without_spikes_is_a_one_line_error_not_a_nan_cosine():
    """A counting window too short for any spike to reach the plasticity gives dW = 0 exactly, whose cosine
    with anything is undefined: the alignment says so in one line (it reported NaN before)."""
    rule = get_rule("microcircuit")
    net = rule.network([4, 3, 2])
    params = rule.init_params(net, 0)
    x = np.random.default_rng(0).uniform(0, 1, (2, 4))
    with pytest.raises(ConfigError, match="update is exactly zero.*lengthen window or add trials"):
        spiking_microcircuit_align(net, params, x, np.eye(2), n_trials=2, seed=0, codegen_target=MC_TARGET,
                                   window=2 * ms, settle=2 * ms)

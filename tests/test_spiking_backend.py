"""The brian2 backend against closed forms and spike-count statistics (marked ``spiking``).

Run with ``pytest tests/test_spiking_backend.py -m spiking``.  The first run on a machine
compiles brian2's Cython code (minutes on 2 cores, cached in ~/.cython afterwards).

Oracles
-------
* the LIF f-I curve :func:`neurosim.neurons.lif_rate` and the exact spike timing of a
  time-stepped LIF (below) for current injection;
* the rate network with activation ``"lif"`` (``rate_equivalent``) for Poisson-driven
  multi-layer networks, within a tolerance from the spike-count statistics;
* identities: FA with feedback tied to ``W^T`` is backprop; backprop's rate update is the
  reference.
"""
import math
from statistics import NormalDist

import numpy as np
import pytest

from neurosim import Layer, Network, Projection, forward, init_params
from neurosim.neurons import LIFParameters, lif_rate

pytestmark = pytest.mark.spiking
b2 = pytest.importorskip("brian2")
spiking = pytest.importorskip("neurosim.spiking")
from neurosim.spiking.codegen import cython_available  # noqa: E402

TARGETS = [pytest.param("cython", marks=pytest.mark.skipif(not cython_available(), reason="no C compiler")),
           "numpy"]
DT = 0.1e-3


def _count_bounds(u, window, t_first_offset, dt=DT):
    """Spike-count bracket of a time-stepped LIF under constant drive ``u``.

    With charging time :math:`t_c = \\tau_m\\ln(u/(u-1))` and period :math:`P = t_{ref} + t_c`,
    brian2 detects a crossing at the end of the step that contains it and stamps the spike
    with the step's start, so every recorded period lies in :math:`[P - dt, P]`.  A window of
    length ``window`` starting ``t_first_offset`` after the first charge began then holds
    between ``floor(window / P)`` and ``floor(window / (P - dt)) + 1`` spikes; with
    ``t_first_offset = 0`` (counting from the reset at rest) the first spike comes after
    :math:`t_c` instead of :math:`P`, which the caller's window accounts for.
    """
    lif = LIFParameters()
    rate = lif_rate(u, lif.tau_m, lif.t_ref, lif.u_reset)
    low = np.zeros_like(u)
    high = np.zeros_like(u)
    fires = rate > 0
    period = 1.0 / rate[fires]
    low[fires] = np.floor((window + t_first_offset) / period)
    high[fires] = np.floor((window + t_first_offset) / (period - dt)) + 1
    return low, high


@pytest.mark.parametrize("target", TARGETS)
def test_single_population_follows_the_fi_curve(target):
    n = 20
    u = np.linspace(0.5, 4.0, n)
    net = Network.feedforward([n, n], activation="lif", bias=False)
    model = spiking.build(net, {"input->output": np.diag(u)}, encoding="current", presentation=500 * b2.ms,
                          settle=0 * b2.ms, dt=DT * b2.second, target=target)
    counts = model.run(np.ones((1, n))).counts["output"][0, 0]
    # counting from the reset at rest: the first spike needs t_c = P - t_ref, i.e. the
    # window behaves like one of length 0.5 s + t_ref counted from a spike
    low, high = _count_bounds(u, 0.5, LIFParameters().t_ref)
    assert np.all(counts[u <= 1] == 0)
    assert np.all((counts >= low) & (counts <= high)), (counts, low, high)


def test_two_compartment_population_is_driven_by_its_basal_dendrite():
    n = 6
    u_basal = np.linspace(1.5, 3.0, n)
    u_apical = np.linspace(-1.0, 2.0, n)
    net = Network((Layer("in", n, role="input", bias=False, activation="linear"),
                   Layer("pyr", n, role="output", neuron="lif_two_compartment", bias=False, activation="lif")),
                  (Projection("in", "pyr", target="basal"),
                   Projection("in", "pyr", name="in->pyr:apical", kind="feedback", target="apical")))
    params = {"in->pyr": np.diag(u_basal), "in->pyr:apical": np.diag(u_apical)}
    model = spiking.build(net, params, encoding="current", presentation=600 * b2.ms, settle=100 * b2.ms,
                          dt=DT * b2.second)
    counts = model.run(np.ones((1, n))).counts["pyr"][0, 0]
    # after 100 ms = 10 tau_dend the basal potential equals its input up to e^-10; the
    # segregated apical dendrite (g_apical = 0) must not change the rate.  The counting
    # window starts at an arbitrary phase of the spike train: floor(T/P) .. floor(T/(P-dt))+1
    low, high = _count_bounds(u_basal, 0.5, 0.0)
    assert np.all((counts >= low) & (counts <= high)), (counts, low, high)
    v_th = LIFParameters().v_threshold
    # tau_d dv_A/dt = -v_A + I_A: after 0.6 s = 60 tau_d it sits at I_A = V_th u_A (to e^-60)
    np.testing.assert_allclose(model.groups["pyr"].v_apical_[:], v_th * u_apical, rtol=1e-9, atol=1e-15)


def _three_layer(seed=0):
    """60 Poisson inputs -> 40 -> 12 LIF with weights that spread the drives around threshold."""
    rng = np.random.default_rng(seed)
    net = Network.feedforward([60, 40, 12], activation="lif")
    params = {}
    for proj in net.projections:
        n_post, n_pre = net.layer(proj.post).size, net.layer(proj.pre).size
        params[proj.name] = rng.uniform(-0.5, 1.5, (n_post, n_pre)) * 4.0 / n_pre
    params["hidden1.bias"] = rng.uniform(-0.5, 1.0, 40)
    params["output.bias"] = rng.uniform(-1.0, 1.5, 12)
    x = rng.uniform(0.2, 1.0, (2, 60))
    return net, params, x


def test_multilayer_rates_match_the_rate_network_within_count_statistics():
    net, params, x = _three_layer()
    n_trials = 8
    model = spiking.build(net, params, presentation=500 * b2.ms, settle=100 * b2.ms, dt=DT * b2.second)
    activity = model.run(x, n_trials=n_trials, seed=11)
    rate_net = forward(spiking.rate_equivalent(net), params, x)
    lif = LIFParameters()
    window = activity.window
    checked = 0
    z_scores, fanos = [], []
    for layer in ("hidden1", "output"):
        proj = net.select("feedforward", post=layer)[0]
        w = params[proj.name]
        rho_pre = rate_net.r[proj.pre]
        # Membrane fluctuation (threshold units) from Poisson shot noise through the synaptic
        # and membrane filters: sigma^2 = sum_j W_j^2 rho_j / (2 r0 (tau_s + tau_m)).  Within
        # 3 sigma of threshold the noise, not the mean drive, sets the rate (the deterministic
        # f-I curve does not apply there), so only units farther away are compared.
        sigma = np.sqrt(rho_pre @ (w ** 2).T / (2 * 100.0 * (lif.tau_syn + lif.tau_m)))
        u = rate_net.u[layer]
        far = np.abs(u - 1.0) > 3 * sigma
        counts = activity.counts[layer]                     # (trials, batch, size)
        mean_count = counts.mean(axis=0)
        # Standard error of the trial mean from the Poisson bound on the count variance
        # (Fano factor <= 1 for a LIF reset to rest; checked below), floored at one count.
        se = np.sqrt(np.maximum(mean_count, 1.0) / n_trials) / window
        predicted = rate_net.r[layer] * 100.0              # Hz
        # time stepping shortens each period by up to dt (see _count_bounds): r -> r/(1 - r dt)
        discretisation = predicted ** 2 * DT / (1 - predicted * DT)
        measured = mean_count / window
        gap = np.where(measured > predicted, np.maximum(measured - predicted - discretisation, 0),
                       predicted - measured)
        z_scores.append((gap / se)[far])
        busy = mean_count > 5
        fanos.append((counts.var(axis=0, ddof=1)[busy] / mean_count[busy]))
        checked += far.sum()
    z = np.concatenate(z_scores)
    fano = np.concatenate(fanos)
    assert checked >= 60, "the test network should put most units away from threshold"
    # Bonferroni over every compared unit at a family-wise 1 % false-alarm rate
    z_crit = NormalDist().inv_cdf(1 - 0.01 / (2 * checked))
    assert z.max() < z_crit, (z.max(), z_crit)
    # The Poisson bound used above: under Fano = 1 each sample Fano estimate has mean 1 and
    # variance 2/(K-1), so their average exceeds 1 + 3 sqrt(2/((K-1) n)) with probability < 0.2 %
    assert fano.mean() < 1 + 3 * math.sqrt(2 / ((n_trials - 1) * fano.size)), fano.mean()


def test_same_seed_same_spikes_and_restore_between_batches():
    net, params, x = _three_layer(seed=1)
    x2 = np.flip(x, axis=1).copy()
    model = spiking.build(net, params, presentation=100 * b2.ms, settle=20 * b2.ms, dt=DT * b2.second)
    before = np.random.get_state()[1].copy()
    first = model.run(x, n_trials=2, seed=5).counts
    model.run(x2, n_trials=2, seed=5)                    # another batch in between
    again = model.run(x, n_trials=2, seed=5).counts
    other = model.run(x, n_trials=2, seed=6).counts
    for layer in first:
        np.testing.assert_array_equal(first[layer], again[layer])
    assert any(np.any(first[k] != other[k]) for k in first)
    # brian2 draws from NumPy's global generator; run() puts its state back
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def _tied_fa_network():
    net = Network.feedforward([12, 10, 4], activation="lif", loss="mse")
    return net.add(Projection("output", "hidden1", name="output->hidden1:fa", kind="feedback",
                              tied_to="hidden1->output", plastic=False))


def test_spiking_fa_with_tied_feedback_is_spiking_backprop():
    net = _tied_fa_network()
    rng = np.random.default_rng(2)
    params = init_params(net, seed=3)
    params["hidden1.bias"] = np.full(10, 1.5)
    params["output.bias"] = np.full(4, 1.2)
    x = rng.uniform(0, 1, (3, 12))
    t = rng.uniform(0, 1, (3, 4))
    model = spiking.build(net, params, kinds=("feedforward",), presentation=150 * b2.ms, settle=50 * b2.ms,
                          dt=DT * b2.second)
    activity = model.run(x, n_trials=3, seed=0)
    eq = spiking.rate_equivalent(net)
    srule_fa, srule_bp = spiking.get_spiking_rule("fa"), spiking.get_spiking_rule("backprop")
    fa, fa_state, _ = srule_fa.updates(eq, params, srule_fa.init(eq, params, 0), activity, t)
    bp, bp_state, _ = srule_bp.updates(eq, params, srule_bp.init(eq, params, 0), activity, t)
    assert fa_state == {} and bp_state == {}  # deterministic read-out rules carry no state
    assert fa.keys() == bp.keys()
    for key in bp:
        np.testing.assert_allclose(fa[key], bp[key], rtol=1e-12, atol=1e-15)


def test_spiking_align_report_follows_the_align_json_contract():
    net = Network.feedforward([12, 10, 4], activation="tanh", loss="mse")
    params = init_params(net, seed=3)
    params["hidden1.bias"] = np.full(10, 1.5)
    params["output.bias"] = np.full(4, 1.2)
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (3, 12))
    t = rng.uniform(0, 1, (3, 4))
    report = spiking.spiking_align("backprop", net, params, x, t, n_trials=2, seed=1,
                                   presentation=150 * b2.ms, settle=50 * b2.ms, dt=DT * b2.second)
    d = report.to_dict()
    assert d["rule"] == "backprop" and d["backend"] == "spiking" and d["reference"] == "backprop"
    assert [p["name"] for p in d["projections"]] == ["input->hidden1", "hidden1->output"]
    assert set(d["projections"][0]) == {"name", "cosine", "angle_deg", "norm_ratio", "sign_agreement"}
    assert -1 <= d["rate_rule_cosine"] <= 1 and d["n_trials"] == 2
    # a real simulation of 2 trials x 3 samples x 200 ms of biological time takes measurable time
    assert d["timings"]["simulate_s"] > 0


def _near_threshold_case():
    """64-30-10 with biases 1: most drives sit near threshold, where the hard LIF slope diverges."""
    net = Network.feedforward([64, 30, 10], activation="lif", loss="mse")
    params = init_params(net, seed=0)
    params["hidden1.bias"][:] = 1.0
    params["output.bias"][:] = 1.0
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 64))
    t = np.eye(10)[rng.integers(0, 10, 8)]
    # FA needs its feedback weights; the forward weights and biases stay those above
    from neurosim.rules import get_rule

    fa = get_rule("fa")
    return net, {**fa.init_params(fa.network(net), 0), **params}, x, t


@pytest.mark.parametrize("rule", ["backprop", "fa"])
def test_spiking_rules_near_threshold_follow_the_soft_lif_network(rule):
    """Near threshold the neurons follow the noise-smoothed f-I curve: compare with that network.

    With ``rate_model="soft_lif"`` the read-out derivative and the reference are the soft LIF's
    with the width fitted to the run's own (drive, rate) pairs (~0.06 threshold units).  The
    threshold comes from trial noise: the spiking update must reach 90 % of the cosine its
    10-trial mean keeps with its own infinite-trial limit (``noise_limited_cosine``, ~0.99), as
    in tests/test_spiking_burstprop.py.  Measured (numpy target, seed 0): backprop 0.987 (noise
    limit 0.994), FA vs rate FA 0.981; with the hard LIF 0.80 and 0.73.
    """
    net, params, x, t = _near_threshold_case()
    report = spiking.spiking_align(rule, net, params, x, t, n_trials=10, seed=0, dt=DT * b2.second,
                                   rate_model="soft_lif")
    extra = report.extra
    assert extra["rate_equivalent_activation"].startswith("soft_lif(sigma=")
    # the fit explains the measured rates better than the hard f-I curve does
    assert extra["soft_lif_fit"]["rmse"] < extra["soft_lif_fit"]["rmse_lif"]
    ceiling = extra["noise_limited_cosine"]
    assert ceiling > 0.95, "the set-up should carry signal above the count noise"
    # FA's reference is the gradient (it misaligns by design); its spiking version is checked against rate FA
    assert extra["rate_rule_cosine"] >= 0.9 * ceiling, (extra["rate_rule_cosine"], ceiling)
    if rule == "backprop":
        assert report.global_cosine >= 0.9 * ceiling


@pytest.mark.xfail(strict=True, reason="known defect of the hard-LIF comparison: its derivative diverges as "
                                       "u -> 1+, so read-out drives just above threshold dominate dW; measured "
                                       "(numpy, seeds 0/1/2) backprop 0.80/0.26/0.78, FA vs rate FA 0.73/0.72/0.67, "
                                       "while vs the soft LIF the same spikes give 0.987 and 0.981")
@pytest.mark.parametrize("rule", ["backprop", "fa"])
def test_spiking_rules_align_with_the_hard_lif_network_near_threshold(rule):
    # Far from threshold (biases 2) the same set-up gives a global cosine of 0.99 with 10
    # trials; with biases 1 most drives sit just above threshold, where phi'(u) is huge.
    net, params, x, t = _near_threshold_case()
    report = spiking.spiking_align(rule, net, params, x, t, n_trials=10, seed=0, dt=DT * b2.second)
    assert report.extra["rate_rule_cosine"] > 0.9


@pytest.mark.slow
def test_cpp_standalone_gives_the_runtime_spikes(tmp_path):
    # deterministic current injection: every target must produce the same spike counts
    n = 5
    u = np.linspace(1.5, 4.0, n)
    net = Network.feedforward([n, n], activation="lif", bias=False)
    kwargs = dict(encoding="current", presentation=500 * b2.ms, settle=0 * b2.ms, dt=DT * b2.second)
    standalone = spiking.build(net, {"input->output": np.diag(u)}, target="cpp_standalone",
                               standalone_dir=str(tmp_path), **kwargs).run(np.ones((1, n)))
    runtime = spiking.build(net, {"input->output": np.diag(u)}, target="numpy", **kwargs).run(np.ones((1, n)))
    np.testing.assert_array_equal(standalone.counts["output"], runtime.counts["output"])
    assert standalone.timings["compile_s"] > 0 and standalone.timings["simulate_s"] > 0


def test_model_card_runs_as_spiking_network_with_one_call():
    """A model card's network builds and runs in brian2; its rates follow the rate network.

    Inputs are clamped currents (encoding "current") so the only noise is the time step:
    each unit's count over the window must fall inside the f-I bracket of its drive.
    """
    from pathlib import Path

    from neurosim import RunSpec

    card = RunSpec.load(Path(__file__).resolve().parents[1] / "models" / "lif_mlp_fashion.toml")
    net = card.network
    assert net.layer("hidden1").neuron == "lif"
    params = init_params(net, 0)
    x = np.random.default_rng(0).random((2, 784))
    model = spiking.build(net, params, encoding="current", presentation=200 * b2.ms, settle=50 * b2.ms,
                          target="numpy")
    activity = model.run(x, n_trials=1, seed=0)
    assert activity.counts["hidden1"].shape == (1, 2, 100) and activity.counts["output"].shape == (1, 2, 10)
    fp = forward(spiking.rate_equivalent(net), params, x)
    expected = fp.r["hidden1"] * 100.0  # rate units -> Hz
    measured = activity.rates["hidden1"][0]
    assert np.corrcoef(expected.ravel(), measured.ravel())[0, 1] > 0.95
    # deterministic drive: silent below threshold; above 1.05 x threshold the period
    # (< 63 ms) fits several times into the 200 ms window
    u = fp.u["hidden1"]
    assert np.all(measured[u < 1.0] == 0) and np.all(measured[u > 1.05] > 0)


def test_cold_cython_cache_prints_a_one_line_notice(monkeypatch, capsys):
    """A first spiking call on a cold cache says (one line on stderr) that brian2 is compiling."""
    import neurosim.spiking.codegen as codegen

    monkeypatch.setattr(codegen, "_ANNOUNCED", set())
    monkeypatch.setattr(codegen, "_cache_warm", lambda: False)
    monkeypatch.setattr(codegen, "cython_available", lambda: True)
    assert codegen.resolve_target("auto") == "cython"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compiling" in err and "numpy" in err
    codegen.resolve_target("auto")  # once per process
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", sorted(spiking.SPIKING_RULES))
def test_every_spiking_rule_has_a_default_network_the_cli_can_build(name):
    """``neurosim align --backend spiking`` without --model/--layers builds the spiking rule's own
    default network (a regression: the CLI once imported a function that did not exist)."""
    rule = spiking.get_spiking_rule(name)
    net = rule.rate_rule.network(rule.default_network([4, 5, 3]))
    assert net.sizes[0] == 4 and net.sizes[-1] == 3


def test_cli_align_spiking_builds_its_default_network(monkeypatch):
    """The CLI's spiking branch reaches the simulation with the rule's default network (the
    simulation itself is replaced here: its numbers are tested above)."""
    from neurosim import cli
    from neurosim.spiking import plasticity

    seen = {}

    def fake_align(self, network, params, x, target, **kw):
        seen["network"] = network
        raise SystemExit(0)

    monkeypatch.setattr(plasticity.SpikingRule, "spiking_align", fake_align)
    with pytest.raises(SystemExit):
        cli.main(["align", "--rule", "backprop", "--backend", "spiking", "--trials", "1"])
    assert seen["network"].sizes[0] == 64


def test_injected_currents_give_the_same_spikes_side_by_side_and_in_a_stream():
    """``input_encoding="current"`` through the circuit builder: a deterministic drive, so the copies
    simulated side by side (``presentation="parallel"``) and the rows of a sequential stream (what
    ``build()`` runs; every neuron back to rest at each row start) must spike identically; both
    follow the f-I bracket of their drive ``W x + b``."""
    from neurosim.spiking.builder import build_circuit

    n = 6
    net = Network.feedforward([n, n], activation="lif")
    w = np.diag(np.linspace(0.5, 2.5, n))
    params = {"input->output": w, "output.bias": np.full(n, 0.3)}
    x = np.array([[1.0] * n, [1.5] * n, [-0.2] * n])   # currents may be negative
    kwargs = dict(dt=DT * b2.second, phase=300 * b2.ms, settle=0 * b2.ms, input_encoding="current",
                  codegen_target="numpy")
    side = build_circuit(net, params, x, n_trials=2, **kwargs).run().counts["free"]["output"]
    stream = build_circuit(net, params, x, n_trials=2, presentation="sequential", **kwargs).run()
    np.testing.assert_array_equal(side, stream.counts["free"]["output"])
    assert "input" not in stream.spikes            # the input layer is not simulated
    u = x @ w.T + 0.3
    low, high = _count_bounds(u, 0.3, LIFParameters().t_ref)
    assert np.all((side >= low) & (side <= high)) and np.all(side[:, u <= 1] == 0), (side, low, high)


def test_current_encoding_refuses_layers_it_cannot_drive_and_standalone_state_reads():
    from neurosim.errors import ConfigError
    from neurosim.spiking.builder import build_circuit

    net = Network.feedforward([3, 2], activation="lif", neuron="conductance_lif", bias=False)
    with pytest.raises(ConfigError, match="input_encoding 'current'.*conductance_lif"):
        build_circuit(net, {"input->output": np.ones((2, 3))}, np.ones((1, 3)), input_encoding="current",
                      codegen_target="numpy")
    lif_net = Network.feedforward([3, 2], activation="lif")
    model = build_circuit(lif_net, init_params(lif_net, 0), np.ones((1, 3)), codegen_target="cpp_standalone")
    with pytest.raises(ConfigError, match="cpp_standalone circuit keeps only"):
        model.layer_values("output", "v")
    unrun = spiking.build(lif_net, init_params(lif_net, 0), target="numpy")
    with pytest.raises(ConfigError, match="after the first run"):
        _ = unrun.groups


@pytest.mark.parametrize("codegen_target", TARGETS)
def test_phase_tables_raise_no_false_grid_warning_and_misaligned_phases_are_refused(codegen_target):
    """0.35 s / 0.5 ms is 699.9999999999999 in floating point (a rule's phase given in SI seconds); brian2
    would warn "time grids not aligned" for the per-phase tables (gain, sequential inputs) although the
    phase is 700 steps.  The builder checks the phase itself (a phase of 350.25 steps is refused) and
    keeps that false warning out of the log."""
    import logging

    from neurosim.errors import ConfigError
    from neurosim.spiking.builder import build_circuit

    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    log = logging.getLogger("brian2.input.timedarray")
    log.addHandler(handler)
    try:
        net = Network.feedforward([3, 2], activation="lif")
        x = np.full((2, 3), 0.5)
        build_circuit(net, init_params(net, 0), x, dt=0.5 * b2.ms, phase=0.35 * b2.second, settle=50 * b2.ms,
                      presentation="sequential", codegen_target=codegen_target).run()
    finally:
        log.removeHandler(handler)
    assert not [m for m in seen if "not aligned" in m], seen
    assert float(0.35 * b2.second) / float(0.5 * b2.ms) != 700   # the premise: the float ratio is not whole
    with pytest.raises(ConfigError, match="whole number of dt"):
        build_circuit(net, init_params(net, 0), x, dt=0.4 * b2.ms, phase=140.1 * b2.ms, settle=50 * b2.ms)

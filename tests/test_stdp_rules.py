"""STDP, Song et al. 2000 and Diehl & Cook as registered rules, built by the one circuit builder.

Marked ``spiking``.  Code generation: numpy for the small circuits (no compile), cython for
Song et al.'s 1000-synapse run (compiled once, cached in ~/.cython)."""
import dataclasses

import numpy as np
import pytest

b2 = pytest.importorskip("brian2")

from neurosim.errors import ConfigError  # noqa: E402
from neurosim.network import Network  # noqa: E402
from neurosim.rules import get_rule, list_rules  # noqa: E402
from neurosim.runspec import RunSpec  # noqa: E402

STDP_RULES = ("stdp", "triplet-stdp", "song2000", "diehl-cook")


def test_rules_are_listed_with_the_spiking_backend():
    rows = {r["name"]: r for r in list_rules()}
    for name in STDP_RULES:
        assert rows[name]["backends"] == ["spiking"] and rows[name]["supervised"] is False


def test_cli_lists_them(capsys):
    import json

    from neurosim.cli import main

    main(["rules", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert all(rows[n]["backends"] == ["spiking"] for n in STDP_RULES)
    main(["rules"])
    text = capsys.readouterr().out
    assert all(any(line.split()[:1] == [n] and "spiking" in line for line in text.splitlines()) for n in STDP_RULES)


def _all_pairs(pre_t, post_t, a_plus, a_minus, tau_plus, tau_minus):
    """Closed form of additive all-to-all pair STDP without bounds: sum of W(t_post - t_pre) over all pairs."""
    d = np.subtract.outer(np.asarray(post_t), np.asarray(pre_t)).ravel()
    return float(np.sum(np.where(d > 0, a_plus * np.exp(-d / tau_plus), -a_minus * np.exp(d / tau_minus))))


def _window_problem(rule):
    """Two inputs -> one LIF: input 0 is the 'pre' neuron (weight 0.01: it cannot make the LIF fire), input 1 a
    strong 'teacher' (weight 5: one spike makes exactly one post spike ~3 ms later).  Row r: pre at 100 ms,
    teacher at 100 ms + offset[r]; rows 1 s apart."""
    net = rule.network([2, 1])
    params = {"input->output": np.array([[0.01, 5.0]])}
    offsets = np.array([-0.040, -0.015, -0.004, 0.001, 0.006, 0.030])
    x = np.stack([np.full(offsets.size, 0.1), 0.1 + offsets], axis=1)
    return net, params, x


@pytest.mark.spiking
def test_pair_stdp_window_matches_the_closed_form_through_the_rule():
    """dW of the registered 'stdp' rule equals sum over every (pre, post) spike pair of A+ exp(-dt/tau+) (dt > 0) or
    -A- exp(dt/tau-) (dt < 0), at the spike times brian2 produced (event-driven traces are exact exponentials):
    rtol 1e-9.  And each row's own pair alone gives the window at its own dt (other rows are >= 0.85 s away:
    their terms are below exp(-0.85/0.034) ~ 1e-11 relative)."""
    h = dict(a_plus=0.004, a_minus=0.005, tau_plus=0.017, tau_minus=0.034)
    rule = get_rule("stdp", encoding="spike_times", clip=False, presentation=1.0, codegen="numpy", **h)
    net, params, x = _window_problem(rule)
    dw, state, aux = rule.updates(net, params, rule.init(net, params, 0), x, None)
    pre_i, pre_t = aux["spikes"]["input"]
    post_i, post_t = aux["spikes"]["output"]
    assert post_t.size == x.shape[0], "one post spike per row (the set-up's premise)"
    for col in (0, 1):
        expected = _all_pairs(pre_t[pre_i == col], post_t, **h)
        np.testing.assert_allclose(dw["input->output"][0, col], expected, rtol=1e-9)
    # per row: one pre spike at r + 0.1, one post spike in the same row
    rows = np.floor(post_t).astype(int)
    delta = post_t - (rows + 0.1)
    assert np.all(np.sign(delta) == np.sign(x[:, 1] - x[:, 0]))   # the teacher sets the order
    per_row = rule.window(delta)
    np.testing.assert_allclose(dw["input->output"][0, 0], per_row.sum(), rtol=1e-9)


@pytest.mark.spiking
def test_triplet_stdp_matches_its_all_to_all_closed_form():
    """Pfister & Gerstner's all-to-all triplet rule as double sums over the spikes brian2 produced: a post spike at t
    adds sum_{s<t} e^{-(t-s)/tau+} (A2+ + A3+ sum_{t'<t} e^{-(t-t')/tau_y}); a pre spike at s subtracts
    sum_{t<s} e^{-(s-t)/tau-} (A2- + A3- sum_{s'<s} e^{-(s-s')/tau_x}).  rtol 1e-9."""
    rule = get_rule("triplet-stdp", encoding="spike_times", presentation=0.3, codegen="numpy")
    net, params, x = _window_problem(rule)
    dw, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, None)
    h = rule.hyper
    pre_i, pre_t = aux["spikes"]["input"]
    post = aux["spikes"]["output"][1]

    def k(d, tau):
        return np.where(d > 0, np.exp(-np.abs(d) / tau), 0.0)

    for col in (0, 1):
        pre = pre_t[pre_i == col]
        pot = sum(k(t - pre, h.tau_plus).sum() * (h.a2_plus + h.a3_plus * k(t - post, h.tau_y).sum()) for t in post)
        dep = sum(k(s - post, h.tau_minus).sum() * (h.a2_minus + h.a3_minus * k(s - pre, h.tau_x).sum()) for s in pre)
        np.testing.assert_allclose(dw["input->output"][0, col], pot - dep, rtol=1e-9)


@pytest.mark.spiking
def test_stdp_rule_is_pure_and_deterministic():
    rule = get_rule("stdp", codegen="numpy", presentation=0.2)
    net = rule.network([20, 3])
    params = rule.init_params(net, 0)
    x = np.full((2, 20), 0.3)
    state = rule.init(net, params, 1)
    before = {k: v.copy() for k, v in params.items()}
    a = rule.updates(net, params, state, x, None)
    b = rule.updates(net, params, state, x, None)
    assert all(np.array_equal(params[k], before[k]) for k in params)
    np.testing.assert_array_equal(a[0]["input->output"], b[0]["input->output"])
    assert a[1]["rng"] == b[1]["rng"] and not (a[1]["rng"] == state["rng"])
    w = params["input->output"] + a[0]["input->output"]
    assert np.all(w >= 0) and np.all(w <= rule.hyper.w_max)


def test_bad_inputs_are_one_line_errors():
    rule = get_rule("stdp")
    with pytest.raises(ConfigError, match="plastic"):
        rule.network(Network.feedforward([3, 2]).replace(
            projections=tuple(dataclasses.replace(p, plastic=False) for p in Network.feedforward([3, 2]).projections)))
    with pytest.raises(ConfigError, match="adaptive_conductance_lif"):
        get_rule("diehl-cook").network(get_rule("stdp").network([4, 2]))


def _card(tmp_path, n_exc=None, n_in=None):
    text = open("models/diehl_cook2015.toml").read()
    if n_exc is not None:
        text = text.replace('name = "exc"\nsize = 100', f'name = "exc"\nsize = {n_exc}').replace(
            'name = "inh"\nsize = 100', f'name = "inh"\nsize = {n_exc}')
    if n_in is not None:
        text = text.replace('name = "input"\nsize = 784', f'name = "input"\nsize = {n_in}')
    path = tmp_path / f"dc_{n_exc}_{n_in}.toml"
    path.write_text(text)
    spec = RunSpec.load(path)
    rule = get_rule(spec.rule, **{**spec.hyper, "codegen": "numpy"})
    return rule, rule.network(spec.build_network())


def test_diehl_cook_reads_the_cards_network(tmp_path):
    rule, net = _card(tmp_path)
    assert net.layer("exc").size == 100 and net.layer("exc").neuron == "adaptive_conductance_lif"
    assert net.projection("exc->inh").connectivity == "one_to_one" and net.projection("inh->exc").scale < 0
    # their code starts training with theta = 20 mV, the offset its threshold subtracts: the neurons start at
    # v_th = -52 mV (theta = 0 would put them at -72 mV, below rest, firing on their own)
    np.testing.assert_allclose(rule.init(net, rule.init_params(net, 0))["theta"], 0.020)


@pytest.mark.spiking
def test_diehl_cook_simulates_the_cards_population_and_keeps_weights_in_bounds(tmp_path):
    """The card's network is what runs: an excitatory layer of 7 (card edited) gives 7 simulated excitatory neurons
    (spike indices, counts, thresholds); 30 images (8x8 digits, one sequential stream) train without error; weights
    stay in [0, w_max]; thresholds only grow (theta_plus > 0, tau_theta = 1e4 s); the spike indices never reach a
    neuron the card does not have."""
    from neurosim.data import load_dataset

    data = load_dataset("digits", n_train=30, n_test=5)
    x = np.clip(data.x_train[:30], 0, 1)
    rule, net = _card(tmp_path, n_exc=7, n_in=x.shape[1])
    params = rule.init_params(net, 0)
    state = rule.init(net, params, 0)
    dw, state2, aux = rule.updates(net, params, state, x, None)
    assert aux["counts"]["exc"].shape == (30, 7) and aux["counts"]["inh"].shape == (30, 7)
    assert aux["spikes"]["exc"][0].max() < 7 and state2["theta"].shape == (7,)
    assert aux["counts"]["exc"].sum() > 0, "the excitatory layer never fired"
    w = params["input->exc"] + dw["input->exc"]
    assert np.all(w >= 0) and np.all(w <= rule.hyper.w_max)
    assert np.all(state2["theta"] >= 0) and state2["theta"].sum() > 0
    assert set(dw) == {"input->exc"}
    # with a different size, a different population
    rule5, net5 = _card(tmp_path, n_exc=5, n_in=x.shape[1])
    p5 = rule5.init_params(net5, 0)
    _, s5, aux5 = rule5.updates(net5, p5, rule5.init(net5, p5, 0), x[:3], None)
    assert aux5["counts"]["exc"].shape == (3, 5) and s5["theta"].shape == (5,)


@pytest.mark.spiking
@pytest.mark.slow
def test_song2000_rule_drives_the_weights_bimodal():
    """Song, Miller & Abbott (2000): from uniform weights (20 % within 10 % of an edge), competitive additive STDP
    pushes them to both bounds.  Short run: amplitudes 2x the paper's (A+ = 0.02 w_max), 50 s of 15 Hz input.
    Criterion: the two 10 % edge bins hold over 1.4x their uniform share (> 28 %), each over its share (> 10 %),
    the middle 60 % of the range under 55 % (binomial s.e. of a fraction of 1000 weights ~0.015).  Measured with
    seed 0: 18.4 % + 13.9 % at the edges, 46.6 % in the middle (5x the amplitude for 20-40 s stayed at 26 % edges:
    the noise grows with the amplitude).  Cython (~3 min wall on 2 shared cores)."""
    rule = get_rule("song2000", presentation=50.0, a_plus=2e-4, a_minus=2.1e-4, codegen="cython")
    net = rule.network([1000, 1])
    params = rule.init_params(net, 0)
    w0 = params["input->output"].ravel() / rule.hyper.w_max
    assert np.mean((w0 <= 0.1) | (w0 >= 0.9)) < 0.25
    dw, _, aux = rule.updates(net, params, rule.init(net, params, 0), np.full((1, 1000), 0.15), None)
    w = (params["input->output"] + dw["input->output"]).ravel() / rule.hyper.w_max
    assert np.mean((w <= 0.1) | (w >= 0.9)) > 0.28
    assert np.mean(w <= 0.1) > 0.1 and np.mean(w >= 0.9) > 0.1
    assert np.mean((w > 0.2) & (w < 0.8)) < 0.55


@pytest.mark.spiking
def test_diehl_cook_repeats_silent_samples_brighter_until_they_draw_min_spikes(tmp_path):
    """Diehl & Cook's input-intensity rule: a sample answered with fewer than ``min_spikes`` excitatory spikes is shown
    again, every white pixel ``boost_hz`` brighter per repetition. Oracles: (a) a black image has no input
    spikes at any brightness, so it uses up every repetition and stays silent; (b) dim images (pixels at 0.05)
    do not reach 5 spikes at 63.75 Hz but do once brighter -- their final counts reach ``min_spikes`` and their
    repetition count is > 0; images at a third of white need none (7 neurons on 784 inputs, weights normalised
    to their sum 78: at 0.05 the plain stream draws ~2 spikes, at 0.3 ~26); (c) ``min_spikes = 0`` is the plain
    stream (no repetition, the same dW as the rule without the repetition rule); (d) the weights stay in [0,
    w_max] and dW is the total change over every presentation: learning goes on while repeating, so it differs
    from the plain stream's."""
    rule, net = _card(tmp_path, n_exc=7, n_in=784)
    rule = rule.replace(max_boosts=3, codegen="numpy", presentation=0.2)
    params = rule.init_params(net, 0)
    state = rule.init(net, params, 0)
    x = np.zeros((4, 784))
    x[1] = 0.05                     # dim
    x[2:] = 0.3                     # a third of white
    plain_dw, _, plain = rule.replace(min_spikes=0).updates(net, params, state, x, None)
    assert np.all(plain["boosts"] == 0)
    dw, _, aux = rule.updates(net, params, state, x, None)
    spikes = aux["counts"]["exc"].sum(axis=1)
    assert plain["counts"]["exc"][1].sum() < 5 <= plain["counts"]["exc"][2].sum(), plain["counts"]["exc"].sum(1)
    assert aux["boosts"][0] == 3 and spikes[0] == 0                  # (a)
    assert 0 < aux["boosts"][1] <= 3 and spikes[1] >= 5              # (b)
    assert np.all(aux["boosts"][2:] == 0)
    np.testing.assert_array_equal(aux["counts"]["exc"][2:], plain["counts"]["exc"][2:])
    w = params["input->exc"] + dw["input->exc"]
    assert np.all(w >= 0) and np.all(w <= rule.hyper.w_max)          # (d)
    assert not np.allclose(dw["input->exc"], plain_dw["input->exc"])

"""Rate predictive coding against its oracles.

* exact backprop (:func:`neurosim.reference.backprop`, itself checked against finite
  differences): the fixed-prediction variant and Z-IL are theorems -- their updates and
  error units equal backprop's -- so they are held to 1e-8 relative error in float64;
* the known limit of standard PC: its update tends to backprop's as the output precision
  gamma -> 0 (Whittington & Bogacz 2017);
* the envelope theorem, checked with central finite differences of the relaxed energy:
  at equilibrium, standard PC's update is -(1/gamma) dF*/dW with F* = min_v F, at any gamma.

Seeds are fixed per test (stated in each); tolerances are stated with their reason.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from neurosim import Layer, Network, Projection, RunSpec, backprop, get_rule, init_params, list_rules
from neurosim.alignment import align
from neurosim.errors import ConfigError, ConvergenceError
from neurosim.reference import relative_error
from neurosim.relaxation import RelaxationWarning
from neurosim.results import to_json
from neurosim.rules import rule_class

MODELS = Path(__file__).resolve().parents[1] / "models"
EXACT_RULES = ("pc-fpa", "pc-zil")
# float64 rounding of a few chained matrix products is ~1e-15; 1e-8 is the bar and
# leaves room for the FPA iteration, which stops at a relative residual of 1e-12.
EXACT_RTOL = 1e-8


def _problem(sizes, activation, loss, seed, batch=9):
    """A random network, parameters, inputs and one-hot targets (seeded)."""
    net = Network.feedforward(sizes, activation, loss=loss)
    params = init_params(net, seed)
    rng = np.random.default_rng(1000 + seed)
    # non-zero biases, so the tests also cover the bias path
    for key in params:
        if key.endswith(".bias"):
            params[key] = rng.normal(0.0, 0.3, params[key].shape)
    x = rng.normal(size=(batch, sizes[0]))
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return net, params, x, t


DEPTHS = {1: [5, 3], 2: [5, 6, 3], 3: [5, 6, 4, 3], 4: [5, 7, 6, 4, 3]}


# --------------------------------------------------------------------------- registry
def test_three_variants_are_registered():
    rows = {r["name"]: r for r in list_rules()}
    for name in ("pc", "pc-fpa", "pc-zil"):
        assert rows[name]["family"] == "predictive_coding"
        assert rows[name]["reference"] == "backprop"
        assert "rate" in rows[name]["backends"]
    assert rule_class("z-il") is rule_class("pc-zil")


# --------------------------------------------------------------------------- exact variants
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("rule_name", EXACT_RULES)
def test_exact_variants_reproduce_backprop(rule_name, depth, activation, loss):
    """FPA (Millidge et al. 2022) and Z-IL (Song et al. 2020) equal backprop: updates of every
    weight and bias, and (per sample) error units = -deltas.  Seed = depth."""
    net, params, x, t = _problem(DEPTHS[depth], activation, loss, seed=depth)
    ref = backprop(net, params, x, t)
    rule = get_rule(rule_name)
    dw = rule.step(net, params, x, t)
    assert set(dw) == set(ref.grads)
    for key, g in ref.descent().items():
        assert relative_error(dw[key], g) < EXACT_RTOL, key
    inference = rule.infer(net, params, x, t)
    assert inference.converged
    for layer, delta in ref.deltas.items():
        assert relative_error(inference.errors[layer], -delta) < EXACT_RTOL, layer


@pytest.mark.parametrize("rule_name", EXACT_RULES)
def test_exact_variants_do_not_depend_on_output_precision(rule_name):
    """The 1/gamma in the update cancels gamma in the errors; exactness holds at any gamma (seed 3)."""
    net, params, x, t = _problem(DEPTHS[3], "tanh", "mse", seed=3)
    ref = backprop(net, params, x, t).descent()
    for gamma in (1e-3, 10.0):
        dw = get_rule(rule_name, output_precision=gamma).step(net, params, x, t)
        for key in ref:
            assert relative_error(dw[key], ref[key]) < EXACT_RTOL


def test_zil_takes_exactly_depth_minus_one_steps():
    """Z-IL's schedule: the error reaches layer l at step L - l, so L - 1 steps in all (seed 4)."""
    for depth, sizes in DEPTHS.items():
        net, params, x, t = _problem(sizes, "tanh", "mse", seed=4)
        rule = get_rule("pc-zil")
        assert rule.infer(net, params, x, t).steps == depth - 1
        _, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, t)
        assert aux["relaxation"] == {"phases": 1, "unconverged": 0, "steps": depth - 1}


def test_zil_needs_its_schedule():
    """Control: the output error recomputed from the values at the *end* of Z-IL's L-1 steps
    (instead of at step 0) is not backprop's -- exactness comes from the schedule (seed 5).
    Linear output with mse, so the output error unit is simply t - mu_L."""
    net = Network.feedforward(DEPTHS[3], "tanh", output_activation="linear", loss="mse")
    _, params, x, t = _problem(DEPTHS[3], "tanh", "mse", seed=5)
    ref = backprop(net, params, x, t)
    result = get_rule("pc-zil").infer(net, params, x, t)
    v_top = result.values["hidden2"]
    mu_out = np.tanh(v_top) @ params["hidden2->output"].T + params["output.bias"]
    assert relative_error(t - mu_out, -ref.deltas["output"]) > 1e-3
    assert relative_error(result.errors["output"], -ref.deltas["output"]) < EXACT_RTOL


# --------------------------------------------------------------------------- standard PC
GAMMAS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_standard_pc_approaches_backprop_as_output_precision_shrinks(loss, activation):
    """Whittington & Bogacz (2017): at equilibrium e_l = -gamma delta_l + O(gamma^2), so the
    cosine to backprop and the norm ratio tend to 1 as gamma -> 0.  Depth 4, seed 3.

    Inference is run to a relative residual of 1e-10 so that what is measured is the
    equilibrium, not the truncation (step 0.2: stable here; a rising energy would raise)."""
    net, params, x, t = _problem([6, 8, 7, 5, 4], activation, loss, seed=3, batch=16)
    ref = backprop(net, params, x, t)
    cosines, ratio_gaps, delta_errors = [], [], []
    for gamma in GAMMAS:
        rule = get_rule("pc", output_precision=gamma, step_size=0.2, tolerance=1e-10, max_steps=20000)
        report = align(rule, net, params, x, t)
        cosines.append(report.global_cosine)
        ratio_gaps.append(max(abs(p.norm_ratio - 1.0) for p in report.projections))
        errors = rule.infer(net, params, x, t).errors
        delta_errors.append(max(relative_error(errors[k], -d) for k, d in ref.deltas.items()))
    print(f"\n{loss}/{activation}: gamma -> global cosine", dict(zip(GAMMAS, np.round(cosines, 7))))
    assert np.all(np.diff(cosines) > 0), cosines
    assert cosines[-1] > 0.999
    assert np.all(np.diff(ratio_gaps) < 0), ratio_gaps
    assert ratio_gaps[-1] < 0.01
    # the error units converge to -delta at first order in gamma
    assert np.all(np.diff(delta_errors) < 0), delta_errors
    assert delta_errors[-1] < 10 * GAMMAS[-1]


@pytest.mark.parametrize("gamma", [1.0, 0.1])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_standard_pc_update_is_the_gradient_of_the_relaxed_energy(loss, gamma):
    """Envelope theorem: dF*/dW = dF/dW at v*, and the PC update is -(1/gamma) dF/dW.  Checked
    against central finite differences of F*(W) = min_v F along random directions (seed 6).

    Independent of backprop.  h = 1e-5: the truncation error is O(h^2) ~ 1e-10 of the
    derivative and the relaxed energy is accurate to O(residual^2) (tolerance 1e-12), so
    a relative tolerance of 1e-6 is generous."""
    net, params, x, t = _problem([4, 5, 4, 3], "tanh", loss, seed=6, batch=5)
    hyper = {"output_precision": gamma, "step_size": 0.2, "tolerance": 1e-12, "max_steps": 20000}
    dw = get_rule("pc", **hyper).step(net, params, x, t)

    def relaxed_energy(p):
        return get_rule("pc", **hyper).infer(net, p, x, t).energy

    rng = np.random.default_rng(60)
    h = 1e-5
    for key in dw:
        direction = rng.normal(size=params[key].shape)
        plus = {**params, key: params[key] + h * direction}
        minus = {**params, key: params[key] - h * direction}
        numeric = (relaxed_energy(plus) - relaxed_energy(minus)) / (2 * h)
        predicted = -gamma * float(np.sum(dw[key] * direction))
        assert abs(numeric - predicted) <= 1e-6 * max(abs(numeric), 1e-8), (key, numeric, predicted)


def test_standard_pc_energy_decreases_during_inference():
    """Inference is gradient descent on F with a stable step: the energy never rises (seed 7)."""
    net, params, x, t = _problem(DEPTHS[4], "sigmoid", "mse", seed=7)
    rule = get_rule("pc", tolerance=1e-10)
    trace = rule.infer(net, params, x, t).energy_trace
    assert len(trace) > 2
    assert np.all(np.diff(trace) <= 1e-15 * trace[0])
    assert trace[-1] < trace[0]


@pytest.mark.parametrize("rule_name", ["pc", "pc-fpa", "pc-zil"])
def test_single_layer_pc_is_the_delta_rule(rule_name):
    """With no hidden layer there is nothing to infer: every variant is the delta rule, i.e.
    backprop exactly, at any output precision (seed 8)."""
    net, params, x, t = _problem(DEPTHS[1], "sigmoid", "mse", seed=8)
    ref = backprop(net, params, x, t).descent()
    dw = get_rule(rule_name, output_precision=0.5).step(net, params, x, t)
    for key in ref:
        assert relative_error(dw[key], ref[key]) < 1e-14


def test_perfect_prediction_gives_no_update():
    """Target = the network's own output (tanh output, mse): all errors are zero, inference
    stops at step 0 and no weight changes (seed 9)."""
    net, params, x, _ = _problem(DEPTHS[3], "tanh", "mse", seed=9)
    t = backprop(net, params, x, np.zeros((x.shape[0], 3))).forward.output
    for name in ("pc", "pc-fpa"):
        rule = get_rule(name)
        dw = rule.step(net, params, x, t)
        result = rule.infer(net, params, x, t)
        assert result.steps == 0 and result.converged
        assert all(np.all(v == 0) for v in dw.values())


# --------------------------------------------------------------------------- batch, dtype
@pytest.mark.parametrize("rule_name", ["pc", "pc-fpa", "pc-zil"])
def test_batch_update_is_the_mean_of_per_sample_updates(rule_name):
    """Inference decouples across samples, so the batch update is the mean of single-sample
    updates (tight tolerance so the batch-wide stopping criterion does not matter; seed 10)."""
    net, params, x, t = _problem(DEPTHS[3], "tanh", "cross_entropy", seed=10, batch=6)
    hyper = {} if rule_name == "pc-zil" else {"tolerance": 1e-12, "max_steps": 20000}
    batch = get_rule(rule_name, **hyper).step(net, params, x, t)
    singles = [get_rule(rule_name, **hyper).step(net, params, x[i:i + 1], t[i:i + 1]) for i in range(6)]
    for key in batch:
        mean = np.mean([s[key] for s in singles], axis=0)
        assert relative_error(batch[key], mean) < 1e-9, key


@pytest.mark.parametrize("rule_name", ["pc", "pc-fpa", "pc-zil"])
def test_float32_inputs_and_params(rule_name):
    """float32 in, float32 out, and within float32 accuracy of the float64 result (seed 11).

    The tolerance is floored at 64 float32 epsilons (7.6e-6), so the relative difference
    to float64 is ~1e-5; 1e-3 leaves room for error amplification through 3 layers."""
    net, params, x, t = _problem(DEPTHS[3], "sigmoid", "mse", seed=11)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    dw32 = get_rule(rule_name).step(net, p32, x.astype(np.float32), t.astype(np.float32))
    dw64 = get_rule(rule_name, **({} if rule_name == "pc-zil" else {"tolerance": 1e-8})).step(
        net, params, x, t)
    for key in dw64:
        assert dw32[key].dtype == np.float32, key
        assert relative_error(dw32[key].astype(np.float64), dw64[key]) < 1e-3, key


# --------------------------------------------------------------------------- failures are reported
def test_divergence_raises():
    """A step far beyond the stability limit 2/lambda_max makes the energy rise: reported (seed 12)."""
    net, params, x, t = _problem(DEPTHS[3], "tanh", "mse", seed=12)
    with pytest.raises(ConvergenceError, match="diverged"):
        get_rule("pc", step_size=5.0).step(net, params, x, t)


def test_fpa_rejects_unstable_rate():
    with pytest.raises(ConfigError, match=r"rule 'pc-fpa': 'step_size' must be a number > 0 and < 2"):
        get_rule("pc-fpa", step_size=2.5)


def test_nonconvergence_raises_by_default():
    net, params, x, t = _problem(DEPTHS[3], "tanh", "mse", seed=13)
    with pytest.raises(ConvergenceError, match="rule 'pc': inference did not converge in max_steps=3"):
        get_rule("pc", max_steps=3).step(net, params, x, t)
    result = get_rule("pc", max_steps=3, on_unconverged="record").infer(net, params, x, t)
    assert result.converged is False and result.steps == 3


def test_nonconvergence_warns_or_records_when_asked():
    """The three policies; "record" puts the shortfall in aux, which align reports (flattened)."""
    net, params, x, t = _problem(DEPTHS[3], "tanh", "mse", seed=13)
    with pytest.warns(RelaxationWarning, match="did not converge"):
        get_rule("pc", max_steps=3, on_unconverged="warn").step(net, params, x, t)
    rule = get_rule("pc", max_steps=3, on_unconverged="record")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, t)
        report = align(rule, net, params, x, t)
    result = rule.infer(net, params, x, t)
    assert aux["relaxation"] == {"phases": 1, "unconverged": 1, "steps": 3, "max_residual": result.residual}
    info = report.to_dict()
    assert info["inference.converged"] is False and info["inference.steps"] == 3
    assert info["inference.residual"] > info["inference.tolerance"]
    assert info["relaxation.unconverged"] == 1
    json.loads(to_json(info))
    zil = align(get_rule("pc-zil"), net, params, x, t).to_dict()
    # Z-IL: no residual criterion (no residual reported), L - 1 = 2 steps
    assert "inference.residual" not in zil and zil["inference.steps"] == 2
    json.dumps(zil, allow_nan=False)


@pytest.mark.parametrize("hyper, match", [
    ({"max_steps": 0}, "'max_steps' must be an integer >= 1"),
    ({"max_steps": 2.5}, "'max_steps' must be an integer >= 1"),
    ({"step_size": -0.1}, "'step_size' must be a number > 0"),
    ({"tolerance": 0.0}, "'tolerance' must be a number > 0"),
    ({"output_precision": 0.0}, "'output_precision' must be a number > 0"),
    ({"on_unconverged": "ignore"}, "'on_unconverged' must be one of 'raise', 'warn', 'record'"),
    ({"max_step": 10}, "Did you mean 'max_steps'"),
    # the first edition's names: rejected with the new one
    ({"n_inference_steps": 10}, "'n_inference_steps' was renamed 'max_steps'"),
    ({"inference_rate": 0.1}, "'inference_rate' was renamed 'step_size'"),
    ({"on_nonconvergence": "record"}, "'on_nonconvergence' was renamed 'on_unconverged'"),
])
def test_bad_hyper_parameters_fail_early(hyper, match):
    with pytest.raises(ConfigError, match=match):
        get_rule("pc", **hyper)


def test_zil_has_no_relaxation_hyper_parameters():
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'max_steps'"):
        get_rule("pc-zil", max_steps=3)


def test_non_chain_network_is_rejected():
    layers = (Layer("input", 3, activation="linear", role="input", bias=False), Layer("a", 4), Layer("b", 4),
              Layer("output", 2, role="output"))
    projs = (Projection("input", "a"), Projection("input", "b"), Projection("a", "output"),
             Projection("b", "output"))
    net = Network(layers, projs)
    params = init_params(net, 0)
    with pytest.raises(ConfigError, match="layered chain"):
        get_rule("pc").step(net, params, np.ones((2, 3)), np.ones((2, 2)))


# --------------------------------------------------------------------------- model cards
CARDS = {"whittington2017.toml": ("pc", (784, 600, 600, 10)),
         "pc_fixed_prediction.toml": ("pc-fpa", (784, 600, 600, 10)),
         "pc_zil.toml": ("pc-zil", (784, 600, 600, 10)),
         "pcx_mlp.toml": ("pc", (784, 128, 128, 128, 10))}


@pytest.mark.parametrize("card_name", sorted(CARDS))
def test_model_card_loads_and_its_rule_exists(card_name):
    card = RunSpec.load(MODELS / card_name)  # every hyper-parameter in the card is accepted
    rule_name, sizes = CARDS[card_name]
    assert card.rule == rule_name
    rule = card.make_rule()
    assert card.network.sizes == sizes
    assert card.published.get("source")
    assert card.dataset in ("mnist", "fashion-mnist")
    if card_name == "pcx_mlp.toml":
        assert card.epochs == 25 and card.batch_size == 128
    if card_name == "whittington2017.toml":
        assert rule.hyper["max_steps"] == 20 and card.network.layer("hidden1").activation == "sigmoid"


@pytest.mark.slow
def test_exact_card_rules_are_exact_on_the_card_network():
    """The FPA and Z-IL cards as written (784-600-600-10) reproduce backprop (seed 14, batch 4)."""
    for name in ("pc_fixed_prediction.toml", "pc_zil.toml"):
        card = RunSpec.load(MODELS / name)
        rule = card.make_rule()
        params = init_params(card.network, 14)
        rng = np.random.default_rng(14)
        x = rng.uniform(size=(4, 784))
        t = np.eye(10)[rng.integers(0, 10, 4)]
        report = align(rule, card.network, params, x, t)
        assert all(abs(p.cosine - 1) < 1e-12 and abs(p.norm_ratio - 1) < EXACT_RTOL for p in report.projections)


# --------------------------------------------------------------------------- fast inference = the equations
def _energy_from_definition(net, params, x, t, values, gamma):
    """F(v) written out from the module docstring, independently of the rule's code (float64):
    sum_l 1/2 |v_l - W_l phi(v_{l-1}) - b_l|^2 + gamma * loss(phi_L(mu_L), t), batch mean."""
    chain = net.chain()
    r = x
    energy = np.zeros(len(x))
    for proj, name in zip(chain[:-1], [p.post for p in chain[:-1]]):
        layer = net.layer(name)
        mu = r @ params[proj.name].T + params[f"{name}.bias"]
        energy += 0.5 * np.sum((values[name] - mu) ** 2, axis=1)
        r = np.tanh(values[name]) if layer.activation == "tanh" else np.maximum(values[name], 0.0)
    out = chain[-1]
    logits = r @ params[out.name].T + params["output.bias"]  # linear output layer
    if net.loss == "mse":
        loss = 0.5 * np.sum((logits - t) ** 2, axis=1)
    else:
        z = logits - logits.max(axis=1, keepdims=True)
        loss = -np.sum(t * (z - np.log(np.exp(z).sum(axis=1, keepdims=True))), axis=1)
    return float(np.mean(energy + gamma * loss))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_truncated_inference_is_euler_descent_on_the_energy(activation, loss):
    """The fast relaxation (bottom prediction computed once, energy and residual read off
    the step's own quantities) is still v <- v - eta dF/dv: replayed here with dF/dv from
    central finite differences of F written from its definition, from the feed-forward pass,
    for T = 4 steps, and every entry of the energy trace equals F at that step.  Depth 3,
    linear output, seed 21, float64.

    h = 1e-6 on an energy of order 1: FD error O(h^2 F''') + rounding 1e-16/h ~ 1e-10, so
    values agreeing to 1e-7 (relative) test the dynamics, not the rounding."""
    sizes, gamma, eta, steps = [5, 6, 4, 3], 0.7, 0.15, 4
    net = Network.feedforward(sizes, activation, output_activation="linear", loss=loss)
    _, params, x, t = _problem(sizes, activation, loss, seed=21, batch=4)
    rule = get_rule("pc", max_steps=steps, step_size=eta, output_precision=gamma, on_unconverged="record")
    result = rule.infer(net, params, x, t)
    hidden = [p.post for p in net.chain()[:-1]]
    # the feed-forward pass: all hidden errors zero
    values, r = {}, x
    for proj, name in zip(net.chain()[:-1], hidden):
        values[name] = r @ params[proj.name].T + params[f"{name}.bias"]
        r = np.tanh(values[name]) if activation == "tanh" else np.maximum(values[name], 0.0)
    h = 1e-6
    expected_trace = []
    for _ in range(steps):
        expected_trace.append(_energy_from_definition(net, params, x, t, values, gamma))
        grads = {}
        for name in hidden:
            g = np.zeros_like(values[name])
            for idx in np.ndindex(g.shape):
                plus = {**values, name: values[name].copy()}
                minus = {**values, name: values[name].copy()}
                plus[name][idx] += h
                minus[name][idx] -= h
                g[idx] = (_energy_from_definition(net, params, x, t, plus, gamma)
                          - _energy_from_definition(net, params, x, t, minus, gamma)) / (2 * h)
            grads[name] = g * len(x)  # F is a batch mean; each sample descends its own energy
        values = {name: values[name] - eta * grads[name] for name in hidden}
    expected_trace.append(_energy_from_definition(net, params, x, t, values, gamma))
    assert result.steps == steps and not result.converged
    for name in hidden:
        assert relative_error(result.values[name], values[name]) < 1e-7, name
    # the replayed values carry the FD error (~1e-10 relative), so F agrees to ~1e-11
    np.testing.assert_allclose(result.energy_trace, expected_trace, rtol=1e-9)


def test_training_preset_records_truncation_and_still_raises_on_divergence():
    """``models/presets/pc-train.toml`` (T = 20 at rate 0.05, pcx practice) stops at the cap without
    a warning and says so in ``aux``; a diverging rate still raises (seed 22)."""
    hyper = RunSpec.preset("pc", "train").hyper
    assert (hyper["max_steps"], hyper["step_size"], hyper["on_unconverged"]) == (20, 0.05, "record")
    net, params, x, t = _problem(DEPTHS[3], "tanh", "cross_entropy", seed=22)
    rule = get_rule("pc", **hyper)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, t)
    info = aux["inference"]
    assert info["steps"] == 20 and not info["converged"] and info["residual"] > info["tolerance"]
    assert aux["relaxation"]["unconverged"] == 1
    with pytest.raises(ConvergenceError, match="inference diverged"):
        get_rule("pc", **{**hyper, "step_size": 5.0}).step(net, params, x, t)


def test_training_stops_with_status_diverged_when_inference_diverges():
    """A training step whose inference diverges ends the run with status "diverged" and the
    rule's message (neurosim.training catches the ConvergenceError); nothing is returned
    silently.  XOR, 2-4-1 tanh, seed 23; rate 50 is far past the stability limit."""
    from neurosim.data import load_dataset
    from neurosim.training import TrainConfig, train

    data = load_dataset("xor")
    net = Network.feedforward([data.n_features, 4, 2], "tanh", loss="cross_entropy")
    rule = get_rule("pc", max_steps=20, step_size=50.0, on_unconverged="record")
    result = train(net, rule, data, TrainConfig(epochs=2, batch_size=4, seed=23, align_samples=0), progress=False)
    assert result.status == "diverged" and "inference diverged" in result.message


def test_sum_of_squares_matches_float64_norm():
    """The per-step BLAS dot products agree with a float64 sum of squares to float32 rounding
    (relative 1e-5 for 8,192 terms, far below the 3e-5 tolerance floor; seed 24)."""
    from neurosim.rules.predictive_coding import _norm2, _sumsq

    rng = np.random.default_rng(24)
    arrays = [rng.normal(size=(64, 128)).astype(np.float32) for _ in range(2)]
    assert abs(_sumsq(arrays) - _norm2(arrays)) <= 1e-5 * _norm2(arrays)

"""Predictive coding (``pc``, ``pc-fpa``, ``pc-zil``) on convolutional, locally connected and
pooling networks (issue 17).

Oracles, each independent of the PC code:

* backprop (:func:`neurosim.reference.backprop`, itself checked against finite differences and
  torch autograd in ``tests/test_conv.py``): the fixed-prediction assumption and Z-IL equal it
  exactly on any chain (Millidge, Tschantz & Buckley 2022; Song et al. 2020), so also here;
* the small-nudge limit of standard PC (Whittington & Bogacz 2017): the equilibrium error units
  are :math:`-\\gamma\\delta + O(\\gamma^2)`, so the update's distance to :math:`-\\partial L/\\partial W`
  falls linearly in :math:`\\gamma` and :math:`1 - \\cos` quadratically;
* the envelope theorem at finite :math:`\\gamma`: :math:`\\Delta W = -\\tfrac1\\gamma\\,\\partial F^*/\\partial W`
  with :math:`F^* = \\min_v F`, checked by central finite differences of :math:`F^*`;
* the numpy computation for the torch array backend (same float64 maths, other library).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neurosim import RunSpec, align
from neurosim.errors import ConfigError
from neurosim.network import Layer, Network, Projection
from neurosim.params import bias_key, init_params
from neurosim.reference import backprop, relative_error
from neurosim.rules import get_rule
from neurosim.rules.base import check_rule_operations

from test_conv import batch, small_net

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "models" / "biotorch_lenet_fashion.toml"
EXACT = [("pc-fpa", {"step_size": 1.0}), ("pc-fpa", {}), ("pc-zil", {})]


def biased_pool_net(pool="max_pool2d"):
    """``small_net`` whose pooling layer has a bias: a value layer of its own, not folded."""
    net = small_net(pool=pool)
    layers = tuple(replace(la, bias=True) if la.name == "p1" else la for la in net.layers)
    return Network(layers, net.projections, loss=net.loss, name=net.name + "-biased-pool")


def _max_abs(a: dict, b: dict) -> float:
    assert set(a) == set(b), set(a) ^ set(b)
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


# ---------------------------------------------------------------------------- exact variants
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("first", ["conv2d", "locally_connected2d"])
@pytest.mark.parametrize("rule, hyper", EXACT)
def test_fixed_prediction_and_zil_equal_backprop(rule, hyper, first, pool, loss):
    # float64; the exact variants reach backprop's fixed point to rounding (a fixed point reached
    # within the 1e-12 relative residual of pc-fpa's default tolerance at rate 0.1)
    net = small_net(first=first, pool=pool, loss=loss)
    params = init_params(net, seed=1)
    x, t = batch(net, n=5)
    want = backprop(net, params, x, t).descent()
    dw, _, _ = get_rule(rule, **hyper).updates(net, params, None, x, t)
    assert _max_abs(dw, want) < 1e-10


@pytest.mark.parametrize("rule, hyper", EXACT)
def test_pooling_layer_with_a_bias_is_a_value_layer_and_still_exact(rule, hyper):
    net = biased_pool_net()
    params = init_params(net, seed=2)
    x, t = batch(net, n=5)
    res = get_rule(rule, **hyper).infer(net, params, x, t)
    assert list(res.errors) == ["c1", "p1", "c2", "f", "output"]
    dw, _, _ = get_rule(rule, **hyper).updates(net, params, None, x, t)
    assert bias_key("p1") in dw
    assert _max_abs(dw, backprop(net, params, x, t).descent()) < 1e-10


def test_parameter_free_layers_without_bias_are_folded():
    net = small_net()  # p1: max pooling into a layer without a bias
    params = init_params(net, seed=0)
    x, t = batch(net)
    res = get_rule("pc", output_precision=0.1).infer(net, params, x, t)
    assert list(res.errors) == ["c1", "c2", "f", "output"]
    # c2 learns from the pooled rate: its presynaptic input has the pooling layer's size
    assert res.presynaptic["c2"].shape == (x.shape[0], net.layer("p1").size)


# ---------------------------------------------------------------------------- standard PC
def _standard_pc(net, params, x, t, gamma):
    rule = get_rule("pc", output_precision=gamma, tolerance=1e-9, max_steps=20000, step_size=0.3)
    dw, _, _ = rule.updates(net, params, None, x, t)
    return dw


def _flat(d: dict, keys) -> np.ndarray:
    return np.concatenate([np.ravel(d[k]) for k in keys])


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
def test_standard_pc_approaches_backprop_linearly_in_the_output_precision(pool):
    # Whittington & Bogacz 2017: error units -gamma delta + O(gamma^2) at equilibrium, so
    # |dW - (-dL/dW)| / |dL/dW| = a gamma + O(gamma^2): tenfold smaller gamma, tenfold smaller
    # error (ratio 0.1 up to the O(gamma) correction: [0.07, 0.13] at gamma <= 1e-2), and 1 - cos
    # = O(gamma^2) (ratio 0.01, band [0.005, 0.02]).
    net = small_net(pool=pool)
    params = init_params(net, seed=3)
    x, t = batch(net, n=6, seed=1)
    want = backprop(net, params, x, t).descent()
    keys = list(want)
    ref = _flat(want, keys)
    err, one_minus_cos = [], []
    for gamma in (1e-2, 1e-3, 1e-4):
        got = _flat(_standard_pc(net, params, x, t, gamma), keys)
        err.append(relative_error(got, ref))
        one_minus_cos.append(1 - got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
    assert 0.07 < err[1] / err[0] < 0.13 and 0.07 < err[2] / err[1] < 0.13, err
    assert 0.005 < one_minus_cos[2] / one_minus_cos[1] < 0.02, one_minus_cos


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
def test_standard_pc_update_is_the_envelope_gradient_of_the_equilibrium_energy(pool):
    # dW = -(1/gamma) dF*/dW, F* = min_v F (batch mean), by central differences of F* over
    # kernel, LC and bias entries; F* relaxed to a 1e-12 relative residual (its error is
    # second order in the residual), eps = 1e-5: truncation ~1e-10, rounding ~1e-11/eps.
    # Max pooling: the winners are the feed-forward ones, which a perturbation of 1e-5 does not
    # change on random inputs (no ties), so F* is differentiable there.
    net = small_net(pool=pool)
    params = init_params(net, seed=4)
    x, t = batch(net, n=3, seed=2)
    gamma = 0.5
    rule = get_rule("pc", output_precision=gamma, tolerance=1e-12, max_steps=20000, step_size=0.3)
    dw, _, _ = rule.updates(net, params, None, x, t)
    rng = np.random.default_rng(0)
    eps = 1e-5
    for key in ("k1", "k2", bias_key("c1"), bias_key("c2")):
        flat = params[key].reshape(-1)
        for i in rng.choice(flat.size, 2, replace=False):
            old = flat[i]
            flat[i] = old + eps
            f_plus = rule.infer(net, params, x, t).energy
            flat[i] = old - eps
            f_minus = rule.infer(net, params, x, t).energy
            flat[i] = old
            numeric = -(f_plus - f_minus) / (2 * eps) / gamma
            assert abs(dw[key].reshape(-1)[i] - numeric) < 1e-6 * max(1.0, abs(numeric)), (key, i)


# ---------------------------------------------------------------------------- LeNet
def _lenet_batch(n, seed=0):
    """LeNet (the BioTorch card) at its initialisation and a batch of random images in [0, 1]
    with a 0 border, as Fashion-MNIST's dark background (exact ties in max-pooling windows)."""
    net = RunSpec.load(LENET).network
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 28, 28))
    x[:, :, 6:22, 6:22] = rng.uniform(size=(n, 1, 16, 16))
    t = np.eye(10)[rng.integers(0, 10, n)]
    return net, init_params(net, seed=seed), x.reshape(n, -1), t


@pytest.mark.parametrize("rule, hyper", EXACT)
def test_lenet_exact_variants_equal_backprop(rule, hyper):
    net, params, x, t = _lenet_batch(4)
    res = get_rule(rule, **hyper).infer(net, params, x, t)
    assert list(res.errors) == ["conv1", "conv2", "fc1", "fc2", "output"]  # pool1, pool2 folded
    dw, _, _ = get_rule(rule, **hyper).updates(net, params, None, x, t)
    assert _max_abs(dw, backprop(net, params, x, t).descent()) < 1e-10


def test_lenet_standard_pc_relaxes_with_ties_in_max_pooling():
    # the 0 border ties every window of the first pooling layer; the feed-forward winners are
    # held, so F stays smooth and inference reaches the tolerance (with the current winners
    # gradient descent chattered across the switching surfaces: residual stuck at 0.26-0.63)
    net, params, x, t = _lenet_batch(4)
    res = get_rule("pc", output_precision=0.1, tolerance=1e-6, step_size=0.3).infer(net, params, x, t)
    assert res.converged and res.residual <= 1e-6


@pytest.mark.slow
def test_lenet_standard_pc_cosine_approaches_one_quadratically():
    # 1 - cos(gamma) = c gamma^2 + O(gamma^3) (Whittington & Bogacz 2017): tenfold smaller
    # gamma, 100-fold smaller 1 - cos (band [0.005, 0.02]), measured by neurosim.align against
    # the exact gradient.  ~40 s: a LeNet relaxation to 1e-8 per gamma.
    net, params, x, t = _lenet_batch(8)
    gap = []
    for gamma in (1e-2, 1e-3):
        rule = get_rule("pc", output_precision=gamma, tolerance=1e-8, max_steps=20000, step_size=0.3)
        gap.append(1 - align(rule, net, params, x, t).global_cosine)
    assert 0.005 < gap[1] / gap[0] < 0.02, gap


# ---------------------------------------------------------------------------- torch
@pytest.mark.parametrize("rule, hyper", [("pc", {"output_precision": 0.1}), *EXACT])
def test_torch_arrays_give_the_numpy_update(rule, hyper):
    torch = pytest.importorskip("torch")
    net = small_net()
    params = init_params(net, seed=5)
    x, t = batch(net, n=4)
    want, _, _ = get_rule(rule, **hyper).updates(net, params, None, x, t)
    got, _, _ = get_rule(rule, **hyper).updates(net, {k: torch.tensor(v) for k, v in params.items()}, None,
                                                torch.tensor(x), torch.tensor(t))
    assert set(got) == set(want)
    for k in want:  # float64 both; summation order differs between the libraries
        np.testing.assert_allclose(got[k].numpy(), want[k], rtol=1e-9, atol=1e-12, err_msg=k)


# ---------------------------------------------------------------------------- refusals
def test_transpose_operations_are_not_claimed():
    layers = (Layer("input", shape=(1, 4, 4), role="input", bias=False), Layer("h", shape=(2, 6, 6)),
              Layer("output", 2, role="output"))
    net = Network(layers, (Projection("input", "h", name="up", operation="conv_transpose2d", kernel=3),
                           Projection("h", "output")))
    with pytest.raises(ConfigError, match="conv_transpose2d") as err:
        check_rule_operations(get_rule("pc"), net)
    assert "\n" not in str(err.value)


def test_spiking_pc_refuses_conv_nets_in_one_line():
    from neurosim.spiking.predictive_coding import _check_network
    with pytest.raises(ConfigError, match="dense synapses only") as err:
        _check_network("spiking pc-fpa", small_net())
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------- the CLI
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_card_with_another_rule_trains_with_that_rules_preset():
    # the card's [rule] table was written for backprop; `train --rule pc` must not run pc at its
    # equilibrium defaults (2000 steps, raise) but at its train preset (truncated inference)
    from neurosim.cli import _spec, build_parser
    args = build_parser().parse_args(["train", "--model", str(LENET), "--rule", "pc"])
    assert _spec(args, "train").hyper == dict(RunSpec.preset("pc", "train").hyper)
    args = build_parser().parse_args(["align", "--model", str(LENET), "--rule", "pc"])
    assert _spec(args).hyper.get("max_steps", 2000) == 2000  # align: the rule's plain defaults


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_cli_trains_lenet_with_pc(capsys):
    # 500 images, one epoch (4 Adam steps, the pc train preset: 20 inference steps at rate 0.05):
    # the test error on 500 images must be below chance (0.9) by more than 5 binomial sd of a
    # chance classifier (sqrt(0.9 * 0.1 / 500) = 0.013): < 0.83.  8-13 s on a loaded 2-core machine.
    from neurosim.cli import main
    main(["train", "--model", str(LENET), "--rule", "pc", "--n-train", "500", "--n-test", "500", "--epochs", "1",
          "--quiet", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed", out["message"]
    assert out["test_error"] < 0.83

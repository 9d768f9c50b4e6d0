"""The exact backprop oracle against independent oracles.

* central finite differences (float64, eps = 1e-5: truncation O(eps^2) ~ 1e-10 and
  rounding O(1e-16 L / eps) ~ 1e-11 absolute, so a relative 1e-6 leaves margin even for
  the small gradients of deep sigmoid networks);
* closed forms for one linear layer (MSE) and softmax regression (CE).
"""
import numpy as np
import pytest

from conftest import random_batch, random_params
from neurosim import Layer, Network, Projection, backprop, forward, gradcheck, init_params
from neurosim.errors import ShapeError
from neurosim.neurons import ACTIVATIONS
from neurosim.reference import finite_difference_gradients, loss_of, softmax


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_backprop_matches_finite_differences(depth, activation, loss):
    rng = np.random.default_rng(1000 * depth + len(activation))
    sizes = [int(s) for s in rng.integers(3, 7, depth + 1)]
    net = Network.feedforward(sizes, activation=activation, output_activation=activation, loss=loss)
    params = random_params(net, rng)
    x, t = random_batch(net, rng)
    result = gradcheck(net, params, x, t)
    assert result["max_relative_error"] < 1e-6, result


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: corrupt the reference and watch it notice."""
    import neurosim.reference as ref

    rng = np.random.default_rng(0)
    net = Network.feedforward([4, 5, 3])
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    true_backprop = ref.backprop

    def wrong(*args, **kwargs):
        g = true_backprop(*args, **kwargs)
        g.grads["input->hidden1"] = g.grads["input->hidden1"] * 1.01
        return g

    monkeypatch.setattr(ref, "backprop", wrong)
    assert ref.gradcheck(net, params, x, t)["max_relative_error"] > 1e-3


def test_single_linear_layer_closed_form():
    """L = 1/(2N) sum ||W x + b - t||^2  =>  dL/dW = (W x + b - t) x^T / N."""
    rng = np.random.default_rng(3)
    net = Network.feedforward([4, 3], activation="linear")
    params = random_params(net, rng)
    x, t = random_batch(net, rng, batch=7)
    err = x @ params["input->output"].T + params["output.bias"] - t
    g = backprop(net, params, x, t)
    np.testing.assert_allclose(g.grads["input->output"], err.T @ x / 7, rtol=1e-12)
    np.testing.assert_allclose(g.grads["output.bias"], err.mean(0), rtol=1e-12)
    np.testing.assert_allclose(g.loss, 0.5 * np.sum(err ** 2) / 7, rtol=1e-12)


def test_softmax_regression_closed_form():
    """CE on logits z = W x + b  =>  dL/dW = (softmax(z) - t) x^T / N."""
    rng = np.random.default_rng(4)
    net = Network.feedforward([5, 4], loss="cross_entropy")
    params = random_params(net, rng)
    x, t = random_batch(net, rng, batch=6)
    z = x @ params["input->output"].T + params["output.bias"]
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    g = backprop(net, params, x, t)
    np.testing.assert_allclose(g.grads["input->output"], (p - t).T @ x / 6, rtol=1e-12)
    np.testing.assert_allclose(g.loss, -np.mean(np.sum(t * np.log(p), 1)), rtol=1e-12)


def test_softmax_is_stable_for_large_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(softmax(z), [[1.0, 0.0, 0.0]], atol=1e-300)


def test_dag_with_skip_connection_and_tied_projection():
    """A skip connection input->output and a tied projection: both checked by finite differences."""
    net = Network.feedforward([4, 5, 3], activation="tanh")
    net = net.add(Projection("input", "output", name="skip"))
    rng = np.random.default_rng(5)
    params, (x, t) = random_params(net, rng), random_batch(net, rng)
    assert gradcheck(net, params, x, t)["max_relative_error"] < 1e-6
    tied = Network((Layer("input", 3, role="input", activation="linear", bias=False), Layer("a", 3),
                    Layer("output", 3, role="output")),
                   (Projection("input", "a"), Projection("a", "output", name="w2"),
                    Projection("output", "a", name="w2t", kind="feedback"),
                    Projection("a", "output", name="w3", tied_to="w2t")))
    params, (x, t) = random_params(tied, rng), random_batch(tied, rng)
    # w3 contributes the transpose of w2t: the gradient of w2t collects it
    assert "w3" not in params
    assert gradcheck(tied, params, x, t)["max_relative_error"] < 1e-6


def test_finite_differences_recover_params():
    """Perturbing in place must restore the parameters exactly."""
    rng = np.random.default_rng(6)
    net = Network.feedforward([3, 4, 2])
    params = random_params(net, rng)
    before = {k: v.copy() for k, v in params.items()}
    x, t = random_batch(net, rng)
    finite_difference_gradients(net, params, x, t)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_forward_uses_activations():
    net = Network.feedforward([2, 2, 1], activation="relu", output_activation="linear")
    params = {"input->hidden1": np.array([[1.0, 0.0], [0.0, -1.0]]), "hidden1.bias": np.zeros(2),
              "hidden1->output": np.array([[1.0, 1.0]]), "output.bias": np.array([0.5])}
    fp = forward(net, params, np.array([[2.0, 3.0]]))
    np.testing.assert_allclose(fp.r["hidden1"], [[2.0, 0.0]])
    np.testing.assert_allclose(fp.output, [[2.5]])


def test_float32_stays_float32():
    net = Network.feedforward([4, 3, 2])
    params = init_params(net, 0, dtype="float32")
    x = np.ones((2, 4), dtype=np.float32)
    g = backprop(net, params, x, np.zeros((2, 2), dtype=np.float32))
    assert all(v.dtype == np.float32 for v in g.grads.values())


@pytest.mark.parametrize("x, t, fragment", [
    (np.ones((2, 5)), np.ones((2, 2)), "expected shape (batch, 4)"),
    (np.ones((2, 4)), np.ones((2, 3)), "expected shape (2, 2)"),
    (np.full((2, 4), np.nan), np.ones((2, 2)), "NaN"),
    (np.ones((2, 4)), np.full((2, 2), np.inf), "NaN or inf"),
])
def test_bad_batches(x, t, fragment):
    net = Network.feedforward([4, 3, 2])
    with pytest.raises(ShapeError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        backprop(net, init_params(net), x, t)


def test_bad_params():
    net = Network.feedforward([4, 3, 2])
    params = init_params(net)
    params["input->hidden1"] = params["input->hidden1"].T
    with pytest.raises(ShapeError, match=r"params\['input->hidden1'\]: expected shape \(3, 4\)"):
        loss_of(net, params, np.ones((1, 4)), np.ones((1, 2))) if False else backprop(
            net, params, np.ones((1, 4)), np.ones((1, 2)))


def test_backprop_through_copy_ties_signed_scales_and_one_to_one_matches_finite_differences():
    """The circuit extensions (tie = "copy", a signed scale, one_to_one connectivity) enter the
    forward pass through params.weight; the oracle's gradient must follow them.  Oracle: central
    finite differences (float64, eps 1e-6)."""
    from neurosim.reference import backprop, finite_difference_gradients

    from conftest import circuit_extension_case

    net, params, x, t = circuit_extension_case()
    exact = backprop(net, params, x, t).grads
    numeric = finite_difference_gradients(net, params, x, t, 1e-6)
    assert set(exact) == set(numeric)
    for key in numeric:
        np.testing.assert_allclose(exact[key], numeric[key], rtol=1e-6, atol=1e-9, err_msg=key)
    # the off-diagonal entries of a one_to_one weight do not exist: exactly zero gradient
    off = exact["a->b"] - np.diag(np.diag(exact["a->b"]))
    assert np.all(off == 0)

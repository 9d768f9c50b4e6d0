"""Shared fixtures.  Tolerances and seeds are stated where they are used."""
import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from neurosim import Network, init_params  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_batch(network: Network, rng, batch=5):
    """Inputs ~ N(0, 1) and targets fitting the network's loss (one-hot for CE)."""
    x = rng.normal(0, 1, (batch, network.input_layer.size))
    n_out = network.output_layer.size
    if network.loss == "cross_entropy":
        t = np.eye(n_out)[rng.integers(0, n_out, batch)]
    else:
        t = rng.normal(0, 0.5, (batch, n_out))
    return x, t


def central_difference(loss_fn, array, eps=1e-6):
    """d loss / d array by central differences, entry by entry, ``array`` perturbed in place and
    restored (float64; eps near the rounding/truncation optimum). Independent of any gradient code."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = loss_fn()
        array[i] = old - eps
        down = loss_fn()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def random_params(network: Network, rng):
    """Weights by the network's initialisers plus non-zero biases (so bias terms are exercised)."""
    params = init_params(network, rng)
    for key in params:
        if key.endswith(".bias"):
            params[key] = rng.normal(0, 0.3, params[key].shape)
    return params


def circuit_extension_case():
    """A small net using every circuit extension the oracle must follow -- a copy tie with a signed
    scale and a one_to_one projection -- with parameters and an MSE batch: ``(net, params, x, t)``."""
    from neurosim import Layer, Projection

    layers = (Layer("in", 3, activation="linear", role="input", bias=False), Layer("a", 3), Layer("b", 3),
              Layer("out", 2, activation="linear", role="output"))
    projections = (Projection("in", "a", name="in->a"),
                   Projection("in", "b", name="in->b:copy", tied_to="in->a", tie="copy", scale=-0.5),
                   Projection("a", "b", name="a->b", connectivity="one_to_one", scale=2.0),
                   Projection("b", "out", name="b->out"))
    net = Network(layers, projections, loss="mse")
    rng = np.random.default_rng(0)
    return net, init_params(net, 1), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


def imports_brian2(code: str) -> bool:
    """Run ``code`` in a fresh Python process; whether it ended with brian2 imported (it must run
    cleanly: a failing snippet raises CalledProcessError with its stderr)."""
    import subprocess
    import sys

    probe = code + "\nimport sys as _sys\nprint('brian2' in _sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"

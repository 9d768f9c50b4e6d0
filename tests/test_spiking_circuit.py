"""Circuit extensions of the network description (issue 18): pure data, no brian2.

Oracles: the TOML round trip (a description written and read back is equal), the
defaults (a plain network's TOML text has none of the new keys, so every card reads as
before), and linear algebra for the effective weight (:func:`neurosim.params.weight`):
``scale * W``, ``scale * W_tied^T``, ``scale * W_tied``, ``scale * diag(W)``.
"""
from __future__ import annotations

import glob

import numpy as np
import pytest

from neurosim.errors import ConfigError
from neurosim.network import Drive, Layer, Network, Projection
from neurosim.params import init_params, weight


def circuit() -> Network:
    net = Network.feedforward([3, 4, 2], activation="lif", neuron="lif")
    return net.add(
        Layer("output:error", 2, activation="lif", neuron="lif", role="error", bias=False),
        Layer("hidden1:copy", 4, activation="lif", neuron="poisson_two_compartment", bias=False),
        Projection("output:error", "hidden1", name="fb", kind="feedback", tied_to="hidden1->output", scale=-0.5),
        Projection("input", "hidden1:copy", name="cp", tied_to="input->hidden1", tie="copy", target="basal"),
        Projection("output", "output:error", name="o2o", kind="lateral", connectivity="one_to_one", scale=-2.0),
        Drive("output:error", source="target", scale=2.0),
        Drive("output", source="rate", scale=-1.0, gated=True, tau=0.05),
        Drive("hidden1:copy", source="constant", scale=0.25, target="apical", name="bias_current"))


def test_circuit_toml_round_trip_and_summary():
    net = circuit()
    again = Network.from_toml(net.to_toml())
    assert again == net and again.drives == net.drives
    text = net.summary()
    assert "scale=-0.5" in text and "(copy)" in text and "one_to_one" in text and "drive" in text


@pytest.mark.parametrize("path", sorted(glob.glob("models/*.toml")))
def test_existing_cards_write_no_circuit_keys(path):
    # defaults keep today's meaning: nothing new appears when a plain card is written back
    from neurosim.network import parse_toml
    data = parse_toml(open(path).read(), path)
    if "layers" not in data and "sizes" not in data.get("network", {}):
        pytest.skip("card without a network description")
    text = Network.from_dict(data, source=path).to_toml()
    keys = {line.split(" =")[0] for line in text.splitlines()}
    assert not keys & {"tie", "scale", "connectivity", "[[drives]]"}


def test_effective_weights_are_the_described_linear_maps():
    net = circuit()
    params = init_params(net, seed=0)
    w_ho, w_ih = params["hidden1->output"], params["input->hidden1"]
    assert weight(net, params, "hidden1->output") is w_ho          # a plain projection: the array itself
    np.testing.assert_array_equal(weight(net, params, "fb"), -0.5 * w_ho.T)
    np.testing.assert_array_equal(weight(net, params, "cp"), w_ih)
    o2o = params["o2o"]
    np.testing.assert_array_equal(weight(net, params, "o2o"), -2.0 * np.diag(np.diag(o2o)))
    assert "fb" not in params and "cp" not in params               # tied projections own no weights


@pytest.mark.parametrize("build, field", [
    (lambda: Projection("a", "b", tie="mirror", tied_to="x"), "tie"),
    (lambda: Projection("a", "b", tie="copy"), "tie"),
    (lambda: Projection("a", "b", scale=0.0), "scale"),
    (lambda: Projection("a", "b", scale=float("inf")), "scale"),
    (lambda: Projection("a", "b", connectivity="sparse"), "connectivity"),
    (lambda: Network.feedforward([3, 2]).add(Projection("input", "output", name="x", connectivity="one_to_one")),
     "one_to_one"),
    (lambda: Network.feedforward([3, 4, 2]).add(Projection("hidden1", "output", name="c", tied_to="input->hidden1",
                                                           tie="copy")), "copy"),
    (lambda: Drive("h", source="voltage"), "source"),
    (lambda: Drive("h", scale=0), "scale"),
    (lambda: Drive("h", source="rate", tau=-1.0), "tau"),
    (lambda: Drive("h", gated="yes"), "gated"),
    (lambda: Network.feedforward([3, 2]).add(Drive("outptu")), "outptu"),
    (lambda: Network.feedforward([3, 2]).add(Drive("input")), "input layer"),
    (lambda: Network.feedforward([3, 2]).add(Drive("output", target="apical")), "target"),
    (lambda: Network.feedforward([3, 2]).add(Drive("output"), Drive("output")), "two drives"),
    (lambda: Network.from_toml('[network]\nsizes = [3, 2]\n[[drives]]\npost = "output"\nsorce = "target"\n'),
     "sorce"),
    (lambda: Layer("h", 3, neuron="poisson"), "neuron model"),
])
def test_invalid_circuit_descriptions_raise_one_line_errors(build, field):
    with pytest.raises(ConfigError) as info:
        build()
    message = str(info.value)
    assert field in message and "\n" not in message

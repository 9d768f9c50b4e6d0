"""The description layer: validation errors, immutability, TOML round trip, model cards.

Oracle: the TOML text re-parsed must give an equal object; every invalid field must
raise a ConfigError (a ValueError) whose one-line message names the field.
"""
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from neurosim import ConfigError, Layer, Network, Projection
from neurosim.errors import UnknownNameError

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.toml"))


def microcircuit() -> Network:
    """Sacramento et al. (2018)-style: pyramidal layers with basal/apical targets + SST interneurons."""
    L = [Layer("input", 4, activation="linear", role="input", bias=False),
         Layer("pyr1", 5, activation="sigmoid", neuron="rate_two_compartment", params={"g_apical": 0.8}),
         Layer("inter1", 3, activation="sigmoid", role="interneuron", bias_init=-0.5),
         Layer("output", 3, activation="sigmoid", neuron="rate_two_compartment", role="output")]
    P = [Projection("input", "pyr1", target="basal"),
         Projection("pyr1", "output", target="basal"),
         Projection("pyr1", "inter1", kind="lateral"),
         Projection("inter1", "pyr1", kind="lateral", target="apical"),
         Projection("output", "pyr1", kind="feedback", target="apical", plastic=False),
         Projection("output", "inter1", kind="feedback", name="output->inter1:nudge", init="identity")]
    return Network(tuple(L), tuple(P), name="microcircuit")


def energy_based() -> Network:
    """Equilibrium-propagation style: symmetric (tied) feedback, hard sigmoid."""
    net = Network.feedforward([6, 5, 4, 2], activation="hard_sigmoid", name="hopfield")
    ties = [Projection(p.post, p.pre, kind="feedback", tied_to=p.name) for p in net.chain()]
    return net.add(*ties)


def predictive_coding() -> Network:
    """Value and error populations as layers of their own."""
    net = Network.feedforward([6, 5, 2], activation="tanh", name="pc")
    return net.add(Layer("err_hidden1", 5, role="error", activation="linear", bias=False),
                   Projection("hidden1", "err_hidden1", kind="lateral", init="identity", plastic=False))


@pytest.mark.parametrize("make", [lambda: Network.feedforward([784, 256, 10], loss="cross_entropy"),
                                  microcircuit, energy_based, predictive_coding])
def test_toml_round_trip(make):
    net = make()
    again = Network.from_toml(net.to_toml())
    assert again == net
    assert again.to_toml() == net.to_toml()


def test_bias_init_reaches_params():
    from neurosim import init_params

    net = Network.feedforward([3, 4, 2], activation="lif", bias_init=2.0)
    params = init_params(net)
    assert np.all(params["hidden1.bias"] == 2.0) and np.all(params["output.bias"] == 2.0)


def test_pickle_round_trip():
    net = microcircuit()
    assert pickle.loads(pickle.dumps(net)) == net


def test_feedforward_shorthand_equals_explicit():
    text = '[network]\nname = "mlp"\nsizes = [5, 4, 3]\nactivation = "sigmoid"\nloss = "cross_entropy"\n'
    assert Network.from_toml(text) == Network.feedforward([5, 4, 3], activation="sigmoid", loss="cross_entropy")


def test_immutable_and_add_returns_new():
    net = Network.feedforward([3, 2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.name = "other"
    bigger = net.add(Projection("output", "input", kind="feedback"))
    assert len(net.projections) == 1 and len(bigger.projections) == 2


def test_queries():
    net = microcircuit()
    assert net.input_layer.name == "input" and net.output_layer.name == "output"
    assert [p.name for p in net.chain()] == ["input->pyr1", "pyr1->output"]
    assert net.sizes == (4, 5, 3)
    assert {p.name for p in net.select("lateral")} == {"pyr1->inter1", "inter1->pyr1"}
    assert net.layer("pyr1").param("g_apical") == 0.8
    assert "apical" in net.summary()


@pytest.mark.parametrize("build, field", [
    (lambda: Layer("h", 0), "size"),
    (lambda: Layer("h", 3.5), "size"),
    (lambda: Layer("h", 3, activation="tanhh"), "activation"),
    (lambda: Layer("h", 3, neuron="hodgkin"), "neuron model"),
    (lambda: Layer("h", 3, role="hiden"), "role"),
    (lambda: Layer("", 3), "name"),
    (lambda: Layer("h", 3, params={"tau": [1, 2]}), "params.tau"),
    (lambda: Layer("h", 3, bias_init=float("nan")), "bias_init"),
    (lambda: Projection("a", "b", kind="forward"), "kind"),
    (lambda: Projection("a", "b", init="glorot"), "init"),
    (lambda: Projection("a", "b", init_scale=-1.0), "init_scale"),
    (lambda: Network.feedforward([3]), "sizes"),
    (lambda: Network.feedforward([3, 2], loss="hinge"), "loss"),
    (lambda: Network((Layer("x", 2, role="input"), Layer("x", 2)), ()), "two layers are named 'x'"),
    (lambda: Network((Layer("h", 2),), ()), "role='input'"),
    (lambda: Network.feedforward([3, 2]).add(Projection("input", "outptu")), "outptu"),
    (lambda: Network.feedforward([3, 2]).add(Projection("input", "output", name="x", target="apical")),
     "target"),
    (lambda: Network.feedforward([3, 2, 2]).add(Projection("output", "hidden1", name="loop")),
     "cycle"),
    (lambda: Network.feedforward([3, 2]).add(Projection("output", "input", kind="feedback",
                                                         tied_to="nope")), "tied_to"),
    (lambda: Network.feedforward([3, 2, 2]).add(Projection("output", "input", kind="feedback",
                                                            tied_to="hidden1->output")), "transpose"),
])
def test_invalid_descriptions_raise_one_line_errors(build, field):
    with pytest.raises(ConfigError) as info:
        build()
    message = str(info.value)
    assert field in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_did_you_mean():
    with pytest.raises(ConfigError, match="Did you mean 'output'"):
        Network.feedforward([3, 2]).add(Projection("input", "outptu"))
    with pytest.raises(UnknownNameError, match="Did you mean 'hidden1'"):
        Network.feedforward([3, 4, 2]).layer("hiden1")


@pytest.mark.parametrize("text, fragment", [
    ("[network\nname = 1", "malformed TOML"),
    ('[network]\nsizes = [3, 2]\nactivaton = "tanh"', "unknown key 'activaton'"),
    ('[[layers]]\nname = "input"\nsize = 3\nrole = "input"\nsise = 4', "unknown key 'sise'"),
    ('[[layers]]\nname = "input"\nrole = "input"', "size"),
])
def test_malformed_toml(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Network.from_toml(text)


def test_missing_model_file(tmp_path):
    from neurosim.runspec import RunSpec

    with pytest.raises(ConfigError, match="does not exist"):
        RunSpec.load(tmp_path / "nope.toml")


def test_model_card_tables(tmp_path):
    from neurosim.runspec import RunSpec

    path = tmp_path / "card.toml"
    path.write_text('[network]\nname = "x"\nsizes = [4, 3, 2]\ndescription = "demo"\n'
                    '[rule]\nname = "fa"\n[data]\ndataset = "digits"\n[training]\nepochs = 3\n'
                    '[published]\ntest_error = 0.021\nsource = "someone"\n')
    card = RunSpec.load(path)
    assert card.network.sizes == (4, 3, 2) and card.rule == "fa"
    assert card.epochs == 3 and card.published["test_error"] == 0.021
    assert card.description == "demo" and card.dataset == "digits"


def _spiking_only(path) -> bool:
    from neurosim.network import parse_toml

    return "spiking" in parse_toml(path.read_text(), str(path)).get("rule", {})


RATE_CARDS = [p for p in MODELS if not _spiking_only(p)]


@pytest.mark.parametrize("path", RATE_CARDS, ids=[p.stem for p in RATE_CARDS])
def test_every_rate_model_card_is_a_runspec_naming_a_registered_rule(path):
    """Every card loads as a RunSpec: its rule is registered, its hyper-parameters valid (checked
    against the rule's Hyper record), its [network] builds and it round-trips through TOML."""
    from neurosim.rules import rule_class
    from neurosim.runspec import RunSpec

    card = RunSpec.load(path)
    rule_class(card.rule)
    net = card.build_network()  # cards carry explicit networks
    assert net.input_layer.size > 0
    assert RunSpec.from_toml(card.to_toml()) == card


def test_spiking_only_cards_are_exactly_the_known_ones():
    """Every card names a registered rule now (the Diehl & Cook card names the spiking rule 'diehl-cook')."""
    assert sorted(p.name for p in MODELS if _spiking_only(p)) == []

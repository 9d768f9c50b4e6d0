"""Spiking burstprop (Payeur et al. 2021): the burst_lif neuron, the circuit, the update.

Oracles: the TOML round trip of the circuit (pure data, checked in a process without
brian2); the closed form of the burst probability :math:`\\sigma(\\beta u_A + \\alpha)` at a
constant apical potential, measured as bursts / events with a binomial tolerance; the rate
twin of the same circuit (rule ``burstprop`` with ``dendritic_gain = "one"`` and
``output_probability = "sigmoid"`` on the ``"lif"`` rate equivalent) and backprop of that
network, with thresholds derived from the trial noise of the spiking update
(:func:`neurosim.spiking.burstprop.noise_ceiling`); the linearisation of the sigmoid output
teacher (same slope as the linear one at the baseline).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neurosim.errors import ConfigError
from neurosim.network import Drive, Layer, Network, Projection
from neurosim.rules import get_rule
from conftest import imports_brian2


def burst_network(sizes=(4, 6, 2)) -> Network:
    rule = get_rule("burstprop", feedback="symmetric")
    return rule.network(Network.feedforward(list(sizes), activation="lif", output_activation="lif", loss="mse",
                                            bias_init=2.0, name="burstprop-lif"))


def test_circuit_round_trips_toml_without_brian2():
    code = ("import sys\n"
            "from neurosim.circuits import burstprop_circuit\n"
            "from neurosim.network import Network\n"
            "from neurosim.rules import get_rule\n"
            "net = get_rule('burstprop').network(Network.feedforward([4, 6, 2], activation='lif', "
            "output_activation='lif', loss='mse'))\n"
            "c = burstprop_circuit(net, nudging=0.5, apical_gain=4.0)\n"
            "assert Network.from_toml(c.to_toml()) == c\n")
    assert not imports_brian2(code)


def test_circuit_structure():
    """Events forward, bursts back through Y, events back through -Z, the teacher on the output's apical."""
    from neurosim.circuits import burstprop_circuit

    c = burstprop_circuit(burst_network(), nudging=0.5, p_baseline=0.2, apical_gain=4.0)
    assert [c.layer(n).neuron for n in ("hidden1", "output")] == ["burst_lif", "burst_lif"]
    p = {q.name: q for q in c.projections}
    assert p["input->hidden1"].transmits == "spikes" and p["hidden1->output"].transmits == "events"
    assert p["output->hidden1:burst"].transmits == "bursts" and p["output->hidden1:burst"].scale == 1.0
    assert p["output->hidden1:event"].transmits == "events" and p["output->hidden1:event"].scale == -1.0
    c_teach = 0.5 / (4.0 * 0.2 * 0.8)   # lambda / (beta p0 (1 - p0))
    assert sorted((d.source, d.target, d.scale) for d in c.drives) == sorted(
        [("target", "apical", c_teach), ("rate", "apical", -c_teach)])


def test_bad_descriptions_give_one_line_errors():
    with pytest.raises(Exception) as err:
        Layer("h", 3, neuron="burst_lfi")
    assert "burst_lif" in str(err.value) and "\n" not in str(err.value)
    net = Network.feedforward([3, 2], activation="lif")
    with pytest.raises(ConfigError, match="transmits: 'bursts' needs a bursting pre layer") as err:
        net.replace(projections=(Projection("input", "output", transmits="bursts"),))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="transmits"):
        Projection("a", "b", transmits="burst")
    with pytest.raises(ConfigError, match="loss"):
        from neurosim.circuits import burstprop_circuit
        burstprop_circuit(get_rule("burstprop").network(Network.feedforward([3, 4, 2], activation="lif",
                                                                            loss="cross_entropy")), nudging=0.5)


def test_sigmoid_output_teacher_has_the_linear_slope():
    """``output_probability = "sigmoid"`` is :math:`\\sigma(\\alpha + \\lambda(t-e)/(p_0(1-p_0)))`: for
    small :math:`\\lambda` its update equals the clipped-linear one to :math:`O(\\lambda)` relative."""
    from neurosim.params import init_params

    net = get_rule("burstprop").network([4, 5, 3])
    params = get_rule("burstprop").init_params(net, 0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (6, 4)), rng.uniform(0, 1, (6, 3))
    for lam in (1e-3, 1e-4):
        a, _, _ = get_rule("burstprop", nudging=lam).updates(net, params, None, x, t)
        b, _, _ = get_rule("burstprop", nudging=lam, output_probability="sigmoid").updates(net, params, None, x, t)
        for k in ("input->hidden1", "hidden1->output"):
            rel = np.linalg.norm(a[k] - b[k]) / np.linalg.norm(a[k])
            assert rel < 20 * lam, (k, lam, rel)
    assert init_params  # the rule's params, not plain ones (Z = p0 Y)


# ----------------------------------------------------------------------------- brian2
@pytest.mark.spiking
def test_burst_probability_follows_the_sigmoid_of_the_apical_potential():
    """Bursts / events at a constant apical potential :math:`u` equal :math:`\\sigma(\\beta u + \\alpha)`.

    Each layer fires from its bias (twice threshold); a constant drive holds its apical potential
    at :math:`u` threshold units.  Every event is an independent draw, so the measured fraction
    is binomial: tolerance four standard deviations :math:`\\sqrt{p(1-p)/E}`.
    """
    import brian2

    from neurosim.neurons import BurstParameters
    from neurosim.params import init_params
    from neurosim.spiking.builder import build_circuit

    params_ = {"burst_baseline": 0.2, "burst_gain": 2.0}
    drives = {"b0": None, "bm": -0.5, "bp": 0.5, "bpp": 1.0}
    layers = [Layer("input", 2, activation="linear", role="input", bias=False)]
    projs, items = [], []
    for name, u in drives.items():
        role = "output" if name == "b0" else "hidden"
        layers.append(Layer(name, 20, activation="lif", neuron="burst_lif", role=role, bias_init=2.0,
                            params=params_))
        projs.append(Projection("input", name, init="zeros", kind="feedforward" if role == "output" else "lateral"))
        if u is not None:
            items.append(Drive(name, source="constant", scale=u, target="apical"))
    net = Network(tuple(layers), tuple(projs), drives=tuple(items))
    model = build_circuit(net, init_params(net, 0), np.zeros((1, 2)), phase=1000 * brian2.ms,
                          settle=100 * brian2.ms, init_v="uniform", seed=3, codegen_target="cython")
    act = model.run()
    bp = BurstParameters(**params_)
    measured = []
    for name, u in drives.items():
        events = act.rho["free"][name].sum() * act.window * 100
        bursts = act.event_rho["burst"]["free"][name].sum() * act.window * 100
        p = float(bp.probability(0.0 if u is None else u))
        assert events > 800
        assert abs(bursts / events - p) < 4 * math.sqrt(p * (1 - p) / events), (name, bursts / events, p)
        measured.append(bursts / events)
    assert measured[1] < measured[0] < measured[2] < measured[3]


@pytest.mark.spiking
def test_spiking_update_aligns_with_the_rate_twin_and_backprop():
    """4-6-2, 4 samples, 10 trials: cosines with the rate twin and with backprop.

    Thresholds from the trial noise (:func:`noise_ceiling`): every cosine must clear ``null``
    (three standard deviations of a chance cosine, :math:`3/\\sqrt{d}`), and the cosine with the
    twin must reach 90 % of the noise ceiling (what trial noise alone allows), the rest being the
    mean-field bias of apical and trace noise.  Measured (cython, seed 1): vs twin 0.982 / 0.998
    (ceilings 0.989 / 1.000), vs backprop 0.936 / 0.998.
    """
    from neurosim.spiking import get_spiking_rule

    srule = get_spiking_rule("burstprop", feedback="symmetric")
    net = burst_network()
    params = get_rule("burstprop", feedback="symmetric").init_params(net, 0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (4, 4)), rng.uniform(0.2, 0.8, (4, 2))
    rep = srule.spiking_align(net, params, x, t, n_trials=10, seed=1, codegen_target="cython").to_dict()
    ceiling = rep["noise_ceiling"]
    for row, twin in zip(rep["projections"], rep["rate_rule_projections"]):
        d = np.prod(params[row["name"]].shape)
        null = 3 / math.sqrt(d)
        assert row["cosine"] > null and twin["cosine"] > null, (row, twin, null)
        assert twin["cosine"] >= 0.9 * ceiling[row["name"]], (twin, ceiling)
    assert rep["rate_rule_cosine"] >= 0.9 * ceiling["global"]
    assert rep["global"]["cosine"] > ceiling["null"]
    # the output's burst probability falls where the teacher asks for less (targets below the rates)
    assert rep["burst_probability"]["output"]["teach"] < rep["burst_probability"]["output"]["free"]


@pytest.mark.spiking
def test_bad_inputs_give_one_line_errors(monkeypatch):

    from neurosim.spiking import get_spiking_rule
    from neurosim.spiking.builder import build_circuit
    from neurosim.spiking.burstprop import SpikingBurstprop

    srule = get_spiking_rule("burstprop")
    net = burst_network()
    params = get_rule("burstprop").init_params(net, 0)
    x, t = np.full((2, 4), 0.5), np.full((2, 2), 0.5)
    for bad_x, bad_t, what in ((-x, t, "rates >= 0"), (x, -t, "targets")):
        with pytest.raises(ConfigError, match=what) as err:
            srule.simulate(net, params, bad_x, bad_t, n_trials=1)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="nudging"):
        SpikingBurstprop(get_rule("burstprop"), nudging=-1.0)
    with pytest.raises(ConfigError, match="no unit"):
        SpikingBurstprop(get_rule("burstprop"), phase=0.5)
    slow = srule.circuit(net)
    slow = slow.replace(layers=tuple(
        layer if layer.neuron != "burst_lif" else
        Layer(layer.name, layer.size, activation=layer.activation, neuron="burst_lif", role=layer.role,
              params={**dict(layer.params), "burst_delay": 0.005}) for layer in slow.layers))
    with pytest.raises(ConfigError, match="burst_delay"):
        build_circuit(slow, params, x, t, kinds=("feedforward",), codegen_target="numpy")
    # every neuron model of the description has a builder: take one out of the registry
    from neurosim.spiking.builder import CircuitBuilder

    monkeypatch.delitem(CircuitBuilder.builders, "lif")
    unknown = Network.feedforward([4, 2], activation="lif", neuron="lif")
    with pytest.raises(ConfigError, match="no spiking builder for neuron model") as err:
        from neurosim.params import init_params
        build_circuit(unknown, init_params(unknown, 0), np.zeros((1, 4)), codegen_target="numpy")
    assert "burst_lif" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.spiking
def test_cli_align_burstprop_spiking_json(capsys):
    """``neurosim align --rule burstprop --backend spiking --json``: per-projection cosines."""
    from neurosim import cli

    assert cli.main(["align", "--rule", "burstprop", "--backend", "spiking", "--json", "--batch-size", "2",
                     "--trials", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "spiking" and out["rule"] == "burstprop" and out["reference"] == "backprop"
    names = [p["name"] for p in out["projections"]]
    assert names[0].startswith("input->") and len(names) >= 2
    for row in out["projections"] + out["rate_rule_projections"]:
        assert -1.0 <= row["cosine"] <= 1.0
    assert set(out["noise_ceiling"]) >= set(names) | {"global", "null"}

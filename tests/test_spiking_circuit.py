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
from conftest import imports_brian2


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
    written = {line.split(" =")[0] for line in open(path).read().splitlines()}   # a circuit card (Diehl & Cook)
    assert not (keys & {"tie", "scale", "connectivity", "[[drives]]"}) - written  # writes only what it says


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


# --------------------------------------------------------------------------- the circuit builder (brian2)
# Oracles: the LIF f-I curve under a constant current (exact: no noise without spiking
# input, so the count is lif_rate(u) * window to within one spike), and the description's
# effective weights (params.weight) for what the synapses carry.  numpy code generation:
# these circuits are tiny and the cython compile would dominate.

def _lif_only(size=3):
    from neurosim.network import Layer, Network
    return Network((Layer("input", 2, activation="linear", role="input", bias=False),
                    Layer("a", size, activation="lif", bias=False, role="output")), ())


@pytest.mark.spiking
def test_constant_and_target_drives_fire_at_the_lif_rate():
    pytest.importorskip("brian2")
    import brian2
    from neurosim.neurons import RATE_SCALE_HZ, lif_rate
    from neurosim.spiking.builder import build_circuit
    t = np.array([[1.5, 2.0, 3.0], [2.5, 4.0, 1.2]])
    net = _lif_only().add(Drive("a", source="target", scale=1.0, gated=True),
                          Drive("a", source="constant", scale=0.5))
    # phase gains 0 then 1: u = 0.5 (silent), then u = 0.5 + t
    model = build_circuit(net, {}, np.zeros((2, 2)), t, n_trials=2, phases=(("off", 0.0), ("on", 1.0)),
                          dt=0.05 * brian2.ms, phase=300 * brian2.ms, settle=100 * brian2.ms,
                          codegen_target="numpy")
    act = model.run()
    window = act.window
    assert np.all(act.rho["off"]["a"] == 0)
    expected = lif_rate(0.5 + t) / RATE_SCALE_HZ
    for trial in range(2):   # deterministic: both copies agree, to one spike of the window
        np.testing.assert_allclose(act.rho["on"]["a"][trial], expected, atol=1.0 / (window * RATE_SCALE_HZ) + 0.02)


@pytest.mark.spiking
def test_projections_carry_the_effective_weights_block_diagonally():
    pytest.importorskip("brian2")
    import brian2
    from neurosim.spiking import lif
    from neurosim.spiking.builder import build_circuit
    from neurosim.neurons import LIFParameters
    net = Network.feedforward([3, 4, 4], activation="lif", neuron="lif").add(
        Projection("output", "hidden1", name="fb", kind="feedback", tied_to="hidden1->output", scale=-0.5),
        Projection("hidden1", "output", name="o2o", kind="lateral", connectivity="one_to_one", scale=2.0,
                   plastic=False))
    params = init_params(net, seed=0)
    x = np.full((2, 3), 0.5)
    model = build_circuit(net, params, x, n_trials=3, codegen_target="numpy")
    copies = 6
    assert model.copies == copies
    unit = lif.synaptic_scale(LIFParameters()) * brian2.volt
    by_name = {s.name.split("_", 3)[-1]: s for s in model.synapses}
    fb = by_name["fb"]
    w = weight(net, params, "fb")
    i, j = np.asarray(fb.i[:]), np.asarray(fb.j[:])
    assert np.all(i // 4 == j // 4)                      # block-diagonal: no synapse between copies
    np.testing.assert_allclose(np.asarray(fb.w[:] / unit), w[j % 4, i % 4])
    o2o = by_name["o2o"]
    assert np.array_equal(np.asarray(o2o.i[:]), np.asarray(o2o.j[:])) and len(o2o) == copies * 4
    np.testing.assert_allclose(np.asarray(o2o.w[:] / unit), np.tile(2.0 * np.diag(params["o2o"]), copies))


def test_unknown_neuron_model_has_no_builder(monkeypatch):
    # every neuron model of the description has a builder now (issue 18); without one the
    # lookup names the model and the ones it can lower
    pytest.importorskip("brian2")
    from neurosim.network import Layer
    from neurosim.spiking.builder import CircuitBuilder, build_circuit
    monkeypatch.delitem(CircuitBuilder.builders, "poisson_two_compartment")
    net = Network((Layer("input", 2, activation="linear", role="input", bias=False),
                   Layer("a", 3, activation="sigmoid", neuron="poisson_two_compartment", bias=False, role="output")),
                  (Projection("input", "a", target="basal"),))
    with pytest.raises(ConfigError, match="no spiking builder for neuron model 'poisson_two_compartment'"):
        build_circuit(net, init_params(net, seed=0), np.zeros((1, 2)), codegen_target="numpy")


@pytest.mark.spiking
def test_pc_fpa_circuit_lowered_by_the_builder_aligns_with_rate_pc():
    # The description (neurosim.circuits.pc_fpa_circuit) lowered by the generic builder, no
    # PC-specific brian2 code: its trial-averaged local update eps_l rho_{l-1}^T must align
    # with pc-fpa on the rate-equivalent network (= backprop) as simulate_pc's does
    # (test_spiking_pc: > 0.9 at 20 trials; simulate_pc measured 0.990).
    pytest.importorskip("brian2")
    import brian2
    from neurosim.alignment import cosine
    from neurosim.circuits import pc_fpa_circuit, pc_fpa_params
    from neurosim.spiking.builder import build_circuit
    from neurosim.spiking.predictive_coding import finite_nudge_updates
    h = 0.25
    net = Network.feedforward([8, 6, 3], activation="lif", output_activation="lif", bias_init=2.0, neuron="lif")
    params = init_params(net, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (4, 8)), rng.uniform(0.3, 0.9, (4, 3))
    circuit = pc_fpa_circuit(net, h)
    model = build_circuit(circuit, pc_fpa_params(circuit, params), x, t, n_trials=20, phases=(("run", 1.0),),
                          dt=0.1 * brian2.ms, phase=500 * brian2.ms, settle=100 * brian2.ms, seed=0,
                          codegen_target="numpy")
    rho = model.run().rho["run"]
    dw = {}
    for proj in net.chain():
        eps = (rho[f"{proj.post}:error+"] - rho[f"{proj.post}:error-"]) / (2 * h)
        pre = rho[proj.pre] if proj.pre in rho else np.broadcast_to(x, eps.shape[:2] + x.shape[1:])
        dw[proj.name] = np.einsum("kbi,kbj->ij", eps, pre) / (eps.shape[0] * eps.shape[1])
    ref = finite_nudge_updates(net, params, x, t, nudge=h)
    names = [p.name for p in net.chain()]
    flat = lambda d: np.concatenate([np.ravel(d[n]) for n in names])  # noqa: E731
    assert cosine(flat(dw), flat(ref)) > 0.9
    for n in names:
        assert cosine(dw[n].ravel(), ref[n].ravel()) > 0.9, n


def test_pc_fpa_circuit_is_a_checkable_description_without_brian2():
    # Oracle: the module docstring of neurosim.spiking.predictive_coding -- the error pair of
    # layer l reads W_l (copy), +-W_{l+1}^T/2 from the pair above; the output pair -+h one-to-one
    # from V_L and +-h t injected.
    code = ("from neurosim.circuits import pc_fpa_circuit; from neurosim.network import Network; "
            "c = pc_fpa_circuit(Network.feedforward([4, 5, 2], activation='lif'), 0.25); "
            "assert Network.from_toml(c.to_toml()) == c")
    assert not imports_brian2(code)
    from neurosim.circuits import pc_fpa_circuit, pc_fpa_params
    net = Network.feedforward([4, 5, 2], activation="lif")
    c = pc_fpa_circuit(net, 0.25)
    p = pc_fpa_params(c, init_params(net, seed=0))
    w1, w2 = p["input->hidden1"], p["hidden1->output"]
    for pop, s in (("error+", 1.0), ("error-", -1.0)):
        np.testing.assert_array_equal(weight(c, p, f"input->hidden1:{pop}"), w1)
        np.testing.assert_array_equal(weight(c, p, f"output->output:{pop}"), -s * 0.25 * np.eye(2))
        for src, s2 in (("error+", 1.0), ("error-", -1.0)):
            np.testing.assert_array_equal(weight(c, p, f"output:{src}->hidden1:{pop}"), 0.5 * s * s2 * w2.T)
        np.testing.assert_array_equal(p[f"hidden1:{pop}.bias"], p["hidden1.bias"])
    assert {(d.post, d.source, d.scale) for d in c.drives} == {("output:error+", "target", 0.25),
                                                              ("output:error-", "target", -0.25)}
    with pytest.raises(ConfigError, match="nudge"):
        pc_fpa_circuit(net, 0.0)

"""LIF neuron models in brian2 and their correspondence with the rate side.

Every simulated (non-input) layer is a population of leaky integrate-and-fire neurons
with exponential synaptic currents; voltages are measured from rest.  A point neuron
(``neuron = "lif"`` or ``"rate"``) obeys

.. math::
    \\tau_m \\dot v = -v + I_{soma} + V_{th}\\, b, \\qquad
    \\tau_s \\dot I_{syn} = -I_{syn}, \\qquad I_{syn} \\mathrel{+}= w \\text{ per presynaptic spike},

spikes when :math:`v > V_{th}`, resets to :math:`V_r` and stays there for :math:`t_{ref}`.
A two-compartment neuron (``"lif_two_compartment"``, ``"rate_two_compartment"``) adds
leaky basal and apical dendrites in the *same* ``NeuronGroup`` (brian2's
``SpatialNeuron`` cannot form populations):

.. math::
    \\tau_m \\dot v = -v + I_{soma} + g_B v_B + g_A v_A + V_{th} b, \\qquad
    \\tau_d \\dot v_B = -v_B + I_{basal}, \\qquad \\tau_d \\dot v_A = -v_A + I_{apical}

(Urbanczik & Senn 2014; Guerguiev, Lillicrap & Richards 2017 for a segregated apical
dendrite, :math:`g_A = 0` by default).  Each compartment ``c`` has its own synaptic
current :math:`I_c = I_{syn,c} + I_{ext,c}` (``I_ext`` is the injected input current).

Rate correspondence
-------------------
A rate of :math:`\\rho` in the rate network is :math:`\\rho \\cdot 100` Hz
(:data:`neurosim.neurons.RATE_SCALE_HZ`), and a weight :math:`W_{ij}` of the rate network
becomes the synaptic jump

.. math::  w_{ij} = \\frac{V_{th}\\, W_{ij}}{r_0\\, \\tau_s}, \\qquad r_0 = 100\\ \\mathrm{Hz},

so that a presynaptic train of rate :math:`r_j` gives a mean current
:math:`\\langle I_{syn}\\rangle = \\sum_j w_{ij} r_j \\tau_s = V_{th} \\sum_j W_{ij}\\rho_j`: the
mean drive in units of the threshold is exactly the rate network's potential
:math:`u_i = \\sum_j W_{ij}\\rho_j + b_i`.  With a steady drive the neuron fires at the LIF
f-I rate :func:`neurosim.neurons.lif_rate`, so the spiking network computes the rate
network whose activation is ``"lif"`` (:func:`rate_equivalent`) -- exactly for constant
currents, and up to the effect of synaptic shot noise for spiking inputs (noise lets a
neuron below threshold fire and smooths the kink; it shrinks as :math:`1/\\sqrt{\\tau_s r}`
per input).  Layers with another activation (tanh, relu...) are simulated with the same
mapping: their spiking version is the ``"lif"`` network, which is what the spiking
backend is compared with.  Near threshold the noise matters: ``rate_equivalent(network,
"soft_lif(sigma=...)")`` is the network of the noise-smoothed soft LIF
(:func:`neurosim.neurons.soft_lif_rate`), the one the neurons follow there.
"""
from __future__ import annotations

import dataclasses

import brian2
from brian2 import Hz, second, volt

from ..errors import ConfigError, unknown_name
from ..network import Network
from ..neurons import RATE_SCALE_HZ, LIFParameters, canonical_activation, get_activation

#: The rate unit as a brian2 quantity.
RATE_SCALE = RATE_SCALE_HZ * Hz

#: Neuron models the spiking backend builds, and the brian2 model each becomes.
SPIKING_MODELS = {"lif": "point", "rate": "point", "lif_two_compartment": "two_compartment",
                  "rate_two_compartment": "two_compartment"}


#: Integration method per model.  A point LIF is solved exactly (2 linear equations).  For
#: the two-compartment model brian2's symbolic exact solution of the 6 coupled equations
#: costs ~20 s of sympy per process; exponential Euler is exact for each equation given the
#: others over one step, so it is exact at steady state and O(dt) off during transients.
METHODS = {"point": "exact", "two_compartment": "exponential_euler"}


def compartments(kind: str) -> tuple[str, ...]:
    return ("soma",) if kind == "point" else ("soma", "basal", "apical")


def equations(kind: str, drives: dict[str, str | None] | None = None) -> brian2.Equations:
    """The brian2 equations of one population.

    Parameters
    ----------
    kind : {"point", "two_compartment"}
    drives : dict of compartment to str or None, optional
        The equation line defining ``I_drive_<compartment>`` (volts) for the
        :class:`~neurosim.network.Drive` currents of a circuit (the circuit builder writes
        it); it is added to that compartment's current.
    """
    drives = drives or {}
    lines = []
    soma_drive = "I_soma + I_bias"
    if kind == "two_compartment":
        soma_drive += " + g_basal * v_basal + g_apical * v_apical"
        lines += ["dv_basal/dt = (-v_basal + I_basal) / tau_dend : volt",
                  "dv_apical/dt = (-v_apical + I_apical) / tau_dend : volt"]
    lines.insert(0, f"dv/dt = (-v + {soma_drive}) / tau_m : volt (unless refractory)")
    for comp in compartments(kind):
        lines.append(f"dI_syn_{comp}/dt = -I_syn_{comp} / tau_syn : volt")
        if drives.get(comp):
            lines.append(drives[comp])
            lines.append(f"I_{comp} = I_syn_{comp} + I_drive_{comp} : volt")
        else:
            lines.append(f"I_{comp} = I_syn_{comp} : volt")
    lines.append("I_bias : volt")
    return brian2.Equations("\n".join(lines))


def reset_code(kind: str) -> str:
    """Code run at the start of every presentation: back to rest, no synaptic current, not refractory."""
    code = ["v = 0*volt", "lastspike = -1e4*second", "not_refractory = True"]
    for comp in compartments(kind):
        code.append(f"I_syn_{comp} = 0*volt")
    if kind == "two_compartment":
        code += ["v_basal = 0*volt", "v_apical = 0*volt"]
    return "\n".join(code)


def namespace(lif: LIFParameters) -> dict:
    """The constants of one population, with units attached (the one place units enter)."""
    return {"tau_m": lif.tau_m * second, "t_ref": lif.t_ref * second, "v_th": lif.v_threshold * volt,
            "v_reset": lif.v_reset * volt, "tau_syn": lif.tau_syn * second, "tau_dend": lif.tau_dend * second,
            "g_basal": lif.g_basal, "g_apical": lif.g_apical}


def model_kind(layer) -> str:
    """``"point"`` or ``"two_compartment"`` for a layer's neuron model (error if it cannot be built)."""
    if layer.neuron not in SPIKING_MODELS:
        raise unknown_name(f"neuron model of layer '{layer.name}' for the spiking backend", layer.neuron,
                           SPIKING_MODELS)
    return SPIKING_MODELS[layer.neuron]


def synaptic_scale(post_lif: LIFParameters) -> float:
    """Volts of synaptic jump per unit of rate-network weight: :math:`V_{th} / (r_0 \\tau_s)`."""
    return post_lif.v_threshold / (RATE_SCALE_HZ * post_lif.tau_syn)


def coupling(lif: LIFParameters, kind: str, target: str) -> float:
    """Steady-state gain from a compartment's mean current to the somatic drive."""
    if kind == "point" or target == "soma":
        return 1.0
    return lif.g_basal if target == "basal" else lif.g_apical


#: Rate models of a LIF population: the hard f-I curve and its noise-smoothed form.
RATE_MODELS = ("lif", "soft_lif")


def rate_equivalent(network: Network, activation: str = "lif") -> Network:
    """The rate network a spiking simulation of ``network`` computes (see the module docstring).

    Every non-input layer gets ``activation``; everything else (names, weights' keys, loss)
    is unchanged, so the same ``params`` fit both.

    Parameters
    ----------
    network : Network
    activation : str
        ``"lif"`` (default): the deterministic f-I curve :func:`~neurosim.neurons.lif_rate`, what
        a LIF fires under a constant current.  ``"soft_lif(sigma=...)"``: the f-I curve smoothed
        by a width ``sigma`` (threshold units, :func:`~neurosim.neurons.soft_lif_rate`), what
        it fires on average under the shot noise of spiking inputs, which lets it fire below
        threshold and keeps the slope finite there (fit ``sigma`` with
        :func:`~neurosim.spiking.plasticity.fit_soft_lif_sigma`).

    Raises
    ------
    ConfigError
        If ``activation`` is not a LIF rate model (:data:`RATE_MODELS`).
        If a layer's LIF parameters differ from the defaults the ``"lif"`` activation uses
        (``tau_m``, ``t_ref``, ``v_reset``), or a feedforward projection lands on a
        dendrite whose coupling to the soma is not 1 (the rate reference sums every
        feedforward input with gain 1).
    """
    if get_activation(activation).name.split("(")[0] not in RATE_MODELS:
        raise ConfigError(f"rate_equivalent: activation {activation!r} is not a LIF rate model; choose 'lif' or "
                          "'soft_lif(sigma=<width in threshold units>)'")
    activation = canonical_activation(activation)
    default = LIFParameters()
    layers = []
    for layer in network.layers:
        if layer.role == "input":
            layers.append(layer)
            continue
        kind = model_kind(layer)
        lif = LIFParameters.from_layer(layer)
        for key in ("tau_m", "t_ref", "v_reset"):
            if getattr(lif, key) != getattr(default, key):
                raise ConfigError(f"Layer '{layer.name}'.params.{key}: the rate-equivalent 'lif' activation "
                                  f"assumes {key} = {getattr(default, key)!r}, got {getattr(lif, key)!r}; "
                                  "remove it from the layer params to compare with the rate side")
        for proj in network.select("feedforward", post=layer.name):
            gain = coupling(lif, kind, proj.target)
            if gain != 1.0:
                raise ConfigError(f"Projection '{proj.name}'.target: it lands on the {proj.target} dendrite "
                                  f"of '{layer.name}', whose coupling to the soma is g_{proj.target} = {gain!r}; "
                                  f"the rate reference needs 1 (set params.g_{proj.target} = 1.0 or target "
                                  "'soma')")
        layers.append(dataclasses.replace(layer, activation=activation))
    return network.replace(layers=tuple(layers))


def default_network(sizes, *, bias_init: float = 2.0, loss: str = "mse", name: str = "lif-mlp") -> Network:
    """A feed-forward chain of default LIF layers that fires from the start.

    Spiking rules read rates out of spike counts, so a silent unit carries no error:
    ``bias_init = 2`` puts every unit's mean drive at twice threshold (about 63 Hz before
    the weighted input), away from the threshold where the f-I curve's slope diverges
    and spiking updates lose their alignment (see the README's known limitations).
    """
    return Network.feedforward(list(sizes), activation="lif", output_activation="lif", loss=loss,
                               bias_init=bias_init, name=name)

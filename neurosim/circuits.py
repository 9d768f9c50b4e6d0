"""Spiking circuits as descriptions: pure ``Network -> Network`` transforms (no brian2).

A spiking family is a circuit transform plus a read-out of updates (issue 18): the
transform adds the populations, ties, one-to-one synapses and injected currents
(:class:`~neurosim.network.Drive`) of the family's circuit to a plain network, so the
circuit can be printed (``circuit.summary()``), saved as TOML and checked without brian2;
:func:`neurosim.spiking.builder.build_circuit` lowers it to brian2.

* :func:`ep_circuit`: equilibrium propagation's nudge as two gated drives on the output
  (:mod:`neurosim.spiking.equilibrium`).
* :func:`pc_fpa_circuit`: predictive coding's value and error populations
  (:mod:`neurosim.spiking.predictive_coding`).
* :func:`urbanczik_senn_circuit`: Urbanczik & Senn's (2014) teacher task, a teacher
  population nudging the students' somata (:mod:`neurosim.spiking.dendritic`).
* :func:`spiking_microcircuit_circuit`: Sacramento et al.'s (2018) microcircuit with
  Poisson-spiking two-compartment neurons (:mod:`neurosim.spiking.dendritic`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .energy import layered_energy
from .errors import ConfigError
from .network import Drive, Network, Projection
from .params import bias_key
from .validation import check

#: Suffixes of predictive coding's error populations.
ERROR_POPULATIONS = (("error+", 1.0), ("error-", -1.0))


def ep_circuit(network: Network, *, tau_trace: float = 0.1) -> Network:
    """The spiking EP circuit: the energy network plus the output's nudge as two gated drives.

    .. math::  I_{nudge} = \\beta(t)\\,(t_{\\text{target}} - \\hat\\rho_L)\\,V_{th}

    is a ``target`` drive (scale +1) and a ``rate`` drive (scale -1, trace time constant
    ``tau_trace`` seconds) on the output layer, both gated by the phase gain
    :math:`\\beta(t)` (Scellier & Bengio 2017; :mod:`neurosim.spiking.equilibrium`).  The
    symmetric feedback :math:`W^\\top` is the network's own ``tied_to`` projections
    (``get_rule("ep").network``), lowered like any projection.
    """
    top = layered_energy(network).layers[-1].name
    return network.add(Drive(top, source="target", scale=1.0, gated=True, name="ep:target"),
                       Drive(top, source="rate", scale=-1.0, gated=True, tau=tau_trace, name="ep:trace"))


def pc_fpa_circuit(network: Network, nudge: float) -> Network:
    """Predictive coding (fixed prediction) as populations: value :math:`V_l`, error pair :math:`E_l^\\pm`.

    For the chain ``input -> 1 -> ... -> L`` with weights :math:`W_l` (the module docstring of
    :mod:`neurosim.spiking.predictive_coding` derives the rates):

    * ``l:error+`` and ``l:error-`` receive the prediction :math:`W_l\\rho_{l-1}` from the
      value population below: a ``tie = "copy"`` of :math:`W_l` (and the same bias,
      :func:`pc_fpa_params`);
    * hidden error pairs receive :math:`\\pm W_{l+1}^\\top/2` from ``l+1:error+`` and
      :math:`\\mp W_{l+1}^\\top/2` from ``l+1:error-`` (transposed ties, ``scale = +-0.5``),
      a drive :math:`\\pm h\\,W_{l+1}^\\top\\varepsilon_{l+1}`;
    * the output error pair receives :math:`\\mp h` one-to-one from :math:`V_L`
      (``connectivity = "one_to_one"``, ``init = "identity"``, fixed) and the target current
      :math:`\\pm h\\,t` (a ``target`` drive): :math:`\\pm h\\,(t - \\rho_L)`.

    Then :math:`\\varepsilon_l = (\\rho(E_l^+) - \\rho(E_l^-))/2h = \\phi'(u_l)\\odot g_l + O(h^2)`
    (Whittington & Bogacz 2017; Millidge, Tschantz & Buckley 2022).

    Parameters
    ----------
    network : Network
        A feed-forward chain, ``mse`` loss.
    nudge : float
        :math:`h > 0` in threshold units.
    """
    h = float(check("pc_fpa_circuit", "nudge", nudge, gt=0))
    if network.loss != "mse":
        raise ConfigError(f"pc_fpa_circuit: network '{network.name}'.loss is '{network.loss}'; the error pair "
                          "carries t - rho_L, the squared-error cost; use loss = 'mse'")
    chain = network.chain()
    items: list = []
    for l, proj in enumerate(chain):
        value = network.layer(proj.post)
        for pop, sign in ERROR_POPULATIONS:
            err = f"{value.name}:{pop}"
            items.append(dataclasses.replace(value, name=err, role="error", params=value.params))
            items.append(Projection(proj.pre, err, name=f"{proj.name}:{pop}", tied_to=proj.name, tie="copy",
                                    plastic=False))
            if l + 1 < len(chain):   # top-down from the error pair above: +-W^T/2
                above = chain[l + 1]
                for src, src_sign in ERROR_POPULATIONS:
                    items.append(Projection(f"{above.post}:{src}", err, name=f"{above.post}:{src}->{err}",
                                            kind="feedback", tied_to=above.name, scale=0.5 * sign * src_sign,
                                            plastic=False))
            else:                    # output: -+h one-to-one from V_L, +-h t injected
                items.append(Projection(value.name, err, name=f"{value.name}->{err}", kind="lateral",
                                        connectivity="one_to_one", init="identity", scale=-sign * h,
                                        plastic=False))
                items.append(Drive(err, source="target", scale=sign * h, name=f"target->{err}"))
    return network.add(*items).replace(name=f"{network.name}:pc-fpa")


def pc_fpa_params(circuit: Network, params: dict) -> dict:
    """The circuit's params from the chain's: error populations share their value layer's bias.

    The one-to-one ``V_L -> E_L^pm`` weights are the identity (their ``scale`` is the nudge).
    """
    out = dict(params)
    for layer in circuit.layers:
        if layer.role == "error" and layer.bias:
            out[bias_key(layer.name)] = np.asarray(params[bias_key(layer.name.rsplit(":", 1)[0])])
    for proj in circuit.projections:
        if proj.connectivity == "one_to_one" and proj.tied_to is None and proj.name not in out:
            out[proj.name] = np.eye(circuit.layer(proj.post).size)
    return out


def urbanczik_senn_circuit(network: Network, *, teacher: str = "teacher") -> Network:
    """Urbanczik & Senn's (2014) teacher task around a one-projection student network.

    ``network`` is ``input -> student`` with an ``urbanczik_senn`` student layer whose
    feed-forward projection lands on its dendrite (``target = "basal"``).  The transform adds a
    teacher layer of the same neurons without somatic input (``g_som = 0``), the teacher's own
    fixed dendritic weights :math:`w^*` (``input->teacher``) and a fixed one-to-one identity
    projection ``teacher->student`` onto the students' somata, which carries the teacher's
    potential :math:`U^*` (the builder lowers it to the nudging conductances
    :math:`g_E(E_E - U) + g_I(E_I - U) = g_{som}(U^* - U)`,
    :class:`~neurosim.neurons.UrbanczikSennParameters`).

    Parameters
    ----------
    network : Network
        ``input -> student``, the student layer ``neuron = "urbanczik_senn"``.
    teacher : str
        Name of the teacher layer.
    """
    chain = network.chain()
    if len(chain) != 1 or chain[0].target != "basal":
        raise ConfigError(f"urbanczik_senn_circuit: network '{network.name}' expected one projection input -> "
                          f"student onto the student's 'basal' dendrite, got {[p.name for p in chain]}")
    student = network.layer(chain[0].post)
    if student.neuron != "urbanczik_senn":
        raise ConfigError(f"urbanczik_senn_circuit: layer '{student.name}'.neuron is '{student.neuron}'; use "
                          "'urbanczik_senn'")
    params = dict(student.params)
    params["g_som"] = 0.0
    taught = dataclasses.replace(student, name=teacher, role="hidden", params=tuple(sorted(params.items())))
    return network.add(taught,
                       Projection(chain[0].pre, teacher, target="basal", plastic=False),
                       Projection(teacher, student.name, kind="feedback", target="soma", init="identity",
                                  connectivity="one_to_one", plastic=False))


def spiking_microcircuit_circuit(network: Network, rule, *, r_max: float = 200.0, tau_psi: float = 0.020,
                                 tau: float = 0.005) -> Network:
    """The rate microcircuit of ``rule`` as Poisson-spiking two-compartment neurons (Sacramento et al. 2018).

    Every pyramidal layer and interneuron becomes ``neuron = "poisson_two_compartment"``
    (:class:`~neurosim.neurons.PoissonTwoCompartmentParameters`) with the rule's constants
    (:class:`~neurosim.rules.dendritic.Microcircuit`, mse loss):

    .. math::
        \\tau\\dot u_l = -u_l + \\hat v_{B,l} + a\\,v_{A,l}, \\qquad
        \\tau\\dot u_N = -u_N + \\hat v_{B,N} - \\lambda\\,g\\,(\\phi(\\hat v_{B,N}) - t), \\qquad
        \\tau\\dot u^I_l = -u^I_l + (1-\\lambda_I)\\hat v^I_l + \\lambda_I u_{l+1}:

    hidden pyramidal layers ``g_apical = a``; the output ``nudging = lambda`` plus a gated
    ``target`` drive of scale :math:`\\lambda` (``microcircuit:teacher``; gain :math:`g` 1 in the
    nudged phase, 0 in the free one); interneurons ``g_basal = 1 - lambda_I`` plus a fixed
    one-to-one identity projection ``<upper>-><inter>:nudge`` of scale :math:`\\lambda_I` onto their
    soma, which carries the upper layer's potential :math:`u_{l+1}` (:func:`spiking_microcircuit_params`
    adds its weights).  Every other signal travels as spikes through presynaptic traces.

    Parameters
    ----------
    network : Network
        ``rule.network(...)``: the rate microcircuit (sigmoid layers, mse).
    rule : Microcircuit
    r_max, tau_psi, tau : float
        Maximum rate (Hz), trace and somatic time constants (s).
    """
    chain, stages = rule._circuit(network)
    if network.loss != "mse":
        raise ConfigError(f"spiking_microcircuit_circuit: network '{network.name}'.loss is '{network.loss}'; the "
                          "spiking teacher implements mse (u_tgt = v_B - lambda (phi(v_B) - t)); use loss = 'mse'")
    common = {"r_max": float(r_max), "tau_psi": float(tau_psi), "tau": float(tau)}
    specific = {p.post: {"g_apical": rule.apical_coupling} for p in chain[:-1]}
    specific[chain[-1].post] = {"nudging": rule.nudging}
    specific.update({s.inter: {"g_basal": 1.0 - rule.inter_nudging} for s in stages})
    layers = tuple(layer if layer.name not in specific else dataclasses.replace(
        layer, neuron="poisson_two_compartment",
        params=tuple(sorted({**dict(layer.params), **common, **specific[layer.name]}.items())))
        for layer in network.layers)
    added: list = []
    if rule.inter_nudging > 0:
        added += [Projection(s.upper, s.inter, name=f"{s.upper}->{s.inter}:nudge", kind="lateral", target="soma",
                             init="identity", connectivity="one_to_one", plastic=False, scale=rule.inter_nudging)
                  for s in stages]
    if rule.nudging > 0:
        added.append(Drive(chain[-1].post, source="target", scale=rule.nudging, gated=True, target="soma",
                           name="microcircuit:teacher"))
    return network.replace(layers=layers).add(*added)


def spiking_microcircuit_params(circuit: Network, params: dict) -> dict:
    """``params`` plus the identity weights of the interneurons' one-to-one nudging projections."""
    out = dict(params)
    for proj in circuit.projections:
        if proj.name.endswith(":nudge") and proj.connectivity == "one_to_one":
            out[proj.name] = np.eye(circuit.layer(proj.post).size)
    return out


__all__ = ["ERROR_POPULATIONS", "ep_circuit", "pc_fpa_circuit", "pc_fpa_params", "spiking_microcircuit_circuit",
           "spiking_microcircuit_params", "urbanczik_senn_circuit"]

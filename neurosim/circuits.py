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
* :func:`burstprop_circuit`: burstprop's bursting ensembles, event / burst pathways and the
  teacher's apical drive (:mod:`neurosim.spiking.burstprop`).
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


def burstprop_circuit(network: Network, *, nudging: float, p_baseline: float = 0.2, apical_gain: float = 1.0,
                      burst_delay: float = 0.002, tau_trace: float = 0.1) -> Network:
    """Burstprop (Payeur et al. 2021) as bursting ensembles: a ``Network -> Network`` transform.

    ``network`` is a dense chain with burstprop's feedback (``get_rule("burstprop").network``:
    ``<up>-><pyr>:burst`` = :math:`Y`, ``<up>-><pyr>:event`` = :math:`Z`, both onto the apical
    compartment).  The circuit

    * makes every non-input layer of the chain a ``burst_lif`` neuron, its basal (feed-forward)
      input on the soma (somatic LIF; each somatic
      spike, an *event*, becomes a burst with probability :math:`\\sigma(\\beta u_A + \\alpha)`,
      :class:`~neurosim.neurons.BurstParameters` with :math:`\\bar p_0` = ``p_baseline``,
      :math:`\\beta` = ``apical_gain``);
    * sends events forward (``transmits = "events"``: an idealised short-term depressing
      synapse), bursts back through :math:`Y` (``"bursts"``: idealised facilitation) and events
      back through :math:`Z` with ``scale = -1`` (disynaptic inhibition), so the mean apical
      potential is :math:`u_l = Y_l b_{l+1} - Z_l e_{l+1}` (threshold units), with burst rate
      :math:`b = p\\,e`;
    * gives the output's apical compartment the teacher current
      :math:`c\\,g(t)\\,(t_{target} - \\hat e_N)`, a ``target`` and a ``rate`` drive (trace time
      constant ``tau_trace`` s) gated by the phase gain :math:`g`, with
      :math:`c = \\lambda / (\\beta\\bar p_0(1-\\bar p_0))` so that, linearised,
      :math:`p_N = \\bar p_0 + \\lambda(t - e_N)`: the rate rule's output burst probability
      :math:`\\bar p_0 - \\lambda\\,\\partial L/\\partial e_N` for the squared error and
      ``dendritic_gain = "one"``.

    Parameters
    ----------
    network : Network
        A dense chain with ``:burst`` / ``:event`` feedback, ``mse`` loss.
    nudging : float
        :math:`\\lambda > 0`.
    p_baseline, apical_gain, burst_delay : float
        The burst mechanism (:class:`~neurosim.neurons.BurstParameters`).
    tau_trace : float
        Seconds, the output's event-rate trace in the teacher current.
    """
    owner = "burstprop_circuit"
    lam = float(check(owner, "nudging", nudging, gt=0))
    p0 = float(check(owner, "p_baseline", p_baseline, gt=0, lt=1))
    beta = float(check(owner, "apical_gain", apical_gain, gt=0))
    if network.loss != "mse":
        raise ConfigError(f"{owner}: network '{network.name}'.loss is '{network.loss}'; the teacher current carries "
                          "t - e_N, the squared-error cost; use loss = 'mse'")
    chain = network.chain()
    for proj in chain:
        if proj.operation != "dense":
            raise ConfigError(f"{owner}: projection '{proj.name}' is {proj.operation}; the spiking circuit is "
                              "built for dense chains")
    bursting = {p.post for p in chain}
    burst_params = {"burst_baseline": p0, "burst_gain": beta, "burst_delay": float(burst_delay)}
    layers = tuple(dataclasses.replace(layer, neuron="burst_lif", params={**dict(layer.params), **burst_params})
                   if layer.name in bursting else layer for layer in network.layers)
    feedback = {}
    for proj in chain:
        if proj.pre in bursting:
            for suffix in ("burst", "event"):
                name = f"{proj.post}->{proj.pre}:{suffix}"
                if not network.has_projection(name):
                    raise ConfigError(f"{owner}: network '{network.name}' has no projection '{name}'; build it with "
                                      "get_rule('burstprop').network(network)")
                feedback[name] = suffix
    projections = []
    for proj in network.projections:
        if proj.name in feedback:
            bursts = feedback[proj.name] == "burst"
            proj = dataclasses.replace(proj, transmits="bursts" if bursts else "events",
                                       scale=proj.scale if bursts else -proj.scale)
        elif proj in chain:   # basal input (burstprop_network's) lands on the soma: g_B = 1 at steady state
            proj = dataclasses.replace(proj, target="soma" if proj.target == "basal" else proj.target,
                                       transmits="events" if proj.pre in bursting else proj.transmits)
        projections.append(proj)
    out = chain[-1].post
    c = lam / (beta * p0 * (1.0 - p0))
    drives = (Drive(out, source="target", scale=c, target="apical", gated=True, name="burstprop:target"),
              Drive(out, source="rate", scale=-c, target="apical", gated=True, tau=tau_trace,
                    name="burstprop:trace"))
    return network.replace(layers=layers, projections=tuple(projections),
                           drives=tuple(network.drives) + drives, name=f"{network.name}:burstprop")


__all__ = ["ERROR_POPULATIONS", "burstprop_circuit", "ep_circuit", "pc_fpa_circuit", "pc_fpa_params"]

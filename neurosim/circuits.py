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


__all__ = ["ERROR_POPULATIONS", "ep_circuit", "pc_fpa_circuit", "pc_fpa_params"]

"""Spiking circuits as descriptions: pure ``Network -> Network`` transforms (no brian2).

A spiking family is a circuit transform plus a read-out of updates (issue 18): the
transform adds the populations, ties, one-to-one synapses and injected currents
(:class:`~neurosim.network.Drive`) of the family's circuit to a plain network, so the
circuit can be printed (``circuit.summary()``), saved as TOML and checked without brian2;
:func:`neurosim.spiking.builder.build_circuit` lowers it to brian2.

* :func:`ep_circuit`: equilibrium propagation's nudge as two gated drives on the output
  (:mod:`neurosim.spiking.equilibrium`).
* :func:`pc_fpa_circuit`: predictive coding's value and error populations
  (:mod:`neurosim.spiking.predictive_coding`); :func:`pc_fpa_updates` reads its local
  update out of the populations' rates.
* :func:`burstprop_circuit`: burstprop's bursting ensembles, event / burst pathways and the
  teacher's apical drive (:mod:`neurosim.spiking.burstprop`).
* :func:`urbanczik_senn_circuit`: Urbanczik & Senn's (2014) teacher task, a teacher
  population nudging the students' somata (:mod:`neurosim.spiking.dendritic`).
* :func:`spiking_microcircuit_circuit`: Sacramento et al.'s (2018) microcircuit with
  Poisson-spiking two-compartment neurons (:mod:`neurosim.spiking.dendritic`).

The rate side evaluates the same description: :func:`circuit_rates` runs a loop-free
circuit as a rate network (every population fires at its activation of its summed drive),
so a spiking family's update and its rate-equivalent come from one description and one
read-out.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import conv
from .energy import layered_energy
from .errors import ConfigError, ShapeError
from .network import KINDS, Drive, Network, Projection
from .neurons import get_activation
from .params import bias_key, check_params, weight
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


def circuit_rates(circuit: Network, params: dict, x, target=None, *, gain: float = 1.0,
                  kinds: tuple = KINDS) -> dict:
    """The rates of a loop-free circuit description evaluated as a rate network (no spikes).

    Every layer :math:`k` (in the order of the projection graph) fires at its activation
    :math:`\\phi_k` of its summed drive

    .. math::  u_k = \\sum_{p:\\,\\text{post}(p)=k} W_p\\,\\rho_{\\text{pre}(p)} + b_k
               + \\sum_{d:\\,\\text{post}(d)=k} g_d\\, s_d\\, y_d, \\qquad \\rho_k = \\phi_k(u_k),

    with :math:`W_p` the effective weight (:func:`neurosim.params.weight`: tie, signed
    ``scale``, ``one_to_one``), every compartment summed with gain 1, and a drive's source
    :math:`y_d` the target (``"target"``) or 1 (``"constant"``), times ``gain`` when it is
    ``gated``.  On :func:`neurosim.spiking.rate_equivalent` ``(circuit)`` (activation
    ``"lif"``) these are the rates the spiking populations of
    :func:`neurosim.spiking.builder.build_circuit` approach as shot and count noise vanish
    (the ``"lif"`` f-I curve, :mod:`neurosim.spiking.lif`).

    Parameters
    ----------
    circuit : Network
        A circuit description (:func:`pc_fpa_circuit`); its projection graph must be loop-free.
    params : dict
        Its weights and biases (:func:`pc_fpa_params`).
    x : ndarray (batch, n_input)
        Input rates.
    target : ndarray (batch, n), optional
        Read by ``source = "target"`` drives.
    gain : float
        The phase gain of ``gated`` drives.
    kinds : tuple of str
        Projection kinds that carry drive (as :func:`~neurosim.spiking.builder.build_circuit`).

    Returns
    -------
    dict of str to ndarray (batch, size)
        Every layer's rate, the input's being ``x``.

    Raises
    ------
    ConfigError
        A loop in the projection graph or a ``"rate"`` drive (its rate feeds itself back: a
        fixed point, not one pass); a target drive without ``target``.
    ShapeError
        ``params`` or ``x`` that do not fit.
    """
    check_params(circuit, params)
    x = np.asarray(x, dtype=np.float64)
    inp = circuit.input_layer
    if x.ndim != 2 or x.shape[1] != inp.size:
        raise ShapeError(f"circuit_rates: x expected shape (batch, {inp.size}), got {x.shape}")
    projections = [p for p in circuit.projections if p.kind in kinds]
    incoming = {layer.name: [p for p in projections if p.post == layer.name] for layer in circuit.layers}
    rho = {inp.name: x}
    pending = [layer for layer in circuit.layers if layer.name != inp.name]
    while pending:
        ready = [layer for layer in pending if all(p.pre in rho for p in incoming[layer.name])]
        if not ready:
            raise ConfigError(f"circuit_rates: circuit '{circuit.name}' has a loop through layers "
                              f"{', '.join(layer.name for layer in pending)}; its rates are a fixed point, "
                              "which this one-pass evaluation does not compute")
        for layer in ready:
            u = np.zeros((x.shape[0], layer.size))
            for proj in incoming[layer.name]:
                u = u + conv.drive(circuit, proj, weight(circuit, params, proj), rho[proj.pre])
            if layer.bias:
                u = u + params[bias_key(layer.name)]
            for drive in (d for d in circuit.drives if d.post == layer.name):
                u = u + (gain if drive.gated else 1.0) * drive.scale * _drive_source(drive, layer, target)
            rho[layer.name] = get_activation(layer.activation)(u)
        pending = [layer for layer in pending if layer.name not in rho]
    return rho


def _drive_source(drive: Drive, layer, target):
    if drive.source == "constant":
        return 1.0
    if drive.source == "rate":
        raise ConfigError(f"circuit_rates: Drive '{drive.name}' feeds layer '{layer.name}' its own rate back (a "
                          "fixed point, not one pass); evaluate this circuit with its spiking simulation")
    t = None if target is None else np.asarray(target, dtype=np.float64)
    if t is None or t.ndim != 2 or t.shape[1] != layer.size:
        raise ConfigError(f"circuit_rates: Drive '{drive.name}' reads the target, expected shape (batch, "
                          f"{layer.size}), got {None if t is None else t.shape}")
    return t


def pc_fpa_nudge(circuit: Network) -> float:
    """:math:`h` of a :func:`pc_fpa_circuit`: the scale of its target drive onto ``L:error+``."""
    for drive in circuit.drives:
        if drive.source == "target" and drive.post.endswith(":error+"):
            return drive.scale
    raise ConfigError(f"pc_fpa_nudge: network '{circuit.name}' has no target drive onto an ':error+' population; "
                      "build the circuit with pc_fpa_circuit(network, nudge)")


def pc_fpa_updates(circuit: Network, rho: dict) -> dict:
    """Predictive coding's local update read out of a :func:`pc_fpa_circuit`'s rates.

    .. math::  \\varepsilon_l = \\frac{\\rho(E_l^+) - \\rho(E_l^-)}{2h}, \\qquad
               \\Delta W_l = \\frac1B\\sum_n \\varepsilon_{l,n}\\,\\rho_{l-1,n}^\\top, \\qquad
               \\Delta b_l = \\frac1B\\sum_n \\varepsilon_{l,n},

    with :math:`h` read from the circuit (:func:`pc_fpa_nudge`) and :math:`\\rho_{l-1}` the rate
    of the population the error pair's prediction copy comes from (Whittington & Bogacz
    2017).  One read-out for both sides: spike-count rates of
    :class:`~neurosim.spiking.builder.CircuitActivity` (leading trial axis) and the rates of
    :func:`circuit_rates`.

    Parameters
    ----------
    circuit : Network
        :func:`pc_fpa_circuit` ``(network, nudge)``.
    rho : dict of str to ndarray (..., batch, size)
        Rates by circuit layer name.

    Returns
    -------
    dict of str to ndarray (..., *param.shape)
        Keyed like the chain's params (a tied chain projection updates its owner, transposed).
    """
    h = pc_fpa_nudge(circuit)
    out: dict = {}
    for proj in circuit.projections:
        if proj.tie != "copy" or not proj.post.endswith(":error+") or circuit.layer(proj.post).role != "error":
            continue
        value = proj.post[:-len(":error+")]
        eps = (rho[proj.post] - rho[f"{value}:error-"]) / (2.0 * h)
        pre = rho[proj.pre]
        g = np.einsum("...bi,...bj->...ij", eps, pre) / eps.shape[-2]
        chain = circuit.projection(proj.tied_to)
        key = chain.name if chain.tied_to is None else chain.tied_to
        if chain.tied_to is not None:
            g = np.swapaxes(g, -1, -2)
        out[key] = out[key] + g if key in out else g
        if circuit.layer(value).bias:
            out[bias_key(value)] = eps.mean(axis=-2)
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


__all__ = ["ERROR_POPULATIONS", "burstprop_circuit", "circuit_rates", "ep_circuit", "pc_fpa_circuit", "pc_fpa_nudge",
           "pc_fpa_params", "pc_fpa_updates", "spiking_microcircuit_circuit", "spiking_microcircuit_params",
           "urbanczik_senn_circuit"]

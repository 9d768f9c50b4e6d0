"""Two-compartment pyramidal neurons: the dendritic cortical microcircuit and burstprop (rate).

Both rules keep the reference's feed-forward pathway -- the basal (bottom-up) drive of
pyramidal layer ``l`` is the reference potential :math:`\\hat v_{B,l} = W_l r_{l-1} + b_l`
(:mod:`neurosim.reference`) -- and carry the error top-down into a separate *apical*
compartment, so that a purely local plasticity rule at the basal synapses approximates
backprop.  Every population and projection lives in the shared
:class:`~neurosim.network.Network`; :meth:`Microcircuit.network` / :meth:`Burstprop.network`
add what is missing (interneurons, apical feedback) to a plain feed-forward chain.

Dendritic cortical microcircuit (``microcircuit``)
--------------------------------------------------
Sacramento, Costa, Bengio & Senn (2018).  Pyramidal layer ``l = 1..N`` (``N`` = output) and,
for every hidden layer, an SST-like interneuron population ``I_l`` with one unit per
pyramidal neuron of layer ``l+1``.  Conductances: leak :math:`g_{lk}`, basal :math:`g_B`,
apical :math:`g_A`, interneuron dendrite :math:`g_D`, somatic nudging :math:`g_{som}`.
The steady state of the somatic dynamics
:math:`\\dot u = -g_{lk}u + g_B(v_B-u) + g_A(v_A-u) + i_{som}` is

.. math::
   u_l = \\hat v_{B,l} + a\\,v_{A,l}, \\qquad
   v_{A,l} = B_l\\,r_{l+1} + W^{PI}_l\\,r^I_l, \\qquad
   a = \\frac{g_A}{g_{lk}+g_B+g_A},

with :math:`r = \\phi(u)`.  We parametrise the basal synapses by their *effective* weights
:math:`W_l = \\frac{g_B}{g_{lk}+g_B+g_A}W^{PP}_l` (output: :math:`\\frac{g_B}{g_{lk}+g_B}`),
so :math:`\\hat v_{B,l}` -- the paper's dendritic prediction of the somatic potential -- is
exactly the reference's feed-forward potential.  Interneurons (dendritic prediction
:math:`\\hat v^I_l = W^{IP}_l r_l + b^I_l`, likewise effective weights) are nudged towards
the pyramidal neurons of the layer above,

.. math::  u^I_l = (1-\\lambda_I)\\,\\hat v^I_l + \\lambda_I\\,u_{l+1}, \\qquad
           \\lambda_I = \\frac{g_{som}}{g_{lk}+g_D+g_{som}},

and the output layer (no apical input) is nudged by the teacher,

.. math::  u_N = (1-\\lambda)\\,\\hat v_{B,N} + \\lambda\\,u^{tgt}_N, \\qquad
           \\lambda = \\frac{g_{som}}{g_{lk}+g_B+g_{som}}, \\qquad
           u^{tgt}_N = \\hat v_{B,N} - \\frac{\\partial L}{\\partial r_N}\\Big|_{r_N=\\phi(\\hat v_{B,N})},

i.e. :math:`u_N = \\hat v_{B,N} - \\lambda\\,\\partial L/\\partial r_N`.  For a linear output and
``mse`` :math:`u^{tgt}_N = t`, the paper's teacher; for other losses the teacher pushes the
soma down the loss gradient (``cross_entropy``: :math:`t - \\mathrm{softmax}(r_N)`).

Plasticity (Urbanczik & Senn 2014: the dendrite learns to predict somatic activity):

.. math::
   \\Delta W_l \\propto \\big(\\phi(u_l) - \\phi(\\hat v_{B,l})\\big)\\,r_{l-1}^\\top, \\quad
   \\Delta W^{IP}_l \\propto \\big(\\phi(u^I_l) - \\phi(\\hat v^I_l)\\big)\\,r_l^\\top, \\quad
   \\Delta W^{PI}_l \\propto -\\,v_{A,l}\\,(r^I_l)^\\top

(and the same error terms for the biases).  Top-down weights :math:`B_l` are fixed: random
(feedback-alignment-like), or ``tied_to`` the forward weights (:math:`B_l = W_{l+1}^\\top`).

*Self-predicting state*: :math:`W^{IP}_l = W_{l+1}`, :math:`b^I_l = b_{l+1}`,
:math:`W^{PI}_l = -B_l` (:func:`self_predicting_params`).  Without a teacher the interneurons
then reproduce :math:`r_{l+1}` exactly, every apical potential is 0 and the circuit computes
the feed-forward pass.  The lateral plasticity above drives a random circuit towards it.
With a teacher, to first order in :math:`\\lambda` (derived in the tests' docstring),

.. math::  \\phi'(\\hat v_{B,l}) \\odot v_{A,l} = -\\lambda(1-\\lambda_I)^{N-l}a^{N-l-1}\\,\\delta_l,
           \\qquad
           \\phi(u_l) - \\phi(\\hat v_{B,l}) = -s_l\\,\\delta_l, \\quad s_l = \\lambda\\,[a(1-\\lambda_I)]^{N-l},

where :math:`\\delta_l` is backprop's :math:`\\partial L/\\partial u_l` when :math:`B_l = W_{l+1}^\\top`,
and feedback alignment's error with fixed random :math:`B_l`.  The rule returns the basal
updates divided by :math:`s_l` (per-layer learning rates, as the paper also tunes per
layer), so that :math:`\\Delta W_l \\to -\\partial L/\\partial W_l` as :math:`\\lambda\\to 0`.

Burstprop (``burstprop``)
-------------------------
Payeur, Guerguiev, Zenke, Richards & Naud (2021), the ensemble (rate) form.  Layer ``l`` has
an *event rate* :math:`e_l = \\phi(v_l)`, :math:`v_l = W_l e_{l-1} + b_l` (apical input does
not change it: the feed-forward pass is the reference's), and a *burst probability*

.. math::  p_l = \\sigma(\\beta\\,u_l + \\alpha), \\quad
           u_l = h(e_l) \\odot \\big(Y_l\\,b_{l+1} - Z_l\\,e_{l+1}\\big), \\quad
           b_{l+1} = p_{l+1} \\odot e_{l+1}, \\quad \\sigma(\\alpha) = \\bar p_0,

with burst rate :math:`b`, excitatory burst feedback :math:`Y_l`, disynaptic (SST-like)
inhibitory event feedback :math:`Z_l` and dendritic gain :math:`h(e) = \\phi'(v)/e`
(:math:`1-e` for the logistic :math:`\\phi`).  The teacher modulates output bursting,
:math:`p_N = \\bar p_0 - \\lambda\\,h(e_N) \\odot \\partial L/\\partial e_N` (clipped to [0, 1]).
A second pass without teacher gives the reference burst probability :math:`\\bar p_l` (the
paper's moving average :math:`\\bar P`).  The burst-dependent plasticity rule is

.. math::  \\Delta W_l \\propto \\big((p_l - \\bar p_l) \\odot e_l\\big)\\, e_{l-1}^\\top, \\qquad
           \\Delta Z_l \\propto \\big(Y_l \\bar b_{l+1} - Z_l e_{l+1}\\big)\\, e_{l+1}^\\top,

the second one making the inhibition cancel the apical drive without teacher
(:math:`Z_l \\to \\bar p_0 Y_l`).  Linearising :math:`\\sigma` at :math:`\\alpha`,
:math:`(p_l - \\bar p_l) \\odot e_l = -s_l\\,\\delta_l` with
:math:`s_l = \\lambda\\,[\\beta\\bar p_0(1-\\bar p_0)]^{N-l}` and :math:`\\delta_l` backprop's error
for :math:`Y_l = W_{l+1}^\\top` (feedback alignment's for fixed random :math:`Y_l`); as for the
microcircuit the returned update is divided by :math:`s_l`.  Event rates must be positive
rates: burstprop needs ``sigmoid`` layers.

On convolutional, locally connected and pooling networks (issue 17; Payeur et al.'s CIFAR-10
network) :math:`Y_l` and :math:`Z_l` are kernels of the forward kernel's shape applied by the
adjoint operation (:func:`neurosim.conv.adjoint_geometry`), burst probabilities are per unit,
pooling/flatten layers (linear, bias-free) relay the apical drive through their exact adjoint, and
:math:`N - l` counts weighted projections.  The microcircuit cannot extend: its interneurons
predict the layer above unit by unit (``info.operations`` is dense only).

References
----------
Sacramento, J., Ponte Costa, R., Bengio, Y. & Senn, W. (2018). Dendritic cortical
microcircuits approximate the backpropagation algorithm. NeurIPS 31.

Urbanczik, R. & Senn, W. (2014). Learning by the dendritic prediction of somatic spiking.
Neuron 81, 521-528.

Payeur, A., Guerguiev, J., Zenke, F., Richards, B. A. & Naud, R. (2021). Burst-dependent
synaptic plasticity can coordinate learning in hierarchical circuits. Nat. Neurosci. 24,
1010-1019.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .. import conv as _ops
from ..arrays import astype, concat, copy, namespace, widest_float
from ..errors import ConfigError
from ..network import OPERATIONS, Layer, Network, Projection
from ..neurons import get_activation
from ..params import bias_key, check_params, copy_params, weight
from ..reference import check_batch, output_error
from ..relaxation import (Convergence, Monitor, RelaxationHyper, max_steps_param, on_unconverged_param,
                          step_size_param, summarise, tolerance_param)
from .base import Hyper, Rule, RuleInfo, check_rule_operations, param, register

__all__ = ["Microcircuit", "MicrocircuitHyper", "MicrocircuitState", "Burstprop", "BurstpropHyper", "BurstState",
           "self_predicting_params",
           "burst_cancelling_params", "learn_self_predicting", "microcircuit_network", "burstprop_network"]

_RATE_NEURONS = ("rate", "rate_two_compartment")


# =========================================================================== description helpers
def _pyramidal_layers(network: Network, rule: str) -> tuple[Projection, ...]:
    """The feed-forward chain, checking the neuron models suit a rate dendritic rule."""
    chain = network.chain()
    for proj in chain:
        layer = network.layer(proj.post)
        if layer.neuron not in _RATE_NEURONS:
            raise ConfigError(f"rule '{rule}': layer '{layer.name}'.neuron is '{layer.neuron}'; the rate rule "
                              "needs 'rate_two_compartment' (or 'rate', converted by rule.network); use the spiking "
                              "backend for LIF layers")
    return chain


def _inter_name(pyr: str) -> str:
    for prefix in ("pyr", "hidden"):
        if pyr.startswith(prefix) and pyr[len(prefix):].isdigit():
            return f"inter{pyr[len(prefix):]}"
    return f"{pyr}_inter"


def _two_compartment(network: Network) -> Network:
    """Pyramidal (non-input, non-interneuron) point neurons -> two-compartment neurons, basal input.

    Names are unchanged, so parameters drawn for the plain chain still fit.
    """
    chain = network.chain()
    pyr = {p.post for p in chain}
    layers = tuple(layer if layer.name not in pyr or layer.neuron != "rate"
                   else dataclasses.replace(layer, neuron="rate_two_compartment") for layer in network.layers)
    projections = tuple(dataclasses.replace(p, target="basal") if p in chain and p.target == "soma" else p
                        for p in network.projections)
    if layers == network.layers and projections == network.projections:
        return network
    return network.replace(layers=layers, projections=projections)


def _one(found: tuple[Projection, ...], what: str, network: Network) -> Projection | None:
    if len(found) > 1:
        raise ConfigError(f"Network '{network.name}': several {what} ({', '.join(p.name for p in found)}); "
                          "keep one")
    return found[0] if found else None


@dataclass(frozen=True)
class _Stage:
    """One hidden pyramidal layer of a microcircuit and its partners (names only)."""

    pyr: str            # pyramidal layer l
    upper: str          # pyramidal layer l+1
    inter: str          # interneuron layer I_l
    ip: Projection      # pyr_l -> inter_l (lateral, basal): W^IP
    pi: Projection      # inter_l -> pyr_l (lateral, apical): W^PI
    topdown: Projection  # pyr_{l+1} -> pyr_l (feedback, apical): B


def _stages(network: Network, chain) -> list[_Stage] | None:
    """Find the microcircuit's stages; None when anything is missing (rule.network adds it)."""
    stages = []
    for lower, upper in zip(chain[:-1], chain[1:]):
        pyr = lower.post
        ip = [p for p in network.select("lateral", pre=pyr, target="basal")
              if network.layer(p.post).role == "interneuron"]
        ip = _one(tuple(ip), f"interneuron projections from '{pyr}'", network)
        topdown = _one(network.select("feedback", pre=upper.post, post=pyr, target="apical"),
                       f"top-down apical projections {upper.post}->{pyr}", network)
        if ip is None or topdown is None:
            return None
        pi = _one(network.select("lateral", pre=ip.post, post=pyr, target="apical"),
                  f"interneuron->pyramid apical projections {ip.post}->{pyr}", network)
        if pi is None:
            return None
        inter = network.layer(ip.post)
        up = network.layer(upper.post)
        if inter.size != up.size or inter.activation != up.activation:
            raise ConfigError(f"Layer '{inter.name}': an interneuron population predicts layer '{up.name}' "
                              f"unit by unit, so it needs size {up.size} and activation '{up.activation}', "
                              f"got {inter.size} and '{inter.activation}'")
        if inter.bias != up.bias:
            raise ConfigError(f"Layer '{inter.name}'.bias: must equal the bias flag of '{up.name}' "
                              f"({up.bias}) so that it can predict it")
        stages.append(_Stage(pyr, upper.post, inter.name, ip, pi, topdown))
    return stages


def microcircuit_network(network: Network, *, topdown: str = "random", topdown_init: str = "xavier_uniform",
                         topdown_scale: float = 1.0) -> Network:
    """Add the microcircuit (interneurons, lateral and top-down apical projections) to a chain.

    Parameters
    ----------
    network : Network
        A feed-forward chain ``input -> ... -> output`` of rate neurons.
    topdown : {"random", "symmetric"}
        Fixed random top-down weights :math:`B_l`, or ``tied_to`` the forward projection
        (:math:`B_l = W_{l+1}^\\top`).

    Returns
    -------
    Network
        Pyramidal layers become ``rate_two_compartment`` (feed-forward input on ``basal``);
        per hidden layer ``l``: an ``interneuron`` layer of the size and activation of layer
        ``l+1``, ``pyr_l -> inter_l`` (lateral, basal), ``inter_l -> pyr_l`` (lateral, apical)
        and ``pyr_{l+1} -> pyr_l:topdown`` (feedback, apical, fixed).  Idempotent.
    """
    if topdown not in ("random", "symmetric"):
        raise ConfigError(f"microcircuit topdown: expected 'random' or 'symmetric', got {topdown!r}")
    network = _two_compartment(network)
    chain = network.chain()
    add: list = []
    for lower, upper in zip(chain[:-1], chain[1:]):
        pyr, up = lower.post, network.layer(upper.post)
        ip = [p for p in network.select("lateral", pre=pyr, target="basal")
              if network.layer(p.post).role == "interneuron"]
        if not ip:
            inter = _inter_name(pyr)
            add.append(Layer(inter, up.size, up.activation, "rate_two_compartment", "interneuron", up.bias))
            add.append(Projection(pyr, inter, kind="lateral", target="basal"))
            add.append(Projection(inter, pyr, kind="lateral", target="apical"))
        else:
            inter = ip[0].post
            if not network.select("lateral", pre=inter, post=pyr, target="apical"):
                add.append(Projection(inter, pyr, kind="lateral", target="apical"))
        present = network.select("feedback", pre=up.name, post=pyr, target="apical")
        if present:
            _refuse_contradicting_feedback(network, present[0], "microcircuit", "topdown", topdown)
        else:
            tie = upper.name if topdown == "symmetric" else None
            add.append(Projection(up.name, pyr, name=f"{up.name}->{pyr}:topdown", kind="feedback",
                                  target="apical", init=topdown_init, init_scale=topdown_scale,
                                  plastic=False, tied_to=tie))
    return network.add(*add) if add else network


def burstprop_network(network: Network, *, feedback: str = "random", feedback_init: str = "xavier_uniform",
                      feedback_scale: float = 1.0) -> Network:
    """Add burstprop's apical feedback (``:burst`` = Y, ``:event`` = Z) to a chain.

    ``feedback = "symmetric"`` ties :math:`Y_l` to the forward projection (:math:`W_{l+1}^\\top`);
    ``"random"`` draws a fixed random :math:`Y_l`.  :math:`Z_l` is plastic and starts at zero.
    Idempotent.
    """
    if feedback not in ("random", "symmetric"):
        raise ConfigError(f"burstprop feedback: expected 'random' or 'symmetric', got {feedback!r}")
    network = _two_compartment(network)
    add = []
    for proj in _burst_pairs(network):
        pyr, up = proj.pre, proj.post
        geometry = _ops.adjoint_geometry(proj)  # through a convolution: its adjoint, a kernel of its shape
        if network.has_projection(f"{up}->{pyr}:burst"):
            _refuse_contradicting_feedback(network, network.projection(f"{up}->{pyr}:burst"), "burstprop",
                                           "feedback", feedback)
        else:
            add.append(Projection(up, pyr, name=f"{up}->{pyr}:burst", kind="feedback", target="apical",
                                  init=feedback_init, init_scale=feedback_scale, plastic=False,
                                  tied_to=proj.name if feedback == "symmetric" else None, **geometry))
        if not network.has_projection(f"{up}->{pyr}:event"):
            add.append(Projection(up, pyr, name=f"{up}->{pyr}:event", kind="feedback", target="apical",
                                  init="zeros", **geometry))
    return network.add(*add) if add else network


def _burst_pairs(network: Network) -> list[Projection]:
    """The forward projections with weights whose ``pre`` is not the input: burstprop's feedback
    ``Y`` (``:burst``) and ``Z`` (``:event``) run ``post -> pre`` beside each (on a dense chain:
    between consecutive layers).  Pooling and flatten need none: the apical drive that reaches
    their output is carried back through their exact adjoint (:func:`Burstprop.bursts`)."""
    return [p for p in network.chain() if _ops.has_params(p) and network.layer(p.pre).role != "input"]


def _refuse_contradicting_feedback(network: Network, proj: Projection, rule: str, key: str, value: str) -> None:
    """One-line ConfigError when ``proj`` is tied (random) but the rule's ``key`` asks for the other."""
    if (proj.tied_to is not None) != (value == "symmetric"):
        raise ConfigError(f"{rule}: network '{network.name}' already has {'tied' if proj.tied_to else 'random'} "
                          f"{'top-down weights' if key == 'topdown' else 'feedback'} '{proj.name}' but "
                          f"{key}='{value}'; build it with get_rule('{rule}', {key}='{value}').network(sizes)")


def _as_dtype(dw: dict, params: dict) -> dict:
    """Updates in the dtype of the parameters they change."""
    return {k: astype(v, params[k].dtype) for k, v in dw.items()}


# =========================================================================== microcircuit
@dataclass
class MicrocircuitState:
    """Steady state of a microcircuit for one batch.

    All arrays are ``(batch, size)``, keyed by layer name.

    Attributes
    ----------
    basal : dict
        :math:`\\hat v_{B,l}` of every pyramidal layer (the feed-forward prediction).
    apical : dict
        :math:`v_{A,l}` of every hidden pyramidal layer.
    u, r : dict
        Somatic potential and rate of every pyramidal layer (``r[input] = x``).
    inter_basal, inter_u, inter_r : dict
        :math:`\\hat v^I_l`, :math:`u^I_l`, :math:`\\phi(u^I_l)` per interneuron layer.
    n_steps : int
        Relaxation sweeps used.
    residual : float
        Largest change of any potential in the last sweep, relative to ``1 + max|u|``.
    converged : bool
    history : list of float
        The residual of every sweep.
    convergence : Convergence
        The record of :class:`neurosim.relaxation.Monitor` (steps, residual, converged, tolerance).
    """

    basal: dict
    apical: dict
    u: dict
    r: dict
    inter_basal: dict
    inter_u: dict
    inter_r: dict
    n_steps: int = 0
    residual: float = 0.0
    converged: bool = True
    history: list = field(default_factory=list)
    convergence: Convergence | None = None

    def apical_rms(self) -> float:
        """RMS apical potential over every hidden layer and the batch (0 without hidden layers)."""
        return _rms(self.apical)


def _rms(arrays: dict) -> float:
    """Root mean square over all entries of ``arrays`` (0 when empty)."""
    if not arrays:
        return 0.0
    xp = namespace(*arrays.values())
    return float(xp.sqrt(xp.mean(concat([xp.reshape(v, (-1,)) ** 2 for v in arrays.values()]))))


@dataclass(frozen=True)
class MicrocircuitHyper(RelaxationHyper):
    """Hyper-parameters of :class:`Microcircuit` (the relaxation vocabulary of
    :mod:`neurosim.relaxation` for its steady state)."""

    g_lk: float = param(0.1, ge=0, doc="leak conductance")
    g_B: float = param(1.0, gt=0, doc="basal conductance")
    g_A: float = param(0.8, ge=0, doc="apical conductance (a = g_A / (g_lk + g_B + g_A))")
    g_D: float = param(1.0, gt=0, doc="interneuron dendritic conductance")
    g_som: float = param(0.8, ge=0, doc="somatic nudging conductance of the interneurons (lambda_I)")
    g_som_out: float = param(0.05, gt=0, doc="teacher conductance at the output (lambda; > 0: without a teacher "
                                             "there is nothing to learn, use steady_state(..., target=None) for the "
                                             "free state)")
    max_steps: int = max_steps_param(100, doc="cap on the Gauss-Seidel sweeps of the steady state")
    step_size: float = step_size_param(1.0, le=1, doc="damping of a sweep, u <- u + step_size (u_new - u); 1: the "
                                                      "plain Gauss-Seidel sweep")
    tolerance: float = tolerance_param(1e-10, doc="stop when the largest potential change of a sweep is "
                                                  "<= tolerance (1 + max|u|)")
    on_unconverged: str = on_unconverged_param("raise")
    normalise: bool = param(True, doc="divide the basal updates by the theory's layer factor s_l")
    lr_ip: float = param(1.0, doc="relative learning rate of W^IP (multiplies its update)")
    lr_pi: float = param(1.0, doc="relative learning rate of W^PI (multiplies its update)")
    topdown: str = param("random", choices=("random", "symmetric"),
                         doc="what network() adds as top-down weights when the network has none")
    lateral_phase: str = param("free", choices=("free", "nudged"),
                               doc="where the interneuron plasticity is evaluated: steady state without teacher "
                                   "or the nudged one")
    lateral_lr_scale: float = param(1.0, ge=0, doc="optimiser learning-rate factor of the lateral weights and "
                                                   "interneuron biases")
    basal_baseline: str = param("dendrite", choices=("dendrite", "free"),
                                doc="what the somatic rate is compared with in the basal rule: phi(vB) (the "
                                    "paper) or phi(vB + a v_A^free)")


@register
class Microcircuit(Rule):
    """Dendritic cortical microcircuit (Sacramento et al. 2018), steady-state rate model.

    See the module docstring for the equations.  Hyper-parameters: :class:`MicrocircuitHyper`.

    Hyper-parameters
    ----------------
    g_lk, g_B, g_A, g_D, g_som : float
        Conductances (defaults 0.1, 1, 0.8, 1, 0.8 as in Sacramento et al.'s simulations).
        ``g_som`` nudges the interneurons (:math:`\\lambda_I`).
    g_som_out : float
        Teacher conductance at the output (:math:`\\lambda`); default 0.05, weak nudging
        (:math:`\\lambda = 0.043`), where the update approximates backprop.
    max_steps, step_size, tolerance, on_unconverged
        The steady state (the shared vocabulary of :mod:`neurosim.relaxation`): Gauss-Seidel
        sweeps, each damped by ``step_size``, until the largest potential change falls below
        ``tolerance * (1 + max|u|)``; judged by :class:`neurosim.relaxation.Monitor`.  The
        circuit is relaxed in float64 whatever the parameters' dtype (the updates are
        returned in it).
    normalise : bool
        Divide basal updates by the theory's layer factor :math:`s_l` (default True).
    lr_ip, lr_pi : float
        Relative learning rates of :math:`W^{IP}` and :math:`W^{PI}` (multiply their updates).
    topdown : {"random", "symmetric"}
        What :meth:`network` adds as top-down weights when the network has none.
    lateral_phase : {"free", "nudged"}
        Where the interneuron plasticity is evaluated: at the steady state without teacher
        (default; one extra relaxation, which the self-predicting state makes one sweep long)
        or at the nudged one, as in the paper's single-phase simulations -- there
        :math:`W^{PI}` also learns to cancel the mean error signal.
    basal_baseline : {"dendrite", "free"}
        What the somatic rate is compared with in the basal rule.  ``"dendrite"`` (default,
        the paper): the dendritic prediction :math:`\\phi(\\hat v_{B,l})`.  ``"free"``: the
        dendritic prediction plus the apical potential :math:`v^{free}_{A,l}` of the same
        circuit (same weights and input) without teacher, as burstprop compares with the
        burst probability without teacher :math:`\\bar p`,

        .. math:: \\Delta W_l \\propto \\big(\\phi(u_l) - \\phi(\\hat v_{B,l} + a\\,v^{free}_{A,l})\\big)
                  \\,r_{l-1}^\\top ,

        so that only the teacher-induced apical change :math:`a(v_{A,l} - v^{free}_{A,l})`
        drives plasticity.  Both coincide in the self-predicting state
        (:math:`v^{free}_{A,l} = 0`); away from it the interneuron mismatch enters
        ``"dendrite"`` at full size while the teacher's signal is only
        :math:`s_l\\delta_l` (:math:`s_l \\approx 2.6\\cdot10^{-3}` two layers below the output
        at the defaults), so deep circuits trained with Adam -- which keeps the lateral weights
        jittering around the self-predicting state -- need ``"free"``
        (``models/presets/microcircuit-compare.toml``).
    lateral_lr_scale : float
        Optimiser learning-rate factor of the lateral weights :math:`W^{IP}, W^{PI}` and the
        interneuron biases (:meth:`learning_rate_scales`); unlike ``lr_ip``/``lr_pi`` it
        survives Adam's normalisation.  Default 1.

    Notes
    -----
    ``aux`` of :meth:`updates`: ``"relaxation"`` (``phases``, ``unconverged``, ``steps``,
    ``max_residual`` over the free and nudged steady states of the call),
    ``"relaxation_steps"`` (sweeps of the nudged state) and, where the free state is computed
    (``lateral_phase = "free"`` or ``basal_baseline = "free"``), ``"apical_rms_free"``: the RMS
    apical potential without a teacher (0 in the self-predicting state).

    Deep circuits (digits 64-64-64-10): Adam keeps the lateral weights jittering around the
    self-predicting state (relative W^IP mismatch ~10 % during training); the free apical
    potential this leaves is 70-1000x the teacher's in the first layer, which basal_baseline =
    "free" cancels.  Sigmoid/mse chains need Adam 5e-3 to leave the plateau within 20 epochs
    (FA alike): ``models/presets/microcircuit-*.toml``.  Measured:
    experiments/microcircuit_alignment.py ("deep") and the README.
    """

    name = "microcircuit"
    family = "dendritic"
    citation = ("Sacramento, Ponte Costa, Bengio & Senn (2018). Dendritic cortical microcircuits "
                "approximate the backpropagation algorithm. NeurIPS 31.")
    info = RuleInfo(losses=("mse", "cross_entropy"), aliases=("sacramento2018",), activation="sigmoid",
                    backends=("rate", "spiking"), arrays=("numpy", "torch"))  # spiking: neurosim.spiking.dendritic
    Hyper = MicrocircuitHyper

    def learning_rate_scales(self, network: Network) -> dict:
        """``lateral_lr_scale`` for every plastic interneuron weight and bias; basal ones keep 1.

        An optimiser factor, not a rescaled update (Adam normalises ``lr_ip``/``lr_pi`` away):
        the interneurons must track the layer above faster than it moves.
        """
        factor = float(self.hyper["lateral_lr_scale"])
        if factor == 1.0:
            return {}
        chain = _pyramidal_layers(network, self.name)
        stages = _stages(network, chain) or []
        keys = [k for s in stages for k in (s.ip.name, bias_key(s.inter), s.pi.name)]
        return {k: factor for k in keys}

    # ---------------------------------------------------------------- constants of the theory
    @property
    def apical_coupling(self) -> float:
        """:math:`a = g_A/(g_{lk}+g_B+g_A)`: how much apical potential reaches the soma."""
        h = self.hyper
        return h["g_A"] / (h["g_lk"] + h["g_B"] + h["g_A"])

    @property
    def nudging(self) -> float:
        """:math:`\\lambda = g_{som}^{out}/(g_{lk}+g_B+g_{som}^{out})`: the output teacher's weight."""
        h = self.hyper
        return h["g_som_out"] / (h["g_lk"] + h["g_B"] + h["g_som_out"])

    @property
    def inter_nudging(self) -> float:
        """:math:`\\lambda_I = g_{som}/(g_{lk}+g_D+g_{som})`: interneurons' nudging by layer l+1."""
        h = self.hyper
        return h["g_som"] / (h["g_lk"] + h["g_D"] + h["g_som"])

    def layer_factor(self, depth_below_output: int) -> float:
        """:math:`s_l = \\lambda[a(1-\\lambda_I)]^{N-l}` for ``N - l = depth_below_output``."""
        return self.nudging * (self.apical_coupling * (1.0 - self.inter_nudging)) ** depth_below_output

    def apical_factor(self, depth_below_output: int) -> float:
        """:math:`c_l = \\lambda(1-\\lambda_I)^{N-l}a^{N-l-1}`: :math:`\\phi'\\odot v_{A,l} \\approx -c_l\\delta_l`."""
        k = depth_below_output
        return self.nudging * (1.0 - self.inter_nudging) ** k * self.apical_coupling ** (k - 1)

    # ---------------------------------------------------------------- description
    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """The microcircuit on ``spec`` (:func:`microcircuit_network` with the rule's ``topdown``); idempotent.

        For layer sizes: pyramidal layers ``pyr1..`` + ``output`` (sigmoid, mse) with
        interneurons ``inter1..``.
        """
        if isinstance(spec, Network):
            check_rule_operations(self, spec)  # an interneuron copies one unit above: no kernels (docstring)
        else:
            base = super().network(spec, activation=activation, loss=loss, name=name or "microcircuit")
            base = Network.feedforward(list(base.sizes), activation=activation or self.info.activation,
                                       loss=base.loss, neuron="rate", name=base.name)
            n_hidden = len(base.sizes) - 2
            rename = {f"hidden{i}": f"pyr{i}" for i in range(1, n_hidden + 1)}
            layers = tuple(Layer(rename.get(lay.name, lay.name), lay.size, lay.activation, lay.neuron, lay.role,
                                 lay.bias, lay.params, lay.bias_init) for lay in base.layers)
            projections = tuple(Projection(rename.get(p.pre, p.pre), rename.get(p.post, p.post))
                                for p in base.projections)
            spec = Network(layers, projections, name=base.name, loss=base.loss)
        return microcircuit_network(spec, topdown=self.hyper["topdown"])

    def _circuit(self, network: Network):
        chain = _pyramidal_layers(network, self.name)
        stages = _stages(network, chain)
        if stages is None:
            raise ConfigError(f"rule 'microcircuit': network '{network.name}' lacks interneurons or top-down "
                              "apical projections; build it with rule.network(network) before init_params")
        return chain, stages

    # ---------------------------------------------------------------- dynamics
    def steady_state(self, network: Network, params: dict, x, target=None) -> MicrocircuitState:
        """Relax the circuit to its steady state (Gauss-Seidel sweeps from the feed-forward pass).

        Pure: the state is returned, nothing is kept on the rule.  Each sweep updates the
        layers bottom-up, :math:`u_l \\leftarrow u_l + \\epsilon(\\hat v_{B,l} + a v_{A,l} - u_l)`
        (``step_size`` :math:`\\epsilon`; the output: its nudged potential); its residual is
        the largest change of a potential relative to :math:`1 + \\max|u|`, judged by the
        shared :class:`~neurosim.relaxation.Monitor` (``max_steps``, ``tolerance``,
        ``on_unconverged``).

        Parameters
        ----------
        x : ndarray of shape (batch, n_input)
        target : ndarray of shape (batch, n_output), optional
            None: no teacher (the free, self-predicting phase).

        Raises
        ------
        ConvergenceError
            On a non-finite state, or (``on_unconverged="raise"``) when ``max_steps`` sweeps do
            not reach the tolerance.
        """
        chain, stages = self._circuit(network)
        check_params(network, params)
        x, t = check_batch(network, x, target)
        # Relaxed in float64 whatever the parameter dtype: two layers below the output the
        # teacher's signal is s_l ~ 2.6e-3 of delta, on a loss plateau below float32's
        # resolution of O(1) potentials (measured: first-layer updates exactly 0 for epochs).
        xp = namespace(x)
        f64 = widest_float(x)  # float64 (MPS, which has none: float32)
        x = astype(x, f64)
        t = None if t is None else astype(t, f64)
        a, lam, lam_i = self.apical_coupling, self.nudging, self.inter_nudging
        eps = float(self.hyper["step_size"])
        out = chain[-1].post
        phi = {p.post: get_activation(network.layer(p.post).activation) for p in chain}
        w = {p.post: astype(weight(network, params, p), f64) for p in chain}
        bias = {p.post: None if params.get(bias_key(p.post)) is None
                else astype(params[bias_key(p.post)], f64) for p in chain}

        def basal_of(layer, r_pre):
            v = r_pre @ w[layer].T
            return v + bias[layer] if bias[layer] is not None else v

        # start from the feed-forward pass: the exact steady state of a self-predicting circuit
        basal, u, r = {}, {}, {chain[0].pre: x}
        for p in chain:
            basal[p.post] = basal_of(p.post, r[p.pre])
            u[p.post] = basal[p.post]
            r[p.post] = phi[p.post](u[p.post])

        def wide(m):
            return None if m is None else astype(m, f64)

        mats = {s.pyr: (wide(weight(network, params, s.ip)), wide(params.get(bias_key(s.inter))),
                        wide(weight(network, params, s.pi)), wide(weight(network, params, s.topdown)))
                for s in stages}
        inter_basal, inter_u, inter_r, apical = {}, {}, {}, {}

        def sweep() -> float:
            """One Gauss-Seidel sweep; its largest potential change relative to 1 + max|u|."""
            change, scale = 0.0, 1.0
            for i, p in enumerate(chain):
                layer = p.post
                basal[layer] = basal_of(layer, r[p.pre])
                if layer == out:
                    if t is None:
                        new_u = basal[layer]
                    else:
                        new_u = basal[layer] - lam * output_error(network, phi[layer](basal[layer]), t)
                else:
                    s = stages[i]
                    w_ip, b_i, w_pi, b_td = mats[layer]
                    vi = r[layer] @ w_ip.T
                    inter_basal[s.inter] = vi + b_i if b_i is not None else vi
                    inter_u[s.inter] = (1.0 - lam_i) * inter_basal[s.inter] + lam_i * u[s.upper]
                    inter_r[s.inter] = phi[s.upper](inter_u[s.inter])
                    apical[layer] = r[s.upper] @ b_td.T + inter_r[s.inter] @ w_pi.T
                    new_u = basal[layer] + a * apical[layer]
                if eps != 1.0:
                    new_u = u[layer] + eps * (new_u - u[layer])
                change = max(change, float(xp.max(xp.abs(new_u - u[layer]))))
                scale = max(scale, 1.0 + float(xp.max(xp.abs(new_u))))
                u[layer] = new_u
                r[layer] = phi[layer](new_u)
            return change / scale

        monitor = Monitor(f"rule '{self.name}'", max_steps=self.hyper["max_steps"],
                          tolerance=self.hyper["tolerance"], on_unconverged=self.hyper["on_unconverged"],
                          phase="steady state" + (" (with teacher)" if t is not None else " (without teacher)"),
                          hint="lower g_A, step_size or the top-down weight scale")
        history = []
        residual = None  # a sweep's residual is the change it makes: unknown before the first one
        while not monitor.stop(residual):
            residual = sweep()
            history.append(residual)
        conv = monitor.finish()
        return MicrocircuitState(basal, apical, u, r, inter_basal, inter_u, inter_r, conv.steps, conv.residual,
                                 conv.converged, history, conv)

    # ---------------------------------------------------------------- plasticity
    def init_params(self, network, seed=0, dtype="float64"):
        """Random forward / top-down weights, lateral weights in the self-predicting state.

        Sacramento et al. (2018) first let the lateral plasticity reach the self-predicting
        state, then train on targets; the state it converges to is known in closed form
        (:func:`self_predicting_params`; that the plasticity reaches it from a random start
        is tested with :func:`learn_self_predicting`), so runs start there.
        """
        return self_predicting_params(network, super().init_params(network, seed, dtype))

    def updates(self, network, params, state, x, target):
        """Basal, interneuron and interneuron->pyramid updates at the nudged steady state.

        Returns
        -------
        dW : dict
            Batch means for every feed-forward weight and bias, every plastic
            ``pyr->inter`` weight (+ interneuron bias) and every plastic ``inter->pyr`` weight,
            in the dtype of ``params``.
        state
            Unchanged (the circuit is relaxed afresh for every batch).
        aux : dict
            ``relaxation``, ``relaxation_steps`` and ``apical_rms_free`` (class docstring).
        """
        chain, stages = self._circuit(network)
        h = self.hyper
        free = None
        if h["lateral_phase"] == "free" or h["basal_baseline"] == "free":
            free = self.steady_state(network, params, x, None)
        nudged = self.steady_state(network, params, x, target)
        baseline = free if h["basal_baseline"] == "free" else None
        if h["lateral_phase"] == "free":
            dw = self._plasticity(network, chain, stages, nudged, basal=True, lateral=False, baseline=baseline)
            dw.update(self._plasticity(network, chain, stages, free, basal=False, lateral=True))
        else:
            dw = self._plasticity(network, chain, stages, nudged, basal=True, lateral=True, baseline=baseline)
        phases = (nudged.convergence,) if free is None else (free.convergence, nudged.convergence)
        aux = {"relaxation": summarise(*phases), "relaxation_steps": nudged.n_steps}
        if free is not None:
            aux["apical_rms_free"] = free.apical_rms()
        return _as_dtype(dw, params), state, aux

    def lateral_updates(self, network, params, x) -> tuple[dict, MicrocircuitState]:
        """Only the interneuron plasticity, at the steady state without teacher (the self-predicting
        phase): ``(dW, free steady state)``."""
        chain, stages = self._circuit(network)
        free = self.steady_state(network, params, x, None)
        return _as_dtype(self._plasticity(network, chain, stages, free, basal=False, lateral=True), params), free

    def _plasticity(self, network, chain, stages, state, *, basal: bool, lateral: bool, baseline=None) -> dict:
        batch = state.r[chain[0].pre].shape[0]
        n = len(chain)
        dw = {}
        if basal:
            for i, p in enumerate(chain):
                phi = get_activation(network.layer(p.post).activation)
                scale = 1.0
                if self.hyper["normalise"]:
                    scale /= self.layer_factor(n - 1 - i)
                # the dendritic prediction phi(vB) (Urbanczik & Senn); "free" adds the apical
                # potential the circuit has without teacher (0 in the self-predicting state)
                v_ref = state.basal[p.post]
                if baseline is not None and p.post in baseline.apical:
                    v_ref = v_ref + self.apical_coupling * baseline.apical[p.post]
                ref = phi(v_ref)
                err = (phi(state.u[p.post]) - ref) * (scale / batch)
                if p.plastic:
                    key = p.tied_to if p.tied_to is not None else p.name
                    g = err.T @ state.r[p.pre]
                    dw[key] = g.T if p.tied_to is not None else g
                if network.layer(p.post).bias:
                    dw[bias_key(p.post)] = namespace(err).sum(err, axis=0)
        for s in stages if lateral else ():
            phi = get_activation(network.layer(s.inter).activation)
            if s.ip.plastic and s.ip.tied_to is None:
                err = (phi(state.inter_u[s.inter]) - phi(state.inter_basal[s.inter])) * \
                      (self.hyper["lr_ip"] / batch)
                dw[s.ip.name] = err.T @ state.r[s.pyr]
                if network.layer(s.inter).bias:
                    dw[bias_key(s.inter)] = namespace(err).sum(err, axis=0)
            if s.pi.plastic and s.pi.tied_to is None:
                dw[s.pi.name] = (state.apical[s.pyr] * (-self.hyper["lr_pi"] / batch)).T @ state.inter_r[s.inter]
            if s.topdown.plastic and s.topdown.tied_to is None:
                raise ConfigError(f"Projection '{s.topdown.name}'.plastic: top-down learning is not implemented "
                                  "by rule 'microcircuit'; set plastic = false or tie it to the forward weights")
        return dw


def self_predicting_params(network: Network, params: dict) -> dict:
    """Parameters with every microcircuit stage set to the self-predicting state.

    :math:`W^{IP}_l = W_{l+1}`, :math:`b^I_l = b_{l+1}`, :math:`W^{PI}_l = -B_l` (the
    effective-weight parametrisation of the module docstring).  ``params`` is not modified.
    """
    chain = network.chain()
    stages = _stages(network, chain)
    if stages is None:
        raise ConfigError(f"self_predicting_params: network '{network.name}' has no microcircuit; call "
                          "get_rule('microcircuit').network(network) first")
    out = copy_params(params)
    for s, upper in zip(stages, chain[1:]):
        if s.ip.tied_to is not None or s.pi.tied_to is not None:
            raise ConfigError(f"self_predicting_params: '{s.ip.name}'/'{s.pi.name}' are tied; they need "
                              "weights of their own")
        out[s.ip.name] = copy(weight(network, params, upper))
        if network.layer(s.inter).bias:
            out[bias_key(s.inter)] = copy(params[bias_key(s.upper)])
        out[s.pi.name] = -copy(weight(network, params, s.topdown))
    return out


def learn_self_predicting(rule: Microcircuit, network: Network, params: dict, inputs, *, n_updates: int,
                          learning_rate: float, batch_size: int = 32, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Run the lateral plasticity alone (no teacher) with plain SGD; return params and the apical RMS.

    Parameters
    ----------
    inputs : ndarray of shape (n_samples, n_input)
        Drawn in mini-batches of ``batch_size`` (seeded by ``seed``).

    Returns
    -------
    params : dict
        A copy with the learned interneuron weights.
    apical_rms : ndarray of shape (n_updates + 1,)
        RMS apical potential (over all hidden layers and the batch) before each update and
        after the last one, measured on the batch the update uses (the last on a fresh batch).
    """
    rng = np.random.default_rng(seed)
    params = copy_params(params)
    inputs = np.asarray(inputs)
    rms = []
    for _ in range(n_updates + 1):
        xb = inputs[rng.choice(len(inputs), min(batch_size, len(inputs)), replace=False)]
        dw, free = rule.lateral_updates(network, params, xb)
        rms.append(free.apical_rms())
        if len(rms) == n_updates + 1:
            break
        for key, value in dw.items():
            params[key] += learning_rate * value
    return params, np.asarray(rms)


# =========================================================================== burstprop
@dataclass
class BurstState:
    """Event rates and burst probabilities of one burstprop pass, ``(batch, size)`` per layer.

    ``e``: event rates (``e[input] = x``); ``v``: somatic (basal) potentials; ``p`` / ``p_bar``:
    burst probability with / without teacher; ``apical`` / ``apical_bar``: apical potentials
    :math:`u_l` with / without teacher (hidden layers).
    """

    e: dict
    v: dict
    p: dict
    p_bar: dict
    apical: dict
    apical_bar: dict


@dataclass(frozen=True)
class BurstpropHyper(Hyper):
    """Hyper-parameters of :class:`Burstprop`."""

    p_baseline: float = param(0.2, gt=0, lt=1, doc="bar p_0: burst probability without apical drive")
    apical_gain: float = param(1.0, gt=0, doc="beta: slope of the burst probability in the apical potential")
    nudging: float = param(0.05, gt=0, doc="lambda: how strongly the teacher modulates output bursting")
    normalise: bool = param(True, doc="divide the updates by the theory's layer factor s_l")
    lr_z: float = param(1.0, doc="relative learning rate of the inhibitory event feedback Z")
    feedback: str = param("random", choices=("random", "symmetric"),
                          doc="what network() adds as Y when the network has none")
    dendritic_gain: str = param("derivative", choices=("derivative", "one"),
                                doc="h(e): phi'(v)/e (1 - e for the logistic), or 1 (the spiking burst_lif "
                                    "circuit's rate equivalent: the apical potential enters the burst sigmoid as "
                                    "is; allows 'lif' layers)")
    output_probability: str = param("linear", choices=("linear", "sigmoid"),
                                    doc="teacher's output burst probability: p0 - lambda h dL/de clipped to [0, 1], "
                                        "or sigmoid(alpha - lambda h dL/de / (p0 (1 - p0))) (the spiking circuit's: "
                                        "the teacher current on a sigmoid apical; same slope at the baseline)")


@register
class Burstprop(Rule):
    """Burst-dependent plasticity (Payeur et al. 2021), ensemble rate form.

    See the module docstring for the equations.

    Hyper-parameters (:class:`BurstpropHyper`)
    ------------------------------------------
    p_baseline : float
        :math:`\\bar p_0`, burst probability without apical drive (0.2).
    apical_gain : float
        :math:`\\beta`, slope of the burst probability in the apical potential (1).
    nudging : float
        :math:`\\lambda`, how strongly the teacher modulates output bursting (0.05).
    normalise : bool
        Divide the updates by the theory's layer factor :math:`s_l` (default True).
    lr_z : float
        Relative learning rate of the inhibitory event feedback :math:`Z`.
    feedback : {"random", "symmetric"}
        What :meth:`network` adds as :math:`Y` when the network has none.
    dendritic_gain : {"derivative", "one"}
        :math:`h(e) = \\phi'(v)/e` (default; :math:`1 - e`, sigmoid layers) or :math:`h = 1`: the
        rate equivalent of the spiking ``burst_lif`` circuit, whose burst probability is a sigmoid
        of the apical potential itself (``lif`` layers, :mod:`neurosim.spiking.burstprop`).
    output_probability : {"linear", "sigmoid"}
        The teacher's output burst probability: :math:`\\bar p_0 - \\lambda h\\,\\partial L/\\partial e_N`
        clipped to [0, 1] (default), or :math:`\\sigma(\\alpha - \\lambda h\\,\\partial L/\\partial e_N /
        (\\bar p_0(1-\\bar p_0)))`, the spiking circuit's (same slope at :math:`\\bar p_0`).

    Notes
    -----
    ``aux`` of :meth:`updates`: ``"apical_rms_free"``, the RMS apical potential without
    teacher (0 when :math:`Z = \\bar p_0 Y`).  Sigmoid/mse chains sit on a plateau at Adam 1e-3
    for the 20-epoch compare budget (FA on the same net: 67 % test error, like burstprop; at
    5e-3 both learn): ``models/presets/burstprop-*.toml``.
    """

    name = "burstprop"
    family = "dendritic"
    citation = ("Payeur, Guerguiev, Zenke, Richards & Naud (2021). Burst-dependent synaptic plasticity can "
                "coordinate learning in hierarchical circuits. Nat. Neurosci. 24, 1010-1019.")
    info = RuleInfo(losses=("mse", "cross_entropy"), aliases=("payeur2021",), activation="sigmoid",
                    backends=("rate", "spiking"), arrays=("numpy", "torch"),
                    operations=OPERATIONS)  # spiking: neurosim.spiking.burstprop
    Hyper = BurstpropHyper

    def layer_factor(self, depth_below_output: int) -> float:
        """:math:`s_l = \\lambda[\\beta\\bar p_0(1-\\bar p_0)]^{N-l}` (``N - l``: weighted projections above ``l``)."""
        p0 = self.hyper["p_baseline"]
        return self.hyper["nudging"] * (self.hyper["apical_gain"] * p0 * (1 - p0)) ** depth_below_output

    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """``spec`` with ``:burst``/``:event`` feedback (:func:`burstprop_network` with the rule's
        ``feedback``); idempotent.  For layer sizes: a sigmoid chain (event rates must be
        positive), mse, sigmoid output."""
        if not isinstance(spec, Network):
            base = super().network(spec, activation=activation, loss=loss, name=name or "burstprop")
            act = activation or self.info.activation
            spec = Network.feedforward(list(base.sizes), activation=act, output_activation=act, loss=base.loss,
                                       name=base.name)
        else:
            check_rule_operations(self, spec)
        return burstprop_network(spec, feedback=self.hyper["feedback"])

    def _chain(self, network: Network):
        chain = _pyramidal_layers(network, self.name)
        if not _ops.has_params(chain[-1]):
            raise ConfigError(f"rule 'burstprop': the output layer '{chain[-1].post}' is reached by "
                              f"{chain[-1].operation} '{chain[-1].name}'; the output must be a sigmoid layer "
                              "behind weights (end the chain with a dense projection)")
        for p in chain:
            layer = network.layer(p.post)
            if not _ops.has_params(p):
                if layer.activation != "linear" or layer.bias:
                    raise ConfigError(f"rule 'burstprop': layer '{layer.name}' behind {p.operation} '{p.name}' "
                                      "relays the rates below it, so it needs activation = 'linear' and "
                                      f"bias = false, got '{layer.activation}' and bias = {layer.bias}")
            elif layer.activation == "lif" and self.hyper["dendritic_gain"] == "one":
                pass   # the rate equivalent of the spiking circuit (neurosim.spiking.burstprop)
            elif layer.activation != "sigmoid":
                raise ConfigError(f"rule 'burstprop': layer '{layer.name}'.activation is '{layer.activation}'; "
                                  "event rates must be positive rates, use 'sigmoid' (dendritic gain h = 1 - e), "
                                  "or 'lif' with dendritic_gain = 'one' (the spiking circuit's rate equivalent)")
        for proj in _burst_pairs(network):
            for suffix in ("burst", "event"):
                if not network.has_projection(f"{proj.post}->{proj.pre}:{suffix}"):
                    raise ConfigError(f"rule 'burstprop': network '{network.name}' has no projection "
                                      f"'{proj.post}->{proj.pre}:{suffix}'; build it with rule.network(network) "
                                      "before init_params")
        return chain

    @staticmethod
    def _feedback_drive(network: Network, params: dict, proj: Projection, pe, e_up):
        """:math:`Y b - Z e` that the feedback beside forward ``proj`` gives its ``pre`` layer.

        ``pe``: burst rates :math:`b = p \\odot e` of ``proj.post``; ``e_up``: its event rates.  Dense:
        :math:`Y b - Z e` with matrices; through a convolution or a locally connected layer the
        adjoint maps with kernels :math:`Y, Z` of the forward kernel's shape (Payeur et al.'s
        CIFAR-10 network carries the bursts through the transposed convolution with its
        feedback kernels).
        """
        yproj = network.projection(f"{proj.post}->{proj.pre}:burst")
        zproj = network.projection(f"{proj.post}->{proj.pre}:event")
        y, z = weight(network, params, yproj), weight(network, params, zproj)
        if proj.operation == "dense":  # torch's matmul does not promote: the cast numpy's does implicitly
            return pe @ astype(y, pe.dtype).T - e_up @ z.T
        return _ops.drive(network, yproj, astype(y, pe.dtype), pe) - _ops.drive(network, zproj, z, e_up)

    def bursts(self, network: Network, params: dict, x, target) -> BurstState:
        """Event rates (one feed-forward pass) and burst probabilities with and without teacher (pure).

        Pooling and flatten layers (linear, no bias) relay the event rates below them and have no
        burst probability of their own: the apical drive :math:`Y b - Z e` that reaches them is
        carried back to the layer below through the operation's exact adjoint (max pooling: to
        each window's maximum), as feedback alignment carries its error through them.
        """
        chain = self._chain(network)
        check_params(network, params)
        x, t = check_batch(network, x, target)
        p0, beta = self.hyper["p_baseline"], self.hyper["apical_gain"]
        alpha = float(np.log(p0 / (1 - p0)))
        wide = widest_float(x)  # the hidden burst probabilities are float64 (float32 on MPS)
        sigmoid = get_activation("sigmoid")
        e, v = {chain[0].pre: x}, {}
        for p in chain:
            w = weight(network, params, p)
            vv = e[p.pre] @ w.T if p.operation == "dense" else _ops.drive(network, p, w, e[p.pre])
            if network.layer(p.post).bias:
                vv = vv + params[bias_key(p.post)]
            v[p.post] = vv
            # pooling / flatten relay their input; 'lif' layers: the spiking circuit's rate equivalent
            e[p.post] = get_activation(network.layer(p.post).activation)(vv) if _ops.has_params(p) else vv
        out = chain[-1].post
        if self.hyper["dendritic_gain"] == "one":
            h = {k: 1.0 for k in e}
        else:
            h = {k: 1.0 - val for k, val in e.items()}  # phi'(v)/e for the logistic
        xp = namespace(x)
        p_bar = {out: xp.full_like(e[out], p0)}
        nudge = self.hyper["nudging"] * h[out] * output_error(network, e[out], t)
        if self.hyper["output_probability"] == "sigmoid":
            p_teach = {out: sigmoid(alpha - nudge / (p0 * (1.0 - p0)))}
        else:
            p_teach = {out: xp.clip(p0 - nudge, 0.0, 1.0)}
        apical, apical_bar = {}, {}
        drive, drive_bar = {}, {}  # Y b - Z e reaching each layer, before the dendritic gain
        for proj in reversed(chain[1:]):
            lay, up = proj.pre, proj.post
            for probs, dr in ((p_bar, drive_bar), (p_teach, drive)):
                if _ops.has_params(proj):
                    dr[lay] = self._feedback_drive(network, params, proj, probs[up] * e[up], e[up])
                else:  # a relay: the drive that reached it continues through the exact adjoint
                    dr[lay] = _ops.backward(network, proj, None, dr[up], e[lay])
            if any(p.post == lay and _ops.has_params(p) for p in chain):
                for probs, dr, ap in ((p_bar, drive_bar, apical_bar), (p_teach, drive, apical)):
                    ap[lay] = h[lay] * dr[lay]
                    probs[lay] = sigmoid(astype(beta * ap[lay], wide) + alpha)
        return BurstState(e, v, p_teach, p_bar, apical, apical_bar)

    def init_params(self, network, seed=0, dtype="float64"):
        """Random weights with :math:`Z = \\bar p_0 Y`, the state the :math:`Z` plasticity converges to."""
        return burst_cancelling_params(network, super().init_params(network, seed, dtype), self.hyper["p_baseline"])

    def updates(self, network, params, state, x, target):
        """Burst-dependent updates of W and b (divided by :math:`s_l`) and the Z updates.

        .. math:: \\Delta W_l = \\langle((p_l-\\bar p_l)\\odot e_l)\\,e_{l-1}^\\top\\rangle / s_l

        (for a convolution or a locally connected layer the same products summed over the
        positions that share a weight: :func:`neurosim.conv.weight_gradient`).  Returns
        ``(dW, state, aux)``: ``state`` unchanged, ``aux["apical_rms_free"]``.
        """
        chain = self._chain(network)
        st = self.bursts(network, params, x, target)
        batch = st.e[chain[0].pre].shape[0]
        weighted = [p for p in chain if _ops.has_params(p)]
        n = len(weighted)
        dw = {}
        for i, p in enumerate(weighted):
            scale = 1.0 / batch
            if self.hyper["normalise"]:
                scale /= self.layer_factor(n - 1 - i)
            err = (st.p[p.post] - st.p_bar[p.post]) * st.e[p.post] * scale
            if p.plastic:
                pre = astype(st.e[p.pre], err.dtype)
                g = err.T @ pre if p.operation == "dense" else _ops.weight_gradient(network, p, err, pre)
                key = p.tied_to if p.tied_to is not None else p.name
                dw[key] = g.T if p.tied_to is not None and p.operation == "dense" else g
            if network.layer(p.post).bias:
                dw[bias_key(p.post)] = namespace(err).sum(err, axis=0)
        for proj in _burst_pairs(network):
            up = proj.post
            zproj = network.projection(f"{up}->{proj.pre}:event")
            yproj = network.projection(f"{up}->{proj.pre}:burst")
            if yproj.plastic and yproj.tied_to is None:
                raise ConfigError(f"Projection '{yproj.name}'.plastic: learning Y is not implemented by rule "
                                  "'burstprop'; set plastic = false or tie it to the forward weights")
            if zproj.plastic and zproj.tied_to is None:
                # residual apical drive without teacher, before the dendritic gain h
                resid = self._feedback_drive(network, params, proj, st.p_bar[up] * st.e[up], st.e[up])
                dz = resid * (self.hyper["lr_z"] / batch)
                e_up = astype(st.e[up], dz.dtype)
                dw[zproj.name] = (dz.T @ e_up if zproj.operation == "dense"
                                  else _ops.weight_gradient(network, zproj, dz, e_up))
        # the first edition's arithmetic (float64 burst probabilities below the output), returned in
        # the parameters' dtype
        return _as_dtype(dw, params), state, {"apical_rms_free": _rms(st.apical_bar)}


def burst_cancelling_params(network: Network, params: dict, p_baseline: float = 0.2) -> dict:
    """Parameters with :math:`Z_l = \\bar p_0 Y_l`, the state the :math:`Z` plasticity converges to.

    Then, without teacher, every apical potential is zero and :math:`\\bar p_l = \\bar p_0`
    (through a convolution too: :math:`Y` and :math:`Z` are kernels of the same adjoint map).
    """
    out = copy_params(params)
    for proj in _burst_pairs(network):
        name = f"{proj.post}->{proj.pre}:event"
        out[name] = p_baseline * copy(weight(network, params, f"{proj.post}->{proj.pre}:burst"))
    return out

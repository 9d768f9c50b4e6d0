"""Equilibrium propagation (EP), rate version.

Scellier & Bengio (2017) train a symmetric, layered Hopfield-like network (the energy
:math:`E` and cost :math:`C` of :mod:`neurosim.energy`) in two phases:

1. **free phase**: with the input clamped, relax to a fixed point :math:`s^0` of
   :math:`F = E` (``max_steps``, ``tolerance``);
2. **nudged phase**: from :math:`s^0`, relax to a fixed point :math:`s^\\beta` of
   :math:`F = E + \\beta C`, which pulls the output towards the target
   (``nudged_max_steps``).

Because :math:`\\partial E/\\partial W_l = -s_l s_{l-1}^\\top`, the EP theorem
:math:`\\frac{d}{d\\theta} C(s^0) = \\lim_{\\beta\\to0}\\frac1\\beta\\big(
\\frac{\\partial F}{\\partial\\theta}(s^\\beta) - \\frac{\\partial F}{\\partial\\theta}(s^0)\\big)`
gives a local, contrastive Hebbian update (one-sided nudging)

.. math::  \\Delta W_l = \\frac{1}{\\beta}\\Big\\langle s^\\beta_l s^{\\beta\\top}_{l-1}
           - s^0_l s^{0\\top}_{l-1}\\Big\\rangle,
           \\qquad \\Delta b_l = \\frac{1}{\\beta}\\langle s^\\beta_l - s^0_l\\rangle,

(batch mean :math:`\\langle\\cdot\\rangle`, :math:`s_0 = x`), whose error is :math:`O(\\beta)`.
Symmetric nudging (Laborieux et al. 2021) contrasts :math:`+\\beta` with :math:`-\\beta`,

.. math::  \\Delta W_l = \\frac{1}{2\\beta}\\Big\\langle s^{+\\beta}_l s^{+\\beta\\top}_{l-1}
           - s^{-\\beta}_l s^{-\\beta\\top}_{l-1}\\Big\\rangle,

cancelling the first-order term: error :math:`O(\\beta^2)`.  ``nudging = "random-sign"`` is
one-sided with the sign of :math:`\\beta` drawn per batch (Scellier & Bengio 2017, Sec. 6).

Output variants (the network's ``loss``):

* ``mse`` -- the output layer belongs to the energy and
  :math:`C = \\tfrac12\\lVert s_L - t\\rVert^2` (Scellier & Bengio 2017);
* ``cross_entropy`` -- Laborieux et al. (2021)'s softmax read-out: the output layer is
  *not* in the energy, :math:`r = \\phi(W_{out} s_L + b_{out})`,
  :math:`C = -\\sum_k t_k\\log\\mathrm{softmax}(r)_k`, and the nudge acts on the last hidden
  layer through :math:`-\\beta\\,\\partial C/\\partial s_L`.  The read-out parameters appear only
  in :math:`\\beta C`, so the same theorem gives them
  :math:`-\\partial C/\\partial W_{out}` at the nudged state(s) (the mean over :math:`\\pm\\beta`
  for symmetric nudging).

Every update is a batch mean with the sign convention of :mod:`neurosim.rules.base`: as
:math:`\\beta \\to 0` it tends to :math:`-dL/d\\theta`, the implicit gradient of the batch-mean
loss at the free fixed point (:func:`neurosim.energy.implicit_gradient`): the oracle
``"implicit"`` registered here, which :func:`neurosim.align` scores EP against.

Both phases run on the shared relaxation engine (:meth:`neurosim.energy.EnergyKernel.relax`,
judged by :class:`neurosim.relaxation.Monitor`), with the shared vocabulary ``max_steps``,
``step_size``, ``tolerance``, ``on_unconverged`` and ``nudged_max_steps`` for the nudged
phases.  Each call reports its phases in ``aux["relaxation"]`` (summed per epoch by
:func:`neurosim.training.train`) and per phase in ``aux["free"]`` / ``aux["nudged"]``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..arrays import asarray_like, astype, concat, namespace, widest_float, zeros
from ..energy import (COUPLING_OPERATIONS, SCHEDULES, EnergyKernel, LayeredEnergy, check_nudge_stability,
                      implicit_gradient, kernel_for_batch, layered_energy, missing_ties)
from ..conv import has_params
from ..errors import ConfigError
from ..network import Network
from ..neurons import get_activation
from ..oracles import register_oracle
from ..params import bias_key
from ..randomness import RngState
from ..relaxation import (RelaxationHyper, max_steps_param, on_unconverged_param, step_size_param, summarise,
                          tolerance_param)
from ..validation import check
from .base import Rule, RuleInfo, param, register

NUDGING = ("symmetric", "one-sided", "random-sign")
#: Samples per relaxation in :meth:`EquilibriumPropagation.predict` (bounds the memory of a
#: 60,000-image evaluation; the result does not depend on it).
PREDICT_CHUNK = 8192


def _contrastive(le: LayeredEnergy, x: np.ndarray, a: list, b: list, scale: float) -> dict:
    """:func:`contrastive_update` on state lists (the rule's inner loop)."""
    batch = x.shape[0]
    factor = scale / batch
    dw = {}
    for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
        if l == 0:
            # the clamped input is the same in both states: one (n_1, n_0) product, not two
            g = (a[0] - b[0]).T @ x
        else:
            g = a[l].T @ a[l - 1] - b[l].T @ b[l - 1]
        g *= factor  # in place: the scaled product without a second (n_l, n_{l-1}) array
        dw[proj.name] = g
        if layer.bias:
            dw[bias_key(layer.name)] = scale * namespace(x).sum(a[l] - b[l], axis=0) / batch
    return dw


def contrastive_update(network: Network, x: np.ndarray, state_a: dict, state_b: dict, scale: float,
                       params: dict | None = None) -> dict:
    """:math:`\\mathrm{scale}\\cdot\\langle a_l a_{l-1}^\\top - b_l b_{l-1}^\\top\\rangle` per coupling (and biases).

    The contrastive Hebbian term of EP between two states of the energy layers
    (:math:`a_0 = b_0 = x`), batch mean; keys as in ``params``.  It equals
    :math:`-\\mathrm{scale}\\,(\\partial E/\\partial\\theta(a) - \\partial E/\\partial\\theta(b))`, which on a
    convolutional net (:class:`neurosim.energy.ConvEnergyKernel`) is computed with the
    operations' weight gradients and needs ``params`` (a max pooling after a convolution
    routes by the argmax of the weighted drive).

    Parameters
    ----------
    network : Network
        A layered energy net (:func:`neurosim.energy.layered_energy`).
    x : ndarray of shape (batch, n_input)
    state_a, state_b : dict of str to ndarray (batch, n_l)
    scale : float
        ``1/beta`` (one-sided) or ``1/(2 beta)`` (symmetric).
    params : dict, optional
        The parameters (needed on convolutional nets only).
    """
    le = layered_energy(network)
    a, b = [state_a[n] for n in le.names], [state_b[n] for n in le.names]
    if not le.dense:  # through the convolutions and poolings (where a window's argmax depends on W)
        if params is None:
            raise ConfigError(f"contrastive_update: network '{network.name}' has convolution or pooling couplings, "
                              "whose dPhi/dW depends on the weights (the pooling's argmax); pass params=")
        return EnergyKernel.gather(network, params, x.dtype).contrastive(x, a, b, scale)
    return _contrastive(le, x, a, b, scale)


def pool_before_activation(network: Network) -> Network:
    """``network`` with each max pooling moved before the activation it follows (Laborieux et al. 2021).

    LeNet's order -- a layer :math:`A` with a non-decreasing activation :math:`\\sigma` and a bias
    :math:`b^A`, then a max pooling :math:`P` of its rates into a linear, bias-free layer
    :math:`B` -- becomes :math:`A` linear and bias-free, :math:`B` with :math:`\\sigma` and a bias
    :math:`b^B` (``bias_init`` carried over):

    .. math::  s_B = P\\big(\\sigma(W \\star s_{\\mathrm{prev}} + b^A)\\big)
               \\;\\longrightarrow\\;
               s_B = \\sigma\\big(P(W \\star s_{\\mathrm{prev}}) + b^B\\big).

    A non-decreasing :math:`\\sigma` commutes with a maximum,
    :math:`\\max_i \\sigma(u_i) = \\sigma(\\max_i u_i)`, so the feed-forward maps are equal
    whenever :math:`b^A` is constant over each pooling window and :math:`b^B` is that constant;
    they differ only in the bias parameterisation (one per position before the pooling, one
    per pooled unit after it).  In the energy, :math:`A` is then folded into the coupling
    :math:`f(s) = P(W \\star s)` and :math:`B` is the energy layer, Laborieux et al. (2021)'s
    :math:`s_{n+1} = \\sigma(P(W_{n+1} \\star s_n) + b_{n+1} + \\dots)`: the top-down term is
    routed by the argmax of the weighted drive, and the relaxation settles.  In LeNet's order
    :math:`\\Phi` holds :math:`s_{n+1} \\cdot W \\star P(s_n)`, whose minima lie on pooling ties
    wherever the weights above have mixed signs, and the relaxation does not settle
    (``docs/rules/equilibrium.md``).

    Left unchanged: average pooling (:math:`\\mathrm{avg}\\,\\sigma(u) \\ne \\sigma(\\mathrm{avg}\\,u)`;
    that order is well posed as it is), an activation that is not monotone
    (:attr:`neurosim.neurons.Activation.monotone`), a linear :math:`A`, a :math:`B` with an
    activation or a bias, and any pair with other projections into or out of them (the
    pattern must be exactly prev -> A -> pool -> B).  Idempotent: a rewritten pair no longer
    matches.

    Parameters
    ----------
    network : Network

    Returns
    -------
    Network
        ``network`` itself when nothing matches, else a copy (the projections unchanged).
    """
    changed = {}
    for pool in network.select("feedforward"):
        if pool.operation != "max_pool2d":
            continue
        a, b = network.layer(pool.pre), network.layer(pool.post)
        act = get_activation(a.activation)
        into_a = [p for p in network.projections if p.post == a.name]
        if (a.role != "hidden" or b.role != "hidden" or act.name == "linear" or not act.monotone
                or get_activation(b.activation).name != "linear" or b.bias
                or len(into_a) != 1 or into_a[0].kind != "feedforward" or not has_params(into_a[0])
                or [p for p in network.projections if p.pre == a.name] != [pool]
                or [p for p in network.projections if p.post == b.name] != [pool]):
            continue
        changed[a.name] = replace(a, activation="linear", bias=False, bias_init=0.0)
        changed[b.name] = replace(b, activation=a.activation, bias=a.bias, bias_init=a.bias_init)
    if not changed:
        return network
    return network.replace(layers=tuple(changed.get(layer.name, layer) for layer in network.layers))


def check_pooled_rates(network: Network) -> None:
    r"""Refuse, in one line, a max pooling whose pooled drive enters the energy with a sign that
    can be negative.

    With :math:`s_B = \sigma(P(u) + b)` the energy holds :math:`s_B \cdot P(u)`; for
    :math:`s_B \ge 0` that term is a non-negative combination of maxima, convex in :math:`u`,
    and the relaxation settles (Laborieux et al. 2021: conv, max pooling, then a hard sigmoid).
    A signed :math:`s_B` (tanh, linear...) makes it concave where the weight is negative, with
    minima on pooling ties: measured on LeNet's tanh card, the free phase's residual stays at 1.4
    after 200 steps, reordered or not (``docs/rules/equilibrium.md``).  So the layer a max
    pooling drives must be an energy layer with rates bounded below by 0
    (:attr:`neurosim.neurons.Activation.bounds`).
    """
    for pool in network.select("feedforward"):
        if pool.operation != "max_pool2d":
            continue
        b = network.layer(pool.post)
        act = get_activation(b.activation)
        if act.name == "linear" or act.bounds[0] < 0:
            raise ConfigError(
                f"rule 'ep': max pooling '{pool.name}' drives layer '{b.name}' ({b.activation}, rates down to "
                f"{act.bounds[0]:g}); an energy with a max pooling needs non-negative rates right after it (else "
                f"its minima sit on pooling ties and the relaxation does not settle) -- give '{b.name}' a "
                "non-negative activation (hard_sigmoid, sigmoid, relu), e.g. models/ep_lenet_fashion.toml for LeNet")


@dataclass(frozen=True)
class EPHyper(RelaxationHyper):
    """Hyper-parameters of :class:`EquilibriumPropagation` (the relaxation vocabulary of
    :mod:`neurosim.relaxation`, plus ``nudged_max_steps`` for the nudged phases)."""

    beta: float = param(0.001, gt=0, doc="nudging strength beta (the EP estimate's error is O(beta) one-sided, "
                                          "O(beta^2) symmetric)")
    nudging: str = param("symmetric", choices=NUDGING,
                         doc="symmetric (+beta and -beta), one-sided (+beta) or random-sign (one phase, the sign "
                             "drawn per batch from the state)")
    max_steps: int = max_steps_param(1000, doc="cap on the free phase's updates (the exact count when "
                                               "tolerance = 0)")
    nudged_max_steps: int = max_steps_param(1000, doc="cap on each nudged phase's updates (the exact count when "
                                                      "tolerance = 0); Scellier & Bengio (2017) use fewer nudged "
                                                      "than free steps")
    step_size: float = step_size_param(1.0, le=1, doc="epsilon of s <- (1 - eps) s + eps rho(a(s) - beta dC/ds); "
                                                      "1: the discrete-time setting of Ernoult et al. (2019)")
    schedule: str = param("alternating", choices=SCHEDULES,
                          doc="layer update order: alternating (even layers, then odd ones: block-coordinate "
                              "descent on E, no period-2 cycles) or synchronous")
    tolerance: float = tolerance_param(1e-6, allow_zero=True,
                                       doc="a phase stops when max |rho(a - beta dC/ds) - s| <= tolerance; 0 runs "
                                           "exactly the caps (Scellier & Bengio's fixed-step protocol)")
    on_unconverged: str = on_unconverged_param(
        "record", doc="a phase that misses tolerance > 0 within its cap: record (training: stop at the cap like "
                      "published EP code and count it in aux['relaxation']), warn, or raise (theory checks); "
                      "divergence always raises")
    learning_rate_scales: Mapping = param(default_factory=dict, kind="mapping",
                                          doc="per-parameter factors of the optimiser's learning rate (keys like "
                                              "params), e.g. Scellier & Bengio's per-layer rates")

    removed: ClassVar[Mapping[str, str]] = {
        "seed": "random-sign nudging draws its signs from the rule's state, seeded by "
                "rule.init(network, params, seed) (the run's seed)"}

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "learning_rate_scales",
                           _checked_scales(type(self).__name__, self.learning_rate_scales))

    @classmethod
    def create(cls, owner: str, values: Mapping[str, Any] | None = None) -> "EPHyper":
        values = dict(values or {})
        if isinstance(values.get("learning_rate_scales"), Mapping):
            _checked_scales(owner, values["learning_rate_scales"])  # the owner's name in the message
        return super().create(owner, values)


def _checked_scales(owner: str, scales: Mapping) -> dict:
    out = {}
    for key, value in scales.items():
        if not isinstance(key, str):
            raise ConfigError(f"{owner}: 'learning_rate_scales' keys must be parameter names, got {key!r}")
        out[key] = float(check(owner, f"learning_rate_scales['{key}']", value, "number", gt=0,
                               hint="learning_rate_scales maps parameter names to positive numbers."))
    return out


@register
class EquilibriumPropagation(Rule):
    """Equilibrium propagation on a symmetric layered Hopfield net (module docstring).

    Hyper-parameters: :class:`EPHyper`.  The state holds the random-number position of
    ``random-sign`` nudging (``{"rng": RngState}``); ``aux`` holds

    * ``"relaxation"``: ``{"phases", "unconverged", "steps", "max_residual"}`` of this call
      (:func:`neurosim.relaxation.summarise`; the training loop sums it per epoch);
    * ``"free"``: ``{"steps", "residual", "converged", "tolerance"}`` of the free phase;
    * ``"nudged"``: the same per nudged phase, with its ``"beta"``.

    Only :meth:`updates` counts phases: :meth:`predict` (evaluation) reports nothing.
    """

    name = "ep"
    family = "equilibrium"
    citation = ("Scellier & Bengio (2017). Equilibrium propagation: bridging the gap between energy-based "
                "models and backpropagation. Front. Comput. Neurosci. 11:24; symmetric nudging: Laborieux "
                "et al. (2021), Front. Neurosci. 15:633674.")
    # spiking version: neurosim.spiking.equilibrium
    # conv/LC/pooling/flatten couplings: the convolutional Hopfield energy of Laborieux et al. (2021)
    # (ConvEnergyKernel); the adjoint operations appear only as the ties network() adds
    info = RuleInfo(reference="implicit", losses=("mse", "cross_entropy"), aliases=("equilibrium-propagation",),
                    activation="hard_sigmoid", backends=("rate", "spiking"), arrays=("numpy", "torch"),
                    operations=(*COUPLING_OPERATIONS, "conv_transpose2d", "locally_connected_transpose2d"))
    Hyper = EPHyper

    # ------------------------------------------------------------------ description
    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """A symmetric layered net: ``spec`` with a ``kind = "feedback"`` projection ``tied_to`` each
        coupling between energy layers (no new parameters), validated; idempotent.

        A max pooling that reads the rates of a layer with a monotone activation (LeNet's order)
        is first moved before that activation, :math:`P(\\sigma(W \\star s + b)) \\to
        \\sigma(P(W \\star s) + b')` (:func:`pool_before_activation`, Laborieux et al. 2021): the
        same feed-forward map up to the bias parameterisation, and an energy whose minima are not
        on pooling ties; a max pooling must then drive non-negative rates
        (:func:`check_pooled_rates`: LeNet's tanh card is refused in one line).

        For layer sizes: Scellier & Bengio (2017)'s net -- hard sigmoid everywhere, squared
        error (``loss="cross_entropy"``: a linear read-out outside the energy, Laborieux et al.
        2021), Xavier initialisation x 0.5 (at full Xavier scale the free fixed point of a
        64-wide net is nearly marginal: slow relaxation, hard-sigmoid kinks crossed already at
        beta ~ 1e-3).
        """
        if not isinstance(spec, Network):
            plain = super().network(spec, activation=activation, loss=loss or "mse", name=name or "ep")
            act = activation or self.info.activation
            spec = Network.feedforward(list(plain.sizes), activation=act,
                                       output_activation=act if plain.loss == "mse" else "linear",
                                       loss=plain.loss, init_scale=0.5, name=plain.name)
        spec = pool_before_activation(spec)
        lacking = missing_ties(spec)
        out = spec.add(*lacking) if lacking else spec
        layered_energy(out)  # validate now, where the user built the network
        check_pooled_rates(out)
        return out

    def init(self, network: Network, params: dict, seed: int = 0) -> dict:
        """``{"rng": RngState}``: the sign draws of ``random-sign`` nudging (``default_rng(seed)``'s numbers)."""
        return {"rng": RngState.from_seed(seed)}

    def learning_rate_scales(self, network: Network) -> dict:
        """The ``learning_rate_scales`` hyper-parameter, checked against ``network``'s parameters."""
        scales = self.hyper.learning_rate_scales
        if scales:
            known = {p.name for p in network.chain() if has_params(p)} | {
                bias_key(layer.name) for layer in network.layers if layer.bias and layer.role != "input"}
            for key in scales:
                if key not in known:
                    raise ConfigError(f"rule 'ep': learning_rate_scales names '{key}', which is not a parameter "
                                      f"of network '{network.name}'; expected one of {', '.join(sorted(known))}")
        return dict(scales)

    # ------------------------------------------------------------------ the two phases
    def _nudges(self, state) -> tuple[tuple[float, ...], Any]:
        """The nudging strengths of this batch and the next state."""
        beta = float(self.hyper.beta)
        if self.hyper.nudging == "symmetric":
            return (beta, -beta), state
        if self.hyper.nudging == "one-sided":
            return (beta,), state
        if not isinstance(state, Mapping) or not isinstance(state.get("rng"), RngState):
            raise ConfigError(f"rule '{self.name}': random-sign nudging needs the state from "
                              f"rule.init(network, params, seed), got {state!r}")
        rng = state["rng"].generator()
        sign = beta if rng.random() < 0.5 else -beta
        return (sign,), {**state, "rng": RngState.of(rng)}

    def _relax(self, K: EnergyKernel, x, t, inp, s0, beta: float, readout_delta=None):
        """One phase with the rule's relaxation settings: ``(state list, Convergence)``."""
        h = self.hyper
        nudged = beta != 0.0
        return K.relax(x, t, s0, beta=beta, step_size=h.step_size, tolerance=h.tolerance,
                       max_steps=h.nudged_max_steps if nudged else h.max_steps, schedule=h.schedule,
                       on_unconverged=h.on_unconverged, inp=inp, owner=f"rule '{self.name}'",
                       phase=f"nudged phase (beta={beta:g})" if nudged else "free phase",
                       cap_name="nudged_max_steps" if nudged else "max_steps", readout_delta=readout_delta)

    def updates(self, network: Network, params: dict, state, x, target):
        """EP's weight and bias changes for one batch (batch mean), keyed like ``params``.

        Parameters
        ----------
        network : Network
            A symmetric layered net (:meth:`network`).
        params : dict
            Not modified.
        state : dict
            :meth:`init`'s state (its generator is advanced only by random-sign nudging).
        x : ndarray of shape (batch, n_input)
        target : ndarray of shape (batch, n_output)

        Returns
        -------
        dW : dict of str to ndarray
            In the dtype of ``x`` and the weights (float32 stays float32).
        state : dict
        aux : dict
            ``relaxation``, ``free``, ``nudged`` (class docstring).
        """
        K, x, t = kernel_for_batch(network, params, x, target)
        if t is None:
            raise ConfigError(f"rule '{self.name}': updates needs the target (the nudged phases pull towards it)")
        check_nudge_stability(f"rule '{self.name}'", network, self.hyper.step_size, self.hyper.beta)
        inp = K.input_drive(x)  # the input is clamped: computed once, shared by every phase
        free, free_conv = self._relax(K, x, t, inp, None, 0.0)
        betas, state = self._nudges(state)
        # the read-out's dC/dz at each nudged state, handed out by the relaxation's last step
        deltas = [None if K.W_out is None else zeros((x.shape[0], K.W_out.shape[0]), like=K.W_out)
                  for _ in betas]
        nudged = [self._relax(K, x, t, inp, free, b, d) for b, d in zip(betas, deltas)]
        a, b, scale = ((nudged[0][0], nudged[1][0], 1.0 / (2.0 * betas[0])) if len(nudged) == 2 else
                       (nudged[0][0], free, 1.0 / betas[0]))
        # dense: the contrastive Hebbian products; conv: dPhi/dtheta through the operations
        dw = _contrastive(K.structure, x, a, b, scale) if K.structure.dense else K.contrastive(x, a, b, scale)
        if K.W_out is not None:
            grads = [K.readout_grads(s[-1], t, delta=d) for (s, _), d in zip(nudged, deltas)]
            for key in grads[0]:
                dw[key] = -sum(g[key] for g in grads) / len(grads)
        aux = {"relaxation": summarise(free_conv, *(c for _, c in nudged)), "free": free_conv.to_dict(),
               "nudged": [{"beta": b, **c.to_dict()} for b, (_, c) in zip(betas, nudged)]}
        return {k: astype(v, K.dtype) for k, v in dw.items()}, state, aux

    def predict(self, network: Network, params: dict, x) -> np.ndarray:
        """Output rates at the free fixed point, shape (batch, n_output) (read-out rates for CE).

        Relaxes ``PREDICT_CHUNK`` samples at a time (samples do not interact).
        """
        K, x, _ = kernel_for_batch(network, params, x)
        out = []
        for i in range(0, max(len(x), 1), PREDICT_CHUNK):
            xc = x[i:i + PREDICT_CHUNK]
            s, _ = self._relax(K, xc, None, K.input_drive(xc), None, 0.0)
            out.append(K.output(s))
        return concat(out, axis=0)


@register_oracle("implicit")
def implicit_oracle(rule: Rule, network: Network, params: dict, x, target) -> dict:
    """:math:`-dL/d\\theta` at the free fixed point, by implicit differentiation (float64).

    The reference of :class:`EquilibriumPropagation`, with its relaxation hyper-parameters
    (``step_size``, ``schedule``) but its own tight convergence: tolerance 1e-10 and up to
    ``max(10000, max_steps)`` steps, so a truncated free phase of the rule is scored against
    the true fixed point (:func:`neurosim.energy.implicit_gradient`).  Computed with numpy on
    the host (its batched linear solves and Cholesky test are LAPACK's); for tensors the
    descent is moved to their device, in float64 (float32 on MPS).
    """
    h = rule.hyper
    descent = implicit_gradient(network, params, x, target, step_size=h["step_size"], tolerance=1e-10,
                                max_steps=max(10000, h["max_steps"]), schedule=h["schedule"]).descent()
    if namespace(x) is np:
        return descent
    return {k: asarray_like(v, x, widest_float(x)) for k, v in descent.items()}  # computed on the host

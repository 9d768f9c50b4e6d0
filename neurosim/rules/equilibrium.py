"""Equilibrium propagation (EP), rate version.

Scellier & Bengio (2017) train a symmetric, layered Hopfield-like network (the energy
:math:`E` and cost :math:`C` of :mod:`neurosim.energy`) in two phases:

1. **free phase**: with the input clamped, relax to a fixed point :math:`s^0` of
   :math:`F = E` (``n_free_steps``, ``tolerance``);
2. **nudged phase**: from :math:`s^0`, relax to a fixed point :math:`s^\\beta` of
   :math:`F = E + \\beta C`, which pulls the output towards the target
   (``n_nudged_steps``).

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
loss at the free fixed point (:func:`neurosim.energy.implicit_gradient`), which is what
:meth:`EquilibriumPropagation.reference_updates` returns.
"""
from __future__ import annotations

import numpy as np

from ..energy import (SCHEDULES, _gather, _input_drive, _output, _readout_grads, _relax,
                      implicit_gradient, layered_energy, missing_ties)
from ..errors import ConfigError
from ..network import Network
from ..params import bias_key, check_params
from ..reference import check_batch
from .base import Rule, register

NUDGING = ("symmetric", "one-sided", "random-sign")
ON_UNCONVERGED = ("record", "raise")
#: Samples per relaxation in :meth:`EquilibriumPropagation.predict` (bounds the memory of a
#: 60,000-image evaluation; the result does not depend on it).
PREDICT_CHUNK = 8192


def contrastive_update(network: Network, x: np.ndarray, state_a: dict, state_b: dict, scale: float) -> dict:
    """:math:`\\mathrm{scale}\\cdot\\langle a_l a_{l-1}^\\top - b_l b_{l-1}^\\top\\rangle` per coupling (and biases).

    The contrastive Hebbian term of EP between two states of the energy layers
    (:math:`a_0 = b_0 = x`), batch mean; keys as in ``params``.  It equals
    :math:`-\\mathrm{scale}\\,(\\partial E/\\partial\\theta(a) - \\partial E/\\partial\\theta(b))`.

    Parameters
    ----------
    x : ndarray of shape (batch, n_input)
    state_a, state_b : dict of str to ndarray (batch, n_l)
    scale : float
        ``1/beta`` (one-sided) or ``1/(2 beta)`` (symmetric).
    """
    le = layered_energy(network)
    batch = x.shape[0]
    dw = {}
    for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
        a, b = state_a[layer.name], state_b[layer.name]
        if l == 0:
            # the clamped input is the same in both states: one (n_1, n_0) product, not two
            dw[proj.name] = (scale / batch) * ((a - b).T @ x)
        else:
            a_below, b_below = state_a[le.layers[l - 1].name], state_b[le.layers[l - 1].name]
            dw[proj.name] = (scale / batch) * (a.T @ a_below - b.T @ b_below)
        if layer.bias:
            dw[bias_key(layer.name)] = scale * (a - b).sum(axis=0) / batch
    return dw


@register
class EquilibriumPropagation(Rule):
    """Equilibrium propagation on a symmetric layered Hopfield net (module docstring).

    Hyper-parameters
    ----------------
    beta : float > 0
        Nudging strength :math:`\\beta`.
    nudging : {"symmetric", "one-sided", "random-sign"}
    n_free_steps, n_nudged_steps : int
        Step caps of the two phases (exact step counts when ``tolerance = 0``).
    step_size : float in (0, 1]
        :math:`\\epsilon` of the relaxation.
    schedule : {"alternating", "synchronous"}
        Layer update order of the relaxation (:func:`neurosim.energy.relax`):
        ``synchronous`` with ``step_size = 1`` is the discrete-time setting of Ernoult et
        al. (2019); ``alternating`` (even layers, then odd ones) is block-coordinate
        descent on the energy and avoids the period-2 cycles of synchronous updates.
    tolerance : float >= 0
        Fixed-point residual at which a phase stops early.  ``0`` runs exactly the step caps
        (Scellier & Bengio's fixed-step protocol) and evaluates the residual once, at the end.
    on_unconverged : {"record", "raise"}
        What a phase that misses ``tolerance > 0`` within its cap does.  ``"record"`` (the
        default; training) stops at the cap like the fixed-step protocol of published EP code
        (Scellier & Bengio 2017; Laborieux et al. 2021) and records the residual in
        :attr:`last_relaxation_` and :attr:`relaxation_stats_`; ``"raise"`` (theory checks)
        raises :class:`~neurosim.errors.ConvergenceError`.  True divergence -- a non-finite
        state, or a residual that grew to more than twice its start value -- raises in both.
    learning_rate_scales : dict of str to float
        Per-parameter factors of the optimiser's learning rate (keys like ``params``), e.g.
        Scellier & Bengio's per-layer rates; see :meth:`learning_rate_scales`.
    seed : int
        Seed of the sign draws of ``random-sign`` nudging.

    Attributes
    ----------
    last_relaxation_ : dict
        Diagnostics of the last :meth:`updates` call: ``{"free": {...}, "nudged": [{...}]}``,
        each with ``beta``, ``steps``, ``residual``, ``converged``, ``tolerance``.
    relaxation_stats_ : dict
        Running totals of the training phases (:meth:`updates`; :meth:`predict` is not counted)
        since construction or :meth:`reset_stats`: ``phases``, ``unconverged`` (phases that
        stopped at their cap above ``tolerance``), ``max_residual``, ``steps``.
    """

    name = "ep"
    backends = ("rate", "spiking")  # spiking version: neurosim.spiking.equilibrium
    family = "equilibrium"
    reference = "implicit"
    losses = ("mse", "cross_entropy")
    aliases = ("equilibrium-propagation",)
    citation = ("Scellier & Bengio (2017). Equilibrium propagation: bridging the gap between energy-based "
                "models and backpropagation. Front. Comput. Neurosci. 11:24; symmetric nudging: Laborieux "
                "et al. (2021), Front. Neurosci. 15:633674.")
    defaults = {"beta": 0.001, "nudging": "symmetric", "n_free_steps": 1000, "n_nudged_steps": 1000,
                "step_size": 1.0, "schedule": "alternating", "tolerance": 1e-6, "on_unconverged": "record",
                "learning_rate_scales": {}, "seed": 0}

    def __init__(self, **hyper):
        super().__init__(**hyper)
        h = self.hyper
        if not h["beta"] > 0:
            raise ConfigError(f"rule 'ep': hyper-parameter 'beta' must be > 0 (the nudging strength), got "
                              f"{h['beta']!r}")
        if h["nudging"] not in NUDGING:
            raise ConfigError(f"rule 'ep': hyper-parameter 'nudging' must be one of {', '.join(NUDGING)}, got "
                              f"{h['nudging']!r}")
        for key in ("n_free_steps", "n_nudged_steps", "seed"):
            value = h[key]
            if isinstance(value, bool) or not float(value).is_integer() or value < (0 if key == "seed" else 1):
                raise ConfigError(f"rule 'ep': hyper-parameter '{key}' must be a "
                                  f"{'non-negative' if key == 'seed' else 'positive'} integer, got {value!r}")
            h[key] = int(value)
        if not 0 < h["step_size"] <= 1:
            raise ConfigError(f"rule 'ep': hyper-parameter 'step_size' must be in (0, 1], got {h['step_size']!r}")
        if h["schedule"] not in SCHEDULES:
            raise ConfigError(f"rule 'ep': hyper-parameter 'schedule' must be one of {', '.join(SCHEDULES)}, got "
                              f"{h['schedule']!r}")
        if not h["tolerance"] >= 0:
            raise ConfigError(f"rule 'ep': hyper-parameter 'tolerance' must be >= 0, got {h['tolerance']!r}")
        if h["on_unconverged"] not in ON_UNCONVERGED:
            raise ConfigError(f"rule 'ep': hyper-parameter 'on_unconverged' must be one of "
                              f"{', '.join(ON_UNCONVERGED)}, got {h['on_unconverged']!r}")
        scales = h["learning_rate_scales"]
        if not isinstance(scales, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                for k, v in scales.items()):
            raise ConfigError(f"rule 'ep': hyper-parameter 'learning_rate_scales' must map parameter names to "
                              f"positive numbers, got {scales!r}")
        h["learning_rate_scales"] = {k: float(v) for k, v in scales.items()}
        self.rng_ = np.random.default_rng(h["seed"])
        self.last_relaxation_: dict = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        """Zero :attr:`relaxation_stats_`."""
        self.relaxation_stats_ = {"phases": 0, "unconverged": 0, "max_residual": 0.0, "steps": 0}

    def learning_rate_scales(self, network: Network) -> dict:
        """The ``learning_rate_scales`` hyper-parameter, checked against ``network``'s parameters."""
        scales = self.hyper["learning_rate_scales"]
        if scales:
            known = {p.name for p in network.chain()} | {bias_key(layer.name) for layer in network.layers
                                                          if layer.bias and layer.role != "input"}
            for key in scales:
                if key not in known:
                    raise ConfigError(f"rule 'ep': learning_rate_scales names '{key}', which is not a parameter "
                                      f"of network '{network.name}'; expected one of {', '.join(sorted(known))}")
        return dict(scales)

    @classmethod
    def default_network(cls, sizes, *, activation: str = "hard_sigmoid", name: str = "ep") -> Network:
        """Scellier & Bengio (2017)'s net: hard sigmoid everywhere, squared error, tied feedback."""
        # Xavier x 0.5: at full Xavier scale the free fixed point of a 64-wide net is nearly
        # marginal (slow relaxation, hard-sigmoid kinks crossed already at beta ~ 1e-3).
        net = Network.feedforward(list(sizes), activation=activation, output_activation=activation, loss="mse",
                                  init_scale=0.5, name=name)
        return cls().prepare(net)

    def prepare(self, network: Network) -> Network:
        """Add a ``kind = "feedback"`` projection ``tied_to`` each coupling between energy layers.

        Idempotent; the transposed weights make the interaction symmetric (no new parameters).
        """
        lacking = missing_ties(network)
        out = network.add(*lacking) if lacking else network
        layered_energy(out)  # validate now, where the user built the network
        return out

    # ------------------------------------------------------------------ the two phases
    def _relax(self, A, x, t, inp, *, beta, state, max_steps, phase):
        """One phase on gathered arrays (no validation), with the rule's settings; returns a dict."""
        h = self.hyper
        s, steps, residual, converged = _relax(
            # _relax never writes into the arrays it is given, so the free state is shared
            A, x, t, list(state) if state is not None else _state_list_like(A, x),
            beta=beta, step_size=h["step_size"], tolerance=h["tolerance"], max_steps=max_steps, phase=phase,
            check=h["on_unconverged"] == "raise", schedule=h["schedule"], inp=inp)
        return {"state": s, "beta": float(beta), "steps": steps, "residual": residual, "converged": converged,
                "tolerance": float(h["tolerance"])}

    def _phases(self, A, x, t):
        """Free phase and nudged phase(s) of one batch; the input drive is computed once."""
        h = self.hyper
        if A.loss == "mse" and h["step_size"] * (1.0 + h["beta"]) >= 2.0:
            # as in neurosim.energy.relax: the squared-error nudge feeds each output back on
            # itself with gain -beta
            raise ConfigError(f"rule 'ep': with the squared-error cost the nudged phase oscillates unless "
                              f"step_size * (1 + beta) < 2; got step_size={h['step_size']:g}, beta={h['beta']:g} "
                              "(lower step_size or beta)")
        inp = _input_drive(A, x)
        free = self._relax(A, x, t, inp, beta=0.0, state=None, max_steps=h["n_free_steps"], phase="free")
        beta = float(h["beta"])
        if h["nudging"] == "symmetric":
            betas = (beta, -beta)
        elif h["nudging"] == "one-sided":
            betas = (beta,)
        else:
            betas = (beta if self.rng_.random() < 0.5 else -beta,)
        nudged = [self._relax(A, x, t, inp, beta=b, state=free["state"], max_steps=h["n_nudged_steps"],
                              phase="nudged") for b in betas]
        self.last_relaxation_ = {"free": _diag(free), "nudged": [_diag(n) for n in nudged]}
        # training phases only: predict's relaxations (evaluation) are not counted
        stats = self.relaxation_stats_
        for phase in (free, *nudged):
            stats["phases"] += 1
            stats["steps"] += phase["steps"]
            stats["unconverged"] += int(phase["tolerance"] > 0 and not phase["converged"])
            stats["max_residual"] = max(stats["max_residual"], phase["residual"])
        return free, nudged

    def updates(self, network: Network, params: dict, x, target) -> dict:
        """EP's weight and bias changes for one batch (batch mean), keyed like ``params``.

        Parameters
        ----------
        x : ndarray of shape (batch, n_input)
        target : ndarray of shape (batch, n_output)

        Returns
        -------
        dict of str to ndarray
            In the dtype of ``x`` and the weights (float32 stays float32).
        """
        le = layered_energy(network)
        check_params(network, params)
        x, t = check_batch(network, x, target)
        dtype = np.result_type(x.dtype, *(np.asarray(params[p.name]).dtype for p in network.chain()))
        x, t = x.astype(dtype, copy=False), t.astype(dtype, copy=False)
        A = _gather(le, params, dtype)
        free, nudged = self._phases(A, x, t)
        names = le.names
        if len(nudged) == 2:
            plus, minus = nudged
            dw = contrastive_update(network, x, dict(zip(names, plus["state"])), dict(zip(names, minus["state"])),
                                    1.0 / (2.0 * plus["beta"]))
        else:
            one = nudged[0]
            dw = contrastive_update(network, x, dict(zip(names, one["state"])), dict(zip(names, free["state"])),
                                    1.0 / one["beta"])
        if le.readout is not None:
            grads = [_readout_grads(le, A, n["state"][-1], t) for n in nudged]
            for key in grads[0]:
                dw[key] = -sum(g[key] for g in grads) / len(grads)
        return {k: v.astype(dtype, copy=False) for k, v in dw.items()}

    def predict(self, network: Network, params: dict, x) -> np.ndarray:
        """Output rates at the free fixed point, shape (batch, n_output) (read-out rates for CE).

        Relaxes ``PREDICT_CHUNK`` samples at a time (samples do not interact).
        """
        le = layered_energy(network)
        x, _ = check_batch(network, x)
        dtype = np.result_type(x.dtype, *(np.asarray(params[p.name]).dtype for p in network.chain()))
        x = x.astype(dtype, copy=False)
        A = _gather(le, params, dtype)
        out = []
        for i in range(0, max(len(x), 1), PREDICT_CHUNK):
            xc = x[i:i + PREDICT_CHUNK]
            free = self._relax(A, xc, None, _input_drive(A, xc), beta=0.0, state=None,
                               max_steps=self.hyper["n_free_steps"], phase="free, predict")
            out.append(_output(A, free["state"]))
        return np.concatenate(out, axis=0)

    def reference_updates(self, network: Network, params: dict, x, target) -> dict:
        """:math:`-dL/d\\theta` at the free fixed point, by implicit differentiation (float64).

        The oracle relaxes on its own, to a tight tolerance (1e-10, up to
        ``max(10000, n_free_steps)`` steps), so a truncated free phase of the rule is scored
        against the true fixed point.
        """
        h = self.hyper
        return implicit_gradient(network, params, x, target, step_size=h["step_size"], tolerance=1e-10,
                                 max_steps=max(10000, h["n_free_steps"]), schedule=h["schedule"]).descent()


def _state_list_like(A, x) -> list:
    """The zero initial state of the energy layers for the batch ``x`` (the free phase's start)."""
    return [np.zeros((x.shape[0], w.shape[0]), dtype=A.dtype) for w in A.W]


def _diag(phase: dict) -> dict:
    return {k: v for k, v in phase.items() if k != "state"}

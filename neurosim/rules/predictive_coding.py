"""Rate predictive coding (PC): standard PC, the fixed-prediction assumption, and Z-IL.

Conventions
-----------
The network is a feed-forward chain ``input -> 1 -> ... -> L = output`` taken from
:meth:`~neurosim.network.Network.chain`, with weights :math:`W_l` of shape
``(n_l, n_{l-1})`` and biases :math:`b_l`, exactly as in :mod:`neurosim.reference`
(:math:`u_l = W_l r_{l-1} + b_l`, :math:`r_l = \\phi_l(u_l)`, :math:`r_0 = x`).

Every hidden layer ``l = 1 .. L-1`` has *value nodes* :math:`v_l` (a somatic potential, so
:math:`v_l` plays the role of :math:`u_l`) and *error nodes* :math:`\\varepsilon_l`.  Each layer
predicts the next one from the rate of the previous one (Whittington & Bogacz 2017):

.. math::  \\mu_l = W_l\\,\\phi_{l-1}(v_{l-1}) + b_l, \\qquad \\varepsilon_l = v_l - \\mu_l,
           \\qquad \\phi_0(v_0) \\equiv x .

The output layer is clamped to the target :math:`t`.  Its energy is the reference loss
:math:`\\ell` of the network evaluated at the output prediction, weighted by the output
precision :math:`\\gamma` (hidden precisions are 1):

.. math::  F(v) = \\sum_{l=1}^{L-1} \\tfrac12 \\lVert \\varepsilon_l \\rVert^2
           + \\gamma\\, \\ell\\big(\\phi_L(\\mu_L), t\\big).

With a linear output and ``mse`` this is the clamped model of Whittington & Bogacz (2017),
:math:`\\ell = \\tfrac12\\lVert t - \\mu_L\\rVert^2`, :math:`\\varepsilon_L = t - \\mu_L`; with
``cross_entropy`` the output energy is the cross-entropy itself, whose error unit is
:math:`\\varepsilon_L = t - \\mathrm{softmax}(\\mu_L)` (Millidge, Tschantz & Buckley 2022;
Pinchetti et al. 2024).  In general the output error unit is
:math:`\\varepsilon_L = -\\partial \\ell/\\partial \\mu_L` (potential space: for ``mse`` and a
non-linear output, :math:`(t - \\phi_L(\\mu_L)) \\odot \\phi_L'(\\mu_L)`).  The output precision
:math:`\\gamma` is the same thing as the nudging strength :math:`\\beta` of a weakly nudged
energy :math:`F + \\beta\\ell`.

Inference is gradient descent on :math:`F` with rate :math:`\\eta`, from the feed-forward
pass :math:`v_l = u_l` (all hidden errors zero):

.. math::  v_l \\leftarrow v_l - \\eta\\,\\frac{\\partial F}{\\partial v_l}, \\qquad
           \\frac{\\partial F}{\\partial v_l} = e_l - \\phi_l'(v_l) \\odot W_{l+1}^\\top e_{l+1},

with precision-weighted errors :math:`e_l = \\varepsilon_l` (hidden) and
:math:`e_L = \\gamma\\varepsilon_L`.  The weight update is local -- post-synaptic error times
pre-synaptic rate, batch mean -- divided by :math:`\\gamma` so that its scale is that of
:math:`-\\partial L/\\partial W` (a learning rate of :math:`1/\\gamma`):

.. math::  \\Delta W_l = \\langle \\hat\\varepsilon_l\\, \\phi_{l-1}(v_{l-1})^\\top \\rangle, \\qquad
           \\Delta b_l = \\langle \\hat\\varepsilon_l \\rangle, \\qquad
           \\hat\\varepsilon_l = e_l / \\gamma .

Sign convention: backprop's :math:`\\delta_l = \\partial L_n/\\partial u_l`
(:attr:`neurosim.reference.Gradients.deltas`) has the opposite sign of an error unit,
so wherever PC is exact, :math:`\\hat\\varepsilon_l = -\\delta_l`.

Variants (one registered rule each):

* ``pc`` -- standard PC (Whittington & Bogacz 2017).  At the equilibrium of :math:`F`,
  :math:`\\hat\\varepsilon_l \\to -\\delta_l` and :math:`\\Delta W \\to -\\partial L/\\partial W` as
  :math:`\\gamma \\to 0`; at finite :math:`\\gamma` the update is :math:`-\\tfrac1\\gamma\\,\\partial F^*/\\partial W`
  with :math:`F^* = \\min_v F` (the envelope theorem).
* ``pc-fpa`` -- the fixed-prediction assumption (Millidge, Tschantz & Buckley 2022): the
  predictions, the derivatives :math:`\\phi'` and the pre-synaptic rates are held at their
  feed-forward values during inference.  The dynamics are then linear,
  :math:`\\varepsilon_l \\leftarrow \\varepsilon_l - \\eta(\\varepsilon_l - \\phi_l'(u_l)\\odot W_{l+1}^\\top e_{l+1})`,
  converge for :math:`0 < \\eta < 2`, and their fixed point is backprop exactly.
* ``pc-zil`` -- zero-divergence inference learning, Z-IL (Song, Lukasiewicz, Xu & Bogacz
  2020): standard PC dynamics with :math:`\\eta = 1` from the feed-forward pass, and the
  weights :math:`W_l` read out at inference step :math:`t = L - l` (the output weights at
  :math:`t = 0`).  At that step the error has just reached layer ``l`` while the layers below
  still hold their feed-forward values, so the update equals backprop's exactly after
  :math:`L-1` steps.

Every inference run is checked: a non-finite state, or (for the gradient-descent variants)
an energy that rises above its running minimum, raises
:class:`~neurosim.errors.ConvergenceError` (divergence: lower ``inference_rate``); reaching
``n_inference_steps`` before the relative residual falls below ``tolerance`` raises, warns,
or is recorded, as ``on_nonconvergence`` says.  Either way ``rule.last_inference_`` holds
an :class:`InferenceResult` and :meth:`PredictiveCoding.align` adds it to the report.

Training uses truncated inference (``PredictiveCoding.train_hyper``, the pcx practice of a
fixed small budget: T = 20 steps at rate 0.05): reaching the cap is then the design, so it is
recorded, not warned about on every mini-batch; divergence still raises, and
:func:`neurosim.training.train` ends the run with status ``"diverged"`` and the message.
``defaults`` (a cap of 2000 steps, tolerance 1e-6, raise) remain the equilibrium setting of
``align``.  A step costs one forward and one backward product per projection *above* the
input: the bottom prediction :math:`W_1 x + b_1` is constant while the input is clamped and
is computed once per batch, so T steps cost far less than T forward-backward passes
(``benchmarks/bench_pc.py``).

References
----------
Whittington, J. C. R. & Bogacz, R. (2017). An approximation of the error backpropagation
algorithm in a predictive coding network with local Hebbian synaptic plasticity. Neural
Computation 29(5), 1229-1262.

Millidge, B., Tschantz, A. & Buckley, C. L. (2022). Predictive coding approximates backprop
along arbitrary computation graphs. Neural Computation 34(6), 1329-1368.

Song, Y., Lukasiewicz, T., Xu, Z. & Bogacz, R. (2020). Can the brain do backpropagation?
Exact implementation of backpropagation in predictive coding networks. NeurIPS 33.

Pinchetti, L. et al. (2024/2025). Benchmarking predictive coding networks -- made simple
(pcx). ICLR 2025.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..alignment import AlignmentReport
from ..errors import ConfigError, ConvergenceError
from ..network import Network
from ..neurons import get_activation
from ..params import bias_key, check_params, weight
from ..reference import check_batch
from .base import Rule, register

#: A rise of the energy above its running minimum by more than this fraction means the
#: Euler step overshoots (for gradient descent with a stable step the energy never rises).
ENERGY_RISE_RTOL = 1e-3
#: A relative residual this many times its initial value means the dynamics blow up.
RESIDUAL_BLOWUP = 1e6
#: The tolerance is floored at this many machine epsilons of the working dtype: the
#: residual cannot be resolved below rounding (float32: 3.1e-5, float64: 5.7e-14).  64 eps
#: was too tight: float32 training stalled at a residual of 8e-6 on digits.
TOLERANCE_FLOOR_EPS = 256
ON_NONCONVERGENCE = ("raise", "warn", "record")


class InferenceWarning(UserWarning):
    """Inference stopped at its step cap before reaching its tolerance (``on_nonconvergence="warn"``)."""


@dataclass
class InferenceResult:
    """What one inference run did (``rule.last_inference_``).

    Attributes
    ----------
    rule : str
        The rule that ran it.
    errors : dict of str to ndarray (batch, n_l)
        Scaled error units :math:`\\hat\\varepsilon_l = e_l/\\gamma` of every non-input layer of
        the chain, the ones the weight update uses (for ``pc-zil``: read at step ``L - l``).
        Where PC is exact, :math:`\\hat\\varepsilon_l = -\\delta_l` (backprop's deltas).
    presynaptic : dict of str to ndarray (batch, n_{l-1})
        The pre-synaptic rates :math:`\\phi_{l-1}(v_{l-1})` the update of each layer uses.
    values : dict of str to ndarray (batch, n_l)
        Final value nodes :math:`v_l` of the hidden layers.
    steps : int
        Inference steps taken (updates of the values).
    converged : bool
        Whether the stopping criterion was met: relative residual <= ``tolerance`` for
        ``pc``/``pc-fpa``; the fixed schedule of ``L - 1`` steps for ``pc-zil``.
    residual : float
        Final relative residual :math:`\\lVert\\partial F/\\partial v\\rVert / \\lVert e_L\\rVert`
        (Frobenius norms over the batch and all hidden layers; 0 without hidden layers; NaN for ``pc-zil``,
        which stops on its schedule, not at equilibrium).
    tolerance : float
        The tolerance used (the hyper-parameter, floored at :data:`TOLERANCE_FLOOR_EPS` machine
        epsilons; NaN for ``pc-zil``, which has none).
    energy : float
        Final batch-mean energy :math:`F`.
    energy_trace : ndarray (steps + 1,)
        Batch-mean energy before each step and at the end.
    """

    rule: str
    errors: dict
    presynaptic: dict
    values: dict
    steps: int
    converged: bool
    residual: float
    tolerance: float
    energy: float
    energy_trace: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        """JSON-ready diagnostics (added to ``align --json`` under ``"inference"``)."""
        def finite(value):  # strict JSON: an undefined number is null
            return float(value) if math.isfinite(value) else None

        return {"rule": self.rule, "steps": self.steps, "converged": self.converged,
                "residual": finite(self.residual), "tolerance": finite(self.tolerance),
                "energy": finite(self.energy), "energy_initial": finite(self.energy_trace[0])}


# --------------------------------------------------------------------------- the chain
@dataclass
class _Chain:
    """The chain's numbers in one dtype: keys, weights, biases, activations, layer names."""

    names: list          # layer names 1..L
    keys: list           # parameter key of each W_l, and whether it is a transposed tie
    tied: list
    weights: list        # W_l, (n_l, n_{l-1})
    biases: list         # b_l (n_l,) or None
    acts: list           # Activation of layers 1..L
    bias_keys: list
    loss: str
    dtype: np.dtype


def _chain(network: Network, params: dict, dtype) -> _Chain:
    projs = network.chain()
    layers = [network.layer(p.post) for p in projs]
    return _Chain(
        names=[la.name for la in layers],
        keys=[p.tied_to if p.tied_to is not None else p.name for p in projs],
        tied=[p.tied_to is not None for p in projs],
        weights=[np.asarray(weight(network, params, p), dtype=dtype) for p in projs],
        biases=[np.asarray(params[bias_key(la.name)], dtype=dtype) if la.bias else None for la in layers],
        acts=[get_activation(la.activation) for la in layers],
        bias_keys=[bias_key(la.name) if la.bias else None for la in layers],
        loss=network.loss, dtype=np.dtype(dtype))


def _predict(c: _Chain, l: int, r_pre: np.ndarray) -> np.ndarray:
    """:math:`\\mu_l = W_l r_{l-1} + b_l` for layer index ``l`` (0-based in ``c``), batched."""
    mu = r_pre @ c.weights[l].T
    return mu if c.biases[l] is None else mu + c.biases[l]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def output_error(c: _Chain, mu_out: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output error unit :math:`\\varepsilon_L = -\\partial\\ell/\\partial\\mu_L` and per-sample loss.

    ``mse``: :math:`\\ell = \\tfrac12\\lVert\\phi_L(\\mu_L) - t\\rVert^2`,
    :math:`\\varepsilon_L = (t - \\phi_L(\\mu_L))\\odot\\phi_L'(\\mu_L)`.
    ``cross_entropy`` (rates used as logits, as in the reference):
    :math:`\\ell = -\\sum_i t_i\\log\\mathrm{softmax}(\\phi_L(\\mu_L))_i`,
    :math:`\\varepsilon_L = (t - \\mathrm{softmax}(\\phi_L(\\mu_L)))\\odot\\phi_L'(\\mu_L)`.

    Returns
    -------
    eps : ndarray (batch, n_L)
    loss : ndarray (batch,)
    """
    act = c.acts[-1]
    r = act(mu_out)
    if c.loss == "mse":
        diff = target - r
        return diff * act.derivative(mu_out), 0.5 * np.sum(diff * diff, axis=1)
    log_p = _log_softmax(r)
    return (target - np.exp(log_p)) * act.derivative(mu_out), -np.sum(target * log_p, axis=1)


def _norm2(arrays) -> float:
    return float(sum(np.sum(np.square(a, dtype=np.float64)) for a in arrays))


def _sumsq(arrays) -> float:
    """:math:`\\sum_a \\lVert a\\rVert_F^2` by BLAS dot products (no temporary arrays).

    Used every inference step; float32 arrays accumulate in float32, whose relative
    rounding (~1e-6 for the sizes here) is far below the tolerance floor of
    :data:`TOLERANCE_FLOOR_EPS` float32 epsilons and the :data:`ENERGY_RISE_RTOL` test.
    """
    total = 0.0
    for a in arrays:
        flat = a.reshape(-1)
        total += float(np.dot(flat, flat))
    return total


def _relative(num_sq: float, den_sq: float) -> float:
    """``sqrt(num_sq / den_sq)``; 0 when the numerator is 0 (an output drive of exactly zero
    with hidden errors left is a degenerate but finite case, hence the floor)."""
    if num_sq == 0.0:
        return 0.0
    return math.sqrt(num_sq) / max(math.sqrt(den_sq), 1e-300)


class _Monitor:
    """Divergence test of one inference run in O(1) per step: running minimum of the energy,
    first residual, and the energy trace (see :meth:`PredictiveCoding._check_divergence`)."""

    __slots__ = ("rule", "trace", "lowest", "first_residual")

    def __init__(self, rule):
        self.rule = rule
        self.trace: list = []
        self.lowest = math.inf
        self.first_residual = None

    def check(self, energy: float, residual: float, step: int) -> None:
        self.trace.append(energy)
        if self.first_residual is None:
            self.first_residual = residual
        self.lowest = min(self.lowest, energy) if math.isfinite(energy) else self.lowest
        self.rule._diverged(energy, residual, step, min(self.lowest, energy), self.first_residual)


# --------------------------------------------------------------------------- the rules
@register
class PredictiveCoding(Rule):
    """Standard rate predictive coding (Whittington & Bogacz 2017); see the module docstring.

    Parameters
    ----------
    n_inference_steps : int
        Step cap of the inference (> 0).
    inference_rate : float
        Euler step :math:`\\eta` of the value dynamics (> 0).
    tolerance : float
        Inference stops when :math:`\\lVert\\partial F/\\partial v\\rVert \\le`
        ``tolerance`` :math:`\\cdot\\lVert e_L\\rVert` (relative to the output drive).
    output_precision : float
        :math:`\\gamma` (> 0): the output precision relative to the hidden ones, equal to the
        nudging strength :math:`\\beta`.  ``1`` is the plain clamped network; ``-> 0`` is
        the limit in which PC computes backprop.
    on_nonconvergence : {"raise", "warn", "record"}
        What reaching the step cap does: raise :class:`ConvergenceError`, warn with
        :class:`InferenceWarning`, or only record it in ``last_inference_`` (for truncated
        inference, e.g. a fixed 20-step budget).  Divergence always raises.

    Attributes
    ----------
    last_inference_ : InferenceResult or None
        Diagnostics of the most recent :meth:`infer` / :meth:`updates` call.

    Notes
    -----
    ``defaults`` relax to equilibrium (what ``align`` measures); ``train_hyper`` is the
    truncated setting used to train (T = 20 steps at rate 0.05, the cap recorded).  Use
    ``get_rule("pc", **rule_class("pc").train_hyper)`` to train with it.
    """

    name = "pc"
    family = "predictive_coding"
    aliases = ("predictive-coding",)
    citation = ("Whittington & Bogacz (2017). An approximation of the error backpropagation algorithm in a "
                "predictive coding network with local Hebbian synaptic plasticity. Neural Comput. 29, 1229.")
    defaults: ClassVar[dict] = {"n_inference_steps": 2000, "inference_rate": 0.1, "tolerance": 1e-6,
                                "output_precision": 1.0, "on_nonconvergence": "raise"}
    #: Hyper-parameters for training (pcx practice, Pinchetti et al. 2025; Whittington & Bogacz
    #: 2017 also used 20 steps): a fixed budget of T = 20 inference steps at rate 0.05.  The
    #: stable rate shrinks as the weights grow (eta < 2/lambda_max of the Hessian of F, and
    #: lambda_max grows with |W|^2): on Fashion-MNIST 784-128-128-128-10 relu with Adam 1e-3,
    #: rate 0.5 made the energy rise within 10 steps at initialisation; rate 0.2 made it rise
    #: (a slowly growing mode, +0.1-0.3 % by steps 18-20) within the first epoch on 60,000
    #: images in all of 3 seeds, and rate 0.1 in the third epoch (seed 0).  Truncated
    #: inference is the point, so reaching the cap is recorded in ``last_inference_`` (no
    #: warning per mini-batch); divergence still raises :class:`ConvergenceError`, which
    #: :func:`neurosim.training.train` turns into a run with status "diverged".  ``defaults``
    #: stay the equilibrium setting used by ``align``.
    train_hyper: ClassVar[dict] = {"n_inference_steps": 20, "inference_rate": 0.05, "on_nonconvergence": "record"}
    #: Whittington & Bogacz (2017) trained with 20 inference steps: the short-budget comparison
    #: does the same (truncated inference, recorded rather than raised) at the default rate 0.1,
    #: which is stable on its tanh networks (``neurosim compare``'s numbers were measured so).
    compare_hyper: ClassVar[dict] = {"n_inference_steps": 20, "on_nonconvergence": "record"}
    #: Whether the energy must not rise (inference is gradient descent on F).
    _monotone_energy = True
    #: Whether a residual growing by RESIDUAL_BLOWUP counts as divergence.
    _check_residual_growth = True

    def __init__(self, **hyper):
        super().__init__(**hyper)
        self._validate()
        self.last_inference_: InferenceResult | None = None

    def _validate(self) -> None:
        h = self.hyper
        owner = f"rule '{self.name}'"
        if "n_inference_steps" in h:
            n = h["n_inference_steps"]
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ConfigError(f"{owner}: hyper-parameter 'n_inference_steps' must be an integer >= 1, "
                                  f"got {n!r}")
        for key in ("inference_rate", "tolerance", "output_precision"):
            if key in h and not h[key] > 0:
                raise ConfigError(f"{owner}: hyper-parameter '{key}' must be > 0, got {h[key]!r}")
        if "on_nonconvergence" in h and h["on_nonconvergence"] not in ON_NONCONVERGENCE:
            raise ConfigError(f"{owner}: hyper-parameter 'on_nonconvergence' must be one of "
                              f"{', '.join(ON_NONCONVERGENCE)}, got {h['on_nonconvergence']!r}")

    # ------------------------------------------------------------------ inference
    def infer(self, network: Network, params: dict, x, target) -> InferenceResult:
        """Relax the value nodes for one batch; also stored as ``last_inference_``.

        Parameters
        ----------
        network : Network
            A feed-forward chain.
        params : dict
            Weights and biases (:func:`neurosim.init_params`); float32 or float64.
        x : ndarray of shape (batch, n_input)
        target : ndarray of shape (batch, n_output)

        Returns
        -------
        InferenceResult

        Raises
        ------
        ConvergenceError
            On divergence, or at the step cap when ``on_nonconvergence = "raise"``.
        """
        check_params(network, params)
        x, t = check_batch(network, x, target)
        c0 = network.chain()  # fails early with a clear message when not a chain
        dtype = np.result_type(x.dtype, *(np.asarray(weight(network, params, p)).dtype for p in c0))
        c = _chain(network, params, dtype)
        x, t = x.astype(dtype, copy=False), t.astype(dtype, copy=False)
        tol = max(float(self.hyper.get("tolerance", 0.0)), TOLERANCE_FLOOR_EPS * float(np.finfo(dtype).eps))
        with np.errstate(over="ignore", invalid="ignore"):
            # overflow is detected below as a non-finite state and reported with context
            result = self._relax(c, x, t, tol)
        self.last_inference_ = result
        return result

    def _relax(self, c: _Chain, x: np.ndarray, t: np.ndarray, tol: float) -> InferenceResult:
        """Standard PC: gradient descent on F in all hidden values at once.

        Cost per step (the reason training is affordable): the bottom prediction
        :math:`\\mu_1 = W_1 x + b_1` depends on the clamped input only, so the widest matrix
        product of the network (``batch x n_input x n_1``) is done once per batch, not once
        per step.  A step costs one forward and one backward product per hidden-to-hidden
        projection plus the output's; the energy and the residual are read off quantities
        the step computes anyway (the errors, the output log-softmax and the gradient), at
        four dot products per layer, so the stopping and divergence tests add no extra
        pass through the network.
        """
        gamma = float(self.hyper["output_precision"])
        eta = float(self.hyper["inference_rate"])
        cap = int(self.hyper["n_inference_steps"])
        n_hidden = len(c.names) - 1
        batch = x.shape[0]
        acts, weights = c.acts, c.weights
        mu_bottom = _predict(c, 0, x)  # constant during inference: the input is clamped
        # feed-forward pass: the initial values, all hidden errors zero
        v = [mu_bottom.copy()] if n_hidden else []
        for l in range(1, n_hidden):
            v.append(_predict(c, l, acts[l - 1](v[-1])))
        monitor = _Monitor(self)
        step = 0
        while True:
            r = [x] + [acts[l](v[l]) for l in range(n_hidden)]
            eps = [v[l] - (mu_bottom if l == 0 else _predict(c, l, r[l])) for l in range(n_hidden)]
            eps_out, loss = output_error(c, mu_bottom if n_hidden == 0 else _predict(c, n_hidden, r[-1]), t)
            e = eps + [gamma * eps_out]
            energy = (0.5 * _sumsq(eps) + gamma * float(np.sum(loss, dtype=np.float64))) / batch
            grad = [e[l] - acts[l].derivative(v[l]) * (e[l + 1] @ weights[l + 1]) for l in range(n_hidden)]
            residual = _relative(_sumsq(grad), _sumsq([e[-1]]))
            monitor.check(energy, residual, step)
            if residual <= tol or step == cap:
                break
            for l in range(n_hidden):
                v[l] -= eta * grad[l]
            step += 1
        return self._finish(c, e, r, v, step, residual <= tol, residual, tol, monitor.trace)

    # ------------------------------------------------------------------ shared checks
    @staticmethod
    def _residual(grad: list, drive: np.ndarray) -> float:
        num = math.sqrt(_norm2(grad))
        if num == 0.0:
            return 0.0
        # an output drive of exactly zero with hidden errors left is a degenerate but finite case
        return num / max(math.sqrt(_norm2([drive])), 1e-300)

    def _check_divergence(self, trace: list, residuals: list, step: int) -> None:
        """Raise :class:`ConvergenceError` on a non-finite state, a rising energy (gradient-descent
        variants) or a residual that grew by :data:`RESIDUAL_BLOWUP`."""
        self._diverged(trace[-1], residuals[-1], step, min(trace), residuals[0])

    def _diverged(self, energy: float, residual: float, step: int, lowest: float, first_residual: float) -> None:
        """:meth:`_check_divergence` given the running minimum of the energy and the first residual."""
        rate = self.hyper.get("inference_rate", 1.0)
        if not (math.isfinite(energy) and math.isfinite(residual)):
            raise ConvergenceError(f"rule '{self.name}': inference diverged at step {step} (non-finite state, "
                                   f"energy {energy:.3g}); lower inference_rate (now {rate})")
        if self._monotone_energy and energy > lowest * (1 + ENERGY_RISE_RTOL) + 1e-300:
            raise ConvergenceError(f"rule '{self.name}': inference diverged at step {step}: the energy rose "
                                   f"from {lowest:.6g} to {energy:.6g} (gradient descent on F must not raise "
                                   f"it); lower inference_rate (now {rate})")
        if self._check_residual_growth and residual > RESIDUAL_BLOWUP * max(first_residual, 1e-300):
            raise ConvergenceError(f"rule '{self.name}': inference diverged at step {step}: the residual grew "
                                   f"from {first_residual:.3g} to {residual:.3g}; lower inference_rate "
                                   f"(now {rate})")

    def _finish(self, c, e, r_pre, v, steps, converged, residual, tol, trace) -> InferenceResult:
        gamma = float(self.hyper["output_precision"])
        result = InferenceResult(
            rule=self.name, errors={n: e[l] / gamma for l, n in enumerate(c.names)},
            presynaptic={n: r_pre[l] for l, n in enumerate(c.names)},
            values={n: v[l] for l, n in enumerate(c.names[:-1])}, steps=steps, converged=bool(converged),
            residual=float(residual), tolerance=tol, energy=float(trace[-1]), energy_trace=np.asarray(trace))
        if not converged:
            self.last_inference_ = result
            msg = (f"rule '{self.name}': inference did not converge in n_inference_steps={steps} (relative "
                   f"residual {residual:.3g} > tolerance {tol:.3g}); raise n_inference_steps or inference_rate, "
                   "or set on_nonconvergence='record' for deliberately truncated inference")
            policy = self.hyper.get("on_nonconvergence", "raise")
            if policy == "raise":
                raise ConvergenceError(msg)
            if policy == "warn":
                warnings.warn(msg, InferenceWarning, stacklevel=4)
        return result

    # ------------------------------------------------------------------ the rule interface
    def updates(self, network: Network, params: dict, x, target) -> dict:
        """Local updates :math:`\\Delta W_l = \\langle\\hat\\varepsilon_l\\,\\phi_{l-1}(v_{l-1})^\\top\\rangle`,
        :math:`\\Delta b_l = \\langle\\hat\\varepsilon_l\\rangle` after :meth:`infer` (batch mean).

        Returns
        -------
        dict of str to ndarray
            Keyed like ``params`` (a projection tied to another one updates the owner,
            transposed).  Same dtype as the computation (float32 in, float32 out).
        """
        res = self.infer(network, params, x, target)
        c = network.chain()
        batch = next(iter(res.errors.values())).shape[0]
        dw = {}
        for proj in c:
            err, pre = res.errors[proj.post], res.presynaptic[proj.post]
            g = err.T @ pre / batch
            key = proj.tied_to if proj.tied_to is not None else proj.name
            g = g.T if proj.tied_to is not None else g
            dw[key] = dw[key] + g if key in dw else g
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = err.sum(axis=0) / batch
        return dw

    def align(self, network: Network, params: dict, x, target) -> AlignmentReport:
        """Alignment with backprop, with the inference diagnostics under ``extra["inference"]``."""
        report = super().align(network, params, x, target)
        report.extra["inference"] = self.last_inference_.summary()
        return report


@register
class FixedPredictionPC(PredictiveCoding):
    """PC under the fixed-prediction assumption (Millidge, Tschantz & Buckley 2022).

    Predictions :math:`\\mu_l = u_l`, derivatives :math:`\\phi_l'(u_l)` and pre-synaptic rates
    :math:`r_{l-1}` stay at their feed-forward values; only the error nodes relax,

    .. math::  \\varepsilon_l \\leftarrow \\varepsilon_l - \\eta\\big(\\varepsilon_l
               - \\phi_l'(u_l) \\odot W_{l+1}^\\top e_{l+1}\\big),

    a linear iteration whose matrix has every eigenvalue equal to :math:`1 - \\eta`, so it
    converges iff :math:`0 < \\eta < 2`, to :math:`\\hat\\varepsilon_l = -\\delta_l`: backprop.
    The energy is not descended (it grows from the output inwards), so divergence is
    detected from the residual.  Parameters as :class:`PredictiveCoding`.
    """

    name = "pc-fpa"
    aliases = ("pc-fixed-prediction",)
    backends = ("rate", "spiking")  # spiking version: neurosim.spiking.predictive_coding
    citation = ("Millidge, Tschantz & Buckley (2022). Predictive coding approximates backprop along arbitrary "
                "computation graphs. Neural Comput. 34, 1329.")
    #: With the predictions fixed the dynamics are a Jacobi sweep: at rate 1 they are exact after
    #: one step per layer, so the short comparison uses that instead of 20 steps at 0.1.
    compare_hyper: ClassVar[dict] = {"inference_rate": 1.0}
    train_hyper: ClassVar[dict] = compare_hyper
    defaults: ClassVar[dict] = {"n_inference_steps": 1000, "inference_rate": 0.1, "tolerance": 1e-12,
                                "output_precision": 1.0, "on_nonconvergence": "raise"}
    _monotone_energy = False

    def _validate(self) -> None:
        super()._validate()
        if not self.hyper["inference_rate"] < 2:
            raise ConfigError(f"rule '{self.name}': hyper-parameter 'inference_rate' must lie in (0, 2) (the "
                              f"fixed-prediction iteration contracts by |1 - rate|), got "
                              f"{self.hyper['inference_rate']!r}")

    def _relax(self, c: _Chain, x, t, tol) -> InferenceResult:
        gamma = float(self.hyper["output_precision"])
        eta = float(self.hyper["inference_rate"])
        cap = int(self.hyper["n_inference_steps"])
        n_layers = len(c.names)
        batch = x.shape[0]
        u, r = [], [x]
        for l in range(n_layers):
            u.append(_predict(c, l, r[-1]))
            r.append(c.acts[l](u[-1]))
        slope = [c.acts[l].derivative(u[l]) for l in range(n_layers - 1)]
        eps_out, loss = output_error(c, u[-1], t)
        out_energy = gamma * float(np.sum(loss, dtype=np.float64))
        eps = [np.zeros_like(u[l]) for l in range(n_layers - 1)]
        trace, residuals = [], []
        step = 0
        while True:
            e = eps + [gamma * eps_out]
            grad = [e[l] - slope[l] * (e[l + 1] @ c.weights[l + 1]) for l in range(n_layers - 1)]
            residual = self._residual(grad, e[-1])
            trace.append((0.5 * _norm2(eps) + out_energy) / batch)
            residuals.append(residual)
            self._check_divergence(trace, residuals, step)
            if residual <= tol or step == cap:
                break
            eps = [eps[l] - eta * grad[l] for l in range(n_layers - 1)]
            step += 1
        values = [u[l] + eps[l] for l in range(n_layers - 1)]
        return self._finish(c, e, r[:-1], values, step, residual <= tol, residual, tol, trace)


@register
class ZeroDivergenceIL(PredictiveCoding):
    """Zero-divergence inference learning, Z-IL (Song, Lukasiewicz, Xu & Bogacz 2020).

    Standard PC dynamics with :math:`\\eta = 1` from the feed-forward pass; the update of
    :math:`W_l` (layers counted ``1 .. L`` from the input) uses the error and pre-synaptic
    rate at step :math:`t = L - l`:

    .. math::  \\Delta W_l = \\langle \\hat\\varepsilon_l(L-l)\\; \\phi_{l-1}(v_{l-1}(L-l))^\\top \\rangle .

    By induction, at step :math:`L - l` the values below layer ``l`` are still feed-forward
    and :math:`\\hat\\varepsilon_l = \\phi_l'(u_l)\\odot W_{l+1}^\\top\\hat\\varepsilon_{l+1} = -\\delta_l`,
    so the update is backprop's exactly, for any depth, activation and output precision.
    The schedule is fixed (``L - 1`` steps), so there is no step cap or tolerance; a
    non-finite state raises :class:`ConvergenceError`.

    Parameters
    ----------
    output_precision : float
        :math:`\\gamma` (> 0); the result does not depend on it (up to rounding).
    """

    name = "pc-zil"
    aliases = ("z-il", "zil")
    citation = ("Song, Lukasiewicz, Xu & Bogacz (2020). Can the brain do backpropagation? Exact implementation "
                "of backpropagation in predictive coding networks. NeurIPS 33.")
    compare_hyper: ClassVar[dict] = {}
    train_hyper: ClassVar[dict] = {}
    defaults: ClassVar[dict] = {"output_precision": 1.0}
    # eta = 1 is not a stable step for gradient descent on F in general; Z-IL stops after
    # L - 1 steps, before that matters, so the energy may rise.
    _monotone_energy = False
    _check_residual_growth = False

    def _relax(self, c: _Chain, x, t, tol) -> InferenceResult:
        gamma = float(self.hyper["output_precision"])
        n_layers = len(c.names)
        batch = x.shape[0]
        v, r = [], [x]
        for l in range(n_layers - 1):
            v.append(_predict(c, l, r[-1]))
            r.append(c.acts[l](v[-1]))
        read_err = [None] * n_layers
        read_pre = [None] * n_layers
        trace, residuals = [], []
        for step in range(n_layers):
            r = [x] + [c.acts[l](v[l]) for l in range(n_layers - 1)]
            eps = [v[l] - _predict(c, l, r[l]) for l in range(n_layers - 1)]
            eps_out, loss = output_error(c, _predict(c, n_layers - 1, r[-1]), t)
            e = eps + [gamma * eps_out]
            trace.append((0.5 * _norm2(eps) + gamma * float(np.sum(loss, dtype=np.float64))) / batch)
            grad = [e[l] - c.acts[l].derivative(v[l]) * (e[l + 1] @ c.weights[l + 1])
                    for l in range(n_layers - 1)]
            residual = self._residual(grad, e[-1])
            residuals.append(residual)
            self._check_divergence(trace, residuals, step)
            layer = n_layers - 1 - step  # the layer whose error arrived at this step
            read_err[layer], read_pre[layer] = e[layer], r[layer]
            if step < n_layers - 1:
                for l in range(n_layers - 1):
                    v[l] = v[l] - grad[l]  # eta = 1
        # the residual is not a convergence measure here (Z-IL never relaxes to equilibrium)
        return self._finish(c, read_err, read_pre, v, n_layers - 1, True, math.nan, math.nan, trace)


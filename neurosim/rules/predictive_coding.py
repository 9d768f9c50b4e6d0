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

Convolutional, locally connected and pooling networks (issue 17).  :math:`W_l r` stands for
the projection's operation (:mod:`neurosim.conv`): the prediction is its ``drive``, the error
travels back by its ``backward`` (the transposed convolution / locally connected map, or the
pooling's routing) and the update is its ``weight_gradient``, the batch correlation of the
error with the input patches, :math:`\\Delta K_l = \\langle\\hat\\varepsilon_l \\star r_{l-1}\\rangle` --
still post-synaptic error times pre-synaptic rate, synapse by synapse.  Pooling and flatten have
no parameters; a layer they reach *without a bias* has nothing to learn and is **folded into the
prediction of the next value layer**: it holds no value or error nodes, and the layer above
predicts from the pooled rate, :math:`\\mu_{l+1} = K_{l+1} \\star \\mathrm{pool}(\\phi_l(v_l)) + b_{l+1}`
(so every update stays local: the pre-synaptic rate is the pooled one).  A pooling layer with a
bias is a value layer like any other.  pcx's VGG-5 (Pinchetti et al. 2024) also keeps one value
node per conv block, placed after conv-activation-pool instead; both are PC networks on a chain,
so the limits below hold for either.  The winner of every max-pooling window is held at its
feed-forward one during inference (the "switches" of a deconvnet, Zeiler & Fergus 2014;
:func:`neurosim.conv.max_pool_switched`): the prediction is then linear in the pooled rates and
:math:`F` smooth.  With the current winners, :math:`F` has kinks wherever two entries of a window
tie -- every window of an image's blank background -- and gradient descent chattered across them
(LeNet on Fashion-MNIST: relative residual stuck at 0.26--0.63 after 3000 steps); with the
switches, :math:`\\gamma \\to 0` also gives backprop's own convention at ties (the first maximum).
The fixed-prediction and Z-IL variants use the feed-forward winners anyway.

Inference runs on the shared relaxation engine (:mod:`neurosim.relaxation`): the
hyper-parameters are ``max_steps`` (the cap), ``step_size`` (:math:`\\eta`), ``tolerance``
(on the relative residual :math:`\\lVert\\partial F/\\partial v\\rVert/\\lVert e_L\\rVert`) and
``on_unconverged``, and every run is judged by :class:`neurosim.relaxation.Monitor`: a
non-finite state, or (for the gradient-descent variants) an energy that rises above its
running minimum, raises :class:`~neurosim.errors.ConvergenceError` (divergence: lower
``step_size``); reaching ``max_steps`` before the tolerance raises, warns
(:class:`~neurosim.relaxation.RelaxationWarning`) or is recorded, as ``on_unconverged``
says.  Either way ``updates`` returns the diagnostics in ``aux``: ``aux["relaxation"]``
(``phases``, ``unconverged``, ``steps``, ``max_residual``; summed per epoch by
:func:`neurosim.training.train`) and ``aux["inference"]`` (steps, residual, tolerance,
energy), which :func:`neurosim.align` reports; :meth:`PredictiveCoding.infer` returns the
whole :class:`InferenceResult` (error units, values, energy trace).

Training uses truncated inference (``models/presets/pc-train.toml``, the pcx practice of a
fixed small budget: T = 20 steps at rate 0.05): reaching the cap is then the design, so it is
recorded, not warned about on every mini-batch; divergence still raises, and
:func:`neurosim.training.train` ends the run with status ``"diverged"`` and the message.
The defaults (a cap of 2000 steps, tolerance 1e-6, raise) remain the equilibrium setting of
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

Zeiler, M. D. & Fergus, R. (2014). Visualizing and understanding convolutional networks. ECCV.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import conv as _ops
from ..network import Network
from ..neurons import get_activation
from ..arrays import as_dtype, astype, copy, namespace, to_numpy, widest_float
from ..params import bias_key, check_params, weight
from ..reference import check_batch
from ..relaxation import (Convergence, Monitor, RelaxationHyper, max_steps_param, on_unconverged_param,
                          step_size_param, summarise, tolerance_param)
from .base import Rule, RuleInfo, param, register

#: Projection operations the PC rules run (``info.operations``): dense, convolution, locally
#: connected, pooling and flatten, each through :mod:`neurosim.conv`; a parameter-free one into a
#: layer without a bias is folded into the next prediction (:func:`_value_layer_ends`).  The
#: adjoint operations (``conv_transpose2d``, ``locally_connected_transpose2d``) are feedback
#: pathways of other rules and are not claimed here.
OPERATIONS = ("dense", "conv2d", "locally_connected2d", "max_pool2d", "avg_pool2d", "flatten")
#: A relative residual this many times its initial value at the cap means the dynamics blow up.
RESIDUAL_BLOWUP = 1e6
#: The tolerance is floored at this many machine epsilons of the working dtype: the
#: residual cannot be resolved below rounding (float32: 3.1e-5, float64: 5.7e-14).  64 eps
#: was too tight: float32 training stalled at a residual of 8e-6 on digits.
TOLERANCE_FLOOR_EPS = 256


@dataclass
class InferenceResult:
    """What one inference run did (:meth:`PredictiveCoding.infer`).

    Attributes
    ----------
    rule : str
        The rule that ran it.
    errors : dict of str to ndarray (batch, n_l)
        Scaled error units :math:`\\hat\\varepsilon_l = e_l/\\gamma` of every value layer of the
        chain (every non-input layer except pooling/flatten layers without a bias, which are
        folded into the next prediction), the ones the weight update uses (for ``pc-zil``: read at step ``L - l``).
        Where PC is exact, :math:`\\hat\\varepsilon_l = -\\delta_l` (backprop's deltas).
    presynaptic : dict of str to ndarray (batch, n_{l-1})
        The pre-synaptic rates :math:`\\phi_{l-1}(v_{l-1})` the update of each layer uses (after
        the folded pooling/flatten projections, if any).
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
        """JSON-ready scalar diagnostics (``aux["inference"]``; an undefined number is ``None``)."""
        def finite(value):
            return float(value) if math.isfinite(value) else None

        return {"steps": self.steps, "converged": self.converged, "residual": finite(self.residual),
                "tolerance": finite(self.tolerance), "energy": finite(self.energy),
                "energy_initial": finite(self.energy_trace[0])}

    def relaxation(self) -> dict:
        """The ``aux["relaxation"]`` entry (:func:`neurosim.relaxation.summarise`); ``pc-zil``'s has no
        ``max_residual`` (its residual is not a convergence measure) and never counts as unconverged."""
        if not math.isfinite(self.tolerance):
            return {"phases": 1, "unconverged": 0, "steps": self.steps}
        return summarise(Convergence(self.steps, self.residual, self.converged, self.tolerance))


# --------------------------------------------------------------------------- the chain
def _value_layer_ends(network: Network, projs) -> list[int]:
    """Indices into the chain of the projections whose post layer holds value nodes.

    A layer reached by a parameter-free projection (pooling, flatten) and without a bias has
    nothing to learn: it is folded into the prediction of the next value layer (no value or
    error nodes of its own).  Every other non-input layer, and always the output, is a value
    layer.  On a dense chain every layer is a value layer.
    """
    out = network.output_layer.name
    return [i for i, p in enumerate(projs)
            if p.post == out or _ops.has_params(p) or network.layer(p.post).bias]


@dataclass
class _Chain:
    """The chain's numbers in one dtype, per *value layer* ``l = 1 .. L``.

    On a dense chain (``segments is None``, the fast path) value layer ``l`` is the post of the
    ``l``-th projection and :math:`\\mu_l = r_{l-1} W_l^\\top + b_l`.  Otherwise value layer
    ``l`` is reached from value layer ``l-1`` through a *segment*: zero or more parameter-free
    projections into folded layers (activations ``mid_acts``), then one projection; each
    projection runs through :mod:`neurosim.conv`.
    """

    names: list          # value layer names 1..L
    projs: list          # the last projection of each segment (the one a weight update belongs to)
    weights: list        # its effective weight: W_l (n_l, n_{l-1}) or a kernel; None without parameters
    biases: list         # b_l (n_l,) or None
    acts: list           # Activation of value layers 1..L
    loss: str
    dtype: object        # the namespace's dtype
    network: Network = None
    segments: list = None  # per value layer: (projections, effective weights, mid activations); None: dense


def _chain(network: Network, params: dict, dtype) -> _Chain:
    projs = network.chain()
    ends = _value_layer_ends(network, projs)
    layers = [network.layer(projs[i].post) for i in ends]

    def eff(p):
        w = weight(network, params, p)
        return None if w is None else astype(w, dtype)

    segments = None
    if any(p.operation != "dense" for p in projs):
        segments, start = [], 0
        for i in ends:
            seg = projs[start:i + 1]
            segments.append((seg, [eff(p) for p in seg],
                             [get_activation(network.layer(p.post).activation) for p in seg[:-1]]))
            start = i + 1
    return _Chain(
        names=[la.name for la in layers],
        projs=[projs[i] for i in ends],
        weights=[eff(projs[i]) for i in ends],
        biases=[astype(params[bias_key(la.name)], dtype) if la.bias else None for la in layers],
        acts=[get_activation(la.activation) for la in layers],
        loss=network.loss, dtype=dtype, network=network, segments=segments)


def _predict_tape(c: _Chain, l: int, r_pre, switches=None):
    """:math:`\\mu_l = f_l(r_{l-1}) + b_l` for value layer index ``l`` (0-based in ``c``), batched,
    and the tape :func:`_feed_back` needs.

    Dense: :math:`f_l(r) = r W_l^\\top` (tape None).  Otherwise :math:`f_l` is the segment's
    composition :math:`f_l = g_K \\circ \\phi_{K-1} \\circ g_{K-1} \\circ \\dots \\circ g_1` of the
    projection drives :math:`g_k` (:func:`neurosim.conv.drive`) and the activations of the
    folded layers between them; the tape holds each projection's input and each folded
    layer's potential.  ``switches`` (:func:`_switches`, from the feed-forward tape) fixes the
    winner of every max-pooling window at its feed-forward one
    (:func:`neurosim.conv.max_pool_switched`); the tape then holds the switches, so that
    :func:`_feed_back` routes by them too.
    """
    if c.segments is None:
        mu = r_pre @ c.weights[l].T
        return (mu if c.biases[l] is None else mu + c.biases[l]), None
    projs, weights, mid_acts = c.segments[l]
    inputs, mids, r = [], [], r_pre
    for k, (proj, w) in enumerate(zip(projs, weights)):
        if switches is not None and switches[k] is not None:
            inputs.append(switches[k])
            u = _ops.max_pool_switched(c.network, proj, switches[k], r)
        else:
            inputs.append(r)
            u = _ops.drive(c.network, proj, w, r)
        if k < len(projs) - 1:
            mids.append(u)
            r = mid_acts[k](u)
    return (u if c.biases[l] is None else u + c.biases[l]), (inputs, mids)


def _predict(c: _Chain, l: int, r_pre):
    """:math:`\\mu_l` alone (:func:`_predict_tape`)."""
    return _predict_tape(c, l, r_pre)[0]


def _feed_back(c: _Chain, l: int, e, tape):
    """:math:`(\\partial\\mu_l/\\partial r_{l-1})^\\top e`: the error ``e`` of value layer ``l`` carried
    back to the rates of value layer ``l - 1`` (``e W_l`` dense; the vector-Jacobian product of
    the segment, :func:`neurosim.conv.backward`, at the inputs on the tape, so max pooling routes
    to the maxima of the current rates)."""
    if c.segments is None:
        return e @ c.weights[l]
    projs, weights, mid_acts = c.segments[l]
    inputs, mids = tape
    d = e
    for k in range(len(projs) - 1, -1, -1):
        if k < len(projs) - 1:
            d = d * mid_acts[k].derivative(mids[k])
        d = _ops.backward(c.network, projs[k], weights[k], d, inputs[k])
    return d


def _switches(c: _Chain, l: int, tape):
    """The feed-forward inputs of segment ``l``'s max-pooling projections (None elsewhere), or None
    when it has none: the winners :func:`_predict_tape` holds during inference."""
    if tape is None or not any(p.operation == "max_pool2d" for p in c.segments[l][0]):
        return None
    return [x if p.operation == "max_pool2d" else None for p, x in zip(c.segments[l][0], tape[0])]


def _synaptic_input(r_pre, tape):
    """The input of the projection a value layer learns through: :math:`r_{l-1}` itself, or
    after the folded parameter-free projections (e.g. the pooled rates)."""
    return r_pre if tape is None else tape[0][-1]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    xp = namespace(z)
    z = z - xp.max(z, axis=-1, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))


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
    xp = namespace(mu_out)
    act = c.acts[-1]
    r = act(mu_out)
    if c.loss == "mse":
        diff = target - r
        return diff * act.derivative(mu_out), 0.5 * xp.sum(diff * diff, axis=1)
    log_p = _log_softmax(r)
    return (target - xp.exp(log_p)) * act.derivative(mu_out), -xp.sum(target * log_p, axis=1)


def _sumsq(arrays) -> float:
    """:math:`\\sum_a \\lVert a\\rVert_F^2` by BLAS dot products (no temporary arrays).

    Used every inference step; float32 arrays accumulate in float32, whose relative
    rounding (~1e-6 for the sizes here) is far below the tolerance floor of
    :data:`TOLERANCE_FLOOR_EPS` float32 epsilons and the energy-rise test of the monitor.
    """
    xp = namespace(*arrays)
    if xp is not np:  # one host synchronisation for all the arrays (array-api-compat's vecdot is 100x slower)
        return float(sum(xp.sum(a * a) for a in arrays))
    total = 0.0
    for a in arrays:  # numpy: BLAS ddot/sdot per array (the numbers of the first edition)
        flat = a.reshape(-1)
        total += float(np.dot(flat, flat))
    return total


def _norm2(arrays) -> float:
    """:math:`\\sum_a \\lVert a\\rVert_F^2` accumulated in float64 on the host.

    The tests' yardstick for :func:`_sumsq`.
    """
    return float(sum(np.sum(np.square(to_numpy(a), dtype=np.float64)) for a in arrays))


def _float_sum(a) -> float:
    """``sum(a)`` accumulated in the widest float of ``a``'s device (float64; float32 on MPS), as a Python float."""
    xp = namespace(a)
    return float(xp.sum(a, dtype=as_dtype(xp, widest_float(a))))


def _relative(num_sq: float, den_sq: float) -> float:
    """``sqrt(num_sq / den_sq)``; 0 when the numerator is 0 (an output drive of exactly zero
    with hidden errors left is a degenerate but finite case, hence the floor)."""
    if num_sq == 0.0:
        return 0.0
    return math.sqrt(num_sq) / max(math.sqrt(den_sq), 1e-300)


# --------------------------------------------------------------------------- hyper-parameters
@dataclass(frozen=True)
class PCHyper(RelaxationHyper):
    """Hyper-parameters of standard PC: the relaxation vocabulary (:mod:`neurosim.relaxation`)
    and the output precision.  The defaults relax to equilibrium (what ``align`` measures)."""

    max_steps: int = max_steps_param(2000, doc="cap on the inference steps")
    step_size: float = step_size_param(0.1, doc="Euler step eta of the value dynamics v <- v - eta dF/dv")
    tolerance: float = tolerance_param(1e-6, doc="stop when |dF/dv| <= tolerance |e_L| (relative residual; "
                                                 "floored at 256 machine epsilons)")
    output_precision: float = param(1.0, gt=0, doc="gamma: output precision relative to the hidden ones (= the "
                                                   "nudging strength beta); -> 0 is the backprop limit")
    on_unconverged: str = on_unconverged_param("raise", doc="inference that reaches max_steps above the "
                                                            "tolerance: raise, warn or record (truncated "
                                                            "inference); divergence always raises")


@dataclass(frozen=True)
class FPAHyper(PCHyper):
    """Hyper-parameters of ``pc-fpa``: the linear iteration contracts by :math:`|1 - \\eta|`, so
    ``step_size`` must lie in (0, 2)."""

    max_steps: int = max_steps_param(1000, doc="cap on the inference steps")
    step_size: float = step_size_param(0.1, lt=2, doc="Euler step eta of the error dynamics; the fixed-prediction "
                                                      "iteration contracts by |1 - eta|, so 0 < eta < 2 (1: exact "
                                                      "after one step per layer)")
    tolerance: float = tolerance_param(1e-12, doc="stop when |dF/dv| <= tolerance |e_L| (relative residual; "
                                                  "floored at 256 machine epsilons)")


@dataclass(frozen=True)
class ZILHyper(RelaxationHyper):
    """Hyper-parameters of ``pc-zil``: none of the relaxation vocabulary (its schedule is fixed)."""

    output_precision: float = param(1.0, gt=0, doc="gamma (the result does not depend on it, up to rounding)")


# --------------------------------------------------------------------------- the rules
@register
class PredictiveCoding(Rule):
    """Standard rate predictive coding (Whittington & Bogacz 2017); see the module docstring.

    Hyper-parameters (:class:`PCHyper`)
    -----------------------------------
    max_steps : int
        Step cap of the inference (> 0).
    step_size : float
        Euler step :math:`\\eta` of the value dynamics (> 0).
    tolerance : float
        Inference stops when :math:`\\lVert\\partial F/\\partial v\\rVert \\le`
        ``tolerance`` :math:`\\cdot\\lVert e_L\\rVert` (relative to the output drive).
    output_precision : float
        :math:`\\gamma` (> 0): the output precision relative to the hidden ones, equal to the
        nudging strength :math:`\\beta`.  ``1`` is the plain clamped network; ``-> 0`` is
        the limit in which PC computes backprop.
    on_unconverged : {"raise", "warn", "record"}
        What reaching the step cap does: raise :class:`~neurosim.errors.ConvergenceError`, warn
        with :class:`~neurosim.relaxation.RelaxationWarning`, or only record it in ``aux`` (for
        truncated inference, e.g. a fixed 20-step budget).  Divergence always raises.

    Notes
    -----
    The defaults relax to equilibrium (what ``align`` measures); ``models/presets/pc-train.toml``
    is the truncated setting used to train (pcx practice, Pinchetti et al. 2025; Whittington &
    Bogacz 2017 also used 20 steps): T = 20 steps at rate 0.05, the cap recorded.  The stable
    rate shrinks as the weights grow (:math:`\\eta < 2/\\lambda_{max}` of the Hessian of F, and
    :math:`\\lambda_{max}` grows with :math:`|W|^2`): on Fashion-MNIST 784-128-128-128-10 relu
    with Adam 1e-3, rate 0.5 made the energy rise within 10 steps at initialisation; rate 0.2
    within the first epoch on 60,000 images in all of 3 seeds, and rate 0.1 in the third epoch
    (seed 0).  ``models/presets/pc-compare.toml`` (20 steps at the default rate 0.1, recorded)
    is the short-budget comparison, stable on its tanh networks.
    """

    name = "pc"
    family = "predictive_coding"
    citation = ("Whittington & Bogacz (2017). An approximation of the error backpropagation algorithm in a "
                "predictive coding network with local Hebbian synaptic plasticity. Neural Comput. 29, 1229.")
    info = RuleInfo(aliases=("predictive-coding",), arrays=("numpy", "torch"), operations=OPERATIONS)
    Hyper = PCHyper
    #: Whether the energy must not rise (inference is gradient descent on F).
    monotone_energy = True
    #: Whether a residual that ended RESIDUAL_BLOWUP times above its start counts as divergence.
    check_residual_growth = True

    # ------------------------------------------------------------------ inference
    def infer(self, network: Network, params: dict, x, target) -> InferenceResult:
        """Relax the value nodes for one batch (pure: nothing is kept on the rule).

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
            On divergence, or at the step cap when ``on_unconverged = "raise"``.
        """
        check_params(network, params)
        x, t = check_batch(network, x, target)
        c0 = network.chain()  # fails early with a clear message when not a chain
        xp = namespace(x, *params.values())
        dtype = xp.result_type(x.dtype, *(params[p.tied_to or p.name].dtype for p in c0 if _ops.has_params(p)))
        c = _chain(network, params, dtype)
        x, t = astype(x, dtype), astype(t, dtype)
        floor = TOLERANCE_FLOOR_EPS * float(xp.finfo(dtype).eps)
        tol = max(float(self.hyper["tolerance"]), floor) if "tolerance" in self.hyper else math.nan
        with np.errstate(over="ignore", invalid="ignore"):
            # overflow is detected by the monitor as a non-finite state and reported with context
            return self._relax(c, x, t, tol)

    def _monitor(self, tol: float, max_steps: int | None = None) -> Monitor:
        """The shared convergence monitor with this rule's settings."""
        h = self.hyper
        return Monitor(f"rule '{self.name}'", max_steps=h["max_steps"] if max_steps is None else max_steps,
                       tolerance=tol, on_unconverged=h["on_unconverged"], phase="inference",
                       hint=f"lower step_size (now {h['step_size']:g})", monotone_energy=self.monotone_energy,
                       growth=RESIDUAL_BLOWUP if self.check_residual_growth else None, keep_trace=True)

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
        eta = float(self.hyper["step_size"])
        n_hidden = len(c.names) - 1
        batch = x.shape[0]
        acts = c.acts
        # constant during inference: the input is clamped
        mu_bottom, tape_bottom = _predict_tape(c, 0, x)
        # feed-forward pass: the initial values, all hidden errors zero
        v = [copy(mu_bottom)] if n_hidden else []
        switches = [None]
        for l in range(1, n_hidden + 1):
            mu_ff, tape = _predict_tape(c, l, acts[l - 1](v[-1]))
            switches.append(_switches(c, l, tape))
            if l < n_hidden:
                v.append(mu_ff)
        monitor = self._monitor(tol)
        while True:
            r = [x] + [acts[l](v[l]) for l in range(n_hidden)]
            mu, tapes = [mu_bottom], [tape_bottom]
            for l in range(1, n_hidden + 1):
                m, tape = _predict_tape(c, l, r[l], switches[l])
                mu.append(m)
                tapes.append(tape)
            eps = [v[l] - mu[l] for l in range(n_hidden)]
            eps_out, loss = output_error(c, mu[n_hidden], t)
            e = eps + [gamma * eps_out]
            energy = (0.5 * _sumsq(eps) + gamma * _float_sum(loss)) / batch
            grad = [e[l] - acts[l].derivative(v[l]) * _feed_back(c, l + 1, e[l + 1], tapes[l + 1])
                    for l in range(n_hidden)]
            if monitor.stop(_relative(_sumsq(grad), _sumsq([e[-1]])), energy):
                break
            for l in range(n_hidden):
                v[l] -= eta * grad[l]
        pre = [_synaptic_input(r[l], tapes[l]) for l in range(n_hidden + 1)]
        return self._finish(c, e, pre, v, monitor)

    def _finish(self, c, e, r_pre, v, monitor: Monitor, converged: bool | None = None) -> InferenceResult:
        """The result, after the monitor's divergence test and ``on_unconverged`` policy."""
        conv = monitor.finish(converged)
        gamma = float(self.hyper["output_precision"])
        zil = converged is not None  # a fixed schedule: no residual criterion
        return InferenceResult(
            rule=self.name, errors={n: e[l] / gamma for l, n in enumerate(c.names)},
            presynaptic={n: r_pre[l] for l, n in enumerate(c.names)},
            values={n: v[l] for l, n in enumerate(c.names[:-1])}, steps=conv.steps, converged=conv.converged,
            residual=math.nan if zil else conv.residual, tolerance=math.nan if zil else conv.tolerance,
            energy=float(monitor.trace[-1]), energy_trace=np.asarray(monitor.trace))

    # ------------------------------------------------------------------ the rule interface
    def updates(self, network: Network, params: dict, state, x, target):
        """Local updates :math:`\\Delta W_l = \\langle\\hat\\varepsilon_l\\,\\phi_{l-1}(v_{l-1})^\\top\\rangle`,
        :math:`\\Delta b_l = \\langle\\hat\\varepsilon_l\\rangle` after :meth:`infer` (batch mean).

        Returns
        -------
        dW : dict of str to ndarray
            Keyed like ``params`` (a projection tied to another one updates the owner,
            transposed).  Same dtype as the computation (float32 in, float32 out).
        state
            Unchanged (PC carries nothing between batches).
        aux : dict
            ``"relaxation"`` (``phases``, ``unconverged``, ``steps``, ``max_residual``) and
            ``"inference"`` (:meth:`InferenceResult.summary`).
        """
        res = self.infer(network, params, x, target)
        c = network.chain()
        batch = next(iter(res.errors.values())).shape[0]
        dw = {}
        for proj in c:
            if proj.post not in res.errors:  # a folded pooling/flatten layer: nothing to learn
                continue
            err, pre = res.errors[proj.post], res.presynaptic[proj.post]
            key = proj.tied_to if proj.tied_to is not None else proj.name
            if proj.operation == "dense":
                g = err.T @ pre / batch
                g = g.T if proj.tied_to is not None else g
                dw[key] = dw[key] + g if key in dw else g
            elif _ops.has_params(proj):  # the kernel's correlation of the error with the input patches
                g = _ops.weight_gradient(network, proj, err, pre) / batch
                g = proj.scale * g if proj.scale != 1.0 else g
                dw[key] = dw[key] + g if key in dw else g
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = namespace(err).sum(err, axis=0) / batch
        return dw, state, {"relaxation": res.relaxation(), "inference": res.summary()}


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
    detected from the residual.  Hyper-parameters: :class:`FPAHyper`.  With the predictions
    fixed the dynamics are a Jacobi sweep: at rate 1 they are exact after one step per layer,
    so the training and comparison presets (``models/presets/pc-fpa-*.toml``) use that
    instead of 20 steps at 0.1.
    """

    name = "pc-fpa"
    citation = ("Millidge, Tschantz & Buckley (2022). Predictive coding approximates backprop along arbitrary "
                "computation graphs. Neural Comput. 34, 1329.")
    # spiking version: neurosim.spiking.predictive_coding
    info = RuleInfo(aliases=("pc-fixed-prediction",), backends=("rate", "spiking"), arrays=("numpy", "torch"),
                    operations=OPERATIONS)
    Hyper = FPAHyper
    monotone_energy = False

    def _relax(self, c: _Chain, x, t, tol) -> InferenceResult:
        gamma = float(self.hyper["output_precision"])
        eta = float(self.hyper["step_size"])
        n_layers = len(c.names)
        batch = x.shape[0]
        u, r, tapes = [], [x], []
        for l in range(n_layers):
            mu, tape = _predict_tape(c, l, r[-1])
            u.append(mu)
            tapes.append(tape)
            r.append(c.acts[l](u[-1]))
        slope = [c.acts[l].derivative(u[l]) for l in range(n_layers - 1)]
        eps_out, loss = output_error(c, u[-1], t)
        out_energy = gamma * _float_sum(loss)
        e_out = gamma * eps_out
        out_sq = _sumsq([e_out])
        eps = [namespace(x).zeros_like(u[l]) for l in range(n_layers - 1)]
        monitor = self._monitor(tol)
        while True:
            e = eps + [e_out]
            grad = [e[l] - slope[l] * _feed_back(c, l + 1, e[l + 1], tapes[l + 1]) for l in range(n_layers - 1)]
            # residual and energy by BLAS dot products, as standard PC (_sumsq)
            if monitor.stop(_relative(_sumsq(grad), out_sq), (0.5 * _sumsq(eps) + out_energy) / batch):
                break
            eps = [eps[l] - eta * grad[l] for l in range(n_layers - 1)]
        values = [u[l] + eps[l] for l in range(n_layers - 1)]
        return self._finish(c, e, [_synaptic_input(r[l], tapes[l]) for l in range(n_layers)], values, monitor)


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
    The schedule is fixed (``L - 1`` steps), so there is no step cap or tolerance
    (:class:`ZILHyper`); a non-finite state raises :class:`~neurosim.errors.ConvergenceError`.
    ``aux["relaxation"]`` counts one phase of ``L - 1`` steps, without ``max_residual``.
    """

    name = "pc-zil"
    citation = ("Song, Lukasiewicz, Xu & Bogacz (2020). Can the brain do backpropagation? Exact implementation "
                "of backpropagation in predictive coding networks. NeurIPS 33.")
    info = RuleInfo(aliases=("z-il", "zil"), arrays=("numpy", "torch"), operations=OPERATIONS)
    Hyper = ZILHyper
    # eta = 1 is not a stable step for gradient descent on F in general; Z-IL stops after
    # L - 1 steps, before that matters, so the energy may rise.
    monotone_energy = False
    check_residual_growth = False

    def _relax(self, c: _Chain, x, t, tol) -> InferenceResult:
        gamma = float(self.hyper["output_precision"])
        n_layers = len(c.names)
        batch = x.shape[0]
        v, r, switches = [], [x], []
        for l in range(n_layers):
            mu_ff, tape = _predict_tape(c, l, r[-1])
            switches.append(_switches(c, l, tape))
            if l < n_layers - 1:
                v.append(mu_ff)
                r.append(c.acts[l](v[-1]))
        read_err = [None] * n_layers
        read_pre = [None] * n_layers
        monitor = Monitor(f"rule '{self.name}'", max_steps=n_layers - 1, tolerance=0.0, phase="inference",
                          hint="the state overflowed; shrink the weights or the inputs", keep_trace=True)
        step = 0
        while True:
            r = [x] + [c.acts[l](v[l]) for l in range(n_layers - 1)]
            mu, tapes = zip(*(_predict_tape(c, l, r[l], switches[l]) for l in range(n_layers)))
            eps = [v[l] - mu[l] for l in range(n_layers - 1)]
            eps_out, loss = output_error(c, mu[-1], t)
            e = eps + [gamma * eps_out]
            energy = (0.5 * _sumsq(eps) + gamma * _float_sum(loss)) / batch
            grad = [e[l] - c.acts[l].derivative(v[l]) * _feed_back(c, l + 1, e[l + 1], tapes[l + 1])
                    for l in range(n_layers - 1)]
            residual = _relative(_sumsq(grad), _sumsq([e[-1]]))
            layer = n_layers - 1 - step  # the layer whose error arrived at this step
            read_err[layer], read_pre[layer] = e[layer], _synaptic_input(r[layer], tapes[layer])
            if monitor.stop(residual, energy):
                break
            step += 1
            for l in range(n_layers - 1):
                v[l] = v[l] - grad[l]  # eta = 1
        # the residual is not a convergence measure here (Z-IL never relaxes to equilibrium)
        return self._finish(c, read_err, read_pre, v, monitor, converged=True)

"""The energy-based oracle: layered Hopfield energy, relaxation, implicit gradient and BPTT.

Equilibrium propagation (EP; Scellier & Bengio 2017) trains a network whose state
settles to a minimum of an energy.  This module holds the maths of that network and
the two exact references EP is measured against (DESIGN.md):

* the gradient of the loss *at the free-phase fixed point*, by implicit
  differentiation (recurrent backprop; Almeida 1987, Pineda 1987), and
* backpropagation through time (BPTT) through the discrete-time free phase
  (Ernoult, Grollier, Querlioz, Bengio & Scellier 2019).

The learning rule itself lives in :mod:`neurosim.rules.equilibrium`.

Layered energy
--------------
The network is the feed-forward chain ``input -> s_1 -> ... -> s_L`` of a
:class:`~neurosim.network.Network` whose feedforward projections :math:`W_l`
(shape ``(n_l, n_{l-1})``) are also used backwards: each is paired with a
``kind = "feedback"`` projection ``tied_to`` it (its transpose), which is how the
description says "symmetric weights".  With the state :math:`s_l` of layer
:math:`l` in the range of its transfer function :math:`\\rho_l`, the input clamped
to :math:`s_0 = x` (inputs are rates already, as in :mod:`neurosim.reference`) and
biases :math:`b_l`,

.. math::

    E(s) = \\sum_{l=1}^{L} \\sum_i G_l(s_{l,i})
           - \\sum_{l=1}^{L} s_l^\\top W_l\\, s_{l-1} - \\sum_{l=1}^{L} b_l^\\top s_l,
    \\qquad G_l(s) = \\int^{s} \\rho_l^{-1}(v)\\, dv

(the continuous Hopfield energy, Hopfield 1984).  For the hard sigmoid
:math:`\\rho(u) = \\min(\\max(u, 0), 1)` of Scellier & Bengio (2017), :math:`\\rho` is the
identity on its range, :math:`G(s) = \\tfrac12 s^2` and the state is confined to
:math:`[0, 1]`: this is their energy
:math:`E(u) = \\tfrac12\\sum_i u_i^2 - \\tfrac12\\sum_{i \\ne j} W_{ij}\\rho(u_i)\\rho(u_j) -
\\sum_i b_i \\rho(u_i)` written for a layered net whose state stays in :math:`[0, 1]`
(where :math:`\\rho(u) = u`).  The stationarity (Karush-Kuhn-Tucker) condition of
:math:`E` on the box is the fixed-point equation

.. math::  s_l = \\rho_l(a_l), \\qquad
           a_l = W_l s_{l-1} + W_{l+1}^\\top s_{l+1} + b_l
           \\quad (W_{L+1} \\equiv 0),

which is also the fixed point of the sigmoid, tanh... variants (for invertible
:math:`\\rho`, :math:`G' = \\rho^{-1}`).

Cost and nudging
----------------
The total energy is :math:`F = E + \\beta C` with the cost :math:`C` the network's loss:

* ``loss = "mse"`` (Scellier & Bengio 2017): the output layer is part of the energy and
  :math:`C = \\tfrac12\\lVert s_L - t\\rVert^2`;
* ``loss = "cross_entropy"`` (Laborieux et al. 2021): the output layer is a read-out
  *outside* the energy, :math:`r = \\phi_{out}(W_{out} s_{L} + b_{out})` with
  :math:`s_L` the last hidden layer, and :math:`C = -\\sum_k t_k \\log\\mathrm{softmax}(r)_k`
  (the same loss as :func:`neurosim.reference.loss_value`).

The relaxation iterates (``step_size`` :math:`\\epsilon`)

.. math::  s \\leftarrow (1-\\epsilon)\\, s + \\epsilon\\, \\rho\\big(a(s) - \\beta\\,\\partial C/\\partial s\\big),

whose fixed points are the stationary points of :math:`F` on the box: for
:math:`\\epsilon = 1` this is the discrete-time "prototypical" setting of Ernoult et al.
(2019), :math:`s_{t+1} = \\rho(\\partial \\Phi/\\partial s)` with primitive
:math:`\\Phi = \\sum_l s_l^\\top W_l s_{l-1} + \\sum_l b_l^\\top s_l - \\beta C`; for
:math:`\\epsilon < 1` it is the Euler discretisation of Scellier & Bengio's gradient flow
:math:`ds/dt = -\\partial F/\\partial s` kept inside the box.  Layers are updated all at once
(``schedule = "synchronous"``, the setting of the BPTT oracle) or even-indexed layers first and
then odd-indexed ones from the fresh even states (``"alternating"``, the default of
:func:`relax`: for :math:`\\epsilon = 1` exact block-coordinate descent on :math:`E`, free of the
period-2 cycles synchronous updates fall into when :math:`E` has several minima).  With the
squared-error cost each output feeds back on itself with gain :math:`-\\beta`, so a nudged
iteration needs :math:`\\epsilon(1+\\beta) < 2`.

Shapes: ``x`` is ``(batch, n_input)``, ``target`` ``(batch, n_output)``; a *state* is a
dict of layer name to ``(batch, size)`` arrays over the energy layers
(:attr:`LayeredEnergy.layers`).  Everything is vectorised over the batch; the only
Python loops run over time steps and layers.

References
----------
Scellier & Bengio (2017), Front. Comput. Neurosci. 11:24.  Ernoult et al. (2019), NeurIPS 32.
Laborieux et al. (2021), Front. Neurosci. 15:633674.  Hopfield (1984), PNAS 81:3088.
Almeida (1987), IEEE ICNN; Pineda (1987), Phys. Rev. Lett. 59:2229.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError, ConvergenceError, ShapeError
from .network import Layer, Network, Projection
from .neurons import get_activation
from .params import Params, bias_key, check_params
from .reference import check_batch, loss_value, softmax

#: Suffix of the tied feedback projections that :meth:`EquilibriumPropagation.prepare` adds.
TIE_SUFFIX = "ep"


# --------------------------------------------------------------------------- structure
@dataclass(frozen=True)
class LayeredEnergy:
    """The layered Hopfield energy a :class:`~neurosim.network.Network` describes.

    Build it with :func:`layered_energy` (which validates the network).

    Attributes
    ----------
    network : Network
    layers : tuple of Layer
        The free (energy) layers :math:`s_1 \\dots s_L`, bottom-up: every non-input layer
        of the chain (``mse``) or every hidden layer (``cross_entropy``).
    couplings : tuple of Projection
        :math:`W_1 \\dots W_L`: the feedforward projection into each energy layer.
    readout : Projection or None
        The read-out projection of the ``cross_entropy`` formulation.
    """

    network: Network
    layers: tuple[Layer, ...]
    couplings: tuple[Projection, ...]
    readout: Projection | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(layer.size for layer in self.layers)


def tie_name(proj: Projection) -> str:
    """Canonical name of the feedback projection tied to ``proj`` (``"output->hidden1:ep"``)."""
    return f"{proj.post}->{proj.pre}:{TIE_SUFFIX}"


def missing_ties(network: Network) -> list[Projection]:
    """The tied feedback projections a layered energy on ``network`` still lacks.

    One ``post -> pre`` projection, ``kind = "feedback"``, ``tied_to`` each coupling
    between two energy layers (couplings from the clamped input need none).
    """
    chain = network.chain()
    couplings = chain if network.loss == "mse" else chain[:-1]
    tied = {p.tied_to for p in network.select("feedback") if p.tied_to is not None}
    input_name = network.input_layer.name
    return [Projection(p.post, p.pre, name=tie_name(p), kind="feedback", tied_to=p.name)
            for p in couplings if p.pre != input_name and p.name not in tied]


@functools.lru_cache(maxsize=64)
def layered_energy(network: Network) -> LayeredEnergy:
    """Validate ``network`` as a symmetric layered energy-based net and describe it.

    Raises
    ------
    ConfigError
        If the feedforward projections are not a chain, a coupling between two energy
        layers has no tied feedback projection (call the EP rule's ``prepare``), a
        feedback projection is not tied (asymmetric weights have no energy), there are
        lateral projections, or a ``cross_entropy`` net has no hidden layer.
    """
    chain = network.chain()
    name = network.name
    if network.loss == "cross_entropy":
        if len(chain) < 2:
            raise ConfigError(f"Network '{name}': equilibrium propagation with the cross_entropy loss puts a "
                              "softmax read-out on top of the last hidden layer, so it needs at least one "
                              "hidden layer; got none (add one, or use loss = \"mse\")")
        couplings, readout = chain[:-1], chain[-1]
    else:
        couplings, readout = chain, None
    if network.select("lateral"):
        raise ConfigError(f"Network '{name}': lateral projection '{network.select('lateral')[0].name}' is not part "
                          "of the layered energy used by equilibrium propagation; remove it")
    coupling_names = {p.name for p in couplings}
    for p in network.select("feedback"):
        if p.tied_to is None:
            raise ConfigError(f"Network '{name}': feedback projection '{p.name}' is not tied_to a feedforward "
                              "projection; equilibrium propagation needs symmetric weights (set tied_to, or "
                              "remove it and let the rule's prepare() add the tie)")
        if p.tied_to not in coupling_names:
            raise ConfigError(f"Network '{name}': feedback projection '{p.name}' is tied to '{p.tied_to}', which "
                              "is not a coupling of the energy (with cross_entropy the read-out has no "
                              "feedback); remove it")
    lacking = missing_ties(network)
    if lacking:
        p = network.projection(lacking[0].tied_to)
        raise ConfigError(f"Network '{name}': equilibrium propagation needs symmetric weights, but feedforward "
                          f"projection '{p.name}' has no feedback projection {p.post}->{p.pre} tied_to it; call "
                          f"get_rule('ep').prepare(network), which adds '{tie_name(p)}'")
    layers = tuple(network.layer(p.post) for p in couplings)
    return LayeredEnergy(network=network, layers=layers, couplings=tuple(couplings), readout=readout)


@dataclass
class _Arrays:
    """The numbers of one energy-based net, gathered once per call (internal)."""

    W: list            # W[l] of shape (n_l, n_{l-1}); W[0] reads the input
    b: list            # b[l] of shape (n_l,) or None
    rho: list          # Activation of each energy layer
    loss: str
    W_out: np.ndarray | None = None
    b_out: np.ndarray | None = None
    phi_out: object = None
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))


def _gather(le: LayeredEnergy, params: Params, dtype) -> _Arrays:
    W = [np.asarray(params[p.name], dtype=dtype) for p in le.couplings]
    b = [np.asarray(params[bias_key(layer.name)], dtype=dtype) if layer.bias else None for layer in le.layers]
    rho = [get_activation(layer.activation) for layer in le.layers]
    arrays = _Arrays(W=W, b=b, rho=rho, loss=le.network.loss, dtype=np.dtype(dtype))
    if le.readout is not None:
        out = le.network.layer(le.readout.post)
        arrays.W_out = np.asarray(params[le.readout.name], dtype=dtype)
        arrays.b_out = np.asarray(params[bias_key(out.name)], dtype=dtype) if out.bias else None
        arrays.phi_out = get_activation(out.activation)
    return arrays


def _prepare(network: Network, params: Params, x, target, dtype=None):
    le = layered_energy(network)
    check_params(network, params)
    x, t = check_batch(network, x, target)
    if dtype is None:
        dtype = np.result_type(x.dtype, *(np.asarray(params[p.name]).dtype for p in network.chain()))
    x = x.astype(dtype, copy=False)
    t = None if t is None else t.astype(dtype, copy=False)
    return le, _gather(le, params, dtype), x, t


def _state_list(le: LayeredEnergy, state, batch: int, dtype) -> list:
    if state is None:
        return [np.zeros((batch, n), dtype=dtype) for n in le.sizes]
    out = []
    for layer in le.layers:
        if layer.name not in state:
            raise ShapeError(f"state: no entry for energy layer '{layer.name}'; expected keys "
                             f"{', '.join(le.names)}")
        s = np.asarray(state[layer.name], dtype=dtype)
        if s.shape != (batch, layer.size):
            raise ShapeError(f"state['{layer.name}']: expected shape ({batch}, {layer.size}), got {s.shape}")
        out.append(s.copy())
    return out


def _as_dict(le: LayeredEnergy, states: list) -> dict:
    return dict(zip(le.names, states))


# --------------------------------------------------------------------------- the maths
def _input_drive(A: _Arrays, x: np.ndarray) -> np.ndarray:
    """The constant part of the first layer's drive, :math:`W_1 x + b_1`, shape (batch, n_1).

    The input is clamped during every phase, so this (the largest matrix product of a
    relaxation step when the input is wide: 784 x 500 for MNIST) is computed once per batch
    and shared by the free and nudged phases.
    """
    acc = x @ A.W[0].T
    if A.b[0] is not None:
        acc += A.b[0]
    return acc


def _drives(A: _Arrays, x: np.ndarray, s: list, which=None, inp: np.ndarray | None = None) -> list:
    """:math:`a_l = W_l s_{l-1} + W_{l+1}^\\top s_{l+1} + b_l`, shape (batch, n_l), for the layers ``which``.

    ``inp`` is :func:`_input_drive` (computed from ``x`` when not given).
    """
    a = []
    n = len(s)
    for l in range(n) if which is None else which:
        if l == 0:
            base = _input_drive(A, x) if inp is None else inp
            acc = base + s[1] @ A.W[1] if n > 1 else base.copy()
        else:
            acc = s[l - 1] @ A.W[l].T
            if l + 1 < n:
                acc += s[l + 1] @ A.W[l + 1]
            if A.b[l] is not None:
                acc += A.b[l]
        a.append(acc)
    return a


def _readout(A: _Arrays, top: np.ndarray):
    """Read-out pre-activation and rates (cross_entropy formulation)."""
    z = top @ A.W_out.T
    if A.b_out is not None:
        z = z + A.b_out
    return z, A.phi_out(z)


def _output(A: _Arrays, s: list) -> np.ndarray:
    """The rates the loss is computed on: :math:`s_L` (mse) or the read-out rates (CE)."""
    return s[-1] if A.W_out is None else _readout(A, s[-1])[1]


def _cost_per_sample(A: _Arrays, s: list, t: np.ndarray) -> np.ndarray:
    if A.W_out is None:
        return 0.5 * np.sum((s[-1] - t) ** 2, axis=1)
    r = _readout(A, s[-1])[1]
    zr = r - r.max(axis=1, keepdims=True)
    log_p = zr - np.log(np.exp(zr).sum(axis=1, keepdims=True))
    return -np.sum(t * log_p, axis=1)


def _readout_delta(A: _Arrays, top: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-sample :math:`\\partial C/\\partial z = (\\mathrm{softmax}(r) - t) \\odot \\phi'(z)`, (batch, n_out)."""
    z, r = _readout(A, top)
    return (softmax(r) - t) * A.phi_out.derivative(z)


def _cost_grad_top(A: _Arrays, s: list, t: np.ndarray) -> np.ndarray:
    """:math:`\\partial C/\\partial s_L` per sample (the only layer the cost touches)."""
    if A.W_out is None:
        return s[-1] - t
    return _readout_delta(A, s[-1], t) @ A.W_out


def _readout_grads(le: LayeredEnergy, A: _Arrays, top: np.ndarray, t: np.ndarray) -> dict:
    """Batch-mean :math:`\\partial C/\\partial W_{out}` and :math:`\\partial C/\\partial b_{out}` (CE only)."""
    if A.W_out is None:
        return {}
    delta = _readout_delta(A, top, t)
    grads = {le.readout.name: delta.T @ top / top.shape[0]}
    if A.b_out is not None:
        grads[bias_key(le.readout.post)] = delta.mean(axis=0)
    return grads


def _map(A: _Arrays, x, s, beta, t, which=None, inp=None) -> list:
    """:math:`s \\mapsto \\rho(a(s) - \\beta\\,\\partial C/\\partial s)` for the layers ``which`` (default all)."""
    which = range(len(s)) if which is None else which
    a = _drives(A, x, s, which, inp)
    out = []
    for l, a_l in zip(which, a):
        if beta != 0.0 and l == len(s) - 1:
            a_l -= beta * _cost_grad_top(A, s, t)
        out.append(A.rho[l](a_l))
    return out


def _G(activation: str, s: np.ndarray) -> np.ndarray:
    """:math:`G(s) = \\int \\rho^{-1}`: the single-unit term of the Hopfield energy."""
    if activation in ("hard_sigmoid", "relu", "linear"):
        return 0.5 * s * s
    if activation == "sigmoid":
        p = np.clip(s, 1e-300, 1.0)
        q = np.clip(1.0 - s, 1e-300, 1.0)
        return s * np.log(p) + (1.0 - s) * np.log(q)
    if activation == "tanh":
        c = np.clip(s, -1.0 + 1e-15, 1.0 - 1e-15)
        return c * np.arctanh(c) + 0.5 * np.log1p(-c * c)
    raise ConfigError(f"activation '{activation}': no Hopfield energy term G is defined for it")


def energy(network: Network, params: Params, x, state: dict) -> np.ndarray:
    """The layered Hopfield energy :math:`E(s)` of each sample (module docstring).

    Parameters
    ----------
    network : Network
        A symmetric layered net (see :func:`layered_energy`).
    params : dict
    x : ndarray of shape (batch, n_input)
    state : dict of str to ndarray (batch, n_l)
        States of the energy layers, inside the ranges of their transfer functions.

    Returns
    -------
    ndarray of shape (batch,)
    """
    le, A, x, _ = _prepare(network, params, x, None)
    s = _state_list(le, state, x.shape[0], A.dtype)
    e = np.zeros(x.shape[0], dtype=A.dtype)
    for l, layer in enumerate(le.layers):
        below = x if l == 0 else s[l - 1]
        e += _G(layer.activation, s[l]).sum(axis=1)
        e -= np.sum((below @ A.W[l].T) * s[l], axis=1)
        if A.b[l] is not None:
            e -= s[l] @ A.b[l]
    return e


def cost(network: Network, params: Params, state: dict, target) -> np.ndarray:
    """The cost :math:`C` of each sample at ``state``, shape (batch,) (module docstring)."""
    le = layered_energy(network)
    t = np.asarray(target, dtype=np.float64)
    A = _gather(le, params, np.float64)
    s = _state_list(le, state, t.shape[0], np.float64)
    return _cost_per_sample(A, s, t)


def total_energy(network: Network, params: Params, x, state: dict, target, beta: float) -> np.ndarray:
    """:math:`F = E + \\beta C` of each sample, shape (batch,)."""
    return energy(network, params, x, state) + beta * cost(network, params, state, target)


# --------------------------------------------------------------------------- relaxation
@dataclass
class Relaxation:
    """Result of :func:`relax`: the state reached and how the relaxation went.

    Attributes
    ----------
    state : dict of str to ndarray (batch, n_l)
    beta : float
        Nudging strength of this phase (0: free phase).
    steps : int
        Updates performed.
    residual : float
        :math:`\\max |\\rho(a(s) - \\beta\\partial C/\\partial s) - s|` over batch and units at the
        returned state (0 at an exact fixed point).
    converged : bool
        ``residual <= tolerance``.
    tolerance : float
    """

    state: dict
    beta: float
    steps: int
    residual: float
    converged: bool
    tolerance: float

    def to_dict(self) -> dict:
        """Diagnostics as plain data (no arrays)."""
        return {"beta": self.beta, "steps": self.steps, "residual": self.residual,
                "converged": self.converged, "tolerance": self.tolerance}


SCHEDULES = ("alternating", "synchronous")


def _residual(new: list, s: list) -> float:
    return max(float(np.max(np.abs(nw - c))) for nw, c in zip(new, s))


def _relax(A: _Arrays, x, t, s, *, beta, step_size, tolerance, max_steps, phase, check, schedule, inp=None):
    """The relaxation loop of :func:`relax` on gathered arrays (no validation; internal).

    ``inp`` is the batch's constant input drive :math:`W_1 x + b_1` (:func:`_input_drive`),
    shared by the phases of one batch.  With ``tolerance = 0`` the loop runs exactly
    ``max_steps`` updates and reduces the residual once, at the end.

    Returns ``(s, steps, residual, converged)``; raises :class:`ConvergenceError` when the
    state becomes non-finite or the relaxation is unstable (the residual at the cap is more
    than twice the residual of the initial state), and, if ``check``, when ``tolerance > 0``
    is not reached within ``max_steps``.
    """
    n = len(s)
    if inp is None:
        inp = _input_drive(A, x)
    # Layers of one parity do not interact, so updating the even-indexed layers and then the
    # odd-indexed ones from the fresh even ones is exact block-coordinate descent on E for
    # step_size = 1 (Scellier's "asynchronous" mode); the synchronous update of every layer at
    # once (Ernoult et al. 2019) can fall into a period-2 cycle when E has several minima.
    odd = list(range(1, n, 2))
    alternating = schedule == "alternating" and bool(odd)
    fixed = tolerance == 0.0

    def blend(nw, c):
        return nw if step_size == 1.0 else c + step_size * (nw - c)

    new = _map(A, x, s, beta, t, inp=inp)
    initial = residual = _residual(new, s)
    steps = 0
    while True:
        if not np.isfinite(residual):
            raise ConvergenceError(f"relaxation ({phase}, beta={beta:g}): the state became NaN or inf after "
                                   f"{steps} steps; lower step_size or the weights' scale")
        if (not fixed and residual <= tolerance) or steps >= max_steps:
            break
        if alternating:
            s = [blend(nw, c) if l % 2 == 0 else c for l, (nw, c) in enumerate(zip(new, s))]
            for l, nw in zip(odd, _map(A, x, s, beta, t, odd, inp=inp)):
                s[l] = blend(nw, s[l])
        else:
            s = [blend(nw, c) for nw, c in zip(new, s)]
        steps += 1
        new = _map(A, x, s, beta, t, inp=inp)
        if not fixed or steps >= max_steps:
            residual = _residual(new, s)
    converged = residual <= tolerance
    if not converged and residual > 2.0 * initial + 1e-6:
        # A relaxation towards a stable fixed point does not move away from it; a residual
        # that grew is an unstable (diverging) dynamics, not a slow one.
        raise ConvergenceError(f"relaxation ({phase}, beta={beta:g}): unstable, the fixed-point residual grew "
                               f"from {initial:.3g} to {residual:.3g} in {steps} steps; lower step_size or the "
                               "weights' scale")
    if check and tolerance > 0 and not converged:
        raise ConvergenceError(f"relaxation ({phase}, beta={beta:g}): residual {residual:.3g} > tolerance "
                               f"{tolerance:g} after {steps} steps; raise the step cap (n_free_steps / "
                               "n_nudged_steps / max_steps), lower step_size, or set tolerance = 0 to run a "
                               "fixed number of steps")
    return s, steps, residual, converged


def relax(network: Network, params: Params, x, target=None, *, beta: float = 0.0, state: dict | None = None,
          step_size: float = 1.0, tolerance: float = 1e-6, max_steps: int = 1000, check: bool = True,
          schedule: str = "alternating", dtype=None, phase: str = "") -> Relaxation:
    """Relax the state to a fixed point of :math:`F = E + \\beta C` (module docstring).

    .. math::  s \\leftarrow (1-\\epsilon)\\, s + \\epsilon\\, \\rho\\big(a(s) - \\beta\\,\\partial C/\\partial s\\big)

    Parameters
    ----------
    network, params
        A symmetric layered net and its parameters.
    x : ndarray of shape (batch, n_input)
    target : ndarray of shape (batch, n_output), optional
        Needed when ``beta != 0``.
    beta : float
        Nudging strength (0: free phase; negative: nudged away from the target).
    state : dict, optional
        Initial state (default zeros; the nudged phases start from the free fixed point).
    step_size : float in (0, 1]
        :math:`\\epsilon`.
    tolerance : float
        Stop when the fixed-point residual is ``<= tolerance``.  ``0`` runs exactly
        ``max_steps`` updates (Scellier & Bengio's fixed-step protocol); the residual is
        then evaluated once, at the end, and recorded, not checked.
    max_steps : int
        Cap on the number of updates.
    check : bool
        Raise :class:`ConvergenceError` when ``tolerance > 0`` is not reached within
        ``max_steps`` (``False``: stop at the cap and record ``residual`` / ``converged``,
        the training mode of the EP rule, ``on_unconverged = "record"``).
    schedule : {"alternating", "synchronous"}
        ``synchronous`` updates every layer from the previous state (the discrete-time
        setting of Ernoult et al. 2019 when ``step_size = 1``); ``alternating`` updates the
        even-indexed energy layers, then the odd-indexed ones from the fresh even ones
        (block-coordinate descent on :math:`E`; same fixed points, no period-2 cycles).
    dtype : float32 or float64, optional
        Working precision (default: that of ``x`` and the weights).

    Returns
    -------
    Relaxation

    Raises
    ------
    ConvergenceError
        Always when the dynamics diverge: a non-finite state, or a residual at the cap more
        than twice that of the initial state (an unstable fixed point); with ``check`` also
        when a ``tolerance > 0`` is missed within ``max_steps``.
    """
    if beta != 0.0 and target is None:
        raise ConfigError("relax: a nudged phase (beta != 0) needs the target")
    _check_relax_args(step_size, tolerance, max_steps)
    if schedule not in SCHEDULES:
        raise ConfigError(f"relax schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if network.loss == "mse" and step_size * (1.0 + beta) >= 2.0:
        # the squared-error nudge feeds each output back on itself with gain -beta, so the
        # iteration's factor 1 - step_size (1 + beta) must stay above -1
        raise ConfigError(f"relax: with the squared-error cost the nudged iteration oscillates unless "
                          f"step_size * (1 + beta) < 2; got step_size={step_size:g}, beta={beta:g} (lower "
                          "step_size, e.g. 0.5 as in Scellier & Bengio 2017, or beta)")
    le, A, x, t = _prepare(network, params, x, target, dtype)
    s = _state_list(le, state, x.shape[0], A.dtype)
    s, steps, residual, converged = _relax(A, x, t, s, beta=float(beta), step_size=step_size, tolerance=tolerance,
                                           max_steps=max_steps, phase=phase or ("free" if beta == 0 else "nudged"),
                                           check=check, schedule=schedule)
    return Relaxation(state=_as_dict(le, s), beta=float(beta), steps=steps, residual=residual, converged=converged,
                      tolerance=float(tolerance))


def _check_relax_args(step_size, tolerance, max_steps):
    if not (0.0 < step_size <= 1.0):
        raise ConfigError(f"step_size: expected a number in (0, 1], got {step_size!r}")
    if not tolerance >= 0.0:
        raise ConfigError(f"tolerance: expected a number >= 0, got {tolerance!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ConfigError(f"max_steps: expected a positive integer, got {max_steps!r}")


def fixed_point_loss(network: Network, params: Params, x, target, **relax_kwargs) -> float:
    """Batch-mean loss :math:`L(\\theta) = \\langle C(s^*_0(\\theta))\\rangle` at the free fixed point.

    The function the implicit gradient differentiates; ``relax_kwargs`` go to :func:`relax`.
    """
    le, A, x, t = _prepare(network, params, x, target)
    free = relax(network, params, x, **relax_kwargs)
    s = [free.state[n] for n in le.names]
    return loss_value(network, _output(A, s), t)


# --------------------------------------------------------------------------- implicit gradient
@dataclass
class ImplicitGradient:
    """Result of :func:`implicit_gradient`.

    Attributes
    ----------
    grads : dict of str to ndarray
        :math:`dL/d\\theta` at the free fixed point (batch mean), keyed like ``params``.
    deltas : dict of str to ndarray (batch, n_l)
        Per-sample :math:`\\delta_l = \\partial L_n/\\partial a_l` of each energy layer.
    loss : float
        Batch-mean loss at the fixed point.
    free : Relaxation
        The free phase the gradient was taken at.
    """

    grads: dict
    deltas: dict
    loss: float
    free: Relaxation

    def descent(self) -> dict:
        """:math:`-dL/d\\theta`: what a perfect rule proposes (DESIGN.md sign convention)."""
        return {k: -g for k, g in self.grads.items()}


def _symmetric_coupling(A: _Arrays) -> np.ndarray:
    """The dense symmetric matrix :math:`W` with :math:`a = W s + \\dots`, shape (n, n), n = sum of sizes."""
    sizes = [w.shape[0] for w in A.W]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n = int(offsets[-1])
    M = np.zeros((n, n), dtype=A.dtype)
    for l in range(1, len(sizes)):
        lo, hi = slice(offsets[l], offsets[l + 1]), slice(offsets[l - 1], offsets[l])
        M[lo, hi] = A.W[l]
        M[hi, lo] = A.W[l].T
    return M


def _linearisation(A: _Arrays, x, s: list) -> tuple[np.ndarray, np.ndarray]:
    """``(D, W)`` at the state ``s``: the slopes :math:`\rho'(a(s))`, shape (batch, n), and the
    symmetric coupling :math:`W`, shape (n, n); the fixed-point map's Jacobian is :math:`DW`."""
    a = _drives(A, x, s)
    D = np.concatenate([A.rho[l].derivative(a[l]) for l in range(len(s))], axis=1)
    return D, _symmetric_coupling(A)


def _top_eigenvalues(D: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per sample, the largest eigenvalue of :math:`DW` (computed on the similar symmetric
    :math:`D^{1/2} W D^{1/2}`), shape (batch,); a fixed point is a stable minimum only below 1."""
    root = np.sqrt(D)
    return np.linalg.eigvalsh(root[:, :, None] * W[None] * root[:, None, :])[:, -1]


def _energy_param_grads(le: LayeredEnergy, A: _Arrays, x, s, e) -> dict:
    """Batch mean of :math:`(\\partial a/\\partial\\theta)^\\top e`: the chain rule through the drives.

    :math:`a_l` holds :math:`W_l` twice (bottom-up in :math:`a_l`, top-down in :math:`a_{l-1}`),
    so :math:`\\partial/\\partial W_l = e_l s_{l-1}^\\top + s_l e_{l-1}^\\top` and
    :math:`\\partial/\\partial b_l = e_l`.
    """
    batch = x.shape[0]
    grads = {}
    for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
        below = x if l == 0 else s[l - 1]
        g = e[l].T @ below
        if l > 0:
            g = g + s[l].T @ e[l - 1]
        grads[proj.name] = g / batch
        if A.b[l] is not None:
            grads[bias_key(layer.name)] = e[l].sum(axis=0) / batch
    return grads


def implicit_gradient(network: Network, params: Params, x, target, *, state: dict | None = None,
                      method: str = "auto", step_size: float = 1.0, tolerance: float = 1e-10,
                      max_steps: int = 10000, schedule: str = "alternating") -> ImplicitGradient:
    """Exact :math:`dL/d\\theta` of the loss at the free fixed point (recurrent backprop).

    Differentiating :math:`s^* = \\rho(a(s^*, \\theta))` with :math:`D = \\mathrm{diag}\\,\\rho'(a(s^*))`
    and the symmetric coupling matrix :math:`W` (so :math:`\\partial a/\\partial s = W`) gives,
    per sample, the errors :math:`\\delta = \\partial L/\\partial a` as the solution of

    .. math::  (I - D W)\\, \\delta = D\\, \\frac{\\partial C}{\\partial s}
               \\quad\\Leftrightarrow\\quad \\delta = D\\Big(\\frac{\\partial C}{\\partial s} + W\\delta\\Big),

    the Jacobian of the fixed-point map taking the place of the Hessian of the energy
    (for the hard sigmoid, :math:`I - W` restricted to the unsaturated units *is* that
    Hessian).  Then :math:`dL/dW_l = \\langle\\delta_l s_{l-1}^\\top + s_l \\delta_{l-1}^\\top\\rangle`,
    :math:`dL/db_l = \\langle\\delta_l\\rangle`, and the read-out of the cross-entropy
    formulation gets its direct gradient (Almeida 1987; Pineda 1987; Scellier & Bengio 2017, Sec. 3).

    Parameters
    ----------
    network, params, x, target
        As in :func:`relax`.  Computed in float64.
    state : dict, optional
        Initial state of the free relaxation.
    method : {"auto", "direct", "iterative"}
        ``direct`` solves the batched (batch, n, n) linear systems; ``iterative`` runs the
        damped fixed-point iteration of :math:`\\delta` (recurrent backprop, same
        ``step_size``); ``auto`` picks ``direct`` when ``batch * n**2 <= 4e7``.
    step_size, tolerance, max_steps, schedule
        Of the free relaxation (:func:`relax`; step size and cap also of the iterative
        solve); the tolerance is tight by default because the oracle must sit at the
        fixed point.

    Returns
    -------
    ImplicitGradient

    Raises
    ------
    ConvergenceError
        If the free phase does not converge, the fixed point is unstable (singular or
        indefinite :math:`I - DW`) or the iterative solve does not converge.
    """
    if method not in ("auto", "direct", "iterative"):
        raise ConfigError(f"implicit_gradient method: expected 'auto', 'direct' or 'iterative', got {method!r}")
    le, A, x, t = _prepare(network, params, x, target, np.float64)
    free = relax(network, params, x, state=state, step_size=step_size, tolerance=tolerance,
                 max_steps=max_steps, schedule=schedule, dtype=np.float64, phase="free, implicit-gradient oracle")
    s = [free.state[n] for n in le.names]
    batch = x.shape[0]
    sizes = le.sizes
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    D, W = _linearisation(A, x, s)   # D: (batch, n)
    g = np.zeros_like(D)
    g[:, offsets[-2]:] = _cost_grad_top(A, s, t)
    n = W.shape[0]
    if method == "auto":
        method = "direct" if batch * n * n <= 4e7 else "iterative"
    if method == "direct":
        M = np.eye(n)[None] - D[:, :, None] * W[None]
        try:
            delta = np.linalg.solve(M, (D * g)[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            raise ConvergenceError("implicit gradient: I - D W is singular at the free fixed point (the fixed "
                                   "point is not an isolated minimum); shrink the weights") from None
    else:
        delta = np.zeros_like(g)
        for _ in range(max_steps):
            new = D * (g + delta @ W)
            change = float(np.max(np.abs(new - delta)))
            delta = delta + step_size * (new - delta)
            if change <= tolerance * max(1.0, float(np.max(np.abs(delta)))):
                break
        else:
            raise ConvergenceError(f"implicit gradient (iterative): no convergence in {max_steps} steps "
                                   f"(last change {change:.3g}); use method='direct' or raise max_steps")
    if method == "direct":
        # A saddle of F also solves the linear system, but the dynamics never settle there: the
        # fixed point is a stable minimum only if every eigenvalue of D W (similar to the
        # symmetric D^1/2 W D^1/2) is below 1.
        top_eig = float(np.max(_top_eigenvalues(D, W)))
        if top_eig >= 1.0:
            raise ConvergenceError(f"implicit gradient: the free fixed point is not a stable minimum (largest "
                                   f"eigenvalue of D W is {top_eig:.3g} >= 1); shrink the weights")
    e = [delta[:, offsets[l]:offsets[l + 1]] for l in range(len(s))]
    grads = _energy_param_grads(le, A, x, s, e)
    grads.update(_readout_grads(le, A, s[-1], t))
    loss = loss_value(network, _output(A, s), t)
    return ImplicitGradient(grads=grads, deltas=_as_dict(le, e), loss=loss, free=free)


# --------------------------------------------------------------------------- BPTT
@dataclass
class BPTTResult:
    """Result of :func:`bptt`.

    Attributes
    ----------
    grads : dict of str to ndarray
        :math:`dL/d\\theta` of the T-step loss (batch mean), summed over time steps.
    step_grads : list of dict
        ``step_grads[k - 1]`` is the gradient with respect to the copy of the energy
        parameters used in the k-th *last* transition :math:`s_{T-k} \\to s_{T-k+1}`
        (Ernoult et al. 2019's :math:`\\nabla^{BPTT}_\\theta(k)`), k = 1..T.
    step_deltas : list of dict
        ``step_deltas[k - 1][layer]``: per-sample :math:`\\partial L/\\partial a_{T-k}`, shape
        (batch, n_l), the error on the drive of that transition.
    loss : float
        Batch-mean loss at :math:`s_T`.
    trajectory : list of dict
        States :math:`s_0 \\dots s_T`.
    """

    grads: dict
    step_grads: list
    step_deltas: list
    loss: float
    trajectory: list

    def descent(self) -> dict:
        return {k: -g for k, g in self.grads.items()}


def unroll(network: Network, params: Params, x, n_steps: int, *, target=None, beta: float = 0.0,
           state: dict | None = None, step_size: float = 1.0, dtype=None) -> list:
    """The discrete-time trajectory :math:`s_0 \\dots s_T` of exactly ``n_steps`` updates.

    .. math::  s_{t+1} = (1-\\epsilon)\\, s_t
               + \\epsilon\\, \\rho\\big(a(s_t) - \\beta\\,\\partial C/\\partial s(s_t)\\big)

    Returns
    -------
    list of dict
        ``n_steps + 1`` states (dicts of layer name to (batch, n_l) arrays), ``s_0`` first.
    """
    if beta != 0.0 and target is None:
        raise ConfigError("unroll: a nudged trajectory (beta != 0) needs the target")
    _check_relax_args(step_size, 0.0, max(int(n_steps), 1))
    le, A, x, t = _prepare(network, params, x, target, dtype)
    s = _state_list(le, state, x.shape[0], A.dtype)
    traj = [_as_dict(le, s)]
    for _ in range(int(n_steps)):
        new = _map(A, x, s, float(beta), t)
        s = [c + step_size * (nw - c) for nw, c in zip(new, s)]
        traj.append(_as_dict(le, s))
    return traj


def loss_after_steps(network: Network, params: Params, x, target, n_steps: int, *, state: dict | None = None,
                     step_size: float = 1.0) -> float:
    """Batch-mean loss at :math:`s_T` of the free discrete-time dynamics (what :func:`bptt` differentiates)."""
    le, A, x, t = _prepare(network, params, x, target)
    last = unroll(network, params, x, n_steps, state=state, step_size=step_size)[-1]
    return loss_value(network, _output(A, [last[n] for n in le.names]), t)


def bptt(network: Network, params: Params, x, target, n_steps: int, *, state: dict | None = None,
         step_size: float = 1.0) -> BPTTResult:
    """Backpropagation through time through ``n_steps`` of the free discrete-time dynamics.

    With :math:`u_t = a(s_t)`, :math:`s_{t+1} = (1-\\epsilon)s_t + \\epsilon\\rho(u_t)`, :math:`L = C(s_T)`
    and :math:`\\lambda_t = \\partial L/\\partial s_t`:

    .. math::  \\lambda_T = \\frac{\\partial C}{\\partial s_T}, \\qquad
               e_t = \\frac{\\partial L}{\\partial u_t} = \\epsilon\\, \\rho'(u_t) \\odot \\lambda_{t+1}, \\qquad
               \\lambda_t = (1-\\epsilon)\\lambda_{t+1} + W e_t,

    and the transition :math:`t` contributes :math:`(\\partial a/\\partial\\theta)^\\top e_t` to
    the gradient (Ernoult et al. 2019, Sec. 3).  Computed in float64.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ConfigError(f"bptt n_steps: expected a positive integer, got {n_steps!r}")
    le, A, x, t = _prepare(network, params, x, target, np.float64)
    traj = unroll(network, params, x, n_steps, state=state, step_size=step_size, dtype=np.float64)
    states = [[st[n] for n in le.names] for st in traj]
    top = states[-1][-1]
    lam = [np.zeros_like(v) for v in states[-1]]
    lam[-1] = _cost_grad_top(A, states[-1], t)
    grads: dict = {}
    step_grads, step_deltas = [], []
    for k in range(1, n_steps + 1):
        s = states[n_steps - k]
        u = _drives(A, x, s)
        e = [step_size * A.rho[l].derivative(u[l]) * lam[l] for l in range(len(s))]
        g = _energy_param_grads(le, A, x, s, e)
        step_grads.append(g)
        step_deltas.append(_as_dict(le, e))
        for key, v in g.items():
            grads[key] = grads[key] + v if key in grads else v
        # lambda_t = (1 - eps) lambda_{t+1} + W e_t, with W e_t computed layer by layer
        back = []
        for l in range(len(s)):
            acc = (1.0 - step_size) * lam[l]
            if l + 1 < len(s):
                acc = acc + e[l + 1] @ A.W[l + 1]
            if l > 0:
                acc = acc + e[l - 1] @ A.W[l].T
            back.append(acc)
        lam = back
    grads.update(_readout_grads(le, A, top, t))
    loss = loss_value(network, _output(A, states[-1]), t)
    return BPTTResult(grads=grads, step_grads=step_grads, step_deltas=step_deltas, loss=loss, trajectory=traj)

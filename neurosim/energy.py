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

Convolutional nets (Laborieux et al. 2021): a coupling may be a convolution or a locally
connected map with pooling and flatten folded in, :math:`s_l^\\top W_l s_{l-1}` becoming
:math:`s_l \\cdot f_l(s_{l-1})` (:class:`ConvEnergyKernel`, which :meth:`EnergyKernel.gather`
returns for such nets; the dense kernel below is unchanged).

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

The kernel
----------
:class:`EnergyKernel` holds the numbers of one net in one dtype (gathered once per batch)
and every piece of the maths above as a method: the drives, the fixed-point map, the cost
gradient, the read-out, the linearisation and :meth:`EnergyKernel.relax`, the relaxation
loop (one update of preallocated buffers per step, its convergence judged by the shared
:class:`neurosim.relaxation.Monitor`).  The EP rule, the oracles below, the experiments and
the benchmarks all use it; the module-level functions (:func:`relax`,
:func:`implicit_gradient`, :func:`bptt`...) validate their arguments and call it.

References
----------
Scellier & Bengio (2017), Front. Comput. Neurosci. 11:24.  Ernoult et al. (2019), NeurIPS 32.
Laborieux et al. (2021), Front. Neurosci. 15:633674.  Hopfield (1984), PNAS 81:3088.
Almeida (1987), IEEE ICNN; Pineda (1987), Phys. Rev. Lett. 59:2229.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import conv as _ops
from .arrays import as_dtype, astype, concat, copy, namespace, to_numpy, to_numpy_tree, zeros
from .errors import ConfigError, ConvergenceError, ShapeError
from .network import Layer, Network, Projection
from .neurons import Activation, get_activation
from .params import Params, bias_key, check_params
from .reference import check_batch, loss_value, softmax
from .relaxation import ON_UNCONVERGED, Convergence, Monitor
from .validation import check

__all__ = ["COUPLING_OPERATIONS", "SCHEDULES", "TIE_SUFFIX", "BPTTResult", "ConvEnergyKernel", "EnergyKernel",
           "ImplicitGradient", "LayeredEnergy",
           "Relaxation", "bptt", "cost", "energy", "fixed_point_loss", "implicit_gradient", "kernel_for_batch",
           "layered_energy", "loss_after_steps", "missing_ties", "relax", "tie_name", "top_eigenvalues",
           "total_energy", "unroll"]

#: Suffix of the tied feedback projections that the EP rule's :meth:`network` adds.
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
    paths : tuple of tuple of Projection
        ``paths[l]``: the chain projections from energy layer :math:`l-1` (the input for
        :math:`l = 0`) to energy layer :math:`l`: the coupling :math:`W_l` alone on a dense net,
        with the pooling and flatten operations folded into it on a convolutional one
        (:func:`layered_energy`).
    """

    network: Network
    layers: tuple[Layer, ...]
    couplings: tuple[Projection, ...]
    readout: Projection | None
    paths: tuple[tuple[Projection, ...], ...] = ()

    @property
    def dense(self) -> bool:
        """Whether every coupling is one dense projection (the optimised :class:`EnergyKernel` runs it)."""
        return all(len(path) == 1 and path[0].operation == "dense" for path in self.paths)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(layer.size for layer in self.layers)


def tie_name(proj: Projection) -> str:
    """Canonical name of the feedback projection tied to ``proj`` (``"output->hidden1:ep"``)."""
    return f"{proj.post}->{proj.pre}:{TIE_SUFFIX}"


#: Operations a coupling of the energy may hold (the adjoints serve only as the ties).
COUPLING_OPERATIONS = ("dense", "conv2d", "locally_connected2d", "max_pool2d", "avg_pool2d", "flatten")


def _folded(layer: Layer) -> bool:
    """Whether a layer can sit inside a coupling: linear and without bias, so that it only
    passes a pooled, flattened or convolved drive on."""
    return get_activation(layer.activation).name == "linear" and not layer.bias


def _segments(network: Network):
    """``(layers, paths, readout)`` of the layered energy on ``network`` (see :func:`layered_energy`)."""
    chain = network.chain()
    name = network.name
    body, readout = (chain[:-1], chain[-1]) if network.loss == "cross_entropy" else (chain, None)
    if all(p.operation == "dense" for p in chain):
        return tuple(network.layer(p.post) for p in body), tuple((p,) for p in body), readout
    for p in chain:
        if p.operation not in COUPLING_OPERATIONS:
            raise ConfigError(f"Network '{name}': feedforward projection '{p.name}' is {p.operation}, which "
                              f"equilibrium propagation cannot couple; use one of {', '.join(COUPLING_OPERATIONS)}")
    if readout is not None and readout.operation != "dense":
        raise ConfigError(f"Network '{name}': the cross-entropy read-out '{readout.name}' is {readout.operation}; "
                          "equilibrium propagation reads out with one dense projection from the top energy layer "
                          "(end the chain with a dense projection to the output)")
    # a linear bias-free layer beside a pooling or flatten only passes a drive on: folded into the coupling
    free_ops = [p for p in chain if not _ops.has_params(p)]
    beside = {p.pre for p in free_ops} | {p.post for p in free_ops}
    layers, paths, start = [], [], 0
    for i, p in enumerate(body):
        post = network.layer(p.post)
        if i + 1 < len(body) and _folded(post) and post.name in beside:
            continue
        path = tuple(body[start:i + 1])
        weighted = [q for q in path if _ops.has_params(q)]
        if len(weighted) > 1:
            inner = network.layer(weighted[0].post)
            raise ConfigError(f"Network '{name}': layer '{inner.name}' is folded into a coupling of the energy "
                              f"(linear, no bias, beside a pooling or flatten), but the coupling "
                              f"{path[0].pre}->{post.name} then holds two weighted projections "
                              f"('{weighted[0].name}', '{weighted[1].name}'); give '{inner.name}' an activation "
                              "or a bias to make it an energy layer")
        layers.append(post)
        paths.append(path)
        start = i + 1
    return tuple(layers), tuple(paths), readout


def _coupling(path: tuple[Projection, ...]) -> Projection | None:
    """The projection with weights of a coupling's path (None: a fixed coupling, e.g. a pooling alone)."""
    return next((p for p in path if _ops.has_params(p)), None)


def missing_ties(network: Network) -> list[Projection]:
    """The tied feedback projections a layered energy on ``network`` still lacks.

    One ``post -> pre`` projection, ``kind = "feedback"``, ``tied_to`` each coupling
    between two energy layers (couplings from the clamped input need none); for a
    convolution or a locally connected projection it is the adjoint operation with the same
    geometry (a description of the symmetric weights: the energy computes with the coupling).
    """
    _, paths, _ = _segments(network)
    tied = {p.tied_to for p in network.select("feedback") if p.tied_to is not None}
    out = []
    for p in (_coupling(path) for path in paths[1:]):
        if p is None or p.name in tied:
            continue
        geometry = {} if p.operation == "dense" else dict(
            operation=_ops.OPERATIONS[p.operation].transpose, kernel=p.kernel, stride=p.stride, padding=p.padding)
        out.append(Projection(p.post, p.pre, name=tie_name(p), kind="feedback", tied_to=p.name, **geometry))
    return out


@functools.lru_cache(maxsize=64)
def layered_energy(network: Network) -> LayeredEnergy:
    """Validate ``network`` as a symmetric layered energy-based net and describe it.

    Raises
    ------
    ConfigError
        If the feedforward projections are not a chain, a coupling between two energy
        layers has no tied feedback projection (call the EP rule's ``network``), a
        feedback projection is not tied (asymmetric weights have no energy), there are
        lateral projections, or a ``cross_entropy`` net has no hidden layer; on convolutional
        nets also when a coupling would hold two weighted projections or the read-out is not
        dense.  (A linear bias-free layer beside a pooling or flatten is folded into its
        coupling; every other chain layer is an energy layer: :class:`ConvEnergyKernel`.)
    """
    chain = network.chain()
    name = network.name
    if network.loss == "cross_entropy" and len(chain) < 2:
        raise ConfigError(f"Network '{name}': equilibrium propagation with the cross_entropy loss puts a "
                          "softmax read-out on top of the last hidden layer, so it needs at least one "
                          "hidden layer; got none (add one, or use loss = \"mse\")")
    layers, paths, readout = _segments(network)
    couplings = tuple(_coupling(path) for path in paths)
    if network.select("lateral"):
        raise ConfigError(f"Network '{name}': lateral projection '{network.select('lateral')[0].name}' is not part "
                          "of the layered energy used by equilibrium propagation; remove it")
    coupling_names = {p.name for p in couplings if p is not None}
    for p in network.select("feedback"):
        if p.tied_to is None:
            raise ConfigError(f"Network '{name}': feedback projection '{p.name}' is not tied_to a feedforward "
                              "projection; equilibrium propagation needs symmetric weights (set tied_to, or "
                              "remove it and let the rule's network() add the tie)")
        if p.tied_to not in coupling_names:
            raise ConfigError(f"Network '{name}': feedback projection '{p.name}' is tied to '{p.tied_to}', which "
                              "is not a coupling of the energy (with cross_entropy the read-out has no "
                              "feedback); remove it")
    lacking = missing_ties(network)
    if lacking:
        p = network.projection(lacking[0].tied_to)
        raise ConfigError(f"Network '{name}': equilibrium propagation needs symmetric weights, but feedforward "
                          f"projection '{p.name}' has no feedback projection {p.post}->{p.pre} tied_to it; call "
                          f"get_rule('ep').network(network), which adds '{tie_name(p)}'")
    return LayeredEnergy(network=network, layers=layers, couplings=couplings, readout=readout, paths=paths)




#: Layer update orders of a relaxation (module docstring).
SCHEDULES = ("alternating", "synchronous")


# --------------------------------------------------------------------------- the kernel
try:  # the clip ufunc itself: np.clip adds ~4 us of Python per call, once per layer and step
    from numpy._core.umath import clip as _CLIP
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core.umath import clip as _CLIP


def _is(act: Activation | None, name: str) -> bool:
    return act is not None and act.name == name


@dataclass
class EnergyKernel:
    """The numbers of one layered energy-based net in one dtype, and its maths as methods.

    Build it with :meth:`gather` (or :func:`kernel_for_batch`, which also validates a
    batch).  A *state* here is a list of ``(batch, n_l)`` arrays, bottom-up over
    :attr:`LayeredEnergy.layers` (:meth:`as_dict` names them).

    Attributes
    ----------
    structure : LayeredEnergy
    W : list of ndarray
        ``W[l]`` of shape ``(n_l, n_{l-1})``; ``W[0]`` reads the input.
    b : list of ndarray or None
        ``b[l]`` of shape ``(n_l,)``.
    rho : list of Activation
        Transfer function of each energy layer.
    W_out, b_out, phi_out
        The read-out of the ``cross_entropy`` formulation (None for ``mse``).
    dtype : numpy dtype
    """

    structure: LayeredEnergy
    W: list
    b: list
    rho: list
    W_out: np.ndarray | None = None
    b_out: np.ndarray | None = None
    phi_out: Activation | None = None
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))

    #: Whether :meth:`relax` runs its preallocated-buffer numpy loop (dense couplings only).
    buffered: ClassVar[bool] = True

    @classmethod
    def gather(cls, network: Network, params: Params, dtype=np.float64) -> "EnergyKernel":
        """The kernel of ``network`` (validated by :func:`layered_energy`) with ``params`` in ``dtype``:
        an :class:`EnergyKernel` for dense couplings, a :class:`ConvEnergyKernel` otherwise.

        ``params`` are read, not checked (:func:`kernel_for_batch` checks them).
        """
        le = layered_energy(network)
        if cls is EnergyKernel and not le.dense:
            cls = ConvEnergyKernel
        dtype = as_dtype(namespace(*params.values()), dtype)
        W = [None if p is None else astype(params[p.name], dtype) for p in le.couplings]
        b = [astype(params[bias_key(layer.name)], dtype) if layer.bias else None for layer in le.layers]
        rho = [get_activation(layer.activation) for layer in le.layers]
        kernel = cls(structure=le, W=W, b=b, rho=rho, dtype=dtype)
        if le.readout is not None:
            out = network.layer(le.readout.post)
            kernel.W_out = astype(params[le.readout.name], dtype)
            kernel.b_out = astype(params[bias_key(out.name)], dtype) if out.bias else None
            kernel.phi_out = get_activation(out.activation)
        return kernel

    @property
    def loss(self) -> str:
        return self.structure.network.loss

    @property
    def n_layers(self) -> int:
        return len(self.W)

    # ------------------------------------------------------------------ states
    def zero_state(self, batch: int) -> list:
        """The zero state (the free phase's start), one ``(batch, n_l)`` array per layer."""
        return [zeros((batch, w.shape[0]), like=w) for w in self.W]

    def state_list(self, state: dict | None, batch: int) -> list:
        """A state dict as a list of fresh arrays in the kernel's dtype (zeros when None); shapes checked."""
        if state is None:
            return self.zero_state(batch)
        le = self.structure
        out = []
        for layer in le.layers:
            if layer.name not in state:
                raise ShapeError(f"state: no entry for energy layer '{layer.name}'; expected keys "
                                 f"{', '.join(le.names)}")
            s = astype(state[layer.name], self.dtype)
            if tuple(s.shape) != (batch, layer.size):
                raise ShapeError(f"state['{layer.name}']: expected shape ({batch}, {layer.size}), got "
                                 f"{tuple(s.shape)}")
            out.append(copy(s))
        return out

    def as_dict(self, s: list) -> dict:
        """A state list as ``{layer name: array}``."""
        return dict(zip(self.structure.names, s))

    # ------------------------------------------------------------------ the maths
    def input_drive(self, x: np.ndarray) -> np.ndarray:
        """The constant part of the first layer's drive, :math:`W_1 x + b_1`, shape (batch, n_1).

        The input is clamped during every phase, so this (the largest matrix product of a
        relaxation step when the input is wide: 784 x 500 for MNIST) is computed once per batch
        and shared by the free and nudged phases.
        """
        acc = x @ self.W[0].T
        if self.b[0] is not None:
            acc += self.b[0]
        return acc

    def up(self, l: int, below):
        """The bottom-up drive :math:`W_l s_{l-1}` of energy layer ``l`` from ``below`` (batch, n_{l-1})."""
        return below @ self.W[l].T

    def drives(self, x: np.ndarray, s: list, which=None, inp: np.ndarray | None = None) -> list:
        """:math:`a_l = W_l s_{l-1} + W_{l+1}^\\top s_{l+1} + b_l`, shape (batch, n_l), for the layers ``which``.

        ``inp`` is :meth:`input_drive` (computed from ``x`` when not given).
        """
        a = []
        n = len(s)
        for l in range(n) if which is None else which:
            if l == 0:
                base = self.input_drive(x) if inp is None else inp
                acc = base + s[1] @ self.W[1] if n > 1 else copy(base)
            else:
                acc = s[l - 1] @ self.W[l].T
                if l + 1 < n:
                    acc += s[l + 1] @ self.W[l + 1]
                if self.b[l] is not None:
                    acc += self.b[l]
            a.append(acc)
        return a

    def fixed_point_map(self, x, s: list, beta: float = 0.0, t=None, which=None, inp=None) -> list:
        """:math:`s \\mapsto \\rho(a(s) - \\beta\\,\\partial C/\\partial s)` for the layers ``which`` (default all).

        The allocating reference form; :meth:`relax` computes the same numbers in place.
        """
        which = range(len(s)) if which is None else which
        a = self.drives(x, s, which, inp)
        out = []
        for l, a_l in zip(which, a):
            if beta != 0.0 and l == len(s) - 1:
                a_l -= beta * self.cost_grad_top(s, t)
            out.append(self.rho[l](a_l))
        return out

    def readout(self, top: np.ndarray):
        """Read-out pre-activation and rates ``(z, r)`` (cross_entropy formulation)."""
        z = top @ self.W_out.T
        if self.b_out is not None:
            z = z + self.b_out
        return z, self.phi_out(z)

    def output(self, s: list) -> np.ndarray:
        """The rates the loss is computed on: :math:`s_L` (mse) or the read-out rates (CE)."""
        return s[-1] if self.W_out is None else self.readout(s[-1])[1]

    def cost_per_sample(self, s: list, t: np.ndarray) -> np.ndarray:
        """The cost :math:`C` of each sample, shape (batch,)."""
        xp = namespace(t)
        if self.W_out is None:
            return 0.5 * xp.sum((s[-1] - t) ** 2, axis=1)
        r = self.readout(s[-1])[1]
        zr = r - xp.max(r, axis=1, keepdims=True)
        log_p = zr - xp.log(xp.sum(xp.exp(zr), axis=1, keepdims=True))
        return -xp.sum(t * log_p, axis=1)

    def readout_delta(self, top: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-sample :math:`\\partial C/\\partial z = (\\mathrm{softmax}(r) - t) \\odot \\phi'(z)`, (batch, n_out)."""
        z, r = self.readout(top)
        return (softmax(r) - t) * self.phi_out.derivative(z)

    def cost_grad_top(self, s: list, t: np.ndarray) -> np.ndarray:
        """:math:`\\partial C/\\partial s_L` per sample (the only layer the cost touches)."""
        if self.W_out is None:
            return s[-1] - t
        return self.readout_delta(s[-1], t) @ self.W_out

    def readout_grads(self, top: np.ndarray, t: np.ndarray, delta: np.ndarray | None = None) -> dict:
        """Batch-mean :math:`\\partial C/\\partial W_{out}` and :math:`\\partial C/\\partial b_{out}`
        (cross-entropy read-out only; ``{}`` for mse).

        ``delta``: :meth:`readout_delta` at ``top`` when already known (:meth:`relax` hands it out).
        """
        if self.W_out is None:
            return {}
        le = self.structure
        if delta is None:
            delta = self.readout_delta(top, t)
        grads = {le.readout.name: delta.T @ top / top.shape[0]}
        if self.b_out is not None:
            grads[bias_key(le.readout.post)] = namespace(delta).mean(delta, axis=0)
        return grads

    def symmetric_coupling(self) -> np.ndarray:
        """The dense symmetric matrix :math:`W` with :math:`a = W s + \\dots`, shape (n, n), n = sum of sizes."""
        sizes = [w.shape[0] for w in self.W]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n = int(offsets[-1])
        M = zeros((n, n), like=self.W[0])
        for l in range(1, len(sizes)):
            lo, hi = slice(offsets[l], offsets[l + 1]), slice(offsets[l - 1], offsets[l])
            M[lo, hi] = self.W[l]
            M[hi, lo] = self.W[l].T
        return M

    def linearisation(self, x, s: list) -> tuple[np.ndarray, np.ndarray]:
        """``(D, W)`` at the state ``s``: the slopes :math:`\\rho'(a(s))`, shape (batch, n), and the
        symmetric coupling :math:`W`, shape (n, n); the fixed-point map's Jacobian is :math:`DW`."""
        return self.slopes(x, s), self.symmetric_coupling()

    def slopes(self, x, s: list):
        """:math:`D = \rho'(a(s))` of every energy unit, shape (batch, n)."""
        a = self.drives(x, s)
        return concat([self.rho[l].derivative(a[l]) for l in range(len(s))], axis=1)

    def energy_param_grads(self, x, s: list, e: list) -> dict:
        """Batch mean of :math:`(\\partial a/\\partial\\theta)^\\top e`: the chain rule through the drives.

        :math:`a_l` holds :math:`W_l` twice (bottom-up in :math:`a_l`, top-down in :math:`a_{l-1}`),
        so :math:`\\partial/\\partial W_l = e_l s_{l-1}^\\top + s_l e_{l-1}^\\top` and
        :math:`\\partial/\\partial b_l = e_l`.
        """
        le = self.structure
        batch = x.shape[0]
        grads = {}
        for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
            below = x if l == 0 else s[l - 1]
            g = e[l].T @ below
            if l > 0:
                g = g + s[l].T @ e[l - 1]
            grads[proj.name] = g / batch
            if self.b[l] is not None:
                grads[bias_key(layer.name)] = namespace(e[l]).sum(e[l], axis=0) / batch
        return grads

    # ------------------------------------------------------------------ the relaxation
    @property
    def bounded_rates(self) -> bool:
        """Whether every energy layer's rates lie in a bounded range (hard sigmoid, sigmoid, tanh),
        so that no relaxation can blow up (:class:`~neurosim.relaxation.Monitor`'s ``bounded``)."""
        return all(math.isfinite(lo) and math.isfinite(hi) for lo, hi in (r.bounds for r in self.rho))

    def relax(self, x: np.ndarray, t: np.ndarray | None, s0: list | None, *, beta: float = 0.0,
              step_size: float = 1.0, tolerance: float = 1e-6, max_steps: int = 1000,
              schedule: str = "alternating", on_unconverged: str = "raise", inp: np.ndarray | None = None,
              owner: str = "relax", phase: str | None = None, cap_name: str = "max_steps",
              readout_delta: np.ndarray | None = None) -> tuple[list, Convergence]:
        """Relax from ``s0`` (zeros when None) to a fixed point of :math:`F = E + \\beta C`.

        .. math::  s \\leftarrow (1-\\epsilon)\\, s
                   + \\epsilon\\, \\rho\\big(a(s) - \\beta\\,\\partial C/\\partial s\\big)

        No validation (:func:`relax` validates); ``s0`` is never written into, so one free
        state can start several nudged phases.  ``inp`` is the batch's :meth:`input_drive`,
        shared by the phases of one batch.  ``readout_delta``, a ``(batch, n_out)`` array, receives
        :meth:`readout_delta` at the final state of a nudged phase with a cross-entropy read-out
        (the last step computed it; :meth:`readout_grads` takes it).  ``alternating`` updates the even-indexed layers,
        then the odd-indexed ones from the fresh even ones (layers of one parity do not
        interact: exact block-coordinate descent on :math:`E` for :math:`\\epsilon = 1`);
        ``synchronous`` updates all at once (Ernoult et al. 2019).

        The convergence test is the shared :class:`~neurosim.relaxation.Monitor`, with the
        residual :math:`\\max |\\rho(a(s) - \\beta\\partial C/\\partial s) - s|` (0 at a fixed point):
        stop at ``tolerance`` or after ``max_steps`` updates; ``tolerance = 0`` runs exactly
        ``max_steps`` updates and evaluates the residual at the first and last state only.
        Divergence raises :class:`~neurosim.errors.ConvergenceError` whatever
        ``on_unconverged`` says: a non-finite state, or a residual at the cap more than twice the
        initial one (+1e-6), which a relaxation towards a stable fixed point never shows -- except
        in the fixed-step protocol (``tolerance = 0``) with bounded rates (:attr:`bounded_rates`),
        where the state after ``max_steps`` updates is the answer and cannot have blown up.

        Cost of a step: every array operation writes into buffers allocated once per call
        (state, map and scratch buffers are swapped, not copied, when ``step_size = 1``), so a
        step is the matrix products of the drives plus a few element-wise passes; the
        numbers are those of :meth:`fixed_point_map` to the last bit.

        Returns
        -------
        state : list of ndarray
            The final state (fresh arrays owned by the caller).
        convergence : Convergence
        """
        n = len(self.W)
        batch = x.shape[0]
        if inp is None:
            inp = self.input_drive(x)
        monitor = Monitor(owner, max_steps=max_steps, tolerance=tolerance, on_unconverged=on_unconverged,
                          phase=phase or ("free phase" if beta == 0.0 else f"nudged phase (beta={beta:g})"),
                          cap_name=cap_name, growth=2.0, growth_floor=1e-6, bounded=self.bounded_rates,
                          hint="lower step_size or the weights' scale")
        alternating = schedule == "alternating" and n > 1
        if namespace(x) is not np or not self.buffered:
            return self._relax_arrays(x, t, s0, beta, step_size, alternating, inp, monitor, readout_delta)
        S = self.zero_state(batch) if s0 is None else [np.array(a, dtype=self.dtype, copy=True) for a in s0]
        N = [np.empty_like(a) for a in S]       # the map at S
        T = [np.empty_like(a) for a in S]       # scratch: partial drives, residuals, the cost gradient
        top = n - 1
        nudged = beta != 0.0
        ce = nudged and self.W_out is not None
        if ce:
            W_out, W_out_T, b_out, phi_out = self.W_out, self.W_out.T, self.b_out, self.phi_out
            z = np.empty((batch, W_out.shape[0]), dtype=self.dtype)
            p = np.empty_like(z)
            linear_out = _is(phi_out, "linear")
        W, b, rho = self.W, self.b, self.rho
        # one plan per layer: (index, W_l^T, W_{l+1}, b_l (l > 0), hard sigmoid?, nudged?)
        plans = [(l, W[l].T, W[l + 1] if l + 1 < n else None, b[l] if l > 0 else None, _is(rho[l], "hard_sigmoid"),
                  nudged and l == top) for l in range(n)]
        matmul, add, subtract, multiply = np.matmul, np.add, np.subtract, np.multiply
        absolute, exp, divide, clip = np.absolute, np.exp, np.divide, _CLIP
        max_reduce, sum_reduce = np.maximum.reduce, np.add.reduce

        def cost_gradient(g) -> None:
            """g <- dC/ds_L at S (same operations as :meth:`cost_grad_top`)."""
            if ce:  # ((softmax(phi(z)) - t) * phi'(z)) W_out, z = W_out s_L + b_out
                matmul(S[top], W_out_T, out=z)
                if b_out is not None:
                    add(z, b_out, out=z)
                r = z if linear_out else phi_out(z)
                subtract(r, max_reduce(r, axis=-1, keepdims=True), out=p)
                exp(p, out=p)
                divide(p, sum_reduce(p, axis=-1, keepdims=True), out=p)
                subtract(p, t, out=p)
                if not linear_out:  # the linear read-out's derivative is 1: no pass needed
                    multiply(p, phi_out.derivative(z), out=p)
                matmul(p, W_out, out=g)
            else:
                subtract(S[top], t, out=g)

        def fmap(group) -> None:
            """N[l] <- rho(a_l(S) - beta dC/ds_l) for the layers of ``group`` (as fixed_point_map)."""
            for l, w_below_t, w_above, bias, hard, nudge in group:
                out = N[l]
                if l == 0 and w_above is None:  # one energy layer: a = W_1 x + b_1 (- beta dC/ds)
                    if nudge:
                        g = T[0]
                        cost_gradient(g)
                        multiply(g, beta, out=g)
                        subtract(inp, g, out=out)
                    elif hard:  # the free map is constant: rho(W_1 x + b_1)
                        clip(inp, 0.0, 1.0, out=out)
                        continue
                    else:
                        np.copyto(out, inp)
                else:
                    if l == 0:
                        matmul(S[1], w_above, out=out)
                        add(out, inp, out=out)
                    else:
                        matmul(S[l - 1], w_below_t, out=out)
                        if w_above is not None:
                            matmul(S[l + 1], w_above, out=T[l])
                            add(out, T[l], out=out)
                        if bias is not None:
                            add(out, bias, out=out)
                    if nudge:
                        g = T[l]
                        cost_gradient(g)
                        multiply(g, beta, out=g)
                        subtract(out, g, out=out)
                if hard:
                    clip(out, 0.0, 1.0, out=out)
                else:
                    N[l] = rho[l](out)

        def blend(group) -> None:
            for plan in group:
                l = plan[0]
                if step_size == 1.0:
                    S[l], N[l] = N[l], S[l]
                else:  # S + step_size (N - S), in place
                    subtract(N[l], S[l], out=N[l])
                    multiply(N[l], step_size, out=N[l])
                    add(S[l], N[l], out=S[l])

        def residual() -> float:
            """max |N - S| over layers, batch and units."""
            worst = 0.0
            for l in range(n):
                d = T[l]
                subtract(N[l], S[l], out=d)
                absolute(d, out=d)
                m = float(max_reduce(d, axis=None))
                if not m <= worst:  # NaN propagates (the monitor reports it)
                    worst = m
            return worst

        even, odd = plans[0::2], plans[1::2]
        fmap(plans)
        while not monitor.stop(residual() if monitor.needs_residual else None):
            if alternating:
                blend(even)
                fmap(odd)
                blend(odd)
            else:
                blend(plans)
            fmap(plans)
        conv = monitor.finish()
        if readout_delta is not None and ce:
            np.copyto(readout_delta, p)  # the last fmap ran at the final state
        return S, conv

    def _relax_arrays(self, x, t, s0, beta, step_size, alternating, inp, monitor, readout_delta):
        """:meth:`relax` on any array namespace: the same algorithm from the allocating
        :meth:`fixed_point_map`, update for update (bit for bit on numpy; tests/test_energy_arrays.py).

        Why two loops: numpy's ufuncs write into preallocated buffers (``out=``), which the
        array API standard has no word for; :meth:`relax` keeps that loop for numpy, where
        allocating a fresh array per operation costs ~30% of a step at EP's sizes
        (``benchmarks/bench_arrays.py``), and runs this one for every other library (PyTorch's
        caching allocator makes the fresh arrays cheap there).  The residual is one reduction
        per step, read on the host by the monitor (one synchronisation per step on a GPU; none
        between the first and the last step when ``tolerance = 0``).
        """
        xp = namespace(x)
        n = len(self.W)
        S = self.zero_state(x.shape[0]) if s0 is None else [copy(astype(a, self.dtype)) for a in s0]
        which_odd = range(1, n, 2)
        even = range(0, n, 2)

        def fmap(which=None):
            return self.fixed_point_map(x, S, beta, t, which=which, inp=inp)

        def blend(l, new):
            S[l] = new if step_size == 1.0 else S[l] + step_size * (new - S[l])

        def residual() -> float:
            return float(xp.max(xp.stack([xp.max(xp.abs(N[l] - S[l])) for l in range(n)])))

        N = fmap()
        while not monitor.stop(residual() if monitor.needs_residual else None):
            if alternating:
                for l in even:
                    blend(l, N[l])
                for l, new in zip(which_odd, fmap(which_odd)):
                    blend(l, new)
            else:
                for l in range(n):
                    blend(l, N[l])
            N = fmap()
        conv = monitor.finish()
        if readout_delta is not None and beta != 0.0 and self.W_out is not None:
            readout_delta[...] = self.readout_delta(S[-1], t)  # at the final state, as relax hands it out
        return S, conv


@dataclass
class ConvEnergyKernel(EnergyKernel):
    """:class:`EnergyKernel` of a convolutional Hopfield net: couplings with pooling (Laborieux et al. 2021).

    A coupling is the path of chain projections from energy layer :math:`l-1` to energy
    layer :math:`l` (:attr:`LayeredEnergy.paths`): one projection with weights
    (``dense``, ``conv2d``, ``locally_connected2d``) and any ``max_pool2d``, ``avg_pool2d`` and
    ``flatten`` before or after it, through linear bias-free layers.  With :math:`f_l` that
    composite map the energy's primitive function is

    .. math::  \\Phi(s) = \\sum_l s_l \\cdot f_l(s_{l-1}) + \\sum_l b_l \\cdot s_l,
               \\qquad \\text{e.g. } f_{n+1}(s_n) = P(W_{n+1} * s_n),

    and the fixed point :math:`s_l = \\rho_l(\\partial\\Phi/\\partial s_l)` reads

    .. math::  s_l = \\rho_l\\big(f_l(s_{l-1}) + J_{f_{l+1}}(s_l)^\\top s_{l+1} + b_l\\big),

    Laborieux et al. (2021)'s :math:`s_{n+1} = \\sigma(P(W_{n+1} * s_n) + \\tilde W_{n+2}^\\top
    \\tilde * P^{-1}(s_{n+2}))`: the top-down term is the exact gradient of :math:`\\Phi`, so it
    runs through the operations' backward maps (:func:`neurosim.conv.backward`), max pooling
    routing to the argmax of the window at the current state (their :math:`P^{-1}`, the
    unpooling with the forward's indices).  :math:`\\Phi` is bilinear in :math:`(s_{l-1}, s_l)`
    wherever no pooling window changes its argmax, so the Hessian of :math:`\\Phi` in the states
    (the fixed-point map's Jacobian before :math:`\\rho'`) is :meth:`coupling_product`, built
    from :func:`neurosim.conv.tangent` and :func:`neurosim.conv.backward`, and the parameter
    gradients are :func:`neurosim.conv.weight_gradient`.

    The relaxation runs the allocating loop through the array namespace (``buffered = False``);
    the dense :class:`EnergyKernel` keeps its in-place numpy loop.
    """

    buffered: ClassVar[bool] = False

    # ------------------------------------------------------------------ the paths
    def _steps(self, l: int) -> list:
        """``[(projection, weight or None), ...]`` along the coupling into energy layer ``l``."""
        return [(p, self.W[l] if _ops.has_params(p) else None) for p in self.structure.paths[l]]

    def _inputs(self, l: int, below, count: int) -> list:
        """The inputs of the first ``count`` operations of coupling ``l`` when it reads ``below``."""
        network = self.structure.network
        xs = [below]
        for p, w in self._steps(l)[:count - 1]:
            xs.append(_ops.drive(network, p, w, xs[-1]))
        return xs

    def _back(self, l: int, xs: list, d, stop: int = 0):
        """``d`` carried back from energy layer ``l`` through the operations ``stop..`` of coupling ``l``
        (vector-Jacobian products at the inputs ``xs``)."""
        network = self.structure.network
        steps = self._steps(l)
        for i in range(len(steps) - 1, stop - 1, -1):
            p, w = steps[i]
            d = _ops.backward(network, p, w, d, xs[i] if i < len(xs) else None)
        return d

    def _pooled_inputs(self, l: int, below) -> list:
        """The inputs :meth:`_back` needs: up to the last max pooling (its argmax)."""
        ops = [p.operation for p in self.structure.paths[l]]
        last = max((i for i, o in enumerate(ops) if o == "max_pool2d"), default=-1)
        return self._inputs(l, below, last + 1) if last >= 0 else []

    def _keyed(self, l: int) -> int:
        """Index of the projection with weights in the path of coupling ``l``."""
        return next(i for i, p in enumerate(self.structure.paths[l]) if _ops.has_params(p))

    def up(self, l: int, below):
        """:math:`f_l(s_{l-1})`: ``below`` through the path of coupling ``l``."""
        network = self.structure.network
        for p, w in self._steps(l):
            below = _ops.drive(network, p, w, below)
        return below

    def down(self, l: int, below, above):
        """:math:`J_{f_l}(s_{l-1})^\\top s_l = \\partial (s_l\\cdot f_l(s_{l-1}))/\\partial s_{l-1}`: the
        top-down drive energy layer ``l`` (rates ``above``) gives layer ``l - 1`` (rates ``below``)."""
        return self._back(l, self._pooled_inputs(l, below), above)

    def tangent(self, l: int, below, v):
        """:math:`J_{f_l}(s_{l-1})\\, v`: the coupling's linearisation at ``below`` applied to ``v``."""
        network = self.structure.network
        steps = self._steps(l)
        for i, (p, w) in enumerate(steps):
            v = _ops.tangent(network, p, w, v, below)
            if i + 1 < len(steps):
                below = _ops.drive(network, p, w, below)
        return v

    # ------------------------------------------------------------------ the maths
    def zero_state(self, batch: int) -> list:
        like = next(w for w in self.W if w is not None)
        return [zeros((batch, layer.size), like=like) for layer in self.structure.layers]

    def input_drive(self, x):
        """:math:`f_1(x) + b_1`, computed once per batch (the input is clamped)."""
        acc = self.up(0, x)
        return acc + self.b[0] if self.b[0] is not None else acc

    def drives(self, x, s: list, which=None, inp=None) -> list:
        """:math:`a_l = f_l(s_{l-1}) + J_{f_{l+1}}(s_l)^\\top s_{l+1} + b_l` for the layers ``which``."""
        n = len(s)
        a = []
        for l in range(n) if which is None else which:
            if l == 0:
                acc = copy(self.input_drive(x) if inp is None else inp)
            else:
                acc = self.up(l, s[l - 1])
                if self.b[l] is not None:
                    acc = acc + self.b[l]
            if l + 1 < n:
                acc = acc + self.down(l + 1, s[l], s[l + 1])
            a.append(acc)
        return a

    def coupling_product(self, s: list, v: list) -> list:
        """:math:`(Jv)_l = J_{f_l}(s_{l-1})\\, v_{l-1} + J_{f_{l+1}}(s_l)^\\top v_{l+1}`: the Hessian of
        :math:`\\Phi` in the states at ``s`` times ``v`` (the dense net's :math:`W v`), per layer."""
        n = len(s)
        out = []
        for l in range(n):
            acc = namespace(v[l]).zeros_like(v[l])
            if l > 0:
                acc = acc + self.tangent(l, s[l - 1], v[l - 1])
            if l + 1 < n:
                acc = acc + self.down(l + 1, s[l], v[l + 1])
            out.append(acc)
        return out

    def linearisation(self, x, s: list):
        """``(D, J)``: the slopes (batch, n) and, per sample, the symmetric Hessian of :math:`\\Phi` in
        the states, shape (batch, n, n) (it depends on the state through the pooling's argmax);
        built column by column with :meth:`coupling_product` (small nets: the oracle's direct solve)."""
        xp = namespace(x)
        sizes = self.structure.sizes
        n = sum(sizes)
        eye = xp.eye(n, dtype=self.dtype)
        basis = [eye[:, lo:lo + m] for lo, m in zip(np.cumsum([0, *sizes[:-1]]), sizes)]
        J = []
        for i in range(x.shape[0]):
            si = [xp.broadcast_to(a[i:i + 1], (n, a.shape[1])) for a in s]
            J.append(concat(self.coupling_product(si, basis), axis=1))
        return self.slopes(x, s), xp.stack(J)

    def _weight_gradients(self, l: int, below, delta, probe=None):
        """:math:`\\partial (\\delta\\cdot f_l)/\\partial W_l` at ``below`` (batch sum); with ``probe``
        the input of the weighted operation is the coupling's linearisation applied to ``probe``."""
        k = self._keyed(l)
        steps = self._steps(l)
        xs = self._inputs(l, below, len(steps))
        u = xs[k]
        if probe is not None:
            network = self.structure.network
            for i in range(k):
                probe = _ops.tangent(network, steps[i][0], None, probe, xs[i])
            u = probe
        d = self._back(l, xs, delta, stop=k + 1)
        return _ops.weight_gradient(self.structure.network, steps[k][0], d, u)

    def phi_grads(self, x, s: list) -> dict:
        """Batch mean of :math:`\\partial\\Phi/\\partial\\theta` at ``s``:
        :math:`\\partial(s_l\\cdot f_l(s_{l-1}))/\\partial W_l`
        and :math:`s_l` for :math:`b_l` (the dense net's :math:`s_l s_{l-1}^\\top`)."""
        le = self.structure
        batch = x.shape[0]
        xp = namespace(x)
        grads = {}
        for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
            if proj is not None:  # (a fixed coupling, a pooling alone, has no weights)
                grads[proj.name] = self._weight_gradients(l, x if l == 0 else s[l - 1], s[l]) / batch
            if self.b[l] is not None:
                grads[bias_key(layer.name)] = xp.sum(s[l], axis=0) / batch
        return grads

    def contrastive(self, x, a: list, b: list, scale: float) -> dict:
        """:math:`\\mathrm{scale}\\,(\\partial\\Phi/\\partial\\theta(a) - \\partial\\Phi/\\partial\\theta(b))`,
        batch mean:
        EP's update between two states (the contrastive Hebbian term of a dense net)."""
        ga, gb = self.phi_grads(x, a), self.phi_grads(x, b)
        return {k: scale * (ga[k] - gb[k]) for k in ga}

    def energy_param_grads(self, x, s: list, e: list) -> dict:
        """Batch mean of :math:`(\\partial a/\\partial\\theta)^\\top e`: :math:`W_l` drives layer ``l``
        bottom-up and layer ``l - 1`` top-down, so it collects
        :math:`\\partial(e_l\\cdot f_l(s_{l-1}) + s_l\\cdot J_{f_l}(s_{l-1}) e_{l-1})/\\partial W_l`."""
        le = self.structure
        batch = x.shape[0]
        xp = namespace(x)
        grads = {}
        for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
            below = x if l == 0 else s[l - 1]
            if proj is not None:
                g = self._weight_gradients(l, below, e[l])
                if l > 0:
                    g = g + self._weight_gradients(l, below, s[l], probe=e[l - 1])
                grads[proj.name] = g / batch
            if self.b[l] is not None:
                grads[bias_key(layer.name)] = xp.sum(e[l], axis=0) / batch
        return grads


def kernel_for_batch(network: Network, params: Params, x, target=None, dtype=None):
    """Validate a batch for a layered energy net: ``(kernel, x, t)`` in one dtype.

    ``dtype`` defaults to that of ``x`` and the weights (float32 stays float32).
    """
    layered_energy(network)
    check_params(network, params)
    x, t = check_batch(network, x, target)
    if dtype is None:
        dtype = namespace(x).result_type(x.dtype, *(params[p.name].dtype for p in network.chain()
                                                    if _ops.has_params(p)))
    x = astype(x, dtype)
    t = None if t is None else astype(t, dtype)
    return EnergyKernel.gather(network, params, dtype), x, t


def top_eigenvalues(D: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per sample, the largest eigenvalue of :math:`DW` (computed on the similar symmetric
    :math:`D^{1/2} W D^{1/2}`), shape (batch,); a fixed point is a stable minimum only below 1."""
    root = np.sqrt(D)
    W = W if W.ndim == 3 else W[None]  # per sample on a conv net (the pooling's argmax)
    return np.linalg.eigvalsh(root[:, :, None] * W * root[:, None, :])[:, -1]


# --------------------------------------------------------------------------- energy and cost
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
    K, x, _ = kernel_for_batch(network, params, x)
    s = K.state_list(state, x.shape[0])
    e = np.zeros(x.shape[0], dtype=K.dtype)
    for l, layer in enumerate(K.structure.layers):
        below = x if l == 0 else s[l - 1]
        e += _G(layer.activation, s[l]).sum(axis=1)
        e -= np.sum(K.up(l, below) * s[l], axis=1)
        if K.b[l] is not None:
            e -= s[l] @ K.b[l]
    return e


def cost(network: Network, params: Params, state: dict, target) -> np.ndarray:
    """The cost :math:`C` of each sample at ``state``, shape (batch,) (module docstring)."""
    t = np.asarray(target, dtype=np.float64)
    K = EnergyKernel.gather(network, params, np.float64)
    return K.cost_per_sample(K.state_list(state, t.shape[0]), t)


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


def check_relaxation(owner: str, *, step_size, tolerance, max_steps, schedule="alternating",
                     on_unconverged="raise") -> None:
    """One-line :class:`ConfigError` unless the relaxation settings are valid (the EP rule's Hyper
    declares the same constraints)."""
    check(owner, "step_size", step_size, gt=0, le=1)
    check(owner, "tolerance", tolerance, ge=0)
    check(owner, "max_steps", max_steps, "int", ge=1)
    check(owner, "schedule", schedule, choices=SCHEDULES)
    check(owner, "on_unconverged", on_unconverged, choices=ON_UNCONVERGED)


def check_nudge_stability(owner: str, network: Network, step_size: float, beta: float) -> None:
    """The squared-error nudge feeds each output back on itself with gain :math:`-\\beta`, so the
    iteration's factor :math:`1 - \\epsilon(1 + \\beta)` must stay above -1."""
    if network.loss == "mse" and step_size * (1.0 + beta) >= 2.0:
        raise ConfigError(f"{owner}: with the squared-error cost the nudged iteration oscillates unless "
                          f"step_size * (1 + beta) < 2; got step_size={step_size:g}, beta={beta:g} (lower "
                          "step_size, e.g. 0.5 as in Scellier & Bengio 2017, or beta)")


def relax(network: Network, params: Params, x, target=None, *, beta: float = 0.0, state: dict | None = None,
          step_size: float = 1.0, tolerance: float = 1e-6, max_steps: int = 1000, on_unconverged: str = "raise",
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
    on_unconverged : {"raise", "warn", "record"}
        What missing ``tolerance > 0`` within ``max_steps`` does (the shared vocabulary of
        :mod:`neurosim.relaxation`; ``"record"`` is the EP rule's training default).
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
        Always when the dynamics diverge: a non-finite state, or a residual at the cap more than
        twice that of the initial state (an unstable fixed point; not with ``tolerance = 0`` and
        bounded rates, the fixed-step protocol of published EP code); with
        ``on_unconverged="raise"`` also when a ``tolerance > 0`` is missed within ``max_steps``.
    """
    if beta != 0.0 and target is None:
        raise ConfigError("relax: a nudged phase (beta != 0) needs the target")
    check_relaxation("relax", step_size=step_size, tolerance=tolerance, max_steps=max_steps, schedule=schedule,
                     on_unconverged=on_unconverged)
    check_nudge_stability("relax", network, step_size, beta)
    K, x, t = kernel_for_batch(network, params, x, target, dtype)
    s0 = K.state_list(state, x.shape[0])
    s, conv = K.relax(x, t, s0, beta=float(beta), step_size=step_size, tolerance=tolerance, max_steps=max_steps,
                      schedule=schedule, on_unconverged=on_unconverged, owner="relax", phase=phase or None)
    return Relaxation(state=K.as_dict(s), beta=float(beta), steps=conv.steps, residual=conv.residual,
                      converged=conv.converged, tolerance=float(tolerance))


def fixed_point_loss(network: Network, params: Params, x, target, **relax_kwargs) -> float:
    """Batch-mean loss :math:`L(\\theta) = \\langle C(s^*_0(\\theta))\\rangle` at the free fixed point.

    The function the implicit gradient differentiates; ``relax_kwargs`` go to :func:`relax`.
    """
    K, x, t = kernel_for_batch(network, params, x, target)
    free = relax(network, params, x, **relax_kwargs)
    return loss_value(network, K.output(K.state_list(free.state, x.shape[0])), t)


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
        As in :func:`relax`.  Computed in float64 with numpy on the host (tensors are copied
        there; the results are numpy arrays).
    state : dict, optional
        Initial state of the free relaxation.
    method : {"auto", "direct", "iterative"}
        ``direct`` solves the batched (batch, n, n) linear systems; ``iterative`` runs the
        damped fixed-point iteration of :math:`\\delta` (recurrent backprop, same
        ``step_size``; its convergence judged by the shared
        :class:`~neurosim.relaxation.Monitor`, residual
        :math:`\\max|D(g + W\\delta) - \\delta| / \\max(1, \\max|\\delta|)`); ``auto`` picks
        ``direct`` when ``batch * n**2 <= 4e7``.
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
    check("implicit_gradient", "method", method, choices=("auto", "direct", "iterative"))
    # the oracle computes on the host in float64 (batched LU and Cholesky factorisations of numpy's
    # LAPACK); tensors are copied there, and the results are numpy (the EP rule's oracle moves them back)
    params, x, target = to_numpy_tree(dict(params)), to_numpy(x), None if target is None else to_numpy(target)
    state = None if state is None else to_numpy_tree(dict(state))
    K, x, t = kernel_for_batch(network, params, x, target, np.float64)
    free = relax(network, params, x, state=state, step_size=step_size, tolerance=tolerance,
                 max_steps=max_steps, schedule=schedule, dtype=np.float64, phase="free phase of the implicit gradient")
    s = K.state_list(free.state, x.shape[0])
    batch = x.shape[0]
    sizes = K.structure.sizes
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(offsets[-1])
    if method == "auto":
        method = "direct" if batch * n * n <= 4e7 else "iterative"
    dense = K.structure.dense
    if dense or method == "direct":
        D, W = K.linearisation(x, s)   # D: (batch, n); W: (n, n), or (batch, n, n) on a conv net
    else:  # the conv net's iterative solve needs no matrix: products with the Hessian of Phi
        D, W = K.slopes(x, s), None
    g = np.zeros_like(D)
    g[:, offsets[-2]:] = K.cost_grad_top(s, t)
    if method == "direct":
        W = W if W.ndim == 3 else W[None]
        M = np.eye(n)[None] - D[:, :, None] * W
        try:
            delta = np.linalg.solve(M, (D * g)[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            raise ConvergenceError("implicit gradient: I - D W is singular at the free fixed point (the fixed "
                                   "point is not an isolated minimum); shrink the weights") from None
        # A saddle of F also solves the linear system, but the dynamics never settle there: the
        # fixed point is a stable minimum only if every eigenvalue of D W (similar to the
        # symmetric D^1/2 W D^1/2) is below 1.
        # Tested by a Cholesky factorisation of I - D^1/2 W D^1/2 (positive definite exactly then), a
        # fraction of the cost of the eigenvalues, which are computed only for the message.
        root = np.sqrt(D)
        try:
            np.linalg.cholesky(np.eye(n)[None] - root[:, :, None] * W * root[:, None, :])
        except np.linalg.LinAlgError:
            top_eig = float(np.max(top_eigenvalues(D, W)))
            if top_eig >= 1.0:  # (a factorisation that failed by rounding at an eigenvalue just below 1 passes)
                raise ConvergenceError(f"implicit gradient: the free fixed point is not a stable minimum (largest "
                                       f"eigenvalue of D W is {top_eig:.3g} >= 1); shrink the weights") from None
    else:
        if dense:
            def coupled(v):
                return v @ W
        else:
            def coupled(v):
                parts = [v[:, offsets[l]:offsets[l + 1]] for l in range(len(s))]
                return np.concatenate(K.coupling_product(s, parts), axis=1)
        delta = np.zeros_like(g)
        new = D * g
        monitor = Monitor("implicit gradient", max_steps=max_steps, tolerance=tolerance, on_unconverged="raise",
                          phase="iterative solve", hint="use method='direct'")
        while not monitor.stop(float(np.max(np.abs(new - delta))) / max(1.0, float(np.max(np.abs(delta))))):
            delta = delta + step_size * (new - delta)
            new = D * (g + coupled(delta))
        monitor.finish()
    e = [delta[:, offsets[l]:offsets[l + 1]] for l in range(len(s))]
    grads = K.energy_param_grads(x, s, e)
    grads.update(K.readout_grads(s[-1], t))
    loss = loss_value(network, K.output(s), t)
    return ImplicitGradient(grads=grads, deltas=K.as_dict(e), loss=loss, free=free)


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
    """The discrete-time trajectory :math:`s_0 \\dots s_T` of exactly ``n_steps`` synchronous updates.

    .. math::  s_{t+1} = (1-\\epsilon)\\, s_t
               + \\epsilon\\, \\rho\\big(a(s_t) - \\beta\\,\\partial C/\\partial s(s_t)\\big)

    Returns
    -------
    list of dict
        ``n_steps + 1`` states (dicts of layer name to (batch, n_l) arrays), ``s_0`` first.
    """
    if beta != 0.0 and target is None:
        raise ConfigError("unroll: a nudged trajectory (beta != 0) needs the target")
    n_steps = check("unroll", "n_steps", n_steps, "int", ge=0)
    check("unroll", "step_size", step_size, gt=0, le=1)
    K, x, t = kernel_for_batch(network, params, x, target, dtype)
    s = K.state_list(state, x.shape[0])
    traj = [K.as_dict(s)]
    for _ in range(n_steps):
        new = K.fixed_point_map(x, s, float(beta), t)
        s = [c + step_size * (nw - c) for nw, c in zip(new, s)]
        traj.append(K.as_dict(s))
    return traj


def loss_after_steps(network: Network, params: Params, x, target, n_steps: int, *, state: dict | None = None,
                     step_size: float = 1.0) -> float:
    """Batch-mean loss at :math:`s_T` of the free discrete-time dynamics (what :func:`bptt` differentiates)."""
    K, x, t = kernel_for_batch(network, params, x, target)
    last = unroll(network, params, x, n_steps, state=state, step_size=step_size)[-1]
    return loss_value(network, K.output(K.state_list(last, x.shape[0])), t)


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
    n_steps = check("bptt", "n_steps", n_steps, "int", ge=1)
    K, x, t = kernel_for_batch(network, params, x, target, np.float64)
    traj = unroll(network, params, x, n_steps, state=state, step_size=step_size, dtype=np.float64)
    names = K.structure.names
    states = [[st[n] for n in names] for st in traj]
    top = states[-1][-1]
    lam = [namespace(v).zeros_like(v) for v in states[-1]]
    lam[-1] = K.cost_grad_top(states[-1], t)
    grads: dict = {}
    step_grads, step_deltas = [], []
    for k in range(1, n_steps + 1):
        s = states[n_steps - k]
        u = K.drives(x, s)
        e = [step_size * K.rho[l].derivative(u[l]) * lam[l] for l in range(len(s))]
        g = K.energy_param_grads(x, s, e)
        step_grads.append(g)
        step_deltas.append(K.as_dict(e))
        for key, v in g.items():
            grads[key] = grads[key] + v if key in grads else v
        # lambda_t = (1 - eps) lambda_{t+1} + W e_t, with W e_t computed layer by layer
        if not K.structure.dense:
            lam = [(1.0 - step_size) * lam_l + c for lam_l, c in zip(lam, K.coupling_product(s, e))]
            continue
        back = []
        for l in range(len(s)):
            acc = (1.0 - step_size) * lam[l]
            if l + 1 < len(s):
                acc = acc + e[l + 1] @ K.W[l + 1]
            if l > 0:
                acc = acc + e[l - 1] @ K.W[l].T
            back.append(acc)
        lam = back
    grads.update(K.readout_grads(top, t))
    loss = loss_value(network, K.output(states[-1]), t)
    return BPTTResult(grads=grads, step_grads=step_grads, step_deltas=step_deltas, loss=loss, trajectory=traj)

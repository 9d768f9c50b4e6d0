"""Hebbian rate rules: plain Hebb, Oja, Sanger's GHA, BCM and Krotov & Hopfield's competing units.

Every rule here is *unsupervised*: the synapses of a hidden layer change with the pre-
synaptic rates :math:`x` (shape ``(batch, n_pre)``) and the post-synaptic rates
:math:`y = \\phi(W x + b)` (shape ``(batch, n_post)``) of the same forward pass, never with the
target.  Updates are batch means :math:`\\langle\\cdot\\rangle` and follow the project's sign
convention (the change to apply, ``W <- W + eta * dW``):

* Hebb (Hebb 1949):  :math:`\\Delta W = \\langle y x^\\top\\rangle`.  For a linear neuron
  :math:`\\dot w = C w` with :math:`C = \\langle x x^\\top\\rangle`, so the norm runs away as
  :math:`\\lVert w\\rVert \\propto e^{\\lambda_{max} t}`.
* Oja (Oja 1982; the subspace rule for several units, Oja 1989):
  :math:`\\Delta W = \\langle y x^\\top\\rangle - \\langle y y^\\top\\rangle W`.  A linear unit
  converges to the unit-norm top eigenvector of :math:`C`; k units to an orthonormal basis
  of the top-k eigenspace.
* Sanger's generalized Hebbian algorithm (Sanger 1989):
  :math:`\\Delta W = \\langle y x^\\top\\rangle - \\mathrm{LT}(\\langle y y^\\top\\rangle) W`, with
  :math:`\\mathrm{LT}` the lower triangle (diagonal included): unit i converges to the i-th
  eigenvector itself.
* BCM (Bienenstock, Cooper & Munro 1982; the quadratic form of Intrator & Cooper 1992):
  :math:`\\Delta W = \\langle (y \\odot (y - \\theta)) x^\\top\\rangle` with a sliding threshold
  that low-pass filters :math:`y^2` with time constant :math:`\\tau_\\theta` (in updates),
  :math:`\\theta \\leftarrow \\theta + (\\langle y^2\\rangle - \\theta)/\\tau_\\theta`.
* Krotov & Hopfield (2019), competing hidden units: with the p-inner product
  :math:`Q_\\mu = \\langle W_\\mu, x\\rangle_p = \\sum_i \\mathrm{sign}(W_{\\mu i})|W_{\\mu i}|^{p-1} x_i`,
  :math:`\\Delta W_{\\mu i} = \\langle g(Q_\\mu) (x_i - Q_\\mu W_{\\mu i})\\rangle`, where
  :math:`g = 1` for the most driven unit, :math:`-\\Delta` for the k-th most driven one and 0
  otherwise; as in the authors' code each batch's update is divided by its largest entry.

Oja's and Sanger's eigenvectors are those of the *second-moment* matrix
:math:`C = \\langle x x^\\top\\rangle`, which is the covariance only for centred inputs.

A rule's :meth:`updates` applies its Hebbian equation to every feed-forward projection into
a hidden layer and, by default (``readout="delta"``), trains the projection into the output
layer with the delta rule :math:`\\Delta W_L = -\\langle\\delta_L r_{L-1}^\\top\\rangle`,
:math:`\\delta_L = \\partial L/\\partial u_L` -- the supervised read-out of Krotov & Hopfield
(2019), and exactly backprop's gradient for the last layer.  ``readout="hebbian"`` makes the
output projection Hebbian too (target ignored); ``target=None`` returns the Hebbian updates
only.  The biases of Hebbian layers are not learned.  Because the rules are unsupervised
their alignment with backprop (:func:`neurosim.align`) is a *control*: the hidden projections
should sit near cosine 0, the read-out at exactly 1.

Only BCM carries state from one batch to the next: its thresholds, returned by
:meth:`HebbianRule.updates` and never kept on the rule (the other rules' state is ``{}``).

Every rule here computes in the namespace of the arrays it is given (numpy, or PyTorch
tensors on any device; :mod:`neurosim.arrays`), BCM's thresholds included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..arrays import arange, asarray_like, namespace, rank_index, zeros
from ..errors import ConfigError, ShapeError
from ..network import Layer, Network, Projection
from ..params import all_finite, bias_key, check_params, weight
from ..reference import check_batch, forward, output_delta
from .base import Hyper, Rule, RuleInfo, param, register

READOUTS = ("delta", "hebbian")


# --------------------------------------------------------------------------- the equations
def hebb_update(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain Hebbian update :math:`\\Delta W = \\langle y x^\\top \\rangle` (Hebb 1949).

    Parameters
    ----------
    w : ndarray (n_post, n_pre)
        Unused (kept so every update has the same signature).
    x : ndarray (batch, n_pre)
        Pre-synaptic rates.
    y : ndarray (batch, n_post)
        Post-synaptic rates.

    Returns
    -------
    ndarray (n_post, n_pre)
    """
    return y.T @ x / x.shape[0]


def oja_update(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Oja's rule :math:`\\Delta W = \\langle y x^\\top\\rangle - \\langle y y^\\top\\rangle W`.

    For one unit this is Oja (1982), :math:`\\Delta w = \\langle y (x - y w)\\rangle`, whose
    stable fixed point for :math:`y = w^\\top x` is the unit-norm top eigenvector of
    :math:`\\langle x x^\\top\\rangle`; for several units it is Oja's (1989) subspace rule.
    Shapes as in :func:`hebb_update`.
    """
    n = x.shape[0]
    return (y.T @ x - (y.T @ y) @ w) / n


def sanger_update(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sanger's (1989) GHA :math:`\\Delta W = \\langle y x^\\top\\rangle - \\mathrm{LT}(\\langle y y^\\top\\rangle) W`.

    Unit i learns from the input minus the reconstruction by units ``0..i``, which makes
    the rows of ``W`` converge to the top eigenvectors of :math:`\\langle x x^\\top\\rangle` in
    order.  Shapes as in :func:`hebb_update`.
    """
    n = x.shape[0]
    yy = y.T @ y
    lower = asarray_like(np.tri(yy.shape[0], dtype=bool), yy)  # LT(.): the diagonal and below
    return (y.T @ x - namespace(yy).where(lower, yy, 0.0) @ w) / n


def bcm_update(w: np.ndarray, x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """BCM :math:`\\Delta W = \\langle (y \\odot (y - \\theta)) x^\\top\\rangle` (Bienenstock et al. 1982).

    Shapes as in :func:`hebb_update`, and:

    Parameters
    ----------
    theta : ndarray (n_post,)
        The modification threshold of each post-synaptic unit.
    """
    return (y * (y - theta)).T @ x / x.shape[0]


def bcm_threshold(theta: np.ndarray, y: np.ndarray, tau: float) -> np.ndarray:
    """One step of the sliding threshold :math:`\\theta + (\\langle y^2\\rangle - \\theta)/\\tau_\\theta`.

    The Euler step of :math:`\\tau_\\theta\\,\\dot\\theta = \\langle y^2\\rangle - \\theta` with the time
    unit one update (Intrator & Cooper 1992), so with a stationary input :math:`\\theta_n =
    m + (1 - 1/\\tau)^n (\\theta_0 - m)`, :math:`m = \\langle y^2\\rangle`.

    Parameters
    ----------
    theta : ndarray (n_post,)
    y : ndarray (batch, n_post)
    tau : float
        Time constant in updates, >= 1 (1: the threshold is the batch's own mean).
    """
    return theta + (namespace(y).mean(y * y, axis=0) - theta) / tau


def krotov_hopfield_update(w: np.ndarray, x: np.ndarray, *, p: float = 3.0, k: int = 2,
                           delta: float = 0.4, normalise: bool = True) -> np.ndarray:
    """Competing hidden units of Krotov & Hopfield (2019), batch form of the authors' code.

    .. math::
        Q_\\mu = \\sum_i \\mathrm{sign}(W_{\\mu i})\\,|W_{\\mu i}|^{p-1} x_i, \\qquad
        \\Delta W_{\\mu i} = \\sum_{n} g(Q^n_\\mu)\\,(x^n_i - Q^n_\\mu W_{\\mu i}),

    with :math:`g = 1` for the unit of largest :math:`Q` on sample n, :math:`g = -\\Delta` for
    the unit ranked k-th, and 0 otherwise (Hebbian for the winner, anti-Hebbian for the
    k-th).  The winner's weights converge to unit p-norm, :math:`\\sum_i |W_{\\mu i}|^p = 1`,
    pointing at the p-normalised mean of the inputs it wins.

    Parameters
    ----------
    w : ndarray (n_hidden, n_pre)
    x : ndarray (batch, n_pre)
    p : float
        Order of the Lebesgue norm (>= 2; the paper uses 3).
    k : int
        Rank of the unit that is pushed away (>= 2; no anti-Hebbian term if k > n_hidden).
    delta : float
        Strength of the anti-Hebbian term (the paper uses 0.4).
    normalise : bool
        Divide the summed update by its largest absolute entry (the authors' code), so the
        largest weight change of a step is the learning rate.

    Returns
    -------
    ndarray (n_hidden, n_pre)
    """
    xp = namespace(w, x)
    n_hidden = w.shape[0]
    q = x @ (xp.sign(w) * xp.abs(w) ** (p - 1)).T              # (batch, n_hidden)
    units = arange(n_hidden, q)[None, :]
    g = xp.zeros_like(q)
    if k <= n_hidden:
        g = xp.where(units == rank_index(q, k)[:, None], -delta, g)  # the k-th ranked unit of each sample
    g = xp.where(units == xp.argmax(q, axis=1)[:, None], 1.0, g)      # the winner of each sample
    dw = g.T @ x - xp.sum(g * q, axis=0)[:, None] * w
    if normalise:
        # the authors' precision floor 1e-30 keeps a zero update from dividing by zero
        dw = dw / max(float(xp.max(xp.abs(dw))), 1e-30)
    else:
        dw = dw / x.shape[0]
    return dw


# --------------------------------------------------------------------------- hyper-parameters
@dataclass(frozen=True)
class HebbianHyper(Hyper):
    """Hyper-parameters every Hebbian rule shares."""

    readout: str = param("delta", choices=READOUTS,
                         doc="'delta': the output projection learns by the delta rule; 'hebbian': by the Hebbian one")


@dataclass(frozen=True)
class BCMHyper(HebbianHyper):
    """BCM: :class:`HebbianHyper` plus the threshold's time constant."""

    tau_theta: float = param(10.0, ge=1, doc="time constant of the sliding threshold, in updates")


@dataclass(frozen=True)
class KrotovHopfieldHyper(HebbianHyper):
    """Krotov & Hopfield (2019): :class:`HebbianHyper` plus the competition's parameters."""

    p: float = param(3.0, ge=2, doc="order of the Lebesgue norm of the p-inner product")
    k: int = param(2, ge=2, doc="rank of the unit pushed away (anti-Hebbian)")
    delta: float = param(0.4, ge=0, doc="strength of the anti-Hebbian term")
    hebbian_scale: float = param(1.0, gt=0, doc="factor on the (max-normalised) hidden update")


# --------------------------------------------------------------------------- the rules
class HebbianRule(Rule):
    """Shared machinery: Hebbian hidden projections plus a delta-rule read-out (module docstring).

    Subclasses implement :meth:`plasticity` for one projection; a rule with state (BCM)
    overrides :meth:`init`, :meth:`check_state` and :meth:`hebbian_updates`.
    """

    family = "hebbian"
    info = RuleInfo(supervised=False, activation="linear", arrays=("numpy", "torch"))
    Hyper = HebbianHyper
    #: initialiser of the Hebbian projections in the default network (scheme, scale)
    hidden_init: ClassVar[tuple[str, float]] = ("xavier_uniform", 1.0)

    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """For layer sizes: bias-free hidden layers of the rule's neuron and a linear read-out.

        ``input -> hidden... -> output``; ``activation`` overrides the hidden transfer function
        (default ``info.activation``: ``linear`` for Hebb/Oja/GHA, whose theory is for linear
        neurons; ``relu`` for BCM and Krotov-Hopfield).  A given
        :class:`~neurosim.network.Network` is returned as it is.
        """
        if isinstance(spec, Network):
            return spec
        sizes = list(super().network(spec).sizes)  # the base validates the sizes, with the fix
        if len(sizes) < 3:
            raise ConfigError(f"rule '{self.name}'.network: needs a hidden layer, got sizes {sizes}; "
                              "pass e.g. [64, 100, 10]")
        act = activation or self.info.activation
        layers = [Layer("input", sizes[0], activation="linear", role="input", bias=False)]
        names = ["input"]
        for i, size in enumerate(sizes[1:-1], start=1):
            layers.append(Layer(f"hidden{i}", size, activation=act, bias=False))
            names.append(f"hidden{i}")
        layers.append(Layer("output", sizes[-1], activation="linear", role="output"))
        names.append("output")
        init, scale = self.hidden_init
        projections = [Projection(a, b, init=init, init_scale=scale) for a, b in zip(names[:-2], names[1:-1])]
        projections.append(Projection(names[-2], names[-1]))
        return Network(tuple(layers), tuple(projections), name=name or "mlp", loss=loss or self.info.losses[0])

    def hebbian_projections(self, network: Network) -> tuple[Projection, ...]:
        """The projections that learn by the Hebbian equation (into hidden layers, or all)."""
        chain = network.chain()
        out = network.output_layer.name
        return tuple(p for p in chain if p.plastic and (p.post != out or self.hyper.readout == "hebbian"))

    def plasticity(self, proj: Projection, w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``dW`` of one projection from pre rates ``x`` (batch, n_pre) and post rates ``y`` (batch, n_post)."""
        raise NotImplementedError

    def check_state(self, network: Network, state) -> None:
        """Raise unless ``state`` is what :meth:`init` returns for this network (here ``{}``)."""
        if state != {}:
            raise ConfigError(f"rule '{self.name}': state must be the {{}} that rule.init(network, params) "
                              f"returns, got {state!r}")

    def hebbian_updates(self, network: Network, params: dict, state, fp) -> tuple[dict, object]:
        """``(dW, state)`` of the Hebbian projections for the forward pass ``fp`` (inputs already validated)."""
        dw = {proj.name: self.plasticity(proj, weight(network, params, proj), fp.r[proj.pre], fp.r[proj.post])
              for proj in self.hebbian_projections(network)}
        return dw, state

    def updates(self, network: Network, params: dict, state, x: np.ndarray, target: np.ndarray | None):
        """Hebbian ``dW`` for hidden projections, delta rule for the read-out (module docstring).

        Every input (parameters, batch, state) is validated before anything is computed, so a
        rejected batch produces no state at all.

        Parameters
        ----------
        state : dict
            From :meth:`init` or the previous call (not modified).
        x : ndarray (batch, n_input)
        target : ndarray (batch, n_output) or None
            Used only by the delta-rule read-out; ``None`` skips the read-out.

        Returns
        -------
        dW, state, aux : dict, dict, dict
            ``aux`` is empty.
        """
        check_params(network, params)
        x, t = check_batch(network, x, target)
        self.check_state(network, state)
        fp = forward(network, params, x)
        dw, state = self.hebbian_updates(network, params, state, fp)
        readout = network.chain()[-1]
        if t is not None and readout not in self.hebbian_projections(network) and readout.plastic:
            delta = output_delta(network, fp, t) * (-1.0 / x.shape[0])
            dw[readout.name] = delta.T @ fp.r[readout.pre]
            if network.layer(readout.post).bias:
                dw[bias_key(readout.post)] = namespace(delta).sum(delta, axis=0)
        return dw, state, {}


@register
class Hebb(HebbianRule):
    """Plain Hebb, :func:`hebb_update`.  Unstable: the weight norm grows as :math:`e^{\\lambda_{max} t}`."""

    name = "hebb"
    citation = "Hebb (1949). The Organization of Behavior. Wiley."

    def plasticity(self, proj, w, x, y):
        return hebb_update(w, x, y)


@register
class Oja(HebbianRule):
    """Oja's rule (one unit: Oja 1982; several: the subspace rule, Oja 1989), :func:`oja_update`."""

    name = "oja"
    citation = ("Oja (1982). A simplified neuron model as a principal component analyzer. J. Math. Biol. 15, "
                "267-273.")

    def plasticity(self, proj, w, x, y):
        return oja_update(w, x, y)


@register
class Sanger(HebbianRule):
    """Sanger's generalized Hebbian algorithm, :func:`sanger_update`."""

    name = "sanger"
    info = RuleInfo(supervised=False, activation="linear", aliases=("gha",), arrays=("numpy", "torch"))
    citation = ("Sanger (1989). Optimal unsupervised learning in a single-layer linear feedforward neural "
                "network. Neural Networks 2, 459-473.")

    def plasticity(self, proj, w, x, y):
        return sanger_update(w, x, y)


@register
class BCM(HebbianRule):
    """BCM with a sliding threshold, :func:`bcm_update` and :func:`bcm_threshold`.

    State: ``{"theta": {layer: ndarray (n_post,)}, "started": bool}``, one threshold per
    Hebbian layer.  :meth:`init` gives zeros, not yet started; the first batch starts each
    threshold at its own :math:`\\langle y^2\\rangle`, and every batch moves it one Euler step
    after the update it gated.  The thresholds are returned, never kept on the rule.
    """

    name = "bcm"
    info = RuleInfo(supervised=False, activation="relu", arrays=("numpy", "torch"))
    Hyper = BCMHyper
    citation = ("Bienenstock, Cooper & Munro (1982). Theory for the development of neuron selectivity. "
                "J. Neurosci. 2, 32-48; Intrator & Cooper (1992), Neural Networks 5, 3-17.")

    def init(self, network: Network, params: dict, seed: int = 0) -> dict:
        """Zero thresholds for every Hebbian layer (dtype of its weights), not yet started."""
        check_params(network, params)
        theta = {proj.post: zeros((network.layer(proj.post).size,), like=params[proj.name])
                 for proj in self.hebbian_projections(network)}
        return {"theta": theta, "started": False}

    def check_state(self, network, state) -> None:
        if not (isinstance(state, dict) and set(state) == {"theta", "started"}
                and isinstance(state["theta"], dict) and isinstance(state["started"], bool)):
            raise ConfigError("rule 'bcm': state must be the dict rule.init(network, params) returns "
                              f"({{'theta': {{layer: array}}, 'started': bool}}), got {state!r}")
        for proj in self.hebbian_projections(network):
            theta = state["theta"].get(proj.post)
            size = network.layer(proj.post).size
            shape = None if theta is None else np.shape(theta) if namespace(theta) is np else tuple(theta.shape)
            if shape != (size,):
                raise ShapeError(f"rule 'bcm': state['theta']['{proj.post}'] must have shape ({size},), got "
                                 f"{shape}; start the state with rule.init(network, params)")
            if not all_finite(theta):
                raise ShapeError(f"rule 'bcm': state['theta']['{proj.post}'] contains NaN or inf; start the "
                                 "state again with rule.init(network, params)")

    def hebbian_updates(self, network, params, state, fp):
        tau = float(self.hyper.tau_theta)
        dw, theta = {}, dict(state["theta"])
        for proj in self.hebbian_projections(network):
            y = fp.r[proj.post]
            gate = state["theta"][proj.post] if state["started"] else namespace(y).mean(y * y, axis=0)
            dw[proj.name] = bcm_update(weight(network, params, proj), fp.r[proj.pre], y, gate)
            # the threshold moves after the update it gated (Euler step of the slow variable)
            theta[proj.post] = bcm_threshold(gate, y, tau)
        return dw, {"theta": theta, "started": True}


@register
class KrotovHopfield(HebbianRule):
    """Competing hidden units (Krotov & Hopfield 2019), :func:`krotov_hopfield_update`, plus a delta-rule read-out.

    The read-out sees ``relu(W x)`` (the paper uses ``relu(W x)**4.5`` and its own loss).
    """

    name = "krotov-hopfield"
    info = RuleInfo(supervised=False, activation="relu", aliases=("krotov",), arrays=("numpy", "torch"))
    Hyper = KrotovHopfieldHyper
    # N(0, 1) as in the authors' code: every unit starts with a large p-norm, so winners vary
    hidden_init = ("normal", 1.0)
    citation = ("Krotov & Hopfield (2019). Unsupervised learning by competing hidden units. PNAS 116, "
                "7723-7731.")

    def plasticity(self, proj, w, x, y):
        h = self.hyper
        return h.hebbian_scale * krotov_hopfield_update(w, x, p=float(h.p), k=int(h.k), delta=float(h.delta))

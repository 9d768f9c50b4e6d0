"""Target propagation: TP, difference TP (DTP), simplified DTP (SDTP) and auxiliary-output SDTP.

Instead of errors, target propagation sends *activities* backwards: every hidden layer
gets a target :math:`\\hat h_l` and learns, layer-locally, to produce it.  For a chain
:math:`h_0 = x`, :math:`h_l = f_l(h_{l-1}) = \\phi_l(W_l h_{l-1} + b_l)` (:math:`l = 1..L`,
:math:`h_L` the output layer) and learned approximate inverses (decoders, ``kind =
"feedback"`` projections ``"h_l->h_{l-1}:inverse"``)

.. math::  g_l(h_l) = \\phi_{l-1}(V_l h_l + c_l) \\approx f_l^{-1}(h_l),

the four rules differ only in how targets are made (Bartunov, Santoro, Richards, Marris,
Hinton & Lillicrap 2018, Sec. 2.1.2 and Algorithms 1-2):

* ``dtp`` -- difference target propagation (Lee, Zhang, Fischer & Bengio 2015).  The
  penultimate layer's target is a gradient step through the output weights,
  :math:`\\hat h_{L-1} = h_{L-1} - \\hat\\eta\\, \\partial L/\\partial h_{L-1}` (``target_lr`` =
  :math:`\\hat\\eta`, per sample), and lower targets use the *difference correction*

  .. math::  \\hat h_{l-1} = h_{l-1} + g_l(\\hat h_l) - g_l(h_l), \\qquad l = L-1, \\dots, 2,

  which makes :math:`\\hat h_{l-1} = h_{l-1}` whenever :math:`\\hat h_l = h_l`, however poor
  :math:`g_l` is.  Inverses :math:`g_2..g_{L-1}` (no :math:`g_L`).
* ``tp`` -- "vanilla" target propagation (Bengio 2014; LeCun 1986): the same first target,
  then :math:`\\hat h_{l-1} = g_l(\\hat h_l)` without the correction.
* ``sdtp`` -- simplified DTP (Bartunov et al. 2018, Algorithm 1): no gradient at all.  The
  output target is the loss minimiser, :math:`\\hat h_L = \\arg\\min_{h_L} L` (the target
  distribution :math:`t`), and the penultimate target comes through a learned inverse of the
  output layer, :math:`\\hat h_{L-1} = h_{L-1} + g_L(\\hat h_L) - g_L(h_L)`; lower layers as in
  DTP.  Inverses :math:`g_2..g_L`.
* ``aosdtp`` -- auxiliary-output SDTP (Bartunov et al. 2018, Algorithm 2).  The output
  layer is :math:`h_L = [o, z]`: the class read-out :math:`o` and ``n_aux`` auxiliary units
  :math:`z = \\phi(W_z h_{L-1})` that are *fixed random features* of the penultimate layer
  (the paper's weight-transport-free variant: :math:`W_z` is never trained).  The inverse
  reads both, :math:`g_L(o, z) = \\phi_{L-1}(V_o o + V_z z + c_L)`, and

  .. math::  \\hat h_{L-1} = h_{L-1} - g_L(o, z) + g_L(\\hat o, z),

  so the penultimate target depends on the sample through :math:`z`, not only through its
  10-way label.  :math:`z` lives in a layer ``"<output>_aux"`` fed by a fixed
  (``plastic = false``) projection of kind ``"lateral"``: it is part of the output stage but
  not of the feedforward path the backprop reference differentiates.

The "output representation" :math:`o` on which SDTP's inverse acts is the predicted class
distribution :math:`\\mathrm{softmax}(r_L)` for the ``cross_entropy`` loss (so that
:math:`\\hat o = t` is attainable) and the output rates :math:`r_L` for ``mse``.

**Forward weights** (every variant).  The output layer minimises the task loss directly
(the delta rule, :math:`\\Delta W_L = -\\langle\\delta_L h_{L-1}^\\top\\rangle`, which needs no
weight transport); each hidden layer descends its *local* loss
:math:`\\tfrac12\\lVert h_l - \\hat h_l\\rVert^2` with the target held fixed,

.. math::  \\Delta W_l = \\big\\langle\\big[(\\hat h_l - h_l)\\odot\\phi_l'(u_l)\\big]\\, h_{l-1}^\\top\\big\\rangle,
           \\qquad \\Delta b_l = \\big\\langle(\\hat h_l - h_l)\\odot\\phi_l'(u_l)\\big\\rangle.

**Inverse weights** descend the reconstruction loss on corrupted activity
:math:`\\tilde h_{l-1} = h_{l-1} + \\epsilon`, :math:`\\epsilon \\sim N(0, \\sigma^2)` (``noise_std``),

.. math::  L^{inv}_l = \\tfrac12\\big\\lVert g_l(f_l(\\tilde h_{l-1})) - y\\big\\rVert^2,
           \\qquad y = \\tilde h_{l-1} \\text{ (``"preserving"``, Lee et al.) or }
           y = h_{l-1} \\text{ (``"denoising"``)},

:math:`\\Delta V_l = \\langle[(y - g_l)\\odot\\phi_{l-1}'(a_l)]\\, f_l(\\tilde h_{l-1})^\\top\\rangle`
with :math:`a_l = V_l f_l(\\tilde h_{l-1}) + c_l`.  Bartunov et al. (2018, App. 5.1) used the
noise-preserving loss for DTP and the de-noising one for SDTP/AO-SDTP; those are the
defaults here.

**Schedules** (``schedule``).  ``"parallel"``: every call to :meth:`updates` returns the
forward and the inverse changes, both computed from the same parameters (plasticity in both
pathways at once).  ``"alternating"``: calls alternate between an *inverse phase* (only the
inverse weights and biases) and a *forward phase* (only the forward ones), each phase
lasting ``alternate_every`` calls, starting with the inverse phase.  With
``alternate_every = 1`` phases alternate per mini-batch; Lee et al.'s code alternated per
epoch (``alternate_every`` = batches per epoch).

**State.**  The rule keeps nothing between calls.  :meth:`init` returns ``{"step": 0,
"rng": RngState}``: the number of calls so far (the position in the schedule) and the
position of the corruption-noise generator (``numpy.random.default_rng(seed)`` at the
start); :meth:`updates` returns the next state and ``aux = {"phase": ...}``, the phase that
ran (``"both"``, ``"inverse"`` or ``"forward"``).  :func:`neurosim.align` measures the rule
with ``schedule = "parallel"`` (``info.measure``) and discards the state it returns, so a
measurement never advances the schedule or the noise; it scores the forward changes.

**Parameters.**  The inverse bias :math:`c_l` has no home in the per-layer bias layout of
:mod:`neurosim.params` (layer :math:`l-1` already has its forward bias), so it is stored
under ``"<inverse projection>.bias"`` (e.g. ``"hidden2->hidden1:inverse.bias"``), created
as zeros by :meth:`~_TargetPropagation.init_params`; :meth:`updates` only checks that it is
there with the right shape.

Alignment is scored against backprop on the forward weights only (the reference's keys).

**Convolutional, locally connected and pooling networks** (issue 17; Bartunov et al. 2018 ran
DTP, SDTP and AO-SDTP on locally connected nets).  Every :math:`W h` above is the projection's
operation (:func:`neurosim.conv.drive`), every outer product :math:`e\\, h^\\top` its kernel
gradient (:func:`neurosim.conv.weight_gradient`), and DTP's first target uses the exact
vector-Jacobian product of the output projection.  The learned inverse of a ``conv2d``
projection is a ``conv_transpose2d`` feedback projection with its *own* kernel of the forward
kernel's shape and geometry, that of a ``locally_connected2d`` one a
``locally_connected_transpose2d`` (a locally connected inverse of a locally connected layer,
as in Bartunov et al. 2018's nets), that of a dense one dense; the inverse bias :math:`c_l` is
per unit.  Pooling and flatten have no weights to invert: a target passes them as a *fixed*
map, by the pseudo-inverse of the map's Jacobian applied to the target's displacement,

.. math::  \\hat h_{l-1} = h_{l-1} + J_l^+ (\\hat h_l - h_l), \\qquad J^+ = J^\\top (J J^\\top)^{-1},

which, like the difference correction, is exact at :math:`\\hat h_l = h_l` and, to first order,
makes :math:`f_l(\\hat h_{l-1}) = \\hat h_l`.  With windows that do not overlap,
:math:`J J^\\top = I` for max pooling (the displacement goes to each window's maximum, as
backprop routes its error) and :math:`I/k` for average pooling over :math:`k` inputs (the
displacement is copied to every input).  Overlapping windows (stride < kernel) and padded
average pooling, where this :math:`J^+` would be wrong, are refused in one line naming the
projection; max pooling cannot be inverted exactly, so this is the only reading that leaves a
target unchanged when the layer above is on target.  ``tp`` uses the same pass-down (there is
no learned inverse to take it from).  SDTP needs a learned inverse of the output projection and
refuses a network whose output projection has no weights.

Every rule here computes in the namespace of the arrays it is given (numpy, or PyTorch
tensors on any device; :mod:`neurosim.arrays`); the corruption noise is drawn on the host by
the state's PCG64 and moved beside the activities, so a seed gives the same noise on every
backend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import conv as _ops
from ..arrays import asarray_like, namespace
from ..errors import ConfigError
from ..network import INITS, OPERATIONS, Layer, Network, Projection
from ..neurons import get_activation
from ..params import Params, bias_key, check_param_arrays, check_params, weight
from ..randomness import RngState
from ..reference import check_batch, forward, output_delta, softmax
from .base import Hyper, Rule, RuleInfo, param, register

SCHEDULES = ("parallel", "alternating")
INVERSE_LOSSES = ("preserving", "denoising")
PHASES = ("both", "inverse", "forward")

CITATIONS = {
    "dtp": "Lee, Zhang, Fischer & Bengio (2015). Difference target propagation. ECML-PKDD, 498-515.",
    "tp": "Bengio (2014). How auto-encoders could provide credit assignment in deep networks via target "
          "propagation. arXiv:1407.7906.",
    "bartunov": "Bartunov, Santoro, Richards, Marris, Hinton & Lillicrap (2018). Assessing the scalability of "
                "biologically-motivated deep learning algorithms and architectures. NeurIPS 31.",
}


def inverse_name(upper: str, lower: str) -> str:
    """Name of the learned inverse from layer ``upper`` to layer ``lower`` (``"hidden2->hidden1:inverse"``)."""
    return f"{upper}->{lower}:inverse"


def inverse_bias_key(projection_name: str) -> str:
    """Key of an inverse projection's own bias :math:`c_l` in the parameter dict."""
    return f"{projection_name}.bias"


def aux_layer_name(network: Network) -> str:
    """Name of AO-SDTP's auxiliary output layer (``"output_aux"``)."""
    return f"{network.output_layer.name}_aux"


# --------------------------------------------------------------------------- operations
def _drive(network: Network, proj: Projection, w, x):
    """What ``proj`` with effective weight ``w`` gives its post layer from pre rates ``x``:
    :math:`x W^\\top` (dense) or the projection's operation (:func:`neurosim.conv.drive`)."""
    return x @ w.T if proj.operation == "dense" else _ops.drive(network, proj, w, x)


def _weight_change(network: Network, proj: Projection, e, x, batch: int):
    """:math:`\\langle e\\, x^\\top\\rangle` over the batch, in the weight's shape: the outer
    product for dense, the correlation of ``e`` with the input patches for a kernel
    (:func:`neurosim.conv.weight_gradient`)."""
    if proj.operation == "dense":
        return e.T @ x / batch
    return _ops.weight_gradient(network, proj, e, x) / batch


def _pass_down(network: Network, proj: Projection, difference, x):
    """:math:`J^+ d`: a target displacement ``difference`` of a parameter-free projection's post
    layer carried to its pre layer (rates ``x``) by the pseudo-inverse of its Jacobian.

    For pooling windows that do not overlap (:func:`_check_fixed_maps`), :math:`J J^\\top = c I`
    with :math:`c = 1` for max pooling (each output copies one input) and :math:`c = 1/k` for
    average pooling over :math:`k` inputs, so :math:`J^+ = J^\\top / c`: max pooling gives each
    window's difference to its maximum (the first, as :func:`neurosim.conv.backward`), average
    pooling spreads it unscaled over the window; flatten is the identity.
    """
    back = _ops.backward(network, proj, None, difference, x)
    return back * float(math.prod(proj.kernel)) if proj.operation == "avg_pool2d" else back


def _check_fixed_maps(rule_name: str, network: Network) -> None:
    """Refuse, in one line, pooling whose target pass-down :func:`_pass_down` would not be :math:`J^+`."""
    for proj in network.chain():
        if proj.operation not in ("max_pool2d", "avg_pool2d"):
            continue
        overlap = proj.stride[0] < proj.kernel[0] or proj.stride[1] < proj.kernel[1]
        if overlap or (proj.operation == "avg_pool2d" and proj.padding != (0, 0)):
            raise ConfigError(
                f"rule '{rule_name}': projection '{proj.name}' ({_ops.geometry_text(proj)}) "
                f"{'has overlapping windows' if overlap else 'averages over padding'}; target propagation "
                "passes targets through pooling by its pseudo-inverse, written for non-overlapping windows: "
                "set stride >= kernel" + ("" if overlap else " and padding = 0"))


# --------------------------------------------------------------------------- hyper-parameters
@dataclass(frozen=True)
class TPHyper(Hyper):
    """Hyper-parameters of ``tp`` and ``dtp`` (see the module docstring)."""

    schedule: str = param("parallel", choices=SCHEDULES,
                          doc="'parallel': forward and inverse changes every call; 'alternating': phases")
    alternate_every: int = param(1, ge=1, doc="calls per phase of the alternating schedule")
    target_lr: float = param(0.15, ge=0, doc="eta-hat of the gradient-made first target (tp, dtp)")
    noise_std: float = param(0.3, ge=0, doc="sigma of the corruption used to train the inverses")
    inverse_loss: str = param("preserving", choices=INVERSE_LOSSES,
                              doc="reconstruct the corrupted activity (Lee et al. 2015) or the clean one")
    inverse_init: str = param("xavier_uniform", choices=INITS, doc="initialiser of the inverse projections")
    inverse_scale: float = param(1.0, gt=0, doc="init_scale of the inverse projections")
    inverse_lr_scale: float = param(1.0, gt=0, doc="the inverses' learning rate as a multiple of the optimiser's")


@dataclass(frozen=True)
class SDTPHyper(TPHyper):
    """``sdtp``: as :class:`TPHyper`, with the de-noising inverse loss (Bartunov et al. 2018, App. 5.1)."""

    inverse_loss: str = param("denoising", choices=INVERSE_LOSSES,
                              doc="reconstruct the corrupted activity (Lee et al. 2015) or the clean one")


@dataclass(frozen=True)
class AOSDTPHyper(SDTPHyper):
    """``aosdtp``: :class:`SDTPHyper` plus the number of fixed random auxiliary output units."""

    n_aux: int = param(512, ge=1, doc="auxiliary output units z read by the top inverse")


# --------------------------------------------------------------------------- the rules
class _TargetPropagation(Rule):
    """Shared machinery of the target-propagation family; see the module docstring.

    Hyper-parameters (:class:`TPHyper`)
    -----------------------------------
    schedule : {"parallel", "alternating"}
    alternate_every : int >= 1
        Calls per phase of the alternating schedule.
    target_lr : float >= 0
        :math:`\\hat\\eta` of the gradient-made first target (``tp``, ``dtp``); unused by
        ``sdtp``/``aosdtp``.
    noise_std : float >= 0
        :math:`\\sigma` of the corruption used to train the inverses.
    inverse_loss : {"preserving", "denoising"}
        Reconstruct the corrupted activity (Lee et al. 2015) or the clean one.
    inverse_init, inverse_scale : str, float > 0
        Initialiser of the inverse projections :meth:`network` adds.
    inverse_lr_scale : float > 0
        The inverses' learning rate as a multiple of the optimiser's (Bartunov et al. 2018
        tune the two separately); applied by the optimiser through
        :meth:`learning_rate_scales`, so it also holds under Adam.

    State
    -----
    ``{"step": int, "rng": RngState}``: calls so far (drives the alternating schedule) and
    the position of the corruption-noise generator, seeded by :meth:`init`'s ``seed``.
    """

    family = "target_propagation"
    Hyper = TPHyper
    info = RuleInfo(measure={"schedule": "parallel"}, arrays=("numpy", "torch"), operations=OPERATIONS)
    #: "gradient": the penultimate target is a gradient step (TP, DTP);
    #: "inverse": it comes through a learned inverse of the output layer (SDTP, AO-SDTP).
    first_target = "gradient"
    #: whether lower targets get the difference correction (all but vanilla TP)
    difference = True

    def learning_rate_scales(self, network: Network) -> dict:
        """``inverse_lr_scale`` for every inverse weight and inverse bias; forward ones keep 1."""
        factor = float(self.hyper.inverse_lr_scale)
        if factor == 1.0:
            return {}
        keys = [inverse_name(upper, lower) for upper, lower in self.inverse_pairs(network)]
        return {key: factor for name in keys for key in (name, inverse_bias_key(name))}

    # ------------------------------------------------------------------ description
    def inverse_pairs(self, network: Network) -> list[tuple[str, str]]:
        """``(upper, lower)`` layer names of every learned inverse :math:`g_l: h_l \\to h_{l-1}`, top first."""
        chain = network.chain()
        # pooling and flatten have no weights to invert: targets pass them by J^+ (_pass_down)
        pairs = [(p.post, p.pre) for p in chain if network.layer(p.pre).role != "input" and _ops.has_params(p)]
        if self.first_target == "gradient":
            pairs = [pq for pq in pairs if pq[0] != network.output_layer.name]
        return pairs[::-1]

    def network(self, spec, **kw) -> Network:
        """The chain (default or given) with the inverse projections (``kind = "feedback"``, plastic) it lacks.

        Idempotent; never modifies its argument.  Fails, with the reason, on anything but a
        layered chain.
        """
        network = super().network(spec, **kw)
        self._check_chain(network)
        missing = []
        for upper, lower in self.inverse_pairs(network):
            if not network.has_projection(inverse_name(upper, lower)):
                mirrored = network.select("feedforward", pre=lower, post=upper)[0]
                missing.append(self._inverse_projection(network, mirrored))
        return network.add(*missing) if missing else network

    def _check_chain(self, network: Network) -> None:
        """A layered chain whose parameter-free maps targets can pass (and, for SDTP, a learned
        inverse of the output projection); one-line :class:`ConfigError` otherwise."""
        chain = network.chain()
        _check_fixed_maps(self.name, network)
        if self.first_target == "inverse" and not _ops.has_params(chain[-1]):
            raise ConfigError(f"rule '{self.name}': the output projection '{chain[-1].name}' ({chain[-1].operation}) "
                              "has no weights, but the penultimate target comes through a learned inverse of it; "
                              "end the network with a dense, conv2d or locally_connected2d projection")

    def _inverse_projection(self, network: Network, mirrored: Projection) -> Projection:
        """The learned inverse of ``mirrored`` (post -> pre): dense for dense, the adjoint operation with
        its own kernel of the forward kernel's shape for a convolution or locally connected layer (the
        inverse of a locally connected layer is locally connected, Bartunov et al. 2018)."""
        upper, lower = mirrored.post, mirrored.pre
        target = "apical" if "apical" in network.layer(lower).compartments else "soma"
        return Projection(upper, lower, name=inverse_name(upper, lower), kind="feedback", target=target,
                          init=self.hyper.inverse_init, init_scale=float(self.hyper.inverse_scale),
                          **_ops.adjoint_geometry(mirrored))

    def inverse_keys(self, network: Network) -> list[str]:
        """Parameter keys of the inverse pathway (weights and their biases)."""
        keys = []
        for upper, lower in self.inverse_pairs(network):
            name = inverse_name(upper, lower)
            keys += [name, inverse_bias_key(name)]
        return keys

    def _check_network(self, network: Network) -> None:
        self._check_chain(network)
        for upper, lower in self.inverse_pairs(network):
            name = inverse_name(upper, lower)
            if not network.has_projection(name):
                raise ConfigError(f"rule '{self.name}': network '{network.name}' has no projection '{name}'; "
                                  "build the network with rule.network(network) before init_params")

    def init_params(self, network: Network, seed=0, dtype="float64") -> Params:
        """:func:`neurosim.init_params` plus the inverse biases :math:`c_l = 0` (same dtype as the weights)."""
        self._check_network(network)
        params = super().init_params(network, seed, dtype)
        for upper, lower in self.inverse_pairs(network):
            name = inverse_name(upper, lower)
            params[inverse_bias_key(name)] = np.zeros(network.layer(lower).size,
                                                      dtype=np.asarray(params[name]).dtype)
        return params

    def check_params(self, network: Network, params: Params) -> None:
        """Raise unless ``params`` fits the network and holds every inverse weight and bias (never modifies it)."""
        self._check_network(network)
        check_params(network, params)
        check_param_arrays(params, {k: self._inverse_shape(network, k) for k in self.inverse_keys(network)},
                           f"for rule '{self.name}'; build the parameters with rule.init_params(network), which "
                           "adds the inverse biases")

    def _inverse_shape(self, network, key) -> tuple:
        if key.endswith(".bias"):
            return (network.layer(network.projection(key[:-len(".bias")]).post).size,)
        proj = network.projection(key)
        return tuple(_ops.param_shape(proj, network.layer(proj.pre).dims, network.layer(proj.post).dims))

    # ------------------------------------------------------------------ the maths
    def output_representation(self, network: Network, rates: np.ndarray) -> np.ndarray:
        """:math:`o`: ``softmax(r_L)`` for cross-entropy, ``r_L`` for mse; shape (batch, n_out)."""
        return softmax(rates) if network.loss == "cross_entropy" else rates

    def _layer(self, network: Network, params: Params, proj: Projection, h_pre: np.ndarray):
        """``(u, r)`` of ``proj.post`` driven by ``h_pre`` alone (one step of the chain)."""
        post = network.layer(proj.post)
        u = _drive(network, proj, weight(network, params, proj), h_pre)
        if post.bias:
            u = u + params[bias_key(post.name)]
        return u, get_activation(post.activation)(u)

    def _upper_state(self, network, params, upper: str, lower: str, h_lower: np.ndarray) -> dict:
        """What the inverse :math:`g` of ``upper -> lower`` reads when ``lower`` has activity ``h_lower``."""
        proj = network.select("feedforward", pre=lower, post=upper)[0]
        _, r = self._layer(network, params, proj, h_lower)
        if upper == network.output_layer.name:
            return {upper: self.output_representation(network, r)}
        return {upper: r}

    def inverse(self, network: Network, params: Params, upper: str, lower: str, activity: dict):
        """:math:`g_l` of the pair: ``(a, g)``, potential and rates of ``lower``, shape (batch, n_lower).

        ``activity`` maps layer names to the activities the inverse reads (``upper``, and for
        AO-SDTP also the auxiliary layer).
        """
        name = inverse_name(upper, lower)
        proj = network.projection(name)
        a = _drive(network, proj, weight(network, params, proj), activity[upper]) + params[inverse_bias_key(name)]
        return a, get_activation(network.layer(lower).activation)(a)

    def targets(self, network: Network, params: Params, x, target) -> dict:
        """Forward pass and layer targets for a batch.

        Returns
        -------
        dict
            ``"forward"``: the :class:`~neurosim.reference.ForwardPass`; ``"targets"``: dict of
            hidden-layer name to :math:`\\hat h_l` of shape (batch, n_l); ``"top"``: what the
            top inverse reads (output representation, auxiliary units).
        """
        x, t = check_batch(network, x, target)
        if t is None:
            raise ConfigError(f"rule '{self.name}': the forward targets need the task target; pass target")
        chain = network.chain()
        fp = forward(network, params, x)
        out = network.output_layer.name
        penult = chain[-1].pre
        top = self._top_state(network, params, fp)
        hats: dict[str, np.ndarray] = {}
        if network.layer(penult).role == "input":
            return {"forward": fp, "targets": hats, "top": top}
        if self.first_target == "gradient":
            # one step of error propagation through W_L^T: dL_n/dh_{L-1} = delta_L W_L (per sample)
            top, delta = chain[-1], output_delta(network, fp, t)
            w_top = weight(network, params, top)
            dl_dh = (delta @ w_top if top.operation == "dense"
                     else _ops.backward(network, top, w_top, delta, fp.r[penult]))
            hats[penult] = fp.r[penult] - self.hyper.target_lr * dl_dh
        else:
            goal = dict(top, **{out: t})  # o-hat = argmin L = t; z unchanged (it is not supervised)
            hats[penult] = self._step_down(network, params, out, penult, fp.r[penult], top, goal)
        for proj in reversed(chain[:-1]):
            upper, lower = proj.post, proj.pre
            if network.layer(lower).role == "input":
                break
            if not _ops.has_params(proj):  # pooling, flatten: a fixed map, passed by its J^+
                hats[lower] = fp.r[lower] + _pass_down(network, proj, hats[upper] - fp.r[upper], fp.r[lower])
                continue
            hats[lower] = self._step_down(network, params, upper, lower, fp.r[lower], {upper: fp.r[upper]},
                                          {upper: hats[upper]})
        return {"forward": fp, "targets": hats, "top": top}

    def _top_state(self, network, params, fp) -> dict:
        out = network.output_layer.name
        return {out: self.output_representation(network, fp.r[out])}

    def _step_down(self, network, params, upper, lower, h_lower, current, goal) -> np.ndarray:
        """:math:`\\hat h_{l-1} = h_{l-1} + g_l(\\hat h_l) - g_l(h_l)` (DTP) or :math:`g_l(\\hat h_l)` (TP)."""
        _, g_hat = self.inverse(network, params, upper, lower, goal)
        if not self.difference:
            return g_hat
        _, g_h = self.inverse(network, params, upper, lower, current)
        return h_lower + g_hat - g_h

    def forward_updates(self, network: Network, params: Params, x, target) -> dict:
        """Changes of the forward weights and biases (see the module docstring), batch mean."""
        x, t = check_batch(network, x, target)
        res = self.targets(network, params, x, t)
        fp, hats = res["forward"], res["targets"]
        chain = network.chain()
        batch = x.shape[0]
        dw = {}
        for proj in chain:
            post = network.layer(proj.post)
            if not (_ops.has_params(proj) or post.bias):  # pooling, flatten: nothing to learn
                continue
            if proj is chain[-1]:
                e = -output_delta(network, fp, t)  # the task loss's own delta rule
            else:
                e = (hats[post.name] - fp.r[post.name]) * get_activation(post.activation).derivative(
                    fp.u[post.name])
            if _ops.has_params(proj):
                dw[proj.name] = _weight_change(network, proj, e, fp.r[proj.pre], batch)
            if post.bias:
                dw[bias_key(post.name)] = namespace(e).sum(e, axis=0) / batch
        return dw

    def inverse_updates(self, network: Network, params: Params, x, rng: np.random.Generator) -> dict:
        """Changes of the inverse weights and biases: descent on :math:`L^{inv}_l`, batch mean.

        Parameters
        ----------
        x : ndarray of shape (batch, n_input)
        rng : numpy.random.Generator
            Draws the corruption noise (advanced in place): one standard-normal array of shape
            (batch, n_{l-1}) per inverse, in :meth:`inverse_pairs` order (top first); nothing
            when ``noise_std`` is 0.
        """
        x, _ = check_batch(network, x)
        fp = forward(network, params, x)
        batch = x.shape[0]
        sigma = self.hyper.noise_std
        dw = {}
        for upper, lower in self.inverse_pairs(network):
            h = fp.r[lower]
            # drawn on the host by the state's PCG64, moved beside h: the same noise on every backend
            h_tilde = h + sigma * asarray_like(rng.standard_normal(tuple(h.shape)), h) if sigma else h
            reads = self._upper_state(network, params, upper, lower, h_tilde)
            a, rec = self.inverse(network, params, upper, lower, reads)
            goal = h_tilde if self.hyper.inverse_loss == "preserving" else h
            e = (goal - rec) * get_activation(network.layer(lower).activation).derivative(a)
            for src, value in reads.items():
                name = inverse_name(src, lower)
                dw[name] = _weight_change(network, network.projection(name), e, value, batch)
            dw[inverse_bias_key(inverse_name(upper, lower))] = namespace(e).sum(e, axis=0) / batch
        return dw

    def reconstruction_error(self, network: Network, params: Params, x) -> dict:
        """Per inverse, the mean squared reconstruction error :math:`\\langle (g_l(f_l(h_{l-1})) - h_{l-1})^2\\rangle`.

        Noise-free, averaged over samples and units; keyed by inverse projection name.
        """
        self.check_params(network, params)
        x, _ = check_batch(network, x)
        fp = forward(network, params, x)
        out = {}
        for upper, lower in self.inverse_pairs(network):
            reads = self._upper_state(network, params, upper, lower, fp.r[lower])
            _, rec = self.inverse(network, params, upper, lower, reads)
            out[inverse_name(upper, lower)] = float(namespace(rec).mean((rec - fp.r[lower]) ** 2))
        return out

    # ------------------------------------------------------------------ the Rule interface
    def init(self, network: Network, params: Params, seed: int = 0) -> dict:
        """``{"step": 0, "rng": RngState.from_seed(seed)}``: the start of the schedule and of the noise."""
        return {"step": 0, "rng": RngState.from_seed(seed)}

    def phase(self, state: dict) -> str:
        """What :meth:`updates` returns from ``state``: ``"both"``, ``"inverse"`` or ``"forward"``."""
        if self.hyper.schedule == "parallel":
            return "both"
        return ("inverse", "forward")[(state["step"] // self.hyper.alternate_every) % 2]

    def _check_state(self, state) -> None:
        if not (isinstance(state, dict) and isinstance(state.get("rng"), RngState)
                and isinstance(state.get("step"), (int, np.integer)) and state["step"] >= 0):
            raise ConfigError(f"rule '{self.name}': state must be the dict rule.init(network, params, seed) "
                              f"returns ({{'step': int, 'rng': RngState}}), got {state!r}")

    def updates(self, network: Network, params: Params, state: dict, x, target):
        """Forward and/or inverse changes by the schedule; keys as in ``params``.

        Returns
        -------
        dW : dict
            The changes of the phase that ran (both pathways, or one of them).
        state : dict
            ``step + 1`` and the noise generator after the draws (a new dict; the argument is
            not modified).
        aux : dict
            ``{"phase": "both" | "inverse" | "forward"}``.
        """
        self._check_state(state)
        self.check_params(network, params)
        x, t = check_batch(network, x, target)
        phase = self.phase(state)
        dw = {}
        key = state["rng"]
        if phase in ("both", "forward"):
            dw.update(self.forward_updates(network, params, x, t))
        if phase in ("both", "inverse"):
            rng = key.generator()
            dw.update(self.inverse_updates(network, params, x, rng))
            key = RngState.of(rng)
        return dw, {"step": int(state["step"]) + 1, "rng": key}, {"phase": phase}


@register
class TargetPropagation(_TargetPropagation):
    name = "tp"
    info = RuleInfo(aliases=("target-propagation",), measure={"schedule": "parallel"}, arrays=("numpy", "torch"),
                    operations=OPERATIONS)
    difference = False
    citation = CITATIONS["tp"] + " As benchmarked by " + CITATIONS["bartunov"]


@register
class DifferenceTargetPropagation(_TargetPropagation):
    name = "dtp"
    info = RuleInfo(aliases=("difference-target-propagation",), measure={"schedule": "parallel"},
                    arrays=("numpy", "torch"), operations=OPERATIONS)
    citation = CITATIONS["dtp"]


@register
class SimplifiedDTP(_TargetPropagation):
    name = "sdtp"
    info = RuleInfo(aliases=("simplified-dtp",), measure={"schedule": "parallel"}, arrays=("numpy", "torch"),
                    operations=OPERATIONS)
    Hyper = SDTPHyper
    first_target = "inverse"
    citation = CITATIONS["bartunov"]


@register
class AuxiliaryOutputSDTP(SimplifiedDTP):
    """SDTP with ``n_aux`` fixed random auxiliary output units read by the top inverse."""

    name = "aosdtp"
    info = RuleInfo(aliases=("ao-sdtp",), measure={"schedule": "parallel"}, arrays=("numpy", "torch"),
                    operations=OPERATIONS)
    Hyper = AOSDTPHyper

    def network(self, spec, **kw) -> Network:
        """SDTP's inverses plus the auxiliary layer, its fixed random projection and its inverse."""
        network = super().network(spec, **kw)
        penult = network.chain()[-1].pre
        aux = aux_layer_name(network)
        extra = []
        if aux not in {layer.name for layer in network.layers}:
            act = network.layer(penult).activation
            extra.append(Layer(aux, self.hyper.n_aux, activation=act, role="hidden", bias=False,
                               neuron=network.layer(penult).neuron))
            extra.append(Projection(penult, aux, name=f"{penult}->{aux}", kind="lateral", plastic=False))
        elif network.layer(aux).size != self.hyper.n_aux:
            raise ConfigError(f"rule 'aosdtp': layer '{aux}' has {network.layer(aux).size} units but n_aux = "
                              f"{self.hyper.n_aux}; set n_aux to its size or rename the layer")
        if extra:
            network = network.add(*extra)
        name = inverse_name(aux, penult)
        if not network.has_projection(name):
            network = network.add(self._inverse_projection(network, network.select("lateral", post=aux)[0]))
        return network

    def _check_network(self, network):
        super()._check_network(network)
        name = inverse_name(aux_layer_name(network), network.chain()[-1].pre)
        if not network.has_projection(name):
            raise ConfigError(f"rule 'aosdtp': network '{network.name}' has no projection '{name}'; build the "
                              "network with rule.network(network) before init_params")

    def inverse_keys(self, network):
        penult = network.chain()[-1].pre
        return super().inverse_keys(network) + [inverse_name(aux_layer_name(network), penult)]

    def _aux(self, network, params, h_penult):
        """:math:`z = \\phi(W_z h_{L-1})`, shape (batch, n_aux); :math:`W_z` is fixed."""
        aux = aux_layer_name(network)
        proj = network.select("lateral", post=aux)[0]
        return self._layer(network, params, proj, h_penult)[1]

    def _top_state(self, network, params, fp):
        top = super()._top_state(network, params, fp)
        top[aux_layer_name(network)] = self._aux(network, params, fp.r[network.chain()[-1].pre])
        return top

    def _upper_state(self, network, params, upper, lower, h_lower):
        reads = super()._upper_state(network, params, upper, lower, h_lower)
        if upper == network.output_layer.name:
            reads[aux_layer_name(network)] = self._aux(network, params, h_lower)
        return reads

    def inverse(self, network, params, upper, lower, activity):
        """:math:`g_L(o, z) = \\phi_{L-1}(V_o o + V_z z + c_L)` for the top pair; as SDTP otherwise."""
        a, g = super().inverse(network, params, upper, lower, activity)
        if upper != network.output_layer.name:
            return a, g
        aux = aux_layer_name(network)
        proj = network.projection(inverse_name(aux, lower))
        a = a + _drive(network, proj, weight(network, params, proj), activity[aux])
        return a, get_activation(network.layer(lower).activation)(a)

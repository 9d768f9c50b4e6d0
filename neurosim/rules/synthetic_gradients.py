"""Synthetic gradients: decoupled neural interfaces, unconditioned (``sg``) and conditioned (``cdni``).

Every hidden layer :math:`l` of a chain :math:`h_0 = x`, :math:`u_l = W_l h_{l-1} + b_l`,
:math:`h_l = \\phi_l(u_l)` (:math:`l = 1..L`) gets a small local *synthetic-gradient module*
:math:`M_l` that predicts the gradient of the per-sample loss with respect to the layer's rates
(Jaderberg, Czarnecki, Osindero, Vinyals, Graves, Silver & Kavukcuoglu 2017 [1]_):

.. math::  \\hat g_l = M_l(h_l\\,[, t]) \\approx g_l = \\frac{\\partial L_n}{\\partial h_l},
           \\qquad M_l(h_l, t) = A_l h_l + C_l t + c_l \\quad\\text{(linear module)},

``cdni`` conditions the module on the target :math:`t` (the one-hot label; the term
:math:`C_l t`), ``sg`` does not.  With ``module_hidden = k > 0`` the module is a small MLP,
:math:`M_l = V_l\\,\\mathrm{relu}(U_l h_l + D_l t + a_l) + c_l` with ``k`` hidden units.

**Forward weights** update locally from the synthetic error, without waiting for the layers
above; the output layer uses its own, true error :math:`\\delta_L = \\partial L_n/\\partial u_L`:

.. math::  \\hat\\delta_l = \\hat g_l \\odot \\phi_l'(u_l), \\qquad
           \\Delta W_l = -\\langle \\hat\\delta_l h_{l-1}^\\top\\rangle, \\qquad
           \\Delta b_l = -\\langle\\hat\\delta_l\\rangle.

**Modules** regress onto the gradient arriving from above, held fixed (descent on
:math:`\\tfrac12\\langle\\lVert M_l - y_l\\rVert^2\\rangle`, so for the linear module
:math:`\\Delta A_l = \\langle (y_l - \\hat g_l) h_l^\\top\\rangle`, :math:`\\Delta C_l = \\langle (y_l - \\hat g_l)
t^\\top\\rangle`, :math:`\\Delta c_l = \\langle y_l - \\hat g_l\\rangle`), with the regression target

.. math::  y_{L-1} = \\delta_L W_L, \\qquad
           y_l = \\hat\\delta_{l+1} W_{l+1} \\quad (l < L-1,\\ ``module\\_target = "bootstrap"``),

i.e. the true gradient at the top hidden layer and, below it, the module above's synthetic
gradient carried through one layer (the paper's *bootstrapping*).  ``module_target = "true"``
regresses every module onto the true :math:`g_l` instead (a comparison, not a decoupled rule).
Jaderberg et al. initialise the module's output layer at zero, so :math:`\\hat g_l = 0` at
the start and the hidden layers learn only once their modules have.

**Theory** (tested in ``tests/test_synthetic_gradients.py``).  The regression is linear
least squares: with the true-gradient target, a linear module's fixed point on a batch is the
least-squares predictor of :math:`g_l` from :math:`[h_l, 1]` (``cdni``: :math:`[h_l, t, 1]`).
On a linear network with injective weights the layer input :math:`h_{l-1}` is an affine
function of :math:`h_l`, so the regression residual is orthogonal to it and the forward update
at the fixed point *is* backprop's; ``cdni`` with a linear module even predicts :math:`g_l`
exactly on any linear mse network.  Hence the SG system has backprop's critical points there
(Czarnecki, Świrszcz, Jaderberg, Osindero, Vinyals & Kavukcuoglu 2017 [2]_).

**Description.**  The modules are part of the :class:`~neurosim.network.Network`, so
training, checkpoints and alignment see them.  :meth:`SyntheticGradients.network` adds, per
hidden layer ``h`` (names from :func:`module_layer_name`):

* a layer ``h_sg`` (``role = "error"``, linear, with a bias :math:`c_l`): the module's output,
  the synthetic gradient, one unit per unit of ``h``;
* linear module: a projection ``h -> h_sg`` (:math:`A_l`, ``kind = "lateral"``, zero init);
* MLP module: a layer ``h_sg_hidden`` (relu, bias :math:`a_l`) and projections
  ``h -> h_sg_hidden`` (:math:`U_l`, He init) and ``h_sg_hidden -> h_sg`` (:math:`V_l`, zero init);
* ``cdni``: a projection ``output -> h_sg:label`` (or ``-> h_sg_hidden:label``) of
  ``kind = "feedback"``: :math:`C_l` (:math:`D_l`).  It reads the *target* the output layer is
  trained towards, not the output rates.

None of these are feedforward, so the forward pass and the backprop oracle never see them;
:func:`neurosim.align` scores the forward weights against backprop and reports, in ``extra``,
per hidden layer the cosine between :math:`\\hat g_l` and the true :math:`g_l`
(``delta_cosine.<layer>``) and the norm ratio :math:`\\lVert\\hat g_l\\rVert/\\lVert g_l\\rVert`
(``delta_norm_ratio.<layer>``), over the batch.  Both are NaN while a module is still zero.

Both rules compute in the namespace of the arrays they are given (numpy, or PyTorch tensors on
any device; :mod:`neurosim.arrays`); the two diagnostics are float64 numbers computed on the host.

References
----------
.. [1] M. Jaderberg, W. M. Czarnecki, S. Osindero, O. Vinyals, A. Graves, D. Silver and
   K. Kavukcuoglu, "Decoupled neural interfaces using synthetic gradients", ICML 2017,
   PMLR 70:1627-1635 (arXiv:1608.05343).
.. [2] W. M. Czarnecki, G. Świrszcz, M. Jaderberg, S. Osindero, O. Vinyals and
   K. Kavukcuoglu, "Understanding synthetic gradients and decoupled neural interfaces",
   ICML 2017, PMLR 70:904-912 (arXiv:1703.00522).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..alignment import cosine, norm_ratio
from ..arrays import namespace
from ..errors import ConfigError
from ..network import Layer, Network, Projection
from ..neurons import get_activation
from ..params import Params, bias_key, check_params, weight
from ..reference import ForwardPass, check_batch, derivative, forward, output_delta
from .base import Hyper, Rule, RuleInfo, param, register

__all__ = ["SyntheticGradients", "ConditionedSyntheticGradients", "module_layer_name", "module_hidden_name",
           "MODULE_TARGETS"]

#: Regression targets of the modules: the paper's bootstrapped chain, or the true gradient everywhere.
MODULE_TARGETS = ("bootstrap", "true")

JADERBERG = ("Jaderberg, Czarnecki, Osindero, Vinyals, Graves, Silver & Kavukcuoglu (2017). Decoupled neural "
             "interfaces using synthetic gradients. ICML, PMLR 70:1627-1635.")


def module_layer_name(layer: str) -> str:
    """Name of the layer holding the synthetic gradient of ``layer`` (``"hidden1_sg"``)."""
    return f"{layer}_sg"


def module_hidden_name(layer: str) -> str:
    """Name of the hidden layer of ``layer``'s MLP module (``"hidden1_sg_hidden"``)."""
    return f"{layer}_sg_hidden"


def _label_name(output: str, post: str) -> str:
    return f"{output}->{post}:label"


@dataclass(frozen=True)
class SyntheticGradientHyper(Hyper):
    module_hidden: int = param(0, ge=0, doc="hidden units of each synthetic-gradient module (0: a linear module, "
                                            "as for cDNI in Jaderberg et al. 2017; > 0: one relu hidden layer)")
    module_target: str = param("bootstrap", choices=MODULE_TARGETS,
                               doc="what a module regresses onto: 'bootstrap' (the true gradient at the top "
                                   "hidden layer, the synthetic gradient of the module above carried through "
                                   "one layer below it) or 'true' (the true gradient everywhere)")
    module_lr_scale: float = param(1.0, gt=0, doc="the modules' learning rate as a multiple of the optimiser's")


@dataclass(frozen=True)
class _Module:
    """The parameter names of one layer's synthetic-gradient module."""

    host: str           # the hidden layer whose gradient it predicts
    output: str         # layer holding the prediction (its bias is c_l)
    hidden: str | None  # the MLP's hidden layer (None: linear module)
    reads: str          # projection from the host: A_l (linear) or U_l (MLP)
    top: str | None     # V_l of the MLP (None: linear)
    label: str | None   # C_l / D_l of cdni (None: sg)


@register
class SyntheticGradients(Rule):
    """Synthetic gradients (DNI) with modules that see only the layer's activity.

    See the module docstring for the equations.  Hyper-parameters: ``module_hidden`` (0: linear
    module), ``module_target`` (``"bootstrap"`` or ``"true"``), ``module_lr_scale``.
    """

    name = "sg"
    family = "synthetic_gradients"
    citation = JADERBERG
    info = RuleInfo(aliases=("dni", "synthetic-gradients"), arrays=("numpy", "torch"))
    Hyper = SyntheticGradientHyper
    #: whether the modules read the target (cDNI)
    conditioned: ClassVar[bool] = False

    # ------------------------------------------------------------------ description
    def hosts(self, network: Network) -> list[str]:
        """The hidden layers of the chain, input side first: each gets a module."""
        return [p.post for p in network.chain()[:-1]]

    def modules(self, network: Network) -> list[_Module]:
        """The module of every hidden layer (names only; see the module docstring)."""
        out = network.output_layer.name
        mods = []
        for host in self.hosts(network):
            target = module_layer_name(host)
            if self.hyper.module_hidden:
                hidden = module_hidden_name(host)
                mods.append(_Module(host, target, hidden, f"{host}->{hidden}", f"{hidden}->{target}",
                                    _label_name(out, hidden) if self.conditioned else None))
            else:
                mods.append(_Module(host, target, None, f"{host}->{target}", None,
                                    _label_name(out, target) if self.conditioned else None))
        return mods

    def _items(self, network: Network, mod: _Module) -> list[Layer | Projection]:
        host = network.layer(mod.host)
        out = network.output_layer.name
        items: list[Layer | Projection] = [Layer(mod.output, host.size, activation="linear", role="error")]
        if mod.hidden is None:
            items.append(Projection(mod.host, mod.output, name=mod.reads, kind="lateral", init="zeros"))
        else:
            k = self.hyper.module_hidden
            items += [Layer(mod.hidden, k, activation="relu", role="error"),
                      Projection(mod.host, mod.hidden, name=mod.reads, kind="lateral", init="he_normal"),
                      Projection(mod.hidden, mod.output, name=mod.top, kind="lateral", init="zeros")]
        if mod.label is not None:
            post = mod.hidden or mod.output
            items.append(Projection(out, post, name=mod.label, kind="feedback",
                                    init="zeros" if mod.hidden is None else "he_normal"))
        return items

    def network(self, spec, **kw) -> Network:
        """The chain (default or given) with a synthetic-gradient module per hidden layer that lacks one.

        A module already in the description is kept as it is (a model card may give its own
        initialisation); one of another shape than this rule's (linear vs MLP, with or
        without the label input, wrong size) is an error.
        """
        network = super().network(spec, **kw)
        missing: list[Layer | Projection] = []
        layers = {layer.name for layer in network.layers}
        for mod in self.modules(network):
            for item in self._items(network, mod):
                if isinstance(item, Layer):
                    if item.name not in layers:
                        missing.append(item)
                    elif network.layer(item.name).size != item.size:
                        raise ConfigError(f"rule '{self.name}': layer '{item.name}' of network '{network.name}' "
                                          f"has {network.layer(item.name).size} units, the synthetic-gradient "
                                          f"module of '{mod.host}' needs {item.size}")
                elif not network.has_projection(item.name):
                    missing.append(item)
            self._check_inputs(network, mod)
        return network.add(*missing) if missing else network

    def _check_inputs(self, network: Network, mod: _Module) -> None:
        """No projection into a module's layers that this rule would not read (another module shape)."""
        expected = {mod.reads, mod.top, mod.label} - {None}
        for layer in (mod.output, mod.hidden):
            if layer is None:
                continue
            for proj in network.select(post=layer):
                if proj.name not in expected:
                    raise ConfigError(
                        f"rule '{self.name}': network '{network.name}' has a projection '{proj.name}' into the "
                        f"synthetic-gradient module of '{mod.host}' that this rule does not read (module_hidden="
                        f"{self.hyper.module_hidden}, {'with' if self.conditioned else 'without'} the label); "
                        "build the network with the same rule and module_hidden")

    def module_keys(self, network: Network) -> list[str]:
        """Parameter keys of every module (weights and biases)."""
        keys = []
        for mod in self.modules(network):
            keys += [k for k in (mod.reads, mod.top, mod.label) if k is not None]
            keys += [bias_key(layer) for layer in (mod.hidden, mod.output) if layer is not None]
        return keys

    def learning_rate_scales(self, network: Network) -> dict:
        """``module_lr_scale`` for every module parameter; the forward ones keep 1."""
        factor = float(self.hyper.module_lr_scale)
        return {} if factor == 1.0 else {key: factor for key in self.module_keys(network)}

    # ------------------------------------------------------------------ the maths
    def _require(self, network: Network) -> list[_Module]:
        mods = self.modules(network)
        for mod in mods:
            for name in (mod.reads, mod.top, mod.label):
                if name is not None and not network.has_projection(name):
                    raise ConfigError(f"rule '{self.name}': network '{network.name}' has no projection '{name}' "
                                      "(its synthetic-gradient module); build it with rule.network(network) "
                                      "before init_params")
        return mods

    def _predict(self, network: Network, params: Params, mod: _Module, h: np.ndarray, t: np.ndarray) -> dict:
        """One module's forward pass: ``{"g": g_hat, "a": its potential, "z"/"v": MLP hidden rates/potential}``."""
        out = network.layer(mod.output)
        if mod.hidden is None:
            a = h @ weight(network, params, mod.reads).T
            if mod.label is not None:
                a = a + t @ weight(network, params, mod.label).T
            a = a + params[bias_key(mod.output)]
            return {"a": a, "g": get_activation(out.activation)(a)}
        hid = network.layer(mod.hidden)
        v = h @ weight(network, params, mod.reads).T
        if mod.label is not None:
            v = v + t @ weight(network, params, mod.label).T
        v = v + params[bias_key(mod.hidden)]
        z = get_activation(hid.activation)(v)
        a = z @ weight(network, params, mod.top).T + params[bias_key(mod.output)]
        return {"v": v, "z": z, "a": a, "g": get_activation(out.activation)(a)}

    def synthetic_gradients(self, network: Network, params: Params, x, target) -> dict:
        """:math:`\\hat g_l` of every hidden layer for a batch: ``{layer: (batch, n_l)}``."""
        network = self.network(network)
        x, t = check_batch(network, x, target)
        fp = forward(network, params, x)
        return {mod.host: self._predict(network, params, mod, fp.r[mod.host], t)["g"]
                for mod in self._require(network)}

    def _module_update(self, network, params, mod, pred, h, t, goal, scale, dw) -> None:
        """Descent on 1/2 <|M(h, t) - goal|^2> (goal held fixed) for one module, into ``dw``."""
        out = network.layer(mod.output)
        e = (goal - pred["g"]) * get_activation(out.activation).derivative(pred["a"]) * scale
        src = h if mod.hidden is None else pred["z"]
        dw[mod.top or mod.reads] = e.T @ src
        xp = namespace(e)
        dw[bias_key(mod.output)] = xp.sum(e, axis=0)
        if mod.hidden is None:
            if mod.label is not None:
                dw[mod.label] = e.T @ t
            return
        hid = network.layer(mod.hidden)
        e_hidden = (e @ weight(network, params, mod.top)) * get_activation(hid.activation).derivative(pred["v"])
        dw[mod.reads] = e_hidden.T @ h
        dw[bias_key(mod.hidden)] = xp.sum(e_hidden, axis=0)
        if mod.label is not None:
            dw[mod.label] = e_hidden.T @ t

    def updates(self, network: Network, params: Params, state, x, target):
        """Forward changes from the synthetic errors, module changes by regression (batch means).

        Returns ``(dW, state, aux)``; ``state`` is returned unchanged (the rule keeps none) and
        ``aux`` holds ``delta_cosine`` and ``delta_norm_ratio`` per hidden layer.
        """
        mods = self._require(network)
        check_params(network, params)
        x, t = check_batch(network, x, target)
        chain = network.chain()
        fp = forward(network, params, x)
        batch = x.shape[0]
        scale = 1.0 / batch
        preds = {mod.host: self._predict(network, params, mod, fp.r[mod.host], t) for mod in mods}
        true_g = self._true_gradients(network, params, fp, t, chain)

        dw: dict = {}
        deltas = {chain[-1].post: output_delta(network, fp, t)}
        for mod in mods:
            deltas[mod.host] = preds[mod.host]["g"] * derivative(network.layer(mod.host), fp)
        for proj in chain:
            delta = deltas[proj.post] * (-scale)
            dw[proj.name] = delta.T @ fp.r[proj.pre]
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = namespace(delta).sum(delta, axis=0)

        above = {p.pre: p for p in chain}  # the projection leaving each layer
        for mod in mods:
            if self.hyper.module_target == "true":
                goal = true_g[mod.host]
            else:  # the error of the layer above (true at the output, synthetic below) through one layer
                up = above[mod.host]
                goal = deltas[up.post] @ weight(network, params, up)
            self._module_update(network, params, mod, preds[mod.host], fp.r[mod.host], t, goal, scale, dw)

        aux = {"delta_cosine": {m.host: cosine(preds[m.host]["g"], true_g[m.host]) for m in mods},
               "delta_norm_ratio": {m.host: norm_ratio(preds[m.host]["g"], true_g[m.host]) for m in mods}}
        return dw, state, aux

    @staticmethod
    def _true_gradients(network: Network, params: Params, fp: ForwardPass, t, chain) -> dict:
        """Per-sample :math:`g_l = \\partial L_n/\\partial h_l` of every hidden layer (backprop on the chain)."""
        g = {}
        delta = output_delta(network, fp, t)
        for proj in reversed(chain[1:]):
            g[proj.pre] = delta @ weight(network, params, proj)
            delta = g[proj.pre] * derivative(network.layer(proj.pre), fp)
        return g


@register
class ConditionedSyntheticGradients(SyntheticGradients):
    """cDNI: synthetic gradients whose modules also read the target (the one-hot label).

    Jaderberg et al. (2017) found a linear module conditioned on the label enough to train
    deep fully connected networks; see the module docstring.
    """

    name = "cdni"
    citation = JADERBERG
    info = RuleInfo(aliases=("conditioned-dni",), arrays=("numpy", "torch"))
    conditioned = True

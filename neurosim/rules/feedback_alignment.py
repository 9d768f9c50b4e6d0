"""Feedback alignment (FA) and direct feedback alignment (DFA).

Both keep backprop's forward pass, output error :math:`\\delta_L` and local update
:math:`\\Delta W_{l,l-1} = -\\langle\\delta_l r_{l-1}^\\top\\rangle`, but carry the error
backwards through fixed random matrices instead of the transposed forward weights:

* FA (Lillicrap, Cownden, Tweed & Akerman 2016):
  :math:`\\delta_l = (B_{l+1,l}\\,\\delta_{l+1}) \\odot \\phi'(u_l)`, with :math:`B_{l+1,l}` of
  the shape of :math:`W_{l+1,l}^\\top`.  With :math:`B = W^\\top` FA *is* backprop.
* DFA (Nøkland 2016): :math:`\\delta_l = (B_l\\,\\delta_L) \\odot \\phi'(u_l)`, every hidden layer
  receiving the output error directly through :math:`B_l` of shape ``(n_l, n_L)``.

The matrices :math:`B` are ordinary ``kind = "feedback"`` projections of the shared
:class:`~neurosim.network.Network` (``plastic = false``); :meth:`prepare` adds them when
the network does not already have them (in :meth:`network`), so a model card may also declare them -- for
instance ``tied_to`` the forward projection, which makes FA equal to backprop exactly.

Convolutional, locally connected and pooling networks (:mod:`neurosim.conv`; issue 17), as
BioTorch (Sanfiz & Akrout 2021): FA's feedback through a convolution is the *transpose*
convolution with a fixed random kernel :math:`B` of the forward kernel's shape,
:math:`\\delta_{l} = (\\partial f/\\partial r)^\\top_{K \\to B}\\,\\delta_{l+1} \\odot \\phi'(u_l)` (a
``conv_transpose2d`` / ``locally_connected_transpose2d`` feedback projection; tied to the
forward kernel it is backprop); pooling and flatten have no weights and pass the error back
exactly (max pooling to each window's maximum).  DFA projects the output error to each
hidden layer's flattened units through a dense :math:`B_l` of shape ``(n_l, n_L)``; layers
behind a parameter-free projection and without a bias need no error and get none.

Both compute in the namespace of the arrays they are given (numpy, or PyTorch tensors on any
device; :mod:`neurosim.arrays`).
"""
from __future__ import annotations

from dataclasses import dataclass


from .. import conv as _ops
from ..arrays import namespace
from ..errors import ConfigError
from ..network import INITS, OPERATIONS, Network, Projection
from ..params import bias_key, check_params, weight
from ..reference import check_batch, derivative, forward, output_delta
from .base import Hyper, Rule, RuleInfo, param, register


def _feedback_projection(network: Network, pre: str, post: str, canonical: str) -> Projection | None:
    """The feedback projection pre -> post: the canonical name if present, else the only one."""
    if network.has_projection(canonical):
        return network.projection(canonical)
    found = network.select("feedback", pre=pre, post=post)
    if len(found) > 1:
        raise ConfigError(f"Network '{network.name}': several feedback projections {pre}->{post} "
                          f"({', '.join(p.name for p in found)}); name the one to use '{canonical}'")
    return found[0] if found else None


def _feedback_target(network: Network, layer: str) -> str:
    return "apical" if "apical" in network.layer(layer).compartments else "soma"


@dataclass(frozen=True)
class FeedbackHyper(Hyper):
    feedback_init: str = param("xavier_uniform", choices=INITS, doc="initialisation of the fixed feedback B")
    feedback_scale: float = param(1.0, gt=0, doc="scale of B's initialisation (init_scale)")


class _FeedbackRule(Rule):
    Hyper = FeedbackHyper
    suffix = ""

    def pairs(self, network: Network) -> list[tuple[str, str, Projection | None]]:
        """(pre, post, mirrored) of each feedback projection the rule needs; ``mirrored`` is the
        forward projection whose geometry it takes (its adjoint operation), None for dense."""
        raise NotImplementedError

    def canonical(self, pre: str, post: str) -> str:
        return f"{pre}->{post}:{self.suffix}"

    def network(self, spec, **kw) -> Network:
        """The chain (default or given) with a fixed feedback projection per pair that lacks one."""
        network = super().network(spec, **kw)
        missing = []
        for pre, post, mirrored in self.pairs(network):
            if _feedback_projection(network, pre, post, self.canonical(pre, post)) is None:
                geometry = {} if mirrored is None else _ops.adjoint_geometry(mirrored)
                missing.append(Projection(pre, post, name=self.canonical(pre, post), kind="feedback",
                                          target=_feedback_target(network, post), plastic=False,
                                          init=self.hyper["feedback_init"],
                                          init_scale=float(self.hyper["feedback_scale"]), **geometry))
        return network.add(*missing) if missing else network

    def feed_back(self, network: Network, params: dict, pre: str, post: str, delta):
        """``delta`` of layer ``pre`` carried to layer ``post`` by the feedback projection
        pre -> post (:math:`B\\delta` for a dense one, the adjoint operation with kernel :math:`B`)."""
        proj = _feedback_projection(network, pre, post, self.canonical(pre, post))
        if proj is None:
            raise ConfigError(f"rule '{self.name}': network '{network.name}' has no feedback projection "
                              f"{pre}->{post}; build it with rule.network(network) before init_params")
        b = weight(network, params, proj)
        return delta @ b.T if proj.operation == "dense" else _ops.drive(network, proj, b, delta)

    def hidden_deltas(self, network, params, fp, delta_out, chain) -> dict:
        raise NotImplementedError

    def updates(self, network, params, state, x, target):
        check_params(network, params)
        x, t = check_batch(network, x, target)
        xp = namespace(x)
        chain = network.chain()
        fp = forward(network, params, x)
        deltas = self.hidden_deltas(network, params, fp, output_delta(network, fp, t), chain)
        batch = x.shape[0]
        dw = {}
        for proj in chain:
            if proj.post not in deltas:  # DFA: behind pooling/flatten, no bias: nothing to learn
                continue
            delta = deltas[proj.post] * (-1.0 / batch)  # scale the (batch, n) delta, not the product
            if proj.operation == "dense":
                dw[proj.name] = delta.T @ fp.r[proj.pre]
            elif _ops.has_params(proj):
                dw[proj.name] = _ops.weight_gradient(network, proj, delta, fp.r[proj.pre])
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = xp.sum(delta, axis=0)
        return dw, state, {}


@register
class FeedbackAlignment(_FeedbackRule):
    name = "fa"
    family = "feedback_alignment"
    suffix = "fa"
    info = RuleInfo(aliases=("feedback-alignment",), backends=("rate", "spiking"), arrays=("numpy", "torch"),
                    operations=OPERATIONS)
    citation = ("Lillicrap, Cownden, Tweed & Akerman (2016). Random synaptic feedback weights support "
                "error backpropagation for deep learning. Nat. Commun. 7, 13276.")

    def pairs(self, network):
        return [(p.post, p.pre, p) for p in network.chain()
                if network.layer(p.pre).role != "input" and _ops.has_params(p)]

    def hidden_deltas(self, network, params, fp, delta_out, chain):
        deltas = {chain[-1].post: delta_out}
        for proj in reversed(chain[1:]):
            pre = network.layer(proj.pre)
            if _ops.has_params(proj):
                back = self.feed_back(network, params, proj.post, proj.pre, deltas[proj.post])
            else:  # pooling, flatten: no weight to replace; the exact (weightless) backward map
                back = _ops.backward(network, proj, None, deltas[proj.post], fp.r[pre.name])
            deltas[pre.name] = back * derivative(pre, fp)
        return deltas


@register
class DirectFeedbackAlignment(_FeedbackRule):
    name = "dfa"
    family = "feedback_alignment"
    suffix = "dfa"
    info = RuleInfo(aliases=("direct-feedback-alignment",), backends=("rate", "spiking"),
                    arrays=("numpy", "torch"), operations=OPERATIONS)
    citation = ("Nøkland (2016). Direct feedback alignment provides learning in deep neural networks. "
                "NeurIPS 29.")

    def pairs(self, network):
        out = network.output_layer.name
        return [(out, p.post, None) for p in network.chain()
                if p.post != out and (_ops.has_params(p) or network.layer(p.post).bias)]

    def hidden_deltas(self, network, params, fp, delta_out, chain):
        out = chain[-1].post
        deltas = {out: delta_out}
        for _, name, _ in self.pairs(network):
            layer = network.layer(name)
            deltas[name] = self.feed_back(network, params, out, name, delta_out) * derivative(layer, fp)  # B_l e
        return deltas

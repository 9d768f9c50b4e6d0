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

Both compute in the namespace of the arrays they are given (numpy, or PyTorch tensors on any
device; :mod:`neurosim.arrays`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import namespace
from ..errors import ConfigError
from ..network import INITS, Network, Projection
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

    def pairs(self, network: Network) -> list[tuple[str, str]]:
        """(pre, post) of each feedback projection the rule needs."""
        raise NotImplementedError

    def canonical(self, pre: str, post: str) -> str:
        return f"{pre}->{post}:{self.suffix}"

    def network(self, spec, **kw) -> Network:
        """The chain (default or given) with a fixed feedback projection per pair that lacks one."""
        network = super().network(spec, **kw)
        missing = []
        for pre, post in self.pairs(network):
            if _feedback_projection(network, pre, post, self.canonical(pre, post)) is None:
                missing.append(Projection(pre, post, name=self.canonical(pre, post), kind="feedback",
                                          target=_feedback_target(network, post), plastic=False,
                                          init=self.hyper["feedback_init"],
                                          init_scale=float(self.hyper["feedback_scale"])))
        return network.add(*missing) if missing else network

    def feedback(self, network: Network, params: dict, pre: str, post: str) -> np.ndarray:
        proj = _feedback_projection(network, pre, post, self.canonical(pre, post))
        if proj is None:
            raise ConfigError(f"rule '{self.name}': network '{network.name}' has no feedback projection "
                              f"{pre}->{post}; build it with rule.network(network) before init_params")
        return weight(network, params, proj)

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
            delta = deltas[proj.post] * (-1.0 / batch)  # scale the (batch, n) delta, not the product
            dw[proj.name] = delta.T @ fp.r[proj.pre]
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = xp.sum(delta, axis=0)
        return dw, state, {}


@register
class FeedbackAlignment(_FeedbackRule):
    name = "fa"
    family = "feedback_alignment"
    suffix = "fa"
    info = RuleInfo(aliases=("feedback-alignment",), backends=("rate", "spiking"), arrays=("numpy", "torch"))
    citation = ("Lillicrap, Cownden, Tweed & Akerman (2016). Random synaptic feedback weights support "
                "error backpropagation for deep learning. Nat. Commun. 7, 13276.")

    def pairs(self, network):
        return [(p.post, p.pre) for p in network.chain() if network.layer(p.pre).role != "input"]

    def hidden_deltas(self, network, params, fp, delta_out, chain):
        deltas = {chain[-1].post: delta_out}
        for proj in reversed(chain[1:]):
            pre = network.layer(proj.pre)
            b = self.feedback(network, params, proj.post, proj.pre)  # (n_pre, n_post)
            deltas[pre.name] = (deltas[proj.post] @ b.T) * derivative(pre, fp)
        return deltas


@register
class DirectFeedbackAlignment(_FeedbackRule):
    name = "dfa"
    family = "feedback_alignment"
    suffix = "dfa"
    info = RuleInfo(aliases=("direct-feedback-alignment",), backends=("rate", "spiking"),
                    arrays=("numpy", "torch"))
    citation = ("Nøkland (2016). Direct feedback alignment provides learning in deep neural networks. "
                "NeurIPS 29.")

    def pairs(self, network):
        out = network.output_layer.name
        return [(out, p.pre) for p in network.chain() if network.layer(p.pre).role != "input"]

    def hidden_deltas(self, network, params, fp, delta_out, chain):
        out = chain[-1].post
        deltas = {out: delta_out}
        for proj in chain[1:]:
            pre = network.layer(proj.pre)
            b = self.feedback(network, params, out, pre.name)  # (n_hidden, n_out)
            deltas[pre.name] = (delta_out @ b.T) * derivative(pre, fp)
        return deltas

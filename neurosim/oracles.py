"""Exact gradients by name: what a rule's update is scored against.

An oracle is a function ``oracle(rule, network, params, x, t) -> descent`` returning the
reference descent direction :math:`-\\partial L/\\partial\\theta` per parameter key at the
given weights and batch.  A rule names its oracle in ``info.reference``:

``backprop``
    :func:`neurosim.reference.backprop` of the network's loss (feed-forward rules).
``implicit``
    the gradient of the loss at the free fixed point of the network's energy, by implicit
    differentiation (:func:`neurosim.energy.implicit_gradient`; equilibrium propagation).
    Registered by :mod:`neurosim.rules.equilibrium`.
``policy``
    backprop of the loss an attention-gated rule's *expected* update follows (registered by
    :mod:`neurosim.rules.attention_gated`).

Modules add oracles with ``@register_oracle("name")``; every oracle is checked against
finite differences in the tests.
"""
from __future__ import annotations

from typing import Callable

from .errors import unknown_name

ORACLES: dict[str, Callable] = {}


def register_oracle(name: str):
    """Decorator registering ``fn(rule, network, params, x, t) -> descent`` as oracle ``name``."""
    def deco(fn):
        if name in ORACLES and ORACLES[name] is not fn:
            raise TypeError(f"oracle '{name}' is registered twice")
        ORACLES[name] = fn
        return fn
    return deco


def get_oracle(name: str) -> Callable:
    """The oracle registered as ``name`` (importing the modules that register oracles)."""
    from . import rules  # noqa: F401 - rule modules register theirs ("implicit", "policy")

    if name not in ORACLES:
        raise unknown_name("oracle", name, ORACLES)
    return ORACLES[name]


@register_oracle("backprop")
def backprop_oracle(rule, network, params, x, t) -> dict:
    """:math:`-\\partial L/\\partial\\theta` of the network's loss by backprop."""
    from .reference import backprop

    return backprop(network, params, x, t).descent()

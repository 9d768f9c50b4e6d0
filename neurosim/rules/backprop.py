"""Backpropagation as a rule: the identity case that proves the harness.

.. math:: \\Delta W_{lk} = -\\langle \\delta_l r_k^\\top \\rangle, \\qquad \\Delta b_l = -\\langle\\delta_l\\rangle

with :math:`\\delta` from :func:`neurosim.reference.backprop` (Rumelhart, Hinton &
Williams 1986).  Its alignment with the reference is 1 by construction; it is the
baseline every other rule is trained beside.  It runs on every projection operation
(:mod:`neurosim.conv`: convolution, locally connected, pooling, flatten).
"""
from __future__ import annotations

from ..reference import backprop
from ..network import OPERATIONS
from .base import Rule, RuleInfo, register


@register
class Backprop(Rule):
    name = "backprop"
    family = "backprop"
    citation = "Rumelhart, Hinton & Williams (1986). Learning representations by back-propagating errors."
    info = RuleInfo(aliases=("bp",), backends=("rate", "spiking"), arrays=("numpy", "torch"),
                    operations=OPERATIONS)

    def updates(self, network, params, state, x, target):
        return backprop(network, params, x, target).descent(), state, {}

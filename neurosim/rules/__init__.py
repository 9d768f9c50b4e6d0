"""Learning rules, one module per family, in a registry by name.

>>> from neurosim.rules import get_rule, list_rules
>>> rule = get_rule("fa")
"""
from .base import RULES, Rule, get_rule, list_rules, register, rule_class
from . import backprop, feedback_alignment  # noqa: F401  (registration side effects)

__all__ = ["RULES", "Rule", "get_rule", "list_rules", "register", "rule_class"]

"""Learning rules, one module per family, in a registry by name.

Every module in this package is imported here, so adding a rule means adding one
module with one ``@register``-ed class -- nothing else to edit.

>>> from neurosim.rules import get_rule, list_rules
>>> rule = get_rule("fa")
"""
import importlib
import pkgutil

from .base import RULES, Hyper, Rule, RuleInfo, get_rule, list_rules, load_entry_points, param, register, rule_class

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["RULES", "Hyper", "Rule", "RuleInfo", "get_rule", "list_rules", "load_entry_points", "param", "register",
           "rule_class"]

# Rules of other packages (entry-point group "neurosim.rules") join the registry last, so a
# plug-in can never replace a built-in rule of the same name.
load_entry_points()

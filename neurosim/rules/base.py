"""The rule interface and the registry of rules by name.

A rule proposes weight changes; it never applies them (DESIGN.md sign convention):
``rule.updates(network, params, x, target)`` returns ``dW`` per parameter key, where a
perfect gradient-following rule would return :math:`-\\partial L/\\partial\\theta`.

Adding a rule means one module with one class and one ``@register`` line::

    @register
    class MyRule(Rule):
        name = "my-rule"
        family = "hebbian"
        citation = "Author (year). Title."

        def updates(self, network, params, x, target):
            ...

Hyper-parameters are declared in ``defaults`` and passed as keyword arguments; unknown
ones are rejected with the list of known ones (scikit-learn style: ``__init__`` only
stores configuration; anything learned during training ends in ``_``).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..alignment import AlignmentReport
from ..errors import ConfigError, did_you_mean, unknown_name
from ..network import Network
from ..reference import backprop

RULES: dict[str, type["Rule"]] = {}
_ALIASES: dict[str, str] = {}


class Rule:
    """Base class of every learning rule.

    Class attributes
    ----------------
    name : str
        Registry name (``neurosim train --rule NAME``).
    family : str
        ``backprop``, ``feedback_alignment``, ``target_propagation``, ``predictive_coding``,
        ``equilibrium``, ``dendritic``, ``attention_gated`` or ``hebbian``.
    backends : tuple of str
        ``("rate",)`` or ``("rate", "spiking")``.
    reference : str
        What its updates are scored against (``backprop``, ``implicit``...).
    supervised : bool
        Whether it uses the target.
    losses : tuple of str
        Losses it supports, preferred first (the CLI's default network uses the first).
    defaults : dict
        Hyper-parameters and their default values.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    backends: ClassVar[tuple[str, ...]] = ("rate",)
    reference: ClassVar[str] = "backprop"
    supervised: ClassVar[bool] = True
    losses: ClassVar[tuple[str, ...]] = ("cross_entropy", "mse")
    citation: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, Any]] = {}
    #: Hyper-parameters of the short-budget ``neurosim compare`` run (truncated inference...).
    compare_hyper: ClassVar[dict[str, Any]] = {}
    #: Hyper-parameters ``neurosim train`` uses without a model card, where training wants
    #: other settings than the theory checks of ``defaults`` (pc: T = 20 inference steps).
    train_hyper: ClassVar[dict[str, Any]] = {}
    #: Training set-up that suits the rule (``neurosim compare`` and the CLI's defaults).
    train_defaults: ClassVar[dict[str, Any]] = {"optimizer": "adam", "learning_rate": 1e-3}

    def __init__(self, **hyper):
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ConfigError(f"rule '{self.name}': unknown hyper-parameter '{unknown[0]}'; known: {known}."
                              f"{did_you_mean(unknown[0], self.defaults)}")
        self.hyper = {**self.defaults, **hyper}
        for key, value in self.hyper.items():
            default = self.defaults[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConfigError(f"rule '{self.name}': hyper-parameter '{key}' must be a finite number, "
                                      f"got {value!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------- what a rule implements
    @classmethod
    def default_network(cls, sizes, *, activation: str = "tanh", name: str = "mlp") -> Network:
        """The network this rule runs on by default for layer ``sizes`` (``neurosim compare``).

        A fully connected chain with the rule's preferred loss; families with other needs
        (hard-sigmoid energy-based nets...) override it.
        """
        return Network.feedforward(list(sizes), activation=activation, loss=cls.losses[0], name=name)

    def build_default_network(self, sizes) -> Network:
        """:meth:`default_network` for ``sizes`` built with this instance's settings.

        Keyword options of ``default_network`` that are also hyper-parameters of the rule
        (burstprop's ``feedback``, the microcircuit's ``topdown``) take the instance's values,
        so ``--set feedback=symmetric`` reaches the network the CLI builds.
        """
        return type(self).default_network(sizes, **self.network_options(type(self).default_network))

    def network_options(self, builder) -> dict:
        """This rule's hyper-parameters that ``builder`` (a network constructor) takes as keywords."""
        import inspect

        params = inspect.signature(builder).parameters
        return {k: self.hyper[k] for k in params if k in self.hyper and k not in ("sizes", "activation", "name")}

    def prepare(self, network: Network) -> Network:
        """Return ``network`` with whatever the rule needs added (feedback pathways...).

        Must be idempotent and must never modify ``network`` (it returns a new one).
        The default needs nothing and checks nothing.
        """
        return network

    def init_params(self, network: Network, seed=0, dtype="float64") -> dict:
        """Initial parameters for a run of this rule (default :func:`neurosim.init_params`).

        Rules whose theory assumes a start state (the self-predicting microcircuit, a
        burst-cancelling apical pathway) override it; training, ``align`` and ``compare``
        all start from it.
        """
        from ..params import init_params

        return init_params(network, seed, dtype)

    def updates(self, network: Network, params: dict, x: np.ndarray, target: np.ndarray) -> dict:
        """The weight changes ``dW`` for one batch (batch mean), keyed like ``params``."""
        raise NotImplementedError

    def learning_rate_scales(self, network: Network) -> dict:
        """Per-parameter multipliers of the optimiser's learning rate (default: none).

        A rule whose parameters learn on different time scales (target propagation's
        inverse weights) returns ``{key: factor}``; keys not listed use factor 1.  It
        must be a learning-rate factor in the optimiser, not a rescaled update: Adam
        normalises an update's magnitude away.
        """
        return {}

    # -------------------------------------------------------------- shared behaviour
    def reference_updates(self, network: Network, params: dict, x, target) -> dict:
        """The reference descent direction the rule is scored against (default: backprop)."""
        return backprop(network, params, x, target).descent()

    def align(self, network: Network, params: dict, x, target) -> AlignmentReport:
        """Compare this rule's updates with :meth:`reference_updates` at the same state."""
        dw = self.updates(network, params, x, target)
        ref = self.reference_updates(network, params, x, target)
        return AlignmentReport.compare(dw, ref, rule=self.name, backend="rate",
                                       reference_name=self.reference)


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the registry under ``cls.name`` (and its aliases)."""
    if not cls.name:
        raise TypeError(f"{cls.__name__}: a registered rule needs a non-empty 'name'")
    for key in (cls.name, *cls.aliases):
        if key in RULES or key in _ALIASES:
            raise TypeError(f"rule name '{key}' is registered twice")
    RULES[cls.name] = cls
    for alias in cls.aliases:
        _ALIASES[alias] = cls.name
    return cls


def rule_class(name: str) -> type[Rule]:
    """The registered class for ``name`` (or an alias)."""
    key = _ALIASES.get(name, name)
    if key not in RULES:
        raise unknown_name("rule", name, list(RULES) + list(_ALIASES))
    return RULES[key]


def get_rule(name: str, **hyper) -> Rule:
    """Instantiate a registered rule with hyper-parameters."""
    return rule_class(name)(**hyper)


def list_rules() -> list[dict]:
    """``[{"name", "family", "backends", "reference", "supervised", "citation"}]`` sorted by family."""
    rows = [{"name": c.name, "family": c.family, "backends": list(c.backends), "reference": c.reference,
             "supervised": c.supervised, "citation": c.citation} for c in RULES.values()]
    return sorted(rows, key=lambda r: (r["family"], r["name"]))

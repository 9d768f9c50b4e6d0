"""The rule interface (second edition) and the registry of rules by name.

A rule proposes weight changes; it never applies them and it keeps nothing between calls
(docs/design.md, "The rule surface").  Its whole surface is eleven names:

identity
    ``name`` (required), ``family``, ``citation``
metadata
    ``info``: one :class:`RuleInfo` (reference oracle, supervised, losses, ...)
hyper-parameters
    ``Hyper``: a frozen dataclass of :func:`param` fields (declared constraints)
``network(spec)``
    the rule's network: a default one for layer sizes, or a given
    :class:`~neurosim.network.Network` with what the rule needs added (feedback
    pathways...); idempotent, never modifies its argument
``init(network, params, seed) -> state``
    whatever the rule carries from one batch to the next (BCM's thresholds, a
    random-number position, TP's schedule); default ``{}``
``updates(network, params, state, x, t) -> (dW, state, aux)``
    the proposed change per parameter key (a perfect gradient follower returns
    ``-dL/dW``), the next state, and diagnostics (``aux``: inference steps, relaxation
    counts, sampled actions)
optional
    ``init_params(network, seed, dtype)``, ``predict(network, params, x)``,
    ``learning_rate_scales(network)``

``updates`` is a pure function of its arguments: it must not modify ``params`` or
``state`` (a conformance test checks every registered rule).  That is what lets
:func:`neurosim.align` measure a rule at the training state without changing training.

Adding a rule means one module with one class and one ``@register`` line::

    @dataclass(frozen=True)
    class MyHyper(Hyper):
        rate: float = param(0.1, gt=0, doc="how fast it learns")

    @register
    class MyRule(Rule):
        name = "my-rule"
        family = "hebbian"
        citation = "Author (year). Title."
        info = RuleInfo(supervised=False)
        Hyper = MyHyper

        def updates(self, network, params, state, x, t):
            ...
            return dw, state, {}

Rules from other packages register through the ``neurosim.rules`` entry-point group
(``[options.entry_points] neurosim.rules = my-rule = mypkg.rules:MyRule``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, unknown_name
from ..network import Network
from ..validation import check, check_keys

RULES: dict[str, type["Rule"]] = {}
_ALIASES: dict[str, str] = {}

#: Families a rule may belong to (the ``rules`` table groups by them).
FAMILIES = ("backprop", "feedback_alignment", "target_propagation", "predictive_coding", "equilibrium",
            "dendritic", "attention_gated", "synthetic_gradients", "hebbian")


# --------------------------------------------------------------------------- hyper-parameters
def param(default: Any = dataclasses.MISSING, *, kind: str | None = None, ge=None, gt=None, le=None, lt=None,
          choices=None, allow_none: bool = False, doc: str = "", default_factory: Any = dataclasses.MISSING):
    """A hyper-parameter field with declared constraints (checked by :class:`Hyper`).

    ``kind`` defaults from the default value: ``int`` for ints, ``number`` for floats, ``bool``,
    ``str`` (with ``choices``), ``mapping`` for dicts.
    """
    if kind is None:
        sample = default if default is not dataclasses.MISSING else default_factory()
        kind = ("bool" if isinstance(sample, bool) else "int" if isinstance(sample, int)
                else "number" if isinstance(sample, float) else "str" if isinstance(sample, str)
                else "mapping" if isinstance(sample, Mapping) else "any")
    meta = {"kind": kind, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "allow_none": allow_none,
            "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Hyper(Mapping):
    """Base of every rule's hyper-parameter record: frozen, validated, readable as a mapping.

    Subclasses are frozen dataclasses whose fields come from :func:`param`.  Build one with
    :meth:`create` (unknown keys are errors with a did-you-mean); read fields as attributes
    (``hyper.beta``) or keys (``hyper["beta"]``, ``dict(hyper)``).
    """

    def __post_init__(self):
        self._validate(type(self).__name__)

    def _validate(self, owner: str) -> None:
        for f in fields(self):
            m = f.metadata
            if not m:
                continue
            value = check(owner, f.name, getattr(self, f.name), m["kind"], ge=m["ge"], gt=m["gt"], le=m["le"],
                          lt=m["lt"], choices=m["choices"], allow_none=m["allow_none"])
            object.__setattr__(self, f.name, value)  # ints from integral floats (TOML 3.0)

    @classmethod
    def create(cls, owner: str, values: Mapping[str, Any] | None = None) -> "Hyper":
        """A validated record from ``values`` (missing keys take their defaults)."""
        values = dict(values or {})
        check_keys(owner, values, [f.name for f in fields(cls)], what="hyper-parameter")
        defaults = cls()
        merged = {f.name: values.get(f.name, getattr(defaults, f.name)) for f in fields(cls)}
        probe = object.__new__(cls)
        for k, v in merged.items():
            object.__setattr__(probe, k, v)
        Hyper._validate(probe, owner)  # the owner's name in the message, before __post_init__'s
        return cls(**{f.name: getattr(probe, f.name) for f in fields(cls)})

    def replace(self, **changes) -> "Hyper":
        """A copy with ``changes`` (validated; unknown keys rejected)."""
        return type(self).create(type(self).__name__, {**dict(self), **changes})

    @classmethod
    def docs(cls) -> dict[str, str]:
        """``{name: doc}`` of every field."""
        return {f.name: f.metadata.get("doc", "") for f in fields(cls)}

    # Mapping protocol: dict(hyper), hyper["beta"], "beta" in hyper
    def __getitem__(self, key: str):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class NoHyper(Hyper):
    """A rule without hyper-parameters."""


# --------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class RuleInfo:
    """What the infrastructure needs to know about a rule, in one record (scikit-learn's Tags).

    Attributes
    ----------
    reference : str
        Name of the oracle in :data:`neurosim.oracles.ORACLES` its updates are scored against
        (``"backprop"``; ``"implicit"`` for EP; ``"policy"`` for attention-gated rules).
    supervised : bool
        Whether ``updates`` needs the target.
    losses : tuple of str
        Losses it supports, preferred first (its default network uses the first).
    aliases : tuple of str
        Other registry names.
    activation : str
        Hidden activation of its default network.
    backends : tuple of str
        ``("rate",)`` or ``("rate", "spiking")`` (a spiking test ties this to the spiking registry).
    measure : dict
        Hyper-parameter overrides under which :func:`neurosim.align` measures the update (TP's
        alternating schedule measures the forward phase: ``{"schedule": "parallel"}``).
    expectation : dict
        Overrides that turn a stochastic update into its expectation (AGREL:
        ``{"update": "expected"}``); ``align`` reports that cosine beside the applied one.
    arrays : tuple of str
        Array libraries its ``updates`` and ``predict`` compute with (:mod:`neurosim.arrays`):
        ``("numpy",)`` until its code takes its namespace from its arrays, then
        ``("numpy", "torch")``; ``train`` refuses another in one line, and the parity suite
        (tests/test_arrays.py) checks each declared library against numpy float64.
    """

    reference: str = "backprop"
    supervised: bool = True
    losses: tuple[str, ...] = ("cross_entropy", "mse")
    aliases: tuple[str, ...] = ()
    activation: str = "tanh"
    backends: tuple[str, ...] = ("rate",)
    measure: Mapping[str, Any] = field(default_factory=dict)
    expectation: Mapping[str, Any] = field(default_factory=dict)
    arrays: tuple[str, ...] = ("numpy",)
    #: Projection operations (:data:`neurosim.network.OPERATIONS`) its equations cover: dense
    #: only unless it says more (issue 17); :func:`check_rule_operations` refuses the rest.
    operations: tuple[str, ...] = ("dense",)


def check_rule_operations(rule: "Rule", network) -> None:
    """Raise :class:`ConfigError` (one line) if ``network`` has a projection whose operation
    ``rule`` cannot compute (its ``info.operations``): a rule written for dense weight matrices
    would otherwise multiply a kernel as a matrix, or fail obscurely.  Layer sizes pass."""
    if not isinstance(network, Network):
        return
    bad = [p for p in network.projections if p.operation not in rule.info.operations]
    if bad:
        able = ", ".join(sorted(n for n, c in RULES.items() if bad[0].operation in c.info.operations))
        raise ConfigError(f"rule '{rule.name}' cannot run projection '{bad[0].name}' ({bad[0].operation}) of network "
                          f"'{network.name}': its equations cover {', '.join(rule.info.operations)} projections "
                          f"only (info.operations); rules that run {bad[0].operation}: {able}")


# --------------------------------------------------------------------------- the rule
class Rule:
    """Base class of every learning rule (see the module docstring for the surface)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    info: ClassVar[RuleInfo] = RuleInfo()
    Hyper: ClassVar[type[Hyper]] = NoHyper

    def __init__(self, **hyper):
        self.hyper = self.Hyper.create(f"rule '{self.name}'", hyper)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    def replace(self, **hyper) -> "Rule":
        """The same rule with some hyper-parameters changed (a new object)."""
        return type(self)(**{**dict(self.hyper), **hyper})

    # -------------------------------------------------------------- what a rule implements
    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """The network this rule runs on.

        Parameters
        ----------
        spec : Network or sequence of int
            A description (returned with whatever the rule needs added) or layer sizes (a
            fully connected chain with ``info.activation`` and the first of ``info.losses``).
        activation, loss, name : str, optional
            Override the default network's hidden activation, loss and name (sizes only).

        Overrides call ``super().network(...)`` and add their pathways; the result must be
        the same when called again on it (idempotent).
        """
        if isinstance(spec, Network):
            check_rule_operations(self, spec)
            return spec
        try:
            sizes = [int(s) for s in spec]
        except (TypeError, ValueError):
            raise ConfigError(f"rule '{self.name}'.network: expected a Network or layer sizes like [64, 32, 10], "
                              f"got {spec!r}") from None
        return Network.feedforward(sizes, activation=activation or self.info.activation,
                                   loss=loss or self.info.losses[0], name=name or "mlp")

    def init_params(self, network: Network, seed=0, dtype="float64") -> dict:
        """Initial parameters (default :func:`neurosim.init_params`); rules with a theory of
        their start state (the self-predicting microcircuit) override it."""
        from ..params import init_params

        return init_params(network, seed, dtype)

    def init(self, network: Network, params: dict, seed: int = 0) -> Any:
        """The state carried between batches, at the start of a run (default: none, ``{}``)."""
        return {}

    def updates(self, network: Network, params: dict, state: Any, x: np.ndarray,
                target: np.ndarray | None) -> tuple[dict, Any, dict]:
        """``(dW, state, aux)`` for one batch (batch means), keyed like ``params``."""
        raise NotImplementedError(f"rule '{self.name}' does not implement updates()")

    def predict(self, network: Network, params: dict, x: np.ndarray) -> np.ndarray:
        """Output rates for ``x`` of shape (n, n_input); default the feed-forward pass.

        Rules with a read-out of their own (EP: the free fixed point) override it.
        """
        from ..reference import forward

        return forward(network, params, x).output

    def learning_rate_scales(self, network: Network) -> dict:
        """Per-parameter learning-rate factors (``{key: factor}``, default none)."""
        return {}

    # -------------------------------------------------------------- conveniences (not surface)
    @property
    def has_own_readout(self) -> bool:
        """Whether :meth:`predict` is the rule's own (not the feed-forward pass)."""
        return type(self).predict is not Rule.predict

    def step(self, network: Network, params: dict, x, target, *, seed: int = 0) -> dict:
        """``dW`` of one call from the rule's initial state (tests and quick looks)."""
        return self.updates(network, params, self.init(network, params, seed), x, target)[0]


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the registry under ``cls.name`` (and its aliases)."""
    if not cls.name:
        raise TypeError(f"{cls.__name__}: a registered rule needs a non-empty 'name'")
    if cls.family not in FAMILIES:
        raise TypeError(f"{cls.__name__}: family {cls.family!r} is not one of {', '.join(FAMILIES)}")
    if not (isinstance(cls.Hyper, type) and issubclass(cls.Hyper, Hyper) and dataclasses.is_dataclass(cls.Hyper)):
        raise TypeError(f"{cls.__name__}.Hyper must be a frozen dataclass deriving from neurosim.rules.Hyper")
    for key in (cls.name, *cls.info.aliases):
        if key in RULES or key in _ALIASES:
            raise TypeError(f"rule name '{key}' is registered twice")
    RULES[cls.name] = cls
    for alias in cls.info.aliases:
        _ALIASES[alias] = cls.name
    return cls


def load_entry_points() -> list[str]:
    """Register rules from other packages (entry-point group ``neurosim.rules``); their names.

    A plug-in whose class fails to import or register is reported in one line (a warning),
    not a traceback, and the built-in rules stay usable.
    """
    import warnings
    from importlib.metadata import entry_points

    added = []
    for ep in entry_points(group="neurosim.rules"):
        try:
            cls = ep.load()
            if RULES.get(getattr(cls, "name", None)) is cls:
                continue  # already loaded
            if not (isinstance(cls, type) and issubclass(cls, Rule)):
                raise TypeError(f"{ep.value} is not a neurosim.rules.Rule subclass")
            register(cls)  # refuses a name that is taken (a plug-in never replaces a built-in)
            added.append(cls.name)
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not break neurosim
            warnings.warn(f"neurosim.rules entry point '{ep.name}' ({ep.value}) was not loaded: {err}",
                          stacklevel=2)
    return added


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
    """``[{"name", "family", "backends", "arrays", "reference", "supervised", "citation"}]`` sorted by family."""
    rows = [{"name": c.name, "family": c.family, "backends": list(c.info.backends), "arrays": list(c.info.arrays),
             "reference": c.info.reference, "supervised": c.info.supervised, "citation": c.citation}
            for c in RULES.values()]
    return sorted(rows, key=lambda r: (r["family"], r["name"]))

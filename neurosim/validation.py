"""One place that checks values and writes every validation message.

Every user-facing check of a scalar (seeds, counts, rates, times, choices) goes through
:func:`check`, so every message has the same shape (scikit-learn's parameter-constraint
template)::

    rule 'pc': 'step_size' must be a number > 0, got -1.

The ``owner`` names the object (``"rule 'pc'"``, ``"RunSpec.training"``, ``"--lr"``) and the
message adds how to fix it where the constraint allows (the choices, a did-you-mean).
Errors are :class:`~neurosim.errors.ConfigError` (a ``ValueError``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError, did_you_mean

__all__ = ["check", "check_keys", "check_seed", "describe"]

#: Value kinds :func:`check` knows; ``number`` is a finite real (int or float, not bool).
KINDS = ("number", "int", "bool", "str", "mapping", "sequence", "any")


def describe(kind: str = "number", *, ge=None, gt=None, le=None, lt=None, choices=None,
             allow_none: bool = False) -> str:
    """The expectation in words: ``"a number > 0"``, ``"one of 'raise', 'warn'"``."""
    if choices is not None:
        text = "one of " + ", ".join(repr(c) for c in choices)
    else:
        text = {"number": "a finite number", "int": "an integer", "bool": "true or false", "str": "a string",
                "mapping": "a table (mapping)", "sequence": "a list", "any": "a value"}[kind]
        bounds = [f"{op} {b:g}" if isinstance(b, float) else f"{op} {b}"
                  for op, b in ((">=", ge), (">", gt), ("<=", le), ("<", lt)) if b is not None]
        if bounds:
            text = text.replace("a finite number", "a number") + " " + " and ".join(bounds)
    return text + (" or none" if allow_none else "")


def check(owner: str, name: str, value: Any, kind: str = "number", *, ge=None, gt=None, le=None, lt=None,
          choices: Iterable | None = None, allow_none: bool = False, hint: str = "") -> Any:
    """Return ``value`` (an ``int`` kind as ``int``) if it satisfies the constraints, else raise.

    Parameters
    ----------
    owner : str
        What holds the value, for the message (``"rule 'ep'"``).
    name : str
        The field (``"beta"``).
    kind : {"number", "int", "bool", "str", "mapping", "sequence", "any"}
        ``int`` accepts integral floats (TOML ``3.0``) and returns an ``int``; neither
        ``number`` nor ``int`` accepts booleans, NaN or infinities.
    ge, gt, le, lt : number, optional
        Bounds.
    choices : iterable, optional
        Allowed values (the message lists them and suggests the closest).
    allow_none : bool
        Accept ``None``.
    hint : str
        Appended to the message (how to fix it).
    """
    choices = tuple(choices) if choices is not None else None
    if value is None and allow_none:
        return None
    expected = describe(kind, ge=ge, gt=gt, le=le, lt=lt, choices=choices, allow_none=allow_none)

    def fail(extra: str = ""):
        raise ConfigError(f"{owner}: '{name}' must be {expected}, got {value!r}.{extra}"
                          + (f" {hint}" if hint else ""))

    if choices is not None:
        if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
            fail()
        try:
            ok = value in choices
        except TypeError:
            ok = False
        if not ok:
            fail(did_you_mean(str(value), [str(c) for c in choices]) if isinstance(value, str) else "")
        return value
    if kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            try:  # numpy scalars
                import numpy as np

                if isinstance(value, np.generic) and np.issubdtype(type(value), np.number) \
                        and not isinstance(value, np.bool_) and math.isfinite(float(value)):
                    value = value.item()
                else:
                    fail()
            except ImportError:  # pragma: no cover
                fail()
        if kind == "int":
            if not float(value).is_integer():
                fail()
            value = int(value)
        for bound, ok in ((ge, lambda v, b: v >= b), (gt, lambda v, b: v > b), (le, lambda v, b: v <= b),
                          (lt, lambda v, b: v < b)):
            if bound is not None and not ok(value, bound):
                fail()
        return value
    if kind == "bool" and not isinstance(value, bool):
        fail()
    if kind == "str" and not isinstance(value, str):
        fail()
    if kind == "mapping" and not isinstance(value, Mapping):
        fail()
    if kind == "sequence" and (isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable)):
        fail()
    return value


def check_seed(owner: str, seed: Any, name: str = "seed") -> int:
    """A seed: a non-negative integer (``numpy`` generators are taken elsewhere)."""
    return check(owner, name, seed, "int", ge=0, hint="Seeds are integers such as 0, 1, 2.")


def check_keys(owner: str, given: Iterable[str], known: Iterable[str], *, what: str = "key") -> None:
    """Raise on the first key of ``given`` that is not in ``known`` (with the known ones and a did-you-mean)."""
    known = list(known)
    for key in given:
        if key not in known:
            raise ConfigError(f"{owner}: unknown {what} '{key}'; known: {', '.join(sorted(known)) or 'none'}."
                              f"{did_you_mean(key, known)}")

"""Exceptions raised by neurosim.

Every exception derives from :class:`NeurosimError` *and* from the built-in
exception a Python user would expect (``ValueError``, ``TypeError``,
``FileNotFoundError``...), so ``except ValueError`` keeps working.  Messages are
one line: they name the object and the field, what was expected, what was
given, and how to fix it.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose."""


class ConfigError(NeurosimError, ValueError):
    """A description (Network, model card, rule hyper-parameter) is invalid."""


class ShapeError(NeurosimError, ValueError):
    """An array has the wrong shape or contains non-finite values."""


class UnknownNameError(ConfigError, KeyError):
    """A name (rule, activation, dataset, layer...) is not registered.

    Both a :class:`ConfigError` (a ``ValueError``) and a ``KeyError``.  ``KeyError``
    quotes its message when printed; this class does not.
    """

    def __str__(self) -> str:  # KeyError would print repr(message)
        return str(self.args[0]) if self.args else ""


class DataError(NeurosimError, ValueError):
    """A data file is corrupt, has a bad checksum or an unexpected format."""


class DataNotFoundError(NeurosimError, FileNotFoundError):
    """A data set could be found nowhere (the message lists every place tried)."""


class ConvergenceError(NeurosimError, RuntimeError):
    """Iterative dynamics (relaxation, inference, simulation) did not converge or diverged."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unregistered ``name`` of a given ``kind``."""
    choices = sorted(choices)
    return UnknownNameError(
        f"unknown {kind} '{name}'; choose one of: {', '.join(choices)}.{did_you_mean(name, choices)}"
    )

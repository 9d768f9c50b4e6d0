"""Random numbers as state that is returned, never kept.

A rule that draws random numbers (AGREL's actions, TP's corruption noise, EP's random
nudging sign) holds no generator.  Its state holds an :class:`RngState`, a frozen snapshot
of a NumPy ``PCG64`` bit generator; a call draws from a *copy* and returns the advanced
snapshot with its new state::

    key = RngState.from_seed(0)
    rng = key.generator()          # a fresh numpy Generator at this position
    a = rng.random(3)
    key = RngState.of(rng)         # the position after the draws

Drawing twice from the same snapshot gives the same numbers, so a measurement that calls
a rule with the training state cannot change what training draws next.  ``from_seed(s)``
starts where ``numpy.random.default_rng(s)`` starts, so seeds give the numbers the first
edition gave.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from .validation import check_seed

__all__ = ["RngState"]


@dataclass(frozen=True, eq=False)
class RngState:
    """A frozen position of a PCG64 generator (``bit_generator.state``)."""

    state: Any

    @classmethod
    def from_seed(cls, seed: int) -> "RngState":
        """The position of ``numpy.random.default_rng(seed)``."""
        return cls.of(np.random.default_rng(check_seed("RngState", seed)))

    @classmethod
    def of(cls, rng: np.random.Generator) -> "RngState":
        """The current position of ``rng`` (a copy; ``rng`` may go on drawing)."""
        return cls(copy.deepcopy(rng.bit_generator.state))

    def generator(self) -> np.random.Generator:
        """A new Generator at this position (drawing from it never changes this snapshot)."""
        bit = np.random.PCG64()
        bit.state = copy.deepcopy(self.state)
        return np.random.Generator(bit)

    def __eq__(self, other) -> bool:
        return isinstance(other, RngState) and _same(self.state, other.state)

    __hash__ = None  # type: ignore[assignment]


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(np.all(a == b))

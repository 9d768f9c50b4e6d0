"""Neuron models as parameters, and their rate transfer functions.

A rate neuron maps its (somatic) membrane potential ``u`` to a firing rate
``phi(u)``.  The transfer functions below are the ones the description layer
accepts by name (``Layer.activation``); each knows its derivative, which the
exact backprop oracle (:mod:`neurosim.reference`) and every local rule use.

Spiking neuron models (LIF, two-compartment LIF) are described here as plain
parameters too; the brian2 backend (:mod:`neurosim.spiking`) attaches units and
builds them.  This module imports no simulator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import unknown_name


@dataclass(frozen=True)
class Activation:
    """A pointwise rate transfer function :math:`\\phi(u)` and its derivative.

    Parameters
    ----------
    name : str
        Registry name (used in model cards).
    function : callable
        ``phi(u) -> ndarray`` of the same shape as ``u``.
    derivative : callable
        ``phi'(u) -> ndarray`` of the same shape as ``u``.  Where ``phi`` has a
        kink (relu at 0, hard sigmoid at 0 and 1) the derivative takes the value of
        the right-hand side below the kink, i.e. 0 at ``u = 0`` for relu; the
        finite-difference checks avoid kinks.
    bounds : (float, float)
        Range of the rates, ``(-inf, inf)`` when unbounded.
    """

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[float, float]

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.function(u)


def _sigmoid(u):
    # exp of a large negative argument overflows; the two-branch form never does.
    u = np.asarray(u)
    out = np.empty_like(u, dtype=np.result_type(u, np.float32))
    pos = u >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-u[pos]))
    e = np.exp(u[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _sigmoid_prime(u):
    s = _sigmoid(u)
    return s * (1.0 - s)


def _tanh_prime(u):
    t = np.tanh(u)
    return 1.0 - t * t


def _relu(u):
    return np.maximum(u, 0.0)


def _relu_prime(u):
    return (np.asarray(u) > 0).astype(np.result_type(u, np.float32))


def _hard_sigmoid(u):
    # Scellier & Bengio (2017): rho(u) = clip(u, 0, 1).
    return np.clip(u, 0.0, 1.0)


def _hard_sigmoid_prime(u):
    u = np.asarray(u)
    return ((u > 0) & (u < 1)).astype(np.result_type(u, np.float32))


def _linear(u):
    return np.asarray(u)


def _linear_prime(u):
    return np.ones_like(np.asarray(u, dtype=np.result_type(u, np.float32)))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _sigmoid_prime, (0.0, 1.0)),
        Activation("tanh", np.tanh, _tanh_prime, (-1.0, 1.0)),
        Activation("relu", _relu, _relu_prime, (0.0, np.inf)),
        Activation("hard_sigmoid", _hard_sigmoid, _hard_sigmoid_prime, (0.0, 1.0)),
        Activation("linear", _linear, _linear_prime, (-np.inf, np.inf)),
    )
}
_ALIASES = {"logistic": "sigmoid", "identity": "linear", "hardsigmoid": "hard_sigmoid",
            "hard-sigmoid": "hard_sigmoid"}


def canonical_activation(name: str) -> str:
    """Return the registry name of an activation, resolving aliases.

    Raises
    ------
    UnknownNameError
        If ``name`` is neither a registered activation nor an alias.
    """
    name = _ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return name


def get_activation(name: str) -> Activation:
    """Look up an :class:`Activation` by (alias) name."""
    return ACTIVATIONS[canonical_activation(name)]


# --------------------------------------------------------------------------- neuron models
#: Neuron models a :class:`~neurosim.network.Layer` may name, and the compartments each
#: has (a projection's ``target`` must be one of them).
NEURON_MODELS: dict[str, tuple[str, ...]] = {
    "rate": ("soma",),
    "rate_two_compartment": ("soma", "basal", "apical"),
    "lif": ("soma",),
    "lif_two_compartment": ("soma", "basal", "apical"),
}


def check_neuron_model(name: str) -> str:
    """Validate a neuron model name and return it."""
    if name not in NEURON_MODELS:
        raise unknown_name("neuron model", name, NEURON_MODELS)
    return name

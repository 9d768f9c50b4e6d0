"""Input encodings: how a batch of rate-side inputs becomes spiking input.

``"poisson"``
    The input layer is a population of Poisson spike sources with rates
    :math:`r_j = \\rho_j \\cdot r_0` (:math:`r_0` = 100 Hz, so an input of 1 is 100 Hz).
    Inputs must be >= 0 (they are rates).
``"current"``
    The input layer is not simulated: every projection leaving it injects its mean
    current :math:`I_{ext} = V_{th} \\sum_j W_{ij} x_j` straight into the target
    compartment of the post-synaptic layer -- what a Poisson input would give on average,
    without the shot noise.  Inputs may be negative.

In a stream (:func:`~neurosim.spiking.build`) the samples are rows of a ``TimedArray`` with
one row per presentation (Poisson rates of the input group, or the injected currents of
each post layer and compartment), so another batch of the same size recompiles nothing.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, unknown_name
from ..network import Network
from ..reference import check_batch

ENCODINGS = ("poisson", "current")


def check_encoding(name: str) -> str:
    if name not in ENCODINGS:
        raise unknown_name("input encoding", name, ENCODINGS)
    return name


def check_inputs(network: Network, x, encoding: str) -> np.ndarray:
    """Validate a batch ``x`` of shape (batch, n_input) for ``encoding``; returns float64."""
    x, _ = check_batch(network, x, dtype=np.float64)
    if encoding == "poisson" and np.any(x < 0):
        raise ShapeError(f"x: Poisson encoding needs rates >= 0, got a minimum of {x.min():.4g}; rescale the "
                         "inputs to [0, 1] or build with encoding='current'")
    return x

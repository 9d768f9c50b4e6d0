"""Toy tasks generated from their definition (nothing is downloaded or stored).

``"xor"``, ``"parity"``
    Every pattern of 2 (``"parity"``: ``n_bits``, default 4) binary inputs labelled by
    their parity, two classes; the training and test sets are the same full truth table [1]_.
``"rhw-xor"``
    Exclusive-or with ONE sigmoid output unit (target 0 or 1), as in the 2-2-1 network of
    Rumelhart, Hinton & Williams [2]_: a regression set (``n_classes = 0``) whose ``t_*``
    hold the single target column (``"xor"`` is the two-class, one-hot version).
``"mirror-symmetry"``
    All :math:`2^n` binary strings (``n_bits``, default 6); the target is 1 when the string
    is its own mirror image [2]_ (8 of the 64 six-bit strings are).
``"teacher-student"``
    Regression on the outputs of a fixed random tanh network (20-10-5 by default) fed
    with standard-normal inputs [3]_.

References
----------
.. [1] D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning internal
   representations by error propagation", in Parallel Distributed Processing, vol. 1,
   MIT Press, 1986.
.. [2] D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning representations by
   back-propagating errors", Nature 323:533-536, 1986.
.. [3] D. Saad and S. A. Solla, "On-line learning in soft committee machines",
   Phys. Rev. E 52(4):4225-4243, 1995.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..validation import check
from .dataset import Dataset
from .registry import register_dataset

__all__ = ["mirror_symmetry", "parity", "rhw_xor", "teacher_student", "truth_table"]


def truth_table(n_bits: int) -> np.ndarray:
    """All ``2**n_bits`` binary patterns as float32, row i holding the bits of i (most significant first)."""
    shifts = np.arange(n_bits - 1, -1, -1)
    return ((np.arange(2**n_bits)[:, None] >> shifts) & 1).astype(np.float32)


def parity(n_bits: int = 4, name: str = "parity") -> Dataset:
    """The ``n_bits``-bit parity task, two classes, train = test = the truth table.

    .. math:: y(x) = \\sum_i x_i \\bmod 2
    """
    n_bits = check(f"load_dataset('{name}')", "n_bits", n_bits, "int", ge=1, le=20)
    x = truth_table(n_bits)
    y = x.sum(axis=1).astype(np.int64) % 2
    return Dataset(name=name, x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy(),
                   n_classes=2, image_shape=None,
                   source=f"generated truth table of {n_bits}-bit parity (train = test)")


@register_dataset("xor", summary="2-bit XOR truth table, 2 classes, train = test (Rumelhart et al. 1986)")
def _xor() -> Dataset:
    return parity(2, name="xor")


@register_dataset("parity", n_bits=4, summary="n-bit parity truth table (n_bits=4), 2 classes, train = test")
def _parity(*, n_bits) -> Dataset:
    return parity(n_bits)


@register_dataset("rhw-xor", summary="XOR with one 0/1 target (regression), 4 patterns, train = test "
                                     "(Rumelhart, Hinton & Williams 1986)")
def rhw_xor() -> Dataset:
    """XOR for a network with one sigmoid output: 4 patterns, targets 0/1 (train = test).

    Returns
    -------
    Dataset
        ``x_train`` of shape (4, 2), ``t_train`` of shape (4, 1) with
        :math:`t = x_1 \\oplus x_2`; ``n_classes = 0``.
    """
    x = truth_table(2)
    t = (x.sum(axis=1) % 2)[:, None].astype(np.float64)
    y = np.zeros(4, dtype=np.int64)  # one output column: the "label" is always column 0
    return Dataset(name="rhw-xor", x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy(), n_classes=0,
                   image_shape=None, t_train=t, t_test=t.copy(),
                   source="generated XOR truth table, one 0/1 target (Rumelhart et al. 1986); train = test")


@register_dataset("mirror-symmetry", n_bits=6, summary="all 2^n bit strings (n_bits=6), target 1 if "
                                                       "palindromic (regression), train = test (RHW 1986)")
def mirror_symmetry(n_bits: int = 6) -> Dataset:
    """Mirror-symmetry detection (Rumelhart, Hinton & Williams 1986, Fig. 1).

    .. math:: t(x) = \\prod_{i=1}^{\\lfloor n/2 \\rfloor} [x_i = x_{n+1-i}]

    Parameters
    ----------
    n_bits : int
        String length (6 in the paper); every :math:`2^n` string is a pattern.

    Returns
    -------
    Dataset
        ``x`` of shape (2**n_bits, n_bits) in 0/1, ``t`` of shape (2**n_bits, 1); train = test.
    """
    n_bits = check("load_dataset('mirror-symmetry')", "n_bits", n_bits, "int", ge=2, le=16)
    x = truth_table(n_bits)
    t = np.all(x == x[:, ::-1], axis=1).astype(np.float64)[:, None]
    y = np.zeros(len(x), dtype=np.int64)
    return Dataset(name="mirror-symmetry", x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy(), n_classes=0,
                   image_shape=None, t_train=t, t_test=t.copy(),
                   source=f"generated: all {len(x)} strings of {n_bits} bits, target 1 if palindromic "
                          "(Rumelhart et al. 1986); train = test")


def teacher_student(n_train: int = 1000, n_test: int = 200, seed: int = 0,
                    layers: Sequence[int] = (20, 10, 5)) -> Dataset:
    """Regression on a fixed random tanh teacher.

    .. math:: x \\sim \\mathcal N(0, I), \\quad t = W_L \\tanh(\\cdots \\tanh(W_1 x)),
              \\quad (W_l)_{ij} \\sim \\mathcal N(0, 1/\\text{fan-in})

    The teacher, the training inputs and the test inputs come from three independent
    streams of ``seed``, so ``n_train`` changes neither the teacher nor the test set.
    """
    owner = "load_dataset('teacher-student')"
    try:
        layers = tuple(layers)
    except TypeError:
        layers = (layers,)
    if len(layers) < 2:
        raise ConfigError(f"{owner}: 'layers' must be at least 2 positive integers (input, hidden..., output), "
                          f"got {layers!r}.")
    layers = tuple(check(owner, "layers", n, "int", gt=0) for n in layers)
    teacher_seq, train_seq, test_seq = np.random.SeedSequence(seed).spawn(3)
    teacher_rng = np.random.default_rng(teacher_seq)
    weights = [teacher_rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_out, n_in))
               for n_in, n_out in itertools.pairwise(layers)]

    def teacher(x: np.ndarray) -> np.ndarray:
        # The float32 inputs are what a student sees, so the targets are computed from
        # them exactly: a float64 student can reach zero loss.
        h = x.astype(np.float64)
        for w in weights[:-1]:
            h = np.tanh(h @ w.T)
        return h @ weights[-1].T

    splits = {}
    for split, n, seq in (("train", n_train, train_seq), ("test", n_test, test_seq)):
        x = np.random.default_rng(seq).standard_normal((n, layers[0])).astype(np.float32)
        t = teacher(x)
        splits.update({f"x_{split}": x, f"t_{split}": t, f"y_{split}": t.argmax(axis=1)})
    arch = "-".join(str(n) for n in layers)
    return Dataset(name="teacher-student", n_classes=0, image_shape=None,
                   source=f"generated by a random tanh teacher {arch}, seed {seed}", **splits)


@register_dataset("teacher-student", generates=True, layers=(20, 10, 5),
                  summary="regression on a random tanh teacher 20-10-5, 1000/200 standard-normal inputs "
                          "(Saad & Solla 1995)")
def _teacher_student(*, n_train, n_test, seed, layers) -> Dataset:
    return teacher_student(1000 if n_train is None else n_train, 200 if n_test is None else n_test, seed, layers)

"""The :class:`Dataset` record every loader returns, its targets and class-balanced subsets."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError, unknown_name
from ..validation import check, check_array, check_seed

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A supervised data set split into a training and a test part.

    Parameters
    ----------
    name : str
        Canonical name of the data set (``"digits"``, ``"fashion-mnist"``...).
    x_train : ndarray of shape (n_train, n_features), float32
        Training inputs, finite. Image sets hold pixel intensities in [0, 1]; the
        ``"teacher-student"`` task holds standard-normal inputs (not in [0, 1]).
    y_train : ndarray of shape (n_train,), int64
        Class labels in ``0 .. n_classes - 1``. For a regression task (``n_classes == 0``)
        the index of the largest target, so that a "classification error" stays defined.
    x_test : ndarray of shape (n_test, n_features), float32
        Test inputs, finite.
    y_test : ndarray of shape (n_test,), int64
        Test labels.
    n_classes : int
        Number of classes; 0 marks a regression task whose targets are ``t_*``.
    image_shape : tuple of int or None
        Shape of one input as an image, channels first, as a conv net's input layer takes it:
        ``(1, 28, 28)`` for Fashion-MNIST/MNIST, ``(3, 32, 32)`` for CIFAR; None for non-image
        inputs.
    source : str
        Where the numbers came from (file paths, ``"embedded ..."``, ``"generated ..."``).
    t_train : ndarray of shape (n_train, n_outputs), float64, or None
        Regression targets (required when ``n_classes == 0``, None otherwise), finite.
    t_test : ndarray of shape (n_test, n_outputs), float64, or None
        Regression targets of the test set.

    Raises
    ------
    ShapeError
        On construction, for inputs or targets holding NaN or infinities, an empty split,
        labels out of range or non-integer, or lengths that do not match: one line naming
        the field.
    ConfigError
        For a bad ``n_classes`` or targets given to a classification set (or missing from a
        regression set).

    Notes
    -----
    Inputs and labels are coerced to float32 / int64 on construction; the arrays are
    otherwise used as given (no copy). Every loader returns fresh arrays, so modifying
    one data set never changes another.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, ...] | None
    source: str
    t_train: np.ndarray | None = None
    t_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        where = f"Dataset '{self.name}'"
        n_classes = check(where, "n_classes", self.n_classes, "int", ge=0,
                          hint="Use 0 for a regression task with targets t_train/t_test.")
        regression = n_classes == 0
        if regression and (self.t_train is None or self.t_test is None):
            raise ConfigError(f"{where}: a regression task (n_classes=0) needs both t_train and t_test")
        if not regression and (self.t_train is not None or self.t_test is not None):
            raise ConfigError(f"{where}: t_train/t_test are only for regression tasks (n_classes=0), "
                              f"got n_classes={n_classes}")
        # One line per check; the first split fixes the number of features (and outputs).
        fields: dict[str, Any] = {"n_classes": n_classes}
        n_features, n_outputs = "n_features", "n_outputs"
        for split in ("train", "test"):
            x = fields[f"x_{split}"] = check_array(where, f"x_{split}", getattr(self, f"x_{split}"), np.float32,
                                                   shape=("n_samples", n_features), finite=True, nonempty=True)
            n_samples, n_features = x.shape
            if regression:
                t = fields[f"t_{split}"] = check_array(where, f"t_{split}", getattr(self, f"t_{split}"),
                                                       np.float64, shape=(n_samples, n_outputs), finite=True,
                                                       nonempty=True)
                n_outputs = t.shape[1]
            fields[f"y_{split}"] = check_array(where, f"y_{split}", getattr(self, f"y_{split}"), np.int64,
                                               shape=(n_samples,),
                                               within=(0, (n_outputs if regression else n_classes) - 1))
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if math.prod(shape) != n_features:
                raise ShapeError(f"{where}: 'image_shape' {shape} holds {math.prod(shape)} pixels but there are "
                                 f"{n_features} features")
            fields["image_shape"] = shape
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
                f"n_features={self.n_features}, n_classes={self.n_classes}, "
                f"image_shape={self.image_shape}, source={self.source!r})")

    @property
    def n_features(self) -> int:
        """Number of input features (pixels)."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    def targets(self, split: str = "train", encoding: str = "one_hot",
                dtype: Any = np.float64) -> np.ndarray:
        """Return the training targets of one split.

        Parameters
        ----------
        split : {"train", "test"}
            Which part of the data set.
        encoding : {"one_hot", "pm1"}
            Classification only: ``"one_hot"`` puts 1 at the label and 0 elsewhere,
            ``"pm1"`` puts +1 at the label and -1 elsewhere (for tanh outputs).
            Ignored for regression tasks, whose targets are ``t_*``.
        dtype : numpy dtype
            Data type of the result.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples, n_outputs) for regression
            A fresh array.
        """
        if split not in ("train", "test"):
            raise unknown_name("split", split, ("train", "test"))
        if self.n_classes == 0:
            return np.array(getattr(self, f"t_{split}"), dtype=dtype, copy=True)
        off_values = {"one_hot": 0, "pm1": -1}
        if encoding not in off_values:
            raise unknown_name("target encoding", encoding, off_values)
        y = getattr(self, f"y_{split}")
        out = np.full((y.shape[0], self.n_classes), off_values[encoding], dtype=dtype)
        out[np.arange(y.shape[0]), y] = 1
        return out

    def subset(self, n_train: int | None = None, n_test: int | None = None,
               seed: int = 0) -> Dataset:
        """Return a random, class-balanced subset.

        Samples are drawn class by class in turn (in a random order fixed by ``seed``),
        so every class gets ``n // n_classes`` or one more sample as long as it has
        enough. The kept samples stay in their original order. Training and test
        subsets use independent random streams: changing ``n_train`` does not change
        which test samples are kept.

        Parameters
        ----------
        n_train, n_test : int or None
            Number of samples to keep; None keeps the whole split.
        seed : int
            Seed of the selection; the same seed gives the same subset.

        Returns
        -------
        Dataset
            A data set with fresh arrays.

        Raises
        ------
        ConfigError
            If a size is not a positive int or exceeds the samples available.
        """
        owner = f"Dataset '{self.name}'.subset"
        sizes = {"train": check(owner, "n_train", n_train, "int", gt=0, allow_none=True),
                 "test": check(owner, "n_test", n_test, "int", gt=0, allow_none=True)}
        seed = check_seed(owner, seed)
        fields: dict[str, Any] = {}
        for stream, (split, n) in enumerate(sizes.items()):
            available = getattr(self, f"n_{split}")
            if n is None:
                index = np.arange(available)
            elif n > available:
                raise ConfigError(f"{owner}: n_{split}={n} exceeds the {available} {split} samples "
                                  f"available; pass n_{split} <= {available}")
            else:
                rng = np.random.default_rng([seed, stream])
                index = _balanced_choice(getattr(self, f"y_{split}"), n, rng, stratify=self.n_classes > 0)
            fields[f"x_{split}"] = getattr(self, f"x_{split}")[index]
            fields[f"y_{split}"] = getattr(self, f"y_{split}")[index]
            t = getattr(self, f"t_{split}")
            fields[f"t_{split}"] = None if t is None else t[index]
        source = self.source
        if n_train is not None or n_test is not None:
            source += f"; subset n_train={n_train}, n_test={n_test}, seed={seed}"
        return dataclasses.replace(self, source=source, **fields)

    def validation_split(self, fraction: float, seed: int = 0) -> Dataset:
        """Hold out a class-balanced ``fraction`` of the *training* set as the evaluation split.

        The returned data set trains on the rest of the training set and its ``x_test`` /
        ``y_test`` (/ ``t_test``) are the held-out training samples: the test set is dropped,
        so nothing computed from the result (selection in ``neurosim tune``) can see it.
        ``ceil(fraction * n_train)`` samples are held out, drawn round-robin over the classes
        (as :meth:`subset`) by a generator of their own (``[seed, 2]``), so the same seed
        gives the same split.

        Parameters
        ----------
        fraction : float
            In (0, 1); at least one sample stays on each side.
        seed : int

        Returns
        -------
        Dataset
            Fresh arrays; ``source`` says which split it is.

        Raises
        ------
        ConfigError
            For a fraction outside (0, 1) or one that leaves a side empty.
        """
        owner = f"Dataset '{self.name}'.validation_split"
        fraction = check(owner, "fraction", fraction, gt=0, lt=1)
        seed = check_seed(owner, seed)
        n_val = math.ceil(fraction * self.n_train)
        if not 1 <= n_val < self.n_train:
            raise ConfigError(f"{owner}: 'fraction' = {fraction} holds out {n_val} of {self.n_train} training "
                              "samples; choose a fraction that leaves samples on both sides")
        held = _balanced_choice(self.y_train, n_val, np.random.default_rng([seed, 2]), stratify=self.n_classes > 0)
        keep = np.setdiff1d(np.arange(self.n_train), held)
        fields: dict[str, Any] = {}
        for split, index in (("train", keep), ("test", held)):
            fields[f"x_{split}"] = self.x_train[index]
            fields[f"y_{split}"] = self.y_train[index]
            fields[f"t_{split}"] = None if self.t_train is None else self.t_train[index]
        return dataclasses.replace(self, source=f"{self.source}; validation split: {n_val} of the {self.n_train} "
                                                f"training samples held out (seed {seed}), test set dropped",
                                   **fields)


def _balanced_choice(labels: np.ndarray, n: int, rng: np.random.Generator,
                     stratify: bool) -> np.ndarray:
    """Indices of ``n`` samples taken round-robin over the classes, sorted."""
    perm = rng.permutation(labels.shape[0])
    if not stratify:
        return np.sort(perm[:n])
    permuted = labels[perm]
    by_class = np.argsort(permuted, kind="stable")
    sorted_labels = permuted[by_class]
    # Rank of each sample among the samples of its class, in permutation order; taking
    # rank 0 of every class, then rank 1... is a round-robin over the classes.
    rank = np.empty_like(perm)
    rank[by_class] = np.arange(perm.size) - np.searchsorted(sorted_labels, sorted_labels)
    take = np.lexsort((np.arange(perm.size), rank))[:n]
    return np.sort(perm[take])

"""``"digits"``: 8x8 handwritten digits embedded in the package (no download).

1797 images: the test part of the UCI "Optical Recognition of Handwritten Digits" data set
as shipped by scikit-learn [1]_ (CC BY 4.0, see ``neurosim/data/DIGITS_LICENSE.txt``). A
fixed stratified split gives 1437 training and 360 test images; pixels 0..16 are scaled to
[0, 1] by /16. The file's sha256 is checked before every parse.

References
----------
.. [1] E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI
   Machine Learning Repository, 1998. https://doi.org/10.24432/C50P49
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .registry import register_dataset

__all__ = ["DIGITS_PATH", "DIGITS_SHA256"]

#: The embedded digits file and the sha256 of its bytes, checked before every parse.
DIGITS_PATH = Path(__file__).resolve().parent / "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


@functools.lru_cache(maxsize=2)
def _cached_digits(path: str, mtime_ns: int, size: int) -> np.ndarray:
    data = Path(path).read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != DIGITS_SHA256:
        raise DataError(f"{path}: checksum mismatch for the embedded digits: expected sha256 "
                        f"{DIGITS_SHA256}, got {got}; the package installation is damaged, "
                        "reinstall neurosim")
    try:
        table = np.loadtxt(gzip.decompress(data).decode("ascii").splitlines(),
                           delimiter=",", dtype=np.int64)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{path}: cannot parse the embedded digits ({exc})") from exc
    if table.shape != (1797, 65) or table[:, :64].min() < 0 or table[:, :64].max() > 16:
        raise DataError(f"{path}: expected 1797 rows of 64 pixels in 0..16 and a label, got "
                        f"shape {table.shape}")
    table.flags.writeable = False
    return table


def stratified_test_mask(labels: np.ndarray, test_fraction: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of a test set holding ``test_fraction`` of every class.

    The total is ``ceil(test_fraction * n)`` (scikit-learn's convention); it is shared
    among classes by largest remainder, in exact integer arithmetic so that the split
    does not depend on floating-point rounding.
    """
    counts = np.bincount(labels)
    n = labels.shape[0]
    n_test = math.ceil(test_fraction * n)
    quota, remainder = np.divmod(counts * n_test, n)
    extra = n_test - int(quota.sum())
    # Largest remainders first; ties go to the lower class index (stable sort).
    quota[np.argsort(-remainder, kind="stable")[:extra]] += 1
    mask = np.zeros(n, dtype=bool)
    for label, k in enumerate(quota):
        members = np.flatnonzero(labels == label)
        mask[rng.permutation(members)[:k]] = True
    return mask


@register_dataset("digits", summary="8x8 handwritten digits, 10 classes, 1437/360 (UCI, Alpaydin & Kaynak "
                                    "1998); embedded, no download")
def load_digits() -> Dataset:
    """The embedded digits with their fixed stratified 80/20 split (seed 0)."""
    path = DIGITS_PATH
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: the embedded digits file is missing ({exc.strerror or exc}); "
                        "reinstall neurosim") from exc
    table = _cached_digits(str(path), st.st_mtime_ns, st.st_size)
    pixels, labels = table[:, :64], table[:, 64]
    # Seed 0 is part of the data set's definition: every user gets the same split.
    test = stratified_test_mask(labels, 0.2, np.random.default_rng(0))
    x = pixels.astype(np.float32) / np.float32(16)
    return Dataset(
        name="digits",
        x_train=x[~test], y_train=labels[~test].copy(),
        x_test=x[test], y_test=labels[test].copy(),
        n_classes=10,
        image_shape=(1, 8, 8),
        source=f"embedded {path.name} (UCI optical digits, Alpaydin & Kaynak 1998, CC BY 4.0; "
               "stratified 80/20 split, seed 0)",
    )


def clear_cache() -> None:
    """Forget the parsed digits file."""
    _cached_digits.cache_clear()

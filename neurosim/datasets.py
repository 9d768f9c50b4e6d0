"""Data sets: real image loaders, an embedded offline default and toy tasks.

Every loader returns a :class:`Dataset` with the same layout, so a rule, the training
loop and the backprop reference never care where the numbers came from:
``x_*`` is ``float32`` of shape ``(n_samples, n_features)`` and ``y_*`` is ``int64`` of
shape ``(n_samples,)``.

Available data sets (:func:`available_datasets`)

``"digits"``
    8x8 handwritten digits, 1797 images, embedded in the package (no download). This
    is the test part of the UCI "Optical Recognition of Handwritten Digits" data set
    as shipped by scikit-learn [1]_ (CC BY 4.0, see ``neurosim/data/DIGITS_LICENSE.txt``).
    A fixed stratified split gives 1437 training and 360 test images.
``"fashion-mnist"`` (aliases ``"fashion_mnist"``, ``"fmnist"``)
    28x28 grey-level images of clothing, 60000 training / 10000 test [2]_.
``"mnist"``
    28x28 handwritten digits, 60000 training / 10000 test [3]_.
``"xor"``, ``"parity"``
    Every pattern of 2 (``"parity"``: ``n_bits``, default 4) binary inputs labelled by
    their parity; the training and test sets are the same full truth table [4]_.
``"teacher-student"``
    Regression on the outputs of a fixed random tanh network (20-10-5 by default) fed
    with standard-normal inputs [5]_.

The two MNIST-like sets are read from the four IDX files distributed upstream. They
are searched for, in this order (the first folder that holds all four wins):

1. the ``data_dir`` argument;
2. ``$NEUROSIM_DATA/<name>/`` and ``$NEUROSIM_DATA/``;
3. the user cache ``${XDG_CACHE_HOME:-~/.cache}/neurosim/<name>/``;
4. system folders (Fashion-MNIST: ``/usr/share/datasets/fashion-mnist/``, from the
   Debian package ``dataset-fashion-mnist``);
5. a download from the upstream mirrors into the user cache (``download=True``).

Files are checked against their published checksums before they are parsed (pass
``verify=False`` for IDX files you made yourself) and the parsed arrays are cached in
the process, so loading a set a second time costs little more than a float conversion.

References
----------
.. [1] E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI
   Machine Learning Repository, 1998. https://doi.org/10.24432/C50P49
.. [2] H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a novel image dataset for
   benchmarking machine learning algorithms", arXiv:1708.07747, 2017.
.. [3] Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied
   to document recognition", Proc. IEEE 86(11):2278-2324, 1998.
.. [4] D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning internal
   representations by error propagation", in Parallel Distributed Processing, vol. 1,
   MIT Press, 1986.
.. [5] D. Saad and S. A. Solla, "On-line learning in soft committee machines",
   Phys. Rev. E 52(4):4225-4243, 1995.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.client
import itertools
import math
import numbers
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    ShapeError,
    unknown_name,
)

__all__ = [
    "Dataset",
    "available_datasets",
    "clear_cache",
    "find_idx_files",
    "load_dataset",
    "load_idx",
    "write_idx",
]

#: The embedded digits file and the sha256 of its bytes, checked before every parse.
DIGITS_PATH = Path(__file__).resolve().parent / "data" / "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

#: Seconds a download may wait on the network before the next mirror is tried.
DOWNLOAD_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A supervised data set split into a training and a test part.

    Parameters
    ----------
    name : str
        Canonical name of the data set (``"digits"``, ``"fashion-mnist"``...).
    x_train : ndarray of shape (n_train, n_features), float32
        Training inputs. Image sets hold pixel intensities in [0, 1]; the
        ``"teacher-student"`` task holds standard-normal inputs (not in [0, 1]).
    y_train : ndarray of shape (n_train,), int64
        Class labels in ``0 .. n_classes - 1``. For a regression task (``n_classes == 0``)
        the index of the largest target, so that a "classification error" stays defined.
    x_test : ndarray of shape (n_test, n_features), float32
        Test inputs.
    y_test : ndarray of shape (n_test,), int64
        Test labels.
    n_classes : int
        Number of classes; 0 marks a regression task whose targets are ``t_*``.
    image_shape : tuple of int or None
        Shape of one input as an image, e.g. ``(28, 28)``; None for non-image inputs.
    source : str
        Where the numbers came from (file paths, ``"embedded ..."``, ``"generated ..."``).
    t_train : ndarray of shape (n_train, n_outputs), float64, or None
        Regression targets (required when ``n_classes == 0``, None otherwise).
    t_test : ndarray of shape (n_test, n_outputs), float64, or None
        Regression targets of the test set.

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
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, numbers.Integral) \
                or self.n_classes < 0:
            raise ConfigError(f"{where}.n_classes: expected an int >= 0, got {self.n_classes!r}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        for split in ("train", "test"):
            x = np.asarray(getattr(self, f"x_{split}"), dtype=np.float32)
            if x.ndim != 2:
                raise ShapeError(f"{where}.x_{split}: expected shape (n_samples, n_features), "
                                 f"got shape {x.shape}")
            y = np.asarray(getattr(self, f"y_{split}"))
            if not np.issubdtype(y.dtype, np.integer):
                raise ShapeError(f"{where}.y_{split}: expected integer labels, got dtype {y.dtype}")
            y = y.astype(np.int64, copy=False)
            if y.shape != (x.shape[0],):
                raise ShapeError(f"{where}.y_{split}: expected shape ({x.shape[0]},) to match "
                                 f"x_{split}, got shape {y.shape}")
            if self.n_classes and y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise ShapeError(f"{where}.y_{split}: labels must lie in 0..{self.n_classes - 1}, "
                                 f"got values in {y.min()}..{y.max()}")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        if self.x_test.shape[1] != self.x_train.shape[1]:
            raise ShapeError(f"{where}.x_test: expected {self.x_train.shape[1]} features like "
                             f"x_train, got {self.x_test.shape[1]}")
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if math.prod(shape) != self.x_train.shape[1]:
                raise ShapeError(f"{where}.image_shape: {shape} holds {math.prod(shape)} pixels "
                                 f"but there are {self.x_train.shape[1]} features")
            object.__setattr__(self, "image_shape", shape)
        has_t = (self.t_train is not None, self.t_test is not None)
        if self.n_classes == 0 and has_t != (True, True):
            raise ConfigError(f"{where}: a regression task (n_classes=0) needs both t_train "
                              "and t_test")
        if self.n_classes > 0 and any(has_t):
            raise ConfigError(f"{where}: t_train/t_test are only for regression tasks "
                              f"(n_classes=0), got n_classes={self.n_classes}")
        if self.n_classes == 0:
            for split in ("train", "test"):
                t = np.asarray(getattr(self, f"t_{split}"), dtype=np.float64)
                n = getattr(self, f"x_{split}").shape[0]
                if t.ndim != 2 or t.shape[0] != n:
                    raise ShapeError(f"{where}.t_{split}: expected shape ({n}, n_outputs), "
                                     f"got shape {t.shape}")
                object.__setattr__(self, f"t_{split}", t)
            if self.t_test.shape[1] != self.t_train.shape[1]:
                raise ShapeError(f"{where}.t_test: expected {self.t_train.shape[1]} outputs "
                                 f"like t_train, got {self.t_test.shape[1]}")

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
        _check_size("n_train", n_train)
        _check_size("n_test", n_test)
        seed = _check_seed(seed)
        fields: dict[str, Any] = {}
        for stream, (split, n) in enumerate((("train", n_train), ("test", n_test))):
            available = getattr(self, f"n_{split}")
            if n is None:
                index = np.arange(available)
            elif n > available:
                raise ConfigError(f"Dataset '{self.name}'.subset: n_{split}={n} exceeds the "
                                  f"{available} {split} samples available; pass "
                                  f"n_{split} <= {available}")
            else:
                rng = np.random.default_rng([seed, stream])
                index = _balanced_choice(getattr(self, f"y_{split}"), int(n), rng,
                                         stratify=self.n_classes > 0)
            fields[f"x_{split}"] = getattr(self, f"x_{split}")[index]
            fields[f"y_{split}"] = getattr(self, f"y_{split}")[index]
            t = getattr(self, f"t_{split}")
            fields[f"t_{split}"] = None if t is None else t[index]
        source = self.source
        if n_train is not None or n_test is not None:
            source += f"; subset n_train={n_train}, n_test={n_test}, seed={seed}"
        return dataclasses.replace(self, source=source, **fields)


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


def _check_size(field: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ConfigError(f"{field}: expected a positive int or None, got {value!r}")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed: expected an int >= 0, got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------ IDX

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an array from an IDX file (LeCun's MNIST format), raw or gzip-compressed.

    The header is a magic number ``0x00 0x00 <type code> <ndim>`` followed by ``ndim``
    big-endian uint32 sizes; the payload is the array in C order, big-endian.
    Compression is recognised from the content, not the file name.

    Parameters
    ----------
    path : str or PathLike
        The file.

    Returns
    -------
    ndarray of shape given by the header, native byte order
        Read-only (uint8 data is a view of the file's bytes); copy it to modify it.

    Raises
    ------
    DataError
        If the file is not valid IDX: bad magic number, unknown type code, truncated
        header or payload, trailing bytes, or a corrupt gzip stream. The message names
        the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataNotFoundError(f"{path}: no such IDX file") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from exc
    return _parse_idx(_decompress(data, path), path)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array to an IDX file, gzip-compressed if ``path`` ends with ``.gz``.

    The inverse of :func:`load_idx`. The file is written to a temporary name and
    renamed, so a reader never sees half a file.

    Parameters
    ----------
    path : str or PathLike
        Destination file.
    array : ndarray of 1 to 255 dimensions
        dtype uint8, int8, int16, int32, float32 or float64 (the types IDX can hold).

    Raises
    ------
    DataError
        If the dtype or the number of dimensions cannot be written as IDX.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        supported = ", ".join(str(dt) for dt in _IDX_CODES)
        raise DataError(f"{path}: cannot write dtype {array.dtype} to IDX; convert the array "
                        f"to one of: {supported}")
    if not 1 <= array.ndim <= 255 or any(s >= 2**32 for s in array.shape):
        raise DataError(f"{path}: IDX holds 1 to 255 dimensions of size < 2**32, got shape "
                        f"{array.shape}")
    header = bytes([0, 0, _IDX_CODES[native], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[_IDX_CODES[native]]).tobytes()
    if path.name.endswith(".gz"):
        # mtime=0 makes the compressed bytes depend on the array only.
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    _atomic_write(path, payload)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _decompress(data: bytes, path: Path) -> bytes:
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip stream ({exc}); delete the file and download "
                        "it again") from exc


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file: expected magic number 0x00 0x00 <type> "
                        f"<ndim>, got {data[:4].hex(' ') or 'an empty file'}")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X}; expected one of {known}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions; expected at least 1")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {offset} bytes, "
                        f"the file has {len(data)}")
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    got = len(data) - offset
    if got != expected:
        problem = "truncated payload" if got < expected else "trailing bytes after the payload"
        raise DataError(f"{path}: {problem}: header shape {shape} of {dtype.newbyteorder('=')} "
                        f"needs {expected} bytes, the file has {got}")
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
        array.flags.writeable = False
    return array


class _IdxRecord:
    """One parsed IDX file with its checksums (digests computed on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stored = path.read_bytes()
        self.compressed = stored.startswith(_GZIP_MAGIC)
        # Upstream publishes the md5 of the .gz files; it is only meaningful for those.
        self.stored_md5 = (hashlib.md5(stored, usedforsecurity=False).hexdigest()
                           if self.compressed else None)
        self._payload = _decompress(stored, path)
        self.array = _parse_idx(self._payload, path)

    @functools.cached_property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self._payload).hexdigest()


@functools.lru_cache(maxsize=8)
def _cached_record(path: str, mtime_ns: int, size: int, inode: int) -> _IdxRecord:
    # The stat fields are part of the key so that a file replaced on disk is re-read.
    return _IdxRecord(Path(path))


def _read_record(path: Path) -> _IdxRecord:
    path = path.resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from exc
    return _cached_record(str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def clear_cache() -> None:
    """Forget the parsed data files kept in memory by earlier loads."""
    _cached_record.cache_clear()
    _cached_digits.cache_clear()


# ---------------------------------------------------------------- MNIST-like sets

#: The four IDX files of an MNIST-like set, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class _IdxSpec:
    """Where an MNIST-like set lives and how to recognise its files."""

    name: str
    citation: str
    md5_gz: Mapping[str, str]          # role -> md5 of the upstream .gz file
    sha256_payload: Mapping[str, str]  # role -> sha256 of the decompressed file
    mirrors: tuple[str, ...]           # base URLs, tried in order
    system_dirs: tuple[Path, ...] = ()
    install_hint: str = ""


_IDX_SPECS: dict[str, _IdxSpec] = {
    "fashion-mnist": _IdxSpec(
        name="fashion-mnist",
        citation="Xiao et al. 2017",
        md5_gz={
            "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        # Measured on Debian's dataset-fashion-mnist, whose recompressed .gz files have
        # other md5s than upstream's but hold the same bytes.
        sha256_payload={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        install_hint="or `apt-get install dataset-fashion-mnist`",
    ),
    "mnist": _IdxSpec(
        name="mnist",
        citation="LeCun et al. 1998",
        md5_gz={
            "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
            "test_images": "9fb629c4189551a2d022fa330f9573f3",
            "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        sha256_payload={},
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"),
    ),
}


def _idx_spec(name: str) -> _IdxSpec:
    canonical = _canonical_name(name)
    if canonical not in _IDX_SPECS:
        raise unknown_name("IDX dataset", name, _IDX_SPECS)
    return _IDX_SPECS[canonical]


def _cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore relative paths.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "neurosim"


def _candidate_dirs(spec: _IdxSpec,
                    data_dir: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    """(label, folder) in lookup order; folder None for an unset environment variable."""
    places: list[tuple[str, Path | None]] = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir).expanduser()))
    env = os.environ.get("NEUROSIM_DATA", "")
    if env:
        root = Path(env).expanduser()
        places += [("$NEUROSIM_DATA", root / spec.name), ("$NEUROSIM_DATA", root)]
    else:
        places.append(("$NEUROSIM_DATA", None))
    places.append(("cache", _cache_root() / spec.name))
    places += [("system", d) for d in spec.system_dirs]
    return places


def _files_in(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The IDX files present in ``folder`` (.gz preferred) and the names missing."""
    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{stem}.gz")
    return found, missing


def _verify(spec: _IdxSpec, role: str, path: Path) -> None:
    record = _read_record(path)
    md5 = spec.md5_gz.get(role)
    sha = spec.sha256_payload.get(role)
    if record.compressed and md5 is not None and record.stored_md5 == md5:
        return
    if sha is not None and record.payload_sha256 == sha:
        return
    expected = [f"md5 {md5} of the .gz file"] if md5 else []
    expected += [f"sha256 {sha} of the decompressed file"] if sha else []
    got = [f"md5 {record.stored_md5}"] if record.compressed else []
    got += [f"sha256 {record.payload_sha256}"]
    if sha is None and not record.compressed:
        hint = (f"no checksum of the decompressed {spec.name} files is known: keep the "
                "original .gz files, or pass verify=False if you trust this file")
    else:
        hint = ("the file is corrupt or not the official one: delete it and download it "
                "again, or pass verify=False if you made it yourself")
    raise DataError(f"{path}: checksum mismatch for {spec.name} {IDX_FILES[role]}: expected "
                    f"{' or '.join(expected)}, got {' / '.join(got)}; {hint}")


def find_idx_files(name: str, data_dir: str | os.PathLike | None = None,
                   download: bool = True, *, verify: bool = True) -> dict[str, Path]:
    """Locate (and if needed download) the four IDX files of an MNIST-like set.

    Folders are searched in the order given in the module docstring; the first one
    holding all four files wins (``<stem>.gz`` is preferred to the raw ``<stem>``).
    A file is accepted if the md5 of the ``.gz`` matches upstream's or the sha256 of
    its decompressed bytes matches the published payload (recompression, as done by
    Debian, changes the first but not the second).

    Parameters
    ----------
    name : str
        ``"fashion-mnist"`` (or an alias) or ``"mnist"``.
    data_dir : str or PathLike, optional
        Folder searched first.
    download : bool
        Whether to download the files into the user cache when no folder has them.
    verify : bool
        Whether to check the checksums (False for IDX files made by hand).

    Returns
    -------
    dict of str to Path
        Keys ``"train_images"``, ``"train_labels"``, ``"test_images"``, ``"test_labels"``.

    Raises
    ------
    DataNotFoundError
        If no folder holds the four files and the download failed or was not allowed;
        the one-line message lists every place tried.
    DataError
        If a file fails its checksum.
    """
    spec = _idx_spec(name)
    tried = []
    for label, folder in _candidate_dirs(spec, data_dir):
        if folder is None:
            tried.append(f"{label} (not set)")
            continue
        if not folder.is_dir():
            tried.append(f"{label} {folder} (no such folder)")
            continue
        found, missing = _files_in(folder)
        if missing:
            tried.append(f"{label} {folder} (missing {', '.join(missing)})")
            continue
        if verify:
            for role, path in found.items():
                _verify(spec, role, path)
        return found
    cache = _cache_root() / spec.name
    if download:
        found, reason = _download(spec, cache)
        if found is not None:
            # Files already in the cache before the download completed it are checked
            # here; the downloaded ones were checked before they were renamed in place.
            if verify:
                for role, path in found.items():
                    _verify(spec, role, path)
            return found
        tried.append(f"download into {cache} ({reason})")
    else:
        tried.append("download (not attempted: download=False)")
    names = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    raise DataNotFoundError(
        f"{spec.name} ({spec.citation}) not found; tried: {'; '.join(tried)}. Fix: set "
        f"NEUROSIM_DATA to a folder holding the four IDX files ({names}), pass data_dir=..."
        f"{', ' + spec.install_hint if spec.install_hint else ''}")


def _download(spec: _IdxSpec, folder: Path) -> tuple[dict[str, Path] | None, str]:
    """Fetch the missing files into ``folder``; return (files, "") or (None, reason)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return None, f"cannot create the folder: {exc.strerror or exc}"
    dead_mirrors: set[str] = set()
    for role, stem in IDX_FILES.items():
        target = folder / f"{stem}.gz"
        if target.is_file() or (folder / stem).is_file():
            continue
        failures = []
        for mirror in spec.mirrors:
            url = mirror + f"{stem}.gz"
            if mirror in dead_mirrors:
                continue
            error = _fetch(url, target, spec, role)
            if error is None:
                break
            failures.append(f"{url}: {error}")
            if not error.startswith("checksum"):
                # A mirror that cannot be reached will not serve the next file either;
                # skipping it keeps an offline machine from waiting once per file.
                dead_mirrors.add(mirror)
        else:
            return None, "; ".join(failures) or "no mirror reachable"
    found, missing = _files_in(folder)
    if missing:
        return None, f"missing {', '.join(missing)} after download"
    return found, ""


def _fetch(url: str, target: Path, spec: _IdxSpec, role: str) -> str | None:
    """Download ``url`` to ``target`` atomically; None on success, else a reason."""
    request = urllib.request.Request(url, headers={"User-Agent": "neurosim"})
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".part")
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        data = tmp.read_bytes()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        sha = spec.sha256_payload.get(role)
        ok = md5 == spec.md5_gz.get(role)
        if not ok and sha is not None:
            try:
                ok = hashlib.sha256(gzip.decompress(data)).hexdigest() == sha
            except (OSError, EOFError, zlib.error):
                ok = False
        if not ok:
            return f"checksum mismatch (md5 {md5}, expected {spec.md5_gz.get(role)})"
        # Checked before the rename: the cache never holds a bad or partial file.
        os.replace(tmp, target)
        return None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError (an OSError) hides the useful part in .reason; keep the message on
        # one line because it ends up inside a one-line DataNotFoundError.
        reason = getattr(exc, "reason", None) or exc
        return " ".join(str(reason).split()) or type(exc).__name__
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _load_idx_set(spec: _IdxSpec, data_dir: str | os.PathLike | None, download: bool,
                  verify: bool) -> Dataset:
    files = find_idx_files(spec.name, data_dir, download, verify=verify)
    arrays = {role: _read_record(path).array for role, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        ipath, lpath = files[f"{split}_images"], files[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{ipath}: expected uint8 images of shape (n, 28, 28), got "
                            f"{images.dtype} of shape {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{lpath}: expected uint8 labels of shape (n,), got {labels.dtype} "
                            f"of shape {labels.shape}")
        if labels.shape[0] != images.shape[0]:
            raise DataError(f"{lpath}: {labels.shape[0]} labels for the {images.shape[0]} "
                            f"images of {ipath.name}; the files do not belong together")
        if labels.size and labels.max() > 9:
            raise DataError(f"{lpath}: labels must lie in 0..9, found {labels.max()}")
    folders = {str(p.parent) for p in files.values()}
    source = (f"{spec.name} ({spec.citation}) IDX files in {', '.join(sorted(folders))}: "
              f"{', '.join(p.name for p in files.values())}")
    return Dataset(
        name=spec.name,
        x_train=_to_unit_interval(arrays["train_images"]),
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=_to_unit_interval(arrays["test_images"]),
        y_test=arrays["test_labels"].astype(np.int64),
        n_classes=10,
        image_shape=(28, 28),
        source=source,
    )


def _to_unit_interval(images: np.ndarray) -> np.ndarray:
    """Flatten uint8 images to fresh float32 rows in [0, 1]."""
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    x /= np.float32(255)
    return x


# ----------------------------------------------------------------------- digits


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


def _stratified_test_mask(labels: np.ndarray, test_fraction: float,
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


def _load_digits() -> Dataset:
    path = DIGITS_PATH
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: the embedded digits file is missing ({exc.strerror or exc}); "
                        "reinstall neurosim") from exc
    table = _cached_digits(str(path), st.st_mtime_ns, st.st_size)
    pixels, labels = table[:, :64], table[:, 64]
    # Seed 0 is part of the data set's definition: every user gets the same split.
    test = _stratified_test_mask(labels, 0.2, np.random.default_rng(0))
    x = pixels.astype(np.float32) / np.float32(16)
    return Dataset(
        name="digits",
        x_train=x[~test], y_train=labels[~test].copy(),
        x_test=x[test], y_test=labels[test].copy(),
        n_classes=10,
        image_shape=(8, 8),
        source=f"embedded {path.name} (UCI optical digits, Alpaydin & Kaynak 1998, CC BY 4.0; "
               "stratified 80/20 split, seed 0)",
    )


# ------------------------------------------------------------------- toy tasks


def _truth_table(n_bits: int) -> np.ndarray:
    """All ``2**n_bits`` binary patterns, row i holding the bits of i (MSB first)."""
    shifts = np.arange(n_bits - 1, -1, -1)
    return ((np.arange(2**n_bits)[:, None] >> shifts) & 1).astype(np.float32)


def _parity_dataset(name: str, n_bits: int) -> Dataset:
    x = _truth_table(n_bits)
    y = (x.sum(axis=1).astype(np.int64)) % 2
    return Dataset(name=name, x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy(),
                   n_classes=2, image_shape=None,
                   source=f"generated truth table of {n_bits}-bit parity (train = test)")


def _load_teacher_student(n_train: int, n_test: int, seed: int,
                          layers: Sequence[int]) -> Dataset:
    """Inputs x ~ N(0, I); targets t = W_L tanh(... tanh(W_1 x)), weights N(0, 1/fan_in)."""
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


# -------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Entry:
    loader: Callable[..., Dataset]
    options: Mapping[str, Any]   # option name -> default


_REGISTRY: dict[str, _Entry] = {}
_ALIASES = {"fmnist": "fashion-mnist"}


def _register(name: str, **options: Any) -> Callable:
    """Register a loader under ``name``; ``options`` are its extra keywords and defaults."""

    def decorator(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        _REGISTRY[name] = _Entry(loader, options)
        return loader
    return decorator


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    return _ALIASES.get(key, key)


def available_datasets() -> list[str]:
    """Return the canonical names accepted by :func:`load_dataset`, sorted."""
    return sorted(_REGISTRY)


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, data_dir: str | os.PathLike | None = None,
                 download: bool = True, verify: bool = True, **options: Any) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets` (case-insensitive; ``_`` and ``-`` are
        interchangeable; ``"fmnist"`` is Fashion-MNIST).
    n_train, n_test : int, optional
        For fixed data sets: keep a class-balanced random subset of this size (see
        :meth:`Dataset.subset`); None keeps the whole split. For ``"teacher-student"``:
        the number of samples generated (default 1000 and 200).
    seed : int
        Seed of the subset selection, or of the teacher and inputs for
        ``"teacher-student"``. The digits train/test split itself never changes.
    data_dir : str or PathLike, optional
        Folder searched first for the IDX files of the MNIST-like sets (ignored by the
        other sets).
    download : bool
        Whether the MNIST-like sets may be downloaded into the user cache.
    verify : bool
        Whether IDX files must match the published checksums; pass False for files
        you made yourself.
    **options
        Task-specific: ``n_bits`` (``"parity"``, default 4); ``layers`` (``"teacher-student"``,
        default ``(20, 10, 5)``: input, hidden..., output sizes).

    Returns
    -------
    Dataset

    Raises
    ------
    UnknownNameError
        For an unknown name (the message suggests the closest one).
    ConfigError
        For invalid sizes, seed or options.
    DataNotFoundError, DataError
        When the files of an MNIST-like set are missing or corrupt.
    """
    canonical = _canonical_name(name)
    if canonical not in _REGISTRY:
        raise unknown_name("dataset", name, _REGISTRY)
    entry = _REGISTRY[canonical]
    _check_size("n_train", n_train)
    _check_size("n_test", n_test)
    seed = _check_seed(seed)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        accepted = ", ".join(entry.options) or "none"
        raise ConfigError(f"load_dataset('{canonical}'): unknown option(s) {', '.join(unknown)}; "
                          f"accepted options: {accepted}")
    settings = {**entry.options, **options}
    return entry.loader(n_train=n_train, n_test=n_test, seed=seed, data_dir=data_dir,
                        download=bool(download), verify=bool(verify), **settings)


def _subset_if_asked(ds: Dataset, n_train: int | None, n_test: int | None,
                     seed: int) -> Dataset:
    if n_train is None and n_test is None:
        return ds
    return ds.subset(n_train=n_train, n_test=n_test, seed=seed)


@_register("digits")
def _digits_entry(*, n_train, n_test, seed, **_: Any) -> Dataset:
    return _subset_if_asked(_load_digits(), n_train, n_test, seed)


@_register("fashion-mnist")
def _fashion_entry(*, n_train, n_test, seed, data_dir, download, verify) -> Dataset:
    ds = _load_idx_set(_IDX_SPECS["fashion-mnist"], data_dir, download, verify)
    return _subset_if_asked(ds, n_train, n_test, seed)


@_register("mnist")
def _mnist_entry(*, n_train, n_test, seed, data_dir, download, verify) -> Dataset:
    ds = _load_idx_set(_IDX_SPECS["mnist"], data_dir, download, verify)
    return _subset_if_asked(ds, n_train, n_test, seed)


@_register("xor")
def _xor_entry(*, n_train, n_test, seed, **_: Any) -> Dataset:
    return _subset_if_asked(_parity_dataset("xor", 2), n_train, n_test, seed)


@_register("parity", n_bits=4)
def _parity_entry(*, n_train, n_test, seed, n_bits, **_: Any) -> Dataset:
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral) \
            or not 1 <= n_bits <= 20:
        raise ConfigError(f"load_dataset('parity').n_bits: expected an int in 1..20, "
                          f"got {n_bits!r}")
    return _subset_if_asked(_parity_dataset("parity", int(n_bits)), n_train, n_test, seed)


@_register("teacher-student", layers=(20, 10, 5))
def _teacher_student_entry(*, n_train, n_test, seed, layers, **_: Any) -> Dataset:
    try:
        layers = tuple(layers)
    except TypeError:
        layers = (layers,)
    if len(layers) < 2 or any(isinstance(n, bool) or not isinstance(n, numbers.Integral)
                              or n <= 0 for n in layers):
        raise ConfigError("load_dataset('teacher-student').layers: expected at least 2 "
                          f"positive ints (input, hidden..., output), got {layers!r}")
    return _load_teacher_student(1000 if n_train is None else n_train,
                                 200 if n_test is None else n_test, seed,
                                 tuple(int(n) for n in layers))

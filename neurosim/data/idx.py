"""IDX files (LeCun's MNIST format) and the two MNIST-like sets read from them.

``"mnist"``
    28x28 handwritten digits, 60000 training / 10000 test (LeCun et al. 1998).
``"fashion-mnist"`` (aliases ``"fashion_mnist"``, ``"fmnist"``)
    28x28 grey-level images of clothing, 60000 training / 10000 test (Xiao et al. 2017).

Both are read from the four IDX files distributed upstream, found as described in
:mod:`neurosim.data.files`. A file is accepted if the md5 of its ``.gz`` matches
upstream's or the sha256 of its decompressed bytes matches the published payload
(recompression, as done by Debian, changes the first but not the second); pass
``verify=False`` for IDX files you made yourself. Parsed files are kept in memory (keyed by
path, size, mtime and inode, so a file replaced on disk is read again).

References
----------
.. [1] Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied
   to document recognition", Proc. IEEE 86(11):2278-2324, 1998.
.. [2] H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a novel image dataset for
   benchmarking machine learning algorithms", arXiv:1708.07747, 2017.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, DataNotFoundError, unknown_name
from ..validation import atomic_write_bytes
from . import files
from .dataset import Dataset
from .registry import canonical_name, register_dataset

__all__ = ["IDX_FILES", "IDX_SETS", "find_idx_files", "load_idx", "write_idx"]

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


# --------------------------------------------------------------------------- the format
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
    DataNotFoundError
        If the file does not exist.
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
    atomic_write_bytes(path, payload)


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
        self.stored_md5 = files.md5_bytes(stored) if self.compressed else None
        self._payload = _decompress(stored, path)
        self.array = _parse_idx(self._payload, path)

    @functools.cached_property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self._payload).hexdigest()


@functools.lru_cache(maxsize=8)
def _cached_record(path: str, mtime_ns: int, size: int, inode: int) -> _IdxRecord:
    return _IdxRecord(Path(path))


def _read_record(path: Path) -> _IdxRecord:
    return _cached_record(*files.stat_key(path, "IDX file"))


# --------------------------------------------------------------------------- the MNIST-like sets
#: The four IDX files of an MNIST-like set, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IdxSet:
    """Where an MNIST-like set lives and how to recognise its files."""

    name: str
    citation: str
    md5_gz: Mapping[str, str]          # role -> md5 of the upstream .gz file
    sha256_payload: Mapping[str, str]  # role -> sha256 of the decompressed file
    mirrors: tuple[str, ...]           # base URLs, tried in order
    system_dirs: tuple[Path, ...] = ()
    install_hint: str = ""


#: The registered MNIST-like sets by name (tests swap entries to point at files they write).
IDX_SETS: dict[str, IdxSet] = {
    "fashion-mnist": IdxSet(
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
        install_hint="`apt-get install dataset-fashion-mnist`",
    ),
    "mnist": IdxSet(
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


def _idx_set(name: str) -> IdxSet:
    canonical = canonical_name(name)
    if canonical not in IDX_SETS:
        raise unknown_name("IDX dataset", name, IDX_SETS)
    return IDX_SETS[canonical]


def _files_in(folder: Path) -> tuple[dict[str, Path] | None, str]:
    """The four IDX files in ``folder`` (.gz preferred to raw), or None and what is missing."""
    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{stem}.gz")
    return (None, f"missing {', '.join(missing)}") if missing else (found, "")


def _verify(spec: IdxSet, role: str, path: Path) -> None:
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


def _check_download(spec: IdxSet, file_name: str, path: Path) -> str | None:
    """None if a downloaded ``.gz`` matches upstream's md5 or the payload's sha256, else why not."""
    role = next(r for r, stem in IDX_FILES.items() if file_name == f"{stem}.gz")
    data = path.read_bytes()
    md5 = files.md5_bytes(data)
    if md5 == spec.md5_gz.get(role):
        return None
    sha = spec.sha256_payload.get(role)
    if sha is not None:
        try:
            if hashlib.sha256(gzip.decompress(data)).hexdigest() == sha:
                return None
        except (OSError, EOFError, zlib.error):
            pass
    return f"md5 {md5}, expected {spec.md5_gz.get(role)}"


def find_idx_files(name: str, data_dir: str | os.PathLike | None = None,
                   download: bool = True, *, verify: bool = True) -> dict[str, Path]:
    """Locate (and if needed download) the four IDX files of an MNIST-like set.

    Folders are searched in the order of :mod:`neurosim.data.files`; the first one
    holding all four files wins (``<stem>.gz`` is preferred to the raw ``<stem>``).

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
        the one-line message lists every place tried and how to point neurosim at the files.
    DataError
        If a file fails its checksum.
    """
    spec = _idx_set(name)
    found, tried = files.search(spec.name, data_dir, spec.system_dirs, _files_in)
    cache = files.cache_root() / spec.name
    if found is None and download:
        urls = {f"{stem}.gz": [mirror + f"{stem}.gz" for mirror in spec.mirrors] for stem in IDX_FILES.values()}
        reason = files.download(urls, cache, lambda file_name, path: _check_download(spec, file_name, path))
        if reason is None:
            found, reason = _files_in(cache)
        if found is None:
            tried.append(f"download into {cache} ({reason})")
    elif found is None:
        tried.append("download (not attempted: download=False)")
    if found is None:
        names = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
        raise files.not_found(spec.name, f"{spec.name} ({spec.citation})", tried,
                              f"the four IDX files ({names})", spec.install_hint)
    if verify:
        # Downloaded files were checked before they were renamed into the cache; files that
        # were there before (and every file found elsewhere) are checked here.
        for role, path in found.items():
            _verify(spec, role, path)
    return found


def _load_idx_set(spec: IdxSet, data_dir: str | os.PathLike | None, download: bool,
                  verify: bool) -> Dataset:
    found = find_idx_files(spec.name, data_dir, download, verify=verify)
    arrays = {role: _read_record(path).array for role, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        ipath, lpath = found[f"{split}_images"], found[f"{split}_labels"]
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
    folders = {str(p.parent) for p in found.values()}
    source = (f"{spec.name} ({spec.citation}) IDX files in {', '.join(sorted(folders))}: "
              f"{', '.join(p.name for p in found.values())}")
    return Dataset(
        name=spec.name,
        x_train=to_unit_interval(arrays["train_images"]),
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=to_unit_interval(arrays["test_images"]),
        y_test=arrays["test_labels"].astype(np.int64),
        n_classes=10,
        image_shape=(1, 28, 28),
        source=source,
    )


def to_unit_interval(images: np.ndarray) -> np.ndarray:
    """Flatten uint8 images to fresh float32 rows in [0, 1] (pixel / 255)."""
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    x /= np.float32(255)
    return x


def clear_cache() -> None:
    """Forget the parsed IDX files kept in memory."""
    _cached_record.cache_clear()


@register_dataset("fashion-mnist", aliases=("fmnist",), reads_files=True,
                  summary="28x28 clothing images, 10 classes, 60000/10000 (Xiao et al. 2017); IDX files")
def _fashion_mnist(*, data_dir, download, verify) -> Dataset:
    return _load_idx_set(IDX_SETS["fashion-mnist"], data_dir, download, verify)


@register_dataset("mnist", reads_files=True,
                  summary="28x28 handwritten digits, 10 classes, 60000/10000 (LeCun et al. 1998); IDX files")
def _mnist(*, data_dir, download, verify) -> Dataset:
    return _load_idx_set(IDX_SETS["mnist"], data_dir, download, verify)

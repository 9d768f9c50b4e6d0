"""CIFAR-10 and CIFAR-100 from the official *binary* archives.

``"cifar-10"`` (alias ``"cifar10"``)
    32x32 colour images, 10 classes, 50000 training / 10000 test [1]_, read from
    ``cifar-10-binary.tar.gz``.
``"cifar-100"`` (alias ``"cifar100"``)
    The same images in 100 fine classes (option ``labels="fine"``, the default) or 20
    coarse ones (``labels="coarse"``), from ``cifar-100-binary.tar.gz``.

The archive is looked for like every data file (:mod:`neurosim.data.files`: ``data_dir``,
``$NEUROSIM_DATA``, the user cache, then a download), checked against the md5 published on
the CIFAR page, and read in memory without extracting anything: only the named members are
read, and no pickle is ever loaded (the "python version" archives are not accepted).

Each member is a run of fixed-length records: the label byte(s) (CIFAR-100: coarse, then
fine), then 3072 pixel bytes, the red, green and blue 32x32 planes in row-major order. A
record's pixels are therefore already the flattened ``(3, 32, 32)`` image (channels first),
which is the ``image_shape``; pixels are scaled to [0, 1] by /255.

References
----------
.. [1] A. Krizhevsky, "Learning multiple layers of features from tiny images", Technical
   report, University of Toronto, 2009. https://www.cs.toronto.edu/~kriz/cifar.html
"""
from __future__ import annotations

import functools
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, unknown_name
from ..validation import check
from . import files
from .dataset import Dataset
from .registry import canonical_name, register_dataset

__all__ = ["CIFAR_SETS", "CifarSet", "find_cifar_archive"]

#: Pixel bytes of one record: three 32x32 planes.
IMAGE_BYTES = 3 * 32 * 32


@dataclass(frozen=True)
class CifarSet:
    """Where a CIFAR archive lives and what it holds."""

    name: str
    citation: str
    archive: str                      # file name of the official binary archive
    md5: str                          # published md5 of the archive
    folder: str                       # the folder inside the archive
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    label_bytes: int                  # 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
    n_classes: dict                   # label kind -> number of classes
    urls: tuple[str, ...]


#: The registered CIFAR sets by name (tests swap entries to point at archives they write).
CIFAR_SETS: dict[str, CifarSet] = {
    "cifar-10": CifarSet(
        name="cifar-10", citation="Krizhevsky 2009", archive="cifar-10-binary.tar.gz",
        md5="c32a1d4ab5d03f1284b67883e8d87530", folder="cifar-10-batches-bin",
        train_members=tuple(f"data_batch_{i}.bin" for i in range(1, 6)), test_members=("test_batch.bin",),
        label_bytes=1, n_classes={"fine": 10},
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)),
    "cifar-100": CifarSet(
        name="cifar-100", citation="Krizhevsky 2009", archive="cifar-100-binary.tar.gz",
        md5="03b5dce01913d631647c71ecec9e9cb8", folder="cifar-100-binary",
        train_members=("train.bin",), test_members=("test.bin",),
        label_bytes=2, n_classes={"coarse": 20, "fine": 100},
        urls=("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",)),
}


def _cifar_set(name: str) -> CifarSet:
    canonical = canonical_name(name)
    if canonical not in CIFAR_SETS:
        raise unknown_name("CIFAR dataset", name, CIFAR_SETS)
    return CIFAR_SETS[canonical]


def _read_records(path: Path, spec: CifarSet) -> dict[str, np.ndarray]:
    """``{"train": uint8 (n, label_bytes + 3072), "test": ...}`` from the archive, read-only."""
    wanted = {f"{spec.folder}/{m}": m for m in spec.train_members + spec.test_members}
    raw: dict[str, bytes] = {}
    try:
        # Stream mode: members are read in archive order, forward only, and nothing is extracted.
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    raw[wanted[member.name]] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt archive ({' '.join(str(exc).split())}); delete it and "
                        "download it again") from exc
    missing = [f"{spec.folder}/{m}" for m in wanted.values() if m not in raw]
    if missing:
        raise DataError(f"{path}: the archive lacks {', '.join(missing)}; it is not the {spec.name} "
                        f"binary version ({spec.archive}; neurosim never reads the pickled python version)")
    size = spec.label_bytes + IMAGE_BYTES
    out = {}
    for split, members in (("train", spec.train_members), ("test", spec.test_members)):
        parts = []
        for member in members:
            data = raw[member]
            if not data or len(data) % size:
                raise DataError(f"{path}: member {spec.folder}/{member} holds {len(data)} bytes, not a whole "
                                f"number of {size}-byte records (label byte(s) and 3072 pixels)")
            parts.append(np.frombuffer(data, dtype=np.uint8).reshape(-1, size))
        records = np.concatenate(parts)
        records.flags.writeable = False
        out[split] = records
    return out


@functools.lru_cache(maxsize=8)
def _cached_md5(path: str, mtime_ns: int, size: int, inode: int) -> str:
    return files.md5_file(Path(path))


@functools.lru_cache(maxsize=2)
def _cached_records(path: str, mtime_ns: int, size: int, inode: int, name: str) -> dict[str, np.ndarray]:
    return _read_records(Path(path), CIFAR_SETS[name])


def _md5_problem(spec: CifarSet, md5: str) -> str | None:
    return None if md5 == spec.md5 else f"md5 {md5}, expected {spec.md5}"


def find_cifar_archive(name: str, data_dir: str | os.PathLike | None = None, download: bool = True, *,
                       verify: bool = True) -> Path:
    """Locate (and if needed download) the binary archive of a CIFAR set.

    Parameters
    ----------
    name : str
        ``"cifar-10"`` or ``"cifar-100"`` (or an alias).
    data_dir : str or PathLike, optional
        Folder searched first for the archive.
    download : bool
        Whether to download the archive into the user cache when no folder has it.
    verify : bool
        Whether the archive must match the published md5.

    Returns
    -------
    Path

    Raises
    ------
    DataNotFoundError
        If no folder holds the archive and the download failed or was not allowed (one line:
        every place tried and how to point neurosim at the file from the CLI and Python).
    DataError
        If the archive fails its checksum.
    """
    spec = _cifar_set(name)

    def probe(folder: Path) -> tuple[Path | None, str]:
        path = folder / spec.archive
        return (path, "") if path.is_file() else (None, f"missing {spec.archive}")

    found, tried = files.search(spec.name, data_dir, (), probe)
    if found is None:
        cache = files.cache_root() / spec.name
        if download:
            reason = files.download({spec.archive: list(spec.urls)}, cache,
                                    lambda _, path: _md5_problem(spec, files.md5_file(path)))
            if reason is None:
                return cache / spec.archive
            tried.append(f"download into {cache} ({reason})")
        else:
            tried.append("download (not attempted: download=False)")
        raise files.not_found(spec.name, f"{spec.name} ({spec.citation})", tried,
                              f"the binary archive {spec.archive} (from https://www.cs.toronto.edu/~kriz/cifar.html)")
    if verify:
        problem = _md5_problem(spec, _cached_md5(*files.stat_key(found, "the archive")))
        if problem is not None:
            raise DataError(f"{found}: checksum mismatch for {spec.name} {spec.archive}: {problem}; the file is "
                            "corrupt or not the official one: delete it and download it again, or pass "
                            "verify=False if you made it yourself")
    return found


def _load_cifar(spec: CifarSet, data_dir, download: bool, verify: bool, labels: str = "fine") -> Dataset:
    labels = check(f"load_dataset('{spec.name}')", "labels", labels, choices=tuple(spec.n_classes))
    path = find_cifar_archive(spec.name, data_dir, download, verify=verify)
    records = _cached_records(*files.stat_key(path, "the archive"), spec.name)
    column = spec.label_bytes - 1 if labels == "fine" else 0
    n_classes = spec.n_classes[labels]
    arrays = {}
    for split, rec in records.items():
        y = rec[:, column].astype(np.int64)
        if y.size and y.max() >= n_classes:
            raise DataError(f"{path}: {split} labels must lie in 0..{n_classes - 1}, found {y.max()}; the "
                            f"archive is not {spec.name}")
        x = rec[:, spec.label_bytes:].astype(np.float32)
        x /= np.float32(255)
        arrays.update({f"x_{split}": x, f"y_{split}": y})
    label_text = f", {labels} labels" if len(spec.n_classes) > 1 else ""
    return Dataset(name=spec.name, n_classes=n_classes, image_shape=(3, 32, 32),
                   source=f"{spec.name} ({spec.citation}{label_text}) binary archive {path}", **arrays)


def clear_cache() -> None:
    """Forget the archives kept in memory."""
    _cached_records.cache_clear()
    _cached_md5.cache_clear()


@register_dataset("cifar-10", aliases=("cifar10",), reads_files=True,
                  summary="32x32 colour images, 10 classes, 50000/10000 (Krizhevsky 2009); binary archive")
def _cifar10(*, data_dir, download, verify) -> Dataset:
    return _load_cifar(CIFAR_SETS["cifar-10"], data_dir, download, verify)


@register_dataset("cifar-100", aliases=("cifar100",), reads_files=True, labels="fine",
                  summary="32x32 colour images, 100 fine or 20 coarse classes (labels=), 50000/10000 "
                          "(Krizhevsky 2009); binary archive")
def _cifar100(*, data_dir, download, verify, labels) -> Dataset:
    return _load_cifar(CIFAR_SETS["cifar-100"], data_dir, download, verify, labels)

"""One registry of data sets by name: :func:`load_dataset`, :func:`available_datasets`.

Each loader module registers its sets with :func:`register_dataset`; adding a data set
means adding one function and one decorator. A loader declares what it needs:

* every loader gets its own options (declared with their defaults in the decorator);
* ``reads_files=True``: it also gets ``data_dir``, ``download`` and ``verify`` (sets read
  from files that may be absent, found as described in :mod:`neurosim.data.files`);
* ``generates=True``: it also gets ``n_train``, ``n_test`` and ``seed`` and makes that many
  samples (teacher-student, the family-trees split); otherwise the registry takes a
  class-balanced subset (:meth:`Dataset.subset`) when sizes are given.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, unknown_name
from ..validation import check, check_keys, check_seed
from .dataset import Dataset

__all__ = ["DatasetEntry", "available_datasets", "canonical_name", "dataset_entries", "load_dataset",
           "register_dataset"]


@dataclass(frozen=True)
class DatasetEntry:
    """What the registry knows of one data set."""

    name: str
    loader: Callable[..., Dataset]
    options: Mapping[str, Any]      # option name -> default
    summary: str                    # one line, for listings
    aliases: tuple[str, ...] = ()
    reads_files: bool = False
    generates: bool = False


_REGISTRY: dict[str, DatasetEntry] = {}
_ALIASES: dict[str, str] = {}


def register_dataset(name: str, *, summary: str, aliases: tuple[str, ...] = (), reads_files: bool = False,
                     generates: bool = False, **options: Any) -> Callable:
    """Register a loader under ``name``; ``options`` are its extra keywords and their defaults."""

    def decorator(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if name in _REGISTRY or name in _ALIASES:
            raise ConfigError(f"register_dataset: '{name}' is already registered")
        _REGISTRY[name] = DatasetEntry(name, loader, dict(options), summary, tuple(aliases), reads_files, generates)
        _ALIASES.update({alias: name for alias in aliases})
        return loader
    return decorator


def canonical_name(name: str) -> str:
    """The registered name for ``name`` (case-insensitive; ``_`` and ``-`` interchangeable; aliases)."""
    key = str(name).strip().lower().replace("_", "-")
    return _ALIASES.get(key, key)


def available_datasets() -> list[str]:
    """Return the canonical names accepted by :func:`load_dataset`, sorted."""
    return sorted(_REGISTRY)


def dataset_entries() -> list[DatasetEntry]:
    """Every registered data set, sorted by name (for listings: name, aliases, summary, options)."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, data_dir: str | os.PathLike | None = None,
                 download: bool = True, verify: bool = True, **options: Any) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets` (case-insensitive; ``_`` and ``-`` are
        interchangeable; aliases such as ``"fmnist"`` and ``"cifar10"``).
    n_train, n_test : int, optional
        For fixed data sets: keep a class-balanced random subset of this size (see
        :meth:`Dataset.subset`); None keeps the whole split. For ``"teacher-student"``:
        the number of samples generated (default 1000 and 200). For ``"family-trees"``:
        ``n_test`` queries are held out (default 4).
    seed : int
        Seed of the subset selection, of the teacher and inputs for ``"teacher-student"``,
        of the held-out queries for ``"family-trees"``. The digits train/test split itself
        never changes.
    data_dir : str or PathLike, optional
        Folder searched first for the files of the sets read from files (MNIST,
        Fashion-MNIST, CIFAR); ignored by the other sets. From the command line, set the
        environment variable ``NEUROSIM_DATA`` instead.
    download : bool
        Whether a set read from files may be downloaded into the user cache.
    verify : bool
        Whether files must match the published checksums; pass False for files you made
        yourself.
    **options
        Set-specific (see :func:`dataset_entries`): ``n_bits`` (``"parity"``, default 4;
        ``"mirror-symmetry"``, default 6); ``layers`` (``"teacher-student"``, default
        ``(20, 10, 5)``: input, hidden..., output sizes); ``labels`` (``"cifar-100"``:
        ``"fine"`` or ``"coarse"``).

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
        When the files of a set are missing or corrupt (one line: every place tried, and
        how to point neurosim at the files from the CLI and from Python).
    """
    entry = _REGISTRY.get(canonical_name(name))
    if entry is None:
        raise unknown_name("dataset", name, _REGISTRY)
    owner = f"load_dataset('{entry.name}')"
    n_train = check(owner, "n_train", n_train, "int", gt=0, allow_none=True)
    n_test = check(owner, "n_test", n_test, "int", gt=0, allow_none=True)
    seed = check_seed(owner, seed)
    check_keys(owner, options, entry.options, what="option")
    kwargs = {**entry.options, **options}
    if entry.reads_files:
        kwargs.update(data_dir=data_dir, download=bool(download), verify=bool(verify))
    if entry.generates:
        return entry.loader(n_train=n_train, n_test=n_test, seed=seed, **kwargs)
    dataset = entry.loader(**kwargs)
    if n_train is None and n_test is None:
        return dataset
    return dataset.subset(n_train=n_train, n_test=n_test, seed=seed)

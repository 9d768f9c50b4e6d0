"""Data sets by name: real image loaders, an embedded offline default and toy tasks.

Every data set is registered once (:mod:`neurosim.data.registry`) and loaded with
:func:`load_dataset`; ``neurosim rules --datasets`` lists :func:`available_datasets`.
Every loader returns a :class:`Dataset` with the same layout, so a rule, the training loop
and the backprop reference never care where the numbers came from: ``x_*`` is ``float32``
of shape ``(n_samples, n_features)``, ``y_*`` is ``int64`` of shape ``(n_samples,)``, and a
regression set (``n_classes == 0``) has ``t_*`` of shape ``(n_samples, n_outputs)``.

=====================  =====================================================  ===============================
name                   what                                                   module
=====================  =====================================================  ===============================
``digits``             8x8 handwritten digits, embedded (offline default)     :mod:`~neurosim.data.digits`
``mnist``              28x28 handwritten digits, IDX files                    :mod:`~neurosim.data.idx`
``fashion-mnist``      28x28 clothing images, IDX files                       :mod:`~neurosim.data.idx`
``cifar-10``           32x32 colour images, 10 classes, binary archive        :mod:`~neurosim.data.cifar`
``cifar-100``          32x32 colour images, 100 (or 20) classes               :mod:`~neurosim.data.cifar`
``xor``, ``parity``    truth tables, two classes                              :mod:`~neurosim.data.toy`
``rhw-xor``            XOR with one 0/1 target (regression)                   :mod:`~neurosim.data.toy`
``mirror-symmetry``    palindrome detection (regression)                      :mod:`~neurosim.data.toy`
``teacher-student``    regression on a random tanh teacher                    :mod:`~neurosim.data.toy`
``family-trees``       Hinton's (1986) relational task (regression)           :mod:`~neurosim.data.kinship`
=====================  =====================================================  ===============================

Sets read from files are looked for in ``data_dir``, ``$NEUROSIM_DATA``, the user cache and
system folders, then downloaded, with checksums (:mod:`neurosim.data.files`).
"""
from __future__ import annotations

from .dataset import Dataset
from .registry import DatasetEntry, available_datasets, canonical_name, dataset_entries, load_dataset, \
    register_dataset
from . import cifar, digits, idx, kinship, toy  # noqa: F401  (importing a loader module registers its sets)
from .cifar import find_cifar_archive
from .digits import DIGITS_PATH
from .kinship import (RELATIONS, FamilyTrees, Person, family_tree_people, family_tree_queries, family_trees,
                           queries_correct)
from .idx import find_idx_files, load_idx, write_idx
from .toy import mirror_symmetry, rhw_xor

__all__ = ["DIGITS_PATH", "RELATIONS", "Dataset", "DatasetEntry", "FamilyTrees", "Person", "available_datasets",
           "canonical_name", "clear_cache", "dataset_entries", "family_tree_people", "family_tree_queries",
           "family_trees", "find_cifar_archive", "find_idx_files", "load_dataset", "load_idx", "mirror_symmetry",
           "queries_correct", "register_dataset", "rhw_xor", "write_idx"]


def clear_cache() -> None:
    """Forget the parsed data files kept in memory by earlier loads (IDX, CIFAR, digits)."""
    idx.clear_cache()
    cifar.clear_cache()
    digits.clear_cache()

"""Arrays from the caller's namespace: the rate core on numpy or PyTorch, one code path.

The rate core (the backprop oracle, alignment, the optimisers, training and the rules that
have been converted) never calls numpy on the arrays it is given.  It asks
:func:`namespace` for their array module ``xp`` and computes with it, following the Python
array API standard (the pattern scikit-learn uses with ``array-api-compat``; docs/design.md,
"Arrays"):

* numpy arrays (and Python scalars and lists) give ``numpy`` itself, so the numpy path is
  the code it always was, bit for bit, and numpy stays the only required dependency;
* any other array (a ``torch.Tensor`` on the CPU, a CUDA GPU or Apple's MPS) gives the
  namespace ``array_api_compat.array_namespace`` returns (``pip install "neurosim-lab[torch]"``
  installs PyTorch and array-api-compat).

The few functions that numpy 1.x spells differently from the standard (``concat``,
``astype``, creation on a device, copies) are the helpers below, so the code runs on
numpy >= 1.24 as well.

Where the arrays live is a :class:`Backend`: ``backend("torch", "cuda:0")`` checks, in one
line per failure, that PyTorch is installed and the device exists, and moves parameters
and data there once (:meth:`Backend.put`, :meth:`Backend.asarray`).  Results are written as
numpy (:func:`to_numpy`).

Random numbers
--------------
Every random number is drawn by numpy's PCG64 (:class:`neurosim.randomness.RngState`, and
``init_params`` for the initial weights) on the host and then moved to the arrays' device
(:func:`asarray_like`).  A seed therefore gives *the same numbers on every backend and
device*: a run on torch starts from the same weights, visits the batches in the same order
and draws the same noise as the numpy run.  The price is a host-to-device copy per draw,
small next to the matrix products it feeds.
"""
from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["ARRAYS", "Backend", "arange", "as_dtype", "asarray_like", "astype", "backend", "check_backend_names",
           "check_rule_arrays", "concat", "copy", "cumsum", "device_of", "diagonal_part", "full", "is_floating",
           "library", "namespace", "pick", "rank_index", "to_numpy", "to_numpy_tree", "widest_float", "zeros"]

#: Array libraries a run may use (``RunSpec.array``, ``--array``).
ARRAYS = ("numpy", "torch")
_DEVICE = re.compile(r"^(cpu|mps|cuda(:[0-9]+)?)$")
_HOST_TYPES = (np.ndarray, np.generic, int, float, bool, complex, list, tuple)
_INSTALL = "install it with pip install \"neurosim-lab[torch]\""


# --------------------------------------------------------------------------- namespaces
def namespace(*arrays) -> Any:
    """The array module of ``arrays``: ``numpy`` for numpy arrays, else the array API namespace.

    Parameters
    ----------
    *arrays : array or scalar or None
        ``None``, Python scalars and lists are ignored (they adopt the others' namespace).

    Returns
    -------
    module
        ``numpy`` when every array is a numpy array; otherwise
        ``array_api_compat.array_namespace(*arrays)`` (``array_api_compat.torch`` for tensors).

    Raises
    ------
    ConfigError
        When arrays of two libraries are mixed, or array-api-compat is missing.
    """
    others, numpy_seen = [], False
    for a in arrays:
        if isinstance(a, np.ndarray):
            numpy_seen = True
        elif a is not None and not isinstance(a, _HOST_TYPES):
            others.append(a)
    if not others:
        return np
    if numpy_seen:
        kinds = sorted({"numpy.ndarray"} | {f"{type(a).__module__}.{type(a).__name__}" for a in others})
        raise ConfigError(f"arrays of different libraries ({', '.join(kinds)}) in one computation; move them to "
                          "one with neurosim.arrays.backend(array, device).put(...)")
    torch = sys.modules.get("torch")
    if torch is not None and all(isinstance(a, torch.Tensor) for a in others):
        return _torch_namespace()  # the common case, without array_namespace's general search
    try:
        from array_api_compat import array_namespace
    except ImportError:
        kind = type(others[0])
        raise ConfigError(f"arrays of type {kind.__module__}.{kind.__name__} need the package array-api-compat; "
                          f"{_INSTALL}") from None
    try:
        return array_namespace(*others)
    except TypeError as err:
        raise ConfigError(f"arrays: {err}; move them to one library and device with "
                          "neurosim.arrays.backend(array, device).put(...)") from None


@functools.lru_cache(maxsize=None)
def _torch_namespace():
    try:
        import array_api_compat.torch as xp
    except ImportError:
        raise ConfigError(f"arrays of type torch.Tensor need the package array-api-compat; {_INSTALL}") from None
    return xp


def _torch_tensor(a) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(a, torch.Tensor)


def to_numpy(a) -> np.ndarray:
    """``a`` as a numpy array on the host (a tensor is detached and copied from its device)."""
    if isinstance(a, np.ndarray):
        return a
    if _torch_tensor(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def to_numpy_tree(obj):
    """Every array in nested dicts, lists and tuples as numpy (other leaves unchanged)."""
    if isinstance(obj, dict):
        return {k: to_numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_numpy_tree(v) for v in obj)
    if isinstance(obj, np.ndarray) or _torch_tensor(obj):
        return to_numpy(obj)
    return obj


def device_of(a) -> str:
    """The device of an array as a string (``"cpu"`` for numpy, ``"cuda:0"`` for a GPU tensor)."""
    if namespace(a) is np:
        return "cpu"
    from array_api_compat import device

    return str(device(a))


# --------------------------------------------------------------------------- helpers
def as_dtype(xp, dtype) -> Any:
    """``dtype`` (a name such as ``"float32"``, a numpy dtype, or already one of ``xp``'s) as ``xp``'s dtype."""
    if xp is np:
        return np.dtype(dtype)
    if isinstance(dtype, (str, np.dtype, type)):
        return getattr(xp, np.dtype(dtype).name)
    return dtype


def is_floating(a) -> bool:
    """Whether ``a`` holds real floating-point numbers."""
    xp = namespace(a)
    if xp is np:
        return bool(np.issubdtype(np.asarray(a).dtype, np.floating))
    return bool(xp.isdtype(a.dtype, "real floating"))


def astype(a, dtype):
    """``a`` converted to ``dtype`` (``xp.astype``; numpy 1.x spells it as a method).

    Returns ``a`` itself when it already has that dtype.
    """
    xp = namespace(a)
    if xp is np:
        return np.asarray(a).astype(dtype, copy=False)
    return xp.astype(a, as_dtype(xp, dtype), copy=False)


def concat(arrays, axis: int = 0):
    """Join arrays along ``axis`` (``xp.concat``; numpy 1.x calls it ``concatenate``)."""
    xp = namespace(*arrays)
    return np.concatenate(arrays, axis=axis) if xp is np else xp.concat(list(arrays), axis=axis)


def copy(a):
    """A copy of ``a`` in its own namespace and device."""
    xp = namespace(a)
    return np.array(a, copy=True) if xp is np else xp.asarray(a, copy=True)


def zeros(shape, like):
    """Zeros of ``shape`` with the dtype and device of ``like``."""
    xp = namespace(like)
    if xp is np:
        return np.zeros(shape, dtype=like.dtype)
    from array_api_compat import device

    return xp.zeros(shape, dtype=like.dtype, device=device(like))


def arange(n: int, like):
    """``0, 1, ..., n-1`` (integers) on the device of ``like``."""
    xp = namespace(like)
    if xp is np:
        return np.arange(n)
    from array_api_compat import device

    return xp.arange(n, device=device(like))


def full(shape, value, like, dtype=None):
    """An array of ``shape`` filled with ``value``, on the device of ``like`` (dtype: ``like``'s)."""
    xp = namespace(like)
    dtype = like.dtype if dtype is None else as_dtype(xp, dtype)
    if xp is np:
        return np.full(shape, value, dtype=dtype)
    from array_api_compat import device

    return xp.full(shape, value, dtype=dtype, device=device(like))


def diagonal_part(a):
    """The square matrix ``a`` with every off-diagonal entry zero (``np.diag(np.diag(a))``)."""
    xp = namespace(a)
    if xp is np:
        return np.diag(np.diag(a))
    return xp.where(asarray_like(np.eye(a.shape[0], a.shape[1], dtype=bool), a), a, 0.0)


def pick(a, index):
    """``a[n, index[n]]`` for every row ``n`` of the 2-D ``a``: one entry per row, shape (n,)."""
    return a[arange(a.shape[0], a), index]


def cumsum(a, axis: int):
    """Cumulative sum along ``axis`` (the standard's ``cumulative_sum``; numpy 1.x: ``cumsum``)."""
    xp = namespace(a)
    return np.cumsum(a, axis=axis) if xp is np else xp.cumulative_sum(a, axis=axis)


def rank_index(a, k: int):
    """Per row of ``a`` (2-D), the column of its ``k``-th largest entry (k = 1: the argmax).

    The array API has no partial sort: numpy's ``argpartition`` and torch's ``topk`` are the
    same selection, ``O(n)`` per row instead of a full ``argsort``.  Among equal entries the
    column chosen may differ between libraries.
    """
    xp = namespace(a)
    if xp is np:
        return np.argpartition(-a, k - 1, axis=1)[:, k - 1]
    return xp.topk(a, k, dim=1).indices[:, k - 1]


def widest_float(like) -> str:
    """``"float64"``, or ``"float32"`` on Apple's MPS, which has no float64 (for sums and draws
    that must not lose precision to ``like``'s own dtype)."""
    return "float32" if device_of(like) == "mps" else "float64"


def asarray_like(a, like, dtype=None):
    """A host array (e.g. random draws) moved to the namespace and device of ``like``.

    The dtype is ``dtype`` if given, else ``like``'s dtype when ``a`` is floating (integer
    arrays, e.g. sampled indices, keep theirs).
    """
    xp = namespace(like)
    a = np.asarray(a)
    if dtype is None and np.issubdtype(a.dtype, np.floating):
        dtype = like.dtype
    if xp is np:
        return a if dtype is None else a.astype(dtype, copy=False)
    from array_api_compat import device

    return xp.asarray(a, dtype=None if dtype is None else as_dtype(xp, dtype), device=device(like))


def library(xp) -> str:
    """The :data:`ARRAYS` name of a namespace (``"numpy"`` or ``"torch"``)."""
    return "numpy" if xp is np else "torch"


def check_rule_arrays(rule, array: str) -> None:
    """Raise :class:`ConfigError` unless ``rule`` computes with the array library ``array``
    (its ``info.arrays``): a rule whose code still calls numpy would fail obscurely, or
    round-trip through the host, on tensors."""
    if array not in rule.info.arrays:
        from .rules import RULES

        able = ", ".join(sorted(n for n, c in RULES.items() if array in c.info.arrays))
        raise ConfigError(f"rule '{rule.name}' computes with {', '.join(rule.info.arrays)} arrays only so far "
                          f"(its info.arrays); use array = \"numpy\" (--array numpy), or a rule that runs on "
                          f"{array}: {able}")


# --------------------------------------------------------------------------- backends
def check_backend_names(owner: str, array: str, device: str) -> tuple[str, str]:
    """Check the *spelling* of an array library and a device (nothing is imported).

    ``array`` is one of :data:`ARRAYS`; ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or
    ``mps``; numpy runs on ``cpu`` only.  Raises :class:`ConfigError` in one line.
    """
    if not isinstance(array, str) or array not in ARRAYS:
        raise ConfigError(f"{owner}: 'array' must be one of {', '.join(repr(a) for a in ARRAYS)}, got {array!r}")
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ConfigError(f"{owner}: 'device' must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    if array == "numpy" and device != "cpu":
        raise ConfigError(f"{owner}: device {device!r} needs array = 'torch' (numpy arrays live on the cpu); "
                          f"pass --array torch --device {device}")
    return array, device


@dataclass(frozen=True)
class Backend:
    """An array library and a device, checked to exist (build it with :func:`backend`).

    Attributes
    ----------
    array : {"numpy", "torch"}
    device : str
        ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    xp : module
        The array namespace (``numpy`` or ``array_api_compat.torch``).
    """

    array: str
    device: str
    xp: Any

    def asarray(self, a, dtype=None):
        """A host array as an array of this backend, on its device (a copy unless numpy can share it)."""
        if self.xp is np:
            return np.asarray(to_numpy(a), dtype=dtype)
        return self.xp.asarray(to_numpy(a), dtype=None if dtype is None else as_dtype(self.xp, dtype),
                               device=self.device)

    def put(self, tree, dtype=None):
        """Every array in nested dicts/lists/tuples moved to this backend (other leaves unchanged)."""
        if isinstance(tree, dict):
            return {k: self.put(v, dtype) for k, v in tree.items()}
        if isinstance(tree, (list, tuple)):
            return type(tree)(self.put(v, dtype) for v in tree)
        if isinstance(tree, np.ndarray) or _torch_tensor(tree):
            return self.asarray(tree, dtype)
        return tree

    def check_dtype(self, dtype: str, owner: str = "arrays") -> None:
        """Refuse a dtype the device cannot hold (Apple's MPS has no float64)."""
        if self.device == "mps" and np.dtype(dtype) == np.float64:
            raise ConfigError(f"{owner}: device 'mps' has no float64; use dtype = \"float32\" (--dtype float32)")


def backend(array: str = "numpy", device: str = "cpu", *, owner: str = "arrays") -> Backend:
    """The :class:`Backend` for ``array`` on ``device``, checked to be available.

    Raises
    ------
    ConfigError
        One line: a misspelt name, PyTorch or array-api-compat not installed, or a device
        this machine does not have (no CUDA GPU, GPU index out of range, no MPS).
    """
    array, device = check_backend_names(owner, array, device)
    if array == "numpy":
        return Backend("numpy", "cpu", np)
    try:
        import torch
    except ImportError:
        raise ConfigError(f"{owner}: array 'torch' needs PyTorch, which is not installed; {_INSTALL} "
                          "(or use array = \"numpy\")") from None
    try:
        import array_api_compat.torch as xp
    except ImportError:
        raise ConfigError(f"{owner}: array 'torch' needs the package array-api-compat; {_INSTALL}") from None
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{owner}: device {device!r} is not available: PyTorch {torch.__version__} sees no "
                              "CUDA GPU (torch.cuda.is_available() is False); use device 'cpu', or a CUDA build "
                              "of PyTorch on a machine with an NVIDIA GPU")
        count = torch.cuda.device_count()
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise ConfigError(f"{owner}: device {device!r} does not exist: this machine has {count} CUDA "
                              f"GPU(s), cuda:0..cuda:{count - 1}")
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{owner}: device 'mps' is not available (torch.backends.mps.is_available() is "
                              "False); MPS needs Apple silicon and macOS 12.3+; use device 'cpu'")
    return Backend("torch", device, xp)

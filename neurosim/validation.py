"""One place that checks values and writes every validation message.

Every user-facing check of a scalar (seeds, counts, rates, times, choices) goes through
:func:`check`, so every message has the same shape (scikit-learn's parameter-constraint
template)::

    rule 'pc': 'step_size' must be a number > 0, got -1.

The ``owner`` names the object (``"rule 'pc'"``, ``"RunSpec.training"``, ``"--lr"``) and the
message adds how to fix it where the constraint allows (the choices, a did-you-mean).
Errors are :class:`~neurosim.errors.ConfigError` (a ``ValueError``); arrays are checked by
:func:`check_array` with the same template and raise :class:`~neurosim.errors.ShapeError`::

    Dataset 'toy': 'y_train' must be an integer array of shape (4,) with values in 0..1, got values in 1..2.

The module also holds the few helpers every writer of results needs, so that no module
keeps its own copy: :func:`finite_or_none` and :func:`to_json` (NaN/inf become JSON
``null``, strict JSON otherwise), :func:`atomic_writer` / :func:`atomic_write_bytes` /
:func:`write_json` (write to a temporary file in the same folder, then ``os.replace``), and
:func:`restoring_global_random_state` (for simulators, such as brian2, that can only be
seeded through NumPy's global generator).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .arrays import namespace
from .errors import ConfigError, ShapeError, did_you_mean

__all__ = ["all_finite", "first_non_finite", "atomic_write_bytes", "atomic_writer", "check", "check_array",
           "check_keys", "check_list", "check_quantity", "check_seed", "check_time", "describe", "finite_or_none",
           "jsonable", "restoring_global_random_state", "to_json", "write_json"]

#: Value kinds :func:`check` knows; ``number`` is a finite real (int or float, not bool).
KINDS = ("number", "int", "bool", "str", "mapping", "sequence", "any")


def describe(kind: str = "number", *, ge=None, gt=None, le=None, lt=None, choices=None,
             allow_none: bool = False) -> str:
    """The expectation in words: ``"a number > 0"``, ``"one of 'raise', 'warn'"``."""
    if choices is not None:
        text = "one of " + ", ".join(repr(c) for c in choices)
    else:
        text = {"number": "a finite number", "int": "an integer", "bool": "true or false", "str": "a string",
                "mapping": "a table (mapping)", "sequence": "a list", "any": "a value"}[kind]
        bounds = [f"{op} {b:g}" if isinstance(b, float) else f"{op} {b}"
                  for op, b in ((">=", ge), (">", gt), ("<=", le), ("<", lt)) if b is not None]
        if bounds:
            text = text.replace("a finite number", "a number") + " " + " and ".join(bounds)
    return text + (" or none" if allow_none else "")


def check(owner: str, name: str, value: Any, kind: str = "number", *, ge=None, gt=None, le=None, lt=None,
          choices: Iterable | None = None, allow_none: bool = False, hint: str = "") -> Any:
    """Return ``value`` (an ``int`` kind as ``int``) if it satisfies the constraints, else raise.

    Parameters
    ----------
    owner : str
        What holds the value, for the message (``"rule 'ep'"``).
    name : str
        The field (``"beta"``).
    kind : {"number", "int", "bool", "str", "mapping", "sequence", "any"}
        ``int`` accepts integral floats (TOML ``3.0``) and returns an ``int``; neither
        ``number`` nor ``int`` accepts booleans, NaN or infinities.
    ge, gt, le, lt : number, optional
        Bounds.
    choices : iterable, optional
        Allowed values (the message lists them and suggests the closest).
    allow_none : bool
        Accept ``None``.
    hint : str
        Appended to the message (how to fix it).
    """
    choices = tuple(choices) if choices is not None else None
    if value is None and allow_none:
        return None
    expected = describe(kind, ge=ge, gt=gt, le=le, lt=lt, choices=choices, allow_none=allow_none)

    def fail(extra: str = ""):
        raise ConfigError(f"{owner}: '{name}' must be {expected}, got {value!r}.{extra}"
                          + (f" {hint}" if hint else ""))

    if choices is not None:
        if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
            fail()
        try:
            ok = value in choices
        except TypeError:
            ok = False
        if not ok:
            fail(did_you_mean(str(value), [str(c) for c in choices]) if isinstance(value, str) else "")
        return value
    if kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number) \
                    and not np.issubdtype(type(value), np.complexfloating) and not isinstance(value, np.bool_) \
                    and math.isfinite(float(value)):
                value = value.item()  # numpy scalars
            else:
                fail()
        if kind == "int":
            if not float(value).is_integer():
                fail()
            value = int(value)
        for bound, ok in ((ge, lambda v, b: v >= b), (gt, lambda v, b: v > b), (le, lambda v, b: v <= b),
                          (lt, lambda v, b: v < b)):
            if bound is not None and not ok(value, bound):
                fail()
        return value
    if kind == "bool" and not isinstance(value, bool):
        fail()
    if kind == "str" and not isinstance(value, str):
        fail()
    if kind == "mapping" and not isinstance(value, Mapping):
        fail()
    if kind == "sequence" and (isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable)):
        fail()
    return value


def check_seed(owner: str, seed: Any, name: str = "seed") -> int:
    """A seed: a non-negative integer (``numpy`` generators are taken elsewhere)."""
    return check(owner, name, seed, "int", ge=0, hint="Seeds are integers such as 0, 1, 2.")


def check_list(owner: str, name: str, text: str, kind: str = "number", **bounds) -> list:
    """Parse a comma-separated command-line list (``"0,1,2"``, ``"0.1,0.25"``) and :func:`check` each item.

    ``kind`` is ``"int"`` or ``"number"``; ``bounds`` (``ge``, ``gt``, ``le``, ``lt``) apply to every
    item.  Empty items are skipped; an empty list, or an item that is not a number, is a
    :class:`~neurosim.errors.ConfigError` naming the item (``int("x")``'s bare ``ValueError`` would not).
    """
    if kind not in ("int", "number"):
        raise ValueError(f"check_list: kind must be 'int' or 'number', got {kind!r}")
    items = [part.strip() for part in str(text).split(",") if part.strip()]
    expected = f"a comma-separated list, each {describe(kind, **bounds)}"
    if not items:
        raise ConfigError(f"{owner}: '{name}' must be {expected}, got {text!r}.")
    out = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            try:
                value = float(item)
            except ValueError:
                raise ConfigError(f"{owner}: '{name}' must be {expected}, got {item!r} in {text!r}.") from None
        out.append(check(owner, name, value, kind, **bounds))
    return out


def check_keys(owner: str, given: Iterable[str], known: Iterable[str], *, what: str = "key") -> None:
    """Raise on the first key of ``given`` that is not in ``known`` (with the known ones and a did-you-mean)."""
    known = list(known)
    for key in given:
        if key not in known:
            raise ConfigError(f"{owner}: unknown {what} '{key}'; known: {', '.join(sorted(known)) or 'none'}."
                              f"{did_you_mean(key, known)}")



def check_quantity(owner: str, name: str, value: Any, unit, *, gt: float | None = None, ge: float | None = None,
                   written: str, what: str = "quantity"):
    """A brian2 quantity with the dimensions of ``unit`` (and ``> gt`` / ``>= ge`` in ``unit``), returned unchanged.

    Every message is one line and says how to write the value: a bare number (the unit is what
    is missing, the usual slip when an API moves from ``dt_ms=0.5`` to ``dt=0.5*ms``) gets
    ``'g_l' = 0.1 has no unit; pass a brian2 quantity such as 0.1/brian2.ms``.  brian2 is
    imported here, on use, so that the rate side never imports it.

    Parameters
    ----------
    owner, name : str
        As for :func:`check`.
    unit : brian2 Unit or Quantity
        The dimensions required; bounds and messages are in this unit (``brian2.ms``, ``1/brian2.ms``).
    gt, ge : float, optional
        Bounds, in ``unit``.
    written : str
        How ``unit`` follows a number in code, for the message: ``"*brian2.ms"``, ``"/brian2.ms"``,
        ``"*brian2.mV*brian2.ms"``.
    what : str
        The kind of value in words (``"time"``, ``"conductance"``).
    """
    from brian2 import Quantity, get_dimensions, have_same_dimensions

    shown = str(value) if isinstance(value, Quantity) else repr(value)   # 0.5 mV, not 0.5 * mvolt
    if not isinstance(value, Quantity) or not have_same_dimensions(value, unit) or np.ndim(value) != 0:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{owner}: '{name}' = {value!r} has no unit; pass a brian2 {what} such as "
                              f"{value}{written}")
        raise ConfigError(f"{owner}: '{name}' must be a brian2 {what} such as 1{written} (dimensions "
                          f"{get_dimensions(unit)}), got {shown}.")
    number = float(value / unit)
    for bound, op, ok in ((gt, ">", lambda v, b: v > b), (ge, ">=", lambda v, b: v >= b)):
        if bound is not None and not (math.isfinite(number) and ok(number, bound)):
            raise ConfigError(f"{owner}: '{name}' must be a {what} {op} {bound:g} {unit!s}, got {shown}.")
    if not math.isfinite(number):
        raise ConfigError(f"{owner}: '{name}' must be a finite {what}, got {shown}.")
    return value


def check_time(owner: str, name: str, value: Any, *, gt: float = 0.0, example: str = "100*brian2.ms"):
    """A brian2 time quantity ``> gt`` seconds, returned unchanged (:func:`check_quantity` in ms).

    brian2 is imported here, on use, so that the rate side never imports it. A bare number
    gets its own message (the unit is what is missing).
    """
    from brian2 import Quantity, have_same_dimensions, ms, second

    if isinstance(value, Quantity) and not have_same_dimensions(value, second):
        # the example the caller gave (a time), not check_quantity's generic one
        raise ConfigError(f"{owner}: '{name}' must be a brian2 time such as {example}, got {value}.")
    if not isinstance(value, (Quantity, int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise ConfigError(f"{owner}: '{name}' must be a brian2 time such as {example}, got {value!r}.")
    return check_quantity(owner, name, value, ms, gt=gt * 1e3, written="*brian2.ms", what="time")


# --------------------------------------------------------------------------- arrays
def all_finite(a) -> bool:
    """Whether every entry is finite, in one pass without a temporary array on the usual path.

    A NaN or inf makes the sum non-finite; only then (or on an overflowing sum of huge
    finite values) is the exact element-wise test run.  ``a`` may be an array of any
    library (:func:`neurosim.arrays.namespace`).
    """
    xp = namespace(a)
    return bool(xp.isfinite(xp.sum(a))) or bool(xp.all(xp.isfinite(a)))


def first_non_finite(arrays: Mapping) -> Any:
    """The first key of ``arrays`` whose array holds a NaN or inf, or None when all are finite.

    One reduction over all of them on the usual path (the sum of the arrays' sums is finite),
    so arrays on a GPU cost one device synchronisation, not one per array; only then is
    each array checked to name the culprit.
    """
    values = list(arrays.values())
    if not values:
        return None
    xp = namespace(*values)
    total = xp.sum(values[0])
    for value in values[1:]:
        total = total + xp.sum(value)
    if bool(xp.isfinite(total)):
        return None
    return next((key for key, value in arrays.items() if not all_finite(value)), None)


def _shape_text(shape: tuple) -> str:
    inner = ", ".join("n" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_array(owner: str, name: str, value: Any, dtype: Any = None, *, shape: tuple | None = None,
                ndim: int | None = None, finite: bool = False, nonempty: bool = False,
                within: tuple[int, int] | None = None, hint: str = "") -> np.ndarray:
    """Return ``value`` as an ndarray (of ``dtype`` if given) if it satisfies the constraints, else raise.

    Parameters
    ----------
    owner, name : str
        What holds the array and its field, for the message (``"Dataset 'digits'"``, ``"x_train"``).
    dtype : numpy dtype, optional
        The dtype of the result. An integer ``dtype`` accepts only integer input (floats are
        never truncated into labels); a float ``dtype`` accepts any real (non-boolean) input.
    shape : tuple, optional
        Expected shape; an ``int`` entry must match, a ``str`` entry (``"n_samples"``) or None
        only names the axis in the message.
    ndim : int, optional
        Expected number of dimensions (implied by ``shape``).
    finite : bool
        Reject NaN and infinities (checked after the conversion to ``dtype``, so a float64
        value that overflows float32 is caught too).
    nonempty : bool
        Reject an array with no entries.
    within : (int, int), optional
        Inclusive range of the values (labels ``0 .. n_classes - 1``).
    hint : str
        Appended to the message (how to fix it).

    Raises
    ------
    ShapeError
        One line: ``"{owner}: '{name}' must be {expected}, got {what}."``.
    """
    if shape is not None:
        ndim = len(shape)
    target = np.dtype(dtype) if dtype is not None else None
    integer = target is not None and np.issubdtype(target, np.integer)
    qualities = ", ".join(q for q, on in (("finite", finite), ("non-empty", nonempty)) if on)
    noun = " ".join(w for w in (qualities, "integer" if integer else "", "array") if w)
    expected = ("an " if noun[0] in "aeiou" else "a ") + noun
    if shape is not None:
        expected += f" of shape {_shape_text(shape)}"
    elif ndim is not None:
        expected += f" of {ndim} dimension{'s' if ndim != 1 else ''}"
    if within is not None:
        expected += f" with values in {within[0]}..{within[1]}"

    def fail(what: str):
        raise ShapeError(f"{owner}: '{name}' must be {expected}, got {what}." + (f" {hint}" if hint else ""))

    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        fail(f"something that is not an array ({' '.join(str(err).split())})")
    numeric = np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)
    if integer and not np.issubdtype(array.dtype, np.integer):
        fail(f"dtype {array.dtype}")
    if target is not None and not numeric:
        fail(f"dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        fail(f"shape {array.shape}")
    if shape is not None and any(isinstance(s, (int, np.integer)) and s != n for s, n in zip(shape, array.shape)):
        fail(f"shape {array.shape}")
    if nonempty and array.size == 0:
        fail(f"shape {array.shape} (no entries)")
    if target is not None:
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which `finite` reports
            array = array.astype(target, copy=False)
    if finite and np.issubdtype(array.dtype, np.inexact) and not all_finite(array):
        bad = ~np.isfinite(array)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        count = int(bad.sum())
        fail(f"{count} NaN/inf value{'s' if count != 1 else ''} (first at index "
             f"{first if len(first) > 1 else first[0]})")
    if within is not None and array.size:
        low, high = array.min(), array.max()
        if low < within[0] or high > within[1]:
            fail(f"values in {low}..{high}")
    return array


# --------------------------------------------------------------------------- JSON and files
def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or None for None, NaN and infinities (JSON ``null``)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values, NaN/inf as None and paths as strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(obj: Any, **kwargs) -> str:
    """Strict JSON of :func:`jsonable` ``(obj)`` (no ``NaN`` tokens): what every record and ``--json`` prints."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` if the block succeeds.

    A reader never sees half a file and an exception (a failed checksum, Ctrl-C) leaves
    nothing behind: the temporary file is deleted. The parent folder is created if needed;
    the file gets the permissions the umask gives an ordinary file (not mkstemp's 0600).
    The handle's ``name`` is the temporary path (for checks before the rename).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; a record is an ordinary file
    finally:
        os.close(fd)
    try:
        with open(tmp, "wb") as handle:  # (not os.fdopen: the handle's name must be the path)
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`); returns the path."""
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON (NaN/inf -> null) to ``path``, atomically."""
    return atomic_write_bytes(path, (to_json(obj, indent=2) + "\n").encode())


# --------------------------------------------------------------------------- random state
@contextlib.contextmanager
def restoring_global_random_state() -> Iterator[None]:
    """Put NumPy's global random state back as it was when the block ends.

    brian2 draws from NumPy's global generator (``brian2.seed`` seeds it), so a seeded
    simulation would otherwise change the numbers every later ``np.random`` call of the
    user gets::

        with restoring_global_random_state():
            brian2.seed(seed)
            net.run(duration)
    """
    saved = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(saved)

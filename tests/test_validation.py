"""Tests of neurosim.validation: the one message template, arrays, JSON and file writing, random state.

Oracles: the JSON standard (``json.loads`` with ``parse_constant`` rejecting ``NaN``), the file
system (what is on disk after a failed write), and NumPy's own global generator.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neurosim.errors import ConfigError, ShapeError
from neurosim.validation import (
    atomic_write_bytes,
    atomic_writer,
    check,
    check_array,
    finite_or_none,
    restoring_global_random_state,
    to_json,
    write_json,
)


def strict_loads(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_to_json_writes_nan_and_inf_as_null_and_numpy_as_python():
    obj = {"a": float("nan"), "b": [np.float32(1.5), np.inf, -np.inf], "c": np.arange(3), 4: np.int64(7),
           "d": (np.nan, 2.0), "e": np.array([[np.nan, 1.0]])}
    assert strict_loads(to_json(obj)) == {"a": None, "b": [1.5, None, None], "c": [0, 1, 2], "4": 7,
                                          "d": [None, 2.0], "e": [[None, 1.0]]}


@pytest.mark.parametrize("value, expected", [(None, None), (float("nan"), None), (np.inf, None),
                                             (-math.inf, None), (np.float32(0.25), 0.25), (3, 3.0)])
def test_finite_or_none(value, expected):
    assert finite_or_none(value) == expected


def test_write_json_is_strict_and_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "run.json"
    write_json(path, {"loss": float("nan")})
    write_json(path, {"loss": 0.5})
    assert strict_loads(path.read_text()) == {"loss": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left


def test_atomic_writer_leaves_the_old_file_and_no_temporary_on_failure(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(path) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_atomic_writer_handle_names_the_temporary_file(tmp_path):
    # Checks before the rename (a download's checksum) read the temporary file by name.
    with atomic_writer(tmp_path / "a.bin") as handle:
        handle.write(b"abc")
        handle.flush()
        with open(handle.name, "rb") as again:
            assert again.read() == b"abc"
    assert (tmp_path / "a.bin").read_bytes() == b"abc"


def test_restoring_global_random_state():
    np.random.seed(5)
    expected = np.random.random(3)
    np.random.seed(5)
    with restoring_global_random_state():
        np.random.seed(99)          # what brian2.seed does
        np.random.random(10)
    assert np.array_equal(np.random.random(3), expected)


def test_restoring_global_random_state_on_error():
    np.random.seed(1)
    expected = np.random.random()
    np.random.seed(1)
    with pytest.raises(KeyError):
        with restoring_global_random_state():
            np.random.random(4)
            raise KeyError("x")
    assert np.random.random() == expected


@pytest.mark.parametrize("kwargs, value, fragment", [
    (dict(dtype=np.int64), np.array([0.0, 1.0]), "must be an integer array, got dtype float64"),
    (dict(dtype=np.float32), np.array([True]), "got dtype bool"),
    (dict(dtype=np.float64), np.array([1 + 2j]), "got dtype complex128"),
    (dict(shape=(2, "n")), np.zeros((3, 4)), "of shape (2, n), got shape (3, 4)"),
    (dict(ndim=1), np.zeros((3, 4)), "of 1 dimension, got shape (3, 4)"),
    (dict(finite=True), np.array([1.0, np.nan, np.inf]), "got 2 NaN/inf values (first at index 1)"),
    (dict(nonempty=True), np.zeros((0, 3)), "got shape (0, 3) (no entries)"),
    (dict(within=(0, 9)), np.array([3, 10]), "with values in 0..9, got values in 3..10"),
    (dict(dtype=np.float64), [[1, 2], [3]], "not an array"),
])
def test_check_array_messages(kwargs, value, fragment):
    with pytest.raises(ShapeError) as info:
        check_array("owner", "field", value, **kwargs)
    message = str(info.value)
    assert message.startswith("owner: 'field' must be ") and fragment in message and "\n" not in message


def test_check_array_converts_and_passes_good_arrays():
    out = check_array("o", "x", [[1, 2]], np.float32, shape=("n", 2), finite=True, nonempty=True)
    assert out.dtype == np.float32 and out.shape == (1, 2)
    labels = np.array([0, 9], dtype=np.uint8)
    assert check_array("o", "y", labels, np.int64, within=(0, 9)).dtype == np.int64


@pytest.mark.parametrize("value", [np.nan, math.inf, True, "1", None, np.complex128(1)])
def test_check_number_rejects_non_numbers(value):
    with pytest.raises(ConfigError, match="'x' must be a finite number"):
        check("owner", "x", value)

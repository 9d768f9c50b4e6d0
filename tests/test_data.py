"""Tests of neurosim.data: the registry, the Dataset record and the loaders.

Oracles: the IDX format as specified by LeCun (headers written byte by byte here), the
CIFAR binary format as specified on the CIFAR page (records assembled byte by byte here),
the embedded CSV parsed independently with the ``csv`` module, truth tables enumerated with
``itertools``, and small MNIST-format sets and CIFAR archives written to a temporary folder.
No test touches the network: an autouse fixture makes any download attempt fail the test,
and the user's cache and ``$NEUROSIM_DATA`` are replaced by empty temporary folders.
Real-data tests read Fashion-MNIST from /usr/share/datasets/fashion-mnist.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import itertools
import shutil
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from neurosim.data import (
    Dataset,
    available_datasets,
    clear_cache,
    digits,
    find_idx_files,
    idx,
    load_dataset,
    load_idx,
    write_idx,
)
from neurosim.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    ShapeError,
    UnknownNameError,
)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(),
    reason=f"{FASHION_DIR} absent (Debian package dataset-fashion-mnist not installed)")

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No network, no user cache, no $NEUROSIM_DATA: every test sees only tmp_path."""

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "neurosim"


def write_fake_mnist(folder: Path, n_train: int = 50, n_test: int = 20, seed: int = 0,
                     gz: bool = True) -> dict[str, np.ndarray]:
    """Write a small random MNIST-format set; return the arrays written, by role."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        write_idx(folder / (STEMS[role] + (".gz" if gz else "")), array)
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [
    np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8),
    np.array([7, 0, 255, 3, 9], dtype=np.uint8),
    np.array([[-2**31, -1, 0], [1, 2**31 - 1, 42]], dtype=np.int32),
    np.linspace(-1, 1, 12).reshape(2, 2, 3).astype(np.float32),
], ids=["uint8-3d", "uint8-1d", "int32-2d", "float32-3d"])
def test_idx_round_trip(tmp_path, array, suffix):
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    loaded = load_idx(path)
    assert loaded.dtype == array.dtype
    assert_array_equal(loaded, array)
    # Header checked against the format specification, byte by byte.
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C,
            np.dtype(np.float32): 0x0D}[array.dtype]
    assert raw[:4] == bytes([0, 0, code, array.ndim])
    assert struct.unpack_from(f">{array.ndim}I", raw, 4) == array.shape
    assert len(raw) == 4 + 4 * array.ndim + array.nbytes


def test_load_idx_reads_hand_made_bytes(tmp_path):
    path = tmp_path / "hand.idx"
    values = [-5, 0, 70000, 2**31 - 1, -(2**31), 12]
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3)
                     + struct.pack(">6i", *values))
    assert_array_equal(load_idx(path), np.array(values).reshape(2, 3))


def test_load_idx_result_is_read_only(tmp_path):
    path = tmp_path / "a.idx.gz"
    write_idx(path, np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError):
        load_idx(path)[0] = 1


HEADER_U8_3D = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 28, 28)


@pytest.mark.parametrize("content, complaint", [
    (b"", "not an IDX file"),
    (bytes([1, 0, 0x08, 1]) + struct.pack(">I", 3) + b"abc", "magic"),
    (bytes([0, 0, 0x07, 1]) + struct.pack(">I", 3) + b"abc", "type code"),
    (bytes([0, 0, 0x08, 0]), "0 dimensions"),
    (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2), "truncated IDX header"),
    (HEADER_U8_3D + bytes(28 * 28 * 2 - 1), "truncated payload"),
    (HEADER_U8_3D + bytes(28 * 28 * 2 + 5), "trailing bytes"),
], ids=["empty", "bad-magic", "bad-type", "zero-dims", "short-header", "truncated",
        "trailing"])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_corrupt_idx_raises_data_error_naming_the_file(tmp_path, content, complaint, gz):
    path = tmp_path / ("broken-file.idx.gz" if gz else "broken-file.idx")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match=complaint) as info:
        load_idx(path)
    assert "broken-file.idx" in str(info.value)


def test_corrupt_gzip_stream_raises_data_error(tmp_path):
    path = tmp_path / "cut.idx.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="cut.idx.gz"):
        load_idx(path)


def test_missing_idx_file_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="nothing.idx"):
        load_idx(tmp_path / "nothing.idx")


def test_write_idx_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


# ------------------------------------------------------------ MNIST-format files


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_fake_mnist_loads_from_data_dir(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path / "fake", gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    assert ds.name == "mnist" and ds.n_classes == 10 and ds.image_shape == (1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert (ds.n_train, ds.n_test, ds.n_features) == (50, 20, 784)
    expected = arrays["train_images"].reshape(50, 784).astype(np.float64) / 255.0
    assert_allclose(ds.x_train, expected, rtol=0, atol=1e-7)  # float32 rounding only
    assert_allclose(ds.x_test, arrays["test_images"].reshape(20, 784) / 255.0, rtol=0,
                    atol=1e-7)
    assert_array_equal(ds.y_train, arrays["train_labels"])
    assert_array_equal(ds.y_test, arrays["test_labels"])
    assert str(tmp_path / "fake") in ds.source


@pytest.mark.parametrize("sub", ["mnist", ""], ids=["env/mnist", "env"])
def test_fake_mnist_loads_from_neurosim_data(tmp_path, monkeypatch, sub):
    arrays = write_fake_mnist(tmp_path / "env" / sub, seed=3)
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path / "env"))
    ds = load_dataset("mnist", download=False, verify=False)
    assert_array_equal(ds.y_train, arrays["train_labels"])


def test_fake_mnist_fails_checksum_verification(tmp_path):
    write_fake_mnist(tmp_path / "fake")
    got = md5(tmp_path / "fake" / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path / "fake", download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message  # upstream md5 (LeCun's site)
    assert got in message
    assert "delete" in message and "\n" not in message


def test_returned_arrays_are_not_shared_between_loads(tmp_path):
    write_fake_mnist(tmp_path / "fake")
    first = load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    expected = first.x_train.copy()
    first.x_train[:] = -1.0
    first.y_train[:] = 0
    second = load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    assert_array_equal(second.x_train, expected)
    assert second.y_train.any()


def test_rewritten_file_is_read_again(tmp_path):
    write_fake_mnist(tmp_path / "fake", seed=0)
    load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    arrays = write_fake_mnist(tmp_path / "fake", seed=1)
    ds = load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    assert_array_equal(ds.y_train, arrays["train_labels"])


@pytest.mark.parametrize("role, bad, complaint", [
    ("train_images", np.zeros((50, 27, 28), np.uint8), "28, 28"),
    ("test_images", np.zeros((20, 784), np.uint8), "28, 28"),
    ("train_labels", np.zeros(49, np.uint8), "labels for the 50 images"),
    ("test_labels", np.full(20, 10, np.uint8), "0..9"),
])
def test_inconsistent_mnist_files_are_rejected(tmp_path, role, bad, complaint):
    write_fake_mnist(tmp_path / "fake")
    write_idx(tmp_path / "fake" / f"{STEMS[role]}.gz", bad)
    with pytest.raises(DataError, match=complaint) as info:
        load_dataset("mnist", data_dir=tmp_path / "fake", download=False, verify=False)
    assert STEMS[role] in str(info.value)


def test_lookup_order(tmp_path, monkeypatch, offline):
    system = tmp_path / "usr-share"
    spec = dataclasses.replace(idx.IDX_SETS["fashion-mnist"], system_dirs=(system,))
    monkeypatch.setitem(idx.IDX_SETS, "fashion-mnist", spec)
    env = tmp_path / "env"
    monkeypatch.setenv("NEUROSIM_DATA", str(env))
    order = [tmp_path / "given", env / "fashion-mnist", env, offline / "fashion-mnist", system]
    labels = [write_fake_mnist(folder, seed=i)["train_labels"] for i, folder in enumerate(order)]
    for i, folder in enumerate(order):
        found = find_idx_files("fashion-mnist", data_dir=tmp_path / "given", download=False,
                               verify=False)
        assert {p.parent for p in found.values()} == {folder}, f"step {i}"
        # Files of the winner are what load_dataset reads.
        y = load_dataset("fmnist", data_dir=tmp_path / "given", download=False,
                         verify=False).y_train
        assert_array_equal(y, labels[i])
        for stem in STEMS.values():
            (folder / f"{stem}.gz").unlink()


def test_incomplete_folder_is_skipped(tmp_path):
    write_fake_mnist(tmp_path / "given", seed=0)
    (tmp_path / "given" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match=r"missing t10k-labels-idx1-ubyte\.gz"):
        find_idx_files("mnist", data_dir=tmp_path / "given", download=False, verify=False)


def test_not_found_anywhere_names_every_place(tmp_path, monkeypatch, offline):
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv("NEUROSIM_DATA", str(env))
    system = tmp_path / "usr-share-fashion"
    spec = dataclasses.replace(idx.IDX_SETS["fashion-mnist"], system_dirs=(system,))
    monkeypatch.setitem(idx.IDX_SETS, "fashion-mnist", spec)
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "\n" not in message
    for place in (tmp_path / "nowhere", env / "fashion-mnist", env,
                  offline / "fashion-mnist", system):
        assert str(place) in message
    assert "download=False" in message
    assert "apt-get install dataset-fashion-mnist" in message
    # The fix speaks to a CLI user (the environment variable) and to a Python user (data_dir=).
    assert "export NEUROSIM_DATA=" in message and "data_dir=" in message


def test_not_found_says_when_neurosim_data_is_unset():
    with pytest.raises(DataNotFoundError, match=r"\$NEUROSIM_DATA \(not set\)"):
        find_idx_files("mnist", download=False)


def test_find_idx_files_rejects_non_idx_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist'"):
        find_idx_files("mnsit", download=False)


def fake_mirror(src: Path, served: list[str], corrupt: bool = False):
    def urlopen(request, timeout):
        assert timeout > 0
        served.append(request.full_url)
        data = (src / request.full_url.rsplit("/", 1)[1]).read_bytes()
        return io.BytesIO(data[:-10] if corrupt else data)
    return urlopen


def serve_broken_then_good(monkeypatch, src: Path) -> list[str]:
    """Mirrors "broken" (serves truncated files) and "good"; returns the list of URLs served."""
    served: list[str] = []
    good = fake_mirror(src, served)
    bad = fake_mirror(src, served, corrupt=True)
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: (
        bad if "broken" in request.full_url else good)(request, timeout))
    return served


def test_download_fills_the_cache_after_checking(tmp_path, monkeypatch, offline):
    arrays = write_fake_mnist(tmp_path / "upstream", seed=5)
    spec = dataclasses.replace(
        idx.IDX_SETS["mnist"],
        md5_gz={role: md5(tmp_path / "upstream" / f"{stem}.gz") for role, stem in STEMS.items()},
        sha256_payload={}, mirrors=("https://broken.invalid/", "https://good.invalid/"))
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    served = serve_broken_then_good(monkeypatch, tmp_path / "upstream")

    ds = load_dataset("mnist")
    assert_array_equal(ds.y_test, arrays["test_labels"])
    cache = offline / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in STEMS.values())
    # The corrupt mirror was asked first each time (a checksum failure is per file),
    # then the good one.
    assert len(served) == 8


def test_failed_download_leaves_nothing_in_the_cache(tmp_path, monkeypatch, offline):
    write_fake_mnist(tmp_path / "upstream")
    spec = dataclasses.replace(idx.IDX_SETS["mnist"], md5_gz={
        role: md5(tmp_path / "upstream" / f"{stem}.gz") for role, stem in STEMS.items()},
        sha256_payload={}, mirrors=("https://broken.invalid/",))
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    served: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen",
                        fake_mirror(tmp_path / "upstream", served, corrupt=True))
    with pytest.raises(DataNotFoundError, match="checksum mismatch") as info:
        load_dataset("mnist")
    assert "https://broken.invalid/train-images-idx3-ubyte.gz" in str(info.value)
    # Neither a partial file nor an empty cache folder is left behind.
    assert not (offline / "mnist").exists() and not offline.exists()


def test_offline_machine_asks_each_mirror_once(monkeypatch):
    calls: list[str] = []

    def unreachable(request, timeout):
        calls.append(request.full_url)
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(DataNotFoundError, match="Name or service not known"):
        load_dataset("mnist")
    assert len(calls) == len(idx.IDX_SETS["mnist"].mirrors)


def test_unreachable_mirror_is_skipped_for_the_next_files(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path / "upstream")
    spec = dataclasses.replace(idx.IDX_SETS["mnist"], md5_gz={
        role: md5(tmp_path / "upstream" / f"{stem}.gz") for role, stem in STEMS.items()},
        sha256_payload={}, mirrors=("https://dead.invalid/", "https://good.invalid/"))
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    served: list[str] = []
    good = fake_mirror(tmp_path / "upstream", served)

    def urlopen(request, timeout):
        if "dead" in request.full_url:
            served.append(request.full_url)
            raise TimeoutError("timed out")
        return good(request, timeout)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    load_dataset("mnist")
    assert [u for u in served if "dead" in u] == ["https://dead.invalid/train-images-idx3-ubyte.gz"]
    assert len(served) == 5


# ------------------------------------------------------------------- Fashion-MNIST


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist", data_dir=FASHION_DIR, download=False)


@needs_fashion
def test_fashion_mnist_real_files(fashion):
    assert (fashion.n_train, fashion.n_test, fashion.n_features) == (60000, 10000, 784)
    assert fashion.image_shape == (1, 28, 28) and fashion.x_train.dtype == np.float32
    assert_array_equal(np.bincount(fashion.y_train, minlength=10), np.full(10, 6000))
    assert_array_equal(np.bincount(fashion.y_test, minlength=10), np.full(10, 1000))
    assert fashion.x_train.min() == 0.0 and fashion.x_train.max() == 1.0
    # Independent decoding of the files with gzip and fixed header offsets.
    with gzip.open(FASHION_DIR / "train-labels-idx1-ubyte.gz") as f:
        assert_array_equal(fashion.y_train, np.frombuffer(f.read(), np.uint8, offset=8))
    with gzip.open(FASHION_DIR / "t10k-images-idx3-ubyte.gz") as f:
        first = np.frombuffer(f.read(16 + 784), np.uint8, offset=16)
    assert_allclose(fashion.x_test[0], first / 255.0, rtol=0, atol=1e-7)


@needs_fashion
def test_fashion_mnist_found_in_system_folder_and_verified():
    found = find_idx_files("fashion_mnist", download=False)  # verify=True by default
    assert {p.parent for p in found.values()} == {FASHION_DIR}


@needs_fashion
def test_fashion_mnist_tampered_copy_is_rejected(tmp_path):
    copy = tmp_path / "fashion"
    copy.mkdir()
    for stem in STEMS.values():
        (copy / f"{stem}.gz").symlink_to(FASHION_DIR / f"{stem}.gz")
    labels = bytearray(gzip.decompress((FASHION_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10  # still a valid label: only the checksum can tell
    (copy / "t10k-labels-idx1-ubyte.gz").unlink()
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_dataset("fashion-mnist", data_dir=copy, download=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


# --------------------------------------------------------------------------- digits


def read_digits_csv() -> np.ndarray:
    with gzip.open(digits.DIGITS_PATH, "rt") as f:
        return np.array([[int(v) for v in row] for row in csv.reader(f)])


def test_digits_shapes_and_values():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.n_classes == 10 and ds.image_shape == (1, 8, 8)
    assert set(ds.y_train) == set(range(10)) and set(ds.y_test) == set(range(10))
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert ds.x_train.max() == 1.0  # 16/16: the scale is /16, not /255


def test_digits_split_partitions_the_file_stratified():
    table = read_digits_csv()
    assert table.shape == (1797, 65)
    ds = load_dataset("digits")
    rows = np.vstack([
        np.column_stack([np.rint(ds.x_train * 16), ds.y_train]),
        np.column_stack([np.rint(ds.x_test * 16), ds.y_test]),
    ]).astype(np.int64)
    # Same multiset of rows: the two splits partition the file.
    assert_array_equal(np.unique(rows, axis=0, return_counts=True)[1],
                       np.unique(table, axis=0, return_counts=True)[1])
    assert_array_equal(np.unique(rows, axis=0), np.unique(table, axis=0))
    per_class = np.bincount(table[:, 64])
    test_counts = np.bincount(ds.y_test, minlength=10)
    assert test_counts.sum() == 360
    assert np.all(np.abs(test_counts - 0.2 * per_class) < 1)


def test_digits_split_is_fixed():
    first = load_dataset("digits")
    clear_cache()
    second = load_dataset("digits", seed=123)  # the seed picks subsets, not the split
    assert_array_equal(first.x_train, second.x_train)
    assert_array_equal(first.y_test, second.y_test)


def test_corrupted_digits_file_is_rejected(tmp_path, monkeypatch):
    copy = tmp_path / "digits.csv.gz"
    data = bytearray(digits.DIGITS_PATH.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(digits, "DIGITS_PATH", copy)
    with pytest.raises(DataError, match="sha256") as info:
        load_dataset("digits")
    assert str(copy) in str(info.value)


def test_missing_digits_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(digits, "DIGITS_PATH", tmp_path / "gone.csv.gz")
    with pytest.raises(DataError, match="gone.csv.gz"):
        load_dataset("digits")


# ------------------------------------------------------------------------ toy tasks


def test_xor_truth_table():
    ds = load_dataset("xor")
    table = {tuple(int(v) for v in x): int(y) for x, y in zip(ds.x_train, ds.y_train)}
    assert table == {(a, b): a ^ b for a, b in itertools.product((0, 1), repeat=2)}
    assert ds.n_train == 4 and ds.n_classes == 2
    assert_array_equal(ds.x_test, ds.x_train)
    assert_array_equal(ds.y_test, ds.y_train)


@pytest.mark.parametrize("n_bits", [None, 1, 3, 6])
def test_parity_truth_table(n_bits):
    options = {} if n_bits is None else {"n_bits": n_bits}
    n_bits = 4 if n_bits is None else n_bits
    ds = load_dataset("parity", **options)
    assert ds.n_train == ds.n_test == 2**n_bits and ds.n_features == n_bits
    table = {tuple(int(v) for v in x): int(y) for x, y in zip(ds.x_test, ds.y_test)}
    assert table == {bits: sum(bits) % 2 for bits in itertools.product((0, 1), repeat=n_bits)}


@pytest.mark.parametrize("options", [{"n_bits": 0}, {"n_bits": 2.5}, {"n_bits": 21}, {"n_bit": 3}])
def test_parity_rejects_bad_options(options):
    with pytest.raises(ConfigError, match="n_bit"):
        load_dataset("parity", **options)


def test_teacher_student_is_seeded():
    a = load_dataset("teacher-student", seed=7)
    b = load_dataset("teacher-student", seed=7)
    c = load_dataset("teacher-student", seed=8)
    assert (a.n_train, a.n_test, a.n_features, a.n_classes) == (1000, 200, 20, 0)
    assert a.t_train.shape == (1000, 5) and a.t_test.shape == (200, 5)
    assert a.x_train.dtype == np.float32
    assert_array_equal(a.x_train, b.x_train)
    assert_array_equal(a.t_test, b.t_test)
    assert not np.allclose(a.t_train, c.t_train)
    assert_array_equal(a.targets("test"), a.t_test)
    assert_array_equal(a.y_train, a.t_train.argmax(axis=1))
    # Standard-normal inputs: 20000 draws, so the mean is within 5 standard errors of 0.
    assert abs(a.x_train.mean()) < 0.04 and abs(a.x_train.std() - 1) < 0.04


def test_teacher_student_sizes_do_not_change_the_teacher_or_other_split():
    big = load_dataset("teacher-student", n_train=1000, n_test=200, seed=2)
    small = load_dataset("teacher-student", n_train=10, n_test=200, seed=2)
    assert_array_equal(small.x_train, big.x_train[:10])
    assert_array_equal(small.t_train, big.t_train[:10])
    assert_array_equal(small.t_test, big.t_test)


def test_linear_teacher_is_recovered_by_least_squares():
    # With no hidden layer the teacher is t = W x: least squares on the training set
    # must predict the test targets exactly, which holds only if both splits share one
    # teacher and the targets are computed from the stored float32 inputs.
    ds = load_dataset("teacher-student", layers=(6, 3), n_train=50, n_test=20, seed=4)
    w, *_ = np.linalg.lstsq(ds.x_train.astype(np.float64), ds.t_train, rcond=None)
    assert_allclose(ds.x_test.astype(np.float64) @ w, ds.t_test, atol=1e-10)


def test_tanh_teacher_is_not_linear():
    ds = load_dataset("teacher-student", n_train=1000, seed=4)
    w, *_ = np.linalg.lstsq(ds.x_train.astype(np.float64), ds.t_train, rcond=None)
    assert np.abs(ds.x_train @ w - ds.t_train).max() > 1e-3


# --------------------------------------------------------------- names & options


def test_available_datasets():
    # The sets the package documents (neurosim/data/__init__.py), in one registry.
    assert available_datasets() == ["cifar-10", "cifar-100", "digits", "family-trees", "fashion-mnist",
                                    "mirror-symmetry", "mnist", "parity", "rhw-xor", "teacher-student", "xor"]


def test_unknown_name_suggests_close_match():
    with pytest.raises(UnknownNameError) as info:
        load_dataset("fashon-mnist")
    assert isinstance(info.value, KeyError)
    assert "Did you mean 'fashion-mnist'?" in str(info.value)


@pytest.mark.parametrize("alias", ["fashion_mnist", "fmnist", "Fashion-MNIST"])
def test_aliases(tmp_path, alias):
    write_fake_mnist(tmp_path / "fake")
    ds = load_dataset(alias, data_dir=tmp_path / "fake", download=False, verify=False)
    assert ds.name == "fashion-mnist"


@pytest.mark.parametrize("field, value", [
    ("n_train", 0), ("n_train", -3), ("n_test", 2.5), ("n_test", True), ("n_train", "10"),
    ("seed", -1),
])
def test_bad_sizes_and_seed_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        load_dataset("digits", **{field: value})


def test_options_of_other_datasets_are_rejected():
    with pytest.raises(ConfigError, match="n_bits"):
        load_dataset("digits", n_bits=3)


# ------------------------------------------------------------- targets & subsets


@pytest.mark.parametrize("split", ["train", "test"])
def test_one_hot_targets(split):
    ds = load_dataset("digits")
    y = getattr(ds, f"y_{split}")
    t = ds.targets(split)
    assert t.shape == (y.size, 10) and t.dtype == np.float64
    assert_array_equal(t.sum(axis=1), np.ones(y.size))
    assert_array_equal(t.argmax(axis=1), y)
    assert set(np.unique(t)) == {0.0, 1.0}


def test_pm1_targets_and_dtype():
    t = load_dataset("xor").targets("train", encoding="pm1", dtype=np.float32)
    assert t.dtype == np.float32
    assert_array_equal(t, [[1, -1], [-1, 1], [-1, 1], [1, -1]])  # labels 0, 1, 1, 0


def test_bad_target_encoding_and_split():
    ds = load_dataset("xor")
    with pytest.raises(UnknownNameError, match="one_hot"):
        ds.targets(encoding="onehot")
    with pytest.raises(UnknownNameError, match="train"):
        ds.targets("validation")


def test_subset_is_balanced_deterministic_and_drawn_from_the_split():
    full = load_dataset("digits")
    a = load_dataset("digits", n_train=100, n_test=30, seed=1)
    b = full.subset(n_train=100, n_test=30, seed=1)
    c = full.subset(n_train=100, n_test=30, seed=2)
    assert_array_equal(np.bincount(a.y_train, minlength=10), np.full(10, 10))
    assert_array_equal(np.bincount(a.y_test, minlength=10), np.full(10, 3))
    assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    rows = {(x.tobytes(), y) for x, y in zip(full.x_train, full.y_train)}
    assert all((x.tobytes(), y) in rows for x, y in zip(a.x_train, a.y_train))
    assert len({x.tobytes() for x in a.x_train}) == 100  # no sample drawn twice


def test_subset_of_imbalanced_labels_takes_what_each_class_has():
    x = np.zeros((13, 2), np.float32)
    y = np.array([0] * 10 + [1] * 2 + [2])
    ds = Dataset("toy", x, y, x, y, 3, None, "test")
    assert_array_equal(np.bincount(ds.subset(n_train=9).y_train, minlength=3), [6, 2, 1])
    assert_array_equal(np.bincount(ds.subset(n_train=3).y_train, minlength=3), [1, 1, 1])


def test_subset_larger_than_the_split_is_an_error():
    with pytest.raises(ConfigError, match="1437"):
        load_dataset("digits", n_train=1438)
    with pytest.raises(ConfigError, match="n_test=5"):
        load_dataset("xor", n_test=5)


def test_intact_copy_of_the_digits_file_gives_the_same_split(tmp_path, monkeypatch):
    original = load_dataset("digits")
    copy = tmp_path / "digits.csv.gz"
    shutil.copy(digits.DIGITS_PATH, copy)
    monkeypatch.setattr(digits, "DIGITS_PATH", copy)
    moved = load_dataset("digits")
    assert_array_equal(moved.x_test, original.x_test)
    assert_array_equal(moved.y_train, original.y_train)


# ------------------------------------------------------------- Dataset validation

X4 = np.zeros((4, 2), np.float32)
Y4 = np.array([0, 1, 1, 0])


def with_value(array, index, value):
    out = np.array(array, dtype=np.float64)
    out[index] = value
    return out


@pytest.mark.parametrize("fields, error, fragments", [
    (dict(x_train=with_value(X4, (2, 1), np.nan)), ShapeError, ["'x_train'", "finite", "1 NaN/inf", "(2, 1)"]),
    (dict(x_test=with_value(X4, (0, 0), np.inf)), ShapeError, ["'x_test'", "finite", "(0, 0)"]),
    (dict(x_train=with_value(X4, (1, 1), 1e39)), ShapeError, ["'x_train'", "NaN/inf"]),  # overflows float32
    (dict(y_train=Y4[:3]), ShapeError, ["'y_train'", "shape (4,)", "got shape (3,)"]),
    (dict(x_test=np.zeros((4, 3))), ShapeError, ["'x_test'", "(n_samples, 2)", "(4, 3)"]),
    (dict(x_train=np.zeros(4)), ShapeError, ["'x_train'", "(n_samples, n_features)"]),
    (dict(y_train=Y4 + 1), ShapeError, ["'y_train'", "values in 0..1", "got values in 1..2"]),
    (dict(y_test=Y4 - 1), ShapeError, ["'y_test'", "values in -1..0"]),
    (dict(y_train=Y4.astype(float)), ShapeError, ["'y_train'", "integer", "float64"]),
    (dict(x_train=np.zeros((0, 2)), y_train=np.zeros(0, int)), ShapeError, ["'x_train'", "non-empty"]),
    (dict(x_test=np.zeros((0, 2)), y_test=np.zeros(0, int)), ShapeError, ["'x_test'", "non-empty"]),
    (dict(x_train=np.full((4, 2), "a")), ShapeError, ["'x_train'", "dtype <U1"]),
    (dict(image_shape=(3, 3)), ShapeError, ["image_shape", "9 pixels", "2 features"]),
    (dict(n_classes=-1), ConfigError, ["'n_classes'", ">= 0"]),
    (dict(n_classes=2.5), ConfigError, ["'n_classes'"]),
    (dict(n_classes=0), ConfigError, ["t_train"]),
    (dict(t_train=np.zeros((4, 1)), t_test=np.zeros((4, 1))), ConfigError, ["only for regression"]),
    (dict(n_classes=0, t_train=with_value(np.zeros((4, 1)), (3, 0), np.nan), t_test=np.zeros((4, 1)),
          y_train=np.zeros(4, int), y_test=np.zeros(4, int)), ShapeError, ["'t_train'", "(3, 0)"]),
    (dict(n_classes=0, t_train=np.zeros((4, 2)), t_test=np.zeros((4, 3)), y_train=np.zeros(4, int),
          y_test=np.zeros(4, int)), ShapeError, ["'t_test'", "(4, 2)", "(4, 3)"]),
    (dict(n_classes=0, t_train=np.zeros((4, 2)), t_test=np.zeros((4, 2)), y_train=np.full(4, 2),
          y_test=np.zeros(4, int)), ShapeError, ["'y_train'", "0..1"]),
], ids=["nan-x", "inf-x-test", "float32-overflow", "y-length", "features-differ", "x-1d", "label-high",
        "label-negative", "float-labels", "empty-train", "empty-test", "strings", "image-shape",
        "n-classes-negative", "n-classes-float", "regression-without-targets", "targets-for-classes",
        "nan-targets", "outputs-differ", "regression-label-range"])
def test_dataset_rejects_bad_arrays_in_one_line(fields, error, fragments):
    base = dict(name="toy", x_train=X4, y_train=Y4, x_test=X4, y_test=Y4, n_classes=2, image_shape=None,
                source="test")
    with pytest.raises(error) as info:
        Dataset(**{**base, **fields})
    message = str(info.value)
    assert message.startswith("Dataset 'toy'") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_dataset_accepts_and_converts_good_arrays():
    ds = Dataset("toy", [[0, 1], [1, 0]], np.array([1, 0], np.uint8), X4, Y4, 2, (2, 1), "test")
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (2, 1) and (ds.n_train, ds.n_test, ds.n_features) == (2, 4, 2)


# ------------------------------------------------------------------------- CIFAR

CIFAR10_MEMBERS = [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)] + \
    ["cifar-10-batches-bin/test_batch.bin"]


def cifar_records(images: np.ndarray, labels: list[np.ndarray]) -> bytes:
    """CIFAR binary records, by the format's definition: label byte(s), then the R, G, B planes row by row."""
    out = bytearray()
    for i, image in enumerate(images):
        out += bytes(int(lab[i]) for lab in labels)
        for channel in range(3):
            for row in range(32):
                out += bytes(int(v) for v in image[channel, row])
    return bytes(out)


def write_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_fake_cifar10(folder: Path, per_batch: int = 2, n_test: int = 3, seed: int = 0):
    """A small cifar-10-binary.tar.gz; returns (path, train images, train labels, test images, test labels)."""
    rng = np.random.default_rng(seed)
    n_train = 5 * per_batch
    images = rng.integers(0, 256, size=(n_train + n_test, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_train + n_test)
    members = {name: cifar_records(images[i * per_batch:(i + 1) * per_batch], [labels[i * per_batch:]])
               for i, name in enumerate(CIFAR10_MEMBERS[:5])}
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
    members[CIFAR10_MEMBERS[5]] = cifar_records(images[n_train:], [labels[n_train:]])
    path = write_tar_gz(folder / "cifar-10-binary.tar.gz", members)
    return path, images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def test_cifar10_archive_is_read_by_the_format(tmp_path):
    _, x_train, y_train, x_test, y_test = write_fake_cifar10(tmp_path / "c")
    ds = load_dataset("cifar10", data_dir=tmp_path / "c", download=False, verify=False)
    assert ds.name == "cifar-10" and ds.n_classes == 10 and ds.image_shape == (3, 32, 32)
    assert (ds.n_train, ds.n_test, ds.n_features) == (10, 3, 3072)
    assert ds.x_train.dtype == np.float32
    assert_allclose(ds.x_train.reshape(-1, 3, 32, 32), x_train / 255.0, rtol=0, atol=1e-7)
    assert_allclose(ds.x_test.reshape(-1, 3, 32, 32), x_test / 255.0, rtol=0, atol=1e-7)
    assert_array_equal(ds.y_train, y_train)
    assert_array_equal(ds.y_test, y_test)


def test_cifar10_checksum_failure_is_detected(tmp_path):
    path, *_ = write_fake_cifar10(tmp_path / "c")
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_dataset("cifar-10", data_dir=tmp_path / "c", download=False)
    message = str(info.value)
    assert str(path) in message and md5(path) in message
    assert "c32a1d4ab5d03f1284b67883e8d87530" in message  # the md5 published on the CIFAR page
    assert "\n" not in message


def test_cifar10_with_its_checksum_loads_verified(tmp_path, monkeypatch):
    from neurosim.data import cifar

    path, *_, y_test = write_fake_cifar10(tmp_path / "c", seed=2)
    monkeypatch.setitem(cifar.CIFAR_SETS, "cifar-10",
                        dataclasses.replace(cifar.CIFAR_SETS["cifar-10"], md5=md5(path)))
    assert_array_equal(load_dataset("cifar-10", data_dir=tmp_path / "c", download=False).y_test, y_test)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    coarse, fine = rng.integers(0, 20, size=6), rng.integers(0, 100, size=6)
    write_tar_gz(tmp_path / "c" / "cifar-100-binary.tar.gz", {
        "cifar-100-binary/train.bin": cifar_records(images[:4], [coarse, fine]),
        "cifar-100-binary/test.bin": cifar_records(images[4:], [coarse[4:], fine[4:]])})
    kw = dict(data_dir=tmp_path / "c", download=False, verify=False)
    ds = load_dataset("cifar-100", **kw)
    assert ds.n_classes == 100
    assert_array_equal(ds.y_train, fine[:4])
    assert_array_equal(ds.y_test, fine[4:])
    assert_allclose(ds.x_test.reshape(-1, 3, 32, 32), images[4:] / 255.0, rtol=0, atol=1e-7)
    ds = load_dataset("cifar_100", labels="coarse", **kw)
    assert ds.n_classes == 20
    assert_array_equal(ds.y_train, coarse[:4])
    with pytest.raises(ConfigError, match="'labels' must be one of 'coarse', 'fine'"):
        load_dataset("cifar-100", labels="medium", **kw)


@pytest.mark.parametrize("members, complaint", [
    ({"cifar-10-batches-py/data_batch_1": b"pickle"}, "binary version"),
    ({name: bytes(3073) for name in CIFAR10_MEMBERS[:5]}, "lacks cifar-10-batches-bin/test_batch.bin"),
    ({name: bytes(3073 + 5) for name in CIFAR10_MEMBERS}, "3073-byte records"),
    ({name: bytes([10]) + bytes(3072) for name in CIFAR10_MEMBERS}, "0..9"),
], ids=["python-version", "missing-member", "truncated-record", "label-out-of-range"])
def test_bad_cifar_archives_are_data_errors(tmp_path, members, complaint):
    write_tar_gz(tmp_path / "c" / "cifar-10-binary.tar.gz", members)
    with pytest.raises(DataError, match=complaint) as info:
        load_dataset("cifar-10", data_dir=tmp_path / "c", download=False, verify=False)
    assert "cifar-10-binary.tar.gz" in str(info.value) and "\n" not in str(info.value)


def test_corrupt_cifar_archive_is_a_data_error(tmp_path):
    path, *_ = write_fake_cifar10(tmp_path / "c")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt archive"):
        load_dataset("cifar-10", data_dir=tmp_path / "c", download=False, verify=False)


def test_cifar_download_is_checked_then_cached(tmp_path, monkeypatch, offline):
    from neurosim.data import cifar

    path, _, y_train, *_ = write_fake_cifar10(tmp_path / "upstream", seed=4)
    spec = dataclasses.replace(cifar.CIFAR_SETS["cifar-10"], md5=md5(path),
                               urls=("https://broken.invalid/cifar-10-binary.tar.gz",
                                     "https://good.invalid/cifar-10-binary.tar.gz"))
    monkeypatch.setitem(cifar.CIFAR_SETS, "cifar-10", spec)
    served = serve_broken_then_good(monkeypatch, tmp_path / "upstream")
    assert_array_equal(load_dataset("cifar-10").y_train, y_train)
    assert [p.name for p in (offline / "cifar-10").iterdir()] == ["cifar-10-binary.tar.gz"]
    assert len(served) == 2


def test_missing_cifar_speaks_to_cli_and_python_and_leaves_no_folder(monkeypatch, offline):
    def unreachable(request, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar-10")
    message = str(info.value)
    assert "\n" not in message and "Name or service not known" in message
    assert "cifar-10-binary.tar.gz" in message
    assert "export NEUROSIM_DATA=" in message and "data_dir=" in message
    assert not offline.exists()  # the failed download removed the cache folders it made


# ----------------------------------------------------------------- the registry


DOCUMENTED = ["cifar-10", "cifar-100", "digits", "family-trees", "fashion-mnist", "mirror-symmetry", "mnist",
              "parity", "rhw-xor", "teacher-student", "xor"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_registered_name_loads_or_fails_in_one_line(name, monkeypatch, offline):
    # An offline machine with only the Debian Fashion-MNIST installed: every set loads, or
    # says in one line where it looked and how to point neurosim at its files.
    def unreachable(request, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    from neurosim.data import dataset_entries

    entry = {e.name: e for e in dataset_entries()}[name]
    try:
        ds = load_dataset(name)
    except DataNotFoundError as err:
        assert entry.reads_files and not (name == "fashion-mnist" and FASHION_DIR.is_dir())
        message = str(err)
        assert "\n" not in message and message.startswith(name)
        assert "export NEUROSIM_DATA=" in message and "data_dir=" in message
        assert not offline.exists()
        return
    assert ds.name == name and ds.n_train > 0 and ds.n_test > 0
    assert ds.n_classes > 0 or ds.t_train is not None
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_test).all()


def test_family_trees_and_toy_tasks_by_name():
    ft = load_dataset("family-trees", seed=3)
    assert (ft.n_train, ft.n_test, ft.n_features, ft.t_train.shape[1]) == (100, 4, 36, 24)
    assert load_dataset("family-trees", n_test=10).n_test == 10
    assert load_dataset("family-trees", n_train=50).n_train == 50
    assert load_dataset("mirror-symmetry", n_bits=4).n_train == 16
    assert load_dataset("rhw-xor").t_train.shape == (4, 1)


def test_rules_datasets_lists_every_registered_set(capsys):
    from neurosim.cli import main

    assert main(["rules", "--datasets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == available_datasets() == DOCUMENTED

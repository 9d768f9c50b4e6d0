"""Run records: a JSON file (config, seed, versions, git sha, numbers) plus an NPZ of arrays.

Both are written atomically (to a temporary file in the same folder, then
``os.replace``), so an interrupted run never leaves a half-written record, and a
reader never sees one. The JSON and file helpers live in :mod:`neurosim.validation`
(``to_json``, ``write_json``, ``atomic_write_bytes``) and are importable from here too.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .validation import atomic_write_bytes, to_json, write_json

__all__ = ["atomic_write_bytes", "git_sha", "load_run", "locate_result", "provenance", "run_script", "save_run",
           "to_json", "versions", "write_json", "write_npz"]


def run_script(main, name: str) -> int:
    """Run an experiment script's ``main()`` as a command: a neurosim error (bad input, a missing
    file, a diverged run) is one line on stderr and exit status 2, Ctrl-C is one line and 130 (each
    experiment writes its records as it goes, so what finished is kept).

    ``main()`` may return an exit status (an ``int``) or anything else (several scripts return
    their records as a ``dict`` for the tests that call them), which counts as success, 0.
    """
    import sys

    from .errors import NeurosimError

    try:
        status = main()
        return status if isinstance(status, int) else 0
    except NeurosimError as err:
        text = str(err)
        # a script's own checks name it as their owner: say the name once
        text = text[len(name) + 2:] if text.startswith(f"{name}: ") else text
        print(f"{name}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; the records written so far are kept", file=sys.stderr)
        return 130


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to a compressed NPZ file, atomically."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def git_sha(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the neurosim checkout (None when not run from a git checkout)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    sha = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str | None]:
    """Versions of Python and the packages a result depends on (brian2 is not imported)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg, dist in (("neurosim", "neurosim-lab"), ("numpy", "numpy"), ("brian2", "brian2"),
                      ("matplotlib", "matplotlib")):
        try:
            out[pkg] = metadata.version(dist)  # neurosim's distribution is neurosim-lab (the PyPI name)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    if out["neurosim"] is None:
        from . import __version__

        out["neurosim"] = __version__
    return out


def provenance() -> dict[str, Any]:
    """What a result needs to say about how it was made."""
    return {"versions": versions(), "git_sha": git_sha(), "platform": platform.platform(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def save_run(out_dir: str | os.PathLike, record: dict, arrays: dict[str, np.ndarray] | None = None,
             *, stem: str = "run", versioned: bool = False, compress: bool = True,
             made_by: dict | None = None) -> Path:
    """Write ``<out_dir>/<stem>.json`` (+ ``<stem>.npz``) atomically; returns the JSON path.

    ``record`` should hold the configuration and seed; provenance is added here (``made_by``:
    a :func:`provenance` computed once by a caller that saves often).  The record names the
    SHA-256 of the arrays file it belongs to (``arrays_sha256``), so a reader never takes one
    checkpoint's weights with another checkpoint's record (a run killed between the two writes
    is detected by :func:`load_run`).  ``versioned``: the arrays file is named by its checksum,
    ``<stem>.<sha>.npz``, and older ones are deleted only after the record naming the new one is
    written, so a process killed at any moment leaves a readable pair.  ``compress = False``
    trades disk for time (:mod:`neurosim.checkpoint`).  Temporary files a killed writer left in
    ``out_dir`` are removed.
    """
    import hashlib
    import io

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f".{stem}.*.tmp"):  # left by a writer that was killed mid-write
        try:
            stale.unlink()
        except OSError:
            pass
    record = {**record, "provenance": provenance() if made_by is None else made_by}
    if arrays:
        buf = io.BytesIO()
        (np.savez_compressed if compress else np.savez)(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        record["arrays"] = f"{stem}.{sha[:16]}.npz" if versioned else f"{stem}.npz"
        record["arrays_sha256"] = sha
        atomic_write_bytes(out_dir / record["arrays"], data)
    path = write_json(out_dir / f"{stem}.json", record)
    if versioned:
        for old in out_dir.glob(f"{stem}.*.npz"):
            if old.name != record.get("arrays"):
                old.unlink(missing_ok=True)
    return path


def load_run(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a record written by :func:`save_run` (JSON path or its folder).

    Raises :class:`~neurosim.errors.DataError` in one line when the record is not JSON, its
    ``arrays`` entry points outside its folder, or the arrays file is missing, corrupt or
    not the one the record names (checksum).
    """
    import hashlib

    from .errors import DataError, DataNotFoundError

    path = Path(path)
    if path.is_dir():
        path = path / "run.json"
    if not path.is_file():
        raise DataNotFoundError(f"run record '{path}' does not exist; pass a run folder written by "
                                "`neurosim train --out` or its run.json")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"run record '{path}': not a readable JSON record ({type(err).__name__})") from None
    if not isinstance(record, dict):
        raise DataError(f"run record '{path}': expected a JSON object")
    arrays = {}
    name = record.get("arrays")
    if name:
        folder = path.parent.resolve()
        target = (folder / str(name)).resolve()
        if not isinstance(name, str) or Path(name).is_absolute() or target.parent != folder:
            raise DataError(f"run record '{path}': 'arrays' = {name!r} points outside the run folder; refusing "
                            "to read it")
        try:
            data = target.read_bytes()
        except OSError:
            raise DataNotFoundError(f"run record '{path}': its arrays file '{target.name}' is missing") from None
        want = record.get("arrays_sha256")
        if want is not None and hashlib.sha256(data).hexdigest() != want:
            raise DataError(f"run record '{path}': '{target.name}' is not the arrays file this record names "
                            "(checksum differs: the run was killed between writing them); use an earlier copy")
        arrays = read_npz(data, str(target))
    return record, arrays


def read_npz(data: bytes | str | os.PathLike, source: str = "arrays file") -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` (bytes or path), without pickles; one-line DataError otherwise."""
    import io
    import zipfile

    from .errors import DataError, DataNotFoundError

    try:
        if not isinstance(data, bytes):
            source = str(data)
            data = Path(data).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise DataNotFoundError(f"{source}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{source}: not a readable .npz of arrays ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:80] if str(err) else 'corrupt'})") from None


def locate_result(results: str | os.PathLike, relative: str, command: str) -> Path:
    """Find an experiment's result file for a figure script.

    ``results`` is either the results root (``neurosim figures`` passes ``--results results``)
    or the file itself.  When the file does not exist the script stops with one line naming
    the experiment ``command`` that writes it (exit status 2).
    """
    path = Path(results)
    if path.is_dir() or not path.suffix:
        path = path / relative
    if not path.is_file():
        raise SystemExit(f"error: no results at {path}; run `{command}` first")
    return path

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

__all__ = ["atomic_write_bytes", "git_sha", "load_run", "locate_result", "provenance", "save_run", "to_json",
           "versions", "write_json", "write_npz"]


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
    for pkg in ("neurosim", "numpy", "brian2", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
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
             *, stem: str = "run") -> Path:
    """Write ``<out_dir>/<stem>.json`` (+ ``<stem>.npz``) atomically; returns the JSON path.

    ``record`` should hold the configuration and seed; provenance is added here.
    """
    out_dir = Path(out_dir)
    record = {**record, "provenance": provenance()}
    if arrays:
        write_npz(out_dir / f"{stem}.npz", arrays)
        record["arrays"] = f"{stem}.npz"
    return write_json(out_dir / f"{stem}.json", record)


def load_run(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a record written by :func:`save_run` (JSON path or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "run.json"
    record = json.loads(path.read_text())
    arrays = {}
    if record.get("arrays"):
        with np.load(path.parent / record["arrays"]) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return record, arrays


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

"""Where data files are looked for, how they are downloaded, and the message when they are nowhere.

Every set read from files (the IDX sets, CIFAR) is looked for in the same folders, in
this order; the first folder holding every file wins:

1. the ``data_dir`` argument of :func:`~neurosim.data.load_dataset`;
2. ``$NEUROSIM_DATA/<name>/`` and ``$NEUROSIM_DATA/`` (the way to point the CLI at a folder);
3. the user cache ``${XDG_CACHE_HOME:-~/.cache}/neurosim/<name>/``;
4. system folders (Fashion-MNIST: ``/usr/share/datasets/fashion-mnist/``, from the
   Debian package ``dataset-fashion-mnist``);
5. a download from the upstream mirrors into the user cache (``download=True``).

A download is written to a temporary file, checked against the published checksum and
only then renamed into the cache, so the cache never holds a partial or corrupt file; a
failed download removes the cache folders it created.

Why not ``pooch``: it could only be an optional dependency (neurosim's required ones are
fixed), so this code would have to stay for users without it; and its model (one URL, one
hash, its own cache folder) has no place for the search order above or for Debian's
recompressed Fashion-MNIST files, accepted by the checksum of their decompressed bytes.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from ..errors import DataError, DataNotFoundError
from ..validation import atomic_writer

__all__ = ["DOWNLOAD_TIMEOUT_S", "cache_root", "candidate_dirs", "download", "md5_bytes", "md5_file", "not_found",
           "search", "stat_key"]

#: Seconds a download may wait on the network before the next mirror is tried.
DOWNLOAD_TIMEOUT_S = 30.0

T = TypeVar("T")


def md5_bytes(data: bytes) -> str:
    """The md5 hex digest (upstream's published checksums are md5; not used for security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: Path) -> str:
    """The md5 of a file, read in 1 MiB chunks (archives are hundreds of MB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stat_key(path: Path, what: str) -> tuple[str, int, int, int]:
    """(resolved path, mtime, size, inode): the key of an in-memory cache of a parsed file.

    The stat fields are part of the key so that a file replaced on disk is read again.
    """
    path = path.resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    return str(path), st.st_mtime_ns, st.st_size, st.st_ino


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/neurosim`` (a relative ``XDG_CACHE_HOME`` is ignored, as the spec says)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "neurosim"


def candidate_dirs(name: str, data_dir: str | os.PathLike | None,
                   system_dirs: Sequence[Path] = ()) -> list[tuple[str, Path | None]]:
    """(label, folder) in lookup order; folder None for an unset ``$NEUROSIM_DATA``."""
    places: list[tuple[str, Path | None]] = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir).expanduser()))
    env = os.environ.get("NEUROSIM_DATA", "")
    if env:
        root = Path(env).expanduser()
        places += [("$NEUROSIM_DATA", root / name), ("$NEUROSIM_DATA", root)]
    else:
        places.append(("$NEUROSIM_DATA", None))
    places.append(("cache", cache_root() / name))
    places += [("system", Path(d)) for d in system_dirs]
    return places


def search(name: str, data_dir: str | os.PathLike | None, system_dirs: Sequence[Path],
           probe: Callable[[Path], tuple[T | None, str]]) -> tuple[T | None, list[str]]:
    """Return what ``probe`` finds in the first folder that has it, and the places tried before.

    ``probe(folder)`` returns ``(found, "")`` or ``(None, "what is missing")``.
    """
    tried = []
    for label, folder in candidate_dirs(name, data_dir, system_dirs):
        if folder is None:
            tried.append(f"{label} (not set)")
            continue
        if not folder.is_dir():
            tried.append(f"{label} {folder} (no such folder)")
            continue
        found, missing = probe(folder)
        if found is not None:
            return found, tried
        tried.append(f"{label} {folder} ({missing})")
    return None, tried


def download(files: Mapping[str, Sequence[str]], folder: Path,
             check: Callable[[str, Path], str | None]) -> str | None:
    """Fetch each missing file of ``files`` (file name -> URLs, tried in order) into ``folder``.

    ``check(file_name, downloaded_path)`` returns None for a good file or the reason it is
    bad; only good files are renamed into place. A mirror that cannot be reached is not
    asked for the next files (an offline machine waits once per mirror, not once per file).

    Returns
    -------
    str or None
        None when every file is in ``folder``, else why not (one line). On failure the
        folders this call created are removed again if they are empty.
    """
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder: {exc.strerror or exc}"
    dead: set[str] = set()
    reason = None
    for file_name, urls in files.items():
        if (folder / file_name).is_file():
            continue
        failures = []
        for url in urls:
            mirror = url.rsplit("/", 1)[0]
            if mirror in dead:
                continue
            error = _fetch(url, folder / file_name, lambda path, f=file_name: check(f, path))
            if error is None:
                break
            failures.append(f"{url}: {error}")
            if not error.startswith("checksum"):
                dead.add(mirror)
        else:
            reason = "; ".join(failures) or "no mirror reachable"
            break
    if reason is not None:
        for path in created:  # deepest first: an empty cache folder is not left behind
            try:
                path.rmdir()
            except OSError:
                break
    return reason


def _fetch(url: str, target: Path, check: Callable[[Path], str | None]) -> str | None:
    """Download ``url`` to ``target`` atomically; None on success, else a one-line reason."""
    request = urllib.request.Request(url, headers={"User-Agent": "neurosim"})
    try:
        with atomic_writer(target, fsync=False) as out:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out)
            out.flush()
            problem = check(Path(out.name))
            if problem is not None:
                raise _Rejected(problem)  # checked before the rename: the cache never holds a bad file
        return None
    except _Rejected as rejected:
        return f"checksum mismatch ({rejected})"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError (an OSError) hides the useful part in .reason; one line, because it ends
        # up inside a one-line DataNotFoundError.
        reason = getattr(exc, "reason", None) or exc
        return " ".join(str(reason).split()) or type(exc).__name__


class _Rejected(Exception):
    pass


def not_found(name: str, title: str, tried: Sequence[str], what: str, install_hint: str = "") -> DataNotFoundError:
    """The one-line error for a set found nowhere: every place tried, then how to fix it.

    It speaks to both users: the CLI (the ``NEUROSIM_DATA`` environment variable) and
    Python (``data_dir=``).
    """
    fixes = (f"Fix: put {what} in a folder FOLDER and run `export NEUROSIM_DATA=FOLDER` before neurosim "
             f"(CLI or Python), or in Python pass load_dataset({name!r}, data_dir=FOLDER)")
    if install_hint:
        fixes += f", or {install_hint}"
    return DataNotFoundError(f"{title} not found; tried: {'; '.join(tried)}. {fixes}.")


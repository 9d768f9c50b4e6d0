"""Code-generation targets of the brian2 backend, chosen per object (no global prefs).

``"cython"``
    brian2 turns every group's equations into C code compiled by Cython.  The compiled
    modules are cached on disk (``~/.cython/brian_extensions``, brian2's default), so
    only the first run of a given model compiles; later runs, and later processes, load
    the cache.  Chosen by ``"auto"`` when a test compilation succeeds.
``"numpy"``
    Vectorised NumPy code, no compiler needed; slower for small populations.
``"cpp_standalone"``
    brian2 writes a complete C++ project and compiles and runs it outside Python: the
    fastest choice for one *long* simulation.  Each :meth:`SpikingModel.run` then builds
    its brian2 objects afresh inside the standalone device (the device is one-shot), so
    every call pays a C++ compile; ``timings["compile_s"]`` reports it apart.

The runtime targets are passed to every brian2 object as ``codeobj_class`` instead of
setting ``prefs.codegen.target``, so building a neurosim model never changes brian2's
global preferences.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from ..errors import unknown_name

#: Targets :func:`resolve_target` accepts.
TARGETS = ("auto", "cython", "numpy", "cpp_standalone")

logger = logging.getLogger("neurosim.spiking")
_AVAILABLE: dict[str, bool] = {}   # memo of the (slow) cython test compilation
_ANNOUNCED: set[str] = set()       # targets already logged once in this process


def cython_available() -> bool:
    """Whether brian2's Cython target compiles here (a C compiler and Cython work); memoised."""
    if "cython" not in _AVAILABLE:
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        _AVAILABLE["cython"] = bool(CythonCodeObject.is_available())
    return _AVAILABLE["cython"]


def resolve_target(target: str = "auto") -> str:
    """The concrete target for ``target``; logs the choice once per process.

    Parameters
    ----------
    target : {"auto", "cython", "numpy", "cpp_standalone"}
        ``"auto"`` is ``"cython"`` when a test compilation works, else ``"numpy"``.

    Raises
    ------
    UnknownNameError
        For any other name.
    ConfigError
        When ``"cython"`` is asked for explicitly but cannot compile.
    """
    if target not in TARGETS:
        raise unknown_name("code-generation target", target, TARGETS)
    chosen = target
    if target == "auto":
        chosen = "cython" if cython_available() else "numpy"
    elif target == "cython" and not cython_available():
        from ..errors import ConfigError

        raise ConfigError("target='cython': brian2 cannot compile Cython code here (no working C compiler "
                          "or Cython); pass target='numpy' or install a compiler")
    if chosen not in _ANNOUNCED:
        _ANNOUNCED.add(chosen)
        where = {"cython": f"Cython, cached in {cache_dir()}", "numpy": "NumPy (no compiler used)",
                 "cpp_standalone": "C++ standalone (one compiled project per run)"}[chosen]
        logger.info("neurosim.spiking: brian2 code generation target = %s (%s)", chosen, where)
        if chosen == "cython" and not _cache_warm():
            # a cold first spiking call used to be silent for ~90 s while brian2 compiled
            import sys

            print(f"neurosim: brian2 is compiling its Cython code for first use (about 1-2 minutes, once; cached in "
                  f"{cache_dir()}); target='numpy' skips compiling but runs ~3x slower", file=sys.stderr, flush=True)
    return chosen


def _cache_warm() -> bool:
    """Whether brian2's Cython cache already holds compiled modules (a later run mostly loads them)."""
    import os

    try:
        folder = cache_dir()
        return os.path.isdir(folder) and any(name.endswith(".so") for name in os.listdir(folder))
    except (OSError, ImportError):
        return False


def cache_dir() -> str:
    """Where brian2 caches compiled Cython modules."""
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    return str(get_cython_cache_dir())


def codeobj_class(target: str):
    """The brian2 ``CodeObject`` class for a runtime target (``None`` for standalone)."""
    if target == "cython":
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        return CythonCodeObject
    if target == "numpy":
        from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

        return NumpyCodeObject
    return None


@contextmanager
def standalone_device(directory: str):
    """Switch brian2 to the C++ standalone device for the ``with`` block, then back to runtime.

    brian2's device is process-global; this is the one place neurosim changes it, and it
    always restores the runtime device (even when the block raises).
    """
    from brian2.devices.device import get_device, reset_device, set_device

    set_device("cpp_standalone", directory=directory, build_on_run=False)
    device = get_device()
    try:
        yield device
    finally:
        reset_device()
        device.reinit()  # forget this project's objects, so the next standalone run starts clean

"""Sphinx configuration of neurosim's documentation (``make docs``).

The site is built from the repository: the Markdown pages of ``docs/`` (MyST), the API
reference from the docstrings (autodoc + napoleon, numpydoc style), and the tutorials in
``docs/examples/``, which sphinx-gallery *executes* on every build so that they cannot rot.
``make docs`` passes ``-W``: every warning is an error.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, not another installed copy

# Examples run with one BLAS thread (2-core machines: threads spinning against each other
# make small matrix products slower) and a non-interactive matplotlib backend.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import neurosim  # noqa: E402

project = "neurosim"
author = "the neurosim authors"
copyright = "the neurosim authors, MIT licence"
release = neurosim.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/README.txt", "examples/GALLERY_HEADER.rst",
                    "tutorials/*.ipynb", "tutorials/*.py", "tutorials/*.zip", "tutorials/*.md5",
                    "tutorials/*.codeobj.json"]
templates_path: list[str] = []

# ----------------------------------------------------------------------------- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# ----------------------------------------------------------------------------- API reference
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "separated"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
# brian2 is not mocked: it is an install requirement, the spiking tutorial runs it anyway, and
# the spiking API's defaults (``dt=0.1 * ms``) only render with the real units.  Importing
# brian2 compiles nothing.

# ----------------------------------------------------------------------------- tutorials
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "tutorials",
    "filename_pattern": r"/",             # execute every example, not only plot_*.py
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,       # a failing example fails the build
    "run_stale_examples": True,           # run every example on every build, even if unchanged
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1000,
    "show_memory": False,
    "show_signature": False,
    "capture_repr": (),
    "matplotlib_animations": False,
    "write_computation_times": False,
}

# ----------------------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"neurosim {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# Two set-up commands (see README): `make demo` runs the main job, `make test` the tests.
# Both create the virtual environment .venv and install neurosim into it on first use.
# `make docs` builds the documentation site (docs/_build/html), executing every tutorial.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

# pytest-xdist runs one worker per core; one BLAS thread each avoids oversubscription
# (OpenBLAS threads spinning against each other made a 128x784 GEMM 20x slower here).
SERIAL_BLAS := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: demo test test-spiking test-slow test-all bench figures docs clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neurosim compare

test: $(STAMP)
	$(SERIAL_BLAS) $(BIN)/python -m pytest -q -n auto

test-spiking: $(STAMP)
	$(BIN)/python -m pytest -q -m spiking

test-slow: $(STAMP)
	$(SERIAL_BLAS) $(BIN)/python -m pytest -q -n auto -m "slow and not spiking"

test-all: $(STAMP)
	$(SERIAL_BLAS) $(BIN)/python -m pytest -q -n auto -m "slow or spiking or not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

figures: $(STAMP)
	$(BIN)/neurosim figures

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(DOCS_STAMP)

# Warnings are errors (-W; --keep-going lists them all); -E rereads every page, so a warning
# can never hide in a cached page.  sphinx-gallery runs every tutorial in docs/examples/.
docs: $(DOCS_STAMP)
	$(SERIAL_BLAS) MPLBACKEND=Agg $(BIN)/python -m sphinx -W --keep-going -E -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build docs/tutorials

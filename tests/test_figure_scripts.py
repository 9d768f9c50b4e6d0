"""Every figure script only reads results: without them it must fail in one line, not a traceback.

``neurosim figures`` runs each ``figures/*.py --results DIR`` and shows the last stderr line of a
failure, so that line has to name the experiment to run.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "figures"
SCRIPTS = sorted(p for p in FIGURES.glob("*.py") if not p.name.startswith("_"))


def test_there_are_figure_scripts():
    assert len(SCRIPTS) >= 10


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_results")
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}

    def run(script):
        return subprocess.run([sys.executable, str(script), "--results", str(empty)], env=env,
                              capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((s.name for s in SCRIPTS), pool.map(run, SCRIPTS)))


@pytest.mark.parametrize("name", [s.name for s in SCRIPTS])
def test_missing_results_exit_nonzero_in_one_line(runs, name):
    proc = runs[name]
    assert proc.returncode != 0, f"{name} exited 0 without results"
    assert "Traceback" not in proc.stderr, proc.stderr[-400:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    # the line names what writes the results: an experiment script or the neurosim command
    assert len(lines) == 1 and ("experiments/" in lines[0] or "neurosim " in lines[0]), proc.stderr[-400:]

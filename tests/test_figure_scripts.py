"""Every figure script only reads data, and can always say what is missing.

Two paths (docs/design.md: experiments write data, figures only read it):

* raw results missing and ``--no-shipped``: the script stops in ONE line on stderr naming the
  command that writes the results, exit status 2 (``neurosim figures`` shows that last line);
* raw results missing, shipped data present (``figures/data/<script>.json``, what ``make
  figures`` uses on a fresh clone): the script draws the PNG, with no layout warning (text too
  small at README size or outside the canvas).
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "figures"
DATA = FIGURES / "data"
SCRIPTS = sorted(p for p in FIGURES.glob("*.py") if not p.name.startswith("_"))
ENV = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}

#: Figures whose data is not shipped yet: their experiments take longer than a figure session
#: may spend (known defect of issue 19: `make figures` on a fresh clone still fails on these).
#: Ship one with ``python experiments/X.py ... && python figures/Y.py --ship``, then drop it here.
NOT_SHIPPED = {
    "ep_training.py": "experiments/ep_training.py --epochs 10 --seeds 0,1 (Fashion-MNIST 60k, hours)",
}


def test_there_are_figure_scripts():
    assert len(SCRIPTS) >= 10


def _run(script, *args):
    return subprocess.run([sys.executable, str(script), *args], env=ENV, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture(scope="module")
def missing_runs(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_results")
    out = tmp_path_factory.mktemp("out")

    def run(script):
        return _run(script, "--results", str(empty), "--no-shipped", "--out", str(out / f"{script.stem}.png"))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((s.name for s in SCRIPTS), pool.map(run, SCRIPTS)))


@pytest.mark.parametrize("name", [s.name for s in SCRIPTS])
def test_missing_results_exit_2_in_one_line(missing_runs, name):
    proc = missing_runs[name]
    assert proc.returncode == 2, f"{name} exited {proc.returncode} without results: {proc.stderr[-400:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-400:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    # the line names what writes the results: an experiment script or the neurosim command
    assert len(lines) == 1 and ("experiments/" in lines[0] or "neurosim " in lines[0]), proc.stderr[-400:]


def test_not_shipped_names_real_scripts():
    """The list of unshipped figures is not stale: every entry is a figure script without data."""
    names = {s.name for s in SCRIPTS}
    assert set(NOT_SHIPPED) <= names
    for name in NOT_SHIPPED:
        assert not (DATA / f"{Path(name).stem}.json").exists(), f"{name} is shipped now: drop it from NOT_SHIPPED"


def test_shipped_data_is_small_and_belongs_to_a_script():
    """The shipped data stays a few MB at most, one file per figure script."""
    files = sorted(DATA.glob("*.json"))
    assert files, "no shipped figure data"
    stems = {s.stem for s in SCRIPTS}
    assert {f.stem for f in files} <= stems, "shipped data without a figure script"
    total = sum(f.stat().st_size for f in files)
    assert total < 3 * 2 ** 20, f"shipped figure data is {total / 2 ** 20:.1f} MiB (limit 3 MiB)"
    for f in files:
        assert f.stat().st_size < 512 * 1024, f"{f.name} is {f.stat().st_size / 1024:.0f} KiB (limit 512 KiB)"


def _shipped_params(names):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"data not shipped: run {NOT_SHIPPED[n]}"))
            if n in NOT_SHIPPED else n for n in names]


def _draw_from_shipped(name, tmp_path):
    png = tmp_path / f"{Path(name).stem}.png"
    proc = _run(FIGURES / name, "--results", str(tmp_path / "no_results"), "--out", str(png))
    assert proc.returncode == 0, proc.stderr[-600:]
    assert "shipped data" in proc.stdout, proc.stdout
    assert "FigureLayoutWarning" not in proc.stderr, proc.stderr[-600:]
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["compare.py", "pc_alignment.py"])
def test_draws_from_shipped_data(name, tmp_path):
    _draw_from_shipped(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", _shipped_params([s.name for s in SCRIPTS]))
def test_every_figure_draws_from_shipped_data(name, tmp_path):
    _draw_from_shipped(name, tmp_path)


def test_unshipped_figures_declare_the_experiment_that_writes_their_results():
    """`neurosim figures --run-missing` can regenerate every figure without shipped data: each
    declares RESULTS_FROM (commands that exist, a stated cost in minutes)."""
    from neurosim.cli import _experiment_of

    for name in NOT_SHIPPED:
        exp = _experiment_of(FIGURES / name)
        assert exp is not None and exp["minutes"] > 0, name
        for command in exp["commands"]:
            assert (FIGURES.parent / command[0]).is_file(), (name, command)

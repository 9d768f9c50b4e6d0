"""Run records that cannot lie: checksummed weights, confined paths, umask, stale temporaries,
and the status of a run killed mid-way (issue: reliability).

Oracles: the files on disk and the contract in docs/design.md ("Training and records").
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from neurosim.errors import ConfigError, DataError
from neurosim.results import load_run, save_run


def test_record_names_its_weights_and_a_mismatch_is_detected(tmp_path):
    save_run(tmp_path, {"epoch": 1}, {"w": np.ones(3)})
    record, arrays = load_run(tmp_path)
    assert record["arrays"] == "run.npz" and len(record["arrays_sha256"]) == 64
    np.testing.assert_array_equal(arrays["w"], np.ones(3))
    keep = (tmp_path / "run.json").read_text()
    save_run(tmp_path, {"epoch": 2}, {"w": np.zeros(3)})
    (tmp_path / "run.json").write_text(keep)  # a kill between the two writes: epoch-1 record, epoch-2 weights
    with pytest.raises(DataError, match="checksum"):
        load_run(tmp_path)


@pytest.mark.parametrize("arrays", ["../x.npz", "/etc/passwd", "sub/../../x.npz"])
def test_arrays_path_is_confined_to_the_run_folder(tmp_path, arrays):
    (tmp_path / "run.json").write_text(json.dumps({"arrays": arrays}))
    with pytest.raises(DataError, match="outside the run folder"):
        load_run(tmp_path)


def test_records_honour_the_umask_and_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".run.json.abc123.tmp").write_text("partial")
    old = os.umask(0o022)
    try:
        save_run(tmp_path, {"x": 1}, {"w": np.ones(2)})
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "run.json").st_mode & 0o777) == 0o644
    assert not list(tmp_path.glob(".*.tmp"))


def test_control_characters_in_names_are_refused():
    from neurosim import Layer

    with pytest.raises(ConfigError, match="printable"):
        Layer("hid\x07den", 3)


def test_sigterm_leaves_an_interrupted_record_and_a_kill_leaves_running(tmp_path):
    """SIGTERM after the first epoch: the record says 'interrupted' with the finished epochs (it used to
    say 'completed'); SIGKILL: the last checkpoint says 'running' (recognisably not finished)."""
    for sig, status in ((signal.SIGTERM, "interrupted"), (signal.SIGKILL, "running")):
        out = tmp_path / status
        proc = subprocess.Popen([sys.executable, "-m", "neurosim.cli", "train", "--rule", "backprop", "--epochs",
                                 "100000", "--quiet", "--align-samples", "0", "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if json.loads((out / "run.json").read_text())["epochs"] >= 1:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == status and record["epochs"] >= 1
        load_run(out)  # weights and record agree


def test_figures_command_runs_only_neurosims_own_scripts(tmp_path, monkeypatch, capsys):
    """A ./figures folder in the working directory is not executed unless named explicitly: the
    scripts run are neurosim's own (the subprocess call is recorded, not made)."""
    from pathlib import Path

    import neurosim.cli as cli

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "evil.py").write_text("raise SystemExit('must not run')\n")
    monkeypatch.chdir(tmp_path)
    ran = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    monkeypatch.setattr(cli.subprocess, "run", lambda argv, **kw: ran.append(Path(argv[1])) or Done())
    assert cli.main(["figures", "--results", str(tmp_path / "nothing")]) == 0
    own = Path(cli.__file__).resolve().parents[1] / "figures"
    assert ran and all(p.parent == own for p in ran) and not any(p.name == "evil.py" for p in ran)
    ran.clear()
    cli.main(["figures", "--figures", str(tmp_path / "figures"), "--results", str(tmp_path / "nothing")])
    assert [p.name for p in ran] == ["evil.py"]  # named explicitly: the user asked for it


def test_figures_command_skips_figures_without_results_and_strict_refuses(monkeypatch, capsys):
    """`make figures` on a fresh clone: figures with neither raw results nor shipped data are
    skipped with a line naming their experiment (exit 0); --strict makes that an error; a script
    that fails otherwise is always an error."""
    import neurosim.cli as cli

    def fake(argv, **kw):
        class P:
            returncode, stdout = (2, "") if "ep_jumps" in argv[1] else (0, "drawn")
            stderr = "error: no results at r/ep_jumps/run.json; run `python experiments/ep_jumps.py` first" \
                if "ep_jumps" in argv[1] else ""
        return P()

    monkeypatch.setattr(cli.subprocess, "run", fake)
    assert cli.main(["figures"]) == 0
    err = capsys.readouterr().err
    assert "ep_jumps.py: skipped" in err and "python experiments/ep_jumps.py" in err and "1 skipped" in err
    assert cli.main(["figures", "--strict"]) == 2

    def broken(argv, **kw):
        class P:
            returncode, stdout, stderr = 1, "", "Traceback ...\nValueError: boom"
        return P()

    monkeypatch.setattr(cli.subprocess, "run", broken)
    assert cli.main(["figures"]) == 2


def _checkout_with_one_figure(tmp_path, minutes, experiment_code="ok = True"):
    """A tiny checkout: figures/fig.py draws from results/fig/run.json (exit 2 "no results at"
    without it) and declares the experiment writing it; experiments/exp.py writes it."""
    (tmp_path / "figures").mkdir()
    (tmp_path / "experiments").mkdir()
    (tmp_path / "figures" / "fig.py").write_text(
        "import sys\nfrom pathlib import Path\n"
        f"RESULTS_FROM = {{'commands': [['experiments/exp.py', '--tag', 'x']], 'minutes': {minutes}}}\n"
        "res = Path(sys.argv[sys.argv.index('--results') + 1]) / 'fig' / 'run.json'\n"
        "if not res.exists():\n"
        "    print(f'error: no results at {res}; run `python experiments/exp.py` first', file=sys.stderr)\n"
        "    raise SystemExit(2)\n"
        "print('drawn from', res.read_text())\n")
    (tmp_path / "experiments" / "exp.py").write_text(
        "import sys\nfrom pathlib import Path\n" + experiment_code + "\n"
        "out = Path('results') / 'fig'\nout.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'run.json').write_text(sys.argv[-1])\n")
    return tmp_path


def test_figures_run_missing_runs_the_declared_experiment_within_the_budget(tmp_path, monkeypatch, capsys):
    """`neurosim figures --run-missing` runs what a figure without results declares, then draws it;
    over the budget it skips with the stated cost; the experiments write into the checkout's
    results/, so another --results is refused in one line."""
    import neurosim.cli as cli

    root = _checkout_with_one_figure(tmp_path, minutes=5)
    monkeypatch.chdir(root)
    args = ["figures", "--figures", str(root / "figures"), "--results", str(root / "results")]
    assert cli.main(args + ["--run-missing", "--budget", "1"]) == 0      # 5 min > 1: skipped, said why
    err = capsys.readouterr().err
    assert "needs ~5 min" in err and "skipped" in err and not (root / "results").exists()
    assert cli.main(args + ["--run-missing"]) == 0                       # default budget 60 min
    out, err = capsys.readouterr()
    assert "running `python experiments/exp.py --tag x`" in err and "drawn from x" in out
    assert cli.main(["figures", "--figures", str(root / "figures"), "--results", str(tmp_path / "elsewhere"),
                     "--run-missing"]) == 2
    assert "--run-missing: the experiments write into" in capsys.readouterr().err


def test_figures_run_missing_reports_a_failing_experiment(tmp_path, monkeypatch, capsys):
    import neurosim.cli as cli

    root = _checkout_with_one_figure(tmp_path, minutes=1, experiment_code="raise SystemExit(3)")
    monkeypatch.chdir(root)
    assert cli.main(["figures", "--figures", str(root / "figures"), "--results", str(root / "results"),
                     "--run-missing"]) == 2
    assert "FAILED: its experiment exited 3" in capsys.readouterr().err

"""Experiment scripts run as commands (neurosim.results.run_script): bad input is one line and
exit 2, Ctrl-C one line and 130, a normal return passes through."""
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim.errors import ConfigError
from neurosim.results import run_script

ROOT = Path(__file__).resolve().parents[1]


def test_errors_and_interrupts_end_in_one_line(capsys):
    def bad():
        raise ConfigError("x: expected a positive number, got -1")

    def interrupted():
        raise KeyboardInterrupt

    assert run_script(bad, "demo") == 2
    err = capsys.readouterr().err
    assert err == "demo: error: x: expected a positive number, got -1\n"
    assert run_script(interrupted, "demo") == 130
    assert capsys.readouterr().err.count("\n") == 1
    assert run_script(lambda: 0, "demo") == 0


@pytest.mark.parametrize("argv, needle", [
    (["experiments/fashion_accuracy_table.py", "--set", "bad"], "expected RULE.KEY=VALUE"),
    (["experiments/fashion_accuracy_table.py", "--rules", "nosuch"], "'nosuch' is not a supervised rate rule"),
    (["experiments/stdp_diehl_cook.py", "--n-train", "0"], "'n_train' must be an integer > 0"),
    (["experiments/fashion_same_network_backprop.py", "--rules", "oja"], "'oja' is not a supervised rate rule"),
])
def test_experiment_scripts_refuse_bad_input_without_a_traceback(argv, needle, tmp_path):
    proc = subprocess.run([sys.executable, *argv, "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-300:]
    assert "Traceback" not in proc.stderr and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_same_network_control_picks_the_rules_whose_units_or_loss_differ():
    """The control experiment trains backprop on each rule's own feed-forward signature: backprop's is
    tanh / linear / cross-entropy, and the rules the table trains on other units are exactly the
    ones whose ``rule.network`` says so (positive-rate sigmoid nets for burstprop and the
    microcircuit, EP's hard-sigmoid energy net, BrainProp's Q-values under squared error)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fashion_same_network_backprop as control
    finally:
        sys.path.pop(0)
    from neurosim.compare import supervised_rules

    layers = [784, 32, 32, 10]
    assert control.units("backprop", layers) == {"activation": "tanh", "output_activation": "linear",
                                                 "loss": "cross_entropy"}
    differ = {r for r in supervised_rules() if control.units(r, layers) != control.units("backprop", layers)}
    assert {"burstprop", "microcircuit", "ep", "brainprop"} <= differ
    assert control.units("burstprop", layers) == {"activation": "sigmoid", "output_activation": "sigmoid",
                                                  "loss": "mse"}
    # the row's recorded optimiser setting wins over the preset; without a row the preset is used
    setting = '{"learning_rate": 0.004, "optimizer": "adam", "nudging": 0.1}'
    table = {"rows": [{"rule": "burstprop", "settings": [setting]}]}
    assert control.row_training(table, "burstprop")["learning_rate"] == 0.004
    assert "nudging" not in control.row_training(table, "burstprop")
    assert control.row_training({}, "burstprop")["optimizer"] == "adam"

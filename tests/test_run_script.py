"""Experiment scripts run as commands (neurosim.results.run_script): bad input is one line and
exit 2, Ctrl-C one line and 130, a normal return passes through."""
import ast
import os
import re
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

    def own_check():
        raise ConfigError("demo: '--repeats' must be an integer > 0, got 0")

    assert run_script(own_check, "demo") == 2
    assert capsys.readouterr().err == "demo: error: '--repeats' must be an integer > 0, got 0\n"
    assert run_script(interrupted, "demo") == 130
    assert capsys.readouterr().err.count("\n") == 1
    assert run_script(lambda: 0, "demo") == 0


def _main_block_calls(path: Path) -> list[ast.Call]:
    """The calls inside the script's ``if __name__ == "__main__":`` block."""
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__" \
                and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators):
            calls += [n for n in ast.walk(node) if isinstance(n, ast.Call)]
    return calls


SCRIPTS = sorted((ROOT / "experiments").glob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_every_experiment_script_runs_its_main_through_run_script(path):
    """Guard: a new script that ends in ``main()`` would print a traceback for a bad flag."""
    calls = [c for c in _main_block_calls(path) if isinstance(c.func, ast.Name) and c.func.id == "run_script"]
    assert calls, f"{path.name}: end it with sys.exit(run_script(main, {path.stem!r}))"
    args = calls[0].args
    assert len(args) == 2 and isinstance(args[0], ast.Name) and args[0].id == "main" \
        and isinstance(args[1], ast.Constant) and args[1].value == path.stem, \
        f"{path.name}: expected run_script(main, {path.stem!r})"


#: One bad invocation per script: the value reaches neurosim's validation (or the script's own
#: up-front check) before any data set is trained on; ``needle`` is what the one line must say.
BAD = {
    "microcircuit_collapse": (["--every", "0"], "'--every' must be an integer > 0"),
    "agrel_training": (["--n-train", "-5"], "'n_train' must be an integer > 0"),
    "agrel_trials": (["--repeats", "0"], "'--repeats' must be an integer > 0"),
    "bartunov_table": (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    "brainprop_exploration": (["--batches", "0"], "'--batches' must be an integer > 0"),
    "conv_fashion": (["--seeds", "0"], "'--seeds' must be an integer > 0"),
    "dendritic_fashion": (["--hidden", "500,x"], "got 'x' in '500,x'"),
    "ep_beta_sweep": (["--batch", "0"], "'--batch' must be an integer > 0"),
    "ep_deep": (["--set", "bad"], "expected NAME=JSON"),
    "ep_jumps": (["--seeds", "0,x"], "'--seeds' must be a comma-separated list"),
    "ep_spiking": (["--betas", "0.1,x"], "'--betas' must be a comma-separated list"),
    "ep_training": (["--seeds", "0,x"], "'--seeds' must be a comma-separated list"),
    "family_trees": (["--weight-decay", "x"], "'--weight-decay' must be a comma-separated list"),
    "fashion_accuracy_table": (["--set", "bad"], "expected RULE.KEY=VALUE"),
    "fashion_same_network_backprop": (["--rules", "oja"], "'oja' is not a supervised rate rule"),
    "hebbian_compare": (["--epochs", "-1"], "'--epochs' must be an integer > 0"),
    "microcircuit_alignment": (["--epochs", "-1"], "'--epochs' must be an integer > 0"),
    "microcircuit_output_bias": (["--tau-psi-ms", "20,x"], "'--tau-psi-ms' must be a comma-separated list"),
    "pc_fashion": (["--seeds", "0"], "'--seeds' must be an integer > 0"),
    "pc_inference_sweep": (["--activation", "nosuch"], "unknown activation 'nosuch'"),
    "pc_spiking": (["--seeds", "-1"], "'seed' must be an integer >= 0"),
    "rhw1986_mirror": (["--max-sweeps", "-1"], "'epochs' must be an integer >= 0"),
    "rhw1986_xor": (["--rules", "nosuch"], "'nosuch'"),
    "sdtp_diagnosis": (["--set", "bad"], "expected KEY=VALUE"),
    "sg_training": (["--seeds", "0,x"], "'--seeds' must be a comma-separated list"),
    "spiking_dendritic_xor": (["--seeds", "0,x"], "'--seeds' must be a comma-separated list"),
    "stdp_diehl_cook": (["--n-train", "0"], "'n_train' must be an integer > 0"),
    "stdp_song": (["--duration", "-1"], "'duration' must be a time > 0"),
    "stdp_window": (["--duration", "-1"], "'--duration' must be a number > 0"),
    "urbanczik_senn": (["--window", "0"], "'--window' must be a number > 0"),
}


def test_every_experiment_script_has_a_bad_invocation():
    assert sorted(BAD) == [p.stem for p in SCRIPTS]


@pytest.mark.parametrize("stem, argv, needle", [pytest.param(k, *v, id=k) for k, v in sorted(BAD.items())] + [
    pytest.param("fashion_accuracy_table", ["--rules", "nosuch"], "'nosuch' is not a supervised rate rule",
                 id="fashion_accuracy_table-rules"),
    *[pytest.param(stem, ["--hidden", "256,x"], "'--hidden' must be a comma-separated list", id=f"{stem}-hidden")
      for stem in ("fashion_accuracy_table", "fashion_same_network_backprop")],
])
def test_experiment_scripts_refuse_bad_input_without_a_traceback(stem, argv, needle, tmp_path):
    script = ROOT / "experiments" / f"{stem}.py"
    out = ["--out", str(tmp_path)] if '"--out"' in script.read_text() else []
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(script), *argv, *out], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-300:]
    assert "Traceback" not in proc.stderr and needle in proc.stderr, proc.stderr[-300:]
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"{stem}: error: ")


def test_check_list_parses_comma_separated_flags():
    from neurosim.validation import check_list

    assert check_list("demo", "--seeds", "0, 1,2", "int", ge=0) == [0, 1, 2]
    assert check_list("demo", "--betas", "0.1,1", gt=0) == [0.1, 1]
    for text, needle in (("0,x", "got 'x' in '0,x'"), ("", "got ''"), ("0,-1", "got -1"), ("1.5", "got 1.5")):
        with pytest.raises(ConfigError, match=re.escape(needle)):
            check_list("demo", "--seeds", text, "int", ge=0)


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

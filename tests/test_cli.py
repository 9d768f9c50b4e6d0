"""The `neurosim` command: JSON contracts and one-line errors with exit status 2."""
import json
import subprocess
import sys

import numpy as np
import pytest

from neurosim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rules_json(capsys):
    code, out, _ = run(capsys, "rules", "--json")
    rows = json.loads(out)
    assert code == 0 and {"backprop", "fa", "dfa"} <= {r["name"] for r in rows}
    assert all({"name", "family", "backends"} <= set(r) for r in rows)


def test_align_json_contract(capsys):
    code, out, _ = run(capsys, "align", "--rule", "backprop", "--layers", "64,16,10", "--json")
    d = json.loads(out)
    assert code == 0
    assert set(d) >= {"rule", "backend", "reference", "projections", "global"}
    assert d["rule"] == "backprop" and d["backend"] == "rate" and d["reference"] == "backprop"
    assert [p["name"] for p in d["projections"]] == ["input->hidden1", "hidden1->output"]
    for p in d["projections"]:
        assert set(p) == {"name", "cosine", "angle_deg", "norm_ratio", "sign_agreement"}
        assert p["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert d["global"]["cosine"] == pytest.approx(1.0, abs=1e-12)


def test_align_fa_is_not_backprop(capsys):
    code, out, _ = run(capsys, "align", "--rule", "fa", "--json", "--seed", "3")
    d = json.loads(out)
    assert code == 0 and d["projections"][-1]["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert d["projections"][0]["cosine"] < 0.9


def test_train_json_contract(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--rule", "dfa", "--dataset", "digits", "--epochs", "2", "--json",
                       "--out", str(tmp_path / "run"))
    d = json.loads(out)
    assert code == 0
    assert set(d) >= {"rule", "dataset", "epochs", "train_error", "test_error", "seconds", "history"}
    assert d["epochs"] == 2 and len(d["history"]) == 2 and 0 <= d["test_error"] <= 1
    assert (tmp_path / "run" / "run.json").exists() and (tmp_path / "run" / "run.npz").exists()


@pytest.mark.parametrize("card,n_features,n_out", [("rhw1986_mirror.toml", 6, 1), ("rhw1986_xor.toml", 2, 1),
                                                    ("hinton1986_family_trees.toml", 36, 24)])
def test_train_model_card_with_a_toy_task(capsys, card, n_features, n_out):
    """Cards whose data set is a neurosim.tasks task (not load_dataset) train from the CLI."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "models" / card
    code, out, _ = run(capsys, "train", "--model", str(path), "--epochs", "1", "--json")
    d = json.loads(out)
    from neurosim.runspec import RunSpec

    net = RunSpec.load(path).build_network()
    assert code == 0 and d["epochs"] == 1 and np.isfinite(d["test_error"])
    assert (net.input_layer.size, net.output_layer.size) == (n_features, n_out)


def test_gradcheck_json(capsys):
    code, out, _ = run(capsys, "gradcheck", "--json")
    d = json.loads(out)
    from neurosim.neurons import ACTIVATIONS

    # depths 1-5 x every activation x both losses, and conv/LC x max/avg pooling x both losses (issue 17)
    assert code == 0 and d["max_relative_error"] < 1e-6 and d["n_networks"] == 5 * len(ACTIVATIONS) * 2 + 8
    assert {"name", "relative_error", "gradient_norm"} <= set(d["projections"][0])
    # every row checks a non-zero gradient (zero against zero would pass any check)
    assert d["zero_gradients"] == [] and min(r["gradient_norm"] for r in d["projections"]) > 0


def test_gradcheck_refuses_a_net_with_zero_gradient(capsys, tmp_path):
    """ReLU outputs with negative drive: the gradient is exactly zero, so nothing is checked -> exit 1."""
    card = tmp_path / "dead.toml"
    card.write_text('[network]\nsizes = [3, 2]\nactivation = "relu"\noutput_activation = "relu"\n'
                    'init = "zeros"\nbias = false\n[rule]\nname = "backprop"\n')
    code, out, _ = run(capsys, "gradcheck", "--model", str(card), "--json")
    d = json.loads(out)
    assert code == 1 and len(d["zero_gradients"]) == 1


def test_gradcheck_model_card(capsys, tmp_path):
    card = tmp_path / "m.toml"
    card.write_text('[network]\nsizes = [30, 20, 5]\nactivation = "sigmoid"\nloss = "cross_entropy"\n'
                    '[rule]\nname = "backprop"\n')
    code, out, _ = run(capsys, "gradcheck", "--model", str(card), "--max-entries", "20", "--json")
    assert code == 0 and json.loads(out)["max_relative_error"] < 1e-6


@pytest.mark.parametrize("argv, fragment", [
    (["align", "--rule", "nosuchrule"], "unknown rule 'nosuchrule'"),
    (["align", "--rule", "fa", "--layers", "10,x"], "--layers"),
    (["align", "--rule", "fa", "--layers", "100,10"], "64 features"),
    (["train", "--rule", "fa", "--dataset", "fashon-mnist"], "Did you mean 'fashion-mnist'"),
    (["train", "--rule", "fa", "--lr", "-1"], "'learning_rate' must be a number > 0"),
    (["train", "--rule", "fa", "--clip-norm", "0"], "clip_norm"),
    (["align", "--rule", "fa", "--set", "bogus=1"], "unknown hyper-parameter 'bogus'"),
    (["align", "--rule", "fa", "--model", "/nonexistent/model.toml"], "does not exist"),
    (["align", "--rule", "pc", "--backend", "spiking"], "has no spiking backend"),
    (["align", "--rule", "fa", "--rate-model", "soft_lif"], "--rate-model soft_lif: applies to the spiking backend"),
    (["align", "--rule", "ep", "--backend", "spiking", "--rate-model", "soft_lif"], "soft LIF applies to the rules"),
])
def test_bad_input_one_line_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["align", "--rule", "fa", "--layers", "64,,10"], "--layers"),
    (["align", "--rule", "fa", "--layers", "64,10,"], "--layers"),
    (["align", "--rule", "fa", "--layers", ""], "--layers"),
    (["align", "--rule", "fa", "--layers", "64,1000000000,10"], "GiB"),
    (["align", "--rule", "fa", "--dataset", ""], "'dataset' must name a data set"),
    (["align", "--rule", "fa", "--batch-size", "0"], "--batch-size"),
    (["train", "--rule", "fa", "--momentum", "-5"], "'momentum' must be a number >= 0 and < 1"),
    (["train", "--rule", "fa", "--momentum", "nan"], "'momentum'"),
    (["train", "--rule", "fa", "--momentum", "2"], "'momentum'"),
    (["gradcheck", "--batch-size", "0"], "'batch_size' must be an integer >= 1"),
    (["gradcheck", "--max-entries", "0"], "'max_entries'"),
    (["gradcheck", "--seed", "-1"], "'seed'"),
])
def test_silently_accepted_input_is_now_refused(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2 and fragment in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv", [["--lr", "1000", "--optimizer", "sgd"], ["--lr", "1e6"]])
def test_divergence_ends_the_run_as_diverged(capsys, argv):
    """A loss that grows past 10x the initial one is divergence, long before NaN (exit 2, status diverged)."""
    code, out, err = run(capsys, "train", "--rule", "backprop", "--epochs", "5", "--json", *argv)
    d = json.loads(out)
    assert code == 2 and d["status"] == "diverged" and "lower the learning rate" in d["message"]
    # caught by the loss (> 10x the initial one, recorded) or by the weights (norm > 1000x the initial)
    assert (d["history"] and d["history"][-1]["loss"] > 10 * d["initial_loss"]) or "norm grew" in d["message"]


def test_out_refuses_another_run_and_a_file(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "train", "--rule", "fa", "--epochs", "1", "--out", str(out), "--json")[0] == 0
    first = json.loads((out / "run.json").read_text())
    assert first["status"] == "completed" and first["epochs"] == 1
    code, _, err = run(capsys, "train", "--rule", "dfa", "--epochs", "1", "--out", str(out))
    assert code == 2 and "--overwrite" in err
    assert json.loads((out / "run.json").read_text())["rule"] == "fa"  # untouched
    assert run(capsys, "train", "--rule", "dfa", "--epochs", "1", "--out", str(out), "--overwrite")[0] == 0
    assert json.loads((out / "run.json").read_text())["rule"] == "dfa"
    afile = tmp_path / "f"
    afile.write_text("x")
    code, _, err = run(capsys, "train", "--rule", "fa", "--epochs", "1", "--out", str(afile))
    assert code == 2 and "not a folder" in err
    assert not (out / "params.npz").exists()  # run.npz only


def test_resume_continues_the_run_in_out(capsys, tmp_path):
    """`--resume` goes on from the checkpoint in --out: 2 epochs, then extended to 3, give the
    3-epoch run's numbers (the oracle: the same run in one go)."""
    common = ("train", "--rule", "fa", "--n-train", "300", "--n-test", "100", "--align-samples", "0", "--json")
    code, whole, _ = run(capsys, *common, "--epochs", "3")
    assert code == 0
    out = tmp_path / "run"
    assert run(capsys, *common, "--epochs", "2", "--out", str(out))[0] == 0
    code, _, err = run(capsys, *common, "--epochs", "3", "--out", str(out))
    assert code == 2 and "--resume to continue it" in err and "Traceback" not in err
    code, text, _ = run(capsys, *common, "--epochs", "3", "--out", str(out), "--resume")
    resumed, whole = json.loads(text), json.loads(whole)
    assert code == 0 and resumed["resumed_after"] == [2] and resumed["epochs"] == 3
    assert resumed["test_error"] == whole["test_error"]
    assert resumed["history"][-1]["loss"] == whole["history"][-1]["loss"]
    assert json.loads((out / "run.json").read_text())["resumed_after"] == [2]
    for argv, fragment in ((("--out", str(tmp_path / "empty"), "--resume"), "holds no checkpoint"),
                           (("--resume",), "pass --out"),
                           (("--out", str(out), "--resume", "--overwrite"), "choose one"),
                           (("--out", str(out), "--resume", "--lr", "0.5"), "different: config")):
        code, _, err = run(capsys, *common, "--epochs", "3", *argv)
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, (argv, err)
    # --overwrite starts over: no resumption from the old checkpoint
    code, text, _ = run(capsys, *common, "--epochs", "1", "--out", str(out), "--overwrite")
    assert code == 0 and "resumed_after" not in json.loads(text)


def test_out_refuses_a_folder_another_live_run_is_writing(capsys, tmp_path):
    """Two processes writing one --out would overwrite each other's files (a resumed run started
    while the first still ran ended in a FileNotFoundError traceback): refused in one line while
    the recorded process lives; a record whose process is gone is an ordinary earlier run."""
    out = tmp_path / "run"
    out.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "run.json").write_text(json.dumps({"status": "running", "pid": alive.pid}))
        for extra in ((), ("--resume",), ("--overwrite",)):
            code, _, err = run(capsys, "train", "--rule", "fa", "--epochs", "1", "--out", str(out), *extra)
            assert code == 2 and f"a run is still writing there (process {alive.pid})" in err, extra
            assert len(err.strip().splitlines()) == 1
    finally:
        alive.kill()
        alive.wait()
    code, _, err = run(capsys, "train", "--rule", "fa", "--epochs", "1", "--out", str(out))
    assert code == 2 and "already holds a run (run.json)" in err


def test_json_into_a_closed_pipe_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m neurosim.cli rules --json | head -c 10", shell=True,
                          capture_output=True, text=True)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_malformed_toml_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\nsizes = [")
    code, _, err = run(capsys, "align", "--rule", "fa", "--model", str(bad))
    assert code == 2 and "malformed TOML" in err and str(bad) in err


def test_console_script_exit_code_without_traceback():
    """The real process: argparse errors and our errors both exit 2 with one line."""
    for argv in (["align"], ["train", "--rule", "zz"], ["nosuchcommand"]):
        proc = subprocess.run([sys.executable, "-m", "neurosim.cli", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr, argv
        assert proc.stderr.strip().count("\n") == 0, (argv, proc.stderr)


@pytest.mark.parametrize("rule, setting", [("microcircuit", "topdown=symmetric"), ("burstprop", "feedback=symmetric")])
def test_set_reaches_the_default_network(capsys, rule, setting):
    """--set of a network-shaping hyper-parameter builds the network it names: with top-down weights
    tied to the forward transposes and weak nudging the hidden updates follow backprop (theory:
    cosine -> 1 as the nudging -> 0; > 0.99 at the defaults), while the default random feedback is
    feedback alignment at initialisation (hidden cosine ~ 0)."""
    code, out, _ = run(capsys, "align", "--rule", rule, "--set", setting, "--json")
    assert code == 0
    tied = json.loads(out)
    code, out, _ = run(capsys, "align", "--rule", rule, "--json")
    random_fb = json.loads(out)
    assert min(p["cosine"] for p in tied["projections"]) > 0.99
    assert min(p["cosine"] for p in random_fb["projections"]) < 0.5


def test_ctrl_c_stops_compare_keeping_finished_rules(capsys, tmp_path, monkeypatch):
    """Ctrl-C during the second rule: exit 130, no further rule runs, the record keeps the first
    rule and says 'interrupted' (it used to go on with the next rules and exit 0)."""
    import neurosim.compare as compare

    real = compare.train
    calls = []

    def train(network, rule, *a, **k):
        calls.append(rule.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(network, rule, *a, **k)

    monkeypatch.setattr(compare, "train", train)
    code, _, err = run(capsys, "compare", "--rules", "backprop,fa,dfa", "--epochs", "1", "--out", str(tmp_path),
                       "--no-figures")
    assert code == 130 and "Traceback" not in err
    record = json.loads((tmp_path / "compare-backprop+fa+dfa.json").read_text())
    assert calls == ["backprop", "fa"] and record["status"] == "interrupted"
    assert [r["status"] for r in record["rows"]] == ["completed", "interrupted"]
    assert not (tmp_path / "compare.json").exists()  # a subset never overwrites the headline record


def test_defaults_give_a_sane_result_on_a_small_data_set(capsys):
    """`train --rule fa --dataset digits --epochs 3` used to end at 75 % test error (batch 128 =
    12 updates per epoch on 1,437 images); the "auto" batch (16 here: ~90 updates per epoch)
    must learn: <= 15 % (chance is 90 %)."""
    code, out, _ = run(capsys, "train", "--rule", "fa", "--dataset", "digits", "--epochs", "3", "--json")
    assert code == 0 and json.loads(out)["test_error"] <= 0.15

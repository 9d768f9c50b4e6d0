"""``neurosim tune``: declared search spaces, validation split, selection, the written model card.

Oracles: the search's own record (the chosen trial is the argmin of the validation errors it lists),
set algebra on sample indices (the validation split is a class-balanced part of the training set,
disjoint from what trains, and the test set never reaches a run), and reproducibility (same seed,
same trials, same errors: numpy training of one seed is deterministic).
"""
import json

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.compare import supervised_rules
from neurosim.data import load_dataset
from neurosim.errors import ConfigError
from neurosim.runspec import RunSpec
from neurosim.sweep import job_spec
from neurosim.tune import SearchSpace, run_tune, search_space_path, trial_job

SPACE = """
[search]
budget = 4
[training]
learning_rate = {log_uniform = [1e-4, 3e-2]}
"""


def _base(**changes):
    return RunSpec.preset("backprop", "train").replace(epochs=2, seed=0, align_samples=0, **changes)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One tiny search (backprop on digits, 4 learning rates, 2 epochs: about a second)."""
    out = tmp_path_factory.mktemp("tune")
    path = out / "space.toml"
    path.write_text(SPACE)
    space = SearchSpace.load(path, "backprop")
    record = run_tune(_base(), space, seed=3, out_dir=out / "a", workers=0, progress=False)
    return out, space, record


# --------------------------------------------------------------------------- the declared spaces
@pytest.mark.parametrize("rule", supervised_rules())
def test_every_supervised_rule_declares_a_valid_space(rule):
    assert search_space_path(rule).is_file()
    space = SearchSpace.for_rule(rule)
    trials = space.trials(6, seed=0)
    assert trials == space.trials(6, seed=0)  # same seed, same trials
    assert trials != space.trials(6, seed=1)
    base = RunSpec.preset(rule, "train")
    for trial in trials:
        spec = job_spec(trial_job(base, trial, 0.2))  # every drawn value passes the rule's constraints
        assert spec.validation == 0.2 and spec.rule == rule
        for dim in space.dimensions:
            value = trial[dim.section][dim.name]
            got = spec.hyper[dim.name] if dim.section == "rule" else getattr(spec, dim.name)
            assert got == value
            if dim.kind == "choice":
                assert value in dim.values
            else:
                assert dim.values[0] <= value <= dim.values[1]


def test_grid_is_the_product_or_a_seeded_subset(tmp_path):
    space = SearchSpace.from_dict({"search": {"method": "grid"}, "rule": {"max_steps": {"choice": [10, 20, 50]}},
                                   "training": {"learning_rate": {"choice": [1e-3, 1e-2]}}}, "pc")
    full = space.trials()
    assert len(full) == 6 and len({json.dumps(t, sort_keys=True) for t in full}) == 6
    part = space.trials(4, seed=5)
    assert len(part) == 4 and part == space.trials(4, seed=5) and all(t in full for t in part)


def test_integer_bounds_draw_integers():
    space = SearchSpace.from_dict({"rule": {"max_steps": {"log_uniform": [10, 200]}}}, "pc")
    values = [t["rule"]["max_steps"] for t in space.trials(50, seed=0)]
    assert all(isinstance(v, int) and 10 <= v <= 200 for v in values) and len(set(values)) > 10


# --------------------------------------------------------------------------- the validation split
def test_validation_split_is_a_balanced_part_of_the_training_set():
    data = load_dataset("digits")
    split = data.validation_split(0.2, seed=4)
    n_val = int(np.ceil(0.2 * data.n_train))
    assert split.n_test == n_val and split.n_train == data.n_train - n_val
    rows = {r.tobytes(): i for i, r in enumerate(data.x_train)}
    val_idx = {rows[r.tobytes()] for r in split.x_test}
    train_idx = {rows[r.tobytes()] for r in split.x_train}
    assert not val_idx & train_idx and len(val_idx | train_idx) == data.n_train - _duplicates(data.x_train)
    counts = np.bincount(split.y_test, minlength=data.n_classes)
    assert counts.max() - counts.min() <= 1  # round-robin over the classes
    again = data.validation_split(0.2, seed=4)
    assert np.array_equal(again.x_test, split.x_test) and np.array_equal(again.y_train, split.y_train)
    assert not np.array_equal(data.validation_split(0.2, seed=5).y_test, split.y_test)


def _duplicates(x):
    return len(x) - len({r.tobytes() for r in x})


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 2])
def test_validation_fraction_outside_0_1_is_refused(bad):
    with pytest.raises(ConfigError, match="validation"):
        RunSpec(rule="backprop", validation=bad)


def test_validation_round_trips_and_leaves_other_ids_alone():
    spec = _base(validation=0.25)
    assert RunSpec.from_toml(spec.to_toml()) == spec
    assert "validation = 0.25" in spec.to_toml()
    assert "validation" not in _base().to_toml()  # unset: not written, so earlier ids do not move
    data = spec.load_data()
    assert data.n_test == int(np.ceil(0.25 * 1437)) and data.n_train == 1437 - data.n_test


def test_the_test_set_never_reaches_a_trial(tmp_path, monkeypatch):
    """Every data set a trial trains and evaluates on holds training rows only."""
    import neurosim.training as training

    full = load_dataset("digits")
    train_rows = {r.tobytes() for r in full.x_train}
    test_only = {r.tobytes() for r in full.x_test} - train_rows
    assert len(test_only) > 300  # the oracle can tell the sets apart
    seen = []
    real = training.train

    def spy(network, rule, dataset, *args, **kwargs):
        for x in (dataset.x_train, dataset.x_test):
            rows = {r.tobytes() for r in x}
            assert rows <= train_rows and not rows & test_only
        seen.append(dataset.n_train + dataset.n_test)
        return real(network, rule, dataset, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    run_tune(_base(), SearchSpace.load(path, "backprop"), budget=2, out_dir=tmp_path, workers=0, progress=False)
    assert seen == [full.n_train, full.n_train]


# --------------------------------------------------------------------------- the search
def test_search_picks_the_lowest_validation_error_and_writes_its_card(searched):
    out, space, record = searched
    rows = record["trials"]
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    errors = [r["validation_error"] for r in rows]
    assert record["chosen"]["trial"] == int(np.argmin(errors))
    assert record["chosen"]["validation_error"] == min(errors)
    for row in rows:  # the record's numbers are the sweep records' (one per trial, by job id)
        trial = json.loads((out / "a" / "trials" / f"{row['job_id']}.json").read_text())
        assert trial["test_error"] == row["validation_error"] and trial["n_test"] == int(np.ceil(0.2 * 1437))
    saved = json.loads((out / "a" / "backprop-search.json").read_text())
    assert saved["trials"] == rows and saved["search_seed"] == 3 and saved["space"] == space.to_dict()
    card = RunSpec.load(record["card"])
    chosen_lr = rows[record["chosen"]["trial"]]["values"]["training"]["learning_rate"]
    assert card.learning_rate == chosen_lr and card.validation is None and card.epochs == 2
    tables = lambda spec: {k: v for k, v in spec.to_dict().items() if k != "run"}  # noqa: E731 ([run]: its name)
    assert tables(card) == tables(_base().replace(learning_rate=chosen_lr))


def test_search_is_reproducible(searched, tmp_path):
    out, space, record = searched
    again = run_tune(_base(), space, seed=3, out_dir=tmp_path, workers=0, progress=False)
    assert [(r["values"], r["validation_error"]) for r in again["trials"]] == \
           [(r["values"], r["validation_error"]) for r in record["trials"]]
    other = space.trials(4, seed=4)
    assert other != [r["values"] for r in record["trials"]]


def test_the_card_trains(searched, capsys, tmp_path):
    _, _, record = searched
    code = main(["train", "--model", record["card"], "--epochs", "1", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "completed" and 0 <= out["test_error"] < 0.9


def test_a_whole_spec_job_is_that_spec():
    """No preset leaks into a tune trial: pc's preset sets 20 steps, a card without them keeps 2000."""
    spec = RunSpec(rule="pc", epochs=1)
    assert job_spec({"spec": spec.to_dict()}) == spec
    assert job_spec({"spec": spec.to_dict(), "hyper": {"step_size": 0.05}}).hyper["max_steps"] == 2000


def test_cli_tune_json(tmp_path, capsys):
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    code = main(["tune", "--rule", "backprop", "--space", str(path), "--budget", "2", "--epochs", "1",
                 "--workers", "0", "--out", str(tmp_path / "o"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["trials"]) == 2 and out["card"].endswith("backprop-tuned.toml")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text,needle", [
    ("[rule]\nbetta = {uniform = [0, 1]}\n", "unknown hyper-parameter of rule 'ep' 'betta'"),
    ("[training]\nlearnig_rate = {uniform = [0.1, 1]}\n", "Did you mean 'learning_rate'"),
    ("[search]\nbudget = 3\n", "the search space is empty"),
    ("[training]\nlearning_rate = {log_uniform = [0, 1]}\n", "needs 0 < low"),
    ("[training]\nlearning_rate = {gaussian = [0, 1]}\n", "unknown distribution 'gaussian'"),
    ("[training]\nlearning_rate = {uniform = [1, 0.1]}\n", "low < high"),
    ("[search]\nmethod = 'grid'\n[training]\nlearning_rate = {uniform = [0.1, 1]}\n", "needs 'choice' values"),
    ("[training\nlearning_rate = 1\n", "malformed TOML"),
])
def test_bad_space_is_one_line_and_exit_2(tmp_path, capsys, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = main(["tune", "--rule", "ep", "--space", str(path), "--budget", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "trials").exists()  # nothing ran


def test_budget_zero_is_refused(tmp_path, capsys):
    code = main(["tune", "--rule", "backprop", "--budget", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "'budget' must be an integer >= 1" in err and err.count("\n") == 1, err


def test_a_bad_drawn_value_fails_before_anything_trains(tmp_path, capsys):
    path = tmp_path / "space.toml"
    path.write_text("[rule]\nepsilon = {uniform = [0.5, 2.0]}\n")  # epsilon <= 1 in BrainProp's Hyper
    code = main(["tune", "--rule", "brainprop", "--space", str(path), "--budget", "5", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "epsilon" in err and err.count("\n") == 1, err
    assert not (tmp_path / "trials").exists()

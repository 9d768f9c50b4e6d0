"""The 1986 toy tasks against their definitions, and the mirror-symmetry solution structure.

Oracles: the task definitions themselves (palindromes counted in closed form, XOR), the
kinship relations' dualities (husband/wife, parent/child, uncle-aunt/nephew-niece), the
isomorphism of the two trees, and RHW's (1986) hand-analysable mirror-symmetry solution.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from neurosim.network import Network
from neurosim.reference import forward
from neurosim.data import (RELATIONS, family_tree_people, family_tree_queries, family_trees,
                           mirror_symmetry, queries_correct, rhw_xor)
from neurosim.data import load_dataset as load_task

ROOT = Path(__file__).resolve().parents[1]


def _experiment(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- XOR and mirror symmetry
def test_xor_targets_are_exclusive_or():
    d = rhw_xor()
    assert d.x_train.shape == (4, 2) and d.t_train.shape == (4, 1)
    assert np.array_equal(d.t_train[:, 0], np.logical_xor(d.x_train[:, 0], d.x_train[:, 1]))


@pytest.mark.parametrize("n_bits", [2, 3, 6, 7])
def test_mirror_symmetry_counts_palindromes(n_bits):
    d = mirror_symmetry(n_bits)
    strings = ["".join(str(int(b)) for b in row) for row in d.x_train]
    assert len(set(strings)) == 2 ** n_bits  # every string once
    assert d.t_train.sum() == 2 ** ((n_bits + 1) // 2)  # a palindrome is fixed by its first ceil(n/2) bits
    assert all(t == (s == s[::-1]) for s, t in zip(strings, d.t_train[:, 0]))


def test_the_antisymmetric_1_2_4_solution_detects_mirror_symmetry():
    """RHW's Fig. 1 structure: w_i = -w_{7-i} with pair magnitudes 1:2:4 (distinct subset sums), so
    w.x = 0 exactly for palindromes and |w.x| >= 1 otherwise; two such units of opposite sign and an
    output that fires when both are off solve all 64 patterns."""
    d = mirror_symmetry(6)
    k = 6.0
    w = k * np.array([4.0, 2.0, 1.0, -1.0, -2.0, -4.0])  # outer : middle : inner = 4 : 2 : 1
    net = Network.feedforward([6, 2, 1], activation="sigmoid", output_activation="sigmoid", loss="mse")
    params = {"input->hidden1": np.stack([w, -w]), "hidden1.bias": np.full(2, -k / 2),
              "hidden1->output": np.full((1, 2), -2 * k), "output.bias": np.array([k / 2])}
    out = forward(net, params, d.x_train.astype(float)).output
    assert np.all(np.abs(out - d.t_train) < 0.5)
    structure = _experiment("rhw1986_mirror").structure(w)
    assert structure["antisymmetry_error"] == pytest.approx(0.0, abs=1e-15)
    assert structure["ratio_outer_middle_inner"] == pytest.approx([4.0, 2.0, 1.0])
    assert structure["ratio_sorted"] == pytest.approx([1.0, 2.0, 4.0])


def test_a_symmetric_weight_vector_cannot_separate():
    """The measure is not trivially zero: a mirror-SYMMETRIC w has antisymmetry error 2."""
    w = np.array([4.0, 2.0, 1.0, 1.0, 2.0, 4.0])
    assert _experiment("rhw1986_mirror").structure(w)["antisymmetry_error"] == pytest.approx(2.0)


# ---------------------------------------------------------------- family trees
def _relation_table():
    return {(p, r): set(a) for p, r, a in family_tree_queries()}


def test_there_are_104_queries_over_24_people_and_12_relations():
    queries = family_tree_queries()
    assert len(queries) == 104 and len(family_tree_people()) == 24 and len(RELATIONS) == 12
    assert sum(len(a) for _, _, a in queries) == 112  # 8 queries have two answers (uncles/aunts)
    assert {r for _, r, _ in queries} == set(RELATIONS)


def test_kinship_dualities_hold():
    rel = _relation_table()
    people = {p.name: p for p in family_tree_people()}
    sex = {n: p.sex for n, p in people.items()}

    def get(p, r):
        return rel.get((p, r), set())

    for (p, r), answers in rel.items():
        for a in answers:
            assert people[a].nationality == people[p].nationality  # no relation crosses the trees
            if r in ("husband", "wife"):
                assert p in get(a, "wife" if r == "husband" else "husband")
                assert people[a].generation == people[p].generation
            if r in ("father", "mother"):
                assert p in get(a, "son" if sex[p] == "m" else "daughter")
                assert people[a].generation == people[p].generation - 1
            if r in ("uncle", "aunt"):
                assert p in get(a, "nephew" if sex[p] == "m" else "niece")
            if r in ("brother", "sister"):
                assert p in get(a, "brother" if sex[p] == "m" else "sister")
            expected_sex = {"father": "m", "husband": "m", "son": "m", "uncle": "m", "brother": "m", "nephew": "m"}
            assert sex[a] == expected_sex.get(r, "f")


def test_the_two_trees_are_isomorphic():
    rel = _relation_table()
    people = family_tree_people()
    to_italian = {e.name: i.name for e, i in zip(people[:12], people[12:])}
    english = {(p, r): a for (p, r), a in rel.items() if p in to_italian}
    assert len(english) == 52
    for (p, r), a in english.items():
        assert rel[(to_italian[p], r)] == {to_italian[x] for x in a}


def test_family_trees_encoding_and_split():
    task = family_trees(seed=3)
    d = task.dataset
    assert d.x_train.shape == (100, 36) and d.x_test.shape == (4, 36) and d.t_train.shape == (100, 24)
    x = np.vstack([d.x_train, d.x_test])
    assert np.all(x[:, :24].sum(axis=1) == 1) and np.all(x[:, 24:].sum(axis=1) == 1)
    assert len({tuple(row) for row in x}) == 104  # the split is a partition of the 104 queries
    names = [p.name for p in task.people]
    for row, target, (p, r, answers) in zip(d.x_test, d.t_test, task.test_queries):
        assert names[int(np.argmax(row[:24]))] == p and RELATIONS[int(np.argmax(row[24:]))] == r
        assert {names[i] for i in np.flatnonzero(target)} == set(answers)
    assert [q[:2] for q in family_trees(seed=3).test_queries] == [q[:2] for q in task.test_queries]


def test_queries_correct_needs_every_answer_and_nothing_else():
    t = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    o = np.array([[0.9, 0.1, 0.6], [0.2, 0.7, 0.6], [0.2, 0.4, 0.1]])
    assert queries_correct(o, t).tolist() == [True, False, False]


def test_load_task_falls_back_to_datasets_and_names_choices():
    assert load_task("xor").n_classes == 2
    assert load_task("family-trees", seed=1).n_train == 100
    with pytest.raises(KeyError, match="mirror-symmetry"):
        load_task("mirror-symetry")


# ---------------------------------------------------------------- learning (slow)
@pytest.mark.slow
def test_backprop_learns_mirror_symmetry_with_the_antisymmetric_structure():
    """RHW 1986: the learned hidden weights are antisymmetric about the middle.  3 seeds, up to 6000
    sweeps, the paper's set-up (biases U(-0.3, 0.3)); an antisymmetry error below 0.05 is
    'antisymmetric' (a random w gives ~1.4 on average).  Some seeds end in a local minimum
    (2 hidden units), so the structure is asserted on the solved ones and at least one must solve."""
    from neurosim.sweep import run_job

    mirror = _experiment("rhw1986_mirror")
    solved = 0
    for job in mirror.jobs(["backprop"], 3, 6000):
        rec = run_job(job)
        assert rec["status"] in ("stopped", "completed"), rec["message"]
        if rec["criterion_epochs"]["sign"] is not None:
            solved += 1
            for w in rec["params"]["input->hidden1"]:
                assert mirror.structure(w)["antisymmetry_error"] < 0.05
    assert solved >= 1


def test_mirror_jobs_follow_the_paper():
    """Summed-gradient ε = 0.1 over 64 patterns = 6.4 on the mean; α = 0.9; weights and biases U(-0.3, 0.3)."""
    mirror = _experiment("rhw1986_mirror")
    bp, fa = mirror.jobs(["backprop", "fa"], 1, 100, bio_seeds=1, bio_max_sweeps=50)
    assert bp["learning_rate"] == pytest.approx(0.1 * len(mirror_symmetry(6).x_train))
    assert (bp["momentum"], bp["init"], bp["init_scale"], bp["bias_init_scale"]) == (0.9, "uniform", 0.3, 0.3)
    assert "batch_size" not in bp  # the sweep default: the whole training set, one update per sweep
    assert (bp["epochs"], bp["align_samples"], fa["epochs"], fa["align_samples"]) == (100, 0, 50, 64)


def test_censored_quantiles():
    """Unsolved seeds are +inf: with more than half unsolved the median is beyond the budget."""
    q = _experiment("rhw1986_mirror").quantiles
    assert q([100, 200, 300, None]) == (175.0, 250.0, pytest.approx(np.inf))
    assert q([100, None, None])[1] == np.inf
    assert q([]) == (None, None, None)


def test_feedback_diagnosis_reads_b_w2_and_the_hidden_alignment():
    rec = {"job": {"seed": 7}, "train_loss": 0.0625,
           "params": {"output->hidden1:fa": [[1.0], [-1.0]], "hidden1->output": [[-2.0, 2.0]], "output.bias": [-5.0],
                      "input->hidden1": [[1.0, 2, 4, 4, 2, 1], [1.0, 2, 4, -4, -2, -1]], "hidden1.bias": [0.0, 0.0]},
           "curves": {"alignment_projections": {"input->hidden1": [None, 0.5, -0.2, -0.4]}}}
    d = _experiment("rhw1986_mirror").feedback_diagnosis(rec)
    assert d["cos_W2_B"] == pytest.approx(-1.0)  # W2 = -2 B exactly
    assert d["hidden_alignment_cos_at_epoch"] == {"1": 0.5, "3": -0.4}
    assert d["fraction_epochs_hidden_update_against_gradient"] == pytest.approx(2 / 3)
    assert d["hidden_antisymmetry_error"] == pytest.approx([2.0, 0.0])  # mirror-symmetric, antisymmetric
    # Output bias -5 and |W2| = 2 keep every output below 0.5: the 8 palindromes wrong, the 56 others right.
    assert (d["palindromes_wrong"], d["non_palindromes_wrong"]) == (8, 0)


def test_family_trees_decay_jobs_leave_the_undecayed_jobs_unchanged():
    """Runs without decay keep the job dict (and id) they had before the option existed."""
    ft = _experiment("family_trees")
    plain = ft.jobs(["backprop", "fa"], 2, 10)
    both = ft.jobs(["backprop", "fa"], 2, 10, weight_decays=(0.003,), wd_rules=("backprop",), wd_seeds=3)
    assert all("weight_decay" not in j for j in plain) and both[:4] == plain
    # backprop seed 2 without decay (the extra wd seed), then 3 decayed seeds; nothing twice.
    assert [(j["rule"], j["seed"], j.get("weight_decay")) for j in both[4:]] == [
        ("backprop", 2, None), ("backprop", 0, 0.003), ("backprop", 1, 0.003), ("backprop", 2, 0.003)]


def test_fashion_table_adds_rows_and_keeps_earlier_ones(tmp_path):
    """A record already in runs/ at the same budget (a fake 'fa' row) stays in the table when another rule
    is run; a record at another budget does not enter it; --rerun moves the rule's records aside."""
    from neurosim.results import write_json

    fat = _experiment("fashion_accuracy_table")
    budget = (200, 200, 1, [784, 16, 10])
    fake = fat.make_jobs(["fa"], 1, *budget)[0]
    other = {**fake, "epochs": 2}
    runs = tmp_path / "runs"
    for job, err in ((fake, 0.5), (other, 0.1)):
        from neurosim.sweep import job_id

        write_json(runs / f"{job_id(job)}.json", {"job_id": job_id(job), "job": job, "status": "completed",
                                                  "test_error": err, "curves": {"alignment_angle_deg": [None, 40.0]}})
    argv = ["--rules", "backprop", "--seeds", "1", "--n-train", "200", "--n-test", "200", "--epochs", "1",
            "--hidden", "16", "--workers", "0", "--out", str(tmp_path)]
    assert fat.main(argv) == 0
    import json

    table = json.loads((tmp_path / "table.json").read_text())
    rows = {r["rule"]: r for r in table["rows"]}
    assert set(rows) == {"backprop", "fa"} and rows["fa"]["values"] == [0.5]
    assert "fa" not in table["missing_rules"] and "dtp" in table["missing_rules"]
    assert fat.main(argv[:1] + ["fa"] + argv[2:] + ["--rerun"]) == 0
    assert (runs / "superseded" / f"{job_id(fake)}.0.json").exists() and (runs / f"{job_id(other)}.json").exists()


@pytest.mark.parametrize("card, experiment", [("rhw1986_xor", "rhw1986_xor"), ("rhw1986_mirror", "rhw1986_mirror"),
                                              ("hinton1986_family_trees", "family_trees")])
def test_model_cards_describe_what_the_experiments_run(card, experiment):
    from neurosim import RunSpec

    c = RunSpec.load(ROOT / "models" / f"{card}.toml")
    job = _experiment(experiment).jobs(["backprop"], 1, c.epochs)[0]
    assert list(c.network.sizes) == job["layers"] and c.dataset == job["dataset"]
    assert c.learning_rate == pytest.approx(job["learning_rate"])
    assert c.batch_size == load_task(job["dataset"]).n_train  # full batch
    if card == "rhw1986_mirror":  # RHW's eta on the summed gradient x 64 patterns = eta on the mean
        assert c.learning_rate == pytest.approx(c.published["learning_rate_summed"] * 64)
    for layer in c.network.layers[1:]:
        assert layer.activation == job["activation"]


def test_fashion_table_jobs_are_the_compare_preset_changed_by_the_train_preset():
    """Every row (before ``TABLE_SETTINGS``) runs its compare preset, changed only where its train
    preset's ``[rule]`` table says otherwise -- the order the experiment documents.  Oracle: the
    preset TOML files read directly.  Issue 20: merging the train preset's hyper-parameters with
    their defaults filled in put the microcircuit's ``basal_baseline`` back to "dendrite" (its
    compare preset: "free"), and its full-budget row collapsed to chance within 20 batches."""
    import tomllib

    from neurosim.compare import control_rules, supervised_rules
    from neurosim.runspec import PRESET_DIR, RunSpec

    fat = _experiment("fashion_accuracy_table")

    def table(rule, purpose):
        path = PRESET_DIR / f"{rule}-{purpose}.toml"
        return {k: v for k, v in tomllib.loads(path.read_text())["rule"].items() if k != "name"} \
            if path.is_file() else {}

    for rule in supervised_rules() + control_rules():
        expected = {**RunSpec(rule=rule).hyper, **table(rule, "compare"), **table(rule, "train")}
        assert fat.make_jobs([rule], 1, 100, 100, 1, [784, 16, 10])[0]["hyper"] == expected, rule
    assert fat.make_jobs(["microcircuit"], 1, 100, 100, 1, [784, 16, 10])[0]["hyper"]["basal_baseline"] == "free"

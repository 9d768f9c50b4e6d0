"""Conformance suite over the rule registry (scikit-learn's ``parametrize_with_checks``).

Every registered rule -- and any rule registered later, automatically -- is run through the
same contract checks (docs/design.md, "The rule surface"):

* deterministic for a seed; ``updates`` never modifies ``params`` or the state it is given;
* ``dW`` has keys, shapes and dtypes of ``params``;
* bad hyper-parameters and unknown names are rejected in one line, naming the field;
* empty and non-finite batches are rejected in one line;
* ``network()`` is idempotent and never modifies its argument;
* its RunSpec round-trips through TOML; its presets load;
* ``align`` never changes the state, and training with alignment every epoch gives
  bit-identical parameters and history to training without it.

Oracle: the contract itself (no numbers from the code under test are trusted).
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from neurosim.alignment import align
from neurosim.errors import ConfigError, NeurosimError, ShapeError
from neurosim.randomness import RngState
from neurosim.rules import RULES, Rule
from neurosim.runspec import PRESET_DIR, RunSpec

NAMES = sorted(RULES)
#: Rules that compute on the rate side (spiking-only rules -- STDP, Diehl & Cook -- simulate brian2 circuits;
#: tests/test_stdp_rules.py checks their purity and updates, marked spiking).
RATE_NAMES = sorted(n for n, c in RULES.items() if "rate" in c.info.backends)
SIZES = [6, 5, 3]


def _batch(seed=0, n=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, SIZES[0])).astype(dtype)
    t = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], n)]
    return x, t


def _setup(name, seed=0, dtype="float64"):
    rule = RULES[name]()
    net = rule.network(SIZES)
    params = rule.init_params(net, seed, dtype)
    return rule, net, params


def same(a, b) -> bool:
    """Deep equality of states, parameters and diagnostics (arrays bit for bit)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
            and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, RngState):
        return a == b
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("name", NAMES)
def test_surface_is_declared_not_probed(name):
    klass = RULES[name]
    assert klass.name == name and klass.family and klass.citation
    assert dataclasses.is_dataclass(klass.Hyper)
    # none of the first edition's names survive on a rule class
    for old in ("defaults", "compare_hyper", "train_hyper", "train_defaults", "prepare", "default_network",
                "reference_updates", "align", "backends", "reference", "supervised", "losses", "aliases",
                "relaxation_stats_", "reset_stats"):
        assert not hasattr(klass, old), f"{name} still has '{old}'"


@pytest.mark.parametrize("name", RATE_NAMES)
def test_deterministic_for_a_seed_and_pure(name):
    x, t = _batch()
    rule, net, params = _setup(name)
    state = rule.init(net, params, 3)
    params0, state0 = copy.deepcopy(params), copy.deepcopy(state)
    dw1, s1, aux1 = rule.updates(net, params, state, x, t)
    assert same(params, params0), "updates modified params"
    assert same(state, state0), "updates modified the state it was given"
    rule2, net2, params2 = _setup(name)
    dw2, s2, aux2 = rule2.updates(net2, params2, rule2.init(net2, params2, 3), x, t)
    assert same(dw1, dw2) and same(s1, s2), "same seed and batch gave different results"
    # a second step from the returned state is deterministic too
    assert same(rule.updates(net, params, s1, x, t)[0], rule2.updates(net2, params2, s2, x, t)[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", RATE_NAMES)
def test_updates_are_keyed_and_shaped_like_params(name, dtype):
    x, t = _batch(dtype=np.dtype(dtype))
    rule, net, params = _setup(name, dtype=dtype)
    dw, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, t)
    assert isinstance(aux, dict)
    assert dw, "no update at all"
    for key, value in dw.items():
        assert key in params, f"update for unknown parameter '{key}'"
        assert np.shape(value) == params[key].shape, key
        assert np.asarray(value).dtype == params[key].dtype, f"{key}: {np.asarray(value).dtype} vs {dtype}"
        assert np.all(np.isfinite(value)), key


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyper_parameters_are_rejected_in_one_line(name):
    klass = RULES[name]
    with pytest.raises(ConfigError) as err:
        klass(no_such_parameter=1)
    assert "no_such_parameter" in str(err.value) and "\n" not in str(err.value)
    for f in dataclasses.fields(klass.Hyper):
        m = f.metadata
        bad = []
        if m.get("choices"):
            bad.append("surely-not-a-choice")
        elif m.get("kind") in ("number", "int"):
            bad += ["abc", float("nan"), True]
            for key in ("ge", "gt"):
                if m.get(key) is not None:
                    bad.append(m[key] - 1)
            for key in ("le", "lt"):
                if m.get(key) is not None:
                    bad.append(m[key] + 1)
        elif m.get("kind") == "bool":
            bad.append("yes")
        for value in bad:
            with pytest.raises(ConfigError) as err:
                klass(**{f.name: value})
            msg = str(err.value)
            assert f.name in msg and "\n" not in msg and name in msg, msg


@pytest.mark.parametrize("name", RATE_NAMES)
def test_bad_batches_are_rejected_in_one_line_and_leave_the_state(name):
    rule, net, params = _setup(name)
    state = rule.init(net, params, 0)
    snapshot = copy.deepcopy(state)
    x, t = _batch()
    for bx, bt in ((x[:0], t[:0]), (np.full_like(x, np.nan), t), (x[:, :-1], t)):
        with pytest.raises(NeurosimError) as err:
            rule.updates(net, params, state, bx, bt)
        assert isinstance(err.value, (ShapeError, ConfigError)) and "\n" not in str(err.value)
    assert same(state, snapshot)
    dw_after = rule.updates(net, params, state, x, t)[0]
    dw_fresh = rule.updates(net, params, snapshot, x, t)[0]
    assert same(dw_after, dw_fresh)


@pytest.mark.parametrize("name", NAMES)
def test_network_is_idempotent(name):
    rule = RULES[name]()
    net = rule.network(SIZES)
    again = rule.network(net)
    assert again.to_dict() == net.to_dict()


@pytest.mark.parametrize("name", NAMES)
def test_runspec_round_trips_through_toml(name):
    spec = RunSpec(rule=name, hyper=dict(RULES[name].Hyper()), layers=tuple(SIZES))
    back = RunSpec.from_toml(spec.to_toml())
    assert back == spec and back.canonical() == spec.canonical()
    for purpose in ("train", "compare"):
        preset = RunSpec.preset(name, purpose)  # a preset file that exists must load and name this rule
        assert preset.rule == name
        assert RunSpec.from_toml(preset.to_toml()) == preset


def test_every_preset_file_names_a_registered_rule_and_purpose():
    from neurosim.rules import rule_class
    from neurosim.tune import SearchSpace

    for path in sorted(PRESET_DIR.glob("*.toml")):
        if path.stem.endswith("-search"):  # a search space (neurosim tune), not a RunSpec
            rule = path.stem[: -len("-search")]
            assert SearchSpace.load(path, rule).rule == rule_class(rule).name == rule, path.name
            continue
        spec = RunSpec.load(path)
        assert path.stem in (f"{spec.rule}-train", f"{spec.rule}-compare"), path.name


@pytest.mark.parametrize("name", RATE_NAMES)
def test_align_never_changes_the_state(name):
    x, t = _batch()
    rule, net, params = _setup(name)
    s0 = rule.init(net, params, 1)
    _, s1, _ = rule.updates(net, params, s0, x, t)
    snapshot = copy.deepcopy(s1)
    before = rule.updates(net, params, s1, x, t)
    report = align(rule, net, params, x, t, s1)
    assert same(s1, snapshot)
    after = rule.updates(net, params, s1, x, t)
    assert same(before[0], after[0]) and same(before[1], after[1])
    assert report.rule == name and report.reference == rule.info.reference


@pytest.mark.parametrize("name", RATE_NAMES)
def test_training_with_and_without_alignment_is_bit_identical(name):
    from neurosim.data import Dataset
    from neurosim.training import TrainConfig, train

    rng = np.random.default_rng(5)
    n = 24
    x = rng.uniform(0, 1, (n + 8, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], n + 8)
    data = Dataset("conformance", x[:n], y[:n], x[n:], y[n:], SIZES[-1], None, "tests")
    rule = RULES[name]()
    net = rule.network(SIZES)
    runs = [train(net, rule, data, TrainConfig(epochs=2, batch_size=8, seed=2, align_samples=a), progress=False)
            for a in (0, 16)]
    assert runs[0].status == runs[1].status
    assert same(runs[0].params, runs[1].params), "measuring alignment changed training"
    strip = [[{k: v for k, v in e.items() if k not in ("alignment", "seconds", "train_seconds")} for e in r.history]
             for r in runs]
    assert strip[0] == strip[1]
    assert all("alignment" in e for e in runs[1].history) and not any("alignment" in e for e in runs[0].history)


def test_a_rule_without_updates_says_so():
    class Bare(Rule):
        name = "bare"

    rule = Bare()
    with pytest.raises(NotImplementedError, match="bare"):
        rule.updates(None, {}, {}, None, None)


@pytest.mark.parametrize("name", RATE_NAMES)
def test_a_blown_up_learning_rate_ends_the_run_as_diverged(name):
    """SGD at learning rate 1e6: every rule's run must end 'diverged' (a loss above 10x the initial one,
    or non-finite parameters/updates) with a message saying to lower the learning rate -- never
    'completed' with a huge loss (the first edition caught only NaN/inf)."""
    from neurosim.data import Dataset
    from neurosim.training import TrainConfig, train

    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (40, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], 40)
    data = Dataset("blow-up", x[:32], y[:32], x[32:], y[32:], SIZES[-1], None, "tests")
    rule = RULES[name]()
    net = rule.network(SIZES)
    res = train(net, rule, data, TrainConfig(epochs=3, batch_size=8, optimizer="sgd", momentum=0.0,
                                              learning_rate=1e6, align_samples=0), progress=False)
    assert res.status == "diverged", (res.status, res.history)
    assert "learning rate" in res.message and "\n" not in res.message

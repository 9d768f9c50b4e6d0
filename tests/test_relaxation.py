"""The one relaxation engine (neurosim.relaxation) shared by PC, EP and the microcircuit.

Oracles: sequences of residuals whose stopping step is known in closed form (a geometric
residual 2^-k first falls below 0.1 at k = 4), the vocabulary as specified in issue 15 (the
same four names in every rule that relaxes, the first edition's names rejected with the new
one), and the module graph itself (no module imports the energy kernel's private names).
"""
from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from neurosim import get_rule
from neurosim.errors import ConfigError, ConvergenceError
from neurosim.relaxation import (ON_UNCONVERGED, RENAMED, Convergence, Monitor, RelaxationWarning, summarise)
from neurosim.training import add_relaxation

ROOT = Path(__file__).resolve().parents[1]
RELAXING = ("pc", "pc-fpa", "ep", "microcircuit")
VOCABULARY = ("max_steps", "step_size", "tolerance", "on_unconverged")


def run(monitor: Monitor, residuals, energies=None) -> int:
    """Drive ``monitor`` with a residual (and energy) per state; the number of updates made."""
    for k, r in enumerate(residuals):
        if monitor.stop(r, None if energies is None else energies[k]):
            return monitor.steps
    raise AssertionError("the monitor never stopped")


# --------------------------------------------------------------------------- the vocabulary
@pytest.mark.parametrize("name", RELAXING)
def test_every_relaxing_rule_speaks_the_same_vocabulary(name):
    rule = get_rule(name)
    names = {f.name for f in fields(rule.Hyper)}
    assert set(VOCABULARY) <= names
    assert rule.hyper["on_unconverged"] in ON_UNCONVERGED
    for key, bad in (("max_steps", 0), ("step_size", 0.0), ("on_unconverged", "ignore")):
        with pytest.raises(ConfigError, match=f"rule '{rule.name}': '{key}' must be"):
            get_rule(name, **{key: bad})


@pytest.mark.parametrize("name", RELAXING)
@pytest.mark.parametrize("old", sorted(RENAMED))
def test_first_edition_names_are_rejected_in_one_line(name, old):
    """Every old name fails; where the rule has the new one, the message names it."""
    with pytest.raises(ConfigError) as err:
        get_rule(name, **{old: 1})
    message = str(err.value)
    assert "\n" not in message and f"'{old}'" in message
    if RENAMED[old] in {f.name for f in fields(get_rule(name).Hyper)}:
        assert f"renamed '{RENAMED[old]}'" in message


def test_zil_has_a_fixed_schedule_and_no_relaxation_vocabulary():
    assert not set(VOCABULARY) & {f.name for f in fields(get_rule("pc-zil").Hyper)}


# --------------------------------------------------------------------------- the monitor
def test_stops_at_the_tolerance_after_the_expected_number_of_updates():
    """Residual 2^-k after k updates: the first k with 2^-k <= 0.1 is 4."""
    monitor = Monitor("test", max_steps=100, tolerance=0.1)
    assert run(monitor, [2.0 ** -k for k in range(100)]) == 4
    record = monitor.finish()
    assert record == Convergence(steps=4, residual=2.0 ** -4, converged=True, tolerance=0.1)
    assert not record.unconverged


@pytest.mark.parametrize("policy", ON_UNCONVERGED)
def test_the_cap_follows_the_policy(policy):
    monitor = Monitor("rule 'x'", max_steps=3, tolerance=1e-6, on_unconverged=policy, phase="inference")
    assert run(monitor, [1.0] * 10) == 3
    if policy == "raise":
        with pytest.raises(ConvergenceError, match="rule 'x': inference did not converge in max_steps=3"):
            monitor.finish()
    elif policy == "warn":
        with pytest.warns(RelaxationWarning, match="did not converge in max_steps=3"):
            assert monitor.finish().unconverged
    else:
        record = monitor.finish()
        assert record.unconverged and record.steps == 3 and record.residual == 1.0


def test_fixed_step_protocol_needs_the_residual_only_at_both_ends():
    """tolerance = 0: exactly max_steps updates, never counted as unconverged."""
    monitor = Monitor("test", max_steps=5, tolerance=0.0)
    needed = []
    while True:
        needed.append(monitor.needs_residual)
        if monitor.stop(0.5 if monitor.needs_residual else None):
            break
    assert monitor.steps == 5 and needed == [True, False, False, False, False, True]
    assert not monitor.finish().unconverged


@pytest.mark.parametrize("policy", ON_UNCONVERGED)
def test_divergence_raises_whatever_the_policy(policy):
    with pytest.raises(ConvergenceError, match="diverged at step 2: the state became NaN or inf"):
        run(Monitor("test", max_steps=10, tolerance=1e-6, on_unconverged=policy), [1.0, 0.5, math.inf])
    # gradient descent on an energy with a stable step never raises it (0.1 % slack)
    with pytest.raises(ConvergenceError, match="the energy rose from 1 to 1.01"):
        run(Monitor("test", max_steps=10, tolerance=1e-6, on_unconverged=policy, monotone_energy=True),
            [1.0] * 5, [2.0, 1.0, 1.01, 1.0, 1.0])
    # a residual that ends above growth x its start is an unstable relaxation, not a slow one
    monitor = Monitor("test", max_steps=3, tolerance=1e-6, on_unconverged=policy, growth=2.0)
    run(monitor, [1.0, 1.5, 2.5, 3.0])
    with pytest.raises(ConvergenceError, match="diverged \\(unstable\\): the residual grew from 1 to 3"):
        monitor.finish()


@pytest.mark.parametrize("policy", ON_UNCONVERGED)
def test_the_fixed_step_protocol_keeps_a_growing_transient(policy):
    """tolerance = 0 defines the result as the state after max_steps updates (published EP code):
    with bounded rates a residual still growing at the last step (a nudge that has not reached
    every layer) is recorded, never raised; the same residuals with a tolerance > 0, or with
    unbounded rates, are the unstable case above."""
    monitor = Monitor("test", max_steps=3, tolerance=0.0, on_unconverged=policy, growth=2.0, bounded=True)
    run(monitor, [1.0, None, None, 3.0])
    record = monitor.finish()
    assert record.steps == 3 and record.residual == 3.0 and not record.unconverged
    with pytest.raises(ConvergenceError, match="diverged at step 3: the state became NaN or inf"):
        run(Monitor("test", max_steps=3, tolerance=0.0, on_unconverged=policy, growth=2.0, bounded=True),
            [1.0, None, None, math.nan])
    # unbounded rates (relu): growth is a blow-up in every protocol
    monitor = Monitor("test", max_steps=3, tolerance=0.0, on_unconverged=policy, growth=2.0)
    run(monitor, [1.0, None, None, 3.0])
    with pytest.raises(ConvergenceError, match="the residual grew from 1 to 3"):
        monitor.finish()


def test_a_residual_known_only_after_an_update():
    """The microcircuit's sweeps measure the change they make: None at the start state."""
    monitor = Monitor("test", max_steps=10, tolerance=0.1)
    residual, made = None, 0
    while not monitor.stop(residual):
        made += 1
        residual = 2.0 ** -made
    assert made == monitor.steps == 4 and monitor.finish().converged


def test_summaries_add_up_over_an_epoch():
    a = Convergence(steps=3, residual=0.2, converged=False, tolerance=0.1)
    b = Convergence(steps=1, residual=0.01, converged=True, tolerance=0.1)
    c = Convergence(steps=5, residual=0.7, converged=False, tolerance=0.0)  # fixed-step protocol
    call = summarise(a, b, c)
    assert call == {"phases": 3, "unconverged": 1, "steps": 9, "max_residual": 0.7}
    epoch = add_relaxation(add_relaxation(None, call), summarise(b))
    assert epoch == {"phases": 4, "unconverged": 1, "steps": 10, "max_residual": 0.7}


# --------------------------------------------------------------------------- purity
@pytest.mark.parametrize("name", ["pc", "pc-fpa", "pc-zil", "ep", "microcircuit", "burstprop"])
def test_updates_keep_nothing_and_change_nothing(name):
    rule = get_rule(name)
    net = rule.network([6, 5, 4, 3])
    params = rule.init_params(net, 0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (4, 6)), np.eye(3)[[0, 1, 2, 0]]
    before = {k: v.copy() for k, v in params.items()}
    state = rule.init(net, params, 0)
    first = rule.updates(net, params, state, x, t)
    second = rule.updates(net, params, state, x, t)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
    for key in first[0]:
        np.testing.assert_array_equal(first[0][key], second[0][key])
    assert first[2] == second[2]
    assert vars(rule) == {"hyper": rule.hyper}


# --------------------------------------------------------------------------- the kernel is public
def test_no_module_imports_the_energy_kernels_private_names():
    """experiments/ep_jumps.py and benchmarks/bench_ep.py used to import _gather, _relax...;
    everything they need is public (EnergyKernel, kernel_for_batch, top_eigenvalues)."""
    offenders = []
    for folder in ("neurosim", "experiments", "benchmarks", "figures", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("energy"):
                    offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names
                                  if a.name.startswith("_")]
    assert not offenders, offenders

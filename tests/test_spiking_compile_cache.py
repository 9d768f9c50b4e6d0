"""One compile per shape: a stream of batches through the spiking backends generates new code only for a new shape.

Cython compiles one extension module per distinct generated code string (the module name is the
hash of the code and the compiler settings, cached in memory and in ~/.cython).  So the code
strings handed to brian2's Cython extension manager are the compilations: this counts, per
batch, the code strings that no earlier batch of the stream asked for.  brian2's ``TimedArray``
writes its number of rows into its Cython code, so a stream whose stimulus is a per-row
``TimedArray`` (``build``/``SpikingModel``: one row per presentation, ``batch * n_trials`` rows;
the sequential streams of the STDP rules: one row per sample) compiles once per new number of
rows and never again; parallel copies (``build_circuit``) put no size into the code at all.
Marked ``spiking``; Cython (skipped without a compiler).
"""
import hashlib

import numpy as np
import pytest

b2 = pytest.importorskip("brian2")

from neurosim import Network, init_params  # noqa: E402
from neurosim.spiking import codegen  # noqa: E402

pytestmark = pytest.mark.spiking

if not codegen.cython_available():   # pragma: no cover - machines without a compiler
    pytest.skip("Cython code generation is not available", allow_module_level=True)


@pytest.fixture
def new_code(monkeypatch):
    """``new_code(fn)``: the code strings ``fn()`` hands to Cython that no earlier call of this test did."""
    from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager as manager

    seen, batch = set(), []
    original = manager.create_extension

    def recording(code, *args, **kwargs):
        batch.append(hashlib.md5(code.encode()).hexdigest())
        return original(code, *args, **kwargs)

    monkeypatch.setattr(manager, "create_extension", recording)

    def run(fn):
        batch.clear()
        out = fn()
        new = set(batch) - seen
        assert batch, "no code reached Cython: the run did not use the cython target"
        seen.update(batch)
        return new, out

    return run


def test_spiking_model_compiles_once_per_rows_shape(new_code):
    """build()/SpikingModel.run (the rate read-out rules): batch x trials = 6 rows compiles; the same 6 rows with
    other data, and 3 x 2 = 6 rows, compile nothing; 4 x 3 = 12 rows compiles the stimulus' code only (a proper
    subset of the first build's); 12 and 6 rows again compile nothing."""
    from neurosim.spiking import build

    net = Network.feedforward([3, 4, 2], activation="lif", output_activation="lif", bias_init=2.0)
    model = build(net, init_params(net, seed=0), dt=0.5 * b2.ms, presentation=20 * b2.ms, settle=5 * b2.ms,
                  target="cython")
    rng = np.random.default_rng(0)

    def stream(batch, trials):
        return lambda: model.run(rng.uniform(0, 1, (batch, 3)), n_trials=trials, seed=int(rng.integers(100)))

    first, _ = new_code(stream(2, 3))
    assert first
    assert new_code(stream(2, 3))[0] == set()
    assert new_code(stream(3, 2))[0] == set(), "same batch x trials, new code: a recompilation per batch"
    grown, activity = new_code(stream(4, 3))
    assert activity.counts["output"].shape == (3, 4, 2)
    assert 0 < len(grown) < len(first), "a new number of rows should recompile the stimulus' code only"
    assert new_code(stream(4, 3))[0] == set() and new_code(stream(2, 3))[0] == set()


def test_stdp_rule_stream_compiles_once_per_batch_size(new_code):
    """The registered 'stdp' rule (build_circuit, one sequential stream per batch, rebuilt every call): batches of
    5 compile once, the next batch of 5 compiles nothing, a batch of 7 compiles the input's rate table only, and
    7 again nothing."""
    from neurosim.rules import get_rule

    rule = get_rule("stdp", codegen="cython", presentation=0.02, dt=5e-4)
    net = rule.network([6, 2])
    params = rule.init_params(net, 0)
    state = rule.init(net, params, 0)
    rng = np.random.default_rng(1)

    def batch(n):
        return lambda: rule.updates(net, params, state, rng.uniform(0, 0.5, (n, 6)), None)

    first, _ = new_code(batch(5))
    assert first and new_code(batch(5))[0] == set()
    grown, _ = new_code(batch(7))
    assert 0 < len(grown) < len(first)
    assert new_code(batch(7))[0] == set()


def test_parallel_copies_put_no_size_into_the_code(new_code):
    """build_circuit with parallel copies (batch x trials copies side by side): a new batch x trials generates no
    new code at all -- group sizes are data, not code."""
    from neurosim.spiking.builder import build_circuit

    net = Network.feedforward([3, 4, 2], activation="lif", output_activation="lif", neuron="lif", bias_init=2.0)
    params = init_params(net, seed=0)
    rng = np.random.default_rng(2)

    def run(batch, trials):
        return lambda: build_circuit(net, params, rng.uniform(0, 1, (batch, 3)), n_trials=trials, dt=0.5 * b2.ms,
                                     phase=20 * b2.ms, settle=5 * b2.ms, codegen_target="cython").run()

    first, _ = new_code(run(2, 3))
    assert first
    assert new_code(run(2, 3))[0] == set()
    assert new_code(run(5, 4))[0] == set()

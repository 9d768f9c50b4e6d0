"""Parity of the array backends: the same rule code on PyTorch tensors and on numpy.

Oracle: the numpy float64 path, itself checked against finite differences and the exact
limits (tests/test_reference.py, the families' theory tests).  The torch path runs the
*same* code (one code path per rule, docs/design.md "Arrays"), so on float64 it must agree
to rounding: <= 1e-10 relative (the two libraries sum and multiply in different orders, so
bit equality is not expected; the measured errors are ~1e-16).  Training on float32 agrees
to float32 rounding: each optimiser step may move a parameter by a few float32 ulps
differently, so after ``n`` steps the relative difference stays below ``4 n eps32``.

The parity test is parametrised over the whole rule registry; the rules whose code is not on
the array namespace yet are strict xfails, so the list of converted rules is explicit here
and a rule converted later turns its xfail into a failure until it is listed.

GPU: these tests run on the CPU build of torch (CI installs it).  The CUDA path is the same
code with ``device="cuda"``; what can be checked without a GPU (device strings, one-line
errors when CUDA is absent or the index is out of range) is checked below.

Skipped as a whole when torch is not installed (``pytest.importorskip``).
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

from neurosim import Network  # noqa: E402
from neurosim.arrays import backend, namespace, to_numpy, to_numpy_tree  # noqa: E402
from neurosim.errors import ConfigError  # noqa: E402
from neurosim.neurons import ACTIVATIONS  # noqa: E402
from neurosim.reference import backprop, relative_error  # noqa: E402
from neurosim.rules import RULES  # noqa: E402

#: Rules whose updates compute in the namespace of their arrays (RuleInfo.arrays has "torch").
CONVERTED = {"backprop", "fa", "dfa", "tp", "dtp", "sdtp", "aosdtp", "agrel", "brainprop", "hebb", "oja", "sanger",
             "pc", "pc-fpa", "pc-zil", "ep", "microcircuit", "burstprop",
             "bcm", "krotov-hopfield", "sg", "cdni"}
#: Why the others are not yet: their modules still call numpy on the arrays they are given, and
#: were outside the first conversion (another engineer was finishing them at the time).
NOT_YET = {
}
#: Rule-specific settings of the training comparisons.  EP's update is a difference quotient,
#: (s^{+beta} - s^{-beta}) / (2 beta): the states' rounding reaches the update divided by 2 beta, and a
#: phase stopped by its tolerance can stop one step earlier on one library.  At the default
#: beta = 1e-3, tolerance 1e-6 the numpy float32 run itself is that inexact (measured: parameters
#: 1-7% apart from torch's after 50 Adam steps, also with a fixed step count; float64: 2e-8), so the
#: comparison trains with beta = 0.1 and the fixed-step protocol (30 free, 10 nudged steps;
#: measured then: 1.3e-5 float32, within 4 eps32 per step).  The update test keeps the defaults.
TRAIN_HYPER = {"ep": {"beta": 0.1, "tolerance": 0.0, "max_steps": 30, "nudged_max_steps": 10},
               # pc trains with truncated inference (its train preset), not align's 2000-step equilibrium
               "pc": {"max_steps": 20, "step_size": 0.05, "on_unconverged": "record"}}
#: Training comparisons that fail, measured (strict xfails: open defects, not tolerances).
TRAIN_XFAIL = {
    ("microcircuit", "float64", "adam"): "parameters 2.0e-10 apart after 2 epochs (> 1e-10; updates agree to 1e-10, "
                                         "sgd training too): cause not analysed",
    ("burstprop", "float64", "adam"): "parameters 7.3e-5 apart after 2 epochs although single updates agree to "
                                      "1e-10 and sgd training too; suspected: burst probabilities clipped at 0/1 "
                                      "(p_teach) switch on rounding -- not verified",
    ("burstprop", "float32", "adam"): "parameters 1.1e-4 apart after 2 epochs (> 4 eps32 per step = 2.4e-5); see "
                                      "the float64 note",
}
NAMES = sorted(n for n, c in RULES.items() if "rate" in c.info.backends)  # spiking-only rules: brian2
SIZES = [6, 5, 4, 3]
FLOAT64_RTOL = 1e-10
CPU = backend("torch", "cpu")


def _note(name: str) -> str:
    family = RULES[name].family
    return NOT_YET.get(family, f"{family} ({RULES[name].__module__}) still calls numpy on its arrays (issue 16)")


def _registry_param(name):
    if name in CONVERTED:
        return name
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=_note(name)))


@pytest.fixture
def device_like_tensors(monkeypatch):
    """Make every numpy conversion of a tensor fail, as it does for a tensor on a GPU.

    On the CPU ``np.asarray(tensor)`` silently works, so a rule that leaves the namespace
    (``np.tanh(x)``) would pass a CPU parity test and fail on CUDA.  With ``__array__``
    refusing, it fails here too.  (``neurosim.arrays.to_numpy`` copies with ``.cpu().numpy()``,
    the explicit way results come to the host.)
    """
    def refuse(self, *args, **kwargs):
        raise TypeError("numpy conversion of a tensor inside the rate core (would fail on a GPU)")

    monkeypatch.setattr(torch.Tensor, "__array__", refuse)


def _batch(seed=0, n=8, sizes=SIZES):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, sizes[0]))
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    return x, t


def _training_param(rule, dtype, setting="adam"):
    note = TRAIN_XFAIL.get((rule, dtype, setting))
    return rule if note is None else pytest.param(rule, marks=pytest.mark.xfail(strict=True, reason=note))


def _is_cpu_tensor(a, dtype) -> bool:
    return isinstance(a, torch.Tensor) and a.device.type == "cpu" and a.dtype == dtype


# --------------------------------------------------------------------------- the registry
def test_converted_list_is_what_the_rules_declare():
    declared = {name for name, klass in RULES.items() if "torch" in klass.info.arrays}
    assert declared == CONVERTED


@pytest.mark.parametrize("name", [_registry_param(n) for n in NAMES])
def test_update_on_torch_float64_equals_numpy(name, device_like_tensors):
    rule = RULES[name]()
    net = rule.network(SIZES)
    params = rule.init_params(net, 0, "float64")
    x, t = _batch()
    dw_np, state_np, _ = rule.updates(net, params, rule.init(net, params, 3), x, t)
    params_t = CPU.put(params)
    x_t, t_t = CPU.asarray(x), CPU.asarray(t)
    dw_t, state_t, _ = rule.updates(net, params_t, rule.init(net, params_t, 3), x_t, t_t)
    assert dw_t.keys() == dw_np.keys()
    for key in dw_np:
        assert _is_cpu_tensor(dw_t[key], torch.float64), f"{key}: {type(dw_t[key]).__name__} left the namespace"
        err = relative_error(dw_np[key], dw_t[key])
        assert err <= FLOAT64_RTOL, f"{key}: relative error {err:.2e}"
    # a second step from the returned states agrees too (the state stayed on the backend)
    dw_np2 = rule.updates(net, params, state_np, x, t)[0]
    dw_t2 = rule.updates(net, params_t, state_t, x_t, t_t)[0]
    for key in dw_np2:
        assert relative_error(dw_np2[key], dw_t2[key]) <= FLOAT64_RTOL, key


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_prediction_on_torch_equals_numpy(name, device_like_tensors):
    rule = RULES[name]()
    net = rule.network(SIZES)
    params = rule.init_params(net, 1, "float64")
    x, _ = _batch(1)
    out = rule.predict(net, CPU.put(params), CPU.asarray(x))
    assert _is_cpu_tensor(out, torch.float64)
    assert relative_error(rule.predict(net, params, x), out) <= FLOAT64_RTOL


# --------------------------------------------------------------------------- the oracle
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_backprop_oracle_on_torch_equals_numpy_for_every_activation(activation, loss, device_like_tensors):
    net = Network.feedforward(SIZES, activation=activation, output_activation=activation, loss=loss)
    rng = np.random.default_rng(7)
    from neurosim import init_params

    params = init_params(net, rng)
    for key in params:  # biases that drive every unit into its active range (lif: above threshold 1)
        if key.endswith(".bias"):
            params[key] = rng.uniform(1.5, 2.5, params[key].shape) if activation == "lif" else \
                rng.normal(0, 0.5, params[key].shape)
    x = rng.normal(0, 1, (6, SIZES[0]))
    t = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], 6)] if loss == "cross_entropy" else rng.normal(0, 1, (6, 3))
    ref = backprop(net, params, x, t)
    got = backprop(net, CPU.put(params), CPU.asarray(x), CPU.asarray(t))
    assert abs(got.loss - ref.loss) <= FLOAT64_RTOL * abs(ref.loss)
    for key, g in ref.grads.items():
        assert np.linalg.norm(g) > 0, f"{key}: zero gradient proves nothing"
        assert relative_error(g, got.grads[key]) <= FLOAT64_RTOL, key


def test_backprop_oracle_on_torch_follows_copy_ties_signed_scales_and_one_to_one(device_like_tensors):
    from conftest import circuit_extension_case

    net, params, x, t = circuit_extension_case()
    ref = backprop(net, params, x, t).grads
    got = backprop(net, CPU.put(params), CPU.asarray(x), CPU.asarray(t)).grads
    assert got.keys() == ref.keys()
    for key in ref:
        assert relative_error(ref[key], got[key]) <= FLOAT64_RTOL, key
    off = to_numpy(got["a->b"]) - np.diag(np.diag(to_numpy(got["a->b"])))
    assert np.all(off == 0)  # the synapses a one_to_one projection lacks get exactly nothing


def test_numpy_targets_beside_tensor_inputs_are_moved_once():
    net = Network.feedforward(SIZES, loss="cross_entropy")
    from neurosim import init_params

    params = init_params(net, 0)
    x, t = _batch()
    ref = backprop(net, params, x, t).grads
    got = backprop(net, CPU.put(params), CPU.asarray(x), t).grads  # numpy target, tensor input
    assert all(relative_error(ref[k], got[k]) <= FLOAT64_RTOL for k in ref)


def test_mixing_numpy_and_tensors_is_one_line():
    with pytest.raises(ConfigError) as err:
        namespace(np.zeros(3), torch.zeros(3))
    assert "different libraries" in str(err.value) and "\n" not in str(err.value)
    net = Network.feedforward(SIZES)
    from neurosim import init_params

    params = init_params(net, 0)
    params[next(iter(params))] = torch.as_tensor(params[next(iter(params))])
    with pytest.raises(ConfigError):
        backprop(net, params, *_batch())


# --------------------------------------------------------------------------- training
def _train(rule, array, dtype, **kw):
    from neurosim.runspec import RunSpec
    from neurosim.training import train

    spec = RunSpec(rule=rule, epochs=2, n_train=400, n_test=150, dtype=dtype, array=array,
                   hyper=TRAIN_HYPER.get(rule, {}), **kw)
    data = spec.load_data()
    r = spec.make_rule()
    net = spec.build_network(data, r)
    config = spec.config(n_train=len(data.x_train))
    return train(net, r, data, config, progress=False), config, len(data.x_train)


_SETTINGS = {"adam": dict(optimizer="adam"),
             "sgd-momentum-clip-decay-cosine": dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, clip_norm=0.05,
                                                    weight_decay=1e-3, schedule="cosine")}


def _float64_cases():
    for rule in sorted(CONVERTED):
        for sid, setting in _SETTINGS.items():
            note = TRAIN_XFAIL.get((rule, "float64", sid))
            marks = () if note is None else pytest.mark.xfail(strict=True, reason=note)
            yield pytest.param(rule, setting, id=f"{rule}-{sid}", marks=marks)


@pytest.mark.parametrize("rule, setting", list(_float64_cases()))
def test_training_on_torch_float64_equals_numpy(rule, setting):
    a, _, _ = _train(rule, "numpy", "float64", **setting)
    b, _, _ = _train(rule, "torch", "float64", **setting)
    assert a.status == b.status == "completed"
    for key in a.params:
        assert isinstance(b.params[key], np.ndarray), "results are numpy whatever ran"
        assert relative_error(a.params[key], b.params[key]) <= FLOAT64_RTOL, key
    for ha, hb in zip(a.history, b.history):
        assert ha["test_error"] == hb["test_error"] and ha["train_error"] == hb["train_error"]
        assert abs(ha["loss"] - hb["loss"]) <= FLOAT64_RTOL * ha["loss"]
        assert abs(ha["alignment"]["global"] - hb["alignment"]["global"]) <= 1e-9
    if "clip_norm" in setting:
        assert [h["clipped"] for h in a.history] == [h["clipped"] for h in b.history]


@pytest.mark.parametrize("rule", [_training_param(r, "float32") for r in sorted(CONVERTED)])
def test_training_on_torch_float32_agrees_with_numpy_to_float32_rounding(rule):
    a, config, n_train = _train(rule, "numpy", "float32")
    b, _, _ = _train(rule, "torch", "float32")
    steps = config.epochs * -(-n_train // config.batch_size)
    # float32 rounding (eps32 = 1.2e-7) enters each step through the forward pass, the deltas,
    # the products and Adam's m / sqrt(v); allow 4 eps32 per step, accumulated over the steps
    # (measured: at most 5.3e-6 = 0.9 eps32 per step, agrel; benchmarks/parity_arrays.py)
    tol = 4 * steps * float(np.finfo(np.float32).eps)
    for key in a.params:
        assert b.params[key].dtype == np.float32
        assert relative_error(a.params[key], b.params[key]) <= tol, key
    for ha, hb in zip(a.history, b.history):
        assert abs(ha["loss"] - hb["loss"]) <= tol * ha["loss"]
        # a sample's class can flip only if two outputs tie within rounding: allow one in 150
        assert abs(ha["test_error"] - hb["test_error"]) <= 1 / 150 + 1e-12


def test_training_refuses_a_rule_not_on_the_namespace_in_one_line():
    from neurosim.data import Dataset
    from neurosim.rules.backprop import Backprop
    from neurosim.rules.base import RuleInfo
    from neurosim.training import TrainConfig, train

    class NumpyOnly(Backprop):  # not registered: a rule whose code still calls numpy
        name = "numpy-only"
        info = RuleInfo(arrays=("numpy",))

    rule = NumpyOnly()
    x, t = _batch()
    y = np.argmax(t, axis=1)
    data = Dataset("toy", x.astype(np.float32), y, x.astype(np.float32), y, SIZES[-1], None, "tests")
    with pytest.raises(ConfigError) as err:
        train(rule.network(SIZES), rule, data, TrainConfig(epochs=1, array="torch"))
    msg = str(err.value)
    assert "numpy-only" in msg and "--array numpy" in msg and "\n" not in msg


def test_results_and_records_are_numpy(tmp_path):
    from neurosim.results import load_run

    result, _, _ = _train("fa", "torch", "float32")
    assert all(isinstance(v, np.ndarray) for v in result.params.values())
    assert to_numpy_tree(result.state) == result.state or result.state == {}
    result.save(tmp_path)
    record, arrays = load_run(tmp_path)
    assert record["config"]["array"] == "torch" and record["config"]["device"] == "cpu"
    assert all(np.array_equal(arrays[k], result.params[k]) for k in result.params)


def test_cli_train_on_torch_matches_numpy(capsys):
    import json

    from neurosim.cli import main

    outs = {}
    for array in ("numpy", "torch"):
        assert main(["train", "--rule", "fa", "--epochs", "2", "--n-train", "300", "--n-test", "100",
                     "--array", array, "--json", "--quiet"]) == 0
        outs[array] = json.loads(capsys.readouterr().out)
    assert abs(outs["numpy"]["test_error"] - outs["torch"]["test_error"]) <= 0.005  # the 0.5 points


def test_cli_align_on_torch_equals_numpy(capsys):
    import json

    from neurosim.cli import main

    outs = {}
    for array in ("numpy", "torch"):
        assert main(["align", "--rule", "dfa", "--array", array, "--json"]) == 0
        outs[array] = json.loads(capsys.readouterr().out)
    assert abs(outs["numpy"]["global"]["cosine"] - outs["torch"]["global"]["cosine"]) <= 1e-10


# --------------------------------------------------------------------------- devices
def test_cuda_absent_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0", "cuda:1"):
        with pytest.raises(ConfigError) as err:
            backend("torch", device)
        msg = str(err.value)
        assert device in msg and "not available" in msg and "\n" not in msg


def test_cuda_index_beyond_the_gpus_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert backend("torch", "cuda:1").device == "cuda:1"  # no tensor is made: only the check runs
    with pytest.raises(ConfigError) as err:
        backend("torch", "cuda:2")
    assert "2 CUDA GPU(s), cuda:0..cuda:1" in str(err.value) and "\n" not in str(err.value)


def test_mps_absent_and_its_float64_are_one_line(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        backend("torch", "mps")
    assert "mps" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    with pytest.raises(ConfigError) as err:
        backend("torch", "mps").check_dtype("float64")
    assert "float32" in str(err.value)


def test_cli_cuda_without_a_gpu_exits_2_in_one_line(capsys, monkeypatch):
    from neurosim.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--rule", "fa", "--epochs", "1", "--array", "torch", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cuda" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_update_on_cuda_float64_equals_numpy(name):
    gpu = backend("torch", "cuda")
    rule = RULES[name]()
    net = rule.network(SIZES)
    params = rule.init_params(net, 0, "float64")
    x, t = _batch()
    dw_np = rule.updates(net, params, rule.init(net, params, 3), x, t)[0]
    params_g = gpu.put(params)
    dw_g = rule.updates(net, params_g, rule.init(net, params_g, 3), gpu.asarray(x), gpu.asarray(t))[0]
    for key in dw_np:
        assert dw_g[key].device.type == "cuda"
        assert relative_error(dw_np[key], to_numpy(dw_g[key])) <= FLOAT64_RTOL, key


def test_align_refuses_tensors_for_a_rule_not_on_the_namespace():
    from neurosim.alignment import align
    from neurosim.rules.backprop import Backprop
    from neurosim.rules.base import RuleInfo

    class NumpyOnly(Backprop):
        name = "numpy-only"
        info = RuleInfo(arrays=("numpy",))

    rule = NumpyOnly()
    net = rule.network(SIZES)
    params = rule.init_params(net, 0)
    x, t = _batch()
    assert align(rule, net, params, x, t).global_cosine == pytest.approx(1.0)  # numpy: fine
    with pytest.raises(ConfigError) as err:
        align(rule, net, CPU.put(params), CPU.asarray(x), CPU.asarray(t))
    assert "numpy-only" in str(err.value) and "\n" not in str(err.value)

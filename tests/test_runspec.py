"""RunSpec: one run specification for the CLI, compare, sweeps and experiments.

Oracles: the contract -- TOML round trips give equal specs and equal canonical ids; unknown
keys fail in one line with a did-you-mean in every table; the CLI and the sweep build the same
settings for a rule from its preset (the first edition's BCM momentum was 0 from the CLI and
0.9 in a sweep).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim import ConfigError, RunSpec
from neurosim.rules import RULES


def test_defaults_round_trip_and_id_is_stable():
    spec = RunSpec(rule="fa")
    back = RunSpec.from_toml(spec.to_toml())
    assert back == spec and back.id() == spec.id() and len(spec.id()) == 16
    assert spec.replace(seed=1).id() != spec.id()
    # the id does not depend on how a field was written
    assert spec.replace(hidden=[64, 64]).id() == spec.id()


def test_explicit_network_round_trips():
    from neurosim import Network

    net = Network.feedforward([4, 3, 2], activation="sigmoid", loss="cross_entropy", name="n")
    spec = RunSpec(rule="backprop", network=net, epochs=3, seeds=(0, 1, 2), published={"source": "x"})
    back = RunSpec.from_toml(spec.to_toml())
    assert back == spec and back.network.to_dict() == net.to_dict() and back.seeds == (0, 1, 2)


@pytest.mark.parametrize("text, fragment", [
    ('[rule]\nname = "fa"\n[training]\nlearning_rat = 0.1\n', "Did you mean 'learning_rate'"),
    ('[rule]\nname = "fa"\n[data]\ndatset = "digits"\n', "Did you mean 'dataset'"),
    ('[rule]\nname = "fa"\n[trainning]\nepochs = 1\n', "Did you mean 'training'"),
    ('[rule]\nname = "fa"\nfeedback_scal = 1\n', "Did you mean 'feedback_scale'"),
    ('[rule]\nname = "fa"\n[network]\nhiden = [3]\n', "Did you mean 'hidden'"),
    ('[rule]\nname = "fa"\n[training]\nlearning_rate = "abc"\n', "'learning_rate' must be a number > 0"),
    ('[rule]\nname = "fa"\n[training]\nlearning_rate = true\n', "'learning_rate' must be a number > 0"),
    ('[rule]\nname = "fa"\n[training]\nmomentum = 2\n', "'momentum' must be a number >= 0 and < 1"),
    ('[rule]\nname = "fa"\n[training]\nmomentum = -5\n', "'momentum'"),
    ('[rule]\nname = "fa"\n[training]\nepochs = -1\n', "'epochs' must be an integer >= 0"),
    ('[rule]\nname = "fa"\n[training]\nseeds = []\n', "at least one seed"),
    ('[rule]\nname = "fa"\n[network]\nhidden = 64\n', "'hidden' must be a list"),
    ('[rule]\nname = "fa"\n[data]\ndataset = ""\n', "'dataset' must name a data set"),
    ('[rule]\nname = "fa"\nnetwork = 5\n', "feedback"),
    ('network = 5\n[rule]\nname = "fa"\n', "'network' must be a table"),
    ('[network]\nsizes = [3, 2]\n', "'name' is required"),
    ('[rule]\nname = "nosuch"\n', "unknown rule 'nosuch'"),
])
def test_bad_cards_fail_in_one_line(text, fragment):
    with pytest.raises(ConfigError) as err:
        RunSpec.from_toml(text, source="card.toml")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_replace_validates_and_merges_hyper():
    spec = RunSpec(rule="fa", hyper={"feedback_scale": 2.0})
    assert spec.replace(hyper={"feedback_init": "normal"}).hyper == {"feedback_scale": 2.0, "feedback_init": "normal"}
    assert spec.replace(rule="backprop").hyper == {}
    with pytest.raises(ConfigError, match="Did you mean 'learning_rate'"):
        spec.replace(learning_rat=1.0)
    with pytest.raises(ConfigError, match="'clip_norm' must be a number > 0"):
        spec.replace(clip_norm=0)


@pytest.mark.parametrize("name", sorted(RULES))
def test_cli_and_sweep_use_the_same_preset(name):
    """What `neurosim train --rule NAME` and a sweep job {"rule": NAME} train with agree on every
    setting the rule's preset makes (optimiser, rate, momentum, batch size, hyper-parameters)."""
    from neurosim.cli import _spec, build_parser
    from neurosim.sweep import job_spec

    args = build_parser().parse_args(["train", "--rule", name])
    cli = _spec(args, "train")
    sweep = job_spec({"rule": name, "batch_size": cli.batch_size, "epochs": cli.epochs})
    for key in ("optimizer", "learning_rate", "momentum", "batch_size", "hyper", "clip_norm", "weight_decay"):
        assert getattr(cli, key) == getattr(sweep, key), key


def test_sweep_job_id_is_the_spec_id_and_rejects_unknown_keys():
    from neurosim.sweep import job_id, job_spec

    assert job_id({"rule": "fa"}) == job_id({"rule": "fa", "seed": 0}) == job_spec({"rule": "fa"}).id()
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        job_id({"rule": "fa", "epoch": 3})
    with pytest.raises(ConfigError, match="'clip_norm'"):
        job_spec({"rule": "fa", "clip_norm": -1})
    assert job_spec({"rule": "fa", "clip_norm": 2.0}).clip_norm == 2.0  # the sweep takes clip_norm now


def test_weight_decay_is_descent_on_the_decayed_loss():
    """One full-batch SGD step without momentum with weight decay lambda equals
    W + lr * (-dL/dW - lambda W) (biases undecayed): closed form from the reference gradient."""
    from neurosim import backprop, get_rule
    from neurosim.data import Dataset
    from neurosim.training import TrainConfig, train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype(np.float32).astype(np.float64)  # Dataset stores float32
    y = rng.integers(0, 3, 10)
    data = Dataset("wd", x, y, x, y, 3, None, "test")
    rule = get_rule("backprop")
    net = rule.network([4, 5, 3])
    p0 = rule.init_params(net, 0)
    lam, lr = 0.1, 0.5
    res = train(net, rule, data, TrainConfig(epochs=1, batch_size=10, optimizer="sgd", momentum=0.0,
                                              learning_rate=lr, weight_decay=lam, dtype="float64",
                                              align_samples=0), params=p0, progress=False)
    g = backprop(net, p0, x, data.targets("train")).descent()
    for k in p0:
        expected = p0[k] + lr * (g[k] - (0 if k.endswith(".bias") else lam) * p0[k])
        np.testing.assert_allclose(res.params[k], expected, rtol=1e-12, atol=1e-14)


def test_cosine_schedule_rates():
    """Epoch e of E uses lr/2 (1 + cos(pi (e-1)/E)): with SGD on a zero-gradient-free linear problem
    each epoch's single full-batch step is lr_e times the gradient -- check epoch 2 of 2 (lr/2)."""
    from neurosim import backprop, get_rule
    from neurosim.data import Dataset
    from neurosim.training import TrainConfig, train

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype(np.float32).astype(np.float64)  # Dataset stores float32
    y = rng.integers(0, 2, 6)
    data = Dataset("sched", x, y, x, y, 2, None, "test")
    rule = get_rule("backprop")
    net = rule.network([3, 2])
    p0 = rule.init_params(net, 0)
    cfg = dict(batch_size=6, optimizer="sgd", momentum=0.0, learning_rate=0.2, dtype="float64", align_samples=0,
               schedule="cosine")
    one = train(net, rule, data, TrainConfig(epochs=1, **cfg), params=p0, progress=False).params
    two = train(net, rule, data, TrainConfig(epochs=2, **cfg), params=p0, progress=False).params
    g1 = backprop(net, p0, x, data.targets("train")).descent()
    for k in p0:
        np.testing.assert_allclose(one[k], p0[k] + 0.2 * g1[k], rtol=1e-12)
    # epoch 1 of 2 also uses the full rate (cos 0 = 1); epoch 2 uses 0.1
    mid = {k: p0[k] + 0.2 * g1[k] for k in p0}
    g2 = backprop(net, mid, x, data.targets("train")).descent()
    for k in p0:
        np.testing.assert_allclose(two[k], mid[k] + 0.1 * g2[k], rtol=1e-12)


def test_train_json_identical_with_and_without_alignment(capsys):
    """Done-when of issue 15 on the CLI (rule fa here; the EP case is in the EP tests)."""
    from neurosim.cli import main

    outs = []
    for extra in ([], ["--align-samples", "0"]):
        assert main(["train", "--rule", "fa", "--epochs", "2", "--json", *extra]) == 0
        d = json.loads(capsys.readouterr().out)
        outs.append([{k: v for k, v in e.items() if k not in ("alignment", "seconds", "train_seconds")}
                     for e in d["history"]])
    assert outs[0] == outs[1]

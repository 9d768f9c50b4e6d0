"""Equilibrium propagation on a convolutional Hopfield net with pooling (Laborieux et al. 2021).

Oracles, independent of the code under test: finite differences of the primitive function
:math:`\\Phi` and of the drives (the kernel's top-down maps and Hessian-vector products), finite
differences of the loss at the free fixed point (the implicit gradient), and the EP theorem's
limit: as beta -> 0 the one-sided estimate approaches the implicit gradient as O(beta) and the
symmetric one as O(beta^2) (Laborieux et al. 2021, Sec. 2.3).

The nets are small (10x10 input, two conv + pool stages, 52 energy units) so every oracle is
exact to ~1e-9; sigmoid units keep :math:`\\Phi`'s pieces smooth (hard-sigmoid kinks would end
the O(beta^2) regime at the first unit that crosses one; the pooling's argmax is piecewise
constant, so nothing else limits the expansion).
"""
from __future__ import annotations

import numpy as np
import pytest

from neurosim import energy as E
from neurosim.errors import ConfigError
from neurosim.network import Layer, Network, Projection
from neurosim.params import init_params
from neurosim.rules import get_rule
from neurosim.rules.equilibrium import contrastive_update

VARIANTS = [("max_pool2d", "conv2d"), ("avg_pool2d", "locally_connected2d")]


def conv_hopfield(pool="max_pool2d", op="conv2d", act="sigmoid", order="laborieux"):
    """1x10x10 -> conv 3@3x3 -> pool 2 -> (3,4,4) -> op 4@3x3 -> pool 2 -> (4,1,1) -> softmax read-out 3.

    ``laborieux``: the conv layers are linear and bias-free (folded into the couplings), the
    pooled layers are the energy layers, :math:`s_{n+1} = \\rho(P(W_{n+1} * s_n) + \\dots)`;
    ``lenet``: the activation sits on the conv layers and pooling reads their rates (pooled
    layers folded); built with the ties alone, since the rule's ``network`` would reorder it
    (:func:`neurosim.rules.equilibrium.pool_before_activation`).
    """
    lab = order == "laborieux"
    layers = [Layer("input", shape=(1, 10, 10), role="input", bias=False, activation="linear"),
              Layer("c1", shape=(3, 8, 8), activation="linear" if lab else act, bias=not lab),
              Layer("p1", shape=(3, 4, 4), activation=act if lab else "linear", bias=lab),
              Layer("c2", shape=(4, 2, 2), activation="linear" if lab else act, bias=not lab),
              Layer("p2", shape=(4, 1, 1), activation=act if lab else "linear", bias=lab),
              Layer("output", 3, role="output", activation="linear")]
    projs = [Projection("input", "c1", name="k1", operation="conv2d", kernel=3),
             Projection("c1", "p1", operation=pool, kernel=2, stride=2),
             Projection("p1", "c2", name="k2", operation=op, kernel=3),
             Projection("c2", "p2", operation=pool, kernel=2, stride=2),
             Projection("p2", "output", name="readout")]
    net = Network(layers, projs, loss="cross_entropy", name=f"hopfield-{pool}-{op}")
    return get_rule("ep").network(net) if lab else net.add(*E.missing_ties(net))


def problem(net, seed=0, batch=4, scale=2.0):
    """Parameters (init x ``scale``: drives of order one), inputs in [0, 1], one-hot targets."""
    params = {k: scale * v for k, v in init_params(net, seed).items()}
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(batch, net.input_layer.size))
    t = np.eye(net.output_layer.size)[rng.integers(0, net.output_layer.size, batch)]
    return params, x, t


def phi(K, x, s):
    """:math:`\\Phi(s) = \\sum_l s_l\\cdot f_l(s_{l-1}) + b_l\\cdot s_l` per sample, from the forward maps only."""
    total = 0.0
    for l in range(len(s)):
        total = total + np.sum(s[l] * K.up(l, x if l == 0 else s[l - 1]), axis=1)
        if K.b[l] is not None:
            total = total + s[l] @ K.b[l]
    return total


def random_state(K, batch, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.05, 0.95, size=(batch, layer.size)) for layer in K.structure.layers]


# ------------------------------------------------------------------------------ structure
def test_energy_layers_paths_and_ties():
    net = conv_hopfield()
    le = E.layered_energy(net)
    assert [layer.name for layer in le.layers] == ["p1", "p2"]
    assert [[p.name for p in path] for path in le.paths] == [["k1", "c1->p1"], ["k2", "c2->p2"]]
    tie = net.projection("c2->p1:ep")  # the symmetric weights, described as the adjoint of k2
    assert (tie.operation, tie.tied_to, tie.kind) == ("conv_transpose2d", "k2", "feedback")
    assert get_rule("ep").network(net) == net  # idempotent
    lenet = E.layered_energy(conv_hopfield(order="lenet"))
    # the read-out reads p2, so it is the top energy layer, coupled to c2 by the pooling alone
    assert [layer.name for layer in lenet.layers] == ["c1", "c2", "p2"]
    assert [[p.name for p in path] for path in lenet.paths] == [["k1"], ["c1->p1", "k2"], ["c2->p2"]]
    assert lenet.couplings[-1] is None
    # the rule itself reorders LeNet's order into Laborieux's (max pooling before the activation)
    reordered = get_rule("ep").network(conv_hopfield(order="lenet").replace(
        projections=conv_hopfield(order="lenet").select("feedforward")))
    assert [layer.name for layer in E.layered_energy(reordered).layers] == ["p1", "p2"]


def test_two_weighted_projections_in_one_coupling_are_refused_in_one_line():
    """c1 and p are linear, bias-free and beside the pooling, so both fold: the coupling
    input -> c2 would hold k1 and k2 (weights multiplied: no longer a Hopfield coupling)."""
    layers = [Layer("input", shape=(1, 6, 6), role="input", bias=False, activation="linear"),
              Layer("c1", shape=(2, 4, 4), activation="linear", bias=False),
              Layer("p", shape=(2, 2, 2), activation="linear", bias=False),
              Layer("c2", shape=(2, 1, 1), activation="sigmoid"), Layer("output", 2, role="output")]
    projs = [Projection("input", "c1", name="k1", operation="conv2d", kernel=3),
             Projection("c1", "p", operation="max_pool2d", kernel=2, stride=2),
             Projection("p", "c2", name="k2", operation="conv2d", kernel=2), Projection("c2", "output")]
    with pytest.raises(ConfigError, match=r"layer 'c1' is folded .*\('k1', 'k2'\); give 'c1' an activation") as err:
        get_rule("ep").network(Network(layers, projs, loss="cross_entropy"))
    assert "\n" not in str(err.value)


def test_contrastive_update_on_a_conv_net_needs_params():
    net = conv_hopfield()
    params, x, t = problem(net)
    K = E.EnergyKernel.gather(net, params)
    s = K.as_dict(random_state(K, len(x)))
    with pytest.raises(ConfigError, match="pass params="):
        contrastive_update(net, x, s, s, 1.0)
    assert all(np.all(v == 0) for v in contrastive_update(net, x, s, s, 1.0, params=params).values())


# ------------------------------------------------------------------------------ the maths
@pytest.mark.parametrize("order", ["laborieux", "lenet"])
@pytest.mark.parametrize("pool,op", VARIANTS)
def test_drives_are_the_gradient_of_phi(pool, op, order):
    """a_l = dPhi/ds_l (central differences of Phi, eps 1e-6: error ~1e-9 on drives of order one)."""
    net = conv_hopfield(pool, op, order=order)
    params, x, _ = problem(net)
    K = E.EnergyKernel.gather(net, params)
    s = random_state(K, len(x))
    a = K.drives(x, s)
    for l in range(len(s)):
        fd = np.empty_like(s[l])
        for j in range(s[l].shape[1]):
            plus, minus = [v.copy() for v in s], [v.copy() for v in s]
            plus[l][:, j] += 1e-6
            minus[l][:, j] -= 1e-6
            fd[:, j] = (phi(K, x, plus) - phi(K, x, minus)) / 2e-6
        np.testing.assert_allclose(a[l], fd, atol=1e-7)


@pytest.mark.parametrize("pool,op", VARIANTS)
def test_coupling_product_is_the_symmetric_jacobian_of_the_drives(pool, op):
    """J v = (a(s + eps v) - a(s - eps v)) / 2 eps (the pooling's argmax does not move at eps 1e-7),
    and <J v, w> = <v, J w>."""
    net = conv_hopfield(pool, op)
    params, x, _ = problem(net)
    K = E.EnergyKernel.gather(net, params)
    s = random_state(K, len(x))
    rng = np.random.default_rng(3)
    v = [rng.normal(size=a.shape) for a in s]
    w = [rng.normal(size=a.shape) for a in s]
    Jv = K.coupling_product(s, v)
    eps = 1e-7
    up = K.drives(x, [a + eps * d for a, d in zip(s, v)])
    down = K.drives(x, [a - eps * d for a, d in zip(s, v)])
    for l in range(len(s)):
        np.testing.assert_allclose(Jv[l], (up[l] - down[l]) / (2 * eps), atol=1e-6)
    Jw = K.coupling_product(s, w)
    lhs = sum(np.sum(a * b) for a, b in zip(Jv, w))
    rhs = sum(np.sum(a * b) for a, b in zip(v, Jw))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


@pytest.mark.parametrize("pool,op", VARIANTS)
def test_free_fixed_point_is_a_stationary_point_of_the_energy(pool, op):
    """The relaxation stops at the tolerance, and there dE/ds = 0 by central differences of
    neurosim.energy.energy (which uses only the forward maps and G = int rho^-1)."""
    net = conv_hopfield(pool, op)
    params, x, _ = problem(net)
    free = E.relax(net, params, x, tolerance=1e-12, max_steps=5000)
    assert free.converged and free.residual <= 1e-12
    names = [layer.name for layer in E.layered_energy(net).layers]
    worst = 0.0
    for name in names:
        for j in range(0, free.state[name].shape[1], 5):
            plus = {k: v.copy() for k, v in free.state.items()}
            minus = {k: v.copy() for k, v in free.state.items()}
            plus[name][:, j] += 1e-6
            minus[name][:, j] -= 1e-6
            grad = (E.energy(net, params, x, plus) - E.energy(net, params, x, minus)) / 2e-6
            worst = max(worst, float(np.max(np.abs(grad))))
    assert worst < 1e-6


@pytest.mark.parametrize("pool,op", VARIANTS)
def test_implicit_gradient_matches_finite_differences_of_the_fixed_point_loss(pool, op):
    """dL/dtheta of L = C(s*(theta)) by implicit differentiation (direct and iterative solves) equals
    central differences of the loss at the re-relaxed fixed point (6 entries per parameter)."""
    net = conv_hopfield(pool, op)
    params, x, t = problem(net)
    direct = E.implicit_gradient(net, params, x, t, method="direct")
    iterative = E.implicit_gradient(net, params, x, t, method="iterative")
    rng = np.random.default_rng(4)
    checked = 0.0
    for key, g in direct.grads.items():
        np.testing.assert_allclose(iterative.grads[key], g, atol=1e-8)
        flat = params[key].reshape(-1)
        for i in rng.choice(flat.size, min(6, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            lp = E.fixed_point_loss(net, params, x, t, tolerance=1e-13, max_steps=20000)
            flat[i] = old - 1e-6
            lm = E.fixed_point_loss(net, params, x, t, tolerance=1e-13, max_steps=20000)
            flat[i] = old
            assert abs((lp - lm) / 2e-6 - g.reshape(-1)[i]) < 1e-7, (key, i)
            checked = max(checked, abs(g.reshape(-1)[i]))
    assert checked > 1e-2  # not a check of zeros


@pytest.mark.parametrize("pool,op", VARIANTS)
def test_ep_estimate_converges_to_the_implicit_gradient(pool, op):
    """The EP theorem on a conv + pool net: halving beta halves the one-sided error (O(beta)) and
    quarters the symmetric one (O(beta^2)); measured against the implicit gradient (itself checked
    by finite differences above).  Both phases relax to 1e-13."""
    net = conv_hopfield(pool, op)
    params, x, t = problem(net)
    exact = E.implicit_gradient(net, params, x, t, method="direct").descent()
    norm = np.sqrt(sum(np.sum(v ** 2) for v in exact.values()))
    assert norm > 1e-2
    errors = {}
    for nudging in ("one-sided", "symmetric"):
        for beta in (0.04, 0.02, 0.01):
            rule = get_rule("ep", beta=beta, nudging=nudging, tolerance=1e-13, max_steps=10000,
                            nudged_max_steps=10000, on_unconverged="raise")
            dw, _, _ = rule.updates(net, params, rule.init(net, params, 0), x, t)
            assert set(dw) == set(exact)
            errors[nudging, beta] = np.sqrt(sum(np.sum((dw[k] - exact[k]) ** 2) for k in dw)) / norm
    for b in (0.04, 0.02):
        assert 1.6 < errors["one-sided", b] / errors["one-sided", b / 2] < 2.4, errors
        assert 3.2 < errors["symmetric", b] / errors["symmetric", b / 2] < 4.8, errors
    assert errors["symmetric", 0.01] < 2e-4 and errors["one-sided", 0.01] < 1e-2


def test_bptt_through_a_converged_conv_free_phase_equals_the_implicit_gradient():
    """Ernoult et al. (2019): BPTT through T steps of the free dynamics tends to the implicit
    gradient once the trajectory sits at the fixed point (T = 200, converged in ~15)."""
    net = conv_hopfield()
    params, x, t = problem(net)
    exact = E.implicit_gradient(net, params, x, t, method="direct").grads
    through_time = E.bptt(net, params, x, t, 200).grads
    for k, g in exact.items():
        np.testing.assert_allclose(through_time[k], g, atol=1e-9)


def test_align_scores_ep_on_a_conv_net_against_the_implicit_oracle():
    from neurosim.alignment import align

    net = conv_hopfield()
    params, x, t = problem(net)
    rule = get_rule("ep", beta=0.01, tolerance=1e-12, max_steps=5000, nudged_max_steps=5000)
    report = align(rule, net, params, x, t)
    assert report.global_cosine > 0.9999
    assert {"k1", "k2", "readout"} <= {p.name for p in report.projections}


# ------------------------------------------------------------------------------ LeNet's order
def lenet(act="tanh", pool="max_pool2d", side=16):
    """A small LeNet in its own order: 1 x side x side -> conv 3@5x5 (act, bias) -> pool 2 (linear,
    no bias) -> conv 4@3x3 (act, bias) -> pool 2 -> dense 6 (act) -> softmax read-out 3."""
    c1, p1 = side - 4, (side - 4) // 2
    c2 = p1 - 2
    p2 = c2 // 2
    layers = [Layer("input", shape=(1, side, side), role="input", bias=False, activation="linear"),
              Layer("conv1", shape=(3, c1, c1), activation=act),
              Layer("pool1", shape=(3, p1, p1), activation="linear", bias=False),
              Layer("conv2", shape=(4, c2, c2), activation=act),
              Layer("pool2", shape=(4, p2, p2), activation="linear", bias=False),
              Layer("fc", 6, activation=act),
              Layer("output", 3, role="output", activation="linear")]
    projs = [Projection("input", "conv1", name="k1", operation="conv2d", kernel=5),
             Projection("conv1", "pool1", operation=pool, kernel=2, stride=2),
             Projection("pool1", "conv2", name="k2", operation="conv2d", kernel=3),
             Projection("conv2", "pool2", operation=pool, kernel=2, stride=2),
             Projection("pool2", "fc", name="fc"), Projection("fc", "output", name="readout")]
    return Network(layers, projs, loss="cross_entropy", name=f"lenet-{act}-{pool}")


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "hard_sigmoid", "relu"])
def test_pool_before_activation_keeps_the_feed_forward_map(act):
    """max_i sigma(u_i + c) = sigma(max_i u_i + c) for a non-decreasing sigma: with the conv biases
    equal across positions within a channel (c per channel) and the pooled layer's bias that
    constant, the reordered net computes the same outputs (neurosim.reference.forward, which
    knows nothing of EP) -- to rounding."""
    from neurosim.reference import forward
    from neurosim.rules.equilibrium import pool_before_activation

    net = lenet(act)
    new = pool_before_activation(net)
    assert [(la.name, la.activation, la.bias) for la in new.layers[1:5]] == [
        ("conv1", "linear", False), ("pool1", act, True), ("conv2", "linear", False), ("pool2", act, True)]
    assert new.projections == net.projections
    rng = np.random.default_rng(0)
    params = {k: 2.0 * v for k, v in init_params(net, 0).items()}
    moved = {k: v for k, v in params.items() if k not in ("conv1.bias", "conv2.bias")}
    for conv, pool in (("conv1", "pool1"), ("conv2", "pool2")):
        c, h, w = net.layer(conv).shape
        per_channel = rng.normal(size=c)
        params[f"{conv}.bias"] = np.repeat(per_channel, h * w)
        moved[f"{pool}.bias"] = np.repeat(per_channel, net.layer(pool).size // c)
    assert set(moved) == set(init_params(new, 0))
    x = rng.uniform(0, 1, size=(5, net.input_layer.size))
    before, after = forward(net, params, x), forward(new, moved, x)
    assert np.abs(before.r["output"]).max() > 0.1  # not a comparison of zeros
    np.testing.assert_allclose(after.r["output"], before.r["output"], rtol=1e-12, atol=1e-12)
    for name in ("pool1", "pool2", "fc"):
        np.testing.assert_allclose(after.r[name], before.r[name], rtol=1e-12, atol=1e-12)


def test_pool_before_activation_is_what_ep_builds_and_is_idempotent():
    net = get_rule("ep").network(lenet("sigmoid"))
    assert [layer.name for layer in E.layered_energy(net).layers] == ["pool1", "pool2", "fc"]
    assert get_rule("ep").network(net) == net
    from neurosim.rules.equilibrium import pool_before_activation

    assert pool_before_activation(net) is net


def test_pool_before_activation_leaves_what_it_cannot_reorder(monkeypatch):
    """avg(sigma(u)) != sigma(avg(u)): average pooling stays (that order is well posed as it is); a
    non-monotone activation does not commute with the maximum; a layer read by another projection
    (here a skip to the dense layer) cannot become linear."""
    from neurosim.neurons import ACTIVATIONS, Activation
    from neurosim.rules.equilibrium import pool_before_activation

    avg = lenet(pool="avg_pool2d")
    assert pool_before_activation(avg) is avg
    monkeypatch.setitem(ACTIVATIONS, "wave", Activation("wave", np.sin, np.cos, (-1.0, 1.0), monotone=False))
    wave = lenet("wave")
    assert pool_before_activation(wave) is wave
    net = lenet()
    skip = net.add(Projection("conv2", "fc", name="skip"))
    out = pool_before_activation(skip)
    assert (out.layer("conv1").activation, out.layer("conv2").activation) == ("linear", "tanh")


def test_reordered_lenet_relaxes_where_lenets_order_does_not():
    """The BioTorch LeNet card's architecture (1x28x28, 6@5x5, 16@5x5, 120, 84) with non-negative
    rates (sigmoid) on [0, 1] inputs: in LeNet's order Phi holds (W^T s_above) . P(s_conv), whose
    minima lie on pooling ties where W^T s_above has mixed signs, and the free phase keeps a
    residual above 1e-2 after 200 steps; reordered (Laborieux et al. 2021) it settles below the
    tolerance 1e-6 within 200 steps."""
    from dataclasses import replace

    from neurosim.runspec import RunSpec

    card = RunSpec.load("models/biotorch_lenet_fashion.toml").network
    card = card.replace(layers=tuple(replace(la, activation="sigmoid") if la.activation == "tanh" else la
                                     for la in card.layers))
    x = np.random.default_rng(0).uniform(0, 1, size=(8, card.input_layer.size))
    kept = card.add(*E.missing_ties(card))  # LeNet's order, as EP would see it without the reorder
    reordered = get_rule("ep").network(card)
    assert [layer.name for layer in E.layered_energy(kept).layers] == ["conv1", "conv2", "fc1", "fc2"]
    assert [layer.name for layer in E.layered_energy(reordered).layers] == ["pool1", "pool2", "fc1", "fc2"]
    old = E.relax(kept, init_params(kept, 0), x, tolerance=1e-6, max_steps=200, on_unconverged="record")
    new = E.relax(reordered, init_params(reordered, 0), x, tolerance=1e-6, max_steps=200,
                  on_unconverged="record")
    assert not old.converged and old.residual > 1e-2
    assert new.converged and new.residual <= 1e-6


def test_ep_lenet_card_is_the_reordered_biotorch_lenet_and_ep_follows_its_gradient():
    """models/ep_lenet_fashion.toml: the BioTorch LeNet (same layers and kernels) with hard-sigmoid
    units and Xavier x 0.5; EP reorders it (energy layers pool1, pool2, fc1, fc2); the card's free
    phase settles within its cap, and on this net the EP theorem holds: at a small beta (1e-3,
    symmetric, phases relaxed to 1e-10) the update points along the exact implicit gradient of the
    fixed-point loss (cosine > 0.999; the card trains at beta = 0.5, where hard-sigmoid kinks
    bend the estimate: docs/rules/equilibrium.md)."""
    from neurosim.alignment import align
    from neurosim.runspec import RunSpec

    card, lenet_card = RunSpec.load("models/ep_lenet_fashion.toml"), RunSpec.load("models/biotorch_lenet_fashion.toml")
    assert [(la.name, la.shape, la.size) for la in card.network.layers] == [
        (la.name, la.shape, la.size) for la in lenet_card.network.layers]
    assert [(p.pre, p.post, p.operation, p.kernel) for p in card.network.projections] == [
        (p.pre, p.post, p.operation, p.kernel) for p in lenet_card.network.projections]
    rule = card.make_rule()
    net = rule.network(card.network)
    assert [layer.name for layer in E.layered_energy(net).layers] == ["pool1", "pool2", "fc1", "fc2"]
    params = init_params(net, 0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, net.input_layer.size))
    t = np.eye(10)[rng.integers(0, 10, 4)]
    dw, _, aux = rule.updates(net, params, rule.init(net, params, 0), x, t)
    assert aux["free"]["converged"]
    small = get_rule("ep", beta=1e-3, tolerance=1e-10, max_steps=2000, nudged_max_steps=2000, on_unconverged="raise")
    assert align(small, net, params, x, t).global_cosine > 0.999


@pytest.mark.parametrize("act", ["tanh", "linear"])
def test_a_max_pooling_into_signed_rates_is_refused_in_one_line(act):
    """Signed rates right after a max pooling make the energy concave in the pooled drive, with
    minima on ties (the measured residual stays at 1.4 on LeNet's tanh card): refused, naming the
    layer and the fix; non-negative units and average pooling are accepted."""
    with pytest.raises(ConfigError, match=r"max pooling .* drives layer 'pool1' .*non-negative activation") as err:
        get_rule("ep").network(lenet(act))
    assert "\n" not in str(err.value)
    for ok in ("sigmoid", "hard_sigmoid", "relu"):
        get_rule("ep").network(lenet(ok))
    get_rule("ep").network(lenet(pool="avg_pool2d"))

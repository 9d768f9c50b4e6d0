"""Convolutional, locally connected, pooling and flatten projections (issue 17).

Oracles: central finite differences of the forward pass (float64), PyTorch autograd through
``torch.nn.functional`` (an independent implementation, when torch is importable), the
adjoint identity :math:`\\langle f(x; K), y\\rangle = \\langle x, f^\\top(y; K)\\rangle` of the
linear operations, and closed forms (a 1x1 convolution is a dense map per pixel; FA with the
feedback kernel tied to the forward kernel is backprop).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from neurosim import conv
from neurosim.errors import ConfigError, ShapeError
from neurosim.network import Layer, Network, Projection
from neurosim.params import check_params, init_params
from neurosim.reference import backprop, forward, gradcheck


def small_net(first="conv2d", pool="max_pool2d", loss="mse", activation="tanh", second="locally_connected2d"):
    """2x9x9 input -> conv/LC 3x3 stride 2 -> pool 2 -> LC (2,1) -> flatten -> dense."""
    layers = (Layer("input", shape=(2, 9, 9), role="input", bias=False, activation="linear"),
              Layer("c1", shape=(3, 4, 4), activation=activation),
              Layer("p1", shape=(3, 2, 2), activation="linear", bias=False),
              Layer("c2", shape=(2, 2, 2), activation=activation),
              Layer("f", size=8, activation="linear"),
              Layer("output", 3, role="output", activation="linear" if loss == "cross_entropy" else "tanh"))
    projections = (Projection("input", "c1", name="k1", operation=first, kernel=3, stride=2),
                   Projection("c1", "p1", operation=pool, kernel=2),
                   Projection("p1", "c2", name="k2", operation=second, kernel=(2, 1),
                              stride=(2, 1), padding=(1, 0)),
                   Projection("c2", "f", operation="flatten"),
                   Projection("f", "output"))
    return Network(layers, projections, loss=loss, name=f"{first}-{pool}")


def batch(network, n=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, network.input_layer.size))
    n_out = network.output_layer.size
    t = (np.eye(n_out)[rng.integers(0, n_out, n)] if network.loss == "cross_entropy"
         else rng.normal(size=(n, n_out)))
    return x, t


# ---------------------------------------------------------------------------- description
def test_shape_error_names_projection_and_shapes():
    layers = (Layer("input", shape=(1, 28, 28), role="input", bias=False), Layer("h1", shape=(6, 20, 20)),
              Layer("output", 2, role="output"))
    with pytest.raises(ConfigError) as err:
        Network(layers, (Projection("input", "h1", name="c1", operation="conv2d", kernel=5),
                         Projection("h1", "output")))
    assert str(err.value) == ("Projection 'c1': conv2d 5x5 stride 1 padding 0 maps (1, 28, 28) to (6, 24, 24), "
                              "but layer 'h1' has shape (6, 20, 20)")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("make, needle", [
    (lambda: Layer("a", 10, shape=(2, 2, 2)), "size 10 does not match shape"),
    (lambda: Layer("a"), "give its size"),
    (lambda: Layer("a", shape=(2, 2)), "expected [channels, height, width]"),
    (lambda: Projection("a", "b", operation="conv2d"), "needs a kernel"),
    (lambda: Projection("a", "b", kernel=3), "operation 'dense' has no geometry"),
    (lambda: Projection("a", "b", operation="conv2d", kernel=3, stride=0), "stride"),
    (lambda: Projection("a", "b", operation="convolution", kernel=3), "operation"),
    (lambda: Projection("a", "b", operation="max_pool2d", kernel=2, padding=2), "at most half the kernel"),
    (lambda: Projection("a", "b", operation="conv2d", kernel=3, init="identity"), "identity"),
    (lambda: Projection("a", "b", operation="max_pool2d", kernel=2, tied_to="c"), "no weights to tie"),
])
def test_bad_descriptions_fail_in_one_line(make, needle):
    with pytest.raises(ConfigError) as err:
        make()
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_dense_input_to_conv_and_flatten_size_are_refused():
    flat = Layer("input", 16, role="input", bias=False)
    with pytest.raises(ConfigError, match="needs layers with shape"):
        Network((flat, Layer("output", shape=(1, 2, 2), role="output")),
                (Projection("input", "output", operation="conv2d", kernel=3),))
    img = Layer("input", shape=(1, 4, 4), role="input", bias=False)
    with pytest.raises(ConfigError, match="maps \\(1, 4, 4\\) to \\(16,\\)"):
        Network((img, Layer("output", 15, role="output")), (Projection("input", "output", operation="flatten"),))
    with pytest.raises(ConfigError, match="kernel does not fit"):
        Network((img, Layer("output", shape=(1, 1, 1), role="output")),
                (Projection("input", "output", operation="conv2d", kernel=5),))


@pytest.mark.parametrize("first", ["conv2d", "locally_connected2d"])
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
def test_toml_round_trip(first, pool):
    net = small_net(first, pool)
    again = Network.from_toml(net.to_toml())
    assert again == net
    assert again.layer("c1").shape == (3, 4, 4) and again.projection("k1").kernel == (3, 3)
    assert again.projection("c1->p1").stride == (2, 2)  # pooling strides by its kernel by default


def test_dense_networks_write_no_new_keys():
    text = Network.feedforward([4, 3, 2]).to_toml()
    for key in ("shape", "operation", "kernel", "stride", "padding"):
        assert key not in text


def test_param_shapes():
    net = small_net("locally_connected2d")
    params = init_params(net, 0)
    assert params["k1"].shape == (3, 4, 4, 2, 3, 3)  # (c_out, h_out, w_out, c_in, kh, kw)
    assert params["k2"].shape == (2, 2, 2, 3, 2, 1)
    assert "c1->p1" not in params and "c2->f" not in params
    assert init_params(small_net("conv2d"), 0)["k1"].shape == (3, 2, 3, 3)
    params["k1"] = params["k1"][:1]
    with pytest.raises(ShapeError, match="k1"):
        check_params(net, params)


def test_xavier_bound_uses_kernel_fans():
    """Glorot's bound with fan_in = c_in kh kw and fan_out = c_out kh kw (as PyTorch counts them)."""
    net = small_net()
    w = init_params(net, 0)["k1"]
    bound = np.sqrt(6.0 / (2 * 9 + 3 * 9))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_image_shaped_inputs_are_read_flat():
    net = small_net()
    params = init_params(net, 0)
    x, _ = batch(net)
    a = forward(net, params, x).output
    b = forward(net, params, x.reshape(4, 2, 9, 9)).output
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- closed forms
def test_one_by_one_convolution_is_a_dense_map_per_pixel():
    rng = np.random.default_rng(1)
    net = Network((Layer("input", shape=(3, 2, 2), role="input", bias=False),
                   Layer("output", shape=(4, 2, 2), role="output", activation="linear", bias=False)),
                  (Projection("input", "output", name="k", operation="conv2d", kernel=1),))
    k = rng.normal(size=(4, 3, 1, 1))
    x = rng.normal(size=(5, 12))
    y = forward(net, {"k": k}, x).output.reshape(5, 4, 2, 2)
    want = np.einsum("oc,bchw->bohw", k[:, :, 0, 0], x.reshape(5, 3, 2, 2))
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-14)


def test_pooling_closed_forms():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    for op, want in (("max_pool2d", [[5, 7], [13, 15]]), ("avg_pool2d", [[2.5, 4.5], [10.5, 12.5]])):
        net = Network((Layer("input", shape=(1, 4, 4), role="input", bias=False),
                       Layer("output", shape=(1, 2, 2), role="output", activation="linear", bias=False)),
                      (Projection("input", "output", operation=op, kernel=2),))
        np.testing.assert_array_equal(forward(net, {}, x).output.reshape(2, 2), want)


@pytest.mark.parametrize("op, tshape, kshape", [("conv2d", (3, 4, 4), (3, 2, 3, 3)),
                                                ("locally_connected2d", (3, 4, 4), (3, 4, 4, 2, 3, 3))])
def test_adjoint_identity(op, tshape, kshape):
    """<f(x; K), y> = <x, f^T(y; K)>: the transpose operation is the adjoint, for odd grids
    (9 -> 4 with stride 2 leaves the last row unread) and padding."""
    rng = np.random.default_rng(2)
    a = Layer("a", shape=(2, 9, 9))
    b = Layer("b", shape=tshape)
    fwd = Projection("a", "b", operation=op, kernel=3, stride=2, padding=1)
    adj = Projection("b", "a", operation=conv.OPERATIONS[op].transpose, kernel=3, stride=2, padding=1,
                     kind="feedback")
    b = Layer("b", shape=conv.out_shape(fwd, a.dims, tshape))
    if op == "locally_connected2d":
        kshape = (3, *b.shape[1:], 2, 3, 3)
    net = Network((Layer("in", 1, role="input"), a, b), (fwd, adj))
    k = rng.normal(size=kshape)
    x, y = rng.normal(size=(3, a.size)), rng.normal(size=(3, b.size))
    lhs = np.sum(conv.drive(net, fwd, k, x) * y)
    rhs = np.sum(x * conv.drive(net, adj, k, y))
    assert lhs == pytest.approx(rhs, rel=1e-12)
    np.testing.assert_allclose(conv.drive(net, adj, k, y), conv.backward(net, fwd, k, y, x), rtol=1e-12)


# ---------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("first", ["conv2d", "locally_connected2d"])
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gradients_match_finite_differences(first, pool, loss):
    """float64 central differences, eps 1e-5: truncation O(eps^2) and rounding O(1e-16/eps)
    leave a relative error near 1e-9 on gradients of order one (measured <= 6e-10)."""
    net = small_net(first, pool, loss)
    rng = np.random.default_rng(3)
    params = init_params(net, rng)
    for key in params:
        if key.endswith(".bias"):
            params[key] = rng.normal(0, 0.5, params[key].shape)
    x, t = batch(net)
    res = gradcheck(net, params, x, t)
    assert res["max_relative_error"] < 1e-7
    assert all(r["gradient_norm"] > 0 for r in res["projections"])


def test_tied_adjoint_projection_gradient():
    """A feedforward conv_transpose2d tied to a conv2d (an autoencoder with tied kernels): the
    kernel's gradient sums both uses (finite differences)."""
    layers = (Layer("input", shape=(1, 6, 6), role="input", bias=False), Layer("h", shape=(2, 3, 3)),
              Layer("output", shape=(1, 6, 6), role="output", activation="linear"))
    net = Network(layers, (Projection("input", "h", name="enc", operation="conv2d", kernel=2, stride=2),
                           Projection("h", "output", name="dec", operation="conv_transpose2d", kernel=2,
                                      stride=2, tied_to="enc")))
    rng = np.random.default_rng(4)
    params = init_params(net, rng)
    x = rng.normal(size=(3, 36))
    assert gradcheck(net, params, x, x)["max_relative_error"] < 1e-7
    with pytest.raises(ConfigError, match="tie"):
        Network(layers, (Projection("input", "h", name="enc", operation="conv2d", kernel=2, stride=2),
                         Projection("h", "output", name="dec", operation="conv_transpose2d", kernel=3,
                                    stride=2, padding=1, tied_to="enc")))


# ---------------------------------------------------------------------------- torch autograd
def _torch_forward(torch, network, params, x):
    """The same network by torch.nn.functional (unfold + einsum for the untied layer)."""
    F = torch.nn.functional
    act = {"tanh": torch.tanh, "linear": lambda u: u, "sigmoid": torch.sigmoid, "relu": torch.relu}
    r = {network.input_layer.name: x}
    for layer in network.feedforward_order()[1:]:
        (proj,) = network.select("feedforward", post=layer.name)
        pre = network.layer(proj.pre)
        a = r[proj.pre].reshape(x.shape[0], *pre.dims)
        if proj.operation == "dense":
            u = r[proj.pre] @ params[proj.name].T
        elif proj.operation == "conv2d":
            u = F.conv2d(a, params[proj.name], stride=proj.stride, padding=proj.padding)
        elif proj.operation == "locally_connected2d":
            cols = F.unfold(a, proj.kernel, padding=proj.padding, stride=proj.stride)  # (b, c*kh*kw, L)
            w = params[proj.name]
            w = w.reshape(w.shape[0], w.shape[1] * w.shape[2], -1)  # (o, L, K)
            u = torch.einsum("bkl,olk->bol", cols, w)
        elif proj.operation == "max_pool2d":
            u = F.max_pool2d(a, proj.kernel, proj.stride, proj.padding)
        elif proj.operation == "avg_pool2d":
            u = F.avg_pool2d(a, proj.kernel, proj.stride, proj.padding)
        else:
            u = a
        u = u.reshape(x.shape[0], -1)
        if layer.bias:
            u = u + params[f"{layer.name}.bias"]
        r[layer.name] = act[layer.activation](u)
    return r[network.output_layer.name]


@pytest.mark.parametrize("first", ["conv2d", "locally_connected2d"])
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
def test_gradients_match_torch_autograd(first, pool):
    torch = pytest.importorskip("torch")
    net = small_net(first, pool, "cross_entropy")
    params = init_params(net, 5)
    x, t = batch(net, n=6, seed=5)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = _torch_forward(torch, net, tp, torch.tensor(x))
    loss = -(torch.tensor(t) * torch.log_softmax(out, dim=1)).sum() / x.shape[0]
    loss.backward()
    ours = backprop(net, params, x, t)
    assert ours.loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for k, v in ours.grads.items():
        np.testing.assert_allclose(v, tp[k].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    # the same code on tensors (the array namespace) gives the same gradients
    on_torch = backprop(net, {k: torch.tensor(v) for k, v in params.items()}, torch.tensor(x), torch.tensor(t))
    for k, v in ours.grads.items():
        np.testing.assert_allclose(on_torch.grads[k].numpy(), v, rtol=1e-10, atol=1e-13, err_msg=k)


def test_cli_gradcheck_suite_has_conv_lc_and_pooling_nets():
    from neurosim.cli import _gradcheck_suite

    nets = dict(_gradcheck_suite(0))
    ops = {p.operation for net in nets.values() for p in net.projections}
    assert {"conv2d", "locally_connected2d", "max_pool2d", "avg_pool2d", "flatten"} <= ops


# ---------------------------------------------------------------------------- rules
def _torch_op(torch, proj, pre_dims, a, w):
    F = torch.nn.functional
    if proj.operation == "dense":
        return a.reshape(a.shape[0], -1) @ w.T
    if proj.operation == "conv2d":
        return F.conv2d(a, w, stride=proj.stride, padding=proj.padding)
    cols = F.unfold(a, proj.kernel, padding=proj.padding, stride=proj.stride)
    return torch.einsum("bkl,olk->bol", cols, w.reshape(w.shape[0], w.shape[1] * w.shape[2], -1))


def _torch_rule_grads(torch, network, params, x, t, rule):
    """FA / DFA by autograd with the error pathway rerouted (an independent construction):
    FA: u = f(x.detach(); W) + f(x; B) - f(x; B).detach() -- the value of f(x; W), the input
    gradient through B (Lillicrap 2016); DFA: every layer's input detached, and the term
    sum(r_l * (B_l e)) added per hidden layer, whose gradient is (B_l e) * phi'(u_l) (Nokland 2016)."""
    F = torch.nn.functional
    tp = {k: torch.tensor(v, requires_grad=not k.endswith(":fa") and not k.endswith(":dfa"))
          for k, v in params.items()}
    r = {network.input_layer.name: torch.tensor(x)}
    hidden = []
    for layer in network.feedforward_order()[1:]:
        (proj,) = network.select("feedforward", post=layer.name)
        pre = network.layer(proj.pre)
        a = r[proj.pre].reshape(x.shape[0], *pre.dims)
        if proj.operation in ("max_pool2d", "avg_pool2d"):
            pool = F.max_pool2d if proj.operation == "max_pool2d" else F.avg_pool2d
            src = a.detach() if rule == "dfa" else a
            u = pool(src, proj.kernel, proj.stride, proj.padding)
        elif proj.operation == "flatten":
            u = a.detach() if rule == "dfa" else a
        else:
            u = _torch_op(torch, proj, pre.dims, a.detach(), tp[proj.name])
            fb = f"{proj.post}->{proj.pre}:fa"
            if rule == "fa" and fb in tp:
                b = tp[fb].T if proj.operation == "dense" else tp[fb]  # a dense B has the shape of W^T
                u = u + _torch_op(torch, proj, pre.dims, a, b) - _torch_op(torch, proj, pre.dims, a, b).detach()
        u = u.reshape(x.shape[0], -1)
        if layer.bias:
            u = u + tp[f"{layer.name}.bias"]
        r[layer.name] = torch.tanh(u) if layer.activation == "tanh" else u
        if layer.role != "output":
            hidden.append(layer.name)
    out = r[network.output_layer.name]
    tt = torch.tensor(t)
    loss = -(tt * torch.log_softmax(out, dim=1)).sum() / x.shape[0]
    if rule == "dfa":
        e = (torch.softmax(out, dim=1) - tt).detach() / x.shape[0]
        for name in hidden:
            key = f"{network.output_layer.name}->{name}:dfa"
            if key in tp:
                loss = loss + (r[name] * (e @ tp[key].T)).sum()
    loss.backward()
    return {k: v.grad.numpy() for k, v in tp.items() if v.grad is not None}


@pytest.mark.parametrize("rule_name", ["fa", "dfa"])
@pytest.mark.parametrize("second", ["conv2d", "locally_connected2d"])
def test_fa_dfa_on_conv_nets_match_rerouted_autograd(rule_name, second):
    torch = pytest.importorskip("torch")
    from neurosim.rules import get_rule

    rule = get_rule(rule_name)
    net = rule.network(small_net(second=second, loss="cross_entropy"))
    assert rule.network(net) == net  # idempotent
    params = rule.init_params(net, 7)
    x, t = batch(net, n=5, seed=7)
    dw = rule.step(net, params, x, t)
    want = _torch_rule_grads(torch, net, params, x, t, rule_name)
    assert set(dw) == set(want)
    for k, g in want.items():
        np.testing.assert_allclose(-dw[k], g, rtol=1e-9, atol=1e-12, err_msg=k)


def test_fa_feedback_kernels_have_the_forward_kernel_shape():
    from neurosim.rules import get_rule

    net = get_rule("fa").network(small_net(second="conv2d"))
    fb = net.projection("c2->p1:fa")
    assert (fb.operation, fb.kernel, fb.stride, fb.padding, fb.plastic) == (
        "conv_transpose2d", (2, 1), (2, 1), (1, 0), False)
    params = init_params(net, 0)
    assert params["c2->p1:fa"].shape == params["k2"].shape
    assert not any(p.post == "c1" for p in net.select("feedback"))  # pooling needs no feedback weights
    assert Network.from_toml(net.to_toml()) == net


@pytest.mark.parametrize("second", ["conv2d", "locally_connected2d"])
def test_fa_with_feedback_tied_to_the_forward_kernels_is_backprop(second):
    """B = K (the adjoint of the forward kernel): FA's error is backprop's (Lillicrap 2016)."""
    from neurosim.rules import get_rule

    base = small_net(second=second, loss="cross_entropy")
    adj = conv.OPERATIONS[second].transpose
    net = base.add(Projection("c2", "p1", name="c2->p1:fa", kind="feedback", operation=adj, kernel=(2, 1),
                              stride=(2, 1), padding=(1, 0), tied_to="k2"),
                   Projection("output", "f", name="output->f:fa", kind="feedback", tied_to="f->output"))
    rule = get_rule("fa")
    assert rule.network(net) == net
    params = init_params(net, 3)
    x, t = batch(net, seed=3)
    dw = rule.step(net, params, x, t)
    ref = backprop(net, params, x, t).descent()
    assert set(dw) == set(ref)
    for k in ref:
        np.testing.assert_allclose(dw[k], ref[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_alignment_per_projection_on_kernels():
    from neurosim import align

    net = small_net(loss="cross_entropy")
    x, t = batch(net, seed=1)
    rep = align("backprop", net, init_params(net, 1), x, t)
    cos = {r.name: r.cosine for r in rep.projections}
    assert cos["k1"] == pytest.approx(1.0, abs=1e-12) and cos["k2"] == pytest.approx(1.0, abs=1e-12)
    fa = get_fa = __import__("neurosim.rules", fromlist=["get_rule"]).get_rule("fa")
    fnet = fa.network(net)
    rep = align(get_fa, fnet, init_params(fnet, 1), x, t)
    assert {"k1", "k2", "f->output"} <= {r.name for r in rep.projections}


def test_every_rule_handles_a_conv_net_or_refuses_it_in_one_line():
    """Over the whole registry: either the rule's update on a small conv/LC/pool net has the
    parameters' shapes and is finite, or it is refused in one line naming the rule."""
    from neurosim.rules import RULES
    from neurosim.rules.base import check_rule_operations

    net = small_net(loss="cross_entropy")
    x, t = batch(net, seed=2)
    handled = []
    for name, cls in sorted(RULES.items()):
        if "rate" not in cls.info.backends:   # spiking-only rules (STDP) simulate brian2 circuits
            continue
        rule = cls()
        try:
            check_rule_operations(rule, net)
            full = rule.network(net)
        except ConfigError as err:
            msg = str(err)
            assert f"rule '{name}'" in msg and "\n" not in msg, msg
            # either the operation is not covered, or (EP) the tanh net is not well posed for it
            assert ("conv2d" in msg and "conv2d" not in rule.info.operations) or \
                (name == "ep" and "max pooling" in msg and "non-negative" in msg), msg
            continue
        params = rule.init_params(full, 0)
        try:
            dw, _, _ = rule.updates(full, params, rule.init(full, params, 0), x,
                                    t if rule.info.supervised else None)
        except ConfigError as err:  # runs conv2d, but not this net's units (burstprop: sigmoid event rates)
            msg = str(err)
            assert f"rule '{name}'" in msg and "\n" not in msg and "conv2d" in rule.info.operations, msg
            continue
        for k, v in dw.items():
            assert tuple(np.shape(v)) == tuple(np.shape(params[k])) and np.all(np.isfinite(v)), (name, k)
        handled.append(name)
    assert {"backprop", "fa", "dfa", "agrel", "brainprop"} <= set(handled)


def test_training_refuses_a_rule_that_cannot_run_conv():
    from neurosim.rules import RULES
    from neurosim.rules.base import check_rule_operations

    dense_only = [c() for c in RULES.values() if "conv2d" not in c.info.operations]
    if not dense_only:
        pytest.skip("every rule runs conv2d")
    with pytest.raises(ConfigError, match=f"rule '{dense_only[0].name}' cannot run projection 'k1'"):
        check_rule_operations(dense_only[0], small_net())


@pytest.mark.parametrize("geo", [((3, 3), (1, 1), (0, 0)), ((3, 2), (2, 1), (1, 0)), ((2, 2), (2, 2), (0, 0)),
                                 ((3, 3), (2, 2), (1, 1))])
def test_torch_kernels_equal_the_im2col_form(geo):
    """On tensors, conv2d and max pooling run PyTorch's own kernels; they must be the same maps
    as the library-neutral im2col form (run here on the same tensors), overlapping windows,
    strides and padding included."""
    torch = pytest.importorskip("torch")
    (kernel, stride, padding) = geo
    g = {"kernel": kernel, "stride": stride, "padding": padding, "channels": 4}
    pre = (3, 7, 6)
    post = conv._conv_out(pre, g)
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((5, math.prod(pre))))
    w = torch.tensor(rng.standard_normal((4, 3, *kernel)))
    d = torch.tensor(rng.standard_normal((5, math.prod(post))))
    op = conv.OPERATIONS["conv2d"]
    xn, wn, dn = x.numpy(), w.numpy(), d.numpy()
    for got, want in ((op.forward(x, w, pre, post, g), op.forward(xn, wn, pre, post, g)),
                      (op.backward(d, w, x, pre, post, g), op.backward(dn, wn, xn, pre, post, g)),
                      (op.weight_gradient(d, x, pre, post, g), op.weight_gradient(dn, xn, pre, post, g))):
        assert isinstance(got, torch.Tensor) and isinstance(want, np.ndarray)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    pool = conv.OPERATIONS["max_pool2d"]
    ppost = conv._pool_out(pre, g)
    dp = torch.tensor(rng.standard_normal((5, math.prod(ppost))))
    numpy_x, numpy_dp = x.numpy(), dp.numpy()
    np.testing.assert_allclose(pool.forward(x, None, pre, ppost, g).numpy(),
                               pool.forward(numpy_x, None, pre, ppost, g), rtol=0, atol=0)
    np.testing.assert_allclose(pool.backward(dp, None, x, pre, ppost, g).numpy(),
                               pool.backward(numpy_dp, None, numpy_x, pre, ppost, g), rtol=1e-15, atol=1e-15)


def _max_pool_backward_by_loops(d, x, pre, post, geo):
    """The gradient of max pooling written window by window: each window's first maximum (in
    row-major order over the window, padding never wins) receives that window's error."""
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    x4, d4 = x.reshape(-1, *pre), d.reshape(-1, *post)
    out = np.zeros_like(x4)
    for n in range(x4.shape[0]):
        for c in range(pre[0]):
            for i in range(post[1]):
                for j in range(post[2]):
                    best = None
                    for a in range(kh):
                        for b in range(kw):
                            r, s = sh * i + a - ph, sw * j + b - pw
                            inside = 0 <= r < pre[1] and 0 <= s < pre[2]
                            if inside and (best is None or x4[n, c, r, s] > x4[n, c, *best]):
                                best = (r, s)
                    out[n, c, best[0], best[1]] += d4[n, c, i, j]
    return out.reshape(x.shape)


@pytest.mark.parametrize("array", ["numpy", "torch"])
@pytest.mark.parametrize("geo", [((3, 3), (1, 1), (0, 0)), ((3, 2), (2, 1), (1, 0)), ((2, 2), (2, 2), (0, 0)),
                                 ((3, 3), (2, 2), (1, 1))])
def test_one_pass_vjp_equals_the_separate_maps(array, geo):
    """``conv.vjp`` (backward and kernel gradient in one pass, from the work ``drive_saving``
    kept) equals ``backward`` and ``weight_gradient`` called apart, for conv2d, its adjoint,
    locally connected, both poolings and dense; max pooling's routing equals a window-by-window
    loop, with ties (the first maximum wins), overlapping windows and padding."""
    if array == "torch":
        torch = pytest.importorskip("torch")
    kernel, stride, padding = geo
    rng = np.random.default_rng(5)
    a = Layer("a", shape=(3, 7, 6))
    for op in ("conv2d", "locally_connected2d", "max_pool2d", "avg_pool2d", "dense"):
        geometric = op != "dense"
        fwd = Projection("a", "b", operation=op, **(dict(kernel=kernel, stride=stride, padding=padding)
                                                   if geometric else {}))
        shape = conv.out_shape(fwd, a.dims, (4, 1, 1)) if geometric else (11,)
        net = Network((Layer("in", 1, role="input"), a, Layer("b", shape=shape) if len(shape) == 3
                       else Layer("b", shape[0])), (fwd,))
        pshape = conv.param_shape(fwd, a.dims, net.layer("b").dims)
        w = rng.standard_normal(pshape) if pshape else None
        x = np.round(rng.standard_normal((4, a.size)), 1)  # rounded: ties inside pooling windows
        d = rng.standard_normal((4, net.layer("b").size))
        if array == "torch":
            x, d = torch.tensor(x), torch.tensor(d)
            w = None if w is None else torch.tensor(w)
        y, saved = conv.drive_saving(net, fwd, w, x)
        np.testing.assert_array_equal(np.asarray(y), np.asarray(conv.drive(net, fwd, w, x)))
        want_dx, want_dw = conv.backward(net, fwd, w, d, x), conv.weight_gradient(net, fwd, d, x)
        for kept in (saved, None):
            dx, dw = conv.vjp(net, fwd, w, d, x, kept)
            np.testing.assert_allclose(np.asarray(dx), np.asarray(want_dx), rtol=1e-12, atol=1e-12, err_msg=op)
            if want_dw is None:
                assert dw is None
            else:
                np.testing.assert_allclose(np.asarray(dw), np.asarray(want_dw), rtol=1e-12, atol=1e-12, err_msg=op)
            assert conv.vjp(net, fwd, w, d, x, kept, inputs=False)[0] is None
        if op == "max_pool2d":
            g = conv._geometry(fwd, a.dims, shape)
            ties = np.asarray(x).reshape(4, 3, 7, 6)
            assert any(len(np.unique(ties[0, 0, i:i + 2, :2])) < 4 for i in range(5))
            np.testing.assert_allclose(np.asarray(dx), _max_pool_backward_by_loops(np.asarray(d), np.asarray(x),
                                                                                   a.dims, shape, g),
                                       rtol=1e-12, atol=1e-12)

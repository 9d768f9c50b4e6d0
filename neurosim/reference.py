"""The oracle: exact forward pass, losses and reverse-mode gradients.

Every learning rule in neurosim is scored against the numbers computed here, so this
module is deliberately small and checked against central finite differences
(:func:`gradcheck`, ``neurosim gradcheck``).  It computes in the namespace of the arrays it
is given (:mod:`neurosim.arrays`): numpy arrays (the float64 oracle) or PyTorch tensors on
any device, by the same code.

For a feed-forward network (any DAG of ``kind = "feedforward"`` projections) with
somatic potentials and rates

.. math::  u_l = \\sum_{k \\to l} W_{lk} r_k + b_l, \\qquad r_l = \\phi_l(u_l),

and a loss :math:`L(r_L, t)`, backprop computes the per-sample errors

.. math::  \\delta_L = \\frac{\\partial L}{\\partial r_L} \\odot \\phi_L'(u_L), \\qquad
           \\delta_k = \\phi_k'(u_k) \\odot \\sum_{l: k \\to l} W_{lk}^\\top \\delta_l,

and the batch-mean gradients :math:`\\partial L/\\partial W_{lk} = \\langle \\delta_l r_k^\\top\\rangle`,
:math:`\\partial L/\\partial b_l = \\langle \\delta_l \\rangle` (Rumelhart, Hinton & Williams 1986).

A projection that is not dense (:mod:`neurosim.conv`: convolution, locally connected,
pooling, flatten) replaces :math:`W_{lk} r_k` by its operation :math:`f_{lk}(r_k; K_{lk})`,
:math:`W_{lk}^\\top\\delta_l` by the vector-Jacobian product
:math:`(\\partial f_{lk}/\\partial r_k)^\\top \\delta_l` and the outer product by
:math:`\\langle(\\partial f_{lk}/\\partial K_{lk})^\\top\\delta_l\\rangle` (the correlation of
:math:`\\delta_l` with the input patches, for a kernel).

Losses (per sample, averaged over the batch):

* ``mse``: :math:`L = \\tfrac12 \\lVert r_L - t \\rVert^2`;
* ``cross_entropy``: :math:`L = -\\sum_i t_i \\log \\mathrm{softmax}(r_L)_i`.

Shapes: inputs ``x`` are ``(batch, n_input)``, targets ``(batch, n_output)``; weights
follow :mod:`neurosim.params`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import conv as _ops
from .arrays import (_torch_tensor, as_dtype, asarray_like, astype, device_of, diagonal_part, is_floating, namespace,
                     to_numpy)
from .errors import ConfigError, ShapeError
from .network import Network
from .neurons import get_activation
from .params import Params, bias_key, check_params, weight
from .validation import all_finite


@dataclass
class ForwardPass:
    """Potentials and rates of one feed-forward pass.

    Attributes
    ----------
    u : dict of str to ndarray (batch, size)
        Somatic potential of every non-input layer.
    r : dict of str to ndarray (batch, size)
        Rates of every layer (``r[input] = x``).
    order : tuple of str
        Layer names in the topological order used.
    saved : dict of str to object
        Per projection, the forward work its backward pass can reuse (:func:`neurosim.conv.drive_saving`:
        im2col patches, max-pooling winners); filled only by ``forward(..., save=True)``.
    """

    u: dict
    r: dict
    order: tuple
    saved: dict = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.r[self.order[-1]]


@dataclass
class Gradients:
    """Result of :func:`backprop`.

    Attributes
    ----------
    grads : dict of str to ndarray
        :math:`\\partial L/\\partial\\theta` for every weight and bias on the feedforward
        path (batch mean); keys as in :mod:`neurosim.params`.
    deltas : dict of str to ndarray (batch, size)
        Per-sample :math:`\\delta_l = \\partial L_n/\\partial u_l` of every non-input layer.
    loss : float
        Batch-mean loss.
    forward : ForwardPass
    """

    grads: dict
    deltas: dict
    loss: float
    forward: ForwardPass

    def descent(self) -> dict:
        """:math:`-\\partial L/\\partial\\theta`: the update a perfect rule proposes (sign convention)."""
        return {k: -g for k, g in self.grads.items()}


def check_batch(network: Network, x, target=None, *, dtype=None):
    """Validate and convert an input batch (and target batch).

    Returns ``(x, target)`` as 2-D float arrays of ``x``'s namespace and device (a numpy
    target given with a tensor ``x`` is moved there); raises :class:`ShapeError` with the
    expected and given shapes, or when a value is NaN/inf.
    """
    n_in = network.input_layer.size
    xp = namespace(x)
    x = xp.asarray(x) if dtype is None else xp.asarray(x, dtype=as_dtype(xp, dtype))
    if x.ndim == 1:
        x = x[None, :]
    shape = network.input_layer.shape
    if shape and x.ndim == 1 + len(shape) and tuple(x.shape[1:]) == shape:
        x = xp.reshape(x, (x.shape[0], n_in))  # images (batch, c, h, w) travel flat, in C order
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ShapeError(f"x: expected shape (batch, {n_in}) for input layer '{network.input_layer.name}', "
                         f"got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ShapeError("x: empty batch (0 samples); pass at least one sample")
    if not is_floating(x):
        x = astype(x, "float64")
    if not all_finite(x):
        raise ShapeError("x: contains NaN or inf; clean the inputs before training")
    if target is None:
        return x, None
    out = network.output_layer
    if xp is np:
        t = np.asarray(target, dtype=x.dtype)
    elif namespace(target) is np:  # numpy targets (Dataset.targets) beside tensor inputs: moved once here
        t = asarray_like(target, x, x.dtype)
    else:
        t = xp.asarray(target, dtype=x.dtype, device=device_of(x))
    if t.ndim == 1 and out.size == 1 and x.shape[0] != 1:
        t = t[:, None]
    if t.ndim == 1:
        t = t[None, :]
    if tuple(t.shape) != (x.shape[0], out.size):
        raise ShapeError(f"target: expected shape ({x.shape[0]}, {out.size}) for output layer '{out.name}', "
                         f"got {tuple(t.shape)}; one-hot encode labels with Dataset.targets()")
    if not all_finite(t):
        raise ShapeError("target: contains NaN or inf")
    return x, t


def forward(network: Network, params: Params, x, *, save: bool = False) -> ForwardPass:
    """Run the feed-forward pass; see the module docstring for the equations.

    ``save=True`` keeps, per convolution and pooling projection, the work its backward pass
    reuses (``ForwardPass.saved``; :func:`backprop` asks for it).
    """
    x, _ = check_batch(network, x)
    order = network.feedforward_order()
    names = tuple(layer.name for layer in order)
    if names[-1] != network.output_layer.name:
        raise ConfigError(f"Network '{network.name}': the output layer '{network.output_layer.name}' is not "
                          "reached from the input by feedforward projections")
    r = {names[0]: x}
    u = {}
    saved = {}
    for layer in order[1:]:
        acc = None
        for proj in network.select("feedforward", post=layer.name):
            if proj.operation == "dense":
                drive = r[proj.pre] @ weight(network, params, proj).T
            elif save:
                drive, saved[proj.name] = _ops.drive_saving(network, proj, weight(network, params, proj), r[proj.pre])
            else:
                drive = _ops.drive(network, proj, weight(network, params, proj), r[proj.pre])
            acc = drive if acc is None else acc + drive
        if layer.bias:
            acc = acc + params[bias_key(layer.name)]  # not in place: flatten passes its input through
        u[layer.name] = acc
        r[layer.name] = get_activation(layer.activation)(acc)
    return ForwardPass(u=u, r=r, order=names, saved=saved)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    xp = namespace(z)
    z = z - xp.max(z, axis=-1, keepdims=True)
    e = xp.exp(z)
    return e / xp.sum(e, axis=-1, keepdims=True)


def loss_value(network: Network, output: np.ndarray, target: np.ndarray) -> float:
    """Batch-mean loss of output rates ``(batch, n_out)`` against ``target``."""
    xp = namespace(output, target)
    if network.loss == "mse":
        return float(0.5 * xp.sum((output - target) ** 2) / output.shape[0])
    z = output - xp.max(output, axis=-1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))
    return float(-xp.sum(target * log_p) / output.shape[0])


def output_error(network: Network, output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-sample :math:`\\partial L_n / \\partial r_L` (``r - t`` for mse, ``softmax(r) - t`` for CE)."""
    if network.loss == "mse":
        return output - target
    return softmax(output) - target


#: phi'(u) written with the rate r = phi(u), which the forward pass already holds: saves
#: evaluating the transfer function a second time on the backward sweep.
_DERIVATIVE_FROM_RATE = {"tanh": lambda r: 1.0 - r * r, "sigmoid": lambda r: r * (1.0 - r)}


def derivative(layer, fp: ForwardPass) -> np.ndarray:
    """:math:`\\phi'(u_l)` of a layer at the potentials of a forward pass."""
    from_rate = _DERIVATIVE_FROM_RATE.get(layer.activation)
    if from_rate is not None:
        return from_rate(fp.r[layer.name])
    return get_activation(layer.activation).derivative(fp.u[layer.name])


def times_derivative(layer, fp: ForwardPass, g):
    """:math:`g \\odot \\phi'(u_l)`: an error ``g`` (batch, size) carried through a layer's transfer
    function.  The same product as ``g * derivative(layer, fp)``; a linear layer passes ``g`` on,
    and on tensors tanh and sigmoid use PyTorch's fused backward kernels (one pass, as autograd)."""
    act = layer.activation
    if act == "linear":
        return g
    if act in ("tanh", "sigmoid") and _torch_tensor(g):
        import torch

        fused = torch.ops.aten.tanh_backward if act == "tanh" else torch.ops.aten.sigmoid_backward
        return fused(g, fp.r[layer.name])
    return g * derivative(layer, fp)


def output_delta(network: Network, fp: ForwardPass, target: np.ndarray) -> np.ndarray:
    """Per-sample :math:`\\delta_L = \\partial L_n/\\partial u_L`."""
    return times_derivative(network.output_layer, fp, output_error(network, fp.r[network.output_layer.name], target))


def backprop(network: Network, params: Params, x, target) -> Gradients:
    """Exact gradients of the batch-mean loss by reverse-mode differentiation.

    Parameters
    ----------
    network : Network
    params : dict
        Weights and biases (:func:`neurosim.init_params`).
    x : ndarray of shape (batch, n_input)
    target : ndarray of shape (batch, n_output)

    Returns
    -------
    Gradients
    """
    check_params(network, params)
    x, t = check_batch(network, x, target)
    xp = namespace(x)
    fp = forward(network, params, x, save=True)
    batch = x.shape[0]
    deltas = {}
    grads = {}
    order = network.feedforward_order()
    deltas[order[-1].name] = output_delta(network, fp, t)
    for layer in reversed(order[1:]):
        if layer.name not in deltas:
            # reached from the input but feeding nothing on the way to the output: no gradient
            deltas[layer.name] = xp.zeros_like(fp.u[layer.name])
        delta = deltas[layer.name]
        if layer.bias:
            grads[bias_key(layer.name)] = xp.sum(delta, axis=0) / batch
        scaled = None  # delta / batch for the dense products (scale the (batch, n) delta, not the (n, m) product)
        for proj in network.select("feedforward", post=layer.name):
            pre = network.layer(proj.pre)
            if proj.operation != "dense":
                # dL/dK of the effective kernel (times the signed scale) and the error carried back,
                # in one pass that reuses the forward's patches / pooling winners
                w = weight(network, params, proj)
                back, g = _ops.vjp(network, proj, w, delta, fp.r[proj.pre], fp.saved.get(proj.name),
                                   inputs=pre.role != "input")
                if g is not None:
                    g = g * (proj.scale / batch)
                    key = proj.tied_to if proj.tied_to is not None else proj.name
                    grads[key] = grads[key] + g if key in grads else g
                if back is not None:
                    back = times_derivative(pre, fp, back)
                    deltas[pre.name] = deltas[pre.name] + back if pre.name in deltas else back
                continue
            if scaled is None:
                scaled = delta * (1.0 / batch)
            g = scaled.T @ fp.r[proj.pre]  # dL/dW_eff of the effective weight (params.weight)
            if proj.connectivity == "one_to_one":
                g = diagonal_part(g)  # only the diagonal synapses exist
            if proj.scale != 1.0:
                g = proj.scale * g  # W_eff = s W
            key = proj.tied_to if proj.tied_to is not None else proj.name
            g = g.T if proj.tied_to is not None and proj.tie == "transpose" else g
            grads[key] = grads[key] + g if key in grads else g
            if pre.role == "input":
                continue
            back = times_derivative(pre, fp, delta @ weight(network, params, proj))
            deltas[pre.name] = deltas[pre.name] + back if pre.name in deltas else back
    loss = loss_value(network, fp.output, t)
    # report in declaration order (input side first), not in the reverse order of the sweep
    keys = [p.name for p in network.projections] + [bias_key(layer.name) for layer in network.layers]
    grads = {k: grads[k] for k in keys if k in grads}
    return Gradients(grads=grads, deltas=deltas, loss=loss, forward=fp)


def loss_of(network: Network, params: Params, x, target) -> float:
    """Batch-mean loss of the network's forward pass."""
    x, t = check_batch(network, x, target)
    return loss_value(network, forward(network, params, x).output, t)


def finite_difference_gradients(network: Network, params: Params, x, target, eps: float = 1e-5, *,
                                 entries: dict | None = None) -> dict:
    """Central finite differences :math:`(L(\\theta+\\epsilon) - L(\\theta-\\epsilon)) / 2\\epsilon`.

    Independent of :func:`backprop` (it only calls the forward pass).  Cost: two forward
    passes per entry, so use it on small networks or on a sample of ``entries``.  Work in
    float64: the truncation error is :math:`O(\\epsilon^2)`, the rounding error
    :math:`O(10^{-16} L/\\epsilon)`; the default :math:`\\epsilon = 10^{-5}` sits near the
    optimum :math:`\\epsilon \\approx (10^{-16})^{1/3}` for parameters of order one (with
    :math:`10^{-6}`, the rounding noise already reaches a relative :math:`10^{-6}` on the tiny
    gradients of a 5-layer sigmoid network).

    Parameters
    ----------
    entries : dict of str to 1-D int array, optional
        Flat indices to differentiate per parameter key (default: all).

    Returns
    -------
    dict of str to ndarray
        Full-shape gradients, or (with ``entries``) the values at those flat indices.
    """
    x, t = check_batch(network, x, target)
    grads = {}
    keys = [p.name for p in network.select("feedforward") if p.tied_to is None and _ops.has_params(p)] + [
        bias_key(layer.name) for layer in network.feedforward_order()[1:] if layer.bias]
    for key in keys:
        theta = params[key]
        flat = theta.reshape(-1)  # a view: perturbing it perturbs params[key]
        index = np.arange(flat.size) if entries is None else np.asarray(entries[key])
        values = np.zeros(index.size)
        for j, i in enumerate(index):
            old = flat[i]
            flat[i] = old + eps
            lp = loss_of(network, params, x, t)
            flat[i] = old - eps
            lm = loss_of(network, params, x, t)
            flat[i] = old
            values[j] = (lp - lm) / (2 * eps)
        grads[key] = values.reshape(theta.shape) if entries is None else values
    return grads


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """:math:`\\lVert a-b\\rVert / \\max(\\lVert a\\rVert, \\lVert b\\rVert)` (0 when both are 0), on the host."""
    a, b = to_numpy(a), to_numpy(b)
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def gradcheck(network: Network, params: Params, x, target, eps: float = 1e-5, *,
              max_entries: int | None = None, seed: int = 0) -> dict:
    """Compare :func:`backprop` with :func:`finite_difference_gradients` in float64.

    Parameters
    ----------
    max_entries : int, optional
        Check at most this many randomly chosen entries of each parameter array
        (the rest would cost two forward passes each); default all.

    Returns
    -------
    dict
        ``{"max_relative_error": float, "projections": [{"name", "relative_error",
        "max_abs_error", "n_entries", "gradient_norm"}...]}`` over weights and biases; the
        relative error is :func:`relative_error` over the checked entries, ``gradient_norm``
        the norm of the exact gradient there (a check of zero against zero proves nothing:
        callers should refuse it).
    """
    params = {k: to_numpy(v).astype(np.float64) for k, v in params.items()}  # a float64 copy on the host
    x, t = check_batch(network, to_numpy(x), to_numpy(target), dtype=np.float64)
    exact = backprop(network, params, x, t).grads
    rng = np.random.default_rng(seed)
    entries = {k: (np.arange(g.size) if max_entries is None or g.size <= max_entries
                   else rng.choice(g.size, max_entries, replace=False)) for k, g in exact.items()}
    numeric = finite_difference_gradients(network, params, x, t, eps, entries=entries)
    rows = []
    for key, g in numeric.items():
        e = exact[key].reshape(-1)[entries[key]]
        rows.append({"name": key, "relative_error": relative_error(e, g),
                     "max_abs_error": float(np.max(np.abs(e - g))), "n_entries": int(g.size),
                     "gradient_norm": float(np.linalg.norm(e))})
    return {"max_relative_error": max(r["relative_error"] for r in rows), "projections": rows}

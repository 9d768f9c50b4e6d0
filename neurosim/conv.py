"""Projection operations: dense, convolution, locally connected, pooling and flatten.

A projection's ``operation`` (:mod:`neurosim.network`) says how the rates of its ``pre``
layer become a drive of its ``post`` layer.  Rates always travel as flat arrays of shape
``(batch, size)``; a layer with a ``shape`` ``(channels, height, width)`` lays its units out
in that C order, so a flat ``dense`` projection reads a shaped layer as it is (flatten is the
identity on the data and exists to make the change of view explicit in a description).

For an input :math:`x` of shape :math:`(C, H, W)`, kernel :math:`(k_h, k_w)`, stride
:math:`(s_h, s_w)` and zero padding :math:`(p_h, p_w)`, the output grid is
:math:`H' = \\lfloor (H + 2p_h - k_h)/s_h \\rfloor + 1` (likewise :math:`W'`) and

.. math::
    \\text{conv2d:}\\quad y_{o,i,j} &= \\sum_{c,a,b} K_{o,c,a,b}\\, x_{c,\\,s_h i + a - p_h,\\, s_w j + b - p_w}
    \\\\
    \\text{locally\\_connected2d:}\\quad y_{o,i,j} &= \\sum_{c,a,b} K_{o,i,j,c,a,b}\\,
        x_{c,\\,s_h i + a - p_h,\\, s_w j + b - p_w}
    \\\\
    \\text{max\\_pool2d / avg\\_pool2d:}\\quad y_{c,i,j} &= \\max_{a,b} / \\operatorname{mean}_{a,b}\\;
        x_{c,\\,s_h i + a - p_h,\\, s_w j + b - p_w}

(LeCun et al. 1998 for convolution and pooling; the locally connected layer has untied
weights per output position, Bartunov et al. 2018).  ``conv_transpose2d`` and
``locally_connected_transpose2d`` are the adjoints :math:`y = K^\\top x` of the two linear maps,
with a kernel of the *same* shape as the forward one: the feedback pathway of feedback
alignment through a convolution (a random kernel in place of :math:`K`; Lillicrap et al. 2016,
as BioTorch, Sanfiz & Akrout 2021), and, tied to the forward kernel, exactly backprop's
backward pass.

Each operation gives its forward map, the vector-Jacobian product with respect to its input
(``backward``) and to its kernel (``weight_gradient``, summed over the batch), written once
for every array library through the namespace of the arrays (:mod:`neurosim.arrays`): im2col
by strided slices (one slice per kernel offset, never a loop over positions), the sums as
matrix products, col2im by strided additions.  Pooling has no parameters; max pooling routes
the gradient to the first maximum of each window (as PyTorch).  On PyTorch tensors, conv2d and
max pooling run PyTorch's own kernels.

:func:`drive_saving` and :func:`vjp` are the training path (:func:`neurosim.reference.backprop`):
the forward pass keeps what the backward pass reuses (im2col patches, max-pooling winners or
maxima), and the input and kernel gradients come from one pass (one ``convolution_backward``
call on tensors, as autograd makes) instead of recomputing the forward's work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .arrays import _torch_tensor, arange, astype, full, namespace, zeros
from .errors import ConfigError

__all__ = ["OPERATIONS", "Operation", "adjoint_geometry", "backward", "drive", "drive_saving", "geometry_text",
           "has_params", "max_pool_switched", "out_shape", "param_shape", "fans", "tangent", "vjp", "weight_gradient"]


# --------------------------------------------------------------------------- im2col / col2im
def _grid(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _pad(x, ph: int, pw: int, value: float = 0.0):
    """``x`` of shape (b, c, H, W) padded by ``value`` on both sides of the two last axes."""
    if ph == 0 and pw == 0:
        return x
    b, c, h, w = x.shape
    out = full((b, c, h + 2 * ph, w + 2 * pw), value, x)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _window_view(xpad, kh: int, kw: int, sh: int, sw: int):
    """(b, c, H, W) -> a strided *view* (b, c, H', W', kh, kw) of every window, without a copy
    (numpy's ``sliding_window_view``, PyTorch's ``Tensor.unfold``: the one place the libraries
    differ here)."""
    if _torch_tensor(xpad):
        return xpad.unfold(2, kh, sh).unfold(3, kw, sw)
    return np.lib.stride_tricks.sliding_window_view(xpad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _patches(x, kernel, stride, padding, value: float = 0.0):
    """im2col: (b, c, H, W) -> (b, c, kh, kw, H', W'), a strided view of the padded input (the
    consumer's reshape makes the one copy)."""
    xp = namespace(x)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    view = _window_view(_pad(x, ph, pw, value), kh, kw, sh, sw)
    return xp.permute_dims(view, (0, 1, 4, 5, 2, 3))


def _fold(cols, in_shape, kernel, stride, padding):
    """col2im, the adjoint of :func:`_patches`: (b, c, kh, kw, H', W') summed into (b, c, H, W)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    b = cols.shape[0]
    c, h, w = in_shape
    ho, wo = cols.shape[4], cols.shape[5]
    out = zeros((b, c, h + 2 * ph, w + 2 * pw), cols)
    for a in range(kh):
        for d in range(kw):
            out[:, :, a:a + sh * (ho - 1) + 1:sh, d:d + sw * (wo - 1) + 1:sw] += cols[:, :, a, d]
    return out[:, :, ph:ph + h, pw:pw + w]


# --------------------------------------------------------------------------- the operations
@dataclass(frozen=True)
class Operation:
    """One kind of projection: its shapes and its three maps.

    Attributes
    ----------
    name : str
    has_params : bool
        Whether it owns a weight array (pooling and flatten do not).
    geometric : bool
        Whether it takes ``kernel``/``stride``/``padding``.
    out_shape : callable (pre_shape, geo) -> shape
        The post shape the operation produces from a pre shape.
    param_shape : callable (pre_shape, post_shape, geo) -> shape or None
    fans : callable (pre_shape, post_shape, geo) -> (fan_in, fan_out)
        Inputs and outputs per weight, for the initialisers.
    forward : callable (x4, w, pre_shape, post_shape, geo) -> y
    backward : callable (delta, w, x, pre_shape, post_shape, geo) -> dx
    weight_gradient : callable (delta, x, pre_shape, post_shape, geo) -> dW (batch sum)
    transpose : str
        The operation whose kernel of the same shape maps the other way ("" if none).
    forward_saving : callable (x, w, pre_shape, post_shape, geo) -> (y, saved), optional
        The forward map together with what it computed on the way that the vector-Jacobian
        product can reuse (im2col patches, max-pooling winners); None: nothing worth keeping.
    vjp : callable (delta, w, x, saved, pre_shape, post_shape, geo, inputs) -> (dx, dW), optional
        ``backward`` and ``weight_gradient`` in one pass from the forward's ``saved`` work
        (``dx`` None when ``inputs`` is false); None: the two maps are called one after the other.
    """

    name: str
    has_params: bool
    geometric: bool
    out_shape: Callable
    param_shape: Callable
    fans: Callable
    forward: Callable
    backward: Callable
    weight_gradient: Callable
    transpose: str = ""
    forward_saving: Callable | None = None
    vjp: Callable | None = None


def _as4(a, shape):
    xp = namespace(a)
    return xp.reshape(a, (a.shape[0], *shape))


def _flat(a):
    xp = namespace(a)
    return xp.reshape(a, (a.shape[0], -1))


# dense ------------------------------------------------------------------------
def _dense_out(pre, geo):
    return None  # any size: the post layer decides


_DENSE = Operation(
    "dense", True, False, _dense_out,
    param_shape=lambda pre, post, geo: (math.prod(post), math.prod(pre)),
    fans=lambda pre, post, geo: (math.prod(pre), math.prod(post)),
    forward=lambda x, w, pre, post, geo: x @ w.T,
    backward=lambda d, w, x, pre, post, geo: d @ w,
    weight_gradient=lambda d, x, pre, post, geo: d.T @ x,
    transpose="dense")


# conv2d -----------------------------------------------------------------------
def _conv_out(pre, geo):
    c, h, w = pre
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    return (geo["channels"], _grid(h, kh, sh, ph), _grid(w, kw, sw, pw))


def _kernel_shape(pre, post, geo):
    return (post[0], pre[0], *geo["kernel"])


def _kernel_fans(pre, post, geo):
    k = math.prod(geo["kernel"])
    return pre[0] * k, post[0] * k


def _conv_patches(x, pre, post, geo):
    """im2col of ``x`` (b, size) -> (b, c*kh*kw, L), contiguous (the one copy of the windows)."""
    xp = namespace(x)
    p = _patches(_as4(x, pre), geo["kernel"], geo["stride"], geo["padding"])
    return xp.reshape(p, (x.shape[0], -1, post[1] * post[2]))


def _conv_forward_saving(x, w, pre, post, geo):
    """The convolution and its im2col patches, which the weight gradient reuses (tensors:
    PyTorch's ``conv2d``, nothing saved: its backward needs only ``x``)."""
    xp = namespace(x, w)
    if _torch_tensor(x):
        import torch

        y = torch.nn.functional.conv2d(_as4(x, pre), w, stride=geo["stride"], padding=geo["padding"])
        return _flat(y), None
    p = _conv_patches(x, pre, post, geo)
    y = xp.reshape(w, (w.shape[0], -1)) @ p  # (b, o, L)
    return xp.reshape(y, (x.shape[0], -1)), p


def _conv_forward(x, w, pre, post, geo):
    return _conv_forward_saving(x, w, pre, post, geo)[0]


def _conv_backward(d, w, x, pre, post, geo):
    xp = namespace(d, w)
    if _torch_tensor(d):
        import torch

        size = (d.shape[0], *pre)
        return _flat(torch.nn.grad.conv2d_input(size, w, _as4(d, post), stride=geo["stride"],
                                                padding=geo["padding"]))
    b = d.shape[0]
    cols = xp.reshape(w, (w.shape[0], -1)).T @ xp.reshape(d, (b, post[0], -1))  # (b, c*kh*kw, L)
    cols = xp.reshape(cols, (b, pre[0], *geo["kernel"], post[1], post[2]))
    return _flat(_fold(cols, pre, geo["kernel"], geo["stride"], geo["padding"]))


def _conv_weight_gradient(d, x, pre, post, geo):
    return _conv_vjp(d, None, x, None, pre, post, geo, False)[1]


def _conv_vjp(d, w, x, saved, pre, post, geo, inputs):
    """(dx, dW) of a convolution: one ``convolution_backward`` call on tensors (as autograd
    makes), and on arrays the kernel gradient as one matrix product per sample against the
    forward's patches, summed over the batch (no transposed copy of the patches)."""
    xp = namespace(d, x)
    shape = (post[0], pre[0], *geo["kernel"])
    if _torch_tensor(d):
        import torch

        if w is None:
            w = torch.empty(shape, dtype=d.dtype, device=d.device)  # only its shape is read
        dx, dw, _ = torch.ops.aten.convolution_backward(
            _as4(d, post), _as4(x, pre), w, None, list(geo["stride"]), list(geo["padding"]), [1, 1], False,
            [0, 0], 1, [bool(inputs), True, False])
        return (_flat(dx) if inputs else None), dw
    p = saved if saved is not None else _conv_patches(x, pre, post, geo)
    d3 = xp.reshape(d, (d.shape[0], post[0], -1))  # (b, o, L)
    dw = xp.reshape(xp.sum(d3 @ xp.permute_dims(p, (0, 2, 1)), axis=0), shape)
    return (_conv_backward(d, w, x, pre, post, geo) if inputs else None), dw


_CONV = Operation("conv2d", True, True, _conv_out, _kernel_shape, _kernel_fans, _conv_forward, _conv_backward,
                  _conv_weight_gradient, transpose="conv_transpose2d", forward_saving=_conv_forward_saving,
                  vjp=_conv_vjp)


def _adjoint(name: str, op_shape, forward, backward, weight_gradient, transpose: str) -> Operation:
    """The adjoint of an operation with weights: pre is the forward map's output grid, post its
    input, and the parameter has the forward map's shape (so a tie or a random feedback kernel is
    written exactly as for the forward map)."""
    return Operation(
        name, True, True, out_shape=None,
        param_shape=lambda pre, post, geo: op_shape(post, pre, geo),
        fans=lambda pre, post, geo: _kernel_fans(post, pre, geo),
        forward=lambda x, w, pre, post, geo: backward(x, w, None, post, pre, geo),
        backward=lambda d, w, x, pre, post, geo: forward(d, w, post, pre, geo),
        weight_gradient=lambda d, x, pre, post, geo: weight_gradient(x, d, post, pre, geo),
        transpose=transpose)


_CONV_T = _adjoint("conv_transpose2d", _kernel_shape, _CONV.forward, _CONV.backward, _CONV.weight_gradient,
                   transpose="conv2d")


# locally_connected2d ----------------------------------------------------------
def _lc_shape(pre, post, geo):
    return (post[0], post[1], post[2], pre[0], *geo["kernel"])


def _lc_kernels(w):
    """(o, H', W', c, kh, kw) -> (L, o, K): one matrix per output position."""
    xp = namespace(w)
    o, ho, wo = w.shape[0], w.shape[1], w.shape[2]
    return xp.reshape(xp.permute_dims(w, (1, 2, 0, 3, 4, 5)), (ho * wo, o, -1))


def _lc_patches(x, pre, post, geo):
    """(b, size) -> (L, b, K)."""
    xp = namespace(x)
    b = x.shape[0]
    p = _patches(_as4(x, pre), geo["kernel"], geo["stride"], geo["padding"])
    return xp.permute_dims(xp.reshape(p, (b, -1, post[1] * post[2])), (2, 0, 1))


def _lc_forward_saving(x, w, pre, post, geo):
    """The locally connected map and its patches (L, b, K), made contiguous once for the
    forward product and the kernel gradient."""
    xp = namespace(x, w)
    p = _lc_patches(x, pre, post, geo)
    p = p.contiguous() if _torch_tensor(p) else np.ascontiguousarray(p)
    y = p @ xp.permute_dims(_lc_kernels(w), (0, 2, 1))  # (L, b, o)
    return xp.reshape(xp.permute_dims(y, (1, 2, 0)), (x.shape[0], -1)), p


def _lc_forward(x, w, pre, post, geo):
    return _lc_forward_saving(x, w, pre, post, geo)[0]


def _lc_backward(d, w, x, pre, post, geo):
    xp = namespace(d, w)
    b = d.shape[0]
    dl = xp.permute_dims(xp.reshape(d, (b, post[0], -1)), (2, 0, 1))  # (L, b, o)
    cols = xp.permute_dims(dl @ _lc_kernels(w), (1, 2, 0))  # (b, K, L)
    cols = xp.reshape(cols, (b, pre[0], *geo["kernel"], post[1], post[2]))
    return _flat(_fold(cols, pre, geo["kernel"], geo["stride"], geo["padding"]))


def _lc_vjp(d, w, x, saved, pre, post, geo, inputs):
    xp = namespace(d, x)
    b = d.shape[0]
    p = saved if saved is not None else _lc_patches(x, pre, post, geo)
    dl = xp.permute_dims(xp.reshape(d, (b, post[0], -1)), (2, 1, 0))  # (L, o, b)
    g = xp.reshape(dl @ p, (post[1], post[2], post[0], pre[0], *geo["kernel"]))  # (L, o, K) by position
    dw = xp.permute_dims(g, (2, 0, 1, 3, 4, 5))
    return (_lc_backward(d, w, x, pre, post, geo) if inputs else None), dw


def _lc_weight_gradient(d, x, pre, post, geo):
    return _lc_vjp(d, None, x, None, pre, post, geo, False)[1]


_LC = Operation("locally_connected2d", True, True, _conv_out, _lc_shape, _kernel_fans, _lc_forward, _lc_backward,
                _lc_weight_gradient, transpose="locally_connected_transpose2d", forward_saving=_lc_forward_saving,
                vjp=_lc_vjp)

_LC_T = _adjoint("locally_connected_transpose2d", _lc_shape, _lc_forward, _lc_backward, _lc_weight_gradient,
                 transpose="locally_connected2d")


# pooling ----------------------------------------------------------------------
def _pool_out(pre, geo):
    c, h, w = pre
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    return (c, _grid(h, kh, sh, ph), _grid(w, kw, sw, pw))


def _windows(x, pre, geo, value):
    """(b, size) -> (b, c, kh*kw, H', W')."""
    xp = namespace(x)
    p = _patches(_as4(x, pre), geo["kernel"], geo["stride"], geo["padding"], value)
    return xp.reshape(p, (x.shape[0], pre[0], -1, p.shape[4], p.shape[5]))


def _reduce_windows(x, pre, geo, value, combine):
    """(b, size) -> (b, c, H', W'): ``combine`` folded over the window's offsets, one strided
    slice of the padded input per offset (element-wise over whole maps, no window copy)."""
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    xpad = _pad(_as4(x, pre), ph, pw, value)
    ho, wo = _grid(pre[1], kh, sh, ph), _grid(pre[2], kw, sw, pw)
    out = None
    for a in range(kh):
        for d in range(kw):
            part = xpad[:, :, a:a + sh * (ho - 1) + 1:sh, d:d + sw * (wo - 1) + 1:sw]
            out = part if out is None else combine(out, part)
    return out


def _unwindow(cols, pre, post, geo):
    xp = namespace(cols)
    cols = xp.reshape(cols, (cols.shape[0], pre[0], *geo["kernel"], post[1], post[2]))
    return _flat(_fold(cols, pre, geo["kernel"], geo["stride"], geo["padding"]))


def _max_forward_saving(x, w, pre, post, geo):
    """Max pooling and what routes its gradient: PyTorch's window argmax on tensors, the pooled
    maxima themselves on arrays (:func:`_max_routed` finds each window's first maximum from them)."""
    if _torch_tensor(x):
        import torch

        y, where = torch.nn.functional.max_pool2d(_as4(x, pre), geo["kernel"], geo["stride"], geo["padding"],
                                                  return_indices=True)
        return _flat(y), where
    xp = namespace(x)
    y = _reduce_windows(x, pre, geo, -math.inf, xp.maximum)
    return _flat(y), y


def _max_forward(x, w, pre, post, geo):
    if _torch_tensor(x):
        import torch

        return _flat(torch.nn.functional.max_pool2d(_as4(x, pre), geo["kernel"], geo["stride"], geo["padding"]))
    return _max_forward_saving(x, w, pre, post, geo)[0]


def _first_max_mask(x, pre, geo, dtype):
    """(b, c, kh*kw, H', W') one-hot of the first maximum of each window of ``x``."""
    xp = namespace(x)
    win = _windows(x, pre, geo, -math.inf)
    first = xp.argmax(win, axis=2)  # the first maximum of each window gets the gradient
    k = win.shape[2]
    return astype(xp.reshape(arange(k, first), (1, 1, k, 1, 1)) == first[:, :, None], dtype)


def _max_routed(d, x, y, pre, post, geo):
    """col2im of ``d`` (b, c, H', W') onto the first maximum of each window of ``x`` (b, size), with
    ``y`` the windows' maxima: one pass over the kernel offsets in window order, each offset taking
    the windows whose maximum it holds and that no earlier offset took (overlapping windows add)."""
    xp = namespace(d, x)
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    xpad = _pad(_as4(x, pre), ph, pw, -math.inf)
    ho, wo = post[1], post[2]
    out = zeros(xpad.shape, d)
    zero = zeros((), d)
    taken = None
    for a in range(kh):
        for e in range(kw):
            rows, cols = slice(a, a + sh * (ho - 1) + 1, sh), slice(e, e + sw * (wo - 1) + 1, sw)
            hit = xpad[:, :, rows, cols] == y
            if taken is not None:
                hit &= ~taken
            taken = hit if taken is None else taken | hit
            out[:, :, rows, cols] += xp.where(hit, d, zero)
    return _flat(out[:, :, ph:ph + pre[1], pw:pw + pre[2]])


def _max_vjp(d, w, x, saved, pre, post, geo, inputs):
    if not inputs:
        return None, None
    if _torch_tensor(x):
        import torch

        where = saved if saved is not None else _max_forward_saving(x, w, pre, post, geo)[1]
        dx = torch.ops.aten.max_pool2d_with_indices_backward(
            _as4(d, post), _as4(x, pre), list(geo["kernel"]), list(geo["stride"]), list(geo["padding"]), [1, 1],
            False, where)
        return _flat(dx), None
    y = saved if saved is not None else _max_forward_saving(x, w, pre, post, geo)[1]
    return _max_routed(_as4(d, post), x, y, pre, post, geo), None


def _max_backward(d, w, x, pre, post, geo):
    return _max_vjp(d, w, x, None, pre, post, geo, True)[0]


def _avg_forward(x, w, pre, post, geo):
    return _flat(_reduce_windows(x, pre, geo, 0.0, lambda a, b: a + b) / math.prod(geo["kernel"]))


def _avg_backward(d, w, x, pre, post, geo):
    xp = namespace(d)
    k = math.prod(geo["kernel"])
    cols = xp.broadcast_to(_as4(d, post)[:, :, None] / k, (d.shape[0], post[0], k, post[1], post[2]))
    return _unwindow(cols, pre, post, geo)


def _no_params(*args):
    return None


_MAX = Operation("max_pool2d", False, True, _pool_out, _no_params, _no_params, _max_forward, _max_backward,
                 _no_params, forward_saving=_max_forward_saving, vjp=_max_vjp)
_AVG = Operation("avg_pool2d", False, True, _pool_out, _no_params, _no_params, _avg_forward, _avg_backward,
                 _no_params)
_FLATTEN = Operation("flatten", False, False, lambda pre, geo: (math.prod(pre),), _no_params, _no_params,
                     forward=lambda x, w, pre, post, geo: x, backward=lambda d, w, x, pre, post, geo: d,
                     weight_gradient=_no_params)

#: Every projection operation by name (``Projection.operation``).
OPERATIONS: dict[str, Operation] = {op.name: op for op in (_DENSE, _CONV, _CONV_T, _LC, _LC_T, _MAX, _AVG,
                                                            _FLATTEN)}


# --------------------------------------------------------------------------- on a network
def _geometry(proj, pre_shape, post_shape) -> dict:
    return {"kernel": proj.kernel, "stride": proj.stride, "padding": proj.padding,
            "channels": post_shape[0] if len(post_shape) == 3 else None}


def _shapes(network, proj):
    return network.layer(proj.pre).dims, network.layer(proj.post).dims


def has_params(proj) -> bool:
    """Whether the projection owns (or ties to) a weight array."""
    return OPERATIONS[proj.operation].has_params


def adjoint_geometry(proj) -> dict:
    """Keyword arguments of a :class:`~neurosim.network.Projection` that mirrors ``proj`` backwards.

    ``{}`` for a dense projection (a feedback matrix of the transposed shape); otherwise the
    adjoint operation (``conv_transpose2d`` for ``conv2d``, ...) with the forward kernel, stride
    and padding, so that its kernel has the forward kernel's shape (a fixed random one for
    feedback alignment and burstprop, ``tied_to`` the forward kernel for the exact transpose).
    """
    if proj.operation == "dense":
        return {}
    return dict(operation=OPERATIONS[proj.operation].transpose, kernel=proj.kernel, stride=proj.stride,
                padding=proj.padding)


def geometry_text(proj) -> str:
    """``"conv2d 5x5 stride 1 padding 0"`` (the operation and its geometry, for messages)."""
    if not OPERATIONS[proj.operation].geometric:
        return proj.operation
    (kh, kw), (sh, sw), (ph, pw) = proj.kernel, proj.stride, proj.padding
    stride = f"{sh}" if sh == sw else f"{sh}x{sw}"
    pad = f"{ph}" if ph == pw else f"{ph}x{pw}"
    return f"{proj.operation} {kh}x{kw} stride {stride} padding {pad}"


def out_shape(proj, pre_shape, post_shape):
    """The post shape the operation of ``proj`` gives from ``pre_shape`` (None: any size)."""
    op = OPERATIONS[proj.operation]
    if op.out_shape is None:  # an adjoint: it maps post back to pre
        return None
    return op.out_shape(tuple(pre_shape), _geometry(proj, pre_shape, post_shape))


def param_shape(proj, pre_shape, post_shape):
    """Shape of the weight array of ``proj`` between layers of these shapes (None: no parameters)."""
    return OPERATIONS[proj.operation].param_shape(tuple(pre_shape), tuple(post_shape),
                                                  _geometry(proj, pre_shape, post_shape))


def fans(proj, pre_shape, post_shape):
    """``(fan_in, fan_out)`` of a weight of ``proj`` (inputs and outputs per weight)."""
    return OPERATIONS[proj.operation].fans(tuple(pre_shape), tuple(post_shape),
                                           _geometry(proj, pre_shape, post_shape))


def drive(network, proj, w, x):
    """The drive ``proj`` gives its post layer from pre rates ``x`` (batch, pre.size), with
    effective weight ``w`` (:func:`neurosim.params.weight`; None without parameters)."""
    pre, post = _shapes(network, proj)
    return OPERATIONS[proj.operation].forward(x, w, pre, post, _geometry(proj, pre, post))


def drive_saving(network, proj, w, x):
    """``(drive, saved)``: :func:`drive` and the work of it that :func:`vjp` can reuse (im2col
    patches, max-pooling winners; None for operations that keep nothing)."""
    pre, post = _shapes(network, proj)
    op = OPERATIONS[proj.operation]
    geo = _geometry(proj, pre, post)
    if op.forward_saving is None:
        return op.forward(x, w, pre, post, geo), None
    return op.forward_saving(x, w, pre, post, geo)


def vjp(network, proj, w, delta, x, saved=None, *, inputs: bool = True):
    """``(dx, dW)``: :func:`backward` and :func:`weight_gradient` of ``delta`` in one pass.

    ``saved`` is the second value of :func:`drive_saving` at the same ``w`` and ``x`` (None:
    recomputed).  ``dx`` is None when ``inputs`` is false (the pre layer is the input), ``dW``
    None for operations without parameters.  Equal to the two separate maps (tests/test_conv.py).
    """
    pre, post = _shapes(network, proj)
    op = OPERATIONS[proj.operation]
    geo = _geometry(proj, pre, post)
    if op.vjp is not None:
        return op.vjp(delta, w, x, saved, pre, post, geo, inputs)
    dx = op.backward(delta, w, x, pre, post, geo) if inputs else None
    return dx, (op.weight_gradient(delta, x, pre, post, geo) if op.has_params else None)


def backward(network, proj, w, delta, x):
    """:math:`\\partial (\\delta\\cdot y)/\\partial x`: the error ``delta`` (batch, post.size) carried
    back to the pre layer through ``proj`` (the transposed map; ``x`` the pre rates, for pooling)."""
    pre, post = _shapes(network, proj)
    return OPERATIONS[proj.operation].backward(delta, w, x, pre, post, _geometry(proj, pre, post))


def tangent(network, proj, w, v, x):
    """:math:`J(x)\\,v`: the drive's linearisation at pre rates ``x`` applied to ``v`` (batch, pre.size).

    Every operation but max pooling is linear in its input, so this is :func:`drive` of ``v``;
    max pooling is piecewise linear, and its Jacobian at ``x`` picks ``v`` at the first maximum of
    each window of ``x`` (the routing :func:`backward` uses, so the two are adjoint).  The
    Hessian-vector products of a convolutional energy need it (:mod:`neurosim.energy`).
    """
    if proj.operation != "max_pool2d":
        return drive(network, proj, w, v)
    pre, post = _shapes(network, proj)
    geo = _geometry(proj, pre, post)
    xp = namespace(v, x)
    return _flat(xp.sum(_first_max_mask(x, pre, geo, v.dtype) * _windows(v, pre, geo, 0.0), axis=2))


def weight_gradient(network, proj, delta, x):
    """:math:`\\sum_n \\partial(\\delta_n\\cdot y_n)/\\partial W`: the batch-summed outer product of
    ``delta`` (batch, post.size) and pre rates ``x`` in the operation's weight shape."""
    pre, post = _shapes(network, proj)
    return OPERATIONS[proj.operation].weight_gradient(delta, x, pre, post, _geometry(proj, pre, post))


def max_pool_switched(network, proj, switches, x):
    """Max pooling with the winners fixed by ``switches``: :math:`y_{c,i,j} = x_{c,a^*}`,
    :math:`a^* = \\arg\\max_{a \\in \\text{window}(i,j)} s_{c,a}` (the first maximum, as
    :func:`backward`).

    Linear in ``x`` (batch, pre.size); equal to :func:`drive` at ``x = switches``; its adjoint is
    ``backward(network, proj, None, d, switches)``.  The deconvnet's max-pooling "switches",
    recorded in the feed-forward pass and reused top-down (Zeiler & Fergus 2014).
    """
    if proj.operation != "max_pool2d":
        raise ConfigError(f"Projection '{proj.name}': max_pool_switched needs a max_pool2d projection, got "
                          f"{proj.operation}")
    pre, post = _shapes(network, proj)
    geo = _geometry(proj, pre, post)
    xp = namespace(x, switches)
    return _flat(xp.sum(_first_max_mask(switches, pre, geo, x.dtype) * _windows(x, pre, geo, 0.0), axis=2))


def shape_problem(proj, pre_name: str, pre_shape, post_name: str, post_shape) -> str | None:
    """Why ``proj`` cannot join layers of these shapes (one line), or None when it can."""
    op = OPERATIONS[proj.operation]
    pre_shape, post_shape = tuple(pre_shape), tuple(post_shape)
    what = f"Projection '{proj.name}': {geometry_text(proj)}"
    if op.name == "dense":
        return None
    if op.name == "flatten":
        if math.prod(pre_shape) != math.prod(post_shape):
            return (f"{what} maps {pre_shape} to ({math.prod(pre_shape)},), but layer '{post_name}' has "
                    f"{math.prod(post_shape)} units; give it size = {math.prod(pre_shape)}")
        return None
    for name, shape in ((pre_name, pre_shape), (post_name, post_shape)):
        if len(shape) != 3:
            return (f"{what} needs layers with shape = [channels, height, width], but layer '{name}' has shape "
                    f"{shape}; give it a shape")
    if op.out_shape is None:  # an adjoint: the forward operation must map post onto pre
        fwd = OPERATIONS[op.transpose]
        geo = {**_geometry(proj, post_shape, pre_shape), "channels": pre_shape[0]}
        back = fwd.out_shape(post_shape, geo)
        if back != pre_shape:
            return (f"{what} is the adjoint of {fwd.name}, which maps {post_shape} (layer '{post_name}') to {back}, "
                    f"but layer '{pre_name}' has shape {pre_shape}")
        return None
    want = op.out_shape(pre_shape, _geometry(proj, pre_shape, post_shape))
    if min(want[1:]) < 1:
        return (f"{what}: the kernel does not fit the padded input {pre_shape} of layer '{pre_name}'; use a smaller "
                "kernel or more padding")
    if want != post_shape:
        return f"{what} maps {pre_shape} to {want}, but layer '{post_name}' has shape {post_shape}"
    return None

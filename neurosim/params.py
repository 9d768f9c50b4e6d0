"""Learned state of a :class:`~neurosim.network.Network`: weights and biases.

The description never holds numbers; ``init_params`` draws them.  Parameters are a
plain ``dict`` of arrays so that optimisers, checkpoints (NPZ) and rules all share
one format:

* ``params[projection.name]`` -- weight matrix of shape ``(post.size, pre.size)`` for
  every dense projection that is not ``tied_to`` another one; a convolution's kernel
  ``(c_out, c_in, kh, kw)``, a locally connected layer's ``(c_out, h_out, w_out, c_in, kh, kw)``
  (:func:`neurosim.conv.param_shape`); pooling and flatten have none;
* ``params[bias_key(layer.name)]`` -- bias vector of shape ``(layer.size,)`` for every
  non-input layer with ``bias = true``.

``init_params`` draws on the host with numpy's PCG64, so a seed gives the same weights
whatever array library trains them; :meth:`neurosim.arrays.Backend.put` moves them to a
device once.  Every other function here takes arrays of any library.
"""
from __future__ import annotations

import numpy as np

from . import conv as _ops
from .arrays import copy, diagonal_part, namespace
from .errors import ConfigError, ShapeError
from .network import Network, Projection
from .validation import all_finite, check, first_non_finite

__all__ = ["Params", "all_finite", "as_generator", "bias_key", "check_params", "copy_params", "init_params",
           "init_weight", "resolve_dtype", "weight"]

Params = dict  # dict[str, array] (numpy or a tensor library's); an alias that documents intent


def bias_key(layer_name: str) -> str:
    """Key of a layer's bias vector in a parameter dict (``"hidden1.bias"``)."""
    return f"{layer_name}.bias"


def as_generator(seed: int | np.random.Generator | None, owner: str = "random numbers") -> np.random.Generator:
    """Accept a seed or a Generator (never the hidden global NumPy state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check(owner, "seed", seed, "int", ge=0,
                                       hint="Pass an integer such as 0 or a numpy.random.Generator."))


def resolve_dtype(dtype, owner: str = "arrays") -> np.dtype:
    """``float32`` or ``float64`` as a numpy dtype (anything else is a one-line ConfigError)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:  # not a dtype at all ("float33", 5)
        name = dtype
    return np.dtype(check(owner, "dtype", name, choices=("float32", "float64")))


def init_weight(proj: Projection, n_post: int, n_pre: int, rng: np.random.Generator,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Draw one weight matrix of shape ``(n_post, n_pre)`` by the projection's scheme.

    With ``shape`` (a kernel), ``n_pre`` and ``n_post`` are the fan-in and fan-out of one
    weight (:func:`neurosim.conv.fans`: :math:`c_{in} k_h k_w` and :math:`c_{out} k_h k_w`, as
    PyTorch counts them) and the draw has that shape.

    ``xavier_uniform``: :math:`U(-a, a)`, :math:`a = s\\sqrt{6/(n_{pre}+n_{post})}` (Glorot &
    Bengio 2010); ``xavier_normal``: std :math:`s\\sqrt{2/(n_{pre}+n_{post})}`;
    ``he_normal``: std :math:`s\\sqrt{2/n_{pre}}`; ``lecun_normal``: std :math:`s/\\sqrt{n_{pre}}`;
    ``normal``: std :math:`s`; ``uniform``: :math:`U(-s, s)`; with :math:`s` = ``init_scale``.
    """
    s = proj.init_scale
    shape = (n_post, n_pre) if shape is None else tuple(shape)
    if proj.init == "xavier_uniform":
        a = s * np.sqrt(6.0 / (n_pre + n_post))
        return rng.uniform(-a, a, shape)
    if proj.init == "xavier_normal":
        return rng.normal(0.0, s * np.sqrt(2.0 / (n_pre + n_post)), shape)
    if proj.init == "he_normal":
        return rng.normal(0.0, s * np.sqrt(2.0 / n_pre), shape)
    if proj.init == "lecun_normal":
        return rng.normal(0.0, s / np.sqrt(n_pre), shape)
    if proj.init == "normal":
        return rng.normal(0.0, s, shape)
    if proj.init == "uniform":
        return rng.uniform(-s, s, shape)
    if proj.init == "zeros":
        return np.zeros(shape)
    if proj.init == "identity":
        return s * np.eye(n_post, n_pre)
    raise ConfigError(f"Projection '{proj.name}'.init: no initialiser for '{proj.init}'")


def init_params(network: Network, seed: int | np.random.Generator = 0, dtype="float64") -> Params:
    """Draw the weights and biases of ``network``.

    Parameters
    ----------
    network : Network
    seed : int or numpy.random.Generator
        Same seed, same numbers: projections are drawn in declaration order.
    dtype : float32 or float64

    Returns
    -------
    dict of str to ndarray
        See the module docstring for keys and shapes.  Biases start at ``Layer.bias_init``
        (zero by default).
    """
    rng = as_generator(seed, "init_params")
    dt = resolve_dtype(dtype, "init_params")
    params: Params = {}
    for proj in network.projections:
        if proj.tied_to is None and proj.operation == "dense":
            n_post, n_pre = network.layer(proj.post).size, network.layer(proj.pre).size
            params[proj.name] = init_weight(proj, n_post, n_pre, rng).astype(dt)
        elif proj.tied_to is None and _ops.has_params(proj):
            dims = network.layer(proj.pre).dims, network.layer(proj.post).dims
            fan_in, fan_out = _ops.fans(proj, *dims)
            params[proj.name] = init_weight(proj, fan_out, fan_in, rng, _ops.param_shape(proj, *dims)).astype(dt)
    for layer in network.layers:
        if layer.role != "input" and layer.bias:
            params[bias_key(layer.name)] = np.full(layer.size, layer.bias_init, dtype=dt)
    return params


def weight(network: Network, params: Params, proj: Projection | str) -> np.ndarray:
    """The effective weight matrix of a projection, shape (post, pre).

    A convolution's or locally connected layer's effective weight is its kernel (a tied
    adjoint uses the owner's kernel as it is: the adjoint operation transposes); pooling and
    flatten have none (``None``).

    :math:`W` (its own parameter), :math:`W_{tied}^\\top` (``tied_to``, ``tie = "transpose"``)
    or :math:`W_{tied}` (``tie = "copy"``); times the signed ``scale``; only its diagonal
    for ``connectivity = "one_to_one"`` (see :mod:`neurosim.network`).  A plain projection
    returns the parameter array itself.
    """
    if isinstance(proj, str):
        proj = network.projection(proj)
    if proj.operation != "dense":
        if not _ops.has_params(proj):
            return None
        w = params[proj.name if proj.tied_to is None else proj.tied_to]
        return w if proj.scale == 1.0 else proj.scale * w
    if proj.tied_to is None:
        w = params[proj.name]
    else:
        w = params[proj.tied_to] if proj.tie == "copy" else params[proj.tied_to].T
    if proj.connectivity == "one_to_one":
        w = diagonal_part(w)
    return w if proj.scale == 1.0 else proj.scale * w


def check_params(network: Network, params: Params) -> None:
    """Raise :class:`ShapeError` unless ``params`` fits ``network`` (keys, shapes, finite values)."""
    expected = {}
    for proj in network.projections:
        if proj.tied_to is None and _ops.has_params(proj):
            expected[proj.name] = _ops.param_shape(proj, network.layer(proj.pre).dims, network.layer(proj.post).dims)
    for layer in network.layers:
        if layer.role != "input" and layer.bias:
            expected[bias_key(layer.name)] = (layer.size,)
    check_param_arrays(params, expected, f"for network '{network.name}'; build them with "
                                         "neurosim.init_params(network)")


def check_param_arrays(params: Params, expected: dict, missing_hint: str) -> None:
    """Raise :class:`ShapeError` unless ``params`` holds every key of ``expected`` (key -> shape) with
    that shape and finite values; ``missing_hint`` ends the message for missing keys."""
    missing = sorted(set(expected) - set(params))
    if missing:
        raise ShapeError(f"params: missing {', '.join(repr(k) for k in missing)} {missing_hint}")
    namespace(*(params[k] for k in expected))  # one library: a ConfigError names a mix of numpy and tensors
    checked = {}
    for key, shape in expected.items():
        value = params[key]
        if namespace(value) is np:
            value = np.asarray(value)  # lists and scalars too
        if tuple(value.shape) != shape:
            raise ShapeError(f"params['{key}']: expected shape {shape}, got {tuple(value.shape)}")
        checked[key] = value
    bad = first_non_finite(checked)  # one reduction for all of them (one GPU synchronisation)
    if bad is not None:
        raise ShapeError(f"params['{bad}']: contains NaN or inf (training diverged? lower the "
                         "learning rate)")


def copy_params(params: Params) -> Params:
    """A copy of every array, each in its own library and on its own device."""
    return {k: copy(v) for k, v in params.items()}

"""The network description layer: :class:`Layer`, :class:`Projection`, :class:`Network`.

A :class:`Network` only *describes* a network -- populations, their neuron model
and transfer function, and the projections between them (which compartment they
target, how they are initialised, whether they learn).  It holds no weights and
no simulation: :func:`neurosim.params.init_params` draws weights for it, the
rate rules in :mod:`neurosim.rules` and the brian2 builder in
:mod:`neurosim.spiking` turn it into something that runs.  The same description
therefore feeds the exact backprop oracle, every rate rule and the spiking
backend.

Conventions
-----------
* A projection ``pre -> post`` has a weight matrix of shape ``(post.size, pre.size)``;
  the drive it gives is ``W @ r_pre`` (batched: ``r_pre @ W.T``).
* ``kind`` says what the projection is for: ``"feedforward"`` (the bottom-up pathway
  the reference differentiates), ``"feedback"`` (top-down: FA/DFA feedback matrices,
  TP inverses, pyramidal apical input) or ``"lateral"`` (within a stage: pyramidal
  <-> interneuron, recurrent connections).
* ``target`` is the compartment of the post-synaptic neuron model it lands on
  (``soma`` for point neurons; ``basal`` / ``apical`` / ``soma`` for two-compartment
  pyramidal neurons).
* ``tied_to`` makes a projection use the *transpose* of another projection's weights
  (symmetric Hopfield-like nets for equilibrium propagation, or a feedback pathway
  that is exactly ``W^T``); a tied projection has no parameters of its own.

Circuit extensions (for spiking circuits: issue 18; the defaults keep the meaning above)
----------------------------------------------------------------------------------------
* ``tie = "copy"`` uses the tied projection's weights *untransposed* (then both run
  ``pre -> post``); ``tie = "transpose"`` (default) is the ``W^T`` above.
* ``scale`` multiplies the effective weight, sign included: the effective weight of a
  projection is :math:`s\\,W`, :math:`s\\,W_{tied}^\\top` or :math:`s\\,W_{tied}`
  (:func:`neurosim.params.weight`).
* ``connectivity = "one_to_one"`` keeps only the diagonal (neuron *i* -> neuron *i*,
  equal sizes): the effective weight is :math:`s\\,\\mathrm{diag}(W)`.
* A :class:`Drive` injects a current into a layer's compartment that comes from no
  layer: ``scale * target`` (the supervision signal), ``scale`` (a constant) or
  ``scale * rate`` (an exponential trace of the layer's own spikes, time constant
  ``tau``), in units of the threshold; ``gated`` drives are multiplied by the phase gain
  of a multi-phase protocol (equilibrium propagation's :math:`\\beta(t)`).

Shapes and operations (issue 17: convolutional, pooling and locally connected networks)
---------------------------------------------------------------------------------------
* A layer may have a ``shape`` ``(channels, height, width)`` (its ``size`` is the product);
  rates still travel flat, ``(batch, size)``, in that C order.
* ``operation`` says what a projection computes (:mod:`neurosim.conv`): ``dense`` (default,
  the weight matrix above), ``conv2d`` (a kernel of shape ``(c_out, c_in, kh, kw)``),
  ``locally_connected2d`` (untied kernels, ``(c_out, h_out, w_out, c_in, kh, kw)``),
  ``max_pool2d`` / ``avg_pool2d`` / ``flatten`` (no parameters), and the adjoints
  ``conv_transpose2d`` / ``locally_connected_transpose2d`` (feedback pathways: the kernel has
  the forward kernel's shape, so FA's fixed random kernel and a ``tied_to`` transpose are
  written the same way as for dense layers).  ``kernel``, ``stride`` and ``padding`` (an int
  or ``[h, w]``) give the geometry; they mean nothing to ``dense`` and ``flatten``.  This
  field is separate from ``kind`` (what the pathway is for) and from the circuit extensions.

Everything is immutable and validated on construction; every error names the
object, the field, what was expected and what was given.  A network round-trips
through TOML (:meth:`Network.to_toml`, :meth:`Network.from_toml`), which is the
format of the model cards in ``models/``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import conv as _ops
from .errors import ConfigError, did_you_mean, unknown_name
from .neurons import BURSTING_MODELS, NEURON_MODELS, canonical_activation, check_neuron_model
from .validation import check, check_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROLES = ("input", "hidden", "output", "interneuron", "error")
KINDS = ("feedforward", "feedback", "lateral")
INITS = ("xavier_uniform", "xavier_normal", "he_normal", "lecun_normal", "normal", "uniform",
         "zeros", "identity")
LOSSES = ("mse", "cross_entropy")
#: Circuit extensions (issue 18): how a tied projection reads its owner, how neurons connect,
#: and where an injected :class:`Drive` comes from.
TIES = ("transpose", "copy")
CONNECTIVITIES = ("all", "one_to_one")
DRIVE_SOURCES = ("target", "constant", "rate")
#: Which spikes of its pre layer a projection carries (a bursting pre neuron splits them).
TRANSMITS = ("spikes", "events", "bursts")
#: What a projection computes (issue 17; :mod:`neurosim.conv`).
OPERATIONS = tuple(_ops.OPERATIONS)


def _pair(owner: str, field_name: str, value: Any, *, ge: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair ``(h, w)`` (each >= ``ge``)."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(value)
    elif isinstance(value, (list, tuple)):
        raise ConfigError(f"{owner}.{field_name}: expected an int or [height, width], got {list(value)!r}")
    else:
        pair = (value, value)
    return tuple(check(owner, field_name, v, "int", ge=ge) for v in pair)


def _freeze_params(owner: str, params: Any) -> tuple[tuple[str, Any], ...]:
    """Turn a mapping of scalar parameters into a sorted tuple of pairs (hashable, picklable)."""
    if params is None:
        return ()
    if isinstance(params, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in params):
        params = dict(params)
    if not isinstance(params, Mapping):
        raise ConfigError(f"{owner}.params: expected a table of name = value, got {type(params).__name__}")
    for key, value in params.items():
        if not isinstance(key, str):
            raise ConfigError(f"{owner}.params: keys must be strings, got {key!r}")
        if not isinstance(value, (bool, int, float, str)):
            raise ConfigError(f"{owner}.params.{key}: expected a number, bool or string, got "
                              f"{type(value).__name__}")
    return tuple(sorted(params.items()))


def _check_name(owner: str, name: Any) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ConfigError(f"{owner}.name: expected a non-empty string without surrounding spaces, got {name!r}")
    if not name.isprintable():  # control characters would not survive a TOML / JSON / terminal round trip
        raise ConfigError(f"{owner}.name: expected printable characters only, got {name!r}")


@dataclass(frozen=True)
class Layer:
    """A population of neurons.

    Parameters
    ----------
    name : str
        Unique name within the network (``"input"``, ``"hidden1"``, ``"pyr1"``...).
    size : int
        Number of neurons (> 0).
    activation : str
        Rate transfer function, one of :data:`neurosim.neurons.ACTIVATIONS`
        (``sigmoid``, ``tanh``, ``relu``, ``hard_sigmoid``, ``linear``).  For an input
        layer it is ignored by the reference (inputs are rates already).
    neuron : str
        Neuron model: ``rate``, ``rate_two_compartment``, ``lif``, ``lif_two_compartment``.
    role : str
        ``input``, ``hidden``, ``output``, ``interneuron`` or ``error``.
    bias : bool
        Whether the layer has a learnable bias (ignored for inputs).
    bias_init : float
        Initial value of every bias (0 by default).  Spiking layers need a drive above
        threshold to fire at all: the LIF rate-equivalent of a zero-bias layer is silent.
    shape : tuple of int, optional
        ``(channels, height, width)`` of a layer that convolutions and pooling read or
        write (``size`` may then be left out: it is the product).  Empty for a flat layer.
        A bias is one per unit (untied), shape ``(size,)``.
    params : mapping of str to scalar
        Neuron-model parameters (for instance ``g_apical`` of a two-compartment neuron,
        ``tau_m`` of a LIF in seconds).  Stored as a sorted tuple of pairs; use
        :attr:`param` to read one.
    """

    name: str
    size: int = 0
    activation: str = "tanh"
    neuron: str = "rate"
    role: str = "hidden"
    bias: bool = True
    params: tuple[tuple[str, Any], ...] = ()
    bias_init: float = 0.0
    shape: tuple[int, ...] = ()  # issue 17: (channels, height, width)

    def __post_init__(self):
        _check_name("Layer", self.name)
        owner = f"Layer '{self.name}'"
        if self.shape is None or isinstance(self.shape, (str, bytes)) or not isinstance(self.shape, (list, tuple)):
            raise ConfigError(f"{owner}.shape: expected [channels, height, width], got {self.shape!r}")
        shape = tuple(check(owner, "shape", v, "int", gt=0) for v in self.shape)
        if len(shape) not in (0, 3):
            raise ConfigError(f"{owner}.shape: expected [channels, height, width], got {list(shape)!r}")
        object.__setattr__(self, "shape", shape)
        if shape and self.size in (0, None):
            object.__setattr__(self, "size", math.prod(shape))
        elif shape and self.size != math.prod(shape):
            raise ConfigError(f"{owner}: size {self.size} does not match shape {shape} "
                              f"({math.prod(shape)} units); drop size or make it {math.prod(shape)}")
        if not shape and self.size in (0, None):
            raise ConfigError(f"{owner}: give its size (number of units) or its shape [channels, height, width]")
        object.__setattr__(self, "size", check(owner, "size", self.size, "int", gt=0))
        try:
            object.__setattr__(self, "activation", canonical_activation(self.activation))
            check_neuron_model(self.neuron)
        except KeyError as err:
            raise ConfigError(f"{owner}: {err}") from None
        check(owner, "role", self.role, choices=ROLES)
        check(owner, "bias", self.bias, "bool")
        object.__setattr__(self, "bias_init", float(check(owner, "bias_init", self.bias_init)))
        object.__setattr__(self, "params", _freeze_params(owner, self.params))

    @property
    def dims(self) -> tuple[int, ...]:
        """``shape`` if it has one, else ``(size,)``."""
        return self.shape or (self.size,)

    @property
    def compartments(self) -> tuple[str, ...]:
        """Compartments of this layer's neuron model (projection targets)."""
        return NEURON_MODELS[self.neuron]

    def param(self, key: str, default: Any = None) -> Any:
        """Return neuron parameter ``key`` (or ``default``)."""
        return dict(self.params).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "size": self.size, "activation": self.activation,
             "neuron": self.neuron, "role": self.role, "bias": self.bias}
        if self.bias_init:
            d["bias_init"] = self.bias_init
        if self.params:
            d["params"] = dict(self.params)
        if self.shape:
            d["shape"] = list(self.shape)
        return d


@dataclass(frozen=True)
class Projection:
    """A set of synapses from layer ``pre`` to layer ``post``.

    Parameters
    ----------
    pre, post : str
        Names of the pre- and post-synaptic layers.
    name : str, optional
        Unique name; defaults to ``"pre->post"`` (``"pre->post:kind"`` is a good
        choice when two projections join the same layers).
    kind : str
        ``feedforward``, ``feedback`` or ``lateral`` (see the module docstring).
    target : str
        Compartment of ``post`` it lands on: ``soma``, ``basal`` or ``apical``.
    init : str
        Initialisation scheme: ``xavier_uniform`` (default), ``xavier_normal``,
        ``he_normal``, ``lecun_normal``, ``normal`` (std = ``init_scale``), ``uniform``
        (on ``[-init_scale, init_scale]``), ``zeros``, ``identity``.
    init_scale : float
        Multiplies the scheme's standard deviation / range (> 0 unless ``zeros``).
    plastic : bool
        Whether learning rules may change it (fixed random feedback: ``False``).
    tied_to : str, optional
        Name of the projection whose weights this projection uses (see ``tie``).
    tie : {"transpose", "copy"}
        ``transpose`` (default): ``tied_to`` runs ``post -> pre`` and this projection uses
        its transpose; ``copy``: ``tied_to`` runs ``pre -> post`` and is used as is.  Only
        with ``tied_to``.
    scale : float
        Signed factor on the effective weight (1 by default; finite and nonzero).
    connectivity : {"all", "one_to_one"}
        ``all`` (default): every pre neuron to every post neuron; ``one_to_one``: neuron
        *i* to neuron *i* only (equal sizes), weight ``scale * diag(W)``.
    operation : str
        What it computes (issue 17): ``dense`` (default), ``conv2d``, ``locally_connected2d``,
        ``max_pool2d``, ``avg_pool2d``, ``flatten``, ``conv_transpose2d``,
        ``locally_connected_transpose2d`` (see the module docstring and :mod:`neurosim.conv`).
    kernel, stride, padding : int or (int, int)
        Geometry of the spatial operations: window ``kernel`` (required), ``stride`` (1 for
        convolutions, the kernel for pooling), zero ``padding`` (0; max pooling pads with
        :math:`-\\infty`).  An adjoint takes the geometry of the forward operation it mirrors.
    transmits : {"spikes", "events", "bursts"}
        Which spikes of ``pre`` it carries (circuit extension): every spike (default), or, from
        a bursting neuron (``burst_lif``), only *events* (a singlet or a burst's first spike:
        a short-term depressing synapse in the limit) or one spike per *burst* (its second
        spike: a short-term facilitating synapse in the limit; Payeur et al. 2021).
    """

    pre: str
    post: str
    name: str = ""
    kind: str = "feedforward"
    target: str = "soma"
    init: str = "xavier_uniform"
    init_scale: float = 1.0
    plastic: bool = True
    tied_to: str | None = None
    # circuit extensions (issue 18); defaults keep the plain projection above
    tie: str = "transpose"
    scale: float = 1.0
    connectivity: str = "all"
    # shapes and operations (issue 17); the default keeps the dense projection above
    operation: str = "dense"
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    transmits: str = "spikes"   # issue 18, burstprop: events / bursts of a bursting pre neuron

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", f"{self.pre}->{self.post}")
        _check_name("Projection", self.name)
        owner = f"Projection '{self.name}'"
        for fld in ("pre", "post"):
            value = getattr(self, fld)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{owner}.{fld}: expected a layer name, got {value!r}")
        check(owner, "kind", self.kind, choices=KINDS)
        check(owner, "init", self.init, choices=INITS)
        object.__setattr__(self, "init_scale", float(check(owner, "init_scale", self.init_scale, ge=0)))
        check(owner, "plastic", self.plastic, "bool")
        if self.tied_to is not None and not isinstance(self.tied_to, str):
            raise ConfigError(f"{owner}.tied_to: expected a projection name, got {self.tied_to!r}")
        check(owner, "tie", self.tie, choices=TIES)
        if self.tie != "transpose" and self.tied_to is None:
            raise ConfigError(f"{owner}.tie: '{self.tie}' needs tied_to (the projection whose weights it uses); "
                              "set tied_to or remove tie")
        scale = float(check(owner, "scale", self.scale))
        if scale == 0.0:
            raise ConfigError(f"{owner}: 'scale' must be a nonzero number, got 0.0; remove the projection instead")
        object.__setattr__(self, "scale", scale)
        check(owner, "connectivity", self.connectivity, choices=CONNECTIVITIES)
        check(owner, "transmits", self.transmits, choices=TRANSMITS)
        check(owner, "operation", self.operation, choices=OPERATIONS)
        op = _ops.OPERATIONS[self.operation]
        if op.geometric:
            if self.kernel is None:
                raise ConfigError(f"{owner}: operation '{self.operation}' needs a kernel (an int or "
                                  "[height, width])")
            kernel = _pair(owner, "kernel", self.kernel, ge=1)
            pooling = not op.has_params
            stride = _pair(owner, "stride", kernel if pooling and self.stride is None else
                           1 if self.stride is None else self.stride, ge=1)
            padding = _pair(owner, "padding", 0 if self.padding is None else self.padding, ge=0)
            if pooling and (2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]):
                raise ConfigError(f"{owner}.padding: at most half the kernel for pooling (a window of "
                                  f"padding only), got padding {list(padding)} for kernel {list(kernel)}")
            object.__setattr__(self, "kernel", kernel)
            object.__setattr__(self, "stride", stride)
            object.__setattr__(self, "padding", padding)
        else:
            given = [f for f in ("kernel", "stride", "padding") if getattr(self, f) is not None]
            if given:
                raise ConfigError(f"{owner}.{given[0]}: operation '{self.operation}' has no geometry; remove "
                                  f"{', '.join(given)} or use conv2d, locally_connected2d or a pooling")
        if self.operation != "dense":
            if self.connectivity != "all":
                raise ConfigError(f"{owner}.connectivity: 'one_to_one' is for dense projections, not "
                                  f"'{self.operation}'")
            if self.init == "identity":
                raise ConfigError(f"{owner}.init: 'identity' is for dense projections, not '{self.operation}'")
            if not op.has_params and self.tied_to is not None:
                raise ConfigError(f"{owner}.tied_to: '{self.operation}' has no weights to tie; remove tied_to")

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "pre": self.pre, "post": self.post, "kind": self.kind,
             "target": self.target, "init": self.init, "init_scale": self.init_scale,
             "plastic": self.plastic}
        if self.tied_to is not None:
            d["tied_to"] = self.tied_to
        # circuit extensions: written only when set, so plain networks read as before
        if self.tie != "transpose":
            d["tie"] = self.tie
        if self.scale != 1.0:
            d["scale"] = self.scale
        if self.connectivity != "all":
            d["connectivity"] = self.connectivity
        if self.transmits != "spikes":
            d["transmits"] = self.transmits
        # shapes and operations: written only when not dense
        if self.operation != "dense":
            d["operation"] = self.operation
        if self.kernel is not None:
            d.update(kernel=list(self.kernel), stride=list(self.stride), padding=list(self.padding))
        return d


@dataclass(frozen=True)
class Drive:
    """An injected current into one compartment of a layer, from no layer (circuit extension).

    The current, in units of the post layer's threshold (as a weighted input is), is

    .. math::  I = g(t)\\, s \\cdot \\begin{cases} t_i & \\text{source = "target"} \\\\
               1 & \\text{source = "constant"} \\\\ \\hat\\rho_i & \\text{source = "rate"}\\end{cases}

    where :math:`s` is ``scale``, :math:`t` the supervision target of the sample (rate
    units; the post layer's size must match it), :math:`\\hat\\rho` an exponential trace of
    the post layer's own spikes (:math:`\\tau\\,\\dot{\\hat\\rho} = -\\hat\\rho`, jump
    :math:`1/(\\tau r_0)` per spike, so its mean is the rate in rate units) and :math:`g(t)`
    the phase gain of the protocol (``gated``: equilibrium propagation's :math:`\\beta(t)`,
    Scellier & Bengio 2017) or 1.

    Parameters
    ----------
    post : str
        The layer receiving the current.
    source : {"target", "constant", "rate"}
    scale : float
        Signed factor (finite, nonzero).
    target : str
        Compartment of ``post`` (``soma`` by default).
    gated : bool
        Multiply by the phase gain (default ``False``: always on).
    tau : float
        Trace time constant in seconds, for ``source = "rate"`` (0.1 s).
    name : str, optional
        Unique name; defaults to ``"source->post"``.
    """

    post: str
    source: str = "target"
    scale: float = 1.0
    target: str = "soma"
    gated: bool = False
    tau: float = 0.1
    name: str = ""

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", f"{self.source}->{self.post}")
        _check_name("Drive", self.name)
        owner = f"Drive '{self.name}'"
        if not isinstance(self.post, str) or not self.post:
            raise ConfigError(f"{owner}.post: expected a layer name, got {self.post!r}")
        check(owner, "source", self.source, choices=DRIVE_SOURCES)
        scale = float(check(owner, "scale", self.scale))
        if scale == 0.0:
            raise ConfigError(f"{owner}: 'scale' must be a nonzero number, got 0.0; remove the drive instead")
        object.__setattr__(self, "scale", scale)
        check(owner, "target", self.target, "str")
        check(owner, "gated", self.gated, "bool")
        object.__setattr__(self, "tau", float(check(owner, "tau", self.tau, gt=0)))

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "post": self.post, "source": self.source, "scale": self.scale,
             "target": self.target, "gated": self.gated}
        if self.source == "rate":
            d["tau"] = self.tau
        return d


@dataclass(frozen=True)
class Network:
    """An immutable, validated description of a network of populations.

    Parameters
    ----------
    layers : sequence of Layer
        Populations; names must be unique.  Exactly one has ``role="input"``.
    projections : sequence of Projection
        Synapses between them; the feedforward projections must form a directed
        acyclic graph from the input layer.
    name : str
        A label (model-card name).
    loss : str
        The supervised loss the output layer is trained on: ``mse``
        (:math:`\\tfrac12\\lVert r_L - t\\rVert^2`) or ``cross_entropy``
        (softmax cross-entropy on the output layer's rates, used as logits).
    drives : sequence of Drive
        Injected currents of a spiking circuit (empty for plain networks).

    Examples
    --------
    >>> net = Network.feedforward([784, 256, 10], activation="tanh", loss="cross_entropy")
    >>> [p.name for p in net.projections]
    ['input->hidden1', 'hidden1->output']
    """

    layers: tuple[Layer, ...]
    projections: tuple[Projection, ...] = ()
    name: str = "network"
    loss: str = "mse"
    drives: tuple[Drive, ...] = ()  # circuit extension (issue 18)
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        layers = tuple(self.layers)
        projections = tuple(self.projections)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"Network.layers[{i}]: expected a Layer, got {type(layer).__name__}")
        for i, proj in enumerate(projections):
            if not isinstance(proj, Projection):
                raise ConfigError(f"Network.projections[{i}]: expected a Projection, got "
                                  f"{type(proj).__name__}")
        drives = tuple(self.drives)
        for i, drive in enumerate(drives):
            if not isinstance(drive, Drive):
                raise ConfigError(f"Network.drives[{i}]: expected a Drive, got {type(drive).__name__}")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "projections", projections)
        object.__setattr__(self, "drives", drives)
        check(f"Network '{self.name}'", "loss", self.loss, choices=LOSSES)
        if not layers:
            raise ConfigError(f"Network '{self.name}'.layers: a network needs at least an input and an "
                              "output layer, got none")
        by_name: dict[str, Layer] = {}
        for layer in layers:
            if layer.name in by_name:
                raise ConfigError(f"Network '{self.name}': two layers are named '{layer.name}'; "
                                  "layer names must be unique")
            by_name[layer.name] = layer
        inputs = [layer.name for layer in layers if layer.role == "input"]
        if len(inputs) != 1:
            raise ConfigError(f"Network '{self.name}': expected exactly one layer with role='input', got "
                              f"{len(inputs)} ({', '.join(inputs) or 'none'})")
        proj_by_name: dict[str, Projection] = {}
        for proj in projections:
            owner = f"Projection '{proj.name}'"
            if proj.name in proj_by_name:
                raise ConfigError(f"Network '{self.name}': two projections are named '{proj.name}'; give "
                                  "one an explicit name")
            for fld in ("pre", "post"):
                ref = getattr(proj, fld)
                if ref not in by_name:
                    raise ConfigError(f"{owner}.{fld}: no layer named '{ref}' in network "
                                      f"'{self.name}'.{did_you_mean(ref, by_name)}")
            post = by_name[proj.post]
            if proj.target not in post.compartments:
                raise ConfigError(f"{owner}.target: layer '{post.name}' (neuron '{post.neuron}') has "
                                  f"compartments {', '.join(post.compartments)}; got '{proj.target}'")
            if proj.transmits != "spikes" and by_name[proj.pre].neuron not in BURSTING_MODELS:
                raise ConfigError(f"{owner}.transmits: '{proj.transmits}' needs a bursting pre layer (neuron "
                                  f"{', '.join(BURSTING_MODELS)}), but '{proj.pre}' is '{by_name[proj.pre].neuron}'; "
                                  "use transmits = \"spikes\"")
            if post.role == "input" and proj.kind == "feedforward":
                raise ConfigError(f"{owner}: a feedforward projection cannot end on the input layer "
                                  f"'{post.name}'")
            if proj.init == "identity" and by_name[proj.pre].size != post.size:
                raise ConfigError(f"{owner}.init: 'identity' needs equal sizes, got {post.size} x "
                                  f"{by_name[proj.pre].size}")
            if proj.connectivity == "one_to_one" and by_name[proj.pre].size != post.size:
                raise ConfigError(f"{owner}.connectivity: 'one_to_one' needs equal sizes, got {post.size} x "
                                  f"{by_name[proj.pre].size}; use connectivity = \"all\"")
            problem = _ops.shape_problem(proj, proj.pre, by_name[proj.pre].dims, post.name, post.dims)
            if problem:
                raise ConfigError(problem)
            proj_by_name[proj.name] = proj
        for proj in projections:
            if proj.tied_to is None:
                continue
            owner = f"Projection '{proj.name}'.tied_to"
            other = proj_by_name.get(proj.tied_to)
            if other is None:
                raise ConfigError(f"{owner}: no projection named '{proj.tied_to}'."
                                  f"{did_you_mean(proj.tied_to, proj_by_name)}")
            if other.tied_to is not None:
                raise ConfigError(f"{owner}: '{other.name}' is itself tied; tie to the projection that "
                                  "owns the weights")
            if proj.operation != "dense" or other.operation != "dense":
                ok = other.operation == (proj.operation if proj.tie == "copy" else
                                         _ops.OPERATIONS[proj.operation].transpose)
                mine = _ops.param_shape(proj, by_name[proj.pre].dims, by_name[proj.post].dims)
                theirs = _ops.param_shape(other, by_name[other.pre].dims, by_name[other.post].dims)
                if not ok or mine != theirs or (proj.kernel, proj.stride, proj.padding) != (
                        other.kernel, other.stride, other.padding):
                    wanted = _ops.OPERATIONS[proj.operation].transpose if proj.tie != 'copy' else proj.operation
                    raise ConfigError(f"{owner}: a {proj.tie} tie of {_ops.geometry_text(proj)} (weights {mine}) "
                                      f"needs a {wanted} "
                                      f"of the same geometry, but '{other.name}' is {_ops.geometry_text(other)} "
                                      f"(weights {theirs})")
                continue
            # a tie is checked by shape, so a circuit may tie populations other than the owner's
            # (predictive coding's error populations read W^T of the value populations)
            want = (by_name[proj.post].size, by_name[proj.pre].size)
            have = (by_name[other.post].size, by_name[other.pre].size)
            if proj.tie == "copy" and have != want:
                raise ConfigError(f"{owner}: tie = 'copy' uses '{other.name}' untransposed, so its shape "
                                  f"(post x pre) must be {want[0]} x {want[1]}, got {have[0]} x {have[1]}")
            if proj.tie == "transpose" and have[::-1] != want:
                raise ConfigError(f"{owner}: a tied projection uses the transpose, so '{other.name}' must "
                                  f"run {proj.post}->{proj.pre} (or between layers of those sizes), but it runs "
                                  f"{other.pre}->{other.post}")
        drive_names: set[str] = set()
        for drive in drives:
            owner = f"Drive '{drive.name}'"
            if drive.name in drive_names:
                raise ConfigError(f"Network '{self.name}': two drives are named '{drive.name}'; give one an "
                                  "explicit name")
            drive_names.add(drive.name)
            if drive.post not in by_name:
                raise ConfigError(f"{owner}.post: no layer named '{drive.post}' in network "
                                  f"'{self.name}'.{did_you_mean(drive.post, by_name)}")
            post = by_name[drive.post]
            if post.role == "input":
                raise ConfigError(f"{owner}.post: the input layer '{post.name}' is driven by the data; drive "
                                  "another layer")
            if drive.target not in post.compartments:
                raise ConfigError(f"{owner}.target: layer '{post.name}' (neuron '{post.neuron}') has "
                                  f"compartments {', '.join(post.compartments)}; got '{drive.target}'")
        object.__setattr__(self, "_index", {"layers": by_name, "projections": proj_by_name})
        self._index["order"] = self._reachable(self._topological_order())  # raises on feedforward cycles

    # ------------------------------------------------------------------ constructors
    @classmethod
    def feedforward(cls, sizes: Iterable[int], activation: str = "tanh", *,
                    output_activation: str | None = None, loss: str = "mse",
                    init: str = "xavier_uniform", init_scale: float = 1.0, bias: bool = True,
                    bias_init: float = 0.0, neuron: str = "rate", name: str = "mlp") -> "Network":
        """A fully connected feed-forward chain ``input -> hidden1 -> ... -> output``.

        Parameters
        ----------
        sizes : sequence of int
            Layer sizes from input to output, at least two (``[784, 256, 10]``).
        activation : str
            Transfer function of the hidden layers.
        output_activation : str, optional
            Transfer function of the output layer; default ``linear`` for the
            ``cross_entropy`` loss (the rates are logits) and ``activation`` for ``mse``.
        """
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ConfigError(f"Network.feedforward sizes: expected at least 2 layer sizes (input and "
                              f"output), got {sizes!r}")
        sizes = [check("Network.feedforward", "sizes", s, "int", gt=0,
                       hint=f"(in sizes {sizes!r})") for s in sizes]
        if output_activation is None:
            output_activation = "linear" if loss == "cross_entropy" else activation
        names = ["input"] + [f"hidden{i}" for i in range(1, len(sizes) - 1)] + ["output"]
        layers = [Layer("input", sizes[0], activation="linear", role="input", bias=False, neuron=neuron)]
        for i in range(1, len(sizes) - 1):
            layers.append(Layer(names[i], sizes[i], activation=activation, neuron=neuron, bias=bias,
                                bias_init=bias_init))
        layers.append(Layer("output", sizes[-1], activation=output_activation, role="output",
                            neuron=neuron, bias=bias, bias_init=bias_init))
        projections = [Projection(names[i], names[i + 1], init=init, init_scale=init_scale)
                       for i in range(len(sizes) - 1)]
        return cls(tuple(layers), tuple(projections), name=name, loss=loss)

    def replace(self, **changes) -> "Network":
        """A copy with some fields changed (the original is never mutated)."""
        return dataclasses.replace(self, **changes)

    def add(self, *items: Layer | Projection | Drive) -> "Network":
        """A copy with extra layers, projections and/or drives appended (validated again)."""
        layers = self.layers + tuple(i for i in items if isinstance(i, Layer))
        projections = self.projections + tuple(i for i in items if isinstance(i, Projection))
        drives = self.drives + tuple(i for i in items if isinstance(i, Drive))
        bad = [i for i in items if not isinstance(i, (Layer, Projection, Drive))]
        if bad:
            raise ConfigError(f"Network.add: expected Layer, Projection or Drive objects, got "
                              f"{type(bad[0]).__name__}")
        return dataclasses.replace(self, layers=layers, projections=projections, drives=drives)

    # ------------------------------------------------------------------ queries
    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        try:
            return self._index["layers"][name]
        except KeyError:
            raise unknown_name(f"layer of network '{self.name}'", name, self._index["layers"]) from None

    def projection(self, name: str) -> Projection:
        """The projection called ``name``."""
        try:
            return self._index["projections"][name]
        except KeyError:
            raise unknown_name(f"projection of network '{self.name}'", name,
                               self._index["projections"]) from None

    def has_projection(self, name: str) -> bool:
        return name in self._index["projections"]

    @property
    def input_layer(self) -> Layer:
        return next(layer for layer in self.layers if layer.role == "input")

    @property
    def output_layer(self) -> Layer:
        """The single layer with ``role='output'`` (error if there is none or several)."""
        outs = [layer for layer in self.layers if layer.role == "output"]
        if len(outs) != 1:
            raise ConfigError(f"Network '{self.name}': expected exactly one layer with role='output', got "
                              f"{len(outs)}; mark the read-out layer with role = \"output\"")
        return outs[0]

    def select(self, kind: str | None = None, *, pre: str | None = None, post: str | None = None,
               target: str | None = None) -> tuple[Projection, ...]:
        """Projections matching every given criterion, in declaration order."""
        check("Network.select", "kind", kind, choices=KINDS, allow_none=True)
        return tuple(p for p in self.projections
                     if (kind is None or p.kind == kind) and (pre is None or p.pre == pre)
                     and (post is None or p.post == post) and (target is None or p.target == target))

    def _topological_order(self) -> tuple[str, ...]:
        ff = self.select("feedforward")
        indeg = {layer.name: 0 for layer in self.layers}
        for p in ff:
            indeg[p.post] += 1
        order = [layer.name for layer in self.layers if indeg[layer.name] == 0]
        queue = list(order)
        while queue:
            node = queue.pop(0)
            for p in ff:
                if p.pre == node:
                    indeg[p.post] -= 1
                    if indeg[p.post] == 0:
                        order.append(p.post)
                        queue.append(p.post)
        if len(order) != len(self.layers):
            cyclic = sorted(set(indeg) - set(order))
            raise ConfigError(f"Network '{self.name}': the feedforward projections form a cycle through "
                              f"{', '.join(cyclic)}; mark recurrent connections kind = \"lateral\" or "
                              "\"feedback\"")
        return tuple(order)

    def _reachable(self, order: tuple[str, ...]) -> tuple[Layer, ...]:
        reached = {self.input_layer.name}
        for name in order:
            if any(p.pre in reached for p in self.select("feedforward", post=name)):
                reached.add(name)
        return tuple(self.layer(n) for n in order if n in reached)

    def feedforward_order(self) -> tuple[Layer, ...]:
        """Layers reached from the input by feedforward projections, in topological order.

        Computed once at construction (the description is immutable): the forward and
        backward passes ask for it on every mini-batch.
        """
        return self._index["order"]

    def chain(self) -> tuple[Projection, ...]:
        """The feedforward projections of a simple chain ``input -> ... -> output``, in order.

        Rules that assume a layered chain (FA, DFA, TP, PC...) call this; it fails
        with a clear message when the feedforward graph is not a chain.
        """
        layer = self.input_layer.name
        out = self.output_layer.name
        path = []
        seen = {layer}
        while layer != out:
            nxt = self.select("feedforward", pre=layer)
            if len(nxt) != 1:
                raise ConfigError(f"Network '{self.name}': expected a layered chain from the input to the "
                                  f"output, but layer '{layer}' has {len(nxt)} outgoing feedforward "
                                  "projections")
            proj = nxt[0]
            if len(self.select("feedforward", post=proj.post)) != 1 or proj.post in seen:
                raise ConfigError(f"Network '{self.name}': expected a layered chain, but layer "
                                  f"'{proj.post}' has several incoming feedforward projections")
            path.append(proj)
            seen.add(proj.post)
            layer = proj.post
        return tuple(path)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes in feedforward order (``(784, 256, 10)`` for an MLP)."""
        return tuple(layer.size for layer in self.feedforward_order())

    def summary(self) -> str:
        """A human-readable table of layers and projections."""
        lines = [f"Network '{self.name}' (loss: {self.loss})"]
        for layer in self.layers:
            extra = f" params={dict(layer.params)}" if layer.params else ""
            extra += f" shape={layer.shape}" if layer.shape else ""
            lines.append(f"  layer {layer.name:<14} {layer.size:>6}  {layer.role:<11} {layer.neuron:<20} "
                         f"{layer.activation}{extra}")
        for p in self.projections:
            tie = f" tied_to={p.tied_to}" if p.tied_to else ""
            tie += f" ({p.tie})" if p.tie != "transpose" else ""
            tie += f" scale={p.scale:g}" if p.scale != 1.0 else ""
            tie += " one_to_one" if p.connectivity != "all" else ""
            tie += f" {_ops.geometry_text(p)}" if p.operation != "dense" else ""
            lines.append(f"  proj  {p.name:<24} {p.kind:<11} -> {p.target:<6} init={p.init}"
                         f"({p.init_scale:g}){'' if p.plastic else ' fixed'}{tie}")
        for d in self.drives:
            lines.append(f"  drive {d.name:<24} {d.source:<11} -> {d.post}:{d.target} scale={d.scale:g}"
                         f"{' gated' if d.gated else ''}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the TOML model-card layout)."""
        out = {"network": {"name": self.name, "loss": self.loss},
               "layers": [layer.to_dict() for layer in self.layers],
               "projections": [p.to_dict() for p in self.projections]}
        if self.drives:
            out["drives"] = [d.to_dict() for d in self.drives]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "network description") -> "Network":
        """Build a network from the TOML layout (see ``models/*.toml``).

        Besides explicit ``[[layers]]``/``[[projections]]`` tables, a ``[network]`` table may
        give ``sizes = [784, 256, 10]`` and ``activation = "tanh"`` (plus ``output_activation``,
        ``init``, ``init_scale``) as a shorthand for :meth:`feedforward`.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a table, got {type(data).__name__}")
        head = dict(data.get("network", {}))
        known_head = {"name", "loss", "sizes", "activation", "output_activation", "init", "init_scale",
                      "bias", "bias_init", "neuron", "description"}
        check_keys(f"{source} [network]", head, known_head)
        name = head.get("name", "network")
        loss = head.get("loss", "mse")
        if "sizes" in head:
            sizes = head["sizes"]
            if isinstance(sizes, (str, bytes, Mapping)) or not isinstance(sizes, (list, tuple)) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in sizes):
                raise ConfigError(f"{source} [network].sizes: expected a list of layer sizes like [784, 256, 10], "
                                  f"got {sizes!r}")
            if "layers" in data or "projections" in data:
                raise ConfigError(f"{source}: give either [network] sizes = [...] or [[layers]] and "
                                  "[[projections]] tables, not both")
            kwargs = {k: head[k] for k in ("activation", "output_activation", "init", "init_scale", "bias",
                                           "bias_init", "neuron") if k in head}
            net = cls.feedforward(head["sizes"], name=name, loss=loss, **kwargs)
            return net.replace(drives=_drives(data, source)) if "drives" in data else net
        layers = [_build(Layer, entry, f"{source} [[layers]] #{i + 1}")
                  for i, entry in enumerate(data.get("layers", []))]
        projections = [_build(Projection, entry, f"{source} [[projections]] #{i + 1}")
                       for i, entry in enumerate(data.get("projections", []))]
        return cls(tuple(layers), tuple(projections), name=name, loss=loss, drives=_drives(data, source))

    def to_toml(self) -> str:
        """TOML text that :meth:`from_toml` turns back into an equal network."""
        return dumps_toml(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, *, source: str = "TOML text") -> "Network":
        """Parse TOML text (a model card or the output of :meth:`to_toml`)."""
        return cls.from_dict(parse_toml(text, source), source=source)

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_toml` to ``path``."""
        path = Path(path)
        path.write_text(self.to_toml())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        """Read a network (or the network of a model card) from a TOML file."""
        return cls.from_toml(_read_text(path), source=str(path))


def _drives(data: Mapping[str, Any], source: str) -> tuple[Drive, ...]:
    entries = data.get("drives", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source} drives: expected [[drives]] tables, got {type(entries).__name__}")
    return tuple(_build(Drive, entry, f"{source} [[drives]] #{i + 1}") for i, entry in enumerate(entries))


def _build(klass, entry: Any, owner: str):
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{owner}: expected a table, got {type(entry).__name__}")
    names = {f.name for f in dataclasses.fields(klass) if f.init}
    check_keys(owner, entry, names)
    try:
        return klass(**entry)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{owner}: {err}") from None


def _read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file '{path}' does not exist; pass the path of a .toml model card "
                          "(see models/)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"model file '{path}': not UTF-8 TOML text (a binary, gzip or Latin-1 file?); pass a "
                          ".toml model card (see models/)") from None
    except OSError as err:
        raise ConfigError(f"model file '{path}': cannot be read ({err.strerror or err})") from None


def parse_toml(text: str, source: str = "TOML text") -> dict[str, Any]:
    """Parse TOML, turning syntax errors into a one-line :class:`ConfigError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: malformed TOML: {err}") from None


# ---------------------------------------------------------------------- TOML writer
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"cannot write a {type(value).__name__} to TOML: {value!r}")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write nested plain data as TOML: scalars first, then tables, then arrays of tables."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)
               and not (isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v))}
    for k, v in scalars.items():
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines.append(f"\n[{_toml_key(k)}]")
            lines.extend(f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items())
    for k, v in data.items():
        if isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v):
            for item in v:
                lines.append(f"\n[[{_toml_key(k)}]]")
                lines.extend(f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in item.items())
    return "\n".join(lines).lstrip("\n") + "\n"



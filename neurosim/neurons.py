"""Neuron models as parameters, and their rate transfer functions.

A rate neuron maps its (somatic) membrane potential ``u`` to a firing rate
``phi(u)``.  The transfer functions below are the ones the description layer
accepts by name (``Layer.activation``); each knows its derivative, which the
exact backprop oracle (:mod:`neurosim.reference`) and every local rule use.

Spiking neuron models (LIF, two-compartment LIF) are described here as plain
parameters too; the brian2 backend (:mod:`neurosim.spiking`) attaches units and
builds them.  This module imports no simulator.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .arrays import astype, is_floating, namespace
from .errors import ConfigError, unknown_name
from .validation import check


@dataclass(frozen=True)
class Activation:
    """A pointwise rate transfer function :math:`\\phi(u)` and its derivative.

    Parameters
    ----------
    name : str
        Registry name (used in model cards).
    function : callable
        ``phi(u) -> ndarray`` of the same shape as ``u``.
    derivative : callable
        ``phi'(u) -> ndarray`` of the same shape as ``u``.  Where ``phi`` has a
        kink (relu at 0, hard sigmoid at 0 and 1) the derivative takes the value of
        the right-hand side below the kink, i.e. 0 at ``u = 0`` for relu; the
        finite-difference checks avoid kinks.
    bounds : (float, float)
        Range of the rates, ``(-inf, inf)`` when unbounded.
    monotone : bool
        Whether ``phi`` is non-decreasing (every built-in one is), so that it commutes with a
        maximum: :math:`\\max_i \\phi(u_i) = \\phi(\\max_i u_i)` (what lets
        :func:`neurosim.rules.equilibrium.pool_before_activation` move it past a max pooling).
    """

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[float, float]
    monotone: bool = True

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.function(u)


def _sigmoid(u):
    # exp of a large negative argument overflows; the two-branch form never does.  Both
    # branches use e = exp(-|u|): 1/(1+e) for u >= 0 and e/(1+e) = exp(u)/(1+exp(u)) below.
    xp = namespace(u)
    u = xp.asarray(u)
    e = xp.exp(-xp.abs(u))
    return xp.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_prime(u):
    s = _sigmoid(u)
    return s * (1.0 - s)


def _tanh(u):
    return namespace(u).tanh(u)


def _tanh_prime(u):
    t = namespace(u).tanh(u)
    return 1.0 - t * t


def _relu(u):
    return namespace(u).maximum(u, 0.0)


def _relu_prime(u):
    u = namespace(u).asarray(u)
    return astype(u > 0, u.dtype if is_floating(u) else "float64")


def _hard_sigmoid(u):
    # Scellier & Bengio (2017): rho(u) = clip(u, 0, 1).
    return namespace(u).clip(u, 0.0, 1.0)


def _hard_sigmoid_prime(u):
    u = namespace(u).asarray(u)
    return astype((u > 0) & (u < 1), u.dtype if is_floating(u) else "float64")


def _linear(u):
    return namespace(u).asarray(u)


def _linear_prime(u):
    u = namespace(u).asarray(u)
    return namespace(u).ones_like(u if is_floating(u) else astype(u, "float64"))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _sigmoid_prime, (0.0, 1.0)),
        Activation("tanh", _tanh, _tanh_prime, (-1.0, 1.0)),
        Activation("relu", _relu, _relu_prime, (0.0, np.inf)),
        Activation("hard_sigmoid", _hard_sigmoid, _hard_sigmoid_prime, (0.0, 1.0)),
        Activation("linear", _linear, _linear_prime, (-np.inf, np.inf)),
    )
}
_ALIASES = {"logistic": "sigmoid", "identity": "linear", "hardsigmoid": "hard_sigmoid",
            "hard-sigmoid": "hard_sigmoid"}


_PARAMETRIC = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$")


def _parametric(name: str) -> Activation | None:
    """The activation of a parametric name ``family(key=value, ...)``, or None if ``name`` has no
    parentheses; a ConfigError names what is wrong with the parameters."""
    if name.strip() in PARAMETRIC_ACTIVATIONS:   # the bare family name: its default parameters
        return PARAMETRIC_ACTIVATIONS[name.strip()][0]()
    match = _PARAMETRIC.match(name)
    if match is None:
        return None
    family, body = match.groups()
    if family not in PARAMETRIC_ACTIVATIONS:
        raise unknown_name("parametric activation", family, PARAMETRIC_ACTIVATIONS)
    factory, keys = PARAMETRIC_ACTIVATIONS[family]
    kwargs = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in keys:
            raise ConfigError(f"activation '{name}': expected {family}({', '.join(k + '=<number>' for k in keys)}), "
                              f"got '{item}'")
        try:
            kwargs[key] = float(value)
        except ValueError:
            raise ConfigError(f"activation '{name}': {key} must be a number, got '{value.strip()}'") from None
    return factory(**kwargs)


def canonical_activation(name: str) -> str:
    """Return the registry name of an activation, resolving aliases.

    A parametric family is written ``family(key=value)`` (:data:`PARAMETRIC_ACTIVATIONS`:
    ``"soft_lif(sigma=0.05)"``); its canonical name spells the value as Python's ``repr`` of
    the float, and the family's default parameters give the bare name (``"soft_lif"``).
    Parametric families are not in :data:`ACTIVATIONS` (the suites that sweep it draw random
    networks for parameter-free transfer functions).

    Raises
    ------
    UnknownNameError
        If ``name`` is neither a registered activation nor an alias.
    ConfigError
        If a parametric name has parameters its family does not take, or a bad value.
    """
    if not isinstance(name, str):
        raise unknown_name("activation", repr(name), ACTIVATIONS)
    act = _parametric(name)
    if act is not None:
        return act.name
    name = _ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, [*ACTIVATIONS, *(f"{k}(...)" for k in PARAMETRIC_ACTIVATIONS)])
    return name


def get_activation(name: str) -> Activation:
    """Look up an :class:`Activation` by (alias or parametric) name."""
    act = _parametric(name) if isinstance(name, str) else None
    return act if act is not None else ACTIVATIONS[canonical_activation(name)]


# --------------------------------------------------------------------------- neuron models
#: Neuron models a :class:`~neurosim.network.Layer` may name, and the compartments each
#: has (a projection's ``target`` must be one of them).
NEURON_MODELS: dict[str, tuple[str, ...]] = {
    "rate": ("soma",),
    "rate_two_compartment": ("soma", "basal", "apical"),
    "lif": ("soma",),
    "lif_two_compartment": ("soma", "basal", "apical"),
    # the spiking microcircuit's neuron (Sacramento et al. 2018): Poisson spikes at
    # r_max * phi(u) from a two-compartment rate model (neurosim.spiking.dendritic)
    "poisson_two_compartment": ("soma", "basal", "apical"),
    # Urbanczik & Senn's (2014) Poisson neuron: soma U, dendrite V_w (basal), conductance
    # nudging of the soma by another layer's potential (UrbanczikSennParameters)
    "urbanczik_senn": ("soma", "basal"),
    # conductance-based LIF (Song, Miller & Abbott 2000; Diehl & Cook 2015), and the same with an
    # adaptive threshold (Diehl & Cook's excitatory neurons): ConductanceLIFParameters
    "conductance_lif": ("soma",),
    "adaptive_conductance_lif": ("soma",),
    # a relay (NEST's parrot_neuron): spikes one step after its input reaches 1/2 (a weight-1
    # synapse repeats its source's spikes, one dt later); STDP protocols with prescribed post spikes
    "parrot": ("soma",),
    # a somatic LIF whose spikes (events) become bursts with a probability set by an apical
    # compartment (Payeur et al. 2021): BurstParameters, neurosim.spiking.burstprop
    "burst_lif": ("soma", "apical"),
}

#: Neuron models whose output splits into events and bursts (``Projection.transmits``).
BURSTING_MODELS = ("burst_lif",)


def check_neuron_model(name: str) -> str:
    """Validate a neuron model name and return it."""
    if name not in NEURON_MODELS:
        raise unknown_name("neuron model", name, NEURON_MODELS)
    return name


# --------------------------------------------------------------------------- LIF rate transfer
#: Rate unit of the rate side when it stands for a spiking network: a rate of 1 in a
#: rate network is :data:`RATE_SCALE_HZ` spikes per second in the spiking one.
RATE_SCALE_HZ = 100.0


def _from_layer_params(cls, layer):
    """``cls`` (a neuron-parameter dataclass) from its defaults and ``layer.params``: keys that are
    not its fields are ignored (they belong to other neuron models); a bad value raises
    :class:`ConfigError` naming the layer."""
    known = set(cls.__dataclass_fields__)
    try:
        return cls(**{k: v for k, v in layer.params if k in known})
    except ConfigError as err:
        raise ConfigError(f"Layer '{layer.name}'.params: {err}") from None


@dataclass(frozen=True)
class LIFParameters:
    """Parameters of a leaky integrate-and-fire neuron, plain SI floats (no units).

    Voltages are relative to the resting potential.  A layer overrides any of them
    through ``Layer.params`` (``tau_m = 0.01`` in a model card); :mod:`neurosim.spiking`
    attaches brian2 units.

    Attributes
    ----------
    tau_m : float
        Membrane time constant, seconds (20 ms).
    t_ref : float
        Absolute refractory period, seconds (2 ms).
    v_threshold : float
        Spike threshold above rest, volts (20 mV).
    v_reset : float
        Reset potential above rest, volts (0 V: reset to rest).
    tau_syn : float
        Decay time constant of the exponential synaptic current, seconds (5 ms).
    tau_dend : float
        Time constant of the basal/apical dendritic compartments, seconds (10 ms).
    g_basal, g_apical : float
        Dendrite-to-soma coupling of a two-compartment neuron: the soma is driven by
        ``g_basal * v_basal + g_apical * v_apical`` (1 and 0: apical input is
        segregated, as in Guerguiev, Lillicrap & Richards 2017).
    """

    tau_m: float = 0.020
    t_ref: float = 0.002
    v_threshold: float = 0.020
    v_reset: float = 0.0
    tau_syn: float = 0.005
    tau_dend: float = 0.010
    g_basal: float = 1.0
    g_apical: float = 0.0

    def __post_init__(self):
        for name in ("tau_m", "v_threshold", "tau_syn", "tau_dend"):
            check("LIFParameters", name, getattr(self, name), gt=0, hint="Plain SI units (seconds or volts).")
        for name in ("t_ref", "g_basal", "g_apical"):
            check("LIFParameters", name, getattr(self, name), ge=0)
        check("LIFParameters", "v_reset", self.v_reset, lt=self.v_threshold, hint="(below v_threshold, volts)")

    @classmethod
    def from_layer(cls, layer) -> LIFParameters:
        """The LIF parameters of a :class:`~neurosim.network.Layer` (defaults + ``layer.params``).

        Keys of ``layer.params`` that are not LIF parameters are ignored (they belong to
        other neuron models); a LIF key with a bad value raises :class:`ConfigError`.
        """
        return _from_layer_params(cls, layer)

    @property
    def u_reset(self) -> float:
        """Reset potential in units of the threshold, :math:`V_r / V_{th}`."""
        return self.v_reset / self.v_threshold


@dataclass(frozen=True)
class BurstParameters:
    """The burst mechanism of a ``burst_lif`` neuron (Payeur et al. 2021), plain SI floats.

    Every somatic spike is an *event*; with probability

    .. math::  p = \\sigma\\big(\\beta\\, v_A / V_{th} + \\alpha\\big), \\qquad \\sigma(\\alpha) = \\bar p_0,

    drawn at the event from the apical potential :math:`v_A` (threshold units), a second spike
    follows ``burst_delay`` later and the pair is a *burst*.  The soma is not reset by the
    second spike, so the event rate does not depend on the apical input.

    Attributes
    ----------
    burst_baseline : float
        :math:`\\bar p_0` in (0, 1), the burst probability at zero apical potential (0.2).
    burst_gain : float
        :math:`\\beta > 0`, slope of the burst probability in the apical potential (1).
    burst_delay : float
        Seconds from an event to the burst's second spike (2 ms); at most the refractory
        period, so no event falls inside a burst.

    References
    ----------
    Payeur, A., Guerguiev, J., Zenke, F., Richards, B. A. & Naud, R. (2021). Burst-dependent
    synaptic plasticity can coordinate learning in hierarchical circuits. Nat. Neurosci. 24,
    1010-1019.
    """

    burst_baseline: float = 0.2
    burst_gain: float = 1.0
    burst_delay: float = 0.002

    def __post_init__(self):
        check("BurstParameters", "burst_baseline", self.burst_baseline, gt=0, lt=1)
        check("BurstParameters", "burst_gain", self.burst_gain, gt=0)
        check("BurstParameters", "burst_delay", self.burst_delay, gt=0, hint="Seconds (e.g. 0.002).")

    @classmethod
    def from_layer(cls, layer) -> "BurstParameters":
        """Defaults + ``layer.params`` (other keys ignored; a bad value raises :class:`ConfigError`)."""
        return _from_layer_params(cls, layer)

    @property
    def alpha(self) -> float:
        """:math:`\\alpha = \\ln(\\bar p_0 / (1 - \\bar p_0))`."""
        return float(np.log(self.burst_baseline / (1.0 - self.burst_baseline)))

    def probability(self, apical):
        """The closed form :math:`\\sigma(\\beta u_A + \\alpha)` for apical potentials ``apical`` (threshold units)."""
        return 1.0 / (1.0 + np.exp(-(self.burst_gain * np.asarray(apical, dtype=np.float64) + self.alpha)))


@dataclass(frozen=True)
class ConductanceLIFParameters:
    r"""A conductance-based LIF neuron, plain SI floats (volts, seconds); absolute potentials.

    .. math::
        \tau_m \dot v = (E_l - v) + g_e (E_e - v) + g_i (E_i - v), \qquad
        \tau_{ge} \dot g_e = -g_e, \qquad \tau_{gi} \dot g_i = -g_i,

    conductances in units of the leak conductance (an excitatory input spike adds its weight
    to :math:`g_e`, an inhibitory one to :math:`g_i`); a spike when
    :math:`v > v_{th} + \theta - \theta_{off}`, then :math:`v \leftarrow v_r` for
    :math:`t_{ref}`.  The adaptive threshold (``neuron = "adaptive_conductance_lif"``) obeys
    :math:`\tau_\theta \dot\theta = -\theta`, :math:`\theta \mathrel{+}= \theta_+` per spike
    (Diehl & Cook 2015); for ``"conductance_lif"`` :math:`\theta = \theta_{off} = 0`.
    Defaults: the neuron of Song, Miller & Abbott (2000) as in brian2's example of that paper.
    """

    tau_m: float = 0.010
    e_leak: float = -0.074
    v_reset: float = -0.060
    v_threshold: float = -0.054
    e_exc: float = 0.0
    e_inh: float = -0.100
    tau_ge: float = 0.005
    tau_gi: float = 0.005
    t_ref: float = 0.0
    theta_plus: float = 0.0
    tau_theta: float = 1e4
    theta_offset: float = 0.0
    v_init: float | None = None   # potential at the start of every presentation (default e_leak)

    def __post_init__(self):
        for name in ("tau_m", "tau_ge", "tau_gi", "tau_theta"):
            check("ConductanceLIFParameters", name, getattr(self, name), gt=0, hint="Plain SI units (seconds).")
        for name in ("t_ref", "theta_plus"):
            check("ConductanceLIFParameters", name, getattr(self, name), ge=0)

    @classmethod
    def from_layer(cls, layer) -> "ConductanceLIFParameters":
        """Defaults + ``layer.params`` (other keys ignored; a bad value raises :class:`ConfigError`)."""
        return _from_layer_params(cls, layer)

    @property
    def start(self) -> float:
        """Potential at the start of a presentation."""
        return self.e_leak if self.v_init is None else float(self.v_init)


def _as_float_array(x):
    x = namespace(x).asarray(x)
    return x if is_floating(x) else astype(x, "float64")


def lif_rate(drive, tau_m: float = 0.020, t_ref: float = 0.002, u_reset: float = 0.0) -> np.ndarray:
    """Firing rate (Hz) of a LIF neuron under a constant drive, with refractoriness.

    .. math::  r(u) = \\frac{1}{t_{ref} + \\tau_m \\ln\\dfrac{u - u_r}{u - 1}} \\quad (u > 1),
               \\qquad r(u) = 0 \\quad (u \\le 1),

    where :math:`u = R I / V_{th}` is the steady-state depolarisation the input current
    would produce, in units of the threshold, and :math:`u_r = V_r / V_{th}`: the time to
    charge from reset to threshold, :math:`\\tau_m \\ln((u-u_r)/(u-1))`, plus the refractory
    period (Gerstner, Kistler, Naud & Paninski 2014, *Neuronal Dynamics*, eq. 1.13;
    Hunsberger & Eliasmith 2015).  :math:`r \\to 1/t_{ref}` as :math:`u \\to \\infty`.

    Parameters
    ----------
    drive : array_like
        :math:`u`, any shape.
    tau_m, t_ref : float
        Seconds.
    u_reset : float
        Reset potential in units of the threshold (< 1).

    Returns
    -------
    ndarray of the shape of ``drive``, Hz.
    """
    u = _as_float_array(drive)
    xp = namespace(u)
    above = u > 1.0
    ua = xp.where(above, u, 2.0)  # any value > 1 where the rate is 0: keeps the log finite
    return xp.where(above, 1.0 / (t_ref + tau_m * xp.log((ua - u_reset) / (ua - 1.0))), 0.0)


def lif_rate_derivative(drive, tau_m: float = 0.020, t_ref: float = 0.002, u_reset: float = 0.0) -> np.ndarray:
    """:math:`dr/du` of :func:`lif_rate` (Hz per threshold unit).

    .. math::  \\frac{dr}{du} = \\frac{\\tau_m (1 - u_r)}{(u - u_r)(u - 1)\\,T(u)^2}, \\qquad
               T(u) = t_{ref} + \\tau_m \\ln\\frac{u - u_r}{u - 1}

    for :math:`u > 1` and 0 below.  It diverges (slowly, like
    :math:`1/((u-1)\\ln^2(u-1))`) as :math:`u \\to 1^+`: the rate leaves zero with a vertical
    tangent.
    """
    u = _as_float_array(drive)
    xp = namespace(u)
    above = u > 1.0
    ua = xp.where(above, u, 2.0)  # any value > 1 where the derivative is 0: keeps the log finite
    period = t_ref + tau_m * xp.log((ua - u_reset) / (ua - 1.0))
    return xp.where(above, tau_m * (1.0 - u_reset) / ((ua - u_reset) * (ua - 1.0) * period * period), 0.0)


_LIF_DEFAULT = LIFParameters()


def _lif_activation(u):
    return lif_rate(u, _LIF_DEFAULT.tau_m, _LIF_DEFAULT.t_ref, _LIF_DEFAULT.u_reset) / RATE_SCALE_HZ


def _lif_activation_prime(u):
    return lif_rate_derivative(u, _LIF_DEFAULT.tau_m, _LIF_DEFAULT.t_ref, _LIF_DEFAULT.u_reset) / RATE_SCALE_HZ


# ``activation = "lif"``: the rate network a spiking network of default LIF neurons computes
# (rates in units of RATE_SCALE_HZ, drive in units of the threshold).  It saturates at
# 1 / (t_ref * RATE_SCALE_HZ) = 5.
ACTIVATIONS["lif"] = Activation("lif", _lif_activation, _lif_activation_prime,
                                (0.0, 1.0 / (_LIF_DEFAULT.t_ref * RATE_SCALE_HZ)))


# --------------------------------------------------------------------------- soft LIF
def _softplus_parts(drive, sigma: float):
    """``(u, z, log s, log sigmoid(z))`` with :math:`z = (u-1)/\\sigma` and
    :math:`s = \\sigma \\ln(1 + e^z)`, each computed without overflow or underflow (for very
    negative ``z``, :math:`\\ln s \\to \\ln\\sigma + z`, so the rate decays smoothly to 0)."""
    u = _as_float_array(drive)
    xp = namespace(u)
    z = (u - 1.0) / sigma
    softplus = xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))   # ln(1 + e^z) > 0
    # ln(ln(1 + e^z)): below z = -30, ln(1 + e^z) = e^z to double precision (and may underflow)
    log_softplus = xp.where(z < -30.0, z, xp.log(xp.where(z < -30.0, 1.0, softplus)))
    log_sigmoid = -(xp.maximum(-z, 0.0) + xp.log1p(xp.exp(-xp.abs(z))))
    return u, xp, math.log(sigma) + log_softplus, log_sigmoid


def _soft_period(log_s, xp, tau_m, t_ref, u_reset):
    # tau_m ln(1 + (1 - u_r)/s) = tau_m (ln(s + 1 - u_r) - ln s)
    s = xp.exp(log_s)
    return t_ref + tau_m * (xp.log(s + (1.0 - u_reset)) - log_s), s


def soft_lif_rate(drive, sigma: float, tau_m: float = 0.020, t_ref: float = 0.002,
                  u_reset: float = 0.0) -> np.ndarray:
    """Firing rate (Hz) of the soft LIF neuron: :func:`lif_rate` with a softplus-smoothed threshold.

    .. math::  r(u) = \\frac{1}{t_{ref} + \\tau_m \\ln\\!\\big(1 + \\frac{1 - u_r}{s(u)}\\big)},
               \\qquad s(u) = \\sigma \\ln\\!\\big(1 + e^{(u - 1)/\\sigma}\\big)

    (Hunsberger & Eliasmith 2015, eq. 3, with their smoothing :math:`\\gamma = \\sigma`).
    :math:`s` replaces :math:`u - 1` of the hard LIF, :math:`\\tau_m\\ln((u-u_r)/(u-1)) =
    \\tau_m \\ln(1 + (1-u_r)/(u-1))`, so the rate is positive and smooth for every drive and
    :math:`r \\to` :func:`lif_rate` as :math:`\\sigma \\to 0` (for :math:`u \\ne 1`).  Noise in
    the membrane potential smooths the f-I curve of a real LIF this way: below threshold it
    fires on fluctuations, and the slope at threshold is finite.

    Parameters
    ----------
    drive : array_like
        :math:`u`, the mean drive in units of the threshold, any shape.
    sigma : float
        Smoothing width in units of the threshold (> 0).
    tau_m, t_ref : float
        Seconds.
    u_reset : float
        Reset potential in units of the threshold (< 1).

    Returns
    -------
    ndarray of the shape of ``drive``, Hz.

    References
    ----------
    Hunsberger, E. & Eliasmith, C. (2015). Spiking deep networks with LIF neurons.
    arXiv:1510.08829.
    """
    _, xp, log_s, _ = _softplus_parts(drive, sigma)
    period, _ = _soft_period(log_s, xp, tau_m, t_ref, u_reset)
    return 1.0 / period


def soft_lif_rate_derivative(drive, sigma: float, tau_m: float = 0.020, t_ref: float = 0.002,
                             u_reset: float = 0.0) -> np.ndarray:
    """:math:`dr/du` of :func:`soft_lif_rate` (Hz per threshold unit).

    .. math::  \\frac{dr}{du} = \\frac{\\tau_m (1 - u_r)\\, \\mathrm{sigmoid}((u-1)/\\sigma)}
               {s\\,(s + 1 - u_r)\\, T(u)^2}, \\qquad T(u) = 1 / r(u),

    finite everywhere (at most of order :math:`1/\\sigma`); it tends to
    :func:`lif_rate_derivative` as :math:`\\sigma \\to 0` (for :math:`u \\ne 1`), where
    :math:`s \\to u - 1` and the sigmoid to 1.
    """
    _, xp, log_s, log_sigmoid = _softplus_parts(drive, sigma)
    period, s = _soft_period(log_s, xp, tau_m, t_ref, u_reset)
    # sigmoid(z) / s formed in logs: both vanish together for very negative z
    return tau_m * (1.0 - u_reset) * xp.exp(log_sigmoid - log_s) / ((s + (1.0 - u_reset)) * period * period)


#: Smoothing width of ``activation = "soft_lif"`` without a parameter (threshold units).
SOFT_LIF_DEFAULT_SIGMA = 0.1


@functools.lru_cache(maxsize=None)
def soft_lif_activation(sigma: float = SOFT_LIF_DEFAULT_SIGMA) -> Activation:
    """``activation = "soft_lif(sigma=...)"``: :func:`soft_lif_rate` in rate units (as ``"lif"``).

    The rate network a noisy spiking network of default LIF neurons computes, with the noise
    summarised by one smoothing width ``sigma`` (threshold units); ``"soft_lif"`` alone is
    :data:`SOFT_LIF_DEFAULT_SIGMA`.  :func:`neurosim.spiking.fit_soft_lif_sigma` fits
    ``sigma`` to a spiking network's measured rates.
    """
    sigma = float(check("soft_lif", "sigma", sigma, gt=0, hint="Smoothing width in units of the threshold."))
    lif = _LIF_DEFAULT
    name = "soft_lif" if sigma == SOFT_LIF_DEFAULT_SIGMA else f"soft_lif(sigma={sigma!r})"
    return Activation(
        name,
        lambda u: soft_lif_rate(u, sigma, lif.tau_m, lif.t_ref, lif.u_reset) / RATE_SCALE_HZ,
        lambda u: soft_lif_rate_derivative(u, sigma, lif.tau_m, lif.t_ref, lif.u_reset) / RATE_SCALE_HZ,
        (0.0, 1.0 / (lif.t_ref * RATE_SCALE_HZ)))


#: Activation families with parameters, written ``name(key=value, ...)`` in ``Layer.activation``
#: (``"soft_lif(sigma=0.05)"``): the factory and the keyword arguments it takes.
PARAMETRIC_ACTIVATIONS: dict[str, tuple[Callable[..., Activation], tuple[str, ...]]] = {
    "soft_lif": (soft_lif_activation, ("sigma",)),
}


@dataclass(frozen=True)
class UrbanczikSennParameters:
    r"""Urbanczik & Senn's (2014) two-compartment Poisson neuron, plain SI floats; potentials from rest.

    .. math::
        \dot U = -g_L U + g_D (V_w - U) + g_E (E_E - U) + g_I (E_I - U), \qquad
        \phi(U) = \frac{\phi_{max}}{1 + k\, e^{\beta(\theta - U)}},

    :math:`V_w = \sum_i w_i \mathrm{PSP}_i` the dendritic (``basal``) potential, PSPs the
    unit-area double exponential :math:`(e^{-t/\tau_L} - e^{-t/\tau_s})/(\tau_L - \tau_s)`
    of the input spikes; a ``soma`` input carries another layer's potential :math:`U^*` as the
    conductances :math:`g_E = g_{som}(U^* - E_I)/(E_E - E_I)`,
    :math:`g_I = g_{som}(E_E - U^*)/(E_E - E_I)`.  Defaults: the paper's simulations
    (:math:`E_L = -70` mV is 0, so :math:`E_E = 70`, :math:`E_I = -5`, :math:`\theta = 15` mV).

    Attributes
    ----------
    g_l, g_d, g_som : float
        Leak, dendro-somatic and somatic-nudging conductances, 1/s (0 nudging: a teacher).
    e_exc, e_inh, theta : float
        Volts from rest.
    phi_max : float
        Hz.
    k : float
    beta : float
        1/V.
    tau_l, tau_s : float
        PSP kernel time constants, seconds.
    """

    g_l: float = 100.0
    g_d: float = 2000.0
    g_som: float = 0.0
    e_exc: float = 0.070
    e_inh: float = -0.005
    phi_max: float = 150.0
    k: float = 0.5
    beta: float = 1000.0 / 3.0
    theta: float = 0.015
    tau_l: float = 0.010
    tau_s: float = 0.003

    def __post_init__(self):
        owner = "UrbanczikSennParameters"
        for name in ("g_l", "g_d", "phi_max", "k", "beta", "tau_l", "tau_s"):
            check(owner, name, getattr(self, name), gt=0, hint="Plain SI units (seconds, volts, Hz).")
        check(owner, "g_som", self.g_som, ge=0)
        check(owner, "e_exc", self.e_exc, gt=self.e_inh, hint="(above e_inh, volts)")
        if self.tau_l == self.tau_s:
            raise ConfigError(f"{owner}: tau_l and tau_s must differ (double-exponential kernel), got both "
                              f"{self.tau_l!r}; change one of them")

    @classmethod
    def from_layer(cls, layer) -> "UrbanczikSennParameters":
        """Defaults + ``layer.params`` (other keys ignored)."""
        return _from_layer_params(cls, layer)

    @property
    def dendritic_attenuation(self) -> float:
        """:math:`g_D / (g_D + g_L)`: dendritic potential -> predicted somatic potential :math:`V^*_w`."""
        return self.g_d / (self.g_d + self.g_l)


@dataclass(frozen=True)
class PoissonTwoCompartmentParameters:
    r"""The spiking microcircuit's neuron (Sacramento et al. 2018): Poisson spikes from a rate model.

    .. math::
        \tau\dot u = -u + g_B \hat v_B + g_A v_A + I_{soma} - \lambda\, g(t)\,\phi(\hat v_B), \qquad
        \text{spike rate } r_{max}\,\phi(u),

    :math:`\hat v_B` the basal input plus bias, :math:`v_A` the apical input, :math:`I_{soma}`
    what reaches the soma (a potential read one-to-one from another layer, a target drive),
    :math:`g(t)` the phase gain; inputs arrive through presynaptic traces
    :math:`\tau_\psi\dot\psi = -\psi + \tau_\psi S(t)/r_{max}` (:math:`\langle\psi\rangle = \phi`).
    The output layer's teacher :math:`-\lambda(\phi(\hat v_B) - t)` is ``nudging`` :math:`\lambda`
    and a gated ``target`` drive of scale :math:`\lambda`.

    Attributes
    ----------
    r_max : float
        Maximum rate, Hz.
    tau_psi, tau : float
        Presynaptic trace and somatic time constants, seconds.
    g_basal, g_apical : float
        Couplings :math:`g_B, g_A` (an interneuron: :math:`1 - \lambda_I`; a hidden pyramidal
        neuron: :math:`g_A = a`).
    nudging : float
        :math:`\lambda` of the self term (0: none).
    """

    r_max: float = 200.0
    tau_psi: float = 0.020
    tau: float = 0.005
    g_basal: float = 1.0
    g_apical: float = 0.0
    nudging: float = 0.0

    def __post_init__(self):
        owner = "PoissonTwoCompartmentParameters"
        for name in ("r_max", "tau_psi", "tau"):
            check(owner, name, getattr(self, name), gt=0, hint="Plain SI units (seconds, Hz).")
        for name in ("g_basal", "g_apical", "nudging"):
            check(owner, name, getattr(self, name), ge=0)

    @classmethod
    def from_layer(cls, layer) -> "PoissonTwoCompartmentParameters":
        """Defaults + ``layer.params`` (other keys ignored)."""
        return _from_layer_params(cls, layer)

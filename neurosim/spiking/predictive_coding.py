"""Spiking predictive coding: value and error populations of LIF neurons in brian2.

The spiking circuit implements predictive coding under the fixed-prediction assumption
(``pc-fpa``; Millidge, Tschantz & Buckley 2022) on a feed-forward chain
``input -> 1 -> ... -> L = output`` with weights :math:`W_l` (shape ``(n_l, n_{l-1})``) and
biases :math:`b_l`.  Rates are in units of :math:`r_0 = 100` Hz and drives in units of the
threshold, as everywhere in :mod:`neurosim.spiking` (:mod:`neurosim.spiking.lif`).

Rate PC that the circuit computes
---------------------------------
Under the fixed-prediction assumption the predictions stay at the feed-forward pass,
:math:`\\mu_l = u_l = W_l\\,\\rho_{l-1} + b_l`, :math:`\\rho_l = \\phi(u_l)`, and the error
units relax to

.. math::  \\varepsilon_L = \\phi'(u_L)\\odot(t - \\rho_L), \\qquad
           \\varepsilon_l = \\phi'(u_l)\\odot W_{l+1}^\\top \\varepsilon_{l+1},

(``mse`` loss), the negative of backprop's deltas; the local update is

.. math::  \\Delta W_l = \\langle \\varepsilon_l\\, \\rho_{l-1}^\\top \\rangle, \\qquad
           \\Delta b_l = \\langle \\varepsilon_l \\rangle .

Populations (per layer ``l``)
-----------------------------
* **value** :math:`V_l`: LIF neurons driven by the prediction synapses :math:`W_l` from
  :math:`V_{l-1}` (layer 1: from the Poisson input) and the bias current; they fire at
  :math:`\\rho_l = \\phi(u_l)` (the ``"lif"`` f-I curve).  Under the fixed-prediction
  assumption they receive no error feedback.
* **error pair** :math:`E_l^{+}, E_l^{-}`: two LIF populations that receive the *same*
  prediction synapses and bias as :math:`V_l`, plus a signed top-down drive
  :math:`\\pm h\\, g_l`, so that they fire at :math:`\\phi(u_l \\pm h\\, g_l)`, with

  .. math::  g_L = t - \\rho_L, \\qquad g_l = W_{l+1}^\\top \\varepsilon_{l+1}, \\qquad
             \\varepsilon_l = \\frac{\\rho(E_l^{+}) - \\rho(E_l^{-})}{2h}
             = \\phi'(u_l)\\odot g_l + O(h^2 g_l^3).

  At the output :math:`g_L` arrives as the injected target current :math:`\\pm h\\,t` and a
  one-to-one synapse :math:`\\mp h` from :math:`V_L` (the target nudges the output error pair
  in opposite directions); in hidden layers as synapses :math:`\\pm W_{l+1}^\\top/2` from
  :math:`E_{l+1}^{+}` and :math:`\\mp W_{l+1}^\\top/2` from :math:`E_{l+1}^{-}`, whose drive is
  :math:`\\pm\\tfrac12 W_{l+1}^\\top(\\rho(E_{l+1}^{+}) - \\rho(E_{l+1}^{-})) = \\pm h\\, g_l`.

Why a +/- pair and not an offset code: a rate cannot be negative, so a signed error needs
either two rectified populations or an offset; the pair gives more.  (1) The gain
:math:`\\phi'(u_l)` that PC multiplies the feedback by is the slope of each error neuron's
own f-I curve, read out by the central difference -- no neuron has to compute a product.
(2) The common part :math:`\\phi(u_l)` (about 60 Hz, against an error signal of a few Hz)
cancels exactly, together with the even-order terms of the f-I curve, instead of being
subtracted from a noisy count.  (3) The pair receives the same prediction spikes, so the
shot noise of the predictions and its correlation with the pre-synaptic count
:math:`\\rho_{l-1}` cancel to first order in :math:`\\Delta W_l = \\varepsilon_l\\rho_{l-1}^\\top`.

What limits the agreement with rate PC: the nudge :math:`h` (bias :math:`O(h^2)`, see
:func:`finite_nudge_updates`), synaptic shot noise (the spiking populations follow the
noise-smoothed f-I curve, not the deterministic ``"lif"`` one) and spike-count noise
(:math:`\\propto 1/\\sqrt{\\text{trials}\\times\\text{window}}`, divided by :math:`2h`).

The circuit is a description (issue 18): :func:`neurosim.circuits.pc_fpa_circuit` adds the
error pairs to the network as layers, their prediction synapses as ``tie = "copy"``
projections of :math:`W_l`, the top-down synapses as transposed ties with ``scale`` =
:math:`\\pm 1/2`, the :math:`\\mp h` synapses from :math:`V_L` as a ``one_to_one``
projection and :math:`\\pm h\\,t` as ``target`` drives.  It prints
(``circuit.summary()``), round-trips through TOML and is checked without brian2.  Two
things read it:

* the generic builder :func:`neurosim.spiking.builder.build_circuit` lowers it to brian2
  (one group per population, every (trial, sample) pair an independent copy side by side,
  one ``run`` of ``settle + window``; spikes counted after ``settle``) -- this module
  constructs no brian2 object;
* :func:`neurosim.circuits.circuit_rates` evaluates it as a rate network (every population
  at the ``"lif"`` f-I curve of its summed drive, :func:`~neurosim.spiking.rate_equivalent`),
  the noise-free limit the spikes are compared with (:func:`finite_nudge_updates`).

The same read-out, :func:`neurosim.circuits.pc_fpa_updates`, turns either side's rates into
:math:`\\Delta W_l = \\langle\\varepsilon_l\\rho_{l-1}^\\top\\rangle`.

Variants: only ``pc-fpa`` with ``mse``.  Standard ``pc`` relaxes the value neurons under the
feedback :math:`\\phi'(v_l)\\odot W_{l+1}^\\top\\varepsilon_{l+1} - \\varepsilon_l`, a product of a
slope and an error that summed synaptic currents onto a LIF population cannot form, and
cross-entropy's :math:`t - \\mathrm{softmax}(\\rho_L)` needs a divisive normalisation across the
output units; both refuse in one line.

References
----------
Whittington, J. C. R. & Bogacz, R. (2017). An approximation of the error backpropagation
algorithm in a predictive coding network with local Hebbian synaptic plasticity. Neural
Computation 29(5), 1229-1262.

Millidge, B., Tschantz, A. & Buckley, C. L. (2022). Predictive coding approximates backprop
along arbitrary computation graphs. Neural Computation 34(6), 1329-1368.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from brian2 import ms, second
from brian2.units.fundamentalunits import Quantity

from ..alignment import AlignmentReport
from ..circuits import circuit_rates, pc_fpa_circuit, pc_fpa_params, pc_fpa_updates
from ..validation import check_time
from ..errors import ConfigError
from ..network import Network
from ..oracles import get_oracle
from ..neurons import RATE_SCALE_HZ
from ..params import check_params
from ..reference import check_batch
from ..rules import get_rule
from . import lif
from . import encoding as _encoding
from .builder import TIMING_KEYS, CircuitActivity, build_circuit
from .plasticity import SpikingRule, calibrate_soft_lif, register_spiking

__all__ = ["PCSpikes", "SpikingPredictiveCoding", "finite_nudge_updates", "simulate_pc", "spiking_pc_align",
           "noise_limited_cosine", "POPULATIONS"]

#: The three populations of every layer: value, positive error, negative error.
POPULATIONS = ("value", "error+", "error-")

#: The one phase of the protocol: the nudge is always on, the spikes of ``window`` are counted.
PHASE = "run"

#: Defaults of the spiking circuit.  ``nudge`` h = 0.25 threshold units: on 8-6-3 LIF networks
#: (experiments/pc_spiking.py, seeds 0-2, 100 trials) h = 0.1 / 0.25 / 0.5 gave global cosines
#: with backprop of 0.989 / 0.982 / 0.970 (seed 0) and 0.995 / 0.997 / 0.997 (seed 1): smaller h
#: shrinks the O(h^2) bias of the central difference but divides the count noise by a smaller
#: 2h.  ``settle`` = 100 ms is 4 stages (V1, V2, E2, E1) of tau_syn + tau_m = 25 ms; the
#: 400 ms ``window`` gives ~25 spikes per unit per trial.
DEFAULTS = {"nudge": 0.25, "dt": 0.1 * ms, "settle": 100 * ms, "window": 400 * ms, "bin": 10 * ms}


def _check_time(owner: str, name: str, value) -> Quantity:
    return check_time(owner, name, value)


def _check_nudge(owner: str, nudge) -> float:
    if isinstance(nudge, bool) or not isinstance(nudge, (int, float)) or not math.isfinite(nudge) or nudge <= 0:
        raise ConfigError(f"{owner}: nudge expected a number > 0 (threshold units, e.g. 0.25), got {nudge!r}")
    return float(nudge)


def _check_network(owner: str, network: Network) -> tuple:
    """The chain, checked for what the circuit can compute (module docstring, *Variants*)."""
    if not isinstance(network, Network):
        raise ConfigError(f"{owner}: network expected a neurosim Network, got {type(network).__name__}")
    chain = network.chain()
    if network.loss != "mse":
        raise ConfigError(f"{owner}: Network '{network.name}'.loss = {network.loss!r}; spiking PC needs 'mse' "
                          "(the output error pair carries t - rho_L; cross-entropy's t - softmax(rho_L) needs a "
                          "divisive normalisation that summed synaptic currents cannot form); build the network "
                          "with loss='mse'")
    for proj in chain:
        layer = network.layer(proj.post)
        if proj.operation != "dense":
            raise ConfigError(f"{owner}: projection '{proj.name}' is {proj.operation}; the spiking PC circuit "
                              "builds dense synapses only (the rate pc-fpa runs conv/pool nets: use "
                              "backend 'rate')")
        if lif.model_kind(layer) != "point" or proj.target != "soma":
            raise ConfigError(f"{owner}: Layer '{layer.name}'.neuron = {layer.neuron!r} (projection target "
                              f"{proj.target!r}); spiking PC builds point LIF neurons driven at the soma; "
                              "use neuron 'lif' or 'rate' and target 'soma'")
    return chain


def pc_circuit(network: Network, nudge: float = DEFAULTS["nudge"]) -> Network:
    """The spiking PC circuit of ``network``: :func:`~neurosim.circuits.pc_fpa_circuit` after the checks.

    Raises
    ------
    ConfigError
        A loss other than ``mse``, a conv/pool projection, a neuron that is not a point LIF,
        a nudge that is not a number > 0.
    """
    _check_network("spiking pc-fpa", network)
    return pc_fpa_circuit(network, _check_nudge("spiking pc-fpa", nudge))


def _population(circuit: Network, name: str) -> tuple[str, str]:
    """Circuit layer name -> ``(layer, population)``: ``"h:error+"`` -> ``("h", "error+")``."""
    if circuit.layer(name).role == "error":
        layer, pop = name.rsplit(":", 1)
        return layer, pop
    return name, "value"


@dataclass
class PCSpikes:
    """Spike counts of one spiking-PC run, units stripped (SI floats).

    Attributes
    ----------
    counts : dict of (str, str) to ndarray of int, shape (n_trials, batch, n_l)
        Spikes in the counting window, keyed ``(layer, population)`` with population one of
        :data:`POPULATIONS`; the input layer is keyed ``(input, "value")``.
    window : float
        Counting window, seconds.
    nudge : float
        :math:`h`, threshold units.
    inputs, target : ndarray (batch, n_input), (batch, n_output)
    time_course : dict of (str, str) to ndarray, shape (n_bins, n_l)
        Rate (rate-side units) of sample 0 in bins of ``bin_s`` from the start of the
        presentation, averaged over trials.
    bin_s : float
        Width of the time-course bins, seconds.
    settle_s : float
        Start of the counting window, seconds.
    raster : dict of (str, str) to (ndarray, ndarray)
        Unit indices and spike times (s) of trial 0, sample 0.
    timings : dict
        ``target``, ``build_s``, ``compile_s``, ``simulate_s``, ``biological_s``, ``n_neurons``, ``n_synapses``.
    circuit : Network
        The description that was simulated (:func:`pc_circuit`).
    activity : CircuitActivity
        What :meth:`~neurosim.spiking.builder.CircuitModel.run` returned.
    """

    counts: dict
    window: float
    nudge: float
    inputs: np.ndarray
    target: np.ndarray
    time_course: dict = field(repr=False)
    bin_s: float
    settle_s: float
    raster: dict = field(repr=False)
    timings: dict = field(default_factory=dict)
    circuit: Network | None = field(default=None, repr=False)
    activity: CircuitActivity | None = field(default=None, repr=False)

    @property
    def n_trials(self) -> int:
        return next(iter(self.counts.values())).shape[0]

    def rho(self, layer: str, population: str = "value") -> np.ndarray:
        """Read-out rates :math:`n / (T r_0)`, shape (n_trials, batch, n)."""
        return self.counts[(layer, population)] / (self.window * RATE_SCALE_HZ)

    def errors(self, layer: str) -> np.ndarray:
        """:math:`\\varepsilon_l = (\\rho(E_l^+) - \\rho(E_l^-)) / 2h`, shape (n_trials, batch, n_l)."""
        return (self.rho(layer, "error+") - self.rho(layer, "error-")) / (2.0 * self.nudge)


def simulate_pc(network: Network, params: dict, x, target, *, n_trials: int = 20, seed: int = 0,
                nudge: float = DEFAULTS["nudge"], dt=DEFAULTS["dt"], settle=DEFAULTS["settle"],
                window=DEFAULTS["window"], bin=DEFAULTS["bin"], codegen_target: str = "numpy") -> PCSpikes:
    """Lower the spiking PC circuit (:func:`pc_circuit`) with the builder, run it, count its spikes.

    :func:`~neurosim.spiking.builder.build_circuit` builds :func:`pc_circuit` ``(network,
    nudge)`` with :func:`~neurosim.circuits.pc_fpa_params` ``(circuit, params)``, ``n_trials``
    copies of every sample side by side, one always-on phase of ``settle + window``.

    Parameters
    ----------
    network : Network
        A feed-forward chain with ``mse`` loss and point-LIF layers (``neuron`` ``"lif"`` or
        ``"rate"``; every layer is simulated as a LIF population whatever its
        ``activation``: the circuit computes :func:`~neurosim.spiking.rate_equivalent`).
    params : dict
        Weights and biases (:func:`neurosim.init_params`).
    x : ndarray (batch, n_input)
        Input rates (units of 100 Hz, >= 0), presented as Poisson trains.
    target : ndarray (batch, n_output)
        Output targets, injected into the output error pair as the current :math:`\\pm h t`.
    n_trials : int
        Independent copies of the circuit per sample (independent Poisson inputs).
    seed : int
        brian2's random numbers (NumPy's global state is saved and put back).
    nudge : float
        :math:`h` in threshold units (> 0).
    dt, settle, window, bin : brian2 times
        Integration step; time before counting; counting window; time-course bins.
    codegen_target : {"numpy", "cython", "auto"}
        brian2 runtime code generation; ``"auto"`` is numpy (no compiler; the circuit is
        tiny and its per-step cost is code-object overhead, which Cython does not remove).

    Returns
    -------
    PCSpikes

    Raises
    ------
    ConfigError
        Bad times, nudge, trials, seed, loss, neuron model or code-generation target.
    ShapeError
        ``params``, ``x`` or ``target`` that do not fit ``network``; negative input rates.
    """
    owner = "simulate_pc"
    _check_network(owner, network)
    check_params(network, params)
    x = _encoding.check_inputs(network, x, "poisson")
    x, t = check_batch(network, x, target, dtype=np.float64)
    for name, value in (("n_trials", n_trials), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (1 if name == "n_trials"
                                                                                             else 0):
            raise ConfigError(f"{owner}: {name} expected an integer >= {1 if name == 'n_trials' else 0}, "
                              f"got {value!r}")
    h = _check_nudge(owner, nudge)
    dt, settle, window, bin = (_check_time(owner, n, v) for n, v in
                               (("dt", dt), ("settle", settle), ("window", window), ("bin", bin)))
    if codegen_target == "cpp_standalone":
        raise ConfigError(f"{owner}: codegen_target 'cpp_standalone' is not supported (one run of a tiny "
                          "circuit); use 'numpy' or 'cython'")
    chosen = "numpy" if codegen_target == "auto" else codegen_target
    circuit = pc_fpa_circuit(network, h)
    model = build_circuit(circuit, pc_fpa_params(circuit, params), x, t, n_trials=int(n_trials),
                          phases=((PHASE, 1.0),), dt=dt, phase=settle + window, settle=settle, seed=int(seed),
                          codegen_target=chosen)
    activity = model.run()

    settle_s, window_s, bin_s = float(settle / second), activity.window, float(bin / second)
    n_bins = int(math.ceil((settle_s + window_s) / bin_s - 1e-9))
    n_trials, batch = int(n_trials), x.shape[0]
    counts, course, raster = {}, {}, {}
    for layer in circuit.layers:
        key = _population(circuit, layer.name)
        counts[key] = np.rint(activity.rho[PHASE][layer.name] * window_s * RATE_SCALE_HZ).astype(np.int64)
        idx, times = activity.spikes[layer.name]
        copy, unit = idx // layer.size, idx % layer.size   # copy = trial * batch + sample
        sample0 = copy % batch == 0
        hist = np.zeros((n_bins, layer.size))
        np.add.at(hist, (np.minimum((times[sample0] / bin_s).astype(np.int64), n_bins - 1), unit[sample0]), 1.0)
        course[key] = hist / (n_trials * bin_s * RATE_SCALE_HZ)
        raster[key] = (unit[copy == 0], times[copy == 0])
    timings = {"target": activity.timings["target"], **{k: activity.timings[k] for k in TIMING_KEYS},
               "biological_s": activity.timings["biological_s"],
               "n_neurons": int(sum(len(g) for g in model.groups.values())),
               "n_synapses": int(sum(len(s) for s in model.synapses))}
    return PCSpikes(counts=counts, window=window_s, nudge=h, inputs=x, target=t, time_course=course,
                    bin_s=bin_s, settle_s=settle_s, raster=raster, timings=timings, circuit=circuit,
                    activity=activity)


def trial_updates(network: Network, spikes: PCSpikes) -> dict:
    """Per-trial local updates, batch mean: ``dW`` with a leading trial axis.

    .. math::  \\Delta W_l^{(k)} = \\frac1B \\sum_n \\varepsilon_{l,n}^{(k)}\\,
               \\rho_{l-1,n}^{(k)\\top}, \\qquad
               \\Delta b_l^{(k)} = \\frac1B \\sum_n \\varepsilon_{l,n}^{(k)}

    for trial :math:`k`: :func:`neurosim.circuits.pc_fpa_updates` on the spike-count rates of
    :func:`pc_circuit` ``(network, spikes.nudge)`` (:math:`\\rho` of the pre-synaptic value
    population, or the Poisson input's count).

    Returns
    -------
    dict of str to ndarray, shape (n_trials, *param.shape)
        Keyed like ``params`` (a tied projection updates its owner, transposed).
    """
    circuit = pc_circuit(network, spikes.nudge)
    rho = {layer.name: spikes.rho(*_population(circuit, layer.name)) for layer in circuit.layers}
    return pc_fpa_updates(circuit, rho)


def finite_nudge_updates(network: Network, params: dict, x, target, *, nudge: float = DEFAULTS["nudge"]) -> dict:
    """The rate limit of the spiking circuit at a finite nudge :math:`h`: the same description, no spikes.

    :func:`neurosim.circuits.circuit_rates` evaluates :func:`~neurosim.spiking.rate_equivalent`
    of :func:`pc_circuit` ``(network, nudge)`` -- every population at the ``"lif"`` f-I curve
    :math:`\\phi` of its summed drive -- and :func:`neurosim.circuits.pc_fpa_updates` reads the
    update out, so the error pair fires at :math:`\\phi(u_l \\pm h g_l)` and

    .. math::  \\varepsilon_l = \\frac{\\phi(u_l + h g_l) - \\phi(u_l - h g_l)}{2h}, \\qquad
               g_L = t - \\phi(u_L), \\quad g_l = W_{l+1}^\\top\\varepsilon_{l+1},

    :math:`\\Delta W_l = \\langle\\varepsilon_l\\,\\phi(u_{l-1})^\\top\\rangle`.  As :math:`h \\to 0`
    it tends to ``pc-fpa`` on the rate-equivalent network (backprop), with an error
    :math:`O(h^2)` (central difference).  Shapes as ``params``; batch mean.
    """
    circuit = pc_circuit(network, nudge)
    check_params(network, params)
    x, t = check_batch(network, x, target, dtype=np.float64)
    rates = circuit_rates(lif.rate_equivalent(circuit), pc_fpa_params(circuit, params), x, t)
    return pc_fpa_updates(circuit, rates)


def noise_limited_cosine(per_trial: dict, names, n_trials: int | None = None) -> float:
    """The cosine the trial mean of ``per_trial`` keeps with its own infinite-trial limit.

    With per-trial updates :math:`g_k` of mean :math:`\\bar g` (over :math:`K` trials) and
    covariance :math:`\\Sigma`, the mean over :math:`n` trials is :math:`\\bar g_n = g_\\infty +
    \\xi`, :math:`E\\lVert\\xi\\rVert^2 = \\mathrm{tr}\\,\\Sigma / n`, so
    :math:`\\cos(\\bar g_n, g_\\infty) \\approx (1 + \\mathrm{tr}\\Sigma/(n\\lVert g_\\infty\\rVert^2))^{-1/2}`,
    with the unbiased estimate :math:`\\lVert g_\\infty\\rVert^2 \\approx \\lVert\\bar g\\rVert^2 -
    \\mathrm{tr}\\Sigma/K`.  The cosine with any other direction is at most this much.

    Parameters
    ----------
    per_trial : dict of str to ndarray (K, ...)
        :func:`trial_updates`.
    names : list of str
        Keys to concatenate (the weights).
    n_trials : int, optional
        :math:`n` (default :math:`K`).
    """
    flat = np.concatenate([per_trial[k].reshape(per_trial[k].shape[0], -1) for k in names], axis=1)
    k = flat.shape[0]
    if k < 2:
        raise ConfigError("noise_limited_cosine: per_trial needs >= 2 trials to estimate the count noise, "
                          f"got {k}")
    n = k if n_trials is None else n_trials
    trace = float(np.sum(flat.var(axis=0, ddof=1)))
    signal = float(np.sum(flat.mean(axis=0) ** 2)) - trace / k
    if signal <= 0:
        return 0.0
    return 1.0 / math.sqrt(1.0 + trace / (n * signal))


@register_spiking
class SpikingPredictiveCoding(SpikingRule):
    """Spiking ``pc-fpa``: value and +/- error populations of LIF neurons (module docstring).

    A circuit transform plus a read-out: :meth:`circuit` is :func:`pc_circuit`, lowered by
    :func:`~neurosim.spiking.builder.build_circuit`; :meth:`updates` reads ``dW`` out of the
    :class:`~neurosim.spiking.builder.CircuitActivity`.  :meth:`spiking_align` (what
    :func:`~neurosim.spiking.spiking_align` runs) is :func:`spiking_pc_align`.  Registered for
    ``pc`` too, only to refuse it with the reason (module docstring, *Variants*).
    """

    rate_rules = ("pc-fpa", "pc")
    build_kinds: ClassVar[tuple[str, ...]] = ("feedforward",)
    rate_models = ("lif", "soft_lif")

    def _check_variant(self) -> None:
        if self.name != "pc-fpa":
            raise ConfigError(f"spiking {self.name}: standard PC relaxes the value neurons under the feedback "
                              "phi'(v_l) * W^T eps_{l+1} - eps_l, a product of a slope and an error that summed "
                              "synaptic currents onto a LIF population cannot form; use rule 'pc-fpa' (fixed "
                              "prediction: the value neurons stay at the feed-forward pass)")

    def circuit(self, network: Network, nudge: float = DEFAULTS["nudge"]) -> Network:
        """The circuit description the builder lowers: :func:`pc_circuit`."""
        self._check_variant()
        return pc_circuit(network, nudge)

    def updates(self, network, params, state, activity, target):
        """``(dW, state, {"per_trial": ...})`` from a run of :meth:`circuit` (``network`` is the circuit).

        :func:`neurosim.circuits.pc_fpa_updates` on ``activity.rho["run"]`` (spike-count rates),
        averaged over trials; ``aux["per_trial"]`` keeps the trial axis.
        """
        self._check_variant()
        if not isinstance(activity, CircuitActivity) or PHASE not in activity.rho:
            raise ConfigError(f"spiking pc-fpa: updates reads the CircuitActivity of a run of rule.circuit(network) "
                              f"lowered by build_circuit(..., phases=(('{PHASE}', 1.0),)), got "
                              f"{type(activity).__name__}; or call spiking_pc_align(...)")
        if not any(layer.role == "error" for layer in network.layers):
            raise ConfigError(f"spiking pc-fpa: network '{network.name}' has no error populations; pass the "
                              "circuit, rule.circuit(network, nudge)")
        per_trial = pc_fpa_updates(network, activity.rho[PHASE])
        return {k: v.mean(axis=0) for k, v in per_trial.items()}, state, {"per_trial": per_trial}

    def spiking_align(self, network, params, x, target, *, n_trials=20, seed=0, codegen_target="numpy",
                      rule_hyper=None, **options) -> AlignmentReport:
        """:func:`spiking_pc_align` with this rule's rate rule (``rule_hyper`` already built it)."""
        self._check_variant()
        return spiking_pc_align(network, params, x, target, n_trials=n_trials, seed=seed,
                                codegen_target=codegen_target, rate_rule=self.rate_rule, **options)


def _json(value):
    return None if value is None or not math.isfinite(value) else float(value)


def spiking_pc_align(network: Network, params: dict, x, target, *, n_trials: int = 20, seed: int = 0,
                     nudge: float = DEFAULTS["nudge"], codegen_target: str = "numpy", rate_rule=None,
                     rate_model: str = "lif", sigma: float | None = None, **times) -> AlignmentReport:
    """Trial-averaged spiking PC update against backprop and rate PC on the rate-equivalent network.

    Parameters
    ----------
    network, params, x, target, n_trials, seed, nudge, codegen_target
        As :func:`simulate_pc`.
    rate_rule : Rule, optional
        The rate rule compared with (default ``get_rule("pc-fpa")``).
    rate_model : {"lif", "soft_lif"}
        The rate network the spikes are compared with: the hard f-I curve (default) or the soft
        LIF, the f-I curve smoothed by the input noise the neurons see (docs/rules/spiking.md,
        *Near-threshold units*): below threshold the hard curve's slope is 0 where noisy units
        still fire.
    sigma : float, optional
        The soft LIF's width (threshold units); default: fitted by
        :func:`~neurosim.spiking.plasticity.calibrate_soft_lif` on the feed-forward network at the
        same weights and inputs (its own runs, seeds ``seed + 1000 + k``), reported in
        ``extra["soft_lif_fit"]``.
    **times
        ``dt``, ``settle``, ``window``, ``bin`` for :func:`simulate_pc`.

    Returns
    -------
    AlignmentReport
        Against backprop on :func:`~neurosim.spiking.rate_equivalent` ``(network)``
        (``backend = "spiking"``, weights only, as :func:`~neurosim.spiking.spiking_align`).
        ``extra``: ``rate_rule_cosine`` / ``rate_rule_projections`` (vs rate ``pc-fpa``);
        ``finite_nudge_cosine`` (vs :func:`finite_nudge_updates`, the circuit without spikes);
        ``noise_limited_cosine`` (:func:`noise_limited_cosine`); ``n_trials``, ``seed``,
        ``nudge``, ``rate_equivalent_activation``, ``timings``.
    """
    from .lif import rate_equivalent

    unknown = sorted(set(times) - {"dt", "settle", "window", "bin"})
    if unknown:
        raise ConfigError(f"spiking_pc_align: unknown option {unknown[0]!r}; expected dt, settle, window, bin")
    if rate_model not in lif.RATE_MODELS:
        raise ConfigError(f"spiking_pc_align: rate_model expected one of {', '.join(lif.RATE_MODELS)}, got "
                          f"{rate_model!r}")
    if sigma is not None and rate_model != "soft_lif":
        raise ConfigError(f"spiking_pc_align: sigma={sigma!r} is the soft LIF's width; pass rate_model='soft_lif' "
                          "with it, or leave sigma out")
    rule = rate_rule if rate_rule is not None else get_rule("pc-fpa")
    spiking_rule = SpikingPredictiveCoding(rule)
    spiking_rule.circuit(network, nudge)   # refuses a variant the circuit cannot express before simulating
    spikes = simulate_pc(network, params, x, target, n_trials=n_trials, seed=seed, nudge=nudge,
                         codegen_target=codegen_target, **times)
    fit = None
    if rate_model == "soft_lif" and sigma is None:
        settle, window = times.get("settle", DEFAULTS["settle"]), times.get("window", DEFAULTS["window"])
        fit = calibrate_soft_lif(network, params, spikes.inputs, n_trials=4, seed=int(seed) + 1000,
                                 codegen_target=codegen_target, dt=times.get("dt", DEFAULTS["dt"]),
                                 presentation=settle + window, settle=settle)
        sigma = fit.sigma
    equivalent = rate_equivalent(network, "lif" if rate_model == "lif" else f"soft_lif(sigma={sigma!r})")
    x, t = spikes.inputs, spikes.target
    dw, _, aux = spiking_rule.updates(spikes.circuit, params, None, spikes.activity, t)
    per_trial = aux["per_trial"]
    reference = get_oracle(rule.info.reference)(rule, equivalent, params, x, t)
    rate_dw = rule.step(equivalent, params, x, t)
    names = [k for k in reference if not k.endswith(".bias") and k in dw]
    vs_rate = AlignmentReport.compare(dw, rate_dw, names=names)
    vs_limit = AlignmentReport.compare(dw, finite_nudge_updates(equivalent, params, x, t, nudge=nudge), names=names)
    extra = {"rate_rule": rule.name, "rate_rule_cosine": _json(vs_rate.global_cosine),
             "rate_rule_projections": [{"name": row.name, "cosine": _json(row.cosine)} for row in vs_rate.projections],
             "finite_nudge_cosine": _json(vs_limit.global_cosine),
             "noise_limited_cosine": _json(noise_limited_cosine(per_trial, names)) if n_trials > 1 else None,
             "rate_equivalent_activation": equivalent.output_layer.activation, "n_trials": int(n_trials),
             "seed": int(seed),
             "nudge": float(nudge), "timings": {k: (round(v, 6) if isinstance(v, float) else v)
                                                for k, v in spikes.timings.items()}}
    if fit is not None:
        extra["soft_lif_fit"] = {"sigma": fit.sigma, "rmse": fit.rmse, "rmse_lif": fit.rmse_lif,
                                 "n_points": fit.n_points}
    return AlignmentReport.compare(dw, reference, names=names, rule=rule.name, backend="spiking",
                                   reference_name=rule.info.reference, extra=extra)

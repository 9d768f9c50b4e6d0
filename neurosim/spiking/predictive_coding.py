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

Simulation: every (trial, sample) pair is an independent copy of the circuit inside the
same brian2 ``NeuronGroup`` (one block of indices per population), driven by its own
Poisson input, so a whole batch and all its trials are one ``brian2.Network.run`` of
``settle + window``; spikes are counted after ``settle``.  All populations and all
synapses share one ``NeuronGroup`` and one ``Synapses`` object, so the per-step cost is a
handful of code objects whatever the depth (numpy target by default: no compilation).

The builder (:func:`neurosim.spiking.build`) cannot express this circuit (target current
injection, populations that share another projection's weights without transposing them,
scaled and sign-flipped ties, one-to-one synapses), so the brian2 objects are built here
from the ``Network`` and its ``params``.

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
import time
from dataclasses import dataclass, field
from typing import ClassVar

import brian2
import numpy as np
from brian2 import Hz, ms, second, volt
from brian2.units.fundamentalunits import Quantity

from ..alignment import AlignmentReport
from ..validation import check_time
from ..errors import ConfigError
from ..network import Network
from ..oracles import get_oracle
from ..neurons import RATE_SCALE_HZ, LIFParameters, get_activation
from ..params import bias_key, check_params, weight
from ..reference import check_batch
from ..rules import get_rule
from . import codegen, lif
from . import encoding as _encoding
from .plasticity import SpikingRule, register_spiking

__all__ = ["PCSpikes", "SpikingPredictiveCoding", "finite_nudge_updates", "simulate_pc", "spiking_pc_align",
           "noise_limited_cosine", "POPULATIONS"]

#: The three populations of every layer: value, positive error, negative error.
POPULATIONS = ("value", "error+", "error-")

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
    """The chain, checked for what the circuit can compute; returns (projections, LIFParameters)."""
    if not isinstance(network, Network):
        raise ConfigError(f"{owner}: network expected a neurosim Network, got {type(network).__name__}")
    chain = network.chain()
    if network.loss != "mse":
        raise ConfigError(f"{owner}: Network '{network.name}'.loss = {network.loss!r}; spiking PC needs 'mse' "
                          "(the output error t - rho_L is a difference of currents; a softmax is not); build "
                          "the network with loss='mse'")
    params = None
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
        this = LIFParameters.from_layer(layer)
        if params is not None and this != params:
            raise ConfigError(f"{owner}: Layer '{layer.name}'.params differ from the other layers' LIF "
                              "parameters; spiking PC simulates every population with one set")
        params = this
    return chain, params


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
        ``target``, ``build_s``, ``simulate_s``, ``biological_s``, ``n_neurons``, ``n_synapses``.
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
    """Run the spiking PC circuit (module docstring) on a batch and count its spikes.

    Parameters
    ----------
    network : Network
        A feed-forward chain with ``mse`` loss and point-LIF layers (``neuron`` ``"lif"`` or
        ``"rate"``; every layer is simulated as a default-parameter LIF population whatever
        its ``activation``: the circuit computes :func:`~neurosim.spiking.rate_equivalent`).
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
        brian2 runtime code generation; ``"auto"`` is numpy (no compiler, and faster for this
        circuit: its cost per step barely depends on the number of copies).

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
    chain, lifp = _check_network(owner, network)
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
    # "auto" is numpy here: the circuit is tiny and its per-step cost is code-object overhead,
    # which Cython does not remove (measured on 8-6-3 x 4 samples x 100 trials: numpy 14 s,
    # cython 158 s after a first compile of 3-4 min)
    chosen = "numpy" if codegen_target == "auto" else codegen.resolve_target(codegen_target)
    cls = codegen.codeobj_class(chosen)
    n_trials, seed = int(n_trials), int(seed)
    batch = x.shape[0]
    copies = n_trials * batch
    sizes = [network.input_layer.size] + [network.layer(p.post).size for p in chain]
    names = [network.input_layer.name] + [p.post for p in chain]
    n_layers = len(chain)

    # index blocks: population (layer, pop) -> offset; copy c = trial * batch + sample
    offsets, total = {}, 0
    for l in range(1, n_layers + 1):
        for pop in POPULATIONS:
            offsets[(names[l], pop)] = total
            total += copies * sizes[l]
    started = time.perf_counter()
    scale = lif.synaptic_scale(lifp)  # volts of jump per unit rate-network weight
    v_th = lifp.v_threshold
    bias = np.zeros(total)
    inject = np.zeros(total)
    for l in range(1, n_layers + 1):
        layer = network.layer(names[l])
        b = params[bias_key(layer.name)] if layer.bias else np.zeros(sizes[l])
        for pop in POPULATIONS:
            o = offsets[(names[l], pop)]
            bias[o:o + copies * sizes[l]] = np.tile(b, copies) * v_th
    # output error pair: injected +/- h t
    t_rows = np.tile(t, (n_trials, 1)).reshape(-1)
    for pop, sign in (("error+", 1.0), ("error-", -1.0)):
        o = offsets[(names[-1], pop)]
        inject[o:o + copies * sizes[-1]] = sign * h * t_rows * v_th

    copy_idx = np.arange(copies)

    def block(pre_off, n_pre, post_off, n_post, w):
        """Synapses of matrix ``w`` (n_post, n_pre; rate units) inside every copy."""
        post, pre = np.nonzero(w)  # an exact zero is no synapse
        i = (pre_off + copy_idx[:, None] * n_pre + pre[None, :]).ravel()
        j = (post_off + copy_idx[:, None] * n_post + post[None, :]).ravel()
        return i, j, np.tile(w[post, pre], copies) * scale

    inp_syn, rec_syn = [], []
    for l, proj in enumerate(chain, start=1):
        w = np.asarray(weight(network, params, proj), dtype=np.float64)
        for pop in POPULATIONS:  # the prediction W_l rho_{l-1} onto value and both error units
            post_off = offsets[(names[l], pop)]
            if l == 1:
                inp_syn.append(block(0, sizes[0], post_off, sizes[1], w))
            else:
                rec_syn.append(block(offsets[(names[l - 1], "value")], sizes[l - 1], post_off, sizes[l], w))
        if l < n_layers:  # top-down: +/- W_{l+1}^T / 2 from the error pair above
            wt = 0.5 * np.asarray(weight(network, params, chain[l]), dtype=np.float64).T
            for src, dst, sign in (("error+", "error+", 1), ("error-", "error+", -1),
                                   ("error+", "error-", -1), ("error-", "error-", 1)):
                rec_syn.append(block(offsets[(names[l + 1], src)], sizes[l + 1], offsets[(names[l], dst)],
                                     sizes[l], sign * wt))
    # output value -> output error pair, one-to-one, -/+ h (the -rho_L of t - rho_L)
    eye = np.eye(sizes[-1])
    for pop, sign in (("error+", -1.0), ("error-", 1.0)):
        rec_syn.append(block(offsets[(names[-1], "value")], sizes[-1], offsets[(names[-1], pop)], sizes[-1],
                             sign * h * eye))

    ns = lif.namespace(lifp)
    eqs = brian2.Equations("""
        dv/dt = (-v + I_syn + I_bias + I_ext) / tau_m : volt (unless refractory)
        dI_syn/dt = -I_syn / tau_syn : volt
        I_bias : volt (constant)
        I_ext : volt (constant)
    """)
    group = brian2.NeuronGroup(total, eqs, threshold="v > v_th", reset="v = v_reset", refractory="t_ref",
                               method="exact", dt=dt, namespace=ns, name="ns_pc_units", codeobj_class=cls)
    group.I_bias = bias * volt
    group.I_ext = inject * volt
    source = brian2.PoissonGroup(copies * sizes[0], rates=np.tile(x, (n_trials, 1)).ravel() * RATE_SCALE_HZ * Hz,
                                 dt=dt, name="ns_pc_input", codeobj_class=cls)
    objects = [group, source]
    n_synapses = 0
    for pre_group, parts, sname in ((source, inp_syn, "ns_pc_predict_input"), (group, rec_syn, "ns_pc_within")):
        if not parts:
            continue
        i = np.concatenate([p[0] for p in parts])
        j = np.concatenate([p[1] for p in parts])
        w = np.concatenate([p[2] for p in parts])
        if i.size == 0:
            continue
        syn = brian2.Synapses(pre_group, group, model="w : volt (constant)", on_pre="I_syn_post += w", dt=dt,
                              name=sname, codeobj_class=cls)
        syn.connect(i=i, j=j)
        syn.w[:] = w * volt
        objects.append(syn)
        n_synapses += i.size
    mon_units = brian2.SpikeMonitor(group, name="ns_pc_units_spikes", codeobj_class=cls)
    mon_input = brian2.SpikeMonitor(source, name="ns_pc_input_spikes", codeobj_class=cls)
    net = brian2.Network(*objects, mon_units, mon_input, name="ns_pc_network")
    build_s = time.perf_counter() - started

    saved = np.random.get_state()
    try:
        brian2.seed(seed)
        started = time.perf_counter()
        net.run(settle + window, namespace={})
        simulate_s = time.perf_counter() - started
    finally:
        np.random.set_state(saved)

    settle_s, window_s, bin_s = float(settle / second), float(window / second), float(bin / second)
    dt_s = float(dt / second)
    n_bins = int(math.ceil((settle_s + window_s) / bin_s - 1e-9))
    counts, course, raster = {}, {}, {}

    def collect(key, idx, times, off, n):
        step = np.rint(times / dt_s).astype(np.int64)
        local = idx - off
        counted = step >= int(round(settle_s / dt_s))
        flat = np.bincount(local[counted], minlength=copies * n)
        counts[key] = flat.reshape(n_trials, batch, n)
        copy, unit = local // n, local % n
        sample0 = copy % batch == 0
        bins = np.minimum((times[sample0] / bin_s).astype(np.int64), n_bins - 1)
        hist = np.zeros((n_bins, n))
        np.add.at(hist, (bins, unit[sample0]), 1.0)
        course[key] = hist / (n_trials * bin_s * RATE_SCALE_HZ)
        first = copy == 0
        raster[key] = (unit[first], times[first])

    idx_in, t_in = np.asarray(mon_input.i[:]), np.asarray(mon_input.t_[:])
    collect((names[0], "value"), idx_in, t_in, 0, sizes[0])
    idx, times = np.asarray(mon_units.i[:]), np.asarray(mon_units.t_[:])
    for (layer, pop), off in offsets.items():
        n = sizes[names.index(layer)]
        inside = (idx >= off) & (idx < off + copies * n)
        collect((layer, pop), idx[inside], times[inside], off, n)
    timings = {"target": chosen, "build_s": build_s, "simulate_s": simulate_s,
               "biological_s": settle_s + window_s, "n_neurons": int(total + copies * sizes[0]),
               "n_synapses": int(n_synapses)}
    return PCSpikes(counts=counts, window=window_s, nudge=h, inputs=x, target=t, time_course=course,
                    bin_s=bin_s, settle_s=settle_s, raster=raster, timings=timings)


def trial_updates(network: Network, spikes: PCSpikes) -> dict:
    """Per-trial local updates, batch mean: ``dW`` with a leading trial axis.

    .. math::  \\Delta W_l^{(k)} = \\frac1B \\sum_n \\varepsilon_{l,n}^{(k)}\\,
               \\rho_{l-1,n}^{(k)\\top}, \\qquad
               \\Delta b_l^{(k)} = \\frac1B \\sum_n \\varepsilon_{l,n}^{(k)}

    for trial :math:`k` (:math:`\\varepsilon` from :meth:`PCSpikes.errors`, :math:`\\rho` the
    read-out rate of the pre-synaptic value population, or the Poisson input's count).

    Returns
    -------
    dict of str to ndarray, shape (n_trials, *param.shape)
        Keyed like ``params`` (a tied projection updates its owner, transposed).
    """
    out = {}
    for proj in network.chain():
        err = spikes.errors(proj.post)                 # (trials, batch, n_l)
        pre = spikes.rho(proj.pre, "value")            # (trials, batch, n_{l-1})
        g = np.einsum("kbi,kbj->kij", err, pre) / err.shape[1]
        key = proj.tied_to if proj.tied_to is not None else proj.name
        if proj.tied_to is not None:
            g = np.swapaxes(g, 1, 2)
        out[key] = out[key] + g if key in out else g
        if network.layer(proj.post).bias:
            out[bias_key(proj.post)] = err.mean(axis=1)
    return out


def finite_nudge_updates(network: Network, params: dict, x, target, *, nudge: float = DEFAULTS["nudge"]) -> dict:
    """The rate limit of the spiking circuit at a finite nudge :math:`h` (no spikes, no noise).

    The error pair's rates replaced by the ``"lif"`` f-I curve :math:`\\phi`:

    .. math::  \\varepsilon_l = \\frac{\\phi(u_l + h g_l) - \\phi(u_l - h g_l)}{2h}, \\qquad
               g_L = t - \\phi(u_L), \\quad g_l = W_{l+1}^\\top\\varepsilon_{l+1},

    :math:`\\Delta W_l = \\langle\\varepsilon_l\\,\\phi(u_{l-1})^\\top\\rangle`.  As :math:`h \\to 0`
    it tends to ``pc-fpa`` on :func:`~neurosim.spiking.rate_equivalent` (backprop), with an
    error :math:`O(h^2)` (central difference).  Shapes as ``params``; batch mean.
    """
    owner = "finite_nudge_updates"
    chain, _ = _check_network(owner, network)
    check_params(network, params)
    x, t = check_batch(network, x, target, dtype=np.float64)
    h = _check_nudge(owner, nudge)
    phi = get_activation("lif")
    u, r = [], [x]
    for proj in chain:
        layer = network.layer(proj.post)
        drive = r[-1] @ np.asarray(weight(network, params, proj), dtype=np.float64).T
        u.append(drive + params[bias_key(layer.name)] if layer.bias else drive)
        r.append(phi(u[-1]))
    eps = [None] * len(chain)
    g = t - r[-1]
    for l in reversed(range(len(chain))):
        eps[l] = (phi(u[l] + h * g) - phi(u[l] - h * g)) / (2 * h)
        if l:
            g = eps[l] @ np.asarray(weight(network, params, chain[l]), dtype=np.float64)
    out, batch = {}, x.shape[0]
    for l, proj in enumerate(chain):
        gw = eps[l].T @ r[l] / batch
        key = proj.tied_to if proj.tied_to is not None else proj.name
        gw = gw.T if proj.tied_to is not None else gw
        out[key] = out[key] + gw if key in out else gw
        if network.layer(proj.post).bias:
            out[bias_key(proj.post)] = eps[l].mean(axis=0)
    return out


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

    The circuit is built from the network and params by :func:`simulate_pc`, not by
    :func:`~neurosim.spiking.build` (the builder has no error pairs, target currents or
    weight copies), so the rule carries its own :meth:`spiking_align`; the generic
    :func:`~neurosim.spiking.spiking_align` hands over to it when it has the hook.
    """

    rate_rules = ("pc-fpa",)
    build_kinds: ClassVar[tuple[str, ...]] = ("feedforward",)

    def updates(self, network, params, activity, target):
        raise ConfigError("spiking pc-fpa: a SpikingActivity of the builder has no error populations; the "
                          "circuit is simulated by neurosim.spiking.predictive_coding.simulate_pc -- call "
                          "spiking_pc_align(...) (or spiking_align once it hands over to rule.spiking_align)")

    def spiking_align(self, network, params, x, target, *, n_trials=20, seed=0, codegen_target="numpy",
                      rule_hyper=None, **options) -> AlignmentReport:
        """:func:`spiking_pc_align` with this rule's rate rule (``rule_hyper`` already built it)."""
        return spiking_pc_align(network, params, x, target, n_trials=n_trials, seed=seed,
                                codegen_target=codegen_target, rate_rule=self.rate_rule, **options)


def _json(value):
    return None if value is None or not math.isfinite(value) else float(value)


def spiking_pc_align(network: Network, params: dict, x, target, *, n_trials: int = 20, seed: int = 0,
                     nudge: float = DEFAULTS["nudge"], codegen_target: str = "numpy", rate_rule=None,
                     **times) -> AlignmentReport:
    """Trial-averaged spiking PC update against backprop and rate PC on the rate-equivalent network.

    Parameters
    ----------
    network, params, x, target, n_trials, seed, nudge, codegen_target
        As :func:`simulate_pc`.
    rate_rule : Rule, optional
        The rate rule compared with (default ``get_rule("pc-fpa")``).
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
    rule = rate_rule if rate_rule is not None else get_rule("pc-fpa")
    equivalent = rate_equivalent(network)
    spikes = simulate_pc(network, params, x, target, n_trials=n_trials, seed=seed, nudge=nudge,
                         codegen_target=codegen_target, **times)
    per_trial = trial_updates(equivalent, spikes)
    dw = {k: v.mean(axis=0) for k, v in per_trial.items()}
    x, t = spikes.inputs, spikes.target
    reference = get_oracle(rule.info.reference)(rule, equivalent, params, x, t)
    rate_dw = rule.step(equivalent, params, x, t)
    names = [k for k in reference if not k.endswith(".bias") and k in dw]
    vs_rate = AlignmentReport.compare(dw, rate_dw, names=names)
    vs_limit = AlignmentReport.compare(dw, finite_nudge_updates(equivalent, params, x, t, nudge=nudge), names=names)
    extra = {"rate_rule": rule.name, "rate_rule_cosine": _json(vs_rate.global_cosine),
             "rate_rule_projections": [{"name": row.name, "cosine": _json(row.cosine)} for row in vs_rate.projections],
             "finite_nudge_cosine": _json(vs_limit.global_cosine),
             "noise_limited_cosine": _json(noise_limited_cosine(per_trial, names)) if n_trials > 1 else None,
             "rate_equivalent_activation": "lif", "n_trials": int(n_trials), "seed": int(seed),
             "nudge": float(nudge), "timings": {k: (round(v, 6) if isinstance(v, float) else v)
                                                for k, v in spikes.timings.items()}}
    return AlignmentReport.compare(dw, reference, names=names, rule=rule.name, backend="spiking",
                                   reference_name=rule.info.reference, extra=extra)

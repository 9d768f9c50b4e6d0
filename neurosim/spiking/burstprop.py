"""Spiking burstprop: bursting two-compartment LIF ensembles whose burst probability carries the error.

Payeur, Guerguiev, Zenke, Richards & Naud (2021) multiplex two signals in one spike train:
*events* (a singlet, or the first spike of a burst) carry the feed-forward signal, and
whether an event becomes a *burst* is set by the apical dendrite, which receives the
feedback.  Here each layer of a dense chain is a population of ``burst_lif`` neurons
(:func:`neurosim.circuits.burstprop_circuit` is the description, pure data; the one
builder :func:`~neurosim.spiking.builder.build_circuit` lowers it with the neuron builder
registered in :mod:`neurosim.spiking.builder`):

.. math::
    \\tau_m \\dot v = -v + I_{soma} + V_{th} b_i, \\qquad
    \\tau_d \\dot v_A = -v_A + I_{apical}, \\qquad
    p = \\sigma\\big(\\beta\\, v_A / V_{th} + \\alpha\\big),\\ \\sigma(\\alpha) = \\bar p_0,

a somatic LIF (exponential synaptic currents, :mod:`neurosim.spiking.lif`) whose every spike
is an event; at each event a draw with probability :math:`p` (the apical potential at that
moment) schedules a second spike ``burst_delay`` later (brian2's custom event ``burst``),
which does not reset the soma.  Forward synapses carry events, :math:`Y` carries bursts and
:math:`Z` carries events with a negative sign (``Projection.transmits``), so the event rate
is the LIF rate of the somatic drive, :math:`e_l = \\phi_{LIF}(W_l e_{l-1} + b_l)`, whatever
the feedback, and the mean apical potential is :math:`u_l = Y_l b_{l+1} - Z_l e_{l+1}`
(:math:`b = p\\,e`).  The output's apical compartment receives the teacher current
:math:`c\\,g(t)(t - \\hat e_N)` in the second of two phases (``free``: :math:`g = 0`,
``teach``: :math:`g = 1`).

Learning rule (the paper's, per synapse, from the counts of one presentation):

.. math::
    \\Delta W_{l,ij} \\propto \\big(B_{l,i} - \\bar P_{l,i} E_{l,i}\\big)\\, E_{l-1,j},

with :math:`E, B` the event and burst counts of the teaching window (as rates),
:math:`E_0 = x` (the stimulus), and :math:`\\bar P` the burst probability without teacher,
the paper's moving average, estimated per sample and unit over the free phases of all
trials (:math:`\\sum B^{free} / \\sum E^{free}`).  Its mean is the rate rule's
:math:`(p_l - \\bar p_l) \\odot e_l\\, e_{l-1}^\\top` on the *rate equivalent*: rule
``burstprop`` with ``dendritic_gain = "one"`` on the ``"lif"`` network
(:func:`~neurosim.spiking.lif.rate_equivalent`), the same :math:`\\bar p_0, \\beta, \\lambda`; as
there, the update is divided by :math:`s_l = \\lambda[\\beta\\bar p_0(1-\\bar p_0)]^{N-l}`.  It is
compared with that rate rule and with backprop's :math:`-\\partial L/\\partial W` of the same
``"lif"`` network at the same weights and inputs.  Apical shot noise makes the mean burst
probability :math:`E[\\sigma(\\beta u_A + \\alpha)]` differ from :math:`\\sigma(\\beta E[u_A] + \\alpha)`;
the measured :math:`\\bar P` removes that offset to first order.

References
----------
Payeur, A., Guerguiev, J., Zenke, F., Richards, B. A. & Naud, R. (2021). Burst-dependent
synaptic plasticity can coordinate learning in hierarchical circuits. Nat. Neurosci. 24,
1010-1019.
"""
from __future__ import annotations

import math

import brian2
import numpy as np
from brian2 import second

from ..alignment import AlignmentReport
from ..circuits import burstprop_circuit
from ..errors import ConfigError
from ..network import Network
from ..oracles import get_oracle
from ..params import bias_key, check_params
from ..reference import check_batch
from ..rules import get_rule
from ..validation import check, check_time
from . import codegen, lif
from .builder import CircuitActivity, build_circuit
from .plasticity import SpikingRule, register_spiking

#: The protocol: a phase without teacher (the reference burst probability) and one with.
PHASES = (("free", 0.0), ("teach", 1.0))

#: Spiking defaults of the hyper-parameters shared with the rate rule (larger than the rate
#: rule's: the burst-probability signal must stand out of binomial count noise).
SPIKING_DEFAULTS = {"nudging": 0.5, "apical_gain": 4.0}


# ----------------------------------------------------------------------------- the update
def _probabilities(activity: CircuitActivity, layer: str, p_baseline: float) -> np.ndarray:
    """:math:`\\bar P` per (sample, unit): bursts / events of the free phases of every trial."""
    events = activity.rho["free"][layer].sum(axis=0)
    bursts = activity.event_rho["burst"]["free"][layer].sum(axis=0)
    return np.where(events > 0, bursts / np.where(events > 0, events, 1.0), p_baseline)


def burst_updates(network: Network, activity: CircuitActivity, x, *, rate_rule, trials=None) -> dict:
    """The burst-dependent update (module docstring), mean over trials and batch, divided by :math:`s_l`.

    Parameters
    ----------
    network : Network
        The burstprop network (before :func:`~neurosim.circuits.burstprop_circuit`); keys of the
        result are its forward projections and biases.
    activity : CircuitActivity
        Of the circuit, phases ``free`` and ``teach``.
    x : ndarray (batch, n_input)
        The stimulus (the input's event rate).
    rate_rule : Burstprop
        Supplies :math:`\\bar p_0` and :math:`s_l` (:meth:`~neurosim.rules.dendritic.Burstprop.layer_factor`).
    trials : slice or index array, optional
        Which trials of the teaching phase to average (default all); :math:`\\bar P` uses every
        free phase.  Per-trial updates give the noise estimate of :func:`noise_ceiling`.
    """
    sel = slice(None) if trials is None else trials
    chain = network.chain()
    p0 = rate_rule.hyper["p_baseline"]
    events = {k: v[sel] for k, v in activity.rho["teach"].items()}
    rows = next(iter(events.values())).shape[0] * x.shape[0]
    dw = {}
    for i, proj in enumerate(chain):
        post = proj.post
        bursts = activity.event_rho["burst"]["teach"][post][sel]
        err = bursts - _probabilities(activity, post, p0)[None] * events[post]       # (trials, batch, n)
        err = err / rate_rule.layer_factor(len(chain) - 1 - i)
        if proj.pre == network.input_layer.name:
            dw[proj.name] = np.einsum("rbi,bj->ij", err, x) / rows
        else:
            dw[proj.name] = np.einsum("rbi,rbj->ij", err, events[proj.pre]) / rows
        if network.layer(post).bias:
            dw[bias_key(post)] = err.sum(axis=(0, 1)) / rows
    return dw


def noise_ceiling(network: Network, activity: CircuitActivity, x, *, rate_rule, names) -> dict:
    """The cosine that trial noise alone allows, per projection and global.

    With per-trial updates :math:`d_r` (:math:`r = 1..n`), their mean :math:`m` and the
    variance of the mean :math:`\\varepsilon^2 = \\sum \\mathrm{var}(d)/n`, an unbiased estimate of
    the noise-free update's squared norm is :math:`\\lVert m\\rVert^2 - \\varepsilon^2`, and the
    expected cosine of :math:`m` with it is :math:`\\sqrt{\\max(0, 1 - \\varepsilon^2/\\lVert m\\rVert^2)}`.
    A spiking update cannot align better than this with any reference; a systematic difference
    from the reference lowers it further.  Also ``null``: :math:`3/\\sqrt{d}`, three standard
    deviations of the cosine between a fixed vector and isotropic noise in :math:`d` dimensions
    (the level a cosine must clear to show any signal).
    """
    n = next(iter(activity.rho["teach"].values())).shape[0]
    per_trial = [burst_updates(network, activity, x, rate_rule=rate_rule, trials=[r]) for r in range(n)]
    out, total_m, total_e, dim = {}, 0.0, 0.0, 0
    for name in names:
        d = np.stack([u[name] for u in per_trial])
        m = d.mean(axis=0)
        eps2 = float(d.var(axis=0, ddof=1).sum() / n)
        m2 = float((m ** 2).sum())
        out[name] = math.sqrt(max(0.0, 1.0 - eps2 / m2)) if m2 > 0 else 0.0
        total_m, total_e, dim = total_m + m2, total_e + eps2, dim + m.size
    out["global"] = math.sqrt(max(0.0, 1.0 - total_e / total_m)) if total_m > 0 else 0.0
    out["null"] = 3.0 / math.sqrt(dim)
    return out


@register_spiking
class SpikingBurstprop(SpikingRule):
    """Spiking burstprop (module docstring) for the rate rule ``burstprop``.

    Parameters
    ----------
    rate_rule : Burstprop
        Its ``p_baseline`` (:math:`\\bar p_0`, also what ``init_params`` gave :math:`Z = \\bar p_0 Y`
        with), its ``feedback`` (what ``network`` adds as :math:`Y`).
    nudging, apical_gain : float, optional
        :math:`\\lambda` and :math:`\\beta` of the spiking circuit (:data:`SPIKING_DEFAULTS`: 0.5
        and 4, larger than the rate rule's 0.05 and 1 so the burst signal clears the count
        noise); :func:`spiking_align` takes them from ``rule_hyper`` when given there.
    dt, phase, settle : brian2 time
        Step (0.1 ms), length of each of the two phases (500 ms) and its uncounted start
        (100 ms: the LIF chain settles in a few ``tau_m``, the teacher's trace in ``tau_trace``).
    burst_delay, tau_trace : brian2 time
        Event-to-second-spike interval (2 ms) and the output trace of the teacher current (50 ms).
    codegen_target : str
        brian2 code generation (:func:`~neurosim.spiking.resolve_target`).
    """

    rate_rules = ("burstprop",)
    build_kinds = ("feedforward", "feedback")

    def __init__(self, rate_rule, *, nudging: float | None = None, apical_gain: float | None = None,
                 dt=0.1 * brian2.ms, phase=500 * brian2.ms, settle=100 * brian2.ms, burst_delay=2 * brian2.ms,
                 tau_trace=50 * brian2.ms, codegen_target: str = "auto"):
        super().__init__(rate_rule)
        owner = "spiking burstprop"
        self.nudging = float(check(owner, "nudging", SPIKING_DEFAULTS["nudging"] if nudging is None else nudging,
                                   gt=0))
        self.apical_gain = float(check(owner, "apical_gain", SPIKING_DEFAULTS["apical_gain"] if apical_gain is None
                                       else apical_gain, gt=0))
        self.dt, self.phase = check_time(owner, "dt", dt, gt=0), check_time(owner, "phase", phase, gt=0)
        self.settle = check_time(owner, "settle", settle, gt=0)
        self.burst_delay = check_time(owner, "burst_delay", burst_delay, gt=0)
        self.tau_trace = check_time(owner, "tau_trace", tau_trace, gt=0)
        if not self.settle < self.phase:
            raise ConfigError(f"{owner}: settle ({settle}) must be shorter than phase ({phase}); the spikes are "
                              "counted in the rest of each phase")
        self.codegen_target = codegen.resolve_target(codegen_target)

    @property
    def twin(self):
        """The rate rule of the circuit's rate equivalent: ``burstprop`` with ``dendritic_gain = "one"``
        and this circuit's :math:`\\bar p_0, \\beta, \\lambda` (``normalise`` on, as the spiking update)."""
        h = self.rate_rule.hyper
        return get_rule("burstprop", p_baseline=h["p_baseline"], apical_gain=self.apical_gain,
                        nudging=self.nudging, normalise=True, lr_z=h["lr_z"], feedback=h["feedback"],
                        dendritic_gain="one", output_probability="sigmoid")

    def circuit(self, network: Network) -> Network:
        """:func:`~neurosim.circuits.burstprop_circuit` of the (prepared) network with this rule's settings."""
        return burstprop_circuit(network, nudging=self.nudging, p_baseline=self.rate_rule.hyper["p_baseline"],
                                 apical_gain=self.apical_gain, burst_delay=float(self.burst_delay / second),
                                 tau_trace=float(self.tau_trace / second))

    def default_network(self, sizes, loss: str | None = None) -> Network:
        """A LIF chain firing from the start (:func:`neurosim.spiking.lif.default_network`), squared error."""
        return lif.default_network(sizes, loss=loss or "mse", name="burstprop-lif")

    def simulate(self, network: Network, params: dict, x, target, *, n_trials: int = 10,
                 seed: int = 0) -> CircuitActivity:
        """Both phases for every sample and trial (all copies side by side); the circuit's activity."""
        check_params(network, params)
        x, t = check_batch(network, x, target, dtype=np.float64)
        if np.any(x < 0):
            raise ConfigError(f"spiking burstprop x: Poisson inputs need rates >= 0, got a minimum of "
                              f"{x.min():.4g}; rescale the inputs to [0, 1]")
        if np.any(t < 0):
            raise ConfigError(f"spiking burstprop target: event-rate targets are rates >= 0, got a minimum of "
                              f"{t.min():.4g}; rescale the targets to [0, 1]")
        check("spiking burstprop", "n_trials", n_trials, "int", gt=0)
        check("spiking burstprop", "seed", seed, "int", ge=0)
        model = build_circuit(self.circuit(network), params, x, t, n_trials=int(n_trials), phases=PHASES,
                              dt=self.dt, phase=self.phase, settle=self.settle, kinds=self.build_kinds,
                              init_v="uniform", seed=int(seed), codegen_target=self.codegen_target)
        return model.run()

    def updates(self, network: Network, params: dict, state, activity: CircuitActivity, target):
        """``(dW, state, {})`` from one simulation (:func:`burst_updates`; ``target`` is unused: the
        teacher acted through the circuit)."""
        if not isinstance(activity, CircuitActivity) or "burst" not in activity.event_rho:
            raise ConfigError(f"spiking burstprop updates: expected the CircuitActivity of simulate(), got "
                              f"{type(activity).__name__}")
        return burst_updates(network, activity, activity.inputs, rate_rule=self.twin), state, {}

    def spiking_align(self, network: Network, params: dict, x, target, *, n_trials: int = 10, seed: int = 0,
                      rule_hyper: dict | None = None, codegen_target: str = "auto", **options) -> AlignmentReport:
        """Trial-averaged spiking ``dW`` vs backprop and vs the rate twin, on the ``"lif"`` rate equivalent.

        ``rule_hyper`` may set ``nudging`` / ``apical_gain`` (the spiking circuit's, else
        :data:`SPIKING_DEFAULTS`); ``options`` are this class's keyword arguments (``phase``...).
        ``extra`` holds ``rate_rule_cosine`` / ``rate_rule_projections`` (vs the rate twin),
        ``noise_ceiling`` (:func:`noise_ceiling`), ``burst_probability`` (mean measured
        :math:`\\bar P` and teaching-phase :math:`B/E` per layer), ``nudging``, ``apical_gain``,
        ``n_trials``, ``seed`` and ``timings``.
        """
        hyper = dict(rule_hyper or {})
        for key in SPIKING_DEFAULTS:
            if key in hyper and key not in options:
                options[key] = hyper[key]
        srule = type(self)(self.rate_rule, codegen_target=codegen_target, **options)
        return srule.align(network, params, x, target, n_trials=n_trials, seed=seed)

    def align(self, network: Network, params: dict, x, target, *, n_trials: int = 10, seed: int = 0,
              activity: CircuitActivity | None = None) -> AlignmentReport:
        """See :meth:`spiking_align` (this rule's settings; ``activity`` reuses a simulation)."""
        prepared = self.rate_rule.network(network)
        missing = sorted(p.name for p in prepared.projections if p.tied_to is None and p.name not in params)
        if missing:
            raise ConfigError(f"spiking burstprop: params lack {', '.join(missing)}; draw them with "
                              "get_rule('burstprop').init_params(get_rule('burstprop').network(network))")
        equivalent = lif.rate_equivalent(prepared)
        x, t = check_batch(prepared, x, target, dtype=np.float64)
        if activity is None:
            activity = self.simulate(prepared, params, x, t, n_trials=n_trials, seed=seed)
        dw = burst_updates(prepared, activity, x, rate_rule=self.twin)
        reference = get_oracle(self.rate_rule.info.reference)(self.rate_rule, equivalent, params, x, t)
        twin, _, _ = self.twin.updates(equivalent, params, None, x, t)
        names = [p.name for p in prepared.chain()]
        vs_twin = AlignmentReport.compare(dw, twin, names=names)
        chain_layers = [p.post for p in prepared.chain()]
        p0 = self.rate_rule.hyper["p_baseline"]
        probs = {}
        for layer in chain_layers:
            teach_e = activity.rho["teach"][layer].sum()
            teach_b = activity.event_rho["burst"]["teach"][layer].sum()
            probs[layer] = {"free": _json(float(_probabilities(activity, layer, p0).mean())),
                            "teach": _json(float(teach_b / teach_e) if teach_e > 0 else None)}
        extra = {"rate_rule_cosine": _json(vs_twin.global_cosine),
                 "rate_rule_projections": [{"name": r.name, "cosine": _json(r.cosine),
                                            "norm_ratio": _json(r.norm_ratio)} for r in vs_twin.projections],
                 "rate_equivalent": "burstprop, dendritic_gain='one', activation 'lif'",
                 "noise_ceiling": noise_ceiling(prepared, activity, x, rate_rule=self.twin, names=names),
                 "burst_probability": probs, "nudging": self.nudging, "apical_gain": self.apical_gain,
                 "n_trials": int(next(iter(activity.rho["teach"].values())).shape[0]), "seed": int(seed),
                 "timings": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in activity.timings.items()}}
        return AlignmentReport.compare(dw, reference, names=names, rule="burstprop", backend="spiking",
                                       reference_name=self.rate_rule.info.reference, extra=extra)


def _json(value):
    return None if value is None or not math.isfinite(value) else float(value)

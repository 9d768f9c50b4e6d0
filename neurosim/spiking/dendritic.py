"""Spiking two-compartment neurons that learn by the dendritic prediction of somatic spiking.

Two models, both circuit descriptions (:mod:`neurosim.circuits`) lowered to brian2 by the one
builder :func:`~neurosim.spiking.builder.build_circuit`, with their plasticity *inside* brian2
(registered synapse models with clock-driven / ``on_post`` updates; no Python loop over time
steps):

1. :func:`teacher_task` -- Urbanczik & Senn (2014), the teacher-student task.
2. :class:`SpikingMicrocircuit` -- the dendritic cortical microcircuit of Sacramento et al.
   (2018) with Poisson-spiking two-compartment pyramidal neurons and interneurons, whose
   basal synapses learn with the same Urbanczik-Senn rule; :func:`spiking_microcircuit_align`
   compares its trial-averaged update with backprop and with the rate rule ``microcircuit``.

Urbanczik-Senn neuron
---------------------
Potentials are measured from rest (:math:`E_L = -70` mV is 0).  One ``NeuronGroup`` holds a
soma :math:`U` and a dendrite :math:`V_w` coupled by the conductance :math:`g_D`:

.. math::
    \\dot U = -g_L U + g_D (V_w - U) + g_E(t)(E_E - U) + g_I(t)(E_I - U), \\qquad
    V_w(t) = \\sum_i w_i\\, \\mathrm{PSP}_i(t),

with :math:`\\mathrm{PSP}_i = \\kappa * s_i` the double-exponential kernel
:math:`\\kappa(t) = (e^{-t/\\tau_L} - e^{-t/\\tau_s})/(\\tau_L - \\tau_s)` (unit area) applied to
the input spike train :math:`s_i`.  The soma spikes as an inhomogeneous Poisson process of
rate

.. math::  \\phi(U) = \\frac{\\phi_{max}}{1 + k\\, e^{\\beta(\\theta - U)}}

and, with :math:`V^*_w = \\frac{g_D}{g_D + g_L} V_w` the *dendritic prediction* (the somatic
potential the dendrite alone would cause), the dendritic synapses change as

.. math::
    \\dot w_i = \\eta\\, \\big(S(t) - \\phi(V^*_w)\\big)\\, h(V^*_w)\\, \\mathrm{PSP}_i(t), \\qquad
    h(x) = \\frac{d}{dx}\\ln\\phi(x) = \\frac{\\beta}{1 + e^{-\\beta(\\theta - x)}/k},

:math:`S(t) = \\sum_f \\delta(t - t_f)` the neuron's own spike train (Urbanczik & Senn 2014,
eq. 3; parameters of their simulations: :math:`g_L = 0.1`, :math:`g_D = 2` per ms,
:math:`E_E = 0`, :math:`E_I = -75` mV, :math:`\\phi_{max} = 0.15` kHz, :math:`k = 0.5`,
:math:`\\beta = 1/3` per mV, :math:`\\theta = -55` mV, :math:`\\tau_L = 10`, :math:`\\tau_s = 3` ms).

*Teacher task.*  A teacher neuron of the same kind, with fixed random weights :math:`w^*` on
the same inputs, has the somatic potential :math:`U^* \\approx V^*_{w^*}` (no somatic input).
It drives the student's soma through the conductances

.. math::  g_E = g_{som}\\frac{U^* - E_I}{E_E - E_I}, \\qquad g_I = g_{som}\\frac{E_E - U^*}{E_E - E_I},

so that :math:`g_E(E_E - U) + g_I(E_I - U) = g_{som}(U^* - U)`: the student's soma is
nudged towards the teacher's.  The expected update vanishes when
:math:`\\phi(U) = \\phi(V^*_w)` on average, which holds at :math:`w = w^*` (then
:math:`V^*_w = U^* = U`); learning drives :math:`\\lVert w - w^*\\rVert` and the mismatch
:math:`\\phi(V^*_w) - \\phi(U^*)` between the student's dendritic prediction and the teacher's
rate towards a noise floor set by :math:`\\eta` and the spike noise.

References
----------
Urbanczik, R. & Senn, W. (2014). Learning by the dendritic prediction of somatic spiking.
Neuron 81, 521-528.

Sacramento, J., Ponte Costa, R., Bengio, Y. & Senn, W. (2018). Dendritic cortical
microcircuits approximate the backpropagation algorithm. NeurIPS 31.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from brian2 import Hz, Quantity, mV, ms, second, volt

from ..alignment import AlignmentReport
from ..errors import ConfigError, ShapeError
from ..circuits import spiking_microcircuit_circuit, spiking_microcircuit_params, urbanczik_senn_circuit
from ..network import Layer, Network, Projection
from ..neurons import RATE_SCALE_HZ, UrbanczikSennParameters
from ..oracles import get_oracle
from ..params import bias_key, check_params
from ..reference import check_batch
from ..validation import check, check_quantity, check_time
from . import codegen
from .builder import TIMING_KEYS, US_WEIGHT_UNIT, build_circuit
from .plasticity import SpikingRule, register_spiking

__all__ = ["UrbanczikSennConfig", "TeacherTaskResult", "teacher_task", "teacher_task_network", "SpikingMicrocircuit",
           "MicrocircuitSpikes", "spiking_microcircuit_updates", "spiking_microcircuit_align",
           "train_spiking_microcircuit", "output_noise_decay"]


def _positive(owner: str, name: str, value, *, integer: bool = False, allow_zero: bool = False) -> None:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not (value >= 0 if allow_zero else value > 0):
        kind = "a positive integer" if integer else ("a number >= 0" if allow_zero else "a positive number")
        raise ConfigError(f"{owner}: {name} expected {kind}, got {value!r}")


# =========================================================================== Urbanczik & Senn 2014
#: The quantity fields of :class:`UrbanczikSennConfig`: name -> (unit, how the unit follows a
#: number in code, what it is, lower bound in that unit as ("gt" | "ge" | None, value), the SI
#: key of :meth:`UrbanczikSennConfig.to_record`, that key's unit).
_US_QUANTITIES = {
    "duration": (second, "*brian2.second", "time", ("gt", 0.0), "duration_s", second),
    "pattern": (ms, "*brian2.ms", "time", ("gt", 0.0), "pattern_s", second),
    "rate_max": (Hz, "*brian2.Hz", "rate", ("gt", 0.0), "rate_max_hz", Hz),
    "g_l": (1 / ms, "/brian2.ms", "conductance (per time)", ("gt", 0.0), "g_l_per_s", Hz),
    "g_d": (1 / ms, "/brian2.ms", "conductance (per time)", ("gt", 0.0), "g_d_per_s", Hz),
    "g_som": (1 / ms, "/brian2.ms", "conductance (per time)", ("ge", 0.0), "g_som_per_s", Hz),
    "e_exc": (mV, "*brian2.mV", "potential", (None, 0.0), "e_exc_v", volt),
    "e_inh": (mV, "*brian2.mV", "potential", (None, 0.0), "e_inh_v", volt),
    "phi_max": (Hz, "*brian2.Hz", "rate", ("gt", 0.0), "phi_max_hz", Hz),
    "beta": (1 / mV, "/brian2.mV", "inverse potential", ("gt", 0.0), "beta_per_v", 1 / volt),
    "theta": (mV, "*brian2.mV", "potential", (None, 0.0), "theta_v", volt),
    "tau_l": (ms, "*brian2.ms", "time", ("gt", 0.0), "tau_l_s", second),
    "tau_s": (ms, "*brian2.ms", "time", ("gt", 0.0), "tau_s_s", second),
    "eta": (mV ** 2 * ms ** 2, "*brian2.mV**2*brian2.ms**2", "learning rate (potential^2 time^2)", ("ge", 0.0),
            "eta_v2_s2", volt ** 2 * second ** 2),
    "w_mean": (mV * ms, "*brian2.mV*brian2.ms", "weight (potential x time)", (None, 0.0), "w_mean_v_s",
               volt * second),
    "w_std": (mV * ms, "*brian2.mV*brian2.ms", "weight (potential x time)", ("gt", 0.0), "w_std_v_s",
              volt * second),
    "dt": (ms, "*brian2.ms", "time", ("gt", 0.0), "dt_s", second),
    "record_every": (ms, "*brian2.ms", "time", ("gt", 0.0), "record_every_s", second),
}


def _default(value):
    """A quantity default of a dataclass field (a ``Quantity`` is an unhashable ndarray)."""
    return field(default_factory=lambda: value)


def _in_units(value, unit) -> float:
    """``value`` in ``unit`` as a float, rounded to 15 significant digits.

    The scales of mV ms (1e-6) and mV² ms² (1e-12) are not binary fractions, so a quantity
    written in them does not come back exactly (``25*mV*ms / (mV*ms)`` is 25.000000000000004);
    15 digits (a double holds 15.95) recover the decimal number that was written, and with it
    the former float API's simulations bit for bit.
    """
    return float(f"{float(value / unit):.15g}")


def _whole(ratio) -> bool:
    """Whether a dimensionless ratio of two quantities is a whole number (to round-off)."""
    r = float(ratio)
    return abs(r - round(r)) <= 1e-9 * max(1.0, abs(r))


@dataclass(frozen=True)
class UrbanczikSennConfig:
    """Teacher task of Urbanczik & Senn (2014): neuron, inputs, plasticity, duration.

    brian2 quantities, like every spiking API (``dt=0.5*ms``); a bare number or a quantity of
    the wrong dimensions is a :class:`~neurosim.errors.ConfigError` that says how to write it.
    The layer's parameters are *derived* (:meth:`neuron`, plain SI floats), and a JSON record of
    the config is :meth:`to_record` (SI floats, keys named with their unit).

    Attributes
    ----------
    n_inputs : int
        Dendritic input spike trains (shared by teacher and students).
    n_students : int
        Independent student neurons (different initial weights), simulated in one group.
    duration : brian2 time
        Learning time (100 s).
    pattern : brian2 time
        Every ``pattern`` (100 ms) the input rates are redrawn uniformly in [0, ``rate_max``]
        (fluctuating inputs make the teacher's weights identifiable).
    rate_max : brian2 rate
        40 Hz.
    g_l, g_d, g_som : brian2 quantity, 1/time
        Leak, dendro-somatic coupling and teacher (nudging) conductances (0.1, 2 and 0.8 per ms).
    e_exc, e_inh : brian2 potential
        Reversal potentials relative to rest (paper: 0 and -75 mV with rest at -70 mV: 70 and
        -5 mV).
    phi_max, k, beta, theta : brian2 rate, float, 1/potential, potential
        Transfer function :math:`\\phi` (150 Hz, 0.5, 1/3 per mV; theta relative to rest:
        -55 mV -> 15 mV).
    tau_l, tau_s : brian2 time
        PSP kernel time constants (10 and 3 ms).
    eta : brian2 quantity, potential^2 time^2
        Learning rate (10 mV² ms², ``10*mV**2*ms**2``), so that :math:`\\eta h\\,\\mathrm{PSP}` is a
        weight (mV ms) per spike.
    w_mean, w_std : brian2 quantity, potential x time
        Teacher and initial student weights are drawn from N(mean, std) (5 and 15 mV ms: the
        kernel has unit area, so :math:`\\bar V_w = \\sum_i w_i r_i`).
    dt, record_every : brian2 time
        Integration step (0.5 ms); sampling of the recorded rates (5 ms).
    """

    n_inputs: int = 100
    n_students: int = 5
    duration: Quantity = _default(100 * second)
    pattern: Quantity = _default(100 * ms)
    rate_max: Quantity = _default(40 * Hz)
    g_l: Quantity = _default(0.1 / ms)
    g_d: Quantity = _default(2 / ms)
    g_som: Quantity = _default(0.8 / ms)
    e_exc: Quantity = _default(70 * mV)
    e_inh: Quantity = _default(-5 * mV)
    phi_max: Quantity = _default(150 * Hz)
    k: float = 0.5
    beta: Quantity = _default(1 / (3 * mV))
    theta: Quantity = _default(15 * mV)
    tau_l: Quantity = _default(10 * ms)
    tau_s: Quantity = _default(3 * ms)
    eta: Quantity = _default(10 * mV ** 2 * ms ** 2)
    w_mean: Quantity = _default(5 * mV * ms)
    w_std: Quantity = _default(15 * mV * ms)
    dt: Quantity = _default(0.5 * ms)
    record_every: Quantity = _default(5 * ms)

    def __post_init__(self):
        owner = "UrbanczikSennConfig"
        for name in ("n_inputs", "n_students"):
            _positive(owner, name, getattr(self, name), integer=True)
        check(owner, "k", self.k, gt=0)
        for name, (unit, written, what, (op, bound), _, _) in _US_QUANTITIES.items():
            check_quantity(owner, name, getattr(self, name), unit, written=written, what=what,
                           **({op: bound} if op else {}))
        if not self.e_exc > self.e_inh:
            raise ConfigError(f"{owner}: e_exc must exceed e_inh, got {self.e_exc} <= {self.e_inh}")
        if self.tau_l == self.tau_s:
            raise ConfigError(f"{owner}: tau_l and tau_s must differ (double-exponential kernel), got "
                              f"both {self.tau_l}; change one of them")
        if not _whole(self.duration / self.pattern):
            raise ConfigError(f"{owner}: duration = {self.duration} must be a whole number of pattern = "
                              f"{self.pattern} (one row of the input stream per pattern)")
        for name in ("pattern", "record_every"):
            if not _whole(getattr(self, name) / self.dt):
                raise ConfigError(f"{owner}: {name} = {getattr(self, name)} must be a whole number of "
                                  f"dt = {self.dt}")

    def __hash__(self):
        return hash(tuple(sorted(self.to_record().items())))

    def neuron(self) -> UrbanczikSennParameters:
        """The student's (and teacher's) neuron parameters, plain SI floats: the layer's ``params``.

        :func:`teacher_task_network` builds its layer from this, so the config and the simulated
        neuron cannot disagree.
        """
        return UrbanczikSennParameters(
            g_l=float(self.g_l / Hz), g_d=float(self.g_d / Hz), g_som=float(self.g_som / Hz),
            e_exc=float(self.e_exc / volt), e_inh=float(self.e_inh / volt), phi_max=float(self.phi_max / Hz),
            k=float(self.k), beta=float(self.beta * volt), theta=float(self.theta / volt),
            tau_l=float(self.tau_l / second), tau_s=float(self.tau_s / second))

    def to_record(self) -> dict:
        """The config as JSON: SI floats under keys named with their unit (``{"dt_s": 0.0005, ...}``)."""
        record = {"n_inputs": int(self.n_inputs), "n_students": int(self.n_students), "k": float(self.k)}
        for name, (*_, key, si) in _US_QUANTITIES.items():
            record[key] = float(getattr(self, name) / si)
        return record

    @property
    def dendritic_attenuation(self) -> float:
        """:math:`g_D / (g_D + g_L)`: the factor from dendritic to predicted somatic potential."""
        return self.neuron().dendritic_attenuation


@dataclass
class TeacherTaskResult:
    """What :func:`teacher_task` measured.

    Attributes
    ----------
    times_s : ndarray (n_samples,)
        Times of the weight snapshots (every ``record_every``), seconds.
    weight_distance : ndarray (n_students, n_samples)
        :math:`\\lVert w - w^*\\rVert / \\lVert w^* - \\bar w^* \\rVert`, relative to the spread of the
        teacher's weights.
    window_s : ndarray (n_windows,)
        Centre of each window over which the prediction error is averaged.
    prediction_rmse_hz : ndarray (n_students, n_windows)
        RMS over the window of :math:`\\phi(V^*_w) - \\phi(U^*)` (Hz): student's dendritic
        prediction vs teacher's rate.
    teacher_rate_hz : ndarray (n_students,)
        Mean of :math:`\\phi(U^*)` over the run.
    spike_rates_hz : dict
        Measured mean spike rates of students and teachers.
    w_star, w_initial, w_final : ndarray (n_students, n_inputs)
        Teacher, initial and final student weights (mV ms).
    config : dict
        :meth:`UrbanczikSennConfig.to_record` (SI floats; JSON).
    seed : int
    timings : dict
    """

    times_s: np.ndarray
    weight_distance: np.ndarray
    window_s: np.ndarray
    prediction_rmse_hz: np.ndarray
    teacher_rate_hz: np.ndarray
    spike_rates_hz: dict
    w_star: np.ndarray
    w_initial: np.ndarray
    w_final: np.ndarray
    config: dict
    seed: int
    timings: dict = field(default_factory=dict)


def teacher_task(config: UrbanczikSennConfig | None = None, *, seed: int = 0, target: str = "auto",
                 window=5 * second) -> TeacherTaskResult:
    """Run the Urbanczik-Senn teacher task in brian2 (module docstring for the equations).

    The circuit is a description, :func:`teacher_task_network` through
    :func:`~neurosim.circuits.urbanczik_senn_circuit`, lowered by
    :func:`~neurosim.spiking.builder.build_circuit` (neuron model ``urbanczik_senn``, synapse
    model ``synapse:urbanczik_senn`` on ``input->student``); the input patterns are the rows of a
    sequential stream (one row per ``pattern``).  The update is read back from the plastic
    synapses (``CircuitModel.recorded`` every ``record_every``).

    Parameters
    ----------
    config : UrbanczikSennConfig, optional
    seed : int
        Draws the teacher's and students' weights and the input rates (``np.random.Generator``)
        and seeds brian2's spike generation.
    target : {"auto", "cython", "numpy"}
        brian2 code generation.  The shapes depend only on ``n_inputs`` / ``n_students``, so
        one compilation serves every run of the same size.
    window : brian2 time
        Averaging window of the prediction error (5 s); a whole number of ``record_every``.

    Returns
    -------
    TeacherTaskResult

    Raises
    ------
    ConfigError
        On a bad seed, target or window.
    """
    cfg = config if config is not None else UrbanczikSennConfig()
    if not isinstance(cfg, UrbanczikSennConfig):
        raise ConfigError(f"teacher_task: config expected an UrbanczikSennConfig, got {type(cfg).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"teacher_task: seed expected a non-negative integer, got {seed!r}")
    check_time("teacher_task", "window", window, example="5*brian2.second")
    if window > cfg.duration:
        raise ConfigError(f"teacher_task: window = {window} exceeds duration = {cfg.duration}; "
                          "use a shorter window")
    chosen = codegen.resolve_target(target)
    if chosen == "cpp_standalone":
        raise ConfigError("teacher_task: target 'cpp_standalone' is not supported; use 'cython' or 'numpy'")
    rng = np.random.default_rng(seed)
    n_in, n_st = cfg.n_inputs, cfg.n_students
    # weights in the builder's unit (mV ms), rates in Hz, eta in mV^2 ms^2 (the synapse model's option)
    w_mean, w_std = _in_units(cfg.w_mean, US_WEIGHT_UNIT), _in_units(cfg.w_std, US_WEIGHT_UNIT)
    w_star = rng.normal(w_mean, w_std, size=(n_st, n_in))
    w_init = rng.normal(w_mean, w_std, size=(n_st, n_in))
    n_patterns = int(round(float(cfg.duration / cfg.pattern)))
    rates = rng.uniform(0.0, float(cfg.rate_max / Hz), size=(n_patterns, n_in))
    eta = _in_units(cfg.eta, mV ** 2 * ms ** 2)

    circuit = urbanczik_senn_circuit(teacher_task_network(cfg))
    params = {"input->student": w_init, "input->teacher": w_star, "teacher->student": np.eye(n_st)}
    # a stream of input patterns, one row each: the builder's sequential presentation
    model = build_circuit(circuit, params, rates / RATE_SCALE_HZ, n_trials=1, dt=cfg.dt,
                          phase=cfg.pattern, settle=0 * ms, seed=int(seed), codegen_target=chosen,
                          presentation="sequential", plasticity={"input->student": ("urbanczik_senn",
                                                                                    {"eta": eta})},
                          record={"input->student": ("w",), "student": ("star_phi",), "teacher": ("phi",)},
                          record_dt=cfg.record_every)
    activity = model.run()
    times, w_hist = model.recorded("input->student", "w")
    w_hist = w_hist[0]                                            # (student, input, sample), mV ms
    spread = np.linalg.norm(w_star - w_star.mean(axis=1, keepdims=True), axis=1)
    distance = np.linalg.norm(w_hist - w_star[:, :, None], axis=1) / spread[:, None]
    per_window = int(round(float(window / cfg.record_every)))
    window_s, duration_s = float(window / second), float(cfg.duration / second)
    pred = model.recorded("student", "star_phi")[1]
    teach = model.recorded("teacher", "phi")[1]
    n_win = pred.shape[1] // per_window
    sq = ((pred - teach) ** 2)[:, :n_win * per_window].reshape(n_st, n_win, per_window)
    rmse = np.sqrt(sq.mean(axis=2))
    centres = (np.arange(n_win) + 0.5) * window_s
    n_spikes = {name: activity.spikes[name][0].size for name in ("student", "teacher")}
    return TeacherTaskResult(
        times_s=times, weight_distance=distance, window_s=centres, prediction_rmse_hz=rmse,
        teacher_rate_hz=teach.mean(axis=1),
        spike_rates_hz={name: float(n / (n_st * duration_s)) for name, n in n_spikes.items()},
        w_star=w_star, w_initial=w_init, w_final=model.weights("input->student")[0], config=cfg.to_record(),
        seed=int(seed), timings={"target": chosen, **{k: activity.timings[k] for k in TIMING_KEYS},
                                 "biological_s": duration_s})


def teacher_task_network(config: UrbanczikSennConfig | None = None) -> Network:
    """The student network of the teacher task: ``input -> student`` onto ``urbanczik_senn`` dendrites.

    :func:`~neurosim.circuits.urbanczik_senn_circuit` adds the teacher; the layer's (SI)
    ``params`` are :meth:`UrbanczikSennConfig.neuron`.
    """
    cfg = config if config is not None else UrbanczikSennConfig()
    neuron = asdict(cfg.neuron())
    return Network((Layer("input", cfg.n_inputs, activation="linear", role="input", bias=False),
                    Layer("student", cfg.n_students, activation="linear", neuron="urbanczik_senn", role="output",
                          bias=False, params=tuple(sorted(neuron.items())))),
                   (Projection("input", "student", target="basal"),), name="urbanczik-senn")



# =========================================================================== spiking microcircuit


@dataclass
class MicrocircuitSpikes:
    """Plasticity signals of one :meth:`SpikingMicrocircuit.run`, averaged over copies.

    Attributes
    ----------
    spike_updates, rate_updates : dict of str to ndarray
        ``dW`` per parameter key (feed-forward weights ``(post, pre)`` and pyramidal biases),
        batch and trial mean, divided by the layer factor :math:`s_l` of the rate rule (so
        that both approach :math:`-\\partial L/\\partial W` as :math:`\\lambda\\to 0`).  ``spike``:
        the error is the neuron's own spike train, :math:`S(t)/r_{max} - \\phi(V^*)`; ``rate``:
        its expectation given the soma, :math:`\\phi(U) - \\phi(V^*)` (lower variance).  With
        ``baseline = "free"`` these are the nudged copies' plasticity minus the free copies'
        (:class:`SpikingMicrocircuit`); with ``"none"`` the nudged copies' alone.
    per_trial_spike, per_trial_rate : dict of str to ndarray (n_trials, post, pre)
        The same before averaging over trials (batch mean per trial): measures trial noise.
    output_rate : ndarray (n_trials, batch, n_out)
        Output spike count of the nudged copies / (window r_max), rate-side units.
    timings : dict
    free_per_trial_spike, free_per_trial_rate : dict of str to ndarray (n_trials, post, pre) or None
        ``baseline = "free"`` only: the free (teacher-less) copies' plasticity, same scaling; the
        unbaselined nudged update is ``per_trial + free_per_trial``.
    free_output_rate : ndarray (n_trials, batch, n_out) or None
        ``baseline = "free"`` only: the free copies' output spike count / (window r_max) -- the
        network's prediction, uncontaminated by the teacher.
    """

    spike_updates: dict
    rate_updates: dict
    per_trial_spike: dict
    per_trial_rate: dict
    output_rate: np.ndarray
    timings: dict = field(default_factory=dict)
    free_per_trial_spike: dict | None = None
    free_per_trial_rate: dict | None = None
    free_output_rate: np.ndarray | None = None

    @property
    def free_spike_updates(self) -> dict | None:
        """Trial mean of ``free_per_trial_spike`` (None without a free phase)."""
        return None if self.free_per_trial_spike is None else {
            k: v.mean(axis=0) for k, v in self.free_per_trial_spike.items()}

    @property
    def free_rate_updates(self) -> dict | None:
        """Trial mean of ``free_per_trial_rate`` (None without a free phase)."""
        return None if self.free_per_trial_rate is None else {
            k: v.mean(axis=0) for k, v in self.free_per_trial_rate.items()}


class SpikingMicrocircuit:
    """Sacramento et al.'s (2018) microcircuit with Poisson-spiking two-compartment neurons in brian2.

    Every pyramidal neuron and interneuron is one row of a ``NeuronGroup`` with a soma
    :math:`u`, a basal (or, for interneurons, dendritic) compartment :math:`\\hat v_B` and, for
    hidden pyramidal neurons, an apical compartment :math:`v_A`.  Neurons fire as Poisson
    processes of rate :math:`r_{max}\\,\\phi(u)` (:math:`\\phi` the layer's sigmoid), and every
    synapse sees the presynaptic spike train through an exponential trace normalised to
    rate units, :math:`\\tau_\\psi\\dot\\psi = -\\psi + \\tau_\\psi\\,S(t)/r_{max}`
    (:math:`\\langle\\psi\\rangle = \\phi(u)`), so that in the mean every compartment sees the
    rate network's input:

    .. math::
        \\hat v_{B,l} = W_l\\psi_{l-1} + b_l, \\qquad
        v_{A,l} = B_l\\psi_{l+1} + W^{PI}_l\\psi^I_l, \\qquad
        \\hat v^I_l = W^{IP}_l\\psi_l + b^I_l,

    .. math::
        \\tau\\dot u_l = -u_l + \\hat v_{B,l} + a\\,v_{A,l}, \\qquad
        \\tau\\dot u_N = -u_N + \\hat v_{B,N} - \\lambda\\,(\\phi(\\hat v_{B,N}) - t), \\qquad
        \\tau\\dot u^I_l = -u^I_l + (1-\\lambda_I)\\hat v^I_l + \\lambda_I u_{l+1},

    with the constants :math:`a`, :math:`\\lambda`, :math:`\\lambda_I` of the rate rule
    (:class:`~neurosim.rules.dendritic.Microcircuit`, mse loss).  The dendritic prediction is
    the somatic potential the basal input alone would cause, :math:`\\tau\\dot V^* = -V^* +
    \\hat v_B` (Urbanczik & Senn 2014's :math:`V^*_w`; filtering it like the soma makes
    :math:`u - V^*` pure apical/teacher signal, not the lag of the basal noise).  The basal
    plasticity integrated over the counting window :math:`T` is

    .. math::
        \\Delta W_{l,ij} = \\frac{1}{s_l T}\\int_T \\Big(\\frac{S_i(t)}{r_{max}} - \\phi(V^*_i)\\Big)\\psi_j\\,dt
        \\quad\\text{(spike)}, \\qquad
        \\frac{1}{s_l T}\\int_T \\big(\\phi(u_i) - \\phi(V^*_i)\\big)\\psi_j\\,dt \\quad\\text{(rate)},

    accumulated inside brian2 (synapse model ``microcircuit_basal``: clock-driven synaptic
    variables and ``on_post``).  Its mean is the rate rule's basal update at the steady state;
    the interneuron's nudging by :math:`u_{l+1}` is a potential read one-to-one across groups
    (a ``(summed)`` variable), as in the rate model, while every other signal -- feed-forward,
    top-down, lateral -- travels as spikes.

    The circuit is a description, :func:`~neurosim.circuits.spiking_microcircuit_circuit` of the
    rate network (neuron model ``poisson_two_compartment``, a gated ``target`` drive), lowered by
    :func:`~neurosim.spiking.builder.build_circuit` at every :meth:`run` (:meth:`build`): copy
    ``c = (phase * n_trials + trial) * batch + sample`` presents one sample in one phase, so one
    ``brian2`` run gives every trial of both phases (``presentation = "parallel_phases"``).
    Generated code depends on the equations only: new weights (:meth:`set_params`) or batch
    sizes recompile nothing.

    *Free-phase baseline* (``baseline = "free"``, the default).  Without a teacher the
    spiking circuit's hidden-layer plasticity does not vanish: its mean is 25-50x the
    gradient's norm on XOR (spike signal; 3-5x for the :math:`\\phi(u)` signal; README).  The
    hidden layer's raw teacher signal is attenuated by :math:`s_1 = \\lambda a (1-\\lambda_I)`
    and is ~0.1 % of :math:`\\phi\\,\\psi`, so any per-cent-level systematic error swamps it:
    Jensen's :math:`E[\\phi(u)] \\ne \\phi(V^*)` under the spike-driven fluctuations of
    :math:`a\\,v_A` (zero only in the mean in the self-predicting state; :math:`V^*` does not
    see them) and the :math:`O(dt/\\tau_\\psi)` timing of spike and trace (the output layer's
    teacher-less bias vanishes within noise at dt = 0.05 ms).  The circuit is therefore
    simulated twice in the same run -- ``n_copies`` nudged copies and ``n_copies`` free
    copies (:math:`\\lambda = 0` at the output) -- with *common random numbers*: copy ``c``
    of both phases draws its spikes from the same uniform :math:`\\xi_i(t)` per neuron and
    step (spike iff :math:`\\xi_i(t) < r_{max}\\phi(u_i)\\,dt`; brian2 variable ``unif``), so
    the two phases share every input spike and differ only where the teacher moved a rate
    across :math:`\\xi`.  The update is the difference

    .. math::
        \\Delta W_l = \\Delta W_l^{nudged} - \\Delta W_l^{free},

    the spiking analogue of the rate rule's ``basal_baseline = "free"``
    (:math:`\\phi(u) - \\phi(\\hat v_B + a v_A^{free})`) and of burstprop's :math:`p - \\bar p`:
    its expectation is the teacher-induced change of the plasticity, and the shared noise
    cancels to first order.  ``baseline = "none"`` simulates the nudged copies alone (the
    original rule, half the cost).

    Parameters
    ----------
    network : Network
        A microcircuit (``get_rule("microcircuit").network(chain)``), sigmoid layers, mse.
    params : dict
        Its parameters (``rule.init_params``: self-predicting lateral weights).
    rule : Microcircuit
        Supplies the conductances (:math:`a, \\lambda, \\lambda_I, s_l`).
    batch, n_trials : int
    r_max : brian2 rate
        Maximum rate (200 Hz).
    tau_psi, tau_soma : brian2 time
        Presynaptic trace and somatic time constants (20 and 5 ms).
    dt, settle, window : brian2 time
        Step (0.2 ms), settling time (not counted; 200 ms), counting window (1000 ms).
    target : {"auto", "cython", "numpy"}
    baseline : {"free", "none"}
        Subtract the free copies' plasticity (common random numbers), or not.
    """

    def __init__(self, network: Network, params: dict, rule, *, batch: int, n_trials: int = 10,
                 r_max=200 * Hz, tau_psi=20 * ms, tau_soma=5 * ms, dt=0.2 * ms, settle=200 * ms, window=1000 * ms,
                 target: str = "auto",
                 baseline: str = "free"):
        from ..rules.dendritic import Microcircuit

        owner = "SpikingMicrocircuit"
        if not isinstance(rule, Microcircuit):
            raise ConfigError(f"{owner}: rule expected a neurosim.rules.dendritic.Microcircuit, got "
                              f"{type(rule).__name__}")
        if not isinstance(network, Network):
            raise ConfigError(f"{owner}: network expected a neurosim Network, got {type(network).__name__}")
        _positive(owner, "batch", batch, integer=True)
        _positive(owner, "n_trials", n_trials, integer=True)
        if baseline not in ("free", "none"):
            raise ConfigError(f"{owner}: baseline expected 'free' or 'none', got {baseline!r}")
        check_quantity(owner, "r_max", r_max, Hz, gt=0, written="*brian2.Hz", what="rate")
        for name, value in (("tau_psi", tau_psi), ("tau_soma", tau_soma), ("dt", dt), ("settle", settle),
                            ("window", window)):
            check_time(owner, name, value, example="20*brian2.ms")
        if network.loss != "mse":
            raise ConfigError(f"{owner}: network '{network.name}'.loss is '{network.loss}'; the spiking teacher "
                              "implements mse (u_tgt = v_B - lambda (phi(v_B) - t)); use loss = 'mse'")
        self.chain, self.stages = rule._circuit(network)
        for layer in [network.layer(p.post) for p in self.chain] + [network.layer(s.inter) for s in self.stages]:
            if layer.activation != "sigmoid":
                raise ConfigError(f"{owner}: layer '{layer.name}'.activation is '{layer.activation}'; Poisson "
                                  "rates r_max phi(u) need phi in [0, 1]: use 'sigmoid'")
        for p in self.chain:
            if p.tied_to is not None:
                raise ConfigError(f"{owner}: feed-forward projection '{p.name}' is tied; give it its own weights")
        check_params(network, params)
        self.network, self.rule = network, rule
        self.batch, self.n_trials = int(batch), int(n_trials)
        self.n_copies = self.batch * self.n_trials
        self.baseline = baseline
        # phase 0: nudged copies, phase 1 (baseline "free"): the same copies without teacher
        self.n_phases = 2 if baseline == "free" else 1
        self.r_max, self.tau_psi, self.tau_soma = r_max, tau_psi, tau_soma
        self.dt, self.settle, self.window = dt, settle, window
        self.target = codegen.resolve_target(target)
        if self.target == "cpp_standalone":
            raise ConfigError(f"{owner}: target 'cpp_standalone' is not supported; use 'cython' or 'numpy'")
        # the description's neuron parameters are SI floats (PoissonTwoCompartmentParameters)
        self.circuit = spiking_microcircuit_circuit(network, rule, r_max=float(r_max / Hz),
                                                    tau_psi=float(tau_psi / second), tau=float(tau_soma / second))
        self.set_params(params)

    def set_params(self, params: dict) -> None:
        """Load weights and biases (same network): every copy gets the same ones."""
        check_params(self.network, params)
        self.params = spiking_microcircuit_params(self.circuit, {k: np.array(v, dtype=np.float64, copy=True)
                                                                 for k, v in params.items()})

    def build(self, x, target, *, seed: int = 0):
        """The circuit lowered by :func:`~neurosim.spiking.builder.build_circuit` for inputs ``x``, ``target``.

        The phases ``nudged`` (gain 1) and, with ``baseline = "free"``, ``free`` (gain 0) are
        blocks of copies side by side with common random numbers
        (``presentation = "parallel_phases"``); the feed-forward projections carry the synapse
        model ``microcircuit_basal`` (the integrated plasticity, weights fixed).
        """
        phases = (("nudged", 1.0), ("free", 0.0))[:self.n_phases]
        # input rates x r_max in Hz are x r_max / RATE_SCALE_HZ in the builder's rate units
        return build_circuit(self.circuit, self.params, np.asarray(x) * (float(self.r_max / Hz) / RATE_SCALE_HZ),
                             target, n_trials=self.n_trials, phases=phases, dt=self.dt,
                             phase=self.settle + self.window, settle=self.settle, seed=int(seed),
                             codegen_target=self.target, presentation="parallel_phases",
                             plasticity={p.name: ("microcircuit_basal", {}) for p in self.chain})

    # ------------------------------------------------------------------ running
    def run(self, x, target, *, seed: int = 0) -> MicrocircuitSpikes:
        """Present every sample ``n_trials`` times in parallel and integrate the plasticity.

        Parameters
        ----------
        x : ndarray (batch, n_input)
            Inputs in rate units (Poisson rate ``x r_max``), in [0, 1].
        target : ndarray (batch, n_output)
            Teacher targets (mse).
        seed : int
            brian2's random numbers.

        Returns
        -------
        MicrocircuitSpikes
        """
        x, t = check_batch(self.network, x, target)
        if x.shape[0] != self.batch:
            raise ShapeError(f"SpikingMicrocircuit.run: x has {x.shape[0]} samples, the model was built for "
                             f"batch = {self.batch}; build it with batch={x.shape[0]}")
        if np.any(x < 0) or np.any(x > 1):
            raise ShapeError("SpikingMicrocircuit.run: x expected rates in [0, 1] (Poisson rate x r_max), got "
                             f"values in [{x.min():g}, {x.max():g}]; rescale the inputs")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"SpikingMicrocircuit.run: seed expected a non-negative integer, got {seed!r}")
        model = self.build(x, t, seed=seed)
        activity = model.run()
        net, chain = self.network, self.chain
        window = float(self.window / second)
        shape = (self.n_phases, self.n_trials, self.batch)
        # phases[kind][key]: (n_phases, n_trials, post[, pre]), batch mean, scaled by 1/(s_l T)
        phases = {"spike": {}, "rate": {}}
        for depth, p in zip(range(len(chain) - 1, -1, -1), chain):
            scale = 1.0 / (self.rule.layer_factor(depth) * window)
            post, pre = net.layer(p.post).size, net.layer(p.pre).size
            for kind in ("spike", "rate"):
                acc = model.synapse_values(p.name, f"acc_{kind}")
                phases[kind][p.name] = acc.reshape(*shape, post, pre).mean(axis=2) * scale
                if net.layer(p.post).bias:
                    berr = model.layer_values(p.post, f"berr_{kind}").reshape(*shape, post)
                    phases[kind][bias_key(p.post)] = berr.mean(axis=2) * scale
        out = chain[-1].post
        rates = {name: activity.rho[name][out] * (RATE_SCALE_HZ / float(self.r_max / Hz))
                 for name in ("nudged", "free")[:self.n_phases]}
        free = self.n_phases == 2
        per_trial = {kind: {k: v[0] - v[1] if free else v[0] for k, v in d.items()} for kind, d in phases.items()}
        return MicrocircuitSpikes(
            spike_updates={k: v.mean(axis=0) for k, v in per_trial["spike"].items()},
            rate_updates={k: v.mean(axis=0) for k, v in per_trial["rate"].items()},
            per_trial_spike=per_trial["spike"], per_trial_rate=per_trial["rate"], output_rate=rates["nudged"],
            timings={"target": self.target, **{k: activity.timings[k] for k in TIMING_KEYS},
                     "biological_s": float((self.settle + self.window) / second)},
            free_per_trial_spike={k: v[1] for k, v in phases["spike"].items()} if free else None,
            free_per_trial_rate={k: v[1] for k, v in phases["rate"].items()} if free else None,
            free_output_rate=rates["free"] if free else None)


def output_noise_decay(network: Network, params: dict, x, *, r_max=200 * Hz, tau_psi=20 * ms,
                       tau_soma=5 * ms) -> np.ndarray:
    """The predicted bias of the spiking microcircuit's output update (issue 18 item 5, known defect).

    The output soma is nudged by :math:`-\\lambda(\\phi(\\hat v_B) - t)` of the *instantaneous*
    basal potential :math:`\\hat v_B = W\\psi + b`, whose spike-driven fluctuations covary with
    the presynaptic traces; after division by the layer factor :math:`s_N = \\lambda` the basal
    update carries, besides the rate rule's,

    .. math::
        d_j = -\\Big\\langle \\phi'(\\hat v_B)^2\\, W_j\\, \\mathrm{Var}(\\psi_j) \\Big\\rangle_{batch}
        \\frac{\\tau_\\psi}{\\tau_\\psi + \\tau}, \\qquad \\mathrm{Var}(\\psi_j) = \\frac{\\phi_j}{2 r_{max}\\tau_\\psi}

    (Campbell's theorem for a Poisson train of rate :math:`r_{max}\\phi_j` through the kernel
    :math:`e^{-t/\\tau_\\psi}/(r_{max}\\tau_\\psi)`; the soma and :math:`V^*` low-pass the nudging term
    with :math:`\\tau`, keeping the fraction :math:`\\tau_\\psi/(\\tau_\\psi+\\tau)` of its covariance with
    :math:`\\psi_j`): a weight decay.  It exists only with the teacher (the free baseline keeps it)
    and is a bias: trials do not average it away, :math:`r_{max}(\\tau_\\psi + \\tau)` shrinks it.
    Evaluated at the feed-forward (self-predicting) rates.

    Parameters
    ----------
    network, params, x
        The rate microcircuit, its parameters and the inputs, as for :class:`SpikingMicrocircuit`.
    r_max : brian2 rate
        Maximum rate :math:`r_{max}` (200 Hz).
    tau_psi, tau_soma : brian2 time
        :math:`\\tau_\\psi` and :math:`\\tau` (20 and 5 ms), as for :class:`SpikingMicrocircuit`.

    Returns
    -------
    ndarray (n_out, n_pre)
        :math:`d` for the output projection of the chain.
    """
    from ..neurons import get_activation
    from ..reference import forward

    owner = "output_noise_decay"
    check_quantity(owner, "r_max", r_max, Hz, gt=0, written="*brian2.Hz", what="rate")
    for name, value in (("tau_psi", tau_psi), ("tau_soma", tau_soma)):
        check_time(owner, name, value, example="20*brian2.ms")
    r_hz, tau_psi_s, tau_s = float(r_max / Hz), float(tau_psi / second), float(tau_soma / second)

    proj = network.chain()[-1]
    acts = forward(network, params, np.asarray(x, dtype=np.float64))
    pre = acts.r[proj.pre]                                                   # (batch, n_pre) = E[psi]
    w = np.asarray(params[proj.name], dtype=np.float64)
    v_b = pre @ w.T + (params[bias_key(proj.post)] if network.layer(proj.post).bias else 0.0)
    dphi = get_activation(network.layer(proj.post).activation).derivative(v_b)  # (batch, n_out)
    var_psi = pre / (2 * r_hz * tau_psi_s)
    return -np.mean(dphi[:, :, None] ** 2 * w[None] * var_psi[:, None, :], axis=0) * tau_psi_s / (tau_psi_s + tau_s)


def _model_for(network, params, rule, x, n_trials, target, model_options) -> SpikingMicrocircuit:
    return SpikingMicrocircuit(network, params, rule, batch=np.asarray(x).shape[0], n_trials=n_trials,
                               target=target, **model_options)


def _rule_and_model(caller: str, network, params, x, rule, n_trials, signal, codegen_target, model, model_options):
    """The checks and set-up shared by the spiking microcircuit's updates and align: ``signal``
    checked, ``rule`` defaulted to ``get_rule("microcircuit")``, a model built for these shapes or
    the given one loaded with ``params``."""
    if signal not in ("spike", "rate"):
        raise ConfigError(f"{caller}: signal expected 'spike' or 'rate', got {signal!r}")
    if rule is None:
        from ..rules import get_rule

        rule = get_rule("microcircuit")
    if model is None:
        model = _model_for(network, params, rule, x, n_trials, codegen_target, model_options)
    else:
        model.set_params(params)
    return rule, model


def spiking_microcircuit_updates(network: Network, params: dict, x, target, *, rule=None, n_trials: int = 10,
                                 seed: int = 0, signal: str = "spike", codegen_target: str = "auto",
                                 model: SpikingMicrocircuit | None = None, **model_options) -> dict:
    """Trial-averaged basal ``dW`` of the spiking microcircuit (:class:`SpikingMicrocircuit`).

    Parameters
    ----------
    network, params
        A prepared microcircuit and its parameters.
    x, target : ndarray (batch, n_input), (batch, n_output)
    rule : Microcircuit, optional
        Conductances (default ``get_rule("microcircuit")``).
    n_trials, seed : int
    signal : {"spike", "rate"}
        Postsynaptic error from the spike train or from its expectation :math:`\\phi(u)`.
    model : SpikingMicrocircuit, optional
        A model already built for these shapes (its weights are replaced by ``params``).
    **model_options
        :class:`SpikingMicrocircuit` keyword arguments, brian2 quantities (``r_max=200*Hz``,
        ``window=1000*ms`` ...).

    Returns
    -------
    dict
        Feed-forward weights ``(post, pre)`` and pyramidal biases, batch and trial mean.
    """
    rule, model = _rule_and_model("spiking_microcircuit_updates", network, params, x, rule, n_trials, signal,
                                  codegen_target, model, model_options)
    spikes = model.run(x, target, seed=seed)
    return spikes.spike_updates if signal == "spike" else spikes.rate_updates


def spiking_microcircuit_align(network: Network, params: dict, x, target, *, rule=None, n_trials: int = 10,
                               seed: int = 0, signal: str = "spike", codegen_target: str = "auto",
                               model: SpikingMicrocircuit | None = None, **model_options) -> AlignmentReport:
    """Compare the spiking microcircuit's trial-averaged update with backprop and the rate rule.

    The reference is backprop through the rate network (the microcircuit's feed-forward
    pass, sigmoid layers, mse) at the same weights and inputs; ``extra`` holds the cosine
    with the rate rule ``microcircuit`` (same conductances) globally and per projection,
    the per-projection cosine of the ``rate`` signal, and the trial noise: the cosine of
    each single trial's update with backprop (mean and standard deviation over trials).
    With the model's ``baseline = "free"`` (default) the update is nudged minus free copies
    and ``extra["free_phase"]`` reports the removed teacher-less update (cosine, norm ratio).

    Returns
    -------
    AlignmentReport
        ``rule = "microcircuit"``, ``backend = "spiking"``; feed-forward weights only.
    """
    rule, model = _rule_and_model("spiking_microcircuit_align", network, params, x, rule, n_trials, signal,
                                  codegen_target, model, model_options)
    x, t = check_batch(network, x, target)
    spikes = model.run(x, t, seed=seed)
    dw = spikes.spike_updates if signal == "spike" else spikes.rate_updates
    if not any(np.any(dw[p.name]) for p in model.chain):
        raise ConfigError(f"spiking_microcircuit_align: the {signal} update is exactly zero (no spikes reached the "
                          f"plasticity in the {model.window} counting window of {model.n_trials} trial(s)), so it "
                          "has no direction to compare; lengthen window or add trials")
    per_trial = spikes.per_trial_spike if signal == "spike" else spikes.per_trial_rate
    reference = get_oracle(rule.info.reference)(rule, network, params, x, t)
    rate_dw = rule.step(network, params, x, t)
    names = [p.name for p in model.chain]
    vs_rate = AlignmentReport.compare(dw, rate_dw, names=names)
    other = AlignmentReport.compare(spikes.rate_updates if signal == "spike" else spikes.spike_updates,
                                    reference, names=names)
    # a baselined single trial can be exactly zero (no spike moved by the teacher): no cosine
    trial_cos = {name: [AlignmentReport.compare({name: per_trial[name][k]}, reference, names=[name]).global_cosine
                        for k in range(model.n_trials) if np.any(per_trial[name][k])] for name in names}
    extra = {"signal": signal, "n_trials": int(model.n_trials), "seed": int(seed),
             "rate_rule_cosine": float(vs_rate.global_cosine),
             "rate_rule_projections": [{"name": r.name, "cosine": float(r.cosine)} for r in vs_rate.projections],
             "other_signal": {"signal": "rate" if signal == "spike" else "spike",
                              "global_cosine": float(other.global_cosine),
                              "projections": [{"name": r.name, "cosine": float(r.cosine)} for r in other.projections]},
             "single_trial_cosine": {name: {"mean": float(np.mean(v)) if v else float("nan"),
                                            "std": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"),
                                            "zero_trials": int(model.n_trials - len(v))}
                                     for name, v in trial_cos.items()},
             "baseline": model.baseline,
             "nudging": rule.nudging, "r_max_hz": float(model.r_max / Hz),
             "window_ms": float(model.window / ms),
             "timings": spikes.timings}
    if model.baseline == "free":
        # the teacher-less plasticity that the baseline removed (a bias, not noise: README)
        free_dw = spikes.free_spike_updates if signal == "spike" else spikes.free_rate_updates
        free = AlignmentReport.compare(free_dw, reference, names=names)
        extra["free_phase"] = {"global_cosine": float(free.global_cosine),
                               "projections": [{"name": r.name, "cosine": float(r.cosine),
                                                "norm_ratio": float(r.norm_ratio)} for r in free.projections]}
    return AlignmentReport.compare(dw, reference, names=names, rule=rule.name, backend="spiking",
                                   reference_name=rule.info.reference, extra=extra)


def train_spiking_microcircuit(network: Network, params: dict, x, target, *, epochs: int, learning_rate: float,
                               rule=None, n_trials: int = 4, seed: int = 0, signal: str = "spike",
                               codegen_target: str = "auto", **model_options):
    """Full-batch SGD with the spiking microcircuit's updates (e.g. XOR, 4 samples).

    Each epoch is one brian2 run of every sample ``n_trials`` times with the current weights;
    the feed-forward weights and pyramidal biases move by ``learning_rate * dW`` and the
    lateral weights are put back in the self-predicting state
    (:func:`~neurosim.rules.dendritic.self_predicting_params`) -- the state the paper's
    lateral plasticity tracks, set in closed form instead of learned.

    Returns
    -------
    params : dict
        The trained parameters.
    history : list of dict
        Per epoch (before its update): ``loss`` (mse of the rate network),
        ``error`` (fraction of samples whose rate-network output is on the wrong side of 0.5),
        ``spike_error`` (the same from the output spike counts of the free copies -- the
        network's own prediction -- or, with ``baseline = "none"``, of the nudged ones).
    """
    from ..reference import forward, loss_value
    from ..rules.dendritic import self_predicting_params

    _positive("train_spiking_microcircuit", "epochs", epochs, integer=True)
    _positive("train_spiking_microcircuit", "learning_rate", learning_rate)
    if signal not in ("spike", "rate"):
        raise ConfigError(f"train_spiking_microcircuit: signal expected 'spike' or 'rate', got {signal!r}")
    if rule is None:
        from ..rules import get_rule

        rule = get_rule("microcircuit")
    x, t = check_batch(network, x, target)
    params = self_predicting_params(network, {k: np.array(v, copy=True) for k, v in params.items()})
    model = _model_for(network, params, rule, x, n_trials, codegen_target, model_options)
    history = []
    for epoch in range(epochs):
        model.set_params(params)
        spikes = model.run(x, t, seed=int(seed) + epoch)
        predicted = spikes.free_output_rate if spikes.free_output_rate is not None else spikes.output_rate
        out = forward(network, params, x).output
        history.append({"epoch": epoch, "loss": float(loss_value(network, out, t)),
                        "error": float(np.mean(np.any((out > 0.5) != (t > 0.5), axis=1))),
                        "spike_error": float(np.mean(np.any((predicted.mean(axis=0) > 0.5) != (t > 0.5), axis=1)))})
        dw = spikes.spike_updates if signal == "spike" else spikes.rate_updates
        for key, value in dw.items():
            params[key] = params[key] + learning_rate * value
        params = self_predicting_params(network, params)
    out = forward(network, params, x).output
    history.append({"epoch": epochs, "loss": float(loss_value(network, out, t)),
                    "error": float(np.mean(np.any((out > 0.5) != (t > 0.5), axis=1))), "spike_error": None})
    return params, history


@register_spiking
class SpikingMicrocircuitRule(SpikingRule):
    """Registry entry: ``neurosim align --rule microcircuit --backend spiking``.

    The circuit has dynamics of its own (Poisson-spiking pyramidal neurons and
    interneurons, Urbanczik-Senn plasticity inside brian2), so :func:`spiking_align`
    hands over to :func:`spiking_microcircuit_align` instead of the feed-forward build.
    """

    rate_rules = ("microcircuit",)

    def default_network(self, sizes, loss: str | None = None) -> Network:
        """The rate rule's sigmoid two-compartment circuit (what the spiking one simulates), with
        the rate rule's hyper-parameters (``topdown``...)."""
        return self.rate_rule.network(sizes)

    def spiking_align(self, network: Network, params: dict, x, target, *, n_trials: int = 10, seed: int = 0,
                      rule_hyper=None, codegen_target: str = "auto", **options) -> AlignmentReport:
        """:func:`spiking_microcircuit_align` with this rule's rate rule (``rule_hyper`` built it)."""
        return spiking_microcircuit_align(network, params, x, target, rule=self.rate_rule, n_trials=n_trials,
                                          seed=seed, codegen_target=codegen_target, **options)

"""Spike-timing-dependent plasticity (STDP) in brian2: pair, triplet, and a Diehl & Cook network.

Every simulation here lives in an explicit ``brian2.Network`` with an explicit ``dt`` and a
code-generation target passed per object (:mod:`neurosim.spiking.codegen`); random numbers
come from ``seed`` (brian2 draws from NumPy's global generator, whose state is saved and put
back around each run).  Times and rates cross the boundary as brian2 quantities; the
results are plain SI floats.

Rules (traces are all-to-all: every earlier spike counts, Morrison et al. 2008)

* Pair-based additive STDP (Song, Miller & Abbott 2000): a pre trace :math:`a_+` and a post
  trace :math:`a_-` jump by one at each spike and decay with :math:`\\tau_\\pm`; a post spike
  adds :math:`A_+ a_+`, a pre spike subtracts :math:`A_- a_-`, weights are clipped to
  :math:`[0, w_{max}]`.  A single pair at :math:`\\Delta t = t_{post} - t_{pre}` therefore
  changes the weight by the window

  .. math:: W(\\Delta t) = A_+ e^{-\\Delta t/\\tau_+} \\;(\\Delta t > 0), \\qquad
            W(\\Delta t) = -A_- e^{\\Delta t/\\tau_-} \\;(\\Delta t < 0).

  With :math:`A_-\\tau_- > A_+\\tau_+` (depression wins for uncorrelated spikes) and 1000
  Poisson inputs driving one conductance-based LIF neuron, the weights split into a bimodal
  distribution at 0 and :math:`w_{max}` (Song et al. 2000, Fig. 2).
* Triplet STDP (Pfister & Gerstner 2006): pre traces :math:`r_1, r_2` (:math:`\\tau_+,
  \\tau_x`), post traces :math:`o_1, o_2` (:math:`\\tau_-, \\tau_y`);

  .. math:: \\text{pre spike: } w \\mathrel{-}= o_1 (A_2^- + A_3^- r_2), \\qquad
            \\text{post spike: } w \\mathrel{+}= r_1 (A_2^+ + A_3^+ o_2),

  with the traces read just before their own increment.  For independent Poisson pre and
  post trains at rates :math:`\\rho_x, \\rho_y` the expected drift is

  .. math:: \\frac{d\\langle w\\rangle}{dt} = \\rho_x\\rho_y\\,(A_2^+\\tau_+ - A_2^-\\tau_-)
            + A_3^+\\tau_+\\tau_y\\,\\rho_x\\rho_y^2 - A_3^-\\tau_-\\tau_x\\,\\rho_x^2\\rho_y,

  BCM-like in :math:`\\rho_y`: depression below and potentiation above a post rate
  threshold (Pfister & Gerstner 2006, Sec. "Relation to BCM").
* Diehl & Cook (2015): Poisson pixels -> N excitatory conductance LIF neurons with adaptive
  thresholds, each exciting one inhibitory neuron that inhibits all other excitatory ones;
  input synapses learn by the pre-trace rule of the authors' code
  (:math:`\\Delta w = -\\nu_{pre}\\, o_1` at a pre spike, :math:`\\Delta w = \\nu_{post}\\, r\\, o_2`
  at a post spike) and are renormalised to a fixed sum per neuron before every sample.
  Neurons are labelled by the class they respond to most; a test sample gets the class
  whose neurons fire most on average.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import brian2
import numpy as np
from brian2 import Hz, mV, ms, second

from ..validation import check_time
from ..errors import ConfigError, ShapeError
from . import codegen


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PairSTDP:
    """Additive pair-based STDP; amplitudes in units of the weight, times in seconds.

    Defaults: Song, Miller & Abbott (2000) as in brian2's example of that paper --
    :math:`\\tau_\\pm = 20` ms, :math:`A_+ = 0.01\\,w_{max}`, :math:`A_- = 1.05\\,A_+\\tau_+/\\tau_-`,
    :math:`w_{max} = 0.01` (peak conductance in units of the leak conductance).
    """

    a_plus: float = 0.01 * 0.01
    a_minus: float = 1.05 * 0.01 * 0.01
    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    w_max: float = 0.01

    def window(self, delta_t) -> np.ndarray:
        """The theoretical window :math:`W(\\Delta t)` for ``delta_t`` (seconds, post minus pre, nonzero)."""
        d = np.asarray(delta_t, dtype=float)
        return np.where(d > 0, self.a_plus * np.exp(-np.abs(d) / self.tau_plus),
                        -self.a_minus * np.exp(-np.abs(d) / self.tau_minus))


@dataclass(frozen=True)
class TripletSTDP:
    """Triplet STDP; defaults: Pfister & Gerstner (2006) Table 4, visual cortex, all-to-all, full model."""

    tau_plus: float = 16.8e-3
    tau_minus: float = 33.7e-3
    tau_x: float = 101e-3
    tau_y: float = 125e-3
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4

    def drift(self, pre_rate, post_rate) -> np.ndarray:
        """Expected :math:`d\\langle w\\rangle/dt` (1/s) for independent Poisson trains (module docstring)."""
        rx = np.asarray(pre_rate, dtype=float)
        ry = np.asarray(post_rate, dtype=float)
        return (rx * ry * (self.a2_plus * self.tau_plus - self.a2_minus * self.tau_minus)
                + self.a3_plus * self.tau_plus * self.tau_y * rx * ry ** 2
                - self.a3_minus * self.tau_minus * self.tau_x * rx ** 2 * ry)

    def threshold(self, pre_rate) -> float:
        """The post rate (Hz) where the drift changes sign, the BCM threshold :math:`\\theta`."""
        lin = self.a2_minus * self.tau_minus - self.a2_plus * self.tau_plus + \
            self.a3_minus * self.tau_minus * self.tau_x * float(pre_rate)
        return float(lin / (self.a3_plus * self.tau_plus * self.tau_y))


def pair_synapse_code(rule: PairSTDP, *, clip: bool = True) -> tuple[str, str, str, dict]:
    """brian2 ``(model, on_pre, on_post, namespace)`` for additive pair STDP (no synaptic effect)."""
    w_new = "clip(w + {}, 0, w_max)" if clip else "w + {}"
    model = """w : 1
               dapre/dt = -apre / tau_plus : 1 (event-driven)
               dapost/dt = -apost / tau_minus : 1 (event-driven)"""
    on_pre = f"apre += 1\nw = {w_new.format('-A_minus * apost')}"
    on_post = f"apost += 1\nw = {w_new.format('A_plus * apre')}"
    ns = {"tau_plus": rule.tau_plus * second, "tau_minus": rule.tau_minus * second, "A_plus": rule.a_plus,
          "A_minus": rule.a_minus, "w_max": rule.w_max}
    return model, on_pre, on_post, ns


def triplet_synapse_code(rule: TripletSTDP) -> tuple[str, str, str, dict]:
    """brian2 ``(model, on_pre, on_post, namespace)`` for triplet STDP (unbounded weight, no effect)."""
    model = """w : 1
               dr1/dt = -r1 / tau_plus : 1 (event-driven)
               dr2/dt = -r2 / tau_x : 1 (event-driven)
               do1/dt = -o1 / tau_minus : 1 (event-driven)
               do2/dt = -o2 / tau_y : 1 (event-driven)"""
    # each trace is read before its own increment (the "epsilon before" of the paper)
    on_pre = "w -= o1 * (A2m + A3m * r2)\nr1 += 1\nr2 += 1"
    on_post = "w += r1 * (A2p + A3p * o2)\no1 += 1\no2 += 1"
    ns = {"tau_plus": rule.tau_plus * second, "tau_minus": rule.tau_minus * second, "tau_x": rule.tau_x * second,
          "tau_y": rule.tau_y * second, "A2p": rule.a2_plus, "A3p": rule.a3_plus, "A2m": rule.a2_minus,
          "A3m": rule.a3_minus}
    return model, on_pre, on_post, ns


# --------------------------------------------------------------------------- helpers
def _check_time(name: str, value) -> brian2.Quantity:
    return check_time("stdp", name, value, example="0.1*brian2.ms")


def _check_rate(name: str, value) -> brian2.Quantity:
    if not isinstance(value, brian2.Quantity) or not brian2.have_same_dimensions(value, Hz):
        raise ConfigError(f"stdp: {name} expected a brian2 rate such as 10*brian2.Hz, got {value!r}")
    return value


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"stdp: seed expected a non-negative integer, got {seed!r}")
    return int(seed)


@contextmanager
def _seeded(seed: int):
    """Seed brian2 for one run and put NumPy's global state back afterwards."""
    saved = np.random.get_state()
    brian2.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _run(net: brian2.Network, duration) -> dict:
    started = time.perf_counter()
    net.run(duration, namespace={})
    wall = time.perf_counter() - started
    loop = float(brian2.get_device()._last_run_time)
    return {"compile_s": wall - loop, "simulate_s": loop, "biological_s": float(duration / second)}


# --------------------------------------------------------------------------- the STDP window
def measure_window(rule: PairSTDP, delta_t, *, dt=0.1 * ms, t_first=50 * ms, target: str = "numpy") -> np.ndarray:
    """Weight change of one pre/post spike pair per ``delta_t``, simulated in brian2.

    One synapse per pair (``SpikeGeneratorGroup`` -> ``SpikeGeneratorGroup``, one-to-one),
    the first spike at ``t_first``, weights starting at :math:`w_{max}/2` (no clipping).

    Parameters
    ----------
    rule : PairSTDP
    delta_t : array of float, shape (n,)
        :math:`t_{post} - t_{pre}` in seconds, nonzero multiples of ``dt``.
    dt : brian2 time

    Returns
    -------
    ndarray (n,)
        :math:`\\Delta w` per pair.
    """
    dt = _check_time("dt", dt)
    d = np.asarray(delta_t, dtype=float).reshape(-1)
    steps = d / float(dt / second)
    if d.size == 0 or np.any(d == 0) or np.any(np.abs(steps - np.round(steps)) > 1e-6):
        raise ConfigError(f"measure_window: delta_t must be nonzero multiples of dt = {dt}, got {d!r}")
    t0 = float(t_first / second)
    idx = np.arange(d.size)
    t_pre = t0 + np.where(d < 0, -d, 0.0)
    t_post = t0 + np.where(d > 0, d, 0.0)
    cls = codegen.codeobj_class(codegen.resolve_target(target))
    pre = brian2.SpikeGeneratorGroup(d.size, idx, t_pre * second, dt=dt, codeobj_class=cls)
    post = brian2.SpikeGeneratorGroup(d.size, idx, t_post * second, dt=dt, codeobj_class=cls)
    model, on_pre, on_post, ns = pair_synapse_code(rule)
    syn = brian2.Synapses(pre, post, model, on_pre=on_pre, on_post=on_post, namespace=ns, dt=dt,
                          codeobj_class=cls)
    syn.connect(j="i")
    w0 = rule.w_max / 2
    syn.w = w0
    net = brian2.Network(pre, post, syn)
    net.run(t0 * second + float(np.max(np.abs(d))) * second + 2 * dt, namespace={})
    return np.asarray(syn.w[:]) - w0


# --------------------------------------------------------------------------- Song et al. 2000
@dataclass
class SongResult:
    """Weights of a Song et al. (2000) run.

    Attributes
    ----------
    times : ndarray (n_snapshots,)
        Seconds at which the weights were recorded (the first is 0).
    weights : ndarray (n_snapshots, n_inputs)
        Weights (units of the leak conductance) at those times.
    post_rate : ndarray (n_snapshots - 1,)
        Output rate (Hz) between snapshots.
    config : dict
    timings : dict
    """

    times: np.ndarray
    weights: np.ndarray
    post_rate: np.ndarray
    config: dict
    timings: dict = field(default_factory=dict)

    def edge_fraction(self, tolerance: float = 0.1) -> np.ndarray:
        """Fraction of weights within ``tolerance * w_max`` of 0 or of w_max, per snapshot."""
        w_max = self.config["rule"]["w_max"]
        w = self.weights / w_max
        return np.mean((w <= tolerance) | (w >= 1 - tolerance), axis=1)


def song2000(duration=100 * second, *, n_inputs: int = 1000, input_rate=15 * Hz, rule: PairSTDP | None = None,
             snapshot_every=5 * second, dt=0.1 * ms, seed: int = 0, target: str = "auto") -> SongResult:
    """1000 Poisson inputs -> one conductance LIF neuron, additive STDP (Song, Miller & Abbott 2000).

    Neuron (as brian2's example of the paper): :math:`\\tau_m \\dot v = g_e (E_e - v) + E_l - v`,
    :math:`\\tau_e \\dot g_e = -g_e`, threshold -54 mV, reset -60 mV, :math:`E_l` = -74 mV,
    :math:`E_e` = 0 mV, :math:`\\tau_m` = 10 ms, :math:`\\tau_e` = 5 ms; an input spike adds
    :math:`w` to :math:`g_e`; weights start uniform on :math:`[0, w_{max}]`.

    Parameters
    ----------
    duration, snapshot_every, dt : brian2 times
    n_inputs : int
    input_rate : brian2 rate
    rule : PairSTDP, optional
    seed : int
    target : {"auto", "cython", "numpy"}

    Returns
    -------
    SongResult
    """
    rule = rule or PairSTDP()
    duration, snapshot_every, dt = (_check_time(n, v) for n, v in
                                    (("duration", duration), ("snapshot_every", snapshot_every), ("dt", dt)))
    input_rate = _check_rate("input_rate", input_rate)
    seed = _check_seed(seed)
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise ConfigError(f"song2000: n_inputs expected a positive integer, got {n_inputs!r}")
    n_snap = int(round(float(duration / snapshot_every)))
    if n_snap < 1 or abs(n_snap * float(snapshot_every / second) - float(duration / second)) > 1e-9:
        raise ConfigError(f"song2000: duration ({duration}) must be a whole multiple of snapshot_every "
                          f"({snapshot_every})")
    chosen = codegen.resolve_target(target)
    cls = codegen.codeobj_class(chosen)
    ns_neuron = {"tau_m": 10 * ms, "tau_e": 5 * ms, "E_e": 0 * mV, "E_l": -74 * mV, "v_th": -54 * mV,
                 "v_r": -60 * mV}
    eqs = """dv/dt = (ge * (E_e - v) + E_l - v) / tau_m : volt
             dge/dt = -ge / tau_e : 1"""
    with _seeded(seed):
        inputs = brian2.PoissonGroup(n_inputs, rates=input_rate, dt=dt, codeobj_class=cls)
        neuron = brian2.NeuronGroup(1, eqs, threshold="v > v_th", reset="v = v_r", method="euler", dt=dt,
                                    namespace=ns_neuron, codeobj_class=cls)
        neuron.v = ns_neuron["E_l"]
        model, on_pre, on_post, ns = pair_synapse_code(rule)
        syn = brian2.Synapses(inputs, neuron, model, on_pre="ge += w\n" + on_pre, on_post=on_post,
                              namespace=ns, dt=dt, codeobj_class=cls)
        syn.connect()
        syn.w = np.random.uniform(0, rule.w_max, n_inputs)
        spikes = brian2.SpikeMonitor(neuron, codeobj_class=cls)
        net = brian2.Network(inputs, neuron, syn, spikes)
        snapshots = [np.asarray(syn.w[:]).copy()]
        timings = {"target": chosen, "compile_s": 0.0, "simulate_s": 0.0, "biological_s": 0.0}
        for _ in range(n_snap):
            t = _run(net, snapshot_every)
            for key in ("compile_s", "simulate_s", "biological_s"):
                timings[key] += t[key]
            snapshots.append(np.asarray(syn.w[:]).copy())
        spike_t = np.asarray(spikes.t / second)
    step = float(snapshot_every / second)
    times = np.arange(n_snap + 1) * step
    post_rate = np.histogram(spike_t, bins=times)[0] / step
    config = {"duration_s": float(duration / second), "n_inputs": n_inputs, "input_rate_hz": float(input_rate / Hz),
              "dt_s": float(dt / second), "seed": seed, "rule": asdict(rule),
              "neuron": {k: float(v / mV) if brian2.have_same_dimensions(v, mV) else float(v / second)
                         for k, v in ns_neuron.items()}}
    return SongResult(times=times, weights=np.array(snapshots), post_rate=post_rate, config=config, timings=timings)


# --------------------------------------------------------------------------- triplet rule vs post rate
def triplet_rate_dependence(post_rates, *, pre_rate=10 * Hz, duration=20 * second, n_pairs: int = 200,
                            rule: TripletSTDP | None = None, dt=0.1 * ms, seed: int = 0,
                            target: str = "auto") -> dict:
    """Measure :math:`d\\langle w\\rangle/dt` against the post rate for independent Poisson trains.

    For every post rate, ``n_pairs`` synapses each join their own Poisson pre neuron (rate
    ``pre_rate``) to their own Poisson post neuron; weights start at 0 and are unbounded, so
    :math:`\\Delta w / T` estimates the drift :meth:`TripletSTDP.drift`.

    Returns
    -------
    dict
        ``post_rates_hz``, ``pre_rate_hz``, ``drift`` (mean :math:`\\Delta w/T`, 1/s),
        ``sem`` (its standard error over synapses), ``theory`` (closed form), ``threshold_hz``,
        ``measured_post_rate_hz``, ``config``, ``timings``.
    """
    rule = rule or TripletSTDP()
    duration, dt = _check_time("duration", duration), _check_time("dt", dt)
    pre_rate = _check_rate("pre_rate", pre_rate)
    seed = _check_seed(seed)
    rates = np.asarray([float(r / Hz) if isinstance(r, brian2.Quantity) else float(r) for r in post_rates])
    if rates.ndim != 1 or rates.size == 0 or np.any(rates < 0):
        raise ShapeError(f"triplet_rate_dependence: post_rates expected a 1-D list of rates >= 0 Hz, got {rates!r}")
    n = rates.size * n_pairs
    chosen = codegen.resolve_target(target)
    cls = codegen.codeobj_class(chosen)
    with _seeded(seed):
        pre = brian2.PoissonGroup(n, rates=pre_rate, dt=dt, codeobj_class=cls)
        post = brian2.PoissonGroup(n, rates=np.repeat(rates, n_pairs) * Hz, dt=dt, codeobj_class=cls)
        model, on_pre, on_post, ns = triplet_synapse_code(rule)
        syn = brian2.Synapses(pre, post, model, on_pre=on_pre, on_post=on_post, namespace=ns, dt=dt,
                              codeobj_class=cls)
        syn.connect(j="i")
        counter = brian2.SpikeMonitor(post, record=False, codeobj_class=cls)
        net = brian2.Network(pre, post, syn, counter)
        timings = {"target": chosen, **_run(net, duration)}
        w = np.asarray(syn.w[:]).reshape(rates.size, n_pairs)
        counts = np.asarray(counter.count[:]).reshape(rates.size, n_pairs)
    T = float(duration / second)
    drift = w / T
    return {"post_rates_hz": rates.tolist(), "pre_rate_hz": float(pre_rate / Hz),
            "drift": drift.mean(axis=1).tolist(), "sem": (drift.std(axis=1, ddof=1) / np.sqrt(n_pairs)).tolist(),
            "theory": rule.drift(float(pre_rate / Hz), rates).tolist(),
            "threshold_hz": rule.threshold(float(pre_rate / Hz)),
            "measured_post_rate_hz": (counts.mean(axis=1) / T).tolist(),
            "config": {"duration_s": T, "n_pairs": n_pairs, "dt_s": float(dt / second), "seed": seed,
                       "rule": asdict(rule)}, "timings": timings}


# --------------------------------------------------------------------------- Diehl & Cook 2015
@dataclass(frozen=True)
class DiehlCookConfig:
    """Parameters of the Diehl & Cook (2015) network (their code's values unless stated).

    ``max_rate_hz`` is the rate of a white pixel (their 255 / 4); ``presentation_ms`` the time
    one sample is shown (350 ms).  Instead of their 150 ms of rest between samples, every
    state variable except the adaptive threshold is reset at the start of each sample, and
    the weights are renormalised to ``weight_sum`` per neuron at the same moment.
    """

    n_neurons: int = 100
    max_rate_hz: float = 63.75
    presentation_ms: float = 350.0
    dt_ms: float = 0.5
    w_max: float = 1.0
    w_init_max: float = 0.3
    weight_sum: float = 78.0
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre_ms: float = 20.0
    tau_post1_ms: float = 20.0
    tau_post2_ms: float = 40.0
    theta_plus_mv: float = 0.05
    tau_theta_ms: float = 1e7
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0


class DiehlCook:
    """An unsupervised STDP network in the style of Diehl & Cook (2015), built on brian2.

    Learned state: ``weights_`` (n_inputs, n_neurons), ``theta_`` (n_neurons,) in volts,
    ``labels_`` (n_neurons,) after :meth:`assign_labels`.

    Parameters
    ----------
    n_inputs : int
    config : DiehlCookConfig
    seed : int
        Initial weights and every Poisson spike train.
    target : {"auto", "cython", "numpy"}
    """

    def __init__(self, n_inputs: int, config: DiehlCookConfig | None = None, *, seed: int = 0,
                 target: str = "auto"):
        self.config = config or DiehlCookConfig()
        self.n_inputs = int(n_inputs)
        self.seed = _check_seed(seed)
        self.target = codegen.resolve_target(target)
        rng = np.random.default_rng(self.seed)
        c = self.config
        self.weights_ = rng.uniform(0.0, c.w_init_max, (self.n_inputs, c.n_neurons))
        self.theta_ = np.zeros(c.n_neurons)
        self.labels_: np.ndarray | None = None
        self.timings_: list[dict] = []
        self._calls = 0

    def _present(self, x: np.ndarray, learn: bool) -> np.ndarray:
        """Show every row of ``x`` (n, n_inputs) in [0, 1]; returns spike counts (n, n_neurons)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ShapeError(f"DiehlCook: x expected shape (n, {self.n_inputs}), got {x.shape}")
        if np.any(x < 0) or np.any(x > 1):
            raise ShapeError("DiehlCook: x must hold pixel intensities in [0, 1]")
        c = self.config
        cls = codegen.codeobj_class(self.target)
        dt = c.dt_ms * ms
        T = c.presentation_ms * ms
        stim = brian2.TimedArray(x * c.max_rate_hz * Hz, dt=T)
        ns = {"stim": stim, "v_rest_e": -65 * mV, "v_reset_e": -65 * mV, "v_thresh_e": -52 * mV, "offset": 20 * mV,
              "v_rest_i": -60 * mV, "v_reset_i": -45 * mV, "v_thresh_i": -40 * mV, "E_inh_e": -100 * mV,
              "E_inh_i": -85 * mV, "tau_e": 100 * ms, "tau_i": 10 * ms, "tau_ge": 1 * ms, "tau_gi": 2 * ms,
              "tau_theta": c.tau_theta_ms * ms, "theta_plus": c.theta_plus_mv * mV if learn else 0 * mV}
        with _seeded(self.seed * 7919 + self._calls):
            self._calls += 1
            inp = brian2.PoissonGroup(self.n_inputs, rates="stim(t, i)", dt=dt, namespace=ns, codeobj_class=cls)
            exc = brian2.NeuronGroup(
                c.n_neurons,
                """dv/dt = ((v_rest_e - v) + ge * (-v) + gi * (E_inh_e - v)) / tau_e : volt (unless refractory)
                   dge/dt = -ge / tau_ge : 1
                   dgi/dt = -gi / tau_gi : 1
                   dtheta/dt = -theta / tau_theta : volt
                   wsum : 1""",
                threshold="v > theta - offset + v_thresh_e", reset="v = v_reset_e\ntheta += theta_plus",
                refractory=5 * ms, method="euler", dt=dt, namespace=ns, codeobj_class=cls)
            inh = brian2.NeuronGroup(
                c.n_neurons,
                """dv/dt = ((v_rest_i - v) + ge * (-v) + gi * (E_inh_i - v)) / tau_i : volt (unless refractory)
                   dge/dt = -ge / tau_ge : 1
                   dgi/dt = -gi / tau_gi : 1""",
                threshold="v > v_thresh_i", reset="v = v_reset_i", refractory=2 * ms, method="euler", dt=dt,
                namespace=ns, codeobj_class=cls)
            exc.v, inh.v = -105 * mV, -100 * mV
            exc.theta = self.theta_ * brian2.volt
            rule_ns = {"tau_pre": c.tau_pre_ms * ms, "tau_post1": c.tau_post1_ms * ms,
                       "tau_post2": c.tau_post2_ms * ms, "nu_pre": c.nu_pre if learn else 0.0,
                       "nu_post": c.nu_post if learn else 0.0, "w_max": c.w_max, "weight_sum": c.weight_sum}
            syn = brian2.Synapses(
                inp, exc,
                """w : 1
                   wsum_post = w : 1 (summed)
                   dpre/dt = -pre / tau_pre : 1 (event-driven)
                   dpost1/dt = -post1 / tau_post1 : 1 (event-driven)
                   dpost2/dt = -post2 / tau_post2 : 1 (event-driven)""",
                on_pre="ge_post += w\npre = 1\nw = clip(w - nu_pre * post1, 0, w_max)",
                on_post="w = clip(w + nu_post * pre * post2, 0, w_max)\npost1 = 1\npost2 = 1",
                namespace=rule_ns, dt=dt, codeobj_class=cls)
            syn.connect()
            w0 = self.weights_ * (c.weight_sum / self.weights_.sum(axis=0, keepdims=True)) if learn else self.weights_
            syn.w = w0.reshape(-1)  # (i, j) order of connect(): pre-major
            ei = brian2.Synapses(exc, inh, on_pre=f"ge_post += {c.w_exc_inh}", dt=dt, codeobj_class=cls)
            ei.connect(j="i")
            ie = brian2.Synapses(inh, exc, on_pre=f"gi_post += {c.w_inh_exc}", dt=dt, codeobj_class=cls)
            ie.connect(condition="i != j")
            # a new sample: forget the last one's potentials, conductances and traces
            exc.run_regularly("v = v_rest_e\nge = 0\ngi = 0", dt=T, when="start", order=-2, codeobj_class=cls)
            inh.run_regularly("v = v_rest_i\nge = 0\ngi = 0", dt=T, when="start", order=-2, codeobj_class=cls)
            if learn:
                # wsum_post is 0 before the first summed-variable update (t = 0): leave w as it is then
                norm = "w = w * (1 + int(wsum_post > 0) * (weight_sum / (wsum_post + int(wsum_post <= 0)) - 1))"
                syn.run_regularly(norm + "\npre = 0\npost1 = 0\npost2 = 0", dt=T,
                                  when="start", order=-1, codeobj_class=cls)
            else:
                syn.run_regularly("pre = 0\npost1 = 0\npost2 = 0", dt=T, when="start", order=-1, codeobj_class=cls)
            mon = brian2.SpikeMonitor(exc, codeobj_class=cls)
            net = brian2.Network(inp, exc, inh, syn, ei, ie, mon)
            timing = _run(net, x.shape[0] * T)
        timing.update({"phase": "train" if learn else "record", "n_samples": int(x.shape[0]), "target": self.target})
        self.timings_.append(timing)
        if learn:
            # the normalisation runs at the *start* of a sample; apply it once more for the stored state
            w = np.asarray(syn.w[:]).reshape(self.n_inputs, c.n_neurons)
            self.weights_ = w * (c.weight_sum / w.sum(axis=0, keepdims=True))
            self.theta_ = np.asarray(exc.theta[:] / brian2.volt)
        sample = np.floor(np.asarray(mon.t / second) / float(T / second) + 1e-9).astype(int)
        counts = np.zeros((x.shape[0], c.n_neurons))
        np.add.at(counts, (np.minimum(sample, x.shape[0] - 1), np.asarray(mon.i[:])), 1)
        return counts

    def fit(self, x: np.ndarray) -> "DiehlCook":
        """Learn from ``x`` (n, n_inputs), pixel intensities in [0, 1], one presentation each."""
        self._present(x, learn=True)
        return self

    def responses(self, x: np.ndarray) -> np.ndarray:
        """Spike counts (n, n_neurons) with plasticity and threshold adaptation off."""
        return self._present(x, learn=False)

    def assign_labels(self, counts: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
        """Label each neuron by the class with the highest mean response (Diehl & Cook 2015)."""
        y = np.asarray(y)
        mean = np.stack([counts[y == c].mean(axis=0) if np.any(y == c) else np.zeros(counts.shape[1])
                         for c in range(n_classes)])
        self.labels_ = np.argmax(mean, axis=0)
        self.n_classes_ = n_classes
        return self.labels_

    def predict(self, counts: np.ndarray) -> np.ndarray:
        """The class whose labelled neurons fire most on average, per sample."""
        if self.labels_ is None:
            raise ConfigError("DiehlCook.predict: call assign_labels(counts, y, n_classes) first")
        scores = np.full((counts.shape[0], self.n_classes_), -np.inf)
        for c in range(self.n_classes_):
            members = self.labels_ == c
            if np.any(members):
                scores[:, c] = counts[:, members].mean(axis=1)
        return np.argmax(scores, axis=1)

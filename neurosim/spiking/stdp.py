"""Spike-timing-dependent plasticity (STDP): closed forms, synapse code, and the measurement protocols.

This module builds no brian2 object itself.  Its protocols are circuit descriptions lowered by
the one circuit builder (:func:`neurosim.spiking.builder.build_circuit`, where the synapse models
``pair_stdp`` / ``triplet_stdp`` are registered from :func:`pair_synapse_code` /
:func:`triplet_synapse_code`), or runs of the registered rules (:mod:`neurosim.rules.stdp`):

* :func:`measure_window`: the pair window, one probe synapse per :math:`\\Delta t`;
* :func:`triplet_rate_dependence`: the triplet drift against the post rate;
* :func:`song2000`: the registered rule ``song2000``, weights recorded between presentations.

In the first two a ``parrot`` relay (NEST's ``parrot_neuron``) repeats a driver input's spikes
one ``dt`` later, so the post spikes are prescribed (spike times, or Poisson trains), and the
plastic synapses are probes (``transmit = False``: they learn and deliver nothing).  Times and
rates cross the boundary as brian2 quantities; the results are plain SI floats.  Diehl & Cook
(2015) is the registered rule ``diehl-cook`` (:mod:`neurosim.rules.stdp`).

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
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import brian2
import numpy as np
from brian2 import Hz, ms, second

from ..errors import ConfigError, ShapeError
from ..network import Layer, Network, Projection
from ..neurons import RATE_SCALE_HZ, ConductanceLIFParameters
from ..validation import check_time


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


#: The probe projection of :func:`relay_protocol` (plastic, ``transmit = False``).
PROBE = "input->output"


def relay_protocol(name: str = "stdp_relay") -> Network:
    """Two inputs onto one ``parrot`` relay: the circuit of the STDP measurements (pure description).

    Input unit 0 is the presynaptic neuron, unit 1 the driver whose spikes the relay repeats
    one ``dt`` later (projection ``input->output:relay``, weights ``[[0, 1]]``, not plastic);
    :data:`PROBE` (``input->output``) is the plastic projection whose weight from unit 0 is
    measured.  Built as parallel copies (one per row of ``x``), each copy is one synapse pair.
    """
    return Network(layers=(Layer("input", 2, activation="linear", role="input", bias=False),
                           Layer("output", 1, activation="linear", neuron="parrot", role="output", bias=False)),
                   projections=(Projection("input", "output", name=PROBE, init="zeros"),
                                Projection("input", "output", name="input->output:relay", init="zeros",
                                           plastic=False)),
                   loss="mse", name=name)


def _relay_params(w0: float) -> dict:
    return {PROBE: np.array([[w0, 0.0]]), "input->output:relay": np.array([[0.0, 1.0]])}


# --------------------------------------------------------------------------- the STDP window
def measure_window(rule: PairSTDP, delta_t, *, dt=0.1 * ms, t_first=50 * ms, target: str = "numpy") -> np.ndarray:
    """Weight change of one pre/post spike pair per ``delta_t``, simulated in brian2.

    :func:`relay_protocol` lowered by :func:`~neurosim.spiking.builder.build_circuit`, one
    parallel copy per pair: the pre input spikes at ``t_first`` (or ``t_first - delta_t``), the
    driver one ``dt`` before the wanted post spike, the relay at ``t_post``; the probe synapse
    carries the registered ``pair_stdp`` model from :math:`w_{max}/2` (no clipping at these
    amplitudes) and delivers nothing.

    Parameters
    ----------
    rule : PairSTDP
    delta_t : array of float, shape (n,)
        :math:`t_{post} - t_{pre}` in seconds, nonzero multiples of ``dt``.
    dt, t_first : brian2 time
    target : {"auto", "cython", "numpy"}

    Returns
    -------
    ndarray (n,)
        :math:`\\Delta w` per pair.
    """
    from .builder import build_circuit

    dt, t_first = _check_time("dt", dt), _check_time("t_first", t_first)
    d = np.asarray(delta_t, dtype=float).reshape(-1)
    dt_s = float(dt / second)
    steps = d / dt_s
    if d.size == 0 or np.any(d == 0) or np.any(np.abs(steps - np.round(steps)) > 1e-6):
        raise ConfigError(f"measure_window: delta_t must be nonzero multiples of dt = {dt}, got {d!r}")
    t0 = float(t_first / second)
    if t0 < dt_s:
        raise ConfigError(f"measure_window: t_first ({t_first}) must be at least one dt ({dt}): the driver "
                          "spikes one dt before the relay")
    # spike times on the step grid (whole steps), so the pairs are exactly delta_t apart
    pre_step = np.round((t0 + np.where(d < 0, -d, 0.0)) / dt_s)
    post_step = np.round((t0 + np.where(d > 0, d, 0.0)) / dt_s)
    x = np.stack([pre_step, post_step - 1], axis=1) * dt_s
    w0 = rule.w_max / 2
    phase = (float(max(pre_step.max(), post_step.max())) + 3) * dt
    model = build_circuit(relay_protocol(), _relay_params(w0), x, dt=dt, phase=phase, settle=0 * second,
                          input_encoding="spike_times", codegen_target=target,
                          plasticity={PROBE: ("pair_stdp", {**asdict(rule), "transmit": False})})
    model.run()
    return model.weights(PROBE)[:, 0, 0] - w0


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

    The registered rule ``song2000`` (:class:`neurosim.rules.stdp.Song2000`: its network, its
    conductance neuron, its initial weights uniform on :math:`[0, w_{max}]`), one presentation
    of the input rates per snapshot (``presentation = snapshot_every``); the rule's ``dW`` is
    added after each (SGD with learning rate 1 continues where the simulation ended).  The
    neuron returns to rest at the start of each presentation.

    Parameters
    ----------
    duration, snapshot_every, dt : brian2 times
    n_inputs : int
    input_rate : brian2 rate
    rule : PairSTDP, optional
        Its amplitudes, time constants and ``w_max`` become the rule's hyper-parameters.
    seed : int
        Initial weights and brian2's random numbers.
    target : {"auto", "cython", "numpy"}

    Returns
    -------
    SongResult
    """
    from ..rules import get_rule

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
    step = float(snapshot_every / second)
    song = get_rule("song2000", **asdict(rule), presentation=step, dt=float(dt / second), codegen=target)
    network = song.network([n_inputs, 1])
    plastic = network.projections[0].name
    params = song.init_params(network, seed)
    state = song.init(network, params, seed)
    x = np.full((1, n_inputs), float(input_rate / Hz) / RATE_SCALE_HZ)
    snapshots, post_rate = [params[plastic].ravel().copy()], []
    timings = {"target": None, "build_s": 0.0, "compile_s": 0.0, "simulate_s": 0.0, "biological_s": 0.0}
    for _ in range(n_snap):
        dw, state, aux = song.updates(network, params, state, x, None)
        params = {k: v + dw.get(k, 0.0) for k, v in params.items()}
        snapshots.append(params[plastic].ravel().copy())
        post_rate.append(float(aux["counts"]["output"].sum()) / step)
        timings["target"] = aux["timings"]["target"]
        for key in ("build_s", "compile_s", "simulate_s", "biological_s"):
            timings[key] += aux["timings"][key]
    neuron = ConductanceLIFParameters.from_layer(network.layer("output"))
    config = {"duration_s": float(duration / second), "n_inputs": n_inputs, "input_rate_hz": float(input_rate / Hz),
              "dt_s": float(dt / second), "seed": seed, "rule": asdict(rule), "neuron": asdict(neuron),
              "registered_rule": song.name}
    return SongResult(times=np.arange(n_snap + 1) * step, weights=np.array(snapshots), post_rate=np.array(post_rate),
                      config=config, timings=timings)


# --------------------------------------------------------------------------- triplet rule vs post rate
def triplet_rate_dependence(post_rates, *, pre_rate=10 * Hz, duration=20 * second, n_pairs: int = 200,
                            rule: TripletSTDP | None = None, dt=0.1 * ms, seed: int = 0,
                            target: str = "auto") -> dict:
    """Measure :math:`d\\langle w\\rangle/dt` against the post rate for independent Poisson trains.

    :func:`relay_protocol` lowered by :func:`~neurosim.spiking.builder.build_circuit`, one
    parallel copy per synapse: ``n_pairs`` copies per post rate, the presynaptic input at
    ``pre_rate``, the driver (and so the relay, one ``dt`` later) at the post rate, both
    Poisson and independent; the probe synapse carries the registered ``triplet_stdp`` model
    from 0, unbounded, so :math:`\\Delta w / T` estimates the drift :meth:`TripletSTDP.drift`.

    Returns
    -------
    dict
        ``post_rates_hz``, ``pre_rate_hz``, ``drift`` (mean :math:`\\Delta w/T`, 1/s),
        ``sem`` (its standard error over synapses), ``theory`` (closed form), ``threshold_hz``,
        ``measured_post_rate_hz``, ``config``, ``timings``.
    """
    from .builder import build_circuit

    rule = rule or TripletSTDP()
    duration, dt = _check_time("duration", duration), _check_time("dt", dt)
    pre_rate = _check_rate("pre_rate", pre_rate)
    seed = _check_seed(seed)
    rates = np.asarray([float(r / Hz) if isinstance(r, brian2.Quantity) else float(r) for r in post_rates])
    if rates.ndim != 1 or rates.size == 0 or np.any(rates < 0):
        raise ShapeError(f"triplet_rate_dependence: post_rates expected a 1-D list of rates >= 0 Hz, got {rates!r}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 2:
        raise ConfigError(f"triplet_rate_dependence: n_pairs expected an integer >= 2, got {n_pairs!r}")
    x = np.stack([np.full(rates.size * n_pairs, float(pre_rate / Hz)), np.repeat(rates, n_pairs)],
                 axis=1) / RATE_SCALE_HZ
    model = build_circuit(relay_protocol(), _relay_params(0.0), x, dt=dt, phase=duration, settle=0 * second,
                          seed=seed, codegen_target=target,
                          plasticity={PROBE: ("triplet_stdp", {**asdict(rule), "transmit": False})})
    activity = model.run()
    T = float(duration / second)
    w = model.weights(PROBE)[:, 0, 0].reshape(rates.size, n_pairs)
    post_hz = activity.rho["free"]["output"][0, :, 0].reshape(rates.size, n_pairs) * RATE_SCALE_HZ
    drift = w / T
    return {"post_rates_hz": rates.tolist(), "pre_rate_hz": float(pre_rate / Hz),
            "drift": drift.mean(axis=1).tolist(), "sem": (drift.std(axis=1, ddof=1) / np.sqrt(n_pairs)).tolist(),
            "theory": rule.drift(float(pre_rate / Hz), rates).tolist(),
            "threshold_hz": rule.threshold(float(pre_rate / Hz)),
            "measured_post_rate_hz": post_hz.mean(axis=1).tolist(),
            "config": {"duration_s": T, "n_pairs": n_pairs, "dt_s": float(dt / second), "seed": seed,
                       "rule": asdict(rule)}, "timings": activity.timings}

"""Spike-timing-dependent plasticity as registered rules (spiking backend only).

Every rule here simulates the presented batch in brian2 -- the network description lowered
by the one circuit builder (:func:`neurosim.spiking.builder.build_circuit`), its plastic
projections carrying a registered synapse model -- and returns the weight change:

* ``stdp``: additive pair STDP (Song, Miller & Abbott 2000), all-to-all traces.  A single
  pair at :math:`\\Delta t = t_{post} - t_{pre}` changes a weight by

  .. math:: W(\\Delta t) = A_+ e^{-\\Delta t/\\tau_+} \\;(\\Delta t > 0), \\qquad
            W(\\Delta t) = -A_- e^{\\Delta t/\\tau_-} \\;(\\Delta t < 0);

* ``triplet-stdp``: the triplet rule of Pfister & Gerstner (2006);
* ``song2000``: pair STDP on Song et al.'s network (Poisson inputs onto one conductance LIF
  neuron), whose competition splits the weights into two modes at 0 and :math:`w_{max}`;
* ``diehl-cook``: Diehl & Cook (2015): Poisson pixels onto excitatory conductance LIF neurons
  with adaptive thresholds, one-to-one onto inhibitory neurons that inhibit every other
  excitatory neuron, learned by their pre-trace rule with weight normalisation.  The
  network is the description it is given (the model card's ``[network]``).

Semantics of ``updates(network, params, state, x, t)``: the rows of ``x`` are presented
*one after another* (``presentation`` seconds each, every state but the weights and the
adaptive thresholds back to rest at the start of each, as in the papers' online learning);
``dW`` is the total change of the plastic weights over the batch, so plain SGD with learning
rate 1 continues exactly where the simulation ended.  ``x`` holds input rates in rate
units (1 = 100 Hz; Diehl & Cook: pixel intensities in [0, 1], a white pixel at
``max_rate_hz``) or, with ``encoding = "spike_times"``, one spike time per input (seconds
into its presentation, NaN for none).  The targets are ignored (unsupervised).  The state is
the random-number position for brian2's Poisson spikes (and Diehl & Cook's thresholds).
``aux`` holds the spike counts per layer and sample (``counts``), every spike
(``spikes``: per layer, unit index and time in seconds from the start of the stream) and
the simulation timings.

This module imports brian2 only inside ``updates`` (through :mod:`neurosim.spiking`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ShapeError
from ..network import Layer, Network, Projection
from ..randomness import RngState
from .base import Hyper, Rule, RuleInfo, param, register

CODEGEN = ("auto", "cython", "numpy")


def plastic_projections(network: Network) -> list[Projection]:
    """Projections STDP learns: plastic, weights of their own, dense."""
    return [p for p in network.projections if p.plastic and p.tied_to is None and p.operation == "dense"]


def _check_x(owner: str, network: Network, x, encoding: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = network.input_layer.size
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != n:
        raise ShapeError(f"{owner}: x expected shape (batch >= 1, {n}), got {x.shape}")
    if encoding == "poisson" and not (np.all(np.isfinite(x)) and np.all(x >= 0)):
        raise ShapeError(f"{owner}: x holds input rates (rate units, 1 = 100 Hz): finite and >= 0")
    return x


@dataclass(frozen=True)
class _SpikingHyper(Hyper):
    presentation: float = param(0.35, gt=0, doc="seconds each sample is presented")
    dt: float = param(1e-4, gt=0, doc="integration step, seconds")
    codegen: str = param("auto", choices=CODEGEN, doc="brian2 code generation target")


class _STDPRule(Rule):
    """Shared machinery: one sequential brian2 stream of the batch, weights read back."""

    family = "hebbian"
    info = RuleInfo(supervised=False, backends=("spiking",), activation="lif")
    synapse_model = ""

    def synapse_options(self) -> dict:
        raise NotImplementedError

    def encoding(self) -> str:
        return "poisson"

    def input_rates(self, x: np.ndarray) -> np.ndarray:
        """Rate units (1 = 100 Hz) presented for ``x``."""
        return x

    def network(self, spec, *, activation=None, loss=None, name=None) -> Network:
        if isinstance(spec, Network):
            net = super().network(spec)
            if not plastic_projections(net):
                raise ConfigError(f"rule '{self.name}': network '{net.name}' has no plastic dense projection to "
                                  "learn (set plastic = true on one)")
            return net
        sizes = self._sizes(spec)
        return Network.feedforward(sizes, activation="lif", output_activation="lif", neuron="lif", bias=False,
                                   loss="mse", init="uniform", name=name or f"{self.name}-net")

    def _sizes(self, spec) -> list[int]:
        try:
            sizes = [int(s) for s in spec]
        except (TypeError, ValueError):
            raise ConfigError(f"rule '{self.name}'.network: expected a Network or layer sizes like [100, 10], "
                              f"got {spec!r}") from None
        if len(sizes) < 2 or min(sizes) < 1:
            raise ConfigError(f"rule '{self.name}'.network: expected at least two positive sizes, got {sizes}")
        return sizes

    def init_params(self, network: Network, seed=0, dtype="float64") -> dict:
        """The default initialisation, plastic weights uniform on ``[0, w_init * w_max]`` (weights are >= 0)."""
        params = super().init_params(network, seed, dtype)
        rng = np.random.default_rng(seed)
        hi = self.initial_weight_max()
        for proj in plastic_projections(network):
            params[proj.name] = rng.uniform(0.0, hi, params[proj.name].shape).astype(dtype)
        return params

    def initial_weight_max(self) -> float:
        return 0.5 * self.hyper.w_max

    def init(self, network: Network, params: dict, seed: int = 0) -> dict:
        return {"rng": RngState.from_seed(seed)}

    def circuit(self, network: Network, state: dict) -> Network:
        """The network simulated for this state (Diehl & Cook: thresholds stay in the state)."""
        return network

    def updates(self, network: Network, params: dict, state, x, target):
        from ..params import check_params
        from ..spiking.builder import build_circuit
        from brian2 import second

        owner = f"rule '{self.name}'.updates"
        check_params(network, params)
        h = self.hyper
        x = _check_x(owner, network, x, self.encoding())
        plastic = plastic_projections(network)
        if not plastic:
            raise ConfigError(f"{owner}: network '{network.name}' has no plastic dense projection; build it with "
                              f"rule.network(...)")
        gen = state["rng"].generator()
        seed = int(gen.integers(0, 2 ** 31 - 1))
        options = self.synapse_options()
        model = build_circuit(self.circuit(network, state), params,
                              self.input_rates(x) if self.encoding() == "poisson" else x,
                              presentation="sequential", input_encoding=self.encoding(), phase=h.presentation * second,
                              settle=0 * second, dt=h.dt * second, seed=seed, codegen_target=h.codegen,
                              plasticity={p.name: (self.synapse_model, options) for p in plastic})
        self.before_run(model, network, state)
        activity = model.run()
        dw = {p.name: (model.weights(p.name)[0] - params[p.name]).astype(np.asarray(params[p.name]).dtype)
              for p in plastic}
        window = activity.window
        counts = {name: np.rint(rho[0] * window * 100.0) for name, rho in activity.rho["free"].items()}
        new_state = {**state, "rng": RngState.of(gen), **self.after_run(model, network, state)}
        aux = {"counts": counts, "spikes": activity.spikes, "timings": activity.timings}
        return dw, new_state, aux

    def before_run(self, model, network, state) -> None:
        """Set state-carried variables on the built model (default: none)."""

    def after_run(self, model, network, state) -> dict:
        """State entries read back from the model after the run (default: none)."""
        return {}


@dataclass(frozen=True)
class _EncodedHyper(_SpikingHyper):
    """The spiking hyper-parameters plus the choice of input encoding (pair and triplet STDP)."""

    encoding: str = param("poisson", choices=("poisson", "spike_times"),
                          doc="x as Poisson rates, or as one spike time per input (seconds, NaN: none)")


class _EncodedSTDPRule(_STDPRule):
    """An STDP rule whose input encoding is a hyper-parameter (:class:`_EncodedHyper`)."""

    def encoding(self) -> str:
        return self.hyper.encoding


# --------------------------------------------------------------------------- pair STDP
@dataclass(frozen=True)
class PairSTDPHyper(_EncodedHyper):
    a_plus: float = param(0.005, gt=0, doc="potentiation amplitude A+ (weight units)")
    a_minus: float = param(0.00525, gt=0, doc="depression amplitude A- (weight units)")
    tau_plus: float = param(0.020, gt=0, doc="pre trace time constant, seconds")
    tau_minus: float = param(0.020, gt=0, doc="post trace time constant, seconds")
    w_max: float = param(1.0, gt=0, doc="upper weight bound (lower bound 0)")
    clip: bool = param(True, doc="clip weights to [0, w_max] after every change")


@register
class PairSTDP(_EncodedSTDPRule):
    """Additive pair STDP with all-to-all traces: the module docstring's window :math:`W(\\Delta t)`.

    A pre trace :math:`a_+` and a post trace :math:`a_-` jump by one at each spike and decay
    with :math:`\\tau_\\pm`; a post spike adds :math:`A_+ a_+`, a pre spike subtracts
    :math:`A_- a_-` (Song, Miller & Abbott 2000; Morrison, Diesmann & Gerstner 2008).
    """

    name = "stdp"
    citation = ("Song, Miller & Abbott (2000). Competitive Hebbian learning through spike-timing-dependent "
                "synaptic plasticity. Nat. Neurosci. 3, 919-926.")
    info = RuleInfo(supervised=False, backends=("spiking",), activation="lif", aliases=("pair-stdp",))
    Hyper = PairSTDPHyper
    synapse_model = "pair_stdp"

    def synapse_options(self) -> dict:
        h = self.hyper
        return {"a_plus": h.a_plus, "a_minus": h.a_minus, "tau_plus": h.tau_plus, "tau_minus": h.tau_minus,
                "w_max": h.w_max, "clip": h.clip}

    def window(self, delta_t) -> np.ndarray:
        """:math:`W(\\Delta t)` for ``delta_t`` (seconds, post minus pre, nonzero)."""
        h = self.hyper
        d = np.asarray(delta_t, dtype=float)
        return np.where(d > 0, h.a_plus * np.exp(-np.abs(d) / h.tau_plus),
                        -h.a_minus * np.exp(-np.abs(d) / h.tau_minus))


# --------------------------------------------------------------------------- triplet STDP
@dataclass(frozen=True)
class TripletSTDPHyper(_EncodedHyper):
    tau_plus: float = param(16.8e-3, gt=0, doc="fast pre trace r1, seconds")
    tau_minus: float = param(33.7e-3, gt=0, doc="fast post trace o1, seconds")
    tau_x: float = param(101e-3, gt=0, doc="slow pre trace r2, seconds")
    tau_y: float = param(125e-3, gt=0, doc="slow post trace o2, seconds")
    a2_plus: float = param(5e-10, ge=0, doc="pair potentiation")
    a3_plus: float = param(6.2e-3, ge=0, doc="triplet potentiation")
    a2_minus: float = param(7e-3, ge=0, doc="pair depression")
    a3_minus: float = param(2.3e-4, ge=0, doc="triplet depression")
    w_max: float = param(1.0, gt=0, doc="scale of the initial weights (the rule itself is unbounded)")


@register
class TripletSTDP(_EncodedSTDPRule):
    """Triplet STDP (Pfister & Gerstner 2006), all-to-all, visual-cortex parameters (their Table 4).

    .. math:: \\text{pre spike: } w \\mathrel{-}= o_1 (A_2^- + A_3^- r_2), \\qquad
              \\text{post spike: } w \\mathrel{+}= r_1 (A_2^+ + A_3^+ o_2),

    traces read before their own increment; for a single pair it is the pair window with
    amplitudes :math:`A_2^\\pm`.
    """

    name = "triplet-stdp"
    citation = ("Pfister & Gerstner (2006). Triplets of spikes in a model of spike timing-dependent plasticity. "
                "J. Neurosci. 26, 9673-9682.")
    Hyper = TripletSTDPHyper
    synapse_model = "triplet_stdp"

    def synapse_options(self) -> dict:
        h = self.hyper
        return {k: h[k] for k in ("tau_plus", "tau_minus", "tau_x", "tau_y", "a2_plus", "a3_plus", "a2_minus",
                                  "a3_minus")}


# --------------------------------------------------------------------------- Song et al. 2000
@dataclass(frozen=True)
class SongHyper(PairSTDPHyper):
    a_plus: float = param(1e-4, gt=0, doc="A+ = 0.01 w_max (brian2's example of the paper)")
    a_minus: float = param(1.05e-4, gt=0, doc="A- = 1.05 A+ tau+/tau-: depression wins for uncorrelated spikes")
    w_max: float = param(0.01, gt=0, doc="peak conductance, units of the leak conductance")
    presentation: float = param(1.0, gt=0, doc="seconds each sample (input rate vector) is presented")


@register
class Song2000(PairSTDP):
    """Song, Miller & Abbott (2000): Poisson inputs onto a conductance LIF neuron, additive pair STDP.

    Its network (:meth:`network` for sizes ``[n_inputs, 1]``): Poisson inputs at ``x * 100 Hz``
    (15 Hz: ``x = 0.15``) onto one ``conductance_lif`` neuron (:math:`\\tau_m` = 10 ms,
    :math:`E_l` = -74 mV, threshold -54 mV, reset -60 mV, :math:`E_e` = 0, :math:`\\tau_e` = 5 ms),
    weights uniform on :math:`[0, w_{max}]`.  With :math:`A_-\\tau_- > A_+\\tau_+` the inputs
    compete and the weights split into two modes at 0 and :math:`w_{max}` (their Fig. 2).
    """

    name = "song2000"
    info = RuleInfo(supervised=False, backends=("spiking",), activation="lif")
    Hyper = SongHyper

    def network(self, spec, *, activation=None, loss=None, name=None) -> Network:
        if isinstance(spec, Network):
            return super().network(spec)
        sizes = self._sizes(spec)
        return Network(layers=(Layer("input", sizes[0], activation="linear", neuron="lif", role="input", bias=False),
                               Layer("output", sizes[-1], activation="lif", neuron="conductance_lif", role="output",
                                     bias=False)),
                       projections=(Projection("input", "output", init="uniform", init_scale=self.hyper.w_max),),
                       loss="mse", name=name or "song2000")

    def initial_weight_max(self) -> float:
        return self.hyper.w_max


# --------------------------------------------------------------------------- Diehl & Cook 2015
@dataclass(frozen=True)
class DiehlCookHyper(_SpikingHyper):
    max_rate_hz: float = param(63.75, gt=0, doc="rate of a white pixel (their 255 / 4)")
    dt: float = param(5e-4, gt=0, doc="integration step, seconds")
    w_max: float = param(1.0, gt=0, doc="upper weight bound")
    w_init_max: float = param(0.3, gt=0, doc="initial weights uniform on [0, w_init_max]")
    weight_sum: float = param(78.0, gt=0, doc="incoming weight sum per neuron, restored before every sample")
    nu_pre: float = param(1e-4, ge=0, doc="depression at a pre spike")
    nu_post: float = param(1e-2, ge=0, doc="potentiation at a post spike")
    tau_pre: float = param(0.020, gt=0, doc="pre trace, seconds")
    tau_post1: float = param(0.020, gt=0, doc="post trace read at pre spikes, seconds")
    tau_post2: float = param(0.040, gt=0, doc="post trace read at post spikes, seconds")
    learn: bool = param(True, doc="plasticity and threshold adaptation on (False: record responses)")
    min_spikes: int = param(5, ge=0, doc="a sample to which the excitatory layer answers with fewer spikes is "
                                          "presented again with brighter inputs (their code; 0: never)")
    boost_hz: float = param(31.875, gt=0, doc="rise of a white pixel's rate per repetition (their 255 / 8 Hz, "
                                              "the paper's '32 Hz')")
    max_boosts: int = param(20, ge=0, doc="repetitions at most; a sample still below min_spikes keeps the "
                                          "last repetition's counts")


#: The excitatory and inhibitory neurons of Diehl & Cook's code (absolute potentials, SI units).
DIEHL_COOK_EXC = {"tau_m": 0.100, "e_leak": -0.065, "v_reset": -0.065, "v_threshold": -0.052, "theta_offset": 0.020,
                  "e_exc": 0.0, "e_inh": -0.100, "tau_ge": 0.001, "tau_gi": 0.002, "t_ref": 0.005,
                  "theta_plus": 5e-5, "tau_theta": 1e4}
DIEHL_COOK_INH = {"tau_m": 0.010, "e_leak": -0.060, "v_reset": -0.045, "v_threshold": -0.040, "e_exc": 0.0,
                  "e_inh": -0.085, "tau_ge": 0.001, "tau_gi": 0.002, "t_ref": 0.002}


@register
class DiehlCook(_STDPRule):
    """Diehl & Cook (2015): unsupervised digit learning by STDP, lateral inhibition, adaptive thresholds.

    The network is a description (:meth:`network`; the card ``models/diehl_cook2015.toml``):
    an input layer, an excitatory layer of ``adaptive_conductance_lif`` neurons learning the
    one plastic projection from the input, and an inhibitory ``conductance_lif`` layer fed
    one-to-one (``connectivity = "one_to_one"``, ``scale`` = 10.4) that inhibits the
    excitatory layer (``scale`` < 0: inhibitory conductance; :meth:`init_params` gives it
    weight 1 from every inhibitory neuron to every excitatory neuron but its partner).  The
    synapses follow the ``diehl_cook`` synapse model (their pre-trace rule, weights
    renormalised to ``weight_sum`` and clipped to ``[0, w_max]`` before every sample).  The
    adaptive thresholds :math:`\\theta` are the rule's state.

    Input intensity (Diehl & Cook's code, for learning and recording alike): a sample to which
    the excitatory layer answers with fewer than ``min_spikes`` spikes is presented again with
    every input rate raised, a white pixel at ``max_rate_hz + k boost_hz`` on the ``k``-th
    repetition, until it draws ``min_spikes`` or ``max_boosts`` repetitions are spent; learning
    goes on during every presentation.  The repetitions of a batch's samples follow the whole
    batch (one sequential stream per repetition round) instead of each sample at once, which is
    the published order for batches of one.  ``aux["counts"]`` holds each sample's counts of its
    last presentation, ``aux["boosts"]`` its number of repetitions.
    """

    name = "diehl-cook"
    citation = ("Diehl & Cook (2015). Unsupervised learning of digit recognition using spike-timing-dependent "
                "plasticity. Front. Comput. Neurosci. 9, 99.")
    Hyper = DiehlCookHyper
    synapse_model = "diehl_cook"

    def synapse_options(self) -> dict:
        h = self.hyper
        scale = 1.0 if h.learn else 0.0
        return {"tau_pre": h.tau_pre, "tau_post1": h.tau_post1, "tau_post2": h.tau_post2,
                "nu_pre": scale * h.nu_pre, "nu_post": scale * h.nu_post, "w_max": h.w_max,
                "weight_sum": h.weight_sum, "normalize": h.learn}

    def input_rates(self, x):
        if np.any(x > 1):
            raise ShapeError(f"rule '{self.name}': x holds pixel intensities in [0, 1]")
        return x * (self.hyper.max_rate_hz / 100.0)

    def updates(self, network: Network, params: dict, state, x, target):
        """One sequential stream of the batch, then repetitions of the samples that drew fewer than
        ``min_spikes`` excitatory spikes, each round brighter by ``boost_hz`` (class docstring)."""
        dw, state, aux = super().updates(network, params, state, x, target)
        h = self.hyper
        if h.min_spikes == 0 or h.max_boosts == 0:
            return dw, state, {**aux, "boosts": np.zeros(np.shape(x)[0], dtype=np.int64)}
        exc, _, _ = self.layers(network)
        x = np.asarray(x, dtype=np.float64)
        counts = {name: np.array(c, copy=True) for name, c in aux["counts"].items()}
        current = {k: v + dw.get(k, 0.0) for k, v in params.items()}
        boosts = np.zeros(len(x), dtype=np.int64)
        timings = dict(aux["timings"])
        low = counts[exc.name].sum(axis=1) < h.min_spikes
        for k in range(1, h.max_boosts + 1):
            if not low.any():
                break
            rows = np.flatnonzero(low)
            brighter = self.replace(max_rate_hz=h.max_rate_hz + k * h.boost_hz, min_spikes=0)
            dwk, state, auxk = brighter.updates(network, current, state, x[rows], target)
            current = {name: v + dwk.get(name, 0.0) for name, v in current.items()}
            for name in counts:
                counts[name][rows] = auxk["counts"][name]
            boosts[rows] = k
            low[rows] = auxk["counts"][exc.name].sum(axis=1) < h.min_spikes
            for key in ("build_s", "compile_s", "simulate_s", "biological_s"):
                timings[key] = timings.get(key, 0.0) + auxk["timings"].get(key, 0.0)
        dw = {name: (current[name] - params[name]).astype(np.asarray(params[name]).dtype) for name in dw}
        return dw, state, {**aux, "counts": counts, "boosts": boosts, "timings": timings}

    def initial_weight_max(self) -> float:
        return self.hyper.w_init_max

    def layers(self, network: Network) -> tuple[Layer, Layer, Projection]:
        """The excitatory layer, the inhibitory layer and the plastic input projection of ``network``."""
        plastic = plastic_projections(network)
        owner = f"rule '{self.name}': network '{network.name}'"
        if len(plastic) != 1 or plastic[0].pre != network.input_layer.name:
            raise ConfigError(f"{owner} needs exactly one plastic projection, from the input; got "
                              f"{[p.name for p in plastic]}")
        exc = network.layer(plastic[0].post)
        if exc.neuron != "adaptive_conductance_lif":
            raise ConfigError(f"{owner}: layer '{exc.name}' (the plastic projection's target) has neuron "
                              f"'{exc.neuron}'; Diehl & Cook's excitatory neurons are 'adaptive_conductance_lif'")
        inh = [network.layer(p.post) for p in network.projections if p.pre == exc.name and p.post != exc.name]
        if len(inh) != 1 or not any(p.pre == inh[0].name and p.post == exc.name and p.scale < 0
                                    for p in network.projections):
            raise ConfigError(f"{owner}: expected one inhibitory layer fed by '{exc.name}' and projecting back "
                              "onto it with a negative scale (lateral inhibition)")
        return exc, inh[0], plastic[0]

    def network(self, spec, *, activation=None, loss=None, name=None) -> Network:
        if isinstance(spec, Network):
            net = super().network(spec)
            self.layers(net)
            return net
        sizes = self._sizes(spec)
        n_in, n = sizes[0], sizes[-1]
        return Network(
            layers=(Layer("input", n_in, activation="linear", neuron="lif", role="input", bias=False),
                    Layer("exc", n, activation="lif", neuron="adaptive_conductance_lif", role="output", bias=False,
                          params=DIEHL_COOK_EXC),
                    Layer("inh", n, activation="lif", neuron="conductance_lif", role="interneuron", bias=False,
                          params=DIEHL_COOK_INH)),
            projections=(Projection("input", "exc", init="uniform", init_scale=self.hyper.w_init_max),
                         Projection("exc", "inh", kind="lateral", init="identity", connectivity="one_to_one",
                                    scale=10.4, plastic=False),
                         Projection("inh", "exc", kind="lateral", init="uniform", scale=-17.0, plastic=False)),
            loss="mse", name=name or "diehl_cook2015")

    def init_params(self, network: Network, seed=0, dtype="float64") -> dict:
        params = super().init_params(network, seed, dtype)
        exc, inh, _ = self.layers(network)
        for proj in network.projections:
            if proj.pre == inh.name and proj.post == exc.name:   # every other excitatory neuron
                params[proj.name] = (1.0 - np.eye(exc.size, inh.size)).astype(dtype)
            elif proj.pre == exc.name and proj.post == inh.name:
                params[proj.name] = np.eye(inh.size, exc.size).astype(dtype)
        return params

    def init(self, network: Network, params: dict, seed: int = 0) -> dict:
        """The random-number position and the adaptive thresholds at the start of training: every
        :math:`\\theta` at the layer's ``theta_offset`` (their code: 20 mV), so a neuron starts at its
        nominal threshold :math:`v_{th}` and not 20 mV below it (where it fires on its own)."""
        from ..neurons import ConductanceLIFParameters

        exc, _, _ = self.layers(network)
        offset = ConductanceLIFParameters.from_layer(exc).theta_offset
        return {"rng": RngState.from_seed(seed), "theta": np.full(exc.size, offset)}

    def circuit(self, network: Network, state: dict) -> Network:
        exc, _, _ = self.layers(network)
        if np.shape(state["theta"]) != (exc.size,):
            raise ShapeError(f"rule '{self.name}': state['theta'] has shape {np.shape(state['theta'])}, layer "
                             f"'{exc.name}' has {exc.size} neurons; start from rule.init(network, params)")
        if self.hyper.learn:
            return network
        frozen = dataclasses.replace(exc, params={**dict(exc.params), "theta_plus": 0.0})
        return network.replace(layers=tuple(frozen if layer.name == exc.name else layer for layer in network.layers))

    def before_run(self, model, network, state) -> None:
        from brian2 import volt

        exc, _, _ = self.layers(network)
        model.groups[exc.name].theta = np.asarray(state["theta"], dtype=np.float64) * volt

    def after_run(self, model, network, state) -> dict:
        from brian2 import volt

        exc, _, _ = self.layers(network)
        return {"theta": np.asarray(model.groups[exc.name].theta[:] / volt, dtype=np.float64)}


__all__ = ["DIEHL_COOK_EXC", "DIEHL_COOK_INH", "DiehlCook", "PairSTDP", "Song2000", "TripletSTDP",
           "plastic_projections"]

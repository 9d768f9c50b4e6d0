"""Lower a :class:`~neurosim.network.Network` (+ its params) to an explicit ``brian2.Network``: the one builder.

Every spiking family goes through :func:`build_circuit` and its registry
(:class:`CircuitBuilder`); :func:`build` is the stream-of-presentations front end the rate
read-out rules use (a thin layer over it):

>>> import brian2 as b2
>>> from neurosim import Network, init_params
>>> from neurosim.spiking import build
>>> net = Network.feedforward([4, 8, 2], activation="lif")
>>> model = build(net, init_params(net, seed=0), dt=0.1 * b2.ms, presentation=200 * b2.ms)
>>> activity = model.run(x, n_trials=5, seed=1)          # x: (batch, 4), inputs >= 0
>>> activity.rho["output"].shape                          # (5, batch, 2), rate-side units

One presentation per sample: the stimulus is a ``TimedArray`` with one row per
presentation, every population is reset to rest at the start of each presentation
(``run_regularly``), and spikes are counted after a settling time.  A batch and its
trials are one stream and one ``brian2.Network.run`` call; each call lowers the network
again (creating brian2 objects costs milliseconds), and the generated code depends only on
the equations and the number of rows, so a stream of batches of one size compiles once.
See :mod:`neurosim.spiking.lif` for the equations and the mapping of weights onto synapses.
"""
from __future__ import annotations

import logging
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import Hz, ms, second, volt
from brian2.units.fundamentalunits import Quantity

from ..errors import ConfigError
from ..network import KINDS, Drive, Network, Projection
from ..neurons import (BURSTING_MODELS, RATE_SCALE_HZ, BurstParameters, ConductanceLIFParameters, LIFParameters,
                       PoissonTwoCompartmentParameters, UrbanczikSennParameters)
from ..params import bias_key, check_params, weight
from . import codegen, lif
from . import encoding as _encoding
from ..validation import check, check_time


def _check_time(name: str, value, *, minimum_exclusive=0.0) -> Quantity:
    """A brian2 time quantity > ``minimum_exclusive`` seconds, or a one-line error saying how to write it."""
    return check_time("build", name, value, gt=minimum_exclusive, example="0.1*brian2.ms")


class _AlignedGrids(logging.Filter):
    """Drops brian2's "time grids not aligned" warning for tables whose step is a whole number of
    ``dt`` (checked by :func:`build_circuit`): ``phase / dt`` is then an integer up to float
    rounding (0.35 s / 0.5 ms = 699.9999999999999), which brian2's exact comparison flags."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "time grids not aligned" not in record.getMessage()


@contextmanager
def _aligned_grids():
    """Within the block, brian2's TimedArray logger omits the false "time grids not aligned" warning."""
    log = logging.getLogger("brian2.input.timedarray")
    quiet = _AlignedGrids()
    log.addFilter(quiet)
    try:
        yield
    finally:
        log.removeFilter(quiet)


def _check_whole_steps(owner: str, name: str, period: Quantity, dt: Quantity) -> None:
    """A presentation or phase must be a whole number of steps (to 1e-6 of a step): the counting
    windows, the per-row tables and the row clock tick on that grid."""
    steps = float(period / dt)
    if abs(steps - round(steps)) > 1e-6:
        raise ConfigError(f"{owner}: {name} = {period} must be a whole number of dt = {dt} steps (got {steps:g} "
                          f"steps); change {name} or dt")


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


@dataclass
class SpikingActivity:
    """Spike counts of one :meth:`SpikingModel.run`, units stripped (SI floats).

    Attributes
    ----------
    counts : dict of str to ndarray of int, shape (n_trials, batch, layer.size)
        Spikes of each simulated layer inside the counting window of each presentation.
    window : float
        Counting window in seconds (presentation time minus settling time).
    inputs : ndarray (batch, n_input)
        The rate-side inputs presented.
    encoding : str
    spikes : dict of str to (ndarray, ndarray)
        Neuron indices and spike times (seconds, from the start of the stream) of every
        spike, for rasters.
    voltages : dict of str to ndarray, shape (n_steps, layer.size)
        Recorded somatic voltages (volts) of the layers asked for with ``record_voltage``.
    timings : dict
        ``target``, ``build_s`` (creating the brian2 objects), ``compile_s`` (code generation +
        compilation, or loading the cache), ``simulate_s`` (the simulation loop),
        ``biological_s`` (simulated time), ``n_copies``.
    """

    counts: dict
    window: float
    inputs: np.ndarray
    encoding: str
    spikes: dict = field(default_factory=dict)
    voltages: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def rates(self) -> dict:
        """Firing rates in Hz, ``counts / window``."""
        return {k: c / self.window for k, c in self.counts.items()}

    @property
    def rho(self) -> dict:
        """Rates in rate-side units (``rates / RATE_SCALE_HZ``)."""
        return {k: c / (self.window * RATE_SCALE_HZ) for k, c in self.counts.items()}

    def mean_rho(self, layer: str) -> np.ndarray:
        """Trial-averaged rate-side rates of ``layer``, shape (batch, size)."""
        return self.rho[layer].mean(axis=0)

    @property
    def n_trials(self) -> int:
        return next(iter(self.counts.values())).shape[0]


class SpikingModel:
    """A :class:`~neurosim.network.Network` run as a stream of presentations through the circuit builder.

    Create with :func:`build`.  Configuration attributes mirror its arguments.  Each
    :meth:`run` lowers the network with :func:`build_circuit` (``presentation="sequential"``:
    one copy, every sample and trial one presentation after another, every neuron back to
    rest at the start of each) -- the same builders, synapses and code as every spiking
    family; the brian2 objects of the last run are ``circuit`` (a :class:`CircuitModel`:
    ``groups``, ``synapses``, ``monitors``, ``net``).  Generated code depends on the
    equations and the number of presentation rows only, so a stream of batches compiles once
    per ``batch * n_trials`` (``tests/test_spiking_compile_cache.py``).
    """

    def __init__(self, network: Network, params: dict, *, dt, presentation, settle, encoding_name, target,
                 kinds, record_voltage, standalone_dir):
        self.network = network
        self.params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
        self.dt = dt
        self.presentation = presentation
        self.settle = settle
        self.encoding = encoding_name
        self.target = target
        self.kinds = kinds
        self.record_voltage = record_voltage
        self.standalone_dir = standalone_dir
        self.circuit: CircuitModel | None = None
        inp = network.input_layer.name
        for proj in network.projections:
            if proj.kind in kinds and proj.post == inp:
                raise ConfigError(f"Projection '{proj.name}': it ends on the input layer '{inp}', which the "
                                  f"spiking backend drives from the data ({encoding_name} encoding); leave "
                                  f"its kind '{proj.kind}' out of build(kinds=...)")

    @property
    def groups(self) -> dict:
        """Layer name -> brian2 group of the last run (the input layer only with Poisson encoding)."""
        if self.circuit is None:
            raise ConfigError("SpikingModel.groups: the brian2 objects exist after the first run(); call run first")
        return self.circuit.groups

    def set_params(self, params: dict) -> None:
        """Use new weights and biases (same network) from the next :meth:`run` on."""
        check_params(self.network, params)
        self.params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}

    def run(self, x, *, n_trials: int = 1, seed: int = 0) -> SpikingActivity:
        """Present every sample of ``x`` ``n_trials`` times and count the spikes.

        Parameters
        ----------
        x : ndarray of shape (batch, n_input)
            Rate-side inputs (rates in units of 100 Hz for Poisson encoding, >= 0).
        n_trials : int
            Independent presentations of each sample (new Poisson spikes each time).
        seed : int
            Seeds brian2's random numbers for this run (the global NumPy state brian2 draws
            from is saved and put back, so nothing outside the run is touched).

        Returns
        -------
        SpikingActivity
        """
        if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
            raise ConfigError(f"run: n_trials expected a positive integer, got {n_trials!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"run: seed expected a non-negative integer, got {seed!r}")
        x = _encoding.check_inputs(self.network, x, self.encoding)
        self.circuit = build_circuit(
            self.network, self.params, x, n_trials=int(n_trials), phases=(("stream", 0.0),), dt=self.dt,
            phase=self.presentation, settle=self.settle, kinds=self.kinds, seed=int(seed),
            codegen_target=self.target, presentation="sequential", input_encoding=self.encoding,
            record={name: ("v",) for name in self.record_voltage}, standalone_dir=self.standalone_dir)
        run = self.circuit.run()
        voltages = {name: self.circuit.recorded(name, "v")[1].T for name in self.record_voltage}
        counts = {name: np.rint(c).astype(np.int64) for name, c in run.counts["stream"].items()}
        return SpikingActivity(counts=counts, window=run.window, inputs=x, encoding=self.encoding,
                               spikes=run.spikes, voltages=voltages, timings=run.timings)


def build(network: Network, params: dict, *, dt=0.1 * ms, presentation=200 * ms, settle=50 * ms,
          encoding: str = "poisson", target: str = "auto", kinds=KINDS, record_voltage=(),
          standalone_dir: str | None = None) -> SpikingModel:
    """Build ``network`` with weights ``params`` as LIF populations in an explicit ``brian2.Network``.

    Parameters
    ----------
    network : Network
        Every non-input layer becomes a LIF population (``neuron`` ``"lif"`` or ``"rate"``)
        or a two-compartment LIF population (``"*_two_compartment"``); see
        :mod:`neurosim.spiking.lif` for the equations and the weight mapping.
    params : dict
        Weights and biases (:func:`neurosim.init_params`); ``tied_to`` projections use the
        owner's transpose, copied at build time.
    dt : brian2 time
        Integration step of every object (explicit; ``defaultclock`` is never used).
    presentation : brian2 time
        Duration of one sample's presentation (a multiple of ``dt``).
    settle : brian2 time
        Start of each presentation not counted, while the populations reach their steady
        rates (several ``tau_syn + tau_m`` per layer).
    encoding : {"poisson", "current"}
        See :mod:`neurosim.spiking.encoding`.
    target : {"auto", "cython", "numpy", "cpp_standalone"}
        Code generation, see :mod:`neurosim.spiking.codegen`.
    kinds : tuple of str
        Projection kinds built as ``Synapses`` (default all; spiking rules that compute
        their error on the rate side build only ``("feedforward",)``).
    record_voltage : tuple of str
        Layers whose somatic voltage is recorded every step (memory: steps x size).
    standalone_dir : str, optional
        Project folder for ``cpp_standalone`` (default: a new temporary folder).

    Returns
    -------
    SpikingModel

    Raises
    ------
    ConfigError
        On a time without units or of the wrong dimension, a presentation that is not a
        multiple of ``dt`` or not longer than ``settle``, an unknown projection kind, or a
        projection into the input layer.
    UnknownNameError
        On an unknown encoding, target or neuron model.
    ShapeError
        If ``params`` does not fit ``network``.
    """
    if not isinstance(network, Network):
        raise ConfigError(f"build: network expected a neurosim Network, got {type(network).__name__}")
    check_params(network, params)
    dt = _check_time("dt", dt)
    presentation = _check_time("presentation", presentation)
    settle = _check_time("settle", settle, minimum_exclusive=-1e-300)
    _check_whole_steps("build", "presentation", presentation, dt)
    if not settle < presentation:
        raise ConfigError(f"build: settle = {settle} leaves no counting window in presentation = {presentation}; "
                          "make settle shorter than the presentation")
    encoding_name = _encoding.check_encoding(encoding)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"build: kinds expected a subset of {', '.join(KINDS)}, got {kind!r}")
    record_voltage = (record_voltage,) if isinstance(record_voltage, str) else tuple(record_voltage)
    for name in record_voltage:
        layer = network.layer(name)
        if layer.role == "input":
            raise ConfigError(f"build: record_voltage names the input layer '{name}', which has no voltage")
    for layer in network.layers:
        if layer.role != "input":
            lif.model_kind(layer)
            LIFParameters.from_layer(layer)
    chosen = codegen.resolve_target(target)
    return SpikingModel(network, params, dt=dt, presentation=presentation, settle=settle,
                        encoding_name=encoding_name, target=chosen, kinds=kinds, record_voltage=record_voltage,
                        standalone_dir=standalone_dir)


# =====================================================================================
# The circuit builder: one registry lowering a description to brian2 (issue 18)
# =====================================================================================
# In the spirit of nengo's ``Builder.register`` (nengo/builder/builder.py): a builder per
# neuron model (keyed by ``Layer.neuron``), one for :class:`Projection` and one for
# :class:`Drive`.  Every copy of the network (``n_trials x batch``) is simulated side by
# side: one group per layer of ``copies * size`` neurons, copy-major (neuron ``k`` of copy
# ``c`` is index ``c * size + k``), block-diagonal synapses.  Group sizes do not enter the
# generated code, so a new batch size recompiles nothing.  A protocol is a sequence of
# phases of equal length, each with a gain ``g`` that multiplies the ``gated`` drives;
# spikes are counted after ``settle`` in each phase.  Units enter here: the description
# holds SI floats (seconds, rate units), the builder attaches brian2 units.


#: The wall times every run reports (seconds): creating the brian2 objects, generating and
#: compiling (or loading) their code, and the simulation loop.
TIMING_KEYS = ("build_s", "compile_s", "simulate_s")


class CircuitBuilder:
    """Registry of builders: neuron-model name -> builder, ``Projection`` / ``Drive`` -> builder.

    Examples
    --------
    >>> @CircuitBuilder.register("lif")
    ... def build_lif(model, layer, drive_terms): ...
    """

    builders: dict = {}

    @classmethod
    def register(cls, key):
        """Decorator: register ``fn(model, obj, ...)`` for a neuron model name or a description class."""
        def wrap(fn):
            if key in cls.builders:
                raise ConfigError(f"CircuitBuilder: a builder for {key!r} is already registered")
            cls.builders[key] = fn
            return fn
        return wrap

    @classmethod
    def lookup(cls, key, what: str):
        if key in cls.builders:
            return cls.builders[key]
        if isinstance(key, type):
            for klass in key.__mro__:
                if klass in cls.builders:
                    return cls.builders[klass]
        names = sorted(k for k in cls.builders if isinstance(k, str))
        raise ConfigError(f"build_circuit: no spiking builder for {what} {key!r}; the circuit builder lowers "
                          f"neuron models {', '.join(names)}")


@dataclass
class DriveTerms:
    """What the drives of one layer add to its equations (collected before the group exists)."""

    terms: dict = field(default_factory=dict)       # compartment -> list of expressions (threshold units)
    equations: list = field(default_factory=list)   # extra state variables
    reset: list = field(default_factory=list)       # appended to the spike reset
    namespace: dict = field(default_factory=dict)
    setters: list = field(default_factory=list)     # fn(group) after creation (targets)
    inputs: dict = field(default_factory=dict)      # compartment -> summed-variable names (SUMMED_MODELS)

    def current(self, comp: str) -> str | None:
        if not self.terms.get(comp):
            return None
        return f"I_drive_{comp} = ({' + '.join(self.terms[comp])}) * v_th : volt (constant over dt)"


@dataclass
class CircuitActivity:
    """Spike-count rates of one :meth:`CircuitModel.run`, units stripped.

    Attributes
    ----------
    rho : dict of str to dict of str to ndarray (n_trials, batch, size)
        ``rho[phase][layer]``: spike count in the counting window / (window * 100 Hz).
    spikes : dict of str to (ndarray, ndarray)
        Per layer: copy-major neuron index and spike time (s).
    window : float
        Counting window per phase, seconds.
    timings : dict
        ``target``, ``build_s``, ``compile_s``, ``simulate_s`` (the loop alone), ``biological_s``,
        ``n_copies``.
    event_rho : dict of str to dict of str to dict of str to ndarray (n_trials, batch, size)
        ``event_rho[event][phase][layer]``: the same for the extra events a neuron model
        emits besides its spikes (``"burst"`` of a ``burst_lif`` layer).
    inputs : ndarray (batch, n_input), optional
        The stimulus of the run.
    counts : dict of str to dict of str to ndarray (n_trials, batch, size)
        ``counts[phase][layer]``: the spike counts behind ``rho`` (whole numbers, as floats).
    """

    rho: dict
    spikes: dict
    window: float
    timings: dict
    event_rho: dict = field(default_factory=dict)
    inputs: np.ndarray | None = None
    counts: dict = field(default_factory=dict)


class CircuitModel:
    """A circuit description lowered to one ``brian2.Network`` (create with :func:`build_circuit`)."""

    def __init__(self, network, params, *, x, target, n_trials, phases, dt, phase, settle, kinds, init_v, seed,
                 codegen_target, presentation="parallel", input_encoding="poisson", plasticity=None,
                 record=None, record_dt=None, standalone_dir=None):
        self.network, self.params = network, params
        self.x, self.t = x, target
        self.batch, self.n_trials = x.shape[0], int(n_trials)
        self.sequential = presentation == "sequential"
        self.input_encoding = input_encoding
        # parallel: copy c = trial * batch + sample (trial-major), side by side; sequential: one
        # copy, row r = trial * batch + sample presented during [r * phase, (r + 1) * phase);
        # parallel_phases: copy c = (phase * n_trials + trial) * batch + sample, one phase of time
        self.phase_blocks = presentation == "parallel_phases"
        self.n_blocks = len(tuple(phases)) if self.phase_blocks else 1
        self.copies = 1 if self.sequential else self.n_blocks * self.batch * self.n_trials
        self.rows = self.batch * self.n_trials if self.sequential else 1
        # the phase gain of gated terms: a function of time, or a constant of each copy
        self.gain_expr = "ns_gain_c" if self.phase_blocks else "ns_gain(t)"
        self.plasticity = dict(plasticity or {})
        self.plastic: dict = {}    # projection name -> (Synapses, post index, pre index) of plastic synapses
        self.phases = tuple(phases)
        self.dt, self.phase, self.settle = dt, phase, settle
        self.kinds, self.init_v = kinds, init_v
        self.rng = np.random.default_rng(seed)
        self.seed = int(seed)
        self.codegen_target = codegen_target
        self.cls = codegen.codeobj_class(codegen_target)
        self.lif = {layer.name: LIFParameters.from_layer(layer) for layer in network.layers
                    if layer.neuron not in CONDUCTANCE_MODELS}
        self.groups, self.synapses, self.monitors = {}, [], {}
        # layer -> extra events its neuron model emits besides spikes (a burst_lif's "burst")
        self.events: dict = {}
        self.event_monitors: dict = {}
        self.drive_ids: list = []
        # brian2 names: an index keeps "l:error+" and "l:error-" apart after identifier mangling
        self.ids = {layer.name: f"{k}_{_identifier(layer.name)}" for k, layer in enumerate(network.layers)}
        self.record, self.record_dt = dict(record or {}), record_dt
        self.standalone_dir = standalone_dir
        self._standalone_cache: dict | None = None
        self.build_s = 0.0
        self.net = None
        if codegen_target != "cpp_standalone":   # standalone: the objects are created inside run()'s device
            self._create()

    def _create(self) -> None:
        """Create every brian2 object of the circuit and the one ``brian2.Network`` holding them."""
        network, kinds, dt, phase = self.network, self.kinds, self.dt, self.phase
        # one explicitly named clock for every object (and one for the row starts): brian2 names the
        # clock of an object built with ``dt=`` "<object>_clock", "<object>_clock_1", ... while an
        # earlier build's objects are alive, and the clock's name enters the generated code -- every
        # rebuild (a rule's next batch) would generate new code and compile it again
        self.clock = brian2.Clock(dt=dt, name="ns_c_clock")
        self.row_clock = brian2.Clock(dt=phase, name="ns_c_row_clock")
        self.gain = brian2.TimedArray(np.array([g for _, g in self.phases], dtype=np.float64), dt=phase,
                                      name="ns_gain")
        started = time.perf_counter()
        drives = {}
        self.transmit: dict = {}   # projection name -> False for probe synapses (learn, deliver nothing)
        for name, (model_name, options) in self.plasticity.items():
            options = dict(options)
            transmit = options.pop("transmit", True)
            if not isinstance(transmit, bool):
                raise ConfigError(f"build_circuit: plasticity['{name}'] option 'transmit' expected True or False, "
                                  f"got {transmit!r}")
            self.transmit[name] = transmit
            # a plasticity model may need variables on its post group (Diehl & Cook's summed weights)
            spec = CircuitBuilder.lookup(f"synapse:{model_name}", "synapse model")(self, network.projection(name),
                                                                                 options)
            self.plasticity[name] = (model_name, options, spec)
            drives.setdefault(network.projection(name).post, DriveTerms()).equations.extend(spec.post_equations)
        if self.phase_blocks:
            gains = np.array([g for _, g in self.phases], dtype=np.float64)
            for layer in network.layers:
                if layer.role != "input":
                    terms = drives.setdefault(layer.name, DriveTerms())
                    terms.equations.append("ns_gain_c : 1 (constant)")
                    values = np.repeat(gains, self.n_trials * self.batch * layer.size)
                    terms.setters.append(lambda group, v=values: setattr(group, "ns_gain_c", v))
        for drive in network.drives:
            CircuitBuilder.lookup(type(drive), "description").__call__(
                self, drive, drives.setdefault(drive.post, DriveTerms()))
        if self.input_encoding == "current":
            _input_currents(self, drives)
        self.extra: list = []      # helper objects (PSP trace groups, noise groups) in the brian2.Network
        self.traces: dict = {}     # (pre layer, kernel) -> PSP trace group (summed inputs)
        for k, proj in enumerate(p for p in network.projections if p.kind in kinds):
            post = network.layer(proj.post)
            if post.neuron in SUMMED_MODELS:   # a continuous input: a summed variable of the post group
                terms = drives.setdefault(post.name, DriveTerms())
                terms.equations.append(f"{_summed_var(k)} : {SUMMED_MODELS[post.neuron]}")
                terms.inputs.setdefault(proj.target, []).append(_summed_var(k))
        for layer in network.layers:
            key = "input" if layer.role == "input" else layer.neuron
            CircuitBuilder.lookup(key, "neuron model").__call__(self, layer, drives.get(layer.name, DriveTerms()))
        for k, proj in enumerate(p for p in network.projections if p.kind in kinds):
            CircuitBuilder.lookup(type(proj), "description").__call__(self, proj, k)
        for name, group in self.groups.items():
            self.monitors[name] = brian2.SpikeMonitor(group, name=f"ns_c_mon_{self.ids[name]}",
                                                      codeobj_class=self.cls)
            for event in self.events.get(name, ()):
                self.event_monitors[(event, name)] = brian2.EventMonitor(
                    group, event, name=f"ns_c_mon_{event}_{self.ids[name]}", codeobj_class=self.cls)
        self.state_monitors = {}
        for name, variables in self.record.items():
            if name in self.plastic:
                source = self.plastic[name][0]
            elif name in self.groups:
                source = self.groups[name]
            else:
                raise ConfigError(f"build_circuit: record names '{name}', which is neither a layer nor a plastic "
                                  f"projection of the circuit; record one of {sorted([*self.groups, *self.plastic])}")
            timing = {"dt": self.record_dt} if self.record_dt is not None else {"clock": self.clock}
            self.state_monitors[name] = brian2.StateMonitor(
                source, list(variables), record=True, name=f"ns_c_rec_{len(self.state_monitors)}_{_identifier(name)}",
                codeobj_class=self.cls, **timing)
        # the one brian2.Network of every circuit
        self.net = brian2.Network(*self.groups.values(), *self.extra, *self.synapses, *self.monitors.values(),
                                  *self.event_monitors.values(), *self.state_monitors.values(),
                                  name="neurosim_circuit")
        self.build_s = time.perf_counter() - started

    def tile(self, values: np.ndarray) -> np.ndarray:
        """Per-sample rows (batch, n) -> per-copy flat values (copies * n), (phase-,) trial-major."""
        return np.tile(np.asarray(values, dtype=np.float64), (self.n_blocks * self.n_trials, 1)).ravel()

    @property
    def uniform(self) -> str:
        """The uniform a Poisson neuron compares with ``rate * dt``: ``rand()``, or, with
        ``presentation = "parallel_phases"``, a variable ``unif`` drawn once per step and neuron
        of one phase block and shared by the same neuron of every block (common random numbers,
        :meth:`link_uniforms`)."""
        return "unif" if self.phase_blocks else "rand()"

    def link_uniforms(self, group, layer) -> None:
        """Link ``group.unif`` to a noise group of one phase block (``presentation = "parallel_phases"``)."""
        if not self.phase_blocks:
            return
        per_block = self.copies // self.n_blocks * layer.size
        noise = brian2.NeuronGroup(per_block, "unif : 1", clock=self.clock, name=f"ns_c_noise_{self.ids[layer.name]}",
                                   codeobj_class=self.cls)
        noise.run_regularly("unif = rand()", when="before_thresholds", codeobj_class=self.cls)
        group.unif = brian2.linked_var(noise, "unif", index=np.tile(np.arange(per_block), self.n_blocks))
        self.extra.append(noise)

    def synapse_values(self, name: str, variable: str) -> np.ndarray:
        """A variable of plastic projection ``name``'s synapses, shape (copies, n_post, n_pre), SI floats."""
        self._runtime_only("synapse_values")
        return self._per_synapse(name, np.asarray(getattr(self.plastic[name][0], variable + "_")[:],
                                                  dtype=np.float64))

    def layer_values(self, name: str, variable: str) -> np.ndarray:
        """A variable of layer ``name``'s neurons, shape (copies, size), SI floats."""
        self._runtime_only("layer_values")
        values = np.asarray(getattr(self.groups[name], variable + "_")[:], dtype=np.float64)
        return values.reshape(self.copies, -1)

    def block(self, w: np.ndarray):
        """Pre/post indices and weights of block-diagonal synapses for an effective weight (post, pre)."""
        post, pre = np.nonzero(w)  # an exact zero is no synapse
        offsets = np.arange(self.copies)[:, None]
        n_post, n_pre = w.shape
        return ((offsets * n_pre + pre).ravel(), (offsets * n_post + post).ravel(),
                np.tile(w[post, pre], self.copies))

    @property
    def n_time_phases(self) -> int:
        """Phases simulated one after another (1 when they are blocks of copies)."""
        return 1 if self.phase_blocks else len(self.phases)

    def at_row_start(self, target, code: str, name: str) -> None:
        """Run ``code`` on ``target`` at the start of every presentation (sequential streams only)."""
        if self.sequential and code:
            target.run_regularly(code, clock=self.row_clock, when="start", order=-1, name=name, codeobj_class=self.cls)

    def _per_synapse(self, name: str, values: np.ndarray) -> np.ndarray:
        """Values per synapse of plastic projection ``name`` (n_syn, ...) -> (copies, n_post, n_pre, ...)."""
        syn, post, pre = self.plastic[name]
        proj = self.network.projection(name)
        out = np.zeros((self.copies, self.network.layer(proj.post).size, self.network.layer(proj.pre).size)
                       + values.shape[1:])
        n_post, n_pre = out.shape[1:3]
        copy = pre // n_pre
        out[copy, post - copy * n_post, pre - copy * n_pre] = values
        return out

    def weights(self, name: str) -> np.ndarray:
        """Current weights of plastic projection ``name``, shape (copies, n_post, n_pre), rate-side units."""
        self._runtime_only("weights")
        return self._per_synapse(name, np.asarray(self.plastic[name][0].w[:], dtype=np.float64))

    def recorded(self, name: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) and values (SI floats) of a variable asked for with ``record``.

        Returns ``(times (n_samples,), values)``: a layer's values have shape
        (copies * size, n_samples) (copy-major); a plastic projection's (copies, n_post, n_pre, n_samples).
        """
        if self._standalone_cache is not None:
            times, values = self._standalone_cache["recorded"][(name, variable)]
        else:
            mon = self.state_monitors[name]
            times = np.asarray(mon.t_[:], dtype=np.float64)
            values = np.asarray(getattr(mon, variable + "_")[:], dtype=np.float64)   # (recorded, n_samples)
        if name in self.plastic:
            values = self._per_synapse(name, values)
        return times, values

    def run(self) -> CircuitActivity:
        """Simulate every phase once (every row, in sequence); count the spikes of each phase's window.

        ``timings``: ``build_s`` (creating the brian2 objects), ``compile_s`` (code generation and
        compiling, or loading the Cython cache; for ``cpp_standalone`` the C++ project's build),
        ``simulate_s`` (the simulation loop), ``biological_s``, ``n_copies``, ``target``.
        """
        duration = self.rows * self.n_time_phases * self.phase
        saved = np.random.get_state()
        try:
            if self.codegen_target == "cpp_standalone":
                compile_s, simulate_s, data = self._run_standalone(duration)
            else:
                brian2.seed(self.seed)
                started = time.perf_counter()
                with _aligned_grids():
                    self.net.run(duration, namespace={})
                wall = time.perf_counter() - started
                simulate_s = float(brian2.get_device()._last_run_time)
                compile_s = max(wall - simulate_s, 0.0)
                data = self._read_events()
        finally:
            np.random.set_state(saved)
        rho, counts, event_rho, spikes = {name: {} for name, _ in self.phases}, {name: {} for name, _ in self.phases}, \
            {}, {}
        for layer in self.network.layers:
            if layer.name not in data["spikes"]:
                continue
            idx, times = data["spikes"][layer.name]
            spikes[layer.name] = (idx, times)
            for name, n in self._count(idx, times, layer.size).items():
                counts[name][layer.name] = n
                rho[name][layer.name] = n / (self.window * RATE_SCALE_HZ)
            for event in self.events.get(layer.name, ()):
                for name, n in self._count(*data["events"][(event, layer.name)], layer.size).items():
                    event_rho.setdefault(event, {}).setdefault(name, {})[layer.name] = \
                        n / (self.window * RATE_SCALE_HZ)
        timings = {"target": self.codegen_target, "build_s": self.build_s, "compile_s": compile_s,
                   "simulate_s": simulate_s, "biological_s": float(duration / second), "n_copies": self.copies}
        return CircuitActivity(rho=rho, spikes=spikes, window=self.window, timings=timings, event_rho=event_rho,
                               inputs=self.x, counts=counts)

    def _read_events(self, recorded: bool = False) -> dict:
        """Every spike and event monitor's (copy-major index, time in s); with ``recorded`` also the
        recorded variables (a standalone device's objects are gone after the run; at runtime
        :meth:`recorded` reads the monitors when asked, so they are not copied here)."""
        def pair(mon):
            return np.asarray(mon.i[:], dtype=np.int64), np.asarray(mon.t_[:], dtype=np.float64)

        data = {"spikes": {name: pair(mon) for name, mon in self.monitors.items()},
                "events": {key: pair(mon) for key, mon in self.event_monitors.items()}}
        if recorded:
            data["recorded"] = {(name, var): (np.asarray(mon.t_[:], dtype=np.float64),
                                              np.asarray(getattr(mon, var + "_")[:], dtype=np.float64))
                                for name, mon in self.state_monitors.items() for var in self.record[name]}
        return data

    def _run_standalone(self, duration):
        """Create, build and run the circuit as a C++ standalone project; read it back inside the device."""
        if self._standalone_cache is not None:
            raise ConfigError("build_circuit: a cpp_standalone circuit runs once (the device is one-shot); build it "
                              "again for another run")
        directory = self.standalone_dir or tempfile.mkdtemp(prefix="neurosim_standalone_")
        with codegen.standalone_device(directory) as device:
            self._create()
            brian2.seed(self.seed)
            with _aligned_grids():
                self.net.run(duration, namespace={})
            started = time.perf_counter()
            device.build(directory=directory, compile=True, run=False, with_output=False)
            compiled = time.perf_counter()
            device.run(directory=directory, with_output=False, run_args=[])
            done = time.perf_counter()
            self._standalone_cache = self._read_events(recorded=True)
        return compiled - started, done - compiled, self._standalone_cache

    def _runtime_only(self, what: str) -> None:
        if self.codegen_target == "cpp_standalone":
            raise ConfigError(f"CircuitModel.{what}: a cpp_standalone circuit keeps only its spikes and recorded "
                              "variables; use codegen_target 'cython' or 'numpy' to read its state")

    @property
    def window(self) -> float:
        """Counting window per phase, seconds."""
        return float((self.phase - self.settle) / second)

    def _count(self, idx: np.ndarray, times: np.ndarray, size: int) -> dict:
        """Event counts per phase, (n_trials, batch, size), in each window (copy-major ``idx``, ``times`` s)."""
        phase_s, settle_s, dt_s = (float(v / second) for v in (self.phase, self.settle, self.dt))
        which = np.floor(times / phase_s).astype(np.int64)
        # a half-step margin keeps a spike at exactly settle_s on one side, whatever the rounding
        counted = (times - which * phase_s >= settle_s - 0.5 * dt_s) & (which < self.rows * self.n_time_phases)
        if self.phase_blocks:   # every phase a block of copies, one phase of time
            counts = np.zeros(self.copies * size)
            np.add.at(counts, idx[counted], 1.0)
            counts = counts.reshape(self.n_blocks, -1)
        elif self.sequential:   # phase slot = row; neuron index = unit
            counts = np.zeros((1, self.rows * size))
            np.add.at(counts, (np.zeros(int(counted.sum()), dtype=np.int64),
                               which[counted] * size + idx[counted]), 1.0)
        else:
            counts = np.zeros((len(self.phases), self.copies * size))
            np.add.at(counts, (which[counted], idx[counted]), 1.0)
        return {name: counts[k].reshape(self.n_trials, self.batch, size) for k, (name, _) in enumerate(self.phases)}


@CircuitBuilder.register("input")
def _build_input(model: CircuitModel, layer, drives: DriveTerms):
    """The input layer, one source per unit and copy.

    ``input_encoding = "poisson"``: Poisson trains at ``x * 100 Hz`` (a sequential stream
    changes the rates every presentation: a ``TimedArray``).  ``"spike_times"``: ``x[b, i]``
    is the time (seconds from the start of its presentation) of unit *i*'s one spike, NaN
    for none (a ``SpikeGeneratorGroup``; STDP windows).
    """
    gname = f"ns_c_{model.ids[layer.name]}"
    if model.input_encoding == "current":
        return   # not simulated: its projections are injected currents (_input_currents)
    if model.input_encoding == "spike_times":
        rows = np.tile(model.x, (model.n_trials, 1))                       # (trials * batch, size)
        row, unit = np.nonzero(np.isfinite(rows))
        times = rows[row, unit]
        if model.sequential:
            index, start = unit, row * float(model.phase / second)
        else:
            index, start = row * layer.size + unit, np.zeros(row.size)
        order = np.argsort(start + times, kind="stable")
        model.groups[layer.name] = brian2.SpikeGeneratorGroup(
            model.copies * layer.size, index[order], (start + times)[order] * second, clock=model.clock, name=gname,
            codeobj_class=model.cls)
    elif model.phase_blocks:
        # a Poisson source that draws the shared uniforms of its phase blocks
        group = brian2.NeuronGroup(model.copies * layer.size, "rate : Hz (constant)\nunif : 1 (linked)",
                                   threshold="unif < rate * dt", reset="", clock=model.clock, name=gname,
                                   codeobj_class=model.cls)
        group.rate = model.tile(model.x) * RATE_SCALE_HZ * Hz
        model.link_uniforms(group, layer)
        model.groups[layer.name] = group
    elif model.sequential:
        rates = brian2.TimedArray(np.tile(model.x, (model.n_trials, 1)) * RATE_SCALE_HZ * Hz, dt=model.phase,
                                  name="ns_input_rates")
        model.groups[layer.name] = brian2.PoissonGroup(layer.size, rates="ns_input_rates(t, i)", clock=model.clock,
                                                       namespace={"ns_input_rates": rates}, name=gname,
                                                       codeobj_class=model.cls)
    else:
        model.groups[layer.name] = brian2.PoissonGroup(model.copies * layer.size, rates=model.tile(model.x)
                                                       * RATE_SCALE_HZ * Hz, clock=model.clock, name=gname,
                                                       codeobj_class=model.cls)


def _place_lif_group(model: CircuitModel, layer, group, p, drives: DriveTerms, reset_code: str) -> None:
    """What every current-based LIF population (``lif`` kinds, ``burst_lif``) gets once its group
    exists: initial potentials (rest, or uniform in ``[0, V_th)``), its bias as a constant current,
    its drives' values, the reset to rest at the start of each row, and its place in the model."""
    if model.init_v == "uniform":
        group.v = model.rng.uniform(0.0, p.v_threshold, model.copies * layer.size) * volt
    if layer.bias:
        group.I_bias = np.tile(model.params[bias_key(layer.name)], model.copies) * p.v_threshold * volt
    for setter in drives.setters:
        setter(group)
    model.at_row_start(group, reset_code, f"{group.name}_reset")
    model.groups[layer.name] = group


def _build_lif_layer(model: CircuitModel, layer, drives: DriveTerms):
    """A (point or two-compartment) LIF population, :mod:`neurosim.spiking.lif`, plus its drives."""
    kind = lif.model_kind(layer)
    p = model.lif[layer.name]
    eqs = lif.equations(kind, drives={c: drives.current(c) for c in lif.compartments(kind)})
    eqs += brian2.Equations("\n".join(drives.equations)) if drives.equations else brian2.Equations("")
    ns = lif.namespace(p)
    ns.update(drives.namespace)
    ns.update({"ns_gain": model.gain})
    group = brian2.NeuronGroup(model.copies * layer.size, eqs, threshold="v > v_th",
                               reset="\n".join(["v = v_reset"] + drives.reset), refractory="t_ref",
                               method=lif.METHODS[kind], clock=model.clock, namespace=ns,
                               name=f"ns_c_{model.ids[layer.name]}", codeobj_class=model.cls)
    _place_lif_group(model, layer, group, p, drives, lif.reset_code(kind))


for _name in lif.SPIKING_MODELS:
    CircuitBuilder.register(_name)(_build_lif_layer)


#: Neuron models whose synapses open conductances (weights in units of the leak conductance).
CONDUCTANCE_MODELS = ("conductance_lif", "adaptive_conductance_lif")


def _build_conductance_layer(model: CircuitModel, layer, drives: DriveTerms):
    """A conductance LIF population (:class:`~neurosim.neurons.ConductanceLIFParameters`).

    ``"adaptive_conductance_lif"`` adds the adaptive threshold :math:`\\theta` (Diehl & Cook
    2015), a state variable that is never reset between presentations; everything else
    returns to ``v_init`` / zero conductance at the start of each presentation of a stream.
    """
    p = ConductanceLIFParameters.from_layer(layer)
    adaptive = layer.neuron == "adaptive_conductance_lif"
    lines = ["dv/dt = ((E_l - v) + ge * (E_e - v) + gi * (E_i - v)) / tau_m : volt (unless refractory)",
             "dge/dt = -ge / tau_ge : 1", "dgi/dt = -gi / tau_gi : 1"]
    lines.append("dtheta/dt = -theta / tau_theta : volt" if adaptive else "theta : volt")
    lines += drives.equations
    if drives.terms:
        raise ConfigError(f"Layer '{layer.name}': drives into a {layer.neuron} layer are not supported (its inputs "
                          "are conductances); drive a 'lif' layer instead")
    ns = {"tau_m": p.tau_m * second, "E_l": p.e_leak * volt, "E_e": p.e_exc * volt, "E_i": p.e_inh * volt,
          "tau_ge": p.tau_ge * second, "tau_gi": p.tau_gi * second, "v_th": p.v_threshold * volt,
          "v_r": p.v_reset * volt, "t_ref": p.t_ref * second, "theta_plus": p.theta_plus * volt,
          "tau_theta": p.tau_theta * second, "theta_off": (p.theta_offset if adaptive else 0.0) * volt,
          "v_start": p.start * volt}
    reset = ["v = v_r"] + (["theta += theta_plus"] if adaptive else []) + drives.reset
    group = brian2.NeuronGroup(model.copies * layer.size, "\n".join(lines), threshold="v > v_th + theta - theta_off",
                               reset="\n".join(reset), refractory="t_ref", method="euler", clock=model.clock,
                               namespace=ns, name=f"ns_c_{model.ids[layer.name]}", codeobj_class=model.cls)
    group.v = p.start * volt
    for setter in drives.setters:
        setter(group)
    model.at_row_start(group, "v = v_start\nge = 0\ngi = 0\nlastspike = -1e4*second\nnot_refractory = True",
                       f"ns_c_{model.ids[layer.name]}_reset")
    model.groups[layer.name] = group


for _name in CONDUCTANCE_MODELS:
    CircuitBuilder.register(_name)(_build_conductance_layer)


@CircuitBuilder.register("parrot")
def _build_parrot_layer(model: CircuitModel, layer, drives: DriveTerms):
    """A relay population (NEST's ``parrot_neuron``): prescribed post spikes for STDP protocols.

    :math:`v` (dimensionless, no leak) collects ``scale * w`` per incoming spike; the neuron
    spikes when :math:`v > 1/2` and returns to 0.  brian2 checks thresholds before it delivers
    the spikes of the same step, so a weight-1 synapse repeats its source's spikes exactly one
    ``dt`` later.  No drives, no bias (nothing integrates a current).
    """
    if drives.terms or drives.equations or layer.bias:
        raise ConfigError(f"Layer '{layer.name}': a parrot neuron only relays spikes (no drives, no bias); set "
                          "bias = false and drive a 'lif' layer instead")
    gname = f"ns_c_{model.ids[layer.name]}"
    group = brian2.NeuronGroup(model.copies * layer.size, "v : 1", threshold="v > 0.5", reset="v = 0",
                               clock=model.clock, name=gname, codeobj_class=model.cls)
    model.at_row_start(group, "v = 0", gname + "_reset")
    model.groups[layer.name] = group



@CircuitBuilder.register("burst_lif")
def _build_burst_lif(model: CircuitModel, layer, drives: DriveTerms):
    """A population of bursting two-compartment LIF neurons (:mod:`neurosim.spiking.burstprop`), plus its drives.

    brian2: the somatic threshold ``v > v_th`` is the ``spike`` event (an event); its reset
    draws ``burst_pending = rand() < p_burst`` and sets ``t_burst``; the custom event
    ``burst`` fires at ``t_burst`` and clears the pending flag.
    """
    p = model.lif[layer.name]
    bp = BurstParameters.from_layer(layer)
    if bp.burst_delay > p.t_ref:
        raise ConfigError(f"Layer '{layer.name}'.params.burst_delay: {bp.burst_delay!r} s exceeds the refractory "
                          f"period t_ref = {p.t_ref!r} s, so an event could fall inside a burst; use burst_delay <= "
                          "t_ref")
    lines = ["dv/dt = (-v + I_soma + I_bias) / tau_m : volt (unless refractory)",
             "dv_apical/dt = (-v_apical + I_apical) / tau_dend : volt",
             "I_bias : volt",
             "p_burst = 1.0 / (1.0 + exp(-(burst_gain * v_apical / v_th + burst_alpha))) : 1",
             "burst_pending : 1",
             "t_burst : second"]
    for comp in ("soma", "apical"):
        lines.append(f"dI_syn_{comp}/dt = -I_syn_{comp} / tau_syn : volt")
        current = drives.current(comp)
        if current:
            lines += [current, f"I_{comp} = I_syn_{comp} + I_drive_{comp} : volt"]
        else:
            lines.append(f"I_{comp} = I_syn_{comp} : volt")
    lines += drives.equations
    ns = lif.namespace(p)
    ns.update(drives.namespace)
    ns.update({"ns_gain": model.gain, "burst_gain": bp.burst_gain, "burst_alpha": bp.alpha,
               "burst_delay": bp.burst_delay * second})
    reset = ["v = v_reset", "burst_pending = int(rand() < p_burst)", "t_burst = t + burst_delay"] + drives.reset
    gname = f"ns_c_{model.ids[layer.name]}"
    group = brian2.NeuronGroup(model.copies * layer.size, "\n".join(lines), threshold="v > v_th",
                               reset="\n".join(reset), refractory="t_ref", method="exponential_euler",
                               events={"burst": "burst_pending > 0.5 and t >= t_burst - 0.5 * dt"},
                               clock=model.clock, namespace=ns, name=gname, codeobj_class=model.cls)
    group.run_on_event("burst", "burst_pending = 0")
    _place_lif_group(model, layer, group, p, drives,
                     "v = 0*volt\nv_apical = 0*volt\nI_syn_soma = 0*volt\nI_syn_apical = 0*volt\n"
                     "burst_pending = 0\nlastspike = -1e4*second\nnot_refractory = True")
    model.events[layer.name] = ("burst",)


@dataclass
class SynapseModel:
    """A plasticity model of a projection's synapses (registered as ``"synapse:<name>"``).

    ``model`` declares ``w : 1`` (the weight in rate-side units, as in ``params``) and the
    model's traces; ``on_pre`` / ``on_post`` its updates (the synaptic effect is prepended
    to ``on_pre`` by the projection builder); ``row_start`` runs on the synapses at the start
    of every presentation of a stream; ``post_equations`` are added to the post group.
    """

    model: str
    on_pre: str
    on_post: str
    namespace: dict
    row_start: str = ""
    post_equations: list = field(default_factory=list)


@CircuitBuilder.register("synapse:pair_stdp")
def _pair_stdp(model: CircuitModel, proj, options: dict) -> SynapseModel:
    """Additive pair STDP, all-to-all traces (:func:`neurosim.spiking.stdp.pair_synapse_code`)."""
    from .stdp import PairSTDP, pair_synapse_code

    opts = dict(options)
    clip = bool(opts.pop("clip", True))
    code, on_pre, on_post, ns = pair_synapse_code(PairSTDP(**opts), clip=clip)
    return SynapseModel(code, on_pre, on_post, ns)


@CircuitBuilder.register("synapse:triplet_stdp")
def _triplet_stdp(model: CircuitModel, proj, options: dict) -> SynapseModel:
    """Triplet STDP, all-to-all (:func:`neurosim.spiking.stdp.triplet_synapse_code`)."""
    from .stdp import TripletSTDP, triplet_synapse_code

    code, on_pre, on_post, ns = triplet_synapse_code(TripletSTDP(**options))
    return SynapseModel(code, on_pre, on_post, ns)


@CircuitBuilder.register("synapse:diehl_cook")
def _diehl_cook_stdp(model: CircuitModel, proj, options: dict) -> SynapseModel:
    """Diehl & Cook's (2015) pre-trace rule with weight normalisation before every sample.

    At a pre spike :math:`w \\leftarrow \\mathrm{clip}(w - \\nu_{pre} o_1, 0, w_{max})`; at a post
    spike :math:`w \\leftarrow \\mathrm{clip}(w + \\nu_{post} x_{pre} o_2, 0, w_{max})` (traces set
    to 1 at their spikes, the authors' code); at the start of every presentation the
    incoming weights of each post neuron are rescaled to sum to ``weight_sum`` (then clipped to
    ``[0, w_max]``) and the traces cleared.
    """
    wsum = f"wsum_{_identifier(proj.name)}"
    code = f"""w : 1
               {wsum}_post = w : 1 (summed)
               dxpre/dt = -xpre / tau_pre : 1 (event-driven)
               dpost1/dt = -post1 / tau_post1 : 1 (event-driven)
               dpost2/dt = -post2 / tau_post2 : 1 (event-driven)"""
    ns = {"tau_pre": options["tau_pre"] * second, "tau_post1": options["tau_post1"] * second,
          "tau_post2": options["tau_post2"] * second, "nu_pre": options["nu_pre"], "nu_post": options["nu_post"],
          "w_max": options["w_max"], "weight_sum": options["weight_sum"]}
    # the summed variable is 0 before its first update (t = 0): leave w as it is then
    norm = (f"w = clip(w * (1 + int({wsum}_post > 0) * (weight_sum / ({wsum}_post + int({wsum}_post <= 0)) - 1)), "
            "0, w_max)"
            if options.get("normalize", True) else "")
    return SynapseModel(code, "xpre = 1\nw = clip(w - nu_pre * post1, 0, w_max)",
                        "w = clip(w + nu_post * xpre * post2, 0, w_max)\npost1 = 1\npost2 = 1", ns,
                        row_start="\n".join(filter(None, [norm, "xpre = 0", "post1 = 0", "post2 = 0"])),
                        post_equations=[f"{wsum} : 1"])


@CircuitBuilder.register(Projection)
def _build_projection(model: CircuitModel, proj: Projection, k: int):
    """Synapses carrying the effective weight (:func:`neurosim.params.weight`: tie, scale, connectivity).

    ``one_to_one`` is brian2's ``connect(j='i')`` (copy-major indices keep neuron *i* of a
    copy on neuron *i* of the same copy); ``all`` is block-diagonal over the copies.
    """
    post = model.network.layer(proj.post)
    if model.input_encoding == "current" and proj.pre == model.network.input_layer.name:
        return   # an injected current (_input_currents), no synapses
    if post.neuron in SUMMED_MODELS:
        return _build_summed_synapses(model, proj, k)
    if proj.name in model.plasticity or post.neuron in CONDUCTANCE_MODELS or post.neuron == "parrot":
        return _build_weighted_synapses(model, proj, k)
    w = np.asarray(weight(model.network, model.params, proj), dtype=np.float64)   # (n_post, n_pre)
    if proj.connectivity != "one_to_one" and not np.any(w):
        return   # every weight exactly 0: no synapses (brian2 cannot connect an empty index list)
    scale = lif.synaptic_scale(model.lif[proj.post]) * volt
    syn = brian2.Synapses(model.groups[proj.pre], model.groups[proj.post], model="w : volt", clock=model.clock,
                          name=f"ns_c_syn{k}_{_identifier(proj.name)}", codeobj_class=model.cls,
                          **_pathways(model, proj, f"I_syn_{proj.target}_post += w"))
    if proj.connectivity == "one_to_one":
        syn.connect(j="i")
        syn.w = np.tile(np.diag(w), model.copies) * scale
    else:
        i, j, values = model.block(w)
        syn.connect(i=i, j=j)
        syn.w = values * scale
    model.synapses.append(syn)


def _pathways(model: CircuitModel, proj: Projection, code: str) -> dict:
    """``on_pre`` / ``on_event`` of a projection's synapses: which spikes of ``pre`` run ``code``.

    A bursting pre layer (``burst_lif``) emits its somatic spikes (events) as brian2's
    ``spike`` event and the second spike of each burst as the custom event ``burst``;
    ``transmits`` picks events, bursts, or both (every spike, two pathways).
    """
    if model.network.layer(proj.pre).neuron not in BURSTING_MODELS or proj.transmits == "events":
        return {"on_pre": code}
    if proj.transmits == "bursts":
        return {"on_pre": code, "on_event": {"pre": "burst"}}
    return {"on_pre": {"pre": code, "burst_spike": code}, "on_event": {"pre": "spike", "burst_spike": "burst"}}


def _build_weighted_synapses(model: CircuitModel, proj: Projection, k: int):
    """Synapses whose weight ``w`` is the rate-side weight itself: plastic ones, and any onto conductances.

    The effect of a presynaptic spike is ``I_syn_<target> += s w V_th / (r_0 tau_s)`` onto a
    LIF (the mapping of :mod:`neurosim.spiking.lif`) and ``g_e += s w`` (``s > 0``) or
    ``g_i += |s| w`` (``s < 0``) onto a conductance neuron, with the projection's ``scale``
    :math:`s`.  A plastic projection (``plasticity``) connects every pair (a zero weight may
    grow) and carries its plasticity model; ``w`` then reads back as the learned weight.  Onto a
    ``parrot`` relay the effect is ``v += s w``.  A plastic projection with the plasticity option
    ``transmit = False`` is a probe: its synapses learn and deliver nothing (STDP windows).
    """
    post = model.network.layer(proj.post)
    plastic = proj.name in model.plasticity
    if plastic and proj.tied_to is not None:
        raise ConfigError(f"Projection '{proj.name}': a plastic projection needs weights of its own, not tied_to "
                          f"'{proj.tied_to}'")
    raw = np.asarray(model.params[proj.name] if proj.tied_to is None else
                     weight(model.network, model.params, proj) / proj.scale, dtype=np.float64)
    if proj.connectivity == "one_to_one":
        raw = np.diag(np.diag(raw))
    if post.neuron in CONDUCTANCE_MODELS:
        if proj.target != "soma":
            raise ConfigError(f"Projection '{proj.name}'.target: a {post.neuron} neuron has one compartment; use "
                              "target 'soma'")
        if np.any(raw < 0):
            raise ConfigError(f"Projection '{proj.name}': onto a conductance neuron the weights are conductances "
                              "(>= 0); the sign of 'scale' picks excitatory (> 0) or inhibitory (< 0)")
        effect, unit = ("ge" if proj.scale > 0 else "gi"), abs(proj.scale)
    elif post.neuron == "parrot":
        effect, unit = "v", proj.scale
    else:
        effect, unit = f"I_syn_{proj.target}", proj.scale * lif.synaptic_scale(model.lif[proj.post]) * volt
    if not plastic and not np.any(raw):
        return   # no synapse at all (as _build_projection)
    spec = model.plasticity[proj.name][2] if plastic else SynapseModel("w : 1", "", "", {})
    ns = {**spec.namespace, "w_unit": unit}
    transmit = model.transmit.get(proj.name, True)
    on_pre = "\n".join(filter(None, [f"{effect}_post += w * w_unit" if transmit else "", spec.on_pre]))
    name = f"ns_c_syn{k}_{_identifier(proj.name)}"
    syn = brian2.Synapses(model.groups[proj.pre], model.groups[proj.post], model=spec.model,
                          on_post=spec.on_post or None, namespace=ns, clock=model.clock, name=name,
                          codeobj_class=model.cls, **_pathways(model, proj, on_pre))
    mask = raw if not plastic else (np.eye(*raw.shape) if proj.connectivity == "one_to_one"
                                    else np.ones_like(raw))
    i, j, _ = model.block(mask)
    syn.connect(i=i, j=j)
    n_post, n_pre = raw.shape
    copy = i // n_pre
    syn.w = raw[j - copy * n_post, i - copy * n_pre]
    if plastic:
        model.plastic[proj.name] = (syn, j, i)
        model.at_row_start(syn, spec.row_start, name + "_row")
    model.synapses.append(syn)


# ------------------------------------------------------------------ continuously coupled neurons
#: Neuron models whose inputs are continuous: every projection onto them is a ``(summed)``
#: variable of the post group (weight x a presynaptic trace onto a dendrite, weight x the
#: presynaptic potential onto the soma), with the unit of that variable.
SUMMED_MODELS = {"urbanczik_senn": "volt", "poisson_two_compartment": "1"}
#: The somatic potential a one-to-one projection onto the soma reads, per neuron model.
POTENTIALS = {"urbanczik_senn": "U", "poisson_two_compartment": "u"}
#: Unit of an ``urbanczik_senn`` dendritic weight: mV ms (the PSP kernel has unit area, so
#: :math:`\bar V_w = \sum_i w_i r_i` with rates in kHz).
US_WEIGHT_UNIT = 1e-6 * volt * second


def _summed_var(k: int) -> str:
    return f"I_in{k}"


def _psp_trace(model: CircuitModel, proj: Projection):
    """The unit-area double-exponential PSP of the pre layer's spikes (one trace group per pre layer and kernel).

    :math:`\\tau_s \\dot x = -x + \\tau_s S(t)`, :math:`\\tau_L \\dot{\\mathrm{psp}} = x - \\mathrm{psp}`, i.e.
    :math:`\\mathrm{psp} = \\kappa * S` with :math:`\\kappa(t) = (e^{-t/\\tau_L} - e^{-t/\\tau_s})/(\\tau_L - \\tau_s)`
    (Urbanczik & Senn 2014); kept across the rows of a stream.  The feed runs after the other
    synapses of its step (``when = "after_synapses"``), as a spike's own reset would: a plastic synapse's
    ``on_post`` at the same step sees the trace before the coincident presynaptic spike.
    """
    p = UrbanczikSennParameters.from_layer(model.network.layer(proj.post))
    group = _trace_group(model, proj.pre, (proj.pre, p.tau_l, p.tau_s), "psp",
                         "dx/dt = -x / tau_s : Hz\ndpsp/dt = (x - psp) / tau_L : Hz", "exact", "x_post += 1 / tau_s",
                         {"tau_s": p.tau_s * second, "tau_L": p.tau_l * second})
    return group, "psp", US_WEIGHT_UNIT


def _trace_group(model: CircuitModel, pre_name: str, key: tuple, kind: str, equations: str, method: str,
                 on_spike: str, namespace: dict):
    """The trace group of layer ``pre_name`` (one per ``key``, shared by every projection that reads it).

    One neuron per presynaptic neuron, integrating ``equations``; one-to-one synapses run
    ``on_spike`` at each presynaptic spike, after the other synapses of its step
    (``when = "after_synapses"``: as a spike's own reset would, see :func:`_psp_trace`).
    """
    if key not in model.traces:
        pre = model.groups[pre_name]
        name = f"ns_c_{kind}{len(model.traces)}_{model.ids[pre_name]}"
        group = brian2.NeuronGroup(len(pre), equations, method=method, clock=model.clock, namespace=namespace,
                                   name=name, codeobj_class=model.cls)
        feed = brian2.Synapses(pre, group, on_pre=on_spike, clock=model.clock, namespace=namespace,
                               name=name + "_feed", codeobj_class=model.cls)
        feed.connect(j="i")
        feed.pre.when = "after_synapses"
        model.extra += [group, feed]
        model.traces[key] = group
    return model.traces[key]


def _rate_trace(model: CircuitModel, proj: Projection):
    """The presynaptic trace of a ``poisson_two_compartment`` synapse, in rate units.

    :math:`\\tau_\\psi\\dot\\psi = -\\psi + \\tau_\\psi S(t)/r_{max}`, so :math:`\\langle\\psi\\rangle = r/r_{max}`
    (:math:`\\phi(u)` of a Poisson neuron; the input's ``x`` scaled by ``RATE_SCALE_HZ / r_max``);
    :math:`\\tau_\\psi`, :math:`r_{max}` of the post layer; fed after the other synapses of a step
    (:func:`_psp_trace`): without it the coincidences of a pre and a post spike in one step
    (probability :math:`\\propto dt`) add :math:`\\phi_{post}\\phi_{pre}\\,dt/\\tau_\\psi` to the spike-signal
    integral, a teacher-independent bias that swamps the hidden layer's teacher signal.  Euler
    steps, decay :math:`1 - dt/\\tau_\\psi` per step: the discrete-time mean is exactly
    :math:`r/r_{max}` (the exact factor :math:`e^{-dt/\\tau_\\psi}` would make it :math:`1 + dt/2\\tau_\\psi`
    times that, a 0.5 % error at dt = 0.2 ms that the hidden layer's ~0.1 % teacher signal cannot
    afford).
    """
    p = PoissonTwoCompartmentParameters.from_layer(model.network.layer(proj.post))
    group = _trace_group(model, proj.pre, (proj.pre, "rate", p.tau_psi, p.r_max), "psi",
                         "dpsi/dt = -psi / tau_psi : 1", "euler", "psi_post += 1 / (r_max * tau_psi)",
                         {"tau_psi": p.tau_psi * second, "r_max": p.r_max * Hz})
    return group, "psi", 1.0


@CircuitBuilder.register("poisson_two_compartment")
def _build_poisson_two_compartment(model: CircuitModel, layer, drives: DriveTerms):
    """The spiking microcircuit's neuron (:class:`~neurosim.neurons.PoissonTwoCompartmentParameters`).

    ``vB_hat`` (basal input + bias), ``vA`` (apical), soma ``u`` (Euler), Poisson spikes at
    :math:`r_{max}\\phi(u)` (``uniforms``: common random numbers across phase blocks), the
    dendritic prediction :math:`\\tau\\dot V^* = -V^* + g_B\\hat v_B` (Urbanczik & Senn's
    :math:`V^*_w`, filtered like the soma) and the bias plasticity integrated from ``settle``
    on: ``berr_rate`` :math:`= \\int (\\phi(u) - \\phi(V^*))\\,dt`, ``berr_spike``
    :math:`= \\int (S/r_{max} - \\phi(V^*))\\,dt` (seconds).  Drives add to the soma in rate
    units (no threshold scale).
    """
    if layer.activation != "sigmoid":
        raise ConfigError(f"Layer '{layer.name}'.activation is '{layer.activation}'; Poisson rates r_max phi(u) "
                          "need phi in [0, 1]: use 'sigmoid'")
    p = PoissonTwoCompartmentParameters.from_layer(layer)
    if any(c != "soma" for c in drives.terms):
        raise ConfigError(f"Layer '{layer.name}': drives into a poisson_two_compartment neuron reach its soma; use "
                          "target 'soma'")

    def total(names):
        return " + ".join(names) if names else "0"

    soma = drives.terms.get("soma", [])
    eqs = "\n".join([
        f"vB_hat = {total(drives.inputs.get('basal', []))} + b : 1", "b : 1 (constant)",
        f"vA = {total(drives.inputs.get('apical', []))} : 1",
        f"I_soma = {total(drives.inputs.get('soma', []) + soma)} : 1",
        "du/dt = (-u + g_B * vB_hat + g_A * vA + I_soma"
        + (f" - lam_self * {model.gain_expr} / (1 + exp(-vB_hat))" if p.nudging else "") + ") / tau : 1",
        "phi_u = 1 / (1 + exp(-u)) : 1",
        "dV_star/dt = (-V_star + g_B * vB_hat) / tau : 1", "phi_star = 1 / (1 + exp(-V_star)) : 1",
        "count = int(t >= t_count) : 1",
        "dberr_rate/dt = count * (phi_u - phi_star) / T_unit : 1",
        "dberr_spike/dt = -count * phi_star / T_unit : 1",
        "unif : 1 (linked)" if model.phase_blocks else ""] + drives.equations)
    ns = {"g_B": p.g_basal, "g_A": p.g_apical, "lam_self": p.nudging, "tau": p.tau * second, "r_max": p.r_max * Hz,
          "T_unit": second, "t_count": model.settle, "ns_gain": model.gain, **drives.namespace}
    group = brian2.NeuronGroup(model.copies * layer.size, eqs, method="euler", clock=model.clock, namespace=ns,
                               name=f"ns_c_{model.ids[layer.name]}", codeobj_class=model.cls,
                               reset="\n".join(["berr_spike += count / (r_max * T_unit)"] + drives.reset),
                               threshold=f"{model.uniform} < r_max * phi_u * dt")
    model.link_uniforms(group, layer)
    if layer.bias:
        group.b = np.tile(model.params[bias_key(layer.name)], model.copies)
    for setter in drives.setters:
        setter(group)
    model.groups[layer.name] = group


@CircuitBuilder.register("synapse:microcircuit_basal")
def _microcircuit_basal(model: CircuitModel, proj, options: dict) -> SynapseModel:
    """The basal plasticity of a ``poisson_two_compartment`` neuron, integrated (weights fixed in a run).

    ``acc_rate`` :math:`= \\int_T (\\phi(u) - \\phi(V^*))\\,\\psi\\,dt` and ``acc_spike``
    :math:`= \\int_T (S/r_{max} - \\phi(V^*))\\,\\psi\\,dt` from ``settle`` on (seconds): Urbanczik &
    Senn's rule (2014) with the neuron's own spike train or its expectation (Sacramento et al.
    2018); :meth:`CircuitModel.synapse_values` reads them.  No options.
    """
    if model.network.layer(proj.post).neuron != "poisson_two_compartment" or proj.target != "basal":
        raise ConfigError(f"Projection '{proj.name}': the microcircuit_basal synapse model integrates basal "
                          "plasticity; give it a projection onto the 'basal' compartment of a "
                          "poisson_two_compartment layer")
    if options:
        raise ConfigError(f"plasticity['{proj.name}']: the microcircuit_basal synapse model takes no options, got "
                          f"{sorted(options)}")
    return SynapseModel("w : 1\n"
                        "dacc_rate/dt = count_post * (phi_u_post - phi_star_post) * psi_pre / T_unit "
                        ": 1 (clock-driven)\n"
                        "dacc_spike/dt = -count_post * phi_star_post * psi_pre / T_unit : 1 (clock-driven)",
                        "", "acc_spike += count_post * psi_pre / (r_max * T_unit)", {})


def _build_summed_synapses(model: CircuitModel, proj: Projection, k: int):
    """A projection onto a continuously coupled neuron (:data:`SUMMED_MODELS`): ``I_in<k>_post = w u s x_pre``.

    Onto a dendrite ``x`` is the presynaptic trace of the post model (``urbanczik_senn``: the
    PSP, :func:`_psp_trace`; ``u`` = :data:`US_WEIGHT_UNIT`); onto the soma, a ``one_to_one``
    projection carries the presynaptic potential itself (the nudging of Urbanczik & Senn's
    student by its teacher).  ``s`` is the projection's ``scale``; a plastic projection
    (``plasticity``) connects every pair and carries its synapse model.
    """
    net = model.network
    post, pre = net.layer(proj.post), net.layer(proj.pre)
    plastic = proj.name in model.plasticity
    if plastic and proj.tied_to is not None:
        raise ConfigError(f"Projection '{proj.name}': a plastic projection needs weights of its own, not tied_to "
                          f"'{proj.tied_to}'")
    if proj.target == "soma":
        if proj.connectivity != "one_to_one" or pre.neuron != post.neuron:
            raise ConfigError(f"Projection '{proj.name}': onto the soma of a {post.neuron} neuron a projection "
                              f"carries the potential of a {post.neuron} layer one-to-one; use connectivity "
                              f"'one_to_one' from such a layer (got {proj.connectivity!r} from {pre.neuron!r})")
        source, pre_var, unit = model.groups[proj.pre], POTENTIALS[pre.neuron], 1.0
    elif post.neuron == "urbanczik_senn":
        source, pre_var, unit = _psp_trace(model, proj)
    else:
        source, pre_var, unit = _rate_trace(model, proj)
    raw = np.asarray(weight(net, model.params, proj), dtype=np.float64) / proj.scale
    if proj.connectivity == "one_to_one":
        raw = np.diag(np.diag(raw))
    spec = model.plasticity[proj.name][2] if plastic else SynapseModel("w : 1", "", "", {})
    var = _summed_var(k)
    eqs = f"{spec.model}\n{var}_post = w * w_unit * {pre_var}_pre : {SUMMED_MODELS[post.neuron]} (summed)"
    name = f"ns_c_syn{k}_{_identifier(proj.name)}"
    syn = brian2.Synapses(source, model.groups[proj.post], model=eqs, on_pre=spec.on_pre or None,
                          on_post=spec.on_post or None,
                          # the post group's constants: its subexpressions (star_phi...) are read here
                          namespace={**model.groups[proj.post].namespace, **spec.namespace,
                                     "w_unit": proj.scale * unit},
                          method="euler", clock=model.clock, name=name, codeobj_class=model.cls)
    mask = raw if not plastic else (np.eye(*raw.shape) if proj.connectivity == "one_to_one"
                                    else np.ones_like(raw))
    i, j, _ = model.block(mask)
    syn.connect(i=i, j=j)
    copy = i // pre.size
    syn.w = raw[j - copy * post.size, i - copy * pre.size]
    if plastic:
        model.plastic[proj.name] = (syn, j, i)
    model.synapses.append(syn)


@CircuitBuilder.register("urbanczik_senn")
def _build_urbanczik_senn_layer(model: CircuitModel, layer, drives: DriveTerms):
    """Urbanczik & Senn's (2014) neuron (:class:`~neurosim.neurons.UrbanczikSennParameters`).

    The soma ``U`` spikes as a Poisson process of rate :math:`\\phi(U)`; ``V_star`` is the
    dendritic prediction :math:`V^*_w = g_D V_w / (g_D + g_L)` and ``star_phi``, ``star_h``
    are :math:`\\phi(V^*_w)`, :math:`h(V^*_w) = (\\ln\\phi)'(V^*_w)`.  The somatic time constant
    :math:`1/(g_L + g_D + g_{som})` (~0.35 ms) is below a usual ``dt``: exponential Euler
    integrates the somatic equation exactly for a step-constant dendrite.  Its state is kept
    across the rows of a stream (a continuous stream of input patterns).
    """
    if drives.terms:
        raise ConfigError(f"Layer '{layer.name}': drives into an urbanczik_senn layer are not supported; its soma "
                          "is nudged by a one-to-one projection from another urbanczik_senn layer")
    p = UrbanczikSennParameters.from_layer(layer)
    soma, basal = drives.inputs.get("soma", []), drives.inputs.get("basal", [])
    if len(soma) > 1 or (p.g_som > 0 and not soma):
        raise ConfigError(f"Layer '{layer.name}': g_som = {p.g_som!r} needs exactly one one-to-one projection onto "
                          f"its soma (got {len(soma)}); add one, or set g_som = 0 (a neuron without teacher)")

    def phi_h(prefix, arg):
        return (f"{prefix}phi = phi_max / (1 + k_phi * exp(beta * (theta - {arg}))) : Hz\n"
                f"{prefix}h = beta / (1 + exp(-beta * (theta - {arg})) / k_phi) : 1/volt\n")

    eqs = ("dU/dt = -g_L * U + g_D * (V_w - U) + g_E * (E_E - U) + g_I * (E_I - U) : volt\n"
           "g_E = g_som * (U_som - E_I) / (E_E - E_I) : Hz\ng_I = g_som * (E_E - U_som) / (E_E - E_I) : Hz\n"
           f"U_som = {soma[0] if soma else '0 * volt'} : volt\n"
           f"V_w = {' + '.join(basal) if basal else '0 * volt'} : volt\n"
           "V_star = lambda_D * V_w : volt\n" + phi_h("", "U") + phi_h("star_", "V_star")
           + "\n".join(drives.equations))
    ns = {"phi_max": p.phi_max * Hz, "k_phi": p.k, "beta": p.beta / volt, "theta": p.theta * volt,
          "g_L": p.g_l * Hz, "g_D": p.g_d * Hz, "g_som": p.g_som * Hz, "E_E": p.e_exc * volt,
          "E_I": p.e_inh * volt, "lambda_D": p.dendritic_attenuation}
    group = brian2.NeuronGroup(
        model.copies * layer.size, eqs, threshold="rand() < phi * dt", reset="", method="exponential_euler",
        clock=model.clock, namespace=ns, name=f"ns_c_{model.ids[layer.name]}", codeobj_class=model.cls)
    for setter in drives.setters:
        setter(group)
    model.groups[layer.name] = group


@CircuitBuilder.register("synapse:urbanczik_senn")
def _urbanczik_senn_synapse(model: CircuitModel, proj, options: dict) -> SynapseModel:
    """Learning by the dendritic prediction of somatic spiking (Urbanczik & Senn 2014, eq. 3).

    .. math::  \\dot w = \\eta\\,\\big(S(t) - \\phi(V^*_w)\\big)\\, h(V^*_w)\\, \\mathrm{PSP}(t)

    as a clock-driven decay :math:`-\\eta\\phi h\\,\\mathrm{PSP}` and a jump :math:`+\\eta h\\,\\mathrm{PSP}`
    at every spike of the post neuron.  ``options``: ``eta`` in mV² ms² (weights in mV ms,
    :data:`US_WEIGHT_UNIT`).
    """
    if model.network.layer(proj.post).neuron != "urbanczik_senn" or proj.target != "basal":
        raise ConfigError(f"Projection '{proj.name}': the urbanczik_senn synapse model learns dendritic synapses; "
                          "give it a projection onto the 'basal' compartment of an urbanczik_senn layer")
    unknown = set(options) - {"eta"}
    if unknown or "eta" not in options:
        raise ConfigError(f"plasticity['{proj.name}']: the urbanczik_senn synapse model takes options {{'eta'}}, "
                          f"got {sorted(options)}")
    eta = float(check("synapse:urbanczik_senn", "eta", options["eta"], ge=0))
    ns = {"eta_w": eta * 1e-6 * volt * second}     # eta [mV^2 ms^2] / weight unit [mV ms]
    return SynapseModel("dw/dt = -eta_w * star_phi_post * star_h_post * psp_pre : 1 (clock-driven)",
                        "", "w += eta_w * star_h_post * psp_pre", ns)


#: Neuron models an injected input current (``input_encoding = "current"``) can drive: their
#: compartments sum a ``DriveTerms.current``.
CURRENT_DRIVEN = (*lif.SPIKING_MODELS, "burst_lif")


def _input_currents(model: CircuitModel, drives: dict) -> None:
    """``input_encoding = "current"``: the input layer is not simulated; every projection leaving it
    injects its mean current :math:`V_{th} \\sum_j W_{ij} x_j` into its target compartment
    (:mod:`neurosim.spiking.encoding`), one term per (layer, compartment), constant within a
    presentation: a ``TimedArray`` with one row per presentation in a sequential stream, a
    per-copy constant otherwise."""
    inp = model.network.input_layer.name
    summed: dict = {}
    for proj in model.network.projections:
        if proj.pre != inp or proj.kind not in model.kinds:
            continue
        post = model.network.layer(proj.post)
        if post.neuron not in CURRENT_DRIVEN:
            raise ConfigError(f"Projection '{proj.name}': input_encoding 'current' injects currents into "
                              f"{', '.join(CURRENT_DRIVEN)} layers, not into '{post.name}' ({post.neuron}); use "
                              "input_encoding 'poisson'")
        drive = model.x @ np.asarray(weight(model.network, model.params, proj), dtype=np.float64).T
        key = (post.name, proj.target)
        summed[key] = summed.get(key, 0.0) + drive
    for (post, comp), values in sorted(summed.items()):
        name = f"ns_cur_{model.ids[post]}_{comp}"
        out = drives.setdefault(post, DriveTerms())
        if model.sequential:
            out.namespace[name] = brian2.TimedArray(np.tile(values, (model.n_trials, 1)), dt=model.phase,
                                                    name=name)
            term = f"{name}(t, i)"
        else:
            out.equations.append(f"{name} : 1 (constant)")
            tiled = model.tile(values)
            out.setters.append(lambda group, var=name, v=tiled: setattr(group, var, v))
            term = name
        out.terms.setdefault(comp, []).append(term)


@CircuitBuilder.register(Drive)
def _build_drive(model: CircuitModel, drive: Drive, out: DriveTerms):
    """A drive's term ``[g(t)] * scale * source`` in threshold units (module :class:`Drive`)."""
    ident = f"{len(model.drive_ids)}_{_identifier(drive.name)}"   # unique even if names differ by +/-
    model.drive_ids.append(ident)
    gain = f"{model.gain_expr} * " if drive.gated else ""
    if drive.source == "constant":
        term = f"{gain}{drive.scale!r}"
    elif drive.source == "target":
        var = f"y_{ident}"
        out.equations.append(f"{var} : 1")
        size = model.network.layer(drive.post).size
        if model.t is None or model.t.shape[1] != size:
            raise ConfigError(f"Drive '{drive.name}': source 'target' needs targets of width {size}, got "
                              f"{None if model.t is None else model.t.shape[1]}")
        values = model.tile(model.t)
        out.setters.append(lambda group: setattr(group, var, values))
        term = f"{gain}{drive.scale!r} * {var}"
    else:  # "rate": an exponential trace of the layer's own spikes, mean = rate in rate units
        var, tau = f"r_{ident}", f"tau_{ident}"
        out.equations.append(f"d{var}/dt = -{var} / {tau} : 1")
        out.reset.append(f"{var} += 1.0 / ({tau} * r_0)")
        out.namespace.update({tau: drive.tau * second, "r_0": RATE_SCALE_HZ * Hz})
        term = f"{gain}{drive.scale!r} * {var}"
    out.terms.setdefault(drive.target, []).append(term)


def build_circuit(network: Network, params: dict, x, target=None, *, n_trials: int = 1,
                  phases=(("free", 0.0),), dt=0.1 * ms, phase=350 * ms, settle=150 * ms,
                  kinds: tuple = KINDS, init_v: str = "rest", seed: int = 0,
                  codegen_target: str = "auto", presentation: str = "parallel", input_encoding: str = "poisson",
                  plasticity: dict | None = None, record: dict | None = None, record_dt=None,
                  standalone_dir: str | None = None) -> CircuitModel:
    """Lower a circuit description and its params to one ``brian2.Network`` through the registry.

    Parameters
    ----------
    network : Network
        The circuit (layers, projections with tie / scale / connectivity, drives).
    params : dict
        Its weights and biases.
    x : ndarray (batch, n_input)
        Input rates (rate units, >= 0): Poisson sources.
    target : ndarray (batch, n), optional
        Targets read by ``source = "target"`` drives.
    n_trials : int
        Copies of each sample, simulated side by side (``n_trials * batch`` copies).
    phases : sequence of (name, gain)
        The protocol: equal-length phases; ``gated`` drives are multiplied by the gain.
    dt, phase, settle : brian2 time
        Step, phase length, uncounted start of each phase.
    kinds : tuple of str
        Projection kinds built as synapses.
    init_v : {"rest", "uniform"}
        Initial potentials: at rest, or uniform in ``[0, V_th)`` (a draw from ``seed``).
    seed : int
        brian2's random numbers (Poisson spikes) and the initial potentials.
    codegen_target : str
        :func:`~neurosim.spiking.resolve_target`.
    presentation : {"parallel", "sequential"}
        ``parallel``: every copy (``n_trials * batch``) side by side, the protocol once;
        ``sequential``: one copy, the rows (trial-major) one after another, one ``phase``
        each, every state but plastic weights and adaptive thresholds back to rest at the
        start of each (online learning: STDP, Diehl & Cook; ``urbanczik_senn`` neurons and PSP
        traces keep theirs: a continuous stream of input patterns).  Sequential streams take a
        one-phase protocol.  ``parallel_phases``: every phase is a block of copies simulated
        side by side for one ``phase`` of time, the gain a constant of each copy, and every
        Poisson neuron (inputs, ``poisson_two_compartment``) of a copy draws its spikes from
        the same uniform per step as the same neuron of the other blocks (common random
        numbers: the phases differ only where the gain moved a rate across it; the spiking
        microcircuit's nudged and free copies).
    input_encoding : {"poisson", "spike_times", "current"}
        Poisson rates ``x * 100 Hz``; one spike per input unit at ``x[b, i]`` seconds into
        its presentation (NaN: none); or no input neurons at all: each projection leaving the
        input layer injects its mean current :math:`V_{th} W x` into its target compartment
        (:mod:`neurosim.spiking.encoding`; LIF-type post layers).
    plasticity : dict, optional
        ``{projection name: (synapse model, options)}``: projections whose synapses learn,
        with a registered ``"synapse:<model>"`` (``pair_stdp``, ``triplet_stdp``,
        ``diehl_cook``, ``urbanczik_senn``); :meth:`CircuitModel.weights` reads them back.  The option
        ``"transmit": False`` (any model) makes probe synapses that learn and deliver nothing.
    record : dict, optional
        ``{layer or plastic projection: variables}`` recorded every ``record_dt`` (default ``dt``);
        :meth:`CircuitModel.recorded` reads them back.
    record_dt : brian2 time, optional
    standalone_dir : str, optional
        ``codegen_target = "cpp_standalone"``: the C++ project's folder (default a new temporary
        one).  The objects are created, compiled and run inside :meth:`CircuitModel.run` (once);
        afterwards the model keeps the spikes and recorded variables, not its state.
    """
    if not isinstance(network, Network):
        raise ConfigError(f"build_circuit: network expected a neurosim Network, got {type(network).__name__}")
    check_params(network, params)
    dt, phase = _check_time("dt", dt), _check_time("phase", phase)
    settle = _check_time("settle", settle, minimum_exclusive=-1e-300)
    if not settle < phase:
        raise ConfigError(f"build_circuit: settle ({settle}) must be shorter than phase ({phase}); the spikes "
                          "are counted in the rest of each phase")
    _check_whole_steps("build_circuit", "phase", phase, dt)
    if init_v not in ("rest", "uniform"):
        raise ConfigError(f"build_circuit: init_v expected 'rest' or 'uniform', got {init_v!r}")
    if presentation not in ("parallel", "sequential", "parallel_phases"):
        raise ConfigError(f"build_circuit: presentation expected 'parallel', 'sequential' or 'parallel_phases', got "
                          f"{presentation!r}")
    if presentation == "parallel_phases" and input_encoding != "poisson":
        raise ConfigError("build_circuit: presentation 'parallel_phases' draws Poisson inputs from shared uniforms; "
                          "use input_encoding='poisson'")
    if presentation == "sequential" and len(tuple(phases)) != 1:
        raise ConfigError(f"build_circuit: a sequential stream presents each row in one phase; got {len(phases)} "
                          "phases (use presentation='parallel' for a multi-phase protocol)")
    if input_encoding not in ("poisson", "spike_times", "current"):
        raise ConfigError(f"build_circuit: input_encoding expected 'poisson', 'spike_times' or 'current', got "
                          f"{input_encoding!r}")
    for name in plasticity or {}:
        network.projection(name)   # an unknown name fails here, with the names it could be
    x = np.asarray(x, dtype=np.float64)
    if input_encoding == "spike_times":
        finite = x[np.isfinite(x)]
        if np.any(finite < 0) or np.any(finite >= float(phase / second)):
            raise ConfigError(f"build_circuit: spike times must lie in [0, phase = {phase}) seconds (NaN for no "
                              f"spike), got {finite.min():g} .. {finite.max():g}")
    t = None if target is None else np.asarray(target, dtype=np.float64)
    if record_dt is not None:
        record_dt = _check_time("record_dt", record_dt)
    return CircuitModel(network, params, x=x, target=t, n_trials=n_trials, phases=phases, dt=dt, phase=phase,
                        settle=settle, kinds=tuple(kinds), init_v=init_v, seed=seed,
                        codegen_target=codegen.resolve_target(codegen_target), presentation=presentation,
                        input_encoding=input_encoding, plasticity=plasticity, record=record, record_dt=record_dt,
                        standalone_dir=standalone_dir)

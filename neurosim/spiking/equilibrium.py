"""Spiking equilibrium propagation: a recurrent LIF network in brian2, free and nudged phases.

The network is the layered energy of :mod:`neurosim.energy` built from leaky
integrate-and-fire neurons (in the spirit of O'Connor, Gavves & Welling 2019 and EqSpike,
Martin et al. 2021): every coupling :math:`W_l` between layers :math:`l-1 \\to l` is a
``Synapses`` object carrying the feed-forward weights and, for couplings between two
energy layers, a second one carrying the *same* weights backwards (:math:`W_l^\\top`,
the ``tied_to`` feedback projection).  With the synaptic scaling of
:mod:`neurosim.spiking.lif` the mean drive of a unit, in threshold units, is

.. math::  u_l = W_l \\rho_{l-1} + W_{l+1}^\\top \\rho_{l+1} + b_l
           + \\beta(t)\\,[l = L]\\,(t_{\\text{target}} - \\hat\\rho_L),

and a LIF neuron under a steady drive :math:`u` fires at :math:`\\phi(u) = r(u)/r_0`
(:func:`neurosim.neurons.lif_rate`, :math:`r_0` = 100 Hz).  The quasi-steady state of the
spiking network is therefore the fixed point :math:`s = \\phi(a(s) - \\beta\\,\\partial C/\\partial s)`
of the *rate-equivalent* energy network (activation ``"lif"``, :func:`rate_equivalent`),
with :math:`C = \\tfrac12\\lVert s_L - t\\rVert^2`.  The neuron is the LIF of the rest of the
backend, not a clipped-linear one: spiking EP is compared with rate EP and with the implicit
gradient **of the ``"lif"`` network**, not of the hard-sigmoid one.

Protocol (one simulation presents every sample ``n_trials`` times, all copies in parallel):
the input layer is a population of Poisson sources at rates :math:`x\\, r_0`; membrane
potentials start uniformly in :math:`[0, V_{th})` (a seeded draw); three phases of length
``phase`` follow, :math:`\\beta(t) = 0, +\\beta, -\\beta`.  In the nudged phases the output
receives the current :math:`\\beta\\,(t_{\\text{target}} - \\hat\\rho_L) V_{th}`, where
:math:`\\hat\\rho_L` is an exponential trace of the output's own spikes
(:math:`\\tau_{tr}\\,d\\hat\\rho/dt = -\\hat\\rho`, jump :math:`1/(\\tau_{tr} r_0)` per spike), so the nudge
is local and its mean is exactly :math:`-\\beta\\,\\partial C/\\partial s_L`.  After ``settle`` of each
phase the spikes are counted: :math:`\\hat\\rho^\\phi_l = n_l/(T_{win} r_0)`.  The weight change is
the contrastive Hebbian product of those spike-count rates, formed per trial (what a synapse
sees) and averaged over trials and batch:

.. math::  \\Delta W_l = \\frac{1}{2\\beta}\\Big\\langle \\hat\\rho^{+\\beta}_l \\hat\\rho^{+\\beta\\top}_{l-1}
           - \\hat\\rho^{-\\beta}_l \\hat\\rho^{-\\beta\\top}_{l-1}\\Big\\rangle \\quad\\text{(symmetric)}, \\qquad
           \\Delta W_l = \\frac{1}{\\beta}\\Big\\langle \\hat\\rho^{\\beta}_l \\hat\\rho^{\\beta\\top}_{l-1}
           - \\hat\\rho^{0}_l \\hat\\rho^{0\\top}_{l-1}\\Big\\rangle \\quad\\text{(one-sided)},

:math:`\\Delta b_l = \\langle\\hat\\rho^{+}_l - \\hat\\rho^{-}_l\\rangle/2\\beta` (resp. :math:`/\\beta`),
with :math:`\\hat\\rho_0 = x` (the clamped stimulus; Scellier & Bengio 2017; Laborieux et al.
2021).  Count noise in the difference scales like :math:`1/(\\beta\\sqrt{n_{trials} T_{win}})`, the
nonlinearity bias like :math:`\\beta^2` (symmetric) -- hence a larger :math:`\\beta` than in rate EP.

All copies of the network (``n_trials x batch``) are simulated side by side as one
``NeuronGroup`` per layer with block-diagonal synapses, so a batch is one ``brian2.Network.run``
and the group sizes do not enter the generated code (no recompilation across batch sizes).

References
----------
Scellier & Bengio (2017), Front. Comput. Neurosci. 11:24.  Laborieux et al. (2021), Front.
Neurosci. 15:633674.  O'Connor, Gavves & Welling (2019), "Training a spiking neural network with
equilibrium propagation", AISTATS, PMLR 89.  Martin, Ernoult, Laydevant, Li, Querlioz, Petrisor &
Grollier (2021), "EqSpike: spike-driven equilibrium propagation for neuromorphic
implementations", iScience 24:102222.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import second

from ..alignment import AlignmentReport
from ..energy import layered_energy
from ..errors import ConfigError
from ..circuits import ep_circuit
from ..network import Network
from ..oracles import get_oracle
from ..params import bias_key, check_params
from ..reference import check_batch
from ..rules import get_rule
from . import codegen, lif
from .builder import build_circuit
from .plasticity import SpikingRule, register_spiking

#: Phases of one presentation, in simulation order, and the sign of beta in each.
PHASES = (("free", 0.0), ("plus", 1.0), ("minus", -1.0))
NUDGING = ("symmetric", "one-sided")


def default_network(sizes, *, init_scale: float = 0.5, bias_init: float = 2.0, name: str = "ep-lif") -> Network:
    """A layered LIF energy network with tied feedback, every unit firing well above threshold.

    ``bias_init = 2`` puts each mean drive at twice threshold (about 63 Hz) and
    ``init_scale = 0.5`` (x Xavier) keeps the weighted input from pushing a unit to the
    threshold, where the LIF f-I slope diverges and a nudge of :math:`\\beta \\sim 0.5`
    would cross the kink (measured: on 6-8-3, seed 1, rate EP keeps cosine > 0.9999
    with the implicit gradient up to :math:`\\beta = 0.9`; at ``init_scale = 1`` a unit sits
    at threshold and the cosine drops to 0.87 at :math:`\\beta = 0.2`).
    """
    net = Network.feedforward(list(sizes), activation="lif", output_activation="lif", loss="mse",
                              bias_init=bias_init, init_scale=init_scale, name=name)
    return get_rule("ep").network(net)


@dataclass
class EPActivity:
    """Spike-count rates of one spiking-EP simulation, units stripped.

    Attributes
    ----------
    rho : dict of str to dict of str to ndarray, shape (n_trials, batch, n_l)
        ``rho[phase][layer]``: rate-side rates (spike count / (window * 100 Hz)) of each
        energy layer in the counting window of phase ``"free"``, ``"plus"``, ``"minus"``.
    x : ndarray (batch, n_input)
        The stimulus (the clamped input, :math:`\\hat\\rho_0`).
    target : ndarray (batch, n_output)
    beta : float
    window : float
        Counting window per phase, seconds.
    spikes : dict of str to (ndarray, ndarray)
        Per layer: (copy-major neuron index, spike time in s) of every spike, for rasters.
    timings : dict
        ``target``, ``build_s``, ``compile_s`` (code generation), ``simulate_s`` (the loop),
        ``biological_s``, ``n_copies``.
    """

    rho: dict
    x: np.ndarray
    target: np.ndarray
    beta: float
    window: float
    spikes: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return next(iter(self.rho["free"].values())).shape[0]


def contrastive_spiking_update(network: Network, activity: EPActivity, *, nudging: str = "symmetric",
                               trials=None) -> dict:
    """The contrastive update (module docstring) from spike-count rates, mean over trials and batch.

    Parameters
    ----------
    network : Network
        The (prepared) energy network; keys of the result are its parameter names.
    activity : EPActivity
    nudging : {"symmetric", "one-sided"}
        ``symmetric`` contrasts the :math:`\\pm\\beta` phases (scale :math:`1/2\\beta`),
        ``one-sided`` the :math:`+\\beta` phase with the free one (scale :math:`1/\\beta`).
    trials : slice or index array, optional
        Which trials to average (default all): cosine-vs-trials curves come from one run.

    Returns
    -------
    dict of str to ndarray
        ``dW`` per coupling, shape (n_l, n_{l-1}), and per bias, shape (n_l,).
    """
    if nudging not in NUDGING:
        raise ConfigError(f"contrastive_spiking_update nudging: expected one of {', '.join(NUDGING)}, "
                          f"got {nudging!r}")
    le = layered_energy(network)
    sel = slice(None) if trials is None else trials
    a_phase, b_phase, scale = (("plus", "minus", 1.0 / (2.0 * activity.beta)) if nudging == "symmetric"
                               else ("plus", "free", 1.0 / activity.beta))
    a = {k: v[sel] for k, v in activity.rho[a_phase].items()}
    b = {k: v[sel] for k, v in activity.rho[b_phase].items()}
    rows = next(iter(a.values())).shape[0] * activity.x.shape[0]
    dw = {}
    for l, (proj, layer) in enumerate(zip(le.couplings, le.layers)):
        al, bl = a[layer.name], b[layer.name]
        if l == 0:
            # the clamped input is the same stimulus in every phase
            dw[proj.name] = scale * np.einsum("rbi,bj->ij", al - bl, activity.x) / rows
        else:
            below = le.layers[l - 1].name
            dw[proj.name] = scale * (np.einsum("rbi,rbj->ij", al, a[below])
                                     - np.einsum("rbi,rbj->ij", bl, b[below])) / rows
        if layer.bias:
            dw[bias_key(layer.name)] = scale * (al - bl).sum(axis=(0, 1)) / rows
    return dw


@register_spiking
class SpikingEquilibriumPropagation(SpikingRule):
    """Spiking EP (module docstring) for the rate rule ``ep``.

    Spiking settings are keyword arguments, not the rate rule's hyper-parameters: the
    rate rule's ``beta`` (1e-3, for float64 theory checks) would drown in count noise.

    Parameters
    ----------
    rate_rule : Rule
        The rate ``ep`` rule (its ``network``; its ``nudging`` picks the spiking contrast
        when it is ``symmetric`` or ``one-sided``; ``random-sign`` is read as one-sided).
    beta : float > 0
        Nudging strength of the spiking phases (default 0.5; see the README for the
        bias/variance trade-off).
    dt : brian2 time
        Integration step (0.1 ms).
    phase : brian2 time
        Length of each of the three phases (350 ms).
    settle : brian2 time
        Start of each phase left out of the count (150 ms: the LIF loop relaxes within a
        few tens of ms, the nudge trace with ``tau_trace``; the trace starts each nudged
        phase at the previous phase's rate, which is only :math:`O(\beta)` off, so its
        residual error in the nudge is :math:`O(\beta^2)e^{-settle/\tau_{tr}}`).
    tau_trace : brian2 time
        Time constant of the output's rate trace that drives the nudge (100 ms).  Each
        output spike kicks its own nudge by :math:`-\beta/(\tau_{tr} r_0)` early in the next
        interspike interval, where a LIF neuron forgets input fastest; the kick's mean is
        counted in the nudge but its effect on the rate is smaller, which biases both
        nudged rates towards *more* :math:`+\beta` and less :math:`-\beta` response.  The bias
        shrinks like :math:`1/\tau_{tr}` (measured on 6-8-3, beta = 0.5, 40 trials: spiking
        vs rate nudged output difference, least-squares ratio 0.86 at 20 ms, 0.97 at 100 ms;
        global cosine with the implicit gradient 0.970 vs 0.993).
    codegen_target : str
        brian2 code generation (:func:`~neurosim.spiking.resolve_target`).
    """

    rate_rules = ("ep",)
    build_kinds = ("feedforward", "feedback")

    def __init__(self, rate_rule, *, beta: float = 0.5, dt=0.1 * brian2.ms, phase=350 * brian2.ms,
                 settle=150 * brian2.ms, tau_trace=100 * brian2.ms, codegen_target: str = "auto"):
        super().__init__(rate_rule)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ConfigError(f"spiking ep: beta expected a number > 0 (the nudging strength, e.g. 0.5), "
                              f"got {beta!r}")
        for name, value in (("dt", dt), ("phase", phase), ("settle", settle), ("tau_trace", tau_trace)):
            if not isinstance(value, brian2.Quantity) or not brian2.have_same_dimensions(value, second) \
                    or not float(value / second) > 0:
                raise ConfigError(f"spiking ep: {name} expected a positive brian2 time such as 100*brian2.ms, "
                                  f"got {value!r}")
        if not settle < phase:
            raise ConfigError(f"spiking ep: settle ({settle}) must be shorter than phase ({phase}); the spikes "
                              "are counted in the rest of each phase")
        self.beta = float(beta)
        self.dt, self.phase, self.settle, self.tau_trace = dt, phase, settle, tau_trace
        self.codegen_target = codegen.resolve_target(codegen_target)
        nudging = rate_rule.hyper["nudging"]
        self.nudging = "symmetric" if nudging == "symmetric" else "one-sided"

    @property
    def window(self) -> float:
        """Counting window per phase, seconds."""
        return float((self.phase - self.settle) / second)

    # ------------------------------------------------------------------ simulation
    def simulate(self, network: Network, params: dict, x, target, *, n_trials: int = 20,
                 seed: int = 0) -> EPActivity:
        """Run the three phases for every sample and trial; return the spike-count rates.

        Parameters
        ----------
        network : Network
            A layered energy network (``loss = "mse"``, tied feedback; :func:`default_network`).
        params : dict
            Its parameters (``init_params(network, seed)``).
        x : ndarray (batch, n_input)
            Input rates in units of 100 Hz, >= 0.
        target : ndarray (batch, n_output)
            Output targets in the same rate units.
        n_trials : int
            Independent copies of each sample (Poisson inputs and initial potentials differ).
        seed : int
            Seeds brian2's Poisson draws and the initial potentials.
        """
        le = layered_energy(network)
        if network.loss != "mse":
            raise ConfigError(f"Network '{network.name}'.loss: spiking ep nudges the output layer with "
                              f"beta (target - rate), the squared-error cost; expected 'mse', got "
                              f"{network.loss!r}")
        check_params(network, params)
        x, t = check_batch(network, x, target, dtype=np.float64)
        if np.any(x < 0):
            raise ConfigError(f"spiking ep x: Poisson inputs need rates >= 0, got a minimum of {x.min():.4g}; "
                              "rescale the inputs to [0, 1]")
        if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
            raise ConfigError(f"spiking ep n_trials: expected a positive integer, got {n_trials!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"spiking ep seed: expected a non-negative integer, got {seed!r}")
        model = build_circuit(ep_circuit(network, tau_trace=float(self.tau_trace / second)), params, x, t,
                              n_trials=int(n_trials), phases=tuple((name, sign * self.beta) for name, sign in PHASES),
                              dt=self.dt, phase=self.phase, settle=self.settle, kinds=("feedforward", "feedback"),
                              init_v="uniform", seed=int(seed), codegen_target=self.codegen_target)
        run = model.run()
        rho = {name: {layer.name: run.rho[name][layer.name] for layer in le.layers} for name, _ in PHASES}
        spikes = {layer.name: run.spikes[layer.name] for layer in le.layers}
        timings = dict(run.timings)
        return EPActivity(rho=rho, x=x, target=t, beta=self.beta, window=self.window, spikes=spikes,
                          timings=timings)

    def updates(self, network: Network, params: dict, activity: EPActivity, target=None) -> dict:
        """``dW`` from one simulation's spike counts (:func:`contrastive_spiking_update`)."""
        if not isinstance(activity, EPActivity):
            raise ConfigError(f"spiking ep updates: expected the EPActivity of simulate(), got "
                              f"{type(activity).__name__}; the feed-forward build() has no phases")
        return contrastive_spiking_update(network, activity, nudging=self.nudging)

    def default_network(self, sizes, loss: str | None = None) -> Network:
        """The network ``neurosim align --rule ep --backend spiking`` builds: :func:`default_network`
        (a squared-error energy net; ``loss`` other than ``"mse"`` is refused by the rule)."""
        return default_network(sizes)

    # ------------------------------------------------------------------ alignment
    @classmethod
    def spiking_align(cls, network: Network, params: dict, x, target, **options) -> AlignmentReport:
        """Hook for :func:`neurosim.spiking.spiking_align` (the feed-forward ``build`` has no phases)."""
        return spiking_ep_align(network, params, x, target, **options)

    def align(self, network: Network, params: dict, x, target, *, n_trials: int = 20, seed: int = 0,
              activity: EPActivity | None = None) -> AlignmentReport:
        """Trial-averaged spiking ``dW`` vs the implicit gradient and vs rate EP, same LIF network.

        Both references are computed on :func:`rate_equivalent` ``(network)`` (activation
        ``"lif"``) at the same weights and inputs: the implicit gradient
        :math:`-dL/dW` at the free fixed point (:func:`neurosim.energy.implicit_gradient`) and
        the rate ``ep`` update with the *same* :math:`\\beta` and nudging.

        Returns
        -------
        AlignmentReport
            ``backend = "spiking"``, ``reference = "implicit"``; ``extra`` holds
            ``rate_rule_cosine`` and ``rate_rule_projections`` (vs rate EP), ``beta``,
            ``nudging``, ``n_trials``, ``seed``, ``free_rate_error`` (max ``|spiking free rate -
            rate fixed point|`` over units, trial-averaged) and ``timings``.
        """
        equivalent = lif.rate_equivalent(network)
        x, t = check_batch(network, x, target, dtype=np.float64)
        if activity is None:
            activity = self.simulate(network, params, x, t, n_trials=n_trials, seed=seed)
        refs = rate_references(equivalent, params, x, t, beta=self.beta, nudging=self.nudging)
        dw = contrastive_spiking_update(network, activity, nudging=self.nudging)
        names = [k for k in refs["implicit"] if not k.endswith(".bias")]
        vs_rate = AlignmentReport.compare(dw, refs["rate_ep"], names=names)
        free_err = max(float(np.max(np.abs(activity.rho["free"][k].mean(axis=0) - v)))
                       for k, v in refs["free_state"].items())
        extra = {"rate_rule_cosine": _json(vs_rate.global_cosine),
                 "rate_rule_projections": [{"name": r.name, "cosine": _json(r.cosine),
                                            "norm_ratio": _json(r.norm_ratio)} for r in vs_rate.projections],
                 "rate_equivalent_activation": "lif", "beta": self.beta, "nudging": self.nudging,
                 "n_trials": int(activity.n_trials), "seed": int(seed), "free_rate_error": free_err,
                 "timings": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in activity.timings.items()}}
        return AlignmentReport.compare(dw, refs["implicit"], names=names, rule="ep", backend="spiking",
                                       reference_name="implicit", extra=extra)



def rate_references(equivalent: Network, params: dict, x, target, *, beta: float,
                    nudging: str = "symmetric") -> dict:
    """The rate side of the comparison on the rate-equivalent (``"lif"``) network, float64.

    Returns
    -------
    dict
        ``implicit``: :math:`-dL/d\\theta` at the free fixed point; ``rate_ep``: the rate ``ep``
        update at the same :math:`\\beta` and nudging; ``free_state`` / ``plus_state`` /
        ``minus_state``: the fixed points (layer -> (batch, n_l)) at :math:`0, \\pm\\beta`.
    """
    from ..energy import relax

    rule = get_rule("ep", beta=beta, nudging=nudging, tolerance=1e-10, max_steps=10000,
                    nudged_max_steps=10000, step_size=0.5)
    out = {"implicit": get_oracle(rule.info.reference)(rule, equivalent, params, x, target),
           "rate_ep": rule.step(equivalent, params, x, target)}
    free = relax(equivalent, params, x, tolerance=1e-10, max_steps=10000, step_size=0.5)
    out["free_state"] = free.state
    for name, sign in (("plus", 1.0), ("minus", -1.0)):
        out[f"{name}_state"] = relax(equivalent, params, x, target, beta=sign * beta, state=free.state,
                                     tolerance=1e-10, max_steps=10000, step_size=0.5).state
    return out


def spiking_ep_align(network: Network, params: dict, x, target, *, n_trials: int = 20, seed: int = 0,
                     rule_hyper: dict | None = None, codegen_target: str = "auto",
                     **spiking_options) -> AlignmentReport:
    """``neurosim align --rule ep --backend spiking``: :meth:`SpikingEquilibriumPropagation.align`.

    ``rule_hyper`` are the rate rule's hyper-parameters (``nudging``; a ``beta`` given there,
    e.g. ``--set beta=0.5``, becomes the spiking beta unless ``beta=`` is in
    ``spiking_options``, with ``dt``, ``phase``, ``settle``, ``tau_trace``).
    """
    hyper = dict(rule_hyper or {})
    if "beta" in hyper and "beta" not in spiking_options:
        spiking_options["beta"] = hyper["beta"]
    srule = SpikingEquilibriumPropagation(get_rule("ep", **hyper), codegen_target=codegen_target,
                                          **spiking_options)
    return srule.align(srule.rate_rule.network(network), params, x, target, n_trials=n_trials, seed=seed)


def _json(value):
    return None if value is None or not math.isfinite(value) else float(value)

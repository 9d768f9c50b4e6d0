"""Spiking plasticity: rules that turn one presentation's spikes into ``dW``.

A :class:`SpikingRule` reads the :class:`~neurosim.spiking.builder.SpikingActivity` of a
presentation (spike counts of every layer, per trial and sample) and returns ``dW`` per
projection -- the same dict, sign convention and batch mean as a rate rule.  Spiking rules
are registered by the *rate* rule's name (:data:`SPIKING_RULES`), so
``spiking_align("fa", ...)`` finds the spiking version of ``fa``; a family adds its own
with one ``@register_spiking`` class.  Like a rate rule, a spiking rule keeps nothing between
calls: ``updates(network, params, state, activity, target) -> (dW, state, aux)`` with the
rate rule's state (:meth:`SpikingRule.init`).  :func:`spiking_align` hands over to the rule's
:meth:`SpikingRule.spiking_align`, whose default runs the feed-forward build below.

The rules here are *rate read-out* rules (backprop and feedback alignment with a spiking
forward pass): every layer's rate is read out from its spike count,
:math:`\\hat\\rho_l = n_l / (T r_0)`, its mean somatic drive is the synaptic current those
rates deliver, :math:`\\hat u_l = W_l \\hat\\rho_{l-1} + b_l` (exact for the time-averaged
current of exponential synapses, :mod:`neurosim.spiking.lif`), and the error is carried
back as in the rate rule with the ``"lif"`` transfer's derivative:

.. math::
    \\delta_L = \\frac{\\partial L}{\\partial \\rho_L}(\\hat\\rho_L, t) \\odot \\phi'(\\hat u_L), \\qquad
    \\delta_l = (B_{l+1}\\,\\delta_{l+1}) \\odot \\phi'(\\hat u_l), \\qquad
    \\Delta W_l = -\\langle \\delta_l\\, \\hat\\rho_{l-1}^\\top \\rangle_{\\text{trials, batch}},

with :math:`B = W^\\top` (backprop) or the fixed random feedback of FA / DFA (Lillicrap et
al. 2016; Nøkland 2016).  Averaged over trials it converges to the rate rule on the rate
equivalent network (:func:`~neurosim.spiking.lif.rate_equivalent`) as spike-count noise
averages out and the synaptic shot noise shrinks.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..alignment import AlignmentReport
from ..errors import ConfigError, unknown_name
from ..network import Network
from ..neurons import RATE_SCALE_HZ, LIFParameters, get_activation, lif_rate, soft_lif_rate
from ..oracles import get_oracle
from ..params import bias_key, check_params, weight
from ..reference import ForwardPass, check_batch, output_delta
from ..rules import get_rule
from ..rules.base import Rule
from .builder import SpikingActivity, build
from .lif import RATE_MODELS, rate_equivalent

#: Spiking rule classes by the name of the rate rule they implement.
SPIKING_RULES: dict[str, type[SpikingRule]] = {}


def register_spiking(cls: type[SpikingRule]) -> type[SpikingRule]:
    """Class decorator: register a spiking rule under every name in ``cls.rate_rules``."""
    for name in cls.rate_rules:
        if name in SPIKING_RULES:
            raise TypeError(f"spiking rule for '{name}' is registered twice")
        SPIKING_RULES[name] = cls
    return cls


def get_spiking_rule(name: str, **hyper) -> SpikingRule:
    """The spiking rule implementing rate rule ``name`` (aliases resolved), with the rate rule's hyper-parameters."""
    rate_rule = get_rule(name, **hyper)
    if rate_rule.name not in SPIKING_RULES:
        raise unknown_name(f"rule with a spiking implementation (rule '{name}' has none)", name, SPIKING_RULES)
    return SPIKING_RULES[rate_rule.name](rate_rule)


def _json(x: float):
    return None if x is None or not math.isfinite(x) else float(x)


def readout_pass(network: Network, params: dict, activity: SpikingActivity) -> ForwardPass:
    """Per-presentation rates and drives as a :class:`ForwardPass` over trials x batch rows.

    ``r[layer]`` is the read-out rate :math:`\\hat\\rho = n / (T r_0)` (input: the measured
    Poisson rates, or ``x`` itself for current injection); ``u[layer] = W r[pre] + b`` is the
    mean synaptic drive those rates deliver (threshold units, :mod:`neurosim.spiking.lif`).
    Rows are trial-major: row ``k * batch + n`` is trial ``k`` of sample ``n``.
    """
    order = network.feedforward_order()
    n_trials = activity.n_trials
    inp = network.input_layer.name
    r = {}
    if inp in activity.counts:
        r[inp] = activity.rho[inp].reshape(-1, network.input_layer.size)
    else:
        r[inp] = np.tile(activity.inputs, (n_trials, 1))
    u = {}
    for layer in order[1:]:
        drive = 0.0
        for proj in network.select("feedforward", post=layer.name):
            drive = drive + r[proj.pre] @ weight(network, params, proj).T
        if layer.bias:
            drive = drive + params[bias_key(layer.name)]
        u[layer.name] = drive
        r[layer.name] = activity.rho[layer.name].reshape(-1, layer.size)
    return ForwardPass(u=u, r=r, order=tuple(layer.name for layer in order))


@dataclass(frozen=True)
class SoftLIFFit:
    """A least-squares fit of the soft-LIF smoothing width to measured rates.

    Attributes
    ----------
    sigma : float
        The fitted width (threshold units).
    rmse : float
        Root mean square of measured minus soft-LIF rates at ``sigma`` (rate units, 1 = 100 Hz).
    rmse_lif : float
        The same for the hard ``"lif"`` f-I curve.
    n_points : int
        (drive, rate) pairs fitted.
    """

    sigma: float
    rmse: float
    rmse_lif: float
    n_points: int


def mean_drive_and_rate(network: Network, params: dict, activity: SpikingActivity) -> tuple[np.ndarray, np.ndarray]:
    """Trial-averaged mean drive and rate of every simulated unit and sample, flattened.

    The drive is :math:`\\bar u = W \\bar\\rho_{pre} + b` with the trial-mean read-out rates
    of the presynaptic layer (:func:`readout_pass`; the mean of the synaptic current is linear
    in them), the rate the trial mean :math:`\\bar\\rho` of the unit's count: pairs that sample
    the f-I curve the neurons follow under the network's own input noise.

    Returns
    -------
    u, rho : ndarray of shape (n_points,)
        Over every non-input layer, sample and unit.
    """
    fp = readout_pass(network, params, activity)
    n = activity.n_trials
    us, rs = [], []
    for name in fp.order[1:]:
        us.append(fp.u[name].reshape(n, -1, fp.u[name].shape[-1]).mean(axis=0).ravel())
        rs.append(fp.r[name].reshape(n, -1, fp.r[name].shape[-1]).mean(axis=0).ravel())
    return np.concatenate(us), np.concatenate(rs)


def fit_soft_lif_sigma(u, rho, *, bounds: tuple[float, float] = (1e-3, 1.0)) -> SoftLIFFit:
    """Fit the smoothing width of the soft LIF to measured (drive, rate) pairs by least squares.

    .. math::  \\hat\\sigma = \\arg\\min_\\sigma \\sum_k \\big(\\rho_k - r_\\sigma(u_k)/r_0\\big)^2

    with :math:`r_\\sigma` :func:`~neurosim.neurons.soft_lif_rate` (default LIF parameters) and
    :math:`r_0` = 100 Hz: a log-spaced grid of 241 widths over ``bounds``, then golden-section
    search between the best grid point's neighbours (the error is smooth in :math:`\\ln\\sigma`).

    Parameters
    ----------
    u, rho : array_like of shape (n_points,)
        Mean drives (threshold units) and mean rates (rate units), e.g. from
        :func:`mean_drive_and_rate`.
    bounds : (float, float)
        Range of widths searched (threshold units).

    Returns
    -------
    SoftLIFFit
    """
    u = np.asarray(u, dtype=np.float64).ravel()
    rho = np.asarray(rho, dtype=np.float64).ravel()
    if u.shape != rho.shape or u.size == 0:
        raise ConfigError(f"fit_soft_lif_sigma: u and rho must be equal-length, non-empty arrays, got {u.shape} "
                          f"and {rho.shape}")
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi:
        raise ConfigError(f"fit_soft_lif_sigma: bounds must satisfy 0 < low < high, got {bounds!r}")
    lif = LIFParameters()

    def sse(log_sigma):
        rates = soft_lif_rate(u, math.exp(log_sigma), lif.tau_m, lif.t_ref, lif.u_reset) / RATE_SCALE_HZ
        return float(np.sum((rates - rho) ** 2))

    grid = np.linspace(math.log(lo), math.log(hi), 241)
    best = int(np.argmin([sse(g) for g in grid]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):   # shrinks the bracket by 0.618**40 ~ 1e-8
        c, d = b - golden * (b - a), a + golden * (b - a)
        if sse(c) < sse(d):
            b = d
        else:
            a = c
    log_sigma = 0.5 * (a + b)
    hard = lif_rate(u, lif.tau_m, lif.t_ref, lif.u_reset) / RATE_SCALE_HZ
    return SoftLIFFit(sigma=math.exp(log_sigma), rmse=math.sqrt(sse(log_sigma) / u.size),
                      rmse_lif=float(np.sqrt(np.mean((hard - rho) ** 2))), n_points=int(u.size))


def calibrate_soft_lif(network: Network, params: dict, x, *, bias_offsets=(-0.25, 0.0, 0.25), n_trials: int = 2,
                       seed: int = 0, codegen_target: str = "auto", **build_options) -> SoftLIFFit:
    """Measure a spiking network's f-I curve on a grid of drives and fit the soft-LIF width to it.

    The feed-forward network is simulated (:func:`~neurosim.spiking.build`) once per offset
    :math:`\\Delta` in ``bias_offsets``, with every bias shifted by :math:`\\Delta`, so the
    drives of each unit step across the threshold under the network's own input noise; the
    pooled (drive, rate) pairs (:func:`mean_drive_and_rate`) are fitted by
    :func:`fit_soft_lif_sigma`.

    Parameters
    ----------
    network, params, x
        As for :func:`spiking_align` (biasless layers keep their drive).
    bias_offsets : sequence of float
        Shifts of the biases, threshold units (one simulation each).
    n_trials : int
        Presentations per sample and offset.
    seed : int
        brian2's random numbers (offset ``k`` uses ``seed + k``).
    codegen_target : str
        brian2 code generation.
    **build_options
        Passed to :func:`~neurosim.spiking.build`.
    """
    x, _ = check_batch(network, x)
    us, rs = [], []
    for k, offset in enumerate(bias_offsets):
        shifted = dict(params)
        for layer in network.layers:
            if layer.role != "input" and layer.bias:
                shifted[bias_key(layer.name)] = params[bias_key(layer.name)] + float(offset)
        activity = build(network, shifted, kinds=("feedforward",), target=codegen_target,
                         **build_options).run(x, n_trials=n_trials, seed=seed + k)
        u, rho = mean_drive_and_rate(network, shifted, activity)
        us.append(u)
        rs.append(rho)
    return fit_soft_lif_sigma(np.concatenate(us), np.concatenate(rs))


class SpikingRule:
    """Base class: a spiking implementation of a rate rule.

    Like a rate rule it keeps nothing between calls: :meth:`init` gives the state (the rate
    rule's: AGREL's action generator...) and :meth:`updates` returns the next one.

    Attributes
    ----------
    rate_rules : tuple of str
        Names of the rate rules this class implements (registry keys).
    build_kinds : tuple of str
        Projection kinds simulated as synapses for the rule's presentation.
    rate_models : tuple of str
        Rate models of the LIF layers (:data:`neurosim.spiking.lif.RATE_MODELS`) its
        :meth:`spiking_align` can compare with: ``"lif"``, and ``"soft_lif"`` for the rate
        read-out rules.
    rate_rule : Rule
        The rate rule (its hyper-parameters, :meth:`Rule.network`, its reference oracle).
    """

    rate_rules: ClassVar[tuple[str, ...]] = ()
    build_kinds: ClassVar[tuple[str, ...]] = ("feedforward",)
    rate_models: ClassVar[tuple[str, ...]] = ("lif",)

    def __init__(self, rate_rule: Rule):
        self.rate_rule = rate_rule

    @property
    def name(self) -> str:
        return self.rate_rule.name

    def network(self, spec) -> Network:
        """The network with what the rule needs (the rate rule's :meth:`~neurosim.rules.Rule.network`)."""
        return self.rate_rule.network(spec)

    def default_network(self, sizes, loss: str | None = None) -> Network:
        """The network ``neurosim align --backend spiking`` simulates when none is given: a LIF
        multilayer net of ``sizes`` (:func:`neurosim.spiking.lif.default_network`); rules with
        circuits of their own (EP's energy net, the microcircuit) override it."""
        from .lif import default_network

        return default_network(sizes, loss=loss or "mse")

    def init(self, network: Network, params: dict, seed: int = 0) -> Any:
        """The state at the start (the rate rule's :meth:`~neurosim.rules.Rule.init`)."""
        return self.rate_rule.init(network, params, seed)

    def updates(self, network: Network, params: dict, state, activity: SpikingActivity, target):
        """``(dW, state, aux)`` from one run's spikes, ``dW`` averaged over trials and batch."""
        raise NotImplementedError(f"spiking rule '{self.name}' does not implement updates()")

    def spiking_align(self, network: Network, params: dict, x, target, *, n_trials: int = 10, seed: int = 0,
                      rule_hyper: dict | None = None, codegen_target: str = "auto", rate_model: str = "lif",
                      sigma: float | None = None, **build_options) -> AlignmentReport:
        """Trial-averaged spiking ``dW`` vs the rate rule's reference oracle and vs the rate rule.

        What :func:`spiking_align` runs for this rule (``rule_hyper`` already built
        :attr:`rate_rule`).  This default simulates the feed-forward :func:`~neurosim.spiking.build`
        of the rule's network and reads ``dW`` out with :meth:`updates`; rules with dynamics of
        their own (pc-fpa's error pairs, EP's phases, the microcircuit) override it.  Both
        references are computed on :func:`rate_equivalent` ``(network)`` at the same weights
        and inputs.  Parameters and return value as :func:`spiking_align`.
        """
        rate_rule = self.rate_rule
        prepared = self.network(network)
        missing = sorted(p.name for p in prepared.projections if p.tied_to is None and p.name not in params)
        if missing:
            raise ConfigError(f"spiking_align: params lack {', '.join(missing)}, which rule '{self.name}' adds; "
                              f"draw them with rule.init_params(rule.network(network)) "
                              f"(rule = get_rule('{self.name}'))")
        if "kinds" in build_options:
            raise ConfigError("spiking_align: 'kinds' is set by the rule (its build_kinds); leave it out")
        if "target" in build_options:
            raise ConfigError("spiking_align: 'target' is the labels; pass the code-generation target as "
                              "codegen_target=...")
        x, t = check_batch(prepared, x, target)
        model = build(prepared, params, kinds=self.build_kinds, target=codegen_target, **build_options)
        activity = model.run(x, n_trials=n_trials, seed=seed)
        fit = None
        if rate_model == "soft_lif" and sigma is None:
            fit = fit_soft_lif_sigma(*mean_drive_and_rate(prepared, params, activity))
            sigma = fit.sigma
        equivalent = rate_equivalent(prepared, "lif" if rate_model == "lif" else f"soft_lif(sigma={sigma!r})")
        state = self.init(equivalent, params, seed)
        dw, after, _ = self.updates(equivalent, params, state, activity, t)
        reference = get_oracle(rate_rule.info.reference)(rate_rule, equivalent, params, x, t)
        # the rate rule continues from the spiking trials' state: its own, independent draws
        rate_dw, _, _ = rate_rule.updates(equivalent, params, after, x, t)
        names = [k for k in reference if not k.endswith(".bias") and k in dw]
        vs_rate = AlignmentReport.compare(dw, rate_dw, names=names)
        extra = {"rate_rule_cosine": _json(vs_rate.global_cosine),
                 "rate_rule_projections": [{"name": row.name, "cosine": _json(row.cosine)}
                                           for row in vs_rate.projections],
                 "rate_equivalent_activation": equivalent.output_layer.activation, "n_trials": int(n_trials),
                 "seed": int(seed),
                 "noise_limited_cosine": _json(self._noise_limited_cosine(equivalent, params, state, activity, t,
                                                                          names)),
                 "timings": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in activity.timings.items()}}
        if fit is not None:
            extra["soft_lif_fit"] = {"sigma": fit.sigma, "rmse": fit.rmse, "rmse_lif": fit.rmse_lif,
                                     "n_points": fit.n_points}
        expectation = dict(rate_rule.info.expectation)
        if expectation and any(rate_rule.hyper[k] != v for k, v in expectation.items()):
            # the same spikes, the update averaged over the rule's randomness (AGREL's actions)
            expected = type(self)(rate_rule.replace(**expectation))
            dwe, _, _ = expected.updates(equivalent, params, state, activity, t)
            rep = AlignmentReport.compare(dwe, reference, names=names)
            extra.update(update="applied (one sampled trial per presentation)",
                         expected_global_cosine=_json(rep.global_cosine),
                         expected_projections={r.name: _json(r.cosine) for r in rep.projections})
        return AlignmentReport.compare(dw, reference, names=names, rule=self.name, backend="spiking",
                                       reference_name=rate_rule.info.reference, extra=extra)

    def _noise_limited_cosine(self, network, params, state, activity, t, names) -> float | None:
        """The cosine the trial-mean ``dW`` keeps with its infinite-trial limit (trial noise alone;
        :func:`~neurosim.spiking.predictive_coding.noise_limited_cosine` of the per-trial updates),
        or None with one trial."""
        from .predictive_coding import noise_limited_cosine

        if activity.n_trials < 2:
            return None
        per_trial = [self.updates(network, params, state, dataclasses.replace(
            activity, counts={k: c[r:r + 1] for k, c in activity.counts.items()}), t)[0]
            for r in range(activity.n_trials)]
        return noise_limited_cosine({k: np.stack([d[k] for d in per_trial]) for k in names}, names)


class RateReadoutRule(SpikingRule):
    """Shared machinery of rules whose error travels on read-out rates (module docstring)."""

    rate_models = ("lif", "soft_lif")

    def readout(self, network: Network, params: dict, activity: SpikingActivity) -> ForwardPass:
        """Per-presentation rates and drives as a :class:`ForwardPass` over trials x batch rows
        (:func:`readout_pass`)."""
        return readout_pass(network, params, activity)

    def deltas(self, network, params, fp, delta_out, chain) -> dict:
        """:math:`\\delta_l` of every layer of the chain from the output's (rows: trials x batch)."""
        raise NotImplementedError

    def updates(self, network, params, state, activity, target):
        """``(dW, state, {})``: the module docstring's update on the read-out rates (state passes through)."""
        check_params(network, params)
        _, t = check_batch(network, activity.inputs, target)
        chain = network.chain()
        fp = self.readout(network, params, activity)
        t = np.tile(t, (activity.n_trials, 1))
        deltas = self.deltas(network, params, fp, output_delta(network, fp, t), chain)
        rows = t.shape[0]
        dw = {}
        for proj in chain:
            delta = deltas[proj.post]
            dw[proj.name] = -(delta.T @ fp.r[proj.pre]) / rows
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = -delta.sum(axis=0) / rows
        return dw, state, {}


@register_spiking
class SpikingBackprop(RateReadoutRule):
    """Backprop through read-out rates: :math:`B_{l+1} = W_{l+1}^\\top` (Rumelhart et al. 1986)."""

    rate_rules = ("backprop",)

    def deltas(self, network, params, fp, delta_out, chain):
        deltas = {chain[-1].post: delta_out}
        for proj in reversed(chain[1:]):
            pre = network.layer(proj.pre)
            deltas[pre.name] = (deltas[proj.post] @ weight(network, params, proj)) * get_activation(
                pre.activation).derivative(fp.u[pre.name])
        return deltas


@register_spiking
class SpikingFeedbackAlignment(RateReadoutRule):
    """FA / DFA through read-out rates: the rate rule's own feedback pathway on spiking rates."""

    rate_rules = ("fa", "dfa")

    def deltas(self, network, params, fp, delta_out, chain):
        return self.rate_rule.hidden_deltas(network, params, fp, delta_out, chain)


def spiking_align(rule_name: str, network: Network, params: dict, x, target, *, n_trials: int = 10,
                  seed: int = 0, rule_hyper: dict | None = None, codegen_target: str = "auto",
                  rate_model: str = "lif", sigma: float | None = None, **build_options) -> AlignmentReport:
    """Compare a spiking rule's trial-averaged ``dW`` with its reference and with the rate rule.

    The spiking rule's :meth:`SpikingRule.spiking_align` does the work: by default it builds
    the spiking network from ``network`` (after ``rule.network``) and ``params``, and scores
    the read-out ``dW`` against the rate rule's reference oracle (``info.reference``) on
    :func:`rate_equivalent` ``(network)`` at the same weights and inputs, i.e. the rate
    network the spiking one computes; rules with dynamics of their own override it.

    Parameters
    ----------
    rule_name : str
        A rate rule with a spiking implementation (:data:`SPIKING_RULES`).
    network, params
        As for the rate rule; ``params`` must include what ``rule.network`` adds
        (``rule.init_params(rule.network(network))``).
    x : ndarray (batch, n_input)
    target : ndarray (batch, n_output)
    n_trials : int
        Presentations of each sample; ``dW`` is averaged over them.
    seed : int
        brian2's random numbers (Poisson inputs) and the rule's initial state
        (``rule.init(..., seed)``: AGREL's action draws).
    rule_hyper : dict, optional
        Hyper-parameters of the rate rule.
    codegen_target : str
        brian2 code generation (``build``'s ``target``: auto, cython, numpy, cpp_standalone);
        named apart because ``target`` here is the labels.
    rate_model : {"lif", "soft_lif"}
        The rate network the spiking one is compared with, and whose derivative
        :math:`\\phi'` the read-out rules use: the hard f-I curve (default), or the soft LIF
        (:func:`~neurosim.neurons.soft_lif_rate`), the f-I curve smoothed by the input noise
        the neurons actually see.  Near threshold the hard curve's slope diverges and the
        comparison fails (docs/rules/spiking.md, *Near-threshold units*); rate read-out rules
        only (:attr:`SpikingRule.rate_models`).
    sigma : float, optional
        The soft LIF's width (threshold units).  Default: fitted by :func:`fit_soft_lif_sigma`
        to the run's own trial-mean (drive, rate) pairs (:func:`mean_drive_and_rate`), reported
        in ``extra["soft_lif_fit"]``; :func:`calibrate_soft_lif` fits it on separate runs.
    **build_options
        Passed to :func:`~neurosim.spiking.build` (``dt``, ``presentation``, ``settle``,
        ``encoding``).

    Returns
    -------
    AlignmentReport
        ``backend = "spiking"``; ``extra`` holds ``rate_rule_cosine`` (global cosine of
        the spiking ``dW`` with the rate rule's ``dW`` on the rate-equivalent network),
        ``rate_rule_projections`` (per projection), ``n_trials``, ``seed``,
        ``rate_equivalent_activation``, ``noise_limited_cosine`` (the cosine the trial-mean
        ``dW`` keeps with its own infinite-trial limit: what trial noise alone allows; None
        with one trial), ``soft_lif_fit`` (``rate_model="soft_lif"`` with a fitted ``sigma``:
        :class:`SoftLIFFit`'s fields) and ``timings``.  For a stochastic rule measured on
        its applied update (AGREL/BrainProp, ``update = "sampled"``) also ``update``,
        ``expected_global_cosine`` and ``expected_projections``: the same spikes with the
        update averaged over the actions (``info.expectation``).
    """
    srule = get_spiking_rule(rule_name, **(rule_hyper or {}))
    if rate_model not in RATE_MODELS:
        raise unknown_name("rate_model of spiking_align", rate_model, RATE_MODELS)
    if rate_model not in srule.rate_models:
        soft = sorted(name for name, klass in SPIKING_RULES.items() if "soft_lif" in klass.rate_models)
        raise ConfigError(f"spiking_align: rule '{srule.name}' compares only with rate_model "
                          f"{' or '.join(map(repr, srule.rate_models))}, got {rate_model!r}; the soft LIF applies to "
                          f"the rules {', '.join(soft)}")
    if sigma is not None and rate_model != "soft_lif":
        raise ConfigError(f"spiking_align: sigma={sigma!r} is the soft LIF's width; pass rate_model='soft_lif' "
                          "with it, or leave sigma out")
    if rate_model != "lif":
        build_options.update(rate_model=rate_model, sigma=sigma)
    return srule.spiking_align(network, params, x, target, n_trials=n_trials, seed=seed, rule_hyper=rule_hyper,
                               codegen_target=codegen_target, **build_options)

"""Attention-gated reinforcement learning: AGREL and BrainProp.

The network sees an input, computes its output activations :math:`Q = r_L` with the
ordinary feed-forward pass, and *selects one action* :math:`s` stochastically from a
policy :math:`\\pi(Q)`.  It is told only whether that action was right: the reward is
:math:`R = t_s` (1 for the correct class with one-hot targets, 0 otherwise).  Learning is a
three-factor rule -- a *global* error signal :math:`g` (a neuromodulator, one number per
trial) times a *local* synaptic tag:

.. math::
    \\Delta W_{l,l-1} = g \\; \\mathrm{tag}_l\\, r_{l-1}^\\top, \\qquad
    \\mathrm{tag}_L = \\phi_L'(u_L) \\odot e_s, \\qquad
    \\mathrm{tag}_l = \\phi_l'(u_l) \\odot B_{l+1,l}\\, \\mathrm{tag}_{l+1},

where :math:`e_s` is the one-hot vector of the selected unit: only the selected output unit
is tagged, and its *attentional feedback* through the feedback weights :math:`B` tags the
hidden synapses that contributed to the choice.  :math:`B` is either the transpose of the
forward weights (``feedback = "tied"``, a ``tied_to`` projection) or its own plastic
projection learned *reciprocally* (``feedback = "reciprocal"``): it receives the transpose
of the forward update, :math:`\\Delta B_{l+1,l} = \\Delta W_{l+1,l}^\\top`, optionally with a
weight decay :math:`-\\lambda B` on both, which makes a randomly initialised :math:`B` converge
to :math:`W^\\top` as :math:`(1-\\eta\\lambda)^n` (Kolen & Pollack 1994; Akrout et al. 2019).

The two rules differ in the policy and the global error.

**AGREL** (Roelfsema & van Ooyen 2005).  Boltzmann (softmax) action selection,
:math:`\\pi = \\mathrm{softmax}(Q)`, and the expansive reward-prediction error

.. math::
    g = f(\\delta) = \\frac{R}{\\pi_s} - 1
    \\;=\\; \\begin{cases} \\delta/(1-\\delta), & \\delta = 1 - \\pi_s \\text{ (rewarded)} \\\\
                          -1, & \\text{unrewarded} \\end{cases}

Averaged over the action distribution, :math:`\\mathbb E_s[g\\, e_s] = \\sum_k \\pi_k (t_k/\\pi_k - 1)
e_k = t - \\pi`, so the expected update is exactly the descent direction of

.. math::  L_{\\mathrm{AGREL}} = \\log\\sum_k e^{Q_k} - t^\\top Q

(the softmax cross-entropy :math:`-\\sum_k t_k\\log\\pi_k` whenever :math:`\\sum_k t_k = 1`),
and :math:`\\pi` *is* differentiated: no stop-gradient is involved.

**BrainProp** (Pozzi, Bohté & Roelfsema 2020).  The outputs are linear action values
:math:`Q_k`; a max-Boltzmann controller (Wiering 1999) picks the greedy action
:math:`\\arg\\max_k Q_k` with probability :math:`1-\\varepsilon` and otherwise samples
:math:`\\mathrm{softmax}(Q/T)`, i.e.

.. math::  \\pi = (1-\\varepsilon)\\, e_{\\arg\\max Q} + \\varepsilon\\, \\mathrm{softmax}(Q/T),

and the global error is the plain reward-prediction error :math:`g = \\delta = R - Q_s` of the
selected unit: each trial descends :math:`\\tfrac12 (R - Q_s)^2`, the squared error of the
selected unit alone (the other outputs get no error).  This is the authors' published code
(``isapome/BrainProp``, ``brainprop.py``): the two-stage draw with :math:`\\varepsilon = 0.02`
and a categorical draw on the logits :math:`Q` (:math:`T = 1`), the loss
:math:`\\tfrac12 (t_s - Q_s)^2` on the selected unit summed over the batch and divided by its
size, no biases, weights :math:`\\mathcal N(0, 0.01^2)` (dense MNIST net; 0.005 otherwise),
plain SGD without momentum at learning rate 0.1, batch 128, halved every 100 epochs.  That
set-up is this package's ``brainprop`` training preset (``neurosim/presets/brainprop-train.toml``).
Then :math:`\\mathbb E_s[g\\, e_s] = \\pi \\odot (t - Q)`, the descent direction of the expected
squared prediction error on the selected unit with the policy held fixed
(:math:`\\mathrm{sg}` = stop-gradient, the semi-gradient of Q-learning):

.. math::  L_{\\mathrm{BrainProp}} = \\mathbb E_{s\\sim\\mathrm{sg}(\\pi)}\\big[\\tfrac12 (R - Q_s)^2\\big]
           = \\sum_k \\mathrm{sg}(\\pi_k)\\, \\tfrac12 (t_k - Q_k)^2 .

An output that is not the greedy choice is weighted by :math:`\\varepsilon\\,
\\mathrm{softmax}(Q/T)_k` only: on a misclassified Fashion-MNIST image the correct unit gets
:math:`\\pi_c \\approx 0.002` (:math:`\\approx \\varepsilon/n`) where the squared error of every
unit would give it 1, so the expected update mostly pushes the wrong choice toward 0 (its
cosine with that all-unit gradient is about 0.5).  That is the rule's objective, not sampling
noise (the applied update's cosine with its expectation is 0.99 at :math:`\\varepsilon` = 0.02,
batch 128), and why BrainProp needs more epochs than backprop
(``experiments/brainprop_exploration.py``, ``docs/rules/attention_gated.md``).

In both cases the hidden tags carry exactly backprop's chain rule when :math:`B = W^\\top`, so
the update *averaged over actions* equals :math:`-\\partial L/\\partial W` (batch mean).

**What is measured.**  Training applies one sampled action per sample (``update =
"sampled"``); the actions are drawn from a generator whose position is the rule's state
(:meth:`AttentionGatedRule.init`: ``{"rng": RngState}``, ``numpy.random.default_rng(seed)`` at
the start), and ``aux`` returns the ``actions``, the ``reward`` of each trial and their
``mean_reward``.  ``update = "expected"`` returns the exact average over the action
distribution instead (every action enumerated with its probability).  The reference is the
oracle ``"policy"`` (:func:`policy_gradient`): backprop of the loss above.
:func:`neurosim.align` reports the cosine of the *applied* (sampled) update as the headline
and that of the expected update beside it (``info.expectation``).

On convolutional, locally connected and pooling networks (Pozzi et al. 2020; issue 17) the
feedback beside a kernel is its adjoint operation with a kernel of the forward shape (tied or
reciprocal), pooling and flatten pass the tags back through their exact adjoint, and the updates
are summed over the positions that share a weight; the expected update is still the policy
gradient.

Both rules compute in the namespace of the arrays they are given (numpy, or PyTorch tensors
on any device; :mod:`neurosim.arrays`).  The uniforms that select the actions are drawn on the
host by the state's PCG64 in float64 and moved to the device, so a seed selects the same
actions on every backend (on Apple's MPS, which has no float64, up to a uniform's float32
rounding); ``aux["actions"]`` stays on the device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import conv as _ops
from ..arrays import arange, asarray_like, copy, cumsum, full, namespace, pick, widest_float
from ..errors import ConfigError
from ..network import INITS, OPERATIONS, Network, Projection
from ..oracles import register_oracle
from ..params import bias_key, check_params, weight
from ..randomness import RngState
from ..reference import ForwardPass, backprop, check_batch, derivative, forward, softmax
from .base import Hyper, Rule, RuleInfo, param, register

FEEDBACK_MODES = ("tied", "reciprocal")
UPDATE_MODES = ("sampled", "expected")


def _feedback_target(network: Network, layer: str) -> str:
    # attentional feedback arrives on the apical dendrite of a two-compartment neuron
    return "apical" if "apical" in network.layer(layer).compartments else "soma"


@dataclass(frozen=True)
class AttentionGatedHyper(Hyper):
    """Hyper-parameters of AGREL (and the shared ones of BrainProp)."""

    feedback: str = param("tied", choices=FEEDBACK_MODES,
                          doc="'tied': B = W^T exactly; 'reciprocal': a plastic B learning dW^T")
    feedback_init: str = param("xavier_uniform", choices=INITS, doc="initialiser of a reciprocal feedback B")
    feedback_scale: float = param(1.0, gt=0, doc="init_scale of a reciprocal feedback B")
    feedback_decay: float = param(0.0, ge=0, doc="weight decay lambda on the forward and reciprocal weights")
    update: str = param("sampled", choices=UPDATE_MODES,
                        doc="'sampled': one action per sample (applied); 'expected': exact average over actions")


@dataclass(frozen=True)
class BrainPropHyper(AttentionGatedHyper):
    """:class:`AttentionGatedHyper` plus BrainProp's max-Boltzmann controller."""

    epsilon: float = param(0.02, ge=0, le=1, doc="exploration rate of the max-Boltzmann controller "
                                                 "(0.02: Pozzi et al.'s published code)")
    temperature: float = param(1.0, gt=0, doc="temperature T of its Boltzmann part")


class AttentionGatedRule(Rule):
    """Shared machinery of AGREL and BrainProp (see the module docstring for the maths).

    Hyper-parameters (:class:`AttentionGatedHyper`)
    -----------------------------------------------
    feedback : {"tied", "reciprocal"}
        ``tied``: the attentional feedback is exactly :math:`W^\\top` (a ``tied_to``
        projection, no parameters).  ``reciprocal``: a plastic feedback projection of its
        own, initialised by ``feedback_init``/``feedback_scale`` and updated with the
        transpose of the forward update.
    feedback_init : str
        Initialiser of a reciprocal feedback projection (:mod:`neurosim.params`).
    feedback_scale : float > 0
        Its ``init_scale``.
    feedback_decay : float >= 0
        Weight decay :math:`\\lambda` added to the forward and the reciprocal feedback
        updates (``-\\lambda W``, ``-\\lambda B``); 0 keeps the update a pure gradient estimate.
    update : {"sampled", "expected"}
        What :meth:`updates` returns: one sampled action per sample (the rule as an animal
        would run it; default) or the exact expectation over actions.

    State
    -----
    ``{"rng": RngState}``: the position of the generator the actions are drawn from
    (seeded by :meth:`init`; same seed, same actions).  The expected update draws nothing
    and returns the state unchanged.
    """

    family = "attention_gated"
    Hyper = AttentionGatedHyper
    #: The loss whose gradient the expected update is (a line for reports).
    loss_name = ""

    # ------------------------------------------------------------------ what differs per rule
    def policy(self, q: np.ndarray) -> np.ndarray:
        """Action probabilities :math:`\\pi(Q)`, shape (batch, n_out), rows summing to 1."""
        raise NotImplementedError

    def global_error(self, q: np.ndarray, pi: np.ndarray, reward: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The neuromodulatory signal :math:`g` of each trial, shape (batch,)."""
        raise NotImplementedError

    def output_gradient(self, q: np.ndarray, t: np.ndarray) -> np.ndarray:
        """:math:`\\partial L_n/\\partial Q` of the loss the rule optimises, shape (batch, n_out)."""
        raise NotImplementedError

    def loss(self, q: np.ndarray, t: np.ndarray, pi: np.ndarray | None = None) -> float:
        """Batch-mean value of the loss the rule optimises (``pi``: the frozen policy, if any)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ network
    def canonical(self, pre: str, post: str) -> str:
        return f"{pre}->{post}:{self.name}"

    def _feedback_projection(self, network: Network, pre: str, post: str) -> Projection | None:
        name = self.canonical(pre, post)
        if network.has_projection(name):
            return network.projection(name)
        found = network.select("feedback", pre=pre, post=post)
        if len(found) > 1:
            raise ConfigError(f"Network '{network.name}': several feedback projections {pre}->{post} "
                              f"({', '.join(p.name for p in found)}); name the one rule '{self.name}' "
                              f"should use '{name}'")
        return found[0] if found else None

    def network(self, spec, **kw) -> Network:
        """The chain (default or given) with the attentional feedback ``post -> pre`` of every hidden projection.

        Idempotent; an existing feedback projection between the same layers (for instance
        one a model card declares) is used as it is.
        """
        network = super().network(spec, **kw)
        network.output_layer  # noqa: B018 -- fails here, with the fix, when there is no output
        missing = []
        for proj in self._fed_back(network):
            if self._feedback_projection(network, proj.post, proj.pre) is not None:
                continue
            # through a convolution / locally connected layer: its adjoint, a kernel of its shape
            common = dict(name=self.canonical(proj.post, proj.pre), kind="feedback",
                          target=_feedback_target(network, proj.pre), **_ops.adjoint_geometry(proj))
            if self.hyper.feedback == "tied":
                missing.append(Projection(proj.post, proj.pre, tied_to=proj.name, plastic=False, **common))
            else:
                missing.append(Projection(proj.post, proj.pre, plastic=True, init=self.hyper.feedback_init,
                                          init_scale=float(self.hyper.feedback_scale), **common))
        return network.add(*missing) if missing else network

    @staticmethod
    def _fed_back(network: Network) -> list[Projection]:
        """Forward projections that need attentional feedback: those with weights above the input
        (pooling and flatten pass the tags back through their exact adjoint, without weights)."""
        return [p for p in network.chain() if _ops.has_params(p) and network.layer(p.pre).role != "input"]

    def feedback(self, network: Network, params: dict, proj: Projection) -> tuple[Projection, np.ndarray]:
        """The feedback projection serving forward ``proj`` and its weight: a matrix of shape
        (n_pre, n_post), or for a convolution / locally connected layer a kernel of the forward
        kernel's shape (its adjoint operation carries the tags back)."""
        fb = self._feedback_projection(network, proj.post, proj.pre)
        if fb is None:
            raise ConfigError(f"rule '{self.name}': network '{network.name}' has no feedback projection "
                              f"{proj.post}->{proj.pre}; build the network with rule.network(network) before "
                              "init_params")
        return fb, weight(network, params, fb)

    # ------------------------------------------------------------------ the trial
    def sample_actions(self, pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One action per row of ``pi`` (batch, n_out) by inverse-CDF sampling, shape (batch,).

        Draws ``batch`` uniforms from ``rng`` (advancing it).  Sampling :math:`\\pi` directly
        is the same distribution as the two-stage max-Boltzmann procedure (greedy with
        probability :math:`1-\\varepsilon`, else Boltzmann).
        """
        xp = namespace(pi)
        # drawn on the host by the state's PCG64 (float64 as ever; float32 on MPS, which has no
        # float64), moved beside pi: the same actions on every backend
        u = asarray_like(rng.random(pi.shape[0]), pi, dtype=widest_float(pi))
        cdf = cumsum(pi, axis=1)
        # u < cdf[-1] up to rounding; the clip keeps a u that lands above a rounded-down 1 in range
        return xp.minimum(xp.sum(cdf <= u[:, None] * cdf[:, -1:], axis=1), pi.shape[1] - 1)

    def tagged_updates(self, network: Network, params: dict, fp: ForwardPass, t: np.ndarray,
                       actions: np.ndarray, trial_weight: np.ndarray | None = None) -> dict:
        """Global error x attention tag for given actions, averaged over the rows of ``fp``.

        Parameters
        ----------
        fp : ForwardPass
            Rates ``r`` and potentials ``u`` of ``batch`` rows (samples, or trials x samples).
        t : ndarray (batch, n_out)
            Rewards of every action (the targets).
        actions : ndarray of int (batch,)
            Selected output unit per row.
        trial_weight : ndarray (batch,), optional
            Multiplies each row's global error (the action probability, when
            :meth:`expected_updates` enumerates actions).

        Returns
        -------
        dict
            ``dW`` per parameter key: forward weights and biases, and the transposed update of
            reciprocal feedback projections (no weight decay; see :meth:`with_decay`).
        """
        chain = network.chain()
        out = chain[-1].post
        q = fp.r[out]
        xp = namespace(q)
        rows = arange(q.shape[0], q)
        pi = self.policy(q)
        reward = t[rows, actions]
        g = self.global_error(q, pi, reward, actions)
        if trial_weight is not None:
            g = g * trial_weight
        # attention: only the selected unit is tagged (phi'_L on it, 0 elsewhere)
        tag = xp.zeros_like(q)
        tag[rows, actions] = derivative(network.layer(out), fp)[rows, actions]
        tags = {out: tag}
        feedback = {}
        for proj in reversed(chain[1:]):
            if not _ops.has_params(proj):  # pooling, flatten: the exact adjoint (max pooling: to the maxima)
                back = _ops.backward(network, proj, None, tags[proj.post], fp.r[proj.pre])
            else:
                fb, b = self.feedback(network, params, proj)
                feedback[proj.name] = fb
                back = tags[proj.post] @ b.T if proj.operation == "dense" else _ops.drive(network, fb, b,
                                                                                          tags[proj.post])
            tags[proj.pre] = back * derivative(network.layer(proj.pre), fp)
        scale = g * (1.0 / q.shape[0])  # batch mean folded into the (batch,) error, not the product
        dw = {}
        for proj in chain:
            signal = tags[proj.post] * scale[:, None]
            if proj.operation == "dense":
                dw[proj.name] = signal.T @ fp.r[proj.pre]
            elif _ops.has_params(proj):  # the products summed over the positions that share a weight
                dw[proj.name] = _ops.weight_gradient(network, proj, signal, fp.r[proj.pre])
            if network.layer(proj.post).bias:
                dw[bias_key(proj.post)] = xp.sum(signal, axis=0)
            fb = feedback.get(proj.name)
            if fb is not None and fb.tied_to is None and fb.plastic:
                # reciprocal learning: the feedback synapse sees the same pre/post product (a feedback
                # kernel has the forward kernel's shape: no transpose)
                dw[fb.name] = copy(dw[proj.name].T if proj.operation == "dense" else dw[proj.name])
        return dw

    def with_decay(self, dw: dict, params: dict) -> dict:
        """Add the weight decay :math:`-\\lambda W` (``feedback_decay``) to every weight in ``dw``."""
        decay = float(self.hyper.feedback_decay)
        if not decay:
            return dw
        return {k: (v if k.endswith(".bias") else v - decay * params[k]) for k, v in dw.items()}

    def expected_updates(self, network: Network, params: dict, fp: ForwardPass, t: np.ndarray) -> dict:
        """The update averaged exactly over the action distribution, for a given forward pass.

        .. math::  \\mathbb E_{s\\sim\\pi}[\\Delta W] = \\sum_{a} \\pi_a\\, \\Delta W(s = a)

        computed by enumerating every action ``a`` with its probability, through the same
        code path as a sampled trial (:meth:`tagged_updates`), weight decay included.  With
        tied feedback it equals the ``"policy"`` oracle (module docstring).  ``fp`` may be
        any read-out (the spiking rule passes spike-count rates).
        """
        pi = self.policy(fp.output)
        total: dict = {}
        for action in range(pi.shape[1]):
            chosen = full((pi.shape[0],), action, like=pi, dtype="int64")
            part = self.tagged_updates(network, params, fp, t, chosen, trial_weight=pi[:, action])
            for key, value in part.items():
                total[key] = total[key] + value if key in total else value
        return self.with_decay(total, params)

    def sampled_updates(self, network: Network, params: dict, fp: ForwardPass, t: np.ndarray,
                        rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
        """One stochastic trial per row of ``fp``: select, reward, global error x tag (batch mean).

        Returns ``(dW, actions, reward)``; the actions are drawn from ``rng`` (advanced).
        """
        actions = self.sample_actions(self.policy(fp.output), rng)
        reward = pick(t, actions)
        return self.with_decay(self.tagged_updates(network, params, fp, t, actions), params), actions, reward

    # ------------------------------------------------------------------ the Rule interface
    def init(self, network: Network, params: dict, seed: int = 0) -> dict:
        """``{"rng": RngState.from_seed(seed)}``: where the action draws start."""
        return {"rng": RngState.from_seed(seed)}

    def check_inputs(self, network: Network, params: dict, state, x, target):
        """Validate everything :meth:`updates` reads (state, target, parameters, feedback, batch); ``(x, t)``."""
        if not (isinstance(state, dict) and isinstance(state.get("rng"), RngState)):
            raise ConfigError(f"rule '{self.name}': state must be the dict rule.init(network, params, seed) "
                              f"returns ({{'rng': RngState}}), got {state!r}")
        if target is None:
            raise ConfigError(f"rule '{self.name}': the rewards need targets; pass target")
        check_params(network, params)
        for proj in self._fed_back(network):
            self.feedback(network, params, proj)  # the fix when the network was not built by rule.network
        return check_batch(network, x, target)

    def updates_from_pass(self, network: Network, params: dict, state: dict, fp: ForwardPass, t: np.ndarray):
        """:meth:`updates` for a given forward pass ``fp`` and targets ``t`` (one row per trial).

        The rate rule passes :func:`~neurosim.reference.forward`; the spiking rule passes the
        spike-count read-out of ``n_trials x batch`` presentations.  Returns ``(dW, state,
        aux)`` as :meth:`updates`.
        """
        if self.hyper.update == "expected":
            return self.expected_updates(network, params, fp, t), state, {}
        rng = state["rng"].generator()
        dw, actions, reward = self.sampled_updates(network, params, fp, t, rng)
        aux = {"actions": actions, "reward": reward, "mean_reward": float(namespace(reward).mean(reward))}
        return dw, {**state, "rng": RngState.of(rng)}, aux

    def updates(self, network: Network, params: dict, state: dict, x, target):
        """``dW`` for one batch: one sampled action per sample (default) or the expectation (``update``).

        Parameters
        ----------
        state : dict
            From :meth:`init` or the previous call (not modified).
        x : ndarray of shape (batch, n_input)
        target : ndarray of shape (batch, n_output)
            Reward of each action (one-hot: 1 for the correct class).

        Returns
        -------
        dW : dict
        state : dict
            The generator advanced past this batch's draws (unchanged for ``"expected"``).
        aux : dict
            Sampled: ``actions`` (batch,) int, ``reward`` (batch,), ``mean_reward``; expected: ``{}``.
        """
        x, t = self.check_inputs(network, params, state, x, target)
        return self.updates_from_pass(network, params, state, forward(network, params, x), t)


@register_oracle("policy")
def policy_gradient(rule, network: Network, params: dict, x, target) -> dict:
    """:math:`-\\partial L/\\partial\\theta` of the loss an attention-gated rule's *expected* update follows.

    The gradient of any output loss at the current weights equals that of the squared error
    :math:`\\tfrac12\\lVert Q - t'\\rVert^2` against the fixed target :math:`t' = Q -
    \\partial L/\\partial Q`, so the exact backprop of the squared-error network gives it;
    ``rule.output_gradient`` is the closed form of :math:`\\partial L/\\partial Q` (checked
    against finite differences of the papers' losses in the tests).

    Parameters
    ----------
    rule : AttentionGatedRule
        AGREL (softmax cross-entropy) or BrainProp (policy-weighted squared error).
    """
    if not isinstance(rule, AttentionGatedRule):
        raise ConfigError(f"oracle 'policy': rule '{rule.name}' is not attention-gated (AGREL, BrainProp); "
                          "use its own info.reference")
    x, t = check_batch(network, x, target)
    if t is None:
        raise ConfigError(f"oracle 'policy': rule '{rule.name}' needs targets; pass target")
    q = forward(network, params, x).output
    shifted = q - rule.output_gradient(q, t)
    return backprop(network.replace(loss="mse"), params, x, shifted).descent()


@register
class AGREL(AttentionGatedRule):
    """AGREL: softmax action selection, expansive RPE :math:`f(\\delta) = R/\\pi_s - 1`.

    Roelfsema & van Ooyen (2005); the expected update is the softmax cross-entropy gradient
    (module docstring).
    """

    name = "agrel"
    info = RuleInfo(reference="policy", aliases=("attention-gated-reinforcement",),
                    losses=("cross_entropy", "mse"), backends=("rate", "spiking"),
                    expectation={"update": "expected"}, arrays=("numpy", "torch"), operations=OPERATIONS)
    citation = ("Roelfsema & van Ooyen (2005). Attention-gated reinforcement learning of internal "
                "representations for classification. Neural Comput. 17, 2176-2214.")
    loss_name = "logsumexp(Q) - t.Q (softmax cross-entropy for one-hot t)"

    def policy(self, q):
        return softmax(q)

    def global_error(self, q, pi, reward, actions):
        # f(delta) = delta / (1 - delta) with delta = 1 - pi_s when rewarded, -1 when not
        return reward / pick(pi, actions) - 1.0

    def output_gradient(self, q, t):
        return softmax(q) - t

    def loss(self, q, t, pi=None):
        xp = namespace(q)
        m = xp.max(q, axis=1, keepdims=True)
        lse = (m + xp.log(xp.sum(xp.exp(q - m), axis=1, keepdims=True)))[:, 0]
        return float(xp.mean(lse - xp.sum(t * q, axis=1)))


@register
class BrainProp(AttentionGatedRule):
    """BrainProp: max-Boltzmann action selection on action values, RPE :math:`\\delta = R - Q_s`.

    Pozzi, Bohté & Roelfsema (2020); the expected update is the gradient of the
    policy-weighted squared error with the policy held fixed (module docstring).

    Hyper-parameters (:class:`BrainPropHyper`)
    ------------------------------------------
    epsilon : float in [0, 1]
        Exploration rate of the max-Boltzmann controller (1: pure Boltzmann); default 0.02,
        the value of the authors' published code.
    temperature : float > 0
        Temperature :math:`T` of its Boltzmann part; default 1 (their categorical draw on the
        logits :math:`Q`).
    """

    name = "brainprop"
    info = RuleInfo(reference="policy", aliases=("attention-gated-brain-propagation",),
                    losses=("mse", "cross_entropy"), backends=("rate", "spiking"),
                    expectation={"update": "expected"}, arrays=("numpy", "torch"), operations=OPERATIONS)
    Hyper = BrainPropHyper
    citation = ("Pozzi, Bohté & Roelfsema (2020). Attention-gated brain propagation: how the brain can "
                "implement reward-based error backpropagation. NeurIPS 33.")
    loss_name = "sum_k sg(pi_k) (t_k - Q_k)^2 / 2 (expected squared RPE of the selected unit, policy fixed)"

    def network(self, spec, *, activation: str | None = None, loss: str | None = None,
                name: str | None = None) -> Network:
        """For layer sizes: a chain with linear action-value outputs and the squared-error loss (Q regresses on R).

        A given :class:`~neurosim.network.Network` keeps its own output layer and loss.
        """
        if not isinstance(spec, Network):
            sizes = Rule.network(self, spec).sizes  # the base validates the sizes, with the fix
            spec = Network.feedforward(list(sizes), activation=activation or self.info.activation,
                                       output_activation="linear", loss=loss or self.info.losses[0],
                                       name=name or "mlp")
        return super().network(spec)

    def policy(self, q):
        eps = float(self.hyper.epsilon)
        xp = namespace(q)
        greedy = xp.zeros_like(q)
        greedy[arange(q.shape[0], q), xp.argmax(q, axis=1)] = 1.0
        return (1.0 - eps) * greedy + eps * softmax(q / float(self.hyper.temperature))

    def global_error(self, q, pi, reward, actions):
        return reward - pick(q, actions)

    def output_gradient(self, q, t):
        return self.policy(q) * (q - t)

    def loss(self, q, t, pi=None):
        pi = self.policy(q) if pi is None else pi
        xp = namespace(q)
        return float(xp.mean(xp.sum(pi * 0.5 * (t - q) ** 2, axis=1)))

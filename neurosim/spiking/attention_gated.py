"""Spiking AGREL and BrainProp: action from the output spikes, reward-modulated tagged plasticity.

One presentation of a sample to the brian2 network (:func:`~neurosim.spiking.build`) is one
trial.  Its spike counts are read out as rates, :math:`\\hat\\rho_l = n_l/(T r_0)`
(:class:`~neurosim.spiking.plasticity.RateReadoutRule`), and the rate rule's three factors are
formed from them:

* **action**: the output's read-out rates are the action values, :math:`Q = \\hat\\rho_L`; the
  action is drawn from the rule's policy :math:`\\pi(\\hat\\rho_L)` (softmax for AGREL,
  max-Boltzmann for BrainProp) with the generator in the rule's state (``{"rng": RngState}``,
  returned advanced, never kept), one draw per trial;
* **eligibility trace / tag**: the pre-synaptic read-out rate times the post-synaptic tag,
  :math:`\\mathrm{tag}_L = \\phi'(\\hat u_L)\\odot e_s`, :math:`\\mathrm{tag}_l =
  \\phi'(\\hat u_l)\\odot B\\,\\mathrm{tag}_{l+1}` -- the attentional feedback of the selected
  unit, with :math:`\\phi'` the LIF f-I slope at the mean synaptic drive :math:`\\hat u_l`;
* **reward-modulated plasticity**: the global error of the trial (AGREL
  :math:`R/\\pi_s - 1`, BrainProp :math:`R - \\hat\\rho_{L,s}`) gates the tag,
  :math:`\\Delta W = \\langle g\\, \\mathrm{tag}_l\\, \\hat\\rho_{l-1}^\\top\\rangle_{\\text{trials, batch}}`.

With the rate rule's ``update = "expected"`` the action is not sampled but averaged exactly
over :math:`\\pi(\\hat\\rho_L)`, leaving only the spike-count noise; that isolates the cost of
spiking from the cost of exploration.  Averaged over trials, the update converges to the rate
rule on the rate-equivalent (``"lif"``) network, whose expected update is the gradient of the
rule's loss (Roelfsema & van Ooyen 2005; Pozzi, Bohté & Roelfsema 2020).
"""
from __future__ import annotations

import numpy as np

from .plasticity import RateReadoutRule, register_spiking


@register_spiking
class SpikingAttentionGated(RateReadoutRule):
    """AGREL / BrainProp on spike-count read-outs (module docstring)."""

    rate_rules = ("agrel", "brainprop")

    def updates(self, network, params, state, activity, target):
        """``(dW, state, aux)`` from one run's spikes, ``dW`` averaged over trials and batch.

        Parameters
        ----------
        network : Network
            The rate-equivalent network (activation ``"lif"``), built by the rule.
        state : dict
            The rate rule's state (:meth:`~neurosim.rules.attention_gated.AttentionGatedRule.init`);
            not modified.
        activity : SpikingActivity
            ``counts`` of shape (n_trials, batch, size) per layer.
        target : ndarray (batch, n_out)
            Reward of each action.

        Returns
        -------
        dW, state, aux
            As the rate rule's ``updates_from_pass`` on the read-out, one row per trial and
            sample (trial-major): ``aux["actions"]`` has shape (n_trials * batch,).
        """
        rule = self.rate_rule
        _, t = rule.check_inputs(network, params, state, activity.inputs, target)
        fp = self.readout(network, params, activity)  # rows: trial-major, trials x batch
        return rule.updates_from_pass(network, params, state, fp, np.tile(t, (activity.n_trials, 1)))

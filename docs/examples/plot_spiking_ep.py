"""
Spiking equilibrium propagation in five minutes
===============================================

The spiking backend runs any :class:`~neurosim.network.Network` as leaky integrate-and-fire
(LIF) neurons in brian2. We first check the rate correspondence the backend is built on (a
spiking network fires at the rates of its *rate-equivalent* network), then run equilibrium
propagation (EP) with spikes and measure its update against the exact gradient of that
rate-equivalent network, as a function of the number of trials.

This page is executed on every documentation build with brian2's ``numpy`` code generation
(no compiler needed; about 20 s here). ``codegen_target="auto"`` picks Cython when a compiler
works: several times faster per run, after a first compilation of a minute or more.
"""

# %%
# A spiking network fires at the rates of its rate-equivalent
# -----------------------------------------------------------
# A rate of 1 is 100 Hz; a weight W becomes a synaptic current jump such that a unit's mean
# drive, in units of its threshold, is the rate network's ``u = W rho + b``. A LIF neuron under
# a steady drive fires at ``r(u)``, the ``"lif"`` activation of
# :func:`~neurosim.spiking.rate_equivalent`. Biases at twice threshold keep every unit firing.
import time

import brian2 as b2
import matplotlib.pyplot as plt
import numpy as np

import neurosim as ns
from neurosim.data import load_dataset
from neurosim.spiking import build, rate_equivalent
from neurosim.spiking import default_network as lif_network
from neurosim.spiking.equilibrium import default_network as ep_network
from neurosim.spiking.equilibrium import spiking_ep_align

start = time.perf_counter()
data = load_dataset("digits")
x = data.x_train[:4].astype(float)                      # pixel values in [0, 1]: 0-100 Hz
net = lif_network([64, 20, 10])
params = ns.init_params(net, seed=0)
model = build(net, params, dt=0.1 * b2.ms, presentation=300 * b2.ms, settle=100 * b2.ms,
              target="numpy")
activity = model.run(x, n_trials=4, seed=1)
spiking = activity.mean_rho("output")                   # trial-averaged, in rate units
rate = ns.forward(rate_equivalent(net), params, x).output

fig, ax = plt.subplots(figsize=(3.6, 3.4), layout="constrained")
ax.plot(rate.ravel() * 100, spiking.ravel() * 100, "o", ms=4)
lim = [0, 100 * max(rate.max(), spiking.max()) * 1.05]
ax.plot(lim, lim, color="grey", lw=0.8, ls="--", label="equal rates")
ax.set_xlabel("rate network (Hz)")
ax.set_ylabel("spiking network, 4 trials (Hz)")
ax.legend(fontsize=8)
print(f"output rates, spiking vs rate: max difference {100 * np.abs(spiking - rate).max():.1f} Hz")

# %%
# Equilibrium propagation with spikes
# -----------------------------------
# Each sample is presented with Poisson inputs for three 350 ms phases: free, nudged by
# :math:`+\beta` and by :math:`-\beta` (the output receives the current
# :math:`\beta(t - \hat\rho)`, from a slow trace :math:`\hat\rho` of its own spikes). The
# update is the contrastive Hebbian product of spike-count rates,
# :math:`\Delta W_l = \frac{1}{2\beta}\langle \rho^+_l \rho^{+\top}_{l-1} - \rho^-_l \rho^{-\top}_{l-1}\rangle`,
# averaged over trials. The oracle is the implicit gradient at the free fixed point of the
# rate-equivalent energy network; ``rate_rule_cosine`` compares with rate EP at the same
# :math:`\beta`. All trials of all samples run side by side in one brian2 network.
ep_net = ep_network([6, 8, 3])                           # LIF, MSE, tied feedback
ep_params = ns.init_params(ep_net, seed=1)
rng = np.random.default_rng(0)
xs = rng.uniform(0.0, 1.0, (4, 6))
ts = rng.uniform(0.2, 0.8, (4, 3))

trials = [1, 4, 16]
reports = {n: spiking_ep_align(ep_net, ep_params, xs, ts, n_trials=n, seed=0, rule_hyper={"beta": 0.5},
                               codegen_target="numpy") for n in trials}
print(reports[16].table())

# %%
# Count noise falls with the number of trials; what remains is the bias of the spiking
# estimate (see :doc:`/rules/equilibrium` for the full table over :math:`\beta` and trials).
fig, ax = plt.subplots(figsize=(4.2, 3.2), layout="constrained")
ax.plot(trials, [reports[n].global_cosine for n in trials], "o-", label="vs implicit gradient")
ax.plot(trials, [reports[n].extra["rate_rule_cosine"] for n in trials], "s--", label="vs rate EP")
ax.set_xscale("log")
ax.set_xticks(trials, [str(n) for n in trials])
ax.set_xlabel("trials per sample")
ax.set_ylabel("global cosine of spiking EP's update")
ax.legend(fontsize=8)
print(f"whole page: {time.perf_counter() - start:.0f} s")

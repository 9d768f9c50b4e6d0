"""The brian2 spiking backend: the same :class:`~neurosim.network.Network` as spiking neurons.

* :func:`build` turns a network and its params into a :class:`SpikingModel` (an explicit
  ``brian2.Network`` of LIF / two-compartment LIF populations, Synapses, input encoding,
  monitors); :meth:`SpikingModel.run` presents a batch and returns spike counts.
* :func:`rate_equivalent` is the rate network the spiking one computes (activation
  ``"lif"``, the LIF f-I curve :func:`neurosim.neurons.lif_rate`).
* :mod:`~neurosim.spiking.plasticity`: spiking rules turning one presentation's spikes into
  ``dW`` (registry :data:`SPIKING_RULES`) and :func:`spiking_align`.
* :mod:`~neurosim.spiking.codegen`: cython / numpy / C++ standalone.

This is the only package of neurosim that imports brian2.
"""
from .builder import SpikingActivity, SpikingModel, build
from .codegen import resolve_target
from .encoding import ENCODINGS
from .lif import default_network, rate_equivalent
from . import attention_gated  # noqa: F401,E402  (registers spiking agrel / brainprop)
from . import predictive_coding  # noqa: F401,E402  (registers spiking pc-fpa)
from . import equilibrium  # noqa: F401,E402  (registers spiking ep)
from . import dendritic  # noqa: F401,E402  (registers spiking microcircuit)
from . import burstprop  # noqa: F401,E402  (registers the burst_lif neuron and spiking burstprop)
from .plasticity import SPIKING_RULES, SpikingRule, get_spiking_rule, register_spiking, spiking_align
from .stdp import PairSTDP, TripletSTDP, measure_window, song2000, triplet_rate_dependence

__all__ = ["ENCODINGS", "PairSTDP", "SPIKING_RULES", "SpikingActivity",
           "SpikingModel", "SpikingRule", "TripletSTDP", "build", "default_network", "get_spiking_rule",
           "measure_window", "rate_equivalent", "register_spiking", "resolve_target", "song2000",
           "spiking_align", "triplet_rate_dependence"]

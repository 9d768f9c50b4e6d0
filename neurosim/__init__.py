"""neurosim: biologically plausible learning rules, rate and spiking, measured against exact backprop.

The rate side imports no simulator; ``neurosim.spiking`` (brian2) is imported only on use.
"""
__version__ = "0.2.0.dev0"

from .errors import ConfigError, NeurosimError, ShapeError  # noqa: E402
from .network import Layer, Network, Projection  # noqa: E402
from .params import init_params  # noqa: E402
from .reference import backprop, forward, gradcheck  # noqa: E402
from .alignment import AlignmentReport, align  # noqa: E402
from .rules import get_rule, list_rules  # noqa: E402
from .runspec import RunSpec  # noqa: E402

__all__ = ["AlignmentReport", "ConfigError", "Layer", "Network", "NeurosimError", "Projection", "RunSpec",
           "ShapeError", "align", "backprop", "forward", "get_rule", "gradcheck", "init_params", "list_rules"]

"""Guard (issue 18): only the circuit builder constructs brian2 objects in ``neurosim/spiking/``.

Every spiking family is a description lowered by the one builder (``neurosim/spiking/builder.py``);
any other module of ``neurosim/spiking/`` that names a brian2 object class (``NeuronGroup``,
``Synapses``, ``Network``, monitors, ``TimedArray`` ...) fails here.  The check reads the source
with :mod:`ast` (no brian2 import): an attribute of that name on anything (``brian2.NeuronGroup``,
``b2.Synapses``) or a name imported from brian2 (``from brian2 import Synapses as S``), called
or not (an alias is a construction waiting to happen).
"""
import ast
from pathlib import Path

import pytest

SPIKING = Path(__file__).resolve().parents[1] / "neurosim" / "spiking"

#: brian2 classes whose objects only the builder creates.
BRIAN2_OBJECTS = frozenset({
    "NeuronGroup", "PoissonGroup", "SpikeGeneratorGroup", "PoissonInput", "Synapses", "Network", "MagicNetwork",
    "SpikeMonitor", "StateMonitor", "PopulationRateMonitor", "EventMonitor", "TimedArray", "SpatialNeuron",
    "Subgroup", "NetworkOperation", "network_operation", "Clock", "Morphology"})

#: The builder itself.  codegen.py only configures devices and code-object classes: it is
#: checked like any other module (and constructs nothing).
BUILDER = {"builder.py"}


def brian2_constructions(source: str) -> list[tuple[int, str]]:
    """``(line, class name)`` of every reference to a brian2 object class in ``source``."""
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "brian2":
            for alias in node.names:
                if alias.name in BRIAN2_OBJECTS:
                    aliases[alias.asname or alias.name] = alias.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BRIAN2_OBJECTS:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Name) and node.id in aliases:
            found.append((node.lineno, aliases[node.id]))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "brian2":
            found += [(node.lineno, a.name) for a in node.names if a.name in BRIAN2_OBJECTS]
    return sorted(set(found))


def test_the_detector_finds_every_spelling():
    """The check can fail: each way of reaching a brian2 class is reported, plain quantities are not."""
    src = ("import brian2\nimport brian2 as b2\nfrom brian2 import Synapses as S, ms\n"
           "from brian2.input import TimedArray\n"
           "g = brian2.NeuronGroup(1, 'v : 1')\nm = b2.SpikeMonitor(g)\ns = S(g, g)\nt = 3 * ms\n"
           "f = brian2.PoissonGroup\nq = brian2.Quantity(1.0)\n")
    names = {name for _, name in brian2_constructions(src)}
    assert names == {"NeuronGroup", "SpikeMonitor", "Synapses", "TimedArray", "PoissonGroup"}
    assert brian2_constructions("import brian2\nx = brian2.ms * brian2.have_same_dimensions(1, 1)\n") == []


def test_the_builder_is_seen_constructing():
    """Sanity: the detector sees the builder's own constructions (else the guard below would prove nothing)."""
    names = {name for _, name in brian2_constructions((SPIKING / "builder.py").read_text())}
    assert {"NeuronGroup", "PoissonGroup", "SpikeGeneratorGroup", "Synapses", "Network", "SpikeMonitor"} <= names


@pytest.mark.parametrize("path", sorted(p for p in SPIKING.glob("*.py") if p.name not in BUILDER), ids=lambda p: p.name)
def test_only_the_builder_constructs_brian2_objects(path):
    found = brian2_constructions(path.read_text())
    assert not found, (f"neurosim/spiking/{path.name} constructs brian2 objects itself "
                       f"({', '.join(f'{n} at line {line}' for line, n in found)}); describe the circuit "
                       "(neurosim.network) and lower it with neurosim.spiking.builder.build_circuit, registering "
                       "a builder (CircuitBuilder.register) for any missing piece")


def test_the_allow_list_names_existing_modules():
    missing = sorted(name for name in BUILDER if not (SPIKING / name).exists())
    assert not missing, f"remove {missing} from the guard's lists: no such module in neurosim/spiking/"

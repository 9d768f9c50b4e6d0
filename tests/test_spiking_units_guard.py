"""Guard (issue 18): the spiking API takes brian2 quantities, never floats named with their unit.

"Units enter in four ways (``dt=0.1*ms`` in some places, ``dt_ms=0.2`` floats in others)": every
input of the public API of ``neurosim/spiking/`` is a brian2 quantity (``dt=0.5*ms``,
``r_max=200*Hz``), checked by :func:`neurosim.validation.check_quantity`.  A name that ends in a
unit (``dt_ms``, ``e_exc_mv``, ``rate_max_hz``, ``g_l_per_ms``, ``duration_s``) is the sign of a
bare float whose unit lives in its name; this test fails on any such *input*.

The rule it enforces, read from the source with :mod:`ast` (no brian2 import):

* checked: the parameters of every public function of every module of ``neurosim/spiking/``,
  the parameters of every public method (``__init__`` included) of every public class, and the
  annotated fields of every public class (dataclass fields are constructor parameters);
* not checked -- *outputs*: the fields of a class that a public function or method of
  ``neurosim/spiking/`` returns (its return annotation names it: ``TeacherTaskResult``,
  ``MicrocircuitSpikes``, ``PCSpikes`` ...).  They are measurements read out as plain floats
  and arrays for JSON records and figures, where the unit in the name is the documentation
  (``teacher_rate_hz``, ``times_s``); nobody passes them in.  Their methods are still checked;
* not checked -- :data:`SYMBOLS`: names whose suffix is the subscript of a paper's symbol, not
  a unit (each with its reason);
* private names (leading underscore) and local variables are implementation, not API.
"""
import ast
import re
from pathlib import Path

SPIKING = Path(__file__).resolve().parents[1] / "neurosim" / "spiking"

#: Unit suffixes of a float named with its unit.  ``_v`` (volts) is left out: ``init_v`` is the
#: initial-potential *mode* of the builder ("uniform" ...), and no spiking input is in volts.
UNIT_SUFFIX = re.compile(r"_(ms|s|us|sec|mv|hz|khz|per_ms|per_s|per_mv|mv_ms)$")

#: Names that end like a unit but are a paper's symbol (the suffix is a subscript).
SYMBOLS = {
    "tau_s": "Urbanczik & Senn's (2014) PSP rise time tau_s (a brian2 time in UrbanczikSennConfig)",
}


def _annotation_names(node) -> set[str]:
    """Every class name mentioned in a return annotation (``X``, ``X | None``, ``"X"``, ``list[X]``)."""
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _parameters(fn) -> list[str]:
    a = fn.args
    return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)] + \
        [p.arg for p in (a.vararg, a.kwarg) if p is not None]


def unit_named_inputs(sources: dict[str, str]) -> list[str]:
    """``"module:owner.name"`` of every unit-suffixed input of the public API in ``sources`` (module -> text)."""
    trees = {module: ast.parse(text) for module, text in sources.items()}
    functions = [n for tree in trees.values() for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")]
    outputs = set().union(*(_annotation_names(f.returns) for f in functions)) if functions else set()
    found = []

    def check(module, owner, name):
        if UNIT_SUFFIX.search(name.lower()) and name not in SYMBOLS:
            found.append(f"{module}:{owner}{name}")

    for module, tree in trees.items():
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                for name in _parameters(node):
                    check(module, f"{node.name}.", name)
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                            (not item.name.startswith("_") or item.name == "__init__"):
                        for name in _parameters(item):
                            check(module, f"{node.name}.{item.name}.", name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) \
                            and node.name not in outputs:
                        check(module, f"{node.name}.", item.target.id)
    return found


def test_the_detector_finds_unit_named_inputs():
    """The check can fail: parameters, keyword-only parameters, methods and fields are seen."""
    src = ("from dataclasses import dataclass\n"
           "def run(x, *, dt_ms=0.1, window=None, **kw): pass\n"
           "@dataclass\nclass Config:\n    g_l_per_ms: float = 0.1\n    theta_mv: float = 15.0\n"
           "    tau_s: float = 3.0\n    k: float = 0.5\n"
           "    def scaled(self, rate_max_hz): pass\n"
           "class Model:\n    def __init__(self, settle_s, *, r_max=None): pass\n"
           "def _private(dt_ms): pass\n")
    assert sorted(unit_named_inputs({"m.py": src})) == sorted([
        "m.py:run.dt_ms", "m.py:Config.g_l_per_ms", "m.py:Config.theta_mv", "m.py:Config.scaled.rate_max_hz",
        "m.py:Model.__init__.settle_s"])


def test_outputs_are_the_returned_classes():
    """A class some public function returns holds read-outs (its fields are exempt, its methods are not)."""
    src = ("from dataclasses import dataclass\n"
           "@dataclass\nclass Result:\n    times_s: list\n    rate_hz: float\n"
           "    def at(self, t_ms): pass\n"
           "def simulate(dt) -> Result | None: pass\n"
           "@dataclass\nclass Inputs:\n    dt_ms: float\n"
           "def other() -> 'list[Inputs2]': pass\n")
    assert sorted(unit_named_inputs({"m.py": src})) == ["m.py:Inputs.dt_ms", "m.py:Result.at.t_ms"]


def test_no_unit_named_float_inputs_in_the_spiking_api():
    sources = {path.name: path.read_text() for path in sorted(SPIKING.glob("*.py"))}
    assert "dendritic.py" in sources and "builder.py" in sources
    found = unit_named_inputs(sources)
    assert not found, ("inputs of the spiking API named with a unit (take a brian2 quantity instead, "
                       "e.g. dt=0.5*ms, and check it with neurosim.validation.check_quantity): " + ", ".join(found))

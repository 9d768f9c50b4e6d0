"""Rules from outside the package: a user's package registers rules through the entry-point
group ``neurosim.rules`` and they appear in ``neurosim rules``, ``align``, ``train`` and
``compare``.  The plug-in is a tiny package the test writes (a module plus a ``.dist-info``
with ``entry_points.txt``, which is what ``pip install`` leaves), found through PYTHONPATH.

Oracle: the plug-in rule is backprop with a scale factor s, so its alignment with backprop is
exactly 1 and its norm ratio exactly s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PLUGIN = '''
from dataclasses import dataclass
from neurosim.reference import backprop
from neurosim.rules import Hyper, Rule, RuleInfo, param


@dataclass(frozen=True)
class ScaledHyper(Hyper):
    scale: float = param(2.0, gt=0, doc="factor on backprop's update")


class ScaledBackprop(Rule):
    name = "scaled-bp"
    family = "backprop"
    citation = "A test plug-in."
    info = RuleInfo()
    Hyper = ScaledHyper

    def updates(self, network, params, state, x, t):
        g = backprop(network, params, x, t).descent()
        return {k: self.hyper.scale * v for k, v in g.items()}, state, {}


class Broken(Rule):
    name = "backprop"          # taken by a built-in: refused with a warning, never replaces it
    family = "backprop"
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "myrules.py").write_text(PLUGIN)
    info = root / "myrules-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myrules\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[neurosim.rules]\nscaled-bp = myrules:ScaledBackprop\n"
                                           "broken = myrules:Broken\n")
    return root


def cli(plugin_path, *argv):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "neurosim.cli", *argv], capture_output=True, text=True, env=env)


def test_plugin_rule_is_listed_aligned_trained_and_compared(plugin_path, tmp_path):
    proc = cli(plugin_path, "rules", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert "scaled-bp" in rows and rows["backprop"]["citation"].startswith("Rumelhart")
    assert "broken" in proc.stderr and "registered twice" in proc.stderr  # one-line warning, no traceback

    proc = cli(plugin_path, "align", "--rule", "scaled-bp", "--set", "scale=3", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["global"]["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert all(p["norm_ratio"] == pytest.approx(3.0, rel=1e-9) for p in d["projections"])

    proc = cli(plugin_path, "train", "--rule", "scaled-bp", "--epochs", "1", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "completed", proc.stderr

    proc = cli(plugin_path, "compare", "--rules", "scaled-bp", "--epochs", "1", "--out", str(tmp_path),
               "--no-figures", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"][0]["rule"] == "scaled-bp"

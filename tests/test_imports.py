"""The package boundary (docs/design.md, "Imports run one way"): the rate side imports neither
brian2 nor matplotlib; only neurosim.spiking imports brian2 and only neurosim.plotting matplotlib.

Oracle: ``sys.modules`` of a fresh interpreter after importing the rate side.
"""
import subprocess
import sys

RATE_SIDE = ["neurosim", "neurosim.rules", "neurosim.training", "neurosim.runspec", "neurosim.alignment",
             "neurosim.oracles", "neurosim.sweep", "neurosim.compare", "neurosim.cli", "neurosim.energy",
             "neurosim.reference", "neurosim.validation", "neurosim.randomness"]


def test_rate_side_imports_neither_brian2_nor_matplotlib():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in RATE_SIDE)
            + "from neurosim.rules import RULES\n"
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('brian2', 'matplotlib'))\n"
            + "print(','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"rate side imported: {proc.stdout.strip()[:200]}"


def test_cli_rules_listing_needs_no_simulator():
    code = ("import sys\nfrom neurosim.cli import main\nmain(['rules', '--json'])\n"
            "assert not any(m.split('.')[0] in ('brian2', 'matplotlib') for m in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

"""Figure: alignment with backprop over training and test error, for every rule.

Reads ``results/compare/compare.json`` (written by ``neurosim compare``) and writes
``figures/compare.png``.  It never trains anything.
"""
import argparse
import json
from pathlib import Path

from neurosim.plotting import compare_figure

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).parent))
    args = p.parse_args()
    from neurosim.results import locate_result

    record = json.loads(locate_result(args.results, "compare/compare.json", "neurosim compare").read_text())
    print(*compare_figure(record, args.out))

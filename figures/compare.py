"""Figure: every rule's update against the exact gradient over training, and its test error.

Reads ``results/compare/compare.json`` (written by ``neurosim compare``) and writes
``figures/compare.png`` with :func:`neurosim.plotting.compare_figure`: one panel per family
(backprop the grey reference at cosine 1, rules identical to it named beside it), then the test
error (%) of every rule.  It never trains anything.

    python figures/compare.py [--results results] [--out figures/compare.png]
"""
from pathlib import Path

from neurosim.plotting import compare_data, compare_figure, figure_data, figure_parser


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, lambda res: compare_data(res.json("compare", "compare.json",
                                                                  command="neurosim compare")))
    out = Path(args.out)
    print(*compare_figure(record, out.parent, out.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

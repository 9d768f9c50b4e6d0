"""Figure: learned receptive fields -- Diehl & Cook STDP on Fashion-MNIST and Krotov-Hopfield on digits.

Reads ``results/stdp_diehl_cook/weights.npz`` (``experiments/stdp_diehl_cook.py``) and
``results/hebbian_compare/krotov-hopfield-100ep/params.npz`` plus its random-feature control
(``experiments/hebbian_compare.py``); draws what exists into ``figures/receptive_fields.png``.
Never simulates.

    python figures/receptive_fields.py [--results results] [--out figures]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402

CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def tile(weights: np.ndarray, side: int, n: int) -> np.ndarray:
    """Weights (n_units, side*side) -> one image of the first n units on a square grid, each scaled to [0, 1]."""
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    img = np.full((rows * (side + 1), cols * (side + 1)), np.nan)
    for k in range(min(n, len(weights))):
        w = weights[k].reshape(side, side)
        w = (w - w.min()) / (np.ptp(w) or 1.0)
        r, c = divmod(k, cols)
        img[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = w
    return img


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).parent))
    args = p.parse_args(argv)
    res = Path(args.results)
    panels = []
    dc = res / "stdp_diehl_cook" / "weights.npz"
    if dc.exists():
        rec = json.loads((res / "stdp_diehl_cook" / "run.json").read_text())
        w = np.load(dc)["weights"].T
        panels.append((tile(w, 28, 100), f"Diehl & Cook STDP, {rec['dataset']} ({rec['n_train']} images, "
                                         f"{w.shape[0]} neurons)\ntest accuracy {100 * rec['test_accuracy']:.1f} %"))
    for tag, title in (("krotov-hopfield-100ep", "Krotov-Hopfield, digits, 100 epochs"),
                       ("krotov-hopfield-100ep-frozen", "control: same start, frozen (random features)")):
        f = res / "hebbian_compare" / tag / "params.npz"
        if f.exists():
            run = json.loads((res / "hebbian_compare" / tag / "run.json").read_text())
            panels.append((tile(np.load(f)["input->hidden1"], 8, 100),
                           f"{title}\ntest error {100 * run['test_error']:.1f} %"))
    if not panels:
        raise SystemExit("receptive_fields: no results; run experiments/stdp_diehl_cook.py or "
                         "experiments/hebbian_compare.py first")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 5.3), layout="constrained")
    for ax, (img, title) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, cmap="gray_r", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle("Learned receptive fields (input weights of each unit, each scaled to its own range; dark = large)",
                 fontsize=10)
    path = Path(args.out) / "receptive_fields.png"
    fig.savefig(path, dpi=110)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

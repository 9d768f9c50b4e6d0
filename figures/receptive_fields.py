"""Figure: learned receptive fields -- Diehl & Cook STDP on Fashion-MNIST and Krotov-Hopfield on digits.

Reads ``results/stdp_diehl_cook/weights.npz`` + ``run.json`` (``experiments/stdp_diehl_cook.py``)
and ``results/hebbian_compare/krotov-hopfield-100ep/run.npz`` (a ``neurosim train --out`` run
folder) plus its random-feature control (``experiments/hebbian_compare.py``); draws what exists into
``figures/receptive_fields.png``.  Each unit's input weights are scaled to its own range
(dark = large); the titles give each model's test error.  Never simulates.

    python figures/receptive_fields.py [--results results] [--out figures/receptive_fields.png]
"""
from __future__ import annotations

import json

import numpy as np

from neurosim.plotting import MissingResults, figure, figure_data, figure_parser, panel, save, source, style

HEBBIAN = (("krotov-hopfield-100ep", "Krotov-Hopfield, digits, 100 epochs"),
           ("krotov-hopfield-100ep-frozen", "control: same start, frozen"))


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


def encode(img: np.ndarray) -> list[str]:
    """A [0, 1] image with NaN gaps as rows of hex bytes (0-254 = value, ff = gap): small to ship."""
    q = np.where(np.isnan(img), 255, np.round(np.nan_to_num(img) * 254)).astype(np.uint8)
    return [row.tobytes().hex() for row in q]


def decode(rows: list[str]) -> np.ndarray:
    q = np.array([np.frombuffer(bytes.fromhex(r), dtype=np.uint8) for r in rows], dtype=float)
    return np.where(q == 255, np.nan, q / 254)


def collect(results) -> dict:
    """The tiled receptive fields of each model found, with its test error."""
    panels, sources = [], []
    try:
        folder = results.folder("stdp_diehl_cook", "python experiments/stdp_diehl_cook.py", "weights.npz")
        rec = json.loads((folder / "run.json").read_text())
        w = np.load(folder / "weights.npz")["weights"].T
        panels.append({"image": encode(tile(w, 28, 100)),
                       "title": f"Diehl & Cook STDP, {rec['dataset']}\n{rec['n_train']} images, {w.shape[0]} neurons,\n"
                                f"test error {100 * (1 - rec['test_accuracy']):.1f} %"})
        sources.append(source(rec, "stdp_diehl_cook"))
    except MissingResults:
        pass
    for tag, title in HEBBIAN:
        try:
            folder = results.folder(f"hebbian_compare/{tag}", "python experiments/hebbian_compare.py", "run.npz")
        except MissingResults:
            continue
        from neurosim.results import load_run

        run, arrays = load_run(folder)  # the record and the weights it names (checksum-checked)
        panels.append({"image": encode(tile(arrays["input->hidden1"], 8, 100)),
                       "title": f"{title}\n\ntest error {100 * run['test_error']:.1f} %"})
        sources.append(source(run, "hebbian_compare"))
    if not panels:
        raise MissingResults("no results at " + str(results.root) + " for receptive fields; run `python experiments/"
                             "stdp_diehl_cook.py` or `python experiments/hebbian_compare.py` first")
    return {"panels": panels, "source": sources}


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    panels = data["panels"]
    with style():
        fig, axes = figure(1, len(panels), height=3.9, squeeze=False)
        for k, (ax, p) in enumerate(zip(axes[0], panels)):
            ax.imshow(decode(p["image"]), cmap="gray_r", interpolation="nearest")
            panel(ax, "abc"[k], p["title"])
            ax.set_axis_off()
        fig.suptitle("Learned receptive fields: input weights of each unit, scaled to its own range (dark = large)")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

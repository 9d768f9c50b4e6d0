"""Figure: synthetic gradients over training (reads results, never trains).

Reads ``results/sg_training/digits.json`` and, when present, ``fashion.json`` (both written by
``experiments/sg_training.py``) and writes ``figures/sg_alignment.png`` beside this script:
one row per set-up, three panels each, every line the mean over seeds with the min-max band:

(a) cosine between the synthetic gradient :math:`\\hat g_l` and the true :math:`\\partial L/\\partial h_l`
    per hidden layer (solid: first hidden layer, dashed: second); undefined (not drawn) at
    epoch 0, where the zero-initialised modules predict nothing;
(b) cosine of each hidden projection's update with backprop's (same line styles; the mean over
    seeds only, without bands: between epochs it jumps by ~0.5 for sg/cDNI, see
    docs/rules/synthetic_gradients.md);
(c) test error, with the final mean and standard deviation over seeds in the legend.

    python figures/sg_alignment.py [--results results]
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from neurosim.plotting import read_results  # noqa: E402

COLORS = {"backprop": "k", "fa": "tab:gray", "sg": "tab:blue", "cdni": "tab:red", "sg-true": "tab:cyan",
          "cdni-true": "tab:orange", "readout-only": "tab:olive"}
STYLES = ("-", "--", ":")


def _curves(runs: list[dict], label: str, get) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and a (seeds, epochs) array of ``get(history_row)`` (NaN where undefined)."""
    rows = [r for r in runs if r["label"] == label]
    epochs = np.array([h["epoch"] for h in rows[0]["history"]])
    values = np.array([[np.nan if get(h) is None else get(h) for h in r["history"]] for r in rows], dtype=float)
    return epochs, values


def _band(ax, epochs, values, band=True, **style):
    """The mean over seeds (rows of ``values``), with the min-max band when ``band``; returns the line."""
    with warnings.catch_warnings():  # an all-NaN epoch (zero modules) stays NaN: a gap, not a number
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high = (np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0))
    line, = ax.plot(epochs, mean, **style)
    if band and len(values) > 1:
        ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.15, lw=0)
    return line


def _labels(record: dict) -> list[str]:
    return list(dict.fromkeys(r["label"] for r in record["runs"]))


def _hidden(record: dict) -> list[str]:
    run = next((r for r in record["runs"] if r["history"][0]["delta_cosine"]), None)
    return list(run["history"][0]["delta_cosine"]) if run else []


def plot_delta_cosine(record: dict, ax=None):
    """Panel (a): cos(g_hat_l, g_l) per hidden layer over epochs; returns the Axes."""
    ax = ax or plt.gca()
    hosts = _hidden(record)
    for label in _labels(record):
        if not next(r for r in record["runs"] if r["label"] == label)["history"][0]["delta_cosine"]:
            continue  # not a synthetic-gradient rule
        for host, ls in zip(hosts, STYLES):
            epochs, values = _curves(record["runs"], label, lambda h, host=host: h["delta_cosine"][host])
            _band(ax, epochs, values, color=COLORS.get(label), ls=ls, label=f"{label} {host}")
    ax.axhline(0, color="0.6", lw=0.6, ls=":")
    ax.set_ylim(-0.2, 1.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"cos($\hat g_l$, $\partial L/\partial h_l$)")
    ax.set_title(f"(a) synthetic vs true gradient, {record['dataset']}", fontsize=10)
    ax.legend(fontsize=6, ncol=2, loc="best")
    return ax


def plot_update_cosine(record: dict, ax=None):
    """Panel (b): cosine of each hidden projection's update with backprop's over epochs."""
    ax = ax or plt.gca()
    run = record["runs"][0]
    projections = list(run["history"][-1]["cosine"])[:-1]  # every projection into a hidden layer
    for label in _labels(record):
        if label in ("backprop", "sg-true", "cdni-true", "readout-only"):
            continue
        for proj, ls in zip(projections, STYLES):
            epochs, values = _curves(record["runs"], label, lambda h, proj=proj: h["cosine"][proj])
            _band(ax, epochs, values, band=False, color=COLORS.get(label), ls=ls, lw=1.2, label=f"{label} {proj}")
    ax.axhline(0, color="0.6", lw=0.6, ls=":")
    ax.set_ylim(-0.2, 1.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"cos($\Delta W_l$, $-\partial L/\partial W_l$)")
    ax.set_title("(b) hidden-layer update vs backprop", fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_test_error(record: dict, ax=None):
    """Panel (c): test error over epochs, final mean ± std over seeds in the legend."""
    ax = ax or plt.gca()
    summary = record.get("summary", {})
    for label in _labels(record):
        epochs, values = _curves(record["runs"], label, lambda h: h["test_error"])
        s = summary.get(label)
        tail = f": {100 * s['test_error_mean']:.1f} ± {100 * s['test_error_std']:.1f} %" if s else ""
        _band(ax, epochs[1:], 100 * values[:, 1:], color=COLORS.get(label), label=f"{label}{tail}")
    low, high = ax.get_ylim()
    if high > 4 * low:  # a wide range (digits: 3-70 %) on a log axis, a narrow one linear
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "2358" else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    sizes = "-".join(map(str, record["runs"][0]["sizes"]))
    seeds = len({r["seed"] for r in record["runs"]})
    ax.set_title(f"(c) test error, {sizes}, {seeds} seeds\nAdam {record['learning_rate']:g}, "
                 f"batch {record['batch_size']}", fontsize=10)
    ax.legend(fontsize=7)
    return ax


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    args = ap.parse_args(argv)
    records = [read_results(args.results, "sg_training", "digits.json")]
    if (Path(args.results) / "sg_training" / "fashion.json").exists():
        records.append(read_results(args.results, "sg_training", "fashion.json"))
    fig, axes = plt.subplots(len(records), 3, figsize=(15, 4.6 * len(records)), squeeze=False)
    for row, record in zip(axes, records):
        plot_delta_cosine(record, row[0])
        plot_update_cosine(record, row[1])
        plot_test_error(record, row[2])
    fig.suptitle("Synthetic gradients (Jaderberg et al. 2017): sg and cDNI beside backprop and FA", fontsize=12)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return Path(args.out)


if __name__ == "__main__":
    main()

"""Figure: synthetic gradients over training -- the predicted gradient and the update vs backprop.

Reads ``results/sg_training/digits.json`` and, when present, ``fashion.json`` (both written by
``experiments/sg_training.py``) and writes ``figures/sg_alignment.png``; it never trains.  One
column per set-up, three rows; every line is the mean over seeds, bands span min to max:

(a, b) cosine between the synthetic gradient and the true gradient dL/dh per hidden layer
       (solid: first hidden layer, dashed: second); not drawn at epoch 0, where the
       zero-initialised modules predict nothing;
(c, d) cosine of each hidden projection's update with backprop's (mean only: between epochs it
       jumps by ~0.5 for sg and cDNI, see docs/rules/synthetic_gradients.md);
(e, f) test error, final mean ± standard deviation over seeds in the legend.

    python figures/sg_alignment.py [--results results] [--out figures/sg_alignment.png] [--ship]
"""
from __future__ import annotations

import warnings

import numpy as np

from neurosim.plotting import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    SKY,
    VERMILLION,
    MissingResults,
    figure,
    figure_data,
    figure_parser,
    integer_axis,
    panel,
    plain_log_axis,
    save,
    source,
    style,
)

EXPERIMENT = "sg_training"
COLORS = {"backprop": BLACK, "fa": "0.55", "sg": BLUE, "cdni": VERMILLION, "sg-true": SKY, "cdni-true": ORANGE,
          "readout-only": GREEN}
LAYER_STYLES = ("-", "--", ":")


def _stats(values) -> dict:
    """Mean, min and max over seeds (rows) of a (seeds, epochs) array, NaN kept (null in JSON), 4 digits."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():  # an all-NaN epoch (zero modules) stays NaN: a gap, not a number
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = {"mean": np.nanmean(values, axis=0), "min": np.nanmin(values, axis=0),
                 "max": np.nanmax(values, axis=0)}
    return {k: np.round(v, 4) for k, v in stats.items()}


def _reduce(record: dict, setup: str) -> dict:
    """What the figure draws of one set-up: per rule, the curves over epochs (seed statistics)."""
    runs = record["runs"]
    labels = list(dict.fromkeys(r["label"] for r in runs))
    first = runs[0]
    projections = list(first["history"][-1]["cosine"])[:-1]  # every projection into a hidden layer
    rules = {}
    for label in labels:
        rows = [r for r in runs if r["label"] == label]
        hist = [r["history"] for r in rows]
        hosts = list(hist[0][0]["delta_cosine"])

        def series(get, hist=hist):
            return [[np.nan if get(h) is None else get(h) for h in run] for run in hist]

        rules[label] = {
            "test_error": _stats(series(lambda h: h["test_error"])),
            "delta_cosine": {host: _stats(series(lambda h, host=host: h["delta_cosine"][host])) for host in hosts},
            "cosine": {p: _stats(series(lambda h, p=p: h["cosine"][p]))["mean"] for p in projections},
            "final": record["summary"][label]}
    return {"setup": setup, "dataset": record["dataset"], "sizes": first["sizes"],
            "optimizer": record["optimizer"], "learning_rate": record["learning_rate"],
            "batch_size": record["batch_size"], "seeds": sorted({r["seed"] for r in runs}),
            "epochs": [h["epoch"] for h in first["history"]], "projections": projections, "rules": rules,
            "source": source(record, EXPERIMENT, f"python experiments/sg_training.py --setup {setup}")}


def collect(results) -> dict:
    """Digits (required) and Fashion-MNIST (when present), reduced to the curves drawn."""
    setups = []
    for setup in ("digits", "fashion"):
        try:
            record = results.json(EXPERIMENT, f"{setup}.json",
                                  command=f"python experiments/sg_training.py --setup {setup}")
        except MissingResults:
            if setup == "digits":
                raise
            continue
        setups.append(_reduce(record, setup))
    return {"setups": setups}


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _line(ax, epochs, stats, *, band=True, **style):
    line, = ax.plot(epochs, _arr(stats["mean"] if isinstance(stats, dict) else stats), **style)
    if band and isinstance(stats, dict):
        ax.fill_between(epochs, _arr(stats["min"]), _arr(stats["max"]), color=line.get_color(), alpha=0.15, lw=0)
    return line


def _layer_key(ax, names, where):
    """A second legend: which line style is which layer (colours are the rules)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.3", ls=ls, label=name) for name, ls in zip(names, LAYER_STYLES)]
    ax.add_artist(ax.legend(handles=handles, loc=where))


def plot_delta_cosine(setup: dict, ax):
    """cos(g_hat_l, dL/dh_l) per hidden layer over epochs, the synthetic-gradient rules; returns the Axes."""
    epochs = np.array(setup["epochs"])
    hosts = []
    for label, rule in setup["rules"].items():
        if not rule["delta_cosine"]:
            continue  # not a synthetic-gradient rule
        hosts = list(rule["delta_cosine"])
        for host, ls in zip(hosts, LAYER_STYLES):
            _line(ax, epochs, rule["delta_cosine"][host], color=COLORS.get(label), ls=ls,
                  label=label if host == hosts[0] else None)
    _layer_key(ax, hosts, "lower left")
    ax.legend(loc="lower right", ncol=2)
    ax.set_ylim(-0.25, 1.0)
    integer_axis(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"cos($\hat g_l$, $\partial L/\partial h_l$)")
    return ax


def plot_update_cosine(setup: dict, ax):
    """Cosine of each hidden projection's update with backprop's over epochs (mean over seeds)."""
    epochs = np.array(setup["epochs"])
    for label, rule in setup["rules"].items():
        if label in ("backprop", "sg-true", "cdni-true", "readout-only"):
            continue
        for k, proj in enumerate(setup["projections"]):
            _line(ax, epochs, rule["cosine"][proj], band=False, color=COLORS.get(label), ls=LAYER_STYLES[k],
                  lw=1.3, label=label if k == 0 else None)
    _layer_key(ax, setup["projections"], "lower left")
    ax.legend(loc="lower right")
    ax.set_ylim(-0.25, 1.0)
    integer_axis(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"cos($\Delta W_l$, $-\partial L/\partial W_l$)")
    return ax


def plot_test_error(setup: dict, ax):
    """Test error over epochs, the final mean ± std over seeds in the legend; returns the Axes."""
    epochs = np.array(setup["epochs"])[1:]
    for label, rule in setup["rules"].items():
        f = rule["final"]
        stats = {k: [None if v is None else 100 * v for v in rule["test_error"][k][1:]] for k in ("mean", "min", "max")}
        _line(ax, epochs, stats, color=COLORS.get(label),
              label=f"{label}: {100 * f['test_error_mean']:.1f} ± {100 * f['test_error_std']:.1f} %")
    low, high = ax.get_ylim()
    if high > 4 * low:  # digits spans 3-70 %: a log axis; Fashion-MNIST 11-25 %: linear
        plain_log_axis(ax, "y")
    integer_axis(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.legend(loc="upper right")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    setups = data["setups"]
    letters = iter("abcdefghi")
    with style():
        fig, axes = figure(3, len(setups), height=11.5, squeeze=False)
        for col, setup in enumerate(setups):
            name = f"{setup['dataset']} {'-'.join(map(str, setup['sizes']))}"
            panel(plot_delta_cosine(setup, axes[0, col]), next(letters),
                  f"{name}: " + r"$\hat g_l$ vs $\partial L/\partial h_l$")
        for col, setup in enumerate(setups):
            panel(plot_update_cosine(setup, axes[1, col]), next(letters), "hidden-layer update vs backprop")
        for col, setup in enumerate(setups):
            panel(plot_test_error(setup, axes[2, col]), next(letters),
                  f"test error, {len(setup['seeds'])} seeds, {setup['optimizer'].capitalize()} "
                  f"{setup['learning_rate']:g}, batch {setup['batch_size']}")
        fig.suptitle("Synthetic gradients (Jaderberg et al. 2017): sg and cDNI beside backprop, FA and a "
                     "read-out-only control")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

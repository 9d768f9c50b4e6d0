"""Plot helpers: ``plot_*(data, ax=None) -> ax``.  They only draw; they never simulate.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so
they work headless and in parallel processes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_results(results: str | Path, experiment: str, name: str = "run.json") -> dict:
    """``<results>/<experiment>/<name>`` as a dict, for a figure script.

    A figure script only reads results; when they are missing it exits (``SystemExit``: a
    one-line message, no traceback, non-zero status) naming the experiment that writes them.
    """
    path = Path(results) / experiment / name
    if not path.exists():
        raise SystemExit(f"{path}: no results; run python experiments/{experiment}.py first")
    return json.loads(path.read_text())


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _completed(record: dict) -> list[dict]:
    return [r for r in record["rows"] if r.get("status") != "failed" and r.get("history")]


_FAMILY_STYLE = {"backprop": "-", "feedback_alignment": "--", "target_propagation": "-.",
                 "predictive_coding": ":", "equilibrium": (0, (5, 1, 1, 1)), "dendritic": (0, (3, 1)),
                 "attention_gated": (0, (1, 1)), "hebbian": (0, (4, 2, 1, 2))}


def rule_colors(names) -> dict:
    """A distinct colour per rule name (tab20, so up to 20 rules never share one)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {name: cmap(i % 20) for i, name in enumerate(names)}


def plot_alignment_curves(record: dict, ax=None):
    """Global cosine between each rule's update and backprop's, per epoch (epoch 0 = init)."""
    from matplotlib.ticker import MaxNLocator

    ax = _axes(ax)
    rows = _completed(record)
    colors = rule_colors([r["rule"] for r in rows])
    for row in rows:
        epochs = [0] + [h["epoch"] for h in row["history"]]
        cos = [row["initial_alignment"]["global"]["cosine"]] + [h["alignment"]["global"] for h in row["history"]]
        cos = [np.nan if c is None else c for c in cos]
        ref = "" if row.get("reference", "backprop") == "backprop" else f" (vs {row['reference']})"
        ax.plot(epochs, cos, marker="o", ms=2.5, lw=1.4, color=colors[row["rule"]],
                ls=_FAMILY_STYLE.get(row.get("family"), "-"), label=row["rule"] + ref)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine(rule update, −∂L/∂W)")
    ax.set_ylim(-0.3, 1.05)
    ax.set_title("Alignment with the exact gradient during training")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_test_error_bars(record: dict, ax=None):
    """Test error of each rule after the budget, as bars (percent)."""
    ax = _axes(ax)
    rows = _completed(record)
    names = [r["rule"] for r in rows]
    errors = [100 * r["test_error"] for r in rows]
    colors = rule_colors(names)
    bars = ax.bar(names, errors, color=[colors[n] for n in names])
    for bar, err in zip(bars, errors):
        ax.annotate(f"{err:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=8)
    ax.set_ylabel("test error (%)")
    ax.set_title(f"After {record['epochs']} epochs on {record['dataset']}")
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_ha("right")
    return ax


def compare_figure(record: dict, folder: Path | str) -> list[Path]:
    """Draw ``compare.png`` (alignment curves + test errors) into ``folder``."""
    from matplotlib.figure import Figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=[1.35, 1])
    plot_alignment_curves(record, a)
    plot_test_error_bars(record, b)
    fig.suptitle(f"neurosim compare — layers {'-'.join(map(str, record['sizes']))}, seed {record['seed']}")
    path = folder / "compare.png"
    fig.savefig(path, dpi=120)
    return [path]

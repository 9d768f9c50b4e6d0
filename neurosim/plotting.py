"""One figure style, plot helpers and the result readers of the figure scripts.

Every figure of the project is drawn inside :func:`style` and saved with :func:`save`:

* **Size.** Figures are :data:`WIDTH` inches wide and saved at :data:`DPI`; the README shows a
  PNG about 700 px wide, so a font of *s* points appears at ``s * 700 / (72 * WIDTH)`` px.
  :func:`save` warns (:class:`FigureLayoutWarning`) when a text would appear smaller than
  :data:`MIN_DISPLAY_PX` or when a text sticks out of the canvas (a clipped title).
* **Colours.** The Okabe & Ito (2008) colour-blind-safe palette, :data:`PALETTE` (lines use
  :data:`LINE_COLORS`, without the pale yellow); above seven series :func:`series_style`
  varies line style and marker as well, so no two series share all three.
* **Panels.** :func:`panel` writes the panel letter (bold a, b, c ...) at the top left of
  every panel, followed by the panel's title.
* **Guides.** Reference lines (:func:`guide`) and bands (:func:`band`) always carry a label,
  so the legend says what they are.

Plot helpers take ``ax=None`` and return the Axes; they only draw, never simulate
(docs/design.md: experiments write data, figures only read it).

Data: a figure script reads an experiment's raw results from ``<results>/<experiment>/``
(``results/`` by default, what the experiments write) and reduces them to what it draws
(:func:`figure_data`); when the raw results are missing it draws the reduced copy shipped in
``figures/data/<script>.json`` instead, so that ``make figures`` redraws every figure on a
fresh clone, offline.  ``--ship`` refreshes that copy from the raw results; ``--no-shipped``
turns the fallback off.

References
----------
.. [1] Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
   presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""
from __future__ import annotations

import argparse
import contextlib
import json
import warnings
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- style
#: Okabe & Ito (2008): black, blue, orange, bluish green, vermillion, sky blue, reddish purple, yellow.
PALETTE = ("#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")
BLACK, BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW = PALETTE
#: colours for lines and markers: the palette without its yellow, too pale on white for a thin line.
LINE_COLORS = PALETTE[:7]
#: colour of guide lines (reference values, chance, zero); always labelled in the legend.
GUIDE = "0.45"
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

WIDTH = 9.0           # inches: every figure is this wide
DPI = 150             # saved resolution: 1350 px wide PNGs
README_PX = 700       # width at which the README shows a figure
MIN_DISPLAY_PX = 8.5  # smallest acceptable text height at README size (px)

RC = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.titlepad": 5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 8.5,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.85",
    "legend.borderaxespad": 0.4,
    "figure.titlesize": 11,
    "mathtext.fontset": "dejavusans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "errorbar.capsize": 2,
    "image.cmap": "viridis",
}


class FigureLayoutWarning(UserWarning):
    """A figure has text too small to read at README size, or text outside the canvas."""


@contextlib.contextmanager
def style():
    """Context in which every neurosim figure is built (``with style(): fig = figure(...)``).

    Sets :data:`RC` (fonts sized for a :data:`WIDTH`-inch figure shown ~700 px wide,
    constrained layout, the Okabe-Ito colour cycle, light grid, no top/right spines).
    """
    import matplotlib
    from cycler import cycler

    rc = {**RC, "axes.prop_cycle": cycler(color=LINE_COLORS[1:] + LINE_COLORS[:1])}
    with matplotlib.rc_context(rc):
        yield


def figure(nrows: int = 1, ncols: int = 1, *, height: float = 4.0, width: float = WIDTH, **subplots):
    """A :class:`~matplotlib.figure.Figure` (no pyplot state) and its Axes, ``WIDTH`` wide.

    ``subplots`` go to :meth:`Figure.subplots` (``squeeze=False`` gives a 2-D array always).
    Call inside :func:`style`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    if nrows == 0:
        return fig, None
    return fig, fig.subplots(nrows, ncols, **subplots)


def series_style(i: int) -> dict:
    """Colour, line style and marker of series ``i``: distinct for every ``i`` < 28.

    The first seven series differ in colour (:data:`LINE_COLORS`); beyond seven the line style
    changes too (and the marker cycles over eight), so series ``i`` and ``i + 7`` are still
    told apart.
    """
    n = len(LINE_COLORS)
    return {"color": LINE_COLORS[i % n], "ls": LINESTYLES[(i // n) % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)]}


def panel(ax, letter: str, title: str = ""):
    """Title a panel: bold ``letter`` then ``title``, at the top left; returns the Axes."""
    ax.set_title(rf"$\mathbf{{{letter}}}$   {title}" if title else rf"$\mathbf{{{letter}}}$", loc="left")
    return ax


def guide(ax=None, *, y=None, x=None, label: str, color=GUIDE, ls="--", lw=1.0, **kw):
    """A labelled horizontal (``y=``) or vertical (``x=``) reference line; returns the Axes.

    The label goes to the legend, so the reader is told what the line is.
    """
    ax = _axes(ax)
    if (y is None) == (x is None):
        raise ValueError("guide: give exactly one of y= (horizontal line) or x= (vertical line)")
    line = ax.axhline if y is not None else ax.axvline
    line(y if y is not None else x, color=color, ls=ls, lw=lw, label=label, zorder=kw.pop("zorder", 1.5), **kw)
    return ax


def band(ax, x, lo, hi, *, label: str | None, color=GUIDE, alpha=0.2, **kw):
    """A shaded band between ``lo`` and ``hi`` over ``x``, with its meaning as legend label."""
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=label, **kw)
    return ax


def plain_log_axis(ax, axis: str = "x", base: float = 10):
    """Log scale whose tick labels are plain numbers (1, 10, 100; 1, 4, 16 ...), not 10^k or 1.0."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    which = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    narrow = base == 10 and lo > 0 and np.log10(hi / lo) < 2.5  # few decades: label 1, 2, 5 of each
    which.set_major_locator(LogLocator(base=base, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12))
    which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    which.set_minor_formatter(NullFormatter())
    return ax


def integer_axis(ax, axis: str = "x"):
    """Integer ticks only (epochs, sweeps): no 2.5 epochs."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(nbins=6, integer=True))
    return ax


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def plot_cosine_vs_trials(trials, cosine, *, ax=None, spread=None, label=None, base: float = 2,
                          ylabel: str = "cosine with the gradient", **line):
    """Cosine of a trial-averaged update with its reference against the number of trials.

    The curve shared by the stochastic rules (spiking EP, spiking PC, sampled AGREL): ``trials``
    on a log axis with plain tick labels, ``cosine`` as a line with markers, ``spread`` either
    ``(lo, hi)`` (drawn as a band) or one standard deviation (error bars).  Returns the Axes.

    Parameters
    ----------
    trials : array of shape (n,)
        Trials averaged per sample (positive).
    cosine : array of shape (n,)
        Cosine (mean over repeats or seeds).
    spread : array of shape (n,) or pair of arrays, optional
        Standard deviation (error bars) or ``(lo, hi)`` (band).
    """
    ax = _axes(ax)
    trials = np.asarray(trials, dtype=float)
    line = {"marker": "o", **line}
    if spread is None:
        ax.plot(trials, cosine, label=label, **line)
    elif isinstance(spread, tuple):
        (handle,) = ax.plot(trials, cosine, label=label, **line)
        ax.fill_between(trials, spread[0], spread[1], color=handle.get_color(), alpha=0.18, lw=0)
    else:
        ax.errorbar(trials, cosine, yerr=spread, label=label, **line)
    plain_log_axis(ax, "x", base=base)
    ax.set_xlabel("trials averaged")
    ax.set_ylabel(ylabel)
    return ax


def hinton(w, ax=None, wmax: float | None = None):
    """Hinton diagram of matrix ``w`` (rows top to bottom): white positive, black negative,
    square area proportional to ``|w| / wmax``, on a grey ground.  Returns the Axes."""
    from matplotlib.patches import Rectangle

    ax = _axes(ax)
    w = np.asarray(w)
    wmax = float(np.abs(w).max() or 1.0) if wmax is None else wmax
    ax.set_facecolor("0.55")
    for (i, j), v in np.ndenumerate(w):
        size = (abs(v) / wmax) ** 0.5 * 0.95
        ax.add_patch(Rectangle((j - size / 2, i - size / 2), size, size, color="white" if v > 0 else "black"))
    ax.set_xlim(-0.6, w.shape[1] - 0.4)
    ax.set_ylim(w.shape[0] - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


# --------------------------------------------------------------------------- checks and saving
def layout_problems(fig, display_px: float = README_PX, min_px: float = MIN_DISPLAY_PX) -> list[str]:
    """What would make ``fig`` hard to read in the README: texts smaller than ``min_px`` when
    the figure is shown ``display_px`` wide, and texts reaching outside the canvas (clipped)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_in = fig.get_figwidth()
    scale = display_px / (72.0 * width_in)
    canvas = fig.bbox
    problems = []
    # tick labels of ticks outside the view limits exist but are not drawn: no clipping check
    ticks = {id(t) for ax in fig.get_axes() for axis in (ax.xaxis, ax.yaxis)
             for tick in axis.get_major_ticks() + axis.get_minor_ticks() for t in (tick.label1, tick.label2)}
    for text in fig.findobj(lambda a: a.__class__.__name__ in ("Text", "Annotation")):
        if not text.get_visible() or not text.get_text().strip() or (text.axes is not None
                                                                      and not text.axes.get_visible()):
            continue
        ext = text.get_window_extent(renderer)
        if ext.width == 0 or ext.height == 0:
            continue
        shown = text.get_fontsize() * scale
        snippet = text.get_text().replace("\n", " ")[:40]
        if shown < min_px - 1e-9:
            problems.append(f"text '{snippet}' is {text.get_fontsize():g} pt = {shown:.1f} px at {display_px} px "
                            f"wide (< {min_px} px)")
        tol = 1.0
        if id(text) not in ticks and (ext.x0 < canvas.x0 - tol or ext.x1 > canvas.x1 + tol or ext.y0 < canvas.y0 - tol
                or ext.y1 > canvas.y1 + tol):
            problems.append(f"text '{snippet}' reaches outside the figure (clipped)")
    return problems


def save(fig, path: str | Path) -> Path:
    """Save ``fig`` to ``path`` (PNG at :data:`DPI`), warning about :func:`layout_problems`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for problem in layout_problems(fig):
        warnings.warn(f"{path.name}: {problem}", FigureLayoutWarning, stacklevel=2)
    fig.savefig(path, dpi=DPI)
    return path


# --------------------------------------------------------------------------- reading results
class MissingResults(LookupError):
    """An experiment's results are not where a figure script looks (the message names the command)."""


class Results:
    """Where a figure script finds an experiment's raw results: ``<root>/<experiment>/``.

    ``root`` may also be a result file itself (``--results results/x/quick.json``): then
    :meth:`json` reads that file whatever experiment is asked for.  A missing folder or file
    raises :class:`MissingResults` naming the command that writes it.
    """

    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)

    def folder(self, experiment: str, command: str, needs: str = "run.json") -> Path:
        """The folder of ``experiment``, which must hold files matching the glob ``needs``."""
        folder = self.root / experiment
        if not any(folder.glob(needs)):
            raise MissingResults(f"no results at {folder / needs}; run `{command}` first")
        return folder

    def json(self, experiment: str, name: str = "run.json", *, command: str) -> dict:
        """``<root>/<experiment>/<name>`` parsed (or the file given as ``root``)."""
        if self.root.is_file():
            return json.loads(self.root.read_text())
        return json.loads((self.folder(experiment, command, name) / name).read_text())


def missing(message: str):
    """Stop a figure script: ``error: <message>`` on stderr, one line, exit status 2."""
    import sys

    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def figure_parser(script: str, description: str | None) -> argparse.ArgumentParser:
    """The command line every figure script shares.

    ``--results`` (the raw results root, default ``results/``), ``--out`` (default: the PNG
    beside the script), ``--no-shipped`` (fail rather than draw from the shipped data) and
    ``--ship`` (write the figure's data to the shipped file).  ``script`` is the script's
    ``__file__``; its shipped data is ``data/<script name>.json`` beside it.
    """
    here = Path(script).resolve()
    p = argparse.ArgumentParser(description=(description or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results",
                   help="raw results root (what the experiments write; default results/), or a result file")
    p.add_argument("--out", default=str(here.with_suffix(".png")), help="the PNG to write")
    p.add_argument("--no-shipped", action="store_true",
                   help=f"stop when the raw results are missing instead of drawing {here.parent.name}/data/"
                        f"{here.stem}.json")
    p.add_argument("--ship", action="store_true",
                   help=f"also write the figure's data to {here.parent.name}/data/{here.stem}.json")
    p.set_defaults(shipped_file=here.parent / "data" / f"{here.stem}.json")
    return p


def figure_data(args, collect) -> dict:
    """The data a figure draws: ``collect(Results(args.results))`` from the raw results, else
    the shipped copy.

    ``collect`` reads the raw results and returns what the figure draws (JSON-able and small:
    curves, not whole training records).  Its result goes through JSON either way, so the
    figure draws the same structure from raw and from shipped data.  When the raw results are
    missing, the shipped file ``figures/data/<script>.json`` is used (and said on stdout)
    unless ``--no-shipped``; without either the script stops in one line (:func:`missing`).
    ``--ship`` writes the collected data to the shipped file.
    """
    from .results import atomic_write_bytes, to_json

    shipped = Path(args.shipped_file)
    try:
        data = json.loads(to_json(collect(Results(args.results))))
    except MissingResults as exc:
        if args.no_shipped or args.ship or not shipped.is_file():
            missing(str(exc))
        print(f"(drawn from the shipped data {shipped})")
        return json.loads(shipped.read_text())
    if args.ship:
        atomic_write_bytes(shipped, (to_json(data, separators=(",", ":")) + "\n").encode())
        print(f"shipped {shipped} ({shipped.stat().st_size / 1024:.0f} KiB)")
    return data


def source(record: dict, experiment: str, command: str | None = None) -> dict:
    """Where a figure's data came from: the experiment, the command (the record's own when it
    has one, else ``command``, else ``python experiments/<experiment>.py``) and its provenance."""
    prov = record.get("provenance") or {}
    command = record.get("command") or command or f"python experiments/{experiment}.py"
    return {"experiment": experiment, "command": command, "git_sha": prov.get("git_sha"),
            "created": prov.get("created"), "versions": prov.get("versions")}


def whole_record(experiment: str, name: str = "run.json", *, command: str | None = None):
    """A ``collect`` for :func:`figure_data` that takes ``<experiment>/<name>`` as it is (its
    provenance reduced to :func:`source`): for records already small."""
    command = command or f"python experiments/{experiment}.py"

    def collect(results: Results) -> dict:
        record = results.json(experiment, name, command=command)
        return {**{k: v for k, v in record.items() if k != "provenance"},
                "source": source(record, experiment, command)}

    return collect


# --------------------------------------------------------------------------- the compare figure
#: the families of ``neurosim compare`` in the order of its table, with a readable name.
FAMILY_NAMES = {"backprop": "backprop", "feedback_alignment": "feedback alignment",
                "target_propagation": "target propagation", "predictive_coding": "predictive coding",
                "equilibrium": "equilibrium propagation", "dendritic": "dendritic",
                "attention_gated": "attention-gated (reward)", "synthetic_gradients": "synthetic gradients",
                "hebbian": "Hebbian"}
#: a rule whose cosine never leaves 1 by more than this is drawn as a note, not a curve.
IDENTICAL_TOL = 5e-5


def _completed(record: dict) -> list[dict]:
    return [r for r in record["rows"] if r.get("status") != "failed" and r.get("history")]


def _cosines(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (0 = initial weights) and the global cosine at each, NaN where not measured."""
    epochs = [0] + [h["epoch"] for h in row["history"]]
    cos = [row["initial_alignment"]["global"]["cosine"]]
    cos += [(h.get("alignment") or {}).get("global") for h in row["history"]]
    return np.array(epochs), np.array([np.nan if c is None else c for c in cos], dtype=float)


def _hidden_cosines(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and the mean per-projection cosine over a control's hidden projections (all but its
    read-out ``row["readout"]``), NaN where not measured.

    An unsupervised control (the Hebbian rules, :data:`neurosim.compare.CONTROL_FAMILIES`) trains its
    read-out by the delta rule, whose cosine is 1 by construction; its global cosine then measures
    little more than the read-out's share of the update's norm (Krotov-Hopfield's max-normalised hidden
    update is small).  What the control tests is the hidden layers: near 0 expected.
    """
    def mean(projections) -> float:
        cos = [c for name, c in projections.items() if name != row["readout"] and c is not None]
        return float(np.mean(cos)) if cos else np.nan

    epochs = [0] + [h["epoch"] for h in row["history"]]
    first = {p["name"]: p["cosine"] for p in row["initial_alignment"].get("projections", [])}
    cos = [mean(first)] + [mean((h.get("alignment") or {}).get("projections") or {}) for h in row["history"]]
    return np.array(epochs), np.array(cos, dtype=float)


def _expected(row: dict) -> np.ndarray | None:
    """The cosine of a stochastic rule's *expected* update (``alignment.expected_global``), if recorded.

    The main curve of such a rule (AGREL, BrainProp) is the update it applies (one sampled
    action per sample); its expectation over actions is drawn beside it.
    """
    values = [(h.get("alignment") or {}).get("expected_global") for h in row["history"]]
    if all(v is None for v in values):
        return None
    first = row["initial_alignment"].get("expected_global_cosine")
    return np.array([np.nan if v is None else v for v in [first, *values]], dtype=float)


def identical_to_reference(row: dict, tol: float = IDENTICAL_TOL) -> bool:
    """True when the rule's update has cosine 1 (within ``tol``) with its reference at every epoch."""
    _, cos = _cosines(row)
    finite = cos[np.isfinite(cos)]
    return finite.size > 0 and bool(np.all(finite >= 1 - tol))


def label_ends(ax, labels, *, gap: float = 0.075, x: float | None = None):
    """Name curves at their right end, outside the axes (direct labels instead of a legend).

    ``labels`` is a list of ``(y, text, color)`` with ``y`` the curve's last value; labels too
    close are pushed apart to at least ``gap`` (axes fraction per text line).  Returns the Axes.
    """
    from matplotlib.transforms import blended_transform_factory

    if not labels:
        return ax
    lo, hi = ax.get_ylim()
    frac = [(float(np.clip((y - lo) / (hi - lo), 0, 1)), text, color) for y, text, color in labels]
    frac.sort(key=lambda t: t[0])
    heights = [gap * (t.count("\n") + 1) for _, t, _ in frac]
    pos = [frac[0][0]]
    for k in range(1, len(frac)):
        pos.append(max(frac[k][0], pos[-1] + (heights[k] + heights[k - 1]) / 2))
    overshoot = pos[-1] + heights[-1] / 2 - 1.02
    if overshoot > 0:  # push the stack down from the top, keeping the gaps
        pos = [p - overshoot for p in pos]
    trans = blended_transform_factory(ax.transAxes, ax.transAxes)
    for p, (_, text, color) in zip(pos, frac):
        ax.text(1.02 if x is None else x, p, text, color=color, transform=trans, ha="left", va="center",
                fontsize=8.5, clip_on=False)
    return ax


def plot_family_alignment(record: dict, family: str, ax=None, *, colors: dict | None = None,
                          ylim: tuple[float, float] | None = None):
    """One small multiple of the compare figure: the family's rules against backprop.

    Backprop is the thick grey reference at cosine 1; each rule of ``family`` is a curve of
    the global cosine between its update and its reference (epoch 0 = the initial weights),
    named at its right end, except rules at cosine 1 throughout, which are named beside the
    reference instead of being drawn over it.  An unsupervised control (a row with a ``readout``:
    the Hebbian rules, delta-rule read-out at cosine 1 by construction) is drawn as the mean
    per-projection cosine of its hidden projections (:func:`_hidden_cosines`).  Returns the Axes.
    """
    ax = _axes(ax)
    rows = [r for r in _completed(record) if r.get("family") == family]
    colors = colors or {}
    epochs = record["epochs"]
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.plot([0, epochs], [1, 1], color="0.6", lw=4, alpha=0.6, solid_capstyle="butt", zorder=1)
    same, ends = [], []
    for i, row in enumerate(rows):
        ref = row.get("reference", "backprop")
        name = row["rule"] + ("" if ref == "backprop" else f"\n(vs {ref})")
        color = colors.get(row["rule"], series_style(i)["color"])
        x, cos = _cosines(row)
        if row.get("readout"):  # an unsupervised control: its hidden layers are what it tests
            x, cos = _hidden_cosines(row)
            name = f"{row['rule']} (hidden)"
        expected = _expected(row)
        if expected is not None:
            ax.plot(x, expected, color=color, ls=":", lw=1.4, marker="x", ms=3.5)
            ends.append((expected[np.isfinite(expected)][-1], row["rule"] + ", expected", color))
        if identical_to_reference(row):
            same.append(name.replace("\n", " "))
            continue
        ax.plot(x, cos, color=color, marker=MARKERS[i % len(MARKERS)], ms=3.5, lw=1.5)
        ends.append((cos[np.isfinite(cos)][-1], name, color))
    ends.append((1.0, "backprop" + "".join(f"\n= {n}" for n in same), "0.4"))
    ax.set_xlim(0, epochs)
    integer_axis(ax)
    ax.axhline(0, color="0.75", lw=0.8, zorder=0)
    label_ends(ax, ends)
    return ax


def plot_test_error_bars(record: dict, ax=None, *, colors: dict | None = None):
    """Test error (%) of every completed rule after the budget, grouped by family; returns the Axes."""
    ax = _axes(ax)
    rows = _completed(record)
    colors = colors or {}
    x, pos = [], 0.0
    for i, row in enumerate(rows):
        if i and row.get("family") != rows[i - 1].get("family"):
            pos += 0.6
        x.append(pos)
        pos += 1
    errors = [100 * r["test_error"] for r in rows]
    bars = ax.bar(x, errors, color=[colors.get(r["rule"], GUIDE) for r in rows], width=0.8)
    for bar, err in zip(bars, errors):
        ax.annotate(f"{err:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8.5)
    bp = next((r for r in rows if r["rule"] == "backprop"), None)
    if bp is not None:
        guide(ax, y=100 * bp["test_error"], label=f"backprop {100 * bp['test_error']:.1f} %", lw=0.9)
        ax.legend(loc="upper left")
    ax.set_xticks(x, [r["rule"] for r in rows], rotation=40, ha="right", rotation_mode="anchor")
    absent = [r for r in record["rows"] if r not in rows]  # stopped before a first epoch: no bar, said so
    if absent:
        ax.text(0.5, 0.97, "no bar: " + ", ".join(f"{r['rule']} ({r.get('status') or 'failed'})" for r in absent),
                transform=ax.transAxes, ha="center", va="top", fontsize=8.5)
    ax.set_xlim(min(x) - 0.7, max(x) + 0.7)
    ax.set_ylim(0, max(errors) * 1.18)
    ax.set_ylabel("test error (%)")
    ax.grid(axis="x", visible=False)
    return ax


def compare_data(record: dict) -> dict:
    """What :func:`compare_figure` draws from a ``neurosim compare`` record (a smaller record)."""
    keep = ("rule", "family", "reference", "status", "test_error", "train_error", "supervised", "readout")
    rows = []
    for row in record["rows"]:
        init = row.get("initial_alignment") or {}
        rows.append({**{k: row.get(k) for k in keep},
                     "initial_alignment": {k: init[k] for k in ("global", "expected_global_cosine", "projections")
                                           if k in init},
                     "history": [{"epoch": h["epoch"], "test_error": h.get("test_error"),
                                  "alignment": h.get("alignment")} for h in row.get("history") or []]})
    return {**{k: record.get(k) for k in ("dataset", "n_train", "n_test", "sizes", "epochs", "batch_size", "seed")},
            "rows": rows, "source": source(record, "compare", "neurosim compare")}


def compare_colors(record: dict) -> dict:
    """A colour per rule: backprop black, the rules of a family distinct Okabe-Ito colours."""
    out, seen = {}, {}
    for row in record["rows"]:
        fam = row.get("family")
        if row["rule"] == "backprop":
            out["backprop"] = BLACK
            continue
        k = seen.get(fam, 0)
        seen[fam] = k + 1
        out[row["rule"]] = LINE_COLORS[1:][k % (len(LINE_COLORS) - 1)]  # black is backprop's
    return out


def compare_figure(record: dict, folder: Path | str, name: str = "compare.png") -> list[Path]:
    """Draw the compare figure (``neurosim compare``'s record) as ``folder/name``.

    Top: one small multiple per family, the global cosine between each rule's update and the
    exact gradient against epochs, backprop (cosine 1) drawn as the reference in each panel
    and rules identical to it named rather than drawn; bottom: test error (%) after the
    budget.  Returns the list of written files.
    """
    folder = Path(folder)
    rows = _completed(record)
    families = [f for f in dict.fromkeys(r.get("family") for r in rows) if f != "backprop"]
    colors = compare_colors(record)
    cos_min = min((np.nanmin(_cosines(r)[1]) for r in rows), default=0.0)
    lo = min(-0.1, np.floor(cos_min * 10) / 10 - 0.05)
    ncols = 3
    nrows = max(1, -(-len(families) // ncols))
    with style():
        fig, _ = figure(0, height=2.3 * nrows + 3.3)
        top, bottom = fig.subfigures(2, 1, height_ratios=[2.3 * nrows, 3.0])
        axes = np.atleast_1d(top.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
        letters = "abcdefghijklmnop"
        for k, (ax, fam) in enumerate(zip(axes, families)):
            plot_family_alignment(record, fam, ax, colors=colors, ylim=(lo, 1.08))
            title = FAMILY_NAMES.get(fam, fam)
            if any(r.get("readout") for r in rows if r.get("family") == fam):
                title += " controls: hidden layers (mean cos)"
            panel(ax, letters[k], title)
        for ax in axes[len(families):]:
            ax.set_visible(False)
        for k, ax in enumerate(axes[:len(families)]):
            if k + ncols >= len(families):  # nothing below it: it carries the x label
                ax.set_xlabel("epoch")
                ax.tick_params(labelbottom=True)
        for ax in axes[::ncols]:
            ax.set_ylabel("cosine with −∂L/∂W")
        top.suptitle(f"Update vs the exact gradient during training ({record['dataset']}, layers "
                     f"{'-'.join(map(str, record['sizes']))}, seed {record['seed']}; epoch 0 = initial weights)",
                     fontsize=10)
        bx = bottom.subplots()
        plot_test_error_bars(record, bx, colors=colors)
        panel(bx, letters[len(families)], f"test error after {record['epochs']} epochs "
                                          f"({record.get('n_test', '?')} test images)")
        folder.mkdir(parents=True, exist_ok=True)
        path = save(fig, folder / name)
    return [path]

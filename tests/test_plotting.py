"""The figure style and helpers of neurosim.plotting, checked against what they promise.

Expectations come from the definitions (README width 700 px, the Okabe-Ito palette, a rule at
cosine 1 is named and not drawn), not from what the code happens to draw.
"""
import json

import numpy as np
import pytest

from neurosim import plotting as P


def test_palette_is_okabe_ito():
    # Okabe & Ito (2008), the eight colours of Color Universal Design
    assert [c.lower() for c in P.PALETTE] == ["#000000", "#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9",
                                             "#cc79a7", "#f0e442"]


def test_series_styles_distinct_beyond_the_palette():
    styles = [P.series_style(i) for i in range(28)]
    keys = {(s["color"], s["ls"], s["marker"]) for s in styles}
    assert len(keys) == 28
    # the first seven differ in colour alone, and none is the pale yellow
    assert len({s["color"] for s in styles[:7]}) == 7
    assert P.YELLOW not in {s["color"] for s in styles}


def test_rc_fonts_readable_at_readme_width():
    # a font of s pt in a WIDTH-inch figure shown README_PX wide is s * README_PX / (72 * WIDTH) px
    scale = P.README_PX / (72 * P.WIDTH)
    sizes = [P.RC[k] for k in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                               "ytick.labelsize", "legend.fontsize")]
    assert min(sizes) * scale >= P.MIN_DISPLAY_PX


def test_layout_problems_flags_small_and_clipped_text():
    with P.style():
        fig, ax = P.figure(1, 1, height=3)
        ax.plot([0, 1], [0, 1])
        assert P.layout_problems(fig) == []
        ax.text(0.5, 0.5, "tiny", fontsize=5)
        ax.text(1.6, 0.5, "far outside the canvas", transform=ax.transAxes)
        problems = P.layout_problems(fig)
    assert any("tiny" in p and "px" in p for p in problems)
    assert any("far outside" in p and "clipped" in p for p in problems)


def test_save_warns_on_layout_problems(tmp_path):
    with P.style():
        fig, ax = P.figure(1, 1, height=3)
        ax.set_title("x", fontsize=4)
        with pytest.warns(P.FigureLayoutWarning):
            P.save(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_panel_letter_bold_at_left():
    with P.style():
        fig, ax = P.figure(1, 1)
        P.panel(ax, "b", "title")
        assert ax.get_title(loc="left").startswith(r"$\mathbf{b}$")


def test_guide_needs_one_direction_and_a_label():
    with P.style():
        fig, ax = P.figure(1, 1)
        P.guide(ax, y=0.9, label="target")
        assert "target" in ax.get_legend_handles_labels()[1]
        with pytest.raises(ValueError):
            P.guide(ax, x=1, y=1, label="both")


def test_plain_log_axis_labels_are_plain_numbers():
    with P.style():
        fig, ax = P.figure(1, 1)
        P.plot_cosine_vs_trials([1, 10, 100], [0.2, 0.6, 0.9], ax=ax, base=10)
        P.layout_problems(fig)  # draws the figure, so the tick labels exist
        lo, hi = ax.get_xlim()
        labels = {t.get_text() for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi}
    assert {"1", "10", "100"} <= labels
    assert not any("." in t or "^" in t for t in labels)


def test_label_ends_keeps_labels_apart():
    with P.style():
        fig, ax = P.figure(1, 1)
        ax.set_ylim(0, 1)
        P.label_ends(ax, [(0.5, "a", "k"), (0.501, "b", "k"), (0.502, "c", "k")], gap=0.1)
        ys = sorted(t.get_position()[1] for t in ax.texts)
    assert np.all(np.diff(ys) >= 0.1 - 1e-12)


def _record(rows, epochs=3):
    def row(rule, family, cos, err):
        return {"rule": rule, "family": family, "reference": "backprop", "status": "completed", "test_error": err,
                "initial_alignment": {"global": {"cosine": cos[0]}},
                "history": [{"epoch": e + 1, "test_error": err, "alignment": {"global": c}}
                            for e, c in enumerate(cos[1:])]}
    return {"dataset": "digits", "n_test": 10, "sizes": [4, 3, 2], "epochs": epochs, "seed": 0,
            "rows": [row(*r) for r in rows]}


def test_identical_rule_is_named_not_drawn(tmp_path):
    record = _record([("backprop", "backprop", [1, 1, 1, 1], 0.1),
                      ("fa", "feedback_alignment", [0.2, 0.4, 0.5, -0.53], 0.2),
                      ("fa-twin", "feedback_alignment", [1, 1 - 1e-9, 1, 1], 0.1)])
    assert P.identical_to_reference(record["rows"][2])
    assert not P.identical_to_reference(record["rows"][1])
    with P.style():
        fig, ax = P.figure(1, 1)
        P.plot_family_alignment(record, "feedback_alignment", ax, ylim=(-0.7, 1.08))
    # the backprop reference and fa are drawn; fa-twin only named beside the reference
    assert len(ax.lines) == 2 + 1  # reference, fa, the zero line
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "= fa-twin" in texts
    # no clipping: the curve's minimum (-0.53) is inside the axes and the x axis ends at the last epoch
    assert ax.get_ylim()[0] < -0.53 and ax.get_xlim() == (0, 3)


def test_compare_figure_from_data_equals_from_record(tmp_path):
    record = _record([("backprop", "backprop", [1, 1, 1, 1], 0.1),
                      ("fa", "feedback_alignment", [0.2, 0.4, 0.5, -0.53], 0.2)])
    record["provenance"] = {"git_sha": "abc"}
    data = json.loads(json.dumps(P.compare_data(record)))
    a = P.compare_figure(record, tmp_path, "a.png")[0]
    b = P.compare_figure(data, tmp_path, "b.png")[0]
    assert a.read_bytes() == b.read_bytes()


def test_results_missing_names_the_command(tmp_path):
    with pytest.raises(P.MissingResults, match="run `python experiments/x.py` first"):
        P.Results(tmp_path).json("x", command="python experiments/x.py")

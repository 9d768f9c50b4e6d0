"""Alignment metrics against hand-computed values."""
import json
import math

import numpy as np
import pytest

from neurosim.alignment import AlignmentReport, angle_deg, cosine, norm_ratio, sign_agreement
from neurosim.errors import ShapeError


def test_metrics_on_known_vectors():
    a, b = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    assert cosine(a, b) == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert angle_deg(a, b) == pytest.approx(45.0, rel=1e-12)
    assert norm_ratio(a, b) == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert sign_agreement(a, b) == 0.5
    assert angle_deg(a, -a) == pytest.approx(180.0)
    assert cosine(np.ones((2, 3)), 2 * np.ones((2, 3))) == pytest.approx(1.0)


def test_undefined_metrics_are_nan_not_invented():
    z = np.zeros(3)
    assert math.isnan(cosine(z, np.ones(3))) and math.isnan(angle_deg(np.ones(3), z))
    assert norm_ratio(np.ones(3), z) == math.inf and math.isnan(norm_ratio(z, z))


def test_report_per_projection_and_global():
    updates = {"a": np.array([[1.0, 0.0]]), "b": np.array([0.0, 2.0])}
    reference = {"a": np.array([[1.0, 0.0]]), "b": np.array([0.0, -2.0]), "h.bias": np.ones(2)}
    rep = AlignmentReport.compare(updates, reference, rule="r")
    assert [p.name for p in rep.projections] == ["a", "b"]  # biases are not compared by default
    assert rep["a"].cosine == pytest.approx(1.0) and rep["b"].angle_deg == pytest.approx(180.0)
    # global: concatenation [1,0,0,2] . [1,0,0,-2] = 1 - 4 = -3, norms sqrt(5) each
    assert rep.global_cosine == pytest.approx(-3 / 5)
    d = rep.to_dict()
    assert set(d) == {"rule", "backend", "reference", "projections", "global"}
    assert set(d["projections"][0]) == {"name", "cosine", "angle_deg", "norm_ratio", "sign_agreement"}
    assert set(d["global"]) == {"cosine", "angle_deg"}
    json.dumps(d, allow_nan=False)
    assert "global" in rep.table()


def test_report_json_null_for_undefined():
    rep = AlignmentReport.compare({"a": np.zeros(2)}, {"a": np.ones(2)})
    assert rep.to_dict()["projections"][0]["cosine"] is None
    json.dumps(rep.to_dict(), allow_nan=False)


def test_report_errors():
    with pytest.raises(ShapeError, match="no update for 'b'"):
        AlignmentReport.compare({"a": np.ones(2)}, {"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(ShapeError, match="shape"):
        AlignmentReport.compare({"a": np.ones(3)}, {"a": np.ones(2)})

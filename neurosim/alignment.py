"""How well a rule's weight update agrees with the exact gradient.

For a proposed update :math:`\\Delta W` and the reference descent direction
:math:`G = -\\partial L/\\partial W` (both flattened):

* cosine :math:`\\cos\\theta = \\langle \\Delta W, G\\rangle / (\\lVert\\Delta W\\rVert\\,\\lVert G\\rVert)`
  and angle :math:`\\theta = \\arccos(\\cos\\theta)` in degrees (Lillicrap et al. 2016);
* norm ratio :math:`\\lVert\\Delta W\\rVert / \\lVert G\\rVert` (is the step the right size?);
* sign agreement: the fraction of entries where ``sign(dW) == sign(G)``.

The *global* cosine and angle treat all compared projections as one long vector.
A cosine is undefined when either vector is zero; it is then reported as NaN
(``null`` in JSON) rather than invented.

The update and the reference may be arrays of any library on any device
(:mod:`neurosim.arrays`); the metrics are computed in float64 on the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .arrays import check_rule_arrays, library, namespace, to_numpy
from .errors import ShapeError


def _flat(a) -> np.ndarray:
    return np.asarray(to_numpy(a), dtype=np.float64).reshape(-1)


def cosine(a, b) -> float:
    """Cosine similarity of two arrays of equal size (NaN if either is zero)."""
    a, b = _flat(a), _flat(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def angle_deg(a, b) -> float:
    """Angle between two arrays, in degrees (NaN if either is zero)."""
    c = cosine(a, b)
    return float("nan") if math.isnan(c) else math.degrees(math.acos(c))


def norm_ratio(a, b) -> float:
    """:math:`\\lVert a\\rVert / \\lVert b\\rVert` (inf if only ``b`` is zero, NaN if both)."""
    na, nb = np.linalg.norm(_flat(a)), np.linalg.norm(_flat(b))
    if nb == 0:
        return float("nan") if na == 0 else float("inf")
    return float(na / nb)


def sign_agreement(a, b) -> float:
    """Fraction of entries whose signs agree (zeros agree only with zeros)."""
    a, b = _flat(a), _flat(b)
    return float(np.mean(np.sign(a) == np.sign(b))) if a.size else float("nan")


@dataclass(frozen=True)
class ProjectionAlignment:
    """Alignment of one projection's update with the reference."""

    name: str
    cosine: float
    angle_deg: float
    norm_ratio: float
    sign_agreement: float

    def to_dict(self) -> dict:
        return {"name": self.name, "cosine": _json_float(self.cosine), "angle_deg": _json_float(self.angle_deg),
                "norm_ratio": _json_float(self.norm_ratio),
                "sign_agreement": _json_float(self.sign_agreement)}


def _json_float(x: float):
    # JSON has no NaN/inf: an undefined metric is null, never a made-up number.
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class AlignmentReport:
    """Per-projection and global alignment of a rule's updates with a reference.

    Build one with :meth:`compare`; :meth:`to_dict` gives the ``neurosim align --json``
    object and :meth:`table` a text summary.
    """

    rule: str
    backend: str
    reference: str
    projections: tuple[ProjectionAlignment, ...]
    global_cosine: float
    global_angle_deg: float
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def compare(cls, updates: dict, reference: dict, *, names=None, rule: str = "", backend: str = "rate",
                reference_name: str = "backprop", extra: dict | None = None) -> "AlignmentReport":
        """Compare ``updates[name]`` with ``reference[name]`` for each name.

        Parameters
        ----------
        updates : dict of str to ndarray
            The rule's proposed changes ``dW``.
        reference : dict of str to ndarray
            The reference descent directions ``-dL/dW`` (same keys and shapes).
        names : sequence of str, optional
            Which keys to compare; default: the reference keys that are weight
            matrices (not ``.bias``), in the reference's order.
        """
        if names is None:
            names = [k for k in reference if not k.endswith(".bias")]
        rows = []
        flat_u, flat_r = [], []
        for name in names:
            if name not in updates:
                raise ShapeError(f"alignment: the rule proposed no update for '{name}' (it proposed "
                                 f"{', '.join(updates) or 'nothing'})")
            u, r = to_numpy(updates[name]), to_numpy(reference[name])
            if u.shape != r.shape:
                raise ShapeError(f"alignment: update '{name}' has shape {u.shape}, the reference {r.shape}")
            rows.append(ProjectionAlignment(name, cosine(u, r), angle_deg(u, r), norm_ratio(u, r),
                                            sign_agreement(u, r)))
            flat_u.append(_flat(u))
            flat_r.append(_flat(r))
        gu = np.concatenate(flat_u) if flat_u else np.zeros(0)
        gr = np.concatenate(flat_r) if flat_r else np.zeros(0)
        return cls(rule=rule, backend=backend, reference=reference_name, projections=tuple(rows),
                   global_cosine=cosine(gu, gr), global_angle_deg=angle_deg(gu, gr), extra=dict(extra or {}))

    def __getitem__(self, name: str) -> ProjectionAlignment:
        for row in self.projections:
            if row.name == name:
                return row
        raise KeyError(f"no projection '{name}' in this report; it has {[r.name for r in self.projections]}")

    def to_dict(self) -> dict:
        """The ``align --json`` object (docs/design.md contract)."""
        d = {"rule": self.rule, "backend": self.backend, "reference": self.reference,
             "projections": [row.to_dict() for row in self.projections],
             "global": {"cosine": _json_float(self.global_cosine),
                        "angle_deg": _json_float(self.global_angle_deg)}}
        d.update(self.extra)
        return d

    def table(self) -> str:
        """A fixed-width text table, one row per projection plus the global row."""
        head = f"{'projection':<28} {'cosine':>9} {'angle':>8} {'|dW|/|G|':>9} {'sign':>6}"
        lines = [f"rule {self.rule} ({self.backend}) vs {self.reference}", head, "-" * len(head)]
        for r in self.projections:
            lines.append(f"{r.name:<28} {r.cosine:>9.5f} {r.angle_deg:>7.2f}° {r.norm_ratio:>9.3g} "
                         f"{r.sign_agreement:>6.3f}")
        lines.append(f"{'global':<28} {self.global_cosine:>9.5f} {self.global_angle_deg:>7.2f}°")
        for key, value in self.extra.items():  # the rule's diagnostics (expected update, inference, ...)
            if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value is None:
                continue
            lines.append(f"{key:<28} {value:>9.5g}" if isinstance(value, (int, float)) else f"{key:<28} {value}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the measurement
def _scalars(aux: dict, prefix: str = "") -> dict:
    """The JSON-friendly scalar diagnostics of a rule's ``aux`` (nested dicts flattened with '.')."""
    out = {}
    for key, value in (aux or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_scalars(value, name + "."))
        elif isinstance(value, (bool, int, float, str, np.integer, np.floating)):
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def align(rule, network, params: dict, x, target, state=None, *, seed: int = 0,
          backend: str = "rate") -> AlignmentReport:
    """How well ``rule``'s update agrees with its reference gradient, at one state and batch.

    .. math:: \\cos\\theta = \\frac{\\langle \\Delta W, -\\partial L/\\partial W\\rangle}
              {\\lVert\\Delta W\\rVert\\,\\lVert\\partial L/\\partial W\\rVert}

    Parameters
    ----------
    rule : Rule or str
        A rule instance or registered name.
    network : Network
        The description (``rule.network`` adds the rule's pathways; idempotent).
    params : dict
        Parameters (not modified).
    x : ndarray of shape (batch, n_input)
    target : ndarray of shape (batch, n_output) or None
    state : optional
        The rule's state (e.g. the training state at this epoch); default
        ``rule.init(network, params, seed)``.  Never modified: ``updates`` is pure and the
        state it returns is discarded, so measuring during training cannot change training.
    seed : int
        Seeds the initial state when ``state`` is None.

    Returns
    -------
    AlignmentReport
        Against the oracle ``ORACLES[rule.info.reference]``.  The headline is the update the
        rule *applies* (for AGREL/BrainProp: one sampled action per sample); a rule with an
        ``info.expectation`` also reports ``expected_global_cosine`` and
        ``expected_projections`` (the update averaged over its randomness).  ``extra`` holds
        the scalar diagnostics of ``aux`` (inference steps, relaxation counts).
    """
    from .oracles import get_oracle
    from .rules import get_rule
    from .rules.base import check_rule_operations

    rule = get_rule(rule) if isinstance(rule, str) else rule
    check_rule_arrays(rule, library(namespace(x, *params.values())))
    check_rule_operations(rule, network)  # before the rule adds its pathways (issue 17)
    network = rule.network(network)
    if state is None:
        state = rule.init(network, params, seed)
    measured = rule.replace(**rule.info.measure) if rule.info.measure else rule
    dw, _, aux = measured.updates(network, params, state, x, target)
    ref = get_oracle(rule.info.reference)(rule, network, params, x, target)
    extra = _scalars(aux)
    if rule.info.expectation:
        expected = rule.replace(**{**dict(rule.info.measure), **dict(rule.info.expectation)})
        dwe, _, _ = expected.updates(network, params, state, x, target)
        rep = AlignmentReport.compare(dwe, ref)
        extra.update(update="applied (one sampled trial per sample)",
                     expected_global_cosine=_json_float(rep.global_cosine),
                     expected_projections={r.name: _json_float(r.cosine) for r in rep.projections})
    return AlignmentReport.compare(dw, ref, rule=rule.name, backend=backend, reference_name=rule.info.reference,
                                   extra=extra)

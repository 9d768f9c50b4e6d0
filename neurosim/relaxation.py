"""One relaxation engine: the vocabulary, the convergence monitor and the per-call record.

Three rule families compute their update at the fixed point of a dynamics: predictive
coding (PC) relaxes its value nodes by gradient descent on an energy (Whittington & Bogacz
2017), equilibrium propagation (EP) relaxes a layered Hopfield net to the minima of
:math:`E + \\beta C` (Scellier & Bengio 2017), and the dendritic microcircuit settles its
somatic potentials by Gauss-Seidel sweeps (Sacramento et al. 2018).  Each iterates

.. math::  s_{k+1} = s_k + \\epsilon\\,\\big(f(s_k) - s_k\\big)

(for PC :math:`f(v) = v - \\partial F/\\partial v`) until a residual :math:`r_k` falls below a
tolerance or a step cap is reached.  This module holds what they share:

* **one vocabulary** of hyper-parameters, declared with :func:`max_steps_param`,
  :func:`step_size_param`, :func:`tolerance_param` and :func:`on_unconverged_param`:

  ==================  ======================================================================
  ``max_steps``       cap on the number of updates (EP's nudged phases: ``nudged_max_steps``)
  ``step_size``       :math:`\\epsilon`, the Euler / damping step of one update
  ``tolerance``       stop when the residual is ``<= tolerance``
  ``on_unconverged``  what reaching the cap above the tolerance does: ``"raise"``
                      (:class:`~neurosim.errors.ConvergenceError`), ``"warn"``
                      (:class:`RelaxationWarning`) or ``"record"`` (only counted in ``aux``)
  ==================  ======================================================================

  The first edition's names (``n_inference_steps``, ``inference_rate``,
  ``on_nonconvergence``, ``n_free_steps``, ``n_nudged_steps``, ``n_steps``) are rejected
  with the new name (:class:`RelaxationHyper`);
* **one convergence monitor**, :class:`Monitor`: counts the updates, stops at the tolerance or
  the cap, and tells divergence (always an error) from slow convergence (the policy);
* **one record** per relaxation, :class:`Convergence`, and per call of a rule's ``updates``,
  :func:`summarise`, the ``aux["relaxation"]`` entry ``{"phases", "unconverged", "steps",
  "max_residual"}`` that :func:`neurosim.training.train` sums over an epoch.

The layered-energy kernel EP relaxes is :class:`neurosim.energy.EnergyKernel`.

References
----------
Whittington & Bogacz (2017), Neural Comput. 29:1229.  Scellier & Bengio (2017), Front.
Comput. Neurosci. 11:24.  Sacramento, Costa, Bengio & Senn (2018), NeurIPS 31.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .errors import ConfigError, ConvergenceError
from .rules.base import Hyper, param
from .validation import check

__all__ = ["ON_UNCONVERGED", "RENAMED", "Convergence", "Monitor", "RelaxationHyper", "RelaxationWarning",
           "max_steps_param", "on_unconverged_param", "step_size_param", "summarise", "tolerance_param"]

#: What a relaxation that reaches its cap above the tolerance does.
ON_UNCONVERGED = ("raise", "warn", "record")

#: The first edition's names of the relaxation hyper-parameters and their names now.
RENAMED: dict[str, str] = {
    "n_inference_steps": "max_steps",        # pc, pc-fpa
    "inference_rate": "step_size",           # pc, pc-fpa
    "on_nonconvergence": "on_unconverged",   # pc, pc-fpa, microcircuit
    "n_free_steps": "max_steps",             # ep
    "n_nudged_steps": "nudged_max_steps",    # ep
    "n_steps": "max_steps",                  # microcircuit
}

#: A rise of the energy above its running minimum by more than this fraction means the
#: Euler step overshoots (gradient descent with a stable step never raises the energy).
ENERGY_RISE_RTOL = 1e-3


class RelaxationWarning(UserWarning):
    """A relaxation stopped at its step cap above its tolerance (``on_unconverged="warn"``)."""


# --------------------------------------------------------------------------- the vocabulary
def max_steps_param(default: int, doc: str = "") -> Any:
    """The ``max_steps`` field: a cap on the number of updates (an integer >= 1)."""
    return param(default, kind="int", ge=1, doc=doc or "cap on the number of relaxation updates")


def step_size_param(default: float, *, le=None, lt=None, doc: str = "") -> Any:
    """The ``step_size`` field: :math:`\\epsilon > 0` of one update (bounded above where the dynamics need it)."""
    return param(float(default), kind="number", gt=0, le=le, lt=lt,
                 doc=doc or "step of one relaxation update, s <- s + step_size (f(s) - s)")


def tolerance_param(default: float, *, allow_zero: bool = False, doc: str = "") -> Any:
    """The ``tolerance`` field: stop when the residual is at most this (``> 0``; ``>= 0`` if ``allow_zero``)."""
    bounds = {"ge": 0} if allow_zero else {"gt": 0}
    return param(float(default), kind="number", **bounds, doc=doc or "stop when the residual is <= tolerance")


def on_unconverged_param(default: str, doc: str = "") -> Any:
    """The ``on_unconverged`` field: ``"raise"``, ``"warn"`` or ``"record"``."""
    return param(default, choices=ON_UNCONVERGED,
                 doc=doc or "a relaxation that reaches max_steps above the tolerance: raise, warn or record "
                            "(divergence always raises)")


@dataclass(frozen=True)
class RelaxationHyper(Hyper):
    """Base of the hyper-parameter records of rules that relax.

    Adds one thing to :class:`~neurosim.rules.base.Hyper`: a first-edition name of a
    relaxation hyper-parameter (:data:`RENAMED`) or a removed one (:attr:`removed`) is
    rejected with its replacement in one line, where a did-you-mean could not find it
    (``n_inference_steps`` and ``max_steps`` are too far apart).
    """

    #: Removed hyper-parameters and what to do instead (``{"seed": "..."}``).
    removed: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def create(cls, owner: str, values: Mapping[str, Any] | None = None) -> "Hyper":
        values = dict(values or {})
        names = {f.name for f in fields(cls)}
        for key, value in values.items():
            if key in names:
                continue
            new = RENAMED.get(key)
            if new in names:
                raise ConfigError(f"{owner}: hyper-parameter '{key}' was renamed '{new}' (one relaxation vocabulary "
                                  f"for pc, ep and microcircuit: max_steps, step_size, tolerance, on_unconverged); "
                                  f"write {new} = {value!r}")
            if key in cls.removed:
                raise ConfigError(f"{owner}: hyper-parameter '{key}' was removed; {cls.removed[key]}")
        return super().create(owner, values)


# --------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class Convergence:
    """How one relaxation ended.

    Attributes
    ----------
    steps : int
        Updates performed.
    residual : float
        The residual at the returned state (its definition is the rule's: EP's largest
        change of a unit, PC's relative gradient norm, the microcircuit's relative sweep change).
    converged : bool
        ``residual <= tolerance``.
    tolerance : float
        The tolerance used (0: a fixed number of steps, never counted as unconverged).
    """

    steps: int
    residual: float
    converged: bool
    tolerance: float

    @property
    def unconverged(self) -> bool:
        """Whether it stopped at its cap above a tolerance ``> 0``."""
        return self.tolerance > 0 and not self.converged

    def to_dict(self) -> dict:
        """Plain data; an undefined residual is ``None``."""
        return {"steps": self.steps, "residual": self.residual if math.isfinite(self.residual) else None,
                "converged": self.converged, "tolerance": self.tolerance}


def summarise(*records: Convergence) -> dict:
    """The ``aux["relaxation"]`` entry of one ``updates`` call.

    ``{"phases": n, "unconverged": phases stopped at their cap above a tolerance > 0,
    "steps": total updates, "max_residual": largest final residual}``; summed over an epoch by
    :func:`neurosim.training.add_relaxation` (``max_*`` keeps the maximum).
    """
    return {"phases": len(records), "unconverged": sum(r.unconverged for r in records),
            "steps": sum(r.steps for r in records),
            "max_residual": max((r.residual for r in records), default=0.0)}


# --------------------------------------------------------------------------- the monitor
class Monitor:
    """The convergence monitor of every relaxation in neurosim (PC, EP, the microcircuit).

    One object per relaxation.  The loop asks it, at each state, whether to stop::

        monitor = Monitor("rule 'pc'", max_steps=20, tolerance=1e-6, on_unconverged="record",
                          phase="inference", monotone_energy=True)
        while not monitor.stop(residual, energy):
            ...                       # one update of the state
            residual = ...            # at the new state
        convergence = monitor.finish()

    ``stop`` counts the updates (each ``False`` answer is one update), and returns ``True``
    at ``residual <= tolerance`` or after ``max_steps`` updates.  Divergence always raises
    :class:`~neurosim.errors.ConvergenceError`, whatever ``on_unconverged`` says:

    * a non-finite residual or energy;
    * with ``monotone_energy`` (gradient descent on an energy with a stable step): an energy
      above its running minimum by more than :data:`ENERGY_RISE_RTOL` (relative);
    * with ``growth``: a relaxation that ends unconverged with a residual above
      ``growth * initial + growth_floor`` (a relaxation towards a stable fixed point does not
      move away from it; one that did is unstable, not slow).  Not in the fixed-step protocol
      (``tolerance = 0``) of a ``bounded`` state (every rate in a bounded range, e.g. hard
      sigmoid units): its result is the state after ``max_steps`` updates whatever the residual,
      as in published EP code, and a bounded state cannot blow up, so a transient still growing
      at the last step (a nudge that has not yet travelled down every layer) is its answer, not a
      divergence.  Unbounded rates (relu, linear) keep the test: there growth is a blow-up.

    Reaching the cap above a tolerance ``> 0`` is then handled by ``on_unconverged`` in
    :meth:`finish`.  ``tolerance = 0`` is the fixed-step protocol: exactly ``max_steps``
    updates, the residual needed only at the first and the last state
    (:attr:`needs_residual`), never counted as unconverged.

    Parameters
    ----------
    owner : str
        Who relaxes, for messages (``"rule 'ep'"``).
    max_steps : int
    tolerance : float
    on_unconverged : {"raise", "warn", "record"}
    phase : str
        What relaxes, for messages (``"inference"``, ``"free phase"``).
    cap_name : str
        The hyper-parameter that sets the cap, for messages (``"nudged_max_steps"``).
    hint : str
        How to fix a divergence (``"lower step_size (now 0.1)"``).
    monotone_energy : bool
    growth, growth_floor : float, optional
    bounded : bool
        Whether the relaxing state is confined to a bounded set (see ``growth``).
    keep_trace : bool
        Keep every energy passed to :meth:`stop` (:attr:`trace`).
    """

    __slots__ = ("owner", "max_steps", "tolerance", "on_unconverged", "phase", "cap_name", "hint",
                 "monotone_energy", "growth", "growth_floor", "bounded", "steps", "residual", "initial", "lowest",
                 "trace", "_fixed")

    def __init__(self, owner: str, *, max_steps: int, tolerance: float, on_unconverged: str = "raise",
                 phase: str = "relaxation", cap_name: str = "max_steps", hint: str = "",
                 monotone_energy: bool = False, growth: float | None = None, growth_floor: float = 0.0,
                 bounded: bool = False, keep_trace: bool = False):
        check(owner, "on_unconverged", on_unconverged, choices=ON_UNCONVERGED)
        self.owner, self.phase, self.cap_name, self.hint = owner, phase, cap_name, hint
        self.max_steps, self.tolerance, self.on_unconverged = int(max_steps), float(tolerance), on_unconverged
        self.monotone_energy, self.growth, self.growth_floor = monotone_energy, growth, growth_floor
        self.bounded = bool(bounded)
        self.steps = 0
        self.residual = math.inf
        self.initial: float | None = None
        self.lowest = math.inf
        self.trace: list | None = [] if keep_trace else None
        self._fixed = self.tolerance == 0.0

    @property
    def needs_residual(self) -> bool:
        """Whether the next :meth:`stop` needs the residual (always, except between the first and
        the last state of a fixed-step relaxation)."""
        return not self._fixed or self.steps == 0 or self.steps >= self.max_steps

    def _fail(self, what: str) -> None:
        raise ConvergenceError(f"{self.owner}: {self.phase} diverged at step {self.steps}: {what}"
                               + (f"; {self.hint}" if self.hint else ""))

    def stop(self, residual: float | None, energy: float | None = None) -> bool:
        """Record the state reached after :attr:`steps` updates; whether to stop here.

        ``residual`` may be ``None`` where it is not needed (:attr:`needs_residual` false) or
        not known: a relaxation whose residual is the change an update makes (the
        microcircuit's sweeps) passes ``None`` for its start state and then, after each
        update, the change it made.
        """
        if residual is not None:
            if not math.isfinite(residual):
                self._fail("the state became NaN or inf")
            self.residual = residual
            if self.initial is None:
                self.initial = residual
        if energy is not None:
            if not math.isfinite(energy):
                self._fail(f"the energy became {energy}")
            if self.trace is not None:
                self.trace.append(energy)
            if self.monotone_energy and energy > self.lowest * (1 + ENERGY_RISE_RTOL) + 1e-300:
                self._fail(f"the energy rose from {self.lowest:.6g} to {energy:.6g} (gradient descent on the "
                           "energy must not raise it)")
            if energy < self.lowest:
                self.lowest = energy
        if self.steps >= self.max_steps or (not self._fixed and residual is not None
                                            and residual <= self.tolerance):
            return True
        self.steps += 1
        return False

    def finish(self, converged: bool | None = None) -> Convergence:
        """The record of this relaxation, after the divergence test and the ``on_unconverged`` policy.

        ``converged`` overrides ``residual <= tolerance`` (Z-IL's fixed schedule).
        """
        residual = self.residual
        done = residual <= self.tolerance if converged is None else converged
        # The fixed-step protocol defines its result as the state after exactly max_steps updates
        # (never unconverged): with bounded rates a residual still above its start there is the
        # phase's transient (a nudge travelling down the layers), not a blow-up.
        if not done and not (self._fixed and self.bounded) and self.growth is not None and self.initial is not None \
                and residual > self.growth * self.initial + self.growth_floor:
            raise ConvergenceError(f"{self.owner}: {self.phase} diverged (unstable): the residual grew from "
                                   f"{self.initial:.3g} to {residual:.3g} in {self.steps} steps"
                                   + (f"; {self.hint}" if self.hint else ""))
        record = Convergence(steps=self.steps, residual=float(residual), converged=bool(done),
                             tolerance=self.tolerance)
        if record.unconverged and self.on_unconverged != "record":
            msg = (f"{self.owner}: {self.phase} did not converge in {self.cap_name}={self.max_steps} (residual "
                   f"{residual:.3g} > tolerance {self.tolerance:.3g}); raise {self.cap_name} or step_size, or set "
                   "on_unconverged='record' to stop at the cap on purpose (truncated relaxation)")
            if self.on_unconverged == "raise":
                raise ConvergenceError(msg)
            warnings.warn(msg, RelaxationWarning, stacklevel=3)
        return record

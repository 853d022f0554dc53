"""What an attack reports: who attacks whom, what it estimates, the estimate, the truth, the error.

Why this module exists: every attack of the battery (:mod:`ptn.lab.privacy`) answers in the
same shape, so that the audit can print one table and write one ``audit.json`` for all of
them, and a test can compare any attack's error across noise levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the error measures an attack may report
RELATIVE_ERROR = "relative_error"
PRECISION = "precision"
RECALL = "recall"


@dataclass(frozen=True)
class AttackResult:
    """One attack's inference and its score against the truth.

    ``estimate`` and ``truth`` are JSON-able values (numbers, or lists by station and period);
    ``error`` is the headline measure named by ``error_measure`` (a relative error: 0 is a
    perfect inference; precision and recall: 1 is), ``errors`` the attack's further measures.
    ``status`` is ``ok``, or ``not_applicable`` / ``failed`` with the reason in ``message``.
    """

    attack: str
    attacker: str
    target: str
    estimates: str  # what it estimates, in words, with the unit
    estimate: Any
    truth: Any
    error: float
    error_measure: str = RELATIVE_ERROR
    errors: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def headline(self) -> str:
        """The result in one sentence (``the DSO recovers ... within 3.1 %``)."""
        if not self.ok:
            return f"{self.attack}: {self.status}: {self.message}"
        if self.error_measure == RELATIVE_ERROR:
            return (f"{self.attacker} recovers {self.target}'s {self.estimates} within "
                    f"{100 * self.error:.3g} %")
        return (f"{self.attacker} infers {self.target}'s {self.estimates} with "
                f"{self.error_measure} {self.error:.3g}")

    def to_json(self) -> dict[str, Any]:
        """The result as strict JSON values (NaN as None)."""
        return {"attack": self.attack, "attacker": self.attacker, "target": self.target,
                "estimates": self.estimates, "status": self.status, "message": self.message,
                "error_measure": self.error_measure, "error": _number(self.error),
                "errors": {k: _number(v) for k, v in self.errors.items()},
                "estimate": _json(self.estimate), "truth": _json(self.truth),
                "headline": self.headline()}


def relative_error(estimate: Any, truth: Any) -> float:
    """``‖estimate − truth‖₁ / ‖truth‖₁`` over all entries (NaN without a truth)."""
    e = np.asarray(estimate, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    scale = float(np.sum(np.abs(t)))
    if scale == 0 or not np.all(np.isfinite(e)):
        return math.nan
    return float(np.sum(np.abs(e - t))) / scale


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _json(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value

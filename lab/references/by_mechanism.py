"""Which full-information reference a mechanism's negotiated outcome is set beside.

Why this module exists: ``ptn run`` and :func:`ptn.run` report, next to a negotiated agreement,
the optimum a planner holding every operator's model would choose, where the mechanism has one:
joint minimum-cost coordination (``admm``) has the joint optimum
(:func:`~ptn.lab.references.joint.centralized_reference`). The pricing game's references (the
ε-Nash certificate) are part of its own negotiation; profit sharing's (the sweep and the KKT
bilevel problem, :mod:`ptn.lab.references.profit_sharing`) take minutes and are run by tests and
benchmarks, not by every run.
"""

from __future__ import annotations

from ptn.coordinator.mechanisms.joint_coordination import ReferenceSolver
from ptn.lab.references.joint import centralized_reference

REFERENCES: dict[str, ReferenceSolver] = {"admm": centralized_reference}


def reference_solver(mechanism: str) -> ReferenceSolver | None:
    """The full-information reference of a mechanism's outcome, or None if it has none."""
    return REFERENCES.get(mechanism)

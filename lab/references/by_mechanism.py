"""Which full-information reference a mechanism's negotiated outcome is set beside.

Why this module exists: ``ptn run`` and :func:`ptn.run` report, next to a negotiated agreement,
the optimum a planner holding every operator's model would choose, where the mechanism has one:
joint minimum-cost coordination (``admm``) has the joint optimum
(:func:`~ptn.lab.references.joint.centralized_reference`). The pricing game's references (the
ε-Nash certificate) are part of its own negotiation; profit sharing's (the sweep and the KKT
bilevel problem, :mod:`ptn.lab.references.profit_sharing`) take minutes and are run by tests and
benchmarks, not by every run. Every reference is time-boxed (:mod:`ptn.lab.references.time_box`):
one that is not solved in time is reported ``skipped`` with the reason, not waited for.
"""

from __future__ import annotations

from ptn.coordinator.mechanisms.joint_coordination import ReferenceSolver
from ptn.lab.references.joint import centralized_reference
from ptn.lab.references.time_box import time_boxed

REFERENCES: dict[str, ReferenceSolver] = {"admm": centralized_reference}
#: how long a reference is given before it is reported skipped (s): the negotiations it sits
#: beside take seconds to minutes, and the link–node model was still solving after 600 s on
#: Sioux Falls × 24 periods (issue 18)
DEFAULT_TIME_LIMIT_S = 600.0


def reference_solver(mechanism: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S
                     ) -> ReferenceSolver | None:
    """The full-information reference of a mechanism's outcome, or None if it has none; solved
    in a child process and reported ``skipped`` once ``time_limit_s`` has passed
    (:mod:`ptn.lab.references.time_box`), or in this process without a limit (None)."""
    solver = REFERENCES.get(mechanism)
    if solver is None or time_limit_s is None:
        return solver
    return time_boxed(solver, time_limit_s)

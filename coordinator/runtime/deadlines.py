"""Call deadlines that fit the network: a fixed one, or one learnt from the calls themselves.

Why this module exists: a single default deadline cannot fit every network. On the shipped
scenarios a traffic step takes milliseconds; on Sioux Falls with case141, or Eastern
Massachusetts with case69, the traffic department's *first* call takes 90–160 s (it builds its
time-expanded network and its solver compiles its kernels), and a 60 s default failed it with no
hint of the key that sets it. So ``[coordinator] call_timeout_s`` unset (or ``"auto"``) means:

* the first call of each operator and RPC gets :data:`FIRST_CALL_S` (15 min): it pays for
  building models and compiling kernels, which later calls do not;
* every later call gets :data:`GROWTH` times the slowest call of that operator and RPC seen so
  far, never less than :data:`FLOOR_S` (60 s): a step that took 2 s gets 60 s, one that took
  30 s gets 300 s.

A number sets a fixed deadline for every call, as before. Either way a missed deadline is
retried ``retries`` times (issue 15's semantics), and the message that ends the negotiation
names the key, the operator, the RPC, the time waited and a value that would have worked
(:func:`suggested_timeout_s`).
"""

from __future__ import annotations

import math
import threading

#: the deadline of an operator's first call of an RPC under the automatic policy (s)
FIRST_CALL_S = 900.0
#: the automatic deadline of later calls: this many times the slowest call seen ...
GROWTH = 10.0
#: ... and never less than this (s)
FLOOR_S = 60.0
#: deadlines suggested in messages are rounded up to a multiple of this (s)
SUGGESTION_STEP_S = 30.0


class DeadlinePolicy:
    """The deadline of each call: ``fixed_s`` for every call, or (``None``) the automatic
    policy of the module docstring, learnt from :meth:`observe`."""

    def __init__(self, fixed_s: float | None = None) -> None:
        if fixed_s is not None and not fixed_s > 0:
            raise ValueError(f"a call deadline must be positive, got {fixed_s}")
        self.fixed_s = fixed_s
        self._slowest: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @property
    def automatic(self) -> bool:
        return self.fixed_s is None

    def describe(self) -> str:
        """``60 s`` or ``auto``, as the scenario key would say it."""
        return "auto" if self.fixed_s is None else f"{self.fixed_s:g} s"

    def timeout_s(self, operator_id: str, method: str) -> float:
        """The deadline of the next call of ``method`` to ``operator_id`` (s)."""
        if self.fixed_s is not None:
            return self.fixed_s
        with self._lock:
            slowest = self._slowest.get((operator_id, method))
        return FIRST_CALL_S if slowest is None else max(FLOOR_S, GROWTH * slowest)

    def observe(self, operator_id: str, method: str, seconds: float) -> None:
        """A call of ``method`` to ``operator_id`` was answered after ``seconds``."""
        with self._lock:
            key = (operator_id, method)
            self._slowest[key] = max(seconds, self._slowest.get(key, 0.0))

    def slowest_s(self, operator_id: str, method: str) -> float | None:
        """The slowest answered call of ``method`` to ``operator_id`` so far, if any (s)."""
        with self._lock:
            return self._slowest.get((operator_id, method))


def suggested_timeout_s(answered_after_s: float | None, waited_s: float) -> float:
    """A ``call_timeout_s`` that would have worked: 1.5 × the time the operator took when it
    is known (an in-process operator answers late rather than not at all), else twice the time
    waited over every attempt (the operator computes through the retries, so it needs more
    than that); rounded up to :data:`SUGGESTION_STEP_S`."""
    needed = 1.5 * answered_after_s if answered_after_s is not None else 2.0 * waited_s
    return SUGGESTION_STEP_S * max(1, math.ceil(needed / SUGGESTION_STEP_S))

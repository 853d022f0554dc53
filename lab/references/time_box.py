"""A full-information reference with a time limit: solved in a child process, skipped past it.

Why this module exists: a centralized reference is a side computation beside a negotiation, and
the link–node joint model was still solving after 600 s on Sioux Falls × 24 periods where the
negotiation took 15 s. A run must not wait on it without end. A solver inside one call (cvxpy's
canonicalization, Clarabel's iterations) cannot be interrupted from another thread, so
:func:`time_boxed` runs the reference in a child process (``spawn``: a clean interpreter, no
inherited threads of the coordinator or of gRPC) and, once ``time_limit_s`` has passed, ends
that process and reports the reference ``skipped`` with the reason (status :data:`SKIPPED`, NaN
costs, the limit and where it is set in the message), as every mechanism's reference does
(:mod:`ptn.lab.references.by_mechanism`). A reference that raises in the child raises
:class:`ReferenceFailedError` here with the child's message, which
:func:`~ptn.coordinator.mechanisms.joint_coordination.with_reference` reports ``unavailable``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from dataclasses import dataclass
from typing import Any

from ptn.coordinator.mechanisms.joint_coordination import ReferenceSolver, failed_point
from ptn.coordinator.outcome import CostSummary
from ptn.scenario.document import Scenario

#: the status of a reference not solved within its time limit
SKIPPED = "skipped"
#: how long a child process is given to end after it was told to (s)
TERMINATE_GRACE_S = 5.0


class ReferenceFailedError(RuntimeError):
    """The reference raised in its child process (the child's exception type and message)."""


@dataclass(frozen=True)
class TimeBoxedReference:
    """``solver`` run in a child process for at most ``time_limit_s`` seconds (a
    :data:`~ptn.coordinator.mechanisms.joint_coordination.ReferenceSolver`; picklable when
    ``solver`` is a module-level function). ``setting`` names where the limit is set, for the
    skipped reference's message."""

    solver: ReferenceSolver
    time_limit_s: float
    setting: str = "[reference] time_limit_s"

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s!r}")

    def __call__(self, scenario: Scenario) -> tuple[CostSummary | None, str]:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=solve_in_child, args=(self.solver, scenario, sender),
                                  name="ptn-reference", daemon=True)
        process.start()
        sender.close()
        reply: tuple[str, Any] | None = None
        try:
            if receiver.poll(self.time_limit_s):
                reply = receiver.recv()
        except EOFError:  # the child died without a word (killed, out of memory)
            reply = ("error", f"its process ended with exit code {_ended(process, 0.0)}")
        finally:
            receiver.close()
            _ended(process, 0.0 if reply is None else TERMINATE_GRACE_S)
        if reply is None:
            reason = (f"the centralized reference was skipped: not solved within its time limit "
                      f"of {self.time_limit_s:g} s ({self.setting})")
            public = scenario.public
            return failed_point(len(public.stations), public.periods, SKIPPED, reason), reason
        kind, value = reply
        if kind == "error":
            raise ReferenceFailedError(str(value))
        solved: tuple[CostSummary | None, str] = value
        return solved


def time_boxed(solver: ReferenceSolver, time_limit_s: float,
               setting: str = "[reference] time_limit_s") -> TimeBoxedReference:
    """``solver`` with a time limit (module docstring)."""
    return TimeBoxedReference(solver, time_limit_s, setting)


def solve_in_child(solver: ReferenceSolver, scenario: Scenario,
                   sender: multiprocessing.connection.Connection) -> None:
    """The child process: the reference's answer, or its exception as text, sent back."""
    try:
        answer: tuple[str, Any] = ("ok", solver(scenario))
    except Exception as error:  # reported to the parent, which decides
        answer = ("error", f"{type(error).__name__}: {error}")
    sender.send(answer)
    sender.close()


def _ended(process: multiprocessing.process.BaseProcess, wait_s: float) -> int | None:
    """The child's exit code once it ended: given ``wait_s`` to end by itself, then told to."""
    process.join(wait_s)
    if process.is_alive():
        process.terminate()
        process.join(TERMINATE_GRACE_S)
        if process.is_alive():
            process.kill()
    process.join()
    return process.exitcode

"""A time-boxed reference: skipped with the reason past its limit, the same answer within it.

Independent checks: a reference that sleeps far beyond its limit comes back ``skipped`` long
before it would have finished, and its child process is gone; the joint reference solved in a
child process equals the one solved in this process; a reference that raises in the child is
reported ``unavailable`` with the child's message, as one raising in this process is.
"""

from __future__ import annotations

import math
import multiprocessing
import time

import pytest

from ptn.coordinator.mechanisms.joint_coordination import with_reference
from ptn.coordinator.outcome import CostSummary
from ptn.lab.references.by_mechanism import DEFAULT_TIME_LIMIT_S, reference_solver
from ptn.lab.references.joint import centralized_reference
from ptn.lab.references.time_box import SKIPPED, ReferenceFailedError, time_boxed
from ptn.scenario.document import Scenario, load_scenario
from tests.coordinator.mechanisms.test_with_reference import outcome

#: how long the stand-in reference would take (s)
SLEEP_S = 120.0


def sleeping_reference(scenario: Scenario) -> tuple[CostSummary | None, str]:
    time.sleep(SLEEP_S)
    raise AssertionError("a skipped reference is not waited for")


def raising_reference(scenario: Scenario) -> tuple[CostSummary | None, str]:
    raise ValueError("no joint model for this scenario")


def test_a_reference_past_its_time_limit_is_skipped_with_the_reason() -> None:
    scenario = load_scenario("nguyen-dupuis-ieee33")
    started = time.perf_counter()
    result = with_reference(outcome(), scenario, time_boxed(sleeping_reference, 1.0))
    assert time.perf_counter() - started < SLEEP_S / 2
    assert multiprocessing.active_children() == []
    centralized = result.centralized
    assert centralized is not None and centralized.status == SKIPPED
    assert math.isnan(centralized.total) and math.isnan(result.gap_to_centralized)
    reason = ("the centralized reference was skipped: not solved within its time limit of 1 s "
              "([reference] time_limit_s)")
    assert centralized.message == reason and reason in result.message


def test_a_reference_within_its_limit_is_the_one_solved_here() -> None:
    scenario = load_scenario("nguyen-dupuis-ieee33")
    boxed = reference_solver("admm", time_limit_s=DEFAULT_TIME_LIMIT_S)
    assert boxed is not None and boxed is not centralized_reference
    here, reason_here = centralized_reference(scenario)
    there, reason_there = boxed(scenario)
    assert here is not None and there is not None and here.feasible
    assert (there.status, reason_there) == (here.status, reason_here)
    assert there.total == pytest.approx(here.total, rel=1e-9)
    assert there.by_operator == pytest.approx(here.by_operator, rel=1e-9)
    assert reference_solver("admm", time_limit_s=None) is centralized_reference
    assert reference_solver("best-response") is None


def test_a_reference_raising_in_its_process_is_unavailable_with_its_message() -> None:
    boxed = time_boxed(raising_reference, 60.0)
    scenario = load_scenario("nguyen-dupuis-ieee33")
    with pytest.raises(ReferenceFailedError, match="ValueError: no joint model"):
        boxed(scenario)
    result = with_reference(outcome(), scenario, boxed)
    assert result.centralized is not None and result.centralized.status == "unavailable"
    assert "no joint model for this scenario" in result.centralized.message
    with pytest.raises(ValueError, match="time_limit_s must be positive"):
        time_boxed(raising_reference, 0.0)

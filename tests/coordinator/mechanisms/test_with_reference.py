"""A reference beside an outcome: one that cannot be set up is ``unavailable``, never a crash."""

from __future__ import annotations

import math

import numpy as np

from ptn.coordinator.mechanisms.joint_coordination import cost_summary, with_reference
from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, NegotiationStatus
from ptn.coordinator.results.joint_coordination import format_summary_table, results_summary
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import Scenario, load_scenario

AGREED = np.array([[1.0, 2.0], [3.0, 4.0]])


def outcome() -> NegotiationOutcome:
    agreed = cost_summary({"traffic": 10.0, "dso": 5.0}, AGREED, np.full((2, 2), 80.0))
    return NegotiationOutcome(
        negotiation_id="n", mechanism="admm", status=NegotiationStatus.CONVERGED, message="",
        stations=("a", "b"), periods=2, period_hours=1.0, rounds=(), seconds=1.0, agreed=agreed)


def elastic(scenario: Scenario) -> tuple[CostSummary | None, str]:
    raise InvalidInputError("the joint minimum-cost problem needs inelastic EV demand")


def test_a_reference_that_raises_is_unavailable_with_its_reason() -> None:
    scenario = load_scenario("nguyen-dupuis-ieee33")
    result = with_reference(outcome(), scenario, elastic)
    assert result.centralized is not None and result.centralized.status == "unavailable"
    assert math.isnan(result.gap_to_centralized)
    assert "max_load_difference_to_centralized_mw" not in result.extra
    summary = results_summary(result)
    assert summary["centralized"]["status"] == "unavailable"
    assert "needs inelastic EV demand" in summary["centralized"]["message"]
    assert "reference: unavailable (the centralized reference is unavailable: the joint " \
        "minimum-cost problem needs inelastic EV demand)" in format_summary_table(result)


def test_a_solved_reference_gives_the_load_difference() -> None:
    centralized = cost_summary({"traffic": 9.0, "dso": 5.5}, AGREED + 0.25,
                               np.full((2, 2), 79.0))
    result = with_reference(outcome(), load_scenario("nguyen-dupuis-ieee33"),
                            lambda scenario: (centralized, ""))
    assert result.extra["max_load_difference_to_centralized_mw"] == 0.25
    assert result.gap_to_centralized == (15.0 - 14.5) / 14.5
    assert "reference:" not in format_summary_table(result)

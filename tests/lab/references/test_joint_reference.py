"""The joint reference without a solution: its status and a reason that says which side.

The solver's failure is stood in for by a JointSolution with status ``solver_error`` (what
Clarabel's numerical failure on the joint model of an infeasible baseline gave); which side the
reason names is checked on the weak grid of tests/coordinator/mechanisms/test_infeasible_baseline.py
with its voltage floor at 1.02 p.u. (above case33bw's 1.0 p.u. slack, with no generation on the
feeder: infeasible without any charging) and as shipped (0.93 p.u.: the feeder alone is fine).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptn.engines.power.builtin_feeders import case33bw
from ptn.lab.references import joint
from ptn.lab.references.centralized import JointSolution
from ptn.scenario.document import scenario_from_text
from tests.coordinator.mechanisms.test_infeasible_baseline import WEAK_GRID

SOLVER_FAILURE = ("the joint problem is solver_error: attempt 1 (relative gap target 1e-09): "
                  "the solver CLARABEL stopped without a solution (numerical trouble)")


def failing_solver(*arguments: Any, status: str = "solver_error",
                   **options: Any) -> JointSolution:
    nan = float("nan")
    return JointSolution(status=status, message=SOLVER_FAILURE, total_cost=nan,
                         traffic_cost=nan, dso_cost=nan, station_names=("cs6", "cs10"),
                         station_load_mw=np.full((2, 3), nan), price_per_mwh=np.full((2, 3), nan),
                         link_flow=np.zeros(0), seconds=0.0)


@pytest.mark.parametrize(("floor_pu", "side"), [
    (1.02, "power side: the feeder cannot be operated even without EV charging (infeasible"),
    # a stall proves nothing about the charging (tutorial's Sioux Falls x CIGRE MV over two
    # periods: Clarabel stalled where the negotiation converged)
    (0.93, "the feeder can be operated without EV charging, and a solver that stops without a "
           "solution does not show that the EV charging cannot be served"),
])
def test_a_stalled_reference_says_which_side_it_can(monkeypatch: pytest.MonkeyPatch,
                                                    floor_pu: float, side: str) -> None:
    assert (case33bw().slack_voltage_pu < floor_pu) == (floor_pu > 1.0)
    monkeypatch.setattr(joint, "solve_joint_min_cost", failing_solver)
    scenario = scenario_from_text(
        WEAK_GRID.replace("voltage_min_pu = 0.93", f"voltage_min_pu = {floor_pu}"),
        source="weak.toml", base_directory=Path.cwd())
    point, reason = joint.centralized_reference(scenario)
    assert point is not None and point.status == "solver_error" and not point.feasible
    assert math.isnan(point.total) and point.message == reason
    assert reason.startswith(f"the centralized reference is not solved ({SOLVER_FAILURE}): ")
    assert side in reason
    assert "Try another solver" not in reason


def test_a_proven_infeasible_reference_names_the_charging(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(joint, "solve_joint_min_cost",
                        lambda *a, **o: failing_solver(status="infeasible"))
    scenario = scenario_from_text(WEAK_GRID, source="weak.toml", base_directory=Path.cwd())
    _, reason = joint.centralized_reference(scenario)
    assert reason.startswith("the centralized reference is infeasible: the feeder can be "
                             "operated without EV charging, so the EV demand's charging is what "
                             "no dispatch of the feeder serves")

"""The joint minimum-cost reference of a scenario: the full-information optimum of ADMM's game.

Why this module exists: ``ptn run`` and the studies set the negotiated agreement beside the
optimum a planner holding every operator's model would choose (MODELS.md §5). This reads the
traffic department's and the DSO's tables of the scenario (the experimenter's view, which no
operator and no part of the runtime has) and solves the joint problem in one convex model:
UE traffic with :func:`~ptn.lab.references.centralized.solve_joint_min_cost`, logit SUE traffic
(seed 002) with :func:`~ptn.lab.references.centralized_sue.solve_joint_sue_min_cost`.
"""

from __future__ import annotations

from ptn.coordinator.mechanisms.joint_coordination import CONSUMER, SUPPLIER, cost_summary
from ptn.coordinator.outcome import CostSummary
from ptn.engines.traffic.multiperiod import build_multiperiod_problem
from ptn.lab.references.centralized import JointSolution, solve_joint_min_cost
from ptn.lab.references.centralized_sue import JointSueSolution, solve_joint_sue_min_cost
from ptn.scenario.document import Scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.traffic.config import traffic_config_from_part


def centralized_reference(scenario: Scenario) -> tuple[CostSummary | None, str]:
    """The full-information joint optimum (an experimenter's reference; reads every part),
    or None and the reason it has no solution."""
    traffic = traffic_config_from_part(scenario.part(CONSUMER))
    dso = dso_config_from_part(scenario.part(SUPPLIER))
    if traffic.sue is not None:  # logit SUE traffic (seed 002): Fisk's potential, route-based
        solution: JointSolution | JointSueSolution = solve_joint_sue_min_cost(
            traffic.spec, dso.case, theta=traffic.sue.theta_per_dollar)
    else:
        solution = solve_joint_min_cost(build_multiperiod_problem(traffic.spec), dso.case)
    if solution.status != "optimal":
        return None, f"the centralized reference is {solution.status}: {solution.message}"
    order = [list(solution.station_names).index(s) for s in scenario.public.stations]
    return cost_summary({CONSUMER: solution.traffic_cost, SUPPLIER: solution.dso_cost},
                        solution.station_load_mw[order], solution.price_per_mwh[order]), ""

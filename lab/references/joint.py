"""The joint minimum-cost reference of a scenario: the full-information optimum of ADMM's game.

Why this module exists: ``ptn run`` and the studies set the negotiated agreement beside the
optimum a planner holding every operator's model would choose (MODELS.md §5). This reads the
traffic department's and the DSO's tables of the scenario (the experimenter's view, which no
operator and no part of the runtime has) and solves the joint problem in one convex model:
UE traffic with :func:`~ptn.lab.references.centralized.solve_joint_min_cost`, logit SUE traffic
(seed 002) with :func:`~ptn.lab.references.centralized_sue.solve_joint_sue_min_cost`.
"""

from __future__ import annotations

import numpy as np

from ptn.coordinator.mechanisms.joint_coordination import (
    CONSUMER,
    SUPPLIER,
    cost_summary,
    failed_point,
)
from ptn.coordinator.outcome import CostSummary
from ptn.engines.traffic.multiperiod import build_multiperiod_problem
from ptn.engines.traffic.station_capacity import describe_shortfalls
from ptn.lab.references.centralized import JointSolution, solve_joint_min_cost
from ptn.lab.references.centralized_sue import JointSueSolution, solve_joint_sue_min_cost
from ptn.scenario.document import Scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import traffic_config_from_part
from ptn.services.traffic.model import charging_shortfalls

#: a reference's status in a sentence ("the centralized reference is ...")
STATUS_WORDS = {"solver_error": "not solved"}


def centralized_reference(scenario: Scenario) -> tuple[CostSummary | None, str]:
    """The full-information joint optimum (an experimenter's reference; reads every part);
    without a solution, a point with the status (``infeasible``, ``unbounded``,
    ``solver_error``) and the reason, which says which side cannot be served
    (:func:`infeasibility_reason`), and that reason."""
    traffic = traffic_config_from_part(scenario.part(CONSUMER))
    dso = dso_config_from_part(scenario.part(SUPPLIER))
    public = scenario.public
    shortfalls = charging_shortfalls(traffic.spec)
    if shortfalls:  # the reference's pure Davidson delay makes the capacity a hard limit
        reason = ("the centralized reference is infeasible on the traffic side: the stations' "
                  "charging capacity is a hard limit of its Davidson delay, and "
                  + describe_shortfalls(shortfalls))
        return failed_point(len(public.stations), public.periods, "infeasible", reason), reason
    if traffic.sue is not None:  # logit SUE traffic (seed 002): Fisk's potential, route-based
        solution: JointSolution | JointSueSolution = solve_joint_sue_min_cost(
            traffic.spec, dso.case, theta=traffic.sue.theta_per_dollar)
    else:
        solution = solve_joint_min_cost(build_multiperiod_problem(traffic.spec), dso.case)
    if solution.status != "optimal":
        # the solver's own account only when it did not prove infeasibility
        # the solver's own account only when it did not prove infeasibility
        proven = solution.status == "infeasible"
        solver = "" if proven else f" ({solution.message})"
        words = STATUS_WORDS.get(solution.status, solution.status)
        reason = (f"the centralized reference is {words}{solver}: "
                  + infeasibility_reason(scenario, proven=proven))
        return failed_point(len(public.stations), public.periods, solution.status,
                            reason), reason
    order = [list(solution.station_names).index(s) for s in public.stations]
    return cost_summary({CONSUMER: solution.traffic_cost, SUPPLIER: solution.dso_cost},
                        solution.station_load_mw[order], solution.price_per_mwh[order]), ""


def infeasibility_reason(scenario: Scenario, *, proven: bool = True) -> str:
    """Which side a joint problem without a solution fails on, as far as one more solve can
    tell: the DSO's feeders without any EV charging (infeasible: the power side, whatever the
    charging, with the OPF's own explanation), else the charging the EV demand needs when the
    solver ``proven`` the joint problem infeasible; a solver that only stalled proves nothing
    about the charging (the negotiation may well find a point the feeder serves)."""
    dso = DsoModel(dso_config_from_part(scenario.part(SUPPLIER)))
    public = scenario.public
    alone = dso.dispatch_fixed(np.zeros((len(public.stations), public.periods)))
    if not alone.status.has_solution:
        return (f"power side: the feeder cannot be operated even without EV charging "
                f"({alone.status.value}: {alone.message})")
    if not proven:
        return ("the feeder can be operated without EV charging, and a solver that stops "
                "without a solution does not show that the EV charging cannot be served too "
                "(the negotiation's own status says whether it found such a point)")
    return ("the feeder can be operated without EV charging, so the EV demand's charging is "
            "what no dispatch of the feeder serves within its limits (see the baseline)")

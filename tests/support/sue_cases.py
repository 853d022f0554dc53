"""SUE cases several test modules share: two parallel routes, and a result's flows by route.

Why this module exists: the logit SUE's tests (tests/engines/traffic/sue/) check the solver
against answers derived by hand on one OD pair joined by two parallel links; the case and the
reading of its route flows are the same in each.
"""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass
from ptn.engines.traffic.sue import SueResult


def two_route_problem(
    kind: CostKind,
    free_flow_time: tuple[float, float],
    capacity: tuple[float, float] = (1.0, 1.0),
    fixed_cost: tuple[float, float] = (0.0, 0.0),
    value_of_time: float = 1.0,
    demand: float = 100.0,
) -> AssignmentProblem:
    """One OD pair (node 0 -> node 1) joined by two parallel links."""
    links = LinkCosts(
        kind=np.array([kind, kind], dtype=np.int64),
        free_flow_time=np.array(free_flow_time),
        capacity=np.array(capacity),
        alpha=np.array([0.15, 0.15]),
        beta=np.array([4.0, 4.0]),
        fixed_cost=np.array(fixed_cost),
        value_of_time=value_of_time,
    )
    road = DemandClass(
        name="all",
        num_nodes=2,
        arc_tail=np.array([0, 0], dtype=np.int64),
        arc_head=np.array([1, 1], dtype=np.int64),
        arc_link=np.array([0, 1], dtype=np.int64),
        no_through=np.zeros(2, dtype=np.bool_),
        od_origin=np.array([0], dtype=np.int64),
        od_destination=np.array([1], dtype=np.int64),
        od_demand=np.array([demand]),
    )
    return AssignmentProblem(links, (road,))


def route_flows(result: SueResult) -> dict[tuple[int, ...], float]:
    """The flow of each route of ``result``'s only OD pair, keyed by the route's links."""
    (od,) = result.od_path_flows()
    return {links: float(flow) for links, flow in zip(od.links, od.flow, strict=True)}

"""SUE route sets (ptn.engines.traffic.sue.route_sets): generated, given and warm-started routes.

Independent numbers: the SUE over all enumerated routes, the set of all acyclic routes
(:func:`~ptn.engines.traffic.path_sets.enumerate_paths`) and a cold solve of the same demand.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.link_costs import CostKind
from ptn.engines.traffic.path_sets import enumerate_paths
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass
from ptn.engines.traffic.sue import solve_stochastic_equilibrium
from tests.support.sue_cases import two_route_problem


def test_column_generation_and_multiclass_agree_with_enumeration(nd: AssignmentProblem) -> None:
    theta = 1.0
    full = solve_stochastic_equilibrium(nd, theta=theta, criterion="residual", tolerance=1e-8)
    generated = solve_stochastic_equilibrium(nd, theta=theta, path_set="generate",
                                             criterion="residual", tolerance=1e-8)
    assert generated.converged and generated.path_set_mode == "generated"
    assert generated.residual < 1e-6
    enumerated = enumerate_paths(nd)
    assert enumerated is not None
    all_routes = {enumerated.links_of(p) for p in range(enumerated.num_paths)}
    assert {generated.paths.links_of(p) for p in range(generated.num_paths)} <= all_routes
    # the routes column generation leaves out carry little flow at theta = 1 per minute
    assert np.abs(generated.link_flow - full.link_flow).sum() < 0.01 * full.link_flow.sum()
    # and on the generated routes, it is the SUE restricted to them
    given = solve_stochastic_equilibrium(nd, theta=theta, path_set=generated.paths,
                                         method="line-search", criterion="residual",
                                         tolerance=1e-8)
    assert given.path_set_mode == "given"
    assert given.link_flow == pytest.approx(generated.link_flow, abs=1e-6)
    # two classes sharing the roads with the same theta load like one class
    road = nd.classes[0]
    split = AssignmentProblem(
        nd.links,
        (road.with_demand(road.od_demand * 0.3),
         DemandClass("ev", road.num_nodes, road.arc_tail, road.arc_head, road.arc_link,
                     road.no_through, road.od_origin, road.od_destination,
                     road.od_demand * 0.7, road.node_labels)),
        nd.link_labels,
    )
    both = solve_stochastic_equilibrium(split, theta=theta, criterion="residual", tolerance=1e-8)
    assert both.link_flow == pytest.approx(full.link_flow, abs=1e-6)

def test_warm_start_follows_demand_changes_and_rejects_other_networks(
    nd: AssignmentProblem,
) -> None:
    road = nd.classes[0]
    demand = road.od_demand.copy()
    demand[0] = 0.0  # OD 1->2 empty in the first period
    first = solve_stochastic_equilibrium(
        AssignmentProblem(nd.links, (road.with_demand(demand),), nd.link_labels), theta=0.5)
    assert first.paths.num_ods == 3
    second = solve_stochastic_equilibrium(nd, theta=0.5, warm_start=first.warm_start)
    cold = solve_stochastic_equilibrium(nd, theta=0.5)
    assert second.converged and second.paths.num_ods == 4
    assert second.link_flow == pytest.approx(cold.link_flow, abs=1e-5)
    other = two_route_problem(CostKind.CONSTANT, (1.0, 2.0))
    with pytest.raises(InvalidInputError, match="different network"):
        solve_stochastic_equilibrium(other, theta=0.5, warm_start=first.warm_start)

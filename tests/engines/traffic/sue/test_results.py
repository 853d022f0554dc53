"""The SUE result (ptn.engines.traffic.sue.results): route detail and Fisk's objective.

Independent numbers: logit probabilities recomputed from the reported route costs, and Fisk's
objective recomputed here from the route flows (the link loading summed route by route), which
must be lower at the result than at neighbouring feasible flows.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue import solve_stochastic_equilibrium


def test_solution_minimises_fisk_and_carries_route_detail(nd: AssignmentProblem) -> None:
    theta = 0.2
    result = solve_stochastic_equilibrium(nd, theta=theta, criterion="residual", tolerance=1e-9)
    assert result.paths.num_paths == 25  # all acyclic routes of Nguyen-Dupuis
    assert result.path_set_mode == "enumerated"
    for od in result.od_path_flows():
        assert od.flow.sum() == pytest.approx(od.demand)
        # logit: route flows proportional to exp(-theta * cost)
        weights = np.exp(-theta * (od.cost - od.cost.min()))
        assert od.probability == pytest.approx(weights / weights.sum(), abs=1e-10)
    # moving flow between two routes of one OD raises Fisk's objective (it is the minimiser)
    links = nd.links
    flows = result.path_flow

    def fisk(path_flow: np.ndarray) -> float:
        link_flow = np.zeros(nd.num_links)
        for p in range(result.paths.num_paths):
            for a in result.paths.links_of(p):
                link_flow[a] += path_flow[p]
        return links.beckmann(link_flow) + float(np.sum(path_flow * (np.log(path_flow) - 1)))\
            / theta

    assert fisk(flows) == pytest.approx(result.fisk_objective, rel=1e-12)
    for shift in (-1.0, 1.0):
        moved = flows.copy()
        moved[0] += shift
        moved[1] -= shift
        assert fisk(moved) > result.fisk_objective

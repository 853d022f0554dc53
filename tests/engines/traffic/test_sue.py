"""Logit stochastic user equilibrium (ptn.engines.traffic.sue): checks against hand-derived answers.

The two-route cases are solved here independently of the solver: closed-form logit for constant
costs, and the scalar fixed point ``f1 = d * P1(c(f1), c(d - f1))`` by Brent's method for BPR.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from scipy.optimize import brentq

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.path_based import solve_path_based
from ptn.engines.traffic.path_sets import enumerate_paths
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass, problem_from_network
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue import SueResult, solve_stochastic_equilibrium


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
    (od,) = result.od_path_flows()
    return {links: float(flow) for links, flow in zip(od.links, od.flow, strict=True)}


@pytest.fixture(scope="module")
def nd() -> AssignmentProblem:
    return problem_from_network(nguyen_dupuis())


@pytest.fixture(scope="module")
def nd_ue(nd: AssignmentProblem) -> np.ndarray:
    return solve_path_based(nd, gap=1e-12).link_flow


@pytest.mark.parametrize("method", ["newton", "line-search", "msa"])
def test_constant_costs_give_the_closed_form_logit_split(method: str) -> None:
    theta, demand = 0.5, 100.0
    problem = two_route_problem(CostKind.CONSTANT, (10.0, 11.0), fixed_cost=(0.0, 1.0),
                                value_of_time=1.0, demand=demand)
    result = solve_stochastic_equilibrium(problem, theta=theta, method=method)
    # generalized costs 10 and 12: P1 = 1 / (1 + exp(-theta * (12 - 10)))
    expected = demand / (1.0 + math.exp(-theta * 2.0))
    flows = route_flows(result)
    assert result.converged
    assert flows[(0,)] == pytest.approx(expected, abs=1e-6)
    assert flows[(1,)] == pytest.approx(demand - expected, abs=1e-6)
    assert result.link_flow == pytest.approx([expected, demand - expected], abs=1e-6)


@pytest.mark.parametrize("method", ["newton", "line-search"])
def test_bpr_two_routes_match_the_scalar_fixed_point(method: str) -> None:
    theta, demand, vot = 0.3, 100.0, 2.0
    t0, cap, toll = (10.0, 12.0), (40.0, 60.0), (1.5, 0.0)
    problem = two_route_problem(CostKind.BPR, t0, cap, toll, vot, demand)

    def cost(link: int, x: float) -> float:
        return vot * t0[link] * (1.0 + 0.15 * (x / cap[link]) ** 4) + toll[link]

    def excess(f1: float) -> float:  # f1 minus its logit response
        return f1 - demand / (1.0 + math.exp(-theta * (cost(1, demand - f1) - cost(0, f1))))

    expected = brentq(excess, 0.0, demand, xtol=1e-13, rtol=1e-15)
    result = solve_stochastic_equilibrium(problem, theta=theta, method=method,
                                          criterion="residual", tolerance=1e-10)
    assert result.converged
    assert route_flows(result)[(0,)] == pytest.approx(expected, abs=1e-6)
    assert result.residual < 1e-8
    assert result.link_cost == pytest.approx(
        [cost(0, expected), cost(1, demand - expected)], abs=1e-6)


def test_growing_theta_approaches_the_deterministic_ue(
    nd: AssignmentProblem, nd_ue: np.ndarray
) -> None:
    distances = []
    for theta in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0):
        result = solve_stochastic_equilibrium(nd, theta=theta, criterion="residual",
                                              tolerance=1e-4)
        assert result.converged, (theta, result.status)
        distances.append(float(np.abs(result.link_flow - nd_ue).sum()))
    assert all(later < earlier for earlier, later in pairwise(distances))
    # at theta = 100 per minute, total link-flow difference < 0.1 % of total link flow
    assert distances[-1] < 1e-3 * nd_ue.sum()


def test_warm_started_msa_needs_fewer_iterations(nd: AssignmentProblem) -> None:
    theta = 0.5
    base = solve_stochastic_equilibrium(nd, theta=theta, method="msa", tolerance=1e-4)
    road = nd.classes[0]
    busier = AssignmentProblem(nd.links, (road.with_demand(road.od_demand * 1.05),),
                               nd.link_labels)
    cold = solve_stochastic_equilibrium(busier, theta=theta, method="msa", tolerance=1e-4)
    warm = solve_stochastic_equilibrium(busier, theta=theta, method="msa", tolerance=1e-4,
                                        warm_start=base.warm_start)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations / 2
    assert warm.extra["msa_start"] > 1
    reference = solve_stochastic_equilibrium(busier, theta=theta, criterion="residual",
                                             tolerance=1e-9)
    # both stop on the seed's step rule; their flows agree with the exact SUE to within 1 veh/h
    assert np.abs(warm.link_flow - reference.link_flow).max() < 1.0
    assert np.abs(cold.link_flow - reference.link_flow).max() < 1.0
    assert warm.path_flow.sum() == pytest.approx(busier.total_demand)


def test_newton_reaches_the_msa_flows_in_far_fewer_iterations(nd: AssignmentProblem) -> None:
    theta = 0.1
    msa = solve_stochastic_equilibrium(nd, theta=theta, method="msa", tolerance=1e-6)
    newton = solve_stochastic_equilibrium(nd, theta=theta, method="newton", tolerance=1e-6)
    line = solve_stochastic_equilibrium(nd, theta=theta, method="line-search", tolerance=1e-6)
    assert msa.converged and newton.converged and line.converged
    assert newton.iterations * 100 < msa.iterations
    assert line.iterations * 10 < msa.iterations
    assert np.abs(newton.link_flow - msa.link_flow).max() < 0.05
    assert np.abs(line.link_flow - newton.link_flow).max() < 1e-4
    # Newton is at the fixed point; MSA's step rule stops ~1e-2 veh/h short of it
    assert newton.residual < 1e-8 < msa.residual
    assert newton.fisk_objective <= msa.fisk_objective + 1e-9


@pytest.mark.parametrize(
    "theta", [0.0, -1.0, math.nan, math.inf, -math.inf, "abc", "0.5", True, None]
)
def test_invalid_theta_is_refused_with_a_clear_message(
    nd: AssignmentProblem, theta: object
) -> None:
    with pytest.raises(InvalidInputError, match=r"theta .* must be a positive finite number"):
        solve_stochastic_equilibrium(nd, theta=theta)  # type: ignore[arg-type]


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


def test_large_theta_is_solved_by_continuation(nd: AssignmentProblem, nd_ue: np.ndarray) -> None:
    result = solve_stochastic_equilibrium(nd, theta=1000.0, criterion="residual",
                                          tolerance=1e-2)
    assert result.converged
    assert result.extra.get("continuation_stages", 0) >= 1
    assert np.abs(result.link_flow - nd_ue).max() < 0.5


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


def test_iteration_limit_is_reported_not_raised(nd: AssignmentProblem) -> None:
    result = solve_stochastic_equilibrium(nd, theta=0.5, method="msa", max_iterations=5)
    assert result.status == AssignmentStatus.MAX_ITERATIONS
    assert result.iterations == 5
    assert result.summary()["status"] == "max_iterations"

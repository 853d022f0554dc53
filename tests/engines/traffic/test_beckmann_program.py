"""The Beckmann program (cvxpy + Clarabel) against the path-based solver and closed forms.

Independent numbers: the path-based gradient-projection solver (a different algorithm on a
different formulation: path flows, numba) on Nguyen–Dupuis, on the 24-period charging problem of
the product's default scenario and on its ADMM-coupled form (Davidson ``beta`` terms); on tiny
hand-made networks, Beckmann integrals and Wardrop conditions written out here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.beckmann_program import build_beckmann_program, solve_beckmann_program
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
)
from ptn.engines.traffic.path_based import solve_path_based
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass, problem_from_network
from tests.support.traffic_cases import default_traffic

OBJECTIVE_RTOL = 1e-6
FLOW_ATOL_VEH_PER_H = 1e-3


@pytest.fixture(scope="module")
def traffic() -> MultiPeriodProblem:
    return default_traffic()


def physical_links(traffic: MultiPeriodProblem) -> slice:
    """Road and charging links of every period (flows on the virtual shift links need not be
    unique: GV and EV departures from one origin can trade places at equal cost)."""
    return slice(0, traffic.num_periods * traffic.block)


def assert_same_equilibrium(problem: AssignmentProblem, links: slice | None = None) -> None:
    path = solve_path_based(problem, gap=1e-12, max_iterations=2000)
    assert path.relative_gap < 1e-11
    status, flow, objective = solve_beckmann_program(problem)
    assert status == "optimal"
    assert build_beckmann_program(problem).davidson_above_knee(flow).size == 0
    assert objective == pytest.approx(path.objective, rel=OBJECTIVE_RTOL)
    # the objective the program reports is the Beckmann function of the flows it returns
    assert problem.links.beckmann(flow) == pytest.approx(objective, rel=1e-9)
    chosen = slice(None) if links is None else links
    np.testing.assert_allclose(flow[chosen], path.link_flow[chosen], rtol=0,
                               atol=FLOW_ATOL_VEH_PER_H)


def test_nguyen_dupuis_single_class_matches_path_based() -> None:
    assert_same_equilibrium(problem_from_network(nguyen_dupuis()))


def test_multiperiod_charging_problem_matches_path_based(traffic: MultiPeriodProblem) -> None:
    assert_same_equilibrium(traffic.problem, physical_links(traffic))


def test_multiperiod_at_other_prices_matches_mul_ue_solve(traffic: MultiPeriodProblem) -> None:
    periods = traffic.num_periods
    hours = np.arange(periods)
    prices = np.stack([60.0 + 40.0 * (hours >= 12), np.full(periods, 90.0),
                       120.0 - 50.0 * (hours < 7)])
    mul_ue = traffic.solve(prices, gap=1e-12)
    status, flow, objective = solve_beckmann_program(traffic.problem_at(prices))
    assert status == "optimal"
    assert objective == pytest.approx(mul_ue.assignment.objective, rel=OBJECTIVE_RTOL)
    chosen = physical_links(traffic)
    np.testing.assert_allclose(flow[chosen], mul_ue.assignment.link_flow[chosen], rtol=0,
                               atol=FLOW_ATOL_VEH_PER_H)
    station_flow = flow[traffic.station_links()]
    np.testing.assert_allclose(station_flow, mul_ue.station_flow_veh_per_h, rtol=0,
                               atol=FLOW_ATOL_VEH_PER_H)


def test_admm_coupled_problem_with_davidson_beta_matches_path_based(
    traffic: MultiPeriodProblem,
) -> None:
    periods = traffic.num_periods
    rng = np.random.default_rng(7)
    price = rng.uniform(-20.0, 160.0, size=(3, periods))  # dual prices may be negative
    target = rng.uniform(0.0, 0.6, size=(3, periods))
    problem = traffic.coupled_problem_at(CouplingTerms.consumer(price, 80.0, target, 1.0))
    stations = traffic.station_links()
    assert np.all(problem.links.beta[stations] > 0)  # the Davidson beta term is exercised
    assert_same_equilibrium(problem, physical_links(traffic))


def test_pruning_keeps_each_origin_within_its_reachable_periods(
    traffic: MultiPeriodProblem,
) -> None:
    program = build_beckmann_program(traffic.problem)
    # one commodity per (class, origin node): 2 classes x 2 origins x 24 generation periods
    assert program.num_commodities == 2 * 2 * traffic.num_periods
    total_arcs = sum(c.arc_link.size for c in traffic.problem.classes)
    assert program.arc_flow.size < total_arcs * program.num_commodities / 5
    # a commodity leaving generation node "gen <node>@t<ti>" may only use road and station
    # links of periods within the shift limit of ti
    block, periods = traffic.block, traffic.num_periods
    for k in range(program.num_commodities):
        demand_class = traffic.problem.classes[program.commodity_class[k]]
        label = demand_class.node_label(int(program.commodity_origin[k]))
        assert label.startswith("gen ")
        ti = int(label.rsplit("@t", 1)[1])
        link = demand_class.arc_link[program.arc_index[program.arc_commodity == k]]
        period = link[link < periods * block] // block
        assert period.size and np.all(np.abs(period - ti) <= traffic.spec.max_shift_periods)


def two_node_problem(links: LinkCosts, demand: float) -> AssignmentProblem:
    """Every link is a parallel arc from node 0 to node 1; one OD pair 0 -> 1."""
    n = links.num_links
    demand_class = DemandClass(
        name="all", num_nodes=2, arc_tail=np.zeros(n, dtype=np.int64),
        arc_head=np.ones(n, dtype=np.int64), arc_link=np.arange(n, dtype=np.int64),
        no_through=np.zeros(2, dtype=np.bool_), od_origin=np.array([0]),
        od_destination=np.array([1]), od_demand=np.array([demand]),
    )
    return AssignmentProblem(links, (demand_class,))


def davidson_link(t0: float, cap: float, j: float, beta: float, fixed: float,
                  vot: float) -> LinkCosts:
    return LinkCosts(kind=np.array([CostKind.DAVIDSON]), free_flow_time=np.array([t0]),
                     capacity=np.array([cap]), alpha=np.array([j]), beta=np.array([beta]),
                     fixed_cost=np.array([fixed]), value_of_time=vot)


def test_davidson_integral_with_beta_matches_closed_form() -> None:
    t0, cap, j, beta, fixed, vot, demand = 0.5, 30.0, 0.5, 0.02, 4.5, 10.0, 21.0
    status, flow, objective = solve_beckmann_program(
        two_node_problem(davidson_link(t0, cap, j, beta, fixed, vot), demand)
    )
    assert status == "optimal"
    assert flow[0] == pytest.approx(demand, abs=1e-6)
    closed = vot * (t0 * (demand + j * (-demand - cap * np.log(1.0 - demand / cap)))
                    + 0.5 * beta * demand**2) + fixed * demand
    assert objective == pytest.approx(closed, rel=1e-8)


def test_parallel_bpr_davidson_constant_links_reach_wardrop() -> None:
    links = LinkCosts(
        kind=np.array([CostKind.BPR, CostKind.DAVIDSON, CostKind.CONSTANT]),
        free_flow_time=np.array([0.4, 0.3, 1.5]),
        capacity=np.array([20.0, 25.0, 1.0]),
        alpha=np.array([0.15, 0.8, 0.0]),
        beta=np.array([4.0, 0.05, 0.0]),
        fixed_cost=np.array([1.0, 2.0, 0.0]),
        value_of_time=10.0,
    )
    status, flow, _ = solve_beckmann_program(two_node_problem(links, 60.0))
    assert status == "optimal"
    assert flow.sum() == pytest.approx(60.0, abs=1e-6)
    x1, x2 = flow[0], flow[1]
    bpr = 10.0 * 0.4 * (1 + 0.15 * (x1 / 20.0) ** 4) + 1.0
    davidson = 10.0 * (0.3 * (1 + 0.8 * x2 / (25.0 - x2)) + 0.05 * x2) + 2.0
    constant = 15.0
    used = [cost for cost, x in ((bpr, x1), (davidson, x2), (constant, flow[2])) if x > 1e-4]
    assert max(used) - min(used) < 1e-5 * max(used)
    assert min(bpr, davidson, constant) >= min(used) - 1e-5 * min(used)


def test_davidson_link_above_knee_is_reported_and_beyond_capacity_infeasible() -> None:
    links = davidson_link(0.5, 30.0, 0.5, 0.0, 0.0, 10.0)
    problem = two_node_problem(links, 29.0)
    status, flow, _ = solve_beckmann_program(problem)
    assert status == "optimal"
    assert build_beckmann_program(problem).davidson_above_knee(flow).tolist() == [0]
    status, flow, objective = solve_beckmann_program(two_node_problem(links, 31.0))
    assert status == "infeasible"
    assert np.isnan(flow).all() and np.isnan(objective)


def test_no_through_nodes_are_only_left_from_their_own_origin() -> None:
    links = LinkCosts(kind=np.full(3, CostKind.CONSTANT), free_flow_time=np.array([1.0, 1.0, 5.0]),
                      capacity=np.ones(3), alpha=np.zeros(3), beta=np.zeros(3),
                      fixed_cost=np.zeros(3))
    demand_class = DemandClass(
        name="all", num_nodes=3, arc_tail=np.array([0, 1, 0]), arc_head=np.array([1, 2, 2]),
        arc_link=np.arange(3), no_through=np.array([False, True, False]),
        od_origin=np.array([0, 1]), od_destination=np.array([2, 2]),
        od_demand=np.array([10.0, 4.0]),
    )
    status, flow, objective = solve_beckmann_program(AssignmentProblem(links, (demand_class,)))
    assert status == "optimal"
    # 0 -> 2 may not pass through zone 1 (cost 2) and pays 5; zone 1's own trips leave it
    np.testing.assert_allclose(flow, [0.0, 4.0, 10.0], atol=1e-6)
    assert objective == pytest.approx(4.0 + 50.0, rel=1e-8)


def test_invalid_problems_are_rejected() -> None:
    links = davidson_link(0.5, 30.0, 0.5, -0.1, 0.0, 10.0)
    with pytest.raises(InvalidInputError, match="non-convex"):
        build_beckmann_program(two_node_problem(links, 10.0))
    with pytest.raises(InvalidInputError, match="no positive demand"):
        build_beckmann_program(two_node_problem(davidson_link(0.5, 30.0, 0.5, 0.0, 0.0, 1.0),
                                                0.0))
    unreachable = DemandClass(
        name="all", num_nodes=3, arc_tail=np.array([0]), arc_head=np.array([1]),
        arc_link=np.array([0]), no_through=np.zeros(3, dtype=np.bool_),
        od_origin=np.array([0]), od_destination=np.array([2]), od_demand=np.array([1.0]),
        node_labels=("A", "B", "C"),
    )
    with pytest.raises(InvalidInputError, match="A->C"):
        build_beckmann_program(AssignmentProblem(
            davidson_link(0.5, 30.0, 0.5, 0.0, 0.0, 1.0), (unreachable,)
        ))

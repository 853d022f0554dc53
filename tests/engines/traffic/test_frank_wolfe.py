"""Bi-conjugate Frank–Wolfe against numbers computed elsewhere: the TNTP best-known Sioux Falls
objective, relative gaps recomputed with scipy's Dijkstra, and Braess's paradox by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.assignment import solve_user_equilibrium
from ptn.engines.traffic.frank_wolfe import BfwState, solve_biconjugate_frank_wolfe
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.problem import (
    AssignmentProblem,
    DemandClass,
    problem_from_network,
    road_class,
)
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.tntp import read_tntp_network

SIOUX_FALLS_BEST_OBJECTIVE = 42.3133528711e5  # TNTP collection, veh·min


@pytest.fixture(scope="module")
def sioux_falls(tntp_directory: Callable[[str], Path]) -> RoadNetwork:
    return read_tntp_network(tntp_directory("SiouxFalls"))


@pytest.fixture(scope="module")
def braess(tntp_directory: Callable[[str], Path]) -> RoadNetwork:
    return read_tntp_network(tntp_directory("Braess-Example"))


def independent_gap(network: RoadNetwork, flow: np.ndarray) -> tuple[float, float, float]:
    """(TSTT, SPTT, relative gap) from the BPR formula and scipy's Dijkstra, not ptn's kernels."""
    assert network.first_thru_node == 1, "helper assumes every node may be passed through"
    t0, cap, b, power = network.free_flow_time, network.capacity, network.b, network.power
    cost = t0 * (1.0 + b * (flow / cap) ** power)
    cost = cost + network.toll_factor * network.toll + network.distance_factor * network.length
    pairs = set(zip(network.link_tail.tolist(), network.link_head.tolist(), strict=True))
    assert len(pairs) == network.num_links, "helper assumes no parallel links"
    n = network.num_nodes
    graph = csr_matrix((cost, (network.link_tail, network.link_head)), shape=(n, n))
    origins = np.unique(network.od_origin)
    dist = dijkstra(graph, directed=True, indices=origins)
    rows = np.searchsorted(origins, network.od_origin)
    sptt = float(np.sum(network.od_demand * dist[rows, network.od_destination]))
    tstt = float(flow @ cost)
    return tstt, sptt, (tstt - sptt) / tstt


def test_sioux_falls_objective_matches_best_known(sioux_falls: RoadNetwork) -> None:
    result = solve_user_equilibrium(problem_from_network(sioux_falls), algorithm="bfw", gap=1e-5)
    assert result.algorithm == "bfw"
    assert result.status == AssignmentStatus.CONVERGED
    assert result.relative_gap <= 1e-5
    assert result.objective == pytest.approx(SIOUX_FALLS_BEST_OBJECTIVE, rel=1e-5)
    assert result.extra["bfw_steps"] > 0.5 * result.iterations  # mostly bi-conjugate steps


def test_reported_gap_is_the_gap_of_the_returned_flows(sioux_falls: RoadNetwork) -> None:
    result = solve_biconjugate_frank_wolfe(problem_from_network(sioux_falls), gap=1e-5)
    tstt, sptt, gap = independent_gap(sioux_falls, result.link_flow)
    assert sptt < tstt
    assert result.relative_gap == pytest.approx(gap, rel=1e-8)
    assert result.gap_history[-1] == result.relative_gap
    assert len(result.gap_history) == result.iterations + 1
    np.testing.assert_allclose(result.link_cost @ result.link_flow, tstt, rtol=1e-12)


def test_max_iterations_status_and_fresh_gap(sioux_falls: RoadNetwork) -> None:
    result = solve_biconjugate_frank_wolfe(
        problem_from_network(sioux_falls), gap=1e-8, max_iterations=5
    )
    assert result.status == AssignmentStatus.MAX_ITERATIONS
    assert result.iterations == 5 and len(result.gap_history) == 6
    assert result.relative_gap > 1e-8
    # the gap describes the flows returned, not the iterate before them
    assert result.relative_gap == pytest.approx(independent_gap(sioux_falls, result.link_flow)[2],
                                                rel=1e-8)
    assert np.all(result.link_flow >= 0.0)


def test_time_limit_status(sioux_falls: RoadNetwork) -> None:
    result = solve_biconjugate_frank_wolfe(
        problem_from_network(sioux_falls), gap=1e-8, time_limit_seconds=0.0
    )
    assert result.status == AssignmentStatus.TIME_LIMIT
    assert result.iterations == 1


def test_overflowing_costs_are_a_numerical_error_status(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    steep = problem.with_links(replace(problem.links, beta=np.full(problem.num_links, 5000.0)))
    result = solve_biconjugate_frank_wolfe(steep, gap=1e-6)
    assert result.status == AssignmentStatus.NUMERICAL_ERROR
    assert not result.converged and np.isnan(result.relative_gap)


def test_warm_start_continues_the_same_run(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    loose = solve_biconjugate_frank_wolfe(problem, gap=1e-4)
    assert isinstance(loose.warm_start, BfwState)
    continued = solve_biconjugate_frank_wolfe(problem, gap=1e-6, warm_start=loose.warm_start)
    direct = solve_biconjugate_frank_wolfe(problem, gap=1e-6)
    assert continued.converged and direct.converged
    assert loose.iterations + continued.iterations == direct.iterations
    np.testing.assert_allclose(continued.link_flow, direct.link_flow, rtol=1e-12)
    again = solve_biconjugate_frank_wolfe(problem, gap=1e-6, warm_start=direct.warm_start)
    assert again.converged and again.iterations == 0


def test_warm_start_after_a_price_change_converges_in_far_fewer_iterations(
    sioux_falls: RoadNetwork,
) -> None:
    problem = problem_from_network(sioux_falls)
    solved = solve_biconjugate_frank_wolfe(problem, gap=1e-6)
    fixed_cost = problem.links.fixed_cost.copy()
    fixed_cost[::7] += 0.1  # a small toll on every seventh link, in minutes
    priced = problem.with_fixed_cost(fixed_cost)
    warm = solve_biconjugate_frank_wolfe(priced, gap=1e-4, warm_start=solved.warm_start)
    cold = solve_biconjugate_frank_wolfe(priced, gap=1e-4)
    assert warm.converged and cold.converged
    assert warm.iterations * 4 <= cold.iterations
    assert warm.objective == pytest.approx(cold.objective, rel=1e-4)


def test_warm_start_with_changed_demand_stays_feasible(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    solved = solve_biconjugate_frank_wolfe(problem, gap=1e-5)
    demand_class = problem.classes[0]
    scale = np.random.default_rng(7).uniform(0.8, 1.2, demand_class.od_demand.size)
    changed = AssignmentProblem(problem.links, (demand_class.with_demand(
        demand_class.od_demand * scale),), problem.link_labels)
    warm = solve_biconjugate_frank_wolfe(changed, gap=1e-5, warm_start=solved.warm_start)
    cold = solve_biconjugate_frank_wolfe(changed, gap=1e-5)
    assert warm.converged and cold.converged
    assert warm.objective == pytest.approx(cold.objective, rel=1e-5)
    # flow out of each origin zone must equal its new demand (no residue of the old demand)
    out_of_zone_1 = warm.link_flow[sioux_falls.link_tail == 0].sum()
    into_zone_1 = warm.link_flow[sioux_falls.link_head == 0].sum()
    zone_1 = changed.classes[0]
    produced = zone_1.od_demand[zone_1.od_origin == 0].sum()
    attracted = zone_1.od_demand[zone_1.od_destination == 0].sum()
    assert out_of_zone_1 - into_zone_1 == pytest.approx(produced - attracted, rel=1e-9)


def test_warm_start_from_another_network_is_refused(
    sioux_falls: RoadNetwork, braess: RoadNetwork
) -> None:
    braess_state = solve_biconjugate_frank_wolfe(problem_from_network(braess), gap=1e-6)
    with pytest.raises(InvalidInputError, match="5 links but the problem has 76"):
        solve_biconjugate_frank_wolfe(
            problem_from_network(sioux_falls), warm_start=braess_state.warm_start
        )
    problem = problem_from_network(braess)
    path_based = solve_user_equilibrium(problem, gap=1e-6)
    with pytest.raises(InvalidInputError, match="previous bfw result"):
        solve_biconjugate_frank_wolfe(problem, warm_start=path_based.warm_start)


def braess_without_link(network: RoadNetwork, link: int) -> AssignmentProblem:
    """Braess's network with one link closed to traffic (kept in the link set, not the graph)."""
    problem = problem_from_network(network)
    full = problem.classes[0]
    keep = np.flatnonzero(full.arc_link != link)
    closed = DemandClass(
        full.name, full.num_nodes, full.arc_tail[keep], full.arc_head[keep], full.arc_link[keep],
        full.no_through, full.od_origin, full.od_destination, full.od_demand, full.node_labels,
    )
    return AssignmentProblem(problem.links, (closed,), problem.link_labels)


def test_braess_paradox(braess: RoadNetwork) -> None:
    labels = [f"{braess.link_tail[a] + 1}-{braess.link_head[a] + 1}" for a in range(5)]
    assert labels == ["1-3", "1-4", "3-2", "3-4", "4-2"]
    demand = braess.total_demand
    assert demand == 6.0

    with_link = solve_biconjugate_frank_wolfe(problem_from_network(braess), gap=1e-10)
    assert with_link.converged
    np.testing.assert_allclose(with_link.link_flow, [4, 2, 2, 2, 4], atol=1e-4)
    _, sptt, _ = independent_gap(braess, with_link.link_flow)
    assert sptt / demand == pytest.approx(92.0, rel=1e-6)  # every used path costs 92

    without = solve_biconjugate_frank_wolfe(braess_without_link(braess, 3), gap=1e-10)
    assert without.converged
    np.testing.assert_allclose(without.link_flow, [3, 3, 3, 0, 3], atol=1e-4)
    cost = without.link_cost
    assert cost[0] + cost[2] == pytest.approx(83.0, rel=1e-6)
    assert cost[1] + cost[4] == pytest.approx(83.0, rel=1e-6)


def test_two_classes_sharing_links_load_like_one(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    split = AssignmentProblem(problem.links, (
        road_class(sioux_falls, "cars", 0.3 * sioux_falls.od_demand),
        road_class(sioux_falls, "vans", 0.7 * sioux_falls.od_demand),
    ), problem.link_labels)
    one = solve_biconjugate_frank_wolfe(problem, gap=1e-5)
    two = solve_biconjugate_frank_wolfe(split, gap=1e-5)
    assert two.converged
    np.testing.assert_allclose(two.link_flow, one.link_flow, rtol=1e-9, atol=1e-6)


def test_agrees_with_gradient_projection(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    bfw = solve_user_equilibrium(problem, algorithm="bfw", gap=1e-7, max_iterations=5000)
    gp = solve_user_equilibrium(problem, algorithm="gradient-projection", gap=1e-10)
    assert bfw.converged and gp.converged
    assert bfw.objective == pytest.approx(gp.objective, rel=1e-7)
    np.testing.assert_allclose(bfw.link_flow, gp.link_flow, rtol=2e-3, atol=1.0)

"""Deterministic UE against numbers computed elsewhere: TNTP best-known solutions, Wardrop's
conditions on independently enumerated paths, and Braess's paradox by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ptn.engines.traffic.assignment import solve_user_equilibrium
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.path_based import PathState
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.tntp import read_tntp_flows, read_tntp_network

SIOUX_FALLS_BEST_OBJECTIVE = 42.3133528711e5  # TNTP collection, veh·min
CHICAGO_BEST_OBJECTIVE = 17_313_018.7387  # TNTP collection README


def beckmann_by_formula(network: RoadNetwork, flow: np.ndarray) -> float:
    """Sum of BPR integrals plus the linear toll and distance terms, written out here."""
    t0, cap, b, power = network.free_flow_time, network.capacity, network.b, network.power
    with np.errstate(divide="ignore", invalid="ignore"):
        congestion = np.where(b * power > 0, b * flow * (flow / cap) ** power / (power + 1), 0.0)
    constant = np.where(power == 0, b * flow, 0.0)
    fixed = network.toll_factor * network.toll + network.distance_factor * network.length
    return float(np.sum(t0 * (flow + congestion + constant) + fixed * flow))


def test_sioux_falls_matches_best_known(tntp_directory: Callable[[str], Path]) -> None:
    directory = tntp_directory("SiouxFalls")
    network = read_tntp_network(directory)
    result = solve_user_equilibrium(problem_from_network(network), gap=1e-11, max_iterations=2000)
    assert result.converged and result.relative_gap <= 1e-11
    assert beckmann_by_formula(network, result.link_flow) == pytest.approx(
        SIOUX_FALLS_BEST_OBJECTIVE, rel=1e-8
    )
    assert result.objective == pytest.approx(SIOUX_FALLS_BEST_OBJECTIVE, rel=1e-8)
    best = read_tntp_flows(directory / "SiouxFalls_flow.tntp", network).volume
    np.testing.assert_allclose(result.link_flow, best, rtol=1e-4)


def test_chicago_sketch_matches_best_known(tntp_directory: Callable[[str], Path]) -> None:
    directory = tntp_directory("ChicagoSketch")
    network = read_tntp_network(directory)
    result = solve_user_equilibrium(problem_from_network(network), gap=1e-10, max_iterations=500)
    assert result.converged and result.relative_gap <= 1e-10
    assert beckmann_by_formula(network, result.link_flow) == pytest.approx(
        CHICAGO_BEST_OBJECTIVE, rel=1e-6
    )
    best = read_tntp_flows(directory / "ChicagoSketch_flow.tntp", network).volume
    np.testing.assert_allclose(result.link_flow, best, rtol=1e-3, atol=1e-3 * best.max())


def enumerate_paths(network: RoadNetwork, origin: int, destination: int) -> list[list[int]]:
    """All simple paths (as link lists) by depth-first search, written independently."""
    outgoing: dict[int, list[int]] = {}
    for link, tail in enumerate(network.link_tail):
        outgoing.setdefault(int(tail), []).append(link)
    paths: list[list[int]] = []

    def extend(node: int, visited: set[int], links: list[int]) -> None:
        if node == destination:
            paths.append(list(links))
            return
        for link in outgoing.get(node, []):
            head = int(network.link_head[link])
            if head not in visited:
                extend(head, visited | {head}, [*links, link])

    extend(origin, {origin}, [])
    return paths


def test_nguyen_dupuis_satisfies_wardrop() -> None:
    network = nguyen_dupuis()
    result = solve_user_equilibrium(problem_from_network(network), gap=1e-12)
    x = result.link_flow
    link_time = network.free_flow_time * (1 + 0.15 * (x / network.capacity) ** 4)
    state = result.warm_start
    assert isinstance(state, PathState)
    total_cost = float(x @ link_time)
    shortest_total = 0.0
    for od in range(network.od_demand.size):
        origin, destination = int(network.od_origin[od]), int(network.od_destination[od])
        paths = enumerate_paths(network, origin, destination)
        costs = np.array([link_time[path].sum() for path in paths])
        shortest_total += network.od_demand[od] * costs.min()
        # every path the solver uses costs the minimum (used paths equal, none unused cheaper)
        path = state.od_head[od]
        used = 0.0
        while path >= 0:
            links = state.links[state.start[path] : state.start[path] + state.length[path]]
            if state.flow[path] > 0:
                used += state.flow[path]
                assert link_time[links].sum() == pytest.approx(costs.min(), rel=1e-9)
            path = state.next[path]
        assert used == pytest.approx(network.od_demand[od], rel=1e-12)
    assert (total_cost - shortest_total) / total_cost <= 1e-11
    assert len(enumerate_paths(network, 0, 1)) + len(enumerate_paths(network, 0, 2)) > 8


def test_braess_paradox(tntp_directory: Callable[[str], Path]) -> None:
    """6 vehicles: 2 on each of the three routes at cost 92; without link 3->4, 3+3 at 83."""
    network = read_tntp_network(tntp_directory("Braess-Example"))
    result = solve_user_equilibrium(problem_from_network(network), gap=1e-12)
    labels = [network.link_label(link) for link in range(network.num_links)]
    flows = dict(zip(labels, result.link_flow, strict=True))
    assert flows == pytest.approx({"1->3": 4, "1->4": 2, "3->2": 2, "3->4": 2, "4->2": 4}, abs=1e-6)
    costs = dict(zip(labels, result.link_cost, strict=True))
    assert costs["1->3"] + costs["3->2"] == pytest.approx(92, abs=1e-5)
    assert costs["1->3"] + costs["3->4"] + costs["4->2"] == pytest.approx(92, abs=1e-5)
    # close the middle link (a constant cost far above any route) and the paradox disappears
    problem = problem_from_network(network)
    fixed = problem.links.fixed_cost.copy()
    fixed[labels.index("3->4")] = 1e6
    without = solve_user_equilibrium(problem.with_fixed_cost(fixed), gap=1e-12)
    assert without.link_flow[labels.index("3->4")] == pytest.approx(0, abs=1e-9)
    route_cost = without.link_cost[labels.index("1->3")] + without.link_cost[labels.index("3->2")]
    assert route_cost == pytest.approx(83, abs=1e-5)


def test_warm_start_after_small_price_change_is_cheap(
    tntp_directory: Callable[[str], Path],
) -> None:
    network = read_tntp_network(tntp_directory("SiouxFalls"))
    problem = problem_from_network(network)
    cold = solve_user_equilibrium(problem, gap=1e-10)
    fixed = problem.links.fixed_cost.copy()
    fixed[10] += 0.05 * cold.link_cost[10]  # 5 % surcharge on one link
    changed = problem.with_fixed_cost(fixed)
    warm = solve_user_equilibrium(changed, gap=1e-10, warm_start=cold.warm_start)
    recold = solve_user_equilibrium(changed, gap=1e-10)
    assert warm.converged and recold.converged
    assert warm.objective == pytest.approx(recold.objective, rel=1e-9)
    # the warm start begins orders of magnitude closer and needs fewer iterations; its speed-up
    # in seconds is measured in bench/ (docs/benchmarks.md), not here
    assert warm.gap_history[0] < 1e-3 * recold.gap_history[0]
    assert warm.iterations < recold.iterations


def test_iteration_limit_is_a_status_not_an_error() -> None:
    result = solve_user_equilibrium(problem_from_network(nguyen_dupuis()), gap=1e-14,
                                    max_iterations=2)
    assert str(result.status) == "max_iterations"
    assert result.iterations == 2 and result.relative_gap > 1e-14

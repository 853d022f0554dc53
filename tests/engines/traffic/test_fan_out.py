"""One shortest-path tree per period copy (engines/traffic/fan_out.py) gives every origin's tree.

The time-expanded graph of the multi-period equilibrium (Nguyen–Dupuis with four stations, 6
periods) is searched both ways: from every generation node over all its copies (the generic
Dijkstra), and per copy with the trees assembled. The costs are checked against scipy's Dijkstra
on the same arcs (an independent implementation), the trees by tracing every OD pair's path and
adding its arcs' costs, and the kernel's result must not depend on how its groups are split.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.fan_out import fan_out_of
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.multiperiod import MultiPeriodSpec, build_multiperiod_problem
from ptn.engines.traffic.problem import AssignmentProblem, problem_from_network
from ptn.engines.traffic.shortest_path import fan_out_forest, shortest_path_costs

PERIODS = 6
STATION_NODES = [7, 9, 10, 12]


def expanded(max_shift: int) -> AssignmentProblem:
    network = nguyen_dupuis()
    rng = np.random.default_rng(max_shift)
    stations = tuple(ChargingStation(f"CS{node}", node, 200.0, 0.25, 0.5,
                                     rng.uniform(150.0, 250.0, PERIODS))
                     for node in STATION_NODES)
    profile = np.linspace(0.6, 1.0, PERIODS)
    spec = MultiPeriodSpec(
        ChargingNetworkSpec(network, stations),
        gv_demand_veh_per_h=np.outer(profile, network.od_demand * 0.7),
        ev_demand_veh_per_h=np.outer(profile, network.od_demand * 0.3),
        max_shift_periods=max_shift, shift_cost_per_period=3.0, price_sensitivity=1.5,
        base_price_per_mwh=200.0)
    problem = build_multiperiod_problem(spec)
    return problem.problem_at(problem.spec.charging.price_matrix_per_mwh())


def random_costs(problem: AssignmentProblem, seed: int) -> np.ndarray:
    free = problem.links.costs(np.zeros(problem.num_links))
    return free * np.random.default_rng(seed).uniform(0.5, 3.0, problem.num_links)


def scipy_od_costs(graph: CompiledGraph, link_cost: np.ndarray) -> np.ndarray:
    """Each OD's cost by scipy's Dijkstra from its origin (parallel arcs: the cheapest)."""
    order = np.lexsort((link_cost[graph.arc_link], graph.arc_head, graph.arc_tail))
    tail, head = graph.arc_tail[order], graph.arc_head[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    # zero-cost arcs need an explicit epsilon-free representation: scipy drops explicit zeros
    weight = link_cost[graph.arc_link][order][first] + 1e-300
    matrix = csr_matrix((weight, (tail[first], head[first])),
                        shape=(graph.num_nodes, graph.num_nodes))
    distances = dijkstra(matrix, indices=graph.origins)
    origin_row = np.repeat(np.arange(graph.origins.size), np.diff(graph.origin_first_od))
    return np.asarray(distances[origin_row, graph.od_destination])


@pytest.mark.parametrize("max_shift", [1, 2])
def test_per_copy_trees_give_the_generic_costs_and_scipys(max_shift: int) -> None:
    problem = expanded(max_shift)
    graph = compile_graph(problem)
    assert graph.fan_out is not None
    # every origin is a generation node; a group is one origin's generation periods
    assert graph.fan_out.max_roots == PERIODS
    for seed in range(3):
        cost = random_costs(problem, seed)
        fan_total, fan_cost = shortest_path_costs(graph, cost, fan_out=True)
        total, od_cost = shortest_path_costs(graph, cost, fan_out=False)
        np.testing.assert_allclose(fan_cost, od_cost, rtol=1e-13, atol=0.0)
        assert fan_total == pytest.approx(total, rel=1e-13)
        np.testing.assert_allclose(fan_cost, scipy_od_costs(graph, cost), rtol=1e-12)


def test_every_assembled_tree_traces_each_od_path_at_its_cost() -> None:
    problem = expanded(1)
    graph = compile_graph(problem)
    cost = random_costs(problem, 7)
    forest = np.full((graph.origins.size, graph.num_nodes), -7, dtype=np.int32)
    _, od_cost = shortest_path_costs(graph, cost, forest)
    for k, origin in enumerate(graph.origins):
        assert forest[k, origin] == -1
        for od in range(graph.origin_first_od[k], graph.origin_first_od[k + 1]):
            node, total, hops = int(graph.od_destination[od]), 0.0, 0
            while node != origin:
                arc = int(forest[k, node])
                assert arc >= 0 and hops < graph.num_nodes
                total += cost[graph.arc_link[arc]]
                node, hops = int(graph.arc_tail[arc]), hops + 1
            assert total == pytest.approx(od_cost[od], rel=1e-12, abs=1e-12)


def test_the_split_into_chunks_does_not_change_a_bit() -> None:
    problem = expanded(1)
    graph = compile_graph(problem)
    fan = graph.fan_out
    assert fan is not None
    cost = random_costs(problem, 3)
    answers = []
    for chunks in (1, 3, fan.num_groups):
        forest = np.empty((graph.origins.size, graph.num_nodes), dtype=np.int32)
        total, od_cost = fan_out_forest(
            graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through, graph.origins,
            graph.origin_first_od, graph.od_destination, graph.od_demand, cost, forest, True,
            chunks, fan.group_root_first, fan.group_roots, fan.group_origin_first,
            fan.group_origins, fan.arc_root, fan.root_block, fan.block_first, fan.block_nodes,
            fan.block_dead_first, fan.block_dead_ends, fan.max_roots)
        answers.append((total, od_cost, forest))
    for total, od_cost, forest in answers[1:]:
        assert total == answers[0][0]
        assert np.array_equal(od_cost, answers[0][1])
        assert np.array_equal(forest, answers[0][2])


def test_labels_that_do_not_describe_a_fan_out_are_refused() -> None:
    graph = compile_graph(expanded(1))
    fan = graph.fan_out
    assert fan is not None
    labels = np.full(graph.num_nodes, -1, dtype=np.int64)
    labels[fan.block_nodes] = np.repeat(np.arange(fan.block_first.size - 1),
                                        np.diff(fan.block_first))
    args = (graph.first_arc, graph.arc_tail, graph.arc_head, graph.no_through, graph.origins)
    assert fan_out_of(labels, *args) is not None
    # a block node labelled as another block: an arc now crosses blocks
    crossing = labels.copy()
    node = int(fan.block_nodes[fan.block_first[1] + 3])
    crossing[node] = 0
    assert fan_out_of(crossing, *args) is None
    # a copy's origin node that may not be passed through
    blocked = graph.no_through.copy()
    blocked[fan.group_roots[0]] = True
    assert fan_out_of(labels, graph.first_arc, graph.arc_tail, graph.arc_head, blocked,
                      graph.origins) is None
    # a generation node put inside a block
    inside = labels.copy()
    inside[graph.origins[0]] = 0
    assert fan_out_of(inside, *args) is None
    # a static problem has no labels: every origin is searched on its own
    assert compile_graph(problem_from_network(nguyen_dupuis())).fan_out is None

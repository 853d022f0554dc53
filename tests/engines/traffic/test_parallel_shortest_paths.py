"""Shortest paths on all cores: the same numbers with one thread or several, under any threading
layer, checked against scipy's Dijkstra and the TNTP best-known objective.

The solvers promise bit-identical results whatever the thread count (trees are per origin, sums
are per origin then in origin order, batches have a fixed size), so these tests compare with
``array_equal``, and judge the answers with a gap computed by scipy, not by ptn's kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from typer.testing import CliRunner

from ptn.cli.app import app
from ptn.engines.traffic.frank_wolfe import solve_biconjugate_frank_wolfe
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.path_based import solve_path_based
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.shortest_path import (
    shortest_path_costs,
    shortest_path_trees,
    unreachable_od_pairs,
)
from ptn.engines.traffic.tntp import read_tntp_network
from tests.engines.traffic.test_frank_wolfe import SIOUX_FALLS_BEST_OBJECTIVE, independent_gap

CHICAGO_SKETCH_BEST_OBJECTIVE = 17_313_018.7387  # TNTP collection, with the distance term


@pytest.fixture(scope="module")
def sioux_falls(tntp_directory: Callable[[str], Path]) -> RoadNetwork:
    return read_tntp_network(tntp_directory("SiouxFalls"))


@pytest.fixture(scope="module")
def chicago(tntp_directory: Callable[[str], Path]) -> RoadNetwork:
    return read_tntp_network(tntp_directory("ChicagoSketch"))


@pytest.fixture
def threads() -> Iterator[Callable[[int], None]]:
    """Set numba's thread count for one test, restoring it afterwards."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


def scipy_distances(network: RoadNetwork, link_cost: np.ndarray) -> np.ndarray:
    """Origins x nodes shortest distances by scipy (cheapest of parallel links)."""
    n = network.num_nodes
    best: dict[tuple[int, int], float] = {}
    for tail, head, cost in zip(network.link_tail.tolist(), network.link_head.tolist(),
                                link_cost.tolist(), strict=True):
        best[(tail, head)] = min(cost, best.get((tail, head), np.inf))
    tails, heads = zip(*best, strict=True)
    graph = csr_matrix((list(best.values()), (tails, heads)), shape=(n, n))
    return np.asarray(dijkstra(graph, directed=True, indices=np.unique(network.od_origin)))


def test_parallel_shortest_path_costs_match_scipy_with_any_thread_count(
    chicago: RoadNetwork, threads: Callable[[int], None]
) -> None:
    problem = problem_from_network(chicago)
    graph = compile_graph(problem)
    rng = np.random.default_rng(16)
    link_cost = problem.links.costs(rng.uniform(0, 2, problem.num_links) * chicago.capacity)
    dist = scipy_distances(chicago, link_cost)
    origins = np.unique(chicago.od_origin)
    expected_od_cost = dist[np.searchsorted(origins, chicago.od_origin), chicago.od_destination]
    results = []
    for count in (1, numba.config.NUMBA_NUM_THREADS):
        threads(count)
        forest = np.empty((graph.origins.size, graph.num_nodes), dtype=np.int32)
        sptt, od_cost = shortest_path_costs(graph, link_cost, forest)
        results.append((sptt, od_cost, forest))
        # graph OD order -> problem OD order
        by_problem_order = np.empty_like(od_cost)
        by_problem_order[graph.od_order] = od_cost
        np.testing.assert_allclose(by_problem_order, expected_od_cost, rtol=1e-12)
        assert sptt == pytest.approx(float(chicago.od_demand @ expected_od_cost), rel=1e-12)
    assert results[0][0] == results[1][0]  # the same float, not merely close
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
    # a stored tree's path costs exactly the distance scipy found (origin 0 to every node)
    forest = results[1][2]
    origin, head = int(graph.origins[0]), 400
    node, walked = head, 0.0
    while node != origin:
        arc = int(forest[0, node])
        walked += link_cost[graph.arc_link[arc]]
        node = int(graph.arc_tail[arc])
    assert walked == pytest.approx(dist[0, head], rel=1e-12)


def test_tree_batches_equal_one_tree_at_a_time(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    graph = compile_graph(problem)
    link_cost = problem.links.costs(np.zeros(problem.num_links))
    arrays = (graph.origins, graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through)
    batch_dist = np.empty((5, graph.num_nodes))
    batch_pred = np.empty((5, graph.num_nodes), dtype=np.int32)
    filled = shortest_path_trees(19, *arrays, link_cost, batch_dist, batch_pred, 4)
    assert filled == 5  # origins 19..23 of 24
    expected = scipy_distances(sioux_falls, link_cost)[19:24]
    np.testing.assert_allclose(batch_dist, expected, rtol=1e-12)
    tail = shortest_path_trees(22, *arrays, link_cost, batch_dist, batch_pred, 4)
    assert tail == 2  # only two origins are left


@pytest.mark.parametrize("forest_entries", [0, 10**9], ids=["batched-trees", "gap-forest"])
def test_path_based_flows_do_not_depend_on_threads(
    chicago: RoadNetwork, threads: Callable[[int], None], forest_entries: int
) -> None:
    problem = problem_from_network(chicago)
    flows = []
    for count in (1, numba.config.NUMBA_NUM_THREADS):
        threads(count)
        result = solve_path_based(problem, gap=1e-6, max_forest_entries=forest_entries)
        assert result.converged
        flows.append(result.link_flow)
        _, _, gap = independent_gap(chicago, result.link_flow)
        assert gap <= 1e-6
        assert result.relative_gap == pytest.approx(gap, rel=1e-6, abs=1e-12)
        assert result.objective == pytest.approx(CHICAGO_SKETCH_BEST_OBJECTIVE, rel=1e-7)
    np.testing.assert_array_equal(flows[0], flows[1])


def test_gap_forest_and_tree_batches_reach_the_same_equilibrium(sioux_falls: RoadNetwork) -> None:
    problem = problem_from_network(sioux_falls)
    forest = solve_path_based(problem, gap=1e-10)
    batched = solve_path_based(problem, gap=1e-10, max_forest_entries=0, tree_batch=5)
    for result in (forest, batched):
        assert result.converged
        assert independent_gap(sioux_falls, result.link_flow)[2] <= 1e-10
        assert result.objective == pytest.approx(SIOUX_FALLS_BEST_OBJECTIVE, rel=1e-10)
    np.testing.assert_allclose(forest.link_flow, batched.link_flow, rtol=1e-5, atol=1e-3)


def test_bfw_flows_do_not_depend_on_threads(
    chicago: RoadNetwork, threads: Callable[[int], None]
) -> None:
    problem = problem_from_network(chicago)
    flows = []
    for count in (1, numba.config.NUMBA_NUM_THREADS):
        threads(count)
        result = solve_biconjugate_frank_wolfe(problem, gap=1e-3)
        assert result.converged
        flows.append(result.link_flow)
        assert independent_gap(chicago, result.link_flow)[2] == pytest.approx(
            result.relative_gap, rel=1e-8)
    np.testing.assert_array_equal(flows[0], flows[1])


def test_assign_runs_under_the_workqueue_threading_layer(tntp_directory: Callable[[str], Path]
                                                         ) -> None:
    """numba's fallback layer (no OpenMP, no TBB) runs the same parallel kernels, same result.

    Chicago Sketch is large enough for the kernels to go parallel (Sioux Falls stays below
    ``PARALLEL_MIN_WORK`` and would run on one thread).
    """
    script = (
        "import json, sys, numba\n"
        "from ptn.cli.assign import run_assignment\n"
        "summary = run_assignment(network=sys.argv[1], gap=1e-4, threads=2)\n"
        "print(json.dumps({'layer': numba.threading_layer(), **summary}))\n"
    )
    network = str(tntp_directory("ChicagoSketch"))
    outputs = {}
    for layer in ("workqueue", "default"):
        env = {**os.environ, "NUMBA_THREADING_LAYER": layer, "NUMBA_NUM_THREADS": "2"}
        done = subprocess.run([sys.executable, "-c", script, network], env=env, check=True,
                              capture_output=True, text=True, timeout=600)
        outputs[layer] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outputs["workqueue"]["layer"] == "workqueue"
    for summary in outputs.values():
        assert summary["status"] == "converged"
        assert summary["threads"] == 2
        assert summary["relative_gap"] <= 1e-4
        # convexity: objective - optimum <= TSTT - SPTT = gap * TSTT (TSTT about the objective)
        assert summary["objective"] == pytest.approx(CHICAGO_SKETCH_BEST_OBJECTIVE, rel=1.1e-4)
        assert summary["objective"] >= CHICAGO_SKETCH_BEST_OBJECTIVE - 1e-3
    assert outputs["workqueue"]["objective"] == outputs["default"]["objective"]
    assert outputs["workqueue"]["relative_gap"] == outputs["default"]["relative_gap"]


def test_threads_option_out_of_range_is_an_input_error() -> None:
    outcome = CliRunner().invoke(app, ["assign", "--threads", "0"])
    assert outcome.exit_code == 2
    assert "--threads 0" in outcome.output
    too_many = numba.config.NUMBA_NUM_THREADS + 1
    outcome = CliRunner().invoke(app, ["assign", "--threads", str(too_many)])
    assert outcome.exit_code == 2
    assert f"--threads {too_many}" in outcome.output


def test_unreachable_od_pairs_respect_the_zone_rule() -> None:
    """By hand: 0 -> 1 -> 2 -> 3 -> 4 with node 2 a zone (no through traffic)."""
    link_tail = np.array([0, 1, 2, 3])
    link_head = np.array([1, 2, 3, 4])
    no_through = np.array([False, False, True, False, False])
    od_origin = np.array([0, 0, 2, 4, 1, 3])
    od_destination = np.array([3, 2, 3, 0, 4, 4])
    # (0, 3) must pass through zone 2; (4, 0) has no link out of 4; (1, 4) passes through 2
    expected = [0, 3, 4]
    found = unreachable_od_pairs(5, link_tail, link_head, no_through, od_origin, od_destination)
    assert found.tolist() == expected


def test_unreachable_od_pairs_on_a_city_network(
    chicago: RoadNetwork, threads: Callable[[int], None]
) -> None:
    """Chicago Sketch is connected; cutting every link into zone 5 strands exactly its demand."""
    args = (chicago.num_nodes, chicago.link_tail, chicago.link_head, chicago.no_through_nodes(),
            chicago.od_origin, chicago.od_destination)
    for count in (1, numba.config.NUMBA_NUM_THREADS):
        threads(count)
        assert unreachable_od_pairs(*args).size == 0
    keep = chicago.link_head != 4  # node label 5
    cut = unreachable_od_pairs(chicago.num_nodes, chicago.link_tail[keep],
                               chicago.link_head[keep], chicago.no_through_nodes(),
                               chicago.od_origin, chicago.od_destination)
    np.testing.assert_array_equal(cut, np.flatnonzero(chicago.od_destination == 4))

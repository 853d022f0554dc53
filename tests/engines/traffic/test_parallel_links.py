"""Parallel links (same tail and head) keep their identity in every traffic model.

The independent reference is the same network drawn without parallel links: every link that
shares its tail and head with an earlier one is split by a dummy mid node into a link with the
original BPR data (kept at the original link's position) plus a zero-cost constant link appended
at the end. Both files are written here as TNTP, read by the same reader, and solved by the same
solvers; the split network's first ``L`` links are the original links, so their flows must agree
to solver tolerance in UE (every algorithm), logit SUE, multi-period MUL-UE and the charging
network. Flows are also checked to differ between the parallel links, so a solver that merged
them (or split flow evenly) would fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.assignment import ALGORITHMS, solve_user_equilibrium
from ptn.engines.traffic.beckmann_program import solve_beckmann_program
from ptn.engines.traffic.charging import (
    ChargingNetworkSpec,
    ChargingStation,
    build_charging_problem,
)
from ptn.engines.traffic.multiperiod import MultiPeriodSpec, build_multiperiod_problem
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.sue import solve_stochastic_equilibrium
from ptn.engines.traffic.sue_periods import SuePeriodsProblem, SuePeriodsSpec
from ptn.engines.traffic.tntp import read_tntp_flows, read_tntp_network

#: (tail, head, capacity, length, free-flow time, b, power, toll); zones 1 and 2 (first thru
#: node 3); three parallel 3->2 links, two parallel 1->3 links (one tolled), two 4->1 links
LINKS = [
    (1, 3, 100.0, 2.0, 2.0, 0.15, 4.0, 0.0),
    (3, 2, 150.0, 3.0, 4.0, 0.15, 4.0, 0.0),
    (3, 2, 80.0, 3.0, 3.0, 0.5, 4.0, 0.0),
    (1, 4, 120.0, 4.0, 5.0, 0.15, 4.0, 0.0),
    (4, 2, 200.0, 2.0, 1.0, 0.15, 4.0, 0.0),
    (1, 3, 60.0, 2.0, 1.0, 1.0, 2.0, 20.0),
    (3, 2, 50.0, 3.0, 3.5, 0.15, 1.0, 0.0),
    (2, 4, 150.0, 2.0, 1.0, 0.15, 4.0, 0.0),
    (4, 1, 100.0, 4.0, 4.0, 0.15, 4.0, 0.0),
    (4, 1, 70.0, 4.0, 3.0, 0.3, 3.0, 0.0),
    (2, 3, 90.0, 3.0, 3.0, 0.15, 4.0, 0.0),
    (3, 1, 90.0, 2.0, 2.0, 0.15, 4.0, 0.0),
]
DEMAND = {(1, 2): 300.0, (2, 1): 160.0}
TOLL_FACTOR = 0.1
L = len(LINKS)


def write_tntp(directory: Path, links: list[tuple[int, int, float, float, float, float, float,
                                                  float]], nodes: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    header = (f"<NUMBER OF ZONES> 2\r\n<NUMBER OF NODES> {nodes}\r\n<FIRST THRU NODE> 3\r\n"
              f"<NUMBER OF LINKS> {len(links)}\r\n<TOLL FACTOR> {TOLL_FACTOR}\r\n"
              "<END OF METADATA>\r\n\r\n~ init term cap len fftt b power speed toll type ;\r\n")
    rows = "".join(f"\t{t}\t{h}\t{c}\t{d}\t{f}\t{b}\t{p}\t0\t{toll}\t1\t;\r\n"
                   for t, h, c, d, f, b, p, toll in links)
    (directory / "Par_net.tntp").write_text(header + rows, newline="")
    trips = "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 460\n<END OF METADATA>\n\n"
    for origin in (1, 2):
        trips += f"Origin {origin}\n" + "".join(
            f"  {d} : {q};" for (o, d), q in DEMAND.items() if o == origin) + "\n"
    (directory / "Par_trips.tntp").write_text(trips)
    return directory


def split_links() -> tuple[list[tuple[int, int, float, float, float, float, float, float]], int]:
    """The equivalent links without parallels: a repeated tail->head keeps its position with its
    head moved to a new mid node; the zero-cost constant link mid->head is appended."""
    seen: set[tuple[int, int]] = set()
    kept: list[tuple[int, int, float, float, float, float, float, float]] = []
    appended: list[tuple[int, int, float, float, float, float, float, float]] = []
    node = 4
    for tail, head, *data in LINKS:
        if (tail, head) in seen:
            node += 1
            kept.append((tail, node, *data))  # type: ignore[arg-type]
            appended.append((node, head, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        else:
            seen.add((tail, head))
            kept.append((tail, head, *data))  # type: ignore[arg-type]
    return kept + appended, node


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> tuple[RoadNetwork, RoadNetwork]:
    root = tmp_path_factory.mktemp("parallel")
    split, nodes = split_links()
    parallel = read_tntp_network(write_tntp(root / "parallel", LINKS, 4))
    reference = read_tntp_network(write_tntp(root / "split", split, nodes))
    assert reference.num_links == L + 4 and not reference.parallel_links.any()
    return parallel, reference


def test_parallel_links_load_in_file_order_with_unambiguous_labels(
    networks: tuple[RoadNetwork, RoadNetwork],
) -> None:
    parallel, _ = networks
    assert parallel.num_links == L
    assert parallel.free_flow_time.tolist() == [row[4] for row in LINKS]
    labels = parallel.link_labels()
    assert len(set(labels)) == L
    # the header has 8 lines (CRLF); link k is on line 9 + k
    assert labels[1] == "3->2 (line 10)" and labels[6] == "3->2 (line 15)"
    assert labels[3] == "1->4"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_user_equilibrium_matches_the_split_network(
    networks: tuple[RoadNetwork, RoadNetwork], algorithm: str
) -> None:
    parallel, reference = networks
    got = solve_user_equilibrium(problem_from_network(parallel), algorithm=algorithm, gap=1e-10,
                                 max_iterations=20_000)
    want = solve_user_equilibrium(problem_from_network(reference), gap=1e-12)
    assert got.converged and want.converged
    np.testing.assert_allclose(got.link_flow, want.link_flow[:L], atol=1e-3)
    # the parallel 3->2 links carry different flows (merging them would equalise nothing)
    flows = want.link_flow[[1, 2, 6]]
    assert flows.min() > 1.0 and np.ptp(flows) > 1.0


def test_link_node_beckmann_program_keeps_parallel_links_apart(
    networks: tuple[RoadNetwork, RoadNetwork],
) -> None:
    """The cvxpy link-node reference (arcs as columns of the incidence matrix) on the parallel
    network agrees with the path-based UE of the split one."""
    parallel, reference = networks
    status, flow, _ = solve_beckmann_program(problem_from_network(parallel))
    want = solve_user_equilibrium(problem_from_network(reference), gap=1e-12)
    assert status == "optimal"
    np.testing.assert_allclose(flow, want.link_flow[:L], atol=1e-3)


def test_logit_sue_matches_the_split_network(networks: tuple[RoadNetwork, RoadNetwork]) -> None:
    parallel, reference = networks
    got = solve_stochastic_equilibrium(problem_from_network(parallel), theta=0.3,
                                       tolerance=1e-9, criterion="residual")
    want = solve_stochastic_equilibrium(problem_from_network(reference), theta=0.3,
                                        tolerance=1e-9, criterion="residual")
    assert got.path_set_mode == want.path_set_mode == "enumerated"
    assert got.paths.num_paths == want.paths.num_paths  # one route per choice of parallel link
    np.testing.assert_allclose(got.link_flow, want.link_flow[:L], atol=1e-6)
    routes = {got.paths.links_of(p) for p in range(got.paths.num_paths)}
    assert (0, 1) in routes and (0, 2) in routes and (5, 6) in routes


def stations(periods: int) -> tuple[ChargingStation, ...]:
    return (ChargingStation("cs3", 3, 40.0, 0.5, 0.5, np.full(periods, 120.0)),
            ChargingStation("cs4", 4, 30.0, 0.5, 0.5, np.full(periods, 100.0)))


def test_charging_network_matches_the_split_network(
    networks: tuple[RoadNetwork, RoadNetwork],
) -> None:
    flows = []
    for network in networks:
        spec = ChargingNetworkSpec(network, stations(1))
        problem = build_charging_problem(spec, 0.8 * network.od_demand, 0.2 * network.od_demand)
        result = problem.solve(gap=1e-12, max_iterations=5000)
        assert result.converged
        flows.append((problem.road_link_flow_veh_per_h(result)[:L],
                      problem.station_flow_veh_per_h(result)))
    np.testing.assert_allclose(flows[0][0], flows[1][0], atol=1e-3)
    np.testing.assert_allclose(flows[0][1], flows[1][1], atol=1e-3)


def test_multi_period_and_sue_periods_match_the_split_network(
    networks: tuple[RoadNetwork, RoadNetwork],
) -> None:
    profile = np.array([0.6, 1.0, 0.8])
    ue_flows, sue_flows = [], []
    for network in networks:
        demand = np.outer(profile, network.od_demand)
        charging = ChargingNetworkSpec(network, stations(profile.size))
        spec = MultiPeriodSpec(charging, demand * 0.8, demand * 0.2, max_shift_periods=1,
                               shift_cost_per_period=3.0, price_sensitivity=0.0)
        result = build_multiperiod_problem(spec).solve(gap=1e-12, max_iterations=5000)
        assert result.converged
        ue_flows.append(result.road_link_flow_veh_per_h[:, :L])
        sue = SuePeriodsProblem(SuePeriodsSpec(charging, demand * 0.8, demand * 0.2,
                                               method="newton", tolerance_veh_per_h=1e-7,
                                               criterion="residual")).solve()
        assert sue.converged
        sue_flows.append(sue.road_link_flow_veh_per_h[:, :L])
    np.testing.assert_allclose(ue_flows[0], ue_flows[1], atol=1e-3)
    np.testing.assert_allclose(sue_flows[0], sue_flows[1], atol=1e-5)


def test_flow_file_rows_of_parallel_links_align_in_order(
    networks: tuple[RoadNetwork, RoadNetwork], tmp_path: Path
) -> None:
    parallel, _ = networks
    rows = "".join(f"{t} {h} {10.0 * k} {k} ;\n" for k, (t, h, *_) in enumerate(LINKS))
    path = tmp_path / "Par_flow.tntp"
    path.write_text("From To Volume Cost\n" + rows)
    assert read_tntp_flows(path, parallel).volume.tolist() == [10.0 * k for k in range(L)]
    path.write_text("From To Volume Cost\n" + rows + "3 2 1 1 ;\n")
    with pytest.raises(InvalidInputError, match=r"Par_flow\.tntp:14: link 3->2 is not in the "
                                                r"network \(more rows than parallel links\)"):
        read_tntp_flows(path, parallel)

"""Charging-station assignment on Nguyen–Dupuis with seed 001's stations (nodes 7, 9, 10, 12).

Every assertion compares with something computed here, not by the module: demand and charging
counts from the solver's raw path arrays, link costs from MODELS.md §1 formulas, and Wardrop's
conditions against EV paths enumerated by depth-first search on the road links.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import (
    ChargingNetworkSpec,
    ChargingProblem,
    ChargingStation,
    build_charging_problem,
)
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.result import AssignmentResult
from tests.support.charging_oracle import (
    ENERGY_PER_CHARGE_MWH,
    ev_paths,
    live_paths,
    road_costs_usd,
    simple_road_paths,
    station_costs_usd,
)
from tests.support.traffic_cases import zone_network

STATION_NODES = [7, 9, 10, 12]
CAPACITY = np.array([180.0, 200.0, 240.0, 260.0])
CHARGING_TIME_H = np.array([0.25, 0.3, 0.2, 0.25])
DAVIDSON_J = np.array([0.5, 0.5, 0.8, 1.0])
PRICES = np.array([200.0, 190.0, 230.0, 210.0])
EV_SHARE = 0.3


def stations(prices: np.ndarray = PRICES) -> tuple[ChargingStation, ...]:
    return tuple(
        ChargingStation(f"CS{node}", node, float(CAPACITY[s]), float(CHARGING_TIME_H[s]),
                        float(DAVIDSON_J[s]), np.array([prices[s]]))
        for s, node in enumerate(STATION_NODES)
    )


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return nguyen_dupuis()


@pytest.fixture(scope="module")
def charging(network: RoadNetwork) -> ChargingProblem:
    spec = ChargingNetworkSpec(network, stations())
    return build_charging_problem(
        spec, network.od_demand * (1 - EV_SHARE), network.od_demand * EV_SHARE
    )


@pytest.fixture(scope="module")
def solved(charging: ChargingProblem) -> AssignmentResult:
    result = charging.solve(gap=1e-11)
    assert result.converged
    return result


def independent_link_costs(
    network: RoadNetwork, flow: np.ndarray, prices: np.ndarray
) -> np.ndarray:
    road = network.num_links
    return np.concatenate([
        road_costs_usd(network, flow[:road]),
        station_costs_usd(flow[road:], CAPACITY, CHARGING_TIME_H, DAVIDSON_J, prices),
    ])


def test_every_ev_path_charges_once_and_demand_is_met(
    network: RoadNetwork, solved: AssignmentResult
) -> None:
    road, num_od = network.num_links, network.od_demand.size
    served = np.zeros(2 * num_od)
    charging_flow = np.zeros(len(STATION_NODES))
    for key, links, flow in live_paths(solved.warm_start):
        served[key] += flow
        chargers = [link - road for link in links if link >= road]
        if key < num_od:  # GV
            assert chargers == []
        else:
            assert len(chargers) == 1
            charging_flow[chargers[0]] += flow
    np.testing.assert_allclose(served[:num_od], network.od_demand * (1 - EV_SHARE), rtol=1e-9)
    np.testing.assert_allclose(served[num_od:], network.od_demand * EV_SHARE, rtol=1e-9)
    np.testing.assert_allclose(charging_flow.sum(), network.total_demand * EV_SHARE, rtol=1e-9)
    np.testing.assert_allclose(solved.link_flow[road:], charging_flow, rtol=1e-9, atol=1e-9)


def test_station_load_is_charging_flow_times_energy(
    network: RoadNetwork, charging: ChargingProblem, solved: AssignmentResult
) -> None:
    flow = solved.link_flow[network.num_links :]
    np.testing.assert_allclose(charging.station_flow_veh_per_h(solved), flow)
    np.testing.assert_allclose(charging.station_load_mw(solved), flow * ENERGY_PER_CHARGE_MWH)
    assert charging.station_load_mw(solved).sum() == pytest.approx(
        network.total_demand * EV_SHARE * 0.045, rel=1e-9
    )


def test_costs_are_in_dollars_with_hours(network: RoadNetwork, solved: AssignmentResult) -> None:
    expected = independent_link_costs(network, solved.link_flow, PRICES)
    np.testing.assert_allclose(solved.link_cost, expected, rtol=1e-12)


def test_class_flows_split_the_road_flow(
    network: RoadNetwork, charging: ChargingProblem, solved: AssignmentResult
) -> None:
    road = network.num_links
    by_class = {"GV": np.zeros(road), "EV": np.zeros(road)}
    for key, links, flow in live_paths(solved.warm_start):
        for link in links:
            if link < road:
                by_class["GV" if key < network.od_demand.size else "EV"][link] += flow
    flows = charging.class_road_link_flows(solved)
    for name in ("GV", "EV"):
        np.testing.assert_allclose(flows[name], by_class[name], atol=1e-9)
    np.testing.assert_allclose(flows["GV"] + flows["EV"], solved.link_flow[:road], atol=1e-9)


def test_wardrop_on_enumerated_paths(network: RoadNetwork, solved: AssignmentResult) -> None:
    road, num_od = network.num_links, network.od_demand.size
    cost = independent_link_costs(network, solved.link_flow, PRICES)
    station_positions = [network.node_index(node) for node in STATION_NODES]
    used: dict[int, list[float]] = {}
    for key, links, flow in live_paths(solved.warm_start):
        if flow > 1e-9:
            used.setdefault(key, []).append(float(cost[links].sum()))
    for od in range(num_od):
        origin, destination = int(network.od_origin[od]), int(network.od_destination[od])
        gv_costs = [cost[p].sum() for p in simple_road_paths(network, origin, destination)]
        ev_costs = [cost[links].sum() + cost[road + s]
                    for s, links in ev_paths(network, station_positions, origin, destination)]
        for key, enumerated in ((od, gv_costs), (num_od + od, ev_costs)):
            best = min(enumerated)
            assert used[key], f"OD {od} has no used path"
            for path_cost in used[key]:  # every used path is a cheapest path
                assert path_cost == pytest.approx(best, rel=1e-7)
            # and no enumerated path is cheaper than the used ones
            assert best >= min(used[key]) * (1 - 1e-7)
    # EVs do use more than one station on some OD (the station choice is not trivial)
    ev_used = sum(len(v) for k, v in used.items() if k >= num_od)
    assert ev_used > num_od


def test_raising_a_price_lowers_that_station_load(
    charging: ChargingProblem, solved: AssignmentResult
) -> None:
    before = charging.station_load_mw(solved)
    prices = PRICES.copy()
    prices[1] *= 1.05
    raised = charging.with_prices(prices)
    after_result = raised.solve(gap=1e-11, warm_start=solved)
    assert after_result.converged
    after = raised.station_load_mw(after_result)
    assert after[1] < before[1] - 1e-3
    assert np.all(np.delete(after, 1) >= np.delete(before, 1) - 1e-9)
    assert after.sum() == pytest.approx(before.sum(), rel=1e-9)  # EV demand is fixed here


def test_warm_resolve_after_price_change_takes_fewer_iterations(
    charging: ChargingProblem, solved: AssignmentResult
) -> None:
    prices = PRICES.copy()
    prices[2] *= 1.05
    changed = charging.with_prices(prices)
    cold = changed.solve(gap=1e-10)
    warm = changed.solve(gap=1e-10, warm_start=solved)
    assert cold.converged and warm.converged
    assert warm.iterations <= cold.iterations // 2
    np.testing.assert_allclose(warm.link_flow, cold.link_flow, rtol=1e-4, atol=1e-3)


def test_invalid_inputs_name_the_culprit(network: RoadNetwork) -> None:
    good = list(stations())

    def spec_with(replacement: ChargingStation) -> None:
        ChargingNetworkSpec(network, (replacement, *good[1:]))

    with pytest.raises(InvalidInputError, match=r"station bad: node 99 is not a node"):
        spec_with(ChargingStation("bad", 99, 100.0, 0.25, 0.5, np.array([200.0])))
    with pytest.raises(InvalidInputError, match=r"station bad: capacity_veh_per_h must be"):
        spec_with(ChargingStation("bad", 7, 0.0, 0.25, 0.5, np.array([200.0])))
    with pytest.raises(InvalidInputError, match=r"station bad: invalid price -5 \$/MWh"):
        spec_with(ChargingStation("bad", 7, 100.0, 0.25, 0.5, np.array([-5.0])))
    with pytest.raises(InvalidInputError, match=r"station bad: 2 price periods, but station CS9"):
        ChargingNetworkSpec(network, (*good[1:], ChargingStation(
            "bad", 7, 100.0, 0.25, 0.5, np.array([200.0, 210.0]))))
    with pytest.raises(InvalidInputError, match=r"station CS7: invalid price"):
        build_charging_problem(ChargingNetworkSpec(network, tuple(good)), network.od_demand,
                               network.od_demand).with_prices([np.nan, 1.0, 1.0, 1.0])
    # a station at node 13 only: EVs bound for destination 2 cannot reach it and still arrive
    only_13 = ChargingNetworkSpec(network, (ChargingStation("CS13", 13, 100.0, 0.25, 0.5,
                                                            np.array([200.0])),))
    with pytest.raises(InvalidInputError,
                       match=r"EV OD pair 1->2 has demand 120 veh/h but no path through any"):
        build_charging_problem(only_13, network.od_demand * 0.7, network.od_demand * 0.3)
    with pytest.raises(InvalidInputError, match=r"EV demand: OD pair 4->2 has invalid demand -1"):
        build_charging_problem(only_13, network.od_demand, [0.0, 0.0, -1.0, 0.0])


@pytest.mark.parametrize("node", [1, 3, 4])
def test_zone_rule_in_both_layers(node: int) -> None:
    network = zone_network()
    station = ChargingStation(f"CS{node}", node, 50.0, 0.25, 0.5, np.array([200.0]))
    spec = ChargingNetworkSpec(network, (station,))
    ev_demand = network.od_demand.copy()
    if node != 1:  # from 3 or 4 there is no way back to zone 2
        with pytest.raises(InvalidInputError, match=r"EV OD pair 1->2 has demand 5 veh/h"):
            build_charging_problem(spec, network.od_demand, ev_demand)
        ev_demand[1] = 0.0
    problem = build_charging_problem(spec, network.od_demand, ev_demand)
    result = problem.solve()
    assert result.converged
    flows = problem.class_road_link_flows(result)
    # OD 1->3 never passes through zone 2: link 2->3 carries nothing, 1->2 only trips to 2
    assert flows["GV"][1] == pytest.approx(0.0, abs=1e-12)
    assert flows["EV"][1] == pytest.approx(0.0, abs=1e-12)
    assert flows["GV"][0] == pytest.approx(5.0)
    assert problem.station_flow_veh_per_h(result).sum() == pytest.approx(
        problem.problem.classes[1].od_demand.sum()
    )


def test_station_inside_a_zone_cannot_be_passed_through() -> None:
    network = zone_network()
    spec = ChargingNetworkSpec(network, (ChargingStation("CS2", 2, 50.0, 0.25, 0.5,
                                                         np.array([200.0])),))
    with pytest.raises(InvalidInputError, match=r"EV OD pair 1->3 has demand 10 veh/h but no path"):
        build_charging_problem(spec, network.od_demand, network.od_demand)
    # trips ending in zone 2 may charge there
    problem = build_charging_problem(spec, network.od_demand, network.od_demand * [0.0, 1.0])
    result = problem.solve()
    assert problem.station_flow_veh_per_h(result)[0] == pytest.approx(5.0)

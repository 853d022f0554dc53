"""MUL-UE (seed 001) on Nguyen–Dupuis: 6 periods, beta = [0.7, 0.9, 0.8, 0.7, 1.0, 0.8].

Checks use only the documented link layout (period t's road link a is ``t * (L + S) + a``, its
station s ``t * (L + S) + L + s``), the solver's raw path arrays and formulas written out here:
shift matrices rebuilt path by path, demand conservation and the shift limit, the elastic-demand
law, and Wardrop's conditions over (departure period, EV path) pairs enumerated independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import RoadNetwork
from tests.support.charging_oracle import (
    ENERGY_PER_CHARGE_MWH,
    ev_paths,
    live_paths,
    road_costs_usd,
    simple_road_paths,
    station_costs_usd,
)
from tests.support.traffic_cases import zone_network

BETA = np.array([0.7, 0.9, 0.8, 0.7, 1.0, 0.8])
T = BETA.size
STATION_NODES = [7, 9, 10, 12]
CAPACITY = np.array([200.0, 220.0, 240.0, 260.0])
CHARGING_TIME_H = np.full(4, 0.25)
DAVIDSON_J = np.full(4, 0.5)
EV_SHARE = 0.3
MAX_SHIFT = 1
SHIFT_COST = 3.0
SIGMA = 1.5
C_BASE = 200.0
# CNO prices per station (rows) and period (columns), inside seed 001's [150, 250] $/MWh
PRICES = np.array([
    [190.0, 230.0, 210.0, 190.0, 240.0, 200.0],
    [200.0, 220.0, 215.0, 195.0, 235.0, 205.0],
    [185.0, 225.0, 205.0, 200.0, 245.0, 210.0],
    [195.0, 235.0, 200.0, 185.0, 230.0, 195.0],
])


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return nguyen_dupuis()


def make_problem(network: RoadNetwork, max_shift: int = MAX_SHIFT,
                 prices: np.ndarray = PRICES) -> MultiPeriodProblem:
    stations = tuple(
        ChargingStation(f"CS{node}", node, float(CAPACITY[s]), float(CHARGING_TIME_H[s]),
                        float(DAVIDSON_J[s]), prices[s])
        for s, node in enumerate(STATION_NODES)
    )
    base = network.od_demand
    spec = MultiPeriodSpec(
        ChargingNetworkSpec(network, stations),
        gv_demand_veh_per_h=np.outer(BETA, base * (1 - EV_SHARE)),
        ev_demand_veh_per_h=np.outer(BETA, base * EV_SHARE),
        max_shift_periods=max_shift,
        shift_cost_per_period=SHIFT_COST,
        price_sensitivity=SIGMA,
        base_price_per_mwh=C_BASE,
    )
    return build_multiperiod_problem(spec)


@pytest.fixture(scope="module")
def problem(network: RoadNetwork) -> MultiPeriodProblem:
    return make_problem(network)


@pytest.fixture(scope="module")
def solved(problem: MultiPeriodProblem) -> MultiPeriodResult:
    result = problem.solve(gap=1e-11)
    assert result.converged
    return result


def elastic_ev_demand(network: RoadNetwork, prices: np.ndarray) -> np.ndarray:
    kappa = (prices.mean(axis=0) - C_BASE) / C_BASE
    factor = np.maximum(0.0, 1.0 - SIGMA * kappa)
    return np.outer(BETA * factor, network.od_demand * EV_SHARE)


@dataclass(frozen=True)
class PathRecord:
    klass: str
    od: int
    ti: int
    tj: int
    flow: float
    links: list[int]
    chargers: list[int]


def paths_by_period(network: RoadNetwork, result: MultiPeriodResult) -> list[PathRecord]:
    """Each live path: class, OD, generation period, departure period (from its road links)."""
    road, stations, num_od = network.num_links, len(STATION_NODES), network.od_demand.size
    block = road + stations
    out = []
    assert result.warm_start is not None
    for key, links, flow in live_paths(result.warm_start):
        physical = [link for link in links if link < T * block]
        periods = {link // block for link in physical}
        assert len(periods) == 1, "a path stays in one period copy"
        klass, local = divmod(key, T * num_od)
        generated, od = divmod(local, num_od)
        chargers = [link % block - road for link in physical if link % block >= road]
        out.append(PathRecord(("GV", "EV")[klass], od, generated, periods.pop(), flow,
                              physical, chargers))
    return out


def test_shifts_conserve_demand_and_respect_the_limit(
    network: RoadNetwork, solved: MultiPeriodResult
) -> None:
    num_od = network.od_demand.size
    q = {name: np.zeros((num_od, T, T)) for name in ("GV", "EV")}
    for path in paths_by_period(network, solved):
        q[path.klass][path.od, path.ti, path.tj] += path.flow
    gv_demand = np.outer(BETA, network.od_demand * (1 - EV_SHARE))
    ev_demand = elastic_ev_demand(network, PRICES)
    np.testing.assert_allclose(q["GV"].sum(axis=2), gv_demand.T, rtol=1e-9)
    np.testing.assert_allclose(q["EV"].sum(axis=2), ev_demand.T, rtol=1e-9)
    far = np.abs(np.subtract.outer(np.arange(T), np.arange(T))) > MAX_SHIFT
    for name in ("GV", "EV"):
        assert np.all(q[name][:, far] == 0.0)
        np.testing.assert_allclose(solved.shifted_demand_by_od()[name], q[name], atol=1e-9)
        np.testing.assert_allclose(solved.shifted_demand_veh_per_h[name], q[name].sum(axis=0),
                                   atol=1e-9)
    np.testing.assert_allclose(solved.ev_demand_veh_per_h, ev_demand, rtol=1e-12)
    # some demand does move (the case is congested enough to make a $3 shift worthwhile)
    moved = sum(q[name][:, ~np.eye(T, dtype=bool)].sum() for name in q)
    assert moved > 1.0


def test_every_ev_path_charges_once_in_its_departure_period(
    network: RoadNetwork, solved: MultiPeriodResult
) -> None:
    block = network.num_links + len(STATION_NODES)
    charging = np.zeros((T, len(STATION_NODES)))
    for path in paths_by_period(network, solved):
        assert len(path.chargers) == (1 if path.klass == "EV" else 0)
        if path.chargers:
            charging[path.tj, path.chargers[0]] += path.flow
    flow = solved.assignment.link_flow[: T * block].reshape(T, block)[:, network.num_links :]
    np.testing.assert_allclose(flow, charging, atol=1e-9)
    np.testing.assert_allclose(solved.station_flow_veh_per_h, charging, atol=1e-9)
    np.testing.assert_allclose(solved.station_load_mw, charging * ENERGY_PER_CHARGE_MWH,
                               atol=1e-9)
    # EVs departing in tj all charge in tj
    np.testing.assert_allclose(charging.sum(axis=1),
                               solved.shifted_demand_veh_per_h["EV"].sum(axis=0), rtol=1e-9)
    road_flow = solved.assignment.link_flow[: T * block].reshape(T, block)[:, : network.num_links]
    np.testing.assert_allclose(solved.road_link_flow_veh_per_h, road_flow)
    by_class = solved.class_road_link_flows()
    np.testing.assert_allclose(by_class["GV"] + by_class["EV"], road_flow, atol=1e-9)


def test_wardrop_over_departure_periods_and_paths(
    network: RoadNetwork, solved: MultiPeriodResult
) -> None:
    road = network.num_links
    block = road + len(STATION_NODES)
    flows = solved.assignment.link_flow[: T * block].reshape(T, block)
    costs = np.stack([
        np.concatenate([road_costs_usd(network, flows[t, :road]),
                        station_costs_usd(flows[t, road:], CAPACITY, CHARGING_TIME_H,
                                          DAVIDSON_J, PRICES[:, t])])
        for t in range(T)
    ])
    positions = [network.node_index(node) for node in STATION_NODES]
    best: dict[tuple[str, int, int], float] = {}
    for od in range(network.od_demand.size):
        o, d = int(network.od_origin[od]), int(network.od_destination[od])
        road_paths = simple_road_paths(network, o, d)
        charging_paths = list(ev_paths(network, positions, o, d))
        for t in range(T):
            best[("GV", od, t)] = min(costs[t, p].sum() for p in road_paths)
            best[("EV", od, t)] = min(costs[t, p].sum() + costs[t, road + s]
                                      for s, p in charging_paths)
    cheapest: dict[tuple[str, int, int], float] = {}
    for (name, od, tj), value in best.items():
        for ti in range(T):
            if abs(ti - tj) <= MAX_SHIFT:
                candidate = value + SHIFT_COST * abs(ti - tj)
                key = (name, od, ti)
                cheapest[key] = min(cheapest.get(key, np.inf), candidate)
    used = 0
    for path in paths_by_period(network, solved):
        if path.flow <= 1e-9:
            continue
        used += 1
        cost = float(sum(costs[path.tj, link % block] for link in path.links))
        cost += SHIFT_COST * abs(path.ti - path.tj)
        key = (path.klass, path.od, path.ti)
        assert cost == pytest.approx(cheapest[key], rel=1e-7), key
    assert used > 2 * T * network.od_demand.size
    for (name, od, ti), value in cheapest.items():
        assert solved.od_cost[name][ti, od] == pytest.approx(value, rel=1e-7)


def test_no_shifting_when_the_limit_is_zero(network: RoadNetwork) -> None:
    result = make_problem(network, max_shift=0).solve(gap=1e-10)
    assert result.converged
    for name, demand in (("GV", np.outer(BETA, network.od_demand * (1 - EV_SHARE))),
                         ("EV", elastic_ev_demand(network, PRICES))):
        np.testing.assert_allclose(result.shifted_demand_veh_per_h[name],
                                   np.diag(demand.sum(axis=1)), atol=1e-9)


def test_elastic_ev_demand_falls_when_all_prices_rise(
    network: RoadNetwork, problem: MultiPeriodProblem, solved: MultiPeriodResult
) -> None:
    higher = problem.solve(PRICES * 1.1, gap=1e-10, warm_start=solved)
    assert higher.converged
    expected = elastic_ev_demand(network, PRICES * 1.1)
    np.testing.assert_allclose(higher.ev_demand_veh_per_h, expected, rtol=1e-12)
    assert np.all(expected.sum(axis=1) < solved.ev_demand_veh_per_h.sum(axis=1))
    # demand shifts between periods, but every EV generated charges once somewhere
    assert higher.station_flow_veh_per_h.sum() == pytest.approx(expected.sum(), rel=1e-9)
    assert higher.station_load_mw.sum() < solved.station_load_mw.sum()
    # so high that 1 - sigma * kappa < 0: no EV travels (clipped at zero), GVs still do
    priced_out = problem.solve(np.full_like(PRICES, 2 * C_BASE), warm_start=solved)
    assert priced_out.converged
    assert np.all(priced_out.ev_demand_veh_per_h == 0.0)
    assert np.all(priced_out.station_load_mw == 0.0)
    assert priced_out.shifted_demand_veh_per_h["GV"].sum() == pytest.approx(
        network.total_demand * (1 - EV_SHARE) * BETA.sum()
    )


def test_raising_one_price_lowers_its_load_and_warm_start_pays(
    problem: MultiPeriodProblem, solved: MultiPeriodResult
) -> None:
    prices = PRICES.copy()
    prices[0] *= 1.05
    warm = problem.solve(prices, gap=1e-10, warm_start=solved)
    cold = problem.solve(prices, gap=1e-10)
    assert warm.converged and cold.converged
    assert warm.iterations <= cold.iterations // 2
    np.testing.assert_allclose(warm.station_load_mw, cold.station_load_mw, rtol=1e-5, atol=1e-6)
    assert warm.station_load_mw[:, 0].sum() < solved.station_load_mw[:, 0].sum() - 1e-3


def test_invalid_inputs_name_the_culprit(network: RoadNetwork) -> None:
    with pytest.raises(InvalidInputError, match=r"station CS7: 6 price periods, but the demand "
                                                r"has 5"):
        MultiPeriodSpec(make_problem(network).spec.charging,
                        np.ones((5, 4)), np.ones((5, 4)))
    charging = make_problem(network).spec.charging
    bad = np.ones((T, 4))
    bad[3, 1] = -2.0
    with pytest.raises(InvalidInputError,
                       match=r"EV demand: OD pair 1->3 in period 3 has invalid demand -2"):
        MultiPeriodSpec(charging, np.ones((T, 4)), bad)
    with pytest.raises(InvalidInputError, match=r"max_shift_periods must be a non-negative"):
        MultiPeriodSpec(charging, np.ones((T, 4)), np.ones((T, 4)), max_shift_periods=-1)
    with pytest.raises(InvalidInputError, match=r"station CS10: invalid price -1 \$/MWh in "
                                                r"period 2"):
        prices = PRICES.copy()
        prices[2, 2] = -1.0
        make_problem(network).solve(prices)
    only_13 = ChargingNetworkSpec(network, (ChargingStation("CS13", 13, 100.0, 0.25, 0.5,
                                                            np.full(T, 200.0)),))
    ev = np.zeros((T, 4))
    ev[4, 2] = 10.0
    with pytest.raises(InvalidInputError, match=r"EV OD pair 4->2 in period 4 has demand 10 "
                                                r"veh/h but no path through any"):
        build_multiperiod_problem(MultiPeriodSpec(only_13, np.ones((T, 4)), ev))


def test_zone_rule_holds_in_every_period_copy() -> None:
    network = zone_network()  # zones 1, 2, 3; the short way 1->2->3 passes through zone 2
    station = ChargingStation("CS1", 1, 50.0, 0.25, 0.5, np.full(2, 200.0))
    spec = MultiPeriodSpec(ChargingNetworkSpec(network, (station,)),
                           gv_demand_veh_per_h=np.array([[10.0, 5.0], [200.0, 5.0]]),
                           ev_demand_veh_per_h=np.array([[5.0, 2.0], [20.0, 2.0]]))
    result = build_multiperiod_problem(spec).solve()
    assert result.converged
    flows = result.road_link_flow_veh_per_h
    np.testing.assert_allclose(flows[:, 1], 0.0, atol=1e-12)  # link 2->3 unused in both periods
    assert flows[:, 0].sum() == pytest.approx(14.0)  # link 1->2 carries only trips to 2
    assert result.station_flow_veh_per_h.sum() == pytest.approx(29.0)
    assert result.shifted_demand_veh_per_h["GV"][1, 0] > 0  # the busy period sheds demand

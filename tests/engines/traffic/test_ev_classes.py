"""EV classes with their own energy needs (seed 003, eqs. 1.g–1.h) in the multi-period model.

Independent checks: where the classes must coincide with one EV class (one class needing two
blocks against a single class charging twice the energy, twice as long, at a station of half
the capacity in vehicles; two classes of equal energy against one), and for classes of 15 and
45 kWh on Nguyen–Dupuis Wardrop's conditions per class over EV paths enumerated by depth-first
search with costs written out from MODELS.md §1 (a class needing k blocks pays k times the
block's price and Davidson time), and each station's load rebuilt from the solver's path flows
as Σ_c E_c × (class-c EVs charging there).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.ev_classes import EvClass, common_block_mwh
from ptn.engines.traffic.multiperiod import (
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from tests.support.charging_oracle import ev_paths, live_paths, road_costs_usd

VALUE_OF_TIME = 10.0
BLOCK_MWH = 0.015
PROFILE = np.array([0.6, 1.0, 0.8])
T = PROFILE.size
EV_SHARE = 0.2
STATION_NODES = (7, 9, 10, 12)
CAPACITY = 400.0  # blocks per hour
BLOCK_TIME_H = 0.1
DAVIDSON_J = 0.5
PRICES = np.array([[190.0, 230.0, 210.0],
                   [200.0, 220.0, 215.0],
                   [185.0, 225.0, 205.0],
                   [195.0, 235.0, 200.0]])
CLASSES = (EvClass("city", 0.6, 0.015), EvClass("long", 0.4, 0.045))


def make_spec(classes: tuple[EvClass, ...], *, energy_mwh: float = BLOCK_MWH,
              capacity: float = CAPACITY, charging_time_h: float = BLOCK_TIME_H,
              max_shift: int = 0, sigma: float = 0.0) -> MultiPeriodSpec:
    network = nguyen_dupuis()
    stations = tuple(ChargingStation(f"CS{node}", node, capacity, charging_time_h, DAVIDSON_J,
                                     PRICES[s]) for s, node in enumerate(STATION_NODES))
    demand = np.outer(PROFILE, network.od_demand)
    return MultiPeriodSpec(ChargingNetworkSpec(network, stations, energy_mwh),
                           gv_demand_veh_per_h=demand * (1 - EV_SHARE),
                           ev_demand_veh_per_h=demand * EV_SHARE, max_shift_periods=max_shift,
                           price_sensitivity=sigma, ev_classes=classes)


def solve(spec: MultiPeriodSpec) -> MultiPeriodResult:
    result = build_multiperiod_problem(spec).solve(gap=1e-12)
    assert result.converged
    return result


@pytest.mark.parametrize("max_shift", [0, 1])
def test_a_class_of_two_blocks_is_one_ev_charging_twice_the_energy(max_shift: int) -> None:
    # "long" needs 2 blocks; "unused" (no trips) makes the block 15 kWh
    classes = (EvClass("long", 1.0, 0.030), EvClass("unused", 0.0, 0.015))
    ours = solve(make_spec(classes, max_shift=max_shift, sigma=1.5))
    single = solve(make_spec((), energy_mwh=0.030, capacity=CAPACITY / 2,
                             charging_time_h=2 * BLOCK_TIME_H, max_shift=max_shift, sigma=1.5))
    np.testing.assert_allclose(ours.station_load_mw, single.station_load_mw, rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(ours.road_link_flow_veh_per_h, single.road_link_flow_veh_per_h,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.station_vehicles_by_class()["EV:long"],
                               single.station_flow_veh_per_h, rtol=1e-6, atol=1e-8)
    assert ours.station_flow_veh_per_h.sum() == pytest.approx(
        2 * single.station_flow_veh_per_h.sum(), rel=1e-9)  # blocks
    ours_potential = ours.problem.potential(ours.assignment.link_flow)
    single_potential = single.problem.potential(single.assignment.link_flow)
    assert ours_potential == pytest.approx(single_potential, rel=1e-9)
    np.testing.assert_allclose(ours.od_cost["EV:long"], single.od_cost["EV"], rtol=1e-7)


def test_classes_of_equal_energy_are_one_class() -> None:
    classes = (EvClass("a", 0.3, 0.045), EvClass("b", 0.7, 0.045))
    ours = solve(make_spec(classes, energy_mwh=0.045, max_shift=1, sigma=1.5))
    single = solve(make_spec((), energy_mwh=0.045, max_shift=1, sigma=1.5))
    np.testing.assert_allclose(ours.station_load_mw, single.station_load_mw, rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(ours.road_link_flow_veh_per_h, single.road_link_flow_veh_per_h,
                               rtol=1e-6, atol=1e-6)
    by_class = ours.station_vehicles_by_class()
    for name, share in (("EV:a", 0.3), ("EV:b", 0.7)):  # departures shift, so over the day
        assert by_class[name].sum() == pytest.approx(share * ours.ev_demand_veh_per_h.sum(),
                                                     rel=1e-9)


@pytest.fixture(scope="module")
def mixed() -> MultiPeriodResult:
    return solve(make_spec(CLASSES))


def test_wardrop_per_class_and_loads_from_the_class_mix(mixed: MultiPeriodResult) -> None:
    network = nguyen_dupuis()
    road, stations, num_od = network.num_links, len(STATION_NODES), network.od_demand.size
    block = road + stations
    blocks = {"EV:city": 1, "EV:long": 3}
    energy = {"EV:city": 0.015, "EV:long": 0.045}
    names = ("GV", "EV:city", "EV:long")
    positions = [network.node_index(node) for node in STATION_NODES]
    load = np.zeros((T, stations))
    cheapest: dict[tuple[str, int, int], float] = {}
    used: list[tuple[str, int, int, float]] = []
    assert mixed.warm_start is not None
    for t in range(T):
        road_cost = road_costs_usd(network, mixed.road_link_flow_veh_per_h[t])
        y = mixed.station_flow_veh_per_h[t]  # blocks per hour
        assert np.all(y < 0.95 * CAPACITY)
        block_cost = (VALUE_OF_TIME * BLOCK_TIME_H * (1 + DAVIDSON_J * y / (CAPACITY - y))
                      + BLOCK_MWH * PRICES[:, t])
        for name in names[1:]:
            for od in range(num_od):
                o, d = int(network.od_origin[od]), int(network.od_destination[od])
                cheapest[(name, od, t)] = min(
                    road_cost[links].sum() + blocks[name] * block_cost[s]
                    for s, links in ev_paths(network, positions, o, d))
        for key, links, flow in live_paths(mixed.warm_start):
            klass, local = divmod(key, T * num_od)
            period, od = divmod(local, num_od)
            if period != t or klass == 0:
                continue
            name = names[klass]
            physical = [link - t * block for link in links if t * block <= link < (t + 1) * block]
            charged = [link - road for link in physical if link >= road]
            assert len(charged) == blocks[name] and len(set(charged)) == 1
            load[t, charged[0]] += energy[name] * flow
            if flow > 1e-9:
                cost = road_cost[[link for link in physical if link < road]].sum() \
                    + blocks[name] * block_cost[charged[0]]
                used.append((name, od, t, cost))
    for name, od, t, cost in used:
        assert cost == pytest.approx(cheapest[(name, od, t)], rel=1e-7), (name, od, t)
    assert {name for name, *_ in used} == {"EV:city", "EV:long"}
    np.testing.assert_allclose(mixed.station_load_mw, load, rtol=1e-9, atol=1e-12)
    # the mix sets the load: 0.6 x 15 kWh + 0.4 x 45 kWh = 27 kWh per EV on average
    assert mixed.station_load_mw.sum() == pytest.approx(
        0.027 * mixed.ev_demand_veh_per_h.sum(), rel=1e-9)


def test_bad_classes_are_refused() -> None:
    spec = make_spec(CLASSES)
    with pytest.raises(InvalidInputError, match=r"EV class long: energy 0.05 MWh is not a whole "
                                                r"number of charging blocks of 0.015 MWh"):
        replace(spec, ev_classes=(CLASSES[0], EvClass("long", 0.4, 0.05)))
    with pytest.raises(InvalidInputError, match=r"EV classes: shares must sum to 1, got 0.9"):
        replace(spec, ev_classes=(CLASSES[0], EvClass("long", 0.3, 0.045)))
    with pytest.raises(InvalidInputError, match=r"EV classes: a name is used twice"):
        replace(spec, ev_classes=(CLASSES[0], EvClass("city", 0.4, 0.045)))
    with pytest.raises(InvalidInputError, match=r"spans 200 charging blocks"):
        replace(spec, ev_classes=(EvClass("huge", 1.0, 3.0),))
    assert common_block_mwh([0.036, 0.012, 0.024], ["a", "b", "c"]) == pytest.approx(0.012)
    with pytest.raises(InvalidInputError, match=r"b: energy need 1e-07 MWh is not a positive "
                                                r"whole number of Wh"):
        common_block_mwh([0.036, 1e-7], ["a", "b"])

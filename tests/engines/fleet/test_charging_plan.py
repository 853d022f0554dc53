"""The TNO's fleet charging model (ptn.engines.fleet), checked against independent computations.

Detours against networkx on the Nguyen–Dupuis link table and a hand sum; the prescheduling LP
against scipy's HiGHS on a matrix assembled here; the ADMM step and the embedding against their
definitions recomputed in numpy and against a parent cvxpy model.
"""

from __future__ import annotations

from dataclasses import replace

import cvxpy as cp
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet import (
    BusBattery,
    BusLine,
    FleetCase,
    FleetChargingModel,
    FleetStation,
    nguyen_dupuis_example,
)
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.network import RoadNetwork


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return load_network("nguyen-dupuis")


@pytest.fixture(scope="module")
def case(network: RoadNetwork) -> FleetCase:
    return nguyen_dupuis_example(network)


@pytest.fixture(scope="module")
def model(case: FleetCase) -> FleetChargingModel:
    return FleetChargingModel(case)


def coupling(case: FleetCase, price: np.ndarray, rho: float, target: np.ndarray
             ) -> CouplingTerms:
    """The TNO's (consuming side's) ADMM terms λ, ρ, z for this case's periods."""
    return CouplingTerms.consumer(price, rho, target, case.period_hours, case.station_names)


# ---------------------------------------------------------------------- 1. detours
def test_detour_hours_match_networkx_and_a_hand_sum(case: FleetCase, network: RoadNetwork) -> None:
    graph = nx.DiGraph()
    for tail, head, minutes in zip(network.node_ids[network.link_tail],
                                   network.node_ids[network.link_head],
                                   network.free_flow_time, strict=True):
        for a, b in ((tail, head), (head, tail)):  # two-way roads
            graph.add_edge(int(a), int(b), hours=float(minutes) / 60.0)
    expected = np.array([
        [min(nx.shortest_path_length(graph, stop, station.node, weight="hours")
             + nx.shortest_path_length(graph, station.node, stop, weight="hours")
             for stop in line.stops)
         for station in case.stations]
        for line in case.lines
    ])
    np.testing.assert_allclose(case.detour_hours(), expected, rtol=0, atol=1e-12)
    # by hand from the link table: line L2 (stops 1, 12, 8, 2) reaches station S7 (node 7) from
    # stop 8 over link 7->8 (5 min) driven both ways; L3 (4, 5, 9, 10, 11, 3) reaches S7 from
    # stop 5 over 5->6->7 (3 + 5 min) and back, 16 min, not from 11 over 7->11 (2 x 9 min)
    detour = case.detour_hours()
    assert detour[1, 0] == pytest.approx(10 / 60, abs=1e-12)
    assert detour[2, 0] == pytest.approx(16 / 60, abs=1e-12)
    assert detour[0, 0] == 0.0  # node 7 is a stop of L1


def test_directed_roads_exclude_stations_off_the_line(network: RoadNetwork) -> None:
    example = nguyen_dupuis_example(network)
    # Nguyen-Dupuis is acyclic: with directed links only stations at a stop are reachable
    on_line = tuple(line for line in example.lines if line.name in ("L1", "L3", "L4"))
    directed = replace(example, lines=on_line, two_way_roads=False)
    detour = directed.detour_hours()
    assert np.array_equal(np.isfinite(detour), np.eye(3, dtype=bool))
    plan = FleetChargingModel(directed).plan()
    assert plan.status == "optimal"
    assert np.all(plan.charging_mwh[~np.isfinite(detour)] == 0.0)
    with pytest.raises(InvalidInputError, match="line L2: no station"):
        replace(example, two_way_roads=False)


# ---------------------------------------------------------------------- 2. the LP
def independent_lp(case: FleetCase) -> tuple[float, np.ndarray]:
    """The prescheduling LP assembled from the case's raw data, solved by HiGHS.

    Variables: c[li, s, t] (grid MWh) flattened, then e[li, t] for t = 0..T.
    """
    L, S, T = case.num_lines, case.num_stations, case.periods
    dt = case.period_hours
    nc, ne = L * S * T, L * (T + 1)

    def ci(li: int, s: int, t: int) -> int:
        return (li * S + s) * T + t

    def ei(li: int, t: int) -> int:
        return nc + li * (T + 1) + t

    detour = case.detour_hours()
    cost = np.zeros(nc + ne)
    bounds: list[tuple[float | None, float | None]] = []
    for li, line in enumerate(case.lines):
        battery = line.battery or case.battery
        for s in range(S):
            for t in range(T):
                if np.isfinite(detour[li, s]):
                    visits_per_mwh = 1.0 / (battery.charge_power_max_mw * case.session_hours)
                    cost[ci(li, s, t)] = case.tariff_per_mwh[t] \
                        + case.value_of_time_per_h * detour[li, s] * visits_per_mwh
                    bounds.append((0.0, None))
                else:
                    bounds.append((0.0, 0.0))
    for line in case.lines:
        battery = line.battery or case.battery
        cap = battery.battery_mwh * line.buses
        bounds.append((None, None))
        bounds += [(battery.soc_min * cap, battery.soc_max * cap)] * T
    eq_rows, eq_rhs, ub_rows, ub_rhs = [], [], [], []
    for li, line in enumerate(case.lines):
        battery = line.battery or case.battery
        cap = battery.battery_mwh * line.buses
        row = np.zeros(nc + ne)
        row[ei(li, 0)] = 1.0
        eq_rows.append(row)
        eq_rhs.append(battery.soc_initial * cap)
        row = np.zeros(nc + ne)
        row[ei(li, T)] = -1.0
        ub_rows.append(row)
        ub_rhs.append(-battery.soc_initial * cap)
        for t in range(T):
            consumption = line.buses * line.round_trips_per_period[t] \
                * line.energy_per_round_trip_mwh
            row = np.zeros(nc + ne)
            row[ei(li, t + 1)], row[ei(li, t)] = 1.0, -1.0
            budget = np.zeros(nc + ne)
            for s in range(S):
                row[ci(li, s, t)] = -battery.charging_efficiency
                if np.isfinite(detour[li, s]):
                    budget[ci(li, s, t)] = (case.session_hours + detour[li, s]) / (
                        battery.charge_power_max_mw * case.session_hours)
            eq_rows.append(row)
            eq_rhs.append(-consumption)
            ub_rows.append(budget)
            ub_rhs.append(line.buses * (1 - line.service_share[t]) * dt)
    for s, station in enumerate(case.stations):
        for t in range(T):
            row = np.zeros(nc + ne)
            for li in range(L):
                row[ci(li, s, t)] = 1.0
            ub_rows.append(row)
            ub_rhs.append(station.power_max_mw * dt)
    result = linprog(cost, A_ub=sp.csr_matrix(np.array(ub_rows)), b_ub=ub_rhs,
                     A_eq=sp.csr_matrix(np.array(eq_rows)), b_eq=eq_rhs, bounds=bounds,
                     method="highs")
    assert result.status == 0, result.message
    return float(result.fun), result.x


def test_prescheduling_matches_highs_and_holds_its_constraints(
    case: FleetCase, model: FleetChargingModel
) -> None:
    plan = model.plan()
    assert plan.status == "optimal", plan.message
    optimum, _ = independent_lp(case)
    assert plan.cost_usd == pytest.approx(optimum, rel=1e-6)
    assert plan.objective_usd == pytest.approx(optimum, rel=1e-6)
    assert plan.coordination_usd == 0.0

    tol = 1e-6
    e = plan.energy_mwh
    e0, e_min, e_max = case.energy_bounds_mwh()
    np.testing.assert_allclose(e[:, 0], e0, atol=tol)
    assert np.all(e[:, 1:] >= e_min[:, None] - tol)
    assert np.all(e[:, 1:] <= e_max[:, None] + tol)
    assert np.all(e[:, -1] >= e0 - tol)
    assert np.all(plan.charging_mwh >= 0)
    assert np.all(plan.station_load_mw <= case.station_power_max_mw()[:, None] + tol)
    np.testing.assert_allclose(plan.station_load_mw,
                               plan.charging_mwh.sum(axis=0) / case.period_hours, atol=1e-12)
    # energy balance per line: η·Σ c = Σ consumption + (e_T − e_0)
    eta = case.charging_efficiency()
    np.testing.assert_allclose(
        eta * plan.charging_mwh.sum(axis=(1, 2)),
        case.consumption_mwh().sum(axis=1) + e[:, -1] - e[:, 0], atol=1e-6)
    # off-service time: plugged-in plus detour hours within the parked bus-hours
    busy = (plan.visits * (case.session_hours + case.detour_hours()[:, :, None])).sum(axis=1)
    assert np.all(busy <= case.off_service_hours() + tol)


# ---------------------------------------------------------------------- 3. tariff response
def test_a_cheaper_period_attracts_charging_and_costs_add_up(case: FleetCase) -> None:
    model = FleetChargingModel(case)
    peak = 14
    charged = []
    for price in (151.4, 120.0, 70.0, 30.0, 5.0):
        tariff = case.tariff_per_mwh.copy()
        tariff[peak] = price
        model.set_tariff(tariff)
        plan = model.plan()
        assert plan.status == "optimal"
        charged.append(plan.charging_mwh[:, :, peak].sum())
        assert plan.cost_usd == pytest.approx(plan.energy_cost_usd + plan.detour_cost_usd)
        assert plan.energy_cost_usd == pytest.approx(
            float(tariff @ plan.charging_mwh.sum(axis=(0, 1))), rel=1e-12)
        p_max = case.charge_power_max_mw()[:, None, None]
        detour = case.detour_hours()
        detour_h = np.where(np.isfinite(detour), detour, 0.0)[:, :, None]
        expected_detour = case.value_of_time_per_h * np.sum(
            detour_h * plan.charging_mwh / (p_max * case.session_hours))
        assert plan.detour_cost_usd == pytest.approx(expected_detour, rel=1e-12)
        assert plan.detour_cost_usd == pytest.approx(
            case.value_of_time_per_h * np.sum(detour_h * plan.visits), rel=1e-12)
    assert charged[0] == pytest.approx(0.0, abs=1e-6)  # the peak is avoided
    assert np.all(np.diff(charged) >= -1e-6), charged
    assert charged[-1] > charged[0] + 0.1, charged


# ---------------------------------------------------------------------- 4. ADMM step
def test_consensus_step(case: FleetCase, model: FleetChargingModel) -> None:
    S, T = case.num_stations, case.periods
    dt = case.period_hours
    plan = model.plan()
    zero = np.zeros((S, T))
    tiny = model.consensus_step(coupling(case, zero, 1e-7, zero))
    assert tiny.status == "optimal"
    assert tiny.cost_usd == pytest.approx(plan.cost_usd, rel=1e-6)

    # a feasible target: the loads planned under a flat tariff
    flat_model = FleetChargingModel(replace(case, tariff_per_mwh=np.full(T, 90.0)))
    target = flat_model.plan().station_load_mw
    assert np.abs(target - plan.station_load_mw).max() > 0.05
    pulled = model.consensus_step(coupling(case, zero, 1e6, target))
    assert pulled.status == "optimal"
    assert np.abs(pulled.station_load_mw - target).max() < 5e-4

    rng = np.random.default_rng(7)
    price = rng.uniform(-20.0, 60.0, (S, T))
    rho = 80.0
    step = model.consensus_step(coupling(case, price, rho, target))
    assert step.status == "optimal"
    load = step.station_load_mw
    coordination = float(np.sum(dt * (price * load + 0.5 * rho * (load - target) ** 2)))
    assert step.coordination_usd == pytest.approx(coordination, rel=1e-12)
    assert step.objective_usd == pytest.approx(step.cost_usd + coordination, rel=1e-6)
    # the step improves its own objective over the prescheduled plan's
    at_plan = plan.cost_usd + float(np.sum(
        dt * (price * plan.station_load_mw + 0.5 * rho * (plan.station_load_mw - target) ** 2)))
    assert step.objective_usd <= at_plan + 1e-6
    with pytest.raises(InvalidInputError, match="station S10 in period 3"):
        bad = price.copy()
        bad[1, 3] = np.nan
        model.consensus_step(coupling(case, bad, rho, target))


# ---------------------------------------------------------------------- 5. embedding
def test_embedding_in_a_parent_model_matches_the_consensus_step(case: FleetCase) -> None:
    S, T = case.num_stations, case.periods
    dt = case.period_hours
    model = FleetChargingModel(case)
    rng = np.random.default_rng(3)
    mu = rng.uniform(0.0, 80.0, (S, T))  # $/MWh on each station's energy
    target = np.full((S, T), 0.15)
    rho = 40.0
    parts = model.embedding()
    load = parts.station_load_mw
    parent = cp.Problem(
        cp.Minimize(parts.cost_usd + dt * cp.sum(cp.multiply(mu, load))
                    + 0.5 * rho * dt * cp.sum_squares(load - target)),
        list(parts.constraints),
    )
    parent.solve(solver="CLARABEL")
    assert parent.status == cp.OPTIMAL
    embedded = parts.read_plan()
    assert embedded.status == "optimal"
    assert embedded.coordination_usd == 0.0
    assert embedded.cost_usd == pytest.approx(float(parts.cost_usd.value), rel=1e-9)
    step = model.consensus_step(coupling(case, mu, rho, target))
    assert step.objective_usd == pytest.approx(float(parent.value), rel=1e-6)
    # the penalty makes the loads unique
    np.testing.assert_allclose(step.station_load_mw, embedded.station_load_mw, atol=1e-4)


# ---------------------------------------------------------------------- 6. bad data
def test_infeasible_data_is_a_status_not_an_exception(case: FleetCase) -> None:
    hungry = replace(case.lines[0], energy_per_round_trip_mwh=0.5)
    plan = FleetChargingModel(replace(case, lines=(hungry, *case.lines[1:]))).plan()
    assert plan.status == "infeasible"
    assert plan.message
    assert np.isnan(plan.cost_usd) and np.isnan(plan.station_load_mw).all()
    dark = tuple(replace(station, power_max_mw=0.0) for station in case.stations)
    assert FleetChargingModel(replace(case, stations=dark)).plan().status == "infeasible"


def test_invalid_data_names_the_item(case: FleetCase) -> None:
    battery = case.battery
    with pytest.raises(InvalidInputError, match=r"line L3: battery needs .*soc_min 0.9"):
        bad = replace(case.lines[2], battery=replace(battery, soc_min=0.9, soc_max=0.5))
        replace(case, lines=(*case.lines[:2], bad, *case.lines[3:]))
    with pytest.raises(InvalidInputError, match=r"fleet-wide.*soc_min"):
        replace(case, battery=replace(battery, soc_min=0.96))
    with pytest.raises(InvalidInputError, match="line L1: stop 99 is not a node"):
        replace(case, lines=(replace(case.lines[0], stops=(1, 5, 99)), *case.lines[1:]))
    with pytest.raises(InvalidInputError, match="line L2: energy_per_round_trip_mwh"):
        bad = replace(case.lines[1], energy_per_round_trip_mwh=-0.01)
        replace(case, lines=(case.lines[0], bad, *case.lines[2:]))
    share = case.lines[0].service_share.copy()
    share[5] = 1.2
    with pytest.raises(InvalidInputError, match="line L1: service_share in period 5"):
        replace(case, lines=(replace(case.lines[0], service_share=share), *case.lines[1:]))
    with pytest.raises(InvalidInputError, match="line L1: round_trips_per_period needs 24"):
        replace(case, lines=(replace(case.lines[0], round_trips_per_period=np.ones(3)),
                             *case.lines[1:]))
    with pytest.raises(InvalidInputError, match="station S10: node 42"):
        replace(case, stations=(case.stations[0], FleetStation("S10", 42, 0.4)))
    with pytest.raises(InvalidInputError, match="line name 'L1'"):
        replace(case, lines=(*case.lines, case.lines[0]))
    with pytest.raises(InvalidInputError, match="tariff_per_mwh in period 2"):
        FleetChargingModel(case).set_tariff(np.where(np.arange(24) == 2, np.inf, 50.0))


def test_a_line_with_its_own_battery(case: FleetCase, network: RoadNetwork) -> None:
    big = BusBattery(battery_mwh=0.6, soc_min=0.1, soc_max=0.9, soc_initial=0.5,
                     charge_power_max_mw=0.3, charging_efficiency=0.9)
    line = BusLine(name="X", stops=(4, 9, 13, 3), buses=2,
                   round_trips_per_period=case.lines[3].round_trips_per_period,
                   energy_per_round_trip_mwh=0.03, service_share=case.lines[3].service_share,
                   battery=big)
    custom = replace(case, lines=(*case.lines[:3], line, *case.lines[4:]))
    e0, e_min, e_max = custom.energy_bounds_mwh()
    assert (e0[3], e_min[3], e_max[3]) == pytest.approx((0.6, 0.12, 1.08))
    plan = FleetChargingModel(custom).plan()
    assert plan.status == "optimal"
    assert plan.cost_usd == pytest.approx(independent_lp(custom)[0], rel=1e-6)

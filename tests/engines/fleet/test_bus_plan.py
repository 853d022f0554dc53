"""The mixed-integer fleet (ptn.engines.fleet.bus_plan) against brute force on a 2-bus case.

Two buses of one line, two stations (one on the line, one a 12-min detour away), three hourly
periods with a night, a short layover and a night again. Every choice of whole visits of both
buses is enumerated here, from the case's raw data (not from the model's option table): with
full-energy visits the plan's cost and the ADMM terms are sums of numbers; with visits of up to
their energy, the energies given the visits are an LP solved by scipy's linprog, assembled here.
The MILP (HiGHS) and the ADMM step's MISOCP (SCIP) must find the enumeration's optimum.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import linprog

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet import BusBattery, BusLine, FleetCase, FleetStation
from ptn.engines.fleet.bus_plan import BusChargingModel
from ptn.engines.fleet.model import build_fleet_model
from ptn.engines.traffic.builtin import load_network

TARIFF = np.array([60.0, 130.0, 95.0])
SERVICE = np.array([0.0, 0.7, 0.0])  # off-service hours per bus: 1.0, 0.3, 1.0


@pytest.fixture(scope="module")
def case() -> FleetCase:
    network = load_network("nguyen-dupuis")
    # stops of the example's line L6: station S7 (node 7) is on it, S10 a 0.2 h detour away
    line = BusLine(name="L6", stops=(4, 5, 6, 7, 11, 3), buses=2,
                   round_trips_per_period=np.array([0.0, 1.0, 0.0]),
                   energy_per_round_trip_mwh=0.2, service_share=SERVICE)
    return FleetCase(
        network=network, lines=(line,),
        stations=(FleetStation("S7", 7, 0.1), FleetStation("S10", 10, 0.6)),
        tariff_per_mwh=TARIFF,
        battery=BusBattery(battery_mwh=0.3, soc_min=0.2, soc_max=0.95, soc_initial=0.5,
                           charge_power_max_mw=0.15, charging_efficiency=0.95),
        value_of_time_per_h=50.0, session_hours=0.5, two_way_roads=True, name="two-buses",
        fleet_model="bus-mip")


def bus_choices(case: FleetCase) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every feasible visit pattern of one bus: (visits, hours plugged in per visit, detour
    hours per visit), arrays (stations, periods); the time rule checked here."""
    detour = case.detour_hours()[0]
    free = (1.0 - SERVICE) * case.period_hours
    cells = [(s, t) for s in range(2) for t in range(3)]
    length = np.array([[min(0.5, free[t] - detour[s]) for t in range(3)] for s in range(2)])
    ranges = [range(int(np.floor(free[t] / (length[s, t] + detour[s]) + 1e-9)) + 1)
              if length[s, t] > 0 else range(1) for s, t in cells]
    patterns = []
    for counts in itertools.product(*ranges):
        visits = np.array(counts, dtype=float).reshape(2, 3)
        busy = (visits * (length + detour[:, None])).sum(axis=0)
        if np.all(busy <= free + 1e-9):
            patterns.append((visits, length, np.repeat(detour[:, None], 3, axis=1)))
    return patterns


def battery_ok(case: FleetCase, battery_in_mwh: np.ndarray) -> bool:
    """Per bus energy path within the SOC window and ending no emptier (one bus, periods)."""
    b = case.battery
    use = 0.2 * np.array([0.0, 1.0, 0.0])
    path = b.battery_mwh * b.soc_initial + np.cumsum(battery_in_mwh - use)
    return bool(np.all(path >= b.battery_mwh * b.soc_min - 1e-9)
                and np.all(path <= b.battery_mwh * b.soc_max + 1e-9)
                and path[-1] >= b.battery_mwh * b.soc_initial - 1e-9)


def brute_force_full(case: FleetCase, coupling: CouplingTerms | None) -> float:
    """Least C_TNO (+ ADMM terms) over all full-energy visit patterns of both buses."""
    patterns = bus_choices(case)
    best = np.inf
    eta, p = case.battery.charging_efficiency, case.battery.charge_power_max_mw
    for (v1, h1, d1), (v2, h2, d2) in itertools.product(patterns, repeat=2):
        grid = [v1 * h1 * p, v2 * h2 * p]  # (stations, periods) MWh per bus
        if not all(battery_ok(case, eta * g.sum(axis=0)) for g in grid):
            continue
        station = grid[0] + grid[1]
        if np.any(station > case.station_power_max_mw()[:, None] + 1e-9):
            continue
        cost = TARIFF @ station.sum(axis=0) + 50.0 * ((v1 * d1).sum() + (v2 * d2).sum())
        if coupling is not None:
            cost += coupling.cost_usd(station)
        best = min(best, cost)
    return float(best)


def brute_force_up_to(case: FleetCase) -> float:
    """Least C_TNO over all visit patterns, energies ≤ the visits' (an LP for each pattern)."""
    patterns = bus_choices(case)
    eta, p = case.battery.charging_efficiency, case.battery.charge_power_max_mw
    b = case.battery
    use = 0.2 * np.array([0.0, 1.0, 0.0])
    e0 = b.battery_mwh * b.soc_initial
    # variables: grid MWh g[bus, station, period] (12); battery path as cumulative sums
    cumulative = np.tril(np.ones((3, 3)))
    rows, rhs = [], []
    for bus in range(2):
        block = np.zeros((3, 12))
        for s in range(2):
            block[:, bus * 6 + s * 3: bus * 6 + s * 3 + 3] = eta * cumulative
        level = e0 - cumulative @ use  # energy path without charging
        rows += [block, -block, -block[-1:]]
        rhs += [b.battery_mwh * b.soc_max - level, level - b.battery_mwh * b.soc_min,
                [level[-1] - e0]]
    for s in range(2):
        for t in range(3):
            row = np.zeros(12)
            row[[s * 3 + t, 6 + s * 3 + t]] = 1.0
            rows.append(row[None, :])
            rhs.append([case.station_power_max_mw()[s] * case.period_hours])
    a_ub, b_ub = np.vstack(rows), np.concatenate([np.atleast_1d(r) for r in rhs])
    c = np.tile(np.tile(TARIFF, 2), 2)
    best = np.inf
    for (v1, h1, d1), (v2, h2, d2) in itertools.product(patterns, repeat=2):
        upper = np.concatenate([(v1 * h1 * p).ravel(), (v2 * h2 * p).ravel()])
        result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(np.zeros(12), upper,
                                                                  strict=True)),
                         method="highs")
        if result.status == 0:
            best = min(best, result.fun + 50.0 * ((v1 * d1).sum() + (v2 * d2).sum()))
    return float(best)


@pytest.fixture(scope="module")
def full(case: FleetCase) -> FleetCase:
    """Full-energy visits; with S7 at 0.1 MW no such plan ends the day full enough, so 0.3."""
    return replace(case, fleet_model="bus-mip-full-visits",
                   stations=(FleetStation("S7", 7, 0.3), case.stations[1]))


def test_the_milp_finds_the_enumerated_optimum_of_whole_visits(case: FleetCase) -> None:
    expected = brute_force_up_to(case)
    plan = BusChargingModel(case).plan()
    assert plan.status == "optimal"
    assert plan.cost_usd == pytest.approx(expected, abs=1e-6)
    # whole visits cost more than the pooled LP's fractional ones here (52.54 $): not a
    # relaxation-tight case
    lp = build_fleet_model(replace(case, fleet_model="pooled-lp")).plan()
    assert lp.cost_usd < expected - 1.0
    # visits are whole, S7's limit binds and the detour station is used
    assert np.allclose(plan.visits, np.rint(plan.visits))
    assert plan.station_load_mw[0].max() == pytest.approx(0.1, abs=1e-9)
    assert plan.station_load_mw[1].sum() > 0
    assert plan.energy_mwh.shape == (1, 4)


def test_full_energy_visits_match_the_enumeration(case: FleetCase, full: FleetCase) -> None:
    assert not np.isfinite(brute_force_full(replace(full, stations=case.stations), None))
    assert build_fleet_model(replace(full, stations=case.stations)).plan().status \
        == "infeasible"
    plan = build_fleet_model(full).plan()
    assert plan.status == "optimal"
    assert plan.cost_usd == pytest.approx(brute_force_full(full, None), abs=1e-6)
    # every visit delivers its whole energy: 0.15 MW for 0.5 h (night) or 0.3 h (layover)
    assert np.allclose(plan.station_load_mw / 0.015, np.rint(plan.station_load_mw / 0.015))


@pytest.mark.parametrize("s7_price", [90.0, 150.0])
def test_the_admm_step_with_a_penalty_matches_the_enumeration(full: FleetCase,
                                                              s7_price: float) -> None:
    price = np.array([[s7_price, -30.0, s7_price - 30.0], [5.0, 0.0, 20.0]])
    target = np.array([[0.1, 0.0, 0.15], [0.05, 0.02, 0.0]])
    terms = CouplingTerms.consumer(price, 300.0, target, 1.0, full.station_names)
    plan = BusChargingModel(full).consensus_step(terms)
    assert plan.status == "optimal"
    assert plan.objective_usd == pytest.approx(brute_force_full(full, terms), abs=1e-5)
    assert plan.cost_usd + plan.coordination_usd == pytest.approx(plan.objective_usd, abs=1e-5)


def test_an_unknown_fleet_model_is_refused(case: FleetCase) -> None:
    with pytest.raises(InvalidInputError, match="fleet_model"):
        replace(case, fleet_model="integer")  # type: ignore[arg-type]


def test_a_timetable_without_room_for_any_visit_is_refused(case: FleetCase) -> None:
    busy = replace(case.lines[0], service_share=np.ones(3))
    with pytest.raises(InvalidInputError, match="no bus has time"):
        BusChargingModel(replace(case, lines=(busy,)))

"""The centralized joint optimum models the same seed-003 traffic as the department.

Nguyen–Dupuis over the day's first 6 hours with 3 % EVs, stations cs6/cs10/cs11, no departure
shifting and a quarter of each period's vehicles carried into the next (``residual_share``,
seed 003's eq. 1.e), coupled with case33bw (seed 002's DER, stations at buses 16, 20, 32, a
time-of-use tariff). Independent numbers: the department's own path-based equilibrium at the
joint prices (the equilibrium characterization of the optimum) reproduces the joint loads and
road flows, and the DSO alone at the joint loads has the joint DSO cost. The same with EV
classes of 15 and 45 kWh (seed 003's 1.g–1.h) on top: the department's loads at the joint prices
are the joint loads, and the loads are Σ_c E_c × (class-c EVs charging).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import read_dso_case_toml
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.ev_classes import EvClass
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.lab.references import centralized
from ptn.lab.references.centralized import JointSolution, solve_joint_min_cost
from ptn.lab.references.solver_attempts import SHORT_STEP_FRACTION
from tests.support import REPOSITORY
from tests.support.power_cases import dso_alone
from tests.support.traffic_cases import PROFILE, STATIONS

PERIODS = 6
BUSES = {"cs6": 16, "cs10": 20, "cs11": 32}
RESIDUAL = 0.25


def traffic_problem(residual: float, classes: tuple[EvClass, ...] = ()) -> MultiPeriodProblem:
    """Stations of 30 charges of 45 kWh per hour, 0.5 h each (in 15 kWh blocks with classes)."""
    network = nguyen_dupuis()
    blocks = 3 if classes else 1
    stations = tuple(ChargingStation(name, node, 30.0 * blocks, 0.5 / blocks, 0.5,
                                     np.full(PERIODS, 100.0)) for name, node in STATIONS)
    demand = np.outer(PROFILE[:PERIODS] * 4.0, network.od_demand)
    return build_multiperiod_problem(MultiPeriodSpec(
        ChargingNetworkSpec(network, stations, 0.045 / blocks),
        gv_demand_veh_per_h=demand * 0.97, ev_demand_veh_per_h=demand * 0.03,
        max_shift_periods=0, price_sensitivity=0.0, residual_share=residual, ev_classes=classes))


@pytest.fixture(scope="module")
def case() -> DsoCase:
    feeder = load_feeder("case33bw")
    case = read_dso_case_toml(REPOSITORY / "scenarios/der/seed002-ieee33.toml", (feeder,),
                              PERIODS)
    return dataclasses.replace(
        case, charging_points=tuple(ChargingPoint(name, bus) for name, bus in BUSES.items()),
        upstream_price_per_mwh=np.array([45.0, 45.0, 45.0, 45.0, 45.0, 85.0]))


@pytest.fixture(scope="module")
def traffic() -> MultiPeriodProblem:
    return traffic_problem(RESIDUAL)


@pytest.fixture(scope="module")
def joint(traffic: MultiPeriodProblem, case: DsoCase) -> JointSolution:
    solution = solve_joint_min_cost(traffic, case)
    assert solution.status == "optimal", solution.message
    return solution


def test_the_department_at_the_joint_prices_reproduces_loads_and_road_flows(
    joint: JointSolution, traffic: MultiPeriodProblem, case: DsoCase
) -> None:
    assert joint.price_per_mwh.min() > 0
    alone = traffic.solve(joint.price_per_mwh, gap=1e-12)
    assert alone.relative_gap < 1e-11
    np.testing.assert_allclose(alone.station_load_mw.T, joint.station_load_mw, rtol=0,
                               atol=1e-4)
    road = traffic.spec.charging.num_road_links
    joint_road = joint.link_flow[: PERIODS * traffic.block].reshape(PERIODS, -1)[:, :road]
    np.testing.assert_allclose(joint_road, alone.road_link_flow_veh_per_h, rtol=0, atol=1e-2)
    # the carried vehicles are on the joint problem's roads as on the department's
    assert alone.residual.carried_in_veh_per_h[1:].sum() > 0
    assert joint.traffic_cost == pytest.approx(case.period_hours
                                               * traffic.potential(joint.link_flow), rel=1e-12)


def test_the_dso_alone_at_the_joint_loads_has_the_joint_cost(
    joint: JointSolution, case: DsoCase
) -> None:
    alone = dso_alone(case, joint.station_names, joint.station_load_mw)
    assert alone.objective == pytest.approx(joint.dso_cost, rel=1e-6)


def test_the_residual_costs_travel_time(joint: JointSolution, case: DsoCase) -> None:
    plain = solve_joint_min_cost(traffic_problem(0.0), case)
    assert plain.status == "optimal"
    # the same EV trips charge once either way; the carried vehicles add road time
    np.testing.assert_allclose(joint.station_load_mw.sum(), plain.station_load_mw.sum(),
                               rtol=1e-6)
    assert joint.traffic_cost > plain.traffic_cost * 1.1


def test_ev_classes_in_the_joint_problem(case: DsoCase) -> None:
    classes = (EvClass("city", 0.5, 0.015), EvClass("long", 0.5, 0.045))
    traffic = traffic_problem(RESIDUAL, classes)
    joint = solve_joint_min_cost(traffic, case)
    assert joint.status == "optimal", joint.message
    alone = traffic.solve(joint.price_per_mwh, gap=1e-12)
    np.testing.assert_allclose(alone.station_load_mw.T, joint.station_load_mw, rtol=0,
                               atol=1e-4)
    by_class = alone.station_vehicles_by_class()
    rebuilt = 0.015 * by_class["EV:city"] + 0.045 * by_class["EV:long"]
    np.testing.assert_allclose(rebuilt, alone.station_load_mw, rtol=1e-9, atol=1e-12)
    # 30 kWh per EV trip on average, each trip charging once
    assert joint.station_load_mw.sum() == pytest.approx(
        0.030 * traffic.spec.ev_demand_veh_per_h.sum(), rel=1e-6)


@pytest.mark.parametrize(("residual", "position"), [(RESIDUAL, -3), (0.0, -2)])
def test_unequilibrated_attempt_comes_before_the_last_for_seed003_traffic(
    case: DsoCase, monkeypatch: pytest.MonkeyPatch, residual: float, position: int
) -> None:
    seen: list[list[dict[str, object]]] = []
    real = centralized.solve_in_turn

    def recording(model, solver, attempts, what):  # type: ignore[no-untyped-def]
        seen.append([dict(a) for a in attempts])
        return real(model, solver, attempts, what)

    monkeypatch.setattr(centralized, "solve_in_turn", recording)
    traffic = traffic_problem(residual)
    if residual == 0.0:
        traffic = build_multiperiod_problem(dataclasses.replace(traffic.spec, max_shift_periods=1))
    assert solve_joint_min_cost(traffic, case).status == "optimal"
    attempts = seen[0]
    assert len(attempts) == 5
    assert [a.get("equilibrate_enable", True) for a in attempts].count(False) == 1
    assert attempts[position].get("equilibrate_enable") is False
    others = [a for a in attempts if a.get("equilibrate_enable", True)]
    unequilibrated = {k: v for k, v in attempts[position].items() if k != "equilibrate_enable"}
    assert unequilibrated == others[-2]  # the DSO's own settings, unequilibrated
    # last, the first (tightest) attempt with shorter interior-point steps
    assert attempts[-1] == {**attempts[0], "max_step_fraction": SHORT_STEP_FRACTION}

"""The centralized SUE + OPF reference (seed 002's coupling), checked from outside.

Scenario: Nguyen–Dupuis over 3 periods (demand 0.6, 1.0, 0.8 of the classic OD matrix, 3 % EVs,
no departure shifting), stations cs6/cs10/cs11 at nodes 6, 10, 11 (30 veh/h, 0.5 h, J = 0.5),
logit dispersion theta = 1/$, coupled with case33bw carrying seed 002's DER (8-hour periods)
and the stations at buses 16, 20, 32.

Independent numbers: the SUE engine (:func:`ptn.engines.traffic.sue.solve_stochastic_equilibrium`,
Newton on the link-flow fixed point, a different algorithm on per-period single-period problems
built by :func:`ptn.engines.traffic.charging.build_charging_problem`), the DSO's OPF solved alone
with the charging loads fixed, and the uncoordinated baseline (SUE at seed 002's flat tariff, the
DSO dispatching whatever loads result).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import read_dso_case_toml
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.charging import (
    ChargingNetworkSpec,
    ChargingStation,
    build_charging_problem,
)
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.sue import SueResult, solve_stochastic_equilibrium
from ptn.lab.references.centralized import solve_joint_min_cost
from ptn.lab.references.centralized_sue import (
    JointSueSolution,
    solve_joint_sue_min_cost,
    solve_sue_reference,
)
from tests.support import REPOSITORY
from tests.support.power_cases import by_name, dso_alone

PROFILE = np.array([0.6, 1.0, 0.8])
EV_SHARE = 0.03
STATIONS = (("cs6", 6), ("cs10", 10), ("cs11", 11))
BUSES = {"cs6": 16, "cs10": 20, "cs11": 32}
THETA_PER_USD = 1.0
#: seed 002's flat tariff, 0.68 CNY/kWh (the code says "$" for any currency)
FLAT_TARIFF_PER_MWH = 680.0
#: station prices differing by station and period (up to 1.8 $ per charge apart)
PRICES_PER_MWH = np.array([[100.0, 120.0, 90.0], [110.0, 100.0, 95.0], [90.0, 130.0, 100.0]])


def make_spec(ev_share: float = EV_SHARE, max_shift_periods: int = 0) -> MultiPeriodSpec:
    network = load_network("nguyen-dupuis")
    stations = tuple(ChargingStation(name, node, 30.0, 0.5, 0.5, np.full(PROFILE.size, 100.0))
                     for name, node in STATIONS)
    demand = np.outer(PROFILE, network.od_demand)
    return MultiPeriodSpec(
        ChargingNetworkSpec(network, stations),
        gv_demand_veh_per_h=demand * (1.0 - ev_share),
        ev_demand_veh_per_h=demand * ev_share,
        max_shift_periods=max_shift_periods,
        price_sensitivity=0.0,
    )


def make_case(periods: int = PROFILE.size) -> DsoCase:
    feeder = load_feeder("case33bw")
    case = read_dso_case_toml(REPOSITORY / "scenarios/der/seed002-ieee33.toml", (feeder,),
                              periods)
    return dataclasses.replace(
        case, charging_points=tuple(ChargingPoint(name, bus) for name, bus in BUSES.items()))


@pytest.fixture(scope="module")
def spec() -> MultiPeriodSpec:
    return make_spec()


@pytest.fixture(scope="module")
def traffic(spec: MultiPeriodSpec) -> MultiPeriodProblem:
    return build_multiperiod_problem(spec)


@pytest.fixture(scope="module")
def case() -> DsoCase:
    return make_case()


@pytest.fixture(scope="module")
def joint(traffic: MultiPeriodProblem, case: DsoCase) -> JointSueSolution:
    return solve_joint_sue_min_cost(traffic, case, theta=THETA_PER_USD)


def sue_per_period(spec: MultiPeriodSpec, price_per_mwh: np.ndarray) -> list[SueResult]:
    """The SUE engine's equilibrium of every period on its own single-period problem."""
    charging = spec.charging
    priced = dataclasses.replace(charging, stations=tuple(
        dataclasses.replace(station, price_per_mwh=price_per_mwh[s])
        for s, station in enumerate(charging.stations)))
    results = []
    for t in range(spec.num_periods):
        problem = build_charging_problem(priced, spec.gv_demand_veh_per_h[t],
                                         spec.ev_demand_veh_per_h[t], period=t).problem
        result = solve_stochastic_equilibrium(problem, theta=THETA_PER_USD, method="newton",
                                              path_set="enumerate", criterion="residual",
                                              tolerance=1e-10)
        assert result.converged and result.num_paths == 70  # 25 GV + 45 EV routes
        results.append(result)
    return results


def station_loads(spec: MultiPeriodSpec, results: list[SueResult]) -> np.ndarray:
    """(stations, periods) loads in MW of per-period SUE results."""
    road = spec.charging.num_road_links
    flows = np.stack([result.link_flow[road:] for result in results]).T
    return np.asarray(spec.charging.energy_per_charge_mwh * flows)


def unpriced_fisk(spec: MultiPeriodSpec, results: list[SueResult],
                  price_per_mwh: np.ndarray) -> float:
    """Σ over periods of the SUE engine's Fisk objective minus the charging payments ($/h)."""
    payments = float(np.sum(price_per_mwh * station_loads(spec, results)))
    return sum(result.fisk_objective for result in results) - payments


# ------------------------------------------------------------------ (a) traffic only


def test_traffic_only_reference_is_the_sue_engines_equilibrium(
    spec: MultiPeriodSpec, traffic: MultiPeriodProblem
) -> None:
    reference = solve_sue_reference(traffic, PRICES_PER_MWH, theta=THETA_PER_USD)
    assert reference.status == "optimal", reference.message
    assert reference.paths.num_paths == 3 * 70
    assert reference.davidson_above_knee == ()
    engine = sue_per_period(spec, PRICES_PER_MWH)
    # measured: 1e-7 veh/h, 3e-9 relative
    for t, result in enumerate(engine):
        np.testing.assert_allclose(reference.period_link_flow_veh_per_h[t], result.link_flow,
                                   rtol=1e-6, atol=1e-5)
    assert reference.fisk_objective == pytest.approx(
        sum(result.fisk_objective for result in engine), rel=1e-10)
    assert reference.fisk_unpriced == pytest.approx(
        unpriced_fisk(spec, engine, PRICES_PER_MWH), rel=1e-10)
    np.testing.assert_allclose(reference.station_load_mw, station_loads(spec, engine),
                               rtol=0, atol=1e-8)
    # the route flows are the logit split of their OD's demand at their own costs
    graph_demand = np.concatenate([c.od_demand for c in traffic.problem.classes])
    od_total = np.bincount(reference.paths.path_od, weights=reference.path_flow_veh_per_h)
    np.testing.assert_allclose(od_total, graph_demand[reference.paths.od_key], rtol=1e-9)


def test_traffic_only_reference_follows_station_order(traffic: MultiPeriodProblem) -> None:
    order = ("cs11", "cs6", "cs10")
    rows = [2, 0, 1]  # positions of cs11, cs6, cs10 in the model's order
    plain = solve_sue_reference(traffic, PRICES_PER_MWH, theta=THETA_PER_USD)
    permuted = solve_sue_reference(traffic, PRICES_PER_MWH[rows], theta=THETA_PER_USD,
                                   station_order=order)
    assert permuted.station_names == order
    np.testing.assert_allclose(permuted.station_load_mw, plain.station_load_mw[rows], atol=1e-9)
    np.testing.assert_allclose(permuted.link_flow, plain.link_flow, atol=1e-7)


# ------------------------------------------------------------------ (b) joint optimum


def test_joint_solution_is_optimal_exact_and_consistent(
    joint: JointSueSolution, traffic: MultiPeriodProblem, case: DsoCase
) -> None:
    assert joint.status == "optimal", joint.message
    assert joint.station_names == ("cs6", "cs10", "cs11")
    assert joint.station_load_mw.shape == joint.price_per_mwh.shape == (3, 3)
    assert joint.relaxation_exact and joint.relaxation_gap_raw_pu2 < 1e-6
    assert joint.davidson_above_knee == ()
    assert joint.total_cost == pytest.approx(joint.traffic_cost + joint.dso_cost, rel=1e-12)
    assert joint.travel_cost == pytest.approx(
        case.period_hours * traffic.potential(joint.link_flow), rel=1e-12)
    # loads are E_B times the station flows, on the traffic side and on the DSO side
    road = traffic.spec.charging.num_road_links
    energy = traffic.spec.charging.energy_per_charge_mwh
    np.testing.assert_allclose(joint.station_load_mw,
                               energy * joint.period_link_flow_veh_per_h[:, road:].T, atol=1e-12)
    assert joint.dso is not None
    np.testing.assert_allclose(by_name(joint.dso.charging_mw, joint.station_names),
                               joint.station_load_mw, rtol=0, atol=1e-6)
    # with logit choice every station is used, so the multipliers are the embedded DLMPs
    assert joint.station_load_mw.min() > 0.1
    np.testing.assert_allclose(by_name(joint.dso.charging_dlmp_per_mwh, joint.station_names),
                               joint.price_per_mwh, rtol=1e-6)


def test_dso_alone_at_the_joint_loads_has_the_joint_cost_and_prices(
    joint: JointSueSolution, case: DsoCase
) -> None:
    alone = dso_alone(case, joint.station_names, joint.station_load_mw)
    assert alone.objective == pytest.approx(joint.dso_cost, rel=1e-6)  # measured 8e-10
    dlmp = by_name(alone.charging_dlmp_per_mwh, joint.station_names)
    # measured 3.6e-3 $/MWh at 350-1060 $/MWh (the OPF alone solves to 1e-7 only)
    np.testing.assert_allclose(joint.price_per_mwh, dlmp, rtol=0, atol=2e-2)


def test_sue_at_the_joint_prices_reproduces_the_joint_loads(
    joint: JointSueSolution, spec: MultiPeriodSpec, case: DsoCase
) -> None:
    engine = sue_per_period(spec, joint.price_per_mwh)
    # measured 1.5e-5 MW (3e-4 veh/h) on loads of 0.5-1.0 MW
    np.testing.assert_allclose(station_loads(spec, engine), joint.station_load_mw, rtol=0,
                               atol=1e-4)
    for t, result in enumerate(engine):
        np.testing.assert_allclose(joint.period_link_flow_veh_per_h[t], result.link_flow,
                                   rtol=1e-5, atol=5e-3)
    # the traffic side's part of the joint cost is Δt × the unpriced Fisk potential
    assert joint.traffic_cost == pytest.approx(
        case.period_hours * unpriced_fisk(spec, engine, joint.price_per_mwh), rel=1e-7)


# ------------------------------------------------------------------ (c) baseline


def test_joint_optimum_is_no_worse_than_the_uncoordinated_baseline(
    joint: JointSueSolution, spec: MultiPeriodSpec, case: DsoCase
) -> None:
    flat = np.full((3, spec.num_periods), FLAT_TARIFF_PER_MWH)
    engine = sue_per_period(spec, flat)
    loads = station_loads(spec, engine)
    dispatch = dso_alone(case, spec.charging.station_names, loads)
    baseline = case.period_hours * unpriced_fisk(spec, engine, flat) + dispatch.objective
    assert joint.total_cost <= baseline
    # the coordination moves load between buses and periods; measured saving 260.7 $ of
    # 483,840 $ (the flat tariff ignores that the DLMPs differ by bus)
    assert baseline - joint.total_cost > 1.0
    assert np.abs(joint.station_load_mw - loads).max() > 0.01


def test_large_theta_approaches_the_deterministic_joint_optimum(
    traffic: MultiPeriodProblem, case: DsoCase
) -> None:
    """As theta grows the SUE tends to the UE (Fisk 1980), so the joint optimum tends to the
    link-based deterministic reference's (:func:`solve_joint_min_cost`, another model)."""
    ue = solve_joint_min_cost(traffic, case)
    assert ue.status == "optimal", ue.message
    errors = []
    for theta in (100.0, 1000.0):
        sue = solve_joint_sue_min_cost(traffic, case, theta=theta)
        assert sue.status == "optimal", sue.message
        errors.append((np.abs(sue.station_load_mw - ue.station_load_mw).max(),
                       np.abs(sue.price_per_mwh - ue.price_per_mwh).max()))
    (load_100, price_100), (load_1000, price_1000) = errors
    # measured: 1.5e-3 MW and 0.17 $/MWh at theta 100, 2.5e-4 MW and 0.018 $/MWh at 1000
    assert load_1000 < load_100 / 3 and price_1000 < price_100 / 3
    assert load_1000 < 1e-3 and price_1000 < 0.05
    assert sue.travel_cost + sue.dso_cost == pytest.approx(ue.total_cost, rel=1e-6)


# ------------------------------------------------------------------ failures and input


def test_failures_are_data(case: DsoCase) -> None:
    # 10 % EVs need up to 200 charges/h against 90 of station capacity: no feasible flow with
    # the pure Davidson delay
    traffic = build_multiperiod_problem(make_spec(ev_share=0.10))
    solution = solve_joint_sue_min_cost(traffic, case, theta=THETA_PER_USD)
    assert solution.status == "infeasible", solution.message
    assert np.isnan(solution.total_cost) and np.isnan(solution.station_load_mw).all()
    reference = solve_sue_reference(traffic, PRICES_PER_MWH, theta=THETA_PER_USD)
    assert reference.status == "infeasible"
    assert np.isnan(reference.link_flow).all()


@pytest.mark.parametrize("theta", [0.0, -1.0, float("nan"), float("inf")])
def test_theta_must_be_positive_and_finite(
    theta: float, traffic: MultiPeriodProblem, case: DsoCase
) -> None:
    with pytest.raises(InvalidInputError, match="theta"):
        solve_joint_sue_min_cost(traffic, case, theta=theta)
    with pytest.raises(InvalidInputError, match="theta"):
        solve_sue_reference(traffic, PRICES_PER_MWH, theta=theta)


def test_mismatched_periods_and_stations_are_rejected(
    traffic: MultiPeriodProblem, case: DsoCase
) -> None:
    with pytest.raises(InvalidInputError, match="3 periods but the DSO case 4"):
        solve_joint_sue_min_cost(traffic, make_case(4), theta=THETA_PER_USD)
    renamed = dataclasses.replace(case, charging_points=(
        ChargingPoint("cs6", 16), ChargingPoint("cs10", 20), ChargingPoint("cs12", 32)))
    with pytest.raises(InvalidInputError, match="station cs11"):
        solve_joint_sue_min_cost(traffic, renamed, theta=THETA_PER_USD)
    extra = dataclasses.replace(case, charging_points=(*case.charging_points,
                                                       ChargingPoint("cs99", 25)))
    with pytest.raises(InvalidInputError, match="charging point cs99"):
        solve_joint_sue_min_cost(traffic, extra, theta=THETA_PER_USD)
    with pytest.raises(InvalidInputError, match="cs12, which is not a station"):
        solve_joint_sue_min_cost(traffic, case, theta=THETA_PER_USD,
                                 station_order=("cs6", "cs10", "cs12"))
    with pytest.raises(InvalidInputError, match="misses cs11"):
        solve_joint_sue_min_cost(traffic, case, theta=THETA_PER_USD,
                                 station_order=("cs6", "cs10"))
    with pytest.raises(InvalidInputError, match=r"shape \(3, 3\)"):
        solve_sue_reference(traffic, PRICES_PER_MWH[:, :2], theta=THETA_PER_USD)
    with pytest.raises(InvalidInputError, match="invalid price"):
        solve_sue_reference(traffic, -PRICES_PER_MWH, theta=THETA_PER_USD)


def test_shifting_and_elastic_demand_are_rejected(case: DsoCase) -> None:
    with pytest.raises(InvalidInputError, match="max_shift_periods must be 0"):
        solve_joint_sue_min_cost(make_spec(max_shift_periods=1), case, theta=THETA_PER_USD)
    elastic = dataclasses.replace(make_spec(), price_sensitivity=1.5)
    with pytest.raises(InvalidInputError, match="price_sensitivity"):
        solve_joint_sue_min_cost(elastic, case, theta=THETA_PER_USD)
    with pytest.raises(InvalidInputError, match="MultiPeriodSpec or MultiPeriodProblem"):
        solve_joint_sue_min_cost(case, case, theta=THETA_PER_USD)  # type: ignore[arg-type]

"""Per-period logit SUE with charging stations (seed 002) on Nguyen–Dupuis over a smooth day.

Independent checks: every period's link flows are the logit loading of their own costs, with
routes enumerated by depth-first search and costs written out from MODELS.md §1
(:mod:`tests.support.charging_oracle`), in numpy; seed 002's warm start (each period from the
previous one) saves MSA iterations and lands on the same flows; the ADMM step is the minimiser of
Fisk's objective plus ``λ·P + (ρ/2)(P − z)²``, checked against cvxpy on one period, and pulls the
station loads towards the target as the penalty grows; invalid input is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue_periods import (
    SuePeriodsProblem,
    SuePeriodsResult,
    SuePeriodsSpec,
    compare_warm_start,
)
from tests.support.charging_oracle import (
    ENERGY_PER_CHARGE_MWH,
    VALUE_OF_TIME_PER_H,
    ev_paths,
    road_costs_usd,
    simple_road_paths,
    station_costs_usd,
)

T = 24
HOURS = np.arange(T)
# a smooth day: 0.10 of the classic Nguyen–Dupuis demand at 0 h, 1.0 at noon
PROFILE = 0.55 + 0.45 * np.sin(2.0 * np.pi * (HOURS - 6) / 24.0)
STATION_NODES = (6, 10, 11)
CAPACITY = np.full(3, 40.0)
CHARGING_TIME_H = np.full(3, 0.5)
DAVIDSON_J = np.full(3, 0.5)
EV_SHARE = 0.03
THETA = 1.0  # 1/$
PRICES = (60.0 + 60.0 * PROFILE)[None, :] + np.array([0.0, 10.0, -5.0])[:, None]
STATION_NAMES = tuple(f"cs{node}" for node in STATION_NODES)


def coupling(price: np.ndarray, penalty: float, target: np.ndarray) -> CouplingTerms:
    """The traffic side's (consuming side's) ADMM terms; its model takes their rate form, so
    the period length is immaterial (1 h)."""
    return CouplingTerms.consumer(price, penalty, target, 1.0, STATION_NAMES)


def make_spec(network: RoadNetwork, periods: slice = slice(None), **options: object
              ) -> SuePeriodsSpec:
    options = {"theta_per_dollar": THETA, **options}
    profile = PROFILE[periods]
    stations = tuple(
        ChargingStation(f"cs{node}", node, float(CAPACITY[s]), float(CHARGING_TIME_H[s]),
                        float(DAVIDSON_J[s]), PRICES[s, periods])
        for s, node in enumerate(STATION_NODES)
    )
    demand = np.outer(profile, network.od_demand)
    return SuePeriodsSpec(ChargingNetworkSpec(network, stations), demand * (1 - EV_SHARE),
                          demand * EV_SHARE, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return nguyen_dupuis()


@pytest.fixture(scope="module")
def exact(network: RoadNetwork) -> tuple[SuePeriodsProblem, SuePeriodsResult]:
    """Newton to a fixed-point residual of 1e-9 veh/h in every period."""
    problem = SuePeriodsProblem(make_spec(network, method="newton", criterion="residual",
                                          tolerance_veh_per_h=1e-9))
    return problem, problem.solve()


@pytest.fixture(scope="module")
def msa(network: RoadNetwork) -> SuePeriodsProblem:
    """Seed 002's set-up: MSA, its step test at 1e-3 veh/h, periods chained."""
    return SuePeriodsProblem(make_spec(network))


# ----------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class Routes:
    """Every route of every OD pair, enumerated independently: road-link counts, station."""

    od: np.ndarray  # OD index (network order) per route
    ev: np.ndarray  # True for EV routes
    road: np.ndarray  # (routes, road links) link use counts
    station: np.ndarray  # station index per route, -1 for GV routes


def enumerate_routes(network: RoadNetwork) -> Routes:
    stations = [network.node_index(node) for node in STATION_NODES]
    od, ev, rows, station = [], [], [], []
    for k in range(network.od_demand.size):
        o, d = int(network.od_origin[k]), int(network.od_destination[k])
        choices = [(-1, links) for links in simple_road_paths(network, o, d)]
        choices += list(ev_paths(network, stations, o, d))
        for s, links in choices:
            od.append(k)
            ev.append(s >= 0)
            station.append(s)
            rows.append(np.bincount(links, minlength=network.num_links))
    return Routes(np.array(od), np.array(ev), np.array(rows, dtype=np.float64),
                  np.array(station))


def station_cost_usd(flow: np.ndarray, price: np.ndarray, penalty: float = 0.0,
                     target: np.ndarray | None = None) -> np.ndarray:
    """Davidson delay + charge + ADMM's marginal ``ρ·E_B·(E_B·x − z)``."""
    cost = station_costs_usd(flow, CAPACITY, CHARGING_TIME_H, DAVIDSON_J, price)
    if target is not None:
        cost = cost + penalty * ENERGY_PER_CHARGE_MWH * (ENERGY_PER_CHARGE_MWH * flow - target)
    return cost


def logit_loading(network: RoadNetwork, routes: Routes, link_flow: np.ndarray, theta: float,
                  gv: np.ndarray, ev: np.ndarray, station_cost: np.ndarray) -> np.ndarray:
    """Link flows (road links + stations) of the logit route choice at ``link_flow``'s costs."""
    road = network.num_links
    cost = routes.road @ road_costs_usd(network, link_flow[:road])
    cost[routes.ev] += station_cost[routes.station[routes.ev]]
    group = routes.od * 2 + routes.ev  # one logit choice per (OD, class)
    weight = np.exp(-theta * (cost - np.array([cost[group == g].min() for g in group])))
    share = weight / np.bincount(group, weight)[group]
    flow = share * np.where(routes.ev, ev[routes.od], gv[routes.od])
    out = np.zeros(road + len(STATION_NODES))
    out[:road] = flow @ routes.road
    np.add.at(out, road + routes.station[routes.ev], flow[routes.ev])
    return out


def fisk_without_money(network: RoadNetwork, link_flow: np.ndarray, path_flow: np.ndarray,
                       theta: float) -> float:
    """BPR and Davidson integrals (MODELS.md §1 closed forms, value of time 10 $/h) plus the
    logit entropy term; no charging payments."""
    road = network.num_links
    x, y = link_flow[:road], link_flow[road:]
    t0 = network.free_flow_time / 60.0
    bpr = t0 * (x + 0.15 / 5.0 * x**5 / network.capacity**4)
    davidson = CHARGING_TIME_H * (y + DAVIDSON_J * (-y - CAPACITY * np.log(1.0 - y / CAPACITY)))
    positive = path_flow[path_flow > 0]
    entropy = float(np.sum(positive * (np.log(positive) - 1.0)))
    return VALUE_OF_TIME_PER_H * float(bpr.sum() + davidson.sum()) + entropy / theta


# ----------------------------------------------------------------------------- tests


def test_every_period_is_the_logit_fixed_point_of_its_own_costs(
    network: RoadNetwork, exact: tuple[SuePeriodsProblem, SuePeriodsResult]
) -> None:
    problem, result = exact
    assert result.converged and result.num_periods == T
    assert result.residual_veh_per_h.max() <= 1e-9
    routes = enumerate_routes(network)
    spec = problem.spec
    for t in range(T):
        x = result.link_flow_veh_per_h[t]
        again = logit_loading(network, routes, x, THETA, spec.gv_demand_veh_per_h[t],
                              spec.ev_demand_veh_per_h[t],
                              station_cost_usd(x[network.num_links:], PRICES[:, t]))
        assert np.allclose(again, x, rtol=0, atol=1e-7), t
    # station loads are flows x 45 kWh, laid out (stations, periods); EVs all charge once
    assert result.station_load_mw.shape == (3, T)
    assert np.allclose(result.station_load_mw,
                       result.link_flow_veh_per_h[:, network.num_links:].T * ENERGY_PER_CHARGE_MWH)
    assert np.allclose(result.station_flow_veh_per_h.sum(axis=0),
                       spec.ev_demand_veh_per_h.sum(axis=1))
    # the reported potential is Fisk's objective without charging money, summed over periods
    expected = sum(fisk_without_money(network, result.link_flow_veh_per_h[t],
                                      result.path_flow_veh_per_h[t], THETA) for t in range(T))
    assert result.potential == pytest.approx(expected, rel=1e-12)
    assert problem.potential(result.link_flow_veh_per_h,
                             result.path_flow_veh_per_h) == pytest.approx(expected, rel=1e-12)


def test_warm_started_msa_needs_far_fewer_iterations_and_finds_the_same_flows(
    msa: SuePeriodsProblem, exact: tuple[SuePeriodsProblem, SuePeriodsResult]
) -> None:
    comparison = compare_warm_start(msa)
    assert comparison.status == AssignmentStatus.CONVERGED
    assert comparison.method == "msa"
    cold, warm = comparison.cold_iterations, comparison.warm_iterations
    assert cold.shape == warm.shape == (T,)
    assert cold[0] == warm[0]  # period 0 has nothing to start from
    assert warm.sum() < 0.5 * cold.sum()
    # the congested periods (cold MSA needs hundreds of iterations there) gain most
    busy = PROFILE > 0.8
    assert warm[busy].sum() < 0.3 * cold[busy].sum()
    assert comparison.warm.warm_started and not comparison.cold.warm_started
    assert np.all(comparison.cold.msa_start == 1) and comparison.warm.msa_start[1:].min() >= 2
    assert len(comparison.rows()) == T
    # seed 002's step test stops both at 1e-3 veh/h per iteration; the fixed-point residual is
    # then at most n times that, and both land within 0.5 veh/h (of up to 2000) of the exact SUE
    _, reference = exact
    for result in (comparison.cold, comparison.warm):
        assert result.final_step_veh_per_h.max() <= 1e-3
        assert np.all(result.residual_veh_per_h
                      <= 1e-3 * (result.msa_start + result.iterations) + 1e-9)
        assert np.abs(result.link_flow_veh_per_h - reference.link_flow_veh_per_h).max() < 0.5
    assert comparison.max_link_flow_difference_veh_per_h < 0.5


def test_newton_reaches_the_same_equilibrium_in_a_few_iterations_per_period(
    network: RoadNetwork, exact: tuple[SuePeriodsProblem, SuePeriodsResult]
) -> None:
    problem, reference = exact
    assert reference.iterations.max() <= 10
    # a later solve started from this one (previous=) at the same prices is done at once
    again = problem.solve(previous=reference)
    assert again.converged and again.iterations.max() <= 2
    assert np.allclose(again.link_flow_veh_per_h, reference.link_flow_veh_per_h, atol=1e-8)


def test_the_admm_step_minimises_fisk_plus_the_augmented_lagrangian_terms(
    network: RoadNetwork,
) -> None:
    cp = pytest.importorskip("cvxpy")
    busy = slice(12, 13)  # noon, the busiest period
    problem = SuePeriodsProblem(make_spec(network, busy, method="newton",
                                          criterion="residual", tolerance_veh_per_h=1e-10))
    spec = problem.spec
    price = np.array([[95.0], [-20.0], [140.0]])  # λ, $/MWh (a dual price may be negative)
    target = np.array([[0.3], [1.2], [0.5]])  # z, MW
    penalty = 400.0  # ρ, $/(MW²·h)
    result = problem.solve_coupled(coupling(price, penalty, target))
    assert result.converged

    routes = enumerate_routes(network)
    gv, ev = spec.gv_demand_veh_per_h[0], spec.ev_demand_veh_per_h[0]
    demand = np.where(routes.ev, ev[routes.od], gv[routes.od])
    f = cp.Variable(routes.od.size, nonneg=True)
    road = f @ routes.road
    on_station = np.zeros((routes.od.size, 3))
    on_station[np.flatnonzero(routes.ev), routes.station[routes.ev]] = 1.0
    stations = f @ on_station
    t0 = network.free_flow_time / 60.0
    load = ENERGY_PER_CHARGE_MWH * stations
    road_over_capacity = cp.multiply(1.0 / network.capacity, road)  # keeps x^5 well scaled
    objective = (
        VALUE_OF_TIME_PER_H * cp.sum(cp.multiply(t0, road)
                                     + cp.multiply(t0 * 0.03 * network.capacity,
                                                   cp.power(road_over_capacity, 5)))
        + VALUE_OF_TIME_PER_H * cp.sum(cp.multiply(CHARGING_TIME_H * (1 - DAVIDSON_J), stations)
                                       - cp.multiply(CHARGING_TIME_H * DAVIDSON_J * CAPACITY,
                                                     cp.log(1 - stations / CAPACITY)))
        + (cp.sum(-cp.entr(f)) - cp.sum(f)) / THETA
        + price[:, 0] @ load + penalty / 2 * cp.sum_squares(load - target[:, 0])
    )
    group = routes.od * 2 + routes.ev
    constraints = [cp.sum(f[np.flatnonzero(group == g)]) == demand[group == g][0]
                   for g in np.unique(group)]
    program = cp.Problem(cp.Minimize(objective), constraints)
    program.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert program.status == "optimal", program.status
    assert np.allclose(result.station_load_mw[:, 0], load.value, atol=1e-5)
    road_flow = np.asarray(road.value)
    assert np.allclose(result.road_link_flow_veh_per_h[0], road_flow, rtol=1e-5, atol=1e-3)
    # the ADMM terms are not the traffic side's cost: its potential has no charging money
    cvx_links = np.concatenate([road_flow, np.asarray(stations.value)])
    assert result.potential == pytest.approx(
        fisk_without_money(network, cvx_links, np.asarray(f.value), THETA), rel=1e-6)
    # and the logit fixed point holds with the ADMM marginal costs on the charging links
    x = result.link_flow_veh_per_h[0]
    again = logit_loading(network, routes, x, THETA, gv, ev,
                          station_cost_usd(x[network.num_links:], price[:, 0], penalty,
                                           target[:, 0]))
    assert np.allclose(again, x, atol=1e-7)


def test_the_penalty_pulls_the_station_loads_towards_the_target(network: RoadNetwork) -> None:
    problem = SuePeriodsProblem(make_spec(network, slice(6, 12), method="newton"))
    zero = np.zeros((3, 6))
    free = problem.solve_coupled(coupling(zero, 0.0, zero))
    # ρ = 0 is the SUE at charging price λ: the same as pricing the stations at λ (λ >= 0)
    priced = problem.solve(PRICES[:, 6:12])
    coupled = problem.solve_coupled(coupling(PRICES[:, 6:12], 0.0, zero + 5.0))
    assert np.allclose(priced.link_flow_veh_per_h, coupled.link_flow_veh_per_h, atol=1e-6)
    # a target moving load from cs6 to cs10: the distance to it shrinks as ρ grows
    target = free.station_load_mw + np.array([[-0.1], [0.1], [0.0]])
    distances = []
    previous = None
    for penalty in (0.0, 10.0, 100.0, 1000.0, 10000.0):
        result = problem.solve_coupled(coupling(zero, penalty, target), previous=previous)
        assert result.converged
        previous = result
        distances.append(float(np.linalg.norm(result.station_load_mw - target)))
    assert all(b < a for a, b in pairwise(distances))
    assert distances[-1] < 0.2 * distances[0]


def test_zero_demand_periods_and_the_warm_start_across_them(network: RoadNetwork) -> None:
    spec = make_spec(network, slice(0, 4))
    night = spec.ev_demand_veh_per_h.copy()
    night[1] = 0.0  # no EV in period 1: period 2 restarts its EV routes evenly
    quiet = SuePeriodsSpec(spec.charging, spec.gv_demand_veh_per_h, night,
                           theta_per_dollar=THETA)
    result = SuePeriodsProblem(quiet).solve()
    assert result.converged
    assert np.all(result.station_load_mw[:, 1] == 0.0)
    assert np.all(result.station_load_mw[:, 2] > 0.0)


def test_invalid_input_is_refused_with_a_clear_message(
    network: RoadNetwork, msa: SuePeriodsProblem
) -> None:
    for options, message in (
        ({"theta_per_dollar": 0.0}, "theta_per_dollar"),
        ({"theta_per_dollar": float("nan")}, "theta_per_dollar"),
        ({"method": "line-search"}, "per-period SUE method 'line-search'"),
        ({"method": "frank-wolfe"}, "unknown SUE method"),
        ({"criterion": "gap"}, "unknown criterion 'gap'"),
        ({"tolerance_veh_per_h": 0.0}, "tolerance_veh_per_h"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"warm_start": "yes"}, "warm_start"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            make_spec(network, **options)
    spec = make_spec(network)
    bad = spec.ev_demand_veh_per_h.copy()
    bad[5, 2] = -1.0
    with pytest.raises(InvalidInputError,
                       match="EV demand: OD pair 4->2 in period 5 has invalid demand"):
        SuePeriodsSpec(spec.charging, spec.gv_demand_veh_per_h, bad)
    with pytest.raises(InvalidInputError, match="GV demand has 24 periods but EV demand 3"):
        SuePeriodsSpec(spec.charging, spec.gv_demand_veh_per_h, spec.ev_demand_veh_per_h[:3])
    with pytest.raises(InvalidInputError, match="24 price periods, but the demand has 3"):
        SuePeriodsSpec(spec.charging, spec.gv_demand_veh_per_h[:3],
                       spec.ev_demand_veh_per_h[:3])
    with pytest.raises(InvalidInputError, match=r"needs shape \(periods, 4 OD pairs"):
        SuePeriodsSpec(spec.charging, spec.gv_demand_veh_per_h[:, :2],
                       spec.ev_demand_veh_per_h[:, :2])
    with pytest.raises(InvalidInputError, match=r"shape \(3, 24\)"):
        msa.solve(np.zeros((3, 23)))
    with pytest.raises(InvalidInputError, match="station cs10: invalid price -1"):
        msa.solve(np.where(np.arange(3)[:, None] == 1, -1.0, PRICES))
    with pytest.raises(InvalidInputError, match="ADMM penalty must be >= 0"):
        msa.solve_coupled(coupling(PRICES, -1.0, np.zeros((3, T))))
    with pytest.raises(InvalidInputError, match="ADMM target at station cs11 in period 0"):
        msa.solve_coupled(coupling(PRICES, 1.0, np.where(np.arange(3)[:, None] == 2, np.nan,
                                                         np.zeros((3, T)))))
    short = SuePeriodsProblem(make_spec(network, slice(0, 2)))
    with pytest.raises(InvalidInputError, match="previous result has 2 periods"):
        msa.solve(previous=short.solve())
    with pytest.raises(InvalidInputError, match="per-period SUE method"):
        msa.solve(method="line-search")

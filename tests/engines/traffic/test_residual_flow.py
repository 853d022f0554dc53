"""Seed 003's semi-dynamic assignment: residual flow carried from one period to the next.

Independent checks: a 2-period case on a one-link network computed by hand (flows, residual,
loads and the Beckmann potential from MODELS.md §1's closed forms), and on Nguyen–Dupuis the
vehicles read straight from the solver's path flows against the recursion ``c_t = r_t·(η_t +
c_{t-1})`` written out here: vehicles in = vehicles finished + carried over, period by period and
over the horizon, and every EV trip charges exactly once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import (
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import RoadNetwork
from tests.support.charging_oracle import live_paths

VALUE_OF_TIME = 10.0
ENERGY_MWH = 0.045


def one_link() -> RoadNetwork:
    """Zones 1 and 2, one link 1->2: 6 min free flow, capacity 100 veh/h, BPR 0.15/4."""
    return RoadNetwork(
        name="one-link", node_ids=np.array([1, 2]), num_zones=2, first_thru_node=3,
        link_tail=np.array([0]), link_head=np.array([1]), capacity=np.array([100.0]),
        length=np.zeros(1), free_flow_time=np.array([6.0]), b=np.array([0.15]),
        power=np.array([4.0]), toll=np.zeros(1), link_type=np.ones(1, dtype=np.int64),
        od_origin=np.array([0]), od_destination=np.array([1]), od_demand=np.array([1.0]),
    )


def test_two_periods_by_hand() -> None:
    # station at the destination: 50 veh/h, 0.5 h, J = 0.5; a quarter of the vehicles carried on
    station = ChargingStation("cs", 2, 50.0, 0.5, 0.5, np.full(2, 100.0))
    spec = MultiPeriodSpec(ChargingNetworkSpec(one_link(), (station,)),
                           gv_demand_veh_per_h=np.array([[90.0], [36.0]]),
                           ev_demand_veh_per_h=np.array([[10.0], [4.0]]),
                           max_shift_periods=0, price_sensitivity=0.0,
                           residual_share=0.25)
    problem = build_multiperiod_problem(spec)
    result = problem.solve(gap=1e-12)
    assert result.converged
    # period 0: 100 vehicles, 25 unfinished; period 1: 36 + 4 new + 25 carried = 65, 16.25 left
    np.testing.assert_allclose(result.residual.carried_in_veh_per_h, [[0.0], [25.0]])
    np.testing.assert_allclose(result.residual.carried_out_veh_per_h, [[25.0], [16.25]])
    np.testing.assert_allclose(result.residual.finished_veh_per_h, [[75.0], [48.75]])
    np.testing.assert_allclose(result.road_link_flow_veh_per_h, [[100.0], [65.0]], rtol=1e-12)
    # carried EVs charged in period 0 and do not charge again
    np.testing.assert_allclose(result.station_flow_veh_per_h, [[10.0], [4.0]], rtol=1e-12)
    np.testing.assert_allclose(result.station_load_mw, [[0.45], [0.18]], rtol=1e-12)

    def bpr_integral(x: float) -> float:  # t0 (x + 0.03 x^5 / c^4), t0 = 0.1 h
        return 0.1 * (x + 0.03 * x**5 / 100.0**4)

    def davidson_integral(x: float) -> float:  # t0 (x + J (-x - c ln(1 - x / c)))
        return 0.5 * (x + 0.5 * (-x - 50.0 * np.log(1.0 - x / 50.0)))

    expected = VALUE_OF_TIME * (bpr_integral(100.0) + bpr_integral(65.0)
                                + davidson_integral(10.0) + davidson_integral(4.0))
    assert problem.potential(result.assignment.link_flow) == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(103.0 + 65.34809 + 52.8929 + 20.4227, rel=1e-5)


RESIDUAL = np.array([0.3, 0.1, 0.2, 0.25])
PROFILE = np.array([0.6, 1.0, 0.8, 0.4])
EV_SHARE = 0.2
STATION_NODES = (6, 10, 11)
PRICES = np.array([[190.0, 230.0, 210.0, 170.0],
                   [200.0, 220.0, 215.0, 195.0],
                   [185.0, 225.0, 205.0, 200.0]])


def nguyen_dupuis_spec(residual: np.ndarray | float, sigma: float = 1.5) -> MultiPeriodSpec:
    network = nguyen_dupuis()
    stations = tuple(ChargingStation(f"cs{node}", node, 300.0, 0.25, 0.5, PRICES[s])
                     for s, node in enumerate(STATION_NODES))
    demand = np.outer(PROFILE, network.od_demand)
    return MultiPeriodSpec(ChargingNetworkSpec(network, stations),
                           gv_demand_veh_per_h=demand * (1 - EV_SHARE),
                           ev_demand_veh_per_h=demand * EV_SHARE, max_shift_periods=0,
                           price_sensitivity=sigma, residual_share=residual)


def vehicles_by_class(result: MultiPeriodResult) -> dict[str, np.ndarray]:
    """Vehicles of each class per (period, OD pair), summed from the solver's path flows."""
    periods, num_od = result.ev_demand_veh_per_h.shape
    out = {"GV": np.zeros((periods, num_od)), "EV": np.zeros((periods, num_od))}
    assert result.warm_start is not None
    for key, _, flow in live_paths(result.warm_start):
        klass, local = divmod(key, periods * num_od)
        t, od = divmod(local, num_od)
        out[("GV", "EV")[klass]][t, od] += flow
    return out


@pytest.fixture(scope="module")
def solved() -> MultiPeriodResult:
    result = build_multiperiod_problem(nguyen_dupuis_spec(RESIDUAL)).solve(gap=1e-10)
    assert result.converged
    return result


def test_vehicles_in_equal_vehicles_finished_plus_carried_over(
    solved: MultiPeriodResult,
) -> None:
    spec = nguyen_dupuis_spec(RESIDUAL)
    # the new trips: GV as given, EV after the price response (seed 001's law, written out)
    kappa = (PRICES.mean(axis=0) - 200.0) / 200.0
    new_ev = spec.ev_demand_veh_per_h * np.maximum(0.0, 1.0 - 1.5 * kappa)[:, None]
    new_gv = spec.gv_demand_veh_per_h
    np.testing.assert_allclose(solved.ev_demand_veh_per_h, new_ev, rtol=1e-12)
    carried = np.zeros_like(new_gv)  # carried[t] = vehicles entering t unfinished from t - 1
    out = np.zeros_like(new_gv)
    for t in range(RESIDUAL.size):
        out[t] = RESIDUAL[t] * (new_gv[t] + new_ev[t] + carried[t])
        if t + 1 < RESIDUAL.size:
            carried[t + 1] = out[t]
    vehicles = vehicles_by_class(solved)
    np.testing.assert_allclose(vehicles["EV"], new_ev, rtol=1e-9)
    np.testing.assert_allclose(vehicles["GV"], new_gv + carried, rtol=1e-9)
    on_network = vehicles["GV"] + vehicles["EV"]
    residual = solved.residual
    np.testing.assert_allclose(on_network, residual.finished_veh_per_h
                               + residual.carried_out_veh_per_h, rtol=1e-9)
    np.testing.assert_allclose(residual.carried_out_veh_per_h, out, rtol=1e-12)
    # over the horizon: every new trip finished or is still on the network at its end
    assert (new_gv + new_ev).sum() == pytest.approx(
        residual.finished_veh_per_h.sum() + residual.beyond_horizon_veh_per_h.sum(), rel=1e-12)
    assert residual.beyond_horizon_veh_per_h.sum() == pytest.approx(out[-1].sum())
    # each EV trip charges once, in the period it began
    np.testing.assert_allclose(solved.station_flow_veh_per_h.sum(axis=1), new_ev.sum(axis=1),
                               rtol=1e-9)
    # the carried vehicles load the roads: more road flow than without residual
    plain = build_multiperiod_problem(nguyen_dupuis_spec(0.0)).solve(gap=1e-10)
    assert solved.road_link_flow_veh_per_h[1:].sum() > plain.road_link_flow_veh_per_h[1:].sum()
    np.testing.assert_allclose(solved.road_link_flow_veh_per_h[0],
                               plain.road_link_flow_veh_per_h[0], rtol=1e-6)


def test_admm_step_carries_the_residual_too() -> None:
    problem = build_multiperiod_problem(nguyen_dupuis_spec(RESIDUAL, sigma=0.0))
    shape = (len(STATION_NODES), RESIDUAL.size)
    coupling = CouplingTerms(np.full(shape, 150.0), 20.0, np.full(shape, 1.0), 1.0,
                             CouplingSide.CONSUMER,
                             tuple(f"cs{node}" for node in STATION_NODES))
    result = problem.solve_coupled(coupling, gap=1e-10)
    assert result.converged
    vehicles = vehicles_by_class(result)
    spec = problem.spec
    np.testing.assert_allclose(vehicles["GV"] + vehicles["EV"],
                               result.residual.on_network_veh_per_h, rtol=1e-9)
    assert result.residual.carried_in_veh_per_h[1:].min() > 0
    np.testing.assert_allclose(result.station_flow_veh_per_h.sum(axis=1),
                               spec.ev_demand_veh_per_h.sum(axis=1), rtol=1e-9)


def test_zero_residual_is_todays_model() -> None:
    spec = nguyen_dupuis_spec(0.0)
    default = replace(spec, residual_share=0.0)
    assert not spec.has_residual_flow
    ours = build_multiperiod_problem(spec).solve(gap=1e-10)
    theirs = build_multiperiod_problem(default).solve(gap=1e-10)
    np.testing.assert_array_equal(ours.assignment.link_flow, theirs.assignment.link_flow)
    assert np.all(ours.residual.carried_out_veh_per_h == 0)
    # and with departure shifting (today's default), no residual is allowed and none computed
    shifting = MultiPeriodSpec(spec.charging, spec.gv_demand_veh_per_h, spec.ev_demand_veh_per_h)
    assert np.all(np.asarray(shifting.residual_share) == 0)


def test_bad_residual_shares_are_refused() -> None:
    spec = nguyen_dupuis_spec(0.0)
    with pytest.raises(InvalidInputError, match=r"residual_share: .*needs max_shift_periods = 0 "
                                                r"\(got 1\)"):
        replace(spec, max_shift_periods=1, residual_share=0.1)
    with pytest.raises(InvalidInputError, match=r"residual_share: must be in \[0, 1\), got 1 in "
                                                r"period 2"):
        replace(spec, residual_share=[0.1, 0.2, 1.0, 0.0])
    with pytest.raises(InvalidInputError, match=r"residual_share: needs one value or one per "
                                                r"period \(4\)"):
        replace(spec, residual_share=[0.1, 0.2])

"""LinDistFlow (Pyomo) against the DistFlow-SOC OPF and against hand computations on case33bw.

LinDistFlow neglects losses (Baran & Wu 1989), so against the exact/SOC model its objective is
low by about the cost of the losses (5.2% of the energy bought on case33bw at full load) and its
voltages high by a few thousandths of a p.u.; with the same DER dispatch its slack power is the
SOC slack power minus the losses, exactly. Where nothing binds, it buys exactly the load: the
objective of the base case is 20 $/MWh x 3.715 MW = 74.3 $.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import (
    ChargingPoint,
    DemandResponse,
    DsoCase,
    MicroTurbine,
    Renewable,
    Storage,
)
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import Feeder, linearized_voltage_pu
from ptn.engines.power.lindistflow import build_lindistflow, solve_lindistflow
from ptn.engines.power.profiles import daily_profile, seed002_time_of_use
from ptn.engines.power.result import OpfResult, OpfStatus

T = 24


@pytest.fixture(scope="module")
def feeder() -> Feeder:
    return load_feeder("case33bw")


def der_case(feeder: Feeder) -> DsoCase:
    """24 h on case33bw with every kind of DER, two charging points and the seed 002 tariff."""
    return DsoCase(
        feeders=(feeder,),
        periods=T,
        load_profile=daily_profile("rts-winter-weekday", T),
        upstream_price_per_mwh=seed002_time_of_use(T),
        micro_turbines=(MicroTurbine("mt18", 18, p_max_mw=0.6, cost_quadratic_per_mw2h=50.0,
                                     cost_linear_per_mwh=600.0, q_min_mvar=-0.3,
                                     q_max_mvar=0.3, ramp_mw_per_h=0.2),),
        storage=(Storage("bess33", 33, energy_mwh=2.0, charge_max_mw=0.5,
                         discharge_max_mw=0.5),),
        renewables=(Renewable("pv25", 25, "pv", rated_mw=1.0,
                              profile=daily_profile("solar", T)),),
        demand_response=(DemandResponse("dr30", 30, max_shift_fraction=0.2,
                                        incentive_per_mwh=20.0),),
        charging_points=(ChargingPoint("cs12", 12), ChargingPoint("cs22", 22)),
    )


def charging_profile() -> np.ndarray:
    evening = np.zeros(T)
    evening[17:22] = 0.3
    return np.vstack([evening, np.roll(evening, -9)])


def loss_cost(result: OpfResult, price: np.ndarray, dt: float = 1.0) -> float:
    return float(dt * np.sum(result.feeders[0].loss_mw * price))


def test_single_period_buys_exactly_the_load(feeder: Feeder) -> None:
    case = DsoCase(feeders=(feeder,))
    lin = solve_lindistflow(build_lindistflow(case))
    assert lin.status == OpfStatus.OPTIMAL
    assert lin.extra["solver"] == "highs"
    assert lin.objective == pytest.approx(20.0 * 3.715, rel=1e-9)  # 74.3 $
    dispatch = lin.feeders[0]
    assert dispatch.slack_p_mw[0] == pytest.approx(3.715, rel=1e-9)
    assert dispatch.slack_q_mvar[0] == pytest.approx(2.3, rel=1e-9)
    # nothing binds and nothing is lost: the price is the same everywhere
    np.testing.assert_allclose(dispatch.dlmp_per_mwh, 20.0, atol=1e-7)
    np.testing.assert_allclose(dispatch.voltage_pu[:, 0], linearized_voltage_pu(feeder),
                               atol=1e-9)
    assert dispatch.loss_mw.sum() == 0.0

    socp = DistFlowOpf(case).solve()
    assert socp.objective == pytest.approx(78.3535, abs=1e-4)
    # the whole gap is the cost of the losses the SOC model buys: 20 $/MWh x 0.2027 MW
    assert socp.objective - lin.objective == pytest.approx(loss_cost(socp, np.array([20.0])),
                                                           abs=1e-6)
    assert 0.04 < (socp.objective - lin.objective) / socp.objective < 0.06
    voltage_gap = np.abs(dispatch.voltage_pu - socp.feeders[0].voltage_pu).max()
    assert voltage_gap < 0.01  # measured 0.0028 p.u.
    assert np.all(dispatch.voltage_pu >= socp.feeders[0].voltage_pu - 1e-9)


def test_24_periods_without_der_is_the_priced_load(feeder: Feeder) -> None:
    price = seed002_time_of_use(T)
    profile = daily_profile("rts-winter-weekday", T)
    case = DsoCase(feeders=(feeder,), periods=T, period_hours=0.5, load_profile=profile,
                   upstream_price_per_mwh=price)
    lin = solve_lindistflow(build_lindistflow(case))
    assert lin.objective == pytest.approx(0.5 * float(np.sum(price * profile)) * 3.715,
                                          rel=1e-9)
    np.testing.assert_allclose(lin.feeders[0].dlmp_per_mwh, np.tile(price, (33, 1)), rtol=1e-8)


def test_24_periods_with_der_against_socp(feeder: Feeder) -> None:
    case = der_case(feeder)
    charging = charging_profile()
    socp_model = DistFlowOpf(case)
    socp_model.set_charging_load(charging)
    socp = socp_model.solve()
    assert socp.status == OpfStatus.OPTIMAL
    price = np.asarray(case.upstream_price_per_mwh)

    lin_model = build_lindistflow(case, charging)
    assert not lin_model.linear  # the micro-turbine's quadratic cost
    lin = solve_lindistflow(lin_model)
    assert lin.status == OpfStatus.OPTIMAL
    assert lin.extra["solver"] == "scip_persistent"
    assert np.isnan(lin.feeders[0].dlmp_per_mwh).all()
    gap = socp.objective - lin.objective
    # LinDistFlow is cheaper by the cost of the losses (3.2% here), to first order
    assert 0.0 < gap / socp.objective < 0.05
    assert gap == pytest.approx(loss_cost(socp, price), rel=1e-3)  # measured 1.3e-6
    # the quadratic-cost micro-turbine's dispatch is unique in both models
    np.testing.assert_allclose(lin.micro_turbine_p_mw["mt18"], socp.micro_turbine_p_mw["mt18"],
                               atol=1e-3)
    np.testing.assert_allclose(lin.charging_mw["cs12"], charging[0])

    # the lossless model values reactive power at nothing and storage ties between equal
    # prices, so compare voltages at the SOC dispatch: the linearization error proper
    fixed_model = build_lindistflow(case, charging, circle_sides=None)
    block = fixed_model.block
    for var, values in (
        (block.mt_p, socp.micro_turbine_p_mw), (block.mt_q, socp.micro_turbine_q_mvar),
        (block.st_ch, socp.storage_charge_mw), (block.st_dis, socp.storage_discharge_mw),
        (block.re_p, socp.renewable_p_mw), (block.re_q, socp.renewable_q_mvar),
    ):
        for t in range(T):
            lower, upper = var[0, t].bounds
            var[0, t].fix(float(np.clip(next(iter(values.values()))[t], lower, upper)))
    shift = socp.demand_response_shift_mw["dr30"]
    for t in range(T):
        block.dr_up[0, t].fix(max(shift[t], 0.0))
        block.dr_down[0, t].fix(max(-shift[t], 0.0))
    fixed = solve_lindistflow(fixed_model)
    assert fixed.status == OpfStatus.OPTIMAL
    np.testing.assert_allclose(
        fixed.feeders[0].slack_p_mw,
        socp.feeders[0].slack_p_mw - socp.feeders[0].loss_mw, atol=1e-5,
    )
    voltage_gap = np.abs(fixed.feeders[0].voltage_pu - socp.feeders[0].voltage_pu).max()
    assert voltage_gap < 0.01  # measured 0.0022 p.u.
    assert fixed.objective >= lin.objective - 1e-6 * abs(lin.objective)


def voltage_bound_case(feeder: Feeder) -> DsoCase:
    """One period at 125% load: the end of the main feeder needs the turbine at bus 18."""
    return DsoCase(
        feeders=(feeder,), load_profile=np.array([1.25]),
        micro_turbines=(MicroTurbine("mt18", 18, p_max_mw=1.0, cost_linear_per_mwh=30.0),),
        charging_points=(ChargingPoint("cs3", 3), ChargingPoint("cs9", 9),
                         ChargingPoint("cs17", 17), ChargingPoint("cs30", 30)),
    )


def test_dlmps_are_the_marginal_costs_of_the_charging_loads(feeder: Feeder) -> None:
    model = build_lindistflow(voltage_bound_case(feeder))
    base = solve_lindistflow(model)
    assert base.status == OpfStatus.OPTIMAL
    assert base.feeders[0].voltage_pu.min() == pytest.approx(0.9, abs=1e-7)
    dlmp = base.charging_dlmp_per_mwh
    assert max(float(v[0]) for v in dlmp.values()) > 21.0  # the voltage limit prices the tail
    step = 1e-4
    for point in range(4):
        load = np.zeros((4, 1))
        load[point, 0] = step
        model.set_charging_load(load)
        bumped = solve_lindistflow(model)
        name = model.case.charging_points[point].name
        marginal = (bumped.objective - base.objective) / step
        assert marginal == pytest.approx(float(dlmp[name][0]), abs=1e-4), name


def test_mutable_params_change_the_answer_without_rebuilding(feeder: Feeder) -> None:
    case = DsoCase(feeders=(feeder,), charging_points=(ChargingPoint("cs2", 2),
                                                       ChargingPoint("cs6", 6)))
    model = build_lindistflow(case)
    pyomo_model, balance = model.model, model.p_balance
    assert solve_lindistflow(model).objective == pytest.approx(74.3, rel=1e-9)
    model.set_charging_load(np.array([[0.5], [0.25]]))
    loaded = solve_lindistflow(model)
    assert loaded.status == OpfStatus.OPTIMAL, loaded.message
    assert loaded.objective == pytest.approx(20.0 * 4.465, rel=1e-9)
    model.charging[1, 0] = 0.0  # the Param itself is the handle
    model.set_upstream_price(np.array([30.0]))
    result = solve_lindistflow(model)
    assert result.objective == pytest.approx(30.0 * 4.215, rel=1e-9)
    assert result.charging_mw["cs2"][0] == pytest.approx(0.5)
    np.testing.assert_allclose(result.feeders[0].dlmp_per_mwh, 30.0, atol=1e-7)
    assert model.model is pyomo_model and model.p_balance is balance


def test_two_feeders_one_dso(feeder: Feeder) -> None:
    case = DsoCase(feeders=(replace(feeder, name="north"), replace(feeder, name="south")),
                   charging_points=(ChargingPoint("cs", 2, feeder="south"),))
    model = build_lindistflow(case, np.array([[0.5]]))
    model.set_upstream_price(np.array([30.0]), feeder="south")
    result = solve_lindistflow(model)
    assert result.objective == pytest.approx(20.0 * 3.715 + 30.0 * 4.215, rel=1e-9)
    assert [f.slack_p_mw[0] for f in result.feeders] == pytest.approx([3.715, 4.215])
    assert result.charging_dlmp_per_mwh["cs"][0] == pytest.approx(30.0)


def test_embedded_in_a_parent_mip(feeder: Feeder) -> None:
    """A parent MIP places 0.3 MW of charging at one of two buses; the DSO block prices it."""
    parent = pyo.ConcreteModel()
    case = voltage_bound_case(feeder)
    model = build_lindistflow(case, model=parent, name="dso", charging="variable")
    assert model.objective is None and model.block is parent.dso
    parent.site = pyo.Var([0, 3], domain=pyo.Binary)
    parent.one_site = pyo.Constraint(expr=parent.site[0] + parent.site[3] == 1)
    parent.demand = pyo.Constraint(expr=model.charging[0, 0] + model.charging[3, 0] == 0.3)
    parent.only_sited = pyo.Constraint([0, 3], rule=lambda m, c: model.charging[c, 0]
                                       <= 0.3 * m.site[c])
    parent.others = pyo.Constraint([1, 2], rule=lambda m, c: model.charging[c, 0] == 0)
    parent.objective = pyo.Objective(expr=model.cost)
    result = solve_lindistflow(model)
    assert result.status == OpfStatus.OPTIMAL
    assert np.isnan(result.feeders[0].dlmp_per_mwh).all()  # a MIP has no duals

    costs = {}
    for point in (0, 3):
        load = np.zeros((4, 1))
        load[point, 0] = 0.3
        costs[point] = solve_lindistflow(build_lindistflow(case, load)).objective
    best = min(costs, key=costs.__getitem__)
    assert costs[0] != pytest.approx(costs[3])
    assert pyo.value(parent.site[best]) == pytest.approx(1.0)
    assert result.objective == pytest.approx(costs[best], rel=1e-9)
    assert pyo.value(parent.objective) == pytest.approx(costs[best], rel=1e-9)


def test_ratings_and_statuses(feeder: Feeder) -> None:
    rating = feeder.branch_rating_mva.copy()
    rating[0] = 3.0  # the branch out of the substation
    rated = replace(feeder, branch_rating_mva=rating)
    case = DsoCase(feeders=(rated,), micro_turbines=(
        MicroTurbine("mt18", 18, p_max_mw=2.0, q_min_mvar=-1.0, q_max_mvar=1.0,
                     cost_linear_per_mwh=50.0),))
    for sides in (16, None):
        result = solve_lindistflow(build_lindistflow(case, circle_sides=sides))
        assert result.status == OpfStatus.OPTIMAL
        flow = np.hypot(result.feeders[0].branch_p_mw[0, 0], result.feeders[0].branch_q_mvar[0, 0])
        assert flow <= 3.0 + 1e-6
        assert flow >= 3.0 * np.cos(np.pi / 16) - 1e-6  # the limit binds
        assert result.micro_turbine_p_mw["mt18"][0] > 0.5

    tight = replace(feeder, upstream_p_max_mw=1.0)
    infeasible = solve_lindistflow(build_lindistflow(DsoCase(feeders=(tight,))))
    assert infeasible.status == OpfStatus.INFEASIBLE and not infeasible.feeders
    unknown = solve_lindistflow(build_lindistflow(DsoCase(feeders=(feeder,))), "no-such-solver")
    assert unknown.status == OpfStatus.SOLVER_ERROR and "no-such-solver" in unknown.message

"""DistFlow-SOC OPF: known optima, AC power-flow agreement, DLMPs, DER, statuses, re-solves.

Every expected number comes from somewhere else: pandapower's own OPF and Newton–Raphson power
flow, finite differences of the optimal cost, optimality conditions written here, or the
devices' physics (SOC bounds, energy balance).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
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
from ptn.engines.power.exactness import check_with_ac_power_flow
from ptn.engines.power.profiles import daily_profile, seed002_time_of_use
from ptn.engines.power.result import OpfStatus

PERIODS = 24


def der_case(feeder_name: str, periods: int = PERIODS) -> DsoCase:
    """A 24-period case with one device of every kind on a built-in feeder.

    Devices sit at buses chosen by position along the feeder, so the same recipe fits case33bw,
    case18 and case69; sizes scale with the feeder's load.
    """
    feeder = load_feeder(feeder_name)
    total = feeder.total_load_mw
    order = feeder.branch_to  # breadth-first: later buses are deeper in the feeder
    deep, mid, far = (int(feeder.bus_ids[order[k]]) for k in (len(order) // 2,
                                                              len(order) // 3, -1))
    loaded = [int(b) for b in feeder.bus_ids[np.argsort(-feeder.load_p_mw)[:2]]]
    return DsoCase(
        feeders=(feeder,),
        periods=periods,
        period_hours=24 / periods,
        load_profile=daily_profile("rts-winter-weekday", periods),
        micro_turbines=(MicroTurbine("MT", deep, 0.15 * total, 24.0, 60.0, q_min_mvar=-0.1 * total,
                                     q_max_mvar=0.1 * total, ramp_mw_per_h=0.05 * total),),
        storage=(Storage("ES", far, 0.3 * total, 0.1 * total, 0.1 * total),),
        renewables=(Renewable("PV", mid, "pv", 0.2 * total, daily_profile("solar", periods)),
                    Renewable("WT", deep, "wind", 0.1 * total, daily_profile("wind", periods))),
        demand_response=tuple(DemandResponse(f"DR{b}", b, 0.2, 5.0) for b in loaded),
        charging_points=(ChargingPoint("CS", far),),
        upstream_price_per_mwh=seed002_time_of_use(periods) / 7.0,
    )


def test_case33bw_single_period_matches_pandapower_opf() -> None:
    net = pn.case33bw()
    pp.runopp(net)
    opf = DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),)))
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL
    assert result.objective == pytest.approx(78.3535, abs=1e-4)
    assert result.objective == pytest.approx(net.res_cost, rel=1e-6)
    assert result.feeders[0].voltage_pu[:, 0] == pytest.approx(net.res_bus.vm_pu.values, abs=1e-5)


@pytest.mark.parametrize("feeder_name", ["case33bw", "case18", "case69"])
def test_24_periods_with_der_exact_and_equal_to_ac_power_flow(feeder_name: str) -> None:
    opf = DistFlowOpf(der_case(feeder_name))
    opf.set_charging_load(np.full((1, PERIODS), 0.02 * opf.case.feeders[0].total_load_mw))
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL, result.message
    assert result.relaxation_gap_raw <= 1e-6
    check = check_with_ac_power_flow(opf, result)
    assert check.converged
    assert check.max_voltage_deviation_pu <= 1e-6
    assert check.max_slack_deviation_mw <= 1e-5
    assert abs(check.objective_change) <= 1e-5 * result.objective


def test_storage_soc_within_bounds_cyclic_and_consistent_with_power() -> None:
    case = der_case("case33bw")
    result = DistFlowOpf(case).solve()
    storage = case.storage[0]
    soc = result.storage_soc["ES"]
    assert soc.min() >= storage.soc_min - 1e-7
    assert soc.max() <= storage.soc_max + 1e-7
    assert soc[0] == pytest.approx(storage.soc_initial, abs=1e-7)
    assert soc[-1] == pytest.approx(storage.soc_initial, abs=1e-7)
    charge, discharge = result.storage_charge_mw["ES"], result.storage_discharge_mw["ES"]
    energy = storage.energy_mwh * storage.soc_initial + np.cumsum(
        (storage.charge_efficiency * charge - discharge / storage.discharge_efficiency)
        * case.period_hours
    )
    assert soc[1:] * storage.energy_mwh == pytest.approx(energy, abs=1e-6)
    # the tariff is cheap at night and dear in the afternoon: the battery must use that
    assert charge[:8].sum() > 0.01 and discharge[12:20].sum() > 0.01


def test_der_limits_hold() -> None:
    case = der_case("case69")
    result = DistFlowOpf(case).solve()
    mt = case.micro_turbines[0]
    p = result.micro_turbine_p_mw["MT"]
    assert p.min() >= mt.p_min_mw - 1e-7 and p.max() <= mt.p_max_mw + 1e-7
    assert np.abs(np.diff(p)).max() <= mt.ramp_mw_per_h * case.period_hours + 1e-7
    for unit in case.renewables:
        produced = result.renewable_p_mw[unit.name]
        q = result.renewable_q_mvar[unit.name]
        assert (produced <= unit.available_mw() + 1e-7).all()
        assert (np.hypot(produced, q) <= unit.apparent_limit_mva + 1e-6).all()
    for dr in case.demand_response:
        shift = result.demand_response_shift_mw[dr.name]
        assert shift.sum() * case.period_hours == pytest.approx(0.0, abs=1e-7)


def test_dlmp_equals_finite_difference_marginal_cost() -> None:
    case = der_case("case33bw")
    opf = DistFlowOpf(case)
    base_load = np.full((1, PERIODS), 0.1)
    opf.set_charging_load(base_load)
    result = opf.solve()
    delta_mw = 1e-3
    for period in (3, 14, 19):
        costs = []
        for sign in (+1, -1):
            load = base_load.copy()
            load[0, period] += sign * delta_mw
            opf.set_charging_load(load)
            costs.append(opf.solve().objective)
        marginal = (costs[0] - costs[1]) / (2 * delta_mw * case.period_hours)
        assert result.charging_dlmp_per_mwh["CS"][period] == pytest.approx(marginal, rel=2e-3)


def test_resolve_with_new_prices_reuses_the_model_and_equals_a_fresh_build() -> None:
    case = der_case("case33bw")
    opf = DistFlowOpf(case)
    opf.solve()
    problem = opf.problem
    new_price = seed002_time_of_use(PERIODS) / 5.0
    opf.set_upstream_price(new_price)
    opf.set_charging_load(np.full((1, PERIODS), 0.2))
    resolved = opf.solve()
    assert opf.problem is problem
    fresh = DistFlowOpf(dataclasses.replace(case, upstream_price_per_mwh=new_price))
    fresh.set_charging_load(np.full((1, PERIODS), 0.2))
    expected = fresh.solve()
    assert resolved.objective == pytest.approx(expected.objective, rel=1e-7)
    # both solves stop at the solver's tolerance (relative gap 1e-7), not at the same point
    assert resolved.feeders[0].voltage_pu == pytest.approx(expected.feeders[0].voltage_pu,
                                                           abs=2e-5)


def test_priced_charging_meets_its_optimality_condition() -> None:
    """With penalty ρ and target z, an interior optimum has Δt·DLMP + ρ·(P − z) = 0."""
    case = der_case("case33bw")
    opf = DistFlowOpf(case, charging="priced")
    target = np.full((1, PERIODS), 0.3)
    penalty = 4000.0  # $/MW² over a period: ρ·Δt
    result = opf.solve_coupled(CouplingTerms.supplier(
        np.zeros((1, PERIODS)), penalty / case.period_hours, target, case.period_hours))
    assert result.status is OpfStatus.OPTIMAL
    load = result.charging_mw["CS"]
    dlmp = result.charging_dlmp_per_mwh["CS"]
    assert (load > 1e-3).all()
    expected = target[0] - case.period_hours * dlmp / penalty
    assert load == pytest.approx(expected, abs=1e-5)
    coupling = penalty / 2 * np.sum((load - target[0]) ** 2)
    assert result.cost_breakdown["charging_coupling"] == pytest.approx(coupling, rel=1e-5)


def test_several_feeders_under_one_dso_add_up() -> None:
    first = der_case("case33bw")
    second_feeder = dataclasses.replace(load_feeder("case18"), name="north")
    second = dataclasses.replace(
        first,
        feeders=(second_feeder,),
        micro_turbines=(), storage=(), renewables=(), demand_response=(), charging_points=(),
    )
    both = dataclasses.replace(first, feeders=(first.feeders[0], second_feeder))
    both = dataclasses.replace(
        both,
        micro_turbines=tuple(dataclasses.replace(d, feeder="case33bw")
                             for d in first.micro_turbines),
        storage=tuple(dataclasses.replace(d, feeder="case33bw") for d in first.storage),
        renewables=tuple(dataclasses.replace(d, feeder="case33bw") for d in first.renewables),
        demand_response=tuple(dataclasses.replace(d, feeder="case33bw")
                              for d in first.demand_response),
        charging_points=tuple(dataclasses.replace(d, feeder="case33bw")
                              for d in first.charging_points),
    )
    separate = DistFlowOpf(first).solve().objective + DistFlowOpf(second).solve().objective
    joint = DistFlowOpf(both).solve()
    assert joint.status is OpfStatus.OPTIMAL
    assert [f.name for f in joint.feeders] == ["case33bw", "north"]
    assert joint.objective == pytest.approx(separate, rel=1e-7)


def test_infeasible_case_is_a_status() -> None:
    case = DsoCase(
        feeders=(load_feeder("case33bw"),),
        charging_points=(ChargingPoint("huge", 18),),
    )
    opf = DistFlowOpf(case)
    opf.set_charging_load(np.array([[50.0]]))
    result = opf.solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert not result.status.has_solution
    assert "infeasible" in result.summary()["status"]


def test_negative_prices_make_the_relaxation_inexact_and_the_ac_check_says_how_much() -> None:
    feeder = load_feeder("case33bw")
    case = DsoCase(feeders=(feeder,), upstream_price_per_mwh=np.array([-50.0]))
    opf = DistFlowOpf(case)
    result = opf.solve()
    assert result.status is OpfStatus.INEXACT
    assert "inexact" in result.message
    assert result.relaxation_gap_weighted_mw > 1e-3
    check = check_with_ac_power_flow(opf, result)
    assert check.converged
    # the physical import is smaller than the solved one: the fictitious losses vanish
    assert check.max_slack_deviation_mw > 1e-3
    assert check.recovered_objective > result.objective


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: dataclasses.replace(c, storage=(dataclasses.replace(c.storage[0], bus=999),)),
         "storage 'ES': feeder case33bw has no bus 999"),
        (lambda c: dataclasses.replace(c, micro_turbines=(dataclasses.replace(
            c.micro_turbines[0], bus=1),)), "micro_turbine 'MT': bus 1 is the slack bus"),
        (lambda c: dataclasses.replace(c, storage=(dataclasses.replace(
            c.storage[0], soc_initial=0.9),)), "storage 'ES': need 0 <= soc_min"),
        (lambda c: dataclasses.replace(c, load_profile=np.ones(5)),
         "load_profile: needs 24 values"),
        (lambda c: dataclasses.replace(c, renewables=(dataclasses.replace(
            c.renewables[0], kind="hydro"),)), "renewable 'PV': kind must be 'pv' or 'wind'"),
        (lambda c: dataclasses.replace(c, charging_points=(
            *c.charging_points, ChargingPoint("CS", 5))), "charging_point 'CS': the name is used"),
        (lambda c: dataclasses.replace(c, micro_turbines=(dataclasses.replace(
            c.micro_turbines[0], feeder="south"),)), "unknown feeder 'south'"),
    ],
)
def test_invalid_case_names_the_device(change: object, message: str) -> None:
    case = change(der_case("case33bw"))  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        DistFlowOpf(case)


def test_invalid_updates_name_the_item() -> None:
    opf = DistFlowOpf(der_case("case33bw"))
    with pytest.raises(InvalidInputError, match="charging load at CS in period 2 is negative"):
        load = np.zeros((1, PERIODS))
        load[0, 2] = -1.0
        opf.set_charging_load(load)
    with pytest.raises(InvalidInputError, match=r"needs shape \(1, 24\)"):
        opf.set_charging_load(np.zeros((2, PERIODS)))
    with pytest.raises(InvalidInputError, match="upstream price needs 24"):
        opf.set_upstream_price(np.zeros(3))
    with pytest.raises(InvalidInputError, match="charging='priced'"):
        opf.set_coupling(None)


def test_new_load_profile_without_rebuild_equals_a_fresh_build() -> None:
    case = der_case("case33bw")
    opf = DistFlowOpf(case)
    opf.solve()
    profile = daily_profile("flat", PERIODS) * 0.8
    opf.set_load_profile(profile)
    resolved = opf.solve()
    expected = DistFlowOpf(dataclasses.replace(case, load_profile=profile)).solve()
    assert resolved.objective == pytest.approx(expected.objective, rel=1e-7)
    shift = resolved.demand_response_shift_mw
    for dr in case.demand_response:
        bus_load = case.feeders[0].load_p_mw[case.feeders[0].bus_index(dr.bus)]
        assert np.abs(shift[dr.name]).max() <= dr.max_shift_fraction * 0.8 * bus_load + 1e-7
    with pytest.raises(InvalidInputError, match="non-negative"):
        opf.set_load_profile(-profile)

"""``DistFlowOpf(formulation="lindistflow")`` against the Pyomo LinDistFlow and the SOC model.

The cvxpy LinDistFlow exists so that the DSO's ADMM side and a bilevel reference written on
:mod:`ptn.engines.power.lindistflow` solve the same problem; the reference here is therefore that
Pyomo model solved by HiGHS (an LP: linear generator cost, polygon ratings), whose objective,
voltages and balance duals the cvxpy model (Clarabel, an interior-point method) must reproduce.
The case is built so that the LP has a unique primal and dual solution, otherwise an
interior-point and a simplex solver legitimately disagree: upstream prices differ in every
period (no storage ties), the micro-turbine and the PV give no reactive power (a lossless model
values it at nothing), and something binds in space (the voltage limit at bus 18 in period 3,
the rating of the branch into bus 33 when the battery there charges), so the DLMPs are not all
equal to the upstream price.
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pyomo.environ as pyo
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
from ptn.engines.power.lindistflow import build_lindistflow, solve_lindistflow
from ptn.engines.power.profiles import daily_profile, seed002_time_of_use
from ptn.engines.power.result import OpfResult, OpfStatus

T = 6
RATED_BUS = 33
RATING_MVA = 0.15


def linear_case() -> DsoCase:
    """case33bw over 6 periods of 4 h with every DER kind and linear costs only."""
    feeder = load_feeder("case33bw")
    rating = feeder.branch_rating_mva.copy()  # case33bw ships no ratings: rate one branch
    rating[int(np.flatnonzero(feeder.bus_ids[feeder.branch_to] == RATED_BUS)[0])] = RATING_MVA
    return DsoCase(
        feeders=(dataclasses.replace(feeder, branch_rating_mva=rating),),
        periods=T,
        period_hours=24 / T,
        load_profile=daily_profile("rts-winter-weekday", T),
        # the seed 002 tariff repeats its levels; a ramp makes every period's price distinct
        upstream_price_per_mwh=seed002_time_of_use(24)[::4] / 7.0 + 3.0 * np.arange(T),
        loss_price_per_mwh=10.0,  # losses are zero in LinDistFlow: this must change nothing
        micro_turbines=(MicroTurbine("mt18", 18, p_max_mw=0.4, cost_linear_per_mwh=120.0,
                                     ramp_mw_per_h=0.1),),
        storage=(Storage("bess33", RATED_BUS, energy_mwh=2.0, charge_max_mw=0.5,
                         discharge_max_mw=0.5),),
        renewables=(Renewable("pv25", 25, "pv", rated_mw=1.0, profile=daily_profile("solar", T),
                              reactive_support=False),),
        demand_response=(DemandResponse("dr30", 30, max_shift_fraction=0.2,
                                        incentive_per_mwh=5.0),),
        charging_points=(ChargingPoint("cs12", 12), ChargingPoint("cs17", 17)),
    )


def charging_mw() -> np.ndarray:
    load = np.zeros((2, T))
    load[0, 4:] = 0.3
    load[1, 3] = 0.8  # pulls bus 17 down to 0.9 p.u. in period 3 (the SOC model: infeasible)
    return load


def assert_same(cvx: OpfResult, pyomo: OpfResult) -> None:
    assert cvx.status is OpfStatus.OPTIMAL, cvx.message
    assert pyomo.status is OpfStatus.OPTIMAL, pyomo.message
    assert pyomo.extra["solver"] == "highs"
    assert cvx.objective == pytest.approx(pyomo.objective, rel=1e-6)
    assert cvx.cost_breakdown.keys() == pyomo.cost_breakdown.keys()
    for name, value in pyomo.cost_breakdown.items():
        assert cvx.cost_breakdown[name] == pytest.approx(value, rel=1e-6, abs=1e-4), name
    ours, theirs = cvx.feeders[0], pyomo.feeders[0]
    np.testing.assert_allclose(ours.voltage_pu, theirs.voltage_pu, atol=1e-6)
    np.testing.assert_allclose(ours.dlmp_per_mwh, theirs.dlmp_per_mwh, atol=1e-4)
    np.testing.assert_allclose(ours.reactive_price_per_mvarh, theirs.reactive_price_per_mvarh,
                               atol=1e-4)
    np.testing.assert_allclose(ours.slack_p_mw, theirs.slack_p_mw, atol=1e-6)
    for name, dlmp in pyomo.charging_dlmp_per_mwh.items():
        np.testing.assert_allclose(cvx.charging_dlmp_per_mwh[name], dlmp, atol=1e-4)
    # no relaxation, no losses
    assert cvx.relaxation_gap_raw == 0.0 and cvx.relaxation_gap_weighted_mw == 0.0
    assert (ours.branch_loss_mw == 0.0).all()
    assert cvx.extra == {"formulation": "lindistflow"}


def test_equals_the_pyomo_lindistflow_solved_by_highs() -> None:
    case = linear_case()
    charging = charging_mw()
    opf = DistFlowOpf(case, formulation="lindistflow")
    opf.set_charging_load(charging)
    ours = opf.solve()
    model = build_lindistflow(case, charging)
    assert model.linear
    theirs = solve_lindistflow(model)
    assert_same(ours, theirs)

    # the case is not trivial: the voltage limit and the rating both bind and price space
    dispatch = ours.feeders[0]
    bus = {int(b): i for i, b in enumerate(dispatch.bus_ids)}
    assert dispatch.voltage_pu[bus[17], 3] == pytest.approx(0.9, abs=1e-7)
    k33 = int(np.flatnonzero(dispatch.bus_ids[case.feeders[0].branch_to] == RATED_BUS)[0])
    flow = np.hypot(dispatch.branch_p_mw[k33], dispatch.branch_q_mvar[k33])
    assert flow.max() >= RATING_MVA * np.cos(np.pi / 16) - 1e-6
    assert flow.max() <= RATING_MVA + 1e-6
    spread = dispatch.dlmp_per_mwh.max(axis=0) - dispatch.dlmp_per_mwh.min(axis=0)
    assert spread[3] > 10.0 and spread[5] > 10.0  # measured 14.4 and 39.2 $/MWh
    # with no losses the DER and loads balance the import exactly
    assert dispatch.net_load_p_mw.sum(axis=0) == pytest.approx(dispatch.slack_p_mw, abs=1e-6)

    # a re-solve with new prices and loads reuses the problem and still matches
    problem = opf.problem
    price = np.asarray(case.upstream_price_per_mwh)[::-1].copy()
    charging[0, :2] = 0.2
    opf.set_upstream_price(price)
    opf.set_charging_load(charging)
    model.set_upstream_price(price)
    model.set_charging_load(charging)
    assert_same(opf.solve(), solve_lindistflow(model))
    assert opf.problem is problem


def test_priced_charging_and_embedding() -> None:
    case = linear_case()
    opf = DistFlowOpf(case, charging="priced", formulation="lindistflow")
    target = charging_mw() * 0.5 + 0.1
    penalty = 20_000.0  # $/MW² over a period (ρ·Δt): large enough to keep every load interior
    dt = case.period_hours

    def solve(price: np.ndarray) -> OpfResult:
        # π, the price the DSO pays on its charging energy, is minus the λ it is paid
        result = opf.solve_coupled(CouplingTerms.supplier(-price, penalty / dt, target, dt))
        assert result.status is OpfStatus.OPTIMAL, result.message
        return result

    free = solve(np.zeros((2, T)))
    price = np.zeros((2, T))
    price[1, 4] = 40.0  # $/MWh on cs17 in period 4
    priced = solve(price)
    # interior optimum of Δt·(π + DLMP)·P + (ρ/2)(P − z)²: P = z − Δt·(π + DLMP)/ρ
    for result, pi in ((free, np.zeros((2, T))), (priced, price)):
        load = np.vstack([result.charging_mw["cs12"], result.charging_mw["cs17"]])
        dlmp = np.vstack([result.charging_dlmp_per_mwh["cs12"],
                          result.charging_dlmp_per_mwh["cs17"]])
        assert (load > 1e-3).all()
        np.testing.assert_allclose(load, target - dt * (pi + dlmp) / penalty, atol=1e-5)
    moved = free.charging_mw["cs17"][4] - priced.charging_mw["cs17"][4]
    assert moved == pytest.approx(dt * 40.0 / penalty, rel=1e-3)  # 8 kW less
    assert priced.relaxation_gap_weighted_mw == 0.0

    # embedded: a fleet needs 3 MWh at cs17 in periods 3-5, anywhere in between; the joint
    # optimum must equal the Pyomo block's in a parent LP with the same requirement
    parts = opf.embedding()
    needed_mwh = 3.0
    fleet = [parts.charging_mw[0, :] == 0,
             parts.charging_mw[1, :3] == 0,
             dt * cp.sum(parts.charging_mw[1, 3:]) == needed_mwh]
    joint = cp.Problem(cp.Minimize(parts.cost_usd), [*parts.constraints, *fleet])
    joint.solve(solver="CLARABEL")
    assert joint.status == cp.OPTIMAL
    embedded = parts.read_result()
    assert embedded.status is OpfStatus.OPTIMAL
    assert embedded.relaxation_gap_raw == 0.0
    assert embedded.objective == pytest.approx(joint.value, rel=1e-9)
    served = embedded.charging_mw["cs17"]
    assert dt * served.sum() == pytest.approx(needed_mwh, abs=1e-6)

    parent = pyo.ConcreteModel()
    block = build_lindistflow(case, model=parent, name="dso", charging="variable")
    parent.fleet = pyo.ConstraintList()
    for t in range(T):
        parent.fleet.add(block.charging[0, t] == 0)
        if t < 3:
            parent.fleet.add(block.charging[1, t] == 0)
    parent.fleet.add(dt * sum(block.charging[1, t] for t in range(3, T)) == needed_mwh)
    parent.objective = pyo.Objective(expr=block.cost)
    reference = solve_lindistflow(block)
    assert reference.status is OpfStatus.OPTIMAL, reference.message
    assert embedded.objective == pytest.approx(reference.objective, rel=1e-6)
    # where the fleet charges, the price is the same in every period it uses
    used = served[3:] > 1e-3
    assert used.any()
    dlmp = embedded.charging_dlmp_per_mwh["cs17"][3:]
    assert np.ptp(dlmp[used]) <= 1e-3


def test_cheaper_than_soc_by_about_the_losses() -> None:
    case = linear_case()
    charging = 0.75 * charging_mw()  # at 0.8 MW on cs17 the lossy model has no solution
    results = {}
    for formulation in ("soc", "lindistflow"):
        opf = DistFlowOpf(case, formulation=formulation)  # type: ignore[arg-type]
        opf.set_charging_load(charging)
        results[formulation] = opf.solve()
    soc, lin = results["soc"], results["lindistflow"]
    assert soc.status is OpfStatus.OPTIMAL and lin.status is OpfStatus.OPTIMAL
    price = np.asarray(case.upstream_price_per_mwh) + case.loss_price_per_mwh
    loss_cost = float(case.period_hours * np.sum(soc.feeders[0].loss_mw * price))
    gap = soc.objective - lin.objective
    # not equal: the dispatches differ and the SOC rating is the circle, not the polygon
    assert gap == pytest.approx(loss_cost, rel=0.1)  # measured 404 $ against 391 $
    assert 0.02 < gap / soc.objective < 0.08
    assert "losses" in soc.cost_breakdown and "losses" not in lin.cost_breakdown


def test_invalid_formulation_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="formulation must be 'soc' or 'lindistflow'"):
        DistFlowOpf(linear_case(), formulation="dc")  # type: ignore[arg-type]

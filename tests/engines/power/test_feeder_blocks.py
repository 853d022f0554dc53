"""FeederwiseOpf: one OPF over several feeders as one cvxpy problem per feeder.

Checked against the single-problem DistFlowOpf of the same case (mv_oberrhein's two halves, a
battery on one half and charging points on both, 6 periods): same objective, dispatch, DLMPs
and device schedules, before and after a re-solve with one feeder's price changed; and the
peak-period voltages against ``pandapower.runpp`` of the net as shipped with its loads scaled
the same way. The memory it saves is measured in bench/feeder_scale.py.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandapower as pp
import pytest

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.der import ChargingPoint, DsoCase, Storage
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import UpstreamCost
from ptn.engines.power.feeder_blocks import FeederwiseOpf
from ptn.engines.power.pandapower_catalogue import pandapower_network
from ptn.engines.power.profiles import daily_profile
from ptn.engines.power.result import OpfResult, OpfStatus

PERIODS = 6


def case() -> DsoCase:
    feeders = tuple(dataclasses.replace(f, upstream_cost=UpstreamCost(linear_per_mwh=50.0))
                    for f in load_feeders("mv_oberrhein"))
    north, south = feeders
    battery = Storage(name="bess", bus=int(south.bus_ids[20]), energy_mwh=4.0,
                      charge_max_mw=1.0, discharge_max_mw=1.0, feeder=south.name)
    points = (
        ChargingPoint(name="cp_north", bus=int(north.bus_ids[30]), feeder=north.name),
        ChargingPoint(name="cp_south", bus=int(south.bus_ids[40]), feeder=south.name),
    )
    return DsoCase(feeders=feeders, periods=PERIODS, period_hours=24 / PERIODS,
                   load_profile=daily_profile("rts-winter-weekday", PERIODS),
                   upstream_price_per_mwh=np.array([40.0, 30.0, 60.0, 90.0, 70.0, 50.0]),
                   storage=(battery,), charging_points=points)


def assert_same(ours: OpfResult, theirs: OpfResult) -> None:
    assert ours.status is theirs.status is OpfStatus.OPTIMAL
    assert ours.objective == pytest.approx(theirs.objective, rel=1e-6)
    assert ours.cost_breakdown.keys() == theirs.cost_breakdown.keys()
    assert [f.name for f in ours.feeders] == [f.name for f in theirs.feeders]
    for a, b in zip(ours.feeders, theirs.feeders, strict=True):
        np.testing.assert_allclose(a.voltage_pu, b.voltage_pu, atol=1e-6)
        np.testing.assert_allclose(a.slack_p_mw, b.slack_p_mw, atol=1e-5)
        np.testing.assert_allclose(a.dlmp_per_mwh, b.dlmp_per_mwh, atol=1e-3)
    np.testing.assert_allclose(ours.storage_discharge_mw["bess"] - ours.storage_charge_mw["bess"],
                               theirs.storage_discharge_mw["bess"]
                               - theirs.storage_charge_mw["bess"], atol=1e-4)
    assert ours.charging_mw.keys() == theirs.charging_mw.keys()
    for name in theirs.charging_dlmp_per_mwh:
        np.testing.assert_allclose(ours.charging_dlmp_per_mwh[name],
                                   theirs.charging_dlmp_per_mwh[name], atol=1e-3)


def test_feeder_by_feeder_is_the_single_problem() -> None:
    dso = case()
    single = DistFlowOpf(dso)
    blocks = FeederwiseOpf(dso)
    assert len(blocks.blocks) == 2
    charging = np.zeros((2, PERIODS))
    charging[0, 3] = 1.5
    charging[1, 4] = 0.8
    single.set_charging_load(charging)
    blocks.set_charging_load(charging)
    assert_same(blocks.solve(), single.solve())
    # the battery moves energy to the peak price: the comparison is not of idle devices
    shifted = blocks.solve().storage_discharge_mw["bess"]
    assert shifted[3] > 0.1

    # re-solve with the south half's price changed, through the blocks' own Parameters
    problems = [b.problem for b in blocks.blocks]
    price = np.array([90.0, 20.0, 20.0, 20.0, 20.0, 90.0])
    single.set_upstream_price(price, feeder="mv_oberrhein/1")
    blocks.set_upstream_price(price, feeder="mv_oberrhein/1")
    result = blocks.solve()
    assert_same(result, single.solve())
    assert [b.problem for b in blocks.blocks] == problems
    np.testing.assert_allclose(blocks.upstream_price_per_mwh(1), price)
    np.testing.assert_allclose(blocks.upstream_price_per_mwh(0), case().upstream_price_per_mwh)

    # pandapower's power flow of the net as shipped at the peak period's load
    peak = int(np.argmax(dso.load_profile))
    blocks.set_charging_load(np.zeros((2, PERIODS)))
    result = blocks.solve()
    net = pandapower_network("mv_oberrhein")
    net.load["scaling"] = net.load["scaling"] * dso.load_profile[peak]
    bess_bus = dso.storage[0].bus
    net_power = result.storage_discharge_mw["bess"][peak] - result.storage_charge_mw["bess"][peak]
    pp.create_sgen(net, bess_bus, p_mw=float(net_power))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, tolerance_mva=1e-10, numba=False)
    for feeder, dispatch in zip(dso.feeders, result.feeders, strict=True):
        others = np.arange(feeder.num_buses) != feeder.slack_bus
        reference = net.res_bus["vm_pu"].loc[feeder.bus_ids].to_numpy(dtype=np.float64)
        assert np.abs(dispatch.voltage_pu[others, peak] - reference[others]).max() < 1e-4


def test_an_infeasible_feeder_is_named_with_its_diagnosis() -> None:
    dso = case()
    north, south = dso.feeders
    tight = dataclasses.replace(south, upstream_p_max_mw=1.0)
    result = FeederwiseOpf(dataclasses.replace(dso, feeders=(north, tight))).solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert result.message.startswith("feeder mv_oberrhein/1: ")
    assert result.infeasibility is not None
    assert {v.kind for v in result.infeasibility.violations} == {"import_max"}


def test_the_admm_step_feeder_by_feeder_is_the_single_problem() -> None:
    """The DSO's ADMM local step (priced charging with coupling terms) separates by feeder:
    the same optimum, charging decisions and coupling cost as one problem, with the terms'
    rows given in another order than the case's (aligned by name) and a third feeder that
    has no charging point."""
    dso = case()
    north, south = dso.feeders
    idle = dataclasses.replace(north, name="idle")
    dso = dataclasses.replace(dso, feeders=(north, south, idle))
    # a 1e-10 gap: at the default 1e-7, the supply points' power of the three 16-MW feeders
    # agrees to 1e-4 MW only
    tight = {"tol_gap_rel": 1e-10, "tol_gap_abs": 1e-10}
    single = DistFlowOpf(dso, charging="priced", solver_options=tight)
    blocks = FeederwiseOpf(dso, charging="priced", solver_options=tight)
    assert [b.charging_mode for b in blocks.blocks] == ["priced", "priced", "fixed"]
    price = np.array([[60.0, 40.0, 80.0, 120.0, 90.0, 70.0],
                      [50.0, 45.0, 70.0, 110.0, 95.0, 60.0]])
    target = np.array([[0.5, 0.2, 1.0, 1.5, 0.8, 0.4], [0.3, 0.6, 0.9, 1.2, 1.0, 0.2]])
    # rows named in the other order: cp_south first
    terms = CouplingTerms.supplier(price[::-1], 2.0, target[::-1], dso.period_hours,
                                   ("cp_south", "cp_north"))
    ours, theirs = blocks.solve_coupled(terms), single.solve_coupled(terms)
    assert_same(ours, theirs)
    assert ours.cost_breakdown["charging_coupling"] == pytest.approx(
        theirs.cost_breakdown["charging_coupling"], rel=1e-6)
    for name in ("cp_north", "cp_south"):
        np.testing.assert_allclose(ours.charging_mw[name], theirs.charging_mw[name], atol=1e-5)
    assert ours.charging_mw["cp_north"].max() > 0.1  # the terms make it charge
    # cleared terms: no charging pays, as in the single problem
    blocks.set_coupling(None)
    single.set_coupling(None)
    assert_same(blocks.solve(), single.solve())
    # the feeders solved two at a time on threads: the same answers as in turn, bit for bit
    # (both built afresh: a re-solve's solver data can differ in the last bits)
    threaded = FeederwiseOpf(dso, charging="priced", solver_options=tight, workers=2)
    again = threaded.solve_coupled(terms)
    ours = FeederwiseOpf(dso, charging="priced", solver_options=tight).solve_coupled(terms)
    assert again.objective == ours.objective
    for name in ("cp_north", "cp_south"):
        np.testing.assert_array_equal(again.charging_mw[name], ours.charging_mw[name])
    with pytest.raises(InvalidInputError, match="workers"):
        FeederwiseOpf(dso, workers=0)
    with pytest.raises(InvalidInputError, match="decisions"):
        blocks.set_charging_load(np.zeros((2, PERIODS)))
    with pytest.raises(InvalidInputError, match="priced"):
        FeederwiseOpf(case()).set_coupling(None)
    with pytest.raises(InvalidInputError, match="side"):
        blocks.set_coupling(CouplingTerms.consumer(price, 2.0, target, dso.period_hours))


def test_a_new_load_profile_reaches_every_block() -> None:
    dso = case()
    blocks = FeederwiseOpf(dso)
    single = DistFlowOpf(dso)
    lighter = np.full(PERIODS, 0.5)
    blocks.set_load_profile(lighter)
    single.set_load_profile(lighter)
    np.testing.assert_allclose(blocks.case.load_profile, lighter)
    assert_same(blocks.solve(), single.solve())

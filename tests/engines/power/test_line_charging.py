"""Line charging (bus shunts) in the OPF's balances: SOC, both LinDistFlow models, re-solves.

A bus shunt draws ``g·|V|²`` and supplies ``b·|V|²``, linear in DistFlow's squared voltage, so
the OPF holds it exactly. Refereed by pandapower: the OPF of mv_oberrhein (26 µF of cable) at a
lighter load, set by a re-solve of the built problem, against ``pandapower.runpp`` of the net
as shipped with its loads scaled the same way; LinDistFlow with the shunts against the Pyomo
model, and the voltage rise the shunts cause against the rise pandapower computes.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any

import numpy as np
import pandapower as pp
import pytest

from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.exactness import check_with_ac_power_flow
from ptn.engines.power.feeder import Feeder, UpstreamCost
from ptn.engines.power.lindistflow import build_lindistflow, solve_lindistflow
from ptn.engines.power.pandapower_catalogue import pandapower_network
from ptn.engines.power.pandapower_io import feeders_from_pandapower
from ptn.engines.power.result import OpfResult, OpfStatus

TARIFF_PER_MWH = 50.0


def priced(feeders: tuple[Feeder, ...]) -> tuple[Feeder, ...]:
    return tuple(dataclasses.replace(f, upstream_cost=UpstreamCost(linear_per_mwh=TARIFF_PER_MWH))
                 for f in feeders)


def runpp_voltages(net: Any, load_scale: float = 1.0) -> Any:
    net = copy.deepcopy(net)
    net.load["scaling"] = net.load["scaling"] * load_scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10, max_iteration=50,
                 numba=False)
    return net.res_bus["vm_pu"]


def deviation(result: OpfResult, feeders: tuple[Feeder, ...], vm: Any, t: int = 0) -> float:
    worst = 0.0
    for feeder, dispatch in zip(feeders, result.feeders, strict=True):
        others = np.arange(feeder.num_buses) != feeder.slack_bus
        reference = vm.loc[feeder.bus_ids].to_numpy(dtype=np.float64)
        worst = max(worst, float(np.abs(dispatch.voltage_pu[others, t] - reference[others]).max()))
    return worst


def test_a_re_solve_at_another_load_still_matches_pandapower_with_line_charging() -> None:
    feeders = priced(load_feeders("mv_oberrhein"))
    assert all(f.has_shunts for f in feeders)
    opf = DistFlowOpf(DsoCase(feeders=feeders))
    first = opf.solve()
    assert first.status is OpfStatus.OPTIMAL, first.message
    problem = opf.problem
    opf.set_load_profile(np.array([0.4]))
    opf.set_upstream_price(np.array([80.0]))
    result = opf.solve()
    assert opf.problem is problem  # re-solved, not rebuilt (DPP)
    assert result.status is OpfStatus.OPTIMAL, result.message
    assert result.relaxation_gap_weighted_mw < 1e-6
    net = pandapower_network("mv_oberrhein")
    # as shipped (magnetizing included: measured 5e-6 p.u.)
    assert deviation(result, feeders, runpp_voltages(net, 0.4)) < 1e-4
    # the AC check (shunts modelled once, not twice) agrees to solver accuracy
    check = check_with_ac_power_flow(opf, result)
    assert check.converged and check.max_voltage_deviation_pu < 1e-7
    # at light load the cables' charging lifts some voltages above the slack's: not flat
    lifted = max(float(d.voltage_pu.max()) for d in result.feeders)
    slack = max(f.slack_voltage_pu for f in feeders)
    assert lifted > slack


def test_net_loads_leave_the_shunts_out_and_the_import_pays_for_them() -> None:
    """The import is the loads plus losses plus the shunts' draw ``g·v`` (P) and ``−b·v`` (Q),
    computed here from the feeder data and the solved voltages."""
    feeders = priced(load_feeders("cigre_mv_pv_wind"))
    (feeder,) = feeders
    result = DistFlowOpf(DsoCase(feeders=feeders)).solve()
    assert result.status is OpfStatus.OPTIMAL, result.message
    (dispatch,) = result.feeders
    others = np.arange(feeder.num_buses) != feeder.slack_bus
    np.testing.assert_allclose(dispatch.net_load_p_mw[others, 0], feeder.load_p_mw[others],
                               atol=1e-6)
    np.testing.assert_allclose(dispatch.net_load_q_mvar[others, 0], feeder.load_q_mvar[others],
                               atol=1e-6)
    assert feeder.shunt_b_pu is not None and feeder.shunt_g_pu is not None
    v = dispatch.voltage_pu[:, 0] ** 2
    charging_mvar = float(feeder.shunt_b_pu @ v) * feeder.base_mva
    assert charging_mvar > 0.25  # CIGRE MV's cables: 0.28 MVAr at these voltages
    expected_q = (feeder.load_q_mvar.sum() - charging_mvar
                  + float(feeder.x_pu @ dispatch.branch_current_pu2[:, 0]) * feeder.base_mva)
    assert dispatch.slack_q_mvar[0] == pytest.approx(expected_q, abs=1e-5)
    expected_p = (feeder.load_p_mw.sum() + float(feeder.shunt_g_pu @ v) * feeder.base_mva
                  + dispatch.loss_mw[0])
    assert dispatch.slack_p_mw[0] == pytest.approx(expected_p, abs=1e-5)


def test_lindistflow_holds_the_shunts_like_the_pyomo_model() -> None:
    """Both LinDistFlow models carry ``g·w`` and ``−b·w`` in their balances (linear, exact in
    the linearization) and agree; the voltage rise the shunts cause is pandapower's within 10 %
    (LinDistFlow's own error on a lossless linearization)."""
    net = pandapower_network("mv_oberrhein")
    with_shunts = priced(feeders_from_pandapower(net, "mv_oberrhein"))
    without = priced(feeders_from_pandapower(net, "mv_oberrhein", line_charging=False))
    case = DsoCase(feeders=with_shunts)
    ours = DistFlowOpf(case, formulation="lindistflow").solve()
    theirs = solve_lindistflow(build_lindistflow(case))
    assert ours.status is OpfStatus.OPTIMAL and theirs.status is OpfStatus.OPTIMAL
    assert ours.objective == pytest.approx(theirs.objective, rel=1e-6)
    for a, b in zip(ours.feeders, theirs.feeders, strict=True):
        np.testing.assert_allclose(a.voltage_pu, b.voltage_pu, atol=1e-6)
        np.testing.assert_allclose(a.net_load_q_mvar, b.net_load_q_mvar, atol=1e-5)
        np.testing.assert_allclose(a.slack_q_mvar, b.slack_q_mvar, atol=1e-5)
    plain = DistFlowOpf(DsoCase(feeders=without), formulation="lindistflow").solve()
    rise = np.concatenate([a.voltage_pu[:, 0] - b.voltage_pu[:, 0]
                           for a, b in zip(ours.feeders, plain.feeders, strict=True)])
    full = runpp_voltages(net)
    no_charging = copy.deepcopy(net)
    no_charging.line["c_nf_per_km"] = 0.0
    bare = runpp_voltages(no_charging)
    labels = np.concatenate([f.bus_ids for f in with_shunts])
    reference = (full.loc[labels] - bare.loc[labels]).to_numpy(dtype=np.float64)
    assert float(reference.max()) > 1e-2  # line charging lifts mv_oberrhein by > 1e-2 p.u.
    assert float(np.abs(rise - reference).max()) < 0.1 * float(reference.max())


def test_the_elastic_model_holds_the_shunts() -> None:
    """CIGRE MV as shipped overloads its first HV/MV transformer; with the cables' charging in
    the model the elastic re-solve names pandapower's loading within 0.05 points."""
    net = pandapower_network("cigre_mv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, tolerance_mva=1e-10, numba=False)
    loading = float(net.res_trafo.at[0, "loading_percent"])
    feeders = priced(feeders_from_pandapower(net, "cigre_mv"))
    result = DistFlowOpf(DsoCase(feeders=feeders)).solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert result.infeasibility is not None
    (violation,) = result.infeasibility.violations
    assert violation.kind == "transformer_rating"
    assert violation.value == pytest.approx(loading, abs=0.05)

"""An infeasible OPF names the limits that cannot be met (the elastic re-solve).

Each case's binding limit is constructed on purpose (a branch rating below its flow, a voltage
floor above what the feeder reaches, an import limit below the load), and the report must name
exactly that element and those periods, with the amount an independent computation gives:
pandapower's AC power flow (Newton-Raphson) of the same loads, which the elastic re-solve must
reproduce since it may violate the limit but not the physics. CIGRE MV, as pandapower ships it,
loads its first HV/MV transformer to 101.4 % (pandapower's own power flow).
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import default_load_shape
from ptn.engines.power.der import DsoCase, Renewable
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.infeasibility import describe_solver_error
from ptn.engines.power.pandapower_io import (
    AcPowerFlowResult,
    feeder_from_pandapower,
    run_ac_power_flow,
)
from ptn.engines.power.profiles import daily_profile
from ptn.engines.power.result import OpfStatus

PERIODS = 24
PROFILE = daily_profile(default_load_shape(PERIODS), PERIODS)


def ac_flows(feeder: Feeder, profile: np.ndarray) -> list[AcPowerFlowResult]:
    """pandapower's AC power flow of the feeder's loads scaled by each period's factor."""
    return [run_ac_power_flow(feeder, feeder.load_p_mw * s, feeder.load_q_mvar * s)
            for s in profile]


def with_rating(feeder: Feeder, branch: str, rating_mva: float) -> Feeder:
    rating = feeder.branch_rating_mva.copy()
    rating[feeder.branch_ids.index(branch)] = rating_mva
    return dataclasses.replace(feeder, branch_rating_mva=rating)


@pytest.mark.parametrize("formulation", ["soc", "lindistflow"])
def test_a_branch_rated_below_its_flow_is_named_with_its_periods_and_loading(
        formulation: str) -> None:
    feeder = load_feeder("case33bw")
    k = feeder.branch_ids.index("line 1")
    flows = ac_flows(feeder, PROFILE)
    ac_mva = np.array([np.sqrt(f.branch_current_pu_squared[k]) * feeder.base_mva
                       for f in flows])
    # a rating the head branch exceeds only in the day's busiest periods
    rating = float(np.quantile(ac_mva, 0.75))
    over = tuple(int(t) for t in np.flatnonzero(ac_mva > rating * (1 + 1e-4)))
    assert 3 <= len(over) < PERIODS
    case = DsoCase(feeders=(with_rating(feeder, "line 1", rating),), periods=PERIODS,
                   load_profile=PROFILE)
    result = DistFlowOpf(case, formulation=formulation).solve()  # type: ignore[arg-type]
    assert result.status is OpfStatus.INFEASIBLE
    report = result.infeasibility
    assert report is not None and report.status == "diagnosed"
    (violation,) = report.violations
    assert (violation.kind, violation.element) == ("line_rating", "line 1 (bus 1\u20132)")
    assert violation.limit == pytest.approx(rating)
    worst = int(np.argmax(ac_mva))
    assert violation.worst_period == worst
    expected = 100.0 * ac_mva[worst] / rating
    if formulation == "lindistflow":
        # lossless flows (~6 % below the AC ones) against the rating's inscribed polygon: the
        # busiest of the AC power flow's overloaded periods, at a loading below the AC one
        assert worst in violation.periods and set(violation.periods) <= set(over)
        assert 100.0 < violation.value < expected
    else:
        assert violation.periods == over
        assert violation.value == pytest.approx(expected, abs=0.05)
    assert result.message.startswith("the OPF is infeasible; ")
    assert f"line 1 (bus 1\u20132) of feeder case33bw would be loaded {violation.value:.1f} %" \
        in result.message
    assert result.summary()["infeasibility"]["violations"][0]["element"] == "line 1 (bus 1\u20132)"


def test_a_voltage_floor_above_reach_names_the_buses_and_how_low() -> None:
    feeder = load_feeder("case33bw")
    (flow,) = ac_flows(feeder, np.ones(1))
    result = DistFlowOpf(DsoCase(feeders=(feeder.with_voltage_band(0.95, 1.05),))).solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert result.infeasibility is not None
    violations = result.infeasibility.violations
    assert {v.kind for v in violations} == {"voltage_min"}
    # exactly the buses the AC power flow puts below 0.95 p.u., each at its AC voltage
    low = {f"bus {feeder.bus_ids[b]}": flow.vm_pu[b] for b in np.flatnonzero(flow.vm_pu < 0.95)}
    assert {v.element for v in violations} == set(low)
    for violation in violations:
        assert violation.value == pytest.approx(low[violation.element], abs=1e-4)
        assert violation.limit == 0.95
    assert (f"feeder case33bw: voltage below its minimum at {len(low)} buses in period 0, "
            "worst bus 18 at 0.913") in result.message


def test_an_import_limit_below_the_load_names_the_supply_point() -> None:
    feeder = dataclasses.replace(load_feeder("case33bw"), upstream_p_max_mw=3.0)
    (flow,) = ac_flows(feeder, np.ones(1))
    result = DistFlowOpf(DsoCase(feeders=(feeder,))).solve()
    assert result.infeasibility is not None
    (violation,) = result.infeasibility.violations
    assert (violation.kind, violation.element, violation.limit) == (
        "import_max", "supply point", 3.0)
    assert violation.value == pytest.approx(flow.slack_p_mw, abs=1e-3)
    assert (f"supply point of feeder case33bw: import would be {violation.value:.4g} MW, above "
            "its 3 MW limit in period 0") in result.message


def test_cigre_mv_names_its_overloaded_hv_mv_transformer() -> None:
    net = pn.create_cigre_network_mv()
    pp.runpp(net)
    loading = net.res_trafo.loading_percent.to_numpy()
    assert loading[0] > 100.0 > loading[1]
    feeder = feeder_from_pandapower(net, "cigre_mv")
    result = DistFlowOpf(DsoCase(feeders=(feeder,))).solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert result.infeasibility is not None
    (violation,) = result.infeasibility.violations
    assert violation.kind == "transformer_rating"
    assert violation.element.startswith("transformer 0 ")
    assert violation.limit == 25.0
    # within half a point of pandapower's 101.4 % (with the cables' charging now in the
    # feeder, within 0.05 points: test_line_charging.py)
    assert violation.value == pytest.approx(loading[0], abs=0.5)
    assert "transformer 0 (bus 0\u20131) of feeder cigre_mv would be loaded 101." in result.message


def test_the_elastic_model_follows_the_opfs_parameters() -> None:
    """Built once, re-solved with the OPF's current load profile: a lighter day overloads the
    branch in fewer periods, and a feasible one solves without a report."""
    feeder = load_feeder("case33bw")
    k = feeder.branch_ids.index("line 1")
    rating = 0.9 * float(np.sqrt(ac_flows(feeder, np.ones(1))[0].branch_current_pu_squared[k])
                         * feeder.base_mva)
    case = DsoCase(feeders=(with_rating(feeder, "line 1", rating),), periods=3,
                   load_profile=np.array([1.0, 1.0, 1.0]))
    opf = DistFlowOpf(case)
    assert opf.elastic is None  # built only when needed
    first = opf.solve().infeasibility
    assert first is not None and first.violations[0].periods == (0, 1, 2)
    elastic = opf.elastic
    assert elastic is not None
    opf.set_load_profile(np.array([1.0, 0.5, 1.0]))
    second = opf.solve().infeasibility
    assert second is not None and second.violations[0].periods == (0, 2)
    assert opf.elastic is elastic
    opf.set_load_profile(np.array([0.5, 0.5, 0.5]))
    solved = opf.solve()
    assert solved.status is OpfStatus.OPTIMAL and solved.infeasibility is None
    # asked directly on a feasible OPF, the elastic re-solve needs no violation
    assert opf.explain().status == "numerical"


def test_the_explanation_can_be_switched_off() -> None:
    case = DsoCase(feeders=(load_feeder("case33bw").with_voltage_band(0.95, 1.05),))
    result = DistFlowOpf(case, explain_infeasibility=False).solve()
    assert result.status is OpfStatus.INFEASIBLE and result.infeasibility is None
    assert result.message == "the OPF is infeasible"


def test_a_solver_failure_is_described_without_cvxpys_advice() -> None:
    error = cp.error.SolverError("Solver 'CLARABEL' failed. Try another solver, or solve with "
                                 "verbose=True for more information.")
    assert describe_solver_error(error) == "the solver failed (Solver 'CLARABEL' failed.)"


def test_of_two_feeders_the_one_that_cannot_carry_its_load_is_named() -> None:
    feeder = load_feeder("case33bw")
    weak = dataclasses.replace(with_rating(feeder, "line 1", 3.0), name="north")
    result = DistFlowOpf(DsoCase(feeders=(feeder, weak))).solve()
    assert result.status is OpfStatus.INFEASIBLE and result.infeasibility is not None
    (violation,) = result.infeasibility.violations
    assert (violation.feeder, violation.element) == ("north", "line 1 (bus 1\u20132)")
    assert "of feeder north would be loaded" in result.message


def test_surplus_a_feeder_may_not_export_is_named_with_the_over_voltage_it_causes() -> None:
    """Non-curtailable PV beyond the load on case33bw, whose supply point may not export
    (Pmin 0), in the lossless LinDistFlow (which cannot burn the surplus as losses): the export
    the data would need is the PV output minus the load, and it raises the far end's voltage
    above the case's 1.1 p.u."""
    feeder = load_feeder("case33bw")
    assert feeder.upstream_p_min_mw == 0.0
    pv = Renewable("pv18", 18, "pv", rated_mw=3.0, profile=np.ones(1), reactive_support=False,
                   curtailable=False)
    case = DsoCase(feeders=(feeder,), periods=1, load_profile=np.array([0.3]), renewables=(pv,))
    result = DistFlowOpf(case, formulation="lindistflow").solve()
    assert result.status is OpfStatus.INFEASIBLE and result.infeasibility is not None
    export, *voltages = result.infeasibility.violations
    assert (export.kind, export.element, export.limit) == ("export_max", "supply point", 0.0)
    assert export.value == pytest.approx(3.0 - 0.3 * feeder.total_load_mw, abs=1e-6)
    assert {v.kind for v in voltages} == {"voltage_max"}
    assert max(voltages, key=lambda v: v.value).element == "bus 18"
    assert result.message.split("needs: ")[1].startswith(
        "supply point of feeder case33bw: export would be 1.885 MW, above its 0 MW limit")

"""A feeder without cost data solves exactly, and an inexact relaxation names its real cause.

pandapower's CIGRE LV benchmark feeder ships without cost data. Priced at nothing, losses are
free and the SOC relaxation is loose (3.2 MWh of fictitious losses over a day, issue 16); priced
at the fallback tariff it is exact, which is checked against pandapower's own AC power flow of
the same dispatch (voltages within 1e-4 p.u.) and its objective against the tariff times the AC
power flow's import. Each cause of inexactness (nothing priced, negative prices, an export limit
with free surplus) is produced on purpose and must be the one the message names.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import default_load_shape
from ptn.engines.power.der import DEFAULT_TARIFF_PER_MWH, DsoCase, Renewable
from ptn.engines.power.distflow import DEFAULT_EXACTNESS_TOLERANCE_MW, DistFlowOpf
from ptn.engines.power.exactness import check_with_ac_power_flow
from ptn.engines.power.feeder import Feeder, UpstreamCost
from ptn.engines.power.lindistflow import build_lindistflow, solve_lindistflow
from ptn.engines.power.pandapower_io import feeder_from_pandapower, run_ac_power_flow
from ptn.engines.power.profiles import daily_profile
from ptn.engines.power.result import OpfStatus

PERIODS = 24


@functools.cache
def cigre_lv() -> Feeder:
    """CIGRE LV as pandapower ships it, marked as carrying no cost data."""
    feeder = feeder_from_pandapower(pn.create_cigre_network_lv(), "cigre_lv")
    return dataclasses.replace(feeder, upstream_cost=UpstreamCost(has_cost_data=False))


def day(feeder: Feeder, **changes: object) -> DsoCase:
    case = DsoCase(feeders=(feeder,), periods=PERIODS, period_hours=1.0,
                   load_profile=daily_profile(default_load_shape(PERIODS), PERIODS))
    return dataclasses.replace(case, **changes)  # type: ignore[arg-type]


def test_cigre_lv_without_cost_data_solves_exactly_at_the_default_tariff() -> None:
    opf = DistFlowOpf(day(cigre_lv()))
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL, result.message
    assert result.relaxation_gap_weighted_mw < DEFAULT_EXACTNESS_TOLERANCE_MW
    assert result.notes == ("cigre_lv: no cost data; purchases priced at the default tariff "
                            f"{DEFAULT_TARIFF_PER_MWH:g} $/MWh",)
    assert result.summary()["notes"] == list(result.notes)
    check = check_with_ac_power_flow(opf, result)
    assert check.converged and check.voltage_violations == 0
    assert check.max_voltage_deviation_pu < 1e-4
    # the objective is what the AC power flow's import costs at the tariff, period by period
    dispatch = result.feeders[0]
    ac_import_mwh = 0.0
    for t in range(PERIODS):
        flow = run_ac_power_flow(cigre_lv(), dispatch.net_load_p_mw[:, t],
                                 dispatch.net_load_q_mvar[:, t])
        ac_import_mwh += flow.slack_p_mw
    assert result.objective == pytest.approx(DEFAULT_TARIFF_PER_MWH * ac_import_mwh, rel=1e-6)
    # the losses are physical ones, not the 3.2 MWh of fictitious losses of the unpriced solve
    assert dispatch.loss_mw.sum() == pytest.approx(sum(check.losses_mw[0]), rel=1e-5)


def test_unpriced_purchases_are_named_as_the_cause() -> None:
    opf = DistFlowOpf(day(cigre_lv()))
    opf.set_upstream_price(np.zeros(PERIODS))
    result = opf.solve()
    assert result.status is OpfStatus.INEXACT
    assert "purchases and losses are not priced" in result.message
    assert "negative" not in result.message
    assert "raw gap" in result.message and "weighted gap" in result.message
    # explicit prices replace the fallback tariff, so its note goes
    assert result.notes == ()
    # the unpriced relaxation burns power: far more losses than the AC power flow draws
    check = check_with_ac_power_flow(opf, result)
    assert result.feeders[0].loss_mw.sum() > 2.0 * sum(check.losses_mw[0])


def test_negative_prices_are_named_as_the_cause() -> None:
    case = DsoCase(feeders=(load_feeder("case33bw"),), upstream_price_per_mwh=np.array([-50.0]))
    result = DistFlowOpf(case).solve()
    assert result.status is OpfStatus.INEXACT
    assert "negative prices make losses profitable" in result.message
    assert "-50 $/MWh" in result.message
    assert "not priced" not in result.message


def test_free_surplus_behind_an_export_limit_is_named_as_the_cause() -> None:
    """case33bw's supply point may not export (Pmin 0): free PV beyond the load is worth
    nothing, so the relaxation may burn it instead of curtailing it."""
    feeder = load_feeder("case33bw")
    assert feeder.upstream_p_min_mw == 0.0
    pv = Renewable("pv18", 18, "pv", rated_mw=2.0, profile=np.ones(1), reactive_support=False)
    case = DsoCase(feeders=(feeder,), periods=1, load_profile=np.array([0.3]), renewables=(pv,))
    result = DistFlowOpf(case).solve()
    assert result.status is OpfStatus.INEXACT
    assert "export limit binds" in result.message
    assert "negative" not in result.message and "not priced" not in result.message


def test_the_case_tariff_prices_a_feeder_without_cost_data_and_both_formulations_agree() -> None:
    tariff = np.linspace(30.0, 90.0, PERIODS)
    case = day(cigre_lv(), upstream_price_per_mwh=tariff)
    opf = DistFlowOpf(case, formulation="lindistflow")
    assert np.array_equal(opf.upstream_price_per_mwh(), tariff)
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL
    assert result.notes == ("cigre_lv: no cost data; purchases priced at the case's upstream "
                            "prices (mean 60 $/MWh)",)
    # the Pyomo LinDistFlow of the bilevel references starts from the same prices
    unpriced = day(cigre_lv(), fallback_tariff_per_mwh=70.0)
    pyomo = solve_lindistflow(build_lindistflow(unpriced))
    expected = DistFlowOpf(unpriced, formulation="lindistflow").solve().objective
    assert pyomo.objective == pytest.approx(expected, rel=1e-6)
    assert expected > 0.0


def test_a_zero_shipped_cost_is_priced_like_no_cost_data() -> None:
    feeder = dataclasses.replace(cigre_lv(), upstream_cost=UpstreamCost())
    opf = DistFlowOpf(day(feeder, fallback_tariff_per_mwh=80.0))
    assert np.all(opf.upstream_price_per_mwh() == 80.0)
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL
    assert result.notes == ("cigre_lv: a shipped cost of zero; purchases priced at the tariff "
                            "80 $/MWh",)
    # a feeder that ships a cost keeps it, and gets no note
    priced = DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),)))
    assert priced.upstream_price_per_mwh()[0] == 20.0
    assert priced.solve().notes == ()


@pytest.mark.parametrize("tariff", [0.0, -5.0, float("nan"), float("inf")])
def test_a_fallback_tariff_must_be_a_positive_price(tariff: float) -> None:
    with pytest.raises(InvalidInputError, match="fallback_tariff_per_mwh must be a finite "
                                                "positive price"):
        DistFlowOpf(day(cigre_lv(), fallback_tariff_per_mwh=tariff))


def test_a_binding_upper_voltage_limit_with_reverse_flow_is_named_as_the_cause() -> None:
    """Non-curtailable PV at the far end of case33bw, export allowed, a 1.02 p.u. ceiling: the
    surplus it cannot export without over-voltage is burnt as fictitious losses."""
    feeder = dataclasses.replace(load_feeder("case33bw"), upstream_p_min_mw=-np.inf)
    pv = Renewable("pv18", 18, "pv", rated_mw=3.0, profile=np.ones(1), reactive_support=False,
                   curtailable=False)
    case = DsoCase(feeders=(feeder.with_voltage_band(0.9, 1.02),), periods=1,
                   load_profile=np.array([0.3]), renewables=(pv,))
    result = DistFlowOpf(case).solve()
    assert result.status is OpfStatus.INEXACT
    assert "the upper voltage limit binds at bus 18 (1.0200 p.u.) with reverse power flow" \
        in result.message
    dispatch = result.feeders[0]
    assert dispatch.slack_p_mw[0] < 0.0 and dispatch.voltage_pu.max() == pytest.approx(1.02)
    assert "not priced" not in result.message and "export limit" not in result.message


def test_a_raw_gap_beyond_its_bound_gets_a_note_when_the_weighted_one_passes() -> None:
    """With a tolerance loose enough to pass the fictitious losses of negative prices, the
    status stays ``optimal`` but the raw gap still says that the currents are not physical."""
    case = DsoCase(feeders=(load_feeder("case33bw"),), upstream_price_per_mwh=np.array([-50.0]))
    result = DistFlowOpf(case, exactness_tolerance_mw=10.0).solve()
    assert result.status is OpfStatus.OPTIMAL
    assert result.relaxation_gap_raw > 1e-4
    (note,) = result.notes
    assert note.startswith("case33bw: raw relaxation gap ") and "not physical" in note
    assert DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),))).solve().notes == ()


@pytest.mark.parametrize("make", [pn.create_cigre_network_lv, pn.create_kerber_dorfnetz,
                                  pn.create_kerber_landnetz_kabel_1])
def test_lv_benchmarks_without_cost_data_match_pandapowers_own_power_flow(
        make: Callable[[], Any]) -> None:
    """The nominal snapshot of pandapower's LV benchmark nets, solved by the OPF at the fallback
    tariff, against ``pandapower.runpp`` of the net as pandapower ships it."""
    net = make()
    pp.runpp(net)
    feeder = dataclasses.replace(feeder_from_pandapower(net, "lv"),
                                 upstream_cost=UpstreamCost(has_cost_data=False))
    result = DistFlowOpf(DsoCase(feeders=(feeder,))).solve()
    assert result.status is OpfStatus.OPTIMAL, result.message
    expected = net.res_bus.vm_pu.reindex(feeder.bus_ids).to_numpy()
    np.testing.assert_allclose(result.feeders[0].voltage_pu[:, 0], expected, atol=1e-4)
    assert result.feeders[0].slack_p_mw[0] == pytest.approx(net.res_ext_grid.p_mw.sum(),
                                                            rel=2e-2)

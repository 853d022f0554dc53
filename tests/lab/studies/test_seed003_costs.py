"""Seed 003's own cost terms and accounting, checked against numbers computed another way.

The paper's accounting is checked against Table 2's printed figures with the arithmetic done by
hand here. The cost terms are checked on Nguyen–Dupuis over 2 periods of 2 h (3 % EVs, stations
at nodes 6 and 10): the EVs' travel cost read from link flows × times must equal the one read
from the OD pairs' equilibrium costs (shortest paths) less the charging payments; the all-vehicle
travel cost must equal the equilibrium's flow × generalized cost less the payments; the bill is
computed by hand from a record given here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.coordinator.outcome import CostSummary
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.lab.studies.seed003_costs import (
    PaperCostTerms,
    cost_terms_at,
    ev_travel_cost_from_od_costs,
    paper_accounting,
    saving_rows,
    table2_implied_terms,
)

PERIOD_HOURS = 2.0
STATIONS = ("cs6", "cs10")


def test_the_paper_accounting_reproduces_table_2_to_the_cent() -> None:
    # by hand: 8,604.67 − 5,470.67 = 3,134.00; 5,470.67 − 5,220.39 = 250.28;
    # 3,384.28 − 250.28 = 3,134.00; 3,134.00 / 8,604.67 = 0.364221...
    travel, bill = table2_implied_terms()
    assert travel == pytest.approx(250.28, abs=1e-9)
    assert bill == pytest.approx(3134.00, abs=1e-9)
    accounting = paper_accounting(250.28, 3134.00, 5220.39)
    assert accounting.baseline == pytest.approx(8604.67, abs=1e-9)
    assert accounting.joint == pytest.approx(5470.67, abs=1e-9)
    assert accounting.saving == pytest.approx(3134.00, abs=1e-9)
    assert round(accounting.saving_percent, 2) == 36.42


def test_the_accounting_saving_is_the_bill_whatever_the_other_terms() -> None:
    accounting = paper_accounting(100.0, 25.0, 875.0)
    assert (accounting.baseline, accounting.joint, accounting.saving) == (1000.0, 975.0, 25.0)
    assert accounting.saving_percent == pytest.approx(2.5)


@pytest.fixture(scope="module")
def traffic() -> MultiPeriodProblem:
    network = load_network("nguyen-dupuis")
    stations = tuple(ChargingStation(name, node, 200.0, 0.5, 0.5, np.full(2, 30.0))
                     for name, node in zip(STATIONS, (6, 10), strict=True))
    demand = np.outer([0.7, 1.0], network.od_demand)
    return build_multiperiod_problem(MultiPeriodSpec(
        ChargingNetworkSpec(network, stations), demand * 0.97, demand * 0.03,
        max_shift_periods=0, price_sensitivity=0.0))


def point(prices: np.ndarray, loads: np.ndarray, dso: float = 1000.0) -> CostSummary:
    return CostSummary(total=dso + 7.0, by_operator={"traffic": 7.0, "dso": dso},
                       station_load_mw=loads, price_per_mwh=prices)


def test_ev_travel_cost_agrees_with_the_od_costs(traffic: MultiPeriodProblem) -> None:
    prices = np.array([[25.0, 40.0], [35.0, 20.0]])  # (station, period)
    equilibrium = traffic.solve(prices, gap=1e-12)
    terms, result = cost_terms_at("x", traffic, point(prices, equilibrium.station_load_mw.T),
                                  STATIONS, PERIOD_HOURS, gap=1e-12)
    assert terms.status == "ok"
    assert terms.ev_travel_cost == pytest.approx(
        ev_travel_cost_from_od_costs(result, PERIOD_HOURS), rel=1e-8)
    # flow × generalized cost, less the charging payments, is ω × flow × time of everyone
    payments = float(np.sum(prices.T * result.station_load_mw))
    assert terms.all_vehicles_travel_cost == pytest.approx(
        (result.total_cost - payments) * PERIOD_HOURS, rel=1e-8)
    assert 0 < terms.ev_travel_cost < terms.all_vehicles_travel_cost
    # every EV spends at least the charging time (0.5 h × 10 $/h) at a station
    assert terms.ev_station_time_cost >= 5.0 * terms.ev_trips - 1e-6
    assert terms.load_mismatch_mw == pytest.approx(0.0, abs=1e-9)


def test_bill_feeder_and_station_order_come_from_the_record(traffic: MultiPeriodProblem
                                                           ) -> None:
    prices = np.array([[10.0, 20.0], [30.0, 40.0]])
    loads = np.array([[1.0, 2.0], [3.0, 4.0]])
    terms, _ = cost_terms_at("x", traffic, point(prices, loads, dso=555.0), STATIONS,
                             PERIOD_HOURS)
    # by hand: (10·1 + 20·2 + 30·3 + 40·4) $/h × 2 h = 600 $
    assert terms.charging_bill == pytest.approx(600.0)
    assert terms.charging_energy_mwh == pytest.approx(20.0)
    assert terms.feeder_cost == 555.0
    assert terms.beckmann_potential == 7.0
    assert terms.paper_objective == pytest.approx(terms.ev_travel_cost + 600.0 + 555.0)
    assert terms.accounting().saving == pytest.approx(600.0)
    # the same record listed in the other station order gives the same terms
    flipped, _ = cost_terms_at("x", traffic, point(prices[::-1], loads[::-1], dso=555.0),
                               STATIONS[::-1], PERIOD_HOURS)
    assert flipped.charging_bill == pytest.approx(600.0)
    assert flipped.ev_travel_cost == pytest.approx(terms.ev_travel_cost, rel=1e-9)
    with pytest.raises(InvalidInputError, match="stations"):
        cost_terms_at("x", traffic, point(prices, loads), ("cs6", "elsewhere"), PERIOD_HOURS)


def test_savings_against_the_first_operation() -> None:
    def terms(name: str, travel: float, bill: float, feeder: float) -> PaperCostTerms:
        return PaperCostTerms(name, "ok", travel, 0.0, bill, feeder, 0.0, 0.0, 1.0, 1.0, 0.0)

    rows = saving_rows([terms("a", 100.0, 20.0, 80.0), terms("b", 90.0, 30.0, 60.0)])
    (row,) = rows
    assert row["operation"] == "b" and row["against"] == "a"
    assert row["ev_travel_cost_saving_usd"] == pytest.approx(10.0)
    assert row["charging_bill_saving_usd"] == pytest.approx(-10.0)
    assert row["feeder_cost_saving_usd"] == pytest.approx(20.0)
    assert row["paper_objective_saving_percent"] == pytest.approx(10.0)  # 200 → 180
    assert row["social_cost_saving_percent"] == pytest.approx(100 * 30 / 180)  # 180 → 150

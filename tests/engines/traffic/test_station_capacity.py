"""The station-capacity diagnosis on hand-made numbers (each expected value worked out here)."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.station_capacity import (
    capacity_shortfalls,
    diagnose_station_flows,
)

NAMES = ("S1", "S2", "S3", "S4")
CAPACITY = np.array([300.0, 300.0, 200.0, 100.0])  # 900 veh/h in all


def test_a_period_whose_ev_demand_exceeds_all_capacity_is_short_without_shifting() -> None:
    # periods' EV demand: 500, 1240, 880 veh/h against 900 veh/h of capacity per period
    demand = np.array([[200.0, 300.0], [1000.0, 240.0], [880.0, 0.0]])
    shortfalls = capacity_shortfalls(demand, CAPACITY)
    assert [(s.first_period, s.demand_veh_per_h, s.capacity_veh_per_h) for s in shortfalls] \
        == [(1, 1240.0, 900.0)]
    assert shortfalls[0].describe() == ("the EV demand of period 1 (1,240 veh/h) needs at least "
                                        "that much station capacity, the stations have 900")


def test_shifting_lets_a_period_borrow_its_neighbours_capacity() -> None:
    demand = np.array([500.0, 1240.0, 880.0])
    # period 1 may be served in periods 0..2: 2,700 veh/h of capacity; the horizon: 2,620
    # of demand against 2,700, so nothing is certainly short
    assert capacity_shortfalls(demand, CAPACITY, max_shift_periods=1) == ()
    # 3,000 veh/h in period 1 exceeds even its window (2,700) and the horizon (4,380 > 2,700)
    heavy = np.array([500.0, 3000.0, 880.0])
    found = capacity_shortfalls(heavy, CAPACITY, max_shift_periods=1)
    assert [(s.first_period, s.last_period, s.demand_veh_per_h, s.capacity_veh_per_h)
            for s in found] == [(1, 1, 3000.0, 2700.0), (0, 2, 4380.0, 2700.0)]


def test_the_binding_stations_are_named_with_their_loadings() -> None:
    # (periods, stations): S2 at 412/300 in period 1, S4 at 121/100 in period 0, S3 at 150/200
    flow = np.array([[250.0, 280.0, 150.0, 121.0],
                     [100.0, 412.0, 120.0, 90.0]])
    diagnosis = diagnose_station_flows(NAMES, CAPACITY, flow, flow.sum(axis=1))
    assert [(o.station, o.period) for o in diagnosis.overloads] == [("S2", 1), ("S4", 0)]
    assert diagnosis.overloads[0].utilization == pytest.approx(412 / 300)
    assert diagnosis.shortfalls == ()  # 801 and 722 veh/h are below 900
    text = diagnosis.describe()
    assert text.startswith("stations S2, S4 carry 137 % and 121 % of their charging capacity "
                           "(412 vs 300 veh/h in period 1, 121 vs 100 veh/h in period 0;")
    assert diagnosis.binding


def test_nothing_binds_below_the_continuation_point() -> None:
    flow = np.array([[0.94 * 300, 0.0, 0.0, 94.0]])  # S4 at exactly 0.94
    diagnosis = diagnose_station_flows(NAMES, CAPACITY, flow, flow.sum(axis=1))
    assert not diagnosis.binding and diagnosis.describe() == ""
    at_knee = diagnose_station_flows(NAMES, CAPACITY, np.array([[0, 0, 0, 95.0]]), [95.0])
    assert [o.station for o in at_knee.overloads] == ["S4"]


def test_capacities_must_be_positive_one_per_station() -> None:
    with pytest.raises(InvalidInputError, match="4 positive values"):
        diagnose_station_flows(NAMES, [300.0, 0.0, 200.0, 100.0], np.zeros((1, 4)), [0.0])

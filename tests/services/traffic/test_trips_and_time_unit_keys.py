"""The ``[traffic]`` table's ``trips`` (each period's trip table) and ``time_unit`` (of a TNTP
network's free-flow times) keys, read from the default scenario's traffic part with changes.

A long table written from the network's trip matrix times the scenario's demand profile gives
back, pair by pair, the demand the profile gives; one TNTP trips file per period gives the
file's matrix in every period; a changed entry changes that pair in that period only; bad
tables and contradictory keys are refused naming the key (and the file's line); a network read
in hours costs 60 times the minutes of the same numbers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import builtin_network_directory
from ptn.engines.traffic.network import RoadNetwork
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.traffic.config import TrafficConfig, traffic_config_from_part

SCENARIO = load_scenario()
PERIODS = SCENARIO.public.periods


def traffic_part(drop: tuple[str, ...] = (), **changes: Any) -> ScenarioPart:
    part = SCENARIO.part("traffic")
    data = {k: v for k, v in part.data.items() if k not in drop}
    return replace(part, data={**data, **changes})


def demand_by_pair(config: TrafficConfig) -> dict[tuple[int, int], np.ndarray]:
    """Each OD pair's (node labels) total demand per period (veh/h)."""
    spec = config.spec
    network: RoadNetwork = spec.charging.network
    total = spec.gv_demand_veh_per_h + spec.ev_demand_veh_per_h
    return {(int(network.node_ids[o]), int(network.node_ids[d])): total[:, k]
            for k, (o, d) in enumerate(zip(network.od_origin, network.od_destination,
                                           strict=True))}


def write_long_table(path: Path, by_pair: dict[tuple[int, int], np.ndarray]) -> Path:
    rows = [(t, o, d, float(trips[t])) for (o, d), trips in by_pair.items()
            for t in range(PERIODS)]
    pd.DataFrame(rows, columns=["period", "origin", "destination", "trips_veh_per_h"]
                 ).to_csv(path, index=False)
    return path


def test_a_long_table_of_the_profiled_matrix_gives_the_profiled_demand(tmp_path: Path) -> None:
    profiled = traffic_config_from_part(traffic_part())
    expected = demand_by_pair(profiled)
    scale = float(SCENARIO.part("traffic").data.get("demand_scale", 1.0))
    table = write_long_table(tmp_path / "trips.csv",
                             {pair: trips / scale for pair, trips in expected.items()})
    from_table = traffic_config_from_part(traffic_part(("demand_profile",), trips=str(table)))
    got = demand_by_pair(from_table)
    assert set(got) == {pair for pair, trips in expected.items() if trips.max() > 0}
    for pair, trips in got.items():
        np.testing.assert_allclose(trips, expected[pair], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(from_table.spec.ev_demand_veh_per_h.sum(axis=1),
                               profiled.spec.ev_demand_veh_per_h.sum(axis=1), rtol=1e-12)


def test_one_entry_changed_changes_that_pair_in_that_period_only(tmp_path: Path) -> None:
    base = demand_by_pair(traffic_config_from_part(traffic_part()))
    scale = float(SCENARIO.part("traffic").data.get("demand_scale", 1.0))
    changed = {pair: trips / scale for pair, trips in base.items()}
    pair = next(iter(changed))
    changed[pair] = changed[pair].copy()
    changed[pair][7] += 250.0
    got = demand_by_pair(traffic_config_from_part(traffic_part(
        ("demand_profile",), trips=str(write_long_table(tmp_path / "trips.csv", changed)))))
    difference = got[pair] - base[pair]
    np.testing.assert_allclose(difference, np.where(np.arange(PERIODS) == 7, 250.0 * scale, 0.0),
                               atol=1e-9)
    for other in got.keys() - {pair}:
        np.testing.assert_allclose(got[other], base[other], rtol=1e-12)


def test_one_tntp_trips_file_per_period() -> None:
    directory = builtin_network_directory("nguyen-dupuis")
    trips_file = next(directory.glob("*_trips.tntp"))
    config = traffic_config_from_part(traffic_part(("demand_profile",),
                                                   trips=[str(trips_file)] * PERIODS))
    network = config.spec.charging.network
    scale = float(SCENARIO.part("traffic").data.get("demand_scale", 1.0))
    total = config.spec.gv_demand_veh_per_h + config.spec.ev_demand_veh_per_h
    # the file's matrix (read by the network's own reader) in every period
    np.testing.assert_allclose(total, np.tile(network.od_demand * scale, (PERIODS, 1)),
                               rtol=1e-12)


@pytest.mark.parametrize(("changes", "message"), [
    ({"trips": "trips.csv", "demand_profile": "flat"}, "traffic.trips: .*remove demand_profile"),
    ({"trips": ["a.tntp", "b.tntp"]}, "traffic.trips: 2 TNTP trips files for 24 periods"),
    ({"trips": 5}, "traffic.trips"),
    ({"time_unit": "hours"}, "traffic.time_unit: unknown time unit 'hours'"),
])
def test_bad_keys_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        traffic_config_from_part(traffic_part(("demand_profile",), **changes))


def test_a_bad_line_of_the_table_is_named(tmp_path: Path) -> None:
    table = tmp_path / "trips.csv"
    table.write_text("period,origin,destination,trips_veh_per_h\n0,1,2,100\n0,1,3,-5\n")
    with pytest.raises(InvalidInputError,
                       match=r"traffic.trips: .*trips.csv:3: trips_veh_per_h -5 is negative"):
        traffic_config_from_part(traffic_part(("demand_profile",), trips=str(table)))


def test_a_network_in_hours_costs_sixty_times_its_minutes() -> None:
    minutes = traffic_config_from_part(traffic_part()).spec.charging
    hours = traffic_config_from_part(traffic_part(time_unit="h")).spec.charging
    assert (minutes.network.time_unit, hours.network.time_unit) == ("min", "h")
    np.testing.assert_allclose(hours.road_link_costs().free_flow_time,
                               60.0 * minutes.road_link_costs().free_flow_time, rtol=1e-12)


def test_a_resampled_day_averages_the_tables_periods(tmp_path: Path) -> None:
    """``--periods 4`` on a scenario with a 24-period table: each 6-hour period's demand is
    the mean rate of its six hours (as a daily profile is resampled)."""
    hourly = demand_by_pair(traffic_config_from_part(traffic_part()))
    scale = float(SCENARIO.part("traffic").data.get("demand_scale", 1.0))
    table = write_long_table(tmp_path / "trips.csv",
                             {pair: trips / scale for pair, trips in hourly.items()})
    four = load_scenario(periods=4).part("traffic")
    data = {k: v for k, v in four.data.items() if k != "demand_profile"}
    got = demand_by_pair(traffic_config_from_part(replace(four, data={**data,
                                                                      "trips": str(table)})))
    for pair, trips in got.items():
        expected = [float(np.mean(hourly[pair][6 * k:6 * (k + 1)])) for k in range(4)]
        np.testing.assert_allclose(trips, expected, rtol=1e-12)


def test_periods_that_do_not_divide_are_refused(tmp_path: Path) -> None:
    table = write_long_table(tmp_path / "trips.csv", {(1, 2): np.full(PERIODS, 10.0)})
    five = load_scenario(periods=5).part("traffic")
    data = {k: v for k, v in five.data.items() if k != "demand_profile"}
    with pytest.raises(InvalidInputError, match=r"traffic.trips: a trip table of 24 periods "
                                                r"cannot be resampled to 5 periods"):
        traffic_config_from_part(replace(five, data={**data, "trips": str(table)}))

"""Per-period trip matrices (ptn.engines.traffic.trip_tables) and the TNTP time unit.

The matrices read are compared with the entries written by hand, the two formats (long table,
one TNTP file per period) with each other, and every bad file must name its line or row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.network import RoadNetwork, hours_per_time_unit
from ptn.engines.traffic.trip_tables import read_period_trips

# Nguyen-Dupuis: zones 1..4 of nodes 1..13; (period, origin, destination) -> veh/h
ENTRIES = {(0, 1, 2): 400.0, (0, 1, 3): 800.0, (0, 4, 2): 60.0,
           (1, 4, 2): 600.0, (1, 4, 3): 200.0, (1, 1, 2): 50.0, (2, 1, 2): 10.0}


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return load_network("nguyen-dupuis")


def as_dict(network: RoadNetwork, demand: np.ndarray) -> dict[tuple[int, int, int], float]:
    """(period, origin label, destination label) -> veh/h of every non-zero entry."""
    labels = network.node_ids
    return {(int(p), int(labels[network.od_origin[k]]), int(labels[network.od_destination[k]])):
            float(demand[p, k]) for p, k in zip(*np.nonzero(demand), strict=True)}


def write_long(path: Path, rows: dict[tuple[int, int, int], float]) -> Path:
    lines = ["period,origin,destination,trips_veh_per_h"]
    lines += [f"{p},{o},{d},{v}" for (p, o, d), v in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tntp(path: Path, entries: dict[tuple[int, int], float], zones: int = 4) -> Path:
    total = sum(entries.values())
    text = [f"<NUMBER OF ZONES> {zones}", f"<TOTAL OD FLOW> {total}", "<END OF METADATA>", ""]
    for origin in sorted({o for o, _ in entries}):
        text.append(f"Origin {origin}")
        text.append(" ".join(f"{d} : {v};" for (o, d), v in entries.items() if o == origin))
    path.write_text("\n".join(text) + "\n")
    return path


def test_long_table_gives_each_period_its_own_matrix(tmp_path: Path,
                                                     network: RoadNetwork) -> None:
    trips = read_period_trips(write_long(tmp_path / "trips.csv", ENTRIES), network, 3)
    assert trips.demand_veh_per_h.shape == (3, 4)  # four distinct pairs over the periods
    assert as_dict(trips.network, trips.demand_veh_per_h) == ENTRIES
    # od_demand is each pair's peak: 4->2 peaks at 600 in period 1
    peak = dict(zip(zip(trips.network.od_origin.tolist(), trips.network.od_destination.tolist(),
                        strict=True), trips.network.od_demand.tolist(), strict=True))
    assert peak[(3, 1)] == 600.0 and peak[(0, 1)] == 400.0


def test_parquet_and_tntp_files_read_the_same(tmp_path: Path, network: RoadNetwork) -> None:
    frame = pd.DataFrame([(p, o, d, v) for (p, o, d), v in ENTRIES.items()],
                         columns=["period", "origin", "destination", "trips_veh_per_h"])
    frame.to_parquet(tmp_path / "trips.parquet")
    from_parquet = read_period_trips(tmp_path / "trips.parquet", network, 3)
    files = [write_tntp(tmp_path / f"p{p}_trips.tntp",
                        {(o, d): v for (q, o, d), v in ENTRIES.items() if q == p})
             for p in range(3)]
    from_tntp = read_period_trips(files, network, 3)
    assert as_dict(from_parquet.network, from_parquet.demand_veh_per_h) == ENTRIES
    assert as_dict(from_tntp.network, from_tntp.demand_veh_per_h) == ENTRIES


def test_intrazonal_trips_are_dropped_and_counted(tmp_path: Path, network: RoadNetwork) -> None:
    rows = {**ENTRIES, (2, 3, 3): 25.0}
    trips = read_period_trips(write_long(tmp_path / "trips.csv", rows), network, 3)
    assert trips.intrazonal_veh_per_h == 25.0
    assert as_dict(trips.network, trips.demand_veh_per_h) == ENTRIES


@pytest.mark.parametrize(("row", "message"), [
    ("3,1,2,5", r"trips\.csv:9: period 3 is outside 0\.\.2 \(periods are numbered from 0\)"),
    ("1,5,2,5", r"trips\.csv:9: origin 5 is not a zone of NguyenDupuis"),
    ("1,1,12,5", r"trips\.csv:9: destination 12 is not a zone"),
    ("1,1,2,-5", r"trips\.csv:9: trips_veh_per_h -5 is negative"),
    ("1,1,2,lots", r"trips\.csv:9: trips_veh_per_h 'lots' is not a finite number"),
    ("1.5,1,2,5", r"trips\.csv:9: period 1\.5 is not an integer"),
    ("0,1,3,5", r"trips\.csv:9: period 0, 1->3 is given twice \(first at line 3\)"),
])
def test_a_bad_row_is_named_by_its_line(tmp_path: Path, network: RoadNetwork, row: str,
                                        message: str) -> None:
    path = write_long(tmp_path / "trips.csv", ENTRIES)
    path.write_text(path.read_text() + row + "\n")
    with pytest.raises(InvalidInputError, match=message):
        read_period_trips(path, network, 3)


def test_bad_tables_as_a_whole(tmp_path: Path, network: RoadNetwork) -> None:
    path = tmp_path / "trips.csv"
    path.write_text("period,origin,dest,trips_veh_per_h\n0,1,2,5\n")
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) destination"):
        read_period_trips(path, network, 1)
    write_long(path, {k: v for k, v in ENTRIES.items() if k[0] != 1})
    with pytest.raises(InvalidInputError, match="no row for period 1"):
        read_period_trips(path, network, 3)
    write_long(path, {**ENTRIES, (1, 2, 3): 50.0})  # node 2 is a destination only
    with pytest.raises(InvalidInputError, match="OD pair 2->3 has demand 50 but no path"):
        read_period_trips(path, network, 3)
    with pytest.raises(InvalidInputError, match=r"2 trips file\(s\) for 3 periods"):
        read_period_trips([tmp_path / "a", tmp_path / "b"], network, 3)
    with pytest.raises(InvalidInputError, match="no such trip table"):
        read_period_trips(tmp_path / "absent.csv", network, 3)
    frame = pd.DataFrame({"period": [0, 0], "origin": [1, 1], "destination": [2, 9],
                          "trips_veh_per_h": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InvalidInputError, match=r"t\.parquet: row 1: destination 9"):
        read_period_trips(tmp_path / "t.parquet", network, 1)


def test_time_unit_sets_the_hours_of_free_flow_times() -> None:
    assert hours_per_time_unit(load_network("nguyen-dupuis")) == pytest.approx(1 / 60)
    assert hours_per_time_unit(load_network("nguyen-dupuis", time_unit="h")) == 1.0
    assert hours_per_time_unit(load_network("nguyen-dupuis", time_unit="s")) == 1 / 3600
    with pytest.raises(InvalidInputError, match="unknown time unit 'days'"):
        load_network("nguyen-dupuis", time_unit="days")

"""Per-period trip matrices: each period's OD demand from data, not one matrix times a profile.

Why this module exists: a TNTP network carries one trip matrix, and a scenario's
``demand_profile`` scales it per period, so the morning peak into the centre and the evening
peak out of it look alike. Transport researchers keep time-sliced matrices (AequilibraE's
per-period OMX matrices, one TNTP ``_trips.tntp`` file per period). :func:`read_period_trips`
reads either

* a long table (CSV or Parquet) with the columns ``period, origin, destination,
  trips_veh_per_h`` — periods numbered from 0 as in the results' CSV files, zones by their
  node labels, one row per (period, origin, destination), absent rows meaning no trips — or
* one TNTP trips file per period, in period order.

The periods' OD pairs replace the network's: the result's network holds the union of the pairs
with trips in any period (trips within a zone are dropped and counted, as the TNTP reader does),
and its ``od_demand`` is each pair's largest rate over the periods. Every problem is an
:class:`~ptn.engines.errors.InvalidInputError` naming the file and line (or row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.tables import read_table
from ptn.engines.traffic.network import FloatArray, IntArray, RoadNetwork, validate_network
from ptn.engines.traffic.tntp import read_tntp_trips

#: the columns of a long trip table
TRIP_COLUMNS = ("period", "origin", "destination", "trips_veh_per_h")


@dataclass(frozen=True)
class PeriodTrips:
    """Each period's OD demand (veh/h) on the pairs of ``network`` (``demand_veh_per_h``:
    periods × pairs, in the order of ``network.od_origin``)."""

    network: RoadNetwork
    demand_veh_per_h: FloatArray
    intrazonal_veh_per_h: float


def read_period_trips(source: str | Path | Sequence[str | Path], network: RoadNetwork,
                      periods: int) -> PeriodTrips:
    """The per-period trips of ``source`` (a long table, or one TNTP trips file per period) on
    ``network``'s zones, over ``periods`` periods."""
    if isinstance(source, (str, Path)):
        period, origin, destination, trips = _read_long_table(Path(source), network, periods)
    else:
        period, origin, destination, trips = _read_tntp_per_period(
            [Path(p) for p in source], network, periods)
    return _on_network(period, origin, destination, trips, network, periods, str(source))


def _zone_labels(network: RoadNetwork) -> IntArray:
    """The labels a trip may start or end at: zones ``1..num_zones`` where nodes are numbered
    ``1..N`` (TNTP's convention), any node's label otherwise."""
    standard = np.array_equal(network.node_ids, np.arange(1, network.num_nodes + 1))
    labels: IntArray = (np.arange(1, network.num_zones + 1, dtype=np.int64) if standard
                        else np.asarray(network.node_ids, dtype=np.int64))
    return labels


def _read_long_table(path: Path, network: RoadNetwork, periods: int
                     ) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """The four columns of a long trip table, each row checked (errors name file and line)."""
    table = read_table(path, "trip table")
    table.require_columns(TRIP_COLUMNS, TRIP_COLUMNS, "a trip table")
    where = table.where
    columns: dict[str, FloatArray] = {name: table.numbers(name) for name in TRIP_COLUMNS}
    for name in TRIP_COLUMNS[:3]:
        table.integers(name)
    period = columns["period"].astype(np.int64)
    outside = np.flatnonzero((period < 0) | (period >= periods))
    if outside.size:
        row = int(outside[0])
        raise InvalidInputError(f"{where(row)}: period {period[row]} is outside 0..{periods - 1} "
                                "(periods are numbered from 0)")
    labels = _zone_labels(network)
    for name in ("origin", "destination"):
        zone = columns[name].astype(np.int64)
        unknown = np.flatnonzero(~np.isin(zone, labels))
        if unknown.size:
            row = int(unknown[0])
            raise InvalidInputError(f"{where(row)}: {name} {zone[row]} is not a zone of "
                                    f"{network.name}")
    trips = columns["trips_veh_per_h"]
    negative = np.flatnonzero(trips < 0)
    if negative.size:
        row = int(negative[0])
        raise InvalidInputError(f"{where(row)}: trips_veh_per_h {trips[row]:g} is negative")
    origin = columns["origin"].astype(np.int64)
    destination = columns["destination"].astype(np.int64)
    repeat = table.first_repeat({"p": period, "o": origin, "d": destination})
    if repeat is not None:
        row, first = repeat
        raise InvalidInputError(f"{where(row)}: period {period[row]}, {origin[row]}->"
                                f"{destination[row]} is given twice (first at "
                                f"{table.place(first)})")
    empty = np.setdiff1d(np.arange(periods), period)
    if empty.size:
        raise InvalidInputError(f"{path}: no row for period {int(empty[0])} (give every period "
                                "at least one row, with 0 trips if it has none)")
    return period, origin, destination, trips


def _read_tntp_per_period(paths: list[Path], network: RoadNetwork, periods: int
                          ) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """The entries of one TNTP trips file per period, stacked with their period."""
    if len(paths) != periods:
        raise InvalidInputError(f"{len(paths)} trips file(s) for {periods} periods: give one "
                                "TNTP trips file per period, in period order")
    standard = np.array_equal(network.node_ids, np.arange(1, network.num_nodes + 1))
    labels = None if standard else {int(v) for v in network.node_ids}
    parts = []
    for period, path in enumerate(paths):
        if not path.is_file():
            raise InvalidInputError(f"{path}: no such trips file (period {period})")
        origin, destination, trips = read_tntp_trips(path, network.num_zones, labels)
        parts.append((np.full(origin.size, period, dtype=np.int64), origin, destination, trips))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))


def _on_network(period: IntArray, origin: IntArray, destination: IntArray, trips: FloatArray,
                network: RoadNetwork, periods: int, source: str) -> PeriodTrips:
    """The entries as a (periods × pairs) matrix on a copy of ``network`` with those pairs."""
    origin_index = np.searchsorted(network.node_ids, origin)
    destination_index = np.searchsorted(network.node_ids, destination)
    intrazonal = origin_index == destination_index
    keep = ~intrazonal & (trips > 0)
    pair_code = origin_index[keep] * network.num_nodes + destination_index[keep]
    pairs, column = np.unique(pair_code, return_inverse=True)
    demand = np.zeros((periods, pairs.size))
    np.add.at(demand, (period[keep], column), trips[keep])
    if not demand.sum() > 0:
        raise InvalidInputError(f"{source}: no trips between zones in any period: there is "
                                "nothing to assign")
    od_origin = (pairs // network.num_nodes).astype(np.int64)
    od_destination = (pairs % network.num_nodes).astype(np.int64)
    timed = replace(network, od_origin=od_origin, od_destination=od_destination,
                    od_demand=demand.max(axis=0),
                    intrazonal_demand=float(trips[intrazonal].sum()))
    validate_network(timed)
    return PeriodTrips(network=timed, demand_veh_per_h=demand,
                       intrazonal_veh_per_h=float(trips[intrazonal].sum()))


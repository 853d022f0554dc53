"""A synthetic city as TNTP files: a street grid of any size, for benchmarks at city scale.

Why this exists: the largest TNTP network with trips (Berlin-Center, 12,981 nodes) has parallel
links, and every tool reads it differently; a generated grid gives a network of any size that
ptn, pytraf and TAP-B all read the same way, reproducible from two numbers and a seed.

How the city is made (all defaults of :func:`write_city_grid`):

* **streets**: ``size`` x ``size`` intersections about 0.25 mile apart, a two-way link between
  every pair of horizontal or vertical neighbours; each block's length is 0.25 mile times a
  factor drawn uniformly from [1 - ``jitter``, 1 + ``jitter``] (0.25 by default). A perfectly
  regular grid has thousands of equally short routes between two zones, a degeneracy no real
  city has and that makes every path-based solver crawl (pytraf needed 203 sweeps for 1e-6 on
  a regular 50 x 50 grid). Every ``arterial_every``-th row and column is an
  arterial (3,600 veh/h, 35 mph); the other streets are local (1,200 veh/h, 25 mph). Free-flow
  time = length / speed (minutes); BPR with B = 0.15, power 4 on every link.
* **zones**: the grid is cut into ``zones_per_side`` x ``zones_per_side`` equal blocks; each
  block has a centroid (nodes 1..Z, ``<FIRST THRU NODE>`` Z + 1, so no route passes through a
  zone) joined both ways to the four intersections around the block's centre by connectors of
  0.1 mile (25 mph, 10,000 veh/h: practically uncongested).
* **demand**: a gravity model: zone weights ``w`` drawn uniformly from [0.5, 1.5] (``seed``),
  trips ``T_ij ∝ w_i w_j exp(-d_ij / (side / 4))`` for ``i != j`` with ``d`` the Euclidean
  distance between block centres and ``side`` the city's width, scaled to ``trips_per_zone``
  trips per origin zone on average (rounded to 1e-4 veh/h in the file).

With the defaults (100 x 100 intersections, 10 x 10 zones, 3,000 trips per zone) that is 10,100
nodes, 40,400 links, 9,900 OD pairs and 300,000 trips.

Run: ``python -m bench.city_grid OUT_DIR [--size 100] [--zones-per-side 10]``; OUT_DIR gets
``CityGrid_net.tntp`` and ``CityGrid_trips.tntp``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK_MILES = 0.25
CONNECTOR_MILES = 0.1
BPR_B = 0.15
BPR_POWER = 4.0


@dataclass(frozen=True)
class CityGrid:
    """What :func:`write_city_grid` wrote."""

    directory: Path
    num_nodes: int
    num_links: int
    num_zones: int
    num_od_pairs: int
    total_trips: float


def _street_links(
    size: int, zones: int, arterial_every: int, jitter: float, rng: np.random.Generator
) -> list[tuple[float, ...]]:
    """(tail, head, capacity, length, fftt, b, power, speed, toll, type) of every street."""
    rows: list[tuple[float, ...]] = []

    def node(row: int, column: int) -> int:
        return zones + 1 + row * size + column

    for row in range(size):
        for column in range(size):
            for d_row, d_column in ((0, 1), (1, 0)):
                other_row, other_column = row + d_row, column + d_column
                if other_row >= size or other_column >= size:
                    continue
                line = row if d_row == 0 else column  # the street this link runs along
                arterial = line % arterial_every == 0
                capacity, mph = (3600.0, 35.0) if arterial else (1200.0, 25.0)
                miles = BLOCK_MILES * rng.uniform(1.0 - jitter, 1.0 + jitter)
                minutes = miles / mph * 60.0
                a, b = node(row, column), node(other_row, other_column)
                for tail, head in ((a, b), (b, a)):
                    rows.append((tail, head, capacity, miles, minutes, BPR_B, BPR_POWER,
                                 mph, 0.0, 1.0 if arterial else 2.0))
    return rows


def _connectors(size: int, zones_per_side: int) -> list[tuple[float, ...]]:
    """Both directions between each centroid and the 4 intersections around its block centre."""
    rows: list[tuple[float, ...]] = []
    block = size / zones_per_side
    zones = zones_per_side * zones_per_side
    minutes = CONNECTOR_MILES / 25.0 * 60.0
    for zone_row in range(zones_per_side):
        for zone_column in range(zones_per_side):
            centroid = 1 + zone_row * zones_per_side + zone_column
            centre_row = int((zone_row + 0.5) * block)
            centre_column = int((zone_column + 0.5) * block)
            around = ((centre_row - 1, centre_column - 1), (centre_row - 1, centre_column),
                      (centre_row, centre_column - 1), (centre_row, centre_column))
            for row, column in around:
                node = zones + 1 + row * size + column
                for tail, head in ((centroid, node), (node, centroid)):
                    rows.append((tail, head, 10000.0, CONNECTOR_MILES, minutes, BPR_B, BPR_POWER,
                                 25.0, 0.0, 3.0))
    return rows


def gravity_demand(zones_per_side: int, trips_per_zone: float, seed: int) -> np.ndarray:
    """Zone x zone trips (zero diagonal) of the gravity model in the module docstring."""
    zones = zones_per_side * zones_per_side
    weight = np.random.default_rng(seed).uniform(0.5, 1.5, zones)
    centre = (np.indices((zones_per_side, zones_per_side)).reshape(2, -1).T + 0.5)
    distance = np.linalg.norm(centre[:, None, :] - centre[None, :, :], axis=2)
    trips = np.outer(weight, weight) * np.exp(-distance / (zones_per_side / 4.0))
    np.fill_diagonal(trips, 0.0)
    trips *= trips_per_zone * zones / trips.sum()
    return np.round(trips, 4)


def write_city_grid(
    directory: Path,
    *,
    size: int = 100,
    zones_per_side: int = 10,
    arterial_every: int = 5,
    trips_per_zone: float = 3000.0,
    jitter: float = 0.25,
    seed: int = 16,
    name: str = "CityGrid",
) -> CityGrid:
    """Write ``<name>_net.tntp`` and ``<name>_trips.tntp`` of the city into ``directory``."""
    if size < 2 or not 1 <= zones_per_side <= size // 2:
        raise ValueError(f"need size >= 2 and 1 <= zones_per_side <= size / 2, got {size}, "
                         f"{zones_per_side}")
    directory.mkdir(parents=True, exist_ok=True)
    zones = zones_per_side * zones_per_side
    rng = np.random.default_rng(seed + 1)
    links = (_connectors(size, zones_per_side)
             + _street_links(size, zones, arterial_every, jitter, rng))
    num_nodes = zones + size * size
    header = (f"<NUMBER OF ZONES> {zones}\n<NUMBER OF NODES> {num_nodes}\n"
              f"<FIRST THRU NODE> {zones + 1}\n<NUMBER OF LINKS> {len(links)}\n"
              "<END OF METADATA>\n\n\n~\tinit_node\tterm_node\tcapacity\tlength\t"
              "free_flow_time\tb\tpower\tspeed\ttoll\tlink_type\t;\n")
    body = "".join(
        f"\t{int(t)}\t{int(h)}\t{c:g}\t{length:g}\t{fftt:.10g}\t{b:g}\t{p:g}\t{s:g}\t{toll:g}"
        f"\t{int(kind)}\t;\n" for t, h, c, length, fftt, b, p, s, toll, kind in links)
    (directory / f"{name}_net.tntp").write_text(header + body, encoding="ascii")

    trips = gravity_demand(zones_per_side, trips_per_zone, seed)
    total = float(trips.sum())
    lines = [f"<NUMBER OF ZONES> {zones}\n<TOTAL OD FLOW> {total:.4f}\n<END OF METADATA>\n\n"]
    for origin in range(zones):
        lines.append(f"Origin \t{origin + 1}\n")
        entries = [f"{destination + 1} : {trips[origin, destination]:.4f};"
                   for destination in np.flatnonzero(trips[origin] > 0)]
        for start in range(0, len(entries), 5):
            lines.append("    " + "\t".join(entries[start:start + 5]) + "\n")
        lines.append("\n")
    (directory / f"{name}_trips.tntp").write_text("".join(lines), encoding="ascii")
    return CityGrid(directory, num_nodes, len(links), zones, int(np.count_nonzero(trips)), total)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city_grid",
                                     description="Write a synthetic city grid as TNTP files.")
    parser.add_argument("out", type=Path, help="directory to write the TNTP files into")
    parser.add_argument("--size", type=int, default=100, help="intersections per side")
    parser.add_argument("--zones-per-side", type=int, default=10, help="zones per side")
    parser.add_argument("--trips-per-zone", type=float, default=3000.0,
                        help="mean trips (veh/h) per origin zone")
    parser.add_argument("--seed", type=int, default=16)
    arguments = parser.parse_args(argv)
    grid = write_city_grid(arguments.out, size=arguments.size,
                           zones_per_side=arguments.zones_per_side,
                           trips_per_zone=arguments.trips_per_zone, seed=arguments.seed)
    print(f"{grid.directory}: {grid.num_nodes} nodes, {grid.num_links} links, {grid.num_zones} "
          f"zones, {grid.num_od_pairs} OD pairs, {grid.total_trips:,.1f} trips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Independent reference computations for the charging and multi-period tests.

Nothing here uses the code under test: link costs are written out from MODELS.md §1 (BPR on
road links with minutes converted to hours, Davidson on charging links, value of time 10 $/h),
EV paths are enumerated by depth-first search on the raw road links (road path to a station,
charge, road path to the destination), and path flows are read straight from the solver's
``PathState`` arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.path_based import PathState

VALUE_OF_TIME_PER_H = 10.0
ENERGY_PER_CHARGE_MWH = 0.045


def road_costs_usd(network: RoadNetwork, flow: np.ndarray) -> np.ndarray:
    """BPR generalized cost in $ of each road link (free-flow times in minutes)."""
    t0_h = network.free_flow_time / 60.0
    time_h = t0_h * (1.0 + network.b * (flow / network.capacity) ** network.power)
    return VALUE_OF_TIME_PER_H * time_h


def station_costs_usd(
    flow: np.ndarray, capacity: np.ndarray, charging_time_h: np.ndarray, j: np.ndarray,
    price_per_mwh: np.ndarray,
) -> np.ndarray:
    """Davidson delay (pure form; callers keep flows below 0.95 capacity) plus the charge."""
    assert np.all(flow < 0.95 * capacity), "oracle only covers the pure Davidson range"
    delay_h = charging_time_h * (1.0 + j * flow / (capacity - flow))
    return VALUE_OF_TIME_PER_H * delay_h + price_per_mwh * ENERGY_PER_CHARGE_MWH


def simple_road_paths(network: RoadNetwork, origin: int, destination: int) -> list[list[int]]:
    """All simple paths (as link id lists) between two node positions, by DFS."""
    out_links: dict[int, list[int]] = {}
    for link, tail in enumerate(network.link_tail):
        out_links.setdefault(int(tail), []).append(link)
    paths: list[list[int]] = []

    def walk(node: int, visited: set[int], links: list[int]) -> None:
        if node == destination:
            paths.append(list(links))
            return
        for link in out_links.get(node, []):
            head = int(network.link_head[link])
            if head not in visited:
                visited.add(head)
                links.append(link)
                walk(head, visited, links)
                links.pop()
                visited.remove(head)

    if origin == destination:
        return [[]]
    walk(origin, {origin}, [])
    return paths


def ev_paths(
    network: RoadNetwork, station_nodes: list[int], origin: int, destination: int
) -> Iterator[tuple[int, list[int]]]:
    """(station index, road links) of every EV path: simple road path o->n, charge, n->d."""
    for s, node in enumerate(station_nodes):
        for first in simple_road_paths(network, origin, node):
            for second in simple_road_paths(network, node, destination):
                yield s, first + second


def live_paths(state: PathState) -> list[tuple[int, list[int], float]]:
    """(problem OD index, physical link ids, flow) of every path the state's OD chains hold."""
    out = []
    for od in range(state.od_head.size):
        path = int(state.od_head[od])
        while path >= 0:
            begin = int(state.start[path])
            links = [int(v) for v in state.links[begin : begin + int(state.length[path])]]
            out.append((int(state.od_key[od]), links, float(state.flow[path])))
            path = int(state.next[path])
    return out

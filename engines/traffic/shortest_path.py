"""One-to-all shortest paths (Dijkstra with a binary heap), compiled with numba.

Respects TNTP's zone rule: a node flagged ``no_through`` is a path's end or start, never an
intermediate node. Arc costs are read through ``arc_link`` from the link cost vector, so the same
kernel serves every class graph. Shared by all assignment algorithms.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ptn.engines.traffic.graph import CompiledGraph
from ptn.engines.traffic.network import FloatArray


@nb.njit(cache=True)
def dijkstra(origin, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc, heap_node, heap_key):  # type: ignore[no-untyped-def]  # noqa: E501
    """Fill ``dist`` and ``pred_arc`` (−1 at the root / unreached) from ``origin``.

    ``heap_node``/``heap_key`` are scratch arrays of length >= number of arcs + 1.
    """
    n = dist.size
    for i in range(n):
        dist[i] = np.inf
        pred_arc[i] = -1
    dist[origin] = 0.0
    size = 0
    heap_node[0] = origin
    heap_key[0] = 0.0
    size = 1
    while size > 0:
        node = heap_node[0]
        key = heap_key[0]
        size -= 1
        if size > 0:
            # move last to root and sift down
            last_node = heap_node[size]
            last_key = heap_key[size]
            i = 0
            while True:
                child = 2 * i + 1
                if child >= size:
                    break
                if child + 1 < size and heap_key[child + 1] < heap_key[child]:
                    child += 1
                if heap_key[child] < last_key:
                    heap_node[i] = heap_node[child]
                    heap_key[i] = heap_key[child]
                    i = child
                else:
                    break
            heap_node[i] = last_node
            heap_key[i] = last_key
        if key > dist[node]:
            continue
        if node != origin and no_through[node]:
            continue
        for arc in range(first_arc[node], first_arc[node + 1]):
            head = arc_head[arc]
            candidate = key + link_cost[arc_link[arc]]
            if candidate < dist[head]:
                dist[head] = candidate
                pred_arc[head] = arc
                # push and sift up
                i = size
                size += 1
                while i > 0:
                    parent = (i - 1) // 2
                    if heap_key[parent] > candidate:
                        heap_node[i] = heap_node[parent]
                        heap_key[i] = heap_key[parent]
                        i = parent
                    else:
                        break
                heap_node[i] = head
                heap_key[i] = candidate


@nb.njit(cache=True, inline="always")
def trace_path_links(origin, destination, pred_arc, arc_tail, arc_link, buffer):  # type: ignore[no-untyped-def]
    """Write the links of the tree path origin -> destination into ``buffer``, from the
    destination backwards; return how many there are."""
    node = destination
    size = 0
    while node != origin:
        arc = pred_arc[node]
        buffer[size] = arc_link[arc]
        size += 1
        node = arc_tail[arc]
    return size


@nb.njit(cache=True)
def shortest_path_total(first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost):  # type: ignore[no-untyped-def]  # noqa: E501
    """Sum over OD pairs of demand x shortest-path cost (SPTT), and each OD's cost."""
    n = first_arc.size - 1
    dist = np.empty(n)
    pred_arc = np.empty(n, dtype=np.int64)
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    od_cost = np.empty(od_destination.size)
    total = 0.0
    for k in range(origins.size):
        dijkstra(origins[k], first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc, heap_node, heap_key)  # noqa: E501
        for od in range(origin_first_od[k], origin_first_od[k + 1]):
            od_cost[od] = dist[od_destination[od]]
            total += od_demand[od] * dist[od_destination[od]]
    return total, od_cost


def shortest_path_costs(graph: CompiledGraph, link_cost: FloatArray) -> tuple[float, FloatArray]:
    """SPTT and per-OD shortest-path cost (in the graph's sorted OD order) at ``link_cost``."""
    total, od_cost = shortest_path_total(
        graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through, graph.origins,
        graph.origin_first_od, graph.od_destination, graph.od_demand,
        np.ascontiguousarray(link_cost, dtype=np.float64),
    )
    return float(total), od_cost

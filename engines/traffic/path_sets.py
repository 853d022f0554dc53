"""Explicit route sets for path-based assignment models (logit SUE needs its routes listed).

A :class:`PathSet` lists, for every OD pair of a compiled problem with positive demand, the
routes a model may load, each as its sequence of *links* (origin to destination; a link may occur
twice on a route of a multi-layer class graph). Two ways to build one:

* :func:`enumerate_paths`: every acyclic route of every OD pair (acyclic in the class graph's
  nodes, honouring TNTP's no-through zones), by depth-first search pruned to nodes that can still
  reach the destination. Exact for small networks such as Nguyen–Dupuis; gives up (returns
  ``None``) as soon as an OD pair has more than ``max_paths_per_od`` routes or the search exceeds
  its work budget, since on real networks the number of acyclic routes explodes.
* :func:`shortest_path_columns` plus :meth:`PathSet.with_paths`: column generation, the usual
  route-set construction on larger networks, which adds each OD's current shortest route.

Routes are kept grouped by OD pair (contiguous), so per-OD reductions are segment operations.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numba as nb
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.shortest_path import dijkstra, trace_path_links

DEFAULT_MAX_PATHS_PER_OD = 100
DEFAULT_ENUMERATION_BUDGET = 2_000_000


@dataclass(frozen=True)
class PathSet:
    """Routes of every OD pair, grouped by OD.

    OD ``i`` (graph OD order: positive-demand pairs sorted by origin) is the problem's OD
    ``od_key[i]`` (index into the classes' concatenated OD lists) and owns routes
    ``od_first[i] .. od_first[i + 1]``; route ``p`` uses links
    ``path_links[path_first[p] : path_first[p + 1]]``.
    """

    od_key: IntArray
    od_first: IntArray
    path_first: IntArray
    path_links: IntArray

    @property
    def num_ods(self) -> int:
        return int(self.od_key.size)

    @property
    def num_paths(self) -> int:
        return int(self.path_first.size - 1)

    @property
    def paths_per_od(self) -> IntArray:
        return np.diff(self.od_first)

    @property
    def path_od(self) -> IntArray:
        """OD (graph order) of every route."""
        return np.repeat(np.arange(self.num_ods, dtype=np.int64), self.paths_per_od)

    def links_of(self, path: int) -> tuple[int, ...]:
        """Links of route ``path`` from origin to destination."""
        begin, end = int(self.path_first[path]), int(self.path_first[path + 1])
        return tuple(int(a) for a in self.path_links[begin:end])

    def incidence_counts(self, num_links: int) -> IntArray:
        """Number of routes through each link (a link used twice by one route counts twice)."""
        return np.bincount(self.path_links, minlength=num_links).astype(np.int64)

    def with_paths(
        self, new_od: IntArray, new_first: IntArray, new_links: IntArray
    ) -> tuple[PathSet, IntArray]:
        """This set plus new routes; also the position of every route of the result.

        New route ``j`` belongs to OD ``new_od[j]`` and has links
        ``new_links[new_first[j] : new_first[j + 1]]``. Returns the merged set and ``order``:
        route ``r`` of the merged set is route ``order[r]`` of ``concat(old routes, new routes)``,
        so per-route data follows as ``np.concatenate((old, added))[order]``.
        """
        if new_od.size == 0:
            return self, np.arange(self.num_paths, dtype=np.int64)
        all_od = np.concatenate((self.path_od, new_od.astype(np.int64)))
        order = np.argsort(all_od, kind="stable").astype(np.int64)
        old_len = np.diff(self.path_first)
        add_len = np.diff(new_first)
        lengths = np.concatenate((old_len, add_len))
        starts = np.concatenate((self.path_first[:-1], self.path_links.size + new_first[:-1]))
        pool = np.concatenate((self.path_links, new_links.astype(np.int64)))
        lengths_sorted = lengths[order]
        first = np.concatenate(([0], np.cumsum(lengths_sorted))).astype(np.int64)
        gather = np.repeat(starts[order] - first[:-1], lengths_sorted) + np.arange(first[-1])
        od_counts = np.bincount(all_od, minlength=self.num_ods)
        merged = PathSet(
            od_key=self.od_key,
            od_first=np.concatenate(([0], np.cumsum(od_counts))).astype(np.int64),
            path_first=first,
            path_links=pool[gather].astype(np.int64),
        )
        return merged, order

    def select_ods(self, ods: IntArray) -> PathSet:
        """The routes of graph ODs ``ods`` only, in that order (a re-keyed subset)."""
        paths = self.paths_of_ods(ods)
        lengths = np.diff(self.path_first)[paths]
        first = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        gather = np.repeat(self.path_first[paths] - first[:-1], lengths) + np.arange(first[-1])
        counts = np.diff(self.od_first)[ods]
        return PathSet(
            od_key=self.od_key[ods],
            od_first=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            path_first=first,
            path_links=self.path_links[gather].astype(np.int64),
        )

    def paths_of_ods(self, ods: IntArray) -> IntArray:
        """Indices of the routes of graph ODs ``ods``, OD by OD."""
        counts = np.diff(self.od_first)[ods]
        before = (np.cumsum(counts) - counts).astype(np.int64)
        return (np.repeat(self.od_first[ods] - before, counts)
                + np.arange(int(counts.sum()))).astype(np.int64)


def empty_path_set(od_key: IntArray) -> PathSet:
    """A set with the given OD pairs and no routes yet (to fill with :meth:`PathSet.with_paths`)."""
    return PathSet(
        od_key=np.asarray(od_key, dtype=np.int64).copy(),
        od_first=np.zeros(od_key.size + 1, dtype=np.int64),
        path_first=np.zeros(1, dtype=np.int64),
        path_links=np.empty(0, dtype=np.int64),
    )


def path_set_from_lists(od_key: IntArray, routes: list[list[list[int]]]) -> PathSet:
    """A path set from per-OD lists of link sequences (``routes[i]`` for OD ``od_key[i]``)."""
    counts = [len(od_routes) for od_routes in routes]
    lengths = [len(route) for od_routes in routes for route in od_routes]
    flat = [link for od_routes in routes for route in od_routes for link in route]
    return PathSet(
        od_key=np.asarray(od_key, dtype=np.int64),
        od_first=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))).astype(np.int64),
        path_first=np.concatenate(([0], np.cumsum(lengths, dtype=np.int64))).astype(np.int64),
        path_links=np.asarray(flat, dtype=np.int64),
    )


def _reverse_star(graph: CompiledGraph) -> tuple[list[int], list[int]]:
    order = np.argsort(graph.arc_head, kind="stable")
    first = np.searchsorted(graph.arc_head[order], np.arange(graph.num_nodes + 1))
    return [int(v) for v in first], [int(graph.arc_tail[a]) for a in order]


def _reaching(
    destination: int, rev_first: list[int], rev_tail: list[int], no_through: list[bool]
) -> list[bool]:
    """Nodes from which a route may continue to ``destination`` (never through no-through)."""
    reach = [False] * (len(rev_first) - 1)
    reach[destination] = True
    queue = deque([destination])
    while queue:
        node = queue.popleft()
        for position in range(rev_first[node], rev_first[node + 1]):
            tail = rev_tail[position]
            if not reach[tail] and not no_through[tail]:
                reach[tail] = True
                queue.append(tail)
    return reach


def enumerate_graph_paths(
    graph: CompiledGraph,
    max_paths_per_od: int = DEFAULT_MAX_PATHS_PER_OD,
    budget: int = DEFAULT_ENUMERATION_BUDGET,
) -> PathSet | None:
    """All acyclic routes of every OD pair of ``graph``; ``None`` beyond the cap or budget.

    Raises :class:`InvalidInputError` when an OD pair with demand has no route at all.
    """
    first_arc = [int(v) for v in graph.first_arc]
    arc_head = [int(v) for v in graph.arc_head]
    arc_link = [int(v) for v in graph.arc_link]
    no_through = [bool(v) for v in graph.no_through]
    rev_first, rev_tail = _reverse_star(graph)
    reach_cache: dict[int, list[bool]] = {}
    work = 0
    routes: list[list[list[int]]] = []
    for k in range(graph.origins.size):
        origin = int(graph.origins[k])
        for od in range(int(graph.origin_first_od[k]), int(graph.origin_first_od[k + 1])):
            destination = int(graph.od_destination[od])
            reach = reach_cache.get(destination)
            if reach is None:
                reach = _reaching(destination, rev_first, rev_tail, no_through)
                reach_cache[destination] = reach
            found: list[list[int]] = []
            seen: set[tuple[int, ...]] = set()
            on_path = [False] * graph.num_nodes
            on_path[origin] = True
            stack_node = [origin]
            stack_pos = [first_arc[origin]]
            arcs: list[int] = []
            while stack_node:
                node = stack_node[-1]
                position = stack_pos[-1]
                if position >= first_arc[node + 1] or (node != origin and no_through[node]):
                    stack_node.pop()
                    stack_pos.pop()
                    on_path[node] = False
                    if arcs:
                        arcs.pop()
                    continue
                stack_pos[-1] = position + 1
                work += 1
                if work > budget:
                    return None
                head = arc_head[position]
                if on_path[head] or not reach[head]:
                    continue
                if head == destination:
                    route = (*(arc_link[a] for a in arcs), arc_link[position])
                    if route not in seen:
                        seen.add(route)
                        found.append(list(route))
                        if len(found) > max_paths_per_od:
                            return None
                    continue
                on_path[head] = True
                stack_node.append(head)
                stack_pos.append(first_arc[head])
                arcs.append(position)
            if not found:
                raise InvalidInputError(_no_route_message(graph, od))
            routes.append(found)
    return path_set_from_lists(graph.od_order, routes)


def enumerate_paths(
    problem: AssignmentProblem,
    max_paths_per_od: int = DEFAULT_MAX_PATHS_PER_OD,
    budget: int = DEFAULT_ENUMERATION_BUDGET,
) -> PathSet | None:
    """All acyclic routes of every positive-demand OD pair of ``problem`` (``None``: too many)."""
    return enumerate_graph_paths(compile_graph(problem), max_paths_per_od, budget)


def _no_route_message(graph: CompiledGraph, od: int) -> str:
    return (
        f"OD pair {int(graph.od_order[od])} (stacked nodes {_origin_of(graph, od)}->"
        f"{int(graph.od_destination[od])}) has demand {graph.od_demand[od]:g} but no route"
    )


def _origin_of(graph: CompiledGraph, od: int) -> int:
    k = int(np.searchsorted(graph.origin_first_od, od, side="right") - 1)
    return int(graph.origins[k])


@nb.njit(cache=True)
def _shortest_routes(first_arc, arc_tail, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, link_cost):  # type: ignore[no-untyped-def]  # noqa: E501
    """Each OD's shortest route at ``link_cost``: per-OD lengths (−1: unreachable) and links."""
    n = first_arc.size - 1
    num_ods = od_destination.size
    dist = np.empty(n)
    pred_arc = np.empty(n, dtype=np.int64)
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    lengths = np.empty(num_ods, dtype=np.int64)
    capacity = max(16, num_ods * 8)
    links = np.empty(capacity, dtype=np.int64)
    used = 0
    buffer = np.empty(n + 1, dtype=np.int64)
    for k in range(origins.size):
        origin = origins[k]
        dijkstra(origin, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc, heap_node, heap_key)  # noqa: E501
        for od in range(origin_first_od[k], origin_first_od[k + 1]):
            node = od_destination[od]
            if not np.isfinite(dist[node]) or node == origin:
                lengths[od] = -1
                continue
            size = trace_path_links(origin, node, pred_arc, arc_tail, arc_link, buffer)
            if used + size > links.size:
                grown = np.empty(max(2 * links.size, used + size), dtype=np.int64)
                grown[:used] = links[:used]
                links = grown
            for i in range(size):
                links[used + i] = buffer[size - 1 - i]
            used += size
            lengths[od] = size
    return lengths, links[:used]


@nb.njit(cache=True)
def _unknown_routes(od_first, path_first, path_links, lengths, links):  # type: ignore[no-untyped-def]
    """Which candidate routes (one per OD, ``lengths[od]`` links, −1: none) are not yet known."""
    num_ods = lengths.size
    fresh = np.zeros(num_ods, dtype=np.bool_)
    offset = 0
    for od in range(num_ods):
        size = lengths[od]
        if size < 0:
            continue
        known = False
        for p in range(od_first[od], od_first[od + 1]):
            if path_first[p + 1] - path_first[p] != size:
                continue
            same = True
            begin = path_first[p]
            for i in range(size):
                if path_links[begin + i] != links[offset + i]:
                    same = False
                    break
            if same:
                known = True
                break
        fresh[od] = not known
        offset += size
    return fresh


def shortest_path_columns(
    graph: CompiledGraph, link_cost: FloatArray, paths: PathSet | None = None
) -> tuple[IntArray, IntArray, IntArray]:
    """Each OD's shortest route at ``link_cost`` that ``paths`` does not hold yet.

    Returns ``(od, first, links)`` in the format of :meth:`PathSet.with_paths`. Raises
    :class:`InvalidInputError` for an OD pair with demand and no route.
    """
    lengths, links = _shortest_routes(
        graph.first_arc, graph.arc_tail, graph.arc_head, graph.arc_link, graph.no_through,
        graph.origins, graph.origin_first_od, graph.od_destination,
        np.ascontiguousarray(link_cost, dtype=np.float64),
    )
    missing = np.flatnonzero(lengths < 0)
    if missing.size:
        raise InvalidInputError(_no_route_message(graph, int(missing[0])))
    if paths is None:
        fresh = np.ones(lengths.size, dtype=np.bool_)
    else:
        fresh = _unknown_routes(paths.od_first, paths.path_first, paths.path_links, lengths, links)
    first_all = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    ods = np.flatnonzero(fresh).astype(np.int64)
    sizes = lengths[ods]
    first = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    gather = np.repeat(first_all[ods] - first[:-1], sizes) + np.arange(first[-1])
    return ods, first, links[gather].astype(np.int64)


def shortest_path_set(graph: CompiledGraph, link_cost: FloatArray) -> PathSet:
    """One route per OD pair: its shortest at ``link_cost`` (the start of column generation)."""
    ods, first, links = shortest_path_columns(graph, link_cost)
    return PathSet(
        od_key=graph.od_order.copy(),
        od_first=np.arange(ods.size + 1, dtype=np.int64),
        path_first=first,
        path_links=links,
    )

"""One-to-all shortest paths (Dijkstra with a binary heap), compiled with numba, on all cores.

Respects TNTP's zone rule: a node flagged ``no_through`` is a path's end or start, never an
intermediate node. Arc costs are read through ``arc_link`` from the link cost vector, so the same
kernel serves every class graph. Shared by all assignment algorithms.

Why the parallel kernels look the way they do. Shortest-path trees of different origins are
independent, so they run in parallel (numba ``prange``) over origins, in chunks that each own
their scratch arrays. Three rules keep the results independent of the number of threads:

* every origin's tree is computed by the same sequential Dijkstra, whichever thread runs it;
* sums over origins (SPTT) are formed per origin, then added in origin order;
* consumers that need trees in order (all-or-nothing loading, the path-based sweep) get them in
  batches of :data:`TREE_BATCH` origins, a constant, not a multiple of the thread count.

So one thread and eight threads give bit-identical flows. The chunk count is an argument (the
caller passes :func:`parallel_chunks`): a jitted function that calls ``numba.get_num_threads``
cannot be cached, and the on-disk cache is what keeps ``ptn assign``'s start-up short.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ptn.engines.traffic.graph import CompiledGraph
from ptn.engines.traffic.network import FloatArray

#: origins whose trees one parallel pass computes for a consumer that uses them in origin order
#: (a constant, so that results do not depend on the number of threads)
TREE_BATCH = 64

#: chunks of origins per thread: more than one, so that a thread that drew cheap origins picks
#: up more work (numba's workqueue layer hands each thread a contiguous range of chunks)
CHUNKS_PER_THREAD = 4

#: below this much work (origins x (nodes + arcs), or path-link entries) a kernel runs on the
#: calling thread: launching a parallel region costs microseconds on an idle machine but a
#: scheduler time slice (milliseconds) whenever the cores are shared, which made a whole Sioux
#: Falls solve 50x slower in parallel than sequentially on a loaded machine
PARALLEL_MIN_WORK = 200_000


def parallel_chunks(num_items: int, work: float = float("inf")) -> int:
    """How many chunks a parallel kernel splits ``num_items`` items into: 1 (run on the calling
    thread) with one thread or less than :data:`PARALLEL_MIN_WORK` of ``work``."""
    threads = nb.get_num_threads()
    if threads == 1 or work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(num_items, CHUNKS_PER_THREAD * threads))


def forest_work(graph: CompiledGraph, num_origins: int) -> float:
    """The work of ``num_origins`` shortest-path trees, for :func:`parallel_chunks`."""
    return float(num_origins) * (graph.num_nodes + graph.arc_head.size)


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
def shortest_path_trees(first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc, chunks):  # type: ignore[no-untyped-def]  # noqa: E501
    """Trees of ``origins[first_origin:]`` (as many as ``dist`` has rows) in parallel.

    Row ``r`` of ``dist``/``pred_arc`` gets the tree of ``origins[first_origin + r]``. Returns
    how many rows were filled. With one chunk they are computed on the calling thread.
    """
    count = min(dist.shape[0], origins.size - first_origin)
    used = max(1, min(chunks, count))
    if used == 1:
        _trees_chunk(0, 1, count, first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc)  # noqa: E501
    else:
        _trees_parallel(used, count, first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc)  # noqa: E501
    return count


@nb.njit(cache=True, parallel=True)
def _trees_parallel(used, count, first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc):  # type: ignore[no-untyped-def]  # noqa: E501
    """The parallel loop alone (a parallel function turns array allocations into parallel
    launches too, so the allocating callers are not parallel)."""
    for chunk in nb.prange(used):
        _trees_chunk(chunk, used, count, first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc)  # noqa: E501


@nb.njit(cache=True)
def _trees_chunk(chunk, used, count, first_origin, origins, first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc):  # type: ignore[no-untyped-def]  # noqa: E501
    """Rows ``chunk, chunk + used, ...`` of :func:`shortest_path_trees`."""
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    for row in range(chunk, count, used):
        dijkstra(origins[first_origin + row], first_arc, arc_head, arc_link, no_through, link_cost, dist[row], pred_arc[row], heap_node, heap_key)  # noqa: E501


@nb.njit(cache=True, inline="always")
def _origin_od_costs(k, dist, origin_first_od, od_destination, od_demand, od_cost, origin_total):  # type: ignore[no-untyped-def]
    """Origin ``k``'s OD costs from its tree's ``dist`` into ``od_cost``, and its share of the
    SPTT (demand x cost) into ``origin_total[k]``."""
    subtotal = 0.0
    for od in range(origin_first_od[k], origin_first_od[k + 1]):
        od_cost[od] = dist[od_destination[od]]
        subtotal += od_demand[od] * dist[od_destination[od]]
    origin_total[k] = subtotal


@nb.njit(cache=True, inline="always")
def _in_order(origin_total):  # type: ignore[no-untyped-def]
    """The per-origin subtotals added in origin order (a total independent of the threads)."""
    total = 0.0
    for k in range(origin_total.size):
        total += origin_total[k]
    return total


@nb.njit(cache=True)
def _forest_chunk(chunk, used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total):  # type: ignore[no-untyped-def]  # noqa: E501
    """Origins ``chunk, chunk + used, ...`` of :func:`shortest_path_forest`."""
    n = first_arc.size - 1
    dist = np.empty(n)
    scratch = np.empty(n, dtype=np.int32)
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    for k in range(chunk, origins.size, used):
        pred_arc = forest[k] if store else scratch
        dijkstra(origins[k], first_arc, arc_head, arc_link, no_through, link_cost, dist, pred_arc, heap_node, heap_key)  # noqa: E501
        _origin_od_costs(k, dist, origin_first_od, od_destination, od_demand, od_cost, origin_total)


@nb.njit(cache=True, parallel=True)
def _forest_parallel(used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total):  # type: ignore[no-untyped-def]  # noqa: E501
    """The parallel loop of :func:`shortest_path_forest` alone."""
    for chunk in nb.prange(used):
        _forest_chunk(chunk, used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total)  # noqa: E501


@nb.njit(cache=True)
def shortest_path_forest(first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, chunks):  # type: ignore[no-untyped-def]  # noqa: E501
    """SPTT (sum over OD pairs of demand x shortest-path cost) and each OD's cost, in parallel.

    With ``store``, row ``k`` of ``forest`` (int32, origins x nodes) keeps origin ``k``'s tree
    (predecessor arcs) for a consumer that reuses it. The per-origin subtotals are added in
    origin order, so the total does not depend on the number of threads.
    """
    od_cost = np.empty(od_destination.size)
    origin_total = np.zeros(origins.size)
    used = max(1, min(chunks, origins.size))
    if used == 1:
        _forest_chunk(0, 1, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total)  # noqa: E501
    else:
        _forest_parallel(used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total)  # noqa: E501
    return _in_order(origin_total), od_cost


@nb.njit(cache=True)
def _fan_chunk(chunk, used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots):  # type: ignore[no-untyped-def]  # noqa: E501
    """Groups ``chunk, chunk + used, ...`` of :func:`fan_out_forest`: each root's tree once,
    then each origin's tree assembled from its roots' (:mod:`ptn.engines.traffic.fan_out`)."""
    n = first_arc.size - 1
    root_dist = np.empty((max(1, max_roots), n))
    root_pred = np.empty((max(1, max_roots), n), dtype=np.int32)
    dist = np.empty(n)
    scratch = np.empty(n, dtype=np.int32)
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    for group in range(chunk, group_root_first.size - 1, used):
        first_root = group_root_first[group]
        for i in range(group_root_first[group + 1] - first_root):
            dijkstra(group_roots[first_root + i], first_arc, arc_head, arc_link, no_through, link_cost, root_dist[i], root_pred[i], heap_node, heap_key)  # noqa: E501
        for j in range(group_origin_first[group], group_origin_first[group + 1]):
            k = group_origins[j]
            origin = origins[k]
            pred_arc = forest[k] if store else scratch
            for v in range(n):
                dist[v] = np.inf
                pred_arc[v] = -1
            dist[origin] = 0.0
            for arc in range(first_arc[origin], first_arc[origin + 1]):
                i = arc_root[arc]
                shift = link_cost[arc_link[arc]]
                block = root_block[first_root + i]
                for q in range(block_first[block], block_first[block + 1]):
                    v = block_nodes[q]
                    dist[v] = shift + root_dist[i, v]
                    pred_arc[v] = root_pred[i, v]
                pred_arc[group_roots[first_root + i]] = arc
                for q in range(block_dead_first[block], block_dead_first[block + 1]):
                    v = block_dead_ends[q]
                    candidate = shift + root_dist[i, v]
                    if candidate < dist[v]:
                        dist[v] = candidate
                        pred_arc[v] = root_pred[i, v]
            _origin_od_costs(k, dist, origin_first_od, od_destination, od_demand, od_cost, origin_total)  # noqa: E501


@nb.njit(cache=True, parallel=True)
def _fan_parallel(used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots):  # type: ignore[no-untyped-def]  # noqa: E501
    """The parallel loop of :func:`fan_out_forest` alone."""
    for chunk in nb.prange(used):
        _fan_chunk(chunk, used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots)  # noqa: E501


@nb.njit(cache=True)
def fan_out_forest(first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, chunks, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots):  # type: ignore[no-untyped-def]  # noqa: E501
    """:func:`shortest_path_forest` on a graph with a fan-out structure: one tree per root
    (period copy of an origin) instead of a search from every origin over all its copies; the
    same distances, each origin's tree assembled from its roots'."""
    od_cost = np.empty(od_destination.size)
    origin_total = np.zeros(origins.size)
    used = max(1, min(chunks, group_root_first.size - 1))
    if used == 1:
        _fan_chunk(0, 1, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots)  # noqa: E501
    else:
        _fan_parallel(used, first_arc, arc_head, arc_link, no_through, origins, origin_first_od, od_destination, od_demand, link_cost, forest, store, od_cost, origin_total, group_root_first, group_roots, group_origin_first, group_origins, arc_root, root_block, block_first, block_nodes, block_dead_first, block_dead_ends, max_roots)  # noqa: E501
    return _in_order(origin_total), od_cost


def shortest_path_costs(
    graph: CompiledGraph, link_cost: FloatArray, forest: np.ndarray | None = None,
    *, fan_out: bool = True,
) -> tuple[float, FloatArray]:
    """SPTT and per-OD shortest-path cost (in the graph's sorted OD order) at ``link_cost``.

    ``forest`` (int32, origins x nodes), when given, receives every origin's tree. On a graph
    with a fan-out structure (a time-expanded one, :mod:`ptn.engines.traffic.fan_out`) one tree
    per period copy of an origin serves all its generation periods, unless ``fan_out`` is false
    (every origin searched on its own: the same distances up to rounding).
    """
    store = forest is not None
    trees = forest if forest is not None else np.empty((1, 1), dtype=np.int32)
    cost = np.ascontiguousarray(link_cost, dtype=np.float64)
    fan = graph.fan_out
    if fan is not None and fan_out:
        roots = float(fan.group_roots.size)
        total, od_cost = fan_out_forest(
            graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through, graph.origins,
            graph.origin_first_od, graph.od_destination, graph.od_demand, cost, trees, store,
            parallel_chunks(fan.num_groups, roots * (graph.num_nodes + graph.arc_head.size)),
            fan.group_root_first, fan.group_roots, fan.group_origin_first, fan.group_origins,
            fan.arc_root, fan.root_block, fan.block_first, fan.block_nodes,
            fan.block_dead_first, fan.block_dead_ends, fan.max_roots)
        return float(total), od_cost
    total, od_cost = shortest_path_forest(
        graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through, graph.origins,
        graph.origin_first_od, graph.od_destination, graph.od_demand, cost, trees, store,
        parallel_chunks(graph.origins.size, forest_work(graph, graph.origins.size)),
    )
    return float(total), od_cost



@nb.njit(cache=True)
def _reach_chunk(chunk, used, origins, first_arc, arc_head, no_through, reached):  # type: ignore[no-untyped-def]
    """Breadth-first search from origins ``chunk, chunk + used, ...`` into rows of ``reached``."""
    queue = np.empty(first_arc.size, dtype=np.int64)
    for k in range(chunk, origins.size, used):
        row = reached[k]
        origin = origins[k]
        row[origin] = True
        queue[0] = origin
        size = 1
        position = 0
        while position < size:
            node = queue[position]
            position += 1
            if node != origin and no_through[node]:
                continue
            for arc in range(first_arc[node], first_arc[node + 1]):
                head = arc_head[arc]
                if not row[head]:
                    row[head] = True
                    queue[size] = head
                    size += 1


@nb.njit(cache=True, parallel=True)
def _reach_parallel(used, origins, first_arc, arc_head, no_through, reached):  # type: ignore[no-untyped-def]
    for chunk in nb.prange(used):
        _reach_chunk(chunk, used, origins, first_arc, arc_head, no_through, reached)


def unreachable_od_pairs(
    num_nodes: int,
    link_tail: np.ndarray,
    link_head: np.ndarray,
    no_through: np.ndarray,
    od_origin: np.ndarray,
    od_destination: np.ndarray,
) -> np.ndarray:
    """Indices (in the given OD order) of the OD pairs whose destination no path reaches from
    the origin without passing through a ``no_through`` node: a compiled, parallel breadth-first
    search per distinct origin (for validating city-scale networks; origins x nodes booleans,
    in batches of :data:`TREE_BATCH` origins)."""
    tail = np.asarray(link_tail, dtype=np.int64)
    order = np.argsort(tail, kind="stable")
    first_arc = np.searchsorted(tail[order], np.arange(num_nodes + 1)).astype(np.int64)
    arc_head = np.asarray(link_head, dtype=np.int64)[order]
    blocked = np.asarray(no_through, dtype=np.bool_)
    origins, od_row = np.unique(np.asarray(od_origin, dtype=np.int64), return_inverse=True)
    destination = np.asarray(od_destination, dtype=np.int64)
    bad: list[np.ndarray] = []
    for first in range(0, origins.size, TREE_BATCH):
        batch = origins[first:first + TREE_BATCH]
        reached = np.zeros((batch.size, num_nodes), dtype=np.bool_)
        work = float(batch.size) * (num_nodes + arc_head.size)
        used = parallel_chunks(batch.size, work)
        if used == 1:
            _reach_chunk(0, 1, batch, first_arc, arc_head, blocked, reached)
        else:
            _reach_parallel(used, batch, first_arc, arc_head, blocked, reached)
        in_batch = np.flatnonzero((od_row >= first) & (od_row < first + batch.size))
        missing = ~reached[od_row[in_batch] - first, destination[in_batch]]
        bad.append(in_batch[missing])
    return np.sort(np.concatenate(bad)) if bad else np.empty(0, dtype=np.int64)

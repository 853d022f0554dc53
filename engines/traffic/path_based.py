"""Path-based user equilibrium: gradient projection with Newton steps (the fast, exact solver).

Algorithm (Jayakrishnan, Tsai, Prashker & Rajadhyaksha 1994, "A faster path-based algorithm for
traffic assignment", TRR 1443; in the Gauss–Seidel form of Chen, Lee & Jayakrishnan 2002):

* for each origin, a shortest-path tree; each OD's shortest path joins its path set (column
  generation);
* within the OD, flow moves from every costlier path p to the cheapest path s by the projected
  Newton step ``min(f_p, (c_p - c_s) / H)``, ``H = sum_a (n_sa - n_pa)^2 * dc_a/dx`` over the links
  where the two paths differ (``n`` counts a link's occurrences on a path, so paths of the
  multi-layer charging graph that reuse a road link are handled exactly); link flows and costs
  are updated at once, so the next OD sees them;
* after each column-generation sweep, cheap sweeps re-equilibrate the existing path sets without
  shortest-path searches, until the path sets' own gap is a small fraction of the last full gap
  (so few shortest-path passes are needed, and a warm start after a small change needs few);
* the per-OD Newton step can be over-relaxed (``over_relaxation``, successive over-relaxation
  of the Gauss–Seidel sweep). 1.2 paid while the joint Newton step of
  :mod:`~ptn.engines.traffic.path_newton` converged only linearly; since that step keeps an
  active set, the plain step (1.0) with inner sweeps down to 5 % of the last gap is faster:
  Chicago Sketch reaches 1e-6 in 13 iterations instead of 18 (2 threads, in-process, load ~2.9:
  1.54 s instead of 2.1-2.25 s), 1e-8 in 16 instead of 18 (2.49 s, 2.34-2.50 s); the 10,100-node
  CityGrid (bench/city_grid.py) 18 and 21 iterations instead of 21 and 23 at 1e-6 and 1e-8,
  the same time within the load's noise; Sioux Falls and Eastern Massachusetts one fewer or
  the same.
* the joint Newton step (:mod:`~ptn.engines.traffic.path_newton`) starts once the last gap is
  below ``newton_below_gap`` = 1e-4 (was 1e-2): above it the path sets still lack most of their
  columns and the step buys little for its cost (2 threads, in-process, load ~1: Chicago Sketch
  1e-6 in 12 iterations, 1.16-1.29 s, instead of 14, 1.55-1.63 s; 1e-8 in 14, 1.61-1.67 s,
  instead of 14, 1.76-1.89 s; CityGrid 1e-6 6.7 s instead of 8.6 s, 1e-8 8.7 s instead of
  10.1 s; Sioux Falls one iteration more, in milliseconds).

Shortest paths on all cores. The trees are the only part that parallelizes without changing the
method: the Gauss–Seidel equilibration must see each OD's shifts before the next OD's. So the
trees come from the gap measurement that ends every iteration, which computes every origin's tree
at the iteration's final costs anyway (in parallel over origins,
:func:`~ptn.engines.traffic.shortest_path.shortest_path_forest`), and keeps them (a "forest",
origins × nodes int32, up to :data:`MAX_FOREST_ENTRIES`) for the next column-generation sweep.
A new column is then the shortest path at the start of the sweep rather than after the previous
origins' shifts (Jacobi column generation, Gauss–Seidel equilibration), which keeps the fixed
point (a UE has no cheaper column at any costs it induces) and costs a cold Chicago Sketch solve
one or two more iterations (15 → 16–17) while removing one of the two shortest-path passes per
iteration. The first sweep of a cold start still loads one origin at a time at the current costs
(with the network empty, Jacobi loading would send everyone down the same free-flow paths); a
network too large for the forest computes its trees in batches of
:data:`~ptn.engines.traffic.shortest_path.TREE_BATCH` origins. None of this depends on the
number of threads, so results are bit-identical whatever ``numba.set_num_threads`` says.

Path sets persist in a :class:`PathState`, which is the warm start: re-solving after a price or
demand change starts from the previous paths and flows (scaled to the new demand).

The compiled sweeps trust their inputs: a non-finite or astronomically large link parameter or
demand makes them compute with infinities and NaNs (a 1e300 ADMM target once segfaulted the
sweep). :func:`check_kernel_inputs` refuses those before any compiled code runs, naming the
link array and the link, with :class:`~ptn.engines.errors.InvalidInputError`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.link_costs import refresh_link_state, refresh_link_states
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.path_newton import newton_step
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentResult, AssignmentStatus, GapMeasures
from ptn.engines.traffic.shortest_path import (
    TREE_BATCH,
    forest_work,
    parallel_chunks,
    shortest_path_costs,
    shortest_path_trees,
    trace_path_links,
)

ProgressCallback = Callable[[int, float], None]
#: a caller's own convergence test, asked after every iteration with the link flows and the
#: relative gap (e.g. the traffic department's station loads no longer moving)
StopTest = Callable[[FloatArray, float], bool]

#: the largest magnitude of a link parameter or OD demand the compiled kernels accept: costs
#: ($ or time units), capacities and flows beyond it are no network's; below it the kernels'
#: products (cost × flow, flow², derivative ratios) stay far from float overflow
MAX_KERNEL_MAGNITUDE = 1e15

#: the largest forest (origins x nodes predecessor arcs, 4 bytes each: 256 MB) kept from one gap
#: measurement for the next column generation; beyond it the sweep recomputes trees in batches
MAX_FOREST_ENTRIES = 64 * 1024 * 1024

#: parallel passes over all OD pairs (loading link flows, the path sets' excess cost) split them
#: into this many fixed chunks and add the chunks' results in order: bit-identical results with
#: any number of threads
OD_CHUNKS = 16

#: a column generation skips an OD pair whose cheapest known path costs at most this much
#: (relative) more than its shortest path (or a hundredth of the target gap, if smaller):
#: the trace and comparison of 93,000 unchanged paths were a third of a Chicago Sketch sweep
COLUMN_TOLERANCE = 1e-12

#: ... or at most this fraction of the current relative gap more (selective column
#: generation): the OD pairs skipped this way hold at most this fraction of the gap, so the
#: gap still falls to any target, and the 10 % of Chicago Sketch's OD pairs whose set is a
#: hair's breadth from its shortest path near 1e-6 are not re-traced every iteration. Measured
#: (2 threads, in-process, best of 1-3): Chicago Sketch 1e-6 in 13 iterations, 0.52 s (0: 14,
#: 0.63 s), CityGrid 3.2 s (0: 4.0 s), Winnipeg 0.24 s (0: 0.40 s); the iteration counts
#: move by ±2 with any change of the trajectory, so these are indications, not a law
COLUMN_GAP_FRACTION = 0.3


def check_kernel_inputs(problem: AssignmentProblem, od_demand: FloatArray) -> None:
    """Refuse link parameters or demands that are not finite or beyond
    :data:`MAX_KERNEL_MAGNITUDE`, naming the array and the link (or OD)."""
    links = problem.links
    arrays = {"free_flow_time": links.free_flow_time, "capacity": links.capacity,
              "alpha": links.alpha, "beta": links.beta, "fixed_cost": links.fixed_cost,
              "od_demand": od_demand}
    for name, values in arrays.items():
        bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > MAX_KERNEL_MAGNITUDE))
        if bad.size:
            where = f"OD {int(bad[0])}" if name == "od_demand" \
                else f"link {problem.link_label(int(bad[0]))}"
            raise InvalidInputError(
                f"traffic assignment: {name} of {where} is "
                f"{float(values[bad[0]]):g}, not a finite value within "
                f"±{MAX_KERNEL_MAGNITUDE:g}")
    vot = float(links.value_of_time)
    if not (np.isfinite(vot) and 0.0 < vot <= MAX_KERNEL_MAGNITUDE):
        raise InvalidInputError(f"traffic assignment: value_of_time {vot:g} is not a positive "
                                f"value within {MAX_KERNEL_MAGNITUDE:g}")


@dataclass
class PathState:
    """Path sets and flows of every OD pair: the solver's memory and the warm start.

    Paths live in a pool: path ``p`` has links ``links[start[p] : start[p] + length[p]]``, flow
    ``flow[p]`` and ``next[p]`` chains the paths of one OD, whose first is ``od_head[od]``
    (graph OD order). ``od_key`` is the problem OD index of each graph OD.
    """

    fingerprint: tuple[int, int, int]
    od_key: IntArray
    od_demand: FloatArray
    od_head: np.ndarray
    links: np.ndarray
    start: np.ndarray
    length: np.ndarray
    flow: FloatArray
    next: np.ndarray
    num_paths: int
    num_path_links: int

    def used_paths(self) -> int:
        return int(np.count_nonzero(self.flow[: self.num_paths] > 0))


def _fingerprint(problem: AssignmentProblem, graph: CompiledGraph) -> tuple[int, int, int]:
    """The graph's identity, the same in every process (Python's ``hash`` of bytes is salted
    per process, so a warm start sent to a worker process would not match)."""
    digest = hashlib.blake2b(digest_size=8)
    for array in (graph.arc_head, graph.arc_link, graph.first_arc):
        digest.update(np.ascontiguousarray(array).tobytes())
    return (problem.num_links, graph.num_nodes, int.from_bytes(digest.digest(), "little"))


def _empty_state(fingerprint: tuple[int, int, int], graph: CompiledGraph) -> PathState:
    num_ods = graph.num_ods
    path_capacity = max(4 * num_ods, 16)
    return PathState(
        fingerprint=fingerprint,
        od_key=graph.od_order.copy(),
        od_demand=graph.od_demand.copy(),
        od_head=np.full(num_ods, -1, dtype=np.int64),
        links=np.empty(path_capacity * 8, dtype=np.int32),
        start=np.empty(path_capacity, dtype=np.int64),
        length=np.empty(path_capacity, dtype=np.int32),
        flow=np.empty(path_capacity),
        next=np.empty(path_capacity, dtype=np.int64),
        num_paths=0,
        num_path_links=0,
    )


def _state_for(
    problem: AssignmentProblem, graph: CompiledGraph, warm_start: PathState | None
) -> PathState:
    """A fresh state, or the warm start re-keyed to this graph's OD pairs and demand."""
    fingerprint = _fingerprint(problem, graph)
    if warm_start is None:
        return _empty_state(fingerprint, graph)
    if warm_start.fingerprint != fingerprint:
        raise InvalidInputError(
            "warm start comes from a different network (links or class graphs differ)"
        )
    if np.array_equal(warm_start.od_key, graph.od_order):
        with np.errstate(divide="ignore", invalid="ignore"):
            od_scale = np.where(
                warm_start.od_demand > 0, graph.od_demand / warm_start.od_demand, 0.0
            )
        flow = warm_start.flow.copy()
        _scale_path_flows(warm_start.od_head, warm_start.next, flow, od_scale)
        return PathState(
            fingerprint=fingerprint, od_key=graph.od_order.copy(),
            od_demand=graph.od_demand.copy(), od_head=warm_start.od_head.copy(),
            links=warm_start.links.copy(), start=warm_start.start.copy(),
            length=warm_start.length.copy(), flow=flow, next=warm_start.next.copy(),
            num_paths=warm_start.num_paths, num_path_links=warm_start.num_path_links,
        )
    state = _empty_state(fingerprint, graph)
    previous = {int(key): od for od, key in enumerate(warm_start.od_key)}
    rows: list[tuple[int, int, float]] = []  # (graph od, old path, scaled flow)
    for od, key in enumerate(graph.od_order):
        old = previous.get(int(key))
        if old is None:
            continue
        old_demand = warm_start.od_demand[old]
        scale = graph.od_demand[od] / old_demand if old_demand > 0 else 0.0
        path = int(warm_start.od_head[old])
        while path >= 0:
            rows.append((od, path, warm_start.flow[path] * scale))
            path = int(warm_start.next[path])
    if rows:
        old_paths = np.array([row[1] for row in rows], dtype=np.int64)
        lengths = warm_start.length[old_paths]
        total_links = int(lengths.sum())
        _grow(state, len(rows), total_links)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        for new, old_path in enumerate(old_paths):
            begin = warm_start.start[old_path]
            state.links[starts[new] : starts[new] + lengths[new]] = warm_start.links[
                begin : begin + lengths[new]
            ]
        state.start[: len(rows)] = starts
        state.length[: len(rows)] = lengths
        state.flow[: len(rows)] = [row[2] for row in rows]
        for new, (od, _, _) in enumerate(rows):
            state.next[new] = state.od_head[od]
            state.od_head[od] = new
        state.num_paths = len(rows)
        state.num_path_links = total_links
    return state


@nb.njit(cache=True)
def _scale_path_flows(od_head, pnext, pflow, scale):  # type: ignore[no-untyped-def]
    for od in range(od_head.size):
        p = od_head[od]
        while p >= 0:
            pflow[p] *= scale[od]
            p = pnext[p]


def _grow(state: PathState, extra_paths: int, extra_links: int) -> None:
    """Make room for ``extra_paths`` more paths holding ``extra_links`` more link entries."""
    need_paths = state.num_paths + extra_paths
    if need_paths > state.start.size:
        size = max(need_paths, 2 * state.start.size)
        for name in ("start", "length", "flow", "next"):
            old = getattr(state, name)
            new = np.empty(size, dtype=old.dtype)
            new[: state.num_paths] = old[: state.num_paths]
            setattr(state, name, new)
    need_links = state.num_path_links + extra_links
    if need_links > state.links.size:
        new_links = np.empty(max(need_links, 2 * state.links.size), dtype=np.int32)
        new_links[: state.num_path_links] = state.links[: state.num_path_links]
        state.links = new_links


def _compact(state: PathState) -> None:
    """Drop pool entries of paths no OD references any more (compiled: a Python walk over
    Chicago Sketch's 95,000 paths took 0.15 s, a tenth of the whole solve)."""
    compacted = _compact_pool(state.od_head, state.links, state.start, state.length,
                              state.flow, state.next, state.num_paths)
    if compacted[1] < state.num_paths:
        state.links, state.num_paths, state.num_path_links = compacted


@nb.njit(cache=True)
def _compact_pool(od_head, links, start, length, pflow, pnext, num_paths):  # type: ignore[no-untyped-def]
    """Renumber the live paths (OD order, then chain order) to the front of the pool, in place;
    return (link entries, number of paths, number of link entries), the pool itself when every
    path is live."""
    remap = np.full(num_paths, -1, dtype=np.int64)
    live = 0
    total = 0
    for od in range(od_head.size):
        p = od_head[od]
        while p >= 0:
            remap[p] = live
            live += 1
            total += length[p]
            p = pnext[p]
    if live == num_paths:
        return links, live, total
    old = np.empty(live, dtype=np.int64)
    for p in range(num_paths):
        if remap[p] >= 0:
            old[remap[p]] = p
    new_links = np.empty(max(total, 1) * 2, dtype=np.int32)
    new_start = np.empty(live, dtype=np.int64)
    new_length = np.empty(live, dtype=np.int32)
    new_flow = np.empty(live)
    new_next = np.empty(live, dtype=np.int64)
    k = 0
    for new in range(live):
        p = old[new]
        new_start[new] = k
        new_length[new] = length[p]
        for i in range(start[p], start[p] + length[p]):
            new_links[k] = links[i]
            k += 1
        new_flow[new] = pflow[p]
        new_next[new] = remap[pnext[p]] if pnext[p] >= 0 else -1
    start[:live] = new_start
    length[:live] = new_length
    pflow[:live] = new_flow
    pnext[:live] = new_next
    for od in range(od_head.size):
        if od_head[od] >= 0:
            od_head[od] = remap[od_head[od]]
    return new_links, live, total


@nb.njit(cache=True)
def _load_chunk(chunk, od_head, links, start, length, pflow, pnext, row):  # type: ignore[no-untyped-def]
    """Add the path flows of chunk ``chunk`` of the OD pairs onto the link flows ``row``."""
    num_ods = od_head.size
    for od in range(chunk * num_ods // OD_CHUNKS, (chunk + 1) * num_ods // OD_CHUNKS):
        p = od_head[od]
        while p >= 0:
            f = pflow[p]
            if f != 0.0:
                for i in range(start[p], start[p] + length[p]):
                    row[links[i]] += f
            p = pnext[p]


@nb.njit(cache=True, parallel=True)
def _load_parallel(od_head, links, start, length, pflow, pnext, partial):  # type: ignore[no-untyped-def]
    """The parallel loop of :func:`_flows_from_paths` alone (a parallel function turns array
    allocations into parallel launches too)."""
    for chunk in nb.prange(OD_CHUNKS):
        _load_chunk(chunk, od_head, links, start, length, pflow, pnext, partial[chunk])


@nb.njit(cache=True)
def _flows_from_paths(od_head, links, start, length, pflow, pnext, num_links, parallel):  # type: ignore[no-untyped-def]
    """Link flows of the path flows: OD_CHUNKS partial loads (in parallel), added in order."""
    partial = np.zeros((OD_CHUNKS, num_links))
    if parallel:
        _load_parallel(od_head, links, start, length, pflow, pnext, partial)
    else:
        for chunk in range(OD_CHUNKS):
            _load_chunk(chunk, od_head, links, start, length, pflow, pnext, partial[chunk])
    flow = np.zeros(num_links)
    for chunk in range(OD_CHUNKS):
        for a in range(num_links):
            flow[a] += partial[chunk, a]
    return flow


@nb.njit(cache=True)
def _excess_chunk(chunk, od_head, links, start, length, pflow, pnext, cost):  # type: ignore[no-untyped-def]
    """The excess cost of chunk ``chunk`` of the OD pairs (see :func:`_path_set_excess`)."""
    num_ods = od_head.size
    total = 0.0
    for od in range(chunk * num_ods // OD_CHUNKS, (chunk + 1) * num_ods // OD_CHUNKS):
        if od_head[od] < 0 or pnext[od_head[od]] < 0:
            continue  # one path (most OD pairs): no excess
        _, best = _cheapest_path(od, od_head, links, start, length, pnext, cost)
        p = od_head[od]
        while p >= 0:
            if pflow[p] > 0.0:
                total += pflow[p] * (_path_cost(p, links, start, length, cost) - best)
            p = pnext[p]
    return total


@nb.njit(cache=True, parallel=True)
def _excess_parallel(od_head, links, start, length, pflow, pnext, cost, partial):  # type: ignore[no-untyped-def]
    """The parallel loop of :func:`_path_set_excess` alone."""
    for chunk in nb.prange(OD_CHUNKS):
        partial[chunk] = _excess_chunk(chunk, od_head, links, start, length, pflow, pnext, cost)


@nb.njit(cache=True)
def _path_set_excess(od_head, links, start, length, pflow, pnext, cost, parallel):  # type: ignore[no-untyped-def]
    """Sum over ODs of sum_p f_p (c_p - min_q c_q) within the current path sets (OD_CHUNKS
    partial sums, in parallel, added in order)."""
    partial = np.zeros(OD_CHUNKS)
    if parallel:
        _excess_parallel(od_head, links, start, length, pflow, pnext, cost, partial)
    else:
        for chunk in range(OD_CHUNKS):
            partial[chunk] = _excess_chunk(chunk, od_head, links, start, length, pflow, pnext,
                                           cost)
    excess = 0.0
    for chunk in range(OD_CHUNKS):
        excess += partial[chunk]
    return excess


@nb.njit(cache=True)
def _needs_chunk(chunk, od_head, links, start, length, pnext, cost, od_cost, tolerance, needed):  # type: ignore[no-untyped-def]
    """Flags of chunk ``chunk`` of the OD pairs (see :func:`_columns_needed`)."""
    num_ods = od_head.size
    for od in range(chunk * num_ods // OD_CHUNKS, (chunk + 1) * num_ods // OD_CHUNKS):
        _, best = _cheapest_path(od, od_head, links, start, length, pnext, cost)
        needed[od] = best > od_cost[od] + tolerance * abs(od_cost[od])


@nb.njit(cache=True, parallel=True)
def _needs_parallel(od_head, links, start, length, pnext, cost, od_cost, tolerance, needed):  # type: ignore[no-untyped-def]
    """The parallel loop of :func:`_columns_needed` alone."""
    for chunk in nb.prange(OD_CHUNKS):
        _needs_chunk(chunk, od_head, links, start, length, pnext, cost, od_cost, tolerance, needed)


@nb.njit(cache=True)
def _columns_needed(od_head, links, start, length, pnext, cost, od_cost, tolerance, needed, parallel):  # type: ignore[no-untyped-def]  # noqa: E501
    """Mark the OD pairs whose path set lacks a shortest path at ``cost`` (``od_cost`` the
    shortest-path cost of each OD at ``cost``): cheapest known path dearer than ``od_cost`` by
    more than ``tolerance`` (relative). Only those need a column traced from the forest."""
    if parallel:
        _needs_parallel(od_head, links, start, length, pnext, cost, od_cost, tolerance, needed)
    else:
        for chunk in range(OD_CHUNKS):
            _needs_chunk(chunk, od_head, links, start, length, pnext, cost, od_cost, tolerance,
                         needed)


@nb.njit(cache=True, inline="always")
def _path_cost(p, links, start, length, cost):  # type: ignore[no-untyped-def]
    total = 0.0
    for i in range(start[p], start[p] + length[p]):
        total += cost[links[i]]
    return total


@nb.njit(cache=True, inline="always")
def _cheapest_path(od, od_head, links, start, length, pnext, cost):  # type: ignore[no-untyped-def]
    """The cheapest path in the set of OD pair ``od`` and its cost (-1 and inf: empty set)."""
    best = -1
    best_cost = np.inf
    p = od_head[od]
    while p >= 0:
        c = _path_cost(p, links, start, length, cost)
        if c < best_cost:
            best_cost = c
            best = p
        p = pnext[p]
    return best, best_cost


@nb.njit(cache=True)
def _equilibrate_od(od, od_head, links, start, length, pflow, pnext, kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv, marks, relaxation):  # type: ignore[no-untyped-def]  # noqa: E501
    """Newton shifts from every costlier path of ``od`` to its cheapest; drop emptied paths."""
    best, _ = _cheapest_path(od, od_head, links, start, length, pnext, cost)
    if best < 0:
        return
    p = od_head[od]
    while p >= 0:
        if p != best and pflow[p] > 0.0:
            cp = _path_cost(p, links, start, length, cost)
            cs = _path_cost(best, links, start, length, cost)
            diff = cp - cs
            if diff > 0.0:
                for i in range(start[p], start[p] + length[p]):
                    marks[links[i]] -= 1
                for i in range(start[best], start[best] + length[best]):
                    marks[links[i]] += 1
                hessian = 0.0
                for i in range(start[p], start[p] + length[p]):
                    a = links[i]
                    m = marks[a]
                    if m != 0:
                        hessian += m * m * deriv[a]
                        marks[a] = 0
                for i in range(start[best], start[best] + length[best]):
                    a = links[i]
                    m = marks[a]
                    if m != 0:
                        hessian += m * m * deriv[a]
                        marks[a] = 0
                if hessian > 0.0:
                    delta = relaxation * diff / hessian
                    if delta >= pflow[p]:
                        delta = pflow[p]
                else:
                    delta = pflow[p]
                if delta > 0.0:
                    pflow[p] -= delta
                    if pflow[p] <= 0.0:
                        pflow[p] = 0.0
                    pflow[best] += delta
                    for i in range(start[p], start[p] + length[p]):
                        flow[links[i]] -= delta
                    for i in range(start[best], start[best] + length[best]):
                        flow[links[i]] += delta
                    for i in range(start[p], start[p] + length[p]):
                        refresh_link_state(links[i], kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv)  # noqa: E501
                    for i in range(start[best], start[best] + length[best]):
                        refresh_link_state(links[i], kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv)  # noqa: E501
        p = pnext[p]
    prev = -1
    p = od_head[od]
    while p >= 0:
        nxt = pnext[p]
        if p != best and pflow[p] <= 0.0:
            if prev < 0:
                od_head[od] = nxt
            else:
                pnext[prev] = nxt
        else:
            prev = p
        p = nxt


@nb.njit(cache=True)
def _sweep(first_origin, end_origin, tree_first, generate, needed, relaxation, arc_tail, arc_link, origins, origin_first_od, od_destination, od_demand, kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv, marks, od_head, links, start, length, pflow, pnext, counts, pred_arc, buffer):  # type: ignore[no-untyped-def]  # noqa: E501
    """One Gauss–Seidel pass over origins ``first_origin`` .. ``end_origin - 1``.

    With ``generate`` each OD flagged in ``needed`` gets its shortest path added to its set
    first; the tree of origin ``k`` is row ``k - tree_first`` of ``pred_arc``. OD pairs left
    with one path have nothing to equilibrate and are skipped. Returns the origin index to
    resume from when the pool is full (``end_origin`` when the pass completed). ``counts``
    holds [number of paths, number of pool link entries].
    """
    for k in range(first_origin, end_origin):
        origin = origins[k]
        for od in range(origin_first_od[k], origin_first_od[k + 1]):
            if generate and needed[od]:
                size = trace_path_links(origin, od_destination[od], pred_arc[k - tree_first],
                                        arc_tail, arc_link, buffer)
                known = False
                p = od_head[od]
                while p >= 0 and not known:
                    if length[p] == size:
                        same = True
                        s0 = start[p]
                        for i in range(size):
                            if links[s0 + i] != buffer[i]:
                                same = False
                                break
                        known = same
                    p = pnext[p]
                if not known:
                    n_paths = counts[0]
                    n_links = counts[1]
                    if n_paths >= start.size or n_links + size > links.size:
                        return k
                    for i in range(size):
                        links[n_links + i] = buffer[i]
                    start[n_paths] = n_links
                    length[n_paths] = size
                    pnext[n_paths] = od_head[od]
                    if od_head[od] < 0:
                        pflow[n_paths] = od_demand[od]
                        for i in range(size):
                            flow[buffer[i]] += od_demand[od]
                        for i in range(size):
                            refresh_link_state(buffer[i], kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv)  # noqa: E501
                    else:
                        pflow[n_paths] = 0.0
                    od_head[od] = n_paths
                    counts[0] = n_paths + 1
                    counts[1] = n_links + size
            if od_head[od] < 0 or pnext[od_head[od]] < 0:
                continue  # one path (most OD pairs): nothing to shift
            _equilibrate_od(od, od_head, links, start, length, pflow, pnext, kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv, marks, relaxation)  # noqa: E501
    return end_origin


def solve_path_based(
    problem: AssignmentProblem,
    *,
    gap: float = 1e-8,
    max_iterations: int = 1000,
    warm_start: PathState | None = None,
    max_inner_sweeps: int = 5,
    newton_below_gap: float = 1e-4,
    inner_gap_fraction: float = 0.05,
    over_relaxation: float = 1.0,
    tree_batch: int = TREE_BATCH,
    max_forest_entries: int = MAX_FOREST_ENTRIES,
    time_limit_seconds: float | None = None,
    progress: ProgressCallback | None = None,
    stop: StopTest | None = None,
) -> AssignmentResult:
    """Deterministic UE by path-based gradient projection, to relative gap ``gap`` (or until
    ``stop``, asked after each iteration, says the caller's own test is met: status
    ``CONVERGED`` with the gap reached)."""
    if not 0.0 < over_relaxation < 2.0:
        raise InvalidInputError(f"over_relaxation must lie in (0, 2), got {over_relaxation}")
    started = time.perf_counter()
    graph = compile_graph(problem)
    check_kernel_inputs(problem, graph.od_demand)
    state = _state_for(problem, graph, warm_start)
    links = problem.links
    params = (links.kind, links.free_flow_time, links.capacity, links.alpha, links.beta,
              links.fixed_cost, float(links.value_of_time))
    num_links = problem.num_links
    num_nodes = graph.num_nodes
    cost = np.empty(num_links)
    deriv = np.empty(num_links)
    marks = np.zeros(num_links, dtype=np.int64)
    num_origins = int(graph.origins.size)
    batch = max(1, min(tree_batch, num_origins))
    dist = np.empty((batch, num_nodes))
    pred_arc = np.empty((batch, num_nodes), dtype=np.int32)
    chunks = parallel_chunks(batch, forest_work(graph, batch))
    # every origin's tree at the costs of the last gap measurement: the next column generation
    forest = (np.empty((num_origins, num_nodes), dtype=np.int32)
              if num_origins * num_nodes <= max_forest_entries else None)
    forest_fresh = False
    buffer = np.empty(num_nodes + 1, dtype=np.int32)
    # which OD pairs the next column generation traces a path for: all of them, except after
    # a gap measurement, which flags those whose set lacks a shortest path at its costs (within
    # COLUMN_TOLERANCE, or COLUMN_GAP_FRACTION of the current gap)
    all_needed = np.ones(graph.num_ods, dtype=np.bool_)
    needed = np.ones(graph.num_ods, dtype=np.bool_)
    column_tolerance = min(COLUMN_TOLERANCE, 0.01 * gap)
    counts = np.array([state.num_paths, state.num_path_links], dtype=np.int64)
    tree_arrays = (graph.origins, graph.first_arc, graph.arc_head, graph.arc_link,
                   graph.no_through)
    sweep_arrays = (graph.arc_tail, graph.arc_link, graph.origins, graph.origin_first_od,
                    graph.od_destination, graph.od_demand)

    def od_parallel() -> bool:
        """Whether the passes over all OD pairs are worth a parallel launch."""
        return parallel_chunks(OD_CHUNKS, state.num_path_links) > 1

    def load_flows() -> FloatArray:
        flow = _flows_from_paths(state.od_head, state.links, state.start, state.length,
                                 state.flow, state.next, num_links, od_parallel())
        refresh_link_states(*params, flow, cost, deriv)
        return flow

    def sweep(flow: FloatArray, generate: bool, first: int, end: int, tree_first: int,
              trees: np.ndarray, columns: np.ndarray) -> None:
        """Origins first .. end - 1 (trees[k - tree_first] the tree of origin k; new columns
        for the OD pairs flagged in ``columns``), growing the pool whenever it fills."""
        origin = first
        while origin < end:
            origin = _sweep(origin, end, tree_first, generate, columns, over_relaxation,
                            *sweep_arrays,
                            *params, flow, cost, deriv, marks, state.od_head, state.links,
                            state.start, state.length, state.flow, state.next, counts,
                            trees, buffer)
            state.num_paths, state.num_path_links = int(counts[0]), int(counts[1])
            if origin < end:
                if state.num_paths > 2 * (state.used_paths() + graph.num_ods):
                    _compact(state)
                    counts[:] = (state.num_paths, state.num_path_links)
                _grow(state, graph.num_ods, graph.num_ods * 16 + num_nodes)

    def generate_and_sweep(flow: FloatArray, rows: int) -> None:
        """The column-generation sweep: from the gap's forest when it is fresh, else with the
        trees of ``rows`` origins at a time, computed at the costs before those origins."""
        if forest is not None and forest_fresh:
            sweep(flow, True, 0, num_origins, 0, forest, needed)
            return
        first = 0
        while first < num_origins:
            end = first + int(shortest_path_trees(first, *tree_arrays, cost, dist[:rows],
                                                  pred_arc[:rows], chunks))
            sweep(flow, True, first, end, first, pred_arc, all_needed)
            first = end

    last_od_cost: list[FloatArray] = []

    def measure(flow: FloatArray) -> GapMeasures:
        """The relative gap at ``flow``; its trees go to the forest for the next sweep."""
        link_cost = links.costs(flow)
        sptt, od_cost = shortest_path_costs(graph, link_cost, forest)
        last_od_cost[:] = [od_cost]
        measures = GapMeasures(tstt=float(flow @ link_cost), sptt=sptt)
        if forest is not None:
            tolerance = column_tolerance
            if np.isfinite(measures.relative_gap):
                tolerance = max(tolerance, COLUMN_GAP_FRACTION * measures.relative_gap)
            _columns_needed(state.od_head, state.links, state.start, state.length, state.next,
                            link_cost, od_cost, tolerance, needed, od_parallel())
        return measures

    flow = load_flows()
    history: list[float] = []
    status = AssignmentStatus.MAX_ITERATIONS
    iterations = 0
    measures = measure(flow) if state.num_paths else None
    forest_fresh = measures is not None
    if measures is not None:
        history.append(measures.relative_gap)
        if measures.relative_gap <= gap:
            status = AssignmentStatus.CONVERGED
    while status != AssignmentStatus.CONVERGED and iterations < max_iterations:
        iterations += 1
        # a cold start's first sweep loads the network one origin at a time (Gauss–Seidel):
        # each origin's first paths see the congestion the previous origins caused
        generate_and_sweep(flow, 1 if measures is None else batch)
        forest_fresh = False
        # re-equilibrate the path sets (cheap) until their own gap is a small fraction of the
        # last full gap, so that few expensive shortest-path passes are needed
        last_gap = measures.relative_gap if measures is not None else 1.0
        inner_target = max(inner_gap_fraction * last_gap, 0.5 * gap)
        for _ in range(max_inner_sweeps):
            excess = _path_set_excess(state.od_head, state.links, state.start, state.length,
                                      state.flow, state.next, cost, od_parallel())
            if excess <= inner_target * float(flow @ cost):
                break
            sweep(flow, False, 0, num_origins, 0, pred_arc, all_needed)
        if last_gap <= newton_below_gap:
            flow = load_flows()
            newton_step(links, flow, state.od_head, state.links, state.start, state.length,
                        state.flow, state.next)
        flow = load_flows()
        measures = measure(flow)
        forest_fresh = True
        history.append(measures.relative_gap)
        if progress is not None:
            progress(iterations, measures.relative_gap)
        if not np.isfinite(measures.relative_gap):
            status = AssignmentStatus.NUMERICAL_ERROR
            break
        if measures.relative_gap <= gap or (stop is not None
                                            and stop(flow, measures.relative_gap)):
            status = AssignmentStatus.CONVERGED
        elif time_limit_seconds is not None and time.perf_counter() - started > time_limit_seconds:
            status = AssignmentStatus.TIME_LIMIT
            break
    if state.num_paths > 2 * state.used_paths() + 1024:
        _compact(state)
    state.od_demand = graph.od_demand.copy()
    assert measures is not None
    return AssignmentResult(
        status=status,
        algorithm="gradient-projection",
        link_flow=flow,
        link_cost=links.costs(flow),
        objective=links.beckmann(flow),
        relative_gap=measures.relative_gap,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        gap_history=tuple(history),
        warm_start=state,
        extra={"used_paths": float(state.used_paths())},
        od_cost=last_od_cost[0],  # the last measurement was at the final flow
    )

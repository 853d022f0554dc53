"""Link-based user equilibrium: bi-conjugate Frank–Wolfe (BFW).

Why it exists: the path-based solver (:mod:`ptn.engines.traffic.path_based`) is ptn's default, but
BFW is the link-based method most practitioners know (AequilibraE's default), it needs memory
only in proportion to the links, and it gives an independent algorithm to cross-check the
path-based equilibria against.

Algorithm: Mitradjieva & Lindberg (2013), "The stiff is moving — conjugate direction Frank-Wolfe
methods with applications to traffic assignment", Transportation Science 47(2):280–293. With the
current link flows ``x``, the all-or-nothing (AON) loading ``y`` at the costs ``c(x)`` and the
Hessian of the Beckmann objective approximated by ``H = diag(c'(x))``:

* Frank–Wolfe (FW) moves towards ``s = y``;
* conjugate FW (CFW) moves towards ``s = a * s1 + (1 - a) * y``, where ``s1`` is the previous
  target and ``a`` makes ``s - x`` H-conjugate to ``s1 - x`` (clipped to ``[0, 1 - delta]``);
* bi-conjugate FW moves towards ``s = b0 * y + b1 * s1 + b2 * s2`` (``s2`` the target before
  ``s1``), with ``b`` from the paper's ``mu``, ``nu`` (both clipped at zero) making ``s - x``
  H-conjugate to the last two directions.

The step ``lambda`` in ``x + lambda * (s - x)`` minimises the Beckmann objective exactly: a
safeguarded Newton search for the zero of its directional derivative
``sum_a c_a(x + lambda * d) * d_a`` on ``[0, 1]``. A conjugate direction that is not a descent
direction, or whose coefficients are degenerate, falls back to CFW or plain FW (as AequilibraE's
``bfw`` does), and conjugation restarts from FW after a full step (``lambda = 1``).

The relative gap ``(TSTT - SPTT) / TSTT`` of every iteration is measured at the flows the
iteration ends with (AequilibraE's reported gap takes the costs and AON loading of the previous
iterate, so it lags one iteration). The shortest-path search of that measurement is also the AON
loading of the next iteration, so an iteration costs one set of shortest-path trees. The warm
start (:class:`BfwState`) holds the flows and the last two targets, so re-solving the same
problem continues the same conjugate sequence.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.link_costs import LinkCosts, link_time, link_time_derivative
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_based import ProgressCallback
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentResult, AssignmentStatus, GapMeasures
from ptn.engines.traffic.shortest_path import (
    TREE_BATCH,
    forest_work,
    parallel_chunks,
    shortest_path_trees,
)

# Largest CFW weight on the previous target: at 1 the new direction repeats the old one and the
# method stalls (Mitradjieva & Lindberg's 1 - delta; AequilibraE uses the same value).
CONJUGATE_WEIGHT_MAX = 0.99999

# Relative change of the step below which the Newton line search stops.
LINE_SEARCH_TOLERANCE = 1e-13
LINE_SEARCH_MAX_EVALUATIONS = 100

_FW, _CFW, _BFW = 0, 1, 2


@dataclass(frozen=True)
class BfwState:
    """Where a BFW run stopped: the warm start of the next solve of the same network.

    ``link_flow`` (veh/h) is the final iterate; the search directions of the last two
    iterations are ``target - link_flow`` and ``previous_target - link_flow`` (targets are
    convex combinations of AON loadings, so they stay feasible). ``step`` is the last line-search
    step and ``depth`` how many conjugate directions are usable (0: next step is FW, 1: CFW,
    2: BFW). ``od_demand`` is the demand the flows carry (the problem's OD order, classes
    concatenated) and ``fingerprint`` identifies the class graphs.
    """

    link_flow: FloatArray
    target: FloatArray
    previous_target: FloatArray
    step: float
    depth: int
    od_demand: FloatArray
    fingerprint: str

    @property
    def num_links(self) -> int:
        return int(self.link_flow.size)


@nb.njit(cache=True)
def _all_or_nothing(  # type: ignore[no-untyped-def]
    first_arc, arc_tail, arc_head, arc_link, no_through, origins, origin_first_od, od_destination,
    od_demand, link_cost, link_flow, chunks,
):
    """Load every OD's demand on its shortest path; return (SPTT, first unreachable OD or -1).

    ``link_flow`` is overwritten. The trees are computed in parallel, a batch of origins at a
    time, and loaded in origin order; SPTT is summed per origin, then over origins, as in
    :func:`~ptn.engines.traffic.shortest_path.shortest_path_forest`, so it is the same number.
    """
    n = first_arc.size - 1
    batch = min(TREE_BATCH, max(origins.size, 1))
    dist = np.empty((batch, n))
    pred_arc = np.empty((batch, n), dtype=np.int64)
    for a in range(link_flow.size):
        link_flow[a] = 0.0
    total = 0.0
    unreachable = -1
    first = 0
    while first < origins.size:
        count = shortest_path_trees(first, origins, first_arc, arc_head, arc_link, no_through,
                                    link_cost, dist, pred_arc, chunks)
        for row in range(count):
            k = first + row
            origin = origins[k]
            subtotal = 0.0
            for od in range(origin_first_od[k], origin_first_od[k + 1]):
                node = od_destination[od]
                demand = od_demand[od]
                subtotal += demand * dist[row, node]
                if not np.isfinite(dist[row, node]):
                    if unreachable < 0:
                        unreachable = od
                    continue
                while node != origin:
                    arc = pred_arc[row, node]
                    link_flow[arc_link[arc]] += demand
                    node = arc_tail[arc]
            total += subtotal
        first += count
    return total, unreachable


@nb.njit(cache=True)
def _slope(step, kind, t0, cap, alpha, beta, fixed, vot, flow, target):  # type: ignore[no-untyped-def]
    """First and second derivative in ``step`` of the Beckmann objective at
    ``(1 - step) * flow + step * target``."""
    first = 0.0
    second = 0.0
    keep = 1.0 - step
    for a in range(flow.size):
        d = target[a] - flow[a]
        if d == 0.0:
            continue
        x = keep * flow[a] + step * target[a]
        cost = vot * link_time(kind[a], t0[a], cap[a], alpha[a], beta[a], x) + fixed[a]
        first += cost * d
        second += vot * link_time_derivative(kind[a], t0[a], cap[a], alpha[a], beta[a], x) * d * d
    return first, second


@nb.njit(cache=True)
def _line_search(kind, t0, cap, alpha, beta, fixed, vot, flow, target, tolerance, max_evaluations):  # type: ignore[no-untyped-def]
    """Exact step in [0, 1] towards ``target``: 0 if the direction does not descend.

    Newton on the directional derivative, kept inside a bracket [lo, hi] with slope(lo) < 0 <
    slope(hi) and falling back to bisection when Newton leaves it.
    """
    slope_at_zero, _ = _slope(0.0, kind, t0, cap, alpha, beta, fixed, vot, flow, target)
    if not slope_at_zero < 0.0:
        return 0.0
    slope_at_one, _ = _slope(1.0, kind, t0, cap, alpha, beta, fixed, vot, flow, target)
    if not slope_at_one > 0.0:
        return 1.0
    lo = 0.0
    hi = 1.0
    step = slope_at_zero / (slope_at_zero - slope_at_one)  # secant through the end points
    for _ in range(max_evaluations):
        first, second = _slope(step, kind, t0, cap, alpha, beta, fixed, vot, flow, target)
        if first == 0.0:
            return step
        if first < 0.0:
            lo = step
        else:
            hi = step
        candidate = step - first / second if second > 0.0 else -1.0
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        change = abs(candidate - step)
        step = candidate
        if change <= tolerance * step or hi - lo <= tolerance * hi:
            break
    return step


@nb.njit(cache=True)
def _cost_derivatives(kind, t0, cap, alpha, beta, vot, flow):  # type: ignore[no-untyped-def]
    """d(cost)/d(flow) of every link: the diagonal Hessian of the Beckmann objective."""
    out = np.empty(flow.size)
    for a in range(flow.size):
        out[a] = vot * link_time_derivative(kind[a], t0[a], cap[a], alpha[a], beta[a], flow[a])
    return out


def _fingerprint(problem: AssignmentProblem, graph: CompiledGraph) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for array in (graph.first_arc, graph.arc_head, graph.arc_link, graph.no_through,
                  np.array([problem.num_links, graph.num_nodes])):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _problem_demand(problem: AssignmentProblem) -> FloatArray:
    """Every class's OD demand (veh/h) in the problem's order, classes concatenated."""
    return np.concatenate([c.od_demand for c in problem.classes]).astype(np.float64)


def _od_description(problem: AssignmentProblem, graph: CompiledGraph, od: int) -> str:
    """``class c: origin->destination`` of a graph-ordered OD, with the class's node labels."""
    key = int(graph.od_order[od])
    index = int(np.searchsorted(graph.class_first_od, key, side="right")) - 1
    demand_class = problem.classes[index]
    local = key - int(graph.class_first_od[index])
    origin = demand_class.node_label(int(demand_class.od_origin[local]))
    destination = demand_class.node_label(int(demand_class.od_destination[local]))
    return f"class {demand_class.name}: OD pair {origin}->{destination}"


class _Loader:
    """AON loading of one compiled graph with reusable buffers."""

    def __init__(self, problem: AssignmentProblem, graph: CompiledGraph) -> None:
        self.problem = problem
        self.graph = graph
        self.flow: FloatArray = np.empty(problem.num_links)

    def load(self, link_cost: FloatArray, od_demand: FloatArray | None = None) -> tuple[float, int]:
        """Fill ``self.flow`` with the AON loading at ``link_cost``; return (SPTT, unreachable).

        ``od_demand`` (graph OD order) replaces the graph's demand when given.
        """
        g = self.graph
        total, unreachable = _all_or_nothing(
            g.first_arc, g.arc_tail, g.arc_head, g.arc_link, g.no_through, g.origins,
            g.origin_first_od, g.od_destination, g.od_demand if od_demand is None else od_demand,
            np.ascontiguousarray(link_cost, dtype=np.float64), self.flow,
            parallel_chunks(TREE_BATCH, forest_work(g, min(TREE_BATCH, g.origins.size))),
        )
        return float(total), int(unreachable)

    def load_checked(
        self, link_cost: FloatArray, od_demand: FloatArray | None = None
    ) -> FloatArray:
        """A copy of the AON loading, raising for demand between unconnected nodes (bad input)."""
        _, unreachable = self.load(link_cost, od_demand)
        if unreachable >= 0:
            raise InvalidInputError(
                f"{_od_description(self.problem, self.graph, unreachable)} has demand but no "
                "route (the destination cannot be reached from the origin)"
            )
        return self.flow.copy()


@dataclass
class _Start:
    flow: FloatArray
    target: FloatArray
    previous_target: FloatArray
    step: float
    depth: int


def _free_flow_costs(problem: AssignmentProblem) -> FloatArray:
    """Link costs at zero flow, which must be finite (else the links are invalid input)."""
    link_cost = problem.links.costs(np.zeros(problem.num_links))
    bad = np.flatnonzero(~np.isfinite(link_cost))
    if bad.size:
        link = int(bad[0])
        raise InvalidInputError(
            f"link {problem.link_label(link)} has a non-finite cost at zero flow "
            f"({link_cost[link]})"
        )
    return link_cost


def _starting_point(
    problem: AssignmentProblem, loader: _Loader, fingerprint: str, warm_start: object
) -> _Start:
    """Cold start (AON at free flow) or the warm start adapted to this problem's demand."""
    links = problem.links
    num_links = problem.num_links
    if warm_start is None:
        flow = loader.load_checked(_free_flow_costs(problem))
        return _Start(flow, flow.copy(), flow.copy(), 1.0, 0)
    if not isinstance(warm_start, BfwState):
        raise InvalidInputError(
            f"bfw warm start must be the warm_start of a previous bfw result, "
            f"got {type(warm_start).__name__}"
        )
    if warm_start.num_links != num_links:
        raise InvalidInputError(
            f"bfw warm start has {warm_start.num_links} links but the problem has {num_links}: "
            "it comes from a different network"
        )
    demand = _problem_demand(problem)
    if warm_start.od_demand.size != demand.size or warm_start.fingerprint != fingerprint:
        raise InvalidInputError(
            "bfw warm start comes from a different network (class graphs or OD pairs differ)"
        )
    old = warm_start.od_demand
    if np.array_equal(demand, old):
        return _Start(warm_start.link_flow.copy(), warm_start.target.copy(),
                      warm_start.previous_target.copy(), warm_start.step, warm_start.depth)
    # Changed demand. Link flows cannot be split by OD, but ``ratio * flow`` carries
    # ``ratio * old`` with ``ratio`` the smallest new/old demand ratio; the rest of the new demand
    # is loaded all-or-nothing at the previous equilibrium's costs. The same affine map moves the
    # targets, so every point stays feasible and the conjugate geometry is kept.
    had = old > 0
    ratio = float(np.min(demand[had] / old[had])) if had.any() else 0.0
    remainder = np.maximum(demand - ratio * old, 0.0)[loader.graph.od_order]
    link_cost = links.costs(warm_start.link_flow)
    if not np.all(np.isfinite(link_cost)):
        link_cost = _free_flow_costs(problem)
    added = loader.load_checked(link_cost, remainder)
    return _Start(ratio * warm_start.link_flow + added, ratio * warm_start.target + added,
                  ratio * warm_start.previous_target + added, warm_start.step,
                  warm_start.depth if ratio > 0 else 0)


def _conjugate_weight(
    hessian: FloatArray, flow: FloatArray, aon: FloatArray, target: FloatArray
) -> float | None:
    """CFW weight ``a`` on the previous target, or None when it is undefined."""
    last = hessian * (target - flow)
    numerator = float(last @ (aon - flow))
    denominator = float(last @ (aon - target))
    if denominator == 0.0 or not np.isfinite(numerator / denominator):
        return None
    return min(max(numerator / denominator, 0.0), CONJUGATE_WEIGHT_MAX)


def _biconjugate_weights(
    hessian: FloatArray, flow: FloatArray, aon: FloatArray, target: FloatArray,
    previous_target: FloatArray, step: float,
) -> tuple[float, float, float] | None:
    """BFW weights (on AON, target, previous target), or None when they are undefined."""
    to_aon = aon - flow
    last = target - flow  # parallel to the previous direction
    before = step * target + (1.0 - step) * previous_target - flow  # parallel to the one before
    h_last = hessian * last
    h_before = hessian * before
    nu_denominator = float(h_last @ last)
    if nu_denominator == 0.0 or not np.isfinite(nu_denominator):
        return None
    mu_denominator = float(h_before @ (previous_target - target))
    mu = 0.0
    if mu_denominator != 0.0:
        mu = max(0.0, -float(h_before @ to_aon) / mu_denominator)
    nu = max(0.0, -float(h_last @ to_aon) / nu_denominator + mu * step / (1.0 - step))
    if not (np.isfinite(mu) and np.isfinite(nu)):
        return None
    b0 = 1.0 / (1.0 + mu + nu)
    return b0, nu * b0, mu * b0


def solve_biconjugate_frank_wolfe(
    problem: AssignmentProblem,
    *,
    gap: float = 1e-8,
    max_iterations: int = 1000,
    warm_start: Any = None,
    time_limit_seconds: float | None = None,
    progress: ProgressCallback | None = None,
) -> AssignmentResult:
    """Deterministic UE by bi-conjugate Frank–Wolfe, to relative gap ``gap``.

    An iteration is one direction, one exact line search and one set of shortest-path trees
    (which both measure the new iterate's gap and give the next AON loading). ``warm_start`` is
    the :class:`BfwState` of a previous bfw result on the same network.
    """
    started = time.perf_counter()
    graph = compile_graph(problem)
    links: LinkCosts = problem.links
    fingerprint = _fingerprint(problem, graph)
    loader = _Loader(problem, graph)
    start = _starting_point(problem, loader, fingerprint, warm_start)
    flow, target, previous_target = start.flow, start.target, start.previous_target
    last_step, depth = start.step, start.depth
    time_params = (links.kind, links.free_flow_time, links.capacity, links.alpha, links.beta)
    vot = float(links.value_of_time)
    search_params = (*time_params, links.fixed_cost, vot)
    counts = {_FW: 0, _CFW: 0, _BFW: 0}

    def measure(flow: FloatArray) -> tuple[FloatArray, float]:
        """Costs at ``flow`` and its relative gap (NaN when a cost or total is not finite);
        leaves the AON loading at those costs in the loader."""
        link_cost = links.costs(flow)
        if not np.all(np.isfinite(link_cost)):
            return link_cost, float("nan")
        sptt, _ = loader.load(link_cost)
        measures = GapMeasures(tstt=float(flow @ link_cost), sptt=sptt)
        if not (np.isfinite(measures.tstt) and np.isfinite(measures.sptt)):
            return link_cost, float("nan")
        return link_cost, measures.relative_gap

    def line_search(towards: FloatArray) -> float:
        return float(_line_search(*search_params, flow, towards, LINE_SEARCH_TOLERANCE,
                                  LINE_SEARCH_MAX_EVALUATIONS))

    link_cost, relative_gap = measure(flow)
    history = [relative_gap]
    iterations = 0
    status = AssignmentStatus.MAX_ITERATIONS
    if not np.isfinite(relative_gap):
        status = AssignmentStatus.NUMERICAL_ERROR
    elif relative_gap <= gap:
        status = AssignmentStatus.CONVERGED
    while status == AssignmentStatus.MAX_ITERATIONS and iterations < max_iterations:
        iterations += 1
        aon = loader.flow
        if last_step >= 1.0:
            depth = 0  # a full step lands on the target: nothing left to be conjugate to
        kind, towards = _FW, aon
        if depth >= 1:
            hessian = _cost_derivatives(*time_params, vot, flow)
            if depth >= 2:
                betas = _biconjugate_weights(hessian, flow, aon, target, previous_target,
                                             last_step)
                if betas is not None:
                    kind = _BFW
                    towards = betas[0] * aon + betas[1] * target + betas[2] * previous_target
            if kind == _FW:
                weight = _conjugate_weight(hessian, flow, aon, target)
                if weight is not None:
                    kind = _CFW
                    towards = weight * target + (1.0 - weight) * aon
        step = line_search(towards)
        if step <= 0.0 and kind != _FW:
            kind, towards = _FW, aon  # not a descent direction: restart conjugation
            step = line_search(towards)
        if step <= 0.0:
            status = AssignmentStatus.NUMERICAL_ERROR  # FW cannot descend: precision exhausted
            iterations -= 1
            break
        counts[kind] += 1
        towards = towards.copy() if towards is aon else towards
        flow = (1.0 - step) * flow + step * towards  # convex combination: never negative
        previous_target, target = target, towards
        last_step = step
        depth = 1 if kind == _FW else min(depth + 1, 2)
        link_cost, relative_gap = measure(flow)
        history.append(relative_gap)
        if progress is not None:
            progress(iterations, relative_gap)
        if not np.isfinite(relative_gap):
            status = AssignmentStatus.NUMERICAL_ERROR
        elif relative_gap <= gap:
            status = AssignmentStatus.CONVERGED
        elif time_limit_seconds is not None and time.perf_counter() - started > time_limit_seconds:
            status = AssignmentStatus.TIME_LIMIT
    state = BfwState(
        link_flow=flow.copy(), target=target.copy(), previous_target=previous_target.copy(),
        step=last_step, depth=depth, od_demand=_problem_demand(problem), fingerprint=fingerprint,
    )
    return AssignmentResult(
        status=status,
        algorithm="bfw",
        link_flow=flow,
        link_cost=link_cost,
        objective=links.beckmann(flow),
        relative_gap=relative_gap,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        gap_history=tuple(history),
        warm_start=state,
        extra={"fw_steps": float(counts[_FW]), "cfw_steps": float(counts[_CFW]),
               "bfw_steps": float(counts[_BFW])},
    )

"""Stochastic user equilibrium (SUE) with logit route choice: seed 002's MSA and a fast Newton.

Why this module exists: seed 002 models drivers' route choice as logit SUE rather than Wardrop
UE, and maps the equilibrium station flows to charging loads period by period (MODELS.md §1). It
solves the SUE by the method of successive averages (MSA), warm-started from the previous
period. This module provides that solver and a much faster one for the same fixed point, so the
traffic department can answer the many load queries of a negotiation.

Model (Daganzo & Sheffi 1977; Sheffi 1985, ch. 10–12). OD pair ``w`` with demand ``d_w`` and
route set ``K_w``; route cost ``c_k = sum_a n_ka * c_a(x_a)`` with ``c_a`` the problem's
*generalized* link cost (:meth:`~ptn.engines.traffic.link_costs.LinkCosts.costs`, so tolls and
charging prices enter) and ``n_ka`` the number of times route ``k`` uses link ``a``. Logit::

    P_k = exp(-theta * c_k) / sum_{j in K_w} exp(-theta * c_j),     theta in 1 / cost unit,

evaluated with the stable log-sum-exp (costs shifted by the OD's minimum). SUE: ``f = y(c(f))``
with ``y_k = d_w * P_k``; it is the unique minimiser of Fisk's (1980) convex objective::

    Z(f) = sum_a int_0^{x_a} c_a(u) du + (1 / theta) * sum_k f_k * (ln f_k - 1)

over route flows meeting demand. As theta -> infinity the SUE link flows tend to the
deterministic UE ones; as theta -> 0 the flows spread evenly over the routes.

Route sets (``path_set``):

* ``"enumerate"``: every acyclic route of every OD pair (:func:`~ptn.engines.traffic.path_sets.
  enumerate_paths`), the textbook logit SUE over all routes; Nguyen–Dupuis has 25 routes.
* ``"generate"``: column generation, for networks with too many acyclic routes: start from each
  OD's free-flow shortest route and, every iteration, add each OD's shortest route at the current
  costs if new (as the path-based UE does; Damberg, Lundgren & Patriksson 1996; Bekhor & Toledo
  2005). The result is the SUE over the generated routes, so it depends (slightly) on the
  routes the iterations happened to visit.
* ``"auto"`` (default): enumerate when no OD pair has more than ``max_paths_per_od`` acyclic
  routes and the search stays within its budget, else generate.
* a :class:`~ptn.engines.traffic.path_sets.PathSet`: exactly these routes.

Methods:

* ``"msa"``: seed 002's algorithm (Sheffi 1985, §12.2): ``f^{n+1} = f^n + (1/n) (y^n - f^n)``,
  ``y^n`` the logit loading at ``c(f^n)``; cold start ``f^1`` = logit loading at free-flow
  costs, ``n`` from 1. Warm start: ``f^1`` = the previous solution with each OD's route flows
  rescaled to the new demand. Restarting at ``n = 1`` would throw it away (``f^2 = y^1``), and
  resuming the previous period's ``n`` (the seed never resets it) makes the steps negligible;
  so a warm start begins at ``n0 = ceil(1 + rho / 2)``, with ``rho`` the spectral radius of the
  linearised loading map ``theta * A S A^T diag(c')`` at ``f^1`` (power iteration): ``1 / n0 =
  2 / (2 + rho)`` is the best constant relaxation step of that linear map. ``msa_start``
  overrides ``n0``. Converges like 1/n whatever the start.
* ``"line-search"``: the same direction ``y - f`` with the step that minimises Fisk's objective
  exactly (Chen & Alfa 1991; Maher 1998), found by safeguarded Newton on the directional
  derivative (summed per OD against a reference route to avoid cancellation). Cheap iterations;
  linear convergence that slows as theta grows.
* ``"newton"`` (default, fastest): Newton's method on the link-flow fixed point
  ``F(x) = x - A y(c(x)) = 0`` (the stationarity condition of Sheffi & Powell's 1982
  unconstrained SUE program), with the exact Jacobian ``J = I + theta * A S A^T diag(c'(x))``
  (``S``: block-diagonal logit covariance ``diag(y_w) - y_w y_w^T / d_w``) and Armijo
  backtracking on ``|F|``. ``J``'s eigenvalues are >= 1 (``A S A^T diag(c')`` is similar to a
  positive semidefinite matrix), so the Newton direction always exists and descends ``|F|``;
  convergence is quadratic at the end. An iterate's route flows are ``y(c(x))``: they keep the
  logit ratios exactly, which avoids the ill-conditioning of route-flow methods at large theta
  (UE route flows are not unique; only the weak entropy term pins them down). At large theta the
  loading is nearly a step function of cost and Newton from a far start crawls; after 3 steps in
  a row of at most 1/32 it first solves the problem at theta / 10 (recursively) and starts from
  that equilibrium (continuation in theta). Under ``criterion="step"`` only full Newton steps
  count (a damped step's small change proves nothing). Each iteration solves a dense
  links x links system: fine up to a few thousand links (Chicago Sketch, 2950 links and 93,135
  OD pairs, column generation: 11 iterations, 19 s); beyond that use ``"line-search"``.

Convergence: ``criterion="step"`` (seed 002) stops when ``max_k |f_k^{n+1} - f_k^n| <= tolerance``
(veh/h); ``criterion="residual"`` when the SUE fixed-point residual ``max_k |f_k - y_k(c(f))|``
is. Both, and their relative forms (divided by the route's OD demand: errors in choice
probability), are reported. For MSA the step is the residual divided by ``n``, so the seed's rule
stops well short of the fixed point once ``n`` is large; accuracy claims should use the residual.
Statuses (:class:`~ptn.engines.traffic.result.AssignmentStatus`): ``NUMERICAL_ERROR`` from Newton
means no step reduced ``|F|`` any more while the criterion was unmet: the tolerance is below the
rounding floor, which grows with theta because the logit amplifies cost rounding by about
``theta * d`` (on Nguyen–Dupuis the residual floor is ~1e-6 veh/h at theta = 100 per minute).
The best point reached is returned either way.

References: C. Fisk (1980), "Some developments in equilibrium traffic assignment",
Transportation Research B 14(3), 243–255. Y. Sheffi (1985), *Urban Transportation Networks*,
Prentice-Hall. C. F. Daganzo & Y. Sheffi (1977), "On stochastic models of traffic assignment",
Transportation Science 11(3), 253–274. Y. Sheffi & W. B. Powell (1982), "An algorithm for the
equilibrium assignment problem with random link times", Networks 12(2), 191–207. M. Chen &
A. S. Alfa (1991), "Algorithms for solving Fisk's stochastic traffic assignment model",
Transportation Research B 25(6), 405–412. M. Maher (1998), "Algorithms for logit-based
stochastic user equilibrium assignment", Transportation Research B 32(8), 539–549. R. Damberg,
J. T. Lundgren & M. Patriksson (1996), "An algorithm for the stochastic user equilibrium
problem", Transportation Research B 30(2), 115–131. S. Bekhor & T. Toledo (2005),
"Investigating path-based solution algorithms to the stochastic user equilibrium problem",
Transportation Research B 39(3), 279–295. Seed 002 (``../shared/seeds/002_*``, section 3 and
its MSA framework): SUE by MSA, each period warm-started from the previous one.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.link_costs import link_time, link_time_derivative, refresh_link_states
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_sets import (
    DEFAULT_MAX_PATHS_PER_OD,
    PathSet,
    empty_path_set,
    enumerate_graph_paths,
    shortest_path_columns,
    shortest_path_set,
)
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentStatus

ProgressCallback = Callable[[int, float], None]

METHODS = ("newton", "line-search", "msa")
_METHOD_ALIASES = {
    "newton": "newton",
    "line-search": "line-search", "optimal-step": "line-search", "msa-line-search": "line-search",
    "chen-alfa": "line-search",
    "msa": "msa",
}
CRITERIA = ("step", "residual")
PATH_SET_MODES = ("auto", "enumerate", "generate")
DEFAULT_MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class SueState:
    """Routes and route flows of a solve: the warm start for the next one.

    ``od_demand`` is the demand each OD of ``paths`` had (graph OD order), so a later solve with
    other demand rescales each OD's route flows; ``mode`` is how the routes were built
    (``"enumerated"``, ``"generated"`` or ``"given"``), which decides how a later solve extends
    them.
    """

    fingerprint: str
    paths: PathSet
    path_flow: FloatArray
    od_demand: FloatArray
    mode: str


@dataclass(frozen=True)
class OdPathFlows:
    """The routes of one OD pair with their flows, costs and choice probabilities."""

    od: int  # index into the problem's classes' concatenated OD lists
    class_name: str
    origin: str
    destination: str
    demand: float
    links: tuple[tuple[int, ...], ...]
    labels: tuple[str, ...]  # each route as its link labels joined by spaces
    flow: FloatArray
    cost: FloatArray

    @property
    def probability(self) -> FloatArray:
        return self.flow / self.demand if self.demand > 0 else np.zeros_like(self.flow)


@dataclass(frozen=True)
class SueResult:
    """A stochastic user equilibrium (or the best point reached) and its quality measures.

    ``residual`` is the SUE fixed-point residual ``max_k |f_k - y_k(c(f))|`` (veh/h) at the
    returned flows, ``relative_residual`` the same divided by each route's OD demand; ``step``
    and ``relative_step`` are the last iteration's ``max_k |f_k^{n+1} - f_k^n|`` and its
    relative form. Route-level data (``paths``, ``path_flow``, ``path_cost``) is in graph OD
    order; :meth:`od_path_flows` presents it per OD pair.
    """

    status: AssignmentStatus
    method: str
    theta: float
    link_flow: FloatArray
    link_cost: FloatArray
    paths: PathSet
    path_flow: FloatArray
    path_cost: FloatArray
    fisk_objective: float
    residual: float
    relative_residual: float
    step: float
    relative_step: float
    iterations: int
    loadings: int
    seconds: float
    path_set_mode: str
    criterion: str
    history: tuple[float, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
    warm_start: SueState | None = field(default=None, repr=False, compare=False)
    problem: AssignmentProblem | None = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.status == AssignmentStatus.CONVERGED

    @property
    def num_paths(self) -> int:
        return self.paths.num_paths

    def od_path_flows(self) -> list[OdPathFlows]:
        """Routes, flows, costs and probabilities of every OD pair with demand."""
        problem = self.problem
        if problem is None:
            raise InvalidInputError("this result does not carry its problem")
        class_first = np.cumsum([0] + [c.od_demand.size for c in problem.classes])
        out = []
        for od in range(self.paths.num_ods):
            key = int(self.paths.od_key[od])
            c = int(np.searchsorted(class_first, key, side="right") - 1)
            demand_class = problem.classes[c]
            local = key - int(class_first[c])
            begin, end = int(self.paths.od_first[od]), int(self.paths.od_first[od + 1])
            links = tuple(self.paths.links_of(p) for p in range(begin, end))
            out.append(OdPathFlows(
                od=key,
                class_name=demand_class.name,
                origin=demand_class.node_label(int(demand_class.od_origin[local])),
                destination=demand_class.node_label(int(demand_class.od_destination[local])),
                demand=float(demand_class.od_demand[local]),
                links=links,
                labels=tuple(" ".join(problem.link_label(a) for a in route) for route in links),
                flow=self.path_flow[begin:end].copy(),
                cost=self.path_cost[begin:end].copy(),
            ))
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the solve."""
        return {
            "status": str(self.status),
            "method": self.method,
            "theta": self.theta,
            "fisk_objective": self.fisk_objective,
            "residual": self.residual,
            "relative_residual": self.relative_residual,
            "step": self.step,
            "relative_step": self.relative_step,
            "criterion": self.criterion,
            "iterations": self.iterations,
            "loadings": self.loadings,
            "seconds": self.seconds,
            "paths": self.num_paths,
            "path_set": self.path_set_mode,
            "total_flow": float(np.sum(self.path_flow)),
            **self.extra,
        }


# ----------------------------------------------------------------------------- numba kernels


@nb.njit(cache=True)
def _link_flows(path_first, path_links, path_flow, num_links):  # type: ignore[no-untyped-def]
    flow = np.zeros(num_links)
    for p in range(path_flow.size):
        f = path_flow[p]
        if f != 0.0:
            for i in range(path_first[p], path_first[p + 1]):
                flow[path_links[i]] += f
    return flow


@nb.njit(cache=True)
def _logit_loading(od_first, path_first, path_links, od_demand, theta, link_cost, path_cost, y):  # type: ignore[no-untyped-def]
    """Route costs at ``link_cost`` and the logit loading ``y`` (stable log-sum-exp per OD)."""
    for od in range(od_demand.size):
        p0 = od_first[od]
        p1 = od_first[od + 1]
        cmin = np.inf
        for p in range(p0, p1):
            c = 0.0
            for i in range(path_first[p], path_first[p + 1]):
                c += link_cost[path_links[i]]
            path_cost[p] = c
            if c < cmin:
                cmin = c
        total = 0.0
        for p in range(p0, p1):
            w = np.exp(-theta * (path_cost[p] - cmin))
            y[p] = w
            total += w
        scale = od_demand[od] / total
        for p in range(p0, p1):
            y[p] *= scale


@nb.njit(cache=True)
def _fisk_slope(step, od_first, path_first, path_links, path_flow, direction, x, dx, kind, t0, cap, alpha, beta, fixed, vot, theta, cost):  # type: ignore[no-untyped-def]  # noqa: E501
    """First and second derivative of Fisk's objective at ``f + step * direction``.

    The slope ``sum_k d_k * (c_k + ln(f_k) / theta)`` is summed per OD relative to one route of
    the OD (``sum_k d_k = 0`` within an OD), which avoids the cancellation of two large sums
    near the optimum.
    """
    curve = 0.0
    for a in range(x.size):
        xa = x[a] + step * dx[a]
        if xa < 0.0:
            xa = 0.0
        cost[a] = vot * link_time(kind[a], t0[a], cap[a], alpha[a], beta[a], xa) + fixed[a]
        if dx[a] != 0.0:
            curve += vot * link_time_derivative(kind[a], t0[a], cap[a], alpha[a], beta[a], xa) * dx[a] * dx[a]  # noqa: E501
    inv = 1.0 / theta
    slope = 0.0
    for od in range(od_first.size - 1):
        reference = np.nan
        for k in range(od_first[od], od_first[od + 1]):
            d = direction[k]
            v = path_flow[k] + step * d
            if d == 0.0 and v <= 0.0:
                continue
            if v <= 0.0:
                # ln(0): the entropy slope is -inf (d > 0) or +inf (d < 0) here
                slope += -np.inf if d > 0.0 else np.inf
                curve = np.inf
                continue
            g = inv * np.log(v)
            for i in range(path_first[k], path_first[k + 1]):
                g += cost[path_links[i]]
            if np.isnan(reference):
                reference = g
            slope += d * (g - reference)
            curve += inv * d * d / v
    return slope, curve


@nb.njit(cache=True)
def _line_search(od_first, path_first, path_links, path_flow, direction, x, dx, kind, t0, cap, alpha, beta, fixed, vot, theta, guess):  # type: ignore[no-untyped-def]  # noqa: E501
    """The step in [0, 1] minimising Fisk's objective along ``direction`` (safeguarded Newton)."""
    cost = np.empty(x.size)
    s1, _ = _fisk_slope(1.0, od_first, path_first, path_links, path_flow, direction, x, dx, kind, t0, cap, alpha, beta, fixed, vot, theta, cost)  # noqa: E501
    if s1 <= 0.0:
        return 1.0
    lo = 0.0
    hi = 1.0
    step = guess if 0.0 < guess < 1.0 else 0.5
    for _ in range(200):
        s, h = _fisk_slope(step, od_first, path_first, path_links, path_flow, direction, x, dx, kind, t0, cap, alpha, beta, fixed, vot, theta, cost)  # noqa: E501
        if s > 0.0:
            hi = step
        elif s < 0.0:
            lo = step
        else:
            return step
        if hi - lo <= 1e-15:
            break
        candidate = step - s / h if h > 0.0 and np.isfinite(h) else -1.0
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - step) <= 1e-15 * step:
            return candidate
        step = candidate
    return step


@nb.njit(cache=True)
def _logit_link_matrix(od_first, path_first, path_links, y, od_demand, num_links):  # type: ignore[no-untyped-def]
    """``M = A S A^T`` (link-route incidence A; S: per-OD ``diag(y_w) - y_w y_w^T / d_w``).

    ``-theta * M`` is the derivative of the logit link loading with respect to link costs.
    """
    M = np.zeros((num_links, num_links))
    u = np.zeros(num_links)
    touched = np.empty(num_links, dtype=np.int64)
    for od in range(od_demand.size):
        count = 0
        for p in range(od_first[od], od_first[od + 1]):
            yp = y[p]
            if yp == 0.0:
                continue
            for i in range(path_first[p], path_first[p + 1]):
                a = path_links[i]
                for j in range(path_first[p], path_first[p + 1]):
                    M[a, path_links[j]] += yp
                if u[a] == 0.0:
                    touched[count] = a
                    count += 1
                u[a] += yp
        inv = 1.0 / od_demand[od]
        for i in range(count):
            a = touched[i]
            ua = u[a] * inv
            for j in range(count):
                b = touched[j]
                M[a, b] -= ua * u[b]
        for i in range(count):
            u[touched[i]] = 0.0
    return M


@nb.njit(cache=True)
def _apply_logit_link_matrix(od_first, path_first, path_links, y, od_demand, vector):  # type: ignore[no-untyped-def]
    """``A S A^T v`` without forming the matrix (see :func:`_logit_link_matrix`)."""
    out = np.zeros(vector.size)
    for od in range(od_demand.size):
        p0 = od_first[od]
        p1 = od_first[od + 1]
        mean = 0.0
        for p in range(p0, p1):
            u = 0.0
            for i in range(path_first[p], path_first[p + 1]):
                u += vector[path_links[i]]
            mean += y[p] * u
        mean /= od_demand[od]
        for p in range(p0, p1):
            u = 0.0
            for i in range(path_first[p], path_first[p + 1]):
                u += vector[path_links[i]]
            weight = y[p] * (u - mean)
            if weight != 0.0:
                for i in range(path_first[p], path_first[p + 1]):
                    out[path_links[i]] += weight
    return out


# ----------------------------------------------------------------------------- set-up helpers


def canonical_method(name: str) -> str:
    """The canonical SUE method name for a name or alias."""
    key = str(name).strip().lower()
    if key not in _METHOD_ALIASES:
        raise InvalidInputError(f"unknown SUE method {name!r} (choose from {', '.join(METHODS)})")
    return _METHOD_ALIASES[key]


def _check_theta(theta: float) -> float:
    try:
        if isinstance(theta, str | bytes):
            raise TypeError
        value = float(theta)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"theta (logit dispersion, 1/cost unit) must be a positive finite number, "
            f"got {theta!r}"
        ) from None
    if isinstance(theta, bool) or not math.isfinite(value) or value <= 0.0:
        raise InvalidInputError(
            f"theta (logit dispersion, 1/cost unit) must be a positive finite number, "
            f"got {theta!r}"
        )
    return value


def _fingerprint(problem: AssignmentProblem, graph: CompiledGraph) -> str:
    """Identity of the network and OD list (not the demand) a state belongs to."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (graph.first_arc, graph.arc_head, graph.arc_link):
        digest.update(np.ascontiguousarray(array).tobytes())
    for demand_class in problem.classes:
        digest.update(np.ascontiguousarray(demand_class.od_origin).tobytes())
        digest.update(np.ascontiguousarray(demand_class.od_destination).tobytes())
    return f"{problem.num_links}:{graph.num_nodes}:{digest.hexdigest()}"


def _check_path_set(paths: PathSet, graph: CompiledGraph, num_links: int) -> None:
    if paths.od_key.shape != graph.od_order.shape or not np.array_equal(
        paths.od_key, graph.od_order
    ):
        raise InvalidInputError(
            "path set does not match the problem's OD pairs with demand (build it from the same "
            "problem, e.g. with enumerate_paths)"
        )
    counts = np.diff(paths.od_first)
    if counts.size and counts.min() < 1:
        raise InvalidInputError(
            f"path set has no route for OD pair {int(paths.od_key[int(np.argmin(counts))])}"
        )
    if paths.path_links.size and (
        paths.path_links.min() < 0 or paths.path_links.max() >= num_links
    ):
        raise InvalidInputError(f"path set uses a link outside 0..{num_links - 1}")


def _initial_paths(
    graph: CompiledGraph,
    free_cost: FloatArray,
    spec: str | PathSet | None,
    max_paths_per_od: int,
    num_links: int,
) -> tuple[PathSet, str]:
    if isinstance(spec, PathSet):
        _check_path_set(spec, graph, num_links)
        return spec, "given"
    mode = "auto" if spec is None else str(spec).strip().lower()
    if mode not in PATH_SET_MODES:
        raise InvalidInputError(
            f"unknown path_set {spec!r} (choose from {', '.join(PATH_SET_MODES)} or a PathSet)"
        )
    if mode in ("auto", "enumerate"):
        paths = enumerate_graph_paths(graph, max_paths_per_od)
        if paths is not None:
            return paths, "enumerated"
        if mode == "enumerate":
            raise InvalidInputError(
                f"an OD pair has more than {max_paths_per_od} acyclic routes (or the search "
                "exceeded its budget); use path_set='generate' or raise max_paths_per_od"
            )
    return shortest_path_set(graph, free_cost), "generated"


def _warm_paths(
    graph: CompiledGraph,
    state: SueState,
    free_cost: FloatArray,
    spec: str | PathSet | None,
    max_paths_per_od: int,
) -> tuple[PathSet, FloatArray, str]:
    """The warm start's routes and flows re-keyed to this graph's ODs, demand rescaled."""
    mode = state.mode
    if isinstance(spec, str) and spec.strip().lower() == "generate":
        mode = "generated"
    old_index = {int(key): od for od, key in enumerate(state.paths.od_key)}
    present = [od for od, key in enumerate(graph.od_order) if int(key) in old_index]
    missing = np.array(
        [od for od, key in enumerate(graph.od_order) if int(key) not in old_index], dtype=np.int64
    )
    present_arr = np.array(present, dtype=np.int64)
    old_ods = np.array([old_index[int(graph.od_order[od])] for od in present], dtype=np.int64)
    sub = state.paths.select_ods(old_ods)
    old_demand = state.od_demand[old_ods]
    scale = np.divide(graph.od_demand[present_arr], old_demand,
                      out=np.zeros(present_arr.size), where=old_demand > 0)
    sub_flow = state.path_flow[state.paths.paths_of_ods(old_ods)] * np.repeat(
        scale, sub.paths_per_od
    )
    # an OD whose old flows were all zero (or absent) starts from an even split
    new_od = present_arr[sub.path_od] if sub.num_paths else np.empty(0, dtype=np.int64)
    firsts = [sub.path_first]
    pools = [sub.path_links]
    ods = [new_od]
    flows = [sub_flow]
    if missing.size:
        if mode == "enumerated":
            full = enumerate_graph_paths(graph, max_paths_per_od)
            if full is None:
                full = shortest_path_set(graph, free_cost)
                mode = "generated"
        else:
            full = shortest_path_set(graph, free_cost)
        extra = full.select_ods(missing)
        firsts.append(extra.path_first[1:] + sub.path_links.size)
        pools.append(extra.path_links)
        ods.append(missing[extra.path_od])
        flows.append(np.repeat(graph.od_demand[missing] / extra.paths_per_od, extra.paths_per_od))
    merged, order = empty_path_set(graph.od_order).with_paths(
        np.concatenate(ods), np.concatenate(firsts), np.concatenate(pools)
    )
    flow = np.concatenate(flows)[order]
    # ODs whose rescaled flows vanished (old demand 0): even split
    totals = np.add.reduceat(flow, merged.od_first[:-1]) if flow.size else flow
    empty = np.flatnonzero(totals <= 0)
    for od in empty:
        begin, end = int(merged.od_first[od]), int(merged.od_first[od + 1])
        flow[begin:end] = graph.od_demand[od] / (end - begin)
    return merged, flow, mode


# ----------------------------------------------------------------------------- the solver


class _Workspace:
    """Route set, link parameters and buffers shared by the iteration loops."""

    def __init__(
        self,
        problem: AssignmentProblem,
        graph: CompiledGraph,
        theta: float,
        paths: PathSet,
        generate: bool,
    ) -> None:
        links = problem.links
        self.params = (links.kind, links.free_flow_time, links.capacity, links.alpha,
                       links.beta, links.fixed_cost, float(links.value_of_time))
        self.graph = graph
        self.theta = theta
        self.paths = paths
        self.generate = generate
        self.num_links = problem.num_links
        self.demand = graph.od_demand
        self.cost = np.empty(self.num_links)
        self.deriv = np.empty(self.num_links)
        self.loadings = 0

    def link_flows(self, path_flow: FloatArray) -> FloatArray:
        return _link_flows(self.paths.path_first, self.paths.path_links, path_flow,
                           self.num_links)  # type: ignore[no-any-return]

    def set_costs(self, link_flow: FloatArray) -> None:
        refresh_link_states(*self.params, link_flow, self.cost, self.deriv)

    def load(self, link_flow: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Route costs and logit route flows at the costs of ``link_flow`` (also sets costs)."""
        self.set_costs(link_flow)
        path_cost = np.empty(self.paths.num_paths)
        y = np.empty(self.paths.num_paths)
        _logit_loading(self.paths.od_first, self.paths.path_first, self.paths.path_links,
                       self.demand, self.theta, self.cost, path_cost, y)
        self.loadings += 1
        return path_cost, y

    def demand_per_path(self) -> FloatArray:
        return np.repeat(self.demand, self.paths.paths_per_od)

    def add_columns(self, link_flow: FloatArray, *per_path: FloatArray) -> tuple[
        int, list[FloatArray]
    ]:
        """Add each OD's shortest route at the costs of ``link_flow`` (column generation).

        Returns the number of routes added and the ``per_path`` arrays re-ordered to the grown
        set (zero on new routes).
        """
        if not self.generate:
            return 0, list(per_path)
        self.set_costs(link_flow)
        new_od, first, new_links = shortest_path_columns(self.graph, self.cost, self.paths)
        if not new_od.size:
            return 0, list(per_path)
        self.paths, order = self.paths.with_paths(new_od, first, new_links)
        grown = [np.concatenate((array, np.zeros(new_od.size)))[order] for array in per_path]
        return int(new_od.size), grown

    def loading_map_radius(self, link_flow: FloatArray, iterations: int = 50) -> float:
        """Spectral radius of ``theta * A S A^T diag(c')`` at ``link_flow`` (power iteration)."""
        _, y = self.load(link_flow)
        deriv = self.deriv.copy()
        vector = np.ones(self.num_links)
        radius = 0.0
        for _ in range(iterations):
            image = self.theta * _apply_logit_link_matrix(
                self.paths.od_first, self.paths.path_first, self.paths.path_links, y,
                self.demand, deriv * vector)
            norm = float(np.linalg.norm(image))
            if not norm > 0.0 or not math.isfinite(norm):
                return 0.0 if norm == 0.0 else radius
            radius = norm / float(np.linalg.norm(vector))
            vector = image / norm
        return radius

    def measures(self, change: FloatArray) -> tuple[float, float]:
        """Max absolute and max relative (per OD demand) entry of a route-flow change."""
        if not change.size:
            return 0.0, 0.0
        magnitude = np.abs(change)
        return float(magnitude.max()), float((magnitude / self.demand_per_path()).max())


def _stop_status(
    path_flow: FloatArray, value: float, tolerance: float, added: int, deadline: float | None
) -> AssignmentStatus | None:
    """Why an iteration loop stops after an iterate with convergence measure ``value``, if it
    does: non-finite flows, converged (``added``: no route was just added), or out of time."""
    if not np.all(np.isfinite(path_flow)):
        return AssignmentStatus.NUMERICAL_ERROR
    if value <= tolerance and not added:
        return AssignmentStatus.CONVERGED
    if deadline is not None and time.perf_counter() > deadline:
        return AssignmentStatus.TIME_LIMIT
    return None


@dataclass
class _Outcome:
    path_flow: FloatArray
    status: AssignmentStatus
    iterations: int
    step: float
    relative_step: float
    history: list[float]
    extra: dict[str, float] = field(default_factory=dict)
    stalled: bool = False


def _averaging(
    work: _Workspace,
    path_flow: FloatArray,
    exact_step: bool,
    first_count: int,
    tolerance: float,
    criterion: str,
    max_iterations: int,
    deadline: float | None,
    progress: ProgressCallback | None,
) -> _Outcome:
    """MSA (step 1/n) or its exact-line-search variant along the logit direction y - f."""
    history: list[float] = []
    step = relative_step = math.inf
    status = AssignmentStatus.MAX_ITERATIONS
    line_step = 0.5
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        flow = work.link_flows(path_flow)
        added, (path_flow,) = work.add_columns(flow, path_flow)
        _, y = work.load(flow)
        direction = y - path_flow
        gap_now, _ = work.measures(direction)
        if criterion == "residual" and gap_now <= tolerance and not added:
            step = relative_step = 0.0  # f^n already meets the tolerance: keep it
            history.append(gap_now)
            if progress is not None:
                progress(iterations, gap_now)
            status = AssignmentStatus.CONVERGED
            break
        if exact_step:
            dx = work.link_flows(direction)
            size = float(_line_search(work.paths.od_first, work.paths.path_first,
                                      work.paths.path_links, path_flow, direction, flow, dx,
                                      *work.params, work.theta, line_step))
            line_step = size
        else:
            size = 1.0 / (first_count + iterations - 1)
        move = size * direction
        path_flow = np.maximum(path_flow + move, 0.0)
        step, relative_step = work.measures(move)
        value = step if criterion == "step" else gap_now
        history.append(value)
        if progress is not None:
            progress(iterations, value)
        stop = _stop_status(path_flow, value, tolerance, added, deadline)
        if stop is not None:
            status = stop
            break
    extra = {} if exact_step else {"msa_start": float(first_count)}
    return _Outcome(path_flow, status, iterations, step, relative_step, history, extra)


def _newton(
    work: _Workspace,
    start: FloatArray,
    start_paths: FloatArray | None,
    tolerance: float,
    criterion: str,
    max_iterations: int,
    deadline: float | None,
    progress: ProgressCallback | None,
    patience: int | None,
) -> _Outcome:
    """Damped Newton on the link-flow fixed point ``F(x) = x - A y(c(x)) = 0``.

    Jacobian ``J = I + theta * A S A^T diag(c'(x))`` (dense, links x links); Armijo backtracking
    on ``|F|``, from link flows ``start`` (``start_paths``: its route flows, if known, for the
    first step measure). The route flows of iterate ``x`` are ``y(c(x))``. With ``patience``,
    gives up (``stalled``) after that many steps in a row of at most ``NEWTON_STALL_STEP``: the
    start is too far for this theta.
    When no step of at least 2^-40 reduces ``|F|``, rounding dominates: stop.
    """
    history: list[float] = []
    step = relative_step = math.inf
    status = AssignmentStatus.MAX_ITERATIONS
    x = start
    previous = np.full(work.paths.num_paths, np.inf) if start_paths is None else start_paths
    path_flow = previous
    iterations = 0
    backtracks = 0
    damped_in_row = 0
    full_step = True  # the first "step" is f0's own fixed-point residual
    stalled = False

    def fixed_point_residual(x: FloatArray, residual: FloatArray, flows: FloatArray) -> float:
        """max |f - y(c(A f))| for the route flows ``f = y(c(x))`` (``A f = x - F(x)``)."""
        _, y_next = work.load(x - residual)
        return work.measures(flows - y_next)[0]

    _, y = work.load(x)
    residual_vector = x - work.link_flows(y)
    while iterations < max_iterations:
        iterations += 1
        added, (previous, y) = work.add_columns(x, previous, y)
        if added:
            _, y = work.load(x)
            residual_vector = x - work.link_flows(y)
        path_flow = y
        step, relative_step = work.measures(path_flow - previous)
        previous = path_flow
        if criterion == "residual" or not full_step:
            # a damped step's change says nothing about the distance to the fixed point (at
            # large theta y(c(x)) barely moves while x crawls): judge such iterates by residual
            value = fixed_point_residual(x, residual_vector, path_flow)
        else:
            value = step
        history.append(value)
        if progress is not None:
            progress(iterations, value)
        stop = _stop_status(path_flow, value, tolerance, added, deadline)
        if stop is not None:
            status = stop
            break
        if patience is not None and damped_in_row >= patience:
            stalled = True
            break
        work.set_costs(x)
        matrix = _logit_link_matrix(work.paths.od_first, work.paths.path_first,
                                    work.paths.path_links, y, work.demand, work.num_links)
        jacobian = work.theta * matrix * work.deriv[np.newaxis, :]
        jacobian[np.diag_indices_from(jacobian)] += 1.0
        try:
            delta = np.linalg.solve(jacobian, -residual_vector)
        except np.linalg.LinAlgError:
            delta = -residual_vector
        norm = float(np.linalg.norm(residual_vector))
        size = 1.0
        accepted = False
        for _ in range(41):
            candidate = np.maximum(x + size * delta, 0.0)
            _, y_candidate = work.load(candidate)
            candidate_residual = candidate - work.link_flows(y_candidate)
            if float(np.linalg.norm(candidate_residual)) <= (1.0 - 1e-4 * size) * norm:
                accepted = True
                break
            size *= 0.5
            backtracks += 1
        if not accepted:  # rounding floor: done if the point meets the tolerance anyway
            converged = fixed_point_residual(x, residual_vector, path_flow) <= tolerance
            status = AssignmentStatus.CONVERGED if converged else AssignmentStatus.NUMERICAL_ERROR
            break
        damped_in_row = damped_in_row + 1 if size <= NEWTON_STALL_STEP else 0
        full_step = size == 1.0
        x, y, residual_vector = candidate, y_candidate, candidate_residual
    return _Outcome(path_flow, status, iterations, step, relative_step, history,
                    {"newton_backtracks": float(backtracks)}, stalled)


NEWTON_PATIENCE = 3
NEWTON_STALL_STEP = 1.0 / 32.0
CONTINUATION_FACTOR = 10.0
MAX_CONTINUATION_DEPTH = 16


def _newton_continuation(
    work: _Workspace,
    start: FloatArray,
    start_paths: FloatArray | None,
    tolerance: float,
    criterion: str,
    max_iterations: int,
    deadline: float | None,
    progress: ProgressCallback | None,
    depth: int = 0,
) -> _Outcome:
    """Newton at ``work.theta``; if it stalls, first solve at theta / 10 and start from there.

    Large theta makes the logit loading nearly a step function of cost, and Newton from a far
    start then crawls with tiny damped steps; the easier problem's equilibrium is a start close
    enough for full steps (continuation in theta, recursively).
    """
    patience = NEWTON_PATIENCE if depth < MAX_CONTINUATION_DEPTH else None
    first = _newton(work, start, start_paths, tolerance, criterion, max_iterations, deadline,
                    progress, patience)
    if not first.stalled:
        return first
    theta = work.theta
    work.theta = theta / CONTINUATION_FACTOR
    try:
        easier = _newton_continuation(work, start, None, tolerance, criterion,
                                      max(1, max_iterations - first.iterations), deadline, None,
                                      depth + 1)
    finally:
        work.theta = theta
    used = first.iterations + easier.iterations

    def shifted(iteration: int, value: float) -> None:
        assert progress is not None
        progress(iteration + used, value)

    final = _newton(work, work.link_flows(easier.path_flow), easier.path_flow, tolerance,
                    criterion, max(1, max_iterations - used), deadline,
                    None if progress is None else shifted, None)
    final.iterations += used
    final.history = first.history + final.history
    final.extra["newton_backtracks"] += (first.extra["newton_backtracks"]
                                         + easier.extra["newton_backtracks"])
    final.extra["continuation_stages"] = easier.extra.get("continuation_stages", 0.0) + 1.0
    return final


def solve_stochastic_equilibrium(
    problem: AssignmentProblem,
    *,
    theta: float,
    method: str = "newton",
    tolerance: float = 1e-6,
    criterion: str = "step",
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    warm_start: SueState | None = None,
    path_set: str | PathSet | None = None,
    max_paths_per_od: int = DEFAULT_MAX_PATHS_PER_OD,
    msa_start: int | None = None,
    time_limit_seconds: float | None = None,
    progress: ProgressCallback | None = None,
) -> SueResult:
    """Logit stochastic user equilibrium of ``problem`` with dispersion ``theta`` (1/cost unit).

    ``method``: ``"newton"`` (fastest), ``"line-search"`` (MSA direction with exact step) or
    ``"msa"`` (seed 002). Stops when the ``criterion`` (``"step"``: max route-flow change of an
    iteration; ``"residual"``: max |f - y(c(f))|) is at most ``tolerance`` veh/h and, under
    column generation, no new route entered. ``warm_start`` is a previous result's
    :attr:`SueResult.warm_start` on the same network (each OD's route flows are rescaled to the
    new demand). ``path_set``: ``"auto"`` (``None``), ``"enumerate"``, ``"generate"`` or a
    :class:`~ptn.engines.traffic.path_sets.PathSet`. ``msa_start``: the ``n`` of MSA's first step
    ``1/n`` (default 1 cold, automatic when warm; see the module docstring).
    ``progress(iteration, criterion value)`` is called after every iteration. Invalid input
    (e.g. theta <= 0 or not finite) raises :class:`~ptn.engines.errors.InvalidInputError`.
    """
    started = time.perf_counter()
    theta = _check_theta(theta)
    name = canonical_method(method)
    if criterion not in CRITERIA:
        raise InvalidInputError(f"unknown criterion {criterion!r} (choose from step, residual)")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise InvalidInputError(f"tolerance must be a positive number, got {tolerance}")
    if max_iterations < 1:
        raise InvalidInputError(f"max_iterations must be at least 1, got {max_iterations}")
    if max_paths_per_od < 1:
        raise InvalidInputError(f"max_paths_per_od must be at least 1, got {max_paths_per_od}")
    if warm_start is not None and isinstance(path_set, PathSet):
        raise InvalidInputError("pass either warm_start or an explicit path set, not both")
    if msa_start is not None and (isinstance(msa_start, bool) or int(msa_start) != msa_start
                                  or msa_start < 1):
        raise InvalidInputError(f"msa_start must be a positive integer, got {msa_start!r}")

    graph = compile_graph(problem)
    fingerprint = _fingerprint(problem, graph)
    num_links = problem.num_links
    free_cost = problem.links.costs(np.zeros(num_links))
    if warm_start is not None:
        if warm_start.fingerprint != fingerprint:
            raise InvalidInputError(
                "warm start comes from a different network (links, class graphs or OD pairs "
                "differ)"
            )
        paths, path_flow, mode = _warm_paths(graph, warm_start, free_cost, path_set,
                                             max_paths_per_od)
        work = _Workspace(problem, graph, theta, paths, mode == "generated")
    else:
        paths, mode = _initial_paths(graph, free_cost, path_set, max_paths_per_od, num_links)
        work = _Workspace(problem, graph, theta, paths, mode == "generated")
        _, path_flow = work.load(np.zeros(num_links))  # logit loading at free-flow costs

    deadline = None if time_limit_seconds is None else started + time_limit_seconds
    if name == "newton":
        outcome = _newton_continuation(work, work.link_flows(path_flow), path_flow, tolerance,
                                       criterion, max_iterations, deadline, progress)
    else:
        first_count = 1
        if name == "msa":
            if msa_start is not None:
                first_count = int(msa_start)
            elif warm_start is not None:
                radius = work.loading_map_radius(work.link_flows(path_flow))
                first_count = max(1, math.ceil(1.0 + radius / 2.0))
        outcome = _averaging(work, path_flow, name == "line-search", first_count, tolerance,
                             criterion, max_iterations, deadline, progress)

    path_flow = outcome.path_flow
    flow = work.link_flows(path_flow)
    path_cost, y = work.load(flow)
    residual, relative_residual = work.measures(path_flow - y)
    positive = path_flow[path_flow > 0]
    fisk = problem.links.beckmann(flow) + float(np.sum(positive * (np.log(positive) - 1.0))) / theta
    state = SueState(fingerprint, work.paths, path_flow.copy(), graph.od_demand.copy(), mode)
    return SueResult(
        status=outcome.status,
        method=name,
        theta=theta,
        link_flow=flow,
        link_cost=work.cost.copy(),
        paths=work.paths,
        path_flow=path_flow,
        path_cost=path_cost,
        fisk_objective=fisk,
        residual=residual,
        relative_residual=relative_residual,
        step=float(outcome.step),
        relative_step=float(outcome.relative_step),
        iterations=outcome.iterations,
        loadings=work.loadings,
        seconds=time.perf_counter() - started,
        path_set_mode=mode,
        criterion=criterion,
        history=tuple(outcome.history),
        extra=outcome.extra,
        warm_start=state,
        problem=problem,
    )

"""The route set, link parameters and buffers every SUE iteration loop works on, with the loading.

Why this module exists: MSA, the exact-line-search variant and Newton
(:mod:`~ptn.engines.traffic.sue.msa`, :mod:`~ptn.engines.traffic.sue.newton`) all repeat the
same few operations on one route set: route flows to link flows (``x = A f``), the logit loading
at the link costs of ``x``, column generation, the step and residual measures and the stopping
test. They live here once, with the numba kernels that make them fast.

Logit loading (Daganzo & Sheffi 1977; Sheffi 1985, ch. 10–12)::

    P_k = exp(-theta * c_k) / sum_{j in K_w} exp(-theta * c_j),     y_k = d_w * P_k,

evaluated with the stable log-sum-exp (costs shifted by the OD's minimum); ``c_k = sum_a n_ka *
c_a(x_a)`` with ``c_a`` the problem's *generalized* link cost
(:meth:`~ptn.engines.traffic.link_costs.LinkCosts.costs`, so tolls and charging prices enter).
Column generation adds each OD's shortest route at the current costs if new, as the path-based
UE does (Damberg, Lundgren & Patriksson 1996, Transportation Research B 30(2), 115–131; Bekhor &
Toledo 2005, Transportation Research B 39(3), 279–295).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from ptn.engines.traffic.graph import CompiledGraph
from ptn.engines.traffic.link_costs import refresh_link_states
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_sets import PathSet, shortest_path_columns
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentStatus

#: called after every iteration with the iteration number and its criterion value
ProgressCallback = Callable[[int, float], None]


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
def apply_logit_link_matrix(od_first, path_first, path_links, y, od_demand, vector):  # type: ignore[no-untyped-def]
    """``A S A^T v`` without forming the matrix (link-route incidence A; S: per-OD
    ``diag(y_w) - y_w y_w^T / d_w``): one pass over the route set, memory linear in its size.
    ``-theta * A S A^T`` is the derivative of the logit link loading with respect to link
    costs (Newton's Jacobian term, :mod:`ptn.engines.traffic.sue.newton`; MSA's warm-start
    step, :mod:`ptn.engines.traffic.sue.msa`)."""
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


@nb.njit(cache=True)
def logit_link_matrix_diagonal(od_first, path_first, path_links, y, od_demand, num_links):  # type: ignore[no-untyped-def]
    """The diagonal of ``A S A^T`` (see :func:`apply_logit_link_matrix`):
    ``sum_k y_k n_ka^2 - sum_w (sum_{k in w} y_k n_ka)^2 / d_w``, without forming the matrix."""
    out = np.zeros(num_links)
    u = np.zeros(num_links)
    repeats = np.zeros(num_links, dtype=np.int64)
    touched = np.empty(num_links, dtype=np.int64)
    for od in range(od_demand.size):
        count = 0
        for p in range(od_first[od], od_first[od + 1]):
            yp = y[p]
            if yp == 0.0:
                continue
            for i in range(path_first[p], path_first[p + 1]):
                repeats[path_links[i]] += 1
            for i in range(path_first[p], path_first[p + 1]):
                a = path_links[i]
                n = repeats[a]
                if n == 0:
                    continue  # a repeated link, already counted
                repeats[a] = 0
                if u[a] == 0.0:
                    touched[count] = a
                    count += 1
                u[a] += yp * n
                out[a] += yp * n * n
        inv = 1.0 / od_demand[od]
        for i in range(count):
            a = touched[i]
            out[a] -= u[a] * u[a] * inv
            u[a] = 0.0
    return out


class Workspace:
    """Route set, link parameters and buffers shared by the iteration loops.

    ``theta`` is mutable: Newton's continuation solves an easier problem at a smaller theta on
    the same workspace (:mod:`ptn.engines.traffic.sue.newton`).
    """

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

    def measures(self, change: FloatArray) -> tuple[float, float]:
        """Max absolute and max relative (per OD demand) entry of a route-flow change."""
        if not change.size:
            return 0.0, 0.0
        magnitude = np.abs(change)
        return float(magnitude.max()), float((magnitude / self.demand_per_path()).max())


@dataclass(frozen=True)
class IterationControl:
    """When an iteration loop stops, and whom it tells about each iterate.

    ``criterion``: ``"step"`` or ``"residual"`` (the measure compared with ``tolerance``, veh/h);
    ``deadline``: a :func:`time.perf_counter` time, or None; ``progress(iteration, criterion
    value)`` is called after every iteration.
    """

    tolerance: float
    criterion: str
    max_iterations: int
    deadline: float | None
    progress: ProgressCallback | None

    def report(self, history: list[float], iteration: int, value: float) -> None:
        """Record an iterate's criterion ``value`` in ``history`` and tell ``progress``."""
        history.append(value)
        if self.progress is not None:
            self.progress(iteration, value)

    def after_iterate(self, history: list[float], iteration: int, value: float,
                      path_flow: FloatArray, added: int) -> AssignmentStatus | None:
        """Report the iterate, then say why the loop stops after it, if it does: non-finite
        flows, converged (``added``: no route was just added), or out of time."""
        self.report(history, iteration, value)
        if not np.all(np.isfinite(path_flow)):
            return AssignmentStatus.NUMERICAL_ERROR
        if value <= self.tolerance and not added:
            return AssignmentStatus.CONVERGED
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return AssignmentStatus.TIME_LIMIT
        return None


@dataclass
class IterationOutcome:
    """Where an iteration loop ended: the route flows, why, and its last step measures.

    ``stalled``: Newton gave up because its steps stayed damped (the start is too far for this
    theta; :func:`ptn.engines.traffic.sue.newton.newton_with_continuation` then continues).
    """

    path_flow: FloatArray
    status: AssignmentStatus
    iterations: int
    step: float
    relative_step: float
    history: list[float]
    extra: dict[str, float] = field(default_factory=dict)
    stalled: bool = False


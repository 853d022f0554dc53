"""The logit SUE's entry point: checks the options, builds the route set, runs a method.

Why this module exists: :func:`solve_stochastic_equilibrium` is what the traffic department,
the per-period study (:mod:`ptn.engines.traffic.sue_periods`), ``ptn assign`` and the references
call; it validates its input at the boundary (``InvalidInputError`` naming the bad option) and
turns the method's outcome into a :class:`~ptn.engines.traffic.sue.results.SueResult`. The model
and its sources are in :mod:`ptn.engines.traffic.sue`.

Methods: ``"newton"`` (default, fastest; :mod:`~ptn.engines.traffic.sue.newton`),
``"line-search"`` and ``"msa"`` (seed 002's; :mod:`~ptn.engines.traffic.sue.msa`). Route sets:
:mod:`~ptn.engines.traffic.sue.route_sets`.

Convergence: ``criterion="step"`` (seed 002) stops when ``max_k |f_k^{n+1} - f_k^n| <= tolerance``
(veh/h); ``criterion="residual"`` when the SUE fixed-point residual ``max_k |f_k - y_k(c(f))|``
is. Both, and their relative forms (divided by the route's OD demand: errors in choice
probability), are reported. For MSA the step is the residual divided by ``n``, so the seed's rule
stops well short of the fixed point once ``n`` is large; accuracy claims should use the residual.
Statuses (:class:`~ptn.engines.traffic.result.AssignmentStatus`): see
:mod:`~ptn.engines.traffic.sue.newton` for what ``NUMERICAL_ERROR`` means there. The best point
reached is returned either way.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.path_sets import DEFAULT_MAX_PATHS_PER_OD, PathSet
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue.msa import averaging, warm_start_count
from ptn.engines.traffic.sue.newton import newton_with_continuation
from ptn.engines.traffic.sue.results import SueResult, SueState
from ptn.engines.traffic.sue.route_sets import initial_paths, network_fingerprint, warm_paths
from ptn.engines.traffic.sue.workspace import IterationControl, ProgressCallback, Workspace

METHODS = ("newton", "line-search", "msa")
_METHOD_ALIASES = {
    "newton": "newton",
    "line-search": "line-search", "optimal-step": "line-search", "msa-line-search": "line-search",
    "chen-alfa": "line-search",
    "msa": "msa",
}
CRITERIA = ("step", "residual")
DEFAULT_MAX_ITERATIONS = 100_000


def canonical_method(name: str) -> str:
    """The canonical SUE method name for a name or alias."""
    key = str(name).strip().lower()
    if key not in _METHOD_ALIASES:
        raise InvalidInputError(f"unknown SUE method {name!r} (choose from {', '.join(METHODS)})")
    return _METHOD_ALIASES[key]


def check_theta(theta: float) -> float:
    """``theta`` (logit dispersion, 1/cost unit) as a float, or InvalidInputError naming it."""
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
    ``1/n`` (default 1 cold, automatic when warm; see :mod:`ptn.engines.traffic.sue.msa`).
    ``progress(iteration, criterion value)`` is called after every iteration. Invalid input
    (e.g. theta <= 0 or not finite) raises :class:`~ptn.engines.errors.InvalidInputError`.
    """
    started = time.perf_counter()
    theta = check_theta(theta)
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
    fingerprint = network_fingerprint(problem, graph)
    num_links = problem.num_links
    free_cost = problem.links.costs(np.zeros(num_links))
    if warm_start is not None:
        if warm_start.fingerprint != fingerprint:
            raise InvalidInputError(
                "warm start comes from a different network (links, class graphs or OD pairs "
                "differ)"
            )
        paths, path_flow, mode = warm_paths(graph, warm_start, free_cost, path_set,
                                            max_paths_per_od)
        work = Workspace(problem, graph, theta, paths, mode == "generated")
    else:
        paths, mode = initial_paths(graph, free_cost, path_set, max_paths_per_od, num_links)
        work = Workspace(problem, graph, theta, paths, mode == "generated")
        _, path_flow = work.load(np.zeros(num_links))  # logit loading at free-flow costs

    deadline = None if time_limit_seconds is None else started + time_limit_seconds
    control = IterationControl(tolerance, criterion, max_iterations, deadline, progress)
    if name == "newton":
        outcome = newton_with_continuation(work, work.link_flows(path_flow), path_flow, control)
    else:
        first_count = 1
        if name == "msa":
            if msa_start is not None:
                first_count = int(msa_start)
            elif warm_start is not None:
                first_count = warm_start_count(work, path_flow)
        outcome = averaging(work, path_flow, name == "line-search", first_count, control)

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

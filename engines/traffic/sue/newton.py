"""Newton's method on the link-flow fixed point of the logit SUE, with continuation in theta.

Why this module exists: MSA (seed 002) converges like 1/n, and the traffic department answers
the many load queries of a negotiation; this much faster method for the same fixed point is the
solver's default.

``"newton"``: Newton's method on the link-flow fixed point ``F(x) = x - A y(c(x)) = 0`` (the
stationarity condition of Sheffi & Powell's 1982 unconstrained SUE program), with the exact
Jacobian ``J = I + theta * A S A^T diag(c'(x))`` (``S``: block-diagonal logit covariance
``diag(y_w) - y_w y_w^T / d_w``) and Armijo backtracking on ``|F|``. ``J``'s eigenvalues are
>= 1 (``A S A^T diag(c')`` is similar to a positive semidefinite matrix), so the Newton
direction always exists and descends ``|F|``; convergence is quadratic at the end. An iterate's
route flows are ``y(c(x))``: they keep the logit ratios exactly, which avoids the
ill-conditioning of route-flow methods at large theta (UE route flows are not unique; only the
weak entropy term pins them down). At large theta the loading is nearly a step function of cost
and Newton from a far start crawls; after 3 steps in a row of at most 1/32 it first solves the
problem at theta / 10 (recursively) and starts from that equilibrium (continuation in theta).
Under ``criterion="step"`` only full Newton steps count (a damped step's small change proves
nothing). The Jacobian is never formed: each Newton direction is found by conjugate gradients
on a symmetrised form of ``J`` whose products with ``A S A^T`` are passes over the route set
(:func:`newton_direction`), so memory grows linearly with links and routes. (Until issue 16 it
solved a dense links x links system: 3 x 70 MB on Chicago Sketch's 2,950 links, and
quadratically more beyond; docs/traffic.md has the figures.)

Status ``NUMERICAL_ERROR`` from Newton means no step reduced ``|F|`` any more while the criterion
was unmet: the tolerance is below the rounding floor, which grows with theta because the logit
amplifies cost rounding by about ``theta * d`` (on Nguyen–Dupuis the residual floor is ~1e-6
veh/h at theta = 100 per minute). The best point reached is returned either way.

References: Y. Sheffi & W. B. Powell (1982), "An algorithm for the equilibrium assignment problem
with random link times", Networks 12(2), 191–207. Y. Sheffi (1985), *Urban Transportation
Networks*, Prentice-Hall.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue.workspace import (
    IterationControl,
    IterationOutcome,
    Workspace,
    apply_logit_link_matrix,
    logit_link_matrix_diagonal,
)

#: damped steps in a row after which Newton gives up on its start (continuation follows)
NEWTON_PATIENCE = 3
#: a step of at most this size (after backtracking) counts as damped
NEWTON_STALL_STEP = 1.0 / 32.0
#: continuation divides theta by this
CONTINUATION_FACTOR = 10.0
#: continuation stages at the most (the last Newton runs without patience)
MAX_CONTINUATION_DEPTH = 16
#: relative residual at which conjugate gradients stop solving for the Newton direction
NEWTON_CG_TOLERANCE = 1e-10
#: conjugate-gradient iterations per Newton direction at the most (the line search guards the
#: direction if they run out)
NEWTON_CG_MAX_ITERATIONS = 2000


def newton_direction(work: Workspace, y: FloatArray, residual: FloatArray) -> tuple[
    FloatArray, int
]:
    """Solve ``J delta = -F`` with ``J = I + theta * M D`` (``M = A S A^T`` at route flows
    ``y``, ``D = diag(c')`` from ``work.deriv``) without forming ``J``; also the CG iterations.

    With ``s = sqrt(D)``, ``w = s delta`` solves the symmetric positive definite system
    ``(I + theta * s M s) w = -s F`` (eigenvalues >= 1), and then
    ``delta = -F - theta * M s w``. The system is solved by conjugate gradients preconditioned
    with its diagonal (:func:`~ptn.engines.traffic.sue.workspace.logit_link_matrix_diagonal`);
    each product with ``M`` is one pass over the route set. Memory: a few link-sized vectors.
    """
    paths = work.paths
    theta = work.theta
    scale = np.sqrt(np.maximum(work.deriv, 0.0))

    def apply_m(vector: FloatArray) -> FloatArray:
        return apply_logit_link_matrix(  # type: ignore[no-any-return]
            paths.od_first, paths.path_first, paths.path_links, y, work.demand, vector)

    diagonal = logit_link_matrix_diagonal(paths.od_first, paths.path_first, paths.path_links, y,
                                          work.demand, work.num_links)
    inverse_diagonal = 1.0 / np.maximum(1.0 + theta * scale * scale * diagonal, 1.0)
    rhs = -scale * residual
    solution = np.zeros_like(rhs)
    remainder = rhs.copy()
    target = NEWTON_CG_TOLERANCE * float(np.linalg.norm(rhs))
    preconditioned = inverse_diagonal * remainder
    direction = preconditioned.copy()
    product = float(remainder @ preconditioned)
    iterations = 0
    while float(np.linalg.norm(remainder)) > target and iterations < NEWTON_CG_MAX_ITERATIONS:
        iterations += 1
        image = direction + theta * scale * apply_m(scale * direction)
        curvature = float(direction @ image)
        if not curvature > 0.0:
            break
        step = product / curvature
        solution += step * direction
        remainder -= step * image
        preconditioned = inverse_diagonal * remainder
        next_product = float(remainder @ preconditioned)
        direction = preconditioned + (next_product / product) * direction
        product = next_product
    return -residual - theta * apply_m(scale * solution), iterations


def _newton(
    work: Workspace,
    start: FloatArray,
    start_paths: FloatArray | None,
    control: IterationControl,
    patience: int | None,
) -> IterationOutcome:
    """Damped Newton on the link-flow fixed point ``F(x) = x - A y(c(x)) = 0``.

    Jacobian ``J = I + theta * A S A^T diag(c'(x))`` (matrix-free, :func:`newton_direction`);
    Armijo backtracking on ``|F|``, from link flows ``start`` (``start_paths``: its route flows,
    if known, for the first step measure). The route flows of iterate ``x`` are ``y(c(x))``.
    With ``patience``, gives up (``stalled``) after that many steps in a row of at most
    ``NEWTON_STALL_STEP``: the start is too far for this theta.
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
    linear_iterations = 0
    damped_in_row = 0
    full_step = True  # the first "step" is f0's own fixed-point residual
    stalled = False

    def fixed_point_residual(x: FloatArray, residual: FloatArray, flows: FloatArray) -> float:
        """max |f - y(c(A f))| for the route flows ``f = y(c(x))`` (``A f = x - F(x)``)."""
        _, y_next = work.load(x - residual)
        return work.measures(flows - y_next)[0]

    _, y = work.load(x)
    residual_vector = x - work.link_flows(y)
    while iterations < control.max_iterations:
        iterations += 1
        added, (previous, y) = work.add_columns(x, previous, y)
        if added:
            _, y = work.load(x)
            residual_vector = x - work.link_flows(y)
        path_flow = y
        step, relative_step = work.measures(path_flow - previous)
        previous = path_flow
        if control.criterion == "residual" or not full_step:
            # a damped step's change says nothing about the distance to the fixed point (at
            # large theta y(c(x)) barely moves while x crawls): judge such iterates by residual
            value = fixed_point_residual(x, residual_vector, path_flow)
        else:
            value = step
        stop = control.after_iterate(history, iterations, value, path_flow, added)
        if stop is not None:
            status = stop
            break
        if patience is not None and damped_in_row >= patience:
            stalled = True
            break
        work.set_costs(x)
        delta, cg_iterations = newton_direction(work, y, residual_vector)
        linear_iterations += cg_iterations
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
            converged = fixed_point_residual(x, residual_vector, path_flow) <= control.tolerance
            status = AssignmentStatus.CONVERGED if converged else AssignmentStatus.NUMERICAL_ERROR
            break
        damped_in_row = damped_in_row + 1 if size <= NEWTON_STALL_STEP else 0
        full_step = size == 1.0
        x, y, residual_vector = candidate, y_candidate, candidate_residual
    return IterationOutcome(path_flow, status, iterations, step, relative_step, history,
                            {"newton_backtracks": float(backtracks),
                             "newton_cg_iterations": float(linear_iterations)}, stalled)


def newton_with_continuation(
    work: Workspace,
    start: FloatArray,
    start_paths: FloatArray | None,
    control: IterationControl,
    depth: int = 0,
) -> IterationOutcome:
    """Newton at ``work.theta``; if it stalls, first solve at theta / 10 and start from there.

    Large theta makes the logit loading nearly a step function of cost, and Newton from a far
    start then crawls with tiny damped steps; the easier problem's equilibrium is a start close
    enough for full steps (continuation in theta, recursively).
    """
    patience = NEWTON_PATIENCE if depth < MAX_CONTINUATION_DEPTH else None
    first = _newton(work, start, start_paths, control, patience)
    if not first.stalled:
        return first
    theta = work.theta
    work.theta = theta / CONTINUATION_FACTOR
    try:
        easier = newton_with_continuation(
            work, start, None,
            replace(control, max_iterations=max(1, control.max_iterations - first.iterations),
                    progress=None),
            depth + 1)
    finally:
        work.theta = theta
    used = first.iterations + easier.iterations
    progress = control.progress

    def shifted(iteration: int, value: float) -> None:
        assert progress is not None
        progress(iteration + used, value)

    final = _newton(work, work.link_flows(easier.path_flow), easier.path_flow,
                    replace(control, max_iterations=max(1, control.max_iterations - used),
                            progress=None if progress is None else shifted), None)
    final.iterations += used
    final.history = first.history + final.history
    for key in ("newton_backtracks", "newton_cg_iterations"):
        final.extra[key] += first.extra[key] + easier.extra[key]
    final.extra["continuation_stages"] = easier.extra.get("continuation_stages", 0.0) + 1.0
    return final

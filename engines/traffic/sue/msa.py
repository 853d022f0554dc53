"""Seed 002's method of successive averages (MSA) for the logit SUE, and its line-search variant.

Why this module exists: seed 002 solves each period's SUE by MSA, warm-started from the previous
period (``../shared/seeds/002_*``, section 3 and its MSA framework); the study reproduces it, and
the exact-line-search variant takes the same direction with a far better step.

* ``"msa"`` (Sheffi 1985, §12.2): ``f^{n+1} = f^n + (1/n) (y^n - f^n)``, ``y^n`` the logit
  loading at ``c(f^n)``; cold start ``f^1`` = logit loading at free-flow costs, ``n`` from 1.
  Warm start: ``f^1`` = the previous solution with each OD's route flows rescaled to the new
  demand. Restarting at ``n = 1`` would throw it away (``f^2 = y^1``), and resuming the previous
  period's ``n`` (the seed never resets it) makes the steps negligible; so a warm start begins
  at ``n0 = ceil(1 + rho / 2)`` (:func:`warm_start_count`), with ``rho`` the spectral radius of
  the linearised loading map ``theta * A S A^T diag(c')`` at ``f^1`` (power iteration):
  ``1 / n0 = 2 / (2 + rho)`` is the best constant relaxation step of that linear map. The
  solver's ``msa_start`` overrides ``n0``. Converges like 1/n whatever the start.
* ``"line-search"``: the same direction ``y - f`` with the step that minimises Fisk's objective
  exactly (Chen & Alfa 1991; Maher 1998; :mod:`ptn.engines.traffic.sue.line_search`). Cheap
  iterations; linear convergence that slows as theta grows.

For MSA the step ``max_k |f_k^{n+1} - f_k^n|`` is the fixed-point residual divided by ``n``, so
the seed's step rule stops well short of the fixed point once ``n`` is large.

References: Y. Sheffi (1985), *Urban Transportation Networks*, Prentice-Hall. M. Chen &
A. S. Alfa (1991), "Algorithms for solving Fisk's stochastic traffic assignment model",
Transportation Research B 25(6), 405–412. M. Maher (1998), "Algorithms for logit-based
stochastic user equilibrium assignment", Transportation Research B 32(8), 539–549.
"""

from __future__ import annotations

import math

import numpy as np

from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue.line_search import fisk_line_search
from ptn.engines.traffic.sue.workspace import (
    IterationControl,
    IterationOutcome,
    Workspace,
    apply_logit_link_matrix,
)


def loading_map_radius(work: Workspace, link_flow: FloatArray, iterations: int = 50) -> float:
    """Spectral radius of ``theta * A S A^T diag(c')`` at ``link_flow`` (power iteration)."""
    _, y = work.load(link_flow)
    deriv = work.deriv.copy()
    vector = np.ones(work.num_links)
    radius = 0.0
    for _ in range(iterations):
        image = work.theta * apply_logit_link_matrix(
            work.paths.od_first, work.paths.path_first, work.paths.path_links, y,
            work.demand, deriv * vector)
        norm = float(np.linalg.norm(image))
        if not norm > 0.0 or not math.isfinite(norm):
            return 0.0 if norm == 0.0 else radius
        radius = norm / float(np.linalg.norm(vector))
        vector = image / norm
    return radius


def warm_start_count(work: Workspace, path_flow: FloatArray) -> int:
    """MSA's first ``n`` from the warm start ``path_flow``: ``ceil(1 + rho / 2)``, at least 1."""
    radius = loading_map_radius(work, work.link_flows(path_flow))
    return max(1, math.ceil(1.0 + radius / 2.0))


def averaging(
    work: Workspace,
    path_flow: FloatArray,
    exact_step: bool,
    first_count: int,
    control: IterationControl,
) -> IterationOutcome:
    """MSA (step 1/n) or its exact-line-search variant along the logit direction y - f."""
    history: list[float] = []
    step = relative_step = math.inf
    status = AssignmentStatus.MAX_ITERATIONS
    line_step = 0.5
    iterations = 0
    while iterations < control.max_iterations:
        iterations += 1
        flow = work.link_flows(path_flow)
        added, (path_flow,) = work.add_columns(flow, path_flow)
        _, y = work.load(flow)
        direction = y - path_flow
        gap_now, _ = work.measures(direction)
        if control.criterion == "residual" and gap_now <= control.tolerance and not added:
            step = relative_step = 0.0  # f^n already meets the tolerance: keep it
            control.report(history, iterations, gap_now)
            status = AssignmentStatus.CONVERGED
            break
        if exact_step:
            dx = work.link_flows(direction)
            size = float(fisk_line_search(work.paths.od_first, work.paths.path_first,
                                          work.paths.path_links, path_flow, direction, flow,
                                          dx, *work.params, work.theta, line_step))
            line_step = size
        else:
            size = 1.0 / (first_count + iterations - 1)
        move = size * direction
        path_flow = np.maximum(path_flow + move, 0.0)
        step, relative_step = work.measures(move)
        value = step if control.criterion == "step" else gap_now
        stop = control.after_iterate(history, iterations, value, path_flow, added)
        if stop is not None:
            status = stop
            break
    extra = {} if exact_step else {"msa_start": float(first_count)}
    return IterationOutcome(path_flow, status, iterations, step, relative_step, history, extra)

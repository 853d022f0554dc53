"""A joint Newton step over all path flows: the fast tail of the path-based UE solver.

Gauss–Seidel Newton shifts (one OD at a time) converge linearly: near equilibrium, when many OD
pairs share links, each OD's correction disturbs the others and the gap shrinks by a roughly
constant factor per sweep. With the path sets fixed, the restricted problem is

    min  sum_a integral_0^{x_a} c_a   s.t.  x = x0 + D y,

where column j of D is ``delta_p - delta_b`` for a non-basic path p of some OD and its basic
(largest-flow) path b, and y moves flow from b to p. Its gradient is ``g = D^T c`` (the path cost
differences) and its Hessian ``D^T diag(c') D``. We solve ``(D^T diag(c') D) y = -g`` by conjugate
gradients without forming the matrix, project the step onto non-negative path flows (the
projected Newton method of Bertsekas 1982 / Bertsekas & Gafni 1983 for traffic assignment), and
accept it only if the Beckmann objective decreases (halving it otherwise). Near the
optimum this converges quadratically, which is what makes a warm re-solve after a small price
change cost a few shortest-path passes instead of hundreds of sweeps.

The projection keeps an active set: paths the step would drive below zero flow are fixed at
zero (their step is minus their flow) and the system is solved again for the other paths, up
to :data:`ACTIVE_SET_ROUNDS` times. Clipping a step computed as if those paths could go negative
made the full step overshoot: on Sioux Falls the line search accepted only its half, every
time, so the "Newton" tail converged linearly by a factor ~2.5; with the active set a warm
re-solve after a 5 % price change on one link takes 2 iterations (was 4, by luck of rounding:
13-14 with the tolerance 1e-7 or 1e-9), a cold one 10 (was 14).

The matrix-free CG runs in one compiled kernel over D stored by columns (each column's links
with their net coefficient, links shared by the path and its basic path cancelled). It used to be
scipy's ``cg`` over scipy.sparse matrices: the same iteration, but importing scipy.sparse and its
linalg cost every ``ptn assign`` process 0.14 s (a tenth of a Chicago Sketch run) and each of the
CG iterations of a step paid Python-level dispatch.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ptn.engines.traffic.link_costs import LinkCosts
from ptn.engines.traffic.network import FloatArray


@nb.njit(cache=True)
def _nonbasic_columns(od_head, links, start, length, pflow, pnext, cost):  # type: ignore[no-untyped-def]
    """Non-basic paths worth moving (used, or cheaper than the basic one) and their basic paths."""
    count = 0
    for od in range(od_head.size):
        p = od_head[od]
        while p >= 0:
            count += 1
            p = pnext[p]
    path = np.empty(count, dtype=np.int64)
    basic = np.empty(count, dtype=np.int64)
    m = 0
    for od in range(od_head.size):
        if od_head[od] < 0 or pnext[od_head[od]] < 0:
            continue  # one path (most OD pairs): no column
        b = -1
        best_flow = -1.0
        p = od_head[od]
        while p >= 0:
            if pflow[p] > best_flow:
                best_flow = pflow[p]
                b = p
            p = pnext[p]
        if b < 0:
            continue
        cb = 0.0
        for i in range(start[b], start[b] + length[b]):
            cb += cost[links[i]]
        p = od_head[od]
        while p >= 0:
            if p != b:
                cp = 0.0
                for i in range(start[p], start[p] + length[p]):
                    cp += cost[links[i]]
                if pflow[p] > 0.0 or cp < cb:
                    path[m] = p
                    basic[m] = b
                    m += 1
            p = pnext[p]
    return path[:m], basic[:m]


@nb.njit(cache=True)
def net_columns(path, basic, links, start, length, num_links):  # type: ignore[no-untyped-def]
    """D by columns: column j holds ``row[col_start[j]:col_start[j+1]]`` (links) with ``value``
    (+1 per occurrence on the path, -1 per occurrence on its basic path, zeros dropped)."""
    marks = np.zeros(num_links, dtype=np.int64)
    bound = 0
    for j in range(path.size):
        bound += length[path[j]] + length[basic[j]]
    row = np.empty(bound, dtype=np.int64)
    value = np.empty(bound)
    col_start = np.empty(path.size + 1, dtype=np.int64)
    k = 0
    for j in range(path.size):
        col_start[j] = k
        p = path[j]
        b = basic[j]
        for i in range(start[p], start[p] + length[p]):
            marks[links[i]] += 1
        for i in range(start[b], start[b] + length[b]):
            marks[links[i]] -= 1
        for q in (p, b):
            for i in range(start[q], start[q] + length[q]):
                a = links[i]
                if marks[a] != 0:
                    row[k] = a
                    value[k] = marks[a]
                    marks[a] = 0
                    k += 1
    col_start[path.size] = k
    return col_start, row[:k], value[:k]


@nb.njit(cache=True)
def link_change(col_start, row, value, step, num_links):  # type: ignore[no-untyped-def]
    """D @ step: the link flow change of moving ``step[j]`` onto column j's path."""
    out = np.zeros(num_links)
    for j in range(step.size):
        for k in range(col_start[j], col_start[j + 1]):
            out[row[k]] += value[k] * step[j]
    return out


@nb.njit(cache=True)
def _hessian_product(col_start, row, value, derivative, shift, v, work):  # type: ignore[no-untyped-def]
    """(D^T diag(c') D + diag(shift)) v, with ``work`` a zeroed links-long scratch array."""
    for j in range(v.size):
        for k in range(col_start[j], col_start[j + 1]):
            work[row[k]] += value[k] * v[j]
    out = np.empty(v.size)
    for j in range(v.size):
        total = 0.0
        for k in range(col_start[j], col_start[j + 1]):
            total += value[k] * derivative[row[k]] * work[row[k]]
        out[j] = total + shift[j] * v[j]
    for j in range(v.size):
        for k in range(col_start[j], col_start[j + 1]):
            work[row[k]] = 0.0
    return out


#: the gradient's rounding error, in units of the last place of the summed path costs: the CG
#: stops once its residual is below it
ROUNDING_ULPS = 4.0

#: Newton systems solved per step: each round fixes the paths the previous step would empty
#: at zero flow and re-solves for the others
ACTIVE_SET_ROUNDS = 3

#: a CG search direction p with p·Hp below this fraction of p·diag(H)p ends the CG
NEGLIGIBLE_CURVATURE = 1e-6

#: the CG's relative residual target per Newton system
CG_RTOL = 1e-8

#: the CG's iteration cap per Newton system: a truncated (inexact) Newton step. The next
#: iteration re-linearizes anyway, and the path sets still change between steps; with 200
#: (which the CG reached on most systems) Chicago Sketch took the same 14 iterations in
#: 0.76 s instead of 0.61 s, the 10,100-node CityGrid 20 in 4.5 s instead of 19-21 in
#: 3.1-3.5 s, Winnipeg 22 instead of 19 (2 threads, in-process)
CG_MAX_ITERATIONS = 50


@nb.njit(cache=True)
def newton_direction(col_start, row, value, cost, derivative, rtol, max_iterations, free, initial):  # type: ignore[no-untyped-def]
    """Solve (D^T diag(c') D) y = -D^T c by Jacobi-preconditioned conjugate gradients (the
    iteration of scipy's ``cg``: stop when the residual is below ``rtol`` times the right-hand
    side's norm), the matrix regularised by 1e-12 of its diagonal where the costs are flat.
    Only the columns with ``free`` 1 move; the others keep their entry of ``initial`` (the
    projection's active set, see :func:`newton_step`), whose free entries are the CG's
    starting point (the previous round's solution).

    Truncated (as in Steihaug's truncated Newton) when a search direction has curvature below
    :data:`NEGLIGIBLE_CURVATURE` of its diagonal estimate: near equilibrium two paths can differ
    only on links of flat cost, and the residual then reaches rounding level just above the
    tolerance; one more step divides by that near-zero curvature and jumps by orders of magnitude
    along the flat direction (seen on Sioux Falls after a 5 % price change: a 0.37 step where the
    converged one is 3e-4, rejected by the line search). Every CG iterate is a descent direction.
    """
    m = col_start.size - 1
    rhs = np.empty(m)
    diagonal = np.empty(m)
    noise = 0.0
    for j in range(m):
        g = 0.0
        d = 0.0
        magnitude = 0.0
        for k in range(col_start[j], col_start[j + 1]):
            g += value[k] * cost[row[k]]
            d += value[k] * value[k] * derivative[row[k]]
            magnitude += abs(value[k] * cost[row[k]])
        rhs[j] = -g
        diagonal[j] = max(d, 1e-300)
        noise += (ROUNDING_ULPS * 2.220446049250313e-16 * magnitude) ** 2
    shift = 1e-12 * diagonal
    work = np.zeros(cost.size)
    x = initial.copy()
    r = free * (rhs - _hessian_product(col_start, row, value, derivative, shift, x, work))
    tolerance = max(rtol * np.sqrt(np.dot(r, r)), np.sqrt(noise))
    if tolerance == 0.0:
        return x
    p = np.zeros(m)
    rho_previous = np.inf  # the first direction is z itself
    for _ in range(max_iterations):
        if np.sqrt(np.dot(r, r)) < tolerance:
            break
        z = free * r / diagonal
        rho = np.dot(r, z)
        p = z + (rho / rho_previous) * p
        q = free * _hessian_product(col_start, row, value, derivative, shift, p, work)
        curvature = np.dot(p, q)
        if not curvature > NEGLIGIBLE_CURVATURE * np.dot(p, diagonal * p):
            break  # truncated: a near-null direction would take a huge, meaningless step
        alpha = rho / curvature
        x += alpha * p
        r -= alpha * q
        rho_previous = rho
    return x


def within_basic_flow(moved: FloatArray, basic: np.ndarray, path_flow: FloatArray) -> FloatArray:
    """``moved`` with each OD's moves scaled down where they would take more flow from its basic
    path than it carries (the basic path is not a variable of the Newton system, so nothing else
    bounds it). Without this, Chicago Sketch's Newton step was rejected every time: a few of
    its ~500 ODs overdrew their basic path at every fraction of the step, while the objective
    fell as the quadratic model said."""
    taken = np.zeros(path_flow.size)
    np.add.at(taken, basic, moved)
    carried = path_flow[basic]
    overdrawn = taken[basic] > carried
    if not overdrawn.any():
        return moved
    scale = np.ones(moved.size)
    scale[overdrawn] = carried[overdrawn] / taken[basic][overdrawn] * (1.0 - 1e-12)
    return moved * scale


def newton_step(
    links: LinkCosts,
    link_flow: FloatArray,
    od_head: np.ndarray,
    path_links: np.ndarray,
    path_start: np.ndarray,
    path_length: np.ndarray,
    path_flow: FloatArray,
    path_next: np.ndarray,
) -> bool:
    """Move path flows (in place) by one safeguarded Newton step; True if it was taken."""
    cost = links.costs(link_flow)
    path, basic = _nonbasic_columns(od_head, path_links, path_start, path_length, path_flow,
                                    path_next, cost)
    if path.size == 0:
        return False
    col_start, col_row, col_value = net_columns(path, basic, path_links, path_start, path_length,
                                                 link_flow.size)
    derivative = links.cost_derivatives(link_flow)
    current = path_flow[path]
    free = np.ones(path.size)
    step = np.zeros(path.size)
    for _ in range(ACTIVE_SET_ROUNDS):
        step = newton_direction(col_start, col_row, col_value, cost, derivative, CG_RTOL,
                                CG_MAX_ITERATIONS,
                                free, np.where(free > 0.0, step, -current))
        if not np.all(np.isfinite(step)):
            return False
        emptied = (free > 0.0) & (current + step < 0.0)
        if not emptied.any():
            break
        free[emptied] = 0.0
    # projected step: non-basic flows are clipped at zero, basic paths absorb the change
    before = links.beckmann(link_flow)
    for fraction in (1.0, 0.5, 0.25, 0.125):
        moved = within_basic_flow(np.maximum(current + fraction * step, 0.0) - current, basic,
                                  path_flow)
        basic_flow = path_flow.copy()
        np.add.at(basic_flow, basic, -moved)
        if np.any(basic_flow[basic] < 0.0):
            continue
        change = link_change(col_start, col_row, col_value, moved, link_flow.size)
        trial_flow = np.maximum(link_flow + change, 0.0)
        # the objective decreased if it did, or — robust when the decrease is below floating-point
        # resolution — if the step went downhill and the slope at the trial point is less than
        # half the initial slope's magnitude (for a convex quadratic: overshoot below 1.5x)
        initial_slope = float(cost @ change)
        trial_slope = float(links.costs(trial_flow) @ change)
        if links.beckmann(trial_flow) < before or (
            initial_slope < 0.0 and trial_slope <= 0.5 * -initial_slope
        ):
            basic_flow[path] = current + moved
            path_flow[:] = basic_flow
            return True
    return False

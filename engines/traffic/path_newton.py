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
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

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
def _incidence(path, basic, links, start, length):  # type: ignore[no-untyped-def]
    """COO triplets of D: +1 per link occurrence on the path, -1 on its basic path."""
    nnz = 0
    for j in range(path.size):
        nnz += length[path[j]] + length[basic[j]]
    rows = np.empty(nnz, dtype=np.int64)
    cols = np.empty(nnz, dtype=np.int64)
    vals = np.empty(nnz)
    k = 0
    for j in range(path.size):
        p = path[j]
        for i in range(start[p], start[p] + length[p]):
            rows[k] = links[i]
            cols[k] = j
            vals[k] = 1.0
            k += 1
        b = basic[j]
        for i in range(start[b], start[b] + length[b]):
            rows[k] = links[i]
            cols[k] = j
            vals[k] = -1.0
            k += 1
    return rows, cols, vals


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
    rows, cols, vals = _incidence(path, basic, path_links, path_start, path_length)
    incidence = sp.csr_matrix((vals, (rows, cols)), shape=(link_flow.size, path.size))
    incidence.eliminate_zeros()
    transposed = incidence.T.tocsr()
    derivative = links.cost_derivatives(link_flow)
    gradient = transposed @ cost
    scale = np.sqrt(np.maximum(transposed.multiply(transposed) @ derivative, 1e-300))
    # Jacobi-preconditioned CG on H y = -g with H = D^T diag(c') D (regularised where flat)
    hessian = LinearOperator(
        (path.size, path.size),
        matvec=lambda v: transposed @ (derivative * (incidence @ v)) + 1e-12 * scale**2 * v,
        dtype=np.float64,
    )
    preconditioner = LinearOperator(
        (path.size, path.size), matvec=lambda v: v / scale**2, dtype=np.float64
    )
    step, _ = cg(hessian, -gradient, rtol=1e-8, maxiter=200, M=preconditioner)
    if not np.all(np.isfinite(step)):
        return False
    # projected step: non-basic flows are clipped at zero, basic paths absorb the change
    before = links.beckmann(link_flow)
    current = path_flow[path]
    for fraction in (1.0, 0.5, 0.25, 0.125):
        moved = np.maximum(current + fraction * step, 0.0) - current
        basic_flow = path_flow.copy()
        np.add.at(basic_flow, basic, -moved)
        if np.any(basic_flow[basic] < 0.0):
            continue
        link_change = incidence @ moved
        trial_flow = np.maximum(link_flow + link_change, 0.0)
        # the objective decreased if it did, or — robust when the decrease is below floating-point
        # resolution — if the step went downhill and the slope at the trial point is less than
        # half the initial slope's magnitude (for a convex quadratic: overshoot below 1.5x)
        initial_slope = float(cost @ link_change)
        trial_slope = float(links.costs(trial_flow) @ link_change)
        if links.beckmann(trial_flow) < before or (
            initial_slope < 0.0 and trial_slope <= 0.5 * -initial_slope
        ):
            basic_flow[path] = current + moved
            path_flow[:] = basic_flow
            return True
    return False

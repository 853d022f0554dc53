"""The concave box-constrained QP of the AEM step, solved by cvxpy and polished exactly.

Why this module exists: the elasticity-matrix approximation (:mod:`~ptn.engines.games.
cno_response.aem`; seed 001, Lu et al. 2024, eqs. 28–31) maximizes a quadratic model of the
revenue over the price bounds at every step; making that model concave, solving it and
polishing the solution are a numerical job of their own.

**Concavity (choice):** the QP's quadratic term is dᵀS₋d with S₋ the symmetric part of the
Jacobian J with its positive eigenvalues clipped to zero (projection onto the negative
semidefinite cone, as the paper's eq. 35 demands F ⪯ 0 of the DSO's fit), so the QP is always
concave; the linear terms use J exactly (:func:`negative_semidefinite`). The QP is one cvxpy
problem per search (parameters, DPP, Clarabel), re-solved per step, then polished by solving the
KKT system of its active set exactly; on solver trouble the caller is told (no exception).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from ptn.engines.games.cno_response.pricing import FloatArray


class ConcaveQp:
    """max gᵀd − ‖L d‖²  s.t. lo ≤ d ≤ hi: one cvxpy problem per search, re-solved (DPP)."""

    def __init__(self, n: int) -> None:
        self.d = cp.Variable(n)
        self.g = cp.Parameter(n)
        self.factor = cp.Parameter((n, n))
        self.lo = cp.Parameter(n)
        self.hi = cp.Parameter(n)
        self.problem = cp.Problem(
            cp.Maximize(self.g @ self.d - cp.sum_squares(self.factor @ self.d)),
            [self.d >= self.lo, self.d <= self.hi],
        )

    def solve(self, g: FloatArray, hessian: FloatArray, factor: FloatArray, lo: FloatArray,
              hi: FloatArray) -> tuple[FloatArray | None, str]:
        """The maximizer (``hessian`` = 2·S₋ = −2·LᵀL), or None and the solver's complaint."""
        self.g.value = g
        self.factor.value = factor
        self.lo.value = lo
        self.hi.value = hi
        try:
            self.problem.solve(solver=cp.CLARABEL)
        except (cp.error.SolverError, ValueError, ArithmeticError) as error:
            return None, f"QP solver failed: {error}"
        d = self.d.value
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or d is None or (
                not np.all(np.isfinite(d))):
            return None, f"QP solver ended with status {self.problem.status}"
        d = np.clip(np.asarray(d, dtype=np.float64), lo, hi)
        return _polish(d, g, hessian, lo, hi), ""


def model_value(d: FloatArray, g: FloatArray, hessian: FloatArray) -> float:
    """The QP's objective gᵀd + ½dᵀHd."""
    return float(g @ d + 0.5 * d @ hessian @ d)


def _polish(d: FloatArray, g: FloatArray, hessian: FloatArray, lo: FloatArray,
            hi: FloatArray) -> FloatArray:
    """The exact maximizer of gᵀd + ½dᵀHd on the box, if ``d``'s active set is the right one.

    Fixes the variables the interior-point solution has at its bounds, solves the free ones'
    stationarity equations and accepts the result when it is feasible, satisfies the KKT sign
    conditions and is no worse; otherwise ``d`` is kept.
    """
    width = hi - lo
    tol = 1e-7 * np.maximum(1.0, width)
    fixed = width <= tol
    at_lo = ~fixed & (d <= lo + tol)
    at_hi = ~fixed & ~at_lo & (d >= hi - tol)
    free = ~(fixed | at_lo | at_hi)
    polished = d.copy()
    polished[fixed | at_lo] = lo[fixed | at_lo]
    polished[at_hi] = hi[at_hi]
    if np.any(free):
        bound = ~free
        rhs = -(g[free] + hessian[np.ix_(free, bound)] @ polished[bound])
        block = hessian[np.ix_(free, free)]
        try:
            if np.linalg.cond(block) > 1e12:
                return d
            polished[free] = np.linalg.solve(block, rhs)
        except np.linalg.LinAlgError:
            return d
        if np.any(polished[free] < lo[free] - tol[free]) or np.any(
                polished[free] > hi[free] + tol[free]):
            return d
        polished = np.clip(polished, lo, hi)
    gradient = g + hessian @ polished
    slack = 1e-7 * (1.0 + float(np.max(np.abs(g))))
    if np.any(gradient[at_lo] > slack) or np.any(gradient[at_hi] < -slack):
        return d
    if model_value(polished, g, hessian) < model_value(d, g, hessian) - 1e-9 * (1.0 + abs(
            model_value(d, g, hessian))):
        return d
    return polished


def negative_semidefinite(jacobian: FloatArray) -> tuple[FloatArray, FloatArray]:
    """S₋ = sym(J) with positive eigenvalues clipped to 0, and L with −S₋ = LᵀL."""
    symmetric = 0.5 * (jacobian + jacobian.T)
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    clipped = np.minimum(eigenvalues, 0.0)
    projected = (vectors * clipped) @ vectors.T
    factor = np.sqrt(-clipped)[:, None] * vectors.T
    return projected, factor


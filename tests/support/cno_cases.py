"""Synthetic best-response cases several test modules share (seed 001 §3.3, eqs. 25–31).

Why this module exists: the tests of the AEM, the exact and the global searches
(tests/engines/games/cno_response/) run against the same independent optima. A linear load
response P = P0 + J(α − α0) with J's symmetric part negative definite makes the revenue a
concave quadratic; its box-constrained maximum is computed here by solving the stationarity
equations (interior case) or by scipy's L-BFGS-B on the analytic gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from ptn.engines.games.cno_response import CnoPricing, FloatArray

Oracle = Callable[[list[FloatArray]], list[FloatArray]]

STATIONS, PERIODS = 2, 4
N = STATIONS * PERIODS
LOW, HIGH = 150.0, 250.0
ALPHA0 = 200.0
PURCHASE = np.array([[100.0, 110.0, 130.0, 120.0], [105.0, 115.0, 125.0, 100.0]])
PRICING = CnoPricing(("a", "b"), LOW, HIGH, period_hours=0.5, periods=PERIODS)


def jacobian(block_diagonal: bool, seed: int = 3) -> FloatArray:
    """A Jacobian (MW per $/MWh) whose symmetric part is negative definite."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(N, N)) * 0.01
    j = -(a @ a.T + 0.03 * np.eye(N)) + 0.004 * rng.normal(size=(N, N))
    if block_diagonal:
        period = np.arange(N) % PERIODS
        j = np.where(period[:, None] == period[None, :], j, 0.0)
    assert np.all(np.linalg.eigvalsh(j + j.T) < 0)
    return j


def linear_oracle(p0: FloatArray, j: FloatArray, calls: list[list[FloatArray]] | None = None,
                  ) -> Oracle:
    """The linear load response P0 + J(α − α0) as a batch oracle (``calls``: its batches)."""

    def oracle(prices: list[FloatArray]) -> list[FloatArray]:
        if calls is not None:
            calls.append([p.copy() for p in prices])
        return [(p0 + j @ (p.ravel() - ALPHA0)).reshape(STATIONS, PERIODS) for p in prices]

    return oracle


def revenue(x: FloatArray, p0: FloatArray, j: FloatArray) -> float:
    """The revenue (eq. 25) at flattened prices ``x`` under the linear load response."""
    return float(PRICING.period_hours * (x - PURCHASE.ravel()) @ (p0 + j @ (x - ALPHA0)))


def box_optimum(p0: FloatArray, j: FloatArray) -> FloatArray:
    """The revenue's maximum over the box by L-BFGS-B on the analytic gradient."""
    lam = PURCHASE.ravel()

    def negative(x: FloatArray) -> tuple[float, FloatArray]:
        load = p0 + j @ (x - ALPHA0)
        gradient = load + j.T @ (x - lam)
        return -revenue(x, p0, j), -PRICING.period_hours * gradient

    found = minimize(negative, np.full(N, ALPHA0), jac=True, method="L-BFGS-B",
                     bounds=[(LOW, HIGH)] * N, options={"ftol": 1e-15, "gtol": 1e-11})
    assert found.success, found.message
    return np.asarray(found.x)


def interior_case(j: FloatArray) -> tuple[FloatArray, FloatArray]:
    """P0 that puts the unconstrained maximum at a chosen interior point, and that point.

    Stationarity: P0 + J(α − α0) + Jᵀ(α − λ) = 0.
    """
    target = np.linspace(170.0, 235.0, N)
    p0 = -(j @ (target - ALPHA0) + j.T @ (target - PURCHASE.ravel()))
    return p0, target


def bounded_case(j: FloatArray) -> tuple[FloatArray, FloatArray]:
    """P0 that pushes some prices onto their bounds, and the box optimum."""
    p0 = np.linspace(1.0, 7.0, N)
    optimum = box_optimum(p0, j)
    active = (optimum <= LOW + 1e-6) | (optimum >= HIGH - 1e-6)
    assert 0 < np.count_nonzero(active) < N, optimum
    return p0, optimum


START = np.full((STATIONS, PERIODS), ALPHA0)

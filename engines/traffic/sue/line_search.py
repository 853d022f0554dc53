"""The step along an SUE search direction that minimises Fisk's objective exactly.

Why this module exists: MSA's fixed step ``1/n`` converges like ``1/n``; the same direction
``y - f`` with the exact minimising step converges linearly (Chen & Alfa 1991; Maher 1998).
:func:`fisk_line_search` finds that step for :mod:`ptn.engines.traffic.sue.msa`'s
``"line-search"`` method, as numba kernels over the route set.

Fisk's (1980) convex objective, whose unique minimiser over route flows meeting demand is the
logit SUE::

    Z(f) = sum_a int_0^{x_a} c_a(u) du + (1 / theta) * sum_k f_k * (ln f_k - 1).

Along ``f + s * d`` its slope is ``sum_k d_k * (c_k + ln(f_k) / theta)``; the step is found by
safeguarded Newton on that slope (bisection when Newton leaves the bracket), the slope summed
per OD against a reference route to avoid cancellation.

References: C. Fisk (1980), "Some developments in equilibrium traffic assignment",
Transportation Research B 14(3), 243–255. M. Chen & A. S. Alfa (1991), "Algorithms for solving
Fisk's stochastic traffic assignment model", Transportation Research B 25(6), 405–412. M. Maher
(1998), "Algorithms for logit-based stochastic user equilibrium assignment", Transportation
Research B 32(8), 539–549.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ptn.engines.traffic.link_costs import link_time, link_time_derivative


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
def fisk_line_search(od_first, path_first, path_links, path_flow, direction, x, dx, kind, t0, cap, alpha, beta, fixed, vot, theta, guess):  # type: ignore[no-untyped-def]  # noqa: E501
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

"""The exact compass search and the global reference (differential evolution, refined by the
compass search; ptn.engines.games.cno_response.exact and .global_search) reach the box optimum.

Independent optimum: the box-constrained maximum of the synthetic linear case, by L-BFGS-B on the
analytic gradient (tests/support/cno_cases.py); revenues recomputed from the linear response and
the oracle's batches counted here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.games.cno_response import (
    FloatArray,
    exact_best_response,
    global_best_response,
    run_search,
)
from tests.support.cno_cases import (
    PRICING,
    PURCHASE,
    START,
    bounded_case,
    jacobian,
    linear_oracle,
    revenue,
)


def test_exact_and_global_searches_reach_the_box_optimum() -> None:
    j = jacobian(block_diagonal=False)
    p0, optimum = bounded_case(j)
    best = revenue(optimum, p0, j)
    exact = run_search(exact_best_response(PRICING, PURCHASE, START), linear_oracle(p0, j))
    assert exact.status == "converged"
    assert np.max(np.abs(exact.price_per_mwh.ravel() - optimum)) < 0.01
    assert best - 1e-4 < exact.revenue_usd <= best + 1e-9
    assert exact.revenue_usd == pytest.approx(
        revenue(exact.price_per_mwh.ravel(), p0, j), rel=1e-12)
    calls: list[list[FloatArray]] = []
    ga = global_best_response(PRICING, PURCHASE, linear_oracle(p0, j, calls),
                              max_generations=100, population=30, refine=False)
    assert ga.method == "global" and ga.status == "max_steps"
    assert ga.revenue_usd == pytest.approx(best, rel=1e-4)
    # the start (middle of the box) alone, then one batch per generation plus the initial one
    assert ga.batches == len(calls) == 1 + 101
    assert ga.probes == 1 + 30 * 101
    refined = global_best_response(PRICING, PURCHASE, linear_oracle(p0, j),
                                   max_generations=50, population=30)
    assert np.max(np.abs(refined.price_per_mwh.ravel() - optimum)) < 0.01
    assert refined.status == "converged"

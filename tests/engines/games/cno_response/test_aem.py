"""The AEM best response (ptn.engines.games.cno_response.aem, seed 001 eqs. 28–31).

Independent optima: the synthetic linear cases of tests/support/cno_cases.py (stationarity
equations, L-BFGS-B on the analytic gradient), and the exact compass search on a logistic load
response the linear model overshoots.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.games.cno_response import (
    CnoPricing,
    FloatArray,
    aem_best_response,
    exact_best_response,
    run_search,
)
from ptn.engines.games.cno_response.concave_qp import ConcaveQp
from tests.support.cno_cases import (
    HIGH,
    LOW,
    PRICING,
    PURCHASE,
    START,
    STATIONS,
    N,
    bounded_case,
    interior_case,
    jacobian,
    linear_oracle,
    revenue,
)


@pytest.mark.parametrize("block_diagonal", [False, True])
def test_full_aem_reaches_the_interior_optimum_in_one_step(block_diagonal: bool) -> None:
    j = jacobian(block_diagonal)
    p0, target = interior_case(j)
    found = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full"),
                       linear_oracle(p0, j))
    assert found.method == "aem"
    assert found.steps == 1
    np.testing.assert_allclose(found.price_per_mwh.ravel(), target, atol=1e-6)
    assert found.revenue_usd == pytest.approx(revenue(target, p0, j), rel=1e-12)
    assert found.predicted_revenue_usd == pytest.approx(found.revenue_usd, rel=1e-9)
    assert found.start_revenue_usd == pytest.approx(revenue(START.ravel(), p0, j), rel=1e-12)
    # n + 1 probes to linearize, one to measure the result, in two round trips
    assert (found.probes, found.batches) == (N + 2, 2)


def test_aem_reaches_the_box_optimum_in_one_step() -> None:
    j = jacobian(block_diagonal=False)
    p0, optimum = bounded_case(j)
    full = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full"),
                      linear_oracle(p0, j))
    np.testing.assert_allclose(full.price_per_mwh.ravel(), optimum, atol=1e-6)
    # the paper's per-period elasticity is exact when J is block-diagonal per period ...
    jb = jacobian(block_diagonal=True)
    p0b, optimum_b = bounded_case(jb)
    per_period = run_search(aem_best_response(PRICING, PURCHASE, START), linear_oracle(p0b, jb))
    np.testing.assert_allclose(per_period.price_per_mwh.ravel(), optimum_b, atol=1e-6)
    assert (per_period.probes, per_period.batches) == (STATIONS + 2, 2)
    # ... and misses when cross-period terms matter
    missed = run_search(aem_best_response(PRICING, PURCHASE, START), linear_oracle(p0, j))
    assert np.max(np.abs(missed.price_per_mwh.ravel() - optimum)) > 0.1


def test_aem_probes_downwards_at_the_upper_bound_and_stays_in_bounds() -> None:
    j = jacobian(block_diagonal=False)
    p0, optimum = bounded_case(j)
    calls: list[list[FloatArray]] = []
    found = run_search(aem_best_response(PRICING, PURCHASE, np.full_like(START, HIGH),
                                         elasticity="full", max_steps=5),
                       linear_oracle(p0, j, calls))
    np.testing.assert_allclose(found.price_per_mwh.ravel(), optimum, atol=1e-6)
    probes = np.array([p for batch in calls for p in batch])
    assert np.all((probes >= LOW) & (probes <= HIGH))
    assert found.probes == len(probes) and found.batches == len(calls)
    assert found.status == "converged"


def test_trust_region_limits_each_step() -> None:
    j = jacobian(block_diagonal=False)
    p0, target = interior_case(j)
    one = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full",
                                       trust_region_per_mwh=5.0), linear_oracle(p0, j))
    assert np.max(np.abs(one.price_per_mwh - START)) <= 5.0 + 1e-9
    assert one.status == "max_steps"
    many = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full",
                                        trust_region_per_mwh=5.0, max_steps=30,
                                        tolerance=1e-9), linear_oracle(p0, j))
    np.testing.assert_allclose(many.price_per_mwh.ravel(), target, atol=1e-6)


def test_backtracking_keeps_nonlinear_responses_from_losing_revenue() -> None:
    """A logistic load response: the linear model overshoots, the safeguard halves the step."""
    pricing = CnoPricing(("a",), LOW, HIGH, periods=1)

    def oracle(prices: list[FloatArray]) -> list[FloatArray]:
        return [10.0 / (1.0 + np.exp((p - 200.0) / 5.0)) for p in prices]

    exact = run_search(exact_best_response(pricing, 100.0, [[200.0]]), oracle)
    for start in (160.0, 200.0, 240.0):
        found = run_search(aem_best_response(pricing, 100.0, [[start]], max_steps=30), oracle)
        assert found.revenue_usd >= found.start_revenue_usd
        assert found.revenue_usd == pytest.approx(exact.revenue_usd, rel=1e-3)
        assert exact.revenue_usd >= found.revenue_usd - 1e-9


def test_qp_failure_keeps_the_best_probed_point(monkeypatch: pytest.MonkeyPatch) -> None:
    j = jacobian(block_diagonal=False)
    p0, _ = interior_case(j)

    def broken(*_: object) -> tuple[None, str]:
        return None, "QP solver failed: broken on purpose"

    monkeypatch.setattr(ConcaveQp, "solve", broken)
    calls: list[list[FloatArray]] = []
    found = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full"),
                       linear_oracle(p0, j, calls))
    probed = [p for p in calls[0]]
    revenues = [revenue(p.ravel(), p0, j) for p in probed]
    assert found.revenue_usd == pytest.approx(max(revenues), rel=1e-12)
    assert "broken on purpose" in found.message
    assert found.batches == 1


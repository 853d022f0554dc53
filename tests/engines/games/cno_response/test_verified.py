"""The verified best response (ptn.engines.games.cno_response.verified) on the shared synthetic
cases, against their independent optima and the compass search, and against an oracle whose
linearization answers are wrong (only the verified candidates may count)."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import (
    exact_best_response,
    run_search,
    verified_best_response,
)
from tests.support.cno_cases import (
    PRICING,
    PURCHASE,
    START,
    FloatArray,
    bounded_case,
    interior_case,
    jacobian,
    linear_oracle,
    revenue,
)


@pytest.mark.parametrize("case", [interior_case, bounded_case])
def test_on_a_concave_quadratic_one_verified_step_is_the_optimum(case: object) -> None:
    j = jacobian(block_diagonal=False)
    p0, optimum = case(j)  # type: ignore[operator]
    calls: list[list[FloatArray]] = []
    found = run_search(verified_best_response(PRICING, PURCHASE, START),
                       linear_oracle(p0, j, calls))
    best = revenue(optimum, p0, j)
    assert found.method == "verified" and found.converged
    assert found.revenue_usd == pytest.approx(best, rel=1e-7)
    np.testing.assert_allclose(found.price_per_mwh.ravel(), optimum, atol=1e-3)
    # the linearization (start + 8 steps), the candidates (3 fractions), the next
    # linearization (8 steps), whose step is below the 0.5 $/MWh minimum: no candidate
    assert [len(c) for c in calls] == [9, 3, 8]
    compass = run_search(exact_best_response(PRICING, PURCHASE, START, min_step_per_mwh=1e-3),
                         linear_oracle(p0, j))
    assert found.revenue_usd >= compass.revenue_usd - 1e-6 * abs(best)
    assert found.probes < compass.probes / 10


def test_only_verified_candidates_count() -> None:
    """Linearization probes answered by a wrong model (the expansion's error): the reported
    revenue is still the oracle's revenue at a price it answered as a candidate."""
    j = jacobian(block_diagonal=False)
    p0, _ = interior_case(j)
    truth = linear_oracle(p0, j)
    wrong = linear_oracle(p0, 1.4 * j)
    candidates: list[FloatArray] = []

    def oracle(prices: list[FloatArray]) -> list[FloatArray]:
        near = [float(np.abs(p - START).max()) <= 0.25 for p in prices]
        if all(near):  # the first linearization: answered by the wrong model
            return wrong(prices)
        candidates.extend(p for p, n in zip(prices, near, strict=True) if not n)
        return truth(prices)

    found = run_search(verified_best_response(PRICING, PURCHASE, START, iterations=1), oracle)
    assert found.revenue_usd == pytest.approx(revenue(found.price_per_mwh.ravel(), p0, j),
                                              rel=1e-12)
    assert any(np.array_equal(found.price_per_mwh, c) for c in candidates)
    assert found.revenue_usd > found.start_revenue_usd


def test_polls_are_verified_beside_the_model_step() -> None:
    j = jacobian(block_diagonal=True)
    p0, _ = interior_case(j)
    calls: list[list[FloatArray]] = []
    run_search(verified_best_response(PRICING, PURCHASE, START, poll_step_per_mwh=5.0,
                                      iterations=1), linear_oracle(p0, j, calls))
    polls = [p for p in calls[1] if np.count_nonzero(np.abs(p - START).max(axis=1)) == 1
             and np.allclose(np.abs(p - START).max(), 5.0)]
    assert len(polls) == 4  # each of the 2 stations ± 5 $/MWh in every period


def test_no_candidate_below_the_minimum_step_is_probed() -> None:
    j = jacobian(block_diagonal=False)
    p0, optimum = interior_case(j)
    calls: list[list[FloatArray]] = []
    start = optimum.reshape(START.shape) + 0.1  # the model's step is ~0.1 $/MWh
    found = run_search(verified_best_response(PRICING, PURCHASE, start, min_step_per_mwh=0.5),
                       linear_oracle(p0, j, calls))
    assert len(calls) == 1 and found.price_per_mwh is not None
    np.testing.assert_array_equal(found.price_per_mwh, start)


@pytest.mark.parametrize(("key", "value"), [("probe_step_per_mwh", 0.0),
                                            ("min_step_per_mwh", -1.0),
                                            ("iterations", 0), ("fractions", (1.5,)),
                                            ("poll_step_per_mwh", 0.0)])
def test_bad_settings_are_refused(key: str, value: object) -> None:
    with pytest.raises(InvalidInputError):
        next(verified_best_response(PRICING, PURCHASE, START, **{key: value}))  # type: ignore[arg-type]

"""Tests of a CNO's best response (seed 001 §3.3, eqs. 25–31) against independent optima.

Synthetic cases: a linear load response P = P0 + J(α − α0) with J's symmetric part negative
definite makes the revenue a concave quadratic; its box-constrained maximum is computed here by
solving the stationarity equations (interior case) or by scipy's L-BFGS-B on the analytic
gradient. Real case: seed 001's Nguyen–Dupuis MUL-UE answers the probes; the exact compass
search is checked to be a coordinate-wise local maximum by polls made here, and revenues are
recomputed from cold-started equilibria.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from scipy.optimize import minimize

from ptn.engines.errors import InvalidInputError
from ptn.engines.games import cno_response
from ptn.engines.games.cno_response import (
    BestResponse,
    CnoPricing,
    FloatArray,
    aem_best_response,
    cno_revenue_usd,
    exact_best_response,
    global_best_response,
    run_search,
)
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import MultiPeriodSpec, build_multiperiod_problem

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
    def oracle(prices: list[FloatArray]) -> list[FloatArray]:
        if calls is not None:
            calls.append([p.copy() for p in prices])
        return [(p0 + j @ (p.ravel() - ALPHA0)).reshape(STATIONS, PERIODS) for p in prices]

    return oracle


def revenue(x: FloatArray, p0: FloatArray, j: FloatArray) -> float:
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

    monkeypatch.setattr(cno_response._ConcaveQp, "solve", broken)
    calls: list[list[FloatArray]] = []
    found = run_search(aem_best_response(PRICING, PURCHASE, START, elasticity="full"),
                       linear_oracle(p0, j, calls))
    probed = [p for p in calls[0]]
    revenues = [revenue(p.ravel(), p0, j) for p in probed]
    assert found.revenue_usd == pytest.approx(max(revenues), rel=1e-12)
    assert "broken on purpose" in found.message
    assert found.batches == 1


def test_exact_search_stops_at_its_probe_budget() -> None:
    j = jacobian(block_diagonal=False)
    p0, _ = interior_case(j)
    found = run_search(exact_best_response(PRICING, PURCHASE, START, max_probes=40),
                       linear_oracle(p0, j))
    assert found.status == "max_probes"
    assert found.probes <= 40
    assert found.revenue_usd >= found.start_revenue_usd


def test_revenue_formula() -> None:
    price = np.array([[200.0, 210.0]])
    load = np.array([[2.0, 3.0]])
    assert cno_revenue_usd(price, [100.0, 120.0], load, 0.25) == pytest.approx(
        0.25 * (100.0 * 2.0 + 90.0 * 3.0))


def test_invalid_input_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"station cs9, period 2"):
        CnoPricing(("cs7", "cs9"), [[150.0] * 3, [150.0, 150.0, 260.0]], 250.0)
    with pytest.raises(InvalidInputError, match="rows"):
        CnoPricing(("cs7",), np.full((2, 3), 150.0), 250.0)
    with pytest.raises(InvalidInputError, match="periods"):
        CnoPricing(("cs7",), 150.0, 250.0)
    with pytest.raises(InvalidInputError, match="duplicate"):
        CnoPricing(("cs7", "cs7"), 150.0, 250.0, periods=2)
    assert CnoPricing(("cs7", "cs9"), 150.0, [250.0] * 3).shape == (2, 3)
    with pytest.raises(InvalidInputError, match="purchase_price_per_mwh"):
        aem_best_response(PRICING, np.zeros((3, 3)), START)
    with pytest.raises(InvalidInputError, match="elasticity"):
        aem_best_response(PRICING, PURCHASE, START, elasticity="diagonal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="min_step_per_mwh"):
        exact_best_response(PRICING, PURCHASE, START, min_step_per_mwh=0.0)


@pytest.mark.parametrize("answer", [
    lambda prices: [np.zeros((PERIODS, STATIONS)) for _ in prices],   # transposed
    lambda prices: [np.zeros((STATIONS, PERIODS)) for _ in prices[1:]],  # one missing
    lambda prices: [np.full((STATIONS, PERIODS), np.nan) for _ in prices],
])
def test_run_search_rejects_bad_answers(answer: Oracle) -> None:
    with pytest.raises(InvalidInputError, match="load response"):
        run_search(aem_best_response(PRICING, PURCHASE, START), answer)


# ---------------------------------------------------------------------------------------------
# Nguyen–Dupuis, seed 001's case: CNO 1 owns cs7 and cs9, CNO 2's prices are fixed at 200 $/MWh

ND_PURCHASE = np.array([100.0, 110.0, 130.0, 150.0, 120.0, 95.0])  # $/MWh per period
ND_PRICING = CnoPricing(("cs7", "cs9"), 150.0, 250.0, periods=6)
ND_START = np.full((2, 6), 200.0)
ND_OTHER = np.full((2, 6), 200.0)


class NguyenDupuis:
    """MUL-UE answering CNO 1's probes, warm-started from its previous solve."""

    def __init__(self) -> None:
        net = load_network("nguyen-dupuis")
        beta = np.array([0.7, 0.9, 0.8, 0.7, 1.0, 0.8])
        stations = [ChargingStation(f"cs{n}", n, 150.0, 0.5, 0.5, np.full(6, 200.0))
                    for n in (7, 9, 10, 12)]
        spec = ChargingNetworkSpec(net, tuple(stations))
        demand = beta[:, None] * net.od_demand[None, :]
        self.problem = build_multiperiod_problem(MultiPeriodSpec(
            spec, demand * 0.8, demand * 0.2, max_shift_periods=1, price_sensitivity=1.5,
            base_price_per_mwh=200.0))
        self.previous = self.problem.solve(np.vstack([ND_START, ND_OTHER]))

    def loads(self, price: FloatArray, *, cold: bool = False) -> FloatArray:
        result = self.problem.solve(np.vstack([price, ND_OTHER]),
                                    warm_start=None if cold else self.previous)
        assert result.converged
        if not cold:
            self.previous = result
        return np.asarray(result.station_load_mw.T[:2])  # (periods, stations) -> CNO 1's rows

    def __call__(self, prices: list[FloatArray]) -> list[FloatArray]:
        return [self.loads(p) for p in prices]


@pytest.fixture(scope="module")
def nguyen_dupuis() -> tuple[NguyenDupuis, dict[str, tuple[BestResponse, float]]]:
    oracle = NguyenDupuis()
    searches = {
        "AEM per-period, 1 step": lambda: aem_best_response(ND_PRICING, ND_PURCHASE, ND_START),
        "AEM per-period, iterated": lambda: aem_best_response(
            ND_PRICING, ND_PURCHASE, ND_START, max_steps=20),
        "AEM full, iterated": lambda: aem_best_response(
            ND_PRICING, ND_PURCHASE, ND_START, elasticity="full", max_steps=20),
        "exact": lambda: exact_best_response(ND_PRICING, ND_PURCHASE, ND_START),
    }
    results = {}
    for name, search in searches.items():
        began = time.perf_counter()
        found = run_search(search(), oracle)
        results[name] = (found, time.perf_counter() - began)
    return oracle, results


def summary(results: dict[str, tuple[BestResponse, float]]) -> str:
    return "; ".join(f"{name}: {r.revenue_usd:.3f} $ ({r.status}, {r.probes} probes, "
                     f"{r.batches} batches, {seconds:.2f} s)"
                     for name, (r, seconds) in results.items())


def test_iterated_aem_is_within_half_a_percent_of_the_exact_best_response(
        nguyen_dupuis: tuple[NguyenDupuis, dict[str, tuple[BestResponse, float]]]) -> None:
    _, results = nguyen_dupuis
    exact = results["exact"][0]
    assert exact.status == "converged"
    for name in ("AEM per-period, iterated", "AEM full, iterated"):
        aem = results[name][0]
        assert aem.status == "converged", summary(results)
        assert aem.revenue_usd >= (1 - 0.005) * exact.revenue_usd, summary(results)
        assert exact.revenue_usd >= aem.revenue_usd - 1e-6 * exact.revenue_usd, summary(results)
    for name, (found, _) in results.items():
        assert found.revenue_usd > found.start_revenue_usd, f"{name}: {summary(results)}"
        assert np.all(found.price_per_mwh >= 150.0) and np.all(found.price_per_mwh <= 250.0)
    one_step = results["AEM per-period, 1 step"][0]
    assert (one_step.probes, one_step.batches) == (4, 2)  # m + 1 = 3 to linearize, 1 to measure


def test_measured_revenues_match_cold_solves(
        nguyen_dupuis: tuple[NguyenDupuis, dict[str, tuple[BestResponse, float]]]) -> None:
    oracle, results = nguyen_dupuis
    for name, (found, _) in results.items():
        load = oracle.loads(found.price_per_mwh, cold=True)
        np.testing.assert_allclose(found.load_mw, load, rtol=1e-6, atol=1e-8, err_msg=name)
        direct = ND_PRICING.period_hours * float(
            np.sum((found.price_per_mwh - ND_PURCHASE) * load))
        assert found.revenue_usd == pytest.approx(direct, rel=1e-8), name


def test_exact_best_response_is_a_coordinate_local_maximum(
        nguyen_dupuis: tuple[NguyenDupuis, dict[str, tuple[BestResponse, float]]]) -> None:
    oracle, results = nguyen_dupuis
    exact = results["exact"][0]
    polls = []
    for i in range(exact.price_per_mwh.size):
        for move in (-0.05, 0.05):
            poll = exact.price_per_mwh.copy()
            poll.flat[i] = np.clip(poll.flat[i] + move, 150.0, 250.0)
            polls.append(poll)
    loads = oracle(polls)
    revenues = [float(np.sum((p - ND_PURCHASE) * q)) for p, q in zip(polls, loads, strict=True)]
    assert max(revenues) <= exact.revenue_usd + 1e-6 * exact.revenue_usd

"""The best responses on seed 001's Nguyen–Dupuis case, against each other and cold solves.

Real case: seed 001's Nguyen–Dupuis MUL-UE answers the probes; the exact compass search is
checked to be a coordinate-wise local maximum by polls made here, and revenues are recomputed
from cold-started equilibria.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ptn.engines.games.cno_response import (
    BestResponse,
    CnoPricing,
    FloatArray,
    aem_best_response,
    exact_best_response,
    run_search,
)
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import MultiPeriodSpec, build_multiperiod_problem

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

"""Seed 001's one DSO price per bus and the trial draw below the cap (engines/power/pricing.py).

Independent checks: the shared price of two stations at one bus against scipy's scalar search
where each candidate's OPF cost is a separate fixed-load dispatch with the bus's load split
between the two stations (the pricing model instead constrains their total); the same problem
with the two stations merged into one charging point; the trial draw against numpy's uniform
draw with the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.pricing import (
    DsoPricingProblem,
    PriceLimits,
    ResponseFit,
    TrialDraw,
    price_group_partition,
    random_trial_prices,
)

TIGHT = {"tol_gap_rel": 1e-10, "tol_gap_abs": 1e-10}


def case_with(points: tuple[ChargingPoint, ...]) -> DsoCase:
    return DsoCase(feeders=(load_feeder("case18"),), periods=1, period_hours=2.0,
                   load_profile=np.array([0.9]), charging_points=points,
                   upstream_price_per_mwh=np.array([40.0]))


def scalar_fit(slope: float, intercept: float) -> ResponseFit:
    return ResponseFit(slope=np.array([[[slope]]]), intercept_mw=np.array([[intercept]]),
                       status="optimal", rms_residual_mw=0.0, points=5)


def test_two_stations_at_one_bus_share_the_price_a_scalar_search_finds() -> None:
    """Bus 4 of case18 holds cs7 and cs10; their total load answers P = −0.02·λ + 4 (MW)."""
    shared = case_with((ChargingPoint("cs7", 4), ChargingPoint("cs10", 4)))
    limits = PriceLimits(80.0, 180.0, 180.0)  # the cap does not bind: an interior optimum
    fit = scalar_fit(-0.02, 4.0)
    problem = DsoPricingProblem(shared, limits, proximal_weight=0.0, price_groups=((0, 1),),
                                solver_options=TIGHT)
    assert problem.groups == 1
    result = problem.solve(fit, np.array([[100.0]]))
    assert result.status == "optimal", result.message
    price = float(result.price_per_mwh[0, 0])

    # by hand: revenue 2·λ·(4 − 0.02λ) − (C(P) − C(0)), each C a fixed-load dispatch of the two
    # stations with the bus's load split 30/70 (only the bus's total matters to the feeder)
    opf = DistFlowOpf(shared, charging="fixed", solver_options=TIGHT)
    opf.set_charging_load(np.zeros((2, 1)))
    no_charging = opf.solve().objective

    def profit(candidate: float) -> tuple[float, float]:
        """(what the pricing maximizes: with the OPF's weak-branch regularization, the profit
        it reports: with the OPF's reported cost)."""
        load = 4.0 - 0.02 * candidate
        opf.set_charging_load(np.array([[0.3 * load], [0.7 * load]]))
        dispatch = opf.solve()
        assert dispatch.status.has_solution
        regularization = dispatch.extra.get("weak_branch_regularization", 0.0)
        revenue = 2.0 * candidate * load - (dispatch.objective - no_charging)
        return revenue - regularization, revenue

    best = minimize_scalar(lambda x: -profit(x)[0], bounds=(80.0, 180.0), method="bounded",
                           options={"xatol": 1e-6}).x
    assert price == pytest.approx(best, abs=1e-3)
    # without the feeder's cost the optimum is λ = 4/(2·0.02) = 100; the purchase cost raises it
    assert price > 100.0
    assert result.predicted_load_mw[0, 0] == pytest.approx(4.0 - 0.02 * price, rel=1e-9)
    assert result.predicted_revenue_usd == pytest.approx(profit(price)[1], rel=1e-5)

    # the same bus as one merged charging point (the ungrouped model) gives the same price
    merged = DsoPricingProblem(case_with((ChargingPoint("cs7+cs10", 4),)), limits,
                               proximal_weight=0.0, solver_options=TIGHT)
    np.testing.assert_allclose(merged.solve(fit, np.array([[100.0]])).price_per_mwh,
                               result.price_per_mwh, atol=1e-4)


def test_the_mean_cap_applies_to_each_bus_price() -> None:
    """Two buses (4 and 6), three stations, two periods: the cap of 120 binds on each bus."""
    points = (ChargingPoint("a", 4), ChargingPoint("b", 6), ChargingPoint("c", 4))
    case = DsoCase(feeders=(load_feeder("case18"),), periods=2, period_hours=1.0,
                   load_profile=np.array([0.8, 1.0]), charging_points=points,
                   upstream_price_per_mwh=np.array([30.0, 50.0]))
    # groups in the order of their first point: bus 4 (a, c), then bus 6 (b)
    problem = DsoPricingProblem(case, PriceLimits(), price_groups=((0, 2), (1,)))
    fit = ResponseFit(slope=np.broadcast_to(np.diag([-0.004, -0.003]), (2, 2, 2)).copy(),
                      intercept_mw=np.array([[2.0, 1.5], [2.2, 1.6]]), status="optimal",
                      rms_residual_mw=0.0, points=5)
    result = problem.solve(fit, np.full((2, 2), 130.0))
    assert result.status == "optimal", result.message
    assert result.price_per_mwh.shape == (2, 2)
    # unconstrained, each bus would price at P0/(2·|F|) ≥ 250: the cap binds on both
    np.testing.assert_allclose(result.price_per_mwh.mean(axis=1), [120.0, 120.0], atol=1e-5)


def test_price_groups_must_partition_the_points() -> None:
    assert price_group_partition(None, 3) == ((0,), (1,), (2,))
    assert price_group_partition([[0, 2], [1]], 3) == ((0, 2), (1,))
    for bad in ([[0, 1]], [[0, 1], [1, 2]], [[0, 1, 2], []], [[0, 1, 3]]):
        with pytest.raises(InvalidInputError, match="price_groups"):
            price_group_partition(bad, 3)


def test_trial_draw_below_the_cap_is_a_plain_uniform_draw() -> None:
    limits = PriceLimits()
    draw = TrialDraw(80.0, 120.0)
    prices = random_trial_prices(np.random.default_rng(3), 40, 6, limits, draw)
    # never above the cap on average, so nothing is scaled: numpy's draw itself
    np.testing.assert_array_equal(prices, np.random.default_rng(3).uniform(80, 120, (40, 6)))
    assert prices.mean(axis=1).max() < 120.0
    # a draw's default range: the lower bound to the cap
    np.testing.assert_array_equal(
        prices, random_trial_prices(np.random.default_rng(3), 40, 6, limits, TrialDraw()))
    # without a draw: the whole range, scaled under the cap (the reading before issue 17)
    whole = random_trial_prices(np.random.default_rng(3), 40, 6, limits)
    np.testing.assert_array_equal(
        whole, random_trial_prices(np.random.default_rng(3), 40, 6, limits, TrialDraw(80, 180)))
    assert np.isclose(whole.mean(axis=1), 120.0).any()
    with pytest.raises(InvalidInputError, match="high_per_mwh"):
        TrialDraw(80.0, 200.0).within(limits)
    with pytest.raises(InvalidInputError, match="low_per_mwh"):
        TrialDraw(130.0, 120.0).within(limits)

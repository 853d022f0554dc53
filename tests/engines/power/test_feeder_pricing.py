"""The pricing problem over per-feeder OPFs with the response as data
(engines/power/feeder_pricing.py) against the one cvxpy problem with the response as Parameters
(engines/power/pricing.py, itself checked against brute-force searches in test_pricing.py).

Independent of the new code: the joint cvxpy model's prices, profit, OPF cost and charging
DLMPs (both solved to a 1e-10 gap), a separate fixed-load dispatch at the predicted loads, and
the price bounds and cap written out by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder_pricing import FeederwisePricingProblem
from ptn.engines.power.pricing import (
    DsoPricingProblem,
    PricingResult,
    ResponseFit,
)

TIGHT = {"tol_gap_rel": 1e-10, "tol_gap_abs": 1e-10}


def three_feeders() -> DsoCase:
    """Two case18 feeders with charging (pdn1, pdn2) and a third without (pdn3)."""
    feeders = tuple(dataclasses.replace(load_feeder("case18"), name=name)
                    for name in ("pdn1", "pdn2", "pdn3"))
    return DsoCase(
        feeders=feeders, periods=3, period_hours=1.0, load_profile=np.array([0.7, 1.0, 0.8]),
        charging_points=(ChargingPoint("s7", 4, "pdn1"), ChargingPoint("s9", 6, "pdn2"),
                         ChargingPoint("s10", 4, "pdn1"), ChargingPoint("s12", 6, "pdn2"),
                         ChargingPoint("s13", 4, "pdn2")),
        upstream_price_per_mwh=np.array([40.0, 70.0, 55.0]),
    )


def coupled_fit(groups: int, periods: int) -> ResponseFit:
    """Own slopes −0.006, cross-slopes 0.001 (across feeders too), scaled per period."""
    base = -0.006 * np.eye(groups) + 0.001 * (1 - np.eye(groups))
    slope = np.stack([base * (0.8 + 0.2 * t) for t in range(periods)])
    intercept = np.random.default_rng(11).uniform(1.2, 2.0, size=(periods, groups))
    return ResponseFit(slope=slope, intercept_mw=intercept, status="optimal",
                       rms_residual_mw=0.0, points=5)


def assert_same_pricing(ours: PricingResult, joint: PricingResult) -> None:
    """Equal to solver tolerance: a 1e-10 relative gap on a ~1,000 $ objective whose
    curvature in the prices is ϖ = 0.2 $/($/MWh)² leaves the prices determined to about
    √(1e-7 / 0.2) ≈ 1e-3 $/MWh (test_pricing.py's brute-force checks use rtol 1e-5)."""
    assert ours.status == joint.status == "optimal", (ours.message, joint.message)
    np.testing.assert_allclose(ours.price_per_mwh, joint.price_per_mwh, rtol=1e-5)
    np.testing.assert_allclose(ours.predicted_load_mw, joint.predicted_load_mw, atol=1e-5)
    assert ours.predicted_revenue_usd == pytest.approx(joint.predicted_revenue_usd, rel=1e-5)
    assert ours.opf_cost_usd == pytest.approx(joint.opf_cost_usd, rel=1e-6)
    theirs = joint.details["charging_dlmp_per_mwh"]
    for name, dlmp in ours.details["charging_dlmp_per_mwh"].items():
        np.testing.assert_allclose(dlmp, theirs[name], atol=1e-3)


def test_per_feeder_pricing_equals_the_joint_model() -> None:
    case = three_feeders()
    fit = coupled_fit(5, 3)
    previous = np.array([[175.0, 178.0, 170.0],  # pulled above the cap
                         [195.0, 90.0, 60.0],  # above the maximum in period 0
                         [60.0, 100.0, 110.0],  # below the minimum in period 0
                         [90.0, 100.0, 95.0],
                         [120.0, 120.0, 120.0]])
    joint = DsoPricingProblem(case, solver_options=TIGHT)
    ours = FeederwisePricingProblem(case, solver_options=TIGHT)
    assert ours.stations == joint.stations and ours.groups == 5
    first = ours.solve(fit, previous)
    assert_same_pricing(first, joint.solve(fit, previous))
    # the limits, by hand: bounds, the cap binding for s7, the bounds in period 0
    price = first.price_per_mwh
    assert price.min() >= 80.0 - 1e-6 and price.max() <= 180.0 + 1e-6
    assert price.mean(axis=1).max() <= 120.0 + 1e-6
    assert price[0].mean() == pytest.approx(120.0, abs=1e-6)
    assert price[1, 0] == pytest.approx(180.0, abs=1e-6)
    assert price[2, 0] == pytest.approx(80.0, abs=1e-6)
    assert ours.no_charging_cost_usd() == pytest.approx(joint.no_charging_cost_usd(), rel=1e-8)

    # the dispatch it reports is a fixed-load dispatch at the predicted loads
    opf = DistFlowOpf(case, charging="fixed", solver_options=TIGHT)
    opf.set_charging_load(first.predicted_load_mw)
    dispatch = opf.solve()
    assert first.opf_cost_usd == pytest.approx(dispatch.objective, rel=1e-7)
    ours_dispatch = first.details["dispatch"]
    assert [f.name for f in ours_dispatch.feeders] == ["pdn1", "pdn2", "pdn3"]
    for name, load in dispatch.charging_mw.items():
        np.testing.assert_allclose(ours_dispatch.charging_mw[name], load, atol=1e-6)

    # a re-solve with new data (the previous price moves) equals the joint model's re-solve
    moved = coupled_fit(5, 3)
    assert_same_pricing(ours.solve(moved, price), joint.solve(moved, price))


def test_price_groups_across_one_bus_equal_the_joint_model() -> None:
    case = three_feeders()
    # one price per bus: (s7, s10) at bus 4 of pdn1, (s9, s12) at bus 6 of pdn2, s13 alone
    groups = ((0, 2), (1, 3), (4,))
    fit = coupled_fit(3, 3)
    previous = np.full((3, 3), 110.0)
    joint = DsoPricingProblem(case, price_groups=groups, solver_options=TIGHT)
    ours = FeederwisePricingProblem(case, price_groups=groups, solver_options=TIGHT)
    assert ours.groups == 3
    assert_same_pricing(ours.solve(fit, previous), joint.solve(fit, previous))


def test_unservable_response_is_infeasible_and_keeps_the_previous_price() -> None:
    case = three_feeders()
    fit = dataclasses.replace(coupled_fit(5, 3), intercept_mw=np.full((3, 5), -5.0))
    previous = np.full((5, 3), 100.0)
    result = FeederwisePricingProblem(case).solve(fit, previous)
    assert result.status == "infeasible"
    np.testing.assert_array_equal(result.price_per_mwh, previous)
    assert np.isnan(result.predicted_revenue_usd) and "infeasible" in result.message


def test_invalid_input_names_the_item() -> None:
    case = three_feeders()
    problem = FeederwisePricingProblem(case)
    fit = coupled_fit(5, 3)
    with pytest.raises(InvalidInputError, match="previous_price_per_mwh"):
        problem.solve(fit, np.full((3, 5), 100.0))
    with pytest.raises(InvalidInputError, match=r"fit\.slope"):
        problem.solve(coupled_fit(4, 3), np.full((5, 3), 100.0))
    positive = dataclasses.replace(fit, slope=np.broadcast_to(0.01 * np.eye(5), (3, 5, 5)).copy())
    with pytest.raises(InvalidInputError, match=r"fit\.slope\[0\]"):
        problem.solve(positive, np.full((5, 3), 100.0))
    with pytest.raises(InvalidInputError, match="proximal_weight"):
        FeederwisePricingProblem(case, proximal_weight=-0.1)
    with pytest.raises(InvalidInputError, match="charging points"):
        FeederwisePricingProblem(dataclasses.replace(case, charging_points=()))
    with pytest.raises(InvalidInputError, match="solver"):
        FeederwisePricingProblem(case, solver="SCS")
    with pytest.raises(InvalidInputError, match="price_groups"):
        FeederwisePricingProblem(case, price_groups=((0, 1),))

"""The DSO's pricing step of seed 001 (engines/power/pricing.py): the response fit, the history
weights, trial prices and the MUL-DSO pricing problem.

Expected numbers come from elsewhere: synthetic data from a known response, a scipy least-squares
fit over a parametrization that is NSD by construction (F = K − BBᵀ, K skew), the weight rule
written out by hand, scipy's scalar minimization over prices where every candidate's OPF cost is
a separate fixed-load DistFlow dispatch, and the KKT conditions with the DLMPs of such a
dispatch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import least_squares, minimize_scalar

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.pricing import (
    DsoPricingProblem,
    PriceLimits,
    ResponseFit,
    fit_load_response,
    history_weights,
    random_trial_prices,
)

TIGHT = {"tol_gap_rel": 1e-10, "tol_gap_abs": 1e-10}


def synthetic_history(
    slope: np.ndarray, intercept: np.ndarray, points: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Prices uniform in [80, 180] and the loads ``F_t·λ + P0_t``, ``(points, stations, T)``."""
    periods, stations, _ = slope.shape
    price = np.random.default_rng(seed).uniform(80, 180, size=(points, stations, periods))
    load = np.einsum("tjk,ikt->ijt", slope, price) + intercept.T[None]
    return price, load


def fit_objective(slope: np.ndarray, intercept: np.ndarray, price: np.ndarray, load: np.ndarray,
                  weights: np.ndarray, penalty: np.ndarray) -> float:
    """Eq. 35 summed over periods, written out directly."""
    residual = load - np.einsum("tjk,ikt->ijt", slope, price) - intercept.T[None]
    return float(np.einsum("i,ijt->", weights, residual**2) + np.sum(penalty * slope**2))


# ------------------------------------------------------------------------------ the fit
def test_fit_recovers_a_known_nsd_response_without_noise() -> None:
    rng = np.random.default_rng(1)
    periods, stations = 3, 4
    A = rng.normal(size=(periods, stations, stations))
    skew = rng.normal(size=(periods, stations, stations))
    # NSD symmetric part plus a skew part: F need not be symmetric
    slope = -0.002 * A @ np.transpose(A, (0, 2, 1)) + 0.001 * (skew - np.transpose(skew, (0, 2, 1)))
    intercept = rng.uniform(0.5, 2.0, size=(periods, stations))
    price, load = synthetic_history(slope, intercept, points=12)
    fit = fit_load_response(price, load, diagonal_penalty=1e-9, off_diagonal_penalty=1e-9)
    assert fit.status == "optimal" and fit.points == 12
    assert np.abs(fit.slope - slope).max() <= 1e-4 * np.abs(slope).max()
    assert np.abs(fit.intercept_mw - intercept).max() <= 1e-4 * np.abs(intercept).max()
    assert fit.rms_residual_mw <= 1e-6
    new_price = rng.uniform(80, 180, size=(stations, periods))
    expected = np.einsum("tjk,kt->jt", slope, new_price) + intercept.T
    np.testing.assert_allclose(fit.predict_mw(new_price), expected, rtol=1e-4)


def test_fit_of_a_non_nsd_response_is_nsd_and_optimal() -> None:
    rng = np.random.default_rng(2)
    stations = 3
    # own-price slopes positive: the symmetric part is far from NSD
    slope = np.array([[[0.01, 0.004, -0.002], [0.0, 0.006, 0.003], [0.002, -0.001, -0.004]]])
    intercept = np.array([[1.0, 1.5, 0.8]])
    price, load = synthetic_history(slope, intercept, points=8, seed=3)
    load = load + rng.normal(0.0, 0.05, size=load.shape)
    weights = history_weights(8)
    fit = fit_load_response(price, load, weights)
    assert fit.status == "optimal", fit.message
    assert np.linalg.eigvalsh(0.5 * (fit.slope[0] + fit.slope[0].T)).max() <= 1e-7

    # the same problem over F = K − BBᵀ (NSD by construction), prices in 100 $/MWh
    penalty = np.full((stations, stations), 2500.0)
    np.fill_diagonal(penalty, 100.0)
    upper = np.triu_indices(stations, 1)

    def unpack(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        K = np.zeros((stations, stations))
        K[upper] = z[:3]
        B = z[3:12].reshape(stations, stations)
        return (K - K.T - B @ B.T) / 100.0, z[12:].reshape(1, stations)

    def residuals(z: np.ndarray) -> np.ndarray:
        F, P0 = unpack(z)
        misfit = load - np.einsum("tjk,ikt->ijt", F[None], price) - P0.T[None]
        return np.concatenate([(np.sqrt(weights)[:, None, None] * misfit).ravel(),
                               (np.sqrt(penalty) * F).ravel()])

    best = min(
        (least_squares(residuals, start, xtol=1e-15, ftol=1e-15, gtol=1e-15)
         for start in np.random.default_rng(4).normal(0.0, 0.3, size=(4, 15))),
        key=lambda solution: solution.cost,
    )
    F, P0 = unpack(best.x)
    reference = fit_objective(F[None], P0, price, load, weights, penalty)
    ours = fit_objective(fit.slope, fit.intercept_mw, price, load, weights, penalty)
    assert ours == pytest.approx(reference, rel=1e-6)
    np.testing.assert_allclose(fit.slope[0], F, atol=1e-4 * np.abs(F).max())


def test_five_trial_points_for_four_stations_give_a_well_posed_fit() -> None:
    rng = np.random.default_rng(5)
    limits = PriceLimits()
    periods, stations = 6, 4
    slope = np.broadcast_to(-0.006 * np.eye(stations) + 0.0005, (periods, stations, stations))
    intercept = np.full((periods, stations), 1.5)
    price = np.stack([random_trial_prices(rng, stations, periods, limits) for _ in range(5)])
    load = np.einsum("tjk,ikt->ijt", slope, price) + intercept.T[None]
    load = load + rng.normal(0.0, 0.01, size=load.shape)
    fit = fit_load_response(price, load)
    assert fit.status == "optimal"
    assert np.isfinite(fit.slope).all() and np.isfinite(fit.intercept_mw).all()
    # own slopes keep their sign and size; cross-slopes stay small
    diagonal = np.diagonal(fit.slope, axis1=1, axis2=2)
    assert (diagonal < 0).all() and np.abs(diagonal + 0.006).max() < 0.004
    off = fit.slope[:, ~np.eye(stations, dtype=bool)]
    assert np.abs(off).max() < 0.004
    # a single point: no slope, the point itself
    one = fit_load_response(price[:1], load[:1])
    np.testing.assert_array_equal(one.slope, 0.0)
    np.testing.assert_allclose(one.intercept_mw, load[0].T)


def test_sdp_failure_gives_the_fallback_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    slope = np.array([[[0.01, 0.0], [0.0, 0.01]]])  # positive: the SDP is needed
    price, load = synthetic_history(slope, np.array([[1.0, 2.0]]), points=6)
    weights = np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0])

    def broken(self: cp.Problem, *args: object, **kwargs: object) -> None:
        raise cp.error.SolverError("solver broke")

    monkeypatch.setattr(cp.Problem, "solve", broken)
    fit = fit_load_response(price, load, weights)
    assert fit.status == "failed" and "solver broke" in fit.message
    np.testing.assert_array_equal(fit.slope, 0.0)
    np.testing.assert_allclose(fit.intercept_mw[0], weights @ load[:, :, 0] / weights.sum())


# ------------------------------------------------------------------------------ weights, trials
def test_history_weights_follow_the_age_rule() -> None:
    # ages 24..0, oldest first: 0.1 for ages 24..19, 1 − 0.1·(a − 10) for 18..10, 1 for 9..0
    expected = [0.1] * 6 + [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] + [1.0] * 10
    np.testing.assert_allclose(history_weights(25), expected, atol=1e-12)
    np.testing.assert_array_equal(history_weights(3), [1.0, 1.0, 1.0])
    assert history_weights(0).shape == (0,)


def test_random_trial_prices_respect_bounds_and_cap_and_are_reproducible() -> None:
    limits = PriceLimits()
    prices = random_trial_prices(np.random.default_rng(7), 50, 6, limits)
    assert prices.shape == (50, 6)
    assert prices.min() >= 80.0 and prices.max() <= 180.0
    means = prices.mean(axis=1)
    assert means.max() <= 120.0 + 1e-9
    assert np.isclose(means, 120.0).any()  # uniform on [80, 180] averages 130: most are scaled
    again = random_trial_prices(np.random.default_rng(7), 50, 6, limits)
    np.testing.assert_array_equal(prices, again)
    other = random_trial_prices(np.random.default_rng(8), 50, 6, limits)
    assert not np.array_equal(prices, other)
    # a cap at the maximum leaves the uniform draw as it is
    free = random_trial_prices(np.random.default_rng(7), 3, 4, PriceLimits(80, 180, 180))
    np.testing.assert_array_equal(free, np.random.default_rng(7).uniform(80, 180, (3, 4)))


# ------------------------------------------------------------------------------ pricing
def one_feeder_case(points: int, periods: int) -> DsoCase:
    buses = (4, 6)[:points]
    return DsoCase(
        feeders=(load_feeder("case18"),),
        periods=periods,
        period_hours=1.0,
        load_profile=np.linspace(0.8, 1.0, periods),
        charging_points=tuple(ChargingPoint(f"cs{bus}", bus) for bus in buses),
        upstream_price_per_mwh=np.linspace(30.0, 50.0, periods),
    )


def brute_force_profit(
    case: DsoCase, fit: ResponseFit, previous: np.ndarray, weight: float
) -> Callable[[np.ndarray], tuple[float, float]]:
    """At given prices, with the OPF cost of a separate fixed-load dispatch: (the objective the
    pricing maximizes, the profit on charging it reports).

    The objective subtracts the OPF's cost as the OPF minimizes it, i.e. with its weak-branch
    regularization (case18 has a 5e-4 p.u. branch; ~0.1 $/MW at the margin, which moves the
    optimal prices by ~0.02 $/MWh when the proximal weight is small); the reported profit
    uses the OPF's reported cost (``OpfResult.objective``), without it.
    """
    opf = DistFlowOpf(case, charging="fixed", solver_options=TIGHT)
    opf.set_charging_load(np.zeros((len(case.charging_points), case.periods)))
    no_charging = opf.solve().objective

    def profit(price: np.ndarray) -> tuple[float, float]:
        load = fit.predict_mw(price)
        opf.set_charging_load(load)
        result = opf.solve()
        assert result.status.has_solution
        revenue = case.period_hours * np.sum(price * load) - (result.objective - no_charging)
        regularization = result.extra.get("weak_branch_regularization", 0.0)
        objective = revenue - regularization - weight * np.sum((price - previous) ** 2)
        return float(objective), float(revenue)

    return profit


def scalar_fit(slope: list[float], intercept: list[float]) -> ResponseFit:
    periods = len(slope)
    return ResponseFit(slope=np.array(slope).reshape(periods, 1, 1),
                       intercept_mw=np.array(intercept).reshape(periods, 1),
                       status="optimal", rms_residual_mw=0.0, points=5)


def test_one_station_with_binding_cap_matches_a_brute_force_search() -> None:
    case = one_feeder_case(points=1, periods=2)
    fit = scalar_fit([-0.008, -0.006], [1.6, 2.0])
    previous = np.array([[125.0, 135.0]])  # averages 130, above the cap
    problem = DsoPricingProblem(case, PriceLimits())
    result = problem.solve(fit, previous)
    assert result.status == "optimal", result.message
    price = result.price_per_mwh
    assert price.mean() == pytest.approx(120.0, abs=1e-6)
    assert price.min() > 80.0 and price.max() < 180.0

    # on the cap's line λ₂ = 240 − λ₁, a scalar search with an OPF dispatch per candidate
    profit = brute_force_profit(case, fit, previous, 0.2)
    search = minimize_scalar(lambda first: -profit(np.array([[first, 240.0 - first]]))[0],
                             bounds=(80.0, 160.0), method="bounded",
                             options={"xatol": 1e-6})
    best = np.array([[search.x, 240.0 - search.x]])
    np.testing.assert_allclose(price, best, rtol=1e-5)
    _, revenue = profit(price)
    assert result.predicted_revenue_usd == pytest.approx(revenue, rel=1e-5)
    assert result.predicted_revenue_usd == pytest.approx(profit(best)[1], rel=1e-5)
    # leaving the cap's line downward does not pay: the cap binds
    assert profit(price - 0.5)[0] < profit(price)[0]


def test_one_station_interior_optimum_matches_a_brute_force_search() -> None:
    case = one_feeder_case(points=1, periods=2)
    fit = scalar_fit([-0.008, -0.006], [1.6, 2.0])
    previous = np.array([[110.0, 150.0]])
    weight = 0.01
    problem = DsoPricingProblem(case, PriceLimits(80.0, 180.0, 180.0), proximal_weight=weight)
    result = problem.solve(fit, previous)
    assert result.status == "optimal", result.message
    # no DER: the periods' OPF costs separate, so search each price with the other fixed
    profit = brute_force_profit(case, fit, previous, weight)
    best = result.price_per_mwh.copy()
    for t in range(2):
        def negative(value: float, t: int = t) -> float:
            trial = best.copy()
            trial[0, t] = value
            return -profit(trial)[0]

        best[0, t] = minimize_scalar(negative, bounds=(80.0, 180.0), method="bounded",
                                     options={"xatol": 1e-6}).x
    assert best.min() > 80.0 and best.max() < 180.0  # interior: no bound is active
    np.testing.assert_allclose(result.price_per_mwh, best, rtol=1e-5)
    assert result.predicted_revenue_usd == pytest.approx(profit(best)[1], rel=1e-5)


def test_two_feeders_prices_satisfy_limits_and_kkt_with_dispatch_dlmps() -> None:
    feeders = tuple(dataclasses.replace(load_feeder("case18"), name=name)
                    for name in ("pdn1", "pdn2"))
    periods = 3
    case = DsoCase(
        feeders=feeders, periods=periods, period_hours=1.0,
        load_profile=np.array([0.7, 1.0, 0.8]),
        charging_points=(ChargingPoint("s7", 4, "pdn1"), ChargingPoint("s9", 6, "pdn2"),
                         ChargingPoint("s10", 4, "pdn1"), ChargingPoint("s12", 6, "pdn2")),
        upstream_price_per_mwh=np.array([40.0, 70.0, 55.0]),
    )
    stations = 4
    rng = np.random.default_rng(11)
    base = -0.006 * np.eye(stations) + 0.001 * (1 - np.eye(stations))
    slope = np.stack([base * scale for scale in (1.0, 0.8, 1.2)])
    intercept = rng.uniform(1.2, 2.0, size=(periods, stations))
    fit = ResponseFit(slope=slope, intercept_mw=intercept, status="optimal",
                      rms_residual_mw=0.0, points=5)
    limits = PriceLimits()
    previous = random_trial_prices(rng, stations, periods, limits)
    previous[0] = [175.0, 178.0, 170.0]  # s7 is pulled above the cap
    previous[1] = [195.0, 90.0, 60.0]  # s9 above the maximum in period 0
    previous[2] = [60.0, 100.0, 110.0]  # s10 below the minimum in period 0, average under the cap
    previous[3] = [90.0, 100.0, 95.0]  # s12 well inside
    weight = 0.2
    problem = DsoPricingProblem(case, limits, proximal_weight=weight)
    result = problem.solve(fit, previous)
    assert result.status == "optimal", result.message
    price = result.price_per_mwh
    assert price.min() >= 80.0 - 1e-6 and price.max() <= 180.0 + 1e-6
    means = price.mean(axis=1)
    assert means.max() <= 120.0 + 1e-6
    assert means[0] == pytest.approx(120.0, abs=1e-6)
    assert price[1, 0] == pytest.approx(180.0, abs=1e-6)
    assert price[2, 0] == pytest.approx(80.0, abs=1e-6)
    assert means[2:].max() < 119.0

    # KKT of max J(λ) = Δt Σ (λᵀFλ + P0ᵀλ) − C(Fλ + P0) − ϖ‖λ − λ̂‖², with ∂C/∂P = Δt·DLMP
    # from a separate fixed-load dispatch at the predicted loads
    opf = DistFlowOpf(case, charging="fixed", solver_options=TIGHT)
    opf.set_charging_load(result.predicted_load_mw)
    dispatch = opf.solve()
    assert dispatch.status.has_solution
    dlmp = np.array([dispatch.charging_dlmp_per_mwh[name] for name in problem.stations])
    gradient = np.einsum("tjk,kt->jt", slope + np.transpose(slope, (0, 2, 1)), price) \
        + intercept.T - np.einsum("tkj,kt->jt", slope, dlmp) - 2 * weight * (price - previous)
    free = (price > 80.0 + 1e-4) & (price < 180.0 - 1e-4)
    for j in range(stations):
        at_cap = means[j] > 120.0 - 1e-6
        inside = gradient[j, free[j]]
        multiplier = inside.mean() if at_cap else 0.0
        assert multiplier >= -1e-6
        np.testing.assert_allclose(inside, multiplier, atol=2e-3)
        assert (gradient[j, price[j] >= 180.0 - 1e-4] >= multiplier - 2e-3).all()
        assert (gradient[j, price[j] <= 80.0 + 1e-4] <= multiplier + 2e-3).all()
    # the reported profit, recomputed from the dispatch
    no_charging = problem.no_charging_cost_usd()
    profit = np.sum(price * result.predicted_load_mw) - (dispatch.objective - no_charging)
    assert result.predicted_revenue_usd == pytest.approx(profit, rel=1e-5)

    # a re-solve with new Parameters moves toward the new previous price
    again = problem.solve(fit, price)
    assert again.status == "optimal"
    assert again.price_per_mwh.mean(axis=1).max() <= 120.0 + 1e-6


def test_unservable_response_is_infeasible_and_keeps_the_previous_price() -> None:
    case = one_feeder_case(points=2, periods=2)
    fit = ResponseFit(slope=np.broadcast_to(-0.001 * np.eye(2), (2, 2, 2)).copy(),
                      intercept_mw=np.full((2, 2), -5.0), status="optimal",
                      rms_residual_mw=0.0, points=5)
    previous = np.full((2, 2), 100.0)
    result = DsoPricingProblem(case).solve(fit, previous)
    assert result.status == "infeasible"
    np.testing.assert_array_equal(result.price_per_mwh, previous)
    assert np.isnan(result.predicted_revenue_usd) and "infeasible" in result.message


# ------------------------------------------------------------------------------ invalid input
def test_invalid_input_names_the_item() -> None:
    with pytest.raises(InvalidInputError, match="price_min_per_mwh"):
        PriceLimits(price_min_per_mwh=200.0)
    with pytest.raises(InvalidInputError, match="mean_cap_per_mwh"):
        PriceLimits(mean_cap_per_mwh=200.0)
    with pytest.raises(InvalidInputError, match="price_max_per_mwh"):
        PriceLimits(price_max_per_mwh=float("inf"))
    with pytest.raises(InvalidInputError, match="count"):
        history_weights(-1)
    with pytest.raises(InvalidInputError, match="stations"):
        random_trial_prices(np.random.default_rng(0), 0, 3, PriceLimits())

    price = np.full((5, 2, 3), 100.0)
    with pytest.raises(InvalidInputError, match="price_per_mwh"):
        fit_load_response(price[:, :, 0], price[:, :, 0])
    with pytest.raises(InvalidInputError, match="load_mw"):
        fit_load_response(price, np.ones((5, 2, 2)))
    with pytest.raises(InvalidInputError, match=r"load_mw\[1, 0, 2\]"):
        bad = np.ones((5, 2, 3))
        bad[1, 0, 2] = np.nan
        fit_load_response(price, bad)
    with pytest.raises(InvalidInputError, match="weights"):
        fit_load_response(price, np.ones((5, 2, 3)), np.ones(4))
    with pytest.raises(InvalidInputError, match="off_diagonal_penalty"):
        fit_load_response(price, np.ones((5, 2, 3)), off_diagonal_penalty=-1.0)

    fit = fit_load_response(price, np.ones((5, 2, 3)))
    with pytest.raises(InvalidInputError, match="price_per_mwh"):
        fit.predict_mw(np.ones((3, 2)))
    with pytest.raises(InvalidInputError, match="intercept_mw"):
        ResponseFit(slope=np.zeros((3, 2, 2)), intercept_mw=np.zeros((2, 3)), status="optimal",
                    rms_residual_mw=0.0, points=1)

    case = one_feeder_case(points=2, periods=3)
    problem = DsoPricingProblem(case)
    with pytest.raises(InvalidInputError, match="previous_price_per_mwh"):
        problem.solve(fit, np.full((3, 2), 100.0))
    small = fit_load_response(price[:, :, :2], np.ones((5, 2, 2)))
    with pytest.raises(InvalidInputError, match=r"fit\.slope"):
        problem.solve(small, np.full((2, 3), 100.0))
    positive = ResponseFit(slope=np.broadcast_to(0.01 * np.eye(2), (3, 2, 2)).copy(),
                           intercept_mw=np.ones((3, 2)), status="optimal",
                           rms_residual_mw=0.0, points=5)
    with pytest.raises(InvalidInputError, match=r"fit\.slope\[0\]"):
        problem.solve(positive, np.full((2, 3), 100.0))
    with pytest.raises(InvalidInputError, match="proximal_weight"):
        DsoPricingProblem(case, proximal_weight=-0.1)
    with pytest.raises(InvalidInputError, match="charging points"):
        DsoPricingProblem(dataclasses.replace(case, charging_points=()))

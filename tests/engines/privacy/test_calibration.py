"""Noise calibration (ptn.engines.privacy.calibration) against formulas written out here.

The analytic Gaussian σ is checked against a bisection, written in this file, on the exact
Gaussian privacy profile δ(ε) = Φ(Δ/2σ − εσ/Δ) − e^ε Φ(−Δ/2σ − εσ/Δ) (Balle & Wang 2018,
Thm 8), not against the library's own (v, u) parametrization of Algorithm 1; and the profile
itself is checked against a Monte Carlo estimate of the privacy loss's tail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.calibration import (
    analytic_gaussian_sigma,
    classic_gaussian_sigma,
    gaussian_delta,
    gaussian_epsilon,
    gaussian_rho,
    laplace_scale,
    sigma_for_rho,
)


def exact_profile(sensitivity: float, sigma: float, epsilon: float) -> float:
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    return float(norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b))


def sigma_by_bisection(sensitivity: float, epsilon: float, delta: float) -> float:
    """The least σ with exact_profile(σ) <= δ: the profile decreases in σ."""
    low, high = 1e-6, 1.0
    while exact_profile(sensitivity, high, epsilon) > delta:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if exact_profile(sensitivity, middle, epsilon) > delta:
            low = middle
        else:
            high = middle
    return high


def test_laplace_scale_is_sensitivity_over_epsilon() -> None:
    assert laplace_scale(2.5, 0.5) == 5.0
    assert laplace_scale(1.0, 4.0) == 0.25
    assert laplace_scale(3.0, math.inf) == 0.0


def test_classic_gaussian_sigma() -> None:
    expected = 2.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5
    assert classic_gaussian_sigma(2.0, 0.5, 1e-5) == pytest.approx(expected, rel=1e-14)
    assert classic_gaussian_sigma(2.0, math.inf, 1e-5) == 0.0
    with pytest.raises(InvalidInputError, match="epsilon < 1"):
        classic_gaussian_sigma(1.0, 1.0, 1e-5)


@pytest.mark.parametrize(("epsilon", "delta"), [
    (0.05, 1e-6), (0.5, 1e-5), (1.0, 1e-5), (3.0, 1e-8), (10.0, 1e-3), (0.1, 0.3),
    (1.0, 0.5),  # δ above Φ(0) − e^ε Φ(−sqrt(2ε)): the B+ branch of Algorithm 1
    (30.0, 1e-12),
])
@pytest.mark.parametrize("sensitivity", [1.0, 0.37])
def test_analytic_gaussian_matches_a_bisection_on_the_exact_profile(
        epsilon: float, delta: float, sensitivity: float) -> None:
    sigma = analytic_gaussian_sigma(sensitivity, epsilon, delta)
    assert sigma == pytest.approx(sigma_by_bisection(sensitivity, epsilon, delta), rel=1e-9)
    assert exact_profile(sensitivity, sigma, epsilon) <= delta * (1 + 1e-9)
    assert exact_profile(sensitivity, sigma * 0.999, epsilon) > delta  # the least such σ
    assert gaussian_delta(sensitivity, sigma, epsilon) <= delta  # rounded up, not down
    stated = gaussian_epsilon(sensitivity, sigma, delta)
    assert stated == pytest.approx(epsilon, rel=1e-9)
    assert gaussian_delta(sensitivity, sigma, stated) <= delta


def test_both_branches_of_algorithm_1_are_exercised() -> None:
    for epsilon, delta in [(1.0, 0.5), (1.0, 1e-5)]:
        threshold = norm.cdf(0) - math.exp(epsilon) * norm.cdf(-math.sqrt(2 * epsilon))
        assert (delta > threshold) == (delta == 0.5)


def test_analytic_is_tighter_than_classic_where_both_hold() -> None:
    """Balle & Wang's point: the classic σ is larger than needed (Fig. 1)."""
    for epsilon in (0.01, 0.1, 0.5, 0.9):
        analytic = analytic_gaussian_sigma(1.0, epsilon, 1e-5)
        classic = classic_gaussian_sigma(1.0, epsilon, 1e-5)
        assert analytic < classic
        assert exact_profile(1.0, classic, epsilon) <= 1e-5  # the classic one is private too


def test_the_exact_profile_agrees_with_the_privacy_loss_tail() -> None:
    """δ(ε) = E[max(0, 1 − e^(ε − L))], L the privacy loss of N(0, σ²) against N(Δ, σ²)
    (the hockey-stick divergence): estimated by sampling, independently of the closed form."""
    sensitivity, sigma, epsilon = 1.0, 0.8, 0.7
    draws = np.random.default_rng(3).normal(0.0, sigma, 2_000_000)
    loss = ((draws - sensitivity) ** 2 - draws**2) / (2 * sigma**2)  # ln p0(x)/p1(x)
    estimate = float(np.mean(np.maximum(1 - np.exp(epsilon - loss), 0.0)))
    assert estimate == pytest.approx(exact_profile(sensitivity, sigma, epsilon), rel=0.01)


def test_infinite_epsilon_and_zero_sensitivity_need_no_noise() -> None:
    assert analytic_gaussian_sigma(1.0, math.inf, 1e-5) == 0.0
    assert analytic_gaussian_sigma(0.0, 1.0, 1e-5) == 0.0


def test_zcdp_rho_of_gaussian_noise() -> None:
    assert gaussian_rho(2.0, 4.0) == 2.0**2 / (2 * 4.0**2)
    assert gaussian_rho(0.0, 0.0) == 0.0
    assert gaussian_rho(1.0, 0.0) == math.inf
    assert sigma_for_rho(2.0, gaussian_rho(2.0, 4.0)) == pytest.approx(4.0, rel=1e-15)
    assert sigma_for_rho(2.0, math.inf) == 0.0


@pytest.mark.parametrize(("call", "named"), [
    (lambda: laplace_scale(-1.0, 1.0), "l1_sensitivity"),
    (lambda: laplace_scale(math.nan, 1.0), "l1_sensitivity"),
    (lambda: laplace_scale(1.0, 0.0), "epsilon"),
    (lambda: laplace_scale(1.0, -2.0), "epsilon"),
    (lambda: analytic_gaussian_sigma(1.0, 1.0, 0.0), "delta"),
    (lambda: analytic_gaussian_sigma(1.0, 1.0, 1.0), "delta"),
    (lambda: analytic_gaussian_sigma(math.inf, 1.0, 0.1), "l2_sensitivity"),
    (lambda: classic_gaussian_sigma(1.0, math.nan, 0.1), "epsilon"),
    (lambda: gaussian_rho(1.0, -1.0), "sigma"),
    (lambda: sigma_for_rho(1.0, 0.0), "rho"),
])
def test_bad_arguments_are_refused_by_name(call: object, named: str) -> None:
    assert callable(call)
    with pytest.raises(InvalidInputError, match=named):
        call()

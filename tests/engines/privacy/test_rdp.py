"""Rényi DP curves and their conversion (ptn.engines.privacy.rdp), against integrals and
closed forms computed here.

The Laplace curve is checked against the Rényi divergence of Laplace(0, b) from Laplace(Δ, b)
integrated numerically; Gaussian rounds' conversion against the closed-form minimum over all
orders, ρ + 2 sqrt(ρ ln(1/δ)), which a finite grid can only approach from above; and Laplace
rounds must come out tighter by RDP than by zCDP (the reason to keep the curve).
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate
from scipy.stats import laplace

from ptn.engines.privacy.accountant import RoundCost, compose
from ptn.engines.privacy.rdp import ORDERS, laplace_rdp, rdp_epsilon


def renyi_divergence_of_laplace(alpha: float, scale: float, shift: float) -> float:
    """D_α(P||Q) = ln ∫ p^α q^(1−α) / (α − 1), P = Laplace(0, b), Q = Laplace(Δ, b), integrated
    numerically (the integrand's largest log, at x = 0, factored out so that e^(αε) does not
    overflow)."""
    def log_integrand(x: float) -> float:  # Laplace log densities: −|x − μ|/b − ln(2b)
        return -(alpha * abs(x) + (1 - alpha) * abs(x - shift)) / scale - math.log(2 * scale)

    assert log_integrand(0.3) == pytest.approx(
        alpha * laplace.logpdf(0.3, scale=scale)
        + (1 - alpha) * laplace.logpdf(0.3, loc=shift, scale=scale), rel=1e-12)
    top = log_integrand(0.0)
    pieces = [integrate.quad(lambda x: math.exp(log_integrand(x) - top), low, high,
                             limit=200, epsabs=0.0, epsrel=1e-11)[0]
              for low, high in ((-60 * scale, 0.0), (0.0, shift), (shift, shift + 60 * scale))]
    return (top + math.log(sum(pieces))) / (alpha - 1)


@pytest.mark.parametrize("epsilon", [0.05, 0.5, 2.0])
def test_the_laplace_curve_is_the_renyi_divergence(epsilon: float) -> None:
    sensitivity = 1.7
    curve = laplace_rdp(epsilon)
    for alpha, value in zip(ORDERS, curve, strict=True):
        expected = renyi_divergence_of_laplace(alpha, sensitivity / epsilon, sensitivity)
        assert value == pytest.approx(expected, rel=1e-7), alpha


def test_the_laplace_curve_is_below_both_generic_ones() -> None:
    for epsilon in (0.01, 0.3, 1.0, 5.0):
        for alpha, value in zip(ORDERS, laplace_rdp(epsilon), strict=True):
            assert value <= min(epsilon, alpha * epsilon**2 / 2) * (1 + 1e-12)


@pytest.mark.parametrize(("rho", "delta"), [(0.01, 1e-6), (0.5, 1e-5), (3.0, 1e-8)])
def test_gaussian_rounds_convert_close_to_the_zcdp_closed_form(rho: float,
                                                               delta: float) -> None:
    rounds = 10
    spent = compose((RoundCost(math.inf, 0.0, rho=rho / rounds),) * rounds, delta)
    rdp, zcdp = spent.bound("rdp"), spent.bound("zcdp")
    assert rdp is not None and zcdp is not None
    closed_form = rho + 2 * math.sqrt(rho * math.log(1 / delta))
    assert zcdp.epsilon == pytest.approx(closed_form, rel=1e-12)
    assert closed_form * (1 - 1e-12) <= rdp.epsilon <= closed_form * 1.02


def test_laplace_rounds_are_tighter_by_rdp_than_by_zcdp() -> None:
    spent = compose((RoundCost.laplace(0.1),) * 100, 1e-6)
    rdp, zcdp = spent.bound("rdp"), spent.bound("zcdp")
    assert rdp is not None and zcdp is not None
    assert rdp.epsilon < zcdp.epsilon
    assert spent.best.name == "rdp"
    # a generic ε-DP round (no curve given) is charged min(ε, αε²/2)
    generic = compose((RoundCost.pure(0.1),) * 100, 1e-6).bound("rdp")
    assert generic is not None and rdp.epsilon < generic.epsilon


def test_conversion_takes_the_best_order() -> None:
    curve = tuple(0.02 * a for a in ORDERS)
    expected = min(0.02 * a + math.log(1e5) / (a - 1) for a in ORDERS)
    assert rdp_epsilon(curve, 1e-5) == pytest.approx(expected, rel=1e-15)
    assert rdp_epsilon(curve, 0.0) == math.inf

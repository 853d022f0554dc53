"""Noise scales for a stated sensitivity and privacy level: Laplace, classic and analytic Gaussian.

Why this module exists: the noise an operator adds is only as private as its calibration, and the
three calibrations used in the DP-ADMM literature differ in where they hold:

- Laplace (Dwork & Roth 2014, Thm 3.6): scale b = Δ1/ε gives ε-DP for any ε > 0;
- classic Gaussian (Dwork & Roth 2014, Thm A.1): σ = Δ2·sqrt(2 ln(1.25/δ))/ε gives (ε, δ)-DP,
  proved only for ε < 1;
- analytic Gaussian (Balle & Wang 2018, Algorithm 1): the smallest σ whose exact privacy profile
  Φ(Δ/2σ − εσ/Δ) − e^ε Φ(−Δ/2σ − εσ/Δ) is at most δ, for any ε > 0;
- zCDP (Bun & Steinke 2016, Prop. 1.6): Gaussian noise σ on a query of L2 sensitivity Δ2 is
  ρ-zCDP with ρ = Δ2²/(2σ²).

The exact profile also states a given σ's least ε at a given δ (:func:`gaussian_epsilon`);
solved values are rounded up, never down, so a stated (ε, δ) holds in floating point too.

ε = ∞ means no privacy is asked for: every scale is 0. Bad arguments raise
:class:`~ptn.engines.errors.InvalidInputError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr

from ptn.engines.errors import InvalidInputError

#: the relative precision the analytic Gaussian's σ is solved to
ANALYTIC_RELATIVE_TOLERANCE = 1e-12


def check_sensitivity(sensitivity: float, name: str) -> float:
    """A finite, non-negative sensitivity, or an error naming it."""
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, int | float) \
            or not math.isfinite(sensitivity) or sensitivity < 0:
        raise InvalidInputError(f"{name}: expected a finite number >= 0, got {sensitivity!r}")
    return float(sensitivity)


def check_epsilon(epsilon: float, name: str = "epsilon") -> float:
    """ε > 0, possibly ∞ (no privacy asked for), or an error naming it."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) \
            or math.isnan(epsilon) or not epsilon > 0:
        raise InvalidInputError(f"{name}: expected a number > 0 (or inf), got {epsilon!r}")
    return float(epsilon)


def check_delta(delta: float, name: str = "delta", *, allow_zero: bool = False) -> float:
    """δ in (0, 1) (or [0, 1) with ``allow_zero``), or an error naming it."""
    low_ok = (delta >= 0) if allow_zero else (delta > 0)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or math.isnan(delta) \
            or not (low_ok and delta < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise InvalidInputError(f"{name}: expected a number in {interval}, got {delta!r}")
    return float(delta)


def laplace_scale(l1_sensitivity: float, epsilon: float) -> float:
    """The Laplace scale b = Δ1/ε of the ε-DP Laplace mechanism (0 at ε = ∞)."""
    sensitivity = check_sensitivity(l1_sensitivity, "l1_sensitivity")
    epsilon = check_epsilon(epsilon)
    return 0.0 if math.isinf(epsilon) else sensitivity / epsilon


def classic_gaussian_sigma(l2_sensitivity: float, epsilon: float, delta: float) -> float:
    """σ = Δ2·sqrt(2 ln(1.25/δ))/ε, (ε, δ)-DP for ε < 1 only (Dwork & Roth 2014, Thm A.1)."""
    sensitivity = check_sensitivity(l2_sensitivity, "l2_sensitivity")
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    if math.isinf(epsilon):
        return 0.0
    if epsilon >= 1:
        raise InvalidInputError(f"epsilon: the classic Gaussian calibration holds for epsilon < 1 "
                                f"only, got {epsilon!r}: use the analytic Gaussian")
    return sensitivity * math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon


def _exp_times_ndtr(log_factor: float, x: float) -> float:
    """e^log_factor · Φ(x), computed in logs so that large ε does not overflow."""
    return math.exp(log_factor + float(log_ndtr(x)))


def analytic_gaussian_sigma(l2_sensitivity: float, epsilon: float, delta: float) -> float:
    """The smallest σ making the Gaussian mechanism (ε, δ)-DP, any ε > 0 (Balle & Wang 2018,
    Algorithm 1: the v (or u) parametrization of the exact privacy profile, solved by
    bracketing and Brent's method instead of the paper's bisection)."""
    sensitivity = check_sensitivity(l2_sensitivity, "l2_sensitivity")
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    if math.isinf(epsilon) or sensitivity == 0:
        return 0.0
    delta_at_zero = float(ndtr(0.0)) - _exp_times_ndtr(epsilon, -math.sqrt(2.0 * epsilon))

    def b_plus(v: float) -> float:
        return float(ndtr(math.sqrt(epsilon * v))) \
            - _exp_times_ndtr(epsilon, -math.sqrt(epsilon * (v + 2.0)))

    def b_minus(u: float) -> float:
        return float(ndtr(-math.sqrt(epsilon * u))) \
            - _exp_times_ndtr(epsilon, -math.sqrt(epsilon * (u + 2.0)))

    if delta == delta_at_zero:
        alpha = 1.0
    elif delta > delta_at_zero:
        # B+ increases from delta_at_zero towards 1: v* = sup{v >= 0 : B+(v) <= δ}
        v = _root_after_doubling(lambda x: b_plus(x) - delta)
        alpha = math.sqrt(1.0 + v / 2.0) - math.sqrt(v / 2.0)
    else:
        # B- decreases from delta_at_zero towards 0: u* = inf{u >= 0 : B-(u) <= δ}
        u = _root_after_doubling(lambda x: delta - b_minus(x))
        alpha = math.sqrt(1.0 + u / 2.0) + math.sqrt(u / 2.0)
    sigma = alpha * sensitivity / math.sqrt(2.0 * epsilon)
    while gaussian_delta(sensitivity, sigma, epsilon) > delta:  # round up, never down
        sigma *= 1.0 + ANALYTIC_RELATIVE_TOLERANCE
    return sigma


def _root_after_doubling(function: Callable[[float], float]) -> float:
    """The root in [0, ∞) of an increasing function negative at 0 (Balle & Wang's doubling
    then a bracketed solve)."""
    high = 1.0
    while function(high) < 0:
        high *= 2.0
        if high > 1e300:  # pragma: no cover - the profiles are monotone with limits 1 and 0
            raise InvalidInputError("delta: no finite Gaussian calibration found")
    return float(brentq(function, 0.0, high, xtol=1e-300, rtol=ANALYTIC_RELATIVE_TOLERANCE,
                        maxiter=500))


def gaussian_rho(l2_sensitivity: float, sigma: float) -> float:
    """The zCDP ρ = Δ2²/(2σ²) of Gaussian noise σ (Bun & Steinke 2016, Prop. 1.6); 0 when
    the sensitivity is 0, ∞ when σ = 0 and the sensitivity is not."""
    sensitivity = check_sensitivity(l2_sensitivity, "l2_sensitivity")
    sigma = check_sensitivity(sigma, "sigma")
    if sensitivity == 0:
        return 0.0
    return math.inf if sigma == 0 else sensitivity**2 / (2.0 * sigma**2)


def sigma_for_rho(l2_sensitivity: float, rho: float) -> float:
    """The Gaussian σ = Δ2/sqrt(2ρ) that is exactly ρ-zCDP (0 at ρ = ∞)."""
    sensitivity = check_sensitivity(l2_sensitivity, "l2_sensitivity")
    if isinstance(rho, bool) or not isinstance(rho, int | float) or math.isnan(rho) \
            or not rho > 0:
        raise InvalidInputError(f"rho: expected a number > 0 (or inf), got {rho!r}")
    return 0.0 if math.isinf(rho) else sensitivity / math.sqrt(2.0 * rho)


def gaussian_delta(l2_sensitivity: float, sigma: float, epsilon: float) -> float:
    """The exact δ(ε) of Gaussian noise σ (Balle & Wang 2018, Thm 8):
    Φ(Δ/2σ − εσ/Δ) − e^ε Φ(−Δ/2σ − εσ/Δ)."""
    if l2_sensitivity == 0:
        return 0.0
    if sigma == 0:
        return 1.0
    ratio = l2_sensitivity / (2.0 * sigma)
    shift = epsilon * sigma / l2_sensitivity
    return max(float(ndtr(ratio - shift))
               - math.exp(epsilon + float(log_ndtr(-ratio - shift))), 0.0)


def gaussian_epsilon(l2_sensitivity: float, sigma: float, delta: float) -> float:
    """The least ε for which Gaussian noise σ is (ε, δ)-DP (∞ at σ = 0)."""
    delta = check_delta(delta)
    if l2_sensitivity == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    if gaussian_delta(l2_sensitivity, sigma, 0.0) <= delta:
        return 0.0
    high = 1.0
    while gaussian_delta(l2_sensitivity, sigma, high) > delta:
        high *= 2.0
    epsilon = float(brentq(lambda e: gaussian_delta(l2_sensitivity, sigma, e) - delta, 0.0,
                           high, xtol=1e-14, rtol=1e-13))
    step = max(epsilon * 1e-13, 1e-15)
    while gaussian_delta(l2_sensitivity, sigma, epsilon) > delta:  # round up, never down
        epsilon += step
        step *= 2.0
    return epsilon

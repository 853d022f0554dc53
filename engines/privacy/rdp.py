"""Rényi differential privacy curves of the rounds, and their conversion to (ε, δ).

Why this module exists: zCDP charges an ε-DP (Laplace) round ε²/2 at every Rényi order, which
over-charges Laplace noise; Rényi DP (Mironov 2017) keeps each mechanism's own curve ε(α) on a
grid of orders, adds the curves over rounds (Prop. 1) and converts at the best order
(Prop. 3: (α, ε_α)-RDP gives (ε_α + ln(1/δ)/(α − 1), δ)-DP). Curves used:

- Laplace noise of scale b = Δ1/ε (Mironov 2017, Table II):
  ε(α) = ln(α/(2α−1)·e^((α−1)ε) + (α−1)/(2α−1)·e^(−αε)) / (α − 1);
- Gaussian noise, ρ = Δ2²/(2σ²) (Mironov 2017, Table II): ε(α) = αρ;
- any other ε-DP round: min(ε, αε²/2) (the Rényi divergence grows with α up to D_∞ = ε, and an
  ε-DP round is ε²/2-zCDP, Bun & Steinke 2016, Prop. 1.4).
"""

from __future__ import annotations

import math

import numpy as np

#: the Rényi orders α the curves are kept at (a finite grid: the conversion takes the best)
ORDERS: tuple[float, ...] = (1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0,
                             10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 28.0, 32.0, 40.0, 48.0, 64.0,
                             96.0, 128.0, 192.0, 256.0, 512.0, 1024.0)

Curve = tuple[float, ...]


def laplace_rdp(epsilon: float) -> Curve:
    """The exact RDP curve of Laplace noise calibrated to ε (scale Δ1/ε), at :data:`ORDERS`."""
    if math.isinf(epsilon):
        return (math.inf,) * len(ORDERS)
    alpha = np.asarray(ORDERS)
    logs = np.logaddexp(np.log(alpha / (2 * alpha - 1)) + (alpha - 1) * epsilon,
                        np.log((alpha - 1) / (2 * alpha - 1)) - alpha * epsilon)
    return tuple(float(v) for v in np.minimum(logs / (alpha - 1), epsilon))


def gaussian_rdp(rho: float) -> Curve:
    """αρ at :data:`ORDERS` (Gaussian noise with zCDP ρ)."""
    return tuple(a * rho if rho > 0 else 0.0 for a in ORDERS)


def pure_rdp(epsilon: float, rho: float) -> Curve:
    """A curve valid for any ε-DP round that is also ρ-zCDP: min(ε, αρ)."""
    return tuple(min(epsilon, a * rho) if rho > 0 else 0.0 for a in ORDERS)


def rdp_epsilon(curve: Curve, delta: float) -> float:
    """The least ε over :data:`ORDERS` of (ε(α) + ln(1/δ)/(α − 1), δ)-DP (Mironov 2017, Prop. 3);
    ∞ at δ = 0."""
    if delta <= 0:
        return math.inf
    log_term = math.log(1.0 / delta)
    return min(value + log_term / (a - 1.0) for a, value in zip(ORDERS, curve, strict=True))

"""Link travel-time functions, their derivatives and integrals (the Beckmann terms).

Three kinds, chosen per link:

* ``BPR`` (Bureau of Public Roads, 1964): ``t = t0 * (1 + alpha * (x / c) ** beta)``, any alpha
  and beta; beta = 0 or alpha = 0 makes it constant (TNTP's constant-cost links).
* ``DAVIDSON`` (Davidson 1966), for charging links' queueing delay:
  ``t = t0 * (1 + J * x / (c - x))``. The pure form is infinite at capacity, which breaks any
  iterative solver that overshoots; like Akcelik's and Tisato's "modified Davidson" we continue
  it linearly (value and slope matched, so convex and C1) beyond ``mu * c`` with
  ``mu = DAVIDSON_LINEAR_FROM = 0.95``. Below that point it is exactly Davidson's function
  (MODELS.md §1 closed form ``t0 * (x + J * (-x - c * ln(1 - x / c)))`` for the integral).
  Davidson's function has no ``beta``; on a Davidson link ``beta`` is an added linear term
  ``beta * x`` (time units per unit flow, 0 by default). ADMM's augmented-Lagrangian penalty on
  a charging station's load is exactly such a term (:mod:`ptn.engines.traffic.multiperiod`), so the
  coordinated traffic problem stays an ordinary equilibrium problem for the same solvers.
* ``CONSTANT``: ``t = t0``.

The scalar kernels are numba-compiled so the equilibrium solvers can call them per link inside
their loops; :func:`evaluate_times` and friends are the vectorised entry points.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numba as nb
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import FloatArray

DAVIDSON_LINEAR_FROM = 0.95


class CostKind(IntEnum):
    """Which travel-time function a link uses."""

    BPR = 0
    DAVIDSON = 1
    CONSTANT = 2


@nb.njit(cache=True, inline="always")
def link_time(kind: int, t0: float, cap: float, alpha: float, beta: float, x: float) -> float:
    """Travel time of one link at flow ``x``."""
    if kind == 0:
        if alpha == 0.0:
            return t0
        if beta == 0.0:
            return t0 * (1.0 + alpha)
        return t0 * (1.0 + alpha * (x / cap) ** beta)
    if kind == 1:
        knee = DAVIDSON_LINEAR_FROM * cap
        if x <= knee:
            return t0 * (1.0 + alpha * x / (cap - x)) + beta * x
        value = t0 * (1.0 + alpha * knee / (cap - knee))
        slope = t0 * alpha * cap / ((cap - knee) * (cap - knee))
        return value + slope * (x - knee) + beta * x
    return t0


@nb.njit(cache=True, inline="always")
def link_time_derivative(
    kind: int, t0: float, cap: float, alpha: float, beta: float, x: float
) -> float:
    """d(travel time)/d(flow) of one link at flow ``x``."""
    if kind == 0:
        if alpha == 0.0 or beta == 0.0:
            return 0.0
        if x <= 0.0:
            return t0 * alpha / cap if beta == 1.0 else 0.0
        return t0 * alpha * beta * (x / cap) ** (beta - 1.0) / cap
    if kind == 1:
        knee = DAVIDSON_LINEAR_FROM * cap
        xx = min(max(x, 0.0), knee)
        return t0 * alpha * cap / ((cap - xx) * (cap - xx)) + beta
    return 0.0


@nb.njit(cache=True, inline="always")
def link_time_integral(
    kind: int, t0: float, cap: float, alpha: float, beta: float, x: float
) -> float:
    """Integral of the travel time from 0 to ``x`` (one link's Beckmann term)."""
    if kind == 0:
        if alpha == 0.0:
            return t0 * x
        if beta == 0.0:
            return t0 * (1.0 + alpha) * x
        return t0 * (x + alpha * x * (x / cap) ** beta / (beta + 1.0))
    if kind == 1:
        knee = DAVIDSON_LINEAR_FROM * cap
        xx = min(x, knee)
        head = t0 * (xx + alpha * (-xx - cap * np.log1p(-xx / cap))) + 0.5 * beta * x * x
        if x <= knee:
            return head
        value = t0 * (1.0 + alpha * knee / (cap - knee))
        slope = t0 * alpha * cap / ((cap - knee) * (cap - knee))
        extra = x - knee
        return head + value * extra + 0.5 * slope * extra * extra
    return t0 * x


@nb.njit(cache=True, inline="always")
def refresh_link_state(a, kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv):  # type: ignore[no-untyped-def]
    """Set ``cost[a]`` and ``deriv[a]``: generalized cost of link ``a`` and its flow derivative
    (negative flows from rounding count as zero)."""
    x = flow[a]
    if x < 0.0:
        x = 0.0
    cost[a] = vot * link_time(kind[a], t0[a], cap[a], alpha[a], beta[a], x) + fixed[a]
    deriv[a] = vot * link_time_derivative(kind[a], t0[a], cap[a], alpha[a], beta[a], x)


@nb.njit(cache=True)
def refresh_link_states(kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv):  # type: ignore[no-untyped-def]
    """:func:`refresh_link_state` for every link."""
    for a in range(flow.size):
        refresh_link_state(a, kind, t0, cap, alpha, beta, fixed, vot, flow, cost, deriv)


@dataclass(frozen=True)
class LinkCosts:
    """Cost functions of the links an assignment loads (the "physical" links).

    Generalized cost of link a at flow x: ``value_of_time * t_a(x) + fixed_cost[a]``, where
    ``fixed_cost`` holds money terms (tolls, distance charges, charging price x energy) already in
    cost units. Cost units are whatever ``value_of_time`` converts time into: with
    ``value_of_time = 1`` they are the network's time unit (TNTP's convention).
    """

    kind: np.ndarray
    free_flow_time: FloatArray
    capacity: FloatArray
    alpha: FloatArray
    beta: FloatArray
    fixed_cost: FloatArray
    value_of_time: float = 1.0

    def __post_init__(self) -> None:
        size = self.kind.size
        for name in ("free_flow_time", "capacity", "alpha", "beta", "fixed_cost"):
            if getattr(self, name).shape != (size,):
                raise InvalidInputError(f"LinkCosts.{name} must have one entry per link ({size})")
        if not np.isfinite(self.value_of_time) or self.value_of_time <= 0:
            raise InvalidInputError(f"value_of_time must be positive, got {self.value_of_time}")
        davidson = self.kind == CostKind.DAVIDSON
        bad = np.flatnonzero(davidson & (self.capacity <= 0))
        if bad.size:
            raise InvalidInputError(f"Davidson link {int(bad[0])} needs a positive capacity")

    @property
    def num_links(self) -> int:
        return int(self.kind.size)

    def with_fixed_cost(self, fixed_cost: FloatArray) -> LinkCosts:
        """The same links with new money terms (e.g. after a price change)."""
        return LinkCosts(
            self.kind,
            self.free_flow_time,
            self.capacity,
            self.alpha,
            self.beta,
            np.asarray(fixed_cost, dtype=np.float64),
            self.value_of_time,
        )

    def times(self, flow: FloatArray) -> FloatArray:
        return _times(self.kind, self.free_flow_time, self.capacity, self.alpha, self.beta, flow)

    def costs(self, flow: FloatArray) -> FloatArray:
        """Generalized cost per vehicle of every link at ``flow``."""
        return self.value_of_time * self.times(flow) + self.fixed_cost

    def cost_derivatives(self, flow: FloatArray) -> FloatArray:
        """d(generalized cost)/d(flow) of every link at ``flow``."""
        derivative = _derivatives(
            self.kind, self.free_flow_time, self.capacity, self.alpha, self.beta, flow
        )
        return self.value_of_time * derivative

    def beckmann(self, flow: FloatArray) -> float:
        """Beckmann objective: sum of cost integrals, in cost units x veh."""
        integral = _integrals(
            self.kind, self.free_flow_time, self.capacity, self.alpha, self.beta, flow
        )
        return float(self.value_of_time * integral.sum() + self.fixed_cost @ flow)


@nb.njit(cache=True)
def _times(kind, t0, cap, alpha, beta, flow):  # type: ignore[no-untyped-def]
    out = np.empty(flow.size)
    for a in range(flow.size):
        out[a] = link_time(kind[a], t0[a], cap[a], alpha[a], beta[a], flow[a])
    return out


@nb.njit(cache=True)
def _derivatives(kind, t0, cap, alpha, beta, flow):  # type: ignore[no-untyped-def]
    out = np.empty(flow.size)
    for a in range(flow.size):
        out[a] = link_time_derivative(kind[a], t0[a], cap[a], alpha[a], beta[a], flow[a])
    return out


@nb.njit(cache=True)
def _integrals(kind, t0, cap, alpha, beta, flow):  # type: ignore[no-untyped-def]
    out = np.empty(flow.size)
    for a in range(flow.size):
        out[a] = link_time_integral(kind[a], t0[a], cap[a], alpha[a], beta[a], flow[a])
    return out

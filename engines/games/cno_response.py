"""A charging network operator's (CNO's) best response in the charging price game, as ask/tell.

Why this module exists: in seed 001's game (Lu, Yang, Cui, Du, Tian & Hu 2024, "Optimal pricing
strategies for distribution system operator in coupled power-transportation system", Front.
Energy Res. 11:1343311, §3.3; MODELS.md §3) each CNO k answers the others' prices with the prices
of its own stations that maximize its revenue

    U_k = Σ_{m,t} (α_mt − λ_mt) · P_mt · Δt                      (eq. 25)
    s.t. α_mt^min ≤ α_mt ≤ α_mt^max                                (eq. 26)

where λ is the DSO's price to the CNO and the loads P are the traffic department's equilibrium
(MUL-UE) at all CNOs' prices (eq. 27). The CNO has no traffic model: each evaluation of P is a
*probe* that the traffic department answers, reached through a coordinator. Every search is
therefore a generator that yields a batch (list) of probe prices, each (stations, periods) for
this CNO's stations only, and is sent back the loads (MW, same shape) in the same order; it
returns a :class:`BestResponse`. :func:`run_search` drives one with an in-process oracle.

Searches:

* :func:`aem_best_response` — the paper's approximation by elasticity matrix (AEM, eqs. 28–31):
  linearize the load response at the current price α̂ by finite differences, P ≈ P̂ + J(α − α̂),
  and solve the concave QP  max Δt·(α − λ)ᵀ(P̂ + J(α − α̂))  over the bounds. ``"per-period"`` is
  the paper's: one probe per station with the step in all periods at once (m + 1 probes), read
  per period, so J is block-diagonal per period (eq. 29 ignores cross-period effects);
  ``"full"`` probes each (station, period) (n + 1 probes) and keeps the cross-period terms that
  departure shifting creates. With ``max_steps > 1`` it re-linearizes at the new price until the
  relative price change is below ``tolerance`` (the paper's ε = 0.005), with a backtracking
  safeguard. **Concavity (choice):** the QP's quadratic term is dᵀS₋d with S₋ the symmetric
  part of J with its positive eigenvalues clipped to zero (projection onto the negative
  semidefinite cone, as the paper's eq. 35 demands F ⪯ 0 of the DSO's fit), so the QP is always
  concave; the linear terms use J exactly. The QP is one cvxpy problem per search (parameters,
  DPP, Clarabel), re-solved per step, then polished by solving the KKT system of its active
  set exactly; on solver trouble the search keeps the best probed point (no exception).
* :func:`exact_best_response` — no linearization: a batched compass (pattern) search over all
  prices against the oracle, to a local maximum to ``min_step_per_mwh``.
* :func:`global_best_response` — in-process reference like the paper's genetic algorithm
  (200 generations): differential evolution over the box, one oracle batch per generation, then
  optionally refined by the exact search.

Arrays of one CNO are (stations, periods) in $/MWh or MW; flattened vectors (the Jacobian's
n = stations·periods axes) are row-major, index ``m * periods + t``.

Measured on seed 001's Nguyen–Dupuis case (tests/games/test_cno_response.py: CNO 1 owns cs7
and cs9, CNO 2 prices at 200 $/MWh, purchase prices 95–150 $/MWh per period): the iterated
per-period AEM converges in 5 steps (21 probes) to 3839.94 $, 0.06 % below the exact best
response's 3842.21 $ (589 probes), well within the paper's 0.5 %; the remaining gap is the
cross-period terms it ignores, which the iterated "full" AEM recovers (3842.207 $, 66 probes).
Differential evolution (200 generations × 50) finds the same 3842.21 $ with 10,051 probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cvxpy as cp
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import differential_evolution

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]

#: Search statuses: a converged search met its stopping test; the others ran out of budget.
CONVERGED = "converged"
MAX_STEPS = "max_steps"
MAX_PROBES = "max_probes"

#: Halvings of a rejected AEM step tried (in one batch) before keeping the linearization point.
DEFAULT_BACKTRACKS = 3


@dataclass(frozen=True)
class CnoPricing:
    """A CNO's stations and its price bounds. Arrays are (stations, periods) in $/MWh.

    Each bound may be given as a scalar, one value per period (1-D, the last axis), a column
    (stations, 1) or the full array; both are broadcast to (stations, periods). When the bounds
    do not fix the number of periods (scalars or columns), ``periods`` must; when given it must
    agree with them. The stored arrays are read-only copies.
    """

    station_names: tuple[str, ...]
    price_min_per_mwh: FloatArray
    price_max_per_mwh: FloatArray
    period_hours: float = 1.0
    periods: int | None = None

    def __post_init__(self) -> None:
        names = tuple(self.station_names)
        if not names:
            raise InvalidInputError("a CNO needs at least one station")
        for name in names:
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"station names must be non-empty strings, got {name!r}")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidInputError(f"duplicate station names: {', '.join(duplicates)}")
        low = _as_float(self.price_min_per_mwh, "price_min_per_mwh")
        high = _as_float(self.price_max_per_mwh, "price_max_per_mwh")
        for values, what in ((low, "price_min_per_mwh"), (high, "price_max_per_mwh")):
            if values.ndim > 2:
                raise InvalidInputError(f"{what} must be at most 2-D, got shape {values.shape}")
            if values.ndim == 2 and values.shape[0] != len(names):
                raise InvalidInputError(
                    f"{what} has {values.shape[0]} rows for {len(names)} stations"
                )
        widths = {a.shape[-1] for a in (low, high) if a.ndim >= 1 and a.shape[-1] != 1}
        if self.periods is not None:
            if int(self.periods) != self.periods or self.periods < 1:
                raise InvalidInputError(f"periods must be a positive integer, got {self.periods}")
            widths.add(int(self.periods))
        if len(widths) > 1:
            raise InvalidInputError(
                f"price bounds disagree on the number of periods: {sorted(widths)}"
            )
        if not widths:
            raise InvalidInputError(
                "the price bounds do not fix the number of periods: give periods="
            )
        shape = (len(names), widths.pop())
        low = np.broadcast_to(low, shape).copy()
        high = np.broadcast_to(high, shape).copy()
        bad = np.argwhere(low > high)
        if bad.size:
            m, t = bad[0]
            raise InvalidInputError(
                f"station {names[m]}, period {t}: price_min_per_mwh {low[m, t]:g} > "
                f"price_max_per_mwh {high[m, t]:g}"
            )
        if not math.isfinite(self.period_hours) or self.period_hours <= 0:
            raise InvalidInputError(f"period_hours must be positive, got {self.period_hours}")
        low.flags.writeable = False
        high.flags.writeable = False
        object.__setattr__(self, "station_names", names)
        object.__setattr__(self, "price_min_per_mwh", low)
        object.__setattr__(self, "price_max_per_mwh", high)
        object.__setattr__(self, "period_hours", float(self.period_hours))
        object.__setattr__(self, "periods", shape[1])

    @property
    def num_stations(self) -> int:
        return len(self.station_names)

    @property
    def num_periods(self) -> int:
        return int(self.price_min_per_mwh.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_stations, self.num_periods)

    def clip(self, price_per_mwh: FloatArray) -> FloatArray:
        """Prices projected onto the bounds."""
        return np.clip(price_per_mwh, self.price_min_per_mwh, self.price_max_per_mwh)


def _as_float(values: ArrayLike, what: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{what} must be numeric: {error}") from None
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} must be finite, got {values!r}")
    return array


def _matrix(pricing: CnoPricing, values: ArrayLike, what: str) -> FloatArray:
    """``values`` (scalar, per period, column or full) as a (stations, periods) array."""
    array = _as_float(values, what)
    try:
        return np.broadcast_to(array, pricing.shape).copy()
    except ValueError:
        raise InvalidInputError(
            f"{what} has shape {array.shape}, expected (stations, periods) = {pricing.shape} "
            f"(or a scalar or one value per period)"
        ) from None


def cno_revenue_usd(
    price_per_mwh: ArrayLike,
    purchase_price_per_mwh: ArrayLike,
    load_mw: ArrayLike,
    period_hours: float,
) -> float:
    """Σ_{m,t} (α − λ)·P·Δt  (eq. 25 of seed 001), in $; arrays broadcast together."""
    price = _as_float(price_per_mwh, "price_per_mwh")
    purchase = _as_float(purchase_price_per_mwh, "purchase_price_per_mwh")
    load = _as_float(load_mw, "load_mw")
    try:
        margin = np.broadcast_arrays(price - purchase, load)
    except ValueError:
        raise InvalidInputError(
            f"price {price.shape}, purchase price {purchase.shape} and load {load.shape} "
            "do not broadcast together"
        ) from None
    return float(np.sum(margin[0] * margin[1]) * period_hours)


@dataclass(frozen=True)
class BestResponse:
    """The outcome of one best-response search (``message`` says why it stopped, if unusual).

    ``revenue_usd`` and ``start_revenue_usd`` are measured from the oracle's loads;
    ``predicted_revenue_usd`` is the AEM's QP model value at its last step (for the other
    methods the measured revenue). ``probes`` counts load responses asked (equilibrium solves),
    ``batches`` their round trips, ``steps`` the method's iterations (AEM: linearizations;
    exact: poll batches; global: generations plus the refinement's polls).
    """

    method: str
    status: str
    price_per_mwh: FloatArray
    revenue_usd: float
    start_revenue_usd: float
    predicted_revenue_usd: float
    load_mw: FloatArray
    probes: int
    batches: int
    steps: int
    message: str = ""

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED


# A search yields a batch (list) of probe prices, each (stations, periods) for THIS CNO's stations
# only, and is sent back the list of load responses (each (stations, periods), MW) in the same
# order.
BestResponseSearch = Generator[list[FloatArray], list[FloatArray], BestResponse]
BatchOracle = Callable[[list[FloatArray]], list[FloatArray]]


def check_answers(probes: Sequence[FloatArray], answers: Any) -> list[FloatArray]:
    """The loads answering ``probes``, as float arrays of the probes' shapes, or raise."""
    if isinstance(answers, np.ndarray) and answers.ndim == 3:
        answers = list(answers)
    if not isinstance(answers, list | tuple):
        raise InvalidInputError(
            f"load responses must be a list of arrays, got {type(answers).__name__}"
        )
    if len(answers) != len(probes):
        raise InvalidInputError(f"got {len(answers)} load responses for {len(probes)} probes")
    checked = []
    for k, (probe, answer) in enumerate(zip(probes, answers, strict=True)):
        try:
            load = np.asarray(answer, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"load response {k} is not numeric") from None
        if load.shape != probe.shape:
            raise InvalidInputError(
                f"load response {k} has shape {load.shape}, expected {probe.shape} "
                "(stations, periods) like its probe"
            )
        if not np.all(np.isfinite(load)):
            raise InvalidInputError(f"load response {k} is not finite")
        checked.append(load)
    return checked


@dataclass
class _Point:
    price: FloatArray
    load: FloatArray
    revenue: float


@dataclass
class _Tally:
    """Counts probes and batches, keeps the best measured point, checks the answers."""

    context: _Context
    probes: int = 0
    batches: int = 0
    best: _Point | None = field(default=None)

    def ask(self, probes: list[FloatArray]) -> Generator[list[FloatArray], Any, list[FloatArray]]:
        """Yield one batch; return its checked answers."""
        return self.record(probes, (yield probes))

    def record(self, probes: list[FloatArray], answers: Any) -> list[FloatArray]:
        checked = check_answers(probes, answers)
        self.probes += len(probes)
        self.batches += 1
        for price, load in zip(probes, checked, strict=True):
            revenue = self.context.revenue(price, load)
            if self.best is None or revenue > self.best.revenue:
                self.best = _Point(price, load, revenue)
        return checked


@dataclass(frozen=True)
class _Context:
    """One CNO's problem: bounds, purchase prices and period length (all (stations, periods))."""

    pricing: CnoPricing
    purchase: FloatArray

    @property
    def low(self) -> FloatArray:
        return self.pricing.price_min_per_mwh

    @property
    def high(self) -> FloatArray:
        return self.pricing.price_max_per_mwh

    @property
    def shape(self) -> tuple[int, int]:
        return self.pricing.shape

    def revenue(self, price: FloatArray, load: FloatArray) -> float:
        return float(np.sum((price - self.purchase) * load) * self.pricing.period_hours)

    def revenues(self, prices: FloatArray, loads: FloatArray) -> FloatArray:
        """Revenues of stacked (k, stations, periods) or (k, n) prices and loads."""
        margin = (prices - self.purchase.reshape(prices.shape[1:])) * loads
        return margin.reshape(len(prices), -1).sum(axis=1) * self.pricing.period_hours

    def result(self, method: str, status: str, point: _Point, start_revenue: float,
               tally: _Tally, steps: int, predicted: float | None = None,
               message: str = "") -> BestResponse:
        return BestResponse(
            method=method, status=status, price_per_mwh=point.price.copy(),
            revenue_usd=point.revenue, start_revenue_usd=start_revenue,
            predicted_revenue_usd=point.revenue if predicted is None else predicted,
            load_mw=point.load.copy(), probes=tally.probes, batches=tally.batches, steps=steps,
            message=message,
        )


def _context(pricing: CnoPricing, purchase_price_per_mwh: ArrayLike) -> _Context:
    if not isinstance(pricing, CnoPricing):
        raise InvalidInputError(f"pricing must be a CnoPricing, got {type(pricing).__name__}")
    return _Context(pricing, _matrix(pricing, purchase_price_per_mwh, "purchase_price_per_mwh"))


def _start(context: _Context, start_price_per_mwh: ArrayLike) -> FloatArray:
    """The start price, broadcast to (stations, periods) and projected onto the bounds."""
    return context.pricing.clip(_matrix(context.pricing, start_price_per_mwh,
                                        "start_price_per_mwh"))


def _positive(value: float, what: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what} must be positive, got {value}")
    return float(value)


def _count(value: int, what: str) -> int:
    if int(value) != value or value < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {value}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# AEM


def _probe_steps(price: FloatArray, low: FloatArray, high: FloatArray, h: float) -> FloatArray:
    """Signed finite-difference steps: +h, else −h at the upper bound, else the wider side.

    Zero where the price is fixed (low == high): such entries are not probed.
    """
    up = high - price
    down = price - low
    return np.where(up >= h, h, np.where(down >= h, -h, np.where(up >= down, up, -down)))


@dataclass(frozen=True)
class _Linearization:
    """P ≈ P̂ + J(α − α̂) at α̂, from the base load and the perturbed probes' loads."""

    price: FloatArray
    load: FloatArray
    jacobian: FloatArray


class _Elasticity:
    """The probes of one linearization and the Jacobian they give (eqs. 30–31)."""

    def __init__(self, context: _Context, mode: str, h: float) -> None:
        self.context = context
        self.mode = mode
        self.h = h

    def probes(self, price: FloatArray) -> tuple[list[FloatArray], FloatArray]:
        steps = _probe_steps(price, self.context.low, self.context.high, self.h)
        probes = []
        if self.mode == "per-period":
            for m in range(price.shape[0]):
                if np.any(steps[m] != 0):
                    probe = price.copy()
                    probe[m] += steps[m]
                    probes.append(probe)
        else:
            for i in np.flatnonzero(steps):
                probe = price.copy()
                probe.flat[i] += steps.flat[i]
                probes.append(probe)
        return probes, steps

    def linearize(self, price: FloatArray, load: FloatArray, steps: FloatArray,
                  loads: list[FloatArray]) -> _Linearization:
        stations, periods = price.shape
        n = stations * periods
        jacobian = np.zeros((n, n))
        if self.mode == "per-period":
            probed = [m for m in range(stations) if np.any(steps[m] != 0)]
            for m, probe_load in zip(probed, loads, strict=True):
                t = np.flatnonzero(steps[m])
                rows = np.arange(stations)[:, None] * periods + t[None, :]
                columns = np.broadcast_to(m * periods + t[None, :], rows.shape)
                jacobian[rows, columns] = (probe_load - load)[:, t] / steps[m, t]
        else:
            probed_flat = np.flatnonzero(steps)
            for i, probe_load in zip(probed_flat, loads, strict=True):
                jacobian[:, i] = (probe_load - load).ravel() / steps.flat[i]
        return _Linearization(price, load, jacobian)


class _ConcaveQp:
    """max gᵀd − ‖L d‖²  s.t. lo ≤ d ≤ hi: one cvxpy problem per search, re-solved (DPP)."""

    def __init__(self, n: int) -> None:
        self.d = cp.Variable(n)
        self.g = cp.Parameter(n)
        self.factor = cp.Parameter((n, n))
        self.lo = cp.Parameter(n)
        self.hi = cp.Parameter(n)
        self.problem = cp.Problem(
            cp.Maximize(self.g @ self.d - cp.sum_squares(self.factor @ self.d)),
            [self.d >= self.lo, self.d <= self.hi],
        )

    def solve(self, g: FloatArray, hessian: FloatArray, factor: FloatArray, lo: FloatArray,
              hi: FloatArray) -> tuple[FloatArray | None, str]:
        """The maximizer (``hessian`` = 2·S₋ = −2·LᵀL), or None and the solver's complaint."""
        self.g.value = g
        self.factor.value = factor
        self.lo.value = lo
        self.hi.value = hi
        try:
            self.problem.solve(solver=cp.CLARABEL)
        except (cp.error.SolverError, ValueError, ArithmeticError) as error:
            return None, f"QP solver failed: {error}"
        d = self.d.value
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or d is None or (
                not np.all(np.isfinite(d))):
            return None, f"QP solver ended with status {self.problem.status}"
        d = np.clip(np.asarray(d, dtype=np.float64), lo, hi)
        return _polish(d, g, hessian, lo, hi), ""


def _model(d: FloatArray, g: FloatArray, hessian: FloatArray) -> float:
    return float(g @ d + 0.5 * d @ hessian @ d)


def _polish(d: FloatArray, g: FloatArray, hessian: FloatArray, lo: FloatArray,
            hi: FloatArray) -> FloatArray:
    """The exact maximizer of gᵀd + ½dᵀHd on the box, if ``d``'s active set is the right one.

    Fixes the variables the interior-point solution has at its bounds, solves the free ones'
    stationarity equations and accepts the result when it is feasible, satisfies the KKT sign
    conditions and is no worse; otherwise ``d`` is kept.
    """
    width = hi - lo
    tol = 1e-7 * np.maximum(1.0, width)
    fixed = width <= tol
    at_lo = ~fixed & (d <= lo + tol)
    at_hi = ~fixed & ~at_lo & (d >= hi - tol)
    free = ~(fixed | at_lo | at_hi)
    polished = d.copy()
    polished[fixed | at_lo] = lo[fixed | at_lo]
    polished[at_hi] = hi[at_hi]
    if np.any(free):
        bound = ~free
        rhs = -(g[free] + hessian[np.ix_(free, bound)] @ polished[bound])
        block = hessian[np.ix_(free, free)]
        try:
            if np.linalg.cond(block) > 1e12:
                return d
            polished[free] = np.linalg.solve(block, rhs)
        except np.linalg.LinAlgError:
            return d
        if np.any(polished[free] < lo[free] - tol[free]) or np.any(
                polished[free] > hi[free] + tol[free]):
            return d
        polished = np.clip(polished, lo, hi)
    gradient = g + hessian @ polished
    slack = 1e-7 * (1.0 + float(np.max(np.abs(g))))
    if np.any(gradient[at_lo] > slack) or np.any(gradient[at_hi] < -slack):
        return d
    if _model(polished, g, hessian) < _model(d, g, hessian) - 1e-9 * (1.0 + abs(
            _model(d, g, hessian))):
        return d
    return polished


def _negative_semidefinite(jacobian: FloatArray) -> tuple[FloatArray, FloatArray]:
    """S₋ = sym(J) with positive eigenvalues clipped to 0, and L with −S₋ = LᵀL."""
    symmetric = 0.5 * (jacobian + jacobian.T)
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    clipped = np.minimum(eigenvalues, 0.0)
    projected = (vectors * clipped) @ vectors.T
    factor = np.sqrt(-clipped)[:, None] * vectors.T
    return projected, factor


def aem_best_response(
    pricing: CnoPricing,
    purchase_price_per_mwh: FloatArray,
    start_price_per_mwh: FloatArray,
    *,
    elasticity: Literal["per-period", "full"] = "per-period",
    probe_step_per_mwh: float = 1.0,
    max_steps: int = 1,
    tolerance: float = 0.005,
    trust_region_per_mwh: float | None = None,
    max_backtracks: int = DEFAULT_BACKTRACKS,
) -> BestResponseSearch:
    """The AEM best response (seed 001 eqs. 28–31) as an ask/tell search.

    One step linearizes the load response at the current price α̂ (probes: α̂ and its
    perturbations by ``probe_step_per_mwh``, in one batch; a step is taken downwards where the
    price is at its upper bound) and solves the concave QP of the module docstring within the
    bounds (and ``|α − α̂| ≤ trust_region_per_mwh`` per price, if given). The new price is
    measured in the next batch together with the perturbations around it (the next
    linearization), or alone after the last step. Iterates up to ``max_steps`` until
    ‖Δα‖/‖α̂‖ < ``tolerance`` (status ``converged``, else ``max_steps``). Safeguard: if the
    measured revenue at the new price is below the linearization point's, the halved steps
    (up to ``max_backtracks`` halvings, one batch) are measured and the best improving one is
    taken; if none improves, the search stops at the linearization point (a fixed point of the
    method: the same QP would be solved again). The start price is projected onto the bounds.
    """
    context = _context(pricing, purchase_price_per_mwh)
    start = _start(context, start_price_per_mwh)
    if elasticity not in ("per-period", "full"):
        raise InvalidInputError(f"elasticity must be 'per-period' or 'full', got {elasticity!r}")
    h = _positive(probe_step_per_mwh, "probe_step_per_mwh")
    steps_allowed = _count(max_steps, "max_steps")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidInputError(f"tolerance must be non-negative, got {tolerance}")
    radius = (None if trust_region_per_mwh is None
              else _positive(trust_region_per_mwh, "trust_region_per_mwh"))
    if int(max_backtracks) != max_backtracks or max_backtracks < 0:
        raise InvalidInputError(
            f"max_backtracks must be a non-negative integer, got {max_backtracks}"
        )
    return _aem_search(context, start, _Elasticity(context, elasticity, h), steps_allowed,
                       float(tolerance), radius, int(max_backtracks))


def _aem_search(context: _Context, start: FloatArray, elasticity: _Elasticity, max_steps: int,
                tolerance: float, radius: float | None, backtracks: int) -> BestResponseSearch:
    tally = _Tally(context)
    dt = context.pricing.period_hours
    low = context.low.ravel()
    high = context.high.ravel()
    probes, probe_steps = elasticity.probes(start)
    answers = yield from tally.ask([start, *probes])
    here = elasticity.linearize(start, answers[0], probe_steps, answers[1:])
    here_revenue = context.revenue(start, answers[0])
    start_revenue = here_revenue
    qp = _ConcaveQp(start.size)
    steps = 0
    while True:
        steps += 1
        alpha = here.price.ravel()
        margin = alpha - context.purchase.ravel()
        g = here.load.ravel() + here.jacobian.T @ margin
        projected, factor = _negative_semidefinite(here.jacobian)
        hessian = 2.0 * projected
        lo = low - alpha
        hi = high - alpha
        if radius is not None:
            lo = np.maximum(lo, -radius)
            hi = np.minimum(hi, radius)
        base_value = float(margin @ here.load.ravel())
        d, complaint = qp.solve(g, hessian, factor, lo, hi)
        if d is None:
            best = tally.best
            assert best is not None
            return context.result(
                "aem", MAX_STEPS, best, start_revenue, tally, steps,
                message=f"step {steps}: {complaint}; kept the best probed point",
            )
        norm = max(float(np.linalg.norm(alpha)), 1e-12)
        change = float(np.linalg.norm(d)) / norm
        final = change < tolerance or steps >= max_steps
        if not np.any(d):
            return context.result("aem", CONVERGED, _Point(here.price, here.load, here_revenue),
                                  start_revenue, tally, steps, dt * base_value)
        new = here.price + d.reshape(context.shape)
        probes, probe_steps = ([], np.zeros(0)) if final else elasticity.probes(new)
        answers = yield from tally.ask([new, *probes])
        point = _Point(new, answers[0], context.revenue(new, answers[0]))
        fresh = answers[1:]
        if point.revenue < here_revenue:
            fractions = 0.5 ** np.arange(1, backtracks + 1)
            trials = [here.price + f * d.reshape(context.shape) for f in fractions]
            trial_loads = (yield from tally.ask(trials)) if trials else []
            revenues = [context.revenue(p, q) for p, q in zip(trials, trial_loads, strict=True)]
            k = int(np.argmax(revenues)) if revenues else -1
            if k < 0 or revenues[k] < here_revenue:
                return context.result(
                    "aem", CONVERGED, _Point(here.price, here.load, here_revenue),
                    start_revenue, tally, steps, dt * base_value,
                    message=f"step {steps}: the QP step and {backtracks} halvings lowered the "
                            "measured revenue; kept the linearization point",
                )
            d = d * fractions[k]
            point = _Point(trials[k], trial_loads[k], revenues[k])
            change *= fractions[k]
            final = change < tolerance or steps >= max_steps
            if not final:
                probes, probe_steps = elasticity.probes(point.price)
                fresh = yield from tally.ask(probes)
        predicted = dt * (base_value + _model(d, g, hessian))
        if final:
            status = CONVERGED if change < tolerance else MAX_STEPS
            return context.result("aem", status, point, start_revenue, tally, steps, predicted)
        here = elasticity.linearize(point.price, point.load, probe_steps, fresh)
        here_revenue = point.revenue


# ---------------------------------------------------------------------------------------------
# Exact: batched compass search


def exact_best_response(
    pricing: CnoPricing,
    purchase_price_per_mwh: FloatArray,
    start_price_per_mwh: FloatArray,
    *,
    initial_step_per_mwh: float | None = None,
    min_step_per_mwh: float = 0.01,
    max_probes: int = 20000,
) -> BestResponseSearch:
    """The best response without linearization: a batched compass search against the oracle.

    Each iteration polls α ± δ·e_i for every price i in ONE batch (polls clipped onto the
    bounds; those clipped onto the current point are skipped), then moves to the best improving
    poll, or — when several coordinates improve — to the composite move combining each
    improving coordinate's best move if that is better still (one more probe; the revenue is
    close to separable per price). δ halves when no poll improves; the search ends with status
    ``converged`` when δ < ``min_step_per_mwh`` (a local maximum to that resolution), or
    ``max_probes`` when the next batch would exceed the budget. ``initial_step_per_mwh``
    defaults to a quarter of the widest price range. The start is projected onto the bounds.
    """
    context = _context(pricing, purchase_price_per_mwh)
    start = _start(context, start_price_per_mwh)
    widest = float(np.max(context.high - context.low))
    if initial_step_per_mwh is None:
        initial = widest / 4.0 if widest > 0 else 1.0
    else:
        initial = _positive(initial_step_per_mwh, "initial_step_per_mwh")
    minimum = _positive(min_step_per_mwh, "min_step_per_mwh")
    budget = _count(max_probes, "max_probes")
    return _compass_search(context, start, None, initial, minimum, budget)


def _compass_search(context: _Context, start: FloatArray, start_load: FloatArray | None,
                    delta: float, min_step: float, max_probes: int) -> BestResponseSearch:
    tally = _Tally(context)
    shape = context.shape
    low = context.low.ravel()
    high = context.high.ravel()
    if start_load is None:
        start_load = (yield from tally.ask([start]))[0]
    x = start.ravel().copy()
    load = start_load
    revenue = context.revenue(start, start_load)
    start_revenue = revenue
    free = np.flatnonzero(high > low)
    coordinates = np.concatenate([free, free])
    signs = np.concatenate([np.ones(free.size), -np.ones(free.size)])
    steps = 0
    status = CONVERGED
    while delta >= min_step and free.size:
        values = np.clip(x[coordinates] + signs * delta, low[coordinates], high[coordinates])
        moved = values != x[coordinates]
        index, value = coordinates[moved], values[moved]
        if index.size == 0:
            delta /= 2.0
            continue
        if tally.probes + index.size > max_probes:
            status = MAX_PROBES
            break
        polls = np.tile(x, (index.size, 1))
        polls[np.arange(index.size), index] = value
        answers = yield from tally.ask([p.reshape(shape) for p in polls])
        steps += 1
        loads = np.stack(answers)
        revenues = context.revenues(polls, loads.reshape(len(polls), -1))
        improving = revenues > revenue
        if not np.any(improving):
            delta /= 2.0
            continue
        best = int(np.argmax(revenues))
        candidate = (polls[best], answers[best], float(revenues[best]))
        # each improving coordinate's best move, combined
        order = np.flatnonzero(improving)
        order = order[np.argsort(-revenues[order], kind="stable")]
        coordinate, first = np.unique(index[order], return_index=True)
        composite = x.copy()
        composite[coordinate] = value[order[first]]
        if coordinate.size >= 2:
            if tally.probes + 1 > max_probes:
                x, load, revenue = candidate[0], candidate[1], candidate[2]
                status = MAX_PROBES
                break
            composite_load = (yield from tally.ask([composite.reshape(shape)]))[0]
            composite_revenue = context.revenue(composite.reshape(shape), composite_load)
            if composite_revenue > candidate[2]:
                candidate = (composite, composite_load, composite_revenue)
        x, load, revenue = candidate[0].copy(), candidate[1], candidate[2]
    return context.result("exact", status, _Point(x.reshape(shape), load, revenue),
                          start_revenue, tally, steps)


# ---------------------------------------------------------------------------------------------
# Global reference: differential evolution


def global_best_response(
    pricing: CnoPricing,
    purchase_price_per_mwh: FloatArray,
    oracle: BatchOracle,
    *,
    seed: int = 0,
    max_generations: int = 200,
    population: int = 50,
    start_price_per_mwh: FloatArray | None = None,
    tolerance: float = 0.0,
    refine: bool = True,
    refine_step_per_mwh: float | None = None,
    min_step_per_mwh: float = 0.01,
) -> BestResponse:
    """A global reference like the paper's genetic algorithm, in-process (benchmarks, tests).

    Differential evolution (``scipy.optimize.differential_evolution``, best1bin, no polish) over
    the box of the prices that are not fixed, ``population`` members (Latin hypercube from
    ``seed``; the start, default the middle of the bounds, is one of them), each generation ONE
    oracle batch, up to ``max_generations`` generations (``tolerance`` is DE's relative spread
    of the population's revenues at which it stops early; 0 runs every generation). The best
    measured point is then refined by the exact compass search (initial step
    ``refine_step_per_mwh``, default 1/64 of the widest price range) unless ``refine`` is
    False. Status: the refinement's, else ``converged`` if DE met its tolerance and
    ``max_steps`` otherwise.
    """
    context = _context(pricing, purchase_price_per_mwh)
    if start_price_per_mwh is None:
        start = 0.5 * (context.low + context.high)
    else:
        start = _start(context, start_price_per_mwh)
    generations = _count(max_generations, "max_generations")
    members = _count(population, "population")
    if members < 5:
        raise InvalidInputError(f"population must be at least 5, got {population}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidInputError(f"tolerance must be non-negative, got {tolerance}")
    shape = context.shape
    low = context.low.ravel()
    high = context.high.ravel()
    free = np.flatnonzero(high > low)
    tally = _Tally(context)

    def measure(prices: list[FloatArray]) -> list[FloatArray]:
        return tally.record(prices, oracle(prices))

    start_revenue = context.revenue(start, measure([start])[0])
    steps = 0
    status = CONVERGED
    message = ""
    if free.size:
        def negative_revenue(xs: FloatArray) -> FloatArray:
            members_x = np.atleast_2d(xs.T) if xs.ndim == 2 else xs[None, :]
            prices = np.tile(start.ravel(), (len(members_x), 1))
            prices[:, free] = members_x
            loads = measure([p.reshape(shape) for p in prices])
            return -context.revenues(prices, np.stack(loads).reshape(len(prices), -1))

        rng = np.random.default_rng(seed)
        strata = rng.permuted(np.tile(np.arange(members), (free.size, 1)), axis=1).T
        unit = (strata + rng.random((members, free.size))) / members
        init = low[free] + unit * (high[free] - low[free])
        init[0] = start.ravel()[free]
        outcome = differential_evolution(
            negative_revenue, list(zip(low[free], high[free], strict=True)),
            maxiter=generations, init=init, seed=seed, polish=False, vectorized=True,
            updating="deferred", tol=tolerance,
        )
        steps = int(outcome.nit)
        status = CONVERGED if outcome.success else MAX_STEPS
        message = str(outcome.message)
    best = tally.best
    assert best is not None
    if refine and free.size:
        if refine_step_per_mwh is None:
            refine_step = float(np.max(high - low)) / 64.0
        else:
            refine_step = _positive(refine_step_per_mwh, "refine_step_per_mwh")
        refined = run_search(
            _compass_search(context, best.price, best.load, refine_step,
                            _positive(min_step_per_mwh, "min_step_per_mwh"), 10**9),
            oracle,
        )
        return BestResponse(
            method="global", status=refined.status, price_per_mwh=refined.price_per_mwh,
            revenue_usd=refined.revenue_usd, start_revenue_usd=start_revenue,
            predicted_revenue_usd=refined.revenue_usd, load_mw=refined.load_mw,
            probes=tally.probes + refined.probes, batches=tally.batches + refined.batches,
            steps=steps + refined.steps,
            message=f"differential evolution: {message}; refined by compass search",
        )
    return context.result("global", status, best, start_revenue, tally, steps,
                          message=f"differential evolution: {message}")


# ---------------------------------------------------------------------------------------------


def run_search(search: BestResponseSearch, oracle: BatchOracle) -> BestResponse:
    """Drive ``search`` with an in-process batch oracle (tests, benchmarks).

    The oracle's answers are checked (one finite array per probe, of the probe's shape) before
    they are sent back; a bad answer raises :class:`InvalidInputError` naming it.
    """
    try:
        batch = next(search)
        while True:
            answers = check_answers(batch, oracle(batch))
            batch = search.send(answers)
    except StopIteration as stop:
        result: BestResponse = stop.value
        return result
    finally:
        search.close()

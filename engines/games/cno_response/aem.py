"""The paper's best response by elasticity matrix (AEM), as an ask/tell search.

Why this module exists: seed 001's CNOs answer the others' prices by the approximation by
elasticity matrix (Lu, Yang, Cui, Du, Tian & Hu 2024, "Optimal pricing strategies for
distribution system operator in coupled power-transportation system", Front. Energy Res.
11:1343311, §3.3, eqs. 28–31; MODELS.md §3), which needs a few probes of the traffic
department's equilibrium per step instead of the hundreds of an exact search.

:func:`aem_best_response` linearizes the load response at the current price α̂ by finite
differences, P ≈ P̂ + J(α − α̂), and solves the concave QP  max Δt·(α − λ)ᵀ(P̂ + J(α − α̂))  over
the bounds (:mod:`~ptn.engines.games.cno_response.concave_qp`). ``"per-period"`` is the
paper's: one probe per station with the step in all periods at once (m + 1 probes), read per
period, so J is block-diagonal per period (eq. 29 ignores cross-period effects); ``"full"``
probes each (station, period) (n + 1 probes) and keeps the cross-period terms that departure
shifting creates. With ``max_steps > 1`` it re-linearizes at the new price until the relative
price change is below ``tolerance`` (the paper's ε = 0.005), with a backtracking safeguard; on
solver trouble the search keeps the best probed point (no exception). Flattened vectors (the
Jacobian's n = stations·periods axes) are row-major, index ``m * periods + t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.concave_qp import (
    ConcaveQp,
    model_value,
    negative_semidefinite,
)
from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray
from ptn.engines.games.cno_response.search import (
    CONVERGED,
    MAX_STEPS,
    BestResponseSearch,
    MeasuredPoint,
    ProbeTally,
    SearchContext,
    require_count,
    require_positive,
    search_context,
    start_price,
)

#: Halvings of a rejected AEM step tried (in one batch) before keeping the linearization point.
DEFAULT_BACKTRACKS = 3


def _probe_steps(price: FloatArray, low: FloatArray, high: FloatArray, h: float) -> FloatArray:
    """Signed finite-difference steps: +h, else −h at the upper bound, else the wider side.

    Zero where the price is fixed (low == high): such entries are not probed.
    """
    up = high - price
    down = price - low
    return np.where(up >= h, h, np.where(down >= h, -h, np.where(up >= down, up, -down)))


@dataclass(frozen=True)
class Linearization:
    """P ≈ P̂ + J(α − α̂) at α̂, from the base load and the perturbed probes' loads."""

    price: FloatArray
    load: FloatArray
    jacobian: FloatArray


class Elasticity:
    """The probes of one linearization and the Jacobian they give (eqs. 30–31)."""

    def __init__(self, context: SearchContext, mode: str, h: float) -> None:
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
                  loads: list[FloatArray]) -> Linearization:
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
        return Linearization(price, load, jacobian)


def revenue_model(context: SearchContext, here: Linearization
                  ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The concave quadratic model of the revenue's change in d = α − α̂ at a linearization:
    its gradient g = P̂ + Jᵀ(α̂ − λ), its Hessian (2·J's negative semidefinite part) and that
    part's factor (:func:`~ptn.engines.games.cno_response.concave_qp.negative_semidefinite`)."""
    margin = here.price.ravel() - context.purchase.ravel()
    g = here.load.ravel() + here.jacobian.T @ margin
    projected, factor = negative_semidefinite(here.jacobian)
    return g, 2.0 * projected, factor


def aem_best_response(
    pricing: CnoPricing,
    purchase_price_per_mwh: FloatArray,
    start_price_per_mwh: FloatArray,
    *,
    elasticity: Literal["per-period", "full"] = "per-period",
    probe_step_per_mwh: float = 1.0,
    max_steps: int = 1,
    tolerance: float = 0.005,
    trust_region_per_mwh: float | FloatArray | None = None,
    max_backtracks: int = DEFAULT_BACKTRACKS,
    measure_final: bool = True,
) -> BestResponseSearch:
    """The AEM best response (seed 001 eqs. 28–31) as an ask/tell search.

    One step linearizes the load response at the current price α̂ (probes: α̂ and its
    perturbations by ``probe_step_per_mwh``, in one batch; a step is taken downwards where the
    price is at its upper bound) and solves the concave QP of the module docstring within the
    bounds (and ``|α − α̂| ≤ trust_region_per_mwh`` per price, if given: one radius, or one
    per price as a (stations, periods) array). The new price is
    measured in the next batch together with the perturbations around it (the next
    linearization), or alone after the last step. Iterates up to ``max_steps`` until
    ‖Δα‖/‖α̂‖ < ``tolerance`` (status ``converged``, else ``max_steps``). Safeguard: if the
    measured revenue at the new price is below the linearization point's, the halved steps
    (up to ``max_backtracks`` halvings, one batch) are measured and the best improving one is
    taken; if none improves, the search stops at the linearization point (a fixed point of the
    method: the same QP would be solved again). The start price is projected onto the bounds.

    ``measure_final = False`` skips the probe of the last step's price: the search ends on the
    QP's price with the model's loads P̂ + J(α − α̂) and revenue (``message`` says so), one
    batch fewer and no safeguard on that step. For games whose rounds re-solve the
    equilibrium at the new prices anyway (the city game: with one step per round its only
    batch is then the linearization, which the traffic department answers from one
    equilibrium's derivatives, ``[traffic] probe_answers = "derivative"``).
    """
    context = search_context(pricing, purchase_price_per_mwh)
    start = start_price(context, start_price_per_mwh)
    if elasticity not in ("per-period", "full"):
        raise InvalidInputError(f"elasticity must be 'per-period' or 'full', got {elasticity!r}")
    h = require_positive(probe_step_per_mwh, "probe_step_per_mwh")
    steps_allowed = require_count(max_steps, "max_steps")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidInputError(f"tolerance must be non-negative, got {tolerance}")
    radius = None if trust_region_per_mwh is None else _radius(trust_region_per_mwh,
                                                               context.shape)
    if int(max_backtracks) != max_backtracks or max_backtracks < 0:
        raise InvalidInputError(
            f"max_backtracks must be a non-negative integer, got {max_backtracks}"
        )
    return _aem_search(context, start, Elasticity(context, elasticity, h), steps_allowed,
                       float(tolerance), radius, int(max_backtracks), bool(measure_final))


def _radius(value: float | FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """The trust region per price (flattened), each finite and positive, else
    InvalidInputError naming ``trust_region_per_mwh``."""
    radius = np.asarray(value, dtype=np.float64)
    if radius.ndim == 0:
        return np.full(int(np.prod(shape)), require_positive(float(radius),
                                                             "trust_region_per_mwh"))
    if radius.shape != shape:
        raise InvalidInputError(f"trust_region_per_mwh: expected one radius or shape {shape}, "
                                f"got shape {radius.shape}")
    if not np.all(np.isfinite(radius) & (radius > 0)):
        raise InvalidInputError(f"trust_region_per_mwh must be positive, got "
                                f"{float(radius[~(np.isfinite(radius) & (radius > 0))][0])}")
    return radius.ravel().copy()


def _aem_search(context: SearchContext, start: FloatArray, elasticity: Elasticity,
                max_steps: int, tolerance: float, radius: FloatArray | None,
                backtracks: int, measure_final: bool = True) -> BestResponseSearch:
    tally = ProbeTally(context)
    dt = context.pricing.period_hours
    low = context.low.ravel()
    high = context.high.ravel()
    probes, probe_steps = elasticity.probes(start)
    answers = yield from tally.ask([start, *probes])
    here = elasticity.linearize(start, answers[0], probe_steps, answers[1:])
    here_revenue = context.revenue(start, answers[0])
    start_revenue = here_revenue
    qp = ConcaveQp(start.size)
    steps = 0
    while True:
        steps += 1
        alpha = here.price.ravel()
        margin = alpha - context.purchase.ravel()
        g, hessian, factor = revenue_model(context, here)
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
            return context.result("aem", CONVERGED,
                                  MeasuredPoint(here.price, here.load, here_revenue),
                                  start_revenue, tally, steps, dt * base_value)
        new = here.price + d.reshape(context.shape)
        if final and not measure_final:
            load = (here.load.ravel() + here.jacobian @ d).reshape(context.shape)
            status = CONVERGED if change < tolerance else MAX_STEPS
            return context.result(
                "aem", status, MeasuredPoint(new, load, context.revenue(new, load)),
                start_revenue, tally, steps, dt * (base_value + model_value(d, g, hessian)),
                message="the last step's price is not probed: its loads and revenue are the "
                        "linearization's")
        probes, probe_steps = ([], np.zeros(0)) if final else elasticity.probes(new)
        answers = yield from tally.ask([new, *probes])
        point = MeasuredPoint(new, answers[0], context.revenue(new, answers[0]))
        fresh = answers[1:]
        if point.revenue < here_revenue:
            fractions = 0.5 ** np.arange(1, backtracks + 1)
            trials = [here.price + f * d.reshape(context.shape) for f in fractions]
            trial_loads = (yield from tally.ask(trials)) if trials else []
            revenues = [context.revenue(p, q) for p, q in zip(trials, trial_loads, strict=True)]
            k = int(np.argmax(revenues)) if revenues else -1
            if k < 0 or revenues[k] < here_revenue:
                return context.result(
                    "aem", CONVERGED, MeasuredPoint(here.price, here.load, here_revenue),
                    start_revenue, tally, steps, dt * base_value,
                    message=f"step {steps}: the QP step and {backtracks} halvings lowered the "
                            "measured revenue; kept the linearization point",
                )
            d = d * fractions[k]
            point = MeasuredPoint(trials[k], trial_loads[k], revenues[k])
            change *= fractions[k]
            final = change < tolerance or steps >= max_steps
            if not final:
                probes, probe_steps = elasticity.probes(point.price)
                fresh = yield from tally.ask(probes)
        predicted = dt * (base_value + model_value(d, g, hessian))
        if final:
            status = CONVERGED if change < tolerance else MAX_STEPS
            return context.result("aem", status, point, start_revenue, tally, steps, predicted)
        here = elasticity.linearize(point.price, point.load, probe_steps, fresh)
        here_revenue = point.revenue

"""A global reference for the best response, like the paper's genetic algorithm, in-process.

Why this module exists: seed 001 (Lu et al. 2024, §3.3) finds the CNO's best response with a
genetic algorithm (200 generations); the AEM and the exact compass search are local methods, so
the tests and benchmarks check them against a global search of the same revenue (eq. 25) over
the same box (eq. 26). :func:`global_best_response` runs differential evolution
(``scipy.optimize.differential_evolution``) with one oracle batch per generation, then optionally
refines the best point by the exact compass search (:mod:`~ptn.engines.games.cno_response.
exact`). It calls an in-process oracle directly (not an ask/tell search): it is a reference,
not something a CNO service runs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import differential_evolution

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.exact import compass_search
from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray
from ptn.engines.games.cno_response.search import (
    CONVERGED,
    MAX_STEPS,
    BatchOracle,
    BestResponse,
    ProbeTally,
    require_count,
    require_positive,
    run_search,
    search_context,
    start_price,
)


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
    context = search_context(pricing, purchase_price_per_mwh)
    if start_price_per_mwh is None:
        start = 0.5 * (context.low + context.high)
    else:
        start = start_price(context, start_price_per_mwh)
    generations = require_count(max_generations, "max_generations")
    members = require_count(population, "population")
    if members < 5:
        raise InvalidInputError(f"population must be at least 5, got {population}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidInputError(f"tolerance must be non-negative, got {tolerance}")
    shape = context.shape
    low = context.low.ravel()
    high = context.high.ravel()
    free = np.flatnonzero(high > low)
    tally = ProbeTally(context)

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
            refine_step = require_positive(refine_step_per_mwh, "refine_step_per_mwh")
        refined = run_search(
            compass_search(context, best.price, best.load, refine_step,
                           require_positive(min_step_per_mwh, "min_step_per_mwh"), 10**9),
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

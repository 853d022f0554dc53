"""The exact best response: a batched compass search against the traffic department's loads.

Why this module exists: the AEM (:mod:`~ptn.engines.games.cno_response.aem`) linearizes the load
response; the game's ε-equilibrium certificate and the benchmarks need the best response of
seed 001's CNO revenue (Lu et al. 2024, §3.3, eqs. 25–27) without that approximation.
:func:`exact_best_response` is a derivative-free compass (pattern) search over all prices
against the oracle, to a local maximum to ``min_step_per_mwh``; every poll of an iteration goes
out in one batch, so a remote traffic department answers them together.
"""

from __future__ import annotations

import numpy as np

from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray
from ptn.engines.games.cno_response.search import (
    CONVERGED,
    MAX_PROBES,
    BestResponseSearch,
    MeasuredPoint,
    ProbeTally,
    SearchContext,
    require_count,
    require_positive,
    search_context,
    start_price,
)


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
    context = search_context(pricing, purchase_price_per_mwh)
    start = start_price(context, start_price_per_mwh)
    widest = float(np.max(context.high - context.low))
    if initial_step_per_mwh is None:
        initial = widest / 4.0 if widest > 0 else 1.0
    else:
        initial = require_positive(initial_step_per_mwh, "initial_step_per_mwh")
    minimum = require_positive(min_step_per_mwh, "min_step_per_mwh")
    budget = require_count(max_probes, "max_probes")
    return compass_search(context, start, None, initial, minimum, budget)


def compass_search(context: SearchContext, start: FloatArray, start_load: FloatArray | None,
                   delta: float, min_step: float, max_probes: int) -> BestResponseSearch:
    """The compass search of :func:`exact_best_response` from a checked ``start`` (measured
    first unless ``start_load`` is its known load), initial step ``delta``."""
    tally = ProbeTally(context)
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
    return context.result("exact", status, MeasuredPoint(x.reshape(shape), load, revenue),
                          start_revenue, tally, steps)

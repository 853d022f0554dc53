"""A model-guided best response whose every candidate price is verified by the oracle.

Why this module exists: the game's ε-Nash certificate asks each CNO for its best response
without the AEM's linearization. The compass search (:mod:`~ptn.engines.games.cno_response.
exact`) does that with 700–2,000 probes per CNO, each an exact traffic equilibrium: about a day
on the city scenario (Chicago Sketch, 50 CNOs; docs/benchmarks.md). This search spends its exact
probes only on candidates a model proposes:

1. one batch: the start α̂ and each own (station, period) price moved by ``probe_step_per_mwh``
   (the "full" elasticity of :mod:`~ptn.engines.games.cno_response.aem`); with the traffic
   department's ``probe_answers = "derivative"`` and a radius above that step these are answered
   from one equilibrium's own derivatives (implicit differentiation), so they give the exact
   Jacobian J at α̂ for the price of one solve;
2. the concave QP of the AEM (max Δt·(α − λ)ᵀ(P̂ + J(α − α̂)) within the bounds) proposes a
   step d; the candidates α̂ + f·d for f in ``fractions`` whose largest price change is at least
   ``min_step_per_mwh``, plus, with ``poll_step_per_mwh``, each own station's prices moved by
   ± that step in every period (a compass poll the model cannot veto), go out in one batch;
3. the best candidate whose revenue, computed from the oracle's loads, beats the best so far is
   kept, and from it steps 1–2 are repeated up to ``iterations`` times.

The result's revenue is the best *verified* candidate's (or the start's): a candidate's loads are
an answer of the oracle at that price, which the traffic department gives by an exact re-solve
when the price is farther than its ``probe_radius_per_mwh`` from every equilibrium it solved
(so the radius must stay below ``min_step_per_mwh`` and ``poll_step_per_mwh``: the city game
uses 0.25 against 0.5 and 5 $/MWh). Like the compass search it is a local search; it certifies
that none of the candidates it verified gains more than the reported gain, not that no price
does (the compass search certifies the same of its polls, to its resolution).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.aem import Elasticity, revenue_model
from ptn.engines.games.cno_response.concave_qp import ConcaveQp
from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray
from ptn.engines.games.cno_response.search import (
    CONVERGED,
    BestResponseSearch,
    MeasuredPoint,
    ProbeTally,
    require_count,
    require_positive,
    search_context,
    start_price,
)

#: the fractions of the model's step verified by default
DEFAULT_FRACTIONS = (1.0, 0.5, 0.25)


def verified_best_response(
    pricing: CnoPricing,
    purchase_price_per_mwh: FloatArray,
    start_price_per_mwh: FloatArray,
    *,
    probe_step_per_mwh: float = 0.25,
    min_step_per_mwh: float = 0.5,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    poll_step_per_mwh: float | None = None,
    iterations: int = 2,
) -> BestResponseSearch:
    """The model-guided, verified best response of the module docstring (method
    ``"verified"``); ``steps`` counts the verified batches."""
    context = search_context(pricing, purchase_price_per_mwh)
    start = start_price(context, start_price_per_mwh)
    h = require_positive(probe_step_per_mwh, "probe_step_per_mwh")
    minimum = require_positive(min_step_per_mwh, "min_step_per_mwh")
    rounds = require_count(iterations, "iterations")
    poll = None if poll_step_per_mwh is None else require_positive(poll_step_per_mwh,
                                                                   "poll_step_per_mwh")
    shares = [float(f) for f in fractions]
    if not shares or not all(0.0 < f <= 1.0 for f in shares):
        raise InvalidInputError(f"fractions must be numbers in (0, 1], got {list(fractions)}")
    elasticity = Elasticity(context, "full", h)
    tally = ProbeTally(context)
    low, high = context.low, context.high
    qp = ConcaveQp(start.size)
    probes, steps = elasticity.probes(start)
    answers = yield from tally.ask([start, *probes])
    best = MeasuredPoint(start, answers[0], context.revenue(start, answers[0]))
    start_revenue = best.revenue
    here = elasticity.linearize(start, answers[0], steps, answers[1:])
    verified = 0
    batches = 0
    for iteration in range(rounds):
        g, hessian, factor = revenue_model(context, here)
        alpha = here.price.ravel()
        d, _ = qp.solve(g, hessian, factor, low.ravel() - alpha, high.ravel() - alpha)
        candidates = []
        if d is not None:
            move = d.reshape(context.shape)
            candidates = [here.price + f * move for f in shares
                          if f * float(np.abs(move).max(initial=0.0)) >= minimum]
        if poll is not None:
            candidates += _polls(here.price, low, high, poll, minimum)
        if not candidates:
            break
        loads = yield from tally.ask(candidates)
        verified += len(candidates)
        batches += 1
        revenues = [context.revenue(p, q) for p, q in zip(candidates, loads, strict=True)]
        k = int(np.argmax(revenues))
        if revenues[k] <= best.revenue:
            break
        best = MeasuredPoint(candidates[k], loads[k], revenues[k])
        if iteration + 1 == rounds:
            break
        probes, steps = elasticity.probes(best.price)
        fresh = yield from tally.ask(probes)
        here = elasticity.linearize(best.price, best.load, steps, fresh)
    return context.result("verified", CONVERGED, best, start_revenue, tally, batches,
                          message=f"{verified} candidate prices verified")


def _polls(price: FloatArray, low: FloatArray, high: FloatArray, step: float,
           minimum: float) -> list[FloatArray]:
    """Each station's prices moved by ± ``step`` in every period, clipped onto the bounds
    (those that move no price by ``minimum`` are left out)."""
    polls = []
    for m in range(price.shape[0]):
        for sign in (1.0, -1.0):
            poll = price.copy()
            poll[m] = np.clip(price[m] + sign * step, low[m], high[m])
            if float(np.abs(poll - price).max(initial=0.0)) >= minimum:
                polls.append(poll)
    return polls

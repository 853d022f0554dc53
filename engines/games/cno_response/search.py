"""The ask/tell protocol of a best-response search, and the bookkeeping every search shares.

Why this module exists: a CNO has no traffic model (seed 001, Lu et al. 2024, §3.3, eq. 27: the
loads P are the traffic department's equilibrium at all CNOs' prices), so each evaluation of its
loads is a *probe* that the traffic department answers, reached through a coordinator. Every
search is therefore a generator (:data:`BestResponseSearch`) that yields a batch (list) of probe
prices, each (stations, periods) for this CNO's stations only, and is sent back the loads (MW,
same shape) in the same order; it returns a :class:`BestResponse`. This module holds that
contract, the check of the answers (a message from the network is hostile until validated),
the counting of probes and batches with the best measured point, and :func:`run_search`, which
drives a search with an in-process oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray, price_matrix

#: Search statuses: a converged search met its stopping test; the others ran out of budget.
CONVERGED = "converged"
MAX_STEPS = "max_steps"
MAX_PROBES = "max_probes"


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
class MeasuredPoint:
    """A probed price, the load the oracle answered and the revenue they give."""

    price: FloatArray
    load: FloatArray
    revenue: float


@dataclass
class ProbeTally:
    """Counts probes and batches, keeps the best measured point, checks the answers."""

    context: SearchContext
    probes: int = 0
    batches: int = 0
    best: MeasuredPoint | None = field(default=None)

    def ask(self, probes: list[FloatArray]) -> Generator[list[FloatArray], Any, list[FloatArray]]:
        """Yield one batch; return its checked answers."""
        return self.record(probes, (yield probes))

    def record(self, probes: list[FloatArray], answers: Any) -> list[FloatArray]:
        """Check and count one batch's answers, keep its best point; return the checked loads."""
        checked = check_answers(probes, answers)
        self.probes += len(probes)
        self.batches += 1
        for price, load in zip(probes, checked, strict=True):
            revenue = self.context.revenue(price, load)
            if self.best is None or revenue > self.best.revenue:
                self.best = MeasuredPoint(price, load, revenue)
        return checked


@dataclass(frozen=True)
class SearchContext:
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

    def result(self, method: str, status: str, point: MeasuredPoint, start_revenue: float,
               tally: ProbeTally, steps: int, predicted: float | None = None,
               message: str = "") -> BestResponse:
        """The search's outcome at ``point`` (``predicted``: the model's revenue, if any)."""
        return BestResponse(
            method=method, status=status, price_per_mwh=point.price.copy(),
            revenue_usd=point.revenue, start_revenue_usd=start_revenue,
            predicted_revenue_usd=point.revenue if predicted is None else predicted,
            load_mw=point.load.copy(), probes=tally.probes, batches=tally.batches, steps=steps,
            message=message,
        )


def search_context(pricing: CnoPricing, purchase_price_per_mwh: ArrayLike) -> SearchContext:
    """A search's problem, its input checked (purchase prices broadcast to (stations, periods))."""
    if not isinstance(pricing, CnoPricing):
        raise InvalidInputError(f"pricing must be a CnoPricing, got {type(pricing).__name__}")
    return SearchContext(pricing, price_matrix(pricing, purchase_price_per_mwh,
                                               "purchase_price_per_mwh"))


def start_price(context: SearchContext, start_price_per_mwh: ArrayLike) -> FloatArray:
    """The start price, broadcast to (stations, periods) and projected onto the bounds."""
    return context.pricing.clip(price_matrix(context.pricing, start_price_per_mwh,
                                             "start_price_per_mwh"))


def require_positive(value: float, what: str) -> float:
    """``value`` as a float if finite and positive, else InvalidInputError naming ``what``."""
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what} must be positive, got {value}")
    return float(value)


def require_count(value: int, what: str) -> int:
    """``value`` as an int if a positive integer, else InvalidInputError naming ``what``."""
    if int(value) != value or value < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {value}")
    return int(value)


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

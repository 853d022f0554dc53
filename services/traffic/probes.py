"""The traffic department's answers to probe batches: sensitivities, nearest warm starts, workers.

Why this module exists: in the pricing game (MODELS.md §3) the CNOs linearize the load response
by probes around a base price (the AEM: base plus 1 $/MWh steps), and each probe was one exact
equilibrium solved after the previous one: 65–94 % of a game's time. With the ``[traffic]``
table's ``probe_*`` keys (:class:`~ptn.services.traffic.config.ProbeSettings`) a batch is
answered as follows:

* ``probe_answers = "sensitivity"``: a probe within ``probe_radius_per_mwh`` (largest price
  change) of a solved point, and on the same side of the elastic demand law's clipping, gets
  that equilibrium's first-order expansion (:mod:`ptn.engines.traffic.load_sensitivity`);
  the other probes are re-solved, in batch order each one becoming the centre the following
  probes within its radius expand from (the AEM's batch is its base, then the steps: one
  re-solve and S expansions);
* every re-solve is warm-started from the nearest solved point known before the batch (the
  department's state and its recent probe solves, by largest price change) and stops at the
  global gap or, with ``probe_load_tolerance_mw``, once its station loads settle;
* with ``probe_workers > 1`` the re-solves run on private worker processes
  (:class:`~ptn.engines.traffic.probe_pool.ProbePool`): since each carries its own warm start,
  the answers equal the sequential ones bit for bit.

The message schema is unchanged: a probe's answer is its station loads, whichever way computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from ptn.engines.traffic.load_sensitivity import LoadSensitivity, load_sensitivity
from ptn.engines.traffic.multiperiod import MultiPeriodProblem, MultiPeriodResult
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.probe_pool import ProbePool, ProbeSolve, solve_probes
from ptn.services.traffic.config import ProbeSettings

LOG = logging.getLogger("ptn.services.traffic")

#: solved probe equilibria kept as warm starts and expansion centres (each holds its path sets)
SOLVED_POINTS_KEPT = 8


@dataclass
class SolvedPoint:
    """An equilibrium the department solved, and its sensitivities once asked for."""

    result: MultiPeriodResult
    sensitivity: LoadSensitivity | None = None

    @property
    def price_per_mwh(self) -> FloatArray:
        return self.result.price_per_mwh

    def distance(self, price_per_mwh: FloatArray) -> float:
        """The largest price change from this point ($/MWh)."""
        return float(np.abs(price_per_mwh - self.price_per_mwh).max(initial=0.0))

    def expansion(self, price_per_mwh: FloatArray) -> FloatArray | None:
        """The first-order loads (stations, periods) at ``price_per_mwh``, None where the
        expansion does not hold (the demand law's clipping crossed)."""
        if self.sensitivity is None:
            self.sensitivity = load_sensitivity(self.result)
        expansion = self.sensitivity.expand(price_per_mwh)
        if expansion.demand_kink:
            return None
        return np.asarray(expansion.station_load_mw.T)


@dataclass(frozen=True)
class BatchAnswer:
    """A batch's loads (stations, periods) per probe, its re-solves' equilibria and how many
    probes were answered by expansion."""

    load_mw: tuple[FloatArray, ...]
    results: tuple[MultiPeriodResult, ...]
    expanded: int

    @property
    def solved(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> MultiPeriodResult | None:
        """The first re-solve that did not converge (None: all did)."""
        return next((r for r in self.results if not r.converged), None)


class ProbeAnswerer:
    """Answers probe batches by :class:`~ptn.services.traffic.config.ProbeSettings`."""

    def __init__(self, problem: MultiPeriodProblem, settings: ProbeSettings, gap: float,
                 max_iterations: int) -> None:
        self.problem = problem
        self.settings = settings
        self.gap = gap
        self.max_iterations = max_iterations
        self.points: list[SolvedPoint] = []
        self.pool = ProbePool(problem, settings.workers) if settings.workers > 1 else None

    def forget(self) -> None:
        """Drop the solved points (the department's state was replaced)."""
        self.points = []

    def answer(self, prices: Sequence[FloatArray], state: MultiPeriodResult | None) -> BatchAnswer:
        """The loads at each probe's prices; ``state`` is the department's latest equilibrium
        (a warm start and, in sensitivity mode, an expansion centre)."""
        known = list(self.points)
        if state is not None and not any(p.result is state for p in known):
            known.append(SolvedPoint(state))
        centres: list[int] = []  # probes to re-solve
        source: list[SolvedPoint | int] = []  # per probe: a known point or a centre probe
        radius = self.settings.radius_per_mwh
        sensitivity = self.settings.answers == "sensitivity"
        for k, price in enumerate(prices):
            near = min(known, key=lambda point: point.distance(price), default=None)
            if sensitivity and near is not None and near.distance(price) <= radius:
                source.append(near)
                continue
            centre = next((c for c in centres if sensitivity and float(
                np.abs(prices[c] - price).max(initial=0.0)) <= radius), None)
            if centre is None:
                centres.append(k)
                centre = k
            source.append(centre)
        solves = []
        for k in centres:
            near = min(known, key=lambda point: point.distance(prices[k]), default=None)
            solves.append(ProbeSolve(np.asarray(prices[k]),
                                     None if near is None else near.result.warm_start,
                                     self.gap, self.max_iterations,
                                     self.settings.load_tolerance_mw))
        results = self._solve(solves)
        solved = {k: SolvedPoint(result) for k, result in zip(centres, results, strict=True)}
        loads: list[FloatArray] = []
        expanded = 0
        for k, (price, origin) in enumerate(zip(prices, source, strict=True)):
            if isinstance(origin, int) and origin == k:
                loads.append(np.asarray(solved[k].result.station_load_mw.T))
                continue
            point = solved[origin] if isinstance(origin, int) else origin
            load = point.expansion(price)
            if load is None:  # the expansion does not hold here: re-solve
                result = self._solve([ProbeSolve(np.asarray(price), point.result.warm_start,
                                                 self.gap, self.max_iterations,
                                                 self.settings.load_tolerance_mw)])[0]
                results.append(result)
                load = np.asarray(result.station_load_mw.T)
            else:
                expanded += 1
            loads.append(load)
        self.points = (self.points + list(solved.values()))[-SOLVED_POINTS_KEPT:]
        return BatchAnswer(tuple(loads), tuple(results), expanded)

    def _solve(self, solves: list[ProbeSolve]) -> list[MultiPeriodResult]:
        if self.pool is None or len(solves) <= 1:
            return solve_probes(self.problem, solves)
        try:
            return self.pool.solve(solves)
        except BrokenProcessPool as error:  # a worker died: answer in this process
            LOG.warning("traffic probe workers failed (%s); solving in the operator's process",
                        error)
            self.pool.close()
            return solve_probes(self.problem, solves)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

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
* every re-solve is warm-started from the nearest solved point (by largest price change): the
  batch's probes beyond ``probe_radius_per_mwh`` of every point known before the batch (the
  department's state and its recent probe solves) and of each other are solved first, from
  the known points, then the others from the nearest of those (the AEM's steps from their
  base); a re-solve stops at the global gap or, with ``probe_load_tolerance_mw``, once its
  station loads settle;
* ``probe_answers = "derivative"``: as ``"sensitivity"``, but a check never refutes: the
  farthest expanded probe of each of the first :data:`DERIVATIVE_CHECKS` solved points is
  re-solved once and the expansion's error against it is recorded and logged
  (:class:`ExpansionCheck`), not used as a fallback. Within the
  radius the answers are then exactly linear in the prices, so a CNO's finite-difference
  probes read the equilibrium's own derivative whatever their step (the city game's rounds:
  one exact equilibrium, its sensitivities and one check; docs/traffic-probes.md);
* with ``probe_workers > 1`` the re-solves run on private worker processes
  (:class:`~ptn.engines.traffic.probe_pool.ProbePool`): since each carries its own warm start,
  the answers equal the sequential ones bit for bit.

Memory stays bounded whatever the batch: a batch is answered in passes of
:data:`PROBES_PER_PASS` probes, a re-solve keeps its path state only where it serves (a warm
start, an expansion centre, a kept point), and an answer reports each re-solve's
:class:`SolveOutcome`, not its equilibrium (the 50-CNO city certificate held every one of its
~15 MB equilibria until its 450-probe batch ended, and was killed at 23 GB; now ~5 GB flat).

The message schema is unchanged: a probe's answer is its station loads, whichever way computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ptn.engines.traffic.load_sensitivity import (
    SENSITIVITY_CG_MAX_ITERATIONS,
    LoadSensitivity,
    load_sensitivity,
)
from ptn.engines.traffic.multiperiod import MultiPeriodProblem, MultiPeriodResult
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.probe_pool import ProbePool, ProbeSolve, WorkerPoolError, solve_probes
from ptn.services.traffic.config import ProbeSettings

LOG = logging.getLogger("ptn.services.traffic")

#: a check passes when the expansion's largest load error is at most this fraction of the exact
#: answer's largest load change (plus :data:`ABSOLUTE_CHECK_MW`). The exact answer is itself
#: only as good as the department's gap: on pricing-siouxfalls.toml at 2e-8, exact answers to
#: a 1 $/MWh step differ from gap-1e-11 ones by up to ~14 % of the change, the expansion by
#: 1–7 %; on Chicago Sketch with 100 stations the expansion is off by ~33 % (new paths through
#: other stations enter), which this refutes (bench/traffic_probes.py)
SENSITIVITY_CHECK_TOLERANCE = 0.25
#: ... plus this much (MW), for probes that barely move the loads
ABSOLUTE_CHECK_MW = 1e-9

#: the probe answers that expand from solved points: ``"sensitivity"`` falls back to exact
#: re-solves where a check refutes the expansion, ``"derivative"`` keeps the expansion and only
#: records the check (:attr:`ProbeAnswerer.checks`, logged)
EXPANDING_ANSWERS = ("sensitivity", "derivative")

#: ``"derivative"`` checks the expansions of this many solved points (the first ones), each
#: check one exact re-solve, then stops checking (a city game round's only other exact solve is
#: its price response)
DERIVATIVE_CHECKS = 12

#: ``"derivative"``'s conjugate-gradient cap per price direction: on Chicago Sketch at prices
#: on the bounds a direction took ~2,000 iterations to the 1e-10 residual (4.4 s under load)
#: and 200 iterations gave its load change to 1.4e-5 (0.5 s), far below the expansion's own
#: error against exact equilibria (tens of %)
DERIVATIVE_CG_MAX_ITERATIONS = 200

#: solved probe equilibria kept as warm starts and expansion centres (each holds its path sets)
SOLVED_POINTS_KEPT = 8

#: a batch is answered in passes of at most this many probes: a pass holds its centres'
#: equilibria (path sets) and sensitivities (factorizations) at once, tens to hundreds of MB
#: each on Chicago Sketch, and the city certificate's 450-probe batches were killed at 24 GB
PROBES_PER_PASS = 64


@dataclass
class SolvedPoint:
    """An equilibrium the department solved, and its sensitivities once asked for."""

    result: MultiPeriodResult
    sensitivity: LoadSensitivity | None = None
    #: the largest step whose expansion an exact re-solve confirmed ($/MWh)
    checked_per_mwh: float = 0.0

    @property
    def price_per_mwh(self) -> FloatArray:
        return self.result.price_per_mwh

    def distance(self, price_per_mwh: FloatArray) -> float:
        """The largest price change from this point ($/MWh)."""
        return float(np.abs(price_per_mwh - self.price_per_mwh).max(initial=0.0))

    def expansion(self, price_per_mwh: FloatArray,
                  cg_cap: int = SENSITIVITY_CG_MAX_ITERATIONS) -> FloatArray | None:
        """The first-order loads (stations, periods) at ``price_per_mwh``, None where the
        expansion does not hold (the demand law's clipping crossed)."""
        if self.distance(price_per_mwh) == 0.0:  # the point itself
            return np.asarray(self.result.station_load_mw.T)
        if self.sensitivity is None:
            self.sensitivity = load_sensitivity(self.result, cg_max_iterations=cg_cap)
        expansion = self.sensitivity.expand(price_per_mwh)
        if expansion.demand_kink:
            return None
        # a station whose last users leave: the first order runs below zero, no load does
        # (the CNOs refuse a negative load as invalid)
        return np.maximum(np.asarray(expansion.station_load_mw.T), 0.0)


@dataclass(frozen=True)
class ExpansionCheck:
    """One check of a point's expansion against an exact re-solve of its farthest probe."""

    distance_per_mwh: float
    error_mw: float
    change_mw: float

    @property
    def relative_error(self) -> float:
        """The largest load error over the exact answer's largest load change."""
        return self.error_mw / max(self.change_mw, ABSOLUTE_CHECK_MW)


@dataclass(frozen=True)
class SolveOutcome:
    """What a batch reports of one exact re-solve: its convergence, not its equilibrium (an
    equilibrium holds its flows, OD costs and residual flows, ~15 MB on Chicago Sketch; the
    50-CNO certificate's 450-probe batches, holding all of theirs, were killed at 23 GB)."""

    converged: bool
    relative_gap: float
    iterations: int
    #: whether the re-solve kept its path state (a warm start for later probes)
    kept_state: bool

    @classmethod
    def of(cls, result: MultiPeriodResult) -> SolveOutcome:
        return cls(result.converged, result.relative_gap, result.iterations,
                   result.warm_start is not None)


@dataclass(frozen=True)
class BatchAnswer:
    """A batch's loads (stations, periods) per probe, the outcomes of its exact re-solves, how
    many probes were answered by expansion, and the first re-solve that did not converge
    (None: all did), whole, for its diagnosis."""

    load_mw: tuple[FloatArray, ...]
    outcomes: tuple[SolveOutcome, ...]
    expanded: int
    failed: MultiPeriodResult | None = None

    @property
    def solved(self) -> int:
        return len(self.outcomes)


def _reported(results: Sequence[MultiPeriodResult]
              ) -> tuple[list[SolveOutcome], MultiPeriodResult | None]:
    """What a batch keeps of ``results``: their outcomes and the first that did not converge
    (whole, for its diagnosis; None: all did)."""
    return ([SolveOutcome.of(result) for result in results],
            next((result for result in results if not result.converged), None))


class ProbeAnswerer:
    """Answers probe batches by :class:`~ptn.services.traffic.config.ProbeSettings`."""

    def __init__(self, problem: MultiPeriodProblem, settings: ProbeSettings, gap: float,
                 max_iterations: int) -> None:
        self.problem = problem
        self.settings = settings
        self.gap = gap
        self.max_iterations = max_iterations
        self.points: list[SolvedPoint] = []
        self._state_point: SolvedPoint | None = None
        #: the radius in force: the setting, halved below every step a check refuted
        self.radius = settings.radius_per_mwh
        self.pool = ProbePool(problem, settings.workers, settings.workers_on) \
            if settings.workers > 1 else None
        #: every check of an expansion against an exact re-solve, in order
        self.checks: list[ExpansionCheck] = []

    def forget(self) -> None:
        """Drop the solved points (the department's state was replaced)."""
        self.points = []
        self._state_point = None

    def answer(self, prices: Sequence[FloatArray], state: MultiPeriodResult | None) -> BatchAnswer:
        """The loads at each probe's prices; ``state`` is the department's latest equilibrium
        (a warm start and, in sensitivity mode, an expansion centre). A batch of more than
        :data:`PROBES_PER_PASS` probes is answered in consecutive passes of that many, so
        that the equilibria and sensitivities held at once stay bounded (each pass keeps its
        last points for the next)."""
        if len(prices) <= PROBES_PER_PASS:
            return self._answer(prices, state)
        passes = [self._answer(prices[start:start + PROBES_PER_PASS], state)
                  for start in range(0, len(prices), PROBES_PER_PASS)]
        return BatchAnswer(tuple(load for one in passes for load in one.load_mw),
                           tuple(outcome for one in passes for outcome in one.outcomes),
                           sum(one.expanded for one in passes),
                           next((one.failed for one in passes if one.failed is not None), None))

    def _answer(self, prices: Sequence[FloatArray],
                state: MultiPeriodResult | None) -> BatchAnswer:
        """:meth:`answer` for one pass."""
        known = list(self.points)
        if state is not None and not any(p.result is state for p in known):
            if self._state_point is None or self._state_point.result is not state:
                self._state_point = SolvedPoint(state)  # kept: its sensitivities and checks
            known.append(self._state_point)
        centres, source = self._plan(prices, known)
        # a centre keeps its path state only where it serves: as another probe's warm start or
        # expansion centre, or as one of the points kept for the next batches (a batch of
        # hundreds of re-solves held tens of megabytes each on Chicago Sketch)
        serving = {origin for k, origin in enumerate(source) if isinstance(origin, int)
                   and origin != k} | set(centres[-SOLVED_POINTS_KEPT:])
        results = self._solve([self._solve_near(prices[k], known, k in serving)
                               for k in centres])
        answers: dict[int, FloatArray] = {k: np.asarray(result.station_load_mw.T)
                                          for k, result in zip(centres, results, strict=True)}
        # only the serving centres live on (as solved points), the others' equilibria go
        solved = {k: SolvedPoint(result) for k, result in zip(centres, results, strict=True)
                  if k in serving}
        outcomes, failed = _reported(results)
        del results
        # the others by expansion from their point, each point checked by an exact re-solve
        # of its farthest probe unless a check already covered that distance
        by_point: dict[int, tuple[SolvedPoint, list[int]]] = {}
        for k, origin in enumerate(source):
            if k not in answers:
                point = solved[origin] if isinstance(origin, int) else origin
                by_point.setdefault(id(point), (point, []))[1].append(k)
        predicted: dict[int, FloatArray] = {}
        exact: list[tuple[SolvedPoint, int]] = []  # probes to re-solve from their point
        checks: list[tuple[SolvedPoint, int]] = []
        if self.settings.answers not in EXPANDING_ANSWERS:
            exact = [(point, k) for point, members in by_point.values() for k in members]
            by_point = {}
        for point, members in by_point.values():
            for k in members:
                load = point.expansion(prices[k], DERIVATIVE_CG_MAX_ITERATIONS
                                       if self.settings.answers == "derivative"
                                       else SENSITIVITY_CG_MAX_ITERATIONS)
                if load is None:  # the demand law's clipping lies in between: re-solve
                    exact.append((point, k))
                else:
                    predicted[k] = load
            expandable = [k for k in members if k in predicted]
            if expandable:
                farthest = max(expandable, key=lambda k: point.distance(prices[k]))
                if point.distance(prices[farthest]) > point.checked_per_mwh and (
                        self.settings.answers != "derivative"
                        or len(self.checks) + len(checks) < DERIVATIVE_CHECKS):
                    checks.append((point, farthest))
        more, failure = self._resolve(exact + checks, prices, answers)
        outcomes += more
        failed = failed or failure
        refuted = []
        for point, k in checks:
            error = float(np.abs(predicted[k] - answers[k]).max())
            change = float(np.abs(answers[k] - point.result.station_load_mw.T).max())
            distance = point.distance(prices[k])
            self.checks.append(ExpansionCheck(distance, error, change))
            if self.settings.answers == "derivative":  # reported, never a fallback
                point.checked_per_mwh = distance
                answers[k] = predicted[k]  # the batch's answers stay one linear model
                LOG.info("traffic probes: derivative check at a %.3g $/MWh step: the "
                         "first-order answer %.2e MW off the exact one (change %.2e MW, "
                         "%.0f %%)", distance, error, change,
                         100.0 * self.checks[-1].relative_error)
                continue
            if error <= SENSITIVITY_CHECK_TOLERANCE * change + ABSOLUTE_CHECK_MW:
                point.checked_per_mwh = distance
                continue
            self.radius = min(self.radius, 0.5 * distance)
            LOG.info("traffic probes: the first-order answer %.2e MW off at a %.3g $/MWh step "
                     "(change %.2e MW): radius now %.3g $/MWh", error, distance, change,
                     self.radius)
            refuted += [(point, j) for j in by_point[id(point)][1] if j not in answers]
        more, failure = self._resolve(refuted, prices, answers)
        outcomes += more
        answers.update({k: load for k, load in predicted.items() if k not in answers})
        self.points = (self.points + list(solved.values()))[-SOLVED_POINTS_KEPT:]
        return BatchAnswer(tuple(answers[k] for k in range(len(prices))), tuple(outcomes),
                           len(prices) - len(outcomes), failed or failure)

    def _plan(self, prices: Sequence[FloatArray],
              known: list[SolvedPoint]) -> tuple[list[int], list[SolvedPoint | int]]:
        """Which probes to re-solve first (centres: beyond the radius of every known point and
        of every earlier centre) and, per probe, the known point or centre probe it expands
        from (sensitivity mode) or is warm-started from (exact mode)."""
        centres: list[int] = []
        source: list[SolvedPoint | int] = []
        for k, price in enumerate(prices):
            near = min(known, key=lambda point: point.distance(price), default=None)
            if near is not None and near.distance(price) <= self.radius:
                source.append(near)
                continue
            centre = next((c for c in centres if float(
                np.abs(prices[c] - price).max(initial=0.0)) <= self.radius), None)
            if centre is None:
                centres.append(k)
                centre = k
            source.append(centre)
        return centres, source

    def _resolve(self, probes: list[tuple[SolvedPoint, int]], prices: Sequence[FloatArray],
                 answers: dict[int, FloatArray]
                 ) -> tuple[list[SolveOutcome], MultiPeriodResult | None]:
        """Re-solve probes ``k`` warm-started from their point; their loads go to ``answers``;
        their outcomes and the first that did not converge (whole) are returned, the
        equilibria dropped."""
        results = self._solve([ProbeSolve(np.asarray(prices[k]), point.result.warm_start,
                                          self.gap, self.max_iterations,
                                          self.settings.load_tolerance_mw, keep_state=False)
                               for point, k in probes])
        for (_, k), result in zip(probes, results, strict=True):
            answers[k] = np.asarray(result.station_load_mw.T)
        return _reported(results)

    def _solve_near(self, price: FloatArray, known: list[SolvedPoint],
                    keep_state: bool = True) -> ProbeSolve:
        """A re-solve of ``price`` warm-started from the nearest known point."""
        near = min(known, key=lambda point: point.distance(price), default=None)
        return ProbeSolve(np.asarray(price), None if near is None else near.result.warm_start,
                          self.gap, self.max_iterations, self.settings.load_tolerance_mw,
                          keep_state)

    def _solve(self, solves: list[ProbeSolve]) -> list[MultiPeriodResult]:
        if self.pool is None or len(solves) <= 1:
            return solve_probes(self.problem, solves)
        try:
            return self.pool.solve(solves)
        except WorkerPoolError as error:  # a worker died: answer in this process
            LOG.warning("traffic probe workers failed (%s); solving in the operator's process",
                        error)
            self.pool.close()
            return solve_probes(self.problem, solves)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

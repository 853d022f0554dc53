"""Independent MUL-UE re-solves of a probe batch, in the caller's process or on worker processes.

Why this module exists: a pricing-game round asks the traffic department for batches of price
probes (the CNOs' elasticity probes, the certificate's searches), and each probe is one
equilibrium. Solved one after another, each warm-started from the previous probe, a batch's
answers depend on its order and cannot be spread over cores. Here every probe of a batch is a
:class:`ProbeSolve` carrying its own warm start (the caller's nearest solved point), so the
solves are independent: :func:`solve_probes` runs them in order in the calling process, and a
:class:`ProbePool` on private worker processes (spawned, each building the time-expanded problem
once from the spec) with bit-identical results, since the path-based solver's results do not
depend on the process or its thread count (:mod:`ptn.engines.traffic.path_based`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_based import PathState
from ptn.engines.traffic.result import AssignmentResult


@dataclass(frozen=True)
class ProbeSolve:
    """One probe's equilibrium: its prices (stations, periods), warm start and stopping test."""

    price_per_mwh: FloatArray
    warm_start: PathState | None
    gap: float
    max_iterations: int
    station_load_tolerance_mw: float | None = None

    def run(self, problem: MultiPeriodProblem) -> MultiPeriodResult:
        return problem.solve(self.price_per_mwh, gap=self.gap,
                             max_iterations=self.max_iterations, warm_start=self.warm_start,
                             station_load_tolerance_mw=self.station_load_tolerance_mw)


def solve_probes(problem: MultiPeriodProblem,
                 solves: Sequence[ProbeSolve]) -> list[MultiPeriodResult]:
    """The probes' equilibria, one after another in this process."""
    return [solve.run(problem) for solve in solves]


#: the worker process's problem, built once by :func:`_start_worker`
_WORKER_PROBLEM: list[MultiPeriodProblem] = []


def _start_worker(spec: MultiPeriodSpec, threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.get_num_threads())))
    _WORKER_PROBLEM[:] = [build_multiperiod_problem(spec)]


def _solve_in_worker(solve: ProbeSolve) -> tuple[AssignmentResult, dict[str, FloatArray]]:
    result = solve.run(_WORKER_PROBLEM[0])
    # the OD costs travel once, per class (the assignment's sorted copy is not sent)
    return replace(result.assignment, od_cost=None), result.od_cost


class ProbePool:
    """Private worker processes answering a traffic department's probe re-solves.

    Started on first use (``spawn``: the operator's process may hold gRPC or Ray threads, which
    ``fork`` would copy mid-flight); :meth:`close` stops them (also at interpreter exit).
    """

    def __init__(self, problem: MultiPeriodProblem, workers: int) -> None:
        if int(workers) != workers or workers < 1:
            raise InvalidInputError(f"probe workers must be a positive integer, got {workers}")
        self.problem = problem
        self.workers = int(workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(self.problem.spec, threads))
        return self._executor

    def solve(self, solves: Sequence[ProbeSolve]) -> list[MultiPeriodResult]:
        """The probes' equilibria, spread over the workers (in this process when there is
        only one probe or one worker)."""
        if self.workers == 1 or len(solves) <= 1:
            return solve_probes(self.problem, solves)
        answers = list(self._pool().map(_solve_in_worker, solves))
        return [self.problem.result_at(solve.price_per_mwh, assignment, od_cost)
                for solve, (assignment, od_cost) in zip(solves, answers, strict=True)]

    def close(self) -> None:
        """Stop the worker processes (a later :meth:`solve` starts them again)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

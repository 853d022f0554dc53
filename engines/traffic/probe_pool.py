"""Independent MUL-UE re-solves of a probe batch, in the caller's process or on worker processes.

Why this module exists: a pricing-game round asks the traffic department for batches of price
probes (the CNOs' elasticity probes, the certificate's searches), and each probe is one
equilibrium. Solved one after another, each warm-started from the previous probe, a batch's
answers depend on its order and cannot be spread over cores. Here every probe of a batch is a
:class:`ProbeSolve` carrying its own warm start (the caller's nearest solved point), so the
solves are independent: :func:`solve_probes` runs them in order in the calling process, and a
:class:`ProbePool` on private workers (spawned processes on the operator's node, or Ray actors
spread over a cluster; each builds the time-expanded problem once from the spec) with
bit-identical results, since the path-based solver's results do not depend on the process or
its thread count (:mod:`ptn.engines.traffic.path_based`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Protocol

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
    #: whether the result keeps its path state (a warm start, an expansion centre) and its OD
    #: costs; without them a Chicago Sketch result is kilobytes instead of tens of megabytes,
    #: and a batch of hundreds of probes (the city's certificate) fits in memory
    keep_state: bool = True

    def run(self, problem: MultiPeriodProblem) -> MultiPeriodResult:
        result = problem.solve(self.price_per_mwh, gap=self.gap,
                               max_iterations=self.max_iterations, warm_start=self.warm_start,
                               station_load_tolerance_mw=self.station_load_tolerance_mw)
        return result if self.keep_state else without_state(result)


def without_state(result: MultiPeriodResult) -> MultiPeriodResult:
    """``result`` without its path state and OD costs (its loads, flows and status kept)."""
    return replace(result, assignment=replace(result.assignment, warm_start=None, od_cost=None),
                   od_cost={})


def solve_probes(problem: MultiPeriodProblem,
                 solves: Sequence[ProbeSolve]) -> list[MultiPeriodResult]:
    """The probes' equilibria, one after another in this process."""
    return [solve.run(problem) for solve in solves]


#: the worker process's problem, built once by :func:`start_worker`
_WORKER_PROBLEM: list[MultiPeriodProblem] = []


#: how often a worker process checks that the operator that spawned it is alive (s)
PARENT_POLL_S = 1.0


def _exit_with(parent: int) -> None:
    """End this worker once ``parent`` is gone (it was reparented): an operator killed outright
    (SIGKILL, the kernel's OOM killer) cannot stop its pool, and its workers, each holding a
    copy of the network, stayed behind."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def start_worker(spec: MultiPeriodSpec, threads: int, parent: int | None = None) -> None:
    """A probe worker's initializer: its numba threads and its own copy of the problem; with
    ``parent`` (the spawning process's id) it ends when that process is gone."""
    import numba

    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True,
                         name="ptn-probe-worker-parent").start()
    numba.set_num_threads(max(1, min(threads, numba.get_num_threads())))
    _WORKER_PROBLEM[:] = [build_multiperiod_problem(spec)]


def solve_in_worker(solve: ProbeSolve) -> tuple[AssignmentResult, dict[str, FloatArray]]:
    """One probe's equilibrium on a worker (after :func:`start_worker`)."""
    result = solve.run(_WORKER_PROBLEM[0])
    # the OD costs travel once, per class (the assignment's sorted copy is not sent)
    return replace(result.assignment, od_cost=None), result.od_cost


class WorkerPoolError(RuntimeError):
    """The probe workers failed (one died, or their runtime went away): the caller answers in
    its own process."""


class WorkerPool(Protocol):
    """Workers that each ran :func:`start_worker` and map :func:`solve_in_worker` in order."""

    def map(self, solves: Sequence[ProbeSolve]
            ) -> list[tuple[AssignmentResult, dict[str, FloatArray]]]: ...

    def close(self) -> None: ...


class _Processes:
    """Spawned worker processes on the operator's node (``spawn``: the operator's process may
    hold gRPC or Ray threads, which ``fork`` would copy mid-flight)."""

    def __init__(self, spec: MultiPeriodSpec, workers: int) -> None:
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker, initargs=(spec, threads, os.getpid()))

    def map(self, solves: Sequence[ProbeSolve]
            ) -> list[tuple[AssignmentResult, dict[str, FloatArray]]]:
        try:
            return list(self.executor.map(solve_in_worker, solves))
        except BrokenProcessPool as error:
            raise WorkerPoolError(f"a probe worker process died ({error})") from error

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


#: where probe workers run, by ``[traffic] probe_workers_on``: a factory of (spec, workers).
#: "processes" is built in; a runtime adds its own (the Ray actor adapter adds "ray":
#: ptn.services.adapters.ray_probe_pool), so that this engine imports no runtime
WORKER_BACKENDS: dict[str, Callable[[MultiPeriodSpec, int], WorkerPool]] = {
    "processes": _Processes}


class ProbePool:
    """Private workers answering a traffic department's probe re-solves: processes on its own
    node (``backend = "processes"``) or another registered backend (:data:`WORKER_BACKENDS`).

    Started on first use; :meth:`close` stops them (also at interpreter exit).
    """

    def __init__(self, problem: MultiPeriodProblem, workers: int,
                 backend: str = "processes") -> None:
        if int(workers) != workers or workers < 1:
            raise InvalidInputError(f"probe workers must be a positive integer, got {workers}")
        if backend not in WORKER_BACKENDS:
            raise InvalidInputError(
                f"probe_workers_on = {backend!r}: not available in this process (known: "
                f"{', '.join(sorted(WORKER_BACKENDS))}; 'ray' needs the traffic operator "
                f"on Ray, --backend ray)")
        self.problem = problem
        self.workers = int(workers)
        self.backend = backend
        self._pool: WorkerPool | None = None

    def solve(self, solves: Sequence[ProbeSolve]) -> list[MultiPeriodResult]:
        """The probes' equilibria, spread over the workers (in this process when there is
        only one probe or one worker); :class:`WorkerPoolError` when the workers failed."""
        if self.workers == 1 or len(solves) <= 1:
            return solve_probes(self.problem, solves)
        if self._pool is None:
            self._pool = WORKER_BACKENDS[self.backend](self.problem.spec, self.workers)
        answers = self._pool.map(solves)
        return [self.problem.result_at(solve.price_per_mwh, assignment, od_cost)
                for solve, (assignment, od_cost) in zip(solves, answers, strict=True)]

    def close(self) -> None:
        """Stop the workers (a later :meth:`solve` starts them again)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

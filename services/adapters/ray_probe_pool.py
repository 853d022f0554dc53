"""The traffic department's probe workers as Ray actors spread over the cluster.

Why this module exists: the pricing game's probe batches (the CNOs' searches, above all the ε
certificate's: thousands of independent equilibria on a city) are what a cluster can spread, and
a traffic department on one node solves them on that node's cores only. With ``[traffic]
probe_workers_on = "ray"`` its :class:`~ptn.engines.traffic.probe_pool.ProbePool` runs its
workers as Ray actors (``ray.util.multiprocessing.Pool``: one CPU each, scheduled ``SPREAD`` over
the nodes), each building the department's time-expanded problem once from its spec. They are
the department's own private workers: they receive its spec and the probes' prices, nothing goes
to any other operator. :func:`register` adds the backend; the Ray actor adapter calls it in each
operator's actor (:mod:`ptn.services.adapters.ray_actor`; Ray ships the actor class by value, so
an import at the adapter's module level would not run in the actor), so the engine itself
imports no runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

import ray
from ray.exceptions import RayError
from ray.util.multiprocessing import Pool

from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.probe_pool import (
    WORKER_BACKENDS,
    ProbeSolve,
    WorkerPoolError,
    solve_in_worker,
    start_worker,
)
from ptn.engines.traffic.result import AssignmentResult


class RayWorkers:
    """``workers`` Ray actors of one CPU each (at most the cluster's CPUs), spread over the
    cluster."""

    def __init__(self, spec: MultiPeriodSpec, workers: int) -> None:
        if not ray.is_initialized():
            raise WorkerPoolError("probe_workers_on = 'ray': this process is not connected "
                                  "to a Ray cluster")
        # no more workers than the cluster has CPUs (Ray's pool refuses more)
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.workers = max(1, min(workers, cpus))
        self.pool = Pool(processes=self.workers, initializer=start_worker, initargs=(spec, 1),
                         ray_remote_args={"num_cpus": 1, "scheduling_strategy": "SPREAD"})

    def map(self, solves: Sequence[ProbeSolve]
            ) -> list[tuple[AssignmentResult, dict[str, FloatArray]]]:
        try:
            return list(self.pool.map(solve_in_worker, list(solves), chunksize=1))
        except RayError as error:
            raise WorkerPoolError(f"a probe worker on Ray failed ({error})") from error

    def close(self) -> None:
        self.pool.terminate()  # type: ignore[no-untyped-call]


def register() -> None:
    """Make ``probe_workers_on = "ray"`` available in this process."""
    WORKER_BACKENDS["ray"] = RayWorkers

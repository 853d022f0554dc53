"""Running a campaign's trials: concurrently, each isolated, retried when its node was lost.

Why this module exists: a campaign must go on whatever one trial does. Each trial is one whole
negotiation through :func:`ptn.api.run` with its own results folder (``trials/<id>/``); a bad
override or placement is a row with status ``invalid``, an exception (an actor or a node lost)
a row ``crashed``, and a negotiation that failed, converged or not a row with its status; the
row is appended durably before the campaign counts it.

Concurrency: on ``ray``, threads of this process each drive one negotiation (the coordinator
is light: it waits on the operators, which are Ray actors in the trial's own placement group,
one bundle per operator with the campaign's ``[resources]``, so Ray starts a trial only where
its operators fit and spreads the trials over the cluster's nodes). On ``ray-tasks`` each
trial is a Ray task reserving one CPU that runs the whole negotiation in its process (small
trials: no actors to start; Ray reuses the task's warm worker process and retries a task
whose node died). In-process trials run one after another, or with a concurrency above one in
worker processes (the operators' solvers are not thread-safe). A trial that crashed, or failed
while a node it ran on left the cluster, is run again (``retries`` times) in a clean folder.
"""

from __future__ import annotations

import os
import shutil
import time
import tomllib
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from ptn.api import InvalidInputError, Scenario
from ptn.api import run as run_scenario
from ptn.campaign.plots import draw
from ptn.campaign.progress import CampaignCounts, CampaignMetrics
from ptn.campaign.rows import nodes, outputs
from ptn.campaign.spec import BACKENDS, Campaign
from ptn.campaign.store import CRASHED, ENDED, INVALID, TRIALS, CampaignStore
from ptn.campaign.trials import Trial, campaign_fingerprint, expand, find_seed_keys

#: the campaign backends that run on a Ray cluster
ON_RAY = ("ray", "ray-tasks")
#: how often the progress display and the metrics are refreshed while trials run (s)
REFRESH_S = 1.0


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run one trial (picklable: sent to worker processes)."""

    trial_id: str
    scenario: str
    periods: int | None
    #: every override in order: the campaign's fixed ones, the placement, the trial's own
    overrides: dict[str, Any]
    backend: str
    reference: bool
    folder: str


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_trial(job: TrialJob) -> dict[str, Any]:
    """One trial: its row's status, reason, outputs and nodes (never raises)."""
    started, clock = now(), time.monotonic()
    row: dict[str, Any] = {"started_at": started, "nodes": "", "hosts": ""}
    try:
        scenario = Scenario.load(job.scenario, periods=job.periods).with_overrides(job.overrides)
        result = run_scenario(scenario, backend=job.backend, out=job.folder,
                              reference=job.reference)
        summary = result.summary
        row.update(outputs(summary), status=str(summary.get("status", "failed")),
                   reason=str(summary.get("message", "")))
        row["nodes"], row["hosts"] = nodes(result.placement)
    except InvalidInputError as error:
        row.update(status=INVALID, reason=str(error))
    except Exception as error:  # failure isolation: any crash is the trial's row
        row.update(status=CRASHED, reason=f"{type(error).__name__}: {error}")
    row["trial_seconds"] = time.monotonic() - clock
    row["finished_at"] = now()
    return row


def run_trial_task(job: TrialJob) -> dict[str, Any]:
    """:func:`run_trial` inside a Ray task: its row names the task's node."""
    import socket

    import ray

    row = run_trial(job)
    row["nodes"] = ray.get_runtime_context().get_node_id()
    row["hosts"] = socket.gethostname()
    return row


def get_path(document: Mapping[str, Any], key: str) -> Any:
    value: Any = document
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def base_seeds(campaign: Campaign, base: Scenario) -> dict[str, int]:
    """The base scenario's seed values the repetitions step (``campaign.seed_keys``, or every
    integer ``seed`` key it has)."""
    document = tomllib.loads(base.to_toml())
    keys = campaign.seed_keys if campaign.seed_keys is not None else find_seed_keys(document)
    seeds = {}
    for key in keys:
        value = get_path(document, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{campaign.source}: campaign.seed_keys: the scenario has "
                                    f"no integer key {key!r}")
        seeds[key] = value
    return seeds


def trial_placement(campaign: Campaign, base: Scenario) -> dict[str, Any]:
    """Overrides that give a Ray trial its own placement group (one bundle per operator, the
    campaign's ``[resources]``), unless the scenario (or ``--placement``) places it itself."""
    if base.document.placement is not None:
        return {}
    overrides: dict[str, Any] = {"placement.strategy": campaign.strategy,
                                 "placement.ready_timeout_s": campaign.ready_timeout_s}
    for operator_id in base.document.operator_ids:
        for name, amount in campaign.operator_resources.items():
            overrides[f"placement.operators.{operator_id}.resources.{name}"] = amount
    return overrides


@dataclass
class CampaignRun:
    """A campaign under way: its store, counts and the trials left."""

    campaign: Campaign
    store: CampaignStore
    counts: CampaignCounts
    jobs: dict[str, TrialJob]
    trials: dict[str, Trial]
    backend: str
    attempts: dict[str, int] = field(default_factory=dict)


def prepare(campaign: Campaign, out: Path, *, force: bool = False,
            placement: Mapping[str, Any] | None = None,
            backend: str | None = None) -> CampaignRun:
    """The base scenario checked, the trials expanded, the folder opened (resuming it)."""
    base = Scenario.load(campaign.scenario, periods=campaign.periods)
    fixed = dict(campaign.overrides)
    if placement:
        fixed = {**fixed, **placement}
    if fixed:
        base = base.with_overrides(fixed)
    trials = expand(campaign, base_seeds(campaign, base))
    seed_columns = tuple(k for k in dict.fromkeys(k for t in trials for k in t.seeds)
                         if k not in campaign.varied)
    manifest = {"name": campaign.name, "source": campaign.source,
                "fingerprint": campaign_fingerprint(campaign, base.document.fingerprint),
                "scenario_fingerprint": base.document.fingerprint, "trials": len(trials),
                "definition": campaign.definition(), "written_at": now()}
    store = CampaignStore.open(out, manifest, (*campaign.varied, *seed_columns), force=force)
    chosen = backend or campaign.backend
    if chosen not in BACKENDS:
        raise InvalidInputError(f"unknown campaign backend {chosen!r} (known: "
                                f"{', '.join(BACKENDS)})")
    extra = trial_placement(campaign, base) if chosen == "ray" else {}
    trial_backend = "ray" if chosen == "ray" else "inproc"
    jobs = {t.trial_id: TrialJob(t.trial_id, campaign.scenario, campaign.periods,
                                 {**fixed, **extra, **t.all_overrides}, trial_backend,
                                 campaign.reference, str(out / TRIALS / t.trial_id))
            for t in trials}
    finished = store.finished()
    counts = CampaignCounts(campaign.name, len(trials))
    for trial in trials:
        if trial.trial_id in finished:
            counts.skipped += 1
            if finished[trial.trial_id]["status"] in ENDED[:2]:
                counts.done += 1
            else:
                counts.failed += 1
    return CampaignRun(campaign, store, counts, jobs, {t.trial_id: t for t in trials}, chosen)


def run_campaign(run: CampaignRun, *, concurrency: int | None = None,
                 ray_address: str | None = None, metrics: CampaignMetrics | None = None,
                 progress: Callable[[CampaignCounts], None] | None = None) -> pd.DataFrame:
    """:func:`execute` on the campaign's backend (joining or starting Ray for ``ray``, and
    shutting down what it started), then the standard plots (``plots/``); the table."""
    started = False
    if run.backend in ON_RAY:
        import ray

        started = not ray.is_initialized()
        if started:
            # a runtime of its own unless told where to join (as ptn run: "local", not Ray's
            # default of joining whatever cluster was last started on the machine)
            ray.init(address=ray_address or os.environ.get("RAY_ADDRESS") or "local",
                     include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
    try:
        frame = execute(run, concurrency=concurrency, metrics=metrics, progress=progress)
    finally:
        if started:
            ray.shutdown()
    draw(frame, run.store.columns, run.store.folder / "plots")
    frame.attrs["folder"] = str(run.store.folder)
    return frame


def alive_node_ids() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n.get("Alive")}  # type: ignore[no-untyped-call]


def lost_a_node(row: dict[str, Any], backend: str) -> bool:
    """Whether a trial that failed ran on a node that has since left the Ray cluster."""
    if backend not in ON_RAY or not row.get("nodes"):
        return False
    return bool(set(str(row["nodes"]).split(";")) - alive_node_ids())


def default_concurrency(backend: str) -> int:
    if backend not in ON_RAY:
        return 1
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


def execute(run: CampaignRun, *, concurrency: int | None = None,
            metrics: CampaignMetrics | None = None,
            progress: Callable[[CampaignCounts], None] | None = None) -> pd.DataFrame:
    """Run the trials not finished yet; the campaign's table (also written to its folder)."""
    campaign, counts, store = run.campaign, run.counts, run.store
    backend = run.backend
    finished = store.finished()
    pending = deque(tid for tid in run.jobs if tid not in finished)
    workers = concurrency or campaign.concurrency or default_concurrency(backend)
    executor = make_executor(backend, workers, len(pending))
    running: dict[Future[dict[str, Any]], str] = {}

    def show() -> None:
        counts.running = len(running)
        if metrics is not None:
            metrics.show(counts)
        if progress is not None:
            progress(counts)

    try:
        while pending or running:
            while pending and len(running) < workers:
                trial_id = pending.popleft()
                run.attempts[trial_id] = run.attempts.get(trial_id, 0) + 1
                shutil.rmtree(run.jobs[trial_id].folder, ignore_errors=True)
                running[submit(executor, run.jobs[trial_id], backend,
                               campaign.retries)] = trial_id
            show()
            done, _ = wait(list(running), timeout=REFRESH_S, return_when="FIRST_COMPLETED")
            for future in done:
                trial_id = running.pop(future)
                row = future_row(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    executor.shutdown(wait=False, cancel_futures=True)
                    executor = make_executor(backend, workers, len(pending) + 1)
                failed = row["status"] not in ENDED[:2]
                attempts = run.attempts[trial_id]
                if failed and attempts <= campaign.retries and (
                        row["status"] == CRASHED or lost_a_node(row, backend)):
                    counts.retried += 1
                    pending.append(trial_id)
                    continue
                record(run, trial_id, row, metrics)
        show()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return store.flush()


def record(run: CampaignRun, trial_id: str, row: dict[str, Any],
           metrics: CampaignMetrics | None) -> None:
    """A finished trial's row completed, appended durably and counted."""
    trial, job = run.trials[trial_id], run.jobs[trial_id]
    full = {"trial_id": trial_id, "repetition": trial.repetition, **trial.all_overrides,
            **row, "attempts": run.attempts[trial_id], "folder": str(Path(TRIALS) / trial_id)}
    if row["status"] in (INVALID, CRASHED):
        full["folder"] = full["folder"] if Path(job.folder).exists() else ""
    run.store.append(full)
    run.counts.finished_now += 1
    if row["status"] in ENDED[:2]:
        run.counts.done += 1
    else:
        run.counts.failed += 1
    if metrics is not None:
        metrics.trial_seconds.observe(float(row.get("trial_seconds", 0.0)))


def future_row(future: Future[dict[str, Any]]) -> dict[str, Any]:
    """The row a trial's worker returned, or a crashed row (a worker process that died)."""
    error = future.exception()
    if error is None:
        return future.result()
    return {"status": CRASHED, "reason": f"{type(error).__name__}: {error}",
            "finished_at": now(), "nodes": "", "hosts": ""}


def make_executor(backend: str, workers: int, jobs: int) -> Executor:
    if backend == "inproc" and workers > 1 and jobs > 1:
        return ProcessPoolExecutor(max_workers=min(workers, jobs),
                                   mp_context=get_context("spawn"))
    return ThreadPoolExecutor(max_workers=max(1, min(workers, max(jobs, 1))))


def submit(executor: Executor, job: TrialJob, backend: str,
           retries: int) -> Future[dict[str, Any]]:
    """A trial started: a Ray task (``ray-tasks``: one CPU, retried by Ray when its node or
    worker dies) or a call on the executor."""
    if backend == "ray-tasks":
        import ray

        task = ray.remote(run_trial_task).options(num_cpus=1, max_retries=retries)
        future: Future[dict[str, Any]] = task.remote(job).future()
        return future
    return executor.submit(run_trial, job)

"""Running a scenario's negotiation: on operators it hosts (a backend) or on remote ones.

Why this module exists: ``ptn run``, ``ptn coordinate``, ``ptn study`` and the Python API
(:func:`ptn.api.run`) all negotiate the same way: the scenario's mechanism (looked up in
:mod:`ptn.coordinator.mechanisms.registry`, never by name comparison) on the one driver, with
the scenario's deadlines and retries, its checkpoint and transcript in the results folder when
there is one, resumed from a checkpoint when asked (only the checkpoint of the same scenario:
its fingerprint must match). Writing the results and setting a full-information reference
beside them is the caller's (the runtime never reads an operator's table).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptn.coordinator.mechanisms.registry import mechanism_plugin
from ptn.coordinator.outcome import NegotiationStatus, RoundRecord
from ptn.coordinator.results.index_page import SUMMARY_FILE
from ptn.coordinator.runtime.backends import BACKENDS, check_operator_parts, operator_endpoints
from ptn.coordinator.runtime.checkpoint import Checkpoint, read_checkpoint
from ptn.coordinator.runtime.driver import Driver, DriverSettings
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import (
    CallFailedError,
    Endpoint,
    GrpcEndpoint,
    read_token,
)
from ptn.engines.errors import InvalidInputError
from ptn.metrics_endpoint import serve_metrics
from ptn.scenario.document import CoordinatorSettings, Scenario

CRASH_AFTER_ROUND_VARIABLE = "PTN_CRASH_AFTER_ROUND"
CHECKPOINT_FILE = "checkpoint.json"
TRANSCRIPT_FILE = "transcript.jsonl"


def crash_after_round() -> int | None:
    """Fault injection for tests: ``PTN_CRASH_AFTER_ROUND=k`` kills the coordinator right after
    it checkpointed its k-th driver round (exit 75, as ``kill -9`` would, at a known point)."""
    value = os.environ.get(CRASH_AFTER_ROUND_VARIABLE)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as error:
        raise InvalidInputError(f"${CRASH_AFTER_ROUND_VARIABLE} must be a round number, got "
                                f"{value!r}") from error


def round_printer(scenario: Scenario, emit: Callable[[str], None]
                  ) -> Callable[[RoundRecord], None]:
    """A progress callback that writes one line per round, as the scenario's mechanism
    formats it (residuals or price changes against the tolerance)."""
    plugin = mechanism_plugin(scenario.coordinator.mechanism)
    tolerance = scenario.coordinator.tolerance

    def show(record: RoundRecord) -> None:
        emit(plugin.progress_line(record, tolerance))

    return show


def results_folder(scenario: Scenario, out: Path | None) -> Path:
    """``out``, or ``results/<scenario name>`` by default."""
    return out if out is not None else Path("results") / scenario.public.name


def driver_settings(settings: CoordinatorSettings, folder: Path | None, *,
                    crash_after: int | None = None) -> DriverSettings:
    """A negotiation's driver settings: the scenario's deadlines and retries, its checkpoint and
    transcript in ``folder`` (none without one)."""
    return DriverSettings(
        call_timeout_s=settings.call_timeout_s, retries=settings.retries,
        operator_wait_s=settings.operator_wait_s,
        checkpoint_path=folder / CHECKPOINT_FILE if folder is not None else None,
        transcript_path=folder / TRANSCRIPT_FILE if folder is not None else None,
        crash_after_round=crash_after)


def coordinator_metrics(scenario: Scenario, metrics_port: int | None = None
                        ) -> CoordinatorMetrics:
    """The coordinator's metrics with its mechanism's round gauges, served on
    ``metrics_port`` when given."""
    metrics = CoordinatorMetrics.create(
        round_gauges=mechanism_plugin(scenario.coordinator.mechanism).round_gauges)
    serve_metrics(metrics_port, metrics.registry)
    return metrics


def resume_checkpoint(scenario: Scenario, path: Path) -> Checkpoint:
    """The checkpoint at ``path``, refused (naming both) unless it is of this scenario and its
    mechanism."""
    checkpoint = read_checkpoint(path)
    checkpoint.check_matches(scenario.public.name, scenario.fingerprint,
                             scenario.coordinator.mechanism, path)
    _refuse_finished(checkpoint, Path(path))
    return checkpoint


def _refuse_finished(checkpoint: Checkpoint, path: Path) -> None:
    """Refuse to resume a negotiation that ended: the summary beside its checkpoint is of the
    same negotiation and says it converged or reached its round limit. Its operators were
    told it ended (they dropped its state), and a resumed run would only repeat the end; a
    failed or interrupted run is resumed from its last round."""
    summary_path = path.parent / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no summary (the run was killed) or an unreadable one: resume
    if not isinstance(summary, dict) or summary.get("negotiation_id") != \
            checkpoint.negotiation_id:
        return
    status = summary.get("status")
    if status in (NegotiationStatus.CONVERGED, NegotiationStatus.NOT_CONVERGED):
        raise InvalidInputError(
            f"{path}: negotiation {checkpoint.negotiation_id} already ended ({status} after "
            f"{summary.get('rounds', checkpoint.round)} rounds; {summary_path} holds its "
            "results): there is nothing to resume. To run it again, leave out --resume (and "
            "give --force to replace the folder)")


def negotiate(scenario: Scenario, endpoints: dict[str, Endpoint], *, out: Path | None = None,
              metrics: CoordinatorMetrics | None = None,
              progress: Callable[[RoundRecord], None] | None = None,
              resume: Path | None = None, crash_after: int | None = None) -> Any:
    """The scenario's mechanism on the one driver over ``endpoints``; its outcome.

    ``out``: the folder of the checkpoint and the transcript; ``resume``: a checkpoint of the
    same scenario to continue from (another scenario's is refused naming both).
    """
    plugin = mechanism_plugin(scenario.coordinator.mechanism)
    roles = {endpoint.role for endpoint in endpoints.values()}
    for role in plugin.roles:
        if role not in roles:
            raise InvalidInputError(f"mechanism {plugin.name!r} needs an endpoint of a {role} "
                                    f"(got: {', '.join(sorted(endpoints)) or 'none'})")
    checkpoint = resume_checkpoint(scenario, resume) if resume is not None else None
    driver = Driver(endpoints, driver_settings(scenario.coordinator, out, crash_after=crash_after),
                    metrics if metrics is not None else CoordinatorMetrics.create(
                        round_gauges=plugin.round_gauges),
                    progress=progress, scenario_name=scenario.public.name,
                    scenario_fingerprint=scenario.fingerprint)
    if checkpoint is not None:
        driver.negotiation_id = checkpoint.negotiation_id
    try:
        return driver.run(plugin.build(scenario), checkpoint=checkpoint)
    finally:
        driver.close(endpoints=False)


def run_loaded_scenario(
    scenario: Scenario,
    scenario_spec: str,
    *,
    backend: str,
    out: Path | None,
    metrics_port: int | None = None,
    ray_address: str | None = None,
    resume: Path | None = None,
    progress: Callable[[RoundRecord], None] | None = None,
    on_placed: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """A loaded scenario's negotiation with its operators hosted on ``backend``; its outcome
    (``on_placed`` receives where the operators run: see ``operator_endpoints``).

    ``scenario_spec`` is what operator processes load (the scenario's file or built-in name);
    with ``out`` the operators' private reports, logs, the checkpoint and the transcript go
    there (nothing is written without it).
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if resume is not None:
        resume_checkpoint(scenario, resume)  # refused before any operator is started
    check_operator_parts(scenario)
    metrics = coordinator_metrics(scenario, metrics_port)
    with operator_endpoints(scenario, scenario_spec, backend, registry=metrics.registry,
                            private_root=out / "operators" if out is not None else None,
                            ray_address=ray_address,
                            log_directory=out / "logs" if out is not None else None,
                            on_placed=on_placed) as endpoints:
        return negotiate(scenario, endpoints, out=out, metrics=metrics, progress=progress,
                         resume=resume, crash_after=crash_after_round())


def remote_endpoints(scenario: Scenario, endpoint_specs: list[str], *,
                     tls_dir: Path | None = None,
                     token_dir: Path | None = None) -> dict[str, GrpcEndpoint]:
    """gRPC endpoints of the scenario's operators, one ``ID=HOST:PORT`` each (``token_dir``:
    a bearer token per operator, ``<operator_id>.token``)."""
    remote: dict[str, GrpcEndpoint] = {}
    for spec in endpoint_specs:
        operator_id, _, address = spec.partition("=")
        if not operator_id or not address or ":" not in address:
            raise InvalidInputError(f"--endpoint {spec!r}: expected ID=HOST:PORT")
        if operator_id not in scenario.parts:
            raise InvalidInputError(f"--endpoint {spec!r}: the scenario has no operator "
                                    f"{operator_id!r} (has: {', '.join(scenario.parts)})")
        remote[operator_id] = GrpcEndpoint(scenario.part(operator_id).role, operator_id,
                                           address, tls_dir,
                                           token=read_token(token_dir, operator_id))
    missing = [o for o in scenario.operator_ids if o not in remote]
    if missing:
        raise InvalidInputError(f"no --endpoint for operator {missing[0]!r}")
    return remote


class OperatorUnreachableError(InvalidInputError):
    """An operator given by its address (``--endpoint``) does not serve there."""


def wait_until_serving(endpoints: dict[str, GrpcEndpoint], window_s: float) -> None:
    """Wait until every operator's health service says SERVING, within ``window_s`` in all."""
    deadline = time.monotonic() + window_s
    for operator_id, endpoint in endpoints.items():
        try:
            endpoint.wait_until_serving(max(0.5, deadline - time.monotonic()))
        except CallFailedError as error:
            if error.reason == "unauthorized":  # e.g. another operator's certificate
                raise OperatorUnreachableError(f"operator {endpoint.describe_location()}: "
                                               f"{error.detail}") from None
            last = error.detail.rsplit("(", 1)[-1].rstrip(")")  # the last health status
            raise OperatorUnreachableError(
                f"operator {endpoint.describe_location()} is not serving after {window_s:g} s "
                f"(last: {last}); is `ptn serve {endpoint.role} --operator-id {operator_id}` "
                f"running there? ([coordinator] operator_wait_s sets how long to wait)"
            ) from None


def coordinate(
    scenario: Scenario,
    endpoint_specs: list[str],
    *,
    out: Path | None,
    metrics_port: int | None = None,
    tls_dir: Path | None = None,
    resume: Path | None = None,
    progress: Callable[[RoundRecord], None] | None = None,
    connect_timeout_s: float | None = None,
    token_dir: Path | None = None,
) -> Any:
    """Drive remote operators (``ID=HOST:PORT`` each) through the scenario's mechanism; its
    outcome. Every operator is waited for until it serves, at most ``connect_timeout_s``
    (default: ``[coordinator] operator_wait_s``) in all: one that does not is
    :class:`OperatorUnreachableError` naming it and its address."""
    if resume is not None:
        resume_checkpoint(scenario, resume)  # refused before any operator is reached
    remote = remote_endpoints(scenario, endpoint_specs, tls_dir=tls_dir, token_dir=token_dir)
    try:
        window_s = scenario.coordinator.operator_wait_s if connect_timeout_s is None \
            else connect_timeout_s
        wait_until_serving(remote, window_s)
        return negotiate(scenario, dict(remote), out=out,
                         metrics=coordinator_metrics(scenario, metrics_port), progress=progress,
                         resume=resume, crash_after=crash_after_round())
    finally:
        for endpoint in remote.values():
            endpoint.close()

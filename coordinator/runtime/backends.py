"""Operators on each backend: in this process, as Ray actors, or as gRPC processes.

Why this module exists: ``ptn run --backend inproc|ray|grpc`` and the tests need the same
scenario's operators on any transport, each built from its own scenario part only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from ptn.coordinator.runtime.launcher import OperatorProcesses
from ptn.coordinator.runtime.placement import NOT_PLACED, RayPlacement, operator_nodes, place
from ptn.coordinator.runtime.runtime_env import operator_runtime_env
from ptn.coordinator.runtime.transports import Endpoint, InProcessEndpoint, RayEndpoint
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import Scenario
from ptn.services.host import OperatorHost, OperatorModel
from ptn.services.hosting import build_host, check_part
from ptn.services.metrics import OperatorMetrics

BACKENDS = ("inproc", "ray", "grpc")
#: how often Ray restarts an operator's actor whose process died (with a private folder)
RAY_MAX_RESTARTS = 3


def check_operator_parts(scenario: Scenario) -> None:
    """Read every operator's configuration once, so bad data fails here naming the key."""
    for operator_id in scenario.operator_ids:
        check_part(scenario.part(operator_id))


def inproc_endpoints(scenario: Scenario, *, registry: CollectorRegistry | None = None,
                     private_root: Path | None = None) -> dict[str, Endpoint]:
    """Every operator hosted in this process (sharing one metrics registry)."""
    metrics = OperatorMetrics.create(registry)
    endpoints: dict[str, Endpoint] = {}
    for operator_id in scenario.operator_ids:
        part = scenario.part(operator_id)
        private = private_root / operator_id if private_root is not None else None
        endpoints[operator_id] = InProcessEndpoint(build_host(part, private, metrics))
    return endpoints


def hosted_endpoints(models: dict[str, OperatorModel]) -> dict[str, Endpoint]:
    """Operator models the caller built itself (e.g. from cases a reference cut to a window of
    the day), each hosted in this process as :func:`inproc_endpoints` hosts a scenario's."""
    metrics = OperatorMetrics.create(None)
    return {operator_id: InProcessEndpoint(OperatorHost(model, metrics))
            for operator_id, model in models.items()}


LOG = logging.getLogger("ptn.coordinator")

#: how often a local Ray runtime is started before giving up: its GCS server, started as a
#: process of its own, now and then misses ray.init's wait for its port file on a loaded machine
LOCAL_RAY_START_ATTEMPTS = 2


def ray_init_address(address: str | None) -> str:
    """What ``ray.init`` is given: ``address``, else ``$RAY_ADDRESS`` (Ray's own convention),
    else ``"local"``: a Ray runtime of this process's own. Not Ray's default, which joins
    whatever Ray cluster was last started on the machine (another user's, another test's) and
    runs the operators there, with that cluster's environment and load."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


def start_ray(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or ``$RAY_ADDRESS``), or start a local Ray runtime
    of this process's own (unless one is running: :func:`ray_init_address`); a local start that
    fails (the GCS missing ``ray.init``'s wait for its port file raises RuntimeError, a raylet
    that times out during start-up a bare Exception) is tried once more after a clean
    shutdown."""
    import ray

    if ray.is_initialized():
        return
    address = ray_init_address(address)
    init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                            "configure_logging": False, "address": address}
    for attempt in range(1, LOCAL_RAY_START_ATTEMPTS + 1):
        try:
            ray.init(**init)
            return
        except Exception as error:  # Ray's raylet start-up timeout is a bare Exception
            if address != "local" or attempt == LOCAL_RAY_START_ATTEMPTS:
                raise
            LOG.warning("Ray's local runtime did not start (%s); starting it again", error)
            ray.shutdown()


#: how long an operator's actor may take to start without a [placement] table (s)
RAY_READY_TIMEOUT_S = 300.0


def ray_endpoints(scenario: Scenario, *, address: str | None = None,
                  private_root: Path | None = None,
                  placement: RayPlacement | None = None) -> dict[str, Endpoint]:
    """Every operator as a Ray actor (a local Ray runtime is started unless one is running),
    each created with its ``placement`` options (the scenario's ``[placement]``: see
    ptn.coordinator.runtime.placement) and a ``runtime_env`` carrying the driver's values of
    the environment variables its data paths use (ptn.coordinator.runtime.runtime_env). Each
    actor serves its operator's metrics on a port of its node (its ``node()`` says where)."""
    import ray

    from ptn.services.adapters.ray_actor import OperatorActor

    start_ray(address)
    if placement is None:
        placement = place(scenario.placement, scenario.operator_ids)
    placed_timeout_s = scenario.placement.ready_timeout_s if scenario.placement is not None \
        else RAY_READY_TIMEOUT_S
    actors = {}
    # an actor that keeps its state in its private folder is restarted by Ray when its process
    # dies (it restores the state, and the driver waits for it); without one, a restart would
    # come back without the negotiation's state, so it is not attempted
    restarts = RAY_MAX_RESTARTS if private_root is not None else 0
    for operator_id in scenario.operator_ids:
        part = scenario.part(operator_id)
        private = str(private_root / operator_id) if private_root is not None else None
        options: dict[str, Any] = {"max_restarts": restarts, **placement.options[operator_id]}
        runtime_env = operator_runtime_env(part)
        if runtime_env:
            options["runtime_env"] = runtime_env
        actors[operator_id] = (part.role, OperatorActor.options(  # type: ignore[attr-defined]
            **options).remote(part, private))
    for operator_id, (_, actor) in actors.items():
        # ready_timeout_s bounds the wait for a place; an operator without pins fits any node
        # (it reserves nothing), so its wait is only its start-up, bounded by the default
        pinned = any(key in placement.options[operator_id]
                     for key in ("resources", "scheduling_strategy", "num_cpus"))
        timeout_s = placed_timeout_s if pinned else max(placed_timeout_s, RAY_READY_TIMEOUT_S)
        try:
            ray.get(actor.ready.remote(), timeout=timeout_s)
        except ray.exceptions.RayActorError as error:
            raise InvalidInputError(f"operator {operator_id} did not start on Ray: "
                                    f"{error}") from error
        except ray.exceptions.GetTimeoutError:
            for _, started in actors.values():
                ray.kill(started)
            raise InvalidInputError(
                f"operator {operator_id} was not placed on the Ray cluster within "
                f"{timeout_s:g} s (its [placement] asks for {placement.options[operator_id]}; "
                f"[placement] ready_timeout_s sets the wait)") from None
    return {operator_id: RayEndpoint(role, operator_id, actor)
            for operator_id, (role, actor) in actors.items()}


@contextmanager
def operator_endpoints(scenario: Scenario, scenario_spec: str, backend: str, *,
                       registry: CollectorRegistry | None = None,
                       private_root: Path | None = None, ray_address: str | None = None,
                       log_directory: Path | None = None,
                       on_placed: Callable[[dict[str, Any]], None] | None = None
                       ) -> Iterator[dict[str, Endpoint]]:
    """Endpoints of every operator on ``backend``; stops what it started on exit.

    ``on_placed`` receives where the operators run (the results' ``placement``): on Ray, per
    operator its node; elsewhere, with a ``[placement]`` table, a note that it was ignored.
    """
    if backend != "ray" and scenario.placement is not None and on_placed is not None:
        on_placed({"backend": backend, "note": NOT_PLACED.format(backend=backend)})
    if backend == "inproc":
        hosted = inproc_endpoints(scenario, registry=registry, private_root=private_root)
        try:
            yield hosted
        finally:
            for endpoint in hosted.values():
                close = getattr(getattr(endpoint, "host", None), "close", None)
                if callable(close):
                    close()  # e.g. the traffic department's private probe workers
    elif backend == "ray":
        import ray

        started = not ray.is_initialized()
        start_ray(ray_address)
        placement = None
        try:
            placement = place(scenario.placement, scenario.operator_ids)
            endpoints = ray_endpoints(scenario, address=ray_address, private_root=private_root,
                                      placement=placement)
        except BaseException:
            if placement is not None:
                placement.remove()
            if started:
                ray.shutdown()
            raise
        try:
            if on_placed is not None:
                actors = {i: e.actor for i, e in endpoints.items()}  # type: ignore[attr-defined]
                on_placed({"backend": "ray", "operators": operator_nodes(
                    actors, RAY_READY_TIMEOUT_S)})
            yield endpoints
        finally:
            for endpoint in endpoints.values():
                ray.kill(endpoint.actor)  # type: ignore[attr-defined]
            placement.remove()
            if started:
                ray.shutdown()
    elif backend == "grpc":
        with OperatorProcesses(scenario_spec, scenario, log_directory=log_directory,
                               private_root=private_root) as processes:
            endpoints_grpc = processes.endpoints()
            try:
                yield dict(endpoints_grpc)
            finally:
                for endpoint in endpoints_grpc.values():
                    endpoint.close()
    else:
        raise InvalidInputError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")

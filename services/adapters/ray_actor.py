"""The Ray adapter: an operator's host as a Ray actor that exchanges serialized protobuf.

Why this module exists: on a Ray cluster (or ``ptn run``'s local Ray runtime) each operator is
an actor. The actor is created with the operator's own scenario part only, builds its model
inside the actor's process, and its one method moves bytes through
:meth:`OperatorHost.handle`, so the schema stays the boundary. The actor's process serves its
operator's Prometheus metrics (``ptn_operator_*``, counts and durations only) on a port of its
node (``metrics_port``; 0, the default: one the node's operating system chooses, since several
negotiations' actors may share a node), and :meth:`OperatorActor.node` says where to scrape
them. With a private output directory its host keeps the operator's private report and state
(``state.json``, for resuming) there.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import ray

from ptn.metrics_endpoint import bind_metrics
from ptn.scenario.document import ScenarioPart
from ptn.services.adapters import ray_probe_pool
from ptn.services.hosting import build_host


@ray.remote(num_cpus=0)
class OperatorActor:
    """One operator in a Ray actor (zero CPUs reserved: operators take turns, not cores)."""

    def __init__(self, part: ScenarioPart, private_output_dir: str | None = None,
                 metrics_port: int | None = 0) -> None:
        directory = Path(private_output_dir) if private_output_dir else None
        ray_probe_pool.register()  # a traffic department may run its probe workers on Ray
        self.host = build_host(part, directory)
        self.metrics_port = None if metrics_port is None \
            else bind_metrics(metrics_port, self.host.metrics.registry)

    def handle(self, method: str, request: bytes) -> bytes:
        return self.host.handle(method, request)

    def offers(self, method: str) -> bool:
        return self.host.offers(method)

    def node(self) -> dict[str, str]:
        """Where this actor runs: its Ray node's id, the host's name and the node's IP, and
        the address of its metrics (``metrics``: ``http://IP:PORT/metrics``, when served)."""
        ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        where = {"node_id": ray.get_runtime_context().get_node_id(),
                 "host": socket.gethostname(), "ip": ip}
        if self.metrics_port is not None:
            where["metrics"] = f"http://{ip}:{self.metrics_port}/metrics"
        return where

    def ready(self) -> dict[str, Any]:
        return {"role": self.host.role, "operator_id": self.host.operator_id}

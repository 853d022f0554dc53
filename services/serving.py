"""``ptn serve``: one operator of a scenario as its own gRPC server process.

Why this module exists: an operator deployed alone (a process on its company's machine, a
container, the gRPC backend's children) loads the scenario, reads only its own table, hosts its
model behind its role's service with health and metrics, and serves until it is told to stop.
With ``--private-out`` the operator writes its private report there and keeps its state for
resuming (``state.json``, :mod:`ptn.services.state`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from ptn.engines.errors import InvalidInputError
from ptn.metrics_endpoint import serve_metrics
from ptn.protocol.schema import service_name
from ptn.scenario.document import load_scenario
from ptn.services.adapters.grpc_server import start_server
from ptn.services.hosting import build_host
from ptn.services.metrics import OperatorMetrics


def serve(
    role: str,
    scenario_spec: str,
    *,
    port: int,
    host: str = "0.0.0.0",
    metrics_port: int | None = None,
    tls_dir: Path | None = None,
    operator_id: str | None = None,
    private_out: Path | None = None,
    ready: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    periods: int | None = None,
) -> None:
    """Serve one operator of a scenario over gRPC until SIGTERM/SIGINT (or ``stop_event``);
    ``periods`` resamples the scenario's horizon (:func:`ptn.scenario.document.load_scenario`)."""
    scenario = load_scenario(scenario_spec, periods=periods)
    operator_id = operator_id or role
    part = scenario.part(operator_id)
    if part.role != role:
        raise InvalidInputError(f"operator {operator_id!r} of the scenario is a {part.role}, "
                                f"not a {role}")
    metrics = OperatorMetrics.create()
    operator = build_host(part, private_out, metrics)
    serve_metrics(metrics_port, metrics.registry)
    server, bound = start_server(operator, f"{host}:{port}", tls_dir=tls_dir)
    line = f"ptn: serving {operator_id} ({service_name(role)}) on {host}:{bound}"
    (ready or (lambda text: print(text, flush=True)))(line)
    stop = stop_event or threading.Event()
    if stop_event is None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()

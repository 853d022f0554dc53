"""``ptn serve``: one operator of a scenario as its own gRPC server process.

Why this module exists: an operator deployed alone (a process on its company's machine, a
container, the gRPC backend's children) loads the scenario, reads only its own table, hosts its
model behind its role's service with health and metrics, and serves until it is told to stop.
With ``--private-out`` the operator writes its private report there; its state for resuming
(``state.json``, :mod:`ptn.services.state`) goes to ``--state-dir`` (default: ``--private-out``).

Who may call it (:mod:`ptn.services.adapters.grpc_server`): with ``--tls-dir`` holding ``ca.crt``
only the trusted identity's certificate (``--trust``, default ``ptn://coordinator``); with
``--token-file`` only calls carrying that bearer token. Without TLS the operator is
unauthenticated, so it listens on 127.0.0.1 unless ``--host`` says otherwise, and says so.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.metrics_endpoint import serve_metrics
from ptn.protocol.schema import service_name
from ptn.scenario.document import load_scenario
from ptn.services.adapters.grpc_server import DEFAULT_MAX_CONCURRENT, check_address, start_server
from ptn.services.adapters.identity import COORDINATOR_IDENTITY
from ptn.services.hosting import build_host
from ptn.services.metrics import OperatorMetrics

#: where an operator without TLS listens unless told otherwise
LOOPBACK = "127.0.0.1"


def read_token_file(path: Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace dropped); a clear error if unusable."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"--token-file {path}: cannot read it ({error})") from error
    if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise InvalidInputError(f"--token-file {path}: the token must be one non-empty line of "
                                f"printable characters without spaces")
    return token


def serve(
    role: str,
    scenario_spec: str,
    *,
    port: int,
    host: str | None = None,
    metrics_port: int | None = None,
    tls_dir: Path | None = None,
    operator_id: str | None = None,
    private_out: Path | None = None,
    ready: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    periods: int | None = None,
    state_dir: Path | None = None,
    session_idle_s: float | None = None,
    trust: str = COORDINATOR_IDENTITY,
    token_file: Path | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    health_port: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Serve one operator of a scenario over gRPC until SIGTERM/SIGINT (or ``stop_event``);
    ``periods`` resamples the scenario's horizon (:func:`ptn.scenario.document.load_scenario`).
    ``host`` defaults to 127.0.0.1 without TLS (0.0.0.0 with it)."""
    listen = host if host is not None else (LOOPBACK if tls_dir is None else "0.0.0.0")
    check_address(f"{listen}:{port}")
    if health_port is not None:
        check_address(f"{listen}:{health_port}")
    token = read_token_file(token_file) if token_file is not None else None
    scenario = load_scenario(scenario_spec, periods=periods)
    operator_id = operator_id or role
    part = scenario.part(operator_id)
    if part.role != role:
        raise InvalidInputError(f"operator {operator_id!r} of the scenario is a {part.role}, "
                                f"not a {role}")
    metrics = OperatorMetrics.create()
    # state_dir and session_idle_s are build_host's keyword arguments of issue 15; passed only
    # when given, so that this also runs against a build_host without them
    extra: dict[str, Any] = {}
    if state_dir is not None:
        extra["state_dir"] = state_dir
    if session_idle_s is not None:
        extra["session_idle_s"] = session_idle_s
    operator = build_host(part, private_out, metrics, **extra)
    serve_metrics(metrics_port, metrics.registry)
    server, bound = start_server(
        operator, f"{listen}:{port}", tls_dir=tls_dir, trust=trust, token=token,
        max_concurrent=max_concurrent,
        health_address=f"{listen}:{health_port}" if health_port is not None else None)
    notice = None
    if tls_dir is None:
        notice = (f"is unauthenticated (no --tls-dir, no --token-file): it answers anyone "
                  f"who reaches {listen}:{bound}" if token is None else
                  f"has no TLS (no --tls-dir): its bearer token and messages cross the network "
                  f"in clear to {listen}:{bound}")
    elif not (Path(tls_dir) / "ca.crt").exists() and token is None:
        notice = (f"authenticates no caller (no ca.crt in {tls_dir}, no --token-file): it "
                  f"answers anyone who reaches {listen}:{bound}")
    if notice is not None:
        (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(
            f"ptn: warning: {operator_id} {notice}")
    line = f"ptn: serving {operator_id} ({service_name(role)}) on {listen}:{bound}"
    (ready or (lambda text: print(text, flush=True)))(line)
    stop = stop_event or threading.Event()
    if stop_event is None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    operator.close()

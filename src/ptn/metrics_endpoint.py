"""Serving a Prometheus registry on ``/metrics``: the one way operators and coordinators do it.

Why this module exists: an operator process (``ptn serve``, a Ray actor) and a coordinator
(``ptn run``, ``ptn coordinate``) each expose their own registry on a port they are given; a
port that cannot be bound is invalid input naming the option. A Ray actor, which cannot know
which ports are free on the node it lands on, asks for port 0 and reports the one bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

from ptn.engines.errors import InvalidInputError


def bind_metrics(port: int, registry: CollectorRegistry) -> int:
    """Serve ``registry`` on http://0.0.0.0:port/metrics in a background thread (port 0: one
    the operating system chooses); the port bound."""
    try:
        server, _ = start_http_server(port, registry=registry)
    except OSError as error:
        raise InvalidInputError(f"--metrics-port {port}: {error.strerror or error}") \
            from error
    return int(server.server_port)


def serve_metrics(port: int | None, registry: CollectorRegistry) -> None:
    """Serve ``registry`` on http://0.0.0.0:port/metrics in a background thread (nothing
    without a port)."""
    if port:
        bind_metrics(port, registry)

"""The gRPC adapter: an operator's host served as its role's service, plus gRPC health.

Why this module exists: an operator deployed as its own process (``ptn serve``) speaks gRPC.
The servicer only moves bytes: each RPC of the role's service that the model implements is
registered with a raw-bytes handler that calls :meth:`OperatorHost.handle` (which decodes,
deduplicates and times); methods the model does not implement are left unregistered, so gRPC
answers ``UNIMPLEMENTED``. The standard ``grpc.health.v1.Health`` service reports ``SERVING``
for the overall server ("") and for the role's service name (Kubernetes gRPC probes use it).

TLS: with ``tls_dir``, the server reads ``server.crt`` and ``server.key``; if ``ca.crt`` is there
too, clients must present a certificate it signed (mutual TLS).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ptn.engines.errors import InvalidInputError
from ptn.services.host import OperatorHost

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _behaviour(host: OperatorHost, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def behaviour(request: bytes, context: grpc.ServicerContext) -> bytes:
        return host.handle(method, request)

    return behaviour


def server_credentials(tls_dir: Path) -> grpc.ServerCredentials:
    """Server TLS credentials from ``tls_dir`` (mutual TLS when ``ca.crt`` is present)."""
    directory = Path(tls_dir)
    try:
        key = (directory / "server.key").read_bytes()
        certificate = (directory / "server.crt").read_bytes()
    except OSError as error:
        raise InvalidInputError(f"--tls-dir {directory}: needs server.crt and server.key "
                                f"({error.strerror or error})") from error
    ca = directory / "ca.crt"
    root = ca.read_bytes() if ca.exists() else None
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=root,
                                       require_client_auth=root is not None)


def start_server(host: OperatorHost, address: str, *, tls_dir: Path | None = None,
                 max_workers: int = 4) -> tuple[grpc.Server, int]:
    """Start serving ``host`` on ``address`` (``HOST:PORT``, port 0 = any); (server, port)."""
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=options)
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(_behaviour(host, method))
        for method in host.methods if host.offers(method)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(host.service,
                                                                          handlers),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if tls_dir is not None:
        port = server.add_secure_port(address, server_credentials(tls_dir))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise InvalidInputError(f"cannot listen on {address}")
    server.start()
    for name in ("", host.service):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port

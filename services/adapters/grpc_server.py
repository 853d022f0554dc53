"""The gRPC adapter: an operator's host served as its role's service, plus gRPC health.

Why this module exists: an operator deployed as its own process (``ptn serve``) speaks gRPC, and
its port is reachable by parties other than the coordinator. The servicer moves bytes and guards
the door; each RPC of the role's service that the model implements is registered with a raw-bytes
handler that, in this order:

1. authenticates: with mutual TLS the caller's certificate must carry the trusted identity
   (``ptn://coordinator`` by default, :mod:`ptn.services.adapters.identity`): another valid
   certificate gets ``PERMISSION_DENIED``, none (a plaintext health port) ``UNAUTHENTICATED``;
   with a bearer token, the ``authorization: Bearer <token>`` metadata must match (constant-time
   comparison), else ``UNAUTHENTICATED``;
2. does not start a call whose deadline has passed (``DEADLINE_EXCEEDED``);
3. admits at most ``max_concurrent`` model calls in flight or queued; the rest are shed at once
   with ``RESOURCE_EXHAUSTED``, so the server's threads never pile up behind the model and the
   health service always finds one;
4. calls :meth:`OperatorHost.handle` (which decodes, validates, deduplicates and times) and turns
   a :class:`ptn.services.refusal.RequestRefusedError` into the status it names.

Methods the model does not implement are left unregistered (``UNIMPLEMENTED``). The standard
``grpc.health.v1.Health`` service reports ``SERVING`` for the server ("") and the role's service
name, and is open to anyone: Kubernetes' gRPC probes speak plaintext, so a TLS server may add a
plaintext ``health_address`` whose other RPCs are all refused (they carry no certificate).

Ports are exclusive (``grpc.so_reuseport`` off: a second server on a port fails, naming it).
Messages are limited to :data:`ptn.services.adapters.limits.MAX_MESSAGE_BYTES`, sized from the
largest legitimate message of the shipped scenarios (docs/runtime.md, "Security").
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ptn.engines.errors import InvalidInputError
from ptn.services.adapters.identity import COORDINATOR_IDENTITY, certificate_uris
from ptn.services.adapters.limits import MAX_MESSAGE_BYTES, SERVER_KEEPALIVE_OPTIONS
from ptn.services.refusal import RequestRefusedError

LOG = logging.getLogger(__name__)

#: model calls admitted at once (running or waiting for the model); more are shed
DEFAULT_MAX_CONCURRENT = 8
#: threads beyond the admitted model calls, for health checks and shedding
SPARE_THREADS = 4
class ServedHost(Protocol):
    """What the adapter serves: an operator's host (:class:`ptn.services.host.OperatorHost`)."""

    @property
    def service(self) -> str: ...

    @property
    def methods(self) -> Iterable[str]: ...

    def offers(self, method: str) -> bool: ...

    def handle(self, method: str, request: bytes) -> bytes: ...


class Admission:
    """A bounded count of model calls: :meth:`enter` says whether one more may start."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise InvalidInputError(f"--max-concurrent {limit}: must be at least 1")
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class AccessPolicy:
    """Who may call the negotiation RPCs: the trusted certificate identity (when the server
    requires client certificates) and an optional bearer token."""

    def __init__(self, *, trusted_identity: str | None, token: str | None,
                 transport_secured: bool) -> None:
        self.trusted_identity = trusted_identity
        self.expected_authorization = (f"Bearer {token}".encode() if token is not None
                                       else None)
        self.transport_secured = transport_secured

    def check(self, context: grpc.ServicerContext) -> None:
        """Abort the call unless the caller is authorized (UNAUTHENTICATED/PERMISSION_DENIED)."""
        properties = context.auth_context()
        if self.transport_secured and b"ssl" not in properties.get("transport_security_type",
                                                                   []):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "this port serves health checks only; negotiation calls need TLS")
        if self.trusted_identity is not None:
            certificates = properties.get("x509_pem_cert", [])
            if not certificates:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
            identities = certificate_uris(bytes(certificates[0]))
            if self.trusted_identity not in identities:
                LOG.warning("refused a call from %s (identity %s)", context.peer(),
                            ", ".join(sorted(identities)) or "none")
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"caller {', '.join(sorted(identities)) or '(no identity)'} is not "
                              f"{self.trusted_identity}")
        if self.expected_authorization is not None:
            presented = next((value for key, value in context.invocation_metadata()
                              if key == "authorization"), "")
            data = presented.encode() if isinstance(presented, str) else bytes(presented)
            if not hmac.compare_digest(data, self.expected_authorization):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


def guarded(host: ServedHost, method: str, policy: AccessPolicy,
            admission: Admission) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    """The handler of one RPC: authorize, check the deadline, admit, then call the host."""

    def behaviour(request: bytes, context: grpc.ServicerContext) -> bytes:
        policy.check(context)
        remaining = context.time_remaining()
        if not context.is_active() or (remaining is not None and remaining <= 0):
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                          "the caller's deadline passed before the call started")
        if not admission.enter():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"{admission.limit} calls in progress; retry later")
        try:
            return host.handle(method, request)
        except RequestRefusedError as error:
            context.abort(getattr(grpc.StatusCode, error.code), error.message)
            raise  # abort raises; this line only tells the type checker
        finally:
            admission.leave()

    return behaviour


def server_credentials(tls_dir: Path) -> tuple[grpc.ServerCredentials, bool]:
    """Server TLS credentials from ``tls_dir``, and whether they require client certificates
    (mutual TLS, when ``ca.crt`` is present)."""
    directory = Path(tls_dir)
    try:
        key = (directory / "server.key").read_bytes()
        certificate = (directory / "server.crt").read_bytes()
    except OSError as error:
        raise InvalidInputError(f"--tls-dir {directory}: needs server.crt and server.key "
                                f"({error.strerror or error})") from error
    ca = directory / "ca.crt"
    root = ca.read_bytes() if ca.exists() else None
    credentials = grpc.ssl_server_credentials([(key, certificate)], root_certificates=root,
                                              require_client_auth=root is not None)
    return credentials, root is not None


def check_address(address: str) -> int:
    """The port of ``HOST:PORT`` (0..65535), or InvalidInputError naming the address."""
    host, colon, port_text = address.rpartition(":")
    if not colon or not host:
        raise InvalidInputError(f"address {address!r}: expected HOST:PORT")
    try:
        port = int(port_text)
    except ValueError:
        raise InvalidInputError(f"address {address!r}: port {port_text!r} is not a number") \
            from None
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"port {port} is outside 0..65535 (address {address})")
    return port


def bind(server: grpc.Server, address: str,
         credentials: grpc.ServerCredentials | None) -> int:
    """Add a port to ``server``; a clear error when it is taken or cannot be bound."""
    check_address(address)
    try:
        port = (server.add_secure_port(address, credentials) if credentials is not None
                else server.add_insecure_port(address))
    except RuntimeError:
        port = 0
    if port == 0:
        raise InvalidInputError(f"cannot listen on {address}: the port is in use (another "
                                f"server?) or the address is not this machine's")
    return port


def start_server(host: ServedHost, address: str, *, tls_dir: Path | None = None,
                 trust: str | None = COORDINATOR_IDENTITY, token: str | None = None,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT,
                 health_address: str | None = None,
                 max_workers: int | None = None) -> tuple[grpc.Server, int]:
    """Start serving ``host`` on ``address`` (``HOST:PORT``, port 0 = any); (server, port).

    ``trust`` is the identity whose certificate may call the negotiation RPCs under mutual TLS
    (ignored without client certificates); ``token`` a bearer token every such call must carry;
    ``health_address`` an extra plaintext port for health checks only; ``max_workers`` the
    server's threads (default: ``max_concurrent`` plus spares for health and shedding)."""
    admission = Admission(max_concurrent)
    check_address(address)
    if health_address is not None:
        check_address(health_address)
    credentials, mutual = server_credentials(tls_dir) if tls_dir is not None else (None, False)
    if token is not None and not token:
        raise InvalidInputError("the bearer token is empty")
    policy = AccessPolicy(trusted_identity=trust if mutual else None, token=token,
                          transport_secured=credentials is not None)
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
               ("grpc.so_reuseport", 0), *SERVER_KEEPALIVE_OPTIONS]
    workers = max_workers if max_workers is not None else max_concurrent + SPARE_THREADS
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="ptn-grpc"),
                         options=options)
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(guarded(host, method, policy, admission))
        for method in host.methods if host.offers(method)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(host.service,
                                                                          handlers),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = bind(server, address, credentials)
    if health_address is not None:
        bind(server, health_address, None)
    server.start()
    for name in ("", host.service):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port

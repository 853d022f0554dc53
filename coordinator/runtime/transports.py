"""The coordinator's side of the three transports: in-process, Ray actor and gRPC.

Why this module exists: one driver (:mod:`ptn.coordinator.runtime.driver`) talks to operators
through an :class:`Endpoint` whatever carries the bytes (mosaik's habit: in-process, subprocess,
connect). Every endpoint sends a serialized protobuf request and parses the serialized reply as the
method's output message, so the schema is the boundary in every mode, in-process included. Transport
trouble becomes a :class:`CallFailedError` with a reason the driver can retry on (``unavailable``,
``overloaded``) or report (``deadline``, ``unauthorized``, ``refused``, ``invalid_reply``).

Over gRPC with ``tls_dir`` the endpoint presents the coordinator's certificate and verifies that
the server's certificate is the expected operator's (TLS hostname verification against
``<operator_id>.operator.ptn``, :mod:`ptn.services.adapters.identity`), and with ``token`` sends
``authorization: Bearer <token>`` on every call.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.message import DecodeError, Message

from ptn.engines.errors import InvalidInputError
from ptn.protocol.schema import MethodSpec, UnknownMethodError, service_methods, service_name
from ptn.services.adapters.limits import CHANNEL_KEEPALIVE_OPTIONS, MAX_MESSAGE_BYTES
from ptn.services.refusal import RequestRefusedError

#: CallFailedError reasons by gRPC status name (others: ``refused``)
REASONS_BY_STATUS = {
    "UNAVAILABLE": "unavailable",
    "DEADLINE_EXCEEDED": "deadline",
    "RESOURCE_EXHAUSTED": "overloaded",
    "UNAUTHENTICATED": "unauthorized",
    "PERMISSION_DENIED": "unauthorized",
}
#: the reasons worth retrying after a wait (the operator is down or busy, not refusing)
RETRYABLE_REASONS = frozenset({"unavailable", "overloaded"})
#: what gRPC says when the server's certificate is not the name we verify
IDENTITY_MISMATCH_HINTS = ("peer name", "hostname", "subject alternative", "certificate verify")


def reason_for_status(status_name: str) -> str:
    """The :class:`CallFailedError` reason of a gRPC status (by name)."""
    return REASONS_BY_STATUS.get(status_name, "refused")


class RequestHandler(Protocol):
    """What an in-process endpoint calls: an operator's host (:class:`ptn.services.host.
    OperatorHost`), which answers serialized requests with serialized replies."""

    role: str
    operator_id: str

    def handle(self, method: str, request: bytes) -> bytes: ...


class CallFailedError(Exception):
    """A call whose reply did not arrive: ``reason`` is unavailable, deadline, overloaded,
    unauthorized, refused or invalid_reply."""

    def __init__(self, operator_id: str, method: str, reason: str, detail: str, *,
                 answered_after_s: float | None = None) -> None:
        super().__init__(f"{operator_id}.{method}: {reason}: {detail}")
        self.operator_id = operator_id
        self.method = method
        self.reason = reason
        self.detail = detail
        #: a late reply's time when the transport knows it (in-process: the call returned)
        self.answered_after_s = answered_after_s

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE_REASONS


class Endpoint(ABC):
    """An operator as the coordinator sees it: a role, an id, and calls with a deadline."""

    transport = "abstract"

    def __init__(self, role: str, operator_id: str, address: str = "") -> None:
        self.role = role
        self.operator_id = operator_id
        self.address = address
        self.methods: dict[str, MethodSpec] = service_methods(role)

    def describe_location(self) -> str:
        """How the operator is reached, for messages (``dso (gRPC localhost:50051)``)."""
        where = f" {self.address}" if self.address else ""
        return f"{self.operator_id} ({self.transport}{where})"

    def call(self, method: str, request: Message, timeout_s: float) -> Message:
        """Send ``request`` and return the parsed reply, or raise :class:`CallFailedError`."""
        spec = self.methods.get(method)
        if spec is None:
            raise CallFailedError(self.operator_id, method, "refused",
                             f"{service_name(self.role)} has no method {method}")
        data = self._send(method, request.SerializeToString(), timeout_s)
        try:
            return spec.output_type.FromString(data)
        except DecodeError as error:
            raise CallFailedError(self.operator_id, method, "invalid_reply", str(error)) from error

    @abstractmethod
    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        """Move the bytes; raise :class:`CallFailedError` on transport trouble."""

    def close(self) -> None:  # noqa: B027 - most transports hold nothing to release
        """Release the connection (the operator keeps running)."""


class InProcessEndpoint(Endpoint):
    """An operator hosted in this process; the deadline is checked when the call returns."""

    transport = "in-process"

    def __init__(self, host: RequestHandler) -> None:
        super().__init__(host.role, host.operator_id)
        self.host = host

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        started = time.perf_counter()
        try:
            reply = self.host.handle(method, data)
        except UnknownMethodError as error:
            raise CallFailedError(self.operator_id, method, "refused", str(error)) from error
        except RequestRefusedError as error:
            reason = "overloaded" if error.code == "RESOURCE_EXHAUSTED" else "refused"
            raise CallFailedError(self.operator_id, method, reason,
                                  f"{error.code}: {error.message}") from error
        elapsed = time.perf_counter() - started
        if elapsed > timeout_s:
            raise CallFailedError(self.operator_id, method, "deadline",
                                  f"answered after {elapsed:.3g} s, deadline {timeout_s:g} s",
                                  answered_after_s=elapsed)
        return reply


class RayEndpoint(Endpoint):
    """An operator in a Ray actor (:class:`ptn.services.adapters.ray_actor.OperatorActor`)."""

    transport = "Ray"

    def __init__(self, role: str, operator_id: str, actor: Any) -> None:
        super().__init__(role, operator_id, "actor")
        self.actor = actor

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        import ray
        from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError, RayTaskError

        reference = self.actor.handle.remote(method, data)
        try:
            reply: bytes = ray.get(reference, timeout=timeout_s)
        except GetTimeoutError as error:
            raise CallFailedError(self.operator_id, method, "deadline",
                             f"no reply within {timeout_s:g} s") from error
        except ActorDiedError as error:  # no restart is coming (none left, or none allowed)
            raise CallFailedError(self.operator_id, method, "refused",
                                  f"the actor died: {error}") from error
        except RayActorError as error:  # restarting (ActorUnavailableError): waited for
            raise CallFailedError(self.operator_id, method, "unavailable",
                                  f"actor unavailable: {error}") from error
        except RayTaskError as error:  # e.g. UnknownMethodError raised in the actor
            cause = getattr(error, "cause", error)
            raise CallFailedError(self.operator_id, method, "refused", str(cause)) from error
        return reply


def channel_credentials(tls_dir: Path) -> Any:
    """Client TLS credentials from ``tls_dir``: ``ca.crt``, and ``client.crt``/``client.key``
    for mutual TLS when present."""
    import grpc

    directory = Path(tls_dir)
    try:
        root = (directory / "ca.crt").read_bytes()
        key_path, cert_path = directory / "client.key", directory / "client.crt"
        if key_path.exists() and cert_path.exists():
            return grpc.ssl_channel_credentials(root, key_path.read_bytes(),
                                                cert_path.read_bytes())
    except OSError as error:
        raise InvalidInputError(f"--tls-dir {directory}: needs ca.crt (and client.crt, "
                                f"client.key) ({error.strerror or error})") from error
    return grpc.ssl_channel_credentials(root)


def read_token(token_dir: Path | None, operator_id: str) -> str | None:
    """The bearer token for an operator from ``token_dir/<operator_id>.token`` (None without a
    directory); InvalidInputError when the file is missing or empty."""
    if token_dir is None:
        return None
    path = Path(token_dir) / f"{operator_id}.token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise InvalidInputError(f"--token-dir: cannot read {path} "
                                f"({error.strerror or error})") from error
    if not token:
        raise InvalidInputError(f"--token-dir: {path} is empty")
    return token


class GrpcEndpoint(Endpoint):
    """An operator served over gRPC (``ptn serve``), reached at ``HOST:PORT``; with ``tls_dir``
    the server must present ``operator_id``'s certificate, with ``token`` every call carries it."""

    transport = "gRPC"

    def __init__(self, role: str, operator_id: str, address: str,
                 tls_dir: Path | None = None, token: str | None = None) -> None:
        import grpc

        super().__init__(role, operator_id, address)
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            *CHANNEL_KEEPALIVE_OPTIONS]
        self.tls = tls_dir is not None
        if tls_dir is not None:
            from ptn.services.adapters.identity import operator_dns_name

            # TLS verifies the server's certificate against the operator's name, whatever the
            # address: another party's certificate fails the handshake
            options.append(("grpc.ssl_target_name_override", operator_dns_name(operator_id)))
            self.channel = grpc.secure_channel(address, channel_credentials(tls_dir), options)
        else:
            self.channel = grpc.insecure_channel(address, options)
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ())
        self._service = service_name(role)
        self._stubs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _stub(self, method: str) -> Any:
        with self._lock:
            if method not in self._stubs:
                self._stubs[method] = self.channel.unary_unary(f"/{self._service}/{method}")
            return self._stubs[method]

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        import grpc

        try:
            reply: bytes = self._stub(method)(data, timeout=timeout_s, wait_for_ready=False,
                                              metadata=self.metadata)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            detail = str(error.details() if hasattr(error, "details") else error)
            raise self.failure(method, code.name if code else "UNKNOWN", detail,
                               timeout_s) from error
        return reply

    def failure(self, method: str, status_name: str, detail: str,
                timeout_s: float) -> CallFailedError:
        """The CallFailedError of a failed call: a certificate that is not the operator's is
        ``unauthorized`` and says so; the rest by :data:`REASONS_BY_STATUS`."""
        reason = reason_for_status(status_name)
        if status_name == "DEADLINE_EXCEEDED":
            detail = f"no reply within {timeout_s:g} s"
        elif (self.tls and status_name == "UNAVAILABLE"
              and any(hint in detail.lower() for hint in IDENTITY_MISMATCH_HINTS)):
            from ptn.services.adapters.identity import operator_dns_name

            reason = "unauthorized"
            detail = (f"the certificate at {self.address} is not operator {self.operator_id}'s: "
                      f"TLS verification of {operator_dns_name(self.operator_id)} failed")
        elif reason != "unavailable":
            detail = f"{status_name}: {detail}"
        return CallFailedError(self.operator_id, method, reason, detail)

    def wait_until_serving(self, timeout_s: float) -> None:
        """Block until the server's health service says SERVING, or raise CallFailedError."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=self._service),
                                    timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                failure = self.failure("Health.Check", code.name if code else "UNKNOWN",
                                       str(error.details() if hasattr(error, "details")
                                           else error), 1.0)
                if failure.reason == "unauthorized":
                    raise failure from error
                last = str(code or error)
            time.sleep(0.1)
        raise CallFailedError(self.operator_id, "Health.Check", "unavailable",
                         f"not serving at {self.address} after {timeout_s:g} s ({last})")

    def close(self) -> None:
        self.channel.close()

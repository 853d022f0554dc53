"""The coordinator's side of the three transports: in-process, Ray actor and gRPC.

Why this module exists: one driver (:mod:`ptn.coordinator.runtime.driver`) talks to operators
through an :class:`Endpoint` whatever carries the bytes (mosaik's habit: in-process, subprocess,
connect). Every endpoint sends a serialized protobuf request and parses the serialized reply as the
method's output message, so the schema is the boundary in every mode, in-process included. Transport
trouble becomes a :class:`CallFailedError` with a reason the driver can retry on (``unavailable``)
or report (``deadline``, ``refused``).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.message import DecodeError, Message

from ptn.protocol.schema import MethodSpec, UnknownMethodError, service_methods, service_name


class RequestHandler(Protocol):
    """What an in-process endpoint calls: an operator's host (:class:`ptn.services.host.
    OperatorHost`), which answers serialized requests with serialized replies."""

    role: str
    operator_id: str

    def handle(self, method: str, request: bytes) -> bytes: ...


class CallFailedError(Exception):
    """A call whose reply did not arrive: ``reason`` is unavailable, deadline or refused."""

    def __init__(self, operator_id: str, method: str, reason: str, detail: str) -> None:
        super().__init__(f"{operator_id}.{method}: {reason}: {detail}")
        self.operator_id = operator_id
        self.method = method
        self.reason = reason
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.reason == "unavailable"


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
        elapsed = time.perf_counter() - started
        if elapsed > timeout_s:
            raise CallFailedError(self.operator_id, method, "deadline",
                             f"answered after {elapsed:.3g} s, deadline {timeout_s:g} s")
        return reply


class RayEndpoint(Endpoint):
    """An operator in a Ray actor (:class:`ptn.services.adapters.ray_actor.OperatorActor`)."""

    transport = "Ray"

    def __init__(self, role: str, operator_id: str, actor: Any) -> None:
        super().__init__(role, operator_id, "actor")
        self.actor = actor

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        reference = self.actor.handle.remote(method, data)
        try:
            reply: bytes = ray.get(reference, timeout=timeout_s)
        except GetTimeoutError as error:
            raise CallFailedError(self.operator_id, method, "deadline",
                             f"no reply within {timeout_s:g} s") from error
        except RayActorError as error:
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
    root = (directory / "ca.crt").read_bytes()
    key_path, cert_path = directory / "client.key", directory / "client.crt"
    if key_path.exists() and cert_path.exists():
        return grpc.ssl_channel_credentials(root, key_path.read_bytes(), cert_path.read_bytes())
    return grpc.ssl_channel_credentials(root)


class GrpcEndpoint(Endpoint):
    """An operator served over gRPC (``ptn serve``), reached at ``HOST:PORT``."""

    transport = "gRPC"

    def __init__(self, role: str, operator_id: str, address: str,
                 tls_dir: Path | None = None) -> None:
        import grpc

        super().__init__(role, operator_id, address)
        options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                   ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        self.channel = (grpc.secure_channel(address, channel_credentials(tls_dir), options)
                        if tls_dir is not None else grpc.insecure_channel(address, options))
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
            reply: bytes = self._stub(method)(data, timeout=timeout_s, wait_for_ready=False)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            detail = error.details() if hasattr(error, "details") else str(error)
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CallFailedError(self.operator_id, method, "deadline",
                                 f"no reply within {timeout_s:g} s") from error
            if code == grpc.StatusCode.UNAVAILABLE:
                raise CallFailedError(self.operator_id, method, "unavailable",
                                 str(detail)) from error
            raise CallFailedError(self.operator_id, method, "refused",
                             f"{code.name if code else 'error'}: {detail}") from error
        return reply

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
                last = str(error.code() if hasattr(error, "code") else error)
            time.sleep(0.1)
        raise CallFailedError(self.operator_id, "Health.Check", "unavailable",
                         f"not serving at {self.address} after {timeout_s:g} s ({last})")

    def close(self) -> None:
        self.channel.close()

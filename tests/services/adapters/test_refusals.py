"""A host's refusal (:class:`RequestRefusedError`) on each transport, and the reasons the
coordinator's endpoints give: the status it names over gRPC, ``overloaded`` or ``refused``
in-process; and the deadline check of the gRPC handler, which never starts an expired call."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from ptn.coordinator.runtime.transports import (
    CallFailedError,
    GrpcEndpoint,
    InProcessEndpoint,
    reason_for_status,
)
from ptn.protocol.v1 import common_pb2
from ptn.services.adapters.grpc_server import AccessPolicy, Admission, guarded, start_server
from ptn.services.refusal import REFUSAL_CODES, RequestRefusedError

DESCRIBE = common_pb2.DescribeRequest(header=common_pb2.RequestHeader(
    operator_id="traffic", request_id="r1"))


class RefusingHost:
    """A traffic host that refuses every call with ``code`` (and counts the calls)."""

    role = "traffic"
    operator_id = "traffic"
    service = "negotiation.v1.TrafficDepartment"
    methods = ("Describe",)

    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def offers(self, method: str) -> bool:
        return method in self.methods

    def handle(self, method: str, request: bytes) -> bytes:
        self.calls += 1
        raise RequestRefusedError(self.code, f"refused {method} for the test")


@pytest.mark.parametrize("code", sorted(REFUSAL_CODES))
def test_a_refusal_keeps_its_status_over_grpc(code: str) -> None:
    server, port = start_server(RefusingHost(code), "127.0.0.1:0")
    endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
    try:
        with pytest.raises(CallFailedError) as refused:
            endpoint.call("Describe", DESCRIBE, timeout_s=10)
    finally:
        endpoint.close()
        server.stop(0)
    expected = {"RESOURCE_EXHAUSTED": "overloaded", "DEADLINE_EXCEEDED": "deadline",
                "UNAUTHENTICATED": "unauthorized", "PERMISSION_DENIED": "unauthorized"}
    assert refused.value.reason == expected.get(code, "refused")
    if code != "DEADLINE_EXCEEDED":
        assert code in refused.value.detail and "for the test" in refused.value.detail


@pytest.mark.parametrize(("code", "reason"), [("RESOURCE_EXHAUSTED", "overloaded"),
                                              ("FAILED_PRECONDITION", "refused"),
                                              ("ALREADY_EXISTS", "refused")])
def test_a_refusal_in_process(code: str, reason: str) -> None:
    with pytest.raises(CallFailedError) as refused:
        InProcessEndpoint(RefusingHost(code)).call("Describe", DESCRIBE, timeout_s=10)
    assert refused.value.reason == reason
    assert refused.value.retryable == (reason == "overloaded")
    assert code in refused.value.detail


def test_reasons_of_statuses() -> None:
    assert [reason_for_status(name) for name in (
        "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED",
        "PERMISSION_DENIED", "INVALID_ARGUMENT", "INTERNAL", "UNIMPLEMENTED")] == [
        "unavailable", "deadline", "overloaded", "unauthorized", "unauthorized", "refused",
        "refused", "refused"]


class AbortedError(Exception):
    pass


class ExpiredContext:
    """A servicer context whose deadline has passed (as gRPC reports it: 0 s remaining)."""

    def __init__(self, remaining_s: float | None, active: bool = True) -> None:
        self.remaining_s = remaining_s
        self.active = active
        self.aborted: tuple[Any, str] | None = None

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def time_remaining(self) -> float | None:
        return self.remaining_s

    def is_active(self) -> bool:
        return self.active

    def abort(self, code: Any, details: str) -> None:
        self.aborted = (code, details)
        raise AbortedError(details)


@pytest.mark.parametrize(("remaining_s", "active"), [(0.0, True), (-1.0, True), (5.0, False)])
def test_an_expired_call_is_not_started(remaining_s: float, active: bool) -> None:
    host = RefusingHost("INVALID_ARGUMENT")
    admission = Admission(2)
    handler = guarded(host, "Describe", AccessPolicy(trusted_identity=None, token=None,
                                                     transport_secured=False), admission)
    context = ExpiredContext(remaining_s, active)
    with pytest.raises(AbortedError):
        handler(DESCRIBE.SerializeToString(), context)  # type: ignore[arg-type]
    assert context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert host.calls == 0 and admission.in_flight == 0


def test_admission_is_released_after_a_refusal() -> None:
    host = RefusingHost("FAILED_PRECONDITION")
    admission = Admission(1)
    handler = guarded(host, "Describe", AccessPolicy(trusted_identity=None, token=None,
                                                     transport_secured=False), admission)
    for _ in range(3):  # with a leak, the second call would be shed as RESOURCE_EXHAUSTED
        context = ExpiredContext(None)
        with pytest.raises(AbortedError):
            handler(DESCRIBE.SerializeToString(), context)  # type: ignore[arg-type]
        assert context.aborted is not None
        assert context.aborted[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert host.calls == 3 and admission.in_flight == 0
